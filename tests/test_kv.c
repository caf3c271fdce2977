/* Paged KV cache: reference counts, copy-on-write of the tail page, memory
 * of many forks of one prompt, no leaks, and forked decoding equal to fresh
 * decoding. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/quant.h"
#include "model/ctx.h"
#include "model/kv.h"
#include "model/random.h"
#include "testutil.h"

/* Writes a recognisable value into every slot of positions [from, to). */
static void fill(ttc_kv *kv, ttc_kv_seq *s, int from, int to, float base) {
    for (int p = from; p < to; p++)
        for (int l = 0; l < kv->n_layer; l++)
            for (int kvi = 0; kvi < 2; kvi++)
                for (int h = 0; h < kv->n_kv_head; h++) {
                    for (int i = 0; i < kv->head_dim; i++)
                        *ttc_kv_at(kv, s->pages[p / kv->page_tokens], l, kvi, h, p % kv->page_tokens, i) =
                            base + p * 1000 + l * 100 + kvi * 10 + h + i * 0.001f;
                }
}

static bool holds(const ttc_kv *kv, const ttc_kv_seq *s, int from, int to, float base) {
    for (int p = from; p < to; p++)
        for (int l = 0; l < kv->n_layer; l++)
            for (int kvi = 0; kvi < 2; kvi++)
                for (int h = 0; h < kv->n_kv_head; h++) {
                    for (int i = 0; i < kv->head_dim; i++)
                        if (*ttc_kv_at(kv, s->pages[p / kv->page_tokens], l, kvi, h, p % kv->page_tokens, i) !=
                            base + p * 1000 + l * 100 + kvi * 10 + h + i * 0.001f)
                            return false;
                }
    return true;
}

static void append(ttc_kv *kv, ttc_kv_seq *s, int n, float base) {
    ttc_err e = {0};
    cr_assert_eq(ttc_kv_seq_reserve(kv, s, n, &e), TTC_OK, "%s", e.msg);
    fill(kv, s, s->n_tokens, s->n_tokens + n, base);
    s->n_tokens += n;
}

Test(kv, fork_shares_pages_and_copies_tail_on_write) {
    ttc_kv kv;
    ttc_err e = {0};
    cr_assert_eq(ttc_kv_init(&kv, 2, 2, 8, 16, 1024, &e), TTC_OK);
    cr_assert_eq(kv.n_pages, 64);
    cr_assert_eq(ttc_kv_bytes_per_token(&kv), 2 * 2 * 2 * 8 * 4);
    ttc_kv_seq a, b;
    cr_assert_eq(ttc_kv_seq_init(&kv, &a, 512, &e), TTC_OK);
    cr_assert_eq(ttc_kv_seq_init(&kv, &b, 512, &e), TTC_OK);
    append(&kv, &a, 40, 0); /* pages 0,1 full; page 2 holds 8 of 16 */
    cr_assert_eq(a.n_pages, 3);
    cr_assert_eq(ttc_kv_pages_used(&kv), 3);

    cr_assert_eq(ttc_kv_seq_fork(&kv, &b, &a, &e), TTC_OK);
    cr_assert_eq(ttc_kv_pages_used(&kv), 3); /* nothing copied */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(b.pages[i], a.pages[i]);
        cr_assert_eq(kv.refcnt[a.pages[i]], 2);
    }
    int32_t shared_tail = a.pages[2];
    /* b writes: its tail is copied, the full pages stay shared */
    append(&kv, &b, 3, 0.5f);
    cr_assert_eq(ttc_kv_pages_used(&kv), 4);
    cr_assert_neq(b.pages[2], shared_tail);
    cr_assert_eq(b.pages[0], a.pages[0]);
    cr_assert_eq(kv.refcnt[shared_tail], 1);
    cr_assert_eq(kv.refcnt[b.pages[2]], 1);
    cr_assert(holds(&kv, &b, 0, 40, 0));   /* copied prefix intact */
    cr_assert(holds(&kv, &b, 40, 43, 0.5f));
    /* a writes into its (now exclusive) tail in place: no copy */
    append(&kv, &a, 2, 0.25f);
    cr_assert_eq(a.pages[2], shared_tail);
    cr_assert_eq(ttc_kv_pages_used(&kv), 4);
    cr_assert(holds(&kv, &a, 0, 40, 0) && holds(&kv, &a, 40, 42, 0.25f));
    cr_assert(holds(&kv, &b, 40, 43, 0.5f)); /* untouched by a's write */

    /* truncate into a shared page, then write: copy-on-write again */
    cr_assert_eq(ttc_kv_seq_fork(&kv, &b, &a, &e), TTC_OK);
    ttc_kv_seq_truncate(&kv, &b, 20);
    cr_assert_eq(b.n_pages, 2);
    append(&kv, &b, 1, 0.75f);
    cr_assert_neq(b.pages[1], a.pages[1]);
    cr_assert(holds(&kv, &a, 16, 32, 0) && holds(&kv, &b, 16, 20, 0) && holds(&kv, &b, 20, 21, 0.75f));

    ttc_kv_seq_destroy(&kv, &b);
    ttc_kv_seq_destroy(&kv, &a);
    cr_assert_eq(ttc_kv_pages_used(&kv), 0);
    cr_assert_eq(kv.n_free, kv.n_pages);
    for (int i = 0; i < kv.n_pages; i++) cr_assert_eq(kv.refcnt[i], 0);
    ttc_kv_free(&kv);
}

