/* The serving scheduler: one thread that owns a model context and runs the
 * generation work of every concurrent request in shared decode steps
 * (continuous batching).
 *
 * Callers (request worker threads) make sequences, hand the scheduler a
 * task -- a set of sequences to extend, each with its own sampling, limits
 * and rng -- and block until it is done. Each step the scheduler makes one
 * ttc_decode call over every active sequence of every task: the one pending
 * token of each decoding sequence (logits wanted), then chunks of pending
 * prompt tokens of sequences still prefilling, up to n_batch entries.
 * Tasks join and leave between steps, so a short request never waits for a
 * long one to finish.
 *
 * Score items (item.score) sample nothing: every pending token of their
 * sequence is computed -- in the same decode steps as everything else, so
 * the verifier work of concurrent requests is batched too -- and the
 * outputs at the last one (logits and/or hidden state, as the task asks)
 * are handed to the task's on_score callback on the scheduler thread.
 *
 * Conventions are those of model/generate.h: a sequence's last token stays
 * pending between tasks, so forks and later tasks continue without
 * recomputation; finish reasons STOP / EOS / LENGTH as there. A task whose
 * cancel flag becomes non-zero ends at the next step with TTC_ECANCELED
 * (outputs so far kept, unfinished items with finish NONE).
 *
 * Thread-safety: every function may be called from any thread; the
 * context is only touched under the scheduler's lock. */
#ifndef TTC_SERVE_SCHED_H
#define TTC_SERVE_SCHED_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/rng.h"
#include "model/ctx.h"
#include "model/generate.h"
#include "model/sample.h"
#include "tokenizer/tokenizer.h"

typedef struct ttc_sched ttc_sched;

typedef struct ttc_sched_params {
    ttc_ctx_params ctx;   /* context sizes; see model/ctx.h */
} ttc_sched_params;

/* One sequence to extend within a task. Inputs first, then outputs (owned
 * by the item: ttc_sched_item_free). */
typedef struct ttc_sched_item {
    int               seq;
    int               max_tokens;    /* 0: prefill only (all pending tokens but the last) */
    ttc_sample_params sp;
    ttc_rng           rng;           /* drawn from once per sampled token */
    int               top_logprobs;  /* alternatives recorded per token (0..20) */
    bool              want_logprobs;
    bool              score;         /* compute all pending tokens, outputs of the last to on_score */

    int32_t *tokens;                 /* sampled ids */
    float   *logprobs;               /* log p(token), temperature 1 (want_logprobs) */
    int32_t *top_ids;                /* n_tokens * top_logprobs (want_logprobs) */
    float   *top_lps;
    int      n_tokens;
    char    *text;                   /* detokenized, stop strings applied; NUL-terminated */
    size_t   len;
    int      finish;                 /* ttc_finish */
    int      n_prefill;              /* prompt tokens computed for this item */

    /* internal */
    ttc_detok dt;
    size_t    cap, emitted;
} ttc_sched_item;

typedef struct ttc_sched_task {
    ttc_sched_item    *items;
    int                n_items;
    const char *const *stop;        /* shared by all items */
    int                n_stop;
    bool               include_stop;
    atomic_int        *cancel;      /* may be NULL */
    /* streaming: text of item i that can no longer change (may be empty);
     * called on the scheduler thread, must not call back into it */
    void (*on_text)(void *ud, int item, const char *delta, size_t len);
    /* score items: the outputs at the item's last token (NULL when not
     * asked for); called on the scheduler thread, must not call back */
    void (*on_score)(void *ud, int item, const float *logits, const float *hidden);
    bool  score_logits, score_hidden;   /* which outputs score items need */
    void *ud;
    /* internal */
    int   n_open;
    bool  done;
    int   rc;
    ttc_err err;
    struct ttc_sched_task *next;
} ttc_sched_task;

/* Starts the scheduler thread over a new context for m (not owned; needs a
 * tokenizer). */
int  ttc_sched_new(const ttc_model *m, const ttc_sched_params *p, ttc_sched **out, ttc_err *e);
/* Stops the thread (running tasks end with TTC_ECANCELED) and frees the
 * context. NULL-safe. */
void ttc_sched_free(ttc_sched *s);

const ttc_model *ttc_sched_model(const ttc_sched *s);
int  ttc_sched_n_ctx(const ttc_sched *s);
/* Live sequences the context holds at most (sequence ids are below it). */
int  ttc_sched_n_seq_max(const ttc_sched *s);

/* A sequence whose history is ids[0..n) (n >= 1), all pending. */
int  ttc_sched_seq_new(ttc_sched *s, const int32_t *ids, int n, int *seq, ttc_err *e);
/* A sequence sharing src's history and KV pages. */
int  ttc_sched_seq_fork(ttc_sched *s, int src, int *seq, ttc_err *e);
/* Appends tokens (pending) to a sequence. */
int  ttc_sched_seq_append(ttc_sched *s, int seq, const int32_t *ids, int n, ttc_err *e);
/* Releases a sequence and its KV pages; invalid ids are ignored. */
void ttc_sched_seq_free(ttc_sched *s, int seq);
/* Sequence length (cached + pending), -1 if invalid. */
int  ttc_sched_seq_len(ttc_sched *s, int seq);
/* Copies up to cap tokens of the history of seq into out; returns the
 * history length (-1 if invalid). */
int  ttc_sched_seq_tokens(ttc_sched *s, int seq, int32_t *out, int cap);

/* Initialises an item for seq (outputs empty; rng from seed). */
void ttc_sched_item_init(ttc_sched_item *it, int seq, int max_tokens, ttc_sample_params sp, uint64_t seed);
/* Frees an item's outputs. */
void ttc_sched_item_free(ttc_sched_item *it);

/* Runs task t (items on distinct sequences not used by any other running
 * task) to completion, sharing decode steps with every other task.
 * Blocks. Returns TTC_ECANCELED if t->cancel was raised, TTC_ENOMEM when
 * the KV pool is exhausted, or the decode's error. */
int  ttc_sched_run(ttc_sched *s, ttc_sched_task *t, ttc_err *e);

typedef struct ttc_sched_stats {
    int64_t steps;          /* decode calls */
    int64_t entries;        /* batch entries decoded */
    int     max_tasks_step; /* most tasks sharing one decode call */
    int     max_seqs_step;  /* most sequences sharing one decode call */
    int64_t score_items;    /* score items completed */
    int64_t score_steps;    /* decode calls that completed at least one score item */
    int     max_score_tasks_step; /* most tasks completing score items in one decode call */
    int     kv_pages_used, kv_pages_total;
    int     live_seqs;
} ttc_sched_stats;
ttc_sched_stats ttc_sched_get_stats(ttc_sched *s);
#endif
