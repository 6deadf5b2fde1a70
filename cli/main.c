/*
 * main.c - the kadet command: global options, dispatch to a subcommand of the table
 * (build/gen/cmd_list.h, generated from cli/cmd_*.c), exit codes. Only this file and the
 * subcommands decide to exit; the library never does.
 */
#include "cmd.h"
#include "kad.h"
#include "suggest.h"

#include <stdio.h>
#include <string.h>

#define X(name) extern const struct cmd cmd_##name;
#include "cmd_list.h"
#undef X

static const struct cmd *const table[] = {
#define X(name) &cmd_##name,
#include "cmd_list.h"
#undef X
    NULL,
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: kadet [--version] [--help] COMMAND [ARGS]\n\n"
               "Run Elastic's Kubernetes detection rules on Kubernetes audit logs.\n\n"
               "Commands:\n");
    for (size_t i = 0; table[i]; i++)
        fprintf(f, "  %-10s %s\n", table[i]->name, table[i]->summary);
    fprintf(f, "  %-10s %s\n", "help", "show help for a command");
    fprintf(f, "\nExit status: 0 success, 1 usage or configuration error, 2 runtime error\n"
               "(hunt: 0 match, 1 no match, 2 error).\n"
               "See 'kadet help COMMAND' and docs/cli.md.\n");
}

/* "unknown command 'NAME'" with the closest command, then the usage. */
static int unknown_command(const char *name)
{
    const char *names[64];
    size_t k = 0;
    for (size_t i = 0; table[i] && k + 2 < sizeof(names) / sizeof(*names); i++)
        names[k++] = table[i]->name;
    names[k++] = "help";
    names[k] = NULL;
    const char *s = cli_suggest(name, names);
    if (s)
        fprintf(stderr, "kadet: unknown command '%s'; did you mean '%s'?\n", name, s);
    else
        fprintf(stderr, "kadet: unknown command '%s'\n", name);
    print_usage(stderr);
    return EXIT_USAGE;
}

static const char help_usage[] =
    "usage: kadet help [COMMAND]\n"
    "\n"
    "Without COMMAND, list the commands; with one, print its help (the same text as\n"
    "'kadet COMMAND --help'). 'kadet --help' lists the commands too.\n";

static const struct cmd *find(const char *name)
{
    for (size_t i = 0; table[i]; i++)
        if (strcmp(table[i]->name, name) == 0)
            return table[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *a = argv[1];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
        printf("kadet %s\n", kad_version());
        return EXIT_OK;
    }
    if (strcmp(a, "help") == 0) {
        if (argc < 3) {
            print_usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[2], "help") == 0) {
            fputs(help_usage, stdout);
            return EXIT_OK;
        }
        const struct cmd *c = find(argv[2]);
        if (!c)
            return unknown_command(argv[2]);
        cmd_print_usage(c);
        return EXIT_OK;
    }
    if (a[0] == '-') {
        static const struct option top[] = {
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {NULL, 0, NULL, 0},
        };
        const char *s = cli_suggest_option(a, top);
        if (s)
            fprintf(stderr, "kadet: unknown option '%s'; did you mean '--%s'?\n", a, s);
        else
            fprintf(stderr, "kadet: unknown option '%s'\n", a);
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const struct cmd *c = find(a);
    if (!c)
        return unknown_command(a);
    if (cmd_wants_help(c, argc - 1, argv + 1))
        return EXIT_OK;
    return c->run(argc - 1, argv + 1);
}
