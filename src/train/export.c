/* GGUF export and import of trainer models (see trainer.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/quant.h"
#include "train/trainer.h"

/* general.file_type values (llama.cpp's llama_ftype). */
static uint32_t file_type(int wtype) {
    return wtype == TTC_TYPE_F16 ? 1 : wtype == TTC_TYPE_Q8_0 ? 7 : 0;
}

int ttc_tmodel_export(const ttc_tmodel *m, const ttc_tokenizer *tok, int wtype, const char *name,
                      const char *prm_format, uint64_t train_tokens, const char *path,
                      ttc_err *e) {
    if (wtype != TTC_TYPE_F32 && wtype != TTC_TYPE_F16 && wtype != TTC_TYPE_Q8_0)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "export %s: weight type %s not supported "
                           "(f32, f16, q8_0)", path, ttc_type_name(wtype));
    if (tok && ttc_tokenizer_n_vocab(tok) != m->c.vocab)
        return ttc_err_set(e, TTC_EINVAL, "export %s: tokenizer has %d tokens, model vocab %d",
                           path, ttc_tokenizer_n_vocab(tok), m->c.vocab);
    ttc_gguf_writer *w;
    int rc = ttc_gguf_writer_new(&w, e);
    if (rc) return rc;
    const ttc_tconfig *c = &m->c;
    const struct { const char *k; uint32_t v; } u32s[] = {
        {"llama.context_length", (uint32_t)c->ctx},
        {"llama.embedding_length", (uint32_t)c->dim},
        {"llama.block_count", (uint32_t)c->n_layer},
        {"llama.feed_forward_length", (uint32_t)c->ff},
        {"llama.attention.head_count", (uint32_t)c->n_head},
        {"llama.attention.head_count_kv", (uint32_t)c->n_kv_head},
        {"llama.rope.dimension_count", (uint32_t)(c->dim / c->n_head)},
        {"llama.vocab_size", (uint32_t)c->vocab},
        {"general.file_type", file_type(wtype)},
        {"general.quantization_version", 2},
    };
    rc = ttc_gguf_set_str(w, "general.architecture", "llama", e);
    if (!rc) rc = ttc_gguf_set_str(w, "general.name", name ? name : "ttc", e);
    for (size_t i = 0; !rc && i < sizeof u32s / sizeof u32s[0]; i++)
        rc = ttc_gguf_set_u32(w, u32s[i].k, u32s[i].v, e);
    if (!rc) rc = ttc_gguf_set_f32(w, "llama.rope.freq_base", c->rope_theta, e);
    if (!rc) rc = ttc_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps, e);
    if (!rc && prm_format) rc = ttc_gguf_set_str(w, "ttc.prm.format", prm_format, e);
    if (!rc && train_tokens) rc = ttc_gguf_set_u64(w, "ttc.train.tokens", train_tokens, e);
    if (!rc && tok) rc = ttc_tokenizer_to_gguf(tok, w, e);
    /* tensors: converted copies (the writer copies them) */
    void *buf = NULL;
    for (int i = 0; !rc && i < m->n_tensors; i++) {
        const ttc_ttensor *t = &m->tensors[i];
        int type = t->n_dims == 1 ? TTC_TYPE_F32 : wtype;
        if (type == TTC_TYPE_Q8_0 && t->ne[0] % 32) type = TTC_TYPE_F16;
        int64_t rows = t->n_dims == 2 ? t->ne[1] : 1;
        size_t rb = ttc_type_row_bytes(type, t->ne[0]);
        void *nb = realloc(buf, rb * (size_t)rows);
        if (!nb) { rc = ttc_err_set(e, TTC_ENOMEM, "export %s: out of memory", path); break; }
        buf = nb;
        for (int64_t r = 0; !rc && r < rows; r++)
            rc = ttc_quantize_row(type, m->params + t->off + (size_t)r * t->ne[0],
                                  (char *)buf + (size_t)r * rb, t->ne[0], e);
        if (!rc) rc = ttc_gguf_writer_add_tensor_copy(w, t->name, type, t->n_dims, t->ne, buf, e);
    }
    free(buf);
    if (!rc) rc = ttc_gguf_writer_write(w, path, e);
    ttc_gguf_writer_free(w);
    return rc ? ttc_err_wrap(e, "export %s: ", path) : TTC_OK;
}

