/* ttc_exp_run: the sweep behind the compute-optimal experiment. See
 * experiment.h for the phases and the record format. */
#include "optimal/experiment.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/jsonl.h"
#include "base/util.h"
#include "data/dataset.h"
#include "optimal/policy.h"
#include "search/answer.h"
#include "search/strategy.h"

int ttc_exp_preset(ttc_exp_config *c, const char *name, ttc_err *e) {
    static const int b_tiny[] = {1, 2, 4}, b_demo[] = {1, 2, 4, 8, 16},
                     b_paper[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    const int *b;
    int nb;
    if (!strcmp(name, "tiny")) {
        b = b_tiny; nb = 3;
        c->limit = 4; c->samples = 4; c->revise_chains = 2; c->revise_len = 2;
    } else if (!strcmp(name, "demo")) {
        b = b_demo; nb = 5;
        c->limit = 250; c->samples = 16; c->revise_chains = 4; c->revise_len = 8;
    } else if (!strcmp(name, "paper")) {
        b = b_paper; nb = 9;
        c->limit = 0; c->samples = 256; c->revise_chains = 16; c->revise_len = 16;
    } else {
        return ttc_err_set(e, TTC_EINVAL, "unknown preset '%s' (presets: tiny, demo, paper)", name);
    }
    memcpy(c->budgets, b, sizeof(int) * nb);
    c->n_budgets = nb;
    c->search_mask = (1u << TTC_EXP_N_SEARCH) - 1;
    c->temperature = 0.8f;
    c->revise_temperature = 0; /* greedy revisions: the bundled revision model's operating point */
    c->revise_context = TTC_REVISE_MAX_CONTEXT; /* the paper's 4 */
    c->max_solution_tokens = 256;
    if (!c->n_shards) c->n_shards = 1;
    return TTC_OK;
}

/* FNV-1a, for per-problem seeds. */
static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t mix3(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ull) ^ (c * 0xc2b2ae3d27d4eb4full);
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33;
    return x;
}

static void phase_key(char *buf, size_t cap, const char *uid, const char *phase, const char *method, int budget) {
    snprintf(buf, cap, "%s\t%s\t%s\t%d", uid, phase, method ? method : "", budget);
}

/* ttc_jsonl_resume callback: remembers the phase of each record on file. */
static int note_done(void *ud, json_t *r, int line, ttc_err *e) {
    const char *uid = json_string_value(json_object_get(r, "uid"));
    const char *phase = json_string_value(json_object_get(r, "phase"));
    if (!uid || !phase)
        return ttc_err_set(e, TTC_EFORMAT, "records.jsonl:%d: not an experiment record (remove the file to start over)", line);
    char key[512];
    phase_key(key, sizeof key, uid, phase, json_string_value(json_object_get(r, "method")),
              (int)json_integer_value(json_object_get(r, "budget")));
    return ttc_strset_add(ud, key) ? ttc_err_set(e, TTC_ENOMEM, "records.jsonl: out of memory") : TTC_OK;
}

static json_t *cost_json(const ttc_budget *b) {
    json_t *c = json_object();
    json_object_set_new(c, "generations", json_real(b->generations));
    json_object_set_new(c, "tokens_generated", json_integer(b->tokens_generated));
    json_object_set_new(c, "tokens_prefill", json_integer(b->tokens_prefill));
    json_object_set_new(c, "tokens_scored", json_integer(b->tokens_scored));
    json_object_set_new(c, "flops_generator", json_real(b->flops_generator));
    json_object_set_new(c, "flops_verifier", json_real(b->flops_verifier));
    json_object_set_new(c, "wall_seconds", json_real(b->wall_seconds));
    return c;
}

static json_t *record_base(const ttc_example *x, const char *phase) {
    json_t *r = json_object();
    json_object_set_new(r, "uid", json_string(x->unique_id));
    json_object_set_new(r, "level", json_integer(x->level));
    json_object_set_new(r, "phase", json_string(phase));
    return r;
}

