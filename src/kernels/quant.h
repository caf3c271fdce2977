/* Tensor element types and reference (plain C) quantization.
 *
 * Type ids are ggml's (the numbers stored in GGUF tensor infos), as of
 * llama.cpp de3ff81 (node-llama-cpp 3.22.1); test_conformance checks the
 * table against that ggml. Block
 * layouts below are bit-exact with GGUF/ggml. ttc computes with seven types:
 * F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K; the traits of every other known
 * ggml type are still listed so a file holding them can be opened and sized.
 *
 *   Q8_0  32 weights:  f16 d, int8 q[32]                x = q * d
 *   Q4_0  32 weights:  f16 d, 16 bytes nibbles           x = (q - 8) * d
 *         byte j: low nibble = element j, high nibble = element j + 16
 *   Q4_K  256 weights: f16 d, f16 dmin, 12 bytes of 6-bit (scale, min) for
 *         8 sub-blocks of 32, 128 bytes nibbles          x = d*sc*q - dmin*m
 *         qs[32*k + l]: low nibble = element 64k + l, high = 64k + 32 + l
 *   Q6_K  256 weights: ql[128] low 4 bits, qh[64] high 2 bits, int8
 *         scales[16] (one per 16 weights), f16 d          x = d*sc*(q - 32)
 */
#ifndef TTC_KERNELS_QUANT_H
#define TTC_KERNELS_QUANT_H
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "ttc.h"

typedef enum ttc_type {
    TTC_TYPE_F32     = 0,
    TTC_TYPE_F16     = 1,
    TTC_TYPE_Q4_0    = 2,
    TTC_TYPE_Q4_1    = 3,
    TTC_TYPE_Q5_0    = 6,
    TTC_TYPE_Q5_1    = 7,
    TTC_TYPE_Q8_0    = 8,
    TTC_TYPE_Q8_1    = 9,
    TTC_TYPE_Q2_K    = 10,
    TTC_TYPE_Q3_K    = 11,
    TTC_TYPE_Q4_K    = 12,
    TTC_TYPE_Q5_K    = 13,
    TTC_TYPE_Q6_K    = 14,
    TTC_TYPE_Q8_K    = 15,
    TTC_TYPE_IQ2_XXS = 16,
    TTC_TYPE_IQ2_XS  = 17,
    TTC_TYPE_IQ3_XXS = 18,
    TTC_TYPE_IQ1_S   = 19,
    TTC_TYPE_IQ4_NL  = 20,
    TTC_TYPE_IQ3_S   = 21,
    TTC_TYPE_IQ2_S   = 22,
    TTC_TYPE_IQ4_XS  = 23,
    TTC_TYPE_I8      = 24,
    TTC_TYPE_I16     = 25,
    TTC_TYPE_I32     = 26,
    TTC_TYPE_I64     = 27,
    TTC_TYPE_F64     = 28,
    TTC_TYPE_IQ1_M   = 29,
    TTC_TYPE_BF16    = 30,
    TTC_TYPE_TQ1_0   = 34,
    TTC_TYPE_TQ2_0   = 35,
    TTC_TYPE_MXFP4   = 39,
    TTC_TYPE_NVFP4   = 40,
    TTC_TYPE_Q1_0    = 41,
    TTC_TYPE_Q2_0    = 42,
    TTC_TYPE_COUNT   = 43,  /* ids >= this (and the gaps) are unknown */
} ttc_type;

#define TTC_QK8_0 32
#define TTC_QK4_0 32
#define TTC_QK_K  256

typedef struct ttc_block_q8_0 {
    uint16_t d;                 /* fp16 scale */
    int8_t   qs[TTC_QK8_0];
} ttc_block_q8_0;
static_assert(sizeof(ttc_block_q8_0) == 34, "Q8_0 block is 34 bytes");

typedef struct ttc_block_q4_0 {
    uint16_t d;                 /* fp16 scale */
    uint8_t  qs[TTC_QK4_0 / 2];
} ttc_block_q4_0;
static_assert(sizeof(ttc_block_q4_0) == 18, "Q4_0 block is 18 bytes");

typedef struct ttc_block_q4_k {
    uint16_t d;                 /* fp16 super-block scale of the scales */
    uint16_t dmin;              /* fp16 super-block scale of the mins */
    uint8_t  scales[12];        /* 8 x (6-bit scale, 6-bit min), see below */
    uint8_t  qs[TTC_QK_K / 2];
} ttc_block_q4_k;
static_assert(sizeof(ttc_block_q4_k) == 144, "Q4_K block is 144 bytes");

typedef struct ttc_block_q6_k {
    uint8_t  ql[TTC_QK_K / 2];  /* low 4 bits */
    uint8_t  qh[TTC_QK_K / 4];  /* high 2 bits */
    int8_t   scales[TTC_QK_K / 16];
    uint16_t d;                 /* fp16 super-block scale */
} ttc_block_q6_k;
static_assert(sizeof(ttc_block_q6_k) == 210, "Q6_K block is 210 bytes");

