/* Kernels: every dispatch path this CPU supports against a double-precision
 * oracle built from the GGUF engineer's independent dequantizer
 * (ttc_dequantize_row), for every weight type, odd sizes and token counts;
 * f32 GEMM in all transpose modes with odd sizes and leading dimensions. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/rng.h"
#include "kernels/kernels.h"
#include "kernels/kimpl.h"
#include "kernels/quant.h"

static const int types[] = {TTC_TYPE_F32, TTC_TYPE_F16, TTC_TYPE_BF16, TTC_TYPE_Q8_0,
                            TTC_TYPE_Q4_0, TTC_TYPE_Q4_K, TTC_TYPE_Q6_K};

/* Random weight rows: float types from normals; quantized types from random
 * bytes (every bit pattern of the packed fields) with the fp16 scales set to
 * finite values of either sign. */
static void *random_weights(int type, int rows, int cols, ttc_rng *r) {
    size_t rb = ttc_type_row_bytes(type, cols), n = rb * rows;
    uint8_t *w = malloc(n);
    for (size_t i = 0; i < n; i++) w[i] = (uint8_t)ttc_rng_u64(r);
    int nb = cols / (int)ttc_type_block_size(type);
    for (int i = 0; i < rows * (type <= TTC_TYPE_F16 || type == TTC_TYPE_BF16 ? cols : nb); i++) {
        uint16_t h1 = ttc_f32_to_fp16(0.1f * ttc_rng_normal(r)), h2 = ttc_f32_to_fp16(0.01f * ttc_rng_normal(r));
        switch (type) {
        case TTC_TYPE_F32: ((float *)w)[i] = ttc_rng_normal(r); break;
        case TTC_TYPE_F16: ((uint16_t *)w)[i] = ttc_f32_to_fp16(ttc_rng_normal(r)); break;
        case TTC_TYPE_BF16: ((uint16_t *)w)[i] = ttc_f32_to_bf16(ttc_rng_normal(r)); break;
        case TTC_TYPE_Q8_0: ((ttc_block_q8_0 *)w)[i].d = h1; break;
        case TTC_TYPE_Q4_0: ((ttc_block_q4_0 *)w)[i].d = h1; break;
        case TTC_TYPE_Q4_K: ((ttc_block_q4_k *)w)[i].d = h1; ((ttc_block_q4_k *)w)[i].dmin = h2; break;
        case TTC_TYPE_Q6_K: ((ttc_block_q6_k *)w)[i].d = ttc_f32_to_fp16(0.01f * ttc_rng_normal(r)); break;
        }
    }
    return w;
}

/* Activations with an outlier or two, like real hidden states. */
static float *random_x(int n_tok, int cols, ttc_rng *r) {
    float *x = malloc(sizeof(float) * n_tok * cols);
    for (int i = 0; i < n_tok * cols; i++) {
        x[i] = ttc_rng_normal(r);
        if (ttc_rng_below(r, 97) == 0) x[i] *= 20;
    }
    return x;
}

/* Checks y against the oracle; the allowed error per output is the error
 * of 8-bit activation blocks (|w| . amax_block / 127) plus f32 rounding. */
