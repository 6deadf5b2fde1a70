/*
 * scan.h - `kadet scan`'s state shared by its files: cmd_scan.c (the run: inputs, webhook,
 * summary), scan_args.c (options) and scan_setup.c (rules, state and outputs opened through
 * kad.h). Internal to the CLI.
 */
#ifndef KADET_CLI_SCAN_H
#define KADET_CLI_SCAN_H

#include "cmd.h"
#include "kad.h"
#include "listen.h"
#include "scan_report.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    int threads;        /* --threads (default: the online cores, at most 64) */
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

int scan_load_rules(struct scan *s);
void scan_log_sink(int lvl, const char *msg, void *ud);
int scan_open_state(struct scan *s);
int scan_open_outputs(struct scan *s);
void scan_drain_outputs(struct scan *s);
int scan_parse_args(struct scan *s, int argc, char **argv);

#endif
