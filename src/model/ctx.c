/* Context: sequences, batched decode and the transformer forward pass.
 *
 * Activations are [n_tok][dim] row-major, so each ttc_matmul sees the whole
 * batch and reads every weight matrix once per decode. All buffers are
 * sized at ttc_ctx_new; decode allocates nothing. */
#include "model/ctx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kernels/attn.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "model/vec.h"

typedef struct seq_slot {
    bool       used;
    ttc_kv_seq kv;       /* kv.n_tokens = cached tokens */
    int32_t   *tokens;   /* n_ctx capacity */
    int        len;
} seq_slot;

struct ttc_ctx {
    const ttc_model *m;
    ttc_pool *pool;
    int n_ctx, n_seq_max, n_batch, n_out_max, n_threads;
    ttc_kv kv;
    seq_slot *seqs;

    /* scratch, [n_batch][dim] */
    float *x, *xb, *q, *k, *v, *att, *ffa, *ffb;
    float *rope_cs;      /* [n_batch][rope_dim/2][2] cos, sin */
    float *inv_freq;     /* [rope_dim/2] */
    float *scores;       /* [n_threads][n_rep][n_ctx + page_tokens] */
    int32_t *pos;        /* [n_batch] */
    int32_t *seq_cnt;    /* [n_seq_max] */
    ttc_batch_entry *ent;     /* [n_batch] copy of the current batch */

    /* grouped attention (attn_group_task): entries whose sequences share
     * their first KV pages, cut into chunks of at most GA_MEMBERS entries */
    bool attn_per_seq;
    int32_t *ga_ent;     /* [n_batch] entry indices, grouped */
    int32_t *ga_first;   /* [n_batch] first ga_ent index of a chunk */
    int32_t *ga_last;    /* [n_batch] one past the last */
    int32_t *ga_common;  /* [n_batch] pages shared by every entry of the chunk's group */
    int      ga_chunks;
    float   *ga_buf;     /* per thread: Q, O [rows][hd], S [rows][GA_PAGES * page_tokens], m, l [rows] */
    int32_t *ga_lim;     /* per thread [rows] */
    uint8_t *ga_mark;    /* [n_batch] entry already grouped */
    size_t   ga_rows;    /* GA_MEMBERS * n_rep */
    ttc_batch_entry *pend;    /* [n_batch] for ttc_decode_pending */

    /* outputs of the last decode */
    int    n_last;
    int32_t *out_row;    /* [n_batch] row in hid/logits, or -1 */
    float *hid;          /* [n_out_max][n_embd] */
    float *logits;       /* [n_out_max][n_vocab] */

    /* optional vocabulary subset (ttc_ctx_set_logit_ids) */
    int      n_sub;
    int32_t *sub_ids;
    uint8_t *sub_w;      /* the n_sub output rows, packed */
    float   *sub_out;    /* [n_out_max][n_sub] */
    int      bg_rows;    /* logits rows already -inf outside sub_ids */

    ttc_ctx_stats stats;
};

/* Grouped attention: entries per chunk (query rows = GA_MEMBERS * n_rep),
 * KV pages per softmax block. */
#define GA_MEMBERS 16
#define GA_PAGES 8

/* Floats of one thread's grouped-attention scratch for `rows` query rows. */
static size_t ga_floats(size_t rows, int hd, int page_tokens) {
    return rows * (2 * (size_t)hd + (size_t)GA_PAGES * (size_t)page_tokens + 2);
}

/* ---------------------------------------------------------------- setup -- */