static void check_matmul(int type, int rows, int cols, int n_tok, const void *w, const float *x,
                         const float *y, const char *what) {
    float *wf = malloc(sizeof(float) * cols);
    int path = ttc_kernel_parse(what);
    if (k_bf16_applies(path, type, n_tok)) {
        /* the bf16 path must equal exact arithmetic on bf16-rounded weights
         * and activations, up to f32 rounding (and a rare 1-ulp difference
         * in the f32 weight before its rounding to bf16) */
        size_t rb = ttc_type_row_bytes(type, cols);
        for (int r = 0; r < rows; r++) {
            ttc_dequantize_row(type, (const uint8_t *)w + rb * r, wf, cols, NULL);
            for (int t = 0; t < n_tok; t++) {
                double s = 0, mag = 0, big = 0;
                for (int c = 0; c < cols; c++) {
                    double p = (double)ttc_bf16_to_f32(ttc_f32_to_bf16(wf[c])) *
                               ttc_bf16_to_f32(ttc_f32_to_bf16(x[(size_t)t * cols + c]));
                    s += p;
                    mag += fabs(p);
                    big = fmax(big, fabs(p));
                }
                double got = y[(size_t)t * rows + r], tol = 2e-5 * mag + big / 64 + 1e-6;
                cr_assert(fabs(got - s) <= tol, "bf16 emulation: %s %dx%d n_tok=%d: y[%d][%d] = %.7g, want %.7g",
                          ttc_type_name(type), rows, cols, n_tok, t, r, got, s);
            }
        }
    } else if (strcmp(what, "vnni") == 0 && type != TTC_TYPE_F32 && type != TTC_TYPE_F16 && type != TTC_TYPE_BF16) {
        /* the int8 path must equal exact arithmetic on 8-bit activation
         * blocks (dx = amax/127, q = round-to-even(x/dx)) up to f32 rounding */
        float *xq = malloc(sizeof(float) * n_tok * cols);
        for (int i = 0; i < n_tok * cols; i += 32) {
            float amax = 0;
            for (int j = i; j < i + 32; j++) amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
            for (int j = i; j < i + 32; j++) xq[j] = d * nearbyintf(x[j] * id);
        }
        size_t rb = ttc_type_row_bytes(type, cols);
        for (int r = 0; r < rows; r++) {
            ttc_dequantize_row(type, (const uint8_t *)w + rb * r, wf, cols, NULL);
            for (int t = 0; t < n_tok; t++) {
                double s = 0, mag = 0;
                for (int c = 0; c < cols; c++) {
                    s += (double)wf[c] * xq[(size_t)t * cols + c];
                    mag += fabs((double)wf[c] * xq[(size_t)t * cols + c]);
                }
                double got = y[(size_t)t * rows + r], tol = 2e-5 * mag + 1e-6;
                cr_assert(fabs(got - s) <= tol, "vnni emulation: %s %dx%d n_tok=%d: y[%d][%d] = %.7g, want %.7g",
                          ttc_type_name(type), rows, cols, n_tok, t, r, got, s);
            }
        }
        free(xq);
    }
    size_t rb = ttc_type_row_bytes(type, cols);
    for (int r = 0; r < rows; r++) {
        cr_assert_eq(ttc_dequantize_row(type, (const uint8_t *)w + rb * r, wf, cols, NULL), TTC_OK);
        for (int t = 0; t < n_tok; t++) {
            const float *xt = x + (size_t)t * cols;
            double s = 0, mag = 0, qerr = 0;
            for (int c0 = 0; c0 < cols; c0 += 32) {
                double amax = 0, wabs = 0;
                for (int c = c0; c < c0 + 32 && c < cols; c++) {
                    s += (double)wf[c] * xt[c];
                    mag += fabs((double)wf[c] * xt[c]);
                    amax = fmax(amax, fabs(xt[c]));
                    wabs += fabs(wf[c]);
                }
                qerr += wabs * amax / 127;
            }
            double got = y[(size_t)t * rows + r], tol = qerr + 3e-4 * mag + 1e-6;
            cr_assert(fabs(got - s) <= tol, "%s type %s %dx%d n_tok=%d: y[%d][%d] = %.7g, want %.7g (tol %.3g)",
                      what, ttc_type_name(type), rows, cols, n_tok, t, r, got, s, tol);
        }
    }
    free(wf);
}

