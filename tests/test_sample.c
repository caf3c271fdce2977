/* Sampling: greedy, the kept sets of top-k / top-p / min-p on hand-made
 * logits, sample frequencies, log-probabilities, determinism. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/sample.h"

static ttc_sampler smp;

static void setup(int n) {
    ttc_err e = {0};
    cr_assert_eq(ttc_sampler_init(&smp, n, &e), TTC_OK);
}

/* Sorted ids of the kept set. */
static int kept(int *ids) {
    for (int i = 0; i < smp.n_cand; i++) ids[i] = smp.cand[i].id;
    for (int i = 1; i < smp.n_cand; i++)
        for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) { int t = ids[j]; ids[j] = ids[j - 1]; ids[j - 1] = t; }
    return smp.n_cand;
}

/* probabilities (temperature 1) of these logits: log(p) as logits */
static void logits_from_probs(float *l, const double *p, int n) {
    for (int i = 0; i < n; i++) l[i] = (float)log(p[i]) + 3.0f; /* any shift */
}

Test(sample, greedy_is_argmax_with_lowest_id_on_ties) {
    setup(6);
    float l[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, 0.0f};
    ttc_sample_params p = {.temperature = 0};
    ttc_rng r;
    ttc_rng_seed(&r, 1);
    ttc_sample_out o;
    ttc_err e = {0};
    cr_assert_eq(ttc_sample(&smp, l, &p, &r, &o, &e), TTC_OK);
    cr_assert_eq(o.token, 1);
    cr_assert_eq(o.logprob_sampled, 0.0f);
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(l[i]);
    cr_assert_float_eq(o.logprob, (float)(2.0 - log(z)), 1e-5);
    cr_assert_eq(ttc_argmax(l, 6), 1);
    ttc_sampler_free(&smp);
}

Test(sample, top_k_top_p_min_p_keep_exact_sets) {
    enum { N = 8 };
    setup(N);
    double pr[N] = {0.05, 0.30, 0.02, 0.20, 0.15, 0.10, 0.08, 0.10};
    float l[N];
    logits_from_probs(l, pr, N);
    ttc_err e = {0};
    int ids[N];

    ttc_sample_params p = {.temperature = 1, .top_k = 3};
    cr_assert_eq(ttc_sampler_candidates(&smp, l, &p, &e), TTC_OK);
    cr_assert_eq(kept(ids), 3);
    cr_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 4);
    cr_assert_float_eq(smp.cand[0].v, 0.30f / 0.65f, 1e-5); /* renormalised, sorted */
    cr_assert_eq(smp.cand[0].id, 1);

    /* top-p 0.6: 0.30 + 0.20 = 0.50 < 0.6, + 0.15 = 0.65 >= 0.6 -> {1,3,4} */
    p = (ttc_sample_params){.temperature = 1, .top_p = 0.6f};
    cr_assert_eq(ttc_sampler_candidates(&smp, l, &p, &e), TTC_OK);
    cr_assert_eq(kept(ids), 3);
    cr_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 4);
    /* top-p 0.66: needs one of the two 0.10s: the lower id (5) wins the tie */
    p.top_p = 0.66f;
    cr_assert_eq(ttc_sampler_candidates(&smp, l, &p, &e), TTC_OK);
    cr_assert_eq(kept(ids), 4);
    cr_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 4 && ids[3] == 5);

    /* min-p 0.5: keep p >= 0.15 -> {1,3,4} */
    p = (ttc_sample_params){.temperature = 1, .min_p = 0.5f};
    cr_assert_eq(ttc_sampler_candidates(&smp, l, &p, &e), TTC_OK);
    cr_assert_eq(kept(ids), 3);
    cr_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 4);
    double sum = 0;
    for (int i = 0; i < smp.n_cand; i++) sum += smp.cand[i].v;
    cr_assert_float_eq(sum, 1.0, 1e-6);

    /* top-k 5 then top-p 0.8 over the renormalised five (mass 0.85):
     * 0.30/.85=.353, +.235=.588, +.176=.765, +.118=.882 >= .8 -> 4 kept */
    p = (ttc_sample_params){.temperature = 1, .top_k = 5, .top_p = 0.8f};
    cr_assert_eq(ttc_sampler_candidates(&smp, l, &p, &e), TTC_OK);
    cr_assert_eq(kept(ids), 4);
    cr_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 4 && ids[3] == 5);

    /* temperature first: T=0.5 squares the odds; min-p 0.2 of pmax keeps
     * p_i^2 >= 0.2 * 0.09 -> p_i >= 0.134 -> {1,3,4} */
    p = (ttc_sample_params){.temperature = 0.5f, .min_p = 0.2f};
    cr_assert_eq(ttc_sampler_candidates(&smp, l, &p, &e), TTC_OK);
    cr_assert_eq(kept(ids), 3);

    float bad[N];
    memcpy(bad, l, sizeof bad);
    bad[3] = NAN;
    cr_assert_eq(ttc_sampler_candidates(&smp, bad, &p, &e), TTC_ENUMERIC);
    ttc_sampler_free(&smp);
}

/* Top-p over a large vocabulary (histogram path): the kept set must equal
 * the one from a full sort. */
