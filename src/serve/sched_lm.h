/* The strategies' generator (search/lm.h) over the serving scheduler
 * (sched.h), so the sequences of every concurrent request -- plain samples
 * and tree-search beams alike -- share decode steps.
 *
 * Nodes are scheduler sequence ids; forks share KV pages. One generator
 * object serves one request (it carries that request's cancel flag and
 * usage); many may run on the same scheduler at once. Step semantics are
 * those of search/lm_local.h (see sched_lm.c). */
#ifndef TTC_SERVE_SCHED_LM_H
#define TTC_SERVE_SCHED_LM_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "search/lm.h"
#include "serve/sched.h"

/* A generator sampling on s; cancel (may be NULL) aborts its extends with
 * TTC_ECANCELED; max_tokens > 0 caps the tokens of every extend (for
 * callers such as the policy that do not pass the request's limit). Free
 * with ttc_generator_free. */
int ttc_sched_generator_new(ttc_sched *s, atomic_int *cancel, int max_tokens, ttc_generator **out, ttc_err *e);

/* True if s[0..n) is only spaces, tabs and newlines. */
bool ttc_sched_blank(const char *s, size_t n);

#endif
