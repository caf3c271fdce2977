/* Compute kernels: weight x activation products for every GGUF weight type,
 * a general f32 GEMM for the trainer, and runtime selection of the SIMD path.
 *
 * Weight types are GGUF/ggml type ids (the `type` field of a GGUF tensor
 * info): 0 F32, 1 F16, 2 Q4_0, 8 Q8_0, 12 Q4_K, 14 Q6_K, 30 BF16. A weight
 * matrix is row-major [rows][cols] (GGUF ne[0] = cols), each row stored as
 * cols / block_size consecutive blocks in the ggml layout.
 *
 * Every kernel exists as plain C (the reference, and the test oracle) and in
 * SIMD variants chosen at run time from the CPU's features; TTC_KERNEL=
 * ref|avx2|avx512|vnni in the environment (or ttc_kernel_set) forces one. */
#ifndef TTC_KERNELS_H
#define TTC_KERNELS_H
#include <stdbool.h>
#include <stddef.h>
#include "ttc.h"
#include "base/pool.h"

/* ---- CPU dispatch -------------------------------------------------------- */

enum ttc_kernel_path {
    TTC_KERNEL_REF = 0,     /* portable C */
    TTC_KERNEL_AVX2,        /* AVX2 + FMA + F16C */
    TTC_KERNEL_AVX512,      /* AVX-512 F/BW/VL/DQ */
    TTC_KERNEL_VNNI,        /* AVX-512 + VNNI (+ BF16 when present) */
    TTC_KERNEL_N_PATHS
};

/* The path in use: TTC_KERNEL from the environment if set and supported,
 * else the best one this CPU supports. Decided once, on first use. */
int ttc_kernel_get(void);
/* True if this CPU can run `path`. */
bool ttc_kernel_supported(int path);
/* Forces `path` for all later calls (tests, benchmarks); not thread-safe
 * against kernels running concurrently. TTC_EUNSUPPORTED if the CPU lacks
 * it. */
int ttc_kernel_set(int path, ttc_err *e);
/* "ref", "avx2", "avx512", "vnni"; "?" for anything else. */
const char *ttc_kernel_name(int path);
/* Parses a path name; -1 if unknown. */
int ttc_kernel_parse(const char *name);

/* ---- Weight x activation ------------------------------------------------- */

/* Block size (elements) and bytes per block of a weight type; 0 if the type
 * is not supported by ttc_matmul. */
int    ttc_matmul_block(int wtype);
size_t ttc_matmul_block_bytes(int wtype);

/* Checks that (wtype, rows, cols) is something ttc_matmul can compute:
 * a supported type, rows >= 1, cols >= 1 and a multiple of the block size.
 * TTC_EUNSUPPORTED / TTC_EINVAL with a message naming the type and sizes. */
int ttc_matmul_check(int wtype, int rows, int cols, ttc_err *e);

/* y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tok, r < rows.
 * w: rows x cols weights of type wtype; x: [n_tok][cols] f32; y: [n_tok][rows]
 * f32 (must not alias x). Rows are split across the pool's threads (NULL
 * pool: caller's thread) in tasks of whole 16-row groups.
 * Arithmetic by path: ref and the float paths compute in f32 from the
 * dequantized weights. On the VNNI path quantized weights use 8-bit
 * activation blocks of 32 (dx = amax/127) and exact integer dot products
 * when n_tok < 24, and bf16-rounded weights and activations with f32
 * accumulation (vdpbf16ps) from 24 tokens on, when the CPU has AVX512-BF16
 * (BF16 weights from 4 tokens on); either way |err| <= |w|.|x| / 127.
 * Results do not depend on the thread count.
 * Returns TTC_OK; TTC_EINVAL/TTC_EUNSUPPORTED (see ttc_matmul_check; y
 * untouched), or TTC_ENOMEM if scratch memory cannot grow (y undefined).
 * Scratch memory is per thread and grow-only: no allocation in steady state. */
int ttc_matmul(ttc_pool *pool, const void *w, int wtype, int rows, int cols,
               const float *x, int n_tok, float *y);

/* One product of a ttc_matmul_n batch: rows x cols weights w of wtype into
 * y [n_tok][rows]. */
typedef struct ttc_mm_op {
    const void *w;
    int wtype, rows;
    float *y;
} ttc_mm_op;

/* ops[0..n) (1 <= n <= 8, every weight with `cols` columns) against the same
 * x, as ttc_matmul each (same results), but x is prepared once and all
 * their row tasks go to the pool in one run: one synchronisation instead of
 * n, and no thread idles between them (q, k, v; gate and up). The y must not
 * alias x or each other. Errors as ttc_matmul (TTC_EINVAL for n outside
 * 1..8). */
int ttc_matmul_n(ttc_pool *pool, const ttc_mm_op *ops, int n, int cols, const float *x, int n_tok);

/* ---- f32 GEMM ------------------------------------------------------------ */

/* C = alpha * op(A) * op(B) + beta * C, all row-major.
 * op(A) is M x K: A[i*lda + k], or A[k*lda + i] when trans_a.
 * op(B) is K x N: B[k*ldb + j], or B[j*ldb + k] when trans_b.
 * C is M x N: C[i*ldc + j]. beta == 0 overwrites C (NaNs in C ignored).
 * Threaded over the pool; M, N, K >= 0 (K == 0 scales C by beta).
 * Leading dimensions must be >= the row length they index. */
void ttc_sgemm(ttc_pool *pool, bool trans_a, bool trans_b, int M, int N, int K,
               float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);
#endif
