/* Internal to src/kernels: ggml block layouts, half-precision conversion,
 * per-thread scratch and the per-path kernel entry points. */
#ifndef TTC_KIMPL_H
#define TTC_KIMPL_H
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "kernels/quant.h"

/* ggml type ids handled by ttc_matmul. */
enum { KT_F32 = 0, KT_F16 = 1, KT_Q4_0 = 2, KT_Q8_0 = 8, KT_Q4_K = 12, KT_Q6_K = 14, KT_BF16 = 30 };

/* Block layouts and fp16/bf16 conversion come from quant.h (ttc_block_*,
 * ttc_fp16_to_f32, ttc_bf16_to_f32, ttc_q4k_scale_min). */

/* Per-thread grow-only scratch: slot 0..K_SCRATCH_SLOTS-1, 64-byte aligned,
 * contents undefined; NULL if it cannot grow. Freed at thread exit. */
#define K_SCRATCH_SLOTS 4
void *k_scratch(int slot, size_t bytes);

/* Dequantizes one weight row of n elements (n a multiple of the block size)
 * to f32: plain C, the reference for every path. */
void k_dequant_row_ref(int wtype, const void *row, int n, float *out);

bool ttc_kernel_has_bf16(void);

/* One ttc_matmul call, as seen by the per-path kernels. */
typedef struct k_mm {
    const uint8_t *w;
    int wtype, rows, cols, n_tok;
    size_t row_bytes;
    const float *x;
    float *y;
    void *xq;        /* activations prepared by the path (quantized / converted) */
    int path;
} k_mm;

/* VNNI int8 path (matmul_vnni.c): prepare x once, then rows [r0, r1). */
size_t k_vnni_xq_bytes(const k_mm *m);
void k_vnni_prepare(k_mm *m, int t0, int t1);
int  k_vnni_rows(const k_mm *m, int r0, int r1);
bool k_vnni_handles(int wtype);

/* bf16 path (matmul_vnni.c): quantized / BF16 weights with many tokens on
 * CPUs with AVX512-BF16; k_bf16_applies says when ttc_matmul takes it. */
#ifndef K_BF16_MIN_TOK
#define K_BF16_MIN_TOK 24
#endif
bool   k_bf16_applies(int path, int wtype, int n_tok);
size_t k_bf16_xq_bytes(const k_mm *m);
void   k_bf16_prepare(k_mm *m, int t0, int t1);
int    k_bf16_rows(const k_mm *m, int r0, int r1);

/* Float path (matmul_f32.c): rows [r0, r1) via dequantize-to-f32 + FMA.
 * path selects AVX2 or AVX-512 code. */
int  k_f32_rows(const k_mm *m, int r0, int r1);

/* Blocked GEMM on the C tile [i0,i1) x [j0,j1) (gemm_avx512.c / gemm_avx2.c);
 * same arguments and contract as ttc_sgemm otherwise. */
void k_sgemm_avx2(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc, int i0, int i1, int j0, int j1);
void k_sgemm_avx512(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc, int i0, int i1, int j0, int j1);
#endif
