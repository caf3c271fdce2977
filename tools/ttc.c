/* ttc: the command-line tool. Dispatches to tools/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct { const char *name; cli_fn fn; const char *help; } cmds[] = {
    {"generate",   cmd_generate,   "generate text from a GGUF model"},
    {"solve",      cmd_solve,      "solve one problem with a test-time compute strategy"},
    {"experiment", cmd_experiment, "run the compute-optimal scaling experiment"},
    {"serve",      cmd_serve,      "OpenAI-compatible HTTP server with test-time compute"},
    {"eval",       cmd_eval,       "pass@k of a model on a JSONL benchmark"},
    {"grade",      cmd_grade,      "grade a model response against a reference answer"},
    {"rescore",    cmd_rescore,    "majority / best-of-N accuracy from recorded samples"},
    {"data",       cmd_data,       "generate the synthetic MATH-like benchmark"},
    {"train",      cmd_train,      "train a model (generator, PRM, revision, ORM)"},
    {"label",      cmd_label,      "training data for the PRM, revision model and ORM"},
    {"tokenize",   cmd_tokenize,   "print the token ids of stdin"},
    {"logits",     cmd_logits,     "write the last position's logits of a prompt"},
    {"gguf",       cmd_gguf,       "inspect GGUF files or write random-weight models"},
    {"bench",      cmd_bench,      "measure prefill and decode speed"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ttc COMMAND [options]   (ttc COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("ttc %s\n", TTC_VERSION); return 0; }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ttc: unknown command '%s' (try 'ttc --help')\n", argv[1]);
    return 2;
}
