/* ttc experiment: the compute-optimal scaling experiment (optimal/experiment.h)
 * on local GGUF models or remote engines: sweep (resumable), then analysis
 * and report. */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/pool.h"
#include "base/util.h"
#include "cli.h"
#include "data/prompt.h"
#include "gguf/gguf.h"
#include "model/ctx.h"
#include "model/model.h"
#include "optimal/experiment.h"
#include "search/lm_local.h"
#include "search/prm.h"
#include "search/strategy.h"
#include "serve/remote.h"

static const char usage[] =
    "usage: ttc experiment [--preset demo|paper|tiny] [options]\n"
    "\n"
    "Runs every test-time method across generation budgets on a benchmark, then\n"
    "writes summary.json, CSV tables, SVG figures, report.html and policy.json.\n"
    "A killed run resumes where it stopped (records.jsonl is append-only).\n"
    "\n"
    "  --preset NAME        demo (default, ~15 min on 2 cores), paper (full sweep), tiny\n"
    "  -m, --model FILE     generator (default models/generator.gguf)\n"
    "                       Any model may instead be a remote engine: openai:URL for\n"
    "                       a generator, openai:[pooling+]URL for a verifier (as in\n"
    "                       ttc serve --verifier-backend); not --large, whose FLOPs\n"
    "                       need its parameter count\n"
    "  --prm FILE           process reward model (default models/prm.gguf); 'likelihood'\n"
    "                       scores with the generator's own token probabilities instead\n"
    "                       (no reward model; the synthetic benchmark's prompt)\n"
    "  --revision FILE      revision model (default models/revision.gguf if present)\n"
    "  --orm FILE           outcome verifier for revisions (default models/orm.gguf if present)\n"
    "  --large FILE         larger generator for the FLOPs-matched comparison\n"
    "                       (default models/generator-large.gguf if present)\n"
    "                       These three defaults belong to the bundled generator: with\n"
    "                       another -m they apply only when given\n"
    "  --no-revisions, --no-large   skip those phases\n"
    "  --revise-temp T      temperature of a revision chain's attempts 2.. (default 0:\n"
    "                       greedy; the first attempt samples at 0.8)\n"
    "  --revise-context K   earlier attempts a revision reads, 1..4 (default 4)\n"
    "  --train-tokens N[,M] pre-training tokens of the generator (and the larger one)\n"
    "                       for the FLOPs-matched figure, where a model file lacks\n"
    "                       ttc.train.tokens (the file's value wins)\n"
    "  --data FILE          benchmark JSONL (default data/synth/test.jsonl)\n"
    "  -o, --out DIR        output folder (default results/<preset>)\n"
    "  --limit N            problems (preset default; 0 = all)\n"
    "  --samples S          parallel samples per problem\n"
    "  --budgets LIST       e.g. 1,2,4,8,16\n"
    "  --levels LIST        only problems of these levels, e.g. 4,5\n"
    "  --methods LIST       tree searches to run (default all): beam_sqrt, beam_m4,\n"
    "                       lookahead_k1, lookahead_k3, dvts, or none; best-of-N,\n"
    "                       weighted best-of-N and majority always run\n"
    "  --seed S             (default 1)\n"
    "  -t, --threads N      compute threads (default: all cores)\n"
    "  --shard I/K          run every K-th problem starting at I (merge with --analyze)\n"
    "  --analyze [FILES]    only analyze: records.jsonl of DIR, or the given record\n"
    "                       files (shards) merged\n";

static volatile int interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

typedef struct bar { double t0; bool tty; char last[96]; } bar;

/* Progress bar on stderr (terminal only): overall share, ETA, current phase. */
static void progress(void *ud, const char *label, double done, double total) {
    bar *b = ud;
    if (!b->tty || total <= 0) return;
    double f = done / total, el = ttc_now() - b->t0, eta = f > 0.005 ? el * (1 - f) / f : NAN;
    int w = 28, fill = (int)(f * w);
    char cells[64];
    for (int i = 0; i < w; i++) cells[i] = i < fill ? '#' : '.';
    cells[w] = 0;
    char etas[32] = "--";
    if (!isnan(eta)) snprintf(etas, sizeof etas, "%dm%02ds", (int)eta / 60, (int)eta % 60);
    fprintf(stderr, "\r[%s] %5.1f%% ETA %-8s %-44.44s", cells, 100 * f, etas, label);
    fflush(stderr);
}

