/* Step-score aggregation and answer votes (see select.h). */
#include "search/select.h"

#include <math.h>
#include <string.h>

float ttc_agg_apply(ttc_agg agg, const float *s, int n) {
    if (n <= 0) return NAN;
    double acc = agg == TTC_AGG_PROD ? 1.0 : agg == TTC_AGG_MIN ? INFINITY : 0.0;
    switch (agg) {
    case TTC_AGG_LAST: return s[n - 1];
    case TTC_AGG_MIN:  for (int i = 0; i < n; i++) acc = s[i] < acc ? s[i] : acc; break;
    case TTC_AGG_PROD: for (int i = 0; i < n; i++) acc *= s[i]; break;
    case TTC_AGG_MEAN: for (int i = 0; i < n; i++) acc += s[i]; acc /= n; break;
    }
    return (float)acc;
}

static const char *const agg_names[] = {"last", "min", "prod", "mean"};

const char *ttc_agg_name(ttc_agg agg) {
    return (unsigned)agg < 4 ? agg_names[agg] : "?";
}

int ttc_agg_parse(const char *name, ttc_agg *out, ttc_err *e) {
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, agg_names[i])) { *out = (ttc_agg)i; return TTC_OK; }
    return ttc_err_set(e, TTC_EINVAL, "aggregation '%s': expected last, min, prod or mean",
                       name ? name : "(null)");
}

static bool has_key(const char *k) { return k && *k; }
static bool same_key(const char *a, const char *b) {
    if (!has_key(a) || !has_key(b)) return !has_key(a) && !has_key(b);
    return !strcmp(a, b);
}
/* A score usable for comparisons: NaN (absent) sorts below everything. */
static double cmp_score(const float *s, int i) {
    if (!s) return 0.0;
    return isnan(s[i]) ? -INFINITY : s[i];
}
static double sum_score(const float *s, int i) {
    if (!s) return 0.0;
    return isnan(s[i]) ? 0.0 : s[i];
}

/* The vote over positions a in [0, m) of candidate at(a): idx[a], or a
 * itself when idx is NULL. */
static int select_impl(ttc_vote vote, const char *const *keys, const float *scores,
                       const int *idx, int m) {
#define at(a) (idx ? idx[a] : (a))
    if (m <= 0) return -1;
    bool any_key = false;
    for (int a = 0; a < m && !any_key; a++) any_key = has_key(keys[at(a)]);

    if (vote == TTC_VOTE_BEST) {
        int best = -1;
        for (int a = 0; a < m; a++) {
            int i = at(a);
            if (any_key && !has_key(keys[i])) continue;
            if (best < 0 || cmp_score(scores, i) > cmp_score(scores, best) ||
                (cmp_score(scores, i) == cmp_score(scores, best) && i < best))
                best = i;
        }
        return best;
    }

    /* Groups by key, O(m^2) without allocation: each group is visited from
     * its first member (in subset order, which is "appears first"). */
    int best_first = -1, best_member = -1, best_count = 0;
    double best_sum = 0;
    for (int a = 0; a < m; a++) {
        int i = at(a);
        if (any_key && !has_key(keys[i])) continue;
        bool seen = false;
        for (int b = 0; b < a && !seen; b++) seen = same_key(keys[at(b)], keys[i]);
        if (seen) continue;
        int count = 0, member = i;
        double sum = 0;
        for (int b = a; b < m; b++) {
            int j = at(b);
            if (!same_key(keys[j], keys[i])) continue;
            count++;
            sum += sum_score(scores, j);
            if (cmp_score(scores, j) > cmp_score(scores, member) ||
                (cmp_score(scores, j) == cmp_score(scores, member) && j < member))
                member = j;
        }
        bool better;
        if (best_first < 0) better = true;
        else if (vote == TTC_VOTE_MAJORITY)
            better = count > best_count || (count == best_count && sum > best_sum);
        else
            better = sum > best_sum || (sum == best_sum && count > best_count);
        if (better) { best_first = i; best_member = member; best_count = count; best_sum = sum; }
    }
    return best_member;
#undef at
}

int ttc_select_subset(ttc_vote vote, const char *const *keys, const float *scores,
                      const int *idx, int m) {
    return select_impl(vote, keys, scores, idx, m);
}

int ttc_select(ttc_vote vote, const char *const *keys, const float *scores, int n) {
    return select_impl(vote, keys, scores, NULL, n);
}
