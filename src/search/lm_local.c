/* Generator and verifier over the local engine (see lm_local.h). */
#include "search/lm_local.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "gguf/gguf.h"
#include "kernels/quant.h"
#include "model/generate.h"
#include "tokenizer/tokenizer.h"

static void info_from(ttc_ctx *c, ttc_lm_info *in) {
    const ttc_model *m = ttc_ctx_model(c);
    in->n_params = m->n_params;
    in->n_ctx = ttc_ctx_n_ctx(c);
    in->n_layer = m->cfg.n_layer;
    in->d_attn = m->cfg.n_head * m->cfg.head_dim;
    size_t n = strlen(m->path), keep = sizeof in->name - 1;   /* keep the file name end */
    memcpy(in->name, m->path + (n > keep ? n - keep : 0), (n > keep ? keep : n) + 1);
}

/* Computes the pending tokens of seqs[0..n) (ttc_decode_pending), adding
 * exactly what runs to usage. */
static int decode_counted(ttc_ctx *c, const int *seqs, int n, bool keep_last, bool want_hidden, int *idx,
                          const ttc_lm_info *info, ttc_lm_usage *u, ttc_err *e) {
    int64_t tokens = 0;
    double flops = 0;
    for (int i = 0; i < n; i++) {
        int cached = ttc_seq_n_cached(c, seqs[i]);
        int todo = ttc_seq_len(c, seqs[i]) - cached - (keep_last ? 1 : 0);
        if (todo > 0) { tokens += todo; flops += ttc_lm_flops(info, cached, todo); }
    }
    int rc = ttc_decode_pending(c, seqs, n, keep_last, want_hidden, idx, e);
    if (rc) return rc;
    u->tokens_prefill += tokens;
    u->flops += flops;
    return TTC_OK;
}

/* Tokenizes len bytes of text (no BOS) and appends them to seq; *n_out
 * (may be NULL) gets the count. */
static int append_text(ttc_ctx *c, int seq, const char *text, size_t len, bool special, int *n_out, ttc_err *e) {
    if (n_out) *n_out = 0;
    if (len == 0) return TTC_OK;
    const ttc_tokenizer *tok = ttc_model_tokenizer(ttc_ctx_model(c));
    int32_t *ids = NULL;
    int n = 0;
    int rc = ttc_tokenize_alloc(tok, text, len, false, special, &ids, &n, e);
    if (!rc && n > 0) rc = ttc_seq_append_tokens(c, seq, ids, n, e);
    free(ids);
    if (!rc && n_out) *n_out = n;
    return rc;
}

/* A new sequence holding [BOS] + text (tokenized as one piece), prefilled up
 * to its last token. */
static int new_root(ttc_ctx *c, const char *text, bool special, const ttc_lm_info *info, ttc_lm_usage *u,
                    int *seq, ttc_err *e) {
    const ttc_tokenizer *tok = ttc_model_tokenizer(ttc_ctx_model(c));
    int rc = ttc_seq_new(c, seq, e);
    if (rc) return rc;
    int32_t bos = ttc_tokenizer_bos(tok);
    if (ttc_tokenizer_add_bos(tok) && bos >= 0) rc = ttc_seq_append_tokens(c, *seq, &bos, 1, e);
    if (!rc) rc = append_text(c, *seq, text, strlen(text), special, NULL, e);
    if (!rc && ttc_seq_len(c, *seq) < 1) rc = ttc_err_set(e, TTC_EINVAL, "root: the prompt has no tokens");
    if (!rc) rc = decode_counted(c, seq, 1, true, false, NULL, info, u, e);
    if (rc) ttc_seq_free(c, *seq);
    else u->calls++;
    return rc;
}

/* TTC_OK if node is a live sequence id below n_nodes; else an error naming
 * who ("generator" or "verifier"). */
static int node_live(ttc_ctx *c, int n_nodes, int node, const char *who, ttc_err *e) {
    if (node < 0 || node >= n_nodes || !ttc_seq_valid(c, node))
        return ttc_err_set(e, TTC_EINVAL, "%s: node %d is not live", who, node);
    return TTC_OK;
}

/* A verifier's root: new_root over prefix + problem + suffix, whose id must
 * index the verifier's per-node arrays (below n_nodes). */
