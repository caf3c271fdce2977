/* GGUF v3 reader: parse and validate everything once at open, then serve
 * lookups from tables. See gguf.h for the format and the guarantees. */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "gguf/gguf_internal.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF reader assumes a little-endian host");

#define MAX_NAME_LEN (1u << 16)   /* keys and tensor names */

/* ---- small arena for NUL-terminated copies of names and strings ---- */

typedef struct arena_blk { struct arena_blk *next; size_t used, cap; char data[]; } arena_blk;

static char *arena_strdup(arena_blk **a, const uint8_t *s, size_t n) {
    arena_blk *b = *a;
    if (!b || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > 65536 ? n + 1 : 65536;
        arena_blk *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b; nb->used = 0; nb->cap = cap;
        *a = b = nb;
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    p[n] = 0;
    b->used += n + 1;
    return p;
}

static void arena_free(arena_blk *a) {
    while (a) { arena_blk *n = a->next; free(a); a = n; }
}

/* ---- name hash (open addressing over indices) ---- */

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;  /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Indices of n names (keys or tensor names, which live elsewhere); the
 * table has at least twice as many slots as names, so probes end. */
typedef struct {
    int64_t *slot;   /* index + 1; 0 = empty */
    size_t   mask;
} name_index;

static int nidx_init(name_index *x, int64_t n) {
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    x->slot = calloc(cap, sizeof *x->slot);
    x->mask = cap - 1;
    return x->slot ? 0 : -1;
}

/* Index of name among names (the i-th name is the char * at byte offset
 * i * stride from names), or -1 with *free_slot set to where it would go. */
static int64_t nidx_find(const name_index *x, const char *const *names, size_t stride, const char *name,
                         size_t *free_slot) {
    for (size_t i = name_hash(name) & x->mask;; i = (i + 1) & x->mask) {
        int64_t s = x->slot[i];
        if (!s) {
            if (free_slot) *free_slot = i;
            return -1;
        }
        const char *other = *(const char *const *)((const char *)names + (size_t)(s - 1) * stride);
        if (!strcmp(other, name)) return s - 1;
    }
}

/* ---- the handle ---- */

struct ttc_gguf {
    char            *path;
    const uint8_t   *base;
    size_t           size;
    bool             mapped;
    uint32_t         version;
    size_t           alignment;
    uint64_t         data_off;
    int64_t          n_kv, n_tensors;
    ttc_gguf_kv     *kv;
    uint64_t        *kv_end;     /* file offset just past each entry */
    uint64_t        *kv_val;     /* file offset of each entry's value type field */
    uint64_t       **str_off;    /* string arrays: file offset of each element's bytes */
    ttc_gguf_tensor *t;
    name_index       kv_idx, t_idx;
    arena_blk       *arena;
};

/* nidx_find over the keys / the tensor names. */
static int64_t kv_index(const ttc_gguf *g, const char *key, size_t *free_slot) {
    return nidx_find(&g->kv_idx, &g->kv[0].key, sizeof *g->kv, key, free_slot);
}
static int64_t tensor_index(const ttc_gguf *g, const char *name, size_t *free_slot) {
    return nidx_find(&g->t_idx, &g->t[0].name, sizeof *g->t, name, free_slot);
}

static size_t vtype_size(int t) {
    switch (t) {
    case TTC_GGUF_U8: case TTC_GGUF_I8: case TTC_GGUF_BOOL: return 1;
    case TTC_GGUF_U16: case TTC_GGUF_I16: return 2;
    case TTC_GGUF_U32: case TTC_GGUF_I32: case TTC_GGUF_F32: return 4;
    case TTC_GGUF_U64: case TTC_GGUF_I64: case TTC_GGUF_F64: return 8;
    default: return 0;
    }
}

const char *ttc_gguf_vtype_name(int t) {
    static const char *names[TTC_GGUF_NTYPES] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
    };
    return t >= 0 && t < TTC_GGUF_NTYPES ? names[t] : "invalid";
}

/* ---- bounded cursor ---- */

typedef struct {
    const uint8_t *p;
    size_t         size, off;
    const char    *path;
    ttc_err       *e;
} cursor;

