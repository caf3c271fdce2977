/* Trainer: every backward op against central finite differences, the whole
 * model's gradient, overfitting, checkpoint/resume, export, and agreement
 * with the inference engine. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "train/ops.h"
#include "train/tmodel.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

static float *rnd(ttc_rng *r, size_t n, float sd) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = sd * ttc_rng_normal(r);
    return p;
}

static double dotd(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Compares an analytic gradient g[n] with central differences of f (a
 * scalar function of x[n]) on every element (or every `stride`-th). */
typedef double (*scalar_fn)(void *ctx);
static void check_grad(const char *what, float *x, const float *g, size_t n, scalar_fn f,
                       void *ctx, float h, double tol) {
    double max_err = 0, max_g = 0;
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + h;
        double fp = f(ctx);
        x[i] = x0 - h;
        double fm = f(ctx);
        x[i] = x0;
        double num = (fp - fm) / (2.0 * h);
        double err = fabs(num - g[i]);
        if (err > max_err) max_err = err;
        if (fabs(num) > max_g) max_g = fabs(num);
        cr_assert(err <= tol * (1.0 + fabs(num)), "%s[%zu]: analytic %.6g numeric %.6g", what, i,
                  g[i], num);
    }
    cr_assert(max_g > 1e-4, "%s: gradient is identically ~0 (test would be vacuous)", what);
}

/* --------------------------------------------------------- op checks */

typedef struct {
    int N, D, I, O;
    float *x, *w, *y, *r, *rstd;
} lin_ctx;

static double rms_f(void *vc) {
    lin_ctx *c = vc;
    ttc_op_rmsnorm_fwd(c->y, c->rstd, c->x, c->w, c->N, c->D, 1e-5f);
    return dotd(c->y, c->r, (size_t)c->N * c->D);
}

Test(train_ops, rmsnorm_backward) {
    ttc_rng r; ttc_rng_seed(&r, 1);
    lin_ctx c = {.N = 3, .D = 8};
    c.x = rnd(&r, 24, 1); c.w = rnd(&r, 8, 1); c.r = rnd(&r, 24, 1);
    c.y = calloc(24, 4); c.rstd = calloc(3, 4);
    float *dx = calloc(24, 4), *dw = calloc(8, 4);
    rms_f(&c);
    ttc_op_rmsnorm_bwd(dx, dw, c.r, c.x, c.w, c.rstd, 3, 8);
    check_grad("rmsnorm dx", c.x, dx, 24, rms_f, &c, 1e-2f, 2e-3);
    check_grad("rmsnorm dw", c.w, dw, 8, rms_f, &c, 1e-2f, 2e-3);
    free(c.x); free(c.w); free(c.r); free(c.y); free(c.rstd); free(dx); free(dw);
}

static double mm_f(void *vc) {
    lin_ctx *c = vc;
    ttc_op_matmul_fwd(NULL, c->y, c->x, c->w, c->N, c->I, c->O);
    return dotd(c->y, c->r, (size_t)c->N * c->O);
}

Test(train_ops, matmul_backward) {
    ttc_rng r; ttc_rng_seed(&r, 2);
    lin_ctx c = {.N = 5, .I = 7, .O = 3};
    c.x = rnd(&r, 35, 1); c.w = rnd(&r, 21, 1); c.r = rnd(&r, 15, 1); c.y = calloc(15, 4);
    float *dx = calloc(35, 4), *dw = calloc(21, 4);
    mm_f(&c);
    ttc_op_matmul_bwd(NULL, dx, dw, c.r, c.x, c.w, 5, 7, 3);
    check_grad("matmul dx", c.x, dx, 35, mm_f, &c, 1e-2f, 1e-3);
    check_grad("matmul dw", c.w, dw, 21, mm_f, &c, 1e-2f, 1e-3);
    free(c.x); free(c.w); free(c.r); free(c.y); free(dx); free(dw);
}

typedef struct {
    int N, H, hd;
    int32_t *pos;
    float *tab, *x, *y, *r;
} rope_ctx;

