/* main.c — argv to one cli_* command (see cli/cli.h). */
#include "cli/cli.h"

int main(int argc, char **argv) { return cli_main(argc, argv); }
