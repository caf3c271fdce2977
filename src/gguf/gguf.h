/* GGUF v3 files: a validating reader (mmap) and an atomic writer.
 *
 * File layout (little-endian):
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x     { string key, u32 value_type, value }
 *   n_tensors x{ string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to general.alignment (default 32), then the tensor data; each
 *   tensor's offset is relative to the data start and aligned.
 *   string = u64 length + bytes (no NUL); array = u32 elem_type, u64 n, elems.
 *
 * The reader validates everything at open (lengths, types, counts, shapes,
 * sizes, alignment, bounds, overlaps, duplicates), so accessors never read
 * out of bounds. It accepts what ggml's reader accepts (test_conformance
 * checks this differentially), except: tensors need not be packed back to
 * back in file order (any aligned, non-overlapping placement is fine);
 * tensor names may be longer than ggml's 63 bytes; tensors with no
 * dimensions or a zero dimension, which ggml allows, are rejected. Keys, tensor names and string values are copied
 * NUL-terminated; numeric arrays are copied to aligned memory; string-array
 * elements point into the file (not NUL-terminated) through an offset table,
 * O(1) each. Everything lives until ttc_gguf_close. */
#ifndef TTC_GGUF_H
#define TTC_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ttc.h"
#include "kernels/quant.h"

/* GGUF metadata value types (gguf_type). */
typedef enum ttc_gguf_vtype {
    TTC_GGUF_U8 = 0, TTC_GGUF_I8 = 1, TTC_GGUF_U16 = 2, TTC_GGUF_I16 = 3,
    TTC_GGUF_U32 = 4, TTC_GGUF_I32 = 5, TTC_GGUF_F32 = 6, TTC_GGUF_BOOL = 7,
    TTC_GGUF_STR = 8, TTC_GGUF_ARR = 9, TTC_GGUF_U64 = 10, TTC_GGUF_I64 = 11,
    TTC_GGUF_F64 = 12,
    TTC_GGUF_NTYPES = 13,
} ttc_gguf_vtype;

#define TTC_GGUF_DEFAULT_ALIGNMENT 32
#define TTC_GGUF_MAX_DIMS 4

typedef struct ttc_gguf ttc_gguf;

/* One metadata entry. For scalars `v` holds the value (the member named by
 * `type`); for STR, `str`/`n` hold the NUL-terminated copy and its length;
 * for ARR, `arr_type` and `n` give the element type and count, and `arr` the
 * elements as an aligned native array (NULL for string arrays: use
 * ttc_gguf_kv_str). */
typedef struct ttc_gguf_kv {
    const char *key;
    int         type;       /* ttc_gguf_vtype */
    int         arr_type;   /* element type when type == TTC_GGUF_ARR */
    uint64_t    n;          /* array length, or string length */
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32;
        int32_t i32; float f32; bool b; uint64_t u64; int64_t i64; double f64;
    } v;
    const char *str;
    const void *arr;
    uint64_t    file_offset; /* where the entry starts in the file */
} ttc_gguf_kv;

typedef struct ttc_gguf_tensor {
    const char *name;
    int         type;        /* ttc_type (ggml id) */
    int         n_dims;      /* 1..4 */
    int64_t     ne[TTC_GGUF_MAX_DIMS]; /* ne[0] = row length; unused dims = 1 */
    int64_t     n_elems;
    uint64_t    offset;      /* relative to the data section */
    size_t      nbytes;
    const void *data;        /* inside the mapping */
    bool        supported;   /* ttc_type_supported(type) */
} ttc_gguf_tensor;

/* ---- reader ---- */

/* Maps `path` read-only and validates it; *out is NULL on error. Errors
 * name the path, the byte offset and the field. */
int  ttc_gguf_open(const char *path, ttc_gguf **out, ttc_err *e);
/* Same over a caller-owned buffer that must outlive the handle. */
int  ttc_gguf_open_mem(const void *data, size_t size, ttc_gguf **out, ttc_err *e);
/* Unmaps and frees; NULL is fine. */
void ttc_gguf_close(ttc_gguf *g);

