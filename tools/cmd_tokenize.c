/* ttc tokenize: placeholder until its module lands; owned by that module. */
#include <stdio.h>
#include "cli.h"

int cmd_tokenize(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ttc tokenize: not available in this build yet\n");
    return 2;
}
