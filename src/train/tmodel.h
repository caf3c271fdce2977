/* The trainable llama decoder: parameters, activations, forward, backward,
 * AdamW.
 *
 *   tokens -> token_embd -> L x [ x += attn(rmsnorm(x)); x += ffn(rmsnorm(x)) ]
 *          -> rmsnorm -> output (or token_embd when tied) -> logits
 *   attn: q,k,v projections, llama RoPE on adjacent pairs (2i, 2i+1),
 *         causal grouped-query attention (consecutive q heads share a kv
 *         head, as in llama.cpp), output projection.
 *   ffn:  down(silu(gate(x)) * up(x))   (SwiGLU)
 *
 * This is exactly the function llama.cpp's LLM_ARCH_LLAMA graph computes on
 * the exported GGUF (no q/k permutation is needed because training uses the
 * same pairing).
 *
 * All parameters live in one flat f32 buffer described by a table of tensors
 * named as in GGUF; gradients and the AdamW moments are parallel buffers of
 * the same layout. Activations for one (B, T) micro-batch are one more flat
 * buffer, sized once. */
#ifndef TTC_TRAIN_TMODEL_H
#define TTC_TRAIN_TMODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ttc.h"
#include "base/pool.h"
#include "base/rng.h"

/* Hyperparameters (also stored in checkpoints: plain 4-byte fields). */
typedef struct ttc_tconfig {
    int32_t dim, n_layer, n_head, n_kv_head, ff, vocab, ctx, tied;
    float   rope_theta, norm_eps;
} ttc_tconfig;

/* One parameter tensor: GGUF name and shape (ne[0] = fastest dimension, so a
 * matrix [out][in] has ne = {in, out}), its offset in the flat buffer. */
typedef struct ttc_ttensor {
    char    name[48];
    int     n_dims;
    int64_t ne[2];
    size_t  off, n;
    bool    decay;   /* matrices get weight decay; norms do not */
} ttc_ttensor;

/* Pointers of one layer's tensors inside a flat buffer (params or grads). */
typedef struct ttc_tlayer {
    float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *wg, *wu, *wd;
} ttc_tlayer;

/* A micro-batch: B rows of T tokens. tok are inputs; tgt the next-token
 * targets and w their loss weights (0 = not trained on); label the PRM soft
 * labels (< 0: none) for the prm/orm task; pos the RoPE positions; seg the
 * index (within the row) where each token's document starts. */
typedef struct ttc_tbatch {
    int      B, T;
    int32_t *tok, *tgt, *pos, *seg;
    float   *w, *label;
} ttc_tbatch;

typedef struct ttc_tmodel {
    ttc_tconfig   c;
    int           n_tensors;
    ttc_ttensor  *tensors;
    size_t        n_params;
    float        *params, *grads, *m, *v;   /* m, v only after ttc_tmodel_alloc_optim */
    float        *rope;                     /* [ctx][hd/2][cos, sin] */
    /* activations of the current micro-batch shape */
    int           B, T;
    float        *acts;
    size_t        n_acts;
    float        *x, *xn1, *rstd1, *q, *k, *v_, *att, *o, *xmid, *xn2, *rstd2, *g, *u, *h;
    float        *xf, *rstdf, *logits;
    float        *dx, *dxn, *dq, *dk, *dv, *do_, *dg, *du, *dh, *dlogits, *datt;
} ttc_tmodel;

/* Checks a config (positive sizes, dim divisible by heads, even head dim,
 * heads divisible by kv heads, sane limits); the message names the field. */
int ttc_tconfig_check(const ttc_tconfig *c, ttc_err *e);
/* Number of parameters of a config. */
size_t ttc_tconfig_n_params(const ttc_tconfig *c);
/* Bytes ttc_tmodel_new + alloc_acts(B, T) + alloc_optim will allocate. */
size_t ttc_tconfig_mem_bytes(const ttc_tconfig *c, int B, int T, bool optim);
/* Forward FLOPs per token of a sequence of length T (matmuls + attention). */
double ttc_tconfig_flops_per_token(const ttc_tconfig *c, int T);

