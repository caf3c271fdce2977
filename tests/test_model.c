/* Model loading and the forward pass, checked against the plain f32
 * reference in tests/ref_forward.c on tiny random models of each
 * architecture and weight type.
 *
 * Tolerances (relative L2 error over all logits of all positions; max abs
 * error relative to the largest |logit|), engine vs reference on the same
 * stored weights, so only activation rounding and summation order differ:
 *   f32         1e-4 / 1e-4
 *   f16         2e-3 / 4e-3   (kernels may round activations to f16)
 *   bf16        2e-2 / 4e-2   (kernels may round activations to bf16)
 *   q8_0..q6_k  3e-2 / 6e-2   (activations quantized to 8-bit blocks)
 * Batched / chunked / forked decodes are compared with each other at 1e-5
 * relative L2 on f16 weights, where only the batch size, hence summation
 * order, may differ. (The quantized kernels may pick a differently rounded
 * path for large batches, so their logits are batch-dependent at ~1e-3.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "kernels/quant.h"
#include "model/ctx.h"
#include "model/model.h"
#include "model/random.h"
#include "ref_forward.h"
#include "testutil.h"

static char tmp_path[256];

/* Writes a tiny random model to a temp file; returns its path. */
static const char *write_tiny(const char *shape, int type, uint64_t seed) {
    snprintf(tmp_path, sizeof tmp_path, "%s/m.gguf", tu_tmpdir());
    ttc_err e = {0};
    ttc_random_params p = {.type = type, .seed = seed};
    int rc = ttc_random_model_write(ttc_random_shape_find(shape), &p, tmp_path, &e);
    cr_assert_eq(rc, TTC_OK, "%s", e.msg);
    return tmp_path;
}

/* Removes the temp file and its folder (a loaded model keeps its mapping). */
static void drop_tmp(const char *path) {
    unlink(path);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) { *slash = 0; rmdir(dir); }
}

static ttc_model *tiny(const char *shape, int type, uint64_t seed) {
    const char *path = write_tiny(shape, type, seed);
    ttc_err e = {0};
    ttc_model *m;
    int rc = ttc_model_load(path, NULL, &m, &e);
    cr_assert_eq(rc, TTC_OK, "%s", e.msg);
    drop_tmp(path);
    return m;
}

static ttc_ctx *mkctx(const ttc_model *m, int n_batch, int n_out) {
    ttc_ctx_params p = {.n_ctx = 256, .n_seq_max = 16, .n_batch = n_batch, .n_outputs_max = n_out, .kv_tokens = 4096};
    ttc_ctx *c;
    ttc_err e = {0};
    cr_assert_eq(ttc_ctx_new(m, &p, &c, &e), TTC_OK, "%s", e.msg);
    return c;
}

static void rel_err(const float *a, const float *b, size_t n, double *l2, double *maxrel) {
    double d = 0, r = 0, mx = 0, big = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (double)a[i] - b[i];
        d += x * x;
        r += (double)b[i] * b[i];
        if (fabs(x) > mx) mx = fabs(x);
        if (fabs(b[i]) > big) big = fabs(b[i]);
    }
    *l2 = sqrt(d / r);
    *maxrel = mx / big;
}

static void make_tokens(int32_t *t, int n, int n_vocab, uint32_t salt) {
    uint32_t x = 12345u + salt * 7919u;
    for (int i = 0; i < n; i++) { x = x * 1664525u + 1013904223u; t[i] = (int32_t)((x >> 8) % (uint32_t)n_vocab); }
}

/* Engine logits for every position of one sequence decoded in one batch vs
 * the reference. */
