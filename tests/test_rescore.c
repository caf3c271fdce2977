/* ttc rescore: accuracies against hand-computed answers, votes that differ,
 * levels, determinism, errors naming file:line:field, the CLI contract. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/rescore.h"
#include "testutil.h"

static void add(ttc_rescore_set *s, const char *json) {
    ttc_err e = {0};
    cr_assert_eq(ttc_rescore_add_json(s, json, strlen(json), TTC_AGG_LAST, "t.jsonl", s->n + 1, &e), TTC_OK,
                 "%s", e.msg);
}

static const ttc_rescore_row *row(const ttc_rescore_table *t, int level, int n) {
    for (int i = 0; i < t->n_rows; i++)
        if (t->rows[i].level == level && t->rows[i].n == n) return &t->rows[i];
    cr_assert_fail("no row for level %d, N = %d", level, n);
    return NULL;
}

Test(rescore, known_accuracies) {
    ttc_rescore_set s = {0};
    /* 8 samples: five say 7 (score 0.1), three say 42 (0.9); reference 42 */
    add(&s, "{\"unique_id\":\"p1\",\"answer\":\"42\",\"level\":2,"
            "\"answers\":[\"7\",\"42\",\"7\",\"7\",\"42\",\"7\",\"42\",\"7\"],"
            "\"scores\":[0.1,0.9,0.1,0.1,0.9,0.1,0.9,0.1]}");
    /* every sample right (answers extracted from responses, equivalence by
     * the grader: \frac12 = 0.5) */
    add(&s, "{\"unique_id\":\"p2\",\"answer\":\"0.5\",\"level\":2,"
            "\"responses\":[\"so \\\\boxed{\\\\frac{1}{2}}\",\"\\\\boxed{0.5}\",\"\\\\boxed{\\\\frac12}\",\"\\\\boxed{1/2}\"],"
            "\"scores\":[0.3,0.2,0.5,0.4]}");
    /* every sample wrong, no level, per-step scores */
    add(&s, "{\"unique_id\":\"p3\",\"answer\":\"3\","
            "\"answers\":[\"4\",\"5\"],\"scores\":[[0.9,0.2],[0.1,0.8]]}");
    cr_assert_eq(s.max_samples, 8);
    cr_assert(s.p[1].correct[0] && s.p[1].correct[1] && s.p[1].correct[2] && s.p[1].correct[3]);
    cr_assert_float_eq(s.p[2].scores[0], 0.2f, 1e-6);   /* last step */
    ttc_rescore_table t;
    ttc_err e = {0};
    cr_assert_eq(ttc_rescore_run(&s, 16, 1, &t, &e), TTC_OK, "%s", e.msg);
    /* N = 1 exact: mean of per-problem fractions correct (3/8, 1, 0) */
    cr_assert_float_eq(row(&t, 0, 1)->majority, (3.0 / 8 + 1 + 0) / 3, 1e-12);
    cr_assert_float_eq(row(&t, 2, 1)->bon, (3.0 / 8 + 1) / 2, 1e-12);
    /* N = 8 uses all samples of p1: majority says 7, the verifier says 42 */
    const ttc_rescore_row *r8 = row(&t, 2, 8);
    cr_assert_eq(r8->n_problems, 2);
    cr_assert_float_eq(r8->majority, 0.5, 1e-12);
    cr_assert_float_eq(r8->bon, 1.0, 1e-12);
    cr_assert_float_eq(r8->weighted, 1.0, 1e-12);
    cr_assert_float_eq(row(&t, 0, 8)->majority, 1.0 / 3, 1e-12);
    /* levels: all, then 2; p3 (no level) only in all */
    cr_assert_eq(t.rows[0].level, 0);
    cr_assert_eq(row(&t, 0, 2)->n_problems, 3);
    for (int i = 0; i < t.n_rows; i++) cr_assert(t.rows[i].level == 0 || t.rows[i].level == 2);
    cr_assert_eq(t.n_rows, 2 * 4);   /* N = 1, 2, 4, 8 */
    /* same seed, same table; another seed changes the noisy middle */
    ttc_rescore_table t2;
    cr_assert_eq(ttc_rescore_run(&s, 16, 1, &t2, &e), TTC_OK);
    for (int i = 0; i < t.n_rows; i++) {
        cr_assert_eq(t.rows[i].majority, t2.rows[i].majority);
        cr_assert_eq(t.rows[i].weighted, t2.rows[i].weighted);
    }
    ttc_rescore_table_free(&t2);
    ttc_rescore_table_free(&t);
    ttc_rescore_set_free(&s);
}

Test(rescore, without_scores_only_majority) {
    ttc_rescore_set s = {0};
    add(&s, "{\"answer\":\"1\",\"answers\":[\"1\",\"2\"]}");
    ttc_rescore_table t;
    ttc_err e = {0};
    cr_assert_eq(ttc_rescore_run(&s, 8, 0, &t, &e), TTC_OK);
    cr_assert_float_eq(row(&t, 0, 1)->majority, 0.5, 1e-12);
    cr_assert(isnan(row(&t, 0, 2)->bon));
    cr_assert_eq(row(&t, 0, 2)->n_scored, 0);
    ttc_rescore_table_free(&t);
    ttc_rescore_set_free(&s);
}

