/* Sampling over a vocabulary: one vectorised exp pass, then top-k by
 * quickselect, top-p by a histogram of the scaled logits (only the bucket
 * holding the cut is sorted), min-p by a threshold. */
#include "model/sample.h"
#include "model/vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ttc_sampler_init(ttc_sampler *s, int n_vocab, ttc_err *e) {
    memset(s, 0, sizeof *s);
    if (n_vocab <= 0) return ttc_err_set(e, TTC_EINVAL, "sampler: vocabulary size %d must be positive", n_vocab);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->e = malloc((size_t)n_vocab * sizeof *s->e);
    if (!s->cand || !s->e) {
        ttc_sampler_free(s);
        return ttc_err_set(e, TTC_ENOMEM, "sampler: cannot allocate scratch for %d tokens", n_vocab);
    }
    s->n_vocab = n_vocab;
    return TTC_OK;
}

void ttc_sampler_free(ttc_sampler *s) {
    free(s->cand);
    free(s->e);
    memset(s, 0, sizeof *s);
}

TTC_VEC_CLONES
int32_t ttc_argmax(const float *x, int n) {
    /* lane-wise running max with the scalar loop's select (NaN after x[0]
     * never wins; a NaN x[0] stays), then the first index holding it */
    float m = x[0];
    int i = 0;
    if (n >= 16) {
        v8f vm = V8_SET1(x[0]);
        for (; i + 8 <= n; i += 8) {
            v8f v = V8_LOAD(x + i);
            v8i gt = v > vm;
            vm = (v8f)(((v8i)v & gt) | ((v8i)vm & ~gt));
        }
        for (int k = 0; k < 8; k++) m = vm[k] > m ? vm[k] : m;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    i = 0;
    for (; i + 8 <= n - 1; i += 8) {
        v8i hit = V8_LOAD(x + i) == m;
        int any = 0;
        for (int k = 0; k < 8; k++) any |= hit[k];
        if (any) break;
    }
    while (i < n - 1 && !(x[i] == m)) i++;
    return i;
}

/* ---- vectorised exp ---- */

/* out[i] = exp((x[i] - m) * k) for x[i] <= m; returns their sum. */
TTC_VEC_CLONES
static double exp_scaled(const float *x, float m, float k, float *out, int n) {
    double total = 0;
    int i = 0;
    while (i + 8 <= n) {
        v8f acc = {0};
        for (int end = i + 512 < n ? i + 512 : n; i + 8 <= end; i += 8) {
            v8f v = V8_EXP_NEG((V8_LOAD(x + i) - m) * k);
            V8_STORE(out + i, v);
            acc += v;
        }
        for (int j = 0; j < 8; j++) total += acc[j];
    }
    for (; i < n; i++) {
        float v = (x[i] - m) * k;
        out[i] = v < -87.0f ? 0.0f : expf(v);
        total += out[i];
    }
    return total;
}

/* Largest logit, or NaN if any is NaN. */
static float max_or_nan(const float *x, int n, int *nan_at) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (x[i] != x[i]) { *nan_at = i; return NAN; }
        m = x[i] > m ? x[i] : m;
    }
    return m;
}

float ttc_logprob(const float *x, int n, int token) {
    int nan_at;
    float m = max_or_nan(x, n, &nan_at);
    if (m != m || !isfinite(m)) return NAN;
    /* a stack chunk keeps this allocation-free */
    float buf[1024];
    double sum = 0;
    for (int i = 0; i < n; i += 1024) sum += exp_scaled(x + i, m, 1.0f, buf, n - i < 1024 ? n - i : 1024);
    return (float)((double)(x[token] - m) - log(sum));
}

/* ---- candidate sets ---- */

/* Strict total order: larger value first, then lower id. */
static inline int cand_before(ttc_cand a, ttc_cand b) { return a.v > b.v || (a.v == b.v && a.id < b.id); }

static int cand_cmp(const void *pa, const void *pb) {
    ttc_cand a = *(const ttc_cand *)pa, b = *(const ttc_cand *)pb;
    return cand_before(a, b) ? -1 : cand_before(b, a) ? 1 : 0;
}

