/* Helpers shared by the Criterion test files (tests/test_*.c). */
#ifndef TTC_TESTUTIL_H
#define TTC_TESTUTIL_H
#include <stddef.h>

/* Path under the read-only shared folder ($TTC_SHARED, default ../shared).
 * Returns a static buffer valid until the next call. */
const char *tu_shared(const char *rel);
/* Path of the ttc binary ($TTC_BIN, default build/ttc). */
const char *tu_bin(void);
/* A fresh temporary directory (mkdtemp); static buffer. */
const char *tu_tmpdir(void);
/* Runs `sh -c cmd`, feeding `in` (may be NULL) on stdin and capturing stdout
 * into *out (malloc'd, NUL-terminated; may pass out=NULL). Returns the exit
 * status, or -1 if the command could not run / died by a signal. */
int tu_run(const char *cmd, const char *in, char **out);
/* True if the file exists. */
int tu_exists(const char *path);
#endif
