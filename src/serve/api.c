/* OpenAI wire format: see api.h. */
#include "serve/api.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static const char *const strategy_names[TTC_STRAT_COUNT] = {
    "none", "auto", "bon-weighted", "majority", "beam", "lookahead", "dvts", "revise",
};

const char *ttc_strategy_name(ttc_strategy_id s) {
    return (unsigned)s < TTC_STRAT_COUNT ? strategy_names[s] : "?";
}

int ttc_strategy_parse(const char *name, ttc_strategy_id *out, ttc_err *e) {
    for (int i = 0; i < TTC_STRAT_COUNT; i++)
        if (!strcmp(name, strategy_names[i])) { *out = (ttc_strategy_id)i; return TTC_OK; }
    return ttc_err_set(e, TTC_ENOTFOUND,
                       "unknown strategy '%s' (expected none, auto, bon-weighted, majority, beam, "
                       "lookahead, dvts or revise)", name);
}

void ttc_api_limits_default(ttc_api_limits *l) {
    memset(l, 0, sizeof *l);
    l->max_tokens = 4096;
    l->default_max_tokens = 256;
    l->max_n = 16;
    l->max_budget = 256;
    l->max_prompt_bytes = 1 << 20;
    l->default_strategy = TTC_STRAT_NONE;
    l->default_budget = 1;
}

ttc_api_fault *ttc_api_fault_set(ttc_api_fault *f, int status, const char *type, const char *code) {
    f->status = status;
    f->type = type;
    f->code = code;
    f->param[0] = 0;
    return f;
}

/* Records a 4xx fault on `param` and the message; returns code. */
static int reject(ttc_api_fault *f, ttc_err *e, int code, int status, const char *type,
                  const char *ecode, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static int reject(ttc_api_fault *f, ttc_err *e, int code, int status, const char *type,
                  const char *ecode, const char *param, const char *fmt, ...) {
    ttc_api_fault_set(f, status, type, ecode);
    snprintf(f->param, sizeof f->param, "%s", param ? param : "");
    char msg[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ttc_err_set(e, code, "%s", msg);
}

#define BAD(param, ...) \
    reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "invalid_value", param, __VA_ARGS__)
#define BAD_TYPE(param, want) \
    reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "invalid_type", param, \
           "'%s' must be %s", param, want)

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

/* Optional integer field in [lo, hi]; absent or null keeps *out. */
static int get_int(json_t *o, const char *key, long long lo, long long hi, long long *out,
                   ttc_api_fault *f, ttc_err *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return TTC_OK;
    if (!json_is_integer(v)) return BAD_TYPE(key, "an integer");
    long long x = json_integer_value(v);
    if (x < lo || x > hi) return BAD(key, "'%s' is %lld; it must be in [%lld, %lld]", key, x, lo, hi);
    *out = x;
    return TTC_OK;
}

/* Optional number field in [lo, hi]; absent or null keeps *out. */
static int get_num(json_t *o, const char *key, double lo, double hi, double *out,
                   ttc_api_fault *f, ttc_err *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return TTC_OK;
    if (!json_is_number(v)) return BAD_TYPE(key, "a number");
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return BAD(key, "'%s' is %g; it must be in [%g, %g]", key, x, lo, hi);
    *out = x;
    return TTC_OK;
}

/* Optional boolean field; absent or null keeps *out. */
static int get_bool(json_t *o, const char *key, bool *out, ttc_api_fault *f, ttc_err *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return TTC_OK;
    if (!json_is_boolean(v)) return BAD_TYPE(key, "a boolean");
    *out = json_is_true(v);
    return TTC_OK;
}

/* A message's content: a string, null, or an array of {"type":"text","text":...}
 * parts (joined). Other part types are refused. */
