/* Conformance with llama.cpp: tokenization of the shared vocab test texts
 * (and of random texts) and last-position logits of random-weight models,
 * ttc against a prebuilt libllama loaded with dlopen.
 *
 * The library comes from scripts/conformance-setup.sh (npm packages
 * @node-llama-cpp/linux-x64 and node-llama-cpp, same version, into
 * build/conformance/). Without it every test skips with a message. The few
 * llama.h declarations needed are written out below from that exact
 * llama.h; the setup script also compiles the real header and records the
 * struct layouts (layout.txt), which are checked before any call. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "gguf/gguf.h"
#include "model/ctx.h"
#include "model/model.h"
#include "model/random.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

/* LeakSanitizer: llama.cpp keeps global registries alive until exit. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libllama\nleak:libggml\nleak:libstdc++\n"; }

/* ---- llama.h (node-llama-cpp 3.22.1, llama.cpp commit de3ff815) ---- */

typedef int32_t llama_token;

struct llm_model_params {
    void       *devices;
    const void *tensor_buft_overrides;
    int32_t     n_gpu_layers;
    int32_t     split_mode, load_mode, lazy_mode;   /* enums */
    int32_t     main_gpu;
    const float *tensor_split;
    void       *progress_callback;
    void       *progress_callback_user_data;
    const void *kv_overrides;
    bool vocab_only, check_tensors, use_extra_bufts, no_host, no_alloc, load_mtp;
};

struct llm_context_params {
    uint32_t n_ctx, n_batch, n_ubatch, n_seq_max, n_rs_seq, n_outputs_max, n_outputs_max_per_seq;
    int32_t  n_threads, n_threads_batch;
    int32_t  ctx_type, rope_scaling_type, pooling_type, attention_type, flash_attn_type;  /* enums */
    float    rope_freq_base, rope_freq_scale, yarn_ext_factor, yarn_attn_factor, yarn_beta_fast, yarn_beta_slow;
    uint32_t yarn_orig_ctx;
    float    defrag_thold;
    void    *cb_eval, *cb_eval_user_data;
    int32_t  type_k, type_v;                           /* enum ggml_type */
    void    *abort_callback, *abort_callback_data;
    bool     embeddings, offload_kqv, no_perf, op_offload, swa_full, kv_unified;
    void    *samplers;
    size_t   n_samplers;
    void    *ctx_other;
};

struct llm_batch {
    int32_t      n_tokens;
    llama_token *token;
    float       *embd;
    int32_t     *pos;
    int32_t     *n_seq_id;
    int32_t    **seq_id;
    int8_t      *logits;
};

static_assert(sizeof(struct llm_model_params) == 80, "llama_model_params");
static_assert(sizeof(struct llm_context_params) == 160, "llama_context_params");
static_assert(sizeof(struct llm_batch) == 56, "llama_batch");

static struct {
    void *lib;
    void (*backend_init)(void);
    void (*log_set)(void (*cb)(int, const char *, void *), void *);
    void (*load_backends)(const char *dir);
    struct llm_model_params (*model_default_params)(void);
    struct llm_context_params (*context_default_params)(void);
    void *(*model_load)(const char *path, struct llm_model_params);
    void (*model_free)(void *);
    const void *(*model_vocab)(const void *);
    int32_t (*vocab_n_tokens)(const void *);
    int32_t (*tokenize)(const void *vocab, const char *text, int32_t len, llama_token *out, int32_t n_max,
                        bool add_special, bool parse_special);
    void *(*init_from_model)(void *model, struct llm_context_params);
    void (*free_ctx)(void *);
    struct llm_batch (*batch_get_one)(llama_token *tokens, int32_t n);
    int32_t (*decode)(void *ctx, struct llm_batch);
    float *(*logits_ith)(void *ctx, int32_t i);
} L;

static void quiet(int level, const char *text, void *ud) { (void)level; (void)text; (void)ud; }

static const char *conf_dir(void) {
    const char *d = getenv("TTC_CONFORMANCE_DIR");
    return d && *d ? d : "build/conformance";
}

/* Skips the test, saying so even in non-verbose runs (make check). */
static void skip_missing(const char *path) {
    fprintf(stderr, "Warning: conformance test skipped: llama.cpp not installed (%s); run scripts/conformance-setup.sh\n",
            path);
    cr_skip("llama.cpp not installed (%s): run scripts/conformance-setup.sh", path);
}

