/* Byte-level BPE: regex pre-tokenization, then merges by rank per piece. */
#include "tokenizer/tok_internal.h"

#include <string.h>

/* Pre-tokenizer patterns (as in the Hugging Face tokenizer.json files). */
static const char *const pre_regex[] = {
    [TOK_PRE_GPT2] =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    [TOK_PRE_LLAMA3] =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
        "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    [TOK_PRE_QWEN2] =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
        "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

pcre2_code *tok_pre_compile(tok_pre pre, const char *name, ttc_err *e) {
    int err;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pre_regex[pre], PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        ttc_err_set(e, TTC_EINVAL, "tokenizer: pre-tokenizer regex '%s', offset %zu: %s",
                    name, (size_t)at, (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);      /* optional: falls back to the interpreter */
    return re;
}

int tok_bpe_compile(ttc_tokenizer *t, ttc_err *e) {
    t->re = tok_pre_compile(t->pre, t->pre_name, e);
    return t->re ? TTC_OK : e ? e->code : TTC_EINVAL;
}

typedef struct bsym { int32_t id, prev, next; } bsym;

/* Queues the merge of symbol l with its right neighbour, if there is one. */
static void push_pair(const ttc_tokenizer *t, bsym *sym, tok_cand *h, int *nh, int32_t l) {
    if (l < 0) return;
    int32_t r = sym[l].next;
    if (r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
    int32_t rank = tok_merge_rank(t, sym[l].id, sym[r].id);
    if (rank < 0) return;
    tok_heap_push(h, nh, (tok_cand){.key = rank, .left = l, .a = sym[l].id, .b = sym[r].id});
}

static int emit_missing(const ttc_tokenizer *t, tok_work *w, uint8_t byte, ttc_err *e) {
    if (t->unk >= 0) { tok_emit(w, t->unk); return TTC_OK; }
    return ttc_err_set(e, TTC_EUNSUPPORTED,
                       "tokenize: byte 0x%02X has no token and the vocabulary has no unknown token",
                       byte);
}

/* Encodes one pre-token (raw bytes) by applying merges lowest rank first,
 * leftmost first on ties. */
static int bpe_word(const ttc_tokenizer *t, tok_work *w, const uint8_t *s, size_t n, ttc_err *e) {
    if (n == 1) {
        int32_t id = t->byte_tok[s[0]];
        if (id < 0) return emit_missing(t, w, s[0], e);
        tok_emit(w, id);
        return TTC_OK;
    }
    if (t->ignore_merges) {                         /* whole piece is a token? */
        if (tok_reserve((void **)&w->wbuf, &w->wbuf_cap, n * 2) != TTC_OK) goto nomem;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) m += (size_t)tok_utf8_put(tok_byte_cp(s[i]), w->wbuf + m);
        int32_t id = tok_lookup(t, w->wbuf, m);
        if (id >= 0) { tok_emit(w, id); return TTC_OK; }
    }
    if (n > INT32_MAX / 4) return ttc_err_set(e, TTC_ENOMEM, "tokenize: piece of %zu bytes is too long", n);
    if (tok_reserve(&w->sym, &w->sym_cap, n * sizeof(bsym)) != TTC_OK ||
        tok_reserve(&w->heap, &w->heap_cap, (3 * n + 1) * sizeof(tok_cand)) != TTC_OK)
        goto nomem;
    bsym *sym = w->sym;
    tok_cand *h = w->heap;
    int nh = 0;
    for (size_t i = 0; i < n; i++)
        sym[i] = (bsym){t->byte_tok[s[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    for (size_t i = 0; i + 1 < n; i++) push_pair(t, sym, h, &nh, (int32_t)i);
    while (nh > 0) {
        tok_cand c = tok_heap_pop(h, &nh);
        int32_t l = c.left, r = sym[l].next;
        if (sym[l].id != c.a || r < 0 || sym[r].id != c.b) continue;   /* stale */
        sym[l].id = t->merges[(int32_t)c.key].result;
        sym[l].next = sym[r].next;
        if (sym[r].next >= 0) sym[sym[r].next].prev = l;
        sym[r].id = -2;                                               /* dead */
        push_pair(t, sym, h, &nh, sym[l].prev);
        push_pair(t, sym, h, &nh, l);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
        if (sym[i].id >= 0) tok_emit(w, sym[i].id);
        else {
            int rc = emit_missing(t, w, s[i], e);
            if (rc) return rc;
        }
    }
    return TTC_OK;
nomem:
    return ttc_err_set(e, TTC_ENOMEM, "tokenize: out of memory for a %zu-byte piece", n);
}

/* Copies s with every byte that is not part of valid UTF-8 replaced by
 * U+FFFD; returns NULL (and leaves w untouched) when s is already valid. */
static const char *sanitize(tok_work *w, const char *s, size_t n, size_t *out_n, int *rc) {
    size_t i = 0, bad = 0;
    uint32_t cp;
    while (i < n) {
        if ((uint8_t)s[i] < 0x80) { i++; continue; }
        int k = tok_utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (k) i += (size_t)k;
        else { bad++; i++; }
    }
    *rc = TTC_OK;
    if (!bad) return NULL;
    if (tok_reserve((void **)&w->buf, &w->buf_cap, n + 2 * bad) != TTC_OK) { *rc = TTC_ENOMEM; return NULL; }
    size_t o = 0;
    for (i = 0; i < n;) {
        int k = tok_utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (k) { memcpy(w->buf + o, s + i, (size_t)k); o += (size_t)k; i += (size_t)k; }
        else { memcpy(w->buf + o, "\xEF\xBF\xBD", 3); o += 3; i++; }
    }
    *out_n = o;
    return w->buf;
}

int tok_pre_split(const pcre2_code *re, tok_work *w, const char *s, size_t n,
                  tok_word_fn fn, void *ctx, ttc_err *e) {
    int rc;
    size_t sn = n;
    const char *clean = sanitize(w, s, n, &sn, &rc);
    if (rc) return ttc_err_set(e, rc, "tokenize: out of memory sanitising %zu bytes", n);
    if (clean) { s = clean; n = sn; }
    const uint8_t *u = (const uint8_t *)s;
    size_t off = 0;
    uint32_t opts = PCRE2_NO_UTF_CHECK;
    while (off < n) {
        int m = pcre2_match(re, u, n, off, opts, w->md, NULL);
        if (m == PCRE2_ERROR_JIT_STACKLIMIT && !(opts & PCRE2_NO_JIT)) {
            opts |= PCRE2_NO_JIT;                   /* retry in the interpreter */
            continue;
        }
        size_t ms = n, me = n;
        if (m >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
            ms = ov[0];
            me = ov[1];
        } else if (m != PCRE2_ERROR_NOMATCH) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(m, msg, sizeof msg);
            return ttc_err_set(e, TTC_EINVAL, "tokenize: pre-tokenizer failed at byte %zu: %s",
                               off, (const char *)msg);
        }
        if (ms > off && (rc = fn(ctx, u + off, ms - off, e))) return rc;   /* unmatched gap */
        if (me == ms && ms < n) {                   /* empty match: take one character */
            uint32_t cp;
            int k = tok_utf8_next(u + ms, n - ms, &cp);
            me = ms + (size_t)(k ? k : 1);
        }
        if (me > ms && (rc = fn(ctx, u + ms, me - ms, e))) return rc;
        off = me;
    }
    return TTC_OK;
}

typedef struct word_ctx { const ttc_tokenizer *t; tok_work *w; } word_ctx;

static int word_cb(void *ctx, const uint8_t *s, size_t n, ttc_err *e) {
    word_ctx *c = ctx;
    return bpe_word(c->t, c->w, s, n, e);
}

int tok_bpe_fragment(const ttc_tokenizer *t, tok_work *w, const char *s, size_t n, ttc_err *e) {
    word_ctx c = {t, w};
    return tok_pre_split(t->re, w, s, n, word_cb, &c, e);
}