static int parse_content(json_t *c, int i, char **out, ttc_api_fault *f, ttc_err *e) {
    char param[64];
    snprintf(param, sizeof param, "messages[%d].content", i);
    if (!c || json_is_null(c)) { *out = dupn("", 0); return *out ? TTC_OK : TTC_ENOMEM; }
    if (json_is_string(c)) {
        *out = dupn(json_string_value(c), json_string_length(c));
        return *out ? TTC_OK : ttc_err_set(e, TTC_ENOMEM, "out of memory");
    }
    if (!json_is_array(c)) return BAD_TYPE(param, "a string or an array of text parts");
    size_t total = 0, k;
    json_t *p;
    json_array_foreach(c, k, p) {
        json_t *type = json_object_get(p, "type"), *text = json_object_get(p, "text");
        if (!json_is_object(p) || !json_is_string(type))
            return BAD(param, "%s[%zu] must be an object with a string 'type'", param, k);
        if (strcmp(json_string_value(type), "text"))
            return reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "unsupported_content",
                          param, "%s[%zu]: content parts of type '%s' are not supported (only 'text')",
                          param, k, json_string_value(type));
        if (!json_is_string(text)) return BAD(param, "%s[%zu].text must be a string", param, k);
        total += json_string_length(text);
    }
    char *s = malloc(total + 1);
    if (!s) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
    size_t at = 0;
    json_array_foreach(c, k, p) {
        json_t *text = json_object_get(p, "text");
        memcpy(s + at, json_string_value(text), json_string_length(text));
        at += json_string_length(text);
    }
    s[at] = 0;
    *out = s;
    return TTC_OK;
}

static int parse_messages(json_t *root, ttc_api_req *r, const ttc_api_limits *lim,
                          ttc_api_fault *f, ttc_err *e) {
    json_t *m = json_object_get(root, "messages");
    if (!m || json_is_null(m))
        return reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "missing_required_parameter",
                      "messages", "'messages' is required");
    if (!json_is_array(m)) return BAD_TYPE("messages", "an array");
    size_t n = json_array_size(m);
    if (n == 0) return BAD("messages", "'messages' must not be empty");
    if (n > 4096) return BAD("messages", "'messages' has %zu entries; at most 4096 are accepted", n);
    r->messages = calloc(n, sizeof *r->messages);
    if (!r->messages) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(m, i), *role = json_object_get(msg, "role");
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(msg)) return BAD_TYPE(param, "an object");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!json_is_string(role)) return BAD_TYPE(param, "a string");
        const char *rs = json_string_value(role);
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant") &&
            strcmp(rs, "tool") && strcmp(rs, "developer"))
            return BAD(param, "%s is '%.32s'; expected system, developer, user, assistant or tool",
                       param, rs);
        r->n_messages = (int)i + 1;
        r->messages[i].role = dupn(rs, strlen(rs));
        if (!r->messages[i].role) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
        int rc = parse_content(json_object_get(msg, "content"), (int)i, &r->messages[i].content, f, e);
        if (rc) return rc;
        bytes += strlen(r->messages[i].content);
    }
    if (bytes > lim->max_prompt_bytes)
        return reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "context_length_exceeded",
                      "messages", "the messages hold %zu bytes; this server accepts at most %zu",
                      bytes, lim->max_prompt_bytes);
    return TTC_OK;
}

static int parse_prompt(json_t *root, ttc_api_req *r, const ttc_api_limits *lim,
                        ttc_api_fault *f, ttc_err *e) {
    json_t *p = json_object_get(root, "prompt");
    if (!p || json_is_null(p))
        return reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "missing_required_parameter",
                      "prompt", "'prompt' is required");
    if (json_is_array(p)) {
        if (json_array_size(p) != 1 || !json_is_string(json_array_get(p, 0)))
            return reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "unsupported_value", "prompt",
                          "'prompt' must be a string or an array of exactly one string "
                          "(batched and token-id prompts are not supported)");
        p = json_array_get(p, 0);
    }
    if (!json_is_string(p)) return BAD_TYPE("prompt", "a string or an array of one string");
    if (json_string_length(p) > lim->max_prompt_bytes)
        return reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "context_length_exceeded",
                      "prompt", "the prompt holds %zu bytes; this server accepts at most %zu",
                      json_string_length(p), lim->max_prompt_bytes);
    r->prompt = dupn(json_string_value(p), json_string_length(p));
    return r->prompt ? TTC_OK : ttc_err_set(e, TTC_ENOMEM, "out of memory");
}