int ttc_tmodel_import(const char *path, int ctx, ttc_tmodel *m, ttc_tokenizer **tok, ttc_err *e) {
    memset(m, 0, sizeof *m);
    if (tok) *tok = NULL;
    ttc_gguf *g;
    int rc = ttc_gguf_open(path, &g, e);
    if (rc) return rc;
    const char *arch = NULL;
    rc = ttc_gguf_get_str(g, "general.architecture", &arch, e);
    if (!rc && strcmp(arch, "llama"))
        rc = ttc_err_set(e, TTC_EUNSUPPORTED, "%s: architecture '%s' (the trainer needs llama)",
                         path, arch);
    ttc_tconfig c = {0};
    const struct { const char *k; int32_t *v; } keys[] = {
        {"llama.context_length", &c.ctx}, {"llama.embedding_length", &c.dim},
        {"llama.block_count", &c.n_layer}, {"llama.feed_forward_length", &c.ff},
        {"llama.attention.head_count", &c.n_head},
    };
    for (size_t i = 0; !rc && i < sizeof keys / sizeof keys[0]; i++)
        rc = ttc_gguf_get_i32(g, keys[i].k, keys[i].v, e);
    if (!rc && ttc_gguf_get_i32(g, "llama.attention.head_count_kv", &c.n_kv_head, NULL))
        c.n_kv_head = c.n_head;
    if (!rc && ttc_gguf_get_f32(g, "llama.rope.freq_base", &c.rope_theta, NULL)) c.rope_theta = 10000.0f;
    if (!rc) rc = ttc_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &c.norm_eps, e);
    const ttc_gguf_tensor *emb = rc ? NULL : ttc_gguf_find_tensor(g, "token_embd.weight");
    if (!rc && (!emb || emb->n_dims != 2))
        rc = ttc_err_set(e, TTC_EFORMAT, "%s: no 2-D token_embd.weight", path);
    if (!rc) {
        c.vocab = (int32_t)emb->ne[1];
        c.tied = ttc_gguf_find_tensor(g, "output.weight") == NULL;
        if (ctx > 0) c.ctx = ctx;
        rc = ttc_tmodel_new(&c, m, e);
    }
    for (int i = 0; !rc && i < m->n_tensors; i++) {
        const ttc_ttensor *t = &m->tensors[i];
        const ttc_gguf_tensor *gt;
        rc = ttc_gguf_tensor_get(g, t->name, t->n_dims, t->ne, &gt, e);
        if (rc) break;
        int64_t rows = t->n_dims == 2 ? t->ne[1] : 1;
        size_t rb = ttc_type_row_bytes(gt->type, t->ne[0]);
        for (int64_t r = 0; !rc && r < rows; r++)
            rc = ttc_dequantize_row(gt->type, (const char *)gt->data + (size_t)r * rb,
                                    m->params + t->off + (size_t)r * t->ne[0], t->ne[0], e);
    }
    for (size_t i = 0; !rc && i < m->n_params; i++)
        if (!isfinite(m->params[i]))
            rc = ttc_err_set(e, TTC_ENUMERIC, "%s: non-finite weight at parameter %zu", path, i);
    if (!rc && tok) rc = ttc_tokenizer_from_gguf(g, tok, e);
    ttc_gguf_close(g);
    if (rc) {
        ttc_tmodel_free(m);
        return ttc_err_wrap(e, "import %s: ", path);
    }
    return TTC_OK;
}
