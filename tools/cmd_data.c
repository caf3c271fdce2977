/* ttc data gen: writes a split of the synthetic MATH-like benchmark. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data/synth.h"

static const char usage[] =
    "usage: ttc data gen --split train|val|test --n N [--seed S] [--levels 1-5] -o FILE.jsonl\n"
    "\n"
    "Generates N synthetic arithmetic word problems (MATH-500 JSONL fields) with\n"
    "one checkable step per solution line and the answer as \\boxed{N}. Levels\n"
    "cycle through the set (balanced); the output depends only on the split,\n"
    "seed, level set and N (a prefix of a longer run is a shorter run). Splits\n"
    "never share a problem. -o - writes to stdout.\n"
    "\n"
    "  --split S    train, val or test (required)\n"
    "  --n N        number of problems (required)\n"
    "  --seed S     seed (default 1)\n"
    "  --levels L   level set, e.g. 1-5, 3, 1,3,5 (default 1-5)\n"
    "  -o FILE      output file (required)\n";

int cmd_data(int argc, char **argv) {
    if (cli_wants_help(argc, argv) || (argc >= 2 && !strcmp(argv[1], "help"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2) return cli_bad_args("data", "missing subcommand 'gen'");
    if (strcmp(argv[1], "gen")) return cli_bad_args("data", "unknown subcommand '%s'", argv[1]);
    const char *split_s = NULL, *levels_s = "1-5", *out = NULL;
    long n = -1, seed = 1;
    ttc_err e = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return cli_bad_args("data", "option %s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--split")) split_s = v;
        else if (!strcmp(a, "--levels")) levels_s = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--n")) {
            if (!cli_parse_int(v, 0, 100000000, &n)) return cli_bad_args("data", "--n: bad count '%s'", v);
        } else if (!strcmp(a, "--seed")) {
            if (!cli_parse_int(v, 0, 0x7fffffffffffffffL, &seed)) return cli_bad_args("data", "--seed: bad seed '%s'", v);
        } else return cli_bad_args("data", "unknown option '%s'", a);
    }
    int split;
    unsigned mask;
    if (!split_s) return cli_bad_args("data", "--split is required");
    if (n < 0) return cli_bad_args("data", "--n is required");
    if (!out) return cli_bad_args("data", "-o is required");
    if (ttc_synth_split_parse(split_s, &split, &e)) return cli_bad_args("data", "%s", e.msg);
    if (ttc_synth_levels_parse(levels_s, &mask, &e)) return cli_bad_args("data", "%s", e.msg);

    bool to_stdout = !strcmp(out, "-");
    FILE *f = to_stdout ? stdout : fopen(out, "wb");
    if (!f) {
        ttc_err_set(&e, TTC_EIO, "%s: cannot create: %s", out, strerror(errno));
        return cli_fail("data", &e);
    }
    ttc_synth_gen *g;
    int rc = ttc_synth_gen_new(&g, split, (uint64_t)seed, mask, &e);
    ttc_synth_problem p;
    for (long i = 0; !rc && i < n; i++) {
        rc = ttc_synth_gen_next(g, &p, &e);
        if (!rc) rc = ttc_synth_write_jsonl(f, &p, &e);
    }
    ttc_synth_gen_free(g);
    if ((to_stdout ? fflush(f) : fclose(f)) != 0 && !rc)
        rc = ttc_err_set(&e, TTC_EIO, "%s: write failed: %s", out, strerror(errno));
    if (rc) {
        if (!to_stdout) remove(out);
        return cli_fail("data", &e);
    }
    return 0;
}
