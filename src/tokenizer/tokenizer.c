/* Tokenizer construction, lookups, special-token splitting, queries and
 * detokenization. The two encoders live in bpe.c and spm.c. */
#include "tokenizer/tok_internal.h"
#include "base/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- unicode helpers ---- */

/* GPT-2's printable bytes keep their code point; the other 68 bytes are
 * numbered 256, 257, ... in byte order. */
static bool byte_printable(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
}

uint32_t tok_byte_cp(uint8_t b) {
    if (byte_printable(b)) return b;
    if (b <= 32) return 256u + b;          /* 0..32    -> 256..288 */
    if (b <= 160) return b + 162u;         /* 127..160 -> 289..322 */
    return 323;                            /* 173 */
}

int tok_cp_byte(uint32_t cp) {
    if (cp < 256) return byte_printable(cp) ? (int)cp : -1;
    if (cp <= 288) return (int)(cp - 256);
    if (cp <= 322) return (int)(cp - 162);
    return cp == 323 ? 173 : -1;
}

int tok_utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    uint32_t v, lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3; v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;       /* overlong */
        if (c == 0xED) hi = 0x9F;       /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4; v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;       /* > U+10FFFF */
    } else return 0;
    if ((size_t)len > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

int tok_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xC0 | cp >> 6; o[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        o[0] = 0xE0 | cp >> 12; o[1] = 0x80 | (cp >> 6 & 0x3F); o[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    o[0] = 0xF0 | cp >> 18; o[1] = 0x80 | (cp >> 12 & 0x3F);
    o[2] = 0x80 | (cp >> 6 & 0x3F); o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

int tok_reserve(void **p, size_t *cap, size_t need) {
    if (need <= *cap) return TTC_OK;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, c);
    if (!q) return TTC_ENOMEM;
    *p = q;
    *cap = c;
    return TTC_OK;
}

/* ---- text -> id hash ---- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;            /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ h >> 29;
}

int32_t tok_lookup(const ttc_tokenizer *t, const char *s, size_t n) {
    uint64_t h = hash_bytes(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & t->map_mask;; i = (i + 1) & t->map_mask) {
        int32_t id = t->map[i].id;
        if (id < 0) return -1;
        if (t->map[i].hash != tag) continue;
        const tok_entry *en = &t->tok[id];
        if (en->len == n && !memcmp(t->text + en->off, s, n)) return id;
    }
}

/* Inserts id under its own text; a later duplicate replaces an earlier one
 * (as llama.cpp's token_to_id map does). */
static void map_insert(ttc_tokenizer *t, int32_t id) {
    const tok_entry *en = &t->tok[id];
    const char *s = t->text + en->off;
    uint64_t h = hash_bytes(s, en->len);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & t->map_mask;; i = (i + 1) & t->map_mask) {
        int32_t o = t->map[i].id;
        if (o < 0) { t->map[i].id = id; t->map[i].hash = tag; return; }
        if (t->map[i].hash == tag && t->tok[o].len == en->len &&
            !memcmp(t->text + t->tok[o].off, s, en->len)) {
            t->map[i].id = id;
            return;
        }
    }
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ x >> 33;
}

/* Records rank for the pair (l, r); the first (lowest) rank wins. */
static void merge_insert(ttc_tokenizer *t, int32_t l, int32_t r, int32_t rank) {
    uint64_t key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
    uint32_t i = (uint32_t)mix64(key) & t->mslot_mask;
    for (;; i = (i + 1) & t->mslot_mask) {
        if (t->mslots[i].key == 0) { t->mslots[i].key = key; t->mslots[i].rank = rank; return; }
        if (t->mslots[i].key == key) return;            /* first (lowest) rank wins */
    }
}

int32_t tok_merge_rank(const ttc_tokenizer *t, int32_t l, int32_t r) {
    if (!t->mslots) return -1;
    uint64_t key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
    uint32_t i = (uint32_t)mix64(key) & t->mslot_mask;
    for (;; i = (i + 1) & t->mslot_mask) {
        if (t->mslots[i].key == key) return t->mslots[i].rank;
        if (t->mslots[i].key == 0) return -1;
    }
}

/* ---- construction ---- */

ttc_tokenizer_spec ttc_tokenizer_spec_default(void) {
    ttc_tokenizer_spec s;
    memset(&s, 0, sizeof s);
    s.bos = s.eos = s.eot = s.eom = s.unk = s.pad = -1;
    s.add_space_prefix = true;
    return s;
}

void ttc_tokenizer_free(ttc_tokenizer *t) {
    if (!t) return;
    free(t->pre_name);
    free(t->tok);
    free(t->text);
    free(t->piece);
    free(t->map);
    free(t->merges);
    free(t->mslots);
    free(t->chat_template);
    free(t->eog);
    free(t->specials);
    if (t->re) pcre2_code_free(t->re);
    free(t);
}

enum { TOK_MAX_VOCAB = 1 << 26 };

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c *= 2;
    return c;
}

