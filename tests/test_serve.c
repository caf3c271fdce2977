/* ttc serve over real HTTP on loopback, with libcurl as the client.
 *
 * Most tests run the server with a stub backend (defined here) whose output
 * is a known function of the request, so the HTTP layer, validation,
 * streaming, queueing, authentication and cancellation are checked exactly.
 * Tests that need the real engine run it on a tiny random-weight model. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "serve/api.h"
#include "serve/server.h"
#include "testutil.h"

/* ---- stub backend ---- */

typedef struct stub {
    atomic_int gate;       /* gated runs wait until this is 1 */
    atomic_int running;    /* runs in progress */
    atomic_int canceled;   /* runs that ended by cancellation */
    atomic_int finished;   /* runs that ended */
} stub;

/* Text the stub answers from: the prompt or the last message. */
static const char *stub_source(const ttc_api_req *r) {
    return r->kind == TTC_API_CHAT ? r->messages[r->n_messages - 1].content : r->prompt;
}

/* Output of choice i: "c<i>" then the source's words, one per "token", up to
 * max_tokens tokens; a word containing a stop string ends the choice before
 * it. Sources starting with "FAIL" are refused before the job starts;
 * "GATE" waits for stub.gate; "SLOW" emits "tick" every 5 ms until
 * canceled. */
static int stub_run(void *self, ttc_job *j, ttc_err *e) {
    stub *st = self;
    const ttc_api_req *r = ttc_job_req(j);
    const char *src = stub_source(r);
    if (!strncmp(src, "FAIL", 4)) return ttc_err_set(e, TTC_EINVAL, "prompt is 9999 tokens; the context holds 128");
    atomic_fetch_add(&st->running, 1);
    ttc_job_started(j);
    int rc = TTC_OK;
    int64_t completion = 0;
    if (!strncmp(src, "GATE", 4))
        while (!atomic_load(&st->gate) && !ttc_job_canceled(j)) usleep(2000);
    if (!strncmp(src, "SLOW", 4)) {
        while (!ttc_job_canceled(j)) {
            if ((rc = ttc_job_emit(j, 0, "tick ", 5, e))) break;
            usleep(5000);
        }
    }
    for (int i = 0; i < r->n && !ttc_job_canceled(j); i++) {
        char head[16];
        snprintf(head, sizeof head, "c%d", i);
        ttc_job_emit(j, i, head, strlen(head), e);
        const char *p = src, *reason = "stop";
        int k = 0;
        while (*p) {
            while (*p == ' ') p++;
            if (!*p) break;
            const char *q = p;
            while (*q && *q != ' ') q++;
            if (k == r->max_tokens) { reason = "length"; break; }
            char word[256];
            snprintf(word, sizeof word, " %.*s", (int)TTC_MIN(q - p, 200), p);
            bool stopped = false;
            for (int s = 0; s < r->n_stop; s++) stopped |= strstr(word, r->stop[s]) != NULL;
            if (stopped) break;
            ttc_job_emit(j, i, word, strlen(word), e);
            k++;
            completion++;
            p = q;
        }
        ttc_job_finish_choice(j, i, reason);
        if (r->logprobs) {
            size_t sl = strlen(src);
            if (sl >= 8 && !strcmp(src + sl - 8, "<|step|>")) {
                /* answer like a PRM: p(+) = 0.75, p(-) = 0.25 after the tag */
                const char *toks[1] = {"+"}, *tops[2] = {"+", "-"};
                float lps[1] = {logf(0.75f)}, tlps[2] = {logf(0.75f), logf(0.25f)};
                ttc_job_set_logprobs(j, i, 1, toks, lps, r->top_logprobs ? 2 : 0, tops, tlps, e);
            } else {
                const char *toks[2] = {head, "x"};
                float lps[2] = {-0.5f, -1.5f};
                const char *tops[4] = {head, "alt", "x", "y"};
                float tlps[4] = {-0.5f, -2.0f, -1.5f, -3.0f};
                ttc_job_set_logprobs(j, i, 2, toks, lps, r->top_logprobs ? 2 : 0, tops, tlps, e);
            }
        }
    }
    ttc_api_usage u = {.prompt_tokens = (int64_t)strlen(src), .completion_tokens = completion};
    if (r->strategy != TTC_STRAT_NONE) {
        u.strategy_used = ttc_strategy_name(r->strategy == TTC_STRAT_AUTO ? TTC_STRAT_MAJORITY : r->strategy);
        u.generations = r->budget;
        u.ttc_tokens = completion * r->budget;
        u.verifier_tokens = 7;
    }
    ttc_job_set_usage(j, &u);
    if (ttc_job_canceled(j)) { atomic_fetch_add(&st->canceled, 1); rc = TTC_ECANCELED; }
    atomic_fetch_add(&st->running, -1);
    atomic_fetch_add(&st->finished, 1);
    return rc;
}

static stub g_stub;
static ttc_server *g_srv;
static char g_base[64];

static void start_stub(ttc_server_opts o) {
    memset(&g_stub, 0, sizeof g_stub);
    ttc_serve_backend be = {.self = &g_stub, .model_id = "stub-model", .run = stub_run};
    ttc_err e = {0};
    o.port = 0;
    cr_assert_eq(ttc_server_start(&o, &be, &g_srv, &e), TTC_OK, "%s", e.msg);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(g_srv));
}

static void start_default(void) {
    ttc_server_opts o = {0};
    o.limits.max_n = 4;
    o.limits.max_tokens = 64;
    o.limits.max_budget = 32;
    o.max_body = 8192;
    start_stub(o);
}

static void stop_server(void) {
    ttc_server_stop(g_srv);
    g_srv = NULL;
}

/* ---- HTTP client ---- */

typedef struct resp {
    long   status;
    char  *body;
    size_t len;
    char   ctype[128];
    int    abort_after;  /* >0: abort the transfer after this many bytes */
    long   timeout_ms;   /* >0: give up after this long (default 20 s) */
} resp;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud) {
    resp *r = ud;
    size_t n = sz * nm;
    r->body = realloc(r->body, r->len + n + 1);
    memcpy(r->body + r->len, p, n);
    r->len += n;
    r->body[r->len] = 0;
    if (r->abort_after > 0 && r->len >= (size_t)r->abort_after) return 0;
    return n;
}

