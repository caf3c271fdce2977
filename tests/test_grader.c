/* MATH answer grader: a table of equivalent / non-equivalent pairs built from
 * MATH-500 answers (tests/grader_pairs.tsv), extraction, canonical keys,
 * every MATH-500 answer against itself and against its solution's \boxed{},
 * and `ttc grade` through the binary. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/dataset.h"
#include "data/grader.h"
#include "testutil.h"

Test(grader, pairs_table) {
    char *buf;
    size_t len;
    ttc_err e = {0};
    cr_assert_eq(ttc_read_file("tests/grader_pairs.tsv", &buf, &len, &e), TTC_OK, "%s", e.msg);
    int n = 0, n_eq = 0, bad = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        cr_assert(t1 && t2 && (line[0] == '=' || line[0] == '!'), "bad row: %s", line);
        *t1 = *t2 = 0;
        const char *cand = t1 + 1, *ref = t2 + 1;
        bool want = line[0] == '=';
        bool got = ttc_answer_equal(cand, ref);
        if (got != want) {
            cr_log_error("pair %d: \"%s\" vs \"%s\": expected %s", n + 1, cand, ref, want ? "equal" : "different");
            bad++;
        }
        /* equal answers share a majority-vote key */
        if (want) {
            char k1[256], k2[256];
            ttc_answer_canonical(cand, k1, sizeof k1);
            ttc_answer_canonical(ref, k2, sizeof k2);
            if (strcmp(k1, k2) && !strchr(ref, '\\') == !strchr(cand, '\\'))
                cr_log_info("key differs: %s -> %s, %s -> %s", cand, k1, ref, k2);
        }
        n++;
        n_eq += want;
    }
    free(buf);
    cr_assert_geq(n, 150);
    cr_assert_geq(n_eq, 60);
    cr_assert_geq(n - n_eq, 60);
    cr_assert_eq(bad, 0, "%d of %d pairs graded wrongly", bad, n);
}

Test(grader, prm800k_rules) {
    cr_assert(ttc_answer_equal("\\frac12", "0.5"));
    cr_assert(ttc_answer_equal("0.5", "\\frac{1}{2}"));
    cr_assert(!ttc_answer_equal("\\frac{2}{4}", "\\frac{1}{2}"));
    cr_assert(ttc_answer_equal("\\frac{2}{4}", "\\frac{2}{4}"));
    cr_assert(!ttc_answer_equal("5.0001", "5"));
    cr_assert(ttc_answer_equal("5.000", "5"));
    cr_assert(!ttc_answer_equal("0.333333", "\\frac13"));
    cr_assert(!ttc_answer_equal("", "5"));
    cr_assert(!ttc_answer_equal("5", ""));
    cr_assert(!ttc_answer_equal(NULL, "5"));
    cr_assert(ttc_answer_equal("\\left[ 1, 2 \\right)", "[1,2)"));
    cr_assert(!ttc_answer_equal("(1,2)", "[1,2)"));
    cr_assert(ttc_answer_equal("1,000,000", "1000000"));
    cr_assert(ttc_answer_equal("[-2, 7]", "x \\in [-2,7]"));
    cr_assert(!ttc_answer_equal("(-2, 7]", "x \\in [-2,7]"));
    cr_assert(ttc_answer_equal("\\infty", "\\infty"));
}

Test(grader, extraction) {
    char out[256];
    cr_assert(ttc_extract_answer("so $\\boxed{\\frac{1}{2}}$.", out, sizeof out));
    cr_assert_str_eq(out, "\\frac{1}{2}");
    cr_assert(ttc_extract_answer("first \\boxed{3} then \\boxed{\\{1, {2}\\}} done", out, sizeof out));
    cr_assert_str_eq(out, "\\{1, {2}\\}");
    cr_assert(ttc_extract_answer("\\boxed{8} and later \\fbox{7}", out, sizeof out));
    cr_assert_str_eq(out, "7");
    cr_assert(ttc_extract_answer("The answer is $\\boxed 5$.", out, sizeof out));
    cr_assert_str_eq(out, "5");
    cr_assert(ttc_extract_answer("Thus the final answer is $42$.\nThanks", out, sizeof out));
    cr_assert_str_eq(out, "42");
    cr_assert(ttc_extract_answer("She has 12 + 24 = 36.\nThe answer is 36.", out, sizeof out));
    cr_assert_str_eq(out, "36");
    cr_assert(ttc_extract_answer("we get 3 apples, then 1,250 pears and -7.5 plums", out, sizeof out));
    cr_assert_str_eq(out, "-7.5");
    cr_assert(ttc_extract_answer("ratio 3/4", out, sizeof out));
    cr_assert_str_eq(out, "3/4");
    cr_assert(!ttc_extract_answer("no numbers here", out, sizeof out));
    cr_assert_str_eq(out, "");
    cr_assert(!ttc_extract_answer("", out, sizeof out));
    /* an unclosed \boxed falls back to the last number */
    cr_assert(ttc_extract_answer("x = 4 so \\boxed{\\frac{1}{2", out, sizeof out));
    cr_assert_str_eq(out, "2");
    /* truncation to cap */
    cr_assert(ttc_extract_answer("\\boxed{123456789}", out, 4));
    cr_assert_str_eq(out, "123");
    /* the synthetic benchmark's last line */
    cr_assert(ttc_extract_answer("He sells 6, so 22 - 6 = 16.\nThe answer is \\boxed{16}.\n", out, sizeof out));
    cr_assert_str_eq(out, "16");
}

