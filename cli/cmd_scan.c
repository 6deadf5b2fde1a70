/*
 * cmd_scan.c - `kadet scan`: run the loaded rules over audit logs (files, .gz, stdin, or the
 * audit webhook with --listen), write alerts as NDJSON (or a table) and a summary per rule.
 *
 * The engine and its policy (input positions and resume keys, batches, the commit order and
 * fsync, pruning, the webhook's per-request commit, truncating --output on resume) are
 * libkad's kad_engine (include/kad.h, docs/internals/engine.md). This file parses options,
 * calls the API and formats: the table, the progress bar, the summary, the webhook answers.
 */
#include "cmd.h"
#include "decodeopt.h"
#include "kad.h"
#include "listen.h"
#include "rulesdir.h"
#include "scan_follow.h"
#include "scan_report.h"
#include "statepath.h"
#include "suggest.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const struct cmd cmd_scan;

#define MAX_PATHS 64
#define MAX_SINKS 32

struct scan {
    /* options */
    const char *rules[MAX_PATHS];
    size_t nrules;
    const char *exceptions[MAX_PATHS];
    size_t nexceptions;
    const char *state_path;
    bool no_state;
    bool state_init;           /* --state-init: an existing empty state file starts a new state */
    const char *password_file; /* --state-password-file (redis://) */
    bool learn;
    bool table;
    bool from_start;
    bool no_baseline;
    kad_decode_opts dec; /* host metadata on by default (issue 3), clocks */
    int progress;        /* -1 auto, 0 off, 1 on */
    int format;          /* KAD_FORMAT_* */
    const char *output;
    int64_t now_ms;
    int64_t future_ms; /* --future-tolerance (0: the library's default, -1: off) */
    long batch;
    const char *listen; /* --listen HOST:PORT: the audit webhook receiver instead of FILEs */
    const char *listen_path;
    struct cli_listen_limits limits; /* --max-connections & co. (serve/srv_listen.c) */
    bool limits_set;
    size_t max_body;
    const char *sinks[MAX_SINKS]; /* --sink specs */
    size_t nsinks;
    const char *outbox;        /* --outbox FILE (default: STATE.outbox) */
    int64_t sink_timeout;      /* --sink-timeout (ms) */
    char outbox_tmp[PATH_MAX]; /* --no-state without --outbox: a temporary outbox */
    char state_file[PATH_MAX];
    kad_outputs *outs;
    bool follow;       /* --follow: FILEs are live logs, followed until SIGINT/SIGTERM */
    bool ingested_set; /* --ingested given (else live input is stamped: see stdin_is_live) */
    int grace_ms;      /* --rotate-grace */
    /* run */
    struct scan_view v; /* engine, rules, progress, exit status: what scan_report.c reads */
    kad_state *st;
    int missing; /* inputs that could not be opened */
};

/* ============================================================================================ */
/* Setup and summary                                                                            */
/* ============================================================================================ */

