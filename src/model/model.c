/* Model loading: architecture, hyperparameters and weight tensors from GGUF,
 * with every shape checked before anything runs. */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "tokenizer/tokenizer.h"

static const char *const arch_names[] = {"llama", "qwen2", "qwen3"};

const char *ttc_model_supported_archs(void) { return "llama, qwen2, qwen3"; }

int ttc_arch_from_name(const char *name, ttc_arch *out, ttc_err *e) {
    for (int i = 0; i < (int)(sizeof arch_names / sizeof *arch_names); i++)
        if (!strcmp(name, arch_names[i])) { *out = (ttc_arch)i; return TTC_OK; }
    return ttc_err_set(e, TTC_EUNSUPPORTED, "general.architecture: unsupported architecture '%s' (supported: %s)",
                       name, ttc_model_supported_archs());
}

/* ------------------------------------------------------ hyperparameters -- */

/* Reads <arch>.<suffix> as an int in [lo, hi]; a missing key gives def when
 * def >= 0, else an error. */
static int get_int(const ttc_gguf *g, const char *arch, const char *suffix, int64_t lo, int64_t hi, int def,
                   int *out, ttc_err *e) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    int rc = ttc_gguf_get_int(g, key, lo, hi, &v, e);
    if (rc == TTC_ENOTFOUND && def >= 0) { *out = def; return TTC_OK; }
    if (rc == TTC_ENOTFOUND) return ttc_err_set(e, rc, "missing hyperparameter %s", key);
    if (rc) return rc;
    *out = (int)v;
    return TTC_OK;
}

static int get_f32(const ttc_gguf *g, const char *arch, const char *suffix, float def, float *out, ttc_err *e) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = ttc_gguf_get_f32(g, key, out, e);
    if (rc == TTC_ENOTFOUND) { *out = def; return TTC_OK; }
    return rc;
}

static int read_config(const ttc_gguf *g, ttc_model_config *c, ttc_err *e) {
    const char *arch;
    int rc = ttc_gguf_get_str(g, "general.architecture", &arch, e);
    if (rc) return rc;
    if ((rc = ttc_arch_from_name(arch, &c->arch, e))) return rc;
    snprintf(c->arch_name, sizeof c->arch_name, "%s", arch);
    const int big = 1 << 24;
    if ((rc = get_int(g, arch, "embedding_length", 1, big, -1, &c->n_embd, e)) ||
        (rc = get_int(g, arch, "block_count", 1, 4096, -1, &c->n_layer, e)) ||
        (rc = get_int(g, arch, "feed_forward_length", 1, big, -1, &c->n_ff, e)) ||
        (rc = get_int(g, arch, "attention.head_count", 1, 4096, -1, &c->n_head, e)) ||
        (rc = get_int(g, arch, "attention.head_count_kv", 1, 4096, c->n_head, &c->n_head_kv, e)) ||
        (rc = get_int(g, arch, "context_length", 1, big, 2048, &c->n_ctx_train, e)))
        return rc;
    if (c->n_head % c->n_head_kv)
        return ttc_err_set(e, TTC_EFORMAT, "%s.attention.head_count %d is not a multiple of head_count_kv %d",
                           arch, c->n_head, c->n_head_kv);
    int def_hd = c->n_embd % c->n_head ? -1 : c->n_embd / c->n_head;
    if ((rc = get_int(g, arch, "attention.key_length", 1, 65536, def_hd, &c->head_dim, e))) return rc;
    int vlen;
    if ((rc = get_int(g, arch, "attention.value_length", 1, 65536, c->head_dim, &vlen, e))) return rc;
    if (vlen != c->head_dim)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "%s.attention.value_length %d differs from key_length %d", arch, vlen, c->head_dim);
    if ((rc = get_int(g, arch, "rope.dimension_count", 2, c->head_dim, c->head_dim, &c->rope_dim, e))) return rc;
    if (c->rope_dim % 2) return ttc_err_set(e, TTC_EFORMAT, "%s.rope.dimension_count %d is odd", arch, c->rope_dim);
    if ((rc = get_f32(g, arch, "attention.layer_norm_rms_epsilon", c->arch == TTC_ARCH_LLAMA ? 1e-5f : 1e-6f, &c->norm_eps, e)) ||
        (rc = get_f32(g, arch, "rope.freq_base", 10000.0f, &c->rope_base, e)))
        return rc;
    if (!(c->norm_eps > 0) || !(c->rope_base > 1))
        return ttc_err_set(e, TTC_EFORMAT, "%s: bad rms epsilon %g or rope base %g", arch, c->norm_eps, c->rope_base);
    c->rope_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *st;
    rc = ttc_gguf_get_str(g, key, &st, e);
    if (rc && rc != TTC_ENOTFOUND) return rc;
    if (rc == TTC_OK && strcmp(st, "none") != 0) {
        if (strcmp(st, "linear"))
            return ttc_err_set(e, TTC_EUNSUPPORTED, "%s: rope scaling '%s' is not supported (none, linear; llama3 via rope_freqs)", key, st);
        if ((rc = get_f32(g, arch, "rope.scaling.factor", 1.0f, &c->rope_scale, e))) return rc;
        if (!(c->rope_scale >= 1.0f)) return ttc_err_set(e, TTC_EFORMAT, "%s.rope.scaling.factor %g must be >= 1", arch, c->rope_scale);
    }
    c->rope_neox = c->arch != TTC_ARCH_LLAMA;
    return TTC_OK;
}

