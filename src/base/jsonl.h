/* Append-only JSONL result files that survive a killed run: every record is
 * one line written and flushed at once; on restart the complete lines are
 * read back (to skip work already done) and a torn last line is cut off. */
#ifndef TTC_JSONL_H
#define TTC_JSONL_H
#include <jansson.h>
#include <stdio.h>
#include "ttc.h"

/* Calls fn(ud, obj, line_no) for every complete line of path that parses as
 * a JSON object (blank lines skipped), then truncates the file after the
 * last complete line. A missing file is not an error. A line that is not a
 * JSON object fails with TTC_EFORMAT naming path:line; fn's nonzero return
 * stops the scan and is returned. */
int ttc_jsonl_resume(const char *path, int (*fn)(void *ud, json_t *obj, int line_no, ttc_err *e),
                     void *ud, ttc_err *e);

/* Writes obj (reference stolen) compactly as one line to f, then flushes
 * and fsyncs. Errors name path. */
int ttc_jsonl_append(FILE *f, json_t *obj, const char *path, ttc_err *e);

/* A set of strings (record keys), insertion-ordered, hashed. */
typedef struct ttc_strset { char **v; unsigned *h; int n, cap; int *slot; int n_slot; } ttc_strset;
int  ttc_strset_add(ttc_strset *s, const char *key);      /* TTC_OK or TTC_ENOMEM */
int  ttc_strset_has(const ttc_strset *s, const char *key);
void ttc_strset_free(ttc_strset *s);
#endif
