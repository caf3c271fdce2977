/* Search strategies against a scripted generator and an oracle verifier
 * (tests/fake_lm.h): correctness of beam search, votes and tie-breaking,
 * exact budgets, lookahead cost, DVTS independence, revision context,
 * determinism. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/prompt.h"
#include "fake_lm.h"
#include "search/select.h"
#include "search/strategy.h"

/* A tree of D levels of steps, then a final answer step. At every node one
 * "right" step (weight p_good) and three "wrong" ones share the weight; the
 * oracle gives 1 to steps on the all-right path and 0 elsewhere. Only the
 * all-right path ends in 42. */
static void build_gw(fake_tree *t, int parent, int depth, int D, bool good, double p_good) {
    char buf[64];
    if (depth == D) {
        cr_assert(fake_tree_add(t, parent, good ? "The answer is \\boxed{42}.\n"
                                                : "The answer is \\boxed{7}.\n", 1, good ? 1 : 0, true) > 0);
        return;
    }
    snprintf(buf, sizeof buf, "Step %d is right.\n", depth + 1);
    int k = fake_tree_add(t, parent, buf, p_good, good ? 1 : 0, false);
    build_gw(t, k, depth + 1, D, good, p_good);
    for (int w = 0; w < 3; w++) {
        snprintf(buf, sizeof buf, "Step %d is wrong in way %d.\n", depth + 1, w);
        k = fake_tree_add(t, parent, buf, (1 - p_good) / 3, 0, false);
        build_gw(t, k, depth + 1, D, false, p_good);
    }
}

/* A binary tree of depth D without final steps: solutions never end early. */
static void build_deep(fake_tree *t, int parent, int depth, int D) {
    if (depth == D) return;
    char buf[64];
    snprintf(buf, sizeof buf, "Step %d goes left.\n", depth + 1);
    build_deep(t, fake_tree_add(t, parent, buf, 0.6, 0.6f, false), depth + 1, D);
    snprintf(buf, sizeof buf, "Step %d goes right.\n", depth + 1);
    build_deep(t, fake_tree_add(t, parent, buf, 0.4, 0.4f, false), depth + 1, D);
}

typedef struct fixture {
    fake_tree *t;
    fake_stats st;
    ttc_generator *g;
    ttc_verifier *v;
} fixture;

static void fx_open(fixture *f, fake_tree *t, bool orm) {
    memset(f, 0, sizeof *f);
    f->t = t;
    f->g = fake_generator_new(t, &f->st);
    f->v = fake_oracle_new(t, orm, &f->st);
    cr_assert(f->g && f->v);
}

static void fx_close(fixture *f) {
    ttc_generator_free(f->g);
    ttc_verifier_free(f->v);
}

static ttc_search_result run_ok(fixture *f, const ttc_search_params *p) {
    ttc_search_result r;
    ttc_err e = {0};
    int rc = ttc_search_run(p, f->g, f->v, "What is six times seven?", &r, &e);
    cr_assert_eq(rc, TTC_OK, "%s: %s", ttc_search_method_name(p->method), e.msg);
    cr_assert_eq(f->st.live, 0, "generator nodes leaked: %lld", (long long)f->st.live);
    cr_assert_eq(f->st.v_live, 0, "verifier nodes leaked: %lld", (long long)f->st.v_live);
    return r;
}

/* ---- votes -------------------------------------------------------------------- */

Test(select, weighted_tie_breaking) {
    /* equal sums and counts: the answer that appears first wins; its best member */
    const char *k1[] = {"7", "42", "7", "42"};
    float s1[] = {0.4f, 0.5f, 0.6f, 0.5f};
    cr_assert_eq(ttc_select(TTC_VOTE_WEIGHTED, k1, s1, 4), 2);
    /* equal sums: more votes wins */
    const char *k2[] = {"42", "7", "7"};
    float s2[] = {1.0f, 0.5f, 0.5f};
    cr_assert_eq(ttc_select(TTC_VOTE_WEIGHTED, k2, s2, 3), 1);
    /* a clear sum wins over votes */
    float s3[] = {1.5f, 0.5f, 0.5f};
    cr_assert_eq(ttc_select(TTC_VOTE_WEIGHTED, k2, s3, 3), 0);
    /* NaN adds nothing, no-answer candidates never win while others exist */
    const char *k4[] = {"", "3", "4"};
    float s4[] = {5.0f, NAN, 0.1f};
    cr_assert_eq(ttc_select(TTC_VOTE_WEIGHTED, k4, s4, 3), 2);
    cr_assert_eq(ttc_select(TTC_VOTE_BEST, k4, s4, 3), 2);
    cr_assert_eq(ttc_select(TTC_VOTE_MAJORITY, k4, NULL, 3), 1);
    /* subsets index into the full arrays */
    int idx[] = {3, 1};
    cr_assert_eq(ttc_select_subset(TTC_VOTE_WEIGHTED, k1, s1, idx, 2), 1);  /* tie: lower index */
    cr_assert_eq(ttc_select(TTC_VOTE_WEIGHTED, k1, s1, 0), -1);
}

