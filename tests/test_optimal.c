/* Compute-optimal analysis: bins, cross-validated choice, efficiency. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "optimal/analysis.h"

Test(optimal, bins_are_quantiles_easiest_first) {
    float s[10] = {0.9f, 0.1f, 0.5f, 0.5f, 0.3f, 0.7f, 0.0f, 1.0f, 0.2f, 0.6f};
    int bin[10];
    ttc_exp_bins(s, 10, 5, bin);
    /* sorted desc: 7(1.0) 0(.9) 5(.7) 9(.6) 2(.5) 3(.5) 4(.3) 8(.2) 1(.1) 6(0) */
    int want[10] = {0, 4, 2, 2, 3, 1, 4, 0, 3, 1};
    for (int i = 0; i < 10; i++) cr_assert_eq(bin[i], want[i], "problem %d: bin %d want %d", i, bin[i], want[i]);
    float cut[4];
    ttc_exp_bin_cuts(s, bin, 10, 5, cut);
    cr_assert_float_eq(cut[0], 0.9f, 1e-6);
    cr_assert_float_eq(cut[1], 0.6f, 1e-6);
    cr_assert_float_eq(cut[2], 0.5f, 1e-6);
    cr_assert_float_eq(cut[3], 0.2f, 1e-6);
}

Test(optimal, folds_balanced_per_bin) {
    int bin[20], fold[20];
    for (int i = 0; i < 20; i++) bin[i] = i % 5;
    ttc_exp_folds(bin, 20, 1, fold);
    for (int k = 0; k < 5; k++) {
        int n0 = 0;
        for (int i = 0; i < 20; i++) if (bin[i] == k && fold[i] == 0) n0++;
        cr_assert_eq(n0, 2);
    }
}

/* Two methods: "a" is perfect on easy problems and useless on hard ones,
 * "b" the reverse. Compute-optimal must pick per bin and beat both. */
Test(optimal, picks_best_method_per_bin_with_cross_validation) {
    const char *methods[] = {"a", "b"};
    int budgets[] = {1, 2, 4};
    ttc_exp_matrix x;
    ttc_err e = {0};
    cr_assert_eq(ttc_exp_matrix_init(&x, 40, methods, 2, budgets, 3, &e), TTC_OK, "%s", e.msg);
    int bin[40], fold[40];
    for (int p = 0; p < 40; p++) {
        x.oracle[p] = 1.0f - p / 40.0f; /* p < 16: bins 0,1 */
        for (int b = 0; b < 3; b++) {
            *ttc_exp_acc(&x, p, 0, b) = p < 16 ? 1.0f : 0.0f;
            *ttc_exp_acc(&x, p, 1, b) = p < 16 ? 0.25f : 0.5f;
        }
    }
    ttc_exp_bins(x.oracle, 40, 5, bin);
    ttc_exp_folds(bin, 40, 7, fold);
    int cand[2] = {0, 1};
    ttc_exp_optimal out;
    ttc_exp_optimal_run(&x, bin, fold, cand, 2, true, &out);
    for (int b = 0; b < 3; b++) {
        /* 16 problems at 1.0, 24 at 0.5 */
        cr_assert_float_eq(out.acc[b], (16 * 1.0f + 24 * 0.5f) / 40, 1e-5);
        cr_assert_eq(out.choice_all[0][b], 0);
        cr_assert_eq(out.choice_all[4][b], 1);
        cr_assert_float_eq(out.acc_bin[0][b], 1.0f, 1e-6);
        cr_assert_float_eq(out.acc_bin[4][b], 0.5f, 1e-6);
    }
    cr_assert_float_eq(ttc_exp_mean(&x, NULL, 0, 0), 0.4f, 1e-6);
    *ttc_exp_acc(&x, 3, 1, 2) = NAN;
    cr_assert(isnan(ttc_exp_mean(&x, NULL, 1, 2)));
    ttc_exp_matrix_free(&x);
}

/* The one-standard-error rule: a candidate replaces the baseline (the first
 * candidate) only when its paired advantage exceeds one standard error. */
Test(optimal, baseline_kept_unless_advantage_beats_its_standard_error) {
    const char *methods[] = {"base", "lucky", "steady"};
    int budgets[] = {1, 2};
    ttc_exp_matrix x;
    cr_assert_eq(ttc_exp_matrix_init(&x, 20, methods, 3, budgets, 2, NULL), TTC_OK);
    int bin[20], fold[20];
    for (int p = 0; p < 20; p++) {
        bin[p] = 0;
        fold[p] = p & 1;
        for (int b = 0; b < 2; b++) *ttc_exp_acc(&x, p, 0, b) = 0.5f;
        /* budget 1: "lucky" gains 1 on two problems and loses 1 on one (on
         * all 20: mean +0.05, one standard error 0.088; on its fold: +0.1,
         * SE 0.18): not enough; "steady" is worse */
        *ttc_exp_acc(&x, p, 1, 0) = p == 0 || p == 2 ? 1.5f : p == 4 ? -0.5f : 0.5f;
        *ttc_exp_acc(&x, p, 2, 0) = 0.4f;
        /* budget 2: "steady" gains 0.05 on every problem: a real gain */
        *ttc_exp_acc(&x, p, 1, 1) = 0.5f;
        *ttc_exp_acc(&x, p, 2, 1) = 0.55f;
    }
    int cand[3] = {0, 1, 2};
    ttc_exp_optimal out;
    ttc_exp_optimal_run(&x, bin, fold, cand, 3, true, &out);
    cr_assert_eq(out.choice_all[0][0], 0, "a one-problem gain is noise");
    cr_assert_eq(out.choice[0][0][0], 0);
    cr_assert_eq(out.choice_all[0][1], 2, "a consistent gain wins");
    cr_assert_float_eq(out.acc[1], 0.55f, 1e-6);
    /* the paper's rule takes the raw best */
    ttc_exp_optimal_run(&x, bin, fold, cand, 3, false, &out);
    cr_assert_eq(out.choice_all[0][0], 1);
    ttc_exp_matrix_free(&x);
}

