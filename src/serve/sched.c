/* Continuous-batching scheduler: see sched.h. */
#include "serve/sched.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct ttc_sched {
    const ttc_model     *m;
    const ttc_tokenizer *tok;
    ttc_ctx             *c;
    pthread_t            th;
    bool                 started;
    pthread_mutex_t      ctx_mu;    /* the context and the running tasks */
    atomic_int           waiting;   /* client threads queued on ctx_mu */
    pthread_mutex_t      mu;        /* incoming tasks, done flags, stop */
    pthread_cond_t       work, done;
    ttc_sched_task      *incoming;  /* submitted, not yet running (mu) */
    ttc_sched_task      *tasks;     /* running, in arrival order (ctx_mu) */
    ttc_sched_task      *finished;  /* ended this step, to be signalled (ctx_mu) */
    bool                 stop;
    int                  n_batch;
    ttc_batch_entry     *entries;   /* n_batch */
    struct out_ref {
        ttc_sched_task *t;
        int item, entry;
        int rc;              /* sampling result, filled in parallel */
        ttc_sample_out so;
    } *outs;
    ttc_sampler         *samplers;  /* one per pool thread */
    int                  n_samplers;
    ttc_sched_stats      stats;
};

const ttc_model *ttc_sched_model(const ttc_sched *s) { return s->m; }
int ttc_sched_n_ctx(const ttc_sched *s) { return ttc_ctx_n_ctx(s->c); }
int ttc_sched_n_seq_max(const ttc_sched *s) { return ttc_ctx_n_seq_max(s->c); }

void ttc_sched_item_init(ttc_sched_item *it, int seq, int max_tokens, ttc_sample_params sp, uint64_t seed) {
    memset(it, 0, sizeof *it);
    it->seq = seq;
    it->max_tokens = max_tokens;
    it->sp = sp;
    ttc_rng_seed(&it->rng, seed);
}

void ttc_sched_item_free(ttc_sched_item *it) {
    free(it->tokens); free(it->logprobs); free(it->top_ids); free(it->top_lps); free(it->text);
    ttc_detok_free(&it->dt);
    it->tokens = NULL; it->logprobs = NULL; it->top_ids = NULL; it->top_lps = NULL; it->text = NULL;
    memset(&it->dt, 0, sizeof it->dt);
    it->n_tokens = 0;
    it->len = it->cap = it->emitted = 0;
}

/* Client side of ctx_mu: counted, so the scheduler steps aside between
 * decode steps instead of starving the caller. */
static void ctx_lock(ttc_sched *s) {
    atomic_fetch_add(&s->waiting, 1);
    pthread_mutex_lock(&s->ctx_mu);
    atomic_fetch_sub(&s->waiting, 1);
}
static void ctx_unlock(ttc_sched *s) { pthread_mutex_unlock(&s->ctx_mu); }

/* ---- sequences ---- */

int ttc_sched_seq_new(ttc_sched *s, const int32_t *ids, int n, int *seq, ttc_err *e) {
    if (n < 1) return ttc_err_set(e, TTC_EINVAL, "sched: a sequence needs at least one token");
    ctx_lock(s);
    int rc = ttc_seq_new(s->c, seq, e);
    if (!rc && (rc = ttc_seq_append_tokens(s->c, *seq, ids, n, e))) ttc_seq_free(s->c, *seq);
    if (!rc) s->stats.live_seqs++;
    ctx_unlock(s);
    return rc;
}

int ttc_sched_seq_fork(ttc_sched *s, int src, int *seq, ttc_err *e) {
    ctx_lock(s);
    int rc = ttc_seq_fork(s->c, src, seq, e);
    if (!rc) s->stats.live_seqs++;
    ctx_unlock(s);
    return rc;
}

int ttc_sched_seq_append(ttc_sched *s, int seq, const int32_t *ids, int n, ttc_err *e) {
    ctx_lock(s);
    int rc = ttc_seq_append_tokens(s->c, seq, ids, n, e);
    ctx_unlock(s);
    return rc;
}

void ttc_sched_seq_free(ttc_sched *s, int seq) {
    ctx_lock(s);
    if (ttc_seq_valid(s->c, seq)) {
        ttc_seq_free(s->c, seq);
        s->stats.live_seqs--;
    }
    ctx_unlock(s);
}

