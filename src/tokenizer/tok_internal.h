/* Internals shared by the tokenizer sources; not part of the API. */
#ifndef TTC_TOK_INTERNAL_H
#define TTC_TOK_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tokenizer/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Pre-tokenizer regex families. */
typedef enum tok_pre { TOK_PRE_GPT2, TOK_PRE_LLAMA3, TOK_PRE_QWEN2 } tok_pre;

typedef struct tok_entry {
    uint32_t off, len;     /* token string in tok->text */
    uint32_t poff, plen;   /* decoded piece in tok->piece */
    int32_t type;
    float score;
} tok_entry;

typedef struct merge_slot {  /* open-addressing slot: (left,right) -> rank */
    uint64_t key;            /* ((uint64_t)left << 32 | right) + 1; 0 = empty */
    int32_t rank;
} merge_slot;

typedef struct merge_rule { int32_t left, right, result; } merge_rule;

struct ttc_tokenizer {
    ttc_tok_model model;
    tok_pre pre;
    char *pre_name;          /* as given in the metadata (written back) */
    bool ignore_merges;      /* llama3: a pre-token that is a token is kept whole */
    int n_vocab;
    tok_entry *tok;
    char *text;              /* all token strings */
    char *piece;             /* all decoded pieces */
    struct tok_slot { int32_t id; uint32_t hash; } *map;  /* text -> id, id -1 = empty */
    uint32_t map_mask;
    merge_rule *merges;      /* by rank */
    int n_merges;
    merge_slot *mslots;
    uint32_t mslot_mask;
    int32_t byte_tok[256];   /* BPE: token of a byte's unicode char; SPM: <0xNN> */
    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos, add_space_prefix;
    char *chat_template;
    uint8_t *eog;            /* per id: end-of-generation flag */
    int32_t *specials;       /* CONTROL/UNKNOWN/USER_DEFINED ids, longest first */
    int n_specials;
    uint8_t sp_first[256];   /* bit 0: a special of length 1 is this byte;
                                bit 1: some special starts with this byte */
    uint8_t sp_pair[8192];   /* bitmap of the first two bytes of specials */
    uint32_t max_piece;      /* longest decoded piece */
    pcre2_code *re;          /* BPE pre-tokenizer */
};

/* Growable scratch reused by one ttc_tokenize call. */
typedef struct tok_work {
    int32_t *ids; int cap, n;        /* output (caller's array) */
    void *sym; size_t sym_cap;       /* symbol array (bytes) */
    void *heap; size_t heap_cap;     /* candidate heap (bytes) */
    char *buf; size_t buf_cap;       /* sanitised / escaped text */
    char *wbuf; size_t wbuf_cap;     /* mapped word */
    pcre2_match_data *md;
} tok_work;

/* GPT-2 byte <-> unicode mapping: byte b is the code point tok_byte_cp(b);
 * tok_cp_byte(cp) is the inverse or -1. */
uint32_t tok_byte_cp(uint8_t b);
int tok_cp_byte(uint32_t cp);
/* Length of the valid UTF-8 character at s (n bytes available), or 0 when
 * the bytes there are not valid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated). *cp receives the code point. */
int tok_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);
/* Encodes cp as UTF-8 into out (4 bytes room); returns the length. */
int tok_utf8_put(uint32_t cp, char *out);

/* Id of the token whose string is s[0..n), or -1. */
int32_t tok_lookup(const ttc_tokenizer *t, const char *s, size_t n);
/* Rank of the merge (left, right), or -1. */
int32_t tok_merge_rank(const ttc_tokenizer *t, int32_t left, int32_t right);
/* Ensures *p holds at least need bytes (grows geometrically). */
int tok_reserve(void **p, size_t *cap, size_t need);

/* A merge candidate: min-heap by (key, left). BPE: key = rank, a/b = the
 * two ids; SPM: key = -score, a = right symbol, b = merged length. */
typedef struct tok_cand { double key; int32_t left, a, b; } tok_cand;

static inline bool tok_cand_less(const tok_cand *x, const tok_cand *y) {
    return x->key < y->key || (x->key == y->key && x->left < y->left);
}

static inline void tok_heap_push(tok_cand *h, int *n, tok_cand c) {
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!tok_cand_less(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static inline tok_cand tok_heap_pop(tok_cand *h, int *n) {
    tok_cand top = h[0], last = h[--*n];
    int i = 0, m = *n;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && tok_cand_less(&h[c + 1], &h[c])) c++;
        if (!tok_cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (m > 0) h[i] = last;
    return top;
}

/* Appends one id to the output (counts past cap). */
static inline void tok_emit(tok_work *w, int32_t id) {
    if (w->n < w->cap) w->ids[w->n] = id;
    w->n++;
}

/* Tokenizes one raw-text fragment (no special tokens inside). */
int tok_bpe_fragment(const ttc_tokenizer *t, tok_work *w, const char *s, size_t n, ttc_err *e);
int tok_spm_fragment(const ttc_tokenizer *t, tok_work *w, const char *s, size_t n,
                     bool space_prefix, ttc_err *e);
/* Compiles the regex of a pre-tokenizer family (name is for messages). */
pcre2_code *tok_pre_compile(tok_pre pre, const char *name, ttc_err *e);
/* Splits s into pre-tokens with re (after replacing invalid UTF-8 by U+FFFD
 * in w->buf; w->md must be match data for re) and calls fn on each. */
typedef int (*tok_word_fn)(void *ctx, const uint8_t *s, size_t n, ttc_err *e);
int tok_pre_split(const pcre2_code *re, tok_work *w, const char *s, size_t n,
                  tok_word_fn fn, void *ctx, ttc_err *e);
/* Compiles the pre-tokenizer regex for t->pre into t->re. */
int tok_bpe_compile(ttc_tokenizer *t, ttc_err *e);
/* Maps a metadata pre-tokenizer name to its family; false if unknown. */
bool tok_pre_from_name(const char *name, tok_pre *out);
#endif
