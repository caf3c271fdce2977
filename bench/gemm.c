/* f32 GEMM benchmark: ttc_sgemm GFLOP/s against the measured FMA peak of
 * this machine (same run), and against OpenBLAS when it can be loaded
 * (dlopen, OPENBLAS_CORETYPE=SkylakeX set first).
 * usage: gemm [threads] [--json]   prints one line per size. */
#include <dlfcn.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "kernels/kernels.h"

typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                               const float *, int, float, float *, int);

/* One thread's FMA throughput: 24 independent accumulator chains. */
__attribute__((target("avx512f,fma"))) static void peak_task(void *ctx, int task, int n, int thread) {
    __m512 a[24];
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps((float)i);
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < 4000000; it++)
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    float s = 0;
    for (int i = 0; i < 24; i++) s += _mm512_reduce_add_ps(a[i]);
    ((volatile float *)ctx)[thread] = s;
}

static double median3(double a, double b, double c) {
    return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

int main(int argc, char **argv) {
    int threads = argc > 1 && argv[1][0] != '-' ? atoi(argv[1]) : 2;
    bool json = argc > 1 && !strcmp(argv[argc - 1], "--json");
    ttc_pool *pool;
    ttc_err e;
    if (ttc_pool_new(threads, &pool, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    volatile float sink[256];
    double t0 = ttc_now();
    ttc_pool_run(pool, peak_task, (void *)sink, threads);
    double peak = 4000000.0 * 24 * 32 * threads / (ttc_now() - t0) / 1e9;

    setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
    char nt[16];
    snprintf(nt, sizeof nt, "%d", threads);
    setenv("OPENBLAS_NUM_THREADS", nt, 1);
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW);
    cblas_sgemm_fn blas = lib ? (cblas_sgemm_fn)dlsym(lib, "cblas_sgemm") : NULL;

    static const int sizes[][3] = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024},
                                   {128, 896, 896}, {128, 4864, 896}, {512, 896, 4864}};
    if (!json) printf("fma peak %.0f GFLOP/s (%d threads, measured)\n", peak, threads);
    else printf("{\"test\": \"fma_peak\", \"threads\": %d, \"gflops\": %.1f}\n", threads, peak);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N),
              *C = malloc(sizeof(float) * M * N);
        for (long i = 0; i < (long)M * K; i++) A[i] = (float)(i % 7) * 0.1f;
        for (long i = 0; i < (long)K * N; i++) B[i] = (float)(i % 5) * 0.1f;
        double flop = 2.0 * M * N * K, best[2][3];
        for (int impl = 0; impl < 2; impl++) {
            if (impl == 1 && !blas) break;
            for (int r = 0; r < 3; r++) {
                int reps = (int)(2e9 / flop) + 1;
                double t = ttc_now();
                for (int i = 0; i < reps; i++) {
                    if (impl == 0) ttc_sgemm(pool, false, false, M, N, K, 1, A, K, B, N, 0, C, N);
                    else blas(101, 111, 111, M, N, K, 1, A, K, B, N, 0, C, N);
                }
                best[impl][r] = flop * reps / (ttc_now() - t) / 1e9;
            }
        }
        double ours = median3(best[0][0], best[0][1], best[0][2]);
        double theirs = blas ? median3(best[1][0], best[1][1], best[1][2]) : 0;
        if (json)
            printf("{\"test\": \"sgemm\", \"M\": %d, \"N\": %d, \"K\": %d, \"gflops\": %.1f, \"peak_frac\": %.3f, "
                   "\"openblas_gflops\": %.1f}\n", M, N, K, ours, ours / peak, theirs);
        else
            printf("sgemm %4dx%4dx%4d: ttc %6.1f GFLOP/s (%4.0f%% of peak)   openblas %6.1f\n",
                   M, N, K, ours, 100 * ours / peak, theirs);
        free(A); free(B); free(C);
    }
    ttc_pool_free(pool);
    return 0;
}
