/* The trainable llama decoder (see tmodel.h). */
#include "train/tmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "train/ops.h"

enum { LAYER_TENSORS = 9 };   /* attn_norm q k v output ffn_norm gate up down */

int ttc_tconfig_check(const ttc_tconfig *c, ttc_err *e) {
    const struct { const char *name; long v, hi; } f[] = {
        {"dim", c->dim, 1 << 16}, {"layers", c->n_layer, 1024}, {"heads", c->n_head, 1024},
        {"kv_heads", c->n_kv_head, 1024}, {"ff", c->ff, 1 << 18}, {"vocab", c->vocab, 1 << 22},
        {"ctx", c->ctx, 1 << 16},
    };
    for (size_t i = 0; i < TTC_ARRAY_LEN(f); i++)
        if (f[i].v < 1 || f[i].v > f[i].hi)
            return ttc_err_set(e, TTC_EINVAL, "model config: %s = %ld out of range [1, %ld]",
                               f[i].name, f[i].v, f[i].hi);
    if (c->dim % c->n_head)
        return ttc_err_set(e, TTC_EINVAL, "model config: dim %d not divisible by heads %d",
                           c->dim, c->n_head);
    if ((c->dim / c->n_head) % 2)
        return ttc_err_set(e, TTC_EINVAL, "model config: head dim %d must be even (RoPE pairs)",
                           c->dim / c->n_head);
    if (c->n_head % c->n_kv_head)
        return ttc_err_set(e, TTC_EINVAL, "model config: heads %d not divisible by kv_heads %d",
                           c->n_head, c->n_kv_head);
    if (!(c->rope_theta > 0) || !(c->norm_eps > 0) || !isfinite(c->rope_theta) ||
        !isfinite(c->norm_eps))
        return ttc_err_set(e, TTC_EINVAL, "model config: rope_theta and norm_eps must be > 0");
    return TTC_OK;
}

/* Shapes of every tensor, in table order; returns the count. ne = {in, out}. */
static int tensor_table(const ttc_tconfig *c, ttc_ttensor *t) {
    int D = c->dim, hd = c->dim / c->n_head, Q = c->n_head * hd, KV = c->n_kv_head * hd;
    int n = 0;
#define ADD(nm, n0, n1) do { if (t) { \
        snprintf(t[n].name, sizeof t[n].name, "%s", nm); \
        t[n].ne[0] = (n0); t[n].ne[1] = (n1); t[n].n_dims = (n1) > 0 ? 2 : 1; \
        t[n].n = (size_t)(n0) * (size_t)((n1) > 0 ? (n1) : 1); t[n].decay = (n1) > 0; } \
        n++; } while (0)
    ADD("token_embd.weight", D, c->vocab);
    char nm[48];
    for (int l = 0; l < c->n_layer; l++) {
#define LADD(s, n0, n1) do { snprintf(nm, sizeof nm, "blk.%d." s ".weight", l); ADD(nm, n0, n1); } while (0)
        LADD("attn_norm", D, 0);
        LADD("attn_q", D, Q);
        LADD("attn_k", D, KV);
        LADD("attn_v", D, KV);
        LADD("attn_output", Q, D);
        LADD("ffn_norm", D, 0);
        LADD("ffn_gate", D, c->ff);
        LADD("ffn_up", D, c->ff);
        LADD("ffn_down", c->ff, D);
#undef LADD
    }
    ADD("output_norm.weight", D, 0);
    if (!c->tied) ADD("output.weight", D, c->vocab);
#undef ADD
    if (t) {
        size_t off = 0;
        for (int i = 0; i < n; i++) { t[i].off = off; off += t[i].n; }
    }
    return n;
}

size_t ttc_tconfig_n_params(const ttc_tconfig *c) {
    size_t D = (size_t)c->dim, hd = D / (size_t)c->n_head, KV = (size_t)c->n_kv_head * hd;
    size_t layer = 2 * D + 2 * D * D + 2 * D * KV + 3 * D * (size_t)c->ff;
    return (size_t)c->vocab * D * (c->tied ? 1 : 2) + D + (size_t)c->n_layer * layer;
}

/* Floats of activations for a (B, T) micro-batch, in the order they are
 * carved out in alloc_acts. */
