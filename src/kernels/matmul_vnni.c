/* AVX-512 VNNI kernels for quantized weights (Q8_0, Q4_0, Q4_K, Q6_K).
 *
 * Every weight type is brought to one shape, 64 weights ("chunk") at a time:
 *     w[c] = ws[c/4] * wu[c] + wb[c/16]
 * with wu unsigned 8-bit, ws a per-4-lane f32 scale and wb a per-16 bias:
 *     Q8_0  wu = q + 128   ws = d        wb = -128 d
 *     Q4_0  wu = q         ws = d        wb = -8 d
 *     Q4_K  wu = q         ws = d sc_j   wb = -dmin m_j
 *     Q6_K  wu = q         ws = d sc_g   wb = -32 d sc_g
 * Activations are quantized once per call to signed 8-bit blocks of 32
 * (xq, scale dx) plus xsum = dx * (sum of q) per 16. Then
 *     y = sum_chunks sum_lanes f32(dpbusd(wu, xq)) * ws * dx  +  sum_16 wb * xsum
 * vpdpbusd multiplies unsigned by signed bytes: wu is unsigned, xq signed,
 * and sums of four products fit int32 exactly.
 *
 * Rows are unpacked into per-thread scratch (16 at a time, whole K) and then
 * multiplied by tiles of 4 rows x 4 tokens held in 16 zmm accumulators, so
 * each unpacked chunk is loaded once per 4 tokens and each x chunk once per
 * 4 rows. */
#include "kernels/kimpl.h"
#include "kernels/kernels.h"
#include "ttc.h"

#include <immintrin.h>
#include <math.h>

#define TGT __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,fma,f16c")))
#define RG 16 /* rows unpacked per group */
/* Software prefetch distance for the weight stream: the hardware prefetcher
 * alone left single-core decode well below the memory bandwidth on the
 * (shared, busy) test machine; 4 KB ahead measured best of 1-16 KB. */
#ifndef PF_AHEAD
#define PF_AHEAD 4096
#endif
/* Prefetches the cache lines of [p + PF_AHEAD, p + PF_AHEAD + n). */
static inline void prefetch_ahead(const void *p, size_t n) {
    for (size_t o = 0; o < n; o += 64) _mm_prefetch((const char *)p + PF_AHEAD + o, _MM_HINT_T0);
}

typedef struct { int nch, n16p; size_t x_stride, w_stride; } geom;

/* Chunks of 64, groups of 16 padded to a multiple of 16 floats, per-token /
 * per-row bytes: [nch][64] 8-bit values, [nch][16] f32 scales, [n16p] f32. */
static geom geom_of(int cols) {
    geom g;
    g.nch = (cols + 63) / 64;
    g.n16p = (cols / 16 + 15) & ~15;
    g.x_stride = (size_t)g.nch * (64 + 64) + (size_t)g.n16p * 4;
    g.w_stride = g.x_stride;
    return g;
}

bool k_vnni_handles(int wtype) {
    return wtype == KT_Q8_0 || wtype == KT_Q4_0 || wtype == KT_Q4_K || wtype == KT_Q6_K;
}

size_t k_vnni_xq_bytes(const k_mm *m) { return geom_of(m->cols).x_stride * (size_t)m->n_tok; }

/* Quantizes tokens [t0, t1) of x: per 32-block dx = amax / 127, q = round(x / dx). */
TGT void k_vnni_prepare(k_mm *m, int t0, int t1) {
    geom g = geom_of(m->cols);
    int nb = m->cols / 32;
    for (int t = t0; t < t1; t++) {
        const float *x = m->x + (size_t)t * m->cols;
        uint8_t *base = (uint8_t *)m->xq + g.x_stride * t;
        int8_t *xq = (int8_t *)base;
        float *xs = (float *)(base + (size_t)g.nch * 64);
        float *xsum = xs + (size_t)g.nch * 16;
        for (int b = 0; b < nb; b++) {
            __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
            __m512 a = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
            float amax = _mm512_reduce_max_ps(a);
            float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
            __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id))); /* round to nearest */
            __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
            _mm_storeu_si128((__m128i *)(xq + 32 * b), _mm512_cvtsepi32_epi8(q0));
            _mm_storeu_si128((__m128i *)(xq + 32 * b + 16), _mm512_cvtsepi32_epi8(q1));
            xsum[2 * b] = d * (float)_mm512_reduce_add_epi32(q0);
            xsum[2 * b + 1] = d * (float)_mm512_reduce_add_epi32(q1);
            _mm256_storeu_ps(xs + 8 * b, _mm256_set1_ps(d));
        }
        if (nb & 1) { /* pad the last chunk */
            memset(xq + 32 * nb, 0, 32);
            _mm256_storeu_ps(xs + 8 * nb, _mm256_setzero_ps());
        }
        for (int i = m->cols / 16; i < g.n16p; i++) xsum[i] = 0;
    }
}

/* ---- unpacking one weight row into (wu, ws, wb) ---------------------------- */

TGT static void unpack_q8_0(const ttc_block_q8_0 *b, int nb, uint8_t *wu, float *ws, float *wb) {
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int i = 0; i < nb; i++) {
        if ((i & 1) == 0) prefetch_ahead(b + i, 64);
        __m256i q = _mm256_loadu_si256((const __m256i *)b[i].qs);
        _mm256_storeu_si256((__m256i *)(wu + 32 * i), _mm256_xor_si256(q, flip));
        float d = _cvtsh_ss(b[i].d);
        _mm256_storeu_ps(ws + 8 * i, _mm256_set1_ps(d));
        wb[2 * i] = wb[2 * i + 1] = -128.0f * d;
    }
}

