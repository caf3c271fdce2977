/* JSONL benchmark loader: MATH-500, GSM8K and the synthetic benchmark.
 *
 * Each non-blank line is one JSON object, in one of two shapes:
 *  - MATH-500 / synth: "problem" (string, required), "answer" (string;
 *    when absent, the last \boxed{} of "solution" is used), optional
 *    "solution", "subject", "unique_id" (strings) and "level" (an integer or a
 *    string "Level N"; 0 when absent or "Level ?").
 *  - GSM8K: "question" (string) and "answer" (string ending "#### N"):
 *    problem = question, solution = the text before "####" with the
 *    <<calculator>> annotations removed, answer = N (thousands commas
 *    dropped), level 0, subject "gsm8k", unique_id "gsm8k/<idx or line>".
 * Blank lines are skipped; any malformed line is an error that names the
 * file, the line and the field. */
#ifndef TTC_DATA_DATASET_H
#define TTC_DATA_DATASET_H
#include <stddef.h>
#include "ttc.h"

typedef struct ttc_example {
    char *problem;
    char *solution;    /* "" when absent */
    char *answer;
    char *subject;     /* "" when absent */
    char *unique_id;   /* "<file>:<line>" when absent */
    int   level;       /* 1..5 for MATH/synth, 0 unknown */
} ttc_example;

typedef struct ttc_dataset {
    ttc_example *items;
    int n;
} ttc_dataset;

/* Parses one JSONL line (len bytes, no NUL needed) into *out (fields
 * malloc'd; free with ttc_example_free). file and line_no are only used in
 * messages and the default unique_id. TTC_EFORMAT on a malformed line,
 * TTC_ENOMEM when out of memory; *out is zeroed on failure. */
int  ttc_example_parse(const char *text, size_t len, const char *file, int line_no,
                       ttc_example *out, ttc_err *e);
void ttc_example_free(ttc_example *x);

/* Loads every example of a JSONL file; *out is filled on success and empty
 * on failure. Errors: TTC_ENOTFOUND/TTC_EIO (file), TTC_EFORMAT (first bad
 * line, "file:line: field ...: why"). */
int  ttc_dataset_load(const char *path, ttc_dataset *out, ttc_err *e);
void ttc_dataset_free(ttc_dataset *d);
#endif
