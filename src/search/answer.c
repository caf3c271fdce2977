/* Answer extraction for voting (see answer.h), over data/grader.h. */
#include "search/answer.h"

#include <stdlib.h>
#include <string.h>

#include "data/grader.h"

/* Answers and keys longer than this are cut (MATH answers are short). */
#define ANSWER_MAX 1024

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

int ttc_search_answer_key(const char *answer, char **key, ttc_err *e) {
    char buf[ANSWER_MAX];
    buf[0] = 0;
    if (answer && *answer) ttc_answer_canonical(answer, buf, sizeof buf);
    if (!(*key = strdup(buf))) return ttc_err_set(e, TTC_ENOMEM, "answer key: out of memory");
    return TTC_OK;
}

int ttc_search_answer(const char *text, char **answer, char **key, ttc_err *e) {
    char buf[ANSWER_MAX];
    if (!text || !ttc_extract_answer(text, buf, sizeof buf)) buf[0] = 0;
    if (!(*answer = strdup(buf))) return ttc_err_set(e, TTC_ENOMEM, "answer: out of memory");
    int rc = ttc_search_answer_key(buf, key, e);
    if (rc) { free(*answer); *answer = NULL; }
    return rc;
}

bool ttc_search_has_answer(const char *text) {
    const char *s;
    size_t n;
    return text && last_boxed(text, &s, &n) && n > 0;
}

bool ttc_search_answer_correct(const char *answer, const char *reference) {
    return ttc_answer_equal(answer, reference);
}
