/* Sampling: temperature, top-k, top-p, min-p over a candidate array. */
#include "model/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ttc_sampler_init(ttc_sampler *s, int n_vocab, ttc_err *e) {
    memset(s, 0, sizeof *s);
    if (n_vocab <= 0) return ttc_err_set(e, TTC_EINVAL, "sampler: vocabulary size %d must be positive", n_vocab);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    if (!s->cand) return ttc_err_set(e, TTC_ENOMEM, "sampler: cannot allocate %d candidates", n_vocab);
    s->n_vocab = n_vocab;
    return TTC_OK;
}

void ttc_sampler_free(ttc_sampler *s) {
    free(s->cand);
    memset(s, 0, sizeof *s);
}

int32_t ttc_argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

float ttc_logprob(const float *x, int n, int token) {
    float m = x[ttc_argmax(x, n)];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)(x[i] - m));
    return (float)((double)(x[token] - m) - log(sum));
}

/* Strict total order: larger value first, then lower id. */
static inline int cand_before(ttc_cand a, ttc_cand b) { return a.v > b.v || (a.v == b.v && a.id < b.id); }

static int cand_cmp(const void *pa, const void *pb) {
    ttc_cand a = *(const ttc_cand *)pa, b = *(const ttc_cand *)pb;
    return cand_before(a, b) ? -1 : cand_before(b, a) ? 1 : 0;
}

/* Rearranges c[0..n) so that c[0..k) are the k first in cand order
 * (unsorted among themselves). Quickselect, median-of-three pivot. */
static void cand_select(ttc_cand *c, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cand_before(c[mid], c[lo])) { ttc_cand t = c[mid]; c[mid] = c[lo]; c[lo] = t; }
        if (cand_before(c[hi], c[lo])) { ttc_cand t = c[hi]; c[hi] = c[lo]; c[lo] = t; }
        if (cand_before(c[hi], c[mid])) { ttc_cand t = c[hi]; c[hi] = c[mid]; c[mid] = t; }
        ttc_cand pivot = c[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (cand_before(c[i], pivot)) i++;
            while (cand_before(pivot, c[j])) j--;
            if (i <= j) { ttc_cand t = c[i]; c[i] = c[j]; c[j] = t; i++; j--; }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

/* Replaces values (scaled logits, max first or anywhere) by probabilities
 * exp(v - max) / sum over c[0..n); returns nothing. */
static void cand_softmax(ttc_cand *c, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = c[i].v > m ? c[i].v : m;
    double sum = 0;
    for (int i = 0; i < n; i++) { c[i].v = expf(c[i].v - m); sum += c[i].v; }
    for (int i = 0; i < n; i++) c[i].v = (float)(c[i].v / sum);
}

static void cand_normalize(ttc_cand *c, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += c[i].v;
    for (int i = 0; i < n; i++) c[i].v = (float)(c[i].v / sum);
}

int ttc_sampler_candidates(ttc_sampler *s, const float *logits, const ttc_sample_params *p, ttc_err *e) {
    int n = s->n_vocab;
    ttc_cand *c = s->cand;
    float m = -INFINITY;
    int32_t best = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(logits[i])) return ttc_err_set(e, TTC_ENUMERIC, "sampler: logit %d is NaN", i);
        if (logits[i] > m) { m = logits[i]; best = i; }
    }
    if (!isfinite(m)) return ttc_err_set(e, TTC_ENUMERIC, "sampler: no finite logit (max %g)", m);
    if (p->temperature <= 0) {
        c[0] = (ttc_cand){1.0f, best};
        s->n_cand = 1;
        return TTC_OK;
    }
    float inv_t = 1.0f / p->temperature;
    for (int i = 0; i < n; i++) c[i] = (ttc_cand){(logits[i] - m) * inv_t, i};
    int nc = n;
    bool sorted = false; /* c[0..nc) in cand order */
    if (p->top_k > 0 && p->top_k < nc) {
        cand_select(c, nc, p->top_k);
        nc = p->top_k;
        qsort(c, (size_t)nc, sizeof *c, cand_cmp);
        sorted = true;
    }
    if (p->top_p > 0 && p->top_p < 1) {
        /* Smallest most-likely prefix holding top_p of the mass. Most of the
         * mass usually sits in a few hundred tokens: sort a head first and
         * sort the rest only if the cut is not inside it. */
        double total = 0, acc = 0;
        for (int i = 0; i < nc; i++) total += exp((double)c[i].v);
        int head = sorted ? nc : nc > 1024 ? 1024 : nc, cut = 0;
        if (!sorted) {
            if (head < nc) cand_select(c, nc, head);
            qsort(c, (size_t)head, sizeof *c, cand_cmp);
        }
        for (int i = 0; i < nc && !cut; i++) {
            if (i == head) qsort(c + head, (size_t)(nc - head), sizeof *c, cand_cmp);
            acc += exp((double)c[i].v);
            if (acc >= p->top_p * total) cut = i + 1;
        }
        if (cut) nc = cut;
    }
    cand_softmax(c, nc);
    if (p->min_p > 0) {
        float pmax = 0;
        for (int i = 0; i < nc; i++) pmax = c[i].v > pmax ? c[i].v : pmax;
        float thr = p->min_p * pmax;
        int k = 0;
        for (int i = 0; i < nc; i++)
            if (c[i].v >= thr) c[k++] = c[i];
        nc = k;
        cand_normalize(c, nc);
    }
    s->n_cand = nc;
    return TTC_OK;
}

int ttc_sample(ttc_sampler *s, const float *logits, const ttc_sample_params *p, ttc_rng *rng,
               ttc_sample_out *out, ttc_err *e) {
    int rc = ttc_sampler_candidates(s, logits, p, e);
    if (rc) return rc;
    int pick = 0;
    if (p->temperature > 0) {
        double u = ttc_rng_double(rng), acc = 0;
        pick = s->n_cand - 1; /* rounding: u beyond the summed mass lands on the last */
        for (int i = 0; i < s->n_cand; i++) {
            acc += s->cand[i].v;
            if (u < acc) { pick = i; break; }
        }
    }
    out->token = s->cand[pick].id;
    out->logprob_sampled = p->temperature > 0 ? logf(s->cand[pick].v) : 0.0f;
    out->logprob = ttc_logprob(logits, s->n_vocab, out->token);
    return TTC_OK;
}
