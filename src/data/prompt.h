/* Prompt formats shared by the trainer, the search strategies, eval and the
 * experiment. A generator is trained on
 *
 *     ttc_prompt_solve(problem) + solution + EOS
 *
 * where the solution has one step per line, every line ends in '\n', and the
 * last line is "The answer is \boxed{N}.". A revision model is trained on
 *
 *     ttc_prompt_revise(problem, attempts, n) + solution + EOS
 *
 * Both return malloc'd NUL-terminated strings (caller frees) or NULL when out
 * of memory. */
#ifndef TTC_DATA_PROMPT_H
#define TTC_DATA_PROMPT_H
#include <stddef.h>

/* "Problem: <problem>\nSolution:\n". */
char *ttc_prompt_solve(const char *problem);
/* Its two fixed pieces: TTC_PROMPT_SOLVE_PREFIX problem TTC_PROMPT_SOLVE_SUFFIX. */
#define TTC_PROMPT_SOLVE_PREFIX "Problem: "
#define TTC_PROMPT_SOLVE_SUFFIX "\nSolution:\n"

/* "Problem: <problem>\n" then, for k = 1..n_attempts,
 * "Attempt k:\n<attempt>\n" (one trailing '\n' of the attempt is dropped
 * first, so an attempt that ends in '\n' is not followed by a blank line),
 * then "Solution:\n". n_attempts may be 0 (then equals ttc_prompt_solve). */
char *ttc_prompt_revise(const char *problem, const char *const *attempts, int n_attempts);

/* The text X with ttc_prompt_solve(X) == ttc_prompt_revise(problem,
 * attempts, n_attempts): the problem followed by the attempts. Verifiers
 * that root at "Problem: X\nSolution:\n" (an ORM for revisions) read the
 * revision prompt through it. */
char *ttc_prompt_revise_context(const char *problem, const char *const *attempts, int n_attempts);

/* Writes ttc_prompt_solve(problem) into buf (cap bytes, NUL-terminated,
 * truncated if needed); returns the full length it needed (like snprintf). */
size_t ttc_prompt_solve_to(char *buf, size_t cap, const char *problem);
#endif