int ttc_ctx_new(const ttc_model *m, const ttc_ctx_params *params, ttc_ctx **out, ttc_err *e) {
    *out = NULL;
    ttc_ctx_params p = params ? *params : (ttc_ctx_params){0};
    const ttc_model_config *cf = &m->cfg;
    if (p.n_ctx <= 0) p.n_ctx = cf->n_ctx_train > 0 && cf->n_ctx_train < 4096 ? cf->n_ctx_train : 4096;
    if (p.n_seq_max <= 0) p.n_seq_max = 64;
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.n_batch < p.n_seq_max) p.n_batch = p.n_seq_max;
    if (p.n_outputs_max <= 0) p.n_outputs_max = p.n_seq_max;
    if (p.n_outputs_max > p.n_batch) p.n_outputs_max = p.n_batch;
    if (p.kv_tokens == 0) p.kv_tokens = (size_t)p.n_ctx * 4;
    if (p.page_tokens <= 0) p.page_tokens = 16;
    p.page_tokens = (p.page_tokens + 7) / 8 * 8; /* attention scores 8 slots at a time */

    ttc_ctx *c = calloc(1, sizeof *c);
    if (!c) return ttc_err_set(e, TTC_ENOMEM, "context: out of memory");
    c->m = m;
    c->pool = p.pool;
    c->n_ctx = p.n_ctx;
    c->n_seq_max = p.n_seq_max;
    c->n_batch = p.n_batch;
    c->n_out_max = p.n_outputs_max;
    c->n_threads = ttc_pool_n_threads(p.pool);
    int rc = ttc_kv_init(&c->kv, cf->n_layer, cf->n_head_kv, cf->head_dim, p.page_tokens, p.kv_tokens, e);
    if (rc) { free(c); return ttc_err_wrap(e, "context: "); }

    size_t B = (size_t)c->n_batch, qd = (size_t)cf->n_head * cf->head_dim, kvd = (size_t)cf->n_head_kv * cf->head_dim;
    size_t n_rep = (size_t)(cf->n_head / cf->n_head_kv);
    c->seqs     = calloc((size_t)c->n_seq_max, sizeof *c->seqs);
    c->x        = malloc(B * cf->n_embd * sizeof(float));
    c->xb       = malloc(B * cf->n_embd * sizeof(float));
    c->q        = malloc(B * qd * sizeof(float));
    c->k        = malloc(B * kvd * sizeof(float));
    c->v        = malloc(B * kvd * sizeof(float));
    c->att      = malloc(B * qd * sizeof(float));
    c->ffa      = malloc(B * cf->n_ff * sizeof(float));
    c->ffb      = malloc(B * cf->n_ff * sizeof(float));
    c->rope_cs  = malloc(B * (size_t)cf->rope_dim * sizeof(float));
    c->inv_freq = malloc((size_t)cf->rope_dim / 2 * sizeof(float) + sizeof(float));
    c->scores   = malloc((size_t)c->n_threads * n_rep * (size_t)(c->n_ctx + p.page_tokens) * sizeof(float));
    c->pos      = malloc(B * sizeof *c->pos);
    c->seq_cnt  = calloc((size_t)c->n_seq_max, sizeof *c->seq_cnt);
    c->ent      = malloc(B * sizeof *c->ent);
    c->pend     = malloc(B * sizeof *c->pend);
    c->out_row  = malloc(B * sizeof *c->out_row);
    c->hid      = malloc((size_t)c->n_out_max * cf->n_embd * sizeof(float));
    c->logits   = malloc((size_t)c->n_out_max * cf->n_vocab * sizeof(float));
    c->attn_per_seq = p.attn_per_seq;
    c->ga_rows  = (size_t)GA_MEMBERS * n_rep;
    c->ga_ent   = malloc(B * sizeof *c->ga_ent);
    c->ga_first = malloc(B * sizeof *c->ga_first);
    c->ga_last  = malloc(B * sizeof *c->ga_last);
    c->ga_common = malloc(B * sizeof *c->ga_common);
    c->ga_buf   = malloc((size_t)c->n_threads * ga_floats(c->ga_rows, cf->head_dim, p.page_tokens) * sizeof(float));
    c->ga_lim   = malloc((size_t)c->n_threads * c->ga_rows * sizeof *c->ga_lim);
    c->ga_mark  = malloc(B);
    if (!c->seqs || !c->x || !c->xb || !c->q || !c->k || !c->v || !c->att || !c->ffa || !c->ffb ||
        !c->rope_cs || !c->inv_freq || !c->scores || !c->pos || !c->seq_cnt || !c->ent || !c->pend ||
        !c->out_row || !c->hid || !c->logits || !c->ga_ent || !c->ga_first || !c->ga_last || !c->ga_common ||
        !c->ga_buf || !c->ga_lim || !c->ga_mark) {
        ttc_ctx_free(c);
        return ttc_err_set(e, TTC_ENOMEM, "context: cannot allocate scratch for a batch of %d and %d outputs",
                           p.n_batch, p.n_outputs_max);
    }
    /* theta_i = base^(-2i/rope_dim), divided by the llama 3 factor if any. */
    const float *ff = m->w.rope_freqs.data;
    for (int i = 0; i < cf->rope_dim / 2; i++) {
        double f = pow((double)cf->rope_base, -2.0 * i / cf->rope_dim);
        if (ff) f /= ff[i];
        c->inv_freq[i] = (float)f;
    }
    *out = c;
    return TTC_OK;
}

void ttc_ctx_free(ttc_ctx *c) {
    if (!c) return;
    if (c->seqs)
        for (int i = 0; i < c->n_seq_max; i++) {
            ttc_kv_seq_destroy(&c->kv, &c->seqs[i].kv);
            free(c->seqs[i].tokens);
        }
    ttc_kv_free(&c->kv);
    free(c->seqs); free(c->x); free(c->xb); free(c->q); free(c->k); free(c->v); free(c->att);
    free(c->ffa); free(c->ffb); free(c->rope_cs); free(c->inv_freq); free(c->scores); free(c->pos);
    free(c->seq_cnt); free(c->ent); free(c->pend); free(c->out_row); free(c->hid); free(c->logits);
    free(c->sub_ids); free(c->sub_w); free(c->sub_out);
    free(c->ga_ent); free(c->ga_first); free(c->ga_last); free(c->ga_common); free(c->ga_buf); free(c->ga_lim);
    free(c->ga_mark);
    free(c);
}

int ttc_ctx_set_logit_ids(ttc_ctx *c, const int32_t *ids, int n, ttc_err *e) {
    const ttc_wt *w = &c->m->w.output;
    int V = c->m->cfg.n_vocab;
    if (n < 0 || n > V) return ttc_err_set(e, TTC_EINVAL, "logit ids: %d ids for a vocabulary of %d", n, V);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return ttc_err_set(e, TTC_EINVAL, "logit ids: id %d (index %d) is outside the vocabulary of %d", ids[i], i, V);
    size_t rb = ttc_type_row_bytes(w->type, w->cols);
    int32_t *ni = NULL;
    uint8_t *nw = NULL;
    float *no = NULL;
    if (n > 0) {
        ni = malloc((size_t)n * sizeof *ni);
        nw = malloc((size_t)n * rb);
        no = malloc((size_t)c->n_out_max * (size_t)n * sizeof *no);
        if (!ni || !nw || !no) {
            free(ni); free(nw); free(no);
            return ttc_err_set(e, TTC_ENOMEM, "logit ids: out of memory for %d rows", n);
        }
        for (int i = 0; i < n; i++) {
            ni[i] = ids[i];
            memcpy(nw + (size_t)i * rb, (const uint8_t *)w->data + (size_t)ids[i] * rb, rb);
        }
    }
    free(c->sub_ids); free(c->sub_w); free(c->sub_out);
    c->sub_ids = ni;
    c->sub_w = nw;
    c->sub_out = no;
    c->n_sub = n;
    c->bg_rows = 0;
    return TTC_OK;
}

