/* Verifiers: PRM format presets and GGUF keys; the local verifier's
 * incremental step scores against a one-batch reference decode of the whole
 * layout, forks, score_final, a value head; the local generator's seeds,
 * limits and counts; a strategy end to end on the engine. Uses a tiny random
 * llama with the GPT-2 vocabulary. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/prompt.h"
#include "gguf/gguf.h"
#include "kernels/quant.h"
#include "model/ctx.h"
#include "model/generate.h"
#include "model/random.h"
#include "search/lm_local.h"
#include "search/prm.h"
#include "search/strategy.h"
#include "tokenizer/tokenizer.h"
#include "testutil.h"

static char Path[512];
static ttc_model *M;
static ttc_ctx *C;

/* A format over the GPT-2 vocabulary: ttc's layout with <|endoftext|> as
 * the tag (the vocabulary has no <|step|>). */
static ttc_prm_format test_format(void) {
    ttc_prm_format f;
    ttc_err e = {0};
    cr_assert_eq(ttc_prm_preset("ttc", &f, &e), TTC_OK);
    strcpy(f.name, "test");
    strcpy(f.tag, "<|endoftext|>");
    return f;
}

/* The model file is written once, before the tests fork. */
ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    snprintf(Path, sizeof Path, "%s/m.gguf", tu_tmpdir());
    ttc_err e = {0};
    ttc_random_params p = {.vocab_path = tu_shared("vocab/ggml-vocab-gpt-2.gguf"), .type = TTC_TYPE_F16, .seed = 9};
    if (ttc_random_model_write(ttc_random_shape_find("tiny-llama"), &p, Path, &e))
        fprintf(stderr, "test_verifier: %s\n", e.msg);
    setenv("TTC_TEST_VERIFIER_MODEL", Path, 1);   /* the test processes read it */
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    unlink(Path);
    char *slash = strrchr(Path, '/');
    if (slash) { *slash = 0; rmdir(Path); }
}

static void setup(void) {
    ttc_err e = {0};
    const char *p = getenv("TTC_TEST_VERIFIER_MODEL");
    cr_assert_not_null(p);
    snprintf(Path, sizeof Path, "%s", p);
    cr_assert_eq(ttc_model_load(Path, NULL, &M, &e), TTC_OK, "%s", e.msg);
    ttc_ctx_params cp = {.n_ctx = 256, .n_seq_max = 32, .n_batch = 256, .kv_tokens = 8192};
    cr_assert_eq(ttc_ctx_new(M, &cp, &C, &e), TTC_OK, "%s", e.msg);
}

static void teardown(void) {
    ttc_ctx_free(C);
    ttc_model_free(M);
}

TestSuite(verifier, .init = setup, .fini = teardown, .timeout = 120);
TestSuite(prm_format);

/* ---- formats ------------------------------------------------------------------ */

Test(prm_format, presets) {
    ttc_prm_format f;
    ttc_err e = {0};
    cr_assert_eq(ttc_prm_preset("math-shepherd", &f, &e), TTC_OK);
    cr_assert_eq(f.kind, TTC_PRM_LM_TOKEN);
    cr_assert_str_eq(f.tag, "ки");
    cr_assert(f.strip_newline);
    cr_assert_eq(ttc_prm_preset("qwen2.5-math-prm", &f, &e), TTC_OK);
    cr_assert_eq(f.kind, TTC_PRM_HEAD_2CLASS);
    cr_assert_str_eq(f.tag, "<extra_0>");
    cr_assert_eq(ttc_prm_preset("rlhflow", &f, &e), TTC_OK);
    cr_assert_str_eq(f.tag, "");
    cr_assert_str_eq(f.after, "+<|eot_id|>");
    cr_assert_eq(ttc_prm_preset("skywork-prm", &f, &e), TTC_OK);
    cr_assert_eq(f.kind, TTC_PRM_HEAD_VALUE);
    cr_assert_eq(ttc_prm_preset("ttc-orm", &f, &e), TTC_OK);
    cr_assert(f.outcome);
    cr_assert_eq(ttc_prm_preset("ttc", &f, &e), TTC_OK);
    cr_assert(!f.outcome);
    /* the ttc root is exactly the generator's prompt */
    char root[600];
    snprintf(root, sizeof root, "%s%s%s", f.root_prefix, "1+1?", f.root_suffix);
    char *want = ttc_prompt_solve("1+1?");
    cr_assert_str_eq(root, want);
    free(want);
    cr_assert_eq(ttc_prm_preset("prm-9000", &f, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "prm-9000") && strstr(e.msg, "math-shepherd"), "%s", e.msg);
}

