/* The local engine backend: see local.h. */
#include "serve/local.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pool.h"
#include "base/util.h"
#include "data/prompt.h"
#include "model/model.h"
#include "serve/job_search.h"
#include "serve/remote.h"
#include "serve/sched_lm.h"
#include "serve/sched_ver.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"
#include "optimal/policy.h"
#include "search/lm_local.h"
#include "search/prm.h"
#include "gguf/gguf.h"

struct ttc_local {
    ttc_pool     *pool;
    ttc_model    *model, *prm;
    ttc_sched    *gen;
    ttc_sched    *ver;          /* the verifier's scheduler: scoring of all requests batched */
    ttc_sched_prm *vp;          /* its format, resolved once */
    ttc_prm_format fmt;
    ttc_verifier_kind ver_kind;
    ttc_http     *vh;           /* remote verifier, instead of prm */
    ttc_remote_score_method vmethod;
    ttc_chat_kind chat;
    char          model_id[256];
    ttc_serve_policy_fn policy;
    void         *policy_ud;
    ttc_model    *rmodel, *omodel; /* revision model and its ORM (both or neither) */
    ttc_sched    *rgen, *over;
    ttc_sched_prm *ovp;
    ttc_prm_format ofmt;
    ttc_policy    pol;          /* --policy file (optimal/policy.h) */
    bool          has_pol;
    pthread_mutex_t mu;
    ttc_rng       rng;          /* seeds of requests that give none */
};

/* A seed for a request without one. */
static uint64_t fresh_seed(ttc_local *l) {
    pthread_mutex_lock(&l->mu);
    uint64_t s = ttc_rng_u64(&l->rng);
    pthread_mutex_unlock(&l->mu);
    return s;
}

/* Token strings (pieces) of tokens [from, to) of an item and of their
 * top_k alternatives: to - from strings, then (to - from) * top_k (NULL
 * for missing alternatives). Caller frees each and the array; NULL on OOM. */
static char **item_pieces(const ttc_tokenizer *tok, const ttc_sched_item *it, int from, int to, int top_k) {
    size_t nt = (size_t)(to - from), nk = nt * (size_t)top_k;
    char **txt = calloc(nt + nk + 1, sizeof *txt);
    if (!txt) return NULL;
    for (size_t k = 0; k < nt + nk; k++) {
        int32_t id = k < nt ? it->tokens[from + k] : it->top_ids[(size_t)from * top_k + (k - nt)];
        if (id < 0) continue;
        char buf[256];
        int n = ttc_token_to_piece(tok, id, buf, sizeof buf);
        if (n < 0) n = 0;
        if (n >= (int)sizeof buf) n = sizeof buf - 1;
        buf[n] = 0;
        if (!(txt[k] = strdup(buf))) {
            for (size_t q = 0; q < k; q++) free(txt[q]);
            free(txt);
            return NULL;
        }
    }
    return txt;
}

static void pieces_free(char **txt, size_t n) {
    for (size_t k = 0; txt && k < n; k++) free(txt[k]);
    free(txt);
}

/* The logprobs of an item for the full (non-streaming) response. */
static int item_logprobs(ttc_local *l, ttc_job *j, int choice, const ttc_sched_item *it, int top_k, ttc_err *e) {
    size_t nt = (size_t)it->n_tokens, nk = nt * (size_t)top_k;
    char **txt = item_pieces(ttc_model_tokenizer(l->model), it, 0, it->n_tokens, top_k);
    if (!txt) return ttc_err_set(e, TTC_ENOMEM, "logprobs: out of memory");
    int rc = ttc_job_set_logprobs(j, choice, it->n_tokens, (const char *const *)txt, it->logprobs, top_k,
                                  (const char *const *)txt + nt, it->top_lps, e);
    pieces_free(txt, nt + nk);
    return rc;
}

/* Where a plain request's text goes as it is generated. */
typedef struct plain_out {
    ttc_local      *l;
    ttc_job        *j;
    ttc_sched_item *items;
    int            *sent;       /* per item: tokens whose logprobs were streamed */
    int             top_k;
    bool            logprobs;   /* streaming with logprobs: chunks carry them */
} plain_out;

