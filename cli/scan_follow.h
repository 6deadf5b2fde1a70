/*
 * scan_follow.h - `kadet scan --follow FILE...` (cli/scan_follow.c): follow live audit logs with
 * libkad's kad_follow and run every record through the scan's engine until SIGINT/SIGTERM.
 */
#ifndef KAD_CLI_SCAN_FOLLOW_H
#define KAD_CLI_SCAN_FOLLOW_H

#include "scan_report.h"

/* Follow paths[0..n) into v->e; returns after a signal (final commit done by the caller) or an
   engine failure (v->rc set). grace_ms: kad_follow_opts.rotate_grace_ms (0: default). */
void scan_follow_run(struct scan_view *v, char *const *paths, int n, int grace_ms);

#endif
