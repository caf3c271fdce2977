/* ttc_exp_analyze: records.jsonl -> accuracy matrix -> summary.json, CSV,
 * SVG figures, report.html, policy.json. See experiment.h. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/rng.h"
#include "base/util.h"
#include "optimal/experiment.h"
#include "optimal/svg.h"
#include "search/select.h"

#define MAX_REV_LEN 64
#define SUBSETS 64 /* random subsets per estimate */

static const char *const search_names[TTC_EXP_N_SEARCH] = {
    "beam_sqrt", "beam_m4", "lookahead_k1", "lookahead_k3", "dvts",
};

const char *ttc_exp_search_name(int i) {
    return i >= 0 && i < TTC_EXP_N_SEARCH ? search_names[i] : "?";
}

/* Everything on file about one problem. */
typedef struct prob {
    char   uid[96];
    int    level;
    /* samples */
    int    n_samples;
    char **keys;
    unsigned char *correct;
    float *scores;
    double s_gen_flops, s_ver_flops, s_generations, s_tokens;
    /* searches: accuracy per method and budget */
    float  search[TTC_EXP_N_SEARCH][TTC_EXP_MAX_BUDGETS];
    /* revisions: P chains x L attempts, row-major */
    int    rev_p, rev_l;
    char **rkeys;
    unsigned char *rcorrect;
    float *rscores;
    /* larger generator, greedy */
    float  large;
    double large_flops, large_tokens;
} prob;

typedef struct probs {
    prob *v;
    int   n, cap;
    int   budgets[TTC_EXP_MAX_BUDGETS];
    int   n_budgets;
} probs;

static void prob_free(prob *p) {
    for (int i = 0; i < p->n_samples; i++) free(p->keys[i]);
    for (int i = 0; i < p->rev_p * p->rev_l; i++) free(p->rkeys[i]);
    free(p->keys); free(p->correct); free(p->scores);
    free(p->rkeys); free(p->rcorrect); free(p->rscores);
}

static prob *prob_get(probs *ps, const char *uid, int level) {
    for (int i = ps->n - 1; i >= 0; i--)
        if (!strcmp(ps->v[i].uid, uid)) return &ps->v[i];
    if (ps->n == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 64;
        prob *v = realloc(ps->v, sizeof *v * cap);
        if (!v) return NULL;
        ps->v = v;
        ps->cap = cap;
    }
    prob *p = &ps->v[ps->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->uid, sizeof p->uid, "%s", uid);
    p->level = level;
    p->large = NAN;
    for (int m = 0; m < TTC_EXP_N_SEARCH; m++)
        for (int b = 0; b < TTC_EXP_MAX_BUDGETS; b++) p->search[m][b] = NAN;
    return p;
}

static int budget_index(const probs *ps, int budget) {
    for (int b = 0; b < ps->n_budgets; b++)
        if (ps->budgets[b] == budget) return b;
    return -1;
}

/* Adds budget to the sorted budget list if absent. */
static void budget_add(probs *ps, int budget) {
    if (budget < 1 || budget_index(ps, budget) >= 0 || ps->n_budgets == TTC_EXP_MAX_BUDGETS) return;
    int i = ps->n_budgets++;
    while (i > 0 && ps->budgets[i - 1] > budget) { ps->budgets[i] = ps->budgets[i - 1]; i--; }
    ps->budgets[i] = budget;
}

static double jnum(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* Reads parallel arrays keys/correct/scores of length n from rec. */
static int read_cands(json_t *rec, int n, char ***keys, unsigned char **correct, float **scores,
                      const char *where, ttc_err *e) {
    json_t *k = json_object_get(rec, "keys"), *c = json_object_get(rec, "correct"),
           *s = json_object_get(rec, "scores");
    if (!json_is_array(k) || !json_is_array(c) || !json_is_array(s) || (int)json_array_size(k) != n ||
        (int)json_array_size(c) != n || (int)json_array_size(s) != n)
        return ttc_err_set(e, TTC_EFORMAT, "%s: keys/correct/scores must be arrays of %d", where, n);
    *keys = calloc(n ? n : 1, sizeof(char *));
    *correct = calloc(n ? n : 1, 1);
    *scores = calloc(n ? n : 1, sizeof(float));
    if (!*keys || !*correct || !*scores) return ttc_err_set(e, TTC_ENOMEM, "%s: out of memory", where);
    for (int i = 0; i < n; i++) {
        const char *ks = json_string_value(json_array_get(k, i));
        (*keys)[i] = strdup(ks ? ks : "");
        (*correct)[i] = json_is_true(json_array_get(c, i)) || json_integer_value(json_array_get(c, i)) == 1;
        json_t *sv = json_array_get(s, i);
        (*scores)[i] = json_is_number(sv) ? (float)json_number_value(sv) : NAN;
        if (!(*keys)[i]) return ttc_err_set(e, TTC_ENOMEM, "%s: out of memory", where);
    }
    return TTC_OK;
}

static int load_records(const char *path, probs *ps, ttc_err *e) {
    FILE *f = fopen(path, "r");
    if (!f) return ttc_err_set(e, errno == ENOENT ? TTC_ENOTFOUND : TTC_EIO, "%s: cannot open: %s", path,
                               strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = TTC_OK;
    while (rc == TTC_OK && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] != '\n') break; /* torn last line of a killed run */
        if (len == 1) continue;
        char where[600];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        json_error_t je;
        json_t *rec = json_loads(line, 0, &je);
        if (!rec || !json_is_object(rec)) {
            rc = ttc_err_set(e, TTC_EFORMAT, "%s: not a JSON object: %s", where, rec ? "" : je.text);
            json_decref(rec);
            break;
        }
        const char *uid = json_string_value(json_object_get(rec, "uid"));
        const char *phase = json_string_value(json_object_get(rec, "phase"));
        if (!uid || !phase) {
            rc = ttc_err_set(e, TTC_EFORMAT, "%s: missing \"uid\" or \"phase\"", where);
            json_decref(rec);
            break;
        }
        prob *p = prob_get(ps, uid, (int)jnum(rec, "level"));
        json_t *cost = json_object_get(rec, "cost");
        if (!p) rc = ttc_err_set(e, TTC_ENOMEM, "%s: out of memory", where);
        else if (!strcmp(phase, "samples") && !p->n_samples) {
            int n = (int)jnum(rec, "n");
            rc = read_cands(rec, n, &p->keys, &p->correct, &p->scores, where, e);
            p->n_samples = rc == TTC_OK ? n : 0;
            p->s_gen_flops = jnum(cost, "flops_generator");
            p->s_ver_flops = jnum(cost, "flops_verifier");
            p->s_generations = jnum(cost, "generations");
            p->s_tokens = jnum(cost, "tokens_generated");
        } else if (!strcmp(phase, "search")) {
            const char *m = json_string_value(json_object_get(rec, "method"));
            int budget = (int)jnum(rec, "budget"), mi = -1;
            for (int i = 0; m && i < TTC_EXP_N_SEARCH; i++)
                if (!strcmp(m, search_names[i])) mi = i;
            budget_add(ps, budget);
            int b = budget_index(ps, budget);
            if (mi < 0 || b < 0) rc = ttc_err_set(e, TTC_EFORMAT, "%s: unknown method or budget", where);
            else p->search[mi][b] = json_is_true(json_object_get(rec, "correct")) ? 1.0f : 0.0f;
        } else if (!strcmp(phase, "revisions") && !p->rev_p) {
            int cp = (int)jnum(rec, "chains"), cl = (int)jnum(rec, "len");
            if (cp < 1 || cl < 1 || cl > MAX_REV_LEN) rc = ttc_err_set(e, TTC_EFORMAT, "%s: bad chains/len", where);
            else rc = read_cands(rec, cp * cl, &p->rkeys, &p->rcorrect, &p->rscores, where, e);
            if (rc == TTC_OK) { p->rev_p = cp; p->rev_l = cl; }
        } else if (!strcmp(phase, "large")) {
            p->large = json_is_true(json_object_get(rec, "correct")) ? 1.0f : 0.0f;
            p->large_flops = jnum(cost, "flops_generator");
            p->large_tokens = jnum(cost, "tokens_generated");
        }
        json_decref(rec);
    }
    free(line);
    fclose(f);
    return rc;
}

