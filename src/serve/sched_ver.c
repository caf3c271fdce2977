/* Verifier over the serving scheduler: see sched_ver.h. */
#include "serve/sched_ver.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

struct ttc_sched_prm {
    ttc_sched     *s;
    ttc_prm_reader r;   /* the format bound to the scheduler's model */
};

const ttc_prm_format *ttc_sched_prm_format(const ttc_sched_prm *p) { return &p->r.f; }
ttc_sched *ttc_sched_prm_sched(ttc_sched_prm *p) { return p->s; }

int ttc_sched_prm_new(ttc_sched *s, const ttc_prm_format *fmt, ttc_sched_prm **out, ttc_err *e) {
    ttc_sched_prm *p = calloc(1, sizeof *p);
    if (!p) return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    p->s = s;
    int rc = ttc_prm_reader_init(&p->r, ttc_sched_model(s), fmt, e);
    if (rc) { free(p); return rc; }
    *out = p;
    return TTC_OK;
}

void ttc_sched_prm_free(ttc_sched_prm *p) {
    if (!p) return;
    ttc_prm_reader_free(&p->r);
    free(p);
}

/* Receives the scores of one scheduler task. */
typedef struct score_sink {
    const ttc_sched_prm *p;
    float *tmp;     /* d floats */
    float *out;     /* one per item */
} score_sink;

static void sink_score(void *ud, int item, const float *logits, const float *hidden) {
    score_sink *k = ud;
    k->out[item] = ttc_prm_reader_score(&k->p->r, logits, hidden, k->tmp);
}

/* Runs score items over seqs[0..n) (distinct): every pending token is
 * computed, out[i] gets the score at the last one. n_prefill[i] (may be
 * NULL) gets the tokens computed. */
static int run_scores(ttc_sched_prm *p, const int *seqs, int n, atomic_int *cancel, ttc_sched_item *items, float *tmp,
                      float *out, int *n_prefill, ttc_err *e) {
    for (int i = 0; i < n; i++) {
        ttc_sched_item_init(&items[i], seqs[i], 0, (ttc_sample_params){0}, 0);
        items[i].score = true;
        out[i] = NAN;
    }
    score_sink sink = {p, tmp, out};
    ttc_sched_task t = {.items = items, .n_items = n, .cancel = cancel, .on_score = sink_score, .ud = &sink,
                        .score_logits = p->r.f.kind == TTC_PRM_LM_TOKEN, .score_hidden = p->r.f.kind != TTC_PRM_LM_TOKEN};
    int rc = ttc_sched_run(p->s, &t, e);
    for (int i = 0; i < n; i++) {
        if (n_prefill) n_prefill[i] = items[i].n_prefill;
        ttc_sched_item_free(&items[i]);
    }
    return rc;
}

/* ---- the verifier ---- */

typedef struct sver {
    ttc_verifier   base;
    ttc_sched_prm *p;
    atomic_int    *cancel;
    int            n_nodes;      /* sequence ids are below this */
    int           *n_steps;      /* per sequence id */
    bool          *full;         /* per sequence id: out of context, scores NAN */
    bool          *mine;         /* per sequence id: a node of this verifier */
    float         *tmp;          /* d floats */
    /* scratch for one score call, grown as needed */
    ttc_sched_item *items;
    int           *live, *seqs, *done;
    float         *out;
    int            cap;
} sver;

static int sv_reserve(sver *x, int n, ttc_err *e) {
    if (n <= x->cap) return TTC_OK;
    ttc_sched_item *it = realloc(x->items, (size_t)n * sizeof *it);
    if (it) x->items = it;
    int *a = realloc(x->live, (size_t)n * sizeof *a);
    if (a) x->live = a;
    int *b = realloc(x->seqs, (size_t)n * sizeof *b);
    if (b) x->seqs = b;
    int *c = realloc(x->done, (size_t)n * sizeof *c);
    if (c) x->done = c;
    float *o = realloc(x->out, (size_t)n * sizeof *o);
    if (o) x->out = o;
    if (!it || !a || !b || !c || !o) return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory for %d nodes", n);
    x->cap = n;
    return TTC_OK;
}

