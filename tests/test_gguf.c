/* GGUF reader and writer: round trips, real vocab files, every validation
 * rule on hand-made files, truncation and byte flips. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "gguf/gguf.h"
#include "testutil.h"

/* ---- a tiny raw GGUF builder for malformed files ---- */

typedef struct { uint8_t b[4096]; size_t n; } raw;

static void r_bytes(raw *r, const void *p, size_t n) { cr_assert(r->n + n <= sizeof r->b); memcpy(r->b + r->n, p, n); r->n += n; }
static void r_u32(raw *r, uint32_t v) { r_bytes(r, &v, 4); }
static void r_u64(raw *r, uint64_t v) { r_bytes(r, &v, 8); }
static void r_str(raw *r, const char *s) { r_u64(r, strlen(s)); r_bytes(r, s, strlen(s)); }
static void r_header(raw *r, uint64_t nt, uint64_t nkv) { r_bytes(r, "GGUF", 4); r_u32(r, 3); r_u64(r, nt); r_u64(r, nkv); }
static void r_tensor(raw *r, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    r_str(r, name);
    r_u32(r, nd);
    for (uint32_t i = 0; i < nd; i++) r_u64(r, ne[i]);
    r_u32(r, type);
    r_u64(r, off);
}
static void r_pad(raw *r, size_t a) { while (r->n % a) r->b[r->n++] = 0; }
static void r_zeros(raw *r, size_t n) { cr_assert(r->n + n <= sizeof r->b); memset(r->b + r->n, 0, n); r->n += n; }

/* Opens r; expects code and a message containing every given substring. */
static void expect_err(const raw *r, int code, const char *s1, const char *s2) {
    ttc_gguf *g = (ttc_gguf *)1;
    ttc_err e = {0};
    int rc = ttc_gguf_open_mem(r->b, r->n, &g, &e);
    cr_assert_eq(rc, code, "rc %d want %d: %s", rc, code, e.msg);
    cr_assert_null(g);
    cr_assert(strstr(e.msg, s1), "message '%s' lacks '%s'", e.msg, s1);
    if (s2) cr_assert(strstr(e.msg, s2), "message '%s' lacks '%s'", e.msg, s2);
}

static ttc_gguf *open_ok(const void *p, size_t n) {
    ttc_gguf *g = NULL;
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_open_mem(p, n, &g, &e), TTC_OK, "%s", e.msg);
    return g;
}

/* ---- a file with one of everything ---- */

static const float f32_data[8] = {1, -2, 3.5f, 0, 1e-3f, -1e3f, 7, 8};

static ttc_gguf_writer *sample_writer(uint8_t *q8, uint8_t *q5k) {
    ttc_gguf_writer *w;
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_set_u8(w, "a.u8", 200, &e), 0);
    cr_assert_eq(ttc_gguf_set_i8(w, "a.i8", -100, &e), 0);
    cr_assert_eq(ttc_gguf_set_u16(w, "a.u16", 60000, &e), 0);
    cr_assert_eq(ttc_gguf_set_i16(w, "a.i16", -30000, &e), 0);
    cr_assert_eq(ttc_gguf_set_u32(w, "a.u32", 4000000000u, &e), 0);
    cr_assert_eq(ttc_gguf_set_i32(w, "a.i32", -2000000000, &e), 0);
    cr_assert_eq(ttc_gguf_set_f32(w, "a.f32", 0.25f, &e), 0);
    cr_assert_eq(ttc_gguf_set_bool(w, "a.bool", true, &e), 0);
    cr_assert_eq(ttc_gguf_set_u64(w, "a.u64", 1ull << 62, &e), 0);
    cr_assert_eq(ttc_gguf_set_i64(w, "a.i64", -(1ll << 62), &e), 0);
    cr_assert_eq(ttc_gguf_set_f64(w, "a.f64", 1.0 / 3, &e), 0);
    cr_assert_eq(ttc_gguf_set_str(w, "a.str", "héllo", &e), 0);
    cr_assert_eq(ttc_gguf_set_str(w, "a.str", "replaced", &e), 0);  /* keeps position */
    int32_t ints[5] = {1, -2, 3, -4, 5};
    cr_assert_eq(ttc_gguf_set_arr(w, "a.arr_i32", TTC_GGUF_I32, ints, 5, &e), 0);
    bool bools[3] = {true, false, true};
    cr_assert_eq(ttc_gguf_set_arr(w, "a.arr_bool", TTC_GGUF_BOOL, bools, 3, &e), 0);
    double dbl[2] = {1.5, -2.5};
    cr_assert_eq(ttc_gguf_set_arr(w, "a.arr_f64", TTC_GGUF_F64, dbl, 2, &e), 0);
    cr_assert_eq(ttc_gguf_set_arr(w, "a.arr_empty", TTC_GGUF_U8, NULL, 0, &e), 0);
    const char *strs[3] = {"x", "", "a\0b"};
    size_t lens[3] = {1, 0, 3};
    cr_assert_eq(ttc_gguf_set_arr_str(w, "a.arr_str", strs, lens, 3, &e), 0);
    cr_assert_eq(ttc_gguf_writer_set_alignment(w, 64, &e), 0);
    int64_t ne1[1] = {8}, ne2[2] = {32, 3}, ne4[4] = {256, 1, 2, 1};
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "t.f32", TTC_TYPE_F32, 1, ne1, f32_data, &e), 0);
    for (int i = 0; i < 3 * 34; i++) q8[i] = (uint8_t)(i * 7 + 1);
    cr_assert_eq(ttc_gguf_writer_add_tensor_copy(w, "t.q8", TTC_TYPE_Q8_0, 2, ne2, q8, &e), 0);
    for (int i = 0; i < 2 * 176; i++) q5k[i] = (uint8_t)(i * 13 + 5);
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "t.q5k", TTC_TYPE_Q5_K, 4, ne4, q5k, &e), 0);
    return w;
}