const ttc_model *ttc_ctx_model(const ttc_ctx *c) { return c->m; }
ttc_pool *ttc_ctx_pool(const ttc_ctx *c) { return c->pool; }
int ttc_ctx_n_ctx(const ttc_ctx *c) { return c->n_ctx; }
int ttc_ctx_n_batch(const ttc_ctx *c) { return c->n_batch; }
int ttc_ctx_n_seq_max(const ttc_ctx *c) { return c->n_seq_max; }
int ttc_ctx_n_outputs_max(const ttc_ctx *c) { return c->n_out_max; }
const ttc_kv *ttc_ctx_kv(const ttc_ctx *c) { return &c->kv; }
ttc_ctx_stats ttc_ctx_get_stats(const ttc_ctx *c) { return c->stats; }

/* ------------------------------------------------------------ sequences -- */

bool ttc_seq_valid(const ttc_ctx *c, int s) { return s >= 0 && s < c->n_seq_max && c->seqs[s].used; }

int ttc_seq_new(ttc_ctx *c, int *seq, ttc_err *e) {
    int s = 0;
    while (s < c->n_seq_max && c->seqs[s].used) s++;
    if (s == c->n_seq_max)
        return ttc_err_set(e, TTC_ENOMEM, "context: all %d sequences are in use", c->n_seq_max);
    seq_slot *q = &c->seqs[s];
    if (!q->tokens) { /* first use of this slot: allocate once, reuse after free */
        int rc = ttc_kv_seq_init(&c->kv, &q->kv, c->n_ctx, e);
        if (rc) return rc;
        q->tokens = malloc((size_t)c->n_ctx * sizeof *q->tokens);
        if (!q->tokens) {
            ttc_kv_seq_destroy(&c->kv, &q->kv);
            return ttc_err_set(e, TTC_ENOMEM, "context: cannot allocate a %d-token history", c->n_ctx);
        }
    }
    q->used = true;
    q->len = 0;
    *seq = s;
    return TTC_OK;
}

int ttc_seq_fork(ttc_ctx *c, int src, int *seq, ttc_err *e) {
    if (!ttc_seq_valid(c, src)) return ttc_err_set(e, TTC_EINVAL, "seq fork: %d is not a live sequence", src);
    int s, rc = ttc_seq_new(c, &s, e);
    if (rc) return rc;
    rc = ttc_kv_seq_fork(&c->kv, &c->seqs[s].kv, &c->seqs[src].kv, e);
    if (rc) { ttc_seq_free(c, s); return rc; }
    memcpy(c->seqs[s].tokens, c->seqs[src].tokens, (size_t)c->seqs[src].len * sizeof(int32_t));
    c->seqs[s].len = c->seqs[src].len;
    *seq = s;
    return TTC_OK;
}

void ttc_seq_free(ttc_ctx *c, int s) {
    if (!ttc_seq_valid(c, s)) return;
    ttc_kv_seq_clear(&c->kv, &c->seqs[s].kv);
    c->seqs[s].used = false;
    c->seqs[s].len = 0;
}

int ttc_seq_len(const ttc_ctx *c, int s) { return ttc_seq_valid(c, s) ? c->seqs[s].len : -1; }
int ttc_seq_n_cached(const ttc_ctx *c, int s) { return ttc_seq_valid(c, s) ? c->seqs[s].kv.n_tokens : -1; }
const int32_t *ttc_seq_tokens(const ttc_ctx *c, int s) { return ttc_seq_valid(c, s) ? c->seqs[s].tokens : NULL; }

int ttc_seq_append_tokens(ttc_ctx *c, int s, const int32_t *ids, int n, ttc_err *e) {
    if (!ttc_seq_valid(c, s)) return ttc_err_set(e, TTC_EINVAL, "seq append: %d is not a live sequence", s);
    seq_slot *q = &c->seqs[s];
    if (n < 0 || n > c->n_ctx - q->len)
        return ttc_err_set(e, TTC_ENOMEM, "seq append: %d + %d tokens exceed the context of %d", q->len, n, c->n_ctx);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->m->cfg.n_vocab)
            return ttc_err_set(e, TTC_EINVAL, "seq append: token %d (index %d) is outside the vocabulary of %d",
                               ids[i], i, c->m->cfg.n_vocab);
    memcpy(q->tokens + q->len, ids, (size_t)n * sizeof *ids);
    q->len += n;
    return TTC_OK;
}

int ttc_seq_truncate_cache(ttc_ctx *c, int s, int n, ttc_err *e) {
    if (!ttc_seq_valid(c, s)) return ttc_err_set(e, TTC_EINVAL, "seq truncate cache: %d is not a live sequence", s);
    seq_slot *q = &c->seqs[s];
    if (n < 0 || n > q->kv.n_tokens)
        return ttc_err_set(e, TTC_EINVAL, "seq truncate cache: %d is outside [0, %d]", n, q->kv.n_tokens);
    ttc_kv_seq_truncate(&c->kv, &q->kv, n);
    return TTC_OK;
}

int ttc_seq_truncate(ttc_ctx *c, int s, int n, ttc_err *e) {
    if (!ttc_seq_valid(c, s)) return ttc_err_set(e, TTC_EINVAL, "seq truncate: %d is not a live sequence", s);
    seq_slot *q = &c->seqs[s];
    if (n < 0 || n > q->len) return ttc_err_set(e, TTC_EINVAL, "seq truncate: %d is outside [0, %d]", n, q->len);
    q->len = n;
    if (q->kv.n_tokens > n) ttc_kv_seq_truncate(&c->kv, &q->kv, n);
    return TTC_OK;
}

/* -------------------------------------------------------------- forward -- */

/* y[i] = x[i] / rms(x) * w[i] over n values. */
static void rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) y[i] = x[i] * r * w[i];
}

/* Rotates the first rope_dim dims of each of n_heads head vectors of v
 * (head stride hd) by the angles whose (cos, sin) pairs are cs. */
