/* The training loop and checkpoints (see trainer.h). */
#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

ttc_train_opts ttc_train_opts_default(void) {
    ttc_train_opts o = {
        .task = TTC_TASK_SFT, .batch = 8, .seq = 0, .accum = 1, .steps = 1000, .warmup = 100,
        .lr = 1e-3f, .min_lr_frac = 0.1f, .weight_decay = 0.1f, .grad_clip = 1.0f,
        .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .seed = 1, .ckpt_every = 100,
        .tok_good = -1, .tok_bad = -1,
    };
    return o;
}

int ttc_train_check_memory(const ttc_tconfig *c, const ttc_train_opts *o, size_t max_bytes,
                           ttc_err *e) {
    int rc = ttc_tconfig_check(c, e);
    if (rc) return rc;
    int T = o->seq > 0 ? o->seq : c->ctx;
    if (o->batch < 1 || o->accum < 1 || T > c->ctx)
        return ttc_err_set(e, TTC_EINVAL, "train: batch %d, accum %d, seq %d invalid (ctx %d)",
                           o->batch, o->accum, T, c->ctx);
    if (max_bytes == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        max_bytes = pages > 0 && psz > 0 ? (size_t)((double)pages * (double)psz * 0.8) : SIZE_MAX;
    }
    /* in double: absurd configs must not wrap around */
    double P = (double)c->vocab * c->dim * 2 + (double)c->n_layer *
               (4.0 * c->dim * c->dim + 3.0 * c->dim * c->ff);
    double att = (double)(c->n_layer + 1) * o->batch * c->n_head * (double)T * T;
    double act = (double)c->n_layer * o->batch * T * (8.0 * c->dim + 3.0 * c->ff) + att +
                 2.0 * o->batch * T * (double)c->vocab;
    double need = 4.0 * (4.0 * P + act);
    if (need > (double)max_bytes)
        return ttc_err_set(e, TTC_ENOMEM,
                           "train: config needs ~%.0f MB (%.1f M params x 16 bytes, %.0f MB of "
                           "activations for batch %d x %d) but the limit is %.0f MB; reduce "
                           "--batch, --ctx, --dim or --layers",
                           need / 1048576.0, P / 1e6, 4.0 * act / 1048576.0, o->batch, T,
                           (double)max_bytes / 1048576.0);
    return TTC_OK;
}

/* ---------------------------------------------------------- checkpoints */

int ttc_ckpt_save(const char *path, const ttc_tmodel *m, const ttc_train_opts *o,
                  const ttc_train_state *st, uint64_t data_hash, ttc_err *e) {
    ttc_ckpt_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, "TTCCKPT1", 8);
    h.version = 1;
    h.task = (uint32_t)o->task;
    h.config = m->c;
    h.batch = o->batch; h.seq = o->seq; h.accum = o->accum; h.steps = o->steps;
    h.warmup = o->warmup; h.ckpt_every = o->ckpt_every;
    h.lr = o->lr; h.min_lr_frac = o->min_lr_frac; h.weight_decay = o->weight_decay;
    h.grad_clip = o->grad_clip; h.beta1 = o->beta1; h.beta2 = o->beta2; h.eps = o->eps;
    h.tok_good = o->tok_good; h.tok_bad = o->tok_bad;
    h.seed = o->seed; h.data_hash = data_hash; h.n_params = m->n_params;
    h.step = st->step; h.epoch = st->cur.epoch; h.index = st->cur.index;
    ttc_atomic a;
    int rc = ttc_atomic_open(path, &a, e);
    if (rc) return rc;
    bool ok = fwrite(&h, sizeof h, 1, a.f) == 1;
    const float *bufs[3] = {m->params, m->m, m->v};
    for (int i = 0; i < 3 && ok; i++) {
        if (bufs[i]) ok = fwrite(bufs[i], sizeof(float), m->n_params, a.f) == m->n_params;
        else for (size_t j = 0; j < m->n_params && ok; j++) { float z = 0; ok = fwrite(&z, 4, 1, a.f) == 1; }
    }
    return ttc_atomic_commit(&a, path, ok ? TTC_OK : TTC_EIO, e);
}