static int need(cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->off)
        return ttc_err_set(c->e, TTC_EFORMAT,
                           "%s: offset %zu: %s: needs %llu bytes, only %zu left (truncated file?)",
                           c->path, c->off, what, (unsigned long long)n, c->size - c->off);
    return TTC_OK;
}

static int get_u32(cursor *c, uint32_t *v, const char *what) {
    int rc = need(c, 4, what);
    if (rc) return rc;
    memcpy(v, c->p + c->off, 4);
    c->off += 4;
    return TTC_OK;
}

static int get_u64(cursor *c, uint64_t *v, const char *what) {
    int rc = need(c, 8, what);
    if (rc) return rc;
    memcpy(v, c->p + c->off, 8);
    c->off += 8;
    return TTC_OK;
}

/* A GGUF string: u64 length then bytes. *s points into the buffer. */
static int get_str(cursor *c, const uint8_t **s, uint64_t *len, const char *what) {
    size_t at = c->off;
    int rc = get_u64(c, len, what);
    if (rc) return rc;
    if (*len > c->size - c->off)
        return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: string length %llu exceeds the %zu bytes left",
                           c->path, at, what, (unsigned long long)*len, c->size - c->off);
    *s = c->p + c->off;
    c->off += (size_t)*len;
    return TTC_OK;
}

/* A key or tensor name: non-empty, bounded, no NUL bytes; copied. */
static int get_name(ttc_gguf *g, cursor *c, const char **out, const char *what) {
    size_t at = c->off;
    const uint8_t *s;
    uint64_t len;
    int rc = get_str(c, &s, &len, what);
    if (rc) return rc;
    if (len == 0 || len > MAX_NAME_LEN || memchr(s, 0, (size_t)len))
        return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: %s (length %llu)", c->path, at, what,
                           len == 0 ? "empty name" : len > MAX_NAME_LEN ? "name too long" : "name contains a NUL byte",
                           (unsigned long long)len);
    *out = arena_strdup(&g->arena, s, (size_t)len);
    if (!*out) return ttc_err_set(c->e, TTC_ENOMEM, "%s: out of memory copying %s", c->path, what);
    return TTC_OK;
}

/* ---- parsing ---- */

static int parse_kv(ttc_gguf *g, cursor *c, int64_t i) {
    ttc_gguf_kv *kv = &g->kv[i];
    char what[96];
    snprintf(what, sizeof what, "key %lld name", (long long)i);
    kv->file_offset = c->off;
    int rc = get_name(g, c, &kv->key, what);
    if (rc) return rc;
    size_t slot;
    int64_t dup = kv_index(g, kv->key, &slot);
    if (dup >= 0)
        return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %llu: key %lld '%s': duplicate of key %lld",
                           c->path, (unsigned long long)kv->file_offset, (long long)i, kv->key, (long long)dup);
    g->kv_idx.slot[slot] = i + 1;
    char ctx[160];
    snprintf(ctx, sizeof ctx, "key %lld '%.100s'", (long long)i, kv->key);
    g->kv_val[i] = c->off;
    uint32_t type;
    if ((rc = get_u32(c, &type, ctx))) return rc;
    if (type >= TTC_GGUF_NTYPES)
        return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: value type %u is not a GGUF type",
                           c->path, c->off - 4, ctx, type);
    kv->type = (int)type;
    if (type == TTC_GGUF_STR) {
        const uint8_t *s;
        if ((rc = get_str(c, &s, &kv->n, ctx))) return rc;
        kv->str = arena_strdup(&g->arena, s, (size_t)kv->n);
        if (!kv->str) return ttc_err_set(c->e, TTC_ENOMEM, "%s: out of memory copying %s", c->path, ctx);
    } else if (type == TTC_GGUF_ARR) {
        uint32_t et;
        uint64_t n;
        if ((rc = get_u32(c, &et, ctx)) || (rc = get_u64(c, &n, ctx))) return rc;
        if (et == TTC_GGUF_ARR)
            return ttc_err_set(c->e, TTC_EUNSUPPORTED, "%s: offset %zu: %s: nested arrays are not supported",
                               c->path, c->off - 12, ctx);
        if (et >= TTC_GGUF_NTYPES)
            return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: array element type %u is not a GGUF type",
                               c->path, c->off - 12, ctx, et);
        kv->arr_type = (int)et;
        kv->n = n;
        if (et == TTC_GGUF_STR) {
            if (n > (c->size - c->off) / 8)
                return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: %llu strings cannot fit in the %zu bytes left",
                                   c->path, c->off - 8, ctx, (unsigned long long)n, c->size - c->off);
            uint64_t *offs = malloc((n ? n : 1) * sizeof *offs);
            if (!offs) return ttc_err_set(c->e, TTC_ENOMEM, "%s: %s: out of memory for %llu strings", c->path, ctx,
                                          (unsigned long long)n);
            g->str_off[i] = offs;
            for (uint64_t j = 0; j < n; j++) {
                const uint8_t *s;
                uint64_t len;
                if ((rc = get_str(c, &s, &len, ctx))) return rc;
                offs[j] = (uint64_t)(s - c->p);
            }
        } else {
            size_t es = vtype_size((int)et);
            if (n > (c->size - c->off) / es)
                return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: %llu elements of %s cannot fit in the %zu bytes left",
                                   c->path, c->off - 8, ctx, (unsigned long long)n, ttc_gguf_vtype_name((int)et),
                                   c->size - c->off);
            size_t bytes = (size_t)n * es;
            uint8_t *a = malloc(bytes ? bytes : 1);
            if (!a) return ttc_err_set(c->e, TTC_ENOMEM, "%s: %s: out of memory for %zu bytes", c->path, ctx, bytes);
            memcpy(a, c->p + c->off, bytes);
            if (et == TTC_GGUF_BOOL)
                for (size_t j = 0; j < bytes; j++) a[j] = a[j] != 0;
            kv->arr = a;
            c->off += bytes;
        }
    } else {
        size_t es = vtype_size((int)type);
        if ((rc = need(c, es, ctx))) return rc;
        if (type == TTC_GGUF_BOOL) kv->v.b = c->p[c->off] != 0;
        else memcpy(&kv->v, c->p + c->off, es);
        c->off += es;
        kv->n = 1;
    }
    g->kv_end[i] = c->off;
    return TTC_OK;
}

