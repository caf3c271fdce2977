/* Test-time compute strategies (see strategy.h for the rules they follow). */
#include "search/strategy.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "data/prompt.h"
#include "search/answer.h"

/* ---- parameters ---------------------------------------------------------- */

static const char *const method_names[TTC_SEARCH_COUNT] = {
    "majority", "bon", "bon-weighted", "beam", "lookahead", "dvts", "revise",
};

const char *ttc_search_method_name(ttc_search_method m) {
    return (unsigned)m < TTC_SEARCH_COUNT ? method_names[m] : "?";
}

int ttc_search_method_parse(const char *name, ttc_search_method *out, ttc_err *e) {
    for (int i = 0; i < TTC_SEARCH_COUNT; i++)
        if (name && !strcmp(name, method_names[i])) { *out = (ttc_search_method)i; return TTC_OK; }
    return ttc_err_set(e, TTC_EINVAL, "strategy '%s': expected majority, bon, bon-weighted, "
                       "beam, lookahead, dvts or revise", name ? name : "(null)");
}

void ttc_search_params_default(ttc_search_params *p, ttc_search_method method, int n) {
    memset(p, 0, sizeof *p);
    p->method = method;
    p->n = n;
    p->beam_width = n < 4 ? (n < 1 ? 1 : n) : 4;
    p->lookahead = method == TTC_SEARCH_LOOKAHEAD ? 2 : 0;
    p->max_rounds = TTC_SEARCH_MAX_ROUNDS;
    p->agg = TTC_AGG_LAST;
    p->temperature = 0.8f;
    p->top_p = 1.0f;
    p->answer_ends = true;
    p->revise_len = n;
    p->revise_context = TTC_REVISE_MAX_CONTEXT;
    p->revise_select = TTC_REVISE_VERIFIER;
    p->revise_temperature = -1;
}

bool ttc_search_needs_verifier(const ttc_search_params *p) {
    if (p->method == TTC_SEARCH_MAJORITY) return false;
    if (p->method == TTC_SEARCH_REVISE) return p->revise_select == TTC_REVISE_VERIFIER;
    return true;
}

static bool is_tree(ttc_search_method m) {
    return m == TTC_SEARCH_BEAM || m == TTC_SEARCH_LOOKAHEAD || m == TTC_SEARCH_DVTS;
}

int ttc_search_params_check(const ttc_search_params *p, ttc_err *e) {
    if ((unsigned)p->method >= TTC_SEARCH_COUNT)
        return ttc_err_set(e, TTC_EINVAL, "search params: method %d unknown", (int)p->method);
    if (p->n < 1 || p->n > 1 << 16)
        return ttc_err_set(e, TTC_EINVAL, "search params: n = %d, expected 1..65536", p->n);
    if (is_tree(p->method)) {
        if (p->beam_width < 1 || p->beam_width > p->n)
            return ttc_err_set(e, TTC_EINVAL, "search params: beam_width = %d, expected 1..n (%d)",
                               p->beam_width, p->n);
        if (p->method == TTC_SEARCH_DVTS && p->n % p->beam_width)
            return ttc_err_set(e, TTC_EINVAL, "search params: dvts needs beam_width (%d) to divide n (%d)",
                               p->beam_width, p->n);
        if (p->max_rounds < 1)
            return ttc_err_set(e, TTC_EINVAL, "search params: max_rounds = %d, expected >= 1", p->max_rounds);
    }
    if (p->lookahead < 0 || p->lookahead > 64)
        return ttc_err_set(e, TTC_EINVAL, "search params: lookahead = %d, expected 0..64", p->lookahead);
    if ((unsigned)p->agg > TTC_AGG_MEAN)
        return ttc_err_set(e, TTC_EINVAL, "search params: agg %d unknown", (int)p->agg);
    if (!isfinite(p->temperature) || p->temperature < 0)
        return ttc_err_set(e, TTC_EINVAL, "search params: temperature must be finite and >= 0");
    if (p->method == TTC_SEARCH_REVISE) {
        if (p->revise_len < 1 || p->revise_len > p->n)
            return ttc_err_set(e, TTC_EINVAL, "search params: revise_len = %d, expected 1..n (%d)",
                               p->revise_len, p->n);
        if (p->revise_context < 0 || p->revise_context > TTC_REVISE_MAX_CONTEXT)
            return ttc_err_set(e, TTC_EINVAL, "search params: revise_context = %d, expected 0..%d",
                               p->revise_context, TTC_REVISE_MAX_CONTEXT);
        if (!isfinite(p->revise_temperature))
            return ttc_err_set(e, TTC_EINVAL, "search params: revise_temperature must be finite (< 0: temperature)");
        if ((unsigned)p->revise_select > TTC_REVISE_MAJORITY)
            return ttc_err_set(e, TTC_EINVAL, "search params: revise_select %d unknown",
                               (int)p->revise_select);
    }
    return TTC_OK;
}

/* ---- partial solutions ----------------------------------------------------- */

/* A node of the search: a generator node, a verifier node (either may be
 * -1), the text so far and its step scores. */