Test(select, majority_and_best_ties) {
    const char *k[] = {"a", "b", "b", "a"};
    float s[] = {0.1f, 0.9f, 0.2f, 0.1f};
    cr_assert_eq(ttc_select(TTC_VOTE_MAJORITY, k, s, 4), 1);     /* tie 2-2: larger sum (b) */
    cr_assert_eq(ttc_select(TTC_VOTE_MAJORITY, k, NULL, 4), 0);  /* no scores: first answer */
    float t[] = {0.5f, 0.5f, 0.5f, 0.5f};
    cr_assert_eq(ttc_select(TTC_VOTE_BEST, k, t, 4), 0);
    cr_assert_eq(ttc_select(TTC_VOTE_BEST, k, s, 4), 1);
}

Test(select, aggregation) {
    float s[] = {0.5f, 0.2f, 0.8f};
    cr_assert_float_eq(ttc_agg_apply(TTC_AGG_LAST, s, 3), 0.8f, 1e-6);
    cr_assert_float_eq(ttc_agg_apply(TTC_AGG_MIN, s, 3), 0.2f, 1e-6);
    cr_assert_float_eq(ttc_agg_apply(TTC_AGG_PROD, s, 3), 0.08f, 1e-6);
    cr_assert_float_eq(ttc_agg_apply(TTC_AGG_MEAN, s, 3), 0.5f, 1e-6);
    cr_assert(isnan(ttc_agg_apply(TTC_AGG_LAST, s, 0)));
    ttc_agg a;
    ttc_err e = {0};
    cr_assert_eq(ttc_agg_parse("prod", &a, &e), TTC_OK);
    cr_assert_eq(a, TTC_AGG_PROD);
    cr_assert_eq(ttc_agg_parse("median", &a, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "median"));
}

Test(search, flops_formula) {
    ttc_lm_info in = {.n_params = 100, .n_layer = 2, .d_attn = 8};
    /* 3 tokens at positions 2,3,4: 2*100*3 + 4*2*8*(3+4+5) */
    cr_assert_float_eq(ttc_lm_flops(&in, 2, 3), 600.0 + 64.0 * 12, 1e-9);
    cr_assert_eq(ttc_lm_flops(&in, 5, 0), 0.0);
}

/* ---- strategies ----------------------------------------------------------------- */

Test(search, beam_finds_correct_path_bon_often_does_not) {
    fake_tree *t = fake_tree_new();
    build_gw(t, 0, 0, 4, true, 0.3);
    int beam_ok = 0, bon_ok = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        fixture f;
        fx_open(&f, t, false);
        ttc_search_params p;
        ttc_search_params_default(&p, TTC_SEARCH_BEAM, 32);
        p.seed = seed;
        ttc_search_result r = run_ok(&f, &p);
        cr_assert_float_eq(r.budget.generations, 32.0, 1e-9);
        cr_assert_eq(r.budget.rounds, 5);
        beam_ok += !strcmp(r.answer, "42");
        ttc_search_result_free(&r);
        ttc_search_params_default(&p, TTC_SEARCH_BON_WEIGHTED, 32);
        p.seed = seed;
        r = run_ok(&f, &p);
        cr_assert_float_eq(r.budget.generations, 32.0, 1e-9);
        bon_ok += !strcmp(r.answer, "42");
        ttc_search_result_free(&r);
        fx_close(&f);
    }
    /* P(right step) = 0.3 per level: best-of-32 holds an all-right sample
     * with probability 1-(1-0.3^4)^32 = 23%; beam search (8 beams of width
     * 4) keeps every right step it sees and found one in 200 of 200 seeds. */
    cr_assert_eq(beam_ok, 10, "beam search found 42 in %d of 10 runs", beam_ok);
    cr_assert_leq(bon_ok, 5, "best-of-N found 42 in %d of 10 runs", bon_ok);
    fake_tree_free(t);
}