static int load_rules(struct scan *s)
{
    s->v.rs = kad_rules_new();
    if (s->nrules == 0) {
        /* the same search as `kadet rules` (cli/rulesdir.c, docs/rules.md) */
        const char *d = cli_rules_dir();
        s->rules[s->nrules++] = d;
    }
    for (size_t i = 0; i < s->nrules; i++)
        if (!cli_rules_path_ok("scan", "--rules", s->rules[i]))
            return EXIT_USAGE;
    for (size_t i = 0; i < s->nexceptions; i++)
        if (!cli_rules_path_ok("scan", "--exceptions", s->exceptions[i]))
            return EXIT_USAGE;
    int bad = 0;
    for (size_t i = 0; i < s->nrules; i++)
        bad |= kad_rules_load(s->v.rs, s->rules[i], NULL) != KAD_OK;
    for (size_t i = 0; i < s->nexceptions; i++)
        bad |= kad_rules_load_exceptions(s->v.rs, s->exceptions[i], NULL) != KAD_OK;
    scan_print_diags(s->v.rs);
    if (bad) {
        fprintf(stderr, "kadet: scan: rules have errors (see above); nothing scanned\n");
        return EXIT_USAGE;
    }
    if (kad_rules_count(s->v.rs) == 0) {
        fprintf(stderr, "kadet: scan: no rules found in the given paths\n");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static void log_sink(int lvl, const char *msg, void *ud)
{
    (void)ud;
    fprintf(stderr, "kadet: %s%s\n",
            lvl == KAD_LOG_ERROR  ? "error: "
            : lvl == KAD_LOG_WARN ? "warning: "
                                  : "",
            msg);
}

/* Open the state (default: the same file as `kadet state`) and lock it for this scan. */
static int open_state(struct scan *s)
{
    char sbuf[PATH_MAX];
    const char *spath = s->state_path;
    if (!s->no_state && !spath) {
        /* cli/statepath.c: XDG, else HOME, else ./ */
        spath = cli_default_state_path(sbuf, sizeof(sbuf));
        if (!spath) {
            fprintf(stderr, "kadet: scan: the default state path is too long: give --state "
                            "FILE or --no-state\n");
            return EXIT_USAGE;
        }
    }
    if (spath)
        snprintf(s->state_file, sizeof(s->state_file), "%s", spath);
    kad_err err;
    kad_err_clear(&err);
    kad_state_opts so = {.mode = s->no_state ? KAD_STATE_MEM : KAD_STATE_RW, .init = s->state_init};
    char pass[1024];
    if (s->password_file) {
        if (cli_read_password_file("kadet scan", s->password_file, pass, sizeof(pass)) != 0)
            return EXIT_RUNTIME;
        so.password = pass;
    }
    int orc = kad_state_open(&s->st, spath, &so, &err);
    explicit_bzero(pass, sizeof(pass));
    if (orc != KAD_OK) {
        scan_print_err(&err);
        return EXIT_RUNTIME;
    }
    if (!s->no_state && kad_state_lock(s->st, &err) != KAD_OK) {
        fprintf(stderr, "kadet: %s\n", err.msg); /* one scan per state file */
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* --sink: the outbox is STATE.outbox (one scan per state file holds it), --outbox FILE, or
   with --no-state a temporary file removed at exit. */
static int open_outputs(struct scan *s)
{
    if (!s->nsinks)
        return EXIT_OK;
    char path[PATH_MAX];
    const char *box = s->outbox;
    if (!box && s->state_file[0] && strstr(s->state_file, "://") == NULL) {
        if (snprintf(path, sizeof(path), "%s.outbox", s->state_file) >= (int)sizeof(path)) {
            fprintf(stderr, "kadet: scan: the outbox path is too long: give --outbox FILE\n");
            return EXIT_USAGE;
        }
        box = path;
    }
    if (!box) {
        const char *tmp = getenv("TMPDIR");
        snprintf(s->outbox_tmp, sizeof(s->outbox_tmp), "%s/kadet-outbox-XXXXXX",
                 tmp && tmp[0] ? tmp : "/tmp");
        int fd = mkstemp(s->outbox_tmp);
        if (fd < 0) {
            fprintf(stderr, "kadet: scan: cannot create a temporary outbox: %s\n", strerror(errno));
            s->outbox_tmp[0] = 0;
            return EXIT_RUNTIME;
        }
        close(fd);
        box = s->outbox_tmp;
    }
    kad_outputs_opts oo = {.outbox_path = box, .specs = s->sinks, .nspecs = s->nsinks};
    kad_err err;
    kad_err_clear(&err);
    if (kad_outputs_new(&s->outs, &oo, &err) != KAD_OK) {
        scan_print_err(&err);
        return err.code == KAD_ESYNTAX || err.code == KAD_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* Deliver what was committed, bounded by --sink-timeout; what stays pending is a warning and
   exit status 2 (it stays in the outbox for the next run). */
static void drain_outputs(struct scan *s)
{
    if (!s->outs)
        return;
    int64_t left = kad_outputs_drain(s->outs, (int)s->sink_timeout);
    for (size_t i = 0; i < kad_outputs_count(s->outs); i++) {
        kad_output_stats st;
        if (kad_outputs_stats(s->outs, i, &st) != KAD_OK)
            continue;
        if (st.failed)
            fprintf(stderr,
                    "kadet: warning: output %s: %llu alert%s written to the dead-letter file "
                    "(%s)\n",
                    st.name, (unsigned long long)st.failed, st.failed == 1 ? "" : "s",
                    st.last_error[0] ? st.last_error : "see its reason there");
    }
    if (left > 0) {
        fprintf(stderr,
                "kadet: warning: %lld alert deliver%s still pending after --sink-timeout%s%s\n",
                (long long)left, left == 1 ? "y" : "ies",
                s->outbox_tmp[0] ? ": lost with the temporary outbox (give --outbox FILE)"
                                 : ": kept in the outbox for the next run",
                "");
        for (size_t i = 0; i < kad_outputs_count(s->outs); i++) {
            kad_output_stats st;
            if (kad_outputs_stats(s->outs, i, &st) == KAD_OK && st.last_error[0])
                fprintf(stderr, "kadet: output %s: %s\n", st.name, st.last_error);
        }
        s->v.rc = EXIT_RUNTIME;
    }
}

/* One FILE (or stdin); false when the scan must stop (a state, output or engine failure). */
static bool scan_one(struct scan *s, const char *path)
{
    struct stat sb;
    bool regular = strcmp(path, "-") != 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    kad_err err;
    kad_err_clear(&err);
    int rc = kad_engine_scan(s->v.e, path, &err);
    if (rc == KAD_ENOTFOUND && !kad_engine_failed(s->v.e)) {
        fprintf(stderr, "kadet: %s\n", err.msg); /* other inputs go on */
        s->v.rc = EXIT_RUNTIME;
        s->missing++;
        return true;
    }
    if (rc != KAD_OK) {
        scan_print_err(&err);
        s->v.rc = EXIT_RUNTIME;
    }
    if (regular) {
        kad_engine_stats c;
        kad_engine_stats_get(s->v.e, &c);
        s->v.done_bytes += sb.st_size - c.input_base;
    }
    return !kad_engine_failed(s->v.e);
}

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

static int parse_args(struct scan *s, int argc, char **argv)
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

/* --listen: SIGHUP reopens --output between requests (logrotate's `create` rotation) */
static void listen_hup(void *ctx, bool *stop)
{
    struct scan_view *v = ctx;
    kad_err err;
    kad_err_clear(&err);
    if (kad_engine_reopen_output(v->e, &err) != KAD_OK) {
        scan_print_err(&err);
        if (kad_engine_failed(v->e)) {
            v->rc = EXIT_RUNTIME;
            *stop = true;
        }
    }
}

static int run(int argc, char **argv)
{
    struct scan s;
    memset(&s, 0, sizeof(s));
    s.progress = -1;
    s.now_ms = KAD_TIME_NONE;
    s.batch = 50000;
    s.sink_timeout = 30000;
    s.v.rc = EXIT_OK;
    int prc = parse_args(&s, argc, argv);
    if (prc >= 0)
        return prc;
    kad_log_set_sink(log_sink, NULL, KAD_LOG_WARN);
    /* a consumer that goes away (`| head`) makes the write fail with EPIPE instead of killing
       kadet silently: the engine then stops with a message and commits nothing it could not
       write (exit 2; docs/security.md) */
    signal(SIGPIPE, SIG_IGN);

    int code = load_rules(&s);
    if (code == EXIT_OK)
        code = open_state(&s);
    if (code == EXIT_OK)
        code = open_outputs(&s);
    if (code != EXIT_OK) {
        kad_outputs_free(s.outs);
        if (s.outbox_tmp[0])
            kad_outbox_remove(s.outbox_tmp);
        kad_state_close(s.st);
        kad_rules_unref(s.v.rs);
        return code;
    }
    const char *stdin_only[] = {"-"};
    char **inputs = argv + optind;
    int ninputs = argc - optind;
    if (ninputs == 0) {
        inputs = (char **)stdin_only;
        ninputs = 1;
    }
    for (int i = 0; i < ninputs; i++) {
        struct stat sb;
        if (strcmp(inputs[i], "-") != 0 && stat(inputs[i], &sb) == 0 && S_ISREG(sb.st_mode))
            s.v.total_bytes += sb.st_size;
    }
    s.v.show_progress =
        !s.listen && !s.follow &&
        (s.progress == 1 || (s.progress == -1 && isatty(2) && s.v.total_bytes > (32 << 20)));
    kad_engine_opts o = {
        .rules = s.v.rs,
        .state = s.st,
        .decode = s.dec,
        .format = s.format,
        .learn = s.learn,
        .no_baseline = s.no_baseline,
        .now_ms = s.now_ms,
        .future_ms = s.future_ms,
        .batch = s.batch,
        .from_start = s.from_start,
        .output_path = s.output,
        /* with --sink, alerts go to the sinks (add --sink stdout to see them) */
        .output_fd = s.nsinks && !s.table ? -1 : 1,
        .on_alert = s.table ? scan_table_alert : NULL,
        .on_record = s.v.show_progress ? scan_on_record : NULL, /* no call per record else */
        .ud = &s.v,
        .outputs = s.outs,
    };
    s.v.learn = s.learn;
    s.v.no_host = s.dec.no_host;
    s.v.format = s.format;
    kad_err err;
    kad_err_clear(&err);
    if (kad_engine_new(&s.v.e, &o, &err) != KAD_OK) {
        scan_print_err(&err);
        s.v.rc = EXIT_RUNTIME;
        goto out;
    }
    scan_notes(&s.v);
    if (s.table && !s.learn)
        printf("%-20s %-7s %-44s %s\n", "event time (UTC)", "sev", "user", "new terms / rule");
    fflush(stdout);

    s.v.t0 = scan_now();
    if (s.listen) {
        s.v.show_progress = false;
        s.v.last_flush = s.v.t0;
        struct cli_listen_opts lo = {
            .addr = s.listen,
            .path = s.listen_path,
            .max_body = s.max_body,
            .max_record = s.dec.max_record,
            .limits = s.limits,
            .banner = "kadet scan",
            .on_body = scan_on_body,
            .on_hup = listen_hup,
            .ctx = &s.v,
        };
        if (cli_listen_run(&lo) != EXIT_OK && !kad_engine_failed(s.v.e)) {
            s.v.rc = EXIT_RUNTIME; /* could not bind (reason printed): nothing was received */
            goto out;
        }
        ninputs = 0;
    }
    if (s.follow) {
        scan_follow_run(&s.v, inputs, ninputs, s.grace_ms);
        ninputs = 0;
    }
    for (int i = 0; i < ninputs; i++)
        if (!scan_one(&s, inputs[i]))
            break;
    scan_progress(&s.v, true);
    /* the inputs ended: ES|QL windows and trailing EQL windows that closed by now report */
    if (!kad_engine_failed(s.v.e) && kad_engine_flush(s.v.e, KAD_TIME_NONE, &err) != KAD_OK)
        scan_print_err(&err);
    if (!kad_engine_failed(s.v.e) && kad_engine_commit(s.v.e, &err) != KAD_OK) {
        scan_print_err(&err);
        s.v.rc = EXIT_RUNTIME;
    }
    kad_engine_log_flush(s.v.e);
    if (ninputs == 0 || s.missing < ninputs) /* no table of zeros when no input opened */
        scan_summary(&s.v, scan_now() - s.v.t0);
    drain_outputs(&s); /* after the summary: its throughput is detection's alone */
    kad_engine_stats c;
    kad_engine_stats_get(s.v.e, &c);
    if (s.listen && c.refused)
        fprintf(stderr, "kadet scan: %llu requests refused (not JSON)\n",
                (unsigned long long)c.refused);
    if (kad_state_shared(s.st)) /* docs/state-redis.md: the cost of sharing */
        fprintf(stderr, "state: %llu round trips to the server (%.1f per 1,000 events)\n",
                (unsigned long long)kad_state_round_trips(s.st),
                c.events ? 1000.0 * (double)kad_state_round_trips(s.st) / (double)c.events : 0.0);
    /* --listen: skipped records were answered and reported per request; only a state or
       output failure makes the exit status 2 */
    if (c.skipped && s.v.rc == EXIT_OK && !s.listen && !s.follow)
        s.v.rc = EXIT_RUNTIME;
out:
    kad_engine_free(s.v.e);
    kad_outputs_free(s.outs);
    if (s.outbox_tmp[0])
        kad_outbox_remove(s.outbox_tmp); /* with its -wal, -shm and document segments */
    kad_state_close(s.st);
    kad_rules_unref(s.v.rs);
    return s.v.rc;
}

const struct cmd cmd_scan = {
    .name = "scan",
    .summary = "run the rules over audit logs: alerts to stdout, state kept across runs",
    .usage =
        "usage: kadet scan [--rules PATH]... [--exceptions FILE]...\n"
        "                  [--state FILE|URL [--state-init] | --no-state]\n"
        "                  [--learn] [--format auto|audit|ecs] [--output FILE | --table]\n"
        "                  [--now TIME] [--batch N] [--from-start] [--no-baseline]\n"
        "                  [--no-host-metadata] [--host-name NAME] [--host-os-type TYPE]\n"
        "                  [--ingested now|none] [--timestamp stage|request|received]\n"
        "                  [--max-record BYTES] [--progress | --no-progress]\n"
        "                  [--sink SPEC]... [--outbox FILE] [--sink-timeout DUR]\n"
        "                  [FILE...|-]\n"
        "       kadet scan --listen HOST:PORT [--listen-path PATH] [--max-body BYTES] [...]\n"
        "       kadet scan --follow [--rotate-grace DUR] [...] FILE...\n"
        "\n"
        "Evaluate every loaded query and new_terms rule on Kubernetes audit logs (raw\n"
        "audit.k8s.io events, EventLists, or ECS documents; plain or .gz; '-' or no FILE reads\n"
        "stdin) and write one alert per line as NDJSON, in the format Elastic writes\n"
        "(docs/alerts.md). A summary per rule goes to stderr.\n"
        "\n"
        "  -r, --rules PATH       rule file or directory (repeatable; default: bundled rules/)\n"
        "      --exceptions FILE  exception list (detection-rules TOML, Kibana NDJSON export,\n"
        "                         or kadet's shorthand; repeatable)\n"
        "  -s, --state FILE|URL   state database (default $XDG_STATE_HOME/kadet/state.db,\n"
        "                         ~/.local/state/kadet/state.db), or redis://HOST:PORT shared\n"
        "                         by several kadets (docs/state-redis.md)\n"
        "      --state-password-file FILE  Redis password (its first line)\n"
        "      --state-init       accept an existing empty state file (0 bytes) as a new state;\n"
        "                         without it that is an error (every alert would come again)\n"
        "      --no-state         keep the state in memory only\n"
        "      --learn            build the baseline without alerting; print per rule how many\n"
        "                         alerts the same input would have raised\n"
        "      --format F         input: auto (default), audit (raw audit events only) or ecs\n"
        "  -o, --output FILE      write alerts to FILE; after a crash a rerun resumes it exactly\n"
        "      --table            print alerts as a readable table instead of NDJSON\n"
        "      --now TIME         use TIME as the alert @timestamp (reproducible output)\n"
        "      --future-tolerance DUR|off  clock skew limit (15m)\n"
        "      --batch N          commit the state every N records (default 50000)\n"
        "      --from-start       ignore remembered input positions (alerts already emitted\n"
        "                         are not repeated; --output keeps them)\n"
        "      --no-baseline      leave kadet.baseline out of alerts\n"
        "      --no-host-metadata leave host.* out of raw audit events (default: add this\n"
        "                         machine's, as Elastic Agent does; docs/cli.md)\n"
        "      --max-record BYTES longer records are skipped (16M; K, M, G)\n"
        "      --host-name NAME   host.name and host.hostname (default: this machine's)\n"
        "      --host-os-type T   host.os.type (default: from uname, e.g. linux)\n"
        "      --ingested now|none  event.ingested of raw events: the time kadet reads them\n"
        "                         (whole seconds) or none (default: now for live input:\n"
        "                         --follow, --listen, stdin from a pipe; none for files)\n"
        "      --timestamp SRC    @timestamp of raw events: stage (stageTimestamp, default),\n"
        "                         request (requestReceivedTimestamp) or received (now)\n"
        "      --progress, --no-progress  progress bar on stderr (default: on a terminal)\n",
    .usage_more =
        "      --listen HOST:PORT receive kube-apiserver's audit webhook (POSTed EventLists)\n"
        "                         until SIGINT/SIGTERM; each request is committed before its\n"
        "                         200. No TLS: bind to 127.0.0.1 (docs/deployment.md)\n"
        "      --listen-path PATH the path POSTs are accepted on (default /); GET /healthz\n"
        "                         answers ok\n"
        "      --max-body BYTES   larger request bodies get 413 (default 64M; K, M, G); a\n"
        "                         record over --max-record also refuses its body (413)\n"
        "      --max-inflight BYTES  bodies being received at once (256M); then 503\n"
        "      --max-connections N (512), --max-per-ip N (128): open connections\n"
        "      --timeout SEC      close a connection idle this long (30)\n"
        "      --header-timeout SEC, --body-timeout SEC  a request's headers (10) and body\n"
        "                         (120) must arrive within this (0: no limit)\n"
        "      --sink SPEC        deliver alerts to TYPE:TARGET[,key=value...] (repeatable;\n"
        "                         docs/alerts.md); stdout gets NDJSON only with --sink stdout\n"
        "      --outbox FILE      delivery queue (STATE.outbox)\n"
        "      --sink-timeout DUR wait at exit for delivery (30s)\n"
        "      --follow           follow live logs like tail -F, across rotation, until\n"
        "                         SIGINT/SIGTERM; --ingested now by default (docs/cli.md)\n"
        "\n"
        "Inputs already read (same file, up to the remembered offset) are skipped, so running\n"
        "the same command again only processes what was appended.\n"
        "Exit status: 0 ok, 1 usage or rule errors, 2 runtime error (unreadable input,\n"
        "skipped records, state failure, alerts still pending for a sink; with --listen:\n"
        "bind or state failure only).\n",
    .run = run,
};
