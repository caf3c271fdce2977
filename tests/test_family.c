/* Family data builders: pieces that need no trained model. */
#include <criterion/criterion.h>

#include <math.h>

#include "family/labels.h"

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