Test(gguf, roundtrip_every_type) {
    uint8_t q8[3 * 34], q5k[2 * 176];
    ttc_gguf_writer *w = sample_writer(q8, q5k);
    void *buf;
    size_t len;
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_writer_write_mem(w, &buf, &len, &e), TTC_OK, "%s", e.msg);
    memset(q8, 0, sizeof q8);  /* the copy must not depend on the caller's buffer */
    ttc_gguf *g = open_ok(buf, len);

    cr_assert_eq(ttc_gguf_version(g), 3);
    cr_assert_eq(ttc_gguf_alignment(g), 64);
    cr_assert_eq(ttc_gguf_data_offset(g) % 64, 0);
    /* general.alignment + 17 keys; file order = insertion order. */
    cr_assert_eq(ttc_gguf_n_keys(g), 18);
    cr_assert_str_eq(ttc_gguf_kv_at(g, 0)->key, "general.alignment");
    cr_assert_str_eq(ttc_gguf_kv_at(g, 12)->key, "a.str");
    cr_assert_null(ttc_gguf_kv_at(g, 18));
    cr_assert_eq(ttc_gguf_find_key(g, "a.nope"), -1);

    const ttc_gguf_kv *kv = ttc_gguf_kv_at(g, ttc_gguf_find_key(g, "a.u8"));
    cr_assert_eq(kv->type, TTC_GGUF_U8);
    cr_assert_eq(kv->v.u8, 200);
    cr_assert_eq(ttc_gguf_kv_at(g, ttc_gguf_find_key(g, "a.i8"))->v.i8, -100);
    cr_assert_eq(ttc_gguf_kv_at(g, ttc_gguf_find_key(g, "a.u16"))->v.u16, 60000);
    cr_assert_eq(ttc_gguf_kv_at(g, ttc_gguf_find_key(g, "a.i16"))->v.i16, -30000);
    cr_assert_eq(ttc_gguf_kv_at(g, ttc_gguf_find_key(g, "a.u64"))->v.u64, 1ull << 62);
    cr_assert_eq(ttc_gguf_kv_at(g, ttc_gguf_find_key(g, "a.i64"))->v.i64, -(1ll << 62));
    cr_assert_eq(ttc_gguf_kv_at(g, ttc_gguf_find_key(g, "a.f64"))->v.f64, 1.0 / 3);

    uint32_t u32; int32_t i32; int64_t i64; float f; bool b; const char *s;
    cr_assert_eq(ttc_gguf_get_u32(g, "a.u32", &u32, &e), 0); cr_assert_eq(u32, 4000000000u);
    cr_assert_eq(ttc_gguf_get_i32(g, "a.i32", &i32, &e), 0); cr_assert_eq(i32, -2000000000);
    cr_assert_eq(ttc_gguf_get_u32(g, "a.u8", &u32, &e), 0);  cr_assert_eq(u32, 200);   /* widening */
    cr_assert_eq(ttc_gguf_get_i32(g, "a.i16", &i32, &e), 0); cr_assert_eq(i32, -30000);
    cr_assert_eq(ttc_gguf_get_int(g, "a.u64", 0, INT64_MAX, &i64, &e), 0); cr_assert_eq(i64, 1ll << 62);
    cr_assert_eq(ttc_gguf_get_f32(g, "a.f32", &f, &e), 0);   cr_assert_eq(f, 0.25f);
    cr_assert_eq(ttc_gguf_get_f32(g, "a.f64", &f, &e), 0);   cr_assert_eq(f, (float)(1.0 / 3));
    cr_assert_eq(ttc_gguf_get_bool(g, "a.bool", &b, &e), 0); cr_assert(b);
    cr_assert_eq(ttc_gguf_get_str(g, "a.str", &s, &e), 0);   cr_assert_str_eq(s, "replaced");

    int et; uint64_t n; const void *data;
    cr_assert_eq(ttc_gguf_get_arr(g, "a.arr_i32", &et, &n, &data, &e), 0);
    cr_assert_eq(et, TTC_GGUF_I32); cr_assert_eq(n, 5);
    cr_assert_eq(((const int32_t *)data)[3], -4);
    cr_assert_eq((uintptr_t)data % 4, 0);
    cr_assert_eq(ttc_gguf_get_arr(g, "a.arr_bool", &et, &n, &data, &e), 0);
    cr_assert_eq(n, 3); cr_assert(((const bool *)data)[0] && !((const bool *)data)[1] && ((const bool *)data)[2]);
    cr_assert_eq(ttc_gguf_get_arr(g, "a.arr_f64", &et, &n, &data, &e), 0);
    cr_assert_eq(((const double *)data)[1], -2.5);
    cr_assert_eq(ttc_gguf_get_arr(g, "a.arr_empty", &et, &n, &data, &e), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(ttc_gguf_get_arr(g, "a.arr_str", &et, &n, &data, &e), 0);
    cr_assert_eq(et, TTC_GGUF_STR); cr_assert_eq(n, 3); cr_assert_null(data);
    size_t sl;
    cr_assert_eq(memcmp(ttc_gguf_arr_str(g, "a.arr_str", 0, &sl), "x", 1), 0); cr_assert_eq(sl, 1);
    cr_assert_not_null(ttc_gguf_arr_str(g, "a.arr_str", 1, &sl)); cr_assert_eq(sl, 0);
    cr_assert_eq(memcmp(ttc_gguf_arr_str(g, "a.arr_str", 2, &sl), "a\0b", 3), 0); cr_assert_eq(sl, 3);
    cr_assert_null(ttc_gguf_arr_str(g, "a.arr_str", 3, &sl));
    cr_assert_null(ttc_gguf_arr_str(g, "a.arr_i32", 0, &sl));

    cr_assert_eq(ttc_gguf_n_tensors(g), 3);
    const ttc_gguf_tensor *t = ttc_gguf_find_tensor(g, "t.f32");
    cr_assert_eq(t, ttc_gguf_tensor_at(g, 0));
    cr_assert_eq(t->type, TTC_TYPE_F32);
    cr_assert_eq(t->n_dims, 1); cr_assert_eq(t->ne[0], 8); cr_assert_eq(t->ne[1], 1);
    cr_assert_eq(t->nbytes, 32);
    cr_assert_eq(memcmp(t->data, f32_data, 32), 0);
    t = ttc_gguf_find_tensor(g, "t.q8");
    uint8_t want_q8[3 * 34];
    for (int i = 0; i < 3 * 34; i++) want_q8[i] = (uint8_t)(i * 7 + 1);
    cr_assert_eq(t->nbytes, sizeof want_q8);
    cr_assert_eq(memcmp(t->data, want_q8, sizeof want_q8), 0);
    cr_assert_eq(t->offset % 64, 0);
    cr_assert(t->supported);
    t = ttc_gguf_find_tensor(g, "t.q5k");
    cr_assert_eq(t->n_dims, 4); cr_assert_eq(t->ne[0], 256); cr_assert_eq(t->ne[2], 2);
    cr_assert_eq(t->n_elems, 512);
    cr_assert_eq(t->nbytes, 2 * 176);
    cr_assert_eq(memcmp(t->data, q5k, sizeof q5k), 0);
    cr_assert_not(t->supported);
    cr_assert_null(ttc_gguf_find_tensor(g, "t.nope"));

    ttc_gguf_close(g);
    free(buf);
    ttc_gguf_writer_free(w);
}

