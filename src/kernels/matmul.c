/* ttc_matmul: validation, threading, scratch, and the plain C reference. */
#include "kernels/kernels.h"
#include "kernels/kimpl.h"
#include "base/util.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- per-thread scratch ---------------------------------------------------- */

typedef struct { void *p[K_SCRATCH_SLOTS]; size_t n[K_SCRATCH_SLOTS]; } k_tls;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *v) {
    k_tls *t = v;
    for (int i = 0; i < K_SCRATCH_SLOTS; i++) free(t->p[i]);
    free(t);
}
static void tls_init(void) { pthread_key_create(&tls_key, tls_free); }

void *k_scratch(int slot, size_t bytes) {
    pthread_once(&tls_once, tls_init);
    k_tls *t = pthread_getspecific(tls_key);
    if (!t) {
        if (!(t = calloc(1, sizeof *t))) return NULL;
        pthread_setspecific(tls_key, t);
    }
    if (t->n[slot] < bytes) {
        size_t n = bytes + bytes / 4 + 4096;
        n = (n + 63) & ~(size_t)63;
        void *p = aligned_alloc(64, n);
        if (!p) return NULL;
        free(t->p[slot]);
        t->p[slot] = p;
        t->n[slot] = n;
    }
    return t->p[slot];
}

/* ---- types -------------------------------------------------------------------- */

int ttc_matmul_block(int wtype) {
    switch (wtype) {
    case KT_F32: case KT_F16: case KT_BF16: return 1;
    case KT_Q8_0: case KT_Q4_0: return 32;
    case KT_Q4_K: case KT_Q6_K: return 256;
    default: return 0;
    }
}

size_t ttc_matmul_block_bytes(int wtype) {
    switch (wtype) {
    case KT_F32: return 4;
    case KT_F16: case KT_BF16: return 2;
    case KT_Q8_0: return sizeof(ttc_block_q8_0);
    case KT_Q4_0: return sizeof(ttc_block_q4_0);
    case KT_Q4_K: return sizeof(ttc_block_q4_k);
    case KT_Q6_K: return sizeof(ttc_block_q6_k);
    default: return 0;
    }
}

int ttc_matmul_check(int wtype, int rows, int cols, ttc_err *e) {
    int bs = ttc_matmul_block(wtype);
    if (!bs) return ttc_err_set(e, TTC_EUNSUPPORTED, "matmul: weight type %d is not supported "
                                "(f32, f16, bf16, q8_0, q4_0, q4_K, q6_K are)", wtype);
    if (rows < 1 || cols < 1 || cols % bs)
        return ttc_err_set(e, TTC_EINVAL, "matmul: type %d weight of %d x %d: rows and cols must be "
                           ">= 1 and cols a multiple of %d", wtype, rows, cols, bs);
    return TTC_OK;
}

/* ---- reference ------------------------------------------------------------- */

void k_dequant_row_ref(int wtype, const void *row, int n, float *out) {
    switch (wtype) {
    case KT_F32: memcpy(out, row, (size_t)n * 4); break;
    case KT_F16: {
        const uint16_t *h = row;
        for (int i = 0; i < n; i++) out[i] = ttc_fp16_to_f32(h[i]);
        break;
    }
    case KT_BF16: {
        const uint16_t *h = row;
        for (int i = 0; i < n; i++) out[i] = ttc_bf16_to_f32(h[i]);
        break;
    }
    case KT_Q8_0:
        for (const ttc_block_q8_0 *b = row; n > 0; b++, n -= 32, out += 32) {
            float d = ttc_fp16_to_f32(b->d);
            for (int i = 0; i < 32; i++) out[i] = d * b->qs[i];
        }
        break;
    case KT_Q4_0:
        for (const ttc_block_q4_0 *b = row; n > 0; b++, n -= 32, out += 32) {
            float d = ttc_fp16_to_f32(b->d);
            for (int i = 0; i < 16; i++) {
                out[i] = d * ((b->qs[i] & 15) - 8);
                out[i + 16] = d * ((b->qs[i] >> 4) - 8);
            }
        }
        break;
    case KT_Q4_K:
        for (const ttc_block_q4_k *b = row; n > 0; b++, n -= 256, out += 256) {
            float d = ttc_fp16_to_f32(b->d), dmin = ttc_fp16_to_f32(b->dmin);
            for (int k = 0; k < 4; k++) {
                uint8_t sc0, m0, sc1, m1;
                ttc_q4k_scale_min(2 * k, b->scales, &sc0, &m0);
                ttc_q4k_scale_min(2 * k + 1, b->scales, &sc1, &m1);
                const uint8_t *q = b->qs + 32 * k;
                for (int l = 0; l < 32; l++) {
                    out[64 * k + l] = d * sc0 * (q[l] & 15) - dmin * m0;
                    out[64 * k + 32 + l] = d * sc1 * (q[l] >> 4) - dmin * m1;
                }
            }
        }
        break;
    case KT_Q6_K:
        for (const ttc_block_q6_k *b = row; n > 0; b++, n -= 256, out += 256) {
            float d = ttc_fp16_to_f32(b->d);
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
                const int8_t *sc = b->scales + 8 * h;
                float *o = out + 128 * h;
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    o[l] = d * sc[is] * q1;
                    o[l + 32] = d * sc[is + 2] * q2;
                    o[l + 64] = d * sc[is + 4] * q3;
                    o[l + 96] = d * sc[is + 6] * q4;
                }
            }
        }
        break;
    }
}

