/*
 * cmd.h - the subcommand table (tmux's cmd_table idea).
 *
 * Each cli/cmd_<name>.c defines exactly one `const struct cmd cmd_<name> = {...};` at the start
 * of a line; the Makefile collects them into build/gen/cmd_list.h, so a new subcommand is one
 * new file. The CLI includes only include/kad.h, cli/ headers and the borrowable base/ helpers.
 *
 * Exit codes (docs/cli.md): 0 success, 1 usage or configuration error, 2 runtime error
 * (`hunt` follows grep: 0 match, 1 no match, 2 error).
 */
#ifndef KAD_CLI_CMD_H
#define KAD_CLI_CMD_H

#include "kad.h"

#include <stdbool.h>
#include <stddef.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_RUNTIME = 2 };

struct cmd {
    const char *name;
    const char *summary; /* one line for `kadet --help` */
    const char *usage;   /* full help text for `kadet help NAME` / `kadet NAME --help` */
    /* printed after usage when set: C11 guarantees string literals of 4095 bytes only */
    const char *usage_more;
    /* argv[0] is the subcommand name; returns the exit code */
    int (*run)(int argc, char **argv);
};

/* Print "kadet: NAME: message" + "Try 'kadet help NAME'." to stderr; returns EXIT_USAGE. */
int cmd_usage_error(const struct cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print err as `origin:line:col: error: message` (kad_err_format) and a newline to stderr,
   without a prefix (the form of input and query errors). */
void cmd_print_err(const kad_err *err);
/* Print c->usage (and c->usage_more) to stdout. */
void cmd_print_usage(const struct cmd *c);

/* True when argv has -h/--help before "--"; then prints c->usage to stdout. */
int cmd_wants_help(const struct cmd *c, int argc, char **argv);

/* A positive byte count with an optional K, M or G suffix ("64M"); false when arg is not one. */
bool cmd_parse_bytes(const char *arg, size_t *out);

#endif