Test(kernels, dequant_ref_matches_quant_ref) {
    ttc_rng r;
    ttc_rng_seed(&r, 1);
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        int type = types[ti], cols = 512;
        void *w = random_weights(type, 3, cols, &r);
        float a[512], b[512];
        for (int row = 0; row < 3; row++) {
            const uint8_t *p = (const uint8_t *)w + row * ttc_type_row_bytes(type, cols);
            k_dequant_row_ref(type, p, cols, a);
            cr_assert_eq(ttc_dequantize_row(type, p, b, cols, NULL), TTC_OK);
            for (int i = 0; i < cols; i++)
                cr_assert(fabsf(a[i] - b[i]) <= 1e-6f * fabsf(b[i]) + 1e-30f, "%s [%d]: %g vs %g",
                          ttc_type_name(type), i, a[i], b[i]);
        }
        free(w);
    }
}

/* One weight type: every path, every token count 1..67 (tiles of 4 and 6
 * tokens, every tail, both sides of the bf16 threshold), rows and cols
 * (multiples of the block size, not of 64 / 16) varying with it; pooled
 * runs must give the same bits as single-threaded ones. */
static void matmul_all_paths(int type) {
    static const int rows_list[] = {1, 5, 16, 17, 33, 67, 130};
    ttc_rng r;
    ttc_rng_seed(&r, 2 + (uint64_t)type);
    ttc_pool *pool;
    cr_assert_eq(ttc_pool_new(3, &pool, NULL), TTC_OK);
    int saved = ttc_kernel_get(), bs = (int)ttc_type_block_size(type);
    for (int ni = 0; ni < 67; ni++) {
        int n_tok = ni + 1, rows = rows_list[ni % 7];
        int cols = bs == 256 ? 256 * (1 + ni % 3) : bs == 32 ? 32 * (1 + 2 * (ni % 5)) + (ni % 2 ? 0 : 64)
                                                             : 1 + 7 * (ni % 6) + 16 * (ni % 4);
        void *w = random_weights(type, rows, cols, &r);
        float *x = random_x(n_tok, cols, &r);
        float *y = malloc(sizeof(float) * n_tok * rows), *y1 = malloc(sizeof(float) * n_tok * rows);
        for (int path = 0; path < TTC_KERNEL_N_PATHS; path++) {
            if (!ttc_kernel_supported(path)) continue;
            cr_assert_eq(ttc_kernel_set(path, NULL), TTC_OK);
            for (int i = 0; i < n_tok * rows; i++) y[i] = NAN;
            cr_assert_eq(ttc_matmul(NULL, w, type, rows, cols, x, n_tok, y), TTC_OK);
            check_matmul(type, rows, cols, n_tok, w, x, y, ttc_kernel_name(path));
            cr_assert_eq(ttc_matmul(pool, w, type, rows, cols, x, n_tok, y1), TTC_OK);
            cr_assert(memcmp(y, y1, sizeof(float) * n_tok * rows) == 0, "%s %s n_tok=%d: pooled result differs",
                      ttc_kernel_name(path), ttc_type_name(type), n_tok);
        }
        free(w); free(x); free(y); free(y1);
    }
    ttc_kernel_set(saved, NULL);
    ttc_pool_free(pool);
}

/* Float weights with 1..5 tokens (the GEMV path takes up to 4): rows long
 * enough for the 64-column main loop, with every column tail 0..63. */