static int verifier_root(ttc_verifier *v, ttc_ctx *c, int n_nodes, const char *prefix, const char *problem,
                         const char *suffix, bool special, int *node, ttc_err *e) {
    char *text = ttc_str_join3(prefix, problem, strlen(problem), suffix);
    if (!text) return ttc_err_set(e, TTC_ENOMEM, "verifier root: out of memory");
    int rc = new_root(c, text, special, &v->info, &v->usage, node, e);
    free(text);
    if (rc) return ttc_err_wrap(e, "verifier root: ");
    if (*node >= n_nodes) {
        ttc_seq_free(c, *node);
        return ttc_err_set(e, TTC_EINVAL, "verifier: sequence id %d beyond n_seq_max %d", *node, n_nodes);
    }
    return TTC_OK;
}

/* ---- generator ------------------------------------------------------------- */

typedef struct gnode {
    char  *out;      /* the last extend's text */
    size_t len, cap;
    char  *carry;    /* bytes past the last step's "\n" (see lm_local.h) */
} gnode;

typedef struct lgen {
    ttc_generator base;
    ttc_ctx *c;
    int      n_nodes;         /* n_seq_max: nodes are indexed by sequence id */
    gnode   *nodes;
    ttc_gen_request *reqs;    /* n_nodes each */
    ttc_rng *rngs;
    int     *act, *gen_tok, *pre_tok, *cached;
    bool    *fin, *trunc;
} lgen;

static int out_append(gnode *g, const char *s, size_t n, ttc_err *e) {
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 256;
        while (cap < g->len + n + 1) cap *= 2;
        char *x = realloc(g->out, cap);
        if (!x) return ttc_err_set(e, TTC_ENOMEM, "generator: out of memory (%zu bytes of text)", cap);
        g->out = x;
        g->cap = cap;
    }
    memcpy(g->out + g->len, s, n);
    g->len += n;
    g->out[g->len] = 0;
    return TTC_OK;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

static int lgen_check(lgen *x, int node, ttc_err *e) { return node_live(x->c, x->n_nodes, node, "generator", e); }

static int lgen_root(ttc_generator *g, const char *prompt, int *node, ttc_err *e) {
    lgen *x = (lgen *)g;
    /* as the generator was trained: the prompt in one piece, no control tokens */
    int rc = new_root(x->c, prompt, false, &g->info, &g->usage, node, e);
    if (rc) return ttc_err_wrap(e, "generator root: ");
    if (*node >= x->n_nodes) {
        ttc_seq_free(x->c, *node);
        return ttc_err_set(e, TTC_EINVAL, "generator: sequence id %d beyond n_seq_max %d", *node, x->n_nodes);
    }
    x->nodes[*node].len = 0;
    free(x->nodes[*node].carry);
    x->nodes[*node].carry = NULL;
    return TTC_OK;
}

static int lgen_fork(ttc_generator *g, int src, int *node, ttc_err *e) {
    lgen *x = (lgen *)g;
    int rc = lgen_check(x, src, e);
    if (!rc) rc = ttc_seq_fork(x->c, src, node, e);
    if (rc) return ttc_err_wrap(e, "generator fork: ");
    gnode *d = &x->nodes[*node];
    d->len = 0;
    free(d->carry);
    d->carry = x->nodes[src].carry ? strdup(x->nodes[src].carry) : NULL;
    if (x->nodes[src].carry && !d->carry) {
        ttc_seq_free(x->c, *node);
        return ttc_err_set(e, TTC_ENOMEM, "generator fork: out of memory");
    }
    return TTC_OK;
}

static void lgen_release(ttc_generator *g, int node) {
    lgen *x = (lgen *)g;
    if (node < 0 || node >= x->n_nodes || !ttc_seq_valid(x->c, node)) return;
    ttc_seq_free(x->c, node);
    free(x->nodes[node].carry);
    x->nodes[node].carry = NULL;
    x->nodes[node].len = 0;
}

