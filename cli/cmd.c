/*
 * cmd.c - helpers shared by the subcommands: usage errors, error lines and --help detection.
 */
#include "cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_usage_error(const struct cmd *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kadet %s: ", c->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'kadet help %s'.\n", c->name);
    va_end(ap);
    return EXIT_USAGE;
}

void cmd_print_err(const kad_err *err)
{
    char msg[1024];
    kad_err_format(err, msg, sizeof(msg));
    fprintf(stderr, "%s\n", msg);
}

void cmd_print_usage(const struct cmd *c)
{
    fputs(c->usage, stdout);
    if (c->usage_more)
        fputs(c->usage_more, stdout);
}

int cmd_wants_help(const struct cmd *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cmd_print_usage(c);
            return 1;
        }
    }
    return 0;
}

bool cmd_parse_bytes(const char *arg, size_t *out) { return kad_bytes_parse(arg, out) != 0; }
