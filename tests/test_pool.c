/* Thread pool: every task runs exactly once, on a valid thread, for 1..4
 * threads; nested and back-to-back runs; many tiny runs; NULL pool. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"

#define MAX_TASKS 1000

typedef struct {
    _Atomic int count[MAX_TASKS];
    _Atomic int bad_thread;
    int n_threads;
    ttc_pool *pool; /* for nested runs */
    _Atomic int inner;
} counts;

static void count_task(void *ctx, int task, int n_tasks, int thread) {
    counts *c = ctx;
    if (thread < 0 || thread >= c->n_threads || task < 0 || task >= n_tasks) c->bad_thread = 1;
    atomic_fetch_add(&c->count[task], 1);
}

/* Inner tasks record their thread index; the outer task checks that the
 * nested run kept its own index (no two threads share an index at once). */
static _Thread_local int inner_seen;
static void inner_thread_task(void *ctx, int task, int n_tasks, int thread) {
    counts *c = ctx;
    atomic_fetch_add(&c->inner, 1);
    inner_seen = thread;
}

static void nested_task(void *ctx, int task, int n_tasks, int thread) {
    counts *c = ctx;
    atomic_fetch_add(&c->count[task], 1);
    inner_seen = -1;
    ttc_pool_run(c->pool, inner_thread_task, c, 5);
    if (inner_seen != thread) c->bad_thread = 1;
}

Test(pool, every_task_once_for_1_to_4_threads) {
    for (int n = 1; n <= 4; n++) {
        ttc_pool *p;
        ttc_err e = {0};
        cr_assert_eq(ttc_pool_new(n, &p, &e), TTC_OK, "%s", e.msg);
        cr_assert_eq(ttc_pool_n_threads(p), n);
        static counts c;
        for (int tasks = 0; tasks <= MAX_TASKS; tasks += tasks < 10 ? 1 : 331) {
            memset(&c, 0, sizeof c);
            c.n_threads = n;
            ttc_pool_run(p, count_task, &c, tasks);
            cr_assert_eq(c.bad_thread, 0);
            for (int i = 0; i < MAX_TASKS; i++)
                cr_assert_eq(c.count[i], i < tasks ? 1 : 0, "n=%d tasks=%d task %d ran %d times",
                             n, tasks, i, c.count[i]);
        }
        ttc_pool_free(p);
    }
}

Test(pool, null_pool_runs_on_caller) {
    static counts c;
    memset(&c, 0, sizeof c);
    c.n_threads = 1;
    cr_assert_eq(ttc_pool_n_threads(NULL), 1);
    ttc_pool_run(NULL, count_task, &c, 17);
    for (int i = 0; i < 17; i++) cr_assert_eq(c.count[i], 1);
    cr_assert_eq(c.count[17], 0);
    ttc_pool_free(NULL);
}

Test(pool, nested_runs_do_not_deadlock) {
    ttc_pool *p;
    cr_assert_eq(ttc_pool_new(3, &p, NULL), TTC_OK);
    static counts c;
    memset(&c, 0, sizeof c);
    c.n_threads = 3;
    c.pool = p;
    ttc_pool_run(p, nested_task, &c, 40);
    for (int i = 0; i < 40; i++) cr_assert_eq(c.count[i], 1);
    cr_assert_eq(c.inner, 40 * 5);
    cr_assert_eq(c.bad_thread, 0, "a nested run changed the thread index");
    ttc_pool_free(p);
}

Test(pool, many_short_runs_back_to_back) {
    ttc_pool *p;
    cr_assert_eq(ttc_pool_new(4, &p, NULL), TTC_OK);
    static counts c;
    memset(&c, 0, sizeof c);
    c.n_threads = 4;
    for (int r = 0; r < 10000; r++) ttc_pool_run(p, count_task, &c, 1 + r % 7);
    long total = 0;
    for (int i = 0; i < 7; i++) total += c.count[i];
    long want = 0;
    for (int r = 0; r < 10000; r++) want += 1 + r % 7;
    cr_assert_eq(total, want);
    /* task i runs in every run with more than i tasks */
    for (int i = 0; i < 7; i++) {
        int w = 0;
        for (int r = 0; r < 10000; r++) w += (1 + r % 7) > i;
        cr_assert_eq(c.count[i], w, "task %d", i);
    }
    ttc_pool_free(p);
}

Test(pool, bad_thread_count) {
    ttc_pool *p = (ttc_pool *)1;
    ttc_err e = {0};
    cr_assert_eq(ttc_pool_new(TTC_POOL_MAX_THREADS + 1, &p, &e), TTC_EINVAL);
    cr_assert_null(p);
    cr_assert(strstr(e.msg, "threads") != NULL);
    cr_assert_eq(ttc_pool_new(0, &p, &e), TTC_OK); /* one per CPU */
    cr_assert_geq(ttc_pool_n_threads(p), 1);
    ttc_pool_free(p);
}

/* ttc_pool_for covers [0, n) exactly once with disjoint ranges, for sizes
 * below, at and far above the grain, on a real pool and on NULL. */
static void count_range(void *ctx, size_t i0, size_t i1) {
    int *hits = ctx;
    for (size_t i = i0; i < i1; i++) __atomic_add_fetch(&hits[i], 1, __ATOMIC_RELAXED);
}

Test(base, pool_for_covers_range_once) {
    ttc_err e;
    ttc_pool *pool;
    cr_assert_eq(ttc_pool_new(3, &pool, &e), TTC_OK, "%s", e.msg);
    const size_t sizes[] = {0, 1, 7, 16, 17, 1000, 4099};
    for (int pi = 0; pi < 2; pi++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s];
            int *hits = calloc(n + 1, sizeof *hits);
            ttc_pool_for(pi ? pool : NULL, n, 16, count_range, hits);
            for (size_t i = 0; i < n; i++) cr_assert_eq(hits[i], 1, "n=%zu i=%zu", n, i);
            cr_assert_eq(hits[n], 0);
            free(hits);
        }
    ttc_pool_free(pool);
}
