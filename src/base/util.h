/* Small shared utilities: clocks, whole-file reads, checked arithmetic. */
#ifndef TTC_UTIL_H
#define TTC_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include "ttc.h"

#define TTC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TTC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TTC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic wall clock in seconds. */
double ttc_now(void);

/* Reads a whole file into a fresh NUL-terminated buffer (*len excludes the
 * NUL). The caller frees *out. Errors name the path and errno text. */
int ttc_read_file(const char *path, char **out, size_t *len, ttc_err *e);

/* Writes len bytes to path atomically (temp file + rename). */
int ttc_write_file(const char *path, const void *data, size_t len, ttc_err *e);

/* Streaming atomic write: ttc_atomic_open creates path's temp file
 * ("<path>.tmp<pid>") and returns it in *a; the caller writes to a->f;
 * ttc_atomic_commit flushes, fsyncs and renames it over path when rc is
 * TTC_OK (else, or on any failure, removes it) and returns the final code,
 * with an error naming path when the write itself failed. */
typedef struct ttc_atomic { FILE *f; char *tmp; } ttc_atomic;
int ttc_atomic_open(const char *path, ttc_atomic *a, ttc_err *e);
int ttc_atomic_commit(ttc_atomic *a, const char *path, int rc, ttc_err *e);

/* a*b and a+b into *out; false on size_t overflow. */
static inline bool ttc_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool ttc_add_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* A fresh NUL-terminated prefix + middle[0..len) + suffix; NULL on OOM. */
char *ttc_str_join3(const char *prefix, const char *middle, size_t len, const char *suffix);

/* Creates dir and its missing parents (mode 0755); existing dirs are fine. */
int ttc_mkdir_p(const char *dir, ttc_err *e);

/* Resident set size of this process in bytes (from /proc), or 0. */
size_t ttc_rss_bytes(void);
#endif
