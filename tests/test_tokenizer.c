/* Tokenizers: llama.cpp's test vectors for four vocabularies, round trips,
 * streaming detokenization, special tokens, errors, BPE training, GGUF
 * round trip and the `ttc tokenize` command. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "gguf/gguf.h"
#include "testutil.h"
#include "tokenizer/chat.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"

static ttc_tokenizer *load_vocab(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    ttc_err e = {0};
    ttc_gguf *g = NULL;
    cr_assert_eq(ttc_gguf_open(tu_shared(rel), &g, &e), TTC_OK, "%s", e.msg);
    ttc_tokenizer *t = NULL;
    cr_assert_eq(ttc_tokenizer_from_gguf(g, &t, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_close(g);
    return t;
}

/* Test cases of vocab/ggml-vocab-NAME.gguf.inp: each case is followed by
 * "\n__ggml_vocab_test__\n"; .out has one line of ids per case. */
typedef struct vcase { char *text; size_t len; int32_t ids[512]; int n; } vcase;

static int load_cases(const char *name, vcase **out) {
    char rel[128];
    ttc_err e = {0};
    char *inp, *outp;
    size_t ni, no;
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", name);
    cr_assert_eq(ttc_read_file(tu_shared(rel), &inp, &ni, &e), TTC_OK, "%s", e.msg);
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.out", name);
    cr_assert_eq(ttc_read_file(tu_shared(rel), &outp, &no, &e), TTC_OK, "%s", e.msg);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    vcase *c = calloc(128, sizeof *c);
    int n = 0;
    char *p = inp, *q;
    while ((q = memmem(p, (size_t)(inp + ni - p), sep, sizeof sep - 1))) {
        cr_assert(n < 128);
        c[n].len = (size_t)(q - p);
        c[n].text = malloc(c[n].len + 1);
        memcpy(c[n].text, p, c[n].len);
        c[n].text[c[n].len] = 0;
        n++;
        p = q + sizeof sep - 1;
    }
    char *line = outp;
    for (int i = 0; i < n; i++) {
        char *nl = strchr(line, '\n');
        cr_assert(nl, "%s.out has fewer lines than cases", name);
        *nl = 0;
        char *s = line, *end;
        for (long v; (v = strtol(s, &end, 10)), end != s; s = end) c[i].ids[c[i].n++] = (int32_t)v;
        line = nl + 1;
    }
    free(inp);
    free(outp);
    *out = c;
    return n;
}

static void free_cases(vcase *c, int n) {
    for (int i = 0; i < n; i++) free(c[i].text);
    free(c);
}

static void check_vocab(const char *name) {
    ttc_tokenizer *t = load_vocab(name);
    vcase *c;
    int n = load_cases(name, &c);
    cr_assert_eq(n, 46, "%s: %d cases", name, n);
    int32_t ids[1024];
    for (int i = 0; i < n; i++) {
        ttc_err e = {0};
        int got;
        cr_assert_eq(ttc_tokenize(t, c[i].text, c[i].len, false, false, ids, 1024, &got, &e), TTC_OK,
                     "%s", e.msg);
        cr_assert_eq(got, c[i].n, "%s case %d '%s': %d tokens, expected %d", name, i, c[i].text, got, c[i].n);
        for (int k = 0; k < got; k++)
            cr_assert_eq(ids[k], c[i].ids[k], "%s case %d '%s': token %d is %d, expected %d", name, i,
                         c[i].text, k, ids[k], c[i].ids[k]);
        /* detokenize(tokenize(x)) == x (SPM: minus the added space prefix) */
        char *back;
        size_t blen;
        cr_assert_eq(ttc_detokenize(t, ids, got, TTC_DETOK_STRIP_SPACE, &back, &blen, &e), TTC_OK);
        cr_assert(blen == c[i].len && !memcmp(back, c[i].text, blen), "%s case %d: '%s' came back as '%s'",
                  name, i, c[i].text, back);
        free(back);
    }
    free_cases(c, n);
    ttc_tokenizer_free(t);
}

Test(tokenizer, vocab_qwen2) { check_vocab("qwen2"); }
Test(tokenizer, vocab_llama_bpe) { check_vocab("llama-bpe"); }
Test(tokenizer, vocab_gpt2) { check_vocab("gpt-2"); }
Test(tokenizer, vocab_llama_spm) { check_vocab("llama-spm"); }

