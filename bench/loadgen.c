/* loadgen: closed-loop HTTP load generator for ttc serve (libcurl multi).
 *
 *   loadgen --url http://127.0.0.1:8080/v1/completions --clients 32 --seconds 60
 *           [--body JSON] [--max-requests N]
 *
 * Keeps `clients` requests in flight (one per simulated client, each sending
 * its next request as soon as the previous answer arrives) until `seconds`
 * have passed, then waits for the ones in flight. Reports one line of JSON:
 * requests, requests/s, completion tokens/s (from "usage"), latency p50 /
 * p90 / p99 / max in ms, and failures by reason (HTTP status or curl error).
 * Only loopback URLs are accepted. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct client {
    CURL  *c;
    char  *buf;
    size_t len, cap;
    double t0;
} client;

static size_t on_data(char *p, size_t sz, size_t nm, void *ud) {
    client *c = ud;
    size_t n = sz * nm;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8192;
        while (cap < c->len + n + 1) cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b) return 0;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    c->buf[c->len] = 0;
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct reason { char name[64]; long count; } reason;

static void count_reason(reason *r, int *n, const char *name) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(r[i].name, name)) { r[i].count++; return; }
    if (*n < 32) { snprintf(r[*n].name, sizeof r[*n].name, "%s", name); r[(*n)++].count = 1; }
}

int main(int argc, char **argv) {
    const char *url = NULL, *body = "{\"prompt\":\"Problem: What is 2+3?\\nSolution:\\n\",\"max_tokens\":32}";
    int clients = 16;
    double seconds = 10;
    long max_requests = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: loadgen --url URL [--clients N] [--seconds S] [--body JSON] [--max-requests N]\n");
            return 0;
        }
        if (i + 1 >= argc) { fprintf(stderr, "loadgen: %s needs a value\n", argv[i]); return 2; }
        const char *v = argv[++i];
        if (!strcmp(argv[i - 1], "--url")) url = v;
        else if (!strcmp(argv[i - 1], "--clients")) clients = atoi(v);
        else if (!strcmp(argv[i - 1], "--seconds")) seconds = atof(v);
        else if (!strcmp(argv[i - 1], "--body")) body = v;
        else if (!strcmp(argv[i - 1], "--max-requests")) max_requests = atol(v);
        else { fprintf(stderr, "loadgen: unknown option %s\n", argv[i - 1]); return 2; }
    }
    if (!url || clients < 1 || clients > 1024 || seconds <= 0) {
        fprintf(stderr, "loadgen: need --url, 1 <= --clients <= 1024, --seconds > 0\n");
        return 2;
    }
    if (strncmp(url, "http://127.", 11) && strncmp(url, "http://localhost", 16) && strncmp(url, "http://[::1]", 12)) {
        fprintf(stderr, "loadgen: only loopback targets are allowed\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)clients);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    client *cs = calloc((size_t)clients, sizeof *cs);
    size_t lat_cap = 1 << 16, n_lat = 0;
    double *lat = malloc(lat_cap * sizeof *lat);
    reason reasons[32];
    int n_reasons = 0;
    long requests = 0, ok = 0, failed = 0, tokens = 0;
    double t_start = now(), t_end = t_start + seconds;
    for (int i = 0; i < clients; i++) {
        cs[i].c = curl_easy_init();
        curl_easy_setopt(cs[i].c, CURLOPT_URL, url);
        curl_easy_setopt(cs[i].c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(cs[i].c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cs[i].c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(cs[i].c, CURLOPT_WRITEDATA, &cs[i]);
        curl_easy_setopt(cs[i].c, CURLOPT_PRIVATE, &cs[i]);
        curl_easy_setopt(cs[i].c, CURLOPT_TIMEOUT, 600L);
        cs[i].t0 = now();
        curl_multi_add_handle(m, cs[i].c);
        requests++;
    }
    int running = clients;
    while (running > 0) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            client *c;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            double dt = now() - c->t0;
            long status = 0;
            curl_easy_getinfo(c->c, CURLINFO_RESPONSE_CODE, &status);
            char why[64];
            if (msg->data.result != CURLE_OK) {
                snprintf(why, sizeof why, "curl: %s", curl_easy_strerror(msg->data.result));
                count_reason(reasons, &n_reasons, why);
                failed++;
            } else if (status != 200) {
                snprintf(why, sizeof why, "http %ld", status);
                count_reason(reasons, &n_reasons, why);
                failed++;
            } else {
                ok++;
                json_t *j = json_loadb(c->buf ? c->buf : "", c->len, 0, NULL);
                tokens += (long)json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens"));
                json_decref(j);
                if (n_lat == lat_cap) lat = realloc(lat, (lat_cap *= 2) * sizeof *lat);
                lat[n_lat++] = dt;
            }
            curl_multi_remove_handle(m, c->c);
            c->len = 0;
            if (now() < t_end && (!max_requests || requests < max_requests)) {
                c->t0 = now();
                curl_multi_add_handle(m, c->c);
                requests++;
                running++;
            }
        }
        if (running > 0) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double wall = now() - t_start;
    qsort(lat, n_lat, sizeof *lat, cmp_double);
#define PCT(p) (n_lat ? 1000 * lat[(size_t)((double)(n_lat - 1) * (p))] : 0.0)
    printf("{\"clients\":%d,\"seconds\":%.1f,\"requests\":%ld,\"ok\":%ld,\"failed\":%ld,\"requests_per_s\":%.2f,"
           "\"completion_tokens_per_s\":%.1f,\"p50_ms\":%.1f,\"p90_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,"
           "\"failures\":{",
           clients, wall, requests, ok, failed, (double)ok / wall, (double)tokens / wall, PCT(0.5), PCT(0.9), PCT(0.99),
           PCT(1.0));
    for (int i = 0; i < n_reasons; i++) printf("%s\"%s\":%ld", i ? "," : "", reasons[i].name, reasons[i].count);
    printf("}}\n");
    for (int i = 0; i < clients; i++) { curl_easy_cleanup(cs[i].c); free(cs[i].buf); }
    free(cs);
    free(lat);
    curl_slist_free_all(hdr);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return 0;
}