Test(kernels, matmul_float_few_tokens_every_tail) {
    static const int ftypes[] = {TTC_TYPE_F32, TTC_TYPE_F16, TTC_TYPE_BF16};
    static const int cols_list[] = {1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 191, 899};
    ttc_rng r;
    ttc_rng_seed(&r, 77);
    ttc_pool *pool;
    cr_assert_eq(ttc_pool_new(2, &pool, NULL), TTC_OK);
    int saved = ttc_kernel_get();
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t ci = 0; ci < sizeof cols_list / sizeof *cols_list; ci++)
            for (int n_tok = 1; n_tok <= 5; n_tok++) {
                int type = ftypes[ti], cols = cols_list[ci] + (n_tok == 3 ? 64 * (int)ci : 0);
                int rows = 1 + (int)((ci * 7 + (size_t)n_tok * 3) % 37);
                void *w = random_weights(type, rows, cols, &r);
                float *x = random_x(n_tok, cols, &r);
                float *y = malloc(sizeof(float) * n_tok * rows), *y1 = malloc(sizeof(float) * n_tok * rows);
                for (int path = 0; path < TTC_KERNEL_N_PATHS; path++) {
                    if (!ttc_kernel_supported(path)) continue;
                    cr_assert_eq(ttc_kernel_set(path, NULL), TTC_OK);
                    for (int i = 0; i < n_tok * rows; i++) y[i] = NAN;
                    cr_assert_eq(ttc_matmul(NULL, w, type, rows, cols, x, n_tok, y), TTC_OK);
                    check_matmul(type, rows, cols, n_tok, w, x, y, ttc_kernel_name(path));
                    cr_assert_eq(ttc_matmul(pool, w, type, rows, cols, x, n_tok, y1), TTC_OK);
                    cr_assert(memcmp(y, y1, sizeof(float) * n_tok * rows) == 0, "%s %s n_tok=%d: pooled differs",
                              ttc_kernel_name(path), ttc_type_name(type), n_tok);
                }
                free(w); free(x); free(y); free(y1);
            }
    ttc_kernel_set(saved, NULL);
    ttc_pool_free(pool);
}

/* Q8_0 with 1..5 tokens (the direct VNNI path takes 1 and 2): even and odd
 * block counts, long rows, against the oracle and pooled == single. */
Test(kernels, matmul_q8_0_few_tokens_long_rows) {
    static const int cols_list[] = {32, 64, 96, 160, 896, 4864 + 32};
    ttc_rng r;
    ttc_rng_seed(&r, 78);
    ttc_pool *pool;
    cr_assert_eq(ttc_pool_new(2, &pool, NULL), TTC_OK);
    int saved = ttc_kernel_get();
    for (size_t ci = 0; ci < sizeof cols_list / sizeof *cols_list; ci++)
        for (int n_tok = 1; n_tok <= 5; n_tok++) {
            int cols = cols_list[ci], rows = 1 + (int)((ci * 11 + (size_t)n_tok * 5) % 41);
            void *w = random_weights(TTC_TYPE_Q8_0, rows, cols, &r);
            float *x = random_x(n_tok, cols, &r);
            float *y = malloc(sizeof(float) * n_tok * rows), *y1 = malloc(sizeof(float) * n_tok * rows);
            for (int path = 0; path < TTC_KERNEL_N_PATHS; path++) {
                if (!ttc_kernel_supported(path)) continue;
                cr_assert_eq(ttc_kernel_set(path, NULL), TTC_OK);
                for (int i = 0; i < n_tok * rows; i++) y[i] = NAN;
                cr_assert_eq(ttc_matmul(NULL, w, TTC_TYPE_Q8_0, rows, cols, x, n_tok, y), TTC_OK);
                check_matmul(TTC_TYPE_Q8_0, rows, cols, n_tok, w, x, y, ttc_kernel_name(path));
                cr_assert_eq(ttc_matmul(pool, w, TTC_TYPE_Q8_0, rows, cols, x, n_tok, y1), TTC_OK);
                cr_assert(memcmp(y, y1, sizeof(float) * n_tok * rows) == 0, "%s n_tok=%d: pooled differs",
                          ttc_kernel_name(path), n_tok);
            }
            free(w); free(x); free(y); free(y1);
        }
    ttc_kernel_set(saved, NULL);
    ttc_pool_free(pool);
}

/* ttc_matmul_n gives, bit for bit, what separate ttc_matmul calls give:
 * same-type sets (q, k, v shaped), mixed types that need different x
 * preparations (the split path), every path, 1..30 tokens. */