Test(gguf, getters_report_wrong_type_and_range) {
    uint8_t q8[3 * 34], q5k[2 * 176];
    ttc_gguf_writer *w = sample_writer(q8, q5k);
    void *buf; size_t len;
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_writer_write_mem(w, &buf, &len, &e), 0);
    ttc_gguf *g = open_ok(buf, len);
    uint32_t u32; int32_t i32; int64_t i64; float f; bool b; const char *s;
    cr_assert_eq(ttc_gguf_get_u32(g, "a.missing", &u32, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "'a.missing' not found"), "%s", e.msg);
    cr_assert_eq(ttc_gguf_get_u32(g, "a.str", &u32, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "key 'a.str': expected an integer, found string"), "%s", e.msg);
    cr_assert_eq(ttc_gguf_get_u32(g, "a.i8", &u32, &e), TTC_EFORMAT);  /* -100 < 0 */
    cr_assert(strstr(e.msg, "out of range"), "%s", e.msg);
    cr_assert_eq(ttc_gguf_get_i32(g, "a.u32", &i32, &e), TTC_EFORMAT);  /* 4e9 > INT32_MAX */
    cr_assert_eq(ttc_gguf_get_int(g, "a.u64", 0, 100, &i64, &e), TTC_EFORMAT);
    cr_assert_eq(ttc_gguf_get_f32(g, "a.u32", &f, &e), TTC_EFORMAT);
    cr_assert_eq(ttc_gguf_get_bool(g, "a.u8", &b, &e), TTC_EFORMAT);
    cr_assert_eq(ttc_gguf_get_str(g, "a.arr_str", &s, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "found array of string"), "%s", e.msg);
    int et; uint64_t n; const void *d;
    cr_assert_eq(ttc_gguf_get_arr(g, "a.u8", &et, &n, &d, &e), TTC_EFORMAT);

    const ttc_gguf_tensor *t;
    cr_assert_eq(ttc_gguf_tensor_get(g, "t.q5k", 0, NULL, &t, &e), TTC_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "q5_K"), "%s", e.msg);
    cr_assert_eq(ttc_gguf_tensor_get(g, "t.none", 0, NULL, &t, &e), TTC_ENOTFOUND);
    int64_t ne[2] = {32, 3}, bad[2] = {32, 4};
    cr_assert_eq(ttc_gguf_tensor_get(g, "t.q8", 2, ne, &t, &e), TTC_OK);
    cr_assert_str_eq(t->name, "t.q8");
    cr_assert_eq(ttc_gguf_tensor_get(g, "t.q8", 2, bad, &t, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, "shape [32 x 3], expected [32 x 4]"), "%s", e.msg);
    cr_assert_eq(ttc_gguf_tensor_get(g, "t.q8", 1, ne, &t, &e), TTC_EFORMAT);
    ttc_gguf_close(g);
    free(buf);
    ttc_gguf_writer_free(w);
}

