/* Thread pool: see pool.h. Wake-up and completion use Linux futexes on two
 * 32-bit words (gen: bumped once per run; pending: workers not yet done),
 * with a short spin first so back-to-back runs (one matmul after another)
 * never enter the kernel. Sleeper counts make the futex_wake syscalls
 * conditional: seq_cst ordering on (word, sleepers) means a waker either sees
 * the sleeper or the sleeper sees the new word value inside futex_wait. */
#include "base/pool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SPIN_NS 200000 /* how long an idle thread spins before sleeping */

struct ttc_pool {
    int n;                      /* threads in a run, caller included */
    pthread_t *th;              /* n - 1 workers */
    pthread_mutex_t run_mu;     /* held for a whole run; busy => inline run */
    ttc_pool_fn fn;
    void *ctx;
    int n_tasks;
    _Atomic uint32_t gen;       /* futex word: bumped to start a run */
    _Atomic uint32_t pending;   /* futex word: workers still in the run */
    _Atomic int next;           /* next task index to hand out */
    _Atomic int gen_sleepers;   /* workers (about to be) asleep on gen */
    _Atomic int done_sleeper;   /* caller (about to be) asleep on pending */
    _Atomic int stop;
};

struct worker_arg { ttc_pool *p; int id; };

/* The pool whose task this thread is running (if any) and its thread index
 * in it: a nested run executes inline under the same index, so per-thread
 * state indexed by `thread` is never shared by two threads at once. */
static _Thread_local ttc_pool *tls_pool;
static _Thread_local int tls_thread;

static void futex_wait(_Atomic uint32_t *w, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w, int n) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spins until *w != val or SPIN_NS passed; returns the last value read. */
static uint32_t spin_while_eq(_Atomic uint32_t *w, uint32_t val) {
    uint64_t t0 = 0;
    for (unsigned i = 1;; i++) {
        uint32_t v = atomic_load_explicit(w, memory_order_acquire);
        if (v != val) return v;
        if (i < 1024) { cpu_relax(); continue; }
        sched_yield(); /* lets a runnable peer have the core when threads > cores */
        uint64_t t = now_ns();
        if (!t0) t0 = t;
        else if (t - t0 > SPIN_NS) return v;
    }
}

/* Hands out tasks of the current run until none are left. */
static void run_tasks(ttc_pool *p, int thread) {
    for (;;) {
        int i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n_tasks) return;
        p->fn(p->ctx, i, p->n_tasks, thread);
    }
}

static void *worker_main(void *arg) {
    ttc_pool *p = ((struct worker_arg *)arg)->p;
    int id = ((struct worker_arg *)arg)->id;
    free(arg);
    tls_pool = p;
    tls_thread = id;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = spin_while_eq(&p->gen, seen);
        while (g == seen) {
            atomic_fetch_add(&p->gen_sleepers, 1);
            futex_wait(&p->gen, seen);
            atomic_fetch_sub(&p->gen_sleepers, 1);
            g = atomic_load(&p->gen);
        }
        seen = g;
        if (atomic_load(&p->stop)) return NULL;
        run_tasks(p, id);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->done_sleeper))
            futex_wake(&p->pending, 1);
    }
}

