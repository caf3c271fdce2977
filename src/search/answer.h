/* Final answers of sampled solutions, for voting: the extracted answer and a
 * canonical key (equal keys = equivalent answers). Wraps the data module's
 * grader so every strategy and `ttc rescore` group answers the same way. */
#ifndef TTC_SEARCH_ANSWER_H
#define TTC_SEARCH_ANSWER_H
#include <stdbool.h>
#include "ttc.h"

/* Extracts the final answer of text into fresh malloc'd *answer and *key
 * (both "" when the text has none). TTC_ENOMEM only. */
int ttc_search_answer(const char *text, char **answer, char **key, ttc_err *e);

/* Canonical key of an already extracted answer (fresh malloc'd, "" for an
 * empty answer). TTC_ENOMEM only. */
int ttc_search_answer_key(const char *answer, char **key, ttc_err *e);

/* True if text holds a non-empty \boxed{...} (what ends a solution early
 * under answer_ends; stricter than extraction, which falls back to the last
 * number). */
bool ttc_search_has_answer(const char *text);

/* True if answer (extracted) is equivalent to the reference answer. */
bool ttc_search_answer_correct(const char *answer, const char *reference);
#endif
