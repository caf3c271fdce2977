/* ttc gguf: inspect GGUF files (info) or write random-weight models (random,
 * in cmd_gguf_random.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gguf/gguf.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: ttc gguf info [-n N] FILE   print the version, every key (arrays: type, length,\n"
        "                                   first N elements, default 5) and every tensor\n"
        "                                   (name, type, shape, data offset, bytes)\n"
        "       ttc gguf random ...         write a model with random weights\n"
        "                                   (ttc gguf random --help)\n");
}

/* Prints s (n bytes) quoted, escaping control bytes, quotes and backslashes;
 * at most max bytes, then "...". */
static void print_str(const char *s, size_t n, size_t max) {
    putchar('"');
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7F) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('"');
    if (n > max) fputs("...", stdout);
}

/* Bytes of each scalar value type (0 for string and array). */
static const size_t elem_size[TTC_GGUF_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* One scalar of type t at p. */
static void print_scalar(int t, const void *p) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            float f32; uint64_t u64; int64_t i64; double f64; } v = {0};
    memcpy(&v, p, elem_size[t]);
    switch (t) {
    case TTC_GGUF_U8:   printf("%u", v.u8); break;
    case TTC_GGUF_I8:   printf("%d", v.i8); break;
    case TTC_GGUF_U16:  printf("%u", v.u16); break;
    case TTC_GGUF_I16:  printf("%d", v.i16); break;
    case TTC_GGUF_U32:  printf("%" PRIu32, v.u32); break;
    case TTC_GGUF_I32:  printf("%" PRId32, v.i32); break;
    case TTC_GGUF_F32:  printf("%.9g", (double)v.f32); break;
    case TTC_GGUF_BOOL: fputs(v.u8 ? "true" : "false", stdout); break;
    case TTC_GGUF_U64:  printf("%" PRIu64, v.u64); break;
    case TTC_GGUF_I64:  printf("%" PRId64, v.i64); break;
    case TTC_GGUF_F64:  printf("%.17g", v.f64); break;
    }
}

static void print_info(const ttc_gguf *g, long show) {
    size_t size;
    ttc_gguf_base(g, &size);
    printf("%s: GGUF v%u, %zu bytes, %" PRId64 " keys, %" PRId64 " tensors, alignment %zu, data at offset %" PRIu64 "\n",
           ttc_gguf_path(g), ttc_gguf_version(g), size, ttc_gguf_n_keys(g), ttc_gguf_n_tensors(g),
           ttc_gguf_alignment(g), ttc_gguf_data_offset(g));
    printf("\nkeys:\n");
    for (int64_t k = 0; k < ttc_gguf_n_keys(g); k++) {
        const ttc_gguf_kv *kv = ttc_gguf_kv_at(g, k);
        printf("  %-44s ", kv->key);
        if (kv->type == TTC_GGUF_STR) {
            printf("%-8s ", "string");
            print_str(kv->str, kv->n, 200);
        } else if (kv->type == TTC_GGUF_ARR) {
            char ty[32];
            snprintf(ty, sizeof ty, "[%s x %" PRIu64 "]", ttc_gguf_vtype_name(kv->arr_type), kv->n);
            printf("%-8s ", ty);
            for (uint64_t i = 0; i < kv->n && i < (uint64_t)show; i++) {
                if (i) fputs(", ", stdout);
                if (kv->arr_type == TTC_GGUF_STR) {
                    size_t len;
                    const char *s = ttc_gguf_kv_str(g, k, i, &len);
                    print_str(s, len, 60);
                } else {
                    print_scalar(kv->arr_type, (const char *)kv->arr + i * elem_size[kv->arr_type]);
                }
            }
            if (kv->n > (uint64_t)show) fputs(", ...", stdout);
        } else {
            printf("%-8s ", ttc_gguf_vtype_name(kv->type));
            print_scalar(kv->type, &kv->v);
        }
        putchar('\n');
    }
    if (!ttc_gguf_n_tensors(g)) return;
    printf("\ntensors (offsets relative to the data section):\n");
    printf("  %-40s %-8s %-24s %12s %12s\n", "name", "type", "shape", "offset", "bytes");
    for (int64_t i = 0; i < ttc_gguf_n_tensors(g); i++) {
        const ttc_gguf_tensor *t = ttc_gguf_tensor_at(g, i);
        char shape[96] = "";
        for (int d = 0; d < t->n_dims; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%" PRId64, d ? " x " : "", t->ne[d]);
        printf("  %-40s %-8s %-24s %12" PRIu64 " %12zu%s\n", t->name, ttc_type_name(t->type), shape, t->offset,
               t->nbytes, t->supported ? "" : "  (type not supported by ttc)");
    }
}

int cmd_gguf(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "random")) return cmd_gguf_random(argc - 1, argv + 1);
    if (argc < 2) return cli_bad_args("gguf", "needs a subcommand: info or random");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (strcmp(argv[1], "info")) return cli_bad_args("gguf", "unknown subcommand '%s'", argv[1]);
    if (cli_wants_help(argc - 1, argv + 1)) { usage(stdout); return 0; }
    long show = 5;
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-n")) {
            if (i + 1 >= argc || !cli_parse_int(argv[i + 1], 0, 1000000, &show))
                return cli_bad_args("gguf", "-n needs a count in 0..1000000");
            i++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_bad_args("gguf", "unknown option '%s'", argv[i]);
        } else if (path) {
            return cli_bad_args("gguf", "info takes one FILE");
        } else {
            path = argv[i];
        }
    }
    if (!path) return cli_bad_args("gguf", "info needs a FILE");
    ttc_err e = {0};
    ttc_gguf *g;
    if (ttc_gguf_open(path, &g, &e)) return cli_fail("gguf", &e);
    print_info(g, show);
    ttc_gguf_close(g);
    return 0;
}