/* Random words from a small alphabet of ASCII and 2-byte letters. */
static size_t random_word(ttc_rng *r, char *out, bool spaces) {
    static const char *const alpha[] = {"a", "b", "e", "n", "r", "s", "t", "th", "in", "é", "ü", "ß"};
    size_t n = 0, len = 1 + ttc_rng_below(r, 40);
    for (size_t i = 0; i < len; i++) {
        const char *a = spaces && ttc_rng_below(r, 6) == 0 ? " " : alpha[ttc_rng_below(r, 12)];
        memcpy(out + n, a, strlen(a));
        n += strlen(a);
    }
    return n;
}

/* Naive BPE by definition: merge the lowest-rank adjacent pair (leftmost on
 * ties) until none is left. O(n^2), for checking the heap version. */
static int naive_bpe(const ttc_tokenizer *t, const char *s, size_t n, int32_t *out) {
    int m = 0;
    for (size_t i = 0; i < n; i++) out[m++] = t->byte_tok[(uint8_t)s[i]];
    for (;;) {
        int best = -1;
        int32_t rank = INT32_MAX;
        for (int i = 0; i + 1 < m; i++) {
            int32_t rk = tok_merge_rank(t, out[i], out[i + 1]);
            if (rk >= 0 && rk < rank) { rank = rk; best = i; }
        }
        if (best < 0) return m;
        out[best] = t->merges[rank].result;
        memmove(out + best + 1, out + best + 2, sizeof *out * (size_t)(m - best - 2));
        m--;
    }
}

/* Naive SentencePiece: merge the adjacent pair whose concatenation is the
 * best-scoring token (leftmost on ties); leftovers as bytes. */
static int naive_spm(const ttc_tokenizer *t, const char *in, size_t n, int32_t *out) {
    char s[512];
    size_t off[256], len[256], m = 0, k = 0;
    memcpy(s, "\xE2\x96\x81", 3);
    m = 3;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == ' ') { memcpy(s + m, "\xE2\x96\x81", 3); m += 3; }
        else s[m++] = in[i];
    }
    for (size_t i = 0; i < m;) {
        uint32_t cp;
        int c = tok_utf8_next((const uint8_t *)s + i, m - i, &cp);
        off[k] = i;
        len[k++] = (size_t)c;
        i += (size_t)c;
    }
    for (;;) {
        int best = -1;
        float score = 0;
        for (size_t i = 0; i + 1 < k; i++) {
            int32_t id = tok_lookup(t, s + off[i], len[i] + len[i + 1]);
            if (id >= 0 && (best < 0 || t->tok[id].score > score)) { best = (int)i; score = t->tok[id].score; }
        }
        if (best < 0) break;
        len[best] += len[best + 1];
        memmove(off + best + 1, off + best + 2, sizeof *off * (k - (size_t)best - 2));
        memmove(len + best + 1, len + best + 2, sizeof *len * (k - (size_t)best - 2));
        k--;
    }
    int nout = 0;
    for (size_t i = 0; i < k; i++) {
        int32_t id = tok_lookup(t, s + off[i], len[i]);
        if (id >= 0) out[nout++] = id;
        else for (size_t j = 0; j < len[i]; j++) out[nout++] = t->byte_tok[(uint8_t)s[off[i] + j]];
    }
    return nout;
}

Test(tokenizer, merge_loops_match_naive_reference) {
    ttc_tokenizer *q = load_vocab("qwen2"), *s = load_vocab("llama-spm");
    ttc_rng r;
    ttc_rng_seed(&r, 7);
    char w[256];
    int32_t a[256], b[256];
    for (int iter = 0; iter < 300; iter++) {
        ttc_err e = {0};
        size_t n = random_word(&r, w, false);         /* one qwen2 pre-token */
        int na, nb = naive_bpe(q, w, n, b);
        cr_assert_eq(ttc_tokenize(q, w, n, false, false, a, 256, &na, &e), TTC_OK);
        cr_assert_eq(na, nb, "'%.*s': %d vs naive %d tokens", (int)n, w, na, nb);
        for (int i = 0; i < na; i++) cr_assert_eq(a[i], b[i], "'%.*s' token %d", (int)n, w, i);
        n = random_word(&r, w, true);
        nb = naive_spm(s, w, n, b);
        cr_assert_eq(ttc_tokenize(s, w, n, false, false, a, 256, &na, &e), TTC_OK);
        cr_assert_eq(na, nb, "spm '%.*s': %d vs naive %d tokens", (int)n, w, na, nb);
        for (int i = 0; i < na; i++) cr_assert_eq(a[i], b[i], "spm '%.*s' token %d", (int)n, w, i);
    }
    ttc_tokenizer_free(q);
    ttc_tokenizer_free(s);
}