/* One chunk of at most n_nodes nodes. */
static int lgen_extend_chunk(lgen *x, const int *nodes, int n, ttc_extend_mode mode,
                             const ttc_extend_opts *o, ttc_extend_result *res, ttc_err *e) {
    ttc_generator *g = &x->base;
    ttc_ctx *c = x->c;
    static const char *const stop_nl[1] = {"\n"};
    int rc = TTC_OK;
    for (int i = 0; i < n; i++) {
        gnode *d = &x->nodes[nodes[i]];
        ttc_rng_split(&x->rngs[i], o->seeds ? o->seeds[i] : 0, 0);
        d->len = 0;
        if ((rc = out_append(d, "", 0, e))) return rc;
        if (d->carry) {
            rc = out_append(d, d->carry, strlen(d->carry), e);
            free(d->carry);
            d->carry = NULL;
            if (rc) return rc;
        }
        x->gen_tok[i] = x->pre_tok[i] = 0;
        x->fin[i] = x->trunc[i] = false;
        x->act[i] = i;
    }
    int n_act = n;
    ttc_sample_params sp = {.temperature = o->temperature, .top_p = o->top_p};
    while (n_act > 0) {
        int m = 0;
        for (int a = 0; a < n_act; a++) {
            int i = x->act[a], seq = nodes[i];
            int room = ttc_ctx_n_ctx(c) - ttc_seq_len(c, seq);
            int cap = o->max_tokens > 0 ? o->max_tokens - x->gen_tok[i] : room;
            cap = cap < room ? cap : room;
            if (cap <= 0) {                 /* step cap reached: the step ends here */
                x->trunc[i] = true;
                x->fin[i] = room <= 0 || mode == TTC_EXTEND_SOLUTION;
                continue;
            }
            ttc_gen_request *q = &x->reqs[m];
            *q = ttc_gen_request_make(seq, cap, sp, 0);
            q->rng = &x->rngs[i];
            if (mode == TTC_EXTEND_STEP) { q->stop = stop_nl; q->n_stop = 1; q->include_stop = true; }
            x->act[m++] = i;     /* compacts act in place: m <= a */
        }
        if (m == 0) break;
        for (int k = 0; k < m; k++) x->cached[k] = ttc_seq_n_cached(c, x->reqs[k].seq);
        rc = ttc_generate(c, x->reqs, m, NULL, e);
        g->usage.calls++;
        if (rc) goto fail;
        int n_next = 0;
        for (int k = 0; k < m; k++) {
            ttc_gen_request *q = &x->reqs[k];
            int i = x->act[k];
            gnode *d = &x->nodes[nodes[i]];
            g->usage.flops += ttc_lm_flops(&g->info, x->cached[k], q->n_decoded);
            g->usage.tokens_gen += q->n_tokens;
            g->usage.tokens_prefill += q->n_prefill;
            x->gen_tok[i] += q->n_tokens;
            x->pre_tok[i] += q->n_prefill;
            if ((rc = out_append(d, q->text, q->text_len, e))) goto fail;
            if (q->finish == TTC_FINISH_EOS) { x->fin[i] = true; continue; }
            if (q->finish == TTC_FINISH_LENGTH) {   /* a full context ends the solution */
                x->trunc[i] = true;
                x->fin[i] = mode == TTC_EXTEND_SOLUTION || ttc_seq_len(c, q->seq) >= ttc_ctx_n_ctx(c);
                continue;
            }
            if (q->finish != TTC_FINISH_STOP) {
                rc = ttc_err_set(e, TTC_EINVAL, "generator: sequence %d stopped without a reason", q->seq);
                goto fail;
            }
            /* Bytes of the last token past the "\n" belong to what follows. */
            char *full = NULL;
            size_t full_len = 0;
            const ttc_tokenizer *tok = ttc_model_tokenizer(ttc_ctx_model(c));
            if ((rc = ttc_detokenize(tok, q->tokens, q->n_tokens, 0, &full, &full_len, e))) goto fail;
            char *carry = NULL;
            if (full_len > q->text_len && !memcmp(full, q->text, q->text_len))
                carry = full + q->text_len;
            if (blank(d->out, d->len)) {            /* only blank lines so far: go on */
                if (carry) rc = out_append(d, carry, strlen(carry), e);
                x->act[n_next++] = i;
            } else if (carry && !(d->carry = strdup(carry))) {
                rc = ttc_err_set(e, TTC_ENOMEM, "generator: out of memory");
            }
            free(full);
            if (rc) goto fail;
        }
        for (int k = 0; k < m; k++) ttc_gen_request_free(&x->reqs[k]);
        n_act = n_next;
    }
    for (int i = 0; i < n; i++) {
        gnode *d = &x->nodes[nodes[i]];
        res[i] = (ttc_extend_result){.text = d->out, .len = (int)d->len, .n_tokens = x->gen_tok[i],
                                     .n_prefill = x->pre_tok[i], .finished = x->fin[i],
                                     .truncated = x->trunc[i]};
    }
    return TTC_OK;
fail:
    for (int k = 0; k < n; k++) ttc_gen_request_free(&x->reqs[k]);
    return rc;
}

