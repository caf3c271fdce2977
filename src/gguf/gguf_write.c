/* GGUF v3 writer. Each key's value is kept serialized (u32 type + value
 * bytes, exactly as in the file), so copying a key from a reader is a byte
 * copy and writing is concatenation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

typedef struct {
    char    *key;
    uint8_t *val;     /* u32 type + value */
    size_t   len;
} wkv;

typedef struct {
    char       *name;
    int         type, n_dims;
    int64_t     ne[TTC_GGUF_MAX_DIMS];
    size_t      nbytes;
    const void *data;
    void       *owned;
} wtensor;

struct ttc_gguf_writer {
    uint32_t alignment;
    wkv     *kv;
    size_t   n_kv, cap_kv;
    wtensor *t;
    size_t   n_t, cap_t;
};

/* ---- byte buffer ---- */

typedef struct { uint8_t *p; size_t len, cap; bool oom; } buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->oom || !n) return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s, size_t n) { put_u64(b, n); put(b, s, n); }

/* ---- writer ---- */

int ttc_gguf_writer_new(ttc_gguf_writer **out, ttc_err *e) {
    *out = calloc(1, sizeof **out);
    if (!*out) return ttc_err_set(e, TTC_ENOMEM, "gguf writer: out of memory");
    (*out)->alignment = TTC_GGUF_DEFAULT_ALIGNMENT;
    return TTC_OK;
}

void ttc_gguf_writer_free(ttc_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].val); }
    for (size_t i = 0; i < w->n_t; i++) { free(w->t[i].name); free(w->t[i].owned); }
    free(w->kv);
    free(w->t);
    free(w);
}

/* Installs a serialized value under key (taking ownership of b->p). */
static int set_raw(ttc_gguf_writer *w, const char *key, buf *b, ttc_err *e) {
    if (b->oom) { free(b->p); return ttc_err_set(e, TTC_ENOMEM, "gguf writer: key '%s': out of memory", key); }
    if (!key || !*key) { free(b->p); return ttc_err_set(e, TTC_EINVAL, "gguf writer: empty key"); }
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].val);
            w->kv[i].val = b->p;
            w->kv[i].len = b->len;
            return TTC_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *kv = realloc(w->kv, cap * sizeof *kv);
        if (!kv) { free(b->p); return ttc_err_set(e, TTC_ENOMEM, "gguf writer: out of memory"); }
        w->kv = kv; w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) { free(b->p); return ttc_err_set(e, TTC_ENOMEM, "gguf writer: out of memory"); }
    w->kv[w->n_kv++] = (wkv){k, b->p, b->len};
    return TTC_OK;
}

static int set_scalar(ttc_gguf_writer *w, const char *key, int type, const void *v, size_t n, ttc_err *e) {
    buf b = {0};
    put_u32(&b, (uint32_t)type);
    put(&b, v, n);
    return set_raw(w, key, &b, e);
}

#define SETTER(NAME, CT, VT)                                                               \
    int ttc_gguf_set_##NAME(ttc_gguf_writer *w, const char *key, CT v, ttc_err *e) {        \
        return set_scalar(w, key, VT, &v, sizeof v, e);                                     \
    }
SETTER(u8, uint8_t, TTC_GGUF_U8)
SETTER(i8, int8_t, TTC_GGUF_I8)
SETTER(u16, uint16_t, TTC_GGUF_U16)
SETTER(i16, int16_t, TTC_GGUF_I16)
SETTER(u32, uint32_t, TTC_GGUF_U32)
SETTER(i32, int32_t, TTC_GGUF_I32)
SETTER(f32, float, TTC_GGUF_F32)
SETTER(u64, uint64_t, TTC_GGUF_U64)
SETTER(i64, int64_t, TTC_GGUF_I64)
SETTER(f64, double, TTC_GGUF_F64)

int ttc_gguf_set_bool(ttc_gguf_writer *w, const char *key, bool v, ttc_err *e) {
    uint8_t b = v ? 1 : 0;
    return set_scalar(w, key, TTC_GGUF_BOOL, &b, 1, e);
}

int ttc_gguf_set_str(ttc_gguf_writer *w, const char *key, const char *s, ttc_err *e) {
    buf b = {0};
    put_u32(&b, TTC_GGUF_STR);
    put_str(&b, s, strlen(s));
    return set_raw(w, key, &b, e);
}

static size_t scalar_size(int t) {
    switch (t) {
    case TTC_GGUF_U8: case TTC_GGUF_I8: case TTC_GGUF_BOOL: return 1;
    case TTC_GGUF_U16: case TTC_GGUF_I16: return 2;
    case TTC_GGUF_U32: case TTC_GGUF_I32: case TTC_GGUF_F32: return 4;
    case TTC_GGUF_U64: case TTC_GGUF_I64: case TTC_GGUF_F64: return 8;
    default: return 0;
    }
}

