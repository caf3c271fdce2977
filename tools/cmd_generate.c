/* ttc generate: stream a completion of a prompt to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "cli.h"
#include "model/ctx.h"
#include "model/generate.h"
#include "model/model.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttc generate -m MODEL.gguf -p TEXT [options]\n"
            "Streams the model's continuation of TEXT to stdout; statistics go to stderr.\n"
            "  -m, --model PATH   GGUF model (llama, qwen2, qwen3)\n"
            "  -p, --prompt TEXT  the prompt\n"
            "  -n N               tokens to generate at most (default 128)\n"
            "  --temp T           temperature, 0 = greedy (default 0.8)\n"
            "  --top-k K          keep the K most likely tokens (default 0 = off)\n"
            "  --top-p P          nucleus sampling (default 1 = off)\n"
            "  --min-p P          drop tokens below P x the top probability (default 0 = off)\n"
            "  --seed S           random seed (default 0)\n"
            "  --stop STR         stop before STR (may repeat, up to 8)\n"
            "  --chat             wrap the prompt as a user message in the model's chat template\n"
            "  -t, --threads T    threads (default: one per CPU)\n"
            "  -q, --quiet        no statistics on stderr\n");
}

static void on_text(void *ud, int index, const ttc_gen_request *r, const char *delta, size_t len) {
    (void)ud; (void)index; (void)r;
    fwrite(delta, 1, len, stdout);
    fflush(stdout);
}

int cmd_generate(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *model = NULL, *prompt = NULL, *stops[8];
    long n_gen = 128, top_k = 0, threads = 0, seed = 0;
    double temp = 0.8, top_p = 1.0, min_p = 0.0;
    int n_stop = 0;
    bool chat = false, quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--chat")) { chat = true; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { quiet = true; continue; }
        if (i + 1 >= argc) return cli_bad_args("generate", "%s needs a value (or is unknown)", a);
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "-n")) ok = cli_parse_int(v, 0, 1 << 20, &n_gen);
        else if (!strcmp(a, "--temp")) ok = cli_parse_float(v, 0, 100, &temp);
        else if (!strcmp(a, "--top-k")) ok = cli_parse_int(v, 0, 1 << 24, &top_k);
        else if (!strcmp(a, "--top-p")) ok = cli_parse_float(v, 0, 1, &top_p);
        else if (!strcmp(a, "--min-p")) ok = cli_parse_float(v, 0, 1, &min_p);
        else if (!strcmp(a, "--seed")) ok = cli_parse_int(v, 0, 0x7fffffffL, &seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_int(v, 0, TTC_POOL_MAX_THREADS, &threads);
        else if (!strcmp(a, "--stop")) {
            if (n_stop == 8 || !*v) return cli_bad_args("generate", "--stop: at most 8 non-empty strings");
            stops[n_stop++] = v;
        } else return cli_bad_args("generate", "unknown argument '%s'", a);
        if (!ok) return cli_bad_args("generate", "bad value '%s' for %s", v, a);
    }
    if (!model) return cli_bad_args("generate", "missing -m MODEL.gguf");
    if (!prompt) return cli_bad_args("generate", "missing -p TEXT");

    ttc_err e = {0};
    ttc_model *m = NULL;
    ttc_pool *pool = NULL;
    ttc_ctx *c = NULL;
    int32_t *ids = NULL;
    char *text = NULL;
    ttc_gen_request r = {0};
    int rc, n = 0, s;
    if ((rc = ttc_model_load(model, NULL, &m, &e))) goto done;
    if (!m->tok) { rc = ttc_err_set(&e, TTC_EINVAL, "%s: the model has no tokenizer", model); goto done; }
    if (chat) {
        ttc_chat_msg msg = {(char *)"user", (char *)prompt};
        ttc_chat_kind kind = ttc_chat_detect(ttc_tokenizer_chat_template(m->tok));
        if ((rc = ttc_chat_format(kind, &msg, 1, true, &text, &e))) goto done;
    } else if (!(text = strdup(prompt))) {
        rc = ttc_err_set(&e, TTC_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = ttc_tokenize_alloc(m->tok, text, strlen(text), ttc_tokenizer_add_bos(m->tok), true, &ids, &n, &e))) goto done;
    if (n == 0) { rc = ttc_err_set(&e, TTC_EINVAL, "the prompt has no tokens"); goto done; }
    if ((rc = ttc_pool_new((int)threads, &pool, &e))) goto done;
    int n_ctx = n + (int)n_gen + 1;
    ttc_ctx_params cp = {.n_ctx = n_ctx, .n_seq_max = 1, .n_batch = 512, .kv_tokens = (size_t)n_ctx, .pool = pool};
    if ((rc = ttc_ctx_new(m, &cp, &c, &e)) || (rc = ttc_seq_new(c, &s, &e)) ||
        (rc = ttc_seq_append_tokens(c, s, ids, n, &e)))
        goto done;
    ttc_sample_params sp = {(float)temp, (int)top_k, (float)top_p, (float)min_p};
    r = ttc_gen_request_make(s, (int)n_gen, sp, (uint64_t)seed);
    r.stop = stops;
    r.n_stop = n_stop;
    ttc_gen_opts go = {.on_text = on_text};
    double t0 = ttc_now();
    rc = ttc_generate(c, &r, 1, &go, &e);
    double dt = ttc_now() - t0;
    if (rc) goto done;
    putchar('\n');
    static const char *const reasons[] = {"none", "stop", "eos", "length"};
    if (!quiet)
        fprintf(stderr, "[%d prompt tokens, %d generated, finish %s, %.2f s, %.1f tok/s]\n", r.n_prompt, r.n_tokens,
                reasons[r.finish], dt, dt > 0 ? r.n_tokens / dt : 0.0);
done:
    ttc_gen_request_free(&r);
    free(text);
    free(ids);
    ttc_ctx_free(c);
    ttc_pool_free(pool);
    ttc_model_free(m);
    if (rc) { fflush(stdout); return cli_fail("generate", &e); }
    return fflush(stdout) == 0 ? 0 : 1;
}
