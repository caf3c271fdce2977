/* Family data builders and verifier quality: pieces that need no trained
 * model first, then end to end with the bundled models. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/grader.h"
#include "fake_lm.h"
#include "family/labels.h"
#include "search/lm.h"
#include "testutil.h"

Test(family, edit_distance) {
    cr_assert_eq(ttc_edit_distance("", ""), 0);
    cr_assert_eq(ttc_edit_distance("abc", ""), 3);
    cr_assert_eq(ttc_edit_distance("", "ab"), 2);
    cr_assert_eq(ttc_edit_distance("kitten", "sitting"), 3);
    cr_assert_eq(ttc_edit_distance("3 * 12 = 36.\n", "3 * 12 = 38.\n"), 1);
    cr_assert_eq(ttc_edit_distance("flaw", "lawn"), 2);
    cr_assert_eq(ttc_edit_distance("abc", "abc"), 0);
}

Test(family, bad_options_are_rejected_before_loading) {
    ttc_label_opts o = {.data = "nope.jsonl", .out = "/tmp/x.jsonl", .samples = 0, .rollouts = 8};
    ttc_err e = {0};
    cr_assert_eq(ttc_label_prm("missing.gguf", &o, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "samples") != NULL, "%s", e.msg);
    o.samples = 2;
    o.chain = 99;
    cr_assert_eq(ttc_label_orm("missing.gguf", &o, &e), TTC_EINVAL);
    o.chain = 2;
    cr_assert_neq(ttc_label_revision("missing.gguf", &o, &e), TTC_OK);
    cr_assert(strstr(e.msg, "nope.jsonl") != NULL || strstr(e.msg, "missing.gguf") != NULL, "%s", e.msg);
}

Test(family, auc_matches_pairwise_definition) {
    float s[] = {0.9f, 0.8f, 0.8f, 0.3f, 0.1f, 0.5f};
    unsigned char t[] = {1, 1, 0, 0, 0, 1};
    /* positives {.9,.8,.5} vs negatives {.8,.3,.1}: pairs won 3 + 2.5 + 2 = 7.5 of 9 */
    cr_assert_float_eq(ttc_auc(s, t, 6), 7.5 / 9, 1e-9);
    unsigned char all[] = {1, 1, 1};
    cr_assert(isnan(ttc_auc(s, all, 3)));
    float perfect[] = {0.1f, 0.9f};
    unsigned char pt[] = {0, 1};
    cr_assert_float_eq(ttc_auc(perfect, pt, 2), 1.0, 1e-12);
}

/* Within-problem AUC on a scripted verifier: every (right, wrong) pair of
 * one problem's solutions, per step-score aggregation, worked by hand. */
