/* Scripted fake generator and oracle verifier (see fake_lm.h). */
#include "fake_lm.h"

#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

typedef struct fake_step {
    char  *text;
    double weight;
    float  score;
    bool   final;
    int    parent;
    int   *kids;
    int    n_kids;
} fake_step;

struct fake_tree {
    fake_step *s;
    int n, cap;
};

fake_tree *fake_tree_new(void) {
    fake_tree *t = calloc(1, sizeof *t);
    if (t && fake_tree_add(t, -1, "", 0, 0, false) != 0) { free(t); return NULL; }
    return t;
}

void fake_tree_free(fake_tree *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) { free(t->s[i].text); free(t->s[i].kids); }
    free(t->s);
    free(t);
}

int fake_tree_size(const fake_tree *t) { return t->n; }

int fake_tree_add(fake_tree *t, int parent, const char *text, double weight, float score, bool final) {
    if (parent >= t->n) return -1;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        fake_step *x = realloc(t->s, (size_t)cap * sizeof *x);
        if (!x) return -1;
        t->s = x;
        t->cap = cap;
    }
    fake_step *s = &t->s[t->n];
    memset(s, 0, sizeof *s);
    if (!(s->text = strdup(text))) return -1;
    s->weight = weight;
    s->score = score;
    s->final = final;
    s->parent = parent;
    if (parent >= 0) {
        fake_step *p = &t->s[parent];
        int *k = realloc(p->kids, (size_t)(p->n_kids + 1) * sizeof *k);
        if (!k) { free(s->text); return -1; }
        p->kids = k;
        p->kids[p->n_kids++] = t->n;
    }
    return t->n++;
}

int fake_words(const char *s) {
    int n = 0;
    bool in = false;
    for (; s && *s; s++) {
        bool sp = *s == ' ' || *s == '\n' || *s == '\t';
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

/* ---- node tables (shared by both doubles) ---------------------------------- */

typedef struct fake_node {
    bool  live;
    int   at;        /* script node, -1 once off the script */
    int   pos;       /* tokens in context */
    char *out;       /* last extend's text */
    size_t out_cap;
} fake_node;

typedef struct fake_nodes { fake_node *v; int n, cap; } fake_nodes;

static int nodes_new(fake_nodes *t, int at, int pos) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 64;
        fake_node *x = realloc(t->v, (size_t)cap * sizeof *x);
        if (!x) return -1;
        t->v = x;
        t->cap = cap;
    }
    fake_node *n = &t->v[t->n];
    memset(n, 0, sizeof *n);
    n->live = true;
    n->at = at;
    n->pos = pos;
    return t->n++;
}

static fake_node *nodes_get(fake_nodes *t, int id) {
    return id >= 0 && id < t->n && t->v[id].live ? &t->v[id] : NULL;
}

static void nodes_free(fake_nodes *t) {
    for (int i = 0; i < t->n; i++) free(t->v[i].out);
    free(t->v);
}

static int out_append(fake_node *n, const char *s) {
    size_t have = n->out ? strlen(n->out) : 0, need = have + strlen(s) + 1;
    if (need > n->out_cap) {
        size_t cap = need * 2;
        char *x = realloc(n->out, cap);
        if (!x) return -1;
        if (!n->out) x[0] = 0;
        n->out = x;
        n->out_cap = cap;
    }
    strcat(n->out, s);
    return 0;
}

/* ---- generator ---------------------------------------------------------------- */

typedef struct fake_gen {
    ttc_generator base;
    const fake_tree *t;
    fake_stats *st;
    fake_nodes nodes;
    char **prompts;
    int n_prompts;
    int max_prompt;
} fake_gen;

static int gen_root(ttc_generator *g, const char *prompt, int *node, ttc_err *e) {
    fake_gen *f = (fake_gen *)g;
    if (f->max_prompt > 0 && fake_words(prompt) > f->max_prompt)
        return ttc_err_set(e, TTC_ENOMEM, "fake: prompt of %d words exceeds the context (%d)",
                           fake_words(prompt), f->max_prompt);
    char **p = realloc(f->prompts, (size_t)(f->n_prompts + 1) * sizeof *p);
    if (!p) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
    f->prompts = p;
    if (!(p[f->n_prompts] = strdup(prompt))) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
    f->n_prompts++;
    int w = fake_words(prompt);
    int id = nodes_new(&f->nodes, 0, w);
    if (id < 0) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
    g->usage.calls++;
    g->usage.tokens_prefill += w;
    g->usage.flops += ttc_lm_flops(&g->info, 0, w);
    f->st->roots++;
    f->st->live++;
    f->st->prefill += w;
    *node = id;
    return TTC_OK;
}

static int gen_fork(ttc_generator *g, int src, int *node, ttc_err *e) {
    fake_gen *f = (fake_gen *)g;
    fake_node *s = nodes_get(&f->nodes, src);
    if (!s) return ttc_err_set(e, TTC_EINVAL, "fake: fork of dead node %d", src);
    int id = nodes_new(&f->nodes, s->at, s->pos);
    if (id < 0) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
    f->st->forks++;
    f->st->live++;
    *node = id;
    return TTC_OK;
}

