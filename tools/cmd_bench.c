/* ttc bench: prefill and decode speed of a GGUF model.
 *
 * prefill: one sequence, P prompt tokens computed in one ttc_decode_pending
 *   (chunked by the context's n_batch), logits of the last one; reports
 *   tokens/s and time to first token.
 * decode: for each batch size B, B sequences (forked from one prefilled
 *   P-token prompt with --shared-prefix, else each prefilled on its own)
 *   generate G tokens each, greedily, one ttc_decode of B entries per step;
 *   reports aggregate generated tokens/s (prefill excluded).
 * Each number is the median over --repeat runs. Prompt tokens are drawn
 * from a fixed-seed rng over the vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pool.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli.h"
#include "kernels/kernels.h"
#include "model/ctx.h"
#include "model/model.h"
#include "model/sample.h"

#define MAX_BATCHES 16

static const char *usage =
    "usage: ttc bench -m MODEL.gguf [options]\n"
    "  -m, --model PATH     GGUF model (llama, qwen2, qwen3)\n"
    "  --prompt P           prompt tokens (default 256)\n"
    "  --gen G              tokens generated per sequence (default 64)\n"
    "  --batch B1,B2,...    decode batch sizes (default 1,4,16,64)\n"
    "  --shared-prefix      decode sequences fork one prefilled prompt (KV shared)\n"
    "  --threads T          threads (default: one per CPU)\n"
    "  --repeat R           runs per measurement; the median is reported (default 3)\n"
    "  --no-prefill         skip the prefill measurement\n"
    "  --attn-per-seq       attention one sequence at a time (default: shared KV pages\n"
    "                       are read once for all the sequences that share them)\n"
    "  --json               one JSON object per line instead of a table\n"
    "Kernel path: TTC_KERNEL=ref|avx2|avx512|vnni (default: best for this CPU).\n";

typedef struct {
    const char *model;
    int prompt, gen, threads, repeat, n_batch;
    int batch[MAX_BATCHES];
    bool shared, json, prefill, attn_per_seq;
} opts;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU seconds used by this process (all threads). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Greedy next tokens of the last decode's B entries: ttc_argmax of each
 * logits row, the rows split over the pool (the sampler's share of a step
 * stays small at large B, as in a real server). */
typedef struct { const ttc_ctx *c; int32_t *tok; int n_vocab; } argmax_job;
static void argmax_task(void *arg, int task, int n_tasks, int thread) {
    const argmax_job *j = arg;
    j->tok[task] = ttc_argmax(ttc_logits(j->c, task), j->n_vocab);
}

/* New sequence holding the P-token prompt, all but the last token computed
 * (generation's convention); *secs gets the time taken. */
static int prefill_prompt(ttc_ctx *c, const int32_t *prompt, int P, int *seq, double *secs, ttc_err *e) {
    int rc = ttc_seq_new(c, seq, e);
    if (rc) return rc;
    double t0 = ttc_now();
    if ((rc = ttc_seq_append_tokens(c, *seq, prompt, P, e)) ||
        (rc = ttc_decode_pending(c, seq, 1, true, false, NULL, e))) {
        ttc_seq_free(c, *seq);
        return rc;
    }
    *secs = ttc_now() - t0;
    return TTC_OK;
}

/* One prefill run: P tokens with the last one's logits. */
static int run_prefill(ttc_ctx *c, const int32_t *prompt, int P, double *secs, double *cpu, ttc_err *e) {
    int seq, rc = ttc_seq_new(c, &seq, e);
    if (rc) return rc;
    double t0 = ttc_now(), c0 = cpu_now();
    rc = ttc_seq_append_tokens(c, seq, prompt, P, e);
    if (!rc) rc = ttc_decode_pending(c, &seq, 1, false, false, NULL, e);
    *secs = ttc_now() - t0;
    *cpu = cpu_now() - c0;
    ttc_seq_free(c, seq);
    return rc;
}