/* Expected accuracy of a vote over random n-subsets of the candidates. */
static float vote_subsets(ttc_vote vote, char **keys, const unsigned char *correct, const float *scores,
                          int total, int n, uint64_t seed) {
    if (n > total || n < 1) return NAN;
    int reps = n == total ? 1 : SUBSETS;
    int *idx = malloc(sizeof(int) * total);
    if (!idx) return NAN;
    ttc_rng r;
    ttc_rng_seed(&r, seed);
    double hits = 0;
    for (int rep = 0; rep < reps; rep++) {
        for (int i = 0; i < total; i++) idx[i] = i;
        for (int i = 0; i < n; i++) { /* partial Fisher-Yates */
            int j = i + (int)ttc_rng_below(&r, (uint64_t)(total - i)), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        int w = ttc_select_subset(vote, (const char *const *)keys, scores, idx, n);
        hits += w >= 0 && keys[w][0] && correct[w];
    }
    free(idx);
    return (float)(hits / reps);
}

/* Revisions at budget = chains * len: random chain subsets, first len
 * attempts of each; best-of-N weighted by ORM score within each chain, then
 * weighted across the chains' winners (each weighted by its in-chain sum). */
static float revise_subsets(const prob *p, int chains, int len, uint64_t seed) {
    if (chains > p->rev_p || len > p->rev_l || chains < 1) return NAN;
    int reps = chains == p->rev_p ? 1 : SUBSETS;
    int *cidx = malloc(sizeof(int) * p->rev_p), *aidx = malloc(sizeof(int) * len);
    const char **wkeys = malloc(sizeof(char *) * chains);
    float *wscore = malloc(sizeof(float) * chains);
    unsigned char *wcorr = malloc(chains);
    float res = NAN;
    if (!cidx || !aidx || !wkeys || !wscore || !wcorr) goto out;
    ttc_rng r;
    ttc_rng_seed(&r, seed);
    double hits = 0;
    for (int rep = 0; rep < reps; rep++) {
        for (int i = 0; i < p->rev_p; i++) cidx[i] = i;
        for (int i = 0; i < chains; i++) {
            int j = i + (int)ttc_rng_below(&r, (uint64_t)(p->rev_p - i)), t = cidx[i];
            cidx[i] = cidx[j];
            cidx[j] = t;
        }
        for (int c = 0; c < chains; c++) {
            int base = cidx[c] * p->rev_l;
            for (int a = 0; a < len; a++) aidx[a] = base + a;
            int w = ttc_select_subset(TTC_VOTE_WEIGHTED, (const char *const *)p->rkeys, p->rscores, aidx, len);
            float sum = 0;
            for (int a = 0; a < len && w >= 0; a++)
                if (!strcmp(p->rkeys[aidx[a]], p->rkeys[w]) && !isnan(p->rscores[aidx[a]]))
                    sum += p->rscores[aidx[a]];
            wkeys[c] = w >= 0 ? p->rkeys[w] : "";
            wscore[c] = sum;
            wcorr[c] = w >= 0 && p->rcorrect[w];
        }
        int w = ttc_select(TTC_VOTE_WEIGHTED, wkeys, wscore, chains);
        hits += w >= 0 && wkeys[w][0] && wcorr[w];
    }
    res = (float)(hits / reps);
out:
    free(cidx); free(aidx); free(wkeys); free(wscore); free(wcorr);
    return res;
}

/* ---- method table ------------------------------------------------------- */

enum { M_MAJORITY, M_BON, M_BON_WEIGHTED, M_SEARCH0,
       M_REV_SEQ = M_SEARCH0 + TTC_EXP_N_SEARCH, M_REV_PAR, M_REV_LEN0 };

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    x ^= x >> 31; x *= 0xbf58476d1ce4e5b9ull; x ^= x >> 29;
    return x;
}

/* Fills the matrix from the problems that have samples. */
static int fill_matrix(const probs *ps, int n_rev_len, uint64_t seed, ttc_exp_matrix *x, int **map,
                       ttc_err *e) {
    const char *names[TTC_EXP_MAX_METHODS];
    char lens[MAX_REV_LEN][32];
    int nm = 0;
    names[nm++] = "majority"; names[nm++] = "bon"; names[nm++] = "bon_weighted";
    for (int i = 0; i < TTC_EXP_N_SEARCH; i++) names[nm++] = search_names[i];
    names[nm++] = "revisions_sequential";
    names[nm++] = "revisions_parallel";
    for (int l = 0; l < n_rev_len; l++) {
        snprintf(lens[l], sizeof lens[l], "revisions_len%d", 1 << l);
        names[nm++] = lens[l];
    }
    int n = 0;
    for (int i = 0; i < ps->n; i++) n += ps->v[i].n_samples > 0;
    if (n == 0) return ttc_err_set(e, TTC_ENOTFOUND, "experiment records: no problem has a \"samples\" record yet");
    int rc = ttc_exp_matrix_init(x, n, names, nm, ps->budgets, ps->n_budgets, e);
    if (rc) return rc;
    *map = malloc(sizeof(int) * n);
    if (!*map) return ttc_err_set(e, TTC_ENOMEM, "experiment: out of memory");
    int row = 0;
    for (int i = 0; i < ps->n; i++) {
        const prob *p = &ps->v[i];
        if (!p->n_samples) continue;
        (*map)[row] = i;
        int ok = 0;
        double ssum = 0;
        int sn = 0;
        for (int s = 0; s < p->n_samples; s++) {
            ok += p->correct[s];
            if (!isnan(p->scores[s])) { ssum += p->scores[s]; sn++; }
        }
        x->oracle[row] = (float)ok / p->n_samples;
        x->predicted[row] = sn ? (float)(ssum / sn) : 0.0f;
        x->level[row] = p->level;
        for (int b = 0; b < x->n_budgets; b++) {
            int nb = x->budgets[b];
            uint64_t sd = mix(mix(seed, (uint64_t)i), (uint64_t)nb);
            *ttc_exp_acc(x, row, M_MAJORITY, b) = vote_subsets(TTC_VOTE_MAJORITY, p->keys, p->correct, p->scores, p->n_samples, nb, sd);
            *ttc_exp_acc(x, row, M_BON, b) = vote_subsets(TTC_VOTE_BEST, p->keys, p->correct, p->scores, p->n_samples, nb, sd);
            *ttc_exp_acc(x, row, M_BON_WEIGHTED, b) = vote_subsets(TTC_VOTE_WEIGHTED, p->keys, p->correct, p->scores, p->n_samples, nb, sd);
            for (int m = 0; m < TTC_EXP_N_SEARCH; m++) *ttc_exp_acc(x, row, M_SEARCH0 + m, b) = p->search[m][b];
            if (p->rev_p) {
                for (int l = 0; l < n_rev_len; l++) {
                    int len = 1 << l;
                    if (nb % len) continue;
                    *ttc_exp_acc(x, row, M_REV_LEN0 + l, b) = revise_subsets(p, nb / len, len, sd + l);
                }
                *ttc_exp_acc(x, row, M_REV_SEQ, b) = revise_subsets(p, 1, nb, sd + 99);
                *ttc_exp_acc(x, row, M_REV_PAR, b) = revise_subsets(p, nb, 1, sd + 98);
            }
        }
        row++;
    }
    return TTC_OK;
}

/* ---- output helpers ----------------------------------------------------- */

static json_t *jarr_f(const float *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, isnan(v[i]) ? json_null() : json_real(round(v[i] * 1e4) / 1e4));
    return a;
}

static int write_buf(const char *dir, const char *name, const ttc_buf *b, ttc_err *e) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (b->oom) return ttc_err_set(e, TTC_ENOMEM, "%s: out of memory", path);
    return ttc_write_file(path, b->data ? b->data : "", b->len, e);
}

