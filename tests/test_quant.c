/* Tensor types: traits, fp16/bf16 conversions, hand-made blocks decoding to
 * known values, quantization round-trip error, and argument checks. */
#include <criterion/criterion.h>
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "kernels/quant.h"

Test(quant, traits) {
    cr_assert_str_eq(ttc_type_name(TTC_TYPE_Q4_K), "q4_K");
    cr_assert_str_eq(ttc_type_name(TTC_TYPE_BF16), "bf16");
    cr_assert_str_eq(ttc_type_name(31), "unknown");
    cr_assert_str_eq(ttc_type_name(-1), "unknown");
    cr_assert_eq(ttc_type_block_bytes(TTC_TYPE_Q8_0), sizeof(ttc_block_q8_0));
    cr_assert_eq(ttc_type_block_bytes(TTC_TYPE_Q4_0), sizeof(ttc_block_q4_0));
    cr_assert_eq(ttc_type_block_bytes(TTC_TYPE_Q4_K), sizeof(ttc_block_q4_k));
    cr_assert_eq(ttc_type_block_bytes(TTC_TYPE_Q6_K), sizeof(ttc_block_q6_k));
    cr_assert_eq(ttc_type_block_bytes(TTC_TYPE_Q8_K), sizeof(ttc_block_q8_k));
    cr_assert_eq(ttc_type_block_size(TTC_TYPE_Q6_K), 256);
    cr_assert_eq(ttc_type_block_size(TTC_TYPE_F16), 1);
    cr_assert_eq(ttc_type_row_bytes(TTC_TYPE_Q4_K, 512), 288);
    cr_assert_eq(ttc_type_row_bytes(TTC_TYPE_Q4_K, 100), 0);
    cr_assert_eq(ttc_type_row_bytes(TTC_TYPE_F16, 7), 14);
    cr_assert_eq(ttc_type_row_bytes(TTC_TYPE_Q8_0, -32), 0);
    cr_assert_eq(ttc_type_row_bytes(99, 32), 0);
    int supported[] = {0, 1, 30, 8, 2, 12, 14}, n_sup = 0;
    for (int t = -1; t < 64; t++) n_sup += ttc_type_supported(t);
    cr_assert_eq(n_sup, 7);
    for (int i = 0; i < 7; i++) cr_assert(ttc_type_supported(supported[i]));
}

/* ---- fp16 / bf16 ---- */

/* Reference conversions by the CPU's F16C instructions (IEEE, round to
 * nearest even), independent of ttc's bit manipulation. */
__attribute__((target("f16c"))) static float hw_h2f(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) static uint16_t hw_f2h(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

Test(quant, fp16_exhaustive_roundtrip_and_reference) {
    unsigned a, b, c, d;
    bool hw = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));  /* CPUID.1:ECX.F16C */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ttc_fp16_to_f32((uint16_t)h);
        if (isnan(f)) {
            cr_assert(!hw || isnan(hw_h2f((uint16_t)h)));
            cr_assert(isnan(ttc_fp16_to_f32(ttc_f32_to_fp16(f))));
            continue;
        }
        if (hw) cr_assert_eq(f, hw_h2f((uint16_t)h), "h=%04x", h);
        cr_assert_eq(ttc_f32_to_fp16(f), h, "h=%04x", h);
    }
    if (!hw) cr_skip("no F16C: rounding of arbitrary floats not checked against hardware");
    ttc_rng r;
    ttc_rng_seed(&r, 3);
    for (int i = 0; i < 1000000; i++) {
        uint32_t bits = (uint32_t)ttc_rng_u64(&r);
        if (i % 2) bits = (bits & 0x807FFFFFu) | ((uint32_t)(100 + ttc_rng_below(&r, 50)) << 23);  /* near fp16 range */
        float f;
        memcpy(&f, &bits, 4);
        if (isnan(f)) continue;
        cr_assert_eq(ttc_f32_to_fp16(f), hw_f2h(f), "f=%a bits=%08x", (double)f, bits);
    }
}