Test(family, within_problem_auc_counts_pairs_of_one_problem) {
    fake_tree *t = fake_tree_new();
    int a = fake_tree_add(t, 0, "a\n", 1, 0.9f, true);
    int b = fake_tree_add(t, 0, "b\n", 1, 0.2f, true);
    int c = fake_tree_add(t, 0, "c\n", 1, 0.5f, false);
    int d = fake_tree_add(t, c, "d\n", 1, 0.8f, true);
    int x = fake_tree_add(t, c, "e\n", 1, 0.6f, true);
    cr_assert(a > 0 && b > 0 && d > 0 && x > 0);
    fake_stats st = {0};
    ttc_verifier *v = fake_oracle_new(t, false, &st);
    char path[512];
    snprintf(path, sizeof path, "%s/q.jsonl", tu_tmpdir());
    FILE *f = fopen(path, "w");
    /* P1: right [a] (.9) vs wrong [c d] (last .8, min .5, prod .4, mean .65): won by all.
     * P2: right [c d]; wrong [a] (.9): lost by all; wrong [b] (.2): won by all;
     *     wrong [c e] (last .6, min .5, prod .3, mean .55): min ties, the rest win.
     * A right solution of P1 never meets a wrong one of P2. */
    fputs("{\"uid\":\"p1\",\"problem\":\"P1\",\"steps\":[\"a\\n\"],\"labels\":[1]}\n"
          "{\"uid\":\"p1\",\"problem\":\"P1\",\"steps\":[\"c\\n\",\"d\\n\"],\"labels\":[0.5,0]}\n"
          "{\"uid\":\"p2\",\"problem\":\"P2\",\"steps\":[\"c\\n\",\"d\\n\"],\"labels\":[0.5,1]}\n"
          "{\"uid\":\"p2\",\"problem\":\"P2\",\"steps\":[\"a\\n\"],\"labels\":[0]}\n"
          "{\"uid\":\"p2\",\"problem\":\"P2\",\"steps\":[\"b\\n\"],\"labels\":[0]}\n"
          "{\"uid\":\"p2\",\"problem\":\"P2\",\"steps\":[\"c\\n\",\"e\\n\"],\"labels\":[0.5,0]}\n", f);
    fclose(f);
    ttc_prm_quality q;
    ttc_err e = {0};
    cr_assert_eq(ttc_prm_quality_eval(v, path, 0, &q, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(q.n_records, 6);
    cr_assert_eq(q.n_pairs, 4);
    cr_assert_float_eq(q.auc_within[0], 3.0 / 4, 1e-9, "last %f", q.auc_within[0]);
    cr_assert_float_eq(q.auc_within[1], 2.5 / 4, 1e-9, "min %f", q.auc_within[1]);
    cr_assert_float_eq(q.auc_within[2], 3.0 / 4, 1e-9, "prod %f", q.auc_within[2]);
    cr_assert_float_eq(q.auc_within[3], 3.0 / 4, 1e-9, "mean %f", q.auc_within[3]);
    ttc_verifier_free(v);
    fake_tree_free(t);
}

/* End to end with the bundled models: the revision builder writes the
 * paper's contexts (only incorrect attempts) unless an example is marked
 * natural; the ORM builder puts each attempt after the attempts its
 * revision prompt held. */

static json_t **read_records(const char *path, int *n) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    json_t **v = NULL;
    char line[1 << 16];
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        v = realloc(v, sizeof *v * (size_t)(*n + 1));
        cr_assert_not_null(v[*n] = json_loads(line, 0, NULL), "bad line: %s", line);
        (*n)++;
    }
    fclose(f);
    return v;
}

/* The attempts of a revision prompt ("Attempt k:\n...") graded against ref;
 * returns how many there are, *n_right how many are right. */
/* The reference answer of problem uid among probs[1..6] (NULL if absent). */
static const char *answer_of(json_t *const *probs, const char *uid) {
    for (int k = 1; k < 7; k++)
        if (!strcmp(uid, json_string_value(json_object_get(probs[k], "unique_id"))))
            return json_string_value(json_object_get(probs[k], "answer"));
    return NULL;
}

static int context_attempts(const char *prompt, const char *ref, int *n_right) {
    int n = 0;
    *n_right = 0;
    for (const char *p = strstr(prompt, "Attempt "); p; p = strstr(p + 1, "Attempt ")) {
        const char *end = strstr(p + 1, "Attempt ");
        if (!end) end = strstr(p, "Solution:\n");
        if (!end) end = p + strlen(p);  /* an ORM context ends with its last attempt */
        char buf[2048], ans[256];
        size_t len = (size_t)(end - p) < sizeof buf - 1 ? (size_t)(end - p) : sizeof buf - 1;
        memcpy(buf, p, len);
        buf[len] = 0;
        if (ttc_extract_answer(buf, ans, sizeof ans) && ttc_answer_equal(ans, ref)) (*n_right)++;
        n++;
    }
    return n;
}

