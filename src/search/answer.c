/* Answer extraction for voting (see answer.h). Until the data module's
 * grader is available this uses the last \boxed{...} (braces balanced) and a
 * whitespace-free key. */
#include "search/answer.h"

#include <stdlib.h>
#include <string.h>

/* Start and length of the content of the last balanced \boxed{...}; false
 * if there is none. */
static bool last_boxed(const char *text, const char **start, size_t *len) {
    const char *found = NULL, *p = text;
    while ((p = strstr(p, "\\boxed{")) != NULL) { found = p; p += 7; }
    if (!found) return false;
    const char *s = found + 7;
    int depth = 1;
    for (const char *q = s; *q; q++) {
        if (*q == '{') depth++;
        else if (*q == '}' && --depth == 0) { *start = s; *len = (size_t)(q - s); return true; }
    }
    return false;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

int ttc_search_answer_key(const char *answer, char **key, ttc_err *e) {
    size_t n = answer ? strlen(answer) : 0;
    char *k = malloc(n + 1);
    if (!k) return ttc_err_set(e, TTC_ENOMEM, "answer key: out of memory");
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (answer[i] != ' ' && answer[i] != '\t' && answer[i] != '\n') k[j++] = answer[i];
    k[j] = 0;
    *key = k;
    return TTC_OK;
}

int ttc_search_answer(const char *text, char **answer, char **key, ttc_err *e) {
    const char *s = "";
    size_t n = 0;
    if (text) last_boxed(text, &s, &n);
    char *a = dup_n(s, n);
    if (!a) return ttc_err_set(e, TTC_ENOMEM, "answer: out of memory");
    int rc = ttc_search_answer_key(a, key, e);
    if (rc) { free(a); return rc; }
    *answer = a;
    return TTC_OK;
}

bool ttc_search_has_answer(const char *text) {
    const char *s;
    size_t n;
    return text && last_boxed(text, &s, &n) && n > 0;
}

bool ttc_search_answer_correct(const char *answer, const char *reference) {
    char *a = NULL, *b = NULL;
    bool ok = false;
    if (!ttc_search_answer_key(answer, &a, NULL) && !ttc_search_answer_key(reference, &b, NULL))
        ok = *a && !strcmp(a, b);
    free(a);
    free(b);
    return ok;
}
