/* pass@k evaluation over the local engine; see eval.h. */
#include "data/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/grader.h"
#include "data/prompt.h"
#include "model/ctx.h"
#include "model/generate.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

ttc_eval_params ttc_eval_params_default(void) {
    return (ttc_eval_params){.samples = 1, .temperature = 0.7f, .top_p = 1.0f, .max_tokens = 512};
}

double ttc_pass_at_k(int n, int c, int k) {
    if (n <= 0 || k <= 0 || k > n || c <= 0) return 0.0;
    if (n - c < k) return 1.0;
    double fail = 1.0;   /* prod_{i = n-c+1}^{n} (1 - k / i) */
    for (int i = n - c + 1; i <= n; i++) fail *= 1.0 - (double)k / i;
    return 1.0 - fail;
}

double ttc_eval_pass(const ttc_eval_result *r, int level, int k, int *count) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < r->n_problems; i++) {
        if (level >= 0 && r->levels[i] != level) continue;
        sum += ttc_pass_at_k(r->samples, r->n_correct[i], k);
        n++;
    }
    if (count) *count = n;
    return n ? sum / n : 0.0;
}

void ttc_eval_result_free(ttc_eval_result *r) {
    if (!r) return;
    free(r->levels);
    free(r->n_correct);
    memset(r, 0, sizeof *r);
}

/* Tokenized prompts of the first n problems: [BOS] + prompt, or the chat
 * template's rendering of one user message. */
static int tokenize_prompts(const ttc_tokenizer *tok, const ttc_dataset *d, int n, bool chat, int32_t **ids,
                            int *lens, ttc_err *e) {
    int32_t bos = ttc_tokenizer_bos(tok);
    bool add_bos = ttc_tokenizer_add_bos(tok) && bos >= 0;
    ttc_chat_kind kind = ttc_chat_detect(ttc_tokenizer_chat_template(tok));
    for (int i = 0; i < n; i++) {
        char *prompt = NULL;
        int rc = TTC_OK;
        if (chat) {
            const char *prob = d->items[i].problem;
            size_t len = strlen(prob) + sizeof TTC_EVAL_CHAT_INSTRUCTION + 2;
            char *user = malloc(len);
            if (!user) return ttc_err_set(e, TTC_ENOMEM, "eval: out of memory");
            snprintf(user, len, "%s\n%s", prob, TTC_EVAL_CHAT_INSTRUCTION);
            ttc_chat_msg msg = {(char *)"user", user};
            rc = ttc_chat_format(kind, &msg, 1, true, &prompt, e);
            free(user);
            if (rc) return ttc_err_wrap(e, "eval: problem %s: ", d->items[i].unique_id);
        } else if (!(prompt = ttc_prompt_solve(d->items[i].problem))) {
            return ttc_err_set(e, TTC_ENOMEM, "eval: out of memory");
        }
        int32_t *t = NULL;
        int nt = 0;
        /* chat: special tokens of the template are parsed (a problem text
         * holding one is the benchmark's business) */
        rc = ttc_tokenize_alloc(tok, prompt, strlen(prompt), false, chat, &t, &nt, e);
        free(prompt);
        if (rc) return ttc_err_wrap(e, "eval: problem %s: ", d->items[i].unique_id);
        ids[i] = malloc(((size_t)nt + 1) * sizeof **ids);
        if (!ids[i]) { free(t); return ttc_err_set(e, TTC_ENOMEM, "eval: out of memory"); }
        int k = 0;
        if (add_bos) ids[i][k++] = bos;
        if (nt) memcpy(ids[i] + k, t, (size_t)nt * sizeof *t);
        free(t);
        lens[i] = k + nt;
        if (!lens[i]) return ttc_err_set(e, TTC_EINVAL, "eval: problem %s: empty prompt", d->items[i].unique_id);
    }
    return TTC_OK;
}