static size_t acts_floats(const ttc_tconfig *c, int B, int T) {
    size_t N = (size_t)B * T, D = (size_t)c->dim, L = (size_t)c->n_layer;
    size_t hd = D / (size_t)c->n_head, Q = (size_t)c->n_head * hd, KV = (size_t)c->n_kv_head * hd;
    size_t F = (size_t)c->ff, V = (size_t)c->vocab, H = (size_t)c->n_head;
    size_t per_layer = N * (D + D + 1 + Q + 2 * KV + Q + D + D + 1 + 3 * F) + (size_t)B * H * T * T;
    size_t fwd = L * per_layer + N * D /* final x */ + N * D + N + N * V;
    size_t bwd = N * (D + D + Q + 2 * KV + Q + 3 * F) + N * V + (size_t)B * H * T * T;
    return fwd + bwd;
}

size_t ttc_tconfig_mem_bytes(const ttc_tconfig *c, int B, int T, bool optim) {
    size_t P = ttc_tconfig_n_params(c);
    size_t hd = (size_t)(c->dim / c->n_head);
    size_t f = P * (optim ? 4 : 2) + (size_t)c->ctx * hd + acts_floats(c, B, T);
    return f * sizeof(float);
}

double ttc_tconfig_flops_per_token(const ttc_tconfig *c, int T) {
    double P = (double)ttc_tconfig_n_params(c) - (double)c->vocab * c->dim * (c->tied ? 0 : 1);
    /* matmul params (the embedding lookup is free, the LM head is not) */
    double mm = 2.0 * P;
    /* causal attention: q.k and p.v over ~T/2 keys per layer and head dim */
    double att = 2.0 * 2.0 * c->n_layer * (double)c->dim * (T / 2.0);
    return mm + att;
}

int ttc_tmodel_new(const ttc_tconfig *c, ttc_tmodel *m, ttc_err *e) {
    memset(m, 0, sizeof *m);
    int rc = ttc_tconfig_check(c, e);
    if (rc) return rc;
    m->c = *c;
    m->n_tensors = tensor_table(c, NULL);
    m->tensors = calloc((size_t)m->n_tensors, sizeof *m->tensors);
    if (!m->tensors) return ttc_err_set(e, TTC_ENOMEM, "model: out of memory (tensor table)");
    tensor_table(c, m->tensors);
    m->n_params = m->tensors[m->n_tensors - 1].off + m->tensors[m->n_tensors - 1].n;
    int hd = c->dim / c->n_head;
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->rope = malloc(sizeof(float) * (size_t)c->ctx * (size_t)hd);
    if (!m->params || !m->grads || !m->rope) {
        ttc_tmodel_free(m);
        return ttc_err_set(e, TTC_ENOMEM, "model: out of memory for %zu parameters", m->n_params);
    }
    ttc_op_rope_table(m->rope, c->ctx, hd, c->rope_theta);
    return TTC_OK;
}

void ttc_tmodel_init_random(ttc_tmodel *m, ttc_rng *r) {
    float res_scale = 1.0f / sqrtf(2.0f * (float)m->c.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const ttc_ttensor *t = &m->tensors[i];
        float *p = m->params + t->off;
        if (t->n_dims == 1) {
            for (size_t j = 0; j < t->n; j++) p[j] = 1.0f;
            continue;
        }
        float sd = 0.02f;
        if (strstr(t->name, "attn_output") || strstr(t->name, "ffn_down")) sd *= res_scale;
        for (size_t j = 0; j < t->n; j++) p[j] = sd * ttc_rng_normal(r);
    }
}

int ttc_tmodel_grow(ttc_tmodel *m, int extra, ttc_rng *r, ttc_err *e) {
    if (extra < 0 || m->c.n_layer + extra > 1024)
        return ttc_err_set(e, TTC_EINVAL, "model: cannot add %d layers to %d", extra, m->c.n_layer);
    if (extra == 0) return TTC_OK;
    ttc_tconfig c = m->c;
    c.n_layer += extra;
    ttc_tmodel g;
    int rc = ttc_tmodel_new(&c, &g, e);
    if (rc) return rc;
    ttc_tmodel_init_random(&g, r);
    for (int i = 0; i < g.n_tensors; i++) {
        const ttc_ttensor *t = &g.tensors[i];
        int j = ttc_tmodel_find(m, t->name);
        if (j >= 0) {
            memcpy(g.params + t->off, m->params + m->tensors[j].off, sizeof(float) * t->n);
        } else if (strstr(t->name, "attn_output") || strstr(t->name, "ffn_down")) {
            memset(g.params + t->off, 0, sizeof(float) * t->n); /* new layer: identity */
        }
    }
    ttc_tmodel_free(m);
    *m = g;
    return TTC_OK;
}