Test(kv, sixty_four_forks_store_the_prompt_once) {
    ttc_kv kv;
    ttc_err e = {0};
    enum { P = 16, PROMPT = 256, NF = 64, OWN = 20 };
    cr_assert_eq(ttc_kv_init(&kv, 1, 1, 4, P, 8192, &e), TTC_OK);
    ttc_kv_seq root, f[NF];
    cr_assert_eq(ttc_kv_seq_init(&kv, &root, 512, &e), TTC_OK);
    append(&kv, &root, PROMPT - 1, 0); /* generation keeps the last prompt token pending */
    int prompt_pages = ttc_kv_pages_used(&kv);
    cr_assert_eq(prompt_pages, PROMPT / P);
    for (int i = 0; i < NF; i++) {
        cr_assert_eq(ttc_kv_seq_init(&kv, &f[i], 512, &e), TTC_OK);
        cr_assert_eq(ttc_kv_seq_fork(&kv, &f[i], &root, &e), TTC_OK);
    }
    cr_assert_eq(ttc_kv_pages_used(&kv), prompt_pages);
    for (int i = 0; i < NF; i++) append(&kv, &f[i], 1 + OWN, (float)i);
    /* each fork: a private copy of the 15-token tail page, then its own
     * pages for positions 256..275: (255 + 21 = 276 tokens -> pages 15..17) */
    int per_fork = (PROMPT - 1 + 1 + OWN + P - 1) / P - (PROMPT / P - 1);
    cr_assert_eq(ttc_kv_pages_used(&kv), prompt_pages + NF * per_fork);
    size_t bytes = (size_t)ttc_kv_pages_used(&kv) * kv.page_floats * sizeof(float);
    size_t ideal = (size_t)(PROMPT + NF * (1 + OWN)) * ttc_kv_bytes_per_token(&kv);
    cr_assert(bytes < 3 * ideal, "%zu bytes for %zu ideal", bytes, ideal);
    for (int i = 0; i < NF; i++) cr_assert(holds(&kv, &f[i], 0, PROMPT - 1, 0) && holds(&kv, &f[i], PROMPT - 1, PROMPT + OWN, (float)i));
    for (int i = 0; i < NF; i++) ttc_kv_seq_destroy(&kv, &f[i]);
    cr_assert_eq(ttc_kv_pages_used(&kv), prompt_pages);
    ttc_kv_seq_destroy(&kv, &root);
    cr_assert_eq(ttc_kv_pages_used(&kv), 0);
    ttc_kv_free(&kv);
}

Test(kv, out_of_pages_is_an_error) {
    ttc_kv kv;
    ttc_err e = {0};
    cr_assert_eq(ttc_kv_init(&kv, 1, 1, 4, 16, 32, &e), TTC_OK);
    ttc_kv_seq a;
    cr_assert_eq(ttc_kv_seq_init(&kv, &a, 1000, &e), TTC_OK);
    append(&kv, &a, 30, 0);
    cr_assert_eq(ttc_kv_seq_reserve(&kv, &a, 3, &e), TTC_ENOMEM);
    cr_assert(strstr(e.msg, "out of pages"), "%s", e.msg);
    cr_assert_eq(ttc_kv_seq_reserve(&kv, &a, 2, &e), TTC_OK);
    ttc_kv_seq_destroy(&kv, &a);
    ttc_kv_free(&kv);
}

/* Decoding a forked sequence gives exactly the logits a fresh sequence with
 * the same tokens gives; freeing everything returns every page. */
