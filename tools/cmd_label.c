/* ttc label prm|revision|orm: training data for the bundled PRM, revision
 * model and ORM, made from a model's own samples (family/labels.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/pool.h"
#include "base/util.h"
#include "cli.h"
#include "family/labels.h"
#include "model/ctx.h"
#include "model/model.h"
#include "search/lm_local.h"
#include "search/prm.h"
#include "search/select.h"

static const char usage[] =
    "usage: ttc label prm|revision|orm -m MODEL.gguf --data TRAIN.jsonl -o OUT.jsonl [options]\n"
    "       ttc label quality -m PRM.gguf --data LABELS.jsonl [--limit N] [--json]\n"
    "\n"
    "  prm       Monte-Carlo step labels: sample solutions, then --rollouts completions\n"
    "            after every step; a step's label is the fraction that end right\n"
    "  revision  0..4 incorrect attempts (closest by edit distance last) -> a correct one\n"
    "  orm       graded attempts of revision chains (MODEL = the revision model)\n"
    "  quality   a PRM's step-level AUC and calibration on held-out labels (from\n"
    "            'ttc label prm' on another split); --json for one object\n"
    "\n"
    "  -m, --model FILE     model to sample from\n"
    "      --data FILE      benchmark JSONL (problem, answer, solution)\n"
    "  -o, --out FILE       output JSONL; appended, a rerun skips problems already there\n"
    "      --offset N       first problem (default 0)\n"
    "      --limit N        number of problems (default all)\n"
    "      --samples N      solutions (prm, revision) or chains (orm) per problem (default 4)\n"
    "      --rollouts K     prm: completions per step prefix (default 8)\n"
    "      --chain L        orm, revision --on-policy: attempts per chain (default 4)\n"
    "      --revise-temp T  orm, revision --on-policy: temperature of attempts 2..\n"
    "                       of a chain (default: --temp)\n"
    "      --context K      orm, revision --on-policy: earlier attempts a revision\n"
    "                       reads, 1..4 (default 4)\n"
    "      --on-policy      revision: MODEL is a revision model; it runs --samples\n"
    "                       chains and each example is one of its own contexts, then\n"
    "                       keep (the most recent right attempt) or fix (the correct\n"
    "                       solution closest to the last); --examples per problem\n"
    "      --examples N     revision: examples per problem (default 2)\n"
    "      --natural F      revision: fraction of examples whose context is 1..4\n"
    "                       attempts as sampled, right or wrong (default 0)\n"
    "      --edit F         revision: fraction of keep-or-fix examples: 0..4 attempts\n"
    "                       as sampled, then the most recent right one, else the\n"
    "                       correct solution closest to the last (default 0)\n"
    "      --drop-fix F     revision: leave out this fraction of the edit examples\n"
    "                       whose context holds no right attempt (default 0)\n"
    "      --own-only       revision: only problems the model solved at least once,\n"
    "                       with its own solutions as targets (no reference)\n"
    "      --temp T         sampling temperature (default 1.0)\n"
    "      --max-tokens N   per solution (default 256)\n"
    "      --seed S         (default 1)\n"
    "  -t, --threads N      compute threads (default: all cores)\n";

static void progress(void *ud, const char *label, double done, double total) {
    (void)ud;
    if (isatty(2)) fprintf(stderr, "\r  %s %.0f/%.0f   ", label, done, total);
}

/* ttc label quality: scores held-out labeled steps with a PRM. */
static int quality(const char *model, const char *data, int limit, int threads, bool json) {
    ttc_err e = {0};
    ttc_model *m = NULL;
    ttc_pool *pool = NULL;
    ttc_ctx *ctx = NULL;
    ttc_verifier *v = NULL;
    ttc_prm_format fmt;
    ttc_prm_quality q;
    int rc = ttc_model_load(model, NULL, &m, &e);
    if (!rc) rc = ttc_pool_new(threads, &pool, &e);
    if (!rc) {
        ttc_ctx_params cp = {.n_ctx = TTC_MIN(ttc_model_n_ctx_train(m), 1024), .n_seq_max = 40, .kv_tokens = 40 * 640, .pool = pool};
        rc = ttc_ctx_new(m, &cp, &ctx, &e);
    }
    if (!rc) rc = ttc_prm_format_from_gguf(m->gguf, &fmt, &e);
    if (!rc) rc = ttc_local_verifier_new(ctx, &fmt, &v, &e);
    if (!rc) rc = ttc_prm_quality_eval(v, data, limit, &q, &e);
    if (!rc && json) {
        printf("{\"records\": %d, \"steps\": %d, \"auc_step\": %.4f, \"auc_final\": %.4f, \"ece\": %.4f, \"mse\": %.4f, "
               "\"within_problem\": {\"pairs\": %ld", q.n_records, q.n_steps, q.auc_step, q.auc_final, q.ece, q.mse, q.n_pairs);
        for (int a = 0; a < TTC_WITHIN_N; a++) printf(", \"auc_%s\": %.4f", ttc_agg_name((ttc_agg)a), q.auc_within[a]);
        printf("}, \"bins\": [");
        for (int b = 0; b < 10; b++)
            printf("%s{\"n\": %d, \"score\": %.4f, \"label\": %.4f}", b ? ", " : "", q.bin_n[b], q.bin_score[b], q.bin_label[b]);
        printf("]}\n");
    } else if (!rc) {
        printf("%d records, %d labeled steps\nstep AUC (label >= 0.5): %.3f\nfinal-step AUC (answer correct): %.3f\n"
               "calibration: ECE %.3f, MSE %.3f\n", q.n_records, q.n_steps, q.auc_step, q.auc_final, q.ece, q.mse);
        printf("within-problem AUC over %ld (right, wrong) pairs:", q.n_pairs);
        for (int a = 0; a < TTC_WITHIN_N; a++) printf(" %s %.3f", ttc_agg_name((ttc_agg)a), q.auc_within[a]);
        printf("\n\n  score bin   steps  mean score  mean MC label\n");
        for (int b = 0; b < 10; b++)
            if (q.bin_n[b]) printf("  %.1f-%.1f %8d %11.3f %14.3f\n", b / 10.0, (b + 1) / 10.0, q.bin_n[b], q.bin_score[b], q.bin_label[b]);
    }
    ttc_verifier_free(v);
    ttc_ctx_free(ctx);
    ttc_pool_free(pool);
    ttc_model_free(m);
    return rc ? cli_fail("label", &e) : 0;
}