/* Compares our declarations with layout.txt written from the real llama.h. */
static void check_layout(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/layout.txt", conf_dir());
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s missing: rerun scripts/conformance-setup.sh", path);
    static const struct { const char *name; size_t value; } want[] = {
        {"llama_model_params", sizeof(struct llm_model_params)},
        {"llama_model_params.n_gpu_layers", offsetof(struct llm_model_params, n_gpu_layers)},
        {"llama_model_params.vocab_only", offsetof(struct llm_model_params, vocab_only)},
        {"llama_model_params.use_extra_bufts", offsetof(struct llm_model_params, use_extra_bufts)},
        {"llama_context_params", sizeof(struct llm_context_params)},
        {"llama_context_params.n_ctx", offsetof(struct llm_context_params, n_ctx)},
        {"llama_context_params.n_batch", offsetof(struct llm_context_params, n_batch)},
        {"llama_context_params.n_ubatch", offsetof(struct llm_context_params, n_ubatch)},
        {"llama_context_params.n_seq_max", offsetof(struct llm_context_params, n_seq_max)},
        {"llama_context_params.n_threads", offsetof(struct llm_context_params, n_threads)},
        {"llama_context_params.n_threads_batch", offsetof(struct llm_context_params, n_threads_batch)},
        {"llama_context_params.flash_attn_type", offsetof(struct llm_context_params, flash_attn_type)},
        {"llama_context_params.yarn_ext_factor", offsetof(struct llm_context_params, yarn_ext_factor)},
        {"llama_context_params.type_k", offsetof(struct llm_context_params, type_k)},
        {"llama_context_params.embeddings", offsetof(struct llm_context_params, embeddings)},
        {"llama_context_params.offload_kqv", offsetof(struct llm_context_params, offload_kqv)},
        {"llama_context_params.no_perf", offsetof(struct llm_context_params, no_perf)},
        {"llama_context_params.ctx_other", offsetof(struct llm_context_params, ctx_other)},
        {"llama_batch", sizeof(struct llm_batch)},
        {"llama_batch.logits", offsetof(struct llm_batch, logits)},
    };
    char name[128];
    size_t value;
    int seen = 0;
    while (fscanf(f, "%127s %zu", name, &value) == 2)
        for (size_t i = 0; i < TTC_ARRAY_LEN(want); i++)
            if (!strcmp(name, want[i].name)) {
                cr_assert_eq(value, want[i].value, "llama.h layout: %s is %zu, declared here as %zu",
                             name, value, want[i].value);
                seen++;
            }
    fclose(f);
    cr_assert_eq(seen, (int)TTC_ARRAY_LEN(want), "layout.txt lists %d of %zu fields", seen, TTC_ARRAY_LEN(want));
}

#define SYM(field, name) do {                                                       \
        *(void **)&L.field = dlsym(L.lib, name);                                    \
        cr_assert_not_null(L.field, "libllama: no symbol %s", name);                \
    } while (0)

/* Loads libllama once per test process, or skips the test. */
static void llama_load(void) {
    if (L.lib) return;
    char path[512];
    snprintf(path, sizeof path, "%s/lib/libllama.so", conf_dir());
    if (!tu_exists(path)) skip_missing(path);
    check_layout();
    L.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(L.lib, "dlopen %s: %s", path, dlerror());
    snprintf(path, sizeof path, "%s/lib/libggml.so", conf_dir());
    void *ggml = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(ggml, "dlopen %s: %s", path, dlerror());
    *(void **)&L.load_backends = dlsym(ggml, "ggml_backend_load_all_from_path");
    cr_assert_not_null(L.load_backends);
    SYM(backend_init, "llama_backend_init");
    SYM(log_set, "llama_log_set");
    SYM(model_default_params, "llama_model_default_params");
    SYM(context_default_params, "llama_context_default_params");
    SYM(model_load, "llama_model_load_from_file");
    SYM(model_free, "llama_model_free");
    SYM(model_vocab, "llama_model_get_vocab");
    SYM(vocab_n_tokens, "llama_vocab_n_tokens");
    SYM(tokenize, "llama_tokenize");
    SYM(init_from_model, "llama_init_from_model");
    SYM(free_ctx, "llama_free");
    SYM(batch_get_one, "llama_batch_get_one");
    SYM(decode, "llama_decode");
    SYM(logits_ith, "llama_get_logits_ith");
    L.log_set(quiet, NULL);
    snprintf(path, sizeof path, "%s/lib", conf_dir());
    L.load_backends(path);
    L.backend_init();
    /* The defaults must read as the real header's (layout sanity). */
    struct llm_model_params mp = L.model_default_params();
    cr_assert(mp.n_gpu_layers == -1 && !mp.vocab_only && mp.use_extra_bufts, "llama_model_params defaults look wrong");
    struct llm_context_params cp = L.context_default_params();
    cr_assert(cp.n_ctx == 512 && cp.n_batch == 2048 && cp.yarn_ext_factor == -1.0f && cp.type_k == 1 && cp.offload_kqv,
              "llama_context_params defaults look wrong");
}

/* llama.cpp tokens of text (add_special, parse_special as given). */
static int llama_tok(const void *vocab, const char *text, size_t len, bool add_special, bool parse_special,
                     llama_token *out, int cap) {
    int n = L.tokenize(vocab, text, (int32_t)len, out, cap, add_special, parse_special);
    cr_assert_geq(n, 0, "llama_tokenize needs %d tokens, more than %d", -n, cap);
    return n;
}

/* ---- ggml's tensor types (libggml-base) ---- */

struct ggml_type_traits_ {                /* struct ggml_type_traits */
    const char *type_name;
    int64_t     blck_size;
    int64_t     blck_size_interleave;
    size_t      type_size;
    bool        is_quantized;
    void      (*to_float)(const void *x, float *y, int64_t k);
    void      (*from_float_ref)(const float *x, void *y, int64_t k);
};

static struct {
    void *lib;
    const struct ggml_type_traits_ *(*traits)(int type);
    void (*fp32_to_fp16_row)(const float *x, uint16_t *y, int64_t n);
    void (*fp32_to_bf16_row_ref)(const float *x, uint16_t *y, int64_t n);
} G;

static void ggml_load(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/lib/libggml-base.so", conf_dir());
    if (!tu_exists(path)) skip_missing(path);
    G.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(G.lib, "dlopen %s: %s", path, dlerror());
    *(void **)&G.traits = dlsym(G.lib, "ggml_get_type_traits");
    *(void **)&G.fp32_to_fp16_row = dlsym(G.lib, "ggml_fp32_to_fp16_row");
    *(void **)&G.fp32_to_bf16_row_ref = dlsym(G.lib, "ggml_fp32_to_bf16_row_ref");
    cr_assert(G.traits && G.fp32_to_fp16_row && G.fp32_to_bf16_row_ref, "libggml-base lacks a symbol");
}

