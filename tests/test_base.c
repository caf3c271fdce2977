/* Base module: error records, rng determinism, file helpers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "testutil.h"

Test(base, err_set_and_wrap) {
    ttc_err e = {0};
    cr_assert_eq(ttc_err_set(&e, TTC_EFORMAT, "offset %d: bad magic", 4), TTC_EFORMAT);
    cr_assert_eq(ttc_err_wrap(&e, "%s: ", "x.gguf"), TTC_EFORMAT);
    cr_assert_str_eq(e.msg, "x.gguf: offset 4: bad magic");
    cr_assert_eq(ttc_err_set(NULL, TTC_EIO, "ignored"), TTC_EIO);
    cr_assert_str_eq(ttc_strerror(TTC_ENOTFOUND), "not found");
}

Test(base, rng_deterministic_and_uniform) {
    ttc_rng a, b;
    ttc_rng_seed(&a, 42);
    ttc_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) cr_assert_eq(ttc_rng_u64(&a), ttc_rng_u64(&b));
    ttc_rng_seed(&b, 43);
    cr_assert_neq(ttc_rng_u64(&a), ttc_rng_u64(&b));
    int hist[10] = {0};
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        float f = ttc_rng_float(&a);
        cr_assert(f >= 0.0f && f < 1.0f);
        hist[(int)(f * 10)]++;
        sum += ttc_rng_normal(&a);
    }
    for (int i = 0; i < 10; i++) cr_assert(hist[i] > 9500 && hist[i] < 10500, "bin %d: %d", i, hist[i]);
    cr_assert(sum / 100000 < 0.02 && sum / 100000 > -0.02);
    for (int i = 0; i < 1000; i++) cr_assert(ttc_rng_below(&a, 7) < 7);
}

Test(base, rng_split_streams_independent) {
    ttc_rng x, y, z;
    ttc_rng_split(&x, 7, 1);
    ttc_rng_split(&y, 7, 1);
    ttc_rng_split(&z, 7, 2);
    uint64_t vx = ttc_rng_u64(&x);
    cr_assert_eq(vx, ttc_rng_u64(&y));
    cr_assert_neq(vx, ttc_rng_u64(&z));
}

Test(base, file_roundtrip_and_missing) {
    const char *d = tu_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/f.txt", d);
    ttc_err e = {0};
    cr_assert_eq(ttc_write_file(path, "hello", 5, &e), TTC_OK);
    char *buf; size_t n;
    cr_assert_eq(ttc_read_file(path, &buf, &n, &e), TTC_OK);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(buf, "hello");
    free(buf);
    snprintf(path, sizeof path, "%s/missing", d);
    cr_assert_eq(ttc_read_file(path, &buf, &n, &e), TTC_ENOTFOUND);
    cr_assert(strstr(e.msg, "missing") != NULL);
}

#include "base/jsonl.h"

static int count_cb(void *ud, json_t *o, int line, ttc_err *e) {
    (void)e;
    cr_assert(json_is_object(o));
    *(int *)ud += line;
    return TTC_OK;
}

Test(base, jsonl_resume_drops_torn_line_and_appends) {
    char path[256];
    snprintf(path, sizeof path, "%s/r.jsonl", tu_tmpdir());
    ttc_err e = {0};
    int sum = 0;
    cr_assert_eq(ttc_jsonl_resume(path, count_cb, &sum, &e), TTC_OK, "missing file is fine");
    FILE *f = fopen(path, "w");
    fputs("{\"a\":1}\n\n{\"a\":2}\n{\"a\":", f);
    fclose(f);
    cr_assert_eq(ttc_jsonl_resume(path, count_cb, &sum, &e), TTC_OK, "%s", e.msg);
    cr_assert_eq(sum, 1 + 3, "lines 1 and 3 seen, blank skipped, torn ignored");
    f = fopen(path, "a");
    cr_assert_eq(ttc_jsonl_append(f, json_pack("{s:i}", "a", 3), path, &e), TTC_OK);
    fclose(f);
    char *buf;
    size_t n;
    cr_assert_eq(ttc_read_file(path, &buf, &n, &e), TTC_OK);
    cr_assert_str_eq(buf, "{\"a\":1}\n\n{\"a\":2}\n{\"a\":3}\n");
    free(buf);
    f = fopen(path, "a");
    fputs("[1]\n", f);
    fclose(f);
    cr_assert_eq(ttc_jsonl_resume(path, count_cb, &sum, &e), TTC_EFORMAT);
    cr_assert(strstr(e.msg, ":5:") != NULL, "%s", e.msg);
}

Test(base, strset_membership) {
    ttc_strset s = {0};
    char k[32];
    for (int i = 0; i < 1000; i++) { snprintf(k, sizeof k, "key%d", i * 7); cr_assert_eq(ttc_strset_add(&s, k), TTC_OK); }
    cr_assert_eq(ttc_strset_add(&s, "key0"), TTC_OK);
    cr_assert_eq(s.n, 1000, "duplicates are not added");
    for (int i = 0; i < 7000; i++) {
        snprintf(k, sizeof k, "key%d", i);
        cr_assert_eq(ttc_strset_has(&s, k), i % 7 == 0, "%s", k);
    }
    ttc_strset_free(&s);
}