static void rope(float *v, int n_heads, int hd, int rope_dim, bool neox, const float *cs) {
    int half = rope_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            float c = cs[2 * i], s = cs[2 * i + 1], x0 = x[a], x1 = x[b];
            x[a] = x0 * c - x1 * s;
            x[b] = x0 * s + x1 * c;
        }
    }
}

/* a[i] = silu(a[i]) * b[i], silu(g) = g * sigmoid(g), with sigmoid from
 * e = exp(-|g|) <= 1: 1/(1+e) for g >= 0, e/(1+e) below. */
TTC_VEC_CLONES
static void swiglu(float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f g = V8_LOAD(a + i);
        v8i neg = g < 0.0f;
        v8f mag = (v8f)((v8i)g & ((v8i){0} + 0x7fffffff)); /* clears the sign: |g| */
        v8f e = V8_EXP_NEG(-mag), inv = 1.0f / (1.0f + e);
        v8f sig = (v8f)(((v8i)inv & ~neg) | ((v8i)(e * inv) & neg));
        V8_STORE(a + i, g * sig * V8_LOAD(b + i));
    }
    for (; i < n; i++) a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

/* y += a * x */
static inline void axpy(float *y, float a, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) V8_STORE(y + i, V8_LOAD(y + i) + a * V8_LOAD(x + i));
    for (; i < n; i++) y[i] += a * x[i];
}

typedef struct attn_job {
    ttc_ctx *c;
    int layer;
} attn_job;

/* One task = (batch entry, kv head): the n_rep query heads sharing that kv
 * head attend over positions 0..pos of the entry's sequence. Scores of a
 * page come 8 slots at a time from the transposed K block (q[i] times row
 * i); V rows are accumulated with weights. page_tokens is a multiple of 8
 * (slots past the end are computed and ignored). */
TTC_VEC_CLONES
static void attn_task(void *arg, int task, int n_tasks, int thread) {
    const attn_job *j = arg;
    ttc_ctx *c = j->c;
    const ttc_model_config *cf = &c->m->cfg;
    int hd = cf->head_dim, n_kv = cf->n_head_kv, n_rep = cf->n_head / n_kv, P = c->kv.page_tokens;
    int t = task / n_kv, g = task % n_kv, n = c->pos[t] + 1;
    const ttc_kv_seq *ks = &c->seqs[c->ent[t].seq].kv;
    float scale = 1.0f / sqrtf((float)hd);
    size_t stride = (size_t)c->n_ctx + (size_t)P; /* room for a page's overhang */
    float *sc = c->scores + (size_t)thread * n_rep * stride;
    const float *q = c->q + (size_t)t * cf->n_head * hd + (size_t)g * n_rep * hd;
    float *o = c->att + (size_t)t * cf->n_head * hd + (size_t)g * n_rep * hd;
    for (int pg = 0, j0 = 0; j0 < n; pg++, j0 += P) {
        const float *K = ttc_kv_block(&c->kv, ks->pages[pg], j->layer, 0, g);
        int m = TTC_MIN(P, n - j0);
        for (int r = 0; r < n_rep; r++) {
            const float *qr = q + (size_t)r * hd;
            float *s = sc + (size_t)r * stride + j0;
            for (int c8 = 0; c8 < m; c8 += 8) { /* four independent FMA chains */
                const float *Kc = K + c8;
                v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                int i = 0;
                for (; i + 4 <= hd; i += 4) {
                    a0 += qr[i] * V8_LOAD(Kc + (size_t)i * P);
                    a1 += qr[i + 1] * V8_LOAD(Kc + (size_t)(i + 1) * P);
                    a2 += qr[i + 2] * V8_LOAD(Kc + (size_t)(i + 2) * P);
                    a3 += qr[i + 3] * V8_LOAD(Kc + (size_t)(i + 3) * P);
                }
                for (; i < hd; i++) a0 += qr[i] * V8_LOAD(Kc + (size_t)i * P);
                V8_STORE(s + c8, ((a0 + a1) + (a2 + a3)) * scale);
            }
        }
    }
    for (int r = 0; r < n_rep; r++) {
        float *s = sc + (size_t)r * stride, mx = s[0];
        for (int i = 1; i < n; i++) mx = s[i] > mx ? s[i] : mx;
        v8f vsum = {0};
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            v8f e = V8_EXP_NEG(V8_LOAD(s + i) - mx);
            V8_STORE(s + i, e);
            vsum += e;
        }
        float sum = V8_SUM(vsum);
        for (; i < n; i++) { s[i] = expf(s[i] - mx); sum += s[i]; }
        float inv = 1.0f / sum;
        for (i = 0; i < n; i++) s[i] *= inv;
    }
    memset(o, 0, (size_t)n_rep * hd * sizeof *o);
    for (int pg = 0, j0 = 0; j0 < n; pg++, j0 += P) {
        const float *V = ttc_kv_block(&c->kv, ks->pages[pg], j->layer, 1, g);
        int m = TTC_MIN(P, n - j0);
        for (int r = 0; r < n_rep; r++) {
            const float *w = sc + (size_t)r * stride + j0;
            float *or = o + (size_t)r * hd;
            if (hd % 8) {
                for (int jj = 0; jj < m; jj++) axpy(or, w[jj], V + (size_t)jj * hd, hd);
                continue;
            }
            for (int i = 0; i < hd; i += 8) { /* two chains per 8 output dims */
                v8f a0 = V8_LOAD(or + i), a1 = {0};
                int jj = 0;
                for (; jj + 2 <= m; jj += 2) {
                    a0 += w[jj] * V8_LOAD(V + (size_t)jj * hd + i);
                    a1 += w[jj + 1] * V8_LOAD(V + (size_t)(jj + 1) * hd + i);
                }
                if (jj < m) a0 += w[jj] * V8_LOAD(V + (size_t)jj * hd + i);
                V8_STORE(or + i, a0 + a1);
            }
        }
    }
}

