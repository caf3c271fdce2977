/* Tensor type traits and plain-C reference (de)quantization. The block
 * layouts are documented in kernels/quant.h. */
#include "kernels/quant.h"

#include <math.h>

static const struct {
    const char *name;
    int         block;   /* weights per block; 0 = unknown id */
    int         bytes;   /* bytes per block */
} traits[TTC_TYPE_COUNT] = {
    [TTC_TYPE_F32]     = {"f32",     1,   4},
    [TTC_TYPE_F16]     = {"f16",     1,   2},
    [TTC_TYPE_Q4_0]    = {"q4_0",    32,  18},
    [TTC_TYPE_Q4_1]    = {"q4_1",    32,  20},
    [TTC_TYPE_Q5_0]    = {"q5_0",    32,  22},
    [TTC_TYPE_Q5_1]    = {"q5_1",    32,  24},
    [TTC_TYPE_Q8_0]    = {"q8_0",    32,  34},
    [TTC_TYPE_Q8_1]    = {"q8_1",    32,  36},
    [TTC_TYPE_Q2_K]    = {"q2_K",    256, 84},
    [TTC_TYPE_Q3_K]    = {"q3_K",    256, 110},
    [TTC_TYPE_Q4_K]    = {"q4_K",    256, 144},
    [TTC_TYPE_Q5_K]    = {"q5_K",    256, 176},
    [TTC_TYPE_Q6_K]    = {"q6_K",    256, 210},
    [TTC_TYPE_Q8_K]    = {"q8_K",    256, 292},
    [TTC_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 66},
    [TTC_TYPE_IQ2_XS]  = {"iq2_xs",  256, 74},
    [TTC_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 98},
    [TTC_TYPE_IQ1_S]   = {"iq1_s",   256, 50},
    [TTC_TYPE_IQ4_NL]  = {"iq4_nl",  32,  18},
    [TTC_TYPE_IQ3_S]   = {"iq3_s",   256, 110},
    [TTC_TYPE_IQ2_S]   = {"iq2_s",   256, 82},
    [TTC_TYPE_IQ4_XS]  = {"iq4_xs",  256, 136},
    [TTC_TYPE_I8]      = {"i8",      1,   1},
    [TTC_TYPE_I16]     = {"i16",     1,   2},
    [TTC_TYPE_I32]     = {"i32",     1,   4},
    [TTC_TYPE_I64]     = {"i64",     1,   8},
    [TTC_TYPE_F64]     = {"f64",     1,   8},
    [TTC_TYPE_IQ1_M]   = {"iq1_m",   256, 56},
    [TTC_TYPE_BF16]    = {"bf16",    1,   2},
    [TTC_TYPE_TQ1_0]   = {"tq1_0",   256, 54},
    [TTC_TYPE_TQ2_0]   = {"tq2_0",   256, 66},
    [TTC_TYPE_MXFP4]   = {"mxfp4",   32,  17},
    [TTC_TYPE_NVFP4]   = {"nvfp4",   64,  36},
    [TTC_TYPE_Q1_0]    = {"q1_0",    128, 18},
    [TTC_TYPE_Q2_0]    = {"q2_0",    64,  18},
};

static bool known(int type) { return type >= 0 && type < TTC_TYPE_COUNT && traits[type].block; }

const char *ttc_type_name(int type) { return known(type) ? traits[type].name : "unknown"; }
int64_t ttc_type_block_size(int type) { return known(type) ? traits[type].block : 0; }
size_t ttc_type_block_bytes(int type) { return known(type) ? (size_t)traits[type].bytes : 0; }

size_t ttc_type_row_bytes(int type, int64_t n) {
    if (!known(type) || n < 0 || n % traits[type].block) return 0;
    return (size_t)(n / traits[type].block) * (size_t)traits[type].bytes;
}

