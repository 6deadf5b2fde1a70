/*
 * srv_config.c - kadet serve's settings (docs/config.md): one table names every setting once,
 * with its key in kadet.toml, its flag and its type, so that the file and the flags share the
 * parsing and validation. The file is read first (kad_conf_parse), then the flags override it
 * (a list flag given once replaces the file's list). [[user]] tables are file-only.
 */
#include "serve.h"

#include <errno.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char srv_usage[] =
    "usage: kadet serve [--config FILE] [options]\n"
    "\n"
    "The always-on detection service: receives kube-apiserver's audit webhook over HTTPS,\n"
    "spools each batch durably before its 200, runs the rules on one detection thread and\n"
    "writes alerts within a second (docs/deployment.md, docs/config.md).\n"
    "\n"
    "  --config FILE            kadet.toml; every setting below is also a key there\n"
    "  --check-config           check settings, rules, TLS files and writable paths; exit\n"
    "  --listen HOST:PORT       the audit webhook receiver (HTTPS unless --insecure)\n"
    "  --listen-path PATH       where EventLists are POSTed (default /)\n"
    "  --tls-cert FILE --tls-key FILE  the server certificate and key (PEM)\n"
    "  --client-ca FILE         CA bundle client certificates must chain to\n"
    "  --token-file FILE        bearer token clients may send instead\n"
    "  --admin-listen HOST:PORT /healthz /readyz /metrics POST /-/reload, /ui /api/v1/\n"
    "  --follow FILE            audit log files to follow (repeatable)\n"
    "  --cluster-name NAME      orchestrator.cluster.name of every event\n"
    "  --source NAME:KEY=VAL,.. a source's own cluster_name, host_name, host_os_type, no_host\n"
    "                           (NAME: webhook or a --follow path; repeatable)\n"
    "  --rules PATH             rule files or directories (repeatable; default: bundled)\n"
    "  --exceptions FILE        exception lists (repeatable)\n"
    "  --state FILE|URL         the state (default: beside the spool)\n"
    "  --output FILE            alerts as NDJSON (default: standard output; none with sinks)\n"
    "  --sink SPEC              deliver alerts: webhook:URL, elasticsearch:URL, syslog:...,\n"
    "                           slack:URL, file:PATH, stdout (repeatable; and [[sink]] tables)\n"
    "  --outbox FILE            sinks' durable outbox (default: STATE.outbox)\n"
    "  --sink-timeout DUR       SIGTERM: time to deliver what is pending (default 10s)\n"
    "  --spool-dir DIR          the durable spool of accepted batches\n"
    "  --spool-max BYTES        spool size answered with 503 (default 1G; K, M, G)\n"
    "  --insecure               allow plain HTTP / no client authentication off loopback\n"
    "  --log-format text|json   --log-level error|warn|info|debug (default info)\n"
    "  --max-body BYTES         per request (default 64M; also the decompressed size)\n"
    "  --max-record BYTES       per audit event (default 16M)\n"
    "  --max-inflight BYTES     bodies being received at once (default 256M; then 503)\n"
    "  --max-connections N      (default 512)   --max-per-ip N (default 128)\n"
    "  --timeout SECONDS        idle/slow connection timeout (default 30)\n"
    "  --header-timeout SECONDS a request's headers, from connecting (default 10; 0 none)\n"
    "  --body-timeout SECONDS   a request's body, from its headers (default 120; 0 none)\n"
    "  --drain-timeout SECONDS  SIGTERM: time to drain the spool (default 20)\n"
    "  --commit-interval DUR    longest time between commits under load (default 25ms)\n"
    "  --threads N              threads decoding webhook records (default 0: one per CPU)\n"
    "  --no-console             no web console (/ui, /api/v1/) and no recent-input store\n"
    "  --host-name NAME --host-os-type TYPE --no-host   host.* of events\n"
    "  --ingested now|none      event.ingested: the time of reading (default) or none\n"
    "  --now TIME               alert @timestamp (tests)\n"
    "\n"
    "SIGHUP or POST /-/reload (admin role) reloads rules, exceptions, followed files,\n"
    "sources and sinks; SIGTERM drains and exits 0. Exit status: 0 stopped cleanly, 1 usage\n"
    "or configuration error, 2 runtime error.\n";