/* Allocates parameters and gradients (zeroed) and builds the tensor table. */
int ttc_tmodel_new(const ttc_tconfig *c, ttc_tmodel *m, ttc_err *e);
/* Fills parameters: matrices ~ N(0, 0.02), residual output projections
 * (attn_output, ffn_down) scaled by 1/sqrt(2 L), norms = 1. */
void ttc_tmodel_init_random(ttc_tmodel *m, ttc_rng *r);
/* Depth growth: replaces *m by the same model with `extra` layers appended
 * after its last one. The new layers' matrices are random (as
 * ttc_tmodel_init_random) except attn_output and ffn_down, which are zero,
 * so each new layer starts as the identity and the grown model computes
 * exactly what *m did. Layers after the old stack read the old model's
 * final hidden state (its next-token prediction) at every position: a
 * verifier fine-tuned this way can compare what the generator expected
 * with what is written. Needs no optimizer state yet. */
int ttc_tmodel_grow(ttc_tmodel *m, int extra, ttc_rng *r, ttc_err *e);
/* Allocates the AdamW moments (zeroed). */
int ttc_tmodel_alloc_optim(ttc_tmodel *m, ttc_err *e);
/* (Re)allocates activations for micro-batches of B rows x T tokens (T <= ctx). */
int ttc_tmodel_alloc_acts(ttc_tmodel *m, int B, int T, ttc_err *e);
void ttc_tmodel_free(ttc_tmodel *m);

/* Pointers to layer l's tensors inside buf (m->params or m->grads, ...). */
ttc_tlayer ttc_tmodel_layer(const ttc_tmodel *m, float *buf, int l);
/* Index of a tensor by GGUF name, or -1. */
int ttc_tmodel_find(const ttc_tmodel *m, const char *name);

/* Forward pass of b (b->B, b->T must match the allocated activations):
 * fills m->logits [B*T][vocab]. Token ids must be in range (checked). */
int ttc_tmodel_forward(ttc_tmodel *m, ttc_pool *p, const ttc_tbatch *b, ttc_err *e);

/* Loss kinds. */
typedef enum ttc_task { TTC_TASK_SFT = 0, TTC_TASK_PRM = 1, TTC_TASK_ORM = 2 } ttc_task;

/* What one micro-batch contributed. */
typedef struct ttc_tstats {
    double loss;       /* sum of weighted per-token losses */
    int    n_tokens;   /* labelled tokens (SFT: w > 0; PRM: label >= 0) */
    int    n_correct;  /* PRM: labelled rows classified right (p > .5 == y > .5) */
} ttc_tstats;

/* Loss of the forward pass just run. SFT: sum over tokens of
 * scale * w * cross-entropy; PRM/ORM: sum over labelled rows of scale * BCE
 * of softmax([l+, l-])[0] (tok_pos/tok_neg ids) against the label. When
 * want_grad, fills m->dlogits. */
ttc_tstats ttc_tmodel_loss(ttc_tmodel *m, ttc_pool *p, const ttc_tbatch *b, ttc_task task,
                           float scale, int32_t tok_pos, int32_t tok_neg, bool want_grad);

/* Backward pass from m->dlogits (after ttc_tmodel_forward and
 * ttc_tmodel_loss with want_grad): ACCUMULATES into m->grads. */
void ttc_tmodel_backward(ttc_tmodel *m, ttc_pool *p, const ttc_tbatch *b);

/* Zeroes the gradient buffer. */
void ttc_tmodel_zero_grad(ttc_tmodel *m);
/* Global L2 norm of the gradients (double accumulation, fixed order). */
double ttc_tmodel_grad_norm(const ttc_tmodel *m);

/* AdamW hyperparameters. */
typedef struct ttc_adamw {
    float lr, beta1, beta2, eps, weight_decay;
} ttc_adamw;

/* One AdamW step number `t` (1-based) on every parameter, gradients first
 * multiplied by grad_scale (clipping); weight decay only on tensors with
 * decay set. Needs ttc_tmodel_alloc_optim. */
void ttc_tmodel_adamw(ttc_tmodel *m, ttc_pool *p, const ttc_adamw *o, float lr, long t,
                      float grad_scale);

/* Learning rate at step `step` (0-based) of `total`: linear warmup over
 * `warmup` steps to lr, then cosine decay to lr * min_frac at the end. */
float ttc_lr_schedule(float lr, long step, long warmup, long total, float min_frac);
#endif