static int write_chart(const char *dir, const char *name, const char *title, const ttc_exp_matrix *x,
                       const ttc_svg_series *s, int ns, ttc_buf *html, ttc_err *e) {
    double xs[TTC_EXP_MAX_BUDGETS];
    for (int b = 0; b < x->n_budgets; b++) xs[b] = x->budgets[b];
    ttc_svg_chart c = {title, "generation budget (log2)", "accuracy", xs, x->n_budgets, true, 0, 0, s, ns};
    ttc_buf o = {0};
    ttc_svg_line_chart(&o, &c);
    int rc = write_buf(dir, name, &o, e);
    ttc_buf_free(&o);
    ttc_buf_printf(html, "<figure><img src=\"%s\" alt=\"", name);
    ttc_buf_xml(html, title);
    ttc_buf_printf(html, "\"></figure>\n");
    return rc;
}

/* How well a verifier's scores separate right from wrong candidates of the
 * same problem (what selection needs), over every (right, wrong) pair of
 * one problem's candidates, ties half; NAN without pairs. rev selects the
 * revision attempts (ORM scores) instead of the parallel samples (PRM). */
static double within_problem_auc(const probs *ps, bool rev, long *pairs) {
    double won = 0;
    *pairs = 0;
    for (int i = 0; i < ps->n; i++) {
        const prob *p = &ps->v[i];
        int n = rev ? p->rev_p * p->rev_l : p->n_samples;
        const unsigned char *ok = rev ? p->rcorrect : p->correct;
        const float *sc = rev ? p->rscores : p->scores;
        for (int a = 0; ok && sc && a < n; a++)
            for (int b = 0; ok[a] && b < n; b++) {
                if (ok[b] || isnan(sc[a]) || isnan(sc[b])) continue;
                (*pairs)++;
                won += sc[a] > sc[b] ? 1.0 : sc[a] == sc[b] ? 0.5 : 0.0;
            }
    }
    return *pairs ? won / (double)*pairs : NAN;
}

/* Mean accuracy per budget of method m over the problems in bin k (-1 = all). */
static void curve(const ttc_exp_matrix *x, const int *bin, int k, int m, float *out) {
    bool *sel = malloc(sizeof(bool) * x->n_problems);
    for (int p = 0; p < x->n_problems; p++) sel[p] = k < 0 || bin[p] == k;
    for (int b = 0; b < x->n_budgets; b++) out[b] = ttc_exp_mean(x, sel, m, b);
    free(sel);
}

/* True if method m has an accuracy at some budget in curve c. */
static bool has_data(const float *c, int nb) {
    for (int b = 0; b < nb; b++) if (!isnan(c[b])) return true;
    return false;
}

/* Problems per benchmark level 1..TTC_EXP_MAX_LEVEL (the data's own
 * "level" field, not the difficulty bins). */
enum { TTC_EXP_MAX_LEVEL = 32 };
static void level_counts(const ttc_exp_matrix *x, int *cnt) {
    memset(cnt, 0, sizeof(int) * (TTC_EXP_MAX_LEVEL + 1));
    for (int p = 0; p < x->n_problems; p++)
        if (x->level[p] >= 1 && x->level[p] <= TTC_EXP_MAX_LEVEL) cnt[x->level[p]]++;
}

static void html_table(ttc_buf *h, const ttc_exp_matrix *x, const char *const *names, float rows[][TTC_EXP_MAX_BUDGETS],
                       int nrows) {
    ttc_buf_printf(h, "<table><tr><th>method</th>");
    for (int b = 0; b < x->n_budgets; b++) ttc_buf_printf(h, "<th>%d</th>", x->budgets[b]);
    ttc_buf_printf(h, "</tr>\n");
    for (int r = 0; r < nrows; r++) {
        ttc_buf_printf(h, "<tr><td>");
        ttc_buf_xml(h, names[r]);
        ttc_buf_printf(h, "</td>");
        for (int b = 0; b < x->n_budgets; b++)
            if (isnan(rows[r][b])) ttc_buf_printf(h, "<td>&ndash;</td>");
            else ttc_buf_printf(h, "<td>%.3f</td>", rows[r][b]);
        ttc_buf_printf(h, "</tr>\n");
    }
    ttc_buf_printf(h, "</table>\n");
}

static json_t *read_meta(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_t *m = json_load_file(path, 0, NULL);
    return m ? m : json_object();
}

/* Linear interpolation of curve y over log2(budget) at budget B (clamped). */
static float interp(const ttc_exp_matrix *x, const float *y, double B, bool *capped) {
    int n = x->n_budgets;
    *capped = B > x->budgets[n - 1];
    if (B <= x->budgets[0]) return y[0];
    if (*capped) return y[n - 1];
    for (int b = 1; b < n; b++)
        if (B <= x->budgets[b]) {
            double t = (log2(B) - log2(x->budgets[b - 1])) / (log2(x->budgets[b]) - log2(x->budgets[b - 1]));
            return (float)(y[b - 1] + t * (y[b] - y[b - 1]));
        }
    return y[n - 1];
}

