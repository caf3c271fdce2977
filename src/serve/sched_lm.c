/* Generator and verifier over the serving scheduler: see sched_lm.h. */
#include "serve/sched_lm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/prompt.h"
#include "train/prm.h"

static void fill_info(ttc_lm_info *info, const ttc_sched *s) {
    const ttc_model *m = ttc_sched_model(s);
    info->n_params = ttc_model_n_params(m);
    info->n_ctx = ttc_sched_n_ctx(s);
    info->n_layer = m->cfg.n_layer;
    info->d_attn = m->cfg.n_head * m->cfg.head_dim;
    const char *slash = strrchr(m->path, '/');
    snprintf(info->name, sizeof info->name, "%.127s", slash ? slash + 1 : m->path);
}

/* Tokenizes text (BOS per the vocabulary when bos) into a fresh array. */
static int encode(const ttc_sched *s, const char *text, bool bos, int32_t **ids, int *n, ttc_err *e) {
    const ttc_tokenizer *tok = ttc_model_tokenizer(ttc_sched_model(s));
    return ttc_tokenize_alloc(tok, text, strlen(text), bos && ttc_tokenizer_add_bos(tok), false, ids, n, e);
}

/* ---- generator ---- */

typedef struct sgen {
    ttc_generator   base;
    ttc_sched      *s;
    atomic_int     *cancel;
    ttc_sched_item *items;   /* of the last extend: texts live here */
    int             n_items, cap_items;
} sgen;

static int gen_root(ttc_generator *g, const char *prompt, int *node, ttc_err *e) {
    sgen *x = (sgen *)g;
    int32_t *ids;
    int n;
    int rc = encode(x->s, prompt, true, &ids, &n, e);
    if (rc) return rc;
    if (n < 1 || n >= ttc_sched_n_ctx(x->s)) {
        rc = ttc_err_set(e, TTC_EINVAL, "prompt is %d tokens; the context holds %d", n, ttc_sched_n_ctx(x->s));
    } else {
        rc = ttc_sched_seq_new(x->s, ids, n, node, e);
        g->usage.calls++;
    }
    free(ids);
    return rc;
}

static int gen_fork(ttc_generator *g, int src, int *node, ttc_err *e) {
    return ttc_sched_seq_fork(((sgen *)g)->s, src, node, e);
}

static void gen_release(ttc_generator *g, int node) { ttc_sched_seq_free(((sgen *)g)->s, node); }

static int gen_extend(ttc_generator *g, const int *nodes, int n, ttc_extend_mode mode, const ttc_extend_opts *o,
                      ttc_extend_result *res, ttc_err *e) {
    sgen *x = (sgen *)g;
    for (int i = 0; i < x->n_items; i++) ttc_sched_item_free(&x->items[i]);
    x->n_items = 0;
    if (n > x->cap_items) {
        ttc_sched_item *it = realloc(x->items, (size_t)n * sizeof *it);
        if (!it) return ttc_err_set(e, TTC_ENOMEM, "generator: out of memory for %d nodes", n);
        memset(it + x->cap_items, 0, (size_t)(n - x->cap_items) * sizeof *it);
        x->items = it;
        x->cap_items = n;
    }
    int n_ctx = ttc_sched_n_ctx(x->s);
    int64_t *pos0 = malloc((size_t)(n ? n : 1) * sizeof *pos0);
    if (!pos0) return ttc_err_set(e, TTC_ENOMEM, "generator: out of memory");
    ttc_sample_params sp = {.temperature = o->temperature, .top_p = o->top_p};
    for (int i = 0; i < n; i++) {
        int len = ttc_sched_seq_len(x->s, nodes[i]);
        if (len < 1) { free(pos0); return ttc_err_set(e, TTC_EINVAL, "generator: node %d is not live", nodes[i]); }
        int room = n_ctx - len;
        int mt = o->max_tokens > 0 ? TTC_MIN(o->max_tokens, room) : room;
        ttc_sched_item_init(&x->items[i], nodes[i], mt > 0 ? mt : 1, sp, o->seeds ? o->seeds[i] : 0);
        pos0[i] = len;
    }
    x->n_items = n;
    static const char *const step_stop[1] = {"\n"};
    ttc_sched_task t = {.items = x->items, .n_items = n, .cancel = x->cancel};
    if (mode == TTC_EXTEND_STEP) { t.stop = step_stop; t.n_stop = 1; t.include_stop = true; }
    int rc = ttc_sched_run(x->s, &t, e);
    g->usage.calls++;
    for (int i = 0; i < n; i++) {
        ttc_sched_item *it = &x->items[i];
        g->usage.tokens_prefill += it->n_prefill;
        g->usage.tokens_gen += it->n_tokens;
        g->usage.flops += ttc_lm_flops(&g->info, pos0[i] - 1, it->n_tokens + 1);
        res[i] = (ttc_extend_result){.text = it->text ? it->text : "", .len = (int)it->len,
                                     .n_tokens = it->n_tokens, .n_prefill = it->n_prefill,
                                     .finished = it->finish == TTC_FINISH_EOS || it->finish == TTC_FINISH_LENGTH,
                                     .truncated = it->finish == TTC_FINISH_LENGTH};
    }
    free(pos0);
    return rc;
}

static void gen_destroy(ttc_generator *g) {
    sgen *x = (sgen *)g;
    for (int i = 0; i < x->cap_items; i++) ttc_sched_item_free(&x->items[i]);
    free(x->items);
    free(x);
}

static const ttc_generator_vt sgen_vt = {gen_root, gen_fork, gen_release, gen_extend, gen_destroy};

