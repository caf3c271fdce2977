/* ttc serve: an OpenAI-compatible HTTP server (libmicrohttpd).
 *
 * Requests flow through three layers:
 *
 *   connection thread (MHD, one per connection)
 *     routing, API key, body limit, parse + validate (api.h), then a job is
 *     put on a bounded FIFO (429 when full) and the thread waits for it,
 *     watching its socket: a client that hangs up cancels the job;
 *   worker threads (opts.parallel of them)
 *     take jobs in order and call backend->run(job), which blocks until the
 *     job is done; text is handed back with ttc_job_emit as it is produced;
 *   the backend (local engine, remote engine, or a test stub)
 *     does the work. The local backend funnels every running job's
 *     sequences into one scheduler thread that owns the model and batches
 *     them into shared decode steps.
 *
 * POST /pooling (vLLM's pooling API, for a verifier model) runs on the
 * connection thread through backend->pool (at most parallel + queue at
 * once, else 429); the scoring itself is batched by the backend's verifier
 * scheduler like everything else.
 *
 * Non-streaming requests get one JSON body when the job ends; streaming ones
 * get text/event-stream chunks as ttc_job_emit is called, then finish
 * chunks, an optional usage chunk and "data: [DONE]". */
#ifndef TTC_SERVE_SERVER_H
#define TTC_SERVE_SERVER_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "serve/api.h"
#include "serve/metrics.h"

typedef struct ttc_job ttc_job;
typedef struct ttc_server ttc_server;

/* What a server needs from an engine. run() is called on a worker thread,
 * concurrently for up to opts.parallel jobs. It must call ttc_job_started
 * once the request is accepted (e.g. the prompt fits the context) so a
 * streaming response can commit to 200; it should return soon after
 * ttc_job_canceled becomes true (TTC_ECANCELED). Errors before
 * ttc_job_started become HTTP errors: TTC_EINVAL/EUNSUPPORTED 400,
 * TTC_ENOTFOUND 404, TTC_ENOMEM 503, others 500. */
typedef struct ttc_serve_backend {
    void       *self;
    const char *model_id;        /* reported by /v1/models and in responses */
    int  (*run)(void *self, ttc_job *job, ttc_err *e);
    /* optional: KV pages for /metrics */
    void (*gauges)(void *self, ttc_metrics_gauges *g);
    /* optional: POST /pooling (api.h) -- the verifier's STEP pooling of
     * input texts[0..n): rows[i] gets n_rows[i] pairs [p_bad, p_good]
     * (caller frees), n_tokens[i] the input's token count; on an error
     * *failed names the input at fault (-1: none). Called on the connection
     * thread, concurrently; cancel is raised when the client hangs up.
     * Without it /pooling answers 404. */
    int  (*pool)(void *self, const char *const *texts, const size_t *lens, int n, atomic_int *cancel, float **rows,
                 int *n_rows, int *n_tokens, int *failed, ttc_err *e);
} ttc_serve_backend;

typedef struct ttc_server_opts {
    const char *host;            /* default "127.0.0.1" */
    int         port;            /* 0 = any free port (see ttc_server_port) */
    const char *api_key;         /* NULL = no authentication */
    size_t      max_body;        /* bytes; default 1 MiB */
    int         queue;           /* jobs waiting for a worker; 0 = 64, < 0 = none */
    int         parallel;        /* jobs running at once; default 8 */
    int         timeout_s;       /* idle connection timeout; default 60 */
    int         max_connections; /* default 256 */
    ttc_api_limits limits;       /* zero fields: api.h defaults; model_id set from the backend */
} ttc_server_opts;

/* Starts listening on opts->host:port with backend (not owned; must
 * outlive the server). Errors name the address (TTC_EIO when the port
 * cannot be bound). */
int  ttc_server_start(const ttc_server_opts *opts, const ttc_serve_backend *backend,
                      ttc_server **out, ttc_err *e);
/* The bound TCP port. */
int  ttc_server_port(const ttc_server *s);
/* The server's metrics registry (valid until ttc_server_stop). */
ttc_metrics *ttc_server_metrics(ttc_server *s);
/* Jobs waiting / running right now. */
void ttc_server_load(ttc_server *s, int *queued, int *running);
/* Cancels every job, closes the listener, waits for all threads and frees
 * the server. NULL-safe. */
void ttc_server_stop(ttc_server *s);

/* ---- for backends: the job being run ---- */

/* The validated request. */
const ttc_api_req *ttc_job_req(const ttc_job *j);
/* True once the client went away or the server is stopping. */
bool ttc_job_canceled(const ttc_job *j);
/* The flag behind ttc_job_canceled, for engines that poll an atomic_int. */
atomic_int *ttc_job_cancel_flag(ttc_job *j);
/* Marks the request accepted (see ttc_serve_backend). Idempotent. */
void ttc_job_started(ttc_job *j);
/* Appends len bytes of text to choice (0..n-1); streamed at once when the
 * request streams (bytes of an incomplete UTF-8 character wait for the
 * rest). TTC_EINVAL for a bad choice, TTC_ENOMEM. */
int  ttc_job_emit(ttc_job *j, int choice, const char *text, size_t len, ttc_err *e);
/* ttc_job_emit, and when the request streams, the chunk that carries the
 * text also carries lp (may be NULL): the logprobs of the tokens sampled
 * since the last call (ttc_job_set_logprobs still sets the full list for a
 * non-streaming response). */
int  ttc_job_emit_logprobs(ttc_job *j, int choice, const char *text, size_t len, const ttc_api_choice *lp,
                           ttc_err *e);
/* Ends a choice with reason ("stop" or "length"). Idempotent per choice;
 * choices never finished are reported as "stop". */
void ttc_job_finish_choice(ttc_job *j, int choice, const char *reason);
/* Records per-token logprobs for a choice (copied; top arrays may be NULL
 * when top_k == 0). */
int  ttc_job_set_logprobs(ttc_job *j, int choice, int n_tokens, const char *const *token_text,
                          const float *token_logprob, int top_k, const char *const *top_text,
                          const float *top_logprob, ttc_err *e);
/* Sets the usage/ttc accounting reported with the response. strategy_used
 * is copied. */
void ttc_job_set_usage(ttc_job *j, const ttc_api_usage *u);
#endif