Test(tokenizer, metadata_queries) {
    ttc_tokenizer *q = load_vocab("qwen2");
    cr_assert_eq(ttc_tokenizer_n_vocab(q), 151936);
    cr_assert_eq(ttc_tokenizer_model(q), TTC_TOK_BPE);
    cr_assert_str_eq(ttc_tokenizer_pre(q), "qwen2");
    cr_assert_eq(ttc_tokenizer_eos(q), 151643);
    cr_assert_not(ttc_tokenizer_add_bos(q));
    int32_t im_end = ttc_tokenizer_find(q, "<|im_end|>");
    cr_assert_eq(im_end, 151645);
    cr_assert(ttc_tokenizer_is_eog(q, im_end));
    cr_assert(ttc_tokenizer_is_eog(q, 151643));
    cr_assert_not(ttc_tokenizer_is_eog(q, ttc_tokenizer_find(q, "<|im_start|>")));
    cr_assert_not(ttc_tokenizer_is_eog(q, ttc_tokenizer_find(q, "Hello")));
    cr_assert_eq(ttc_tokenizer_find(q, "Hello"), 9707);
    cr_assert_eq(ttc_tokenizer_find(q, "no such token here"), -1);
    /* like llama.cpp, the plain-text token "</s>" is an end token (CONTROL) */
    int32_t eos_text = ttc_tokenizer_find(q, "</s>");
    cr_assert(eos_text >= 0 && ttc_tokenizer_is_eog(q, eos_text));
    cr_assert_eq(ttc_token_type(q, eos_text), TTC_TOKEN_CONTROL);
    cr_assert_not_null(ttc_tokenizer_chat_template(q));
    cr_assert(strstr(ttc_tokenizer_chat_template(q), "<|im_start|>"));
    char buf[32];
    cr_assert_eq(ttc_token_to_piece(q, 21927, buf, sizeof buf), 6);   /* "ĠHello" */
    cr_assert_str_eq(buf, " Hello");
    cr_assert_eq(ttc_token_to_piece(q, -1, buf, sizeof buf), TTC_EINVAL);
    cr_assert_eq(ttc_token_to_piece(q, 151936, buf, sizeof buf), TTC_EINVAL);
    ttc_tokenizer_free(q);

    ttc_tokenizer *l = load_vocab("llama-bpe");
    cr_assert(ttc_tokenizer_add_bos(l));                 /* llama3 default */
    cr_assert_eq(ttc_tokenizer_bos(l), 128000);
    cr_assert(ttc_tokenizer_is_eog(l, ttc_tokenizer_find(l, "<|eot_id|>")));
    cr_assert_eq(ttc_tokenizer_eot(l), ttc_tokenizer_find(l, "<|eot_id|>"));
    ttc_tokenizer_free(l);

    ttc_tokenizer *s = load_vocab("llama-spm");
    cr_assert_eq(ttc_tokenizer_model(s), TTC_TOK_SPM);
    cr_assert(ttc_tokenizer_add_bos(s));
    cr_assert_eq(ttc_tokenizer_bos(s), 1);
    cr_assert_eq(ttc_tokenizer_unk(s), 0);
    cr_assert_eq(ttc_token_to_piece(s, 3 + 0x0A, buf, sizeof buf), 1);  /* <0x0A> */
    cr_assert_eq(buf[0], '\n');
    ttc_tokenizer_free(s);
}