/* The chosen method must come from the other fold: a method that looks best
 * only on fold 0's problems of a bin is not rewarded on fold 0. */
Test(optimal, evaluation_uses_other_fold) {
    const char *methods[] = {"a", "b"};
    int budgets[] = {1};
    ttc_exp_matrix x;
    cr_assert_eq(ttc_exp_matrix_init(&x, 10, methods, 2, budgets, 1, NULL), TTC_OK);
    int bin[10], fold[10];
    for (int p = 0; p < 10; p++) {
        bin[p] = 0;
        fold[p] = p & 1;
        *ttc_exp_acc(&x, p, 0, 0) = fold[p] == 0 ? 1.0f : 0.0f; /* a: good on fold 0 */
        *ttc_exp_acc(&x, p, 1, 0) = fold[p] == 1 ? 0.8f : 0.2f; /* b: good on fold 1 */
    }
    int cand[2] = {0, 1};
    ttc_exp_optimal out;
    ttc_exp_optimal_run(&x, bin, fold, cand, 2, true, &out);
    cr_assert_eq(out.choice[0][0][0], 0);
    cr_assert_eq(out.choice[1][0][0], 1);
    /* fold-0 problems use b (0.2), fold-1 problems use a (0.0) */
    cr_assert_float_eq(out.acc[0], (5 * 0.2f + 5 * 0.0f) / 10, 1e-6);
    ttc_exp_matrix_free(&x);
}

Test(optimal, budget_to_match_interpolates_in_log2) {
    int budgets[] = {1, 2, 4, 8};
    float base[] = {0.2f, 0.4f, 0.5f, 0.6f};
    cr_assert_float_eq(ttc_exp_budget_to_match(budgets, base, 4, 0.1f), 1.0, 1e-9);
    cr_assert_float_eq(ttc_exp_budget_to_match(budgets, base, 4, 0.4f), 2.0, 1e-9);
    cr_assert_float_eq(ttc_exp_budget_to_match(budgets, base, 4, 0.45f), exp2(1.5), 1e-6);
    cr_assert_eq(ttc_exp_budget_to_match(budgets, base, 4, 0.7f), -1.0);
    float co[] = {0.4f, 0.55f, 0.7f, NAN};
    double ratio[4], lower[4];
    double best = ttc_exp_efficiency(budgets, base, co, 4, ratio, lower);
    cr_assert_float_eq(ratio[0], 2.0, 1e-9);
    cr_assert_float_eq(ratio[1], exp2(2.5) / 2, 1e-6);
    cr_assert(isnan(ratio[2]));
    cr_assert_float_eq(lower[2], 2.0, 1e-9);
    cr_assert_float_eq(best, exp2(2.5) / 2, 1e-6);
}

Test(optimal, init_rejects_bad_sizes) {
    const char *methods[] = {"a"};
    int bad[] = {2, 1};
    ttc_exp_matrix x;
    ttc_err e = {0};
    cr_assert_eq(ttc_exp_matrix_init(&x, 5, methods, 1, bad, 2, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "ascending") != NULL);
    cr_assert_eq(ttc_exp_matrix_init(&x, 0, methods, 1, bad, 1, &e), TTC_EINVAL);
}

#include "optimal/svg.h"

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

Test(optimal, svg_chart_gaps_legend_and_escaping) {
    double x[] = {1, 2, 4, 8};
    float a[] = {0.1f, 0.2f, NAN, 0.4f}, b[] = {0.3f, 0.3f, 0.35f, 0.5f};
    ttc_svg_series s[] = {{"bon <weighted>", a, false}, {"beam", b, true}};
    ttc_svg_chart c = {"Accuracy & budget", "budget", "accuracy", x, 4, true, 0, 1, s, 2};
    ttc_buf o = {0};
    ttc_svg_line_chart(&o, &c);
    cr_assert(!o.oom);
    cr_assert(strncmp(o.data, "<svg ", 5) == 0);
    cr_assert(strstr(o.data, "</svg>\n") != NULL);
    cr_assert_eq(count(o.data, "<polyline"), 3, "NAN splits series a into two lines");
    cr_assert_eq(count(o.data, "<circle"), 7);
    cr_assert(strstr(o.data, "bon &lt;weighted&gt;") != NULL);
    cr_assert(strstr(o.data, "Accuracy &amp; budget") != NULL);
    cr_assert(strstr(o.data, ">8</text>") != NULL, "log2 axis labels each budget");
    /* x positions are evenly spaced on the log2 axis */
    cr_assert(strstr(o.data, "cy=\"") != NULL);
    ttc_buf_free(&o);
}