Test(kernels, matmul_n_equals_separate_calls) {
    static const int sets[][3] = {{TTC_TYPE_Q8_0, TTC_TYPE_Q8_0, TTC_TYPE_Q8_0},
                                  {TTC_TYPE_F16, TTC_TYPE_F16, TTC_TYPE_F16},
                                  {TTC_TYPE_Q8_0, TTC_TYPE_BF16, TTC_TYPE_F32},
                                  {TTC_TYPE_BF16, TTC_TYPE_Q4_K, TTC_TYPE_Q8_0},
                                  {TTC_TYPE_Q6_K, TTC_TYPE_F16, TTC_TYPE_Q6_K}};
    static const int ntoks[] = {1, 2, 3, 5, 8, 24, 30};
    const int cols = 512, rows[3] = {37, 16, 130};
    ttc_rng r;
    ttc_rng_seed(&r, 79);
    ttc_pool *pool;
    cr_assert_eq(ttc_pool_new(3, &pool, NULL), TTC_OK);
    int saved = ttc_kernel_get();
    for (size_t si = 0; si < sizeof sets / sizeof *sets; si++)
        for (size_t ni = 0; ni < sizeof ntoks / sizeof *ntoks; ni++) {
            int n_tok = ntoks[ni];
            float *x = random_x(n_tok, cols, &r);
            void *w[3];
            float *y[3], *y1[3];
            ttc_mm_op ops[3];
            for (int j = 0; j < 3; j++) {
                w[j] = random_weights(sets[si][j], rows[j], cols, &r);
                y[j] = malloc(sizeof(float) * n_tok * rows[j]);
                y1[j] = malloc(sizeof(float) * n_tok * rows[j]);
                ops[j] = (ttc_mm_op){w[j], sets[si][j], rows[j], y1[j]};
            }
            for (int path = 0; path < TTC_KERNEL_N_PATHS; path++) {
                if (!ttc_kernel_supported(path)) continue;
                cr_assert_eq(ttc_kernel_set(path, NULL), TTC_OK);
                for (int j = 0; j < 3; j++) {
                    cr_assert_eq(ttc_matmul(pool, w[j], sets[si][j], rows[j], cols, x, n_tok, y[j]), TTC_OK);
                    for (int i = 0; i < n_tok * rows[j]; i++) y1[j][i] = NAN;
                }
                cr_assert_eq(ttc_matmul_n(pool, ops, 3, cols, x, n_tok), TTC_OK);
                for (int j = 0; j < 3; j++)
                    cr_assert(memcmp(y[j], y1[j], sizeof(float) * n_tok * rows[j]) == 0,
                              "%s set %zu n_tok=%d: op %d differs", ttc_kernel_name(path), si, n_tok, j);
            }
            for (int j = 0; j < 3; j++) { free(w[j]); free(y[j]); free(y1[j]); }
            free(x);
        }
    ttc_mm_op one = {NULL, TTC_TYPE_F32, 1, NULL};
    cr_assert_eq(ttc_matmul_n(pool, &one, 0, 16, NULL, 1), TTC_EINVAL);
    cr_assert_eq(ttc_matmul_n(pool, &one, 9, 16, NULL, 1), TTC_EINVAL);
    ttc_kernel_set(saved, NULL);
    ttc_pool_free(pool);
}

Test(kernels, matmul_f32) { matmul_all_paths(TTC_TYPE_F32); }
Test(kernels, matmul_f16) { matmul_all_paths(TTC_TYPE_F16); }
Test(kernels, matmul_bf16) { matmul_all_paths(TTC_TYPE_BF16); }
Test(kernels, matmul_q8_0) { matmul_all_paths(TTC_TYPE_Q8_0); }
Test(kernels, matmul_q4_0) { matmul_all_paths(TTC_TYPE_Q4_0); }
Test(kernels, matmul_q4_k) { matmul_all_paths(TTC_TYPE_Q4_K); }
Test(kernels, matmul_q6_k) { matmul_all_paths(TTC_TYPE_Q6_K); }

/* Decode (one or two tokens) takes direct kernels on the VNNI path that
 * read Q8_0, Q4_0, Q4_K and Q6_K blocks without unpacking them: every
 * super-block position, row count and pool split against the exact 8-bit
 * emulation. */