/* keys / correct / scores arrays of candidates, in the given order. */
static void put_cands(json_t *r, const ttc_search_result *res, const int *order, int n, const char *reference) {
    json_t *k = json_array(), *c = json_array(), *s = json_array(), *t = json_array(), *a = json_array();
    for (int i = 0; i < n; i++) {
        const ttc_candidate *cd = order[i] >= 0 ? &res->cands[order[i]] : NULL;
        json_array_append_new(k, json_string(cd ? cd->key : ""));
        json_array_append_new(a, json_string(cd ? cd->answer : ""));
        json_array_append_new(c, json_boolean(cd && cd->answer[0] && ttc_search_answer_correct(cd->answer, reference)));
        json_array_append_new(s, cd && !isnan(cd->score) ? json_real(cd->score) : json_null());
        json_array_append_new(t, json_integer(cd ? cd->n_tokens : 0));
    }
    json_object_set_new(r, "n", json_integer(n));
    json_object_set_new(r, "answers", a);
    json_object_set_new(r, "keys", k);
    json_object_set_new(r, "correct", c);
    json_object_set_new(r, "scores", s);
    json_object_set_new(r, "tokens", t);
}

/* Search parameters for tree-search method i at generation budget B;
 * false when the method cannot run at that budget (lookahead below k+1). */
static bool search_params(int i, int B, const ttc_exp_config *c, uint64_t seed, ttc_search_params *p) {
    if (ttc_exp_method_params(ttc_exp_search_name(i), B, c->temperature, seed, p, NULL) != TTC_OK) return false;
    p->max_solution_tokens = c->max_solution_tokens;
    return true;
}