TGT static void unpack_q4_0(const ttc_block_q4_0 *b, int nb, uint8_t *wu, float *ws, float *wb) {
    const __m128i lo = _mm_set1_epi8(15);
    for (int i = 0; i < nb; i++) {
        if ((i & 3) == 0) prefetch_ahead(b + i, 72);
        __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        _mm_storeu_si128((__m128i *)(wu + 32 * i), _mm_and_si128(q, lo));
        _mm_storeu_si128((__m128i *)(wu + 32 * i + 16), _mm_and_si128(_mm_srli_epi16(q, 4), lo));
        float d = _cvtsh_ss(b[i].d);
        _mm256_storeu_ps(ws + 8 * i, _mm256_set1_ps(d));
        wb[2 * i] = wb[2 * i + 1] = -8.0f * d;
    }
}

TGT static void unpack_q4_k(const ttc_block_q4_k *b, int nb, uint8_t *wu, float *ws, float *wb) {
    const __m256i lo = _mm256_set1_epi8(15);
    for (int i = 0; i < nb; i++, wu += 256, ws += 64, wb += 16) {
        prefetch_ahead(b + i, sizeof *b);
        float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
        for (int k = 0; k < 4; k++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * k));
            _mm256_storeu_si256((__m256i *)(wu + 64 * k), _mm256_and_si256(q, lo));
            _mm256_storeu_si256((__m256i *)(wu + 64 * k + 32), _mm256_and_si256(_mm256_srli_epi16(q, 4), lo));
        }
        for (int j = 0; j < 8; j++) {
            uint8_t sc, mn;
            ttc_q4k_scale_min(j, b[i].scales, &sc, &mn);
            _mm256_storeu_ps(ws + 8 * j, _mm256_set1_ps(d * sc));
            wb[2 * j] = wb[2 * j + 1] = -dmin * mn;
        }
    }
}

TGT static void unpack_q6_k(const ttc_block_q6_k *b, int nb, uint8_t *wu, float *ws, float *wb) {
    const __m256i lo = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    for (int i = 0; i < nb; i++, wu += 256, ws += 64, wb += 16) {
        prefetch_ahead(b + i, sizeof *b);
        float d = _cvtsh_ss(b[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i A = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h));
            __m256i B = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h + 32));
            __m256i H = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(H, m3), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 2), m3), 4);
            __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 4), m3), 4);
            __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 6), m3), 4);
            uint8_t *o = wu + 128 * h;
            _mm256_storeu_si256((__m256i *)(o + 0), _mm256_or_si256(_mm256_and_si256(A, lo), h0));
            _mm256_storeu_si256((__m256i *)(o + 32), _mm256_or_si256(_mm256_and_si256(B, lo), h1));
            _mm256_storeu_si256((__m256i *)(o + 64), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(A, 4), lo), h2));
            _mm256_storeu_si256((__m256i *)(o + 96), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(B, 4), lo), h3));
        }
        for (int g = 0; g < 16; g++) {
            float s = d * b[i].scales[g];
            _mm_storeu_ps(ws + 4 * g, _mm_set1_ps(s));
            wb[g] = -32.0f * s;
        }
    }
}

/* Unpacks row r into the layout of geom g at dst. */
TGT static void unpack_row(const k_mm *m, const geom *g, int r, uint8_t *dst) {
    const void *src = m->w + (size_t)r * m->row_bytes;
    uint8_t *wu = dst;
    float *ws = (float *)(dst + (size_t)g->nch * 64), *wb = ws + (size_t)g->nch * 16;
    int nb32 = m->cols / 32;
    switch (m->wtype) {
    case KT_Q8_0: unpack_q8_0(src, nb32, wu, ws, wb); break;
    case KT_Q4_0: unpack_q4_0(src, nb32, wu, ws, wb); break;
    case KT_Q4_K: unpack_q4_k(src, m->cols / 256, wu, ws, wb); break;
    case KT_Q6_K: unpack_q6_k(src, m->cols / 256, wu, ws, wb); break;
    }
    if (nb32 & 1) { /* zero the padding half chunk */
        memset(wu + 32 * nb32, 0, 32);
        memset(ws + 8 * nb32, 0, 32);
    }
    for (int i = m->cols / 16; i < g->n16p; i++) wb[i] = 0;
}

/* The four horizontal sums of a, b, c, d as one vector {sum a, sum b, sum c, sum d}. */
static inline __attribute__((always_inline)) TGT __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b)); /* a0+a2 b0+b2 a1+a3 b1+b3 per 128 */
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512 abcd = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))),
                                _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))));
    /* abcd lane group g holds partial sums {a, b, c, d} of 128-bit block g */
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm512_extractf32x8_ps(abcd, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* ---- R x T micro-kernel ------------------------------------------------------ */

static inline __attribute__((always_inline)) TGT void
tile(const geom *g, const uint8_t *w, const uint8_t *x, int R, int T, float *y, int ldy) {
    __m512 acc[4][4], bacc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) acc[r][t] = bacc[r][t] = _mm512_setzero_ps();
    const size_t so = (size_t)g->nch * 64; /* offset of the scales */
    for (int c = 0; c < g->nch; c++) {
        __m512i W[4];
        __m512 S[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (r < R) {
                W[r] = _mm512_loadu_si512(w + r * g->w_stride + 64 * c);
                S[r] = _mm512_loadu_ps((const float *)(w + r * g->w_stride + so) + 16 * c);
            }
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            if (t < T) {
                __m512i X = _mm512_loadu_si512(x + t * g->x_stride + 64 * c);
                __m512 XS = _mm512_loadu_ps((const float *)(x + t * g->x_stride + so) + 16 * c);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    if (r < R) {
                        __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W[r], X);
                        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(S[r], XS), acc[r][t]);
                    }
            }
    }
    const size_t bo = so + (size_t)g->nch * 64; /* offset of the biases / xsums */
    for (int i = 0; i < g->n16p; i += 16) {
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            if (t < T) {
                __m512 xs = _mm512_loadu_ps((const float *)(x + t * g->x_stride + bo) + i);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    if (r < R)
                        bacc[r][t] = _mm512_fmadd_ps(_mm512_loadu_ps((const float *)(w + r * g->w_stride + bo) + i),
                                                     xs, bacc[r][t]);
            }
    }
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
        if (t < T)
            _mm_mask_storeu_ps(y + (size_t)t * ldy, (__mmask8)((1u << R) - 1),
                               hsum4(_mm512_add_ps(acc[0][t], bacc[0][t]), _mm512_add_ps(acc[1][t], bacc[1][t]),
                                     _mm512_add_ps(acc[2][t], bacc[2][t]), _mm512_add_ps(acc[3][t], bacc[3][t])));
}

