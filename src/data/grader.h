/* MATH answer extraction and grading, after the rules of the PRM800K grader
 * ("Let's Verify Step by Step", Lightman et al. 2023), without Python.
 *
 * Normalization (both sides): whitespace, $, \left/\right, \! \, \; \: and
 * "\ ", \dfrac/\tfrac -> \frac, \frac12 -> \frac{1}{2}, \sqrt2 -> \sqrt{2},
 * degrees (^\circ, ^{\circ}), percent, dollars, \text{..}/\mbox{..} unwrapped
 * and trailing unit words dropped ("5 \text{ cm}^2" -> 5), "x = 5" -> 5 (left
 * side of at most two characters), "x \in [a,b]" -> [a,b], thousands
 * separators in plain numbers (1,000 and 10,\!080), trailing '.', a leading
 * 0 for ".5", integer-valued decimals to integers ("5.0" -> 5), unicode
 * math (− π × · ÷ √ ∞), lower case.
 *
 * Equality, after normalization, element by element:
 *  - equal strings are equal;
 *  - two fractions (\frac{a}{b} or a/b with integers) are equal only if they
 *    are written with the same numerator and denominator: an unreduced
 *    fraction matches only itself (\frac{2}{4} != \frac{1}{2});
 *  - if exactly one side is an integer literal, they are not equal (5 != 5.1,
 *    5 != \sqrt{25});
 *  - two rational literals (integer, decimal, fraction, mixed number
 *    1\frac{4}{5}) are compared exactly (0.5 == \frac12, 0.33 != \frac13);
 *  - otherwise both are evaluated (numbers, + - * / ^, \frac, \sqrt, \sqrt[n],
 *    \pi, trig/log functions, parentheses, implicit multiplication; letters
 *    are variables sampled at fixed points) and must agree to 1e-9 relative.
 *    Words (a run of 3+ letters that is not a function) compare as strings.
 *    Equations (one '=' left after "x = " stripping) are equal when their
 *    L - R agree up to a nonzero factor (5x+4=0 == 10x=-8).
 * Structure: tuples and intervals ( ) [ ] compare elementwise in order and
 * their brackets must match; \cup unions compare part by part; sets \{ \}
 * and bare comma lists ("1,-2": MATH's "enter all solutions") compare as
 * multisets, order-insensitive (PRM800K is order-sensitive here; we are more
 * lenient on purpose); matrices (pmatrix/bmatrix) compare entrywise with
 * equal shape. */
#ifndef TTC_DATA_GRADER_H
#define TTC_DATA_GRADER_H
#include <stdbool.h>
#include <stddef.h>

/* Finds the final answer in a model response: the content of the last
 * \boxed{...} or \fbox{...} (brace-matched; also "\boxed 5"), else what
 * follows the last "final answer is" / "the answer is" on its line (minus a
 * trailing '.' and $), else the last number. Writes it NUL-terminated into
 * out (truncated to cap-1 bytes) and returns true, or writes "" and returns
 * false when nothing was found. */
bool ttc_extract_answer(const char *response, char *out, size_t cap);

/* True when candidate grades equal to reference under the rules above.
 * NULL or empty on either side is never equal. */
bool ttc_answer_equal(const char *candidate, const char *reference);

/* A grouping key for majority voting: answers the rules make equal map to
 * the same key (reduced fractions, decimals and mixed numbers -> "p/q",
 * integers -> "n", closed-form numbers -> their value, sets sorted), except
 * where the rules themselves are not transitive (0.5 equals both \frac12 and
 * \frac{2}{4}, which differ). Writes into out (cap bytes, truncated); returns
 * the key length. */
size_t ttc_answer_canonical(const char *answer, char *out, size_t cap);

/* The normalized text of an answer (first stage above), for diagnostics. */
size_t ttc_answer_normalize(const char *answer, char *out, size_t cap);
#endif