int ttc_tmodel_alloc_optim(ttc_tmodel *m, ttc_err *e) {
    if (m->m) return TTC_OK;
    m->m = calloc(m->n_params, sizeof(float));
    m->v = calloc(m->n_params, sizeof(float));
    if (!m->m || !m->v) {
        free(m->m); free(m->v);
        m->m = m->v = NULL;
        return ttc_err_set(e, TTC_ENOMEM, "model: out of memory for optimizer state");
    }
    return TTC_OK;
}

int ttc_tmodel_alloc_acts(ttc_tmodel *m, int B, int T, ttc_err *e) {
    if (B < 1 || T < 1 || T > m->c.ctx)
        return ttc_err_set(e, TTC_EINVAL, "model: batch %d x %d invalid (ctx %d)", B, T, m->c.ctx);
    if (m->acts && m->B == B && m->T == T) return TTC_OK;
    free(m->acts);
    m->n_acts = acts_floats(&m->c, B, T);
    m->acts = malloc(m->n_acts * sizeof(float));
    if (!m->acts) {
        m->B = m->T = 0;
        return ttc_err_set(e, TTC_ENOMEM, "model: out of memory for activations (%zu MB)",
                           m->n_acts * sizeof(float) >> 20);
    }
    m->B = B;
    m->T = T;
    const ttc_tconfig *c = &m->c;
    size_t N = (size_t)B * T, D = (size_t)c->dim, L = (size_t)c->n_layer;
    size_t hd = D / (size_t)c->n_head, Q = (size_t)c->n_head * hd, KV = (size_t)c->n_kv_head * hd;
    size_t F = (size_t)c->ff, V = (size_t)c->vocab, H = (size_t)c->n_head;
    float *p = m->acts;
#define TAKE(ptr, cnt) do { (ptr) = p; p += (cnt); } while (0)
    TAKE(m->x, (L + 1) * N * D);
    TAKE(m->xn1, L * N * D);
    TAKE(m->rstd1, L * N);
    TAKE(m->q, L * N * Q);
    TAKE(m->k, L * N * KV);
    TAKE(m->v_, L * N * KV);
    TAKE(m->att, L * (size_t)B * H * T * T);
    TAKE(m->o, L * N * Q);
    TAKE(m->xmid, L * N * D);
    TAKE(m->xn2, L * N * D);
    TAKE(m->rstd2, L * N);
    TAKE(m->g, L * N * F);
    TAKE(m->u, L * N * F);
    TAKE(m->h, L * N * F);
    TAKE(m->xf, N * D);
    TAKE(m->rstdf, N);
    TAKE(m->logits, N * V);
    TAKE(m->dx, N * D);
    TAKE(m->dxn, N * D);
    TAKE(m->dq, N * Q);
    TAKE(m->dk, N * KV);
    TAKE(m->dv, N * KV);
    TAKE(m->do_, N * Q);
    TAKE(m->dg, N * F);
    TAKE(m->du, N * F);
    TAKE(m->dh, N * F);
    TAKE(m->dlogits, N * V);
    TAKE(m->datt, (size_t)B * H * T * T);
#undef TAKE
    return (size_t)(p - m->acts) == m->n_acts ? TTC_OK
           : ttc_err_set(e, TTC_EINVAL, "model: activation layout mismatch (internal)");
}

void ttc_tmodel_free(ttc_tmodel *m) {
    if (!m) return;
    free(m->tensors); free(m->params); free(m->grads); free(m->m); free(m->v);
    free(m->rope); free(m->acts);
    memset(m, 0, sizeof *m);
}

ttc_tlayer ttc_tmodel_layer(const ttc_tmodel *m, float *buf, int l) {
    const ttc_ttensor *t = m->tensors + 1 + (size_t)l * LAYER_TENSORS;
    ttc_tlayer r = {
        buf + t[0].off, buf + t[1].off, buf + t[2].off, buf + t[3].off, buf + t[4].off,
        buf + t[5].off, buf + t[6].off, buf + t[7].off, buf + t[8].off,
    };
    return r;
}