enum stype { T_STR, T_STRS, T_BYTES, T_UINT, T_BOOL, T_LOGFMT, T_LOGLVL, T_MS, T_TIME, T_INGESTED };

struct setting {
    const char *key; /* kadet.toml key; the flag is the same with '-' */
    enum stype type;
    size_t off;  /* in struct srv_config */
    size_t noff; /* T_STRS: the count */
};

#define S(k, t, f)                                                                                 \
    {                                                                                              \
        k, t, offsetof(struct srv_config, f), 0                                                    \
    }
#define L(k, f)                                                                                    \
    {                                                                                              \
        k, T_STRS, offsetof(struct srv_config, f), offsetof(struct srv_config, n##f)               \
    }
static const struct setting settings[] = {
    S("listen", T_STR, listen),
    S("listen_path", T_STR, listen_path),
    S("tls_cert", T_STR, tls_cert),
    S("tls_key", T_STR, tls_key),
    S("client_ca", T_STR, client_ca),
    S("token_file", T_STR, token_file),
    S("admin_listen", T_STR, admin_listen),
    L("follow", follow),
    L("source", source),
    S("cluster_name", T_STR, cluster_name),
    L("rules", rules),
    L("exceptions", exceptions),
    S("state", T_STR, state),
    S("output", T_STR, output),
    S("spool_dir", T_STR, spool_dir),
    S("spool_max", T_BYTES, spool_max),
    L("sink", sink),
    S("outbox", T_STR, outbox),
    S("sink_timeout", T_MS, sink_ms),
    S("insecure", T_BOOL, insecure),
    S("log_format", T_LOGFMT, log_format),
    S("log_level", T_LOGLVL, log_level),
    S("max_body", T_BYTES, max_body),
    S("max_record", T_BYTES, max_record),
    S("max_inflight", T_BYTES, max_inflight),
    S("max_connections", T_UINT, max_connections),
    S("max_per_ip", T_UINT, max_per_ip),
    S("timeout", T_UINT, timeout_s),
    S("header_timeout", T_UINT, header_timeout_s),
    S("body_timeout", T_UINT, body_timeout_s),
    S("drain_timeout", T_UINT, drain_s),
    S("commit_interval", T_MS, commit_ms),
    S("threads", T_UINT, threads),
    S("host_name", T_STR, host_name),
    S("host_os_type", T_STR, host_os_type),
    S("no_host", T_BOOL, no_host),
    S("no_console", T_BOOL, no_console),
    S("now", T_TIME, now_ms),
    S("ingested", T_INGESTED, ingested),
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static void defaults(struct srv_config *c)
{
    c->spool_max = (size_t)1 << 30;
    c->log_format = SRV_LOG_TEXT;
    c->log_level = KAD_LOG_INFO;
    c->max_body = (size_t)64 << 20;
    c->max_record = (size_t)16 << 20;
    c->max_inflight = (size_t)256 << 20;
    c->max_connections = 512;
    c->max_per_ip = 128;
    c->timeout_s = 30;
    c->header_timeout_s = 10;
    c->body_timeout_s = 120;
    c->drain_s = 20;
    c->commit_ms = 25; /* receipt -> alert p99 <= 50 ms under load (bench/RESULTS.md, serve) */
    c->sink_ms = 10000;
    c->now_ms = KAD_TIME_NONE;
    c->ingested = KAD_INGESTED_NOW;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "kadet serve: out of memory\n");
        exit(SRV_EXIT_RUNTIME);
    }
    return d;
}

