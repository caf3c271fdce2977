/* Batched generation: greedy equals a hand-written argmax loop, seeds are
 * independent of the batch, calls continue seamlessly, stop strings across
 * token boundaries, EOS, max_tokens, cancellation, streaming. Uses a tiny
 * random llama with the Llama 2 (SentencePiece) vocabulary and f16 weights
 * (whose logits depend on the batch only through summation order). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/quant.h"
#include "model/ctx.h"
#include "model/generate.h"
#include "model/random.h"
#include "tokenizer/tokenizer.h"
#include "testutil.h"

static ttc_model *M;
static ttc_ctx *C;

static void setup(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/m.gguf", tu_tmpdir());
    ttc_err e = {0};
    ttc_random_params p = {.vocab_path = tu_shared("vocab/ggml-vocab-llama-spm.gguf"), .type = TTC_TYPE_F16, .seed = 5};
    cr_assert_eq(ttc_random_model_write(ttc_random_shape_find("tiny-llama"), &p, path, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_model_load(path, NULL, &M, &e), TTC_OK, "%s", e.msg);
    unlink(path);
    *strrchr(path, '/') = 0;
    rmdir(path);
    cr_assert_not_null(M->tok);
    ttc_ctx_params cp = {.n_ctx = 256, .n_seq_max = 8, .n_batch = 64, .kv_tokens = 2048};
    cr_assert_eq(ttc_ctx_new(M, &cp, &C, &e), TTC_OK, "%s", e.msg);
}

static void teardown(void) {
    ttc_ctx_free(C);
    ttc_model_free(M);
}

TestSuite(generate, .init = setup, .fini = teardown, .timeout = 60);

static int prompt_seq(const char *text) {
    ttc_err e = {0};
    int32_t ids[64];
    int n, s;
    cr_assert_eq(ttc_tokenize(M->tok, text, strlen(text), true, false, ids, 64, &n, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_seq_new(C, &s, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_seq_append_tokens(C, s, ids, n, &e), TTC_OK, "%s", e.msg);
    return s;
}

static const ttc_sample_params greedy = {0};

Test(generate, greedy_equals_argmax_loop) {
    int s = prompt_seq("The quick brown fox");
    int n_prompt = ttc_seq_len(C, s);
    int f;
    ttc_err e = {0};
    cr_assert_eq(ttc_seq_fork(C, s, &f, &e), TTC_OK);
    ttc_gen_request r = ttc_gen_request_make(s, 12, greedy, 0);
    cr_assert_eq(ttc_generate(C, &r, 1, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(r.n_tokens, 12);
    cr_assert_eq(r.finish, TTC_FINISH_LENGTH);
    cr_assert_eq(r.n_prompt, n_prompt);
    cr_assert_eq(r.n_prefill, n_prompt - 1);
    cr_assert_eq(r.n_decoded, n_prompt - 1 + 12);
    cr_assert_eq(ttc_seq_len(C, s), n_prompt + 12);
    cr_assert_eq(ttc_seq_n_cached(C, s), n_prompt + 11); /* the last token stays pending */
    /* by hand on the fork: decode everything, take argmax, repeat */
    int32_t tok = 0;
    for (int i = 0; i < 12; i++) {
        cr_assert_eq(ttc_decode_pending(C, &f, 1, false, false, NULL, &e), TTC_OK, "%s", e.msg);
        const float *l = ttc_logits(C, 0);
        tok = ttc_argmax(l, M->cfg.n_vocab);
        cr_assert_eq(r.tokens[i], tok, "step %d", i);
        cr_assert_float_eq(r.logprobs[i], ttc_logprob(l, M->cfg.n_vocab, tok), 1e-4);
        cr_assert_eq(ttc_seq_append_tokens(C, f, &tok, 1, &e), TTC_OK);
    }
    char *txt;
    size_t len;
    cr_assert_eq(ttc_detokenize(M->tok, r.tokens, r.n_tokens, 0, &txt, &len, &e), TTC_OK);
    cr_assert_str_eq(r.text, txt);
    cr_assert_eq(r.text_len, len);
    free(txt);
    ttc_gen_request_free(&r);
}