bool ttc_type_supported(int type) {
    switch (type) {
    case TTC_TYPE_F32: case TTC_TYPE_F16: case TTC_TYPE_BF16: case TTC_TYPE_Q8_0:
    case TTC_TYPE_Q4_0: case TTC_TYPE_Q4_K: case TTC_TYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

/* ---- decoders ---- */

void ttc_dequantize_row_q8_0(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / TTC_QK8_0; i++, p += sizeof(ttc_block_q8_0)) {
        ttc_block_q8_0 b;
        memcpy(&b, p, sizeof b);
        float d = ttc_fp16_to_f32(b.d);
        for (int j = 0; j < TTC_QK8_0; j++) *dst++ = d * b.qs[j];
    }
}

void ttc_dequantize_row_q4_0(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / TTC_QK4_0; i++, p += sizeof(ttc_block_q4_0), dst += TTC_QK4_0) {
        ttc_block_q4_0 b;
        memcpy(&b, p, sizeof b);
        float d = ttc_fp16_to_f32(b.d);
        for (int j = 0; j < TTC_QK4_0 / 2; j++) {
            dst[j]      = d * ((b.qs[j] & 0xF) - 8);
            dst[j + 16] = d * ((b.qs[j] >> 4) - 8);
        }
    }
}

void ttc_dequantize_row_q4_k(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / TTC_QK_K; i++, p += sizeof(ttc_block_q4_k)) {
        ttc_block_q4_k b;
        memcpy(&b, p, sizeof b);
        float d = ttc_fp16_to_f32(b.d), dmin = ttc_fp16_to_f32(b.dmin);
        const uint8_t *q = b.qs;
        for (int k = 0; k < 4; k++, q += 32) {
            uint8_t sc, m;
            ttc_q4k_scale_min(2 * k, b.scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            ttc_q4k_scale_min(2 * k + 1, b.scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *dst++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *dst++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void ttc_dequantize_row_q6_k(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / TTC_QK_K; i++, p += sizeof(ttc_block_q6_k)) {
        ttc_block_q6_k b;
        memcpy(&b, p, sizeof b);
        float d = ttc_fp16_to_f32(b.d);
        /* Two halves of 128: ql[64], qh[32], scales[8] each. */
        for (int h = 0; h < 2; h++, dst += 128) {
            const uint8_t *ql = b.ql + 64 * h, *qh = b.qh + 32 * h;
            const int8_t *sc = b.scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                int s = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l]      = d * sc[s] * q1;
                dst[l + 32] = d * sc[s + 2] * q2;
                dst[l + 64] = d * sc[s + 4] * q3;
                dst[l + 96] = d * sc[s + 6] * q4;
            }
        }
    }
}

static void dequantize_row_q8_k(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / TTC_QK_K; i++, p += sizeof(ttc_block_q8_k)) {
        float d;
        memcpy(&d, p, 4);
        const int8_t *q = (const int8_t *)(p + 4);
        for (int j = 0; j < TTC_QK_K; j++) *dst++ = d * q[j];
    }
}

/* ---- encoders ---- */

/* Round half away from zero, as roundf (ggml's Q8_0 rounding), for
 * |x| < 2^23 without a libm call: x - trunc(x) is exact there. */
static inline int round_int(float x) {
    int i = (int)x;
    float f = x - (float)i;
    return i + (f >= 0.5f) - (f <= -0.5f);
}

/* Round half to even, as lrintf in the default mode, after clamping x to
 * [lo, hi] (|lo|, |hi| < 2^22): adding 1.5 * 2^23 leaves the rounded
 * integer in the low mantissa bits. */
static inline int round_clamp(float x, float lo, float hi) {
    float v = (x < lo ? lo : x > hi ? hi : x) + 12582912.0f;
    int32_t b;
    memcpy(&b, &v, 4);
    return (b & 0x7FFFFF) - 0x400000;
}

void ttc_quantize_row_q8_0(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / TTC_QK8_0; i++, src += TTC_QK8_0, p += sizeof(ttc_block_q8_0)) {
        float amax = 0;
        for (int j = 0; j < TTC_QK8_0; j++) amax = fmaxf(amax, fabsf(src[j]));
        float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        ttc_block_q8_0 b;
        b.d = ttc_f32_to_fp16(d);
        for (int j = 0; j < TTC_QK8_0; j++) b.qs[j] = (int8_t)round_int(src[j] * id);
        memcpy(p, &b, sizeof b);
    }
}

