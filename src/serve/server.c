/* The HTTP server: see server.h. */
#include "serve/server.h"

#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/rng.h"
#include "base/util.h"

/* How often a waiting thread looks at its client's socket. */
#define HANGUP_POLL_NS 50000000L

typedef struct job_choice {
    char  *text;
    size_t len, cap;
    size_t streamed;        /* bytes of text already sent as SSE */
    size_t lp_offset;       /* bytes of token text already reported with logprobs */
    const char *finish;     /* static string or NULL */
    bool   sent_first;
    /* logprobs (owned) */
    int    n_tokens, top_k;
    char **tok, **top;
    float *lp, *top_lp;
} job_choice;

struct ttc_job {
    ttc_server  *srv;
    ttc_api_req  req;
    ttc_endpoint ep;
    char         id[48];
    int64_t      created;
    double       t0;
    int          fd;            /* client socket, for hang-up checks */

    pthread_mutex_t mu;
    pthread_cond_t  cv;
    int          refs;          /* connection + worker */
    atomic_int   cancel;
    bool         started, done, first_token;
    int          rc;
    ttc_err      err;

    job_choice  *ch;
    int          n_ch;
    ttc_api_usage usage;
    char         strategy_used[32];

    char        *sse;           /* pending event-stream bytes [sse_off, sse_len) */
    size_t       sse_len, sse_cap, sse_off;

    ttc_job     *qnext;         /* FIFO */
    ttc_job     *lprev, *lnext; /* live list */
};

struct ttc_server {
    struct MHD_Daemon *d;
    ttc_server_opts    o;
    char               host[64];
    ttc_serve_backend  be;
    char               model_id[256];
    ttc_metrics       *metrics;
    int                port;

    pthread_mutex_t    mu;
    pthread_cond_t     cv;        /* queue non-empty or stopping */
    ttc_job           *qhead, *qtail;
    int                n_queued, n_running;
    ttc_job           *live;
    atomic_int         stopping;
    atomic_int         n_pooling;   /* /pooling requests being scored */
    pthread_t         *workers;
    int                n_workers;
    ttc_rng            rng;       /* ids */
    uint64_t           n_ids;
};

/* Per-connection state, from the first callback to request completion. */
typedef struct conn {
    ttc_server  *srv;
    ttc_endpoint ep;
    double       t0;
    char        *body;
    size_t       len, cap;
    bool         too_large;
    size_t       discarded;     /* body bytes dropped past the limit */
    int          status;        /* of the queued response */
    bool         counted;       /* metrics recorded when the response was queued */
    ttc_job     *stream_job;    /* streaming: job the reader owns a ref of */
} conn;

/* ---- jobs ---- */

static void job_unref(ttc_job *j) {
    pthread_mutex_lock(&j->mu);
    int r = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (r > 0) return;
    ttc_server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    if (j->lprev) j->lprev->lnext = j->lnext; else s->live = j->lnext;
    if (j->lnext) j->lnext->lprev = j->lprev;
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < j->n_ch; i++) {
        job_choice *c = &j->ch[i];
        free(c->text);
        for (int t = 0; c->tok && t < c->n_tokens; t++) free(c->tok[t]);
        for (int t = 0; c->top && t < c->n_tokens * c->top_k; t++) free(c->top[t]);
        free(c->tok); free(c->top); free(c->lp); free(c->top_lp);
    }
    free(j->ch);
    free(j->sse);
    ttc_api_req_free(&j->req);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

const ttc_api_req *ttc_job_req(const ttc_job *j) { return &j->req; }
bool ttc_job_canceled(const ttc_job *j) { return atomic_load(&((ttc_job *)j)->cancel) != 0; }
atomic_int *ttc_job_cancel_flag(ttc_job *j) { return &j->cancel; }

