/* ttc: compute-optimal test-time scaling of LLMs, in C.
 *
 * The one public header. Every function that can fail returns an int status
 * (TTC_OK or a negative TTC_E* code) and, when given a ttc_err, fills it with
 * a message that says what failed, where and why. Library code never prints
 * and never exits.
 *
 * This header holds what every module shares (errors). The modules' APIs
 * are in their headers, installed under <prefix>/include/ttc/ (pkg-config
 * --cflags ttc puts that directory on the include path):
 *
 *   gguf/gguf.h           GGUF v3 reader (mmap, validated) and writer
 *   kernels/quant.h       tensor types, reference (de)quantization
 *   kernels/kernels.h     matmul / sgemm with runtime CPU dispatch
 *   tokenizer/tokenizer.h BPE and SentencePiece tokenizers; tokenizer/chat.h
 *   model/model.h         load llama / qwen2 / qwen3 GGUF models
 *   model/ctx.h           sequences over a paged KV cache, batched decode
 *   model/generate.h      batched sampling with stop strings and streaming
 *   search/strategy.h     best-of-N, beam, lookahead, DVTS, revisions
 *   search/lm_local.h     generator and PRM/ORM backends over the engine
 *   search/prm.h          PRM formats (Math-Shepherd, RLHFlow, Qwen, Skywork)
 *   data/grader.h         MATH answer extraction and equivalence
 *   optimal/experiment.h  the compute-optimal experiment; optimal/policy.h
 *   serve/server.h        the OpenAI-compatible HTTP server
 *
 * Link with `pkg-config --libs --static ttc` (or -lttc). */
#ifndef TTC_H
#define TTC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TTC_VERSION "0.1.0"

enum {
    TTC_OK           =  0,
    TTC_EINVAL       = -1,  /* bad argument or request */
    TTC_EIO          = -2,  /* file or socket read/write failed */
    TTC_EFORMAT      = -3,  /* corrupt or malformed input (file, JSON, ...) */
    TTC_ENOMEM       = -4,  /* allocation failed or a size limit was hit */
    TTC_EUNSUPPORTED = -5,  /* valid but not supported (arch, type, feature) */
    TTC_ENOTFOUND    = -6,  /* missing file, key, tensor or model */
    TTC_ECANCELED    = -7,  /* the caller cancelled the work */
    TTC_ENET         = -8,  /* network or remote engine failure */
    TTC_ENUMERIC     = -9,  /* NaN/Inf where a number was required */
};

/* Error record: code plus a human-readable "where: what: why" message. */
typedef struct ttc_err {
    int  code;
    char msg[1024];
} ttc_err;

/* Sets *e (if e is not NULL) to code and the printf-style message; returns
 * code, so callers can write `return ttc_err_set(e, TTC_EINVAL, ...)`. */
int ttc_err_set(ttc_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends printf-style context ("loading x.gguf: ") to e->msg; returns
 * e->code (or TTC_OK when e is NULL). */
int ttc_err_wrap(ttc_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Static name of an error code, e.g. "invalid argument". */
const char *ttc_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif /* TTC_H */
