/* Verifier token format (see prm.h). */
#include "train/prm.h"

#include <stdlib.h>
#include <string.h>

int ttc_prm_tokens(const ttc_tokenizer *tok, int32_t *tag, int32_t *good, int32_t *bad,
                   ttc_err *e) {
    const char *names[3] = {TTC_PRM_TAG, TTC_PRM_GOOD, TTC_PRM_BAD};
    int32_t *outs[3] = {tag, good, bad};
    for (int i = 0; i < 3; i++) {
        int32_t id = ttc_tokenizer_find(tok, names[i]);
        if (id < 0)
            return ttc_err_set(e, TTC_ENOTFOUND,
                               "vocabulary has no '%s' token (needed by the verifier format)",
                               names[i]);
        if (outs[i]) *outs[i] = id;
    }
    return TTC_OK;
}

/* Appends the tokens of text to the growing array *ids (size *n, capacity
 * *cap). */
static int append_text(const ttc_tokenizer *tok, const char *text, bool bos, int32_t **ids,
                       int *n, int *cap, ttc_err *e) {
    int32_t *t = NULL;
    int nt = 0;
    int rc = ttc_tokenize_alloc(tok, text, strlen(text), bos, false, &t, &nt, e);
    if (rc) return rc;
    if (*n + nt + 1 > *cap) {
        int nc = (*n + nt + 1) * 2;
        int32_t *g = realloc(*ids, (size_t)nc * sizeof(int32_t));
        if (!g) { free(t); return ttc_err_set(e, TTC_ENOMEM, "prm encode: out of memory"); }
        *ids = g;
        *cap = nc;
    }
    memcpy(*ids + *n, t, (size_t)nt * sizeof(int32_t));
    *n += nt;
    free(t);
    return TTC_OK;
}

int ttc_prm_encode(const ttc_tokenizer *tok, const char *prompt, const char *const *steps,
                   int n_steps, int32_t **ids, int *n, int *tag_pos, ttc_err *e) {
    *ids = NULL;
    *n = 0;
    int32_t tag;
    int rc = ttc_prm_tokens(tok, &tag, NULL, NULL, e);
    if (rc) return rc;
    int cap = 0;
    rc = append_text(tok, prompt, ttc_tokenizer_add_bos(tok), ids, n, &cap, e);
    for (int k = 0; !rc && k < n_steps; k++) {
        rc = append_text(tok, steps[k], false, ids, n, &cap, e);
        if (rc) break;
        if (tag_pos) tag_pos[k] = *n;
        (*ids)[(*n)++] = tag;   /* append_text left room for one more */
    }
    if (rc) { free(*ids); *ids = NULL; *n = 0; }
    return rc;
}