Test(family, revision_and_orm_data_from_bundled_models, .timeout = 300) {
    const char *d = tu_tmpdir();
    char rev[512], orm[512];
    snprintf(rev, sizeof rev, "%s/rev.jsonl", d);
    snprintf(orm, sizeof orm, "%s/orm.jsonl", d);
    ttc_err e = {0};
    /* level-2 problems of the train split: the generator solves about half */
    ttc_label_opts o = {.data = "data/synth/train.jsonl", .out = rev, .offset = 1, .limit = 6,
                        .samples = 8, .examples = 4, .natural = 0.5f, .temperature = 1.0f,
                        .max_tokens = 200, .seed = 7, .threads = 2};
    cr_assert_eq(ttc_label_revision("models/generator.gguf", &o, &e), TTC_OK, "%s", e.msg);
    int n = 0, n_nat = 0, n_right_ctx = 0;
    json_t **v = read_records(rev, &n);
    cr_assert_geq(n, 12, "%d records", n);
    FILE *df = fopen("data/synth/train.jsonl", "r");
    char line[1 << 14];
    json_t *probs[8];
    for (int i = 0; i < 7; i++) {
        cr_assert_not_null(fgets(line, sizeof line, df));
        probs[i] = json_loads(line, 0, NULL);
    }
    fclose(df);
    for (int i = 0; i < n; i++) {
        const char *uid = json_string_value(json_object_get(v[i], "uid"));
        const char *ref = answer_of(probs, uid);
        cr_assert_not_null(ref, "uid %s not among the problems asked for", uid);
        const char *prompt = json_string_value(json_object_get(v[i], "prompt"));
        const char *target = json_string_value(json_object_get(v[i], "completion"));
        char ans[256];
        cr_assert(ttc_extract_answer(target, ans, sizeof ans) && ttc_answer_equal(ans, ref),
                  "target must be right: %s", target);
        int right, m = context_attempts(prompt, ref, &right);
        cr_assert_eq(m, json_integer_value(json_object_get(v[i], "attempts")));
        cr_assert_leq(m, 4);
        if (json_is_true(json_object_get(v[i], "natural"))) {
            n_nat++;
            n_right_ctx += right;
            cr_assert_geq(m, 1);
        } else {
            cr_assert_eq(right, 0, "paper recipe: only incorrect attempts in context: %s", prompt);
        }
    }
    cr_assert(n_nat > 0 && n_nat < n, "natural examples %d of %d", n_nat, n);
    cr_assert_gt(n_right_ctx, 0, "natural contexts hold right attempts too");
    for (int i = 0; i < n; i++) json_decref(v[i]);
    free(v);

    /* keep or fix: the target is the most recent right attempt in context,
     * verbatim, else a right solution; both kinds occur on these problems */
    char edit[512];
    snprintf(edit, sizeof edit, "%s/edit.jsonl", d);
    o.out = edit;
    o.natural = 0.4f;
    o.edit = 0.7f;
    cr_assert_neq(ttc_label_revision("models/generator.gguf", &o, &e), TTC_OK, "natural + edit > 1");
    o.natural = 0;
    o.edit = 1;
    cr_assert_eq(ttc_label_revision("models/generator.gguf", &o, &e), TTC_OK, "%s", e.msg);
    v = read_records(edit, &n);
    int n_keep = 0, n_fix = 0;
    for (int i = 0; i < n; i++) {
        const char *uid = json_string_value(json_object_get(v[i], "uid"));
        const char *ref = answer_of(probs, uid);
        cr_assert_str_eq(json_string_value(json_object_get(v[i], "recipe")), "edit");
        const char *prompt = json_string_value(json_object_get(v[i], "prompt"));
        const char *target = json_string_value(json_object_get(v[i], "completion"));
        char ans[256];
        cr_assert(ttc_extract_answer(target, ans, sizeof ans) && ttc_answer_equal(ans, ref),
                  "target must be right: %s", target);
        /* the most recent right attempt: after its "Attempt k:" line, up to
         * the next attempt or "Solution:" */
        char keep[2048] = "";
        for (const char *p = strstr(prompt, "Attempt "); p; p = strstr(p + 1, "Attempt ")) {
            const char *body = strchr(p, '\n') + 1, *end = strstr(body, "Attempt ");
            if (!end) end = strstr(body, "Solution:\n");
            cr_assert(end);
            char buf[2048];
            snprintf(buf, sizeof buf, "%.*s", (int)(end - body - 1), body); /* without its '\n' */
            if (ttc_extract_answer(buf, ans, sizeof ans) && ttc_answer_equal(ans, ref)) strcpy(keep, buf);
        }
        if (keep[0]) {
            size_t len = strlen(target);
            if (len && target[len - 1] == '\n') len--;  /* the prompt ends each attempt with one */
            cr_assert(len == strlen(keep) && !memcmp(target, keep, len),
                      "keep: the target is the most recent right attempt:\n%s\n---\n%s", target, keep);
            n_keep++;
        } else if (json_integer_value(json_object_get(v[i], "attempts")) > 0) {
            n_fix++;
        }
    }
    cr_assert(n_keep > 0 && n_fix > 0, "keep %d, fix %d", n_keep, n_fix);
    for (int i = 0; i < n; i++) json_decref(v[i]);
    free(v);
    /* --drop-fix leaves out most fix examples: fewer examples, kept ones remain */
    snprintf(edit, sizeof edit, "%s/edit-drop.jsonl", d);
    o.drop_fix = 0.9f;
    cr_assert_eq(ttc_label_revision("models/generator.gguf", &o, &e), TTC_OK, "%s", e.msg);
    int n2 = 0, n_with_right = 0;
    v = read_records(edit, &n2);
    for (int i = 0; i < n2; i++) {
        const char *prompt = json_string_value(json_object_get(v[i], "prompt"));
        const char *target = json_string_value(json_object_get(v[i], "completion"));
        char head[64];
        snprintf(head, sizeof head, "%.40s", target);   /* a kept target appears in its prompt */
        n_with_right += strstr(prompt, head) != NULL;
        json_decref(v[i]);
    }
    free(v);
    cr_assert_lt(n2, n, "dropping fixes must leave fewer examples (%d vs %d)", n2, n);
    cr_assert_gt(n_with_right, 0);
    o.drop_fix = 1.0f;
    cr_assert_eq(ttc_label_revision("models/generator.gguf", &o, &e), TTC_EINVAL);
    o.drop_fix = 0;
    /* --own-only: a problem whose (deliberately wrong) reference answer no
     * sample reaches gets examples with the reference as target by
     * default, and none with --own-only */
    char bogus[512], out_a[512], out_b[512];
    snprintf(bogus, sizeof bogus, "%s/bogus.jsonl", d);
    snprintf(out_a, sizeof out_a, "%s/own-a.jsonl", d);
    snprintf(out_b, sizeof out_b, "%s/own-b.jsonl", d);
    FILE *bf = fopen(bogus, "w");
    fputs("{\"problem\": \"Tom has 3 pens. Mia gives him 7 more. How many pens does Tom have now?\", "
          "\"solution\": \"So 3 + 7 = 999999.\\nThe answer is \\\\boxed{999999}.\\n\", \"answer\": \"999999\", "
          "\"level\": 1, \"unique_id\": \"bogus/0\"}\n", bf);
    fclose(bf);
    ttc_label_opts ob = o;
    ob.data = bogus;
    ob.offset = 0;
    ob.limit = 1;
    ob.out = out_a;
    cr_assert_eq(ttc_label_revision("models/generator.gguf", &ob, &e), TTC_OK, "%s", e.msg);
    v = read_records(out_a, &n2);
    cr_assert_gt(n2, 0, "without --own-only the reference is the target");
    for (int i = 0; i < n2; i++) {
        cr_assert(strstr(json_string_value(json_object_get(v[i], "completion")), "999999"));
        json_decref(v[i]);
    }
    free(v);
    ob.out = out_b;
    ob.own_only = true;
    cr_assert_eq(ttc_label_revision("models/generator.gguf", &ob, &e), TTC_OK, "%s", e.msg);
    FILE *of = fopen(out_b, "r");
    cr_assert(!of || fgetc(of) == EOF, "--own-only wrote examples for a problem the model never solved");
    if (of) fclose(of);

    /* ORM data: 2 problems x 2 chains x 3 attempts of the revision model */
    o.out = orm;
    o.limit = 2;
    o.samples = 2;
    o.chain = 3;
    cr_assert_eq(ttc_label_orm("models/revision.gguf", &o, &e), TTC_OK, "%s", e.msg);
    v = read_records(orm, &n);
    cr_assert_geq(n, 10, "%d records", n);
    for (int i = 0; i < n; i++) {
        int a = (int)json_integer_value(json_object_get(v[i], "attempt")), t = a % 3;
        int k = (int)json_integer_value(json_object_get(v[i], "context_attempts"));
        const char *problem = json_string_value(json_object_get(v[i], "problem"));
        cr_assert_eq(k, t, "attempt %d of its chain saw %d earlier ones", t, k);
        int right, m = context_attempts(problem, "0", &right);
        cr_assert_eq(m, k, "the ORM reads the %d attempts before: %s", k, problem);
        json_t *labels = json_object_get(v[i], "labels");
        size_t nl = json_array_size(labels);
        cr_assert(nl >= 1 && json_is_number(json_array_get(labels, nl - 1)));
        for (size_t j = 0; j + 1 < nl; j++) cr_assert(json_is_null(json_array_get(labels, j)));
    }
    /* --context 1: each revision reads only the attempt before it */
    char orm1[512];
    snprintf(orm1, sizeof orm1, "%s/orm1.jsonl", d);
    ttc_label_opts o1 = o;
    o1.out = orm1;
    o1.limit = 1;
    o1.samples = 1;
    o1.context = 1;
    cr_assert_eq(ttc_label_orm("models/revision.gguf", &o1, &e), TTC_OK, "%s", e.msg);
    int n1 = 0;
    json_t **v1 = read_records(orm1, &n1);
    cr_assert_eq(n1, 3);
    for (int i = 0; i < n1; i++) {
        int t = (int)json_integer_value(json_object_get(v1[i], "attempt")) % 3;
        cr_assert_eq(json_integer_value(json_object_get(v1[i], "context_attempts")), t ? 1 : 0);
        json_decref(v1[i]);
    }
    free(v1);
    /* quality of an ORM on these labels: one score per record, at its end */
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s label quality -m models/orm.gguf --data %s --json -t 2", tu_bin(), orm);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", cmd);
    json_t *q = json_loads(out, 0, NULL);
    cr_assert_not_null(q, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(q, "records")), n);
    cr_assert_eq(json_integer_value(json_object_get(q, "steps")), n, "one labeled, scored end per record");
    int binned = 0;
    json_t *bins = json_object_get(q, "bins");
    for (size_t b = 0; b < json_array_size(bins); b++)
        binned += (int)json_integer_value(json_object_get(json_array_get(bins, b), "n"));
    cr_assert_eq(binned, n);
    json_decref(q);
    free(out);
    for (int i = 0; i < n; i++) json_decref(v[i]);
    free(v);

    /* on-policy revision data: the revision model's own chains (greedy
     * revisions); every example's context is one the model saw, and its
     * target is right: the most recent right attempt in the context, else a
     * correct solution ("fix"), else (no context) a right first attempt */
    char onp[512];
    snprintf(onp, sizeof onp, "%s/onp.jsonl", d);
    ttc_label_opts op = {.data = "data/synth/train.jsonl", .out = onp, .offset = 1, .limit = 4, .samples = 2,
                         .chain = 3, .examples = 6, .on_policy = true, .temperature = 0.8f,
                         .revise_temp = 0, .revise_temp_set = true, .max_tokens = 256, .seed = 9, .threads = 2};
    cr_assert_eq(ttc_label_revision("models/revision.gguf", &op, &e), TTC_OK, "%s", e.msg);
    v = read_records(onp, &n);
    cr_assert_eq(n, 24, "4 problems x 6 examples");
    int kinds[3] = {0};
    for (int i = 0; i < n; i++) {
        const char *uid = json_string_value(json_object_get(v[i], "uid"));
        const char *ref = answer_of(probs, uid);
        cr_assert_not_null(ref, "%s", uid);
        const char *prompt = json_string_value(json_object_get(v[i], "prompt"));
        const char *target = json_string_value(json_object_get(v[i], "completion"));
        const char *recipe = json_string_value(json_object_get(v[i], "recipe"));
        int k = (int)json_integer_value(json_object_get(v[i], "attempts")), right;
        cr_assert_eq(context_attempts(prompt, ref, &right), k, "%s", prompt);
        cr_assert_leq(k, 2, "attempt t of a chain of 3 sees at most 2");
        char ans[256];
        cr_assert(ttc_extract_answer(target, ans, sizeof ans) && ttc_answer_equal(ans, ref), "target: %s", target);
        if (!strcmp(recipe, "keep")) {
            cr_assert_gt(right, 0);
            char head[64];
            snprintf(head, sizeof head, "%.40s", target);
            cr_assert(strstr(prompt, head), "keep copies an attempt of the context");
            kinds[0]++;
        } else if (!strcmp(recipe, "fix")) {
            cr_assert(right == 0 && k > 0, "fix: no right attempt in context (%d of %d)", right, k);
            kinds[1]++;
        } else {
            cr_assert_str_eq(recipe, "first");
            cr_assert_eq(k, 0);
            kinds[2]++;
        }
        json_decref(v[i]);
    }
    free(v);
    cr_assert(kinds[2] > 0 && kinds[0] + kinds[1] > 0, "keep %d fix %d first %d", kinds[0], kinds[1], kinds[2]);
    op.chain = 0;
    cr_assert_eq(ttc_label_revision("models/revision.gguf", &op, &e), TTC_EINVAL);
    for (int i = 0; i < 7; i++) json_decref(probs[i]);
}