/* A loaded model with its context and backend. */
typedef struct loaded {
    ttc_http *h;              /* remote engine (instead of m, ctx) */
    ttc_model *m;
    ttc_ctx *ctx;
    ttc_generator *gen;
    ttc_verifier *ver;
    double train_tokens;
} loaded;

static void loaded_free(loaded *l) {
    if (l->gen) l->gen->vt->destroy(l->gen);
    if (l->ver) l->ver->vt->destroy(l->ver);
    ttc_ctx_free(l->ctx);
    ttc_model_free(l->m);
    ttc_http_free(l->h);
    memset(l, 0, sizeof *l);
}

enum { AS_GENERATOR, AS_VERIFIER, AS_ORM, AS_LIKELIHOOD };

/* Loads path as a generator, a verifier in the format its GGUF declares, or
 * a likelihood verifier (the model scoring solutions by its own token
 * probabilities after the synthetic benchmark's prompt). */
/* Loads a model with room for n_seq sequences of up to per_seq tokens
 * each (capped at its context): 512 covers a problem and its solution; a
 * revision prompt or an ORM context holds up to 4 earlier attempts and
 * needs the whole context. */
static int load(const char *path, int as, int n_seq, int per_seq, ttc_pool *pool, loaded *l, ttc_err *e) {
    memset(l, 0, sizeof *l);
    if (ttc_remote_spec(path)) {
        int rc = as == AS_GENERATOR ? ttc_remote_generator_open(path, 0, &l->h, &l->gen, e)
                 : as == AS_LIKELIHOOD
                     ? ttc_err_set(e, TTC_EUNSUPPORTED, "--prm likelihood needs a local generator (GGUF)")
                     : ttc_remote_verifier_open(path, as == AS_ORM ? TTC_VERIFIER_ORM : TTC_VERIFIER_PRM, &l->h,
                                                &l->ver, e);
        if (rc) { ttc_err_wrap(e, "%s: ", path); loaded_free(l); }
        return rc;
    }
    int rc = ttc_model_load(path, NULL, &l->m, e);
    if (rc) return rc;
    int n_ctx = TTC_MIN(ttc_model_n_ctx_train(l->m), 2048);
    ttc_ctx_params cp = {.n_ctx = n_ctx, .n_seq_max = n_seq, .kv_tokens = (size_t)n_seq * TTC_MIN(per_seq, n_ctx),
                         .pool = pool};
    if (as == AS_LIKELIHOOD) cp.n_batch = cp.n_outputs_max = TTC_MAX(512, n_seq); /* logits at every token */
    rc = ttc_ctx_new(l->m, &cp, &l->ctx, e);
    if (!rc && (as == AS_VERIFIER || as == AS_ORM)) {
        ttc_prm_format fmt;
        rc = ttc_prm_format_from_gguf(l->m->gguf, &fmt, e);
        if (!rc) rc = ttc_local_verifier_new(l->ctx, &fmt, &l->ver, e);
    } else if (!rc && as == AS_LIKELIHOOD) {
        rc = ttc_likelihood_verifier_new(l->ctx, TTC_PROMPT_SOLVE_PREFIX, TTC_PROMPT_SOLVE_SUFFIX, &l->ver, e);
        if (!rc) snprintf(l->ver->info.name, sizeof l->ver->info.name, "likelihood");
    } else if (!rc) {
        rc = ttc_local_generator_new(l->ctx, &l->gen, e);
    }
    int64_t k = ttc_gguf_find_key(l->m->gguf, "ttc.train.tokens");
    if (k >= 0) {
        int64_t v = 0;
        if (ttc_gguf_get_int(l->m->gguf, "ttc.train.tokens", 0, INT64_MAX, &v, NULL) == TTC_OK) l->train_tokens = (double)v;
    }
    if (rc) { ttc_err_wrap(e, "%s: ", path); loaded_free(l); }
    return rc;
}

/* Appends "<tag>:<hash>" to fp, the hash (FNV-1a 64) taken over the file's
 * size and 16 blocks of 64 KiB spread from its start to its end: retraining
 * a model keeps its name and size but changes bytes everywhere, so a
 * resumed experiment can tell its records came from other models, without
 * reading a many-GB model whole. */