bool tok_pre_from_name(const char *name, tok_pre *out) {
    static const struct { const char *name; tok_pre pre; } names[] = {
        {"default", TOK_PRE_GPT2}, {"gpt-2", TOK_PRE_GPT2}, {"gpt2", TOK_PRE_GPT2},
        {"llama3", TOK_PRE_LLAMA3}, {"llama-v3", TOK_PRE_LLAMA3},
        {"llama-bpe", TOK_PRE_LLAMA3}, {"falcon3", TOK_PRE_LLAMA3}, {"pixtral", TOK_PRE_LLAMA3},
        {"qwen2", TOK_PRE_QWEN2}, {"deepseek-r1-qwen", TOK_PRE_QWEN2},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) { *out = names[i].pre; return true; }
    return false;
}

/* Decoded bytes of token id into out (room for its text length); returns
 * the length. */
static uint32_t decode_piece(const ttc_tokenizer *t, int32_t id, char *out) {
    const tok_entry *en = &t->tok[id];
    const uint8_t *s = (const uint8_t *)t->text + en->off;
    uint32_t n = en->len, o = 0;
    switch (en->type) {
    case TTC_TOKEN_CONTROL: case TTC_TOKEN_UNKNOWN: case TTC_TOKEN_USER_DEFINED:
        memcpy(out, s, n);
        return n;
    case TTC_TOKEN_UNUSED: case TTC_TOKEN_UNDEFINED:
        return 0;
    case TTC_TOKEN_BYTE:
        if (t->model == TTC_TOK_SPM && n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
            unsigned v;
            char hex[3] = {(char)s[3], (char)s[4], 0};
            char *end;
            v = (unsigned)strtoul(hex, &end, 16);
            if (*end == 0) { out[0] = (char)v; return 1; }
        }
        break;
    default:
        break;
    }
    if (t->model == TTC_TOK_SPM) {                       /* "▁" -> ' ' */
        for (uint32_t i = 0; i < n;) {
            if (i + 3 <= n && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
                out[o++] = ' ';
                i += 3;
            } else out[o++] = (char)s[i++];
        }
        return o;
    }
    for (uint32_t i = 0; i < n;) {                       /* byte-level decode */
        uint32_t cp;
        int k = tok_utf8_next(s + i, n - i, &cp);
        int b = k ? tok_cp_byte(cp) : -1;
        if (b >= 0) { out[o++] = (char)b; i += (uint32_t)k; }
        else if (k) { memcpy(out + o, s + i, (size_t)k); o += (uint32_t)k; i += (uint32_t)k; }
        else out[o++] = (char)s[i++];
    }
    return o;
}

static bool is_special_type(int32_t type) {
    return type == TTC_TOKEN_CONTROL || type == TTC_TOKEN_UNKNOWN ||
           type == TTC_TOKEN_USER_DEFINED;
}

static int cmp_special(const void *a, const void *b, void *arg) {
    const ttc_tokenizer *t = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->tok[x].len != t->tok[y].len) return t->tok[x].len > t->tok[y].len ? -1 : 1;
    return (x > y) - (x < y);
}

/* Marks end-of-generation ids: the special ids plus the end tokens
 * llama.cpp knows by name. Like llama.cpp, a named end token that is not
 * CONTROL becomes CONTROL (matched only with parse_special, skipped when
 * detokenizing without specials). */
static void mark_eog(ttc_tokenizer *t) {
    static const char *const names[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>",
        "<end_of_utterance>", "</s>",
    };
    memset(t->eog, 0, (size_t)t->n_vocab);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int32_t id = tok_lookup(t, names[i], strlen(names[i]));
        if (id < 0) continue;
        t->eog[id] = 1;
        t->tok[id].type = TTC_TOKEN_CONTROL;
    }
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;
}

