/* PRM quality on held-out Monte-Carlo labels: AUC and calibration. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonl.h"
#include "family/labels.h"
#include "search/lm.h"
#include "search/select.h"

typedef struct rec { char *problem, *group; char **steps; float *labels; int n; } rec;

typedef struct recs { rec *v; int n, cap, limit; } recs;

static int take(void *ud, json_t *o, int line, ttc_err *e) {
    recs *r = ud;
    if (r->limit && r->n >= r->limit) return TTC_OK;
    const char *p = json_string_value(json_object_get(o, "problem"));
    json_t *st = json_object_get(o, "steps"), *lb = json_object_get(o, "labels");
    int n = (int)json_array_size(st);
    if (!p || !json_is_array(st) || !json_is_array(lb) || json_array_size(lb) != (size_t)n || n == 0)
        return ttc_err_set(e, TTC_EFORMAT, "line %d: expected problem, steps and labels of equal length", line);
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        rec *v = realloc(r->v, sizeof *v * cap);
        if (!v) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
        r->v = v;
        r->cap = cap;
    }
    rec *x = &r->v[r->n++];
    x->problem = strdup(p);
    /* the problem a record belongs to: its uid (ORM records of one problem
     * differ in the attempts their "problem" holds), else its text */
    const char *uid = json_string_value(json_object_get(o, "uid"));
    x->group = strdup(uid ? uid : p);
    x->n = n;
    x->steps = calloc(n, sizeof(char *));
    x->labels = calloc(n, sizeof(float));
    if (!x->problem || !x->group || !x->steps || !x->labels) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(st, i));
        json_t *l = json_array_get(lb, i);
        x->steps[i] = strdup(s ? s : "");
        x->labels[i] = json_is_number(l) ? (float)json_number_value(l) : NAN;
        if (!x->steps[i]) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
    }
    return TTC_OK;
}

typedef struct sv { float s; unsigned char t; } sv;
static int by_score(const void *a, const void *b) {
    float x = ((const sv *)a)->s, y = ((const sv *)b)->s;
    return (x > y) - (x < y);
}

double ttc_auc(const float *score, const unsigned char *target, int n) {
    sv *v = malloc(sizeof *v * (n > 0 ? n : 1));
    if (!v) return NAN;
    long pos = 0, neg = 0;
    for (int i = 0; i < n; i++) { v[i] = (sv){score[i], target[i]}; pos += target[i]; }
    neg = n - pos;
    if (!pos || !neg) { free(v); return NAN; }
    qsort(v, n, sizeof *v, by_score);
    /* Mann-Whitney U with average ranks for ties */
    double rank_sum = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && v[j].s == v[i].s) j++;
        double avg = (i + 1 + j) / 2.0; /* ranks i+1..j */
        for (int k = i; k < j; k++) if (v[k].t) rank_sum += avg;
        i = j;
    }
    free(v);
    return (rank_sum - (double)pos * (pos + 1) / 2) / ((double)pos * neg);
}

