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
    ttc_op_rmsnorm_fwd(NULL, c->y, c->rstd, c->x, c->w, c->N, c->D, 1e-5f);
    return dotd(c->y, c->r, (size_t)c->N * c->D);
}

Test(train_ops, rmsnorm_backward) {
    ttc_rng r; ttc_rng_seed(&r, 1);
    lin_ctx c = {.N = 3, .D = 8};
    c.x = rnd(&r, 24, 1); c.w = rnd(&r, 8, 1); c.r = rnd(&r, 24, 1);
    c.y = calloc(24, 4); c.rstd = calloc(3, 4);
    float *dx = calloc(24, 4), *dw = calloc(8, 4);
    rms_f(&c);
    ttc_op_rmsnorm_bwd(NULL, dx, dw, c.r, c.x, c.w, c.rstd, 3, 8);
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
    float *dq = calloc(nq, 4), *dk = calloc(nk, 4), *dv = calloc(nk, 4), *datt = calloc(2 * 4 * 25, 4);
    att_f(&c);
    ttc_op_attention_bwd(NULL, dq, dk, dv, datt, c.r, c.att, c.q, c.k, c.v, seg, 2, 5, 4, 2, 4);
    check_grad("attention dq", c.q, dq, nq, att_f, &c, 1e-2f, 2e-3);
    check_grad("attention dk", c.k, dk, nk, att_f, &c, 1e-2f, 2e-3);
    check_grad("attention dv", c.v, dv, nk, att_f, &c, 1e-2f, 2e-3);
    /* token 3 of row 1 starts a document: it attends only to itself, so its
     * output (q head 2 uses kv head 1) is exactly v[row 1, token 3, kv head 1] */
    att_f(&c);
    const float *o = c.out + ((1 * 5 + 3) * 4 + 2) * 4, *vv = c.v + ((1 * 5 + 3) * 2 + 1) * 4;
    for (int i = 0; i < 4; i++) cr_assert_float_eq(o[i], vv[i], 1e-6);
    free(c.q); free(c.k); free(c.v); free(c.r); free(c.out); free(c.att);
    free(dq); free(dk); free(dv); free(datt);
}

/* Rows longer than the kernel's 64-row query blocks, documents crossing
 * block boundaries; checked against a scalar reference and by finite
 * differences on a sample of the entries. */
Test(train_ops, attention_blocks_match_reference) {
    ttc_rng r; ttc_rng_seed(&r, 14);
    enum { T = 150, H = 2, KV = 1, HD = 4 };
    static int32_t seg[T];
    for (int t = 0; t < T; t++) seg[t] = t < 40 ? 0 : t < 130 ? 40 : 130;
    att_ctx c = {.B = 1, .T = T, .H = H, .KV = KV, .hd = HD, .seg = seg};
    size_t nq = T * H * HD, nk = T * KV * HD;
    c.q = rnd(&r, nq, 1); c.k = rnd(&r, nk, 1); c.v = rnd(&r, nk, 1); c.r = rnd(&r, nq, 1);
    c.out = calloc(nq, 4); c.att = calloc(H * T * T, 4);
    att_f(&c);
    for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++) {
            double w[T], z = 0, mx = -1e30;
            for (int s = seg[t]; s <= t; s++) {
                w[s] = dotd(c.q + (t * H + h) * HD, c.k + s * HD, HD) / 2.0;
                if (w[s] > mx) mx = w[s];
            }
            for (int s = seg[t]; s <= t; s++) z += (w[s] = exp(w[s] - mx));
            for (int i = 0; i < HD; i++) {
                double o = 0;
                for (int s = seg[t]; s <= t; s++) o += w[s] / z * c.v[s * HD + i];
                cr_assert(fabs(o - c.out[(t * H + h) * HD + i]) < 1e-5, "out[%d][%d][%d]", t, h, i);
            }
        }
    float *dq = calloc(nq, 4), *dk = calloc(nk, 4), *dv = calloc(nk, 4), *datt = calloc(H * T * T, 4);
    ttc_op_attention_bwd(NULL, dq, dk, dv, datt, c.r, c.att, c.q, c.k, c.v, seg, 1, T, H, KV, HD);
    /* sampled finite differences: every 7th entry */
    float *xs[3] = {c.q, c.k, c.v}, *gs[3] = {dq, dk, dv};
    size_t ns[3] = {nq, nk, nk};
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < ns[a]; i += 7) {
            float x0 = xs[a][i];
            xs[a][i] = x0 + 1e-2f; double fp = att_f(&c);
            xs[a][i] = x0 - 1e-2f; double fm = att_f(&c);
            xs[a][i] = x0;
            double num = (fp - fm) / 2e-2;
            cr_assert(fabs(num - gs[a][i]) < 3e-3 * (1 + fabs(num)), "grad %d[%zu]: %g vs %g", a, i,
                      gs[a][i], num);
        }
    free(c.q); free(c.k); free(c.v); free(c.r); free(c.out); free(c.att);
    free(dq); free(dk); free(dv); free(datt);
}

