/* Reference forward pass (see ref_forward.h). */
#include "ref_forward.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/quant.h"

/* The named tensor as a fresh f32 array (rows x cols), or NULL if absent. */
static float *load(const ttc_model *m, const char *name) {
    const ttc_gguf_tensor *t = ttc_gguf_find_tensor(m->gguf, name);
    if (!t) return NULL;
    int64_t cols = t->ne[0], rows = t->n_elems / cols;
    float *out = malloc((size_t)t->n_elems * sizeof *out);
    size_t rb = ttc_type_row_bytes(t->type, cols);
    for (int64_t r = 0; r < rows; r++)
        ttc_dequantize_row(t->type, (const uint8_t *)t->data + r * rb, out + r * cols, cols, NULL);
    return out;
}

static float *load_blk(const ttc_model *m, int l, const char *suffix) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
    return load(m, name);
}

/* y[rows] = W[rows][cols] x[cols] (+ b) */
static void matvec(float *y, const float *W, const float *x, const float *b, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double s = b ? b[r] : 0;
        for (int c = 0; c < cols; c++) s += (double)W[(size_t)r * cols + c] * x[c];
        y[r] = (float)s;
    }
}

static void rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = (float)(x[i] * inv * w[i]);
}

/* Rotary embedding of one head vector at position pos. Frequency i is
 * base^(-2i/rope_dim) (divided by the llama 3 factor); llama rotates the
 * pairs (2i, 2i+1), NEOX (qwen) the pairs (i, i + rope_dim/2). */
static void rope_head(float *x, int pos, const ttc_model_config *c, const float *factors) {
    int half = c->rope_dim / 2;
    for (int i = 0; i < half; i++) {
        double theta = pow(c->rope_base, -2.0 * i / c->rope_dim);
        if (factors) theta /= factors[i];
        double angle = pos / (double)c->rope_scale * theta;
        int a = c->rope_neox ? i : 2 * i, b = c->rope_neox ? i + half : 2 * i + 1;
        double x0 = x[a], x1 = x[b];
        x[a] = (float)(x0 * cos(angle) - x1 * sin(angle));
        x[b] = (float)(x0 * sin(angle) + x1 * cos(angle));
    }
}

int ref_forward(const ttc_model *m, const int32_t *tokens, int n, float *logits, float *hidden) {
    const ttc_model_config *c = &m->cfg;
    int D = c->n_embd, F = c->n_ff, hd = c->head_dim, H = c->n_head, HK = c->n_head_kv, V = c->n_vocab;
    int qd = H * hd, kvd = HK * hd;
    float *emb = load(m, "token_embd.weight");
    float *out_w = load(m, "output.weight");
    float *out_norm = load(m, "output_norm.weight");
    float *factors = c->arch == TTC_ARCH_LLAMA ? load(m, "rope_freqs.weight") : NULL;
    if (!emb || !out_norm) return -1;
    if (!out_w) out_w = emb; /* tied */

    float *x = malloc((size_t)n * D * sizeof *x), *xn = malloc((size_t)D * sizeof *xn);
    float *q = malloc((size_t)n * qd * sizeof *q), *k = malloc((size_t)n * kvd * sizeof *k);
    float *v = malloc((size_t)n * kvd * sizeof *v), *att = malloc((size_t)qd * sizeof *att);
    float *tmp = malloc((size_t)(D > F ? D : F) * sizeof *tmp), *g = malloc((size_t)F * sizeof *g);
    float *u = malloc((size_t)F * sizeof *u);
    double *w = malloc((size_t)n * sizeof *w);
    for (int t = 0; t < n; t++) memcpy(x + (size_t)t * D, emb + (size_t)tokens[t] * D, (size_t)D * sizeof *x);

    for (int l = 0; l < c->n_layer; l++) {
        float *an = load_blk(m, l, "attn_norm.weight"), *wq = load_blk(m, l, "attn_q.weight");
        float *wk = load_blk(m, l, "attn_k.weight"), *wv = load_blk(m, l, "attn_v.weight");
        float *wo = load_blk(m, l, "attn_output.weight"), *fn = load_blk(m, l, "ffn_norm.weight");
        float *wg = load_blk(m, l, "ffn_gate.weight"), *wu = load_blk(m, l, "ffn_up.weight");
        float *wd = load_blk(m, l, "ffn_down.weight");
        float *bq = load_blk(m, l, "attn_q.bias"), *bk = load_blk(m, l, "attn_k.bias"), *bv = load_blk(m, l, "attn_v.bias");
        float *qn = load_blk(m, l, "attn_q_norm.weight"), *kn = load_blk(m, l, "attn_k_norm.weight");
        /* q, k, v of every position */
        for (int t = 0; t < n; t++) {
            rmsnorm(xn, x + (size_t)t * D, an, D, c->norm_eps);
            float *qt = q + (size_t)t * qd, *kt = k + (size_t)t * kvd;
            matvec(qt, wq, xn, bq, qd, D);
            matvec(kt, wk, xn, bk, kvd, D);
            matvec(v + (size_t)t * kvd, wv, xn, bv, kvd, D);
            for (int h = 0; h < H; h++) {
                if (qn) rmsnorm(qt + h * hd, qt + h * hd, qn, hd, c->norm_eps);
                rope_head(qt + h * hd, t, c, factors);
            }
            for (int h = 0; h < HK; h++) {
                if (kn) rmsnorm(kt + h * hd, kt + h * hd, kn, hd, c->norm_eps);
                rope_head(kt + h * hd, t, c, factors);
            }
        }
        /* causal attention, then the FFN, position by position */
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < H; h++) {
                int kh = h / (H / HK);
                const float *qh = q + (size_t)t * qd + h * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += (double)qh[i] * k[(size_t)j * kvd + kh * hd + i];
                    w[j] = s / sqrt((double)hd);
                    if (w[j] > mx) mx = w[j];
                }
                for (int j = 0; j <= t; j++) { w[j] = exp(w[j] - mx); sum += w[j]; }
                for (int i = 0; i < hd; i++) {
                    double o = 0;
                    for (int j = 0; j <= t; j++) o += w[j] / sum * v[(size_t)j * kvd + kh * hd + i];
                    att[h * hd + i] = (float)o;
                }
            }
            float *xt = x + (size_t)t * D;
            matvec(tmp, wo, att, NULL, D, qd);
            for (int i = 0; i < D; i++) xt[i] += tmp[i];
            rmsnorm(xn, xt, fn, D, c->norm_eps);
            matvec(g, wg, xn, NULL, F, D);
            matvec(u, wu, xn, NULL, F, D);
            for (int i = 0; i < F; i++) g[i] = (float)(g[i] / (1.0 + exp(-(double)g[i])) * u[i]);
            matvec(tmp, wd, g, NULL, D, F);
            for (int i = 0; i < D; i++) xt[i] += tmp[i];
        }
        free(an); free(wq); free(wk); free(wv); free(wo); free(fn); free(wg); free(wu); free(wd);
        free(bq); free(bk); free(bv); free(qn); free(kn);
    }
    for (int t = 0; t < n; t++) {
        rmsnorm(xn, x + (size_t)t * D, out_norm, D, c->norm_eps);
        if (hidden) memcpy(hidden + (size_t)t * D, xn, (size_t)D * sizeof *xn);
        if (logits) matvec(logits + (size_t)t * V, out_w, xn, NULL, V, D);
    }
    if (out_w != emb) free(out_w);
    free(emb); free(out_norm); free(factors);
    free(x); free(xn); free(q); free(k); free(v); free(att); free(tmp); free(g); free(u); free(w);
    return 0;
}
