/* ttc eval: the pass@k estimator, per-level aggregation, and an end-to-end
 * run on a tiny random-weight model (answers are wrong; the JSON shape,
 * counts, grading of each recorded sample and batching-independent
 * sampling are what is checked). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/eval.h"
#include "data/grader.h"
#include "model/model.h"
#include "testutil.h"

Test(eval, pass_at_k_estimator) {
    cr_assert_float_eq(ttc_pass_at_k(5, 0, 1), 0.0, 1e-12);
    cr_assert_float_eq(ttc_pass_at_k(5, 5, 1), 1.0, 1e-12);
    cr_assert_float_eq(ttc_pass_at_k(5, 2, 1), 0.4, 1e-12);
    cr_assert_float_eq(ttc_pass_at_k(4, 1, 2), 0.5, 1e-12);          /* 1 - C(3,2)/C(4,2) */
    cr_assert_float_eq(ttc_pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0, 1e-12); /* 1 - C(7,5)/C(10,5) */
    cr_assert_float_eq(ttc_pass_at_k(10, 6, 5), 1.0, 1e-12);         /* n - c < k */
    cr_assert_float_eq(ttc_pass_at_k(8, 1, 8), 1.0, 1e-12);
    cr_assert_float_eq(ttc_pass_at_k(3, 1, 4), 0.0, 1e-12);          /* k > n: undefined -> 0 */
}

Test(eval, per_level_aggregation) {
    int levels[] = {1, 1, 2, 3, 3, 3};
    int correct[] = {4, 0, 2, 1, 1, 4};
    ttc_eval_result r = {.n_problems = 6, .samples = 4, .levels = levels, .n_correct = correct};
    int n;
    cr_assert_float_eq(ttc_eval_pass(&r, 1, 1, &n), 0.5, 1e-12);
    cr_assert_eq(n, 2);
    cr_assert_float_eq(ttc_eval_pass(&r, 2, 1, &n), 0.5, 1e-12);
    cr_assert_float_eq(ttc_eval_pass(&r, 3, 1, &n), 0.5, 1e-12);
    cr_assert_eq(n, 3);
    cr_assert_float_eq(ttc_eval_pass(&r, -1, 1, &n), 12.0 / 24.0, 1e-12);
    cr_assert_eq(n, 6);
    cr_assert_float_eq(ttc_eval_pass(&r, 1, 4, NULL), 0.5, 1e-12);
    cr_assert_float_eq(ttc_eval_pass(&r, 3, 4, NULL), 1.0, 1e-12);
    cr_assert_float_eq(ttc_eval_pass(&r, 5, 1, &n), 0.0, 1e-12);
    cr_assert_eq(n, 0);
}

typedef struct { char *texts[64]; int n; } capture;

static void on_sample(void *ud, int problem, int sample, const char *text, const char *answer, bool correct) {
    capture *c = ud;
    int k = problem * 2 + sample;
    cr_assert(k >= 0 && k < 64);
    cr_assert_null(c->texts[k], "sample %d/%d reported twice", problem, sample);
    c->texts[k] = strdup(text);
    c->n++;
    char again[512];
    ttc_extract_answer(text, again, sizeof again);
    cr_assert_str_eq(again, answer);
}