Test(tokenizer, bos_eos_and_capacity) {
    ttc_tokenizer *s = load_vocab("llama-spm");
    ttc_err e = {0};
    int32_t ids[8];
    int n;
    cr_assert_eq(ttc_tokenize(s, "Hello world", 11, true, false, ids, 8, &n, &e), TTC_OK);
    cr_assert_eq(n, 3);                                   /* <s> ▁Hello ▁world */
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(ids[1], 15043);
    cr_assert_eq(ids[2], 3186);
    cr_assert_eq(ttc_tokenize(s, "", 0, true, false, ids, 8, &n, &e), TTC_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ttc_tokenize(s, "Hello world", 11, true, false, ids, 2, &n, &e), TTC_ENOMEM);
    cr_assert_eq(n, 3, "needed count is reported");
    cr_assert_eq(ids[1], 15043, "the first cap ids are written");
    int32_t *all;
    cr_assert_eq(ttc_tokenize_alloc(s, "Hello world", 11, false, false, &all, &n, &e), TTC_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(all[0], 15043);
    free(all);
    /* SPM: text after a special token gets its own space prefix (llama.cpp) */
    cr_assert_eq(ttc_tokenize(s, "Hello</s>world", 14, false, true, ids, 8, &n, &e), TTC_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], 15043);
    cr_assert_eq(ids[1], 2);
    cr_assert_eq(ids[2], 3186);
    cr_assert_eq(ttc_tokenize(s, "Hello</s>world", 14, false, false, ids, 8, &n, &e), TTC_OK);
    cr_assert_gt(n, 3, "</s> is text without parse_special");
    /* add_eos metadata: EOS follows when BOS is requested */
    ttc_tokenizer_set_add_bos(s, true, true);
    cr_assert_eq(ttc_tokenize(s, "Hello", 5, true, false, ids, 8, &n, &e), TTC_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[2], 2);
    cr_assert_eq(ttc_tokenize(s, "Hello", 5, false, false, ids, 8, &n, &e), TTC_OK);
    cr_assert_eq(n, 1);
    ttc_tokenizer_free(s);
}

Test(tokenizer, special_tokens_parsed_only_when_asked) {
    ttc_tokenizer *q = load_vocab("qwen2");
    ttc_err e = {0};
    int32_t a[64], b[64];
    int na, nb;
    const char *txt = "<|im_start|>user\nHi<|im_end|>";
    cr_assert_eq(ttc_tokenize(q, txt, strlen(txt), false, true, a, 64, &na, &e), TTC_OK);
    cr_assert_eq(na, 5);
    cr_assert_eq(a[0], 151644);
    cr_assert_eq(a[4], 151645);
    cr_assert_eq(ttc_tokenize(q, txt, strlen(txt), false, false, b, 64, &nb, &e), TTC_OK);
    cr_assert_gt(nb, 5);
    for (int i = 0; i < nb; i++) cr_assert(b[i] < 151643, "no special ids without parse_special");
    /* rendered with TTC_DETOK_SPECIAL, skipped without */
    char *s;
    cr_assert_eq(ttc_detokenize(q, a, na, TTC_DETOK_SPECIAL, &s, NULL, &e), TTC_OK);
    cr_assert_str_eq(s, txt);
    free(s);
    cr_assert_eq(ttc_detokenize(q, a, na, 0, &s, NULL, &e), TTC_OK);
    cr_assert_str_eq(s, "user\nHi");
    free(s);
    ttc_tokenizer_free(q);
}

/* Every chunk the streaming decoder emits is complete, valid UTF-8. */
static void assert_valid_utf8(const char *s, int n) {
    const unsigned char *u = (const unsigned char *)s;
    for (int i = 0; i < n;) {
        int k = u[i] < 0x80 ? 1 : (u[i] & 0xE0) == 0xC0 ? 2 : (u[i] & 0xF0) == 0xE0 ? 3 :
                (u[i] & 0xF8) == 0xF0 ? 4 : 0;
        cr_assert(k > 0 && i + k <= n, "chunk splits a UTF-8 character at byte %d", i);
        for (int j = 1; j < k; j++) cr_assert_eq(u[i + j] & 0xC0, 0x80);
        i += k;
    }
}

Test(tokenizer, chat_prompt_from_vocab_template) {
    ttc_tokenizer *q = load_vocab("qwen2");
    ttc_chat_kind k = ttc_chat_detect(ttc_tokenizer_chat_template(q));
    cr_assert_eq(k, TTC_CHAT_CHATML);
    ttc_chat_msg m[] = {{"user", "Hi"}};
    char *p;
    ttc_err e = {0};
    cr_assert_eq(ttc_chat_format(k, m, 1, true, &p, &e), TTC_OK);
    int32_t ids[32];
    int n;
    cr_assert_eq(ttc_tokenize(q, p, strlen(p), ttc_tokenizer_add_bos(q), true, ids, 32, &n, &e), TTC_OK);
    free(p);
    /* <|im_start|> user \n Hi <|im_end|> \n <|im_start|> assistant \n */
    int32_t im_start = ttc_tokenizer_find(q, "<|im_start|>"), im_end = ttc_tokenizer_find(q, "<|im_end|>");
    cr_assert_eq(n, 9);
    cr_assert_eq(ids[0], im_start);
    cr_assert_eq(ids[4], im_end);
    cr_assert_eq(ids[6], im_start);
    cr_assert_eq(ids[7], ttc_tokenizer_find(q, "assistant"));
    cr_assert_eq(ids[8], ttc_tokenizer_find(q, "\xc4\x8a"));   /* "Ċ" = '\n' */
    ttc_tokenizer_free(q);
}

