/* Server metrics in the Prometheus text exposition format (GET /metrics).
 *
 * Counters: requests by endpoint and status, prompt/completion tokens,
 * generations spent, strategy and verifier tokens, client disconnects.
 * Histograms: request latency and time to first token, by endpoint.
 * Gauges (queue length, running requests, KV pages) are sampled by the
 * caller at render time. All functions are thread-safe. */
#ifndef TTC_SERVE_METRICS_H
#define TTC_SERVE_METRICS_H
#include <stdint.h>
#include "ttc.h"

typedef enum {
    TTC_EP_CHAT = 0, TTC_EP_COMPLETIONS, TTC_EP_MODELS, TTC_EP_HEALTH, TTC_EP_METRICS,
    TTC_EP_POOLING, TTC_EP_OTHER, TTC_EP_COUNT
} ttc_endpoint;

/* Label value of an endpoint ("/v1/chat/completions", ..., "other"). */
const char *ttc_endpoint_name(ttc_endpoint ep);

typedef struct ttc_metrics ttc_metrics;

/* Gauges sampled when rendering. */
typedef struct ttc_metrics_gauges {
    int queued, running, kv_pages_used, kv_pages_total;
    /* engine scheduler counters (0 when the backend has none) */
    int64_t gen_steps, gen_entries;     /* generator decode calls / batch entries */
    int     gen_max_tasks_step;         /* most requests in one generator decode */
    int64_t ver_steps, ver_score_steps; /* verifier decode calls / those that scored */
    int64_t ver_scores;                 /* verifier score items completed */
    int     ver_max_tasks_step;         /* most requests scored in one verifier decode */
} ttc_metrics_gauges;

/* A zeroed metrics registry; TTC_ENOMEM on failure. */
int  ttc_metrics_new(ttc_metrics **out, ttc_err *e);
/* Frees the registry; NULL-safe. */
void ttc_metrics_free(ttc_metrics *m);
/* Counts one finished request: endpoint, HTTP status (100..599, others are
 * counted as 0), wall time in seconds from arrival to the last byte queued. */
void ttc_metrics_request(ttc_metrics *m, ttc_endpoint ep, int status, double seconds);
/* Seconds from arrival to the first streamed token of a request. */
void ttc_metrics_first_token(ttc_metrics *m, ttc_endpoint ep, double seconds);
/* Adds one request's token accounting. */
void ttc_metrics_tokens(ttc_metrics *m, int64_t prompt, int64_t completion, int64_t generations,
                        int64_t strategy_tokens, int64_t verifier_tokens);
/* Counts a client that went away before its response was complete. */
void ttc_metrics_disconnect(ttc_metrics *m);
/* The exposition text (caller frees), or NULL when out of memory. */
char *ttc_metrics_render(ttc_metrics *m, const ttc_metrics_gauges *g);
/* Requests counted so far for (endpoint, status); for tests. */
uint64_t ttc_metrics_count(ttc_metrics *m, ttc_endpoint ep, int status);
#endif
