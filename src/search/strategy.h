/* Test-time compute strategies (Snell et al. 2024) over a generator and a
 * verifier (search/lm.h), with one budget unit and one result record.
 *
 *   majority      N full samples; most common answer (no verifier needed).
 *   bon           N full samples; the one with the highest aggregated score.
 *   bon-weighted  N full samples; answers weighted by the sum of the scores
 *                 of the samples that give them (select.h has tie-breaking).
 *   beam          beam search: N candidates per round, beam width M.
 *   lookahead     beam search whose candidates are valued by the PRM at the
 *                 end of a greedy rollout of up to k more steps.
 *   dvts          N/M independent subtrees, M candidates per step each,
 *                 keeping its single best.
 *   revise        chains of sequential revisions (each conditioned on up to
 *                 4 previous attempts of its chain, fewer when the prompt
 *                 would not fit the generator's context), run in parallel.
 *
 * Tree searches (beam, lookahead, dvts) share one loop. A group (beam: one;
 * dvts: N/M) owns `slots` candidate slots, initially N (beam) or M (each
 * dvts subtree). Each round, the group's kept beams are expanded into
 * exactly `slots` children (M per beam, the last beam gets the rest; round
 * one expands the root). Children that end their solution go to the
 * finished pool and use up their slot for good; of the others the best
 * ceil(slots/M) (by score; lookahead: by rollout value; ties: lower index)
 * are kept. The search stops when every slot is used, nothing is left to
 * expand, or after max_rounds (40) rounds; beams still open then join the
 * pool unfinished. So a tree search returns at most N solutions, and its
 * final answer is best-of-N weighted over the pool.
 *
 * Budget unit, "generations" (one full solution's worth of sampling):
 *   - a full sample (majority, bon, bon-weighted, one revision attempt) is 1;
 *   - a tree search counts the step samples it drew, including lookahead
 *     rollout steps, divided by the number of rounds it ran. A search that
 *     keeps N candidates alive for every round costs exactly N (beam, dvts)
 *     or N*(k+1) (lookahead, when no rollout ends early); a pruned partial
 *     beam costs the fraction of a solution it drew, and rounds in which
 *     slots were already used up by finished beams cost less.
 * The other fields are exact counts of what ran (usage deltas of the
 * backends), never estimates from the configuration.
 *
 * Seeds: every node's sampling seed is derived from its parent's seed and
 * its child index with ttc_rng_split (the roots of group g and sample i from
 * the run seed and g / i), so a result depends only on (seed, parameters,
 * backends), never on batching or call order. */
#ifndef TTC_SEARCH_STRATEGY_H
#define TTC_SEARCH_STRATEGY_H
#include <stdbool.h>
#include <stdint.h>
#include "ttc.h"
#include "search/lm.h"
#include "search/select.h"

typedef enum ttc_search_method {
    TTC_SEARCH_MAJORITY = 0,
    TTC_SEARCH_BON,
    TTC_SEARCH_BON_WEIGHTED,
    TTC_SEARCH_BEAM,
    TTC_SEARCH_LOOKAHEAD,
    TTC_SEARCH_DVTS,
    TTC_SEARCH_REVISE,
    TTC_SEARCH_COUNT
} ttc_search_method;

/* How a revision run picks its final answer. */
typedef enum ttc_revise_select {
    TTC_REVISE_VERIFIER = 0, /* hierarchical: best-of-N weighted within each
                                chain, then across the chains' winners */
    TTC_REVISE_MAJORITY = 1, /* majority over every attempt of every chain */
} ttc_revise_select;

#define TTC_SEARCH_MAX_ROUNDS 40
#define TTC_REVISE_MAX_CONTEXT 4

typedef struct ttc_search_params {
    ttc_search_method method;
    int      n;              /* budget N in generations (>= 1) */
    int      beam_width;     /* M: beam, lookahead, dvts (1 <= M <= N) */
    int      lookahead;      /* k: lookahead steps (>= 0) */
    int      max_rounds;     /* tree searches; default TTC_SEARCH_MAX_ROUNDS */
    ttc_agg  agg;            /* step-score aggregation for bon / final votes */
    float    temperature;    /* sampling temperature (rollouts are greedy) */
    float    top_p;
    int      max_step_tokens;     /* per step in tree searches; <= 0 unlimited */
    int      max_solution_tokens; /* per full sample; <= 0 unlimited */
    bool     answer_ends;    /* a step holding a final answer (\boxed) ends the
                                solution without waiting for EOS */
    uint64_t seed;
    /* revise */
    int      revise_len;     /* attempts per chain (sequential); chains = ceil(N / len) */
    int      revise_context; /* previous attempts shown; default/max TTC_REVISE_MAX_CONTEXT
                              * (ttc_policy_solve: < 0 = the policy's) */
    ttc_revise_select revise_select;
    float    revise_temperature; /* attempts 2.. of a chain; < 0: temperature */
} ttc_search_params;

