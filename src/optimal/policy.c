/* Compute-optimal policy: load, choose, solve. See policy.h. */
#include "optimal/policy.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "optimal/experiment.h"

int ttc_policy_load(const char *path, ttc_policy *p, ttc_err *e) {
    memset(p, 0, sizeof *p);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return ttc_err_set(e, TTC_EFORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    int rc = TTC_OK;
    json_t *cuts = json_object_get(j, "cuts"), *bud = json_object_get(j, "budgets"), *ch = json_object_get(j, "choice");
    json_t *probe = json_object_get(j, "probe");
    if (!json_is_array(cuts) || json_array_size(cuts) != TTC_EXP_BINS - 1) {
        rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"cuts\": expected an array of %d numbers", path, TTC_EXP_BINS - 1);
        goto out;
    }
    for (int k = 0; k < TTC_EXP_BINS - 1; k++) {
        json_t *v = json_array_get(cuts, k);
        if (!json_is_number(v)) { rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"cuts\"[%d]: not a number", path, k); goto out; }
        p->cuts[k] = (float)json_number_value(v);
    }
    size_t nb = json_array_size(bud);
    if (!json_is_array(bud) || nb < 1 || nb > TTC_EXP_MAX_BUDGETS) {
        rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"budgets\": expected 1..%d budgets", path, TTC_EXP_MAX_BUDGETS);
        goto out;
    }
    for (size_t b = 0; b < nb; b++) {
        json_int_t v = json_integer_value(json_array_get(bud, b));
        if (v < 1 || (b && v <= p->budgets[b - 1])) {
            rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"budgets\"[%zu]: must be ascending positive integers", path, b);
            goto out;
        }
        p->budgets[b] = (int)v;
    }
    p->n_budgets = (int)nb;
    if (!json_is_array(ch) || json_array_size(ch) != TTC_EXP_BINS) {
        rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"choice\": expected %d rows", path, TTC_EXP_BINS);
        goto out;
    }
    for (int k = 0; k < TTC_EXP_BINS; k++) {
        json_t *row = json_array_get(ch, k);
        if (json_array_size(row) != nb) {
            rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"choice\"[%d]: expected %zu methods", path, k, nb);
            goto out;
        }
        for (size_t b = 0; b < nb; b++) {
            const char *m = json_string_value(json_array_get(row, b));
            ttc_search_params sp;
            if (!m || strlen(m) >= sizeof p->choice[0][0] ||
                ttc_exp_method_params(m, 64, 1, 0, &sp, NULL) == TTC_EINVAL) {
                rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"choice\"[%d][%zu]: unknown method '%s'", path, k, b, m ? m : "(not a string)");
                goto out;
            }
            snprintf(p->choice[k][b], sizeof p->choice[k][b], "%s", m);
        }
    }
    p->probe = json_is_integer(probe) ? (int)json_integer_value(probe) : 4;
    if (p->probe < 1 || p->probe > 64) rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"probe\": must be 1..64", path);
    json_t *rt = json_object_get(j, "revise_temperature");
    p->revise_temperature = -1;
    if (rt && !json_is_null(rt)) {
        double v = json_number_value(rt);
        if (!json_is_number(rt) || !(v >= 0 && v <= 5))
            rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"revise_temperature\": expected a number in 0..5", path);
        else
            p->revise_temperature = (float)v;
    }
    json_t *rc_ = json_object_get(j, "revise_context");
    p->revise_context = TTC_REVISE_MAX_CONTEXT;
    if (rc_ && !json_is_null(rc_)) {
        json_int_t v = json_integer_value(rc_);
        if (!json_is_integer(rc_) || v < 1 || v > TTC_REVISE_MAX_CONTEXT)
            rc = ttc_err_set(e, TTC_EFORMAT, "%s: field \"revise_context\": expected an integer in 1..%d", path,
                             TTC_REVISE_MAX_CONTEXT);
        else
            p->revise_context = (int)v;
    }
out:
    json_decref(j);
    return rc;
}

int ttc_policy_bin(const ttc_policy *p, float score) {
    for (int k = 0; k < TTC_EXP_BINS - 1; k++)
        if (score >= p->cuts[k]) return k;
    return TTC_EXP_BINS - 1;
}

const char *ttc_policy_choose(const ttc_policy *p, int bin, int budget) {
    int b = 0;
    while (b + 1 < p->n_budgets && p->budgets[b + 1] <= budget) b++;
    return p->choice[TTC_MIN(TTC_MAX(bin, 0), TTC_EXP_BINS - 1)][b];
}

static int pow2_floor(int v) {
    int p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
}

