/* ttc label prm|revision|orm: training data for the bundled PRM, revision
 * model and ORM, made from a model's own samples (family/labels.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "family/labels.h"

static const char usage[] =
    "usage: ttc label prm|revision|orm -m MODEL.gguf --data TRAIN.jsonl -o OUT.jsonl [options]\n"
    "\n"
    "  prm       Monte-Carlo step labels: sample solutions, then --rollouts completions\n"
    "            after every step; a step's label is the fraction that end right\n"
    "  revision  0..4 incorrect attempts (closest by edit distance last) -> a correct one\n"
    "  orm       graded attempts of revision chains (MODEL = the revision model)\n"
    "\n"
    "  -m, --model FILE     model to sample from\n"
    "      --data FILE      benchmark JSONL (problem, answer, solution)\n"
    "  -o, --out FILE       output JSONL; appended, a rerun skips problems already there\n"
    "      --offset N       first problem (default 0)\n"
    "      --limit N        number of problems (default all)\n"
    "      --samples N      solutions (prm, revision) or chains (orm) per problem (default 4)\n"
    "      --rollouts K     prm: completions per step prefix (default 8)\n"
    "      --chain L        orm: attempts per chain (default 4)\n"
    "      --temp T         sampling temperature (default 1.0)\n"
    "      --max-tokens N   per solution (default 256)\n"
    "      --seed S         (default 1)\n"
    "  -t, --threads N      compute threads (default: all cores)\n";

static void progress(void *ud, const char *label, double done, double total) {
    (void)ud;
    if (isatty(2)) fprintf(stderr, "\r  %s %.0f/%.0f   ", label, done, total);
}

int cmd_label(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    if (argc < 2) return cli_bad_args("label", "missing kind: prm, revision or orm");
    const char *kind = argv[1], *model = NULL;
    if (strcmp(kind, "prm") && strcmp(kind, "revision") && strcmp(kind, "orm"))
        return cli_bad_args("label", "unknown kind '%s' (prm, revision, orm)", kind);
    ttc_label_opts o = {.samples = 4, .rollouts = 8, .chain = 4, .temperature = 1.0f, .max_tokens = 256, .seed = 1};
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"data", 1, 0, 'd'}, {"out", 1, 0, 'o'}, {"offset", 1, 0, 'O'},
        {"limit", 1, 0, 'l'}, {"samples", 1, 0, 's'}, {"rollouts", 1, 0, 'k'}, {"chain", 1, 0, 'L'},
        {"temp", 1, 0, 'T'}, {"max-tokens", 1, 0, 'M'}, {"seed", 1, 0, 'S'}, {"threads", 1, 0, 't'}, {0, 0, 0, 0}};
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
        default: return cli_bad_args("label", "unknown option");
        }
    }
    if (optind < argc) return cli_bad_args("label", "unexpected argument '%s'", argv[optind]);
    if (!model || !o.data || !o.out) return cli_bad_args("label", "-m, --data and -o are required");
    o.progress = progress;
    ttc_err e = {0};
    int rc = !strcmp(kind, "prm") ? ttc_label_prm(model, &o, &e)
           : !strcmp(kind, "revision") ? ttc_label_revision(model, &o, &e) : ttc_label_orm(model, &o, &e);
    if (isatty(2)) fputc('\n', stderr);
    return rc ? cli_fail("label", &e) : 0;
}