static void check_vs_ref(const char *shape, int type, double tol_l2, double tol_max) {
    ttc_model *m = tiny(shape, type, 1);
    enum { N = 20 };
    int V = m->cfg.n_vocab;
    int32_t tok[N];
    make_tokens(tok, N, V, 1);
    float *ref = malloc(sizeof(float) * N * V), *got = malloc(sizeof(float) * N * V);
    cr_assert_eq(ref_forward(m, tok, N, ref, NULL), 0);
    ttc_ctx *c = mkctx(m, 64, N);
    ttc_err e = {0};
    int s;
    cr_assert_eq(ttc_seq_new(c, &s, &e), TTC_OK);
    ttc_batch_entry b[N];
    for (int i = 0; i < N; i++) b[i] = (ttc_batch_entry){s, tok[i], true, false};
    cr_assert_eq(ttc_decode(c, b, N, &e), TTC_OK, "%s", e.msg);
    for (int i = 0; i < N; i++) memcpy(got + (size_t)i * V, ttc_logits(c, i), sizeof(float) * V);
    double l2, mx;
    rel_err(got, ref, (size_t)N * V, &l2, &mx);
    cr_log_info("%s %s: rel L2 %.2e, max %.2e", shape, ttc_type_name(type), l2, mx);
    cr_assert(l2 < tol_l2 && mx < tol_max, "%s %s: rel L2 %.3e (tol %.0e), max %.3e (tol %.0e)", shape,
              ttc_type_name(type), l2, tol_l2, mx, tol_max);
    /* the reference logits must not be degenerate, else the test is weak */
    double var = 0, mean = 0;
    for (int i = 0; i < V; i++) mean += ref[i];
    mean /= V;
    for (int i = 0; i < V; i++) var += (ref[i] - mean) * (ref[i] - mean);
    cr_assert(sqrt(var / V) > 0.5 && sqrt(var / V) < 20, "logit std %g", sqrt(var / V));
    ttc_ctx_free(c);
    ttc_model_free(m);
    free(ref);
    free(got);
}

static const struct { int type; double l2, mx; } tols[] = {
    {TTC_TYPE_F32, 1e-4, 1e-4}, {TTC_TYPE_F16, 2e-3, 4e-3}, {TTC_TYPE_BF16, 2e-2, 4e-2},
    {TTC_TYPE_Q8_0, 3e-2, 6e-2}, {TTC_TYPE_Q4_0, 3e-2, 6e-2}, {TTC_TYPE_Q4_K, 3e-2, 6e-2},
    {TTC_TYPE_Q6_K, 3e-2, 6e-2},
};

Test(model, llama_matches_reference_all_types, .timeout = 120) {
    for (size_t i = 0; i < sizeof tols / sizeof *tols; i++) check_vs_ref("tiny-llama", tols[i].type, tols[i].l2, tols[i].mx);
}
Test(model, qwen2_matches_reference_all_types, .timeout = 120) {
    for (size_t i = 0; i < sizeof tols / sizeof *tols; i++) check_vs_ref("tiny-qwen2", tols[i].type, tols[i].l2, tols[i].mx);
}
Test(model, qwen3_matches_reference_all_types, .timeout = 120) {
    for (size_t i = 0; i < sizeof tols / sizeof *tols; i++) check_vs_ref("tiny-qwen3", tols[i].type, tols[i].l2, tols[i].mx);
}

Test(model, config_and_accessors) {
    ttc_model *m = tiny("tiny-qwen3", TTC_TYPE_F16, 3);
    const ttc_random_shape *s = ttc_random_shape_find("tiny-qwen3");
    cr_assert_str_eq(ttc_model_arch_name(m), "qwen3");
    cr_assert_eq(m->cfg.arch, TTC_ARCH_QWEN3);
    cr_assert_eq(ttc_model_n_vocab(m), s->n_vocab);
    cr_assert_eq(ttc_model_n_embd(m), s->n_embd);
    cr_assert_eq(ttc_model_n_layer(m), s->n_layer);
    cr_assert_eq(m->cfg.head_dim, s->head_dim);
    cr_assert_neq(m->cfg.head_dim * m->cfg.n_head, m->cfg.n_embd); /* the key_length path */
    cr_assert(m->cfg.rope_neox && m->cfg.tied_output);
    cr_assert_eq(m->w.output.data, m->w.tok_embd.data);
    int64_t D = s->n_embd, qd = (int64_t)s->n_head * s->head_dim, kvd = (int64_t)s->n_head_kv * s->head_dim;
    int64_t per_layer = 2 * D + 2 * s->head_dim + D * qd * 2 + 2 * D * kvd + 3 * D * s->n_ff;
    cr_assert_eq(ttc_model_n_params(m), (int64_t)s->n_vocab * D + D + s->n_layer * per_layer);
    cr_assert_null(ttc_model_tokenizer(m));
    ttc_model_free(m);

    m = tiny("tiny-llama", TTC_TYPE_F32, 3);
    cr_assert(!m->cfg.rope_neox && !m->cfg.tied_output);
    cr_assert_not_null(m->w.rope_freqs.data);
    cr_assert_float_eq(m->cfg.norm_eps, 1e-5f, 1e-12);
    ttc_model_free(m);
}