/* Emits text for item i, with the logprobs of its tokens not yet sent. */
static void plain_emit(plain_out *o, int i, const char *text, size_t len) {
    ttc_sched_item *it = &o->items[i];
    int from = o->sent[i], to = it->n_tokens;
    char **txt = o->logprobs && to > from ? item_pieces(ttc_model_tokenizer(o->l->model), it, from, to, o->top_k) : NULL;
    if (!txt) {
        if (len) ttc_job_emit(o->j, i, text, len, NULL);
        return;
    }
    size_t nt = (size_t)(to - from);
    ttc_api_choice lp = {.n_tokens = to - from, .token_text = (const char **)txt, .token_logprob = it->logprobs + from,
                         .top_k = o->top_k, .top_text = (const char **)txt + nt,
                         .top_logprob = it->top_lps + (size_t)from * o->top_k};
    ttc_job_emit_logprobs(o->j, i, text, len, &lp, NULL);
    o->sent[i] = to;
    pieces_free(txt, nt + nt * (size_t)o->top_k);
}

static void on_text(void *ud, int item, const char *delta, size_t len) { plain_emit(ud, item, delta, len); }

/* n independent samples of the prompt, sharing its KV pages. */
static int run_plain(ttc_local *l, ttc_job *j, const ttc_api_req *r, ttc_err *e) {
    const ttc_tokenizer *tok = ttc_model_tokenizer(l->model);
    char *chat_prompt = NULL;
    int rc;
    if (r->kind == TTC_API_CHAT && (rc = ttc_chat_format(l->chat, r->messages, r->n_messages, true, &chat_prompt, e)))
        return rc;
    const char *prompt = chat_prompt ? chat_prompt : r->prompt;
    int32_t *ids = NULL;
    int n_prompt = 0, n_ctx = ttc_sched_n_ctx(l->gen);
    ttc_sched_item *items = NULL;
    int *seqs = NULL, n_seqs = 0, *sent = NULL;
    rc = ttc_tokenize_alloc(tok, prompt, strlen(prompt), ttc_tokenizer_add_bos(tok), true, &ids, &n_prompt, e);
    if (rc) goto done;
    if (n_prompt < 1) { rc = ttc_err_set(e, TTC_EINVAL, "the prompt is empty (and the model adds no BOS)"); goto done; }
    if (n_prompt >= n_ctx) {
        rc = ttc_err_set(e, TTC_EINVAL, "the prompt is %d tokens; this server's context holds %d", n_prompt, n_ctx);
        goto done;
    }
    if (r->echo && r->logprobs) {
        rc = ttc_err_set(e, TTC_EUNSUPPORTED, "'echo' with 'logprobs' (prompt logprobs) is not supported");
        goto done;
    }
    items = calloc((size_t)r->n, sizeof *items);
    seqs = calloc((size_t)r->n, sizeof *seqs);
    sent = calloc((size_t)r->n, sizeof *sent);
    if (!items || !seqs || !sent) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto done; }
    if ((rc = ttc_sched_seq_new(l->gen, ids, n_prompt, &seqs[0], e))) goto done;
    n_seqs = 1;
    ttc_job_started(j);
    if (r->echo)
        for (int i = 0; i < r->n; i++) ttc_job_emit(j, i, prompt, strlen(prompt), NULL);
    if (r->n > 1) {
        /* prefill once, then fork: the prompt's pages are shared by all samples */
        ttc_sched_item_init(&items[0], seqs[0], 0, (ttc_sample_params){0}, 0);
        ttc_sched_task t = {.items = items, .n_items = 1, .cancel = ttc_job_cancel_flag(j)};
        rc = ttc_sched_run(l->gen, &t, e);
        ttc_sched_item_free(&items[0]);
        if (rc) goto done;
        for (; n_seqs < r->n; n_seqs++)
            if ((rc = ttc_sched_seq_fork(l->gen, seqs[0], &seqs[n_seqs], e))) goto done;
    }
    uint64_t seed = r->has_seed ? r->seed : fresh_seed(l);
    ttc_sample_params sp = {.temperature = r->temperature, .top_p = r->top_p};
    int max_tokens = TTC_MIN(r->max_tokens, n_ctx - n_prompt);
    for (int i = 0; i < r->n; i++) {
        ttc_sched_item_init(&items[i], seqs[i], max_tokens, sp, 0);
        ttc_rng_split(&items[i].rng, seed, (uint64_t)i);
        items[i].want_logprobs = r->logprobs;
        items[i].top_logprobs = r->logprobs ? r->top_logprobs : 0;
    }
    plain_out po = {.l = l, .j = j, .items = items, .sent = sent, .top_k = r->logprobs ? r->top_logprobs : 0,
                    .logprobs = r->logprobs && r->stream};
    ttc_sched_task t = {.items = items, .n_items = r->n, .stop = (const char *const *)r->stop, .n_stop = r->n_stop,
                        .include_stop = r->include_stop, .cancel = ttc_job_cancel_flag(j), .on_text = on_text, .ud = &po};
    rc = ttc_sched_run(l->gen, &t, e);
    int64_t completion = 0;
    for (int i = 0; i < r->n; i++) {
        completion += items[i].n_tokens;
        if (rc) continue;
        plain_emit(&po, i, "", 0); /* logprobs of tokens that added no text (EOS, a stop string) */
        ttc_job_finish_choice(j, i, items[i].finish == TTC_FINISH_LENGTH ? "length" : "stop");
        if (r->logprobs && (rc = item_logprobs(l, j, i, &items[i], r->top_logprobs, e))) break;
    }
    ttc_api_usage u = {.prompt_tokens = n_prompt, .completion_tokens = completion};
    ttc_job_set_usage(j, &u);