static int sv_check(sver *x, int node, ttc_err *e) {
    if (node < 0 || node >= x->n_nodes || !x->mine[node] || ttc_sched_seq_len(x->p->s, node) < 1)
        return ttc_err_set(e, TTC_EINVAL, "verifier: node %d is not live", node);
    return TTC_OK;
}

static int sv_root(ttc_verifier *v, const char *problem, int *node, ttc_err *e) {
    sver *x = (sver *)v;
    const ttc_tokenizer *tok = ttc_model_tokenizer(ttc_sched_model(x->p->s));
    char *text = ttc_str_join3(x->p->r.f.root_prefix, problem, strlen(problem), x->p->r.f.root_suffix);
    if (!text) return ttc_err_set(e, TTC_ENOMEM, "verifier root: out of memory");
    int32_t *ids = NULL, *all = NULL;
    int n = 0, rc = ttc_tokenize_alloc(tok, text, strlen(text), false, true, &ids, &n, e);
    free(text);
    if (rc) return ttc_err_wrap(e, "verifier root: ");
    int32_t bos = ttc_tokenizer_bos(tok);
    int nb = ttc_tokenizer_add_bos(tok) && bos >= 0 ? 1 : 0;
    all = malloc((size_t)(n + nb + 1) * sizeof *all);
    if (!all) { free(ids); return ttc_err_set(e, TTC_ENOMEM, "verifier root: out of memory"); }
    if (nb) all[0] = bos;
    if (n) memcpy(all + nb, ids, (size_t)n * sizeof *ids);
    free(ids);
    n += nb;
    if (n < 1) rc = ttc_err_set(e, TTC_EINVAL, "verifier root: the prompt has no tokens");
    else if (n > ttc_sched_n_ctx(x->p->s))
        rc = ttc_err_set(e, TTC_EINVAL, "verifier root: the problem is %d tokens; the verifier's context holds %d", n,
                         ttc_sched_n_ctx(x->p->s));
    if (!rc) rc = ttc_sched_seq_new(x->p->s, all, n, node, e);
    free(all);
    if (rc) return ttc_err_wrap(e, "verifier root: ");
    if (*node >= x->n_nodes) {
        ttc_sched_seq_free(x->p->s, *node);
        return ttc_err_set(e, TTC_EINVAL, "verifier: sequence id %d beyond n_seq_max %d", *node, x->n_nodes);
    }
    x->mine[*node] = true;
    x->n_steps[*node] = 0;
    x->full[*node] = false;
    /* prefill all but the last token now, so forks share it */
    ttc_sched_item it;
    ttc_sched_item_init(&it, *node, 0, (ttc_sample_params){0}, 0);
    ttc_sched_task t = {.items = &it, .n_items = 1, .cancel = x->cancel};
    rc = ttc_sched_run(x->p->s, &t, e);
    v->usage.tokens_prefill += it.n_prefill;
    v->usage.flops += ttc_lm_flops(&v->info, 0, it.n_prefill);
    ttc_sched_item_free(&it);
    if (rc) {
        x->mine[*node] = false;
        ttc_sched_seq_free(x->p->s, *node);
        return ttc_err_wrap(e, "verifier root: ");
    }
    v->usage.calls++;
    return TTC_OK;
}

static int sv_fork(ttc_verifier *v, int src, int *node, ttc_err *e) {
    sver *x = (sver *)v;
    int rc = sv_check(x, src, e);
    if (!rc) rc = ttc_sched_seq_fork(x->p->s, src, node, e);
    if (rc) return ttc_err_wrap(e, "verifier fork: ");
    if (*node >= x->n_nodes) {
        ttc_sched_seq_free(x->p->s, *node);
        return ttc_err_set(e, TTC_EINVAL, "verifier: sequence id %d beyond n_seq_max %d", *node, x->n_nodes);
    }
    x->mine[*node] = true;
    x->n_steps[*node] = x->n_steps[src];
    x->full[*node] = x->full[src];
    return TTC_OK;
}

static void sv_release(ttc_verifier *v, int node) {
    sver *x = (sver *)v;
    if (node < 0 || node >= x->n_nodes || !x->mine[node]) return;
    x->mine[node] = false;
    ttc_sched_seq_free(x->p->s, node);
}

/* Appends text (special tokens parsed), then the tag when with_tag; or
 * nothing, marking seq full, when that would not fit in the context. */