int ttc_ckpt_load(const char *path, ttc_tmodel *m, ttc_train_opts *o, ttc_train_state *st,
                  uint64_t *data_hash, ttc_err *e) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) return ttc_err_set(e, errno == ENOENT ? TTC_ENOTFOUND : TTC_EIO,
                               "%s: cannot open: %s", path, strerror(errno));
    ttc_ckpt_header h;
    int rc = TTC_OK;
    if (fread(&h, sizeof h, 1, f) != 1) rc = ttc_err_set(e, TTC_EFORMAT, "%s: truncated header", path);
    else if (memcmp(h.magic, "TTCCKPT1", 8)) rc = ttc_err_set(e, TTC_EFORMAT, "%s: offset 0: not a ttc checkpoint (bad magic)", path);
    else if (h.version != 1) rc = ttc_err_set(e, TTC_EUNSUPPORTED, "%s: offset 8: version %u not supported", path, h.version);
    else if (h.task > TTC_TASK_ORM) rc = ttc_err_set(e, TTC_EFORMAT, "%s: offset 12: bad task %u", path, h.task);
    if (!rc && (rc = ttc_tmodel_new(&h.config, m, e))) ttc_err_wrap(e, "%s: ", path);
    if (!rc && m->n_params != h.n_params)
        rc = ttc_err_set(e, TTC_EFORMAT, "%s: n_params %llu does not match the config (%zu)",
                         path, (unsigned long long)h.n_params, m->n_params);
    if (!rc) rc = ttc_tmodel_alloc_optim(m, e);
    float *bufs[3] = {m->params, m->m, m->v};
    for (int i = 0; i < 3 && !rc; i++)
        if (fread(bufs[i], sizeof(float), m->n_params, f) != m->n_params)
            rc = ttc_err_set(e, TTC_EFORMAT, "%s: truncated (tensor data %d of 3)", path, i + 1);
    if (!rc && fgetc(f) != EOF) rc = ttc_err_set(e, TTC_EFORMAT, "%s: trailing bytes after the data", path);
    fclose(f);
    if (rc) { ttc_tmodel_free(m); return rc; }
    o->task = (ttc_task)h.task;
    o->batch = h.batch; o->seq = h.seq; o->accum = h.accum; o->steps = h.steps;
    o->warmup = h.warmup; o->ckpt_every = h.ckpt_every;
    o->lr = h.lr; o->min_lr_frac = h.min_lr_frac; o->weight_decay = h.weight_decay;
    o->grad_clip = h.grad_clip; o->beta1 = h.beta1; o->beta2 = h.beta2; o->eps = h.eps;
    o->tok_good = h.tok_good; o->tok_bad = h.tok_bad; o->seed = h.seed;
    o->stop_at = 0;
    st->step = h.step;
    st->cur.epoch = h.epoch;
    st->cur.index = h.index;
    if (data_hash) *data_hash = h.data_hash;
    return TTC_OK;
}

/* ------------------------------------------------------------ the loop */

int ttc_train_eval(ttc_tmodel *m, ttc_tdata *d, ttc_pool *p, int B, int T, int32_t tok_good,
                   int32_t tok_bad, double *loss, double *acc, ttc_err *e) {
    ttc_tbatch b;
    int rc = ttc_tmodel_alloc_acts(m, B, T, e);
    if (!rc) rc = ttc_tbatch_alloc(&b, B, T, e);
    if (rc) return rc;
    double sum = 0;
    long n = 0, correct = 0;
    int64_t index = 0;
    while (!rc && ttc_tdata_next_once(d, &index, &b) > 0) {
        rc = ttc_tmodel_forward(m, p, &b, e);
        if (rc) break;
        ttc_tstats s = ttc_tmodel_loss(m, p, &b, d->task, 1.0f, tok_good, tok_bad, false);
        sum += s.loss;
        n += s.n_tokens;
        correct += s.n_correct;
    }
    ttc_tbatch_free(&b);
    if (rc) return rc;
    *loss = n ? sum / (double)n : 0.0;
    *acc = d->task == TTC_TASK_SFT ? -1.0 : n ? (double)correct / (double)n : 0.0;
    return TTC_OK;
}