int ttc_prm_quality_eval(ttc_verifier *v, const char *path, int limit, ttc_prm_quality *q, ttc_err *e) {
    memset(q, 0, sizeof *q);
    recs r = {.limit = limit};
    int rc = ttc_jsonl_resume(path, take, &r, e);
    int total = 0;
    for (int i = 0; i < r.n; i++) total += r.v[i].n;
    float *score = malloc(sizeof(float) * (total ? total : 1)), *label = malloc(sizeof(float) * (total ? total : 1));
    unsigned char *fin = malloc(total ? total : 1);
    if (!rc && (!score || !label || !fin)) rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
    enum { B = 32 };
    int k = 0;
    for (int b0 = 0; !rc && b0 < r.n; b0 += B) {
        int nb = r.n - b0 < B ? r.n - b0 : B, nodes[B], base[B], maxn = 0;
        for (int i = 0; i < nb; i++) { nodes[i] = -1; base[i] = k; k += r.v[b0 + i].n; maxn = r.v[b0 + i].n > maxn ? r.v[b0 + i].n : maxn; }
        for (int i = 0; !rc && i < nb; i++) rc = v->vt->root(v, r.v[b0 + i].problem, &nodes[i], e);
        if (!rc && v->kind == TTC_VERIFIER_ORM) {
            /* an outcome verifier: one score for the whole text, at its last step */
            char *texts[B] = {0};
            float s[B];
            for (int i = 0; !rc && i < nb; i++) {
                const rec *x = &r.v[b0 + i];
                size_t len = 1;
                for (int t = 0; t < x->n; t++) len += strlen(x->steps[t]);
                if (!(texts[i] = malloc(len))) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); break; }
                texts[i][0] = 0;
                for (int t = 0; t < x->n; t++) strcat(texts[i], x->steps[t]);
                for (int t = 0; t < x->n; t++) { score[base[i] + t] = NAN; label[base[i] + t] = x->labels[t]; fin[base[i] + t] = t == x->n - 1; }
            }
            if (!rc) rc = v->vt->score_final(v, nodes, (const char **)texts, nb, s, e);
            for (int i = 0; !rc && i < nb; i++) score[base[i] + r.v[b0 + i].n - 1] = s[i];
            for (int i = 0; i < nb; i++) free(texts[i]);
            maxn = 0;   /* no step loop */
        }
        for (int t = 0; !rc && t < maxn; t++) {
            int ids[B], who[B], m = 0;
            const char *steps[B];
            float s[B];
            for (int i = 0; i < nb; i++)
                if (t < r.v[b0 + i].n) { ids[m] = nodes[i]; steps[m] = r.v[b0 + i].steps[t]; who[m++] = i; }
            rc = v->vt->score(v, ids, steps, m, s, e);
            for (int j = 0; !rc && j < m; j++) {
                int i = who[j], at = base[i] + t;
                score[at] = s[j];
                label[at] = r.v[b0 + i].labels[t];
                fin[at] = t == r.v[b0 + i].n - 1;
            }
        }
        for (int i = 0; i < nb; i++) if (nodes[i] >= 0) v->vt->release(v, nodes[i]);
    }
    if (!rc) {
        /* within-problem AUC: records of one problem (same uid, else same
         * problem text) are adjacent in the label files; every (right,
         * wrong) pair of one problem's solutions counts once, won when the
         * right one scores higher (ties half) */
        double won[TTC_WITHIN_N] = {0};
        long pairs = 0;
        float *agg = malloc(sizeof(float) * (r.n ? r.n : 1) * TTC_WITHIN_N);
        if (!agg) rc = ttc_err_set(e, TTC_ENOMEM, "quality: out of memory");
        int off = 0;
        for (int i = 0; agg && i < r.n; off += r.v[i].n, i++) {
            float tmp[64];
            int m = 0;
            for (int t = 0; t < r.v[i].n && m < 64; t++) if (!isnan(score[off + t])) tmp[m++] = score[off + t];
            for (int a = 0; a < TTC_WITHIN_N; a++) agg[i * TTC_WITHIN_N + a] = m ? ttc_agg_apply((ttc_agg)a, tmp, m) : NAN;
        }
        for (int i0 = 0, i1; agg && i0 < r.n; i0 = i1) {
            for (i1 = i0 + 1; i1 < r.n && !strcmp(r.v[i1].group, r.v[i0].group); i1++) {}
            for (int a = i0; a < i1; a++)
                for (int b = i0; b < i1; b++) {
                    float la = r.v[a].labels[r.v[a].n - 1], lb = r.v[b].labels[r.v[b].n - 1];
                    if (!(la >= 0.5f && lb < 0.5f && lb >= 0)) continue;
                    pairs++;
                    for (int g = 0; g < TTC_WITHIN_N; g++) {
                        float sa = agg[a * TTC_WITHIN_N + g], sb = agg[b * TTC_WITHIN_N + g];
                        won[g] += sa > sb ? 1.0 : sa == sb ? 0.5 : 0.0;
                    }
                }
        }
        q->n_pairs = pairs;
        for (int g = 0; g < TTC_WITHIN_N; g++) q->auc_within[g] = pairs ? won[g] / pairs : NAN;
        free(agg);
        /* compact to labeled, scored steps */
        int n = 0;
        for (int i = 0; i < total; i++)
            if (!isnan(label[i]) && label[i] >= 0 && !isnan(score[i])) { score[n] = score[i]; label[n] = label[i]; fin[n] = fin[i]; n++; }
        unsigned char *tg = malloc(n ? n : 1);
        float *fs = malloc(sizeof(float) * (n ? n : 1));
        unsigned char *ft = malloc(n ? n : 1);
        int nf = 0;
        double se = 0;
        for (int i = 0; tg && fs && ft && i < n; i++) {
            tg[i] = label[i] >= 0.5f;
            se += (score[i] - label[i]) * (score[i] - label[i]);
            int bin = (int)(score[i] * 10);
            bin = bin < 0 ? 0 : bin > 9 ? 9 : bin;
            q->bin_n[bin]++;
            q->bin_score[bin] += score[i];
            q->bin_label[bin] += label[i];
            if (fin[i]) { fs[nf] = score[i]; ft[nf++] = label[i] >= 0.5f; }
        }
        q->n_steps = n;
        q->n_records = r.n;
        q->auc_step = tg ? ttc_auc(score, tg, n) : NAN;
        q->auc_final = fs && ft ? ttc_auc(fs, ft, nf) : NAN;
        q->mse = n ? se / n : NAN;
        for (int b = 0; b < 10; b++)
            if (q->bin_n[b]) {
                q->bin_score[b] /= q->bin_n[b];
                q->bin_label[b] /= q->bin_n[b];
                q->ece += (double)q->bin_n[b] / n * fabs(q->bin_score[b] - q->bin_label[b]);
            }
        free(tg); free(fs); free(ft);
    }
    for (int i = 0; i < r.n; i++) {
        for (int j = 0; j < r.v[i].n; j++) free(r.v[i].steps[j]);
        free(r.v[i].steps); free(r.v[i].labels); free(r.v[i].problem); free(r.v[i].group);
    }
    free(r.v); free(score); free(label); free(fin);
    return rc;
}