static int check_id(const char *name, int32_t id, int n_vocab, ttc_err *e) {
    if (id < -1 || id >= n_vocab)
        return ttc_err_set(e, TTC_EFORMAT, "tokenizer: %s = %d is out of range (vocabulary of %d)",
                           name, (int)id, n_vocab);
    return TTC_OK;
}

static int build_merges(ttc_tokenizer *t, const ttc_tokenizer_spec *sp, ttc_err *e) {
    if (sp->n_merges <= 0) return TTC_OK;
    if (!sp->merges)
        return ttc_err_set(e, TTC_EINVAL, "tokenizer: %d merges but no merge array", sp->n_merges);
    t->merges = malloc(sizeof *t->merges * (size_t)sp->n_merges);
    t->mslot_mask = pow2_at_least((uint64_t)sp->n_merges * 2) - 1;
    t->mslots = calloc((size_t)t->mslot_mask + 1, sizeof *t->mslots);
    char *buf = NULL;
    size_t cap = 0;
    if (!t->merges || !t->mslots) return ttc_err_set(e, TTC_ENOMEM, "tokenizer: out of memory for merges");
    int rc = TTC_OK;
    for (int r = 0; r < sp->n_merges; r++) {
        const char *m = sp->merges[r];
        size_t n = sp->merge_lens ? sp->merge_lens[r] : (m ? strlen(m) : 0);
        const char *sep = n > 1 ? memchr(m + 1, ' ', n - 1) : NULL;   /* first space after 1 */
        if (!sep) {
            rc = ttc_err_set(e, TTC_EFORMAT, "tokenizer.ggml.merges[%d]: '%.*s' has no space",
                             r, (int)TTC_MIN(n, 64), m ? m : "");
            break;
        }
        size_t ln = (size_t)(sep - m), rn = n - ln - 1;
        int32_t l = tok_lookup(t, m, ln), rr = tok_lookup(t, sep + 1, rn);
        if (tok_reserve((void **)&buf, &cap, n) != TTC_OK) { rc = TTC_ENOMEM; break; }
        memcpy(buf, m, ln);
        memcpy(buf + ln, sep + 1, rn);
        int32_t res = tok_lookup(t, buf, ln + rn);
        if (l < 0 || rr < 0 || res < 0) {
            rc = ttc_err_set(e, TTC_EFORMAT,
                             "tokenizer.ggml.merges[%d]: '%.*s': %s is not a token", r,
                             (int)TTC_MIN(n, 64), m,
                             l < 0 ? "the left part" : rr < 0 ? "the right part" : "the result");
            break;
        }
        t->merges[r] = (merge_rule){l, rr, res};
        merge_insert(t, l, rr, r);
    }
    free(buf);
    if (rc == TTC_ENOMEM) return ttc_err_set(e, rc, "tokenizer: out of memory for merges");
    t->n_merges = rc ? 0 : sp->n_merges;
    return rc;
}