/* Type table: every type ggml knows has ttc's name, block size and bytes. */
Test(conformance, ggml_type_traits) {
    ggml_load();
    int known = 0;
    for (int t = 0; t < 64; t++) {
        if (t >= 43) break;  /* GGML_TYPE_COUNT of this ggml; beyond it traits[] is out of bounds */
        const struct ggml_type_traits_ *tr = G.traits(t);
        if (tr->blck_size == 0) {
            cr_expect_eq(ttc_type_block_size(t), 0, "type %d is removed in ggml but known to ttc", t);
            continue;
        }
        known++;
        cr_expect_str_eq(ttc_type_name(t), tr->type_name, "type %d", t);
        cr_expect_eq(ttc_type_block_size(t), tr->blck_size, "type %d (%s) block size", t, tr->type_name);
        cr_expect_eq(ttc_type_block_bytes(t), tr->type_size, "type %d (%s) block bytes", t, tr->type_name);
    }
    cr_assert_gt(known, 30);
}

/* Random blocks (any bit pattern but a finite scale) decode bit-identically;
 * the Q8_0/Q4_0 quantizers match ggml's reference bit for bit; Q4_K/Q6_K
 * quantize with no more error than ggml's reference. */
Test(conformance, ggml_blocks_and_quantizers) {
    ggml_load();
    enum { N = 256 * 32 };
    static const int types[] = {TTC_TYPE_F16, TTC_TYPE_BF16, TTC_TYPE_Q8_0, TTC_TYPE_Q4_0, TTC_TYPE_Q4_K, TTC_TYPE_Q6_K};
    uint8_t *raw = malloc(ttc_type_row_bytes(TTC_TYPE_F32, N)), *q = malloc(ttc_type_row_bytes(TTC_TYPE_F32, N));
    float *x = malloc(N * sizeof *x), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    ttc_rng r;
    ttc_rng_seed(&r, 77);
    for (size_t ti = 0; ti < TTC_ARRAY_LEN(types); ti++) {
        int type = types[ti];
        const struct ggml_type_traits_ *tr = G.traits(type);
        size_t bytes = ttc_type_row_bytes(type, N), bb = ttc_type_block_bytes(type);
        for (size_t i = 0; i < bytes; i++) raw[i] = (uint8_t)ttc_rng_u64(&r);
        /* Keep fp16 scale fields finite (and f16/bf16 values non-NaN: NaN
         * payloads are not compared). Offsets of the f16 fields per block. */
        for (size_t blk = 0; blk < bytes / bb; blk++) {
            uint8_t *p = raw + blk * bb;
            size_t offs[2] = {0, 2}, n_offs = 1;
            if (type == TTC_TYPE_Q4_K) n_offs = 2;
            if (type == TTC_TYPE_Q6_K) offs[0] = 208;
            if (type == TTC_TYPE_BF16) { p[1] &= 0x3F; continue; }  /* |x| < 2^-1: finite */
            for (size_t k = 0; k < n_offs; k++) p[offs[k] + 1] &= 0x3B;  /* exponent < 31: finite */
        }
        cr_assert_eq(ttc_dequantize_row(type, raw, a, N, NULL), TTC_OK);
        tr->to_float(raw, b, N);
        int diff = 0;
        for (int i = 0; i < N; i++) diff += memcmp(&a[i], &b[i], 4) != 0;
        cr_expect_eq(diff, 0, "%s: %d of %d decoded values differ from ggml (first block bytes %02x %02x)",
                     ttc_type_name(type), diff, N, raw[0], raw[1]);

        /* Quantizers on Gaussian data with outliers. */
        for (int i = 0; i < N; i++) x[i] = ttc_rng_normal(&r) * (i % 61 == 0 ? 5.0f : 1.0f);
        cr_assert_eq(ttc_quantize_row(type, x, q, N, NULL), TTC_OK);
        tr->from_float_ref(x, raw, N);
        if (type == TTC_TYPE_Q4_K || type == TTC_TYPE_Q6_K) {
            double e_ttc = 0, e_ggml = 0;
            ttc_dequantize_row(type, q, a, N, NULL);
            ttc_dequantize_row(type, raw, b, N, NULL);
            for (int i = 0; i < N; i++) {
                e_ttc += (double)(a[i] - x[i]) * (a[i] - x[i]);
                e_ggml += (double)(b[i] - x[i]) * (b[i] - x[i]);
            }
            if (getenv("TTC_CONFORMANCE_VERBOSE"))
                fprintf(stderr, "%s: squared error ttc %.4g, ggml reference %.4g\n", ttc_type_name(type), e_ttc, e_ggml);
            cr_expect_leq(e_ttc, 1.05 * e_ggml, "%s: ttc quantization error %.4g vs ggml reference %.4g",
                          ttc_type_name(type), e_ttc, e_ggml);
        } else {
            size_t nd = 0;
            for (size_t i = 0; i < bytes; i++) nd += q[i] != raw[i];
            cr_expect_eq(nd, 0, "%s: %zu of %zu bytes differ from ggml's reference quantizer",
                         ttc_type_name(type), nd, bytes);
        }
    }
    /* fp16 / bf16 rounding of arbitrary finite floats. */
    for (int i = 0; i < N; i++) {
        uint32_t bits = (uint32_t)ttc_rng_u64(&r);
        if ((bits & 0x7F800000u) == 0x7F800000u) bits ^= 0x40000000u;  /* no Inf/NaN */
        memcpy(&x[i], &bits, 4);
        if (i % 2) x[i] = ldexpf(ttc_rng_normal(&r), (int)ttc_rng_below(&r, 50) - 30);  /* fp16 range */
    }
    uint16_t *h = (uint16_t *)q;
    G.fp32_to_fp16_row(x, h, N);
    int d16 = 0, dbf = 0;
    for (int i = 0; i < N; i++) d16 += h[i] != ttc_f32_to_fp16(x[i]);
    G.fp32_to_bf16_row_ref(x, h, N);
    for (int i = 0; i < N; i++) dbf += h[i] != ttc_f32_to_bf16(x[i]);
    cr_expect_eq(d16, 0, "fp16: %d of %d conversions differ from ggml", d16, N);
    cr_expect_eq(dbf, 0, "bf16: %d of %d conversions differ from ggml", dbf, N);
    free(raw); free(q); free(x); free(a); free(b);
}

