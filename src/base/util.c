#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

double ttc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ttc_read_file(const char *path, char **out, size_t *len, ttc_err *e) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ttc_err_set(e, errno == ENOENT ? TTC_ENOTFOUND : TTC_EIO,
                               "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb; cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return ttc_err_set(e, TTC_ENOMEM, "%s: out of memory reading file", path);
    if (bad) { free(buf); return ttc_err_set(e, TTC_EIO, "%s: read error", path); }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return TTC_OK;
}

int ttc_atomic_open(const char *path, ttc_atomic *a, ttc_err *e) {
    size_t pl = strlen(path);
    a->f = NULL;
    if (!(a->tmp = malloc(pl + 24))) return ttc_err_set(e, TTC_ENOMEM, "%s: out of memory", path);
    snprintf(a->tmp, pl + 24, "%s.tmp%d", path, (int)getpid());
    if (!(a->f = fopen(a->tmp, "wb"))) {
        int rc = ttc_err_set(e, TTC_EIO, "%s: cannot create: %s", a->tmp, strerror(errno));
        free(a->tmp);
        a->tmp = NULL;
        return rc;
    }
    return TTC_OK;
}

int ttc_atomic_commit(ttc_atomic *a, const char *path, int rc, ttc_err *e) {
    int err = errno;
    if (rc == TTC_OK && (ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)) { rc = TTC_EIO; err = errno; }
    if (fclose(a->f) != 0 && rc == TTC_OK) { rc = TTC_EIO; err = errno; }
    if (rc == TTC_OK && rename(a->tmp, path) != 0) { rc = TTC_EIO; err = errno; }
    if (rc) {
        unlink(a->tmp);
        if (rc == TTC_EIO) ttc_err_set(e, TTC_EIO, "%s: write failed: %s", path, strerror(err));
    }
    free(a->tmp);
    a->tmp = NULL;
    a->f = NULL;
    return rc;
}

int ttc_write_file(const char *path, const void *data, size_t len, ttc_err *e) {
    ttc_atomic a;
    int rc = ttc_atomic_open(path, &a, e);
    if (rc) return rc;
    return ttc_atomic_commit(&a, path, fwrite(data, 1, len, a.f) == len ? TTC_OK : TTC_EIO, e);
}

size_t ttc_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long pages = 0, rss = 0;
    int n = fscanf(f, "%ld %ld", &pages, &rss);
    fclose(f);
    return n == 2 ? (size_t)rss * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

int ttc_mkdir_p(const char *dir, ttc_err *e) {
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return ttc_err_set(e, TTC_EINVAL, "mkdir: bad path length %zu", n);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return ttc_err_set(e, TTC_EIO, "%s: cannot create: %s", buf, strerror(errno));
        buf[i] = c;
    }
    return TTC_OK;
}

char *ttc_str_join3(const char *prefix, const char *middle, size_t len, const char *suffix) {
    size_t a = strlen(prefix), c = strlen(suffix);
    char *s = malloc(a + len + c + 1);
    if (!s) return NULL;
    memcpy(s, prefix, a);
    memcpy(s + a, middle, len);
    memcpy(s + a + len, suffix, c + 1);
    return s;
}
