/*
 * cmd_preview.c - `kadet preview`: Elastic's scheduled executions of query and new_terms rules
 * replayed over documents (docs/preview.md), as Elastic's rule preview shows them. Options and
 * output here; the replay is libkad's kad_preview_run.
 */
#include "cmd.h"
#include "decodeopt.h"
#include "kad.h"
#include "rulesdir.h"
#include "suggest.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct cmd cmd_preview;

static void on_alert(const char *json, size_t len, void *ud)
{
    (void)ud;
    fwrite(json, 1, len, stdout);
    fputc('\n', stdout);
}

static void on_message(const char *text, void *ud)
{
    (void)ud;
    fprintf(stderr, "kadet preview: %s\n", text);
}

static void on_error(const kad_err *err, void *ud)
{
    (void)ud;
    cmd_print_err(err);
}

static int parse_time(const char *s, int64_t *ms)
{
    if (strcmp(s, "now") == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        return 0;
    }
    return kad_time_parse(s, strlen(s), ms) ? 0 : -1;
}

static int run(int argc, char **argv)
{
    const char *rules = NULL, *end = NULL, *only = NULL;
    kad_decode_opts clock = {0}; /* host metadata, --timestamp */
    const char *exceptions[64];
    size_t nexc = 0;
    kad_preview_opts po = {.invocations = 1};
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'r'},
        {"end", required_argument, NULL, 'e'},
        {"invocations", required_argument, NULL, 'n'},
        {"interval", required_argument, NULL, 'i'},
        {"schedule", required_argument, NULL, 'S'},
        {"exceptions", required_argument, NULL, 'x'},
        {"rule", required_argument, NULL, 'R'},
        {"host-metadata", no_argument, NULL, CLI_HOST_ON},
        {"no-host-metadata", no_argument, NULL, CLI_HOST_OFF},
        {"host-name", required_argument, NULL, CLI_HOST_NAME},
        {"host-os-type", required_argument, NULL, CLI_HOST_OS_TYPE},
        {"timestamp", required_argument, NULL, CLI_DEC_TIMESTAMP},
        {"in-memory", no_argument, NULL, 'M'},
        {"reorder-window", required_argument, NULL, 'W'},
        {"memory-stats", no_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c, status = EXIT_OK;
    bool stats = false;
    while ((c = getopt_long(argc, argv, "+r:", longopts, NULL)) != -1) {
        int dc = cli_decode_opt(&clock, c, optarg);
        if (dc < 0) {
            return cmd_usage_error(&cmd_preview, "%s, not '%s'", cli_decode_usage(c), optarg);
        }
        if (dc > 0 && clock.timestamp == KAD_TS_RECEIVED) {
            return cmd_usage_error(&cmd_preview, "--timestamp: preview replays archives; use "
                                                 "'stage' or 'request'");
        }
        if (dc > 0)
            continue;
        switch (c) {
        case 'r': rules = optarg; break;
        case 'e': end = optarg; break;
        case 'R': only = optarg; break;
        case 'M': po.in_memory = 1; break;
        case 'T': stats = true; break;
        case 'W': {
            kad_err err;
            if (kad_interval_parse(optarg, &po.reorder_ms, &err) != KAD_OK || po.reorder_ms <= 0)
                return cmd_usage_error(&cmd_preview, "--reorder-window: bad duration '%s' (e.g. 1h)",
                                       optarg);
            break;
        }
        case 'x':
            if (nexc == sizeof(exceptions) / sizeof(exceptions[0]))
                return cmd_usage_error(&cmd_preview, "too many --exceptions");
            exceptions[nexc++] = optarg;
            break;
        case 'n': {
            char *e;
            unsigned long v = strtoul(optarg, &e, 10);
            if (*e || v == 0 || v > 1000000) {
                return cmd_usage_error(&cmd_preview,
                                       "--invocations needs a number from 1 to "
                                       "1000000, not '%s'",
                                       optarg);
            }
            po.invocations = (uint32_t)v;
            break;
        }
        case 'S': /* semantics.md's "Schedule replay": replay over event time */
            end = "auto";
            /* fall through */
        case 'i': {
            kad_err err;
            if (kad_interval_parse(optarg, &po.interval_ms, &err) != KAD_OK ||
                po.interval_ms <= 0) {
                return cmd_usage_error(&cmd_preview, "%s: bad duration '%s' (e.g. 5m)",
                                       c == 'S' ? "--schedule" : "--interval", optarg);
            }
            break;
        }
        case ':':
            return cmd_usage_error(&cmd_preview, "option '%s' needs an argument", argv[optind - 1]);
        default: return cmd_unknown_option(&cmd_preview, longopts, argv[optind - 1]);
        }
    }
    if (!rules) {
        return cmd_usage_error(&cmd_preview, "--rules is required");
    }
    /* no --end (or --end auto): replay over event time (semantics.md "Schedule replay") */
    bool auto_end = !end || strcmp(end, "auto") == 0;
    if (auto_end && po.invocations != 1) {
        return cmd_usage_error(&cmd_preview, "--invocations needs --end TIME");
    }
    po.end_ms = KAD_TIME_NONE;
    if (!auto_end && parse_time(end, &po.end_ms) != 0) {
        return cmd_usage_error(&cmd_preview, "--end: not a date-time: '%s'", end);
    }

    /* rules and exceptions */
    if (!cli_rules_path_ok("preview", "--rules", rules))
        return EXIT_USAGE;
    kad_rules *rs = kad_rules_new();
    int lrc = kad_rules_load(rs, rules, NULL);
    for (size_t i = 0; i < nexc && lrc == KAD_OK; i++)
        lrc = kad_rules_load_exceptions(rs, exceptions[i], NULL);
    for (size_t i = 0; i < kad_rules_diag_count(rs); i++) {
        char msg[1024];
        kad_rules_diag_format(rs, i, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
    }
    if (lrc != KAD_OK) {
        kad_rules_unref(rs);
        return EXIT_USAGE;
    }
    po.rules = rs;
    po.rule = only;
    po.decode = clock;
    po.on_alert = on_alert;
    po.on_message = on_message;
    po.on_error = on_error;
    kad_preview_result res;
    kad_err err;
    kad_err_clear(&err);
    const char *const *files = optind < argc ? (const char *const *)argv + optind : NULL;
    if (kad_preview_run(&po, files, &res, &err) == KAD_ENOTFOUND) {
        kad_rules_unref(rs);
        return cmd_usage_error(&cmd_preview, "no rule '%s' in %s", only, rules);
    }
    if (res.input_errors || res.rule_errors)
        status = EXIT_RUNTIME;
    if (fflush(stdout) != 0) {
        fprintf(stderr, "kadet preview: write error on standard output\n");
        status = EXIT_RUNTIME;
    }
    fprintf(
        stderr,
        "kadet preview: %llu document%s (%llu matching a query), %llu execution%s, %llu alert%s\n",
        (unsigned long long)res.events, res.events == 1 ? "" : "s", (unsigned long long)res.kept,
        (unsigned long long)res.executions, res.executions == 1 ? "" : "s",
        (unsigned long long)res.alerts, res.alerts == 1 ? "" : "s");
    if (stats)
        fprintf(stderr, "kadet preview: %s, at most %llu documents held\n",
                res.streamed ? "streamed" : "in memory", (unsigned long long)res.held);
    if (res.skipped) {
        fprintf(stderr, "kadet preview: %llu record%s skipped\n", (unsigned long long)res.skipped,
                res.skipped == 1 ? "" : "s");
        status = EXIT_RUNTIME;
    }
    if (res.exec_errors)
        status = EXIT_RUNTIME;
    kad_rules_unref(rs);
    return status;
}

const struct cmd cmd_preview = {
    .name = "preview",
    .summary = "replay Elastic's scheduled rule executions over documents (rule preview)",
    .usage =
        "usage: kadet preview --rules PATH [--end TIME|auto] [--invocations N] [--interval DUR]\n"
        "                     [--schedule DUR]\n"
        "                     [--exceptions FILE]... [--rule ID] [--no-host-metadata]\n"
        "                     [--host-name NAME] [--host-os-type TYPE]\n"
        "                     [--timestamp stage|request] [--reorder-window DUR]\n"
        "                     [--in-memory] [--memory-stats] [FILE...|-]\n"
        "\n"
        "Run the query, new_terms and EQL event-query rules of PATH (a .toml file or a\n"
        "directory) as Elastic's scheduler would: N executions at END - (N-1)*INTERVAL, ...,\n"
        "END, each over the rule's own look-back (`from`) and, for new_terms, its history\n"
        "window. Alerts are written to\n"
        "standard output as NDJSON, in the format of `kadet scan`, with @timestamp = the\n"
        "execution time; Elastic's warnings go to standard error. Input: raw Kubernetes audit\n"
        "events or ECS documents, as `kadet scan` reads them (standard input when no FILE).\n"
        "\n"
        "  -r, --rules PATH    rule file or directory (required)\n"
        "  --end TIME          time of the last execution, RFC 3339 or 'now'; 'auto' (the\n"
        "                      default): every execution over the documents' event times,\n"
        "                      ticks aligned to the interval, per rule\n"
        "  --invocations N     number of executions (default 1; needs --end TIME)\n"
        "  --interval DUR      time between executions, e.g. 5m (default: each rule's interval)\n"
        "  --schedule DUR      same as --interval DUR --end auto\n"
        "  --exceptions FILE   exception lists to apply (repeatable)\n"
        "  --rule ID           run only this rule (rule_id or name)\n"
        "  --no-host-metadata  do not add this machine's host.* fields to raw audit events\n"
        "                      (added by default, as Elastic Agent and `kadet scan` do;\n"
        "                      --host-metadata is accepted)\n"
        "  --host-name NAME    host.name and host.hostname of raw audit events\n"
        "  --host-os-type TYPE host.os.type of raw audit events (default: from uname)\n"
        "  --timestamp SRC     @timestamp of raw audit events: stage (stageTimestamp, the\n"
        "                      default) or request (requestReceivedTimestamp)\n"
        "  --reorder-window DUR how far back in event time a document may come after a later\n"
        "                      one and still be streamed (default 1h)\n"
        "  --in-memory         hold every matching document instead of streaming\n"
        "  --memory-stats      say whether the run streamed and how many documents it held\n"
        "\n"
        "Exit status: 0 success, 1 usage or rule errors, 2 unreadable or skipped input or a\n"
        "failed execution. See docs/preview.md.\n",
    .run = run,
};
