/* Runtime CPU feature detection and kernel path selection (see kernels.h). */
#include "kernels/kernels.h"
#include "kernels/kimpl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static const char *const path_names[TTC_KERNEL_N_PATHS] = {"ref", "avx2", "avx512", "vnni"};

static bool supported[TTC_KERNEL_N_PATHS];
static bool has_bf16;
static _Atomic int current = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void detect(void) {
    supported[TTC_KERNEL_REF] = true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    unsigned a, b, c, d;
    bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
    /* __builtin_cpu_supports also checks that the OS saves the YMM/ZMM state. */
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    bool vnni = avx512 && __builtin_cpu_supports("avx512vnni");
    if (avx512 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) has_bf16 = (a >> 5) & 1;
    supported[TTC_KERNEL_AVX2] = avx2;
    supported[TTC_KERNEL_AVX512] = avx512;
    supported[TTC_KERNEL_VNNI] = vnni;
#endif
    int best = TTC_KERNEL_REF;
    for (int p = 0; p < TTC_KERNEL_N_PATHS; p++)
        if (supported[p]) best = p;
    const char *env = getenv("TTC_KERNEL");
    int want = env && *env ? ttc_kernel_parse(env) : -1;
    if (want >= 0 && supported[want]) best = want;
    atomic_store(&current, best);
}

int ttc_kernel_get(void) {
    int p = atomic_load_explicit(&current, memory_order_acquire);
    if (p >= 0) return p;
    pthread_once(&once, detect);
    return atomic_load(&current);
}

bool ttc_kernel_supported(int path) {
    pthread_once(&once, detect);
    return path >= 0 && path < TTC_KERNEL_N_PATHS && supported[path];
}

bool ttc_kernel_has_bf16(void) {
    pthread_once(&once, detect);
    return has_bf16;
}

int ttc_kernel_set(int path, ttc_err *e) {
    if (!ttc_kernel_supported(path))
        return ttc_err_set(e, TTC_EUNSUPPORTED, "kernel path '%s' (%d) is not supported by this CPU",
                           ttc_kernel_name(path), path);
    atomic_store(&current, path);
    return TTC_OK;
}

const char *ttc_kernel_name(int path) {
    return path >= 0 && path < TTC_KERNEL_N_PATHS ? path_names[path] : "?";
}

int ttc_kernel_parse(const char *name) {
    for (int p = 0; p < TTC_KERNEL_N_PATHS; p++)
        if (!strcmp(name, path_names[p])) return p;
    return -1;
}
