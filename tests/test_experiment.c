/* Experiment analysis from hand-written records: matrix fill, summary.json
 * shape, files, torn-line tolerance. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "optimal/experiment.h"
#include "optimal/policy.h"
#include "serve/local.h"
#include "serve/server.h"
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
    cr_assert(json_object_get(eff, "predicted_one_se"));
    /* the split robustness: 20 other fold assignments, median inside the range */
    json_t *sp = json_object_get(eff, "predicted_over_splits");
    int n_sp = (int)json_integer_value(json_object_get(sp, "splits"));
    cr_assert_eq(n_sp, 20, "every split has an efficiency here");
    double lo = json_number_value(json_object_get(sp, "min")), hi = json_number_value(json_object_get(sp, "max"));
    double med = json_number_value(json_object_get(sp, "median"));
    cr_assert(lo > 0 && lo <= med && med <= hi, "%f %f %f", lo, med, hi);
    int at4 = (int)json_integer_value(json_object_get(sp, "at_least_4x"));
    cr_assert(at4 >= 0 && at4 <= n_sp);
    cr_assert_eq(json_array_size(json_object_get(s, "budgets")), 3);
    cr_assert(json_array_size(json_object_get(s, "findings")) >= 1);
    /* the PRM separates right from wrong within each hard problem: its one
     * right sample (0.9) beats the three wrong ones, 5 problems x 3 pairs */
    json_t *ver = json_object_get(s, "verifiers");
    cr_assert_eq(json_integer_value(json_object_get(ver, "prm_pairs")), 15);
    cr_assert_float_eq(json_number_value(json_object_get(ver, "prm_within_problem_auc")), 1.0, 1e-9);
    cr_assert(json_is_null(json_object_get(ver, "orm_within_problem_auc")), "no revision records");
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
    /* per benchmark level: level 1 holds the easy half, level 5 the hard */
    json_t *lv = json_object_get(s, "levels");
    cr_assert_eq(json_object_size(lv), 2, "levels 1 and 5 only");
    json_t *l1 = json_object_get(lv, "1"), *l5 = json_object_get(lv, "5");
    cr_assert_eq(json_integer_value(json_object_get(l1, "n_problems")), 5);
    cr_assert_float_eq(json_number_value(json_array_get(json_object_get(l1, "majority"), 2)), 1.0, 1e-6);
    cr_assert_float_eq(json_number_value(json_array_get(json_object_get(l5, "majority"), 2)), 0.0, 1e-6);
    cr_assert_float_eq(json_number_value(json_array_get(json_object_get(l5, "bon_weighted"), 2)), 1.0, 1e-6);
    cr_assert_null(json_object_get(l5, "dvts"), "methods without records are left out");
    char lp[512];
    snprintf(lp, sizeof lp, "%s/accuracy_by_level.csv", dir);
    size_t n = 0;
    char *csv = NULL;
    cr_assert_eq(ttc_read_file(lp, &csv, &n, &e), TTC_OK, "%s", e.msg);
    cr_assert(csv && strstr(csv, "5,5,majority,4,0.0000\n") && strstr(csv, "1,5,beam_sqrt,4,1.0000\n"),
              "accuracy_by_level.csv: %s", csv ? csv : "(missing)");
    free(csv);
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

/* ---- the runner, over the scripted fake generator and oracle ---------- */
#include "fake_lm.h"

static fake_tree *two_path_tree(void) {
    fake_tree *t = fake_tree_new();
    int a = fake_tree_add(t, 0, "She has 2 + 3 = 5.\n", 1.0, 0.9f, false);
    fake_tree_add(t, a, "The answer is \\boxed{5}.\n", 1.0, 0.9f, true);
    int b = fake_tree_add(t, 0, "She has 2 + 2 = 4.\n", 2.0, 0.2f, false);
    fake_tree_add(t, b, "The answer is \\boxed{4}.\n", 1.0, 0.1f, true);
    return t;
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    while (f && (ch = fgetc(f)) != EOF) n += ch == '\n';
    if (f) fclose(f);
    return n;
}

static void write_data(const char *path) {
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 4; i++)
        fprintf(f, "{\"problem\":\"Ann has 2 and gets 3. How many?\",\"answer\":\"5\",\"level\":%d,\"unique_id\":\"t/%d\"}\n",
                i % 2 + 1, i);
    fclose(f);
}

