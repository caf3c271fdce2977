/* How a process (or outcome) reward model reads a solution and where its
 * score comes from, as data: one small description per model family instead
 * of code paths scattered through the verifier.
 *
 * Token layout for a problem and steps s_1..s_n. Each bracketed piece is
 * tokenized on its own (special tokens parsed, as a chat template is) and
 * appended by id, so a new step never re-tokenizes what came before:
 *
 *   [BOS] (root_prefix problem root_suffix)
 *         (first_prefix s_1' step_suffix) [TAG] <score 1> (after)
 *         (step_prefix  s_2' step_suffix) [TAG] <score 2> (after) ...
 *
 * s_i' is the step text, minus its trailing "\n" when strip_newline. The
 * score of step i is read at the last token before <score i> (the tag, or
 * the last step_suffix token when there is no tag), so scoring a new step
 * runs only `after` of the previous step plus the new step's tokens.
 *
 *   lm-token     softmax over the logits of the pos/neg label tokens:
 *                p(pos) = sigmoid(l_pos - l_neg)
 *   head-2class  two-class MLP on the final hidden state h:
 *                softmax(W2 relu(W1 h + b1) + b2)[1]
 *                (tensors prm_head.0.weight [d][d], prm_head.0.bias [d],
 *                prm_head.2.weight [2][d], prm_head.2.bias [2])
 *   head-value   sigmoid(w . h + b)
 *                (tensors prm_value.weight [1][d], prm_value.bias [1])
 * Head tensors live in the model's GGUF file (F32, F16 or BF16).
 *
 * Built-in presets (ttc_prm_preset):
 *   ttc               ttc's own verifier (train/prm.h): "Problem: ..\nSolution:\n",
 *                     steps with their "\n", tag <|step|>, labels "+"/"-"
 *   ttc-orm           the same, outcome model (only the final score)
 *   math-shepherd     "{problem} " then steps without "\n", tag "ки",
 *                     labels "+"/"-", "\n" between steps
 *   rlhflow           RLHFlow Llama-3.1-8B-PRM: one Llama-3 user turn per
 *                     step (the first holds "{problem} {step}"), the score
 *                     is p("+") at the start of the assistant reply, which is
 *                     then "+<|eot_id|>"
 *   qwen2.5-math-prm  Qwen2.5-Math-PRM: ChatML with its system prompt, each
 *                     step followed by <extra_0>, head-2class at the tag
 *   skywork-prm       Skywork-o1-Open-PRM: BOS problem "\n", each step
 *                     followed by "\n" (the score token), head-value there
 *
 * GGUF metadata (read by ttc_prm_format_from_gguf; all optional):
 *   ttc.prm.format         string  a preset name to start from (default "ttc")
 *   ttc.prm.kind           string  "lm-token", "head-2class", "head-value"
 *   ttc.prm.outcome        bool    outcome model (ORM)
 *   ttc.prm.tag            string  tag token text ("" = no tag)
 *   ttc.prm.pos, ttc.prm.neg   string  label tokens (lm-token)
 *   ttc.prm.root_prefix, ttc.prm.root_suffix, ttc.prm.first_prefix,
 *   ttc.prm.step_prefix, ttc.prm.step_suffix, ttc.prm.after   string
 *   ttc.prm.strip_newline  bool
 * Tokens named by text (tag, pos, neg) resolve to the single token that
 * text tokenizes to (so "+" is "▁+" in a SentencePiece vocabulary), else to
 * the token whose stored string is exactly the text; anything else is an
 * error naming the field. */
#ifndef TTC_SEARCH_PRM_H
#define TTC_SEARCH_PRM_H
#include <stdbool.h>
#include "ttc.h"

typedef struct ttc_gguf ttc_gguf;

typedef enum ttc_prm_kind {
    TTC_PRM_LM_TOKEN = 0,
    TTC_PRM_HEAD_2CLASS = 1,
    TTC_PRM_HEAD_VALUE = 2,
} ttc_prm_kind;

#define TTC_PRM_TEXT 256

typedef struct ttc_prm_format {
    char         name[32];
    ttc_prm_kind kind;
    bool         outcome;          /* ORM: one score for the whole solution */
    bool         strip_newline;
    char root_prefix[TTC_PRM_TEXT], root_suffix[TTC_PRM_TEXT];
    char first_prefix[TTC_PRM_TEXT], step_prefix[TTC_PRM_TEXT];
    char step_suffix[TTC_PRM_TEXT], after[TTC_PRM_TEXT];
    char tag[64], pos[32], neg[32];
} ttc_prm_format;

/* Copies the preset called name into *out; TTC_ENOTFOUND listing the names. */
int ttc_prm_preset(const char *name, ttc_prm_format *out, ttc_err *e);
/* The preset names, comma separated. */
const char *ttc_prm_preset_names(void);
/* "lm-token" / "head-2class" / "head-value" <-> kind. */
const char *ttc_prm_kind_name(ttc_prm_kind k);
int ttc_prm_kind_parse(const char *name, ttc_prm_kind *out, ttc_err *e);

/* Reads the ttc.prm.* keys of g (see above) into *out, starting from the
 * preset named by ttc.prm.format or "ttc". Errors name the key. */
int ttc_prm_format_from_gguf(const ttc_gguf *g, ttc_prm_format *out, ttc_err *e);

/* A format bound to one model: the token ids of its tag and +/- tokens and
 * the head weights (prm_head.* for 2-class heads, prm_value.* for value
 * heads), dequantized. Shared by every verifier that runs the model
 * (search/lm_local.c, serve/sched_ver.c), so they read scores the same way. */
struct ttc_model;
typedef struct ttc_prm_reader {
    ttc_prm_format f;
    int32_t tag, pos, neg;   /* -1 when unused */
    int     d;               /* hidden size */
    float  *w1, *b1, *w2, *b2, *wv, bv;
} ttc_prm_reader;

/* Resolves fmt against model m (which needs a tokenizer); errors name the
 * model, the format and the field or tensor. Free with ttc_prm_reader_free. */
int ttc_prm_reader_init(ttc_prm_reader *r, const struct ttc_model *m, const ttc_prm_format *fmt,
                        ttc_err *e);
void ttc_prm_reader_free(ttc_prm_reader *r);
/* The score in (0, 1) from the outputs at a score position: the logits for
 * LM-token formats, the last hidden state for heads (NAN if the one needed
 * is NULL); tmp holds d floats of scratch. */
float ttc_prm_reader_score(const ttc_prm_reader *r, const float *logits, const float *hidden,
                           float *tmp);
#endif