done:
    for (int i = 0; items && i < r->n; i++) ttc_sched_item_free(&items[i]);
    for (int i = 0; i < n_seqs; i++) ttc_sched_seq_free(l->gen, seqs[i]);
    free(items);
    free(seqs);
    free(sent);
    free(ids);
    free(chat_prompt);
    return rc;
}

/* A test-time compute strategy on the problem of the request. */
static int run_strategy(ttc_local *l, ttc_job *j, const ttc_api_req *r, ttc_err *e) {
    const char *problem = ttc_job_problem(r);
    bool has_prm = l->prm || l->vh;
    ttc_search_params p;
    int rc;
    ttc_search_params_default(&p, ttc_job_method(r->strategy, has_prm), r->budget);
    if (r->strategy == TTC_STRAT_AUTO && l->policy) {
        if ((rc = l->policy(l->policy_ud, problem, r->budget, &p, e))) return ttc_err_wrap(e, "policy: ");
        if (!has_prm && ttc_search_needs_verifier(&p)) ttc_search_params_default(&p, TTC_SEARCH_MAJORITY, r->budget);
    }
    ttc_api_req_search_params(r, &p);
    p.seed = r->has_seed ? r->seed : fresh_seed(l);
    bool use_pol = r->strategy == TTC_STRAT_AUTO && l->has_pol && has_prm;
    bool has_ver = has_prm || (p.method == TTC_SEARCH_REVISE && l->rgen);
    if (ttc_search_needs_verifier(&p) && !has_ver)
        return ttc_err_set(e, TTC_EINVAL, "strategy '%s' needs a verifier; this server has none (start it with --prm)",
                           ttc_search_method_name(p.method));
    if ((rc = ttc_search_params_check(&p, e))) return ttc_err_wrap(e, "ttc: ");

    /* refuse prompts that do not fit before committing to a response */
    char *prompt = ttc_prompt_solve(problem);
    int32_t *ids = NULL;
    int n_prompt = 0;
    if (!prompt) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
    const ttc_tokenizer *tok = ttc_model_tokenizer(l->model);
    rc = ttc_tokenize_alloc(tok, prompt, strlen(prompt), ttc_tokenizer_add_bos(tok), false, &ids, &n_prompt, e);
    free(prompt);
    free(ids);
    if (rc) return rc;
    if (n_prompt >= ttc_sched_n_ctx(l->gen))
        return ttc_err_set(e, TTC_EINVAL, "the problem prompt is %d tokens; this server's context holds %d", n_prompt,
                           ttc_sched_n_ctx(l->gen));

    ttc_job_started(j);
    ttc_generator *gen = NULL, *rgen = NULL; /* rgen, over: the revision pair, when loaded and needed */
    ttc_verifier *ver = NULL, *over = NULL;
    atomic_int *cancel = ttc_job_cancel_flag(j);
    if ((rc = ttc_sched_generator_new(l->gen, cancel, r->max_tokens, &gen, e))) goto done;
    if (l->rgen && (use_pol || p.method == TTC_SEARCH_REVISE) &&
        ((rc = ttc_sched_generator_new(l->rgen, cancel, r->max_tokens, &rgen, e)) ||
         (rc = ttc_sched_verifier_new(l->ovp, cancel, &over, e))))
        goto done;
    if (l->prm && (rc = ttc_sched_verifier_new(l->vp, cancel, &ver, e))) goto done;
    if (l->vh && (rc = ttc_remote_verifier_new(l->vh, NULL, l->ver_kind, l->vmethod, cancel, &ver, e))) goto done;
    rc = ttc_job_search(j, &p, use_pol ? &l->pol : NULL, gen, ver, rgen, over, problem, n_prompt, e);
done:
    ttc_verifier_free(over);
    ttc_generator_free(rgen);
    ttc_verifier_free(ver);
    ttc_generator_free(gen);
    return rc;
}

