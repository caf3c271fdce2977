/* Synthetic benchmark: determinism, the committed splits (byte-identical
 * regeneration, disjointness), solution well-formedness, difficulty growth
 * by level, the step checker, and `ttc data gen`. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/dataset.h"
#include "data/grader.h"
#include "data/prompt.h"
#include "data/synth.h"
#include "testutil.h"

/* Generates n problems of a split into a malloc'd JSONL string. */
static char *gen_jsonl(int split, uint64_t seed, unsigned mask, int n, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    cr_assert_not_null(f);
    ttc_synth_gen *g;
    ttc_err e = {0};
    cr_assert_eq(ttc_synth_gen_new(&g, split, seed, mask, &e), TTC_OK, "%s", e.msg);
    ttc_synth_problem p;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(ttc_synth_gen_next(g, &p, &e), TTC_OK, "%s", e.msg);
        cr_assert_eq(ttc_synth_write_jsonl(f, &p, &e), TTC_OK);
    }
    ttc_synth_gen_free(g);
    fclose(f);
    return buf;
}

Test(synth, deterministic_and_prefix_stable) {
    size_t la, lb, lc;
    char *a = gen_jsonl(TTC_SPLIT_TRAIN, 7, 0x1f, 300, &la);
    char *b = gen_jsonl(TTC_SPLIT_TRAIN, 7, 0x1f, 300, &lb);
    char *c = gen_jsonl(TTC_SPLIT_TRAIN, 7, 0x1f, 100, &lc);
    cr_assert_eq(la, lb);
    cr_assert(!memcmp(a, b, la));
    cr_assert(lc < la && !memcmp(a, c, lc), "a shorter run must be a prefix");
    char *d = gen_jsonl(TTC_SPLIT_TRAIN, 8, 0x1f, 100, &lb);
    cr_assert(memcmp(c, d, lc < lb ? lc : lb), "another seed gives other problems");
    free(a); free(b); free(c); free(d);
}

