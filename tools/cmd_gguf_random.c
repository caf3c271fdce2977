/* ttc gguf random: write a random-weight model with a real shape. */
#include <stdio.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "cli.h"
#include "kernels/quant.h"
#include "model/random.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttc gguf random --shape NAME [--vocab VOCAB.gguf] --type TYPE [--seed S] -o OUT.gguf\n"
            "Writes a model with random weights and the tensor names, shapes and\n"
            "hyperparameters of a real one; the tokenizer is copied from VOCAB.gguf\n"
            "(without it the model has the shape's small vocabulary and no tokenizer).\n"
            "  --shape NAME    %s\n"
            "  --vocab PATH    GGUF file with tokenizer.ggml.* keys\n"
            "  --type TYPE     q8_0, q4_0, q4_k, q6_k, f16, bf16 or f32 (2-D weights;\n"
            "                  rows not divisible by the block fall back to q8_0)\n"
            "  --seed S        random seed (default 0)\n"
            "  -t, --threads T threads (default: one per CPU)\n"
            "  -o PATH         output file\n",
            ttc_random_shape_names());
}

static int parse_type(const char *s) {
    static const struct { const char *name; int type; } types[] = {
        {"q8_0", TTC_TYPE_Q8_0}, {"q4_0", TTC_TYPE_Q4_0}, {"q4_k", TTC_TYPE_Q4_K}, {"q6_k", TTC_TYPE_Q6_K},
        {"f16", TTC_TYPE_F16},   {"bf16", TTC_TYPE_BF16}, {"f32", TTC_TYPE_F32},
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (!strcasecmp(s, types[i].name)) return types[i].type;
    return -1;
}

int cmd_gguf_random(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *shape = NULL, *vocab = NULL, *out = NULL, *type_s = NULL;
    long seed = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return cli_bad_args("gguf random", "%s needs a value (or is unknown)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--shape")) shape = v;
        else if (!strcmp(a, "--vocab")) vocab = v;
        else if (!strcmp(a, "--type")) type_s = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--seed")) {
            if (!cli_parse_int(v, 0, 0x7fffffffL, &seed)) return cli_bad_args("gguf random", "bad seed '%s'", v);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int(v, 0, TTC_POOL_MAX_THREADS, &threads)) return cli_bad_args("gguf random", "bad thread count '%s'", v);
        } else return cli_bad_args("gguf random", "unknown argument '%s'", a);
    }
    if (!shape) return cli_bad_args("gguf random", "missing --shape NAME");
    if (!out) return cli_bad_args("gguf random", "missing -o OUT.gguf");
    if (!type_s) return cli_bad_args("gguf random", "missing --type TYPE");
    const ttc_random_shape *s = ttc_random_shape_find(shape);
    if (!s) return cli_bad_args("gguf random", "unknown shape '%s' (known: %s)", shape, ttc_random_shape_names());
    int type = parse_type(type_s);
    if (type < 0) return cli_bad_args("gguf random", "unknown type '%s' (q8_0, q4_0, q4_k, q6_k, f16, bf16, f32)", type_s);

    ttc_err e = {0};
    ttc_pool *pool = NULL;
    int rc = ttc_pool_new((int)threads, &pool, &e);
    if (!rc) {
        ttc_random_params p = {.vocab_path = vocab, .type = type, .seed = (uint64_t)seed, .pool = pool};
        rc = ttc_random_model_write(s, &p, out, &e);
    }
    ttc_pool_free(pool);
    return rc ? cli_fail("gguf random", &e) : 0;
}
