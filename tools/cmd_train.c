/* ttc train: trains a llama-architecture model (generator, PRM, ORM,
 * revision model) on a JSONL file and exports it as GGUF. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "base/pool.h"
#include "base/rng.h"
#include "base/util.h"
#include "gguf/gguf.h"
#include "kernels/quant.h"
#include "tokenizer/tokenizer.h"
#include "train/prm.h"
#include "train/tdata.h"
#include "train/trainer.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: ttc train --task sft|prm|orm --data FILE.jsonl --out MODEL.gguf [options]\n"
        "Trains a llama-architecture model in C and writes it as GGUF.\n"
        "data (one JSON object per line):\n"
        "  sft       {\"prompt\",\"completion\"} or {\"problem\",\"solution\"} (benchmark format;\n"
        "            prompt = \"Problem: ...\\nSolution:\\n\"); loss on the completion + EOS\n"
        "  prm, orm  {\"problem\" or \"prompt\", \"steps\": [...], \"labels\": [p in [0,1] or null]}\n"
        "            a " TTC_PRM_TAG " tag follows every step; score = softmax(l(+), l(-))[0];\n"
        "            orm trains on the last label only\n"
        "model:\n"
        "  --init MODEL.gguf      start from a trained model (its config and tokenizer)\n"
        "  --grow-layers N        with --init: append N layers that start as the identity\n"
        "                         (a verifier reading the model's own predictions)\n"
        "  --vocab FILE.gguf      tokenizer from a GGUF file\n"
        "  --train-tokenizer N    train a byte-level BPE of N tokens on the data (qwen2 pre-tokenizer)\n"
        "  --dim D (256) --layers L (6) --heads H (4) --kv-heads K (=H) --ff F (3*D)\n"
        "  --ctx C (512; with --init the model's own) --tied   tie the output matrix\n"
        "                         to the embedding\n"
        "optimization:\n"
        "  --steps S (1000) --batch B (8) --seq T (=ctx) --accum A (1) --lr LR (1e-3)\n"
        "  --min-lr FRAC (0.1) --warmup W (100) --wd WD (0.1) --clip C (1.0)\n"
        "  --seed S (1) --threads T (all cores) --max-mem MB (80%% of RAM)\n"
        "output:\n"
        "  --type f32|f16|q8_0 (f16)  weight type of the exported matrices (norms stay f32)\n"
        "  --name NAME                general.name\n"
        "  --checkpoint FILE          write a checkpoint every --ckpt-every steps (100) and at the end\n"
        "  --resume                   continue from --checkpoint if it exists (exactly; its\n"
        "                             options win, except --steps, which may extend the run)\n"
        "  --log FILE                 append the progress lines to FILE too\n"
        "  --val FILE                 after training, report the mean loss on FILE (same format)\n"
        "(a finished checkpoint with --resume and the same --steps just re-exports and evaluates)\n");
}

typedef struct { FILE *log; } log_ctx;

static void say(log_ctx *lc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(log_ctx *lc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (lc->log) {
        va_start(ap, fmt);
        vfprintf(lc->log, fmt, ap);
        va_end(ap);
        fflush(lc->log);
    }
}

static void on_log(void *ud, const ttc_train_log *l) {
    log_ctx *lc = ud;
    if (l->step % 10 && l->step != 1 && l->step != l->steps && !l->checkpointed) return;
    char acc[32] = "";
    if (l->acc >= 0) snprintf(acc, sizeof acc, " | acc %.3f", l->acc);
    say(lc, "step %5ld/%ld | loss %.4f%s | lr %.2e | gnorm %.3f | %.0f tok/s | %.1f GFLOP/s | %.0f s%s\n",
        l->step, l->steps, l->loss, acc, l->lr, l->grad_norm, l->tok_per_s, l->gflops,
        l->elapsed, l->checkpointed ? " | checkpoint" : "");
}

/* Loads the tokenizer keys of a GGUF file. */
static int load_vocab(const char *path, ttc_tokenizer **tok, ttc_err *e) {
    ttc_gguf *g;
    int rc = ttc_gguf_open(path, &g, e);
    if (rc) return rc;
    rc = ttc_tokenizer_from_gguf(g, tok, e);
    ttc_gguf_close(g);
    return rc ? ttc_err_wrap(e, "%s: ", path) : TTC_OK;
}

/* Writes a GGUF holding only the tokenizer (kept next to checkpoints). */
static int save_vocab(const ttc_tokenizer *tok, const char *path, ttc_err *e) {
    ttc_gguf_writer *w;
    int rc = ttc_gguf_writer_new(&w, e);
    if (rc) return rc;
    rc = ttc_gguf_set_str(w, "general.architecture", "llama", e);
    if (!rc) rc = ttc_tokenizer_to_gguf(tok, w, e);
    if (!rc) rc = ttc_gguf_writer_write(w, path, e);
    ttc_gguf_writer_free(w);
    return rc;
}

