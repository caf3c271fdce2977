#include "base/jsonl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ttc_jsonl_resume(const char *path, int (*fn)(void *ud, json_t *obj, int line_no, ttc_err *e),
                     void *ud, ttc_err *e) {
    FILE *f = fopen(path, "r+");
    if (!f) return errno == ENOENT ? TTC_OK : ttc_err_set(e, TTC_EIO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long good = 0;
    int lineno = 0, rc = TTC_OK;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] != '\n') break; /* torn: the run was killed mid-write */
        if (len > 1) {
            json_error_t je;
            json_t *o = json_loads(line, 0, &je);
            if (!json_is_object(o)) {
                json_decref(o);
                rc = ttc_err_set(e, TTC_EFORMAT, "%s:%d: not a JSON object%s%s", path, lineno,
                                 o ? "" : ": ", o ? "" : je.text);
                break;
            }
            rc = fn(ud, o, lineno, e);
            json_decref(o);
            if (rc) break;
        }
        good = ftell(f);
    }
    free(line);
    if (rc == TTC_OK && ftruncate(fileno(f), good) != 0)
        rc = ttc_err_set(e, TTC_EIO, "%s: cannot drop the torn last line: %s", path, strerror(errno));
    fclose(f);
    return rc;
}

int ttc_jsonl_append(FILE *f, json_t *obj, const char *path, ttc_err *e) {
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!s) return ttc_err_set(e, TTC_ENOMEM, "%s: out of memory", path);
    int bad = fputs(s, f) < 0 || fputc('\n', f) < 0 || fflush(f) != 0;
    free(s);
    if (!bad) fsync(fileno(f));
    return bad ? ttc_err_set(e, TTC_EIO, "%s: write failed: %s", path, strerror(errno)) : TTC_OK;
}

static unsigned str_hash(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int rehash(ttc_strset *s, int n_slot) {
    int *slot = malloc(sizeof(int) * n_slot);
    if (!slot) return TTC_ENOMEM;
    for (int i = 0; i < n_slot; i++) slot[i] = -1;
    for (int i = 0; i < s->n; i++) {
        int j = (int)(s->h[i] & (unsigned)(n_slot - 1));
        while (slot[j] >= 0) j = (j + 1) & (n_slot - 1);
        slot[j] = i;
    }
    free(s->slot);
    s->slot = slot;
    s->n_slot = n_slot;
    return TTC_OK;
}

int ttc_strset_add(ttc_strset *s, const char *key) {
    if (ttc_strset_has(s, key)) return TTC_OK;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, sizeof(char *) * cap);
        if (!v) return TTC_ENOMEM;
        s->v = v;
        unsigned *h = realloc(s->h, sizeof(unsigned) * cap);
        if (!h) return TTC_ENOMEM;
        s->h = h;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(key))) return TTC_ENOMEM;
    s->h[s->n] = str_hash(key);
    s->n++;
    if (s->n * 2 > s->n_slot) return rehash(s, s->n_slot ? s->n_slot * 2 : 128);
    int j = (int)(s->h[s->n - 1] & (unsigned)(s->n_slot - 1));
    while (s->slot[j] >= 0) j = (j + 1) & (s->n_slot - 1);
    s->slot[j] = s->n - 1;
    return TTC_OK;
}

int ttc_strset_has(const ttc_strset *s, const char *key) {
    if (!s->n_slot) return 0;
    unsigned h = str_hash(key);
    for (int j = (int)(h & (unsigned)(s->n_slot - 1)); s->slot[j] >= 0; j = (j + 1) & (s->n_slot - 1))
        if (s->h[s->slot[j]] == h && !strcmp(s->v[s->slot[j]], key)) return 1;
    return 0;
}

void ttc_strset_free(ttc_strset *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    free(s->h);
    free(s->slot);
    memset(s, 0, sizeof *s);
}