static int local_run(void *self, ttc_job *j, ttc_err *e) {
    ttc_local *l = self;
    const ttc_api_req *r = ttc_job_req(j);
    return r->strategy == TTC_STRAT_NONE ? run_plain(l, j, r, e) : run_strategy(l, j, r, e);
}

static void local_gauges(void *self, ttc_metrics_gauges *g) {
    ttc_local *l = self;
    ttc_sched_stats st = ttc_sched_get_stats(l->gen);
    g->kv_pages_used = st.kv_pages_used;
    g->kv_pages_total = st.kv_pages_total;
    g->gen_steps = st.steps;
    g->gen_entries = st.entries;
    g->gen_max_tasks_step = st.max_tasks_step;
    if (l->ver) {
        st = ttc_sched_get_stats(l->ver);
        g->kv_pages_used += st.kv_pages_used;
        g->kv_pages_total += st.kv_pages_total;
        g->ver_steps = st.steps;
        g->ver_score_steps = st.score_steps;
        g->ver_scores = st.score_items;
        g->ver_max_tasks_step = st.max_score_tasks_step;
    }
    /* the revision pair's pages count in the KV gauges too */
    ttc_sched *more[2] = {l->rgen, l->over};
    for (int i = 0; i < 2; i++) {
        if (!more[i]) continue;
        st = ttc_sched_get_stats(more[i]);
        g->kv_pages_used += st.kv_pages_used;
        g->kv_pages_total += st.kv_pages_total;
    }
}

static int local_pool(void *self, const char *const *texts, const size_t *lens, int n, atomic_int *cancel,
                      float **rows, int *n_rows, int *n_tokens, int *failed, ttc_err *e) {
    ttc_local *l = self;
    return ttc_sched_prm_pool(l->vp, texts, lens, n, cancel, rows, n_rows, n_tokens, failed, e);
}

ttc_serve_backend ttc_local_backend(ttc_local *l) {
    return (ttc_serve_backend){.self = l, .model_id = l->model_id, .run = local_run, .gauges = local_gauges,
                               .pool = l->vp ? local_pool : NULL};
}

ttc_sched_stats ttc_local_stats(ttc_local *l) { return ttc_sched_get_stats(l->gen); }

ttc_sched_stats ttc_local_verifier_stats(ttc_local *l) {
    return l->ver ? ttc_sched_get_stats(l->ver) : (ttc_sched_stats){0};
}

void ttc_local_set_policy(ttc_local *l, ttc_serve_policy_fn fn, void *ud) {
    l->policy = fn;
    l->policy_ud = ud;
}

int ttc_local_load_policy(ttc_local *l, const char *path, ttc_err *e) {
    int rc = ttc_policy_load(path, &l->pol, e);
    l->has_pol = rc == TTC_OK;
    return rc;
}