Test(rescore, errors_name_file_line_field) {
    const struct { const char *json, *want; } cases[] = {
        {"{\"answer\":\"1\",\"responses\":[\"a\"],\"scores\":[1,2]}", "scores: 2 elements"},
        {"{\"responses\":[\"a\"]}", "answer"},
        {"{\"answer\":\"1\"}", "responses: missing"},
        {"{\"answer\":\"1\",\"answers\":[\"1\"],\"scores\":[\"high\"]}", "scores[0]"},
        {"{\"answer\":\"1\",\"answers\":[3]}", "answers[0]"},
        {"{\"answer\":\"1\",\"answers\":[\"1\"],\"level\":\"hard\"}", "level"},
        {"{\"answer\":\"1\",\"answers\":[]}", "answers: empty"},
        {"{\"answer\": ", "invalid JSON"},
        {"[1,2]", "expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ttc_rescore_set s = {0};
        ttc_err e = {0};
        int rc = ttc_rescore_add_json(&s, cases[i].json, strlen(cases[i].json), TTC_AGG_LAST, "x.jsonl", 7, &e);
        cr_assert_eq(rc, TTC_EFORMAT, "case %zu", i);
        cr_assert(strstr(e.msg, "x.jsonl:7:") && strstr(e.msg, cases[i].want), "case %zu: %s", i, e.msg);
        cr_assert_eq(s.n, 0);
        ttc_rescore_set_free(&s);
    }
    ttc_rescore_set s = {0};
    ttc_err e = {0};
    cr_assert_eq(ttc_rescore_load("/nonexistent/samples.jsonl", TTC_AGG_LAST, &s, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "/nonexistent/samples.jsonl"));
}

Test(rescore, cli) {
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/s.jsonl", tu_tmpdir());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"unique_id\":\"a\",\"answer\":\"42\",\"level\":1,\"answers\":[\"42\",\"7\",\"7\",\"42\"],"
               "\"scores\":[0.9,0.1,0.2,0.8]}\n\n"
               "{\"unique_id\":\"b\",\"answer\":\"5\",\"level\":3,\"answers\":[\"5\",\"5\"],\"scores\":[0.5,0.5]}\n");
    fclose(f);
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "%s rescore %s --json --trials 8", tu_bin(), path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    cr_assert_not_null(o, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(o, "problems")), 2);
    json_t *rows = json_object_get(o, "rows");
    cr_assert_eq(json_array_size(rows), 3 * 3);  /* all, 1, 3 x N = 1, 2, 4 */
    json_t *r0 = json_array_get(rows, 0);
    cr_assert_str_eq(json_string_value(json_object_get(r0, "level")), "all");
    cr_assert_float_eq(json_real_value(json_object_get(r0, "majority")), (0.5 + 1.0) / 2, 1e-12);
    json_decref(o);
    free(out);
    snprintf(cmd, sizeof cmd, "%s rescore %s", tu_bin(), path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "level 3") && strstr(out, "weighted"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s rescore --help", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s rescore %s --trials 0 2>/dev/null", tu_bin(), path);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s rescore 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    f = fopen(path, "w");
    fprintf(f, "{\"answer\":\"1\",\"answers\":[\"1\"]}\n{\"answer\":\"1\",\"answers\":[\"1\"],\"scores\":{}}\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s rescore %s 2>&1", tu_bin(), path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 1);
    cr_assert(strstr(out, ":2: scores"), "%s", out);
    free(out);
    remove(path);
}

Test(rescore, reads_experiment_records) {
    ttc_rescore_set s = {0};
    /* a search record is skipped; a samples record with precomputed
     * correctness (which wins over grading: "42" is marked wrong here) */
    add(&s, "{\"uid\":\"x\",\"level\":1,\"phase\":\"search\",\"reference\":\"1\",\"answers\":[\"1\"]}");
    cr_assert_eq(s.n, 0);
    add(&s, "{\"uid\":\"x\",\"level\":1,\"phase\":\"samples\",\"reference\":\"42\",\"n\":3,"
            "\"answers\":[\"42\",\"7\",\"7\"],\"keys\":[\"42\",\"7\",\"7\"],\"correct\":[false,true,true],"
            "\"scores\":[0.9,null,0.2],\"tokens\":[5,6,7]}");
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.p[0].id, "x");
    cr_assert(!s.p[0].correct[0] && s.p[0].correct[1]);
    cr_assert(isnan(s.p[0].scores[1]));
    ttc_rescore_table t;
    ttc_err e = {0};
    cr_assert_eq(ttc_rescore_run(&s, 4, 0, &t, &e), TTC_OK);
    cr_assert_float_eq(row(&t, 1, 1)->majority, 2.0 / 3, 1e-12);
    ttc_rescore_table_free(&t);
    /* "correct" must hold booleans */
    const char *bad = "{\"reference\":\"1\",\"answers\":[\"1\"],\"correct\":[1]}";
    cr_assert_eq(ttc_rescore_add_json(&s, bad, strlen(bad), TTC_AGG_LAST, "r.jsonl", 3, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "r.jsonl:3: correct[0]"), "%s", e.msg);
    ttc_rescore_set_free(&s);
}
