/* Float path of ttc_matmul: F32/F16/BF16 weights on every SIMD path, and
 * quantized weights on CPUs without VNNI.
 *
 *  - n_tok >= GEMM_MIN_TOK (prefill): the task's rows are dequantized to an
 *    f32 panel (F32 weights are used in place) and multiplied with the
 *    packed AVX-512 GEMM: y[:, r0:r1] = x . panel^T.
 *  - fewer tokens (decode): streaming dot products, 2 rows x 4 tokens per
 *    pass so each weight cache line is read once per 4 tokens and 8 FMA
 *    chains hide the latency; F16 converts with vcvtph2ps, BF16 by a shift.
 * The AVX2 path is the same with 8-wide vectors, one row at a time, and
 * the 6 x 16 AVX2 GEMM; quantized weights are dequantized in plain C first
 * (no int8 dot products without AVX-512 VNNI). */
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

static inline __attribute__((always_inline)) TGT void
dots(int type, const void *w0, const void *w1, int R, const float *x, int ldx, int T, int cols,
     float *y, int ldy) {
    __m512 acc[2][4];
#pragma GCC unroll 2
    for (int r = 0; r < 2; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_ps();
    const int es = type == KT_F32 ? 4 : 2;
    for (int c = 0; c < cols; c += 16) {
        __mmask16 k = cols - c >= 16 ? 0xffff : (__mmask16)((1u << (cols - c)) - 1);
        /* weights stream from memory: prefetch 4 KB ahead (see matmul_vnni.c) */
        _mm_prefetch((const char *)w0 + (size_t)c * es + 4096, _MM_HINT_T0);
        if (R > 1) _mm_prefetch((const char *)w1 + (size_t)c * es + 4096, _MM_HINT_T0);
        __m512 a0 = load_w(type, w0, c, k), a1 = R > 1 ? load_w(type, w1, c, k) : a0;
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            if (t < T) {
                __m512 xv = _mm512_maskz_loadu_ps(k, x + (size_t)t * ldx + c);
                acc[0][t] = _mm512_fmadd_ps(a0, xv, acc[0][t]);
                if (R > 1) acc[1][t] = _mm512_fmadd_ps(a1, xv, acc[1][t]);
            }
    }
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
        if (t < T) {
            y[(size_t)t * ldy] = _mm512_reduce_add_ps(acc[0][t]);
            if (R > 1) y[(size_t)t * ldy + 1] = _mm512_reduce_add_ps(acc[1][t]);
        }
}

#define DOTS_FN(TY, NAME) \
    TGT static void NAME(const void *w0, const void *w1, int R, const float *x, int ldx, int T, int cols, \
                         float *y, int ldy) { dots(TY, w0, w1, R, x, ldx, T, cols, y, ldy); }
DOTS_FN(KT_F32, dots_f32) DOTS_FN(KT_F16, dots_f16) DOTS_FN(KT_BF16, dots_bf16)

/* F16/BF16 row to f32. */
TGT static void convert_row(int type, const void *src, int n, float *dst) {
    int c = 0;
    for (; c < n; c += 16) {
        __mmask16 k = n - c >= 16 ? 0xffff : (__mmask16)((1u << (n - c)) - 1);
        _mm512_mask_storeu_ps(dst + c, k, load_w(type, src, c, k));
    }
}

static int rows_avx512(const k_mm *m, int r0, int r1) {
    int nr = r1 - r0, cols = m->cols;
    bool is_float = m->wtype == KT_F32 || m->wtype == KT_F16 || m->wtype == KT_BF16;
    if (m->n_tok >= GEMM_MIN_TOK) {
        const float *panel = (const float *)(m->w + (size_t)r0 * m->row_bytes);
        if (m->wtype != KT_F32) {
            float *p = k_scratch(1, sizeof(float) * (size_t)nr * cols);
            if (!p) return TTC_ENOMEM;
            for (int r = 0; r < nr; r++) {
                const void *src = m->w + (size_t)(r0 + r) * m->row_bytes;
                if (is_float) convert_row(m->wtype, src, cols, p + (size_t)r * cols);
                else k_dequant_row_ref(m->wtype, src, cols, p + (size_t)r * cols);
            }
            panel = p;
        }
        k_sgemm_avx512(false, true, m->n_tok, nr, cols, 1.0f, m->x, cols, panel, cols, 0.0f,
                       m->y + r0, m->rows, 0, m->n_tok, 0, nr);
        return TTC_OK;
    }
    float *deq = NULL;
    if (!is_float && !(deq = k_scratch(1, sizeof(float) * 2 * (size_t)cols))) return TTC_ENOMEM;
    int type = is_float ? m->wtype : KT_F32;
    void (*fn)(const void *, const void *, int, const float *, int, int, int, float *, int) =
        type == KT_F32 ? dots_f32 : type == KT_F16 ? dots_f16 : dots_bf16;
    for (int r = r0; r < r1; r += 2) {
        int R = r1 - r >= 2 ? 2 : 1;
        const void *w0 = m->w + (size_t)r * m->row_bytes, *w1 = R > 1 ? m->w + (size_t)(r + 1) * m->row_bytes : w0;
        if (deq) {
            k_dequant_row_ref(m->wtype, w0, cols, deq);
            if (R > 1) k_dequant_row_ref(m->wtype, w1, cols, deq + cols);
            w0 = deq;
            w1 = deq + cols;
        }
        for (int t = 0; t < m->n_tok; t += 4)
            fn(w0, w1, R, m->x + (size_t)t * cols, cols, m->n_tok - t < 4 ? m->n_tok - t : 4, cols,
               m->y + (size_t)t * m->rows + r, m->rows);
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