/* The path given to open ("<memory>" for open_mem). */
const char *ttc_gguf_path(const ttc_gguf *g);
uint32_t    ttc_gguf_version(const ttc_gguf *g);
size_t      ttc_gguf_alignment(const ttc_gguf *g);
/* File offset of the tensor data section. */
uint64_t    ttc_gguf_data_offset(const ttc_gguf *g);
/* The whole file (mapping or caller buffer) and its size. */
const void *ttc_gguf_base(const ttc_gguf *g, size_t *size);
/* For a mapped file: asks the kernel to start reading the tensor data in
 * (MADV_WILLNEED), so a cold model streams from disk ahead of its first
 * forward pass instead of faulting page by page. A hint: no effect on a
 * caller buffer, and a refusal is ignored. */
void        ttc_gguf_prefetch(const ttc_gguf *g);

/* Keys: count, i-th entry (file order), lookup by name (index or -1). */
int64_t ttc_gguf_n_keys(const ttc_gguf *g);
const ttc_gguf_kv *ttc_gguf_kv_at(const ttc_gguf *g, int64_t i);
int64_t ttc_gguf_find_key(const ttc_gguf *g, const char *key);
/* Element i of the string array at key index k (not NUL-terminated; may
 * contain NULs); NULL if k is not a string array or i is out of range. */
const char *ttc_gguf_kv_str(const ttc_gguf *g, int64_t k, uint64_t i, size_t *len);
/* Name of a value type ("u32", "string", "array", ...). */
const char *ttc_gguf_vtype_name(int vtype);

/* Typed getters by key. Missing key: TTC_ENOTFOUND; wrong type or out of
 * range: TTC_EFORMAT, with a message naming the file, key, expected and
 * found type. The integer getters accept any integer type whose value fits
 * (files differ in which they use). get_f32 accepts F32 and F64. get_str
 * gives the NUL-terminated copy. */
int ttc_gguf_get_u32(const ttc_gguf *g, const char *key, uint32_t *out, ttc_err *e);
int ttc_gguf_get_i32(const ttc_gguf *g, const char *key, int32_t *out, ttc_err *e);
int ttc_gguf_get_int(const ttc_gguf *g, const char *key, int64_t lo, int64_t hi,
                     int64_t *out, ttc_err *e);
int ttc_gguf_get_f32(const ttc_gguf *g, const char *key, float *out, ttc_err *e);
int ttc_gguf_get_bool(const ttc_gguf *g, const char *key, bool *out, ttc_err *e);
int ttc_gguf_get_str(const ttc_gguf *g, const char *key, const char **out, ttc_err *e);
/* Array by key: element type, count and (numeric arrays) the aligned data;
 * *data is NULL for string arrays (use ttc_gguf_arr_str). Not an array:
 * TTC_EFORMAT. */
int ttc_gguf_get_arr(const ttc_gguf *g, const char *key, int *elem_type, uint64_t *n,
                     const void **data, ttc_err *e);
/* Element i of the string array `key`; NULL if missing/not strings/out of
 * range. O(1) apart from the key lookup (hashed). */
const char *ttc_gguf_arr_str(const ttc_gguf *g, const char *key, uint64_t i, size_t *len);

/* Tensors: count, i-th (file order), lookup by name (NULL if absent).
 * (The type owns the name ttc_gguf_tensor, so the i-th accessor is _at.) */
int64_t ttc_gguf_n_tensors(const ttc_gguf *g);
const ttc_gguf_tensor *ttc_gguf_tensor_at(const ttc_gguf *g, int64_t i);
const ttc_gguf_tensor *ttc_gguf_find_tensor(const ttc_gguf *g, const char *name);
/* The tensor `name`, checked for use: present (TTC_ENOTFOUND), of a type ttc
 * supports (TTC_EUNSUPPORTED naming the type), and, when ne is not NULL, of
 * exactly n_dims dimensions with those sizes (TTC_EFORMAT). */
int ttc_gguf_tensor_get(const ttc_gguf *g, const char *name, int n_dims, const int64_t *ne,
                        const ttc_gguf_tensor **out, ttc_err *e);

/* ---- writer ---- */