int ttc_gguf_set_arr(ttc_gguf_writer *w, const char *key, int elem_type, const void *data, uint64_t n,
                     ttc_err *e) {
    size_t es = scalar_size(elem_type), bytes;
    if (!es) return ttc_err_set(e, TTC_EINVAL, "gguf writer: key '%s': array element type %s is not a scalar",
                                key, ttc_gguf_vtype_name(elem_type));
    if (!ttc_mul_ok(es, (size_t)n, &bytes))
        return ttc_err_set(e, TTC_ENOMEM, "gguf writer: key '%s': array too large", key);
    buf b = {0};
    put_u32(&b, TTC_GGUF_ARR);
    put_u32(&b, (uint32_t)elem_type);
    put_u64(&b, n);
    if (elem_type == TTC_GGUF_BOOL) {
        const bool *v = data;
        for (uint64_t i = 0; i < n; i++) { uint8_t x = v[i] ? 1 : 0; put(&b, &x, 1); }
    } else {
        put(&b, data, bytes);
    }
    return set_raw(w, key, &b, e);
}

int ttc_gguf_set_arr_str(ttc_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                         uint64_t n, ttc_err *e) {
    buf b = {0};
    put_u32(&b, TTC_GGUF_ARR);
    put_u32(&b, TTC_GGUF_STR);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) put_str(&b, strs[i], lens ? lens[i] : strlen(strs[i]));
    return set_raw(w, key, &b, e);
}

int ttc_gguf_writer_copy_kv(ttc_gguf_writer *w, const ttc_gguf *g, int64_t k, ttc_err *e) {
    const uint8_t *val;
    size_t len;
    const ttc_gguf_kv *kv = ttc_gguf_kv_at(g, k);
    if (!kv || ttc_gguf_kv_raw(g, k, &val, &len))
        return ttc_err_set(e, TTC_EINVAL, "gguf writer: %s has no key %lld", ttc_gguf_path(g), (long long)k);
    buf b = {0};
    put(&b, val, len);
    return set_raw(w, kv->key, &b, e);
}

int ttc_gguf_writer_copy_prefix(ttc_gguf_writer *w, const ttc_gguf *g, const char *prefix, ttc_err *e) {
    size_t pl = strlen(prefix);
    for (int64_t k = 0; k < ttc_gguf_n_keys(g); k++) {
        const char *key = ttc_gguf_kv_at(g, k)->key;
        if (strncmp(key, prefix, pl) || (!pl && !strcmp(key, "general.alignment"))) continue;
        int rc = ttc_gguf_writer_copy_kv(w, g, k, e);
        if (rc) return rc;
    }
    return TTC_OK;
}

int ttc_gguf_writer_set_alignment(ttc_gguf_writer *w, uint32_t align, ttc_err *e) {
    if (!align || align > 65536 || (align & (align - 1)))
        return ttc_err_set(e, TTC_EINVAL, "gguf writer: alignment %u is not a power of two in 1..65536", align);
    w->alignment = align;
    return TTC_OK;
}

static int add_tensor(ttc_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                      const void *data, bool copy, ttc_err *e) {
    if (!name || !*name) return ttc_err_set(e, TTC_EINVAL, "gguf writer: empty tensor name");
    if (strlen(name) > 63)  /* ggml's GGML_MAX_NAME - 1: longer names do not load in llama.cpp */
        return ttc_err_set(e, TTC_EINVAL, "gguf writer: tensor name '%.80s...' is longer than 63 bytes", name);
    if (n_dims < 1 || n_dims > TTC_GGUF_MAX_DIMS)
        return ttc_err_set(e, TTC_EINVAL, "gguf writer: tensor '%s': n_dims %d not in 1..4", name, n_dims);
    if (!ttc_type_block_size(type))
        return ttc_err_set(e, TTC_EINVAL, "gguf writer: tensor '%s': unknown type %d", name, type);
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    size_t rows = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0)
            return ttc_err_set(e, TTC_EINVAL, "gguf writer: tensor '%s': dimension %d = %lld", name, d, (long long)ne[d]);
        t.ne[d] = ne[d];
        if (d && !ttc_mul_ok(rows, (size_t)ne[d], &rows))
            return ttc_err_set(e, TTC_EINVAL, "gguf writer: tensor '%s': size overflows", name);
    }
    size_t row = ttc_type_row_bytes(type, ne[0]);
    if (!row)
        return ttc_err_set(e, TTC_EINVAL, "gguf writer: tensor '%s': row length %lld is not a multiple of the %s block size %lld",
                           name, (long long)ne[0], ttc_type_name(type), (long long)ttc_type_block_size(type));
    if (!ttc_mul_ok(row, rows, &t.nbytes))
        return ttc_err_set(e, TTC_EINVAL, "gguf writer: tensor '%s': size overflows", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name))
            return ttc_err_set(e, TTC_EINVAL, "gguf writer: duplicate tensor '%s'", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return ttc_err_set(e, TTC_ENOMEM, "gguf writer: out of memory");
        w->t = p; w->cap_t = cap;
    }
    t.name = strdup(name);
    if (copy && t.name) {
        t.owned = malloc(t.nbytes);
        if (t.owned) memcpy(t.owned, data, t.nbytes);
    }
    if (!t.name || (copy && !t.owned)) {
        free(t.name);
        return ttc_err_set(e, TTC_ENOMEM, "gguf writer: tensor '%s': out of memory for %zu bytes", name, t.nbytes);
    }
    t.data = copy ? t.owned : data;
    w->t[w->n_t++] = t;
    return TTC_OK;
}

