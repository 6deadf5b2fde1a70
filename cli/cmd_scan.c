/*
 * cmd_scan.c - `kadet scan`: run the loaded rules over audit logs (files, .gz, stdin, or the
 * audit webhook with --listen), write alerts as NDJSON (or a table) and a summary per rule.
 *
 * The engine and its policy (input positions and resume keys, batches, the commit order and
 * fsync, pruning, the webhook's per-request commit, truncating --output on resume) are
 * libkad's kad_engine (include/kad.h, docs/internals/engine.md). This file parses options,
 * calls the API and formats: the table, the progress bar, the summary, the webhook answers.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "scan.h"

#include "decodeopt.h"
#include "rulesdir.h"
#include "scan_follow.h"
#include "statepath.h"
#include "suggest.h"

#include <errno.h>
#include <sched.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* The cores this process may run on: its CPU affinity (taskset, cgroup cpusets), else the
   online count. A process pinned to one core gets one thread by default, not threads that
   would take turns on that core. */
static long usable_cores(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

static int run(int argc, char **argv)
{
    struct scan s;
    memset(&s, 0, sizeof(s));
    s.progress = -1;
    s.now_ms = KAD_TIME_NONE;
    s.batch = 50000;
    long cores = usable_cores();
    s.threads = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
    s.sink_timeout = 30000;
    s.v.rc = EXIT_OK;
    int prc = scan_parse_args(&s, argc, argv);
    if (prc >= 0)
        return prc;
    kad_log_set_sink(scan_log_sink, NULL, KAD_LOG_WARN);
    /* a consumer that goes away (`| head`) makes the write fail with EPIPE instead of killing
       kadet silently: the engine then stops with a message and commits nothing it could not
       write (exit 2; docs/security.md) */
    signal(SIGPIPE, SIG_IGN);

    int code = scan_load_rules(&s);
    if (code == EXIT_OK)
        code = scan_open_state(&s);
    if (code == EXIT_OK)
        code = scan_open_outputs(&s);
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
        .threads = s.threads,
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
    scan_drain_outputs(&s); /* after the summary: its throughput is detection's alone */
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
        "                  [--now TIME] [--batch N] [--threads N] [--from-start]\n"
        "                  [--no-baseline]\n"
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
        "      --threads N        decode FILEs on N threads (default: the cores); detection\n"
        "                         stays in input order: output identical to --threads 1\n"
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
