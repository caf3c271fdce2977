/* Forward/backward ops of the llama decoder used by the trainer (see ops.h). */
#include "train/ops.h"

#include <math.h>
#include <string.h>

#include "base/util.h"
#include "kernels/kernels.h"

/* ---------------------------------------------------------------- gemm */

void ttc_op_gemm(ttc_pool *p, int trans_a, int trans_b, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    ttc_sgemm(p, trans_a != 0, trans_b != 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void ttc_op_matmul_fwd(ttc_pool *p, float *y, const float *x, const float *w, int N, int I, int O) {
    ttc_op_gemm(p, 0, 1, N, O, I, 1.0f, x, I, w, I, 0.0f, y, O);
}

void ttc_op_matmul_bwd(ttc_pool *p, float *dx, float *dw, const float *dy, const float *x,
                       const float *w, int N, int I, int O) {
    if (dx) ttc_op_gemm(p, 0, 0, N, I, O, 1.0f, dy, O, w, I, 1.0f, dx, I);
    ttc_op_gemm(p, 1, 0, O, I, N, 1.0f, dy, O, x, I, 1.0f, dw, I);
}

/* ------------------------------------------------------------- rmsnorm */

typedef struct {
    float *y, *rstd, *dx, *dw;
    const float *x, *w, *dy, *crstd;
    int D;
    float eps;
} rms_ctx;

static void rms_fwd_rows(void *v, size_t n0, size_t n1) {
    const rms_ctx *c = v;
    int D = c->D;
    for (size_t n = n0; n < n1; n++) {
        const float *xr = c->x + n * D;
        float *yr = c->y + n * D;
        float ss = 0.0f;
        for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
        float r = 1.0f / sqrtf(ss / (float)D + c->eps);
        c->rstd[n] = r;
        for (int i = 0; i < D; i++) yr[i] = xr[i] * r * c->w[i];
    }
}

void ttc_op_rmsnorm_fwd(ttc_pool *p, float *y, float *rstd, const float *x, const float *w,
                        int N, int D, float eps) {
    rms_ctx c = {.y = y, .rstd = rstd, .x = x, .w = w, .D = D, .eps = eps};
    ttc_pool_for(p, (size_t)N, 16, rms_fwd_rows, &c);
}

/* y_i = x_i r w_i with r = (mean x^2 + eps)^-1/2:
 * dx_i = r w_i dy_i - r^3 x_i / D * sum_j w_j dy_j x_j. */
static void rms_bwd_rows(void *v, size_t n0, size_t n1) {
    const rms_ctx *c = v;
    int D = c->D;
    for (size_t n = n0; n < n1; n++) {
        const float *xr = c->x + n * D, *dyr = c->dy + n * D;
        float *dxr = c->dx + n * D;
        float r = c->crstd[n], dot = 0.0f;
        for (int i = 0; i < D; i++) dot += c->w[i] * dyr[i] * xr[i];
        float k = r * r * r * dot / (float)D;
        for (int i = 0; i < D; i++) dxr[i] += r * c->w[i] * dyr[i] - k * xr[i];
    }
}

/* dw_i += sum_n dy_ni x_ni r_n, split by columns so the sum order over n is
 * fixed. */
typedef struct {
    rms_ctx c;
    int N;
} rms_dw_ctx;

static void rms_bwd_cols(void *v, size_t i0, size_t i1) {
    const rms_dw_ctx *d = v;
    const rms_ctx *c = &d->c;
    for (int n = 0; n < d->N; n++) {
        const float *xr = c->x + (size_t)n * c->D, *dyr = c->dy + (size_t)n * c->D;
        float r = c->crstd[n];
        for (size_t i = i0; i < i1; i++) c->dw[i] += dyr[i] * xr[i] * r;
    }
}

void ttc_op_rmsnorm_bwd(ttc_pool *p, float *dx, float *dw, const float *dy, const float *x,
                        const float *w, const float *rstd, int N, int D) {
    rms_dw_ctx d = {{.dx = dx, .dw = dw, .x = x, .w = w, .dy = dy, .crstd = rstd, .D = D}, N};
    ttc_pool_for(p, (size_t)N, 16, rms_bwd_rows, &d.c);
    ttc_pool_for(p, (size_t)D, 32, rms_bwd_cols, &d);
}

/* ---------------------------------------------------------------- rope */

void ttc_op_rope_table(float *tab, int n_pos, int hd, float theta) {
    int half = hd / 2;
    for (int p = 0; p < n_pos; p++)
        for (int i = 0; i < half; i++) {
            double f = pow((double)theta, -2.0 * i / hd);
            double a = (double)p * f;
            tab[((size_t)p * half + i) * 2 + 0] = (float)cos(a);
            tab[((size_t)p * half + i) * 2 + 1] = (float)sin(a);
        }
}

static void rope_apply(float *x, const int32_t *pos, const float *tab, int N, int n_head, int hd,
                       float sign) {
    int half = hd / 2;
    for (int n = 0; n < N; n++) {
        const float *cs = tab + (size_t)pos[n] * half * 2;
        for (int h = 0; h < n_head; h++) {
            float *v = x + ((size_t)n * n_head + h) * hd;
            for (int i = 0; i < half; i++) {
                float c = cs[2 * i], s = sign * cs[2 * i + 1];
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * c - b * s;
                v[2 * i + 1] = a * s + b * c;
            }
        }
    }
}

void ttc_op_rope_fwd(float *x, const int32_t *pos, const float *tab, int N, int n_head, int hd) {
    rope_apply(x, pos, tab, N, n_head, hd, 1.0f);
}

/* The rotation is orthogonal: its backward is the rotation by -angle. */
void ttc_op_rope_bwd(float *dx, const int32_t *pos, const float *tab, int N, int n_head, int hd) {
    rope_apply(dx, pos, tab, N, n_head, hd, -1.0f);
}

/* ----------------------------------------------------------- attention */

/* Attention of one (row b, head h) is small GEMMs on strided views:
 * S = scale Q K^T, P = masked softmax(S), O = P V, done in blocks of
 * ATT_BLOCK query rows. A block [r0, r1) only needs key columns
 * [seg[r0], r1): earlier documents and future tokens are never computed
 * (seg is non-decreasing along a row). Inside that window the masked
 * entries are computed and then zeroed; the GEMM kernel is so much faster
 * than scalar loops that this waste does not matter. */
enum { ATT_BLOCK = 64 };

typedef struct {
    float *out, *dq, *dk, *dv, *att, *datt;
    const float *q, *k, *v, *dout, *catt;
    const int32_t *seg;
    int B, T, H, KV, hd;
} att_ctx;

static void att_fwd_task(void *vctx, int task, int n_tasks, int thread) {
    (void)n_tasks; (void)thread;
    const att_ctx *c = vctx;
    int b = task / c->H, h = task % c->H, T = c->T, hd = c->hd, H = c->H, KV = c->KV;
    int kvh = h / (H / KV);
    float scale = 1.0f / sqrtf((float)hd);
    float *S = c->att + ((size_t)b * H + h) * T * T;
    const float *Q = c->q + ((size_t)b * T * H + h) * hd;
    const float *K = c->k + ((size_t)b * T * KV + kvh) * hd;
    const float *V = c->v + ((size_t)b * T * KV + kvh) * hd;
    float *O = c->out + ((size_t)b * T * H + h) * hd;
    const int32_t *seg = c->seg + (size_t)b * T;
    for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
        int r1 = TTC_MIN(r0 + ATT_BLOCK, T), c0 = seg[r0];
        float *Sb = S + (size_t)r0 * T + c0;
        ttc_sgemm(NULL, false, true, r1 - r0, r1 - c0, hd, scale, Q + (size_t)r0 * H * hd, H * hd,
                  K + (size_t)c0 * KV * hd, KV * hd, 0.0f, Sb, T);
        for (int t = r0; t < r1; t++) {
            int s0 = seg[t];
            float *row = S + (size_t)t * T, mx = -INFINITY, sum = 0.0f;
            for (int s = s0; s <= t; s++) mx = row[s] > mx ? row[s] : mx;
            for (int s = s0; s <= t; s++) { row[s] = expf(row[s] - mx); sum += row[s]; }
            float inv = 1.0f / sum;
            for (int s = 0; s < s0; s++) row[s] = 0.0f;
            for (int s = s0; s <= t; s++) row[s] *= inv;
            for (int s = t + 1; s < T; s++) row[s] = 0.0f;
        }
        ttc_sgemm(NULL, false, false, r1 - r0, hd, r1 - c0, 1.0f, Sb, T,
                  V + (size_t)c0 * KV * hd, KV * hd, 0.0f, O + (size_t)r0 * H * hd, H * hd);
    }
}

void ttc_op_attention_fwd(ttc_pool *p, float *out, float *att, const float *q, const float *k,
                          const float *v, const int32_t *seg, int B, int T, int H, int KV,
                          int hd) {
    att_ctx c = {.out = out, .att = att, .q = q, .k = k, .v = v, .seg = seg,
                 .B = B, .T = T, .H = H, .KV = KV, .hd = hd};
    ttc_pool_run(p, att_fwd_task, &c, B * H);
}

/* Per query block, on the key window [c0, r1):
 * dV += P^T dO, dP = dO V^T, dS = P (dP - rowsum(P dP)) scale,
 * dQ += dS K, dK += dS^T Q. One task owns one kv head of one row (all the
 * q heads that share it), so the writes to dK/dV never race. */
static void att_bwd_task(void *vctx, int task, int n_tasks, int thread) {
    (void)n_tasks; (void)thread;
    const att_ctx *c = vctx;
    int b = task / c->KV, kvh = task % c->KV, T = c->T, hd = c->hd, H = c->H, KV = c->KV;
    int grp = H / KV, lq = H * hd, lk = KV * hd;
    float scale = 1.0f / sqrtf((float)hd);
    const float *K = c->k + ((size_t)b * T * KV + kvh) * hd;
    const float *V = c->v + ((size_t)b * T * KV + kvh) * hd;
    float *dK = c->dk + ((size_t)b * T * KV + kvh) * hd;
    float *dV = c->dv + ((size_t)b * T * KV + kvh) * hd;
    const int32_t *seg = c->seg + (size_t)b * T;
    for (int h = kvh * grp; h < (kvh + 1) * grp; h++) {
        const float *P = c->catt + ((size_t)b * H + h) * T * T;
        float *dS = c->datt + ((size_t)b * H + h) * T * T;
        size_t qo = ((size_t)b * T * H + h) * hd;
        const float *Q = c->q + qo, *dO = c->dout + qo;
        float *dQ = c->dq + qo;
        for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
            int r1 = TTC_MIN(r0 + ATT_BLOCK, T), c0 = seg[r0], nr = r1 - r0, nc = r1 - c0;
            const float *Pb = P + (size_t)r0 * T + c0;
            float *dSb = dS + (size_t)r0 * T + c0;
            const float *Qb = Q + (size_t)r0 * lq, *dOb = dO + (size_t)r0 * lq;
            ttc_sgemm(NULL, true, false, nc, hd, nr, 1.0f, Pb, T, dOb, lq, 1.0f,
                      dV + (size_t)c0 * lk, lk);
            ttc_sgemm(NULL, false, true, nr, nc, hd, 1.0f, dOb, lq, V + (size_t)c0 * lk, lk, 0.0f,
                      dSb, T);
            for (int t = r0; t < r1; t++) {
                const float *pr = P + (size_t)t * T;
                float *dr = dS + (size_t)t * T, sum = 0.0f;
                int s0 = seg[t];
                for (int s = s0; s <= t; s++) sum += pr[s] * dr[s];
                for (int s = c0; s < s0; s++) dr[s] = 0.0f;
                for (int s = s0; s <= t; s++) dr[s] = pr[s] * (dr[s] - sum) * scale;
                for (int s = t + 1; s < r1; s++) dr[s] = 0.0f;
            }
            ttc_sgemm(NULL, false, false, nr, hd, nc, 1.0f, dSb, T, K + (size_t)c0 * lk, lk, 1.0f,
                      dQ + (size_t)r0 * lq, lq);
            ttc_sgemm(NULL, true, false, nc, hd, nr, 1.0f, dSb, T, Qb, lq, 1.0f,
                      dK + (size_t)c0 * lk, lk);
        }
    }
}

