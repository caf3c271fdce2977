/* Training ops: forward/backward pairs of every layer of a llama decoder.
 *
 * Layout conventions (row-major, N = tokens in the batch = B*T):
 *   activations   [N][C]          one row per token
 *   weights       [out][in]       as stored in GGUF (ne[0] = in)
 * Backward functions ACCUMULATE (+=) into every gradient they produce (dx and
 * dw), so residual branches and tied weights need no extra code; the caller
 * zeroes gradient buffers once per use. All functions are total on valid
 * sizes and cannot fail; none allocates. */
#ifndef TTC_TRAIN_OPS_H
#define TTC_TRAIN_OPS_H
#include <stddef.h>
#include <stdint.h>
#include "base/pool.h"

/* C[M][N] = alpha * op(A) op(B) + beta * C, op(X) = X or X^T (row-major,
 * leading dimensions lda/ldb/ldc): the kernels module's ttc_sgemm, through
 * which every matmul of the trainer goes. Threaded over the pool. */
void ttc_op_gemm(ttc_pool *p, int trans_a, int trans_b, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* y[N][O] = x[N][I] w[O][I]^T. */
void ttc_op_matmul_fwd(ttc_pool *p, float *y, const float *x, const float *w, int N, int I, int O);
/* dx[N][I] += dy[N][O] w[O][I]  (skipped when dx is NULL);
 * dw[O][I] += dy^T x. */
void ttc_op_matmul_bwd(ttc_pool *p, float *dx, float *dw, const float *dy, const float *x,
                       const float *w, int N, int I, int O);

/* y[N][D] = x * rstd * w, rstd[N] = 1/sqrt(mean(x^2) + eps) (saved). */
void ttc_op_rmsnorm_fwd(ttc_pool *p, float *y, float *rstd, const float *x, const float *w,
                        int N, int D, float eps);
/* dx[N][D] += ..., dw[D] += ... given dy[N][D] and the saved rstd. */
void ttc_op_rmsnorm_bwd(ttc_pool *p, float *dx, float *dw, const float *dy, const float *x,
                        const float *w, const float *rstd, int N, int D);

/* cos/sin table for llama ("normal") RoPE: pairs (2i, 2i+1) of a head are
 * rotated by pos * theta^(-2i/hd). tab[pos][hd/2][2] = {cos, sin}. */
void ttc_op_rope_table(float *tab, int n_pos, int hd, float theta);
/* In place on x[N][n_head][hd] with per-token positions pos[N]. */
void ttc_op_rope_fwd(float *x, const int32_t *pos, const float *tab, int N, int n_head, int hd);
/* dx (in place on the gradient of the rotated x): the inverse rotation. */
void ttc_op_rope_bwd(float *dx, const int32_t *pos, const float *tab, int N, int n_head, int hd);

/* Causal grouped-query attention over B rows of T tokens.
 *   q[B*T][H][hd], k,v[B*T][KV][hd], out[B*T][H][hd], att[B][H][T][T]
 * Token t of a row attends to s in [seg[t], t] (seg = first index of its
 * document in the row, so packed documents do not see each other). att holds
 * the softmax probabilities (saved for backward; 0 outside the window).
 * Parallel over (b, h). */
void ttc_op_attention_fwd(ttc_pool *p, float *out, float *att, const float *q, const float *k,
                          const float *v, const int32_t *seg, int B, int T, int H, int KV,
                          int hd);
/* dq, dk, dv += gradients given dout; datt[B][H][T][T] is scratch.
 * Parallel over (b, kv head). */
void ttc_op_attention_bwd(ttc_pool *p, float *dq, float *dk, float *dv, float *datt,
                          const float *dout, const float *att, const float *q, const float *k,
                          const float *v, const int32_t *seg, int B, int T, int H, int KV,
                          int hd);

/* h[N][F] = silu(g) * u. */
void ttc_op_swiglu_fwd(ttc_pool *p, float *h, const float *g, const float *u, size_t n);
/* dg, du += gradients given dh. */
void ttc_op_swiglu_bwd(ttc_pool *p, float *dg, float *du, const float *dh, const float *g,
                       const float *u, size_t n);

/* x[N][D] = emb[tok[n]]. */
void ttc_op_embed_fwd(float *x, const float *emb, const int32_t *tok, int N, int D);
/* demb[tok[n]] += dx[n] (serial: deterministic). */
void ttc_op_embed_bwd(float *demb, const float *dx, const int32_t *tok, int N, int D);

/* Weighted next-token cross-entropy: with c[n] = scale * w[n], returns
 * sum_n c[n] * -log softmax(logits[n])[tgt[n]] (rows with w[n] == 0 are
 * skipped) and, when dlogits is not NULL, writes
 * dlogits[n] = c[n] * (softmax(logits[n]) - onehot(tgt[n])) (zero rows for w == 0). */
double ttc_op_xent(ttc_pool *p, float *dlogits, const float *logits, const int32_t *tgt,
                   const float *w, float scale, int N, int V);

/* Math-Shepherd style PRM loss. At each row with label y[n] in [0, 1]
 * (y < 0: no label) p = softmax(l[pos], l[neg])[0] and the loss is
 * w * BCE(p, y); returns its sum. dlogits (if not NULL) is overwritten:
 * zero except the two entries of each labelled row. *n_correct (if not NULL)
 * counts labelled rows where (p > 0.5) == (y > 0.5). */
double ttc_op_prm_loss(float *dlogits, const float *logits, const float *y, float w, int N,
                       int V, int32_t tok_pos, int32_t tok_neg, int *n_correct);
#endif