/* Set one setting from text (a flag's argument, or a file's string). */
static bool set_text(struct srv_config *c, const struct setting *st, const char *v, char *msg,
                     size_t size)
{
    char *base = (char *)c;
    switch (st->type) {
    case T_STR: {
        char **p = (char **)(base + st->off);
        free(*p);
        *p = xstrdup(v);
        return true;
    }
    case T_STRS: {
        char **arr = (char **)(base + st->off);
        size_t *n = (size_t *)(base + st->noff);
        if (*n >= SRV_MAX_PATHS) {
            snprintf(msg, size, "%s: at most %d values", st->key, SRV_MAX_PATHS);
            return false;
        }
        arr[(*n)++] = xstrdup(v);
        return true;
    }
    case T_BYTES:
        if (kad_bytes_parse(v, (size_t *)(base + st->off)))
            return true;
        snprintf(msg, size, "%s: expected a byte count with an optional K, M or G, got '%s'",
                 st->key, v);
        return false;
    case T_UINT: {
        char *end;
        errno = 0;
        unsigned long u = strtoul(v, &end, 10);
        if (*end || end == v || v[0] == '-' || errno || u > 1000000) {
            snprintf(msg, size, "%s: expected a number, got '%s'", st->key, v);
            return false;
        }
        *(unsigned *)(base + st->off) = (unsigned)u;
        return true;
    }
    case T_BOOL: *(bool *)(base + st->off) = true; return true;
    case T_LOGFMT:
        if (strcmp(v, "text") == 0 || strcmp(v, "json") == 0) {
            *(int *)(base + st->off) = v[0] == 'j' ? SRV_LOG_JSON : SRV_LOG_TEXT;
            return true;
        }
        snprintf(msg, size, "%s: expected text or json, got '%s'", st->key, v);
        return false;
    case T_LOGLVL: {
        static const char *const lv[] = {"error", "warn", "info", "debug"};
        for (int i = 0; i < 4; i++)
            if (strcmp(v, lv[i]) == 0) {
                *(int *)(base + st->off) = i;
                return true;
            }
        snprintf(msg, size, "%s: expected error, warn, info or debug, got '%s'", st->key, v);
        return false;
    }
    case T_MS: {
        int64_t ms;
        if (kad_duration_parse(v, &ms, NULL) != KAD_OK || ms < 1 || ms > 60000) {
            snprintf(msg, size, "%s: expected a duration from 1ms to 60s, got '%s'", st->key, v);
            return false;
        }
        *(long *)(base + st->off) = (long)ms;
        return true;
    }
    case T_INGESTED:
        if (strcmp(v, "now") == 0 || strcmp(v, "none") == 0) {
            *(int *)(base + st->off) = strcmp(v, "now") == 0 ? KAD_INGESTED_NOW : KAD_INGESTED_NONE;
            return true;
        }
        snprintf(msg, size, "%s: expected now or none, got '%s'", st->key, v);
        return false;
    case T_TIME: {
        int64_t ms;
        if (!kad_time_parse(v, strlen(v), &ms)) {
            snprintf(msg, size, "%s: expected an RFC 3339 time, got '%s'", st->key, v);
            return false;
        }
        *(int64_t *)(base + st->off) = ms;
        return true;
    }
    }
    return false;
}

static void clear_list(struct srv_config *c, const struct setting *st)
{
    char **arr = (char **)((char *)c + st->off);
    size_t *n = (size_t *)((char *)c + st->noff);
    for (size_t i = 0; i < *n; i++)
        free(arr[i]);
    *n = 0;
}

/* ---- the file -------------------------------------------------------------------------------- */

struct file_ctx {
    struct srv_config *c;
    const char *path;
};

static int conf_err(kad_err *err, const char *path, const kad_conf_item *it, const char *fmt,
                    const char *a, const char *b)
{
    err->code = KAD_EINVAL;
    err->origin = path;
    err->line = it->line;
    err->col = it->col;
    err->offset = -1;
    snprintf(err->msg, sizeof(err->msg), fmt, a, b);
    return KAD_EINVAL;
}

static int user_item(struct file_ctx *f, const kad_conf_item *it, kad_err *err)
{
    struct srv_config *c = f->c;
    if (it->index >= SRV_MAX_USERS)
        return conf_err(err, f->path, it, "%s%s: too many [[user]] tables", "", "");
    if (it->index >= c->nusers)
        c->nusers = it->index + 1;
    struct srv_user *u = &c->users[it->index];
    if (it->type != KAD_CONF_STRING)
        return conf_err(err, f->path, it, "user.%s: expected a string, got %s", it->key,
                        it->type_name);
    if (strcmp(it->key, "name") == 0) {
        free(u->name);
        u->name = xstrdup(it->str);
    } else if (strcmp(it->key, "token_file") == 0) {
        free(u->token_file);
        u->token_file = xstrdup(it->str);
    } else if (strcmp(it->key, "cert_cn") == 0) {
        free(u->cert_cn);
        u->cert_cn = xstrdup(it->str);
    } else if (strcmp(it->key, "role") == 0) {
        if (strcmp(it->str, "read") == 0)
            u->role = SRV_ROLE_READ;
        else if (strcmp(it->str, "analyst") == 0)
            u->role = SRV_ROLE_ANALYST;
        else if (strcmp(it->str, "admin") == 0)
            u->role = SRV_ROLE_ADMIN;
        else
            return conf_err(err, f->path, it,
                            "user.role: expected read, analyst or admin, got '%s'%s", it->str, "");
    } else {
        return conf_err(err, f->path, it, "unknown key user.%s%s", it->key, "");
    }
    return KAD_OK;
}