#define TILE_FN(R, T) \
    TGT static void tile_##R##_##T(const geom *g, const uint8_t *w, const uint8_t *x, float *y, int ldy) { \
        tile(g, w, x, R, T, y, ldy); }
#define TILE_ROW(R) TILE_FN(R, 1) TILE_FN(R, 2) TILE_FN(R, 3) TILE_FN(R, 4)
TILE_ROW(1) TILE_ROW(2) TILE_ROW(3) TILE_ROW(4)
typedef void (*tile_fn)(const geom *, const uint8_t *, const uint8_t *, float *, int);
static const tile_fn tiles[4][4] = {
    {tile_1_1, tile_1_2, tile_1_3, tile_1_4}, {tile_2_1, tile_2_2, tile_2_3, tile_2_4},
    {tile_3_1, tile_3_2, tile_3_3, tile_3_4}, {tile_4_1, tile_4_2, tile_4_3, tile_4_4}};

/* ---- Q8_0 with one or two tokens: straight from the blocks -------------------
 * (up to Q8_DIRECT_MAX_TOK tokens) Decode streams every weight once, so the unpack pass is skipped: two
 * blocks (64 weights) are loaded as one zmm, made unsigned (q + 128), and
 * multiplied by each token's 8-bit x with vpdpbusd. With per-lane scales
 * DW (the two blocks' d) and XS (x's dx), and XB = -16 dx sum(q_x) per lane
 * (the +128 offset's share, summed over 8 lanes it gives -128 dx sum q_x):
 *     acc += DW * (XS * f32(dot) + XB)
 * which is d dx sum(q w) per block, exactly as the reference up to f32
 * rounding. Rows are read in address order, one at a time. */
#define Q8_DIRECT_MAX_TOK 2 /* measured: 1.4x at 1 token, 1.2x at 2, slower from 4 */

static inline __attribute__((always_inline)) TGT void
q8_row(const ttc_block_q8_0 *b, int nb, const geom *g, const uint8_t *x, const float *xbe, int T, float *y,
       int ldy) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[4][2];
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    const size_t so = (size_t)g->nch * 64;
    for (int c = 0; 2 * c < nb; c++) {
        const ttc_block_q8_0 *b0 = b + 2 * c;
        prefetch_ahead(b0, 68);
        bool two = 2 * c + 1 < nb;
        __m256i lo = _mm256_loadu_si256((const __m256i *)b0->qs);
        __m256i hi = two ? _mm256_loadu_si256((const __m256i *)b0[1].qs) : _mm256_set1_epi8((char)0x80);
        __m512i wu = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), flip);
        __m128i d0 = _mm_set1_epi16((short)b0->d), d1 = _mm_set1_epi16(two ? (short)b0[1].d : 0);
        __m512 DW = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(d0), d1, 1));
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            if (t < T) {
                const uint8_t *xt = x + (size_t)t * g->x_stride;
                __m512i X = _mm512_loadu_si512(xt + 64 * (size_t)c);
                __m512 XS = _mm512_loadu_ps((const float *)(xt + so) + 16 * (size_t)c);
                __m512 XB = _mm512_loadu_ps(xbe + ((size_t)t * g->nch + c) * 16);
                __m512 v = _mm512_fmadd_ps(XS, _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wu, X)), XB);
                acc[t][c & 1] = _mm512_fmadd_ps(DW, v, acc[t][c & 1]);
            }
    }
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
        if (t < T) y[(size_t)t * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]));
}

typedef void (*q8_row_fn)(const ttc_block_q8_0 *, int, const geom *, const uint8_t *, const float *, float *, int);
#define Q8R_FN(T) \
    TGT static void q8_row_##T(const ttc_block_q8_0 *b, int nb, const geom *g, const uint8_t *x, const float *xbe, \
                               float *y, int ldy) { q8_row(b, nb, g, x, xbe, T, y, ldy); }
Q8R_FN(1) Q8R_FN(2) Q8R_FN(3) Q8R_FN(4)
static const q8_row_fn q8_rows_t[4] = {q8_row_1, q8_row_2, q8_row_3, q8_row_4};

/* Rows [r0, r1) of a Q8_0 matrix against n_tok <= 4 prepared tokens. */
static int q8_direct_rows(const k_mm *m, int r0, int r1) {
    geom g = geom_of(m->cols);
    int nb = m->cols / 32;
    /* XB per token and chunk, from the per-16 sums of the prepared x */
    float *xbe = k_scratch(1, (size_t)m->n_tok * g.nch * 16 * sizeof(float));
    if (!xbe) return TTC_ENOMEM;
    for (int t = 0; t < m->n_tok; t++) {
        const float *xsum = (const float *)((const uint8_t *)m->xq + g.x_stride * t + (size_t)g.nch * 128);
        float *o = xbe + (size_t)t * g.nch * 16;
        for (int b = 0; b < 2 * g.nch; b++) {
            float v = b < nb ? -16.0f * (xsum[2 * b] + xsum[2 * b + 1]) : 0.0f;
            for (int l = 0; l < 8; l++) o[8 * b + l] = v;
        }
    }
    q8_row_fn fn = q8_rows_t[m->n_tok - 1];
    for (int r = r0; r < r1; r++)
        fn((const ttc_block_q8_0 *)(m->w + (size_t)r * m->row_bytes), nb, &g, m->xq, xbe, m->y + r, m->rows);
    return TTC_OK;
}