void ttc_quantize_row_q4_0(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / TTC_QK4_0; i++, src += TTC_QK4_0, p += sizeof(ttc_block_q4_0)) {
        /* The value of largest magnitude maps to q = 0 (i.e. -8 * d). */
        float amax = 0, max = 0;
        for (int j = 0; j < TTC_QK4_0; j++)
            if (fabsf(src[j]) > amax) { amax = fabsf(src[j]); max = src[j]; }
        float d = max / -8, id = d ? 1.0f / d : 0.0f;
        ttc_block_q4_0 b;
        b.d = ttc_f32_to_fp16(d);
        for (int j = 0; j < TTC_QK4_0 / 2; j++) {
            int q0 = (int)(src[j] * id + 8.5f), q1 = (int)(src[j + 16] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            b.qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
        memcpy(p, &b, sizeof b);
    }
}

/* Fits x[i] ~ s * q[i] - m with q in [0, nmax], s >= 0, m >= 0, searching a
 * range of grid scales and refitting (s, m) by least squares for each
 * candidate quantization. Writes the best q, returns s, sets *m. */
static float fit_scale_min(const float *x, int n, int nmax, uint8_t *q, float *m_out) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) { lo = fminf(lo, x[i]); hi = fmaxf(hi, x[i]); }
    if (lo > 0) lo = 0;             /* the offset can only shift down */
    if (hi == lo) {
        for (int i = 0; i < n; i++) q[i] = 0;
        *m_out = -lo;
        return 0;
    }
    float best_err = INFINITY, best_s = 0, best_m = -lo;
    uint8_t cand[256];
    double sxx = 0, sx = 0;
    for (int i = 0; i < n; i++) { sxx += (double)x[i] * x[i]; sx += x[i]; }
    for (int step = -10; step <= 10; step++) {
        float is0 = (nmax + 0.1f * step) / (hi - lo);
        if (!(is0 > 0) || isinf(is0)) continue;
        int sl = 0, sl2 = 0;
        double slx = 0;
        for (int i = 0; i < n; i++) {
            int l = round_clamp((x[i] - lo) * is0, 0, (float)nmax);
            cand[i] = (uint8_t)l;
            sl += l; sl2 += l * l; slx += (double)l * x[i];
        }
        /* Least squares for x = s*l + b, then enforce b <= 0 (m = -b >= 0). */
        double det = (double)n * sl2 - (double)sl * sl, s, b;
        if (det > 0) {
            s = (n * slx - sl * sx) / det;
            b = (sx - s * sl) / n;
        } else {
            s = 1 / is0; b = lo;
        }
        if (b > 0) { b = 0; s = sl2 > 0 ? slx / sl2 : 0; }
        if (s < 0) { s = 0; b = fmin(sx / n, 0); }
        /* sum (s*l + b - x)^2, expanded over the sums already at hand */
        double err = sxx - 2 * s * slx - 2 * b * sx + s * s * sl2 + 2 * s * b * sl + n * b * b;
        if (err < best_err) {
            best_err = (float)err; best_s = (float)s; best_m = (float)-b;
            memcpy(q, cand, (size_t)n);
        }
    }
    *m_out = best_m;
    return best_s;
}

/* Quantizes 32 weights to x ~ ds*q - dm (q in 0..15); returns the squared
 * error and, if L is not NULL, stores q. */
static float q4k_subblock(const float *x, float ds, float dm, uint8_t *L) {
    float err = 0, ids = ds > 0 ? 1 / ds : 0;
    for (int l = 0; l < 32; l++) {
        int q = round_clamp((x[l] + dm) * ids, 0, 15);
        if (L) L[l] = (uint8_t)q;
        float r = ds * q - dm - x[l];
        err += r * r;
    }
    return err;
}