Test(tokenizer, streaming_detok_emits_whole_characters) {
    ttc_tokenizer *q = load_vocab("qwen2");
    ttc_err e = {0};
    const char *txt = "🚀 (normal) 😶‍🌫️ 我想在apple工作 ឆ្ពោះ ✅";
    int32_t ids[128];
    int n;
    cr_assert_eq(ttc_tokenize(q, txt, strlen(txt), false, false, ids, 128, &n, &e), TTC_OK);
    ttc_detok d;
    cr_assert_eq(ttc_detok_init(&d, q, 0, &e), TTC_OK);
    char out[512];
    size_t o = 0;
    int partial_tokens = 0;
    for (int i = 0; i < n; i++) {
        const char *p;
        int k = ttc_detok_push(&d, ids[i], &p);
        cr_assert_geq(k, 0);
        char piece[64];
        int pl = ttc_token_to_piece(q, ids[i], piece, sizeof piece);
        partial_tokens += pl > 0 && k == 0;               /* token that held back bytes */
        assert_valid_utf8(p, k);
        memcpy(out + o, p, (size_t)k);
        o += (size_t)k;
    }
    const char *p;
    cr_assert_eq(ttc_detok_flush(&d, &p), 0);
    cr_assert(partial_tokens > 0, "the text has characters split over tokens");
    cr_assert(o == strlen(txt) && !memcmp(out, txt, o));
    /* a lone lead byte then an ASCII token: U+FFFD then the text */
    int32_t lead = ttc_tokenizer_find(q, "\xc3\xa6");    /* byte 0xE6 (of 我) */
    cr_assert_geq(lead, 0);
    cr_assert_eq(ttc_detok_push(&d, lead, &p), 0);
    int k = ttc_detok_push(&d, ttc_tokenizer_find(q, "Hello"), &p);
    cr_assert_eq(k, 8);
    cr_assert(!memcmp(p, "\xEF\xBF\xBDHello", 8));
    cr_assert_eq(ttc_detok_push(&d, lead, &p), 0);
    cr_assert_eq(ttc_detok_flush(&d, &p), 3, "flush turns pending bytes into U+FFFD");
    cr_assert_eq(ttc_detok_push(&d, -5, &p), TTC_EINVAL);
    ttc_detok_free(&d);
    ttc_tokenizer_free(q);
}

