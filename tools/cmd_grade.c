/* ttc grade: grades one model response (stdin) against a reference answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data/grader.h"

static const char usage[] =
    "usage: ttc grade --reference ANSWER [--canonical] < response.txt\n"
    "\n"
    "Reads a full model response on stdin, extracts its final answer (last\n"
    "\\boxed{...}, else \"the answer is ...\", else the last number) and prints\n"
    "one line: \"correct\" or \"incorrect\", a tab, and the extracted answer.\n"
    "Equivalence follows the PRM800K MATH grading rules (see src/data/grader.h).\n"
    "\n"
    "  --reference A   the reference answer (LaTeX, as in MATH's \"answer\" field)\n"
    "  --canonical     also print a tab and the answer's majority-vote key\n";

int cmd_grade(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    const char *ref = NULL;
    bool canon = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reference") || !strcmp(argv[i], "-r")) {
            if (i + 1 >= argc) return cli_bad_args("grade", "%s needs a value", argv[i]);
            ref = argv[++i];
        } else if (!strcmp(argv[i], "--canonical")) {
            canon = true;
        } else {
            return cli_bad_args("grade", "unknown argument '%s'", argv[i]);
        }
    }
    if (!ref) return cli_bad_args("grade", "--reference is required");
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += got;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb; cap *= 2;
        }
    }
    if (!buf || ferror(stdin)) {
        free(buf);
        ttc_err e;
        ttc_err_set(&e, TTC_EIO, "stdin: read failed");
        return cli_fail("grade", &e);
    }
    buf[n] = 0;
    char ans[1024];
    ttc_extract_answer(buf, ans, sizeof ans);
    for (char *p = ans; *p; p++) if (*p == '\n' || *p == '\t') *p = ' ';
    bool ok = ttc_answer_equal(ans, ref);
    printf("%s\t%s", ok ? "correct" : "incorrect", ans);
    if (canon) {
        char key[1024];
        ttc_answer_canonical(ans, key, sizeof key);
        printf("\t%s", key);
    }
    putchar('\n');
    free(buf);
    return 0;
}
