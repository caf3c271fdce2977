/* The OpenAI-compatible wire format: request parsing and validation, error
 * bodies, response and stream-chunk bodies.
 *
 * Nothing here touches sockets or the engine, so the parser can be fuzzed on
 * its own (fuzz/fuzz_request.c). A request that fails validation yields a
 * ttc_api_fault (HTTP status, OpenAI error type, offending param, code) and a
 * message in the ttc_err; the server turns both into
 *     {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
 *
 * Error types used (OpenAI's names where OpenAI has one):
 *   400 invalid_request_error   malformed JSON, wrong types, out-of-range values
 *   401 authentication_error    missing or wrong API key (code invalid_api_key)
 *   404 not_found_error         unknown model (model_not_found) or path (unknown_url)
 *   405 invalid_request_error   wrong method (method_not_allowed)
 *   413 invalid_request_error   body over --max-body (request_too_large)
 *   429 rate_limit_error        the queue is full (queue_full)
 *   500 server_error            the engine failed
 *   503 server_error            shutting down or out of KV memory (overloaded) */
#ifndef TTC_SERVE_API_H
#define TTC_SERVE_API_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "search/strategy.h"
#include "ttc.h"

typedef enum { TTC_API_CHAT = 0, TTC_API_COMPLETION = 1 } ttc_api_kind;

#define TTC_API_MAX_STOP 4
#define TTC_API_MAX_TOP_LOGPROBS 20

/* Test-time compute strategies a request can ask for ("ttc": {"strategy"}). */
typedef enum {
    TTC_STRAT_NONE = 0,   /* plain sampling: n independent samples */
    TTC_STRAT_AUTO,       /* chosen per prompt by the compute-optimal policy */
    TTC_STRAT_BON_WEIGHTED,
    TTC_STRAT_MAJORITY,
    TTC_STRAT_BEAM,
    TTC_STRAT_LOOKAHEAD,
    TTC_STRAT_DVTS,
    TTC_STRAT_REVISE,
    TTC_STRAT_COUNT
} ttc_strategy_id;

/* Wire name of a strategy ("none", "auto", "bon-weighted", ...). */
const char *ttc_strategy_name(ttc_strategy_id s);
/* Strategy by wire name; TTC_ENOTFOUND if there is none. */
int ttc_strategy_parse(const char *name, ttc_strategy_id *out, ttc_err *e);

/* Same layout as tokenizer/chat.h's (shared guard), so a request's
 * messages go straight to ttc_chat_format. */
#ifndef TTC_CHAT_MSG_DEFINED
#define TTC_CHAT_MSG_DEFINED
typedef struct ttc_chat_msg {
    char *role;     /* "system", "developer", "user", "assistant" or "tool" */
    char *content;  /* text parts joined; never NULL */
} ttc_chat_msg;
#endif

/* A validated request. Strings are owned (freed by ttc_api_req_free). */
typedef struct ttc_api_req {
    ttc_api_kind kind;
    char         *model;          /* as sent, or the served model when absent */
    ttc_chat_msg *messages;       /* chat only */
    int           n_messages;
    char         *prompt;         /* completions only */
    int           max_tokens;
    bool          has_max_tokens; /* the request set max_tokens */
    float         temperature;    /* [0, 2]; 0 = greedy */
    bool          has_temperature;/* the request set temperature (else 1) */
    float         top_p;          /* (0, 1] */
    uint64_t      seed;
    bool          has_seed;
    char         *stop[TTC_API_MAX_STOP];
    int           n_stop;
    int           n;              /* choices to return */
    bool          stream;
    bool          include_usage;  /* stream_options.include_usage */
    bool          echo;           /* completions: prepend the prompt */
    bool          include_stop;   /* vLLM's include_stop_str_in_output */
    bool          logprobs;       /* report per-token logprobs */
    int           top_logprobs;   /* alternatives per token, 0..20 */
    /* the "ttc" extension (or the server's defaults) */
    ttc_strategy_id strategy;
    int           budget;         /* generations the strategy may spend */
    int           beam_width;     /* 0 = strategy default */
    int           lookahead;      /* 0 = strategy default */
    float         revise_temperature; /* revisions 2.. of a chain, 0..2 */
    bool          has_revise_temperature; /* else: 0 (greedy) for "revise",
                                             the policy's under "auto" */
    bool          has_ttc;        /* the request carried a "ttc" object */
} ttc_api_req;

/* Bounds the validator enforces; zero fields fall back to the defaults in
 * ttc_api_limits_default. */
typedef struct ttc_api_limits {
    int  max_tokens;        /* upper bound for max_tokens */
    int  default_max_tokens;/* used when the request has none (chat) */
    int  max_n;
    int  max_budget;
    size_t max_prompt_bytes;/* prompt / all message contents together */
    const char *model_id;   /* served model; NULL accepts any name */
    ttc_strategy_id default_strategy;
    int  default_budget;
} ttc_api_limits;

/* Why a request was refused, in OpenAI's terms. */
typedef struct ttc_api_fault {
    int         status;     /* HTTP status */
    const char *type;       /* static: "invalid_request_error", ... */
    const char *code;       /* static or NULL */
    char        param[64];  /* offending field ("messages[1].content") or "" */
} ttc_api_fault;

/* Fills l with the defaults (max_tokens 4096, n 16, budget 256, prompt 1 MiB). */
void ttc_api_limits_default(ttc_api_limits *l);

