/* Tokenizer <-> GGUF metadata (the tokenizer.ggml.* keys llama.cpp uses). */
#include "tokenizer/tok_internal.h"
#include "gguf/gguf.h"

#include <stdlib.h>
#include <string.h>

/* Optional id key: -1 when absent. */
static int get_id(const ttc_gguf *g, const char *key, int32_t *out, ttc_err *e) {
    int64_t v;
    int rc = ttc_gguf_get_int(g, key, -1, INT32_MAX, &v, e);
    if (rc == TTC_ENOTFOUND) { *out = -1; return TTC_OK; }
    if (rc) return rc;
    *out = (int32_t)v;
    return TTC_OK;
}

static int get_bool(const ttc_gguf *g, const char *key, bool dflt, bool *out, ttc_err *e) {
    int rc = ttc_gguf_get_bool(g, key, out, e);
    if (rc == TTC_ENOTFOUND) { *out = dflt; return TTC_OK; }
    return rc;
}

/* Optional numeric array of exactly n elements of type want; *data NULL when
 * absent. */
static int get_arr(const ttc_gguf *g, const char *key, int want, uint64_t n, const void **data,
                   ttc_err *e) {
    int type;
    uint64_t m;
    *data = NULL;
    if (ttc_gguf_find_key(g, key) < 0) return TTC_OK;
    int rc = ttc_gguf_get_arr(g, key, &type, &m, data, e);
    if (rc) return rc;
    if (type != want)
        return ttc_err_set(e, TTC_EFORMAT, "%s: %s: array of %s, expected %s", ttc_gguf_path(g),
                           key, ttc_gguf_vtype_name(type), ttc_gguf_vtype_name(want));
    if (m != n)
        return ttc_err_set(e, TTC_EFORMAT, "%s: %s: %llu elements for %llu tokens", ttc_gguf_path(g),
                           key, (unsigned long long)m, (unsigned long long)n);
    return TTC_OK;
}

/* Pointers and lengths of every element of the string array `key`. */
static int get_strs(const ttc_gguf *g, const char *key, bool required, const char ***strs,
                    uint32_t **lens, int *n, ttc_err *e) {
    *strs = NULL;
    *lens = NULL;
    *n = 0;
    int64_t k = ttc_gguf_find_key(g, key);
    if (k < 0) {
        if (!required) return TTC_OK;
        return ttc_err_set(e, TTC_ENOTFOUND, "%s: key %s is missing", ttc_gguf_path(g), key);
    }
    const ttc_gguf_kv *kv = ttc_gguf_kv_at(g, k);
    if (kv->type != TTC_GGUF_ARR || kv->arr_type != TTC_GGUF_STR)
        return ttc_err_set(e, TTC_EFORMAT, "%s: %s: expected an array of strings", ttc_gguf_path(g), key);
    if (kv->n > INT32_MAX / 2)
        return ttc_err_set(e, TTC_EFORMAT, "%s: %s: %llu elements is too many", ttc_gguf_path(g), key,
                           (unsigned long long)kv->n);
    int cnt = (int)kv->n;
    *strs = malloc(sizeof **strs * (size_t)(cnt ? cnt : 1));
    *lens = malloc(sizeof **lens * (size_t)(cnt ? cnt : 1));
    if (!*strs || !*lens) return ttc_err_set(e, TTC_ENOMEM, "%s: %s: out of memory", ttc_gguf_path(g), key);
    for (int i = 0; i < cnt; i++) {
        size_t len;
        (*strs)[i] = ttc_gguf_kv_str(g, k, (uint64_t)i, &len);
        if (!(*strs)[i] || len > UINT32_MAX / 4)
            return ttc_err_set(e, TTC_EFORMAT, "%s: %s[%d]: unreadable string", ttc_gguf_path(g), key, i);
        (*lens)[i] = (uint32_t)len;
    }
    *n = cnt;
    return TTC_OK;
}

