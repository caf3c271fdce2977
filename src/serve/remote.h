/* Remote OpenAI-compatible engines (vLLM, SGLang, llama.cpp server, or ttc
 * serve itself) behind the strategies' generator and verifier interfaces
 * (search/lm.h), and behind ttc serve (--backend / --verifier-backend).
 *
 * HTTP: libcurl with a share handle (one connection cache for all threads,
 * so keep-alive connections are reused), concurrent requests through curl
 * multi, per-request timeouts, and retries with exponential backoff
 * (100 ms, 200 ms, 400 ms, ...) on connection failures, 429 and 5xx.
 * Errors name the URL, the HTTP status and the start of the body.
 *
 * Generator: a node is a text prefix (prompt + solution so far). extend
 * sends one POST /v1/completions per node, all at once, with "stop": ["\n"]
 * in step mode and vLLM's "include_stop_str_in_output": true; a step ended
 * at the delimiter when the text ends in "\n" (or "stop_reason" is "\n"),
 * else finish_reason "stop" means end of solution and "length" truncation.
 *
 * Verifier ("logprobs" method, needs no special endpoint): a node is the
 * verifier input text in the train/prm.h layout (solve prompt, then each
 * step followed by the tag "<|step|>"); scoring appends step + tag and asks
 * /v1/completions for one token with "logprobs": 20; the score is
 * p(+) / (p(+) + p(-)) from the first token's top logprobs. An engine that
 * returns no logprobs, or neither "+" nor "-" among them, is an error naming
 * the endpoint. ("pooling" method: vLLM's POST /pooling returns per-token
 * [p(bad), p(good)] for head PRMs; the score is p(good) at the last tag.) */
#ifndef TTC_SERVE_REMOTE_H
#define TTC_SERVE_REMOTE_H
#include <jansson.h>
#include <stdatomic.h>
#include "search/lm.h"
#include "serve/server.h"

/* ---- HTTP client ---- */

typedef struct ttc_http ttc_http;

typedef struct ttc_http_opts {
    const char *base_url;   /* "http://127.0.0.1:8080" (no trailing /v1) */
    const char *api_key;    /* sent as Bearer; NULL = none */
    double      timeout_s;  /* per request; default 300 */
    int         retries;    /* extra attempts on 429/5xx/connect errors; default 4 */
    int         backoff_ms; /* first backoff; default 100 (doubles each retry) */
} ttc_http_opts;

int  ttc_http_new(const ttc_http_opts *o, ttc_http **out, ttc_err *e);
void ttc_http_free(ttc_http *h);
const char *ttc_http_base(const ttc_http *h);

/* POSTs bodies[i] (JSON) to base_url + path for i in [0, n), concurrently,
 * and parses each 2xx answer into outs[i] (caller decrefs). Retries as
 * described above; other 4xx fail at once. cancel (may be NULL) aborts.
 * On error every outs[i] is NULL and e names the endpoint and status. */
int  ttc_http_post_json(ttc_http *h, const char *path, json_t *const *bodies, int n, json_t **outs,
                        atomic_int *cancel, ttc_err *e);
/* POSTs body to base_url + path expecting server-sent events, and calls
 * on_event with each "data:" JSON event as it arrives (a 2xx JSON answer
 * that is not an event stream counts as one event). A non-zero return of
 * on_event aborts with that code (and its e). Retries like
 * ttc_http_post_json while no event was delivered; TTC_ENET when the
 * stream ends without "data: [DONE]". */
int  ttc_http_post_stream(ttc_http *h, const char *path, json_t *body,
                          int (*on_event)(void *ud, json_t *ev, ttc_err *e), void *ud, atomic_int *cancel,
                          ttc_err *e);
/* GET base_url + path, parsed as JSON. */
int  ttc_http_get_json(ttc_http *h, const char *path, json_t **out, ttc_err *e);

/* ---- strategies' backends ---- */

