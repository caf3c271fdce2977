/* Random-weight GGUF models with real shapes (see random.h). */
#include "model/random.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "gguf/gguf.h"
#include "kernels/quant.h"

static const ttc_random_shape shapes[] = {
    /* name           arch     vocab   ctx     embd  layer ff    head kv hd   rope_base  eps    tied  l3    l3ctx l3f */
    {"qwen2-0.5b",   "qwen2", 151936, 32768,  896,  24, 4864,  14, 2, 64,  1000000.f, 1e-6f, true,  false, 0, 0},
    {"qwen2-1.5b",   "qwen2", 151936, 32768,  1536, 28, 8960,  12, 2, 128, 1000000.f, 1e-6f, true,  false, 0, 0},
    {"qwen3-0.6b",   "qwen3", 151936, 40960,  1024, 28, 3072,  16, 8, 128, 1000000.f, 1e-6f, true,  false, 0, 0},
    {"llama-3.2-1b", "llama", 128256, 131072, 2048, 16, 8192,  32, 8, 64,  500000.f,  1e-5f, true,  true,  8192, 32},
    {"tiny-llama",   "llama", 512,    1024,   256,  2,  512,   4,  2, 64,  10000.f,   1e-5f, false, true,  64, 4},
    {"tiny-qwen2",   "qwen2", 512,    1024,   256,  2,  512,   4,  2, 64,  1000000.f, 1e-6f, true,  false, 0, 0},
    {"tiny-qwen3",   "qwen3", 512,    1024,   256,  2,  512,   4,  2, 128, 1000000.f, 1e-6f, true,  false, 0, 0},
};

const ttc_random_shape *ttc_random_shape_find(const char *name) {
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        if (!strcmp(shapes[i].name, name)) return &shapes[i];
    return NULL;
}

const char *ttc_random_shape_names(void) {
    return "qwen2-0.5b, qwen2-1.5b, qwen3-0.6b, llama-3.2-1b, tiny-llama, tiny-qwen2, tiny-qwen3";
}

/* ---------------------------------------------------------- generation -- */

enum { KIND_MATRIX, KIND_NORM, KIND_BIAS };

typedef struct rtensor {
    char     name[64];
    int      kind, type, n_dims;
    int64_t  ne[2];
    float    std;
    uint8_t *data;
    size_t   row_bytes;
} rtensor;

typedef struct gen_job {
    rtensor *t;
    uint64_t seed, stream;
    int64_t  rows_per_task;
    int      rc;
} gen_job;

/* Rows [task*rpt, ...) of one tensor from rng stream (tensor, task). */
static void gen_task(void *arg, int task, int n_tasks, int thread) {
    gen_job *j = arg;
    rtensor *t = j->t;
    int64_t rows = t->n_dims == 2 ? t->ne[1] : 1, cols = t->ne[0];
    int64_t r0 = (int64_t)task * j->rows_per_task, r1 = TTC_MIN(r0 + j->rows_per_task, rows);
    ttc_rng rng;
    ttc_rng_split(&rng, j->seed, (j->stream << 20) + (uint64_t)task);
    float *row = malloc((size_t)cols * sizeof *row);
    if (!row) { j->rc = TTC_ENOMEM; return; }
    float a = t->std * 1.7320508f; /* uniform(-a, a) has standard deviation std */
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t c = 0; c < cols; c++) {
            float u = 2.0f * ttc_rng_float(&rng) - 1.0f;
            row[c] = t->kind == KIND_NORM ? 1.0f + 0.1f * u : a * u;
        }
        if (ttc_quantize_row(t->type, row, t->data + (size_t)r * t->row_bytes, cols, NULL)) j->rc = TTC_EINVAL;
    }
    free(row);
}

/* The type a 2-D weight with rows of `cols` gets when `want` is asked for. */
static int pick_type(int want, int64_t cols) {
    if (cols % ttc_type_block_size(want) == 0) return want;
    if (cols % TTC_QK8_0 == 0) return TTC_TYPE_Q8_0;
    return TTC_TYPE_F16;
}

