/* JSONL benchmark loader; see dataset.h. */
#include "data/dataset.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/grader.h"

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "object";
    case JSON_ARRAY:   return "array";
    case JSON_STRING:  return "string";
    case JSON_INTEGER: case JSON_REAL: return "number";
    case JSON_TRUE: case JSON_FALSE: return "boolean";
    default:           return "null";
    }
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

/* Reads string field `key`: *out = malloc'd copy, or NULL when absent and
 * !required. */
static int get_str(json_t *o, const char *key, bool required, char **out,
                   const char *file, int line, ttc_err *e) {
    *out = NULL;
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (!required) return TTC_OK;
        return ttc_err_set(e, TTC_EFORMAT, "%s:%d: field \"%s\": missing", file, line, key);
    }
    if (!json_is_string(v))
        return ttc_err_set(e, TTC_EFORMAT, "%s:%d: field \"%s\": expected string, got %s",
                           file, line, key, json_kind(v));
    *out = dup_n(json_string_value(v), json_string_length(v));
    if (!*out) return ttc_err_set(e, TTC_ENOMEM, "%s:%d: out of memory", file, line);
    return TTC_OK;
}

void ttc_example_free(ttc_example *x) {
    if (!x) return;
    free(x->problem); free(x->solution); free(x->answer); free(x->subject); free(x->unique_id);
    memset(x, 0, sizeof *x);
}

/* GSM8K: "...reasoning...\n#### 1,234" -> solution, answer. */
static int split_gsm8k(const char *full, ttc_example *x, const char *file, int line, ttc_err *e) {
    const char *h = strstr(full, "####");
    if (!h) return ttc_err_set(e, TTC_EFORMAT, "%s:%d: field \"answer\": no \"#### N\" final answer", file, line);
    const char *a = h + 4;
    while (*a == ' ') a++;
    size_t n = strlen(a);
    while (n && (a[n - 1] == ' ' || a[n - 1] == '\n' || a[n - 1] == '\r')) n--;
    if (!n) return ttc_err_set(e, TTC_EFORMAT, "%s:%d: field \"answer\": empty after \"####\"", file, line);
    x->answer = malloc(n + 1);
    x->solution = malloc((size_t)(h - full) + 1);
    if (!x->answer || !x->solution) return ttc_err_set(e, TTC_ENOMEM, "%s:%d: out of memory", file, line);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) if (a[i] != ',') x->answer[w++] = a[i];
    x->answer[w] = 0;
    /* drop <<calc>> annotations and trailing whitespace */
    w = 0;
    for (const char *p = full; p < h; p++) {
        if (p[0] == '<' && p[1] == '<') {
            const char *q = strstr(p + 2, ">>");
            if (q && q < h) { p = q + 1; continue; }
        }
        x->solution[w++] = *p;
    }
    while (w && (x->solution[w - 1] == '\n' || x->solution[w - 1] == ' ')) w--;
    x->solution[w] = 0;
    return TTC_OK;
}

static int parse_level(json_t *o, int *level, const char *file, int line, ttc_err *e) {
    *level = 0;
    json_t *v = json_object_get(o, "level");
    if (!v || json_is_null(v)) return TTC_OK;
    if (json_is_integer(v)) {
        json_int_t l = json_integer_value(v);
        if (l < 0 || l > 100)
            return ttc_err_set(e, TTC_EFORMAT, "%s:%d: field \"level\": %lld out of range 0..100",
                               file, line, (long long)l);
        *level = (int)l;
        return TTC_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strncmp(s, "Level ", 6)) s += 6;
        if (!strcmp(s, "?")) return TTC_OK;
        char *end;
        long l = strtol(s, &end, 10);
        if (end != s && !*end && l >= 0 && l <= 100) { *level = (int)l; return TTC_OK; }
        return ttc_err_set(e, TTC_EFORMAT, "%s:%d: field \"level\": cannot read \"%.40s\" as a level",
                           file, line, json_string_value(v));
    }
    return ttc_err_set(e, TTC_EFORMAT, "%s:%d: field \"level\": expected integer or \"Level N\", got %s",
                       file, line, json_kind(v));
}

