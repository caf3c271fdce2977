/* Training datasets and the deterministic packer (see tdata.h). */
#include "train/tdata.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "data/prompt.h"
#include "train/prm.h"

/* Growable token/supervision arrays. */
typedef struct {
    int32_t *ids;
    float   *sup;
    size_t   n, cap;
    size_t  *start;
    int      n_ex, cap_ex;
} builder;

static int b_reserve(builder *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t nc = (b->n + extra) * 2;
    int32_t *i = realloc(b->ids, nc * sizeof *i);
    if (!i) return -1;
    b->ids = i;
    float *s = realloc(b->sup, nc * sizeof *s);
    if (!s) return -1;
    b->sup = s;
    b->cap = nc;
    return 0;
}

static int b_push(builder *b, const int32_t *ids, int n, float sup) {
    if (b_reserve(b, (size_t)n)) return -1;
    for (int i = 0; i < n; i++) { b->ids[b->n] = ids[i]; b->sup[b->n++] = sup; }
    return 0;
}

static int b_end_example(builder *b) {
    if (b->n_ex + 2 > b->cap_ex) {
        int nc = (b->n_ex + 2) * 2;
        size_t *s = realloc(b->start, (size_t)nc * sizeof *s);
        if (!s) return -1;
        b->start = s;
        b->cap_ex = nc;
    }
    if (b->n_ex == 0) b->start[0] = 0;
    b->start[++b->n_ex] = b->n;
    return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) { h ^= c[i]; h *= 0x100000001b3ULL; }
    return h;
}

static void finish(ttc_tdata *d) {
    d->n_tokens = d->start[d->n_ex];
    d->n_supervised = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < d->n_tokens; i++) {
        d->n_supervised += d->task == TTC_TASK_SFT ? d->sup[i] > 0 : d->sup[i] >= 0;
        h = fnv(h, &d->ids[i], sizeof d->ids[i]);
        h = fnv(h, &d->sup[i], sizeof d->sup[i]);
    }
    d->hash = h;
    d->perm = NULL;
    d->perm_epoch = -1;
    d->perm_seed = 0;
}