int ttc_exp_method_params(const char *name, int B, float temperature, uint64_t seed,
                          ttc_search_params *p, ttc_err *e) {
    int k = 0, len = 0;
    if (B < 1) return ttc_err_set(e, TTC_EUNSUPPORTED, "method %s: budget %d < 1", name, B);
    if (!strcmp(name, "bon_weighted")) ttc_search_params_default(p, TTC_SEARCH_BON_WEIGHTED, B);
    else if (!strcmp(name, "bon")) ttc_search_params_default(p, TTC_SEARCH_BON, B);
    else if (!strcmp(name, "majority")) ttc_search_params_default(p, TTC_SEARCH_MAJORITY, B);
    else if (!strcmp(name, "beam_sqrt")) {
        ttc_search_params_default(p, TTC_SEARCH_BEAM, B);
        p->beam_width = pow2_floor((int)floor(sqrt((double)B)));
    } else if (!strcmp(name, "beam_m4")) {
        ttc_search_params_default(p, TTC_SEARCH_BEAM, B);
        p->beam_width = TTC_MIN(4, B);
    } else if (!strcmp(name, "lookahead_k1") || !strcmp(name, "lookahead_k3")) {
        k = name[11] - '0';
        if (B < k + 1) return ttc_err_set(e, TTC_EUNSUPPORTED, "method %s needs a budget of at least %d", name, k + 1);
        ttc_search_params_default(p, TTC_SEARCH_LOOKAHEAD, B / (k + 1));
        p->lookahead = k;
        p->beam_width = TTC_MIN(4, p->n);
    } else if (!strcmp(name, "dvts")) {
        ttc_search_params_default(p, TTC_SEARCH_DVTS, B);
        p->beam_width = TTC_MIN(4, B);
    } else if (sscanf(name, "revisions_len%d", &len) == 1 && len >= 1) {
        if (B % len) return ttc_err_set(e, TTC_EUNSUPPORTED, "method %s needs a budget divisible by %d", name, len);
        ttc_search_params_default(p, TTC_SEARCH_REVISE, B);
        p->revise_len = len;
    } else {
        return ttc_err_set(e, TTC_EINVAL, "unknown method '%s' (bon_weighted, bon, majority, beam_sqrt, beam_m4, "
                                          "lookahead_k1, lookahead_k3, dvts, revisions_lenL)", name);
    }
    p->temperature = temperature;
    p->seed = seed;
    return ttc_search_params_check(p, e) == TTC_OK ? TTC_OK : TTC_EUNSUPPORTED;
}

static void budget_add(ttc_budget *a, const ttc_budget *b) {
    a->generations += b->generations;
    a->full_samples += b->full_samples;
    a->step_samples += b->step_samples;
    a->rollout_steps += b->rollout_steps;
    a->rounds += b->rounds;
    a->tokens_generated += b->tokens_generated;
    a->tokens_prefill += b->tokens_prefill;
    a->tokens_scored += b->tokens_scored;
    a->gen_calls += b->gen_calls;
    a->verifier_calls += b->verifier_calls;
    a->flops_generator += b->flops_generator;
    a->flops_verifier += b->flops_verifier;
    a->wall_seconds += b->wall_seconds;
}

/* Copies the caller's sampling settings into p (keeps method and sizes). */
static void apply_base(ttc_search_params *p, const ttc_search_params *base) {
    p->temperature = base->temperature;
    p->revise_temperature = base->revise_temperature;
    p->top_p = base->top_p;
    p->agg = base->agg;
    p->max_step_tokens = base->max_step_tokens;
    p->max_solution_tokens = base->max_solution_tokens;
    p->answer_ends = base->answer_ends;
}

int ttc_policy_solve(const ttc_policy *pol, int budget, const ttc_search_params *base,
                     ttc_generator *gen, ttc_verifier *prm, ttc_generator *rev, ttc_verifier *orm,
                     const char *problem, ttc_search_result *out, ttc_auto_info *info, ttc_err *e) {
    memset(out, 0, sizeof *out);
    ttc_auto_info inf = {0};
    int probe = TTC_MIN(pol->probe, budget);
    ttc_search_params pp;
    ttc_search_params_default(&pp, TTC_SEARCH_BON_WEIGHTED, probe);
    apply_base(&pp, base);
    uint64_t seed = base->seed;
    pp.seed = seed;
    ttc_search_result pr;
    int rc = ttc_search_run(&pp, gen, prm, problem, &pr, e);
    if (rc) return rc;
    double s = 0;
    int ns = 0;
    for (int i = 0; i < pr.n_cands; i++)
        if (!isnan(pr.cands[i].score)) { s += pr.cands[i].score; ns++; }
    inf.probe_score = ns ? (float)(s / ns) : 0.0f;
    inf.bin = ttc_policy_bin(pol, inf.probe_score);
    const char *m = ttc_policy_choose(pol, inf.bin, budget);
    bool revise = !strncmp(m, "revisions_", 10);
    if (revise && (!rev || !orm)) m = "bon_weighted";
    if (!strcmp(m, "bon_weighted") || budget - probe < 1) {
        /* the probe samples are the first samples of the full run */
        ttc_search_result_free(&pr);
        snprintf(inf.method, sizeof inf.method, "bon_weighted");
        inf.method_budget = budget;
        pp.n = budget;
        rc = ttc_search_run(&pp, gen, prm, problem, out, e);
    } else {
        int left = budget - probe;
        ttc_search_params mp;
        rc = ttc_exp_method_params(m, left, base->temperature, seed ^ 0x9e3779b97f4a7c15ull, &mp, e);
        if (rc == TTC_EUNSUPPORTED) { /* e.g. lookahead below k+1: spend it on more samples */
            m = "bon_weighted";
            rc = ttc_exp_method_params(m, left, base->temperature, seed ^ 0x9e3779b97f4a7c15ull, &mp, e);
        }
        if (rc == TTC_OK) {
            apply_base(&mp, base);
            /* revisions decode as they did in the experiment the policy
             * came from, unless the caller chose a temperature for them */
            if (mp.revise_temperature < 0 && pol->revise_temperature >= 0)
                mp.revise_temperature = pol->revise_temperature;
            /* and read as many earlier attempts, unless the caller says */
            mp.revise_context = base->revise_context >= 0 ? base->revise_context
                                : pol->revise_context > 0  ? pol->revise_context
                                                           : TTC_REVISE_MAX_CONTEXT;
        }
        if (rc == TTC_OK) {
            snprintf(inf.method, sizeof inf.method, "%s", m);
            inf.method_budget = left;
            revise = mp.method == TTC_SEARCH_REVISE;
            rc = ttc_search_run(&mp, revise ? rev : gen, revise ? orm : prm, problem, out, e);
            if (rc == TTC_OK) budget_add(&out->budget, &pr.budget);
        }
        ttc_search_result_free(&pr);
    }
    if (info) *info = inf;
    return rc;
}