int ttc_example_parse(const char *text, size_t len, const char *file, int line,
                      ttc_example *x, ttc_err *e) {
    memset(x, 0, sizeof *x);
    if (!file) file = "<input>";
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!o) return ttc_err_set(e, TTC_EFORMAT, "%s:%d: column %d: invalid JSON: %s", file, line, je.column, je.text);
    int rc;
    if (!json_is_object(o)) {
        rc = ttc_err_set(e, TTC_EFORMAT, "%s:%d: expected a JSON object, got %s", file, line, json_kind(o));
        goto fail;
    }
    if (json_object_get(o, "question")) {                           /* GSM8K */
        char *full = NULL;
        if ((rc = get_str(o, "question", true, &x->problem, file, line, e))) goto fail;
        if ((rc = get_str(o, "answer", true, &full, file, line, e))) goto fail;
        rc = split_gsm8k(full, x, file, line, e);
        free(full);
        if (rc) goto fail;
        x->subject = dup_n("gsm8k", 5);
        char id[64];
        json_t *idx = json_object_get(o, "idx");
        if (idx && json_is_integer(idx)) snprintf(id, sizeof id, "gsm8k/%lld", (long long)json_integer_value(idx));
        else snprintf(id, sizeof id, "gsm8k/%d", line);
        x->unique_id = dup_n(id, strlen(id));
    } else {                                                         /* MATH-500, synth */
        if ((rc = get_str(o, "problem", true, &x->problem, file, line, e))) goto fail;
        if ((rc = get_str(o, "solution", false, &x->solution, file, line, e))) goto fail;
        if ((rc = get_str(o, "answer", false, &x->answer, file, line, e))) goto fail;
        if ((rc = get_str(o, "subject", false, &x->subject, file, line, e))) goto fail;
        if ((rc = get_str(o, "unique_id", false, &x->unique_id, file, line, e))) goto fail;
        if ((rc = parse_level(o, &x->level, file, line, e))) goto fail;
        if (!x->answer) {
            char buf[1024];
            if (!x->solution || !strstr(x->solution, "\\boxed") || !ttc_extract_answer(x->solution, buf, sizeof buf)) {
                rc = ttc_err_set(e, TTC_EFORMAT, "%s:%d: field \"answer\": missing (and no \\boxed{} in \"solution\")",
                                 file, line);
                goto fail;
            }
            x->answer = dup_n(buf, strlen(buf));
        }
        if (!x->solution) x->solution = dup_n("", 0);
        if (!x->subject) x->subject = dup_n("", 0);
        if (!x->unique_id) {
            const char *base = strrchr(file, '/');
            char id[256];
            snprintf(id, sizeof id, "%s:%d", base ? base + 1 : file, line);
            x->unique_id = dup_n(id, strlen(id));
        }
    }
    json_decref(o);
    if (!x->problem || !x->solution || !x->answer || !x->subject || !x->unique_id) {
        ttc_example_free(x);
        return ttc_err_set(e, TTC_ENOMEM, "%s:%d: out of memory", file, line);
    }
    return TTC_OK;
fail:
    json_decref(o);
    ttc_example_free(x);
    return rc;
}

void ttc_dataset_free(ttc_dataset *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) ttc_example_free(&d->items[i]);
    free(d->items);
    d->items = NULL;
    d->n = 0;
}

int ttc_dataset_load(const char *path, ttc_dataset *out, ttc_err *e) {
    out->items = NULL;
    out->n = 0;
    char *buf;
    size_t len;
    int rc = ttc_read_file(path, &buf, &len, e);
    if (rc) return rc;
    int cap = 0, line = 0;
    for (const char *p = buf; p < buf + len;) {
        const char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        const char *end = nl ? nl : buf + len;
        line++;
        bool blank = true;
        for (const char *q = p; q < end; q++)
            if (*q != ' ' && *q != '\t' && *q != '\r') { blank = false; break; }
        if (!blank) {
            if (out->n == cap) {
                int nc = cap ? cap * 2 : 256;
                ttc_example *ni = realloc(out->items, (size_t)nc * sizeof *ni);
                if (!ni) { rc = ttc_err_set(e, TTC_ENOMEM, "%s:%d: out of memory", path, line); break; }
                out->items = ni;
                cap = nc;
            }
            rc = ttc_example_parse(p, (size_t)(end - p), path, line, &out->items[out->n], e);
            if (rc) break;
            out->n++;
        }
        p = nl ? nl + 1 : buf + len;
    }
    free(buf);
    if (rc) ttc_dataset_free(out);
    return rc;
}