int ttc_tokenizer_from_gguf(const ttc_gguf *g, ttc_tokenizer **out, ttc_err *e) {
    *out = NULL;
    ttc_tokenizer_spec sp = ttc_tokenizer_spec_default();
    const char **tokens = NULL, **merges = NULL;
    uint32_t *tlens = NULL, *mlens = NULL;
    int rc, n;
    if ((rc = ttc_gguf_get_str(g, "tokenizer.ggml.model", &sp.model, e))) goto done;
    rc = ttc_gguf_get_str(g, "tokenizer.ggml.pre", &sp.pre, e);
    if (rc == TTC_ENOTFOUND) { sp.pre = "default"; rc = TTC_OK; }
    if (rc) goto done;
    if ((rc = get_strs(g, "tokenizer.ggml.tokens", true, &tokens, &tlens, &n, e))) goto done;
    sp.n_vocab = n;
    sp.tokens = tokens;
    sp.token_lens = tlens;
    const void *p;
    if ((rc = get_arr(g, "tokenizer.ggml.token_type", TTC_GGUF_I32, (uint64_t)n, &p, e))) goto done;
    sp.types = p;
    if ((rc = get_arr(g, "tokenizer.ggml.scores", TTC_GGUF_F32, (uint64_t)n, &p, e))) goto done;
    sp.scores = p;
    if ((rc = get_strs(g, "tokenizer.ggml.merges", false, &merges, &mlens, &sp.n_merges, e))) goto done;
    sp.merges = merges;
    sp.merge_lens = mlens;
    if ((rc = get_id(g, "tokenizer.ggml.bos_token_id", &sp.bos, e)) ||
        (rc = get_id(g, "tokenizer.ggml.eos_token_id", &sp.eos, e)) ||
        (rc = get_id(g, "tokenizer.ggml.eot_token_id", &sp.eot, e)) ||
        (rc = get_id(g, "tokenizer.ggml.eom_token_id", &sp.eom, e)) ||
        (rc = get_id(g, "tokenizer.ggml.unknown_token_id", &sp.unk, e)) ||
        (rc = get_id(g, "tokenizer.ggml.padding_token_id", &sp.pad, e)))
        goto done;
    /* llama.cpp's defaults: SPM and Llama 3 add BOS, other BPE vocabularies not */
    tok_pre pre;
    bool spm = !strcmp(sp.model, "llama");
    bool bos_dflt = spm || (tok_pre_from_name(sp.pre, &pre) && pre == TOK_PRE_LLAMA3);
    if ((rc = get_bool(g, "tokenizer.ggml.add_bos_token", bos_dflt, &sp.add_bos, e)) ||
        (rc = get_bool(g, "tokenizer.ggml.add_eos_token", false, &sp.add_eos, e)) ||
        (rc = get_bool(g, "tokenizer.ggml.add_space_prefix", true, &sp.add_space_prefix, e)))
        goto done;
    rc = ttc_gguf_get_str(g, "tokenizer.chat_template", &sp.chat_template, e);
    if (rc == TTC_ENOTFOUND) { sp.chat_template = NULL; rc = TTC_OK; }
    if (rc) goto done;
    if ((rc = ttc_tokenizer_new(&sp, out, e))) {
        ttc_err_wrap(e, "%s: ", ttc_gguf_path(g));
        goto done;
    }
    if ((*out)->eot < 0) {          /* as llama.cpp: find an end-of-turn token */
        static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
        for (size_t i = 0; i < sizeof eot_names / sizeof eot_names[0]; i++) {
            int32_t id = ttc_tokenizer_find(*out, eot_names[i]);
            if (id >= 0 && ttc_tokenizer_is_special(*out, id)) { (*out)->eot = id; break; }
        }
    }
done:
    free(tokens); free(tlens); free(merges); free(mlens);
    return rc;
}

int ttc_tokenizer_to_gguf(const ttc_tokenizer *t, ttc_gguf_writer *w, ttc_err *e) {
    int rc, n = t->n_vocab;
    const char **strs = malloc(sizeof *strs * (size_t)n);
    size_t *lens = malloc(sizeof *lens * (size_t)n);
    int32_t *types = malloc(sizeof *types * (size_t)n);
    float *scores = malloc(sizeof *scores * (size_t)n);
    char **mstr = NULL;
    if (!strs || !lens || !types || !scores) { rc = ttc_err_set(e, TTC_ENOMEM, "tokenizer: out of memory"); goto done; }
    bool any_score = false;
    for (int i = 0; i < n; i++) {
        strs[i] = t->text + t->tok[i].off;
        lens[i] = t->tok[i].len;
        types[i] = t->tok[i].type;
        scores[i] = t->tok[i].score;
        any_score |= scores[i] != 0.0f;
    }
    const char *model = t->model == TTC_TOK_BPE ? "gpt2" : "llama";
    if ((rc = ttc_gguf_set_str(w, "tokenizer.ggml.model", model, e)) ||
        (rc = ttc_gguf_set_str(w, "tokenizer.ggml.pre", t->pre_name, e)) ||
        (rc = ttc_gguf_set_arr_str(w, "tokenizer.ggml.tokens", strs, lens, (uint64_t)n, e)) ||
        (rc = ttc_gguf_set_arr(w, "tokenizer.ggml.token_type", TTC_GGUF_I32, types, (uint64_t)n, e)))
        goto done;
    if ((t->model == TTC_TOK_SPM || any_score) &&
        (rc = ttc_gguf_set_arr(w, "tokenizer.ggml.scores", TTC_GGUF_F32, scores, (uint64_t)n, e)))
        goto done;
    if (t->model == TTC_TOK_BPE) {
        mstr = calloc((size_t)(t->n_merges ? t->n_merges : 1), sizeof *mstr);
        if (!mstr) { rc = ttc_err_set(e, TTC_ENOMEM, "tokenizer: out of memory"); goto done; }
        for (int r = 0; r < t->n_merges; r++) {
            const tok_entry *a = &t->tok[t->merges[r].left], *b = &t->tok[t->merges[r].right];
            mstr[r] = malloc((size_t)a->len + b->len + 2);
            if (!mstr[r]) { rc = ttc_err_set(e, TTC_ENOMEM, "tokenizer: out of memory"); goto done; }
            memcpy(mstr[r], t->text + a->off, a->len);
            mstr[r][a->len] = ' ';
            memcpy(mstr[r] + a->len + 1, t->text + b->off, b->len);
            mstr[r][a->len + 1 + b->len] = 0;
        }
        if ((rc = ttc_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)mstr, NULL,
                                       (uint64_t)t->n_merges, e)))
            goto done;
    }
    static const char *const id_keys[] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
    };
    const int32_t ids[] = {t->bos, t->eos, t->eot, t->eom, t->unk, t->pad};
    for (int i = 0; i < 6; i++)
        if (ids[i] >= 0 && (rc = ttc_gguf_set_u32(w, id_keys[i], (uint32_t)ids[i], e))) goto done;
    if ((rc = ttc_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos, e)) ||
        (rc = ttc_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", t->add_eos, e)))
        goto done;
    if (t->model == TTC_TOK_SPM &&
        (rc = ttc_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", t->add_space_prefix, e)))
        goto done;
    if (t->chat_template && (rc = ttc_gguf_set_str(w, "tokenizer.chat_template", t->chat_template, e)))
        goto done;
done:
    if (mstr) for (int r = 0; r < t->n_merges; r++) free(mstr[r]);
    free(mstr); free(strs); free(lens); free(types); free(scores);
    return rc;
}