typedef struct tnode {
    int      g, v;
    uint64_t seed;
    char    *text;
    size_t   len, cap;
    float   *sc;
    int      n_sc, cap_sc;
    int      n_tokens;
    float    value;       /* what selection ranks by */
    bool     finished;
    int      group;
} tnode;

typedef struct run {
    const ttc_search_params *p;
    ttc_generator *gen;
    ttc_verifier  *ver;
    const char    *problem;
    ttc_search_result *out;
    ttc_err       *e;
} run;

/* The seed of child `stream` of a node with seed `seed`. */
static uint64_t derive(uint64_t seed, uint64_t stream) {
    ttc_rng r;
    ttc_rng_split(&r, seed, stream);
    return ttc_rng_u64(&r);
}

static int oom(ttc_err *e, const char *what) {
    return ttc_err_set(e, TTC_ENOMEM, "search: out of memory (%s)", what);
}

static void tnode_init(tnode *t) {
    memset(t, 0, sizeof *t);
    t->g = t->v = -1;
    t->value = NAN;
}

/* Appends n bytes of s to t's text (kept NUL-terminated). NUL bytes a model
 * may produce are dropped, so the text is one C string. */
static int text_append(tnode *t, const char *s, size_t n, ttc_err *e) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = TTC_MAX(t->cap * 2, t->len + n + 64);
        char *x = realloc(t->text, cap);
        if (!x) return oom(e, "text");
        t->text = x;
        t->cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i]) t->text[t->len++] = s[i];
    t->text[t->len] = 0;
    return TTC_OK;
}

static int score_push(tnode *t, float s, ttc_err *e) {
    if (t->n_sc == t->cap_sc) {
        int cap = t->cap_sc ? t->cap_sc * 2 : 8;
        float *x = realloc(t->sc, (size_t)cap * sizeof *x);
        if (!x) return oom(e, "scores");
        t->sc = x;
        t->cap_sc = cap;
    }
    t->sc[t->n_sc++] = s;
    return TTC_OK;
}

/* Copies src's text, scores and counters into the fresh dst (not its nodes). */
static int tnode_copy_state(tnode *dst, const tnode *src, ttc_err *e) {
    int rc = text_append(dst, src->text ? src->text : "", src->len, e);
    for (int i = 0; !rc && i < src->n_sc; i++) rc = score_push(dst, src->sc[i], e);
    dst->n_tokens = src->n_tokens;
    dst->value = src->value;
    dst->group = src->group;
    return rc;
}

static void tnode_release(run *r, tnode *t) {
    if (t->g >= 0) r->gen->vt->release(r->gen, t->g);
    if (t->v >= 0 && r->ver) r->ver->vt->release(r->ver, t->v);
    t->g = t->v = -1;
}

static void tnode_drop(run *r, tnode *t) {
    tnode_release(r, t);
    free(t->text);
    free(t->sc);
    tnode_init(t);
}

/* Forks parent's nodes (the verifier's when with_v) into the fresh child. */
static int tnode_fork(run *r, const tnode *parent, tnode *child, bool with_v) {
    int rc = r->gen->vt->fork(r->gen, parent->g, &child->g, r->e);
    if (!rc && with_v && r->ver && parent->v >= 0)
        rc = r->ver->vt->fork(r->ver, parent->v, &child->v, r->e);
    return rc;
}

/* ---- the result ------------------------------------------------------------ */

/* Moves t's text and scores into a new candidate of the result. */
static int result_add(run *r, tnode *t, int group, int index, bool scored) {
    ttc_search_result *out = r->out;
    int n = out->n_cands;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {   /* capacity: 8, then doubling */
        ttc_candidate *x = realloc(out->cands, (size_t)TTC_MAX(8, 2 * n) * sizeof *x);
        if (!x) return oom(r->e, "candidates");
        out->cands = x;
    }
    ttc_candidate *c = &out->cands[out->n_cands];
    memset(c, 0, sizeof *c);
    if (!t->text && text_append(t, "", 0, r->e)) return TTC_ENOMEM;
    int rc = ttc_search_answer(t->text, &c->answer, &c->key, r->e);
    if (rc) return rc;
    c->text = t->text;
    c->step_scores = t->sc;
    c->n_steps = t->n_sc;
    c->score = NAN;
    if (scored) c->score = r->ver && r->ver->kind == TTC_VERIFIER_ORM ? t->value
                         : ttc_agg_apply(r->p->agg, t->sc, t->n_sc);
    c->n_tokens = t->n_tokens;
    c->group = group;
    c->index = index;
    c->finished = t->finished;
    t->text = NULL;
    t->sc = NULL;
    t->len = t->cap = 0;
    t->n_sc = t->cap_sc = 0;
    out->n_cands++;
    return TTC_OK;
}

void ttc_search_result_free(ttc_search_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_cands; i++) {
        free(r->cands[i].text);
        free(r->cands[i].answer);
        free(r->cands[i].key);
        free(r->cands[i].step_scores);
    }
    free(r->cands);
    free(r->answer);
    free(r->solution);
    memset(r, 0, sizeof *r);
}

