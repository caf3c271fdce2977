/* ttc logits: the last position's logits of the prompt on stdin, as raw
 * little-endian f32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "cli.h"
#include "model/ctx.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttc logits -m MODEL.gguf -o OUT.f32 [--threads T] < prompt\n"
            "Tokenizes stdin as the model's metadata says (BOS if add_bos_token; special\n"
            "tokens written in the text are recognised), runs it through the model and\n"
            "writes the logits of the last position as n_vocab little-endian f32 values.\n"
            "  -m, --model PATH   GGUF model (llama, qwen2, qwen3)\n"
            "  -o, --output PATH  output file\n"
            "  -t, --threads T    threads (default: one per CPU)\n");
}

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap) {
            char *q = realloc(b, cap *= 2);
            if (!q) { free(b); return NULL; }
            b = q;
        }
    }
    if (b && ferror(stdin)) { free(b); return NULL; }
    *len = n;
    return b;
}

int cmd_logits(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *model = NULL, *out = NULL;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
            !strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc) return cli_bad_args("logits", "%s needs a value", a);
            const char *v = argv[++i];
            if (a[1] == 'm' || !strcmp(a, "--model")) model = v;
            else if (a[1] == 'o' || !strcmp(a, "--output")) out = v;
            else if (!cli_parse_int(v, 0, TTC_POOL_MAX_THREADS, &threads))
                return cli_bad_args("logits", "--threads wants 0..%d, got '%s'", TTC_POOL_MAX_THREADS, v);
        } else {
            return cli_bad_args("logits", "unknown argument '%s'", a);
        }
    }
    if (!model) return cli_bad_args("logits", "missing -m MODEL.gguf");
    if (!out) return cli_bad_args("logits", "missing -o OUT.f32");

    ttc_err e = {0};
    ttc_model *m = NULL;
    ttc_pool *pool = NULL;
    ttc_ctx *c = NULL;
    int32_t *ids = NULL;
    char *text = NULL;
    int rc, n = 0, s;
    if ((rc = ttc_model_load(model, NULL, &m, &e))) goto done;
    if (!m->tok) { rc = ttc_err_set(&e, TTC_EINVAL, "%s: the model has no tokenizer", model); goto done; }
    size_t len;
    if (!(text = read_stdin(&len))) { rc = ttc_err_set(&e, TTC_EIO, "reading stdin failed"); goto done; }
    if ((rc = ttc_tokenize_alloc(m->tok, text, len, ttc_tokenizer_add_bos(m->tok), true, &ids, &n, &e))) goto done;
    if (n == 0) { rc = ttc_err_set(&e, TTC_EINVAL, "the prompt on stdin has no tokens"); goto done; }
    if ((rc = ttc_pool_new((int)threads, &pool, &e))) goto done;
    ttc_ctx_params cp = {.n_ctx = n, .n_seq_max = 1, .n_batch = 512, .kv_tokens = (size_t)n, .pool = pool};
    if ((rc = ttc_ctx_new(m, &cp, &c, &e)) || (rc = ttc_seq_new(c, &s, &e)) ||
        (rc = ttc_seq_append_tokens(c, s, ids, n, &e)) ||
        (rc = ttc_decode_pending(c, &s, 1, false, false, NULL, &e)))
        goto done;
    rc = ttc_write_file(out, ttc_logits(c, 0), (size_t)m->cfg.n_vocab * sizeof(float), &e);
done:
    free(text);
    free(ids);
    ttc_ctx_free(c);
    ttc_pool_free(pool);
    ttc_model_free(m);
    return rc ? cli_fail("logits", &e) : 0;
}
