/* AVX-512 VNNI int8 kernels for quantized weights (placeholder: not yet). */
#include "kernels/kimpl.h"
#include "ttc.h"

bool k_vnni_handles(int wtype) { (void)wtype; return false; }
size_t k_vnni_xq_bytes(const k_mm *m) { (void)m; return 0; }
void k_vnni_prepare(k_mm *m, int t0, int t1) { (void)m; (void)t0; (void)t1; }
int k_vnni_rows(const k_mm *m, int r0, int r1) { (void)m; (void)r0; (void)r1; return TTC_EUNSUPPORTED; }