void ttc_job_started(ttc_job *j) {
    pthread_mutex_lock(&j->mu);
    j->started = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Appends n bytes to the job's event-stream buffer (j->mu held). */
static int sse_put(ttc_job *j, const char *s, size_t n) {
    if (j->sse_off == j->sse_len) j->sse_off = j->sse_len = 0;
    if (j->sse_len + n > j->sse_cap) {
        size_t cap = j->sse_cap ? j->sse_cap : 4096;
        while (cap < j->sse_len + n) cap *= 2;
        char *b = realloc(j->sse, cap);
        if (!b) return TTC_ENOMEM;
        j->sse = b;
        j->sse_cap = cap;
    }
    memcpy(j->sse + j->sse_len, s, n);
    j->sse_len += n;
    pthread_cond_broadcast(&j->cv);
    return TTC_OK;
}

/* Appends one chunk event (see ttc_api_chunk_sse); j->mu held. */
static int sse_chunk(ttc_job *j, int choice, bool first, const char *d, size_t n, const char *finish,
                     const ttc_api_usage *u, const ttc_api_choice *lp, size_t off) {
    char *ev = ttc_api_chunk_sse(j->req.kind, j->id, j->created, j->req.model, choice, first, d, n, finish, u, lp, off);
    if (!ev) return TTC_ENOMEM;
    int rc = sse_put(j, ev, strlen(ev));
    free(ev);
    return rc;
}

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8
 * character (invalid bytes count as complete: they become U+FFFD). */
static size_t utf8_complete(const char *s, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80) continue;          /* continuation: look further back */
        size_t want = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return want > back ? n - back : n;
    }
    return n;
}

/* Streams choice c's unsent text (with logprobs lp, may be NULL); `all`
 * also sends an incomplete tail. */
static int stream_text(ttc_job *j, int i, bool all, const ttc_api_choice *lp) {
    job_choice *c = &j->ch[i];
    size_t end = all ? c->len : c->streamed + utf8_complete(c->text + c->streamed, c->len - c->streamed);
    if (end == c->streamed && c->sent_first && !lp) return TTC_OK;
    int rc = sse_chunk(j, i, !c->sent_first, c->text + c->streamed, end - c->streamed, NULL, NULL, lp, c->lp_offset);
    if (lp)
        for (int t = 0; t < lp->n_tokens; t++) c->lp_offset += strlen(lp->token_text[t]);
    c->sent_first = true;
    c->streamed = end;
    return rc;
}

int ttc_job_emit(ttc_job *j, int choice, const char *text, size_t len, ttc_err *e) {
    return ttc_job_emit_logprobs(j, choice, text, len, NULL, e);
}

int ttc_job_emit_logprobs(ttc_job *j, int choice, const char *text, size_t len, const ttc_api_choice *lp, ttc_err *e) {
    if (choice < 0 || choice >= j->n_ch)
        return ttc_err_set(e, TTC_EINVAL, "job %s: choice %d out of range [0, %d)", j->id, choice, j->n_ch);
    if (lp && lp->n_tokens == 0) lp = NULL;
    pthread_mutex_lock(&j->mu);
    job_choice *c = &j->ch[choice];
    int rc = TTC_OK;
    if (c->len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < c->len + len + 1) cap *= 2;
        char *b = realloc(c->text, cap);
        if (!b) { rc = TTC_ENOMEM; goto out; }
        c->text = b;
        c->cap = cap;
    }
    memcpy(c->text + c->len, text, len);
    c->len += len;
    c->text[c->len] = 0;
    if (!j->first_token && len) {
        j->first_token = true;
        ttc_metrics_first_token(j->srv->metrics, j->ep, ttc_now() - j->t0);
    }
    if (j->req.stream && (len || lp)) rc = stream_text(j, choice, false, lp);
out:
    pthread_mutex_unlock(&j->mu);
    return rc ? ttc_err_set(e, rc, "job %s: out of memory appending %zu bytes", j->id, len) : TTC_OK;
}

/* Sends the finish event of choice i if it has not been sent; j->mu held. */
static int finish_locked(ttc_job *j, int i, const char *reason) {
    job_choice *c = &j->ch[i];
    if (c->finish) return TTC_OK;
    c->finish = reason && !strcmp(reason, "length") ? "length" : "stop";
    if (!j->req.stream) return TTC_OK;
    int rc = stream_text(j, i, true, NULL);
    if (!rc) rc = sse_chunk(j, i, false, NULL, 0, c->finish, NULL, NULL, 0);
    return rc;
}

void ttc_job_finish_choice(ttc_job *j, int choice, const char *reason) {
    if (choice < 0 || choice >= j->n_ch) return;
    pthread_mutex_lock(&j->mu);
    finish_locked(j, choice, reason);
    pthread_mutex_unlock(&j->mu);
}