static int fingerprint_add(char *fp, size_t cap, const char *tag, const char *path, ttc_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return ttc_err_set(e, TTC_EIO, "%s: cannot read", path);
    enum { BLOCKS = 16, BLOCK = 1 << 16 };
    uint64_t h = 1469598103934665603ull;
    int bad = fseeko(f, 0, SEEK_END);
    off_t size = bad ? -1 : ftello(f);
    bad |= size < 0;
    for (int i = 0; i < 8 && !bad; i++) h = (h ^ (uint8_t)((uint64_t)size >> (8 * i))) * 1099511628211ull;
    static unsigned char buf[BLOCK];
    for (int b = 0; b < BLOCKS && !bad; b++) {
        off_t at = size > BLOCK ? (off_t)((double)(size - BLOCK) * b / (BLOCKS - 1)) : 0;
        if ((bad = fseeko(f, at, SEEK_SET))) break;
        size_t n = fread(buf, 1, BLOCK, f);
        bad = ferror(f);
        for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 1099511628211ull;
        if (size <= BLOCK) break;
    }
    fclose(f);
    if (bad) return ttc_err_set(e, TTC_EIO, "%s: read error", path);
    size_t len = strlen(fp);
    snprintf(fp + len, cap - len, "%s%s:%016llx", len ? " " : "", tag, (unsigned long long)h);
    return TTC_OK;
}

/* A remote engine's fingerprint: its URL and model, hashed (its weights
 * cannot be read; a different model served under the same name is not
 * noticed). */
static void fingerprint_remote(char *fp, size_t cap, const char *tag, const ttc_lm_info *info) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = info->name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    size_t len = strlen(fp);
    snprintf(fp + len, cap - len, "%s%s:openai-%016llx", len ? " " : "", tag, (unsigned long long)h);
}

/* Fingerprints loaded model l under tag: its file, or its engine. */
static int fingerprint_loaded(char *fp, size_t cap, const char *tag, const char *path, const loaded *l, ttc_err *e) {
    if (!l->h) return fingerprint_add(fp, cap, tag, path, e);
    fingerprint_remote(fp, cap, tag, l->gen ? &l->gen->info : &l->ver->info);
    return TTC_OK;
}

static bool parse_budgets(const char *s, ttc_exp_config *c) {
    c->n_budgets = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        long v;
        if (c->n_budgets == TTC_EXP_MAX_BUDGETS || !cli_parse_int(t, 1, 4096, &v)) return false;
        if (c->n_budgets && v <= c->budgets[c->n_budgets - 1]) return false;
        c->budgets[c->n_budgets++] = (int)v;
    }
    return c->n_budgets > 0;
}

/* "2.50x", or "not reached" for a ratio best-of-N never matched (NAN). */
static void ratio_text(char *buf, size_t cap, double r) {
    if (isnan(r)) snprintf(buf, cap, "not reached");
    else snprintf(buf, cap, "%.2fx", r);
}

