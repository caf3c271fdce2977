/* Remote OpenAI-compatible engines: see remote.h. */
#include "serve/remote.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/rng.h"
#include "base/util.h"
#include "data/prompt.h"
#include "optimal/policy.h"
#include "serve/job_search.h"
#include "search/strategy.h"
#include "train/prm.h"

/* ---- HTTP client ---- */

struct ttc_http {
    char            base[512];
    char            auth[600];
    double          timeout_s;
    int             retries, backoff_ms;
    CURLSH         *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void share_lock(CURL *c, curl_lock_data d, curl_lock_access a, void *ud) {
    (void)c; (void)a;
    pthread_mutex_lock(&((ttc_http *)ud)->locks[d]);
}
static void share_unlock(CURL *c, curl_lock_data d, void *ud) {
    (void)c;
    pthread_mutex_unlock(&((ttc_http *)ud)->locks[d]);
}

int ttc_http_new(const ttc_http_opts *o, ttc_http **out, ttc_err *e) {
    pthread_once(&curl_once, curl_init_once);
    if (!o->base_url || strncmp(o->base_url, "http", 4))
        return ttc_err_set(e, TTC_EINVAL, "remote: '%s' is not an http(s) URL", o->base_url ? o->base_url : "");
    ttc_http *h = calloc(1, sizeof *h);
    if (!h) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    snprintf(h->base, sizeof h->base, "%s", o->base_url);
    size_t n = strlen(h->base);
    while (n && h->base[n - 1] == '/') h->base[--n] = 0;
    if (n >= 3 && !strcmp(h->base + n - 3, "/v1")) h->base[n - 3] = 0; /* paths carry /v1 */
    if (o->api_key) snprintf(h->auth, sizeof h->auth, "Authorization: Bearer %s", o->api_key);
    h->timeout_s = o->timeout_s > 0 ? o->timeout_s : 300;
    h->retries = o->retries > 0 ? o->retries : (o->retries < 0 ? 0 : 4);
    h->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 100;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&h->locks[i], NULL);
    h->share = curl_share_init();
    if (!h->share) { ttc_http_free(h); return ttc_err_set(e, TTC_ENOMEM, "remote: curl_share_init failed"); }
    curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    *out = h;
    return TTC_OK;
}

void ttc_http_free(ttc_http *h) {
    if (!h) return;
    if (h->share) curl_share_cleanup(h->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&h->locks[i]);
    free(h);
}

const char *ttc_http_base(const ttc_http *h) { return h->base; }

typedef struct xfer {
    CURL  *c;
    struct curl_slist *hdr;
    char  *req;
    char  *buf;
    size_t len, cap;
    bool   done, ok;
} xfer;

static size_t on_data(char *p, size_t sz, size_t nm, void *ud) {
    xfer *x = ud;
    size_t n = sz * nm;
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + n + 1) cap *= 2;
        char *b = realloc(x->buf, cap);
        if (!b) return 0;
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, p, n);
    x->len += n;
    x->buf[x->len] = 0;
    return n;
}

static void xfer_reset(xfer *x) {
    if (x->c) curl_easy_cleanup(x->c);
    curl_slist_free_all(x->hdr);
    x->c = NULL;
    x->hdr = NULL;
    x->len = 0;
}

