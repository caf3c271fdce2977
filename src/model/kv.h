/* Paged KV cache shared by forked sequences.
 *
 * Memory is a pool of fixed-size pages. A page holds `page_tokens`
 * consecutive positions of one sequence for every layer, K and V, as f32:
 *
 *     page = [layer][K=0,V=1][kv_head][block]
 *     K block = [head_dim][page_tokens]   (transposed: element i of every slot)
 *     V block = [page_tokens][head_dim]
 *
 * K is stored transposed so attention computes the scores of a whole page
 * as head_dim vector FMAs (q[i] times row i), with no horizontal sums; V
 * rows are accumulated as they are. Bytes per token of KV are
 * n_layer * 2 * n_kv_head * head_dim * 4 (f32: exact, no conversion in the
 * attention loop; 24 KiB per token for Qwen2-0.5B, 64 KiB for Llama-3.2-1B).
 *
 * Each sequence owns a page table (page ids for positions 0, P, 2P, ...).
 * Pages carry reference counts: forking a sequence copies its page table and
 * bumps every count, so a shared prompt is stored once however many
 * sequences fork from it. Writing into a page that is shared copies it first
 * (copy-on-write); in practice only the partly filled tail page is ever
 * copied, on the first write after a fork (the whole page is copied). Releasing a sequence drops its
 * references; pages whose count reaches zero go back to a LIFO free list, so
 * recently touched memory is reused first.
 *
 * The pool is one allocation made at init (max_tokens / page_tokens pages);
 * the OS commits it lazily as pages are first touched. Nothing here
 * allocates per token. */
#ifndef TTC_MODEL_KV_H
#define TTC_MODEL_KV_H
#include <stddef.h>
#include <stdint.h>
#include "ttc.h"

typedef struct ttc_kv {
    int     n_layer, n_kv_head, head_dim, page_tokens;
    size_t  page_floats;   /* floats per page */
    size_t  block_floats;  /* floats per (layer, K/V, head) block: page_tokens*head_dim */
    int32_t n_pages;       /* capacity */
    float   *mem;          /* n_pages * page_floats */
    int32_t *refcnt;       /* per page; 0 = free */
    int32_t *free_list;    /* stack of free page ids */
    int32_t n_free;
} ttc_kv;

/* A sequence's view of the cache: pages[i] holds positions [i*P, (i+1)*P).
 * n_tokens positions are filled; the table may hold reserved pages beyond. */
typedef struct ttc_kv_seq {
    int32_t *pages;
    int32_t n_pages, cap_pages;
    int32_t n_tokens;
} ttc_kv_seq;

/* Creates a pool for at least max_tokens positions (rounded up to whole
 * pages). All sizes must be positive. */
int  ttc_kv_init(ttc_kv *kv, int n_layer, int n_kv_head, int head_dim, int page_tokens,
                 size_t max_tokens, ttc_err *e);
/* Frees the pool (sequences must not be used afterwards). Safe on zeroed kv. */
void ttc_kv_free(ttc_kv *kv);

/* Makes an empty sequence able to hold up to max_tokens positions. */
int  ttc_kv_seq_init(const ttc_kv *kv, ttc_kv_seq *s, int max_tokens, ttc_err *e);
/* Drops every page reference of s and frees its table. */
void ttc_kv_seq_destroy(ttc_kv *kv, ttc_kv_seq *s);
/* Drops every page reference of s; s stays usable, empty. */
void ttc_kv_seq_clear(ttc_kv *kv, ttc_kv_seq *s);
/* Makes dst (initialised, any content) an exact copy of src that shares all
 * of src's pages (refcounts incremented). No KV data is copied. */
int  ttc_kv_seq_fork(ttc_kv *kv, ttc_kv_seq *dst, const ttc_kv_seq *src, ttc_err *e);
/* Shrinks s to its first n positions (n <= s->n_tokens); pages no longer
 * needed are released. */
void ttc_kv_seq_truncate(ttc_kv *kv, ttc_kv_seq *s, int n);
/* Ensures positions [n_tokens, n_tokens + n_new) have pages that s owns
 * exclusively (allocating new pages, copying a shared tail page). Does not
 * change n_tokens. TTC_ENOMEM when the pool or the table is exhausted. */
int  ttc_kv_seq_reserve(ttc_kv *kv, ttc_kv_seq *s, int n_new, ttc_err *e);

/* Pointer to the K (kv=0, [head_dim][page_tokens]) or V (kv=1,
 * [page_tokens][head_dim]) block of (page, layer, head). */
static inline float *ttc_kv_block(const ttc_kv *kv, int32_t page, int layer, int k_or_v, int head) {
    return kv->mem + (size_t)page * kv->page_floats +
           (((size_t)layer * 2 + (size_t)k_or_v) * (size_t)kv->n_kv_head + (size_t)head) * kv->block_floats;
}
/* Element i of K (k_or_v = 0) or V (1) at `slot` of (page, layer, head). */
static inline float *ttc_kv_at(const ttc_kv *kv, int32_t page, int layer, int k_or_v, int head, int slot, int i) {
    float *b = ttc_kv_block(kv, page, layer, k_or_v, head);
    return k_or_v == 0 ? b + (size_t)i * kv->page_tokens + slot : b + (size_t)slot * kv->head_dim + i;
}
/* Pages currently referenced by at least one sequence. */
static inline int32_t ttc_kv_pages_used(const ttc_kv *kv) { return kv->n_pages - kv->n_free; }
/* Bytes of KV per token position. */
static inline size_t ttc_kv_bytes_per_token(const ttc_kv *kv) {
    return (size_t)kv->n_layer * 2 * (size_t)kv->n_kv_head * (size_t)kv->head_dim * sizeof(float);
}
#endif