int ttc_gguf_writer_add_tensor(ttc_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                               const void *data, ttc_err *e) {
    return add_tensor(w, name, type, n_dims, ne, data, false, e);
}

int ttc_gguf_writer_add_tensor_copy(ttc_gguf_writer *w, const char *name, int type, int n_dims,
                                    const int64_t *ne, const void *data, ttc_err *e) {
    return add_tensor(w, name, type, n_dims, ne, data, true, e);
}

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* Everything before the tensor data: header, keys, tensor infos, padding. */
static int build_meta(const ttc_gguf_writer *w, buf *b, ttc_err *e) {
    bool set_align = w->alignment != TTC_GGUF_DEFAULT_ALIGNMENT;
    size_t n_kv = w->n_kv;
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, "general.alignment")) { n_kv--; break; }
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, w->n_t);
    put_u64(b, n_kv + set_align);
    /* The writer's alignment wins over any copied general.alignment. */
    if (set_align) {
        put_str(b, "general.alignment", 17);
        put_u32(b, TTC_GGUF_U32);
        put_u32(b, w->alignment);
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, "general.alignment")) continue;
        put_str(b, w->kv[i].key, strlen(w->kv[i].key));
        put(b, w->kv[i].val, w->kv[i].len);
    }
    size_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(b, t->name, strlen(t->name));
        put_u32(b, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(b, (uint64_t)t->ne[d]);
        put_u32(b, (uint32_t)t->type);
        put_u64(b, off);
        off = align_up(off + t->nbytes, w->alignment);
    }
    static const uint8_t zeros[64];
    while (!b->oom && b->len % w->alignment) put(b, zeros, TTC_MIN(sizeof zeros, align_up(b->len, w->alignment) - b->len));
    if (b->oom) return ttc_err_set(e, TTC_ENOMEM, "gguf writer: out of memory");
    return TTC_OK;
}

/* Calls emit(ctx, bytes, n) for the whole file in order. */
static int emit_file(const ttc_gguf_writer *w, int (*emit)(void *, const void *, size_t), void *ctx, ttc_err *e) {
    buf meta = {0};
    int rc = build_meta(w, &meta, e);
    if (!rc && emit(ctx, meta.p, meta.len)) rc = TTC_EIO;
    free(meta.p);
    static const uint8_t zeros[64];
    for (size_t i = 0; !rc && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if (emit(ctx, t->data, t->nbytes)) { rc = TTC_EIO; break; }
        for (size_t pad = align_up(t->nbytes, w->alignment) - t->nbytes; pad && !rc; ) {
            size_t k = TTC_MIN(pad, sizeof zeros);
            if (emit(ctx, zeros, k)) rc = TTC_EIO;
            pad -= k;
        }
    }
    return rc;
}

static int emit_buf(void *ctx, const void *p, size_t n) {
    buf *b = ctx;
    put(b, p, n);
    return b->oom ? -1 : 0;
}

static int emit_fp(void *ctx, const void *p, size_t n) {
    return fwrite(p, 1, n, (FILE *)ctx) == n ? 0 : -1;
}

int ttc_gguf_writer_write_mem(const ttc_gguf_writer *w, void **out, size_t *len, ttc_err *e) {
    buf b = {0};
    int rc = emit_file(w, emit_buf, &b, e);
    if (rc) {
        free(b.p);
        return rc == TTC_EIO ? ttc_err_set(e, TTC_ENOMEM, "gguf writer: out of memory") : rc;
    }
    *out = b.p;
    *len = b.len;
    return TTC_OK;
}

int ttc_gguf_writer_write(const ttc_gguf_writer *w, const char *path, ttc_err *e) {
    ttc_atomic a;
    int rc = ttc_atomic_open(path, &a, e);
    if (rc) return rc;
    return ttc_atomic_commit(&a, path, emit_file(w, emit_fp, a.f, e), e);
}
