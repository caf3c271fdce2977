/* Paged KV cache: page pool with reference counts, per-sequence page tables,
 * copy-on-write of shared pages. See kv.h for the layout. */
#include "model/kv.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

int ttc_kv_init(ttc_kv *kv, int n_layer, int n_kv_head, int head_dim, int page_tokens,
                size_t max_tokens, ttc_err *e) {
    memset(kv, 0, sizeof *kv);
    if (n_layer <= 0 || n_kv_head <= 0 || head_dim <= 0 || page_tokens <= 0 || max_tokens == 0)
        return ttc_err_set(e, TTC_EINVAL, "kv cache: bad sizes (layers %d, kv heads %d, head dim %d, page %d, tokens %zu)",
                           n_layer, n_kv_head, head_dim, page_tokens, max_tokens);
    size_t n_pages = (max_tokens + (size_t)page_tokens - 1) / (size_t)page_tokens;
    if (n_pages > INT32_MAX)
        return ttc_err_set(e, TTC_ENOMEM, "kv cache: %zu pages is too many", n_pages);
    kv->n_layer = n_layer;
    kv->n_kv_head = n_kv_head;
    kv->head_dim = head_dim;
    kv->page_tokens = page_tokens;
    kv->block_floats = (size_t)page_tokens * (size_t)head_dim;
    kv->page_floats = (size_t)n_layer * 2 * (size_t)n_kv_head * kv->block_floats;
    size_t bytes;
    if (!ttc_mul_ok(n_pages, kv->page_floats * sizeof(float), &bytes))
        return ttc_err_set(e, TTC_ENOMEM, "kv cache: size overflows");
    kv->n_pages = (int32_t)n_pages;
    kv->mem = malloc(bytes);
    kv->refcnt = calloc(n_pages, sizeof *kv->refcnt);
    kv->free_list = malloc(n_pages * sizeof *kv->free_list);
    if (!kv->mem || !kv->refcnt || !kv->free_list) {
        ttc_kv_free(kv);
        return ttc_err_set(e, TTC_ENOMEM, "kv cache: cannot allocate %zu bytes for %zu pages", bytes, n_pages);
    }
    /* Stack with page 0 on top, so a fresh cache hands out pages in order. */
    for (size_t i = 0; i < n_pages; i++) kv->free_list[i] = (int32_t)(n_pages - 1 - i);
    kv->n_free = (int32_t)n_pages;
    return TTC_OK;
}

void ttc_kv_free(ttc_kv *kv) {
    free(kv->mem);
    free(kv->refcnt);
    free(kv->free_list);
    memset(kv, 0, sizeof *kv);
}

int ttc_kv_seq_init(const ttc_kv *kv, ttc_kv_seq *s, int max_tokens, ttc_err *e) {
    memset(s, 0, sizeof *s);
    if (max_tokens <= 0) return ttc_err_set(e, TTC_EINVAL, "kv sequence: max_tokens %d must be positive", max_tokens);
    s->cap_pages = (max_tokens + kv->page_tokens - 1) / kv->page_tokens;
    s->pages = malloc((size_t)s->cap_pages * sizeof *s->pages);
    if (!s->pages) return ttc_err_set(e, TTC_ENOMEM, "kv sequence: cannot allocate a %d-page table", s->cap_pages);
    return TTC_OK;
}

static void page_unref(ttc_kv *kv, int32_t p) {
    if (--kv->refcnt[p] == 0) kv->free_list[kv->n_free++] = p;
}

void ttc_kv_seq_clear(ttc_kv *kv, ttc_kv_seq *s) {
    for (int32_t i = 0; i < s->n_pages; i++) page_unref(kv, s->pages[i]);
    s->n_pages = 0;
    s->n_tokens = 0;
}

void ttc_kv_seq_destroy(ttc_kv *kv, ttc_kv_seq *s) {
    if (s->pages) ttc_kv_seq_clear(kv, s);
    free(s->pages);
    memset(s, 0, sizeof *s);
}

int ttc_kv_seq_fork(ttc_kv *kv, ttc_kv_seq *dst, const ttc_kv_seq *src, ttc_err *e) {
    if (dst == src) return TTC_OK;
    int32_t need = (src->n_tokens + kv->page_tokens - 1) / kv->page_tokens;
    if (need > dst->cap_pages)
        return ttc_err_set(e, TTC_EINVAL, "kv fork: source has %d tokens, destination holds at most %d",
                           src->n_tokens, dst->cap_pages * kv->page_tokens);
    ttc_kv_seq_clear(kv, dst);
    for (int32_t i = 0; i < need; i++) {
        dst->pages[i] = src->pages[i];
        kv->refcnt[src->pages[i]]++;
    }
    dst->n_pages = need;
    dst->n_tokens = src->n_tokens;
    return TTC_OK;
}

void ttc_kv_seq_truncate(ttc_kv *kv, ttc_kv_seq *s, int n) {
    if (n < 0) n = 0;
    if (n > s->n_tokens) n = s->n_tokens;
    int32_t keep = (n + kv->page_tokens - 1) / kv->page_tokens;
    while (s->n_pages > keep) page_unref(kv, s->pages[--s->n_pages]);
    s->n_tokens = n;
}

int ttc_kv_seq_reserve(ttc_kv *kv, ttc_kv_seq *s, int n_new, ttc_err *e) {
    if (n_new <= 0) return TTC_OK;
    int P = kv->page_tokens;
    long end = (long)s->n_tokens + n_new;
    int32_t need = (int32_t)((end + P - 1) / P);
    if (need > s->cap_pages)
        return ttc_err_set(e, TTC_ENOMEM, "kv cache: sequence would reach %ld tokens, its limit is %d",
                           end, s->cap_pages * P);
    /* The page holding position n_tokens is written next: make it private. */
    int32_t first = s->n_tokens / P;
    if (first < s->n_pages && kv->refcnt[s->pages[first]] > 1) {
        if (kv->n_free == 0)
            return ttc_err_set(e, TTC_ENOMEM, "kv cache: out of pages (%d pages of %d tokens in use)", kv->n_pages, P);
        int32_t np = kv->free_list[--kv->n_free], op = s->pages[first];
        kv->refcnt[np] = 1;
        memcpy(kv->mem + (size_t)np * kv->page_floats, kv->mem + (size_t)op * kv->page_floats,
               kv->page_floats * sizeof(float));
        page_unref(kv, op);
        s->pages[first] = np;
    }
    if (need - s->n_pages > kv->n_free)
        return ttc_err_set(e, TTC_ENOMEM, "kv cache: out of pages (need %d more, %d free of %d pages of %d tokens)",
                           need - s->n_pages, kv->n_free, kv->n_pages, P);
    while (s->n_pages < need) {
        int32_t p = kv->free_list[--kv->n_free];
        kv->refcnt[p] = 1;
        s->pages[s->n_pages++] = p;
    }
    return TTC_OK;
}
