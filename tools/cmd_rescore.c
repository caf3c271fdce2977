/* ttc rescore: majority / best-of-N / weighted best-of-N accuracy curves from
 * recorded samples (see search/rescore.h for the input and the method). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "search/rescore.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: ttc rescore SAMPLES.jsonl [options]\n"
        "Accuracy of majority voting, best-of-N and best-of-N weighted at N = 1, 2, 4, ...\n"
        "by subsampling the recorded samples, overall and per level. Each line:\n"
        "  {\"unique_id\", \"answer\" (reference), \"level\"?, \"responses\": [...],\n"
        "   \"answers\": [...] (optional: else extracted from responses), \"scores\": [...]}\n"
        "  --trials T   random subsets per problem and N (default 32)\n"
        "  --seed S     subsampling seed (default 0)\n"
        "  --agg A      aggregation of per-step score arrays: last, min, prod, mean (default last)\n"
        "  --json       print one JSON object\n");
}

static json_t *num(double x) { return isnan(x) ? json_null() : json_real(x); }

static int print_json(const ttc_rescore_set *s, const ttc_rescore_table *t) {
    json_t *o = json_object(), *rows = json_array();
    json_object_set_new(o, "problems", json_integer(s->n));
    json_object_set_new(o, "max_samples", json_integer(s->max_samples));
    json_object_set_new(o, "trials", json_integer(t->trials));
    for (int i = 0; i < t->n_rows; i++) {
        const ttc_rescore_row *r = &t->rows[i];
        json_t *j = json_object();
        if (r->level) json_object_set_new(j, "level", json_integer(r->level));
        else json_object_set_new(j, "level", json_string("all"));
        json_object_set_new(j, "problems", json_integer(r->n_problems));
        json_object_set_new(j, "scored", json_integer(r->n_scored));
        json_object_set_new(j, "n", json_integer(r->n));
        json_object_set_new(j, "majority", num(r->majority));
        json_object_set_new(j, "bon", num(r->bon));
        json_object_set_new(j, "bon_weighted", num(r->weighted));
        json_array_append_new(rows, j);
    }
    json_object_set_new(o, "rows", rows);
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!txt) return 1;
    printf("%s\n", txt);
    free(txt);
    return 0;
}

static void print_pct(double x) {
    if (isnan(x)) printf("  %8s", "-");
    else printf("  %7.1f%%", 100.0 * x);
}

static void print_text(const ttc_rescore_set *s, const ttc_rescore_table *t) {
    printf("%d problems, up to %d samples each, %d subsets per N\n", s->n, s->max_samples, t->trials);
    int level = -1;
    for (int i = 0; i < t->n_rows; i++) {
        const ttc_rescore_row *r = &t->rows[i];
        if (r->level != level) {
            level = r->level;
            if (level) printf("\nlevel %d (%d problems", level, r->n_problems);
            else printf("\nall (%d problems", r->n_problems);
            if (r->n_scored < r->n_problems) printf(", %d with scores", r->n_scored);
            printf(")\n");
            printf("  %6s  %9s  %9s  %9s\n", "N", "majority", "best-of-N", "weighted");
        }
        printf("  %6d", r->n);
        print_pct(r->majority);
        print_pct(r->bon);
        print_pct(r->weighted);
        putchar('\n');
    }
}

int cmd_rescore(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *path = NULL;
    long trials = 32, seed = 0;
    bool json = false;
    ttc_agg agg = TTC_AGG_LAST;
    ttc_err e = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (a[0] != '-' || !a[1]) {
            if (path) return cli_bad_args("rescore", "more than one samples file ('%s')", a);
            path = a;
            continue;
        }
        if (i + 1 >= argc) return cli_bad_args("rescore", "%s needs a value (or is unknown)", a);
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "--trials")) ok = cli_parse_int(v, 1, 100000, &trials);
        else if (!strcmp(a, "--seed")) ok = cli_parse_int(v, 0, 0x7fffffffL, &seed);
        else if (!strcmp(a, "--agg")) ok = ttc_agg_parse(v, &agg, &e) == TTC_OK;
        else return cli_bad_args("rescore", "unknown argument '%s'", a);
        if (!ok) return cli_bad_args("rescore", "bad value '%s' for %s", v, a);
    }
    if (!path) return cli_bad_args("rescore", "missing SAMPLES.jsonl");
    ttc_rescore_set s = {0};
    ttc_rescore_table t = {0};
    int rc = ttc_rescore_load(path, agg, &s, &e);
    if (!rc) rc = ttc_rescore_run(&s, (int)trials, (uint64_t)seed, &t, &e);
    int out = 0;
    if (!rc) {
        if (json) out = print_json(&s, &t);
        else print_text(&s, &t);
    }
    ttc_rescore_table_free(&t);
    ttc_rescore_set_free(&s);
    if (rc) return cli_fail("rescore", &e);
    return out || fflush(stdout) ? 1 : 0;
}