Test(gguf, writer_rejects_bad_input) {
    ttc_gguf_writer *w;
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), 0);
    float x[64] = {0};
    int64_t ne[2] = {16, 2}, ok[1] = {32}, zero[1] = {0};
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "q", TTC_TYPE_Q8_0, 2, ne, x, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "multiple of the q8_0 block size 32"), "%s", e.msg);
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "q", TTC_TYPE_F32, 1, zero, x, &e), TTC_EINVAL);
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "q", TTC_TYPE_F32, 5, ok, x, &e), TTC_EINVAL);
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "q", 33, 1, ok, x, &e), TTC_EINVAL);
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "q", TTC_TYPE_F32, 1, ok, x, &e), TTC_OK);
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, "q", TTC_TYPE_F32, 1, ok, x, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "duplicate tensor 'q'"), "%s", e.msg);
    const char *long_name = "blk.0.a_tensor_name_that_is_far_too_long_for_ggml_to_accept_it_at_all";
    cr_assert_eq(ttc_gguf_writer_add_tensor(w, long_name, TTC_TYPE_F32, 1, ok, x, &e), TTC_EINVAL);
    cr_assert(strstr(e.msg, "longer than 63 bytes"), "%s", e.msg);
    cr_assert_eq(ttc_gguf_writer_set_alignment(w, 48, &e), TTC_EINVAL);
    cr_assert_eq(ttc_gguf_set_arr(w, "k", TTC_GGUF_STR, x, 1, &e), TTC_EINVAL);
    cr_assert_eq(ttc_gguf_set_u32(w, "", 1, &e), TTC_EINVAL);
    ttc_gguf_writer_free(w);
}

