/* The compute-optimal scaling experiment (Snell et al. 2024, sections 5-7).
 *
 * A run has two halves that share one file of per-problem records:
 *
 *   ttc_exp_run      samples and searches on each problem and appends one
 *                    JSON line per (problem, phase) to records.jsonl as soon
 *                    as it is done. A killed run resumes: phases already on
 *                    file are skipped, a torn last line is dropped, nothing
 *                    is counted twice.
 *   ttc_exp_analyze  reads records.jsonl (and meta.json), fills the accuracy
 *                    matrix (analysis.h), and writes summary.json, CSV
 *                    tables, one SVG per figure of the paper, report.html
 *                    and policy.json (the compute-optimal policy for serving).
 *
 * Phases per problem and how they are reused across budgets (the paper's
 * protocol): "samples" draws S full solutions once, scored by the PRM;
 * best-of-N, weighted best-of-N and majority at every N <= S are estimated
 * from random N-subsets of them, and so are both difficulty measures
 * (oracle: fraction correct; predicted: mean PRM final score). Tree searches
 * ("search", one line per method and budget) cannot be subsampled and run
 * once per budget. "revisions" draws P chains of L sequential revisions each,
 * scored by the ORM; every (chains, length) split of a budget up to P x L is
 * estimated from subsets and prefixes of them. "large" is the larger
 * generator at greedy decoding, for the FLOPs-matched comparison. */
#ifndef TTC_OPTIMAL_EXPERIMENT_H
#define TTC_OPTIMAL_EXPERIMENT_H
#include <stdbool.h>
#include <stdint.h>
#include "ttc.h"
#include "optimal/analysis.h"
#include "search/lm.h"

/* Tree-search methods of the sweep, in record/method order. */
enum {
    TTC_EXP_BEAM_SQRT = 0, /* beam search, M = sqrt(N) (rounded down to a power of 2) */
    TTC_EXP_BEAM_M4,       /* beam search, M = 4 */
    TTC_EXP_LOOKAHEAD_K1,  /* lookahead k = 1, M = 4, N = budget / 2 */
    TTC_EXP_LOOKAHEAD_K3,  /* lookahead k = 3, M = 4, N = budget / 4 */
    TTC_EXP_DVTS,          /* DVTS, M = 4 */
    TTC_EXP_N_SEARCH
};

/* Name of tree-search method i ("beam_sqrt", ...). */
const char *ttc_exp_search_name(int i);

typedef struct ttc_exp_config {
    const char *data;          /* benchmark JSONL (MATH-500 fields) */
    const char *out_dir;       /* records.jsonl, meta.json, report files */
    int      limit;            /* first `limit` problems (after the level filter); 0 = all */
    unsigned level_mask;       /* bit L-1 keeps level L; 0 = all */
    int      budgets[TTC_EXP_MAX_BUDGETS];
    int      n_budgets;
    int      samples;          /* S parallel samples per problem (>= largest budget) */
    unsigned search_mask;      /* bit i runs tree-search method i */
    int      revise_chains;    /* P; 0 = no revisions */
    int      revise_len;       /* L */
    float    temperature;
    float    revise_temperature; /* revision attempts 2..; < 0: temperature (presets: 0) */
    int      revise_context;   /* earlier attempts a revision reads, 1..4 (presets: 4) */
    int      max_solution_tokens;
    uint64_t seed;
    int      shard, n_shards;  /* run problems with index % n_shards == shard */
    /* progress callback (may be NULL): done/total work units, a label */
    void   (*progress)(void *ud, const char *label, double done, double total);
    void    *progress_ud;
    volatile int *cancel;      /* nonzero stops after the current phase */
} ttc_exp_config;

/* Sets the "demo" or "paper" preset (or "tiny" for tests); TTC_EINVAL
 * naming the presets otherwise. Leaves data/out_dir untouched. */
int ttc_exp_preset(ttc_exp_config *c, const char *name, ttc_err *e);

/* The models of a run. gen and prm are required; rev+orm enable revisions;
 * large enables the FLOPs-matched comparison. train_tokens are the
 * pre-training tokens of gen and large (0 = unknown). */
typedef struct ttc_exp_models {
    ttc_generator *gen, *rev, *large;
    ttc_verifier  *prm, *orm;
    double gen_train_tokens, large_train_tokens;
    const char *fingerprint;   /* identifies the model files (e.g. their hashes);
                                  NULL: not recorded */
} ttc_exp_models;

/* Runs (or resumes) the sweep, appending to out_dir/records.jsonl. A resume
 * whose settings or models differ from those in out_dir/meta.json (budgets,
 * samples, data, seed, temperatures, revision chains, model names and
 * sizes, fingerprint) is refused with TTC_EINVAL naming the field: its
 * records would mix two experiments. */
int ttc_exp_run(const ttc_exp_config *c, const ttc_exp_models *m, ttc_err *e);

/* Headline numbers of an analysis, for the terminal. */
typedef struct ttc_exp_headline {
    int    n_problems, n_budgets, budgets[TTC_EXP_MAX_BUDGETS];
    float  bon_weighted[TTC_EXP_MAX_BUDGETS], majority[TTC_EXP_MAX_BUDGETS];
    float  beam_sqrt[TTC_EXP_MAX_BUDGETS], co_oracle[TTC_EXP_MAX_BUDGETS],
           co_predicted[TTC_EXP_MAX_BUDGETS];
    double eff_oracle, eff_predicted;    /* NAN if undefined */
    /* per budget: lower bound on the ratio where best-of-N never reaches
     * compute-optimal within the largest budget (NAN elsewhere) */
    double low_oracle[TTC_EXP_MAX_BUDGETS], low_predicted[TTC_EXP_MAX_BUDGETS];
    int    eff_oracle_at, eff_predicted_at; /* budget where the max ratio is reached */
    double eff_predicted_one_se;         /* the same with the one-SE choice rule */
    /* eff_predicted over `splits` other random fold assignments: median,
     * range, how many reach 4x; and the one-SE rule's median */
    int    splits, split_at4;
    double split_median, split_min, split_max, split_median_one_se;
} ttc_exp_headline;

/* Reads out_dir/records.jsonl (several files may be given to merge shards:
 * paths[0..n_paths), NULL = out_dir/records.jsonl) and writes the report
 * into out_dir. Fills *h if not NULL. */
int ttc_exp_analyze(const char *out_dir, const char *const *paths, int n_paths, uint64_t seed,
                    ttc_exp_headline *h, ttc_err *e);
#endif