int ttc_sched_seq_len(ttc_sched *s, int seq) {
    ctx_lock(s);
    int n = ttc_seq_len(s->c, seq);
    ctx_unlock(s);
    return n;
}

int ttc_sched_seq_tokens(ttc_sched *s, int seq, int32_t *out, int cap) {
    ctx_lock(s);
    int n = ttc_seq_len(s->c, seq);
    if (n > 0) memcpy(out, ttc_seq_tokens(s->c, seq), (size_t)TTC_MIN(n, cap) * sizeof *out);
    ctx_unlock(s);
    return n;
}

ttc_sched_stats ttc_sched_get_stats(ttc_sched *s) {
    ctx_lock(s);
    ttc_sched_stats st = s->stats;
    const ttc_kv *kv = ttc_ctx_kv(s->c);
    st.kv_pages_used = ttc_kv_pages_used(kv);
    st.kv_pages_total = kv->n_pages;
    ctx_unlock(s);
    return st;
}

/* ---- the step loop (ctx_mu held) ---- */

/* Moves t from the running list to the finished list with its result. */
static void task_finish(ttc_sched *s, ttc_sched_task *t, int rc, const ttc_err *err) {
    bool found = false;
    for (ttc_sched_task **p = &s->tasks; *p; p = &(*p)->next)
        if (*p == t) { *p = t->next; found = true; break; }
    if (!found) return; /* finished already */
    t->rc = rc;
    if (rc && err) t->err = *err;
    t->next = s->finished;
    s->finished = t;
}

/* Wakes the owners of the finished tasks (ctx_mu held, takes mu). */
static void signal_finished(ttc_sched *s) {
    if (!s->finished) return;
    pthread_mutex_lock(&s->mu);
    for (ttc_sched_task *t = s->finished, *nx; t; t = nx) {
        nx = t->next;
        t->done = true;
    }
    s->finished = NULL;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
}

static bool task_is_running(const ttc_sched *s, const ttc_sched_task *t) {
    for (const ttc_sched_task *x = s->tasks; x; x = x->next)
        if (x == t) return true;
    return false;
}

static int text_put(ttc_sched_item *it, const char *p, size_t n) {
    if (it->len + n + 1 > it->cap) {
        size_t cap = it->cap ? it->cap : 256;
        while (cap < it->len + n + 1) cap *= 2;
        char *b = realloc(it->text, cap);
        if (!b) return TTC_ENOMEM;
        it->text = b;
        it->cap = cap;
    }
    memcpy(it->text + it->len, p, n);
    it->len += n;
    it->text[it->len] = 0;
    return TTC_OK;
}

/* Cuts the text at the first stop string that starts at or after `from`;
 * true on a match. */
static bool cut_stop(const ttc_sched_task *t, ttc_sched_item *it, size_t from) {
    size_t best = (size_t)-1, blen = 0;
    for (int k = 0; k < t->n_stop; k++) {
        const char *hit = memmem(it->text + from, it->len - from, t->stop[k], strlen(t->stop[k]));
        if (hit && (size_t)(hit - it->text) < best) { best = (size_t)(hit - it->text); blen = strlen(t->stop[k]); }
    }
    if (best == (size_t)-1) return false;
    it->len = best + (t->include_stop ? blen : 0);
    it->text[it->len] = 0;
    return true;
}

/* Bytes at the end of the text that could still grow into a stop string. */
static size_t hold_back(const ttc_sched_task *t, const ttc_sched_item *it) {
    size_t held = 0;
    for (int k = 0; k < t->n_stop; k++) {
        size_t sl = strlen(t->stop[k]);
        for (size_t n = TTC_MIN(sl - 1, it->len - it->emitted); n > held; n--)
            if (!memcmp(it->text + it->len - n, t->stop[k], n)) { held = n; break; }
    }
    return held;
}

static void stream_out(ttc_sched_task *t, int i) {
    ttc_sched_item *it = &t->items[i];
    size_t upto = it->finish ? it->len : it->len - hold_back(t, it);
    if (upto < it->emitted) upto = it->emitted;
    if (t->on_text && upto > it->emitted) t->on_text(t->ud, i, it->text + it->emitted, upto - it->emitted);
    it->emitted = upto;
}

