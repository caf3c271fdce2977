/* Run state for a model: sequences over a paged KV cache, and batched decode.
 *
 * A sequence is an id (small int) with a token history tokens[0..len) of
 * which the first n_cached are in the KV cache; the rest are "pending":
 * appended with ttc_seq_append_tokens and computed by the next decode that
 * lists them (ttc_decode_pending does exactly that).
 *
 * ttc_decode runs one forward pass over a batch of entries (seq, token,
 * want_logits, want_hidden). Entries of one sequence take positions
 * n_cached, n_cached+1, ... in batch order (they need not be adjacent);
 * a token at a position that is still pending must equal the pending token,
 * one past the history is appended to it. Every weight matrix is read once
 * per call for the whole batch. Outputs (logits over the vocabulary, the
 * final-norm hidden state) are computed only for entries that ask and read
 * with ttc_logits / ttc_hidden by entry index until the next decode.
 *
 * Forking shares the KV pages (see kv.h): N samples of one prompt store the
 * prompt once. A context is used by one thread at a time (it runs its own
 * work on the pool); the model may be shared by many contexts. Generation (generate.h) keeps the last sampled token pending,
 * so a fork of a finished or prefilled sequence gets its next-token logits
 * by decoding that one token. */
#ifndef TTC_MODEL_CTX_H
#define TTC_MODEL_CTX_H
#include <stdbool.h>
#include <stdint.h>
#include "base/pool.h"
#include "model/kv.h"
#include "model/model.h"

typedef struct ttc_ctx_params {
    int n_ctx;          /* max tokens per sequence; 0 = min(model context, 4096) */
    int n_seq_max;      /* max live sequences; 0 = 64 */
    int n_batch;        /* max entries per decode (prefill chunk); 0 = 512, raised to n_seq_max */
    int n_outputs_max;  /* max entries wanting logits/hidden per decode; 0 = n_seq_max */
    size_t kv_tokens;   /* KV pool capacity in positions; 0 = 4 * n_ctx */
    int page_tokens;    /* positions per KV page; 0 = 16; rounded up to a multiple of 8 */
    ttc_pool *pool;     /* thread pool (not owned); NULL = caller's thread only */
    bool attn_per_seq;  /* attention one sequence at a time (the reference for the
                           default, which reads KV pages shared by several batch
                           entries once for all of them) */
} ttc_ctx_params;

typedef struct ttc_batch_entry {
    int32_t seq;
    int32_t token;
    bool    want_logits;
    bool    want_hidden;
} ttc_batch_entry;

typedef struct ttc_ctx ttc_ctx;

/* Creates a context for model m (not owned; must outlive the context).
 * Allocates the KV pool and every scratch buffer once. params may be NULL. */
int  ttc_ctx_new(const ttc_model *m, const ttc_ctx_params *params, ttc_ctx **out, ttc_err *e);
void ttc_ctx_free(ttc_ctx *c);

const ttc_model *ttc_ctx_model(const ttc_ctx *c);
ttc_pool        *ttc_ctx_pool(const ttc_ctx *c);
int              ttc_ctx_n_ctx(const ttc_ctx *c);       /* max tokens per sequence */
int              ttc_ctx_n_batch(const ttc_ctx *c);
int              ttc_ctx_n_seq_max(const ttc_ctx *c);
int              ttc_ctx_n_outputs_max(const ttc_ctx *c);
const ttc_kv    *ttc_ctx_kv(const ttc_ctx *c);

/* New empty sequence; *seq gets its id. TTC_ENOMEM when n_seq_max are live. */
int  ttc_seq_new(ttc_ctx *c, int *seq, ttc_err *e);
/* New sequence with the same history and KV as src (pages shared). */
int  ttc_seq_fork(ttc_ctx *c, int src, int *seq, ttc_err *e);
/* Releases a sequence and its page references. Invalid ids are ignored. */
void ttc_seq_free(ttc_ctx *c, int seq);
/* True if seq is a live sequence id. */
bool ttc_seq_valid(const ttc_ctx *c, int seq);
/* History length (cached + pending tokens); -1 for an invalid id. */
int  ttc_seq_len(const ttc_ctx *c, int seq);
/* Tokens already in the KV cache. */
int  ttc_seq_n_cached(const ttc_ctx *c, int seq);
/* The history (len tokens); valid until the sequence changes. */
const int32_t *ttc_seq_tokens(const ttc_ctx *c, int seq);
/* Appends tokens to the history as pending (computed by a later decode).
 * TTC_ENOMEM past n_ctx, TTC_EINVAL for ids outside the vocabulary. */
int  ttc_seq_append_tokens(ttc_ctx *c, int seq, const int32_t *ids, int n, ttc_err *e);
/* Keeps only the first n tokens (n <= n_cached) in the KV cache; the rest of
 * the history becomes pending again and is recomputed by the next decode. */
int  ttc_seq_truncate_cache(ttc_ctx *c, int seq, int n, ttc_err *e);
/* Cuts the history to its first n tokens (KV included). */
int  ttc_seq_truncate(ttc_ctx *c, int seq, int n, ttc_err *e);

/* One forward pass over entries[0..n) (see the file comment). n <= n_batch,
 * at most n_outputs_max entries wanting outputs. On error no sequence
 * changes. */
int  ttc_decode(ttc_ctx *c, const ttc_batch_entry *entries, int n, ttc_err *e);

/* Restricts the vocabulary projection to ids[0..n) (n = 0: the whole
 * vocabulary again). Logits rows keep their n_vocab layout: the listed ids
 * hold their logits, every other entry is -INFINITY -- so a verifier that
 * reads two token logits at each step tag, or a sampler constrained to a
 * few tokens, pays for n rows instead of n_vocab. The output weight rows
 * are copied once here. */
int  ttc_ctx_set_logit_ids(ttc_ctx *c, const int32_t *ids, int n, ttc_err *e);

/* Logits [n_vocab] / hidden state [n_embd] of batch entry i of the last
 * decode, or NULL if that entry did not ask for them. */
const float *ttc_logits(const ttc_ctx *c, int i);
const float *ttc_hidden(const ttc_ctx *c, int i);

/* Computes the pending tokens of seqs[0..n) (distinct ids), packing them
 * into decodes of at most n_batch entries. If keep_last, the final pending
 * token of each sequence stays pending (generation's convention). Else the
 * last decode holds the final token of every sequence that had pending
 * tokens, in seqs order, with logits (and hidden if want_hidden): entry k of
 * that decode is seqs[k] -- ttc_logits(c, k) -- when all had pending tokens.
 * *out_index (optional, n ints) receives each sequence's entry index in the
 * last decode, or -1 if it had nothing pending. */
int  ttc_decode_pending(ttc_ctx *c, const int *seqs, int n, bool keep_last, bool want_hidden,
                        int *out_index, ttc_err *e);

/* Statistics of the last decode and totals since creation. */
typedef struct ttc_ctx_stats {
    int64_t n_decode_calls;
    int64_t n_tokens_decoded;
    int64_t n_outputs;
} ttc_ctx_stats;
ttc_ctx_stats ttc_ctx_get_stats(const ttc_ctx *c);
#endif
