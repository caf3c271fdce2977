/* ttc serve: placeholder until its module lands; owned by that module. */
#include <stdio.h>
#include "cli.h"

int cmd_serve(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ttc serve: not available in this build yet\n");
    return 2;
}