/* Several different sequences in one batch give the logits each gets
 * alone; a prompt prefilled in chunks equals token-by-token decoding. */
Test(model, batched_equals_single_and_chunked_equals_stepwise) {
    ttc_model *m = tiny("tiny-qwen2", TTC_TYPE_F16, 5);
    int V = m->cfg.n_vocab;
    enum { NS = 3 };
    int lens[NS] = {7, 1, 12};
    int32_t tok[NS][12];
    for (int k = 0; k < NS; k++) make_tokens(tok[k], lens[k], V, 10 + k);
    ttc_err e = {0};

    /* alone: each sequence in its own context, one token per decode */
    float *alone[NS];
    for (int k = 0; k < NS; k++) {
        ttc_ctx *c = mkctx(m, 16, 4);
        int s;
        cr_assert_eq(ttc_seq_new(c, &s, &e), TTC_OK);
        alone[k] = malloc(sizeof(float) * lens[k] * V);
        for (int i = 0; i < lens[k]; i++) {
            ttc_batch_entry b = {s, tok[k][i], true, false};
            cr_assert_eq(ttc_decode(c, &b, 1, &e), TTC_OK, "%s", e.msg);
            memcpy(alone[k] + (size_t)i * V, ttc_logits(c, 0), sizeof(float) * V);
        }
        ttc_ctx_free(c);
    }
    /* together: interleaved entries of all three in one batch */
    ttc_ctx *c = mkctx(m, 32, 32);
    int sid[NS];
    for (int k = 0; k < NS; k++) cr_assert_eq(ttc_seq_new(c, &sid[k], &e), TTC_OK);
    ttc_batch_entry b[32];
    int nb = 0, where[NS][12];
    for (int i = 0; i < 12; i++)
        for (int k = 0; k < NS; k++)
            if (i < lens[k]) { where[k][i] = nb; b[nb++] = (ttc_batch_entry){sid[k], tok[k][i], true, false}; }
    cr_assert_eq(ttc_decode(c, b, nb, &e), TTC_OK, "%s", e.msg);
    for (int k = 0; k < NS; k++) {
        cr_assert_eq(ttc_seq_len(c, sid[k]), lens[k]);
        cr_assert_eq(ttc_seq_n_cached(c, sid[k]), lens[k]);
        for (int i = 0; i < lens[k]; i++) {
            double l2, mx;
            rel_err(ttc_logits(c, where[k][i]), alone[k] + (size_t)i * V, (size_t)V, &l2, &mx);
            cr_assert(l2 < 1e-5, "seq %d pos %d: rel L2 %g", k, i, l2);
        }
    }
    ttc_ctx_free(c);

    /* chunked prefill: 12 tokens as 5 + 4 + 3, logits only at chunk ends */
    c = mkctx(m, 16, 4);
    int s;
    cr_assert_eq(ttc_seq_new(c, &s, &e), TTC_OK);
    int cuts[] = {0, 5, 9, 12};
    for (int ch = 0; ch < 3; ch++) {
        int n = cuts[ch + 1] - cuts[ch];
        for (int i = 0; i < n; i++) b[i] = (ttc_batch_entry){s, tok[2][cuts[ch] + i], i == n - 1, false};
        cr_assert_eq(ttc_decode(c, b, n, &e), TTC_OK, "%s", e.msg);
        cr_assert_null(ttc_logits(c, 0));
        double l2, mx;
        rel_err(ttc_logits(c, n - 1), alone[2] + (size_t)(cuts[ch + 1] - 1) * V, (size_t)V, &l2, &mx);
        cr_assert(l2 < 1e-5, "chunk %d: rel L2 %g", ch, l2);
    }
    ttc_ctx_free(c);
    for (int k = 0; k < NS; k++) free(alone[k]);
    ttc_model_free(m);
}

