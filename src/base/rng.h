/* Deterministic random numbers: xoshiro256** seeded by splitmix64.
 * Every random choice in ttc goes through one of these, so a seed fixes a run. */
#ifndef TTC_RNG_H
#define TTC_RNG_H
#include <stdint.h>

typedef struct ttc_rng { uint64_t s[4]; } ttc_rng;

/* Seeds the generator; any seed (including 0) is fine. */
void     ttc_rng_seed(ttc_rng *r, uint64_t seed);
/* Derives an independent stream: the same (parent seed, stream) pair gives
 * the same numbers, whatever else was drawn from the parent. */
void     ttc_rng_split(ttc_rng *dst, uint64_t seed, uint64_t stream);
uint64_t ttc_rng_u64(ttc_rng *r);
/* Uniform in [0, n); n > 0. Unbiased (rejection). */
uint64_t ttc_rng_below(ttc_rng *r, uint64_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float    ttc_rng_float(ttc_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double   ttc_rng_double(ttc_rng *r);
/* Standard normal (Box-Muller). */
float    ttc_rng_normal(ttc_rng *r);
#endif