/* The k most likely tokens of logits and their log-probabilities. */
static void top_logprobs(const float *logits, int n_vocab, int k, int32_t *ids, float *lps) {
    float mx = -INFINITY;
    for (int v = 0; v < n_vocab; v++) mx = logits[v] > mx ? logits[v] : mx;
    double sum = 0;
    for (int v = 0; v < n_vocab; v++) sum += exp((double)(logits[v] - mx));
    float lse = mx + (float)log(sum);
    for (int j = 0; j < k; j++) { ids[j] = -1; lps[j] = -INFINITY; }
    for (int v = 0; v < n_vocab; v++) {
        float x = logits[v];
        if (x <= lps[k - 1]) continue;
        int j = k - 1;
        while (j > 0 && lps[j - 1] < x) { lps[j] = lps[j - 1]; ids[j] = ids[j - 1]; j--; }
        lps[j] = x;
        ids[j] = v;
    }
    for (int j = 0; j < k; j++) lps[j] -= lse;
}

/* Pool task: samples output k of the last decode (each item owns its rng,
 * each thread its sampler, so outputs are independent). */
static void sample_task(void *ctx, int k, int n, int thread) {
    ttc_sched *s = ctx;
    struct out_ref *o = &s->outs[k];
    ttc_sched_item *it = &o->t->items[o->item];
    o->rc = TTC_OK;
    if (it->finish || it->score) return;
    const float *logits = ttc_logits(s->c, o->entry);
    ttc_sampler *sm = &s->samplers[thread < s->n_samplers ? thread : 0];
    o->rc = ttc_sample(sm, logits, &it->sp, &it->rng, &o->so, NULL);
    if (!o->rc && it->want_logprobs && it->top_logprobs > 0) {
        int at = it->n_tokens;
        top_logprobs(logits, sm->n_vocab, it->top_logprobs, it->top_ids + (size_t)at * it->top_logprobs,
                     it->top_lps + (size_t)at * it->top_logprobs);
    }
}

/* Takes the token sampled for item i of t; finishes it when done. */
static int take_token(ttc_sched *s, ttc_sched_task *t, int i, const ttc_sample_out *sampled, ttc_err *e) {
    ttc_sched_item *it = &t->items[i];
    ttc_sample_out so = *sampled;
    int rc;
    int k = it->n_tokens++;
    it->tokens[k] = so.token;
    if (it->want_logprobs) it->logprobs[k] = so.logprob;
    if ((rc = ttc_seq_append_tokens(s->c, it->seq, &so.token, 1, e))) return rc;
    const char *piece;
    int n;
    if (ttc_tokenizer_is_eog(s->tok, so.token)) {
        n = ttc_detok_flush(&it->dt, &piece);
        if (n > 0 && text_put(it, piece, (size_t)n)) return ttc_err_set(e, TTC_ENOMEM, "sched: out of memory");
        it->finish = t->n_stop && cut_stop(t, it, it->emitted) ? TTC_FINISH_STOP
                                                                                              : TTC_FINISH_EOS;
    } else {
        n = ttc_detok_push(&it->dt, so.token, &piece);
        if (n < 0) return ttc_err_set(e, TTC_EINVAL, "sched: sampled token %d is outside the vocabulary", so.token);
        if (n > 0 && text_put(it, piece, (size_t)n)) return ttc_err_set(e, TTC_ENOMEM, "sched: out of memory");
        if (t->n_stop && n > 0 && cut_stop(t, it, it->emitted)) {
            it->finish = TTC_FINISH_STOP;
        } else if (it->n_tokens >= it->max_tokens || ttc_seq_len(s->c, it->seq) >= ttc_ctx_n_ctx(s->c)) {
            n = ttc_detok_flush(&it->dt, &piece);
            if (n > 0 && text_put(it, piece, (size_t)n)) return ttc_err_set(e, TTC_ENOMEM, "sched: out of memory");
            it->finish = t->n_stop && cut_stop(t, it, it->emitted) ? TTC_FINISH_STOP : TTC_FINISH_LENGTH;
        }
    }
    stream_out(t, i);
    if (it->finish) t->n_open--;
    return TTC_OK;
}

