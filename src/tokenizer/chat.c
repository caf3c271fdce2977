/* Chat templates (see chat.h for the exact formats). */
#include "tokenizer/chat.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    [TTC_CHAT_PLAIN] = "plain", [TTC_CHAT_CHATML] = "chatml", [TTC_CHAT_LLAMA3] = "llama3",
    [TTC_CHAT_LLAMA2] = "llama2", [TTC_CHAT_MISTRAL] = "mistral",
};

const char *ttc_chat_kind_name(ttc_chat_kind kind) {
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "?";
}

int ttc_chat_kind_from_name(const char *name, ttc_chat_kind *out, ttc_err *e) {
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (name && !strcmp(name, kind_names[i])) { *out = (ttc_chat_kind)i; return TTC_OK; }
    if (name && !strcmp(name, "qwen")) { *out = TTC_CHAT_CHATML; return TTC_OK; }
    return ttc_err_set(e, TTC_ENOTFOUND,
                       "chat template '%s' is unknown (chatml, llama3, llama2, mistral, plain)",
                       name ? name : "(null)");
}

ttc_chat_kind ttc_chat_detect(const char *t) {
    if (!t) return TTC_CHAT_PLAIN;
    if (strstr(t, "<|im_start|>")) return TTC_CHAT_CHATML;
    if (strstr(t, "<|start_header_id|>")) return TTC_CHAT_LLAMA3;
    if (strstr(t, "[INST]")) return strstr(t, "<<SYS>>") ? TTC_CHAT_LLAMA2 : TTC_CHAT_MISTRAL;
    return TTC_CHAT_PLAIN;
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Appends s without leading and trailing whitespace. */
static void append_trimmed(ttc_buf *b, const char *s, size_t n) {
    while (n && is_space(*s)) { s++; n--; }
    while (n && is_space(s[n - 1])) n--;
    ttc_buf_append(b, s, n);
}

/* [INST] formats: system text waits for the next user turn. */
static void format_inst(ttc_buf *b, bool llama2, const ttc_chat_msg *m, int n) {
    const char *sys = NULL;
    bool first = true;
    ttc_buf turn = {0};
    for (int i = 0; i < n; i++) {
        if (!strcmp(m[i].role, "system")) { sys = m[i].content; continue; }
        if (!strcmp(m[i].role, "user")) {
            turn.len = 0;
            if (sys && llama2) ttc_buf_printf(&turn, "<<SYS>>\n%s\n<</SYS>>\n\n", sys);
            else if (sys) ttc_buf_printf(&turn, "%s\n\n", sys);
            ttc_buf_printf(&turn, "%s", m[i].content);
            sys = NULL;
            if (turn.oom) { b->oom = true; break; }
            if (llama2 && !first) ttc_buf_printf(b, "<s>");
            ttc_buf_printf(b, "[INST] ");
            if (llama2) append_trimmed(b, turn.data, turn.len);
            else ttc_buf_append(b, turn.data, turn.len);
            ttc_buf_printf(b, " [/INST]");
        } else if (llama2) {
            ttc_buf_printf(b, " ");
            append_trimmed(b, m[i].content, strlen(m[i].content));
            ttc_buf_printf(b, " </s>");
        } else {
            ttc_buf_printf(b, "%s</s>", m[i].content);
        }
        first = false;
    }
    ttc_buf_free(&turn);
}

int ttc_chat_format(ttc_chat_kind kind, const ttc_chat_msg *m, int n, bool gen, char **out,
                    ttc_err *e) {
    *out = NULL;
    if (n < 0 || (n && !m)) return ttc_err_set(e, TTC_EINVAL, "chat: bad message list");
    for (int i = 0; i < n; i++)
        if (!m[i].role || !m[i].content)
            return ttc_err_set(e, TTC_EINVAL, "chat: message %d has no %s", i, m[i].role ? "content" : "role");
    ttc_buf b = {0};
    ttc_buf_append(&b, "", 0);
    switch (kind) {
    case TTC_CHAT_CHATML:
        for (int i = 0; i < n; i++)
            ttc_buf_printf(&b, "<|im_start|>%s\n%s<|im_end|>\n", m[i].role, m[i].content);
        if (gen) ttc_buf_printf(&b, "<|im_start|>assistant\n");
        break;
    case TTC_CHAT_LLAMA3:
        for (int i = 0; i < n; i++) {
            ttc_buf_printf(&b, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role);
            append_trimmed(&b, m[i].content, strlen(m[i].content));
            ttc_buf_printf(&b, "<|eot_id|>");
        }
        if (gen) ttc_buf_printf(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case TTC_CHAT_LLAMA2:
    case TTC_CHAT_MISTRAL:
        format_inst(&b, kind == TTC_CHAT_LLAMA2, m, n);
        break;
    case TTC_CHAT_PLAIN:
        for (int i = 0; i < n; i++) {
            if (!strcmp(m[i].role, "system")) ttc_buf_printf(&b, "%s\n\n", m[i].content);
            else if (!strcmp(m[i].role, "user")) ttc_buf_printf(&b, "User: %s\n", m[i].content);
            else if (!strcmp(m[i].role, "assistant")) ttc_buf_printf(&b, "Assistant: %s\n", m[i].content);
            else ttc_buf_printf(&b, "%s: %s\n", m[i].role, m[i].content);
        }
        if (gen) ttc_buf_printf(&b, "Assistant:");
        break;
    default:
        return ttc_err_set(e, TTC_EINVAL, "chat: unknown template kind %d", (int)kind);
    }
    if (b.oom) {
        ttc_buf_free(&b);
        return ttc_err_set(e, TTC_ENOMEM, "chat: out of memory formatting %d messages", n);
    }
    *out = b.data;
    return TTC_OK;
}
