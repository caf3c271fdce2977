/* Training-data builders for the PRM, the revision model and the ORM. See
 * labels.h. */
#include "family/labels.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonl.h"
#include "base/pool.h"
#include "base/rng.h"
#include "base/util.h"
#include "data/dataset.h"
#include "data/prompt.h"
#include "model/ctx.h"
#include "model/generate.h"
#include "model/model.h"
#include "search/answer.h"
#include "tokenizer/tokenizer.h"

#define MAX_STEPS 16

/* A model with a context sized for one problem's worth of forks. */
typedef struct eng {
    ttc_model *m;
    ttc_pool  *pool;
    ttc_ctx   *ctx;
    const ttc_tokenizer *tok;
} eng;

static void eng_close(eng *g) {
    ttc_ctx_free(g->ctx);
    ttc_pool_free(g->pool);
    ttc_model_free(g->m);
    memset(g, 0, sizeof *g);
}

static int eng_open(eng *g, const char *path, int threads, int n_seq, ttc_err *e) {
    memset(g, 0, sizeof *g);
    int rc = ttc_model_load(path, NULL, &g->m, e);
    if (!rc) rc = ttc_pool_new(threads, &g->pool, e);
    if (!rc) {
        int n_ctx = TTC_MIN(ttc_model_n_ctx_train(g->m), 1024);
        ttc_ctx_params cp = {.n_ctx = n_ctx, .n_seq_max = n_seq, .n_outputs_max = n_seq,
                             .n_batch = TTC_MAX(512, n_seq), .kv_tokens = (size_t)n_seq * 160 + 4096,
                             .pool = g->pool};
        rc = ttc_ctx_new(g->m, &cp, &g->ctx, e);
    }
    if (rc) { eng_close(g); return rc; }
    g->tok = ttc_model_tokenizer(g->m);
    return TTC_OK;
}

/* A new sequence holding text (tokenized with the model's BOS rule). */
static int seq_from_text(eng *g, const char *text, int *seq, ttc_err *e) {
    int32_t *ids = NULL;
    int n = 0;
    int rc = ttc_tokenize_alloc(g->tok, text, strlen(text), ttc_tokenizer_add_bos(g->tok), false, &ids, &n, e);
    if (!rc) rc = ttc_seq_new(g->ctx, seq, e);
    if (!rc) rc = ttc_seq_append_tokens(g->ctx, *seq, ids, n, e);
    free(ids);
    return rc;
}

/* Samples every sequence of seqs to the end of its solution (EOS or
 * max_tokens), each with its own stream of seed. reqs gets the results. */
static int sample_all(eng *g, const int *seqs, int n, int max_tokens, float temp, uint64_t seed,
                      ttc_gen_request *reqs, ttc_err *e) {
    ttc_sample_params sp = {.temperature = temp, .top_k = 0, .top_p = 1.0f, .min_p = 0};
    for (int i = 0; i < n; i++) {
        reqs[i] = ttc_gen_request_make(seqs[i], max_tokens, sp, seed);
        reqs[i].stream = (uint64_t)i;
    }
    return ttc_generate(g->ctx, reqs, n, NULL, e);
}

/* Splits sampled tokens into lines: cut[t] = tokens through the end of line
 * t (its text ends in '\n'; a last line without '\n' ends at the last
 * non-EOS token). Returns the number of lines (<= MAX_STEPS), 0 if more. */
static int split_steps(const ttc_tokenizer *tok, const ttc_gen_request *r, int *cut) {
    int n = r->n_tokens, lines = 0;
    if (r->finish == TTC_FINISH_EOS && n > 0) n--; /* the EOS itself */
    char piece[256];
    int last_nl = 0;
    for (int i = 0; i < n; i++) {
        int len = ttc_token_to_piece(tok, r->tokens[i], piece, sizeof piece);
        if (len > 0 && len < (int)sizeof piece && piece[len - 1] == '\n') {
            if (lines == MAX_STEPS) return 0;
            cut[lines++] = i + 1;
            last_nl = i + 1;
        }
    }
    if (last_nl < n) {
        if (lines == MAX_STEPS) return 0;
        cut[lines++] = n;
    }
    return lines;
}