/* Votes over the candidates [0, n_cands) or the subset idx[0..m). */
static int vote(const ttc_search_result *out, ttc_vote how, const int *idx, int m, int *chosen, ttc_err *e) {
    int n = out->n_cands;
    const char **keys = malloc((size_t)TTC_MAX(n, 1) * sizeof *keys);
    float *scores = malloc((size_t)TTC_MAX(n, 1) * sizeof *scores);
    if (!keys || !scores) { free(keys); free(scores); return oom(e, "vote"); }
    for (int i = 0; i < n; i++) { keys[i] = out->cands[i].key; scores[i] = out->cands[i].score; }
    *chosen = idx ? ttc_select_subset(how, keys, scores, idx, m) : ttc_select(how, keys, scores, n);
    free(keys);
    free(scores);
    return TTC_OK;
}

/* ---- sampling and scoring full solutions ------------------------------------ */

/* Scores ts[0..n) (their text is complete solutions) with the verifier from
 * a fresh root: a PRM step by step (steps split by ttc_lm_step_len), batched across
 * solutions; an ORM once at the end. problems (may be NULL: r->problem for
 * all) gives each solution its own root text, e.g. a revision's previous
 * attempts (ttc_prompt_revise_context). Sets each value (NAN when nothing
 * was scored). */
static int score_full(run *r, tnode *ts, int n, char *const *problems) {
    ttc_verifier *v = r->ver;
    for (int i = 0; i < n; i++) ts[i].value = NAN;
    if (!v || n == 0) return TTC_OK;
    int vroot = -1, rc = TTC_OK;
    int *nodes = malloc((size_t)n * sizeof *nodes);
    int *pos = calloc((size_t)n, sizeof *pos);      /* next unscored byte */
    int *batch = malloc((size_t)n * sizeof *batch);
    const char **steps = malloc((size_t)n * sizeof *steps);
    char **owned = calloc((size_t)n, sizeof *owned);
    float *sc = malloc((size_t)n * sizeof *sc);
    for (int i = 0; i < n; i++) nodes[i] = -1;
    if (!nodes || !pos || !batch || !steps || !owned || !sc) { rc = oom(r->e, "scoring"); goto done; }
    if (problems) {      /* one root per candidate: its own context */
        for (int i = 0; i < n; i++)
            if (ts[i].len > 0 && (rc = v->vt->root(v, problems[i], &nodes[i], r->e))) goto done;
    } else {
        if ((rc = v->vt->root(v, r->problem, &vroot, r->e))) goto done;
        for (int i = 0; i < n; i++)
            if ((rc = v->vt->fork(v, vroot, &nodes[i], r->e))) goto done;
    }
    if (v->kind == TTC_VERIFIER_ORM) {         /* empty solutions stay unscored */
        int m = 0;
        for (int i = 0; i < n; i++)
            if (ts[i].len > 0) { batch[m] = nodes[i]; steps[m] = ts[i].text; pos[m++] = i; }
        if (m > 0 && (rc = v->vt->score_final(v, batch, steps, m, sc, r->e))) goto done;
        for (int k = 0; k < m; k++) ts[pos[k]].value = sc[k];
        goto done;
    }
    for (;;) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if ((size_t)pos[i] >= ts[i].len) continue;
            const char *s = ts[i].text + pos[i];
            size_t len = ttc_lm_step_len(s);   /* > 0: the text holds no NUL */
            free(owned[i]);
            if (!(owned[i] = malloc(len + 1))) { rc = oom(r->e, "step"); goto done; }
            memcpy(owned[i], s, len);
            owned[i][len] = 0;
            pos[i] += (int)len;
            batch[m] = nodes[i];
            steps[m] = owned[i];
            m++;
        }
        if (m == 0) break;
        if ((rc = v->vt->score(v, batch, steps, m, sc, r->e))) goto done;
        for (int i = 0, k = 0; i < n; i++) {
            if (!owned[i] || steps[k] != owned[i]) continue;
            if ((rc = score_push(&ts[i], sc[k], r->e))) goto done;
            ts[i].value = sc[k];
            k++;
        }
        for (int i = 0; i < n; i++) { free(owned[i]); owned[i] = NULL; }
    }
done:
    for (int i = 0; nodes && i < n; i++) if (nodes[i] >= 0) v->vt->release(v, nodes[i]);
    if (vroot >= 0) v->vt->release(v, vroot);
    for (int i = 0; owned && i < n; i++) free(owned[i]);
    free(nodes); free(pos); free(batch); free(steps); free(owned); free(sc);
    return rc;
}

/* Samples a full solution from each of nodes[0..n) (seeds[i]) at
 * temperature temp into the fresh ts[i]; releases the nodes whatever
 * happens. */
static int sample_full(run *r, int *nodes, int n, const uint64_t *seeds, float temp, tnode *ts) {
    ttc_generator *g = r->gen;
    int rc = TTC_OK;
    ttc_extend_result *res = calloc((size_t)TTC_MAX(n, 1), sizeof *res);
    if (!res) { rc = oom(r->e, "sampling"); goto done; }
    ttc_extend_opts o = {temp, r->p->top_p, r->p->max_solution_tokens, seeds};
    if ((rc = g->vt->extend(g, nodes, n, TTC_EXTEND_SOLUTION, &o, res, r->e))) goto done;
    for (int i = 0; i < n; i++) {
        if ((rc = text_append(&ts[i], res[i].text, (size_t)res[i].len, r->e))) goto done;
        ts[i].n_tokens = res[i].n_tokens;
        ts[i].finished = res[i].finished && !res[i].truncated;
        ts[i].seed = seeds[i];
    }
done:
    for (int i = 0; i < n; i++) g->vt->release(g, nodes[i]);
    free(res);
    return rc;
}