typedef struct { size_t n; float *g, *u, *h, *r; } sw_ctx;
static double sw_f(void *vc) {
    sw_ctx *c = vc;
    ttc_op_swiglu_fwd(NULL, c->h, c->g, c->u, c->n);
    return dotd(c->h, c->r, c->n);
}

Test(train_ops, swiglu_backward) {
    ttc_rng r; ttc_rng_seed(&r, 5);
    sw_ctx c = {.n = 20};
    c.g = rnd(&r, 20, 2); c.u = rnd(&r, 20, 1); c.r = rnd(&r, 20, 1); c.h = calloc(20, 4);
    float *dg = calloc(20, 4), *du = calloc(20, 4);
    ttc_op_swiglu_bwd(NULL, dg, du, c.r, c.g, c.u, 20);
    check_grad("swiglu dg", c.g, dg, 20, sw_f, &c, 1e-2f, 1e-3);
    check_grad("swiglu du", c.u, du, 20, sw_f, &c, 1e-2f, 1e-3);
    free(c.g); free(c.u); free(c.r); free(c.h); free(dg); free(du);
}

typedef struct { int N, V; float *l, *w, *y; int32_t *tgt; int prm; } loss_ctx;
static double loss_f(void *vc) {
    loss_ctx *c = vc;
    if (c->prm) return ttc_op_prm_loss(NULL, c->l, c->y, 0.5f, c->N, c->V, 2, 5, NULL);
    return ttc_op_xent(NULL, NULL, c->l, c->tgt, c->w, 1.0f, c->N, c->V);
}