int cmd_label(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    if (argc < 2) return cli_bad_args("label", "missing kind: prm, revision or orm");
    const char *kind = argv[1], *model = NULL;
    if (strcmp(kind, "prm") && strcmp(kind, "revision") && strcmp(kind, "orm") && strcmp(kind, "quality"))
        return cli_bad_args("label", "unknown kind '%s' (prm, revision, orm, quality)", kind);
    bool json = false;
    ttc_label_opts o = {.samples = 4, .rollouts = 8, .chain = 4, .temperature = 1.0f, .max_tokens = 256, .seed = 1};
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"data", 1, 0, 'd'}, {"out", 1, 0, 'o'}, {"offset", 1, 0, 'O'},
        {"limit", 1, 0, 'l'}, {"samples", 1, 0, 's'}, {"rollouts", 1, 0, 'k'}, {"chain", 1, 0, 'L'},
        {"temp", 1, 0, 'T'}, {"max-tokens", 1, 0, 'M'}, {"seed", 1, 0, 'S'}, {"threads", 1, 0, 't'}, {"json", 0, 0, 'j'},
        {"examples", 1, 0, 'E'}, {"natural", 1, 0, 'N'}, {"edit", 1, 0, 'D'}, {"drop-fix", 1, 0, 'X'}, {"own-only", 0, 0, 'W'}, {"revise-temp", 1, 0, 'R'}, {"on-policy", 0, 0, 'P'}, {"context", 1, 0, 'C'},
        {0, 0, 0, 0}};
    optind = 2;
    int c;
    long v;
    double f;
    while ((c = getopt_long(argc, argv, "m:o:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': o.data = optarg; break;
        case 'o': o.out = optarg; break;
        case 'O': if (!cli_parse_int(optarg, 0, 1 << 30, &v)) return cli_bad_args("label", "--offset: bad number '%s'", optarg); o.offset = (int)v; break;
        case 'l': if (!cli_parse_int(optarg, 0, 1 << 30, &v)) return cli_bad_args("label", "--limit: bad number '%s'", optarg); o.limit = (int)v; break;
        case 's': if (!cli_parse_int(optarg, 1, 64, &v)) return cli_bad_args("label", "--samples: expected 1..64, got '%s'", optarg); o.samples = (int)v; break;
        case 'k': if (!cli_parse_int(optarg, 1, 64, &v)) return cli_bad_args("label", "--rollouts: expected 1..64, got '%s'", optarg); o.rollouts = (int)v; break;
        case 'L': if (!cli_parse_int(optarg, 1, 16, &v)) return cli_bad_args("label", "--chain: expected 1..16, got '%s'", optarg); o.chain = (int)v; break;
        case 'T': if (!cli_parse_float(optarg, 0, 5, &f)) return cli_bad_args("label", "--temp: expected 0..5, got '%s'", optarg); o.temperature = (float)f; break;
        case 'M': if (!cli_parse_int(optarg, 1, 4096, &v)) return cli_bad_args("label", "--max-tokens: expected 1..4096, got '%s'", optarg); o.max_tokens = (int)v; break;
        case 'S': if (!cli_parse_int(optarg, 0, 1L << 62, &v)) return cli_bad_args("label", "--seed: bad number '%s'", optarg); o.seed = (uint64_t)v; break;
        case 't': if (!cli_parse_int(optarg, 0, 256, &v)) return cli_bad_args("label", "--threads: expected 0..256, got '%s'", optarg); o.threads = (int)v; break;
        case 'j': json = true; break;
        case 'E': if (!cli_parse_int(optarg, 1, 64, &v)) return cli_bad_args("label", "--examples: expected 1..64, got '%s'", optarg); o.examples = (int)v; break;
        case 'N': if (!cli_parse_float(optarg, 0, 1, &f)) return cli_bad_args("label", "--natural: expected 0..1, got '%s'", optarg); o.natural = (float)f; break;
        case 'W': o.own_only = true; break;
        case 'P': o.on_policy = true; break;
        case 'C': if (!cli_parse_int(optarg, 1, 4, &v)) return cli_bad_args("label", "--context: expected 1..4, got '%s'", optarg); o.context = (int)v; break;
        case 'R': if (!cli_parse_float(optarg, 0, 5, &f)) return cli_bad_args("label", "--revise-temp: expected 0..5, got '%s'", optarg); o.revise_temp = (float)f; o.revise_temp_set = true; break;
        case 'X': if (!cli_parse_float(optarg, 0, 0.999, &f)) return cli_bad_args("label", "--drop-fix: expected 0..0.999, got '%s'", optarg); o.drop_fix = (float)f; break;
        case 'D': if (!cli_parse_float(optarg, 0, 1, &f)) return cli_bad_args("label", "--edit: expected 0..1, got '%s'", optarg); o.edit = (float)f; break;
        default: return cli_bad_args("label", "unknown option");
        }
    }
    if (optind < argc) return cli_bad_args("label", "unexpected argument '%s'", argv[optind]);
    if (!strcmp(kind, "quality")) {
        if (!model || !o.data) return cli_bad_args("label", "quality needs -m PRM.gguf and --data LABELS.jsonl");
        return quality(model, o.data, o.limit, o.threads, json);
    }
    if (!model || !o.data || !o.out) return cli_bad_args("label", "-m, --data and -o are required");
    o.progress = progress;
    ttc_err e = {0};
    int rc = !strcmp(kind, "prm") ? ttc_label_prm(model, &o, &e)
           : !strcmp(kind, "revision") ? ttc_label_revision(model, &o, &e) : ttc_label_orm(model, &o, &e);
    if (isatty(2)) fputc('\n', stderr);
    return rc ? cli_fail("label", &e) : 0;
}