int ttc_tokenizer_new(const ttc_tokenizer_spec *sp, ttc_tokenizer **out, ttc_err *e) {
    *out = NULL;
    ttc_tok_model model;
    if (!sp->model) return ttc_err_set(e, TTC_EINVAL, "tokenizer: no model type given");
    if (!strcmp(sp->model, "gpt2")) model = TTC_TOK_BPE;
    else if (!strcmp(sp->model, "llama")) model = TTC_TOK_SPM;
    else return ttc_err_set(e, TTC_EUNSUPPORTED,
                            "tokenizer.ggml.model: '%s' is not supported (gpt2, llama)", sp->model);
    const char *pre_name = sp->pre ? sp->pre : "default";
    tok_pre pre = TOK_PRE_GPT2;
    if (model == TTC_TOK_BPE && !tok_pre_from_name(pre_name, &pre))
        return ttc_err_set(e, TTC_EUNSUPPORTED,
                           "tokenizer.ggml.pre: pre-tokenizer '%s' is not supported "
                           "(gpt-2, default, llama3, llama-bpe, qwen2)", pre_name);
    if (sp->n_vocab <= 0 || !sp->tokens)
        return ttc_err_set(e, TTC_EFORMAT, "tokenizer.ggml.tokens: empty vocabulary");
    if (sp->n_vocab > TOK_MAX_VOCAB || sp->n_merges > TOK_MAX_VOCAB)
        return ttc_err_set(e, TTC_EFORMAT, "tokenizer: %d tokens / %d merges exceed the limit of %d",
                           sp->n_vocab, sp->n_merges, TOK_MAX_VOCAB);
    int rc;
    if ((rc = check_id("bos_token_id", sp->bos, sp->n_vocab, e)) ||
        (rc = check_id("eos_token_id", sp->eos, sp->n_vocab, e)) ||
        (rc = check_id("eot_token_id", sp->eot, sp->n_vocab, e)) ||
        (rc = check_id("eom_token_id", sp->eom, sp->n_vocab, e)) ||
        (rc = check_id("unknown_token_id", sp->unk, sp->n_vocab, e)) ||
        (rc = check_id("padding_token_id", sp->pad, sp->n_vocab, e)))
        return rc;

    ttc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return ttc_err_set(e, TTC_ENOMEM, "tokenizer: out of memory");
    t->model = model;
    t->pre = pre;
    t->ignore_merges = model == TTC_TOK_BPE && pre == TOK_PRE_LLAMA3;
    t->n_vocab = sp->n_vocab;
    t->bos = sp->bos; t->eos = sp->eos; t->eot = sp->eot;
    t->eom = sp->eom; t->unk = sp->unk; t->pad = sp->pad;
    t->add_bos = sp->add_bos;
    t->add_eos = sp->add_eos;
    t->add_space_prefix = sp->add_space_prefix;
    t->pre_name = strdup(pre_name);
    t->tok = calloc((size_t)sp->n_vocab, sizeof *t->tok);
    t->eog = calloc((size_t)sp->n_vocab, 1);
    if (sp->chat_template) t->chat_template = strdup(sp->chat_template);
    if (!t->pre_name || !t->tok || !t->eog || (sp->chat_template && !t->chat_template)) {
        rc = ttc_err_set(e, TTC_ENOMEM, "tokenizer: out of memory");
        goto fail;
    }

    uint64_t total = 0;
    for (int i = 0; i < sp->n_vocab; i++) {
        const char *s = sp->tokens[i];
        uint64_t n = sp->token_lens ? sp->token_lens[i] : (s ? strlen(s) : 0);
        if (!s && n) { rc = ttc_err_set(e, TTC_EINVAL, "tokenizer.ggml.tokens[%d] is NULL", i); goto fail; }
        int32_t type = sp->types ? sp->types[i] : TTC_TOKEN_NORMAL;
        if (type < 0 || type > TTC_TOKEN_BYTE) {
            rc = ttc_err_set(e, TTC_EFORMAT, "tokenizer.ggml.token_type[%d] = %d is not a token type (0..6)",
                             i, (int)type);
            goto fail;
        }
        float sc = sp->scores ? sp->scores[i] : 0.0f;
        t->tok[i] = (tok_entry){.off = (uint32_t)total, .len = (uint32_t)n, .type = type,
                                .score = isnan(sc) ? -1e30f : sc};
        total += n;
        if (total > UINT32_MAX / 2) {
            rc = ttc_err_set(e, TTC_ENOMEM, "tokenizer.ggml.tokens: token text exceeds 2 GiB");
            goto fail;
        }
    }
    t->text = malloc(total + 1);
    t->piece = malloc(total + 1);
    t->map_mask = pow2_at_least((uint64_t)sp->n_vocab * 2) - 1;
    t->map = malloc(sizeof *t->map * ((size_t)t->map_mask + 1));
    if (!t->text || !t->piece || !t->map) { rc = ttc_err_set(e, TTC_ENOMEM, "tokenizer: out of memory"); goto fail; }
    memset(t->map, 0xff, sizeof *t->map * ((size_t)t->map_mask + 1));
    for (int i = 0; i < sp->n_vocab; i++) {
        if (t->tok[i].len) memcpy(t->text + t->tok[i].off, sp->tokens[i], t->tok[i].len);
        map_insert(t, i);
    }
    /* decoded pieces (never longer than the token text) */
    uint32_t po = 0;
    for (int i = 0; i < sp->n_vocab; i++) {
        uint32_t n = decode_piece(t, i, t->piece + po);
        t->tok[i].poff = po;
        t->tok[i].plen = n;
        po += n;
        if (n > t->max_piece) t->max_piece = n;
    }
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int n;
        if (model == TTC_TOK_BPE) n = tok_utf8_put(tok_byte_cp((uint8_t)b), buf);
        else n = snprintf(buf, sizeof buf, "<0x%02X>", b);
        t->byte_tok[b] = tok_lookup(t, buf, (size_t)n);
    }
    if (model == TTC_TOK_BPE && (rc = build_merges(t, sp, e)) != TTC_OK) goto fail;

    mark_eog(t);                                    /* may turn end tokens into CONTROL */
    int ns = 0;
    for (int i = 0; i < sp->n_vocab; i++) ns += is_special_type(t->tok[i].type) && t->tok[i].len > 0;
    t->specials = malloc(sizeof *t->specials * (size_t)(ns ? ns : 1));
    if (!t->specials) { rc = ttc_err_set(e, TTC_ENOMEM, "tokenizer: out of memory"); goto fail; }
    for (int i = 0; i < sp->n_vocab; i++) {
        if (!is_special_type(t->tok[i].type) || t->tok[i].len == 0) continue;
        t->specials[t->n_specials++] = i;
        const uint8_t *u = (const uint8_t *)t->text + t->tok[i].off;
        t->sp_first[u[0]] |= t->tok[i].len == 1 ? 1 : 2;
        if (t->tok[i].len > 1) t->sp_pair[(u[0] << 8 | u[1]) >> 3] |= (uint8_t)(1 << (u[1] & 7));
    }
    qsort_r(t->specials, (size_t)t->n_specials, sizeof *t->specials, cmp_special, t);
    if (model == TTC_TOK_BPE && (rc = tok_bpe_compile(t, e)) != TTC_OK) goto fail;
    *out = t;
    return TTC_OK;
