/*
 * cmd_outputs.c - `kadet outputs test`: send a sample alert to each output given with --sink or
 * in a configuration file's [[sink]] tables, and report each outcome (kad_outputs_test).
 */
#include "cmd.h"
#include "kad.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

extern const struct cmd cmd_outputs;

#define MAX_SINKS 32

static void report(const char *name, int rc, const char *msg, void *ud)
{
    int *bad = ud;
    if (rc)
        (*bad)++;
    size_t nl = strlen(name);
    if (strncmp(msg, name, nl) == 0 && msg[nl] == ':' && msg[nl + 1] == ' ')
        msg += nl + 2; /* the reason names the output already */
    printf("%-4s %s: %s\n", rc ? "FAIL" : "ok", name, msg);
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"sink", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *sinks[MAX_SINKS];
    size_t nsinks = 0;
    const char *config = NULL;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (nsinks == MAX_SINKS)
                return cmd_usage_error(&cmd_outputs, "too many --sink (at most %d)", MAX_SINKS);
            sinks[nsinks++] = optarg;
            break;
        case 'c': config = optarg; break;
        case ':':
            return cmd_usage_error(&cmd_outputs, "option '%s' needs a value", argv[optind - 1]);
        default: return cmd_usage_error(&cmd_outputs, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cmd_usage_error(&cmd_outputs, "missing subcommand (test)");
    if (strcmp(argv[optind], "test") != 0)
        return cmd_usage_error(&cmd_outputs, "unknown subcommand '%s' (test)", argv[optind]);
    if (optind + 1 < argc) {
        /* options after the subcommand: `kadet outputs test --sink ...` */
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 1;
        while ((c = getopt_long(sub_argc, sub_argv, "+", longopts, NULL)) != -1) {
            switch (c) {
            case 's':
                if (nsinks == MAX_SINKS)
                    return cmd_usage_error(&cmd_outputs, "too many --sink (at most %d)", MAX_SINKS);
                sinks[nsinks++] = optarg;
                break;
            case 'c': config = optarg; break;
            case ':':
                return cmd_usage_error(&cmd_outputs, "option '%s' needs a value",
                                       sub_argv[optind - 1]);
            default:
                return cmd_usage_error(&cmd_outputs, "unknown option '%s'", sub_argv[optind - 1]);
            }
        }
        if (optind < sub_argc)
            return cmd_usage_error(&cmd_outputs, "unexpected argument '%s'", sub_argv[optind]);
    }
    if (!nsinks && !config)
        return cmd_usage_error(&cmd_outputs, "give --sink SPEC or --config FILE");
    kad_outputs_opts o = {.specs = sinks, .nspecs = nsinks, .config_path = config};
    kad_err err;
    kad_err_clear(&err);
    if (kad_outputs_check(&o, &err) != KAD_OK) {
        cmd_print_err(&err);
        return err.code == KAD_ENOTFOUND || err.code == KAD_EIO ? EXIT_RUNTIME : EXIT_USAGE;
    }
    int bad = 0;
    kad_outputs_test(&o, NULL, 0, report, &bad, &err);
    if (bad) {
        fprintf(stderr, "kadet: outputs test: %d output%s did not accept the test alert\n", bad,
                bad == 1 ? "" : "s");
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

const struct cmd cmd_outputs = {
    .name = "outputs",
    .summary = "check alert outputs: send a test alert to each sink",
    .usage = "usage: kadet outputs test [--sink SPEC]... [--config FILE]\n"
             "\n"
             "Send one sample alert (rule 'kadet outputs test', severity low, a new\n"
             "kibana.alert.uuid each time) to each output given with --sink or as a [[sink]]\n"
             "table of FILE (kadet.toml), one attempt each, ignoring the outputs' filters, and\n"
             "print one line per output: 'ok NAME: delivered' or 'FAIL NAME: reason' with the\n"
             "receiver's answer. No outbox and no state are used. Specs: docs/alerts.md.\n"
             "\n"
             "      --sink SPEC    TYPE:TARGET[,key=value...] (repeatable)\n"
             "      --config FILE  the [[sink]] tables of a kadet.toml\n"
             "\n"
             "Exit status: 0 every output accepted the alert, 1 usage or configuration error,\n"
             "2 some output failed.\n",
    .run = run,
};
