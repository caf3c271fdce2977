/* libFuzzer target: parse arbitrary bytes as GGUF, walk every key, array
 * element and tensor, decode the first row of supported tensors, and check
 * that a file that opens survives a copy through the writer unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static void check(int ok) { if (!ok) abort(); }

static void roundtrip(const ttc_gguf *g) {
    if (ttc_gguf_alignment(g) > 65536) return;  /* beyond what the writer offers */
    for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++)
        if (strlen(ttc_gguf_tensor_at(g, i)->name) > 63) return;  /* the writer keeps to ggml's limit */
    ttc_gguf_writer *w;
    ttc_err e;
    check(ttc_gguf_writer_new(&w, &e) == TTC_OK);
    check(ttc_gguf_writer_set_alignment(w, (uint32_t)ttc_gguf_alignment(g), &e) == TTC_OK);
    check(ttc_gguf_writer_copy_prefix(w, g, "", &e) == TTC_OK);
    for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) {
        const ttc_gguf_tensor *t = ttc_gguf_tensor_at(g, i);
        check(ttc_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, &e) == TTC_OK);
    }
    void *buf;
    size_t len;
    if (ttc_gguf_writer_write_mem(w, &buf, &len, &e) == TTC_OK) {
        ttc_gguf *h;
        check(ttc_gguf_open_mem(buf, len, &h, &e) == TTC_OK);
        check(ttc_gguf_n_tensors(h) == ttc_gguf_n_tensors(g));
        for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) {
            const ttc_gguf_tensor *a = ttc_gguf_tensor_at(g, i), *b = ttc_gguf_tensor_at(h, i);
            check(!strcmp(a->name, b->name) && a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes));
        }
        for (int64_t k = 0; k < ttc_gguf_n_keys(g); k++) {
            const ttc_gguf_kv *a = ttc_gguf_kv_at(g, k);
            const ttc_gguf_kv *b = ttc_gguf_kv_at(h, ttc_gguf_find_key(h, a->key));
            if (!strcmp(a->key, "general.alignment")) continue;
            check(b && a->type == b->type && a->n == b->n);
        }
        ttc_gguf_close(h);
        free(buf);
    }
    ttc_gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ttc_gguf *g;
    ttc_err e;
    if (ttc_gguf_open_mem(data, size, &g, &e) != TTC_OK) {
        check(g == NULL && e.msg[0]);
        return 0;
    }
    volatile size_t sink = 0;
    for (int64_t k = 0; k < ttc_gguf_n_keys(g); k++) {
        const ttc_gguf_kv *kv = ttc_gguf_kv_at(g, k);
        check(ttc_gguf_find_key(g, kv->key) == k);
        if (kv->type == TTC_GGUF_STR) sink += strlen(kv->str);
        if (kv->type != TTC_GGUF_ARR) continue;
        for (uint64_t i = 0; i < kv->n; i++) {
            if (kv->arr_type == TTC_GGUF_STR) {
                size_t len;
                const char *s = ttc_gguf_kv_str(g, k, i, &len);
                check(s && (const uint8_t *)s >= data && (const uint8_t *)s + len <= data + size);
                if (len) sink += (uint8_t)s[len - 1];
            } else {
                sink += ((const uint8_t *)kv->arr)[i];  /* at least n bytes */
            }
        }
    }
    float row[1024];
    for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) {
        const ttc_gguf_tensor *t = ttc_gguf_tensor_at(g, i);
        check(ttc_gguf_find_tensor(g, t->name) == t);
        check((const uint8_t *)t->data >= data && (const uint8_t *)t->data + t->nbytes <= data + size);
        if (t->supported && t->ne[0] <= 1024)
            check(ttc_dequantize_row(t->type, t->data, row, t->ne[0], &e) == TTC_OK);
    }
    (void)sink;
    roundtrip(g);
    ttc_gguf_close(g);
    return 0;
}