fail:
    ttc_tokenizer_free(t);
    return rc;
}

int ttc_tokenizer_new_bpe(const char *const *tokens, const int32_t *types, int n_vocab,
                          const char *const *merges, int n_merges, const char *pre,
                          const int32_t ids[6], ttc_tokenizer **out, ttc_err *e) {
    ttc_tokenizer_spec sp = ttc_tokenizer_spec_default();
    sp.model = "gpt2";
    sp.pre = pre;
    sp.n_vocab = n_vocab;
    sp.tokens = tokens;
    sp.types = types;
    sp.n_merges = n_merges;
    sp.merges = merges;
    if (ids) {
        sp.bos = ids[0]; sp.eos = ids[1]; sp.eot = ids[2];
        sp.eom = ids[3]; sp.unk = ids[4]; sp.pad = ids[5];
    }
    return ttc_tokenizer_new(&sp, out, e);
}

int ttc_tokenizer_set_special(ttc_tokenizer *t, ttc_special which, int32_t id, ttc_err *e) {
    static const char *const names[] = {"bos", "eos", "eot", "eom", "unk", "pad"};
    if ((unsigned)which > TTC_SPECIAL_PAD)
        return ttc_err_set(e, TTC_EINVAL, "tokenizer: unknown special token kind %d", (int)which);
    int rc = check_id(names[which], id, t->n_vocab, e);
    if (rc) return rc;
    int32_t *slot[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk, &t->pad};
    *slot[which] = id;
    mark_eog(t);
    return TTC_OK;
}

void ttc_tokenizer_set_add_bos(ttc_tokenizer *t, bool add_bos, bool add_eos) {
    t->add_bos = add_bos;
    t->add_eos = add_eos;
}

/* ---- tokenize ---- */

typedef struct frag { size_t off, len; int32_t id; } frag;   /* id -1: raw text */

/* Splits [0,len) into raw text and special tokens, longest token first over
 * the whole text (llama.cpp's order). *out is malloc'd. */
