/* Chat templates: turn a list of messages into the prompt text a chat
 * model was trained on. The text never starts with the BOS token: tokenize
 * it with add_bos = ttc_tokenizer_add_bos(tok) and parse_special = true.
 *
 *   chatml  (Qwen)     <|im_start|>ROLE\nCONTENT<|im_end|>\n ...
 *                      prompt: <|im_start|>assistant\n
 *   llama3             <|start_header_id|>ROLE<|end_header_id|>\n\nTRIMMED<|eot_id|> ...
 *                      prompt: <|start_header_id|>assistant<|end_header_id|>\n\n
 *   llama2             [INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nUSER [/INST] ASSISTANT </s><s>[INST] USER [/INST]
 *                      (system folded into the next user turn; turn text trimmed;
 *                      later turns start with a literal <s>)
 *   mistral            [INST] USER [/INST]ASSISTANT</s>[INST] USER [/INST]
 *                      (system folded into the next user turn as "SYSTEM\n\nUSER")
 *   plain              SYSTEM\n\n  "User: CONTENT\n"  "Assistant: CONTENT\n"
 *                      prompt: "Assistant:"
 * For llama2/mistral the prompt always ends after [/INST], so
 * add_generation_prompt changes nothing there. */
#ifndef TTC_CHAT_H
#define TTC_CHAT_H
#include <stdbool.h>
#include "ttc.h"

typedef enum ttc_chat_kind {
    TTC_CHAT_PLAIN,
    TTC_CHAT_CHATML,
    TTC_CHAT_LLAMA3,
    TTC_CHAT_LLAMA2,
    TTC_CHAT_MISTRAL,
} ttc_chat_kind;

#ifndef TTC_CHAT_MSG_DEFINED
#define TTC_CHAT_MSG_DEFINED
/* One message; role is "system", "user", "assistant" (others are kept as
 * written by chatml/llama3/plain and treated as assistant by llama2/mistral). */
typedef struct ttc_chat_msg {
    char *role;
    char *content;
} ttc_chat_msg;
#endif

/* Formats n messages as `kind` into a fresh NUL-terminated string (*out,
 * caller frees). NULL role or content: TTC_EINVAL naming the message. */
int ttc_chat_format(ttc_chat_kind kind, const ttc_chat_msg *msgs, int n,
                    bool add_generation_prompt, char **out, ttc_err *e);

/* Picks the kind from a Jinja chat template (tokenizer.chat_template) by its
 * markers: <|im_start|> -> chatml, <|start_header_id|> -> llama3, [INST] with
 * <<SYS>> -> llama2, [INST] -> mistral, anything else (or NULL) -> plain. */
ttc_chat_kind ttc_chat_detect(const char *jinja_template);

/* Kind by name: "chatml" (also "qwen"), "llama3", "llama2", "mistral",
 * "plain"; TTC_ENOTFOUND naming the value otherwise. */
int ttc_chat_kind_from_name(const char *name, ttc_chat_kind *out, ttc_err *e);
/* Canonical name of a kind ("chatml", ...). */
const char *ttc_chat_kind_name(ttc_chat_kind kind);
#endif
