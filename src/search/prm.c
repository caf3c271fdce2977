/* PRM format descriptions: presets and GGUF metadata (see prm.h). */
#include "search/prm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/quant.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

static const ttc_prm_format presets[] = {
    {.name = "ttc", .kind = TTC_PRM_LM_TOKEN,
     .root_prefix = "Problem: ", .root_suffix = "\nSolution:\n",
     .tag = "<|step|>", .pos = "+", .neg = "-"},
    {.name = "ttc-orm", .kind = TTC_PRM_LM_TOKEN, .outcome = true,
     .root_prefix = "Problem: ", .root_suffix = "\nSolution:\n",
     .tag = "<|step|>", .pos = "+", .neg = "-"},
    {.name = "math-shepherd", .kind = TTC_PRM_LM_TOKEN, .strip_newline = true,
     .root_suffix = " ", .tag = "ки", .pos = "+", .neg = "-", .after = "\n"},
    {.name = "rlhflow", .kind = TTC_PRM_LM_TOKEN, .strip_newline = true,
     .root_prefix = "<|start_header_id|>user<|end_header_id|>\n\n",
     .first_prefix = " ",
     .step_prefix = "<|start_header_id|>user<|end_header_id|>\n\n",
     .step_suffix = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
     .after = "+<|eot_id|>", .pos = "+", .neg = "-"},
    {.name = "qwen2.5-math-prm", .kind = TTC_PRM_HEAD_2CLASS, .strip_newline = true,
     .root_prefix = "<|im_start|>system\nPlease reason step by step, and put your final answer "
                    "within \\boxed{}.<|im_end|>\n<|im_start|>user\n",
     .root_suffix = "<|im_end|>\n<|im_start|>assistant\n", .tag = "<extra_0>"},
    {.name = "skywork-prm", .kind = TTC_PRM_HEAD_VALUE, .strip_newline = true,
     .root_suffix = "\n", .tag = "\n"},
};

const char *ttc_prm_preset_names(void) {
    return "ttc, ttc-orm, math-shepherd, rlhflow, qwen2.5-math-prm, skywork-prm";
}

int ttc_prm_preset(const char *name, ttc_prm_format *out, ttc_err *e) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (name && !strcmp(name, presets[i].name)) { *out = presets[i]; return TTC_OK; }
    return ttc_err_set(e, TTC_ENOTFOUND, "PRM format '%s': unknown (presets: %s)",
                       name ? name : "(null)", ttc_prm_preset_names());
}

static const char *const kind_names[] = {"lm-token", "head-2class", "head-value"};

const char *ttc_prm_kind_name(ttc_prm_kind k) {
    return (unsigned)k < 3 ? kind_names[k] : "?";
}

int ttc_prm_kind_parse(const char *name, ttc_prm_kind *out, ttc_err *e) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, kind_names[i])) { *out = (ttc_prm_kind)i; return TTC_OK; }
    return ttc_err_set(e, TTC_EINVAL, "PRM kind '%s': expected lm-token, head-2class or head-value",
                       name ? name : "(null)");
}

/* Reads the optional string key into dst (cap bytes); TTC_OK when absent. */
static int get_text(const ttc_gguf *g, const char *key, char *dst, size_t cap, ttc_err *e) {
    if (ttc_gguf_find_key(g, key) < 0) return TTC_OK;
    const char *s;
    int rc = ttc_gguf_get_str(g, key, &s, e);
    if (rc) return rc;
    if (strlen(s) >= cap)
        return ttc_err_set(e, TTC_EFORMAT, "%s: key %s: %zu bytes, at most %zu", ttc_gguf_path(g), key,
                           strlen(s), cap - 1);
    strcpy(dst, s);
    return TTC_OK;
}

static int get_flag(const ttc_gguf *g, const char *key, bool *dst, ttc_err *e) {
    if (ttc_gguf_find_key(g, key) < 0) return TTC_OK;
    return ttc_gguf_get_bool(g, key, dst, e);
}