/* Sends one request; body_len < 0 means strlen(body). extra: one header line or NULL. */
static CURLcode http(const char *method, const char *path, const char *body, long body_len,
                     const char *extra, resp *r) {
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (extra) h = curl_slist_append(h, extra);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (r->timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    else curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body_len < 0 ? (long)strlen(body) : body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

static json_t *post_json(const char *path, const char *body, long want_status) {
    resp r = {0};
    cr_assert_eq(http("POST", path, body, -1, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, want_status, "status %ld, body %s", r.status, r.body ? r.body : "");
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    cr_assert_not_null(j, "not JSON: %s", r.body);
    free(r.body);
    return j;
}

static const char *jget_str(json_t *j, const char *path) {
    /* path like "choices.0.message.content" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok(buf, "."); t && j; t = strtok(NULL, "."))
        j = json_is_array(j) ? json_array_get(j, strtoul(t, NULL, 10)) : json_object_get(j, t);
    return json_string_value(j);
}

static json_int_t jget_int(json_t *j, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok(buf, "."); t && j; t = strtok(NULL, "."))
        j = json_is_array(j) ? json_array_get(j, strtoul(t, NULL, 10)) : json_object_get(j, t);
    cr_assert(json_is_integer(j), "%s is not an integer", path);
    return json_integer_value(j);
}

/* ---- tests ---- */

TestSuite(serve, .init = start_default, .fini = stop_server);

Test(serve, chat_round_trip) {
    json_t *j = post_json("/v1/chat/completions",
                          "{\"model\":\"stub-model\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                          "{\"role\":\"user\",\"content\":\"two plus two\"}],\"max_tokens\":10}", 200);
    cr_assert_str_eq(jget_str(j, "object"), "chat.completion");
    cr_assert(!strncmp(jget_str(j, "id"), "chatcmpl-", 9));
    cr_assert_str_eq(jget_str(j, "model"), "stub-model");
    cr_assert_str_eq(jget_str(j, "choices.0.message.role"), "assistant");
    cr_assert_str_eq(jget_str(j, "choices.0.message.content"), "c0 two plus two");
    cr_assert_str_eq(jget_str(j, "choices.0.finish_reason"), "stop");
    cr_assert_eq(jget_int(j, "usage.prompt_tokens"), 12);
    cr_assert_eq(jget_int(j, "usage.completion_tokens"), 3);
    cr_assert_eq(jget_int(j, "usage.total_tokens"), 15);
    cr_assert(jget_int(j, "created") > 1700000000);
    cr_assert_null(json_object_get(j, "ttc"), "no ttc object without a strategy");
    json_decref(j);
}

Test(serve, chat_content_parts_and_default_model) {
    json_t *j = post_json("/v1/chat/completions",
                          "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a \"},"
                          "{\"type\":\"text\",\"text\":\"b\"}]}]}", 200);
    cr_assert_str_eq(jget_str(j, "choices.0.message.content"), "c0 a b");
    cr_assert_str_eq(jget_str(j, "model"), "stub-model");
    json_decref(j);
}

Test(serve, completion_n_stop_and_length) {
    json_t *j = post_json("/v1/completions",
                          "{\"model\":\"stub-model\",\"prompt\":[\"one two three four five\"],\"n\":2,"
                          "\"max_tokens\":3,\"stop\":[\"zzz\"]}", 200);
    cr_assert_str_eq(jget_str(j, "object"), "text_completion");
    cr_assert(!strncmp(jget_str(j, "id"), "cmpl-", 5));
    cr_assert_eq(json_array_size(json_object_get(j, "choices")), 2);
    cr_assert_str_eq(jget_str(j, "choices.0.text"), "c0 one two three");
    cr_assert_str_eq(jget_str(j, "choices.1.text"), "c1 one two three");
    cr_assert_eq(jget_int(j, "choices.1.index"), 1);
    cr_assert_str_eq(jget_str(j, "choices.0.finish_reason"), "length");
    json_decref(j);
    j = post_json("/v1/completions", "{\"prompt\":\"one two three four\",\"stop\":\"thr\"}", 200);
    cr_assert_str_eq(jget_str(j, "choices.0.text"), "c0 one two");
    cr_assert_str_eq(jget_str(j, "choices.0.finish_reason"), "stop");
    json_decref(j);
}

Test(serve, completion_logprobs_layout) {
    json_t *j = post_json("/v1/completions", "{\"prompt\":\"hi\",\"logprobs\":2}", 200);
    json_t *lp = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "logprobs");
    cr_assert(json_is_object(lp));
    cr_assert_str_eq(jget_str(lp, "tokens.0"), "c0");
    cr_assert_float_eq(json_real_value(json_array_get(json_object_get(lp, "token_logprobs"), 1)), -1.5, 1e-6);
    cr_assert_float_eq(json_real_value(json_object_get(json_array_get(json_object_get(lp, "top_logprobs"), 0), "alt")),
                       -2.0, 1e-6);
    cr_assert_eq(jget_int(lp, "text_offset.1"), 2);
    json_decref(j);
    j = post_json("/v1/chat/completions",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":true,\"top_logprobs\":2}", 200);
    json_t *c = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "logprobs");
    cr_assert_str_eq(jget_str(c, "content.1.token"), "x");
    cr_assert_str_eq(jget_str(c, "content.1.top_logprobs.1.token"), "y");
    json_decref(j);
}

/* Parses an event stream: returns the concatenated content/text deltas of
 * choice 0, checks framing, counts events, and whether it ended with
 * [DONE]. */
static char *parse_sse(const char *body, bool chat, int *n_events, bool *done, json_t **last) {
    char *text = calloc(1, 1);
    size_t tl = 0;
    *n_events = 0;
    *done = false;
    *last = NULL;
    const char *p = body;
    while (*p) {
        cr_assert(!strncmp(p, "data: ", 6), "event does not start with 'data: ': %.40s", p);
        const char *end = strstr(p, "\n\n");
        cr_assert_not_null(end, "unterminated event");
        cr_assert(!*done, "data after [DONE]");
        if (!strncmp(p + 6, "[DONE]", 6)) { *done = true; p = end + 2; continue; }
        json_t *j = json_loadb(p + 6, (size_t)(end - p - 6), 0, NULL);
        cr_assert_not_null(j, "event is not JSON: %.*s", (int)(end - p), p);
        cr_assert_str_eq(jget_str(j, "object"), chat ? "chat.completion.chunk" : "text_completion");
        json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
        const char *d = ch ? (chat ? jget_str(ch, "delta.content") : jget_str(ch, "text")) : NULL;
        if (d && json_integer_value(json_object_get(ch, "index")) == 0) {
            text = realloc(text, tl + strlen(d) + 1);
            strcpy(text + tl, d);
            tl += strlen(d);
        }
        (*n_events)++;
        if (*last) json_decref(*last);
        *last = j;
        p = end + 2;
    }
    return text;
}

Test(serve, chat_stream_ends_with_done) {
    resp r = {0};
    cr_assert_eq(http("POST", "/v1/chat/completions",
                      "{\"messages\":[{\"role\":\"user\",\"content\":\"alpha beta gamma\"}],\"stream\":true,"
                      "\"stream_options\":{\"include_usage\":true}}", -1, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.ctype, "text/event-stream"), "content type %s", r.ctype);
    int n;
    bool done;
    json_t *last;
    char *text = parse_sse(r.body, true, &n, &done, &last);
    cr_assert_str_eq(text, "c0 alpha beta gamma");
    cr_assert(done, "stream must end with data: [DONE]");
    cr_assert_geq(n, 5, "one chunk per token batch plus finish and usage, got %d", n);
    cr_assert(strstr(r.body, "\"role\":\"assistant\""), "first delta carries the role");
    cr_assert(strstr(r.body, "\"finish_reason\":\"stop\""));
    cr_assert_eq(json_array_size(json_object_get(last, "choices")), 0, "usage chunk has no choices");
    cr_assert_eq(jget_int(last, "usage.completion_tokens"), 3);
    json_decref(last);
    free(text);
    free(r.body);
}

Test(serve, completion_stream_error_before_start_is_http_error) {
    resp r = {0};
    cr_assert_eq(http("POST", "/v1/completions", "{\"prompt\":\"FAIL now\",\"stream\":true}", -1, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 400);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(jget_str(j, "error.type"), "invalid_request_error");
    cr_assert(strstr(jget_str(j, "error.message"), "9999 tokens"));
    json_decref(j);
    free(r.body);
}

Test(serve, ttc_extension_reported) {
    json_t *j = post_json("/v1/chat/completions",
                          "{\"messages\":[{\"role\":\"user\",\"content\":\"x y\"}],"
                          "\"ttc\":{\"strategy\":\"beam\",\"budget\":8,\"beam_width\":4}}", 200);
    cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "beam");
    cr_assert_eq(jget_int(j, "ttc.generations"), 8);
    cr_assert_eq(jget_int(j, "ttc.tokens"), 16);
    cr_assert_eq(jget_int(j, "ttc.verifier_tokens"), 7);
    json_decref(j);
    j = post_json("/v1/completions", "{\"prompt\":\"q\",\"ttc\":{\"strategy\":\"auto\",\"budget\":4}}", 200);
    cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "majority");
    json_decref(j);
}

/* The request's settings land in the search parameters; revisions are
 * greedy for an explicit "revise" unless the request says otherwise, and
 * left to the policy under "auto". */
Test(serve, request_sets_search_params) {
    struct { const char *ttc; float want; } cases[] = {
        {"\"strategy\":\"revise\"", 0.0f},
        {"\"strategy\":\"revise\",\"revise_temperature\":0.7", 0.7f},
        {"\"strategy\":\"auto\"", -1.0f},
        {"\"strategy\":\"auto\",\"revise_temperature\":0.3", 0.3f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"prompt\":\"q\",\"temperature\":0.9,\"max_tokens\":7,\"ttc\":{%s,\"budget\":4,"
                 "\"beam_width\":2}}", cases[i].ttc);
        ttc_api_req r;
        ttc_api_fault f;
        ttc_err e;
        cr_assert_eq(ttc_api_req_parse(body, strlen(body), TTC_API_COMPLETION, NULL, &r, &f, &e), TTC_OK, "%s", e.msg);
        ttc_search_params p;
        ttc_search_params_default(&p, TTC_SEARCH_REVISE, r.budget);
        ttc_api_req_search_params(&r, &p);
        cr_assert_float_eq(p.revise_temperature, cases[i].want, 1e-6, "case %zu: %g", i, p.revise_temperature);
        cr_assert_float_eq(p.temperature, 0.9f, 1e-6);
        cr_assert_eq(p.beam_width, 2);
        cr_assert_eq(p.max_solution_tokens, 7);
        ttc_api_req_free(&r);
    }
}

Test(serve, models_health_metrics) {
    resp r = {0};
    cr_assert_eq(http("GET", "/v1/models", NULL, 0, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(jget_str(j, "object"), "list");
    cr_assert_str_eq(jget_str(j, "data.0.id"), "stub-model");
    json_decref(j);
    free(r.body);
    memset(&r, 0, sizeof r);
    cr_assert_eq(http("GET", "/health", NULL, 0, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 200);
    free(r.body);
    json_decref(post_json("/v1/completions", "{\"prompt\":\"a b c\"}", 200));
    json_decref(post_json("/v1/completions", "{\"prompt\":\"a\",\"n\":99}", 400));
    memset(&r, 0, sizeof r);
    cr_assert_eq(http("GET", "/metrics", NULL, 0, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "ttc_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1\n"), "%s", r.body);
    cr_assert(strstr(r.body, "ttc_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1\n"));
    cr_assert(strstr(r.body, "ttc_requests_total{endpoint=\"/v1/models\",status=\"200\"} 1\n"));
    cr_assert(strstr(r.body, "ttc_completion_tokens_total 3\n"));
    cr_assert(strstr(r.body, "ttc_prompt_tokens_total 5\n"));
    cr_assert(strstr(r.body, "ttc_request_duration_seconds_count{endpoint=\"/v1/completions\"} 2\n"));
    cr_assert(strstr(r.body, "ttc_request_duration_seconds_bucket{endpoint=\"/v1/completions\",le=\"+Inf\"} 2\n"));
    cr_assert(strstr(r.body, "ttc_queue_length 0\n"));
    free(r.body);
}

/* ---- the bad-request corpus: tests/bad_requests/<name>.req ----
 * line 1: METHOD PATH
 * line 2: expect: STATUS TYPE
 * optional header lines, a blank line, then the body (raw bytes to EOF). */
Test(serve, bad_request_corpus) {
    DIR *d = opendir("tests/bad_requests");
    cr_assert_not_null(d, "tests/bad_requests missing (run from the project root)");
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 4, ".req")) continue;
        char path[512];
        snprintf(path, sizeof path, "tests/bad_requests/%s", de->d_name);
        char *buf;
        size_t len;
        ttc_err e;
        cr_assert_eq(ttc_read_file(path, &buf, &len, &e), TTC_OK, "%s", e.msg);
        char method[16], url[256], type[64];
        int status;
        cr_assert_eq(sscanf(buf, "%15s %255s\nexpect: %d %63s", method, url, &status, type), 4, "%s: bad header", path);
        char *p = strchr(buf, '\n') + 1;
        p = strchr(p, '\n') + 1;
        char *hdr = NULL;
        if (*p != '\n') { hdr = p; p = strchr(p, '\n'); *p++ = 0; }
        cr_assert_eq(*p, '\n', "%s: expected a blank line before the body", path);
        p++;
        long blen = (long)(len - (size_t)(p - buf));
        resp r = {0};
        bool has_body = strcmp(method, "GET") != 0;
        cr_assert_eq(http(method, url, has_body ? p : NULL, blen, hdr, &r), CURLE_OK, "%s", path);
        cr_assert_eq(r.status, status, "%s: status %ld, want %d: %s", path, r.status, status, r.body);
        json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
        cr_assert_not_null(j, "%s: error body is not JSON: %s", path, r.body);
        json_t *err = json_object_get(j, "error");
        cr_assert(json_is_object(err), "%s: no error object", path);
        cr_assert_str_eq(jget_str(err, "type"), type, "%s", path);
        cr_assert(json_is_string(json_object_get(err, "message")) && json_string_length(json_object_get(err, "message")) > 10);
        cr_assert(json_object_get(err, "param") && json_object_get(err, "code"), "%s: param and code keys", path);
        json_decref(j);
        free(r.body);
        free(buf);
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 30, "corpus holds %d requests", n);
    /* the server survived all of them */
    json_decref(post_json("/v1/completions", "{\"prompt\":\"still alive\"}", 200));
}

Test(serve, oversized_body_413) {
    size_t n = 10000;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    memcpy(big, "{\"prompt\":\"", 11);
    big[n - 2] = '"';
    big[n - 1] = '}';
    big[n] = 0;
    resp r = {0};
    cr_assert_eq(http("POST", "/v1/completions", big, (long)n, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 413);
    cr_assert(strstr(r.body, "request_too_large"));
    free(r.body);
    free(big);
}

Test(serve, chunked_upload_over_limit_413) {
    size_t n = 20000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = 0;
    resp r = {0};
    CURLcode rc = http("POST", "/v1/completions", big, (long)n, "Transfer-Encoding: chunked", &r);
    /* the body is dropped past the limit and answered with 413 */
    cr_assert(rc == CURLE_OK || rc == CURLE_SEND_ERROR, "curl: %s", curl_easy_strerror(rc));
    cr_assert_eq(r.status, 413);
    cr_assert(strstr(r.body, "request_too_large"));
    free(r.body);
    free(big);
    json_decref(post_json("/v1/completions", "{\"prompt\":\"after\"}", 200));
}

Test(serve, invalid_utf8_400) {
    resp r = {0};
    cr_assert_eq(http("POST", "/v1/completions", "{\"prompt\":\"a\xff\xfe\"}", -1, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 400);
    cr_assert(strstr(r.body, "\"code\":\"invalid_utf8\""), "%s", r.body);
    free(r.body);
}

Test(serve_auth, api_key) {
    ttc_server_opts o = {0};
    o.api_key = "sekret-123";
    start_stub(o);
    resp r = {0};
    const char *body = "{\"prompt\":\"k\"}";
    cr_assert_eq(http("POST", "/v1/completions", body, -1, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 401);
    cr_assert(strstr(r.body, "authentication_error") && strstr(r.body, "invalid_api_key"));
    free(r.body); memset(&r, 0, sizeof r);
    cr_assert_eq(http("POST", "/v1/completions", body, -1, "Authorization: Bearer sekret-12", &r), CURLE_OK);
    cr_assert_eq(r.status, 401);
    free(r.body); memset(&r, 0, sizeof r);
    cr_assert_eq(http("POST", "/v1/completions", body, -1, "Authorization: Basic sekret-123", &r), CURLE_OK);
    cr_assert_eq(r.status, 401);
    free(r.body); memset(&r, 0, sizeof r);
    cr_assert_eq(http("GET", "/v1/models", NULL, 0, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 401);
    free(r.body); memset(&r, 0, sizeof r);
    cr_assert_eq(http("POST", "/v1/completions", body, -1, "Authorization: Bearer sekret-123", &r), CURLE_OK);
    cr_assert_eq(r.status, 200, "%s", r.body);
    free(r.body); memset(&r, 0, sizeof r);
    cr_assert_eq(http("GET", "/health", NULL, 0, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 200, "health needs no key");
    free(r.body);
    stop_server();
}

typedef struct bg_req { const char *body; resp r; pthread_t t; } bg_req;

static void *bg_main(void *arg) {
    bg_req *b = arg;
    http("POST", "/v1/completions", b->body, -1, NULL, &b->r);
    return NULL;
}

static void wait_load(int queued, int running) {
    int q = -1, r = -1;
    for (int i = 0; i < 2000 && (q != queued || r != running); i++) {
        ttc_server_load(g_srv, &q, &r);
        if (q != queued || r != running) usleep(2000);
    }
    cr_assert(q == queued && r == running, "load: %d queued, %d running; want %d, %d", q, r, queued, running);
}

Test(serve_queue, full_queue_429) {
    ttc_server_opts o = {0};
    o.parallel = 1;
    o.queue = 1;
    start_stub(o);
    bg_req a = {.body = "{\"prompt\":\"GATE a\"}"}, b = {.body = "{\"prompt\":\"GATE b\"}"};
    pthread_create(&a.t, NULL, bg_main, &a);
    wait_load(0, 1);
    pthread_create(&b.t, NULL, bg_main, &b);
    wait_load(1, 1);
    resp r = {0};
    cr_assert_eq(http("POST", "/v1/completions", "{\"prompt\":\"c\"}", -1, NULL, &r), CURLE_OK);
    cr_assert_eq(r.status, 429);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(jget_str(j, "error.type"), "rate_limit_error");
    cr_assert_str_eq(jget_str(j, "error.code"), "queue_full");
    json_decref(j);
    free(r.body);
    atomic_store(&g_stub.gate, 1);
    pthread_join(a.t, NULL);
    pthread_join(b.t, NULL);
    cr_assert_eq(a.r.status, 200);
    cr_assert_eq(b.r.status, 200);
    cr_assert(strstr(b.r.body, "c0 GATE b"));
    free(a.r.body);
    free(b.r.body);
    cr_assert_eq(ttc_metrics_count(ttc_server_metrics(g_srv), TTC_EP_COMPLETIONS, 429), 1);
    stop_server();
}

Test(serve_queue, disconnect_mid_stream_cancels) {
    ttc_server_opts o = {0};
    start_stub(o);
    resp r = {.abort_after = 200};
    CURLcode rc = http("POST", "/v1/completions", "{\"prompt\":\"SLOW\",\"stream\":true,\"max_tokens\":5}", -1, NULL, &r);
    cr_assert_eq(rc, CURLE_WRITE_ERROR, "the client aborted the transfer");
    cr_assert(strstr(r.body, "tick"));
    for (int i = 0; i < 2000 && atomic_load(&g_stub.canceled) == 0; i++) usleep(2000);
    cr_assert_eq(atomic_load(&g_stub.canceled), 1, "the job saw the cancel");
    wait_load(0, 0);
    free(r.body);
    /* a non-streaming request whose client gives up is canceled too */
    resp r2 = {0};
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/v1/completions", g_base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"prompt\":\"GATE\"}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r2);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 300L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cr_assert_eq(curl_easy_perform(c), CURLE_OPERATION_TIMEDOUT);
    curl_easy_cleanup(c);
    for (int i = 0; i < 2000 && atomic_load(&g_stub.canceled) < 2; i++) usleep(2000);
    cr_assert_eq(atomic_load(&g_stub.canceled), 2);
    wait_load(0, 0);
    free(r2.body);
    stop_server();
}

/* ---- the real engine: a tiny random-weight qwen2 with the Qwen2 vocabulary ---- */

#include "kernels/quant.h"
#include "model/ctx.h"
#include "model/generate.h"
#include "model/random.h"
#include "search/strategy.h"
#include "serve/local.h"
#include "serve/remote.h"
#include "tokenizer/chat.h"

static ttc_local *g_local;
static char g_model[300];

/* The model file is written once, before the tests fork (as test_verifier does). */
ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    snprintf(g_model, sizeof g_model, "%s/tiny.gguf", tu_tmpdir());
    ttc_err e = {0};
    ttc_random_params rp = {.vocab_path = tu_shared("vocab/ggml-vocab-llama-spm.gguf"), .type = TTC_TYPE_Q8_0, .seed = 11};
    if (ttc_random_model_write(ttc_random_shape_find("tiny-llama"), &rp, g_model, &e))
        fprintf(stderr, "test_serve: %s\n", e.msg);
    setenv("TTC_TEST_SERVE_MODEL", g_model, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    unlink(g_model);
    char *slash = strrchr(g_model, '/');
    if (slash) { *slash = 0; rmdir(g_model); }
}

static void start_local(int parallel) {
    const char *path = getenv("TTC_TEST_SERVE_MODEL");
    cr_assert(path && tu_exists(path), "the shared test model was not written");
    snprintf(g_model, sizeof g_model, "%s", path);
    ttc_err e = {0};
    ttc_local_opts lo = {.model_path = g_model, .threads = 1, .n_ctx = 512, .n_seq_max = 32};
    cr_assert_eq(ttc_local_new(&lo, &g_local, &e), TTC_OK, "%s", e.msg);
    ttc_serve_backend be = ttc_local_backend(g_local);
    ttc_server_opts o = {0};
    o.parallel = parallel;
    cr_assert_eq(ttc_server_start(&o, &be, &g_srv, &e), TTC_OK, "%s", e.msg);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(g_srv));
}

static void stop_local(void) {
    ttc_server_stop(g_srv);
    g_srv = NULL;
    ttc_local_free(g_local);
    g_local = NULL;
}

static void start_local_default(void) { start_local(4); }

TestSuite(engine, .init = start_local_default, .fini = stop_local);

/* Greedy text of a prompt from ttc_generate on a fresh context: the reference. */
static char *reference_greedy(const char *prompt, bool bos, int max_tokens) {
    ttc_err e = {0};
    ttc_model *m;
    cr_assert_eq(ttc_model_load(g_model, NULL, &m, &e), TTC_OK, "%s", e.msg);
    ttc_ctx_params cp = {.n_ctx = 512, .n_seq_max = 4};
    ttc_ctx *c;
    cr_assert_eq(ttc_ctx_new(m, &cp, &c, &e), TTC_OK, "%s", e.msg);
    int32_t *ids;
    int n, seq;
    cr_assert_eq(ttc_tokenize_alloc(m->tok, prompt, strlen(prompt), bos && ttc_tokenizer_add_bos(m->tok), true, &ids, &n, &e), TTC_OK);
    cr_assert_eq(ttc_seq_new(c, &seq, &e), TTC_OK);
    cr_assert_eq(ttc_seq_append_tokens(c, seq, ids, n, &e), TTC_OK);
    ttc_gen_request r = ttc_gen_request_make(seq, max_tokens, (ttc_sample_params){.temperature = 0}, 0);
    cr_assert_eq(ttc_generate(c, &r, 1, NULL, &e), TTC_OK, "%s", e.msg);
    char *text = strdup(r.text);
    ttc_gen_request_free(&r);
    free(ids);
    ttc_ctx_free(c);
    ttc_model_free(m);
    return text;
}

Test(engine, completion_greedy_matches_generate) {
    json_t *j = post_json("/v1/completions",
                          "{\"prompt\":\"The quick brown fox\",\"max_tokens\":12,\"temperature\":0}", 200);
    char *ref = reference_greedy("The quick brown fox", true, 12);
    cr_assert_str_eq(jget_str(j, "choices.0.text"), ref);
    cr_assert_str_eq(jget_str(j, "model"), "tiny");
    cr_assert_eq(jget_int(j, "usage.completion_tokens"), 12);
    cr_assert_str_eq(jget_str(j, "choices.0.finish_reason"), "length");
    free(ref);
    json_decref(j);
}

Test(engine, chat_uses_model_template) {
    json_t *j = post_json("/v1/chat/completions",
                          "{\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}],\"max_tokens\":6,\"temperature\":0}", 200);
    ttc_err e;
    ttc_model *m;
    cr_assert_eq(ttc_model_load(g_model, NULL, &m, &e), TTC_OK);
    ttc_chat_kind kind = ttc_chat_detect(ttc_tokenizer_chat_template(m->tok));
    cr_assert_eq(kind, TTC_CHAT_PLAIN, "the Llama 2 vocabulary has no chat template: plain format");
    ttc_chat_msg msg = {.role = "user", .content = "hi there"};
    char *prompt;
    cr_assert_eq(ttc_chat_format(kind, &msg, 1, true, &prompt, &e), TTC_OK);
    int32_t *ids;
    int n;
    cr_assert_eq(ttc_tokenize_alloc(m->tok, prompt, strlen(prompt), ttc_tokenizer_add_bos(m->tok), true, &ids, &n, &e), TTC_OK);
    cr_assert_eq(jget_int(j, "usage.prompt_tokens"), n, "prompt tokens %lld, want %d",
                 (long long)jget_int(j, "usage.prompt_tokens"), n);
    cr_assert(strstr(prompt, "User: hi there"), "%s", prompt);
    char *ref = reference_greedy(prompt, true, 6);
    cr_assert_str_eq(jget_str(j, "choices.0.message.content"), ref);
    free(ref);
    free(ids);
    free(prompt);
    ttc_model_free(m);
    json_decref(j);
}

Test(engine, seeded_samples_independent_of_n_and_stream) {
    json_t *a = post_json("/v1/completions", "{\"prompt\":\"a b\",\"max_tokens\":10,\"seed\":42,\"n\":3}", 200);
    json_t *b = post_json("/v1/completions", "{\"prompt\":\"a b\",\"max_tokens\":10,\"seed\":42}", 200);
    cr_assert_str_eq(jget_str(a, "choices.0.text"), jget_str(b, "choices.0.text"), "sample 0 depends only on the seed");
    cr_assert_eq(json_array_size(json_object_get(a, "choices")), 3);
    resp r = {0};
    cr_assert_eq(http("POST", "/v1/completions", "{\"prompt\":\"a b\",\"max_tokens\":10,\"seed\":42,\"stream\":true}", -1,
                      NULL, &r), CURLE_OK);
    int n;
    bool done;
    json_t *last;
    char *text = parse_sse(r.body, false, &n, &done, &last);
    cr_assert(done);
    cr_assert_str_eq(text, jget_str(b, "choices.0.text"), "streamed deltas concatenate to the same text");
    json_decref(last);
    free(text);
    free(r.body);
    json_decref(a);
    json_decref(b);
}

Test(engine, logprobs_are_log_probabilities) {
    json_t *j = post_json("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":4,\"temperature\":0,\"logprobs\":3}", 200);
    json_t *lp = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "logprobs");
    json_t *tl = json_object_get(lp, "token_logprobs"), *top = json_object_get(lp, "top_logprobs");
    cr_assert_eq(json_array_size(tl), 4);
    for (size_t t = 0; t < 4; t++) {
        double v = json_real_value(json_array_get(tl, t));
        cr_assert(v <= 0 && v > -50, "logprob %g", v);
        /* greedy: the chosen token is the most likely one, so it leads the alternatives */
        json_t *alts = json_array_get(top, t);
        cr_assert_eq(json_object_size(alts), 3);
        const char *tok = json_string_value(json_array_get(json_object_get(lp, "tokens"), t));
        json_t *self = json_object_get(alts, tok);
        cr_assert_not_null(self, "greedy token '%s' is among its top alternatives", tok);
        cr_assert_float_eq(json_real_value(self), v, 1e-4);
    }
    json_decref(j);
}

Test(engine, majority_strategy_reports_budget) {
    json_t *j = post_json("/v1/chat/completions",
                          "{\"messages\":[{\"role\":\"user\",\"content\":\"What is 2+3?\"}],\"max_tokens\":8,"
                          "\"ttc\":{\"strategy\":\"majority\",\"budget\":4}}", 200);
    cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "majority");
    cr_assert_eq(jget_int(j, "ttc.generations"), 4);
    cr_assert(jget_int(j, "ttc.tokens") >= 4 && jget_int(j, "ttc.tokens") <= 32);
    cr_assert_eq(jget_int(j, "ttc.verifier_tokens"), 0);
    json_decref(j);
    /* a strategy that needs a verifier is refused without one */
    j = post_json("/v1/completions", "{\"prompt\":\"q\",\"ttc\":{\"strategy\":\"beam\",\"budget\":4}}", 400);
    cr_assert(strstr(jget_str(j, "error.message"), "verifier"));
    json_decref(j);
}

Test(engine, prompt_too_long_400) {
    char *body = malloc(20000);
    strcpy(body, "{\"prompt\":\"");
    for (int i = 0; i < 900; i++) strcat(body, "word ");
    strcat(body, "\"}");
    json_t *j = post_json("/v1/completions", body, 400);
    cr_assert(strstr(jget_str(j, "error.message"), "context holds 512"), "%s", jget_str(j, "error.message"));
    json_decref(j);
    free(body);
}

typedef struct stream_bg { resp r; pthread_t t; atomic_int got_first; } stream_bg;

static size_t on_stream(char *p, size_t sz, size_t nm, void *ud) {
    stream_bg *b = ud;
    size_t n = on_body(p, sz, nm, &b->r);
    atomic_store(&b->got_first, 1);
    return n;
}

static void *stream_main(void *arg) {
    stream_bg *b = arg;
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/v1/completions", g_base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"prompt\":\"long\",\"max_tokens\":60,\"temperature\":0,\"stream\":true}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &b->r.status);
    curl_easy_cleanup(c);
    return NULL;
}

Test(engine, concurrent_requests_share_decode_steps) {
    stream_bg a = {0};
    pthread_create(&a.t, NULL, stream_main, &a);
    for (int i = 0; i < 5000 && !atomic_load(&a.got_first); i++) usleep(1000);
    cr_assert(atomic_load(&a.got_first), "the long request started streaming");
    json_t *j = post_json("/v1/completions", "{\"prompt\":\"The quick brown fox\",\"max_tokens\":12,\"temperature\":0}", 200);
    pthread_join(a.t, NULL);
    cr_assert_eq(a.r.status, 200);
    cr_assert(strstr(a.r.body, "data: [DONE]"));
    ttc_sched_stats st = ttc_local_stats(g_local);
    cr_assert_geq(st.max_tasks_step, 2, "two requests were decoded in one step (steps %lld, max seqs %d, body %zu bytes)",
                  (long long)st.steps, st.max_seqs_step, a.r.len);
    /* and batching changed nothing: same text as alone */
    char *ref = reference_greedy("The quick brown fox", true, 12);
    cr_assert_str_eq(jget_str(j, "choices.0.text"), ref);
    free(ref);
    json_decref(j);
    free(a.r.body);
    cr_assert_eq(st.live_seqs, 0, "every sequence was released");
    cr_assert_eq(st.kv_pages_used, 0, "every KV page was freed");
}

Test(engine, disconnect_frees_kv_pages) {
    resp r = {.abort_after = 300};
    cr_assert_eq(http("POST", "/v1/completions", "{\"prompt\":\"go\",\"max_tokens\":400,\"n\":3,\"stream\":true}", -1, NULL, &r),
                 CURLE_WRITE_ERROR);
    free(r.body);
    wait_load(0, 0);
    ttc_sched_stats st = ttc_local_stats(g_local);
    cr_assert_eq(st.live_seqs, 0);
    cr_assert_eq(st.kv_pages_used, 0, "%d KV pages still in use", st.kv_pages_used);
    cr_assert_lt(st.steps, 400, "the generation stopped early (%lld steps)", (long long)st.steps);
    /* the disconnect is counted when the server closes the connection */
    bool seen = false;
    for (int i = 0; i < 200 && !seen; i++) {
        resp m = {0};
        cr_assert_eq(http("GET", "/metrics", NULL, 0, NULL, &m), CURLE_OK);
        seen = strstr(m.body, "ttc_client_disconnects_total 1\n") && strstr(m.body, "ttc_kv_pages_used 0\n");
        free(m.body);
        if (!seen) usleep(10000);
    }
    cr_assert(seen, "/metrics shows the disconnect and no KV pages in use");
}

/* ---- remote engines over loopback ---- */

Test(engine, remote_generator_runs_majority) {
    ttc_http *h;
    ttc_err e = {0};
    ttc_http_opts ho = {.base_url = g_base};
    cr_assert_eq(ttc_http_new(&ho, &h, &e), TTC_OK, "%s", e.msg);
    ttc_generator *g;
    cr_assert_eq(ttc_remote_generator_new(h, "tiny", 512, NULL, &g, &e), TTC_OK);
    /* a step ends at "\n" (kept) or the solution ends */
    int node;
    cr_assert_eq(g->vt->root(g, "Problem: 1+1\nSolution:\n", &node, &e), TTC_OK);
    ttc_extend_opts o = {.temperature = 0, .max_tokens = 20};
    ttc_extend_result res;
    cr_assert_eq(g->vt->extend(g, &node, 1, TTC_EXTEND_STEP, &o, &res, &e), TTC_OK, "%s", e.msg);
    cr_assert(res.n_tokens >= 1 && res.n_tokens <= 20);
    cr_assert((res.len > 0 && res.text[res.len - 1] == '\n' && !res.finished) || res.finished);
    cr_assert(strchr(res.text, '\n') == NULL || strchr(res.text, '\n') == res.text + res.len - 1, "one step at most");
    g->vt->release(g, node);
    ttc_search_params p;
    ttc_search_params_default(&p, TTC_SEARCH_MAJORITY, 3);
    p.max_solution_tokens = 8;
    ttc_search_result sr;
    cr_assert_eq(ttc_search_run(&p, g, NULL, "What is 1+1?", &sr, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(sr.n_cands, 3);
    cr_assert(sr.budget.tokens_generated >= 3 && sr.budget.tokens_generated <= 24);
    ttc_search_result_free(&sr);
    ttc_generator_free(g);
    /* the random model is no PRM: the verifier says so and names the endpoint */
    ttc_verifier *v;
    cr_assert_eq(ttc_remote_verifier_new(h, NULL, TTC_VERIFIER_PRM, TTC_REMOTE_LOGPROBS, NULL, &v, &e), TTC_OK);
    cr_assert_eq(v->vt->root(v, "1+1", &node, &e), TTC_OK);
    float score;
    const char *step = "1+1=2\n";
    int rc = v->vt->score(v, &node, &step, 1, &score, &e);
    cr_assert(rc == TTC_EFORMAT, "rc %d: %s", rc, e.msg);
    cr_assert(strstr(e.msg, g_base) && strstr(e.msg, "'+'"), "%s", e.msg);
    ttc_verifier_free(v);
    /* an endpoint the engine lacks */
    cr_assert_eq(ttc_remote_verifier_new(h, NULL, TTC_VERIFIER_PRM, TTC_REMOTE_POOLING, NULL, &v, &e), TTC_OK);
    cr_assert_eq(v->vt->root(v, "1+1", &node, &e), TTC_OK);
    cr_assert_eq(v->vt->score(v, &node, &step, 1, &score, &e), TTC_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "/pooling") && strstr(e.msg, "404"), "%s", e.msg);
    ttc_verifier_free(v);
    ttc_http_free(h);
}

Test(serve, remote_verifier_reads_prm_logprobs) {
    ttc_http *h;
    ttc_err e = {0};
    ttc_http_opts ho = {.base_url = g_base};
    cr_assert_eq(ttc_http_new(&ho, &h, &e), TTC_OK);
    ttc_verifier *v;
    cr_assert_eq(ttc_remote_verifier_new(h, "stub-model", TTC_VERIFIER_PRM, TTC_REMOTE_LOGPROBS, NULL, &v, &e), TTC_OK);
    int a, b;
    cr_assert_eq(v->vt->root(v, "1+1", &a, &e), TTC_OK);
    cr_assert_eq(v->vt->fork(v, a, &b, &e), TTC_OK);
    const char *steps[2] = {"x = 2\n", "y\n"};
    int nodes[2] = {a, b};
    float s[2];
    cr_assert_eq(v->vt->score(v, nodes, steps, 2, s, &e), TTC_OK, "%s", e.msg);
    cr_assert_float_eq(s[0], 0.75f, 1e-5);
    cr_assert_float_eq(s[1], 0.75f, 1e-5);
    ttc_verifier_free(v);
    ttc_http_free(h);
}

Test(serve, remote_backend_forwards_and_retries) {
    /* server B forwards to the stub server A */
    ttc_remote *rb;
    ttc_err e = {0};
    ttc_remote_opts ro = {.url = g_base};
    cr_assert_eq(ttc_remote_new(&ro, &rb, &e), TTC_OK, "%s", e.msg);
    ttc_serve_backend be = ttc_remote_backend(rb);
    cr_assert_str_eq(be.model_id, "stub-model", "the model is named by A's /v1/models");
    ttc_server *b;
    ttc_server_opts o = {0};
    cr_assert_eq(ttc_server_start(&o, &be, &b, &e), TTC_OK);
    char a_base[64];
    snprintf(a_base, sizeof a_base, "%s", g_base);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(b));
    json_t *j = post_json("/v1/chat/completions",
                          "{\"messages\":[{\"role\":\"user\",\"content\":\"via two servers\"}],\"n\":2}", 200);
    cr_assert_str_eq(jget_str(j, "choices.1.message.content"), "c1 via two servers");
    json_decref(j);
    j = post_json("/v1/completions", "{\"prompt\":\"p q\",\"ttc\":{\"strategy\":\"majority\",\"budget\":3}}", 200);
    cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "majority");
    cr_assert_eq(jget_int(j, "ttc.generations"), 3);
    json_decref(j);
    ttc_server_stop(b);
    ttc_remote_free(rb);
    snprintf(g_base, sizeof g_base, "%s", a_base);
}

typedef struct gate_bg { int delay_ms; } gate_bg;
static void *open_gate(void *arg) {
    usleep((useconds_t)((gate_bg *)arg)->delay_ms * 1000);
    atomic_store(&g_stub.gate, 1);
    return NULL;
}

Test(serve_queue, client_retries_429_with_backoff) {
    ttc_server_opts o = {0};
    o.parallel = 1;
    o.queue = -1;
    start_stub(o);
    bg_req a = {.body = "{\"prompt\":\"GATE a\"}"};
    pthread_create(&a.t, NULL, bg_main, &a);
    wait_load(0, 1);
    gate_bg gb = {.delay_ms = 150};
    pthread_t gt;
    pthread_create(&gt, NULL, open_gate, &gb);
    ttc_http *h;
    ttc_err e = {0};
    ttc_http_opts ho = {.base_url = g_base, .retries = 6, .backoff_ms = 50};
    cr_assert_eq(ttc_http_new(&ho, &h, &e), TTC_OK);
    json_t *body = json_pack("{s:s}", "prompt", "after retry"), *out = NULL;
    cr_assert_eq(ttc_http_post_json(h, "/v1/completions", &body, 1, &out, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_str_eq(jget_str(out, "choices.0.text"), "c0 after retry");
    cr_assert_geq(ttc_metrics_count(ttc_server_metrics(g_srv), TTC_EP_COMPLETIONS, 429), 1, "it was refused first");
    json_decref(body);
    json_decref(out);
    /* without retries the 429 is an error naming the endpoint */
    atomic_store(&g_stub.gate, 0);
    bg_req c = {.body = "{\"prompt\":\"GATE c\"}"};
    pthread_join(a.t, NULL);
    pthread_create(&c.t, NULL, bg_main, &c);
    wait_load(0, 1);
    ttc_http *h0;
    ttc_http_opts h0o = {.base_url = g_base, .retries = -1};
    cr_assert_eq(ttc_http_new(&h0o, &h0, &e), TTC_OK);
    body = json_pack("{s:s}", "prompt", "x");
    cr_assert_eq(ttc_http_post_json(h0, "/v1/completions", &body, 1, &out, NULL, &e), TTC_ENET);
    cr_assert(strstr(e.msg, "/v1/completions") && strstr(e.msg, "429"), "%s", e.msg);
    json_decref(body);
    atomic_store(&g_stub.gate, 1);
    pthread_join(c.t, NULL);
    pthread_join(gt, NULL);
    free(a.r.body);
    free(c.r.body);
    ttc_http_free(h);
    ttc_http_free(h0);
    stop_server();
}

#include "serve/sched_lm.h"

Test(engine, sched_generator_steps_concatenate_to_the_text) {
    ttc_err e = {0};
    ttc_model *m;
    cr_assert_eq(ttc_model_load(g_model, NULL, &m, &e), TTC_OK);
    ttc_sched *s;
    ttc_sched_params sp = {.ctx = {.n_ctx = 256, .n_seq_max = 8}};
    cr_assert_eq(ttc_sched_new(m, &sp, &s, &e), TTC_OK, "%s", e.msg);
    ttc_generator *g;
    cr_assert_eq(ttc_sched_generator_new(s, NULL, 0, &g, &e), TTC_OK);
    int a, b;
    cr_assert_eq(g->vt->root(g, "Problem: 7*6\nSolution:\n", &a, &e), TTC_OK);
    int n0 = ttc_sched_seq_len(s, a);
    cr_assert_eq(g->vt->fork(g, a, &b, &e), TTC_OK);
    char all[2][4096] = {"", ""};
    int nodes[2] = {a, b};
    uint64_t seeds[2] = {1, 2};
    bool done[2] = {false, false};
    for (int step = 0; step < 6; step++) {
        int live[2], n = 0;
        uint64_t sd[2];
        for (int i = 0; i < 2; i++) if (!done[i]) { live[n] = nodes[i]; sd[n++] = seeds[i] + (uint64_t)step; }
        if (!n) break;
        ttc_extend_opts o = {.temperature = 1.0f, .max_tokens = 24, .seeds = sd};
        ttc_extend_result r[2];
        cr_assert_eq(g->vt->extend(g, live, n, TTC_EXTEND_STEP, &o, r, &e), TTC_OK, "%s", e.msg);
        for (int k = 0, i = 0; k < n; k++, i++) {
            while (done[i]) i++;
            cr_assert_eq((int)strlen(r[k].text), r[k].len);
            if (!r[k].finished) {
                cr_assert(r[k].len > 0 && r[k].text[r[k].len - 1] == '\n', "an open step ends in a newline: '%s'", r[k].text);
                cr_assert(!ttc_sched_blank(r[k].text, (size_t)r[k].len), "no whitespace-only steps");
            }
            strcat(all[i], r[k].text);
            done[i] = r[k].finished;
        }
    }
    for (int i = 0; i < 2; i++) {
        int32_t toks[256];
        int n = ttc_sched_seq_tokens(s, nodes[i], toks, 256);
        char *text;
        size_t len;
        cr_assert_eq(ttc_detokenize(m->tok, toks + n0, n - n0, 0, &text, &len, &e), TTC_OK);
        size_t got = strlen(all[i]);
        cr_assert(len >= got && !memcmp(text, all[i], got), "steps are a prefix of the detokenized text");
        cr_assert(len - got < 64, "only the last token's carry is outstanding (%zu bytes)", len - got);
        free(text);
    }
    g->vt->release(g, a);
    g->vt->release(g, b);
    cr_assert_eq(ttc_sched_get_stats(s).kv_pages_used, 0);
    ttc_generator_free(g);
    ttc_sched_free(s);
    ttc_model_free(m);
}

Test(engine, prm_without_tag_fails_at_start) {
    ttc_err e = {0};
    ttc_local *l = NULL;
    ttc_local_opts lo = {.model_path = g_model, .prm_path = g_model, .threads = 1, .n_ctx = 128, .n_seq_max = 4};
    cr_assert_neq(ttc_local_new(&lo, &l, &e), TTC_OK, "the Llama 2 vocabulary has no <|step|> tag");
    cr_assert(strstr(e.msg, "<|step|>"), "the error names the missing tag: %s", e.msg);
    cr_assert_null(l);
}

Test(engine, cli_usage_and_errors) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "%s serve --help", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s serve --port 99999 -m x.gguf 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s serve 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s serve -m x.gguf --kv-tokens 4 2>&1", tu_bin());
    char *msg = NULL;
    cr_assert_eq(tu_run(cmd, NULL, &msg), 2);
    cr_assert(strstr(msg, "--kv-tokens"), "%s", msg);
    free(msg);
    snprintf(cmd, sizeof cmd, "%s serve --backend http://x 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    /* a revision pair is GGUF files with -m and engines with --backend */
    snprintf(cmd, sizeof cmd, "%s serve --backend openai:http://x --revision-model r.gguf --revision-orm o.gguf 2>&1",
             tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &msg), 2);
    cr_assert(strstr(msg, "openai:URL"), "%s", msg);
    free(msg);
    snprintf(cmd, sizeof cmd, "%s serve -m x.gguf --revision-model openai:http://r --revision-orm o.gguf 2>&1", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &msg), 2);
    cr_assert(strstr(msg, "GGUF files"), "%s", msg);
    free(msg);
    snprintf(cmd, sizeof cmd, "%s serve -m /nonexistent/model.gguf --port 0 2>&1", tu_bin());
    char *out = NULL;
    cr_assert_eq(tu_run(cmd, NULL, &out), 1);
    cr_assert(strstr(out, "/nonexistent/model.gguf"), "%s", out);
    free(out);
}

Test(serve_auth, default_strategy_for_plain_clients) {
    ttc_server_opts o = {0};
    o.limits.default_strategy = TTC_STRAT_DVTS;
    o.limits.default_budget = 8;
    start_stub(o);
    json_t *j = post_json("/v1/completions", "{\"prompt\":\"unmodified client\"}", 200);
    cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "dvts");
    cr_assert_eq(jget_int(j, "ttc.generations"), 8);
    json_decref(j);
    j = post_json("/v1/completions", "{\"prompt\":\"opt out\",\"ttc\":{\"strategy\":\"none\"}}", 200);
    cr_assert_null(json_object_get(j, "ttc"), "strategy none turns it off");
    json_decref(j);
    stop_server();
}

Test(engine, echo_prepends_prompt_and_stop_cuts) {
    json_t *a = post_json("/v1/completions", "{\"prompt\":\"Echo me\",\"max_tokens\":5,\"temperature\":0,\"echo\":true}", 200);
    json_t *b = post_json("/v1/completions", "{\"prompt\":\"Echo me\",\"max_tokens\":5,\"temperature\":0}", 200);
    char want[512];
    snprintf(want, sizeof want, "Echo me%s", jget_str(b, "choices.0.text"));
    cr_assert_str_eq(jget_str(a, "choices.0.text"), want);
    /* a stop string taken from the greedy text cuts it just before */
    const char *full = jget_str(b, "choices.0.text");
    size_t n = strlen(full);
    if (n >= 4) {
        char stop[8] = {0}, body[256];
        memcpy(stop, full + n - 2, 2);
        const char *hit = strstr(full, stop);
        snprintf(body, sizeof body, "{\"prompt\":\"Echo me\",\"max_tokens\":5,\"temperature\":0,\"stop\":[\"%s\"]}", stop);
        if (!strpbrk(stop, "\"\\\n")) {
            json_t *c = post_json("/v1/completions", body, 200);
            cr_assert_eq(strlen(jget_str(c, "choices.0.text")), (size_t)(hit - full), "cut before '%s'", stop);
            cr_assert_str_eq(jget_str(c, "choices.0.finish_reason"), "stop");
            json_decref(c);
        }
    }
    json_decref(a);
    json_decref(b);
}

#include "gguf/gguf.h"

/* A "PRM" for tests: the tiny model with ttc.prm.* keys making </s> the tag
 * (the vocabulary has no <|step|>). Random weights, so scores are arbitrary
 * but well defined. */
static void write_test_prm(const char *src, const char *dst) {
    ttc_err e = {0};
    ttc_gguf *g;
    cr_assert_eq(ttc_gguf_open(src, &g, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer *w;
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_writer_copy_prefix(w, g, "", &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_gguf_set_str(w, "ttc.prm.tag", "</s>", &e), TTC_OK);
    for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) {
        const ttc_gguf_tensor *t = ttc_gguf_tensor_at(g, i);
        cr_assert_eq(ttc_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, &e), TTC_OK, "%s", e.msg);
    }
    cr_assert_eq(ttc_gguf_writer_write(w, dst, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer_free(w);
    ttc_gguf_close(g);
}

/* A server on a local backend made from lo (*l gets the backend). */
static ttc_server *start_local_with(const ttc_local_opts *lo, ttc_local **l) {
    ttc_err e = {0};
    cr_assert_eq(ttc_local_new(lo, l, &e), TTC_OK, "%s", e.msg);
    ttc_serve_backend be = ttc_local_backend(*l);
    ttc_server *s;
    ttc_server_opts o = {0};
    cr_assert_eq(ttc_server_start(&o, &be, &s, &e), TTC_OK, "%s", e.msg);
    return s;
}

/* A "revise" request to g_base: served by a revision pair (with), else
 * refused for want of a verifier. */
static void check_revise_request(bool with) {
    json_t *j = post_json("/v1/completions", "{\"prompt\":\"2+5\",\"max_tokens\":6,\"seed\":1,"
                                             "\"ttc\":{\"strategy\":\"revise\",\"budget\":2}}", with ? 200 : 400);
    if (with) {
        cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "revise");
        cr_assert_gt(jget_int(j, "ttc.verifier_tokens"), 0, "the ORM scored the attempts");
    } else {
        cr_assert(strstr(jget_str(j, "error.message"), "verifier"), "%s", jget_str(j, "error.message"));
    }
    json_decref(j);
}

/* A revision model and its ORM (--revision-model, --revision-orm): "revise"
 * requests run on the pair even without a PRM, and the revision methods a
 * policy chooses run instead of falling back to best-of-N. */
Test(engine, revision_pair_serves_revise_and_policy) {
    char prm[400], pol[400];
    snprintf(prm, sizeof prm, "%s/prm-rev.gguf", tu_tmpdir());
    snprintf(pol, sizeof pol, "%s/policy-rev.json", tu_tmpdir());
    write_test_prm(g_model, prm);
    const char *pj = "{\"difficulty\":\"prm\",\"cuts\":[2,2,2,2],\"budgets\":[4],\"probe\":1,\"choice\":[[\"revisions_len2\"],"
                     "[\"revisions_len2\"],[\"revisions_len2\"],[\"revisions_len2\"],[\"revisions_len2\"]]}";
    ttc_err e = {0};
    cr_assert_eq(ttc_write_file(pol, pj, strlen(pj), &e), TTC_OK);
    char keep[64];
    snprintf(keep, sizeof keep, "%s", g_base);
    for (int with = 0; with < 2; with++) {
        ttc_local *l;
        ttc_local_opts lo = {.model_path = g_model, .threads = 1, .n_ctx = 512, .n_seq_max = 64};
        if (with) { lo.revision_path = g_model; lo.orm_path = prm; }
        ttc_server *s2 = start_local_with(&lo, &l);
        snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(s2));
        check_revise_request(with); /* no PRM: "revise" needs the pair's ORM */
        ttc_server_stop(s2);
        ttc_local_free(l);
    }
    /* with a PRM and the policy: its revision choice runs only with the pair */
    for (int with = 0; with < 2; with++) {
        ttc_local *l;
        ttc_local_opts lo = {.model_path = g_model, .prm_path = prm, .threads = 1, .n_ctx = 512, .n_seq_max = 64,
                             .policy_path = pol};
        if (with) { lo.revision_path = g_model; lo.orm_path = prm; }
        ttc_server *s2 = start_local_with(&lo, &l);
        ttc_serve_backend be = ttc_local_backend(l);
        snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(s2));
        json_t *j = post_json("/v1/completions", "{\"prompt\":\"3+4\",\"max_tokens\":6,\"seed\":2,"
                                                 "\"ttc\":{\"strategy\":\"auto\",\"budget\":5}}", 200);
        /* one probe sample, then chains of 2 over the other 4 */
        cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), with ? "revisions_len2" : "bon_weighted");
        json_decref(j);
        ttc_metrics_gauges g = {0};
        be.gauges(be.self, &g);
        cr_assert_eq(g.kv_pages_used, 0, "every model released its pages");
        cr_assert_gt(g.kv_pages_total, 0);
        ttc_server_stop(s2);
        ttc_local_free(l);
    }
    ttc_local *l;
    ttc_local_opts lo = {.model_path = g_model, .revision_path = g_model, .threads = 1};
    cr_assert_eq(ttc_local_new(&lo, &l, &e), TTC_EINVAL, "a revision model without its ORM is refused");
    cr_assert(strstr(e.msg, "--revision-model"), "%s", e.msg);
    unlink(prm);
    unlink(pol);
    snprintf(g_base, sizeof g_base, "%s", keep);
}

