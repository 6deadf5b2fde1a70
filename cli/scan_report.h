/*
 * scan_report.h - the human-readable side of `kadet scan` (cli/scan_report.c): progress bar,
 * --table rows, notes before the scan (baselines that changed, host.* rules without host
 * metadata) and the summary per rule on stderr. All of it reads libkad's engine counters.
 */
#ifndef KAD_CLI_SCAN_REPORT_H
#define KAD_CLI_SCAN_REPORT_H

#include "kad.h"
#include "listen.h"

#include <stdbool.h>
#include <stdint.h>

struct scan_view {
    kad_engine *e;
    kad_rules *rs;
    bool learn;
    bool no_host;      /* --no-host-metadata */
    int format;        /* KAD_FORMAT_* */
    int rc;            /* the exit status so far */
    double last_flush; /* --listen: when the rate-limited warnings were last flushed */
    /* progress */
    bool show_progress;
    int64_t total_bytes, done_bytes;
    double t0, last_draw;
    /* --table */
    bool table_ready;
    size_t nt_rules; /* runnable new_terms rules: rows name their rule when several */
    size_t columns;  /* row width ($COLUMNS, else the terminal's; 0: no limit) */
};

/* Monotonic seconds. */
double scan_now(void);
/* Redraw the progress bar (at most every 0.2 s unless final; final erases it). */
void scan_progress(struct scan_view *v, bool final);
/* kad_engine_opts.on_record with ud = the scan_view. */
void scan_on_record(void *ud);
/* kad_engine_opts.on_alert for --table (ud = the scan_view): one row into the engine's output. */
int scan_table_alert(const kad_alert *a, void *ud);
/* Before scanning: rules whose baseline changed or reverted; a host.* rule under
   --no-host-metadata. */
void scan_notes(const struct scan_view *v);
/* --listen: cli_listen_opts.on_body (ctx = the scan_view): kad_engine_body, then the answer. */
int scan_on_body(void *ctx, const struct cli_listen_req *rq, char *reply, size_t size, bool *stop);
/* "kadet: " and the formatted error on stderr. */
void scan_print_err(const kad_err *err);
/* The rules' load diagnostics on stderr, as scan shows them. */
void scan_print_diags(const kad_rules *rs);
/* After: counts, per-rule lines and warnings on stderr. */
void scan_summary(const struct scan_view *v, double secs);

#endif