/* Llama 3 rope divisors (as convert_hf_to_gguf writes rope_freqs.weight). */
static void llama3_factors(const ttc_random_shape *s, float *out) {
    const double lo = 1.0, hi = 4.0, orig = s->llama3_orig_ctx, f = s->llama3_factor;
    const double lo_wl = orig / lo, hi_wl = orig / hi;
    for (int i = 0; i < s->head_dim / 2; i++) {
        double freq = pow((double)s->rope_base, -2.0 * i / s->head_dim), wl = 2 * M_PI / freq;
        if (wl < hi_wl) out[i] = 1.0f;
        else if (wl > lo_wl) out[i] = (float)f;
        else {
            double sm = (orig / wl - lo) / (hi - lo);
            out[i] = (float)(1.0 / ((1 - sm) / f + sm));
        }
    }
}

static int set_hparams(ttc_gguf_writer *w, const ttc_random_shape *s, ttc_err *e) {
    char k[128];
    int rc;
#define U32(suffix, val) snprintf(k, sizeof k, "%s." suffix, s->arch); if ((rc = ttc_gguf_set_u32(w, k, (uint32_t)(val), e))) return rc;
#define F32(suffix, val) snprintf(k, sizeof k, "%s." suffix, s->arch); if ((rc = ttc_gguf_set_f32(w, k, (val), e))) return rc;
    if ((rc = ttc_gguf_set_str(w, "general.architecture", s->arch, e)) ||
        (rc = ttc_gguf_set_str(w, "general.name", s->name, e)))
        return rc;
    U32("context_length", s->n_ctx)
    U32("embedding_length", s->n_embd)
    U32("block_count", s->n_layer)
    U32("feed_forward_length", s->n_ff)
    U32("attention.head_count", s->n_head)
    U32("attention.head_count_kv", s->n_head_kv)
    U32("attention.key_length", s->head_dim)
    U32("attention.value_length", s->head_dim)
    U32("rope.dimension_count", s->head_dim)
    F32("rope.freq_base", s->rope_base)
    F32("attention.layer_norm_rms_epsilon", s->norm_eps)
#undef U32
#undef F32
    return TTC_OK;
}

int ttc_random_model_write(const ttc_random_shape *s, const ttc_random_params *p, const char *out_path,
                           ttc_err *e) {
    if (!ttc_type_supported(p->type) || ttc_type_block_size(p->type) == 0)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "random model: weight type %d (%s) is not supported", p->type,
                           ttc_type_name(p->type));
    bool q2 = !strcmp(s->arch, "qwen2"), q3 = !strcmp(s->arch, "qwen3");
    ttc_gguf *vocab = NULL;
    ttc_gguf_writer *w = NULL;
    rtensor *ts = NULL;
    int nt = 0, rc;
    int n_vocab = s->n_vocab;
    if (p->vocab_path) {
        if ((rc = ttc_gguf_open(p->vocab_path, &vocab, e))) return rc;
        int et;
        uint64_t nv;
        const void *d;
        rc = ttc_gguf_get_arr(vocab, "tokenizer.ggml.tokens", &et, &nv, &d, e);
        if (rc) { ttc_err_wrap(e, "%s: ", p->vocab_path); goto done; }
        if (nv == 0 || nv > (1u << 24)) {
            rc = ttc_err_set(e, TTC_EFORMAT, "%s: tokenizer.ggml.tokens has %llu entries", p->vocab_path, (unsigned long long)nv);
            goto done;
        }
        n_vocab = (int)nv;
    }
    if ((rc = ttc_gguf_writer_new(&w, e)) || (rc = set_hparams(w, s, e))) goto done;
    if (vocab && (rc = ttc_gguf_writer_copy_prefix(w, vocab, "tokenizer.", e))) goto done;

    /* the tensor list, in llama.cpp's order */
    int64_t D = s->n_embd, F = s->n_ff, qd = (int64_t)s->n_head * s->head_dim, kvd = (int64_t)s->n_head_kv * s->head_dim;
    int max_t = 4 + s->n_layer * 14;
    ts = calloc((size_t)max_t, sizeof *ts);
    if (!ts) { rc = ttc_err_set(e, TTC_ENOMEM, "random model: out of memory"); goto done; }
    float out_std = 3.0f / sqrtf((float)D);