Test(engine, beam_search_with_prm_over_http) {
    char prm[400];
    snprintf(prm, sizeof prm, "%s/prm.gguf", tu_tmpdir());
    write_test_prm(g_model, prm);
    ttc_err e = {0};
    ttc_local *l;
    ttc_local_opts lo = {.model_path = g_model, .prm_path = prm, .threads = 1, .n_ctx = 512, .n_seq_max = 64};
    cr_assert_eq(ttc_local_new(&lo, &l, &e), TTC_OK, "%s", e.msg);
    ttc_serve_backend be = ttc_local_backend(l);
    ttc_server *s2;
    ttc_server_opts o = {0};
    cr_assert_eq(ttc_server_start(&o, &be, &s2, &e), TTC_OK);
    char keep[64];
    snprintf(keep, sizeof keep, "%s", g_base);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(s2));
    json_t *j = post_json("/v1/chat/completions",
                          "{\"messages\":[{\"role\":\"user\",\"content\":\"What is 2+2?\"}],\"max_tokens\":12,\"seed\":3,"
                          "\"ttc\":{\"strategy\":\"beam\",\"budget\":4,\"beam_width\":2}}", 200);
    cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "beam");
    cr_assert_gt(jget_int(j, "ttc.verifier_tokens"), 0, "the PRM scored the steps");
    cr_assert_gt(jget_int(j, "ttc.tokens"), 0);
    cr_assert(json_is_string(json_object_get(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"), "content")));
    json_decref(j);
    /* best-of-N weighted with n = 2 returns two candidates */
    j = post_json("/v1/completions", "{\"prompt\":\"1+1\",\"max_tokens\":8,\"n\":2,"
                                     "\"ttc\":{\"strategy\":\"bon-weighted\",\"budget\":3}}", 200);
    cr_assert_eq(json_array_size(json_object_get(j, "choices")), 2);
    cr_assert_eq(jget_int(j, "ttc.generations"), 3);
    json_decref(j);
    /* revisions decode greedily unless ttc.revise_temperature says otherwise:
     * with a greedy first attempt, two seeds give the same chain, and at
     * revise_temperature 1.5 they do not */
    char chains[4][1024];
    for (int k = 0; k < 4; k++) {
        char body[300];
        snprintf(body, sizeof body, "{\"prompt\":\"5+6\",\"max_tokens\":8,\"n\":3,\"temperature\":0,\"seed\":%d,"
                 "\"ttc\":{\"strategy\":\"revise\",\"budget\":3%s}}", 1 + k % 2, k < 2 ? "" : ",\"revise_temperature\":1.5");
        j = post_json("/v1/completions", body, 200);
        cr_assert_eq(json_array_size(json_object_get(j, "choices")), 3);
        snprintf(chains[k], sizeof chains[k], "%s|%s|%s", jget_str(j, "choices.0.text"), jget_str(j, "choices.1.text"),
                 jget_str(j, "choices.2.text"));
        json_decref(j);
    }
    cr_assert_str_eq(chains[0], chains[1], "greedy revisions do not depend on the seed");
    cr_assert_str_neq(chains[2], chains[3], "sampled revisions do");
    /* "auto" with a compute-optimal policy file: probe, bin, chosen method */
    char pol[400];
    snprintf(pol, sizeof pol, "%s/policy.json", tu_tmpdir());
    const char *pj = "{\"difficulty\":\"prm\",\"cuts\":[2,2,2,2],\"budgets\":[4],"
                     "\"choice\":[[\"majority\"],[\"majority\"],[\"majority\"],[\"majority\"],[\"beam_sqrt\"]],\"probe\":1}";
    cr_assert_eq(ttc_write_file(pol, pj, strlen(pj), &e), TTC_OK);
    cr_assert_eq(ttc_local_load_policy(l, pol, &e), TTC_OK, "%s", e.msg);
    j = post_json("/v1/completions", "{\"prompt\":\"3+4\",\"max_tokens\":8,\"ttc\":{\"strategy\":\"auto\",\"budget\":4}}", 200);
    /* cuts above any score put every problem in the hardest bin */
    cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "beam_sqrt");
    cr_assert_gt(jget_int(j, "ttc.verifier_tokens"), 0, "the probe was scored");
    json_decref(j);
    unlink(pol);
    ttc_metrics_gauges g = {0};
    be.gauges(be.self, &g);
    cr_assert_eq(g.kv_pages_used, 0, "generator and verifier released every page");
    cr_assert_gt(g.ver_scores, 0, "the verifier's scheduler computed the scores");
    cr_assert_gt(g.ver_score_steps, 0);
    resp mr = {0};
    cr_assert_eq(http("GET", "/metrics", NULL, 0, NULL, &mr), CURLE_OK);
    cr_assert(strstr(mr.body, "ttc_verifier_scores_total ") && strstr(mr.body, "ttc_batch_requests_max{model=\"verifier\"}"),
              "%s", mr.body);
    free(mr.body);
    ttc_server_stop(s2);
    ttc_local_free(l);
    unlink(prm);
    snprintf(g_base, sizeof g_base, "%s", keep);
}

Test(engine, remote_verifier_backend_for_local_generator) {
    /* the verifier is the stub server (answers p(+) = 0.75 after the tag) */
    ttc_serve_backend sb = {.self = &g_stub, .model_id = "stub-prm", .run = stub_run};
    ttc_server *vs;
    ttc_err e = {0};
    ttc_server_opts o = {0};
    cr_assert_eq(ttc_server_start(&o, &sb, &vs, &e), TTC_OK);
    char vurl[64];
    snprintf(vurl, sizeof vurl, "http://127.0.0.1:%d", ttc_server_port(vs));
    cr_assert_eq(ttc_local_set_remote_verifier(g_local, vurl, false, &e), TTC_OK, "%s", e.msg);
    json_t *j = post_json("/v1/completions", "{\"prompt\":\"5-3\",\"max_tokens\":8,"
                                             "\"ttc\":{\"strategy\":\"beam\",\"budget\":4,\"beam_width\":2}}", 200);
    cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "beam");
    cr_assert_gt(jget_int(j, "ttc.verifier_tokens"), 0, "the remote verifier reported its prompt tokens");
    json_decref(j);
    cr_assert_gt(ttc_metrics_count(ttc_server_metrics(vs), TTC_EP_COMPLETIONS, 200), 0, "scores came from the stub");
    ttc_server_stop(vs);
}

