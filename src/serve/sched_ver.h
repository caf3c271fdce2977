/* The strategies' verifier (search/lm.h) over a serving scheduler
 * (sched.h) that runs a PRM/ORM, so the scoring work of every concurrent
 * request shares the verifier's decode steps the way their generation
 * shares the generator's.
 *
 * A ttc_sched_prm is the verifier format (search/prm.h) resolved once per
 * server: tag and label token ids, head weights. Every request makes its
 * own ttc_verifier on it (nodes are scheduler sequence ids; forks share KV
 * pages). The token layout, the scores and the out-of-context rule (a node
 * whose next step does not fit scores NAN from then on) are exactly those
 * of search/lm_local.h's verifier; only the decodes differ: each score call
 * hands the scheduler one score item per node and waits, and the scheduler
 * computes the items of all requests together.
 *
 * ttc_sched_prm_pool scores whole verifier input texts for the
 * vLLM-compatible POST /pooling endpoint (STEP pooling): one row
 * [p(bad), p(good)] at every tag token, or one row at the last token for
 * formats without a tag. */
#ifndef TTC_SERVE_SCHED_VER_H
#define TTC_SERVE_SCHED_VER_H
#include <stdatomic.h>
#include "search/lm.h"
#include "search/prm.h"
#include "serve/sched.h"

typedef struct ttc_sched_prm ttc_sched_prm;

/* Resolves fmt (copied) on the model of s (which must outlive the result):
 * tag/label tokens and head tensors; errors name the model file and the
 * missing token or tensor. */
int  ttc_sched_prm_new(ttc_sched *s, const ttc_prm_format *fmt, ttc_sched_prm **out, ttc_err *e);
/* NULL-safe. */
void ttc_sched_prm_free(ttc_sched_prm *p);
const ttc_prm_format *ttc_sched_prm_format(const ttc_sched_prm *p);
ttc_sched *ttc_sched_prm_sched(ttc_sched_prm *p);

/* A verifier for one request on p; cancel (may be NULL) aborts its calls
 * with TTC_ECANCELED. Free with ttc_verifier_free (releases its nodes). */
int  ttc_sched_verifier_new(ttc_sched_prm *p, atomic_int *cancel, ttc_verifier **out, ttc_err *e);

/* Scores texts[0..n) (BOS per the vocabulary, special tokens parsed) in
 * STEP pooling: rows[i] gets n_rows[i] * 2 floats [p(bad), p(good)]
 * (caller frees), one pair per tag token (none when the text has no tag),
 * or one pair for the last token when the format has no tag; n_tokens[i]
 * the token count. The inputs are scored together (up to 16 at a time,
 * within a quarter of the sequence slots and two contexts of tokens), so
 * their decode steps are shared. TTC_EINVAL for an empty text or one
 * longer than the context; on any error nothing is returned and *failed
 * names the input at fault (-1: none in particular). */
int  ttc_sched_prm_pool(ttc_sched_prm *p, const char *const *texts, const size_t *lens, int n, atomic_int *cancel,
                        float **rows, int *n_rows, int *n_tokens, int *failed, ttc_err *e);
#endif
