/* ttc data gen: writes a split of the synthetic MATH-like benchmark. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/util.h"
#include "cli.h"
#include "data/synth.h"

static const char usage[] =
    "usage: ttc data gen --split train|val|test --n N [--seed S] [--levels 1-5] -o FILE.jsonl\n"
    "       ttc data check FILE.jsonl [--json]\n"
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
    "  -o FILE      output file (required)\n"
    "\n"
    "check: checks the arithmetic of every step line (\"a op b = c\") of the\n"
    "solutions in a JSONL file -- the \"text\" of `ttc eval --samples-out`\n"
    "records, else \"solution\" -- and reports per level how many solutions have\n"
    "a wrong step, split by the record's \"correct\" field when present: how\n"
    "often a wrong final answer comes with an arithmetic slip.\n";

typedef struct { long n, slip, n_bad, bad_slip, n_good, good_slip, steps; } check_row;

/* ttc data check FILE [--json] */
static int data_check(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_bad_args("data", "unknown option '%s'", argv[i]);
        else if (path) return cli_bad_args("data", "check takes one file");
        else path = argv[i];
    }
    if (!path) return cli_bad_args("data", "check: missing FILE.jsonl");
    ttc_err e = {0};
    char *buf;
    size_t len;
    if (ttc_read_file(path, &buf, &len, &e)) return cli_fail("data", &e);
    check_row rows[102] = {{0}};   /* [0..100] levels, [101] all */
    int line = 0, rc = 0;
    for (char *p = buf, *nl; p < buf + len && !rc; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (!nl) nl = buf + len;
        line++;
        size_t n = (size_t)(nl - p);
        bool blank = true;
        for (size_t i = 0; i < n; i++) if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') blank = false;
        if (blank) continue;
        json_error_t je;
        json_t *o = json_loadb(p, n, 0, &je);
        json_t *t = o ? json_object_get(o, "text") : NULL;
        if (!t && o) t = json_object_get(o, "solution");
        if (!o || !json_is_string(t)) {
            rc = ttc_err_set(&e, TTC_EFORMAT, "%s:%d: %s", path, line,
                             o ? "field \"text\" or \"solution\": expected string" : je.text);
            json_decref(o);
            break;
        }
        json_t *lv = json_object_get(o, "level"), *ok = json_object_get(o, "correct");
        int level = json_is_integer(lv) ? (int)json_integer_value(lv) : 0;
        if (level < 0 || level > 100) level = 0;
        int n_lines, n_wrong;
        ttc_synth_check_steps(json_string_value(t), NULL, 0, &n_lines, &n_wrong);
        for (int k = 0; k < 2; k++) {
            check_row *r = &rows[k ? 101 : level];
            r->n++;
            r->steps += n_lines;
            r->slip += n_wrong > 0;
            if (json_is_boolean(ok)) {
                if (json_is_true(ok)) { r->n_good++; r->good_slip += n_wrong > 0; }
                else { r->n_bad++; r->bad_slip += n_wrong > 0; }
            }
        }
        json_decref(o);
    }
    free(buf);
    if (rc) return cli_fail("data", &e);
    #define FRAC(a, b) ((b) ? (double)(a) / (double)(b) : 0.0)
    if (json) printf("{\"levels\": {");
    else printf("%-6s %8s %10s %12s %12s %10s\n", "level", "samples", "with slip", "wrong: slip", "right: slip", "lines");
    for (int l = 0, first = 1; l <= 101; l++) {
        check_row *r = &rows[l];
        if (!r->n) continue;
        if (json) {
            if (l == 101) printf("}, \"overall\": ");
            else printf("%s\"%d\": ", first ? "" : ", ", l);
            printf("{\"samples\": %ld, \"slip_rate\": %.6f, \"incorrect\": %ld, \"incorrect_slip_rate\": %.6f, "
                   "\"correct\": %ld, \"correct_slip_rate\": %.6f, \"mean_lines\": %.3f}",
                   r->n, FRAC(r->slip, r->n), r->n_bad, FRAC(r->bad_slip, r->n_bad), r->n_good,
                   FRAC(r->good_slip, r->n_good), FRAC(r->steps, r->n));
            first = 0;
        } else {
            char name[8];
            snprintf(name, sizeof name, l == 101 ? "all" : "%d", l);
            printf("%-6s %8ld %10.4f %12.4f %12.4f %10.2f\n", name, r->n, FRAC(r->slip, r->n),
                   FRAC(r->bad_slip, r->n_bad), FRAC(r->good_slip, r->n_good), FRAC(r->steps, r->n));
        }
    }
    if (json) printf("}\n");
    #undef FRAC
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_data(int argc, char **argv) {
    if (cli_wants_help(argc, argv) || (argc >= 2 && !strcmp(argv[1], "help"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2) return cli_bad_args("data", "missing subcommand 'gen' or 'check'");
    if (!strcmp(argv[1], "check")) return data_check(argc, argv);
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
