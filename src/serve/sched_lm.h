/* The strategies' generator and verifier (search/lm.h) over the serving
 * scheduler (sched.h), so the sequences of every concurrent request --
 * plain samples, tree-search beams, PRM scoring -- share decode steps.
 *
 * Nodes are scheduler sequence ids; forks share KV pages. One generator /
 * verifier object serves one request (it carries that request's cancel flag
 * and usage); many may run on the same scheduler at once.
 *
 * Verifier input follows train/prm.h: tok(ttc_prompt_solve(problem)) then
 * tok(step) <|step|> per step, the score being sigmoid(l("+") - l("-")) at
 * the tag. Scoring a step appends only that step and its tag. */
#ifndef TTC_SERVE_SCHED_LM_H
#define TTC_SERVE_SCHED_LM_H
#include <stdatomic.h>
#include "search/lm.h"
#include "serve/sched.h"

/* A generator sampling on s; cancel (may be NULL) aborts its extends with
 * TTC_ECANCELED. Free with ttc_generator_free. */
int ttc_sched_generator_new(ttc_sched *s, atomic_int *cancel, ttc_generator **out, ttc_err *e);

/* A verifier of the given kind scoring with the model of s (whose
 * vocabulary must hold the tag, "+" and "-": TTC_ENOTFOUND otherwise). */
int ttc_sched_verifier_new(ttc_sched *s, ttc_verifier_kind kind, atomic_int *cancel, ttc_verifier **out,
                           ttc_err *e);
#endif