/* Reference: dequantize each row, then f32 dot products in plain C. */
static int rows_ref(const k_mm *m, int r0, int r1) {
    float *wrow = k_scratch(1, (size_t)m->cols * sizeof(float));
    if (!wrow) return TTC_ENOMEM;
    for (int r = r0; r < r1; r++) {
        k_dequant_row_ref(m->wtype, m->w + (size_t)r * m->row_bytes, m->cols, wrow);
        for (int t = 0; t < m->n_tok; t++) {
            const float *x = m->x + (size_t)t * m->cols;
            float s = 0;
            for (int c = 0; c < m->cols; c++) s += wrow[c] * x[c];
            m->y[(size_t)t * m->rows + r] = s;
        }
    }
    return TTC_OK;
}

/* ---- driver ------------------------------------------------------------------- */

typedef struct { k_mm *m; int per; bool bf16; } prep_run;
static void prep_task(void *ctx, int task, int n_tasks, int thread) {
    prep_run *pr = ctx;
    int t0 = task * pr->per, t1 = TTC_MIN(t0 + pr->per, pr->m->n_tok);
    if (pr->bf16) k_bf16_prepare(pr->m, t0, t1);
    else k_vnni_prepare(pr->m, t0, t1);
}

/* How one product runs: the per-path rows function, the x preparation it
 * needs (0 none, 1 8-bit blocks, 2 bf16) and rows per task. */
typedef struct {
    k_mm m;
    int (*rows_fn)(const k_mm *, int, int);
    int prep, rows_per_task, n_tasks;
} mm_plan;

static void plan_make(mm_plan *p, const void *w, int wtype, int rows, int cols, const float *x, int n_tok, float *y,
                      int nt) {
    p->m = (k_mm){.w = w, .wtype = wtype, .rows = rows, .cols = cols, .n_tok = n_tok,
                  .row_bytes = (size_t)cols / ttc_matmul_block(wtype) * ttc_matmul_block_bytes(wtype),
                  .x = x, .y = y, .path = ttc_kernel_get()};
    k_mm *m = &p->m;
    bool bf16 = k_bf16_applies(m->path, wtype, n_tok);
    p->rows_fn = rows_ref;
    p->prep = 0;
    if (bf16 || (m->path == TTC_KERNEL_VNNI && k_vnni_handles(wtype))) {
        p->prep = bf16 ? 2 : 1;
        p->rows_fn = bf16 ? k_bf16_rows : k_vnni_rows;
    } else if (m->path != TTC_KERNEL_REF) {
        p->rows_fn = k_f32_rows;
    }
    /* Tasks of whole 16-row groups (64-byte spans of y), about 4 per thread
     * so a descheduled thread does not stall the run; at least 16 rows. */
    int groups = (rows + 15) / 16;
    int per = TTC_MAX(1, groups / (4 * nt));
    if (n_tok <= 4) {
        /* decode streams the weights: tasks of ~128 KB so the last task of a
         * run (the other thread idles meanwhile) is short even for long rows */
        int pb = (int)((128u << 10) / (16 * m->row_bytes));
        per = TTC_MAX(1, TTC_MIN(8, TTC_MIN(per, pb)));
    }
    if (bf16) {
        /* the bf16 panel of a task stays within ~512 KB (L2) for all tokens */
        int cap = TTC_MAX(1, (int)((512u << 10) / ((size_t)cols * 2 * 16)));
        if (per > cap) per = cap;
    } else if (p->rows_fn == k_f32_rows && m->path == TTC_KERNEL_AVX2 && n_tok >= 8) {
        /* the AVX2 GEMM packs all of x in every task: few, large tasks */
        per = TTC_MAX(per, (groups + 2 * nt - 1) / (2 * nt));
    } else if (p->rows_fn == k_f32_rows && ttc_matmul_block(wtype) > 1) {
        /* quantized weights without VNNI: f32 panel within ~512 KB */
        int cap = TTC_MAX(1, (int)((512u << 10) / ((size_t)cols * 4 * 16)));
        if (per > cap) per = cap;
    } else if (p->rows_fn == k_f32_rows && n_tok > 6 && per > 16) {
        per = 16; /* AVX-512 float tiles: a K block of the task's rows stays in L2 */
    }
    p->rows_per_task = 16 * per;
    p->n_tasks = (rows + p->rows_per_task - 1) / p->rows_per_task;
}

