/* ttc gguf: placeholder until its module lands; owned by that module. */
#include <stdio.h>
#include "cli.h"

int cmd_gguf(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ttc gguf: not available in this build yet\n");
    return 2;
}