Test(sample, top_p_large_vocab_matches_full_sort) {
    enum { N = 5000 };
    setup(N);
    float *l = malloc(sizeof(float) * N);
    ttc_rng r;
    ttc_rng_seed(&r, 3);
    for (int i = 0; i < N; i++) l[i] = 4.0f * ttc_rng_normal(&r);
    double *pr = malloc(sizeof(double) * N), z = 0;
    int *ord = malloc(sizeof(int) * N);
    for (int i = 0; i < N; i++) { pr[i] = exp(l[i]); z += pr[i]; ord[i] = i; }
    for (int i = 1; i < N; i++) /* insertion sort by prob desc */
        for (int j = i; j > 0 && (pr[ord[j - 1]] < pr[ord[j]]); j--) { int t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t; }
    float tops[] = {0.5f, 0.9f, 0.99f, 0.999f};
    ttc_err e = {0};
    for (size_t t = 0; t < sizeof tops / sizeof *tops; t++) {
        double acc = 0;
        int want = 0;
        while (acc < tops[t] * z) acc += pr[ord[want++]];
        ttc_sample_params p = {.temperature = 1, .top_p = tops[t]};
        cr_assert_eq(ttc_sampler_candidates(&smp, l, &p, &e), TTC_OK);
        cr_assert_eq(smp.n_cand, want, "top_p %g: kept %d, want %d", tops[t], smp.n_cand, want);
        char *in = calloc(N, 1);
        for (int i = 0; i < want; i++) in[smp.cand[i].id] = 1;
        for (int i = 0; i < want; i++) cr_assert(in[ord[i]], "top_p %g: token %d (rank %d) missing", tops[t], ord[i], i);
        free(in);
    }
    free(l); free(pr); free(ord);
    ttc_sampler_free(&smp);
}

Test(sample, frequencies_follow_the_distribution) {
    enum { N = 4, DRAWS = 40000 };
    setup(N);
    double pr[N] = {0.1, 0.2, 0.3, 0.4};
    float l[N];
    logits_from_probs(l, pr, N);
    ttc_rng r;
    ttc_rng_seed(&r, 7);
    int hist[N] = {0};
    ttc_sample_params p = {.temperature = 1};
    ttc_err e = {0};
    for (int i = 0; i < DRAWS; i++) {
        ttc_sample_out o;
        cr_assert_eq(ttc_sample(&smp, l, &p, &r, &o, &e), TTC_OK);
        hist[o.token]++;
        cr_assert_float_eq(o.logprob, (float)log(pr[o.token]), 1e-5);
        cr_assert_float_eq(o.logprob_sampled, (float)log(pr[o.token]), 1e-5);
    }
    for (int i = 0; i < N; i++) {
        double f = (double)hist[i] / DRAWS, sd = sqrt(pr[i] * (1 - pr[i]) / DRAWS);
        cr_assert(fabs(f - pr[i]) < 5 * sd, "token %d: %g vs %g", i, f, pr[i]);
    }
    /* top-k 2 at T=1: logprob_sampled is under the renormalised pair */
    p.top_k = 2;
    ttc_sample_out o;
    cr_assert_eq(ttc_sample(&smp, l, &p, &r, &o, &e), TTC_OK);
    cr_assert(o.token == 2 || o.token == 3);
    cr_assert_float_eq(o.logprob_sampled, (float)log(pr[o.token] / 0.7), 1e-5);
    cr_assert_float_eq(o.logprob, (float)log(pr[o.token]), 1e-5);
    ttc_sampler_free(&smp);
}

Test(sample, same_seed_same_samples) {
    enum { N = 50 };
    setup(N);
    float l[N];
    for (int i = 0; i < N; i++) l[i] = sinf((float)i) * 2;
    ttc_sample_params p = {.temperature = 0.8f, .top_p = 0.95f, .min_p = 0.01f};
    ttc_rng a, b, c;
    ttc_rng_split(&a, 42, 3);
    ttc_rng_split(&b, 42, 3);
    ttc_rng_split(&c, 42, 4);
    ttc_err e = {0};
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        ttc_sample_out x, y, z;
        cr_assert_eq(ttc_sample(&smp, l, &p, &a, &x, &e), TTC_OK);
        cr_assert_eq(ttc_sample(&smp, l, &p, &b, &y, &e), TTC_OK);
        cr_assert_eq(ttc_sample(&smp, l, &p, &c, &z, &e), TTC_OK);
        cr_assert_eq(x.token, y.token);
        differ += x.token != z.token;
    }
    cr_assert_gt(differ, 20);
    ttc_sampler_free(&smp);
}

/* -inf logits (a vocabulary subset, a constraint) are never sampled and do
 * not disturb the others' probabilities. */
Test(sample, minus_infinity_logits_are_excluded) {
    enum { N = 300 };
    setup(N);
    float l[N];
    for (int i = 0; i < N; i++) l[i] = -INFINITY;
    l[7] = 1.0f;
    l[250] = 0.0f;
    ttc_rng r;
    ttc_rng_seed(&r, 9);
    ttc_err e = {0};
    ttc_sample_params ps[] = {{.temperature = 1}, {.temperature = 0.7f, .top_p = 0.99f}, {.temperature = 1.3f, .top_k = 50},
                              {.temperature = 1, .min_p = 0.01f}, {.temperature = 0}};
    double p7 = exp(1.0) / (exp(1.0) + 1.0);
    for (size_t k = 0; k < sizeof ps / sizeof *ps; k++) {
        int hits7 = 0;
        for (int i = 0; i < 2000; i++) {
            ttc_sample_out o;
            cr_assert_eq(ttc_sample(&smp, l, &ps[k], &r, &o, &e), TTC_OK, "%s", e.msg);
            cr_assert(o.token == 7 || o.token == 250, "params %zu drew %d", k, o.token);
            cr_assert(isfinite(o.logprob) && isfinite(o.logprob_sampled));
            cr_assert_float_eq(o.logprob, (float)log(o.token == 7 ? p7 : 1 - p7), 1e-5);
            hits7 += o.token == 7;
        }
        if (k == 0) cr_assert(fabs(hits7 / 2000.0 - p7) < 0.05, "%d", hits7);
        if (k == 4) cr_assert_eq(hits7, 2000);
    }
    ttc_sampler_free(&smp);
}
