/* Trainer throughput: one full training step (forward, loss, backward,
 * AdamW) of the bundled generator's shape and of the larger generator's, on
 * 16 rows of 272 random tokens (the bundled recipe's batch).
 * usage: train [threads] [--json]   one line per model shape:
 *   {"test": "train", "model": NAME, "params": P, "tokens_per_s": X,
 *    "gflops": Y}
 * GFLOP/s counts what ttc train's log counts: 6 x matmul parameters per
 * token plus causal attention (ttc_tconfig_flops_per_token x 3). Each figure
 * is the median step time over 5 timed steps after 2 warm-up steps; the
 * script compares it with the FMA peak measured by bench/gemm in the same
 * run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/rng.h"
#include "base/util.h"
#include "train/tdata.h"
#include "train/tmodel.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds per training step of config c on a B x T random batch. */
static int time_steps(const ttc_tconfig *c, ttc_pool *pool, int B, int T, double *sec,
                      ttc_err *e) {
    ttc_tmodel m;
    ttc_tbatch b;
    int rc = ttc_tmodel_new(c, &m, e);
    if (rc) return rc;
    ttc_rng r;
    ttc_rng_seed(&r, 1);
    ttc_tmodel_init_random(&m, &r);
    rc = ttc_tmodel_alloc_optim(&m, e);
    if (!rc) rc = ttc_tmodel_alloc_acts(&m, B, T, e);
    if (!rc) rc = ttc_tbatch_alloc(&b, B, T, e);
    if (rc) { ttc_tmodel_free(&m); return rc; }
    for (int i = 0; i < B * T; i++) {
        b.tok[i] = (int32_t)ttc_rng_below(&r, (uint64_t)c->vocab);
        b.tgt[i] = (int32_t)ttc_rng_below(&r, (uint64_t)c->vocab);
        b.pos[i] = i % T;
        b.seg[i] = 0;
        b.w[i] = 1.0f;
        b.label[i] = -1.0f;
    }
    ttc_adamw opt = {1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f};
    enum { WARM = 2, TIMED = 5 };
    double t[TIMED];
    for (int s = 0; s < WARM + TIMED && !rc; s++) {
        double t0 = ttc_now();
        ttc_tmodel_zero_grad(&m);
        rc = ttc_tmodel_forward(&m, pool, &b, e);
        if (rc) break;
        ttc_tmodel_loss(&m, pool, &b, TTC_TASK_SFT, 1.0f / (float)(B * T), 0, 0, true);
        ttc_tmodel_backward(&m, pool, &b);
        ttc_tmodel_adamw(&m, pool, &opt, 1e-3f, s + 1, 1.0f);
        if (s >= WARM) t[s - WARM] = ttc_now() - t0;
    }
    if (!rc) {
        qsort(t, TIMED, sizeof t[0], cmp_double);
        *sec = t[TIMED / 2];
    }
    ttc_tbatch_free(&b);
    ttc_tmodel_free(&m);
    return rc;
}

int main(int argc, char **argv) {
    int threads = argc > 1 && argv[1][0] != '-' ? atoi(argv[1]) : 2;
    bool json = argc > 1 && !strcmp(argv[argc - 1], "--json");
    ttc_pool *pool;
    ttc_err e;
    if (ttc_pool_new(threads, &pool, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    /* models/generator.gguf and models/generator-large.gguf (vocab 491) */
    static const struct { const char *name; ttc_tconfig c; } shapes[] = {
        {"generator", {128, 5, 2, 2, 384, 491, 512, 0, 10000.0f, 1e-5f}},
        {"generator-large", {320, 8, 5, 5, 960, 491, 512, 0, 10000.0f, 1e-5f}},
    };
    const int B = 16, T = 272;
    int rc = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && !rc; i++) {
        const ttc_tconfig *c = &shapes[i].c;
        double sec = 0;
        rc = time_steps(c, pool, B, T, &sec, &e);
        if (rc) { fprintf(stderr, "train bench %s: %s\n", shapes[i].name, e.msg); break; }
        double tok_s = B * T / sec, gflops = tok_s * 3.0 * ttc_tconfig_flops_per_token(c, T) / 1e9;
        size_t params = ttc_tconfig_n_params(c);
        if (json)
            printf("{\"test\": \"train\", \"model\": \"%s\", \"params\": %zu, \"tokens_per_s\": %.0f, "
                   "\"gflops\": %.1f}\n", shapes[i].name, params, tok_s, gflops);
        else
            printf("train %-16s %6.2f M params: %7.0f tokens/s, %6.1f GFLOP/s\n", shapes[i].name,
                   params / 1e6, tok_s, gflops);
    }
    ttc_pool_free(pool);
    return rc ? 1 : 0;
}