/* One decode run for batch B: returns the seconds of the G generation steps. */
static int run_decode(ttc_ctx *c, const opts *o, const int32_t *prompt, int B, double *secs, double *cpu,
                      ttc_err *e) {
    int seqs[256], n = 0, rc = TTC_OK;
    int32_t tok[256];
    ttc_batch_entry ent[256];
    int n_vocab = ttc_model_n_vocab(ttc_ctx_model(c));
    double t_pre;
    if (o->shared) {
        int root;
        if ((rc = prefill_prompt(c, prompt, o->prompt, &root, &t_pre, e))) return rc;
        for (; n < B; n++)
            if ((rc = ttc_seq_fork(c, root, &seqs[n], e))) break;
        ttc_seq_free(c, root);
    } else {
        for (; n < B; n++)
            if ((rc = prefill_prompt(c, prompt, o->prompt, &seqs[n], &t_pre, e))) break;
    }
    if (!rc) {
        for (int i = 0; i < B; i++) tok[i] = prompt[o->prompt - 1];
        double t0 = ttc_now(), c0 = cpu_now();
        for (int step = 0; step < o->gen && !rc; step++) {
            for (int i = 0; i < B; i++) ent[i] = (ttc_batch_entry){seqs[i], tok[i], true, false};
            if ((rc = ttc_decode(c, ent, B, e))) break;
            argmax_job aj = {c, tok, n_vocab};
            ttc_pool_run(ttc_ctx_pool(c), argmax_task, &aj, B);
        }
        *secs = ttc_now() - t0;
        *cpu = cpu_now() - c0;
    }
    for (int i = 0; i < n; i++) ttc_seq_free(c, seqs[i]);
    return rc;
}

/* cpu_share: CPU time the process got / (wall time x threads); well below 1
 * means the machine was busy with other work (or threads sat idle). */
static void emit(const opts *o, const char *test, int batch, double tps, double extra_ms, const char *extra_name,
                 double rss_mb, double load_s, size_t kv_bpt, double cpu_share) {
    if (o->json)
        printf("{\"test\": \"%s\", \"batch\": %d, \"prompt\": %d, \"gen\": %d, \"tokens_per_s\": %.2f, "
               "\"%s\": %.2f, \"rss_mb\": %.1f, \"load_s\": %.3f, \"kv_bytes_per_token\": %zu, "
               "\"threads\": %d, \"cpu_share\": %.2f, \"shared_prefix\": %s, \"kernel\": \"%s\"}\n",
               test, batch, o->prompt, !strcmp(test, "prefill") ? 0 : o->gen, tps, extra_name, extra_ms,
               rss_mb, load_s, kv_bpt, o->threads, cpu_share, o->shared ? "true" : "false",
               ttc_kernel_name(ttc_kernel_get()));
    else
        printf("%-8s B=%-3d P=%-4d G=%-4d %9.2f tok/s   %s %.2f ms   rss %.0f MB   cpu share %.2f\n", test, batch,
               o->prompt, !strcmp(test, "prefill") ? 0 : o->gen, tps, extra_name, extra_ms, rss_mb, cpu_share);
    fflush(stdout);
}

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){.prompt = 256, .gen = 64, .threads = 0, .repeat = 3, .n_batch = 4,
                .batch = {1, 4, 16, 64}, .prefill = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "--shared-prefix")) { o->shared = true; continue; }
        if (!strcmp(a, "--json")) { o->json = true; continue; }
        if (!strcmp(a, "--no-prefill")) { o->prefill = false; continue; }
        if (!strcmp(a, "--attn-per-seq")) { o->attn_per_seq = true; continue; }
        if (!v) return cli_bad_args("bench", "%s needs a value", a);
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--prompt")) {
            if (!cli_parse_int(v, 1, 1 << 20, &x)) return cli_bad_args("bench", "bad --prompt '%s'", v);
            o->prompt = (int)x;
        } else if (!strcmp(a, "--gen")) {
            if (!cli_parse_int(v, 1, 1 << 20, &x)) return cli_bad_args("bench", "bad --gen '%s'", v);
            o->gen = (int)x;
        } else if (!strcmp(a, "--threads")) {
            if (!cli_parse_int(v, 1, TTC_POOL_MAX_THREADS, &x)) return cli_bad_args("bench", "bad --threads '%s'", v);
            o->threads = (int)x;
        } else if (!strcmp(a, "--repeat")) {
            if (!cli_parse_int(v, 1, 1000, &x)) return cli_bad_args("bench", "bad --repeat '%s'", v);
            o->repeat = (int)x;
        } else if (!strcmp(a, "--batch")) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            o->n_batch = 0;
            for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
                if (o->n_batch == MAX_BATCHES || !cli_parse_int(s, 1, 256, &x))
                    return cli_bad_args("bench", "bad --batch '%s' (up to %d sizes in 1..256)", v, MAX_BATCHES);
                o->batch[o->n_batch++] = (int)x;
            }
            if (!o->n_batch) return cli_bad_args("bench", "empty --batch");
        } else return cli_bad_args("bench", "unknown option '%s'", a);
    }
    if (!o->model) return cli_bad_args("bench", "-m MODEL is required");
    return 0;
}