static int file_item(const kad_conf_item *it, void *ud, kad_err *err)
{
    struct file_ctx *f = ud;
    if (it->table) {
        if (strcmp(it->table, "user") == 0)
            return user_item(f, it, err);
        if (strcmp(it->table, "sink") == 0)
            return KAD_OK; /* kad_outputs reads [[sink]] tables (checked in validate) */
        return conf_err(err, f->path, it, "unknown table [%s]%s", it->table, "");
    }
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *st = &settings[i];
        if (strcmp(st->key, it->key) != 0)
            continue;
        char msg[256];
        char num[32];
        const char *text = NULL;
        switch (st->type) {
        case T_BOOL:
            if (it->type != KAD_CONF_BOOL)
                return conf_err(err, f->path, it, "%s: expected a boolean, got %s", st->key,
                                it->type_name);
            *(bool *)((char *)f->c + st->off) = it->num != 0;
            return KAD_OK;
        case T_STRS:
            if (it->type == KAD_CONF_STRING) {
                clear_list(f->c, st);
                text = it->str;
                break;
            }
            if (it->type != KAD_CONF_STRINGS)
                return conf_err(err, f->path, it, "%s: expected an array of strings, got %s",
                                st->key, it->type_name);
            clear_list(f->c, st);
            for (size_t k = 0; k < it->nstrs; k++)
                if (!set_text(f->c, st, it->strs[k], msg, sizeof(msg)))
                    return conf_err(err, f->path, it, "%s%s", msg, "");
            return KAD_OK;
        case T_BYTES:
        case T_UINT:
            if (it->type == KAD_CONF_INT) {
                snprintf(num, sizeof(num), "%lld", (long long)it->num);
                text = num;
                break;
            }
            /* a string: "1G" */
            /* fall through */
        default:
            if (it->type != KAD_CONF_STRING)
                return conf_err(err, f->path, it, "%s: expected a string, got %s", st->key,
                                it->type_name);
            text = it->str;
        }
        if (!set_text(f->c, st, text, msg, sizeof(msg)))
            return conf_err(err, f->path, it, "%s%s", msg, "");
        return KAD_OK;
    }
    return conf_err(err, f->path, it, "unknown setting '%s'%s", it->key, "");
}

