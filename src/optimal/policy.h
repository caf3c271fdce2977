/* The compute-optimal policy for serving: which strategy a request gets at a
 * given generation budget, from a cheap estimate of its difficulty.
 *
 * File format (policy.json, written by ttc_exp_analyze):
 *   {"difficulty": "...", "cuts": [c1, c2, c3, c4],
 *    "budgets": [1, 2, 4, ...], "choice": [[method per budget] x 5 bins],
 *    "probe": 4}
 * Bin k (0 = easiest) holds problems whose probe score s >= cuts[k] (first
 * such k), else the last bin. Methods are the experiment's names
 * ("bon_weighted", "majority", "beam_sqrt", "beam_m4", "lookahead_k1",
 * "lookahead_k3", "dvts", "revisions_lenL").
 *
 * Difficulty at serving time: `probe` full samples scored by the PRM (their
 * mean final score; the predicted-difficulty measure of the paper with a
 * small S). Their cost is part of the request's budget: the probe samples
 * are the first samples of best-of-N weighted when that is chosen (same
 * seeds), and are otherwise subtracted from the budget left for the chosen
 * method. */
#ifndef TTC_OPTIMAL_POLICY_H
#define TTC_OPTIMAL_POLICY_H
#include "ttc.h"
#include "optimal/analysis.h"
#include "search/strategy.h"

typedef struct ttc_policy {
    float cuts[TTC_EXP_BINS - 1];
    int   budgets[TTC_EXP_MAX_BUDGETS];
    int   n_budgets;
    char  choice[TTC_EXP_BINS][TTC_EXP_MAX_BUDGETS][32];
    int   probe;
    float revise_temperature;   /* the experiment's, for revisions; < 0: not set */
    int   revise_context;       /* the experiment's earlier attempts per revision; 0: 4 */
} ttc_policy;

/* Loads and validates a policy file; errors name the file and field. */
int ttc_policy_load(const char *path, ttc_policy *p, ttc_err *e);

/* Difficulty bin of a probe score. */
int ttc_policy_bin(const ttc_policy *p, float score);

/* The method for bin and budget: the choice at the largest policy budget
 * <= budget (the smallest one if budget is below all). */
const char *ttc_policy_choose(const ttc_policy *p, int bin, int budget);

/* Search parameters for an experiment method name at generation budget B
 * (see experiment.h for the settings of each). TTC_EINVAL for an unknown
 * name, TTC_EUNSUPPORTED when the method cannot run at that budget. */
int ttc_exp_method_params(const char *name, int B, float temperature, uint64_t seed,
                          ttc_search_params *p, ttc_err *e);

/* What `auto` did, besides the search result. */
typedef struct ttc_auto_info {
    float probe_score;   /* mean PRM final score of the probe samples */
    int   bin;           /* 0 = easiest */
    char  method[32];    /* method run after the probe */
    int   method_budget; /* its generation budget */
} ttc_auto_info;

/* Solves problem with the policy at generation budget `budget`: probe,
 * bin, chosen method (revisions need rev and orm; without them the choice
 * falls back to bon_weighted). out->budget includes the probe's cost. The
 * sampling settings (temperature, top_p, agg, token limits, answer_ends,
 * seed) come from base (method, n and widths are the policy's). */
int ttc_policy_solve(const ttc_policy *pol, int budget, const ttc_search_params *base,
                     ttc_generator *gen, ttc_verifier *prm, ttc_generator *rev, ttc_verifier *orm,
                     const char *problem, ttc_search_result *out, ttc_auto_info *info, ttc_err *e);
#endif
