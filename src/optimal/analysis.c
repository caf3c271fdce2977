/* Compute-optimal analysis over the accuracy matrix: see analysis.h. */
#include "optimal/analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

int ttc_exp_matrix_init(ttc_exp_matrix *x, int n_problems, const char *const *methods,
                        int n_methods, const int *budgets, int n_budgets, ttc_err *e) {
    memset(x, 0, sizeof *x);
    if (n_problems < 1 || n_methods < 1 || n_methods > TTC_EXP_MAX_METHODS ||
        n_budgets < 1 || n_budgets > TTC_EXP_MAX_BUDGETS)
        return ttc_err_set(e, TTC_EINVAL,
                           "experiment matrix: %d problems, %d methods (max %d), %d budgets (max %d)",
                           n_problems, n_methods, TTC_EXP_MAX_METHODS, n_budgets, TTC_EXP_MAX_BUDGETS);
    for (int b = 0; b < n_budgets; b++)
        if (budgets[b] < 1 || (b && budgets[b] <= budgets[b - 1]))
            return ttc_err_set(e, TTC_EINVAL, "experiment matrix: budgets must be positive and ascending (budget %d = %d)",
                               b, budgets[b]);
    x->n_problems = n_problems;
    x->n_methods = n_methods;
    x->n_budgets = n_budgets;
    memcpy(x->budgets, budgets, sizeof(int) * n_budgets);
    for (int m = 0; m < n_methods; m++) {
        size_t l = strlen(methods[m]);
        if (l == 0 || l >= sizeof x->methods[0])
            return ttc_err_set(e, TTC_EINVAL, "experiment matrix: method name %d has length %zu", m, l);
        memcpy(x->methods[m], methods[m], l + 1);
    }
    size_t cells = (size_t)n_problems * n_methods * n_budgets;
    x->acc = malloc(cells * sizeof(float));
    x->oracle = calloc(n_problems, sizeof(float));
    x->predicted = calloc(n_problems, sizeof(float));
    x->level = calloc(n_problems, sizeof(int));
    if (!x->acc || !x->oracle || !x->predicted || !x->level) {
        ttc_exp_matrix_free(x);
        return ttc_err_set(e, TTC_ENOMEM, "experiment matrix: out of memory for %zu cells", cells);
    }
    for (size_t i = 0; i < cells; i++) x->acc[i] = NAN;
    return TTC_OK;
}

void ttc_exp_matrix_free(ttc_exp_matrix *x) {
    free(x->acc);
    free(x->oracle);
    free(x->predicted);
    free(x->level);
    memset(x, 0, sizeof *x);
}

int ttc_exp_method(const ttc_exp_matrix *x, const char *name) {
    for (int m = 0; m < x->n_methods; m++)
        if (!strcmp(x->methods[m], name)) return m;
    return -1;
}

int ttc_exp_budget(const ttc_exp_matrix *x, int budget) {
    for (int b = 0; b < x->n_budgets; b++)
        if (x->budgets[b] == budget) return b;
    return -1;
}

typedef struct { float s; int i; } scored;

static int by_score_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i - y->i;
}

/* Problem indices sorted by descending score (ties by index); caller frees. */
static scored *sort_desc(const float *score, int n) {
    scored *v = malloc(sizeof *v * (n > 0 ? n : 1));
    if (!v) return NULL;
    for (int i = 0; i < n; i++) v[i] = (scored){isnan(score[i]) ? -INFINITY : score[i], i};
    qsort(v, n, sizeof *v, by_score_desc);
    return v;
}

void ttc_exp_bins(const float *score, int n, int n_bins, int *bin) {
    scored *v = sort_desc(score, n);
    if (!v) { for (int i = 0; i < n; i++) bin[i] = 0; return; }
    for (int r = 0; r < n; r++) bin[v[r].i] = (int)((int64_t)r * n_bins / n);
    free(v);
}

void ttc_exp_bin_cuts(const float *score, const int *bin, int n, int n_bins, float *cut) {
    for (int k = 0; k + 1 < n_bins; k++) {
        float lo = INFINITY;
        for (int p = 0; p < n; p++)
            if (bin[p] == k && score[p] < lo) lo = score[p];
        cut[k] = lo;
    }
}

float ttc_exp_mean(const ttc_exp_matrix *x, const bool *which, int m, int b) {
    double sum = 0;
    int n = 0;
    for (int p = 0; p < x->n_problems; p++) {
        if (which && !which[p]) continue;
        float a = *ttc_exp_acc(x, p, m, b);
        if (isnan(a)) return NAN;
        sum += a;
        n++;
    }
    return n ? (float)(sum / n) : NAN;
}

/* Best candidate on the problems of `which`; -1 if none has data there.
 * cand[0] is the baseline (best-of-N weighted, or parallel revisions): the
 * highest-scoring candidate replaces it only when its paired advantage over
 * the baseline on these problems exceeds one standard error (the
 * one-standard-error rule of model selection). A bin of one fold holds a
 * few dozen problems, and the raw maximum over a dozen configurations
 * mostly picks noise that the other fold then pays for. */
