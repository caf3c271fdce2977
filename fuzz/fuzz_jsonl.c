/* libFuzzer target: the JSONL line parser of the dataset loader, and the
 * answer extraction / grading / canonical key on the same bytes (the grader
 * sees arbitrary model output). Must never crash, leak or misbehave. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/grader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ttc_example x;
    ttc_err e;
    if (ttc_example_parse((const char *)data, size, "fuzz.jsonl", 1, &x, &e) == TTC_OK) {
        char out[256];
        ttc_extract_answer(x.solution, out, sizeof out);
        ttc_answer_equal(out, x.answer);
        ttc_example_free(&x);
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    char ans[512], key[512];
    ttc_extract_answer(s, ans, sizeof ans);
    ttc_answer_canonical(s, key, sizeof key);
    char *tab = strchr(s, '\t');
    if (tab) {
        *tab = 0;
        ttc_answer_equal(s, tab + 1);
    } else {
        ttc_answer_equal(s, s);
    }
    free(s);
    return 0;
}