/* ---- Q4_K with one or two tokens: straight from the blocks -------------------
 * As for Q8_0, decode skips the unpack pass. A super-block's 128 bytes of
 * nibbles are two zmm; the low and high nibbles of the first hold the
 * weights of sub-blocks (0, 2) and (1, 3), those of the second (4, 6) and
 * (5, 7), 32 bytes each. x is rearranged once per call into that order
 * (xp), with its per-lane block scale (dxl) and its per-sub-block sum
 * (xs32 = dx sum q). The 12 packed scale bytes are decoded as three words:
 *     sc0..3 = s[0..3] & 63            m0..3 = s[4..7] & 63
 *     sc4..7 = (s[8..11] & 15) | (s[0..3] >> 6) << 4
 *     m4..7  = (s[8..11] >> 4) | (s[4..7] >> 6) << 4
 * and spread to lanes with one permute per quarter. Then per sub-block j
 *     y += d sc_j dx_j dot(q, xq) - dmin m_j xs32_j
 * which is the reference's sum up to f32 rounding. */
#ifndef Q4K_DIRECT_MAX_TOK
#define Q4K_DIRECT_MAX_TOK 2 /* measured: 1.7x at 1 token, 1.5x at 2, the unpack path as fast at 3 */
#endif

typedef struct { const int8_t *xp; const float *dxl, *xs32; size_t xp_tok, dxl_tok, xs_tok; } q4k_x;

static inline __attribute__((always_inline)) TGT void q4k_row(const ttc_block_q4_k *b, int nsb, const q4k_x *x,
                                                               int T, float *y, int ldy) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i i0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
    const __m512i i1 = _mm512_add_epi32(i0, _mm512_set1_epi32(1));
    const __m512i i2 = _mm512_add_epi32(i0, _mm512_set1_epi32(4)), i3 = _mm512_add_epi32(i0, _mm512_set1_epi32(5));
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    __m256 macc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int s = 0; s < nsb; s++) {
        const ttc_block_q4_k *k = b + s;
        prefetch_ahead(k, sizeof *k);
        __m512i A = _mm512_loadu_si512(k->qs), B = _mm512_loadu_si512(k->qs + 64);
        __m512i W[4] = {_mm512_and_si512(A, m4), _mm512_and_si512(_mm512_srli_epi16(A, 4), m4),
                        _mm512_and_si512(B, m4), _mm512_and_si512(_mm512_srli_epi16(B, 4), m4)};
        uint32_t w0, w1, w2;
        memcpy(&w0, k->scales, 4);
        memcpy(&w1, k->scales + 4, 4);
        memcpy(&w2, k->scales + 8, 4);
        uint32_t sc_lo = w0 & 0x3f3f3f3fu, m_lo = w1 & 0x3f3f3f3fu;
        uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 2) & 0x30303030u);
        uint32_t m_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 2) & 0x30303030u);
        __m256 SC = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32((int)sc_lo, (int)sc_hi, 0, 0))),
                                  _mm256_set1_ps(_cvtsh_ss(k->d)));
        __m256 MN = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32((int)m_lo, (int)m_hi, 0, 0))),
                                  _mm256_set1_ps(_cvtsh_ss(k->dmin)));
        __m512 SCz = _mm512_castps256_ps512(SC);
        __m512 S[4] = {_mm512_permutexvar_ps(i0, SCz), _mm512_permutexvar_ps(i1, SCz), _mm512_permutexvar_ps(i2, SCz),
                       _mm512_permutexvar_ps(i3, SCz)};
#pragma GCC unroll 2
        for (int t = 0; t < 2; t++)
            if (t < T) {
                const int8_t *xp = x->xp + t * x->xp_tok + 256 * (size_t)s;
                const float *dl = x->dxl + t * x->dxl_tok + 64 * (size_t)s;
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W[q], _mm512_loadu_si512(xp + 64 * q));
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(S[q], _mm512_loadu_ps(dl + 16 * q)), acc[t]);
                }
                macc[t] = _mm256_fmadd_ps(MN, _mm256_loadu_ps(x->xs32 + t * x->xs_tok + 8 * (size_t)s), macc[t]);
            }
    }
#pragma GCC unroll 2
    for (int t = 0; t < 2; t++)
        if (t < T) {
            __m256 mm = macc[t];
            __m128 h = _mm_add_ps(_mm256_castps256_ps128(mm), _mm256_extractf128_ps(mm, 1));
            h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            h = _mm_add_ss(h, _mm_movehdup_ps(h));
            y[(size_t)t * ldy] = _mm512_reduce_add_ps(acc[t]) - _mm_cvtss_f32(h);
        }
}

TGT static void q4k_row_1(const ttc_block_q4_k *b, int nsb, const q4k_x *x, float *y, int ldy) { q4k_row(b, nsb, x, 1, y, ldy); }
TGT static void q4k_row_2(const ttc_block_q4_k *b, int nsb, const q4k_x *x, float *y, int ldy) { q4k_row(b, nsb, x, 2, y, ldy); }