static double rope_f(void *vc) {
    rope_ctx *c = vc;
    size_t n = (size_t)c->N * c->H * c->hd;
    memcpy(c->y, c->x, n * 4);
    ttc_op_rope_fwd(c->y, c->pos, c->tab, c->N, c->H, c->hd);
    return dotd(c->y, c->r, n);
}

Test(train_ops, rope_backward_and_pairing) {
    ttc_rng r; ttc_rng_seed(&r, 3);
    int32_t pos[3] = {0, 5, 17};
    rope_ctx c = {.N = 3, .H = 2, .hd = 8, .pos = pos};
    c.tab = malloc(32 * 4 * 2 * 4);
    ttc_op_rope_table(c.tab, 32, 8, 10000.0f);
    c.x = rnd(&r, 48, 1); c.r = rnd(&r, 48, 1); c.y = calloc(48, 4);
    float *dx = malloc(48 * 4);
    memcpy(dx, c.r, 48 * 4);
    ttc_op_rope_bwd(dx, pos, c.tab, 3, 2, 8);
    check_grad("rope dx", c.x, dx, 48, rope_f, &c, 1e-2f, 1e-3);
    /* llama pairing: token 1 (pos 5), head 1, pair i=1 (elements 2, 3) is
     * rotated by 5 * 10000^(-2/8) */
    rope_f(&c);
    double a = 5.0 * pow(10000.0, -2.0 / 8), x0 = c.x[8 * 3 + 2], x1 = c.x[8 * 3 + 3];
    cr_assert_float_eq(c.y[8 * 3 + 2], x0 * cos(a) - x1 * sin(a), 1e-5);
    cr_assert_float_eq(c.y[8 * 3 + 3], x0 * sin(a) + x1 * cos(a), 1e-5);
    cr_assert_float_eq(c.y[0], c.x[0], 1e-7);   /* position 0: identity */
    free(c.tab); free(c.x); free(c.r); free(c.y); free(dx);
}

typedef struct {
    int B, T, H, KV, hd;
    int32_t *seg;
    float *q, *k, *v, *out, *att, *r;
} att_ctx;

static double att_f(void *vc) {
    att_ctx *c = vc;
    ttc_op_attention_fwd(NULL, c->out, c->att, c->q, c->k, c->v, c->seg, c->B, c->T, c->H, c->KV,
                         c->hd);
    return dotd(c->out, c->r, (size_t)c->B * c->T * c->H * c->hd);
}

Test(train_ops, attention_backward_gqa_segments) {
    ttc_rng r; ttc_rng_seed(&r, 4);
    /* 2 rows of 5 tokens; row 1 packs two documents (starts at 0 and 3) */
    int32_t seg[10] = {0, 0, 0, 0, 0, 0, 0, 0, 3, 3};
    att_ctx c = {.B = 2, .T = 5, .H = 4, .KV = 2, .hd = 4, .seg = seg};
    size_t nq = 2 * 5 * 4 * 4, nk = 2 * 5 * 2 * 4;
    c.q = rnd(&r, nq, 1); c.k = rnd(&r, nk, 1); c.v = rnd(&r, nk, 1); c.r = rnd(&r, nq, 1);
    c.out = calloc(nq, 4); c.att = calloc(2 * 4 * 25, 4);
    float *dq = calloc(nq, 4), *dk = calloc(nk, 4), *dv = calloc(nk, 4);
    att_f(&c);
    ttc_op_attention_bwd(NULL, dq, dk, dv, c.r, c.att, c.q, c.k, c.v, seg, 2, 5, 4, 2, 4);
    check_grad("attention dq", c.q, dq, nq, att_f, &c, 1e-2f, 2e-3);
    check_grad("attention dk", c.k, dk, nk, att_f, &c, 1e-2f, 2e-3);
    check_grad("attention dv", c.v, dv, nk, att_f, &c, 1e-2f, 2e-3);
    /* token 3 of row 1 starts a document: it attends only to itself, so its
     * output (q head 2 uses kv head 1) is exactly v[row 1, token 3, kv head 1] */
    att_f(&c);
    const float *o = c.out + ((1 * 5 + 3) * 4 + 2) * 4, *vv = c.v + ((1 * 5 + 3) * 2 + 1) * 4;
    for (int i = 0; i < 4; i++) cr_assert_float_eq(o[i], vv[i], 1e-6);
    free(c.q); free(c.k); free(c.v); free(c.r); free(c.out); free(c.att);
    free(dq); free(dk); free(dv);
}