/* ---- verifier scoring batched across requests ---- */

#include "kernels/kernels.h"
#include "search/lm_local.h"
#include "serve/sched_ver.h"

#define SV_STEPS 4
static const char *const sv_problems[2] = {"What is 12 * 13?", "A train goes 60 km in 2 hours. How fast is it?"};
static const char *const sv_steps[2][SV_STEPS] = {
    {"12 * 13 = 12 * 10 + 12 * 3\n", "= 120 + 36\n", "= 156\n", "The answer is 156"},
    {"Speed is distance over time.\n", "60 / 2 = 30\n", "So 30 km per hour.\n", "The answer is 30"},
};

/* One request's scoring: a root, a fork, SV_STEPS steps on both nodes (the
 * fork gets the steps in reverse order), then a final score of a two-step
 * text on a third node. scores: SV_STEPS*2 + 1. */
static void sv_run(ttc_verifier *v, int p, float *scores) {
    ttc_err e = {0};
    int a, b, c;
    cr_assert_eq(v->vt->root(v, sv_problems[p], &a, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(v->vt->fork(v, a, &b, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(v->vt->fork(v, a, &c, &e), TTC_OK, "%s", e.msg);
    for (int k = 0; k < SV_STEPS; k++) {
        int nodes[2] = {a, b};
        const char *steps[2] = {sv_steps[p][k], sv_steps[p][SV_STEPS - 1 - k]};
        cr_assert_eq(v->vt->score(v, nodes, steps, 2, scores + 2 * k, &e), TTC_OK, "%s", e.msg);
    }
    char fin[256];
    snprintf(fin, sizeof fin, "%s%s", sv_steps[p][0], sv_steps[p][1]);
    const char *t = fin;
    cr_assert_eq(v->vt->score_final(v, &c, &t, 1, scores + 2 * SV_STEPS, &e), TTC_OK, "%s", e.msg);
    v->vt->release(v, a);
    v->vt->release(v, b);
    v->vt->release(v, c);
}

typedef struct sv_bg {
    pthread_t t;
    ttc_sched_prm *p;
    int problem;
    pthread_barrier_t *go;
    float scores[2 * SV_STEPS + 1];
} sv_bg;

static void *sv_main(void *arg) {
    sv_bg *b = arg;
    ttc_err e = {0};
    ttc_verifier *v;
    if (ttc_sched_verifier_new(b->p, NULL, &v, &e)) return NULL;
    pthread_barrier_wait(b->go);
    sv_run(v, b->problem, b->scores);
    ttc_verifier_free(v);
    return NULL;
}

/* The test PRM (write_test_prm) written to prm (400 bytes), loaded, with a
 * scheduler of n_ctx tokens x 16 sequences and its verifier format. */
static ttc_sched_prm *test_prm_sched(char *prm, int n_ctx, ttc_model **m, ttc_prm_format *fmt, ttc_sched **s) {
    snprintf(prm, 400, "%s/prm-sched.gguf", tu_tmpdir());
    write_test_prm(g_model, prm);
    ttc_err e = {0};
    cr_assert_eq(ttc_model_load(prm, NULL, m, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_prm_format_from_gguf((*m)->gguf, fmt, &e), TTC_OK, "%s", e.msg);
    ttc_sched_params sp = {.ctx = {.n_ctx = n_ctx, .n_seq_max = 16}};
    cr_assert_eq(ttc_sched_new(*m, &sp, s, &e), TTC_OK, "%s", e.msg);
    ttc_sched_prm *p;
    cr_assert_eq(ttc_sched_prm_new(*s, fmt, &p, &e), TTC_OK, "%s", e.msg);
    return p;
}

Test(engine, verifier_scoring_of_concurrent_requests_shares_decode_steps) {
    /* the SIMD matmuls choose code paths by batch size, so only the
     * reference kernel gives bit-identical results whatever else shares a
     * decode step (each test runs in its own process) */
    cr_assert_eq(ttc_kernel_set(TTC_KERNEL_REF, NULL), TTC_OK);
    char prm[400];
    ttc_err e = {0};
    ttc_model *m;
    ttc_prm_format fmt;
    ttc_sched *s;
    ttc_sched_prm *p = test_prm_sched(prm, 256, &m, &fmt, &s);

    /* each request alone */
    float alone[2][2 * SV_STEPS + 1];
    for (int r = 0; r < 2; r++) {
        ttc_verifier *v;
        cr_assert_eq(ttc_sched_verifier_new(p, NULL, &v, &e), TTC_OK);
        sv_run(v, r, alone[r]);
        cr_assert_gt(v->usage.tokens_prefill, 0);
        ttc_verifier_free(v);
    }
    cr_assert_eq(ttc_sched_get_stats(s).max_score_tasks_step, 1, "alone, no step holds two requests' scores");

    /* the reference: search/lm_local.h's verifier on a context of its own */
    ttc_ctx_params cp = {.n_ctx = 256, .n_seq_max = 16};
    ttc_ctx *c;
    cr_assert_eq(ttc_ctx_new(m, &cp, &c, &e), TTC_OK, "%s", e.msg);
    for (int r = 0; r < 2; r++) {
        ttc_verifier *v;
        cr_assert_eq(ttc_local_verifier_new(c, &fmt, &v, &e), TTC_OK, "%s", e.msg);
        float ref[2 * SV_STEPS + 1];
        sv_run(v, r, ref);
        for (int k = 0; k < 2 * SV_STEPS + 1; k++)
            cr_assert_eq(alone[r][k], ref[k], "request %d score %d: %g vs lm_local %g", r, k, alone[r][k], ref[k]);
        ttc_verifier_free(v);
    }
    ttc_ctx_free(c);

    /* both at once (retried: the two must meet in one step at least once) */
    ttc_sched_stats st = {0};
    for (int attempt = 0; attempt < 8 && st.max_score_tasks_step < 2; attempt++) {
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        sv_bg bg[2];
        for (int r = 0; r < 2; r++) {
            bg[r] = (sv_bg){.p = p, .problem = r, .go = &go};
            for (int k = 0; k < 2 * SV_STEPS + 1; k++) bg[r].scores[k] = -1;
            pthread_create(&bg[r].t, NULL, sv_main, &bg[r]);
        }
        for (int r = 0; r < 2; r++) pthread_join(bg[r].t, NULL);
        pthread_barrier_destroy(&go);
        for (int r = 0; r < 2; r++)
            for (int k = 0; k < 2 * SV_STEPS + 1; k++)
                cr_assert_eq(bg[r].scores[k], alone[r][k], "request %d score %d: %.9g together, %.9g alone", r, k,
                             bg[r].scores[k], alone[r][k]);
        st = ttc_sched_get_stats(s);
    }
    cr_assert_geq(st.max_score_tasks_step, 2, "two requests' scores were computed in one decode step (%lld score steps)",
                  (long long)st.score_steps);
    cr_assert_eq(st.live_seqs, 0);
    cr_assert_eq(st.kv_pages_used, 0);
    ttc_sched_prm_free(p);
    ttc_sched_free(s);
    ttc_model_free(m);
    unlink(prm);
}

/* ---- POST /pooling and the remote verifier over it ---- */

/* A client that hangs up on /pooling stops the scoring, as it stops a
 * completion: the verifier computes a fraction of the request's scores. */
/* A server whose verifier is a random "PRM" with ttc's own vocabulary (so
 * the ttc format applies: tag <|step|>, labels +/-), written to prm. */
static ttc_server *start_prm_server(const char *prm, int n_ctx, int n_seq_max, ttc_local **l) {
    ttc_err e = {0};
    ttc_random_params rp = {.vocab_path = "models/prm.gguf", .type = TTC_TYPE_Q8_0, .seed = 5};
    cr_assert_eq(ttc_random_model_write(ttc_random_shape_find("tiny-llama"), &rp, prm, &e), TTC_OK, "%s", e.msg);
    ttc_local_opts lo = {.model_path = g_model, .prm_path = prm, .threads = 1, .n_ctx = n_ctx, .n_seq_max = n_seq_max};
    return start_local_with(&lo, l);
}

/* A pooling call that fails on its first input leaves every other
 * request's sequences alone (sequence 0 included) and returns nothing. */
Test(engine, pooling_error_frees_only_its_own_sequences) {
    char prm[400];
    ttc_err e = {0};
    ttc_model *m;
    ttc_prm_format fmt;
    ttc_sched *s;
    ttc_sched_prm *p = test_prm_sched(prm, 64, &m, &fmt, &s);
    int32_t ids[3] = {1, 2, 3};
    int held;
    cr_assert_eq(ttc_sched_seq_new(s, ids, 3, &held, &e), TTC_OK);
    cr_assert_eq(held, 0, "the other request holds sequence 0");
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    const char *texts[3] = {big, "x</s>", "y</s>"};
    size_t lens[3] = {strlen(big), 5, 5};
    float *rows[3];
    int n_rows[3], n_tok[3], failed;
    cr_assert_eq(ttc_sched_prm_pool(p, texts, lens, 3, NULL, rows, n_rows, n_tok, &failed, &e), TTC_EINVAL);
    cr_assert_eq(failed, 0, "%s", e.msg);
    for (int i = 0; i < 3; i++) cr_assert_null(rows[i]);
    cr_assert_eq(ttc_sched_seq_len(s, held), 3, "sequence 0 survived");
    cr_assert_eq(ttc_sched_get_stats(s).live_seqs, 1);
    ttc_sched_seq_free(s, held);
    ttc_sched_prm_free(p);
    ttc_sched_free(s);
    ttc_model_free(m);
    unlink(prm);
}

Test(engine, pooling_disconnect_cancels_scoring) {
    char prm[400];
    snprintf(prm, sizeof prm, "%s/prm-cancel.gguf", tu_tmpdir());
    ttc_local *l;
    ttc_server *vs = start_prm_server(prm, 2048, 8, &l);
    ttc_serve_backend be = ttc_local_backend(l);
    char keep[64];
    snprintf(keep, sizeof keep, "%s", g_base);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(vs));
    /* 64 inputs (the most a request may hold) of 60 tagged steps: 3,840 scores */
    enum { N_IN = 64, N_TAG = 60 };
    ttc_buf b = {0};
    ttc_buf_printf(&b, "{\"input\":[");
    for (int i = 0; i < N_IN; i++) {
        ttc_buf_printf(&b, "%s\"Problem: %d+1\\nSolution:\\n", i ? "," : "", i);
        for (int k = 0; k < N_TAG; k++) ttc_buf_printf(&b, "%d+%d=%d\\n<|step|>", i, k, i + k);
        ttc_buf_printf(&b, "\"");
    }
    ttc_buf_printf(&b, "]}");
    resp r = {.timeout_ms = 300};
    CURLcode cu = http("POST", "/pooling", b.data, (long)b.len, NULL, &r);
    cr_assert_eq(cu, CURLE_OPERATION_TIMEDOUT, "curl %d, status %ld: %.300s", (int)cu, r.status, r.body ? r.body : "");
    free(r.body);
    ttc_buf_free(&b);
    /* the server notices the hang-up, stops scoring and closes */
    bool seen = false;
    for (int i = 0; i < 500 && !seen; i++) {
        resp m = {0};
        cr_assert_eq(http("GET", "/metrics", NULL, 0, NULL, &m), CURLE_OK);
        seen = strstr(m.body, "ttc_client_disconnects_total 1\n") != NULL;
        free(m.body);
        if (!seen) usleep(10000);
    }
    cr_assert(seen, "/metrics shows the disconnect");
    ttc_metrics_gauges g = {0};
    be.gauges(be.self, &g);
    cr_assert_gt(g.ver_scores, 0, "scoring had started");
    cr_assert_lt(g.ver_scores, N_IN * N_TAG / 2, "scoring stopped early (%lld of %d scores)", (long long)g.ver_scores,
                 N_IN * N_TAG);
    cr_assert_eq(g.kv_pages_used, 0, "the verifier released its pages");
    ttc_server_stop(vs);
    ttc_local_free(l);
    unlink(prm);
    snprintf(g_base, sizeof g_base, "%s", keep);
}

Test(engine, pooling_endpoint_serves_the_remote_verifier) {
    cr_assert_eq(ttc_kernel_set(TTC_KERNEL_REF, NULL), TTC_OK);
    /* the ttc format applies as the remote verifier writes it */
    char prm[400];
    snprintf(prm, sizeof prm, "%s/prm-pool.gguf", tu_tmpdir());
    ttc_local *l;
    ttc_server *vs = start_prm_server(prm, 256, 32, &l);
    ttc_err e = {0};
    char keep[64], vurl[64];
    snprintf(keep, sizeof keep, "%s", g_base);
    snprintf(vurl, sizeof vurl, "http://127.0.0.1:%d", ttc_server_port(vs));
    snprintf(g_base, sizeof g_base, "%s", vurl);

    /* the reference: search/lm_local.h's verifier on the same model */
    ttc_model *m;
    cr_assert_eq(ttc_model_load(prm, NULL, &m, &e), TTC_OK, "%s", e.msg);
    ttc_prm_format fmt;
    cr_assert_eq(ttc_prm_format_from_gguf(m->gguf, &fmt, &e), TTC_OK, "%s", e.msg);
    cr_assert_str_eq(fmt.tag, "<|step|>");
    ttc_ctx_params cp = {.n_ctx = 256, .n_seq_max = 4};
    ttc_ctx *c;
    cr_assert_eq(ttc_ctx_new(m, &cp, &c, &e), TTC_OK, "%s", e.msg);
    ttc_verifier *ref;
    cr_assert_eq(ttc_local_verifier_new(c, &fmt, &ref, &e), TTC_OK, "%s", e.msg);
    const char *steps[2] = {"2+2=4\n", "The answer is 4"};
    float want[2];
    int rn;
    cr_assert_eq(ref->vt->root(ref, "2+2", &rn, &e), TTC_OK, "%s", e.msg);
    for (int k = 0; k < 2; k++) cr_assert_eq(ref->vt->score(ref, &rn, &steps[k], 1, &want[k], &e), TTC_OK, "%s", e.msg);

    /* the endpoint: vLLM's request and response shape, one row per tag */
    json_t *j = post_json("/pooling", "{\"model\":\"tiny\",\"input\":\"Problem: 2+2\\nSolution:\\n2+2=4\\n<|step|>"
                                      "The answer is 4<|step|>\",\"task\":\"reward\"}", 200);
    cr_assert_str_eq(jget_str(j, "object"), "list");
    cr_assert_str_eq(jget_str(j, "data.0.object"), "pooling");
    cr_assert_gt(jget_int(j, "usage.prompt_tokens"), 8);
    json_t *rows = json_object_get(json_array_get(json_object_get(j, "data"), 0), "data");
    cr_assert_eq(json_array_size(rows), 2, "one row per step tag");
    for (int k = 0; k < 2; k++) {
        double bad = json_number_value(json_array_get(json_array_get(rows, (size_t)k), 0));
        double good = json_number_value(json_array_get(json_array_get(rows, (size_t)k), 1));
        cr_assert_float_eq(bad + good, 1.0, 1e-6);
        cr_assert_float_eq(good, want[k], 1e-5, "row %d: p_good %.7f, the local verifier %.7f", k, good, want[k]);
    }
    json_decref(j);
    /* several inputs are scored together: the rows of each are its rows
     * alone, in fewer decode steps than one after another */
    static const char *const texts[3] = {"Problem: 2+2\\nSolution:\\n2+2=4\\n<|step|>The answer is 4<|step|>",
                                         "Problem: 9-1\\nSolution:\\n9-1=8\\n<|step|>so 8\\n<|step|>The answer is 8<|step|>",
                                         "Problem: 3*3\\nSolution:\\nThe answer is 9<|step|>"};
    double alone[3][3];
    int64_t steps_alone = 0;
    for (int i = 0; i < 3; i++) {
        char body[300];
        snprintf(body, sizeof body, "{\"input\":\"%s\"}", texts[i]);
        int64_t s0 = ttc_local_verifier_stats(l).steps;
        j = post_json("/pooling", body, 200);
        steps_alone += ttc_local_verifier_stats(l).steps - s0;
        json_t *rw = json_object_get(json_array_get(json_object_get(j, "data"), 0), "data");
        cr_assert_eq(json_array_size(rw), (size_t)(i == 1 ? 3 : i == 0 ? 2 : 1));
        for (size_t k = 0; k < json_array_size(rw); k++) alone[i][k] = json_number_value(json_array_get(json_array_get(rw, k), 1));
        json_decref(j);
    }
    char body[900];
    snprintf(body, sizeof body, "{\"input\":[\"%s\",\"%s\",\"%s\"]}", texts[0], texts[1], texts[2]);
    int64_t s0 = ttc_local_verifier_stats(l).steps;
    j = post_json("/pooling", body, 200);
    int64_t steps_batch = ttc_local_verifier_stats(l).steps - s0;
    cr_assert_lt(steps_batch, steps_alone, "inputs share decode steps (%lld vs %lld alone)", (long long)steps_batch,
                 (long long)steps_alone);
    for (int i = 0; i < 3; i++) {
        json_t *rw = json_object_get(json_array_get(json_object_get(j, "data"), (size_t)i), "data");
        cr_assert_eq(jget_int(j, i == 0 ? "data.0.index" : i == 1 ? "data.1.index" : "data.2.index"), i);
        cr_assert_eq(json_array_size(rw), (size_t)(i == 1 ? 3 : i == 0 ? 2 : 1));
        for (size_t k = 0; k < json_array_size(rw); k++)
            cr_assert_float_eq(json_number_value(json_array_get(json_array_get(rw, k), 1)), alone[i][k], 1e-6,
                               "input %d row %zu", i, k);
    }
    json_decref(j);
    /* an input too long for the context is named */
    char *big = malloc(6000), *bb = malloc(6200);
    for (int i = 0; i < 5999; i++) big[i] = (char)('a' + i % 26);
    big[5999] = 0;
    snprintf(bb, 6200, "{\"input\":[\"x<|step|>\",\"%s\"]}", big);
    j = post_json("/pooling", bb, 400);
    cr_assert(strstr(jget_str(j, "error.message"), "input[1]"), "%s", jget_str(j, "error.message"));
    json_decref(j);
    free(big);
    free(bb);
    cr_assert_eq(ttc_local_verifier_stats(l).live_seqs, 0, "no sequence left behind");
    /* bad pooling requests get OpenAI-style 4xx errors */
    j = post_json("/pooling", "{\"input\":5}", 400);
    cr_assert_str_eq(jget_str(j, "error.param"), "input");
    json_decref(j);
    j = post_json("/pooling", "{\"input\":[\"a\",7]}", 400);
    cr_assert_str_eq(jget_str(j, "error.param"), "input[1]");
    json_decref(j);
    j = post_json("/pooling", "{\"input\":\"x\",\"dimensions\":3}", 400);
    cr_assert(strstr(jget_str(j, "error.message"), "dimensions"));
    json_decref(j);
    j = post_json("/pooling", "{\"input\":\"x\",\"model\":\"other\"}", 404);
    json_decref(j);
    j = post_json("/pooling", "{\"input\":\"x\",\"encoding_format\":\"base64\"}", 400);
    json_decref(j);

    /* the remote verifier reads the same scores over HTTP */
    ttc_http *h;
    ttc_http_opts ho = {.base_url = vurl};
    cr_assert_eq(ttc_http_new(&ho, &h, &e), TTC_OK);
    ttc_verifier *v;
    cr_assert_eq(ttc_remote_verifier_new(h, NULL, TTC_VERIFIER_PRM, TTC_REMOTE_POOLING, NULL, &v, &e), TTC_OK);
    int node;
    cr_assert_eq(v->vt->root(v, "2+2", &node, &e), TTC_OK);
    for (int k = 0; k < 2; k++) {
        float got;
        cr_assert_eq(v->vt->score(v, &node, &steps[k], 1, &got, &e), TTC_OK, "%s", e.msg);
        cr_assert_float_eq(got, want[k], 1e-5, "step %d: remote %.7f, local %.7f", k, got, want[k]);
    }
    cr_assert_gt(v->usage.tokens_prefill, 0);
    /* a final score over two steps tags both, as the local verifier does */
    int fin;
    cr_assert_eq(v->vt->root(v, "2+2", &fin, &e), TTC_OK);
    const char *both = "2+2=4\nThe answer is 4";
    float got;
    cr_assert_eq(v->vt->score_final(v, &fin, &both, 1, &got, &e), TTC_OK, "%s", e.msg);
    cr_assert_float_eq(got, want[1], 1e-5, "final: remote %.7f, local %.7f", got, want[1]);
    ttc_verifier_free(v);
    ttc_http_free(h);
    ttc_verifier_free(ref);
    ttc_ctx_free(c);
    ttc_model_free(m);

    /* the whole path: a local generator scoring on the remote verifier */
    snprintf(g_base, sizeof g_base, "%s", keep);
    char purl[80];
    snprintf(purl, sizeof purl, "pooling+%s", vurl);
    cr_assert_eq(ttc_local_set_remote_verifier(g_local, purl, false, &e), TTC_OK, "%s", e.msg);
    j = post_json("/v1/completions", "{\"prompt\":\"5-3\",\"max_tokens\":8,\"seed\":1,"
                                     "\"ttc\":{\"strategy\":\"beam\",\"budget\":4,\"beam_width\":2}}", 200);
    cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), "beam");
    cr_assert_gt(jget_int(j, "ttc.verifier_tokens"), 0);
    json_decref(j);
    cr_assert_gt(ttc_metrics_count(ttc_server_metrics(vs), TTC_EP_POOLING, 200), 2, "the scores came from /pooling");
    ttc_server_stop(vs);
    ttc_local_free(l);
    unlink(prm);
}

/* --backend with --policy and a remote revision pair (--revision-model
 * openai:URL, --revision-orm openai:pooling+URL): "auto" runs the
 * compute-optimal policy over the remote engines, and its revision choice
 * runs on the revision engine, scored by the ORM; without the pair it falls
 * back to best-of-N. "revise" needs no PRM with the pair. */
/* A server on the remote backend rb; g_base points to it. */
static ttc_server *start_remote_at_base(ttc_remote *rb) {
    ttc_err e = {0};
    ttc_serve_backend be = ttc_remote_backend(rb);
    ttc_server *s;
    ttc_server_opts o = {0};
    cr_assert_eq(ttc_server_start(&o, &be, &s, &e), TTC_OK, "%s", e.msg);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(s));
    return s;
}

Test(engine, remote_backend_policy_and_revision_pair) {
    char prm[400], pol[400];
    snprintf(prm, sizeof prm, "%s/prm-rpol.gguf", tu_tmpdir());
    snprintf(pol, sizeof pol, "%s/policy-rpol.json", tu_tmpdir());
    const char *pj = "{\"difficulty\":\"prm\",\"cuts\":[2,2,2,2],\"budgets\":[4],\"probe\":1,\"choice\":[[\"revisions_len2\"],"
                     "[\"revisions_len2\"],[\"revisions_len2\"],[\"revisions_len2\"],[\"revisions_len2\"]]}";
    ttc_err e = {0};
    cr_assert_eq(ttc_write_file(pol, pj, strlen(pj), &e), TTC_OK);
    /* the revision engine: a server with the model and a PRM, whose /pooling
     * is the verifier and the ORM too */
    ttc_local *vl;
    ttc_server *vs = start_prm_server(prm, 512, 64, &vl);
    char keep[64], vurl[64], purl[80];
    snprintf(keep, sizeof keep, "%s", g_base);
    snprintf(vurl, sizeof vurl, "http://127.0.0.1:%d", ttc_server_port(vs));
    snprintf(purl, sizeof purl, "pooling+%s", vurl);
    for (int with = 0; with < 2; with++) {
        ttc_remote *rb;
        ttc_remote_opts ro = {.url = keep};
        cr_assert_eq(ttc_remote_new(&ro, &rb, &e), TTC_OK, "%s", e.msg);
        cr_assert_eq(ttc_remote_set_verifier(rb, purl, false, &e), TTC_OK, "%s", e.msg);
        if (with) cr_assert_eq(ttc_remote_set_revision(rb, vurl, NULL, purl, &e), TTC_OK, "%s", e.msg);
        cr_assert_eq(ttc_remote_load_policy(rb, pol, &e), TTC_OK, "%s", e.msg);
        ttc_server *s3 = start_remote_at_base(rb);
        int64_t before = ttc_metrics_count(ttc_server_metrics(vs), TTC_EP_COMPLETIONS, 200);
        json_t *j = post_json("/v1/completions", "{\"prompt\":\"3+4\",\"max_tokens\":6,\"seed\":2,"
                                                 "\"ttc\":{\"strategy\":\"auto\",\"budget\":5}}", 200);
        /* one probe sample scored by the PRM, then chains of 2 over the other 4 */
        cr_assert_str_eq(jget_str(j, "ttc.strategy_used"), with ? "revisions_len2" : "bon_weighted");
        cr_assert_gt(jget_int(j, "ttc.verifier_tokens"), 0);
        json_decref(j);
        int64_t gen_calls = ttc_metrics_count(ttc_server_metrics(vs), TTC_EP_COMPLETIONS, 200) - before;
        if (with) cr_assert_geq(gen_calls, 4, "the chains ran on the revision engine (%lld calls)", (long long)gen_calls);
        else cr_assert_eq(gen_calls, 0, "nothing ran on the revision engine");
        /* n > 1: the other candidates by score, as on the local backend */
        j = post_json("/v1/completions", "{\"prompt\":\"3+4\",\"max_tokens\":6,\"seed\":2,\"n\":3,"
                                         "\"ttc\":{\"strategy\":\"bon-weighted\",\"budget\":4}}", 200);
        json_t *ch = json_object_get(j, "choices");
        cr_assert_eq(json_array_size(ch), 3);
        for (size_t c = 0; c < 3; c++)
            cr_assert_gt(strlen(json_string_value(json_object_get(json_array_get(ch, c), "text"))), 0, "choice %zu", c);
        json_decref(j);
        ttc_server_stop(s3);
        ttc_remote_free(rb);
    }
    /* "revise" with the pair and no PRM; without either it is refused */
    for (int with = 0; with < 2; with++) {
        ttc_remote *rb;
        ttc_remote_opts ro = {.url = keep};
        cr_assert_eq(ttc_remote_new(&ro, &rb, &e), TTC_OK, "%s", e.msg);
        if (with) cr_assert_eq(ttc_remote_set_revision(rb, vurl, NULL, purl, &e), TTC_OK, "%s", e.msg);
        ttc_server *s3 = start_remote_at_base(rb);
        check_revise_request(with);
        ttc_server_stop(s3);
        ttc_remote_free(rb);
    }
    /* bad setup: errors say what failed */
    ttc_remote *rb;
    ttc_remote_opts ro = {.url = keep};
    cr_assert_eq(ttc_remote_new(&ro, &rb, &e), TTC_OK, "%s", e.msg);
    char missing[440];
    snprintf(missing, sizeof missing, "%s/no-such-policy.json", tu_tmpdir());
    cr_assert_neq(ttc_remote_load_policy(rb, missing, &e), TTC_OK);
    cr_assert(strstr(e.msg, "no-such-policy.json"), "%s", e.msg);
    cr_assert_neq(ttc_remote_set_revision(rb, "http://127.0.0.1:1", NULL, purl, &e), TTC_OK);
    cr_assert(strstr(e.msg, "revision model"), "%s", e.msg);
    ttc_remote_free(rb);
    snprintf(g_base, sizeof g_base, "%s", keep);
    ttc_server_stop(vs);
    ttc_local_free(vl);
    unlink(prm);
    unlink(pol);
}

/* ---- --backend openai:URL: plain streaming requests stream through ---- */

Test(engine, remote_backend_streams_plain_requests) {
    /* a front server whose backend is the engine server over loopback */
    ttc_err e = {0};
    ttc_remote *rb;
    ttc_remote_opts ro = {.url = g_base};
    cr_assert_eq(ttc_remote_new(&ro, &rb, &e), TTC_OK, "%s", e.msg);
    ttc_serve_backend be = ttc_remote_backend(rb);
    ttc_server *fs;
    ttc_server_opts o = {0};
    cr_assert_eq(ttc_server_start(&o, &be, &fs, &e), TTC_OK, "%s", e.msg);
    char keep[64];
    snprintf(keep, sizeof keep, "%s", g_base);
    /* the reference: the engine itself, not streamed */
    const char *req = "{\"prompt\":\"The quick brown fox\",\"max_tokens\":12,\"temperature\":0,\"seed\":4";
    char body[256];
    snprintf(body, sizeof body, "%s}", req);
    json_t *ref = post_json("/v1/completions", body, 200);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(fs));
    for (int chat = 0; chat < 2; chat++) {
        resp r = {0};
        if (chat)
            snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":10,"
                                        "\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        else
            snprintf(body, sizeof body, "%s,\"stream\":true,\"stream_options\":{\"include_usage\":true}}", req);
        cr_assert_eq(http("POST", chat ? "/v1/chat/completions" : "/v1/completions", body, -1, NULL, &r), CURLE_OK);
        cr_assert_eq(r.status, 200, "%s", r.body);
        int n_events = 0;
        bool done = false;
        json_t *last = NULL;
        char *text = parse_sse(r.body, chat, &n_events, &done, &last);
        cr_assert(done, "the stream ends with data: [DONE]: %s", r.body);
        int content_chunks = 0;
        for (const char *p = r.body; (p = strstr(p, chat ? "\"content\":\"" : "\"text\":\"")); p++)
            if (p[chat ? 11 : 8] != '"') content_chunks++;
        cr_assert_geq(content_chunks, 2, "the text came in several chunks, as generated: %s", r.body);
        cr_assert_gt(jget_int(last, "usage.completion_tokens"), 0, "the usage chunk was forwarded");
        if (!chat) cr_assert_str_eq(text, jget_str(ref, "choices.0.text"), "streamed text equals the engine's");
        free(text);
        json_decref(last);
        free(r.body);
    }
    json_decref(ref);
    /* logprobs are asked of the engine and relayed, whole or per chunk */
    snprintf(g_base, sizeof g_base, "%s", keep);
    const char *lreq = "{\"prompt\":\"count\",\"max_tokens\":6,\"temperature\":0,\"logprobs\":2";
    snprintf(body, sizeof body, "%s}", lreq);
    ref = post_json("/v1/completions", body, 200);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", ttc_server_port(fs));
    json_t *got = post_json("/v1/completions", body, 200);
    json_t *rlp = json_object_get(json_array_get(json_object_get(ref, "choices"), 0), "logprobs");
    json_t *glp = json_object_get(json_array_get(json_object_get(got, "choices"), 0), "logprobs");
    size_t nt = json_array_size(json_object_get(rlp, "tokens"));
    cr_assert_gt(nt, 0);
    cr_assert_eq(json_array_size(json_object_get(glp, "tokens")), nt, "the relayed logprobs hold every token");
    for (size_t t = 0; t < nt; t++) {
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(glp, "tokens"), t)),
                         json_string_value(json_array_get(json_object_get(rlp, "tokens"), t)));
        cr_assert_float_eq(json_real_value(json_array_get(json_object_get(glp, "token_logprobs"), t)),
                           json_real_value(json_array_get(json_object_get(rlp, "token_logprobs"), t)), 1e-6);
        cr_assert_eq(json_object_size(json_array_get(json_object_get(glp, "top_logprobs"), t)), 2);
    }
    json_decref(got);
    snprintf(body, sizeof body, "%s,\"stream\":true}", lreq);
    resp r = {0};
    cr_assert_eq(http("POST", "/v1/completions", body, -1, NULL, &r), CURLE_OK);
    size_t streamed = 0;
    for (const char *p = r.body; (p = strstr(p, "\"token_logprobs\":[")); p++)
        for (const char *q = p + 18; *q && *q != ']'; q++) streamed += *q == ',' || q == p + 18; /* elements */
    cr_assert_eq(streamed, nt, "the stream's chunks carried %zu of %zu token logprobs: %s", streamed, nt, r.body);
    free(r.body);
    json_decref(ref);
    ttc_server_stop(fs);
    ttc_remote_free(rb);
    snprintf(g_base, sizeof g_base, "%s", keep);
}

