/*
 * console_host.c - a small HTTP host for the web console (serve/console*.c) until, and beside,
 * `kadet serve`: plain HTTP on 127.0.0.1 (libmicrohttpd, a thread per connection), bearer-token
 * users, one engine over a file state writing an alerts file, and the srv_services of
 * serve/route.h (rules, reload, metrics, token check). The console tests run against it
 * (tests/cli/test_console_api.sh, tests/cli/test_console_ui.sh).
 *
 *   console-host --listen 127.0.0.1:0 --port-file F --rules DIR --exceptions DIR --state DB
 *                --output ALERTS.ndjson [--user NAME:ROLE:TOKEN_FILE]... [--scan LOG]...
 *                [--now TIME]
 *
 * Besides the console's /ui and /api/v1/ it answers POST /host/ingest (admin token): the body
 * (audit events, as kube-apiserver's webhook posts them) run through the engine and committed,
 * the new alerts handed to the console's on_alerts.
 */
#include "kad.h"
#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_USERS 16
#define MAX_PATHS 16
#define MAX_BODY (4u << 20)

struct user {
    char name[64];
    srv_role role;
    char token[256];
};

struct host {
    const char *rules_paths[MAX_PATHS];
    size_t n_rules;
    const char *exc_paths[MAX_PATHS];
    size_t n_exc;
    const char *state_path, *output_path;
    struct user users[MAX_USERS];
    size_t n_users;
    int64_t now_ms;

    pthread_mutex_t mu; /* engine, rules, out_len */
    kad_rules *rules;
    kad_state *state;
    kad_engine *engine;
    long out_len;
    srv_mount *mount;
};

static atomic_int quitting;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "console-host: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

/* ---- rules, engine, alerts ----------------------------------------------------------------- */

static kad_rules *load_rules(struct host *h, char *msg, size_t size)
{
    kad_rules *rs = kad_rules_new();
    kad_err err;
    kad_err_clear(&err);
    int rc = KAD_OK;
    for (size_t i = 0; i < h->n_rules && rc == KAD_OK; i++)
        rc = kad_rules_load(rs, h->rules_paths[i], &err);
    for (size_t i = 0; i < h->n_exc && rc == KAD_OK; i++)
        rc = kad_rules_load_exceptions(rs, h->exc_paths[i], &err);
    if (rc != KAD_OK) {
        /* rules the engine cannot run are loaded with a reason, not errors; a broken file is */
        kad_err_format(&err, msg, size);
        kad_rules_unref(rs);
        return NULL;
    }
    return rs;
}

static int open_engine(struct host *h, char *msg, size_t size)
{
    kad_engine_opts o;
    memset(&o, 0, sizeof(o));
    o.rules = h->rules;
    o.state = h->state;
    o.output_path = h->output_path;
    o.output_fd = -1;
    o.now_ms = h->now_ms;
    o.decode.host_name = "console-host"; /* fixed host.* so alerts do not depend on the machine */
    o.decode.host_os_type = "linux";
    kad_err err;
    kad_err_clear(&err);
    if (kad_engine_new(&h->engine, &o, &err) != KAD_OK) {
        kad_err_format(&err, msg, size);
        return -1;
    }
    return 0;
}

/* Hand the alerts the last commit appended to the output file to the console. */
static void deliver_new_alerts(struct host *h)
{
    FILE *f = fopen(h->output_path, "rb");
    if (!f)
        return;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        if (end > h->out_len && fseek(f, h->out_len, SEEK_SET) == 0) {
            size_t n = (size_t)(end - h->out_len);
            char *buf = malloc(n);
            if (buf && fread(buf, 1, n, f) == n && h->mount && h->mount->on_alerts)
                h->mount->on_alerts(h->mount->ctx, buf, n);
            free(buf);
            h->out_len = end;
        }
    }
    fclose(f);
}

/* What serve's detection thread does for every record it runs (route.h on_record): here the
   records of a scanned file, read again, and the lines of an ingested body. */