/* Hidden states (final norm) match the reference's. */
Test(model, hidden_matches_reference) {
    ttc_model *m = tiny("tiny-llama", TTC_TYPE_F32, 9);
    enum { N = 6 };
    int D = m->cfg.n_embd;
    int32_t tok[N];
    make_tokens(tok, N, m->cfg.n_vocab, 4);
    float ref[N * 256];
    cr_assert_leq(D, 256);
    cr_assert_eq(ref_forward(m, tok, N, NULL, ref), 0);
    ttc_ctx *c = mkctx(m, 16, 8);
    ttc_err e = {0};
    int s;
    cr_assert_eq(ttc_seq_new(c, &s, &e), TTC_OK);
    ttc_batch_entry b[N];
    for (int i = 0; i < N; i++) b[i] = (ttc_batch_entry){s, tok[i], false, i % 2 == 1};
    cr_assert_eq(ttc_decode(c, b, N, &e), TTC_OK, "%s", e.msg);
    for (int i = 0; i < N; i++) {
        cr_assert_null(ttc_logits(c, i));
        if (i % 2 == 0) { cr_assert_null(ttc_hidden(c, i)); continue; }
        double l2, mx;
        rel_err(ttc_hidden(c, i), ref + (size_t)i * D, (size_t)D, &l2, &mx);
        cr_assert(l2 < 1e-4, "pos %d: rel L2 %g", i, l2);
    }
    ttc_ctx_free(c);
    ttc_model_free(m);
}

/* ---- broken files ---- */

/* Copies src into dst with every key, dropping tensor `skip`, replacing the
 * shape of `reshape` by its first half of rows, setting the architecture
 * to `arch` and string key `key` to `val` when not NULL. */