static char *read_small(const char *path, size_t max, size_t *len, char *msg, size_t size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(msg, size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, fp) : 0;
    bool bad = ferror(fp) != 0;
    fclose(fp);
    if (!buf || bad || n > max) {
        snprintf(msg, size, "%s: %s", path,
                 !buf  ? "out of memory"
                 : bad ? "read error"
                       : "too large");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int load_file(struct srv_config *c, const char *path)
{
    char msg[512];
    size_t len;
    char *text = read_small(path, (size_t)1 << 20, &len, msg, sizeof(msg));
    if (!text) {
        fprintf(stderr, "kadet serve: --config %s\n", msg);
        return 1;
    }
    struct file_ctx f = {.c = c, .path = path};
    kad_err err;
    kad_err_clear(&err);
    int rc = kad_conf_parse(text, len, path, file_item, &f, &err);
    free(text);
    if (rc != KAD_OK) {
        char line[1024];
        kad_err_format(&err, line, sizeof(line));
        fprintf(stderr, "%s\n", line);
        return 1;
    }
    return 0;
}

/* A token file: its first line, without surrounding white space. */
static int load_token(const char *path, char **tok, size_t *len, char *msg, size_t size)
{
    size_t n;
    char *t = read_small(path, 4096, &n, msg, size);
    if (!t)
        return -1;
    size_t a = strspn(t, " \t\r\n");
    size_t b = a + strcspn(t + a, "\r\n");
    while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\t'))
        b--;
    if (b - a < 16) {
        snprintf(msg, size, "%s: a token of at least 16 characters expected", path);
        free(t);
        return -1;
    }
    memmove(t, t + a, b - a);
    t[b - a] = '\0';
    free(*tok);
    *tok = t;
    *len = b - a;
    return 0;
}

static int load_tokens(struct srv_config *c, char *msg, size_t size)
{
    if (c->token_file && load_token(c->token_file, &c->token, &c->token_len, msg, size) != 0)
        return -1;
    for (size_t i = 0; i < c->nusers; i++) {
        struct srv_user *u = &c->users[i];
        if (!u->name || u->role == SRV_ROLE_NONE) {
            snprintf(msg, size, "[[user]] %zu: name and role are required", i + 1);
            return -1;
        }
        if (!u->token_file && !u->cert_cn) {
            snprintf(msg, size, "[[user]] '%s': token_file or cert_cn is required", u->name);
            return -1;
        }
        if (u->token_file && load_token(u->token_file, &u->token, &u->token_len, msg, size) != 0)
            return -1;
    }
    return 0;
}

/* ---- flags ----------------------------------------------------------------------------------- */

enum { OPT_BASE = 1000, OPT_CONFIG = 2000, OPT_CHECK = 2001 };

/* Every settings' flag: the key with '-' for '_' */
static char flag_names[NSETTINGS][32];

static void build_longopts(struct option *lo)
{
    size_t k = 0;
    for (size_t i = 0; i < NSETTINGS; i++) {
        snprintf(flag_names[i], sizeof(flag_names[i]), "%s", settings[i].key);
        for (char *p = flag_names[i]; *p; p++)
            if (*p == '_')
                *p = '-';
        lo[k++] =
            (struct option){.name = flag_names[i],
                            .has_arg = settings[i].type == T_BOOL ? no_argument : required_argument,
                            .flag = NULL,
                            .val = OPT_BASE + (int)i};
    }
    lo[k++] = (struct option){.name = "config", .has_arg = required_argument, .val = OPT_CONFIG};
    lo[k++] = (struct option){.name = "check-config", .has_arg = no_argument, .val = OPT_CHECK};
    lo[k++] = (struct option){.name = "help", .has_arg = no_argument, .val = 'h'};
    lo[k] = (struct option){0};
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "kadet serve: %s\nTry 'kadet help serve'.\n", msg);
    return 1;
}

int srv_source_parse(const char *spec, struct srv_source_meta *m, char *buf, size_t bufsize,
                     char *msg, size_t size)
{
    *m = (struct srv_source_meta){.no_host = -1};
    size_t len = strlen(spec);
    if (len + 1 > bufsize) {
        snprintf(msg, size, "--source: longer than %zu bytes", bufsize - 1);
        return -1;
    }
    memcpy(buf, spec, len + 1);
    /* NAME ends at the last ':' before the first '=' (a path may hold ':') */
    char *eq = strchr(buf, '='), *colon = NULL;
    for (char *p = buf; p && *p && (!eq || p < eq); p++)
        if (*p == ':')
            colon = p;
    if (!colon || colon == buf || !eq) {
        snprintf(msg, size,
                 "--source '%.200s': expected NAME:key=value[,key=value...] (NAME: webhook or a "
                 "--follow path)",
                 spec);
        return -1;
    }
    *colon = '\0';
    m->name = buf;
    for (char *kv = colon + 1; kv;) {
        char *next = strchr(kv, ',');
        if (next)
            *next++ = '\0';
        size_t at = (size_t)(kv - buf);
        char *v = strchr(kv, '=');
        if (!v || v == kv || !v[1]) {
            snprintf(msg, size, "--source '%.200s': byte %zu: expected key=value", spec, at + 1);
            return -1;
        }
        *v++ = '\0';
        if (strcmp(kv, "cluster_name") == 0)
            m->cluster_name = v;
        else if (strcmp(kv, "host_name") == 0)
            m->host_name = v;
        else if (strcmp(kv, "host_os_type") == 0)
            m->host_os_type = v;
        else if (strcmp(kv, "no_host") == 0 && (strcmp(v, "true") == 0 || strcmp(v, "false") == 0))
            m->no_host = strcmp(v, "true") == 0;
        else {
            snprintf(msg, size,
                     "--source '%.200s': byte %zu: unknown key '%.40s' or bad value (cluster_name, "
                     "host_name, host_os_type, no_host=true|false)",
                     spec, at + 1, kv);
            return -1;
        }
        kv = next;
    }
    return 0;
}

static int check_sources(const struct srv_config *c, char *msg, size_t size)
{
    for (size_t i = 0; i < c->nsource; i++) {
        struct srv_source_meta m;
        char buf[4096];
        if (srv_source_parse(c->source[i], &m, buf, sizeof(buf), msg, size) != 0)
            return -1;
        bool known = strcmp(m.name, "webhook") == 0 && c->listen;
        for (size_t j = 0; !known && j < c->nfollow; j++)
            known = strcmp(m.name, c->follow[j]) == 0;
        if (!known) {
            snprintf(msg, size,
                     "--source '%.200s': '%.200s' is neither webhook (with --listen) nor a "
                     "--follow path",
                     c->source[i], m.name);
            return -1;
        }
    }
    return 0;
}

static int validate(struct srv_config *c)
{
    char msg[512];
    if (!c->listen && !c->nfollow)
        return usage_error("nothing to receive: give --listen HOST:PORT (or --follow FILE)");
    if (check_sources(c, msg, sizeof(msg)) != 0)
        return usage_error(msg);
    if (!!c->tls_cert != !!c->tls_key)
        return usage_error("--tls-cert and --tls-key go together");
    if (c->client_ca && !c->tls_cert)
        return usage_error("--client-ca needs --tls-cert and --tls-key (client certificates are "
                           "part of TLS)");
    if (c->listen_path && c->listen_path[0] != '/')
        return usage_error("--listen-path: expected a path starting with '/'");
    if (c->listen && !c->tls_cert && !srv_addr_loopback(c->listen) && !c->insecure) {
        snprintf(msg, sizeof(msg),
                 "refusing plain HTTP on %s, which is not a loopback address: give --tls-cert "
                 "and --tls-key, or --insecure",
                 c->listen);
        return usage_error(msg);
    }
    if (c->admin_listen && !c->tls_cert && !srv_addr_loopback(c->admin_listen) && !c->insecure) {
        snprintf(msg, sizeof(msg),
                 "refusing plain HTTP on the admin listener %s (not loopback) without --insecure",
                 c->admin_listen);
        return usage_error(msg);
    }
    if (!c->spool_dir && c->state && !strstr(c->state, "://")) {
        /* beside the state file */
        const char *slash = strrchr(c->state, '/');
        size_t dl = slash ? (size_t)(slash - c->state) : 1;
        const char *dir = slash ? c->state : ".";
        size_t n = dl + sizeof("/spool");
        c->spool_dir = malloc(n);
        if (!c->spool_dir)
            return usage_error("out of memory");
        snprintf(c->spool_dir, n, "%.*s/spool", (int)dl, dir);
    }
    if (!c->spool_dir)
        return usage_error("--spool-dir DIR is required (the durable spool of accepted batches)");
    kad_outputs_opts oo = {
        .specs = (const char *const *)c->sink, .nspecs = c->nsink, .config_path = c->config_path};
    kad_err kerr;
    kad_err_clear(&kerr);
    if (kad_outputs_check(&oo, &kerr) != KAD_OK) {
        char line[1024];
        kad_err_format(&kerr, line, sizeof(line));
        fprintf(stderr, "%s\n", line);
        return usage_error("bad --sink or [[sink]] (see above)");
    }
    if (load_tokens(c, msg, sizeof(msg)) != 0)
        return usage_error(msg);
    bool auth = c->client_ca || c->token;
    if (c->listen && !auth && !srv_addr_loopback(c->listen) && !c->insecure)
        return usage_error("refusing a webhook without client authentication on a non-loopback "
                           "address: give --client-ca or --token-file, or --insecure");
    if (c->max_record > c->max_body)
        c->max_record = c->max_body;
    if (c->max_inflight < c->max_body)
        c->max_inflight = c->max_body;
    if (c->max_connections == 0)
        return usage_error("--max-connections: expected at least 1");
    if (c->threads > 64)
        return usage_error("--threads: expected 0 (one per CPU) to 64");
    return 0;
}

int srv_config_load(struct srv_config *c, int argc, char **argv)
{
    memset(c, 0, sizeof(*c));
    defaults(c);
    c->argc = argc;
    c->argv = argv;
    struct option lo[NSETTINGS + 4];
    build_longopts(lo);
    /* pass 1: --config and --help; pass 2: the flags over the file */
    optind = 1;
    opterr = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (ch == 'h') {
            fputs(srv_usage, stdout);
            return -1;
        }
        if (ch == '?')
            return usage_error("bad option (see above)");
        if (ch == OPT_CONFIG) {
            free(c->config_path);
            c->config_path = xstrdup(optarg);
        }
        if (ch == OPT_CHECK)
            c->check_config = true;
    }
    if (optind < argc)
        return usage_error("serve takes no operands (inputs are --listen and --follow)");
    if (c->config_path && load_file(c, c->config_path) != 0)
        return 1;
    bool cleared[NSETTINGS] = {false};
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (ch < OPT_BASE || ch >= OPT_BASE + (int)NSETTINGS)
            continue;
        const struct setting *st = &settings[ch - OPT_BASE];
        if (st->type == T_STRS && !cleared[ch - OPT_BASE]) {
            clear_list(c, st);
            cleared[ch - OPT_BASE] = true;
        }
        char msg[256];
        char flag[48];
        if (!set_text(c, st, optarg ? optarg : "", msg, sizeof(msg))) {
            snprintf(flag, sizeof(flag), "--%s", flag_names[ch - OPT_BASE]);
            char full[400];
            snprintf(full, sizeof(full), "%s: %s", flag, msg + strlen(st->key) + 2);
            return usage_error(full);
        }
    }
    return validate(c);
}