static void gen_release(ttc_generator *g, int node) {
    fake_gen *f = (fake_gen *)g;
    fake_node *n = nodes_get(&f->nodes, node);
    if (!n) return;
    n->live = false;
    free(n->out);
    n->out = NULL;
    n->out_cap = 0;
    f->st->releases++;
    f->st->live--;
}

/* The child of script node `at` to take: greedy or drawn from r. */
static int pick(const fake_tree *t, int at, bool greedy, ttc_rng *r) {
    const fake_step *s = &t->s[at];
    if (s->n_kids == 0) return -1;
    int best = s->kids[0];
    double total = 0;
    for (int i = 0; i < s->n_kids; i++) {
        total += t->s[s->kids[i]].weight;
        if (t->s[s->kids[i]].weight > t->s[best].weight) best = s->kids[i];
    }
    if (greedy) return best;
    double u = ttc_rng_double(r) * total;
    for (int i = 0; i < s->n_kids; i++) {
        u -= t->s[s->kids[i]].weight;
        if (u < 0) return s->kids[i];
    }
    return s->kids[s->n_kids - 1];
}

static int gen_extend(ttc_generator *g, const int *nodes, int n, ttc_extend_mode mode,
                      const ttc_extend_opts *o, ttc_extend_result *res, ttc_err *e) {
    fake_gen *f = (fake_gen *)g;
    bool greedy = o->temperature <= 0;
    if (!greedy && !o->seeds) return ttc_err_set(e, TTC_EINVAL, "fake: sampling without seeds");
    g->usage.calls++;
    f->st->extend_calls++;
    for (int i = 0; i < n; i++) {
        fake_node *nd = nodes_get(&f->nodes, nodes[i]);
        if (!nd) return ttc_err_set(e, TTC_EINVAL, "fake: extend of dead node %d", nodes[i]);
        if (nd->at < 0) return ttc_err_set(e, TTC_EINVAL, "fake: extend of node %d off the script", nodes[i]);
        for (int j = 0; j < i; j++)
            if (nodes[j] == nodes[i]) return ttc_err_set(e, TTC_EINVAL, "fake: node %d twice in a batch", nodes[i]);
    }
    for (int i = 0; i < n; i++) {
        fake_node *nd = nodes_get(&f->nodes, nodes[i]);
        ttc_rng r;
        ttc_rng_seed(&r, o->seeds ? o->seeds[i] : 0);
        if (nd->out) nd->out[0] = 0;
        if (out_append(nd, "")) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
        memset(&res[i], 0, sizeof res[i]);
        f->st->node_extends++;
        for (;;) {
            int k = pick(f->t, nd->at, greedy, &r);
            if (k < 0) { res[i].finished = true; break; }
            const fake_step *s = &f->t->s[k];
            int w = fake_words(s->text);
            if (out_append(nd, s->text)) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
            g->usage.tokens_gen += w;
            g->usage.flops += ttc_lm_flops(&g->info, nd->pos, w);
            nd->pos += w;
            nd->at = k;
            res[i].n_tokens += w;
            f->st->steps++;
            f->st->tokens += w;
            if (s->final) { res[i].finished = true; break; }
            if (mode == TTC_EXTEND_STEP) break;
        }
        res[i].text = nd->out;
        res[i].len = (int)strlen(nd->out);
    }
    return TTC_OK;
}

static void gen_destroy(ttc_generator *g) {
    fake_gen *f = (fake_gen *)g;
    nodes_free(&f->nodes);
    for (int i = 0; i < f->n_prompts; i++) free(f->prompts[i]);
    free(f->prompts);
    free(f);
}

static const ttc_generator_vt fake_gen_vt = {gen_root, gen_fork, gen_release, gen_extend, gen_destroy};

ttc_generator *fake_generator_new(const fake_tree *t, fake_stats *st) {
    fake_gen *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->base.vt = &fake_gen_vt;
    f->base.info = (ttc_lm_info){.n_params = 1000, .n_ctx = 1 << 20, .n_layer = 2, .d_attn = 8};
    strcpy(f->base.info.name, "fake-generator");
    f->t = t;
    f->st = st;
    return &f->base;
}

void fake_generator_set_max_prompt(ttc_generator *g, int max_words) {
    ((fake_gen *)g)->max_prompt = max_words;
}

int fake_generator_n_prompts(const ttc_generator *g) { return ((const fake_gen *)g)->n_prompts; }
const char *fake_generator_prompt(const ttc_generator *g, int i) {
    const fake_gen *f = (const fake_gen *)g;
    return i >= 0 && i < f->n_prompts ? f->prompts[i] : NULL;
}

/* ---- oracle verifier ------------------------------------------------------------ */

typedef struct fake_ver {
    ttc_verifier base;
    const fake_tree *t;
    fake_stats *st;
    fake_nodes nodes;
    char **roots;       /* problems given to root(), in call order */
    int n_roots;
} fake_ver;