static int parse_stop(json_t *root, ttc_api_req *r, ttc_api_fault *f, ttc_err *e) {
    json_t *s = json_object_get(root, "stop");
    if (!s || json_is_null(s)) return TTC_OK;
    json_t *one[1] = {s};
    json_t **items = one;
    size_t n = 1;
    if (json_is_array(s)) {
        n = json_array_size(s);
        if (n > TTC_API_MAX_STOP) return BAD("stop", "'stop' has %zu entries; at most %d are allowed", n, TTC_API_MAX_STOP);
        items = NULL;
    } else if (!json_is_string(s)) {
        return BAD_TYPE("stop", "a string or an array of strings");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = items ? items[i] : json_array_get(s, i);
        if (!json_is_string(v)) return BAD_TYPE("stop", "a string or an array of strings");
        if (json_string_length(v) == 0) return BAD("stop", "'stop' strings must not be empty");
        if (json_string_length(v) > 256) return BAD("stop", "'stop' strings are limited to 256 bytes");
        r->stop[r->n_stop] = dupn(json_string_value(v), json_string_length(v));
        if (!r->stop[r->n_stop]) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
        r->n_stop++;
    }
    return TTC_OK;
}

static int parse_ttc(json_t *root, ttc_api_req *r, const ttc_api_limits *lim,
                     ttc_api_fault *f, ttc_err *e) {
    json_t *t = json_object_get(root, "ttc");
    r->strategy = lim->default_strategy;
    r->budget = lim->default_budget > 0 ? lim->default_budget : 1;
    if (!t || json_is_null(t)) return TTC_OK;
    if (!json_is_object(t)) return BAD_TYPE("ttc", "an object");
    r->has_ttc = true;
    const char *key;
    json_t *v;
    json_object_foreach(t, key, v) {
        if (strcmp(key, "strategy") && strcmp(key, "budget") && strcmp(key, "beam_width") &&
            strcmp(key, "lookahead") && strcmp(key, "revise_temperature"))
            return reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "unknown_parameter", "ttc",
                          "unknown field 'ttc.%.40s' (expected strategy, budget, beam_width, lookahead, "
                          "revise_temperature)", key);
    }
    json_t *s = json_object_get(t, "strategy");
    if (s && !json_is_null(s)) {
        if (!json_is_string(s)) return BAD_TYPE("ttc.strategy", "a string");
        ttc_err e2;
        if (ttc_strategy_parse(json_string_value(s), &r->strategy, &e2))
            return BAD("ttc.strategy", "ttc.strategy: %s", e2.msg);
    }
    long long x = r->budget;
    int rc;
    if ((rc = get_int(t, "budget", 1, lim->max_budget, &x, f, e))) goto prefix;
    r->budget = (int)x;
    x = 0;
    if ((rc = get_int(t, "beam_width", 1, 64, &x, f, e))) goto prefix;
    r->beam_width = (int)x;
    x = 0;
    if ((rc = get_int(t, "lookahead", 0, 64, &x, f, e))) goto prefix;
    r->lookahead = (int)x;
    double rt = -1;
    if ((rc = get_num(t, "revise_temperature", 0, 2, &rt, f, e))) goto prefix;
    r->has_revise_temperature = rt >= 0;
    r->revise_temperature = r->has_revise_temperature ? (float)rt : 0;
    return TTC_OK;
prefix:
    /* get_int named the bare key; say it lives inside "ttc" */
    {
        char p[32];
        snprintf(p, sizeof p, "%.31s", f->param);
        snprintf(f->param, sizeof f->param, "ttc.%s", p);
        ttc_err_wrap(e, "ttc: ");
    }
    return rc;
}

