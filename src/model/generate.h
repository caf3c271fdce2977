/* Batched generation: many sequences sampled in lockstep, one ttc_decode
 * per step over every unfinished request.
 *
 * Convention: the last token of a sequence's history stays pending (not in
 * the KV cache) between calls. A call first computes all other pending
 * tokens (prefill, in chunks), then each step decodes the one pending token
 * of every unfinished request, samples the next token from its logits and
 * appends it (pending). So when a request finishes, its last sampled token
 * (EOS included) is in the history but not in the KV cache, and the next
 * call -- or a fork, or a PRM appending a step -- continues from it without
 * recomputing anything else. (If a sequence arrives with nothing pending,
 * its last cached token is dropped from the cache and recomputed once, to
 * get the logits to sample from.)
 *
 * Finish reasons: EOS (an end-of-generation token was sampled; its id is
 * the last of tokens[], its text is not in text), STOP (text contains a stop
 * string: text ends just before it, or just after it with include_stop;
 * found across token boundaries since it is searched in the detokenized
 * text), LENGTH (max_tokens sampled, or the context is full).
 *
 * Reproducibility: each request samples with its own rng (from seed and
 * stream, or the caller's), one draw per token, so a seed gives the same
 * tokens for the same logits whatever else is in the batch. (Quantized
 * kernels may round a large batch differently from a small one, so logits
 * -- and after a while the tokens -- can differ at the 1e-3 level between
 * batch compositions; f32/f16/bf16 weights differ only in summation order.)
 * The requests of a step are sampled in parallel on the context's pool. */
#ifndef TTC_MODEL_GENERATE_H
#define TTC_MODEL_GENERATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/rng.h"
#include "model/ctx.h"
#include "model/sample.h"

typedef enum ttc_finish {
    TTC_FINISH_NONE = 0,   /* not finished (cancelled or failed mid-way) */
    TTC_FINISH_STOP,
    TTC_FINISH_EOS,
    TTC_FINISH_LENGTH,
} ttc_finish;

typedef struct ttc_gen_request {
    /* ---- inputs ---- */
    int                seq;          /* live sequence with at least one token */
    int                max_tokens;   /* tokens to sample at most (>= 0) */
    const char *const *stop;         /* n_stop stop strings (non-empty) */
    int                n_stop;
    bool               include_stop; /* keep the matched stop string in text */
    ttc_sample_params  sp;
    uint64_t           seed, stream; /* rng = ttc_rng_split(seed, stream) ... */
    ttc_rng           *rng;          /* ... unless this caller-owned rng is given */

    /* ---- outputs (malloc'd; ttc_gen_request_free releases them) ---- */
    int32_t *tokens;           /* sampled ids, n_tokens */
    float   *logprobs;         /* log p(token) at temperature 1 */
    float   *logprobs_sampled; /* log p(token) in the distribution sampled from */
    int      n_tokens;
    char    *text;             /* NUL-terminated detokenized text (stop handling applied) */
    size_t   text_len;
    int      finish;           /* ttc_finish */
    int      n_prompt;         /* sequence length when the call started */
    int      n_prefill;        /* pending tokens computed before the first step */
    int      n_decoded;        /* tokens this request pushed through the model in this call */

    /* ---- internal ---- */
    size_t   text_cap, emitted;
} ttc_gen_request;

/* Streaming: called after each step for every request that sampled a token,
 * with the text that became final (can no longer be cut by a stop string;
 * complete UTF-8 characters only; may be empty). The concatenation of all
 * deltas of a request is its final text. req->finish is set on its last
 * call. */
typedef void (*ttc_gen_stream_fn)(void *ud, int index, const ttc_gen_request *req, const char *delta,
                                  size_t len);

typedef struct ttc_gen_opts {
    bool (*cancel)(void *ud);      /* checked before each step; true stops with TTC_ECANCELED */
    void *cancel_ud;
    ttc_gen_stream_fn on_text;
    void *stream_ud;
} ttc_gen_opts;

/* A request for seq with greedy sampling and no limits set (max_tokens 0):
 * fill in what you need. */
ttc_gen_request ttc_gen_request_make(int seq, int max_tokens, ttc_sample_params sp, uint64_t seed);
/* Frees a request's outputs (inputs untouched) and zeroes them. */
void ttc_gen_request_free(ttc_gen_request *r);

/* Runs reqs[0..n) (distinct sequences; n <= the context's n_outputs_max) to
 * completion in lockstep. The model must have a tokenizer. Outputs of
 * earlier calls on the same request structs are freed first. On
 * cancellation returns TTC_ECANCELED with the partial outputs in place
 * (finish NONE for unfinished requests). opts may be NULL. */
int ttc_generate(ttc_ctx *c, ttc_gen_request *reqs, int n, const ttc_gen_opts *opts, ttc_err *e);
#endif
