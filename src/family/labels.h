/* Training data for the bundled model family, made by ttc's own models
 * (the paper's recipes, no human labels):
 *
 *   prm       Monte-Carlo step labels (Math-Shepherd-style soft labels, as
 *             in Snell et al. 2024): sample solutions from the generator;
 *             after each step, `rollouts` completions from that prefix; the
 *             fraction that reach the right answer is the step's label. The
 *             last step's label is the solution's own correctness. Output:
 *             train/prm.h's JSONL {"problem", "steps", "labels"}.
 *   revision  contexts of 0..4 incorrect attempts followed by a correct one:
 *             the last incorrect attempt in context is the one closest to
 *             the correct answer by edit distance, the others random (the
 *             paper's recipe). A fraction `natural` of the examples instead
 *             takes 1..4 of the attempts as sampled, right or wrong, in
 *             random order: at test time a chain's earlier attempts are
 *             often right, and a model that only ever saw wrong ones in
 *             context learns to move away from them.
 *             A fraction `edit` takes 0..4 attempts as sampled and targets
 *             the most recent right one among them, else the correct
 *             solution closest to the last by edit distance (keep or fix);
 *             a fraction `drop_fix` of the fix examples is left out.
 *             Output: {"prompt": ttc_prompt_revise(...), "completion",
 *             "recipe": "paper" | "natural" | "edit"}.
 *   orm       revision-model chains; each attempt labeled by the grader,
 *             with the previous attempts the revision model saw in context:
 *             "problem" is ttc_prompt_revise_context(problem, previous), so
 *             the ORM reads exactly the revision prompt followed by the
 *             attempt. Output: {"problem", "steps", "labels"} with only the
 *             last step labeled (the `orm` task).
 *
 * All rollouts of one problem run as forks of shared prefixes in one batched
 * generation, so the shared prompt and steps are computed once. Output is
 * appended one problem at a time with its "uid"; a rerun skips problems
 * already in the file (a killed run resumes; a torn last line is dropped). */
#ifndef TTC_FAMILY_LABELS_H
#define TTC_FAMILY_LABELS_H
#include <stdbool.h>
#include <stdint.h>
#include "ttc.h"

typedef struct ttc_label_opts {
    const char *data;       /* benchmark JSONL (train split) */
    const char *out;        /* output JSONL (appended) */
    int      offset, limit; /* problems [offset, offset + limit) of the file */
    int      samples;       /* sampled solutions / attempts per problem */
    int      rollouts;      /* prm: completions per step prefix */
    int      chain;         /* orm: revision attempts per chain */
    int      context;       /* orm, on-policy: earlier attempts shown, 1..4 (0 = 4) */
    int      examples;      /* revision: examples per problem (0 = 2) */
    float    natural;       /* revision: fraction of natural contexts (0..1) */
    float    edit;          /* revision: fraction of keep-or-fix examples */
    float    drop_fix;      /* revision: fraction of "fix" edit examples left out */
    bool     on_policy;     /* revision: contexts from the model's own chains
                               (`chain` attempts each; the model is a revision model) */
    bool     own_only;      /* revision: only problems the model solved at least
                               once, and only its own solutions as targets */
    float    temperature;
    float    revise_temp;   /* orm: temperature of attempts 2.. of a chain */
    bool     revise_temp_set; /* else they use temperature */
    int      max_tokens;    /* per solution */
    uint64_t seed;
    int      threads;       /* 0 = all cores */
    void   (*progress)(void *ud, const char *label, double done, double total);
    void    *progress_ud;
} ttc_label_opts;

int ttc_label_prm(const char *model_path, const ttc_label_opts *o, ttc_err *e);
int ttc_label_revision(const char *model_path, const ttc_label_opts *o, ttc_err *e);
int ttc_label_orm(const char *model_path, const ttc_label_opts *o, ttc_err *e);

/* Levenshtein distance between a and b (bytes). */
int ttc_edit_distance(const char *a, const char *b);
#endif

/* Held-out quality of a PRM on Monte-Carlo-labeled steps (the output of
 * ttc_label_prm on another split): every step of every record is scored
 * incrementally by the verifier and compared with its label. */
typedef struct ttc_prm_quality {
    int    n_steps, n_records;
    double auc_step;     /* ROC AUC of the score for label >= 0.5, all steps */
    double auc_final;    /* ROC AUC on final steps (label = answer correct) */
    /* Within-problem AUC, what matters when choosing among one problem's
     * samples: over all (right, wrong) pairs of solutions to the same
     * problem, the fraction where the right one scores higher (ties half),
     * with the step scores aggregated by ttc_agg (last, min, prod, mean).
     * auc_final also rewards knowing which problems are hard; this does not. */
#define TTC_WITHIN_N 4
    double auc_within[TTC_WITHIN_N];
    long   n_pairs;
    double ece;          /* expected calibration error over 10 score bins */
    double mse;          /* mean squared error of score vs soft label */
    int    bin_n[10];
    double bin_score[10], bin_label[10]; /* mean score and mean label per bin */
} ttc_prm_quality;

struct ttc_verifier;
/* Scores labels_path (JSONL from ttc_label_prm) with v, in batches. */
int ttc_prm_quality_eval(struct ttc_verifier *v, const char *labels_path, int limit, ttc_prm_quality *q,
                         ttc_err *e);

/* ROC AUC of scores for binary targets (ties count half); NAN if a class is
 * empty. */
double ttc_auc(const float *score, const unsigned char *target, int n);