/* ---- GGUF files: ttc's writer and reader against ggml's gguf ---- */

struct gguf_init_params_ { bool no_alloc; void **ctx; };

static struct {
    void *(*from_buffer)(const void *data, size_t size, struct gguf_init_params_ params);
    void (*free)(void *ctx);
    int64_t (*n_kv)(const void *ctx);
    const char *(*key)(const void *ctx, int64_t i);
    int (*kv_type)(const void *ctx, int64_t i);
    int (*arr_type)(const void *ctx, int64_t i);
    size_t (*arr_n)(const void *ctx, int64_t i);
    int64_t (*n_tensors)(const void *ctx);
    const char *(*tensor_name)(const void *ctx, int64_t i);
    size_t (*tensor_offset)(const void *ctx, int64_t i);
    int (*tensor_type)(const void *ctx, int64_t i);
    const int64_t *(*tensor_ne)(const void *ctx, int64_t i);
    size_t (*data_offset)(const void *ctx);
    size_t (*alignment)(const void *ctx);
    size_t (*tensor_size)(const void *ctx, int64_t i);
} GG;

/* ggml's last error line, for messages. */
static char ggml_last[512];
static void ggml_capture(int level, const char *text, void *ud) {
    (void)ud;
    if (level >= 4 && strlen(text) > 2) snprintf(ggml_last, sizeof ggml_last, "%s", text);  /* GGML_LOG_LEVEL_ERROR */
}

static void gguf_api_load(void) {
    ggml_load();
    void (*log_set)(void (*)(int, const char *, void *), void *);
    *(void **)&log_set = dlsym(G.lib, "ggml_log_set");
    cr_assert_not_null(log_set);
    log_set(ggml_capture, NULL);
    static const char *names[] = {
        "gguf_init_from_buffer", "gguf_free", "gguf_get_n_kv", "gguf_get_key", "gguf_get_kv_type",
        "gguf_get_arr_type", "gguf_get_arr_n", "gguf_get_n_tensors", "gguf_get_tensor_name",
        "gguf_get_tensor_offset", "gguf_get_tensor_type", "gguf_get_tensor_ne", "gguf_get_data_offset",
        "gguf_get_alignment", "gguf_get_tensor_size",
    };
    void **slots = (void **)&GG;
    for (size_t i = 0; i < TTC_ARRAY_LEN(names); i++) {
        slots[i] = dlsym(G.lib, names[i]);
        cr_assert_not_null(slots[i], "libggml-base: no %s", names[i]);
    }
}

/* Both readers opened buf: same keys (names, types, array lengths), same
 * tensors (names, types, shapes, offsets), same data offset. */
static void same_structure(const ttc_gguf *g, const void *gc, const char *what) {
    cr_assert_eq(ttc_gguf_n_keys(g), GG.n_kv(gc), "%s: key count", what);
    for (int64_t k = 0; k < ttc_gguf_n_keys(g); k++) {
        const ttc_gguf_kv *kv = ttc_gguf_kv_at(g, k);
        cr_assert_str_eq(kv->key, GG.key(gc, k), "%s: key %lld", what, (long long)k);
        cr_assert_eq(kv->type, GG.kv_type(gc, k), "%s: key '%s' type", what, kv->key);
        if (kv->type == TTC_GGUF_ARR) {
            cr_assert_eq(kv->arr_type, GG.arr_type(gc, k), "%s: key '%s' element type", what, kv->key);
            cr_assert_eq(kv->n, GG.arr_n(gc, k), "%s: key '%s' length", what, kv->key);
        }
    }
    cr_assert_eq(ttc_gguf_n_tensors(g), GG.n_tensors(gc), "%s: tensor count", what);
    for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) {
        const ttc_gguf_tensor *t = ttc_gguf_tensor_at(g, i);
        cr_assert_str_eq(t->name, GG.tensor_name(gc, i), "%s: tensor %lld", what, (long long)i);
        cr_assert_eq(t->type, GG.tensor_type(gc, i), "%s: tensor '%s' type", what, t->name);
        cr_assert_eq(t->offset, GG.tensor_offset(gc, i), "%s: tensor '%s' offset", what, t->name);
        const int64_t *ne = GG.tensor_ne(gc, i);
        for (int d = 0; d < 4; d++) cr_assert_eq(t->ne[d], ne[d], "%s: tensor '%s' ne[%d]", what, t->name, d);
    }
    if (ttc_gguf_n_tensors(g)) cr_assert_eq(ttc_gguf_data_offset(g), GG.data_offset(gc), "%s: data offset", what);
    cr_assert_eq(ttc_gguf_alignment(g), GG.alignment(gc), "%s: alignment", what);
}

