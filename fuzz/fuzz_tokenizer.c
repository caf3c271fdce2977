/* libFuzzer target: tokenizer and detokenizer on arbitrary bytes.
 * Loads one vocabulary once ($TTC_FUZZ_VOCAB, default
 * ../shared/vocab/ggml-vocab-qwen2.gguf; run from the project root; inputs
 * are ignored when it is absent). Each input is tokenized with and without
 * special-token parsing; every id must be in range, the streaming decoder
 * must emit only whole UTF-8 characters, and decoding must give back the
 * input (after U+FFFD replacement of invalid bytes for BPE). Inputs whose
 * first byte is 1 mod 8 also train a small BPE vocabulary on their lines, which
 * must round-trip the input the same way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/tok_internal.h"

static ttc_tokenizer *tok;
static int loaded;

static void load(void) {
    loaded = 1;
    const char *path = getenv("TTC_FUZZ_VOCAB");
    if (!path || !*path) path = "../shared/vocab/ggml-vocab-qwen2.gguf";
    ttc_err e = {0};
    ttc_gguf *g = NULL;
    if (ttc_gguf_open(path, &g, &e) || ttc_tokenizer_from_gguf(g, &tok, &e)) {
        fprintf(stderr, "fuzz_tokenizer: %s (skipping all inputs)\n", e.msg);
        tok = NULL;
    }
    ttc_gguf_close(g);
}

/* The text a BPE tokenizer actually sees: invalid bytes become U+FFFD. */
static size_t sanitized(const uint8_t *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = tok_utf8_next(s + i, n - i, &cp);
        if (k) { memcpy(out + o, s + i, (size_t)k); o += (size_t)k; i += (size_t)k; }
        else { memcpy(out + o, "\xEF\xBF\xBD", 3); o += 3; i++; }
    }
    return o;
}

static void check_utf8(const char *s, int n) {
    for (int i = 0; i < n;) {
        uint32_t cp;
        int k = tok_utf8_next((const uint8_t *)s + i, (size_t)(n - i), &cp);
        if (!k) abort();
        i += k;
    }
}

/* Trains on the lines of the input, then tokenizes it with the result. */
static void train_round_trip(const uint8_t *data, size_t size, const char *want, size_t wn) {
    static char copy[4097];
    const char *lines[256];
    int n = 0;
    memcpy(copy, data, size);
    copy[size] = 0;
    for (char *p = copy, *q; p && n < 256; p = q) {
        q = strchr(p, '\n');
        if (q) *q++ = 0;
        lines[n++] = p;
    }
    const char *special[] = {"<|s|>"};
    ttc_tokenizer *t;
    ttc_err e;
    if (ttc_bpe_train(lines, n, 256 + 24 + 1, "qwen2", special, 1, &t, &e)) abort();
    static int32_t ids[4096 + 8];
    static char got[3 * 4096 + 8];
    int m;
    if (ttc_tokenize(t, (const char *)data, size, false, true, ids, 4096 + 8, &m, &e)) abort();
    size_t gn = 0;
    for (int i = 0; i < m; i++) {
        int k = ttc_token_to_piece(t, ids[i], got + gn, (int)(sizeof got - gn));
        if (k < 0 || gn + (size_t)k > sizeof got) abort();
        gn += (size_t)k;
    }
    if (gn != wn || memcmp(got, want, wn)) abort();
    ttc_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!loaded) load();
    if (size > 4096) return 0;
    static char want[3 * 4096], got[3 * 4096 + 64];
    if (size && (data[0] & 7) == 1) train_round_trip(data, size, want, sanitized(data, size, want));
    if (!tok) return 0;
    static int32_t ids[4096 + 8];
    size_t wn = ttc_tokenizer_model(tok) == TTC_TOK_BPE ? sanitized(data, size, want) : 0;
    for (int special = 0; special < 2; special++) {
        ttc_err e;
        int n;
        if (ttc_tokenize(tok, (const char *)data, size, false, special, ids,
                         (int)(sizeof ids / sizeof ids[0]), &n, &e))
            abort();
        ttc_detok d;
        if (ttc_detok_init(&d, tok, special ? TTC_DETOK_SPECIAL : 0, &e)) abort();
        size_t gn = 0;
        for (int i = 0; i <= n; i++) {
            const char *p;
            int k = i < n ? ttc_detok_push(&d, ids[i], &p) : ttc_detok_flush(&d, &p);
            if (k < 0 || gn + (size_t)k > sizeof got) abort();
            check_utf8(p, k);
            memcpy(got + gn, p, (size_t)k);
            gn += (size_t)k;
        }
        ttc_detok_free(&d);
        if (ttc_tokenizer_model(tok) == TTC_TOK_BPE && (gn != wn || memcmp(got, want, wn))) abort();
    }
    return 0;
}