int ttc_tmodel_find(const ttc_tmodel *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return i;
    return -1;
}

/* Output-side tensors: the final norm and the LM head (token_embd if tied). */
static float *out_norm(const ttc_tmodel *m, float *buf) {
    return buf + m->tensors[1 + m->c.n_layer * LAYER_TENSORS].off;
}
static float *out_head(const ttc_tmodel *m, float *buf) {
    return buf + m->tensors[m->c.tied ? 0 : 2 + m->c.n_layer * LAYER_TENSORS].off;
}

int ttc_tmodel_forward(ttc_tmodel *m, ttc_pool *p, const ttc_tbatch *b, ttc_err *e) {
    if (b->B != m->B || b->T != m->T)
        return ttc_err_set(e, TTC_EINVAL, "model forward: batch %dx%d but activations for %dx%d",
                           b->B, b->T, m->B, m->T);
    const ttc_tconfig *c = &m->c;
    int N = b->B * b->T, D = c->dim, hd = D / c->n_head, H = c->n_head, KV = c->n_kv_head;
    int Q = H * hd, K = KV * hd, F = c->ff;
    for (int n = 0; n < N; n++) {
        if (b->tok[n] < 0 || b->tok[n] >= c->vocab)
            return ttc_err_set(e, TTC_EINVAL, "model forward: token %d at %d out of vocab %d",
                               b->tok[n], n, c->vocab);
        if (b->pos[n] < 0 || b->pos[n] >= c->ctx || b->seg[n] < 0 || b->seg[n] > n % b->T)
            return ttc_err_set(e, TTC_EINVAL, "model forward: bad position/segment at %d", n);
    }
    ttc_op_embed_fwd(m->x, m->params, b->tok, N, D);
    for (int l = 0; l < c->n_layer; l++) {
        ttc_tlayer w = ttc_tmodel_layer(m, m->params, l);
        size_t nd = (size_t)N * D;
        float *x = m->x + l * nd, *xn1 = m->xn1 + l * nd, *xmid = m->xmid + l * nd;
        float *xn2 = m->xn2 + l * nd, *xout = m->x + (l + 1) * nd;
        float *q = m->q + (size_t)l * N * Q, *k = m->k + (size_t)l * N * K;
        float *v = m->v_ + (size_t)l * N * K, *o = m->o + (size_t)l * N * Q;
        float *att = m->att + (size_t)l * b->B * H * b->T * b->T;
        float *g = m->g + (size_t)l * N * F, *u = m->u + (size_t)l * N * F;
        float *h = m->h + (size_t)l * N * F;
        /* attention block: x[N][D] -> xmid[N][D] */
        ttc_op_rmsnorm_fwd(p, xn1, m->rstd1 + (size_t)l * N, x, w.attn_norm, N, D, c->norm_eps);
        ttc_op_matmul_fwd(p, q, xn1, w.wq, N, D, Q);          /* q[N][H][hd] */
        ttc_op_matmul_fwd(p, k, xn1, w.wk, N, D, K);          /* k[N][KV][hd] */
        ttc_op_matmul_fwd(p, v, xn1, w.wv, N, D, K);          /* v[N][KV][hd] */
        ttc_op_rope_fwd(q, b->pos, m->rope, N, H, hd);
        ttc_op_rope_fwd(k, b->pos, m->rope, N, KV, hd);
        ttc_op_attention_fwd(p, o, att, q, k, v, b->seg, b->B, b->T, H, KV, hd);
        ttc_op_matmul_fwd(p, xmid, o, w.wo, N, Q, D);         /* xmid = o wo^T */
        for (size_t i = 0; i < nd; i++) xmid[i] += x[i];
        /* ffn block: xmid[N][D] -> xout[N][D] */
        ttc_op_rmsnorm_fwd(p, xn2, m->rstd2 + (size_t)l * N, xmid, w.ffn_norm, N, D, c->norm_eps);
        ttc_op_matmul_fwd(p, g, xn2, w.wg, N, D, F);          /* g[N][F] */
        ttc_op_matmul_fwd(p, u, xn2, w.wu, N, D, F);          /* u[N][F] */
        ttc_op_swiglu_fwd(p, h, g, u, (size_t)N * F);
        ttc_op_matmul_fwd(p, xout, h, w.wd, N, F, D);
        for (size_t i = 0; i < nd; i++) xout[i] += xmid[i];
    }
    float *xl = m->x + (size_t)c->n_layer * N * D;
    ttc_op_rmsnorm_fwd(p, m->xf, m->rstdf, xl, out_norm(m, m->params), N, D, c->norm_eps);
    ttc_op_matmul_fwd(p, m->logits, m->xf, out_head(m, m->params), N, D, c->vocab);
    return TTC_OK;
}