Test(search, budget_counts_what_ran) {
    fake_tree *t = fake_tree_new();
    build_gw(t, 0, 0, 3, true, 0.5);
    const ttc_search_method ms[] = {TTC_SEARCH_BEAM, TTC_SEARCH_LOOKAHEAD, TTC_SEARCH_DVTS,
                                    TTC_SEARCH_BON, TTC_SEARCH_BON_WEIGHTED, TTC_SEARCH_MAJORITY,
                                    TTC_SEARCH_REVISE};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        fixture f;
        fx_open(&f, t, false);
        ttc_search_params p;
        ttc_search_params_default(&p, ms[i], 8);
        p.beam_width = 2;
        p.revise_len = 4;
        p.seed = 11;
        ttc_search_result r = run_ok(&f, &p);
        const ttc_budget *b = &r.budget;
        const char *name = ttc_search_method_name(ms[i]);
        cr_assert_eq(b->tokens_generated, f.st.tokens, "%s", name);
        cr_assert_eq(b->tokens_prefill, f.st.prefill, "%s", name);
        cr_assert_eq(b->tokens_scored, f.st.v_tokens, "%s", name);
        cr_assert_eq(b->gen_calls, f.st.roots + f.st.extend_calls, "%s", name);
        cr_assert_eq(b->step_samples + b->rollout_steps + b->full_samples, f.st.node_extends, "%s", name);
        cr_assert_float_eq(b->flops_generator, f.g->usage.flops, 1e-6, "%s", name);
        cr_assert_float_eq(b->flops_verifier, f.v->usage.flops, 1e-6, "%s", name);
        cr_assert_gt(b->flops_generator, 2.0 * 1000 * (double)f.st.tokens, "%s: attention adds", name);
        /* the tokens of every candidate's path are among those generated */
        int64_t sum = 0;
        for (int c = 0; c < r.n_cands; c++) sum += r.cands[c].n_tokens;
        cr_assert_leq(sum, b->tokens_generated, "%s", name);
        if (ms[i] == TTC_SEARCH_MAJORITY) {
            cr_assert_eq(f.st.score_calls + f.st.final_calls + f.st.v_roots, 0, "majority used the verifier");
            cr_assert(isnan(r.cands[0].score));
        }
        if (ms[i] >= TTC_SEARCH_BEAM && ms[i] <= TTC_SEARCH_DVTS) {
            cr_assert_leq(r.n_cands, 8, "%s returned %d solutions", name, r.n_cands);
            cr_assert_eq(b->full_samples, 0);
        } else {
            cr_assert_eq(r.n_cands, 8, "%s", name);
            cr_assert_eq(b->full_samples, 8, "%s", name);
            cr_assert_float_eq(b->generations, 8.0, 1e-9, "%s", name);
        }
        ttc_search_result_free(&r);
        fx_close(&f);
    }
    fake_tree_free(t);
}

Test(search, lookahead_cost_is_n_times_k_plus_1) {
    fake_tree *t = fake_tree_new();
    build_deep(t, 0, 0, 8);
    fixture f;
    fx_open(&f, t, false);
    ttc_search_params p;
    ttc_search_params_default(&p, TTC_SEARCH_LOOKAHEAD, 4);
    p.beam_width = 2;
    p.lookahead = 2;
    p.max_rounds = 3;
    ttc_search_result r = run_ok(&f, &p);
    cr_assert_eq(r.budget.rounds, 3);
    cr_assert_eq(r.budget.step_samples, 4 * 3);
    cr_assert_eq(r.budget.rollout_steps, 4 * 2 * 3);
    cr_assert_float_eq(r.budget.generations, 4.0 * (2 + 1), 1e-9);
    cr_assert_eq(f.st.node_extends, 4 * 3 * 3);
    /* beams still open after the last round are returned unfinished */
    cr_assert_eq(r.n_cands, 2);
    cr_assert(!r.cands[0].finished);
    cr_assert_eq(r.cands[0].n_steps, 3);
    ttc_search_result_free(&r);
    /* the same without lookahead costs N */
    ttc_search_params_default(&p, TTC_SEARCH_BEAM, 4);
    p.beam_width = 2;
    p.max_rounds = 3;
    r = run_ok(&f, &p);
    cr_assert_float_eq(r.budget.generations, 4.0, 1e-9);
    ttc_search_result_free(&r);
    fx_close(&f);
    fake_tree_free(t);
}

