/*
 * srv_main.c - serve_main: settings, rules, state, spool, the detection thread, the listeners;
 * then the main thread waits for signals: SIGHUP reloads, SIGINT/SIGTERM stop (no new
 * connections, requests in flight answered, the spool drained and committed, exit 0 within
 * --drain-timeout twice at most). A detection failure (state or output) stops serve with 2.
 */
#include "serve.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* state and spool_dir default to each other's neighbourhood */
static int default_paths(struct srv_config *c)
{
    if (!c->state) {
        c->state = join(c->spool_dir, "state.db");
        if (!c->state)
            return -1;
    }
    if (!c->outbox && (c->nsink || c->config_path)) {
        const char *base = strstr(c->state, "://") ? c->spool_dir : c->state;
        size_t n = strlen(base) + sizeof(".outbox");
        c->outbox = malloc(n);
        if (!c->outbox)
            return -1;
        snprintf(c->outbox, n, "%s.outbox", base);
    }
    return 0;
}

uint64_t srv_file_hash(const char *path)
{
    if (!path)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    int c;
    while ((c = getc(f)) != EOF)
        h = (h ^ (uint64_t)(unsigned char)c) * 0x100000001b3ULL;
    fclose(f);
    return h;
}

int srv_outputs_open(struct srv *s, const char *const *specs, size_t nspecs, kad_outputs **out,
                     kad_err *err)
{
    *out = NULL;
    if (!s->cfg.outbox)
        return KAD_OK;
    kad_outputs_opts oo = {.outbox_path = s->cfg.outbox,
                           .specs = specs,
                           .nspecs = nspecs,
                           .config_path = s->cfg.config_path};
    int rc = kad_outputs_new(out, &oo, err);
    if (rc == KAD_OK && kad_outputs_count(*out) == 0) {
        kad_outputs_free(*out); /* a config without [[sink]] tables */
        *out = NULL;
    }
    return rc;
}

int serve_main(int argc, char **argv, const char *default_rules)
{
    struct srv *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "kadet serve: out of memory\n");
        return SRV_EXIT_RUNTIME;
    }
    int crc = srv_config_load(&s->cfg, argc, argv);
    if (crc != 0) {
        srv_config_free(&s->cfg);
        free(s);
        return crc < 0 ? SRV_EXIT_OK : SRV_EXIT_USAGE;
    }
    if (default_paths(&s->cfg) != 0) {
        srv_config_free(&s->cfg);
        free(s);
        return SRV_EXIT_RUNTIME;
    }
    s->default_rules = default_rules;
    srv_log_init(s->cfg.log_format, s->cfg.log_level);
    kad_log_set_sink(srv_log_kad, NULL, s->cfg.log_level);
    pthread_mutex_init(&s->rules_mu, NULL);
    pthread_mutex_init(&s->reload_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->src_mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->conf_hash = srv_file_hash(s->cfg.config_path);

    /* every thread created from here on inherits the mask: signals come to sigtimedwait */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);

    int rc = SRV_EXIT_OK;
    char msg[600];
    kad_err err;
    kad_err_clear(&err);
    if (srv_rules_build(s, &s->rules, msg, sizeof(msg)) != 0) {
        srv_log(KAD_LOG_ERROR, "rules: %s; not started", msg);
        rc = SRV_EXIT_USAGE;
        goto out;
    }
    if (s->cfg.check_config) { /* --check-config: nothing is opened or started */
        rc = srv_config_check(&s->cfg, kad_rules_count(s->rules));
        goto out;
    }
    kad_state_opts so = {.mode = KAD_STATE_RW, .init = 0};
    if (kad_state_open(&s->st, s->cfg.state, &so, &err) != KAD_OK ||
        kad_state_lock(s->st, &err) != KAD_OK) {
        char line[1024];
        kad_err_format(&err, line, sizeof(line));
        srv_log(KAD_LOG_ERROR, "state: %s", line);
        rc = SRV_EXIT_RUNTIME;
        goto out;
    }
    if (srv_outputs_open(s, (const char *const *)s->cfg.sink, s->cfg.nsink, &s->outs, &err) !=
        KAD_OK) {
        char line[1024];
        kad_err_format(&err, line, sizeof(line));
        srv_log(KAD_LOG_ERROR, "outputs: %s", line);
        rc = SRV_EXIT_RUNTIME;
        goto out;
    }
    if (srv_spool_open(&s->spool, s->cfg.spool_dir, s->cfg.spool_max, &err) != KAD_OK) {
        srv_log(KAD_LOG_ERROR, "%s", err.msg);
        rc = SRV_EXIT_RUNTIME;
        goto out;
    }
    if (srv_http_start(s) != 0) {
        rc = SRV_EXIT_RUNTIME;
        goto out;
    }
    if (srv_follow_start(s, &err) != KAD_OK) {
        char line[1024];
        kad_err_format(&err, line, sizeof(line));
        srv_log(KAD_LOG_ERROR, "follow: %s", line);
        rc = SRV_EXIT_RUNTIME;
        goto out;
    }
    if (srv_detect_start(s, &err) != KAD_OK) {
        char line[1024];
        kad_err_format(&err, line, sizeof(line));
        srv_log(KAD_LOG_ERROR, "engine: %s", line);
        rc = SRV_EXIT_RUNTIME;
        goto out;
    }
    srv_log(KAD_LOG_INFO,
            "serving: %zu rules, %zu followed files, state %s, spool %s, alerts to %s%s%zu sinks",
            kad_rules_count(s->rules), s->cfg.nfollow, s->cfg.state, s->cfg.spool_dir,
            s->cfg.output ? s->cfg.output : (s->outs ? "no file" : "standard output"), " and ",
            s->outs ? kad_outputs_count(s->outs) : 0);

    for (;;) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            srv_log(KAD_LOG_INFO, "%s: stopping (draining the spool)",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (sig == SIGHUP) {
            srv_log(KAD_LOG_INFO, "SIGHUP: reloading rules, exceptions, followed files and sinks");
            srv_reload(s, msg, sizeof(msg));
        }
        if (atomic_load(&s->fatal)) {
            srv_log(KAD_LOG_ERROR, "stopping after a detection failure");
            rc = SRV_EXIT_RUNTIME;
            break;
        }
    }
out:
    srv_http_stop(s);
    srv_detect_stop(s);
    srv_follow_free(s);
    if (s->outs) {
        int64_t left = kad_outputs_drain(s->outs, (int)s->cfg.sink_ms);
        if (left > 0)
            srv_log(KAD_LOG_WARN,
                    "%lld alert deliveries still pending after --sink-timeout: kept in the "
                    "outbox %s for the next start",
                    (long long)left, s->cfg.outbox);
        kad_outputs_free(s->outs);
        s->outs = NULL;
    }
    if (atomic_load(&s->fatal))
        rc = SRV_EXIT_RUNTIME;
    srv_spool_close(s->spool);
    kad_state_close(s->st);
    kad_rules_unref(s->rules);
    if (rc == SRV_EXIT_OK && !s->cfg.check_config)
        srv_log(KAD_LOG_INFO, "stopped");
    srv_config_free(&s->cfg);
    pthread_mutex_destroy(&s->src_mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(s);
    return rc;
}