void ttc_quantize_row_q4_k(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / TTC_QK_K; i++, src += TTC_QK_K, p += sizeof(ttc_block_q4_k)) {
        float scales[8], mins[8], max_s = 0, max_m = 0;
        uint8_t L[TTC_QK_K];
        for (int j = 0; j < 8; j++) {
            scales[j] = fit_scale_min(src + 32 * j, 32, 15, L + 32 * j, &mins[j]);
            max_s = fmaxf(max_s, scales[j]);
            max_m = fmaxf(max_m, mins[j]);
        }
        ttc_block_q4_k b;
        memset(&b, 0, sizeof b);
        b.d = ttc_f32_to_fp16(max_s / 63);
        b.dmin = ttc_f32_to_fp16(max_m / 63);
        float d = ttc_fp16_to_f32(b.d), dmin = ttc_fp16_to_f32(b.dmin);
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) {
            int a = d > 0 ? (int)lrintf(scales[j] / d) : 0;
            int c = dmin > 0 ? (int)lrintf(mins[j] / dmin) : 0;
            sc[j] = (uint8_t)(a < 0 ? 0 : a > 63 ? 63 : a);
            mn[j] = (uint8_t)(c < 0 ? 0 : c > 63 ? 63 : c);
        }
        /* Requantize against the scales as they will be decoded, trying the
         * neighbouring 6-bit scale and min codes too. */
        for (int j = 0; j < 8; j++) {
            float best = INFINITY;
            int bs = sc[j], bm = mn[j];
            for (int a = sc[j] - 1; a <= sc[j] + 1; a++)
                for (int c = mn[j] - 1; c <= mn[j] + 1; c++) {
                    if (a < 0 || a > 63 || c < 0 || c > 63) continue;
                    float err = q4k_subblock(src + 32 * j, d * a, dmin * c, NULL);
                    if (err < best) { best = err; bs = a; bm = c; }
                }
            sc[j] = (uint8_t)bs;
            mn[j] = (uint8_t)bm;
            q4k_subblock(src + 32 * j, d * bs, dmin * bm, L + 32 * j);
        }
        for (int j = 0; j < 4; j++) {
            b.scales[j]     = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
            b.scales[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
            b.scales[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
        }
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                b.qs[32 * k + l] = (uint8_t)(L[64 * k + l] | (L[64 * k + 32 + l] << 4));
        memcpy(p, &b, sizeof b);
    }
}

/* Fits x[i] ~ s * q[i] with q in [-32, 31]; returns s (may be negative, so
 * the extreme value can use -32), writes q + 32. */
static float fit_scale_sym(const float *x, int n, uint8_t *q) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (amax == 0) {
        for (int i = 0; i < n; i++) q[i] = 32;
        return 0;
    }
    float best_err = INFINITY, best_s = 0;
    uint8_t cand[16];
    double sxx = 0;
    for (int i = 0; i < n; i++) sxx += (double)x[i] * x[i];
    for (int step = -9; step <= 9; step++) {
        float is = -(32 + 0.1f * step) / max;
        double slx = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            int l = round_clamp(is * x[i], -32, 31);
            cand[i] = (uint8_t)(l + 32);
            slx += (double)l * x[i]; sl2 += (double)l * l;
        }
        double s = sl2 > 0 ? slx / sl2 : 0, err = sxx - s * slx;  /* sum (s*l - x)^2 at the optimal s */
        if (err < best_err) { best_err = (float)err; best_s = (float)s; memcpy(q, cand, (size_t)n); }
    }
    return best_s;
}

void ttc_quantize_row_q6_k(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / TTC_QK_K; i++, src += TTC_QK_K, p += sizeof(ttc_block_q6_k)) {
        float scales[16], amax = 0, max = 0;
        uint8_t L[TTC_QK_K];
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_scale_sym(src + 16 * j, 16, L + 16 * j);
            if (fabsf(scales[j]) > amax) { amax = fabsf(scales[j]); max = scales[j]; }
        }
        ttc_block_q6_k b;
        memset(&b, 0, sizeof b);
        /* int8 scales in [-128, 127]: the largest maps to -128. */
        b.d = ttc_f32_to_fp16(max / -128);
        float d = ttc_fp16_to_f32(b.d);
        for (int j = 0; j < 16; j++) {
            int s = d != 0 ? (int)lrintf(scales[j] / d) : 0;
            b.scales[j] = (int8_t)(s < -128 ? -128 : s > 127 ? 127 : s);
            float ds = d * b.scales[j], ids = ds != 0 ? 1 / ds : 0;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(round_clamp(src[16 * j + l] * ids, -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = b.ql + 64 * h, *qh = b.qh + 32 * h;
            const uint8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l]      = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                  ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
        memcpy(p, &b, sizeof b);
    }
}