static void retire(struct srv_config *c, char *p)
{
    char **r = realloc(c->retired, (c->nretired + 1) * sizeof(*r));
    if (!r) {
        free(p); /* nobody else holds rule paths long: the console copies what it shows */
        return;
    }
    c->retired = r;
    r[c->nretired++] = p;
}

/* Replace the list to[] by from[] (whose strings change hands), retiring the old ones. */
static void take_list(struct srv_config *c, char **to, size_t *nto, char **from, size_t *nfrom)
{
    for (size_t i = 0; i < *nto; i++)
        retire(c, to[i]);
    memcpy(to, from, SRV_MAX_PATHS * sizeof(*to));
    *nto = *nfrom;
    *nfrom = 0;
}

int srv_config_reload(struct srv_config *c, char *msg, size_t size)
{
    if (!c->config_path)
        return 0;
    struct srv_config n;
    /* the same command line over the file as it is now */
    int saved = opterr;
    FILE *err = stderr;
    (void)err;
    int rc = srv_config_load(&n, c->argc, c->argv);
    opterr = saved;
    if (rc != 0) {
        snprintf(msg, size, "%s: the configuration has errors (see the log)", c->config_path);
        srv_config_free(&n);
        return -1;
    }
    /* the lists the file may change: the old strings stay valid (retired) for whoever still
       runs on them (the detection thread swaps the follower and the outputs: srv_detect.c) */
    take_list(c, c->rules, &c->nrules, n.rules, &n.nrules);
    take_list(c, c->exceptions, &c->nexceptions, n.exceptions, &n.nexceptions);
    take_list(c, c->follow, &c->nfollow, n.follow, &n.nfollow);
    take_list(c, c->source, &c->nsource, n.source, &n.nsource);
    take_list(c, c->sink, &c->nsink, n.sink, &n.nsink);
    srv_config_free(&n);
    return 0;
}