/* The text of each line of a finished request (splits r->text at '\n',
 * keeping the newline). Returns the count (<= max). */
static int text_lines(const char *text, char lines[][512], int max) {
    int n = 0;
    const char *p = text;
    while (*p && n < max) {
        const char *q = strchr(p, '\n');
        size_t len = q ? (size_t)(q - p + 1) : strlen(p);
        snprintf(lines[n++], 512, "%.*s", (int)TTC_MIN(len, 511), p);
        p += len;
    }
    return n;
}

static bool solved(const char *text, const char *reference) {
    char *ans = NULL, *key = NULL;
    bool ok = ttc_search_answer(text, &ans, &key, NULL) == TTC_OK && ans[0] &&
              ttc_search_answer_correct(ans, reference);
    free(ans);
    free(key);
    return ok;
}

static int note_uid(void *ud, json_t *o, int line, ttc_err *e) {
    const char *uid = json_string_value(json_object_get(o, "uid"));
    if (uid && ttc_strset_add(ud, uid)) return ttc_err_set(e, TTC_ENOMEM, "out of memory");
    return TTC_OK;
}

/* Shared driver: loads the data, resumes the output, calls one(problem) for
 * each problem not yet on file. */
typedef int (*one_fn)(eng *g, const ttc_label_opts *o, const ttc_example *x, uint64_t seed, FILE *out,
                      ttc_err *e);

static int drive(const char *model_path, const ttc_label_opts *o, int n_seq, one_fn one, ttc_err *e) {
    ttc_dataset ds = {0};
    ttc_strset done = {0};
    eng g = {0};
    FILE *out = NULL;
    int rc = ttc_dataset_load(o->data, &ds, e);
    if (!rc) rc = ttc_jsonl_resume(o->out, note_uid, &done, e);
    if (!rc) rc = eng_open(&g, model_path, o->threads, n_seq, e);
    if (!rc && !(out = fopen(o->out, "a"))) rc = ttc_err_set(e, TTC_EIO, "%s: cannot append", o->out);
    int end = o->limit > 0 ? TTC_MIN(ds.n, o->offset + o->limit) : ds.n;
    for (int i = o->offset; !rc && i < end; i++) {
        const ttc_example *x = &ds.items[i];
        if (o->progress) o->progress(o->progress_ud, x->unique_id, i - o->offset, end - o->offset);
        if (ttc_strset_has(&done, x->unique_id)) continue;
        ttc_rng r;
        ttc_rng_split(&r, o->seed, (uint64_t)i);
        rc = one(&g, o, x, ttc_rng_u64(&r), out, e);
        if (rc) ttc_err_wrap(e, "%s: ", x->unique_id);
    }
    if (out) fclose(out);
    eng_close(&g);
    ttc_strset_free(&done);
    ttc_dataset_free(&ds);
    return rc;
}

/* ---- PRM: Monte-Carlo step labels -------------------------------------- */

