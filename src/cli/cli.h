/* cli.h — the weft command line: cli_main() dispatches argv to one command. */
#ifndef WEFT_CLI_CLI_H
#define WEFT_CLI_CLI_H

/* Exit codes of CLI.md. */
enum {
  EXIT_OK = 0,
  EXIT_RUN_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_CANCELLED = 3,
  EXIT_NOT_FOUND = 4,
  EXIT_INTERRUPTED = 130,
};

int cli_main(int argc, char **argv);

#endif