void ttc_op_attention_bwd(ttc_pool *p, float *dq, float *dk, float *dv, float *datt,
                          const float *dout, const float *att, const float *q, const float *k,
                          const float *v, const int32_t *seg, int B, int T, int H, int KV,
                          int hd) {
    att_ctx c = {.dq = dq, .dk = dk, .dv = dv, .datt = datt, .dout = dout, .catt = att, .q = q,
                 .k = k, .v = v, .seg = seg, .B = B, .T = T, .H = H, .KV = KV, .hd = hd};
    ttc_pool_run(p, att_bwd_task, &c, B * KV);
}

/* -------------------------------------------------------------- swiglu */

typedef struct {
    float *h, *dg, *du;
    const float *g, *u, *dh;
} swiglu_ctx;

static void swiglu_fwd_range(void *v, size_t i0, size_t i1) {
    const swiglu_ctx *c = v;
    for (size_t i = i0; i < i1; i++) c->h[i] = c->g[i] / (1.0f + expf(-c->g[i])) * c->u[i];
}

void ttc_op_swiglu_fwd(ttc_pool *p, float *h, const float *g, const float *u, size_t n) {
    swiglu_ctx c = {.h = h, .g = g, .u = u};
    ttc_pool_for(p, n, 4096, swiglu_fwd_range, &c);
}

