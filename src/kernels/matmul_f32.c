/* Float path of ttc_matmul: F32/F16/BF16 weights on every SIMD path, and
 * quantized weights on CPUs without VNNI.
 *
 * AVX-512, 1 to GEMV_MAX_TOK tokens: a GEMV that streams the rows in
 * address order (see rows_gemv). More tokens: tiles of 4 rows x 6 tokens with 24 f32 accumulators; weights are
 * read straight from the (mmap'd) matrix and converted in registers (F16
 * with vcvtph2ps, BF16 by a shift), each weight vector serving 6 tokens and
 * each x vector 4 rows; columns go in blocks of KBF so a tile's operands
 * stay in L1, partial sums accumulating into y. Quantized weights (no VNNI)
 * are dequantized to an f32 panel first.
 * AVX2: one row at a time against up to 4 tokens with 8-wide vectors, and
 * the 6 x 16 AVX2 GEMM for GEMM_MIN_TOK tokens or more. */
#include "kernels/kimpl.h"
#include "kernels/kernels.h"
#include "ttc.h"

#include <immintrin.h>

#define GEMM_MIN_TOK 8
#define TGT __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma,f16c")))

/* 16 weights of row p (type F32/F16/BF16) starting at column c; mask for tails. */
static inline __attribute__((always_inline)) TGT __m512 load_w(int type, const void *p, int c, __mmask16 k) {
    if (type == KT_F32) return _mm512_maskz_loadu_ps(k, (const float *)p + c);
    __m256i h = _mm256_maskz_loadu_epi16(k, (const uint16_t *)p + c);
    if (type == KT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The four horizontal sums of a, b, c, d as {sum a, sum b, sum c, sum d}. */
static inline __attribute__((always_inline)) TGT __m128 hsum4f(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512 abcd = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))),
                                _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm512_extractf32x8_ps(abcd, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* Tile of R <= 4 rows x T <= 6 tokens over columns [k0, k1): 24 zmm
 * accumulators, each weight vector (converted once) used for 6 tokens and
 * each x vector for 4 rows; y[t][r] = (first ? 0 : y[t][r]) + partial sum. */
static inline __attribute__((always_inline)) TGT void
tile_f(int type, const uint8_t *w, size_t wstride, const float *x, int ldx, int k0, int k1, int R, int T,
       float *y, int ldy, bool first) {
    __m512 acc[4][6];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 6
        for (int t = 0; t < 6; t++) acc[r][t] = _mm512_setzero_ps();
    const int es = type == KT_F32 ? 4 : 2;
    for (int c = k0; c < k1; c += 16) {
        __mmask16 k = k1 - c >= 16 ? 0xffff : (__mmask16)((1u << (k1 - c)) - 1);
        __m512 W[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (r < R) {
                const uint8_t *wr = w + r * wstride;
                /* weights stream from memory: prefetch 4 KB ahead (see matmul_vnni.c) */
                _mm_prefetch((const char *)wr + (size_t)c * es + 4096, _MM_HINT_T0);
                W[r] = load_w(type, wr, c, k);
            }
#pragma GCC unroll 6
        for (int t = 0; t < 6; t++)
            if (t < T) {
                __m512 X = _mm512_maskz_loadu_ps(k, x + (size_t)t * ldx + c);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    if (r < R) acc[r][t] = _mm512_fmadd_ps(W[r], X, acc[r][t]);
            }
    }
#pragma GCC unroll 6
    for (int t = 0; t < 6; t++)
        if (t < T) {
            __m128 s = hsum4f(acc[0][t], acc[1][t], acc[2][t], acc[3][t]);
            float *o = y + (size_t)t * ldy;
            __mmask8 km = (__mmask8)((1u << R) - 1);
            if (!first) s = _mm_add_ps(s, _mm_maskz_loadu_ps(km, o));
            _mm_mask_storeu_ps(o, km, s);
        }
}

typedef void (*tile_f_fn)(const uint8_t *, size_t, const float *, int, int, int, float *, int, bool);
#define TF_FN(TY, NAME, R, T) \
    TGT static void NAME##_##R##_##T(const uint8_t *w, size_t ws, const float *x, int ldx, int k0, int k1, \
                                     float *y, int ldy, bool first) { \
        tile_f(TY, w, ws, x, ldx, k0, k1, R, T, y, ldy, first); }
#define TF_ROW(TY, NAME, R) TF_FN(TY, NAME, R, 1) TF_FN(TY, NAME, R, 2) TF_FN(TY, NAME, R, 3) \
    TF_FN(TY, NAME, R, 4) TF_FN(TY, NAME, R, 5) TF_FN(TY, NAME, R, 6)
#define TF_TYPE(TY, NAME) TF_ROW(TY, NAME, 1) TF_ROW(TY, NAME, 2) TF_ROW(TY, NAME, 3) TF_ROW(TY, NAME, 4) \
    static const tile_f_fn NAME[4][6] = { \
        {NAME##_1_1, NAME##_1_2, NAME##_1_3, NAME##_1_4, NAME##_1_5, NAME##_1_6}, \
        {NAME##_2_1, NAME##_2_2, NAME##_2_3, NAME##_2_4, NAME##_2_5, NAME##_2_6}, \
        {NAME##_3_1, NAME##_3_2, NAME##_3_3, NAME##_3_4, NAME##_3_5, NAME##_3_6}, \
        {NAME##_4_1, NAME##_4_2, NAME##_4_3, NAME##_4_4, NAME##_4_5, NAME##_4_6}};
TF_TYPE(KT_F32, tiles_f32)
TF_TYPE(KT_F16, tiles_f16)
TF_TYPE(KT_BF16, tiles_bf16)

/* ---- AVX-512 GEMV: one to four tokens ---------------------------------------
 * With few tokens the product is a stream over the weights at one or two
 * FMAs per weight vector: memory bandwidth is the limit. The task's rows are
 * contiguous, so they are read strictly in address order one row at a time
 * (whole K: x of up to 4 tokens stays in L1/L2), 64 columns per step, with
 * one software prefetch per cache line GEMV_PF bytes ahead in that linear
 * stream (past a row's end it fetches the next row). T = 1 keeps 4
 * independent accumulators per row, T >= 2 two per token. */
#define GEMV_MAX_TOK 4
#ifndef GEMV_PF
#define GEMV_PF 2048
#endif

static inline __attribute__((always_inline)) TGT void
gemv_row(int type, const uint8_t *wr, const float *x, int ldx, int cols, int T, float *y, int ldy) {
    const int es = type == KT_F32 ? 4 : 2;
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[t][j] = _mm512_setzero_ps();
    int c = 0;
    for (; c + 64 <= cols; c += 64) {
        const char *pf = (const char *)wr + (size_t)c * es + GEMV_PF;
        _mm_prefetch(pf, _MM_HINT_T0);
        _mm_prefetch(pf + 64, _MM_HINT_T0);
        if (es == 4) {
            _mm_prefetch(pf + 128, _MM_HINT_T0);
            _mm_prefetch(pf + 192, _MM_HINT_T0);
        }
        __m512 W[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) W[j] = load_w(type, wr, c + 16 * j, 0xffff);
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            if (t < T) {
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    acc[t][T == 1 ? j : j & 1] = _mm512_fmadd_ps(W[j], _mm512_loadu_ps(x + (size_t)t * ldx + c + 16 * j),
                                                              acc[t][T == 1 ? j : j & 1]);
            }
    }
    for (; c < cols; c += 16) {
        __mmask16 k = cols - c >= 16 ? 0xffff : (__mmask16)((1u << (cols - c)) - 1);
        __m512 W = load_w(type, wr, c, k);
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            if (t < T) acc[t][0] = _mm512_fmadd_ps(W, _mm512_maskz_loadu_ps(k, x + (size_t)t * ldx + c), acc[t][0]);
    }
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
        if (t < T)
            y[(size_t)t * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]),
                                                                    _mm512_add_ps(acc[t][2], acc[t][3])));
}

typedef void (*gemv_fn)(const uint8_t *, const float *, int, int, float *, int);
#define GV_FN(TY, NAME, T) \
    TGT static void NAME##_##T(const uint8_t *w, const float *x, int ldx, int cols, float *y, int ldy) { \
        gemv_row(TY, w, x, ldx, cols, T, y, ldy); }
#define GV_TYPE(TY, NAME) GV_FN(TY, NAME, 1) GV_FN(TY, NAME, 2) GV_FN(TY, NAME, 3) GV_FN(TY, NAME, 4) \
    static const gemv_fn NAME[4] = {NAME##_1, NAME##_2, NAME##_3, NAME##_4};
GV_TYPE(KT_F32, gemv_f32)
GV_TYPE(KT_F16, gemv_f16)
GV_TYPE(KT_BF16, gemv_bf16)

/* Rows [r0, r1) of a F32/F16/BF16 matrix against n_tok <= 4 tokens. */
static void rows_gemv(const k_mm *m, int r0, int r1) {
    const gemv_fn *fns = m->wtype == KT_F32 ? gemv_f32 : m->wtype == KT_F16 ? gemv_f16 : gemv_bf16;
    gemv_fn fn = fns[m->n_tok - 1];
    for (int r = r0; r < r1; r++)
        fn(m->w + (size_t)r * m->row_bytes, m->x, m->cols, m->cols, m->y + r, m->rows);
}

#define KBF 1024 /* columns per K block: 4 weight rows + 6 x rows stay in L1 */

static int rows_avx512(const k_mm *m, int r0, int r1) {
    int nr = r1 - r0, cols = m->cols;
    bool is_float = m->wtype == KT_F32 || m->wtype == KT_F16 || m->wtype == KT_BF16;
    const uint8_t *w = m->w + (size_t)r0 * m->row_bytes;
    size_t ws = m->row_bytes;
    int type = m->wtype;
    if (is_float && m->n_tok <= GEMV_MAX_TOK) {
        rows_gemv(m, r0, r1);
        return TTC_OK;
    }
    if (!is_float) { /* no VNNI: dequantize the task's rows to f32 first */
        float *p = k_scratch(1, sizeof(float) * (size_t)nr * cols);
        if (!p) return TTC_ENOMEM;
        for (int r = 0; r < nr; r++)
            k_dequant_row_ref(m->wtype, m->w + (size_t)(r0 + r) * m->row_bytes, cols, p + (size_t)r * cols);
        w = (const uint8_t *)p;
        ws = sizeof(float) * (size_t)cols;
        type = KT_F32;
    }
    const tile_f_fn (*tiles)[6] = type == KT_F32 ? tiles_f32 : type == KT_F16 ? tiles_f16 : tiles_bf16;
    for (int k0 = 0; k0 < cols; k0 += KBF) {
        int k1 = cols - k0 < KBF ? cols : k0 + KBF;
        /* the x tile (6 tokens x KBF) stays in L1 while the task's weight
         * rows stream past it from L2 */
        for (int t = 0; t < m->n_tok; t += 6) {
            int T = m->n_tok - t < 6 ? m->n_tok - t : 6;
            for (int i = 0; i < nr; i += 4) {
                int R = nr - i < 4 ? nr - i : 4;
                tiles[R - 1][T - 1](w + (size_t)i * ws, ws, m->x + (size_t)t * cols, cols, k0, k1,
                                    m->y + (size_t)t * m->rows + r0 + i, m->rows, k0 == 0);
            }
        }
    }
    return TTC_OK;
}

/* ---- AVX2 + FMA + F16C ------------------------------------------------------ */

#define TGT2 __attribute__((target("avx2,fma,f16c")))

/* 8 weights of a F32/F16/BF16 row at column c (c + 8 <= cols). */
static inline __attribute__((always_inline)) TGT2 __m256 load_w8(int type, const void *p, int c) {
    if (type == KT_F32) return _mm256_loadu_ps((const float *)p + c);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + c));
    if (type == KT_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline float w_at(int type, const void *p, int c) {
    if (type == KT_F32) return ((const float *)p)[c];
    uint16_t h = ((const uint16_t *)p)[c];
    return type == KT_F16 ? ttc_fp16_to_f32(h) : ttc_bf16_to_f32(h);
}

/* y[t] = row . x[t] for t < T (T <= 4): 2 x 4 accumulators. */
static inline __attribute__((always_inline)) TGT2 void
dots8(int type, const void *w, const float *x, int ldx, int T, int cols, float *y, int ldy) {
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    int c = 0;
    for (; c + 16 <= cols; c += 16) {
        __m256 a0 = load_w8(type, w, c), a1 = load_w8(type, w, c + 8);
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            if (t < T) {
                acc[t][0] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(x + (size_t)t * ldx + c), acc[t][0]);
                acc[t][1] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(x + (size_t)t * ldx + c + 8), acc[t][1]);
            }
    }
    for (int t = 0; t < T; t++) {
        float v[8];
        _mm256_storeu_ps(v, _mm256_add_ps(acc[t][0], acc[t][1]));
        float s = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
        for (int k = c; k < cols; k++) s += w_at(type, w, k) * x[(size_t)t * ldx + k];
        y[(size_t)t * ldy] = s;
    }
}

#define DOTS8_FN(TY, NAME) \
    TGT2 static void NAME(const void *w, const float *x, int ldx, int T, int cols, float *y, int ldy) { \
        dots8(TY, w, x, ldx, T, cols, y, ldy); }
DOTS8_FN(KT_F32, dots8_f32) DOTS8_FN(KT_F16, dots8_f16) DOTS8_FN(KT_BF16, dots8_bf16)

static int rows_avx2(const k_mm *m, int r0, int r1) {
    int nr = r1 - r0, cols = m->cols;
    bool is_float = m->wtype == KT_F32 || m->wtype == KT_F16 || m->wtype == KT_BF16;
    if (m->n_tok >= GEMM_MIN_TOK) {
        const float *panel = (const float *)(m->w + (size_t)r0 * m->row_bytes);
        if (m->wtype != KT_F32) {
            float *p = k_scratch(1, sizeof(float) * (size_t)nr * cols);
            if (!p) return TTC_ENOMEM;
            for (int r = 0; r < nr; r++)
                k_dequant_row_ref(m->wtype, m->w + (size_t)(r0 + r) * m->row_bytes, cols, p + (size_t)r * cols);
            panel = p;
        }
        k_sgemm_avx2(false, true, m->n_tok, nr, cols, 1.0f, m->x, cols, panel, cols, 0.0f,
                     m->y + r0, m->rows, 0, m->n_tok, 0, nr);
        return TTC_OK;
    }
    float *deq = NULL;
    if (!is_float && !(deq = k_scratch(1, sizeof(float) * (size_t)cols))) return TTC_ENOMEM;
    int type = is_float ? m->wtype : KT_F32;
    void (*fn)(const void *, const float *, int, int, int, float *, int) =
        type == KT_F32 ? dots8_f32 : type == KT_F16 ? dots8_f16 : dots8_bf16;
    for (int r = r0; r < r1; r++) {
        const void *w = m->w + (size_t)r * m->row_bytes;
        if (deq) {
            k_dequant_row_ref(m->wtype, w, cols, deq);
            w = deq;
        }
        for (int t = 0; t < m->n_tok; t += 4)
            fn(w, m->x + (size_t)t * cols, cols, m->n_tok - t < 4 ? m->n_tok - t : 4, cols,
               m->y + (size_t)t * m->rows + r, m->rows);
    }
    return TTC_OK;
}

int k_f32_rows(const k_mm *m, int r0, int r1) {
    return m->path >= TTC_KERNEL_AVX512 ? rows_avx512(m, r0, r1) : rows_avx2(m, r0, r1);
}
