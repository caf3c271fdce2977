/* AVX-512 f32 GEMM: GotoBLAS-style blocking with packed panels and a 12 x 32
 * register-blocked micro-kernel (24 zmm accumulators, A broadcast from the
 * packed panel, two B vectors per k).
 *
 * Loop nest per C tile [i0,i1) x [j0,j1):
 *   for jc in NC-wide column blocks:       pack B[pc.., jc..] as [k][32] panels
 *     for pc in KC-deep slices:
 *       for ic in MC-tall row blocks:      pack A as [k][12] panels
 *         for each 32-column panel, each 12-row panel: micro-kernel
 * The first K slice applies beta (beta == 0 never reads C); later slices add. */
#include "kernels/kimpl.h"

#include <immintrin.h>

#define MR 12
#define NR 32
#define KC 256
#define MC 144   /* 12 panels of A: 144 KB packed, stays in L2 */
#define NC 512

#define TGT __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

TGT static void micro_12x32(int kc, const float *restrict ap, const float *restrict bp,
                            float *c, int ldc, int mr, int nr, float alpha, float beta, bool first) {
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(ap[i]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
        ap += MR;
        bp += NR;
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *row = c + (size_t)i * ldc;
        __m512 r0 = _mm512_mul_ps(va, acc[i][0]), r1 = _mm512_mul_ps(va, acc[i][1]);
        if (!first) {
            r0 = _mm512_add_ps(r0, _mm512_maskz_loadu_ps(m0, row));
            r1 = _mm512_add_ps(r1, _mm512_maskz_loadu_ps(m1, row + 16));
        } else if (beta != 0) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), r1);
        }
        _mm512_mask_storeu_ps(row, m0, r0);
        _mm512_mask_storeu_ps(row + 16, m1, r1);
    }
}

/* Packs op(A)[i0..i0+mc, p0..p0+kc] as MR-row panels [k][MR], zero-padded. */
TGT static void pack_a(bool ta, const float *A, int lda, int i0, int mc, int p0, int kc, float *ap) {
    for (int ib = 0; ib < mc; ib += MR, ap += (size_t)MR * kc) {
        int mr = mc - ib < MR ? mc - ib : MR;
        if (ta) { /* the MR values of one k are contiguous: one masked load each */
            __mmask16 km = (__mmask16)((1u << mr) - 1);
            const float *src = A + (size_t)p0 * lda + i0 + ib;
            for (int k = 0; k < kc; k++)
                _mm512_mask_storeu_ps(ap + k * MR, 0xfff,
                                      _mm512_maskz_loadu_ps(km, src + (size_t)k * lda));
        } else {
            /* gather one k-column of MR rows at a time (strided by lda) */
            __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 0, 0),
                                             _mm512_set1_epi32(lda));
            __mmask16 km = (__mmask16)((1u << mr) - 1);
            const float *src = A + (size_t)(i0 + ib) * lda + p0;
            for (int k = 0; k < kc; k++)
                _mm512_mask_storeu_ps(ap + k * MR, 0xfff,
                                      _mm512_mask_i32gather_ps(_mm512_setzero_ps(), km, idx, src + k, 4));
        }
    }
}

/* Packs op(B)[p0..p0+kc, j0..j0+nc] as NR-column panels [k][NR], zero-padded. */
TGT static void pack_b(bool tb, const float *B, int ldb, int p0, int kc, int j0, int nc, float *bp) {
    for (int jb = 0; jb < nc; jb += NR, bp += (size_t)NR * kc) {
        int nr = nc - jb < NR ? nc - jb : NR;
        if (!tb) {
            __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
            __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
            for (int k = 0; k < kc; k++) {
                const float *src = B + (size_t)(p0 + k) * ldb + j0 + jb;
                _mm512_store_ps(bp + k * NR, _mm512_maskz_loadu_ps(m0, src));
                _mm512_store_ps(bp + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
            }
        } else {
            __m512i idx0 = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                              _mm512_set1_epi32(ldb));
            __m512i idx1 = _mm512_add_epi32(idx0, _mm512_set1_epi32(16 * ldb));
            __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
            __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
            const float *src = B + (size_t)(j0 + jb) * ldb + p0;
            for (int k = 0; k < kc; k++) {
                _mm512_store_ps(bp + k * NR, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m0, idx0, src + k, 4));
                _mm512_store_ps(bp + k * NR + 16, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m1, idx1, src + k, 4));
            }
        }
    }
}

TGT void k_sgemm_avx512(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc, int i0, int i1, int j0, int j1) {
    if (K <= 0) { /* C = beta * C */
        for (int i = i0; i < i1; i++)
            for (int j = j0; j < j1; j++) C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
        return;
    }
    float *bp = k_scratch(3, sizeof(float) * NC * KC);
    float *ap = k_scratch(2, sizeof(float) * (MC + MR) * KC);
    if (!ap || !bp) { /* out of memory: fall back to unpacked dot products */
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
                        micro_12x32(kc, ap + (size_t)ir * kc, bp + (size_t)jr * kc,
                                    C + (size_t)(ic + ir) * ldc + jc + jr, ldc,
                                    mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR,
                                    alpha, beta, pc == 0);
            }
        }
    }
}