/* majority, bon, bon-weighted. */
static int run_bon(run *r) {
    const ttc_search_params *p = r->p;
    int n = p->n, rc;
    tnode *ts = malloc((size_t)n * sizeof *ts);
    uint64_t *seeds = malloc((size_t)n * sizeof *seeds);
    char *prompt = ttc_prompt_solve(r->problem);
    if (!ts || !seeds || !prompt) { free(ts); free(seeds); free(prompt); return oom(r->e, "best-of-n"); }
    for (int i = 0; i < n; i++) { tnode_init(&ts[i]); seeds[i] = derive(p->seed, (uint64_t)i); }
    /* one root, forked N times: the prompt is computed (and stored) once */
    int root = -1, *nodes = malloc((size_t)n * sizeof *nodes), made = 0;
    rc = nodes ? r->gen->vt->root(r->gen, prompt, &root, r->e) : oom(r->e, "best-of-n");
    while (!rc && made < n)
        if (!(rc = r->gen->vt->fork(r->gen, root, &nodes[made], r->e))) made++;
    if (root >= 0) r->gen->vt->release(r->gen, root);
    if (!rc) {
        rc = sample_full(r, nodes, n, seeds, p->temperature, ts);
        r->out->budget.full_samples += n;
    } else {
        for (int i = 0; i < made; i++) r->gen->vt->release(r->gen, nodes[i]);
    }
    free(nodes);
    bool scored = p->method != TTC_SEARCH_MAJORITY && r->ver;
    if (!rc && scored) rc = score_full(r, ts, n, NULL);
    for (int i = 0; !rc && i < n; i++) rc = result_add(r, &ts[i], 0, i, scored);
    for (int i = 0; i < n; i++) tnode_drop(r, &ts[i]);
    free(ts); free(seeds); free(prompt);
    if (rc) return rc;
    ttc_vote how = p->method == TTC_SEARCH_MAJORITY ? TTC_VOTE_MAJORITY
                 : p->method == TTC_SEARCH_BON ? TTC_VOTE_BEST : TTC_VOTE_WEIGHTED;
    return vote(r->out, how, NULL, 0, &r->out->chosen, r->e);
}

/* ---- revisions ---------------------------------------------------------- */

