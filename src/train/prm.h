/* The verifier (PRM / ORM) token format shared by the trainer, the PRM data
 * builder and the search strategies (the `ttc` verifier preset).
 *
 * Like Math-Shepherd, a verifier is a language model that reads the problem
 * and a (partial) solution with a tag token after every step; at each tag
 * position the logits of two ordinary tokens, TTC_PRM_GOOD ("+") and
 * TTC_PRM_BAD ("-"), give the step score
 *
 *     score = softmax([logit(+), logit(-)])[0] = sigmoid(l+ - l-)
 *
 * Input layout (token level; the prompt is ttc_prompt_solve(problem) from
 * data/prompt.h, each step is one solution line INCLUDING its trailing
 * '\n', exactly as the generator wrote it):
 *
 *     tok(prompt) tok(step_1) TAG tok(step_2) TAG ... tok(step_n) TAG
 *
 * Each piece is tokenized on its own (no BOS unless the vocabulary asks for
 * it), so scoring a growing prefix re-uses the tokens of the earlier steps.
 * An ORM uses the same layout and reads only the last tag.
 *
 * The tag is a CONTROL token that every bundled model's vocabulary carries
 * (added when the BPE tokenizer is trained, see TTC_VOCAB_SPECIALS).
 *
 * Training data (JSONL, one example per line) for `ttc train --task prm|orm`:
 *
 *     {"problem": "...", "steps": ["line 1\n", ..., "The answer is \\boxed{7}.\n"],
 *      "labels": [0.9, 0.75, ..., 1.0]}
 *
 * "prompt" (used verbatim) may replace "problem". labels[k] is a soft label
 * in [0, 1] for step k: the Monte-Carlo estimate of P(final answer correct |
 * solution prefix through step k) (Math-Shepherd "soft" estimation); null or
 * a negative number means "no label". The orm task trains only on the last
 * step's label (the final-answer correctness). */
#ifndef TTC_TRAIN_PRM_H
#define TTC_TRAIN_PRM_H
#include <stdint.h>
#include "ttc.h"
#include "tokenizer/tokenizer.h"

#define TTC_PRM_TAG  "<|step|>"
#define TTC_PRM_GOOD "+"
#define TTC_PRM_BAD  "-"

/* Special tokens of the bundled vocabulary, in id order after the merges:
 * end of text (EOS of every bundled model) and the verifier tag. */
#define TTC_VOCAB_EOS "<|endoftext|>"
#define TTC_VOCAB_SPECIALS { TTC_VOCAB_EOS, TTC_PRM_TAG }
#define TTC_VOCAB_N_SPECIALS 2

/* Ids of the tag, "+" and "-" in tok; TTC_ENOTFOUND naming the missing one. */
int ttc_prm_tokens(const ttc_tokenizer *tok, int32_t *tag, int32_t *good, int32_t *bad,
                   ttc_err *e);

/* Builds the verifier input for prompt + steps (layout above) into a fresh
 * malloc'd array *ids (caller frees) of *n tokens; tag_pos (if not NULL,
 * n_steps entries) receives the position of each step's tag. */
int ttc_prm_encode(const ttc_tokenizer *tok, const char *prompt, const char *const *steps,
                   int n_steps, int32_t **ids, int *n, int *tag_pos, ttc_err *e);
#endif