enum { N_BUCKETS = 2048 };
#define BUCKET_RANGE 88.0f /* exp(-88) is below float's normal range */

/* Keeps the smallest most-likely prefix of c[0..n) (values: unnormalised
 * probabilities, total their sum) holding top_p of the mass; returns its
 * size. Buckets by -log(v) so that only the bucket holding the cut needs
 * sorting; the kept tokens before it stay unsorted. */
static int top_p_cut(ttc_cand *c, int n, double total, float top_p, const float *logits, float m, float inv_t) {
    static const float scale = N_BUCKETS / BUCKET_RANGE;
    double mass[N_BUCKETS] = {0};
    for (int i = 0; i < n; i++) {
        float d = (m - logits[c[i].id]) * inv_t * scale;
        int b = d < N_BUCKETS - 1 ? (int)d : N_BUCKETS - 1;
        mass[b] += c[i].v;
    }
    double need = (double)top_p * total, acc = 0;
    int cut_b = 0;
    while (cut_b < N_BUCKETS - 1 && acc + mass[cut_b] < need) acc += mass[cut_b++];
    /* partition: buckets before the cut, then the cut bucket, then the rest */
    int k0 = 0, k1;
    for (int i = 0; i < n; i++) {
        float d = (m - logits[c[i].id]) * inv_t * scale;
        int b = d < N_BUCKETS - 1 ? (int)d : N_BUCKETS - 1;
        if (b < cut_b) { ttc_cand t = c[k0]; c[k0] = c[i]; c[i] = t; k0++; }
    }
    k1 = k0;
    for (int i = k0; i < n; i++) {
        float d = (m - logits[c[i].id]) * inv_t * scale;
        int b = d < N_BUCKETS - 1 ? (int)d : N_BUCKETS - 1;
        if (b == cut_b) { ttc_cand t = c[k1]; c[k1] = c[i]; c[i] = t; k1++; }
    }
    qsort(c + k0, (size_t)(k1 - k0), sizeof *c, cand_cmp);
    for (int i = k0; i < k1; i++) {
        acc += c[i].v;
        if (acc >= need) return i + 1;
    }
    return k1 > 0 ? k1 : n;
}

/* Min-heap on cand order (the root is the last of the kept k). */
static void heap_sift_down(ttc_cand *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_before(h[w], h[l])) w = l;
        if (r < n && cand_before(h[w], h[r])) w = r;
        if (w == i) return;
        ttc_cand t = h[i]; h[i] = h[w]; h[w] = t;
        i = w;
    }
}

/* The k first of e[0..n) in cand order into c[0..k), sorted. */
static void top_k(const float *e, int n, int k, ttc_cand *c) {
    for (int i = 0; i < k; i++) c[i] = (ttc_cand){e[i], i};
    for (int i = k / 2 - 1; i >= 0; i--) heap_sift_down(c, k, i);
    for (int i = k; i < n; i++)
        if (e[i] > c[0].v) { c[0] = (ttc_cand){e[i], i}; heap_sift_down(c, k, 0); }
    qsort(c, (size_t)k, sizeof *c, cand_cmp);
}

/* The kept set as unnormalised probabilities in s->cand; returns its sum. */
static double kept_set(ttc_sampler *s, const float *logits, const ttc_sample_params *p, float m, double total) {
    int n = s->n_vocab, nc = n;
    ttc_cand *c = s->cand;
    float inv_t = 1.0f / p->temperature;
    bool sorted = p->top_k > 0 && p->top_k < n;
    if (sorted) {
        nc = p->top_k;
        top_k(s->e, n, nc, c);
        total = 0;
        for (int i = 0; i < nc; i++) total += c[i].v;
    } else {
        for (int i = 0; i < n; i++) c[i] = (ttc_cand){s->e[i], i};
    }
    if (p->top_p > 0 && p->top_p < 1) {
        if (sorted) { /* walk the sorted top-k */
            double acc = 0, need = (double)p->top_p * total;
            int i = 0;
            while (i < nc - 1 && (acc += c[i].v) < need) i++;
            nc = i + 1;
        } else {
            nc = top_p_cut(c, nc, total, p->top_p, logits, m, inv_t);
        }
        total = 0;
        for (int i = 0; i < nc; i++) total += c[i].v;
    }
    if (p->min_p > 0) {
        /* the most likely token is always kept and has value exp(0) = 1 */
        int k = 0;
        for (int i = 0; i < nc; i++)
            if (c[i].v >= p->min_p) c[k++] = c[i];
        nc = k;
        total = 0;
        for (int i = 0; i < nc; i++) total += c[i].v;
    }
    s->n_cand = nc;
    return total;
}

