/* Training datasets: JSONL files tokenized once into one token array, and a
 * deterministic packer that fills (B, T) micro-batches from them.
 *
 * Line formats (one JSON object per line; blank lines are skipped):
 *   sft:      {"prompt": "...", "completion": "..."}
 *             or the benchmark's {"problem": "...", "solution": "..."}, whose
 *             prompt is ttc_prompt_solve(problem) (data/prompt.h).
 *             Tokens: tok(prompt) tok(completion) EOS; the loss covers the
 *             completion and EOS only.
 *   prm/orm:  see train/prm.h ("problem" or "prompt", "steps", "labels").
 *
 * Packing: examples are visited in an order that is a fresh permutation per
 * epoch (a pure function of (seed, epoch)); each row of T tokens takes the
 * next examples while they fit, then padding. Every example keeps its own
 * RoPE positions (from 0) and attends only to itself. An example longer
 * than T is cut to its first T tokens. The cursor (epoch, index) is all the
 * state, so a checkpoint can resume the exact stream. */
#ifndef TTC_TRAIN_TDATA_H
#define TTC_TRAIN_TDATA_H
#include <stddef.h>
#include <stdint.h>
#include "ttc.h"
#include "tokenizer/tokenizer.h"
#include "train/tmodel.h"

typedef struct ttc_tdata {
    ttc_task task;
    int      n_ex;
    size_t  *start;     /* n_ex + 1 offsets into ids/sup */
    int32_t *ids;
    float   *sup;       /* sft: 1 if the token is a training target, else 0;
                           prm/orm: label at this position (tag), or -1 */
    int32_t  pad;       /* token used for padding (EOS) */
    size_t   n_tokens, n_supervised;
    uint64_t hash;      /* FNV-1a of ids and sup: identifies the data in checkpoints */
    int32_t *perm;      /* cached visiting order of perm_epoch (packer) */
    int64_t  perm_epoch;
    uint64_t perm_seed;
} ttc_tdata;

/* Where the packer is: example `index` of the permutation of `epoch`. */
typedef struct ttc_tcursor { int64_t epoch, index; } ttc_tcursor;

/* Reads and tokenizes a JSONL file for `task` (tag/good/bad needed for
 * prm/orm: see ttc_prm_tokens). Malformed lines are errors naming
 * file:line and the field. An empty file is an error. */
int  ttc_tdata_load(const char *path, ttc_task task, const ttc_tokenizer *tok, ttc_tdata *d,
                    ttc_err *e);
/* Builds a dataset from in-memory examples (tests): ex k is ids[start[k] ..
 * start[k+1]) with the matching sup values. Copies everything. */
int  ttc_tdata_from_arrays(ttc_task task, const int32_t *ids, const float *sup,
                           const size_t *start, int n_ex, int32_t pad, ttc_tdata *d, ttc_err *e);
void ttc_tdata_free(ttc_tdata *d);

/* Fills b (whose arrays hold B*T entries) with the next rows from cursor c
 * and advances it. Deterministic in (data, seed, cursor); only the cached
 * permutation in d changes. */
void ttc_tdata_next(ttc_tdata *d, uint64_t seed, ttc_tcursor *c, ttc_tbatch *b);

/* Evaluation order: fills b from example *index on in file order, each
 * example once; rows after the last example are padding. Advances *index
 * and returns the number of examples packed (0 at the end). */
int  ttc_tdata_next_once(ttc_tdata *d, int64_t *index, ttc_tbatch *b);

/* Allocates the arrays of a B x T batch (zeroed); ttc_tbatch_free frees. */
int  ttc_tbatch_alloc(ttc_tbatch *b, int B, int T, ttc_err *e);
void ttc_tbatch_free(ttc_tbatch *b);

/* The raw texts of a JSONL training file, for training a tokenizer: per
 * line the prompt (or ttc_prompt_solve(problem)) and the completion /
 * solution / steps concatenated. *texts is a malloc'd array of malloc'd
 * strings; free with ttc_tdata_texts_free. Errors name file:line. */
int  ttc_tdata_texts(const char *path, char ***texts, int *n, ttc_err *e);
void ttc_tdata_texts_free(char **texts, int n);
#endif
