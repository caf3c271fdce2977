/* ttc logits: placeholder until its module lands; owned by that module. */
#include <stdio.h>
#include "cli.h"

int cmd_logits(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ttc logits: not available in this build yet\n");
    return 2;
}