/* d silu(g)/dg = s (1 + g (1 - s)), s = sigmoid(g). */
static void swiglu_bwd_range(void *v, size_t i0, size_t i1) {
    const swiglu_ctx *c = v;
    for (size_t i = i0; i < i1; i++) {
        float g = c->g[i], s = 1.0f / (1.0f + expf(-g));
        c->dg[i] += c->dh[i] * c->u[i] * s * (1.0f + g * (1.0f - s));
        c->du[i] += c->dh[i] * g * s;
    }
}

void ttc_op_swiglu_bwd(ttc_pool *p, float *dg, float *du, const float *dh, const float *g,
                       const float *u, size_t n) {
    swiglu_ctx c = {.dg = dg, .du = du, .g = g, .u = u, .dh = dh};
    ttc_pool_for(p, n, 4096, swiglu_bwd_range, &c);
}

/* ----------------------------------------------------------- embedding */

void ttc_op_embed_fwd(float *x, const float *emb, const int32_t *tok, int N, int D) {
    for (int n = 0; n < N; n++)
        memcpy(x + (size_t)n * D, emb + (size_t)tok[n] * D, sizeof(float) * (size_t)D);
}

void ttc_op_embed_bwd(float *demb, const float *dx, const int32_t *tok, int N, int D) {
    for (int n = 0; n < N; n++) {
        float *d = demb + (size_t)tok[n] * D;
        const float *s = dx + (size_t)n * D;
        for (int i = 0; i < D; i++) d[i] += s[i];
    }
}

