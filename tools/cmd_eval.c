/* ttc eval: pass@1 and pass@k of a model on a JSONL benchmark. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "base/pool.h"
#include "base/util.h"
#include "cli.h"
#include "data/dataset.h"
#include "data/eval.h"
#include "model/model.h"

static const char usage[] =
    "usage: ttc eval -m MODEL.gguf --data FILE.jsonl [options]\n"
    "\n"
    "Samples K solutions per problem (prompt \"Problem: ...\\nSolution:\\n\"), grades\n"
    "each final answer against the reference with the MATH grader, and reports\n"
    "pass@1 (mean over samples) and pass@K (unbiased estimator) per level and\n"
    "overall. The K samples of a problem are forks of one prompt; several\n"
    "problems share a batch.\n"
    "\n"
    "  -m, --model PATH     GGUF model with a tokenizer\n"
    "  --data PATH          JSONL benchmark (MATH-500, GSM8K or synth format)\n"
    "  --samples K          samples per problem (default 1)\n"
    "  --temp T             sampling temperature, 0 = greedy (default 0.7)\n"
    "  --top-p P            nucleus sampling (default 1 = off)\n"
    "  --max-tokens N       tokens per sample (default 512)\n"
    "  --limit N            only the first N problems\n"
    "  --seed S             sampling seed (default 1)\n"
    "  -t, --threads T      threads (default: one per CPU)\n"
    "  --batch N            sequences per batch (default 64, at least K)\n"
    "  --samples-out PATH   write every sample as a JSON line\n"
    "  --chat               for instruction-tuned models: the problem plus \"Please\n"
    "                       reason step by step, and put your final answer within\n"
    "                       \\boxed{}.\" as one user message in the model's chat template\n"
    "  --json               print one JSON object:\n"
    "                       {\"levels\": {\"1\": p, ...}, \"overall\": p, \"samples\": K, ...}\n"
    "                       with p = pass@1, plus \"pass_at_k\" (same shape, k = K),\n"
    "                       \"problems\", \"counts\" per level, \"boxed_rate\" (samples\n"
    "                       with a \\boxed{} answer) and \"truncated_rate\"\n";

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

typedef struct {
    FILE *f;                 /* --samples-out, or NULL */
    const ttc_dataset *d;
    int K, n_total, n_done;  /* progress on a terminal */
    bool progress;
    double t0;
} sample_sink;

static void on_sample(void *ud, int problem, int sample, const char *text, const char *answer, bool correct) {
    sample_sink *s = ud;
    if (s->progress && sample == s->K - 1 && (++s->n_done % 8 == 0 || s->n_done == s->n_total)) {
        double dt = ttc_now() - s->t0;
        fprintf(stderr, "\reval: %d/%d problems, %.0f s, ETA %.0f s ", s->n_done, s->n_total, dt,
                dt / s->n_done * (s->n_total - s->n_done));
        if (s->n_done == s->n_total) fputc('\n', stderr);
    }
    if (!s->f) return;
    fputs("{\"unique_id\": ", s->f);
    json_str(s->f, s->d->items[problem].unique_id);
    fprintf(s->f, ", \"level\": %d, \"sample\": %d, \"correct\": %s, \"answer\": ", s->d->items[problem].level,
            sample, correct ? "true" : "false");
    json_str(s->f, answer);
    fputs(", \"reference\": ", s->f);
    json_str(s->f, s->d->items[problem].answer);
    fputs(", \"text\": ", s->f);
    json_str(s->f, text);
    fputs("}\n", s->f);
}

