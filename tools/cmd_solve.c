/* ttc solve: one problem, one test-time compute strategy, on local models or
 * remote engines. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "cli.h"
#include "data/prompt.h"
#include "model/ctx.h"
#include "model/model.h"
#include "optimal/policy.h"
#include "search/lm_local.h"
#include "search/prm.h"
#include "search/strategy.h"
#include "serve/remote.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: ttc solve -m GENERATOR.gguf [--prm PRM.gguf] --strategy S --n N [options] [-p PROBLEM]\n"
        "       ttc solve -m GENERATOR.gguf --prm PRM.gguf --strategy auto --budget B --policy FILE\n"
        "Solves one problem (from -p, else stdin) and prints the answer, the chosen\n"
        "solution and the compute used.\n"
        "  -m, --model PATH        generator model\n"
        "  --prm PATH              process verifier (beam, lookahead, dvts, bon, bon-weighted);\n"
        "                          'likelihood': the generator's own token probabilities\n"
        "  --orm PATH              outcome verifier (bon, bon-weighted, revise)\n"
        "  --revision-model PATH   generator for revise (default: -m)\n"
        "                          Each model may instead be a remote engine: openai:URL\n"
        "                          (generators), openai:[pooling+]URL (verifiers)\n"
        "  --prm-format NAME       verifier format preset (default: the file's ttc.prm.* keys,\n"
        "                          else ttc); one of %s\n"
        "  --strategy S            majority, bon, bon-weighted, beam, lookahead, dvts, revise,\n"
        "                          or auto (the compute-optimal policy picks per problem)\n"
        "  --n N                   budget in generations (default 16)\n"
        "  --budget B              same as --n (for auto)\n"
        "  --policy FILE           policy.json from `ttc experiment` (auto; revisions need\n"
        "                          --revision-model and --orm, else best-of-N weighted)\n"
        "  --beam-width M          beam width (beam, lookahead, dvts; default min(4, N))\n"
        "  --lookahead K           lookahead steps (default 2)\n"
        "  --revise-len L          attempts per revision chain (default N: one chain)\n"
        "  --revise-select S       verifier (hierarchical best-of-N weighted) or majority\n"
        "  --agg A                 step-score aggregation: last, min, prod, mean (default last)\n"
        "  --temp T                sampling temperature (default 0.8)\n"
        "  --revise-temp T         temperature of a chain's revisions (attempts 2..;\n"
        "                          default 0: greedy, as the experiment runs them;\n"
        "                          with --strategy auto, the policy's)\n"
        "  --revise-context K      earlier attempts a revision reads, 0..4 (default 4;\n"
        "                          with --strategy auto, the policy's)\n"
        "  --top-p P               nucleus sampling (default 1 = off)\n"
        "  --max-tokens N          tokens per full solution (default: up to the context)\n"
        "  --max-step-tokens N     tokens per step in tree searches (default: no limit)\n"
        "  --rounds R              tree-search rounds (default 40)\n"
        "  --seed S                random seed (default 0)\n"
        "  --ctx N                 context per sequence (default min(model, 4096))\n"
        "  -t, --threads T         threads (default: one per CPU)\n"
        "  --json                  print one JSON object (with every candidate)\n",
        ttc_prm_preset_names());
}

/* Reads all of stdin into a fresh string, trailing newlines dropped. */
static char *read_stdin(void) {
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    for (size_t k; s && (k = fread(s + n, 1, cap - n - 1, stdin)) > 0;) {
        n += k;
        if (n + 1 == cap) {
            char *x = realloc(s, cap *= 2);
            if (!x) { free(s); return NULL; }
            s = x;
        }
    }
    if (!s) return NULL;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    s[n] = 0;
    return s;
}

/* A loaded model with its own context. */
typedef struct backend {
    ttc_model *m;
    ttc_ctx   *c;
} backend;

static int backend_open(backend *b, const char *path, int n_ctx, int n_seq, size_t kv, ttc_pool *pool, ttc_err *e) {
    int rc = ttc_model_load(path, NULL, &b->m, e);
    if (rc) return rc;
    if (!b->m->tok) return ttc_err_set(e, TTC_EINVAL, "%s: the model has no tokenizer", path);
    ttc_ctx_params cp = {.n_ctx = n_ctx, .n_seq_max = n_seq, .kv_tokens = kv, .pool = pool};
    return ttc_ctx_new(b->m, &cp, &b->c, e);
}

