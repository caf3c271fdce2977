/* Backends for the test-time compute strategies: a generator that grows
 * partial solutions step by step, and a verifier that scores them.
 *
 * Both are vtables, because three kinds exist: the local engine
 * (search/lm_local.h: nodes are engine sequences, forks share KV pages), a
 * remote OpenAI-compatible engine (nodes are text prefixes), and the scripted
 * fake generator and oracle verifier of the tests (tests/fake_lm.h).
 *
 * Nodes are small non-negative integer handles owned by their backend. A
 * generator node is a prompt plus the solution text so far; a verifier node
 * is the verifier's own view of the same partial solution (its own KV), so
 * scoring a new step costs only that step's tokens plus the tag, never the
 * whole prefix again. Strategies fork both node kinds together.
 *
 * Steps: a solution is a sequence of steps, each ending in the delimiter
 * "\n" after some non-blank text (blank lines belong to the next step; the
 * last step may end at EOS instead; ttc_lm_step_len splits text this way).
 * TTC_EXTEND_STEP samples until the delimiter (included in the text) or the
 * end of the solution; TTC_EXTEND_SOLUTION samples to the end.
 *
 * Costs: every backend adds what it actually ran to its `usage` (cumulative
 * since creation; strategies report deltas). FLOPs are forward-pass
 * estimates: 2 * n_params per token processed plus attention,
 * 4 * n_layer * d_attn * (context length at that token) -- see ttc_lm_flops. */
#ifndef TTC_SEARCH_LM_H
#define TTC_SEARCH_LM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ttc.h"

/* What a backend is, for FLOPs and context limits. */
typedef struct ttc_lm_info {
    int64_t n_params;   /* parameters used per token (2 * n_params FLOPs/token) */
    int     n_ctx;      /* max tokens per node: prompt + solution */
    int     n_layer;    /* for attention FLOPs; 0 = ignore attention */
    int     d_attn;     /* n_head * head_dim */
    char    name[128];  /* model path or name, for reports */
} ttc_lm_info;

/* Cumulative work done by one backend since it was created. */
typedef struct ttc_lm_usage {
    int64_t calls;          /* extend / score / score_final / root calls */
    int64_t tokens_prefill; /* tokens processed that were given (prompts, steps to score, tags) */
    int64_t tokens_gen;     /* tokens sampled (generator only) */
    double  flops;          /* forward FLOPs of all of the above */
} ttc_lm_usage;

/* Forward FLOPs of n tokens at positions pos0 .. pos0+n-1 of one sequence:
 * 2*n_params*n + 4*n_layer*d_attn*sum(p+1). 0 for n <= 0. */
double ttc_lm_flops(const ttc_lm_info *info, int64_t pos0, int64_t n);

/* Bytes of the first step of text: through the first "\n" that follows
 * non-blank text (blank lines join the next step), or all of it. 0 only for
 * "". How solutions are split into steps everywhere. */
size_t ttc_lm_step_len(const char *text);

/* ---- generator ---------------------------------------------------------- */

typedef enum ttc_extend_mode {
    TTC_EXTEND_STEP = 0,     /* one step: until "\n" (included) or the end */
    TTC_EXTEND_SOLUTION = 1, /* until the end of the solution */
} ttc_extend_mode;

typedef struct ttc_extend_opts {
    float temperature;       /* <= 0: greedy (lookahead rollouts) */
    float top_p;             /* >= 1 or <= 0: off */
    int   max_tokens;        /* cap on new tokens per node in this call; <= 0: up to n_ctx */
    const uint64_t *seeds;   /* one sampling seed per node (may be NULL when greedy) */
} ttc_extend_opts;

typedef struct ttc_extend_result {
    const char *text;   /* new text, NUL-terminated; valid until the next
                           extend or release on this generator */
    int  len;           /* bytes of text */
    int  n_tokens;      /* tokens sampled in this call */
    int  n_prefill;     /* tokens processed before sampling (e.g. a pending prompt) */
    bool finished;      /* the solution ended (EOS, n_ctx, or max_tokens in SOLUTION mode) */
    bool truncated;     /* cut by max_tokens or n_ctx rather than ended by "\n"/EOS; in
                           STEP mode max_tokens ends the step, not the solution */
} ttc_extend_result;

typedef struct ttc_generator ttc_generator;
typedef struct ttc_generator_vt {
    /* New node holding prompt (the full, formatted prompt text). */
    int  (*root)(ttc_generator *g, const char *prompt, int *node, ttc_err *e);
    /* New node equal to src (a finished node may be forked too). */
    int  (*fork)(ttc_generator *g, int src, int *node, ttc_err *e);
    /* Frees a node; invalid handles are ignored. */
    void (*release)(ttc_generator *g, int node);
    /* Extends nodes[0..n) (distinct, unfinished) by one step or to the end,
     * sampling node i with opts->seeds[i]; fills res[0..n). On error no
     * result is valid, but nodes may have advanced. */
    int  (*extend)(ttc_generator *g, const int *nodes, int n, ttc_extend_mode mode,
                   const ttc_extend_opts *opts, ttc_extend_result *res, ttc_err *e);
    /* Frees the backend and every node. */
    void (*destroy)(ttc_generator *g);
} ttc_generator_vt;

struct ttc_generator {
    const ttc_generator_vt *vt;
    ttc_lm_info  info;
    ttc_lm_usage usage;
};

/* ---- verifier ----------------------------------------------------------- */

typedef enum ttc_verifier_kind {
    TTC_VERIFIER_PRM = 0, /* a score per step (score); score_final = score of the last step */
    TTC_VERIFIER_ORM = 1, /* one score per solution (score_final only) */
} ttc_verifier_kind;

typedef struct ttc_verifier ttc_verifier;
typedef struct ttc_verifier_vt {
    /* New node for problem (the raw problem text; the verifier applies its
     * own format). */
    int  (*root)(ttc_verifier *v, const char *problem, int *node, ttc_err *e);
    int  (*fork)(ttc_verifier *v, int src, int *node, ttc_err *e);
    void (*release)(ttc_verifier *v, int node);
    /* PRM: appends steps[i] as one step to nodes[i] (distinct) and writes its
     * score in [0, 1] to scores[i]. ORMs return TTC_EUNSUPPORTED. */
    int  (*score)(ttc_verifier *v, const int *nodes, const char *const *steps, int n,
                  float *scores, ttc_err *e);
    /* Appends texts[i] (non-empty: the rest of the solution, split into
     * steps at "\n" as `score` would take them) and writes the score read at
     * its last step to scores[i]: the outcome score of an ORM, the last
     * step's score of a PRM. */
    int  (*score_final)(ttc_verifier *v, const int *nodes, const char *const *texts, int n,
                        float *scores, ttc_err *e);
    void (*destroy)(ttc_verifier *v);
} ttc_verifier_vt;

struct ttc_verifier {
    const ttc_verifier_vt *vt;
    ttc_verifier_kind kind;
    ttc_lm_info  info;
    ttc_lm_usage usage;
};

/* Thin wrappers (NULL-safe destroy). */
static inline void ttc_generator_free(ttc_generator *g) { if (g) g->vt->destroy(g); }
static inline void ttc_verifier_free(ttc_verifier *v) { if (v) v->vt->destroy(v); }
#endif
