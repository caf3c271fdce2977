/* Byte-level BPE training.
 *
 * The corpus is split on the special tokens, pre-tokenized with the chosen
 * regex and reduced to unique words with counts. Every word starts as its
 * bytes (token id = byte value). Each round merges the adjacent pair with the
 * highest total count (ties: smaller left id, then smaller right id) in every
 * word, updating the pair counts of the touched words only. */
#include "tokenizer/tok_internal.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

typedef struct tr_word { uint32_t off, len; int64_t count; } tr_word;  /* syms in pool */
typedef struct tr_pair { uint64_t key; int64_t count; } tr_pair;       /* key 0 = empty */
typedef struct tr_tok { uint32_t off, len; } tr_tok;                    /* raw bytes */

typedef struct trainer {
    /* unique words: bytes in wtext, hashed by content */
    char *wtext; size_t wtext_n, wtext_cap;
    tr_word *words; size_t nw, words_cap;
    uint32_t *wmap; uint32_t wmap_mask;             /* word index + 1; 0 = empty */
    /* per word symbols (token ids) */
    int32_t *pool;
    /* pair counts */
    tr_pair *pairs; uint32_t pair_mask; size_t npairs;
    /* token bytes */
    char *ttext; size_t ttext_n, ttext_cap;
    tr_tok *toks; size_t ntok, toks_cap;
} trainer;

static uint64_t fnv(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h ^ h >> 31;
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ x >> 33;
}

static int grow_wmap(trainer *T) {
    uint32_t cap = T->wmap ? (T->wmap_mask + 1) * 2 : 1024;
    uint32_t *m = calloc(cap, sizeof *m);
    if (!m) return TTC_ENOMEM;
    for (size_t i = 0; i < T->nw; i++) {
        uint32_t h = (uint32_t)fnv(T->wtext + T->words[i].off, T->words[i].len) & (cap - 1);
        while (m[h]) h = (h + 1) & (cap - 1);
        m[h] = (uint32_t)i + 1;
    }
    free(T->wmap);
    T->wmap = m;
    T->wmap_mask = cap - 1;
    return TTC_OK;
}

/* Counts one pre-token. */
static int add_word(void *ctx, const uint8_t *s, size_t n, ttc_err *e) {
    trainer *T = ctx;
    if (n > UINT32_MAX / 8) return ttc_err_set(e, TTC_ENOMEM, "bpe train: pre-token of %zu bytes", n);
    if (!T->wmap || (T->nw + 1) * 2 > (size_t)T->wmap_mask + 1)
        if (grow_wmap(T)) goto nomem;
    uint32_t h = (uint32_t)fnv(s, n) & T->wmap_mask;
    for (; T->wmap[h]; h = (h + 1) & T->wmap_mask) {
        tr_word *w = &T->words[T->wmap[h] - 1];
        if (w->len == n && !memcmp(T->wtext + w->off, s, n)) { w->count++; return TTC_OK; }
    }
    if (T->wtext_n + n > UINT32_MAX / 2) return ttc_err_set(e, TTC_ENOMEM, "bpe train: corpus vocabulary exceeds 2 GiB");
    if (tok_reserve((void **)&T->wtext, &T->wtext_cap, T->wtext_n + n) ||
        tok_reserve((void **)&T->words, &T->words_cap, (T->nw + 1) * sizeof *T->words))
        goto nomem;
    memcpy(T->wtext + T->wtext_n, s, n);
    T->words[T->nw] = (tr_word){(uint32_t)T->wtext_n, (uint32_t)n, 1};
    T->wtext_n += n;
    T->wmap[h] = (uint32_t)++T->nw;
    return TTC_OK;
nomem:
    return ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory counting words");
}

static tr_pair *pair_slot(trainer *T, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    uint32_t h = (uint32_t)mix(key) & T->pair_mask;
    while (T->pairs[h].key && T->pairs[h].key != key) h = (h + 1) & T->pair_mask;
    return &T->pairs[h];
}

static int grow_pairs(trainer *T) {
    uint32_t cap = T->pairs ? (T->pair_mask + 1) * 2 : 4096;
    tr_pair *old = T->pairs;
    uint32_t old_cap = old ? T->pair_mask + 1 : 0;
    T->pairs = calloc(cap, sizeof *T->pairs);
    if (!T->pairs) { T->pairs = old; return TTC_ENOMEM; }
    T->pair_mask = cap - 1;
    T->npairs = 0;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (!old[i].key || !old[i].count) continue;       /* drop dead pairs */
        uint64_t k = old[i].key - 1;
        tr_pair *p = pair_slot(T, (int32_t)(k >> 32), (int32_t)(uint32_t)k);
        *p = old[i];
        T->npairs++;
    }
    free(old);
    return TTC_OK;
}

