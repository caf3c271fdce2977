/* The training loop, checkpoints and GGUF import/export.
 *
 * One optimizer step = `accum` micro-batches of `batch` rows x `seq` tokens;
 * the loss is the mean over every supervised token (sft) or labelled tag
 * (prm/orm) of the whole step, so accumulation is exact. Gradients are
 * clipped to a global L2 norm, then AdamW with linear warmup and cosine
 * decay. Everything is deterministic for a given seed and thread count.
 *
 * Checkpoint file (little-endian, written atomically: temp file + rename):
 *     ttc_ckpt_header | params f32[n] | adam m f32[n] | adam v f32[n]
 * The header holds the model config, the options that shape the run, the
 * step, the data cursor (the data order is the (seed, epoch) random stream,
 * so cursor + seed is the whole rng state) and the data hash. Resuming
 * continues bit-exactly where the run stopped. */
#ifndef TTC_TRAIN_TRAINER_H
#define TTC_TRAIN_TRAINER_H
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include "ttc.h"
#include "base/pool.h"
#include "tokenizer/tokenizer.h"
#include "train/tdata.h"
#include "train/tmodel.h"

/* Progress report handed to the log callback after each step. */
typedef struct ttc_train_log {
    long   step, steps;        /* step just done (1-based), total */
    float  lr;
    double loss;               /* mean loss of the step */
    double grad_norm;          /* before clipping */
    double acc;                /* prm/orm: fraction of tags classified right; sft: -1 */
    double tok_per_s;          /* tokens (incl. padding) per second, this step */
    double gflops;             /* achieved GFLOP/s this step (6P + attention per token) */
    double elapsed;            /* seconds since this process started training */
    bool   checkpointed;       /* a checkpoint was written after this step */
} ttc_train_log;

typedef struct ttc_train_opts {
    ttc_task task;
    int      batch, seq, accum;         /* rows per micro-batch, tokens per row, micro-batches per step */
    int32_t  steps, warmup;
    float    lr, min_lr_frac, weight_decay, grad_clip, beta1, beta2, eps;
    uint64_t seed;
    int32_t  ckpt_every;                /* steps between checkpoints (0: only at the end) */
    int32_t  stop_at;                   /* 0, or stop (checkpointing) once this step is done;
                                           not stored: the run is the same as without it */
    int32_t  tok_good, tok_bad;         /* prm/orm: ids of "+" and "-" */
    const char *checkpoint;             /* path, or NULL for no checkpoints */
    void   (*on_log)(void *ud, const ttc_train_log *l);
    void    *ud;
} ttc_train_opts;

/* Defaults: batch 8, seq = ctx, accum 1, lr 1e-3, warmup 100, min_lr 0.1,
 * wd 0.1, clip 1.0, betas (0.9, 0.95), eps 1e-8, seed 1, ckpt_every 100. */
ttc_train_opts ttc_train_opts_default(void);

/* Where a run is: optimizer steps done and the data cursor. */
typedef struct ttc_train_state {
    int64_t     step;
    ttc_tcursor cur;
} ttc_train_state;

/* On-disk checkpoint header (640 bytes). */
typedef struct ttc_ckpt_header {
    char        magic[8];        /* "TTCCKPT1" */
    uint32_t    version;         /* 1 */
    uint32_t    task;
    ttc_tconfig config;          /* 40 bytes */
    int32_t     batch, seq, accum, steps, warmup, ckpt_every;
    float       lr, min_lr_frac, weight_decay, grad_clip, beta1, beta2, eps;
    int32_t     tok_good, tok_bad;
    uint32_t    reserved0;
    uint64_t    seed, data_hash, n_params;
    int64_t     step, epoch, index;
    uint8_t     reserved[472];
} ttc_ckpt_header;
static_assert(sizeof(ttc_ckpt_header) == 640, "checkpoint header is 640 bytes");

/* Bytes the run needs (params, grads, AdamW moments, activations); fails
 * with TTC_ENOMEM and a message naming the sizes when above max_bytes (0 =
 * 80 % of physical memory). Call before allocating. */
int ttc_train_check_memory(const ttc_tconfig *c, const ttc_train_opts *o, size_t max_bytes,
                           ttc_err *e);

/* Runs optimizer steps st->step .. o->steps-1 on m (parameters initialised,
 * optimizer moments allocated here if needed). Writes a checkpoint every
 * o->ckpt_every steps and at the end when o->checkpoint is set. A NaN/Inf
 * loss or gradient stops with TTC_ENUMERIC; the last checkpoint on disk is
 * left untouched. */
int ttc_train_run(ttc_tmodel *m, ttc_tdata *d, ttc_pool *p, const ttc_train_opts *o,
                  ttc_train_state *st, ttc_err *e);

/* Mean loss of m over every example of d once (file order, B x T batches):
 * sft cross-entropy per supervised token, prm/orm BCE per labelled tag and
 * the fraction of tags classified right (*acc; -1 for sft). */
int ttc_train_eval(ttc_tmodel *m, ttc_tdata *d, ttc_pool *p, int B, int T, int32_t tok_good,
                   int32_t tok_bad, double *loss, double *acc, ttc_err *e);

/* Writes a checkpoint atomically. */
int ttc_ckpt_save(const char *path, const ttc_tmodel *m, const ttc_train_opts *o,
                  const ttc_train_state *st, uint64_t data_hash, ttc_err *e);
/* Reads a checkpoint: creates *m (params + moments) and fills the run
 * options that shape the run (task, sizes, schedule, seed; callbacks and
 * paths in *o are kept), the state and the data hash it was trained on.
 * Errors name the file and the field. */
int ttc_ckpt_load(const char *path, ttc_tmodel *m, ttc_train_opts *o, ttc_train_state *st,
                  uint64_t *data_hash, ttc_err *e);

/* Writes m as a llama GGUF: general.architecture = llama, every llama.* key
 * the engine and llama.cpp read, the tokenizer keys of tok, matrices as
 * wtype (TTC_TYPE_F32, F16 or Q8_0; a matrix whose rows are not a multiple
 * of 32 falls back to F16 for Q8_0), norms F32. prm_format (NULL for a
 * generator) is stored as ttc.prm.format so verifiers know how to read the
 * model ("ttc" for a PRM, "ttc-orm" for an ORM; see search/prm.h).
 * train_tokens > 0 is stored as ttc.train.tokens: the tokens this training
 * run processed (steps x accum x batch x seq), which the FLOPs-matched
 * comparison needs (6 x params x tokens). */
int ttc_tmodel_export(const ttc_tmodel *m, const ttc_tokenizer *tok, int wtype, const char *name,
                      const char *prm_format, uint64_t train_tokens, const char *path,
                      ttc_err *e);
/* Loads a llama GGUF (any weight types ttc can dequantize) into a fresh *m
 * and, if tok is not NULL, its tokenizer. Needs the tensor set the
 * exporter writes; ctx may override the context length (0 = file's). */
int ttc_tmodel_import(const char *path, int ctx, ttc_tmodel *m, ttc_tokenizer **tok, ttc_err *e);
#endif