int ttc_train_run(ttc_tmodel *m, ttc_tdata *d, ttc_pool *p, const ttc_train_opts *o,
                  ttc_train_state *st, ttc_err *e) {
    int T = o->seq > 0 ? o->seq : m->c.ctx, B = o->batch, A = o->accum;
    if (d->task != o->task)
        return ttc_err_set(e, TTC_EINVAL, "train: data was loaded for another task");
    if (o->task != TTC_TASK_SFT &&
        (o->tok_good < 0 || o->tok_bad < 0 || o->tok_good >= m->c.vocab || o->tok_bad >= m->c.vocab))
        return ttc_err_set(e, TTC_EINVAL, "train: prm/orm needs the ids of '+' and '-'");
    for (size_t i = 0; i < d->n_tokens; i++)
        if (d->ids[i] < 0 || d->ids[i] >= m->c.vocab)
            return ttc_err_set(e, TTC_EINVAL, "train: data token %d out of the model's vocab %d",
                               d->ids[i], m->c.vocab);
    int rc = ttc_tmodel_alloc_optim(m, e);
    if (!rc) rc = ttc_tmodel_alloc_acts(m, B, T, e);
    if (rc) return rc;
    ttc_tbatch *mb = calloc((size_t)A, sizeof *mb);
    if (!mb) return ttc_err_set(e, TTC_ENOMEM, "train: out of memory");
    for (int a = 0; a < A && !rc; a++) rc = ttc_tbatch_alloc(&mb[a], B, T, e);
    ttc_adamw opt = {o->lr, o->beta1, o->beta2, o->eps, o->weight_decay};
    double flops_tok = 3.0 * ttc_tconfig_flops_per_token(&m->c, T);
    double t_start = ttc_now();
    int64_t end = o->stop_at > 0 && o->stop_at < o->steps ? o->stop_at : o->steps;
    while (!rc && st->step < end) {
        double t0 = ttc_now();
        /* gather the step's micro-batches first, so the loss can be the mean
         * over every supervised token of the step */
        ttc_train_state next = *st;
        long n_sup = 0;
        for (int a = 0; a < A; a++) {
            ttc_tdata_next(d, o->seed, &next.cur, &mb[a]);
            for (int n = 0; n < B * T; n++)
                n_sup += o->task == TTC_TASK_SFT ? mb[a].w[n] > 0 : mb[a].label[n] >= 0;
        }
        float scale = n_sup > 0 ? 1.0f / (float)n_sup : 0.0f;
        ttc_tmodel_zero_grad(m);
        double loss = 0;
        long correct = 0;
        for (int a = 0; a < A && !rc; a++) {
            rc = ttc_tmodel_forward(m, p, &mb[a], e);
            if (rc) break;
            ttc_tstats s = ttc_tmodel_loss(m, p, &mb[a], o->task, scale, o->tok_good, o->tok_bad, true);
            loss += s.loss;
            correct += s.n_correct;
            ttc_tmodel_backward(m, p, &mb[a]);
        }
        if (rc) break;
        double gn = ttc_tmodel_grad_norm(m);
        if (!isfinite(loss) || !isfinite(gn)) {
            rc = ttc_err_set(e, TTC_ENUMERIC,
                             "train: step %lld: loss %g, gradient norm %g: not finite; stopped "
                             "without saving (the last checkpoint%s%s is intact); lower --lr",
                             (long long)st->step + 1, loss, gn, o->checkpoint ? " " : "",
                             o->checkpoint ? o->checkpoint : "");
            break;
        }
        float clip = o->grad_clip > 0 && gn > o->grad_clip ? (float)(o->grad_clip / gn) : 1.0f;
        float lr = ttc_lr_schedule(o->lr, st->step, o->warmup, o->steps, o->min_lr_frac);
        ttc_tmodel_adamw(m, p, &opt, lr, st->step + 1, clip);
        *st = next;
        st->step++;
        bool ck = o->checkpoint && ((o->ckpt_every > 0 && st->step % o->ckpt_every == 0) ||
                                    st->step == end);
        if (ck && (rc = ttc_ckpt_save(o->checkpoint, m, o, st, d->hash, e))) break;
        if (o->on_log) {
            double dt = ttc_now() - t0, toks = (double)A * B * T;
            ttc_train_log l = {
                .step = st->step, .steps = o->steps, .lr = lr, .loss = loss, .grad_norm = gn,
                .acc = o->task == TTC_TASK_SFT ? -1.0 : (n_sup ? (double)correct / n_sup : 0),
                .tok_per_s = toks / dt, .gflops = toks * flops_tok / dt / 1e9,
                .elapsed = ttc_now() - t_start, .checkpointed = ck,
            };
            o->on_log(o->ud, &l);
        }
    }
    for (int a = 0; a < A; a++) ttc_tbatch_free(&mb[a]);
    free(mb);
    return rc;
}
