/* Experiment analysis from hand-written records: matrix fill, summary.json
 * shape, files, torn-line tolerance. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "optimal/experiment.h"
#include "testutil.h"

static void put(FILE *f, const char *s) { fputs(s, f); fputc('\n', f); }

/* 10 problems: even ones easy (all samples right), odd ones hard (one right
 * sample of 4, with the highest score); beam_sqrt always right at budget 4. */
static const char *make_run(bool torn) {
    const char *d = tu_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/meta.json", d);
    FILE *f = fopen(path, "w");
    fputs("{\"budgets\": [1, 2, 4], \"gen_params\": 1000, \"large_params\": 8000, \"gen_train_tokens\": 1e6}", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/records.jsonl", d);
    f = fopen(path, "w");
    for (int p = 0; p < 10; p++) {
        char line[1024];
        if (p % 2 == 0)
            snprintf(line, sizeof line, "{\"uid\":\"p%d\",\"level\":1,\"phase\":\"samples\",\"n\":4,"
                     "\"keys\":[\"7\",\"7\",\"7\",\"7\"],\"correct\":[1,1,1,1],\"scores\":[0.9,0.8,0.9,0.7],"
                     "\"cost\":{\"generations\":4,\"flops_generator\":400,\"flops_verifier\":100,\"tokens_generated\":40}}", p);
        else
            snprintf(line, sizeof line, "{\"uid\":\"p%d\",\"level\":5,\"phase\":\"samples\",\"n\":4,"
                     "\"keys\":[\"1\",\"2\",\"2\",\"\"],\"correct\":[1,0,0,0],\"scores\":[0.9,0.2,0.3,0.1],"
                     "\"cost\":{\"generations\":4,\"flops_generator\":400,\"flops_verifier\":100,\"tokens_generated\":40}}", p);
        put(f, line);
        snprintf(line, sizeof line, "{\"uid\":\"p%d\",\"phase\":\"search\",\"method\":\"beam_sqrt\",\"budget\":4,\"correct\":true}", p);
        put(f, line);
        snprintf(line, sizeof line, "{\"uid\":\"p%d\",\"phase\":\"large\",\"correct\":%s,\"cost\":{\"flops_generator\":800,\"tokens_generated\":10}}",
                 p, p % 2 ? "false" : "true");
        put(f, line);
    }
    if (torn) fputs("{\"uid\":\"p99\",\"phase\":\"samp", f);
    fclose(f);
    return d;
}

static json_t *load_summary(const char *d) {
    char path[512];
    snprintf(path, sizeof path, "%s/summary.json", d);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert_not_null(j);
    return j;
}

static double acc(json_t *s, const char *method, int b) {
    json_t *v = json_array_get(json_object_get(json_object_get(s, "methods"), method), b);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

Test(experiment, analyze_fills_methods_and_writes_report) {
    const char *d = make_run(true);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", d);
    ttc_err e = {0};
    ttc_exp_headline h;
    cr_assert_eq(ttc_exp_analyze(dir, NULL, 0, 1, &h, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(h.n_problems, 10, "the torn line is ignored");
    json_t *s = load_summary(dir);
    /* easy: always right. hard: majority picks "2" (2 votes) -> wrong at N=4;
     * weighted: "1" 0.9 vs "2" 0.5 -> right at N=4. */
    cr_assert_float_eq(acc(s, "majority", 2), 0.5, 1e-6);
    cr_assert_float_eq(acc(s, "bon_weighted", 2), 1.0, 1e-6);
    cr_assert_float_eq(acc(s, "bon", 2), 1.0, 1e-6);
    /* N=1: a random single sample; hard problems right 1/4 of the time. */
    double a1 = acc(s, "bon_weighted", 0);
    cr_assert(a1 > 0.5 + 0.5 * 0.1 && a1 < 0.5 + 0.5 * 0.45, "N=1 accuracy %f", a1);
    cr_assert_float_eq(acc(s, "beam_sqrt", 2), 1.0, 1e-6);
    cr_assert(isnan(acc(s, "beam_sqrt", 0)), "no record at budget 1 -> null");
    json_t *eff = json_object_get(s, "efficiency_vs_bon");
    cr_assert(json_object_get(eff, "oracle") && json_object_get(eff, "predicted"));
    cr_assert_eq(json_array_size(json_object_get(s, "budgets")), 3);
    cr_assert(json_array_size(json_object_get(s, "findings")) >= 1);
    cr_assert_not_null(json_object_get(json_object_get(s, "flops_matched"), "ratios"));
    const char *files[] = {"report.html", "accuracy.csv", "accuracy_by_bin.csv", "fig1_search.svg",
                           "fig2_bin1.svg", "fig4_optimal.svg", "fig5_flops.svg", "policy.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        cr_assert(tu_exists(p), "missing %s", files[i]);
    }
    /* oracle bins: the easy half is in bins 1-2, the hard half in 4-5 */
    json_t *bins = json_object_get(json_object_get(s, "bins"), "oracle");
    json_t *b1 = json_object_get(json_object_get(json_array_get(bins, 0), "methods"), "majority");
    json_t *b5 = json_object_get(json_object_get(json_array_get(bins, 4), "methods"), "majority");
    cr_assert_float_eq(json_number_value(json_array_get(b1, 2)), 1.0, 1e-6);
    cr_assert_float_eq(json_number_value(json_array_get(b5, 2)), 0.0, 1e-6);
    json_decref(s);
}

Test(experiment, analyze_reports_missing_and_malformed_records) {
    ttc_err e = {0};
    const char *d = tu_tmpdir();
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s", d);
    cr_assert_eq(ttc_exp_analyze(dir, NULL, 0, 1, NULL, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "records.jsonl") != NULL, "%s", e.msg);
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"uid\":\"a\",\"phase\":\"samples\",\"n\":2,\"keys\":[\"1\"],\"correct\":[1],\"scores\":[1]}\n", f);
    fclose(f);
    cr_assert_eq(ttc_exp_analyze(dir, NULL, 0, 1, NULL, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "records.jsonl:1") != NULL, "%s", e.msg);
    f = fopen(path, "w");
    fputs("not json\n", f);
    fclose(f);
    cr_assert_eq(ttc_exp_analyze(dir, NULL, 0, 1, NULL, &e), TTC_EFORMAT);
}