int cmd_eval(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    const char *model = NULL, *data = NULL, *samples_out = NULL;
    ttc_eval_params p = ttc_eval_params_default();
    long samples = 1, max_tokens = p.max_tokens, limit = 0, seed = 1, threads = 0, batch = 0;
    double temp = p.temperature, top_p = p.top_p;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "--chat")) { p.chat = true; continue; }
        if (i + 1 >= argc) return cli_bad_args("eval", "option %s needs a value", a);
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--samples-out")) samples_out = v;
        else if (!strcmp(a, "--samples") || !strcmp(a, "-k")) ok = cli_parse_int(v, 1, 4096, &samples);
        else if (!strcmp(a, "--temp")) ok = cli_parse_float(v, 0, 100, &temp);
        else if (!strcmp(a, "--top-p")) ok = cli_parse_float(v, 0, 1, &top_p) && top_p > 0;
        else if (!strcmp(a, "--max-tokens")) ok = cli_parse_int(v, 1, 1 << 20, &max_tokens);
        else if (!strcmp(a, "--limit")) ok = cli_parse_int(v, 1, 1L << 30, &limit);
        else if (!strcmp(a, "--seed")) ok = cli_parse_int(v, 0, 0x7fffffffffffffffL, &seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_int(v, 0, TTC_POOL_MAX_THREADS, &threads);
        else if (!strcmp(a, "--batch")) ok = cli_parse_int(v, 1, 4096, &batch);
        else return cli_bad_args("eval", "unknown argument '%s'", a);
        if (!ok) return cli_bad_args("eval", "bad value '%s' for %s", v, a);
    }
    if (!model) return cli_bad_args("eval", "missing -m MODEL.gguf");
    if (!data) return cli_bad_args("eval", "missing --data FILE.jsonl");
    p.samples = (int)samples;
    p.temperature = (float)temp;
    p.top_p = (float)top_p;
    p.max_tokens = (int)max_tokens;
    p.limit = (int)limit;
    p.seed = (uint64_t)seed;
    p.max_seqs = (int)batch;

    ttc_err e = {0};
    ttc_dataset d = {0};
    ttc_model *m = NULL;
    ttc_pool *pool = NULL;
    ttc_eval_result r = {0};
    sample_sink sink = {.d = &d, .K = (int)samples, .progress = isatty(2), .t0 = ttc_now()};
    int rc;
    if ((rc = ttc_dataset_load(data, &d, &e))) goto done;
    sink.n_total = limit > 0 && limit < d.n ? (int)limit : d.n;
    if ((rc = ttc_model_load(model, NULL, &m, &e))) goto done;
    if ((rc = ttc_pool_new((int)threads, &pool, &e))) goto done;
    if (samples_out && !(sink.f = fopen(samples_out, "wb"))) {
        rc = ttc_err_set(&e, TTC_EIO, "%s: cannot create", samples_out);
        goto done;
    }
    if ((rc = ttc_eval_run(m, pool, &d, &p, on_sample, &sink, &r, &e))) goto done;

    int levels[101] = {0}, n_levels = 0;
    for (int i = 0; i < r.n_problems; i++) {
        int l = r.levels[i] < 0 || r.levels[i] > 100 ? 0 : r.levels[i];
        if (!levels[l]++) n_levels++;
    }
    int K = r.samples, cnt;
    if (json) {
        printf("{\"levels\": {");
        for (int l = 0, first = 1; l <= 100; l++)
            if (levels[l]) { printf("%s\"%d\": %.6f", first ? "" : ", ", l, ttc_eval_pass(&r, l, 1, NULL)); first = 0; }
        printf("}, \"overall\": %.6f, \"samples\": %d, \"problems\": %d, \"pass_at_k\": {\"k\": %d, \"levels\": {",
               ttc_eval_pass(&r, -1, 1, NULL), K, r.n_problems, K);
        for (int l = 0, first = 1; l <= 100; l++)
            if (levels[l]) { printf("%s\"%d\": %.6f", first ? "" : ", ", l, ttc_eval_pass(&r, l, K, NULL)); first = 0; }
        printf("}, \"overall\": %.6f}, \"counts\": {", ttc_eval_pass(&r, -1, K, NULL));
        for (int l = 0, first = 1; l <= 100; l++)
            if (levels[l]) { printf("%s\"%d\": %d", first ? "" : ", ", l, levels[l]); first = 0; }
        double n_s = (double)r.n_problems * K;
        printf("}, \"boxed_rate\": %.6f, \"truncated_rate\": %.6f, \"tokens_generated\": %lld, \"seconds\": %.3f}\n",
               r.n_boxed / n_s, r.n_truncated / n_s, (long long)r.tokens_generated, r.seconds);
    } else {
        printf("%-7s %8s %8s %8s\n", "level", "problems", "pass@1", "pass@k");
        for (int l = 0; l <= 100; l++)
            if (levels[l])
                printf("%-7d %8d %8.4f %8.4f\n", l, levels[l], ttc_eval_pass(&r, l, 1, NULL), ttc_eval_pass(&r, l, K, NULL));
        double p1 = ttc_eval_pass(&r, -1, 1, &cnt);
        printf("%-7s %8d %8.4f %8.4f\n", "all", cnt, p1, ttc_eval_pass(&r, -1, K, NULL));
        double n_s = (double)r.n_problems * K;
        printf("(k = %d samples per problem; %.1f %% of samples boxed an answer, %.1f %% were cut at --max-tokens;\n"
               " %lld tokens in %.1f s, %.1f tok/s)\n", K, 100.0 * r.n_boxed / n_s, 100.0 * r.n_truncated / n_s,
               (long long)r.tokens_generated, r.seconds, r.seconds > 0 ? r.tokens_generated / r.seconds : 0.0);
    }
    (void)n_levels;
done:
    if (sink.f && fclose(sink.f) && !rc) rc = ttc_err_set(&e, TTC_EIO, "%s: write failed", samples_out);
    ttc_eval_result_free(&r);
    ttc_pool_free(pool);
    ttc_model_free(m);
    ttc_dataset_free(&d);
    if (rc) return cli_fail("eval", &e);
    return fflush(stdout) == 0 ? 0 : 1;
}
