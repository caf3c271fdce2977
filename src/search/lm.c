/* Shared helpers of the generator/verifier interface (see lm.h). */
#include "search/lm.h"

#include <string.h>

double ttc_lm_flops(const ttc_lm_info *info, int64_t pos0, int64_t n) {
    if (!info || n <= 0) return 0.0;
    /* sum over p in [pos0, pos0+n) of (p+1) = n*(pos0+1) + n*(n-1)/2 */
    double ctx_sum = (double)n * (double)(pos0 + 1) + (double)n * (double)(n - 1) / 2.0;
    return 2.0 * (double)info->n_params * (double)n +
           4.0 * (double)info->n_layer * (double)info->d_attn * ctx_sum;
}

size_t ttc_lm_step_len(const char *text) {
    const char *q = text;
    while (*q == '\n' || *q == ' ' || *q == '\t' || *q == '\r') q++;
    const char *nl = strchr(q, '\n');
    return nl ? (size_t)(nl - text) + 1 : strlen(text);
}
