/* Test doubles for the search strategies: a scripted fake generator and an
 * oracle verifier (search/lm.h interfaces).
 *
 * A script is a tree of steps. Node 0 is the root (the prompt); every other
 * node is one step: its text (ending in "\n"), a sampling weight among its
 * siblings, the oracle's score for it, and whether it ends the solution.
 *
 * The generator walks the script: a step is drawn among the current node's
 * children with probability proportional to weight, from an rng seeded by
 * the node's seed (a full-solution extend keeps drawing from that rng);
 * greedy (temperature <= 0) takes the heaviest child (first on ties). A node
 * without children ends the solution with no text (EOS). Tokens are words
 * (runs of non-space bytes).
 *
 * The oracle verifier follows the same script by matching each scored step's
 * text against the children of its node: the step's scripted score, or 0 for
 * text that is not in the script. As an ORM (score_final) it returns the
 * score of the last step of the text. A step costs its words + 1 (the tag).
 *
 * Everything the doubles do is tallied in a fake_stats the test owns, so
 * budgets can be compared with what really ran. */
#ifndef TTC_TESTS_FAKE_LM_H
#define TTC_TESTS_FAKE_LM_H
#include <stdbool.h>
#include <stdint.h>
#include "search/lm.h"

typedef struct fake_tree fake_tree;

typedef struct fake_stats {
    /* generator */
    int64_t roots, forks, releases, live;
    int64_t extend_calls, node_extends, steps, tokens, prefill;
    /* verifier */
    int64_t v_roots, v_forks, v_releases, v_live;
    int64_t score_calls, scored_steps, final_calls, v_tokens;
} fake_stats;

fake_tree *fake_tree_new(void);
void       fake_tree_free(fake_tree *t);
/* Adds a step under parent (0 = root); returns its id (> 0), -1 on OOM. */
int        fake_tree_add(fake_tree *t, int parent, const char *text, double weight,
                         float score, bool final);
int        fake_tree_size(const fake_tree *t);   /* nodes including the root */

/* The backends (tree and stats must outlive them). NULL on OOM. */
ttc_generator *fake_generator_new(const fake_tree *t, fake_stats *st);
ttc_verifier  *fake_oracle_new(const fake_tree *t, bool orm, fake_stats *st);

/* Makes root() fail with TTC_ENOMEM for prompts of more than max_words
 * words (a context limit); 0 = no limit. Failed prompts are not recorded. */
void        fake_generator_set_max_prompt(ttc_generator *g, int max_words);

/* The prompts given to the generator's root(), in call order. */
int         fake_generator_n_prompts(const ttc_generator *g);
const char *fake_generator_prompt(const ttc_generator *g, int i);

/* The problems given to the verifier's root(), in call order. */
int         fake_verifier_n_roots(const ttc_verifier *v);
const char *fake_verifier_root(const ttc_verifier *v, int i);

/* Words in s (runs of bytes other than ' ', '\n', '\t'). */
int fake_words(const char *s);
#endif