Test(gguf, file_write_is_atomic_and_readable) {
    uint8_t q8[3 * 34], q5k[2 * 176];
    ttc_gguf_writer *w = sample_writer(q8, q5k);
    char path[512];
    snprintf(path, sizeof path, "%s/m.gguf", tu_tmpdir());
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_writer_write(w, path, &e), TTC_OK, "%s", e.msg);
    ttc_gguf *g;
    cr_assert_eq(ttc_gguf_open(path, &g, &e), TTC_OK, "%s", e.msg);
    cr_assert_str_eq(ttc_gguf_path(g), path);
    const ttc_gguf_tensor *t = ttc_gguf_find_tensor(g, "t.f32");
    cr_assert_eq(memcmp(t->data, f32_data, sizeof f32_data), 0);
    cr_assert_eq((uintptr_t)t->data % 64, 0);  /* mmap is page aligned */
    ttc_gguf_prefetch(g);                       /* a hint: the data reads the same after it */
    cr_assert_eq(memcmp(t->data, f32_data, sizeof f32_data), 0);
    ttc_gguf_close(g);
    /* No temp file left behind; a bad folder fails cleanly. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c 'm.gguf.tmp'", tu_tmpdir());
    char *out;
    tu_run(cmd, NULL, &out);
    cr_assert_eq(atoi(out), 0);
    free(out);
    cr_assert_eq(ttc_gguf_writer_write(w, "/nonexistent-dir/x.gguf", &e), TTC_EIO);
    cr_assert_eq(ttc_gguf_open("/nonexistent-dir/x.gguf", &g, &e), TTC_ENOTFOUND);
    cr_assert_null(g);
    ttc_gguf_writer_free(w);
}

Test(gguf, real_vocab_and_tokenizer_copy) {
    const char *path = tu_shared("vocab/ggml-vocab-qwen2.gguf");
    ttc_gguf *g;
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_open(path, &g, &e), TTC_OK, "%s", e.msg);
    const char *s;
    cr_assert_eq(ttc_gguf_get_str(g, "general.architecture", &s, &e), 0);
    cr_assert_str_eq(s, "qwen2");
    int et; uint64_t n; const void *d;
    cr_assert_eq(ttc_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d, &e), 0);
    cr_assert_eq(n, 151936);
    size_t len;
    const char *tok = ttc_gguf_arr_str(g, "tokenizer.ggml.tokens", 0, &len);
    cr_assert_eq(len, 1); cr_assert_eq(tok[0], '!');
    cr_assert_eq(ttc_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, &d, &e), 0);
    tok = ttc_gguf_arr_str(g, "tokenizer.ggml.merges", 0, &len);
    cr_assert_eq(len, 5); cr_assert_eq(memcmp(tok, "\xc4\xa0 \xc4\xa0", 5), 0);  /* "Ġ Ġ" */

    /* Copy tokenizer.* into a new file; every string must survive. */
    ttc_gguf_writer *w;
    cr_assert_eq(ttc_gguf_writer_new(&w, &e), 0);
    cr_assert_eq(ttc_gguf_set_str(w, "general.architecture", "test", &e), 0);
    cr_assert_eq(ttc_gguf_writer_copy_prefix(w, g, "tokenizer.", &e), TTC_OK, "%s", e.msg);
    void *buf;
    cr_assert_eq(ttc_gguf_writer_write_mem(w, &buf, &len, &e), 0);
    ttc_gguf *h = open_ok(buf, len);
    cr_assert_eq(ttc_gguf_n_keys(h), 10);  /* 9 tokenizer.* + architecture */
    for (int64_t k = 0; k < ttc_gguf_n_keys(g); k++) {
        const ttc_gguf_kv *a = ttc_gguf_kv_at(g, k);
        int64_t k2 = ttc_gguf_find_key(h, a->key);
        if (strncmp(a->key, "tokenizer.", 10)) continue;
        cr_assert_geq(k2, 0, "%s missing", a->key);
        const ttc_gguf_kv *b = ttc_gguf_kv_at(h, k2);
        cr_assert_eq(a->type, b->type); cr_assert_eq(a->n, b->n);
        if (a->type == TTC_GGUF_ARR && a->arr_type == TTC_GGUF_STR) {
            for (uint64_t i = 0; i < a->n; i++) {
                size_t la, lb;
                const char *sa = ttc_gguf_kv_str(g, k, i, &la), *sb = ttc_gguf_kv_str(h, k2, i, &lb);
                cr_assert(la == lb && !memcmp(sa, sb, la), "%s[%llu]", a->key, (unsigned long long)i);
            }
        } else if (a->type == TTC_GGUF_ARR) {
            cr_assert_eq(memcmp(a->arr, b->arr, a->n * 4), 0);
        } else if (a->type == TTC_GGUF_STR) {
            cr_assert_str_eq(a->str, b->str);
        } else {
            cr_assert_eq(a->v.u32, b->v.u32);
        }
    }
    ttc_gguf_close(h);
    free(buf);
    ttc_gguf_writer_free(w);
    ttc_gguf_close(g);
}

/* ---- validation rules, one hand-made file each ---- */

