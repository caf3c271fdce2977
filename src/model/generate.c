/* Batched generation in lockstep (see generate.h). */
#include "model/generate.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

ttc_gen_request ttc_gen_request_make(int seq, int max_tokens, ttc_sample_params sp, uint64_t seed) {
    return (ttc_gen_request){.seq = seq, .max_tokens = max_tokens, .sp = sp, .seed = seed};
}

void ttc_gen_request_free(ttc_gen_request *r) {
    free(r->tokens);
    free(r->logprobs);
    free(r->logprobs_sampled);
    free(r->text);
    r->tokens = NULL;
    r->logprobs = r->logprobs_sampled = NULL;
    r->text = NULL;
    r->n_tokens = 0;
    r->text_len = r->text_cap = r->emitted = 0;
    r->finish = TTC_FINISH_NONE;
    r->n_prompt = r->n_prefill = r->n_decoded = 0;
}

/* Per-request state for the duration of one call. */
typedef struct gen_state {
    ttc_rng    rng_own;
    ttc_rng   *rng;
    ttc_detok  dt;
    size_t     max_stop;
    int        cap_tokens;
} gen_state;

static int text_append(ttc_gen_request *r, const char *s, size_t n, ttc_err *e) {
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap : 256;
        while (cap < r->text_len + n + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) return ttc_err_set(e, TTC_ENOMEM, "generate: cannot grow text to %zu bytes", cap);
        r->text = t;
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    r->text[r->text_len] = 0;
    return TTC_OK;
}

/* Looks for a stop string that ends in the bytes added since `from`; on a
 * match cuts the text and returns true. */
static bool find_stop(ttc_gen_request *r, size_t from, size_t max_stop) {
    size_t start = from + 1 > max_stop ? from + 1 - max_stop : 0, best = (size_t)-1, best_len = 0;
    for (int k = 0; k < r->n_stop; k++) {
        const char *hit = memmem(r->text + start, r->text_len - start, r->stop[k], strlen(r->stop[k]));
        if (hit && (size_t)(hit - r->text) < best) { best = (size_t)(hit - r->text); best_len = strlen(r->stop[k]); }
    }
    if (best == (size_t)-1) return false;
    r->text_len = best + (r->include_stop ? best_len : 0);
    r->text[r->text_len] = 0;
    return true;
}

/* Bytes at the end of the text that could still begin a stop string. */
static size_t held_back(const ttc_gen_request *r, size_t max_stop) {
    size_t lim = max_stop ? max_stop - 1 : 0;
    if (lim > r->text_len) lim = r->text_len;
    for (size_t k = lim; k > 0; k--)
        for (int s = 0; s < r->n_stop; s++)
            if (strlen(r->stop[s]) > k && !memcmp(r->text + r->text_len - k, r->stop[s], k)) return k;
    return 0;
}

static void stream(const ttc_gen_opts *o, int i, ttc_gen_request *r, size_t max_stop) {
    if (!o || !o->on_text) return;
    size_t upto = r->finish ? r->text_len : r->text_len - held_back(r, max_stop);
    if (upto < r->emitted) upto = r->emitted;
    o->on_text(o->stream_ud, i, r, r->text + r->emitted, upto - r->emitted);
    r->emitted = upto;
}

/* Sampling of one step, one task per active request. */
typedef struct sample_job {
    ttc_ctx         *c;
    ttc_gen_request *reqs;
    gen_state       *st;
    const int       *act;
    ttc_sampler     *smp;   /* one per thread */
    ttc_sample_out  *out;   /* per active index */
    int             *rc;
} sample_job;

static void sample_task(void *arg, int k, int n_tasks, int thread) {
    sample_job *j = arg;
    int i = j->act[k];
    j->rc[k] = ttc_sample(&j->smp[thread], ttc_logits(j->c, k), &j->reqs[i].sp, j->st[i].rng, &j->out[k], NULL);
}

