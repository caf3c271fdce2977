/* ttc_matmul benchmark: for each weight type, decode-shaped products
 * (n_tok = 1, 4, 16, 64) as weight GB/s against the memory bandwidth
 * measured in the same run, and prefill-shaped ones (n_tok = 256) as
 * GOP/s. Weights: the Qwen2.5-0.5B ffn_down matrix (896 x 4864)
 * repeated NMAT times so the set exceeds the last-level cache.
 * usage: matmul [threads] [--json] [--types q8_0,q4_K,...] [--tokens 1,4,16,...] */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/rng.h"
#include "base/util.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"

#define NMAT 24 /* ~105 MB at 8 bits, well past the LLC */

typedef struct { const float *buf; size_t n; double sum[256]; } bw_ctx;

/* Sums this task's share with 4 zmm accumulators (one cache line per
 * iteration) and the same 4 KB software prefetch as the matmul kernels, so
 * the figure is what a streaming kernel can get, not an add-latency limit. */
__attribute__((target("avx512f"))) static void bw_task(void *ctx, int task, int n_tasks, int thread) {
    bw_ctx *b = ctx;
    size_t per = b->n / n_tasks / 64 * 64, i0 = per * task;
    const float *p = b->buf + i0;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < per; i += 64) {
        _mm_prefetch((const char *)(p + i) + 4096, _MM_HINT_T0);
        _mm_prefetch((const char *)(p + i) + 4096 + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)(p + i) + 4096 + 128, _MM_HINT_T0);
        _mm_prefetch((const char *)(p + i) + 4096 + 192, _MM_HINT_T0);
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p + i));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps(p + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_loadu_ps(p + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_loadu_ps(p + i + 48));
    }
    b->sum[thread] += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* Read bandwidth in GB/s: median of 5 passes over 512 MB. */
static double measure_bandwidth(ttc_pool *pool) {
    size_t n = (size_t)128 << 20;
    float *buf = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
    bw_ctx c = {buf, n, {0}};
    double r[5];
    for (int k = 0; k < 5; k++) {
        double t = ttc_now();
        ttc_pool_run(pool, bw_task, &c, ttc_pool_n_threads(pool));
        if (c.sum[0] == 12345) puts(""); /* keep the sums alive */
        r[k] = n * 4.0 / (ttc_now() - t) / 1e9;
    }
    free(buf);
    for (int i = 0; i < 5; i++) for (int j = i + 1; j < 5; j++) if (r[j] < r[i]) { double t = r[i]; r[i] = r[j]; r[j] = t; }
    return r[2];
}

int main(int argc, char **argv) {
    int threads = 2;
    bool json = false;
    const char *types_arg = "q8_0,q4_0,q4_K,q6_K,f16,bf16,f32";
    const char *tokens_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--types") && i + 1 < argc) types_arg = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens_arg = argv[++i];
        else threads = atoi(argv[i]);
    }
    ttc_pool *pool;
    ttc_err e;
    if (ttc_pool_new(threads, &pool, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    double bw = measure_bandwidth(pool);
    if (json) printf("{\"test\": \"bandwidth\", \"threads\": %d, \"gb_s\": %.2f}\n", threads, bw);
    else printf("memory read bandwidth %.1f GB/s (%d threads), kernel path %s\n", bw, threads,
                ttc_kernel_name(ttc_kernel_get()));
    const int rows = 896, cols = 4864; /* ffn_down: cols a multiple of 256 for the K-quants */
    ttc_rng rng;
    ttc_rng_seed(&rng, 1);
    float *src = malloc(sizeof(float) * cols * 64);
    for (int i = 0; i < cols * 64; i++) src[i] = ttc_rng_normal(&rng);
    int ntoks[16] = {1, 4, 16, 64, 256}, n_ntoks = 5;
    if (tokens_arg) { /* --tokens 1,2,3: other token counts (1..256) */
        n_ntoks = 0;
        for (const char *p = tokens_arg; *p && n_ntoks < 16; p += strcspn(p, ","), p += *p == ',') {
            int v = atoi(p);
            if (v < 1 || v > 256) { fprintf(stderr, "--tokens: %d is not in 1..256\n", v); return 1; }
            ntoks[n_ntoks++] = v;
        }
    }
    float *x = malloc(sizeof(float) * cols * 256), *y = malloc(sizeof(float) * rows * 256);
    for (int i = 0; i < cols * 256; i++) x[i] = ttc_rng_normal(&rng);
    char types_copy[256];
    snprintf(types_copy, sizeof types_copy, "%s", types_arg);
    for (char *tok = strtok(types_copy, ","); tok; tok = strtok(NULL, ",")) {
        int type = -1;
        for (int t = 0; t < TTC_TYPE_COUNT; t++)
            if (!strcmp(ttc_type_name(t), tok)) type = t;
        if (type < 0 || !ttc_type_supported(type)) { fprintf(stderr, "unknown type %s\n", tok); continue; }
        size_t rb = ttc_type_row_bytes(type, cols), mat = rb * rows;
        uint8_t *w = malloc(mat * NMAT);
        for (int r = 0; r < rows; r++) ttc_quantize_row(type, src + (r % 64) * cols, w + rb * r, cols, NULL);
        for (int k = 1; k < NMAT; k++) memcpy(w + mat * k, w, mat);
        for (int ni = 0; ni < n_ntoks; ni++) {
            int n_tok = ntoks[ni];
            double rep[5];
            int mats = n_tok >= 64 ? 4 : NMAT;
            for (int k = 0; k < 5; k++) {
                double t = ttc_now();
                for (int j = 0; j < mats; j++) ttc_matmul(pool, w + mat * j, type, rows, cols, x, n_tok, y);
                rep[k] = (ttc_now() - t) / mats;
            }
            for (int i = 0; i < 5; i++) for (int j = i + 1; j < 5; j++) if (rep[j] < rep[i]) { double t = rep[i]; rep[i] = rep[j]; rep[j] = t; }
            double s = rep[2], gbs = mat / s / 1e9, gops = 2.0 * rows * cols * n_tok / s / 1e9;
            if (json)
                printf("{\"test\": \"matmul\", \"type\": \"%s\", \"n_tok\": %d, \"us\": %.1f, \"weight_gb_s\": %.2f, "
                       "\"bw_frac\": %.3f, \"gops\": %.1f}\n", tok, n_tok, s * 1e6, gbs, gbs / bw, gops);
            else
                printf("%-5s n_tok=%3d: %8.1f us  weights %5.1f GB/s (%3.0f%% of bw)  %6.1f GOP/s\n",
                       tok, n_tok, s * 1e6, gbs, 100 * gbs / bw, gops);
        }
        free(w);
    }
    free(src); free(x); free(y);
    ttc_pool_free(pool);
    return 0;
}
