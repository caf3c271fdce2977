/* The search part of a strategy request ("ttc": {"strategy": ...}), the
 * same whatever backend (local.h, remote.h) supplies the generator and
 * verifiers: which problem, which method, and the run itself -- the
 * compute-optimal policy or one method, the revision pair where it
 * applies, the choices written back and the compute reported. */
#ifndef TTC_SERVE_JOB_SEARCH_H
#define TTC_SERVE_JOB_SEARCH_H
#include "optimal/policy.h"
#include "search/strategy.h"
#include "serve/server.h"

/* The problem of a request: the last user message of a chat (the last
 * message if none is from the user), else the completion prompt. */
const char *ttc_job_problem(const ttc_api_req *r);

/* The search method of an explicit strategy; "auto" (before any policy)
 * is bon-weighted with a verifier and majority without. */
ttc_search_method ttc_job_method(ttc_strategy_id s, bool has_verifier);

/* Runs the search of job j on problem with params p: through the policy
 * when pol is non-NULL (its probe, difficulty bin and chosen method; the
 * revision context is the policy's), else p's method. The revision pair
 * (rgen, orm; both or neither may be NULL) runs "revise" and the revision
 * methods a policy picks; without it a policy's revision pick becomes
 * bon-weighted. Then writes choice 0 (the chosen solution) and choices
 * 1..n-1 (the other candidates by score) and the usage, with
 * prompt_tokens (< 0: the tokens the generator prefilled). Errors from
 * the policy are prefixed "policy: ". */
int ttc_job_search(ttc_job *j, const ttc_search_params *p, const ttc_policy *pol, ttc_generator *gen,
                   ttc_verifier *ver, ttc_generator *rgen, ttc_verifier *orm, const char *problem,
                   int64_t prompt_tokens, ttc_err *e);
#endif