Test(quant, fp16_edge_cases) {
    cr_assert_eq(ttc_f32_to_fp16(65504.0f), 0x7BFF);
    cr_assert_eq(ttc_f32_to_fp16(65519.99f), 0x7BFF);
    cr_assert_eq(ttc_f32_to_fp16(65520.0f), 0x7C00);
    cr_assert_eq(ttc_f32_to_fp16(-1e10f), 0xFC00);
    cr_assert_eq(ttc_f32_to_fp16(INFINITY), 0x7C00);
    cr_assert_eq(ttc_f32_to_fp16(-0.0f), 0x8000);
    cr_assert_eq(ttc_f32_to_fp16(1.0f), 0x3C00);
    cr_assert_eq(ttc_f32_to_fp16(ldexpf(1, -24)), 0x0001);      /* smallest subnormal */
    cr_assert_eq(ttc_f32_to_fp16(ldexpf(1, -25)), 0x0000);      /* tie: to even (zero) */
    cr_assert_eq(ttc_f32_to_fp16(ldexpf(1.5f, -25)), 0x0001);
    cr_assert_eq(ttc_f32_to_fp16(ldexpf(3, -25)), 0x0002);      /* 1.5 ulp tie: to even */
    cr_assert_eq(ttc_f32_to_fp16(ldexpf(1, -14)), 0x0400);      /* smallest normal */
    cr_assert_eq(ttc_f32_to_fp16(ldexpf(1023.5f, -24)), 0x0400);/* subnormal rounding up to normal */
    cr_assert_eq(ttc_f32_to_fp16(1e-30f), 0);
    cr_assert_eq(ttc_f32_to_fp16(1.0f + ldexpf(1, -11)), 0x3C00);  /* tie: to even */
    cr_assert_eq(ttc_f32_to_fp16(1.0f + ldexpf(3, -11)), 0x3C02);
    uint16_t nan = ttc_f32_to_fp16(NAN);
    cr_assert((nan & 0x7C00) == 0x7C00 && (nan & 0x3FF));
    cr_assert_eq(ttc_fp16_to_f32(0x0001), ldexpf(1, -24));
    cr_assert_eq(ttc_fp16_to_f32(0x8400), -ldexpf(1, -14));
    cr_assert(isinf(ttc_fp16_to_f32(0xFC00)) && ttc_fp16_to_f32(0xFC00) < 0);
}

/* Independent reference: the nearer of the two bf16 neighbours (truncated
 * and next in magnitude), ties to even. Finite inputs below 2^127 only. */
static uint16_t bf16_ref(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t lo = x & 0xFFFF0000u, hi = lo + 0x10000u;
    float flo, fhi;
    memcpy(&flo, &lo, 4);
    memcpy(&fhi, &hi, 4);
    double dl = fabs((double)f - flo), dh = fabs((double)fhi - f);
    if (dl < dh || (dl == dh && !((lo >> 16) & 1))) return (uint16_t)(lo >> 16);
    return (uint16_t)(hi >> 16);
}

Test(quant, bf16_conversions) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ttc_bf16_to_f32((uint16_t)h);
        if (isnan(f)) { cr_assert(isnan(ttc_bf16_to_f32(ttc_f32_to_bf16(f)))); continue; }
        cr_assert_eq(ttc_f32_to_bf16(f), h);
    }
    ttc_rng r;
    ttc_rng_seed(&r, 5);
    for (int i = 0; i < 1000000; i++) {
        uint32_t bits = (uint32_t)ttc_rng_u64(&r);
        if ((bits & 0x7F800000u) >= 0x7F000000u) continue;  /* keep away from Inf/NaN for the reference */
        float f;
        memcpy(&f, &bits, 4);
        cr_assert_eq(ttc_f32_to_bf16(f), bf16_ref(f), "bits=%08x", bits);
    }
    cr_assert_eq(ttc_f32_to_bf16(1.0f), 0x3F80);
    cr_assert_eq(ttc_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3F80);     /* tie: to even */
    cr_assert_eq(ttc_f32_to_bf16(1.0f + ldexpf(3, -8)), 0x3F82);
    cr_assert_eq(ttc_f32_to_bf16(3.4028235e38f), 0x7F80);            /* rounds to Inf */
    uint16_t nan = ttc_f32_to_bf16(NAN);
    cr_assert((nan & 0x7F80) == 0x7F80 && (nan & 0x7F));
    uint32_t snan = 0x7F800001u;  /* signalling NaN with only low payload: must stay NaN */
    float fs;
    memcpy(&fs, &snan, 4);
    cr_assert(isnan(ttc_bf16_to_f32(ttc_f32_to_bf16(fs))));
}