Test(tokenizer, invalid_utf8_input) {
    ttc_tokenizer *q = load_vocab("qwen2");
    ttc_err e = {0};
    int32_t a[32], b[32];
    int na, nb;
    /* BPE: each invalid byte is tokenized as U+FFFD */
    cr_assert_eq(ttc_tokenize(q, "a\xff\xc3" "b", 4, false, false, a, 32, &na, &e), TTC_OK);
    cr_assert_eq(ttc_tokenize(q, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b", 8, false, false, b, 32, &nb, &e), TTC_OK);
    cr_assert_eq(na, nb);
    for (int i = 0; i < na; i++) cr_assert_eq(a[i], b[i]);
    ttc_tokenizer_free(q);
    /* SPM: byte fallback keeps the bytes */
    ttc_tokenizer *s = load_vocab("llama-spm");
    cr_assert_eq(ttc_tokenize(s, "\xff", 1, false, false, a, 32, &na, &e), TTC_OK);
    cr_assert_eq(na, 2);                                  /* ▁ <0xFF> */
    cr_assert_eq(a[1], 3 + 0xFF);
    /* lead byte C3 takes the next byte along (llama.cpp): "\xc3\xc3" "\xa9",
     * not "\xc3" "é" */
    cr_assert_eq(ttc_tokenize(s, "\xc3\xc3\xa9", 3, false, false, a, 32, &na, &e), TTC_OK);
    cr_assert_eq(na, 4);
    cr_assert_eq(a[0], ttc_tokenizer_find(s, "\xe2\x96\x81"));
    cr_assert(a[1] == 3 + 0xC3 && a[2] == 3 + 0xC3 && a[3] == 3 + 0xA9);
    ttc_tokenizer_free(s);
}

/* A toy vocabulary: bytes a, b, c, space, merges "a b" then "ab c". */
Test(tokenizer, in_memory_bpe_and_errors) {
    const char *tokens[] = {"a", "b", "c", "Ġ", "ab", "abc", "Ġa", "<|end|>"};
    const int32_t types[] = {1, 1, 1, 1, 1, 1, 1, 3};
    const char *merges[] = {"a b", "ab c", "Ġ a"};
    const int32_t ids6[6] = {-1, 7, -1, -1, -1, -1};
    ttc_err e = {0};
    ttc_tokenizer *t;
    cr_assert_eq(ttc_tokenizer_new_bpe(tokens, types, 8, merges, 3, "gpt-2", ids6, &t, &e), TTC_OK, "%s", e.msg);
    int32_t ids[16];
    int n;
    cr_assert_eq(ttc_tokenize(t, "abc aab<|end|>", 14, false, true, ids, 16, &n, &e), TTC_OK, "%s", e.msg);
    int32_t want[] = {5, 6, 4, 7};                         /* abc | Ġa ab | <|end|> */
    cr_assert_eq(n, 4);
    for (int i = 0; i < 4; i++) cr_assert_eq(ids[i], want[i], "token %d", i);
    cr_assert(ttc_tokenizer_is_eog(t, 7));
    ttc_tokenizer_free(t);

    /* llama3 keeps a pre-token whole when it is a token (ignore_merges) */
    const char *only_ab[] = {"a b"};
    const int32_t *no_ids = NULL;
    cr_assert_eq(ttc_tokenizer_new_bpe(tokens, types, 8, only_ab, 1, "gpt-2", no_ids, &t, &e), TTC_OK);
    cr_assert_eq(ttc_tokenize(t, "abc", 3, false, false, ids, 16, &n, &e), TTC_OK);
    cr_assert(n == 2 && ids[0] == 4 && ids[1] == 2, "gpt-2: ab c");
    ttc_tokenizer_free(t);
    cr_assert_eq(ttc_tokenizer_new_bpe(tokens, types, 8, only_ab, 1, "llama-bpe", no_ids, &t, &e), TTC_OK);
    cr_assert_eq(ttc_tokenize(t, "abc", 3, false, false, ids, 16, &n, &e), TTC_OK);
    cr_assert(n == 1 && ids[0] == 5, "llama3: abc");
    ttc_tokenizer_free(t);

    cr_assert_eq(ttc_tokenizer_new_bpe(tokens, types, 8, merges, 3, "no-such-pre", NULL, &t, &e),
                 TTC_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "no-such-pre"), "%s", e.msg);
    const char *bad_merge[] = {"a z"};
    cr_assert_eq(ttc_tokenizer_new_bpe(tokens, types, 8, bad_merge, 1, "gpt-2", NULL, &t, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "merges[0]"), "%s", e.msg);
    const int32_t bad_ids[6] = {8, -1, -1, -1, -1, -1};
    cr_assert_eq(ttc_tokenizer_new_bpe(tokens, types, 8, merges, 3, "gpt-2", bad_ids, &t, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "bos_token_id"), "%s", e.msg);
    ttc_tokenizer_spec sp = ttc_tokenizer_spec_default();
    sp.model = "bert";
    sp.n_vocab = 8;
    sp.tokens = tokens;
    cr_assert_eq(ttc_tokenizer_new(&sp, &t, &e), TTC_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "'bert'"), "%s", e.msg);
}

Test(tokenizer, unknown_model_in_gguf) {
    ttc_err e = {0};
    ttc_gguf_writer *w;
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    const char *toks[] = {"a"};
    cr_assert_eq(ttc_gguf_set_str(w, "tokenizer.ggml.model", "t5", &e), TTC_OK);
    cr_assert_eq(ttc_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 1, &e), TTC_OK);
    void *buf;
    size_t len;
    cr_assert_eq(ttc_gguf_writer_write_mem(w, &buf, &len, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer_free(w);
    ttc_gguf *g;
    cr_assert_eq(ttc_gguf_open_mem(buf, len, &g, &e), TTC_OK, "%s", e.msg);
    ttc_tokenizer *t;
    cr_assert_eq(ttc_tokenizer_from_gguf(g, &t, &e), TTC_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "'t5'"), "%s", e.msg);
    ttc_gguf_close(g);
    free(buf);
}