Test(train_ops, xent_and_prm_loss) {
    ttc_rng r; ttc_rng_seed(&r, 6);
    int32_t tgt[4] = {1, 6, 0, 3};
    float w[4] = {0.5f, 0, 0.25f, 1};
    loss_ctx c = {.N = 4, .V = 7, .w = w, .tgt = tgt};
    c.l = rnd(&r, 28, 2);
    float *dl = calloc(28, 4);
    double loss = ttc_op_xent(NULL, dl, c.l, tgt, w, 1.0f, 4, 7);
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

/* ------------------------------------------------------ whole model */

static ttc_tconfig tiny_config(int tied) {
    ttc_tconfig c = {.dim = 8, .n_layer = 2, .n_head = 2, .n_kv_head = 1, .ff = 12, .vocab = 11,
                     .ctx = 8, .tied = tied, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return c;
}

/* A batch of 2 rows x 6 tokens; row 1 packs two documents. */
typedef struct {
    ttc_tbatch b;
    int32_t tok[12], tgt[12], pos[12], seg[12];
    float w[12], label[12];
} tiny_batch;

static void tiny_batch_fill(tiny_batch *t, ttc_rng *r, int V) {
    t->b = (ttc_tbatch){.B = 2, .T = 6, .tok = t->tok, .tgt = t->tgt, .pos = t->pos,
                        .seg = t->seg, .w = t->w, .label = t->label};
    for (int n = 0; n < 12; n++) {
        int i = n % 6;
        t->tok[n] = (int32_t)ttc_rng_below(r, (uint64_t)V);
        t->tgt[n] = (int32_t)ttc_rng_below(r, (uint64_t)V);
        t->seg[n] = n >= 6 && i >= 4 ? 4 : 0;
        t->pos[n] = i - t->seg[n];
        t->w[n] = i == 0 ? 0.0f : 1.0f;
        t->label[n] = i % 2 ? ttc_rng_float(r) : -1.0f;
    }
}

typedef struct { ttc_tmodel *m; tiny_batch *tb; ttc_task task; } model_ctx;

static double model_f(void *vc) {
    model_ctx *c = vc;
    ttc_err e;
    cr_assert_eq(ttc_tmodel_forward(c->m, NULL, &c->tb->b, &e), TTC_OK, "%s", e.msg);
    return ttc_tmodel_loss(c->m, NULL, &c->tb->b, c->task, 0.1f, 3, 7, false).loss;
}

static void model_grad_check(int tied, ttc_task task) {
    ttc_tconfig cfg = tiny_config(tied);
    ttc_tmodel m;
    ttc_err e;
    cr_assert_eq(ttc_tmodel_new(&cfg, &m, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_tmodel_alloc_acts(&m, 2, 6, &e), TTC_OK, "%s", e.msg);
    ttc_rng r;
    ttc_rng_seed(&r, 7);
    ttc_tmodel_init_random(&m, &r);
    /* larger weights than the default init, so every path carries signal;
     * norm weights around 1 */
    for (int t = 0; t < m.n_tensors; t++)
        for (size_t i = 0; i < m.tensors[t].n; i++)
            m.params[m.tensors[t].off + i] = (m.tensors[t].n_dims == 1 ? 1.0f : 0.0f) +
                                             0.3f * ttc_rng_normal(&r);
    tiny_batch tb;
    tiny_batch_fill(&tb, &r, cfg.vocab);
    model_ctx c = {&m, &tb, task};
    model_f(&c);
    ttc_tmodel_loss(&m, NULL, &tb.b, task, 0.1f, 3, 7, true);
    ttc_tmodel_zero_grad(&m);
    ttc_tmodel_backward(&m, NULL, &tb.b);
    float *g = malloc(m.n_params * 4);
    memcpy(g, m.grads, m.n_params * 4);
    for (int t = 0; t < m.n_tensors; t++)
        check_grad(m.tensors[t].name, m.params + m.tensors[t].off, g + m.tensors[t].off,
                   m.tensors[t].n, model_f, &c, 1e-3f, 5e-3);
    free(g);
    ttc_tmodel_free(&m);
}

Test(train_model, gradient_matches_finite_differences_untied) { model_grad_check(0, TTC_TASK_SFT); }
Test(train_model, gradient_matches_finite_differences_tied) { model_grad_check(1, TTC_TASK_SFT); }
Test(train_model, prm_gradient_matches_finite_differences) { model_grad_check(0, TTC_TASK_PRM); }

/* ------------------------------------------------------ training runs */

#include "model/ctx.h"
#include "model/model.h"
#include "gguf/gguf.h"
#include "train/tdata.h"
#include "train/trainer.h"

/* n_ex random examples of 6..(6+spread) tokens; sft supervision on all but
 * the first two tokens, or prm labels on every third token. */
static void toy_data(ttc_tdata *d, ttc_task task, int n_ex, int V, int spread, uint64_t seed) {
    ttc_rng r;
    ttc_rng_seed(&r, seed);
    size_t *start = malloc(((size_t)n_ex + 1) * sizeof *start);
    int32_t *ids = malloc((size_t)n_ex * (6 + spread) * sizeof *ids);
    float *sup = malloc((size_t)n_ex * (6 + spread) * sizeof *sup);
    start[0] = 0;
    for (int k = 0; k < n_ex; k++) {
        int len = 6 + (spread ? (int)ttc_rng_below(&r, (uint64_t)spread) : 0);
        for (int j = 0; j < len; j++) {
            size_t n = start[k] + j;
            ids[n] = (int32_t)((k * 3 + j * j) % V);   /* learnable pattern */
            sup[n] = task == TTC_TASK_SFT ? (j >= 2) : (j % 3 == 2 ? (float)((k + j) % 2) : -1.0f);
        }
        start[k + 1] = start[k] + len;
    }
    ttc_err e;
    cr_assert_eq(ttc_tdata_from_arrays(task, ids, sup, start, n_ex, 0, d, &e), TTC_OK, "%s", e.msg);
    free(start); free(ids); free(sup);
}

static ttc_tconfig small_config(void) {
    ttc_tconfig c = {.dim = 16, .n_layer = 2, .n_head = 4, .n_kv_head = 2, .ff = 32, .vocab = 23,
                     .ctx = 16, .tied = 0, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return c;
}

static void new_model(ttc_tmodel *m, ttc_tconfig c, uint64_t seed) {
    ttc_err e;
    cr_assert_eq(ttc_tmodel_new(&c, m, &e), TTC_OK, "%s", e.msg);
    ttc_rng r;
    ttc_rng_seed(&r, seed);
    ttc_tmodel_init_random(m, &r);
}

typedef struct { double first, last; int n; } loss_log;
static void record(void *ud, const ttc_train_log *l) {
    loss_log *ll = ud;
    if (ll->n++ == 0) ll->first = l->loss;
    ll->last = l->loss;
}

Test(train_run, overfits_one_batch) {
    ttc_tmodel m;
    new_model(&m, small_config(), 11);
    ttc_tdata d;
    toy_data(&d, TTC_TASK_SFT, 2, 23, 0, 1);
    ttc_train_opts o = ttc_train_opts_default();
    o.batch = 1; o.seq = 16; o.steps = 80; o.warmup = 5; o.lr = 1e-2f; o.weight_decay = 0;
    loss_log ll = {0};
    o.on_log = record; o.ud = &ll;
    ttc_train_state st = {0};
    ttc_err e;
    cr_assert_eq(ttc_train_run(&m, &d, NULL, &o, &st, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(st.step, 80);
    cr_assert(ll.first > 2.5, "initial loss %f should be near ln(23) = 3.1", ll.first);
    cr_assert(ll.last < 0.1, "loss %f -> %f: did not overfit one batch", ll.first, ll.last);
    ttc_tdata_free(&d);
    ttc_tmodel_free(&m);
}

Test(train_run, prm_loss_falls) {
    ttc_tmodel m;
    new_model(&m, small_config(), 12);
    ttc_tdata d;
    toy_data(&d, TTC_TASK_PRM, 4, 23, 4, 2);
    ttc_train_opts o = ttc_train_opts_default();
    o.task = TTC_TASK_PRM; o.tok_good = 5; o.tok_bad = 6;
    o.batch = 2; o.seq = 16; o.steps = 60; o.warmup = 5; o.lr = 1e-2f;
    loss_log ll = {0};
    o.on_log = record; o.ud = &ll;
    ttc_train_state st = {0};
    ttc_err e;
    cr_assert_eq(ttc_train_run(&m, &d, NULL, &o, &st, &e), TTC_OK, "%s", e.msg);
    cr_assert(fabs(ll.first - log(2.0)) < 0.05, "initial BCE %f should be ~ln 2", ll.first);
    cr_assert(ll.last < 0.2, "prm loss %f -> %f", ll.first, ll.last);
    ttc_tdata_free(&d);
    ttc_tmodel_free(&m);
}

Test(train_data, packing_positions_segments_and_masks) {
    ttc_tdata d;
    toy_data(&d, TTC_TASK_SFT, 5, 23, 5, 3);
    ttc_tbatch b;
    ttc_err e;
    cr_assert_eq(ttc_tbatch_alloc(&b, 3, 16, &e), TTC_OK);
    ttc_tcursor c = {0, 0};
    ttc_tdata_next(&d, 9, &c, &b);
    int seen = 0;
    for (int r = 0; r < 3; r++)
        for (int t = 0; t < 16; t++) {
            int n = r * 16 + t;
            cr_assert(b.seg[n] <= t && b.pos[n] == t - b.seg[n]);
            if (t + 1 < 16 && b.seg[n + 1] == b.seg[n] && b.w[n] > 0)
                cr_assert_eq(b.tgt[n], b.tok[n + 1], "target is the next token of the document");
            if (b.pos[n] == 0 && b.w[n] == 0 && b.tok[n] != d.pad) seen++;
            if (t + 1 < 16 && b.seg[n + 1] != b.seg[n]) cr_assert_eq(b.w[n], 0, "no target across documents");
        }
    cr_assert(seen >= 3, "several documents per batch (%d)", seen);
    cr_assert(c.epoch > 0 || c.index == seen, "cursor advanced by the examples used");
    /* same cursor, same batch; the order depends on the seed */
    ttc_tbatch b2;
    ttc_tbatch_alloc(&b2, 3, 16, &e);
    ttc_tcursor c2 = {0, 0};
    ttc_tdata_next(&d, 9, &c2, &b2);
    cr_assert_eq(memcmp(b.tok, b2.tok, 48 * 4), 0);
    cr_assert_eq(c2.index, c.index);
    ttc_tbatch_free(&b); ttc_tbatch_free(&b2);
    ttc_tdata_free(&d);
}

static void write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(s, f);
    fclose(f);
}

Test(train_data, malformed_lines_name_file_and_line) {
    const char *dir = tu_tmpdir();
    char p[256];
    snprintf(p, sizeof p, "%s/bad.jsonl", dir);
    write_text(p, "{\"prompt\": \"a\", \"completion\": \"b\"}\n\n{\"prompt\": 3}\n");
    char **texts; int n;
    ttc_err e;
    cr_assert_eq(ttc_tdata_texts(p, &texts, &n, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "bad.jsonl:3:"), "%s", e.msg);
    write_text(p, "{\"prompt\": \"a\", \"completion\": \"b\"}\nnot json\n");
    cr_assert_eq(ttc_tdata_texts(p, &texts, &n, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "bad.jsonl:2: not a JSON object"), "%s", e.msg);
}

Test(train_run, checkpoint_resume_is_exact) {
    const char *dir = tu_tmpdir();
    char ck[256];
    snprintf(ck, sizeof ck, "%s/run.ckpt", dir);
    ttc_tdata d;
    toy_data(&d, TTC_TASK_SFT, 7, 23, 6, 4);
    ttc_train_opts o = ttc_train_opts_default();
    o.batch = 2; o.seq = 16; o.accum = 2; o.steps = 6; o.warmup = 2; o.lr = 3e-3f;
    ttc_err e;
    /* uninterrupted */
    ttc_tmodel a;
    new_model(&a, small_config(), 5);
    ttc_train_state sa = {0};
    cr_assert_eq(ttc_train_run(&a, &d, NULL, &o, &sa, &e), TTC_OK, "%s", e.msg);
    /* stopped after step 3 (checkpoint), then resumed by a fresh process
     * state from the file alone */
    ttc_tmodel b;
    new_model(&b, small_config(), 5);
    ttc_train_opts ob = o;
    ob.checkpoint = ck; ob.ckpt_every = 0; ob.stop_at = 3;
    ttc_train_state sb = {0};
    ttc_tdata d2;
    toy_data(&d2, TTC_TASK_SFT, 7, 23, 6, 4);
    cr_assert_eq(ttc_train_run(&b, &d2, NULL, &ob, &sb, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(sb.step, 3);
    cr_assert_neq(memcmp(a.params, b.params, a.n_params * 4), 0);
    ttc_tmodel_free(&b);
    ttc_tdata_free(&d2);
    ttc_tmodel c;
    ttc_train_opts oc = ttc_train_opts_default();
    ttc_train_state sc;
    uint64_t hash;
    cr_assert_eq(ttc_ckpt_load(ck, &c, &oc, &sc, &hash, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(sc.step, 3);
    cr_assert_eq(hash, d.hash);
    cr_assert_eq(oc.steps, 6);
    cr_assert_eq(oc.stop_at, 0, "stop_at is not part of the run's identity");
    cr_assert_eq(ttc_train_run(&c, &d, NULL, &oc, &sc, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(sc.step, 6);
    cr_assert_eq(sc.cur.index, sa.cur.index);
    cr_assert_eq(memcmp(a.params, c.params, a.n_params * 4), 0, "resumed weights differ");
    cr_assert_eq(memcmp(a.v, c.v, a.n_params * 4), 0, "resumed optimizer state differs");
    /* a corrupted checkpoint is refused with a message naming it */
    FILE *f = fopen(ck, "r+b");
    fputc('X', f);
    fclose(f);
    ttc_tmodel z;
    cr_assert_eq(ttc_ckpt_load(ck, &z, &oc, &sc, &hash, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "run.ckpt") && strstr(e.msg, "magic"), "%s", e.msg);
    ttc_tmodel_free(&c);
    ttc_tdata_free(&d);
    ttc_tmodel_free(&a);
}

Test(train_run, nan_loss_stops_and_keeps_checkpoint) {
    const char *dir = tu_tmpdir();
    char ck[256];
    snprintf(ck, sizeof ck, "%s/nan.ckpt", dir);
    ttc_tdata d;
    toy_data(&d, TTC_TASK_SFT, 3, 23, 0, 6);
    ttc_tmodel m;
    new_model(&m, small_config(), 6);
    ttc_train_opts o = ttc_train_opts_default();
    o.batch = 1; o.seq = 16; o.steps = 4; o.checkpoint = ck; o.ckpt_every = 1; o.stop_at = 2;
    ttc_train_state st = {0};
    ttc_err e;
    cr_assert_eq(ttc_train_run(&m, &d, NULL, &o, &st, &e), TTC_OK, "%s", e.msg);
    m.params[m.tensors[2].off] = NAN;   /* poison one weight */
    o.stop_at = 0;
    cr_assert_eq(ttc_train_run(&m, &d, NULL, &o, &st, &e), TTC_ENUMERIC);
    cr_assert(strstr(e.msg, "step 3") && strstr(e.msg, "not finite"), "%s", e.msg);
    ttc_tmodel c;
    ttc_train_state sc;
    cr_assert_eq(ttc_ckpt_load(ck, &c, &o, &sc, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(sc.step, 2, "the last good checkpoint is kept");
    for (size_t i = 0; i < c.n_params; i++) cr_assert(isfinite(c.params[i]));
    ttc_tmodel_free(&c);
    ttc_tmodel_free(&m);
    ttc_tdata_free(&d);
}

Test(train_run, oversized_config_fails_before_allocating) {
    ttc_tconfig c = small_config();
    c.dim = 8192; c.n_layer = 200; c.ff = 32768; c.vocab = 100000; c.ctx = 8192;
    ttc_train_opts o = ttc_train_opts_default();
    o.batch = 64;
    ttc_err e;
    cr_assert_eq(ttc_train_check_memory(&c, &o, 1u << 30, &e), TTC_ENOMEM);
    cr_assert(strstr(e.msg, "MB") && strstr(e.msg, "--batch"), "%s", e.msg);
    c = small_config();
    cr_assert_eq(ttc_train_check_memory(&c, &o, 1u << 30, &e), TTC_OK, "%s", e.msg);
}

/* ---------------------------------------------- export and the engine */

static void forward_one(ttc_tmodel *m, const int32_t *ids, int n) {
    ttc_err e;
    ttc_tbatch b;
    cr_assert_eq(ttc_tbatch_alloc(&b, 1, n, &e), TTC_OK);
    for (int i = 0; i < n; i++) { b.tok[i] = ids[i]; b.pos[i] = i; b.seg[i] = 0; }
    cr_assert_eq(ttc_tmodel_alloc_acts(m, 1, n, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_tmodel_forward(m, NULL, &b, &e), TTC_OK, "%s", e.msg);
    ttc_tbatch_free(&b);
}

/* Depth growth: the appended layers start as the identity, so the grown
 * model computes exactly what the original did; their other weights are
 * random so training can move them. */
Test(train_export, grown_model_computes_the_same_function) {
    ttc_tconfig cfg = small_config();
    cfg.dim = 32; cfg.ff = 64; cfg.vocab = 40; cfg.ctx = 32;
    ttc_tmodel m, g;
    new_model(&m, cfg, 8);
    new_model(&g, cfg, 8);
    for (size_t i = 0; i < m.n_params; i++) g.params[i] = m.params[i] *= 5.0f;
    int32_t ids[12] = {1, 5, 9, 3, 3, 17, 38, 0, 22, 7, 7, 2};
    forward_one(&m, ids, 12);
    ttc_rng r;
    ttc_rng_seed(&r, 3);
    ttc_err e;
    cr_assert_eq(ttc_tmodel_grow(&g, -1, &r, &e), TTC_EINVAL);
    cr_assert_eq(ttc_tmodel_grow(&g, 2, &r, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(g.c.n_layer, cfg.n_layer + 2);
    cr_assert_gt(g.n_params, m.n_params);
    char nm[64];
    snprintf(nm, sizeof nm, "blk.%d.attn_q.weight", cfg.n_layer + 1);
    int q = ttc_tmodel_find(&g, nm);
    cr_assert_geq(q, 0);
    cr_assert_neq(g.params[g.tensors[q].off], 0.0f, "new layers' inputs are random");
    forward_one(&g, ids, 12);
    cr_assert_eq(memcmp(g.logits, m.logits, 12 * 40 * 4), 0, "grown model changed the function");
    ttc_tmodel_free(&g);
    ttc_tmodel_free(&m);
}

Test(train_export, gguf_roundtrip_and_engine_agree) {
    const char *dir = tu_tmpdir();
    char path[256], p16[256];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    snprintf(p16, sizeof p16, "%s/m16.gguf", dir);
    ttc_tconfig cfg = small_config();
    cfg.dim = 32; cfg.ff = 64; cfg.vocab = 40; cfg.ctx = 32;
    ttc_tmodel m;
    new_model(&m, cfg, 8);
    /* bigger weights than the init so the logits are far from uniform */
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 5.0f;
    ttc_err e;
    cr_assert_eq(ttc_tmodel_export(&m, NULL, 0 /* F32 */, "t", NULL, 12345, path, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_tmodel_export(&m, NULL, 1 /* F16 */, "t", "ttc", 0, p16, &e), TTC_OK, "%s", e.msg);
    int32_t ids[12] = {1, 5, 9, 3, 3, 17, 38, 0, 22, 7, 7, 2};
    forward_one(&m, ids, 12);
    /* save -> reload gives identical logits */
    ttc_tmodel r;
    cr_assert_eq(ttc_tmodel_import(path, 0, &r, NULL, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(memcmp(r.params, m.params, m.n_params * 4), 0);
    forward_one(&r, ids, 12);
    cr_assert_eq(memcmp(r.logits, m.logits, 12 * 40 * 4), 0);
    ttc_tmodel_free(&r);
    /* the engine computes the same function on the exported file */
    const char *files[2] = {path, p16};
    for (int f = 0; f < 2; f++) {
        ttc_model_params mp = {.no_tokenizer = true};
        ttc_model *em;
        cr_assert_eq(ttc_model_load(files[f], &mp, &em, &e), TTC_OK, "%s", e.msg);
        /* the training-token count is stored only when given */
        int64_t tokens = -1;
        int krc = ttc_gguf_get_int(em->gguf, "ttc.train.tokens", 0, INT64_MAX, &tokens, NULL);
        if (f == 0) cr_assert(krc == TTC_OK && tokens == 12345, "ttc.train.tokens %lld", (long long)tokens);
        else cr_assert_lt(ttc_gguf_find_key(em->gguf, "ttc.train.tokens"), 0);
        ttc_ctx *ctx;
        cr_assert_eq(ttc_ctx_new(em, NULL, &ctx, &e), TTC_OK, "%s", e.msg);
        int seq;
        cr_assert_eq(ttc_seq_new(ctx, &seq, &e), TTC_OK);
        ttc_batch_entry ent[12];
        for (int i = 0; i < 12; i++) ent[i] = (ttc_batch_entry){seq, ids[i], true, false};
        cr_assert_eq(ttc_decode(ctx, ent, 12, &e), TTC_OK, "%s", e.msg);
        double max_err = 0, max_abs = 0;
        for (int i = 0; i < 12; i++) {
            const float *l = ttc_logits(ctx, i);
            cr_assert(l);
            for (int v = 0; v < 40; v++) {
                double d = fabs(l[v] - m.logits[i * 40 + v]);
                if (d > max_err) max_err = d;
                if (fabs(m.logits[i * 40 + v]) > max_abs) max_abs = fabs(m.logits[i * 40 + v]);
            }
        }
        /* f32 file: f32 rounding only; f16 file: the weights are rounded */
        double tol = f == 0 ? 1e-4 : 2e-2;
        cr_assert(max_abs > 0.5, "logits too small to be a meaningful comparison");
        cr_assert(max_err < tol * (1 + max_abs), "%s: engine vs trainer max |dlogit| %g (max %g)",
                  f ? "f16" : "f32", max_err, max_abs);
        ttc_ctx_free(ctx);
        ttc_model_free(em);
    }
    ttc_tmodel_free(&m);
}

/* ------------------------------------------------------------- the CLI */

Test(train_cli, help_and_bad_arguments) {
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s train --help", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "usage: ttc train"), "%s", out);
    free(out);
    const char *bad[] = {"--task foo --data x --out y", "--task sft --out y --vocab v",
                         "--task sft --data x --out y --steps zero --vocab v",
                         "--task sft --data x --out y", "--task sft --data x --out y --bogus 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s train %s 2>/dev/null", tu_bin(), bad[i]);
        cr_assert_eq(tu_run(cmd, NULL, NULL), 2, "%s", bad[i]);
    }
}

/* Writes n toy benchmark problems "a + b" in the synth JSONL format. */
static void write_toy_sft(const char *path, int n) {
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int i = 0; i < n; i++) {
        int a = i % 17, b = (i * 7) % 13;
        fprintf(f, "{\"problem\": \"Ann has %d apples. She buys %d more. How many?\", "
                   "\"solution\": \"She buys %d more, so %d + %d = %d.\\nThe answer is "
                   "\\\\boxed{%d}.\\n\", \"answer\": \"%d\", \"level\": 1}\n",
                a, b, b, a, b, a + b, a + b, a + b);
    }
    fclose(f);
}

Test(train_cli, sft_then_prm_end_to_end) {
    const char *d = tu_tmpdir();
    char cmd[2048], *out = NULL;
    char data[256], model[256], ck[256], prm[256], prmd[256], bad[256];
    snprintf(data, sizeof data, "%s/sft.jsonl", d);
    snprintf(model, sizeof model, "%s/gen.gguf", d);
    snprintf(ck, sizeof ck, "%s/gen.ckpt", d);
    snprintf(prm, sizeof prm, "%s/prm.gguf", d);
    snprintf(prmd, sizeof prmd, "%s/prm.jsonl", d);
    snprintf(bad, sizeof bad, "%s/bad.jsonl", d);
    write_toy_sft(data, 40);
    const char *shape = "--dim 16 --layers 1 --heads 2 --ctx 96 --batch 2 --threads 1";
    /* an interrupted run: 2 steps with a checkpoint, then resumed to 4 */
    snprintf(cmd, sizeof cmd, "%s train --task sft --data %s --out %s --train-tokenizer 300 %s "
             "--steps 2 --checkpoint %s 2>&1", tu_bin(), data, model, shape, ck);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s train --task sft --data %s --out %s %s --steps 4 "
             "--checkpoint %s --resume 2>&1", tu_bin(), data, model, shape, ck);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
    cr_assert(strstr(out, "resuming") && strstr(out, "step     4/4"), "%s", out);
    free(out);
    /* the engine runs the exported model */
    snprintf(cmd, sizeof cmd, "%s logits -m %s -o %s/l.f32 -t 1", tu_bin(), model, d);
    cr_assert_eq(tu_run(cmd, "Problem: Ann has 3 apples.", NULL), 0);
    /* PRM fine-tuned from it; the file says how verifiers read it */
    FILE *f = fopen(prmd, "w");
    for (int i = 0; i < 8; i++)
        fprintf(f, "{\"problem\": \"Ann has %d apples.\", \"steps\": [\"So %d + 1 = %d.\\n\", "
                   "\"The answer is \\\\boxed{%d}.\\n\"], \"labels\": [%.2f, null]}\n",
                i, i, i + 1 + i % 2, i + 1, i % 2 ? 0.1 : 0.9);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s train --task prm --data %s --init %s --out %s --steps 2 "
             "--batch 2 --threads 1 2>&1", tu_bin(), prmd, model, prm);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
    cr_assert(strstr(out, "acc "), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s gguf info %s", tu_bin(), prm);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "ttc.prm.format") && strstr(out, "\"ttc\""), "%s", out);
    /* a fine-tune keeps the context of the model it starts from */
    const char *cl = strstr(out, "llama.context_length");
    cr_assert(cl && strstr(cl, "96\n") && strchr(cl, '\n') == strstr(cl, "96\n") + 2, "%s", out);
    free(out);
    /* ... unless --ctx asks for another (a longer one for longer prompts) */
    snprintf(cmd, sizeof cmd, "%s train --task prm --data %s --init %s --out %s --steps 1 --ctx 128 "
             "--batch 2 --threads 1 2>&1 && %s gguf info %s", tu_bin(), prmd, model, prm, tu_bin(), prm);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0, "%s", out);
    cl = strstr(out, "llama.context_length");
    cr_assert(cl && strstr(cl, "128\n") && strchr(cl, '\n') == strstr(cl, "128\n") + 3, "%s", out);
    free(out);
    /* a malformed line is reported as file:line, exit 1 */
    f = fopen(bad, "w");
    fputs("{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\"}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s train --task sft --data %s --out %s/x.gguf --vocab %s %s "
             "--steps 1 2>&1", tu_bin(), bad, d, model, shape);
    cr_assert_eq(tu_run(cmd, NULL, &out), 1, "%s", out);
    cr_assert(strstr(out, "bad.jsonl:2:"), "%s", out);
    free(out);
}

Test(train_data, eval_pass_visits_every_example_once) {
    ttc_tdata d;
    toy_data(&d, TTC_TASK_SFT, 5, 23, 5, 9);
    ttc_tbatch b;
    ttc_err e;
    cr_assert_eq(ttc_tbatch_alloc(&b, 2, 16, &e), TTC_OK);
    int64_t index = 0;
    int total = 0, n, calls = 0;
    long sup = 0;
    while ((n = ttc_tdata_next_once(&d, &index, &b)) > 0) {
        total += n;
        calls++;
        for (int i = 0; i < 32; i++) sup += b.w[i] > 0;
    }
    cr_assert_eq(total, 5);
    cr_assert_eq(index, 5);
    cr_assert(calls >= 2);
    /* every supervised token is a target once (the first token of an
     * example is never a target, so all sup entries but position 0 count) */
    cr_assert_eq((size_t)sup, d.n_supervised);
    ttc_tmodel m;
    new_model(&m, small_config(), 3);
    double loss, acc;
    cr_assert_eq(ttc_train_eval(&m, &d, NULL, 2, 16, -1, -1, &loss, &acc, &e), TTC_OK, "%s", e.msg);
    cr_assert(fabs(loss - log(23.0)) < 0.1, "untrained model: loss %f vs ln 23", loss);
    cr_assert_eq(acc, -1.0);
    ttc_tmodel_free(&m);
    ttc_tbatch_free(&b);
    ttc_tdata_free(&d);
}