int ttc_api_req_parse(const char *body, size_t len, ttc_api_kind kind, const ttc_api_limits *lim_in,
                      ttc_api_req *out, ttc_api_fault *f, ttc_err *e) {
    ttc_api_limits lim;
    if (lim_in) lim = *lim_in; else ttc_api_limits_default(&lim);
    ttc_api_limits def;
    ttc_api_limits_default(&def);
    if (lim.max_tokens <= 0) lim.max_tokens = def.max_tokens;
    if (lim.default_max_tokens <= 0) lim.default_max_tokens = def.default_max_tokens;
    if (lim.max_n <= 0) lim.max_n = def.max_n;
    if (lim.max_budget <= 0) lim.max_budget = def.max_budget;
    if (lim.max_prompt_bytes == 0) lim.max_prompt_bytes = def.max_prompt_bytes;

    memset(out, 0, sizeof *out);
    out->kind = kind;
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        enum json_error_code c = json_error_code(&je);
        const char *code = c == json_error_invalid_utf8 ? "invalid_utf8" : "invalid_json";
        return reject(f, e, TTC_EFORMAT, 400, "invalid_request_error", code, NULL,
                      "request body is not valid JSON: line %d, column %d (byte %d): %s",
                      je.line, je.column, je.position, je.text);
    }
    int rc = TTC_OK;
    if (!json_is_object(root)) {
        rc = reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "invalid_type", NULL,
                    "request body must be a JSON object");
        goto done;
    }

    json_t *model = json_object_get(root, "model");
    if (model && !json_is_null(model) && !json_is_string(model)) { rc = BAD_TYPE("model", "a string"); goto done; }
    const char *mname = model && json_is_string(model) ? json_string_value(model) : lim.model_id;
    if (!mname) mname = "";
    if (lim.model_id && model && json_is_string(model) && strcmp(mname, lim.model_id)) {
        rc = reject(f, e, TTC_ENOTFOUND, 404, "not_found_error", "model_not_found", "model",
                    "the model '%.200s' does not exist; this server serves '%.200s'", mname, lim.model_id);
        goto done;
    }
    if (!(out->model = dupn(mname, strlen(mname)))) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto done; }

    rc = kind == TTC_API_CHAT ? parse_messages(root, out, &lim, f, e) : parse_prompt(root, out, &lim, f, e);
    if (rc) goto done;

    long long mt = kind == TTC_API_CHAT ? TTC_MIN(lim.default_max_tokens, lim.max_tokens)
                                        : TTC_MIN(16, lim.max_tokens);
    if ((rc = get_int(root, "max_tokens", 1, lim.max_tokens, &mt, f, e))) goto done;
    if (kind == TTC_API_CHAT && (rc = get_int(root, "max_completion_tokens", 1, lim.max_tokens, &mt, f, e)))
        goto done;
    out->max_tokens = (int)mt;
    out->has_max_tokens = (json_object_get(root, "max_tokens") && !json_is_null(json_object_get(root, "max_tokens"))) ||
                          (kind == TTC_API_CHAT && json_object_get(root, "max_completion_tokens") &&
                           !json_is_null(json_object_get(root, "max_completion_tokens")));

    double temp = 1.0, top_p = 1.0, pen = 0;
    if ((rc = get_num(root, "temperature", 0, 2, &temp, f, e))) goto done;
    if ((rc = get_num(root, "top_p", 0, 1, &top_p, f, e))) goto done;
    if (top_p <= 0) { rc = BAD("top_p", "'top_p' must be greater than 0"); goto done; }
    if ((rc = get_num(root, "presence_penalty", -2, 2, &pen, f, e))) goto done;
    if ((rc = get_num(root, "frequency_penalty", -2, 2, &pen, f, e))) goto done;
    out->temperature = (float)temp;
    json_t *tv = json_object_get(root, "temperature");
    out->has_temperature = tv && !json_is_null(tv);
    out->top_p = (float)top_p;

    json_t *seed = json_object_get(root, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) { rc = BAD_TYPE("seed", "an integer"); goto done; }
        out->seed = (uint64_t)json_integer_value(seed);
        out->has_seed = true;
    }

    long long n = 1;
    if ((rc = get_int(root, "n", 1, lim.max_n, &n, f, e))) goto done;
    out->n = (int)n;
    if ((rc = parse_stop(root, out, f, e))) goto done;
    if ((rc = get_bool(root, "stream", &out->stream, f, e))) goto done;

    json_t *so = json_object_get(root, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) { rc = BAD_TYPE("stream_options", "an object"); goto done; }
        if (!out->stream) { rc = BAD("stream_options", "'stream_options' is only allowed when 'stream' is true"); goto done; }
        json_t *iu = json_object_get(so, "include_usage");
        if (iu && !json_is_null(iu) && !json_is_boolean(iu)) {
            rc = BAD_TYPE("stream_options.include_usage", "a boolean");
            goto done;
        }
        out->include_usage = iu && json_is_true(iu);
    }

    if (kind == TTC_API_COMPLETION) {
        long long lp = -1;
        if ((rc = get_int(root, "logprobs", 0, TTC_API_MAX_TOP_LOGPROBS, &lp, f, e))) goto done;
        if (lp >= 0) { out->logprobs = true; out->top_logprobs = (int)lp; }
        if ((rc = get_bool(root, "echo", &out->echo, f, e))) goto done;
    } else {
        if ((rc = get_bool(root, "logprobs", &out->logprobs, f, e))) goto done;
        long long tl = 0;
        if ((rc = get_int(root, "top_logprobs", 0, TTC_API_MAX_TOP_LOGPROBS, &tl, f, e))) goto done;
        if (tl > 0 && !out->logprobs) {
            rc = BAD("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
            goto done;
        }
        out->top_logprobs = (int)tl;
    }

    if ((rc = get_bool(root, "include_stop_str_in_output", &out->include_stop, f, e))) goto done;
    json_t *user = json_object_get(root, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) { rc = BAD_TYPE("user", "a string"); goto done; }

    if ((rc = parse_ttc(root, out, &lim, f, e))) goto done;
    /* without a strategy the budget is unused; with one, n <= budget */
    if (out->strategy != TTC_STRAT_NONE && out->n > out->budget) {
        rc = BAD("n", "'n' is %d but the ttc budget is %d; a strategy returns at most budget choices",
                 out->n, out->budget);
        goto done;
    }
    if (out->strategy != TTC_STRAT_NONE && out->logprobs) {
        rc = reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "unsupported_value", "logprobs",
                    "'logprobs' is only supported without a ttc strategy");
        goto done;
    }