Test(search, lookahead_sees_past_a_trap) {
    /* A looks better now (0.9 vs 0.5) but leads to a wrong answer; B leads to
     * the right one. With one beam kept, beam search takes A and lookahead
     * (k = 1) takes B. */
    fake_tree *t = fake_tree_new();
    int a = fake_tree_add(t, 0, "Try plan A.\n", 0.5, 0.9f, false);
    int b = fake_tree_add(t, 0, "Try plan B.\n", 0.5, 0.5f, false);
    int a2 = fake_tree_add(t, a, "Plan A fails.\n", 1, 0.0f, false);
    int b2 = fake_tree_add(t, b, "Plan B works.\n", 1, 1.0f, false);
    fake_tree_add(t, a2, "The answer is \\boxed{7}.\n", 1, 0.0f, true);
    fake_tree_add(t, b2, "The answer is \\boxed{42}.\n", 1, 1.0f, true);
    fixture f;
    fx_open(&f, t, false);
    ttc_search_params p;
    ttc_search_params_default(&p, TTC_SEARCH_BEAM, 8);
    p.beam_width = 8;
    ttc_search_result r = run_ok(&f, &p);
    cr_assert_str_eq(r.answer, "7");
    ttc_search_result_free(&r);
    ttc_search_params_default(&p, TTC_SEARCH_LOOKAHEAD, 8);
    p.beam_width = 8;
    p.lookahead = 1;
    r = run_ok(&f, &p);
    cr_assert_str_eq(r.answer, "42");
    cr_assert(strstr(r.solution, "Plan B works."));
    ttc_search_result_free(&r);
    fx_close(&f);
    fake_tree_free(t);
}

Test(search, majority_and_weighted_differ) {
    fake_tree *t = fake_tree_new();
    fake_tree_add(t, 0, "Guess: \\boxed{7}.\n", 0.6, 0.1f, true);
    fake_tree_add(t, 0, "Compute 6*7 = \\boxed{42}.\n", 0.4, 0.9f, true);
    fixture f;
    fx_open(&f, t, false);
    ttc_search_params p;
    ttc_search_params_default(&p, TTC_SEARCH_MAJORITY, 12);
    p.seed = 3;
    ttc_search_result maj = run_ok(&f, &p);
    p.method = TTC_SEARCH_BON_WEIGHTED;
    ttc_search_result wei = run_ok(&f, &p);
    int n7 = 0, n42 = 0;
    for (int i = 0; i < wei.n_cands; i++) {
        n7 += !strcmp(wei.cands[i].answer, "7");
        n42 += !strcmp(wei.cands[i].answer, "42");
        cr_assert_str_eq(wei.cands[i].text, maj.cands[i].text, "same seed, same samples");
    }
    cr_assert_eq(n7 + n42, 12);
    cr_assert(n7 > n42 && 0.1 * n7 < 0.9 * n42, "constructed case: %d sevens, %d 42s", n7, n42);
    cr_assert_str_eq(maj.answer, "7");
    cr_assert_str_eq(wei.answer, "42");
    ttc_search_result_free(&maj);
    ttc_search_result_free(&wei);
    fx_close(&f);
    fake_tree_free(t);
}

/* Texts of the candidates of group g, joined. */
static char *group_texts(const ttc_search_result *r, int g) {
    size_t n = 1;
    for (int i = 0; i < r->n_cands; i++) if (r->cands[i].group == g) n += strlen(r->cands[i].text) + 1;
    char *s = calloc(1, n);
    for (int i = 0; i < r->n_cands; i++)
        if (r->cands[i].group == g) { strcat(s, r->cands[i].text); strcat(s, "|"); }
    return s;
}