/* Q8_K: the activation format of ggml's K-quant dot products (not a file
 * type ttc reads); offered for kernels that want it. */
typedef struct ttc_block_q8_k {
    float    d;
    int8_t   qs[TTC_QK_K];
    int16_t  bsums[TTC_QK_K / 16];  /* sum of each group of 16 qs */
} ttc_block_q8_k;
static_assert(sizeof(ttc_block_q8_k) == 292, "Q8_K block is 292 bytes");

/* Q4_K sub-block j (0..7) scale and min from the 12 packed bytes:
 * j < 4: sc = s[j] & 63, m = s[j+4] & 63;
 * j >= 4: sc = (s[j+4] & 15) | ((s[j-4] >> 6) << 4),
 *         m  = (s[j+4] >> 4) | ((s[j]   >> 6) << 4). */
static inline void ttc_q4k_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m  = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m  = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* ---- type traits ---- */

/* ggml's name of a type ("f32", "q4_K", "bf16", ...), or "unknown". */
const char *ttc_type_name(int type);
/* Weights per block (1 for F32/F16/BF16, 32, 256); 0 for unknown ids. */
int64_t ttc_type_block_size(int type);
/* Bytes per block; 0 for unknown ids. */
size_t ttc_type_block_bytes(int type);
/* Bytes of a row of n weights; 0 if the type is unknown, n < 0, or n is not a
 * multiple of the block size. */
size_t ttc_type_row_bytes(int type, int64_t n);
/* True for types ttc computes with: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K. */
bool ttc_type_supported(int type);

/* ---- fp16 / bf16 ---- */

/* IEEE half -> float, exact (subnormals, Inf, NaN preserved). */
static inline float ttc_fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {                     /* subnormal: value = man * 2^-24 */
        float f = (float)man * (1.0f / 16777216.0f);
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* float -> IEEE half, round to nearest even; overflow gives Inf, NaN stays
 * NaN (quiet), tiny values become subnormals or signed zero. */
static inline uint16_t ttc_f32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return sign | 0x7E00 | (uint16_t)((ax >> 13) & 0x3FF);  /* NaN */
    if (ax >= 0x477FF000u) return sign | 0x7C00;  /* rounds to >= 65536 (or Inf) */
    if (ax < 0x38800000u) {                       /* below 2^-14: subnormal half */
        if (ax < 0x33000000u) return sign;        /* < 2^-25: rounds to zero */
        uint32_t e = ax >> 23, m = (ax & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e;                 /* 14..24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t r = ax + 0xFFF + ((ax >> 13) & 1);   /* round mantissa to 10 bits */
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

/* bfloat16 -> float, exact. */
static inline float ttc_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* float -> bfloat16, round to nearest even; NaN stays (quiet) NaN. */
static inline uint16_t ttc_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7FFF + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* ---- rows ---- */

/* Decodes n weights of `type` at src into dst. n must be a multiple of the
 * type's block size; src holds ttc_type_row_bytes(type, n) bytes (any
 * alignment). TTC_EUNSUPPORTED for types ttc does not compute with,
 * TTC_EINVAL for a bad n. e may be NULL. */
int ttc_dequantize_row(int type, const void *src, float *dst, int64_t n, ttc_err *e);

/* Encodes n floats into `type` at dst (ttc_type_row_bytes(type, n) bytes).
 * Q8_0/Q4_0 follow ggml's reference rounding; Q4_K/Q6_K search scales and
 * mins for low squared error. Non-finite input gives TTC_ENUMERIC. Same
 * n/type rules as ttc_dequantize_row. Both also accept Q8_K. */
int ttc_quantize_row(int type, const float *src, void *dst, int64_t n, ttc_err *e);

/* Unchecked per-type reference decoders/encoders (n a multiple of the block
 * size; callers validate). Used by the checked entry points above. */
void ttc_dequantize_row_q8_0(const void *src, float *dst, int64_t n);
void ttc_dequantize_row_q4_0(const void *src, float *dst, int64_t n);
void ttc_dequantize_row_q4_k(const void *src, float *dst, int64_t n);
void ttc_dequantize_row_q6_k(const void *src, float *dst, int64_t n);
void ttc_quantize_row_q8_0(const float *src, void *dst, int64_t n);
void ttc_quantize_row_q4_0(const float *src, void *dst, int64_t n);
void ttc_quantize_row_q4_k(const float *src, void *dst, int64_t n);
void ttc_quantize_row_q6_k(const float *src, void *dst, int64_t n);
void ttc_quantize_row_q8_k(const float *src, void *dst, int64_t n);
#endif
