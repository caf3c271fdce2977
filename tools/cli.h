/* Shared helpers for the ttc command-line tool. Each subcommand lives in its
 * own tools/cmd_NAME.c and is listed in the table in tools/ttc.c.
 * Conventions: `--help` prints usage to stdout and returns 0; bad arguments
 * print one line "ttc NAME: ..." to stderr and return 2; runtime failures
 * print the ttc_err message and return 1. */
#ifndef TTC_CLI_H
#define TTC_CLI_H
#include <stdbool.h>
#include "ttc.h"

typedef int (*cli_fn)(int argc, char **argv);

/* Prints "ttc CMD: <message> (try 'ttc CMD --help')" to stderr; returns 2. */
int cli_bad_args(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "ttc CMD: <e->msg>" to stderr; returns 1. */
int cli_fail(const char *cmd, const ttc_err *e);
/* True when argv holds -h or --help. */
bool cli_wants_help(int argc, char **argv);
/* Parses a whole decimal integer/float in [lo, hi]; false on junk or range. */
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *s, double lo, double hi, double *out);

int cmd_gguf(int argc, char **argv);
int cmd_gguf_random(int argc, char **argv); /* "ttc gguf random", called by cmd_gguf */
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_grade(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_solve(int argc, char **argv);
int cmd_rescore(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_label(int argc, char **argv);
#endif
