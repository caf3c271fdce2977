#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool buf_reserve(ttc_buf *b, size_t extra) {
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) { b->oom = true; return false; }
    b->data = d;
    b->cap = cap;
    return true;
}

void ttc_buf_append(ttc_buf *b, const void *p, size_t n) {
    if (!buf_reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void ttc_buf_printf(ttc_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) { ttc_buf_append(b, small, (size_t)n); return; }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ttc_buf_xml(ttc_buf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': ttc_buf_append(b, "&amp;", 5); break;
        case '<': ttc_buf_append(b, "&lt;", 4); break;
        case '>': ttc_buf_append(b, "&gt;", 4); break;
        case '"': ttc_buf_append(b, "&quot;", 6); break;
        default:  ttc_buf_append(b, s, 1);
        }
    }
}

void ttc_buf_free(ttc_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}