static int prm_one(eng *g, const ttc_label_opts *o, const ttc_example *x, uint64_t seed, FILE *out, ttc_err *e) {
    int S = o->samples, K = o->rollouts, n_seq = ttc_ctx_n_seq_max(g->ctx);
    char *prompt = ttc_prompt_solve(x->problem);
    int root = -1, rc = prompt ? seq_from_text(g, prompt, &root, e) : ttc_err_set(e, TTC_ENOMEM, "out of memory");
    free(prompt);
    int *seqs = malloc(sizeof(int) * n_seq), *owner = malloc(sizeof(int) * n_seq), *step_of = malloc(sizeof(int) * n_seq);
    ttc_gen_request *sreq = calloc(S, sizeof *sreq), *rreq = calloc(n_seq, sizeof *rreq);
    int (*cuts)[MAX_STEPS] = calloc(S, sizeof *cuts), *n_steps = calloc(S, sizeof(int));
    int n_roll = 0;
    if (!rc && (!seqs || !owner || !step_of || !sreq || !rreq || !cuts || !n_steps)) rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
    /* 1. S solutions */
    for (int s = 0; !rc && s < S; s++) rc = ttc_seq_fork(g->ctx, root, &seqs[s], e);
    if (!rc) rc = sample_all(g, seqs, S, o->max_tokens, o->temperature, seed, sreq, e);
    /* 2. K rollouts after every step but the last of each finished solution:
     * grow a copy of the solution step by step and fork it at each cut. */
    for (int s = 0; !rc && s < S; s++) {
        if (sreq[s].finish != TTC_FINISH_EOS) continue; /* truncated: skip */
        n_steps[s] = split_steps(g->tok, &sreq[s], cuts[s]);
        if (n_steps[s] < 2 || n_roll + (n_steps[s] - 1) * K > n_seq - S - 2) { n_steps[s] = 0; continue; }
        int grow = -1, at = 0;
        rc = ttc_seq_fork(g->ctx, root, &grow, e);
        for (int t = 0; !rc && t < n_steps[s] - 1; t++) {
            rc = ttc_seq_append_tokens(g->ctx, grow, sreq[s].tokens + at, cuts[s][t] - at, e);
            at = cuts[s][t];
            if (!rc) rc = ttc_decode_pending(g->ctx, &grow, 1, true, false, NULL, e);
            for (int k = 0; !rc && k < K; k++) {
                rc = ttc_seq_fork(g->ctx, grow, &seqs[S + n_roll], e);
                owner[n_roll] = s;
                step_of[n_roll] = t;
                n_roll++;
            }
        }
        if (grow >= 0) ttc_seq_free(g->ctx, grow);
    }
    if (!rc && n_roll) rc = sample_all(g, seqs + S, n_roll, o->max_tokens, o->temperature, seed ^ 0xabcdefull, rreq, e);
    /* 3. labels and records */
    for (int s = 0; !rc && s < S; s++) {
        if (!n_steps[s]) continue;
        char lines[MAX_STEPS][512];
        int nl = text_lines(sreq[s].text, lines, MAX_STEPS);
        if (nl != n_steps[s]) continue; /* token and text lines disagree: skip */
        json_t *steps = json_array(), *labels = json_array();
        for (int t = 0; t < nl; t++) {
            json_array_append_new(steps, json_string(lines[t]));
            if (t == nl - 1) {
                json_array_append_new(labels, json_real(solved(sreq[s].text, x->answer) ? 1.0 : 0.0));
                continue;
            }
            int hit = 0, cnt = 0;
            for (int r = 0; r < n_roll; r++) {
                if (owner[r] != s || step_of[r] != t) continue;
                /* the rollout continues the prefix: grade prefix + rollout */
                cnt++;
                size_t pl = 0;
                for (int u = 0; u <= t; u++) pl += strlen(lines[u]);
                char *full = malloc(pl + rreq[r].text_len + 1);
                if (!full) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); break; }
                full[0] = 0;
                for (int u = 0; u <= t; u++) strcat(full, lines[u]);
                strcat(full, rreq[r].text);
                hit += rreq[r].finish == TTC_FINISH_EOS && solved(full, x->answer);
                free(full);
            }
            json_array_append_new(labels, json_real(cnt ? (double)hit / cnt : 0.0));
        }
        json_t *rec = json_pack("{s:s, s:s, s:i, s:o, s:o}", "uid", x->unique_id, "problem", x->problem,
                                "sample", s, "steps", steps, "labels", labels);
        if (!rc) rc = ttc_jsonl_append(out, rec, o->out, e);
        else json_decref(rec);
    }
    for (int i = 0; i < S; i++) { ttc_gen_request_free(&sreq[i]); if (seqs) ttc_seq_free(g->ctx, seqs[i]); }
    for (int i = 0; i < n_roll; i++) { ttc_gen_request_free(&rreq[i]); ttc_seq_free(g->ctx, seqs[S + i]); }
    if (root >= 0) ttc_seq_free(g->ctx, root);
    free(seqs); free(owner); free(step_of); free(sreq); free(rreq); free(cuts); free(n_steps);
    return rc;
}