static int parse_tensor(ttc_gguf *g, cursor *c, int64_t i) {
    ttc_gguf_tensor *t = &g->t[i];
    char what[64];
    snprintf(what, sizeof what, "tensor %lld name", (long long)i);
    size_t at = c->off;
    int rc = get_name(g, c, &t->name, what);
    if (rc) return rc;
    size_t slot;
    int64_t dup = tensor_index(g, t->name, &slot);
    if (dup >= 0)
        return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: tensor %lld '%s': duplicate of tensor %lld",
                           c->path, at, (long long)i, t->name, (long long)dup);
    g->t_idx.slot[slot] = i + 1;
    char ctx[160];
    snprintf(ctx, sizeof ctx, "tensor %lld '%.100s'", (long long)i, t->name);
    uint32_t nd, type;
    if ((rc = get_u32(c, &nd, ctx))) return rc;
    if (nd < 1 || nd > TTC_GGUF_MAX_DIMS)
        return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: n_dims %u not in 1..%d",
                           c->path, c->off - 4, ctx, nd, TTC_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    int64_t n_elems = 1;
    for (int d = 0; d < TTC_GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < (int)nd && (rc = get_u64(c, &ne, ctx))) return rc;
        if (ne == 0 || ne > INT64_MAX || __builtin_mul_overflow(n_elems, (int64_t)ne, &n_elems))
            return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: dimension %d = %llu %s", c->path,
                               c->off - 8, ctx, d, (unsigned long long)ne,
                               ne == 0 ? "is zero" : "overflows the element count");
        t->ne[d] = (int64_t)ne;
    }
    t->n_elems = n_elems;
    if ((rc = get_u32(c, &type, ctx))) return rc;
    t->type = (int)type;
    if (ttc_type_block_size((int)type) == 0)
        return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: type %u is not a known ggml type",
                           c->path, c->off - 4, ctx, type);
    t->supported = ttc_type_supported((int)type);
    if (t->ne[0] % ttc_type_block_size((int)type))
        return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: row length %lld is not a multiple of the %s block size %lld",
                           c->path, c->off - 4, ctx, (long long)t->ne[0], ttc_type_name((int)type),
                           (long long)ttc_type_block_size((int)type));
    size_t row, rows = (size_t)(n_elems / t->ne[0]);
    if (!ttc_mul_ok((size_t)(t->ne[0] / ttc_type_block_size((int)type)), ttc_type_block_bytes((int)type), &row) ||
        !ttc_mul_ok(row, rows, &t->nbytes))
        return ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %zu: %s: byte size overflows", c->path, c->off, ctx);
    if ((rc = get_u64(c, &t->offset, ctx))) return rc;
    return TTC_OK;
}