int ttc_job_set_logprobs(ttc_job *j, int choice, int n_tokens, const char *const *token_text,
                         const float *token_logprob, int top_k, const char *const *top_text,
                         const float *top_logprob, ttc_err *e) {
    if (choice < 0 || choice >= j->n_ch || n_tokens < 0 || top_k < 0)
        return ttc_err_set(e, TTC_EINVAL, "job %s: bad logprobs for choice %d", j->id, choice);
    job_choice *c = &j->ch[choice];
    size_t nt = (size_t)n_tokens, nk = nt * (size_t)top_k;
    char **tok = calloc(nt + 1, sizeof *tok), **top = calloc(nk + 1, sizeof *top);
    float *lp = malloc((nt + 1) * sizeof *lp), *tlp = malloc((nk + 1) * sizeof *tlp);
    bool ok = tok && top && lp && tlp;
    for (size_t t = 0; ok && t < nt; t++) ok = (tok[t] = strdup(token_text[t] ? token_text[t] : "")) != NULL;
    for (size_t t = 0; ok && t < nk; t++) ok = !top_text[t] || (top[t] = strdup(top_text[t])) != NULL;
    if (!ok) {
        for (size_t t = 0; tok && t < nt; t++) free(tok[t]);
        for (size_t t = 0; top && t < nk; t++) free(top[t]);
        free(tok); free(top); free(lp); free(tlp);
        return ttc_err_set(e, TTC_ENOMEM, "job %s: out of memory storing logprobs", j->id);
    }
    if (nt) memcpy(lp, token_logprob, nt * sizeof *lp);
    if (nk) memcpy(tlp, top_logprob, nk * sizeof *tlp);
    pthread_mutex_lock(&j->mu);
    for (int t = 0; c->tok && t < c->n_tokens; t++) free(c->tok[t]);
    for (int t = 0; c->top && t < c->n_tokens * c->top_k; t++) free(c->top[t]);
    free(c->tok); free(c->top); free(c->lp); free(c->top_lp);
    c->tok = tok; c->top = top; c->lp = lp; c->top_lp = tlp;
    c->n_tokens = n_tokens;
    c->top_k = top_k;
    pthread_mutex_unlock(&j->mu);
    return TTC_OK;
}

void ttc_job_set_usage(ttc_job *j, const ttc_api_usage *u) {
    pthread_mutex_lock(&j->mu);
    j->usage = *u;
    j->usage.strategy_used = NULL;
    if (u->strategy_used) {
        snprintf(j->strategy_used, sizeof j->strategy_used, "%s", u->strategy_used);
        j->usage.strategy_used = j->strategy_used;
    }
    pthread_mutex_unlock(&j->mu);
}

/* HTTP status and error type/code for a backend failure code. */
static void fault_from_rc(int rc, ttc_api_fault *f) {
    switch (rc) {
    case TTC_EINVAL: case TTC_EUNSUPPORTED:
        ttc_api_fault_set(f, 400, "invalid_request_error", "invalid_value"); break;
    case TTC_ENOTFOUND: ttc_api_fault_set(f, 404, "not_found_error", "model_not_found"); break;
    case TTC_ENOMEM: ttc_api_fault_set(f, 503, "server_error", "overloaded"); break;
    case TTC_ECANCELED: ttc_api_fault_set(f, 503, "server_error", "canceled"); break;
    default: ttc_api_fault_set(f, 500, "server_error", "engine_error"); break;
    }
}