int ttc_label_prm(const char *model_path, const ttc_label_opts *o, ttc_err *e) {
    if (o->samples < 1 || o->rollouts < 1 || o->samples * (1 + 8 * o->rollouts) > 4096)
        return ttc_err_set(e, TTC_EINVAL, "label prm: samples %d x rollouts %d out of range", o->samples, o->rollouts);
    return drive(model_path, o, 2 + o->samples * (1 + 8 * o->rollouts), prm_one, e);
}

/* ---- revision pairs ---------------------------------------------------- */

int ttc_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    int *row = malloc(sizeof(int) * (lb + 1));
    if (!row) return -1;
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            best = TTC_MIN(best, up + 1);
            best = TTC_MIN(best, row[j - 1] + 1);
            row[j] = best;
            diag = up;
        }
    }
    int d = row[lb];
    free(row);
    return d;
}

static int revision_one(eng *g, const ttc_label_opts *o, const ttc_example *x, uint64_t seed, FILE *out,
                        ttc_err *e) {
    int S = o->samples, root = -1;
    char *prompt = ttc_prompt_solve(x->problem);
    int rc = prompt ? seq_from_text(g, prompt, &root, e) : ttc_err_set(e, TTC_ENOMEM, "out of memory");
    free(prompt);
    int *seqs = calloc(S, sizeof(int)), *bad = calloc(S, sizeof(int)), *good = calloc(S, sizeof(int));
    ttc_gen_request *req = calloc(S, sizeof *req);
    if (!rc && (!seqs || !bad || !good || !req)) rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
    for (int s = 0; !rc && s < S; s++) rc = ttc_seq_fork(g->ctx, root, &seqs[s], e);
    if (!rc) rc = sample_all(g, seqs, S, o->max_tokens, o->temperature, seed, req, e);
    int nb = 0, ng = 0;
    for (int s = 0; !rc && s < S; s++) {
        if (req[s].finish != TTC_FINISH_EOS) continue;
        if (solved(req[s].text, x->answer)) good[ng++] = s;
        else bad[nb++] = s;
    }
    /* o->examples per problem, each by one of three recipes:
     * - paper (the rest): a target correct solution (the model's own when
     *   it has one, else the reference), 0..4 incorrect attempts before it,
     *   the closest to the target by edit distance last;
     * - natural (fraction o->natural): 1..4 of the other sampled attempts as
     *   they came, right or wrong, in random order, then a correct one;
     * - edit (fraction o->edit): 0..4 attempts as sampled; the target is the
     *   most recent right one among them, verbatim ("keep"), else the correct
     *   solution closest to the last attempt by edit distance ("fix"): the
     *   model learns to carry a right answer forward and to change a wrong
     *   one as little as it must. A fraction o->drop_fix of the "fix"
     *   examples is left out: on a benchmark the generator mostly fails,
     *   they would outnumber "keep" ones, and a model that cannot tell right
     *   from wrong then rewrites right answers as often as it fixes wrong
     *   ones. */
    ttc_rng r;
    ttc_rng_seed(&r, seed ^ 0x7e5);
    int n_ex = o->examples > 0 ? o->examples : 2;
    if (o->own_only && ng == 0) n_ex = 0;   /* no target the model could have written */
    for (int ex = 0; !rc && ex < n_ex; ex++) {
        int ti = ng ? good[ttc_rng_below(&r, (uint64_t)ng)] : -1;
        const char *target = ti >= 0 ? req[ti].text : x->solution;
        if (!target || !target[0]) break;
        const char *att[4];
        float u = ttc_rng_float(&r);
        bool edit = u < o->edit, natural = !edit && u < o->edit + o->natural;
        int m = 0;
        if (edit) {
            int pool[64], np = 0;
            for (int s = 0; s < S && np < 64; s++)
                if (req[s].finish == TTC_FINISH_EOS) pool[np++] = s;
            m = (int)ttc_rng_below(&r, (uint64_t)TTC_MIN(4, np) + 1);
            for (int i = 0; i < m; i++) {
                int j = i + (int)ttc_rng_below(&r, (uint64_t)(np - i)), t = pool[i];
                pool[i] = pool[j];
                pool[j] = t;
                att[i] = req[pool[i]].text;
            }
            int keep = -1;
            for (int i = m - 1; i >= 0 && keep < 0; i--)
                if (solved(att[i], x->answer)) keep = i;
            if (keep >= 0) {
                target = att[keep];
            } else if (m > 0) {
                if (o->drop_fix > 0 && ttc_rng_float(&r) < o->drop_fix) continue;
                int best = ng && o->own_only ? -2 : ttc_edit_distance(att[m - 1], x->solution);
                target = x->solution;
                if (best == -2) best = 1 << 30;   /* only the model's own solutions */
                for (int i = 0; i < ng && best >= 0; i++) {
                    int d = ttc_edit_distance(att[m - 1], req[good[i]].text);
                    if (d >= 0 && d < best) { best = d; target = req[good[i]].text; }
                }
                if (best < 0) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); break; }
            }
        }
        if (natural) {
            int pool[64], np = 0;
            for (int s = 0; s < S && np < 64; s++)
                if (s != ti && req[s].finish == TTC_FINISH_EOS) pool[np++] = s;
            natural = np > 0;   /* nothing else finished: the paper's recipe */
            m = np ? 1 + (int)ttc_rng_below(&r, (uint64_t)TTC_MIN(4, np)) : 0;
            for (int i = 0; i < m; i++) {
                int j = i + (int)ttc_rng_below(&r, (uint64_t)(np - i)), t = pool[i];
                pool[i] = pool[j];
                pool[j] = t;
                att[i] = req[pool[i]].text;
            }
        }
        if (!natural && !edit) m = (int)ttc_rng_below(&r, (uint64_t)TTC_MIN(4, nb) + 1);
        if (!natural && !edit && m > 0) {
            int closest = 0, best = -1;
            for (int i = 0; i < nb; i++) {
                int d = ttc_edit_distance(req[bad[i]].text, target);
                if (best < 0 || d < best) { best = d; closest = i; }
            }
            int pool[64], np = 0;
            for (int i = 0; i < nb && np < 64; i++) if (i != closest) pool[np++] = bad[i];
            for (int i = 0; i < m - 1; i++) { /* random others, random order */
                int j = i + (int)ttc_rng_below(&r, (uint64_t)(np - i)), t = pool[i];
                pool[i] = pool[j];
                pool[j] = t;
                att[i] = req[pool[i]].text;
            }
            att[m - 1] = req[bad[closest]].text;
        }
        char *ctx = ttc_prompt_revise(x->problem, att, m);
        if (!ctx) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); break; }
        json_t *rec = json_pack("{s:s, s:i, s:i, s:s, s:b, s:s, s:s}", "uid", x->unique_id, "example", ex,
                                "attempts", m, "recipe", edit ? "edit" : natural ? "natural" : "paper",
                                "natural", natural, "prompt", ctx, "completion", target);
        free(ctx);
        rc = ttc_jsonl_append(out, rec, o->out, e);
    }
    for (int s = 0; s < S; s++) { ttc_gen_request_free(&req[s]); if (seqs) ttc_seq_free(g->ctx, seqs[s]); }
    if (root >= 0) ttc_seq_free(g->ctx, root);
    free(seqs); free(bad); free(good); free(req);
    return rc;
}