typedef struct { uint64_t off, end; int64_t i; } span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Checks placement of every tensor once the data section start is known:
 * aligned, inside the file, no two overlapping. */
static int check_tensor_data(ttc_gguf *g, cursor *c) {
    int64_t n = g->n_tensors;
    if (!n) return TTC_OK;
    span *sp = malloc((size_t)n * sizeof *sp);
    if (!sp) return ttc_err_set(c->e, TTC_ENOMEM, "%s: out of memory", c->path);
    int rc = TTC_OK;
    for (int64_t i = 0; i < n && !rc; i++) {
        ttc_gguf_tensor *t = &g->t[i];
        uint64_t start = 0, end = 0;
        bool ovf = __builtin_add_overflow(g->data_off, t->offset, &start) ||
                   __builtin_add_overflow(start, (uint64_t)t->nbytes, &end);
        if (t->offset % g->alignment)
            rc = ttc_err_set(c->e, TTC_EFORMAT, "%s: tensor %lld '%s': data offset %llu is not a multiple of the alignment %zu",
                             c->path, (long long)i, t->name, (unsigned long long)t->offset, g->alignment);
        else if (ovf || end > g->size)
            rc = ttc_err_set(c->e, TTC_EFORMAT, "%s: offset %llu: tensor %lld '%s': data ends at %llu%s past file size %zu",
                             c->path, (unsigned long long)g->data_off, (long long)i, t->name,
                             (unsigned long long)(g->data_off + t->offset + t->nbytes),
                             ovf ? " (overflow)" : "", g->size);
        else {
            t->data = g->base + start;
            sp[i] = (span){t->offset, t->offset + t->nbytes, i};
        }
    }
    if (!rc) {
        qsort(sp, (size_t)n, sizeof *sp, span_cmp);
        for (int64_t k = 1; k < n && !rc; k++)
            if (sp[k - 1].end > sp[k].off)
                rc = ttc_err_set(c->e, TTC_EFORMAT, "%s: tensor %lld '%s' (data %llu..%llu) overlaps tensor %lld '%s' (from %llu)",
                                 c->path, (long long)sp[k - 1].i, g->t[sp[k - 1].i].name,
                                 (unsigned long long)sp[k - 1].off, (unsigned long long)sp[k - 1].end,
                                 (long long)sp[k].i, g->t[sp[k].i].name, (unsigned long long)sp[k].off);
    }
    free(sp);
    return rc;
}

