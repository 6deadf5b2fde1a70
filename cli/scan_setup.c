/*
 * scan_setup.c - `kadet scan`: the rules, the state and the outputs opened through kad.h from
 * the options (scan.h), and the outputs drained at the end (--sink-timeout).
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
/* Setup and summary                                                                            */
/* ============================================================================================ */

int scan_load_rules(struct scan *s)
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

void scan_log_sink(int lvl, const char *msg, void *ud)
{
    (void)ud;
    fprintf(stderr, "kadet: %s%s\n",
            lvl == KAD_LOG_ERROR  ? "error: "
            : lvl == KAD_LOG_WARN ? "warning: "
                                  : "",
            msg);
}

/* Open the state (default: the same file as `kadet state`) and lock it for this scan. */
int scan_open_state(struct scan *s)
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
int scan_open_outputs(struct scan *s)
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
void scan_drain_outputs(struct scan *s)
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