/* Prepares x for the plan (once; plans sharing x and preparation reuse it). */
static int plan_prepare(ttc_pool *pool, mm_plan *p) {
    if (!p->prep) return TTC_OK;
    k_mm *m = &p->m;
    bool bf16 = p->prep == 2;
    m->xq = k_scratch(0, bf16 ? k_bf16_xq_bytes(m) : k_vnni_xq_bytes(m));
    if (!m->xq) return TTC_ENOMEM;
    int nt = ttc_pool_n_threads(pool), n_tok = m->n_tok;
    prep_run pr = {m, (n_tok + nt - 1) / nt, bf16};
    if (n_tok >= 16 && nt > 1) ttc_pool_run(pool, prep_task, &pr, (n_tok + pr.per - 1) / pr.per);
    else { pr.per = n_tok; prep_task(&pr, 0, 1, 0); }
    return TTC_OK;
}

#define MM_MAX_OPS 8
typedef struct {
    mm_plan *plans;
    int n, first[MM_MAX_OPS + 1]; /* task index where each plan starts */
    _Atomic int status;
} mm_run;

static void mm_task(void *ctx, int task, int n_tasks, int thread) {
    mm_run *run = ctx;
    int j = 0;
    while (task >= run->first[j + 1]) j++;
    const mm_plan *p = &run->plans[j];
    int r0 = (task - run->first[j]) * p->rows_per_task;
    int r1 = TTC_MIN(r0 + p->rows_per_task, p->m.rows);
    int rc = p->rows_fn(&p->m, r0, r1);
    if (rc) run->status = rc;
}

int ttc_matmul(ttc_pool *pool, const void *w, int wtype, int rows, int cols,
               const float *x, int n_tok, float *y) {
    ttc_mm_op op = {w, wtype, rows, y};
    return ttc_matmul_n(pool, &op, 1, cols, x, n_tok);
}

int ttc_matmul_n(ttc_pool *pool, const ttc_mm_op *ops, int n, int cols, const float *x, int n_tok) {
    if (n < 1 || n > MM_MAX_OPS) return TTC_EINVAL;
    for (int j = 0; j < n; j++) {
        int rc = ttc_matmul_check(ops[j].wtype, ops[j].rows, cols, NULL);
        if (rc) return rc;
    }
    if (n_tok <= 0) return n_tok == 0 ? TTC_OK : TTC_EINVAL;
    int nt = ttc_pool_n_threads(pool);
    mm_plan plans[MM_MAX_OPS];
    mm_run run = {plans, n, {0}, 0};
    const void *xq = NULL;
    int xq_kind = 0;
    for (int j = 0; j < n; j++) {
        mm_plan *p = &plans[j];
        plan_make(p, ops[j].w, ops[j].wtype, ops[j].rows, cols, x, n_tok, ops[j].y, nt);
        if (p->prep && xq_kind && p->prep != xq_kind) {
            /* a second kind of prepared x: run what is planned so far, then
             * the rest on its own */
            run.n = j;
            if (j > 0) ttc_pool_run(pool, mm_task, &run, run.first[j]);
            if (run.status) return run.status;
            return ttc_matmul_n(pool, ops + j, n - j, cols, x, n_tok);
        }
        if (p->prep && !xq_kind) {
            int rc = plan_prepare(pool, p);
            if (rc) return rc;
            xq = p->m.xq;
            xq_kind = p->prep;
        } else if (p->prep) {
            p->m.xq = (void *)xq;
        }
        run.first[j + 1] = run.first[j] + p->n_tasks;
    }
    ttc_pool_run(pool, mm_task, &run, run.first[n]);
    return run.status;
}
