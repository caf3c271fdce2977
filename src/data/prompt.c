#include "data/prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ttc_prompt_solve_to(char *buf, size_t cap, const char *problem) {
    int n = snprintf(buf, cap, TTC_PROMPT_SOLVE_PREFIX "%s" TTC_PROMPT_SOLVE_SUFFIX, problem ? problem : "");
    return n < 0 ? 0 : (size_t)n;
}

char *ttc_prompt_solve(const char *problem) {
    size_t n = ttc_prompt_solve_to(NULL, 0, problem);
    char *s = malloc(n + 1);
    if (s) ttc_prompt_solve_to(s, n + 1, problem);
    return s;
}

char *ttc_prompt_revise(const char *problem, const char *const *attempts, int n_attempts) {
    if (!problem) problem = "";
    size_t need = strlen(problem) + 32;
    for (int k = 0; k < n_attempts; k++)
        need += (attempts[k] ? strlen(attempts[k]) : 0) + 32;
    char *s = malloc(need), *p = s;
    if (!s) return NULL;
    p += sprintf(p, "Problem: %s\n", problem);
    for (int k = 0; k < n_attempts; k++) {
        const char *a = attempts[k] ? attempts[k] : "";
        size_t len = strlen(a);
        if (len && a[len - 1] == '\n') len--;
        p += sprintf(p, "Attempt %d:\n", k + 1);
        memcpy(p, a, len);
        p += len;
        *p++ = '\n';
    }
    strcpy(p, "Solution:\n");
    return s;
}

char *ttc_prompt_revise_context(const char *problem, const char *const *attempts, int n_attempts) {
    static const char head[] = "Problem: ", tail[] = "\nSolution:\n";
    char *s = ttc_prompt_revise(problem, attempts, n_attempts);
    if (!s) return NULL;
    size_t len = strlen(s), h = sizeof head - 1, t = sizeof tail - 1;
    memmove(s, s + h, len - h - t); /* ttc_prompt_revise always has both ends */
    s[len - h - t] = 0;
    return s;
}