static int parse(ttc_gguf *g, ttc_err *e) {
    cursor c = {g->base, g->size, 0, g->path, e};
    uint32_t magic;
    uint64_t nt, nkv;
    int rc;
    if ((rc = get_u32(&c, &magic, "magic"))) return rc;
    if (memcmp(g->base, "GGUF", 4))
        return ttc_err_set(e, TTC_EFORMAT, "%s: offset 0: bad magic %02x %02x %02x %02x (not a GGUF file)",
                           g->path, g->base[0], g->base[1], g->base[2], g->base[3]);
    if ((rc = get_u32(&c, &g->version, "version"))) return rc;
    if (g->version != 2 && g->version != 3)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "%s: offset 4: GGUF version %u not supported (need 2 or 3%s)",
                           g->path, g->version, g->version > 0xFFFF ? "; big-endian file?" : "");
    if ((rc = get_u64(&c, &nt, "tensor count")) || (rc = get_u64(&c, &nkv, "key count"))) return rc;
    /* Smallest possible entries: key = 8 + 1 + 4 + 1 bytes; tensor = 8 + 1 + 4 + 8 + 4 + 8. */
    if (nkv > (c.size - c.off) / 14)
        return ttc_err_set(e, TTC_EFORMAT, "%s: offset 16: key count %llu cannot fit in the %zu bytes left",
                           g->path, (unsigned long long)nkv, c.size - c.off);
    if (nt > (c.size - c.off) / 33)
        return ttc_err_set(e, TTC_EFORMAT, "%s: offset 8: tensor count %llu cannot fit in the %zu bytes left",
                           g->path, (unsigned long long)nt, c.size - c.off);
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    g->kv = calloc(nkv + 1, sizeof *g->kv);
    g->kv_end = calloc(nkv + 1, sizeof *g->kv_end);
    g->kv_val = calloc(nkv + 1, sizeof *g->kv_val);
    g->str_off = calloc(nkv + 1, sizeof *g->str_off);
    g->t = calloc(nt + 1, sizeof *g->t);
    if (!g->kv || !g->kv_end || !g->kv_val || !g->str_off || !g->t ||
        nidx_init(&g->kv_idx, g->n_kv) || nidx_init(&g->t_idx, g->n_tensors))
        return ttc_err_set(e, TTC_ENOMEM, "%s: out of memory for %llu keys and %llu tensors", g->path,
                           (unsigned long long)nkv, (unsigned long long)nt);
    for (int64_t i = 0; i < g->n_kv; i++)
        if ((rc = parse_kv(g, &c, i))) return rc;
    g->alignment = TTC_GGUF_DEFAULT_ALIGNMENT;
    int64_t ak = ttc_gguf_find_key(g, "general.alignment");
    if (ak >= 0) {
        int64_t a;
        if ((rc = ttc_gguf_get_int(g, "general.alignment", 1, 1 << 30, &a, e))) return rc;
        if (a & (a - 1))
            return ttc_err_set(e, TTC_EFORMAT, "%s: offset %llu: key 'general.alignment': %lld is not a power of two",
                               g->path, (unsigned long long)g->kv[ak].file_offset, (long long)a);
        g->alignment = (size_t)a;
    }
    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((rc = parse_tensor(g, &c, i))) return rc;
    g->data_off = (c.off + g->alignment - 1) / g->alignment * g->alignment;
    return check_tensor_data(g, &c);
}

static int open_common(ttc_gguf *g, ttc_gguf **out, ttc_err *e) {
    int rc = parse(g, e);
    if (rc) {
        ttc_gguf_close(g);
        return rc;
    }
    *out = g;
    return TTC_OK;
}

int ttc_gguf_open_mem(const void *data, size_t size, ttc_gguf **out, ttc_err *e) {
    *out = NULL;
    ttc_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup("<memory>"))) {
        free(g);
        return ttc_err_set(e, TTC_ENOMEM, "<memory>: out of memory");
    }
    g->base = data ? data : (const uint8_t *)"";
    g->size = data ? size : 0;
    return open_common(g, out, e);
}

int ttc_gguf_open(const char *path, ttc_gguf **out, ttc_err *e) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ttc_err_set(e, errno == ENOENT ? TTC_ENOTFOUND : TTC_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int rc = ttc_err_set(e, TTC_EIO, "%s: not a regular file", path);
        close(fd);
        return rc;
    }
    if (st.st_size < 24) {
        close(fd);
        return ttc_err_set(e, TTC_EFORMAT, "%s: offset 0: file of %lld bytes is too small for a GGUF header",
                           path, (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED) return ttc_err_set(e, TTC_EIO, "%s: mmap failed: %s", path, strerror(err));
    ttc_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        munmap(m, (size_t)st.st_size);
        return ttc_err_set(e, TTC_ENOMEM, "%s: out of memory", path);
    }
    g->base = m;
    g->size = (size_t)st.st_size;
    g->mapped = true;
    return open_common(g, out, e);
}

void ttc_gguf_prefetch(const ttc_gguf *g) {
    if (!g->mapped) return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), off = (size_t)ttc_gguf_data_offset(g) / page * page;
    if (off < g->size) (void)madvise((char *)g->base + off, g->size - off, MADV_WILLNEED);
}

void ttc_gguf_close(ttc_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) free((void *)g->kv[i].arr);
    for (int64_t i = 0; g->str_off && i < g->n_kv; i++) free(g->str_off[i]);
    free(g->kv); free(g->kv_end); free(g->kv_val); free(g->str_off); free(g->t);
    free(g->kv_idx.slot); free(g->t_idx.slot);
    arena_free(g->arena);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g->path);
    free(g);
}