static int split_specials(const ttc_tokenizer *t, const char *text, size_t len, bool parse_special,
                          frag **out, int *nout) {
    size_t cap = 8, n = 1;
    frag *f = malloc(sizeof *f * cap), *g = NULL;
    if (!f) return TTC_ENOMEM;
    f[0] = (frag){0, len, -1};
    /* where a special token could start (usually nowhere) */
    enum { MAXPOS = 256 };
    size_t pos[MAXPOS];
    size_t npos = 0;
    const uint8_t *u = (const uint8_t *)text;
    for (size_t i = 0; i < len && npos <= MAXPOS; i++) {
        uint8_t fb = t->sp_first[u[i]];
        if (!fb) continue;
        bool cand = fb & 1;
        if ((fb & 2) && i + 1 < len) {
            unsigned pair = (unsigned)u[i] << 8 | u[i + 1];
            cand |= (t->sp_pair[pair >> 3] >> (pair & 7)) & 1;
        }
        if (cand) { if (npos < MAXPOS) pos[npos] = i; npos++; }
    }
    if (npos == 0) { *out = f; *nout = 1; return TTC_OK; }
    for (int k = 0; k < t->n_specials; k++) {
        int32_t id = t->specials[k];
        const tok_entry *en = &t->tok[id];
        if (!parse_special && en->type != TTC_TOKEN_USER_DEFINED) continue;
        const char *s = t->text + en->off;
        if (en->len > len) continue;
        if (npos <= MAXPOS) {                              /* present at a candidate? */
            size_t j = 0;
            while (j < npos && (pos[j] + en->len > len || memcmp(text + pos[j], s, en->len))) j++;
            if (j == npos) continue;
        } else if (!memmem(text, len, s, en->len)) continue;
        size_t gn = 0, gcap = n + 8;
        g = malloc(sizeof *g * gcap);
        if (!g) { free(f); return TTC_ENOMEM; }
        for (size_t i = 0; i < n; i++) {
            size_t off = f[i].off, end = f[i].off + f[i].len;
            if (f[i].id < 0) {
                const char *p;
                while (off < end && (p = memmem(text + off, end - off, s, en->len))) {
                    size_t at = (size_t)(p - text);
                    if (gn + 2 >= gcap) {
                        frag *q = realloc(g, sizeof *g * (gcap *= 2));
                        if (!q) { free(g); free(f); return TTC_ENOMEM; }
                        g = q;
                    }
                    if (at > off) g[gn++] = (frag){off, at - off, -1};
                    g[gn++] = (frag){at, en->len, id};
                    off = at + en->len;
                }
            }
            if (gn + 1 >= gcap) {
                frag *q = realloc(g, sizeof *g * (gcap *= 2));
                if (!q) { free(g); free(f); return TTC_ENOMEM; }
                g = q;
            }
            if (f[i].id >= 0) g[gn++] = f[i];
            else if (end > off) g[gn++] = (frag){off, end - off, -1};
        }
        free(f);
        f = g;
        n = gn;
        g = NULL;
    }
    *out = f;
    *nout = (int)n;
    return TTC_OK;
}

int ttc_tokenize(const ttc_tokenizer *t, const char *text, size_t len, bool add_bos,
                 bool parse_special, int32_t *ids, int cap, int *n, ttc_err *e) {
    if (n) *n = 0;
    if (!t || !n || (!text && len) || cap < 0 || (!ids && cap))
        return ttc_err_set(e, TTC_EINVAL, "tokenize: bad arguments");
    if (len > (size_t)INT32_MAX / 4)
        return ttc_err_set(e, TTC_ENOMEM, "tokenize: text of %zu bytes is too long", len);
    tok_work w = {.ids = ids, .cap = cap};
    if (add_bos && t->bos >= 0) tok_emit(&w, t->bos);
    int rc = TTC_OK;
    if (len) {
        frag *f;
        int nf;
        if (split_specials(t, text, len, parse_special, &f, &nf) != TTC_OK)
            return ttc_err_set(e, TTC_ENOMEM, "tokenize: out of memory splitting special tokens");
        if (t->model == TTC_TOK_BPE) {
            w.md = pcre2_match_data_create_from_pattern(t->re, NULL);
            if (!w.md) rc = ttc_err_set(e, TTC_ENOMEM, "tokenize: out of memory for regex match data");
        }
        for (int i = 0; i < nf && rc == TTC_OK; i++) {
            if (f[i].id >= 0) tok_emit(&w, f[i].id);
            else if (t->model == TTC_TOK_BPE)
                rc = tok_bpe_fragment(t, &w, text + f[i].off, f[i].len, e);
            else
                rc = tok_spm_fragment(t, &w, text + f[i].off, f[i].len, t->add_space_prefix, e);
        }
        free(f);
        if (w.md) pcre2_match_data_free(w.md);
        free(w.sym);
        free(w.heap);
        free(w.buf);
        free(w.wbuf);
    }
    if (rc) return rc;
    if (add_bos && t->add_eos && t->eos >= 0) tok_emit(&w, t->eos);
    *n = w.n;
    if (w.n > cap)
        return ttc_err_set(e, TTC_ENOMEM, "tokenize: %d tokens do not fit in %d", w.n, cap);
    return TTC_OK;
}