Test(search, dvts_subtrees_independent) {
    fake_tree *t = fake_tree_new();
    build_gw(t, 0, 0, 3, true, 0.4);
    fixture f;
    fx_open(&f, t, false);
    ttc_search_result r[3];
    const int ns[3] = {4, 8, 12};
    for (int i = 0; i < 3; i++) {
        ttc_search_params p;
        ttc_search_params_default(&p, TTC_SEARCH_DVTS, ns[i]);
        p.beam_width = 4;
        p.seed = 99;
        r[i] = run_ok(&f, &p);
        for (int g = 0; g < ns[i] / 4; g++) {
            int count = 0;
            for (int c = 0; c < r[i].n_cands; c++) count += r[i].cands[c].group == g;
            cr_assert(count >= 1 && count <= 4, "subtree %d returned %d solutions", g, count);
        }
    }
    for (int g = 0; g < 2; g++) {
        char *a = group_texts(&r[g == 0 ? 0 : 1], g), *b = group_texts(&r[2], g);
        cr_assert_str_eq(a, b, "subtree %d depends on the number of subtrees", g);
        free(a);
        free(b);
    }
    char *g0 = group_texts(&r[2], 0), *g1 = group_texts(&r[2], 1);
    cr_assert_str_neq(g0, g1, "subtrees should differ (own seeds)");
    free(g0);
    free(g1);
    for (int i = 0; i < 3; i++) ttc_search_result_free(&r[i]);
    fx_close(&f);
    fake_tree_free(t);
}

Test(search, revision_context_at_most_four) {
    fake_tree *t = fake_tree_new();
    fake_tree_add(t, 0, "Try one: \\boxed{41}.\n", 1, 0.2f, true);
    fake_tree_add(t, 0, "Try two: \\boxed{42}.\n", 1, 0.9f, true);
    fake_tree_add(t, 0, "Try three: \\boxed{43}.\n", 1, 0.1f, true);
    fixture f;
    fx_open(&f, t, true);   /* ORM */
    ttc_search_params p;
    ttc_search_params_default(&p, TTC_SEARCH_REVISE, 14);
    p.revise_len = 7;       /* two chains of seven */
    p.seed = 5;
    const char *problem = "What is six times seven?";
    ttc_search_result r = run_ok(&f, &p);
    cr_assert_eq(r.n_cands, 14);
    cr_assert_eq(fake_generator_n_prompts(f.g), 14);
    /* Attempts run round by round over the chains: prompt k*2 + c is chain
     * c's attempt k, conditioned on its own last min(k, 4) attempts. */
    for (int k = 0; k < 7; k++)
        for (int c = 0; c < 2; c++) {
            const ttc_candidate *x = &r.cands[c * 7 + k];
            cr_assert_eq(x->group, c);
            cr_assert_eq(x->index, k);
            int m = k < 4 ? k : 4;
            const char *prev[4];
            for (int j = 0; j < m; j++) prev[j] = r.cands[c * 7 + k - m + j].text;
            char *want = ttc_prompt_revise(problem, prev, m);
            cr_assert_str_eq(fake_generator_prompt(f.g, k * 2 + c), want, "chain %d attempt %d", c, k);
            free(want);
        }
    /* the ORM reads each attempt after the attempts its prompt held: one
     * root per attempt (chain c, attempt k at c * 7 + k) */
    cr_assert_eq(fake_verifier_n_roots(f.v), 14);
    for (int i = 0; i < 14; i++) {
        int k = i % 7, m = k < 4 ? k : 4;
        const char *prev[4];
        for (int j = 0; j < m; j++) prev[j] = r.cands[i - m + j].text;
        char *want = ttc_prompt_revise_context(problem, prev, m), *full = ttc_prompt_solve(want);
        char *gen = ttc_prompt_revise(problem, prev, m);
        cr_assert_str_eq(fake_verifier_root(f.v, i), want, "attempt %d", i);
        cr_assert_str_eq(full, gen, "the ORM's prefix is the revision prompt");
        free(want); free(full); free(gen);
    }
    cr_assert(strstr(fake_generator_prompt(f.g, 12), "Attempt 4:"));
    cr_assert_null(strstr(fake_generator_prompt(f.g, 12), "Attempt 5:"));
    cr_assert_float_eq(r.budget.generations, 14.0, 1e-9);
    cr_assert_eq(f.st.final_calls, 1, "ORM scored all attempts in one batch");
    /* hierarchical selection with an oracle ORM picks the best answer when
     * it is sampled in some chain */
    bool has42 = false;
    for (int i = 0; i < 14; i++) has42 |= !strcmp(r.cands[i].answer, "42");
    cr_assert(has42);
    cr_assert_str_eq(r.answer, "42");
    ttc_search_result_free(&r);
    p.revise_select = TTC_REVISE_MAJORITY;
    r = run_ok(&f, &p);
    int cnt[3] = {0};
    for (int i = 0; i < 14; i++) cnt[atoi(r.cands[i].answer) - 41]++;
    int best = cnt[1] > cnt[0] ? (cnt[2] > cnt[1] ? 2 : 1) : (cnt[2] > cnt[0] ? 2 : 0);
    cr_assert_eq(atoi(r.answer) - 41, best);
    /* sampled at temperature, the revisions vary like the first attempts */
    bool varied = false;
    for (int i = 0; i < 14; i++) varied |= i % 7 > 0 && strcmp(r.cands[i].answer, "41");
    cr_assert(varied);
    ttc_search_result_free(&r);
    /* greedy revisions (revise_temperature 0): the first attempt of a chain
     * is still sampled, every later one is the greedy path (the first of
     * the tied steps) */
    p.revise_temperature = 0;
    r = run_ok(&f, &p);
    bool first_varied = false;
    for (int i = 0; i < 14; i++) {
        if (i % 7) cr_assert_str_eq(r.cands[i].answer, "41", "attempt %d", i);
        else first_varied |= strcmp(r.cands[i].answer, "41") != 0;
    }
    cr_assert(first_varied, "the first attempts are sampled");
    ttc_search_result_free(&r);
    p.revise_temperature = NAN;
    ttc_err e = {0};
    cr_assert_eq(ttc_search_params_check(&p, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "revise_temperature"), "%s", e.msg);
    fx_close(&f);
    fake_tree_free(t);
}