Test(eval, end_to_end_tiny_random_model, .timeout = 120) {
    const char *dir = tu_tmpdir();
    char model[256], cmd[1024], samples[256], *out;
    snprintf(model, sizeof model, "%s/tiny.gguf", dir);
    snprintf(samples, sizeof samples, "%s/samples.jsonl", dir);
    snprintf(cmd, sizeof cmd, "%s gguf random --shape tiny-llama --vocab %s --type q8_0 --seed 3 -o %s -t 2",
             tu_bin(), tu_shared("vocab/ggml-vocab-llama-spm.gguf"), model);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 0, "%s", cmd);

    /* the CLI: JSON shape and counts */
    snprintf(cmd, sizeof cmd, "%s eval -m %s --data data/synth/test.jsonl --limit 5 --samples 2 --max-tokens 8 "
             "--temp 1.0 --seed 5 -t 2 --json --samples-out %s", tu_bin(), model, samples);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", cmd);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "not JSON: %s", out);
    cr_assert_eq(json_integer_value(json_object_get(j, "samples")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "problems")), 5);
    json_t *lv = json_object_get(j, "levels");
    cr_assert(json_is_object(lv));
    cr_assert_eq(json_object_size(lv), 5);
    for (int l = 1; l <= 5; l++) {
        char key[4];
        snprintf(key, sizeof key, "%d", l);
        json_t *v = json_object_get(lv, key);
        cr_assert(json_is_number(v), "level %d missing", l);
        double p = json_number_value(v);
        cr_assert(p >= 0 && p <= 1);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "counts"), key)), 1);
    }
    double overall = json_number_value(json_object_get(j, "overall"));
    cr_assert(overall >= 0 && overall <= 1);
    json_t *pk = json_object_get(j, "pass_at_k");
    cr_assert_eq(json_integer_value(json_object_get(pk, "k")), 2);
    cr_assert(json_number_value(json_object_get(pk, "overall")) >= overall);
    double boxed = json_number_value(json_object_get(j, "boxed_rate"));
    double trunc = json_number_value(json_object_get(j, "truncated_rate"));
    cr_assert(boxed >= 0 && boxed <= 1 && trunc >= 0 && trunc <= 1);
    cr_assert_geq(trunc, 0.5, "8 random tokens rarely hit EOS: %f", trunc);
    json_decref(j);
    free(out);

    /* every recorded sample is graded as the grader says; count = 5 * 2 */
    ttc_dataset rec;
    ttc_err e = {0};
    FILE *f = fopen(samples, "rb");
    cr_assert_not_null(f);
    char line[1 << 14];
    int n_lines = 0, n_correct = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *s = json_loads(line, 0, &je);
        cr_assert_not_null(s, "bad sample line: %s", line);
        const char *ans = json_string_value(json_object_get(s, "answer"));
        const char *ref = json_string_value(json_object_get(s, "reference"));
        const char *text = json_string_value(json_object_get(s, "text"));
        cr_assert(ans && ref && text);
        char again[512];
        ttc_extract_answer(text, again, sizeof again);
        cr_assert_str_eq(again, ans);
        bool correct = json_is_true(json_object_get(s, "correct"));
        cr_assert_eq(correct, ttc_answer_equal(ans, ref));
        n_correct += correct;
        n_lines++;
        json_decref(s);
    }
    fclose(f);
    cr_assert_eq(n_lines, 10);
    cr_assert_float_eq(overall, n_correct / 10.0, 1e-6);
    (void)rec;

    /* the library: same seed, different batching -> the same samples. On
     * an f16 model: quantized matmuls take other kernel paths for other
     * token counts, so their logits (and samples) may differ in the last
     * bits with batch composition. */
    char model16[256];
    snprintf(model16, sizeof model16, "%s/tiny16.gguf", dir);
    snprintf(cmd, sizeof cmd, "%s gguf random --shape tiny-llama --vocab %s --type f16 --seed 3 -o %s -t 2",
             tu_bin(), tu_shared("vocab/ggml-vocab-llama-spm.gguf"), model16);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 0, "%s", cmd);
    ttc_model *m;
    ttc_dataset d;
    cr_assert_eq(ttc_model_load(model16, NULL, &m, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_dataset_load("data/synth/test.jsonl", &d, &e), TTC_OK, "%s", e.msg);
    ttc_eval_params p = ttc_eval_params_default();
    p.samples = 2; p.max_tokens = 6; p.limit = 3; p.temperature = 1.0f; p.seed = 9;
    capture a = {0}, b = {0};
    ttc_eval_result ra, rb;
    p.max_seqs = 64;
    cr_assert_eq(ttc_eval_run(m, NULL, &d, &p, on_sample, &a, &ra, &e), TTC_OK, "%s", e.msg);
    p.max_seqs = 2;   /* one problem per batch */
    cr_assert_eq(ttc_eval_run(m, NULL, &d, &p, on_sample, &b, &rb, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(a.n, 6);
    cr_assert_eq(b.n, 6);
    int distinct = 0;
    for (int k = 0; k < 6; k++) {
        cr_assert_str_eq(a.texts[k], b.texts[k], "sample %d differs with batching", k);
        if (k % 2 && strcmp(a.texts[k], a.texts[k - 1])) distinct++;
    }
    cr_assert_gt(distinct, 0, "the K samples of a problem should differ at temperature 1");
    cr_assert_eq(ra.tokens_generated, rb.tokens_generated);
    cr_assert_eq(ra.n_problems, 3);
    for (int i = 0; i < 3; i++) cr_assert_eq(ra.levels[i], d.items[i].level);
    for (int k = 0; k < 6; k++) { free(a.texts[k]); free(b.texts[k]); }
    ttc_eval_result_free(&ra);
    ttc_eval_result_free(&rb);

    /* chat prompts (the plain template here: the vocabulary has none) are
     * longer: they carry the instruction */
    ttc_eval_params pc = p;
    pc.max_seqs = 0; pc.limit = 2; pc.max_tokens = 2;
    ttc_eval_result rp, rc;
    cr_assert_eq(ttc_eval_run(m, NULL, &d, &pc, NULL, NULL, &rp, &e), TTC_OK, "%s", e.msg);
    pc.chat = true;
    cr_assert_eq(ttc_eval_run(m, NULL, &d, &pc, NULL, NULL, &rc, &e), TTC_OK, "%s", e.msg);
    cr_assert_gt(rc.tokens_prompt, rp.tokens_prompt + 2 * 10);
    cr_assert_eq(rc.tokens_generated, 2 * 2 * 2);
    ttc_eval_result_free(&rp);
    ttc_eval_result_free(&rc);

    /* bad parameters */
    p.samples = 0;
    cr_assert_eq(ttc_eval_run(m, NULL, &d, &p, NULL, NULL, &ra, &e), TTC_EINVAL);
    ttc_dataset_free(&d);
    ttc_model_free(m);
}

Test(eval, cli_arguments) {
    char cmd[512], *out;
    const char *bad[] = {"eval", "eval -m x.gguf", "eval --data x.jsonl", "eval -m x --data y --samples 0",
                         "eval -m x --data y --temp -1", "eval -m x --data y --frob", "eval -m x --data y --limit"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", tu_bin(), bad[i]);
        cr_assert_eq(tu_run(cmd, NULL, NULL), 2, "%s", bad[i]);
    }
    snprintf(cmd, sizeof cmd, "%s eval --help", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "usage: ttc eval") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "%s eval -m /nonexistent.gguf --data data/synth/test.jsonl 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 1);
    snprintf(cmd, sizeof cmd, "%s eval -m /nonexistent.gguf --data /nonexistent.jsonl 2>&1", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 1);
    cr_assert(strstr(out, "/nonexistent.jsonl") != NULL, "%s", out);
    free(out);
}