Test(kernels, matmul_direct_decode) {
    if (!ttc_kernel_supported(TTC_KERNEL_VNNI)) cr_skip_test("no VNNI on this CPU");
    static const int dtypes[] = {TTC_TYPE_Q8_0, TTC_TYPE_Q4_0, TTC_TYPE_Q4_K, TTC_TYPE_Q6_K};
    static const int cols_list[] = {256, 768, 1280}, rows_list[] = {1, 7, 33};
    static const int cols_q4_0[] = {32, 96, 1248}; /* partial last groups of four blocks */
    ttc_rng r;
    ttc_rng_seed(&r, 77);
    ttc_pool *pool;
    cr_assert_eq(ttc_pool_new(2, &pool, NULL), TTC_OK);
    int saved = ttc_kernel_get();
    cr_assert_eq(ttc_kernel_set(TTC_KERNEL_VNNI, NULL), TTC_OK);
    for (int ti = 0; ti < 4; ti++)
        for (int ci = 0; ci < 6; ci++)
            for (int ri = 0; ri < 3; ri++)
                for (int n_tok = 1; n_tok <= 2; n_tok++) {
                    int type = dtypes[ti], rows = rows_list[ri];
                    if (ci >= 3 && type != TTC_TYPE_Q4_0) continue;
                    int cols = ci < 3 ? cols_list[ci] : cols_q4_0[ci - 3];
                    void *w = random_weights(type, rows, cols, &r);
                    float *x = random_x(n_tok, cols, &r), *y = malloc(sizeof(float) * n_tok * rows);
                    for (int i = 0; i < n_tok * rows; i++) y[i] = NAN;
                    cr_assert_eq(ttc_matmul(ri == 2 ? pool : NULL, w, type, rows, cols, x, n_tok, y), TTC_OK);
                    check_matmul(type, rows, cols, n_tok, w, x, y, "vnni");
                    free(w); free(x); free(y);
                }
    ttc_kernel_set(saved, NULL);
    ttc_pool_free(pool);
}

Test(kernels, matmul_rejects_bad_shapes) {
    ttc_err e = {0};
    cr_assert_eq(ttc_matmul_check(TTC_TYPE_Q8_0, 4, 48, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "48") != NULL);
    cr_assert_eq(ttc_matmul_check(TTC_TYPE_Q5_K, 4, 256, &e), TTC_EUNSUPPORTED);
    cr_assert_eq(ttc_matmul_check(TTC_TYPE_Q4_K, 4, 512, &e), TTC_OK);
    float x[48] = {0}, y[4] = {0};
    cr_assert_eq(ttc_matmul(NULL, x, TTC_TYPE_Q4_0, 1, 48, x, 1, y), TTC_EINVAL);
    cr_assert_eq(ttc_matmul(NULL, x, TTC_TYPE_F32, 1, 8, x, 0, y), TTC_OK);
}

Test(kernels, path_names_and_forcing) {
    cr_assert_eq(ttc_kernel_parse("ref"), TTC_KERNEL_REF);
    cr_assert_eq(ttc_kernel_parse("vnni"), TTC_KERNEL_VNNI);
    cr_assert_eq(ttc_kernel_parse("sse9"), -1);
    cr_assert_str_eq(ttc_kernel_name(TTC_KERNEL_AVX512), "avx512");
    cr_assert(ttc_kernel_supported(TTC_KERNEL_REF));
    ttc_err e = {0};
    cr_assert_eq(ttc_kernel_set(99, &e), TTC_EUNSUPPORTED);
}

/* sgemm against a double oracle: every transpose mode, odd sizes, padded
 * leading dimensions, alpha/beta, and beta = 0 ignoring NaNs in C. */
