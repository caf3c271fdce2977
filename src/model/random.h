/* Random-weight models with real shapes, written as GGUF files that
 * ttc_model_load (and llama.cpp) read: the hyperparameter keys of the
 * architecture, the tokenizer keys copied from a vocabulary GGUF, and every
 * tensor with the names and shapes of the real model.
 *
 * Weights are uniform with the standard deviation of a sensible init
 * (1/sqrt(fan_in) for projections, smaller for the residual outputs, output
 * logits of standard deviation ~3), norm weights 1 + U(-0.1, 0.1), biases
 * U(-0.1, 0.1) scaled, so logits are neither flat nor one-hot. Each
 * (tensor, row block) draws from its own rng stream: a seed fixes the file
 * whatever the thread count. 2-D weights take the requested type; a tensor
 * whose row length is not a multiple of that type's block falls back to
 * q8_0 (or f16), as real quantized files do; 1-D tensors stay f32. */
#ifndef TTC_MODEL_RANDOM_H
#define TTC_MODEL_RANDOM_H
#include <stdbool.h>
#include <stdint.h>
#include "base/pool.h"
#include "ttc.h"

typedef struct ttc_random_shape {
    const char *name;       /* "qwen2-0.5b", "tiny-llama", ... */
    const char *arch;       /* "llama", "qwen2", "qwen3" */
    int   n_vocab;          /* used when no vocabulary file is given */
    int   n_ctx;
    int   n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim;
    float rope_base, norm_eps;
    bool  tied;             /* no output.weight */
    bool  llama3_rope;      /* write rope_freqs.weight (llama 3 scaling) */
    int   llama3_orig_ctx;  /* original context of the llama 3 scaling */
    float llama3_factor;
} ttc_random_shape;

/* The built-in shape called name, or NULL. */
const ttc_random_shape *ttc_random_shape_find(const char *name);
/* The built-in shape names, comma separated. */
const char *ttc_random_shape_names(void);

typedef struct ttc_random_params {
    const char *vocab_path; /* tokenizer source GGUF; NULL: no tokenizer, shape->n_vocab tokens */
    int         type;       /* ttc_type of the 2-D weights: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K */
    uint64_t    seed;
    ttc_pool   *pool;       /* NULL: caller's thread */
} ttc_random_params;

/* Writes a random model of the given shape to out_path (atomically). */
int ttc_random_model_write(const ttc_random_shape *shape, const ttc_random_params *p, const char *out_path,
                           ttc_err *e);
#endif