/* --------------------------------------------------------------- losses */

enum { XENT_TASKS = 64 };

typedef struct {
    float *dlogits;
    const float *logits, *w;
    const int32_t *tgt;
    float scale;
    int N, V;
    double part[XENT_TASKS];
} xent_ctx;

static void xent_task(void *vctx, int task, int n_tasks, int thread) {
    (void)thread;
    xent_ctx *c = vctx;
    int n0 = (int)((long)c->N * task / n_tasks), n1 = (int)((long)c->N * (task + 1) / n_tasks);
    double loss = 0.0;
    for (int n = n0; n < n1; n++) {
        const float *l = c->logits + (size_t)n * c->V;
        float *d = c->dlogits ? c->dlogits + (size_t)n * c->V : NULL;
        float w = c->w[n] * c->scale;
        if (c->w[n] == 0.0f) {
            if (d) memset(d, 0, sizeof(float) * (size_t)c->V);
            continue;
        }
        float mx = l[0];
        for (int i = 1; i < c->V; i++) mx = l[i] > mx ? l[i] : mx;
        double sum = 0.0;
        for (int i = 0; i < c->V; i++) sum += exp((double)(l[i] - mx));
        double lse = (double)mx + log(sum);
        loss += w * (lse - (double)l[c->tgt[n]]);
        if (d) {
            for (int i = 0; i < c->V; i++) d[i] = w * (float)exp((double)l[i] - lse);
            d[c->tgt[n]] -= w;
        }
    }
    c->part[task] = loss;
}

double ttc_op_xent(ttc_pool *p, float *dlogits, const float *logits, const int32_t *tgt,
                   const float *w, float scale, int N, int V) {
    xent_ctx c = {.dlogits = dlogits, .logits = logits, .w = w, .tgt = tgt, .scale = scale,
                  .N = N, .V = V};
    int nt = TTC_MIN(N, XENT_TASKS);
    ttc_pool_run(p, xent_task, &c, nt);
    double loss = 0.0;
    for (int i = 0; i < nt; i++) loss += c.part[i];
    return loss;
}

/* p = sigmoid(l+ - l-); BCE = -(y log p + (1-y) log(1-p));
 * dBCE/dl+ = p - y = -dBCE/dl-. */
double ttc_op_prm_loss(float *dlogits, const float *logits, const float *y, float w, int N,
                       int V, int32_t tok_pos, int32_t tok_neg, int *n_correct) {
    double loss = 0.0;
    int correct = 0;
    if (dlogits) memset(dlogits, 0, sizeof(float) * (size_t)N * (size_t)V);
    for (int n = 0; n < N; n++) {
        if (y[n] < 0.0f) continue;
        const float *l = logits + (size_t)n * V;
        double z = (double)l[tok_pos] - (double)l[tok_neg];
        /* log p = -log(1+e^-z), log(1-p) = -log(1+e^z), computed stably */
        double lp = z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z));
        double lq = z >= 0 ? -z - log1p(exp(-z)) : -log1p(exp(z));
        double pr = exp(lp);
        loss += w * -(y[n] * lp + (1.0 - y[n]) * lq);
        correct += (pr > 0.5) == (y[n] > 0.5f);
        if (dlogits) {
            float g = w * (float)(pr - y[n]);
            dlogits[(size_t)n * V + tok_pos] = g;
            dlogits[(size_t)n * V + tok_neg] = -g;
        }
    }
    if (n_correct) *n_correct = correct;
    return loss;
}