int ttc_tokenize_alloc(const ttc_tokenizer *t, const char *text, size_t len, bool add_bos,
                       bool parse_special, int32_t **ids, int *n, ttc_err *e) {
    *ids = NULL;
    *n = 0;
    int cap = len < (size_t)1 << 28 ? (int)len + 4 : 1 << 28;   /* tokens <= bytes + specials */
    int32_t *buf = malloc(sizeof *buf * (size_t)cap);
    if (!buf) return ttc_err_set(e, TTC_ENOMEM, "tokenize: out of memory for %d ids", cap);
    int rc = ttc_tokenize(t, text, len, add_bos, parse_special, buf, cap, n, e);
    if (rc == TTC_ENOMEM && *n > cap) {
        int32_t *b2 = realloc(buf, sizeof *buf * (size_t)*n);
        if (!b2) { free(buf); return ttc_err_set(e, TTC_ENOMEM, "tokenize: out of memory"); }
        buf = b2;
        cap = *n;
        rc = ttc_tokenize(t, text, len, add_bos, parse_special, buf, cap, n, e);
    }
    if (rc) { free(buf); *n = 0; return rc; }
    *ids = buf;
    return TTC_OK;
}

/* ---- queries ---- */

int ttc_token_to_piece(const ttc_tokenizer *t, int32_t id, char *buf, int cap) {
    if (id < 0 || id >= t->n_vocab) return TTC_EINVAL;
    const tok_entry *en = &t->tok[id];
    int n = (int)en->plen;
    if (cap > 0) {
        int k = TTC_MIN(n, cap);
        memcpy(buf, t->piece + en->poff, (size_t)k);
        if (k < cap) buf[k] = 0;
    }
    return n;
}

const char *ttc_token_text(const ttc_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    if (len) *len = t->tok[id].len;
    return t->text + t->tok[id].off;
}

int ttc_token_type(const ttc_tokenizer *t, int32_t id) {
    return id < 0 || id >= t->n_vocab ? -1 : t->tok[id].type;
}

int ttc_tokenizer_n_vocab(const ttc_tokenizer *t) { return t->n_vocab; }
ttc_tok_model ttc_tokenizer_model(const ttc_tokenizer *t) { return t->model; }
const char *ttc_tokenizer_pre(const ttc_tokenizer *t) { return t->pre_name; }
int32_t ttc_tokenizer_bos(const ttc_tokenizer *t) { return t->bos; }
int32_t ttc_tokenizer_eos(const ttc_tokenizer *t) { return t->eos; }
int32_t ttc_tokenizer_eot(const ttc_tokenizer *t) { return t->eot; }
int32_t ttc_tokenizer_pad(const ttc_tokenizer *t) { return t->pad; }
int32_t ttc_tokenizer_unk(const ttc_tokenizer *t) { return t->unk; }
bool ttc_tokenizer_add_bos(const ttc_tokenizer *t) { return t->add_bos; }
bool ttc_tokenizer_add_eos(const ttc_tokenizer *t) { return t->add_eos; }
const char *ttc_tokenizer_chat_template(const ttc_tokenizer *t) { return t->chat_template; }

bool ttc_tokenizer_is_eog(const ttc_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && t->eog[id];
}

bool ttc_tokenizer_is_special(const ttc_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && is_special_type(t->tok[id].type);
}

int32_t ttc_tokenizer_find(const ttc_tokenizer *t, const char *text) {
    return text ? tok_lookup(t, text, strlen(text)) : -1;
}

/* ---- detokenization ---- */