/* ---- hand-made blocks ---- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

Test(quant, q8_0_block_decodes) {
    uint8_t b[34 * 2];
    put16(b, 0x3800);                            /* 0.5 */
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
    put16(b + 34, 0xC000);                       /* -2 */
    for (int j = 0; j < 32; j++) b[36 + j] = (uint8_t)(int8_t)(j - 16);
    float y[64];
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q8_0, b, y, 64, NULL), TTC_OK);
    cr_assert_eq(y[0], -64.0f);
    cr_assert_eq(y[31], 0.5f * 120);
    cr_assert_eq(y[32], 32.0f);
    cr_assert_eq(y[63], -30.0f);
}

Test(quant, q4_0_block_decodes) {
    uint8_t b[18];
    put16(b, 0x4000);                            /* 2 */
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q4_0, b, y, 32, NULL), TTC_OK);
    cr_assert_eq(y[0], -16.0f);    /* low nibble 0 */
    cr_assert_eq(y[15], 14.0f);    /* low nibble 15 */
    cr_assert_eq(y[16], 14.0f);    /* high nibble of byte 0 = 15 */
    cr_assert_eq(y[31], -16.0f);
    cr_assert_eq(y[9], 2.0f);
}

Test(quant, q4_k_block_decodes) {
    /* Sub-block scales and mins, packed by hand into the 12-byte layout. */
    static const int sc[8] = {1, 2, 3, 4, 17, 33, 50, 63}, mn[8] = {0, 5, 10, 15, 20, 40, 60, 63};
    static const uint8_t packed[12] = {0x41, 0x82, 0xC3, 0xC4, 0x40, 0x85, 0xCA, 0xCF, 0x41, 0x81, 0xC2, 0xFF};
    uint8_t b[144];
    put16(b, 0x3C00);                            /* d = 1 */
    put16(b + 2, 0x3800);                        /* dmin = 0.5 */
    memcpy(b + 4, packed, 12);
    for (int i = 0; i < 128; i++) b[16 + i] = (uint8_t)((i * 5) & 0xFF);
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        ttc_q4k_scale_min(j, b + 4, &s, &m);
        cr_assert_eq(s, sc[j], "scale %d", j);
        cr_assert_eq(m, mn[j], "min %d", j);
    }
    float y[256];
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q4_K, b, y, 256, NULL), TTC_OK);
    for (int e = 0; e < 256; e++) {
        int k = e / 64, hi = (e % 64) / 32, l = e % 32, j = 2 * k + hi;
        int byte = b[16 + 32 * k + l], q = hi ? byte >> 4 : byte & 15;
        cr_assert_eq(y[e], 1.0f * sc[j] * q - 0.5f * mn[j], "element %d", e);
    }
    /* A few by hand: element 0: q = 0, sub-block 0 -> 0; element 32: byte 0
     * high nibble 0, sub-block 1 -> -2.5; element 255: byte 143 = 127*5 & 255
     * = 0x7B -> high nibble 7, sub-block 7 -> 63*7 - 31.5. */
    cr_assert_eq(y[0], 0.0f);
    cr_assert_eq(y[32], -2.5f);
    cr_assert_eq(y[255], 63.0f * 7 - 31.5f);
}

Test(quant, q6_k_block_decodes) {
    uint8_t b[210];
    for (int i = 0; i < 128; i++) b[i] = (uint8_t)(i * 37 + 11);        /* ql */
    for (int i = 0; i < 64; i++) b[128 + i] = (uint8_t)(i * 91 + 3);    /* qh */
    for (int i = 0; i < 16; i++) b[192 + i] = (uint8_t)(int8_t)(i * 17 - 128);
    put16(b + 208, 0x3400);                                             /* 0.25 */
    float y[256];
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q6_K, b, y, 256, NULL), TTC_OK);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, r = e % 128, g = r / 32, l = r % 32;
        int qlb = b[64 * h + l + 32 * (g & 1)], nib = g >= 2 ? qlb >> 4 : qlb & 15;
        int bits = (b[128 + 32 * h + l] >> (2 * g)) & 3;
        int q = (nib | (bits << 4)) - 32;
        int s = (int8_t)b[192 + 8 * h + l / 16 + 2 * g];
        cr_assert_eq(y[e], 0.25f * s * q, "element %d", e);
    }
    /* Element 0 by hand: ql[0] = 11 -> low nibble 11, qh[0] = 3 -> bits 3,
     * q = 11 + 48 - 32 = 27, scale[0] = -128: 0.25 * -128 * 27 = -864. */
    cr_assert_eq(y[0], -864.0f);
}