static int sv_append(sver *x, int seq, const char *text, bool with_tag, ttc_err *e) {
    if (x->full[seq]) return TTC_OK;
    int32_t *ids = NULL;
    int n = 0;
    int rc = ttc_tokenize_alloc(ttc_model_tokenizer(ttc_sched_model(x->p->s)), text, strlen(text), false, true, &ids, &n, e);
    if (!rc && ttc_sched_seq_len(x->p->s, seq) + n + (with_tag ? 1 : 0) > ttc_sched_n_ctx(x->p->s)) x->full[seq] = true;
    else if (!rc && n > 0) rc = ttc_sched_seq_append(x->p->s, seq, ids, n, e);
    if (!rc && !x->full[seq] && with_tag) rc = ttc_sched_seq_append(x->p->s, seq, &x->p->r.tag, 1, e);
    free(ids);
    return rc;
}

/* One step: prefix + text + suffix as one piece, then the tag by id. */
static int sv_append_step(sver *x, int seq, const char *step, size_t len, ttc_err *e) {
    const ttc_prm_format *f = &x->p->r.f;
    if (f->strip_newline && len > 0 && step[len - 1] == '\n') len--;
    char *s = ttc_str_join3(x->n_steps[seq] == 0 ? f->first_prefix : f->step_prefix, step, len, f->step_suffix);
    if (!s) return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    int rc = sv_append(x, seq, s, x->p->r.tag >= 0, e);
    free(s);
    return rc;
}

/* Scores nodes[0..n) after their text was appended: one scheduler task
 * over those not full (full ones score NAN), then `after` appended and the
 * step counted. */
static int sv_score_appended(sver *x, const int *nodes, int n, float *scores, ttc_err *e) {
    ttc_verifier *v = &x->base;
    int m = 0;
    for (int i = 0; i < n; i++) {
        scores[i] = NAN;
        if (!x->full[nodes[i]]) { x->live[m] = i; x->seqs[m] = nodes[i]; m++; }
    }
    int rc = m ? run_scores(x->p, x->seqs, m, x->cancel, x->items, x->tmp, x->out, x->done, e) : TTC_OK;
    for (int k = 0; k < m; k++) {
        int np = x->done[k], len = ttc_sched_seq_len(x->p->s, x->seqs[k]);
        v->usage.tokens_prefill += np;
        v->usage.flops += ttc_lm_flops(&v->info, len - np, np);
    }
    if (rc) return rc;
    v->usage.calls++;
    for (int k = 0; k < m; k++) {
        int i = x->live[k];
        scores[i] = x->out[k];
        if (!isfinite(scores[i]))
            return ttc_err_set(e, TTC_ENUMERIC, "verifier: score of node %d is not finite", nodes[i]);
    }
    for (int i = 0; i < n; i++) {
        if (x->p->r.f.after[0] && (rc = sv_append(x, nodes[i], x->p->r.f.after, false, e))) return rc;
        x->n_steps[nodes[i]]++;
    }
    return TTC_OK;
}

static int sv_score(ttc_verifier *v, const int *nodes, const char *const *steps, int n, float *scores, ttc_err *e) {
    sver *x = (sver *)v;
    if (v->kind == TTC_VERIFIER_ORM)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "verifier: an outcome verifier has no step scores");
    int rc = sv_reserve(x, n, e);
    for (int i = 0; i < n && !rc; i++) {
        rc = sv_check(x, nodes[i], e);
        if (!rc) rc = sv_append_step(x, nodes[i], steps[i], strlen(steps[i]), e);
    }
    if (!rc) rc = sv_score_appended(x, nodes, n, scores, e);
    return rc ? ttc_err_wrap(e, "verifier score: ") : TTC_OK;
}

