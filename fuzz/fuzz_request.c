/* libFuzzer target: the OpenAI request parser and validator (serve/api.h).
 * Byte 0 picks the endpoint (chat or completions, or /pooling when bit 2
 * is set); the rest is the body.
 * A request that validates is then rendered back through the response,
 * chunk and error builders, which must accept whatever the parser let in. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 4) {
        ttc_api_limits lim;
        ttc_api_limits_default(&lim);
        lim.model_id = "m";
        lim.max_prompt_bytes = 4096;
        ttc_api_pool_req r;
        ttc_api_fault f;
        ttc_err e;
        if (ttc_api_pool_parse((const char *)data + 1, size - 1, &lim, &r, &f, &e)) {
            if (f.status < 400 || f.status > 499 || !f.type || !e.msg[0]) abort();
            free(ttc_api_error_json(&f, e.msg));
            return 0;
        }
        if (r.n_inputs < 1 || r.n_inputs > TTC_API_MAX_POOL_INPUTS) abort();
        float row[2] = {0.25f, 0.75f};
        const float *rows[TTC_API_MAX_POOL_INPUTS];
        int n_rows[TTC_API_MAX_POOL_INPUTS];
        for (int i = 0; i < r.n_inputs; i++) {
            if (strlen(r.inputs[i]) != r.lens[i] || r.lens[i] == 0) abort();
            rows[i] = row;
            n_rows[i] = 1;
        }
        char *s = ttc_api_pool_json("pool-1", 1, r.model, rows, n_rows, r.n_inputs, 3);
        if (!s) abort();
        free(s);
        ttc_api_pool_req_free(&r);
        return 0;
    }
    ttc_api_kind kind = (data[0] & 1) ? TTC_API_COMPLETION : TTC_API_CHAT;
    ttc_api_limits lim;
    ttc_api_limits_default(&lim);
    lim.model_id = "m";
    lim.max_n = 4;
    lim.max_budget = 64;
    lim.max_prompt_bytes = 4096;
    if (data[0] & 2) lim.default_strategy = TTC_STRAT_AUTO, lim.default_budget = 8;
    ttc_api_req r;
    ttc_api_fault f;
    ttc_err e;
    int rc = ttc_api_req_parse((const char *)data + 1, size - 1, kind, &lim, &r, &f, &e);
    if (rc) {
        if (f.status < 400 || f.status > 499 || !f.type || !e.msg[0]) abort();
        free(ttc_api_error_json(&f, e.msg));
        return 0;
    }
    if (r.n < 1 || r.n > lim.max_n || r.max_tokens < 1 || r.budget < 1) abort();
    const char *text = kind == TTC_API_CHAT ? r.messages[r.n_messages - 1].content : r.prompt;
    ttc_api_choice c = {.text = text, .len = strlen(text), .finish_reason = "stop"};
    ttc_api_usage u = {.prompt_tokens = 1, .completion_tokens = 2,
                       .strategy_used = r.strategy ? ttc_strategy_name(r.strategy) : NULL};
    char *s = ttc_api_response_json(kind, "id", 1, r.model, &c, 1, &u);
    if (!s) abort();
    free(s);
    s = ttc_api_chunk_sse(kind, "id", 1, r.model, 0, true, text, strlen(text), NULL, NULL, NULL, 0);
    if (!s) abort();
    free(s);
    /* a chunk with logprobs of two tokens (the text split in halves) */
    size_t half = strlen(text) / 2;
    char *t0 = strndup(text, half), *t1 = strdup(text + half);
    if (!t0 || !t1) abort();
    const char *toks[2] = {t0, t1}, *tops[2] = {t1, t0};
    float lps[2] = {-0.5f, -1.5f};
    ttc_api_choice lp = {.n_tokens = 2, .token_text = toks, .token_logprob = lps, .top_k = 1, .top_text = tops,
                         .top_logprob = lps};
    s = ttc_api_chunk_sse(kind, "id", 1, r.model, 0, false, text, strlen(text), NULL, NULL, &lp, 3);
    free(t0);
    free(t1);
    if (!s) abort();
    free(s);
    ttc_api_req_free(&r);
    return 0;
}
