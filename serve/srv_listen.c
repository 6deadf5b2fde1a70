/*
 * srv_listen.c - `kadet scan --listen` (listen.h) on kadet serve's HTTP layer: a struct srv
 * with only its webhook listener, in "hook" mode (srv_http.c: bodies go to the caller's
 * on_body instead of the spool; no admin endpoints but /healthz, no console). The limits are
 * serve's, with serve's defaults, and scan's flags for them are parsed here so both commands
 * mean the same by them. The calling thread blocks SIGINT/SIGTERM/SIGHUP before the listener's
 * threads exist (they inherit the mask) and waits for them.
 */
#include "listen.h"

#include "serve.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const cli_listen_limit_flags[] = {
    "max-inflight",   "max-connections", "max-per-ip", "timeout",
    "header-timeout", "body-timeout",    NULL,
};

bool cli_listen_addr_ok(const char *addr, char *msg, size_t size)
{
    return srv_addr_ok(addr, "--listen", msg, size);
}

static bool parse_uint(const char *arg, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(arg, &end, 10);
    if (!*arg || *end || errno || v > 1000000 || arg[0] == '-')
        return false;
    *out = (unsigned)v;
    return true;
}

bool cli_listen_limit(struct cli_listen_limits *l, const char *name, const char *arg, char *msg,
                      size_t size)
{
    bool ok;
    if (strcmp(name, "max-inflight") == 0)
        ok = kad_bytes_parse(arg, &l->max_inflight) && l->max_inflight > 0;
    else if (strcmp(name, "max-connections") == 0)
        ok = parse_uint(arg, &l->max_connections) && l->max_connections > 0;
    else if (strcmp(name, "max-per-ip") == 0)
        ok = parse_uint(arg, &l->max_per_ip) && l->max_per_ip > 0;
    else if (strcmp(name, "timeout") == 0)
        ok = parse_uint(arg, &l->timeout_s) && l->timeout_s > 0;
    else if (strcmp(name, "header-timeout") == 0)
        ok = (l->header_set = parse_uint(arg, &l->header_timeout_s));
    else if (strcmp(name, "body-timeout") == 0)
        ok = (l->body_set = parse_uint(arg, &l->body_timeout_s));
    else
        ok = false;
    if (!ok)
        snprintf(msg, size, "--%s: expected %s, got '%s'", name,
                 strcmp(name, "max-inflight") == 0 ? "a positive number of bytes (K, M, G)"
                 : strstr(name, "timeout")         ? "a number of seconds"
                                                   : "a positive number",
                 arg);
    return ok;
}

int cli_listen_run(const struct cli_listen_opts *o)
{
    struct srv *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "kadet: out of memory\n");
        return SRV_EXIT_RUNTIME;
    }
    const struct cli_listen_limits *lim = &o->limits;
    struct srv_config *c = &s->cfg;
    c->listen = (char *)o->addr;
    c->listen_path = (char *)o->path;
    c->max_body = o->max_body ? o->max_body : (size_t)64 << 20;
    c->max_record = o->max_record ? o->max_record : (size_t)16 << 20;
    c->max_inflight = lim->max_inflight ? lim->max_inflight : (size_t)256 << 20;
    if (c->max_inflight < c->max_body)
        c->max_inflight = c->max_body; /* one largest body always fits */
    c->max_connections = lim->max_connections ? lim->max_connections : 512;
    c->max_per_ip = lim->max_per_ip ? lim->max_per_ip : 128;
    c->timeout_s = lim->timeout_s ? lim->timeout_s : 30;
    c->header_timeout_s = lim->header_set ? lim->header_timeout_s : 10;
    c->body_timeout_s = lim->body_set ? lim->body_timeout_s : 120;
    c->drain_s = 20;
    s->hook = o;
    pthread_mutex_init(&s->hook_mu, NULL);
    atomic_init(&s->hook_stop, false);
    srv_log_init(SRV_LOG_TEXT, KAD_LOG_INFO);
    srv_log_prefix(o->banner ? o->banner : "kadet");

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old); /* before the listener's threads: they inherit it */
    int rc = SRV_EXIT_OK;
    if (srv_http_start(s) != 0) {
        rc = SRV_EXIT_RUNTIME; /* the reason was logged */
    } else {
        for (;;) {
            struct timespec ts = {0, 200 * 1000 * 1000};
            int sig = sigtimedwait(&set, NULL, &ts);
            if (sig == SIGINT || sig == SIGTERM)
                break;
            if (sig == SIGHUP && o->on_hup) { /* logrotate's postrotate: between requests */
                bool stop = false;
                pthread_mutex_lock(&s->hook_mu);
                o->on_hup(o->ctx, &stop);
                if (stop)
                    atomic_store(&s->hook_stop, true);
                pthread_mutex_unlock(&s->hook_mu);
                srv_log(KAD_LOG_INFO, "SIGHUP: --output reopened");
            } else if (sig == SIGHUP) {
                srv_log(KAD_LOG_INFO, "SIGHUP: nothing to reopen");
            }
            if (atomic_load(&s->hook_stop)) {
                rc = SRV_EXIT_RUNTIME;
                break;
            }
        }
    }
    srv_http_stop(s); /* stop accepting, let requests in flight finish, join every thread */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_destroy(&s->hook_mu);
    srv_log_prefix(NULL);
    free(s);
    return rc;
}