/* A file with every key type, string arrays and tensors of several types. */
static void *sample_file(size_t *len) {
    ttc_gguf_writer *w;
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    ttc_gguf_set_u8(w, "k.u8", 7, &e); ttc_gguf_set_i8(w, "k.i8", -7, &e); ttc_gguf_set_u16(w, "k.u16", 700, &e);
    ttc_gguf_set_i16(w, "k.i16", -700, &e); ttc_gguf_set_u32(w, "k.u32", 70000, &e); ttc_gguf_set_i32(w, "k.i32", -70000, &e);
    ttc_gguf_set_f32(w, "k.f32", 0.5f, &e); ttc_gguf_set_bool(w, "k.bool", true, &e); ttc_gguf_set_u64(w, "k.u64", 1ull << 40, &e);
    ttc_gguf_set_i64(w, "k.i64", -(1ll << 40), &e); ttc_gguf_set_f64(w, "k.f64", 0.25, &e);
    ttc_gguf_set_str(w, "general.architecture", "llama", &e);
    const char *toks[5] = {"<s>", "a", "b", "ab", "\xc4\xa0the"};
    ttc_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 5, &e);
    float sc[5] = {0, -1, -2, -3, -4};
    ttc_gguf_set_arr(w, "tokenizer.ggml.scores", TTC_GGUF_F32, sc, 5, &e);
    ttc_gguf_writer_set_alignment(w, 64, &e);
    static float x[512];
    static uint8_t q[2048];
    for (int i = 0; i < 512; i++) x[i] = (float)(i % 13) - 6;
    static const int types[] = {TTC_TYPE_F32, TTC_TYPE_F16, TTC_TYPE_Q8_0, TTC_TYPE_Q4_K, TTC_TYPE_Q6_K};
    for (int t = 0; t < 5; t++) {
        int64_t ne[2] = {256, 2};
        char name[32];
        snprintf(name, sizeof name, "blk.%d.w", t);
        cr_assert_eq(ttc_quantize_row(types[t], x, q, 512, &e), TTC_OK);
        cr_assert_eq(ttc_gguf_writer_add_tensor_copy(w, name, types[t], 2, ne, q, &e), TTC_OK, "%s", e.msg);
    }
    void *buf;
    cr_assert_eq(ttc_gguf_writer_write_mem(w, &buf, len, &e), TTC_OK);
    ttc_gguf_writer_free(w);
    return buf;
}

/* True when the tensors sit back to back in file order, each at the padded
 * end of the previous one: what ggml's reader requires. ttc accepts any
 * aligned, non-overlapping placement. */
static bool packed(const ttc_gguf *g) {
    uint64_t at = 0;
    size_t a = ttc_gguf_alignment(g);
    for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) {
        const ttc_gguf_tensor *t = ttc_gguf_tensor_at(g, i);
        if (t->offset != at) return false;
        at = (t->offset + t->nbytes + a - 1) / a * a;
    }
    return true;
}

/* ttc's writer output reads the same in ggml; then a differential run over
 * truncations and byte flips: whenever both accept, they agree on the
 * structure; disagreements on acceptance are counted and explained. */
Test(conformance, gguf_files_vs_ggml) {
    gguf_api_load();
    size_t len;
    uint8_t *buf = sample_file(&len);
    struct gguf_init_params_ ip = {true, NULL};
    ttc_err e = {0};
    ttc_gguf *g;
    void *gc = GG.from_buffer(buf, len, ip);
    cr_assert_not_null(gc, "ggml rejects a file written by ttc");
    cr_assert_eq(ttc_gguf_open_mem(buf, len, &g, &e), TTC_OK, "%s", e.msg);
    same_structure(g, gc, "writer output");
    ttc_gguf_close(g);
    GG.free(gc);

    ttc_rng r;
    ttc_rng_seed(&r, 99);
    uint8_t *m = malloc(len);
    int both = 0, neither = 0, only_ttc = 0, only_ggml = 0, gaps = 0;
    char first_only_ttc[800] = "", first_only_ggml[1100] = "";
    for (int it = 0; it < 3000; it++) {
        size_t n = len;
        memcpy(m, buf, len);
        if (it % 4 == 0) n = ttc_rng_below(&r, len);
        else
            for (int k = 1 + (int)ttc_rng_below(&r, 2); k > 0; k--)
                m[ttc_rng_below(&r, 600)] ^= (uint8_t)(1u << ttc_rng_below(&r, 8));
        int rc = ttc_gguf_open_mem(m, n, &g, &e);
        ggml_last[0] = 0;
        gc = GG.from_buffer(m, n, ip);
        /* Metadata-only, ggml does not look at the data; llama.cpp checks
         * the bounds when it loads tensors. Do that here. */
        for (int64_t i = 0; gc && i < GG.n_tensors(gc); i++)
            if (GG.data_offset(gc) + GG.tensor_offset(gc, i) + GG.tensor_size(gc, i) > n) {
                GG.free(gc);
                gc = NULL;
            }
        if (rc == TTC_OK && gc) {
            both++;
            same_structure(g, gc, "mutated file");
        } else if (rc != TTC_OK && !gc) {
            neither++;
        } else if (rc == TTC_OK && !packed(g)) {
            gaps++;  /* ggml wants tensors packed in file order; ttc only non-overlapping */
        } else if (rc == TTC_OK) {
            if (!only_ttc++) snprintf(first_only_ttc, sizeof first_only_ttc, "mutation %d (%zu bytes): ggml: %s", it, n, ggml_last);
        } else {
            if (!only_ggml++) snprintf(first_only_ggml, sizeof first_only_ggml, "mutation %d: %s", it, e.msg);
        }
        ttc_gguf_close(g);
        if (gc) GG.free(gc);
    }
    if (getenv("TTC_CONFORMANCE_VERBOSE"))
        fprintf(stderr, "gguf differential: both accept %d, both reject %d, only ttc %d (%s) + %d with unpacked "
                "tensors, only ggml %d (%s)\n", both, neither, only_ttc, first_only_ttc, gaps, only_ggml, first_only_ggml);
    cr_assert_gt(both, 100);
    cr_assert_gt(neither, 100);
    cr_expect_eq(only_ttc, 0, "%d mutated files open in ttc but not in ggml; first: %s", only_ttc, first_only_ttc);
    cr_expect_eq(only_ggml, 0, "%d mutated files open in ggml but not in ttc; first: %s", only_ggml, first_only_ggml);
    free(m);
    free(buf);
}

