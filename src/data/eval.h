/* pass@k of a model on a benchmark: samples K solutions per problem with
 * the local engine and grades them with the MATH grader.
 *
 * Prompts are ttc_prompt_solve(problem) after BOS (when the tokenizer adds
 * one), tokenized without parsing special tokens -- exactly what the search
 * strategies feed the model. With `chat` (for instruction-tuned GGUF models)
 * the prompt is instead one user message, the problem followed by
 * TTC_EVAL_CHAT_INSTRUCTION, in the model's chat template (tokenizer/chat.h).
 * The K samples of a problem are forks of one prefilled prompt sequence
 * (KV pages shared), and several problems run in one batched generation. Sample s of problem i is drawn with
 * rng = split(seed, i*K + s), so results do not depend on batching. A
 * sample ends at EOS or after max_tokens. */
#ifndef TTC_DATA_EVAL_H
#define TTC_DATA_EVAL_H
#include <stdbool.h>
#include <stdint.h>
#include "ttc.h"
#include "base/pool.h"
#include "data/dataset.h"
#include "model/model.h"

typedef struct ttc_eval_params {
    int      samples;      /* K >= 1 */
    float    temperature;  /* <= 0: greedy */
    float    top_p;        /* >= 1: off */
    int      max_tokens;   /* per sample, >= 1 */
    int      limit;        /* first N problems; <= 0: all */
    uint64_t seed;
    int      max_seqs;     /* sequences per batch; <= 0: 64 (raised to K) */
    bool     chat;         /* use the model's chat template (see above) */
} ttc_eval_params;

#define TTC_EVAL_CHAT_INSTRUCTION "Please reason step by step, and put your final answer within \\boxed{}."

/* Defaults: K = 1, temperature 0.7, top_p 1, 512 tokens, all problems. */
ttc_eval_params ttc_eval_params_default(void);

/* Called once per graded sample (problem index into the dataset). */
typedef void (*ttc_eval_sample_fn)(void *ud, int problem, int sample, const char *text,
                                   const char *answer, bool correct);

typedef struct ttc_eval_result {
    int     n_problems;
    int     samples;          /* K */
    int    *levels;           /* [n_problems] */
    int    *n_correct;        /* [n_problems], each in 0..K */
    int64_t tokens_generated;
    int64_t tokens_prompt;
    int64_t n_boxed;          /* samples with a \boxed{} answer (format rate) */
    int64_t n_truncated;      /* samples cut by max_tokens or the context */
    double  seconds;
} ttc_eval_result;

/* Runs the evaluation of m (with a tokenizer) on d; pool may be NULL.
 * on_sample may be NULL. Fills *out (free with ttc_eval_result_free).
 * Errors: TTC_EINVAL (bad params, no tokenizer, a prompt longer than the
 * model's context, naming the problem), engine errors as they come. */
int  ttc_eval_run(const ttc_model *m, ttc_pool *pool, const ttc_dataset *d, const ttc_eval_params *p,
                  ttc_eval_sample_fn on_sample, void *ud, ttc_eval_result *out, ttc_err *e);
void ttc_eval_result_free(ttc_eval_result *r);

/* Unbiased pass@k estimator (Chen et al. 2021) from n samples of which c
 * are correct: 1 - C(n-c, k) / C(n, k). Requires 1 <= k <= n, 0 <= c <= n. */
double ttc_pass_at_k(int n, int c, int k);

/* Mean pass@k over the problems of one level (level < 0: all problems);
 * *count gets the number of problems (0 -> returns 0). */
double ttc_eval_pass(const ttc_eval_result *r, int level, int k, int *count);
#endif