static int xfer_setup(ttc_http *h, xfer *x, const char *url, bool post, ttc_err *e) {
    xfer_reset(x);
    x->c = curl_easy_init();
    if (!x->c) return ttc_err_set(e, TTC_ENOMEM, "remote: curl_easy_init failed");
    x->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (h->auth[0]) x->hdr = curl_slist_append(x->hdr, h->auth);
    curl_easy_setopt(x->c, CURLOPT_URL, url);
    curl_easy_setopt(x->c, CURLOPT_SHARE, h->share);
    curl_easy_setopt(x->c, CURLOPT_HTTPHEADER, x->hdr);
    curl_easy_setopt(x->c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(x->c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->c, CURLOPT_TIMEOUT_MS, (long)(h->timeout_s * 1000));
    curl_easy_setopt(x->c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (post) {
        curl_easy_setopt(x->c, CURLOPT_POSTFIELDS, x->req);
        curl_easy_setopt(x->c, CURLOPT_POSTFIELDSIZE, (long)strlen(x->req));
    }
    return TTC_OK;
}

static bool retryable(CURLcode cc, long status) {
    if (cc == CURLE_OK) return status == 429 || status >= 500;
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
           cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE;
}

/* Sleeps ms milliseconds in slices, false if cancel was raised. */
static bool nap(int ms, atomic_int *cancel) {
    for (int t = 0; t < ms; t += 10) {
        if (cancel && atomic_load(cancel)) return false;
        usleep(10000);
    }
    return !(cancel && atomic_load(cancel));
}

/* Runs requests (GET when bodies == NULL) with retries. */
static int http_run(ttc_http *h, const char *path, json_t *const *bodies, int n, json_t **outs, atomic_int *cancel,
                    ttc_err *e) {
    char url[1024];
    snprintf(url, sizeof url, "%s%s", h->base, path);
    xfer *xs = calloc((size_t)(n ? n : 1), sizeof *xs);
    CURLM *m = curl_multi_init();
    int rc = xs && m ? TTC_OK : ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    for (int i = 0; i < n; i++) outs[i] = NULL;
    for (int i = 0; i < n && !rc; i++)
        if (bodies && !(xs[i].req = json_dumps(bodies[i], JSON_COMPACT)))
            rc = ttc_err_set(e, TTC_ENOMEM, "remote: cannot encode request %d", i);
    int backoff = h->backoff_ms;
    for (int attempt = 0; !rc; attempt++) {
        int active = 0;
        for (int i = 0; i < n && !rc; i++) {
            if (xs[i].ok) continue;
            if ((rc = xfer_setup(h, &xs[i], url, bodies != NULL, e))) break;
            curl_multi_add_handle(m, xs[i].c);
            active++;
        }
        if (rc || !active) break;
        int running = 1;
        while (running) {
            if (curl_multi_perform(m, &running) != CURLM_OK) { rc = ttc_err_set(e, TTC_ENET, "remote %s: curl multi failed", url); break; }
            if (!running) break;
            if (cancel && atomic_load(cancel)) { rc = ttc_err_set(e, TTC_ECANCELED, "remote %s: canceled", url); break; }
            curl_multi_poll(m, NULL, 0, 100, NULL);
        }
        bool retry = false;
        CURLMsg *msg;
        int left;
        while (!rc && (msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            int i = 0;
            while (i < n && xs[i].c != msg->easy_handle) i++;
            if (i == n) continue;
            long status = 0;
            curl_easy_getinfo(xs[i].c, CURLINFO_RESPONSE_CODE, &status);
            CURLcode cc = msg->data.result;
            if (cc == CURLE_OK && status >= 200 && status < 300) {
                json_error_t je;
                outs[i] = json_loadb(xs[i].buf ? xs[i].buf : "", xs[i].len, 0, &je);
                if (!outs[i]) {
                    rc = ttc_err_set(e, TTC_EFORMAT, "remote %s: the answer is not JSON (%s): %.120s", url, je.text,
                                     xs[i].buf ? xs[i].buf : "");
                    break;
                }
                xs[i].ok = true;
            } else if (retryable(cc, status) && attempt < h->retries) {
                retry = true;
            } else if (cc != CURLE_OK) {
                rc = ttc_err_set(e, cc == CURLE_OPERATION_TIMEDOUT ? TTC_ENET : TTC_ENET, "remote %s: %s%s", url,
                                 curl_easy_strerror(cc), attempt ? " (after retries)" : "");
                break;
            } else {
                rc = ttc_err_set(e, status == 404 ? TTC_EUNSUPPORTED : TTC_ENET, "remote %s: HTTP %ld%s: %.200s", url,
                                 status, status == 404 ? " (the engine does not offer this endpoint)" : "",
                                 xs[i].buf ? xs[i].buf : "");
                break;
            }
        }
        for (int i = 0; i < n; i++)
            if (xs[i].c) { curl_multi_remove_handle(m, xs[i].c); xfer_reset(&xs[i]); }
        if (rc || !retry) break;
        if (!nap(backoff, cancel)) { rc = ttc_err_set(e, TTC_ECANCELED, "remote %s: canceled", url); break; }
        backoff *= 2;
    }
    for (int i = 0; xs && i < n; i++) {
        xfer_reset(&xs[i]);
        free(xs[i].req);
        free(xs[i].buf);
        if (rc && outs[i]) { json_decref(outs[i]); outs[i] = NULL; }
    }
    free(xs);
    if (m) curl_multi_cleanup(m);
    return rc;
}

int ttc_http_post_json(ttc_http *h, const char *path, json_t *const *bodies, int n, json_t **outs, atomic_int *cancel,
                       ttc_err *e) {
    return http_run(h, path, bodies, n, outs, cancel, e);
}

int ttc_http_get_json(ttc_http *h, const char *path, json_t **out, ttc_err *e) {
    return http_run(h, path, NULL, 1, out, NULL, e);
}

/* ---- streaming (server-sent events) ---- */

typedef struct sse_rx {
    ttc_http *h;
    CURL     *c;
    int     (*on_event)(void *ud, json_t *ev, ttc_err *e);
    void     *ud;
    atomic_int *cancel;
    char     *buf;           /* bytes not yet parsed (or the whole body when not 2xx) */
    size_t    len, cap;
    int       n_events;
    bool      done, sse;     /* saw [DONE]; the answer is text/event-stream */
    int       rc;            /* first error of on_event or parsing */
    ttc_err   err;
    char      url[1024];
} sse_rx;

/* Parses the complete "data: ..." lines at the front of rx->buf. */
static void sse_parse(sse_rx *rx) {
    size_t at = 0;
    for (;;) {
        char *nl = memchr(rx->buf + at, '\n', rx->len - at);
        if (!nl) break;
        size_t end = (size_t)(nl - rx->buf);
        char *line = rx->buf + at;
        size_t n = end - at;
        if (n && line[n - 1] == '\r') n--;
        at = end + 1;
        if (n < 5 || strncmp(line, "data:", 5)) continue;   /* comments, event:, id:, blank */
        line += 5;
        n -= 5;
        while (n && *line == ' ') { line++; n--; }
        if (n == 6 && !strncmp(line, "[DONE]", 6)) { rx->done = true; continue; }
        json_error_t je;
        json_t *ev = json_loadb(line, n, 0, &je);
        if (!ev) {
            rx->rc = ttc_err_set(&rx->err, TTC_EFORMAT, "remote %s: a stream event is not JSON (%s): %.120s", rx->url,
                                 je.text, line);
            break;
        }
        rx->n_events++;
        int rc = rx->on_event(rx->ud, ev, &rx->err);
        json_decref(ev);
        if (rc) { rx->rc = rc; break; }
    }
    memmove(rx->buf, rx->buf + at, rx->len - at);
    rx->len -= at;
}

static size_t sse_data(char *p, size_t sz, size_t nm, void *ud) {
    sse_rx *rx = ud;
    size_t n = sz * nm;
    if (rx->len + n + 1 > rx->cap) {
        size_t cap = rx->cap ? rx->cap : 4096;
        while (cap < rx->len + n + 1) cap *= 2;
        char *b = realloc(rx->buf, cap);
        if (!b) return 0;
        rx->buf = b;
        rx->cap = cap;
    }
    memcpy(rx->buf + rx->len, p, n);
    rx->len += n;
    rx->buf[rx->len] = 0;
    long status = 0;
    char *ctype = NULL;
    curl_easy_getinfo(rx->c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(rx->c, CURLINFO_CONTENT_TYPE, &ctype);
    rx->sse = status >= 200 && status < 300 && ctype && strstr(ctype, "text/event-stream");
    if (rx->sse) sse_parse(rx);
    return rx->rc ? 0 : n;
}

static int sse_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a; (void)b; (void)c; (void)d;
    sse_rx *rx = ud;
    return rx->cancel && atomic_load(rx->cancel) ? 1 : 0;
}

int ttc_http_post_stream(ttc_http *h, const char *path, json_t *body, int (*on_event)(void *ud, json_t *ev, ttc_err *e),
                         void *ud, atomic_int *cancel, ttc_err *e) {
    sse_rx rx = {.h = h, .on_event = on_event, .ud = ud, .cancel = cancel};
    snprintf(rx.url, sizeof rx.url, "%s%s", h->base, path);
    char *req = json_dumps(body, JSON_COMPACT);
    if (!req) return ttc_err_set(e, TTC_ENOMEM, "remote: cannot encode the request");
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Accept: text/event-stream");
    if (h->auth[0]) hdr = curl_slist_append(hdr, h->auth);
    int rc = TTC_OK, backoff = h->backoff_ms;
    for (int attempt = 0;; attempt++) {
        rx.c = curl_easy_init();
        if (!rx.c) { rc = ttc_err_set(e, TTC_ENOMEM, "remote: curl_easy_init failed"); break; }
        rx.len = 0;
        curl_easy_setopt(rx.c, CURLOPT_URL, rx.url);
        curl_easy_setopt(rx.c, CURLOPT_SHARE, h->share);
        curl_easy_setopt(rx.c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(rx.c, CURLOPT_POSTFIELDS, req);
        curl_easy_setopt(rx.c, CURLOPT_POSTFIELDSIZE, (long)strlen(req));
        curl_easy_setopt(rx.c, CURLOPT_WRITEFUNCTION, sse_data);
        curl_easy_setopt(rx.c, CURLOPT_WRITEDATA, &rx);
        curl_easy_setopt(rx.c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(rx.c, CURLOPT_XFERINFOFUNCTION, sse_progress);
        curl_easy_setopt(rx.c, CURLOPT_XFERINFODATA, &rx);
        curl_easy_setopt(rx.c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(rx.c, CURLOPT_TIMEOUT_MS, (long)(h->timeout_s * 1000));
        curl_easy_setopt(rx.c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        CURLcode cc = curl_easy_perform(rx.c);
        long status = 0;
        curl_easy_getinfo(rx.c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(rx.c);
        rx.c = NULL;
        if (rx.rc) { rc = rx.rc; *e = rx.err; break; }
        if (cancel && atomic_load(cancel)) { rc = ttc_err_set(e, TTC_ECANCELED, "remote %s: canceled", rx.url); break; }
        bool ok = cc == CURLE_OK && status >= 200 && status < 300;
        if (ok && !rx.sse) {
            /* an engine that answered in one JSON body: one event */
            json_error_t je;
            json_t *whole = json_loadb(rx.buf ? rx.buf : "", rx.len, 0, &je);
            if (!whole) {
                rc = ttc_err_set(e, TTC_EFORMAT, "remote %s: the answer is neither an event stream nor JSON: %.120s",
                                 rx.url, rx.buf ? rx.buf : "");
                break;
            }
            rc = on_event(ud, whole, e);
            json_decref(whole);
            break;
        }
        if (ok) {
            if (!rx.done)
                rc = ttc_err_set(e, TTC_ENET, "remote %s: the event stream ended without data: [DONE]", rx.url);
            break;
        }
        /* retry only while nothing was delivered */
        if (rx.n_events == 0 && retryable(cc, status) && attempt < h->retries) {
            if (!nap(backoff, cancel)) { rc = ttc_err_set(e, TTC_ECANCELED, "remote %s: canceled", rx.url); break; }
            backoff *= 2;
            continue;
        }
        if (cc != CURLE_OK)
            rc = ttc_err_set(e, TTC_ENET, "remote %s: %s%s", rx.url, curl_easy_strerror(cc),
                             attempt ? " (after retries)" : "");
        else
            rc = ttc_err_set(e, status == 404 ? TTC_EUNSUPPORTED : TTC_ENET, "remote %s: HTTP %ld%s: %.200s", rx.url,
                             status, status == 404 ? " (the engine does not offer this endpoint)" : "",
                             rx.buf ? rx.buf : "");
        break;
    }
    curl_slist_free_all(hdr);
    free(req);
    free(rx.buf);
    return rc;
}

/* ---- node tables (text prefixes) ---- */

typedef struct tnode { char *text; size_t len; bool live; } tnode;
typedef struct ttable { tnode *v; int n, cap; } ttable;

static int tt_new(ttable *t, const char *s, size_t len, int *node, ttc_err *e) {
    int i = 0;
    while (i < t->n && t->v[i].live) i++;
    if (i == t->n) {
        if (t->n == t->cap) {
            int cap = t->cap ? t->cap * 2 : 16;
            tnode *v = realloc(t->v, (size_t)cap * sizeof *v);
            if (!v) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
            t->v = v;
            t->cap = cap;
        }
        t->n++;
    }
    char *c = malloc(len + 1);
    if (!c) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    memcpy(c, s, len);
    c[len] = 0;
    t->v[i] = (tnode){c, len, true};
    *node = i;
    return TTC_OK;
}

static tnode *tt_get(ttable *t, int node) {
    return node >= 0 && node < t->n && t->v[node].live ? &t->v[node] : NULL;
}

static void tt_free(ttable *t, int node) {
    tnode *x = tt_get(t, node);
    if (x) { free(x->text); x->text = NULL; x->live = false; }
}

static int tt_append(tnode *x, const char *s, size_t len, ttc_err *e) {
    char *b = realloc(x->text, x->len + len + 1);
    if (!b) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    memcpy(b + x->len, s, len);
    x->len += len;
    b[x->len] = 0;
    x->text = b;
    return TTC_OK;
}

static void tt_destroy(ttable *t) {
    for (int i = 0; i < t->n; i++) free(t->v[i].text);
    free(t->v);
}

/* ---- remote generator ---- */

typedef struct rgen {
    ttc_generator base;
    ttc_http     *h;
    char          model[256];
    atomic_int   *cancel;
    ttable        nodes;
    char        **texts;   /* results of the last extend */
    int           n_texts;
} rgen;

static int rg_root(ttc_generator *g, const char *prompt, int *node, ttc_err *e) {
    g->usage.calls++;
    return tt_new(&((rgen *)g)->nodes, prompt, strlen(prompt), node, e);
}

static int rg_fork(ttc_generator *g, int src, int *node, ttc_err *e) {
    rgen *x = (rgen *)g;
    tnode *s = tt_get(&x->nodes, src);
    if (!s) return ttc_err_set(e, TTC_EINVAL, "remote generator: node %d is not live", src);
    char *copy = strdup(s->text);
    if (!copy) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    int rc = tt_new(&x->nodes, copy, strlen(copy), node, e);
    free(copy);
    return rc;
}

static void rg_release(ttc_generator *g, int node) { tt_free(&((rgen *)g)->nodes, node); }

/* The first choice of a completions answer: text, finish_reason, stop_reason. */
static int first_choice(json_t *ans, const char *url, const char **text, const char **finish, json_t **stop_reason,
                        json_t **choice, ttc_err *e) {
    json_t *ch = json_array_get(json_object_get(ans, "choices"), 0);
    json_t *t = json_object_get(ch, "text");
    if (!json_is_string(t))
        return ttc_err_set(e, TTC_EFORMAT, "remote %s/v1/completions: the answer has no choices[0].text", url);
    *text = json_string_value(t);
    *finish = json_string_value(json_object_get(ch, "finish_reason"));
    if (!*finish) *finish = "stop";
    if (stop_reason) *stop_reason = json_object_get(ch, "stop_reason");
    if (choice) *choice = ch;
    return TTC_OK;
}

static int rg_extend(ttc_generator *g, const int *nodes, int n, ttc_extend_mode mode, const ttc_extend_opts *o,
                     ttc_extend_result *res, ttc_err *e) {
    rgen *x = (rgen *)g;
    for (int i = 0; i < x->n_texts; i++) free(x->texts[i]);
    free(x->texts);
    x->texts = calloc((size_t)(n ? n : 1), sizeof *x->texts);
    x->n_texts = x->texts ? n : 0;
    json_t **bodies = calloc((size_t)(n ? n : 1), sizeof *bodies), **outs = calloc((size_t)(n ? n : 1), sizeof *outs);
    int rc = x->texts && bodies && outs ? TTC_OK : ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    for (int i = 0; i < n && !rc; i++) {
        tnode *nd = tt_get(&x->nodes, nodes[i]);
        if (!nd) { rc = ttc_err_set(e, TTC_EINVAL, "remote generator: node %d is not live", nodes[i]); break; }
        json_t *b = json_pack("{s:s,s:i,s:f,s:f,s:i}", "prompt", nd->text, "max_tokens",
                              o->max_tokens > 0 ? o->max_tokens : TTC_MAX(16, g->info.n_ctx / 2), "temperature",
                              (double)(o->temperature > 0 ? o->temperature : 0), "top_p",
                              (double)(o->top_p > 0 && o->top_p < 1 ? o->top_p : 1), "n", 1);
        if (x->model[0]) json_object_set_new(b, "model", json_string(x->model));
        if (o->seeds) json_object_set_new(b, "seed", json_integer((json_int_t)(o->seeds[i] & 0x7fffffffffffffffULL)));
        if (mode == TTC_EXTEND_STEP) {
            json_object_set_new(b, "stop", json_pack("[s]", "\n"));
            json_object_set_new(b, "include_stop_str_in_output", json_true());
        }
        bodies[i] = b;
    }
    if (!rc) rc = ttc_http_post_json(x->h, "/v1/completions", bodies, n, outs, x->cancel, e);
    g->usage.calls++;
    for (int i = 0; i < n && !rc; i++) {
        const char *text, *finish;
        json_t *stop_reason;
        if ((rc = first_choice(outs[i], ttc_http_base(x->h), &text, &finish, &stop_reason, NULL, e))) break;
        size_t len = strlen(text);
        bool delim = false;
        if (mode == TTC_EXTEND_STEP && !strcmp(finish, "stop")) {
            if (len && text[len - 1] == '\n') delim = true;
            else if (json_is_string(stop_reason) && !strcmp(json_string_value(stop_reason), "\n")) delim = true;
        }
        x->texts[i] = malloc(len + 2);
        if (!x->texts[i]) { rc = ttc_err_set(e, TTC_ENOMEM, "remote: out of memory"); break; }
        memcpy(x->texts[i], text, len);
        if (delim && (len == 0 || text[len - 1] != '\n')) x->texts[i][len++] = '\n';
        x->texts[i][len] = 0;
        json_t *usage = json_object_get(outs[i], "usage");
        int nt = (int)json_integer_value(json_object_get(usage, "completion_tokens"));
        int np = (int)json_integer_value(json_object_get(usage, "prompt_tokens"));
        if ((rc = tt_append(tt_get(&x->nodes, nodes[i]), x->texts[i], len, e))) break;
        g->usage.tokens_prefill += np;
        g->usage.tokens_gen += nt;
        g->usage.flops += ttc_lm_flops(&g->info, 0, np + nt);
        bool length = !strcmp(finish, "length");
        res[i] = (ttc_extend_result){.text = x->texts[i], .len = (int)len, .n_tokens = nt, .n_prefill = np,
                                     .finished = !delim || length, .truncated = length};
        if (mode == TTC_EXTEND_SOLUTION) res[i].finished = true;
    }
    for (int i = 0; i < n; i++) {
        if (bodies) json_decref(bodies[i]);
        if (outs) json_decref(outs[i]);
    }
    free(bodies);
    free(outs);
    return rc ? ttc_err_wrap(e, "remote generator: ") : TTC_OK;
}

static void rg_destroy(ttc_generator *g) {
    rgen *x = (rgen *)g;
    for (int i = 0; i < x->n_texts; i++) free(x->texts[i]);
    free(x->texts);
    tt_destroy(&x->nodes);
    free(x);
}

static const ttc_generator_vt rgen_vt = {rg_root, rg_fork, rg_release, rg_extend, rg_destroy};

int ttc_remote_generator_new(ttc_http *h, const char *model, int n_ctx, atomic_int *cancel, ttc_generator **out,
                             ttc_err *e) {
    rgen *x = calloc(1, sizeof *x);
    if (!x) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    x->base.vt = &rgen_vt;
    x->base.info.n_ctx = n_ctx > 0 ? n_ctx : 4096;
    snprintf(x->base.info.name, sizeof x->base.info.name, "%.60s %.60s", ttc_http_base(h), model ? model : "");
    x->h = h;
    x->cancel = cancel;
    if (model) snprintf(x->model, sizeof x->model, "%s", model);
    *out = &x->base;
    return TTC_OK;
}

/* ---- remote verifier ---- */

typedef struct rver {
    ttc_verifier base;
    ttc_http    *h;
    char         model[256];
    ttc_remote_score_method method;
    atomic_int  *cancel;
    ttable       nodes;
} rver;

static int rv_root(ttc_verifier *v, const char *problem, int *node, ttc_err *e) {
    char *p = ttc_prompt_solve(problem);
    if (!p) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    int rc = tt_new(&((rver *)v)->nodes, p, strlen(p), node, e);
    free(p);
    v->usage.calls++;
    return rc;
}

static int rv_fork(ttc_verifier *v, int src, int *node, ttc_err *e) {
    rver *x = (rver *)v;
    tnode *s = tt_get(&x->nodes, src);
    if (!s) return ttc_err_set(e, TTC_EINVAL, "remote verifier: node %d is not live", src);
    char *copy = strdup(s->text);
    if (!copy) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    int rc = tt_new(&x->nodes, copy, strlen(copy), node, e);
    free(copy);
    return rc;
}

static void rv_release(ttc_verifier *v, int node) { tt_free(&((rver *)v)->nodes, node); }

/* p(+) / (p(+) + p(-)) from a completions answer's first-token top logprobs
 * (legacy {"top_logprobs": [{tok: lp}]} layout). */
static int score_from_logprobs(json_t *choice, const char *url, float *score, ttc_err *e) {
    json_t *top = json_array_get(json_object_get(json_object_get(choice, "logprobs"), "top_logprobs"), 0);
    if (!json_is_object(top))
        return ttc_err_set(e, TTC_EUNSUPPORTED,
                           "remote %s/v1/completions returned no top_logprobs; a remote PRM needs an engine that "
                           "supports 'logprobs' (20 alternatives)", url);
    double lp_good = -INFINITY, lp_bad = -INFINITY;
    const char *k;
    json_t *val;
    json_object_foreach(top, k, val) {
        /* "+" / "-", possibly with a leading space marker from the engine */
        const char *t = k;
        while (*t == ' ') t++;
        if (!strcmp(t, TTC_PRM_GOOD) && json_number_value(val) > lp_good) lp_good = json_number_value(val);
        if (!strcmp(t, TTC_PRM_BAD) && json_number_value(val) > lp_bad) lp_bad = json_number_value(val);
    }
    if (lp_good == -INFINITY && lp_bad == -INFINITY)
        return ttc_err_set(e, TTC_EFORMAT,
                           "remote %s: neither '+' nor '-' is among the verifier's top logprobs after the step tag; "
                           "is this a PRM in the ttc format?", url);
    double m = lp_good > lp_bad ? lp_good : lp_bad;
    double pg = exp(lp_good - m), pb = exp(lp_bad - m);
    *score = (float)(pg / (pg + pb));
    return TTC_OK;
}

/* vLLM /pooling: data[0].data holds [p(bad), p(good)] rows, one per step
 * tag (STEP pooling) or per token (ALL); the last row belongs to the final
 * tag. */
static int score_from_pooling(json_t *ans, const char *url, float *score, ttc_err *e) {
    json_t *rows = json_object_get(json_array_get(json_object_get(ans, "data"), 0), "data");
    if (json_is_array(rows) && json_array_size(rows) == 0)
        return ttc_err_set(e, TTC_EFORMAT, "remote %s/pooling returned no rows: the engine found no step tag '%s' in "
                           "the input (is the verifier a PRM in the ttc format?)", url, TTC_PRM_TAG);
    json_t *last = json_array_get(rows, json_array_size(rows) ? json_array_size(rows) - 1 : 0);
    json_t *good = json_array_get(last, 1);
    if (!json_is_array(last) || json_array_size(last) < 2 || !json_is_number(good))
        return ttc_err_set(e, TTC_EFORMAT, "remote %s/pooling: expected data[0].data as [p_bad, p_good] rows", url);
    double g = json_number_value(good);
    if (!(g >= 0 && g <= 1))
        return ttc_err_set(e, TTC_EFORMAT, "remote %s/pooling: p_good %g is not a probability (does the engine "
                           "apply softmax to the reward head?)", url, g);
    *score = (float)g;
    return TTC_OK;
}

/* Appends texts[i] to node i -- every step followed by the tag, as the
 * verifier was trained -- and reads the score after the last tag. */
static int rv_run(ttc_verifier *v, const int *nodes, const char *const *texts, int n, float *scores, ttc_err *e) {
    rver *x = (rver *)v;
    json_t **bodies = calloc((size_t)(n ? n : 1), sizeof *bodies), **outs = calloc((size_t)(n ? n : 1), sizeof *outs);
    int rc = bodies && outs ? TTC_OK : ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    for (int i = 0; i < n && !rc; i++) {
        tnode *nd = tt_get(&x->nodes, nodes[i]);
        if (!nd) { rc = ttc_err_set(e, TTC_EINVAL, "remote verifier: node %d is not live", nodes[i]); break; }
        for (const char *p = texts[i]; !rc && (*p || p == texts[i]);) {
            size_t len = ttc_lm_step_len(p);
            if (!(rc = tt_append(nd, p, len, e))) rc = tt_append(nd, TTC_PRM_TAG, strlen(TTC_PRM_TAG), e);
            p += len;
            if (!len) break;
        }
        if (rc) break;
        if (x->method == TTC_REMOTE_POOLING)
            bodies[i] = json_pack("{s:s}", "input", nd->text);
        else
            bodies[i] = json_pack("{s:s,s:i,s:i,s:f}", "prompt", nd->text, "max_tokens", 1, "logprobs", 20,
                                  "temperature", 0.0);
        if (x->model[0]) json_object_set_new(bodies[i], "model", json_string(x->model));
    }
    if (!rc)
        rc = ttc_http_post_json(x->h, x->method == TTC_REMOTE_POOLING ? "/pooling" : "/v1/completions", bodies, n, outs,
                                x->cancel, e);
    v->usage.calls++;
    for (int i = 0; i < n && !rc; i++) {
        json_t *usage = json_object_get(outs[i], "usage");
        v->usage.tokens_prefill += json_integer_value(json_object_get(usage, "prompt_tokens"));
        if (x->method == TTC_REMOTE_POOLING) {
            rc = score_from_pooling(outs[i], ttc_http_base(x->h), &scores[i], e);
        } else {
            json_t *choice;
            const char *t, *f;
            rc = first_choice(outs[i], ttc_http_base(x->h), &t, &f, NULL, &choice, e);
            if (!rc) rc = score_from_logprobs(choice, ttc_http_base(x->h), &scores[i], e);
        }
    }
    for (int i = 0; i < n; i++) {
        if (bodies) json_decref(bodies[i]);
        if (outs) json_decref(outs[i]);
    }
    free(bodies);
    free(outs);
    return rc ? ttc_err_wrap(e, "remote verifier: ") : TTC_OK;
}

static int rv_score(ttc_verifier *v, const int *nodes, const char *const *steps, int n, float *scores, ttc_err *e) {
    if (v->kind == TTC_VERIFIER_ORM)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "remote verifier: an outcome verifier cannot score single steps");
    return rv_run(v, nodes, steps, n, scores, e);
}

static int rv_score_final(ttc_verifier *v, const int *nodes, const char *const *texts, int n, float *scores, ttc_err *e) {
    return rv_run(v, nodes, texts, n, scores, e);
}

static void rv_destroy(ttc_verifier *v) {
    tt_destroy(&((rver *)v)->nodes);
    free(v);
}

static const ttc_verifier_vt rver_vt = {rv_root, rv_fork, rv_release, rv_score, rv_score_final, rv_destroy};

int ttc_remote_verifier_new(ttc_http *h, const char *model, ttc_verifier_kind kind, ttc_remote_score_method method,
                            atomic_int *cancel, ttc_verifier **out, ttc_err *e) {
    rver *x = calloc(1, sizeof *x);
    if (!x) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    x->base.vt = &rver_vt;
    x->base.kind = kind;
    x->base.info.n_ctx = 4096;
    snprintf(x->base.info.name, sizeof x->base.info.name, "%.60s %.60s", ttc_http_base(h), model ? model : "");
    x->h = h;
    x->method = method;
    x->cancel = cancel;
    if (model) snprintf(x->model, sizeof x->model, "%s", model);
    *out = &x->base;
    return TTC_OK;
}

/* ---- the server backend over a remote engine ---- */

struct ttc_remote {
    ttc_http *h, *vh;
    char      model[256];
    int       n_ctx;
    ttc_verifier_kind vkind;
    ttc_remote_score_method vmethod;
    ttc_http *rh, *oh;              /* revision engine and its ORM (both or neither) */
    char      rmodel[256];
    ttc_remote_score_method omethod;
    ttc_policy pol;                 /* --policy (optimal/policy.h) */
    bool      has_pol;
    pthread_mutex_t mu;
    ttc_rng   rng;
};

const char *ttc_remote_score_url(const char *url, ttc_remote_score_method *m) {
    if (!strncmp(url, "pooling+", 8)) { *m = TTC_REMOTE_POOLING; return url + 8; }
    *m = TTC_REMOTE_LOGPROBS;
    return url;
}

int ttc_remote_connect(const char *url, const char *api_key, const char *model, ttc_http **h, char name[256],
                       ttc_err *e) {
    *h = NULL;
    ttc_http_opts ho = {.base_url = url, .api_key = api_key};
    int rc = ttc_http_new(&ho, h, e);
    json_t *models = NULL;
    if (!rc) rc = ttc_http_get_json(*h, "/v1/models", &models, e);
    if (!rc) {
        const char *first = json_string_value(json_object_get(json_array_get(json_object_get(models, "data"), 0), "id"));
        if (model) snprintf(name, 256, "%s", model);
        else if (first) snprintf(name, 256, "%s", first);
        else rc = ttc_err_set(e, TTC_EFORMAT, "remote %s/v1/models lists no model", ttc_http_base(*h));
    }
    json_decref(models);
    return rc;
}

bool ttc_remote_spec(const char *s) { return s && !strncmp(s, "openai:", 7); }

int ttc_remote_generator_open(const char *spec, int n_ctx, ttc_http **h, ttc_generator **out, ttc_err *e) {
    *h = NULL;
    if (!ttc_remote_spec(spec)) return ttc_err_set(e, TTC_EINVAL, "'%s' is not openai:URL", spec);
    char name[256];
    int rc = ttc_remote_connect(spec + 7, NULL, NULL, h, name, e);
    if (!rc) rc = ttc_remote_generator_new(*h, name, n_ctx, NULL, out, e);
    if (rc) { ttc_http_free(*h); *h = NULL; }
    return rc;
}

int ttc_remote_verifier_open(const char *spec, ttc_verifier_kind kind, ttc_http **h, ttc_verifier **out, ttc_err *e) {
    *h = NULL;
    if (!ttc_remote_spec(spec)) return ttc_err_set(e, TTC_EINVAL, "'%s' is not openai:[pooling+]URL", spec);
    ttc_remote_score_method m;
    ttc_http_opts ho = {.base_url = ttc_remote_score_url(spec + 7, &m)};
    int rc = ttc_http_new(&ho, h, e);
    if (!rc) rc = ttc_remote_verifier_new(*h, NULL, kind, m, NULL, out, e);
    if (rc) { ttc_http_free(*h); *h = NULL; }
    return rc;
}

int ttc_remote_new(const ttc_remote_opts *o, ttc_remote **out, ttc_err *e) {
    ttc_remote *r = calloc(1, sizeof *r);
    if (!r) return ttc_err_set(e, TTC_ENOMEM, "remote: out of memory");
    pthread_mutex_init(&r->mu, NULL);
    ttc_rng_seed(&r->rng, (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)r);
    r->n_ctx = o->n_ctx > 0 ? o->n_ctx : 4096;
    int rc = ttc_remote_connect(o->url, o->api_key, o->model, &r->h, r->model, e);
    if (rc) { ttc_remote_free(r); return rc; }
    *out = r;
    return TTC_OK;
}

void ttc_remote_free(ttc_remote *r) {
    if (!r) return;
    ttc_http_free(r->h);
    ttc_http_free(r->vh);
    ttc_http_free(r->rh);
    ttc_http_free(r->oh);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int ttc_remote_set_verifier(ttc_remote *r, const char *url, bool orm, ttc_err *e) {
    ttc_http_opts ho = {0};
    ho.base_url = ttc_remote_score_url(url, &r->vmethod);
    r->vkind = orm ? TTC_VERIFIER_ORM : TTC_VERIFIER_PRM;
    return ttc_http_new(&ho, &r->vh, e);
}

int ttc_remote_set_revision(ttc_remote *r, const char *url, const char *model, const char *orm_url, ttc_err *e) {
    if (r->rh) return ttc_err_set(e, TTC_EINVAL, "remote: the revision pair is already set");
    int rc = ttc_remote_connect(url, NULL, model, &r->rh, r->rmodel, e);
    if (rc) { ttc_err_wrap(e, "revision model: "); goto fail; }
    ttc_http_opts ho = {0};
    ho.base_url = ttc_remote_score_url(orm_url, &r->omethod);
    if ((rc = ttc_http_new(&ho, &r->oh, e))) { ttc_err_wrap(e, "revision ORM: "); goto fail; }
    return TTC_OK;
fail:
    ttc_http_free(r->rh);
    r->rh = NULL;
    return rc;
}

int ttc_remote_load_policy(ttc_remote *r, const char *path, ttc_err *e) {
    int rc = ttc_policy_load(path, &r->pol, e);
    r->has_pol = rc == TTC_OK;
    return rc;
}

/* An engine's logprobs object for one choice (chat {"content": [...]} or
 * the completions layout), parsed into job form. */
typedef struct rlp {
    int    n, top_k;
    char **tok, **top;      /* n, n * top_k (NULL: missing alternative) */
    float *lp, *top_lp;
} rlp;

static void rlp_free(rlp *x) {
    for (int i = 0; x->tok && i < x->n; i++) free(x->tok[i]);
    for (int i = 0; x->top && i < x->n * x->top_k; i++) free(x->top[i]);
    free(x->tok); free(x->top); free(x->lp); free(x->top_lp);
    memset(x, 0, sizeof *x);
}

/* Parses lp (may be null: x->n = 0). Entries the engine left out become
 * empty tokens / missing alternatives rather than errors. */
static int rlp_parse(ttc_api_kind kind, json_t *lp, int top_k, rlp *x, ttc_err *e) {
    memset(x, 0, sizeof *x);
    if (!json_is_object(lp)) return TTC_OK;
    json_t *toks = kind == TTC_API_CHAT ? json_object_get(lp, "content") : json_object_get(lp, "tokens");
    size_t n = json_array_size(toks);
    x->n = (int)n;
    x->top_k = top_k;
    x->tok = calloc(n + 1, sizeof *x->tok);
    x->lp = calloc(n + 1, sizeof *x->lp);
    x->top = calloc(n * (size_t)top_k + 1, sizeof *x->top);
    x->top_lp = calloc(n * (size_t)top_k + 1, sizeof *x->top_lp);
    bool ok = x->tok && x->lp && x->top && x->top_lp;
    for (size_t t = 0; ok && t < n; t++) {
        json_t *item = json_array_get(toks, t), *alts;
        const char *tt;
        if (kind == TTC_API_CHAT) {
            tt = json_string_value(json_object_get(item, "token"));
            x->lp[t] = (float)json_number_value(json_object_get(item, "logprob"));
            alts = json_object_get(item, "top_logprobs");
            size_t k;
            json_t *a;
            json_array_foreach(alts, k, a) {
                if ((int)k >= top_k) break;
                const char *at = json_string_value(json_object_get(a, "token"));
                x->top_lp[t * top_k + k] = (float)json_number_value(json_object_get(a, "logprob"));
                if (at && !(x->top[t * top_k + k] = strdup(at))) ok = false;
            }
        } else {
            tt = json_string_value(item);
            x->lp[t] = (float)json_number_value(json_array_get(json_object_get(lp, "token_logprobs"), t));
            alts = json_array_get(json_object_get(lp, "top_logprobs"), t);
            const char *key;
            json_t *v;
            int k = 0;
            json_object_foreach(alts, key, v) {
                if (k >= top_k) break;
                x->top_lp[t * top_k + k] = (float)json_number_value(v);
                if (!(x->top[t * top_k + k] = strdup(key))) ok = false;
                k++;
            }
        }
        if (ok && !(x->tok[t] = strdup(tt ? tt : ""))) ok = false;
    }
    if (!ok) { rlp_free(x); return ttc_err_set(e, TTC_ENOMEM, "backend: out of memory for logprobs"); }
    return TTC_OK;
}

/* One streamed request's progress. */
typedef struct fwd_stream {
    ttc_job *j;
    const ttc_api_req *q;
    const char *url;
    ttc_api_usage u;
    bool *finished;          /* per choice */
} fwd_stream;

/* Hands one event of the engine's stream (a chunk, or a whole response
 * from an engine that does not stream) to the job. */
static int fwd_event(void *ud, json_t *ev, ttc_err *e) {
    fwd_stream *f = ud;
    json_t *err = json_object_get(ev, "error");
    if (err) {
        const char *msg = json_string_value(json_object_get(err, "message"));
        return ttc_err_set(e, TTC_ENET, "backend %s: the engine failed mid-stream: %.300s", f->url, msg ? msg : "?");
    }
    ttc_job_started(f->j);
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(ev, "choices"), i, ch) {
        json_t *idx = json_object_get(ch, "index");
        json_int_t c = json_is_integer(idx) ? json_integer_value(idx) : (json_int_t)i;
        if (c < 0 || c >= f->q->n)
            return ttc_err_set(e, TTC_EFORMAT, "backend %s: a stream chunk names choice %lld of %d", f->url, (long long)c,
                               f->q->n);
        json_t *text = f->q->kind == TTC_API_CHAT ? json_object_get(json_object_get(ch, "delta"), "content")
                                                  : json_object_get(ch, "text");
        if (!text && f->q->kind == TTC_API_CHAT) text = json_object_get(json_object_get(ch, "message"), "content");
        rlp lp;
        if (f->q->logprobs && rlp_parse(f->q->kind, json_object_get(ch, "logprobs"), f->q->top_logprobs, &lp, e))
            return TTC_ENOMEM;
        if (!f->q->logprobs) lp = (rlp){0};
        ttc_api_choice ac = {.n_tokens = lp.n, .token_text = (const char **)lp.tok, .token_logprob = lp.lp,
                             .top_k = lp.top_k, .top_text = (const char **)lp.top, .top_logprob = lp.top_lp};
        int erc = TTC_OK;
        if ((json_is_string(text) && json_string_length(text)) || lp.n)
            erc = ttc_job_emit_logprobs(f->j, (int)c, json_is_string(text) ? json_string_value(text) : "",
                                        json_is_string(text) ? json_string_length(text) : 0, lp.n ? &ac : NULL, e);
        rlp_free(&lp);
        if (erc) return erc;
        const char *fin = json_string_value(json_object_get(ch, "finish_reason"));
        if (fin) {
            ttc_job_finish_choice(f->j, (int)c, !strcmp(fin, "length") ? "length" : "stop");
            f->finished[c] = true;
        }
    }
    json_t *u = json_object_get(ev, "usage");
    if (json_is_object(u)) {
        f->u.prompt_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
        f->u.completion_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
    }
    return TTC_OK;
}

/* Forwards a plain request to the engine; streamed through as the engine
 * streams when the client asked for a stream. */
static int forward_plain(ttc_remote *r, ttc_job *j, const ttc_api_req *q, ttc_err *e) {
    json_t *b = json_pack("{s:s,s:f,s:f,s:i}", "model", r->model, "temperature", (double)q->temperature, "top_p",
                          (double)q->top_p, "n", q->n);
    if (q->has_max_tokens) json_object_set_new(b, "max_tokens", json_integer(q->max_tokens));
    if (q->kind == TTC_API_CHAT) {
        json_t *msgs = json_array();
        for (int i = 0; i < q->n_messages; i++)
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", q->messages[i].role, "content",
                                                  q->messages[i].content));
        json_object_set_new(b, "messages", msgs);
    } else {
        json_object_set_new(b, "prompt", json_string(q->prompt));
        if (q->echo) json_object_set_new(b, "echo", json_true());
    }
    if (q->has_seed) json_object_set_new(b, "seed", json_integer((json_int_t)(q->seed & 0x7fffffffffffffffULL)));
    if (q->logprobs && q->kind == TTC_API_CHAT) {
        json_object_set_new(b, "logprobs", json_true());
        if (q->top_logprobs) json_object_set_new(b, "top_logprobs", json_integer(q->top_logprobs));
    } else if (q->logprobs) {
        json_object_set_new(b, "logprobs", json_integer(q->top_logprobs));
    }
    if (q->n_stop) {
        json_t *st = json_array();
        for (int i = 0; i < q->n_stop; i++) json_array_append_new(st, json_string(q->stop[i]));
        json_object_set_new(b, "stop", st);
    }
    const char *path = q->kind == TTC_API_CHAT ? "/v1/chat/completions" : "/v1/completions";
    if (q->stream) {
        json_object_set_new(b, "stream", json_true());
        json_object_set_new(b, "stream_options", json_pack("{s:b}", "include_usage", 1));
        fwd_stream f = {.j = j, .q = q, .url = ttc_http_base(r->h), .finished = calloc((size_t)q->n, sizeof(bool))};
        int rc = f.finished ? ttc_http_post_stream(r->h, path, b, fwd_event, &f, ttc_job_cancel_flag(j), e)
                            : ttc_err_set(e, TTC_ENOMEM, "backend: out of memory");
        json_decref(b);
        for (int i = 0; !rc && i < q->n; i++)
            if (!f.finished[i]) ttc_job_finish_choice(j, i, "stop");
        free(f.finished);
        if (rc) return ttc_err_wrap(e, "backend: ");
        ttc_job_set_usage(j, &f.u);
        return TTC_OK;
    }
    json_t *ans = NULL;
    int rc = ttc_http_post_json(r->h, path, &b, 1, &ans, ttc_job_cancel_flag(j), e);
    json_decref(b);
    if (rc) return ttc_err_wrap(e, "backend: ");
    ttc_job_started(j);
    json_t *choices = json_object_get(ans, "choices");
    for (int i = 0; i < q->n; i++) {
        json_t *ch = json_array_get(choices, (size_t)i);
        const char *text = q->kind == TTC_API_CHAT ? json_string_value(json_object_get(json_object_get(ch, "message"), "content"))
                                                   : json_string_value(json_object_get(ch, "text"));
        if (!text) {
            json_decref(ans);
            return ttc_err_set(e, TTC_EFORMAT, "backend %s: answer has %zu choices, missing choice %d", ttc_http_base(r->h),
                               json_array_size(choices), i);
        }
        ttc_job_emit(j, i, text, strlen(text), NULL);
        if (q->logprobs) {
            rlp lp;
            if ((rc = rlp_parse(q->kind, json_object_get(ch, "logprobs"), q->top_logprobs, &lp, e))) {
                json_decref(ans);
                return rc;
            }
            rc = ttc_job_set_logprobs(j, i, lp.n, (const char *const *)lp.tok, lp.lp, lp.top_k,
                                      (const char *const *)lp.top, lp.top_lp, e);
            rlp_free(&lp);
            if (rc) { json_decref(ans); return rc; }
        }
        const char *fin = json_string_value(json_object_get(ch, "finish_reason"));
        ttc_job_finish_choice(j, i, fin && !strcmp(fin, "length") ? "length" : "stop");
    }
    json_t *u = json_object_get(ans, "usage");
    ttc_api_usage us = {.prompt_tokens = json_integer_value(json_object_get(u, "prompt_tokens")),
                        .completion_tokens = json_integer_value(json_object_get(u, "completion_tokens"))};
    ttc_job_set_usage(j, &us);
    json_decref(ans);
    return TTC_OK;
}

static int remote_run(void *self, ttc_job *j, ttc_err *e) {
    ttc_remote *r = self;
    const ttc_api_req *q = ttc_job_req(j);
    if (q->strategy == TTC_STRAT_NONE) return forward_plain(r, j, q, e);
    const char *problem = ttc_job_problem(q);
    ttc_search_params p;
    ttc_search_params_default(&p, ttc_job_method(q->strategy, r->vh != NULL), q->budget);
    ttc_api_req_search_params(q, &p);
    pthread_mutex_lock(&r->mu);
    p.seed = q->has_seed ? q->seed : ttc_rng_u64(&r->rng);
    pthread_mutex_unlock(&r->mu);
    bool use_pol = q->strategy == TTC_STRAT_AUTO && r->has_pol && r->vh;
    bool has_ver = r->vh || (p.method == TTC_SEARCH_REVISE && r->rh);
    if (ttc_search_needs_verifier(&p) && !has_ver)
        return ttc_err_set(e, TTC_EINVAL, "strategy '%s' needs a verifier; start the server with --verifier-backend",
                           ttc_search_method_name(p.method));
    int rc = ttc_search_params_check(&p, e);
    if (rc) return ttc_err_wrap(e, "ttc: ");
    ttc_job_started(j);
    ttc_generator *gen = NULL, *rgen = NULL; /* rgen, over: the revision pair, when set and needed */
    ttc_verifier *ver = NULL, *over = NULL;
    atomic_int *cancel = ttc_job_cancel_flag(j);
    if ((rc = ttc_remote_generator_new(r->h, r->model, r->n_ctx, cancel, &gen, e))) goto done;
    if (r->vh && (rc = ttc_remote_verifier_new(r->vh, NULL, r->vkind, r->vmethod, cancel, &ver, e))) goto done;
    if (r->rh && (use_pol || p.method == TTC_SEARCH_REVISE) &&
        ((rc = ttc_remote_generator_new(r->rh, r->rmodel, r->n_ctx, cancel, &rgen, e)) ||
         (rc = ttc_remote_verifier_new(r->oh, NULL, TTC_VERIFIER_ORM, r->omethod, cancel, &over, e))))
        goto done;
    rc = ttc_job_search(j, &p, use_pol ? &r->pol : NULL, gen, ver, rgen, over, problem, -1, e);
done:
    ttc_verifier_free(over);
    ttc_generator_free(rgen);
    ttc_verifier_free(ver);
    ttc_generator_free(gen);
    return rc;
}

ttc_serve_backend ttc_remote_backend(ttc_remote *r) {
    return (ttc_serve_backend){.self = r, .model_id = r->model, .run = remote_run};
}