Test(search, same_seed_same_result) {
    fake_tree *t = fake_tree_new();
    build_gw(t, 0, 0, 3, true, 0.4);
    const ttc_search_method ms[] = {TTC_SEARCH_BEAM, TTC_SEARCH_LOOKAHEAD, TTC_SEARCH_DVTS,
                                    TTC_SEARCH_BON_WEIGHTED, TTC_SEARCH_REVISE};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        char *js[3];
        for (int run = 0; run < 3; run++) {
            fixture f;
            fx_open(&f, t, false);
            ttc_search_params p;
            ttc_search_params_default(&p, ms[i], 8);
            p.beam_width = 2;
            p.revise_len = 4;
            p.seed = run == 2 ? 1234 : 77;
            ttc_search_result r = run_ok(&f, &p);
            r.budget.wall_seconds = 0;
            ttc_err e = {0};
            cr_assert_eq(ttc_search_result_json(&r, true, &js[run], &e), TTC_OK, "%s", e.msg);
            ttc_search_result_free(&r);
            fx_close(&f);
        }
        const char *name = ttc_search_method_name(ms[i]);
        cr_assert_str_eq(js[0], js[1], "%s not deterministic", name);
        cr_assert_str_neq(js[0], js[2], "%s ignores the seed", name);
        for (int run = 0; run < 3; run++) free(js[run]);
    }
    fake_tree_free(t);
}

Test(search, bad_params_and_wrong_verifier) {
    fake_tree *t = fake_tree_new();
    build_gw(t, 0, 0, 1, true, 0.5);
    fixture f;
    fx_open(&f, t, true);
    ttc_search_params p;
    ttc_search_result r;
    ttc_err e = {0};
    ttc_search_params_default(&p, TTC_SEARCH_DVTS, 6);
    p.beam_width = 4;
    cr_assert_eq(ttc_search_run(&p, f.g, f.v, "x", &r, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "beam_width"), "%s", e.msg);
    ttc_search_params_default(&p, TTC_SEARCH_BEAM, 4);
    cr_assert_eq(ttc_search_run(&p, f.g, f.v, "x", &r, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "PRM"), "%s", e.msg);
    cr_assert_eq(ttc_search_run(&p, f.g, NULL, "x", &r, &e), TTC_EINVAL);
    ttc_search_params_default(&p, TTC_SEARCH_BON, 0);
    cr_assert_eq(ttc_search_run(&p, f.g, f.v, "x", &r, &e), TTC_EINVAL);
    ttc_search_method m;
    cr_assert_eq(ttc_search_method_parse("bon-weighted", &m, &e), TTC_OK);
    cr_assert_eq(m, TTC_SEARCH_BON_WEIGHTED);
    cr_assert_eq(ttc_search_method_parse("mcts", &m, &e), TTC_EINVAL);
    cr_assert_eq(f.st.live + f.st.v_live, 0);
    fx_close(&f);
    fake_tree_free(t);
}

