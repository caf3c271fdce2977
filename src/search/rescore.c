/* Majority / best-of-N accuracy from recorded samples (see rescore.h). */
#include "search/rescore.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "search/answer.h"

static void problem_free(ttc_rescore_problem *p) {
    for (int i = 0; p->keys && i < p->n; i++) free(p->keys[i]);
    free(p->keys);
    free(p->correct);
    free(p->scores);
    free(p->id);
}

void ttc_rescore_set_free(ttc_rescore_set *s) {
    for (int i = 0; i < s->n; i++) problem_free(&s->p[i]);
    free(s->p);
    memset(s, 0, sizeof *s);
}

/* TTC_EFORMAT with "path:line: field: <what>". */
static int bad(ttc_err *e, const char *path, int line, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int bad(ttc_err *e, const char *path, int line, const char *field, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ttc_err_set(e, TTC_EFORMAT, "%s:%d: %s: %s", path, line, field, what);
}
#define BAD(field, ...) bad(e, path, line, field, __VA_ARGS__)

/* The array field `name` of o, or NULL when absent; TTC_EFORMAT when it is
 * not an array of n (or, with *n == 0, any length >= 1) elements. */
static int get_array(json_t *o, const char *name, int *n, json_t **out, const char *path, int line, ttc_err *e) {
    json_t *a = json_object_get(o, name);
    *out = NULL;
    if (!a || json_is_null(a)) return TTC_OK;
    if (!json_is_array(a)) return BAD(name, "expected an array");
    int len = (int)json_array_size(a);
    if (len == 0) return BAD(name, "empty array");
    if (*n && len != *n) return BAD(name, "%d elements, but other fields have %d", len, *n);
    *n = len;
    *out = a;
    return TTC_OK;
}

int ttc_rescore_add_json(ttc_rescore_set *s, const char *json, size_t len, ttc_agg agg,
                         const char *path, int line, ttc_err *e) {
    int rc = TTC_OK;
    json_error_t je;
    json_t *o = json_loadb(json, len, 0, &je);
    if (!o) return ttc_err_set(e, TTC_EFORMAT, "%s:%d: invalid JSON at column %d: %s", path, line, je.column, je.text);
    ttc_rescore_problem p = {0};
    json_t *jr, *ja, *js;
    int n = 0;
    if (!json_is_object(o)) { rc = BAD("record", "expected a JSON object"); goto done; }
    json_t *phase = json_object_get(o, "phase");
    if (json_is_string(phase) && strcmp(json_string_value(phase), "samples")) goto done;  /* not samples */
    json_t *jc;
    if ((rc = get_array(o, "correct", &n, &jc, path, line, e))) goto done;
    const char *ref_field = json_object_get(o, "answer") ? "answer" : "reference";
    json_t *ref = json_object_get(o, ref_field);
    if (!jc && !json_is_string(ref) && !json_is_number(ref)) { rc = BAD("answer", "missing or not a string"); goto done; }
    char refbuf[64] = "";
    const char *reference = json_is_string(ref) ? json_string_value(ref) : refbuf;
    if (json_is_integer(ref)) snprintf(refbuf, sizeof refbuf, "%lld", (long long)json_integer_value(ref));
    else if (json_is_number(ref)) snprintf(refbuf, sizeof refbuf, "%.17g", json_number_value(ref));
    const char *id_field = json_object_get(o, "unique_id") ? "unique_id" : "uid";
    json_t *id = json_object_get(o, id_field);
    if (id && !json_is_string(id)) { rc = BAD(id_field, "not a string"); goto done; }
    json_t *lv = json_object_get(o, "level");
    if (lv && !json_is_null(lv)) {
        long v = -1;
        if (json_is_integer(lv)) v = (long)json_integer_value(lv);
        else if (json_is_string(lv)) {
            char *end;
            const char *t = json_string_value(lv);
            if (!strncmp(t, "Level ", 6)) t += 6;
            v = strtol(t, &end, 10);
            if (end == t || *end) v = -1;
        }
        if (v < 0 || v > 1000) { rc = BAD("level", "expected a non-negative integer"); goto done; }
        p.level = (int)v;
    }
    if ((rc = get_array(o, "responses", &n, &jr, path, line, e)) ||
        (rc = get_array(o, "answers", &n, &ja, path, line, e)) ||
        (rc = get_array(o, "scores", &n, &js, path, line, e)))
        goto done;
    if (!jr && !ja) { rc = BAD("responses", "missing (give responses or answers)"); goto done; }
    p.n = n;
    p.keys = calloc((size_t)n, sizeof *p.keys);
    p.correct = calloc((size_t)n, sizeof *p.correct);
    if (js) p.scores = malloc((size_t)n * sizeof *p.scores);
    if (!(p.id = strdup(id ? json_string_value(id) : "")) || !p.keys || !p.correct || (js && !p.scores)) {
        rc = ttc_err_set(e, TTC_ENOMEM, "%s:%d: out of memory", path, line);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        char *answer = NULL, field[32];
        if (ja) {
            json_t *a = json_array_get(ja, (size_t)i);
            snprintf(field, sizeof field, "answers[%d]", i);
            if (!json_is_string(a) && !json_is_null(a)) { rc = BAD(field, "not a string"); goto done; }
            const char *t = json_is_string(a) ? json_string_value(a) : "";
            if (!(answer = strdup(t))) { rc = ttc_err_set(e, TTC_ENOMEM, "%s:%d: out of memory", path, line); goto done; }
            rc = ttc_search_answer_key(answer, &p.keys[i], e);
        } else {
            json_t *r = json_array_get(jr, (size_t)i);
            snprintf(field, sizeof field, "responses[%d]", i);
            if (!json_is_string(r)) { rc = BAD(field, "not a string"); goto done; }
            char *key = NULL;
            rc = ttc_search_answer(json_string_value(r), &answer, &key, e);
            p.keys[i] = key;
        }
        if (rc) { free(answer); goto done; }
        if (jc) {
            json_t *y = json_array_get(jc, (size_t)i);
            snprintf(field, sizeof field, "correct[%d]", i);
            if (!json_is_boolean(y)) { free(answer); rc = BAD(field, "not true or false"); goto done; }
            p.correct[i] = json_is_true(y);
        } else {
            p.correct[i] = answer[0] && ttc_search_answer_correct(answer, reference);
        }
        free(answer);
        if (js) {
            json_t *x = json_array_get(js, (size_t)i);
            snprintf(field, sizeof field, "scores[%d]", i);
            if (json_is_number(x)) p.scores[i] = (float)json_number_value(x);
            else if (json_is_null(x)) p.scores[i] = NAN;
            else if (json_is_array(x)) {
                size_t m = json_array_size(x);
                float steps[256];
                if (m == 0 || m > 256) { rc = BAD(field, "expected 1..256 step scores"); goto done; }
                for (size_t k = 0; k < m; k++) {
                    json_t *y = json_array_get(x, k);
                    if (!json_is_number(y)) { rc = BAD(field, "step score %zu is not a number", k); goto done; }
                    steps[k] = (float)json_number_value(y);
                }
                p.scores[i] = ttc_agg_apply(agg, steps, (int)m);
            } else { rc = BAD(field, "expected a number, an array of numbers or null"); goto done; }
            if (isinf(p.scores[i])) { rc = BAD(field, "not finite"); goto done; }
        }
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        ttc_rescore_problem *x = realloc(s->p, (size_t)cap * sizeof *x);
        if (!x) { rc = ttc_err_set(e, TTC_ENOMEM, "%s:%d: out of memory", path, line); goto done; }
        s->p = x;
        s->cap = cap;
    }
    s->p[s->n++] = p;
    if (n > s->max_samples) s->max_samples = n;
    if (js) s->has_scores = true;
    memset(&p, 0, sizeof p);
done:
    problem_free(&p);
    json_decref(o);
    return rc;
}

int ttc_rescore_load(const char *path, ttc_agg agg, ttc_rescore_set *s, ttc_err *e) {
    FILE *f = fopen(path, "r");
    if (!f) return ttc_err_set(e, TTC_ENOTFOUND, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int line = 0, rc = TTC_OK;
    while (!rc && (len = getline(&buf, &cap, f)) >= 0) {
        line++;
        bool blank = true;
        for (ssize_t i = 0; i < len && blank; i++) blank = buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t';
        if (!blank) rc = ttc_rescore_add_json(s, buf, (size_t)len, agg, path, line, e);
    }
    if (!rc && ferror(f)) rc = ttc_err_set(e, TTC_EIO, "%s: read error after line %d", path, line);
    if (!rc && s->n == 0) rc = ttc_err_set(e, TTC_EFORMAT, "%s: no records", path);
    free(buf);
    fclose(f);
    return rc;
}

void ttc_rescore_table_free(ttc_rescore_table *t) {
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* Mean correctness of the three votes over `trials` random subsets of size
 * m of problem p. */
static void subset_acc(const ttc_rescore_problem *p, int m, int trials, ttc_rng *r, int *idx, double acc[3]) {
    acc[0] = acc[1] = acc[2] = 0;
    if (m == 1) {                     /* exact: every vote picks the sample */
        for (int i = 0; i < p->n; i++) acc[0] += p->correct[i];
        acc[0] /= p->n;
        acc[1] = acc[2] = p->scores ? acc[0] : NAN;
        return;
    }
    for (int i = 0; i < p->n; i++) idx[i] = i;
    const ttc_vote votes[3] = {TTC_VOTE_MAJORITY, TTC_VOTE_BEST, TTC_VOTE_WEIGHTED};
    for (int t = 0; t < trials; t++) {
        for (int i = 0; i < m; i++) {      /* partial Fisher-Yates: idx[0..m) */
            int j = i + (int)ttc_rng_below(r, (uint64_t)(p->n - i));
            int x = idx[i]; idx[i] = idx[j]; idx[j] = x;
        }
        for (int v = 0; v < 3; v++) {
            if (v > 0 && !p->scores) continue;
            int w = ttc_select_subset(votes[v], (const char *const *)p->keys, p->scores, idx, m);
            acc[v] += w >= 0 && p->correct[w];
        }
    }
    for (int v = 0; v < 3; v++) acc[v] = p->scores || v == 0 ? acc[v] / trials : NAN;
}

int ttc_rescore_run(const ttc_rescore_set *s, int trials, uint64_t seed, ttc_rescore_table *out, ttc_err *e) {
    memset(out, 0, sizeof *out);
    if (trials < 1) return ttc_err_set(e, TTC_EINVAL, "rescore: trials = %d, expected >= 1", trials);
    if (s->n == 0) return ttc_err_set(e, TTC_EINVAL, "rescore: no problems");
    /* levels present (> 0), increasing, after slot 0 = all problems */
    int levels[64], n_levels = 1;
    levels[0] = 0;
    for (int i = 0; i < s->n; i++) {
        int l = s->p[i].level, k = 1;
        if (l == 0) continue;
        while (k < n_levels && levels[k] != l) k++;
        if (k == n_levels) {
            if (n_levels == 64) return ttc_err_set(e, TTC_EUNSUPPORTED, "rescore: more than 63 levels");
            levels[n_levels++] = l;
        }
    }
    for (int a = 2; a < n_levels; a++)
        for (int b = a; b > 1 && levels[b - 1] > levels[b]; b--) { int t = levels[b]; levels[b] = levels[b - 1]; levels[b - 1] = t; }
    int n_ns = 0;
    for (int N = 1; N <= s->max_samples; N *= 2) n_ns++;
    out->rows = calloc((size_t)(n_levels * n_ns), sizeof *out->rows);
    int *idx = malloc((size_t)s->max_samples * sizeof *idx);
    double *acc = calloc((size_t)(s->n * n_ns * 3), sizeof *acc);
    if (!out->rows || !idx || !acc) {
        free(idx); free(acc); ttc_rescore_table_free(out);
        return ttc_err_set(e, TTC_ENOMEM, "rescore: out of memory");
    }
    for (int i = 0; i < s->n; i++)
        for (int k = 0, N = 1; k < n_ns; k++, N *= 2) {
            ttc_rng r;
            ttc_rng_split(&r, seed, ((uint64_t)i << 8) | (uint64_t)k);
            const ttc_rescore_problem *p = &s->p[i];
            subset_acc(p, N < p->n ? N : p->n, trials, &r, idx, &acc[(i * n_ns + k) * 3]);
        }
    for (int l = 0; l < n_levels; l++)
        for (int k = 0, N = 1; k < n_ns; k++, N *= 2) {
            ttc_rescore_row *row = &out->rows[out->n_rows++];
            row->level = l == 0 ? 0 : levels[l];
            row->n = N;
            double sum[3] = {0};
            int cnt[3] = {0};
            for (int i = 0; i < s->n; i++) {
                if (l > 0 && s->p[i].level != levels[l]) continue;
                row->n_problems++;
                for (int v = 0; v < 3; v++) {
                    double a = acc[(i * n_ns + k) * 3 + v];
                    if (!isnan(a)) { sum[v] += a; cnt[v]++; }
                }
            }
            row->n_scored = cnt[1];
            row->majority = cnt[0] ? sum[0] / cnt[0] : NAN;
            row->bon = cnt[1] ? sum[1] / cnt[1] : NAN;
            row->weighted = cnt[2] ? sum[2] / cnt[2] : NAN;
        }
    out->trials = trials;
    free(idx);
    free(acc);
    return TTC_OK;
}
