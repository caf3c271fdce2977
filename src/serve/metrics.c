/* Prometheus metrics: see metrics.h. */
#include "serve/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ep_names[TTC_EP_COUNT] = {
    "/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/pooling", "other",
};

/* Upper bounds (seconds) of the latency buckets; +Inf is implicit. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct hist {
    uint64_t le[N_BUCKETS + 1]; /* non-cumulative; last is +Inf */
    uint64_t count;
    double   sum;
} hist;

struct ttc_metrics {
    pthread_mutex_t mu;
    uint64_t requests[TTC_EP_COUNT][600];
    hist     latency[TTC_EP_COUNT], ttft[TTC_EP_COUNT];
    int64_t  prompt, completion, generations, strategy_tokens, verifier_tokens;
    uint64_t disconnects;
};

const char *ttc_endpoint_name(ttc_endpoint ep) {
    return (unsigned)ep < TTC_EP_COUNT ? ep_names[ep] : "other";
}

int ttc_metrics_new(ttc_metrics **out, ttc_err *e) {
    ttc_metrics *m = calloc(1, sizeof *m);
    if (!m) return ttc_err_set(e, TTC_ENOMEM, "metrics: out of memory");
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return TTC_OK;
}

void ttc_metrics_free(ttc_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static void hist_add(hist *h, double v) {
    size_t b = 0;
    while (b < N_BUCKETS && v > buckets[b]) b++;
    h->le[b]++;
    h->count++;
    h->sum += v;
}

void ttc_metrics_request(ttc_metrics *m, ttc_endpoint ep, int status, double seconds) {
    if ((unsigned)ep >= TTC_EP_COUNT) ep = TTC_EP_OTHER;
    if (status < 100 || status >= 600) status = 0;
    pthread_mutex_lock(&m->mu);
    m->requests[ep][status]++;
    hist_add(&m->latency[ep], seconds);
    pthread_mutex_unlock(&m->mu);
}

void ttc_metrics_first_token(ttc_metrics *m, ttc_endpoint ep, double seconds) {
    if ((unsigned)ep >= TTC_EP_COUNT) ep = TTC_EP_OTHER;
    pthread_mutex_lock(&m->mu);
    hist_add(&m->ttft[ep], seconds);
    pthread_mutex_unlock(&m->mu);
}

void ttc_metrics_tokens(ttc_metrics *m, int64_t prompt, int64_t completion, int64_t generations,
                        int64_t strategy_tokens, int64_t verifier_tokens) {
    pthread_mutex_lock(&m->mu);
    m->prompt += prompt;
    m->completion += completion;
    m->generations += generations;
    m->strategy_tokens += strategy_tokens;
    m->verifier_tokens += verifier_tokens;
    pthread_mutex_unlock(&m->mu);
}

void ttc_metrics_disconnect(ttc_metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->disconnects++;
    pthread_mutex_unlock(&m->mu);
}

uint64_t ttc_metrics_count(ttc_metrics *m, ttc_endpoint ep, int status) {
    if ((unsigned)ep >= TTC_EP_COUNT || status < 0 || status >= 600) return 0;
    pthread_mutex_lock(&m->mu);
    uint64_t n = m->requests[ep][status];
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* A growing text buffer; on allocation failure it stays failed (b == NULL). */
typedef struct sbuf { char *b; size_t n, cap; } sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...) {
    if (!s->b && s->cap) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(s->b ? s->b + s->n : NULL, s->b ? s->cap - s->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (s->b && s->n + (size_t)k < s->cap) { s->n += (size_t)k; return; }
        size_t cap = s->cap ? s->cap : 4096;
        while (cap <= s->n + (size_t)k) cap *= 2;
        char *nb = realloc(s->b, cap);
        if (!nb) { free(s->b); s->b = NULL; s->cap = 1; return; }
        s->b = nb;
        s->cap = cap;
    }
}

static void render_hist(sbuf *s, const char *name, const char *help, const hist *h) {
    sb_printf(s, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int ep = 0; ep < TTC_EP_COUNT; ep++) {
        if (!h[ep].count) continue;
        uint64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cum += h[ep].le[b];
            if (b < N_BUCKETS)
                sb_printf(s, "%s_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", name, ep_names[ep], buckets[b],
                          (unsigned long long)cum);
            else
                sb_printf(s, "%s_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", name, ep_names[ep],
                          (unsigned long long)cum);
        }
        sb_printf(s, "%s_sum{endpoint=\"%s\"} %.6f\n%s_count{endpoint=\"%s\"} %llu\n", name, ep_names[ep],
                  h[ep].sum, name, ep_names[ep], (unsigned long long)h[ep].count);
    }
}