Test(search, bon_with_outcome_verifier) {
    fake_tree *t = fake_tree_new();
    fake_tree_add(t, 0, "Guess: \\boxed{7}.\n", 0.7, 0.2f, true);
    int k = fake_tree_add(t, 0, "Compute 6*7.\n", 0.3, 0.5f, false);
    fake_tree_add(t, k, "So \\boxed{42}.\n", 1, 0.95f, true);
    fixture f;
    fx_open(&f, t, true);
    ttc_search_params p;
    ttc_search_params_default(&p, TTC_SEARCH_BON, 8);
    p.seed = 2;
    ttc_search_result r = run_ok(&f, &p);
    cr_assert_eq(f.st.final_calls, 1, "one batched ORM call");
    cr_assert_eq(f.st.score_calls, 0);
    bool has42 = false;
    for (int i = 0; i < r.n_cands; i++) {
        has42 |= !strcmp(r.cands[i].answer, "42");
        cr_assert_float_eq(r.cands[i].score, strcmp(r.cands[i].answer, "42") ? 0.2f : 0.95f, 1e-6);
        cr_assert_eq(r.cands[i].n_steps, 0, "an ORM gives no step scores");
    }
    cr_assert(has42);
    cr_assert_str_eq(r.answer, "42");
    cr_assert_str_eq(r.solution, "Compute 6*7.\nSo \\boxed{42}.\n");
    ttc_search_result_free(&r);
    fx_close(&f);
    fake_tree_free(t);
}

Test(search, revision_context_shrinks_to_fit) {
    fake_tree *t = fake_tree_new();
    fake_tree_add(t, 0, "One long attempt with quite a few words in it: \\boxed{41}.\n", 1, 0.2f, true);
    fake_tree_add(t, 0, "Another long attempt with many words in it too: \\boxed{42}.\n", 1, 0.9f, true);
    fixture f;
    fx_open(&f, t, true);
    const char *problem = "What is six times seven?";
    /* room for the problem and two attempts, not three */
    const char *two[2] = {"One long attempt with quite a few words in it: \\boxed{41}.\n",
                          "Another long attempt with many words in it too: \\boxed{42}.\n"};
    char *p2 = ttc_prompt_revise(problem, two, 2);
    fake_generator_set_max_prompt(f.g, fake_words(p2) + 1);
    free(p2);
    ttc_search_params p;
    ttc_search_params_default(&p, TTC_SEARCH_REVISE, 6);
    p.seed = 8;
    ttc_search_result r = run_ok(&f, &p);
    cr_assert_eq(r.n_cands, 6);
    cr_assert_eq(fake_generator_n_prompts(f.g), 6);
    for (int k = 0; k < 6; k++) {
        int m = k < 2 ? k : 2;
        const char *prev[2];
        for (int j = 0; j < m; j++) prev[j] = r.cands[k - m + j].text;
        char *want = ttc_prompt_revise(problem, prev, m);
        cr_assert_str_eq(fake_generator_prompt(f.g, k), want, "attempt %d", k);
        free(want);
    }
    ttc_search_result_free(&r);
    /* a problem that never fits is an error, not a hang */
    fake_generator_set_max_prompt(f.g, 2);
    ttc_err e = {0};
    cr_assert_eq(ttc_search_run(&p, f.g, f.v, problem, &r, &e), TTC_ENOMEM);
    cr_assert_eq(f.st.live, 0);
    fx_close(&f);
    fake_tree_free(t);
}

Test(search, step_split_rule) {
    cr_assert_eq(ttc_lm_step_len("a b\nc\n"), 4);
    cr_assert_eq(ttc_lm_step_len("\n\nx = 1\nrest"), 8);    /* blank lines join the next step */
    cr_assert_eq(ttc_lm_step_len("last step, no newline"), 21);
    cr_assert_eq(ttc_lm_step_len("\n \n"), 3);              /* only blanks: all of it */
    cr_assert_eq(ttc_lm_step_len(""), 0);
}