/* ---- ORM: graded revision chains --------------------------------------- */

/* Samples C chains of L attempts of a revision model on problem x: attempt
 * t of a chain reads the chain's up to o->context (default 4) previous
 * attempts (the oldest are dropped while the prompt would leave less than
 * max_tokens of context), as the revise strategy does. The first attempt
 * is sampled at o->temperature, the rest at o->revise_temp when it is set.
 * att[c * L + t] gets the text (never NULL on success; the caller frees),
 * kctx[c * L + t] the number of attempts it saw. */
static int sample_chains(eng *g, const ttc_label_opts *o, const ttc_example *x, uint64_t seed, int C, int L,
                         char **att, int *kctx, ttc_err *e) {
    int *seqs = calloc(C, sizeof(int)), rc = TTC_OK;
    ttc_gen_request *req = calloc(C, sizeof *req);
    if (!seqs || !req) rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
    for (int t = 0; !rc && t < L; t++) {
        for (int c = 0; c < C; c++) seqs[c] = -1;
        for (int c = 0; !rc && c < C; c++) {
            bool placed = false;
            for (int k = TTC_MIN(t, o->context > 0 ? TTC_MIN(o->context, 4) : 4); k >= 0 && !rc && !placed; k--) {
                const char *prev[4];
                for (int j = 0; j < k; j++) prev[j] = att[c * L + t - k + j];
                char *p = ttc_prompt_revise(x->problem, prev, k);
                int32_t *ids = NULL;
                int n = 0;
                rc = p ? ttc_tokenize_alloc(g->tok, p, strlen(p), ttc_tokenizer_add_bos(g->tok), false, &ids, &n, e)
                       : ttc_err_set(e, TTC_ENOMEM, "out of memory");
                free(ids);
                if (!rc && (n + o->max_tokens <= ttc_ctx_n_ctx(g->ctx) || k == 0)) {
                    rc = seq_from_text(g, p, &seqs[c], e);
                    kctx[c * L + t] = k;
                    placed = true;
                }
                free(p);
            }
        }
        float temp = t > 0 && o->revise_temp_set ? o->revise_temp : o->temperature;
        if (!rc) rc = sample_all(g, seqs, C, o->max_tokens, temp, seed + (uint64_t)t * 7919, req, e);
        for (int c = 0; c < C; c++) {
            if (!rc && !(att[c * L + t] = strdup(req[c].text ? req[c].text : "")))
                rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
            ttc_gen_request_free(&req[c]);
            if (seqs) ttc_seq_free(g->ctx, seqs[c]);
        }
    }
    free(seqs);
    free(req);
    return rc;
}