/* ---- tokenization ---- */

typedef struct {
    int n_texts, mismatches;
    char first[512];
} tok_report;

/* Tokenizes text with llama.cpp and ttc; records a mismatch. want may be
 * NULL (no expected list). */
static void compare_text(const void *vocab, const ttc_tokenizer *tok, const char *text, size_t len, bool special,
                         const int32_t *want, int n_want, tok_report *r) {
    enum { CAP = 4096 };
    static llama_token a[CAP];
    static int32_t b[CAP];
    int na = llama_tok(vocab, text, len, special, special, a, CAP), nb = 0;
    ttc_err e = {0};
    /* llama.cpp's add_special adds BOS/EOS as the vocabulary's flags say;
     * ttc's add_bos asks for BOS explicitly (EOS follows the flag). */
    bool add_bos = special && ttc_tokenizer_add_bos(tok);
    cr_assert_eq(ttc_tokenize(tok, text, len, add_bos, special, b, CAP, &nb, &e), TTC_OK, "%s", e.msg);
    bool same = na == nb && !memcmp(a, b, (size_t)na * sizeof *a);
    bool ref = !want || (n_want == na && !memcmp(want, a, (size_t)na * sizeof *a));
    r->n_texts++;
    cr_assert(ref, "llama.cpp disagrees with the .out reference on text %d", r->n_texts);
    if (same) return;
    if (!r->mismatches++) {
        int k = 0;
        while (k < na && k < nb && a[k] == b[k]) k++;
        snprintf(r->first, sizeof r->first, "text %d (%zu bytes, '%.*s'): llama.cpp %d tokens, ttc %d; first "
                 "difference at %d: %d vs %d", r->n_texts, len, (int)TTC_MIN(len, 60), text, na, nb, k, k < na ? a[k] : -1, k < nb ? b[k] : -1);
    }
}

/* Random text from pieces that stress pre-tokenizers: words, digit runs,
 * whitespace runs, punctuation, contractions, multi-byte UTF-8. */
static size_t random_text(ttc_rng *r, char *buf, size_t cap) {
    static const char *pieces[] = {
        "hello", "World", " the", "  ", "   ", "\n", "\n\n", "\t", " \n ", "12345", "3.14", "1,000", "x2",
        "'s", "'LL", "'re", "n't", "!!", "?", "...", "(", ")", "{\"a\": 1}", "<b>", "__init__", "C++",
        "é", "naïve", "Ünïcödé", "日本語", "中文", "한국어", "Привет", "🙂", "👍🏽", "\xe2\x80\x8b", "ｆｕｌｌ",
        "αβγ", "\u00a0", "--", "==", "->", "$x_1$", "\\frac{1}{2}", "  \t\n", "A", "z", "0", "<|", "|>",
    };
    size_t n = 0;
    int k = 1 + (int)ttc_rng_below(r, 12);
    for (int i = 0; i < k; i++) {
        const char *p = pieces[ttc_rng_below(r, TTC_ARRAY_LEN(pieces))];
        size_t l = strlen(p);
        if (n + l + 2 >= cap) break;
        if (ttc_rng_below(r, 3) == 0) buf[n++] = ' ';
        memcpy(buf + n, p, l);
        n += l;
    }
    buf[n] = 0;
    return n;
}

static void tokenization_case(const char *vocab_file, const char *special_text) {
    llama_load();
    char path[512];
    snprintf(path, sizeof path, "vocab/%s", vocab_file);
    const char *gpath = tu_shared(path);
    snprintf(path, sizeof path, "%s", gpath);

    struct llm_model_params mp = L.model_default_params();
    mp.vocab_only = true;
    void *model = L.model_load(path, mp);
    cr_assert_not_null(model, "llama.cpp cannot load %s", path);
    const void *vocab = L.model_vocab(model);

    ttc_err e = {0};
    ttc_gguf *g;
    cr_assert_eq(ttc_gguf_open(path, &g, &e), TTC_OK, "%s", e.msg);
    ttc_tokenizer *tok;
    cr_assert_eq(ttc_tokenizer_from_gguf(g, &tok, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_tokenizer_n_vocab(tok), L.vocab_n_tokens(vocab));

    /* The shared test texts, against llama.cpp and the .out reference. */
    char ip[600], op[600];
    snprintf(ip, sizeof ip, "%s.inp", path);
    snprintf(op, sizeof op, "%s.out", path);
    char *inp, *out;
    size_t inl, outl;
    cr_assert_eq(ttc_read_file(ip, &inp, &inl, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_read_file(op, &out, &outl, &e), TTC_OK, "%s", e.msg);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    tok_report rep = {0};
    char *text = inp, *line = out;
    int32_t want[4096];
    for (char *end; (end = strstr(text, sep)); text = end + strlen(sep)) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "%s: fewer lines than texts", op);
        *nl = 0;
        int nw = 0;
        for (char *p = line, *q; nw < 4096; p = q) {
            long v = strtol(p, &q, 10);
            if (q == p) break;
            want[nw++] = (int32_t)v;
        }
        compare_text(vocab, tok, text, (size_t)(end - text), false, want, nw, &rep);
        line = nl + 1;
    }
    cr_assert_gt(rep.n_texts, 20);
    int n_shared = rep.n_texts;

    /* Random texts, plain and with special tokens parsed. */
    ttc_rng rng;
    ttc_rng_seed(&rng, 2024);
    char buf[1024];
    for (int i = 0; i < 300; i++) {
        size_t n = random_text(&rng, buf, sizeof buf);
        compare_text(vocab, tok, buf, n, false, NULL, 0, &rep);
    }
    for (int i = 0; i < 50; i++) {
        size_t n = random_text(&rng, buf, sizeof buf - 200);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", special_text);
        n += random_text(&rng, buf + n, sizeof buf - n);
        compare_text(vocab, tok, buf, n, true, NULL, 0, &rep);
    }
    cr_expect_eq(rep.mismatches, 0, "%s: %d of %d texts tokenize differently (%d shared, rest random); first: %s",
                 vocab_file, rep.mismatches, rep.n_texts, n_shared, rep.first);
    free(inp);
    free(out);
    ttc_tokenizer_free(tok);
    ttc_gguf_close(g);
    L.model_free(model);
}

