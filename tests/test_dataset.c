/* JSONL loader: the shared MATH-500 and GSM8K files, the synthetic format,
 * and error messages that name file, line and field. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/dataset.h"
#include "data/synth.h"
#include "testutil.h"

Test(dataset, math500) {
    ttc_dataset d;
    ttc_err e = {0};
    cr_assert_eq(ttc_dataset_load(tu_shared("data/math500.jsonl"), &d, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(d.n, 500);
    cr_assert_str_eq(d.items[0].answer, "\\left( 3, \\frac{\\pi}{2} \\right)");
    cr_assert_str_eq(d.items[0].subject, "Precalculus");
    cr_assert_str_eq(d.items[0].unique_id, "test/precalculus/807.json");
    cr_assert_eq(d.items[0].level, 2);
    cr_assert(!strncmp(d.items[0].problem, "Convert the point $(0,3)$", 25));
    int hist[6] = {0};
    for (int i = 0; i < d.n; i++) {
        cr_assert(d.items[i].level >= 1 && d.items[i].level <= 5);
        hist[d.items[i].level]++;
        cr_assert(strstr(d.items[i].solution, "boxed") != NULL);
    }
    for (int l = 1; l <= 5; l++) cr_assert_gt(hist[l], 30);
    ttc_dataset_free(&d);
    cr_assert_eq(d.n, 0);
}

Test(dataset, gsm8k) {
    ttc_dataset d;
    ttc_err e = {0};
    cr_assert_eq(ttc_dataset_load(tu_shared("data/gsm8k_test.jsonl"), &d, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(d.n, 1319);
    cr_assert_str_eq(d.items[0].answer, "18");
    cr_assert_str_eq(d.items[0].unique_id, "gsm8k/0");
    cr_assert_str_eq(d.items[0].subject, "gsm8k");
    cr_assert_eq(d.items[0].level, 0);
    cr_assert_str_eq(d.items[0].solution,
                     "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\n"
                     "She makes 9 * 2 = $18 every day at the farmer\xe2\x80\x99s market.");
    for (int i = 0; i < d.n; i++) {
        const char *a = d.items[i].answer;
        cr_assert(*a && !strchr(a, ',') && !strstr(d.items[i].solution, "<<"), "%s: %s", d.items[i].unique_id, a);
        char *end;
        strtod(a, &end);
        cr_assert(!*end, "%s: answer \"%s\" is not a number", d.items[i].unique_id, a);
    }
    ttc_dataset_free(&d);
}

static int load_text(const char *text, ttc_dataset *d, ttc_err *e, char *path, size_t cap) {
    snprintf(path, cap, "%s/data.jsonl", tu_tmpdir());
    ttc_err we;
    cr_assert_eq(ttc_write_file(path, text, strlen(text), &we), TTC_OK);
    return ttc_dataset_load(path, d, e);
}

Test(dataset, formats_and_blank_lines) {
    const char *text =
        "\n"
        "{\"problem\": \"1+1?\", \"answer\": \"2\", \"level\": \"Level 3\"}\n"
        "   \n"
        "{\"problem\": \"2+2?\", \"solution\": \"So $\\\\boxed{4}$.\", \"level\": \"Level ?\"}\r\n"
        "{\"question\": \"How many?\", \"answer\": \"2 + 3 = <<2+3=5>>5\\n#### 1,005\"}\n"
        "{\"problem\": \"p\", \"answer\": \"a\", \"unique_id\": \"x/1\", \"subject\": \"S\", \"level\": 5}";
    ttc_dataset d;
    ttc_err e = {0};
    char path[256];
    cr_assert_eq(load_text(text, &d, &e, path, sizeof path), TTC_OK, "%s", e.msg);
    cr_assert_eq(d.n, 4);
    cr_assert_eq(d.items[0].level, 3);
    cr_assert_str_eq(d.items[0].unique_id, "data.jsonl:2");
    cr_assert_str_eq(d.items[0].solution, "");
    cr_assert_str_eq(d.items[1].answer, "4");
    cr_assert_eq(d.items[1].level, 0);
    cr_assert_str_eq(d.items[2].problem, "How many?");
    cr_assert_str_eq(d.items[2].answer, "1005");
    cr_assert_str_eq(d.items[2].solution, "2 + 3 = 5");
    cr_assert_str_eq(d.items[2].unique_id, "gsm8k/5");
    cr_assert_str_eq(d.items[3].unique_id, "x/1");
    cr_assert_str_eq(d.items[3].subject, "S");
    cr_assert_eq(d.items[3].level, 5);
    ttc_dataset_free(&d);
}

Test(dataset, errors_name_file_line_field) {
    struct { const char *text, *want; int code; } cases[] = {
        {"{\"problem\": \"a\", \"answer\": \"1\"}\n\n{\"problem\": \"x\", \"answer\": 5}\n",
         "data.jsonl:3: field \"answer\": expected string, got number", TTC_EFORMAT},
        {"{\"problem\": \"a\", \"answer\": \"1\"}\n{\"problem\": \"a\", \"answer\": \"1\"\n",
         "data.jsonl:2: column", TTC_EFORMAT},
        {"{\"answer\": \"1\"}\n", "data.jsonl:1: field \"problem\": missing", TTC_EFORMAT},
        {"{\"problem\": \"a\"}\n", "data.jsonl:1: field \"answer\": missing", TTC_EFORMAT},
        {"{\"problem\": \"a\", \"answer\": \"1\", \"level\": 2.5}\n",
         "data.jsonl:1: field \"level\": expected integer or \"Level N\", got number", TTC_EFORMAT},
        {"{\"problem\": \"a\", \"answer\": \"1\", \"level\": \"hard\"}\n",
         "data.jsonl:1: field \"level\": cannot read \"hard\"", TTC_EFORMAT},
        {"{\"question\": \"q\", \"answer\": \"no final\"}\n",
         "data.jsonl:1: field \"answer\": no \"#### N\"", TTC_EFORMAT},
        {"[1, 2]\n", "data.jsonl:1: expected a JSON object, got array", TTC_EFORMAT},
        {"{\"problem\": null, \"answer\": \"1\"}\n", "data.jsonl:1: field \"problem\": expected string, got null",
         TTC_EFORMAT},
        {"{\"problem\": \"a\", \"answer\": [\"1\"]}\n", "data.jsonl:1: field \"answer\": expected string, got array",
         TTC_EFORMAT},
        {"{\"problem\": \"a\", \"answer\": \"1\"} trailing\n", "data.jsonl:1: column", TTC_EFORMAT},
        {"{\"problem\": \"a\", \"problem\": \"b\", \"answer\": \"1\"}\n", "data.jsonl:1: column", TTC_EFORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ttc_dataset d;
        ttc_err e = {0};
        char path[256];
        int rc = load_text(cases[i].text, &d, &e, path, sizeof path);
        cr_assert_eq(rc, cases[i].code, "case %zu: rc %d (%s)", i, rc, e.msg);
        cr_assert(strstr(e.msg, cases[i].want) != NULL, "case %zu: message \"%s\" lacks \"%s\"", i, e.msg, cases[i].want);
        cr_assert(strstr(e.msg, path) == e.msg, "case %zu: message should start with the path: %s", i, e.msg);
        cr_assert_eq(d.n, 0);
        cr_assert_null(d.items);
    }
    ttc_dataset d;
    ttc_err e = {0};
    cr_assert_eq(ttc_dataset_load("/nonexistent/x.jsonl", &d, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "/nonexistent/x.jsonl") != NULL);
}

Test(dataset, synth_roundtrip) {
    char path[256];
    snprintf(path, sizeof path, "%s/s.jsonl", tu_tmpdir());
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    ttc_synth_gen *g;
    ttc_err e = {0};
    cr_assert_eq(ttc_synth_gen_new(&g, TTC_SPLIT_VAL, 3, 0x1f, &e), TTC_OK);
    ttc_synth_problem ps[50];
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(ttc_synth_gen_next(g, &ps[i], &e), TTC_OK);
        cr_assert_eq(ttc_synth_write_jsonl(f, &ps[i], &e), TTC_OK);
    }
    ttc_synth_gen_free(g);
    fclose(f);
    ttc_dataset d;
    cr_assert_eq(ttc_dataset_load(path, &d, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(d.n, 50);
    for (int i = 0; i < 50; i++) {
        cr_assert_str_eq(d.items[i].problem, ps[i].problem);
        cr_assert_str_eq(d.items[i].solution, ps[i].solution);
        cr_assert_str_eq(d.items[i].answer, ps[i].answer);
        cr_assert_str_eq(d.items[i].unique_id, ps[i].unique_id);
        cr_assert_str_eq(d.items[i].subject, "synth");
        cr_assert_eq(d.items[i].level, ps[i].level);
    }
    ttc_dataset_free(&d);
}