static volatile int cancel_flag;
static int progress_calls;
static void cancel_after(void *ud, const char *label, double done, double total) {
    (void)ud; (void)label; (void)total;
    progress_calls++;
    if (done >= 10) cancel_flag = 1;
}

Test(experiment, runner_resumes_without_duplicates) {
    const char *d = tu_tmpdir();
    char dir[256], data[300], rec[300];
    snprintf(dir, sizeof dir, "%s/out", d);
    snprintf(data, sizeof data, "%s/data.jsonl", d);
    snprintf(rec, sizeof rec, "%s/records.jsonl", dir);
    write_data(data);
    fake_tree *t = two_path_tree();
    fake_stats st = {0};
    ttc_generator *g = fake_generator_new(t, &st), *large = fake_generator_new(t, &st);
    ttc_verifier *prm = fake_oracle_new(t, false, &st), *orm = fake_oracle_new(t, true, &st);
    ttc_exp_models m = {.gen = g, .rev = g, .large = large, .prm = prm, .orm = orm,
                        .gen_train_tokens = 1e6, .large_train_tokens = 1e6};
    ttc_exp_config c = {0};
    ttc_err e = {0};
    cr_assert_eq(ttc_exp_preset(&c, "tiny", &e), TTC_OK);
    cr_assert_eq(ttc_exp_preset(&c, "nope", &e), TTC_EINVAL);
    c.data = data;
    c.out_dir = dir;
    c.seed = 3;
    c.revise_temperature = 0;   /* greedy revisions: recorded in meta.json and policy.json */
    /* interrupted run */
    c.progress = cancel_after;
    c.cancel = &cancel_flag;
    int rc = ttc_exp_run(&c, &m, &e);
    cr_assert_eq(rc, TTC_ECANCELED, "%s", e.msg);
    int partial = count_lines(rec);
    cr_assert(partial > 0 && partial < 60, "partial run wrote %d lines", partial);
    /* a torn line from a kill mid-write */
    FILE *f = fopen(rec, "a");
    fputs("{\"uid\":\"t/0\",\"pha", f);
    fclose(f);
    cancel_flag = 0;
    c.cancel = NULL;
    c.progress = NULL;
    cr_assert_eq(ttc_exp_run(&c, &m, &e), TTC_OK, "%s", e.msg);
    /* per problem: samples + 12 searches (lookahead needs B >= k+1) + revisions + large */
    cr_assert_eq(count_lines(rec), 4 * 15);
    cr_assert_eq(ttc_exp_run(&c, &m, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(count_lines(rec), 4 * 15, "a finished run adds nothing");
    /* resuming with other settings or models would mix two experiments */
    c.revise_temperature = 0.5f;
    cr_assert_eq(ttc_exp_run(&c, &m, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "\"revise_temperature\"") && strstr(e.msg, dir), "%s", e.msg);
    c.revise_temperature = 0;
    c.revise_context = 3;
    cr_assert_eq(ttc_exp_run(&c, &m, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "\"revise_context\""), "%s", e.msg);
    c.revise_context = 0;
    cr_assert_eq(ttc_exp_run(&c, &m, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "revise_context 0 out of range"), "%s", e.msg);
    c.revise_context = 4;
    m.fingerprint = "generator:0123456789abcdef";
    cr_assert_eq(ttc_exp_run(&c, &m, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "\"fingerprint\""), "%s", e.msg);
    m.fingerprint = NULL;
    cr_assert_eq(count_lines(rec), 4 * 15, "a refused resume writes nothing");
    cr_assert_eq(ttc_exp_run(&c, &m, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_exp_analyze(dir, NULL, 0, 1, NULL, &e), TTC_OK, "%s", e.msg);
    char pol_path[512];
    snprintf(pol_path, sizeof pol_path, "%s/policy.json", dir);
    ttc_policy pol;
    cr_assert_eq(ttc_policy_load(pol_path, &pol, &e), TTC_OK, "%s", e.msg);
    cr_assert_float_eq(pol.revise_temperature, 0.0f, 1e-9, "the policy revises as the experiment did");
    json_t *s = load_summary(dir);
    /* the oracle PRM always prefers the right path: weighted best-of-4 is
     * right whenever the right answer was sampled at least once. */
    cr_assert(acc(s, "bon_weighted", 2) >= acc(s, "majority", 2));
    json_t *by = json_object_get(s, "revisions_pass1_by_attempt");
    cr_assert_eq(json_array_size(by), 2, "tiny preset: chains of 2 attempts");
    for (size_t i = 0; i < 2; i++) {
        double v = json_number_value(json_array_get(by, i));
        cr_assert(v >= 0 && v <= 1);
    }
    json_decref(s);
    /* every record is graded against the reference: correct <=> answer 5 */
    FILE *rf = fopen(rec, "r");
    char line[8192];
    int n_search = 0, n_right = 0;
    while (fgets(line, sizeof line, rf)) {
        json_t *r = json_loads(line, 0, NULL);
        cr_assert_not_null(r);
        const char *phase = json_string_value(json_object_get(r, "phase"));
        if (!strcmp(phase, "search") || !strcmp(phase, "large")) {
            const char *ans = json_string_value(json_object_get(r, "answer"));
            cr_assert_eq(json_is_true(json_object_get(r, "correct")), !strcmp(ans, "5"), "%s", line);
            n_search++;
            n_right += !strcmp(ans, "5");
        } else {
            json_t *ans = json_object_get(r, "answers"), *cor = json_object_get(r, "correct");
            cr_assert_eq(json_array_size(ans), 4, "tiny preset: 4 samples, 2x2 revisions");
            for (size_t i = 0; i < json_array_size(ans); i++)
                cr_assert_eq(json_is_true(json_array_get(cor, i)), !strcmp(json_string_value(json_array_get(ans, i)), "5"));
        }
        json_decref(r);
    }
    fclose(rf);
    cr_assert_eq(n_search, 4 * 13);
    cr_assert(n_right > 0 && n_right < n_search, "both paths appear: %d of %d right", n_right, n_search);
    g->vt->destroy(g);
    large->vt->destroy(large);
    prm->vt->destroy(prm);
    orm->vt->destroy(orm);
    fake_tree_free(t);
}

/* ---- the policy file and `auto` -------------------------------------- */

static const char *write_policy(const char *body) {
    static char path[300];
    snprintf(path, sizeof path, "%s/policy.json", tu_tmpdir());
    FILE *f = fopen(path, "w");
    fputs(body, f);
    fclose(f);
    return path;
}

Test(experiment, policy_load_bins_and_choice) {
    const char *p = write_policy(
        "{\"cuts\": [0.8, 0.6, 0.4, 0.2], \"budgets\": [1, 4, 16], \"probe\": 2, \"choice\": ["
        "[\"bon_weighted\",\"bon_weighted\",\"majority\"], [\"bon_weighted\",\"beam_m4\",\"beam_m4\"],"
        "[\"bon_weighted\",\"beam_sqrt\",\"dvts\"], [\"bon_weighted\",\"lookahead_k1\",\"beam_m4\"],"
        "[\"bon_weighted\",\"beam_m4\",\"revisions_len4\"]]}");
    ttc_policy pol;
    ttc_err e = {0};
    cr_assert_eq(ttc_policy_load(p, &pol, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(pol.probe, 2);
    cr_assert_eq(ttc_policy_bin(&pol, 0.9f), 0);
    cr_assert_eq(ttc_policy_bin(&pol, 0.8f), 0);
    cr_assert_eq(ttc_policy_bin(&pol, 0.5f), 2);
    cr_assert_eq(ttc_policy_bin(&pol, 0.0f), 4);
    cr_assert_str_eq(ttc_policy_choose(&pol, 2, 16), "dvts");
    cr_assert_str_eq(ttc_policy_choose(&pol, 2, 8), "beam_sqrt", "largest policy budget <= 8 is 4");
    cr_assert_str_eq(ttc_policy_choose(&pol, 1, 1000), "beam_m4");
    cr_assert_str_eq(ttc_policy_choose(&pol, 4, 1), "bon_weighted");
    cr_assert_lt(pol.revise_temperature, 0, "no revise_temperature: the caller's");
    cr_assert_eq(pol.revise_context, 4, "no revise_context: the paper's 4");
}

Test(experiment, policy_rejects_bad_files) {
    ttc_policy pol;
    ttc_err e = {0};
    cr_assert_eq(ttc_policy_load(write_policy("{\"cuts\": [1,2]}"), &pol, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "\"cuts\"") != NULL, "%s", e.msg);
    cr_assert_eq(ttc_policy_load(write_policy("{\"cuts\": [1,2,3,4], \"budgets\": [4, 2]}"), &pol, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "\"budgets\"") != NULL, "%s", e.msg);
    cr_assert_eq(ttc_policy_load(write_policy("{\"cuts\": [1,2,3,4], \"budgets\": [1], \"choice\": "
                                              "[[\"bon_weighted\"],[\"warp_drive\"],[\"dvts\"],[\"dvts\"],[\"dvts\"]]}"),
                                 &pol, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "warp_drive") != NULL, "%s", e.msg);
    cr_assert_eq(ttc_policy_load(write_policy("{not json"), &pol, &e), TTC_EFORMAT);
    cr_assert_eq(ttc_policy_load(write_policy("{\"cuts\": [1,2,3,4], \"budgets\": [1], \"revise_temperature\": \"hot\", "
                                              "\"choice\": [[\"dvts\"],[\"dvts\"],[\"dvts\"],[\"dvts\"],[\"dvts\"]]}"),
                                 &pol, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "\"revise_temperature\"") != NULL, "%s", e.msg);
    cr_assert_eq(ttc_policy_load(write_policy("{\"cuts\": [1,2,3,4], \"budgets\": [1], \"revise_context\": 9, "
                                              "\"choice\": [[\"dvts\"],[\"dvts\"],[\"dvts\"],[\"dvts\"],[\"dvts\"]]}"),
                                 &pol, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "\"revise_context\"") != NULL, "%s", e.msg);
}

/* A policy's revisions decode at the experiment's revise_temperature, and
 * read its revise_context of earlier attempts, unless the caller sets them. */
Test(experiment, auto_solve_revises_at_the_policy_temperature) {
    const char *p = write_policy(
        "{\"cuts\": [0.95, 0.9, 0.85, 0.8], \"budgets\": [1], \"probe\": 1, \"revise_temperature\": 0, \"revise_context\": 2, "
        "\"choice\": [[\"revisions_len2\"],[\"revisions_len2\"],[\"revisions_len2\"],[\"revisions_len2\"],"
        "[\"revisions_len2\"]]}");
    ttc_policy pol;
    ttc_err e = {0};
    cr_assert_eq(ttc_policy_load(p, &pol, &e), TTC_OK, "%s", e.msg);
    cr_assert_float_eq(pol.revise_temperature, 0.0f, 1e-9);
    fake_tree *t = two_path_tree();
    fake_stats st = {0};
    ttc_generator *g = fake_generator_new(t, &st);
    ttc_verifier *prm = fake_oracle_new(t, false, &st), *orm = fake_oracle_new(t, true, &st);
    ttc_search_params base;
    ttc_search_params_default(&base, TTC_SEARCH_BON_WEIGHTED, 1);
    base.seed = 5;
    ttc_search_result r;
    ttc_auto_info info;
    cr_assert_eq(ttc_policy_solve(&pol, 5, &base, g, prm, g, orm, "q", &r, &info, &e), TTC_OK, "%s", e.msg);
    cr_assert_str_eq(info.method, "revisions_len2");
    cr_assert_float_eq(r.params.revise_temperature, 0.0f, 1e-9);
    cr_assert_eq(r.params.revise_context, 4, "the caller's default context");
    ttc_search_result_free(&r);
    base.revise_context = -1;
    cr_assert_eq(ttc_policy_solve(&pol, 5, &base, g, prm, g, orm, "q", &r, &info, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(r.params.revise_context, 2, "unset: the policy's context");
    ttc_search_result_free(&r);
    base.revise_temperature = 0.5f;
    cr_assert_eq(ttc_policy_solve(&pol, 5, &base, g, prm, g, orm, "q", &r, &info, &e), TTC_OK, "%s", e.msg);
    cr_assert_float_eq(r.params.revise_temperature, 0.5f, 1e-9, "the caller's choice wins");
    ttc_search_result_free(&r);
    g->vt->destroy(g);
    prm->vt->destroy(prm);
    orm->vt->destroy(orm);
    fake_tree_free(t);
}

Test(experiment, auto_solve_counts_probe_in_budget) {
    const char *p = write_policy(
        "{\"cuts\": [0.95, 0.9, 0.85, 0.8], \"budgets\": [1, 4], \"probe\": 2, \"choice\": ["
        "[\"beam_m4\",\"beam_m4\"],[\"beam_m4\",\"beam_m4\"],[\"beam_m4\",\"beam_m4\"],"
        "[\"beam_m4\",\"beam_m4\"],[\"beam_m4\",\"beam_m4\"]]}");
    ttc_policy pol;
    ttc_err e = {0};
    cr_assert_eq(ttc_policy_load(p, &pol, &e), TTC_OK, "%s", e.msg);
    fake_tree *t = two_path_tree();
    fake_stats st = {0};
    ttc_generator *g = fake_generator_new(t, &st);
    ttc_verifier *prm = fake_oracle_new(t, false, &st);
    ttc_search_result r;
    ttc_auto_info info;
    ttc_search_params base;
    ttc_search_params_default(&base, TTC_SEARCH_BON_WEIGHTED, 1);
    base.seed = 5;
    cr_assert_eq(ttc_policy_solve(&pol, 6, &base, g, prm, NULL, NULL, "q", &r, &info, &e), TTC_OK, "%s", e.msg);
    cr_assert_str_eq(info.method, "beam_m4");
    cr_assert_eq(info.method_budget, 4, "6 - 2 probe samples");
    cr_assert(info.probe_score >= 0.1f && info.probe_score <= 0.9f);
    cr_assert(r.budget.full_samples >= 2, "the probe's samples are in the budget");
    cr_assert(r.budget.generations <= 6.0 + 1e-9, "generations %f within the budget", r.budget.generations);
    ttc_search_result_free(&r);
    g->vt->destroy(g);
    prm->vt->destroy(prm);
    fake_tree_free(t);
}

/* The CLI fingerprints the model files: a finished run resumes (adding
 * nothing), but records made with other model files are not resumed (here:
 * meta.json names other files). */
Test(experiment, cli_refuses_records_of_other_models, .timeout = 120) {
    char dir[512], meta[600], rec[600], cmd[1200], *out = NULL;
    snprintf(dir, sizeof dir, "%s/other", tu_tmpdir());
    snprintf(meta, sizeof meta, "%s/meta.json", dir);
    snprintf(rec, sizeof rec, "%s/records.jsonl", dir);
    snprintf(cmd, sizeof cmd, "%s experiment --preset tiny --methods none --no-large --no-revisions --limit 1 -t 1 "
             "-o %s 2>&1", tu_bin(), dir);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
    free(out);
    int n = count_lines(rec);
    cr_assert_gt(n, 0);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "same models: resumes, %s", out);
    free(out);
    cr_assert_eq(count_lines(rec), n, "a finished run adds nothing");
    json_t *m = json_load_file(meta, 0, NULL);
    cr_assert_not_null(m);
    const char *fp = json_string_value(json_object_get(m, "fingerprint"));
    cr_assert(fp && strstr(fp, "generator:") && strstr(fp, "prm:"), "%s", fp ? fp : "(none)");
    json_object_set_new(m, "fingerprint", json_string("generator:0000000000000000"));
    cr_assert_eq(json_dump_file(m, meta, 0), 0);
    json_decref(m);
    cr_assert_eq(tu_run(cmd, NULL, &out), 1, "%s", out);
    cr_assert(strstr(out, "\"fingerprint\"") && strstr(out, "generator:0000000000000000"), "%s", out);
    free(out);
    cr_assert_eq(count_lines(rec), n, "nothing appended");
}

/* Remote engines as the experiment's (and ttc solve's) models: a ttc
 * server (the bundled generator, and the PRM through /pooling) stands in
 * for vLLM. The sweep runs on it, its requests show in the server's
 * counters, and the fingerprint names the engines; a remote --large is
 * refused. */
Test(experiment, cli_runs_on_remote_engines, .timeout = 120) {
    ttc_local *l;
    ttc_err e = {0};
    ttc_local_opts lo = {.model_path = "models/generator.gguf", .prm_path = "models/prm.gguf", .threads = 1,
                         .n_ctx = 512, .n_seq_max = 64};
    cr_assert_eq(ttc_local_new(&lo, &l, &e), TTC_OK, "%s", e.msg);
    ttc_serve_backend be = ttc_local_backend(l);
    ttc_server *s;
    ttc_server_opts so = {0};
    cr_assert_eq(ttc_server_start(&so, &be, &s, &e), TTC_OK, "%s", e.msg);
    char dir[512], rec[600], meta[600], cmd[1400], *out = NULL;
    snprintf(dir, sizeof dir, "%s/remote", tu_tmpdir());
    snprintf(rec, sizeof rec, "%s/records.jsonl", dir);
    snprintf(meta, sizeof meta, "%s/meta.json", dir);
    int port = ttc_server_port(s);
    snprintf(cmd, sizeof cmd, "%s experiment --preset tiny --methods none --limit 1 -t 1 -m openai:http://127.0.0.1:%d "
             "--prm openai:pooling+http://127.0.0.1:%d -o %s 2>&1", tu_bin(), port, port, dir);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
    free(out);
    cr_assert_gt(count_lines(rec), 0);
    ttc_metrics *mt = ttc_server_metrics(s);
    cr_assert_gt(ttc_metrics_count(mt, TTC_EP_COMPLETIONS, 200), 0, "the generator ran on the engine");
    cr_assert_gt(ttc_metrics_count(mt, TTC_EP_POOLING, 200), 0, "the PRM scored through /pooling");
    json_t *m = json_load_file(meta, 0, NULL);
    cr_assert_not_null(m);
    const char *fp = json_string_value(json_object_get(m, "fingerprint"));
    cr_assert(fp && strstr(fp, "generator:openai-") && strstr(fp, "prm:openai-"), "%s", fp ? fp : "(none)");
    cr_assert(!strstr(fp, "revision:") && !strstr(fp, "large:"), "the bundled pair and large model stay out: %s", fp);
    json_decref(m);
    /* ttc solve on the same engines: a beam search scored through /pooling */
    uint64_t pooled = ttc_metrics_count(mt, TTC_EP_POOLING, 200);
    snprintf(cmd, sizeof cmd, "%s solve -m openai:http://127.0.0.1:%d --prm openai:pooling+http://127.0.0.1:%d "
             "--strategy beam --n 4 --json -p 'Leo has 15 cards. He loses 2. How many cards does Leo have now?' 2>&1",
             tu_bin(), port, port);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
    json_t *sj = json_loads(out, 0, NULL);
    cr_assert_not_null(sj, "%s", out);
    cr_assert(json_is_string(json_object_get(sj, "answer")), "%s", out);
    json_decref(sj);
    free(out);
    cr_assert_gt(ttc_metrics_count(mt, TTC_EP_POOLING, 200), pooled, "solve scored on the engine");
    snprintf(cmd, sizeof cmd, "%s experiment --preset tiny -m openai:http://127.0.0.1:%d --large openai:http://x "
             "-o %s 2>&1", tu_bin(), port, dir);
    cr_assert_eq(tu_run(cmd, NULL, &out), 2, "%s", out);
    cr_assert(strstr(out, "--large"), "%s", out);
    free(out);
    /* with another generator, the bundled ORM does not pair itself with a given revision model */
    snprintf(cmd, sizeof cmd, "%s experiment --preset tiny -m openai:http://127.0.0.1:%d --revision models/revision.gguf "
             "-o %s 2>&1", tu_bin(), port, dir);
    cr_assert_eq(tu_run(cmd, NULL, &out), 2, "%s", out);
    cr_assert(strstr(out, "--orm"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s experiment --preset tiny -m openai:http://127.0.0.1:%d --prm likelihood "
             "-o %s/lik 2>&1", tu_bin(), port, dir);
    cr_assert_eq(tu_run(cmd, NULL, &out), 1, "%s", out);
    cr_assert(strstr(out, "likelihood"), "%s", out);
    free(out);
    ttc_server_stop(s);
    ttc_local_free(l);
}

/* --levels and --methods name what they accept when given something else. */
Test(experiment, cli_rejects_bad_levels_and_methods) {
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s experiment --levels 0,3 2>&1", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 2);
    cr_assert(strstr(out, "--levels") && strstr(out, "'0,3'"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s experiment --methods beam_sqrt,beam 2>&1", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 2);
    cr_assert(strstr(out, "--methods") && strstr(out, "dvts"), "%s", out);
    free(out);
}
