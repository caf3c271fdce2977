/* Analysis of a compute-optimal scaling experiment (Snell et al. 2024).
 *
 * Everything here works on one matrix: acc[p][m][b], the expected accuracy
 * (in [0, 1], NAN = not run) of method m on problem p at generation budget
 * budgets[b]. How the matrix was filled (parallel samples subsampled for the
 * best-of-N family, direct runs for beam search, revision chains) is the
 * experiment runner's business; difficulty bins, the compute-optimal policy
 * with two-fold cross-validation, and the efficiency ratio against best-of-N
 * only need the matrix and two difficulty scores per problem. */
#ifndef TTC_OPTIMAL_ANALYSIS_H
#define TTC_OPTIMAL_ANALYSIS_H
#include <stdbool.h>
#include <stdint.h>
#include "ttc.h"

#define TTC_EXP_MAX_METHODS 64
#define TTC_EXP_MAX_BUDGETS 16
#define TTC_EXP_BINS 5

typedef struct ttc_exp_matrix {
    int    n_problems, n_methods, n_budgets;
    int    budgets[TTC_EXP_MAX_BUDGETS];          /* ascending, e.g. 1 2 4 ... */
    char   methods[TTC_EXP_MAX_METHODS][48];      /* names, e.g. "bon_weighted" */
    float *acc;                                   /* [p][m][b] */
    float *oracle;     /* [p] generator pass@1 from S samples (higher = easier) */
    float *predicted;  /* [p] mean verifier final score over S samples */
    int   *level;      /* [p] benchmark level (0 if none) */
} ttc_exp_matrix;

/* Allocates a matrix with every accuracy NAN. Method names and budgets are
 * copied. TTC_EINVAL on sizes out of range, TTC_ENOMEM. */
int  ttc_exp_matrix_init(ttc_exp_matrix *x, int n_problems, const char *const *methods,
                         int n_methods, const int *budgets, int n_budgets, ttc_err *e);
void ttc_exp_matrix_free(ttc_exp_matrix *x);
/* Pointer to acc[p][m][b]. */
static inline float *ttc_exp_acc(const ttc_exp_matrix *x, int p, int m, int b) {
    return &x->acc[((size_t)p * x->n_methods + m) * x->n_budgets + b];
}
/* Index of a method name, or -1. */
int  ttc_exp_method(const ttc_exp_matrix *x, const char *name);
/* Index of a budget value, or -1. */
int  ttc_exp_budget(const ttc_exp_matrix *x, int budget);

/* Quantile bins of a difficulty score: bin[p] in 0..n_bins-1, 0 = easiest
 * (highest score). Ties are broken by problem index, so the bins are as even
 * as the count allows and deterministic. */
void ttc_exp_bins(const float *score, int n, int n_bins, int *bin);

/* The score thresholds between bins: cut[k] is the lowest score still in bin
 * k (k = 0..n_bins-2), so a new problem with score s goes to the first k with
 * s >= cut[k], else the last bin. Used to turn bins into a servable policy. */
void ttc_exp_bin_cuts(const float *score, const int *bin, int n, int n_bins, float *cut);

/* Mean of acc over the problems in `which` (NULL = all) for one method and
 * budget; NAN if any of them is NAN or none are selected. */
float ttc_exp_mean(const ttc_exp_matrix *x, const bool *which, int m, int b);

/* The compute-optimal choice, cross-validated. */
typedef struct ttc_exp_optimal {
    float acc[TTC_EXP_MAX_BUDGETS];                         /* overall accuracy per budget */
    float acc_bin[TTC_EXP_BINS][TTC_EXP_MAX_BUDGETS];       /* per bin */
    /* method chosen per (fold, bin, budget); -1 = no candidate had data */
    int   choice[2][TTC_EXP_BINS][TTC_EXP_MAX_BUDGETS];
    /* method chosen on all problems (the policy that is shipped) */
    int   choice_all[TTC_EXP_BINS][TTC_EXP_MAX_BUDGETS];
} ttc_exp_optimal;

/* Compute-optimal scaling with two-fold cross-validation: problems are split
 * into two folds (fold[p] in {0,1}); for each fold f, bin k and budget b the
 * method among `candidates` with the best mean accuracy on fold f's problems
 * in bin k is chosen, and evaluated on the other fold's problems of bin k.
 * Ties go to the earlier candidate. With one_se, the best candidate replaces
 * candidates[0] (the baseline) only when its paired advantage on those
 * problems exceeds one standard error; without, the raw best is taken (the
 * paper's rule). Overall accuracy is the mean over all problems of the
 * accuracy of the method chosen on the other fold. */
void ttc_exp_optimal_run(const ttc_exp_matrix *x, const int *bin, const int *fold,
                         const int *candidates, int n_candidates, bool one_se, ttc_exp_optimal *out);

/* Two folds from a seeded shuffle, balanced within each bin. */
void ttc_exp_folds(const int *bin, int n, uint64_t seed, int *fold);

/* The generation budget best-of-N (curve base_acc over budgets) needs to
 * reach `target`, interpolating linearly in log2(budget) between grid
 * points. Returns the budget, or -1 if the curve never reaches target
 * (then the ratio is only bounded below by max budget / b). */
double ttc_exp_budget_to_match(const int *budgets, const float *base_acc, int n_budgets,
                               float target);

/* Efficiency of curve `acc` against `base`: ratio[b] = budget_to_match(base,
 * acc[b]) / budgets[b] (NAN where base never reaches it; lower[b] then holds
 * the lower bound max_budget / budgets[b]). Returns the largest defined ratio
 * (NAN if none). */
double ttc_exp_efficiency(const int *budgets, const float *base, const float *acc,
                          int n_budgets, double *ratio, double *lower);
#endif