done:
    json_decref(root);
    if (rc) ttc_api_req_free(out);
    return rc;
}

void ttc_api_req_free(ttc_api_req *r) {
    if (!r) return;
    free(r->model);
    for (int i = 0; i < r->n_messages; i++) {
        free(r->messages[i].role);
        free(r->messages[i].content);
    }
    free(r->messages);
    free(r->prompt);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

/* ---- response bodies ---- */

/* A JSON string from n bytes, with every byte that is not part of a valid
 * UTF-8 sequence replaced by U+FFFD (model output can split characters). */
static json_t *jstr(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *buf = malloc(n * 3 + 1);
    if (!buf) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n && c != 0;
        for (size_t k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && len > 1) {
            json_t *probe = json_stringn(s + i, len); /* rejects overlongs and surrogates */
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok) { memcpy(buf + o, s + i, len); o += len; i += len; }
        else { memcpy(buf + o, "\xEF\xBF\xBD", 3); o += 3; i++; }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j;
}

static char *dump(json_t *j) {
    if (!j) return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

char *ttc_api_error_json(const ttc_api_fault *f, const char *message) {
    json_t *err = json_object();
    json_object_set_new(err, "message", jstr(message ? message : "", message ? strlen(message) : 0));
    json_object_set_new(err, "type", json_string(f->type ? f->type : "server_error"));
    json_object_set_new(err, "param", f->param[0] ? jstr(f->param, strlen(f->param)) : json_null());
    json_object_set_new(err, "code", f->code ? json_string(f->code) : json_null());
    return dump(json_pack("{s:o}", "error", err));
}

static json_t *usage_json(const ttc_api_usage *u) {
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)u->prompt_tokens,
                     "completion_tokens", (json_int_t)u->completion_tokens,
                     "total_tokens", (json_int_t)(u->prompt_tokens + u->completion_tokens));
}

static json_t *ttc_json(const ttc_api_usage *u) {
    return json_pack("{s:s,s:I,s:I,s:I}", "strategy_used", u->strategy_used,
                     "generations", (json_int_t)u->generations, "tokens", (json_int_t)u->ttc_tokens,
                     "verifier_tokens", (json_int_t)u->verifier_tokens);
}

/* OpenAI's logprobs object for one choice: the legacy completions layout
 * {tokens, token_logprobs, top_logprobs, text_offset} or chat's {content}. */