/* Defaults for method: M = min(4, N), k = 0 (lookahead: 2), 40 rounds, agg last,
 * temperature 0.8, top_p 1, answer_ends, seed 0, revise_len = N (one
 * sequential chain), revise_context 4, verifier selection, revise_temperature
 * -1 (the revisions sample at temperature). */
void ttc_search_params_default(ttc_search_params *p, ttc_search_method method, int n);

/* "majority", "bon", "bon-weighted", "beam", "lookahead", "dvts", "revise". */
const char *ttc_search_method_name(ttc_search_method m);
/* Name -> method; TTC_EINVAL listing the names otherwise. */
int ttc_search_method_parse(const char *name, ttc_search_method *out, ttc_err *e);
/* True if the method needs a verifier (all but majority and revise+majority). */
bool ttc_search_needs_verifier(const ttc_search_params *p);
/* Checks ranges and combinations (N, M divides N for dvts, ...); errors
 * name the field. */
int ttc_search_params_check(const ttc_search_params *p, ttc_err *e);

/* What a run cost. generations: see the file comment; everything else is
 * counted. */
typedef struct ttc_budget {
    double  generations;
    int64_t full_samples;     /* full solutions sampled (bon, majority, revise) */
    int64_t step_samples;     /* steps sampled in tree searches (not rollouts) */
    int64_t rollout_steps;    /* greedy lookahead steps */
    int64_t rounds;           /* tree-search rounds run */
    int64_t tokens_generated; /* generator: sampled tokens */
    int64_t tokens_prefill;   /* generator: prompt/context tokens processed */
    int64_t tokens_scored;    /* verifier: every token it processed */
    int64_t gen_calls, verifier_calls;
    double  flops_generator, flops_verifier;
    double  wall_seconds;
} ttc_budget;

/* One sampled solution. */
typedef struct ttc_candidate {
    char   *text;        /* the solution (steps concatenated) */
    char   *answer;      /* extracted final answer, "" if none */
    char   *key;         /* canonical key of the answer for grouping, "" if none */
    float   score;       /* aggregated verifier score (NAN: not scored) */
    float  *step_scores; /* n_steps per-step scores (PRM), may be NULL */
    int     n_steps;
    int     n_tokens;    /* tokens the generator sampled on this solution's path */
    int     group;       /* dvts subtree / revision chain; 0 otherwise */
    int     index;       /* sample index / attempt within the chain */
    bool    finished;    /* ended by EOS / answer rather than a round or length cap */
} ttc_candidate;

typedef struct ttc_search_result {
    char          *answer;    /* the final answer ("" if none was found) */
    char          *solution;  /* text of the chosen candidate */
    int            chosen;    /* index into cands, -1 if none */
    ttc_candidate *cands;
    int            n_cands;
    ttc_budget     budget;
    ttc_search_params params; /* as run */
} ttc_search_result;

/* Runs the strategy p on problem. gen samples the solutions (for revise:
 * the revision model); ver scores them (may be NULL when
 * !ttc_search_needs_verifier(p); majority never calls it, so its budget
 * holds no verifier work). Prompts are ttc_prompt_solve(problem) and
 * ttc_prompt_revise(problem, attempts, n). Fills *out (caller frees with
 * ttc_search_result_free); on error *out is empty. Every node it makes is
 * released before it returns. */
int ttc_search_run(const ttc_search_params *p, ttc_generator *gen, ttc_verifier *ver,
                   const char *problem, ttc_search_result *out, ttc_err *e);

void ttc_search_result_free(ttc_search_result *r);

/* Writes the result as one JSON object (answer, solution, budget, and
 * with_cands: every candidate's answer, score, step scores, text) to a fresh
 * malloc'd string. */
int ttc_search_result_json(const ttc_search_result *r, bool with_cands, char **out, ttc_err *e);
#endif