static int run_revise(run *r) {
    const ttc_search_params *p = r->p;
    int n = p->n, L = p->revise_len, n_chains = (n + L - 1) / L, rc = TTC_OK;
    tnode *ts = malloc((size_t)n * sizeof *ts);             /* chain c, attempt t at c*L+t */
    uint64_t *seeds = malloc((size_t)n_chains * sizeof *seeds);
    int *nodes = malloc((size_t)n_chains * sizeof *nodes);
    int *at = malloc((size_t)n_chains * sizeof *at);
    tnode *batch = malloc((size_t)n_chains * sizeof *batch);
    int *idx = malloc((size_t)n * sizeof *idx);
    int *win = malloc((size_t)n_chains * sizeof *win);
    int *kctx = calloc((size_t)n, sizeof *kctx);             /* attempts in each one's prompt */
    if (!ts || !seeds || !nodes || !at || !batch || !idx || !win || !kctx) { rc = oom(r->e, "revise"); goto done; }
    for (int i = 0; i < n; i++) tnode_init(&ts[i]);
    for (int t = 0; t < L && !rc; t++) {
        int m = 0;
        for (int c = 0; c < n_chains && !rc; c++) {
            if (c * L + t >= n) continue;
            /* the most recent min(t, context) attempts, fewer when the
             * prompt would not fit the generator's context */
            for (int k = TTC_MIN(t, p->revise_context); k >= 0; k--) {
                const char *prev[TTC_REVISE_MAX_CONTEXT];
                for (int j = 0; j < k; j++) prev[j] = ts[c * L + t - k + j].text;
                char *prompt = ttc_prompt_revise(r->problem, prev, k);
                if (!prompt) { rc = oom(r->e, "prompt"); break; }
                rc = r->gen->vt->root(r->gen, prompt, &nodes[m], r->e);
                free(prompt);
                kctx[c * L + t] = k;
                if (rc != TTC_ENOMEM || k == 0) break;
            }
            if (rc) break;
            seeds[m] = derive(derive(p->seed, (uint64_t)c), (uint64_t)t);
            at[m] = c * L + t;
            tnode_init(&batch[m]);
            m++;
        }
        if (rc) {
            for (int j = 0; j < m; j++) r->gen->vt->release(r->gen, nodes[j]);
            break;
        }
        float temp = t > 0 && p->revise_temperature >= 0 ? p->revise_temperature : p->temperature;
        rc = sample_full(r, nodes, m, seeds, temp, batch);
        r->out->budget.full_samples += m;
        for (int j = 0; j < m; j++) ts[at[j]] = batch[j];
    }
    bool scored = r->ver && p->revise_select == TTC_REVISE_VERIFIER;
    if (!rc && scored) { /* each attempt is read after the attempts it revised */
        char **ctx = calloc((size_t)n, sizeof *ctx);
        if (!ctx) rc = oom(r->e, "revise");
        for (int i = 0; !rc && i < n; i++) {
            const char *prev[TTC_REVISE_MAX_CONTEXT];
            for (int j = 0; j < kctx[i]; j++) prev[j] = ts[i - kctx[i] + j].text;
            if (!(ctx[i] = ttc_prompt_revise_context(r->problem, prev, kctx[i]))) rc = oom(r->e, "revise");
        }
        if (!rc) rc = score_full(r, ts, n, ctx);
        for (int i = 0; ctx && i < n; i++) free(ctx[i]);
        free(ctx);
    }
    for (int i = 0; !rc && i < n; i++) rc = result_add(r, &ts[i], i / L, i % L, scored);
    if (rc) goto done;
    if (p->revise_select == TTC_REVISE_MAJORITY) {
        rc = vote(r->out, TTC_VOTE_MAJORITY, NULL, 0, &r->out->chosen, r->e);
        goto done;
    }
    /* Hierarchical: the weighted winner of each chain carries the summed
     * score of its answer within the chain; then a weighted vote over the
     * chains' winners with those sums as their scores. */
    ttc_search_result *out = r->out;
    float *own = malloc((size_t)n_chains * sizeof *own);
    if (!own) { rc = oom(r->e, "revise"); goto done; }
    for (int c = 0; c < n_chains && !rc; c++) {
        int m = 0;
        for (int i = c * L; i < TTC_MIN(n, (c + 1) * L); i++) idx[m++] = i;
        rc = vote(out, TTC_VOTE_WEIGHTED, idx, m, &win[c], r->e);
        double sum = 0;
        for (int j = 0; !rc && j < m; j++) {
            const ttc_candidate *x = &out->cands[idx[j]];
            if (!strcmp(x->key, out->cands[win[c]].key) && !isnan(x->score)) sum += x->score;
        }
        own[c] = (float)sum;
    }
    for (int c = 0; !rc && c < n_chains; c++) {       /* swap in the chain sums */
        float t = out->cands[win[c]].score;
        out->cands[win[c]].score = own[c];
        own[c] = t;
    }
    if (!rc) rc = vote(out, TTC_VOTE_WEIGHTED, win, n_chains, &out->chosen, r->e);
    for (int c = 0; !rc && c < n_chains; c++) out->cands[win[c]].score = own[c];
    free(own);
done:
    for (int i = 0; ts && i < n; i++) tnode_drop(r, &ts[i]);
    free(ts); free(seeds); free(nodes); free(at); free(batch); free(idx); free(win); free(kctx);
    return rc;
}

/* ---- tree searches ---------------------------------------------------------- */

/* Sorts pointers by value, descending; NaN last; ties by position (stable). */
typedef struct ranked { tnode *t; int pos; } ranked;
static int ranked_cmp(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    float vx = isnan(x->t->value) ? -INFINITY : x->t->value;
    float vy = isnan(y->t->value) ? -INFINITY : y->t->value;
    if (vx != vy) return vx > vy ? -1 : 1;
    return x->pos - y->pos;
}

typedef struct tree {
    int       n_groups, M, k;
    int      *slots;      /* per group */
    uint64_t *gseed;      /* per group */
    tnode   **beams;      /* per group: kept beams (capacity N) */
    int      *n_beams;
    tnode    *kids;       /* this round's children (at most N) */
    int       n_kids;
    tnode    *ro;         /* lookahead rollouts, parallel to kids */
    int      *gn, *vn;    /* batch node ids */
    uint64_t *seeds;
    const char **steps;
    float    *sc;
    int      *map;
    ranked   *rk;
    ttc_extend_result *res;
} tree;

/* Extends ts[i] for i in list[0..m) by one step (greedy when rollout) and
 * scores the new steps with the verifier. Sets finished and value. */
static int tree_step(run *r, tree *T, tnode *ts, const int *list, int m, bool rollout) {
    const ttc_search_params *p = r->p;
    if (m == 0) return TTC_OK;
    for (int j = 0; j < m; j++) { T->gn[j] = ts[list[j]].g; T->seeds[j] = ts[list[j]].seed; }
    ttc_extend_opts o = {rollout ? 0.0f : p->temperature, p->top_p, p->max_step_tokens, T->seeds};
    int rc = r->gen->vt->extend(r->gen, T->gn, m, TTC_EXTEND_STEP, &o, T->res, r->e);
    if (rc) return rc;
    int ms = 0;
    for (int j = 0; j < m; j++) {
        tnode *t = &ts[list[j]];
        const ttc_extend_result *x = &T->res[j];
        size_t before = t->len;
        if ((rc = text_append(t, x->text, (size_t)x->len, r->e))) return rc;
        t->n_tokens += x->n_tokens;
        bool empty = t->len == before;        /* nothing new: the solution ended */
        t->finished = x->finished || empty || (p->answer_ends && ttc_search_has_answer(t->text + before));
        if (!empty && r->ver && t->v >= 0) {
            T->vn[ms] = t->v;
            T->steps[ms] = t->text + before;
            T->map[ms] = list[j];
            ms++;
        }
    }
    if (rollout) r->out->budget.rollout_steps += m; else r->out->budget.step_samples += m;
    if (ms == 0) return TTC_OK;
    if ((rc = r->ver->vt->score(r->ver, T->vn, T->steps, ms, T->sc, r->e))) return rc;
    for (int j = 0; j < ms; j++) {
        tnode *t = &ts[T->map[j]];
        t->value = T->sc[j];
        if (!rollout && (rc = score_push(t, T->sc[j], r->e))) return rc;
    }
    return TTC_OK;
}