/* Worker side: finishes the stream and wakes the connection (after run). */
static void job_complete(ttc_job *j, int rc, const ttc_err *err) {
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    if (rc) j->err = *err;
    else j->started = true;
    if (j->req.stream && j->started) {
        if (!rc) {
            for (int i = 0; i < j->n_ch; i++) finish_locked(j, i, "stop");
            if (j->req.include_usage || j->usage.strategy_used)
                sse_chunk(j, -1, false, NULL, 0, NULL, &j->usage, NULL, 0);
        } else if (rc != TTC_ECANCELED) {
            ttc_api_fault f;
            fault_from_rc(rc, &f);
            char *body = ttc_api_error_json(&f, err->msg);
            if (body) {
                sse_put(j, "data: ", 6);
                sse_put(j, body, strlen(body));
                sse_put(j, "\n\n", 2);
                free(body);
            }
        }
        sse_put(j, "data: [DONE]\n\n", 14);
    }
    if (!rc) {
        int64_t completion = j->usage.completion_tokens;
        ttc_metrics_tokens(j->srv->metrics, j->usage.prompt_tokens, completion, j->usage.generations,
                           j->usage.ttc_tokens, j->usage.verifier_tokens);
    }
    j->done = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void *worker_main(void *arg) {
    ttc_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->qhead && !atomic_load(&s->stopping)) pthread_cond_wait(&s->cv, &s->mu);
        ttc_job *j = s->qhead;
        if (!j) break; /* stopping and drained */
        s->qhead = j->qnext;
        if (!s->qhead) s->qtail = NULL;
        s->n_queued--;
        s->n_running++;
        pthread_mutex_unlock(&s->mu);

        ttc_err e = {0};
        int rc;
        if (atomic_load(&j->cancel)) rc = ttc_err_set(&e, TTC_ECANCELED, "request %s canceled before it ran", j->id);
        else rc = s->be.run(s->be.self, j, &e);
        if (rc == TTC_OK && atomic_load(&j->cancel))
            rc = ttc_err_set(&e, TTC_ECANCELED, "request %s canceled", j->id);
        if (rc && !e.msg[0]) ttc_err_set(&e, rc, "engine failed: %s", ttc_strerror(rc));
        job_complete(j, rc, &e);
        job_unref(j);

        pthread_mutex_lock(&s->mu);
        s->n_running--;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- connection side ---- */

/* True if the peer closed its end of the socket. */
static bool client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Waits (j->mu held) until pred(j) or the client hangs up or the server
 * stops; returns false in the last two cases (after canceling the job). */
static bool job_wait(ttc_job *j, bool (*pred)(const ttc_job *)) {
    while (!pred(j)) {
        if (atomic_load(&j->srv->stopping) || client_gone(j->fd)) {
            atomic_store(&j->cancel, 1);
            return false;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += HANGUP_POLL_NS;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    return true;
}

static bool is_done(const ttc_job *j) { return j->done; }
static bool is_started(const ttc_job *j) { return j->started || j->done; }
static bool has_output(const ttc_job *j) { return j->sse_off < j->sse_len || j->done; }

static enum MHD_Result send_body(struct MHD_Connection *c, conn *cc, int status, char *body,
                                 const char *ctype) {
    if (!body) {
        status = 500;
        body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
        if (!body) return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) { free(body); return MHD_NO; }
    MHD_add_response_header(r, "Content-Type", ctype);
    if (status == 405)
        MHD_add_response_header(r, "Allow", cc->ep == TTC_EP_CHAT || cc->ep == TTC_EP_COMPLETIONS ||
                                            cc->ep == TTC_EP_POOLING ? "POST" : "GET");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    cc->status = status;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    /* a whole body is counted now, so a client that reads /metrics right
     * after its answer sees it; streams are counted when they end */
    ttc_metrics_request(cc->srv->metrics, cc->ep, status, ttc_now() - cc->t0);
    cc->counted = true;
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, conn *cc, const ttc_api_fault *f, const char *msg) {
    return send_body(c, cc, f->status, ttc_api_error_json(f, msg), "application/json");
}

static enum MHD_Result send_fault(struct MHD_Connection *c, conn *cc, int status, const char *type,
                                  const char *code, const char *msg) {
    ttc_api_fault f;
    ttc_api_fault_set(&f, status, type, code);
    return send_error(c, cc, &f, msg);
}

/* The non-streaming response body of a finished job. */
static char *job_response(ttc_job *j) {
    ttc_api_choice *cs = calloc((size_t)j->n_ch, sizeof *cs);
    if (!cs) return NULL;
    for (int i = 0; i < j->n_ch; i++) {
        job_choice *c = &j->ch[i];
        cs[i].text = c->text ? c->text : "";
        cs[i].len = c->len;
        cs[i].finish_reason = c->finish ? c->finish : "stop";
        if (c->tok) {
            cs[i].n_tokens = c->n_tokens;
            cs[i].token_text = (const char **)c->tok;
            cs[i].token_logprob = c->lp;
            cs[i].top_k = c->top_k;
            cs[i].top_text = (const char **)c->top;
            cs[i].top_logprob = c->top_lp;
        }
    }
    char *body = ttc_api_response_json(j->req.kind, j->id, j->created, j->req.model, cs, j->n_ch, &j->usage);
    free(cs);
    return body;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    ttc_job *j = cls;
    pthread_mutex_lock(&j->mu);
    ssize_t r;
    if (!job_wait(j, has_output)) {
        r = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (j->sse_off < j->sse_len) {
        size_t k = TTC_MIN(max, j->sse_len - j->sse_off);
        memcpy(buf, j->sse + j->sse_off, k);
        j->sse_off += k;
        r = (ssize_t)k;
    } else {
        r = MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&j->mu);
    return r;
}

static void stream_free(void *cls) {
    ttc_job *j = cls;
    atomic_store(&j->cancel, 1); /* no-op when it already finished */
    job_unref(j);
}

/* Creates a job for a validated request (takes ownership of *req) and
 * queues it. Returns the job with one reference for the caller, or NULL
 * with *status set (429 queue full, 503 stopping/out of memory). */
static ttc_job *job_submit(ttc_server *s, ttc_api_req *req, ttc_endpoint ep, conn *cc, int fd, int *status) {
    ttc_job *j = calloc(1, sizeof *j);
    job_choice *ch = j ? calloc((size_t)req->n, sizeof *ch) : NULL;
    if (!ch) { free(j); *status = 503; return NULL; }
    j->srv = s;
    j->req = *req;
    memset(req, 0, sizeof *req);
    j->ep = ep;
    j->t0 = cc->t0;
    j->fd = fd;
    j->created = (int64_t)time(NULL);
    j->ch = ch;
    j->n_ch = j->req.n;
    j->refs = 2;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);

    pthread_mutex_lock(&s->mu);
    bool idle = s->n_running + s->n_queued < s->n_workers;
    if (atomic_load(&s->stopping) || (!idle && s->n_queued >= s->o.queue)) {
        *status = atomic_load(&s->stopping) ? 503 : 429;
        pthread_mutex_unlock(&s->mu);
        /* never shared: free it directly */
        ttc_api_req_free(&j->req);
        pthread_cond_destroy(&j->cv);
        pthread_mutex_destroy(&j->mu);
        free(j->ch);
        free(j);
        return NULL;
    }
    uint64_t a = ttc_rng_u64(&s->rng), b = ttc_rng_u64(&s->rng) ^ ++s->n_ids;
    snprintf(j->id, sizeof j->id, "%s-%016llx%08llx", ep == TTC_EP_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)a, (unsigned long long)(b & 0xffffffffu));
    j->lnext = s->live;
    if (s->live) s->live->lprev = j;
    s->live = j;
    if (s->qtail) s->qtail->qnext = j; else s->qhead = j;
    s->qtail = j;
    s->n_queued++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return j;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static bool auth_ok(ttc_server *s, struct MHD_Connection *c) {
    if (!s->o.api_key || !*s->o.api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7)) return false;
    h += 7;
    size_t n = strlen(h), m = strlen(s->o.api_key);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)h[i] ^ (unsigned char)s->o.api_key[i % (m ? m : 1)];
    return diff == 0;
}

static ttc_endpoint route(const char *url) {
    if (!strcmp(url, "/v1/chat/completions")) return TTC_EP_CHAT;
    if (!strcmp(url, "/v1/completions")) return TTC_EP_COMPLETIONS;
    if (!strcmp(url, "/v1/models")) return TTC_EP_MODELS;
    if (!strcmp(url, "/health")) return TTC_EP_HEALTH;
    if (!strcmp(url, "/metrics")) return TTC_EP_METRICS;
    if (!strcmp(url, "/pooling")) return TTC_EP_POOLING;
    return TTC_EP_OTHER;
}

static enum MHD_Result handle_completion(ttc_server *s, struct MHD_Connection *c, conn *cc) {
    ttc_api_req req;
    ttc_api_fault f;
    ttc_err e = {0};
    ttc_api_kind kind = cc->ep == TTC_EP_CHAT ? TTC_API_CHAT : TTC_API_COMPLETION;
    if (ttc_api_req_parse(cc->body, cc->len, kind, &s->o.limits, &req, &f, &e))
        return send_error(c, cc, &f, e.msg);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    int status = 0;
    ttc_job *j = job_submit(s, &req, cc->ep, cc, fd, &status);
    if (!j) {
        ttc_api_req_free(&req);
        if (status == 429)
            return send_fault(c, cc, 429, "rate_limit_error", "queue_full",
                              "the server's request queue is full; retry later");
        return send_fault(c, cc, 503, "server_error", "overloaded", "the server is shutting down or out of memory");
    }
    pthread_mutex_lock(&j->mu);
    bool ok = job_wait(j, j->req.stream ? is_started : is_done);
    if (!ok) {
        pthread_mutex_unlock(&j->mu);
        job_unref(j);
        return MHD_NO; /* client gone or server stopping: close */
    }
    if (j->req.stream && j->started) {
        pthread_mutex_unlock(&j->mu);
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, j, stream_free);
        if (!r) { atomic_store(&j->cancel, 1); job_unref(j); return MHD_NO; }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        cc->status = 200;
        cc->stream_job = j;
        enum MHD_Result res = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return res;
    }
    /* finished (non-streaming, or a stream that failed before it started) */
    enum MHD_Result res;
    if (j->rc) {
        fault_from_rc(j->rc, &f);
        char msg[sizeof j->err.msg];
        memcpy(msg, j->err.msg, sizeof msg);
        pthread_mutex_unlock(&j->mu);
        res = send_error(c, cc, &f, msg);
    } else {
        char *body = job_response(j);
        pthread_mutex_unlock(&j->mu);
        res = send_body(c, cc, 200, body, "application/json");
    }
    job_unref(j);
    return res;
}

