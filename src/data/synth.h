/* The synthetic MATH-like benchmark: procedurally generated arithmetic word
 * problems in five difficulty levels, each with a unique non-negative integer
 * answer and a worked solution of one checkable step per line:
 *
 *     Problem: Ann has 12 apples. She buys 3 packs of 8. How many ...?
 *     Solution:
 *     She buys 3 packs of 8, so 3 * 8 = 24.
 *     Then she has 12 + 24 = 36.
 *     The answer is \boxed{36}.
 *
 * Every step line holds exactly one computation "A op B = C" (op one of
 * + - * /, integers >= 0); the last line is "The answer is \boxed{N}.".
 *
 * Difficulty grows with the number of dependent steps (1-2 at level 1, 5-7 at
 * level 5), the size of the numbers, multiplication/division, and traps:
 * distractor quantities, "how many more" questions, groups that must be
 * multiplied before adding (order of operations), and remainders.
 *
 * Splits are disjoint by construction: a problem belongs to the split chosen
 * by a hash of its text (5 % test, 5 % val, 90 % train), and a generator for
 * one split discards everything else, plus duplicates within the split.
 * Output is a pure function of (split, seed, level set, index). */
#ifndef TTC_DATA_SYNTH_H
#define TTC_DATA_SYNTH_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "ttc.h"
#include "base/rng.h"

#define TTC_SYNTH_LEVELS 5

enum { TTC_SPLIT_TRAIN = 0, TTC_SPLIT_VAL = 1, TTC_SPLIT_TEST = 2 };

typedef struct ttc_synth_problem {
    int  level;            /* 1..5 */
    int  n_steps;          /* computation lines in the solution */
    char problem[384];
    char solution[512];    /* lines each ending in '\n'; last is the answer */
    char answer[24];       /* decimal integer */
    char unique_id[40];    /* "synth/test/L3/000123" */
} ttc_synth_problem;

typedef struct ttc_synth_gen ttc_synth_gen;

/* "train" / "val" / "test" -> TTC_SPLIT_*; TTC_EINVAL otherwise. */
int ttc_synth_split_parse(const char *name, int *split, ttc_err *e);
const char *ttc_synth_split_name(int split);

/* Parses a level set: "3", "1-5", "1,3,5", "2-3,5" into a bit mask
 * (bit L-1 for level L). TTC_EINVAL on anything else or an empty set. */
int ttc_synth_levels_parse(const char *spec, unsigned *mask, ttc_err *e);

/* The split a problem text belongs to (hash partition). */
int ttc_synth_split_of(const char *problem_text);

/* Makes one problem of the given level from r (no split filter, no dedup;
 * unique_id left empty). Always succeeds for level 1..5. */
void ttc_synth_make(ttc_rng *r, int level, ttc_synth_problem *out);

/* A generator for one split: the k-th call to ttc_synth_gen_next returns the
 * k-th problem of that split; levels cycle through the set bits of
 * level_mask in increasing order, so levels are balanced. */
int  ttc_synth_gen_new(ttc_synth_gen **out, int split, uint64_t seed, unsigned level_mask, ttc_err *e);
int  ttc_synth_gen_next(ttc_synth_gen *g, ttc_synth_problem *out, ttc_err *e);
void ttc_synth_gen_free(ttc_synth_gen *g);

/* Writes p as one JSON line (MATH-500 fields: problem, solution, answer,
 * subject "synth", level, unique_id) plus '\n' to f. TTC_EIO on failure. */
int ttc_synth_write_jsonl(FILE *f, const ttc_synth_problem *p, ttc_err *e);

/* One step line of a solution as seen by the checker. */
enum { TTC_STEP_OK = 0, TTC_STEP_WRONG = 1, TTC_STEP_NOCALC = 2 };
typedef struct ttc_synth_step {
    int     line;         /* 1-based line number in the solution */
    int     status;       /* TTC_STEP_* */
    char    op;           /* '+', '-', '*', '/' (0 when NOCALC) */
    int64_t a, b, c;      /* the parsed "a op b = c" */
} ttc_synth_step;

/* Parses every non-empty line of a solution: the last "A op B = C" on the
 * line (integers, op in + - * x /) is checked exactly (division must be
 * exact); lines without one are TTC_STEP_NOCALC. Fills up to cap steps,
 * sets *n_lines to the number of non-empty lines and *n_wrong to the number
 * of WRONG lines (both may be NULL). Never fails on any text: returns the
 * 1-based line of the first wrong step, or 0 when none is wrong. */
int ttc_synth_check_steps(const char *solution, ttc_synth_step *steps, int cap,
                          int *n_lines, int *n_wrong);
#endif