/* ---- quantizers ---- */

Test(quant, q8_0_and_q4_0_match_ggml_reference_rounding) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    ttc_block_q8_0 q8;
    cr_assert_eq(ttc_quantize_row(TTC_TYPE_Q8_0, x, &q8, 32, NULL), TTC_OK);
    cr_assert_eq(q8.d, ttc_f32_to_fp16(16.0f / 127));
    cr_assert_eq(q8.qs[0], -127);
    cr_assert_eq(q8.qs[24], 64);   /* 8 * 127/16 = 63.5 rounds away from zero */
    cr_assert_eq(q8.qs[17], 8);    /* 7.9375 */
    ttc_block_q4_0 q4;
    cr_assert_eq(ttc_quantize_row(TTC_TYPE_Q4_0, x, &q4, 32, NULL), TTC_OK);
    cr_assert_eq(q4.d, ttc_f32_to_fp16(2.0f));  /* max |x| = -16 -> d = -16 / -8 */
    cr_assert_eq(q4.qs[0] & 15, 0);             /* -16 -> 0 */
    cr_assert_eq(q4.qs[15] >> 4, 15);           /* 15 -> 16, clamped */
    cr_assert_eq(q4.qs[1] >> 4, 9);             /* x[17] = 1 -> 9 */
    float zero[32] = {0}, y[32];
    cr_assert_eq(ttc_quantize_row(TTC_TYPE_Q4_0, zero, &q4, 32, NULL), TTC_OK);
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q4_0, &q4, y, 32, NULL), TTC_OK);
    for (int j = 0; j < 32; j++) cr_assert_eq(y[j], 0.0f);
}

/* Relative RMS error of quantize -> dequantize on Gaussian data with a few
 * outliers, and the worst absolute error relative to the row's max. */
