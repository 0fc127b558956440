/* main_cli.c — placeholder dispatcher until the commands land. */
#include "cli/cli.h"
#include <stdio.h>

int cli_main(int argc, char **argv)
{
  (void)argc; (void)argv;
  fprintf(stderr, "weft: no commands yet\n");
  return EXIT_USAGE;
}