/* Rows [r0, r1) of a Q4_K matrix against n_tok <= 2 prepared tokens. */
static int q4k_direct_rows(const k_mm *m, int r0, int r1) {
    geom g = geom_of(m->cols);
    int nsb = m->cols / 256;
    q4k_x x = {.xp_tok = (size_t)nsb * 256, .dxl_tok = (size_t)nsb * 64, .xs_tok = (size_t)nsb * 8};
    size_t bytes = (size_t)m->n_tok * (x.xp_tok + (x.dxl_tok + x.xs_tok) * sizeof(float));
    uint8_t *buf = k_scratch(1, bytes);
    if (!buf) return TTC_ENOMEM;
    float *dxl = (float *)buf, *xs32 = dxl + m->n_tok * x.dxl_tok;
    int8_t *xp = (int8_t *)(xs32 + m->n_tok * x.xs_tok);
    static const int order[8] = {0, 2, 1, 3, 4, 6, 5, 7}; /* x-block of each 32-byte slot of a super-block */
    for (int t = 0; t < m->n_tok; t++) {
        const uint8_t *base = (const uint8_t *)m->xq + g.x_stride * t;
        const float *xs = (const float *)(base + (size_t)g.nch * 64), *xsum = xs + (size_t)g.nch * 16;
        for (int s = 0; s < nsb; s++)
            for (int i = 0; i < 8; i++) {
                int blk = 8 * s + order[i];
                memcpy(xp + t * x.xp_tok + 256 * s + 32 * i, base + 32 * blk, 32);
                for (int l = 0; l < 8; l++) dxl[t * x.dxl_tok + 64 * s + 8 * i + l] = xs[8 * blk];
                xs32[t * x.xs_tok + 8 * s + i] = xsum[2 * (8 * s + i)] + xsum[2 * (8 * s + i) + 1];
            }
    }
    x.xp = xp;
    x.dxl = dxl;
    x.xs32 = xs32;
    void (*fn)(const ttc_block_q4_k *, int, const q4k_x *, float *, int) = m->n_tok == 1 ? q4k_row_1 : q4k_row_2;
    for (int r = r0; r < r1; r++)
        fn((const ttc_block_q4_k *)(m->w + (size_t)r * m->row_bytes), nsb, &x, m->y + r, m->rows);
    return TTC_OK;
}

/* ---- Q6_K with one or two tokens: straight from the blocks -------------------
 * Each half super-block (128 weights) is two zmm in natural order: the
 * 64 bytes of ql give the low nibbles of weights 0..63 and, shifted, of
 * 64..127; the 32 bytes of qh, loaded into both 256-bit halves and shifted
 * per half (0 / 2 bits, then 4 / 6), give their top two bits. Weights and
 * x are then in the same order, so the prepared x is used as it is. With
 * sc_g the 16 signed group scales (16 weights each):
 *     y += d sc_g dx_b dot(q, xq) - 32 d sc_g xsum16_g
 * where the second term is summed over the 16 groups as one vector. */
#ifndef Q6K_DIRECT_MAX_TOK
#define Q6K_DIRECT_MAX_TOK 2 /* measured: 1.9x at 1 token, 1.6x at 2, the unpack path faster at 3 */
#endif

static inline __attribute__((always_inline)) TGT void q6k_row(const ttc_block_q6_k *b, int nsb, const geom *g,
                                                               const uint8_t *x, int T, float *y, int ldy) {
    const __m512i lo = _mm512_set1_epi8(15), m3 = _mm512_set1_epi8(3);
    const __m512i sh0 = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2), sh1 = _mm512_setr_epi64(4, 4, 4, 4, 6, 6, 6, 6);
    const __m512i i0 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const size_t so = (size_t)g->nch * 64, bo = so + (size_t)g->nch * 64;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()}, bacc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int s = 0; s < nsb; s++) {
        const ttc_block_q6_k *k = b + s;
        prefetch_ahead(k, sizeof *k);
        __m512i W[4];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i AB = _mm512_loadu_si512(k->ql + 64 * h);
            __m512i HH = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(k->qh + 32 * h)));
            __m512i h0 = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(HH, sh0), m3), 4);
            __m512i h1 = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(HH, sh1), m3), 4);
            W[2 * h] = _mm512_or_si512(_mm512_and_si512(AB, lo), h0);
            W[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(AB, 4), lo), h1);
        }
        __m512 SC = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)k->scales))),
                                  _mm512_set1_ps(_cvtsh_ss(k->d)));
        __m512 S[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) S[q] = _mm512_permutexvar_ps(_mm512_add_epi32(i0, _mm512_set1_epi32(4 * q)), SC);
#pragma GCC unroll 2
        for (int t = 0; t < 2; t++)
            if (t < T) {
                const uint8_t *xt = x + (size_t)t * g->x_stride;
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    size_t c = 4 * (size_t)s + q;
                    __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W[q], _mm512_loadu_si512(xt + 64 * c));
                    __m512 XS = _mm512_loadu_ps((const float *)(xt + so) + 16 * c);
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(S[q], XS), acc[t]);
                }
                bacc[t] = _mm512_fmadd_ps(SC, _mm512_loadu_ps((const float *)(xt + bo) + 16 * (size_t)s), bacc[t]);
            }
    }
#pragma GCC unroll 2
    for (int t = 0; t < 2; t++)
        if (t < T) y[(size_t)t * ldy] = _mm512_reduce_add_ps(_mm512_fnmadd_ps(_mm512_set1_ps(32.0f), bacc[t], acc[t]));
}

TGT static void q6k_row_1(const ttc_block_q6_k *b, int nsb, const geom *g, const uint8_t *x, float *y, int ldy) { q6k_row(b, nsb, g, x, 1, y, ldy); }
TGT static void q6k_row_2(const ttc_block_q6_k *b, int nsb, const geom *g, const uint8_t *x, float *y, int ldy) { q6k_row(b, nsb, g, x, 2, y, ldy); }

/* Rows [r0, r1) of a Q6_K matrix against n_tok <= 2 prepared tokens. */
static int q6k_direct_rows(const k_mm *m, int r0, int r1) {
    geom g = geom_of(m->cols);
    void (*fn)(const ttc_block_q6_k *, int, const geom *, const uint8_t *, float *, int) =
        m->n_tok == 1 ? q6k_row_1 : q6k_row_2;
    for (int r = r0; r < r1; r++)
        fn((const ttc_block_q6_k *)(m->w + (size_t)r * m->row_bytes), m->cols / 256, &g, m->xq, m->y + r, m->rows);
    return TTC_OK;
}