/* Builds one batch over every running task; returns the entry count. */
static int build_batch(ttc_sched *s, int *n_outs, int *n_tasks) {
    int n = 0, no = 0, nt = 0;
    /* decoding sequences first: one entry each */
    for (ttc_sched_task *t = s->tasks; t; t = t->next) {
        bool any = false;
        for (int i = 0; i < t->n_items; i++) {
            ttc_sched_item *it = &t->items[i];
            if (it->finish || it->max_tokens == 0 || it->score) continue;
            int len = ttc_seq_len(s->c, it->seq);
            if (len - ttc_seq_n_cached(s->c, it->seq) != 1) continue;
            if (n == s->n_batch) break;
            s->entries[n] = (ttc_batch_entry){.seq = it->seq, .token = ttc_seq_tokens(s->c, it->seq)[len - 1],
                                              .want_logits = true};
            s->outs[no++] = (struct out_ref){t, i, n};
            n++;
            any = true;
        }
        nt += any;
    }
    /* then prompt chunks of sequences still prefilling, and of score items
     * (these want the outputs at their last token, not a sample) */
    for (ttc_sched_task *t = s->tasks; t && n < s->n_batch; t = t->next) {
        bool any = false;
        for (int i = 0; i < t->n_items && n < s->n_batch; i++) {
            ttc_sched_item *it = &t->items[i];
            if (it->finish) continue;
            int len = ttc_seq_len(s->c, it->seq), cached = ttc_seq_n_cached(s->c, it->seq);
            int goal = it->max_tokens == 0 && !it->score ? len - 1 : len;
            if (it->score ? len - cached < 1 : len - cached <= 1 && it->max_tokens > 0) continue;
            int k = TTC_MIN(goal - cached, s->n_batch - n);
            const int32_t *toks = ttc_seq_tokens(s->c, it->seq);
            for (int p = cached; p < cached + k; p++) {
                bool last = p == len - 1;
                s->entries[n] = (ttc_batch_entry){.seq = it->seq, .token = toks[p], .want_logits = last};
                if (last && it->score) {
                    s->entries[n].want_logits = t->score_logits || !t->score_hidden;
                    s->entries[n].want_hidden = t->score_hidden;
                }
                if (last) s->outs[no++] = (struct out_ref){t, i, n};
                n++;
            }
            it->n_prefill += k;
            any = any || k > 0;
        }
        nt += any;
    }
    *n_outs = no;
    *n_tasks = nt;
    return n;
}