Test(kv, forked_decode_equals_fresh) {
    char path[256];
    snprintf(path, sizeof path, "%s/m.gguf", tu_tmpdir());
    ttc_err e = {0};
    ttc_random_params rp = {.type = TTC_TYPE_F16, .seed = 11};
    cr_assert_eq(ttc_random_model_write(ttc_random_shape_find("tiny-llama"), &rp, path, &e), TTC_OK, "%s", e.msg);
    ttc_model *m;
    cr_assert_eq(ttc_model_load(path, NULL, &m, &e), TTC_OK, "%s", e.msg);
    unlink(path);
    *strrchr(path, '/') = 0;
    rmdir(path);
    ttc_ctx_params cp = {.n_ctx = 128, .n_seq_max = 8, .n_batch = 64, .kv_tokens = 1024, .page_tokens = 16};
    ttc_ctx *c;
    cr_assert_eq(ttc_ctx_new(m, &cp, &c, &e), TTC_OK, "%s", e.msg);
    int V = m->cfg.n_vocab;
    int32_t prompt[21], cont[2][5] = {{3, 1, 4, 1, 5}, {9, 2, 6, 5, 3}};
    for (int i = 0; i < 21; i++) prompt[i] = (i * 37 + 5) % V;

    int root;
    cr_assert_eq(ttc_seq_new(c, &root, &e), TTC_OK);
    cr_assert_eq(ttc_seq_append_tokens(c, root, prompt, 21, &e), TTC_OK);
    cr_assert_eq(ttc_decode_pending(c, &root, 1, false, false, NULL, &e), TTC_OK, "%s", e.msg);
    int used_prompt = ttc_kv_pages_used(ttc_ctx_kv(c));
    int fk[2];
    for (int k = 0; k < 2; k++) cr_assert_eq(ttc_seq_fork(c, root, &fk[k], &e), TTC_OK);
    cr_assert_eq(ttc_seq_len(c, fk[1]), 21);
    cr_assert_eq(ttc_kv_pages_used(ttc_ctx_kv(c)), used_prompt);
    /* both forks in one batch */
    ttc_batch_entry b[10];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 5; i++) b[k * 5 + i] = (ttc_batch_entry){fk[k], cont[k][i], i == 4, false};
    cr_assert_eq(ttc_decode(c, b, 10, &e), TTC_OK, "%s", e.msg);
    float *forked = malloc(sizeof(float) * 2 * V);
    memcpy(forked, ttc_logits(c, 4), sizeof(float) * V);
    memcpy(forked + V, ttc_logits(c, 9), sizeof(float) * V);
    /* fresh sequences, prefilled in one go */
    for (int k = 0; k < 2; k++) {
        int s;
        cr_assert_eq(ttc_seq_new(c, &s, &e), TTC_OK);
        cr_assert_eq(ttc_seq_append_tokens(c, s, prompt, 21, &e), TTC_OK);
        cr_assert_eq(ttc_seq_append_tokens(c, s, cont[k], 5, &e), TTC_OK);
        cr_assert_eq(ttc_decode_pending(c, &s, 1, false, false, NULL, &e), TTC_OK, "%s", e.msg);
        const float *fresh = ttc_logits(c, 0);
        double d = 0, n = 0;
        for (int i = 0; i < V; i++) { d += pow(fresh[i] - forked[k * V + i], 2); n += pow(fresh[i], 2); }
        cr_assert(sqrt(d / n) < 1e-5, "fork %d: rel L2 %g", k, sqrt(d / n));
        cr_assert_arr_eq(ttc_seq_tokens(c, s), ttc_seq_tokens(c, fk[k]), 26 * sizeof(int32_t));
        ttc_seq_free(c, s);
    }
    /* the root is unchanged by its forks' writes */
    cr_assert_eq(ttc_seq_n_cached(c, root), 21);
    for (int k = 0; k < 2; k++) ttc_seq_free(c, fk[k]);
    cr_assert_eq(ttc_kv_pages_used(ttc_ctx_kv(c)), used_prompt);
    ttc_seq_free(c, root);
    cr_assert_eq(ttc_kv_pages_used(ttc_ctx_kv(c)), 0);
    free(forked);
    ttc_ctx_free(c);
    ttc_model_free(m);
}

/* ---- grouped attention over shared pages == attention per sequence ---- */

/* One decode of n entries (seq, token) with logits for every entry; appends
 * the logits to out (at *no floats) and checks the call succeeds. */
static void script_decode(ttc_ctx *c, const int *seq, const int32_t *tok, int n, float *out, size_t *no) {
    ttc_batch_entry b[128];
    for (int i = 0; i < n; i++) b[i] = (ttc_batch_entry){seq[i], tok[i], true, false};
    ttc_err e = {0};
    cr_assert_eq(ttc_decode(c, b, n, &e), TTC_OK, "%s", e.msg);
    int V = ttc_model_n_vocab(ttc_ctx_model(c));
    for (int i = 0; i < n; i++) {
        memcpy(out + *no, ttc_logits(c, i), sizeof(float) * V);
        *no += (size_t)V;
    }
}

/* A fixed history of forks on one context: a prompt prefilled in one
 * decode (one group, causal masks), forks that extend by different amounts
 * (so their copy-on-write tails differ), a fork of a fork (sharing more
 * pages than its group), an unrelated fresh sequence, and batches mixing
 * all of them, some with several entries of one sequence. Returns the
 * number of floats of logits written to out. */