typedef struct { size_t n; float *g, *u, *h, *r; } sw_ctx;
static double sw_f(void *vc) {
    sw_ctx *c = vc;
    ttc_op_swiglu_fwd(c->h, c->g, c->u, c->n);
    return dotd(c->h, c->r, c->n);
}

Test(train_ops, swiglu_backward) {
    ttc_rng r; ttc_rng_seed(&r, 5);
    sw_ctx c = {.n = 20};
    c.g = rnd(&r, 20, 2); c.u = rnd(&r, 20, 1); c.r = rnd(&r, 20, 1); c.h = calloc(20, 4);
    float *dg = calloc(20, 4), *du = calloc(20, 4);
    ttc_op_swiglu_bwd(dg, du, c.r, c.g, c.u, 20);
    check_grad("swiglu dg", c.g, dg, 20, sw_f, &c, 1e-2f, 1e-3);
    check_grad("swiglu du", c.u, du, 20, sw_f, &c, 1e-2f, 1e-3);
    free(c.g); free(c.u); free(c.r); free(c.h); free(dg); free(du);
}

typedef struct { int N, V; float *l, *w, *y; int32_t *tgt; int prm; } loss_ctx;
static double loss_f(void *vc) {
    loss_ctx *c = vc;
    if (c->prm) return ttc_op_prm_loss(NULL, c->l, c->y, 0.5f, c->N, c->V, 2, 5, NULL);
    return ttc_op_xent(NULL, NULL, c->l, c->tgt, c->w, c->N, c->V);
}

Test(train_ops, xent_and_prm_loss) {
    ttc_rng r; ttc_rng_seed(&r, 6);
    int32_t tgt[4] = {1, 6, 0, 3};
    float w[4] = {0.5f, 0, 0.25f, 1};
    loss_ctx c = {.N = 4, .V = 7, .w = w, .tgt = tgt};
    c.l = rnd(&r, 28, 2);
    float *dl = calloc(28, 4);
    double loss = ttc_op_xent(NULL, dl, c.l, tgt, w, 4, 7);
    /* reference for row 0 by hand */
    double z = 0;
    for (int i = 0; i < 7; i++) z += exp(c.l[i]);
    double ref = 0.5 * (log(z) - c.l[1]);
    for (int n = 2; n < 4; n++) {
        double zz = 0;
        for (int i = 0; i < 7; i++) zz += exp(c.l[n * 7 + i]);
        ref += w[n] * (log(zz) - c.l[n * 7 + tgt[n]]);
    }
    cr_assert(fabs(loss - ref) < 1e-5, "xent %f vs %f", loss, ref);
    check_grad("xent dlogits", c.l, dl, 28, loss_f, &c, 1e-2f, 1e-3);
    float y[4] = {1.0f, -1.0f, 0.3f, 0.0f};
    c.y = y; c.prm = 1;
    int correct = 0;
    loss = ttc_op_prm_loss(dl, c.l, y, 0.5f, 4, 7, 2, 5, &correct);
    double p0 = 1.0 / (1.0 + exp(-(c.l[2] - c.l[5])));
    double p3 = 1.0 / (1.0 + exp(-(c.l[21 + 2] - c.l[21 + 5])));
    double p2 = 1.0 / (1.0 + exp(-(c.l[14 + 2] - c.l[14 + 5])));
    double ref2 = 0.5 * (-log(p0) - 0.3 * log(p2) - 0.7 * log(1 - p2) - log(1 - p3));
    cr_assert(fabs(loss - ref2) < 1e-5, "prm %f vs %f", loss, ref2);
    cr_assert_eq(correct, (p0 > .5) + ((p2 > .5) == 0) + (p3 <= .5));
    check_grad("prm dlogits", c.l, dl, 28, loss_f, &c, 1e-2f, 1e-3);
    free(c.l); free(dl);
}
