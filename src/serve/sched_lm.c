/* Generator and verifier over the serving scheduler: see sched_lm.h. */
#include "serve/sched_lm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/prompt.h"

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

/* ---- generator ----
 *
 * Step semantics match search/lm_local.h: a step ends at "\n" (kept); a step
 * that would be only whitespace continues to the next "\n"; bytes of the
 * token that crossed the "\n" beyond it are carried to the front of the
 * node's next step, so steps always concatenate to the detokenized
 * solution. */

#define MAX_BLANK_ROUNDS 8

typedef struct sgen {
    ttc_generator   base;
    ttc_sched      *s;
    atomic_int     *cancel;
    int             cap;     /* tokens per extend at most (0: none) */
    ttc_sched_item *items;   /* scratch for one scheduler task */
    int             cap_items;
    char          **out;     /* step texts of the last extend (owned) */
    int             n_out;
    char          **carry;   /* per sequence id: bytes owed to its next step */
    int             n_carry;
} sgen;

static char **carry_slot(sgen *x, int seq) {
    if (seq < 0) return NULL;
    if (seq >= x->n_carry) {
        int n = TTC_MAX(seq + 1, x->n_carry * 2);
        char **c = realloc(x->carry, (size_t)n * sizeof *c);
        if (!c) return NULL;
        memset(c + x->n_carry, 0, (size_t)(n - x->n_carry) * sizeof *c);
        x->carry = c;
        x->n_carry = n;
    }
    return &x->carry[seq];
}

static void carry_drop(sgen *x, int seq) {
    if (seq >= 0 && seq < x->n_carry) { free(x->carry[seq]); x->carry[seq] = NULL; }
}

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
        if (!rc) carry_drop(x, *node);
        g->usage.calls++;
    }
    free(ids);
    return rc;
}

static int gen_fork(ttc_generator *g, int src, int *node, ttc_err *e) {
    sgen *x = (sgen *)g;
    int rc = ttc_sched_seq_fork(x->s, src, node, e);
    if (rc) return rc;
    carry_drop(x, *node);
    const char *c = src >= 0 && src < x->n_carry ? x->carry[src] : NULL;
    char **slot = carry_slot(x, *node);
    if (!slot || (c && !(*slot = strdup(c)))) {
        ttc_sched_seq_free(x->s, *node);
        return ttc_err_set(e, TTC_ENOMEM, "generator: out of memory");
    }
    return TTC_OK;
}

static void gen_release(ttc_generator *g, int node) {
    sgen *x = (sgen *)g;
    carry_drop(x, node);
    ttc_sched_seq_free(x->s, node);
}

bool ttc_sched_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return false;
    return true;
}

static int str_cat(char **dst, size_t *len, const char *src, size_t n) {
    char *b = realloc(*dst, *len + n + 1);
    if (!b) return TTC_ENOMEM;
    memcpy(b + *len, src, n);
    *len += n;
    b[*len] = 0;
    *dst = b;
    return TTC_OK;
}