int ttc_exp_analyze(const char *dir, const char *const *paths, int n_paths, uint64_t seed,
                    ttc_exp_headline *h, ttc_err *e) {
    probs ps = {0};
    int rc = TTC_OK, *map = NULL;
    ttc_exp_matrix x = {0};
    ttc_buf html = {0}, csv = {0};
    json_t *sum = NULL, *meta = read_meta(dir);
    char defpath[1024];
    snprintf(defpath, sizeof defpath, "%s/records.jsonl", dir);
    const char *one[1] = {defpath};
    if (!paths || n_paths == 0) { paths = one; n_paths = 1; }
    json_t *jb = json_object_get(meta, "budgets");
    for (size_t i = 0; i < json_array_size(jb); i++) budget_add(&ps, (int)json_integer_value(json_array_get(jb, i)));
    for (int i = 0; i < n_paths && rc == TTC_OK; i++) rc = load_records(paths[i], &ps, e);
    if (rc) goto out;
    if (ps.n_budgets == 0) { rc = ttc_err_set(e, TTC_EFORMAT, "%s: no budgets in meta.json or records", dir); goto out; }
    int max_len = 0;
    for (int i = 0; i < ps.n; i++) max_len = TTC_MAX(max_len, ps.v[i].rev_l);
    int n_rev_len = 0;
    while ((1 << n_rev_len) <= max_len && n_rev_len < 8) n_rev_len++;
    rc = fill_matrix(&ps, n_rev_len, seed, &x, &map, e);
    if (rc) goto out;

    int n = x.n_problems, nb = x.n_budgets;
    int *bin_o = malloc(sizeof(int) * n), *bin_p = malloc(sizeof(int) * n), *fold = malloc(sizeof(int) * n);
    if (!bin_o || !bin_p || !fold) { free(bin_o); free(bin_p); free(fold); rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto out; }
    ttc_exp_bins(x.oracle, n, TTC_EXP_BINS, bin_o);
    ttc_exp_bins(x.predicted, n, TTC_EXP_BINS, bin_p);
    ttc_exp_folds(bin_o, n, seed ^ 0x5eed, fold);
    int cand_search[8], ncs = 0, cand_rev[16], ncr = 0, cand_all[24], nca = 0;
    cand_search[ncs++] = M_BON_WEIGHTED;
    for (int m = 0; m < TTC_EXP_N_SEARCH; m++) cand_search[ncs++] = M_SEARCH0 + m;
    for (int l = 0; l < n_rev_len; l++) cand_rev[ncr++] = M_REV_LEN0 + l;
    for (int i = 0; i < ncs; i++) cand_all[nca++] = cand_search[i];
    for (int i = 0; i < ncr; i++) cand_all[nca++] = cand_rev[i];
    /* the paper's rule (the best per bin on one fold, evaluated on the
     * other), and beside it the one-standard-error rule */
    ttc_exp_optimal co_o, co_p, co_sp, co_rev, co_o_se, co_p_se;
    ttc_exp_optimal_run(&x, bin_o, fold, cand_all, nca, false, &co_o);
    ttc_exp_optimal_run(&x, bin_o, fold, cand_all, nca, true, &co_o_se);
    int *fold_p = malloc(sizeof(int) * n);
    ttc_exp_folds(bin_p, n, seed ^ 0x5eed, fold_p);
    ttc_exp_optimal_run(&x, bin_p, fold_p, cand_all, nca, false, &co_p);
    ttc_exp_optimal_run(&x, bin_p, fold_p, cand_all, nca, true, &co_p_se);
    ttc_exp_optimal_run(&x, bin_p, fold_p, cand_search, ncs, false, &co_sp);
    ttc_exp_optimal_run(&x, bin_o, fold, cand_rev, ncr, false, &co_rev);

    float all[TTC_EXP_MAX_METHODS][TTC_EXP_MAX_BUDGETS];
    for (int m = 0; m < x.n_methods; m++) curve(&x, bin_o, -1, m, all[m]);
    double ratio_o[TTC_EXP_MAX_BUDGETS], low_o[TTC_EXP_MAX_BUDGETS], ratio_p[TTC_EXP_MAX_BUDGETS], low_p[TTC_EXP_MAX_BUDGETS];
    double ratio_r[TTC_EXP_MAX_BUDGETS], low_r[TTC_EXP_MAX_BUDGETS];
    double eff_o = ttc_exp_efficiency(x.budgets, all[M_BON_WEIGHTED], co_o.acc, nb, ratio_o, low_o);
    double eff_p = ttc_exp_efficiency(x.budgets, all[M_BON_WEIGHTED], co_p.acc, nb, ratio_p, low_p);
    double eff_r = ttc_exp_efficiency(x.budgets, all[M_REV_PAR], co_rev.acc, nb, ratio_r, low_r);

    /* summary.json */
    sum = json_object();
    json_t *jbud = json_array(), *jm = json_object();
    for (int b = 0; b < nb; b++) json_array_append_new(jbud, json_integer(x.budgets[b]));
    json_object_set_new(sum, "budgets", jbud);
    json_object_set_new(sum, "n_problems", json_integer(n));
    for (int m = 0; m < x.n_methods; m++) json_object_set_new(jm, x.methods[m], jarr_f(all[m], nb));
    json_object_set_new(jm, "compute_optimal_oracle", jarr_f(co_o.acc, nb));
    json_object_set_new(jm, "compute_optimal_predicted", jarr_f(co_p.acc, nb));
    json_object_set_new(jm, "compute_optimal_search_predicted", jarr_f(co_sp.acc, nb));
    json_object_set_new(jm, "compute_optimal_revisions_oracle", jarr_f(co_rev.acc, nb));
    /* the one-standard-error rule: a method replaces best-of-N weighted in
     * a bin only when its advantage on the fold exceeds one SE */
    json_object_set_new(jm, "compute_optimal_oracle_one_se", jarr_f(co_o_se.acc, nb));
    json_object_set_new(jm, "compute_optimal_predicted_one_se", jarr_f(co_p_se.acc, nb));
    json_object_set_new(sum, "methods", jm);
    /* the same curves per benchmark level (for MATH-500: levels 1-5) */
    int lev_n[TTC_EXP_MAX_LEVEL + 1];
    level_counts(&x, lev_n);
    json_t *jlev = json_object();
    for (int L = 1; L <= TTC_EXP_MAX_LEVEL; L++) {
        if (!lev_n[L]) continue;
        json_t *o = json_object();
        char key[16];
        json_object_set_new(o, "n_problems", json_integer(lev_n[L]));
        for (int m = 0; m < x.n_methods; m++) {
            float cv[TTC_EXP_MAX_BUDGETS];
            curve(&x, x.level, L, m, cv);
            if (has_data(cv, nb)) json_object_set_new(o, x.methods[m], jarr_f(cv, nb));
        }
        snprintf(key, sizeof key, "%d", L);
        json_object_set_new(jlev, key, o);
    }
    json_object_set_new(sum, "levels", jlev);
    json_t *jeff = json_object();
    json_object_set_new(jeff, "oracle", isnan(eff_o) ? json_null() : json_real(eff_o));
    json_object_set_new(jeff, "predicted", isnan(eff_p) ? json_null() : json_real(eff_p));
    json_object_set_new(jeff, "revisions_vs_parallel", isnan(eff_r) ? json_null() : json_real(eff_r));
    double split_med[2] = {NAN, NAN}, split_min[2] = {NAN, NAN}, split_max[2] = {NAN, NAN}, eff_p_se;
    int split_n[2] = {0, 0}, split_at4[2] = {0, 0};
    {
        double r_tmp[TTC_EXP_MAX_BUDGETS], l_tmp[TTC_EXP_MAX_BUDGETS];
        double eo = ttc_exp_efficiency(x.budgets, all[M_BON_WEIGHTED], co_o_se.acc, nb, r_tmp, l_tmp);
        double ep = ttc_exp_efficiency(x.budgets, all[M_BON_WEIGHTED], co_p_se.acc, nb, r_tmp, l_tmp);
        json_object_set_new(jeff, "oracle_one_se", isnan(eo) ? json_null() : json_real(eo));
        json_object_set_new(jeff, "predicted_one_se", isnan(ep) ? json_null() : json_real(ep));
        eff_p_se = ep;
        /* how much the headline depends on the split: the same analysis
         * over SPLITS random fold assignments (predicted bins) */
        enum { SPLITS = 20 };
        for (int rule = 0; rule < 2; rule++) {
            double v[SPLITS];
            int nv = 0;
            int *fs = malloc(sizeof(int) * n);
            ttc_exp_optimal *tmp = malloc(sizeof *tmp);
            for (int k = 0; fs && tmp && k < SPLITS; k++) {
                ttc_exp_folds(bin_p, n, (seed ^ 0x5eed) + 7919u * (uint64_t)(k + 1), fs);
                ttc_exp_optimal_run(&x, bin_p, fs, cand_all, nca, rule == 1, tmp);
                double ef = ttc_exp_efficiency(x.budgets, all[M_BON_WEIGHTED], tmp->acc, nb, r_tmp, l_tmp);
                if (!isnan(ef)) v[nv++] = ef;
            }
            free(fs);
            free(tmp);
            for (int i = 1; i < nv; i++)   /* insertion sort: 20 values */
                for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
            split_n[rule] = nv;
            for (int i = 0; i < nv; i++) split_at4[rule] += v[i] >= 4;
            if (nv) {
                split_med[rule] = nv % 2 ? v[nv / 2] : (v[nv / 2 - 1] + v[nv / 2]) / 2;
                split_min[rule] = v[0];
                split_max[rule] = v[nv - 1];
            }
            json_t *js = json_object();
            json_object_set_new(js, "splits", json_integer(nv));
            json_object_set_new(js, "median", nv ? json_real(split_med[rule]) : json_null());
            json_object_set_new(js, "min", nv ? json_real(split_min[rule]) : json_null());
            json_object_set_new(js, "max", nv ? json_real(split_max[rule]) : json_null());
            json_object_set_new(js, "at_least_4x", json_integer(split_at4[rule]));
            json_object_set_new(jeff, rule ? "predicted_one_se_over_splits" : "predicted_over_splits", js);
        }
    }
    json_t *jro = json_array(), *jrp = json_array();
    for (int b = 0; b < nb; b++) {
        json_array_append_new(jro, isnan(ratio_o[b]) ? json_null() : json_real(ratio_o[b]));
        json_array_append_new(jrp, isnan(ratio_p[b]) ? json_null() : json_real(ratio_p[b]));
    }
    json_object_set_new(jeff, "oracle_per_budget", jro);
    json_object_set_new(jeff, "predicted_per_budget", jrp);
    /* where best-of-N never reaches compute-optimal within the largest
     * budget, the ratio is only bounded below: max budget / B */
    json_t *jlo = json_array(), *jlp = json_array();
    for (int b = 0; b < nb; b++) {
        json_array_append_new(jlo, isnan(low_o[b]) ? json_null() : json_real(low_o[b]));
        json_array_append_new(jlp, isnan(low_p[b]) ? json_null() : json_real(low_p[b]));
    }
    json_object_set_new(jeff, "oracle_lower_bound_per_budget", jlo);
    json_object_set_new(jeff, "predicted_lower_bound_per_budget", jlp);
    json_object_set_new(sum, "efficiency_vs_bon", jeff);
    /* per bin */
    json_t *jbins = json_object();
    for (int kind = 0; kind < 2; kind++) {
        const int *bin = kind ? bin_p : bin_o;
        const ttc_exp_optimal *co = kind ? &co_p : &co_o;
        json_t *jk = json_array();
        for (int k = 0; k < TTC_EXP_BINS; k++) {
            json_t *o = json_object(), *om = json_object();
            int cnt = 0;
            for (int p = 0; p < n; p++) cnt += bin[p] == k;
            json_object_set_new(o, "bin", json_integer(k + 1));
            json_object_set_new(o, "n_problems", json_integer(cnt));
            for (int m = 0; m < x.n_methods; m++) {
                float c[TTC_EXP_MAX_BUDGETS];
                curve(&x, bin, k, m, c);
                json_object_set_new(om, x.methods[m], jarr_f(c, nb));
            }
            json_object_set_new(om, "compute_optimal", jarr_f(co->acc_bin[k], nb));
            json_object_set_new(o, "methods", om);
            json_t *ch = json_array();
            for (int b = 0; b < nb; b++) {
                int m = co->choice_all[k][b];
                json_array_append_new(ch, m >= 0 ? json_string(x.methods[m]) : json_null());
            }
            json_object_set_new(o, "chosen", ch);
            json_array_append_new(jk, o);
        }
        json_object_set_new(jbins, kind ? "predicted" : "oracle", jk);
    }
    json_object_set_new(sum, "bins", jbins);

    /* FLOPs-matched comparison */
    double gen_fl = 0, gens = 0, large_fl = 0, large_tok = 0;
    int n_large = 0;
    float large_bin[TTC_EXP_BINS] = {0};
    int large_cnt[TTC_EXP_BINS] = {0};
    for (int r = 0; r < n; r++) {
        const prob *p = &ps.v[map[r]];
        gen_fl += p->s_gen_flops + p->s_ver_flops;
        gens += p->s_generations;
        if (!isnan(p->large)) {
            n_large++;
            large_fl += p->large_flops;
            large_tok += p->large_tokens;
            large_bin[bin_o[r]] += p->large;
            large_cnt[bin_o[r]]++;
        }
    }
    double Ns = jnum(meta, "gen_params"), Nl = jnum(meta, "large_params"), D = jnum(meta, "gen_train_tokens");
    double Dl = jnum(meta, "large_train_tokens");
    if (Dl <= 0) Dl = D;
    json_t *jfl = json_object();
    ttc_buf flcsv = {0};
    ttc_buf_printf(&flcsv, "R,budget,capped,bin,small_compute_optimal,large_greedy\n");
    float fl_small[3][TTC_EXP_BINS], fl_large[TTC_EXP_BINS];
    double fl_budget[3] = {NAN, NAN, NAN};
    const double Rs[3] = {0.16, 1.0, 22.0};
    bool have_flops = n_large > 0 && Ns > 0 && Nl > 0 && D > 0 && gens > 0;
    if (have_flops) {
        double c_s = gen_fl / gens, c_l = large_fl / n_large, T_l = large_tok / n_large;
        json_t *jr = json_array();
        for (int k = 0; k < TTC_EXP_BINS; k++) fl_large[k] = large_cnt[k] ? large_bin[k] / large_cnt[k] : NAN;
        for (int i = 0; i < 3; i++) {
            double Q = Rs[i] * Dl / fmax(T_l, 1);
            double B = (6 * Nl * Dl - 6 * Ns * D + Q * c_l) / (Q * c_s);
            fl_budget[i] = B;
            json_t *o = json_object();
            json_object_set_new(o, "R", json_real(Rs[i]));
            json_object_set_new(o, "matched_budget", json_real(B));
            bool capped = false;
            for (int k = 0; k < TTC_EXP_BINS; k++) {
                fl_small[i][k] = interp(&x, co_o.acc_bin[k], B, &capped);
                ttc_buf_printf(&flcsv, "%g,%.2f,%d,%d,%.4f,%.4f\n", Rs[i], B, capped, k + 1, fl_small[i][k], fl_large[k]);
            }
            json_object_set_new(o, "budget_capped_at_max", json_boolean(capped));
            json_object_set_new(o, "small_compute_optimal_by_bin", jarr_f(fl_small[i], TTC_EXP_BINS));
            json_array_append_new(jr, o);
        }
        json_object_set_new(jfl, "ratios", jr);
        json_object_set_new(jfl, "large_greedy_by_bin", jarr_f(fl_large, TTC_EXP_BINS));
        json_object_set_new(jfl, "flops_per_generation_small", json_real(c_s));
        json_object_set_new(jfl, "flops_per_query_large", json_real(c_l));
    } else {
        json_object_set_new(jfl, "note", json_string("needs a \"large\" phase and model sizes in meta.json"));
    }
    json_object_set_new(sum, "flops_matched", jfl);

    /* Revision model: pass@1 by attempt index within the chains (does each
     * revision improve on the one before?) */
    float by_att[MAX_REV_LEN];
    int n_att = 0;
    for (int t = 0; t < max_len; t++) {
        double ok = 0;
        int cnt = 0;
        for (int r = 0; r < n; r++) {
            const prob *p = &ps.v[map[r]];
            for (int c = 0; t < p->rev_l && c < p->rev_p; c++, cnt++) ok += p->rcorrect[c * p->rev_l + t];
        }
        by_att[t] = cnt ? (float)(ok / cnt) : NAN;
        n_att = t + 1;
    }
    json_object_set_new(sum, "revisions_pass1_by_attempt", jarr_f(by_att, n_att));

    /* verifier selection quality, in the terms the search results depend on */
    long pairs_prm = 0, pairs_orm = 0;
    double wauc_prm = within_problem_auc(&ps, false, &pairs_prm), wauc_orm = within_problem_auc(&ps, true, &pairs_orm);
    json_t *jver = json_object();
    json_object_set_new(jver, "prm_within_problem_auc", isnan(wauc_prm) ? json_null() : json_real(wauc_prm));
    json_object_set_new(jver, "prm_pairs", json_integer(pairs_prm));
    json_object_set_new(jver, "orm_within_problem_auc", isnan(wauc_orm) ? json_null() : json_real(wauc_orm));
    json_object_set_new(jver, "orm_pairs", json_integer(pairs_orm));
    json_object_set_new(sum, "verifiers", jver);

    /* Findings: the paper's qualitative claims, checked on these numbers. */
    json_t *jfind = json_array();
    ttc_buf find = {0};
    if (!isnan(wauc_prm)) {
        const char *vname = json_string_value(json_object_get(meta, "prm"));
        ttc_buf_printf(&find, "Verifier (%s): among samples of the same problem, it scores a right answer above a wrong one "
                              "%.0f%% of the time (%ld pairs; 50%% is chance)%s.", vname ? vname : "PRM", 100 * wauc_prm, pairs_prm,
                       wauc_prm < 0.65 ? ": it barely separates them, so search and weighted voting have little to work with" : "");
        json_array_append_new(jfind, json_string(find.data)); find.len = 0;
    }
    if (!isnan(wauc_orm)) {
        ttc_buf_printf(&find, "Revision verifier: the ORM ranks a right attempt above a wrong one of the same problem %.0f%% of the time (%ld pairs).",
                       100 * wauc_orm, pairs_orm);
        json_array_append_new(jfind, json_string(find.data)); find.len = 0;
    }
    {
        int lo = -1;
        for (int b = 0; b < nb; b++) if (x.budgets[b] >= 4) { lo = b; break; }
        int hi = nb - 1;
        int best_tree_lo = -1;
        float btl = -1;
        for (int m = 0; m < TTC_EXP_N_SEARCH && lo >= 0; m++)
            if (!isnan(all[M_SEARCH0 + m][lo]) && all[M_SEARCH0 + m][lo] > btl) { btl = all[M_SEARCH0 + m][lo]; best_tree_lo = m; }
        if (best_tree_lo >= 0) {
            float bon_lo = all[M_BON_WEIGHTED][lo], bon_hi = all[M_BON_WEIGHTED][hi];
            float tree_hi = all[M_SEARCH0 + best_tree_lo][hi];
            ttc_buf_printf(&find, "%s: at budget %d the best tree search (%s, %.3f) %s best-of-N weighted (%.3f).",
                           btl > bon_lo ? "Holds" : "Does not hold", x.budgets[lo], search_names[best_tree_lo], btl,
                           btl > bon_lo ? "beats" : "does not beat", bon_lo);
            json_array_append_new(jfind, json_string(find.data)); find.len = 0;
            if (!isnan(tree_hi))
                ttc_buf_printf(&find, "%s: at budget %d the gap is %+.3f (%s %.3f vs best-of-N weighted %.3f), against %+.3f at budget %d.",
                               (tree_hi - bon_hi) < (btl - bon_lo) ? "Best-of-N catches up (holds)" : "Best-of-N does not catch up",
                               x.budgets[hi], tree_hi - bon_hi, search_names[best_tree_lo], tree_hi, bon_hi, btl - bon_lo, x.budgets[lo]);
            if (find.len) { json_array_append_new(jfind, json_string(find.data)); find.len = 0; }
            float hard_tree = NAN, hard_bon = NAN, easy_tree = NAN, easy_bon = NAN;
            float c[TTC_EXP_MAX_BUDGETS];
            curve(&x, bin_o, 4, M_SEARCH0 + best_tree_lo, c); hard_tree = c[lo];
            curve(&x, bin_o, 4, M_BON_WEIGHTED, c); hard_bon = c[lo];
            curve(&x, bin_o, 0, M_SEARCH0 + best_tree_lo, c); easy_tree = c[lo];
            curve(&x, bin_o, 0, M_BON_WEIGHTED, c); easy_bon = c[lo];
            ttc_buf_printf(&find, "Search vs best-of-N weighted at budget %d by oracle bin: hardest bin %+.3f, easiest bin %+.3f (%s).",
                           x.budgets[lo], hard_tree - hard_bon, easy_tree - easy_bon,
                           hard_tree - hard_bon > easy_tree - easy_bon ? "search helps more on hard problems, as in the paper"
                                                                       : "search does not help more on hard problems here");
            json_array_append_new(jfind, json_string(find.data)); find.len = 0;
        } else {
            json_array_append_new(jfind, json_string("No tree-search records at budgets >= 4: the search findings cannot be checked."));
        }
        if (ncr > 0 && n_rev_len > 1) {
            float cs[TTC_EXP_MAX_BUDGETS], cp[TTC_EXP_MAX_BUDGETS];
            curve(&x, bin_o, 0, M_REV_SEQ, cs);
            curve(&x, bin_o, 0, M_REV_PAR, cp);
            int bb = -1;
            for (int b = nb - 1; b >= 0; b--) if (!isnan(cs[b]) && !isnan(cp[b])) { bb = b; break; }
            if (bb >= 0) {
                ttc_buf_printf(&find, "%s: on the easiest bin at budget %d, sequential revisions %.3f vs parallel %.3f.",
                               cs[bb] > cp[bb] ? "Holds" : "Does not hold", x.budgets[bb], cs[bb], cp[bb]);
                json_array_append_new(jfind, json_string(find.data)); find.len = 0;
            }
        }
        for (int b = 0; b < nb; b++)
            if (!isnan(low_p[b])) {
                ttc_buf_printf(&find, "At budget %d compute-optimal (predicted bins, %.3f) is above every best-of-N weighted "
                                      "accuracy up to budget %d: efficiency > %.1fx (a lower bound).",
                               x.budgets[b], co_p.acc[b], x.budgets[nb - 1], low_p[b]);
                json_array_append_new(jfind, json_string(find.data)); find.len = 0;
            }
        if (!isnan(eff_p)) {
            int at = 0;
            for (int b = 0; b < nb; b++) if (ratio_p[b] == eff_p) at = x.budgets[b];
            ttc_buf_printf(&find, "Compute-optimal (predicted bins, two-fold CV) is %.2fx as efficient as best-of-N weighted at budget %d%s.",
                           eff_p, at, eff_p >= 4 ? " (meets the paper's 4x)" : " (short of the paper's 4x)");
            json_array_append_new(jfind, json_string(find.data)); find.len = 0;
        }
        if (split_n[0] > 0) {
            ttc_buf_printf(&find, "That ratio depends on the fold split: over %d other random splits its median is %.2fx "
                                  "(%.2f-%.2f), at least 4x in %d of them; choosing a method over best-of-N only when its "
                                  "advantage exceeds one standard error gives a median of %.2fx.",
                           split_n[0], split_med[0], split_min[0], split_max[0], split_at4[0], split_med[1]);
            json_array_append_new(jfind, json_string(find.data)); find.len = 0;
        }
    }
    json_object_set_new(sum, "findings", jfind);
    json_object_set_new(sum, "meta", json_incref(meta));

    char path[1024];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    char *js = json_dumps(sum, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    rc = js ? ttc_write_file(path, js, strlen(js), e) : ttc_err_set(e, TTC_ENOMEM, "summary: out of memory");
    free(js);
    if (rc) goto out2;

    /* CSV tables */
    ttc_buf_printf(&csv, "method,budget,accuracy\n");
    for (int m = 0; m < x.n_methods; m++)
        for (int b = 0; b < nb; b++)
            if (!isnan(all[m][b])) ttc_buf_printf(&csv, "%s,%d,%.4f\n", x.methods[m], x.budgets[b], all[m][b]);
    for (int b = 0; b < nb; b++) {
        if (!isnan(co_o.acc[b])) ttc_buf_printf(&csv, "compute_optimal_oracle,%d,%.4f\n", x.budgets[b], co_o.acc[b]);
        if (!isnan(co_p.acc[b])) ttc_buf_printf(&csv, "compute_optimal_predicted,%d,%.4f\n", x.budgets[b], co_p.acc[b]);
    }
    if ((rc = write_buf(dir, "accuracy.csv", &csv, e))) goto out2;
    csv.len = 0;
    ttc_buf_printf(&csv, "bins,bin,method,budget,accuracy\n");
    for (int kind = 0; kind < 2; kind++)
        for (int k = 0; k < TTC_EXP_BINS; k++)
            for (int m = 0; m < x.n_methods; m++) {
                float c[TTC_EXP_MAX_BUDGETS];
                curve(&x, kind ? bin_p : bin_o, k, m, c);
                for (int b = 0; b < nb; b++)
                    if (!isnan(c[b])) ttc_buf_printf(&csv, "%s,%d,%s,%d,%.4f\n", kind ? "predicted" : "oracle", k + 1,
                                                     x.methods[m], x.budgets[b], c[b]);
            }
    if ((rc = write_buf(dir, "accuracy_by_bin.csv", &csv, e))) goto out2;
    csv.len = 0;
    ttc_buf_printf(&csv, "level,problems,method,budget,accuracy\n");
    for (int L = 1; L <= TTC_EXP_MAX_LEVEL; L++)
        for (int m = 0; lev_n[L] && m < x.n_methods; m++) {
            float cv[TTC_EXP_MAX_BUDGETS];
            curve(&x, x.level, L, m, cv);
            for (int b = 0; b < nb; b++)
                if (!isnan(cv[b])) ttc_buf_printf(&csv, "%d,%d,%s,%d,%.4f\n", L, lev_n[L], x.methods[m],
                                                  x.budgets[b], cv[b]);
        }
    if ((rc = write_buf(dir, "accuracy_by_level.csv", &csv, e))) goto out2;
    if (have_flops && (rc = write_buf(dir, "flops_matched.csv", &flcsv, e))) goto out2;

    /* Figures and report.html */
    ttc_buf_printf(&html, "<!doctype html><html><head><meta charset=\"utf-8\"><title>ttc: compute-optimal test-time scaling</title>"
                          "<style>body{font-family:Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;color:#222}"
                          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                          "td:first-child{text-align:left}figure{margin:1em 0}</style></head><body>\n"
                          "<h1>Compute-optimal test-time scaling</h1>\n<p>%d problems; budgets in generations; "
                          "accuracies estimated from the per-problem records in <code>records.jsonl</code>. "
                          "Best-of-N family: %d random subsets of the S parallel samples per budget.</p>\n", n, SUBSETS);
    ttc_buf_printf(&html, "<h2>Findings</h2><ul>\n");
    for (size_t i = 0; i < json_array_size(jfind); i++) {
        ttc_buf_printf(&html, "<li>");
        ttc_buf_xml(&html, json_string_value(json_array_get(jfind, i)));
        ttc_buf_printf(&html, "</li>\n");
    }
    ttc_buf_printf(&html, "</ul>\n");
    {
        ttc_svg_series s[16];
        const char *nm[16];
        float rows[16][TTC_EXP_MAX_BUDGETS];
        int ns = 0;
        int order[] = {M_BON_WEIGHTED, M_MAJORITY, M_BON, M_SEARCH0, M_SEARCH0 + 1, M_SEARCH0 + 2, M_SEARCH0 + 3, M_SEARCH0 + 4};
        for (size_t i = 0; i < TTC_ARRAY_LEN(order); i++) {
            s[ns] = (ttc_svg_series){x.methods[order[i]], all[order[i]], order[i] < M_SEARCH0};
            nm[ns] = x.methods[order[i]];
            memcpy(rows[ns], all[order[i]], sizeof rows[0]);
            ns++;
        }
        ttc_buf_printf(&html, "<h2>1. Search methods against a PRM</h2>\n");
        if ((rc = write_chart(dir, "fig1_search.svg", "Accuracy vs generation budget: search methods", &x, s, ns, &html, e))) goto out2;
        html_table(&html, &x, nm, rows, ns);
        ttc_buf_printf(&html, "<h2>2. Search methods per difficulty bin (oracle bins: generator pass@1, bin 1 easiest)</h2>\n");
        for (int k = 0; k < TTC_EXP_BINS; k++) {
            float c[16][TTC_EXP_MAX_BUDGETS];
            for (int i = 0; i < ns; i++) { curve(&x, bin_o, k, order[i], c[i]); s[i].y = c[i]; }
            char fname[64], title[96];
            snprintf(fname, sizeof fname, "fig2_bin%d.svg", k + 1);
            snprintf(title, sizeof title, "Difficulty bin %d (oracle)", k + 1);
            if ((rc = write_chart(dir, fname, title, &x, s, ns, &html, e))) goto out2;
        }
        /* the same per benchmark level (the data's "level" field) */
        ttc_buf_printf(&html, "<h3>Per benchmark level</h3>\n<p>The search methods and the best-of-N family "
                              "on the problems of each level of the data (not the difficulty bins).</p>\n");
        for (int L = 1; L <= TTC_EXP_MAX_LEVEL; L++) {
            if (!lev_n[L]) continue;
            const char *ln[16];
            float lr[16][TTC_EXP_MAX_BUDGETS];
            int nl = 0;
            const int show[] = {M_BON_WEIGHTED, M_MAJORITY, M_SEARCH0, M_SEARCH0 + 1, M_SEARCH0 + 2,
                                M_SEARCH0 + 3, M_SEARCH0 + 4};
            for (size_t i = 0; i < sizeof show / sizeof show[0]; i++) {
                curve(&x, x.level, L, show[i], lr[nl]);
                if (has_data(lr[nl], nb)) ln[nl++] = x.methods[show[i]];
            }
            ttc_buf_printf(&html, "<p>Level %d (%d problems)</p>\n", L, lev_n[L]);
            html_table(&html, &x, ln, lr, nl);
        }
        /* 3. revisions */
        ttc_buf_printf(&html, "<h2>3. Revisions: sequential vs parallel</h2>\n");
        if (ncr > 0) {
            ns = 0;
            s[ns++] = (ttc_svg_series){"revisions_sequential", all[M_REV_SEQ], false};
            s[ns++] = (ttc_svg_series){"revisions_parallel", all[M_REV_PAR], true};
            for (int l = 0; l < n_rev_len && ns < 12; l++) s[ns++] = (ttc_svg_series){x.methods[M_REV_LEN0 + l], all[M_REV_LEN0 + l], false};
            if ((rc = write_chart(dir, "fig3_revisions.svg", "Revisions: sequential length vs parallel chains", &x, s, ns, &html, e))) goto out2;
            for (int i = 0; i < ns; i++) { nm[i] = s[i].name; memcpy(rows[i], s[i].y, sizeof rows[0]); }
            html_table(&html, &x, nm, rows, ns);
            /* accuracy vs sequential length at the largest budget with data, one line per bin */
            int bb = -1;
            for (int b = nb - 1; b >= 0 && bb < 0; b--)
                for (int l = 0; l < n_rev_len; l++) if (!isnan(all[M_REV_LEN0 + l][b])) { bb = b; break; }
            if (n_att > 0) {
                ttc_buf_printf(&html, "<p>Revision model, pass@1 by attempt (each conditioned on up to 4 earlier attempts of its chain):</p><table><tr><th>attempt</th>");
                for (int t = 0; t < n_att; t++) ttc_buf_printf(&html, "<th>%d</th>", t + 1);
                ttc_buf_printf(&html, "</tr><tr><td>pass@1</td>");
                for (int t = 0; t < n_att; t++) ttc_buf_printf(&html, "<td>%.3f</td>", by_att[t]);
                ttc_buf_printf(&html, "</tr></table>\n");
            }
            if (bb >= 0) {
                double xs[8];
                float yb[TTC_EXP_BINS][8];
                char names[TTC_EXP_BINS][24];
                ttc_svg_series sb[TTC_EXP_BINS];
                for (int l = 0; l < n_rev_len; l++) xs[l] = 1 << l;
                for (int k = 0; k < TTC_EXP_BINS; k++) {
                    for (int l = 0; l < n_rev_len; l++) {
                        float c[TTC_EXP_MAX_BUDGETS];
                        curve(&x, bin_o, k, M_REV_LEN0 + l, c);
                        yb[k][l] = c[bb];
                    }
                    snprintf(names[k], sizeof names[k], "bin %d", k + 1);
                    sb[k] = (ttc_svg_series){names[k], yb[k], false};
                }
                char title[96];
                snprintf(title, sizeof title, "Budget %d: accuracy vs sequential length (chains = budget/length)", x.budgets[bb]);
                ttc_svg_chart c = {title, "sequential revisions per chain (log2)", "accuracy", xs, n_rev_len, true, 0, 0, sb, TTC_EXP_BINS};
                ttc_buf o = {0};
                ttc_svg_line_chart(&o, &c);
                rc = write_buf(dir, "fig3_ratio.svg", &o, e);
                ttc_buf_free(&o);
                if (rc) goto out2;
                ttc_buf_printf(&html, "<figure><img src=\"fig3_ratio.svg\" alt=\"ratio\"></figure>\n");
            }
        } else {
            ttc_buf_printf(&html, "<p>No revision records (no revision model / ORM in this run).</p>\n");
        }
        /* 4. compute-optimal */
        ttc_buf_printf(&html, "<h2>4. Compute-optimal vs best-of-N weighted</h2>\n");
        ns = 0;
        s[ns++] = (ttc_svg_series){"bon_weighted", all[M_BON_WEIGHTED], true};
        s[ns++] = (ttc_svg_series){"majority", all[M_MAJORITY], true};
        s[ns++] = (ttc_svg_series){"compute_optimal_oracle", co_o.acc, false};
        s[ns++] = (ttc_svg_series){"compute_optimal_predicted", co_p.acc, false};
        s[ns++] = (ttc_svg_series){"co_search_predicted", co_sp.acc, false};
        if (ncr) s[ns++] = (ttc_svg_series){"co_revisions_oracle", co_rev.acc, false};
        if ((rc = write_chart(dir, "fig4_optimal.svg", "Compute-optimal scaling (two-fold CV)", &x, s, ns, &html, e))) goto out2;
        for (int i = 0; i < ns; i++) { nm[i] = s[i].name; memcpy(rows[i], s[i].y, sizeof rows[0]); }
        html_table(&html, &x, nm, rows, ns);
        ttc_buf_printf(&html, "<p>Efficiency (budget best-of-N weighted needs to match compute-optimal at budget B, divided by B):</p>"
                              "<table><tr><th>budget</th><th>oracle bins</th><th>predicted bins</th></tr>\n");
        for (int b = 0; b < nb; b++) {
            ttc_buf_printf(&html, "<tr><td>%d</td>", x.budgets[b]);
            double rr[2] = {ratio_o[b], ratio_p[b]}, ll[2] = {low_o[b], low_p[b]};
            for (int i = 0; i < 2; i++)
                if (!isnan(rr[i])) ttc_buf_printf(&html, "<td>%.2fx</td>", rr[i]);
                else if (!isnan(ll[i])) ttc_buf_printf(&html, "<td>&gt; %.2fx (best-of-N never reaches it)</td>", ll[i]);
                else ttc_buf_printf(&html, "<td>&ndash;</td>");
            ttc_buf_printf(&html, "</tr>\n");
        }
        ttc_buf_printf(&html, "</table>\n<p>Method chosen per predicted-difficulty bin (on all problems; shipped as policy.json):</p>"
                              "<table><tr><th>bin</th>");
        for (int b = 0; b < nb; b++) ttc_buf_printf(&html, "<th>%d</th>", x.budgets[b]);
        ttc_buf_printf(&html, "</tr>\n");
        for (int k = 0; k < TTC_EXP_BINS; k++) {
            ttc_buf_printf(&html, "<tr><td>%d</td>", k + 1);
            for (int b = 0; b < nb; b++) {
                int m = co_p.choice_all[k][b];
                ttc_buf_printf(&html, "<td>%s</td>", m >= 0 ? x.methods[m] : "&ndash;");
            }
            ttc_buf_printf(&html, "</tr>\n");
        }
        ttc_buf_printf(&html, "</table>\n");
        /* 5. FLOPs matched */
        ttc_buf_printf(&html, "<h2>5. FLOPs-matched: small model + test-time compute vs a larger model</h2>\n");
        if (have_flops) {
            double xs[TTC_EXP_BINS];
            for (int k = 0; k < TTC_EXP_BINS; k++) xs[k] = k + 1;
            ttc_svg_series sf[4];
            char names[3][64];
            for (int i = 0; i < 3; i++) {
                snprintf(names[i], sizeof names[i], "small+TTC, R=%g (B=%.0f)", Rs[i], fl_budget[i]);
                sf[i] = (ttc_svg_series){names[i], fl_small[i], false};
            }
            sf[3] = (ttc_svg_series){"larger model, greedy", fl_large, true};
            ttc_svg_chart c = {"FLOPs-matched comparison per difficulty bin", "difficulty bin (oracle)", "accuracy",
                               xs, TTC_EXP_BINS, false, 0, 0, sf, 4};
            ttc_buf o = {0};
            ttc_svg_line_chart(&o, &c);
            rc = write_buf(dir, "fig5_flops.svg", &o, e);
            ttc_buf_free(&o);
            if (rc) goto out2;
            ttc_buf_printf(&html, "<figure><img src=\"fig5_flops.svg\" alt=\"flops\"></figure>\n"
                                  "<p>R = inference tokens / pre-training tokens. FLOPs: 6 N D pre-training, 2 N per inference token "
                                  "plus attention, verifier included. Matched budgets above the largest run budget use the "
                                  "largest budget's accuracy (a lower bound for the small model).</p>\n");
        } else {
            ttc_buf_printf(&html, "<p>Not available: needs the larger generator's records and model sizes in meta.json.</p>\n");
        }
    }
    ttc_buf_printf(&html, "</body></html>\n");
    if ((rc = write_buf(dir, "report.html", &html, e))) goto out2;

    /* policy.json: predicted-difficulty bins -> method per budget */
    {
        float cut[TTC_EXP_BINS - 1];
        ttc_exp_bin_cuts(x.predicted, bin_p, n, TTC_EXP_BINS, cut);
        json_t *pol = json_object(), *jc = json_array(), *jch = json_array();
        for (int k = 0; k + 1 < TTC_EXP_BINS; k++) json_array_append_new(jc, json_real(cut[k]));
        json_object_set_new(pol, "difficulty", json_string("mean PRM final-answer score of probe samples"));
        json_object_set_new(pol, "cuts", jc);
        json_object_set_new(pol, "budgets", json_incref(jbud));
        for (int k = 0; k < TTC_EXP_BINS; k++) {
            json_t *row = json_array();
            for (int b = 0; b < nb; b++) {
                int m = co_p.choice_all[k][b];
                json_array_append_new(row, json_string(m >= 0 ? x.methods[m] : "bon_weighted"));
            }
            json_array_append_new(jch, row);
        }
        json_object_set_new(pol, "choice", jch);
        json_object_set_new(pol, "probe", json_integer(4));
        json_t *rtemp = json_object_get(meta, "revise_temperature");
        if (json_is_number(rtemp)) json_object_set_new(pol, "revise_temperature", json_incref(rtemp));
        json_t *rctx = json_object_get(meta, "revise_context");
        if (json_is_integer(rctx)) json_object_set_new(pol, "revise_context", json_incref(rctx));
        snprintf(path, sizeof path, "%s/policy.json", dir);
        char *ps_ = json_dumps(pol, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        rc = ps_ ? ttc_write_file(path, ps_, strlen(ps_), e) : ttc_err_set(e, TTC_ENOMEM, "policy: out of memory");
        free(ps_);
        json_decref(pol);
    }

    if (h && rc == TTC_OK) {
        memset(h, 0, sizeof *h);
        h->n_problems = n;
        h->n_budgets = nb;
        memcpy(h->budgets, x.budgets, sizeof h->budgets);
        memcpy(h->bon_weighted, all[M_BON_WEIGHTED], sizeof h->bon_weighted);
        memcpy(h->majority, all[M_MAJORITY], sizeof h->majority);
        memcpy(h->beam_sqrt, all[M_SEARCH0 + TTC_EXP_BEAM_SQRT], sizeof h->beam_sqrt);
        memcpy(h->co_oracle, co_o.acc, sizeof h->co_oracle);
        memcpy(h->co_predicted, co_p.acc, sizeof h->co_predicted);
        h->eff_oracle = eff_o;
        h->eff_predicted = eff_p;
        h->eff_predicted_one_se = eff_p_se;
        h->splits = split_n[0];
        h->split_median = split_med[0];
        h->split_min = split_min[0];
        h->split_max = split_max[0];
        h->split_at4 = split_at4[0];
        h->split_median_one_se = split_med[1];
        for (int b = 0; b < nb; b++) {
            h->low_oracle[b] = low_o[b];
            h->low_predicted[b] = low_p[b];
        }
        for (int b = 0; b < nb; b++) {
            if (ratio_o[b] == eff_o) h->eff_oracle_at = x.budgets[b];
            if (ratio_p[b] == eff_p) h->eff_predicted_at = x.budgets[b];
        }
    }
out2:
    ttc_buf_free(&find);
    ttc_buf_free(&flcsv);
    free(bin_o); free(bin_p); free(fold); free(fold_p);
out:
    for (int i = 0; i < ps.n; i++) prob_free(&ps.v[i]);
    free(ps.v);
    free(map);
    ttc_exp_matrix_free(&x);
    ttc_buf_free(&html);
    ttc_buf_free(&csv);
    json_decref(sum);
    json_decref(meta);
    return rc;
}