/* Lookahead: values each unfinished child by the PRM score at the end of a
 * greedy rollout of up to k more steps (rollouts are discarded). */
static int tree_lookahead(run *r, tree *T) {
    int rc = TTC_OK, m = 0;
    int *list = malloc((size_t)TTC_MAX(T->n_kids, 1) * sizeof *list);
    if (!list) return oom(r->e, "lookahead");
    for (int i = 0; i < T->n_kids; i++) {
        tnode *ro = &T->ro[i];
        tnode_init(ro);
        if (T->kids[i].finished) continue;
        ro->seed = T->kids[i].seed;
        ro->value = T->kids[i].value;
        if ((rc = tnode_fork(r, &T->kids[i], ro, true))) goto done;
        list[m++] = i;
    }
    for (int s = 0; s < T->k && m > 0; s++) {
        if ((rc = tree_step(r, T, T->ro, list, m, true))) goto done;
        int m2 = 0;
        for (int j = 0; j < m; j++) {
            /* The rollout text is not needed: keep only its value. */
            tnode *ro = &T->ro[list[j]];
            ro->len = 0;
            if (ro->text) ro->text[0] = 0;
            if (!ro->finished) list[m2++] = list[j];
        }
        m = m2;
    }
    for (int i = 0; i < T->n_kids; i++)
        if (!T->kids[i].finished) T->kids[i].value = T->ro[i].value;
done:
    for (int i = 0; i < T->n_kids; i++) tnode_drop(r, &T->ro[i]);
    free(list);
    return rc;
}

static void tree_free(run *r, tree *T) {
    for (int g = 0; T->beams && g < T->n_groups; g++) {
        for (int i = 0; T->beams[g] && i < T->n_beams[g]; i++) tnode_drop(r, &T->beams[g][i]);
        free(T->beams[g]);
    }
    for (int i = 0; T->kids && i < T->n_kids; i++) tnode_drop(r, &T->kids[i]);
    free(T->slots); free(T->gseed); free(T->beams); free(T->n_beams); free(T->kids); free(T->ro);
    free(T->gn); free(T->vn); free(T->seeds); free(T->steps); free(T->sc); free(T->map);
    free(T->rk); free(T->res);
}

