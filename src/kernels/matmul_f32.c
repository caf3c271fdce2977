/* Float path for every weight type (placeholder: reference dequantize + dot). */
#include "kernels/kimpl.h"
#include "ttc.h"

int k_f32_rows(const k_mm *m, int r0, int r1) {
    float *wrow = k_scratch(1, (size_t)m->cols * sizeof(float));
    if (!wrow) return TTC_ENOMEM;
    for (int r = r0; r < r1; r++) {
        k_dequant_row_ref(m->wtype, m->w + (size_t)r * m->row_bytes, m->cols, wrow);
        for (int t = 0; t < m->n_tok; t++) {
            const float *x = m->x + (size_t)t * m->cols;
            float s = 0;
            for (int c = 0; c < m->cols; c++) s += wrow[c] * x[c];
            m->y[(size_t)t * m->rows + r] = s;
        }
    }
    return TTC_OK;
}