static int sv_score_final(ttc_verifier *v, const int *nodes, const char *const *texts, int n, float *scores,
                          ttc_err *e) {
    sver *x = (sver *)v;
    int rc = sv_reserve(x, n, e);
    for (int i = 0; i < n && !rc; i++) {
        int seq = nodes[i];
        const char *p = texts[i];
        if ((rc = sv_check(x, seq, e))) break;
        if (!*p) { rc = ttc_err_set(e, TTC_EINVAL, "verifier: final text %d is empty", i); break; }
        /* every step but the last with its tag and `after`; the last one's
         * score is read below */
        while (!rc && *p) {
            size_t len = ttc_lm_step_len(p);
            rc = sv_append_step(x, seq, p, len, e);
            p += len;
            if (!rc && *p) {
                if (x->p->r.f.after[0]) rc = sv_append(x, seq, x->p->r.f.after, false, e);
                x->n_steps[seq]++;
            }
        }
    }
    if (!rc) rc = sv_score_appended(x, nodes, n, scores, e);
    return rc ? ttc_err_wrap(e, "verifier score_final: ") : TTC_OK;
}

static void sv_destroy(ttc_verifier *v) {
    sver *x = (sver *)v;
    if (!x) return;
    for (int i = 0; x->mine && i < x->n_nodes; i++)
        if (x->mine[i]) ttc_sched_seq_free(x->p->s, i);
    free(x->n_steps); free(x->full); free(x->mine); free(x->tmp);
    free(x->items); free(x->live); free(x->seqs); free(x->done); free(x->out);
    free(x);
}

static const ttc_verifier_vt sver_vt = {sv_root, sv_fork, sv_release, sv_score, sv_score_final, sv_destroy};

int ttc_sched_verifier_new(ttc_sched_prm *p, atomic_int *cancel, ttc_verifier **out, ttc_err *e) {
    sver *x = calloc(1, sizeof *x);
    if (!x) return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    x->base.vt = &sver_vt;
    x->base.kind = p->r.f.outcome ? TTC_VERIFIER_ORM : TTC_VERIFIER_PRM;
    const ttc_model *m = ttc_sched_model(p->s);
    x->base.info.n_params = ttc_model_n_params(m);
    x->base.info.n_ctx = ttc_sched_n_ctx(p->s);
    x->base.info.n_layer = m->cfg.n_layer;
    x->base.info.d_attn = m->cfg.n_head * m->cfg.head_dim;
    const char *slash = strrchr(m->path, '/');
    snprintf(x->base.info.name, sizeof x->base.info.name, "%.127s", slash ? slash + 1 : m->path);
    x->p = p;
    x->cancel = cancel;
    int n = x->n_nodes = ttc_sched_n_seq_max(p->s);
    x->n_steps = calloc((size_t)n, sizeof *x->n_steps);
    x->full = calloc((size_t)n, sizeof *x->full);
    x->mine = calloc((size_t)n, sizeof *x->mine);
    x->tmp = calloc((size_t)p->r.d, sizeof *x->tmp);
    if (!x->n_steps || !x->full || !x->mine || !x->tmp) {
        sv_destroy(&x->base);
        return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    }
    *out = &x->base;
    return TTC_OK;
}

/* ---- STEP pooling of whole texts ---- */

/* One input of a pooling call: its tokens and score positions. */
typedef struct pool_in {
    int32_t *ids;
    int      n, n_pos, k, at, seq;   /* k: positions scored; at: tokens handed to the scheduler */
    int     *pos;
} pool_in;

/* Tokenizes input i and finds its score positions (every tag, or the last
 * token when the format has none). */
static int pool_in_init(ttc_sched_prm *p, const char *text, size_t len, pool_in *x, ttc_err *e) {
    const ttc_tokenizer *tok = ttc_model_tokenizer(ttc_sched_model(p->s));
    int rc = ttc_tokenize_alloc(tok, text, len, ttc_tokenizer_add_bos(tok), true, &x->ids, &x->n, e);
    if (rc) return rc;
    if (x->n < 1) return ttc_err_set(e, TTC_EINVAL, "the input has no tokens");
    if (x->n > ttc_sched_n_ctx(p->s))
        return ttc_err_set(e, TTC_EINVAL, "the input is %d tokens; the verifier's context holds %d", x->n,
                           ttc_sched_n_ctx(p->s));
    x->pos = malloc((size_t)x->n * sizeof *x->pos);
    if (!x->pos) return ttc_err_set(e, TTC_ENOMEM, "pooling: out of memory");
    for (int i = 0; i < x->n; i++)
        if (p->r.tag >= 0 ? x->ids[i] == p->r.tag : i == x->n - 1) x->pos[x->n_pos++] = i;
    return TTC_OK;
}