/* ---- Q4_0 with one or two tokens: straight from the blocks -------------------
 * Four blocks (128 weights) at a time: their 16-byte nibble arrays make one
 * zmm, whose low nibbles are weights 0..15 of each block and high nibbles
 * weights 16..31. x is rearranged once per call to match (xp: per group of
 * four blocks, their first halves, then their second halves), so both
 * nibble halves share each lane's scale d_b dx_b and their dot products
 * add up in int32 before one conversion. The offset of 8 is the
 * per-block term -8 d_b xs_b (xs_b = dx_b sum q_x). A last group of fewer
 * than four blocks is padded with zero weights and zero x. */
#ifndef Q40_DIRECT_MAX_TOK
#define Q40_DIRECT_MAX_TOK 2 /* measured: 1.25x at 1 token, 1.4x at 2 */
#endif

typedef struct { const int8_t *xp; const float *dx, *xs; size_t xp_tok, f_tok; } q40_x;

static inline __attribute__((always_inline)) TGT void q40_row(const ttc_block_q4_0 *b, int nb, const q40_x *x, int T,
                                                               float *y, int ldy) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    __m128 bacc[2] = {_mm_setzero_ps(), _mm_setzero_ps()};
    for (int g = 0; 4 * g < nb; g++) {
        const ttc_block_q4_0 *k = b + 4 * g;
        int have = nb - 4 * g < 4 ? nb - 4 * g : 4;
        prefetch_ahead(k, 72);
        __m128i q[4], d16;
        for (int i = 0; i < 4; i++) q[i] = i < have ? _mm_loadu_si128((const __m128i *)k[i].qs) : _mm_setzero_si128();
        if (have == 4) {
            d16 = _mm_setr_epi16((short)k[0].d, (short)k[1].d, (short)k[2].d, (short)k[3].d, 0, 0, 0, 0);
        } else { /* the last, partial group */
            uint16_t dd[8] = {0};
            for (int i = 0; i < have; i++) dd[i] = k[i].d;
            d16 = _mm_loadu_si128((const __m128i *)dd);
        }
        __m512i Z = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(q[0]), q[1], 1), q[2], 2), q[3], 3);
        __m512i lo = _mm512_and_si512(Z, m4), hi = _mm512_and_si512(_mm512_srli_epi16(Z, 4), m4);
        __m128 D = _mm_cvtph_ps(d16);
        __m512 DL = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(D));
#pragma GCC unroll 2
        for (int t = 0; t < 2; t++)
            if (t < T) {
                const int8_t *xp = x->xp + t * x->xp_tok + 128 * (size_t)g;
                __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(xp)),
                                                  hi, _mm512_loadu_si512(xp + 64));
                __m512 S = _mm512_mul_ps(DL, _mm512_loadu_ps(x->dx + t * x->f_tok + 16 * (size_t)g));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), S, acc[t]);
                bacc[t] = _mm_fmadd_ps(D, _mm_loadu_ps(x->xs + t * (x->f_tok / 4) + 4 * (size_t)g), bacc[t]);
            }
    }
#pragma GCC unroll 2
    for (int t = 0; t < 2; t++)
        if (t < T) {
            __m128 h = _mm_add_ps(bacc[t], _mm_movehl_ps(bacc[t], bacc[t]));
            h = _mm_add_ss(h, _mm_movehdup_ps(h));
            y[(size_t)t * ldy] = _mm512_reduce_add_ps(acc[t]) - 8.0f * _mm_cvtss_f32(h);
        }
}

TGT static void q40_row_1(const ttc_block_q4_0 *b, int nb, const q40_x *x, float *y, int ldy) { q40_row(b, nb, x, 1, y, ldy); }
TGT static void q40_row_2(const ttc_block_q4_0 *b, int nb, const q40_x *x, float *y, int ldy) { q40_row(b, nb, x, 2, y, ldy); }

/* Rows [r0, r1) of a Q4_0 matrix against n_tok <= 2 prepared tokens. */
static int q40_direct_rows(const k_mm *m, int r0, int r1) {
    geom g = geom_of(m->cols);
    int nb = m->cols / 32, ng = (nb + 3) / 4;
    q40_x x = {.xp_tok = (size_t)ng * 128, .f_tok = (size_t)ng * 16};
    size_t bytes = (size_t)m->n_tok * (x.xp_tok + (x.f_tok + x.f_tok / 4) * sizeof(float));
    uint8_t *buf = k_scratch(1, bytes);
    if (!buf) return TTC_ENOMEM;
    float *dx = (float *)buf, *xs = dx + m->n_tok * x.f_tok;
    int8_t *xp = (int8_t *)(xs + m->n_tok * (x.f_tok / 4));
    for (int t = 0; t < m->n_tok; t++) {
        const uint8_t *base = (const uint8_t *)m->xq + g.x_stride * t;
        const float *xsc = (const float *)(base + (size_t)g.nch * 64), *xsum = xsc + (size_t)g.nch * 16;
        int8_t *op = xp + t * x.xp_tok;
        for (int blk = 0; blk < 4 * ng; blk++) {
            int gi = blk / 4, i = blk % 4;
            bool in = blk < nb;
            for (int h = 0; h < 2; h++) {
                int8_t *o = op + 128 * gi + 64 * h + 16 * i;
                if (in) memcpy(o, base + 32 * blk + 16 * h, 16);
                else memset(o, 0, 16);
            }
            for (int l = 0; l < 4; l++) dx[t * x.f_tok + 16 * gi + 4 * i + l] = in ? xsc[8 * blk] : 0.0f;
            xs[t * (x.f_tok / 4) + blk] = in ? xsum[2 * blk] + xsum[2 * blk + 1] : 0.0f;
        }
    }
    x.xp = xp;
    x.dx = dx;
    x.xs = xs;
    void (*fn)(const ttc_block_q4_0 *, int, const q40_x *, float *, int) = m->n_tok == 1 ? q40_row_1 : q40_row_2;
    for (int r = r0; r < r1; r++)
        fn((const ttc_block_q4_0 *)(m->w + (size_t)r * m->row_bytes), nb, &x, m->y + r, m->rows);
    return TTC_OK;
}