static json_t *logprobs_json(ttc_api_kind kind, const ttc_api_choice *c, size_t off) {
    if (!c || !c->token_text) return json_null();
    if (kind == TTC_API_COMPLETION) {
        json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
        for (int t = 0; t < c->n_tokens; t++) {
            const char *tt = c->token_text[t];
            json_array_append_new(toks, jstr(tt, strlen(tt)));
            json_array_append_new(lps, json_real(c->token_logprob[t]));
            json_array_append_new(offs, json_integer((json_int_t)off));
            off += strlen(tt);
            if (c->top_k > 0) {
                json_t *m = json_object();
                for (int k = 0; k < c->top_k; k++) {
                    const char *s = c->top_text[(size_t)t * c->top_k + k];
                    if (!s) continue;
                    json_t *key = jstr(s, strlen(s));
                    json_object_set_new(m, json_string_value(key), json_real(c->top_logprob[(size_t)t * c->top_k + k]));
                    json_decref(key);
                }
                json_array_append_new(tops, m);
            } else {
                json_array_append_new(tops, json_null());
            }
        }
        return json_pack("{s:o,s:o,s:o,s:o}", "tokens", toks, "token_logprobs", lps,
                         "top_logprobs", tops, "text_offset", offs);
    }
    json_t *content = json_array();
    for (int t = 0; t < c->n_tokens; t++) {
        const char *tt = c->token_text[t];
        json_t *top = json_array();
        for (int k = 0; k < c->top_k; k++) {
            const char *s = c->top_text[(size_t)t * c->top_k + k];
            if (!s) continue;
            json_array_append_new(top, json_pack("{s:o,s:f}", "token", jstr(s, strlen(s)),
                                                 "logprob", (double)c->top_logprob[(size_t)t * c->top_k + k]));
        }
        json_array_append_new(content, json_pack("{s:o,s:f,s:o}", "token", jstr(tt, strlen(tt)),
                                                 "logprob", (double)c->token_logprob[t], "top_logprobs", top));
    }
    return json_pack("{s:o}", "content", content);
}

char *ttc_api_response_json(ttc_api_kind kind, const char *id, int64_t created, const char *model,
                            const ttc_api_choice *choices, int n_choices, const ttc_api_usage *u) {
    json_t *arr = json_array();
    for (int i = 0; i < n_choices; i++) {
        const ttc_api_choice *c = &choices[i];
        json_t *text = jstr(c->text ? c->text : "", c->text ? c->len : 0);
        json_t *fin = c->finish_reason ? json_string(c->finish_reason) : json_null();
        json_t *ch;
        if (kind == TTC_API_CHAT)
            ch = json_pack("{s:i,s:{s:s,s:o},s:o,s:o}", "index", i, "message", "role", "assistant",
                           "content", text, "logprobs", logprobs_json(kind, c, 0), "finish_reason", fin);
        else
            ch = json_pack("{s:o,s:i,s:o,s:o}", "text", text, "index", i, "logprobs",
                           logprobs_json(kind, c, 0), "finish_reason", fin);
        json_array_append_new(arr, ch);
    }
    json_t *r = json_pack("{s:s,s:s,s:I,s:s,s:o,s:o}", "id", id, "object",
                          kind == TTC_API_CHAT ? "chat.completion" : "text_completion", "created",
                          (json_int_t)created, "model", model, "choices", arr, "usage", usage_json(u));
    if (r && u->strategy_used) json_object_set_new(r, "ttc", ttc_json(u));
    return dump(r);
}