/* On-policy keep-or-fix examples: the model (a revision model) runs
 * o->samples chains of o->chain attempts, and an example is made from the
 * context of o->examples random attempts among them, exactly as the model
 * saw it. The target is the most recent right attempt in that context
 * ("keep"), else the correct solution closest to the last attempt by edit
 * distance among every right attempt of the problem's chains and the
 * reference ("fix"; a fraction o->drop_fix is left out), else, with nothing
 * in context, one of the right attempts or the reference. Off-policy data
 * shows the model other models' attempts; these show it its own, so it
 * learns to keep the right answers it would otherwise re-sample and to
 * leave the wrong ones it would otherwise repeat. */
static int revision_chain_one(eng *g, const ttc_label_opts *o, const ttc_example *x, uint64_t seed, FILE *out,
                              ttc_err *e) {
    int C = o->samples, L = o->chain, N = C * L, rc = TTC_OK;
    char **att = calloc((size_t)N, sizeof(char *));
    int *kctx = calloc((size_t)N, sizeof(int)), *good = calloc((size_t)N, sizeof(int)), ng = 0;
    bool *ok = calloc((size_t)N, sizeof(bool));
    if (!att || !kctx || !good || !ok) rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
    if (!rc) rc = sample_chains(g, o, x, seed, C, L, att, kctx, e);
    for (int i = 0; !rc && i < N; i++)
        if ((ok[i] = att[i][0] && solved(att[i], x->answer))) good[ng++] = i;
    ttc_rng r;
    ttc_rng_seed(&r, seed ^ 0x0b0c);
    int n_ex = o->examples > 0 ? o->examples : 2;
    for (int ex = 0; !rc && ex < n_ex; ex++) {
        int i = (int)ttc_rng_below(&r, (uint64_t)N), k = kctx[i];
        const char *prev[4], *target = NULL;
        for (int j = 0; j < k; j++) prev[j] = att[i - k + j];
        for (int j = k - 1; j >= 0 && !target; j--)
            if (ok[i - k + j]) target = prev[j];
        const char *recipe = "keep";
        if (!target && k > 0) {
            if (o->drop_fix > 0 && ttc_rng_float(&r) < o->drop_fix) continue;
            recipe = "fix";
            int best = ttc_edit_distance(prev[k - 1], x->solution);
            target = x->solution;
            for (int j = 0; j < ng && best >= 0; j++) {
                int d = ttc_edit_distance(prev[k - 1], att[good[j]]);
                if (d >= 0 && d < best) { best = d; target = att[good[j]]; }
            }
            if (best < 0) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); break; }
        } else if (!target) {
            recipe = "first";
            target = ng ? att[good[ttc_rng_below(&r, (uint64_t)ng)]] : x->solution;
        }
        char *ctx = ttc_prompt_revise(x->problem, prev, k);
        if (!ctx) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); break; }
        rc = ttc_jsonl_append(out, json_pack("{s:s, s:i, s:i, s:s, s:b, s:s, s:s}", "uid", x->unique_id, "example", ex,
                                             "attempts", k, "recipe", recipe, "natural", false, "prompt", ctx,
                                             "completion", target), o->out, e);
        free(ctx);
    }
    for (int i = 0; att && i < N; i++) free(att[i]);
    free(att); free(kctx); free(good); free(ok);
    return rc;
}

