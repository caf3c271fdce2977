/* Thread pool: runs n_tasks calls of one function on a fixed set of threads.
 *
 * The calling thread takes part as thread 0; workers are threads 1..n-1.
 * Tasks are handed out dynamically (an atomic counter), so a thread that is
 * descheduled by the OS does not hold the others back. Idle workers spin for
 * a short while (a run usually follows another within microseconds) and then
 * sleep on a futex, so an idle pool costs no CPU.
 *
 * A NULL pool is valid everywhere and means "run on the caller's thread".
 * A run issued while the pool is busy executes inline on the calling
 * thread, so nested runs never deadlock: from inside a task it keeps that
 * task's thread index; from an unrelated thread it runs as thread 0, so two
 * outside threads sharing a pool must not share state indexed by `thread`. */
#ifndef TTC_POOL_H
#define TTC_POOL_H
#include <stddef.h>
#include "ttc.h"

typedef struct ttc_pool ttc_pool;

/* One task: `task` in [0, n_tasks), `thread` in [0, ttc_pool_n_threads). */
typedef void (*ttc_pool_fn)(void *ctx, int task, int n_tasks, int thread);

/* Creates a pool of n_threads threads in total (the caller counts as one);
 * n_threads <= 0 means one per online CPU. Fails with TTC_EINVAL for more
 * than TTC_POOL_MAX_THREADS, TTC_ENOMEM/TTC_EIO if threads cannot start. */
#define TTC_POOL_MAX_THREADS 256
int ttc_pool_new(int n_threads, ttc_pool **out, ttc_err *e);

/* Stops and joins the workers and frees the pool; NULL is a no-op. Must not
 * be called while a run is in progress. */
void ttc_pool_free(ttc_pool *p);

/* Number of threads that take part in a run (1 for a NULL pool). */
int ttc_pool_n_threads(const ttc_pool *p);

/* Runs fn(ctx, i, n_tasks, thread) once for every i in [0, n_tasks) and
 * returns when all calls have finished. Calls run concurrently in no
 * particular order; their memory effects are visible to the caller on
 * return. n_tasks <= 0 does nothing. */
void ttc_pool_run(ttc_pool *p, ttc_pool_fn fn, void *ctx, int n_tasks);

/* A range [i0, i1) of a parallel loop. */
typedef void (*ttc_pool_range_fn)(void *ctx, size_t i0, size_t i1);

/* Parallel loop over [0, n): calls fn on disjoint ranges that cover it,
 * each at least `grain` long (except a short last one), about four per
 * thread. For loops whose iterations are independent, so the result does
 * not depend on the split. */
void ttc_pool_for(ttc_pool *p, size_t n, size_t grain, ttc_pool_range_fn fn, void *ctx);
#endif