Test(grader, canonical_keys) {
    char a[128], b[128];
    const char *same[][2] = {
        {"\\frac12", "0.5"}, {"1/2", "\\dfrac{1}{2}"}, {"\\{1,2\\}", "2, 1"}, {"10,000", "10000"},
        {"90^\\circ", "90"}, {"x=5", "5"}, {"\\sqrt{8}", "2\\sqrt2"}, {"2k+2", "2(k+1)"},
        {"(1,\\frac12)", "\\left(1, 0.5\\right)"}, {"5.0", "5"},
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        ttc_answer_canonical(same[i][0], a, sizeof a);
        ttc_answer_canonical(same[i][1], b, sizeof b);
        cr_assert_str_eq(a, b, "%s vs %s", same[i][0], same[i][1]);
        cr_assert(ttc_answer_equal(same[i][0], same[i][1]));
    }
    const char *diff[][2] = {
        {"\\frac{2}{4}", "\\frac12"}, {"5", "5.1"}, {"(1,2)", "(2,1)"}, {"(1,2)", "[1,2)"},
        {"5", "\\sqrt{25}"}, {"east", "eats"}, {"-3", "3"},
    };
    for (size_t i = 0; i < sizeof diff / sizeof diff[0]; i++) {
        ttc_answer_canonical(diff[i][0], a, sizeof a);
        ttc_answer_canonical(diff[i][1], b, sizeof b);
        cr_assert_str_neq(a, b, "%s vs %s", diff[i][0], diff[i][1]);
        cr_assert(!ttc_answer_equal(diff[i][0], diff[i][1]));
    }
}

Test(grader, math500_self_and_solution) {
    ttc_dataset d;
    ttc_err e = {0};
    cr_assert_eq(ttc_dataset_load(tu_shared("data/math500.jsonl"), &d, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(d.n, 500);
    int from_solution = 0;
    for (int i = 0; i < d.n; i++) {
        const char *a = d.items[i].answer;
        cr_assert(ttc_answer_equal(a, a), "%s: \"%s\" not equal to itself", d.items[i].unique_id, a);
        char boxed[1024], k1[512], k2[512];
        snprintf(boxed, sizeof boxed, "The answer is $\\boxed{%s}$.", a);
        char got[1024];
        cr_assert(ttc_extract_answer(boxed, got, sizeof got));
        cr_assert(ttc_answer_equal(got, a), "%s: boxed \"%s\" -> \"%s\"", d.items[i].unique_id, a, got);
        ttc_answer_canonical(got, k1, sizeof k1);
        ttc_answer_canonical(a, k2, sizeof k2);
        cr_assert_str_eq(k1, k2);
        if (ttc_extract_answer(d.items[i].solution, got, sizeof got) && ttc_answer_equal(got, a)) from_solution++;
    }
    /* every reference solution boxes an answer equal to the reference */
    cr_assert_eq(from_solution, d.n, "only %d solutions grade correct", from_solution);
    ttc_dataset_free(&d);
}

Test(grader, cli) {
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "%s grade --reference '\\frac{1}{2}'", tu_bin());
    cr_assert_eq(tu_run(cmd, "Adding, we get $\\boxed{0.5}$.", &out), 0);
    cr_assert_str_eq(out, "correct\t0.5\n");
    free(out);
    cr_assert_eq(tu_run(cmd, "so the answer is 2/4.", &out), 0);
    cr_assert_str_eq(out, "incorrect\t2/4\n");
    free(out);
    cr_assert_eq(tu_run(cmd, "nothing", &out), 0);
    cr_assert_str_eq(out, "incorrect\t\n");
    free(out);
    snprintf(cmd, sizeof cmd, "%s grade --help", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "usage: ttc grade") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "%s grade 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, "", NULL), 2);
    snprintf(cmd, sizeof cmd, "%s grade --reference 1 --bogus 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, "", NULL), 2);
}
