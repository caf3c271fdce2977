/* Attention over one KV page for many query rows (see attn.h).
 * scores: the page's keys are transposed 16 at a time into KT[d][16] (one
 *   zmm per head dimension) so a query row costs hd broadcast-FMAs for 16
 *   scores; 4 query rows share each KT load.
 * accum: 4 output rows x hd/16 vectors of accumulators, each V row loaded
 *   once per 4 query rows. */
#include "kernels/attn.h"
#include "kernels/kernels.h"

#include <immintrin.h>
#include <stddef.h>

#define TGT __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

static void scores_ref(const float *Q, int ldq, int nq, const float *K, int nk, int hd, float scale,
                       float *S, int lds) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            float s = 0;
            for (int d = 0; d < hd; d++) s += Q[(size_t)i * ldq + d] * K[(size_t)j * hd + d];
            S[(size_t)i * lds + j] = scale * s;
        }
}

static void accum_ref(const float *P, int ldp, int nq, const float *V, int nk, int hd, float *O, int ldo) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            float p = P[(size_t)i * ldp + j];
            for (int d = 0; d < hd; d++) O[(size_t)i * ldo + d] += p * V[(size_t)j * hd + d];
        }
}

static void scores_kt_ref(const float *Q, int ldq, int nq, const float *Kt, int ldk, int nk, int hd, float scale,
                          float *S, int lds) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            float s = 0;
            for (int d = 0; d < hd; d++) s += Q[(size_t)i * ldq + d] * Kt[(size_t)d * ldk + j];
            S[(size_t)i * lds + j] = scale * s;
        }
}

/* 16 key columns at a time (masked tail), 4 query rows sharing each key
 * vector load; the query element is a broadcast operand of the FMA. */
TGT static void scores_kt_avx512(const float *Q, int ldq, int nq, const float *Kt, int ldk, int nk, int hd,
                                 float scale, float *S, int lds) {
    __m512 vs = _mm512_set1_ps(scale);
    for (int j0 = 0; j0 < nk; j0 += 16) {
        int m = nk - j0 < 16 ? nk - j0 : 16;
        __mmask16 km = (__mmask16)((1u << m) - 1);
        const float *kb = Kt + j0;
        int i = 0;
        for (; i + 4 <= nq; i += 4) {
            const float *q0 = Q + (size_t)i * ldq, *q1 = q0 + ldq, *q2 = q1 + ldq, *q3 = q2 + ldq;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < hd; d++) {
                __m512 k = _mm512_maskz_loadu_ps(km, kb + (size_t)d * ldk);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(q0[d]), k, a0);
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(q1[d]), k, a1);
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(q2[d]), k, a2);
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(q3[d]), k, a3);
            }
            float *s = S + (size_t)i * lds + j0;
            _mm512_mask_storeu_ps(s, km, _mm512_mul_ps(a0, vs));
            _mm512_mask_storeu_ps(s + lds, km, _mm512_mul_ps(a1, vs));
            _mm512_mask_storeu_ps(s + 2 * (size_t)lds, km, _mm512_mul_ps(a2, vs));
            _mm512_mask_storeu_ps(s + 3 * (size_t)lds, km, _mm512_mul_ps(a3, vs));
        }
        for (; i < nq; i++) {
            const float *q = Q + (size_t)i * ldq;
            __m512 a = _mm512_setzero_ps(), b = a;
            int d = 0;
            for (; d + 2 <= hd; d += 2) {
                a = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_maskz_loadu_ps(km, kb + (size_t)d * ldk), a);
                b = _mm512_fmadd_ps(_mm512_set1_ps(q[d + 1]), _mm512_maskz_loadu_ps(km, kb + (size_t)(d + 1) * ldk), b);
            }
            if (d < hd) a = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_maskz_loadu_ps(km, kb + (size_t)d * ldk), a);
            _mm512_mask_storeu_ps(S + (size_t)i * lds + j0, km, _mm512_mul_ps(_mm512_add_ps(a, b), vs));
        }
    }
}

