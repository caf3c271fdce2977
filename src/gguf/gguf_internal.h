/* Reader internals shared with the writer (not a public API). */
#ifndef TTC_GGUF_INTERNAL_H
#define TTC_GGUF_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "gguf/gguf.h"

/* The raw bytes of entry k's value as stored in the file: u32 type then the
 * value (string, array or scalar). TTC_EINVAL for a bad k. */
int ttc_gguf_kv_raw(const ttc_gguf *g, int64_t k, const uint8_t **val, size_t *len);
#endif