/* Trains the bundled vocabulary: byte-level BPE with the qwen2
 * pre-tokenizer (single digits) and the shared special tokens. */
static int train_vocab(const char *data, int n_vocab, ttc_tokenizer **tok, ttc_err *e) {
    char **texts;
    int n;
    int rc = ttc_tdata_texts(data, &texts, &n, e);
    if (rc) return rc;
    const char *specials[] = TTC_VOCAB_SPECIALS;
    rc = ttc_bpe_train((const char *const *)texts, n, n_vocab, "qwen2", specials,
                       TTC_VOCAB_N_SPECIALS, tok, e);
    ttc_tdata_texts_free(texts, n);
    if (rc) return rc;
    int32_t eos = ttc_tokenizer_find(*tok, TTC_VOCAB_EOS);
    rc = ttc_tokenizer_set_special(*tok, TTC_SPECIAL_EOS, eos, e);
    ttc_tokenizer_set_add_bos(*tok, false, false);
    return rc;
}

int cmd_train(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *C = "train";
    const char *task_s = NULL, *data = NULL, *out = NULL, *init = NULL, *vocab = NULL;
    const char *ckpt = NULL, *logp = NULL, *name = NULL, *type_s = "f16", *val = NULL;
    long train_tok = 0, dim = 256, layers = 6, heads = 4, kv = 0, ff = 0, ctx = 0, threads = 0;
    long steps = 1000, batch = 8, seq = 0, accum = 1, warmup = 100, seed = 1, ckpt_every = 100;
    long max_mem = 0, grow = 0;
    double lr = 1e-3, min_lr = 0.1, wd = 0.1, clip = 1.0;
    bool resume = false, tied = false, set_cfg = false, steps_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--resume")) { resume = true; continue; }
        if (!strcmp(a, "--tied")) { tied = true; continue; }
        if (!v) return cli_bad_args(C, "%s needs a value", a);
        i++;
        const struct { const char *k; const char **s; } strs[] = {
            {"--task", &task_s}, {"--data", &data}, {"--out", &out}, {"--init", &init},
            {"--vocab", &vocab}, {"--checkpoint", &ckpt}, {"--log", &logp}, {"--name", &name},
            {"--type", &type_s}, {"--val", &val},
        };
        const struct { const char *k; long *v; long lo, hi; bool cfg; } ints[] = {
            {"--train-tokenizer", &train_tok, 259, 1 << 20, 0}, {"--dim", &dim, 2, 1 << 16, 1},
            {"--layers", &layers, 1, 1024, 1}, {"--heads", &heads, 1, 1024, 1},
            {"--kv-heads", &kv, 1, 1024, 1}, {"--ff", &ff, 1, 1 << 18, 1},
            {"--ctx", &ctx, 2, 1 << 16, 0}, {"--threads", &threads, 1, TTC_POOL_MAX_THREADS, 0},
            {"--steps", &steps, 1, 1L << 30, 0}, {"--batch", &batch, 1, 1 << 16, 0},
            {"--seq", &seq, 2, 1 << 16, 0}, {"--accum", &accum, 1, 1 << 16, 0},
            {"--warmup", &warmup, 0, 1L << 30, 0}, {"--seed", &seed, 0, 1L << 62, 0},
            {"--ckpt-every", &ckpt_every, 0, 1L << 30, 0}, {"--max-mem", &max_mem, 1, 1L << 40, 0},
            {"--grow-layers", &grow, 0, 64, 0},
        };
        const struct { const char *k; double *v; double lo, hi; } flts[] = {
            {"--lr", &lr, 0, 10}, {"--min-lr", &min_lr, 0, 1}, {"--wd", &wd, 0, 10},
            {"--clip", &clip, 0, 1e9},
        };
        bool known = false;
        for (size_t k = 0; k < sizeof strs / sizeof strs[0] && !known; k++)
            if (!strcmp(a, strs[k].k)) { *strs[k].s = v; known = true; }
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !known; k++)
            if (!strcmp(a, ints[k].k)) {
                if (!cli_parse_int(v, ints[k].lo, ints[k].hi, ints[k].v))
                    return cli_bad_args(C, "%s: '%s' is not an integer in [%ld, %ld]", a, v,
                                        ints[k].lo, ints[k].hi);
                set_cfg |= ints[k].cfg;
                steps_set |= ints[k].v == &steps;
                known = true;
            }
        for (size_t k = 0; k < sizeof flts / sizeof flts[0] && !known; k++)
            if (!strcmp(a, flts[k].k)) {
                if (!cli_parse_float(v, flts[k].lo, flts[k].hi, flts[k].v))
                    return cli_bad_args(C, "%s: '%s' is not a number in [%g, %g]", a, v,
                                        flts[k].lo, flts[k].hi);
                known = true;
            }
        if (!known) return cli_bad_args(C, "unknown argument '%s'", a);
    }
    ttc_task task;
    if (!task_s) return cli_bad_args(C, "missing --task sft|prm|orm");
    if (!strcmp(task_s, "sft")) task = TTC_TASK_SFT;
    else if (!strcmp(task_s, "prm")) task = TTC_TASK_PRM;
    else if (!strcmp(task_s, "orm")) task = TTC_TASK_ORM;
    else return cli_bad_args(C, "--task must be sft, prm or orm, not '%s'", task_s);
    if (!data) return cli_bad_args(C, "missing --data FILE.jsonl");
    if (!out) return cli_bad_args(C, "missing --out MODEL.gguf");
    int wtype = !strcmp(type_s, "f32") ? TTC_TYPE_F32 : !strcmp(type_s, "f16") ? TTC_TYPE_F16
              : !strcmp(type_s, "q8_0") ? TTC_TYPE_Q8_0 : -1;
    if (wtype < 0) return cli_bad_args(C, "--type must be f32, f16 or q8_0, not '%s'", type_s);
    if (init && set_cfg) return cli_bad_args(C, "--init fixes the model shape; drop --dim/--layers/...");
    if (grow && !init) return cli_bad_args(C, "--grow-layers adds layers to an --init model");
    if (vocab && train_tok) return cli_bad_args(C, "give --vocab or --train-tokenizer, not both");
    if (resume && !ckpt) return cli_bad_args(C, "--resume needs --checkpoint FILE");
    if (!init && !vocab && !train_tok && !(resume && ckpt))
        return cli_bad_args(C, "need a tokenizer: --init, --vocab or --train-tokenizer N");
    if (kv == 0) kv = heads;
    if (ff == 0) ff = 3 * dim;

    ttc_err e = {0};
    log_ctx lc = {NULL};
    if (logp && !(lc.log = fopen(logp, "a"))) {
        ttc_err_set(&e, TTC_EIO, "%s: cannot open log file", logp);
        return cli_fail(C, &e);
    }
    ttc_tokenizer *tok = NULL;
    ttc_tmodel m = {0};
    ttc_tdata d = {0};
    ttc_pool *pool = NULL;
    ttc_train_opts o = ttc_train_opts_default();
    ttc_train_state st = {0};
    char vocab_path[4096] = "";
    if (ckpt) snprintf(vocab_path, sizeof vocab_path, "%s.vocab.gguf", ckpt);
    bool resumed = resume && ckpt && access(ckpt, F_OK) == 0;
    int rc = TTC_OK;
    uint64_t ck_hash = 0;
    double t0 = ttc_now();

    /* the model (and tokenizer): checkpoint, --init, or a fresh config */
    if (resumed) {
        rc = ttc_ckpt_load(ckpt, &m, &o, &st, &ck_hash, &e);
        if (!rc) rc = load_vocab(vocab_path, &tok, &e);
        if (!rc && o.task != task)
            rc = ttc_err_set(&e, TTC_EINVAL, "%s: checkpoint is for another --task", ckpt);
        if (!rc && steps_set) o.steps = (int32_t)steps;   /* may extend a finished run */
        if (!rc) say(&lc, "resuming %s at step %lld of %d\n", ckpt, (long long)st.step, o.steps);
    } else {
        if (!init && !vocab && !train_tok)
            rc = ttc_err_set(&e, TTC_ENOTFOUND, "%s: no checkpoint to resume, and no "
                             "--init, --vocab or --train-tokenizer to start from", ckpt);
        if (!rc && init) rc = ttc_tmodel_import(init, (int)ctx, &m, vocab ? NULL : &tok, &e);
        if (!rc && grow) {
            ttc_rng r;
            ttc_rng_split(&r, (uint64_t)seed, 0x9e0);
            rc = ttc_tmodel_grow(&m, (int)grow, &r, &e);
            if (!rc) say(&lc, "grew %s to %d layers (the new ones start as the identity)\n", init, m.c.n_layer);
        }
        if (!rc && vocab) rc = load_vocab(vocab, &tok, &e);
        if (!rc && train_tok) {
            say(&lc, "training a %ld-token BPE vocabulary on %s\n", train_tok, data);
            rc = train_vocab(data, (int)train_tok, &tok, &e);
        }
        o.task = task;
        o.batch = (int)batch; o.seq = (int)seq; o.accum = (int)accum; o.steps = (int32_t)steps;
        o.warmup = (int32_t)warmup; o.lr = (float)lr; o.min_lr_frac = (float)min_lr;
        o.weight_decay = (float)wd; o.grad_clip = (float)clip; o.seed = (uint64_t)seed;
        o.ckpt_every = (int32_t)ckpt_every;
        if (!rc && !init) {
            ttc_tconfig c = {(int32_t)dim, (int32_t)layers, (int32_t)heads, (int32_t)kv,
                             (int32_t)ff, ttc_tokenizer_n_vocab(tok), (int32_t)(ctx > 0 ? ctx : 512), tied,
                             10000.0f, 1e-5f};
            rc = ttc_train_check_memory(&c, &o, (size_t)max_mem << 20, &e);
            if (!rc) rc = ttc_tmodel_new(&c, &m, &e);
            if (!rc) {
                ttc_rng r;
                ttc_rng_split(&r, (uint64_t)seed, 0x1417);
                ttc_tmodel_init_random(&m, &r);
            }
        } else if (!rc) {
            rc = ttc_train_check_memory(&m.c, &o, (size_t)max_mem << 20, &e);
        }
        if (!rc && ttc_tokenizer_n_vocab(tok) != m.c.vocab)
            rc = ttc_err_set(&e, TTC_EINVAL, "tokenizer has %d tokens but the model %d",
                             ttc_tokenizer_n_vocab(tok), m.c.vocab);
        if (!rc && ckpt) rc = save_vocab(tok, vocab_path, &e);
    }
    if (!rc && task != TTC_TASK_SFT) rc = ttc_prm_tokens(tok, NULL, &o.tok_good, &o.tok_bad, &e);
    o.checkpoint = ckpt;
    o.on_log = on_log;
    o.ud = &lc;
    if (!rc) rc = ttc_tdata_load(data, task, tok, &d, &e);
    if (!rc && resumed && d.hash != ck_hash)
        rc = ttc_err_set(&e, TTC_EINVAL, "%s: the checkpoint was trained on different data "
                                          "(or tokenizer) than %s", ckpt, data);
    if (!rc) rc = ttc_pool_new(threads > 0 ? (int)threads : 0, &pool, &e);
    if (!rc) {
        const ttc_tconfig *c = &m.c;
        int T = o.seq > 0 ? o.seq : c->ctx;
        say(&lc, "model: dim %d, layers %d, heads %d/%d, ff %d, vocab %d, ctx %d%s: %.2f M params\n",
            c->dim, c->n_layer, c->n_head, c->n_kv_head, c->ff, c->vocab, c->ctx,
            c->tied ? ", tied" : "", (double)m.n_params / 1e6);
        say(&lc, "data: %s: %d examples, %zu tokens, %zu supervised (%s)\n", data, d.n_ex,
            d.n_tokens, d.n_supervised, task_s);
        say(&lc, "run: %d steps x %d x %d x %d tokens, lr %.2e (warmup %d, cosine to %.2f), "
            "wd %.2f, clip %.2f, seed %llu, %d threads\n", o.steps, o.accum, o.batch, T,
            (double)o.lr, o.warmup, (double)o.min_lr_frac, (double)o.weight_decay,
            (double)o.grad_clip, (unsigned long long)o.seed, ttc_pool_n_threads(pool));
        rc = ttc_train_run(&m, &d, pool, &o, &st, &e);
    }
    const char *fmt = task == TTC_TASK_PRM ? "ttc" : task == TTC_TASK_ORM ? "ttc-orm" : NULL;
    if (!rc && val) {
        ttc_tdata vd;
        double vl, va;
        rc = ttc_tdata_load(val, task, tok, &vd, &e);
        if (!rc) rc = ttc_train_eval(&m, &vd, pool, o.batch, o.seq > 0 ? o.seq : m.c.ctx,
                                     o.tok_good, o.tok_bad, &vl, &va, &e);
        if (!rc) {
            char acc[32] = "";
            if (va >= 0) snprintf(acc, sizeof acc, ", acc %.4f", va);
            say(&lc, "val: %s: loss %.4f%s over %zu %s\n", val, vl, acc, vd.n_supervised,
                task == TTC_TASK_SFT ? "tokens" : "tags");
        }
        ttc_tdata_free(&vd);
    }
    uint64_t tokens = (uint64_t)st.step * (uint64_t)o.accum * (uint64_t)o.batch *
                      (uint64_t)(o.seq > 0 ? o.seq : m.c.ctx);
    if (!rc) rc = ttc_tmodel_export(&m, tok, wtype, name ? name : "ttc", fmt, tokens, out, &e);
    if (!rc) say(&lc, "wrote %s (%s) after %lld steps, %.0f s\n", out, type_s,
                 (long long)st.step, ttc_now() - t0);
    if (rc && lc.log) fprintf(lc.log, "error: %s\n", e.msg);
    ttc_pool_free(pool);
    ttc_tdata_free(&d);
    ttc_tmodel_free(&m);
    ttc_tokenizer_free(tok);
    if (lc.log) fclose(lc.log);
    return rc ? cli_fail(C, &e) : 0;
}
