#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_shared(const char *rel) {
    static char buf[4096];
    const char *root = getenv("TTC_SHARED");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : "../shared", rel);
    return buf;
}

const char *tu_bin(void) {
    const char *b = getenv("TTC_BIN");
    return b && *b ? b : "build/ttc";
}

/* The folders tu_tmpdir made in this process, removed with their contents
 * when it exits (a crashed test leaves its folder for inspection). */
static char **tmp_dirs;
static int n_tmp_dirs;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path) != 0 && errno != ENOENT; /* keep going over what is gone */
}

static void tmp_dirs_remove(void) {
    for (int i = 0; i < n_tmp_dirs; i++) {
        nftw(tmp_dirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(tmp_dirs[i]);
    }
    free(tmp_dirs);
    tmp_dirs = NULL;
    n_tmp_dirs = 0;
}

const char *tu_tmpdir(void) {
    static char buf[64];
    strcpy(buf, "/tmp/ttc-test-XXXXXX");
    if (!mkdtemp(buf)) return NULL;
    static bool registered;
    if (!registered) registered = atexit(tmp_dirs_remove) == 0;
    char **v = realloc(tmp_dirs, (size_t)(n_tmp_dirs + 1) * sizeof *v);
    if (v) {
        tmp_dirs = v;
        if ((v[n_tmp_dirs] = strdup(buf))) n_tmp_dirs++;
    }
    return buf;
}

int tu_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int tu_run(const char *cmd, const char *in, char **out) {
    char inpath[64] = "/tmp/ttc-in-XXXXXX", outpath[64] = "/tmp/ttc-out-XXXXXX";
    int fi = mkstemp(inpath), fo = mkstemp(outpath);
    if (fi < 0 || fo < 0) return -1;
    if (in) { size_t n = strlen(in); if (write(fi, in, n) != (ssize_t)n) return -1; }
    close(fi); close(fo);
    size_t len = strlen(cmd) + 256;
    char *full = malloc(len);
    snprintf(full, len, "(%s) < %s > %s", cmd, inpath, outpath);
    int st = system(full);
    free(full);
    if (out) {
        FILE *f = fopen(outpath, "rb");
        size_t cap = 1 << 16, n = 0;
        char *b = malloc(cap);
        size_t r;
        while (f && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
            n += r;
            if (n + 1 >= cap) b = realloc(b, cap *= 2);
        }
        if (f) fclose(f);
        b[n] = 0;
        *out = b;
    }
    unlink(inpath); unlink(outpath);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}