/* Parses and validates a request body of len bytes (need not be
 * NUL-terminated) for the given endpoint kind against lim. On success fills
 * *out (free with ttc_api_req_free) and returns TTC_OK. On failure returns
 * TTC_EFORMAT (not JSON / not UTF-8), TTC_EINVAL (wrong type or value) or
 * TTC_ENOTFOUND (unknown model), sets *f and says in e which field and why;
 * *out is left zeroed. Never reads past len. */
int ttc_api_req_parse(const char *body, size_t len, ttc_api_kind kind, const ttc_api_limits *lim,
                      ttc_api_req *out, ttc_api_fault *f, ttc_err *e);

/* Frees what ttc_api_req_parse allocated and zeroes *r. NULL-safe. */
void ttc_api_req_free(ttc_api_req *r);

/* Applies the request's sampling and "ttc" settings to search parameters the
 * caller has set up for the chosen method (its defaults, or a policy's):
 * beam width, lookahead, temperature and top_p, max_tokens, and the revision
 * temperature (greedy for an explicit "revise" unless the request says;
 * under "auto" it is left to the policy). The seed is the caller's. */
void ttc_api_req_search_params(const ttc_api_req *r, ttc_search_params *p);

/* Sets *f to status/type/code with an empty param; returns f. */
ttc_api_fault *ttc_api_fault_set(ttc_api_fault *f, int status, const char *type, const char *code);

/* The error body {"error": {...}} as a fresh NUL-terminated string (caller
 * frees), or NULL when out of memory. param "" is written as null. */
char *ttc_api_error_json(const ttc_api_fault *f, const char *message);

/* One generated choice as the server reports it. */
typedef struct ttc_api_choice {
    const char *text;          /* NUL-terminated */
    size_t      len;
    const char *finish_reason; /* "stop", "length", or NULL while running */
    /* optional per-token logprobs (NULL when not requested) */
    int          n_tokens;
    const char **token_text;   /* n_tokens strings */
    const float *token_logprob;
    int          top_k;        /* alternatives per token (0: none) */
    const char **top_text;     /* n_tokens * top_k, row-major */
    const float *top_logprob;
} ttc_api_choice;

/* Usage and test-time-compute accounting for one request. */
typedef struct ttc_api_usage {
    int64_t prompt_tokens, completion_tokens;
    int64_t generations, ttc_tokens, verifier_tokens;
    const char *strategy_used; /* NULL: omit the "ttc" object */
} ttc_api_usage;

/* The full (non-streaming) response body; caller frees; NULL on OOM. */
char *ttc_api_response_json(ttc_api_kind kind, const char *id, int64_t created, const char *model,
                            const ttc_api_choice *choices, int n_choices, const ttc_api_usage *u);

/* One server-sent event "data: {chunk}\n\n" carrying a text delta for one
 * choice (first: also send the assistant role), or its finish_reason when
 * finish is not NULL, or (choice < 0) the closing usage chunk. lp (may be
 * NULL) holds the logprobs of the tokens this chunk reports (its token
 * fields only), in the layout of a full response: chat {"content": [...]},
 * completions {"tokens", "token_logprobs", "top_logprobs", "text_offset"}
 * with offsets from the start of the choice's text at text_offset0.
 * Caller frees; NULL on OOM. */
char *ttc_api_chunk_sse(ttc_api_kind kind, const char *id, int64_t created, const char *model,
                        int choice, bool first, const char *delta, size_t delta_len,
                        const char *finish, const ttc_api_usage *u, const ttc_api_choice *lp,
                        size_t text_offset0);

/* ---- POST /pooling (vLLM's pooling API, for reward models) ----
 *
 * Request: {"model"?: string, "input": string | [string, ...],
 * "encoding_format"?: "float", "task"?: "reward" | "token_classify" |
 * "encode"}. Other vLLM fields (truncate_prompt_tokens, dimensions,
 * messages, ...) are refused with a 400 naming them, rather than ignored.
 * Response: {"id", "object": "list", "created", "model", "data": [{"index":
 * i, "object": "pooling", "data": [[p_bad, p_good], ...]}], "usage":
 * {"prompt_tokens", "total_tokens", "completion_tokens": 0}}: STEP pooling,
 * one row per step tag of the input (see serve/sched_ver.h). */

#define TTC_API_MAX_POOL_INPUTS 64

typedef struct ttc_api_pool_req {
    char  *model;            /* as sent, or the served model */
    char **inputs;           /* owned, NUL-terminated */
    size_t *lens;
    int    n_inputs;
} ttc_api_pool_req;

/* Parses and validates a /pooling body (len bytes) against lim (model id,
 * max_prompt_bytes per input). Errors as ttc_api_req_parse. */
int  ttc_api_pool_parse(const char *body, size_t len, const ttc_api_limits *lim, ttc_api_pool_req *out,
                        ttc_api_fault *f, ttc_err *e);
/* NULL-safe; zeroes *r. */
void ttc_api_pool_req_free(ttc_api_pool_req *r);
/* The response body: rows[i] holds n_rows[i] pairs for input i. Caller
 * frees; NULL on OOM. */
char *ttc_api_pool_json(const char *id, int64_t created, const char *model, const float *const *rows,
                        const int *n_rows, int n_inputs, int64_t prompt_tokens);

/* GET /v1/models body for one model id; caller frees. */
char *ttc_api_models_json(const char *model_id, int64_t created);
#endif