/* ---- logprobs in stream chunks; echo with logprobs ---- */

Test(engine, stream_chunks_carry_logprobs) {
    for (int chat = 0; chat < 2; chat++) {
        const char *path = chat ? "/v1/chat/completions" : "/v1/completions";
        const char *head = chat ? "{\"messages\":[{\"role\":\"user\",\"content\":\"count\"}],\"logprobs\":true,\"top_logprobs\":2,"
                                : "{\"prompt\":\"count\",\"logprobs\":2,";
        char body[300];
        snprintf(body, sizeof body, "%s\"max_tokens\":10,\"temperature\":0}", head);
        json_t *full = post_json(path, body, 200);
        json_t *flp = json_object_get(json_array_get(json_object_get(full, "choices"), 0), "logprobs");
        json_t *ftoks = chat ? json_object_get(flp, "content") : json_object_get(flp, "tokens");
        size_t n_full = json_array_size(ftoks);
        cr_assert_gt(n_full, 0);

        snprintf(body, sizeof body, "%s\"max_tokens\":10,\"temperature\":0,\"stream\":true}", head);
        resp r = {0};
        cr_assert_eq(http("POST", path, body, -1, NULL, &r), CURLE_OK);
        cr_assert_eq(r.status, 200);
        /* every chunk's logprobs, in order, make up the full response's */
        size_t n = 0, chunks_with_lp = 0;
        for (const char *p = r.body; (p = strstr(p, "data: {")); p++) {
            const char *end = strstr(p, "\n\n");
            json_t *ev = json_loadb(p + 6, (size_t)(end - p - 6), 0, NULL);
            cr_assert_not_null(ev);
            json_t *lp = json_object_get(json_array_get(json_object_get(ev, "choices"), 0), "logprobs");
            if (json_is_object(lp)) {
                chunks_with_lp++;
                json_t *toks = chat ? json_object_get(lp, "content") : json_object_get(lp, "tokens");
                for (size_t t = 0; t < json_array_size(toks); t++, n++) {
                    cr_assert_lt(n, n_full, "no more tokens than the full response");
                    if (chat) {
                        json_t *a = json_array_get(toks, t), *b = json_array_get(ftoks, n);
                        cr_assert_str_eq(jget_str(a, "token"), jget_str(b, "token"));
                        cr_assert_float_eq(json_real_value(json_object_get(a, "logprob")),
                                           json_real_value(json_object_get(b, "logprob")), 1e-6);
                        cr_assert_eq(json_array_size(json_object_get(a, "top_logprobs")), 2);
                    } else {
                        cr_assert_str_eq(json_string_value(json_array_get(toks, t)), json_string_value(json_array_get(ftoks, n)));
                        cr_assert_float_eq(json_real_value(json_array_get(json_object_get(lp, "token_logprobs"), t)),
                                           json_real_value(json_array_get(json_object_get(flp, "token_logprobs"), n)), 1e-6);
                        cr_assert_eq(json_object_size(json_array_get(json_object_get(lp, "top_logprobs"), t)), 2);
                    }
                }
            }
            json_decref(ev);
        }
        cr_assert_eq(n, n_full, "the chunks reported every token (%zu of %zu)", n, n_full);
        cr_assert_gt(chunks_with_lp, 1, "logprobs arrive with the text, not at the end");
        cr_assert(strstr(r.body, "data: [DONE]"));
        free(r.body);
        json_decref(full);
    }
    /* without logprobs, chunks carry "logprobs": null */
    resp r = {0};
    cr_assert_eq(http("POST", "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":3,\"stream\":true}", -1, NULL, &r), CURLE_OK);
    cr_assert(strstr(r.body, "\"logprobs\":null") && !strstr(r.body, "token_logprobs"));
    free(r.body);
    /* echo + logprobs would need prompt logprobs: a clear 400 */
    json_t *j = post_json("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":3,\"echo\":true,\"logprobs\":1}", 400);
    cr_assert(strstr(jget_str(j, "error.message"), "echo"), "%s", jget_str(j, "error.message"));
    json_decref(j);
}