Test(gguf, rejects_bad_headers) {
    raw r = {0};
    r_bytes(&r, "GGUX", 4); r_u32(&r, 3); r_u64(&r, 0); r_u64(&r, 0);
    expect_err(&r, TTC_EFORMAT, "offset 0: bad magic", NULL);
    r.n = 0; r_bytes(&r, "GGUF", 4); r_u32(&r, 1); r_u64(&r, 0); r_u64(&r, 0);
    expect_err(&r, TTC_EUNSUPPORTED, "offset 4: GGUF version 1", NULL);
    r.n = 0; r_bytes(&r, "GGUF", 4); r_u32(&r, 3u << 24); r_u64(&r, 0); r_u64(&r, 0);
    expect_err(&r, TTC_EUNSUPPORTED, "big-endian", NULL);
    r.n = 0; r_bytes(&r, "GGUF", 4); r_u32(&r, 3); r_u64(&r, 0);
    expect_err(&r, TTC_EFORMAT, "offset 16: key count", "truncated");
    r.n = 0; r_header(&r, 0, 1000);
    expect_err(&r, TTC_EFORMAT, "key count 1000 cannot fit", NULL);
    r.n = 0; r_header(&r, UINT64_MAX, 0);
    expect_err(&r, TTC_EFORMAT, "tensor count", NULL);
    expect_err(&(raw){.n = 0}, TTC_EFORMAT, "magic", NULL);
    /* An empty valid file opens. */
    r.n = 0; r_header(&r, 0, 0);
    ttc_gguf *g = open_ok(r.b, r.n);
    cr_assert_eq(ttc_gguf_n_keys(g), 0);
    ttc_gguf_close(g);
}

Test(gguf, rejects_bad_keys) {
    raw r = {0};
    r_header(&r, 0, 2); r_str(&r, "k"); r_u32(&r, TTC_GGUF_U8); r_bytes(&r, "\1", 1);
    r_str(&r, "k"); r_u32(&r, TTC_GGUF_U8); r_bytes(&r, "\1", 1);
    expect_err(&r, TTC_EFORMAT, "offset 38: key 1 'k': duplicate of key 0", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "k"); r_u32(&r, 13); r_u32(&r, 0);
    expect_err(&r, TTC_EFORMAT, "offset 33: key 0 'k': value type 13", NULL);
    r.n = 0; r_header(&r, 0, 1); r_u64(&r, 3); r_bytes(&r, "a\0b", 3); r_u32(&r, 0); r_bytes(&r, "\0", 1);
    expect_err(&r, TTC_EFORMAT, "offset 24: key 0 name: name contains a NUL", NULL);
    r.n = 0; r_header(&r, 0, 1); r_u64(&r, 0); r_u32(&r, 0); r_bytes(&r, "\0\0", 2);
    expect_err(&r, TTC_EFORMAT, "empty name", NULL);
    r.n = 0; r_header(&r, 0, 1); r_u64(&r, 1000); r_bytes(&r, "abcdef", 6);
    expect_err(&r, TTC_EFORMAT, "string length 1000 exceeds", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "k"); r_u32(&r, TTC_GGUF_STR); r_u64(&r, UINT64_MAX);
    expect_err(&r, TTC_EFORMAT, "key 0 'k': string length 18446744073709551615", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "k"); r_u32(&r, TTC_GGUF_ARR); r_u32(&r, TTC_GGUF_ARR); r_u64(&r, 1);
    expect_err(&r, TTC_EUNSUPPORTED, "nested arrays", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "k"); r_u32(&r, TTC_GGUF_ARR); r_u32(&r, 99); r_u64(&r, 1);
    expect_err(&r, TTC_EFORMAT, "array element type 99", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "k"); r_u32(&r, TTC_GGUF_ARR); r_u32(&r, TTC_GGUF_U32); r_u64(&r, 1ull << 62);
    expect_err(&r, TTC_EFORMAT, "cannot fit", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "k"); r_u32(&r, TTC_GGUF_ARR); r_u32(&r, TTC_GGUF_STR); r_u64(&r, 2);
    r_str(&r, "ab"); r_u64(&r, 5);
    expect_err(&r, TTC_EFORMAT, "string length 5 exceeds", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "k"); r_u32(&r, TTC_GGUF_U64); r_u32(&r, 0);
    expect_err(&r, TTC_EFORMAT, "key 0 'k': needs 8 bytes, only 4 left", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "general.alignment"); r_u32(&r, TTC_GGUF_U32); r_u32(&r, 24);
    expect_err(&r, TTC_EFORMAT, "'general.alignment': 24 is not a power of two", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "general.alignment"); r_u32(&r, TTC_GGUF_U32); r_u32(&r, 0);
    expect_err(&r, TTC_EFORMAT, "out of range", NULL);
    r.n = 0; r_header(&r, 0, 1); r_str(&r, "general.alignment"); r_u32(&r, TTC_GGUF_STR); r_str(&r, "32");
    expect_err(&r, TTC_EFORMAT, "expected an integer", NULL);
}

