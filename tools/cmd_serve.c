/* ttc serve: the OpenAI-compatible HTTP server with test-time compute. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve/local.h"
#include "serve/remote.h"
#include "serve/server.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: ttc serve -m MODEL.gguf [options]\n"
        "Serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models,\n"
        "GET /health and GET /metrics until interrupted (SIGINT / SIGTERM); with --prm\n"
        "also POST /pooling (vLLM's pooling API: per-step [p_bad, p_good] verifier scores).\n"
        "Requests may add \"ttc\": {\"strategy\": S, \"budget\": B, \"beam_width\": M, \"lookahead\": K,\n"
        "\"revise_temperature\": T} with S one of auto, bon-weighted, majority, beam, lookahead,\n"
        "dvts, revise (revisions decode greedily unless T is given).\n"
        "  -m, --model PATH          generator GGUF (llama, qwen2, qwen3)\n"
        "  --prm PATH                verifier GGUF (process reward model)\n"
        "  --orm                     the verifier is an outcome reward model\n"
        "  --revision-model PATH     revision model (GGUF): \"revise\" requests, and the revision\n"
        "                            methods a --policy chooses, run their chains on it;\n"
        "                            with --backend, openai:URL (the engine's first model)\n"
        "  --revision-orm PATH       the outcome verifier of its attempts (needed with it);\n"
        "                            with --backend, openai:[pooling+]URL as --verifier-backend\n"
        "  --backend openai:URL      generate on a remote OpenAI-compatible engine instead of -m\n"
        "  --verifier-backend openai:URL  score on a remote engine instead of --prm, reading\n"
        "                            p(+)/p(-) from /v1/completions logprobs; openai:pooling+URL\n"
        "                            reads them from the engine's POST /pooling (vLLM reward models)\n"
        "  --model-id NAME           name reported by /v1/models (default: file name)\n"
        "  --host ADDR               IPv4 address to bind (default 127.0.0.1)\n"
        "  --port N                  TCP port (default 8080; 0 = any free port)\n"
        "  --api-key KEY             require 'Authorization: Bearer KEY' on /v1/*\n"
        "  --policy FILE             compute-optimal policy for strategy \"auto\" (JSON)\n"
        "  --default-strategy S      strategy for requests without \"ttc\" (default none)\n"
        "  --default-budget B        budget for requests without \"ttc\" (default 1)\n"
        "  --max-body BYTES          largest request body (default 1048576)\n"
        "  --max-tokens N            largest max_tokens (default 4096)\n"
        "  --max-n N                 largest n (default 16)\n"
        "  --max-budget B            largest ttc budget (default 256)\n"
        "  --queue N                 requests waiting beyond the running ones (default 64)\n"
        "  --parallel N              requests running at once (default 16)\n"
        "  --timeout S               idle connection timeout in seconds (default 60)\n"
        "  -t, --threads T           compute threads (default: one per CPU)\n"
        "  -c, --ctx N               tokens per sequence (default min(model, 4096))\n"
        "  --kv-tokens N             KV cache positions per model, shared by every running\n"
        "                            request (default 8 x ctx; raise it for large budgets\n"
        "                            or --parallel, or requests fail with 503 overloaded)\n");
}

int cmd_serve(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *model = NULL, *prm = NULL, *backend = NULL, *vbackend = NULL, *policy = NULL;
    const char *model_id = NULL, *dstrat = NULL, *rev = NULL, *rev_orm = NULL;
    bool orm = false;
    long port = 8080, dbudget = 1, max_body = 1 << 20, max_tokens = 4096, max_n = 16, max_budget = 256;
    long queue = 64, parallel = 16, timeout = 60, threads = 0, ctx = 0, kv_tokens = 0;
    ttc_server_opts so = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--orm")) { orm = true; continue; }
        if (i + 1 >= argc) return cli_bad_args("serve", "%s needs a value (or is unknown)", a);
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--prm")) prm = v;
        else if (!strcmp(a, "--revision-model")) rev = v;
        else if (!strcmp(a, "--revision-orm")) rev_orm = v;
        else if (!strcmp(a, "--backend")) backend = v;
        else if (!strcmp(a, "--verifier-backend")) vbackend = v;
        else if (!strcmp(a, "--model-id")) model_id = v;
        else if (!strcmp(a, "--host")) so.host = v;
        else if (!strcmp(a, "--port")) ok = cli_parse_int(v, 0, 65535, &port);
        else if (!strcmp(a, "--api-key")) so.api_key = v;
        else if (!strcmp(a, "--policy")) policy = v;
        else if (!strcmp(a, "--default-strategy")) dstrat = v;
        else if (!strcmp(a, "--default-budget")) ok = cli_parse_int(v, 1, 1 << 20, &dbudget);
        else if (!strcmp(a, "--max-body")) ok = cli_parse_int(v, 64, 1L << 30, &max_body);
        else if (!strcmp(a, "--max-tokens")) ok = cli_parse_int(v, 1, 1 << 20, &max_tokens);
        else if (!strcmp(a, "--max-n")) ok = cli_parse_int(v, 1, 1024, &max_n);
        else if (!strcmp(a, "--max-budget")) ok = cli_parse_int(v, 1, 1 << 16, &max_budget);
        else if (!strcmp(a, "--queue")) ok = cli_parse_int(v, 0, 1 << 16, &queue);
        else if (!strcmp(a, "--parallel")) ok = cli_parse_int(v, 1, 1024, &parallel);
        else if (!strcmp(a, "--timeout")) ok = cli_parse_int(v, 1, 86400, &timeout);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_int(v, 0, 256, &threads);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) ok = cli_parse_int(v, 0, 1 << 20, &ctx);
        else if (!strcmp(a, "--kv-tokens")) ok = cli_parse_int(v, 16, 1L << 26, &kv_tokens);
        else return cli_bad_args("serve", "unknown option %s", a);
        if (!ok) return cli_bad_args("serve", "bad value '%s' for %s", v, a);
    }
    if (!model && !backend) return cli_bad_args("serve", "a model is required (-m MODEL.gguf or --backend openai:URL)");
    if (model && backend) return cli_bad_args("serve", "-m and --backend exclude each other");
    if (prm && vbackend) return cli_bad_args("serve", "--prm and --verifier-backend exclude each other");
    if (!rev != !rev_orm) return cli_bad_args("serve", "--revision-model and --revision-orm go together");
    bool rev_remote = ttc_remote_spec(rev), orm_remote = ttc_remote_spec(rev_orm);
    if (rev && (rev_remote != !!backend || orm_remote != !!backend))
        return cli_bad_args("serve", backend ? "with --backend, --revision-model and --revision-orm are openai:URL"
                                             : "with -m, --revision-model and --revision-orm are GGUF files");
    if (backend && strncmp(backend, "openai:", 7)) return cli_bad_args("serve", "--backend must be openai:URL");
    if (vbackend && strncmp(vbackend, "openai:", 7))
        return cli_bad_args("serve", "--verifier-backend must be openai:URL");
    ttc_err e = {0};
    ttc_api_limits_default(&so.limits);
    if (dstrat && ttc_strategy_parse(dstrat, &so.limits.default_strategy, &e))
        return cli_bad_args("serve", "--default-strategy: %s", e.msg);
    if (dbudget > max_budget) return cli_bad_args("serve", "--default-budget %ld exceeds --max-budget %ld", dbudget, max_budget);
    so.limits.default_budget = (int)dbudget;
    so.limits.max_tokens = (int)max_tokens;
    so.limits.max_n = (int)max_n;
    so.limits.max_budget = (int)max_budget;
    so.limits.default_max_tokens = (int)(max_tokens < 256 ? max_tokens : 256);
    so.port = (int)port;
    so.max_body = (size_t)max_body;
    so.queue = queue ? (int)queue : -1;
    so.parallel = (int)parallel;
    so.timeout_s = (int)timeout;

    /* block the signals before any thread starts, so sigwait gets them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    ttc_local *local = NULL;
    ttc_remote *remote = NULL;
    ttc_serve_backend be;
    int rc;
    if (model) {
        ttc_local_opts lo = {.model_path = model, .prm_path = prm, .orm = orm, .threads = (int)threads,
                             .n_ctx = (int)ctx, .kv_tokens = (size_t)kv_tokens, .n_seq_max = 0, .model_id = model_id, .policy_path = policy,
                             .revision_path = rev, .orm_path = rev_orm};
        if ((rc = ttc_local_new(&lo, &local, &e))) return cli_fail("serve", &e);
        if (vbackend && (rc = ttc_local_set_remote_verifier(local, vbackend + 7, orm, &e))) {
            ttc_local_free(local);
            return cli_fail("serve", &e);
        }
        be = ttc_local_backend(local);
    } else {
        ttc_remote_opts ro = {.url = backend + 7, .model = model_id};
        if ((rc = ttc_remote_new(&ro, &remote, &e))) return cli_fail("serve", &e);
        if ((vbackend && (rc = ttc_remote_set_verifier(remote, vbackend + 7, orm, &e))) ||
            (rev && (rc = ttc_remote_set_revision(remote, rev + 7, NULL, rev_orm + 7, &e))) ||
            (policy && (rc = ttc_remote_load_policy(remote, policy, &e)))) {
            ttc_remote_free(remote);
            return cli_fail("serve", &e);
        }
        be = ttc_remote_backend(remote);
    }
    ttc_server *srv;
    if ((rc = ttc_server_start(&so, &be, &srv, &e))) {
        ttc_local_free(local);
        ttc_remote_free(remote);
        return cli_fail("serve", &e);
    }
    fprintf(stderr, "ttc serve: listening on http://%s:%d (model %s)\n", so.host ? so.host : "127.0.0.1",
            ttc_server_port(srv), be.model_id);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "ttc serve: %s, shutting down\n", sig == SIGINT ? "interrupted" : "terminated");
    ttc_server_stop(srv);
    ttc_local_free(local);
    ttc_remote_free(remote);
    return 0;
}