int ttc_local_new(const ttc_local_opts *o, ttc_local **out, ttc_err *e) {
    ttc_local *l = calloc(1, sizeof *l);
    if (!l) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    ttc_rng_seed(&l->rng, (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)l);
    int rc = ttc_pool_new(o->threads, &l->pool, e);
    if (rc) goto fail;
    if ((rc = ttc_model_load(o->model_path, NULL, &l->model, e))) goto fail;
    if (!ttc_model_tokenizer(l->model)) {
        rc = ttc_err_set(e, TTC_EINVAL, "%s: the model has no tokenizer; ttc serve needs one", o->model_path);
        goto fail;
    }
    ttc_sched_params sp = {.ctx = {.n_ctx = o->n_ctx, .n_seq_max = o->n_seq_max ? o->n_seq_max : 128,
                                   .kv_tokens = o->kv_tokens, .pool = l->pool}};
    if (!sp.ctx.kv_tokens) {
        int n_ctx = o->n_ctx ? o->n_ctx : TTC_MIN(ttc_model_n_ctx_train(l->model), 4096);
        sp.ctx.kv_tokens = (size_t)n_ctx * 8;
    }
    if ((rc = ttc_sched_new(l->model, &sp, &l->gen, e))) goto fail;
    if (o->prm_path) {
        if ((rc = ttc_model_load(o->prm_path, NULL, &l->prm, e))) goto fail;
        if (!ttc_model_tokenizer(l->prm)) {
            rc = ttc_err_set(e, TTC_EINVAL, "%s: the verifier has no tokenizer", o->prm_path);
            goto fail;
        }
        if ((rc = ttc_prm_format_from_gguf(l->prm->gguf, &l->fmt, e))) { ttc_err_wrap(e, "%s: ", o->prm_path); goto fail; }
        if (o->orm) l->fmt.outcome = true;
        l->ver_kind = l->fmt.outcome ? TTC_VERIFIER_ORM : TTC_VERIFIER_PRM;
        if ((rc = ttc_sched_new(l->prm, &sp, &l->ver, e))) goto fail;
        /* resolve the format's tokens and heads now, so a bad PRM fails at start-up */
        if ((rc = ttc_sched_prm_new(l->ver, &l->fmt, &l->vp, e))) goto fail;
    }
    if (!o->revision_path != !o->orm_path) {
        rc = ttc_err_set(e, TTC_EINVAL, "a revision model needs its outcome verifier and the other way round "
                         "(give both --revision-model and --orm)");
        goto fail;
    }
    if (o->revision_path) {
        /* each with its own context and KV pool: the revision model reads
         * earlier attempts, so it usually has a longer context */
        if ((rc = ttc_model_load(o->revision_path, NULL, &l->rmodel, e))) goto fail;
        if ((rc = ttc_model_load(o->orm_path, NULL, &l->omodel, e))) goto fail;
        if (!ttc_model_tokenizer(l->rmodel) || !ttc_model_tokenizer(l->omodel)) {
            rc = ttc_err_set(e, TTC_EINVAL, "%s: the model has no tokenizer",
                             ttc_model_tokenizer(l->rmodel) ? o->orm_path : o->revision_path);
            goto fail;
        }
        if ((rc = ttc_prm_format_from_gguf(l->omodel->gguf, &l->ofmt, e))) { ttc_err_wrap(e, "%s: ", o->orm_path); goto fail; }
        l->ofmt.outcome = true;
        ttc_sched_params rp = sp;
        if (!o->kv_tokens) {
            int n_ctx = o->n_ctx ? o->n_ctx : TTC_MIN(TTC_MAX(ttc_model_n_ctx_train(l->rmodel),
                                                               ttc_model_n_ctx_train(l->omodel)), 4096);
            rp.ctx.kv_tokens = (size_t)n_ctx * 8;
        }
        if ((rc = ttc_sched_new(l->rmodel, &rp, &l->rgen, e))) goto fail;
        if ((rc = ttc_sched_new(l->omodel, &rp, &l->over, e))) goto fail;
        if ((rc = ttc_sched_prm_new(l->over, &l->ofmt, &l->ovp, e))) { ttc_err_wrap(e, "%s: ", o->orm_path); goto fail; }
    }
    l->chat = ttc_chat_detect(ttc_tokenizer_chat_template(ttc_model_tokenizer(l->model)));
    if (o->model_id) {
        snprintf(l->model_id, sizeof l->model_id, "%s", o->model_id);
    } else {
        const char *b = strrchr(o->model_path, '/');
        snprintf(l->model_id, sizeof l->model_id, "%s", b ? b + 1 : o->model_path);
        size_t n = strlen(l->model_id);
        if (n > 5 && !strcmp(l->model_id + n - 5, ".gguf")) l->model_id[n - 5] = 0;
    }
    if (o->policy_path && (rc = ttc_local_load_policy(l, o->policy_path, e))) goto fail;
    *out = l;
    return TTC_OK;
fail:
    ttc_local_free(l);
    return rc;
}

int ttc_local_set_remote_verifier(ttc_local *l, const char *url, bool orm, ttc_err *e) {
    if (l->prm) return ttc_err_set(e, TTC_EINVAL, "a local verifier is loaded already");
    ttc_http_opts ho = {.base_url = ttc_remote_score_url(url, &l->vmethod)};
    l->ver_kind = orm ? TTC_VERIFIER_ORM : TTC_VERIFIER_PRM;
    ttc_http_free(l->vh);
    l->vh = NULL;
    return ttc_http_new(&ho, &l->vh, e);
}

void ttc_local_free(ttc_local *l) {
    if (!l) return;
    ttc_http_free(l->vh);
    ttc_sched_free(l->gen);
    ttc_sched_prm_free(l->vp);
    ttc_sched_free(l->ver);
    ttc_sched_free(l->rgen);
    ttc_sched_prm_free(l->ovp);
    ttc_sched_free(l->over);
    ttc_model_free(l->model);
    ttc_model_free(l->prm);
    ttc_model_free(l->rmodel);
    ttc_model_free(l->omodel);
    ttc_pool_free(l->pool);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