static void backend_close(backend *b) {
    ttc_ctx_free(b->c);
    ttc_model_free(b->m);
}

static void print_text(const ttc_search_result *r) {
    const ttc_budget *b = &r->budget;
    printf("answer: %s\n\nsolution:\n%s", r->answer, r->solution);
    if (r->solution[0] && r->solution[strlen(r->solution) - 1] != '\n') putchar('\n');
    printf("\ncompute (%s, n=%d): %.2f generations, %d candidates, %lld rounds\n",
           ttc_search_method_name(r->params.method), r->params.n, b->generations, r->n_cands,
           (long long)b->rounds);
    printf("  generator: %lld tokens sampled, %lld prefilled, %.3g FLOPs\n", (long long)b->tokens_generated,
           (long long)b->tokens_prefill, b->flops_generator);
    printf("  verifier:  %lld tokens scored, %.3g FLOPs\n", (long long)b->tokens_scored, b->flops_verifier);
    printf("  wall time: %.2f s\n", b->wall_seconds);
}

int cmd_solve(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *gen_path = NULL, *prm_path = NULL, *orm_path = NULL, *rev_path = NULL, *fmt_name = NULL;
    const char *problem_arg = NULL, *strategy = NULL, *policy_path = NULL;
    long n = 16, width = 0, look = -1, rlen = 0, max_tok = 0, max_step = 0, rounds = TTC_SEARCH_MAX_ROUNDS;
    long seed = 0, n_ctx = 0, threads = 0, rctx = -1;
    double temp = 0.8, top_p = 1.0, rtemp = -1;
    bool json = false;
    ttc_agg agg = TTC_AGG_LAST;
    ttc_revise_select rsel = TTC_REVISE_VERIFIER;
    ttc_err e = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (i + 1 >= argc) return cli_bad_args("solve", "%s needs a value (or is unknown)", a);
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) gen_path = v;
        else if (!strcmp(a, "--prm")) prm_path = v;
        else if (!strcmp(a, "--orm")) orm_path = v;
        else if (!strcmp(a, "--revision-model")) rev_path = v;
        else if (!strcmp(a, "--prm-format")) fmt_name = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--problem")) problem_arg = v;
        else if (!strcmp(a, "--strategy")) strategy = v;
        else if (!strcmp(a, "--n") || !strcmp(a, "--budget")) ok = cli_parse_int(v, 1, 4096, &n);
        else if (!strcmp(a, "--policy")) policy_path = v;
        else if (!strcmp(a, "--beam-width")) ok = cli_parse_int(v, 1, 4096, &width);
        else if (!strcmp(a, "--lookahead")) ok = cli_parse_int(v, 0, 64, &look);
        else if (!strcmp(a, "--revise-len")) ok = cli_parse_int(v, 1, 4096, &rlen);
        else if (!strcmp(a, "--max-tokens")) ok = cli_parse_int(v, 1, 1 << 20, &max_tok);
        else if (!strcmp(a, "--max-step-tokens")) ok = cli_parse_int(v, 1, 1 << 20, &max_step);
        else if (!strcmp(a, "--rounds")) ok = cli_parse_int(v, 1, 1000, &rounds);
        else if (!strcmp(a, "--seed")) ok = cli_parse_int(v, 0, 0x7fffffffL, &seed);
        else if (!strcmp(a, "--ctx")) ok = cli_parse_int(v, 16, 1 << 20, &n_ctx);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_int(v, 0, TTC_POOL_MAX_THREADS, &threads);
        else if (!strcmp(a, "--temp")) ok = cli_parse_float(v, 0, 100, &temp);
        else if (!strcmp(a, "--top-p")) ok = cli_parse_float(v, 0, 1, &top_p);
        else if (!strcmp(a, "--revise-temp")) ok = cli_parse_float(v, 0, 100, &rtemp);
        else if (!strcmp(a, "--revise-context")) ok = cli_parse_int(v, 0, TTC_REVISE_MAX_CONTEXT, &rctx);
        else if (!strcmp(a, "--agg")) ok = ttc_agg_parse(v, &agg, &e) == TTC_OK;
        else if (!strcmp(a, "--revise-select")) {
            if (!strcmp(v, "verifier")) rsel = TTC_REVISE_VERIFIER;
            else if (!strcmp(v, "majority")) rsel = TTC_REVISE_MAJORITY;
            else ok = false;
        } else return cli_bad_args("solve", "unknown argument '%s'", a);
        if (!ok) return cli_bad_args("solve", "bad value '%s' for %s", v, a);
    }
    if (!gen_path) return cli_bad_args("solve", "missing -m GENERATOR.gguf");
    if (!strategy) return cli_bad_args("solve", "missing --strategy");
    bool is_auto = !strcmp(strategy, "auto");
    ttc_search_method method = TTC_SEARCH_BON_WEIGHTED;
    if (!is_auto && ttc_search_method_parse(strategy, &method, &e)) return cli_bad_args("solve", "%s", e.msg);
    if (is_auto && (!policy_path || !prm_path))
        return cli_bad_args("solve", "--strategy auto needs --policy FILE and --prm");
    if (prm_path && orm_path && !is_auto) return cli_bad_args("solve", "give --prm or --orm, not both");
    ttc_search_params p;
    ttc_search_params_default(&p, method, (int)n);
    if (width > 0) p.beam_width = (int)width;
    if (look >= 0) p.lookahead = (int)look;
    p.revise_len = rlen > 0 ? (int)rlen : (int)n;
    p.revise_select = rsel;
    /* unset: greedy revisions, or under auto the policy's (the experiment's) */
    p.revise_temperature = rtemp >= 0 ? (float)rtemp : is_auto ? -1.0f : 0.0f;
    p.revise_context = rctx >= 0 ? (int)rctx : is_auto ? -1 : TTC_REVISE_MAX_CONTEXT;
    p.agg = agg;
    p.temperature = (float)temp;
    p.top_p = (float)top_p;
    p.max_solution_tokens = (int)max_tok;
    p.max_step_tokens = (int)max_step;
    p.max_rounds = (int)rounds;
    p.seed = (uint64_t)seed;
    if (!is_auto && ttc_search_params_check(&p, &e)) return cli_bad_args("solve", "%s", e.msg);
    /* which models to load: generator, PRM, revision model, ORM */
    /* --prm likelihood: the generator scores solutions itself (a second
     * context over the same file: the verifier needs its own sequences) */
    bool likelihood = prm_path && !strcmp(prm_path, "likelihood");
    if (likelihood && fmt_name) return cli_bad_args("solve", "--prm likelihood takes no --prm-format");
    const char *paths[4] = {gen_path, likelihood ? gen_path : prm_path, NULL, orm_path};
    if (is_auto) paths[2] = rev_path;
    else {
        if (method == TTC_SEARCH_REVISE && rev_path) paths[0] = rev_path;
        if (ttc_search_needs_verifier(&p) && !prm_path && !orm_path)
            return cli_bad_args("solve", "strategy %s needs --prm (or --orm)", strategy);
        bool tree = method == TTC_SEARCH_BEAM || method == TTC_SEARCH_LOOKAHEAD || method == TTC_SEARCH_DVTS;
        if (tree && !prm_path) return cli_bad_args("solve", "strategy %s needs a process verifier (--prm)", strategy);
        if (method == TTC_SEARCH_MAJORITY) paths[1] = paths[3] = NULL;
    }
    ttc_policy pol;
    if (is_auto && ttc_policy_load(policy_path, &pol, &e)) return cli_fail("solve", &e);

    char *problem = problem_arg ? strdup(problem_arg) : read_stdin();
    if (!problem) { ttc_err_set(&e, TTC_EIO, "cannot read the problem from stdin"); return cli_fail("solve", &e); }
    if (!problem[0]) { free(problem); return cli_bad_args("solve", "empty problem"); }

    ttc_pool *pool = NULL;
    backend bk[4] = {{0}};
    ttc_http *hs[4] = {NULL};          /* remote engines, per model */
    ttc_generator *gens[3] = {NULL};   /* [0] generator, [2] revision model */
    ttc_verifier *vers[4] = {NULL};    /* [1] PRM, [3] ORM */
    ttc_search_result r = {0};
    ttc_auto_info info = {0};
    char *js = NULL;
    /* Live sequences at once: a tree search holds kept beams, N children,
     * N rollouts and the roots. */
    int n_seq = (int)(3 * n + 8);
    size_t kv = (size_t)(n_ctx ? n_ctx : 4096) * 4 + (size_t)n * 1024;
    int rc = ttc_pool_new((int)threads, &pool, &e);
    for (int k = 0; k < 4 && !rc; k++) {
        if (!paths[k]) continue;
        if (ttc_remote_spec(paths[k])) {
            if (k == 1 && likelihood) rc = ttc_err_set(&e, TTC_EUNSUPPORTED, "--prm likelihood needs a local generator");
            else if ((k == 1 || k == 3) && fmt_name) rc = ttc_err_set(&e, TTC_EINVAL, "--prm-format is for GGUF verifiers");
            else if (k == 0 || k == 2) rc = ttc_remote_generator_open(paths[k], (int)n_ctx, &hs[k], &gens[k], &e);
            else rc = ttc_remote_verifier_open(paths[k], k == 3 ? TTC_VERIFIER_ORM : TTC_VERIFIER_PRM, &hs[k], &vers[k], &e);
            if (rc) ttc_err_wrap(&e, "%s: ", paths[k]);
            continue;
        }
        rc = backend_open(&bk[k], paths[k], (int)n_ctx, n_seq, kv, pool, &e);
        if (!rc && (k == 0 || k == 2)) rc = ttc_local_generator_new(bk[k].c, &gens[k], &e);
        if (!rc && k == 1 && likelihood) {
            rc = ttc_likelihood_verifier_new(bk[k].c, TTC_PROMPT_SOLVE_PREFIX, TTC_PROMPT_SOLVE_SUFFIX, &vers[k], &e);
        } else if (!rc && (k == 1 || k == 3)) {
            ttc_prm_format f;
            rc = fmt_name ? ttc_prm_preset(fmt_name, &f, &e) : ttc_prm_format_from_gguf(bk[k].m->gguf, &f, &e);
            if (!rc && k == 3) f.outcome = true;
            if (!rc) rc = ttc_local_verifier_new(bk[k].c, &f, &vers[k], &e);
            if (rc) ttc_err_wrap(&e, "%s: ", k == 1 ? "PRM" : "ORM");
        }
    }
    if (!rc && is_auto)
        rc = ttc_policy_solve(&pol, (int)n, &p, gens[0], vers[1], gens[2], vers[3],
                              problem, &r, &info, &e);
    else if (!rc)
        rc = ttc_search_run(&p, gens[0], vers[1] ? vers[1] : vers[3], problem, &r, &e);
    if (!rc && json) rc = ttc_search_result_json(&r, true, &js, &e);
    if (!rc && json && is_auto) {                 /* add what the policy chose */
        json_t *o = json_loads(js, 0, NULL);
        free(js);
        js = NULL;
        if (o) {
            json_t *a = json_object();
            json_object_set_new(a, "probe_score", json_real(info.probe_score));
            json_object_set_new(a, "bin", json_integer(info.bin));
            json_object_set_new(a, "method", json_string(info.method));
            json_object_set_new(a, "method_budget", json_integer(info.method_budget));
            json_object_set_new(o, "auto", a);
            js = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
            json_decref(o);
        }
        if (!js) rc = ttc_err_set(&e, TTC_ENOMEM, "out of memory");
    }
    if (!rc) {
        if (json) printf("%s\n", js);
        else {
            if (is_auto)
                printf("auto: difficulty bin %d (probe score %.3f) -> %s at %d generations\n\n", info.bin + 1,
                       info.probe_score, info.method, info.method_budget);
            print_text(&r);
        }
    }
    free(js);
    ttc_search_result_free(&r);
    for (int k = 0; k < 4; k++) {
        if (k < 3) ttc_generator_free(gens[k]);
        ttc_verifier_free(vers[k]);
        backend_close(&bk[k]);
        ttc_http_free(hs[k]);
    }
    ttc_pool_free(pool);
    free(problem);
    if (rc) return cli_fail("solve", &e);
    return fflush(stdout) == 0 ? 0 : 1;
}