Test(kernels, sgemm_all_modes_against_oracle) {
    static const int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 64, 64}, {100, 37, 129},
                                   {31, 200, 17}, {130, 70, 3}, {5, 1, 300}, {1, 97, 50}, {7, 7, 0}};
    ttc_rng r;
    ttc_rng_seed(&r, 3);
    ttc_pool *pool;
    cr_assert_eq(ttc_pool_new(2, &pool, NULL), TTC_OK);
    int saved = ttc_kernel_get();
    for (int path = 0; path < TTC_KERNEL_N_PATHS; path++) {
        if (!ttc_kernel_supported(path)) continue;
        ttc_kernel_set(path, NULL);
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
            for (int mode = 0; mode < 4; mode++) {
                int M = sizes[si][0], N = sizes[si][1], K = sizes[si][2];
                bool ta = mode & 1, tb = mode & 2;
                int lda = (ta ? M : K) + (int)(si % 3), ldb = (tb ? K : N) + (int)(si % 2), ldc = N + 3;
                float *A = malloc(sizeof(float) * ((size_t)(ta ? K : M) * lda + 1));
                float *B = malloc(sizeof(float) * ((size_t)(tb ? N : K) * ldb + 1));
                float *C = malloc(sizeof(float) * (size_t)M * ldc), *C0 = malloc(sizeof(float) * (size_t)M * ldc);
                for (int i = 0; i < (ta ? K : M) * lda; i++) A[i] = ttc_rng_normal(&r);
                for (int i = 0; i < (tb ? N : K) * ldb; i++) B[i] = ttc_rng_normal(&r);
                float alpha = si % 2 ? 1.0f : -0.5f, beta = (float)(mode % 3) * 0.75f;
                for (int i = 0; i < M * ldc; i++) C0[i] = C[i] = beta == 0 && i % 5 == 0 ? NAN : ttc_rng_normal(&r);
                ttc_sgemm(si % 2 ? pool : NULL, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < ldc; j++) {
                        if (j >= N) { /* padding untouched */
                            cr_assert(memcmp(&C[i * ldc + j], &C0[i * ldc + j], 4) == 0);
                            continue;
                        }
                        double s = 0, mag = 0;
                        for (int k = 0; k < K; k++) {
                            double p = (double)(ta ? A[k * lda + i] : A[i * lda + k]) *
                                       (tb ? B[j * ldb + k] : B[k * ldb + j]);
                            s += p;
                            mag += fabs(p);
                        }
                        double want = alpha * s + (beta != 0 ? beta * C0[i * ldc + j] : 0);
                        double tol = 1e-5 * (mag + (beta != 0 ? fabs(C0[i * ldc + j]) : 0)) + 1e-6;
                        cr_assert(fabs(C[i * ldc + j] - want) <= tol, "%s M=%d N=%d K=%d ta=%d tb=%d C[%d][%d]=%g want %g",
                                  ttc_kernel_name(path), M, N, K, ta, tb, i, j, C[i * ldc + j], want);
                    }
                free(A); free(B); free(C); free(C0);
            }
    }
    ttc_kernel_set(saved, NULL);
    ttc_pool_free(pool);
}