static int lgen_extend(ttc_generator *g, const int *nodes, int n, ttc_extend_mode mode,
                       const ttc_extend_opts *o, ttc_extend_result *res, ttc_err *e) {
    lgen *x = (lgen *)g;
    for (int i = 0; i < n; i++) {
        int rc = lgen_check(x, nodes[i], e);
        if (rc) return ttc_err_wrap(e, "generator extend: ");
    }
    for (int at = 0; at < n; at += x->n_nodes) {
        int m = n - at < x->n_nodes ? n - at : x->n_nodes;
        ttc_extend_opts oc = *o;
        if (o->seeds) oc.seeds = o->seeds + at;
        int rc = lgen_extend_chunk(x, nodes + at, m, mode, &oc, res + at, e);
        if (rc) return ttc_err_wrap(e, "generator extend: ");
    }
    return TTC_OK;
}

static void lgen_destroy(ttc_generator *g) {
    lgen *x = (lgen *)g;
    if (!x) return;
    for (int i = 0; x->nodes && i < x->n_nodes; i++) { free(x->nodes[i].out); free(x->nodes[i].carry); }
    free(x->nodes); free(x->reqs); free(x->rngs); free(x->act); free(x->gen_tok); free(x->pre_tok);
    free(x->cached);
    free(x->fin); free(x->trunc);
    free(x);
}

static const ttc_generator_vt lgen_vt = {lgen_root, lgen_fork, lgen_release, lgen_extend, lgen_destroy};

int ttc_local_generator_new(ttc_ctx *c, ttc_generator **out, ttc_err *e) {
    if (!ttc_model_tokenizer(ttc_ctx_model(c)))
        return ttc_err_set(e, TTC_EINVAL, "generator: %s has no tokenizer", ttc_ctx_model(c)->path);
    lgen *x = calloc(1, sizeof *x);
    if (!x) return ttc_err_set(e, TTC_ENOMEM, "generator: out of memory");
    x->base.vt = &lgen_vt;
    x->c = c;
    info_from(c, &x->base.info);
    int n = x->n_nodes = ttc_ctx_n_seq_max(c);
    x->nodes = calloc((size_t)n, sizeof *x->nodes);
    x->reqs = calloc((size_t)n, sizeof *x->reqs);
    x->rngs = calloc((size_t)n, sizeof *x->rngs);
    x->act = calloc((size_t)n, sizeof *x->act);
    x->gen_tok = calloc((size_t)n, sizeof *x->gen_tok);
    x->pre_tok = calloc((size_t)n, sizeof *x->pre_tok);
    x->cached = calloc((size_t)n, sizeof *x->cached);
    x->fin = calloc((size_t)n, sizeof *x->fin);
    x->trunc = calloc((size_t)n, sizeof *x->trunc);
    if (!x->nodes || !x->reqs || !x->rngs || !x->act || !x->gen_tok || !x->pre_tok || !x->cached || !x->fin || !x->trunc) {
        lgen_destroy(&x->base);
        return ttc_err_set(e, TTC_ENOMEM, "generator: out of memory");
    }
    *out = &x->base;
    return TTC_OK;
}

/* ---- verifier ------------------------------------------------------------- */

typedef struct lver {
    ttc_verifier base;
    ttc_ctx *c;
    ttc_prm_reader r;        /* the format bound to the model */
    int      n_nodes;
    int     *n_steps;        /* per sequence id */
    bool    *full;           /* per sequence id: out of context, scores NAN */
    int     *idx;            /* output index per node of the last decode */
    int     *live, *seqs;    /* scratch: scored nodes and their sequences */
    float   *tmp;            /* d floats */
} lver;