int k_vnni_rows(const k_mm *m, int r0, int r1) {
    if (m->wtype == KT_Q8_0 && m->n_tok <= Q8_DIRECT_MAX_TOK) return q8_direct_rows(m, r0, r1);
    if (m->wtype == KT_Q4_K && m->n_tok <= Q4K_DIRECT_MAX_TOK) return q4k_direct_rows(m, r0, r1);
    if (m->wtype == KT_Q6_K && m->n_tok <= Q6K_DIRECT_MAX_TOK) return q6k_direct_rows(m, r0, r1);
    if (m->wtype == KT_Q4_0 && m->n_tok <= Q40_DIRECT_MAX_TOK) return q40_direct_rows(m, r0, r1);
    geom g = geom_of(m->cols);
    int rg = m->n_tok <= 4 ? 4 : RG;
    uint8_t *wt = k_scratch(1, g.w_stride * rg);
    if (!wt) return TTC_ENOMEM;
    for (int rb = r0; rb < r1; rb += rg) {
        int nr = r1 - rb < rg ? r1 - rb : rg;
        for (int i = 0; i < nr; i++) unpack_row(m, &g, rb + i, wt + g.w_stride * i);
        for (int t = 0; t < m->n_tok; t += 4) {
            int T = m->n_tok - t < 4 ? m->n_tok - t : 4;
            for (int i = 0; i < nr; i += 4) {
                int R = nr - i < 4 ? nr - i : 4;
                tiles[R - 1][T - 1](&g, wt + g.w_stride * i, (const uint8_t *)m->xq + g.x_stride * t,
                                    m->y + (size_t)t * m->rows + rb + i, m->rows);
            }
        }
    }
    return TTC_OK;
}

/* ---- bf16 path: many tokens ----------------------------------------------------
 * With many tokens the int8 tile's four instructions per 64 products (dot,
 * convert, scale product, FMA) are the limit. Instead each task dequantizes
 * its rows once to a bf16 panel (w = ws * wu + wb, rounded to nearest even;
 * BF16 weights are copied), x is rounded to bf16 once per call, and tiles of
 * 4 rows x 6 tokens run vdpbf16ps: one instruction per 32 products, with
 * the weight scales already folded in. K is cut into blocks of KB so a
 * tile's operands stay in L1. Error: each operand rounded to 8 significant
 * bits, |err| <= 2^-7 |w| |x| per product, similar to 8-bit activations. */

#define TGT16 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx512bf16,fma,f16c")))
#define KB 2048

static int colsp_of(int cols) { return (cols + 31) & ~31; }

bool k_bf16_applies(int path, int wtype, int n_tok) {
    if (path != TTC_KERNEL_VNNI || !ttc_kernel_has_bf16()) return false;
    if (wtype == KT_BF16) return n_tok >= 4;
    return k_vnni_handles(wtype) && n_tok >= K_BF16_MIN_TOK;
}

size_t k_bf16_xq_bytes(const k_mm *m) { return (size_t)colsp_of(m->cols) * 2 * (size_t)m->n_tok; }

TGT16 void k_bf16_prepare(k_mm *m, int t0, int t1) {
    int cols = m->cols, cp = colsp_of(cols);
    for (int t = t0; t < t1; t++) {
        const float *x = m->x + (size_t)t * cols;
        uint16_t *o = (uint16_t *)m->xq + (size_t)t * cp;
        for (int c = 0; c < cp; c += 32) {
            int n = cols - c;
            __mmask16 k0 = n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
            __mmask16 k1 = n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
            __m512 a = _mm512_maskz_loadu_ps(k0, x + c), b = _mm512_maskz_loadu_ps(k1, x + c + 16);
            _mm512_storeu_si512(o + c, (__m512i)_mm512_cvtne2ps_pbh(b, a)); /* a -> low half */
        }
    }
}

/* Row r of the weights to bf16 at dst (colsp values, zero padded); tmp is
 * scratch of one unpacked row. */