/* Online softmax over one block of ns score columns (exact: running max m
 * and sum l per row, O rescaled when the max grows). Row i has lim[i] valid
 * columns (<= 0: none; the row is left alone). On return S holds the
 * unnormalised weights exp(s - m), 0 in the columns past lim. */
TTC_VEC_CLONES
static void softmax_block(float *S, int lds, int nq, int ns, const int32_t *lim, float *m, float *l, float *O,
                          int hd) {
    for (int i = 0; i < nq; i++) {
        float *s = S + (size_t)i * lds;
        int n = lim[i] < ns ? lim[i] : ns;
        if (n <= 0) {
            memset(s, 0, (size_t)ns * sizeof *s);
            continue;
        }
        float mx = m[i];
        int j = 0;
        if (n >= 8) {
            v8f vm = V8_SET1(mx);
            for (; j + 8 <= n; j += 8) {
                v8f v = V8_LOAD(s + j);
                v8i gt = v > vm;
                vm = (v8f)(((v8i)v & gt) | ((v8i)vm & ~gt));
            }
            for (int k = 0; k < 8; k++) mx = vm[k] > mx ? vm[k] : mx;
        }
        for (; j < n; j++) mx = s[j] > mx ? s[j] : mx;
        v8f vsum = {0};
        j = 0;
        for (; j + 8 <= n; j += 8) {
            v8f e = V8_EXP_NEG(V8_LOAD(s + j) - mx);
            V8_STORE(s + j, e);
            vsum += e;
        }
        float sum = V8_SUM(vsum);
        for (; j < n; j++) { s[j] = expf(s[j] - mx); sum += s[j]; }
        for (; j < ns; j++) s[j] = 0;
        if (mx > m[i]) { /* the max grew: earlier weights shrink by exp(m - mx) */
            float corr = m[i] == -INFINITY ? 0.0f : expf(m[i] - mx);
            float *o = O + (size_t)i * hd;
            for (int d = 0; d < hd; d++) o[d] *= corr;
            l[i] *= corr;
            m[i] = mx;
        }
        l[i] += sum;
    }
}

/* Query rows Q[nq][hd] (state m, l, O) attend over the pages pages[0..npg)
 * of one layer and kv head; row i sees the first lim[i] positions counted
 * from the first of these pages. Positions up to the largest lim are
 * written KV (so no row reads an unwritten slot). */
static void attend_pages(ttc_ctx *c, int layer, int g, const int32_t *pages, int npg, const float *Q, int nq,
                         const int32_t *lim, float *m, float *l, float *O, float *S) {
    int hd = c->m->cfg.head_dim, P = c->kv.page_tokens, lds = GA_PAGES * P, maxlim = 0;
    float scale = 1.0f / sqrtf((float)hd);
    for (int i = 0; i < nq; i++) maxlim = lim[i] > maxlim ? lim[i] : maxlim;
    int ns = TTC_MIN(npg * P, maxlim);
    if (ns <= 0) return;
    npg = (ns + P - 1) / P;
    for (int p = 0; p < npg; p++)
        ttc_attn_scores_kt(Q, hd, nq, ttc_kv_block(&c->kv, pages[p], layer, 0, g), P, TTC_MIN(P, ns - p * P), hd,
                           scale, S + (size_t)p * P, lds);
    softmax_block(S, lds, nq, ns, lim, m, l, O, hd);
    for (int p = 0; p < npg; p++)
        ttc_attn_accum(S + (size_t)p * P, lds, nq, ttc_kv_block(&c->kv, pages[p], layer, 1, g),
                       TTC_MIN(P, ns - p * P), hd, O, hd);
}

/* Splits the batch into groups of entries whose sequences start with the
 * same KV page, records the pages every member of a group shares, and cuts
 * groups into chunks of at most GA_MEMBERS entries (at least enough chunks
 * to give every thread work). */
static void attn_groups(ttc_ctx *c, int T) {
    int HK = c->m->cfg.n_head_kv, n = 0, ch = 0;
    memset(c->ga_mark, 0, (size_t)T);
    for (int t0 = 0; t0 < T; t0++) {
        if (c->ga_mark[t0]) continue; /* in an earlier entry's group */
        const ttc_kv_seq *s0 = &c->seqs[c->ent[t0].seq].kv;
        int g0 = n, common = s0->n_pages;
        c->ga_ent[n++] = t0;
        for (int t = t0 + 1; t < T; t++) {
            const ttc_kv_seq *s = &c->seqs[c->ent[t].seq].kv;
            if (c->ga_mark[t] || s->pages[0] != s0->pages[0]) continue;
            int k = 0, lim = TTC_MIN(common, s->n_pages);
            while (k < lim && s->pages[k] == s0->pages[k]) k++;
            common = k;
            c->ga_mark[t] = 1;
            c->ga_ent[n++] = t;
        }
        int members = n - g0;
        int n_ch = TTC_MAX((members + GA_MEMBERS - 1) / GA_MEMBERS, TTC_MIN(members, (c->n_threads + HK - 1) / HK));
        int per = (members + n_ch - 1) / n_ch;
        for (int k = g0; k < n; k += per, ch++) {
            c->ga_first[ch] = k;
            c->ga_last[ch] = TTC_MIN(k + per, n);
            c->ga_common[ch] = common;
        }
    }
    c->ga_chunks = ch;
}

/* One task = (chunk of grouped entries, kv head): the chunk's query rows
 * attend over the group's shared pages together, then each entry over its
 * own remaining pages, then O / l goes to c->att. */
