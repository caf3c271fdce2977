/* 8-wide float vectors (GCC/Clang vector extensions) for the model's own
 * small loops: attention, SwiGLU and sampling. Functions using them are
 * compiled for AVX-512, AVX2+FMA and baseline x86-64 with target_clones, so
 * one source serves every CPU. Vectors never cross a function boundary by
 * value (that would change the ABI between clones): loads, stores and sums
 * are macros, the exp helper works in place. Internal to src/model. */
#ifndef TTC_MODEL_VEC_H
#define TTC_MODEL_VEC_H
#include <stdint.h>

typedef float   v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
/* unaligned, may alias float memory */
typedef float   v8f_u __attribute__((vector_size(32), aligned(4), may_alias));

/* x86-64-v4 = AVX-512, v3 = AVX2 + FMA. GCC's -std=c11 turns FMA contraction
 * off; these loops want a*b+c fused (clang fuses within an expression). */
#if defined(__GNUC__) && !defined(__clang__)
#define TTC_VEC_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), optimize("fp-contract=fast")))
#else
#define TTC_VEC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

#define V8_LOAD(p)     (*(const v8f_u *)(const void *)(p))
#define V8_STORE(p, v) (*(v8f_u *)(void *)(p) = (v))
#define V8_SET1(x)     ((v8f){0} + (x))
/* horizontal sum of a vector variable (evaluated several times) */
#define V8_SUM(v)      ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))

/* *px = exp(*px) for lanes <= 0 (within ~2 ulp); exactly 0 below -87 (and
 * for -inf): x = n ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor
 * polynomial (error < 2e-7), times 2^n built in the exponent bits. */
static inline void v8_exp_neg_inplace(v8f *px) {
    v8f x = *px;
    v8i dead = x < -87.0f;
    v8f xc = (v8f)(((v8i)x & ~dead) | ((v8i)V8_SET1(-87.0f) & dead));
    v8f t = xc * 1.44269504f + 12582912.0f;             /* round(x / ln2) via the 1.5*2^23 trick */
    v8f n = t - 12582912.0f;
    v8f r = xc - n * 0.693145752f - n * 1.42860677e-6f;  /* ln2 split in two for accuracy */
    v8f p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    v8i ni = __builtin_convertvector(n, v8i);
    v8f scale = (v8f)((ni + 127) << 23);
    *px = (v8f)((v8i)(p * scale) & ~dead);
}
#define V8_EXP_NEG(x) __extension__({ v8f v8_e_ = (x); v8_exp_neg_inplace(&v8_e_); v8_e_; })
#endif