/* Watches a connection while the connection thread computes: sets *cancel
 * when the client hangs up or the server stops, until hangup_watch_end. */
typedef struct hangup_watch {
    ttc_server     *s;
    int             fd;
    atomic_int     *cancel;
    bool            done, gone;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    pthread_t       th;
} hangup_watch;

static void *hangup_watch_run(void *arg) {
    hangup_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        if (atomic_load(&w->s->stopping) || client_gone(w->fd)) {
            w->gone = true;
            atomic_store(w->cancel, 1);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += HANGUP_POLL_NS;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Starts watching; false if no thread could be started (then nothing
 * watches, and the work runs to the end as before). */
static bool hangup_watch_begin(hangup_watch *w, ttc_server *s, int fd, atomic_int *cancel) {
    *w = (hangup_watch){.s = s, .fd = fd, .cancel = cancel};
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->th, NULL, hangup_watch_run, w) == 0) return true;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return false;
}

/* Stops the watcher (at once, not at its next poll); true if the client
 * hung up or the server is stopping. */
static bool hangup_watch_end(hangup_watch *w) {
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return w->gone;
}

/* POST /pooling: every input through backend->pool, one response. Scoring
 * runs on the connection's thread; a watcher cancels it when the client
 * hangs up, as a completion's job is canceled. */
