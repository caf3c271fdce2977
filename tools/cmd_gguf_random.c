/* ttc gguf random: placeholder until the model module lands; owned by it. */
#include <stdio.h>
#include "cli.h"

int cmd_gguf_random(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ttc gguf random: not available in this build yet\n");
    return 2;
}