/* A string field of obj, or NULL. */
static const char *str_field(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Tokenizes text and appends it with supervision value sup. */
static int push_text(builder *b, const ttc_tokenizer *tok, const char *text, bool bos, float sup,
                     ttc_err *e) {
    int32_t *t = NULL;
    int n = 0;
    int rc = ttc_tokenize_alloc(tok, text, strlen(text), bos, false, &t, &n, e);
    if (rc) return rc;
    rc = b_push(b, t, n, sup) ? ttc_err_set(e, TTC_ENOMEM, "out of memory") : TTC_OK;
    free(t);
    return rc;
}

static int parse_sft(builder *b, json_t *o, const ttc_tokenizer *tok, ttc_err *e) {
    const char *prompt = str_field(o, "prompt"), *comp = str_field(o, "completion");
    char *owned = NULL;
    if (!prompt || !comp) {
        const char *prob = str_field(o, "problem"), *sol = str_field(o, "solution");
        if (!prob || !sol)
            return ttc_err_set(e, TTC_EFORMAT, "need string fields prompt+completion or "
                                               "problem+solution");
        owned = ttc_prompt_solve(prob);
        if (!owned) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
        prompt = owned;
        comp = sol;
    }
    int32_t eos = ttc_tokenizer_eos(tok);
    int rc = eos < 0 ? ttc_err_set(e, TTC_EINVAL, "vocabulary has no EOS token") : TTC_OK;
    if (!rc) rc = push_text(b, tok, prompt, ttc_tokenizer_add_bos(tok), 0.0f, e);
    if (!rc) rc = push_text(b, tok, comp, false, 1.0f, e);
    if (!rc && b_push(b, &eos, 1, 1.0f)) rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
    free(owned);
    return rc;
}

static int parse_prm(builder *b, json_t *o, ttc_task task, const ttc_tokenizer *tok,
                     int32_t tag, ttc_err *e) {
    const char *prompt = str_field(o, "prompt");
    char *owned = NULL;
    if (!prompt) {
        const char *prob = str_field(o, "problem");
        if (!prob) return ttc_err_set(e, TTC_EFORMAT, "need a string field problem or prompt");
        owned = ttc_prompt_solve(prob);
        if (!owned) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
        prompt = owned;
    }
    json_t *steps = json_object_get(o, "steps"), *labels = json_object_get(o, "labels");
    int rc = TTC_OK;
    if (!json_is_array(steps) || !json_is_array(labels) || json_array_size(steps) == 0 ||
        json_array_size(steps) != json_array_size(labels))
        rc = ttc_err_set(e, TTC_EFORMAT, "need non-empty arrays steps and labels of equal length");
    if (!rc) rc = push_text(b, tok, prompt, ttc_tokenizer_add_bos(tok), -1.0f, e);
    size_t ns = rc ? 0 : json_array_size(steps);
    for (size_t k = 0; !rc && k < ns; k++) {
        json_t *s = json_array_get(steps, k), *l = json_array_get(labels, k);
        if (!json_is_string(s)) { rc = ttc_err_set(e, TTC_EFORMAT, "steps[%zu] is not a string", k); break; }
        double y = -1.0;
        if (json_is_number(l)) y = json_number_value(l);
        else if (!json_is_null(l)) { rc = ttc_err_set(e, TTC_EFORMAT, "labels[%zu] is not a number or null", k); break; }
        if (y > 1.0) { rc = ttc_err_set(e, TTC_EFORMAT, "labels[%zu] = %g is above 1", k, y); break; }
        if (task == TTC_TASK_ORM && k + 1 < ns) y = -1.0;
        rc = push_text(b, tok, json_string_value(s), false, -1.0f, e);
        if (!rc && b_push(b, &tag, 1, y < 0 ? -1.0f : (float)y))
            rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
    }
    free(owned);
    return rc;
}

/* Calls fn on every JSON object line of path (blank lines skipped); errors
 * from parsing or from fn are prefixed with "path:line: ". */
typedef int (*line_fn)(void *ud, json_t *o, ttc_err *e);
static int jsonl_each(const char *path, line_fn fn, void *ud, ttc_err *e) {
    char *text;
    size_t len;
    int rc = ttc_read_file(path, &text, &len, e);
    if (rc) return rc;
    long line = 0;
    for (char *p = text; !rc && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        char *q = p;
        line++;
        p += ll + 1;
        size_t k = 0;
        while (k < ll && (q[k] == ' ' || q[k] == '\t' || q[k] == '\r')) k++;
        if (k == ll) continue;
        json_error_t je;
        json_t *o = json_loadb(q, ll, 0, &je);
        if (!o || !json_is_object(o))
            rc = ttc_err_set(e, TTC_EFORMAT, "%s:%ld: not a JSON object%s%s", path, line,
                             o ? "" : ": ", o ? "" : je.text);
        else if ((rc = fn(ud, o, e)))
            ttc_err_wrap(e, "%s:%ld: ", path, line);
        json_decref(o);
    }
    free(text);
    return rc;
}

typedef struct {
    builder *b;
    ttc_task task;
    const ttc_tokenizer *tok;
    int32_t tag;
} load_ctx;

static int load_line(void *ud, json_t *o, ttc_err *e) {
    load_ctx *c = ud;
    size_t before = c->b->n;
    int rc = c->task == TTC_TASK_SFT ? parse_sft(c->b, o, c->tok, e)
                                     : parse_prm(c->b, o, c->task, c->tok, c->tag, e);
    if (rc) return rc;
    if (c->b->n - before < 2) return ttc_err_set(e, TTC_EFORMAT, "example has fewer than 2 tokens");
    return b_end_example(c->b) ? ttc_err_set(e, TTC_ENOMEM, "out of memory") : TTC_OK;
}

int ttc_tdata_load(const char *path, ttc_task task, const ttc_tokenizer *tok, ttc_tdata *d,
                   ttc_err *e) {
    memset(d, 0, sizeof *d);
    int32_t tag = -1;
    if (task != TTC_TASK_SFT && ttc_prm_tokens(tok, &tag, NULL, NULL, e))
        return ttc_err_wrap(e, "%s: ", path);
    builder b = {0};
    load_ctx c = {&b, task, tok, tag};
    int rc = jsonl_each(path, load_line, &c, e);
    if (!rc && b.n_ex == 0) rc = ttc_err_set(e, TTC_EFORMAT, "%s: no examples", path);
    if (rc) { free(b.ids); free(b.sup); free(b.start); return rc; }
    d->task = task;
    d->n_ex = b.n_ex;
    d->start = b.start;
    d->ids = b.ids;
    d->sup = b.sup;
    int32_t eos = ttc_tokenizer_eos(tok);
    d->pad = eos >= 0 ? eos : 0;
    finish(d);
    return TTC_OK;
}

typedef struct { char **texts; int n, cap; } texts_ctx;

/* Appends s to a growable string (*buf of length *n). */
static int cat(char **buf, size_t *n, const char *s) {
    size_t l = strlen(s);
    char *g = realloc(*buf, *n + l + 1);
    if (!g) return -1;
    memcpy(g + *n, s, l + 1);
    *buf = g;
    *n += l;
    return 0;
}

static int text_line(void *ud, json_t *o, ttc_err *e) {
    texts_ctx *c = ud;
    char *t = NULL;
    size_t n = 0;
    int bad = 0;
    const char *prompt = str_field(o, "prompt"), *prob = str_field(o, "problem");
    if (prompt) bad |= cat(&t, &n, prompt);
    else if (prob) {
        char *p = ttc_prompt_solve(prob);
        bad |= !p || cat(&t, &n, p);
        free(p);
    }
    const char *fields[2] = {"completion", "solution"};
    for (int i = 0; i < 2; i++)
        if (str_field(o, fields[i])) bad |= cat(&t, &n, str_field(o, fields[i]));
    json_t *steps = json_object_get(o, "steps");
    for (size_t k = 0; json_is_array(steps) && k < json_array_size(steps); k++)
        if (json_is_string(json_array_get(steps, k)))
            bad |= cat(&t, &n, json_string_value(json_array_get(steps, k)));
    if (!bad && !t) return ttc_err_set(e, TTC_EFORMAT, "no text fields (prompt, problem, "
                                                      "completion, solution, steps)");
    if (!bad && c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 1024;
        char **g = realloc(c->texts, (size_t)nc * sizeof *g);
        if (g) { c->texts = g; c->cap = nc; } else bad = 1;
    }
    if (bad) { free(t); return ttc_err_set(e, TTC_ENOMEM, "out of memory"); }
    c->texts[c->n++] = t;
    return TTC_OK;
}

int ttc_tdata_texts(const char *path, char ***texts, int *n, ttc_err *e) {
    texts_ctx c = {0};
    int rc = jsonl_each(path, text_line, &c, e);
    if (!rc && c.n == 0) rc = ttc_err_set(e, TTC_EFORMAT, "%s: no examples", path);
    if (rc) { ttc_tdata_texts_free(c.texts, c.n); c.texts = NULL; c.n = 0; }
    *texts = c.texts;
    *n = c.n;
    return rc;
}

void ttc_tdata_texts_free(char **texts, int n) {
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
}

int ttc_tdata_from_arrays(ttc_task task, const int32_t *ids, const float *sup,
                          const size_t *start, int n_ex, int32_t pad, ttc_tdata *d, ttc_err *e) {
    memset(d, 0, sizeof *d);
    if (n_ex < 1 || start[0] != 0)
        return ttc_err_set(e, TTC_EINVAL, "dataset: need >= 1 example starting at 0");
    for (int k = 0; k < n_ex; k++)
        if (start[k + 1] < start[k] + 2)
            return ttc_err_set(e, TTC_EINVAL, "dataset: example %d has fewer than 2 tokens", k);
    size_t n = start[n_ex];
    d->ids = malloc(n * sizeof *d->ids);
    d->sup = malloc(n * sizeof *d->sup);
    d->start = malloc(((size_t)n_ex + 1) * sizeof *d->start);
    if (!d->ids || !d->sup || !d->start) {
        ttc_tdata_free(d);
        return ttc_err_set(e, TTC_ENOMEM, "dataset: out of memory");
    }
    memcpy(d->ids, ids, n * sizeof *ids);
    memcpy(d->sup, sup, n * sizeof *sup);
    memcpy(d->start, start, ((size_t)n_ex + 1) * sizeof *start);
    d->task = task;
    d->n_ex = n_ex;
    d->pad = pad;
    finish(d);
    return TTC_OK;
}

void ttc_tdata_free(ttc_tdata *d) {
    if (!d) return;
    free(d->ids); free(d->sup); free(d->start); free(d->perm);
    memset(d, 0, sizeof *d);
}

/* The visiting order of an epoch: Fisher-Yates from the (seed, epoch) stream. */
static void ensure_perm(ttc_tdata *d, uint64_t seed, int64_t epoch) {
    if (d->perm && d->perm_epoch == epoch && d->perm_seed == seed) return;
    if (!d->perm) d->perm = malloc((size_t)d->n_ex * sizeof *d->perm);
    if (!d->perm) return;   /* falls back to file order */
    ttc_rng r;
    ttc_rng_split(&r, seed, (uint64_t)epoch);
    for (int i = 0; i < d->n_ex; i++) d->perm[i] = i;
    for (int i = d->n_ex - 1; i > 0; i--) {
        int j = (int)ttc_rng_below(&r, (uint64_t)i + 1);
        int32_t t = d->perm[i]; d->perm[i] = d->perm[j]; d->perm[j] = t;
    }
    d->perm_epoch = epoch;
    d->perm_seed = seed;
}

/* Packs rows from cursor c. once: file order, stop at the end of the data
 * (rows after it are padding); else the (seed, epoch) order, endlessly.
 * Returns the number of examples packed. */
static int pack(ttc_tdata *d, uint64_t seed, ttc_tcursor *c, ttc_tbatch *b, bool once) {
    int T = b->T, packed = 0;
    bool sft = d->task == TTC_TASK_SFT;
    for (int r = 0; r < b->B; r++) {
        size_t row = (size_t)r * T;
        int i = 0;
        while (i < T) {
            if (c->index >= d->n_ex) {
                if (once) break;
                c->epoch++;
                c->index = 0;
            }
            if (!once) ensure_perm(d, seed, c->epoch);
            int ex = !once && d->perm ? d->perm[c->index] : (int)c->index;
            size_t s = d->start[ex];
            int len = (int)TTC_MIN(d->start[ex + 1] - s, (size_t)T);
            if (i > 0 && len > T - i) break;
            for (int j = 0; j < len; j++) {
                size_t n = row + (size_t)(i + j);
                b->tok[n] = d->ids[s + j];
                b->pos[n] = j;
                b->seg[n] = i;
                bool last = j + 1 == len;
                b->tgt[n] = sft && !last ? d->ids[s + j + 1] : d->pad;
                b->w[n] = sft && !last ? d->sup[s + j + 1] : 0.0f;
                b->label[n] = sft ? -1.0f : d->sup[s + j];
            }
            c->index++;
            packed++;
            i += len;
        }
        for (int j = i; j < T; j++) {
            size_t n = row + (size_t)j;
            b->tok[n] = d->pad;
            b->tgt[n] = d->pad;
            b->pos[n] = j - i;
            b->seg[n] = i;
            b->w[n] = 0.0f;
            b->label[n] = -1.0f;
        }
    }
    return packed;
}

void ttc_tdata_next(ttc_tdata *d, uint64_t seed, ttc_tcursor *c, ttc_tbatch *b) {
    pack(d, seed, c, b, false);
}

int ttc_tdata_next_once(ttc_tdata *d, int64_t *index, ttc_tbatch *b) {
    ttc_tcursor c = {0, *index};
    int n = pack(d, 0, &c, b, true);
    *index = c.index;
    return n;
}

int ttc_tbatch_alloc(ttc_tbatch *b, int B, int T, ttc_err *e) {
    memset(b, 0, sizeof *b);
    size_t n = (size_t)B * (size_t)T;
    b->B = B;
    b->T = T;
    b->tok = calloc(n, sizeof *b->tok);
    b->tgt = calloc(n, sizeof *b->tgt);
    b->pos = calloc(n, sizeof *b->pos);
    b->seg = calloc(n, sizeof *b->seg);
    b->w = calloc(n, sizeof *b->w);
    b->label = calloc(n, sizeof *b->label);
    if (!b->tok || !b->tgt || !b->pos || !b->seg || !b->w || !b->label) {
        ttc_tbatch_free(b);
        return ttc_err_set(e, TTC_ENOMEM, "batch %d x %d: out of memory", B, T);
    }
    return TTC_OK;
}

void ttc_tbatch_free(ttc_tbatch *b) {
    if (!b) return;
    free(b->tok); free(b->tgt); free(b->pos); free(b->seg); free(b->w); free(b->label);
    memset(b, 0, sizeof *b);
}