typedef enum { TTC_REMOTE_LOGPROBS = 0, TTC_REMOTE_POOLING = 1 } ttc_remote_score_method;

/* Parses a verifier URL "[pooling+]URL": *m gets the method, the result is
 * the URL proper (a suffix of url). */
const char *ttc_remote_score_url(const char *url, ttc_remote_score_method *m);

/* A generator over h (not owned; must outlive it) for model (NULL: the
 * engine's default). n_ctx is what the engine accepts per request (0 =
 * 4096). cancel may be NULL. */
int ttc_remote_generator_new(ttc_http *h, const char *model, int n_ctx, atomic_int *cancel,
                             ttc_generator **out, ttc_err *e);
/* A verifier over h scoring by method. */
int ttc_remote_verifier_new(ttc_http *h, const char *model, ttc_verifier_kind kind, ttc_remote_score_method method,
                            atomic_int *cancel, ttc_verifier **out, ttc_err *e);

/* Connects to the engine at url and names its model in name: model when
 * given, else the first its GET /v1/models lists (an engine listing none
 * is an error). *h gets the connection (caller frees). */
int  ttc_remote_connect(const char *url, const char *api_key, const char *model, ttc_http **h, char name[256],
                        ttc_err *e);
/* Command-line specs: "openai:URL" for a generator, "openai:[pooling+]URL"
 * for a verifier (see the methods above). */
bool ttc_remote_spec(const char *s);
/* A generator (on the engine's model) or a verifier from a spec; *h gets
 * the connection, to free after the generator / verifier. */
int  ttc_remote_generator_open(const char *spec, int n_ctx, ttc_http **h, ttc_generator **out, ttc_err *e);
int  ttc_remote_verifier_open(const char *spec, ttc_verifier_kind kind, ttc_http **h, ttc_verifier **out,
                              ttc_err *e);

/* ---- ttc serve --backend: the whole server backend on a remote engine ---- */

typedef struct ttc_remote ttc_remote;

typedef struct ttc_remote_opts {
    const char *url;        /* engine base URL */
    const char *model;      /* model name sent to the engine; NULL: first of its /v1/models */
    const char *api_key;
    int         n_ctx;
} ttc_remote_opts;

/* Connects (GET /v1/models, which names the model when opts->model is NULL). */
int  ttc_remote_new(const ttc_remote_opts *o, ttc_remote **out, ttc_err *e);
void ttc_remote_free(ttc_remote *r);
/* Scores strategy requests on a remote verifier at url. */
int  ttc_remote_set_verifier(ttc_remote *r, const char *url, bool orm, ttc_err *e);
/* A revision model on the engine at url (model: its name there, NULL for
 * the first it lists) and the outcome verifier of its attempts at orm_url
 * ("[pooling+]URL"): "revise" requests run their chains on this pair, and
 * so do the revision methods a policy picks. Connects now; errors say
 * which of the two failed. */
int  ttc_remote_set_revision(ttc_remote *r, const char *url, const char *model, const char *orm_url, ttc_err *e);
/* Reads a compute-optimal policy file (optimal/policy.h): "auto" requests
 * then run ttc_policy_solve over the remote engines when a verifier is
 * set. Call before serving. Errors name the file and the field. */
int  ttc_remote_load_policy(ttc_remote *r, const char *path, ttc_err *e);
/* Plain requests are forwarded (streamed through, chunk by chunk, when the
 * client streams; logprobs are asked of the engine and relayed, per chunk
 * when streaming); strategy requests run here over the remote generator
 * (and verifier). "auto" follows the policy (with a verifier), else is
 * bon-weighted with a verifier and majority without; choices as for the
 * local backend (job_search.h). */
ttc_serve_backend ttc_remote_backend(ttc_remote *r);

/* For the local backend: score strategy requests on a remote verifier. */
typedef struct ttc_local ttc_local;
int  ttc_local_set_remote_verifier(ttc_local *l, const char *url, bool orm, ttc_err *e);
#endif
