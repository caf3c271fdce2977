/* The strategies' generator and verifier over the local engine
 * (model/ctx.h, model/generate.h).
 *
 * Nodes are engine sequence ids: fork shares KV pages, so N beams of one
 * prompt store the prompt once. A root prefills its prompt at once (all but
 * the last token, which stays pending by the engine's convention), so forks
 * made before the first extend do not recompute it.
 *
 * Generator: TTC_EXTEND_STEP samples with the stop string "\n" (kept in the
 * text); a step that would be only whitespace (blank lines) continues to the
 * next "\n", so every step has content. Bytes of the token that crossed the
 * "\n" beyond it (e.g. the second newline of "\n\n") are carried to the
 * front of the node's next step, so the steps always concatenate to the
 * detokenized solution. EOS ends the solution, and so does a full context
 * (truncated); max_tokens ends a STEP (truncated, the solution goes on) or
 * a SOLUTION (truncated).
 *
 * Verifier: follows a ttc_prm_format (search/prm.h). Scoring appends only the
 * pieces of the new step (plus `after` of the previous one, computed with
 * it) and reads one position per node in one batched decode. A node whose
 * next step does not fit in the context is left as it is and scores NAN
 * from then on (strategies rank NAN last), instead of failing the search.
 *
 * Both count every token they push through the model in `usage` with FLOPs
 * at the exact positions. Batches larger than the context's n_seq_max are
 * split (the context's n_outputs_max must be at least its n_seq_max, the
 * default). The context is not owned and must outlive the backend; one
 * context may hold a generator and a verifier only if they use the same
 * model. */
#ifndef TTC_SEARCH_LM_LOCAL_H
#define TTC_SEARCH_LM_LOCAL_H
#include "model/ctx.h"
#include "search/lm.h"
#include "search/prm.h"

/* A generator sampling from the model of c. */
int ttc_local_generator_new(ttc_ctx *c, ttc_generator **out, ttc_err *e);

/* A verifier scoring with the model of c in format fmt (copied). Resolves
 * the tag and label tokens and loads head tensors from the model's GGUF
 * now: errors name the model file and the missing token or tensor. */
int ttc_local_verifier_new(ttc_ctx *c, const ttc_prm_format *fmt, ttc_verifier **out, ttc_err *e);

/* A verifier with no reward model: the model of c (the generator itself)
 * scores a solution by the geometric mean probability it gives the
 * solution's tokens after prefix + problem + suffix (the generator's own
 * prompt; for ttc's synthetic models TTC_PROMPT_SOLVE_PREFIX/SUFFIX). A
 * step's score covers the whole solution up to it, so the last step's
 * score is the solution's. Costs one prefill of the text; the context's
 * logits must not be restricted (ttc_ctx_set_logit_ids). A baseline for
 * models without a trained PRM, and a measure of how much a PRM adds. */
int ttc_likelihood_verifier_new(ttc_ctx *c, const char *prefix, const char *suffix, ttc_verifier **out,
                                ttc_err *e);
#endif