int ttc_detok_init(ttc_detok *d, const ttc_tokenizer *t, unsigned flags, ttc_err *e) {
    memset(d, 0, sizeof *d);
    d->tok = t;
    d->flags = flags;
    /* input area (pending + piece) then output area (3 bytes per input byte) */
    d->cap = ((size_t)t->max_piece + 4) * 4;
    d->buf = malloc(d->cap);
    if (!d->buf) return ttc_err_set(e, TTC_ENOMEM, "detokenize: out of memory");
    return TTC_OK;
}

void ttc_detok_free(ttc_detok *d) {
    free(d->buf);
    d->buf = NULL;
}

/* Could s[0..n) (n < full length) still begin a valid UTF-8 character? */
static bool utf8_prefix_ok(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) { need = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return false;
    if (n >= need) return false;
    if (n > 1 && (s[1] < lo || s[1] > hi)) return false;
    for (size_t i = 2; i < n; i++) if ((s[i] & 0xC0) != 0x80) return false;
    return true;
}

int ttc_detok_push(ttc_detok *d, int32_t id, const char **text) {
    const ttc_tokenizer *t = d->tok;
    *text = d->buf;
    if (id < 0 || id >= t->n_vocab) return TTC_EINVAL;
    const tok_entry *en = &t->tok[id];
    if ((en->type == TTC_TOKEN_CONTROL || en->type == TTC_TOKEN_UNKNOWN) &&
        !(d->flags & TTC_DETOK_SPECIAL))
        return 0;
    const char *p = t->piece + en->poff;
    size_t pn = en->plen;
    if (!d->started && pn) {
        d->started = true;
        if ((d->flags & TTC_DETOK_STRIP_SPACE) && t->model == TTC_TOK_SPM && p[0] == ' ') {
            p++;
            pn--;
        }
    }
    uint8_t *in = (uint8_t *)d->buf;
    size_t n = (size_t)d->npend;
    memcpy(in, d->pend, n);
    memcpy(in + n, p, pn);
    n += pn;
    char *out = d->buf + t->max_piece + 4;
    size_t o = 0, i = 0;
    d->npend = 0;
    while (i < n) {
        uint32_t cp;
        int k = tok_utf8_next(in + i, n - i, &cp);
        if (k) { memmove(out + o, in + i, (size_t)k); o += (size_t)k; i += (size_t)k; continue; }
        if (utf8_prefix_ok(in + i, n - i)) {                 /* wait for more bytes */
            d->npend = (int)(n - i);
            memcpy(d->pend, in + i, n - i);
            break;
        }
        memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += 3;
        i++;
    }
    *text = out;
    return (int)o;
}

int ttc_detok_flush(ttc_detok *d, const char **text) {
    *text = d->buf;
    if (!d->npend) return 0;
    d->npend = 0;
    memcpy(d->buf, "\xEF\xBF\xBD", 3);
    return 3;
}

int ttc_detokenize(const ttc_tokenizer *t, const int32_t *ids, int n, unsigned flags,
                   char **out, size_t *len, ttc_err *e) {
    *out = NULL;
    if (len) *len = 0;
    ttc_detok d;
    int rc = ttc_detok_init(&d, t, flags, e);
    if (rc) return rc;
    size_t cap = 64, o = 0;
    char *s = malloc(cap);
    if (!s) { ttc_detok_free(&d); return ttc_err_set(e, TTC_ENOMEM, "detokenize: out of memory"); }
    for (int i = 0; i <= n; i++) {
        const char *p;
        int k = i < n ? ttc_detok_push(&d, ids[i], &p) : ttc_detok_flush(&d, &p);
        if (k < 0) {
            free(s);
            ttc_detok_free(&d);
            return ttc_err_set(e, TTC_EINVAL, "detokenize: token %d at position %d is out of range (vocabulary of %d)",
                               (int)ids[i], i, t->n_vocab);
        }
        if (tok_reserve((void **)&s, &cap, o + (size_t)k + 1) != TTC_OK) {
            free(s);
            ttc_detok_free(&d);
            return ttc_err_set(e, TTC_ENOMEM, "detokenize: out of memory");
        }
        memcpy(s + o, p, (size_t)k);
        o += (size_t)k;
    }
    s[o] = 0;
    ttc_detok_free(&d);
    *out = s;
    if (len) *len = o;
    return TTC_OK;
}