typedef struct ttc_gguf_writer ttc_gguf_writer;

/* An empty writer (alignment 32). */
int  ttc_gguf_writer_new(ttc_gguf_writer **out, ttc_err *e);
void ttc_gguf_writer_free(ttc_gguf_writer *w);
/* Data alignment (power of two, 1..65536); recorded as general.alignment
 * (u32) when not 32. */
int  ttc_gguf_writer_set_alignment(ttc_gguf_writer *w, uint32_t align, ttc_err *e);

/* Set a key (replacing an earlier value of the same key, keeping its
 * position). Values are copied. */
int ttc_gguf_set_u8 (ttc_gguf_writer *w, const char *key, uint8_t v,  ttc_err *e);
int ttc_gguf_set_i8 (ttc_gguf_writer *w, const char *key, int8_t v,   ttc_err *e);
int ttc_gguf_set_u16(ttc_gguf_writer *w, const char *key, uint16_t v, ttc_err *e);
int ttc_gguf_set_i16(ttc_gguf_writer *w, const char *key, int16_t v,  ttc_err *e);
int ttc_gguf_set_u32(ttc_gguf_writer *w, const char *key, uint32_t v, ttc_err *e);
int ttc_gguf_set_i32(ttc_gguf_writer *w, const char *key, int32_t v,  ttc_err *e);
int ttc_gguf_set_f32(ttc_gguf_writer *w, const char *key, float v,    ttc_err *e);
int ttc_gguf_set_bool(ttc_gguf_writer *w, const char *key, bool v,    ttc_err *e);
int ttc_gguf_set_u64(ttc_gguf_writer *w, const char *key, uint64_t v, ttc_err *e);
int ttc_gguf_set_i64(ttc_gguf_writer *w, const char *key, int64_t v,  ttc_err *e);
int ttc_gguf_set_f64(ttc_gguf_writer *w, const char *key, double v,   ttc_err *e);
int ttc_gguf_set_str(ttc_gguf_writer *w, const char *key, const char *s, ttc_err *e);
/* Array of n scalars of elem_type (not STR/ARR) from native memory. */
int ttc_gguf_set_arr(ttc_gguf_writer *w, const char *key, int elem_type, const void *data,
                     uint64_t n, ttc_err *e);
/* Array of n strings; lens may be NULL (strings are then NUL-terminated). */
int ttc_gguf_set_arr_str(ttc_gguf_writer *w, const char *key, const char *const *strs,
                         const size_t *lens, uint64_t n, ttc_err *e);
/* Copies entry k of an open reader (any type, arrays included). */
int ttc_gguf_writer_copy_kv(ttc_gguf_writer *w, const ttc_gguf *g, int64_t k, ttc_err *e);
/* Copies every key of g that starts with prefix ("tokenizer."; "" = all but
 * general.alignment). */
int ttc_gguf_writer_copy_prefix(ttc_gguf_writer *w, const ttc_gguf *g, const char *prefix,
                                ttc_err *e);

/* Adds a tensor named name (1..63 bytes, llama.cpp's limit) of n_dims
 * (1..4) sizes ne[] (ne[0] = row length, a multiple of the type's block
 * size) whose ttc_type_row_bytes(type, ne[0]) * rows bytes are at data.
 * add_tensor keeps the pointer (it must stay valid until write);
 * add_tensor_copy copies. Duplicate names: TTC_EINVAL. */
int ttc_gguf_writer_add_tensor(ttc_gguf_writer *w, const char *name, int type, int n_dims,
                               const int64_t *ne, const void *data, ttc_err *e);
int ttc_gguf_writer_add_tensor_copy(ttc_gguf_writer *w, const char *name, int type, int n_dims,
                                    const int64_t *ne, const void *data, ttc_err *e);

/* Writes the file atomically (temp file in the same folder + rename). */
int ttc_gguf_writer_write(const ttc_gguf_writer *w, const char *path, ttc_err *e);
/* Writes into a fresh malloc'd buffer (caller frees *buf). */
int ttc_gguf_writer_write_mem(const ttc_gguf_writer *w, void **buf, size_t *len, ttc_err *e);
#endif
