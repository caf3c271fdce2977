/* Attention building blocks over one KV page, for many query rows at once.
 *
 * A paged V block is a row-major [P][hd] f32 matrix and a K block its
 * transpose [hd][P] (kv.h: one (layer, K/V, kv head) block of a page). When several sequences share a page (a
 * forked prompt), the engine can gather the query rows of all of them (and
 * of the n_rep query heads of the kv head) into one Q matrix and call these
 * once per shared page, so each K/V page is read once per group instead of
 * once per sequence:
 *
 *     for each page p of the shared prefix (same page id in every sequence):
 *         ttc_attn_scores_kt(Q, hd, nq, Kt_p, P, nk, hd, scale, S, lds)
 *                                   S = scale Q Kp^T (Kt_p: the page's transposed K block)
 *         online softmax per row of S (running max m_i, sum l_i; rescale O_i)
 *         ttc_attn_accum(S, lds, nq, Vp, nk, hd, O, hd)            O += S Vp
 *     then each sequence's own (unshared) pages the same way with its rows.
 * src/model/ctx.c (attn_group_task) does exactly this, 8 pages per softmax
 * block. ttc_attn_scores takes K row-major [nk][hd] instead.
 *
 * All are plain f32 with any nq, nk >= 0 (AVX-512 when the CPU has it and,
 * for ttc_attn_scores / ttc_attn_accum, hd is a multiple of 16 up to 256;
 * plain C otherwise). */
#ifndef TTC_KERNELS_ATTN_H
#define TTC_KERNELS_ATTN_H

/* S[i*lds + j] = scale * sum_d Q[i*ldq + d] * K[j*hd + d], i < nq, j < nk. */
void ttc_attn_scores(const float *Q, int ldq, int nq, const float *K, int nk, int hd, float scale,
                     float *S, int lds);

/* Same scores against a transposed key block, the paged KV layout (kv.h):
 * S[i*lds + j] = scale * sum_d Q[i*ldq + d] * Kt[d*ldk + j], i < nq, j < nk,
 * any hd >= 1 and nk <= ldk. */
void ttc_attn_scores_kt(const float *Q, int ldq, int nq, const float *Kt, int ldk, int nk, int hd, float scale,
                        float *S, int lds);

/* O[i*ldo + d] += sum_j P[i*ldp + j] * V[j*hd + d], i < nq, d < hd. */
void ttc_attn_accum(const float *P, int ldp, int nq, const float *V, int nk, int hd, float *O, int ldo);
#endif
