/* Choosing one answer from many scored samples: step-score aggregation and
 * the three votes of the paper (majority, best-of-N, best-of-N weighted).
 *
 * Candidates are given as canonical answer keys (from the grader; equal keys
 * = equivalent answers) and scores. A candidate whose key is NULL or "" has
 * no answer: it never wins while any candidate has one. A NaN score counts
 * as absent (never best, adds nothing to a sum).
 *
 * Tie-breaking (deterministic, documented because tests pin it):
 *   majority   most votes; tie: larger summed score (when scores are given);
 *              tie: the answer that appears first.
 *   best       highest score; tie: lowest index.
 *   weighted   largest summed score; tie: more votes; tie: the answer that
 *              appears first.
 * The chosen candidate within the winning answer is its highest-scored
 * member (lowest index on ties), or its first member without scores. */
#ifndef TTC_SEARCH_SELECT_H
#define TTC_SEARCH_SELECT_H
#include <stdbool.h>
#include "ttc.h"

typedef enum ttc_agg {
    TTC_AGG_LAST = 0,  /* score of the last step (the paper's choice) */
    TTC_AGG_MIN  = 1,
    TTC_AGG_PROD = 2,
    TTC_AGG_MEAN = 3,
} ttc_agg;

typedef enum ttc_vote {
    TTC_VOTE_MAJORITY = 0,
    TTC_VOTE_BEST     = 1,
    TTC_VOTE_WEIGHTED = 2,
} ttc_vote;

/* Aggregates n step scores; NAN when n <= 0. */
float ttc_agg_apply(ttc_agg agg, const float *scores, int n);
/* "last", "min", "prod", "mean" -> *out; TTC_EINVAL naming the choices. */
int ttc_agg_parse(const char *name, ttc_agg *out, ttc_err *e);
const char *ttc_agg_name(ttc_agg agg);

/* The chosen candidate among keys[0..n) under vote (see the file comment);
 * scores may be NULL for TTC_VOTE_MAJORITY only (else treated as all 0).
 * Returns its index, or -1 when n <= 0. Never allocates more than O(n). */
int ttc_select(ttc_vote vote, const char *const *keys, const float *scores, int n);

/* Same over the subset idx[0..m) of the candidates; returns an index into
 * keys (not into idx), or -1 when m <= 0. */
int ttc_select_subset(ttc_vote vote, const char *const *keys, const float *scores,
                      const int *idx, int m);
#endif