static int gen_extend(ttc_generator *g, const int *nodes, int n, ttc_extend_mode mode, const ttc_extend_opts *o,
                      ttc_extend_result *res, ttc_err *e) {
    sgen *x = (sgen *)g;
    for (int i = 0; i < x->n_out; i++) free(x->out[i]);
    free(x->out);
    x->out = calloc((size_t)(n ? n : 1), sizeof *x->out);
    x->n_out = x->out ? n : 0;
    size_t *len = calloc((size_t)(n ? n : 1), sizeof *len);
    int *todo = malloc((size_t)(n ? n : 1) * sizeof *todo);
    if (n > x->cap_items) {
        ttc_sched_item *it = realloc(x->items, (size_t)n * sizeof *it);
        if (it) {
            memset(it + x->cap_items, 0, (size_t)(n - x->cap_items) * sizeof *it);
            x->items = it;
            x->cap_items = n;
        }
    }
    if (!x->out || !len || !todo || x->cap_items < n) {
        free(len);
        free(todo);
        return ttc_err_set(e, TTC_ENOMEM, "generator: out of memory for %d nodes", n);
    }
    const ttc_tokenizer *tok = ttc_model_tokenizer(ttc_sched_model(x->s));
    int n_ctx = ttc_sched_n_ctx(x->s), rc = TTC_OK;
    ttc_sample_params sp = {.temperature = o->temperature, .top_p = o->top_p};
    ttc_extend_opts capped = *o;
    if (x->cap > 0 && (capped.max_tokens <= 0 || capped.max_tokens > x->cap)) capped.max_tokens = x->cap;
    o = &capped;
    for (int i = 0; i < n; i++) {
        if (ttc_sched_seq_len(x->s, nodes[i]) < 1) {
            rc = ttc_err_set(e, TTC_EINVAL, "generator: node %d is not live", nodes[i]);
            goto out;
        }
        res[i] = (ttc_extend_result){0};
        /* the step starts with what the last one owed */
        char **c = carry_slot(x, nodes[i]);
        if (c && *c) {
            if (str_cat(&x->out[i], &len[i], *c, strlen(*c))) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto out; }
            free(*c);
            *c = NULL;
        }
        todo[i] = i;
    }
    int n_todo = n;
    for (int round = 0; n_todo > 0 && round < MAX_BLANK_ROUNDS; round++) {
        int64_t pos0[n_todo > 0 ? n_todo : 1];
        for (int k = 0; k < n_todo; k++) {
            int i = todo[k], seq = nodes[i], slen = ttc_sched_seq_len(x->s, seq);
            int room = n_ctx - slen, budget = o->max_tokens > 0 ? o->max_tokens - res[i].n_tokens : room;
            int mt = TTC_MIN(budget, room);
            ttc_sched_item_init(&x->items[k], seq, mt > 0 ? mt : 1, sp, 0);
            ttc_rng_split(&x->items[k].rng, o->seeds ? o->seeds[i] : 0, (uint64_t)round);
            pos0[k] = slen;
        }
        static const char *const step_stop[1] = {"\n"};
        ttc_sched_task t = {.items = x->items, .n_items = n_todo, .cancel = x->cancel};
        if (mode == TTC_EXTEND_STEP) { t.stop = step_stop; t.n_stop = 1; t.include_stop = true; }
        rc = ttc_sched_run(x->s, &t, e);
        g->usage.calls++;
        int n_next = 0;
        for (int k = 0; k < n_todo; k++) {
            ttc_sched_item *it = &x->items[k];
            int i = todo[k];
            g->usage.tokens_prefill += it->n_prefill;
            g->usage.tokens_gen += it->n_tokens;
            g->usage.flops += ttc_lm_flops(&g->info, pos0[k] - 1, it->n_tokens + 1);
            res[i].n_tokens += it->n_tokens;
            res[i].n_prefill += it->n_prefill;
            if (rc) continue;
            if (str_cat(&x->out[i], &len[i], it->text ? it->text : "", it->len)) {
                rc = ttc_err_set(e, TTC_ENOMEM, "generator: out of memory");
                continue;
            }
            if (it->finish == TTC_FINISH_STOP) {
                /* bytes of the last token beyond the "\n" belong to the next step */
                char *full = NULL;
                size_t flen = 0;
                if ((rc = ttc_detokenize(tok, it->tokens, it->n_tokens, 0, &full, &flen, e))) continue;
                if (flen > it->len) {
                    char **c = carry_slot(x, nodes[i]);
                    if (!c || !(*c = strdup(full + it->len))) rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
                }
                free(full);
                if (!rc && ttc_sched_blank(x->out[i], len[i]) && res[i].n_tokens < (o->max_tokens > 0 ? o->max_tokens : n_ctx))
                    todo[n_next++] = i; /* only whitespace so far: keep going */
            } else {
                res[i].finished = true;
                res[i].truncated = it->finish == TTC_FINISH_LENGTH;
            }
        }
        for (int k = 0; k < n_todo; k++) ttc_sched_item_free(&x->items[k]);
        if (rc) goto out;
        if (n_next > 0) {
            /* a blank step continues: its carry goes first into the next round */
            for (int k = 0; k < n_next; k++) {
                int i = todo[k];
                char **c = carry_slot(x, nodes[i]);
                if (c && *c) {
                    if (str_cat(&x->out[i], &len[i], *c, strlen(*c))) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto out; }
                    free(*c);
                    *c = NULL;
                }
            }
        }
        n_todo = n_next;
    }
    for (int i = 0; i < n; i++) {
        if (!x->out[i] && !(x->out[i] = calloc(1, 1))) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto out; }
        res[i].text = x->out[i];
        res[i].len = (int)len[i];
    }
out:
    free(len);
    free(todo);
    return rc;
}

static void gen_destroy(ttc_generator *g) {
    sgen *x = (sgen *)g;
    for (int i = 0; i < x->cap_items; i++) ttc_sched_item_free(&x->items[i]);
    free(x->items);
    for (int i = 0; i < x->n_out; i++) free(x->out[i]);
    free(x->out);
    for (int i = 0; i < x->n_carry; i++) free(x->carry[i]);
    free(x->carry);
    free(x);
}

static const ttc_generator_vt sgen_vt = {gen_root, gen_fork, gen_release, gen_extend, gen_destroy};

int ttc_sched_generator_new(ttc_sched *s, atomic_int *cancel, int max_tokens, ttc_generator **out, ttc_err *e) {
    sgen *x = calloc(1, sizeof *x);
    if (!x) return ttc_err_set(e, TTC_ENOMEM, "generator: out of memory");
    x->base.vt = &sgen_vt;
    fill_info(&x->base.info, s);
    x->s = s;
    x->cancel = cancel;
    x->cap = max_tokens > 0 ? max_tokens : 0;
    *out = &x->base;
    return TTC_OK;
}
