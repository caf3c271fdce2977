/* SentencePiece (BPE by score) as llama.cpp runs it: characters start as
 * symbols; the adjacent pair whose concatenation is the best-scoring token
 * merges first (leftmost on ties); leftovers fall back to <0xNN> bytes. */
#include "tokenizer/tok_internal.h"
#include "base/util.h"

#include <string.h>

typedef struct ssym { int32_t off, len, prev, next; } ssym;

/* Queues the merge of symbols l and r when their text is a token. */
static void try_pair(const ttc_tokenizer *t, const char *s, ssym *sym, tok_cand *h, int *nh,
                     int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    int32_t len = sym[l].len + sym[r].len;
    int32_t id = tok_lookup(t, s + sym[l].off, (size_t)len);
    if (id < 0) return;
    tok_heap_push(h, nh, (tok_cand){.key = -(double)t->tok[id].score, .left = l, .a = r, .b = len});
}

static int byte_fallback(const ttc_tokenizer *t, tok_work *w, const char *p, int32_t n,
                         ttc_err *e) {
    for (int32_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)p[i];
        int32_t id = t->byte_tok[b];
        if (id < 0) id = tok_lookup(t, p + i, 1);
        if (id < 0) id = t->unk;
        if (id < 0)
            return ttc_err_set(e, TTC_EUNSUPPORTED,
                               "tokenize: byte 0x%02X has no token and the vocabulary has no unknown token", b);
        tok_emit(w, id);
    }
    return TTC_OK;
}

int tok_spm_fragment(const ttc_tokenizer *t, tok_work *w, const char *in, size_t n,
                     bool space_prefix, ttc_err *e) {
    if (n > INT32_MAX / 8) return ttc_err_set(e, TTC_ENOMEM, "tokenize: text of %zu bytes is too long", n);
    size_t cap = 3 * n + 3;
    if (tok_reserve((void **)&w->buf, &w->buf_cap, cap) != TTC_OK ||
        tok_reserve(&w->sym, &w->sym_cap, cap * sizeof(ssym)) != TTC_OK ||
        tok_reserve(&w->heap, &w->heap_cap, (3 * cap + 1) * sizeof(tok_cand)) != TTC_OK)
        return ttc_err_set(e, TTC_ENOMEM, "tokenize: out of memory for %zu bytes", n);
    char *s = w->buf;
    size_t m = 0;
    if (space_prefix) { memcpy(s, "\xE2\x96\x81", 3); m = 3; }
    for (size_t i = 0; i < n; i++) {
        if (in[i] == ' ') { memcpy(s + m, "\xE2\x96\x81", 3); m += 3; }
        else s[m++] = in[i];
    }
    ssym *sym = w->sym;
    int32_t ns = 0;
    /* one symbol per character, its length read from the lead byte alone
     * (as llama.cpp does, so invalid UTF-8 groups the same way) */
    static const uint8_t lead_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    for (size_t i = 0; i < m;) {
        size_t k = TTC_MIN((size_t)lead_len[(uint8_t)s[i] >> 4], m - i);
        sym[ns] = (ssym){(int32_t)i, (int32_t)k, ns - 1, -1};
        if (ns > 0) sym[ns - 1].next = ns;
        ns++;
        i += k;
    }
    tok_cand *h = w->heap;
    int nh = 0;
    for (int32_t i = 0; i + 1 < ns; i++) try_pair(t, s, sym, h, &nh, i, i + 1);
    while (nh > 0) {
        tok_cand c = tok_heap_pop(h, &nh);
        ssym *l = &sym[c.left], *r = &sym[c.a];
        if (l->len == 0 || r->len == 0 || l->len + r->len != c.b) continue;   /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = c.left;
        try_pair(t, s, sym, h, &nh, l->prev, c.left);
        try_pair(t, s, sym, h, &nh, c.left, l->next);
    }
    for (int32_t i = ns ? 0 : -1; i >= 0; i = sym[i].next) {
        int32_t id = tok_lookup(t, s + sym[i].off, (size_t)sym[i].len);
        if (id >= 0) tok_emit(w, id);
        else {
            int rc = byte_fallback(t, w, s + sym[i].off, sym[i].len, e);
            if (rc) return rc;
        }
    }
    return TTC_OK;
}