static enum MHD_Result handle_pooling(ttc_server *s, struct MHD_Connection *c, conn *cc) {
    if (!s->be.pool)
        return send_fault(c, cc, 404, "not_found_error", "unknown_url",
                          "POST /pooling needs a verifier model; this server has none (start it with --prm)");
    ttc_api_pool_req req;
    ttc_api_fault f;
    ttc_err e = {0};
    if (ttc_api_pool_parse(cc->body, cc->len, &s->o.limits, &req, &f, &e)) return send_error(c, cc, &f, e.msg);
    /* the same bound as completions: running + queued */
    if (atomic_fetch_add(&s->n_pooling, 1) >= s->o.parallel + s->o.queue) {
        atomic_fetch_sub(&s->n_pooling, 1);
        ttc_api_pool_req_free(&req);
        return send_fault(c, cc, 429, "rate_limit_error", "queue_full", "too many /pooling requests at once; retry later");
    }
    float **rows = calloc((size_t)req.n_inputs, sizeof *rows);
    int *n_rows = calloc((size_t)req.n_inputs, sizeof *n_rows), *n_tok = calloc((size_t)req.n_inputs, sizeof *n_tok);
    int64_t tokens = 0;
    int rc = rows && n_rows && n_tok ? TTC_OK : ttc_err_set(&e, TTC_ENOMEM, "out of memory");
    atomic_int cancel = atomic_load(&s->stopping);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    hangup_watch w;
    bool watching = hangup_watch_begin(&w, s, ci ? ci->connect_fd : -1, &cancel);
    if (!rc) {
        int failed = -1;
        rc = atomic_load(&cancel) ? ttc_err_set(&e, TTC_ECANCELED, "canceled")
                                  : s->be.pool(s->be.self, (const char *const *)req.inputs, req.lens, req.n_inputs,
                                               &cancel, rows, n_rows, n_tok, &failed, &e);
        if (rc && failed >= 0 && req.n_inputs > 1) ttc_err_wrap(&e, "input[%d]: ", failed);
        for (int i = 0; !rc && i < req.n_inputs; i++) tokens += n_tok[i];
    }
    bool gone = watching && hangup_watch_end(&w);
    enum MHD_Result res;
    if (gone) {
        ttc_metrics_disconnect(s->metrics);
        res = MHD_NO; /* client gone or server stopping: close */
    } else if (rc) {
        fault_from_rc(rc, &f);
        res = send_error(c, cc, &f, e.msg);
    } else {
        char id[48];
        pthread_mutex_lock(&s->mu);
        uint64_t a = ttc_rng_u64(&s->rng) ^ ++s->n_ids;
        pthread_mutex_unlock(&s->mu);
        snprintf(id, sizeof id, "pool-%016llx", (unsigned long long)a);
        ttc_metrics_tokens(s->metrics, 0, 0, 0, 0, tokens);
        res = send_body(c, cc, 200,
                        ttc_api_pool_json(id, (int64_t)time(NULL), req.model, (const float *const *)rows, n_rows,
                                          req.n_inputs, tokens),
                        "application/json");
    }
    for (int i = 0; rows && i < req.n_inputs; i++) free(rows[i]);
    free(rows);
    free(n_rows);
    free(n_tok);
    ttc_api_pool_req_free(&req);
    atomic_fetch_sub(&s->n_pooling, 1);
    return res;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    ttc_server *s = cls;
    conn *cc = *con_cls;
    if (!cc) {
        cc = calloc(1, sizeof *cc);
        if (!cc) return MHD_NO;
        cc->t0 = ttc_now();
        cc->srv = s;
        cc->ep = route(url);
        *con_cls = cc;
        bool post_ep = cc->ep == TTC_EP_CHAT || cc->ep == TTC_EP_COMPLETIONS || cc->ep == TTC_EP_POOLING;
        if (cc->ep == TTC_EP_OTHER)
            return send_fault(c, cc, 404, "not_found_error", "unknown_url", "no such endpoint");
        if (strcmp(method, post_ep ? "POST" : "GET")) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s is not allowed here; use %s", method, post_ep ? "POST" : "GET");
            return send_fault(c, cc, 405, "invalid_request_error", "method_not_allowed", msg);
        }
        if ((cc->ep != TTC_EP_HEALTH && cc->ep != TTC_EP_METRICS) && !auth_ok(s, c))
            return send_fault(c, cc, 401, "authentication_error", "invalid_api_key",
                              "missing or incorrect API key (send 'Authorization: Bearer KEY')");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "request body of %s bytes exceeds the limit of %zu", cl, s->o.max_body);
            return send_fault(c, cc, 413, "invalid_request_error", "request_too_large", msg);
        }
        return MHD_YES;
    }
    if (cc->status) { *upload_size = 0; return MHD_YES; } /* answered early; drop the body */
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (cc->too_large || cc->len + n > s->o.max_body) {
            /* a chunked upload past the limit: drop the bytes and answer 413
             * at the end, but hang up on one that goes on and on */
            cc->too_large = true;
            cc->discarded += n;
            return cc->discarded > 4 * s->o.max_body ? MHD_NO : MHD_YES;
        }
        if (cc->len + n + 1 > cc->cap) {
            size_t cap = cc->cap ? cc->cap : 4096;
            while (cap < cc->len + n + 1) cap *= 2;
            char *b = realloc(cc->body, cap);
            if (!b) { cc->too_large = true; return MHD_YES; }
            cc->body = b;
            cc->cap = cap;
        }
        memcpy(cc->body + cc->len, upload, n);
        cc->len += n;
        return MHD_YES;
    }
    if (cc->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes", s->o.max_body);
        return send_fault(c, cc, 413, "invalid_request_error", "request_too_large", msg);
    }
    switch (cc->ep) {
    case TTC_EP_CHAT: case TTC_EP_COMPLETIONS:
        return handle_completion(s, c, cc);
    case TTC_EP_POOLING:
        return handle_pooling(s, c, cc);
    case TTC_EP_MODELS:
        return send_body(c, cc, 200, ttc_api_models_json(s->model_id, (int64_t)time(NULL)), "application/json");
    case TTC_EP_HEALTH:
        return send_body(c, cc, 200, strdup("{\"status\":\"ok\"}"), "application/json");
    case TTC_EP_METRICS: {
        ttc_metrics_gauges g = {0};
        if (s->be.gauges) s->be.gauges(s->be.self, &g);
        ttc_server_load(s, &g.queued, &g.running);
        return send_body(c, cc, 200, ttc_metrics_render(s->metrics, &g), "text/plain; version=0.0.4");
    }
    default:
        return send_fault(c, cc, 404, "not_found_error", "unknown_url", "no such endpoint");
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    ttc_server *s = cls;
    conn *cc = *con_cls;
    if (!cc) return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
        (cc->ep == TTC_EP_CHAT || cc->ep == TTC_EP_COMPLETIONS))
        ttc_metrics_disconnect(s->metrics);
    if (!cc->counted) ttc_metrics_request(s->metrics, cc->ep, cc->status ? cc->status : 499, ttc_now() - cc->t0);
    free(cc->body);
    free(cc);
    *con_cls = NULL;
}