/* The score of the output at batch index i of the last decode. */
static float read_score(lver *x, int i) {
    bool lm = x->r.f.kind == TTC_PRM_LM_TOKEN;
    return ttc_prm_reader_score(&x->r, lm ? ttc_logits(x->c, i) : NULL, lm ? NULL : ttc_hidden(x->c, i), x->tmp);
}

static int lver_check(lver *x, int node, ttc_err *e) { return node_live(x->c, x->n_nodes, node, "verifier", e); }

static int lver_root(ttc_verifier *v, const char *problem, int *node, ttc_err *e) {
    lver *x = (lver *)v;
    int rc = verifier_root(v, x->c, x->n_nodes, x->r.f.root_prefix, problem, x->r.f.root_suffix, true, node, e);
    if (rc) return rc;
    x->n_steps[*node] = 0;
    x->full[*node] = false;
    return TTC_OK;
}

static int lver_fork(ttc_verifier *v, int src, int *node, ttc_err *e) {
    lver *x = (lver *)v;
    int rc = lver_check(x, src, e);
    if (!rc) rc = ttc_seq_fork(x->c, src, node, e);
    if (rc) return ttc_err_wrap(e, "verifier fork: ");
    x->n_steps[*node] = x->n_steps[src];
    x->full[*node] = x->full[src];
    return TTC_OK;
}

static void lver_release(ttc_verifier *v, int node) {
    lver *x = (lver *)v;
    if (node >= 0 && node < x->n_nodes) ttc_seq_free(x->c, node);
}

/* Appends text (special tokens parsed) and then the tag when with_tag, or
 * nothing and marks seq full when that would not fit in the context. */
static int append_fit(lver *x, int seq, const char *text, bool with_tag, ttc_err *e) {
    if (x->full[seq]) return TTC_OK;
    const ttc_tokenizer *tok = ttc_model_tokenizer(ttc_ctx_model(x->c));
    int32_t *ids = NULL;
    int n = 0;
    int rc = ttc_tokenize_alloc(tok, text, strlen(text), false, true, &ids, &n, e);
    if (!rc && ttc_seq_len(x->c, seq) + n + (with_tag ? 1 : 0) > ttc_ctx_n_ctx(x->c)) x->full[seq] = true;
    else if (!rc && n > 0) rc = ttc_seq_append_tokens(x->c, seq, ids, n, e);
    if (!rc && !x->full[seq] && with_tag) rc = ttc_seq_append_tokens(x->c, seq, &x->r.tag, 1, e);
    free(ids);
    return rc;
}

/* Appends one step to seq: prefix + text + suffix tokenized as one piece
 * (as the reference implementations tokenize a whole conversation: no BPE
 * boundary inside a turn), then the tag by id. */
static int append_step(lver *x, int seq, const char *step, size_t len, ttc_err *e) {
    const char *pre = x->n_steps[seq] == 0 ? x->r.f.first_prefix : x->r.f.step_prefix;
    if (x->r.f.strip_newline && len > 0 && step[len - 1] == '\n') len--;
    char *s = ttc_str_join3(pre, step, len, x->r.f.step_suffix);
    if (!s) return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    int rc = append_fit(x, seq, s, x->r.tag >= 0, e);
    free(s);
    return rc;
}

/* Scores nodes[0..n) after their text was appended: one decode over those
 * not full, one read each (full ones get NAN: they ran out of context),
 * then `after` appended (pending) and the step counted. */
static int score_appended(lver *x, const int *nodes, int n, float *scores, ttc_err *e) {
    ttc_verifier *v = &x->base;
    int m = 0;
    for (int i = 0; i < n; i++) {
        scores[i] = NAN;
        if (!x->full[nodes[i]]) x->live[m++] = i;
    }
    for (int k = 0; k < m; k++) x->seqs[k] = nodes[x->live[k]];
    bool hidden = x->r.f.kind != TTC_PRM_LM_TOKEN;
    int rc = m ? decode_counted(x->c, x->seqs, m, false, hidden, x->idx, &v->info, &v->usage, e) : TTC_OK;
    if (rc) return rc;
    v->usage.calls++;
    for (int k = 0; k < m; k++) {
        int i = x->live[k];
        if (x->idx[k] < 0) return ttc_err_set(e, TTC_EINVAL, "verifier: node %d had nothing to score", nodes[i]);
        scores[i] = read_score(x, x->idx[k]);
        if (!isfinite(scores[i]))
            return ttc_err_set(e, TTC_ENUMERIC, "verifier: score of node %d is not finite", nodes[i]);
    }
    for (int i = 0; i < n; i++) {
        if (x->r.f.after[0] && (rc = append_fit(x, nodes[i], x->r.f.after, false, e))) return rc;
        x->n_steps[nodes[i]]++;
    }
    return TTC_OK;
}

