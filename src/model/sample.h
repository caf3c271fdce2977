/* Token sampling: greedy, temperature, top-k, top-p (nucleus), min-p.
 *
 * Order (as in Hugging Face / vLLM): logits are divided by the temperature,
 * then top-k keeps the k most likely tokens, top-p keeps the smallest
 * most-likely prefix whose probability reaches p (renormalised after top-k),
 * min-p keeps tokens with probability >= min_p * (probability of the most
 * likely token), and one token is drawn from what is left, renormalised.
 * Ties are broken by the lower token id, so the kept set is a function of
 * the logits alone. temperature <= 0 means greedy (argmax, lowest id wins).
 *
 * Each draw consumes exactly one ttc_rng_double from the caller's rng, so a
 * sequence that owns its rng gets the same samples for the same logits
 * whatever else runs in the batch. */
#ifndef TTC_MODEL_SAMPLE_H
#define TTC_MODEL_SAMPLE_H
#include <stdbool.h>
#include <stdint.h>
#include "base/rng.h"
#include "ttc.h"

typedef struct ttc_sample_params {
    float temperature; /* <= 0: greedy */
    int   top_k;       /* <= 0: off */
    float top_p;       /* >= 1 (or <= 0): off */
    float min_p;       /* <= 0: off */
} ttc_sample_params;

/* A kept token and its probability in the final (renormalised) distribution. */
typedef struct ttc_cand { float v; int32_t id; } ttc_cand;

/* Scratch for one sampling call at a time, sized once for a vocabulary. */
typedef struct ttc_sampler {
    int       n_vocab;
    ttc_cand *cand;   /* n_vocab entries */
    int       n_cand; /* after ttc_sampler_candidates: the kept set */
    float    *e;      /* n_vocab: exp((logit - max) / temperature) */
} ttc_sampler;

typedef struct ttc_sample_out {
    int32_t token;
    float   logprob;         /* log softmax(logits)[token] at temperature 1 */
    float   logprob_sampled; /* log of its probability in the distribution drawn from (0 for greedy) */
} ttc_sample_out;

/* Allocates scratch for n_vocab > 0 tokens. */
int  ttc_sampler_init(ttc_sampler *s, int n_vocab, ttc_err *e);
void ttc_sampler_free(ttc_sampler *s);

/* Computes the kept set for logits[n_vocab] under p into s->cand[0..n_cand):
 * .id the token, .v its final probability (they sum to 1). Order: by
 * probability (descending, ties by id) when top-k is on; otherwise
 * unspecified but a function of the logits alone. TTC_ENUMERIC if the
 * logits hold NaN or no finite value. Greedy params give the single argmax.
 * Cost: O(n_vocab) (vectorised exp, histogram for top-p) plus sorting the
 * top-k set or the one histogram bucket the top-p cut falls in. */
int  ttc_sampler_candidates(ttc_sampler *s, const float *logits, const ttc_sample_params *p, ttc_err *e);

/* Draws one token from logits[n_vocab] (see the file comment). */
int  ttc_sample(ttc_sampler *s, const float *logits, const ttc_sample_params *p, ttc_rng *rng,
                ttc_sample_out *out, ttc_err *e);

/* log softmax(logits[0..n))[token] at temperature 1. */
float ttc_logprob(const float *logits, int n, int token);

/* Index of the largest logit (lowest index on ties). */
int32_t ttc_argmax(const float *logits, int n);
#endif