Test(tokenizer, bpe_train_first_merges_and_round_trip) {
    /* "low" x5, "lower" x2, "newest" x6, "widest" x3 (the classic example) */
    const char *texts[] = {"low low low low low lower lower newest newest newest newest newest "
                           "newest widest widest widest", "12 + 345 = 357"};
    const char *specials[] = {"<|end|>"};
    ttc_err e = {0};
    ttc_tokenizer *t;
    cr_assert_eq(ttc_bpe_train(texts, 2, 256 + 4 + 1, "qwen2", specials, 1, &t, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_tokenizer_n_vocab(t), 261);
    /* Pre-tokens "low" x1, " low" x4, " lower" x2, " newest" x6, " widest" x3.
     * Pair counts: e s = 9, s t = 9, w e = 8, l o = 7, o w = 7, ...
     * 1st: (e,s) wins the tie with (s,t) by smaller left id -> "es";
     * 2nd: (es,t) = 9 -> "est"; 3rd: (l,o) = 7 ties (o,w), l < o -> "lo";
     * 4th: (lo,w) = 7 -> "low". */
    size_t len;
    const char *s0 = ttc_token_text(t, 256, &len);
    cr_assert(len == 2 && !memcmp(s0, "es", 2), "first merge %.*s", (int)len, s0);
    const char *s1 = ttc_token_text(t, 257, &len);
    cr_assert(len == 3 && !memcmp(s1, "est", 3), "second merge %.*s", (int)len, s1);
    const char *s2 = ttc_token_text(t, 258, &len);
    cr_assert(len == 2 && !memcmp(s2, "lo", 2), "third merge %.*s", (int)len, s2);
    const char *s3 = ttc_token_text(t, 259, &len);
    cr_assert(len == 3 && !memcmp(s3, "low", 3), "fourth merge %.*s", (int)len, s3);
    cr_assert_eq(ttc_tokenizer_find(t, "<|end|>"), 260);
    cr_assert_eq(ttc_token_type(t, 260), TTC_TOKEN_CONTROL);

    const char *probe = "lowest 12345 newer<|end|>é";
    int32_t ids[64];
    int n;
    cr_assert_eq(ttc_tokenize(t, probe, strlen(probe), false, true, ids, 64, &n, &e), TTC_OK);
    cr_assert_eq(ids[0], 259);                            /* low */
    cr_assert_eq(ids[1], 257);                            /* est */
    for (int i = 3; i < 8; i++) cr_assert_eq(ids[i], '1' + i - 3, "digits stay single tokens");
    char *back;
    cr_assert_eq(ttc_detokenize(t, ids, n, TTC_DETOK_SPECIAL, &back, NULL, &e), TTC_OK);
    cr_assert_str_eq(back, probe);
    free(back);
    ttc_tokenizer_free(t);

    cr_assert_eq(ttc_bpe_train(texts, 1, 100, "qwen2", NULL, 0, &t, &e), TTC_EINVAL);
    cr_assert_eq(ttc_bpe_train(texts, 1, 300, "bogus", NULL, 0, &t, &e), TTC_EUNSUPPORTED);
}

Test(tokenizer, bpe_train_skips_special_tokens_in_corpus) {
    const char *texts[] = {"x<|end|>y<|end|>z<|end|>", "<|end|><|end|>w<|end|>"};
    const char *specials[] = {"<|end|>"};
    ttc_err e = {0};
    ttc_tokenizer *t;
    cr_assert_eq(ttc_bpe_train(texts, 2, 300, "qwen2", specials, 1, &t, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_tokenizer_n_vocab(t), 257, "no pair occurs twice outside the specials");
    cr_assert_eq(ttc_tokenizer_find(t, "<|end|>"), 256);
    ttc_tokenizer_free(t);
}

Test(tokenizer, bpe_train_deterministic) {
    const char *texts[] = {"the cat sat on the mat with the hat", "a rat ate the fat cat"};
    ttc_err e = {0};
    ttc_tokenizer *a, *b;
    cr_assert_eq(ttc_bpe_train(texts, 2, 300, "qwen2", NULL, 0, &a, &e), TTC_OK);
    cr_assert_eq(ttc_bpe_train(texts, 2, 300, "qwen2", NULL, 0, &b, &e), TTC_OK);
    cr_assert_eq(ttc_tokenizer_n_vocab(a), ttc_tokenizer_n_vocab(b));
    cr_assert_lt(ttc_tokenizer_n_vocab(a), 300, "stops when no pair occurs twice");
    for (int i = 0; i < ttc_tokenizer_n_vocab(a); i++) {
        size_t la, lb;
        const char *x = ttc_token_text(a, i, &la), *y = ttc_token_text(b, i, &lb);
        cr_assert(la == lb && !memcmp(x, y, la));
    }
    ttc_tokenizer_free(a);
    ttc_tokenizer_free(b);
}

Test(tokenizer, gguf_round_trip) {
    const char *texts[] = {"Question: 12 + 7 = ? Answer: 19", "Question: 3 * 4 = ? Answer: 12"};
    const char *specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    ttc_err e = {0};
    ttc_tokenizer *t;
    cr_assert_eq(ttc_bpe_train(texts, 2, 300, "qwen2", specials, 3, &t, &e), TTC_OK, "%s", e.msg);
    int32_t eos = ttc_tokenizer_find(t, "<|endoftext|>");
    cr_assert_eq(ttc_tokenizer_set_special(t, TTC_SPECIAL_EOS, eos, &e), TTC_OK);
    cr_assert_eq(ttc_tokenizer_set_special(t, TTC_SPECIAL_BOS, 100000, &e), TTC_EFORMAT);
    ttc_gguf_writer *w;
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    cr_assert_eq(ttc_tokenizer_to_gguf(t, w, &e), TTC_OK, "%s", e.msg);
    void *buf;
    size_t len;
    cr_assert_eq(ttc_gguf_writer_write_mem(w, &buf, &len, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer_free(w);
    ttc_gguf *g;
    cr_assert_eq(ttc_gguf_open_mem(buf, len, &g, &e), TTC_OK, "%s", e.msg);
    const char *model;
    cr_assert_eq(ttc_gguf_get_str(g, "tokenizer.ggml.model", &model, &e), TTC_OK);
    cr_assert_str_eq(model, "gpt2");
    ttc_tokenizer *r;
    cr_assert_eq(ttc_tokenizer_from_gguf(g, &r, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_close(g);
    free(buf);
    cr_assert_eq(ttc_tokenizer_n_vocab(r), ttc_tokenizer_n_vocab(t));
    cr_assert_eq(ttc_tokenizer_eos(r), eos);
    cr_assert(ttc_tokenizer_is_eog(r, ttc_tokenizer_find(r, "<|im_end|>")));
    const char *probe = "<|im_start|>Question: 5 + 5 = ? Answer: 10<|im_end|>";
    int32_t a[64], b[64];
    int na, nb;
    cr_assert_eq(ttc_tokenize(t, probe, strlen(probe), false, true, a, 64, &na, &e), TTC_OK);
    cr_assert_eq(ttc_tokenize(r, probe, strlen(probe), false, true, b, 64, &nb, &e), TTC_OK);
    cr_assert_eq(na, nb);
    for (int i = 0; i < na; i++) cr_assert_eq(a[i], b[i]);
    cr_assert_lt(na, (int)strlen(probe) - 20, "merges are used");
    ttc_tokenizer_free(t);
    ttc_tokenizer_free(r);
}

Test(tokenizer, cli_tokenize) {
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "%s tokenize -m %s", tu_bin(), tu_shared("vocab/ggml-vocab-qwen2.gguf"));
    cr_assert_eq(tu_run(cmd, "Hello world", &out), 0);
    cr_assert_str_eq(out, "9707 1879\n");
    free(out);
    snprintf(cmd, sizeof cmd, "%s tokenize --special -m %s", tu_bin(), tu_shared("vocab/ggml-vocab-qwen2.gguf"));
    cr_assert_eq(tu_run(cmd, "<|im_end|>", &out), 0);
    cr_assert_str_eq(out, "151645\n");
    free(out);
    snprintf(cmd, sizeof cmd, "%s tokenize --bos -m %s", tu_bin(), tu_shared("vocab/ggml-vocab-llama-spm.gguf"));
    cr_assert_eq(tu_run(cmd, "Hello world", &out), 0);
    cr_assert_str_eq(out, "1 15043 3186\n");
    free(out);
    snprintf(cmd, sizeof cmd, "%s tokenize --help", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "usage"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s tokenize 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s tokenize -m /nonexistent.gguf 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, "x", NULL), 1);
}
