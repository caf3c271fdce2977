/* ttc_sgemm: tiling over the pool and the plain C reference kernel. */
#include "kernels/kernels.h"
#include "kernels/kimpl.h"
#include "base/util.h"

/* Reference on the C tile [i0,i1) x [j0,j1): double accumulation. */
static void sgemm_ref(bool ta, bool tb, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc,
                      int i0, int i1, int j0, int j1) {
    for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0 ? alpha * (float)s : alpha * (float)s + beta * *c;
        }
}

typedef struct {
    bool ta, tb;
    int M, N, K, bm, bn, nbn, path;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
} gemm_run;

static void gemm_task(void *ctx, int task, int n_tasks, int thread) {
    const gemm_run *g = ctx;
    int i0 = task / g->nbn * g->bm, j0 = task % g->nbn * g->bn;
    int i1 = TTC_MIN(i0 + g->bm, g->M), j1 = TTC_MIN(j0 + g->bn, g->N);
    if (g->path >= TTC_KERNEL_AVX512)
        k_sgemm_avx512(g->ta, g->tb, g->M, g->N, g->K, g->alpha, g->A, g->lda, g->B, g->ldb,
                       g->beta, g->C, g->ldc, i0, i1, j0, j1);
    else if (g->path == TTC_KERNEL_AVX2)
        k_sgemm_avx2(g->ta, g->tb, g->M, g->N, g->K, g->alpha, g->A, g->lda, g->B, g->ldb,
                     g->beta, g->C, g->ldc, i0, i1, j0, j1);
    else
        sgemm_ref(g->ta, g->tb, g->K, g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc,
                  i0, i1, j0, j1);
}

void ttc_sgemm(ttc_pool *pool, bool trans_a, bool trans_b, int M, int N, int K,
               float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    gemm_run g = {trans_a, trans_b, M, N, K, 0, 0, 0, ttc_kernel_get(), alpha, beta,
                  A, B, C, lda, ldb, ldc};
    /* About 4 tiles of C per thread (dynamic hand-out absorbs a descheduled
     * thread). Each tile packs its own A and B panels, so tiles are kept
     * square-ish (packing costs K*(bm+bn) per bm*bn*K of work); bm stays a
     * multiple of 12 rows, bn of 32 columns (two cache lines). */
    int nt = ttc_pool_n_threads(pool);
    g.bm = M;
    g.bn = N;
    double work = (double)M * N * (K > 0 ? K : 1);
    int want = work < 1 << 18 ? 1 : 4 * nt;
    while ((long)((M + g.bm - 1) / g.bm) * ((N + g.bn - 1) / g.bn) < want) {
        int bm2 = (g.bm / 2 + 11) / 12 * 12, bn2 = (g.bn / 2 + 31) / 32 * 32;
        bool can_m = bm2 < g.bm && bm2 >= 12, can_n = bn2 < g.bn && bn2 >= 32;
        if (can_m && (!can_n || g.bm >= g.bn)) g.bm = bm2;
        else if (can_n) g.bn = bn2;
        else break;
    }
    g.nbn = (N + g.bn - 1) / g.bn;
    int tasks = (M + g.bm - 1) / g.bm * g.nbn;
    ttc_pool_run(pool, gemm_task, &g, tasks);
}