Test(gguf, rejects_bad_tensors) {
    uint64_t ne[5] = {32, 2, 1, 1, 1};
    raw r = {0};
    r_header(&r, 1, 0); r_tensor(&r, "w", 5, ne, 0, 0);
    expect_err(&r, TTC_EFORMAT, "tensor 0 'w': n_dims 5 not in 1..4", NULL);
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "w", 0, ne, 0, 0); r_zeros(&r, 16);
    expect_err(&r, TTC_EFORMAT, "n_dims 0", NULL);
    uint64_t z[2] = {32, 0};
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "w", 2, z, 0, 0);
    expect_err(&r, TTC_EFORMAT, "tensor 0 'w': dimension 1 = 0 is zero", NULL);
    uint64_t big[4] = {1ull << 32, 1ull << 32, 1, 1};
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "w", 2, big, 0, 0);
    expect_err(&r, TTC_EFORMAT, "overflows the element count", NULL);
    /* 2^62 f32 elements fit int64 but their bytes wrap size_t to 0 (found by
     * fuzz_gguf): the byte size is checked, not just the element count */
    uint64_t wrap[1] = {1ull << 62};
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "v", 1, wrap, TTC_TYPE_F32, 0); r_pad(&r, 32); r_zeros(&r, 32);
    expect_err(&r, TTC_EFORMAT, "tensor 0 'v': byte size overflows", NULL);
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "w", 1, ne, 33, 0);
    expect_err(&r, TTC_EFORMAT, "type 33 is not a known ggml type", NULL);
    uint64_t odd[1] = {48};
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "w", 1, odd, TTC_TYPE_Q4_K, 0);
    expect_err(&r, TTC_EFORMAT, "row length 48 is not a multiple of the q4_K block size 256", NULL);
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "w", 2, ne, TTC_TYPE_F32, 16);
    r_pad(&r, 32); r_zeros(&r, 256 + 16);
    expect_err(&r, TTC_EFORMAT, "data offset 16 is not a multiple of the alignment 32", NULL);
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "blk.0.attn_q.weight", 2, ne, TTC_TYPE_F32, 0);
    r_pad(&r, 32); r_zeros(&r, 100);
    expect_err(&r, TTC_EFORMAT, "tensor 0 'blk.0.attn_q.weight': data ends at 352 past file size 196", NULL);
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "w", 2, ne, TTC_TYPE_F32, UINT64_MAX - 31);
    r_pad(&r, 32); r_zeros(&r, 256);
    expect_err(&r, TTC_EFORMAT, "overflow", NULL);
    r.n = 0; r_header(&r, 2, 0); r_tensor(&r, "a", 2, ne, TTC_TYPE_F32, 0); r_tensor(&r, "a", 1, ne, TTC_TYPE_F32, 256);
    expect_err(&r, TTC_EFORMAT, "tensor 1 'a': duplicate of tensor 0", NULL);
    r.n = 0; r_header(&r, 2, 0); r_tensor(&r, "a", 2, ne, TTC_TYPE_F32, 0); r_tensor(&r, "b", 1, ne, TTC_TYPE_F32, 224);
    r_pad(&r, 32); r_zeros(&r, 512);
    expect_err(&r, TTC_EFORMAT, "tensor 0 'a' (data 0..256) overlaps tensor 1 'b' (from 224)", NULL);
    /* Unknown-to-ttc but known-to-ggml types open; using them fails. */
    uint64_t kq[1] = {256};
    r.n = 0; r_header(&r, 1, 0); r_tensor(&r, "iq", 1, kq, TTC_TYPE_IQ2_XXS, 0); r_pad(&r, 32); r_zeros(&r, 66);
    ttc_gguf *g = open_ok(r.b, r.n);
    const ttc_gguf_tensor *t = ttc_gguf_tensor_at(g, 0);
    cr_assert_not(t->supported); cr_assert_eq(t->nbytes, 66);
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_tensor_get(g, "iq", 0, NULL, &t, &e), TTC_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "type iq2_xxs (16) is not supported"), "%s", e.msg);
    ttc_gguf_close(g);
}

/* Every prefix of a valid file fails cleanly; random byte flips never crash
 * and either open or fail with a message. */