Test(conformance, tokenize_llama_bpe) {
    tokenization_case("ggml-vocab-llama-bpe.gguf", "<|begin_of_text|>x<|eot_id|>");
}
Test(conformance, tokenize_qwen2) {
    tokenization_case("ggml-vocab-qwen2.gguf", "<|im_start|>user\nhi<|im_end|>");
}
Test(conformance, tokenize_gpt2) {
    tokenization_case("ggml-vocab-gpt-2.gguf", "<|endoftext|>");
}
Test(conformance, tokenize_llama_spm) {
    tokenization_case("ggml-vocab-llama-spm.gguf", "<s>x</s>");
}

/* ---- logits of random-weight models ---- */

/* A small byte-level BPE vocabulary trained here, written as a GGUF for
 * ttc_random_model_write to copy (keeps the models a few MB). */
static void small_vocab(const char *path) {
    static const char *texts[] = {
        "The quick brown fox jumps over the lazy dog. 12 + 30 = 42.",
        "Solve for x: 2x + 3 = 11, so x = 4. The answer is \\boxed{4}.",
        "In mathematics, a prime number is a natural number greater than 1.",
        "Let's think step by step. First, compute 7 * 8 = 56; then add 9.",
    };
    static const char *specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    ttc_err e = {0};
    ttc_tokenizer *tok;
    cr_assert_eq(ttc_bpe_train(texts, 4, 384, "qwen2", specials, 3, &tok, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_tokenizer_set_special(tok, TTC_SPECIAL_EOS, ttc_tokenizer_find(tok, "<|endoftext|>"), &e), TTC_OK,
                 "%s", e.msg);
    ttc_gguf_writer *w;
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_set_str(w, "general.architecture", "vocab", &e), TTC_OK);
    cr_assert_eq(ttc_tokenizer_to_gguf(tok, w, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_gguf_writer_write(w, path, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer_free(w);
    ttc_tokenizer_free(tok);
}

/* Worst differences over the positions compared, relative to the std of
 * llama.cpp's logits at each position; argmax of the last position, and
 * the number of positions whose argmax differs. */
typedef struct { double max_rel, rms_rel; int argmax_ttc, argmax_llama, argmax_diff; } logit_diff;

static void diff_logits(const float *lt, const float *ll, int nv, logit_diff *d) {
    double mean = 0, var = 0, md = 0, sd = 0;
    int at = 0, al = 0;
    for (int i = 0; i < nv; i++) mean += ll[i];
    mean /= nv;
    for (int i = 0; i < nv; i++) {
        cr_assert(isfinite(lt[i]), "ttc logit %d is %g", i, (double)lt[i]);
        var += (ll[i] - mean) * (ll[i] - mean);
        double diff = fabs((double)lt[i] - ll[i]);
        md = fmax(md, diff);
        sd += diff * diff;
        if (lt[i] > lt[at]) at = i;
        if (ll[i] > ll[al]) al = i;
    }
    double std = sqrt(var / nv);
    cr_assert_gt(std, 0.1, "llama.cpp logits are flat (std %g)", std);
    d->max_rel = fmax(d->max_rel, md / std);
    d->rms_rel = fmax(d->rms_rel, sqrt(sd / nv) / std);
    d->argmax_ttc = at;
    d->argmax_llama = al;
    d->argmax_diff += at != al;
}

/* Writes shape/type with seed, runs the prompt through both, compares the
 * last position's logits, then three single-token steps. */
static logit_diff compare_logits(const char *vocab_path, const char *shape_name, int type, uint64_t seed) {
    char mpath[512];
    snprintf(mpath, sizeof mpath, "%s/%s-%s.gguf", tu_tmpdir(), shape_name, ttc_type_name(type));
    const ttc_random_shape *shape = ttc_random_shape_find(shape_name);
    cr_assert_not_null(shape, "no built-in shape %s", shape_name);
    ttc_random_params rp = {.vocab_path = vocab_path, .type = type, .seed = seed};
    ttc_err e = {0};
    cr_assert_eq(ttc_random_model_write(shape, &rp, mpath, &e), TTC_OK, "%s", e.msg);

    static const char prompt[] = "<|im_start|>Solve for x: 2x + 3 = 11. Let's think step by step.";
    ttc_model *m;
    cr_assert_eq(ttc_model_load(mpath, NULL, &m, &e), TTC_OK, "%s", e.msg);
    int32_t ids[256];
    int n = 0;
    cr_assert_eq(ttc_tokenize(ttc_model_tokenizer(m), prompt, strlen(prompt), false, true, ids, 256, &n, &e), TTC_OK,
                 "%s", e.msg);
    ttc_ctx_params cpar = {.n_ctx = 256, .n_seq_max = 1};
    ttc_ctx *c;
    cr_assert_eq(ttc_ctx_new(m, &cpar, &c, &e), TTC_OK, "%s", e.msg);
    int seq, idx;
    cr_assert_eq(ttc_seq_new(c, &seq, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_seq_append_tokens(c, seq, ids, n, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(ttc_decode_pending(c, &seq, 1, false, false, &idx, &e), TTC_OK, "%s", e.msg);
    const float *lt = ttc_logits(c, idx);
    int nv = ttc_model_n_vocab(m);

    void *model = L.model_load(mpath, L.model_default_params());
    cr_assert_not_null(model, "llama.cpp cannot load %s", mpath);
    const void *vocab = L.model_vocab(model);
    cr_assert_eq(L.vocab_n_tokens(vocab), nv);
    llama_token lids[256];
    int ln = llama_tok(vocab, prompt, strlen(prompt), false, true, lids, 256);
    cr_assert(ln == n && !memcmp(lids, ids, (size_t)n * sizeof *ids), "prompt tokenizes differently");
    struct llm_context_params cp = L.context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = cp.n_ubatch = 256;
    cp.n_threads = cp.n_threads_batch = 2;
    cp.type_k = cp.type_v = 0;  /* f32 KV cache, as ttc */
    void *lctx = L.init_from_model(model, cp);
    cr_assert_not_null(lctx, "llama_init_from_model failed");
    cr_assert_eq(L.decode(lctx, L.batch_get_one(lids, ln)), 0, "llama_decode failed");
    const float *ll = L.logits_ith(lctx, -1);
    cr_assert_not_null(ll);

    logit_diff d = {0};
    diff_logits(lt, ll, nv, &d);
    /* Three more positions one token at a time (the KV cache paths), each
     * fed llama.cpp's argmax so both see the same history. */
    for (int step = 0; step < 3; step++) {
        llama_token next = (llama_token)d.argmax_llama;
        cr_assert_eq(ttc_seq_append_tokens(c, seq, &next, 1, &e), TTC_OK, "%s", e.msg);
        cr_assert_eq(ttc_decode_pending(c, &seq, 1, false, false, &idx, &e), TTC_OK, "%s", e.msg);
        lt = ttc_logits(c, idx);
        cr_assert_eq(L.decode(lctx, L.batch_get_one(&next, 1)), 0, "llama_decode failed");
        ll = L.logits_ith(lctx, -1);
        diff_logits(lt, ll, nv, &d);
    }
    L.free_ctx(lctx);
    L.model_free(model);
    ttc_ctx_free(c);
    ttc_model_free(m);
    remove(mpath);
    return d;
}

/* Per weight type, the largest difference allowed relative to the logits'
 * standard deviation. llama.cpp rounds activations to the weight's
 * vec_dot type (f16, bf16, q8_0 or q8_K) before each product, ttc may not,
 * so quantized types get more room. Measured (max / rms, in std): f32
 * 0.0006-0.003 / 0.0002-0.0008; f16 0.001-0.005; bf16 0.006-0.012; q8_0,
 * q4_0 0.02-0.055 / 0.007-0.02; q4_K, q6_K 0.03-0.09 / 0.01-0.027. A wrong
 * block layout or rope/norm variant gives differences of order 1. */
static const struct { int type; double max_rel; } logit_types[] = {
    {TTC_TYPE_F32, 0.01}, {TTC_TYPE_F16, 0.02}, {TTC_TYPE_BF16, 0.05}, {TTC_TYPE_Q8_0, 0.15},
    {TTC_TYPE_Q4_0, 0.15}, {TTC_TYPE_Q4_K, 0.15}, {TTC_TYPE_Q6_K, 0.15},
};

/* Compares shape_name under the weight types listed in `types` (indices
 * into logit_types; -1 ends). */
static void logits_case(const char *shape_name, const int *types) {
    llama_load();
    char vpath[512];
    snprintf(vpath, sizeof vpath, "%s/vocab.gguf", tu_tmpdir());
    double t0 = ttc_now();
    small_vocab(vpath);
    if (getenv("TTC_CONFORMANCE_VERBOSE")) fprintf(stderr, "vocab: %.2fs\n", ttc_now() - t0);
    for (const int *t = types; *t >= 0; t++) {
        int type = logit_types[*t].type;
        double limit = logit_types[*t].max_rel;
        t0 = ttc_now();
        logit_diff d = compare_logits(vpath, shape_name, type, 7 + (uint64_t)*t);
        if (getenv("TTC_CONFORMANCE_VERBOSE"))
            fprintf(stderr, "(%.2fs) %s %s: max |diff| %.2e std, rms %.2e std, argmax %d/%d (%d differ)\n",
                    ttc_now() - t0, shape_name, ttc_type_name(type), d.max_rel, d.rms_rel, d.argmax_ttc,
                    d.argmax_llama, d.argmax_diff);
        cr_expect_lt(d.max_rel, limit, "%s %s: max |ttc - llama.cpp| = %.3g std (limit %.3g), rms %.3g",
                     shape_name, ttc_type_name(type), d.max_rel, limit, d.rms_rel);
        cr_expect_eq(d.argmax_diff, 0, "%s %s: argmax differs at %d of 4 positions", shape_name,
                     ttc_type_name(type), d.argmax_diff);
    }
}

/* Every type on llama; the other architectures on a spread of types (each
 * model costs about a second). */
Test(conformance, logits_tiny_llama) { logits_case("tiny-llama", (const int[]){0, 1, 2, 3, 4, 5, 6, -1}); }
Test(conformance, logits_tiny_qwen2) { logits_case("tiny-qwen2", (const int[]){0, 3, 5, -1}); }
Test(conformance, logits_tiny_qwen3) { logits_case("tiny-qwen3", (const int[]){0, 2, 6, -1}); }