static int lver_score(ttc_verifier *v, const int *nodes, const char *const *steps, int n, float *scores,
                      ttc_err *e) {
    lver *x = (lver *)v;
    if (v->kind == TTC_VERIFIER_ORM)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "verifier: an outcome verifier has no step scores");
    for (int at = 0; at < n; at += x->n_nodes) {
        int m = n - at < x->n_nodes ? n - at : x->n_nodes;
        int rc = TTC_OK;
        for (int i = 0; i < m && !rc; i++) {
            rc = lver_check(x, nodes[at + i], e);
            if (!rc) rc = append_step(x, nodes[at + i], steps[at + i], strlen(steps[at + i]), e);
        }
        if (!rc) rc = score_appended(x, nodes + at, m, scores + at, e);
        if (rc) return ttc_err_wrap(e, "verifier score: ");
    }
    return TTC_OK;
}

static int lver_score_final(ttc_verifier *v, const int *nodes, const char *const *texts, int n, float *scores,
                            ttc_err *e) {
    lver *x = (lver *)v;
    for (int at = 0; at < n; at += x->n_nodes) {
        int m = n - at < x->n_nodes ? n - at : x->n_nodes;
        int rc = TTC_OK;
        for (int i = 0; i < m && !rc; i++) {
            int seq = nodes[at + i];
            const char *p = texts[at + i];
            if ((rc = lver_check(x, seq, e))) break;
            if (!*p) { rc = ttc_err_set(e, TTC_EINVAL, "verifier: final text %d is empty", at + i); break; }
            /* every step but the last with its tag and `after`; the last
             * one's score is read below */
            while (!rc && *p) {
                size_t len = ttc_lm_step_len(p);
                rc = append_step(x, seq, p, len, e);
                p += len;
                if (!rc && *p) {
                    if (x->r.f.after[0]) rc = append_fit(x, seq, x->r.f.after, false, e);
                    x->n_steps[seq]++;
                }
            }
        }
        if (!rc) rc = score_appended(x, nodes + at, m, scores + at, e);
        if (rc) return ttc_err_wrap(e, "verifier score_final: ");
    }
    return TTC_OK;
}

static void lver_destroy(ttc_verifier *v) {
    lver *x = (lver *)v;
    if (!x) return;
    ttc_prm_reader_free(&x->r);
    free(x->n_steps); free(x->full); free(x->live); free(x->seqs); free(x->idx); free(x->tmp);
    free(x);
}

static const ttc_verifier_vt lver_vt = {lver_root, lver_fork, lver_release, lver_score, lver_score_final,
                                        lver_destroy};

int ttc_local_verifier_new(ttc_ctx *c, const ttc_prm_format *fmt, ttc_verifier **out, ttc_err *e) {
    const ttc_model *m = ttc_ctx_model(c);
    if (!ttc_model_tokenizer(m)) return ttc_err_set(e, TTC_EINVAL, "verifier: %s has no tokenizer", m->path);
    lver *x = calloc(1, sizeof *x);
    if (!x) return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    x->base.vt = &lver_vt;
    x->base.kind = fmt->outcome ? TTC_VERIFIER_ORM : TTC_VERIFIER_PRM;
    x->c = c;
    info_from(c, &x->base.info);
    int n = x->n_nodes = ttc_ctx_n_seq_max(c);
    x->n_steps = calloc((size_t)n, sizeof *x->n_steps);
    x->full = calloc((size_t)n, sizeof *x->full);
    x->live = calloc((size_t)n, sizeof *x->live);
    x->seqs = calloc((size_t)n, sizeof *x->seqs);
    x->idx = calloc((size_t)n, sizeof *x->idx);
    x->tmp = calloc((size_t)m->cfg.n_embd, sizeof *x->tmp);
    int rc = x->n_steps && x->full && x->live && x->seqs && x->idx && x->tmp ? TTC_OK : ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    if (!rc) rc = ttc_prm_reader_init(&x->r, m, fmt, e);
    if (rc) { lver_destroy(&x->base); return rc; }
    *out = &x->base;
    return TTC_OK;
}

