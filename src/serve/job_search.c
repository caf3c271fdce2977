/* Strategy requests, the same on every backend: see job_search.h. */
#include "serve/job_search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *ttc_job_problem(const ttc_api_req *r) {
    if (r->kind != TTC_API_CHAT) return r->prompt;
    for (int i = r->n_messages - 1; i >= 0; i--)
        if (!strcmp(r->messages[i].role, "user")) return r->messages[i].content;
    return r->messages[r->n_messages - 1].content;
}

ttc_search_method ttc_job_method(ttc_strategy_id s, bool has_verifier) {
    switch (s) {
    case TTC_STRAT_MAJORITY:  return TTC_SEARCH_MAJORITY;
    case TTC_STRAT_BEAM:      return TTC_SEARCH_BEAM;
    case TTC_STRAT_LOOKAHEAD: return TTC_SEARCH_LOOKAHEAD;
    case TTC_STRAT_DVTS:      return TTC_SEARCH_DVTS;
    case TTC_STRAT_REVISE:    return TTC_SEARCH_REVISE;
    case TTC_STRAT_AUTO:      return has_verifier ? TTC_SEARCH_BON_WEIGHTED : TTC_SEARCH_MAJORITY;
    default:                  return TTC_SEARCH_BON_WEIGHTED;
    }
}

int ttc_job_search(ttc_job *j, const ttc_search_params *p, const ttc_policy *pol, ttc_generator *gen,
                   ttc_verifier *ver, ttc_generator *rgen, ttc_verifier *orm, const char *problem,
                   int64_t prompt_tokens, ttc_err *e) {
    const ttc_api_req *r = ttc_job_req(j);
    ttc_search_result res = {0};
    ttc_auto_info info = {0};
    int rc;
    if (pol) {
        ttc_search_params base = *p;
        base.revise_context = -1; /* the policy's */
        if ((rc = ttc_policy_solve(pol, r->budget, &base, gen, ver, rgen, orm, problem, &res, &info, e)))
            ttc_err_wrap(e, "policy: ");
    } else {
        rc = ttc_search_run(p, rgen ? rgen : gen, rgen ? orm : ver, problem, &res, e);
    }
    if (rc) goto done;

    /* choice 0: the chosen solution; then the other candidates by score */
    int64_t completion = 0;
    bool *used = calloc((size_t)res.n_cands + 1, 1);
    if (!used) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto done; }
    for (int c = 0; c < r->n; c++) {
        int pick = -1;
        if (c == 0 && res.chosen >= 0) pick = res.chosen;
        for (int k = 0; pick < 0 && k < res.n_cands; k++) {
            if (used[k]) continue;
            int best = k;
            for (int m = k + 1; m < res.n_cands; m++)
                if (!used[m] && res.cands[m].score > res.cands[best].score) best = m;
            pick = best;
        }
        const char *text = pick >= 0 ? res.cands[pick].text : (c == 0 && res.solution ? res.solution : "");
        if (pick >= 0) { used[pick] = true; completion += res.cands[pick].n_tokens; }
        ttc_job_emit(j, c, text, strlen(text), NULL);
        ttc_job_finish_choice(j, c, pick >= 0 && !res.cands[pick].finished ? "length" : "stop");
    }
    free(used);
    ttc_api_usage u = {.prompt_tokens = prompt_tokens >= 0 ? prompt_tokens : res.budget.tokens_prefill,
                       .completion_tokens = completion,
                       .generations = llround(res.budget.generations),
                       .ttc_tokens = res.budget.tokens_generated, .verifier_tokens = res.budget.tokens_scored,
                       .strategy_used = pol ? info.method : ttc_search_method_name(p->method)};
    ttc_job_set_usage(j, &u);
done:
    ttc_search_result_free(&res);
    return rc;
}
