/*
 * scan_args.c - `kadet scan`'s options: parsed and checked into struct scan (scan.h); the usage
 * text is cmd_scan in cmd_scan.c.
 */
#include "scan.h"

#include "decodeopt.h"
#include "rulesdir.h"
#include "scan_follow.h"
#include "statepath.h"
#include "suggest.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ============================================================================================ */
/* Command                                                                                      */
/* ============================================================================================ */

enum {
    OPT_RULES = 256,
    OPT_EXC,
    OPT_STATE,
    OPT_NOSTATE,
    OPT_STATE_INIT,
    OPT_STATE_PASSWORD_FILE,
    OPT_LEARN,
    OPT_FORMAT,
    OPT_OUTPUT,
    OPT_TABLE,
    OPT_NOW,
    OPT_FUTURE,
    OPT_BATCH,
    OPT_FROMSTART,
    OPT_PROGRESS,
    OPT_NOPROGRESS,
    OPT_NOBASELINE,
    OPT_LISTEN,
    OPT_LISTEN_PATH,
    OPT_MAX_BODY,
    OPT_MAX_RECORD,
    OPT_LISTEN_LIMIT,
    OPT_SINK,
    OPT_OUTBOX,
    OPT_SINK_TIMEOUT,
    OPT_FOLLOW,
    OPT_GRACE,
    OPT_THREADS,
};

static const struct option longopts[] = {
    {"rules", required_argument, NULL, OPT_RULES},
    {"exceptions", required_argument, NULL, OPT_EXC},
    {"state", required_argument, NULL, OPT_STATE},
    {"no-state", no_argument, NULL, OPT_NOSTATE},
    {"state-init", no_argument, NULL, OPT_STATE_INIT},
    {"state-password-file", required_argument, NULL, OPT_STATE_PASSWORD_FILE},
    {"learn", no_argument, NULL, OPT_LEARN},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"table", no_argument, NULL, OPT_TABLE},
    {"now", required_argument, NULL, OPT_NOW},
    {"future-tolerance", required_argument, NULL, OPT_FUTURE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"from-start", no_argument, NULL, OPT_FROMSTART},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NOPROGRESS},
    {"no-baseline", no_argument, NULL, OPT_NOBASELINE},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"listen-path", required_argument, NULL, OPT_LISTEN_PATH},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"max-record", required_argument, NULL, OPT_MAX_RECORD},
    {"max-inflight", required_argument, NULL, OPT_LISTEN_LIMIT},
    {"max-connections", required_argument, NULL, OPT_LISTEN_LIMIT},
    {"max-per-ip", required_argument, NULL, OPT_LISTEN_LIMIT},
    {"timeout", required_argument, NULL, OPT_LISTEN_LIMIT},
    {"header-timeout", required_argument, NULL, OPT_LISTEN_LIMIT},
    {"body-timeout", required_argument, NULL, OPT_LISTEN_LIMIT},
    {"sink", required_argument, NULL, OPT_SINK},
    {"outbox", required_argument, NULL, OPT_OUTBOX},
    {"sink-timeout", required_argument, NULL, OPT_SINK_TIMEOUT},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"rotate-grace", required_argument, NULL, OPT_GRACE},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"host-metadata", no_argument, NULL, CLI_HOST_ON},
    {"no-host-metadata", no_argument, NULL, CLI_HOST_OFF},
    {"host-name", required_argument, NULL, CLI_HOST_NAME},
    {"host-os-type", required_argument, NULL, CLI_HOST_OS_TYPE},
    {"ingested", required_argument, NULL, CLI_DEC_INGESTED},
    {"timestamp", required_argument, NULL, CLI_DEC_TIMESTAMP},
    {NULL, 0, NULL, 0},
};