static int validate(ttc_ctx *c, ttc_gen_request *reqs, int n, ttc_err *e) {
    const ttc_model *m = ttc_ctx_model(c);
    if (!m->tok) return ttc_err_set(e, TTC_EINVAL, "generate: the model has no tokenizer");
    if (n < 0 || n > ttc_ctx_n_outputs_max(c))
        return ttc_err_set(e, TTC_EINVAL, "generate: %d requests, the context allows %d outputs per step", n,
                           ttc_ctx_n_outputs_max(c));
    for (int i = 0; i < n; i++) {
        const ttc_gen_request *r = &reqs[i];
        if (ttc_seq_len(c, r->seq) < 1)
            return ttc_err_set(e, TTC_EINVAL, "generate: request %d: sequence %d is not live or is empty", i, r->seq);
        if (r->max_tokens < 0) return ttc_err_set(e, TTC_EINVAL, "generate: request %d: max_tokens %d < 0", i, r->max_tokens);
        for (int k = 0; k < r->n_stop; k++)
            if (!r->stop[k] || !r->stop[k][0]) return ttc_err_set(e, TTC_EINVAL, "generate: request %d: stop string %d is empty", i, k);
        for (int j = 0; j < i; j++)
            if (reqs[j].seq == r->seq) return ttc_err_set(e, TTC_EINVAL, "generate: requests %d and %d share sequence %d", j, i, r->seq);
    }
    return TTC_OK;
}