/* -------------------------------------------------------------- tensors -- */

typedef struct tensor_req {
    ttc_wt     *dst;
    char        name[64];
    int         n_dims;
    int64_t     ne[2];
    bool        required;
    bool        matmul;   /* used as a ttc_matmul weight */
} tensor_req;

typedef struct loader {
    const ttc_gguf *g;
    const char *path;
    tensor_req *reqs;
    int n, cap;
} loader;

static int want(loader *L, ttc_wt *dst, const char *name, int n_dims, int64_t ne0, int64_t ne1, bool required,
                bool matmul, ttc_err *e) {
    if (L->n == L->cap) {
        int cap = L->cap ? L->cap * 2 : 64;
        tensor_req *r = realloc(L->reqs, (size_t)cap * sizeof *r);
        if (!r) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
        L->reqs = r;
        L->cap = cap;
    }
    tensor_req *r = &L->reqs[L->n++];
    *r = (tensor_req){.dst = dst, .n_dims = n_dims, .ne = {ne0, ne1}, .required = required, .matmul = matmul};
    snprintf(r->name, sizeof r->name, "%s", name);
    return TTC_OK;
}

static int list_tensors(loader *L, ttc_model *m, ttc_err *e) {
    const ttc_model_config *c = &m->cfg;
    int64_t D = c->n_embd, V = c->n_vocab, F = c->n_ff, qd = (int64_t)c->n_head * c->head_dim,
            kvd = (int64_t)c->n_head_kv * c->head_dim, hd = c->head_dim;
    bool q2 = c->arch == TTC_ARCH_QWEN2, q3 = c->arch == TTC_ARCH_QWEN3;
    int rc;
    if ((rc = want(L, &m->w.tok_embd, "token_embd.weight", 2, D, V, true, false, e)) ||
        (rc = want(L, &m->w.output_norm, "output_norm.weight", 1, D, 1, true, false, e)) ||
        (rc = want(L, &m->w.output, "output.weight", 2, D, V, false, true, e)) ||
        (rc = want(L, &m->w.rope_freqs, "rope_freqs.weight", 1, c->rope_dim / 2, 1, false, false, e)))
        return rc;
    for (int i = 0; i < c->n_layer; i++) {
        ttc_layer_weights *w = &m->w.layers[i];
        char n[64];
#define W(field, suffix, nd, a, b, req, mat) \
        snprintf(n, sizeof n, "blk.%d.%s", i, suffix); \
        if ((rc = want(L, &w->field, n, nd, a, b, req, mat, e))) return rc;
        W(attn_norm, "attn_norm.weight", 1, D, 1, true, false)
        W(wq, "attn_q.weight", 2, D, qd, true, true)
        W(wk, "attn_k.weight", 2, D, kvd, true, true)
        W(wv, "attn_v.weight", 2, D, kvd, true, true)
        W(wo, "attn_output.weight", 2, qd, D, true, true)
        W(bq, "attn_q.bias", 1, qd, 1, q2, false)
        W(bk, "attn_k.bias", 1, kvd, 1, q2, false)
        W(bv, "attn_v.bias", 1, kvd, 1, q2, false)
        if (q3) {
            W(q_norm, "attn_q_norm.weight", 1, hd, 1, true, false)
            W(k_norm, "attn_k_norm.weight", 1, hd, 1, true, false)
        }
        W(ffn_norm, "ffn_norm.weight", 1, D, 1, true, false)
        W(w_gate, "ffn_gate.weight", 2, D, F, true, true)
        W(w_up, "ffn_up.weight", 2, D, F, true, true)
        W(w_down, "ffn_down.weight", 2, F, D, true, true)
#undef W
    }
    return TTC_OK;
}