#define T(kind_, nd, a, b, sd) do { \
        rtensor *t = &ts[nt++]; \
        snprintf(t->name, sizeof t->name, "%s", nm); \
        t->kind = kind_; t->n_dims = nd; t->ne[0] = a; t->ne[1] = b; t->std = sd; \
    } while (0)
#define BLK(suffix) snprintf(nm, sizeof nm, "blk.%d." suffix, l)
    char nm[64];
    snprintf(nm, sizeof nm, "token_embd.weight");
    T(KIND_MATRIX, 2, D, n_vocab, s->tied ? out_std : 1.0f);
    snprintf(nm, sizeof nm, "output_norm.weight");
    T(KIND_NORM, 1, D, 1, 0);
    if (!s->tied) { snprintf(nm, sizeof nm, "output.weight"); T(KIND_MATRIX, 2, D, n_vocab, out_std); }
    for (int l = 0; l < s->n_layer; l++) {
        float sd = 1.0f / sqrtf((float)D);
        BLK("attn_norm.weight"); T(KIND_NORM, 1, D, 1, 0);
        BLK("attn_q.weight");    T(KIND_MATRIX, 2, D, qd, sd);
        BLK("attn_k.weight");    T(KIND_MATRIX, 2, D, kvd, sd);
        BLK("attn_v.weight");    T(KIND_MATRIX, 2, D, kvd, sd);
        if (q2) {
            BLK("attn_q.bias");  T(KIND_BIAS, 1, qd, 1, 0.1f);
            BLK("attn_k.bias");  T(KIND_BIAS, 1, kvd, 1, 0.1f);
            BLK("attn_v.bias");  T(KIND_BIAS, 1, kvd, 1, 0.1f);
        }
        if (q3) {
            BLK("attn_q_norm.weight"); T(KIND_NORM, 1, s->head_dim, 1, 0);
            BLK("attn_k_norm.weight"); T(KIND_NORM, 1, s->head_dim, 1, 0);
        }
        BLK("attn_output.weight"); T(KIND_MATRIX, 2, qd, D, 0.5f / sqrtf((float)qd));
        BLK("ffn_norm.weight");    T(KIND_NORM, 1, D, 1, 0);
        BLK("ffn_gate.weight");    T(KIND_MATRIX, 2, D, F, sd);
        BLK("ffn_up.weight");      T(KIND_MATRIX, 2, D, F, sd);
        BLK("ffn_down.weight");    T(KIND_MATRIX, 2, F, D, 0.5f / sqrtf((float)F));
    }
#undef BLK
#undef T
    for (int i = 0; i < nt; i++) {
        rtensor *t = &ts[i];
        t->type = t->kind == KIND_MATRIX ? pick_type(p->type, t->ne[0]) : TTC_TYPE_F32;
        t->row_bytes = ttc_type_row_bytes(t->type, t->ne[0]);
        int64_t rows = t->n_dims == 2 ? t->ne[1] : 1;
        t->data = malloc(t->row_bytes * (size_t)rows);
        if (!t->data) { rc = ttc_err_set(e, TTC_ENOMEM, "random model: cannot allocate %s", t->name); goto done; }
        int64_t rpt = TTC_MAX((int64_t)1, (rows + 255) / 256);
        gen_job job = {t, p->seed, (uint64_t)i, rpt, TTC_OK};
        ttc_pool_run(p->pool, gen_task, &job, (int)((rows + rpt - 1) / rpt));
        if (job.rc) { rc = ttc_err_set(e, job.rc, "random model: generating %s failed", t->name); goto done; }
        if ((rc = ttc_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, e))) goto done;
    }
    if (s->llama3_rope) {
        float fr[1024];
        if (s->head_dim > 2048) { rc = ttc_err_set(e, TTC_EINVAL, "random model: head_dim %d too large", s->head_dim); goto done; }
        llama3_factors(s, fr);
        int64_t ne = s->head_dim / 2;
        if ((rc = ttc_gguf_writer_add_tensor_copy(w, "rope_freqs.weight", TTC_TYPE_F32, 1, &ne, fr, e))) goto done;
    }
    rc = ttc_gguf_writer_write(w, out_path, e);
done:
    if (ts)
        for (int i = 0; i < nt; i++) free(ts[i].data);
    free(ts);
    ttc_gguf_writer_free(w);
    ttc_gguf_close(vocab);
    return rc;
}