static void print_headline(const ttc_exp_headline *h, const char *dir) {
    printf("\n%d problems. Accuracy by generation budget:\n\n%-28s", h->n_problems, "method");
    for (int b = 0; b < h->n_budgets; b++) printf("%7d", h->budgets[b]);
    printf("\n");
    struct { const char *name; const float *v; } rows[] = {
        {"best-of-N weighted", h->bon_weighted}, {"majority", h->majority}, {"beam search (M=sqrt N)", h->beam_sqrt},
        {"compute-optimal (oracle)", h->co_oracle}, {"compute-optimal (predicted)", h->co_predicted}};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        printf("%-28s", rows[r].name);
        for (int b = 0; b < h->n_budgets; b++)
            if (isnan(rows[r].v[b])) printf("%7s", "-");
            else printf("%7.3f", rows[r].v[b]);
        printf("\n");
    }
    printf("\nEfficiency of compute-optimal over best-of-N weighted (budget best-of-N needs / budget):\n");
    if (isnan(h->eff_oracle)) printf("  oracle bins:    not reached within the budgets\n");
    else printf("  oracle bins:    %.2fx (at budget %d)\n", h->eff_oracle, h->eff_oracle_at);
    if (isnan(h->eff_predicted)) printf("  predicted bins: not reached within the budgets\n");
    else printf("  predicted bins: %.2fx (at budget %d)\n", h->eff_predicted, h->eff_predicted_at);
    if (h->splits > 0) {
        char one_se[32], one_se_med[32];
        ratio_text(one_se, sizeof one_se, h->eff_predicted_one_se);
        ratio_text(one_se_med, sizeof one_se_med, h->split_median_one_se);
        printf("  predicted bins over %d other fold splits: median %.2fx (%.2f-%.2f), >= 4x in %d;\n"
               "    choosing with the one-SE rule instead: %s, median %s\n", h->splits, h->split_median,
               h->split_min, h->split_max, h->split_at4, one_se, one_se_med);
    }
    for (int b = 0; b < h->n_budgets; b++) {
        if (!isnan(h->low_oracle[b]))
            printf("  oracle bins, budget %d: best-of-N never reaches it up to budget %d (> %.1fx)\n", h->budgets[b],
                   h->budgets[h->n_budgets - 1], h->low_oracle[b]);
        if (!isnan(h->low_predicted[b]))
            printf("  predicted bins, budget %d: best-of-N never reaches it up to budget %d (> %.1fx)\n", h->budgets[b],
                   h->budgets[h->n_budgets - 1], h->low_predicted[b]);
    }
    printf("\nReport: %s/report.html  (summary: %s/summary.json)\n", dir, dir);
}

/* "4,5" -> bits 3 and 4 of *mask; false on anything but levels 1..32. */
static bool parse_levels(const char *s, unsigned *mask) {
    *mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (!cli_parse_int(t, 1, 32, &v)) return false;
        *mask |= 1u << (v - 1);
    }
    return *mask != 0;
}

/* "beam_sqrt,dvts" -> bits of the tree-search methods; "none" -> 0. */
static bool parse_methods(const char *s, unsigned *mask) {
    *mask = 0;
    if (!strcmp(s, "none")) return true;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int i = 0;
        while (i < TTC_EXP_N_SEARCH && strcmp(t, ttc_exp_search_name(i))) i++;
        if (i == TTC_EXP_N_SEARCH) return false;
        *mask |= 1u << i;
    }
    return *mask != 0;
}

static const char *default_if_exists(const char *path) { return access(path, R_OK) == 0 ? path : NULL; }