int ttc_prm_format_from_gguf(const ttc_gguf *g, ttc_prm_format *out, ttc_err *e) {
    char name[64] = "ttc", kind[32] = "";
    int rc = get_text(g, "ttc.prm.format", name, sizeof name, e);
    if (rc) return rc;
    if ((rc = ttc_prm_preset(name, out, e)))
        return ttc_err_wrap(e, "%s: key ttc.prm.format: ", ttc_gguf_path(g));
    if ((rc = get_text(g, "ttc.prm.kind", kind, sizeof kind, e))) return rc;
    if (kind[0] && (rc = ttc_prm_kind_parse(kind, &out->kind, e)))
        return ttc_err_wrap(e, "%s: key ttc.prm.kind: ", ttc_gguf_path(g));
    const struct { const char *key; char *dst; size_t cap; } texts[] = {
        {"ttc.prm.tag", out->tag, sizeof out->tag},
        {"ttc.prm.pos", out->pos, sizeof out->pos},
        {"ttc.prm.neg", out->neg, sizeof out->neg},
        {"ttc.prm.root_prefix", out->root_prefix, TTC_PRM_TEXT},
        {"ttc.prm.root_suffix", out->root_suffix, TTC_PRM_TEXT},
        {"ttc.prm.first_prefix", out->first_prefix, TTC_PRM_TEXT},
        {"ttc.prm.step_prefix", out->step_prefix, TTC_PRM_TEXT},
        {"ttc.prm.step_suffix", out->step_suffix, TTC_PRM_TEXT},
        {"ttc.prm.after", out->after, TTC_PRM_TEXT},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if ((rc = get_text(g, texts[i].key, texts[i].dst, texts[i].cap, e))) return rc;
    if ((rc = get_flag(g, "ttc.prm.outcome", &out->outcome, e))) return rc;
    if ((rc = get_flag(g, "ttc.prm.strip_newline", &out->strip_newline, e))) return rc;
    if (out->kind == TTC_PRM_LM_TOKEN && (!out->pos[0] || !out->neg[0]))
        return ttc_err_set(e, TTC_EFORMAT, "%s: PRM format %s: lm-token needs ttc.prm.pos and ttc.prm.neg",
                           ttc_gguf_path(g), out->name);
    return TTC_OK;
}

/* ---- a format bound to a model ----------------------------------------- */

/* The single token text stands for: what it tokenizes to when that is one
 * token, else the vocabulary entry spelled exactly so. */
static int reader_token(const ttc_model *m, const ttc_prm_format *f, const char *field,
                        const char *text, int32_t *out, ttc_err *e) {
    const ttc_tokenizer *tok = ttc_model_tokenizer(m);
    int32_t *ids = NULL;
    int n = 0;
    *out = -1;
    int rc = ttc_tokenize_alloc(tok, text, strlen(text), false, true, &ids, &n, e);
    if (!rc && n == 1) *out = ids[0];
    free(ids);
    if (*out < 0) *out = ttc_tokenizer_find(tok, text);
    if (*out < 0)
        return ttc_err_set(e, TTC_ENOTFOUND, "%s: PRM format %s: %s '%s' is not a single token of the "
                           "vocabulary (it tokenizes to %d tokens)", m->path, f->name, field, text, n);
    return TTC_OK;
}

/* Dequantizes tensor name (shape [rows][cols]; rows = 1 for vectors given
 * as 1-D) into a fresh float array. */
static int reader_tensor(const ttc_model *m, const char *name, int n_dims, int64_t cols, int64_t rows,
                         float **out, ttc_err *e) {
    const ttc_gguf_tensor *t;
    int64_t ne[2] = {cols, rows};
    int rc = ttc_gguf_tensor_get(m->gguf, name, n_dims, ne, &t, e);
    if (rc) return ttc_err_wrap(e, "PRM head: ");
    float *w = malloc((size_t)(cols * rows) * sizeof *w);
    if (!w) return ttc_err_set(e, TTC_ENOMEM, "%s: PRM head %s: out of memory", m->path, name);
    size_t rb = ttc_type_row_bytes(t->type, cols);
    for (int64_t r = 0; r < rows && !rc; r++)
        rc = ttc_dequantize_row(t->type, (const char *)t->data + (size_t)r * rb, w + r * cols, cols, e);
    if (rc) { free(w); return ttc_err_wrap(e, "%s: PRM head %s: ", m->path, name); }
    *out = w;
    return TTC_OK;
}

int ttc_prm_reader_init(ttc_prm_reader *r, const ttc_model *m, const ttc_prm_format *fmt,
                        ttc_err *e) {
    memset(r, 0, sizeof *r);
    r->f = *fmt;
    r->tag = r->pos = r->neg = -1;
    r->d = m->cfg.n_embd;
    if (!ttc_model_tokenizer(m)) return ttc_err_set(e, TTC_EINVAL, "verifier: %s has no tokenizer", m->path);
    int rc = TTC_OK;
    if (fmt->tag[0]) rc = reader_token(m, fmt, "tag", fmt->tag, &r->tag, e);
    if (!rc && fmt->kind == TTC_PRM_LM_TOKEN) {
        rc = reader_token(m, fmt, "pos", fmt->pos, &r->pos, e);
        if (!rc) rc = reader_token(m, fmt, "neg", fmt->neg, &r->neg, e);
    }
    if (!rc && fmt->kind == TTC_PRM_HEAD_2CLASS) {
        rc = reader_tensor(m, "prm_head.0.weight", 2, r->d, r->d, &r->w1, e);
        if (!rc) rc = reader_tensor(m, "prm_head.0.bias", 1, r->d, 1, &r->b1, e);
        if (!rc) rc = reader_tensor(m, "prm_head.2.weight", 2, r->d, 2, &r->w2, e);
        if (!rc) rc = reader_tensor(m, "prm_head.2.bias", 1, 2, 1, &r->b2, e);
    }
    if (!rc && fmt->kind == TTC_PRM_HEAD_VALUE) {
        float *b = NULL;
        rc = reader_tensor(m, "prm_value.weight", 2, r->d, 1, &r->wv, e);
        if (!rc) rc = reader_tensor(m, "prm_value.bias", 1, 1, 1, &b, e);
        if (!rc) r->bv = b[0];
        free(b);
    }
    if (rc) ttc_prm_reader_free(r);
    return rc;
}

void ttc_prm_reader_free(ttc_prm_reader *r) {
    if (!r) return;
    free(r->w1); free(r->b1); free(r->w2); free(r->b2); free(r->wv);
    r->w1 = r->b1 = r->w2 = r->b2 = r->wv = NULL;
}

static float sigmoid(double z) { return (float)(1.0 / (1.0 + exp(-z))); }

float ttc_prm_reader_score(const ttc_prm_reader *r, const float *logits, const float *hidden,
                           float *tmp) {
    if (r->f.kind == TTC_PRM_LM_TOKEN)
        return logits ? sigmoid((double)logits[r->pos] - (double)logits[r->neg]) : NAN;
    if (!hidden) return NAN;
    int d = r->d;
    if (r->f.kind == TTC_PRM_HEAD_VALUE) {
        double z = r->bv;
        for (int j = 0; j < d; j++) z += (double)r->wv[j] * hidden[j];
        return sigmoid(z);
    }
    for (int i = 0; i < d; i++) {   /* 2-class head: relu(W1 h + b1), then W2 */
        const float *w = r->w1 + (size_t)i * d;
        float z = r->b1[i];
        for (int j = 0; j < d; j++) z += w[j] * hidden[j];
        tmp[i] = z > 0 ? z : 0;
    }
    double z[2];
    for (int k = 0; k < 2; k++) {
        const float *w = r->w2 + (size_t)k * d;
        double acc = r->b2[k];
        for (int j = 0; j < d; j++) acc += (double)w[j] * tmp[j];
        z[k] = acc;
    }
    return sigmoid(z[1] - z[0]);
}