static void *sched_main(void *arg) {
    ttc_sched *s = arg;
    for (;;) {
        /* take in new tasks; sleep while there is nothing to do */
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->incoming && !s->tasks) pthread_cond_wait(&s->work, &s->mu);
        bool stop = s->stop;
        ttc_sched_task *in = s->incoming;
        s->incoming = NULL;
        pthread_mutex_unlock(&s->mu);

        pthread_mutex_lock(&s->ctx_mu);
        ttc_sched_task **tail = &s->tasks;
        while (*tail) tail = &(*tail)->next;
        *tail = in;
        ttc_err e = {0};
        if (stop) {
            ttc_err_set(&e, TTC_ECANCELED, "sched: the scheduler is stopping");
            while (s->tasks) task_finish(s, s->tasks, TTC_ECANCELED, &e);
            signal_finished(s);
            pthread_mutex_unlock(&s->ctx_mu);
            break;
        }
        for (ttc_sched_task *t = s->tasks, *nx; t; t = nx) {
            nx = t->next;
            if (t->cancel && atomic_load(t->cancel)) {
                ttc_err_set(&e, TTC_ECANCELED, "sched: task canceled");
                task_finish(s, t, TTC_ECANCELED, &e);
            }
        }
        int n_outs, n_tasks;
        int n = build_batch(s, &n_outs, &n_tasks);
        int rc = n > 0 ? ttc_decode(s->c, s->entries, n, &e) : TTC_OK;
        if (rc) {
            /* typically the KV pool is full: fail the newest task, let the others go on */
            ttc_sched_task *last = s->tasks;
            while (last && last->next) last = last->next;
            ttc_err_wrap(&e, "sched: decode of %d entries over %d tasks: ", n, n_tasks);
            task_finish(s, last, rc, &e);
        } else if (n > 0) {
            s->stats.steps++;
            s->stats.entries += n;
            if (n_tasks > s->stats.max_tasks_step) s->stats.max_tasks_step = n_tasks;
            if (n_outs > s->stats.max_seqs_step) s->stats.max_seqs_step = n_outs;
            for (int k = 0; k < n_outs; k++)
                if (!task_is_running(s, s->outs[k].t)) s->outs[k].t = NULL;
            int n_live = 0;
            for (int k = 0; k < n_outs; k++)
                if (s->outs[k].t) s->outs[n_live++] = s->outs[k];
            n_outs = n_live;
            ttc_pool_run(ttc_ctx_pool(s->c), sample_task, s, n_outs);
            int n_score_tasks = 0;
            for (int k = 0; k < n_outs; k++) {
                struct out_ref *o = &s->outs[k];
                if (!task_is_running(s, o->t)) continue;
                ttc_sched_item *it = &o->t->items[o->item];
                if (it->score) {
                    if (it->finish) continue;
                    /* a task counts once per step: its first score output here */
                    bool first = true;
                    for (int q = 0; q < k && first; q++)
                        if (s->outs[q].t == o->t && o->t->items[s->outs[q].item].score) first = false;
                    n_score_tasks += first;
                    if (o->t->on_score)
                        o->t->on_score(o->t->ud, o->item, ttc_logits(s->c, o->entry), ttc_hidden(s->c, o->entry));
                    it->finish = TTC_FINISH_LENGTH;
                    o->t->n_open--;
                    s->stats.score_items++;
                    continue;
                }
                if (o->rc) {
                    ttc_err_set(&e, o->rc, "sched: sampling failed (%s: NaN or no finite logit)", ttc_strerror(o->rc));
                    task_finish(s, o->t, o->rc, &e);
                } else if ((rc = take_token(s, o->t, o->item, &o->so, &e))) {
                    task_finish(s, o->t, rc, &e);
                }
            }
            if (n_score_tasks > 0) s->stats.score_steps++;
            if (n_score_tasks > s->stats.max_score_tasks_step) s->stats.max_score_tasks_step = n_score_tasks;
        }
        /* prefill-only items whose prompt is in; tasks with nothing open */
        for (ttc_sched_task *t = s->tasks, *nx; t; t = nx) {
            nx = t->next;
            for (int i = 0; i < t->n_items; i++) {
                ttc_sched_item *it = &t->items[i];
                if (!it->finish && it->max_tokens == 0 && !it->score &&
                    ttc_seq_n_cached(s->c, it->seq) >= ttc_seq_len(s->c, it->seq) - 1) {
                    it->finish = TTC_FINISH_LENGTH;
                    t->n_open--;
                }
            }
            if (t->n_open == 0) task_finish(s, t, TTC_OK, NULL);
        }
        signal_finished(s);
        pthread_mutex_unlock(&s->ctx_mu);
        /* let clients that wait for the context in (forks, new sequences) */
        while (atomic_load(&s->waiting) > 0) sched_yield();
    }
    return NULL;
}

/* Prepares item outputs and the sequence (last token pending). */
static int item_setup(ttc_sched *s, ttc_sched_item *it, int idx, ttc_err *e) {
    if (!ttc_seq_valid(s->c, it->seq) || ttc_seq_len(s->c, it->seq) < 1)
        return ttc_err_set(e, TTC_EINVAL, "sched: item %d: sequence %d is not live or empty", idx, it->seq);
    if (it->max_tokens < 0 || it->top_logprobs < 0 || it->top_logprobs > 20)
        return ttc_err_set(e, TTC_EINVAL, "sched: item %d: bad max_tokens %d / top_logprobs %d", idx,
                           it->max_tokens, it->top_logprobs);
    int len = ttc_seq_len(s->c, it->seq);
    if (len == ttc_seq_n_cached(s->c, it->seq) && (it->max_tokens > 0 || it->score)) {
        /* nothing pending: recompute the last token for its logits */
        int32_t last = ttc_seq_tokens(s->c, it->seq)[len - 1];
        int rc = ttc_seq_truncate(s->c, it->seq, len - 1, e);
        if (!rc) rc = ttc_seq_append_tokens(s->c, it->seq, &last, 1, e);
        if (rc) return rc;
    }
    size_t cap = (size_t)(it->max_tokens > 0 ? it->max_tokens : 1), k = (size_t)it->top_logprobs;
    it->tokens = malloc(cap * sizeof *it->tokens);
    if (it->want_logprobs) {
        it->logprobs = malloc(cap * sizeof *it->logprobs);
        it->top_ids = malloc((cap * k + 1) * sizeof *it->top_ids);
        it->top_lps = malloc((cap * k + 1) * sizeof *it->top_lps);
    }
    it->text = malloc(256);
    it->cap = 256;
    if (!it->tokens || !it->text || (it->want_logprobs && (!it->logprobs || !it->top_ids || !it->top_lps)))
        return ttc_err_set(e, TTC_ENOMEM, "sched: out of memory for item %d", idx);
    it->text[0] = 0;
    it->n_tokens = 0;
    it->len = it->emitted = 0;
    it->finish = TTC_FINISH_NONE;
    it->n_prefill = 0;
    return ttc_detok_init(&it->dt, s->tok, 0, e);
}