ttc_tstats ttc_tmodel_loss(ttc_tmodel *m, ttc_pool *p, const ttc_tbatch *b, ttc_task task,
                           float scale, int32_t tok_pos, int32_t tok_neg, bool want_grad) {
    ttc_tstats s = {0};
    int N = b->B * b->T, V = m->c.vocab;
    float *dl = want_grad ? m->dlogits : NULL;
    if (task == TTC_TASK_SFT) {
        for (int n = 0; n < N; n++) s.n_tokens += b->w[n] > 0;
        s.loss = ttc_op_xent(p, dl, m->logits, b->tgt, b->w, scale, N, V);
    } else {
        for (int n = 0; n < N; n++) s.n_tokens += b->label[n] >= 0;
        s.loss = ttc_op_prm_loss(dl, m->logits, b->label, scale, N, V, tok_pos, tok_neg,
                                 &s.n_correct);
    }
    return s;
}

void ttc_tmodel_backward(ttc_tmodel *m, ttc_pool *p, const ttc_tbatch *b) {
    const ttc_tconfig *c = &m->c;
    int N = b->B * b->T, D = c->dim, hd = D / c->n_head, H = c->n_head, KV = c->n_kv_head;
    int Q = H * hd, K = KV * hd, F = c->ff;
    size_t nd = (size_t)N * D;
    /* LM head and final norm: dxn = dlogits W, dW += dlogits^T xf */
    memset(m->dxn, 0, nd * sizeof(float));
    ttc_op_matmul_bwd(p, m->dxn, out_head(m, m->grads), m->dlogits, m->xf,
                      out_head(m, m->params), N, D, c->vocab);
    memset(m->dx, 0, nd * sizeof(float));
    ttc_op_rmsnorm_bwd(p, m->dx, out_norm(m, m->grads), m->dxn, m->x + (size_t)c->n_layer * nd,
                       out_norm(m, m->params), m->rstdf, N, D);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        ttc_tlayer w = ttc_tmodel_layer(m, m->params, l), gw = ttc_tmodel_layer(m, m->grads, l);
        float *x = m->x + l * nd, *xn1 = m->xn1 + l * nd, *xmid = m->xmid + l * nd;
        float *xn2 = m->xn2 + l * nd;
        float *q = m->q + (size_t)l * N * Q, *k = m->k + (size_t)l * N * K;
        float *v = m->v_ + (size_t)l * N * K, *o = m->o + (size_t)l * N * Q;
        float *att = m->att + (size_t)l * b->B * H * b->T * b->T;
        float *g = m->g + (size_t)l * N * F, *u = m->u + (size_t)l * N * F;
        float *h = m->h + (size_t)l * N * F;
        /* ffn: xout = xmid + down(swiglu(gate xn2, up xn2)); dx holds dxout,
         * which also flows unchanged to xmid through the residual */
        memset(m->dh, 0, (size_t)N * F * sizeof(float));
        ttc_op_matmul_bwd(p, m->dh, gw.wd, m->dx, h, w.wd, N, F, D);
        memset(m->dg, 0, (size_t)N * F * sizeof(float));
        memset(m->du, 0, (size_t)N * F * sizeof(float));
        ttc_op_swiglu_bwd(p, m->dg, m->du, m->dh, g, u, (size_t)N * F);
        memset(m->dxn, 0, nd * sizeof(float));
        ttc_op_matmul_bwd(p, m->dxn, gw.wg, m->dg, xn2, w.wg, N, D, F);
        ttc_op_matmul_bwd(p, m->dxn, gw.wu, m->du, xn2, w.wu, N, D, F);
        ttc_op_rmsnorm_bwd(p, m->dx, gw.ffn_norm, m->dxn, xmid, w.ffn_norm,
                           m->rstd2 + (size_t)l * N, N, D);
        /* attention: xmid = x + wo(attn(rope(q), rope(k), v)); dx holds dxmid */
        memset(m->do_, 0, (size_t)N * Q * sizeof(float));
        ttc_op_matmul_bwd(p, m->do_, gw.wo, m->dx, o, w.wo, N, Q, D);
        memset(m->dq, 0, (size_t)N * Q * sizeof(float));
        memset(m->dk, 0, (size_t)N * K * sizeof(float));
        memset(m->dv, 0, (size_t)N * K * sizeof(float));
        ttc_op_attention_bwd(p, m->dq, m->dk, m->dv, m->datt, m->do_, att, q, k, v, b->seg, b->B, b->T,
                             H, KV, hd);
        ttc_op_rope_bwd(m->dq, b->pos, m->rope, N, H, hd);
        ttc_op_rope_bwd(m->dk, b->pos, m->rope, N, KV, hd);
        memset(m->dxn, 0, nd * sizeof(float));
        ttc_op_matmul_bwd(p, m->dxn, gw.wq, m->dq, xn1, w.wq, N, D, Q);
        ttc_op_matmul_bwd(p, m->dxn, gw.wk, m->dk, xn1, w.wk, N, D, K);
        ttc_op_matmul_bwd(p, m->dxn, gw.wv, m->dv, xn1, w.wv, N, D, K);
        ttc_op_rmsnorm_bwd(p, m->dx, gw.attn_norm, m->dxn, x, w.attn_norm,
                           m->rstd1 + (size_t)l * N, N, D);
    }
    ttc_op_embed_bwd(m->grads, m->dx, b->tok, N, D);
}