Test(prm_format, from_gguf_keys) {
    ttc_err e = {0};
    ttc_gguf_writer *w;
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_set_str(w, "ttc.prm.format", "math-shepherd", &e), TTC_OK);
    cr_assert_eq(ttc_gguf_set_str(w, "ttc.prm.tag", "<step>", &e), TTC_OK);
    cr_assert_eq(ttc_gguf_set_bool(w, "ttc.prm.outcome", true, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_set_str(w, "ttc.prm.kind", "head-value", &e), TTC_OK);
    void *buf;
    size_t len;
    cr_assert_eq(ttc_gguf_writer_write_mem(w, &buf, &len, &e), TTC_OK, "%s", e.msg);
    ttc_gguf *g;
    cr_assert_eq(ttc_gguf_open_mem(buf, len, &g, &e), TTC_OK, "%s", e.msg);
    ttc_prm_format f;
    cr_assert_eq(ttc_prm_format_from_gguf(g, &f, &e), TTC_OK, "%s", e.msg);
    cr_assert_str_eq(f.name, "math-shepherd");
    cr_assert_str_eq(f.tag, "<step>");
    cr_assert_str_eq(f.after, "\n");       /* from the preset */
    cr_assert(f.outcome);
    cr_assert_eq(f.kind, TTC_PRM_HEAD_VALUE);
    ttc_gguf_close(g);
    free(buf);
    /* a bad kind names the key */
    cr_assert_eq(ttc_gguf_set_str(w, "ttc.prm.kind", "regression", &e), TTC_OK);
    cr_assert_eq(ttc_gguf_writer_write_mem(w, &buf, &len, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_open_mem(buf, len, &g, &e), TTC_OK);
    cr_assert_eq(ttc_prm_format_from_gguf(g, &f, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "ttc.prm.kind") && strstr(e.msg, "regression"), "%s", e.msg);
    ttc_gguf_close(g);
    free(buf);
    ttc_gguf_writer_free(w);
}

/* ---- local verifier --------------------------------------------------------------- */

static const char *Problem = "Ann has 3 apples and buys 2 more. How many apples?";
static const char *Steps[3] = {"She buys 2, so 3 + 2 = 5.\n", "That is 5 apples.\n",
                               "The answer is \\boxed{5}.\n"};

static void push_text(int32_t *ids, int *n, const char *text, bool special) {
    int k;
    ttc_err e = {0};
    cr_assert_eq(ttc_tokenize(M->tok, text, strlen(text), false, special, ids + *n, 512 - *n, &k, &e), TTC_OK);
    *n += k;
}

/* The whole layout in one sequence and one decode, logits at each tag. */
static void reference_scores(const ttc_prm_format *f, int n_steps, float *out) {
    int32_t ids[512];
    int n = 0, tag_at[8];
    int32_t tag = -1, pos = -1, neg = -1;
    int k;
    ttc_err e = {0};
    cr_assert_eq(ttc_tokenize(M->tok, f->tag, strlen(f->tag), false, true, &tag, 1, &k, &e), TTC_OK);
    cr_assert_eq(ttc_tokenize(M->tok, f->pos, strlen(f->pos), false, true, &pos, 1, &k, &e), TTC_OK);
    cr_assert_eq(ttc_tokenize(M->tok, f->neg, strlen(f->neg), false, true, &neg, 1, &k, &e), TTC_OK);
    if (ttc_tokenizer_add_bos(M->tok) && ttc_tokenizer_bos(M->tok) >= 0) ids[n++] = ttc_tokenizer_bos(M->tok);
    char root[1024];
    snprintf(root, sizeof root, "%s%s%s", f->root_prefix, Problem, f->root_suffix);
    push_text(ids, &n, root, false);   /* one piece, as the trainer tokenizes the prompt */
    for (int s = 0; s < n_steps; s++) {
        push_text(ids, &n, Steps[s], false);
        tag_at[s] = n;
        ids[n++] = tag;
    }
    int seq;
    cr_assert_eq(ttc_seq_new(C, &seq, &e), TTC_OK);
    ttc_batch_entry be[512];
    for (int i = 0; i < n; i++) be[i] = (ttc_batch_entry){.seq = seq, .token = ids[i]};
    for (int s = 0; s < n_steps; s++) be[tag_at[s]].want_logits = true;
    cr_assert_eq(ttc_decode(C, be, n, &e), TTC_OK, "%s", e.msg);
    for (int s = 0; s < n_steps; s++) {
        const float *l = ttc_logits(C, tag_at[s]);
        out[s] = (float)(1.0 / (1.0 + exp(-((double)l[pos] - l[neg]))));
    }
    ttc_seq_free(C, seq);
}

Test(verifier, incremental_scores_match_one_batch_reference) {
    ttc_prm_format f = test_format();
    ttc_verifier *v;
    ttc_err e = {0};
    cr_assert_eq(ttc_local_verifier_new(C, &f, &v, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(v->kind, TTC_VERIFIER_PRM);
    float ref[3];
    reference_scores(&f, 3, ref);
    int root, a, b;
    cr_assert_eq(v->vt->root(v, Problem, &root, &e), TTC_OK, "%s", e.msg);
    int64_t after_root = v->usage.tokens_prefill;
    cr_assert_eq(v->vt->fork(v, root, &a, &e), TTC_OK);
    float s[3];
    for (int i = 0; i < 3; i++) {
        int64_t before = v->usage.tokens_prefill;
        cr_assert_eq(v->vt->score(v, &a, &Steps[i], 1, &s[i], &e), TTC_OK, "%s", e.msg);
        cr_assert_float_eq(s[i], ref[i], 1e-4, "step %d: %f vs reference %f", i, s[i], ref[i]);
        /* only the new step's tokens (+ tag, + the pending last token of the
         * root before the first step) were run */
        int32_t ids[64];
        int k;
        cr_assert_eq(ttc_tokenize(M->tok, Steps[i], strlen(Steps[i]), false, false, ids, 64, &k, &e), TTC_OK);
        cr_assert_eq(v->usage.tokens_prefill - before, k + 1 + (i == 0), "step %d", i);
    }
    cr_assert(ref[0] != ref[1] || ref[1] != ref[2], "scores should vary");
    /* a fork after step 1 scores its own step 2; batched with another node */
    cr_assert_eq(v->vt->fork(v, root, &b, &e), TTC_OK);
    int c;
    cr_assert_eq(v->vt->fork(v, root, &c, &e), TTC_OK);
    const char *first[2] = {Steps[0], Steps[0]};
    int bc[2] = {b, c};
    float t[2];
    cr_assert_eq(v->vt->score(v, bc, first, 2, t, &e), TTC_OK);
    cr_assert_float_eq(t[0], ref[0], 1e-4);
    cr_assert_float_eq(t[1], ref[0], 1e-4);
    const char *second[2] = {Steps[1], "Something else entirely.\n"};
    cr_assert_eq(v->vt->score(v, bc, second, 2, t, &e), TTC_OK);
    cr_assert_float_eq(t[0], ref[1], 1e-4);
    cr_assert(fabsf(t[1] - ref[1]) > 1e-6, "a different step should score differently");
    /* score_final of the whole text on a fresh fork reads the last tag */
    int d;
    cr_assert_eq(v->vt->fork(v, root, &d, &e), TTC_OK);
    char all[256];
    snprintf(all, sizeof all, "%s%s%s", Steps[0], Steps[1], Steps[2]);
    const char *texts[1] = {all};
    float fin;
    cr_assert_eq(v->vt->score_final(v, &d, texts, 1, &fin, &e), TTC_OK, "%s", e.msg);
    cr_assert_float_eq(fin, ref[2], 1e-4);
    cr_assert_gt(after_root, 10);
    cr_assert_gt(v->usage.flops, 2.0 * (double)M->n_params * (double)v->usage.tokens_prefill);
    int seqs[] = {root, a, b, c, d};
    for (int i = 0; i < 5; i++) v->vt->release(v, seqs[i]);
    cr_assert_eq(ttc_kv_pages_used(ttc_ctx_kv(C)), 0, "KV pages leaked");
    ttc_verifier_free(v);
}

/* Mean log-probability of text's tokens after prompt (BOS rule of the
 * model), computed in one teacher-forced pass: the reference for the
 * likelihood verifier. */
static double ref_mean_logprob(const char *prompt, const char *text) {
    ttc_err e = {0};
    ttc_ctx *c;
    ttc_ctx_params cp = {.n_ctx = 256, .n_seq_max = 2, .n_batch = 256, .n_outputs_max = 256, .kv_tokens = 1024};
    cr_assert_eq(ttc_ctx_new(M, &cp, &c, &e), TTC_OK, "%s", e.msg);
    const ttc_tokenizer *tok = ttc_model_tokenizer(M);
    int32_t *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    cr_assert_eq(ttc_tokenize_alloc(tok, prompt, strlen(prompt), ttc_tokenizer_add_bos(tok), false, &a, &na, &e), TTC_OK);
    cr_assert_eq(ttc_tokenize_alloc(tok, text, strlen(text), false, false, &b, &nb, &e), TTC_OK);
    int seq;
    cr_assert_eq(ttc_seq_new(c, &seq, &e), TTC_OK);
    ttc_batch_entry ent[256];
    for (int i = 0; i < na + nb; i++) ent[i] = (ttc_batch_entry){seq, i < na ? a[i] : b[i - na], i >= na - 1, false};
    cr_assert_eq(ttc_decode(c, ent, na + nb, &e), TTC_OK, "%s", e.msg);
    int nv = ttc_model_n_vocab(M);
    double sum = 0;
    for (int k = 0; k < nb; k++) {
        const float *l = ttc_logits(c, na - 1 + k);
        double mx = l[0], z = 0;
        for (int t = 1; t < nv; t++) mx = l[t] > mx ? l[t] : mx;
        for (int t = 0; t < nv; t++) z += exp(l[t] - mx);
        sum += l[b[k]] - mx - log(z);
    }
    free(a); free(b);
    ttc_ctx_free(c);
    return sum / nb;
}

/* The likelihood verifier: step by step, in batches split across decodes
 * (32 outputs per decode here), after forks, its scores are the geometric
 * mean token probability of the solution so far, as one reference pass
 * computes it; score_final on the whole text gives the same. */
Test(verifier, likelihood_scores_match_teacher_forced_reference) {
    ttc_err e = {0};
    ttc_verifier *v;
    cr_assert_eq(ttc_likelihood_verifier_new(C, TTC_PROMPT_SOLVE_PREFIX, TTC_PROMPT_SOLVE_SUFFIX, &v, &e), TTC_OK, "%s", e.msg);
    const char *problem = "Tom has 3 pens. Mia gives him 7 more. How many pens does Tom have now?";
    const char *s1 = "Mia gives him 7, so 3 + 7 = 10.\n", *s2 = "The answer is \\boxed{10}.\n";
    const char *w1 = "Mia gives him 7, so 3 + 7 = 12 and a few more words to make this step long.\n";
    int root, a, b, f;
    cr_assert_eq(v->vt->root(v, problem, &root, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(v->vt->fork(v, root, &a, &e), TTC_OK);
    cr_assert_eq(v->vt->fork(v, root, &b, &e), TTC_OK);
    cr_assert_eq(v->vt->fork(v, root, &f, &e), TTC_OK);
    int nodes[2] = {a, b};
    const char *steps[2] = {s1, w1};
    float sc[2];
    cr_assert_eq(v->vt->score(v, nodes, steps, 2, sc, &e), TTC_OK, "%s", e.msg);
    char *prompt = ttc_prompt_solve(problem);
    cr_assert_float_eq(sc[0], exp(ref_mean_logprob(prompt, s1)), 1e-4);
    cr_assert_float_eq(sc[1], exp(ref_mean_logprob(prompt, w1)), 1e-4);
    /* a second step continues the same running mean; a fork carries it */
    int a2;
    cr_assert_eq(v->vt->fork(v, a, &a2, &e), TTC_OK);
    const char *steps2[1] = {s2};
    cr_assert_eq(v->vt->score(v, &a2, steps2, 1, sc, &e), TTC_OK, "%s", e.msg);
    char both[256];
    snprintf(both, sizeof both, "%s%s", s1, s2);
    double ref = exp(ref_mean_logprob(prompt, both));
    cr_assert_float_eq(sc[0], ref, 1e-3, "%f vs %f", sc[0], ref);
    const char *texts[1] = {both};
    cr_assert_eq(v->vt->score_final(v, &f, texts, 1, sc, &e), TTC_OK, "%s", e.msg);
    cr_assert_float_eq(sc[0], ref, 1e-4);
    /* bad input */
    int twice[2] = {b, b};
    cr_assert_eq(v->vt->score(v, twice, steps, 2, sc, &e), TTC_EINVAL);
    const char *empty[1] = {""};
    cr_assert_eq(v->vt->score_final(v, &b, empty, 1, sc, &e), TTC_EINVAL);
    cr_assert_eq(v->vt->score(v, (int[]){999}, steps, 1, sc, &e), TTC_EINVAL);
    cr_assert_gt(v->usage.tokens_prefill, 0);
    free(prompt);
    ttc_verifier_free(v);
}

Test(verifier, bad_formats_name_the_field) {
    ttc_prm_format f = test_format();
    ttc_verifier *v = NULL;
    ttc_err e = {0};
    strcpy(f.tag, "not one token at all");
    cr_assert_eq(ttc_local_verifier_new(C, &f, &v, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "tag") && strstr(e.msg, "not one token"), "%s", e.msg);
    f = test_format();
    f.kind = TTC_PRM_HEAD_VALUE;
    cr_assert_eq(ttc_local_verifier_new(C, &f, &v, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "prm_value.weight"), "%s", e.msg);
    f = test_format();
    f.outcome = true;
    cr_assert_eq(ttc_local_verifier_new(C, &f, &v, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(v->kind, TTC_VERIFIER_ORM);
    int r;
    float s;
    cr_assert_eq(v->vt->root(v, Problem, &r, &e), TTC_OK);
    cr_assert_eq(v->vt->score(v, &r, &Steps[0], 1, &s, &e), TTC_EUNSUPPORTED);
    v->vt->release(v, r);
    ttc_verifier_free(v);
}

Test(verifier, value_head_reads_hidden_state) {
    /* the model plus prm_value.{weight,bias}: score = sigmoid(w.h + b) at the tag */
    ttc_err e = {0};
    ttc_gguf_writer *w;
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_writer_copy_prefix(w, M->gguf, "", &e), TTC_OK, "%s", e.msg);
    for (int64_t i = 0; i < ttc_gguf_n_tensors(M->gguf); i++) {
        const ttc_gguf_tensor *t = ttc_gguf_tensor_at(M->gguf, i);
        cr_assert_eq(ttc_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, &e), TTC_OK);
    }
    int d = M->cfg.n_embd;
    float *wv = malloc((size_t)d * sizeof *wv), bv = 0.25f;
    for (int i = 0; i < d; i++) wv[i] = (float)sin(i * 0.37) * 0.05f;
    int64_t ne_w[2] = {d, 1}, ne_b[1] = {1};
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "prm_value.weight", TTC_TYPE_F32, 2, ne_w, wv, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "prm_value.bias", TTC_TYPE_F32, 1, ne_b, &bv, &e), TTC_OK);
    char path[600];
    snprintf(path, sizeof path, "%s.head.gguf", Path);
    cr_assert_eq(ttc_gguf_writer_write(w, path, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer_free(w);
    ttc_model *m2;
    cr_assert_eq(ttc_model_load(path, NULL, &m2, &e), TTC_OK, "%s", e.msg);
    ttc_ctx *c2;
    ttc_ctx_params cp = {.n_ctx = 256, .n_seq_max = 4, .n_batch = 256, .kv_tokens = 1024};
    cr_assert_eq(ttc_ctx_new(m2, &cp, &c2, &e), TTC_OK);
    ttc_prm_format f = test_format();
    f.kind = TTC_PRM_HEAD_VALUE;
    ttc_verifier *v;
    cr_assert_eq(ttc_local_verifier_new(c2, &f, &v, &e), TTC_OK, "%s", e.msg);
    int r;
    float s;
    cr_assert_eq(v->vt->root(v, Problem, &r, &e), TTC_OK);
    cr_assert_eq(v->vt->score(v, &r, &Steps[0], 1, &s, &e), TTC_OK, "%s", e.msg);
    /* reference: the hidden state at the tag from a fresh decode */
    int seq;
    cr_assert_eq(ttc_seq_new(c2, &seq, &e), TTC_OK);
    const int32_t *hist = ttc_seq_tokens(c2, r);
    int n = ttc_seq_len(c2, r);
    cr_assert_eq(ttc_seq_append_tokens(c2, seq, hist, n, &e), TTC_OK);
    cr_assert_eq(ttc_decode_pending(c2, &seq, 1, false, true, NULL, &e), TTC_OK);
    const float *h = ttc_hidden(c2, 0);
    double z = bv;
    for (int i = 0; i < d; i++) z += (double)wv[i] * h[i];
    cr_assert_float_eq(s, 1.0 / (1.0 + exp(-z)), 1e-4, "%f vs %f", s, 1.0 / (1.0 + exp(-z)));
    ttc_seq_free(c2, seq);
    v->vt->release(v, r);
    ttc_verifier_free(v);
    ttc_ctx_free(c2);
    ttc_model_free(m2);
    unlink(path);
    free(wv);
}

/* ---- local generator ----------------------------------------------------------------- */

Test(verifier, local_generator_seeds_limits_counts) {
    ttc_generator *g;
    ttc_err e = {0};
    cr_assert_eq(ttc_local_generator_new(C, &g, &e), TTC_OK, "%s", e.msg);
    int root, n[4];
    cr_assert_eq(g->vt->root(g, "Problem: 2+2?\nSolution:\n", &root, &e), TTC_OK, "%s", e.msg);
    for (int i = 0; i < 4; i++) cr_assert_eq(g->vt->fork(g, root, &n[i], &e), TTC_OK);
    uint64_t seeds[4] = {1, 2, 1, 3};
    ttc_extend_opts o = {.temperature = 1.0f, .top_p = 1.0f, .max_tokens = 6, .seeds = seeds};
    ttc_extend_result res[4];
    ttc_lm_usage u0 = g->usage;
    cr_assert_eq(g->vt->extend(g, n, 4, TTC_EXTEND_SOLUTION, &o, res, &e), TTC_OK, "%s", e.msg);
    char *t[4];
    int sum = 0;
    for (int i = 0; i < 4; i++) {
        t[i] = strdup(res[i].text);
        sum += res[i].n_tokens;
        cr_assert_leq(res[i].n_tokens, 6);
        if (res[i].n_tokens == 6) cr_assert(res[i].finished && res[i].truncated);
    }
    cr_assert_str_eq(t[0], t[2], "same seed, same text");
    cr_assert(strcmp(t[0], t[1]) || strcmp(t[0], t[3]), "different seeds should differ");
    cr_assert_eq(g->usage.tokens_gen - u0.tokens_gen, sum);
    cr_assert_gt(g->usage.flops, u0.flops);
    /* greedy SOLUTION from a fork equals the engine's greedy generation */
    int f1, f2;
    cr_assert_eq(g->vt->fork(g, root, &f1, &e), TTC_OK);
    cr_assert_eq(ttc_seq_fork(C, root, &f2, &e), TTC_OK);
    ttc_extend_opts og = {.temperature = 0, .max_tokens = 10};
    cr_assert_eq(g->vt->extend(g, &f1, 1, TTC_EXTEND_SOLUTION, &og, res, &e), TTC_OK, "%s", e.msg);
    ttc_gen_request q = ttc_gen_request_make(f2, 10, (ttc_sample_params){0}, 0);
    cr_assert_eq(ttc_generate(C, &q, 1, NULL, &e), TTC_OK);
    cr_assert_str_eq(res[0].text, q.text);
    cr_assert_eq(res[0].n_tokens, q.n_tokens);
    ttc_gen_request_free(&q);
    ttc_seq_free(C, f2);
    g->vt->release(g, f1);
    for (int i = 0; i < 4; i++) { g->vt->release(g, n[i]); free(t[i]); }
    g->vt->release(g, root);
    cr_assert_eq(ttc_kv_pages_used(ttc_ctx_kv(C)), 0, "KV pages leaked");
    ttc_generator_free(g);
}

Test(verifier, strategy_end_to_end_on_the_engine) {
    ttc_generator *g;
    ttc_verifier *v;
    ttc_err e = {0};
    ttc_prm_format f = test_format();
    cr_assert_eq(ttc_local_generator_new(C, &g, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_local_verifier_new(C, &f, &v, &e), TTC_OK, "%s", e.msg);
    const ttc_search_method ms[] = {TTC_SEARCH_BON_WEIGHTED, TTC_SEARCH_BEAM, TTC_SEARCH_LOOKAHEAD};
    char *first_json = NULL;
    for (int i = 0; i < 4; i++) {       /* the fourth run repeats the beam search */
        ttc_search_params p;
        ttc_search_params_default(&p, ms[i % 3 + (i == 3)], 4);
        p.beam_width = 2;
        p.lookahead = 1;
        p.max_rounds = 3;
        p.seed = 17;
        p.max_step_tokens = 4;
        p.max_solution_tokens = 8;
        ttc_search_result r;
        cr_assert_eq(ttc_search_run(&p, g, v, Problem, &r, &e), TTC_OK, "%s", e.msg);
        cr_assert_gt(r.n_cands, 0);
        cr_assert_geq(r.chosen, 0);
        int64_t sum = 0;
        for (int c = 0; c < r.n_cands; c++) {
            sum += r.cands[c].n_tokens;
            cr_assert(!isnan(r.cands[c].score) || r.cands[c].text[0] == 0);
        }
        if (p.method == TTC_SEARCH_BON_WEIGHTED) cr_assert_eq(sum, r.budget.tokens_generated);
        else cr_assert_leq(sum, r.budget.tokens_generated);
        if (p.method == TTC_SEARCH_LOOKAHEAD) cr_assert_gt(r.budget.rollout_steps, 0);
        cr_assert_gt(r.budget.tokens_scored, 0);
        cr_assert_gt(r.budget.flops_verifier, 0);
        cr_assert_eq(ttc_kv_pages_used(ttc_ctx_kv(C)), 0, "%s leaked KV pages", ttc_search_method_name(p.method));
        if (p.method == TTC_SEARCH_BEAM) {   /* same seed, same search */
            r.budget.wall_seconds = 0;
            char *js;
            cr_assert_eq(ttc_search_result_json(&r, true, &js, &e), TTC_OK);
            if (!first_json) first_json = js;
            else { cr_assert_str_eq(js, first_json); free(js); }
        }
        ttc_search_result_free(&r);
    }
    free(first_json);
    ttc_verifier_free(v);
    ttc_generator_free(g);
}

/* ---- ttc solve ------------------------------------------------------------------------ */

Test(verifier, solve_cli) {
    char cmd[1600], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s solve -m %s --strategy majority --n 3 --max-tokens 5 --seed 4 --json "
             "-t 1 -p 'What is 2+3?'", tu_bin(), Path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    cr_assert_not_null(o, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "strategy")), "majority");
    cr_assert_eq(json_array_size(json_object_get(o, "candidates")), 3);
    json_t *b = json_object_get(o, "budget");
    cr_assert_float_eq(json_real_value(json_object_get(b, "generations")), 3.0, 1e-9);
    cr_assert_leq(json_integer_value(json_object_get(b, "tokens_generated")), 15);
    cr_assert_eq(json_integer_value(json_object_get(b, "tokens_scored")), 0);
    json_decref(o);
    /* stdin problem, same seed: same answer and solution */
    char *out2 = NULL;
    snprintf(cmd, sizeof cmd, "%s solve -m %s --strategy majority --n 3 --max-tokens 5 --seed 4 --json -t 1",
             tu_bin(), Path);
    cr_assert_eq(tu_run(cmd, "What is 2+3?\n", &out2), 0);
    json_t *o1 = json_loads(out, 0, &je), *o2 = json_loads(out2, 0, &je);
    cr_assert_str_eq(json_string_value(json_object_get(o1, "solution")),
                     json_string_value(json_object_get(o2, "solution")));
    json_decref(o1);
    json_decref(o2);
    free(out);
    free(out2);
    snprintf(cmd, sizeof cmd, "%s solve --help", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s solve -m %s --strategy beam --n 4 -p x 2>/dev/null", tu_bin(), Path);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2, "beam without --prm is a usage error");
    snprintf(cmd, sizeof cmd, "%s solve -m %s --strategy dvts --n 6 --beam-width 4 --prm %s -p x 2>/dev/null",
             tu_bin(), Path, Path);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s solve -m %s --strategy mcts --n 4 -p x 2>/dev/null", tu_bin(), Path);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    /* runtime error: the default (ttc) format needs <|step|>, which GPT-2 lacks */
    snprintf(cmd, sizeof cmd, "%s solve -m %s --prm %s --strategy beam --n 4 -p x 2>&1", tu_bin(), Path, Path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 1);
    cr_assert(strstr(out, "<|step|>"), "%s", out);
    free(out);
    /* --prm likelihood: beam search scored by the generator itself */
    snprintf(cmd, sizeof cmd, "%s solve -m %s --prm likelihood --strategy beam --n 4 --max-tokens 12 --json -t 1 "
             "-p 'What is 2+3?'", tu_bin(), Path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
    o = json_loads(out, 0, &je);
    cr_assert_not_null(o, "%s", out);
    cr_assert_gt(json_integer_value(json_object_get(json_object_get(o, "budget"), "tokens_scored")), 0, "%s", out);
    json_decref(o);
    free(out);
    snprintf(cmd, sizeof cmd, "%s solve -m %s --prm likelihood --prm-format ttc --strategy beam --n 4 -p x 2>/dev/null",
             tu_bin(), Path);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    /* revisions are greedy and read 4 earlier attempts unless --revise-temp
     * and --revise-context say otherwise */
    const double want[2] = {0.0, 0.25};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s solve -m %s --strategy revise --revise-select majority --n 2 --max-tokens 4 "
                 "--json -t 1 %s -p x", tu_bin(), Path, i ? "--revise-temp 0.25 --revise-context 1" : "");
        cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
        o = json_loads(out, 0, &je);
        cr_assert_not_null(o, "%s", out);
        cr_assert_float_eq(json_number_value(json_object_get(o, "revise_temperature")), want[i], 1e-6, "%s", out);
        cr_assert_eq(json_integer_value(json_object_get(o, "revise_len")), 2);
        cr_assert_eq(json_integer_value(json_object_get(o, "revise_context")), i ? 1 : 4, "%s", out);
        json_decref(o);
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s solve -m %s --strategy revise --revise-temp hot -p x 2>/dev/null", tu_bin(), Path);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s solve -m %s --strategy revise --revise-context 5 -p x 2>&1", tu_bin(), Path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 2);
    cr_assert(strstr(out, "--revise-context"), "%s", out);
    free(out);
}

/* ---- agreement with the trainer's PRM layout (train/prm.h) --------------------------- */

#include "train/prm.h"

/* A random tiny llama over a small BPE vocabulary that holds the bundled
 * special tokens (so the ttc verifier format applies): dir/vocab.gguf and
 * dir/m.gguf. */
static void make_ttc_vocab_model(char *dir, char *vocab, char *model) {
    const char *texts[] = {"Problem: Ann has 3 apples.\nSolution:\n3 + 2 = 5.\nThe answer is \\boxed{5}.\n",
                           "Problem: Bob has 7 pens and gives 2 away.\nSolution:\n7 - 2 = 5.\n"};
    const char *specials[] = TTC_VOCAB_SPECIALS;
    ttc_tokenizer *tok;
    ttc_err e = {0};
    cr_assert_eq(ttc_bpe_train(texts, 2, 320, "qwen2", specials, TTC_VOCAB_N_SPECIALS, &tok, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer *w;
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    cr_assert_eq(ttc_tokenizer_to_gguf(tok, w, &e), TTC_OK, "%s", e.msg);
    snprintf(dir, 128, "%s", tu_tmpdir());
    snprintf(vocab, 256, "%s/vocab.gguf", dir);
    snprintf(model, 256, "%s/m.gguf", dir);
    cr_assert_eq(ttc_gguf_writer_write(w, vocab, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer_free(w);
    ttc_tokenizer_free(tok);
    ttc_random_params rp = {.vocab_path = vocab, .type = TTC_TYPE_F32, .seed = 3};
    cr_assert_eq(ttc_random_model_write(ttc_random_shape_find("tiny-llama"), &rp, model, &e), TTC_OK, "%s", e.msg);
}

Test(prm_format, ttc_preset_matches_trainer_encoding) {
    char dir[128], vocab[256], model[256];
    make_ttc_vocab_model(dir, vocab, model);
    ttc_err e = {0};
    ttc_model *m;
    cr_assert_eq(ttc_model_load(model, NULL, &m, &e), TTC_OK, "%s", e.msg);
    ttc_ctx *c;
    ttc_ctx_params cp = {.n_ctx = 256, .n_seq_max = 4, .n_batch = 256, .kv_tokens = 1024};
    cr_assert_eq(ttc_ctx_new(m, &cp, &c, &e), TTC_OK, "%s", e.msg);
    ttc_prm_format f;
    cr_assert_eq(ttc_prm_preset("ttc", &f, &e), TTC_OK);
    ttc_verifier *v;
    cr_assert_eq(ttc_local_verifier_new(c, &f, &v, &e), TTC_OK, "%s", e.msg);
    const char *problem = "Ann has 3 apples and buys 2 more.";
    const char *steps[2] = {"3 + 2 = 5.\n", "The answer is \\boxed{5}.\n"};
    int node;
    float s[2];
    cr_assert_eq(v->vt->root(v, problem, &node, &e), TTC_OK, "%s", e.msg);
    for (int i = 0; i < 2; i++) cr_assert_eq(v->vt->score(v, &node, &steps[i], 1, &s[i], &e), TTC_OK, "%s", e.msg);
    /* the trainer's encoding of the same example, token for token */
    char *prompt = ttc_prompt_solve(problem);
    int32_t *ids;
    int n, tag_pos[2];
    cr_assert_eq(ttc_prm_encode(m->tok, prompt, steps, 2, &ids, &n, tag_pos, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_seq_len(c, node), n);
    const int32_t *have = ttc_seq_tokens(c, node);
    for (int i = 0; i < n; i++) cr_assert_eq(have[i], ids[i], "token %d: %d vs trainer %d", i, have[i], ids[i]);
    cr_assert_eq(tag_pos[1], n - 1);
    free(ids);
    free(prompt);
    v->vt->release(v, node);
    ttc_verifier_free(v);
    ttc_ctx_free(c);
    ttc_model_free(m);
    unlink(model);
    unlink(vocab);
    rmdir(dir);
}

Test(verifier, out_of_context_scores_nan) {
    ttc_ctx *c2;
    ttc_err e = {0};
    ttc_ctx_params cp = {.n_ctx = 40, .n_seq_max = 4, .n_batch = 64, .kv_tokens = 256};
    cr_assert_eq(ttc_ctx_new(M, &cp, &c2, &e), TTC_OK, "%s", e.msg);
    ttc_prm_format f = test_format();
    ttc_verifier *v;
    cr_assert_eq(ttc_local_verifier_new(c2, &f, &v, &e), TTC_OK, "%s", e.msg);
    int r, k;
    cr_assert_eq(v->vt->root(v, Problem, &r, &e), TTC_OK, "%s", e.msg);
    float s[6];
    int n_nan = 0;
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(v->vt->score(v, &r, &Steps[i % 3], 1, &s[i], &e), TTC_OK, "step %d: %s", i, e.msg);
        cr_assert(ttc_seq_len(c2, r) <= 40);
        if (isnan(s[i])) n_nan++;
        else cr_assert_eq(n_nan, 0, "a full node stays full");
    }
    cr_assert(!isnan(s[0]));
    cr_assert_gt(n_nan, 0, "the context should have run out");
    cr_assert_eq(v->vt->fork(v, r, &k, &e), TTC_OK);
    float t;
    cr_assert_eq(v->vt->score(v, &k, &Steps[0], 1, &t, &e), TTC_OK);
    cr_assert(isnan(t), "forks of a full node are full");
    v->vt->release(v, k);
    v->vt->release(v, r);
    ttc_verifier_free(v);
    ttc_ctx_free(c2);
}

Test(prm_format, solve_auto_with_a_policy) {
    char dir[128], vocab[256], model[256], policy[300], cmd[1400], *out = NULL;
    make_ttc_vocab_model(dir, vocab, model);
    snprintf(policy, sizeof policy, "%s/policy.json", dir);
    FILE *f = fopen(policy, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"difficulty\": \"probe\", \"cuts\": [0.8, 0.6, 0.4, 0.2], \"budgets\": [1, 4],"
               " \"choice\": [[\"majority\", \"bon_weighted\"], [\"majority\", \"bon_weighted\"],"
               " [\"majority\", \"bon_weighted\"], [\"majority\", \"bon_weighted\"],"
               " [\"majority\", \"bon_weighted\"]], \"probe\": 1}\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s solve -m %s --prm %s --strategy auto --budget 4 --policy %s --ctx 48 "
             "-t 1 --json -p 'Ann has 3 apples.' 2>&1", tu_bin(), model, model, policy);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out ? out : "");
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    cr_assert_not_null(o, "%s", out);
    json_t *a = json_object_get(o, "auto");
    cr_assert_not_null(a, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(a, "method")), "bon_weighted");
    int bin = (int)json_integer_value(json_object_get(a, "bin"));
    cr_assert(bin >= 0 && bin < 5);
    cr_assert_gt(json_integer_value(json_object_get(json_object_get(o, "budget"), "tokens_scored")), 0);
    json_decref(o);
    free(out);
    snprintf(cmd, sizeof cmd, "%s solve -m %s --strategy auto --budget 4 -p x 2>/dev/null", tu_bin(), model);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2, "auto needs --policy and --prm");
    unlink(policy);
    unlink(model);
    unlink(vocab);
    rmdir(dir);
}