int cmd_experiment(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    const char *preset = "demo", *gen = "models/generator.gguf", *prm = "models/prm.gguf";
    const char *rev = default_if_exists("models/revision.gguf"), *orm = default_if_exists("models/orm.gguf");
    const char *large = default_if_exists("models/generator-large.gguf"), *data = "data/synth/test.jsonl", *out = NULL;
    const char *budgets = NULL, *levels = NULL, *methods = NULL;
    double tt_gen = 0, tt_large = 0, rtemp = -1;
    long limit = -1, samples = -1, seed = 1, threads = 0, shard = 0, n_shards = 1, rctx = 0;
    bool analyze = false, large_given = false, gen_given = false, rev_given = false, orm_given = false;
    static const struct option opts[] = {
        {"preset", 1, 0, 'p'}, {"model", 1, 0, 'm'}, {"prm", 1, 0, 'P'}, {"revision", 1, 0, 'r'},
        {"orm", 1, 0, 'O'}, {"large", 1, 0, 'L'}, {"no-revisions", 0, 0, 'R'}, {"no-large", 0, 0, 'G'},
        {"data", 1, 0, 'd'}, {"out", 1, 0, 'o'}, {"limit", 1, 0, 'l'}, {"samples", 1, 0, 's'},
        {"budgets", 1, 0, 'b'}, {"seed", 1, 0, 'S'}, {"threads", 1, 0, 't'}, {"shard", 1, 0, 'H'},
        {"analyze", 0, 0, 'A'}, {"levels", 1, 0, 'V'}, {"methods", 1, 0, 'M'},
        {"train-tokens", 1, 0, 'K'}, {"revise-temp", 1, 0, 'T'},
        {"revise-context", 1, 0, 'C'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'p': preset = optarg; break;
        case 'm': gen = optarg; gen_given = strcmp(optarg, "models/generator.gguf") != 0; break;
        case 'P': prm = optarg; break;
        case 'r': rev = optarg; rev_given = true; break;
        case 'O': orm = optarg; orm_given = true; break;
        case 'L': large = optarg; large_given = true; break;
        case 'R': rev = orm = NULL; break;
        case 'G': large = NULL; break;
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 'l': if (!cli_parse_int(optarg, 0, 1 << 30, &limit)) return cli_bad_args("experiment", "--limit: bad number '%s'", optarg); break;
        case 's': if (!cli_parse_int(optarg, 1, 4096, &samples)) return cli_bad_args("experiment", "--samples: expected 1..4096, got '%s'", optarg); break;
        case 'b': budgets = optarg; break;
        case 'S': if (!cli_parse_int(optarg, 0, 1L << 62, &seed)) return cli_bad_args("experiment", "--seed: bad number '%s'", optarg); break;
        case 't': if (!cli_parse_int(optarg, 0, 256, &threads)) return cli_bad_args("experiment", "--threads: expected 0..256, got '%s'", optarg); break;
        case 'H':
            if (sscanf(optarg, "%ld/%ld", &shard, &n_shards) != 2 || n_shards < 1 || shard < 0 || shard >= n_shards)
                return cli_bad_args("experiment", "--shard: expected I/K with 0 <= I < K, got '%s'", optarg);
            break;
        case 'A': analyze = true; break;
        case 'T': if (!cli_parse_float(optarg, 0, 5, &rtemp)) return cli_bad_args("experiment", "--revise-temp: expected 0..5, got '%s'", optarg); break;
        case 'C': if (!cli_parse_int(optarg, 1, TTC_REVISE_MAX_CONTEXT, &rctx)) return cli_bad_args("experiment", "--revise-context: expected 1..%d, got '%s'", TTC_REVISE_MAX_CONTEXT, optarg); break;
        case 'V': levels = optarg; break;
        case 'M': methods = optarg; break;
        case 'K': {
            char *end;
            tt_gen = strtod(optarg, &end);
            if (*end == ',') tt_large = strtod(end + 1, &end);
            if (*end || tt_gen <= 0 || tt_large < 0)
                return cli_bad_args("experiment", "--train-tokens: expected N or N,M (positive), got '%s'", optarg);
            break;
        }
        default: return cli_bad_args("experiment", "unknown option");
        }
    }
    ttc_exp_config cfg = {0};
    ttc_err e = {0};
    if (ttc_exp_preset(&cfg, preset, &e)) return cli_bad_args("experiment", "%s", e.msg);
    char outbuf[512];
    if (!out) { snprintf(outbuf, sizeof outbuf, "results/%s", preset); out = outbuf; }
    if (analyze) {
        ttc_exp_headline h;
        const char *const *files = optind < argc ? (const char *const *)argv + optind : NULL;
        if (ttc_exp_analyze(out, files, argc - optind, (uint64_t)seed, &h, &e)) return cli_fail("experiment", &e);
        print_headline(&h, out);
        return 0;
    }
    if (optind < argc) return cli_bad_args("experiment", "unexpected argument '%s'", argv[optind]);
    if (limit >= 0) cfg.limit = (int)limit;
    if (samples > 0) cfg.samples = (int)samples;
    if (budgets && !parse_budgets(budgets, &cfg)) return cli_bad_args("experiment", "--budgets: expected ascending numbers like 1,2,4, got '%s'", budgets);
    if (cfg.samples < cfg.budgets[cfg.n_budgets - 1]) cfg.samples = cfg.budgets[cfg.n_budgets - 1];
    if (levels && !parse_levels(levels, &cfg.level_mask))
        return cli_bad_args("experiment", "--levels: expected levels 1..32 like 4,5, got '%s'", levels);
    if (methods && !parse_methods(methods, &cfg.search_mask))
        return cli_bad_args("experiment", "--methods: expected a list of beam_sqrt, beam_m4, "
                            "lookahead_k1, lookahead_k3, dvts (or none), got '%s'", methods);
    if (rtemp >= 0) cfg.revise_temperature = (float)rtemp;
    if (rctx > 0) cfg.revise_context = (int)rctx;
    cfg.data = data;
    cfg.out_dir = out;
    cfg.seed = (uint64_t)seed;
    cfg.shard = (int)shard;
    cfg.n_shards = (int)n_shards;
    /* the bundled revision pair and larger generator go with the bundled generator only */
    if (gen_given && !large_given) large = NULL;
    if (gen_given && !rev_given) rev = NULL;
    if (gen_given && !orm_given) orm = NULL;
    if ((rev == NULL) != (orm == NULL)) return cli_bad_args("experiment", "revisions need both --revision and --orm (or --no-revisions)");
    bool likelihood = !strcmp(prm, "likelihood");
    if (large && ttc_remote_spec(large))
        return cli_bad_args("experiment", "--large must be a GGUF file (the FLOPs-matched comparison needs its "
                            "parameter count); use --no-large with remote engines");
    bool gen_missing = !ttc_remote_spec(gen) && access(gen, R_OK);
    if (gen_missing || (!likelihood && !ttc_remote_spec(prm) && access(prm, R_OK)))
        return fprintf(stderr, "ttc experiment: missing model %s (bundled models are built by 'make models')\n",
                       gen_missing ? gen : prm), 1;
    if (access(data, R_OK)) return fprintf(stderr, "ttc experiment: missing benchmark %s\n", data), 1;
    ttc_pool *pool = NULL;
    loaded lg = {0}, lp = {0}, lr = {0}, lo = {0}, ll = {0};
    /* live sequences at the peak of a tree search of budget N: N children,
     * up to N kept parents (lookahead: N greedy rollouts instead) and roots */
    int n_seq = 2 * TTC_MAX(cfg.samples, cfg.budgets[cfg.n_budgets - 1]) + 8;
    int rc = ttc_pool_new((int)threads, &pool, &e);
    if (!rc) rc = load(gen, AS_GENERATOR, n_seq, 512, pool, &lg, &e);
    if (!rc) rc = likelihood ? load(gen, AS_LIKELIHOOD, n_seq, 512, pool, &lp, &e)
                             : load(prm, AS_VERIFIER, n_seq, 512, pool, &lp, &e);
    if (!rc && rev) rc = load(rev, AS_GENERATOR, cfg.revise_chains + 8, INT_MAX, pool, &lr, &e);
    if (!rc && orm) rc = load(orm, AS_ORM, cfg.revise_chains * cfg.revise_len + 8, INT_MAX, pool, &lo, &e);
    if (!rc && large) rc = load(large, AS_GENERATOR, 8, 512, pool, &ll, &e);
    if (rc) goto done;
    char fp[512] = "";
    rc = fingerprint_loaded(fp, sizeof fp, "generator", gen, &lg, &e);
    if (!rc && !likelihood) rc = fingerprint_loaded(fp, sizeof fp, "prm", prm, &lp, &e);
    if (!rc && rev) rc = fingerprint_loaded(fp, sizeof fp, "revision", rev, &lr, &e);
    if (!rc && orm) rc = fingerprint_loaded(fp, sizeof fp, "orm", orm, &lo, &e);
    if (!rc && large) rc = fingerprint_add(fp, sizeof fp, "large", large, &e);
    if (rc) goto done;
    ttc_exp_models m = {.gen = lg.gen, .prm = lp.ver, .rev = lr.gen, .orm = lo.ver, .large = ll.gen,
                        .gen_train_tokens = lg.train_tokens > 0 ? lg.train_tokens : tt_gen,
                        .large_train_tokens = ll.train_tokens > 0 ? ll.train_tokens : tt_large,
                        .fingerprint = fp};
    bar b = {.t0 = ttc_now(), .tty = isatty(2)};
    cfg.progress = progress;
    cfg.progress_ud = &b;
    cfg.cancel = &interrupted;
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    if (!b.tty) fprintf(stderr, "ttc experiment: %s preset, %d budgets up to %d, %d samples, output %s\n", preset,
                        cfg.n_budgets, cfg.budgets[cfg.n_budgets - 1], cfg.samples, out);
    rc = ttc_exp_run(&cfg, &m, &e);
    if (b.tty) fprintf(stderr, "\n");
    if (rc) goto done;
    ttc_exp_headline h;
    rc = ttc_exp_analyze(out, NULL, 0, cfg.seed, &h, &e);
    if (!rc) print_headline(&h, out);
done:
    loaded_free(&lg); loaded_free(&lp); loaded_free(&lr); loaded_free(&lo); loaded_free(&ll);
    ttc_pool_free(pool);
    return rc ? cli_fail("experiment", &e) : 0;
}