static void hand_records(struct host *h, const char *path)
{
    if (!h->mount || !h->mount->on_record)
        return;
    kad_reader *r = NULL;
    kad_err err;
    kad_err_clear(&err);
    if (kad_reader_open(&r, path, NULL, &err) != KAD_OK)
        return;
    kad_record rec;
    int rc;
    while ((rc = kad_reader_next(r, &rec, &err)) != 0 && rc != KAD_EIO)
        if (rc == 1)
            h->mount->on_record(h->mount->ctx, rec.data, rec.len, KAD_TIME_NONE);
    kad_reader_close(r);
}

static void hand_body(struct host *h, const char *body, size_t len)
{
    if (!h->mount || !h->mount->on_record)
        return;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(body + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - body) : len;
        if (end > i)
            h->mount->on_record(h->mount->ctx, body + i, end - i, KAD_TIME_NONE);
        i = end + 1;
    }
}

static kad_rules *svc_rules_get(void *sv)
{
    struct host *h = sv;
    pthread_mutex_lock(&h->mu);
    kad_rules *rs = h->rules ? kad_rules_ref(h->rules) : NULL;
    pthread_mutex_unlock(&h->mu);
    return rs;
}

static int svc_reload(void *sv, char *msg, size_t size)
{
    struct host *h = sv;
    kad_rules *rs = load_rules(h, msg, size);
    if (!rs)
        return -1;
    pthread_mutex_lock(&h->mu);
    kad_err err;
    kad_err_clear(&err);
    kad_engine_commit(h->engine, &err);
    kad_engine_free(h->engine);
    h->engine = NULL;
    kad_rules *old = h->rules;
    h->rules = rs;
    int rc = open_engine(h, msg, size);
    if (rc != 0) { /* back to the previous set */
        h->rules = old;
        kad_rules_unref(rs);
        char again[256];
        open_engine(h, again, sizeof(again));
    } else {
        kad_rules_unref(old);
        snprintf(msg, size, "%zu rules loaded", kad_rules_count(rs));
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static char *svc_metrics(void *sv)
{
    struct host *h = sv;
    kad_engine_stats s;
    pthread_mutex_lock(&h->mu);
    kad_engine_stats_get(h->engine, &s);
    pthread_mutex_unlock(&h->mu);
    char *t = malloc(1024);
    if (!t)
        return NULL;
    snprintf(t, 1024,
             "# HELP kadet_records_total Records read.\n# TYPE kadet_records_total counter\n"
             "kadet_records_total %llu\nkadet_events_total %llu\nkadet_bytes_total %llu\n"
             "kadet_skipped_total %llu\nkadet_alerts_total %llu\nkadet_matched_total %llu\n"
             "kadet_excepted_total %llu\nkadet_commits_total %llu\n",
             (unsigned long long)s.records, (unsigned long long)s.events,
             (unsigned long long)s.bytes, (unsigned long long)s.skipped,
             (unsigned long long)s.alerts, (unsigned long long)s.matched,
             (unsigned long long)s.excepted, (unsigned long long)s.commits);
    return t;
}

static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0 && la > 0;
}

static srv_role svc_auth(void *sv, const char *token, char *principal, size_t size)
{
    struct host *h = sv;
    srv_role r = SRV_ROLE_NONE;
    for (size_t i = 0; i < h->n_users; i++) {
        if (same_secret(h->users[i].token, token) && r == SRV_ROLE_NONE) {
            r = h->users[i].role;
            snprintf(principal, size, "%s", h->users[i].name);
        }
    }
    return r;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

struct conn {
    char *body;
    size_t len, cap;
    bool too_big;
};

struct req_impl {
    struct MHD_Connection *c;
};

static const char *req_header(const srv_req *rq, const char *name)
{
    const struct req_impl *im = rq->impl;
    return MHD_lookup_connection_value(im->c, MHD_HEADER_KIND, name);
}

static void pct(char **q, size_t *len, size_t *cap, const char *s)
{
    for (; *s; s++) {
        if (*len + 4 > *cap) {
            *cap = (*cap + 4) * 2;
            *q = realloc(*q, *cap);
            if (!*q)
                abort();
        }
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~')
            (*q)[(*len)++] = (char)ch;
        else
            *len += (size_t)sprintf(*q + *len, "%%%02X", ch);
    }
    (*q)[*len] = '\0';
}

struct qs {
    char *q;
    size_t len, cap;
};
static void qs_raw(struct qs *s, char ch)
{
    char one[2] = {'x', '\0'};
    pct(&s->q, &s->len, &s->cap, one); /* makes room and terminates */
    s->q[s->len - 1] = ch;
}
static enum MHD_Result qs_add(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    struct qs *s = cls;
    if (s->len)
        qs_raw(s, '&');
    pct(&s->q, &s->len, &s->cap, key);
    if (value) {
        qs_raw(s, '=');
        pct(&s->q, &s->len, &s->cap, value);
    }
    return MHD_YES;
}

struct stream {
    srv_resp rs;
};
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    for (;;) {
        if (atomic_load(&quitting))
            return MHD_CONTENT_READER_END_OF_STREAM;
        long n = s->rs.next(s->rs.stream, buf, max);
        if (n < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (n > 0)
            return (ssize_t)n;
        usleep(100 * 1000);
    }
}
static void stream_done(void *cls)
{
    struct stream *s = cls;
    if (s->rs.stream_free)
        s->rs.stream_free(s->rs.stream);
    free(s->rs.headers);
    free(s);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void add_headers(struct MHD_Response *r, const char *h)
{
    while (h && *h) {
        const char *eol = strstr(h, "\r\n");
        size_t n = eol ? (size_t)(eol - h) : strlen(h);
        char line[1024];
        if (n < sizeof(line)) {
            memcpy(line, h, n);
            line[n] = '\0';
            char *colon = strchr(line, ':');
            if (colon) {
                *colon = '\0';
                const char *v = colon + 1;
                while (*v == ' ')
                    v++;
                MHD_add_response_header(r, line, v);
            }
        }
        h += n + (eol ? 2 : 0);
    }
}

static enum MHD_Result ingest(struct host *h, struct MHD_Connection *c, const char *body,
                              size_t len)
{
    kad_err err;
    kad_err_clear(&err);
    kad_body_result res;
    memset(&res, 0, sizeof(res));
    static uint64_t reqs;
    pthread_mutex_lock(&h->mu);
    int rc = kad_engine_body(h->engine, body, len, ++reqs, "host", &res, &err);
    if (rc == KAD_OK) {
        hand_body(h, body, len);
        deliver_new_alerts(h);
    }
    pthread_mutex_unlock(&h->mu);
    char out[512];
    if (rc != KAD_OK) {
        char msg[300];
        kad_err_format(&err, msg, sizeof(msg));
        snprintf(out, sizeof(out), "{\"error\":\"ingest failed\"}\n");
        fprintf(stderr, "console-host: ingest: %s\n", msg);
        return send_text(c, 400, "application/json", out);
    }
    snprintf(out, sizeof(out), "{\"records\":%llu,\"events\":%llu,\"alerts\":%llu}\n",
             (unsigned long long)res.records, (unsigned long long)res.events,
             (unsigned long long)res.alerts);
    return send_text(c, 200, "application/json", out);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct host *h = cls;
    struct conn *cn = *con_cls;
    if (!cn) {
        cn = calloc(1, sizeof(*cn));
        if (!cn)
            return MHD_NO;
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        if (cn->len + *upload_size > MAX_BODY) {
            cn->too_big = true;
        } else {
            if (cn->len + *upload_size + 1 > cn->cap) {
                cn->cap = (cn->len + *upload_size + 1) * 2;
                char *b = realloc(cn->body, cn->cap);
                if (!b)
                    return MHD_NO;
                cn->body = b;
            }
            memcpy(cn->body + cn->len, upload, *upload_size);
            cn->len += *upload_size;
            cn->body[cn->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cn->too_big)
        return send_text(c, 413, "application/json", "{\"error\":\"body over 4 MiB\"}");

    /* serve's part: bearer tokens to roles */
    srv_role role = SRV_ROLE_NONE;
    char principal[128] = "";
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
        role = svc_auth(h, authz + 7, principal, sizeof(principal));
    if (authz && role == SRV_ROLE_NONE)
        return send_text(c, 401, "application/json", "{\"error\":\"unknown bearer token\"}");

    if (!strcmp(url, "/host/ingest")) {
        if (strcmp(method, "POST"))
            return send_text(c, 405, "application/json", "{\"error\":\"POST\"}");
        if (role < SRV_ROLE_ADMIN)
            return send_text(c, 403, "application/json", "{\"error\":\"admin token needed\"}");
        return ingest(h, c, cn->body ? cn->body : "", cn->len);
    }
    if (!strcmp(url, "/"))
        return send_text(c, 200, "text/html", "<a href=\"/ui/\">console</a>\n");

    struct qs q = {0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, qs_add, &q);
    struct req_impl im = {.c = c};
    srv_req rq = {
        .method = method,
        .path = url,
        .query = q.q ? q.q : "",
        .body = cn->body,
        .body_len = cn->len,
        .peer = "127.0.0.1:0",
        .request_id = 0,
        .role = role,
        .principal = principal,
        .header = req_header,
        .impl = &im,
    };
    srv_resp rs;
    memset(&rs, 0, sizeof(rs));
    bool mine = false;
    for (const char *const *p = h->mount->prefixes; *p; p++)
        mine = mine || strncmp(url, *p, strlen(*p)) == 0;
    int handled = mine ? h->mount->handle(h->mount->ctx, &rq, &rs) : 1;
    free(q.q);
    if (handled != 0)
        return send_text(c, 404, "application/json", "{\"error\":\"not found\"}");
    struct MHD_Response *r;
    if (rs.next) {
        struct stream *s = calloc(1, sizeof(*s));
        if (!s)
            return MHD_NO;
        s->rs = rs;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_done);
        add_headers(r, rs.headers);
    } else if (rs.body) {
        r = MHD_create_response_from_buffer(rs.body_len, rs.body, MHD_RESPMEM_MUST_FREE);
        add_headers(r, rs.headers);
        free(rs.headers);
    } else {
        const char *b = rs.body_static ? rs.body_static : "";
        size_t n = rs.body_len ? rs.body_len : strlen(b);
        r = MHD_create_response_from_buffer(n, (void *)b, MHD_RESPMEM_PERSISTENT);
        add_headers(r, rs.headers);
        free(rs.headers);
    }
    MHD_add_response_header(r, "Content-Type",
                            rs.content_type ? rs.content_type : "application/json");
    enum MHD_Result ret = MHD_queue_response(c, rs.status ? (unsigned)rs.status : 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct conn *cn = *con_cls;
    if (cn) {
        free(cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

static srv_role role_of(const char *s)
{
    if (!strcmp(s, "read"))
        return SRV_ROLE_READ;
    if (!strcmp(s, "analyst"))
        return SRV_ROLE_ANALYST;
    if (!strcmp(s, "admin"))
        return SRV_ROLE_ADMIN;
    die("role must be read, analyst or admin, not '%s'", s);
    return SRV_ROLE_NONE;
}

static void add_user(struct host *h, char *spec)
{
    char *a = strchr(spec, ':'), *b = a ? strchr(a + 1, ':') : NULL;
    if (!a || !b || h->n_users == MAX_USERS)
        die("--user NAME:ROLE:TOKEN_FILE, not '%s'", spec);
    *a = *b = '\0';
    struct user *u = &h->users[h->n_users++];
    snprintf(u->name, sizeof(u->name), "%s", spec);
    u->role = role_of(a + 1);
    FILE *f = fopen(b + 1, "r");
    if (!f || !fgets(u->token, sizeof(u->token), f))
        die("cannot read token file %s", b + 1);
    fclose(f);
    u->token[strcspn(u->token, "\r\n")] = '\0';
}

int main(int argc, char **argv)
{
    struct host h;
    memset(&h, 0, sizeof(h));
    h.now_ms = KAD_TIME_NONE;
    pthread_mutex_init(&h.mu, NULL);
    /* SIGTERM and SIGINT end the host: blocked in every thread, taken by sigwait below */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    const char *listen = "127.0.0.1:0", *port_file = NULL;
    const char *scans[MAX_PATHS];
    size_t n_scans = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("%s needs a value", a);
        i++;
        if (!strcmp(a, "--listen"))
            listen = v;
        else if (!strcmp(a, "--port-file"))
            port_file = v;
        else if (!strcmp(a, "--rules") && h.n_rules < MAX_PATHS)
            h.rules_paths[h.n_rules++] = v;
        else if (!strcmp(a, "--exceptions") && h.n_exc < MAX_PATHS)
            h.exc_paths[h.n_exc++] = v;
        else if (!strcmp(a, "--state"))
            h.state_path = v;
        else if (!strcmp(a, "--output"))
            h.output_path = v;
        else if (!strcmp(a, "--user"))
            add_user(&h, argv[i]);
        else if (!strcmp(a, "--scan") && n_scans < MAX_PATHS)
            scans[n_scans++] = v;
        else if (!strcmp(a, "--now")) {
            if (!kad_time_parse(v, strlen(v), &h.now_ms))
                die("--now: not a time: %s", v);
        } else
            die("unknown option %s", a);
    }
    if (!h.state_path || !h.output_path || !h.n_rules)
        die("%s", "--rules, --state and --output are required");
    char msg[512];
    if (!(h.rules = load_rules(&h, msg, sizeof(msg))))
        die("rules: %s", msg);
    kad_err err;
    kad_err_clear(&err);
    kad_state_opts so = {.mode = KAD_STATE_RW};
    if (kad_state_open(&h.state, h.state_path, &so, &err) != KAD_OK ||
        kad_state_lock(h.state, &err) != KAD_OK)
        die("state: %s", err.msg);
    if (open_engine(&h, msg, sizeof(msg)) != 0)
        die("engine: %s", msg);
    struct stat sb;
    h.out_len = stat(h.output_path, &sb) == 0 ? (long)sb.st_size : 0;

    srv_services sv = {
        .sv = &h,
        .state_location = h.state_path,
        .output_path = h.output_path,
        .exception_paths = h.exc_paths,
        .n_exception_paths = h.n_exc,
        .rules_get = svc_rules_get,
        .reload = svc_reload,
        .metrics_text = svc_metrics,
        .authenticate_token = svc_auth,
    };
    h.mount = console_mount_new(&sv, NULL, &err);
    if (!h.mount)
        die("console: %s", err.msg);
    for (size_t i = 0; i < n_scans; i++) {
        pthread_mutex_lock(&h.mu);
        if (kad_engine_scan(h.engine, scans[i], &err) != KAD_OK ||
            kad_engine_commit(h.engine, &err) != KAD_OK)
            die("scan: %s", err.msg);
        hand_records(&h, scans[i]);
        deliver_new_alerts(&h);
        pthread_mutex_unlock(&h.mu);
    }

    const char *colon = strrchr(listen, ':');
    if (!colon || strncmp(listen, "127.0.0.1:", 10) != 0)
        die("--listen 127.0.0.1:PORT (this host serves plain HTTP on the loopback only), not %s",
            listen);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, &h, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, on_done,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!d)
        die("cannot listen on %s", listen);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0)
            die("cannot write %s", port_file);
    }
    fprintf(stderr, "console-host: listening on 127.0.0.1:%u\n", port);
    int sig = 0;
    sigwait(&sigs, &sig);
    atomic_store(&quitting, 1);
    MHD_stop_daemon(d);
    if (h.mount->close)
        h.mount->close(h.mount->ctx);
    kad_engine_commit(h.engine, &err);
    kad_engine_free(h.engine);
    kad_rules_unref(h.rules);
    kad_state_close(h.state);
    return 0;
}
