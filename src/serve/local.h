/* The local engine behind ttc serve: a GGUF generator (and optionally a
 * PRM) loaded in this process, each driven by a batching scheduler
 * (sched.h), exposed to the HTTP server as a ttc_serve_backend.
 *
 * Plain requests (no strategy): the prompt -- chat messages through the
 * model's chat template (tokenizer/chat.h), or the completion prompt -- is
 * prefilled once and forked into n samples that share its KV pages; tokens
 * are streamed as they become final.
 *
 * Strategy requests ("ttc": {"strategy": ...}): the problem is the last
 * user message (chat) or the prompt (completions); ttc_search_run runs the
 * strategy with the scheduler's generator, so its beams are batched with
 * every other request. The verifier (--prm, any search/prm.h format) has
 * its own scheduler (sched_ver.h), so the scoring calls of concurrent
 * requests share its decode steps too. The chosen solution is
 * choice 0; further choices (n > 1) are the other candidates by score.
 * "auto" uses the --policy file (with a verifier), else the policy hook,
 * else bon-weighted with a verifier and majority without. With a revision
 * model and its ORM (--revision-model, --orm), "revise" requests run their
 * chains on that pair, and so do the revision methods a policy chooses;
 * without them a policy's revision choice becomes bon-weighted. */
#ifndef TTC_SERVE_LOCAL_H
#define TTC_SERVE_LOCAL_H
#include "search/strategy.h"
#include "serve/sched.h"
#include "serve/server.h"

typedef struct ttc_local ttc_local;

/* Chooses the strategy for a problem under a budget (the compute-optimal
 * policy). Fills *out (already holding the defaults for `budget`); returns
 * TTC_OK or an error that fails the request. */
typedef int (*ttc_serve_policy_fn)(void *ud, const char *problem, int budget, ttc_search_params *out, ttc_err *e);

typedef struct ttc_local_opts {
    const char *model_path;
    const char *prm_path;      /* NULL: no verifier */
    bool        orm;           /* the verifier is an outcome model (else its GGUF says) */
    int         threads;       /* compute threads; 0 = one per CPU */
    int         n_ctx;         /* per sequence; 0 = min(model, 4096) */
    int         n_seq_max;     /* live sequences over all requests; 0 = 128 */
    size_t      kv_tokens;     /* KV pool positions; 0 = 8 * n_ctx */
    const char *model_id;      /* reported name; NULL = file name without .gguf */
    const char *policy_path;   /* JSON policy for "auto" (see ttc_local_load_policy) */
    const char *revision_path; /* revision model: "revise" requests and the policy's
                                  revision choices run on it (with orm_path) */
    const char *orm_path;      /* outcome verifier of its attempts */
} ttc_local_opts;

/* Loads the model(s) and starts the scheduler threads. */
int  ttc_local_new(const ttc_local_opts *o, ttc_local **out, ttc_err *e);
/* Stops and frees everything (no request may be running). NULL-safe. */
void ttc_local_free(ttc_local *l);
/* The backend view for ttc_server_start (valid while l lives). */
ttc_serve_backend ttc_local_backend(ttc_local *l);
/* Replaces the "auto" policy hook. */
void ttc_local_set_policy(ttc_local *l, ttc_serve_policy_fn fn, void *ud);
/* Reads a compute-optimal policy file (optimal/policy.h, written by
 * `ttc experiment`): "auto" requests then run ttc_policy_solve (probe
 * samples scored by the verifier, difficulty bin, chosen method) when a
 * verifier is present. Call it before serving (not while requests run).
 * Errors name the file and the offending field. */
int  ttc_local_load_policy(ttc_local *l, const char *path, ttc_err *e);
/* Scheduler statistics of the generator (for tests and metrics). */
ttc_sched_stats ttc_local_stats(ttc_local *l);
/* Scheduler statistics of the verifier (zeros without a local verifier). */
ttc_sched_stats ttc_local_verifier_stats(ttc_local *l);
#endif