static int ver_root(ttc_verifier *v, const char *problem, int *node, ttc_err *e) {
    fake_ver *f = (fake_ver *)v;
    char **r = realloc(f->roots, (size_t)(f->n_roots + 1) * sizeof *r);
    if (!r) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
    f->roots = r;
    if (!(r[f->n_roots] = strdup(problem))) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
    f->n_roots++;
    int w = fake_words(problem);
    int id = nodes_new(&f->nodes, 0, w);
    if (id < 0) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
    v->usage.calls++;
    v->usage.tokens_prefill += w;
    v->usage.flops += ttc_lm_flops(&v->info, 0, w);
    f->st->v_roots++;
    f->st->v_live++;
    f->st->v_tokens += w;
    *node = id;
    return TTC_OK;
}

static int ver_fork(ttc_verifier *v, int src, int *node, ttc_err *e) {
    fake_ver *f = (fake_ver *)v;
    fake_node *s = nodes_get(&f->nodes, src);
    if (!s) return ttc_err_set(e, TTC_EINVAL, "fake: fork of dead verifier node %d", src);
    int id = nodes_new(&f->nodes, s->at, s->pos);
    if (id < 0) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
    f->st->v_forks++;
    f->st->v_live++;
    *node = id;
    return TTC_OK;
}

static void ver_release(ttc_verifier *v, int node) {
    fake_ver *f = (fake_ver *)v;
    fake_node *n = nodes_get(&f->nodes, node);
    if (!n) return;
    n->live = false;
    f->st->v_releases++;
    f->st->v_live--;
}

/* Moves n along one step of text; returns the step's score. */
static float follow(fake_ver *f, fake_node *n, const char *step) {
    int w = fake_words(step) + 1;
    f->base.usage.tokens_prefill += w;
    f->base.usage.flops += ttc_lm_flops(&f->base.info, n->pos, w);
    f->st->v_tokens += w;
    f->st->scored_steps++;
    n->pos += w;
    if (n->at < 0) return 0.0f;
    const fake_step *s = &f->t->s[n->at];
    for (int i = 0; i < s->n_kids; i++)
        if (!strcmp(f->t->s[s->kids[i]].text, step)) {
            n->at = s->kids[i];
            return f->t->s[n->at].score;
        }
    n->at = -1;
    return 0.0f;
}

static int ver_score(ttc_verifier *v, const int *nodes, const char *const *steps, int n,
                     float *scores, ttc_err *e) {
    fake_ver *f = (fake_ver *)v;
    if (v->kind == TTC_VERIFIER_ORM) return ttc_err_set(e, TTC_EUNSUPPORTED, "fake: ORM has no step scores");
    v->usage.calls++;
    f->st->score_calls++;
    for (int i = 0; i < n; i++) {
        fake_node *nd = nodes_get(&f->nodes, nodes[i]);
        if (!nd) return ttc_err_set(e, TTC_EINVAL, "fake: score of dead verifier node %d", nodes[i]);
        scores[i] = follow(f, nd, steps[i]);
    }
    return TTC_OK;
}

static int ver_score_final(ttc_verifier *v, const int *nodes, const char *const *texts, int n,
                           float *scores, ttc_err *e) {
    fake_ver *f = (fake_ver *)v;
    v->usage.calls++;
    f->st->final_calls++;
    for (int i = 0; i < n; i++) {
        fake_node *nd = nodes_get(&f->nodes, nodes[i]);
        if (!nd) return ttc_err_set(e, TTC_EINVAL, "fake: score of dead verifier node %d", nodes[i]);
        const char *p = texts[i];
        float last = nd->at >= 0 ? f->t->s[nd->at].score : 0.0f;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
            char *step = strndup(p, len);
            if (!step) return ttc_err_set(e, TTC_ENOMEM, "fake: out of memory");
            last = follow(f, nd, step);
            free(step);
            p += len;
        }
        scores[i] = last;
    }
    return TTC_OK;
}

int fake_verifier_n_roots(const ttc_verifier *v) { return ((const fake_ver *)v)->n_roots; }
const char *fake_verifier_root(const ttc_verifier *v, int i) {
    const fake_ver *f = (const fake_ver *)v;
    return i >= 0 && i < f->n_roots ? f->roots[i] : NULL;
}

static void ver_destroy(ttc_verifier *v) {
    fake_ver *f = (fake_ver *)v;
    for (int i = 0; i < f->n_roots; i++) free(f->roots[i]);
    free(f->roots);
    nodes_free(&f->nodes);
    free(f);
}

static const ttc_verifier_vt fake_ver_vt = {ver_root, ver_fork, ver_release, ver_score,
                                            ver_score_final, ver_destroy};

ttc_verifier *fake_oracle_new(const fake_tree *t, bool orm, fake_stats *st) {
    fake_ver *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->base.vt = &fake_ver_vt;
    f->base.kind = orm ? TTC_VERIFIER_ORM : TTC_VERIFIER_PRM;
    f->base.info = (ttc_lm_info){.n_params = 500, .n_ctx = 1 << 20, .n_layer = 1, .d_attn = 4};
    strcpy(f->base.info.name, "fake-oracle");
    f->t = t;
    f->st = st;
    return &f->base;
}
