/*
 * scan_stdin.c - libkad in a few lines: scan Kubernetes audit events on standard input with one
 * rule file and print each alert (Elastic's alert document, one NDJSON line) on standard output.
 * The new-terms baseline lives in memory for this run only.
 *
 *   cc -o scan_stdin scan_stdin.c $(pkg-config --cflags --libs --static kadet)
 *   ./scan_stdin rule.toml < audit.log
 *
 * Exit status: 0 ok, 1 bad rule file, 2 runtime error.
 */
#include "kad.h"

#include <stdio.h>
#include <string.h>

static int print_alert(const kad_alert *a, void *ud)
{
    unsigned long *n = ud;
    (*n)++;
    fwrite(a->json, 1, a->len, stdout);
    putchar('\n');
    return KAD_ALERT_TAKEN; /* printed here: the engine has no output of its own */
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s RULE.toml < audit.log\n", argv[0]);
        return 1;
    }
    char msg[KAD_ERR_MSG_MAX + 512];
    kad_err err;
    kad_err_clear(&err);

    kad_rules *rules = kad_rules_new();
    if (kad_rules_load(rules, argv[1], &err) != KAD_OK) {
        kad_err_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        kad_rules_unref(rules);
        return 1;
    }
    kad_state *state;
    kad_state_opts so = {.mode = KAD_STATE_MEM};
    kad_state_open(&state, NULL, &so, &err);

    unsigned long alerts = 0;
    kad_engine_opts o;
    memset(&o, 0, sizeof(o));
    o.rules = rules;
    o.state = state;
    o.now_ms = KAD_TIME_NONE; /* alerts carry the wall clock */
    o.output_fd = -1;         /* no output: alerts go to print_alert */
    o.on_alert = print_alert;
    o.ud = &alerts;
    kad_engine *e = NULL;
    int rc = kad_engine_new(&e, &o, &err);
    kad_rules_unref(rules); /* the engine keeps its own reference */
    if (rc == KAD_OK)
        rc = kad_engine_scan(e, "-", &err);
    if (rc == KAD_OK)
        rc = kad_engine_commit(e, &err);
    if (rc != KAD_OK) {
        kad_err_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
    }
    kad_engine_stats st;
    if (e) {
        kad_engine_stats_get(e, &st);
        fprintf(stderr, "%llu events, %lu alerts\n", (unsigned long long)st.events, alerts);
    }
    kad_engine_free(e);
    kad_state_close(state);
    return rc == KAD_OK ? 0 : 2;
}