static void rewrite_kv(const char *src, const char *dst, const char *skip, const char *reshape, const char *arch,
                       const char *key, const char *val, const char *fkey, float fval) {
    ttc_err e = {0};
    ttc_gguf *g;
    ttc_gguf_writer *w;
    cr_assert_eq(ttc_gguf_open(src, &g, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_writer_copy_prefix(w, g, "", &e), TTC_OK, "%s", e.msg);
    if (arch) cr_assert_eq(ttc_gguf_set_str(w, "general.architecture", arch, &e), TTC_OK);
    if (key) cr_assert_eq(ttc_gguf_set_str(w, key, val, &e), TTC_OK);
    if (fkey) cr_assert_eq(ttc_gguf_set_f32(w, fkey, fval, &e), TTC_OK);
    for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) {
        const ttc_gguf_tensor *t = ttc_gguf_tensor_at(g, i);
        if (skip && strstr(t->name, skip)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        if (reshape && !strcmp(t->name, reshape)) ne[1] /= 2;
        cr_assert_eq(ttc_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, ne, t->data, &e), TTC_OK, "%s", e.msg);
    }
    cr_assert_eq(ttc_gguf_writer_write(w, dst, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer_free(w);
    ttc_gguf_close(g);
}

static void rewrite(const char *src, const char *dst, const char *skip, const char *reshape, const char *arch) {
    rewrite_kv(src, dst, skip, reshape, arch, NULL, NULL, NULL, 0);
}

Test(model, load_errors_name_the_problem) {
    const char *good = write_tiny("tiny-qwen2", TTC_TYPE_Q8_0, 2);
    char bad[300];
    snprintf(bad, sizeof bad, "%s.bad.gguf", good);
    ttc_err e = {0};
    ttc_model *m = NULL;

    rewrite(good, bad, NULL, NULL, "gpt5");
    cr_assert_eq(ttc_model_load(bad, NULL, &m, &e), TTC_EUNSUPPORTED);
    cr_assert_null(m);
    cr_assert(strstr(e.msg, "gpt5") && strstr(e.msg, "llama") && strstr(e.msg, "qwen3") && strstr(e.msg, bad), "%s", e.msg);

    rewrite(good, bad, "attn_k.", NULL, NULL); /* both layers' attn_k weight and bias */
    cr_assert_eq(ttc_model_load(bad, NULL, &m, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "blk.0.attn_k.weight") && strstr(e.msg, "blk.1.attn_k.weight") &&
              strstr(e.msg, "blk.0.attn_k.bias") && strstr(e.msg, "blk.1.attn_k.bias") && strstr(e.msg, "missing 4"),
              "%s", e.msg);

    rewrite(good, bad, NULL, "blk.1.ffn_up.weight", NULL);
    cr_assert_eq(ttc_model_load(bad, NULL, &m, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "blk.1.ffn_up.weight") && strstr(e.msg, "[256, 512]") && strstr(e.msg, "[256, 256"), "%s", e.msg);

    rewrite_kv(good, bad, NULL, NULL, NULL, "qwen2.rope.scaling.type", "yarn", NULL, 0);
    cr_assert_eq(ttc_model_load(bad, NULL, &m, &e), TTC_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "yarn") && strstr(e.msg, "qwen2.rope.scaling.type"), "%s", e.msg);

    cr_assert_neq(ttc_model_load("/nonexistent/x.gguf", NULL, &m, &e), TTC_OK);
    unlink(bad);
    drop_tmp(good);

    /* qwen3 needs its per-head q/k norms */
    good = write_tiny("tiny-qwen3", TTC_TYPE_F32, 2);
    snprintf(bad, sizeof bad, "%s.bad.gguf", good);
    rewrite(good, bad, "blk.1.attn_q_norm", NULL, NULL);
    cr_assert_eq(ttc_model_load(bad, NULL, &m, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "missing 1 tensor: blk.1.attn_q_norm.weight"), "%s", e.msg);
    unlink(bad);
    drop_tmp(good);
}

Test(model, decode_rejects_bad_batches) {
    ttc_model *m = tiny("tiny-llama", TTC_TYPE_F16, 4);
    ttc_ctx *c = mkctx(m, 8, 2);
    ttc_err e = {0};
    int s;
    cr_assert_eq(ttc_seq_new(c, &s, &e), TTC_OK);
    int nb = ttc_ctx_n_batch(c) + 1;
    ttc_batch_entry b[64];
    cr_assert_leq(nb, 64);
    for (int i = 0; i < nb; i++) b[i] = (ttc_batch_entry){s, i, false, false};
    cr_assert_eq(ttc_decode(c, b, nb, &e), TTC_EINVAL);         /* over n_batch */
    b[0].token = m->cfg.n_vocab;
    cr_assert_eq(ttc_decode(c, b, 2, &e), TTC_EINVAL);          /* token out of range */
    cr_assert(strstr(e.msg, "vocabulary"), "%s", e.msg);
    b[0].token = 0;
    b[0].seq = 7;
    cr_assert_eq(ttc_decode(c, b, 2, &e), TTC_EINVAL);          /* dead sequence */
    b[0].seq = s;
    for (int i = 0; i < 3; i++) b[i].want_logits = true;
    cr_assert_eq(ttc_decode(c, b, 3, &e), TTC_EINVAL);          /* over n_outputs_max */
    cr_assert_eq(ttc_seq_len(c, s), 0);                         /* nothing changed */
    int32_t pend[2] = {5, 6};
    cr_assert_eq(ttc_seq_append_tokens(c, s, pend, 2, &e), TTC_OK);
    ttc_batch_entry x = {s, 9, true, false};
    cr_assert_eq(ttc_decode(c, &x, 1, &e), TTC_EINVAL);         /* differs from pending */
    cr_assert(strstr(e.msg, "pending"), "%s", e.msg);
    int idx[1];
    cr_assert_eq(ttc_decode_pending(c, &s, 1, false, false, idx, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(idx[0], 0);
    cr_assert_not_null(ttc_logits(c, 0));
    cr_assert_eq(ttc_seq_n_cached(c, s), 2);
    ttc_ctx_free(c);
    ttc_model_free(m);
}

/* Linear rope scaling (positions divided by the factor) and a prompt longer
 * than the batch, prefilled in chunks by ttc_decode_pending. */
Test(model, linear_rope_scaling_and_chunked_prefill_match_reference) {
    const char *good = write_tiny("tiny-qwen2", TTC_TYPE_F32, 8);
    char path[300];
    snprintf(path, sizeof path, "%s.lin.gguf", good);
    rewrite_kv(good, path, NULL, NULL, NULL, "qwen2.rope.scaling.type", "linear", "qwen2.rope.scaling.factor", 4.0f);
    ttc_err e = {0};
    ttc_model *m;
    cr_assert_eq(ttc_model_load(path, NULL, &m, &e), TTC_OK, "%s", e.msg);
    unlink(path);
    drop_tmp(good);
    cr_assert_float_eq(m->cfg.rope_scale, 4.0f, 0);
    enum { N = 45 };
    int V = m->cfg.n_vocab;
    int32_t tok[N];
    make_tokens(tok, N, V, 21);
    float *ref = malloc(sizeof(float) * N * V);
    cr_assert_eq(ref_forward(m, tok, N, ref, NULL), 0);
    ttc_ctx *c = mkctx(m, 16, 4); /* n_batch 16: three chunks */
    cr_assert_eq(ttc_ctx_n_batch(c), 16);
    int s;
    cr_assert_eq(ttc_seq_new(c, &s, &e), TTC_OK);
    cr_assert_eq(ttc_seq_append_tokens(c, s, tok, N, &e), TTC_OK);
    int64_t calls0 = ttc_ctx_get_stats(c).n_decode_calls;
    cr_assert_eq(ttc_decode_pending(c, &s, 1, false, false, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_ctx_get_stats(c).n_decode_calls - calls0, 4); /* 16 + 16 + 12, then the last token */
    double l2, mx;
    rel_err(ttc_logits(c, 0), ref + (size_t)(N - 1) * V, (size_t)V, &l2, &mx);
    cr_assert(l2 < 1e-4, "rel L2 %g", l2);
    /* the scaling matters: the unscaled model disagrees */
    ttc_model *m1 = tiny("tiny-qwen2", TTC_TYPE_F32, 8);
    float *ref1 = malloc(sizeof(float) * N * V);
    cr_assert_eq(ref_forward(m1, tok, N, ref1, NULL), 0);
    rel_err(ref1 + (size_t)(N - 1) * V, ref + (size_t)(N - 1) * V, (size_t)V, &l2, &mx);
    cr_assert(l2 > 1e-3, "scaling changed nothing (%g)", l2);
    free(ref); free(ref1);
    ttc_ctx_free(c);
    ttc_model_free(m);
    ttc_model_free(m1);
}

/* A vocabulary subset computes exactly those logits (others -inf), also for
 * a following decode with more rows, and can be switched off again. */
Test(model, logit_id_subset) {
    ttc_model *m = tiny("tiny-llama", TTC_TYPE_Q8_0, 12);
    int V = m->cfg.n_vocab;
    enum { N = 6 };
    int32_t tok[N];
    make_tokens(tok, N, V, 30);
    ttc_err e = {0};
    ttc_ctx *c = mkctx(m, 16, 8);
    int s;
    cr_assert_eq(ttc_seq_new(c, &s, &e), TTC_OK);
    ttc_batch_entry b[N];
    for (int i = 0; i < N; i++) b[i] = (ttc_batch_entry){s, tok[i], true, false};
    cr_assert_eq(ttc_decode(c, b, N, &e), TTC_OK, "%s", e.msg);
    float *full = malloc(sizeof(float) * N * V);
    for (int i = 0; i < N; i++) memcpy(full + (size_t)i * V, ttc_logits(c, i), sizeof(float) * V);

    int32_t ids[3] = {17, 3, V - 1};
    cr_assert_eq(ttc_ctx_set_logit_ids(c, ids, 3, &e), TTC_OK, "%s", e.msg);
    int32_t bad = V;
    cr_assert_eq(ttc_ctx_set_logit_ids(c, &bad, 1, &e), TTC_EINVAL);
    for (int round = 0; round < 2; round++) { /* 2 rows, then all 6: background refill */
        int n = round == 0 ? 2 : N;
        cr_assert_eq(ttc_seq_truncate(c, s, 0, &e), TTC_OK);
        cr_assert_eq(ttc_decode(c, b, n, &e), TTC_OK, "%s", e.msg);
        for (int i = 0; i < n; i++) {
            const float *l = ttc_logits(c, i);
            for (int k = 0; k < V; k++) {
                bool sel = k == 17 || k == 3 || k == V - 1;
                if (sel) cr_assert_float_eq(l[k], full[(size_t)i * V + k], 1e-3f * (1 + fabsf(l[k])), "row %d id %d", i, k);
                else cr_assert(isinf(l[k]) && l[k] < 0, "row %d id %d: %g", i, k, l[k]);
            }
        }
    }
    cr_assert_eq(ttc_ctx_set_logit_ids(c, NULL, 0, &e), TTC_OK);
    cr_assert_eq(ttc_seq_truncate(c, s, 0, &e), TTC_OK);
    cr_assert_eq(ttc_decode(c, b, N, &e), TTC_OK, "%s", e.msg);
    double l2, mx;
    rel_err(ttc_logits(c, N - 1), full + (size_t)(N - 1) * V, (size_t)V, &l2, &mx);
    cr_assert(l2 < 1e-5, "%g", l2);
    free(full);
    ttc_ctx_free(c);
    ttc_model_free(m);
}