/* Attention page kernels against a double oracle, every path, odd nq / nk. */
#include "kernels/attn.h"
Test(kernels, attn_page_kernels) {
    ttc_rng r;
    ttc_rng_seed(&r, 4);
    static const int shapes[][3] = {{1, 16, 64}, {7, 16, 64}, {33, 5, 128}, {4, 37, 16}, {130, 16, 80}, {3, 0, 64},
                                   {5, 19, 7}, {9, 8, 64}};
    int saved = ttc_kernel_get();
    for (int path = 0; path < TTC_KERNEL_N_PATHS; path++) {
        if (!ttc_kernel_supported(path)) continue;
        ttc_kernel_set(path, NULL);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int nq = shapes[s][0], nk = shapes[s][1], hd = shapes[s][2], ldq = hd + 3, lds = nk + 5, ldo = hd + 1;
            float *Q = malloc(sizeof(float) * nq * ldq), *K = malloc(sizeof(float) * (nk * hd + 1));
            float *V = malloc(sizeof(float) * (nk * hd + 1)), *S = malloc(sizeof(float) * nq * lds);
            float *O = malloc(sizeof(float) * nq * ldo), *O0 = malloc(sizeof(float) * nq * ldo);
            for (int i = 0; i < nq * ldq; i++) Q[i] = ttc_rng_normal(&r);
            for (int i = 0; i < nk * hd; i++) { K[i] = ttc_rng_normal(&r); V[i] = ttc_rng_normal(&r); }
            for (int i = 0; i < nq * lds; i++) S[i] = -7;
            for (int i = 0; i < nq * ldo; i++) O[i] = O0[i] = ttc_rng_normal(&r);
            ttc_attn_scores(Q, ldq, nq, K, nk, hd, 0.125f, S, lds);
            for (int i = 0; i < nq; i++) {
                for (int j = 0; j < nk; j++) {
                    double want = 0, mag = 0;
                    for (int d = 0; d < hd; d++) {
                        want += (double)Q[i * ldq + d] * K[j * hd + d];
                        mag += fabs((double)Q[i * ldq + d] * K[j * hd + d]);
                    }
                    cr_assert(fabs(S[i * lds + j] - 0.125 * want) <= 1e-5 * mag + 1e-6, "%s scores nq=%d nk=%d [%d][%d]",
                              ttc_kernel_name(path), nq, nk, i, j);
                }
                for (int j = nk; j < lds; j++) cr_assert_eq(S[i * lds + j], -7.0f, "wrote past nk");
            }
            /* the same scores from the transposed (paged KV) layout, ldk > nk */
            int ldk = nk + 3;
            float *Kt = malloc(sizeof(float) * (hd * ldk + 1)), *S2 = malloc(sizeof(float) * nq * lds);
            for (int j = 0; j < nk; j++)
                for (int d = 0; d < hd; d++) Kt[d * ldk + j] = K[j * hd + d];
            for (int d = 0; d < hd; d++)
                for (int j = nk; j < ldk; j++) Kt[d * ldk + j] = NAN; /* must not be read */
            for (int i = 0; i < nq * lds; i++) S2[i] = -7;
            ttc_attn_scores_kt(Q, ldq, nq, Kt, ldk, nk, hd, 0.125f, S2, lds);
            for (int i = 0; i < nq; i++)
                for (int j = 0; j < lds; j++) {
                    if (j >= nk) { cr_assert_eq(S2[i * lds + j], -7.0f, "kt wrote past nk"); continue; }
                    double mag = 0;
                    for (int d = 0; d < hd; d++) mag += fabs((double)Q[i * ldq + d] * K[j * hd + d]);
                    cr_assert(fabs(S2[i * lds + j] - S[i * lds + j]) <= 2e-5 * mag + 1e-6, "%s scores_kt nq=%d nk=%d hd=%d [%d][%d]",
                              ttc_kernel_name(path), nq, nk, hd, i, j);
                }
            free(Kt); free(S2);
            ttc_attn_accum(S, lds, nq, V, nk, hd, O, ldo);
            for (int i = 0; i < nq; i++)
                for (int d = 0; d < ldo; d++) {
                    if (d >= hd) { cr_assert_eq(O[i * ldo + d], O0[i * ldo + d]); continue; }
                    double want = O0[i * ldo + d], mag = fabs(want);
                    for (int j = 0; j < nk; j++) {
                        want += (double)S[i * lds + j] * V[j * hd + d];
                        mag += fabs((double)S[i * lds + j] * V[j * hd + d]);
                    }
                    cr_assert(fabs(O[i * ldo + d] - want) <= 1e-5 * mag + 1e-6, "%s accum nq=%d nk=%d hd=%d [%d][%d]",
                              ttc_kernel_name(path), nq, nk, hd, i, d);
                }
            free(Q); free(K); free(V); free(S); free(O); free(O0);
        }
    }
    ttc_kernel_set(saved, NULL);
}