/* Adds delta to the count of every adjacent pair in word w. */
static int count_pairs(trainer *T, const tr_word *w, int64_t delta) {
    const int32_t *s = T->pool + w->off;
    for (uint32_t i = 0; i + 1 < w->len; i++) {
        if ((T->npairs + 1) * 2 > (size_t)T->pair_mask + 1 && grow_pairs(T)) return TTC_ENOMEM;
        tr_pair *p = pair_slot(T, s[i], s[i + 1]);
        if (!p->key) { p->key = ((uint64_t)(uint32_t)s[i] << 32 | (uint32_t)s[i + 1]) + 1; T->npairs++; }
        p->count += delta;
    }
    return TTC_OK;
}

static int add_token(trainer *T, const char *s, size_t n) {
    if (tok_reserve((void **)&T->ttext, &T->ttext_cap, T->ttext_n + n) ||
        tok_reserve((void **)&T->toks, &T->toks_cap, (T->ntok + 1) * sizeof *T->toks))
        return TTC_ENOMEM;
    memcpy(T->ttext + T->ttext_n, s, n);
    T->toks[T->ntok++] = (tr_tok){(uint32_t)T->ttext_n, (uint32_t)n};
    T->ttext_n += n;
    return TTC_OK;
}

/* Existing token with the bytes of a followed by b, or -1. Linear in the
 * vocabulary, run once per merge. */
static int32_t find_concat(const trainer *T, int32_t a, int32_t b) {
    const tr_tok *x = &T->toks[a], *y = &T->toks[b];
    size_t n = (size_t)x->len + y->len;
    for (size_t i = 0; i < T->ntok; i++) {
        const tr_tok *t = &T->toks[i];
        if (t->len == n && !memcmp(T->ttext + t->off, T->ttext + x->off, x->len) &&
            !memcmp(T->ttext + t->off + x->len, T->ttext + y->off, y->len))
            return (int32_t)i;
    }
    return -1;
}

static void trainer_free(trainer *T) {
    free(T->wtext); free(T->words); free(T->wmap); free(T->pool);
    free(T->pairs); free(T->ttext); free(T->toks);
}

/* Writes the GPT-2 unicode form of n raw bytes to out (2 bytes per byte max). */
static size_t map_bytes(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += (size_t)tok_utf8_put(tok_byte_cp((uint8_t)s[i]), out + o);
    return o;
}

/* Counts the words of one text, skipping the special tokens in it. */
static int count_text(trainer *T, const pcre2_code *re, tok_work *w, const char *s, size_t n,
                      const char *const *special, int n_special, ttc_err *e) {
    size_t start = 0, i = 0;
    while (i < n) {
        size_t best = 0;
        for (int k = 0; k < n_special; k++) {
            size_t m = strlen(special[k]);
            if (m > best && m <= n - i && !memcmp(s + i, special[k], m)) best = m;
        }
        if (!best) { i++; continue; }
        if (i > start) {
            int rc = tok_pre_split(re, w, s + start, i - start, add_word, T, e);
            if (rc) return rc;
        }
        i += best;
        start = i;
    }
    return n > start ? tok_pre_split(re, w, s + start, n - start, add_word, T, e) : TTC_OK;
}