Test(generate, seed_gives_same_tokens_whatever_the_batch) {
    ttc_sample_params sp = {.temperature = 1.0f, .top_p = 0.95f};
    int a = prompt_seq("Once upon a time");
    ttc_err e = {0};
    int a2, b, c2;
    cr_assert_eq(ttc_seq_fork(C, a, &a2, &e), TTC_OK);
    cr_assert_eq(ttc_seq_fork(C, a, &b, &e), TTC_OK);
    c2 = prompt_seq("A completely different prompt with more tokens in it");
    ttc_gen_request alone = ttc_gen_request_make(a, 16, sp, 77);
    alone.stream = 3;
    cr_assert_eq(ttc_generate(C, &alone, 1, NULL, &e), TTC_OK, "%s", e.msg);
    ttc_gen_request many[3] = {ttc_gen_request_make(b, 10, sp, 77), ttc_gen_request_make(a2, 16, sp, 77),
                               ttc_gen_request_make(c2, 16, sp, 78)};
    many[1].stream = 3;
    many[0].stream = 4;
    cr_assert_eq(ttc_generate(C, many, 3, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(many[1].n_tokens, 16);
    cr_assert_arr_eq(many[1].tokens, alone.tokens, 16 * sizeof(int32_t));
    cr_assert_str_eq(many[1].text, alone.text);
    /* another stream of the same seed goes elsewhere */
    cr_assert(memcmp(many[0].tokens, alone.tokens, 10 * sizeof(int32_t)) != 0);
    ttc_gen_request_free(&alone);
    for (int i = 0; i < 3; i++) ttc_gen_request_free(&many[i]);
}

Test(generate, second_call_continues_seamlessly) {
    int s = prompt_seq("Counting: one two three");
    ttc_err e = {0};
    int f;
    cr_assert_eq(ttc_seq_fork(C, s, &f, &e), TTC_OK);
    ttc_gen_request all = ttc_gen_request_make(f, 10, greedy, 0);
    cr_assert_eq(ttc_generate(C, &all, 1, NULL, &e), TTC_OK, "%s", e.msg);
    ttc_gen_request part = ttc_gen_request_make(s, 4, greedy, 0);
    cr_assert_eq(ttc_generate(C, &part, 1, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_arr_eq(part.tokens, all.tokens, 4 * sizeof(int32_t));
    part.max_tokens = 6;
    cr_assert_eq(ttc_generate(C, &part, 1, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(part.n_prefill, 0);      /* only the pending last token ... */
    cr_assert_eq(part.n_decoded, 6);      /* ... and one per step */
    cr_assert_arr_eq(part.tokens, all.tokens + 4, 6 * sizeof(int32_t));
    cr_assert_arr_eq(ttc_seq_tokens(C, s), ttc_seq_tokens(C, f), (size_t)ttc_seq_len(C, f) * sizeof(int32_t));
    /* max_tokens 0: nothing sampled, nothing decoded */
    part.max_tokens = 0;
    cr_assert_eq(ttc_generate(C, &part, 1, NULL, &e), TTC_OK);
    cr_assert_eq(part.n_tokens, 0);
    cr_assert_eq(part.finish, TTC_FINISH_LENGTH);
    cr_assert_str_eq(part.text, "");
    ttc_gen_request_free(&all);
    ttc_gen_request_free(&part);
}

typedef struct sink { char buf[4096]; size_t n; int calls, finished_calls; } sink;

static void collect(void *ud, int index, const ttc_gen_request *r, const char *d, size_t len) {
    sink *s = ud;
    memcpy(s->buf + s->n, d, len);
    s->n += len;
    s->buf[s->n] = 0;
    s->calls++;
    s->finished_calls += r->finish != TTC_FINISH_NONE;
}

Test(generate, stop_string_across_tokens) {
    int s = prompt_seq("In the beginning");
    ttc_err e = {0};
    int f1, f2;
    cr_assert_eq(ttc_seq_fork(C, s, &f1, &e), TTC_OK);
    cr_assert_eq(ttc_seq_fork(C, s, &f2, &e), TTC_OK);
    ttc_gen_request full = ttc_gen_request_make(s, 40, greedy, 0);
    cr_assert_eq(ttc_generate(C, &full, 1, NULL, &e), TTC_OK, "%s", e.msg);
    /* byte offset where each token's text ends */
    size_t ends[40];
    ttc_detok d;
    cr_assert_eq(ttc_detok_init(&d, M->tok, 0, &e), TTC_OK);
    size_t off = 0;
    for (int i = 0; i < full.n_tokens; i++) {
        const char *t;
        int n = ttc_detok_push(&d, full.tokens[i], &t);
        off += n > 0 ? (size_t)n : 0;
        ends[i] = off;
    }
    ttc_detok_free(&d);
    /* a 2-byte ASCII stop string whose first occurrence straddles a token
     * boundary */
    char stop[3] = {0};
    size_t at = 0;
    for (int i = 3; i < full.n_tokens - 1 && !stop[0]; i++) {
        size_t b = ends[i];
        if (b == 0 || b >= full.text_len || b == ends[i - 1] || ends[i + 1] == b) continue;
        unsigned char x = (unsigned char)full.text[b - 1], y = (unsigned char)full.text[b];
        if (x >= 128 || y >= 128) continue;
        char cand[3] = {(char)x, (char)y, 0};
        const char *first = strstr(full.text, cand);
        if ((size_t)(first - full.text) == b - 1) { memcpy(stop, cand, 3); at = b - 1; }
    }
    cr_assert(stop[0], "no usable token boundary in '%s'", full.text);
    const char *stops[] = {"never-appears-xyz", stop};
    sink sk = {0};
    ttc_gen_opts o = {.on_text = collect, .stream_ud = &sk};
    ttc_gen_request r = ttc_gen_request_make(f1, 40, greedy, 0);
    r.stop = stops;
    r.n_stop = 2;
    cr_assert_eq(ttc_generate(C, &r, 1, &o, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(r.finish, TTC_FINISH_STOP);
    cr_assert_eq(r.text_len, at);
    cr_assert(!strncmp(r.text, full.text, at));
    cr_assert_str_eq(sk.buf, r.text); /* streamed deltas add up to the text */
    cr_assert_eq(sk.finished_calls, 1);
    int last = r.n_tokens - 1;
    cr_assert(ends[last] >= at + 2 && (last == 0 || ends[last - 1] < at + 2), "stop completed by token %d", last);

    ttc_gen_request ri = ttc_gen_request_make(f2, 40, greedy, 0);
    ri.stop = stops;
    ri.n_stop = 2;
    ri.include_stop = true;
    cr_assert_eq(ttc_generate(C, &ri, 1, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ri.finish, TTC_FINISH_STOP);
    cr_assert_eq(ri.text_len, at + 2);
    cr_assert(!strncmp(ri.text, full.text, at + 2));
    ttc_gen_request_free(&full);
    ttc_gen_request_free(&r);
    ttc_gen_request_free(&ri);
}

Test(generate, eos_finishes_and_stays_in_history) {
    int s = prompt_seq("Hello");
    ttc_err e = {0};
    int f;
    cr_assert_eq(ttc_seq_fork(C, s, &f, &e), TTC_OK);
    ttc_gen_request full = ttc_gen_request_make(s, 8, greedy, 0);
    cr_assert_eq(ttc_generate(C, &full, 1, NULL, &e), TTC_OK, "%s", e.msg);
    /* make the 4th greedy token the end-of-generation token */
    int32_t eos = full.tokens[3];
    int k = 0;
    while (full.tokens[k] != eos) k++; /* its first occurrence */
    cr_assert_eq(ttc_tokenizer_set_special(M->tok, TTC_SPECIAL_EOS, eos, &e), TTC_OK);
    ttc_gen_request r = ttc_gen_request_make(f, 8, greedy, 0);
    cr_assert_eq(ttc_generate(C, &r, 1, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(r.finish, TTC_FINISH_EOS);
    cr_assert_eq(r.n_tokens, k + 1);
    cr_assert_eq(r.tokens[k], eos);
    cr_assert_eq(ttc_seq_tokens(C, f)[ttc_seq_len(C, f) - 1], eos);
    char *txt;
    size_t len;
    cr_assert_eq(ttc_detokenize(M->tok, full.tokens, k, 0, &txt, &len, &e), TTC_OK);
    cr_assert_str_eq(r.text, txt); /* text without the EOS piece */
    free(txt);
    ttc_gen_request_free(&full);
    ttc_gen_request_free(&r);
}

static int polls;
static bool cancel_after_3(void *ud) { (void)ud; return ++polls > 3; }

Test(generate, cancellation_stops_with_partial_output) {
    int s = prompt_seq("Tell me a long story");
    ttc_err e = {0};
    ttc_gen_request r = ttc_gen_request_make(s, 50, greedy, 0);
    ttc_gen_opts o = {.cancel = cancel_after_3};
    polls = 0;
    cr_assert_eq(ttc_generate(C, &r, 1, &o, &e), TTC_ECANCELED);
    cr_assert_eq(r.n_tokens, 3);
    cr_assert_eq(r.finish, TTC_FINISH_NONE);
    ttc_gen_request_free(&r);
    /* invalid requests */
    ttc_gen_request bad[2] = {ttc_gen_request_make(s, 5, greedy, 0), ttc_gen_request_make(s, 5, greedy, 0)};
    cr_assert_eq(ttc_generate(C, bad, 2, NULL, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "share"), "%s", e.msg);
    int empty;
    cr_assert_eq(ttc_seq_new(C, &empty, &e), TTC_OK);
    bad[0].seq = empty;
    cr_assert_eq(ttc_generate(C, bad, 1, NULL, &e), TTC_EINVAL);
}

/* ---- the CLI: ttc logits, ttc generate, ttc gguf random ---- */

Test(cli, logits_generate_and_random_match_the_library, .timeout = 60) {
    const char *dir = tu_tmpdir();
    char path[256], path2[256], out[256], cmd[1024];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    snprintf(path2, sizeof path2, "%s/m2.gguf", dir);
    snprintf(out, sizeof out, "%s/l.f32", dir);
    const char *vocab = tu_shared("vocab/ggml-vocab-llama-spm.gguf");
    snprintf(cmd, sizeof cmd, "%s gguf random --shape tiny-qwen3 --vocab %s --type q4_k --seed 9 -o %s -t 2", tu_bin(), vocab, path);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 0, "%s", cmd);
    /* the library writes the same bytes, whatever the thread count */
    ttc_err e = {0};
    ttc_random_params rp = {.vocab_path = vocab, .type = TTC_TYPE_Q4_K, .seed = 9};
    cr_assert_eq(ttc_random_model_write(ttc_random_shape_find("tiny-qwen3"), &rp, path2, &e), TTC_OK, "%s", e.msg);
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", path, path2);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 0, "random models differ");

    snprintf(cmd, sizeof cmd, "%s logits -m %s -o %s -t 1", tu_bin(), path, out);
    cr_assert_eq(tu_run(cmd, "Hello world", NULL), 0, "%s", cmd);
    ttc_model *m;
    cr_assert_eq(ttc_model_load(path, NULL, &m, &e), TTC_OK, "%s", e.msg);
    int32_t ids[16];
    int n, s;
    cr_assert_eq(ttc_tokenize(m->tok, "Hello world", 11, ttc_tokenizer_add_bos(m->tok), true, ids, 16, &n, &e), TTC_OK);
    ttc_ctx *c;
    cr_assert_eq(ttc_ctx_new(m, NULL, &c, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_seq_new(c, &s, &e), TTC_OK);
    cr_assert_eq(ttc_seq_append_tokens(c, s, ids, n, &e), TTC_OK);
    cr_assert_eq(ttc_decode_pending(c, &s, 1, false, false, NULL, &e), TTC_OK, "%s", e.msg);
    FILE *f = fopen(out, "rb");
    cr_assert_not_null(f);
    int V = m->cfg.n_vocab;
    float *got = malloc(sizeof(float) * (V + 1));
    cr_assert_eq(fread(got, sizeof(float), (size_t)V + 1, f), (size_t)V);
    fclose(f);
    const float *want = ttc_logits(c, 0);
    for (int i = 0; i < V; i++) cr_assert(fabsf(got[i] - want[i]) <= 1e-4f * (1 + fabsf(want[i])), "logit %d: %g vs %g", i, got[i], want[i]);
    free(got);

    /* greedy generate prints the library's greedy text */
    cr_assert_eq(ttc_seq_truncate(c, s, n, &e), TTC_OK);
    ttc_gen_request r = ttc_gen_request_make(s, 10, greedy, 0);
    cr_assert_eq(ttc_generate(c, &r, 1, NULL, &e), TTC_OK, "%s", e.msg);
    snprintf(cmd, sizeof cmd, "%s generate -m %s -p 'Hello world' -n 10 --temp 0 -t 1 -q", tu_bin(), path);
    char *txt;
    cr_assert_eq(tu_run(cmd, NULL, &txt), 0, "%s", cmd);
    char want_txt[512];
    snprintf(want_txt, sizeof want_txt, "%s\n", r.text);
    cr_assert_str_eq(txt, want_txt);
    free(txt);
    ttc_gen_request_free(&r);
    ttc_ctx_free(c);
    ttc_model_free(m);

    /* argument errors: 2; runtime errors: 1; help: 0 */
    const char *cases[][2] = {
        {"generate --help", "0"}, {"logits --help", "0"}, {"gguf random --help", "0"},
        {"generate -p hi", "2"}, {"generate -m x -p hi --temp abc", "2"}, {"logits -m x", "2"},
        {"gguf random --shape nope --type q8_0 -o /dev/null", "2"}, {"gguf random --shape tiny-llama --type q5_1 -o x", "2"},
        {"generate -m /nonexistent.gguf -p hi", "1"}, {"logits -m /nonexistent.gguf -o /dev/null", "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", tu_bin(), cases[i][0]);
        cr_assert_eq(tu_run(cmd, "", NULL), atoi(cases[i][1]), "%s", cmd);
    }
    unlink(path); unlink(path2); unlink(out); rmdir(dir);
}

/* The vectorised ttc_argmax against the plain loop (first index of the
 * largest value; NaN after x[0] never wins, a NaN x[0] gives the last
 * index), for every length 1..70 with ties, NaNs and -inf. */
static int32_t argmax_plain(const float *x, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    int32_t i = 0;
    while (i < n - 1 && !(x[i] == m)) i++;
    return i;
}

Test(sample, argmax_matches_plain_loop) {
    float x[80];
    unsigned s = 12345;
    for (int n = 1; n <= 70; n++)
        for (int trial = 0; trial < 40; trial++) {
            for (int i = 0; i < n; i++) {
                s = s * 1103515245u + 12345u;
                x[i] = (float)((s >> 16) % 7) - 3.0f; /* many ties */
                if (trial % 5 == 1 && (s >> 8) % 11 == 0) x[i] = NAN;
                if (trial % 5 == 2 && (s >> 9) % 13 == 0) x[i] = -INFINITY;
            }
            if (trial == 3) x[0] = NAN;
            if (trial == 4) for (int i = 0; i < n; i++) x[i] = -INFINITY;
            cr_assert_eq(ttc_argmax(x, n), argmax_plain(x, n), "n=%d trial %d", n, trial);
        }
}