void srv_config_free(struct srv_config *c)
{
    char **strs[] = {&c->config_path,  &c->listen,       &c->listen_path, &c->tls_cert,
                     &c->tls_key,      &c->client_ca,    &c->token_file,  &c->admin_listen,
                     &c->cluster_name, &c->state,        &c->output,      &c->spool_dir,
                     &c->host_name,    &c->host_os_type, &c->token,       &c->outbox};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    for (size_t i = 0; i < c->nfollow; i++)
        free(c->follow[i]);
    for (size_t i = 0; i < c->nsink; i++)
        free(c->sink[i]);
    c->nsink = 0;
    for (size_t i = 0; i < c->nsource; i++)
        free(c->source[i]);
    c->nsource = 0;
    for (size_t i = 0; i < c->nrules; i++)
        free(c->rules[i]);
    for (size_t i = 0; i < c->nexceptions; i++)
        free(c->exceptions[i]);
    c->nfollow = c->nrules = c->nexceptions = 0;
    for (size_t i = 0; i < c->nusers; i++) {
        free(c->users[i].name);
        free(c->users[i].token_file);
        free(c->users[i].token);
        free(c->users[i].cert_cn);
    }
    c->nusers = 0;
    for (size_t i = 0; i < c->nretired; i++)
        free(c->retired[i]);
    free(c->retired);
    c->retired = NULL;
    c->nretired = 0;
}

