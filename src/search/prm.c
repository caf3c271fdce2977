/* PRM format descriptions: presets and GGUF metadata (see prm.h). */
#include "search/prm.h"

#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"

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