int ttc_sched_generator_new(ttc_sched *s, atomic_int *cancel, ttc_generator **out, ttc_err *e) {
    sgen *x = calloc(1, sizeof *x);
    if (!x) return ttc_err_set(e, TTC_ENOMEM, "generator: out of memory");
    x->base.vt = &sgen_vt;
    fill_info(&x->base.info, s);
    x->s = s;
    x->cancel = cancel;
    *out = &x->base;
    return TTC_OK;
}

/* ---- verifier ---- */

typedef struct sver {
    ttc_verifier base;
    ttc_sched   *s;
    atomic_int  *cancel;
    int32_t      tag, good, bad;
} sver;

static int ver_root(ttc_verifier *v, const char *problem, int *node, ttc_err *e) {
    sver *x = (sver *)v;
    char *prompt = ttc_prompt_solve(problem);
    if (!prompt) return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    int32_t *ids;
    int n;
    int rc = encode(x->s, prompt, true, &ids, &n, e);
    free(prompt);
    if (rc) return rc;
    rc = n < 1 ? ttc_err_set(e, TTC_EINVAL, "verifier: empty problem prompt") : ttc_sched_seq_new(x->s, ids, n, node, e);
    free(ids);
    v->usage.calls++;
    return rc;
}

static int ver_fork(ttc_verifier *v, int src, int *node, ttc_err *e) {
    return ttc_sched_seq_fork(((sver *)v)->s, src, node, e);
}

static void ver_release(ttc_verifier *v, int node) { ttc_sched_seq_free(((sver *)v)->s, node); }

/* Appends texts[i] (if not empty) and the tag to nodes[i], scores them all
 * in one scheduler task. */
static int ver_run(ttc_verifier *v, const int *nodes, const char *const *texts, int n, float *scores, ttc_err *e) {
    sver *x = (sver *)v;
    ttc_sched_item *items = calloc((size_t)(n ? n : 1), sizeof *items);
    int64_t *pos0 = malloc((size_t)(n ? n : 1) * sizeof *pos0);
    int rc = items && pos0 ? TTC_OK : ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    for (int i = 0; i < n && !rc; i++) {
        int32_t *ids = NULL;
        int nt = 0;
        pos0[i] = ttc_sched_seq_len(x->s, nodes[i]);
        if (texts[i][0]) rc = encode(x->s, texts[i], false, &ids, &nt, e);
        if (!rc && nt) rc = ttc_sched_seq_append(x->s, nodes[i], ids, nt, e);
        if (!rc) rc = ttc_sched_seq_append(x->s, nodes[i], &x->tag, 1, e);
        free(ids);
        ttc_sched_item_init(&items[i], nodes[i], 0, (ttc_sample_params){0}, 0);
        items[i].score = true;
        items[i].score_ids[0] = x->good;
        items[i].score_ids[1] = x->bad;
    }
    if (!rc) {
        ttc_sched_task t = {.items = items, .n_items = n, .cancel = x->cancel};
        rc = ttc_sched_run(x->s, &t, e);
    }
    v->usage.calls++;
    for (int i = 0; i < n && items; i++) {
        if (!rc) scores[i] = 1.0f / (1.0f + expf(items[i].score_logits[1] - items[i].score_logits[0]));
        v->usage.tokens_prefill += items[i].n_prefill;
        v->usage.flops += ttc_lm_flops(&v->info, pos0[i], items[i].n_prefill);
        ttc_sched_item_free(&items[i]);
    }
    free(items);
    free(pos0);
    return rc;
}

static int ver_score(ttc_verifier *v, const int *nodes, const char *const *steps, int n, float *scores, ttc_err *e) {
    if (v->kind == TTC_VERIFIER_ORM)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "verifier: an outcome verifier cannot score single steps");
    for (int i = 0; i < n; i++)
        if (!steps[i][0]) return ttc_err_set(e, TTC_EINVAL, "verifier: step %d is empty", i);
    return ver_run(v, nodes, steps, n, scores, e);
}

static int ver_score_final(ttc_verifier *v, const int *nodes, const char *const *texts, int n, float *scores,
                           ttc_err *e) {
    if (v->kind == TTC_VERIFIER_PRM)
        for (int i = 0; i < n; i++)
            if (!texts[i][0]) return ttc_err_set(e, TTC_EINVAL, "verifier: final text %d is empty", i);
    return ver_run(v, nodes, texts, n, scores, e);
}

static void ver_destroy(ttc_verifier *v) { free(v); }

static const ttc_verifier_vt sver_vt = {ver_root, ver_fork, ver_release, ver_score, ver_score_final, ver_destroy};

int ttc_sched_verifier_new(ttc_sched *s, ttc_verifier_kind kind, atomic_int *cancel, ttc_verifier **out,
                           ttc_err *e) {
    int32_t tag, good, bad;
    int rc = ttc_prm_tokens(ttc_model_tokenizer(ttc_sched_model(s)), &tag, &good, &bad, e);
    if (rc) return ttc_err_wrap(e, "verifier %s: ", ttc_sched_model(s)->path);
    sver *x = calloc(1, sizeof *x);
    if (!x) return ttc_err_set(e, TTC_ENOMEM, "verifier: out of memory");
    x->base.vt = &sver_vt;
    x->base.kind = kind;
    fill_info(&x->base.info, s);
    x->s = s;
    x->cancel = cancel;
    x->tag = tag;
    x->good = good;
    x->bad = bad;
    *out = &x->base;
    return TTC_OK;
}