void ttc_tmodel_zero_grad(ttc_tmodel *m) {
    memset(m->grads, 0, m->n_params * sizeof(float));
}

double ttc_tmodel_grad_norm(const ttc_tmodel *m) {
    double s = 0.0;
    for (size_t i = 0; i < m->n_params; i++) s += (double)m->grads[i] * m->grads[i];
    return sqrt(s);
}

typedef struct {
    const ttc_tmodel *m;
    const ttc_adamw *o;
    float lr, c1, c2, grad_scale;
} adamw_run;

/* AdamW on the flat range [i0, i1) of every buffer; weight decay only where
 * the tensor holding the element is marked to decay. */
static void adamw_range(void *v, size_t i0, size_t i1) {
    const adamw_run *r = v;
    const ttc_tmodel *m = r->m;
    float b1 = r->o->beta1, b2 = r->o->beta2, eps = r->o->eps, lr = r->lr;
    for (int t = 0; t < m->n_tensors; t++) {
        const ttc_ttensor *tn = &m->tensors[t];
        size_t a = TTC_MAX(i0, tn->off), b = TTC_MIN(i1, tn->off + tn->n);
        float wd = tn->decay ? r->o->weight_decay : 0.0f;
        for (size_t j = a; j < b; j++) {
            float g = m->grads[j] * r->grad_scale;
            float mj = m->m[j] = b1 * m->m[j] + (1.0f - b1) * g;
            float vj = m->v[j] = b2 * m->v[j] + (1.0f - b2) * g * g;
            float upd = (mj * r->c1) / (sqrtf(vj * r->c2) + eps);
            m->params[j] -= lr * (upd + wd * m->params[j]);
        }
    }
}

void ttc_tmodel_adamw(ttc_tmodel *m, ttc_pool *p, const ttc_adamw *o, float lr, long t,
                      float grad_scale) {
    adamw_run r = {m, o, lr, 1.0f / (1.0f - powf(o->beta1, (float)t)),
                   1.0f / (1.0f - powf(o->beta2, (float)t)), grad_scale};
    ttc_pool_for(p, m->n_params, 1 << 14, adamw_range, &r);
}

float ttc_lr_schedule(float lr, long step, long warmup, long total, float min_frac) {
    if (warmup > 0 && step < warmup) return lr * (float)(step + 1) / (float)warmup;
    if (total <= warmup) return lr;
    double frac = (double)(step - warmup) / (double)(total - warmup);
    if (frac > 1.0) frac = 1.0;
    double cosv = 0.5 * (1.0 + cos(M_PI * frac));
    return lr * (float)(min_frac + (1.0 - min_frac) * cosv);
}