int ttc_generate(ttc_ctx *c, ttc_gen_request *reqs, int n, const ttc_gen_opts *opts, ttc_err *e) {
    int rc = validate(c, reqs, n, e);
    if (rc || n == 0) return rc;
    const ttc_model *m = ttc_ctx_model(c);
    gen_state *st = calloc((size_t)n, sizeof *st);
    int *seqs = malloc((size_t)n * sizeof *seqs), *act = malloc((size_t)n * sizeof *act);
    ttc_batch_entry *b = malloc((size_t)n * sizeof *b);
    int nt = ttc_pool_n_threads(ttc_ctx_pool(c));
    ttc_sampler *smp = calloc((size_t)nt, sizeof *smp);
    sample_job sj = {c, reqs, st, act, smp, malloc((size_t)n * sizeof *sj.out), calloc((size_t)n, sizeof *sj.rc)};
    if (!st || !seqs || !act || !b) { rc = ttc_err_set(e, TTC_ENOMEM, "generate: out of memory"); goto done; }
    if (!smp || !sj.out || !sj.rc) { rc = ttc_err_set(e, TTC_ENOMEM, "generate: out of memory"); goto done; }
    for (int t = 0; t < nt; t++)
        if ((rc = ttc_sampler_init(&smp[t], m->cfg.n_vocab, e))) goto done;

    for (int i = 0; i < n; i++) {
        ttc_gen_request *r = &reqs[i];
        gen_state *g = &st[i];
        ttc_gen_request_free(r);
        int len = ttc_seq_len(c, r->seq);
        r->n_prompt = len;
        g->cap_tokens = r->max_tokens < ttc_ctx_n_ctx(c) - len ? r->max_tokens : ttc_ctx_n_ctx(c) - len;
        if (g->cap_tokens < 0) g->cap_tokens = 0;
        size_t cap = (size_t)g->cap_tokens + 1;
        r->tokens = malloc(cap * sizeof *r->tokens);
        r->logprobs = malloc(cap * sizeof *r->logprobs);
        r->logprobs_sampled = malloc(cap * sizeof *r->logprobs_sampled);
        if (!r->tokens || !r->logprobs || !r->logprobs_sampled || text_append(r, "", 0, e)) {
            rc = ttc_err_set(e, TTC_ENOMEM, "generate: out of memory");
            goto done;
        }
        if (r->rng) g->rng = r->rng;
        else { ttc_rng_split(&g->rng_own, r->seed, r->stream); g->rng = &g->rng_own; }
        if ((rc = ttc_detok_init(&g->dt, m->tok, 0, e))) goto done;
        for (int k = 0; k < r->n_stop; k++)
            if (strlen(r->stop[k]) > g->max_stop) g->max_stop = strlen(r->stop[k]);
        /* the last token must be pending: its logits give the first sample */
        if (ttc_seq_n_cached(c, r->seq) == len && (rc = ttc_seq_truncate_cache(c, r->seq, len - 1, e))) goto done;
        r->n_prefill = len - ttc_seq_n_cached(c, r->seq) - 1;
        r->n_decoded = r->n_prefill;
        seqs[i] = r->seq;
        if (g->cap_tokens == 0) r->finish = TTC_FINISH_LENGTH;
    }
    if ((rc = ttc_decode_pending(c, seqs, n, true, false, NULL, e))) goto done;

    for (;;) {
        int na = 0;
        for (int i = 0; i < n; i++)
            if (!reqs[i].finish) act[na++] = i;
        if (na == 0) break;
        if (opts && opts->cancel && opts->cancel(opts->cancel_ud)) {
            rc = ttc_err_set(e, TTC_ECANCELED, "generate: cancelled after %d steps", reqs[act[0]].n_tokens);
            goto done;
        }
        for (int k = 0; k < na; k++) {
            ttc_gen_request *r = &reqs[act[k]];
            b[k] = (ttc_batch_entry){r->seq, ttc_seq_tokens(c, r->seq)[ttc_seq_len(c, r->seq) - 1], true, false};
        }
        if ((rc = ttc_decode(c, b, na, e))) goto done;
        /* sample every request in parallel (each has its own rng) */
        ttc_pool_run(ttc_ctx_pool(c), sample_task, &sj, na);
        for (int k = 0; k < na; k++) {
            int i = act[k];
            ttc_gen_request *r = &reqs[i];
            gen_state *g = &st[i];
            r->n_decoded++;
            ttc_sample_out so = sj.out[k];
            if (sj.rc[k]) {
                rc = ttc_err_set(e, sj.rc[k], "generate: request %d: sampling failed (NaN or infinite logits)", i);
                goto done;
            }
            if ((rc = ttc_seq_append_tokens(c, r->seq, &so.token, 1, e))) goto done;
            r->tokens[r->n_tokens] = so.token;
            r->logprobs[r->n_tokens] = so.logprob;
            r->logprobs_sampled[r->n_tokens] = so.logprob_sampled;
            r->n_tokens++;
            if (ttc_tokenizer_is_eog(m->tok, so.token)) {
                const char *t;
                int nb = ttc_detok_flush(&g->dt, &t);
                if (nb > 0 && (rc = text_append(r, t, (size_t)nb, e))) goto done;
                if (!find_stop(r, r->text_len - (nb > 0 ? (size_t)nb : 0), g->max_stop)) r->finish = TTC_FINISH_EOS;
                else r->finish = TTC_FINISH_STOP;
            } else {
                const char *t;
                int nb = ttc_detok_push(&g->dt, so.token, &t);
                if (nb < 0) { rc = ttc_err_set(e, TTC_EINVAL, "generate: cannot detokenize token %d", so.token); goto done; }
                size_t before = r->text_len;
                if (nb > 0 && (rc = text_append(r, t, (size_t)nb, e))) goto done;
                if (r->n_stop && r->text_len > before && find_stop(r, before, g->max_stop)) r->finish = TTC_FINISH_STOP;
                else if (r->n_tokens >= g->cap_tokens) {
                    nb = ttc_detok_flush(&g->dt, &t);
                    before = r->text_len;
                    if (nb > 0 && (rc = text_append(r, t, (size_t)nb, e))) goto done;
                    r->finish = r->n_stop && find_stop(r, before, g->max_stop) ? TTC_FINISH_STOP : TTC_FINISH_LENGTH;
                }
            }
            stream(opts, i, r, g->max_stop);
        }
    }
done:
    if (st)
        for (int i = 0; i < n; i++) ttc_detok_free(&st[i].dt);
    if (smp)
        for (int t = 0; t < nt; t++) ttc_sampler_free(&smp[t]);
    free(smp);
    free(sj.out);
    free(sj.rc);
    free(st);
    free(seqs);
    free(act);
    free(b);
    return rc;
}