static void roundtrip(int type, double max_rel_rms, double max_rel_abs) {
    enum { N = 256 * 64 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *q = malloc(ttc_type_row_bytes(type, N));
    ttc_rng r;
    ttc_rng_seed(&r, 42 + (uint64_t)type);
    for (int i = 0; i < N; i++) x[i] = ttc_rng_normal(&r) * (i % 97 == 0 ? 6.0f : 1.0f) + (i / 256 % 3 == 0 ? 0.5f : 0);
    ttc_err e = {0};
    cr_assert_eq(ttc_quantize_row(type, x, q, N, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_dequantize_row(type, q, y, N, &e), TTC_OK, "%s", e.msg);
    double se = 0, sx = 0, worst = 0, amax = 0;
    for (int i = 0; i < N; i++) {
        se += (double)(x[i] - y[i]) * (x[i] - y[i]);
        sx += (double)x[i] * x[i];
        worst = fmax(worst, fabs(x[i] - y[i]));
        amax = fmax(amax, fabs(x[i]));
    }
    double rel = sqrt(se / sx);
    if (getenv("TTC_QUANT_VERBOSE")) fprintf(stderr, "%s: rel rms %.5f, worst/max %.5f\n", ttc_type_name(type), rel, worst / amax);
    cr_assert(rel < max_rel_rms, "%s: relative rms error %.5f >= %.5f", ttc_type_name(type), rel, max_rel_rms);
    cr_assert(worst / amax < max_rel_abs, "%s: worst error %.5f of max %.3f", ttc_type_name(type), worst, amax);
    /* Deterministic: the same input gives the same bytes. */
    void *q2 = malloc(ttc_type_row_bytes(type, N));
    ttc_quantize_row(type, x, q2, N, NULL);
    cr_assert_eq(memcmp(q, q2, ttc_type_row_bytes(type, N)), 0);
    free(q2); free(q); free(x); free(y);
}

/* Measured (seeded data): rms 0.00164 bf16, 0.0072 q8_0, 0.123 q4_0, 0.081
 * q4_K, 0.023 q6_K, 0.016 q8_K (256-weight blocks see more outliers); the
 * limits leave ~15%. Worst errors: half a step of the block's scale. */
Test(quant, roundtrip_error_bounds) {
    roundtrip(TTC_TYPE_F32, 1e-12, 1e-12);
    roundtrip(TTC_TYPE_F16, 0.0003, 0.0003);
    roundtrip(TTC_TYPE_BF16, 0.002, 0.002);
    roundtrip(TTC_TYPE_Q8_0, 0.0085, 0.0045);
    roundtrip(TTC_TYPE_Q4_0, 0.14, 0.07);
    roundtrip(TTC_TYPE_Q4_K, 0.095, 0.045);
    roundtrip(TTC_TYPE_Q6_K, 0.027, 0.018);
    roundtrip(TTC_TYPE_Q8_K, 0.019, 0.0045);
}

Test(quant, q8_k_bsums) {
    float x[256];
    ttc_rng r;
    ttc_rng_seed(&r, 9);
    for (int i = 0; i < 256; i++) x[i] = ttc_rng_normal(&r);
    ttc_block_q8_k b;
    cr_assert_eq(ttc_quantize_row(TTC_TYPE_Q8_K, x, &b, 256, NULL), TTC_OK);
    for (int j = 0; j < 16; j++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += b.qs[16 * j + l];
        cr_assert_eq(b.bsums[j], s);
    }
}

Test(quant, constant_and_zero_blocks_are_exact) {
    float x[256], y[256];
    uint8_t q[300];
    int types[] = {TTC_TYPE_Q8_0, TTC_TYPE_Q4_0, TTC_TYPE_Q4_K, TTC_TYPE_Q6_K};
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < 256; i++) x[i] = 0;
        cr_assert_eq(ttc_quantize_row(types[t], x, q, 256, NULL), 0);
        cr_assert_eq(ttc_dequantize_row(types[t], q, y, 256, NULL), 0);
        for (int i = 0; i < 256; i++) cr_assert_eq(y[i], 0.0f, "%s", ttc_type_name(types[t]));
        /* A block of one value and zeros: the value is representable. */
        x[3] = -4.0f;
        cr_assert_eq(ttc_quantize_row(types[t], x, q, 256, NULL), 0);
        cr_assert_eq(ttc_dequantize_row(types[t], q, y, 256, NULL), 0);
        cr_assert_float_eq(y[3], -4.0f, 0.02f, "%s: %g", ttc_type_name(types[t]), y[3]);
        cr_assert_float_eq(y[4], 0.0f, 0.02f, "%s: %g", ttc_type_name(types[t]), y[4]);
    }
}

Test(quant, bad_arguments) {
    float x[512] = {0}, y[512];
    uint8_t q[1024];
    ttc_err e = {0};
    cr_assert_eq(ttc_quantize_row(TTC_TYPE_Q8_0, x, q, 33, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "33"), "%s", e.msg);
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q4_K, q, y, 300, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "q4_K row of 300 weights"), "%s", e.msg);
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q6_K, q, y, 255, &e), TTC_EINVAL);
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q4_0, q, y, -32, &e), TTC_EINVAL);
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q5_K, q, y, 256, &e), TTC_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "q5_K"), "%s", e.msg);
    cr_assert_eq(ttc_quantize_row(99, x, q, 32, &e), TTC_EUNSUPPORTED);
    x[5] = NAN;
    cr_assert_eq(ttc_quantize_row(TTC_TYPE_Q4_K, x, q, 256, &e), TTC_ENUMERIC);
    cr_assert(strstr(e.msg, "element 5"), "%s", e.msg);
    cr_assert_eq(ttc_quantize_row(TTC_TYPE_F16, x, q, 256, &e), TTC_OK);  /* floats carry NaN */
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_F16, q, y, 256, &e), TTC_OK);
    cr_assert(isnan(y[5]));
    cr_assert_eq(ttc_dequantize_row(TTC_TYPE_Q8_0, q, y, 0, &e), TTC_OK);  /* empty row */
}