/* Resolves every request: one error listing all missing required tensors,
 * else the first shape or type problem. */
static int bind_tensors(loader *L, ttc_err *e) {
    char missing[700] = "";
    int n_missing = 0;
    size_t used = 0;
    for (int i = 0; i < L->n; i++) {
        tensor_req *r = &L->reqs[i];
        const ttc_gguf_tensor *t = ttc_gguf_find_tensor(L->g, r->name);
        if (!t) {
            if (!r->required) continue;
            if (n_missing++ < 24 && used + strlen(r->name) + 3 < sizeof missing)
                used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "", r->name);
            continue;
        }
        int64_t rows = r->n_dims == 2 ? r->ne[1] : 1;
        if (t->n_dims != r->n_dims || t->ne[0] != r->ne[0] || (r->n_dims == 2 && t->ne[1] != rows)) {
            if (r->n_dims == 1)
                return ttc_err_set(e, TTC_EFORMAT, "tensor %s: expected shape [%lld], found %d-d [%lld, %lld, %lld, %lld]",
                                   r->name, (long long)r->ne[0], t->n_dims, (long long)t->ne[0], (long long)t->ne[1],
                                   (long long)t->ne[2], (long long)t->ne[3]);
            return ttc_err_set(e, TTC_EFORMAT, "tensor %s: expected shape [%lld, %lld], found %d-d [%lld, %lld, %lld, %lld]",
                               r->name, (long long)r->ne[0], (long long)r->ne[1], t->n_dims, (long long)t->ne[0],
                               (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
        }
        if (!t->supported)
            return ttc_err_set(e, TTC_EUNSUPPORTED, "tensor %s: type %s is not supported", r->name, ttc_type_name(t->type));
        if (r->matmul) {
            int rc = ttc_matmul_check(t->type, (int)rows, (int)r->ne[0], e);
            if (rc) return ttc_err_wrap(e, "tensor %s: ", r->name);
        }
        *r->dst = (ttc_wt){t->data, t->type, rows, r->ne[0]};
    }
    if (n_missing)
        return ttc_err_set(e, TTC_ENOTFOUND, "missing %d tensor%s: %s%s", n_missing, n_missing > 1 ? "s" : "", missing,
                           n_missing > 24 ? ", ..." : "");
    return TTC_OK;
}

/* Vectors used directly as float arrays must be f32: convert the others
 * (rare: some files store norms as f16) into one owned buffer. */
static int vectors_to_f32(loader *L, ttc_model *m, ttc_err *e) {
    size_t total = 0;
    for (int i = 0; i < L->n; i++) {
        tensor_req *r = &L->reqs[i];
        if (r->n_dims == 1 && r->dst->data && r->dst->type != TTC_TYPE_F32) total += (size_t)r->dst->cols;
    }
    if (!total) return TTC_OK;
    m->norm_f32 = malloc(total * sizeof(float));
    if (!m->norm_f32) return ttc_err_set(e, TTC_ENOMEM, "out of memory converting vectors to f32");
    float *p = m->norm_f32;
    for (int i = 0; i < L->n; i++) {
        tensor_req *r = &L->reqs[i];
        if (r->n_dims != 1 || !r->dst->data || r->dst->type == TTC_TYPE_F32) continue;
        int rc = ttc_dequantize_row(r->dst->type, r->dst->data, p, r->dst->cols, e);
        if (rc) return ttc_err_wrap(e, "tensor %s: ", r->name);
        *r->dst = (ttc_wt){p, TTC_TYPE_F32, 1, r->dst->cols};
        p += r->dst->cols;
    }
    return TTC_OK;
}

/* ----------------------------------------------------------------- load -- */

int ttc_model_from_gguf(ttc_gguf *g, const char *path, const ttc_model_params *params, ttc_model **out,
                        ttc_err *e) {
    *out = NULL;
    ttc_model *m = calloc(1, sizeof *m);
    if (!m) { ttc_gguf_close(g); return ttc_err_set(e, TTC_ENOMEM, "%s: out of memory", path); }
    m->gguf = g;
    snprintf(m->path, sizeof m->path, "%s", path);
    loader L = {g, path, NULL, 0, 0};
    int rc = read_config(g, &m->cfg, e);
    if (rc) goto fail;
    const ttc_gguf_tensor *te = ttc_gguf_find_tensor(g, "token_embd.weight");
    if (te && te->n_dims == 2 && te->ne[1] > 0 && te->ne[1] <= INT32_MAX) m->cfg.n_vocab = (int)te->ne[1];
    else {
        uint64_t nv;
        int et;
        const void *d;
        if (ttc_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &nv, &d, NULL) == TTC_OK && nv <= INT32_MAX)
            m->cfg.n_vocab = (int)nv;
    }
    m->w.layers = calloc((size_t)m->cfg.n_layer, sizeof *m->w.layers);
    if (!m->w.layers) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); goto fail; }
    if ((rc = list_tensors(&L, m, e)) || (rc = bind_tensors(&L, e)) || (rc = vectors_to_f32(&L, m, e))) goto fail;
    m->cfg.tied_output = m->w.output.data == NULL;
    if (m->cfg.tied_output) {
        rc = ttc_matmul_check(m->w.tok_embd.type, m->cfg.n_vocab, m->cfg.n_embd, e);
        if (rc) { ttc_err_wrap(e, "tensor token_embd.weight (tied output): "); goto fail; }
        m->w.output = m->w.tok_embd;
    }
    if (m->w.rope_freqs.data && m->cfg.arch != TTC_ARCH_LLAMA) m->w.rope_freqs.data = NULL;
    for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) m->n_params += ttc_gguf_tensor_at(g, i)->n_elems;

    bool no_tok = params && params->no_tokenizer;
    if (!no_tok && ttc_gguf_find_key(g, "tokenizer.ggml.model") >= 0) {
        if ((rc = ttc_tokenizer_from_gguf(g, &m->tok, e))) goto fail;
        if (ttc_tokenizer_n_vocab(m->tok) > m->cfg.n_vocab) {
            rc = ttc_err_set(e, TTC_EFORMAT, "tokenizer has %d tokens but token_embd.weight only %d rows",
                             ttc_tokenizer_n_vocab(m->tok), m->cfg.n_vocab);
            goto fail;
        }
    }
    free(L.reqs);
    *out = m;
    return TTC_OK;
fail:
    free(L.reqs);
    ttc_model_free(m);
    return ttc_err_wrap(e, "%s: ", path);
}

int ttc_model_load(const char *path, const ttc_model_params *params, ttc_model **out, ttc_err *e) {
    *out = NULL;
    ttc_gguf *g;
    int rc = ttc_gguf_open(path, &g, e);
    if (rc) return rc;
    ttc_gguf_prefetch(g);
    return ttc_model_from_gguf(g, path, params, out, e);
}

void ttc_model_free(ttc_model *m) {
    if (!m) return;
    ttc_tokenizer_free(m->tok);
    ttc_gguf_close(m->gguf);
    free(m->w.layers);
    free(m->norm_f32);
    free(m);
}
