/* Chat templates: exact expected prompts per format, detection, names. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/chat.h"

static const ttc_chat_msg conv[] = {
    {"system", "You are terse."},
    {"user", "What is 2+2?"},
    {"assistant", " 4 "},
    {"user", "And 3+3?\n"},
};

static void expect(ttc_chat_kind kind, const ttc_chat_msg *m, int n, bool gen, const char *want) {
    char *out;
    ttc_err e = {0};
    cr_assert_eq(ttc_chat_format(kind, m, n, gen, &out, &e), TTC_OK, "%s", e.msg);
    cr_assert_str_eq(out, want, "%s:\n%s\n---- expected\n%s", ttc_chat_kind_name(kind), out, want);
    free(out);
}

Test(chat, chatml) {
    expect(TTC_CHAT_CHATML, conv, 4, true,
           "<|im_start|>system\nYou are terse.<|im_end|>\n"
           "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
           "<|im_start|>assistant\n 4 <|im_end|>\n"
           "<|im_start|>user\nAnd 3+3?\n<|im_end|>\n"
           "<|im_start|>assistant\n");
    expect(TTC_CHAT_CHATML, conv + 1, 1, false, "<|im_start|>user\nWhat is 2+2?<|im_end|>\n");
}

Test(chat, llama3) {
    expect(TTC_CHAT_LLAMA3, conv, 4, true,
           "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

Test(chat, llama2_folds_system_into_first_user_turn) {
    expect(TTC_CHAT_LLAMA2, conv, 4, true,
           "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nWhat is 2+2? [/INST] 4 </s>"
           "<s>[INST] And 3+3? [/INST]");
    expect(TTC_CHAT_LLAMA2, conv + 1, 1, true, "[INST] What is 2+2? [/INST]");
}

Test(chat, mistral) {
    expect(TTC_CHAT_MISTRAL, conv, 4, true,
           "[INST] You are terse.\n\nWhat is 2+2? [/INST] 4 </s>[INST] And 3+3?\n [/INST]");
}

Test(chat, plain) {
    expect(TTC_CHAT_PLAIN, conv, 4, true,
           "You are terse.\n\nUser: What is 2+2?\nAssistant:  4 \nUser: And 3+3?\n\nAssistant:");
    expect(TTC_CHAT_PLAIN, NULL, 0, false, "");
}

Test(chat, bad_messages) {
    ttc_chat_msg m[] = {{"user", NULL}};
    char *out;
    ttc_err e = {0};
    cr_assert_eq(ttc_chat_format(TTC_CHAT_CHATML, m, 1, true, &out, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "message 0"), "%s", e.msg);
    cr_assert_null(out);
}

Test(chat, detect_and_names) {
    cr_assert_eq(ttc_chat_detect("{% for message in messages %}{{'<|im_start|>' + message['role']"),
                 TTC_CHAT_CHATML);
    cr_assert_eq(ttc_chat_detect("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}"),
                 TTC_CHAT_LLAMA3);
    cr_assert_eq(ttc_chat_detect("{{ bos_token + '[INST] ' + '<<SYS>>\\n' }}"), TTC_CHAT_LLAMA2);
    cr_assert_eq(ttc_chat_detect("{{ '[INST] ' + message['content'] + ' [/INST]' }}"), TTC_CHAT_MISTRAL);
    cr_assert_eq(ttc_chat_detect("{{ message['content'] }}"), TTC_CHAT_PLAIN);
    cr_assert_eq(ttc_chat_detect(NULL), TTC_CHAT_PLAIN);
    ttc_chat_kind k;
    ttc_err e = {0};
    const char *names[] = {"plain", "chatml", "llama3", "llama2", "mistral"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(ttc_chat_kind_from_name(names[i], &k, &e), TTC_OK);
        cr_assert_eq((int)k, i);
        cr_assert_str_eq(ttc_chat_kind_name(k), names[i]);
    }
    cr_assert_eq(ttc_chat_kind_from_name("qwen", &k, &e), TTC_OK);
    cr_assert_eq(k, TTC_CHAT_CHATML);
    cr_assert_eq(ttc_chat_kind_from_name("vicuna", &k, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "'vicuna'"), "%s", e.msg);
}