char *ttc_api_chunk_sse(ttc_api_kind kind, const char *id, int64_t created, const char *model,
                        int choice, bool first, const char *delta, size_t delta_len,
                        const char *finish, const ttc_api_usage *u, const ttc_api_choice *lp,
                        size_t text_offset0) {
    json_t *choices = json_array();
    if (choice >= 0) {
        json_t *ch;
        json_t *fin = finish ? json_string(finish) : json_null();
        if (kind == TTC_API_CHAT) {
            json_t *d = json_object();
            if (first) json_object_set_new(d, "role", json_string("assistant"));
            if (delta_len || (!finish && first) || lp) json_object_set_new(d, "content", jstr(delta ? delta : "", delta_len));
            ch = json_pack("{s:i,s:o,s:o,s:o}", "index", choice, "delta", d, "logprobs",
                           logprobs_json(kind, lp, text_offset0), "finish_reason", fin);
        } else {
            ch = json_pack("{s:o,s:i,s:o,s:o}", "text", jstr(delta ? delta : "", delta_len), "index", choice,
                           "logprobs", logprobs_json(kind, lp, text_offset0), "finish_reason", fin);
        }
        json_array_append_new(choices, ch);
    }
    json_t *r = json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", id, "object",
                          kind == TTC_API_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                          (json_int_t)created, "model", model, "choices", choices);
    if (r && choice < 0 && u) {
        json_object_set_new(r, "usage", usage_json(u));
        if (u->strategy_used) json_object_set_new(r, "ttc", ttc_json(u));
    }
    char *body = dump(r);
    if (!body) return NULL;
    size_t n = strlen(body);
    char *sse = malloc(n + 9);
    if (sse) { memcpy(sse, "data: ", 6); memcpy(sse + 6, body, n); memcpy(sse + 6 + n, "\n\n", 3); }
    free(body);
    return sse;
}

/* ---- /pooling ---- */

void ttc_api_pool_req_free(ttc_api_pool_req *r) {
    if (!r) return;
    for (int i = 0; r->inputs && i < r->n_inputs; i++) free(r->inputs[i]);
    free(r->inputs);
    free(r->lens);
    free(r->model);
    memset(r, 0, sizeof *r);
}

int ttc_api_pool_parse(const char *body, size_t len, const ttc_api_limits *lim_in, ttc_api_pool_req *out,
                       ttc_api_fault *f, ttc_err *e) {
    ttc_api_limits lim;
    if (lim_in) lim = *lim_in; else ttc_api_limits_default(&lim);
    if (lim.max_prompt_bytes == 0) {
        ttc_api_limits def;
        ttc_api_limits_default(&def);
        lim.max_prompt_bytes = def.max_prompt_bytes;
    }
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        const char *code = json_error_code(&je) == json_error_invalid_utf8 ? "invalid_utf8" : "invalid_json";
        return reject(f, e, TTC_EFORMAT, 400, "invalid_request_error", code, NULL,
                      "request body is not valid JSON: line %d, column %d (byte %d): %s", je.line, je.column,
                      je.position, je.text);
    }
    int rc = TTC_OK;
    if (!json_is_object(root)) {
        rc = reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "invalid_type", NULL,
                    "request body must be a JSON object");
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        static const char *const known[] = {"model", "input", "encoding_format", "task", "user", NULL};
        bool ok = false;
        for (int k = 0; known[k] && !ok; k++) ok = !strcmp(key, known[k]);
        if (!ok) {
            rc = reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "unsupported_parameter", key,
                        "'%.60s' is not supported by this server's /pooling (it takes model, input, "
                        "encoding_format, task)", key);
            goto done;
        }
    }
    json_t *model = json_object_get(root, "model");
    if (model && !json_is_null(model) && !json_is_string(model)) { rc = BAD_TYPE("model", "a string"); goto done; }
    const char *mname = model && json_is_string(model) ? json_string_value(model) : lim.model_id;
    if (!mname) mname = "";
    if (lim.model_id && model && json_is_string(model) && strcmp(mname, lim.model_id)) {
        rc = reject(f, e, TTC_ENOTFOUND, 404, "not_found_error", "model_not_found", "model",
                    "the model '%.200s' does not exist; this server serves '%.200s'", mname, lim.model_id);
        goto done;
    }
    json_t *fmt = json_object_get(root, "encoding_format");
    if (fmt && !json_is_null(fmt) && !(json_is_string(fmt) && !strcmp(json_string_value(fmt), "float"))) {
        rc = BAD("encoding_format", "'encoding_format' must be \"float\" (the only format this server writes)");
        goto done;
    }
    json_t *task = json_object_get(root, "task");
    if (task && !json_is_null(task)) {
        const char *t = json_string_value(task);
        if (!t || (strcmp(t, "reward") && strcmp(t, "token_classify") && strcmp(t, "encode"))) {
            rc = BAD("task", "'task' must be \"reward\", \"token_classify\" or \"encode\" (per-step verifier scores)");
            goto done;
        }
    }
    json_t *input = json_object_get(root, "input");
    size_t n = json_is_array(input) ? json_array_size(input) : 1;
    if (!input || json_is_null(input)) { rc = BAD("input", "'input' is required"); goto done; }
    if (!json_is_string(input) && !json_is_array(input)) { rc = BAD_TYPE("input", "a string or an array of strings"); goto done; }
    if (n < 1 || n > TTC_API_MAX_POOL_INPUTS) {
        rc = BAD("input", "'input' must hold 1 to %d texts, not %zu", TTC_API_MAX_POOL_INPUTS, n);
        goto done;
    }
    out->inputs = calloc(n, sizeof *out->inputs);
    out->lens = calloc(n, sizeof *out->lens);
    out->model = dupn(mname, strlen(mname));
    if (!out->inputs || !out->lens || !out->model) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(input) ? json_array_get(input, i) : input;
        char param[32];
        if (json_is_array(input)) snprintf(param, sizeof param, "input[%zu]", i);
        else snprintf(param, sizeof param, "input");
        if (!json_is_string(s)) {
            rc = reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "invalid_type", param,
                        "'%s' must be a string (token-id inputs are not supported)", param);
            goto done;
        }
        size_t sl = json_string_length(s);
        if (sl == 0 || sl > lim.max_prompt_bytes) {
            rc = reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "invalid_value", param,
                        "'%s' must be 1 to %zu bytes, not %zu", param, lim.max_prompt_bytes, sl);
            goto done;
        }
        if (memchr(json_string_value(s), 0, sl)) {
            rc = reject(f, e, TTC_EINVAL, 400, "invalid_request_error", "invalid_value", param,
                        "'%s' contains a NUL character", param);
            goto done;
        }
        if (!(out->inputs[i] = dupn(json_string_value(s), sl))) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto done; }
        out->lens[i] = sl;
        out->n_inputs = (int)i + 1;
    }