/* What a run is: its settings and models (meta.json). */
static json_t *meta_json(const ttc_exp_config *c, const ttc_exp_models *m) {
    json_t *j = json_object(), *b = json_array();
    for (int i = 0; i < c->n_budgets; i++) json_array_append_new(b, json_integer(c->budgets[i]));
    json_object_set_new(j, "budgets", b);
    json_object_set_new(j, "samples", json_integer(c->samples));
    json_object_set_new(j, "data", json_string(c->data));
    json_object_set_new(j, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(j, "temperature", json_real(c->temperature));
    json_object_set_new(j, "revise_chains", json_integer(c->revise_chains));
    json_object_set_new(j, "revise_len", json_integer(c->revise_len));
    if (c->revise_temperature >= 0) json_object_set_new(j, "revise_temperature", json_real(c->revise_temperature));
    /* only when not the default, so runs from before the setting still resume */
    if (c->revise_context != TTC_REVISE_MAX_CONTEXT) json_object_set_new(j, "revise_context", json_integer(c->revise_context));
    json_object_set_new(j, "generator", json_string(m->gen->info.name));
    json_object_set_new(j, "gen_params", json_integer(m->gen->info.n_params));
    json_object_set_new(j, "prm", json_string(m->prm->info.name));
    json_object_set_new(j, "prm_params", json_integer(m->prm->info.n_params));
    json_object_set_new(j, "gen_train_tokens", json_real(m->gen_train_tokens));
    if (m->large) {
        json_object_set_new(j, "large", json_string(m->large->info.name));
        json_object_set_new(j, "large_params", json_integer(m->large->info.n_params));
        json_object_set_new(j, "large_train_tokens", json_real(m->large_train_tokens));
    }
    if (m->rev) json_object_set_new(j, "revision_model", json_string(m->rev->info.name));
    if (m->orm) json_object_set_new(j, "orm", json_string(m->orm->info.name));
    if (m->fingerprint) json_object_set_new(j, "fingerprint", json_string(m->fingerprint));
    return j;
}

/* Refuses to resume records made with other settings or models: the first
 * field of the new meta j whose value differs from out_dir/meta.json. */
static int meta_check(const ttc_exp_config *c, json_t *j, ttc_err *e) {
    char path[1024];
    snprintf(path, sizeof path, "%s/meta.json", c->out_dir);
    json_t *old = json_load_file(path, 0, NULL);
    if (!old) return TTC_OK;   /* none yet (or torn): nothing to compare */
    static const char *const keys[] = {"budgets", "samples", "data", "seed", "temperature", "revise_chains",
                                       "revise_len", "revise_temperature", "revise_context", "generator", "gen_params", "prm",
                                       "prm_params", "large", "large_params", "revision_model", "orm",
                                       "fingerprint"};
    int rc = TTC_OK;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !rc; k++) {
        json_t *a = json_object_get(old, keys[k]), *b = json_object_get(j, keys[k]);
        if (!a && !b) continue;
        if (a && b && json_equal(a, b)) continue;
        char *sa = a ? json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        char *sb = b ? json_dumps(b, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        rc = ttc_err_set(e, TTC_EINVAL, "experiment: %s holds records of another run (meta.json field \"%s\": %.200s, "
                         "now %.200s); choose another output folder or delete it", c->out_dir, keys[k],
                         sa ? sa : "absent", sb ? sb : "absent");
        free(sa);
        free(sb);
    }
    json_decref(old);
    return rc;
}

static int write_meta(const ttc_exp_config *c, json_t *j, ttc_err *e) {
    char path[1024];
    snprintf(path, sizeof path, "%s/meta.json", c->out_dir);
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    int rc = s ? ttc_write_file(path, s, strlen(s), e) : ttc_err_set(e, TTC_ENOMEM, "meta: out of memory");
    free(s);
    return rc;
}

/* The problems of a run, as indices into ds: levels in level_mask; under a
 * limit, the first problems of each level in file order with an equal quota
 * per level (a benchmark sorted by level would otherwise give only the
 * easiest); then every n_shards-th for this shard. Returns the count. */
static int select_problems(const ttc_dataset *ds, const ttc_exp_config *c, int *sel) {
    int per[34] = {0}, n_levels = 0, kept = 0, n = 0;
    for (int i = 0; i < ds->n; i++) {
        int L = TTC_MIN(TTC_MAX(ds->items[i].level, 0), 33);
        if (c->level_mask && (L < 1 || L > 32 || !(c->level_mask >> (L - 1) & 1))) continue;
        n_levels += per[L]++ == 0;
    }
    int quota = c->limit && n_levels ? (c->limit + n_levels - 1) / n_levels : ds->n;
    memset(per, 0, sizeof per);
    for (int i = 0; i < ds->n && (!c->limit || kept < c->limit); i++) {
        int L = TTC_MIN(TTC_MAX(ds->items[i].level, 0), 33);
        if (c->level_mask && (L < 1 || L > 32 || !(c->level_mask >> (L - 1) & 1))) continue;
        if (per[L] >= quota) continue;
        per[L]++;
        if (kept++ % c->n_shards == c->shard) sel[n++] = i;
    }
    return n;
}

int ttc_exp_run(const ttc_exp_config *c, const ttc_exp_models *m, ttc_err *e) {
    if (!m->gen || !m->prm) return ttc_err_set(e, TTC_EINVAL, "experiment: a generator and a PRM are required");
    if (c->n_budgets < 1) return ttc_err_set(e, TTC_EINVAL, "experiment: no budgets");
    int maxb = c->budgets[c->n_budgets - 1];
    if (c->samples < maxb)
        return ttc_err_set(e, TTC_EINVAL, "experiment: samples (%d) must be at least the largest budget (%d)", c->samples, maxb);
    if (c->n_shards < 1 || c->shard < 0 || c->shard >= c->n_shards)
        return ttc_err_set(e, TTC_EINVAL, "experiment: shard %d/%d out of range", c->shard, c->n_shards);
    if (c->revise_context < 1 || c->revise_context > TTC_REVISE_MAX_CONTEXT)
        return ttc_err_set(e, TTC_EINVAL, "experiment: revise_context %d out of range 1..%d", c->revise_context,
                           TTC_REVISE_MAX_CONTEXT);
    ttc_dataset ds = {0};
    int rc = ttc_mkdir_p(c->out_dir, e);
    if (!rc) rc = ttc_dataset_load(c->data, &ds, e);
    if (rc) return rc;
    int *sel = malloc(sizeof(int) * (ds.n ? ds.n : 1));
    if (!sel) { ttc_dataset_free(&ds); return ttc_err_set(e, TTC_ENOMEM, "experiment: out of memory"); }
    int n = select_problems(&ds, c, sel);
    char path[1024];
    snprintf(path, sizeof path, "%s/records.jsonl", c->out_dir);
    ttc_strset done = {0};
    FILE *out = NULL;
    if ((rc = ttc_jsonl_resume(path, note_done, &done, e))) goto end;
    json_t *meta = meta_json(c, m);
    if (!meta) rc = ttc_err_set(e, TTC_ENOMEM, "experiment: out of memory");
    if (!rc && done.n > 0) rc = meta_check(c, meta, e);
    if (!rc) rc = write_meta(c, meta, e);
    json_decref(meta);
    if (rc) goto end;
    out = fopen(path, "a");
    if (!out) { rc = ttc_err_set(e, TTC_EIO, "%s: cannot append: %s", path, strerror(errno)); goto end; }

    /* work units: one per generation of budget */
    double per_problem = c->samples + (m->large ? 1 : 0) + (m->rev && m->orm ? c->revise_chains * c->revise_len : 0);
    for (int i = 0; i < TTC_EXP_N_SEARCH; i++)
        if (c->search_mask >> i & 1)
            for (int b = 0; b < c->n_budgets; b++) per_problem += c->budgets[b];
    double total = per_problem * n, doneu = 0;
    char key[512], label[160];
    for (int pi = 0; pi < n && rc == TTC_OK; pi++) {
        const ttc_example *x = &ds.items[sel[pi]];
        uint64_t ps = mix3(c->seed, hash_str(x->unique_id), 0);
        ttc_search_result res;
        /* 1. parallel samples, scored by the PRM */
        phase_key(key, sizeof key, x->unique_id, "samples", NULL, 0);
        if (!ttc_strset_has(&done, key)) {
            snprintf(label, sizeof label, "%s: %d samples", x->unique_id, c->samples);
            if (c->progress) c->progress(c->progress_ud, label, doneu, total);
            ttc_search_params p;
            ttc_search_params_default(&p, TTC_SEARCH_BON_WEIGHTED, c->samples);
            p.temperature = c->temperature;
            p.max_solution_tokens = c->max_solution_tokens;
            p.seed = ps;
            if ((rc = ttc_search_run(&p, m->gen, m->prm, x->problem, &res, e))) break;
            int *order = malloc(sizeof(int) * res.n_cands);
            for (int i = 0; order && i < res.n_cands; i++) order[i] = i;
            json_t *r = record_base(x, "samples");
            json_object_set_new(r, "reference", json_string(x->answer));
            put_cands(r, &res, order, order ? res.n_cands : 0, x->answer);
            json_object_set_new(r, "cost", cost_json(&res.budget));
            free(order);
            ttc_search_result_free(&res);
            if ((rc = ttc_jsonl_append(out, r, path, e))) break;
        }
        doneu += c->samples;
        /* 2. tree searches at every budget */
        for (int mi = 0; mi < TTC_EXP_N_SEARCH && rc == TTC_OK; mi++) {
            if (!(c->search_mask >> mi & 1)) continue;
            for (int b = 0; b < c->n_budgets && rc == TTC_OK; b++) {
                int B = c->budgets[b];
                phase_key(key, sizeof key, x->unique_id, "search", ttc_exp_search_name(mi), B);
                ttc_search_params p;
                if (!ttc_strset_has(&done, key) && search_params(mi, B, c, mix3(ps, mi + 1, B), &p)) {
                    snprintf(label, sizeof label, "%s: %s @%d", x->unique_id, ttc_exp_search_name(mi), B);
                    if (c->progress) c->progress(c->progress_ud, label, doneu, total);
                    if ((rc = ttc_search_run(&p, m->gen, m->prm, x->problem, &res, e))) break;
                    json_t *r = record_base(x, "search");
                    json_object_set_new(r, "method", json_string(ttc_exp_search_name(mi)));
                    json_object_set_new(r, "budget", json_integer(B));
                    json_object_set_new(r, "n", json_integer(p.n));
                    json_object_set_new(r, "beam_width", json_integer(p.beam_width));
                    json_object_set_new(r, "answer", json_string(res.answer));
                    json_object_set_new(r, "correct", json_boolean(res.answer[0] && ttc_search_answer_correct(res.answer, x->answer)));
                    json_object_set_new(r, "cost", cost_json(&res.budget));
                    ttc_search_result_free(&res);
                    if ((rc = ttc_jsonl_append(out, r, path, e))) break;
                }
                doneu += B;
                if (c->cancel && *c->cancel) rc = ttc_err_set(e, TTC_ECANCELED, "experiment: interrupted (resume with the same command)");
            }
        }
        if (rc) break;
        /* 3. revision chains scored by the ORM */
        phase_key(key, sizeof key, x->unique_id, "revisions", NULL, 0);
        if (m->rev && m->orm && c->revise_chains > 0 && !ttc_strset_has(&done, key)) {
            snprintf(label, sizeof label, "%s: revisions %dx%d", x->unique_id, c->revise_chains, c->revise_len);
            if (c->progress) c->progress(c->progress_ud, label, doneu, total);
            ttc_search_params p;
            ttc_search_params_default(&p, TTC_SEARCH_REVISE, c->revise_chains * c->revise_len);
            p.revise_len = c->revise_len;
            p.temperature = c->temperature;
            p.revise_temperature = c->revise_temperature;
            p.revise_context = c->revise_context;
            p.max_solution_tokens = c->max_solution_tokens;
            p.seed = mix3(ps, 77, 0);
            if ((rc = ttc_search_run(&p, m->rev, m->orm, x->problem, &res, e))) break;
            int cells = c->revise_chains * c->revise_len, *order = malloc(sizeof(int) * cells);
            for (int i = 0; order && i < cells; i++) order[i] = -1;
            for (int i = 0; order && i < res.n_cands; i++) {
                const ttc_candidate *cd = &res.cands[i];
                if (cd->group >= 0 && cd->group < c->revise_chains && cd->index >= 0 && cd->index < c->revise_len)
                    order[cd->group * c->revise_len + cd->index] = i;
            }
            json_t *r = record_base(x, "revisions");
            json_object_set_new(r, "reference", json_string(x->answer));
            json_object_set_new(r, "chains", json_integer(c->revise_chains));
            json_object_set_new(r, "len", json_integer(c->revise_len));
            put_cands(r, &res, order, order ? cells : 0, x->answer);
            json_object_set_new(r, "cost", cost_json(&res.budget));
            free(order);
            ttc_search_result_free(&res);
            if ((rc = ttc_jsonl_append(out, r, path, e))) break;
        }
        if (m->rev && m->orm) doneu += c->revise_chains * c->revise_len;
        /* 4. the larger generator, greedy */
        phase_key(key, sizeof key, x->unique_id, "large", NULL, 0);
        if (m->large && !ttc_strset_has(&done, key)) {
            ttc_search_params p;
            ttc_search_params_default(&p, TTC_SEARCH_MAJORITY, 1);
            p.temperature = 0;
            p.max_solution_tokens = c->max_solution_tokens;
            if ((rc = ttc_search_run(&p, m->large, NULL, x->problem, &res, e))) break;
            json_t *r = record_base(x, "large");
            json_object_set_new(r, "answer", json_string(res.answer));
            json_object_set_new(r, "correct", json_boolean(res.answer[0] && ttc_search_answer_correct(res.answer, x->answer)));
            json_object_set_new(r, "cost", cost_json(&res.budget));
            ttc_search_result_free(&res);
            if ((rc = ttc_jsonl_append(out, r, path, e))) break;
        }
        if (m->large) doneu += 1;
        if (c->progress) c->progress(c->progress_ud, x->unique_id, doneu, total);
    }
end:
    if (out) fclose(out);
    ttc_strset_free(&done);
    free(sel);
    ttc_dataset_free(&ds);
    return rc;
}