/* ---- accessors ---- */

const char *ttc_gguf_path(const ttc_gguf *g) { return g->path; }
uint32_t ttc_gguf_version(const ttc_gguf *g) { return g->version; }
size_t ttc_gguf_alignment(const ttc_gguf *g) { return g->alignment; }
uint64_t ttc_gguf_data_offset(const ttc_gguf *g) { return g->data_off; }
const void *ttc_gguf_base(const ttc_gguf *g, size_t *size) { if (size) *size = g->size; return g->base; }
int64_t ttc_gguf_n_keys(const ttc_gguf *g) { return g->n_kv; }
int64_t ttc_gguf_n_tensors(const ttc_gguf *g) { return g->n_tensors; }

const ttc_gguf_kv *ttc_gguf_kv_at(const ttc_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

int64_t ttc_gguf_find_key(const ttc_gguf *g, const char *key) {
    return kv_index(g, key, NULL);
}

const ttc_gguf_tensor *ttc_gguf_tensor_at(const ttc_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->t[i] : NULL;
}

const ttc_gguf_tensor *ttc_gguf_find_tensor(const ttc_gguf *g, const char *name) {
    int64_t r = tensor_index(g, name, NULL);
    return r >= 0 ? &g->t[r] : NULL;
}

const char *ttc_gguf_kv_str(const ttc_gguf *g, int64_t k, uint64_t i, size_t *len) {
    if (k < 0 || k >= g->n_kv || !g->str_off[k] || i >= g->kv[k].n) return NULL;
    uint64_t off = g->str_off[k][i], n;
    memcpy(&n, g->base + off - 8, 8);
    if (len) *len = (size_t)n;
    return (const char *)g->base + off;
}

const char *ttc_gguf_arr_str(const ttc_gguf *g, const char *key, uint64_t i, size_t *len) {
    return ttc_gguf_kv_str(g, ttc_gguf_find_key(g, key), i, len);
}

/* Looks up key; TTC_ENOTFOUND if absent. */
static int lookup(const ttc_gguf *g, const char *key, const ttc_gguf_kv **kv, ttc_err *e) {
    int64_t k = ttc_gguf_find_key(g, key);
    if (k < 0) return ttc_err_set(e, TTC_ENOTFOUND, "%s: key '%s' not found", g->path, key);
    *kv = &g->kv[k];
    return TTC_OK;
}

static int wrong_type(const ttc_gguf *g, const ttc_gguf_kv *kv, const char *want, ttc_err *e) {
    return ttc_err_set(e, TTC_EFORMAT, "%s: offset %llu: key '%s': expected %s, found %s%s%s", g->path,
                       (unsigned long long)kv->file_offset, kv->key, want, ttc_gguf_vtype_name(kv->type),
                       kv->type == TTC_GGUF_ARR ? " of " : "",
                       kv->type == TTC_GGUF_ARR ? ttc_gguf_vtype_name(kv->arr_type) : "");
}

int ttc_gguf_get_int(const ttc_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out, ttc_err *e) {
    const ttc_gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, e);
    if (rc) return rc;
    int64_t v;
    switch (kv->type) {
    case TTC_GGUF_U8:  v = kv->v.u8; break;
    case TTC_GGUF_I8:  v = kv->v.i8; break;
    case TTC_GGUF_U16: v = kv->v.u16; break;
    case TTC_GGUF_I16: v = kv->v.i16; break;
    case TTC_GGUF_U32: v = kv->v.u32; break;
    case TTC_GGUF_I32: v = kv->v.i32; break;
    case TTC_GGUF_I64: v = kv->v.i64; break;
    case TTC_GGUF_U64:
        if (kv->v.u64 > (uint64_t)hi || kv->v.u64 > INT64_MAX)
            return ttc_err_set(e, TTC_EFORMAT, "%s: offset %llu: key '%s': value %llu out of range %lld..%lld", g->path,
                               (unsigned long long)kv->file_offset, key, (unsigned long long)kv->v.u64,
                               (long long)lo, (long long)hi);
        v = (int64_t)kv->v.u64;
        break;
    default:
        return wrong_type(g, kv, "an integer", e);
    }
    if (v < lo || v > hi)
        return ttc_err_set(e, TTC_EFORMAT, "%s: offset %llu: key '%s': value %lld out of range %lld..%lld", g->path,
                           (unsigned long long)kv->file_offset, key, (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return TTC_OK;
}

int ttc_gguf_get_u32(const ttc_gguf *g, const char *key, uint32_t *out, ttc_err *e) {
    int64_t v;
    int rc = ttc_gguf_get_int(g, key, 0, UINT32_MAX, &v, e);
    if (!rc) *out = (uint32_t)v;
    return rc;
}

int ttc_gguf_get_i32(const ttc_gguf *g, const char *key, int32_t *out, ttc_err *e) {
    int64_t v;
    int rc = ttc_gguf_get_int(g, key, INT32_MIN, INT32_MAX, &v, e);
    if (!rc) *out = (int32_t)v;
    return rc;
}

int ttc_gguf_get_f32(const ttc_gguf *g, const char *key, float *out, ttc_err *e) {
    const ttc_gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, e);
    if (rc) return rc;
    if (kv->type == TTC_GGUF_F32) *out = kv->v.f32;
    else if (kv->type == TTC_GGUF_F64) *out = (float)kv->v.f64;
    else return wrong_type(g, kv, "f32", e);
    return TTC_OK;
}

int ttc_gguf_get_bool(const ttc_gguf *g, const char *key, bool *out, ttc_err *e) {
    const ttc_gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, e);
    if (rc) return rc;
    if (kv->type != TTC_GGUF_BOOL) return wrong_type(g, kv, "bool", e);
    *out = kv->v.b;
    return TTC_OK;
}