/* True when the FILE arguments read stdin (none, or "-") and stdin is a pipe or a socket. */
static bool stdin_is_live(int nfiles, char **files)
{
    bool reads_stdin = nfiles == 0;
    for (int i = 0; i < nfiles; i++)
        reads_stdin |= strcmp(files[i], "-") == 0;
    struct stat st;
    return reads_stdin && fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

int scan_parse_args(struct scan *s, int argc, char **argv)
{
    opterr = 0;
    optind = 1;
    int c, li = 0;
    while ((c = getopt_long(argc, argv, "+r:s:o:", longopts, &li)) != -1) {
        int dc = cli_decode_opt(&s->dec, c, optarg);
        if (dc < 0)
            return cmd_usage_error(&cmd_scan, "%s, not '%s'", cli_decode_usage(c), optarg);
        if (dc > 0) {
            s->ingested_set |= c == CLI_DEC_INGESTED;
            continue;
        }
        switch (c) {
        case 'r':
        case OPT_RULES:
            if (s->nrules == MAX_PATHS)
                return cmd_usage_error(&cmd_scan, "too many --rules");
            s->rules[s->nrules++] = optarg;
            break;
        case OPT_EXC:
            if (s->nexceptions == MAX_PATHS)
                return cmd_usage_error(&cmd_scan, "too many --exceptions");
            s->exceptions[s->nexceptions++] = optarg;
            break;
        case 's':
        case OPT_STATE:
            s->state_path = optarg; /* the last of --state/--no-state wins */
            s->no_state = false;
            break;
        case OPT_STATE_INIT: s->state_init = true; break;
        case OPT_STATE_PASSWORD_FILE: s->password_file = optarg; break;
        case OPT_NOSTATE:
            s->no_state = true;
            s->state_path = NULL;
            break;
        case OPT_LEARN: s->learn = true; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "auto") == 0)
                s->format = KAD_FORMAT_AUTO;
            else if (strcmp(optarg, "audit") == 0)
                s->format = KAD_FORMAT_AUDIT;
            else if (strcmp(optarg, "ecs") == 0)
                s->format = KAD_FORMAT_ECS;
            else
                return cmd_usage_error(&cmd_scan, "--format: expected auto, audit or ecs, got '%s'",
                                       optarg);
            break;
        case 'o':
        case OPT_OUTPUT: s->output = optarg; break;
        case OPT_TABLE: s->table = true; break;
        case OPT_NOW:
            if (!kad_time_parse(optarg, strlen(optarg), &s->now_ms))
                return cmd_usage_error(&cmd_scan, "--now: not a date-time: '%s'", optarg);
            break;
        case OPT_FUTURE:
            if (strcmp(optarg, "off") == 0) {
                s->future_ms = -1;
            } else if (kad_duration_parse(optarg, &s->future_ms, NULL) != KAD_OK ||
                       s->future_ms <= 0) {
                return cmd_usage_error(&cmd_scan,
                                       "--future-tolerance: expected a duration (e.g. 15m) or "
                                       "'off', got '%s'",
                                       optarg);
            }
            break;
        case OPT_BATCH: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1)
                return cmd_usage_error(&cmd_scan, "--batch: expected a positive number");
            s->batch = v;
            break;
        }
        case OPT_THREADS: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (*end || errno || v < 1 || v > 64)
                return cmd_usage_error(&cmd_scan,
                                       "--threads: expected a number from 1 to 64, not "
                                       "'%s'",
                                       optarg);
            s->threads = (int)v;
            break;
        }
        case OPT_FROMSTART: s->from_start = true; break;
        case OPT_PROGRESS: s->progress = 1; break;
        case OPT_NOPROGRESS: s->progress = 0; break;
        case OPT_NOBASELINE: s->no_baseline = true; break;
        case OPT_LISTEN: {
            char msg[512];
            if (!cli_listen_addr_ok(optarg, msg, sizeof(msg)))
                return cmd_usage_error(&cmd_scan, "%s", msg);
            s->listen = optarg;
            break;
        }
        case OPT_LISTEN_PATH:
            if (optarg[0] != '/')
                return cmd_usage_error(&cmd_scan,
                                       "--listen-path: expected a path starting "
                                       "with '/', got '%s'",
                                       optarg);
            s->listen_path = optarg;
            break;
        case OPT_MAX_BODY:
            if (!cmd_parse_bytes(optarg, &s->max_body))
                return cmd_usage_error(&cmd_scan,
                                       "--max-body: expected a positive number of bytes "
                                       "(suffix K, M or G allowed), got '%s'",
                                       optarg);
            break;
        case OPT_MAX_RECORD:
            if (!cmd_parse_bytes(optarg, &s->dec.max_record))
                return cmd_usage_error(&cmd_scan,
                                       "--max-record: expected a positive number of bytes "
                                       "(suffix K, M or G allowed), got '%s'",
                                       optarg);
            break;
        case OPT_LISTEN_LIMIT: {
            char msg[512];
            if (!cli_listen_limit(&s->limits, longopts[li].name, optarg, msg, sizeof(msg)))
                return cmd_usage_error(&cmd_scan, "%s", msg);
            s->limits_set = true;
            break;
        }
        case OPT_SINK:
            if (s->nsinks == MAX_SINKS)
                return cmd_usage_error(&cmd_scan, "too many --sink (at most %d)", MAX_SINKS);
            s->sinks[s->nsinks++] = optarg;
            break;
        case OPT_OUTBOX: s->outbox = optarg; break;
        case OPT_SINK_TIMEOUT:
            if (strcmp(optarg, "0") == 0) {
                s->sink_timeout = 0;
            } else if (kad_duration_parse(optarg, &s->sink_timeout, NULL) != KAD_OK ||
                       s->sink_timeout <= 0 || s->sink_timeout > INT_MAX) {
                return cmd_usage_error(&cmd_scan,
                                       "--sink-timeout: expected a duration (e.g. 30s) or 0, "
                                       "got '%s'",
                                       optarg);
            }
            break;
        case OPT_FOLLOW: s->follow = true; break;
        case OPT_GRACE: {
            int64_t ms;
            if (kad_duration_parse(optarg, &ms, NULL) != KAD_OK || ms < 0 || ms > 3600000)
                return cmd_usage_error(&cmd_scan,
                                       "--rotate-grace: expected a duration up to 1h (e.g. 2s), "
                                       "got '%s'",
                                       optarg);
            s->grace_ms = ms ? (int)ms : 1;
            break;
        }
        case ':': return cmd_usage_error(&cmd_scan, "option '%s' needs a value", argv[optind - 1]);
        default: return cmd_unknown_option(&cmd_scan, longopts, argv[optind - 1]);
        }
    }
    if (s->state_init && s->no_state)
        return cmd_usage_error(&cmd_scan, "--state-init starts a state file; not with --no-state");
    if (s->password_file && !cli_state_is_url(s->state_path))
        return cmd_usage_error(&cmd_scan, "--state-password-file is for --state redis://...");
    if (s->table && s->output)
        return cmd_usage_error(&cmd_scan, "--table writes to stdout; it excludes --output");
    if (s->listen && optind < argc)
        return cmd_usage_error(&cmd_scan, "--listen receives events over HTTP; it takes no "
                                          "FILE arguments");
    if (!s->nsinks && s->outbox)
        return cmd_usage_error(&cmd_scan, "--outbox needs --sink");
    if (s->nsinks) {
        kad_outputs_opts oo = {.specs = s->sinks, .nspecs = s->nsinks};
        kad_err err;
        kad_err_clear(&err);
        if (kad_outputs_check(&oo, &err) != KAD_OK) {
            cmd_print_err(&err);
            return cmd_usage_error(&cmd_scan, "bad --sink (see above)");
        }
    }
    if (s->follow && (s->listen || optind == argc))
        return cmd_usage_error(&cmd_scan, "--follow follows FILE arguments (not with --listen)");
    for (int i = optind; s->follow && i < argc; i++)
        if (strcmp(argv[i], "-") == 0)
            return cmd_usage_error(&cmd_scan, "--follow follows files; stdin is streamed "
                                              "without it");
    if (!s->follow && s->grace_ms)
        return cmd_usage_error(&cmd_scan, "--rotate-grace needs --follow");
    /* live input (--follow, --listen, stdin from a pipe or socket): event.ingested is the read
       time, as Elastic's ingest pipeline stamps it; archives replayed through a pipe want
       --ingested none (docs/cli.md) */
    if (!s->ingested_set && (s->follow || s->listen || stdin_is_live(argc - optind, argv + optind)))
        s->dec.ingested = KAD_INGESTED_NOW;
    if (!s->listen && (s->listen_path || s->max_body))
        return cmd_usage_error(&cmd_scan, "--listen-path and --max-body need --listen");
    if (!s->listen && s->limits_set)
        return cmd_usage_error(&cmd_scan, "--max-inflight, --max-connections, --max-per-ip and "
                                          "the timeouts need --listen");
    return -1;
}
