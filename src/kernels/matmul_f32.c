/* Float path of ttc_matmul: F32/F16/BF16 weights on every SIMD path, and
 * quantized weights on CPUs without VNNI.
 *
 *  - n_tok >= GEMM_MIN_TOK (prefill): the task's rows are dequantized to an
 *    f32 panel (F32 weights are used in place) and multiplied with the
 *    packed AVX-512 GEMM: y[:, r0:r1] = x . panel^T.
 *  - fewer tokens (decode): streaming dot products, 2 rows x 4 tokens per
 *    pass so each weight cache line is read once per 4 tokens and 8 FMA
 *    chains hide the latency; F16 converts with vcvtph2ps, BF16 by a shift.
 * The AVX2 path uses the plain C dot products (kept simple: this machine
 * class has AVX-512). */
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
    for (int c = 0; c < cols; c += 16) {
        __mmask16 k = cols - c >= 16 ? 0xffff : (__mmask16)((1u << (cols - c)) - 1);
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

/* Plain C dot products over dequantized rows (the AVX2 path for now). */
static int rows_plain(const k_mm *m, int r0, int r1) {
    float *wrow = k_scratch(1, (size_t)m->cols * sizeof(float));
    if (!wrow) return TTC_ENOMEM;
    for (int r = r0; r < r1; r++) {
        k_dequant_row_ref(m->wtype, m->w + (size_t)r * m->row_bytes, m->cols, wrow);
        for (int t = 0; t < m->n_tok; t++) {
            const float *x = m->x + (size_t)t * m->cols;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int c = 0;
            for (; c + 4 <= m->cols; c += 4) {
                s0 += wrow[c] * x[c]; s1 += wrow[c + 1] * x[c + 1];
                s2 += wrow[c + 2] * x[c + 2]; s3 += wrow[c + 3] * x[c + 3];
            }
            for (; c < m->cols; c++) s0 += wrow[c] * x[c];
            m->y[(size_t)t * m->rows + r] = (s0 + s1) + (s2 + s3);
        }
    }
    return TTC_OK;
}

int k_f32_rows(const k_mm *m, int r0, int r1) {
    return m->path >= TTC_KERNEL_AVX512 ? rows_avx512(m, r0, r1) : rows_plain(m, r0, r1);
}
