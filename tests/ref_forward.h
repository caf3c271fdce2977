/* Test oracle: a plain f32 transformer forward pass, written for clarity,
 * not speed. Every weight is dequantized to f32 with ttc_dequantize_row and
 * looked up by name in the model's GGUF file; there is no KV cache: the
 * whole sequence is recomputed with direct formulas (double accumulation). */
#ifndef TTC_TESTS_REF_FORWARD_H
#define TTC_TESTS_REF_FORWARD_H
#include <stdint.h>
#include "model/model.h"

/* Logits of every position of tokens[0..n) into logits[n][n_vocab], and the
 * final-norm hidden states into hidden[n][n_embd] when hidden is not NULL.
 * Returns 0, or -1 if a tensor is missing (which the engine would reject). */
int ref_forward(const ttc_model *m, const int32_t *tokens, int n, float *logits, float *hidden);
#endif