static int best_method(const ttc_exp_matrix *x, const bool *which, int b,
                       const int *cand, int n_cand, bool one_se) {
    int best = -1;
    float best_acc = -1;
    for (int c = 0; c < n_cand; c++) {
        float a = ttc_exp_mean(x, which, cand[c], b);
        if (!isnan(a) && a > best_acc) { best_acc = a; best = cand[c]; }
    }
    if (!one_se || best < 0 || best == cand[0] || isnan(ttc_exp_mean(x, which, cand[0], b))) return best;
    double s = 0, s2 = 0;
    int n = 0;
    for (int p = 0; p < x->n_problems; p++) {
        if (which && !which[p]) continue;
        double d = *ttc_exp_acc(x, p, best, b) - *ttc_exp_acc(x, p, cand[0], b);
        s += d; s2 += d * d; n++;
    }
    double mean = s / n, var = n > 1 ? (s2 - n * mean * mean) / (n - 1) : 0;
    return mean > sqrt(var > 0 ? var : 0) / sqrt((double)n) ? best : cand[0];
}

void ttc_exp_optimal_run(const ttc_exp_matrix *x, const int *bin, const int *fold,
                         const int *candidates, int n_candidates, bool one_se, ttc_exp_optimal *out) {
    int n = x->n_problems;
    bool *sel = malloc(sizeof(bool) * n);
    for (int k = 0; k < TTC_EXP_BINS; k++)
        for (int b = 0; b < TTC_EXP_MAX_BUDGETS; b++) {
            out->acc_bin[k][b] = NAN;
            out->choice[0][k][b] = out->choice[1][k][b] = out->choice_all[k][b] = -1;
        }
    for (int b = 0; b < TTC_EXP_MAX_BUDGETS; b++) out->acc[b] = NAN;
    if (!sel) return;
    for (int b = 0; b < x->n_budgets; b++) {
        for (int k = 0; k < TTC_EXP_BINS; k++) {
            for (int f = 0; f < 2; f++) {
                for (int p = 0; p < n; p++) sel[p] = bin[p] == k && fold[p] == f;
                out->choice[f][k][b] = best_method(x, sel, b, candidates, n_candidates, one_se);
            }
            for (int p = 0; p < n; p++) sel[p] = bin[p] == k;
            out->choice_all[k][b] = best_method(x, sel, b, candidates, n_candidates, one_se);
        }
        /* Evaluate each problem with the choice made on the other fold. */
        double sum = 0, sum_bin[TTC_EXP_BINS] = {0};
        int cnt = 0, cnt_bin[TTC_EXP_BINS] = {0};
        bool ok = true;
        for (int p = 0; p < n && ok; p++) {
            int k = bin[p], m = out->choice[1 - fold[p]][k][b];
            if (m < 0) m = out->choice[fold[p]][k][b]; /* other fold empty in this bin */
            float a = m >= 0 ? *ttc_exp_acc(x, p, m, b) : NAN;
            if (isnan(a)) { ok = false; break; }
            sum += a; cnt++;
            sum_bin[k] += a; cnt_bin[k]++;
        }
        if (ok && cnt) {
            out->acc[b] = (float)(sum / cnt);
            for (int k = 0; k < TTC_EXP_BINS; k++)
                if (cnt_bin[k]) out->acc_bin[k][b] = (float)(sum_bin[k] / cnt_bin[k]);
        }
    }
    free(sel);
}

void ttc_exp_folds(const int *bin, int n, uint64_t seed, int *fold) {
    /* Within each bin, shuffle the members and alternate folds. */
    int *idx = malloc(sizeof(int) * (n > 0 ? n : 1));
    ttc_rng r;
    ttc_rng_seed(&r, seed);
    if (!idx) { for (int p = 0; p < n; p++) fold[p] = p & 1; return; }
    for (int k = 0; k < TTC_EXP_BINS; k++) {
        int m = 0;
        for (int p = 0; p < n; p++)
            if (bin[p] == k) idx[m++] = p;
        for (int i = m - 1; i > 0; i--) {
            int j = (int)ttc_rng_below(&r, (uint64_t)i + 1), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        for (int i = 0; i < m; i++) fold[idx[i]] = i & 1;
    }
    free(idx);
}

double ttc_exp_budget_to_match(const int *budgets, const float *base_acc, int n_budgets,
                               float target) {
    for (int b = 0; b < n_budgets; b++) {
        if (isnan(base_acc[b])) continue;
        if (base_acc[b] >= target) {
            if (b == 0 || isnan(base_acc[b - 1])) return budgets[b];
            double a0 = base_acc[b - 1], a1 = base_acc[b];
            double l0 = log2(budgets[b - 1]), l1 = log2(budgets[b]);
            double t = a1 > a0 ? (target - a0) / (a1 - a0) : 1.0;
            return exp2(l0 + t * (l1 - l0));
        }
    }
    return -1;
}

double ttc_exp_efficiency(const int *budgets, const float *base, const float *acc,
                          int n_budgets, double *ratio, double *lower) {
    double best = NAN;
    int maxb = budgets[n_budgets - 1];
    for (int b = 0; b < n_budgets; b++) {
        ratio[b] = NAN;
        lower[b] = NAN;
        if (isnan(acc[b])) continue;
        double need = ttc_exp_budget_to_match(budgets, base, n_budgets, acc[b]);
        if (need < 0) {
            lower[b] = (double)maxb / budgets[b];
            continue;
        }
        ratio[b] = need / budgets[b];
        if (isnan(best) || ratio[b] > best) best = ratio[b];
    }
    return best;
}
