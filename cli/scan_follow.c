/*
 * scan_follow.c - `kadet scan --follow FILE...`: the loop between libkad's follower and the
 * engine. Each record goes to kad_engine_feed_at with its resume key (the content fingerprint)
 * and its read time; the batch is committed when the input has been quiet for 200 ms, at the
 * latest 500 ms after its first record (alerts out within a second), and by the engine every
 * --batch records. SIGINT/SIGTERM end the loop; the caller then commits and prints the summary.
 * SIGHUP reopens --output (logrotate's convention after renaming it).
 * Rotation, resume and their guarantees: docs/internals/follow.md.
 */
#include "scan_follow.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define IDLE_MS 200
#define MAX_DELAY_S 0.5

static volatile sig_atomic_t stop_signal, hup_signal;
static kad_follow *cur_follow;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        hup_signal = 1;
    else
        stop_signal = sig;
    if (cur_follow)
        kad_follow_interrupt(cur_follow); /* async-signal-safe: a write(2) to a pipe */
}

static int position(void *ud, const char *key, int64_t *offset, int64_t *line)
{
    return kad_engine_position(ud, key, offset, line, NULL);
}

static bool commit(struct scan_view *v)
{
    kad_err err;
    kad_err_clear(&err);
    if (kad_engine_commit(v->e, &err) == KAD_OK)
        return true;
    scan_print_err(&err);
    v->rc = 2;
    return false;
}

void scan_follow_run(struct scan_view *v, char *const *paths, int n, int grace_ms)
{
    const char *list[65];
    int k = n < 64 ? n : 64;
    for (int i = 0; i < k; i++)
        list[i] = paths[i];
    list[k] = NULL;
    kad_follow_opts fo = {
        .position = position,
        .ud = v->e,
        .rotate_grace_ms = grace_ms,
    };
    kad_follow *f;
    kad_err err;
    kad_err_clear(&err);
    if (kad_follow_open(&f, list, &fo, &err) != KAD_OK) {
        scan_print_err(&err);
        v->rc = 2;
        return;
    }
    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: the follower's wait returns at once */
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    cur_follow = f;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    hup_signal = 0;
    fprintf(stderr, "kadet scan: following %d file%s\n", k, k == 1 ? "" : "s");
    unsigned long pending = 0;
    double first = 0;
    while (!stop_signal) {
        if (hup_signal) {
            /* logrotate's convention: reopen --output (renamed away by a `create` rotation) */
            hup_signal = 0;
            pending = 0;
            if (kad_engine_reopen_output(v->e, &err) != KAD_OK) {
                scan_print_err(&err);
                if (kad_engine_failed(v->e)) {
                    v->rc = 2;
                    break;
                }
            }
        }
        kad_follow_rec fr;
        kad_err_clear(&err);
        int rc = kad_follow_next(f, &fr, pending ? IDLE_MS : 1000, &err);
        if (rc == 1) {
            if (kad_engine_feed_at(v->e, fr.source, &fr.rec, fr.read_ms, &err) != KAD_OK &&
                kad_engine_failed(v->e)) {
                scan_print_err(&err);
                v->rc = 2;
                break;
            }
            if (!pending++)
                first = scan_now();
            if (scan_now() - first < MAX_DELAY_S)
                continue;
        } else if (rc < 0) {
            char msg[KAD_ERR_MSG_MAX + 512];
            kad_err_format(&err, msg, sizeof(msg));
            fprintf(stderr, "kadet: warning: %s\n", msg);
            continue;
        }
        /* quiet for IDLE_MS, or the batch is MAX_DELAY_S old: commit and write its alerts */
        if (pending) {
            if (!commit(v))
                break;
            kad_engine_log_flush(v->e);
            fflush(stdout);
            pending = 0;
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    cur_follow = NULL;
    kad_follow_stats fs;
    kad_follow_stats_get(f, &fs);
    fprintf(stderr,
            "kadet scan: followed %llu records; %llu rotations, %llu truncations (%llu copies "
            "finished, %llu without a copy), %llu rotated files read in full\n",
            (unsigned long long)fs.records, (unsigned long long)fs.rotations,
            (unsigned long long)fs.truncations, (unsigned long long)fs.copies,
            (unsigned long long)fs.lost, (unsigned long long)fs.missed);
    kad_follow_close(f);
}