static int run_tree(run *r) {
    const ttc_search_params *p = r->p;
    int N = p->n, rc = TTC_OK;
    tree T = {0};
    T.M = p->beam_width;
    T.k = p->method == TTC_SEARCH_LOOKAHEAD ? p->lookahead : 0;
    T.n_groups = p->method == TTC_SEARCH_DVTS ? N / T.M : 1;
    tnode root;
    tnode_init(&root);
    char *prompt = ttc_prompt_solve(r->problem);
    size_t nn = (size_t)N;
    T.slots = calloc((size_t)T.n_groups, sizeof *T.slots);
    T.gseed = calloc((size_t)T.n_groups, sizeof *T.gseed);
    T.beams = calloc((size_t)T.n_groups, sizeof *T.beams);
    T.n_beams = calloc((size_t)T.n_groups, sizeof *T.n_beams);
    T.kids = calloc(nn, sizeof *T.kids);
    T.ro = calloc(nn, sizeof *T.ro);
    T.gn = calloc(nn, sizeof *T.gn);
    T.vn = calloc(nn, sizeof *T.vn);
    T.seeds = calloc(nn, sizeof *T.seeds);
    T.steps = calloc(nn, sizeof *T.steps);
    T.sc = calloc(nn, sizeof *T.sc);
    T.map = calloc(nn, sizeof *T.map);
    T.rk = calloc(nn, sizeof *T.rk);
    T.res = calloc(nn, sizeof *T.res);
    int *list = calloc(nn, sizeof *list);
    if (!prompt || !T.slots || !T.gseed || !T.beams || !T.n_beams || !T.kids || !T.ro || !T.gn ||
        !T.vn || !T.seeds || !T.steps || !T.sc || !T.map || !T.rk || !T.res || !list) {
        rc = oom(r->e, "tree search");
        goto done;
    }
    for (int g = 0; g < T.n_groups; g++) {
        T.slots[g] = N / T.n_groups;
        T.gseed[g] = derive(p->seed, (uint64_t)g);
        if (!(T.beams[g] = calloc(nn, sizeof **T.beams))) { rc = oom(r->e, "beams"); goto done; }
    }
    if ((rc = r->gen->vt->root(r->gen, prompt, &root.g, r->e))) goto done;
    if (r->ver && (rc = r->ver->vt->root(r->ver, r->problem, &root.v, r->e))) goto done;

    int64_t rounds = 0;
    for (int round = 0; round < p->max_rounds; round++) {
        /* Expand: each group's kept beams (round one: the root) into exactly
         * `slots` children, M per beam. */
        T.n_kids = 0;
        for (int g = 0; g < T.n_groups; g++) {
            int nb = round == 0 ? 1 : T.n_beams[g];
            for (int b = 0; b < nb; b++) {
                tnode *parent = round == 0 ? &root : &T.beams[g][b];
                uint64_t pseed = round == 0 ? T.gseed[g] : parent->seed;
                int nc = round == 0 ? T.slots[g] : TTC_MIN(T.M, T.slots[g] - b * T.M);
                for (int j = 0; j < nc; j++) {
                    tnode *c = &T.kids[T.n_kids++];
                    tnode_init(c);
                    c->seed = derive(pseed, (uint64_t)j);
                    if ((rc = tnode_copy_state(c, parent, r->e))) goto done;
                    c->group = g;
                    if ((rc = tnode_fork(r, parent, c, true))) goto done;
                }
            }
            if (round > 0) {
                for (int b = 0; b < T.n_beams[g]; b++) tnode_drop(r, &T.beams[g][b]);
                T.n_beams[g] = 0;
            }
        }
        if (T.n_kids == 0) break;
        rounds++;
        for (int i = 0; i < T.n_kids; i++) list[i] = i;
        if ((rc = tree_step(r, &T, T.kids, list, T.n_kids, false))) goto done;
        if (T.k > 0 && (rc = tree_lookahead(r, &T))) goto done;

        /* Select per group: finished children join the pool for good; keep
         * the best ceil(slots/M) of the others. */
        for (int g = 0; g < T.n_groups; g++) {
            int nr = 0;
            for (int i = 0; i < T.n_kids; i++) {
                tnode *c = &T.kids[i];
                if (c->group != g) continue;
                if (c->finished) {
                    tnode_release(r, c);
                    if ((rc = result_add(r, c, g, r->out->n_cands, true))) goto done;
                    T.slots[g]--;
                } else {
                    T.rk[nr].t = c;
                    T.rk[nr].pos = i;
                    nr++;
                }
            }
            qsort(T.rk, (size_t)nr, sizeof *T.rk, ranked_cmp);
            int keep = T.slots[g] > 0 ? TTC_MIN(nr, (T.slots[g] + T.M - 1) / T.M) : 0;
            for (int j = 0; j < keep; j++) {
                T.beams[g][j] = *T.rk[j].t;
                tnode_init(T.rk[j].t);
            }
            T.n_beams[g] = keep;
        }
        for (int i = 0; i < T.n_kids; i++) tnode_drop(r, &T.kids[i]);
        T.n_kids = 0;
    }
    /* Beams still open after the last round join the pool unfinished. */
    for (int g = 0; g < T.n_groups; g++)
        for (int b = 0; b < T.n_beams[g]; b++) {
            tnode_release(r, &T.beams[g][b]);
            if ((rc = result_add(r, &T.beams[g][b], g, r->out->n_cands, true))) goto done;
        }
    r->out->budget.rounds = rounds;
    rc = vote(r->out, TTC_VOTE_WEIGHTED, NULL, 0, &r->out->chosen, r->e);
done:
    tree_free(r, &T);
    tnode_drop(r, &root);
    free(prompt);
    free(list);
    return rc;
}

/* ---- entry point ------------------------------------------------------------ */

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

int ttc_search_run(const ttc_search_params *p, ttc_generator *gen, ttc_verifier *ver,
                   const char *problem, ttc_search_result *out, ttc_err *e) {
    memset(out, 0, sizeof *out);
    out->chosen = -1;
    int rc = ttc_search_params_check(p, e);
    if (rc) return rc;
    if (!gen || !problem) return ttc_err_set(e, TTC_EINVAL, "search: no generator or problem");
    if (!ver && ttc_search_needs_verifier(p))
        return ttc_err_set(e, TTC_EINVAL, "search: strategy %s needs a verifier",
                           ttc_search_method_name(p->method));
    if (ver && ver->kind == TTC_VERIFIER_ORM && is_tree(p->method))
        return ttc_err_set(e, TTC_EINVAL, "search: strategy %s needs a process verifier (PRM), "
                           "got an outcome verifier", ttc_search_method_name(p->method));
    out->params = *p;
    if (p->method == TTC_SEARCH_MAJORITY) ver = NULL;
    run r = {p, gen, ver, problem, out, e};
    ttc_lm_usage g0 = gen->usage, v0 = ver ? ver->usage : (ttc_lm_usage){0};
    double t0 = ttc_now();

    if (is_tree(p->method)) rc = run_tree(&r);
    else if (p->method == TTC_SEARCH_REVISE) rc = run_revise(&r);
    else rc = run_bon(&r);

    ttc_budget *b = &out->budget;
    b->wall_seconds = ttc_now() - t0;
    b->tokens_generated = gen->usage.tokens_gen - g0.tokens_gen;
    b->tokens_prefill = gen->usage.tokens_prefill - g0.tokens_prefill;
    b->gen_calls = gen->usage.calls - g0.calls;
    b->flops_generator = gen->usage.flops - g0.flops;
    if (ver) {
        b->tokens_scored = ver->usage.tokens_prefill + ver->usage.tokens_gen -
                           v0.tokens_prefill - v0.tokens_gen;
        b->verifier_calls = ver->usage.calls - v0.calls;
        b->flops_verifier = ver->usage.flops - v0.flops;
    }
    b->generations = (double)b->full_samples;
    if (b->rounds > 0) b->generations += (double)(b->step_samples + b->rollout_steps) / (double)b->rounds;
    if (!rc && out->chosen >= 0) {
        const ttc_candidate *c = &out->cands[out->chosen];
        out->answer = dup_str(c->answer);
        out->solution = dup_str(c->text);
    } else if (!rc) {
        out->answer = dup_str("");
        out->solution = dup_str("");
    }
    if (!rc && (!out->answer || !out->solution)) rc = oom(e, "result");
    if (rc) {
        ttc_budget keep = *b;
        ttc_search_result_free(out);
        out->budget = keep;
        out->chosen = -1;
    }
    return rc;
}

