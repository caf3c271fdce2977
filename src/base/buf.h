/* Growable byte buffer with printf-style appends (for reports, SVG, CSV). */
#ifndef TTC_BUF_H
#define TTC_BUF_H
#include <stdbool.h>
#include <stddef.h>

typedef struct ttc_buf {
    char  *data;  /* NUL-terminated when len > 0 or after any append */
    size_t len, cap;
    bool   oom;   /* set once an allocation failed; later appends are ignored */
} ttc_buf;

/* Appends printf-style text. On allocation failure sets b->oom. */
void ttc_buf_printf(ttc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends n raw bytes. */
void ttc_buf_append(ttc_buf *b, const void *p, size_t n);
/* Appends s with &, <, >, " escaped for HTML/XML. */
void ttc_buf_xml(ttc_buf *b, const char *s);
void ttc_buf_free(ttc_buf *b);
#endif