/* Shared first steps: NaN check, max, exp pass. */
static int prepare(ttc_sampler *s, const float *logits, const ttc_sample_params *p, float *m, double *total,
                   ttc_err *e) {
    int nan_at = -1;
    *m = max_or_nan(logits, s->n_vocab, &nan_at);
    if (nan_at >= 0) return ttc_err_set(e, TTC_ENUMERIC, "sampler: logit %d is NaN", nan_at);
    if (!isfinite(*m)) return ttc_err_set(e, TTC_ENUMERIC, "sampler: no finite logit (max %g)", *m);
    if (p->temperature > 0) *total = exp_scaled(logits, *m, 1.0f / p->temperature, s->e, s->n_vocab);
    return TTC_OK;
}

static bool filtered(const ttc_sample_params *p, int n) {
    return (p->top_k > 0 && p->top_k < n) || (p->top_p > 0 && p->top_p < 1) || p->min_p > 0;
}

int ttc_sampler_candidates(ttc_sampler *s, const float *logits, const ttc_sample_params *p, ttc_err *e) {
    float m;
    double total = 0;
    int rc = prepare(s, logits, p, &m, &total, e);
    if (rc) return rc;
    if (p->temperature <= 0) {
        s->cand[0] = (ttc_cand){1.0f, ttc_argmax(logits, s->n_vocab)};
        s->n_cand = 1;
        return TTC_OK;
    }
    total = kept_set(s, logits, p, m, total);
    for (int i = 0; i < s->n_cand; i++) s->cand[i].v = (float)(s->cand[i].v / total);
    return TTC_OK;
}

int ttc_sample(ttc_sampler *s, const float *logits, const ttc_sample_params *p, ttc_rng *rng,
               ttc_sample_out *out, ttc_err *e) {
    float m;
    double total = 0;
    int rc = prepare(s, logits, p, &m, &total, e);
    if (rc) return rc;
    int n = s->n_vocab;
    if (p->temperature <= 0) {
        out->token = ttc_argmax(logits, n);
        out->logprob_sampled = 0;
        out->logprob = (float)((double)(logits[out->token] - m) - log(exp_scaled(logits, m, 1.0f, s->e, n)));
        return TTC_OK;
    } else {
        double full = total;
        if (filtered(p, n)) {
            total = kept_set(s, logits, p, m, total);
            double u = ttc_rng_double(rng) * total, acc = 0;
            int pick = s->n_cand - 1; /* rounding: u beyond the summed mass lands on the last */
            for (int i = 0; i < s->n_cand; i++)
                if (u < (acc += s->cand[i].v)) { pick = i; break; }
            out->token = s->cand[pick].id;
        } else {
            double u = ttc_rng_double(rng) * total, acc = 0;
            int pick = n - 1;
            for (int i = 0; i < n; i++)
                if (u < (acc += s->e[i])) { pick = i; break; }
            while (s->e[pick] == 0 && pick > 0) pick--; /* never a zero-probability token */
            out->token = pick;
        }
        out->logprob_sampled = (float)log(s->e[out->token] / total);
        if (p->temperature == 1.0f) {
            out->logprob = (float)((double)(logits[out->token] - m) - log(full));
            return TTC_OK;
        }
    }
    out->logprob = ttc_logprob(logits, n, out->token);
    return TTC_OK;
}