void ttc_quantize_row_q8_k(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / TTC_QK_K; i++, src += TTC_QK_K, p += sizeof(ttc_block_q8_k)) {
        ttc_block_q8_k b;
        float amax = 0, max = 0;
        for (int j = 0; j < TTC_QK_K; j++)
            if (fabsf(src[j]) > amax) { amax = fabsf(src[j]); max = src[j]; }
        if (amax == 0) {
            memset(&b, 0, sizeof b);
        } else {
            float is = -127.0f / max;
            for (int j = 0; j < TTC_QK_K; j++) {
                b.qs[j] = (int8_t)round_clamp(is * src[j], -128, 127);
            }
            for (int j = 0; j < TTC_QK_K / 16; j++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += b.qs[16 * j + l];
                b.bsums[j] = (int16_t)s;
            }
            b.d = 1 / is;
        }
        memcpy(p, &b, sizeof b);
    }
}

/* ---- checked entry points ---- */

static int check_row(int type, int64_t n, ttc_err *e) {
    if (!known(type))
        return ttc_err_set(e, TTC_EUNSUPPORTED, "tensor type %d is unknown", type);
    if (!ttc_type_supported(type) && type != TTC_TYPE_Q8_K)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "tensor type %s (%d) is not supported by ttc",
                           ttc_type_name(type), type);
    if (n < 0 || n % traits[type].block)
        return ttc_err_set(e, TTC_EINVAL, "%s row of %lld weights: not a multiple of the block size %d",
                           ttc_type_name(type), (long long)n, traits[type].block);
    return TTC_OK;
}

int ttc_dequantize_row(int type, const void *src, float *dst, int64_t n, ttc_err *e) {
    int rc = check_row(type, n, e);
    if (rc) return rc;
    const uint8_t *p = src;
    switch (type) {
    case TTC_TYPE_F32:  memcpy(dst, src, (size_t)n * 4); break;
    case TTC_TYPE_F16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); dst[i] = ttc_fp16_to_f32(h); }
        break;
    case TTC_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); dst[i] = ttc_bf16_to_f32(h); }
        break;
    case TTC_TYPE_Q8_0: ttc_dequantize_row_q8_0(src, dst, n); break;
    case TTC_TYPE_Q4_0: ttc_dequantize_row_q4_0(src, dst, n); break;
    case TTC_TYPE_Q4_K: ttc_dequantize_row_q4_k(src, dst, n); break;
    case TTC_TYPE_Q6_K: ttc_dequantize_row_q6_k(src, dst, n); break;
    case TTC_TYPE_Q8_K: dequantize_row_q8_k(src, dst, n); break;
    }
    return TTC_OK;
}

int ttc_quantize_row(int type, const float *src, void *dst, int64_t n, ttc_err *e) {
    int rc = check_row(type, n, e);
    if (rc) return rc;
    if (type != TTC_TYPE_F32 && type != TTC_TYPE_F16 && type != TTC_TYPE_BF16)
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(src[i]))
                return ttc_err_set(e, TTC_ENUMERIC, "quantizing to %s: element %lld is %g",
                                   ttc_type_name(type), (long long)i, (double)src[i]);
    uint8_t *p = dst;
    switch (type) {
    case TTC_TYPE_F32:  memcpy(dst, src, (size_t)n * 4); break;
    case TTC_TYPE_F16:
        for (int64_t i = 0; i < n; i++) { uint16_t h = ttc_f32_to_fp16(src[i]); memcpy(p + 2 * i, &h, 2); }
        break;
    case TTC_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) { uint16_t h = ttc_f32_to_bf16(src[i]); memcpy(p + 2 * i, &h, 2); }
        break;
    case TTC_TYPE_Q8_0: ttc_quantize_row_q8_0(src, dst, n); break;
    case TTC_TYPE_Q4_0: ttc_quantize_row_q4_0(src, dst, n); break;
    case TTC_TYPE_Q4_K: ttc_quantize_row_q4_k(src, dst, n); break;
    case TTC_TYPE_Q6_K: ttc_quantize_row_q6_k(src, dst, n); break;
    case TTC_TYPE_Q8_K: ttc_quantize_row_q8_k(src, dst, n); break;
    }
    return TTC_OK;
}