int cmd_bench(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    ttc_err e = {0};
    ttc_pool *pool = NULL;
    ttc_model *m = NULL;
    ttc_ctx *c = NULL;
    int32_t *prompt = NULL;
    if ((rc = ttc_pool_new(o.threads, &pool, &e))) return cli_fail("bench", &e);
    o.threads = ttc_pool_n_threads(pool);
    double t0 = ttc_now();
    ttc_model_params mp = {.no_tokenizer = true};
    if ((rc = ttc_model_load(o.model, &mp, &m, &e))) goto fail;
    double load_s = ttc_now() - t0;

    int bmax = 1;
    for (int i = 0; i < o.n_batch; i++) bmax = TTC_MAX(bmax, o.batch[i]);
    int page = 16, per_seq = o.prompt + o.gen + 2 * page;
    ttc_ctx_params cp = {.n_ctx = o.prompt + o.gen + 1, .n_seq_max = bmax + 1, .n_batch = 512,
                         .n_outputs_max = bmax, .page_tokens = page, .pool = pool,
                         .attn_per_seq = o.attn_per_seq,
                         .kv_tokens = o.shared ? (size_t)per_seq + (size_t)bmax * (o.gen + 2 * page)
                                               : (size_t)(bmax + 1) * per_seq};
    if ((rc = ttc_ctx_new(m, &cp, &c, &e))) goto fail;
    size_t kv_bpt = ttc_kv_bytes_per_token(ttc_ctx_kv(c));

    prompt = malloc(sizeof *prompt * (size_t)o.prompt);
    if (!prompt) { rc = ttc_err_set(&e, TTC_ENOMEM, "bench: out of memory"); goto fail; }
    ttc_rng rng;
    ttc_rng_seed(&rng, 1234);
    int nv = ttc_model_n_vocab(m);
    for (int i = 0; i < o.prompt; i++) prompt[i] = (int32_t)ttc_rng_below(&rng, (uint64_t)nv);
    if (!o.json)
        printf("model %s (%s, %.0fM params), %d threads, kernel %s, load %.2f s, KV %zu bytes/token\n", o.model,
               ttc_model_arch_name(m), ttc_model_n_params(m) / 1e6, o.threads, ttc_kernel_name(ttc_kernel_get()),
               load_s, kv_bpt);

    double *t = malloc(sizeof(double) * 2 * (size_t)o.repeat), *share = t + o.repeat;
    if (!t) { rc = ttc_err_set(&e, TTC_ENOMEM, "bench: out of memory"); goto fail; }
    if (o.prefill) {
        double warm, warm_cpu;
        if ((rc = run_prefill(c, prompt, TTC_MIN(o.prompt, 16), &warm, &warm_cpu, &e))) { free(t); goto fail; }
        for (int r = 0; r < o.repeat; r++) {
            if ((rc = run_prefill(c, prompt, o.prompt, &t[r], &share[r], &e))) { free(t); goto fail; }
            share[r] /= t[r] * o.threads;
        }
        double s = median(t, o.repeat);
        emit(&o, "prefill", 1, o.prompt / s, s * 1e3, "ttft_ms", ttc_rss_bytes() / 1e6, load_s, kv_bpt,
             median(share, o.repeat));
    }
    for (int b = 0; b < o.n_batch; b++) {
        int B = o.batch[b];
        for (int r = 0; r < o.repeat; r++) {
            if ((rc = run_decode(c, &o, prompt, B, &t[r], &share[r], &e))) { free(t); goto fail; }
            share[r] /= t[r] * o.threads;
        }
        double s = median(t, o.repeat);
        emit(&o, "decode", B, (double)B * o.gen / s, s * 1e3 / o.gen, "ms_per_step", ttc_rss_bytes() / 1e6, load_s,
             kv_bpt, median(share, o.repeat));
    }
    free(t);
    free(prompt);
    ttc_ctx_free(c);
    ttc_model_free(m);
    ttc_pool_free(pool);
    return 0;
fail:
    free(prompt);
    ttc_ctx_free(c);
    ttc_model_free(m);
    ttc_pool_free(pool);
    return cli_fail("bench", &e);
}