int ttc_gguf_get_str(const ttc_gguf *g, const char *key, const char **out, ttc_err *e) {
    const ttc_gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, e);
    if (rc) return rc;
    if (kv->type != TTC_GGUF_STR) return wrong_type(g, kv, "string", e);
    *out = kv->str;
    return TTC_OK;
}

int ttc_gguf_get_arr(const ttc_gguf *g, const char *key, int *elem_type, uint64_t *n, const void **data,
                     ttc_err *e) {
    const ttc_gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, e);
    if (rc) return rc;
    if (kv->type != TTC_GGUF_ARR) return wrong_type(g, kv, "array", e);
    if (elem_type) *elem_type = kv->arr_type;
    if (n) *n = kv->n;
    if (data) *data = kv->arr;
    return TTC_OK;
}

int ttc_gguf_tensor_get(const ttc_gguf *g, const char *name, int n_dims, const int64_t *ne,
                        const ttc_gguf_tensor **out, ttc_err *e) {
    const ttc_gguf_tensor *t = ttc_gguf_find_tensor(g, name);
    *out = NULL;
    if (!t) return ttc_err_set(e, TTC_ENOTFOUND, "%s: tensor '%s' not found", g->path, name);
    if (!t->supported)
        return ttc_err_set(e, TTC_EUNSUPPORTED, "%s: tensor '%s': type %s (%d) is not supported by ttc",
                           g->path, name, ttc_type_name(t->type), t->type);
    if (ne) {
        bool ok = t->n_dims == n_dims;
        for (int d = 0; ok && d < n_dims && d < TTC_GGUF_MAX_DIMS; d++) ok = t->ne[d] == ne[d];
        if (!ok) {
            char want[96] = "", have[96] = "";
            for (int d = 0; d < n_dims && d < TTC_GGUF_MAX_DIMS; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? " x " : "", (long long)ne[d]);
            for (int d = 0; d < t->n_dims; d++)
                snprintf(have + strlen(have), sizeof have - strlen(have), "%s%lld", d ? " x " : "", (long long)t->ne[d]);
            return ttc_err_set(e, TTC_EFORMAT, "%s: tensor '%s': shape [%s], expected [%s]", g->path, name, have, want);
        }
    }
    *out = t;
    return TTC_OK;
}

/* ---- internal, for the writer ---- */

int ttc_gguf_kv_raw(const ttc_gguf *g, int64_t k, const uint8_t **val, size_t *len) {
    if (k < 0 || k >= g->n_kv) return TTC_EINVAL;
    *val = g->base + g->kv_val[k];
    *len = (size_t)(g->kv_end[k] - g->kv_val[k]);
    return TTC_OK;
}