/* Starts one run on all workers (stop = 1 makes them exit instead). */
static void start_run(ttc_pool *p) {
    atomic_store_explicit(&p->pending, (uint32_t)(p->n - 1), memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes fn/ctx/next/pending */
    if (atomic_load(&p->gen_sleepers) > 0) futex_wake(&p->gen, INT_MAX);
}

int ttc_pool_new(int n_threads, ttc_pool **out, ttc_err *e) {
    *out = NULL;
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c <= 0 ? 1 : c > TTC_POOL_MAX_THREADS ? TTC_POOL_MAX_THREADS : (int)c;
    }
    if (n_threads > TTC_POOL_MAX_THREADS)
        return ttc_err_set(e, TTC_EINVAL, "pool: %d threads requested, at most %d",
                           n_threads, TTC_POOL_MAX_THREADS);
    ttc_pool *p = calloc(1, sizeof *p);
    if (!p) return ttc_err_set(e, TTC_ENOMEM, "pool: out of memory");
    p->n = n_threads;
    pthread_mutex_init(&p->run_mu, NULL);
    if (n_threads > 1) {
        p->th = calloc((size_t)n_threads - 1, sizeof *p->th);
        if (!p->th) { free(p); return ttc_err_set(e, TTC_ENOMEM, "pool: out of memory"); }
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *a = malloc(sizeof *a);
        if (a) { a->p = p; a->id = i; }
        int rc = a ? pthread_create(&p->th[i - 1], NULL, worker_main, a) : ENOMEM;
        if (rc) {
            free(a);
            p->n = i; /* workers 1..i-1 exist */
            ttc_pool_free(p);
            return ttc_err_set(e, rc == ENOMEM ? TTC_ENOMEM : TTC_EIO,
                               "pool: starting thread %d of %d: %s", i, n_threads, strerror(rc));
        }
    }
    *out = p;
    return TTC_OK;
}

void ttc_pool_free(ttc_pool *p) {
    if (!p) return;
    if (p->n > 1) {
        atomic_store(&p->stop, 1);
        start_run(p);
        for (int i = 0; i < p->n - 1; i++) pthread_join(p->th[i], NULL);
    }
    pthread_mutex_destroy(&p->run_mu);
    free(p->th);
    free(p);
}

int ttc_pool_n_threads(const ttc_pool *p) { return p ? p->n : 1; }

void ttc_pool_run(ttc_pool *p, ttc_pool_fn fn, void *ctx, int n_tasks) {
    if (n_tasks <= 0) return;
    if (!p || p->n == 1 || n_tasks == 1 || pthread_mutex_trylock(&p->run_mu) != 0) {
        int self = p && tls_pool == p ? tls_thread : 0;
        for (int i = 0; i < n_tasks; i++) fn(ctx, i, n_tasks, self);
        return;
    }
    ttc_pool *outer_pool = tls_pool;
    int outer_thread = tls_thread;
    tls_pool = p;
    tls_thread = 0;
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    start_run(p);
    run_tasks(p, 0);
    for (;;) { /* wait for the workers: spin, then sleep until the last one wakes us */
        uint32_t left = atomic_load(&p->pending);
        if (left == 0) break;
        uint64_t t0 = now_ns();
        for (unsigned i = 0; (left = atomic_load_explicit(&p->pending, memory_order_acquire)) != 0 &&
                             now_ns() - t0 < SPIN_NS; i++)
            if (i < 1024) cpu_relax();
            else sched_yield();
        if (left == 0) break;
        atomic_store(&p->done_sleeper, 1);
        if ((left = atomic_load(&p->pending)) != 0) futex_wait(&p->pending, left);
        atomic_store(&p->done_sleeper, 0);
    }
    atomic_thread_fence(memory_order_acquire);
    tls_pool = outer_pool;
    tls_thread = outer_thread;
    pthread_mutex_unlock(&p->run_mu);
}

typedef struct {
    ttc_pool_range_fn fn;
    void *ctx;
    size_t n;
} pool_for_run;

static void pool_for_task(void *v, int task, int n_tasks, int thread) {
    (void)thread;
    const pool_for_run *r = v;
    size_t i0 = r->n * (size_t)task / (size_t)n_tasks;
    size_t i1 = r->n * (size_t)(task + 1) / (size_t)n_tasks;
    if (i1 > i0) r->fn(r->ctx, i0, i1);
}

void ttc_pool_for(ttc_pool *p, size_t n, size_t grain, ttc_pool_range_fn fn, void *ctx) {
    if (n == 0) return;
    size_t want = 4 * (size_t)ttc_pool_n_threads(p), by_grain = n / (grain ? grain : 1);
    size_t tasks = by_grain < want ? by_grain : want;
    if (tasks <= 1) { fn(ctx, 0, n); return; }
    pool_for_run r = {fn, ctx, n};
    ttc_pool_run(p, pool_for_task, &r, (int)tasks);
}