static void attn_group_task(void *arg, int task, int n_tasks, int thread) {
    const attn_job *j = arg;
    ttc_ctx *c = j->c;
    const ttc_model_config *cf = &c->m->cfg;
    int hd = cf->head_dim, HK = cf->n_head_kv, n_rep = cf->n_head / HK, P = c->kv.page_tokens;
    int qd = cf->n_head * hd, ch = task / HK, g = task % HK;
    int k0 = c->ga_first[ch], nm = c->ga_last[ch] - k0, nq = nm * n_rep;
    size_t rows = c->ga_rows;
    float *Q = c->ga_buf + (size_t)thread * ga_floats(rows, hd, P);
    float *O = Q + rows * hd, *S = O + rows * hd, *m = S + rows * GA_PAGES * P, *l = m + rows;
    int32_t *lim = c->ga_lim + (size_t)thread * rows;
    int maxpos = 0;
    for (int k = 0; k < nm; k++) {
        int t = c->ga_ent[k0 + k];
        memcpy(Q + (size_t)k * n_rep * hd, c->q + (size_t)t * qd + (size_t)g * n_rep * hd,
               (size_t)n_rep * hd * sizeof *Q);
        maxpos = TTC_MAX(maxpos, c->pos[t]);
    }
    memset(O, 0, (size_t)nq * hd * sizeof *O);
    for (int i = 0; i < nq; i++) { m[i] = -INFINITY; l[i] = 0; }
    /* shared pages: every row of the chunk at once */
    const int32_t *pages = c->seqs[c->ent[c->ga_ent[k0]].seq].kv.pages;
    int n_sh = TTC_MIN(c->ga_common[ch], maxpos / P + 1);
    for (int pg = 0; pg < n_sh; pg += GA_PAGES) {
        for (int k = 0; k < nm; k++)
            for (int r = 0; r < n_rep; r++) lim[k * n_rep + r] = c->pos[c->ga_ent[k0 + k]] + 1 - pg * P;
        attend_pages(c, j->layer, g, pages + pg, TTC_MIN(GA_PAGES, n_sh - pg), Q, nq, lim, m, l, O, S);
    }
    /* each entry's own pages */
    for (int k = 0; k < nm; k++) {
        int t = c->ga_ent[k0 + k], end = c->pos[t] / P + 1;
        const int32_t *own = c->seqs[c->ent[t].seq].kv.pages;
        size_t r0 = (size_t)k * n_rep;
        for (int pg = n_sh; pg < end; pg += GA_PAGES) {
            for (int r = 0; r < n_rep; r++) lim[r] = c->pos[t] + 1 - pg * P;
            attend_pages(c, j->layer, g, own + pg, TTC_MIN(GA_PAGES, end - pg), Q + r0 * hd, n_rep, lim, m + r0,
                         l + r0, O + r0 * hd, S);
        }
    }
    for (int k = 0; k < nm; k++) {
        int t = c->ga_ent[k0 + k];
        for (int r = 0; r < n_rep; r++) {
            const float *o = O + ((size_t)k * n_rep + r) * hd;
            float *dst = c->att + (size_t)t * qd + ((size_t)g * n_rep + r) * hd, inv = 1.0f / l[k * n_rep + r];
            for (int d = 0; d < hd; d++) dst[d] = o[d] * inv;
        }
    }
}

static int mm(ttc_ctx *c, const ttc_wt *w, const float *x, int n_tok, float *y, const char *what, int layer,
              ttc_err *e) {
    int rc = ttc_matmul(c->pool, w->data, w->type, (int)w->rows, (int)w->cols, x, n_tok, y);
    if (rc) return ttc_err_set(e, rc, "decode: layer %d %s: matmul of %s [%lld x %lld] failed", layer, what,
                               ttc_type_name(w->type), (long long)w->rows, (long long)w->cols);
    return TTC_OK;
}

/* Several products of the same x in one pool run (ttc_matmul_n). */
static int mm_n(ttc_ctx *c, const ttc_wt *const *w, float *const *y, int n, const float *x, int n_tok,
                const char *what, int layer, ttc_err *e) {
    ttc_mm_op ops[4];
    for (int i = 0; i < n; i++) ops[i] = (ttc_mm_op){w[i]->data, w[i]->type, (int)w[i]->rows, y[i]};
    int rc = ttc_matmul_n(c->pool, ops, n, (int)w[0]->cols, x, n_tok);
    if (rc) return ttc_err_set(e, rc, "decode: layer %d %s: matmul of %s [%lld x %lld] failed", layer, what,
                               ttc_type_name(w[0]->type), (long long)w[0]->rows, (long long)w[0]->cols);
    return TTC_OK;
}

static void add_bias(float *y, const ttc_wt *b, int n_tok, int dim) {
    if (!b->data) return;
    const float *bb = b->data;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < dim; i++) y[(size_t)t * dim + i] += bb[i];
}

/* The forward pass for the validated batch in c->ent / c->pos (T entries),
 * K/V pages already reserved. Fills hid/logits for the output rows. */