char *ttc_metrics_render(ttc_metrics *m, const ttc_metrics_gauges *g) {
    sbuf s = {0};
    pthread_mutex_lock(&m->mu);
    sb_printf(&s, "# HELP ttc_requests_total HTTP requests by endpoint and status.\n"
                  "# TYPE ttc_requests_total counter\n");
    for (int ep = 0; ep < TTC_EP_COUNT; ep++)
        for (int st = 0; st < 600; st++)
            if (m->requests[ep][st])
                sb_printf(&s, "ttc_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", ep_names[ep], st,
                          (unsigned long long)m->requests[ep][st]);
    const struct { const char *name, *help; int64_t v; } ctr[] = {
        {"ttc_prompt_tokens_total", "Prompt tokens processed.", m->prompt},
        {"ttc_completion_tokens_total", "Tokens returned to clients.", m->completion},
        {"ttc_generations_total", "Generations spent by test-time compute strategies.", m->generations},
        {"ttc_strategy_tokens_total", "Tokens generated by strategies, including discarded ones.", m->strategy_tokens},
        {"ttc_verifier_tokens_total", "Tokens scored by the verifier.", m->verifier_tokens},
        {"ttc_client_disconnects_total", "Requests whose client went away before the end.", (int64_t)m->disconnects},
    };
    for (size_t i = 0; i < sizeof ctr / sizeof ctr[0]; i++)
        sb_printf(&s, "# HELP %s %s\n# TYPE %s counter\n%s %lld\n", ctr[i].name, ctr[i].help, ctr[i].name,
                  ctr[i].name, (long long)ctr[i].v);
    render_hist(&s, "ttc_request_duration_seconds", "Time from request arrival to response end.", m->latency);
    render_hist(&s, "ttc_time_to_first_token_seconds", "Time from request arrival to the first streamed token.", m->ttft);
    pthread_mutex_unlock(&m->mu);
    if (g) {
        sb_printf(&s, "# HELP ttc_queue_length Requests waiting for the engine.\n# TYPE ttc_queue_length gauge\n"
                      "ttc_queue_length %d\n", g->queued);
        sb_printf(&s, "# HELP ttc_requests_running Requests the engine is working on.\n"
                      "# TYPE ttc_requests_running gauge\nttc_requests_running %d\n", g->running);
        sb_printf(&s, "# HELP ttc_kv_pages_used KV cache pages in use.\n# TYPE ttc_kv_pages_used gauge\n"
                      "ttc_kv_pages_used %d\n", g->kv_pages_used);
        sb_printf(&s, "# HELP ttc_kv_pages_total KV cache pages in the pool.\n# TYPE ttc_kv_pages_total gauge\n"
                      "ttc_kv_pages_total %d\n", g->kv_pages_total);
        sb_printf(&s, "# HELP ttc_decode_steps_total Decode calls of the engine's schedulers.\n"
                      "# TYPE ttc_decode_steps_total counter\n"
                      "ttc_decode_steps_total{model=\"generator\"} %lld\n"
                      "ttc_decode_steps_total{model=\"verifier\"} %lld\n",
                  (long long)g->gen_steps, (long long)g->ver_steps);
        sb_printf(&s, "# HELP ttc_decode_entries_total Batch entries (tokens) decoded by the generator.\n"
                      "# TYPE ttc_decode_entries_total counter\nttc_decode_entries_total %lld\n",
                  (long long)g->gen_entries);
        sb_printf(&s, "# HELP ttc_verifier_scores_total Verifier scores computed (one per scored node).\n"
                      "# TYPE ttc_verifier_scores_total counter\nttc_verifier_scores_total %lld\n",
                  (long long)g->ver_scores);
        sb_printf(&s, "# HELP ttc_verifier_score_steps_total Verifier decode calls that computed scores.\n"
                      "# TYPE ttc_verifier_score_steps_total counter\nttc_verifier_score_steps_total %lld\n",
                  (long long)g->ver_score_steps);
        sb_printf(&s, "# HELP ttc_batch_requests_max Most requests sharing one decode call so far.\n"
                      "# TYPE ttc_batch_requests_max gauge\n"
                      "ttc_batch_requests_max{model=\"generator\"} %d\n"
                      "ttc_batch_requests_max{model=\"verifier\"} %d\n",
                  g->gen_max_tasks_step, g->ver_max_tasks_step);
    }
    return s.b;
}