int ttc_label_revision(const char *model_path, const ttc_label_opts *o, ttc_err *e) {
    if (o->samples < 1 || o->samples > 64)
        return ttc_err_set(e, TTC_EINVAL, "label revision: samples %d out of range 1..64", o->samples);
    if (!(o->drop_fix >= 0 && o->drop_fix < 1))
        return ttc_err_set(e, TTC_EINVAL, "label revision: drop-fix %g must lie in [0, 1)", o->drop_fix);
    if (!(o->natural >= 0 && o->edit >= 0 && o->natural + o->edit <= 1))
        return ttc_err_set(e, TTC_EINVAL, "label revision: natural %g + edit %g must lie in 0..1", o->natural,
                           o->edit);
    if (o->on_policy) {
        if (o->chain < 1 || o->chain > 16)
            return ttc_err_set(e, TTC_EINVAL, "label revision: chain length %d out of range 1..16", o->chain);
        return drive(model_path, o, o->samples + 2, revision_chain_one, e);
    }
    return drive(model_path, o, o->samples + 2, revision_one, e);
}

static int orm_one(eng *g, const ttc_label_opts *o, const ttc_example *x, uint64_t seed, FILE *out, ttc_err *e) {
    int C = o->samples, L = o->chain, rc = TTC_OK;
    char **att = calloc((size_t)C * L, sizeof(char *));
    int *kctx = calloc((size_t)C * L, sizeof(int));
    if (!att || !kctx) rc = ttc_err_set(e, TTC_ENOMEM, "out of memory");
    if (!rc) rc = sample_chains(g, o, x, seed, C, L, att, kctx, e);
    for (int i = 0; !rc && i < C * L; i++) {
        char lines[MAX_STEPS][512];
        int nl = text_lines(att[i], lines, MAX_STEPS);
        if (nl == 0) continue;
        /* the attempts the revision model saw, as the ORM will read them */
        const char *prev[4];
        for (int j = 0; j < kctx[i]; j++) prev[j] = att[i - kctx[i] + j];
        char *context = ttc_prompt_revise_context(x->problem, prev, kctx[i]);
        if (!context) { rc = ttc_err_set(e, TTC_ENOMEM, "out of memory"); break; }
        json_t *steps = json_array(), *labels = json_array();
        for (int t = 0; t < nl; t++) {
            json_array_append_new(steps, json_string(lines[t]));
            json_array_append_new(labels, t == nl - 1 ? json_real(solved(att[i], x->answer) ? 1.0 : 0.0) : json_null());
        }
        rc = ttc_jsonl_append(out, json_pack("{s:s, s:i, s:i, s:s, s:o, s:o}", "uid", x->unique_id, "attempt", i,
                                             "context_attempts", kctx[i], "problem", context, "steps", steps,
                                             "labels", labels), o->out, e);
        free(context);
    }
    for (int i = 0; att && i < C * L; i++) free(att[i]);
    free(att); free(kctx);
    return rc;
}

int ttc_label_orm(const char *model_path, const ttc_label_opts *o, ttc_err *e) {
    if (o->samples < 1 || o->samples > 64 || o->chain < 1 || o->chain > 16)
        return ttc_err_set(e, TTC_EINVAL, "label orm: chains %d (1..64) x length %d (1..16) out of range", o->samples, o->chain);
    return drive(model_path, o, o->samples + 2, orm_one, e);
}
