/* ttc tokenize: token ids of stdin, space-separated on one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttc tokenize -m MODEL.gguf [--special] [--bos] < text\n"
            "Prints the token ids of stdin on one line.\n"
            "  -m, --model PATH  GGUF file with tokenizer.ggml.* metadata\n"
            "  --special         recognise special tokens written in the text (<|im_start|>, ...)\n"
            "  --bos             prepend the BOS token (if the vocabulary has one)\n");
}

/* Reads all of f into a malloc'd buffer. */
static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *q = realloc(b, cap *= 2);
            if (!q) { free(b); return NULL; }
            b = q;
        }
    }
    if (b && ferror(f)) { free(b); return NULL; }
    *len = n;
    return b;
}

int cmd_tokenize(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *model = NULL;
    bool special = false, bos = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (++i >= argc) return cli_bad_args("tokenize", "%s needs a path", argv[i - 1]);
            model = argv[i];
        } else if (!strcmp(argv[i], "--special")) special = true;
        else if (!strcmp(argv[i], "--bos")) bos = true;
        else return cli_bad_args("tokenize", "unknown argument '%s'", argv[i]);
    }
    if (!model) return cli_bad_args("tokenize", "missing -m MODEL.gguf");

    ttc_err e = {0};
    ttc_gguf *g = NULL;
    ttc_tokenizer *tok = NULL;
    if (ttc_gguf_open(model, &g, &e) || ttc_tokenizer_from_gguf(g, &tok, &e)) {
        ttc_gguf_close(g);
        return cli_fail("tokenize", &e);
    }
    ttc_gguf_close(g);
    size_t len;
    char *text = read_all(stdin, &len);
    if (!text) {
        ttc_tokenizer_free(tok);
        ttc_err_set(&e, TTC_EIO, "reading stdin failed");
        return cli_fail("tokenize", &e);
    }
    int32_t *ids;
    int n;
    int rc = ttc_tokenize_alloc(tok, text, len, bos, special, &ids, &n, &e);
    free(text);
    ttc_tokenizer_free(tok);
    if (rc) return cli_fail("tokenize", &e);
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
    putchar('\n');
    free(ids);
    return fflush(stdout) == 0 ? 0 : 1;
}