TGT static void scores_avx512(const float *Q, int ldq, int nq, const float *K, int nk, int hd, float scale,
                              float *S, int lds) {
    float kt[256 * 16] __attribute__((aligned(64)));
    __m512 vs = _mm512_set1_ps(scale);
    for (int j0 = 0; j0 < nk; j0 += 16) {
        int m = nk - j0 < 16 ? nk - j0 : 16;
        __mmask16 km = (__mmask16)((1u << m) - 1);
        /* transpose K[j0..j0+m][hd] into kt[d][16] (zero beyond m) */
        __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(hd));
        const float *kb = K + (size_t)j0 * hd;
        for (int d = 0; d < hd; d++)
            _mm512_store_ps(kt + 16 * d, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), km, idx, kb + d, 4));
        int i = 0;
        for (; i + 4 <= nq; i += 4) {
            const float *q0 = Q + (size_t)i * ldq, *q1 = q0 + ldq, *q2 = q1 + ldq, *q3 = q2 + ldq;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < hd; d++) {
                __m512 k = _mm512_load_ps(kt + 16 * d);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(q0[d]), k, a0);
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(q1[d]), k, a1);
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(q2[d]), k, a2);
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(q3[d]), k, a3);
            }
            float *s = S + (size_t)i * lds + j0;
            _mm512_mask_storeu_ps(s, km, _mm512_mul_ps(a0, vs));
            _mm512_mask_storeu_ps(s + lds, km, _mm512_mul_ps(a1, vs));
            _mm512_mask_storeu_ps(s + 2 * (size_t)lds, km, _mm512_mul_ps(a2, vs));
            _mm512_mask_storeu_ps(s + 3 * (size_t)lds, km, _mm512_mul_ps(a3, vs));
        }
        for (; i < nq; i++) {
            const float *q = Q + (size_t)i * ldq;
            __m512 a = _mm512_setzero_ps(), b = a;
            int d = 0;
            for (; d + 2 <= hd; d += 2) {
                a = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_load_ps(kt + 16 * d), a);
                b = _mm512_fmadd_ps(_mm512_set1_ps(q[d + 1]), _mm512_load_ps(kt + 16 * d + 16), b);
            }
            for (; d < hd; d++) a = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_load_ps(kt + 16 * d), a);
            _mm512_mask_storeu_ps(S + (size_t)i * lds + j0, km, _mm512_mul_ps(_mm512_add_ps(a, b), vs));
        }
    }
}

/* R <= 4 output rows x nv <= 4 vectors of the head dim at d0, over nk keys;
 * R is a constant in every caller, so the 16 accumulators stay in registers. */
static inline __attribute__((always_inline)) TGT void
accum_tile(const float *P, int ldp, int R, const float *V, int nk, int hd, int d0, int nv, float *O, int ldo) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            acc[r][v] = r < R && v < nv ? _mm512_loadu_ps(O + (size_t)r * ldo + d0 + 16 * v) : _mm512_setzero_ps();
    for (int j = 0; j < nk; j++) {
        const float *vr = V + (size_t)j * hd + d0;
        __m512 v0 = _mm512_loadu_ps(vr), v1 = nv > 1 ? _mm512_loadu_ps(vr + 16) : v0;
        __m512 v2 = nv > 2 ? _mm512_loadu_ps(vr + 32) : v0, v3 = nv > 3 ? _mm512_loadu_ps(vr + 48) : v0;
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (r < R) {
                __m512 p = _mm512_set1_ps(P[(size_t)r * ldp + j]);
                acc[r][0] = _mm512_fmadd_ps(p, v0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(p, v1, acc[r][1]);
                acc[r][2] = _mm512_fmadd_ps(p, v2, acc[r][2]);
                acc[r][3] = _mm512_fmadd_ps(p, v3, acc[r][3]);
            }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            if (r < R && v < nv) _mm512_storeu_ps(O + (size_t)r * ldo + d0 + 16 * v, acc[r][v]);
}

TGT static void accum_avx512(const float *P, int ldp, int nq, const float *V, int nk, int hd, float *O, int ldo) {
    for (int d0 = 0; d0 < hd; d0 += 64) { /* 4 vectors of the head dim at a time */
        int nv = (hd - d0) / 16 < 4 ? (hd - d0) / 16 : 4;
        int i = 0;
        for (; i + 4 <= nq; i += 4)
            accum_tile(P + (size_t)i * ldp, ldp, 4, V, nk, hd, d0, nv, O + (size_t)i * ldo, ldo);
        const float *Pi = P + (size_t)i * ldp;
        float *Oi = O + (size_t)i * ldo;
        switch (nq - i) {
        case 3: accum_tile(Pi, ldp, 3, V, nk, hd, d0, nv, Oi, ldo); break;
        case 2: accum_tile(Pi, ldp, 2, V, nk, hd, d0, nv, Oi, ldo); break;
        case 1: accum_tile(Pi, ldp, 1, V, nk, hd, d0, nv, Oi, ldo); break;
        }
    }
}

void ttc_attn_scores(const float *Q, int ldq, int nq, const float *K, int nk, int hd, float scale,
                     float *S, int lds) {
    if (ttc_kernel_get() >= TTC_KERNEL_AVX512 && hd % 16 == 0 && hd <= 256)
        scores_avx512(Q, ldq, nq, K, nk, hd, scale, S, lds);
    else
        scores_ref(Q, ldq, nq, K, nk, hd, scale, S, lds);
}

void ttc_attn_scores_kt(const float *Q, int ldq, int nq, const float *Kt, int ldk, int nk, int hd, float scale,
                        float *S, int lds) {
    if (ttc_kernel_get() >= TTC_KERNEL_AVX512)
        scores_kt_avx512(Q, ldq, nq, Kt, ldk, nk, hd, scale, S, lds);
    else
        scores_kt_ref(Q, ldq, nq, Kt, ldk, nk, hd, scale, S, lds);
}

void ttc_attn_accum(const float *P, int ldp, int nq, const float *V, int nk, int hd, float *O, int ldo) {
    if (ttc_kernel_get() >= TTC_KERNEL_AVX512 && hd % 16 == 0)
        accum_avx512(P, ldp, nq, V, nk, hd, O, ldo);
    else
        accum_ref(P, ldp, nq, V, nk, hd, O, ldo);
}