/* ---- JSON ------------------------------------------------------------------- */

static json_t *jnum(double x) { return isfinite(x) ? json_real(x) : json_null(); }

int ttc_search_result_json(const ttc_search_result *r, bool with_cands, char **out, ttc_err *e) {
    const ttc_budget *b = &r->budget;
    json_t *o = json_object(), *jb = json_object();
    if (!o || !jb) { json_decref(o); json_decref(jb); return oom(e, "json"); }
    json_object_set_new(o, "strategy", json_string(ttc_search_method_name(r->params.method)));
    json_object_set_new(o, "n", json_integer(r->params.n));
    if (is_tree(r->params.method)) json_object_set_new(o, "beam_width", json_integer(r->params.beam_width));
    if (r->params.method == TTC_SEARCH_LOOKAHEAD) json_object_set_new(o, "lookahead", json_integer(r->params.lookahead));
    if (r->params.method == TTC_SEARCH_REVISE) {
        json_object_set_new(o, "revise_len", json_integer(r->params.revise_len));
        json_object_set_new(o, "revise_select", json_string(r->params.revise_select == TTC_REVISE_MAJORITY
                                                                ? "majority" : "verifier"));
        if (r->params.revise_temperature >= 0)
            json_object_set_new(o, "revise_temperature", json_real(r->params.revise_temperature));
        json_object_set_new(o, "revise_context", json_integer(r->params.revise_context));
    }
    json_object_set_new(o, "agg", json_string(ttc_agg_name(r->params.agg)));
    json_object_set_new(o, "temperature", json_real(r->params.temperature));
    json_object_set_new(o, "seed", json_integer((json_int_t)r->params.seed));
    json_object_set_new(o, "answer", json_string(r->answer ? r->answer : ""));
    json_object_set_new(o, "solution", json_string(r->solution ? r->solution : ""));
    json_object_set_new(o, "chosen", json_integer(r->chosen));
    json_object_set_new(jb, "generations", jnum(b->generations));
    json_object_set_new(jb, "full_samples", json_integer(b->full_samples));
    json_object_set_new(jb, "step_samples", json_integer(b->step_samples));
    json_object_set_new(jb, "rollout_steps", json_integer(b->rollout_steps));
    json_object_set_new(jb, "rounds", json_integer(b->rounds));
    json_object_set_new(jb, "tokens_generated", json_integer(b->tokens_generated));
    json_object_set_new(jb, "tokens_prefill", json_integer(b->tokens_prefill));
    json_object_set_new(jb, "tokens_scored", json_integer(b->tokens_scored));
    json_object_set_new(jb, "generator_calls", json_integer(b->gen_calls));
    json_object_set_new(jb, "verifier_calls", json_integer(b->verifier_calls));
    json_object_set_new(jb, "flops_generator", jnum(b->flops_generator));
    json_object_set_new(jb, "flops_verifier", jnum(b->flops_verifier));
    json_object_set_new(jb, "flops", jnum(b->flops_generator + b->flops_verifier));
    json_object_set_new(jb, "wall_seconds", jnum(b->wall_seconds));
    json_object_set_new(o, "budget", jb);
    if (with_cands) {
        json_t *arr = json_array();
        for (int i = 0; arr && i < r->n_cands; i++) {
            const ttc_candidate *c = &r->cands[i];
            json_t *jc = json_object(), *js = json_array();
            for (int s = 0; js && s < c->n_steps; s++) json_array_append_new(js, jnum(c->step_scores[s]));
            json_object_set_new(jc, "answer", json_string(c->answer));
            json_object_set_new(jc, "key", json_string(c->key));
            json_object_set_new(jc, "score", jnum(c->score));
            json_object_set_new(jc, "step_scores", js);
            json_object_set_new(jc, "group", json_integer(c->group));
            json_object_set_new(jc, "index", json_integer(c->index));
            json_object_set_new(jc, "finished", json_boolean(c->finished));
            json_object_set_new(jc, "tokens", json_integer(c->n_tokens));
            json_object_set_new(jc, "text", json_string(c->text));
            json_array_append_new(arr, jc);
        }
        json_object_set_new(o, "candidates", arr);
    }
    *out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(9));
    json_decref(o);
    return *out ? TTC_OK : oom(e, "json");
}