/* ---- likelihood verifier ---------------------------------------------------- */

typedef struct llik {
    ttc_verifier base;
    ttc_ctx *c;
    char    *prefix, *suffix;  /* root text: prefix + problem + suffix */
    int      n_nodes;
    double  *sum;              /* per sequence: log-probability of the solution so far */
    int64_t *count;            /* per sequence: its tokens */
    bool    *full;             /* per sequence: out of context, scores NAN */
    ttc_batch_entry *ent;      /* scratch for one decode */
    int     *ent_seq;          /* the sequence whose next token entry k predicts */
    int32_t *ent_next;         /* that token */
} llik;

static int llik_check(llik *x, int node, ttc_err *e) { return node_live(x->c, x->n_nodes, node, "verifier", e); }

static int llik_root(ttc_verifier *v, const char *problem, int *node, ttc_err *e) {
    llik *x = (llik *)v;
    int rc = verifier_root(v, x->c, x->n_nodes, x->prefix, problem, x->suffix, false, node, e);
    if (rc) return rc;
    x->sum[*node] = 0;
    x->count[*node] = 0;
    x->full[*node] = false;
    return TTC_OK;
}

static int llik_fork(ttc_verifier *v, int src, int *node, ttc_err *e) {
    llik *x = (llik *)v;
    int rc = llik_check(x, src, e);
    if (!rc) rc = ttc_seq_fork(x->c, src, node, e);
    if (rc) return ttc_err_wrap(e, "verifier fork: ");
    x->sum[*node] = x->sum[src];
    x->count[*node] = x->count[src];
    x->full[*node] = x->full[src];
    return TTC_OK;
}

static void llik_release(ttc_verifier *v, int node) {
    llik *x = (llik *)v;
    if (node >= 0 && node < x->n_nodes) ttc_seq_free(x->c, node);
}

/* Runs the entries gathered so far and adds each predicted token's
 * log-probability to its sequence. */
static int llik_flush(llik *x, int *n_ent, ttc_err *e) {
    if (*n_ent == 0) return TTC_OK;
    int rc = ttc_decode(x->c, x->ent, *n_ent, e);
    if (rc) return rc;
    int nv = ttc_model_n_vocab(ttc_ctx_model(x->c));
    for (int k = 0; k < *n_ent; k++) {
        const float *l = ttc_logits(x->c, k);
        float mx = l[0];
        for (int t = 1; t < nv; t++) mx = l[t] > mx ? l[t] : mx;
        double z = 0;
        for (int t = 0; t < nv; t++) z += exp((double)(l[t] - mx));
        x->sum[x->ent_seq[k]] += (double)(l[x->ent_next[k]] - mx) - log(z);
        x->count[x->ent_seq[k]]++;
    }
    x->base.usage.tokens_prefill += *n_ent;
    x->base.usage.calls++;
    *n_ent = 0;
    return TTC_OK;
}

/* Appends texts[i] to nodes[i] as one piece, computes the probability the
 * model gives each of its tokens, and scores each node by the geometric
 * mean token probability of its whole solution so far. The sequence's last
 * token stays pending (its logits are the next text's first prediction). */