Test(gguf, truncations_and_flips_fail_cleanly) {
    uint8_t q8[3 * 34], q5k[2 * 176];
    ttc_gguf_writer *w = sample_writer(q8, q5k);
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_set_arr_str(w, "tokenizer.x", (const char *[]){"ab", "c", "def"}, NULL, 3, &e), 0);
    uint8_t *buf; size_t len;
    cr_assert_eq(ttc_gguf_writer_write_mem(w, (void **)&buf, &len, &e), 0);
    ttc_gguf_writer_free(w);
    /* Cutting only the last tensor's trailing padding leaves a valid file. */
    ttc_gguf *full = open_ok(buf, len);
    size_t data_end = 0;
    for (int64_t i = 0; i < ttc_gguf_n_tensors(full); i++) {
        const ttc_gguf_tensor *t = ttc_gguf_tensor_at(full, i);
        data_end = TTC_MAX(data_end, (size_t)((const uint8_t *)t->data - buf) + t->nbytes);
    }
    ttc_gguf_close(full);
    cr_assert(data_end > len - 64 && data_end <= len);
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);  /* exact size, so ASan sees any overread */
        memcpy(cut, buf, n);
        ttc_gguf *g = (ttc_gguf *)1;
        e.msg[0] = 0;
        int rc = ttc_gguf_open_mem(cut, n, &g, &e);
        if (n >= data_end) {
            cr_assert_eq(rc, TTC_OK, "prefix of %zu/%zu bytes: %s", n, len, e.msg);
            ttc_gguf_close(g);
        } else {
            cr_assert_lt(rc, 0, "prefix of %zu/%zu bytes opened", n, len);
            cr_assert_null(g);
            cr_assert(e.msg[0], "no message at %zu", n);
        }
        free(cut);
    }
    ttc_rng rng;
    ttc_rng_seed(&rng, 1);
    uint8_t *m = malloc(len);
    int opened = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(m, buf, len);
        int flips = 1 + (int)ttc_rng_below(&rng, 3);
        for (int k = 0; k < flips; k++) {
            size_t at = ttc_rng_below(&rng, len < 512 ? len : 512);  /* mostly metadata */
            m[at] ^= (uint8_t)(1u << ttc_rng_below(&rng, 8));
        }
        ttc_gguf *g = NULL;
        e.msg[0] = 0;
        int rc = ttc_gguf_open_mem(m, len, &g, &e);
        if (rc == TTC_OK) {
            opened++;
            for (int64_t k = 0; k < ttc_gguf_n_keys(g); k++) {
                const ttc_gguf_kv *kv = ttc_gguf_kv_at(g, k);
                for (uint64_t i = 0; kv->type == TTC_GGUF_ARR && kv->arr_type == TTC_GGUF_STR && i < kv->n; i++) {
                    size_t l;
                    const char *s = ttc_gguf_kv_str(g, k, i, &l);
                    cr_assert(s >= (const char *)m && s + l <= (const char *)m + len);
                }
            }
            for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) {
                const ttc_gguf_tensor *t = ttc_gguf_tensor_at(g, i);
                cr_assert((const uint8_t *)t->data + t->nbytes <= m + len);
            }
            ttc_gguf_close(g);
        } else {
            cr_assert_null(g);
            cr_assert(e.msg[0]);
        }
    }
    cr_assert_gt(opened, 0);  /* some flips land in values and stay valid */
    free(m);
    free(buf);
}

/* ---- ttc gguf info ---- */

Test(gguf, cli_info) {
    uint8_t q8[3 * 34], q5k[2 * 176];
    ttc_gguf_writer *w = sample_writer(q8, q5k);
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/info.gguf", tu_tmpdir());
    ttc_err e = {0};
    cr_assert_eq(ttc_gguf_writer_write(w, path, &e), TTC_OK, "%s", e.msg);
    ttc_gguf_writer_free(w);
    char *out;
    snprintf(cmd, sizeof cmd, "%s gguf info -n 2 %s", tu_bin(), path);
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "GGUF v3"), "%s", out);
    cr_assert(strstr(out, "18 keys, 3 tensors, alignment 64"), "%s", out);
    cr_assert(strstr(out, "a.str                                        string   \"replaced\""), "%s", out);
    cr_assert(strstr(out, "[i32 x 5] 1, -2, ..."), "%s", out);
    cr_assert(strstr(out, "[string x 3] \"x\", \"\", ..."), "%s", out);
    cr_assert(strstr(out, "a.i64                                        i64      -4611686018427387904"), "%s", out);
    cr_assert(strstr(out, "t.q8                                     q8_0     32 x 3"), "%s", out);
    cr_assert(strstr(out, "t.q5k") && strstr(out, "256 x 1 x 2 x 1") && strstr(out, "not supported"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s gguf --help", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, &out), 0);
    cr_assert(strstr(out, "gguf info") && strstr(out, "gguf random"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s gguf info 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s gguf info %s/missing.gguf 2>/dev/null", tu_bin(), tu_tmpdir());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 1);
    snprintf(cmd, sizeof cmd, "%s gguf frob 2>/dev/null", tu_bin());
    cr_assert_eq(tu_run(cmd, NULL, NULL), 2);
}