static size_t attn_script(ttc_ctx *c, int V, float *out) {
    ttc_err e = {0};
    size_t no = 0;
    int32_t tok[128];
    int seq[128], root, f[5], fresh;
    for (int i = 0; i < 128; i++) tok[i] = (int32_t)((i * 53 + 7) % V);
    cr_assert_eq(ttc_seq_new(c, &root, &e), TTC_OK);
    for (int i = 0; i < 70; i++) seq[i] = root;
    script_decode(c, seq, tok, 70, out, &no); /* prompt: 70 tokens, tail page partly filled */
    for (int k = 0; k < 4; k++) cr_assert_eq(ttc_seq_fork(c, root, &f[k], &e), TTC_OK);
    /* forks extend by 1, 3, 11 and 0 tokens, in one batch */
    int n = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < (k == 0 ? 1 : k == 1 ? 3 : 11); i++, n++) { seq[n] = f[k]; tok[n] = (int32_t)((k * 31 + i * 7 + 1) % V); }
    script_decode(c, seq, tok, n, out, &no);
    cr_assert_eq(ttc_seq_fork(c, f[2], &f[4], &e), TTC_OK); /* shares root's and f[2]'s pages */
    cr_assert_eq(ttc_seq_new(c, &fresh, &e), TTC_OK);
    for (int i = 0; i < 9; i++) { seq[i] = fresh; tok[i] = (int32_t)((i * 11 + 3) % V); }
    script_decode(c, seq, tok, 9, out, &no);
    /* every live sequence, f[4] and f[1] with several entries, three steps */
    for (int step = 0; step < 3; step++) {
        n = 0;
        int all[7] = {root, f[0], f[1], f[2], f[3], f[4], fresh};
        for (int k = 0; k < 7; k++) {
            int reps = all[k] == f[4] ? 3 : all[k] == f[1] ? 2 : 1;
            for (int r = 0; r < reps; r++, n++) { seq[n] = all[k]; tok[n] = (int32_t)((step * 97 + k * 13 + r * 5) % V); }
        }
        script_decode(c, seq, tok, n, out, &no);
    }
    return no;
}

static void grouped_equals_per_seq(const char *shape, int page_tokens) {
    char path[256];
    snprintf(path, sizeof path, "%s/m.gguf", tu_tmpdir());
    ttc_err e = {0};
    ttc_random_params rp = {.type = TTC_TYPE_F16, .seed = 13};
    cr_assert_eq(ttc_random_model_write(ttc_random_shape_find(shape), &rp, path, &e), TTC_OK, "%s", e.msg);
    ttc_model *m;
    cr_assert_eq(ttc_model_load(path, NULL, &m, &e), TTC_OK, "%s", e.msg);
    unlink(path);
    *strrchr(path, '/') = 0;
    rmdir(path);
    int V = m->cfg.n_vocab;
    ttc_pool *pool;
    cr_assert_eq(ttc_pool_new(3, &pool, &e), TTC_OK);
    size_t cap = (size_t)V * 300;
    float *out[2] = {malloc(sizeof(float) * cap), malloc(sizeof(float) * cap)};
    size_t no[2];
    for (int per_seq = 0; per_seq < 2; per_seq++) {
        ttc_ctx_params cp = {.n_ctx = 128, .n_seq_max = 8, .n_batch = 128, .n_outputs_max = 128, .kv_tokens = 2048,
                             .page_tokens = page_tokens, .pool = per_seq ? NULL : pool, .attn_per_seq = per_seq};
        ttc_ctx *c;
        cr_assert_eq(ttc_ctx_new(m, &cp, &c, &e), TTC_OK, "%s", e.msg);
        no[per_seq] = attn_script(c, V, out[per_seq]);
        ttc_ctx_free(c);
    }
    cr_assert_eq(no[0], no[1]);
    for (size_t r = 0; r < no[0] / (size_t)V; r++) {
        double d = 0, nn = 0;
        for (int i = 0; i < V; i++) {
            d += pow(out[0][r * V + i] - out[1][r * V + i], 2);
            nn += pow(out[1][r * V + i], 2);
        }
        cr_assert(sqrt(d / nn) < 1e-5, "%s P=%d: logits row %zu: rel L2 %g", shape, page_tokens, r, sqrt(d / nn));
    }
    free(out[0]); free(out[1]);
    ttc_pool_free(pool);
    ttc_model_free(m);
}

Test(kv, grouped_attention_equals_per_sequence) {
    grouped_equals_per_seq("tiny-qwen2", 8);   /* 8 pages per softmax block: several blocks */
    grouped_equals_per_seq("tiny-llama", 16);
    grouped_equals_per_seq("tiny-qwen3", 24);  /* head dim 128, q/k norms */
}