int ttc_eval_run(const ttc_model *m, ttc_pool *pool, const ttc_dataset *d, const ttc_eval_params *p,
                 ttc_eval_sample_fn on_sample, void *ud, ttc_eval_result *out, ttc_err *e) {
    memset(out, 0, sizeof *out);
    const ttc_tokenizer *tok = ttc_model_tokenizer(m);
    if (!tok) return ttc_err_set(e, TTC_EINVAL, "eval: %s: the model has no tokenizer", m->path);
    if (p->samples < 1 || p->max_tokens < 1)
        return ttc_err_set(e, TTC_EINVAL, "eval: need samples >= 1 and max_tokens >= 1 (got %d, %d)",
                           p->samples, p->max_tokens);
    int n = p->limit > 0 && p->limit < d->n ? p->limit : d->n;
    if (n <= 0) return ttc_err_set(e, TTC_EINVAL, "eval: the dataset is empty");
    const int K = p->samples;
    int max_seqs = p->max_seqs > 0 ? p->max_seqs : 64;
    if (max_seqs < K) max_seqs = K;
    const int per_batch = max_seqs / K, n_seqs = per_batch * K;

    int rc = TTC_OK;
    int32_t **ids = calloc((size_t)n, sizeof *ids);
    int *lens = calloc((size_t)n, sizeof *lens);
    int *roots = malloc((size_t)per_batch * sizeof *roots);
    ttc_gen_request *reqs = calloc((size_t)n_seqs, sizeof *reqs);
    out->levels = calloc((size_t)n, sizeof *out->levels);
    out->n_correct = calloc((size_t)n, sizeof *out->n_correct);
    ttc_ctx *c = NULL;
    if (!ids || !lens || !roots || !reqs || !out->levels || !out->n_correct) {
        rc = ttc_err_set(e, TTC_ENOMEM, "eval: out of memory");
        goto done;
    }
    out->n_problems = n;
    out->samples = K;
    if ((rc = tokenize_prompts(tok, d, n, p->chat, ids, lens, e))) goto done;

    int max_prompt = 0;
    for (int i = 0; i < n; i++) max_prompt = TTC_MAX(max_prompt, lens[i]);
    int n_ctx = max_prompt + p->max_tokens + 1;
    int n_train = ttc_model_n_ctx_train(m);
    if (n_train > 0 && n_ctx > n_train) n_ctx = n_train;
    for (int i = 0; i < n; i++)
        if (lens[i] >= n_ctx) {
            rc = ttc_err_set(e, TTC_EINVAL, "eval: problem %s: prompt of %d tokens does not fit the context of %d",
                             d->items[i].unique_id, lens[i], n_ctx);
            goto done;
        }
    /* KV: each problem's prompt once, each sample's own tokens, a spare page
     * per sequence for partially filled pages. */
    const int page = 16;
    size_t kv = (size_t)per_batch * ((size_t)max_prompt + (size_t)K * ((size_t)p->max_tokens + 1))
              + (size_t)n_seqs * 2 * page;
    ttc_ctx_params cp = {.n_ctx = n_ctx, .n_seq_max = n_seqs, .n_batch = TTC_MAX(512, n_seqs),
                         .n_outputs_max = n_seqs, .kv_tokens = kv, .page_tokens = page, .pool = pool};
    if ((rc = ttc_ctx_new(m, &cp, &c, e))) goto done;

    ttc_sample_params sp = {.temperature = p->temperature, .top_p = p->top_p};
    double t0 = ttc_now();
    for (int b0 = 0; b0 < n && !rc; b0 += per_batch) {
        int nb = TTC_MIN(per_batch, n - b0), nr = 0;
        for (int j = 0; j < nb; j++) roots[j] = -1;
        for (int j = 0; j < nb && !rc; j++) {
            if (!(rc = ttc_seq_new(c, &roots[j], e)))
                rc = ttc_seq_append_tokens(c, roots[j], ids[b0 + j], lens[b0 + j], e);
            out->tokens_prompt += lens[b0 + j];
        }
        if (!rc) rc = ttc_decode_pending(c, roots, nb, true, false, NULL, e);
        for (int j = 0; j < nb && !rc; j++) {
            for (int s = 0; s < K && !rc; s++) {
                int seq = roots[j];
                if (s > 0 && (rc = ttc_seq_fork(c, roots[j], &seq, e))) break;
                ttc_gen_request *r = &reqs[nr++];
                *r = ttc_gen_request_make(seq, p->max_tokens, sp, p->seed);
                r->stream = (uint64_t)(b0 + j) * (uint64_t)K + (uint64_t)s;
            }
        }
        if (!rc) rc = ttc_generate(c, reqs, nr, NULL, e);
        for (int q = 0; q < nr && !rc; q++) {
            int i = b0 + q / K, s = q % K;
            char ans[512];
            const char *text = reqs[q].text ? reqs[q].text : "";
            ttc_extract_answer(text, ans, sizeof ans);
            bool ok = ttc_answer_equal(ans, d->items[i].answer);
            out->n_correct[i] += ok;
            out->tokens_generated += reqs[q].n_tokens;
            out->n_boxed += strstr(text, "\\boxed") != NULL;
            out->n_truncated += reqs[q].finish == TTC_FINISH_LENGTH;
            if (on_sample) on_sample(ud, i, s, text, ans, ok);
        }
        for (int q = 0; q < nr; q++) {
            if (reqs[q].seq != roots[q / K]) ttc_seq_free(c, reqs[q].seq);
            ttc_gen_request_free(&reqs[q]);
        }
        for (int j = 0; j < nb; j++) ttc_seq_free(c, roots[j]);
        if (rc) ttc_err_wrap(e, "eval: problems %d..%d: ", b0, b0 + nb - 1);
    }
    out->seconds = ttc_now() - t0;
    for (int i = 0; i < n; i++) out->levels[i] = d->items[i].level;
done:
    if (ids) for (int i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(lens);
    free(roots);
    free(reqs);
    ttc_ctx_free(c);
    if (rc) ttc_eval_result_free(out);
    return rc;
}