int ttc_bpe_train(const char *const *texts, int n_texts, int vocab_size, const char *pre,
                  const char *const *special, int n_special, ttc_tokenizer **out, ttc_err *e) {
    *out = NULL;
    tok_pre family;
    if (!pre) pre = "qwen2";
    if (!tok_pre_from_name(pre, &family))
        return ttc_err_set(e, TTC_EUNSUPPORTED, "bpe train: pre-tokenizer '%s' is not supported", pre);
    if (n_texts < 0 || (n_texts && !texts) || n_special < 0 || (n_special && !special))
        return ttc_err_set(e, TTC_EINVAL, "bpe train: bad arguments");
    if (vocab_size < 256 + n_special || vocab_size > (1 << 24))
        return ttc_err_set(e, TTC_EINVAL, "bpe train: vocab_size %d must be in [256 + %d specials, 2^24]",
                           vocab_size, n_special);
    for (int k = 0; k < n_special; k++)
        if (!special[k] || !special[k][0])
            return ttc_err_set(e, TTC_EINVAL, "bpe train: special token %d is empty", k);

    trainer T = {0};
    tok_work w = {0};
    char **tokens = NULL, **merges = NULL;
    int32_t *types = NULL, (*rules)[2] = NULL;
    int n_rules = 0, rc = TTC_OK;
    pcre2_code *re = tok_pre_compile(family, pre, e);
    if (!re) return e ? e->code : TTC_EINVAL;
    w.md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!w.md) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
    for (int i = 0; i < n_texts; i++)
        if (texts[i] && (rc = count_text(&T, re, &w, texts[i], strlen(texts[i]), special, n_special, e)))
            goto done;

    /* symbols: bytes of each word */
    T.pool = malloc(sizeof *T.pool * (T.wtext_n ? T.wtext_n : 1));
    if (!T.pool) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
    for (size_t i = 0; i < T.wtext_n; i++) T.pool[i] = (uint8_t)T.wtext[i];
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        if (add_token(&T, &c, 1)) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
    }
    if (grow_pairs(&T)) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
    for (size_t i = 0; i < T.nw; i++)
        if (count_pairs(&T, &T.words[i], T.words[i].count)) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }

    int target = vocab_size - n_special;
    int rules_cap = 0;
    while ((int)T.ntok < target) {
        tr_pair *best = NULL;
        for (uint32_t i = 0; i <= T.pair_mask; i++) {
            tr_pair *p = &T.pairs[i];
            if (!p->key || p->count < 2) continue;
            if (!best || p->count > best->count || (p->count == best->count && p->key < best->key)) best = p;
        }
        if (!best) break;                                   /* no pair occurs twice */
        uint64_t k = best->key - 1;
        int32_t a = (int32_t)(k >> 32), b = (int32_t)(uint32_t)k;
        int32_t id = find_concat(&T, a, b);
        if (id < 0) {
            id = (int32_t)T.ntok;
            const tr_tok x = T.toks[a], y = T.toks[b];
            size_t n = (size_t)x.len + y.len;
            char *tmp = malloc(n);
            if (!tmp) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
            memcpy(tmp, T.ttext + x.off, x.len);
            memcpy(tmp + x.len, T.ttext + y.off, y.len);
            int r2 = add_token(&T, tmp, n);
            free(tmp);
            if (r2) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
        }
        if (n_rules == rules_cap) {
            rules_cap = rules_cap ? rules_cap * 2 : 256;
            void *q = realloc(rules, sizeof *rules * (size_t)rules_cap);
            if (!q) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
            rules = q;
        }
        rules[n_rules][0] = a;
        rules[n_rules][1] = b;
        n_rules++;
        /* apply to every word that holds the pair */
        for (size_t i = 0; i < T.nw; i++) {
            tr_word *wd = &T.words[i];
            int32_t *s = T.pool + wd->off;
            uint32_t j = 0;
            while (j + 1 < wd->len && !(s[j] == a && s[j + 1] == b)) j++;
            if (j + 1 >= wd->len) continue;
            if (count_pairs(&T, wd, -wd->count)) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
            uint32_t o = 0;
            for (j = 0; j < wd->len;) {
                if (j + 1 < wd->len && s[j] == a && s[j + 1] == b) { s[o++] = id; j += 2; }
                else s[o++] = s[j++];
            }
            wd->len = o;
            if (count_pairs(&T, wd, wd->count)) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
        }
    }

    /* assemble: byte tokens, merged tokens, specials; merges as strings */
    int n_vocab = (int)T.ntok + n_special;
    tokens = calloc((size_t)n_vocab, sizeof *tokens);
    types = malloc(sizeof *types * (size_t)n_vocab);
    merges = calloc((size_t)(n_rules ? n_rules : 1), sizeof *merges);
    if (!tokens || !types || !merges) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
    for (size_t i = 0; i < T.ntok; i++) {
        tokens[i] = malloc((size_t)T.toks[i].len * 2 + 1);
        if (!tokens[i]) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
        tokens[i][map_bytes(T.ttext + T.toks[i].off, T.toks[i].len, tokens[i])] = 0;
        types[i] = TTC_TOKEN_NORMAL;
    }
    for (int k = 0; k < n_special; k++) {
        int idx = (int)T.ntok + k;
        tokens[idx] = strdup(special[k]);
        if (!tokens[idx]) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
        types[idx] = TTC_TOKEN_CONTROL;
        for (int j = 0; j < idx; j++)
            if (!strcmp(tokens[j], special[k])) {
                rc = ttc_err_set(e, TTC_EINVAL, "bpe train: special token '%s' duplicates token %d",
                                 special[k], j);
                goto done;
            }
    }
    for (int r = 0; r < n_rules; r++) {
        size_t la = strlen(tokens[rules[r][0]]), lb = strlen(tokens[rules[r][1]]);
        merges[r] = malloc(la + lb + 2);
        if (!merges[r]) { rc = ttc_err_set(e, TTC_ENOMEM, "bpe train: out of memory"); goto done; }
        memcpy(merges[r], tokens[rules[r][0]], la);
        merges[r][la] = ' ';
        memcpy(merges[r] + la + 1, tokens[rules[r][1]], lb + 1);
    }
    rc = ttc_tokenizer_new_bpe((const char *const *)tokens, types, n_vocab,
                               (const char *const *)merges, n_rules, pre, NULL, out, e);
    if (rc) ttc_err_wrap(e, "bpe train: ");
done:
    if (tokens) for (int i = 0; i < (int)T.ntok + n_special; i++) free(tokens[i]);
    if (merges) for (int r = 0; r < n_rules; r++) free(merges[r]);
    free(tokens); free(types); free(merges); free(rules);
    if (w.md) pcre2_match_data_free(w.md);
    free(w.buf); free(w.wbuf); free(w.sym); free(w.heap);
    pcre2_code_free(re);
    trainer_free(&T);
    return rc;
}