int ttc_server_start(const ttc_server_opts *opts, const ttc_serve_backend *backend, ttc_server **out,
                     ttc_err *e) {
    ttc_server *s = calloc(1, sizeof *s);
    if (!s) return ttc_err_set(e, TTC_ENOMEM, "server: out of memory");
    s->o = *opts;
    s->be = *backend;
    snprintf(s->host, sizeof s->host, "%s", opts->host && *opts->host ? opts->host : "127.0.0.1");
    snprintf(s->model_id, sizeof s->model_id, "%s", backend->model_id ? backend->model_id : "ttc");
    if (!s->o.max_body) s->o.max_body = 1 << 20;
    s->o.queue = opts->queue < 0 ? 0 : opts->queue == 0 ? 64 : opts->queue;
    if (s->o.parallel <= 0) s->o.parallel = 8;
    if (s->o.timeout_s <= 0) s->o.timeout_s = 60;
    if (s->o.max_connections <= 0) s->o.max_connections = 256;
    s->o.limits.model_id = s->model_id;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    ttc_rng_seed(&s->rng, (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)s << 16));
    int rc = ttc_metrics_new(&s->metrics, e);
    if (rc) goto fail;

    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, s->host, &sa.sin_addr) != 1) {
        rc = ttc_err_set(e, TTC_EINVAL, "server: host '%s' is not an IPv4 address", s->host);
        goto fail;
    }
    s->workers = calloc((size_t)s->o.parallel, sizeof *s->workers);
    if (!s->workers) { rc = ttc_err_set(e, TTC_ENOMEM, "server: out of memory"); goto fail; }
    for (int i = 0; i < s->o.parallel; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s)) {
            rc = ttc_err_set(e, TTC_EIO, "server: cannot start worker thread %d", i);
            goto fail;
        }
        s->n_workers++;
    }
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
                            0, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                            MHD_OPTION_END);
    if (!s->d) {
        rc = ttc_err_set(e, TTC_EIO, "server: cannot listen on %s:%d (port in use or not permitted)", s->host,
                         opts->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : opts->port;
    *out = s;
    return TTC_OK;
fail:
    ttc_server_stop(s);
    return rc;
}

int ttc_server_port(const ttc_server *s) { return s->port; }
ttc_metrics *ttc_server_metrics(ttc_server *s) { return s->metrics; }

void ttc_server_load(ttc_server *s, int *queued, int *running) {
    pthread_mutex_lock(&s->mu);
    if (queued) *queued = s->n_queued;
    if (running) *running = s->n_running;
    pthread_mutex_unlock(&s->mu);
}

void ttc_server_stop(ttc_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stopping, 1);
    for (ttc_job *j = s->live; j; j = j->lnext) atomic_store(&j->cancel, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->d) MHD_stop_daemon(s->d);
    for (int i = 0; i < s->n_workers; i++) pthread_join(s->workers[i], NULL);
    free(s->workers);
    ttc_metrics_free(s->metrics);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