/* Inputs scored at once, at most: their sequences live together, so a
 * group takes at most a quarter of the sequence slots and two contexts'
 * worth of tokens (the KV pool holds 8 by default), leaving room for the
 * other requests. */
#define POOL_GROUP 16

int ttc_sched_prm_pool(ttc_sched_prm *p, const char *const *texts, const size_t *lens, int n, atomic_int *cancel,
                       float **rows, int *n_rows, int *n_tokens, int *failed, ttc_err *e) {
    *failed = -1;
    if (n < 1) return ttc_err_set(e, TTC_EINVAL, "pooling: no input");
    for (int i = 0; i < n; i++) { rows[i] = NULL; n_rows[i] = n_tokens[i] = 0; }
    pool_in *in = calloc((size_t)n, sizeof *in);
    float *tmp = calloc((size_t)p->r.d, sizeof *tmp);
    ttc_sched_item items[POOL_GROUP];
    int seqs[POOL_GROUP], who[POOL_GROUP];
    float out[POOL_GROUP];
    int rc = in && tmp ? TTC_OK : ttc_err_set(e, TTC_ENOMEM, "pooling: out of memory");
    for (int i = 0; in && i < n; i++) in[i].seq = -1; /* no sequence yet (0 is a valid id) */
    for (int i = 0; i < n && !rc; i++) {
        if ((rc = pool_in_init(p, texts[i], lens[i], &in[i], e))) { *failed = i; break; }
        n_tokens[i] = in[i].n;
        rows[i] = malloc((size_t)(in[i].n_pos ? in[i].n_pos : 1) * 2 * sizeof **rows);
        if (!rows[i]) rc = ttc_err_set(e, TTC_ENOMEM, "pooling: out of memory");
        n_rows[i] = in[i].n_pos;
    }
    /* groups of inputs; in each round every unfinished input of the group
     * hands the scheduler its tokens up to its next score position */
    int max_seqs = ttc_sched_n_seq_max(p->s) / 4, max_tokens = 2 * ttc_sched_n_ctx(p->s);
    if (max_seqs > POOL_GROUP) max_seqs = POOL_GROUP;
    for (int g0 = 0, g1; g0 < n && !rc; g0 = g1) {
        int tokens = in[g0].n;
        for (g1 = g0 + 1; g1 < n && g1 - g0 < max_seqs && tokens + in[g1].n <= max_tokens; g1++) tokens += in[g1].n;
        for (;;) {
            int na = 0;
            for (int i = g0; i < g1 && !rc; i++) {
                pool_in *x = &in[i];
                if (x->k == x->n_pos) continue;
                int end = x->pos[x->k] + 1;
                rc = x->seq < 0 ? ttc_sched_seq_new(p->s, x->ids, end, &x->seq, e)
                                : ttc_sched_seq_append(p->s, x->seq, x->ids + x->at, end - x->at, e);
                if (rc) { *failed = i; break; }
                x->at = end;
                seqs[na] = x->seq;
                who[na++] = i;
            }
            if (rc || na == 0) break;
            if ((rc = run_scores(p, seqs, na, cancel, items, tmp, out, NULL, e))) break;
            for (int a = 0; a < na && !rc; a++) {
                pool_in *x = &in[who[a]];
                if (!isfinite(out[a])) {
                    *failed = who[a];
                    rc = ttc_err_set(e, TTC_ENUMERIC, "pooling: the score at token %d is not finite", x->pos[x->k]);
                    break;
                }
                rows[who[a]][2 * x->k] = 1.0f - out[a];
                rows[who[a]][2 * x->k + 1] = out[a];
                x->k++;
            }
        }
        for (int i = g0; i < g1; i++)
            if (in[i].seq >= 0) { ttc_sched_seq_free(p->s, in[i].seq); in[i].seq = -1; }
    }
    for (int i = 0; in && i < n; i++) {
        if (in[i].seq >= 0) ttc_sched_seq_free(p->s, in[i].seq);
        free(in[i].ids);
        free(in[i].pos);
    }
    free(in);
    free(tmp);
    if (rc)
        for (int i = 0; i < n; i++) { free(rows[i]); rows[i] = NULL; n_rows[i] = 0; }
    return rc;
}