TGT16 static void row_to_bf16(const k_mm *m, const geom *g, int r, uint8_t *tmp, uint16_t *dst) {
    int cols = m->cols, cp = colsp_of(cols);
    if (m->wtype == KT_BF16) {
        memcpy(dst, m->w + (size_t)r * m->row_bytes, (size_t)cols * 2);
        memset(dst + cols, 0, (size_t)(cp - cols) * 2);
        return;
    }
    const uint8_t *src = m->w + (size_t)r * m->row_bytes;
    if (m->wtype == KT_Q8_0) { /* straight to bf16: w = d q, as the reference */
        const ttc_block_q8_0 *b = (const ttc_block_q8_0 *)src;
        for (int i = 0; i < cols / 32; i++) {
            if ((i & 1) == 0) prefetch_ahead(b + i, 64);
            __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
            __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[i].qs)));
            __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16))));
            _mm512_storeu_si512(dst + 32 * i, (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(hi, d), _mm512_mul_ps(lo, d)));
        }
        return;
    }
    if (m->wtype == KT_Q4_0) { /* w = d (q - 8); low nibbles are elements 0..15 */
        const ttc_block_q4_0 *b = (const ttc_block_q4_0 *)src;
        const __m128i m4 = _mm_set1_epi8(15);
        const __m512i eight = _mm512_set1_epi32(8);
        for (int i = 0; i < cols / 32; i++) {
            if ((i & 3) == 0) prefetch_ahead(b + i, 72);
            __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
            __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
            __m512 lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(q, m4)), eight));
            __m512 hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), m4)), eight));
            _mm512_storeu_si512(dst + 32 * i, (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(hi, d), _mm512_mul_ps(lo, d)));
        }
        return;
    }
    if (m->wtype == KT_Q4_K) { /* sub-block j of 32: w = (d sc_j) q - dmin m_j */
        const ttc_block_q4_k *b = (const ttc_block_q4_k *)src;
        const __m128i m4 = _mm_set1_epi8(15);
        for (int i = 0; i < cols / 256; i++) {
            prefetch_ahead(b + i, sizeof *b);
            float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
            for (int j = 0; j < 8; j++) {
                uint8_t sc, mn;
                ttc_q4k_scale_min(j, b[i].scales, &sc, &mn);
                __m512 s = _mm512_set1_ps(d * sc), o = _mm512_set1_ps(-(dmin * mn));
                const uint8_t *q = b[i].qs + 32 * (j / 2);
                __m128i q0 = _mm_loadu_si128((const __m128i *)q), q1 = _mm_loadu_si128((const __m128i *)(q + 16));
                if (j & 1) { q0 = _mm_srli_epi16(q0, 4); q1 = _mm_srli_epi16(q1, 4); }
                __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q0, m4)));
                __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q1, m4)));
                _mm512_storeu_si512(dst + 256 * i + 32 * j,
                                    (__m512i)_mm512_cvtne2ps_pbh(_mm512_fmadd_ps(hi, s, o), _mm512_fmadd_ps(lo, s, o)));
            }
        }
        return;
    }
    unpack_row(m, g, r, tmp);
    const uint8_t *wu = tmp;
    const float *ws = (const float *)(tmp + (size_t)g->nch * 64), *wb = ws + (size_t)g->nch * 16;
    const __m512i idx0 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int c = 0; c < cp; c += 32) {
        int ch = c / 64, g0 = (c % 64) / 16; /* chunk, first 16-group inside it */
        __m512 S = _mm512_loadu_ps(ws + 16 * ch);
        __m512 w[2];
        for (int h = 0; h < 2; h++) {
            int gi = g0 + h;
            __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(wu + 64 * ch + 16 * gi))));
            __m512 s = _mm512_permutexvar_ps(_mm512_add_epi32(idx0, _mm512_set1_epi32(4 * gi)), S);
            w[h] = _mm512_fmadd_ps(q, s, _mm512_set1_ps(wb[4 * ch + gi]));
        }
        _mm512_storeu_si512(dst + c, (__m512i)_mm512_cvtne2ps_pbh(w[1], w[0]));
    }
}

static inline __attribute__((always_inline)) TGT16 void
tile16(const uint16_t *w, const uint16_t *x, int cp, int k0, int k1, int R, int T, float *y, int ldy, bool first) {
    __m512 acc[4][6];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 6
        for (int t = 0; t < 6; t++) acc[r][t] = _mm512_setzero_ps();
    for (int k = k0; k < k1; k += 32) {
        __m512bh W[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (r < R) W[r] = (__m512bh)_mm512_loadu_si512(w + (size_t)r * cp + k);
#pragma GCC unroll 6
        for (int t = 0; t < 6; t++)
            if (t < T) {
                __m512bh X = (__m512bh)_mm512_loadu_si512(x + (size_t)t * cp + k);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    if (r < R) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], W[r], X);
            }
    }
#pragma GCC unroll 6
    for (int t = 0; t < 6; t++)
        if (t < T) {
            __m128 s = hsum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]);
            float *o = y + (size_t)t * ldy;
            __mmask8 k = (__mmask8)((1u << R) - 1);
            if (!first) s = _mm_add_ps(s, _mm_maskz_loadu_ps(k, o));
            _mm_mask_storeu_ps(o, k, s);
        }
}

#define T16_FN(R, T) \
    TGT16 static void t16_##R##_##T(const uint16_t *w, const uint16_t *x, int cp, int k0, int k1, float *y, \
                                    int ldy, bool first) { tile16(w, x, cp, k0, k1, R, T, y, ldy, first); }
#define T16_ROW(R) T16_FN(R, 1) T16_FN(R, 2) T16_FN(R, 3) T16_FN(R, 4) T16_FN(R, 5) T16_FN(R, 6)
T16_ROW(1) T16_ROW(2) T16_ROW(3) T16_ROW(4)
typedef void (*t16_fn)(const uint16_t *, const uint16_t *, int, int, int, float *, int, bool);
static const t16_fn t16[4][6] = {
    {t16_1_1, t16_1_2, t16_1_3, t16_1_4, t16_1_5, t16_1_6}, {t16_2_1, t16_2_2, t16_2_3, t16_2_4, t16_2_5, t16_2_6},
    {t16_3_1, t16_3_2, t16_3_3, t16_3_4, t16_3_5, t16_3_6}, {t16_4_1, t16_4_2, t16_4_3, t16_4_4, t16_4_5, t16_4_6}};

int k_bf16_rows(const k_mm *m, int r0, int r1) {
    geom g = geom_of(m->cols);
    int cp = colsp_of(m->cols), nr = r1 - r0;
    uint16_t *panel = k_scratch(1, (size_t)nr * cp * 2);
    uint8_t *tmp = k_scratch(2, g.w_stride);
    if (!panel || !tmp) return TTC_ENOMEM;
    for (int i = 0; i < nr; i++) row_to_bf16(m, &g, r0 + i, tmp, panel + (size_t)i * cp);
    const uint16_t *xb = m->xq;
    for (int k0 = 0; k0 < cp; k0 += KB) {
        int k1 = cp - k0 < KB ? cp : k0 + KB;
        for (int i = 0; i < nr; i += 4) {
            int R = nr - i < 4 ? nr - i : 4;
            for (int t = 0; t < m->n_tok; t += 6) {
                int T = m->n_tok - t < 6 ? m->n_tok - t : 6;
                t16[R - 1][T - 1](panel + (size_t)i * cp, xb + (size_t)t * cp, cp, k0, k1,
                                  m->y + (size_t)t * m->rows + r0 + i, m->rows, k0 == 0);
            }
        }
    }
    return TTC_OK;
}