done:
    json_decref(root);
    if (rc) ttc_api_pool_req_free(out);
    return rc;
}

char *ttc_api_pool_json(const char *id, int64_t created, const char *model, const float *const *rows,
                        const int *n_rows, int n_inputs, int64_t prompt_tokens) {
    json_t *data = json_array();
    for (int i = 0; i < n_inputs; i++) {
        json_t *r = json_array();
        for (int k = 0; k < n_rows[i]; k++)
            json_array_append_new(r, json_pack("[f,f]", (double)rows[i][2 * k], (double)rows[i][2 * k + 1]));
        json_array_append_new(data, json_pack("{s:i,s:s,s:o}", "index", i, "object", "pooling", "data", r));
    }
    return dump(json_pack("{s:s,s:s,s:I,s:s,s:o,s:{s:I,s:I,s:i}}", "id", id, "object", "list", "created",
                          (json_int_t)created, "model", model, "data", data, "usage", "prompt_tokens",
                          (json_int_t)prompt_tokens, "total_tokens", (json_int_t)prompt_tokens,
                          "completion_tokens", 0));
}

char *ttc_api_models_json(const char *model_id, int64_t created) {
    return dump(json_pack("{s:s,s:[{s:s,s:s,s:I,s:s}]}", "object", "list", "data", "id", model_id,
                          "object", "model", "created", (json_int_t)created, "owned_by", "ttc"));
}

void ttc_api_req_search_params(const ttc_api_req *r, ttc_search_params *p) {
    if (r->beam_width) p->beam_width = r->beam_width;
    if (r->lookahead) p->lookahead = r->lookahead;
    if (r->has_temperature) { p->temperature = r->temperature; p->top_p = r->top_p; }
    p->max_solution_tokens = r->max_tokens;
    p->max_step_tokens = r->max_tokens;
    /* greedy revisions: the bundled revision model's operating point, as in
     * ttc solve */
    if (r->has_revise_temperature) p->revise_temperature = r->revise_temperature;
    else if (r->strategy == TTC_STRAT_REVISE) p->revise_temperature = 0;
}