/* The committed test and val splits regenerate byte for byte (README). */
Test(synth, committed_splits_regenerate) {
    const char *names[] = {"test", "val"};
    int splits[] = {TTC_SPLIT_TEST, TTC_SPLIT_VAL};
    for (int s = 0; s < 2; s++) {
        char path[64], *file;
        size_t flen, glen;
        ttc_err e = {0};
        snprintf(path, sizeof path, "data/synth/%s.jsonl", names[s]);
        cr_assert_eq(ttc_read_file(path, &file, &flen, &e), TTC_OK, "%s", e.msg);
        char *gen = gen_jsonl(splits[s], 1, 0x1f, 1000, &glen);
        cr_assert_eq(flen, glen, "%s: %zu vs %zu bytes", path, flen, glen);
        cr_assert(!memcmp(file, gen, flen), "%s differs from its regeneration", path);
        free(file);
        free(gen);
    }
    /* and the first 2000 lines of train */
    char *file;
    size_t flen, glen;
    ttc_err e = {0};
    cr_assert_eq(ttc_read_file("data/synth/train.jsonl", &file, &flen, &e), TTC_OK, "%s", e.msg);
    char *gen = gen_jsonl(TTC_SPLIT_TRAIN, 1, 0x1f, 2000, &glen);
    cr_assert(glen < flen && !memcmp(file, gen, glen), "train.jsonl does not start with its regeneration");
    free(file);
    free(gen);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

Test(synth, committed_splits_disjoint_and_well_formed) {
    const char *names[] = {"train", "val", "test"};
    int want_split[] = {TTC_SPLIT_TRAIN, TTC_SPLIT_VAL, TTC_SPLIT_TEST};
    ttc_dataset d[3];
    size_t total = 0;
    for (int s = 0; s < 3; s++) {
        char path[64];
        ttc_err e = {0};
        snprintf(path, sizeof path, "data/synth/%s.jsonl", names[s]);
        cr_assert_eq(ttc_dataset_load(path, &d[s], &e), TTC_OK, "%s", e.msg);
        total += (size_t)d[s].n;
    }
    cr_assert_geq(d[0].n, 20000);
    cr_assert_eq(d[1].n, 1000);
    cr_assert_eq(d[2].n, 1000);
    const char **all = malloc(total * sizeof *all);
    size_t k = 0;
    for (int s = 0; s < 3; s++) {
        int per_level[6] = {0};
        for (int i = 0; i < d[s].n; i++) {
            ttc_example *x = &d[s].items[i];
            cr_assert_eq(ttc_synth_split_of(x->problem), want_split[s], "%s in the wrong split", x->unique_id);
            per_level[x->level]++;
            all[k++] = x->problem;
        }
        for (int l = 1; l <= 5; l++) cr_assert_eq(per_level[l], d[s].n / 5, "%s: level %d unbalanced", names[s], l);
    }
    qsort(all, total, sizeof *all, cmp_str);
    for (size_t i = 1; i < total; i++) cr_assert_str_neq(all[i - 1], all[i], "duplicate problem: %s", all[i]);
    free(all);
    for (int s = 0; s < 3; s++) ttc_dataset_free(&d[s]);
}

Test(synth, solutions_check_and_grade) {
    ttc_synth_gen *g;
    ttc_err e = {0};
    cr_assert_eq(ttc_synth_gen_new(&g, TTC_SPLIT_TRAIN, 11, 0x1f, &e), TTC_OK);
    double steps[6] = {0}, mag[6] = {0}, cnt[6] = {0};
    ttc_synth_problem p;
    ttc_synth_step st[16];
    for (int i = 0; i < 5000; i++) {
        cr_assert_eq(ttc_synth_gen_next(g, &p, &e), TTC_OK);
        cr_assert_eq(p.level, 1 + i % 5);
        cr_assert_leq(strlen(p.problem), 300);
        cr_assert_leq(strlen(p.solution), 300);
        int n_lines, n_wrong;
        cr_assert_eq(ttc_synth_check_steps(p.solution, st, 16, &n_lines, &n_wrong), 0, "%s", p.solution);
        cr_assert_eq(n_wrong, 0);
        cr_assert_eq(n_lines, p.n_steps + 1, "%s", p.solution);
        for (int j = 0; j < p.n_steps; j++) cr_assert_eq(st[j].status, TTC_STEP_OK, "%s", p.solution);
        cr_assert_eq(st[p.n_steps].status, TTC_STEP_NOCALC);
        /* the last computation gives the answer; the last line boxes it */
        char last[64], ans[64];
        snprintf(last, sizeof last, "The answer is \\boxed{%s}.\n", p.answer);
        cr_assert(strstr(p.solution, last) && !strcmp(strstr(p.solution, last), last), "%s", p.solution);
        cr_assert_eq(st[p.n_steps - 1].c, strtoll(p.answer, NULL, 10));
        cr_assert(ttc_extract_answer(p.solution, ans, sizeof ans));
        cr_assert(ttc_answer_equal(ans, p.answer));
        cr_assert(p.answer[0] >= '0' && p.answer[0] <= '9');
        cr_assert_eq(strchr(p.problem, '\n'), NULL);
        steps[p.level] += p.n_steps;
        mag[p.level] += (double)strtoll(p.answer, NULL, 10);
        cnt[p.level]++;
    }
    ttc_synth_gen_free(g);
    /* difficulty grows with the level: more steps, bigger numbers */
    for (int l = 2; l <= 5; l++) {
        cr_assert_gt(steps[l] / cnt[l], steps[l - 1] / cnt[l - 1] + 0.5, "level %d", l);
        cr_assert_gt(mag[l] / cnt[l], 1.5 * mag[l - 1] / cnt[l - 1], "level %d", l);
    }
    cr_assert_leq(steps[1] / cnt[1], 2.0);
    cr_assert_geq(steps[5] / cnt[5], 5.0);
}

Test(synth, step_checker) {
    ttc_synth_step st[8];
    int n, w;
    const char *sol = "She buys 3 packs of 12, so 3 * 12 = 36.\n"
                      "Then she has 10 + 36 = 47.\n"
                      "\n"
                      "She keeps 1 of 4 piles, so 47 / 4 = 11.\n"
                      "She loses 2, so 11 - 2 = 9.\n"
                      "The answer is \\boxed{9}.\n";
    cr_assert_eq(ttc_synth_check_steps(sol, st, 8, &n, &w), 2);
    cr_assert_eq(n, 5);
    cr_assert_eq(w, 2);
    cr_assert_eq(st[0].status, TTC_STEP_OK);
    cr_assert_eq(st[0].op, '*');
    cr_assert(st[0].a == 3 && st[0].b == 12 && st[0].c == 36);
    cr_assert_eq(st[1].status, TTC_STEP_WRONG);
    cr_assert_eq(st[1].line, 2);
    cr_assert_eq(st[2].status, TTC_STEP_WRONG);   /* inexact division */
    cr_assert_eq(st[2].line, 4);
    cr_assert_eq(st[3].status, TTC_STEP_OK);
    cr_assert_eq(st[4].status, TTC_STEP_NOCALC);
    /* the last computation on a line counts; "x" is multiplication */
    cr_assert_eq(ttc_synth_check_steps("1 + 1 = 3 but 2 x 3 = 6\n", st, 8, &n, &w), 0);
    cr_assert_eq(st[0].op, '*');
    /* garbage, huge numbers, no cap */
    cr_assert_eq(ttc_synth_check_steps("99999999999999999999 * 9 = 1\n= = + 3\n", NULL, 0, &n, &w), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(ttc_synth_check_steps("999999999999 * 999999999 = 1", st, 8, &n, &w), 1);
    cr_assert_eq(ttc_synth_check_steps(NULL, st, 8, &n, &w), 0);
    cr_assert_eq(n, 0);
}

Test(synth, levels_and_split_parsing) {
    unsigned m;
    ttc_err e = {0};
    cr_assert_eq(ttc_synth_levels_parse("1-5", &m, &e), TTC_OK); cr_assert_eq(m, 0x1fu);
    cr_assert_eq(ttc_synth_levels_parse("2,4", &m, &e), TTC_OK); cr_assert_eq(m, 0xau);
    cr_assert_eq(ttc_synth_levels_parse("1-2,5", &m, &e), TTC_OK); cr_assert_eq(m, 0x13u);
    const char *bad[] = {"", "0", "6", "5-1", "1,", "a", "1-", "12"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(ttc_synth_levels_parse(bad[i], &m, &e), TTC_EINVAL, "%s", bad[i]);
    int s;
    cr_assert_eq(ttc_synth_split_parse("val", &s, &e), TTC_OK); cr_assert_eq(s, TTC_SPLIT_VAL);
    cr_assert_eq(ttc_synth_split_parse("dev", &s, &e), TTC_EINVAL);
    /* a level subset only yields those levels, in order */
    ttc_synth_gen *g;
    cr_assert_eq(ttc_synth_gen_new(&g, TTC_SPLIT_TEST, 1, 0x14, &e), TTC_OK);
    ttc_synth_problem p;
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(ttc_synth_gen_next(g, &p, &e), TTC_OK);
        cr_assert_eq(p.level, i % 2 ? 5 : 3);
        char want[40];
        snprintf(want, sizeof want, "synth/test/L%d/%06d", p.level, i);
        cr_assert_str_eq(p.unique_id, want);
    }
    ttc_synth_gen_free(g);
    cr_assert_eq(ttc_synth_gen_new(&g, TTC_SPLIT_TEST, 1, 0, &e), TTC_EINVAL);
}

Test(synth, cli) {
    char cmd[512], *out, *file;
    size_t flen;
    ttc_err e = {0};
    snprintf(cmd, sizeof cmd, "%s data gen --split test --n 10 --seed 1 -o -", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert_eq(ttc_read_file("data/synth/test.jsonl", &file, &flen, &e), TTC_OK);
    cr_assert(!strncmp(out, file, strlen(out)) && strlen(out) > 100);
    int lines = 0;
    for (char *p = out; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 10);
    free(out);
    free(file);
    const char *bad[] = {"data", "data gen --n 5 -o -", "data gen --split dev --n 5 -o -",
                         "data gen --split test --n -1 -o -", "data gen --split test --n 5 -o - --levels 7",
                         "data gen --split test --n 5", "data gen --split test --n 5 -o - --frob 1",
                         "data frob"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", tu_bin(), bad[i]);
        cr_assert_eq(tu_run(cmd, NULL, NULL), 2, "%s", bad[i]);
    }
    snprintf(cmd, sizeof cmd, "%s data gen --help", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "usage: ttc data gen") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "%s data gen --split test --n 1 -o /nonexistent/dir/x.jsonl 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 1);
}

Test(synth, cli_check) {
    const char *dir = tu_tmpdir();
    char path[256], cmd[512], *out;
    snprintf(path, sizeof path, "%s/s.jsonl", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("{\"level\": 2, \"correct\": false, \"text\": \"So 3 + 4 = 8.\\nThe answer is \\\\boxed{8}.\\n\"}\n"
          "\n"
          "{\"level\": 2, \"correct\": true, \"text\": \"2 * 3 = 6.\\nThe answer is \\\\boxed{6}.\\n\"}\n"
          "{\"level\": 3, \"correct\": false, \"text\": \"9 - 4 = 5.\\nThe answer is \\\\boxed{5}.\\n\"}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s data check %s --json", tu_bin(), path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "\"2\": {\"samples\": 2, \"slip_rate\": 0.500000, \"incorrect\": 1, "
                          "\"incorrect_slip_rate\": 1.000000, \"correct\": 1, \"correct_slip_rate\": 0.000000, "
                          "\"mean_lines\": 2.000}") != NULL, "%s", out);
    cr_assert(strstr(out, "\"3\": {\"samples\": 1, \"slip_rate\": 0.000000") != NULL, "%s", out);
    cr_assert(strstr(out, "\"overall\": {\"samples\": 3, \"slip_rate\": 0.333333, \"incorrect\": 2, "
                          "\"incorrect_slip_rate\": 0.500000") != NULL, "%s", out);
    free(out);
    /* the committed test split has no slips */
    snprintf(cmd, sizeof cmd, "%s data check data/synth/test.jsonl --json", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "\"overall\": {\"samples\": 1000, \"slip_rate\": 0.000000") != NULL, "%s", out);
    free(out);
    /* a record without text/solution: file and line in the message, exit 1 */
    f = fopen(path, "wb");
    fputs("{\"text\": \"1 + 1 = 2\"}\n{\"x\": 1}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s data check %s 2>&1", tu_bin(), path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 1);
    cr_assert(strstr(out, "s.jsonl:2: field \"text\"") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s data check 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
}

Test(synth, prompt_formats) {
    char *p = ttc_prompt_solve("Ann has 3 pens. How many?");
    cr_assert_str_eq(p, "Problem: Ann has 3 pens. How many?\nSolution:\n");
    char buf[16];
    cr_assert_eq(ttc_prompt_solve_to(buf, sizeof buf, "Ann has 3 pens. How many?"), strlen(p));
    cr_assert_str_eq(buf, "Problem: Ann ha");
    free(p);
    const char *attempts[] = {"3 + 1 = 5.\nThe answer is \\boxed{5}.\n", "3 + 1 = 4.\nThe answer is \\boxed{4}."};
    p = ttc_prompt_revise("P?", attempts, 2);
    cr_assert_str_eq(p, "Problem: P?\n"
                        "Attempt 1:\n3 + 1 = 5.\nThe answer is \\boxed{5}.\n"
                        "Attempt 2:\n3 + 1 = 4.\nThe answer is \\boxed{4}.\n"
                        "Solution:\n");
    free(p);
    p = ttc_prompt_revise("P?", NULL, 0);
    cr_assert_str_eq(p, "Problem: P?\nSolution:\n");
    free(p);
    /* the context an ORM roots at: solve(context) is the revision prompt */
    p = ttc_prompt_revise_context("P?", attempts, 2);
    cr_assert_str_eq(p, "P?\n"
                        "Attempt 1:\n3 + 1 = 5.\nThe answer is \\boxed{5}.\n"
                        "Attempt 2:\n3 + 1 = 4.\nThe answer is \\boxed{4}.");
    free(p);
    p = ttc_prompt_revise_context("P?", NULL, 0);
    cr_assert_str_eq(p, "P?");
    free(p);
}
