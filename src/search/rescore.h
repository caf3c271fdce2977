/* Re-scoring recorded samples: majority, best-of-N and best-of-N weighted
 * accuracy at N = 1, 2, 4, ... from a file of sampled solutions, by
 * subsampling (the paper's way of drawing budget curves from one set of
 * samples).
 *
 * Input: JSONL, one problem per line:
 *   {"unique_id": "...", "answer": "<reference>", "level": 3,
 *    "responses": ["...", ...], "answers": ["...", ...], "scores": [...]}
 * "level" is optional (integer, numeric string or "Level N"); "answers"
 * (extracted final answers) is optional when "responses" is given, and is
 * then extracted from them; "scores" is optional (without it only majority
 * is reported) and holds per sample a number or an array of step scores
 * (aggregated with the given ttc_agg); null scores count as absent. Every
 * array present must have the same length >= 1. Blank lines are skipped.
 * The records of `ttc experiment` (records.jsonl) read as they are: "uid"
 * and "reference" stand for "unique_id" and "answer", an optional
 * "correct" array of booleans replaces grading, and records whose "phase"
 * is not "samples" are skipped.
 *
 * Subsampling: for each N (powers of two up to the largest sample count),
 * each problem draws `trials` random subsets of min(N, its sample count)
 * samples without replacement (seeded per (problem, N) from the seed), votes
 * on each, and scores the fraction of subsets whose pick is correct
 * (ttc_answer_equal against the reference, or "correct"). Accuracies are means over the
 * problems of a level, and over all problems (problems without a level
 * count only there). best-of-N and weighted average over the problems that
 * have scores (NAN when none has). N = 1 is computed exactly (the fraction
 * of correct samples). */
#ifndef TTC_SEARCH_RESCORE_H
#define TTC_SEARCH_RESCORE_H
#include <stdbool.h>
#include <stdint.h>
#include "ttc.h"
#include "search/select.h"

typedef struct ttc_rescore_problem {
    char  *id;
    int    level;        /* 0 when absent */
    int    n;            /* samples */
    char **keys;         /* canonical answer keys */
    bool  *correct;      /* per sample */
    float *scores;       /* per sample (NAN = absent); NULL without scores */
} ttc_rescore_problem;

typedef struct ttc_rescore_set {
    ttc_rescore_problem *p;
    int n, cap;
    int max_samples;
    bool has_scores;     /* at least one problem has scores */
} ttc_rescore_set;

/* Parses one JSONL record (line `line` of `path`, for messages) and adds it
 * to s. Errors: TTC_EFORMAT "path:line: field: what". */
int ttc_rescore_add_json(ttc_rescore_set *s, const char *json, size_t len, ttc_agg agg,
                         const char *path, int line, ttc_err *e);
/* Reads a whole JSONL file into s (fresh or already holding problems). */
int ttc_rescore_load(const char *path, ttc_agg agg, ttc_rescore_set *s, ttc_err *e);
void ttc_rescore_set_free(ttc_rescore_set *s);

/* Accuracy table: all problems first (level 0), then each level present in
 * increasing order; within each, N = 1, 2, 4, ...: the three votes. */
typedef struct ttc_rescore_row {
    int    level;        /* 0 = all */
    int    n_problems;
    int    n_scored;     /* problems with scores (behind bon and weighted) */
    int    n;            /* N */
    double majority, bon, weighted;   /* NAN when the set has no scores */
} ttc_rescore_row;

typedef struct ttc_rescore_table {
    ttc_rescore_row *rows;
    int n_rows;
    int trials;
} ttc_rescore_table;

/* Computes the table over s (see the file comment). trials >= 1. */
int ttc_rescore_run(const ttc_rescore_set *s, int trials, uint64_t seed, ttc_rescore_table *out, ttc_err *e);
void ttc_rescore_table_free(ttc_rescore_table *t);
#endif