static int forward(ttc_ctx *c, int T, int n_lg, int n_out, ttc_err *e) {
    const ttc_model *m = c->m;
    const ttc_model_config *cf = &m->cfg;
    int D = cf->n_embd, hd = cf->head_dim, H = cf->n_head, HK = cf->n_head_kv, F = cf->n_ff;
    int qd = H * hd, kvd = HK * hd, P = c->kv.page_tokens, half = cf->rope_dim / 2;
    int rc;

    /* embeddings */
    const ttc_wt *te = &m->w.tok_embd;
    size_t row_bytes = ttc_type_row_bytes(te->type, te->cols);
    for (int t = 0; t < T; t++) {
        rc = ttc_dequantize_row(te->type, (const uint8_t *)te->data + (size_t)c->ent[t].token * row_bytes,
                                c->x + (size_t)t * D, D, e);
        if (rc) return ttc_err_wrap(e, "decode: token embedding: ");
    }
    /* rope angles, shared by all layers */
    for (int t = 0; t < T; t++) {
        double p = (double)c->pos[t] / cf->rope_scale;
        float *cs = c->rope_cs + (size_t)t * 2 * half;
        for (int i = 0; i < half; i++) {
            double a = p * c->inv_freq[i];
            cs[2 * i] = (float)cos(a);
            cs[2 * i + 1] = (float)sin(a);
        }
    }

    if (!c->attn_per_seq) attn_groups(c, T);
    for (int l = 0; l < cf->n_layer; l++) {
        const ttc_layer_weights *L = &m->w.layers[l];
        for (int t = 0; t < T; t++)
            rmsnorm(c->xb + (size_t)t * D, c->x + (size_t)t * D, L->attn_norm.data, D, cf->norm_eps);
        {
            const ttc_wt *w[3] = {&L->wq, &L->wk, &L->wv};
            float *y[3] = {c->q, c->k, c->v};
            if ((rc = mm_n(c, w, y, 3, c->xb, T, "attn_q/k/v", l, e))) return rc;
        }
        add_bias(c->q, &L->bq, T, qd);
        add_bias(c->k, &L->bk, T, kvd);
        add_bias(c->v, &L->bv, T, kvd);
        for (int t = 0; t < T; t++) {
            float *q = c->q + (size_t)t * qd, *k = c->k + (size_t)t * kvd;
            if (L->q_norm.data) {
                for (int h = 0; h < H; h++) rmsnorm(q + (size_t)h * hd, q + (size_t)h * hd, L->q_norm.data, hd, cf->norm_eps);
                for (int h = 0; h < HK; h++) rmsnorm(k + (size_t)h * hd, k + (size_t)h * hd, L->k_norm.data, hd, cf->norm_eps);
            }
            const float *cs = c->rope_cs + (size_t)t * 2 * half;
            rope(q, H, hd, cf->rope_dim, cf->rope_neox, cs);
            rope(k, HK, hd, cf->rope_dim, cf->rope_neox, cs);
            /* store K and V at the entry's position */
            const ttc_kv_seq *ks = &c->seqs[c->ent[t].seq].kv;
            int32_t page = ks->pages[c->pos[t] / P];
            int slot = c->pos[t] % P;
            for (int g = 0; g < HK; g++) {
                float *kt = ttc_kv_block(&c->kv, page, l, 0, g) + slot; /* transposed: stride P */
                for (int i = 0; i < hd; i++) kt[(size_t)i * P] = k[(size_t)g * hd + i];
                memcpy(ttc_kv_block(&c->kv, page, l, 1, g) + (size_t)slot * hd,
                       c->v + (size_t)t * kvd + (size_t)g * hd, (size_t)hd * sizeof(float));
            }
        }
        attn_job job = {c, l};
        if (c->attn_per_seq) ttc_pool_run(c->pool, attn_task, &job, T * HK);
        else ttc_pool_run(c->pool, attn_group_task, &job, c->ga_chunks * HK);
        if ((rc = mm(c, &L->wo, c->att, T, c->xb, "attn_output", l, e))) return rc;
        for (size_t i = 0; i < (size_t)T * D; i++) c->x[i] += c->xb[i];

        for (int t = 0; t < T; t++)
            rmsnorm(c->xb + (size_t)t * D, c->x + (size_t)t * D, L->ffn_norm.data, D, cf->norm_eps);
        {
            const ttc_wt *w[2] = {&L->w_gate, &L->w_up};
            float *y[2] = {c->ffa, c->ffb};
            if ((rc = mm_n(c, w, y, 2, c->xb, T, "ffn_gate/up", l, e))) return rc;
        }
        swiglu(c->ffa, c->ffb, (size_t)T * F);
        if ((rc = mm(c, &L->w_down, c->ffa, T, c->xb, "ffn_down", l, e))) return rc;
        for (size_t i = 0; i < (size_t)T * D; i++) c->x[i] += c->xb[i];
    }

    /* outputs: final norm for the rows that want them, vocab projection for
     * the first n_lg rows (those that want logits) */
    for (int t = 0; t < T; t++)
        if (c->out_row[t] >= 0)
            rmsnorm(c->hid + (size_t)c->out_row[t] * D, c->x + (size_t)t * D, m->w.output_norm.data, D, cf->norm_eps);
    (void)n_out;
    if (n_lg == 0) return TTC_OK;
    if (c->n_sub == 0) {
        c->bg_rows = 0;
        return mm(c, &m->w.output, c->hid, n_lg, c->logits, "output", cf->n_layer, e);
    }
    /* vocabulary subset: n_sub packed rows, scattered into -inf rows */
    ttc_wt sub = {c->sub_w, m->w.output.type, c->n_sub, m->w.output.cols};
    if ((rc = mm(c, &sub, c->hid, n_lg, c->sub_out, "output (subset)", cf->n_layer, e))) return rc;
    size_t V = (size_t)cf->n_vocab;
    for (int r = 0; r < n_lg; r++) {
        float *row = c->logits + (size_t)r * V;
        if (r >= c->bg_rows)
            for (size_t i = 0; i < V; i++) row[i] = -INFINITY;
        for (int k = 0; k < c->n_sub; k++) row[c->sub_ids[k]] = c->sub_out[(size_t)r * c->n_sub + k];
    }
    if (n_lg > c->bg_rows) c->bg_rows = n_lg;
    return TTC_OK;
}

/* --------------------------------------------------------------- decode -- */