/* ---- --check-config -------------------------------------------------------------------------- */

/* The file at path can be written, or made in its directory, by this user (a URL: not here). */
static int check_place(const char *what, const char *path, char *msg, size_t size)
{
    if (!path || strstr(path, "://"))
        return 0;
    if (access(path, F_OK) == 0) {
        if (access(path, W_OK) == 0)
            return 0;
        snprintf(msg, size, "%s %s: not writable: %s", what, path, strerror(errno));
        return -1;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    int ok = dir && access(dir, W_OK | X_OK) == 0;
    if (!ok)
        snprintf(msg, size, "%s %s cannot be made in %s: %s", what, path, dir ? dir : "?",
                 strerror(dir ? errno : ENOMEM));
    free(dir);
    return ok ? 0 : -1;
}

static int check_readable(const char *what, const char *path, char *msg, size_t size)
{
    if (!path || access(path, R_OK) == 0)
        return 0;
    snprintf(msg, size, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

/* The certificate and key load as GnuTLS will load them, and belong together; the CA has one. */
static int check_tls(const struct srv_config *c, char *msg, size_t size)
{
    if (!c->tls_cert)
        return 0;
    if (check_readable("--tls-cert", c->tls_cert, msg, size) != 0 ||
        check_readable("--tls-key", c->tls_key, msg, size) != 0 ||
        check_readable("--client-ca", c->client_ca, msg, size) != 0)
        return -1;
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
        snprintf(msg, size, "out of memory");
        return -1;
    }
    int rc =
        gnutls_certificate_set_x509_key_file(cred, c->tls_cert, c->tls_key, GNUTLS_X509_FMT_PEM);
    if (rc < 0)
        snprintf(msg, size, "--tls-cert %s with --tls-key %s: %s", c->tls_cert, c->tls_key,
                 gnutls_strerror(rc));
    else if (c->client_ca) {
        rc = gnutls_certificate_set_x509_trust_file(cred, c->client_ca, GNUTLS_X509_FMT_PEM);
        if (rc <= 0) {
            snprintf(msg, size, "--client-ca %s: %s", c->client_ca,
                     rc == 0 ? "no PEM certificate in it" : gnutls_strerror(rc));
            rc = -1;
        }
    }
    gnutls_certificate_free_credentials(cred);
    return rc < 0 ? -1 : 0;
}

int srv_config_check(const struct srv_config *c, size_t nrules)
{
    char msg[1024];
    int bad = check_tls(c, msg, sizeof(msg));
    if (!bad)
        bad = check_place("state", c->state, msg, sizeof(msg)) ||
              check_place("--spool-dir", c->spool_dir, msg, sizeof(msg)) ||
              check_place("--output", c->output, msg, sizeof(msg)) ||
              check_place("--outbox", c->outbox, msg, sizeof(msg));
    for (size_t i = 0; !bad && i < c->nfollow; i++) /* a followed file may come later */
        if (access(c->follow[i], F_OK) == 0)
            bad = check_readable("--follow", c->follow[i], msg, sizeof(msg));
    if (bad) {
        fprintf(stderr, "kadet serve: --check-config: %s\n", msg);
        return SRV_EXIT_USAGE;
    }
    printf("%s: ok: %zu rules, %zu exception paths; webhook %s%s%s; admin %s; state %s; "
           "spool %s; alerts to %s\n",
           c->config_path ? c->config_path : "(flags)", nrules, c->nexceptions,
           c->listen ? c->listen : "none", c->listen && c->tls_cert ? " (https" : "",
           !c->listen || !c->tls_cert ? ""
           : c->client_ca && c->token ? ", client certificates or token)"
           : c->client_ca             ? ", client certificates)"
           : c->token                 ? ", token)"
                                      : ")",
           c->admin_listen ? c->admin_listen : "none", c->state, c->spool_dir,
           c->output ? c->output : "standard output or the sinks");
    return SRV_EXIT_OK;
}