static int llik_append_score(llik *x, const int *nodes, const char *const *texts, int n, float *scores,
                             ttc_err *e) {
    const ttc_tokenizer *tok = ttc_model_tokenizer(ttc_ctx_model(x->c));
    int cap = TTC_MIN(ttc_ctx_n_batch(x->c), ttc_ctx_n_outputs_max(x->c)), n_ent = 0, rc = TTC_OK;
    for (int i = 0; i < n && !rc; i++) {
        int seq = nodes[i];
        if ((rc = llik_check(x, seq, e))) break;
        for (int j = 0; j < i; j++)
            if (nodes[j] == seq) { rc = ttc_err_set(e, TTC_EINVAL, "verifier: node %d listed twice", seq); break; }
        if (rc || x->full[seq]) continue;
        int32_t *ids = NULL;
        int m = 0;
        rc = ttc_tokenize_alloc(tok, texts[i], strlen(texts[i]), false, false, &ids, &m, e);
        if (!rc && ttc_seq_len(x->c, seq) + m > ttc_ctx_n_ctx(x->c)) x->full[seq] = true;
        else if (!rc && m > 0) rc = ttc_seq_append_tokens(x->c, seq, ids, m, e);
        free(ids);
        if (rc || x->full[seq]) continue;
        int start = ttc_seq_n_cached(x->c, seq), todo = ttc_seq_len(x->c, seq) - start - 1;
        x->base.usage.flops += ttc_lm_flops(&x->base.info, start, todo);
        for (int k = 0; k < todo && !rc; k++) {
            const int32_t *h = ttc_seq_tokens(x->c, seq);
            x->ent[n_ent] = (ttc_batch_entry){seq, h[start + k], true, false};
            x->ent_seq[n_ent] = seq;
            x->ent_next[n_ent] = h[start + k + 1];
            if (++n_ent == cap) rc = llik_flush(x, &n_ent, e);
        }
    }
    if (!rc) rc = llik_flush(x, &n_ent, e);
    for (int i = 0; !rc && i < n; i++)
        scores[i] = x->full[nodes[i]] || x->count[nodes[i]] == 0 ? NAN
                  : (float)exp(x->sum[nodes[i]] / (double)x->count[nodes[i]]);
    return rc;
}

static int llik_score(ttc_verifier *v, const int *nodes, const char *const *steps, int n, float *scores,
                      ttc_err *e) {
    int rc = llik_append_score((llik *)v, nodes, steps, n, scores, e);
    return rc ? ttc_err_wrap(e, "verifier score: ") : TTC_OK;
}

static int llik_score_final(ttc_verifier *v, const int *nodes, const char *const *texts, int n, float *scores,
                            ttc_err *e) {
    for (int i = 0; i < n; i++)
        if (!texts[i][0]) return ttc_err_set(e, TTC_EINVAL, "verifier score_final: final text %d is empty", i);
    int rc = llik_append_score((llik *)v, nodes, texts, n, scores, e);
    return rc ? ttc_err_wrap(e, "verifier score_final: ") : TTC_OK;
}

static void llik_destroy(ttc_verifier *v) {
    llik *x = (llik *)v;
    if (!x) return;
    free(x->prefix); free(x->suffix); free(x->sum); free(x->count); free(x->full);
    free(x->ent); free(x->ent_seq); free(x->ent_next);
    free(x);
}

static const ttc_verifier_vt llik_vt = {llik_root, llik_fork, llik_release, llik_score, llik_score_final,
                                        llik_destroy};

int ttc_likelihood_verifier_new(ttc_ctx *c, const char *prefix, const char *suffix, ttc_verifier **out,
                                ttc_err *e) {
    const ttc_model *m = ttc_ctx_model(c);
    if (!ttc_model_tokenizer(m)) return ttc_err_set(e, TTC_EINVAL, "verifier: %s has no tokenizer", m->path);
    llik *x = calloc(1, sizeof *x);
    if (!x) return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    x->base.vt = &llik_vt;
    x->base.kind = TTC_VERIFIER_PRM;
    x->c = c;
    info_from(c, &x->base.info);
    int n = x->n_nodes = ttc_ctx_n_seq_max(c), cap = TTC_MIN(ttc_ctx_n_batch(c), ttc_ctx_n_outputs_max(c));
    x->prefix = strdup(prefix ? prefix : "");
    x->suffix = strdup(suffix ? suffix : "");
    x->sum = calloc((size_t)n, sizeof *x->sum);
    x->count = calloc((size_t)n, sizeof *x->count);
    x->full = calloc((size_t)n, sizeof *x->full);
    x->ent = calloc((size_t)cap, sizeof *x->ent);
    x->ent_seq = calloc((size_t)cap, sizeof *x->ent_seq);
    x->ent_next = calloc((size_t)cap, sizeof *x->ent_next);
    if (!x->prefix || !x->suffix || !x->sum || !x->count || !x->full || !x->ent || !x->ent_seq || !x->ent_next) {
        llik_destroy(&x->base);
        return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    }
    *out = &x->base;
    return TTC_OK;
}
