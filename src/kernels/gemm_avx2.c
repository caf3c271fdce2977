/* AVX2 + FMA f32 GEMM for CPUs without AVX-512: the same blocking as
 * gemm_avx512.c with a 6 x 16 micro-kernel (12 ymm accumulators). */
#include "kernels/kimpl.h"

#include <immintrin.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 96
#define NC 512

#define TGT __attribute__((target("avx2,fma")))

TGT static void micro_6x16(int kc, const float *restrict ap, const float *restrict bp, float *c, int ldc,
                           int mr, int nr, float alpha, float beta, bool first) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 a = _mm256_broadcast_ss(ap + i);
            acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
        }
        ap += MR;
        bp += NR;
    }
    float tmp[NR] __attribute__((aligned(32)));
    for (int i = 0; i < mr; i++) {
        _mm256_store_ps(tmp, acc[i][0]);
        _mm256_store_ps(tmp + 8, acc[i][1]);
        float *row = c + (size_t)i * ldc;
        for (int j = 0; j < nr; j++) {
            float v = alpha * tmp[j];
            row[j] = !first ? row[j] + v : beta == 0 ? v : v + beta * row[j];
        }
    }
}

static void pack_a(bool ta, const float *A, int lda, int i0, int mc, int p0, int kc, float *ap) {
    for (int ib = 0; ib < mc; ib += MR, ap += (size_t)MR * kc) {
        int mr = mc - ib < MR ? mc - ib : MR;
        for (int k = 0; k < kc; k++)
            for (int i = 0; i < MR; i++)
                ap[k * MR + i] = i >= mr ? 0 : ta ? A[(size_t)(p0 + k) * lda + i0 + ib + i]
                                                  : A[(size_t)(i0 + ib + i) * lda + p0 + k];
    }
}

static void pack_b(bool tb, const float *B, int ldb, int p0, int kc, int j0, int nc, float *bp) {
    for (int jb = 0; jb < nc; jb += NR, bp += (size_t)NR * kc) {
        int nr = nc - jb < NR ? nc - jb : NR;
        for (int k = 0; k < kc; k++)
            for (int j = 0; j < NR; j++)
                bp[k * NR + j] = j >= nr ? 0 : tb ? B[(size_t)(j0 + jb + j) * ldb + p0 + k]
                                                  : B[(size_t)(p0 + k) * ldb + j0 + jb + j];
    }
}

void k_sgemm_avx2(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc, int i0, int i1, int j0, int j1) {
    float *bp = K > 0 ? k_scratch(3, sizeof(float) * NC * KC) : NULL;
    float *ap = K > 0 ? k_scratch(2, sizeof(float) * (MC + MR) * KC) : NULL;
    if (!ap || !bp) { /* K == 0, or out of memory: unblocked */
        for (int i = i0; i < i1; i++)
            for (int j = j0; j < j1; j++) {
                float s = 0;
                for (int k = 0; k < K; k++)
                    s += (ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                         (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
                float *c = &C[(size_t)i * ldc + j];
                *c = beta == 0 ? alpha * s : alpha * s + beta * *c;
            }
        return;
    }
    for (int jc = j0; jc < j1; jc += NC) {
        int nc = j1 - jc < NC ? j1 - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            pack_b(tb, B, ldb, pc, kc, jc, nc, bp);
            for (int ic = i0; ic < i1; ic += MC) {
                int mc = i1 - ic < MC ? i1 - ic : MC;
                pack_a(ta, A, lda, ic, mc, pc, kc, ap);
                for (int jr = 0; jr < nc; jr += NR)
                    for (int ir = 0; ir < mc; ir += MR)
                        micro_6x16(kc, ap + (size_t)ir * kc, bp + (size_t)jr * kc,
                                   C + (size_t)(ic + ir) * ldc + jc + jr, ldc,
                                   mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR, alpha, beta, pc == 0);
            }
        }
    }
}