int ttc_decode(ttc_ctx *c, const ttc_batch_entry *entries, int n, ttc_err *e) {
    c->n_last = 0;
    if (n == 0) return TTC_OK;
    if (n < 0 || n > c->n_batch)
        return ttc_err_set(e, TTC_EINVAL, "decode: batch of %d entries, the context allows 1..%d", n, c->n_batch);
    int n_vocab = c->m->cfg.n_vocab, n_lg = 0, n_out = 0, rc = TTC_OK;
    for (int i = 0; i < n; i++) {
        n_lg += entries[i].want_logits;
        n_out += entries[i].want_logits || entries[i].want_hidden;
    }
    if (n_out > c->n_out_max)
        return ttc_err_set(e, TTC_EINVAL, "decode: %d entries want outputs, the context allows %d", n_out, c->n_out_max);

    /* validate and place each entry; seq_cnt counts entries per sequence */
    for (int i = 0; i < n; i++) {
        const ttc_batch_entry *b = &entries[i];
        if (!ttc_seq_valid(c, b->seq)) { rc = ttc_err_set(e, TTC_EINVAL, "decode: entry %d: %d is not a live sequence", i, b->seq); goto undo; }
        if (b->token < 0 || b->token >= n_vocab) {
            rc = ttc_err_set(e, TTC_EINVAL, "decode: entry %d: token %d is outside the vocabulary of %d", i, b->token, n_vocab);
            goto undo;
        }
        seq_slot *q = &c->seqs[b->seq];
        int p = q->kv.n_tokens + c->seq_cnt[b->seq];
        if (p >= c->n_ctx) {
            rc = ttc_err_set(e, TTC_ENOMEM, "decode: entry %d: sequence %d would exceed the context of %d tokens", i, b->seq, c->n_ctx);
            goto undo;
        }
        if (p < q->len && q->tokens[p] != b->token) {
            rc = ttc_err_set(e, TTC_EINVAL, "decode: entry %d: token %d at position %d of sequence %d differs from its pending token %d",
                             i, b->token, p, b->seq, q->tokens[p]);
            goto undo;
        }
        c->pos[i] = p;
        c->seq_cnt[b->seq]++;
    }
    /* rows: logits-wanting entries first, then hidden-only ones */
    for (int i = 0, r_lg = 0, r_h = n_lg; i < n; i++)
        c->out_row[i] = entries[i].want_logits ? r_lg++ : entries[i].want_hidden ? r_h++ : -1;
    /* private pages for every position about to be written */
    for (int i = 0; i < n; i++) {
        int s = entries[i].seq;
        if (c->seq_cnt[s] > 0 && (rc = ttc_kv_seq_reserve(&c->kv, &c->seqs[s].kv, c->seq_cnt[s], e))) goto undo;
        if (c->seq_cnt[s] > 0) c->seq_cnt[s] = -c->seq_cnt[s]; /* mark reserved */
    }
    memcpy(c->ent, entries, (size_t)n * sizeof *entries);
    rc = forward(c, n, n_lg, n_out, e);
    if (rc) goto undo;
    /* commit: histories grow, cached counts advance */
    for (int i = 0; i < n; i++) {
        seq_slot *q = &c->seqs[entries[i].seq];
        if (c->pos[i] == q->len) q->tokens[q->len++] = entries[i].token;
    }
    for (int i = 0; i < n; i++) {
        int s = entries[i].seq;
        if (c->seq_cnt[s] != 0) { c->seqs[s].kv.n_tokens += -c->seq_cnt[s]; c->seq_cnt[s] = 0; }
    }
    c->n_last = n;
    c->stats.n_decode_calls++;
    c->stats.n_tokens_decoded += n;
    c->stats.n_outputs += n_out;
    return TTC_OK;
undo:
    for (int i = 0; i < n; i++)
        if (entries[i].seq >= 0 && entries[i].seq < c->n_seq_max) c->seq_cnt[entries[i].seq] = 0;
    return rc;
}

const float *ttc_logits(const ttc_ctx *c, int i) {
    if (i < 0 || i >= c->n_last || !c->ent[i].want_logits) return NULL;
    return c->logits + (size_t)c->out_row[i] * c->m->cfg.n_vocab;
}

const float *ttc_hidden(const ttc_ctx *c, int i) {
    if (i < 0 || i >= c->n_last || !c->ent[i].want_hidden) return NULL;
    return c->hid + (size_t)c->out_row[i] * c->m->cfg.n_embd;
}

int ttc_decode_pending(ttc_ctx *c, const int *seqs, int n, bool keep_last, bool want_hidden,
                       int *out_index, ttc_err *e) {
    for (int k = 0; k < n; k++) {
        if (!ttc_seq_valid(c, seqs[k])) return ttc_err_set(e, TTC_EINVAL, "decode pending: %d is not a live sequence", seqs[k]);
        if (out_index) out_index[k] = -1;
    }
    /* all pending tokens but the last of each sequence, in full chunks */
    int nb = 0, rc;
    for (int k = 0; k < n; k++) {
        const seq_slot *q = &c->seqs[seqs[k]];
        for (int p = q->kv.n_tokens; p < q->len - 1; p++) {
            c->pend[nb++] = (ttc_batch_entry){seqs[k], q->tokens[p], false, false};
            if (nb == c->n_batch) {
                if ((rc = ttc_decode(c, c->pend, nb, e))) return rc;
                nb = 0;
            }
        }
    }
    if (nb > 0 && (rc = ttc_decode(c, c->pend, nb, e))) return rc;
    if (keep_last) return TTC_OK;
    nb = 0;
    for (int k = 0; k < n; k++) {
        const seq_slot *q = &c->seqs[seqs[k]];
        if (q->kv.n_tokens < q->len) {
            if (nb == c->n_out_max)
                return ttc_err_set(e, TTC_EINVAL, "decode pending: more than %d sequences want logits at once", c->n_out_max);
            if (out_index) out_index[k] = nb;
            c->pend[nb++] = (ttc_batch_entry){seqs[k], q->tokens[q->len - 1], true, want_hidden};
        }
    }
    return ttc_decode(c, c->pend, nb, e);
}