int ttc_sched_run(ttc_sched *s, ttc_sched_task *t, ttc_err *e) {
    for (int i = 0; i < t->n_items; i++) ttc_sched_item_free(&t->items[i]);
    for (int k = 0; k < t->n_stop; k++)
        if (!t->stop[k] || !t->stop[k][0]) return ttc_err_set(e, TTC_EINVAL, "sched: stop string %d is empty", k);
    ctx_lock(s);
    int rc = TTC_OK;
    for (int i = 0; i < t->n_items && !rc; i++) rc = item_setup(s, &t->items[i], i, e);
    ctx_unlock(s);
    if (rc) return rc;
    t->n_open = t->n_items;
    t->rc = TTC_OK;
    t->next = NULL;
    pthread_mutex_lock(&s->mu);
    t->done = t->n_items == 0;
    if (s->stop && !t->done) {
        pthread_mutex_unlock(&s->mu);
        return ttc_err_set(e, TTC_ECANCELED, "sched: the scheduler is stopping");
    }
    if (!t->done) {
        ttc_sched_task **p = &s->incoming;
        while (*p) p = &(*p)->next;
        *p = t;
        pthread_cond_signal(&s->work);
    }
    while (!t->done) pthread_cond_wait(&s->done, &s->mu);
    pthread_mutex_unlock(&s->mu);
    rc = t->rc;
    if (rc && e) *e = t->err;
    return rc;
}

int ttc_sched_new(const ttc_model *m, const ttc_sched_params *p, ttc_sched **out, ttc_err *e) {
    if (!m->tok) return ttc_err_set(e, TTC_EINVAL, "sched: model %s has no tokenizer", m->path);
    ttc_sched *s = calloc(1, sizeof *s);
    if (!s) return ttc_err_set(e, TTC_ENOMEM, "sched: out of memory");
    s->m = m;
    s->tok = m->tok;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->ctx_mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    int rc = ttc_ctx_new(m, p ? &p->ctx : NULL, &s->c, e);
    if (rc) goto fail;
    s->n_batch = ttc_ctx_n_batch(s->c);
    s->entries = malloc((size_t)s->n_batch * sizeof *s->entries);
    s->outs = malloc((size_t)s->n_batch * sizeof *s->outs);
    if (!s->entries || !s->outs) { rc = ttc_err_set(e, TTC_ENOMEM, "sched: out of memory"); goto fail; }
    s->n_samplers = ttc_pool_n_threads(ttc_ctx_pool(s->c));
    s->samplers = calloc((size_t)s->n_samplers, sizeof *s->samplers);
    if (!s->samplers) { rc = ttc_err_set(e, TTC_ENOMEM, "sched: out of memory"); goto fail; }
    for (int i = 0; i < s->n_samplers; i++)
        if ((rc = ttc_sampler_init(&s->samplers[i], ttc_model_n_vocab(m), e))) goto fail;
    if (pthread_create(&s->th, NULL, sched_main, s)) { rc = ttc_err_set(e, TTC_EIO, "sched: cannot start thread"); goto fail; }
    s->started = true;
    *out = s;
    return TTC_OK;
fail:
    ttc_sched_free(s);
    return rc;
}

void ttc_sched_free(ttc_sched *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->th, NULL);
    }
    for (int i = 0; s->samplers && i < s->n_samplers; i++) ttc_sampler_free(&s->samplers[i]);
    free(s->samplers);
    free(s->entries);
    free(s->outs);
    ttc_ctx_free(s->c);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->done);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->ctx_mu);
    free(s);
}
