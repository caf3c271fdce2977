/* Transformer models loaded from GGUF: llama (Llama 2/3.x, Mistral), qwen2,
 * qwen3. Weights are pointers into the file's mmap; nothing is copied.
 *
 * Differences between the architectures, as this module implements them:
 *  - llama: rope pairs are adjacent dims (2i, 2i+1) ("normal" rope: GGUF
 *    llama q/k weights are permuted so); optional rope_freqs.weight (Llama 3
 *    per-frequency divisors); optional q/k/v biases.
 *  - qwen2: q/k/v biases; NEOX rope, pairs (i, i + rope_dim/2).
 *  - qwen3: per-head RMS norms attn_q_norm/attn_k_norm on q and k before
 *    rope; NEOX rope; head size from attention.key_length (may differ from
 *    n_embd / n_head).
 * All: RMSNorm pre-norm blocks, GQA attention, SwiGLU FFN, final norm,
 * output projection (tied to token_embd when output.weight is absent). */
#ifndef TTC_MODEL_MODEL_H
#define TTC_MODEL_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ttc.h"

typedef struct ttc_gguf ttc_gguf;
typedef struct ttc_tokenizer ttc_tokenizer;

typedef enum ttc_arch { TTC_ARCH_LLAMA, TTC_ARCH_QWEN2, TTC_ARCH_QWEN3 } ttc_arch;

/* Hyperparameters, read from the <arch>.* keys. */
typedef struct ttc_model_config {
    ttc_arch arch;
    char  arch_name[16];
    int   n_vocab;
    int   n_ctx_train;   /* context_length */
    int   n_embd;
    int   n_layer;
    int   n_ff;
    int   n_head;
    int   n_head_kv;
    int   head_dim;      /* attention.key_length, default n_embd / n_head */
    int   rope_dim;      /* rope.dimension_count, default head_dim */
    float norm_eps;
    float rope_base;
    float rope_scale;    /* linear rope scaling factor (positions divided by it); 1 = none */
    bool  rope_neox;     /* pairs (i, i + rope_dim/2) instead of (2i, 2i+1) */
    bool  tied_output;   /* output projection uses token_embd */
} ttc_model_config;

/* One weight matrix [rows][cols] (GGUF ne[0] = cols) of a ggml type, or a
 * vector (rows = 1). data == NULL means absent (optional tensors). */
typedef struct ttc_wt {
    const void *data;
    int     type;
    int64_t rows, cols;
} ttc_wt;

typedef struct ttc_layer_weights {
    ttc_wt attn_norm;             /* [n_embd] f32 */
    ttc_wt wq, wk, wv, wo;        /* [n_head*hd][n_embd], [n_kv*hd][n_embd] x2, [n_embd][n_head*hd] */
    ttc_wt bq, bk, bv;            /* biases (qwen2; optional for llama) */
    ttc_wt q_norm, k_norm;        /* [head_dim] (qwen3) */
    ttc_wt ffn_norm;              /* [n_embd] */
    ttc_wt w_gate, w_up, w_down;  /* [n_ff][n_embd] x2, [n_embd][n_ff] */
} ttc_layer_weights;

typedef struct ttc_model_weights {
    ttc_wt tok_embd;              /* [n_vocab][n_embd] */
    ttc_wt output_norm;           /* [n_embd] */
    ttc_wt output;                /* [n_vocab][n_embd] (== tok_embd when tied) */
    ttc_wt rope_freqs;            /* [rope_dim/2] f32 divisors (llama 3), optional */
    ttc_layer_weights *layers;    /* n_layer */
} ttc_model_weights;

typedef struct ttc_model {
    ttc_model_config  cfg;
    ttc_model_weights w;
    ttc_gguf         *gguf;       /* owns the mmap */
    ttc_tokenizer    *tok;        /* NULL if the file has no tokenizer */
    float            *norm_f32;   /* f32 copies of norm/bias vectors stored in other types */
    int64_t           n_params;
    char              path[512];
} ttc_model;

typedef struct ttc_model_params {
    bool no_tokenizer;            /* skip loading the tokenizer */
} ttc_model_params;

/* Opens a GGUF model file, validates architecture, hyperparameters and
 * every tensor's presence and shape, and loads its tokenizer. Errors name
 * the file and the offending key or tensor (all missing tensors at once).
 * params may be NULL. The caller frees *out with ttc_model_free. */
int  ttc_model_load(const char *path, const ttc_model_params *params, ttc_model **out, ttc_err *e);
/* Same, from an already open GGUF file; takes ownership of g (also on error). */
int  ttc_model_from_gguf(ttc_gguf *g, const char *path, const ttc_model_params *params,
                         ttc_model **out, ttc_err *e);
void ttc_model_free(ttc_model *m);

/* Accessors. */
static inline int ttc_model_n_vocab(const ttc_model *m) { return m->cfg.n_vocab; }
static inline int ttc_model_n_embd(const ttc_model *m) { return m->cfg.n_embd; }
static inline int ttc_model_n_layer(const ttc_model *m) { return m->cfg.n_layer; }
static inline int ttc_model_n_ctx_train(const ttc_model *m) { return m->cfg.n_ctx_train; }
static inline int64_t ttc_model_n_params(const ttc_model *m) { return m->n_params; }
static inline const ttc_tokenizer *ttc_model_tokenizer(const ttc_model *m) { return m->tok; }
static inline const char *ttc_model_arch_name(const ttc_model *m) { return m->cfg.arch_name; }

/* "llama", "qwen2", "qwen3": the supported names, comma separated. */
const char *ttc_model_supported_archs(void);
/* Parses an architecture name; TTC_EUNSUPPORTED (naming it and listing the
 * supported ones) otherwise. */
int ttc_arch_from_name(const char *name, ttc_arch *out, ttc_err *e);
#endif
