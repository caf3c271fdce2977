/* Error records: see include/ttc.h. */
#include "ttc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ttc_err_set(ttc_err *e, int code, const char *fmt, ...) {
    if (!e) return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int ttc_err_wrap(ttc_err *e, const char *fmt, ...) {
    if (!e) return TTC_OK;
    char prefix[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s%s", prefix, old);
    return e->code;
}

const char *ttc_strerror(int code) {
    switch (code) {
    case TTC_OK:           return "ok";
    case TTC_EINVAL:       return "invalid argument";
    case TTC_EIO:          return "i/o error";
    case TTC_EFORMAT:      return "malformed input";
    case TTC_ENOMEM:       return "out of memory";
    case TTC_EUNSUPPORTED: return "unsupported";
    case TTC_ENOTFOUND:    return "not found";
    case TTC_ECANCELED:    return "canceled";
    case TTC_ENET:         return "network error";
    case TTC_ENUMERIC:     return "numeric error";
    default:               return "unknown error";
    }
}
