/*
 * srv_http.c - kadet serve's listeners on libmicrohttpd with GnuTLS (docs/internals/serve.md
 * "HTTP"). One thread per connection (MHD_USE_THREAD_PER_CONNECTION) under a connection limit,
 * a per-IP limit and an inactivity timeout, so a slow or stalled client holds only its own
 * thread. Everything about a request is decided from its headers, before its body is read:
 * the route (404/405), the client's identity (a client certificate verified against
 * --client-ca, or a bearer token compared in constant time) and role (401/403), the size
 * (Content-Length over --max-body: 413) and the memory budget of bodies in flight (503 with
 * Retry-After). The body of an accepted webhook POST is split into records and appended to the
 * spool; the 200 comes once the spool's fsync covers it.
 *
 * The admin endpoints (/healthz, /readyz, /metrics, POST /-/reload) and the mounts (route.h:
 * the console under /ui and /api/v1/) are on --admin-listen, or on the webhook listener when
 * there is none.
 */
#include "serve.h"

#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct conn;

struct srv_listener {
    struct srv *s;
    const char *addr;
    bool webhook, admin, tls, verify;
    struct MHD_Daemon *d;
    char *cert, *key, *ca; /* PEM text: MHD keeps pointers */
    char where[NI_MAXHOST + NI_MAXSERV + 4];
    /* the reaper: closes connections past their deadline (headers, body) */
    pthread_mutex_t conns_mu;
    pthread_cond_t reaper_cond;
    struct conn *conns; /* every open connection */
    pthread_t reaper;
    bool reaper_on, reaper_stop;
};

/* per connection (MHD's socket context) */
struct conn {
    int cert; /* 0 not checked yet, 1 none presented, 2 verified, 3 presented, not trusted */
    char cn[128];
    /* under the listener's conns_mu: */
    int fd;
    int64_t deadline_us; /* 0: none */
    const char *waiting; /* what the deadline is for: "headers", "body" */
    bool reaped;
    char peer[NI_MAXHOST + NI_MAXSERV + 4];
    struct conn *prev, *next;
};

enum { R_INGEST = 1, R_MOUNT, R_DONE };

struct req {
    int kind;
    char *body;
    size_t len, cap, reserved;
    bool too_big, no_budget;
    uint64_t id;
    int64_t t0;
    srv_role role;
    char principal[160];
    srv_mount *mount;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- deadlines ------------------------------------------------------------------------------- */

/*
 * libmicrohttpd's --timeout only closes a connection that sends nothing for that long; a client
 * that trickles a byte now and then would hold it for ever. So each connection also has a
 * deadline: its request headers within --header-timeout of connecting (or of the previous
 * answer plus --timeout on a kept-alive connection), its body within --body-timeout of its
 * headers. The reaper thread shuts a late connection's socket down (its thread then sees the
 * end of the stream and MHD closes it).
 */
static void conn_deadline(struct srv_listener *l, struct MHD_Connection *c, unsigned secs,
                          const char *what)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *cn = ci ? ci->socket_context : NULL;
    if (!cn)
        return;
    pthread_mutex_lock(&l->conns_mu);
    cn->deadline_us = secs ? mono_us() + (int64_t)secs * 1000000 : 0;
    cn->waiting = what;
    pthread_mutex_unlock(&l->conns_mu);
}

static void *reaper_main(void *arg)
{
    prctl(PR_SET_NAME, "kadet-reaper", 0, 0, 0); /* per-thread CPU in top, perf, bench/serve.sh */
    struct srv_listener *l = arg;
    struct srv *s = l->s;
    pthread_mutex_lock(&l->conns_mu);
    while (!l->reaper_stop) {
        int64_t now = mono_us();
        for (struct conn *cn = l->conns; cn; cn = cn->next) {
            if (!cn->deadline_us || now <= cn->deadline_us || cn->reaped || cn->fd < 0)
                continue;
            cn->reaped = true;
            shutdown(cn->fd, SHUT_RDWR);
            atomic_fetch_add(&s->m.timeouts, 1);
            bool body = cn->waiting && cn->waiting[0] == 'b';
            srv_log(KAD_LOG_INFO,
                    "connection from %s closed: its request %s did not arrive "
                    "within %u s (%s)",
                    cn->peer, body ? "body" : "headers",
                    body ? s->cfg.body_timeout_s : s->cfg.header_timeout_s,
                    body ? "--body-timeout" : "--header-timeout");
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&l->reaper_cond, &l->conns_mu, &ts);
    }
    pthread_mutex_unlock(&l->conns_mu);
    return NULL;
}

/* ---- answers --------------------------------------------------------------------------------- */

static enum MHD_Result answer_full(struct MHD_Connection *c, unsigned status, const char *type,
                                   const char *text, size_t len, const char *allow,
                                   const char *extra)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    /* "Name: value\r\n" lines */
    for (const char *p = extra; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        if (colon) {
            char name[128], value[2048];
            size_t nl = (size_t)(colon - p), vl = n - nl - 1;
            const char *v = colon + 1;
            while (vl && *v == ' ') {
                v++;
                vl--;
            }
            if (nl < sizeof(name) && vl < sizeof(value)) {
                memcpy(name, p, nl);
                name[nl] = '\0';
                memcpy(value, v, vl);
                value[vl] = '\0';
                MHD_add_response_header(r, name, value);
            }
        }
        p += n + (eol ? 2 : 0);
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *text)
{
    return answer_full(c, status, "text/plain; charset=utf-8", text, strlen(text), NULL, NULL);
}

static enum MHD_Result answer_json(struct MHD_Connection *c, unsigned status, const char *text)
{
    return answer_full(c, status, "application/json", text, strlen(text), NULL, NULL);
}

/* ---- identity -------------------------------------------------------------------------------- */

static bool ct_equal(const char *given, size_t glen, const char *secret, size_t slen)
{
    /* time depends on the secret's length only */
    volatile unsigned char d = glen != slen;
    for (size_t i = 0; i < slen; i++)
        d |= (unsigned char)((i < glen ? given[i] : 0) ^ secret[i]);
    return d == 0;
}

srv_role srv_auth_token(struct srv *s, const char *token, size_t len, char *principal, size_t size)
{
    srv_role role = SRV_ROLE_NONE;
    const char *who = "";
    if (s->cfg.token && ct_equal(token, len, s->cfg.token, s->cfg.token_len)) {
        role = SRV_ROLE_ADMIN;
        who = "token";
    }
    for (size_t i = 0; i < s->cfg.nusers; i++) {
        const struct srv_user *u = &s->cfg.users[i];
        if (u->token && ct_equal(token, len, u->token, u->token_len) && role == SRV_ROLE_NONE) {
            role = u->role;
            who = u->name;
        }
    }
    if (principal && size)
        snprintf(principal, size, "%s", who);
    return role;
}

static srv_role svc_auth(void *sv, const char *token, char *principal, size_t size)
{
    return srv_auth_token(sv, token, token ? strlen(token) : 0, principal, size);
}

static void check_cert(struct MHD_Connection *c, struct conn *cn)
{
    cn->cert = 1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return;
    gnutls_session_t sess = (gnutls_session_t)ci->tls_session;
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(sess, &n);
    if (!certs || n == 0)
        return;
    cn->cert = 3;
    unsigned status = 0;
    if (gnutls_certificate_verify_peers2(sess, &status) != 0 || status != 0)
        return;
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) != 0)
        return;
    if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0) {
        size_t sz = sizeof(cn->cn);
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn->cn, &sz) != 0)
            cn->cn[0] = '\0';
        cn->cert = 2;
    }
    gnutls_x509_crt_deinit(crt);
}

struct ident {
    bool presented; /* some credential was sent */
    bool poster;    /* may POST events: a verified client certificate or the --token-file token */
    srv_role role;  /* on the admin side */
    char principal[160];
};

static void identify(struct srv_listener *l, struct MHD_Connection *c, struct ident *id)
{
    struct srv *s = l->s;
    memset(id, 0, sizeof(*id));
    if (l->verify) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct conn *cn = ci ? ci->socket_context : NULL;
        struct conn tmp = {0};
        if (!cn)
            cn = &tmp;
        if (cn->cert == 0)
            check_cert(c, cn);
        if (cn->cert >= 2)
            id->presented = true;
        if (cn->cert == 2) {
            id->poster = true;
            snprintf(id->principal, sizeof(id->principal), "CN=%s", cn->cn);
            for (size_t i = 0; i < s->cfg.nusers; i++)
                if (s->cfg.users[i].cert_cn && strcmp(s->cfg.users[i].cert_cn, cn->cn) == 0) {
                    id->role = s->cfg.users[i].role;
                    snprintf(id->principal, sizeof(id->principal), "%s", s->cfg.users[i].name);
                    break;
                }
        }
    }
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        id->presented = true;
        const char *t = auth + 7;
        while (*t == ' ')
            t++;
        char who[128];
        srv_role r = srv_auth_token(s, t, strlen(t), who, sizeof(who));
        if (r != SRV_ROLE_NONE) {
            if (s->cfg.token && strcmp(who, "token") == 0)
                id->poster = true;
            if (r > id->role) {
                id->role = r;
                snprintf(id->principal, sizeof(id->principal), "%s", who);
            }
        }
    }
}

static bool webhook_auth_on(const struct srv *s) { return s->cfg.client_ca || s->cfg.token; }
static bool admin_auth_on(const struct srv *s)
{
    return s->cfg.client_ca || s->cfg.token || s->cfg.nusers;
}

/* ---- routes ---------------------------------------------------------------------------------- */

static bool is(const char *a, const char *b) { return strcmp(a, b) == 0; }

static srv_mount *find_mount(struct srv *s, const char *url)
{
    for (size_t i = 0; i < s->nmounts; i++)
        for (const char *const *p = s->mounts[i]->prefixes; p && *p; p++)
            if (strncmp(url, *p, strlen(*p)) == 0)
                return s->mounts[i];
    return NULL;
}

static bool ready(struct srv *s, char *why, size_t size)
{
    kad_rules *r = srv_rules_get(s);
    bool ok = r != NULL;
    kad_rules_unref(r);
    if (!ok)
        snprintf(why, size, "no rules loaded\n");
    else if (!s->st)
        snprintf(why, size, "state not open\n"), ok = false;
    else if (atomic_load(&s->fatal))
        snprintf(why, size, "detection stopped (see the log)\n"), ok = false;
    else if (atomic_load(&s->stopping))
        snprintf(why, size, "shutting down\n"), ok = false;
    else if (!srv_guard_ready(s, why, size)) /* srv_stateguard.c */
        ok = false;
    else if (srv_spool_high(s->spool))
        snprintf(why, size, "spool above its high-water mark (90%% of --spool-max)\n"), ok = false;
    else
        snprintf(why, size, "ready\n");
    return ok;
}

static bool budget_take(struct srv *s, size_t n)
{
    int64_t cur = atomic_fetch_add(&s->m.inflight_bytes, (int64_t)n);
    if ((size_t)cur + n > s->cfg.max_inflight) {
        atomic_fetch_sub(&s->m.inflight_bytes, (int64_t)n);
        return false;
    }
    return true;
}

static bool body_add(struct srv *s, struct req *r, size_t max, const char *p, size_t n)
{
    if (n > max || r->len > max - n)
        return false;
    if (r->len + n > r->reserved) { /* chunked bodies: the budget grows with them */
        size_t more = r->len + n - r->reserved;
        if (!budget_take(s, more)) {
            r->no_budget = true;
            return false;
        }
        r->reserved += more;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b)
            return false;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, p, n);
    r->len += n;
    return true;
}

static const char *rq_header(const srv_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->impl, MHD_HEADER_KIND, name);
}

static void peer_of(struct MHD_Connection *c, char *out, size_t size)
{
    snprintf(out, size, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr)
        srv_addr_format(ci->client_addr, out, size);
}

/* ---- streaming mount answers ----------------------------------------------------------------- */

struct stream {
    struct srv *s;
    srv_resp rs;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    for (;;) {
        if (atomic_load(&st->s->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        long n = st->rs.next(st->rs.stream, buf, max);
        if (n > 0)
            return (ssize_t)n;
        if (n < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    if (st->rs.stream_free)
        st->rs.stream_free(st->rs.stream);
    free(st);
}

struct qbuf {
    char text[4096];
    size_t len;
};

static void q_enc(struct qbuf *q, const char *v)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (; v && *v; v++) {
        unsigned char ch = (unsigned char)*v;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (q->len + 4 >= sizeof(q->text))
            return;
        if (plain) {
            q->text[q->len++] = (char)ch;
        } else {
            q->text[q->len++] = '%';
            q->text[q->len++] = hexd[ch >> 4];
            q->text[q->len++] = hexd[ch & 15];
        }
    }
    q->text[q->len] = '\0';
}

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct qbuf *q = cls;
    if (q->len && q->len + 1 < sizeof(q->text))
        q->text[q->len++] = '&';
    q_enc(q, key);
    if (value && q->len + 1 < sizeof(q->text)) {
        q->text[q->len++] = '=';
        q_enc(q, value);
    }
    q->text[q->len] = '\0';
    return MHD_YES;
}

static enum MHD_Result run_mount(struct srv_listener *l, struct MHD_Connection *c, const char *url,
                                 const char *method, struct req *r)
{
    struct srv *s = l->s;
    char peer[NI_MAXHOST + NI_MAXSERV + 4];
    peer_of(c, peer, sizeof(peer));
    /* MHD gives the path without the query and the arguments decoded: encode them again */
    struct qbuf q = {.len = 0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
    srv_req rq = {.method = method,
                  .path = url,
                  .query = q.text,
                  .body = r->body,
                  .body_len = r->len,
                  .peer = peer,
                  .request_id = r->id,
                  .role = r->role,
                  .principal = r->principal,
                  .header = rq_header,
                  .impl = c,
                  .tls = l->tls};
    srv_resp rs;
    memset(&rs, 0, sizeof(rs));
    int h = r->mount->handle(r->mount->ctx, &rq, &rs);
    if (h != 0) {
        free(rs.body);
        free(rs.headers);
        atomic_fetch_add(&s->m.req_notfound, 1);
        return answer(c, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    unsigned status = rs.status ? (unsigned)rs.status : 200;
    const char *type = rs.content_type ? rs.content_type : "application/json";
    enum MHD_Result ret;
    if (rs.next) {
        struct stream *st = calloc(1, sizeof(*st));
        if (!st) {
            if (rs.stream_free)
                rs.stream_free(rs.stream);
            free(rs.headers);
            return MHD_NO;
        }
        st->s = s;
        st->rs = rs;
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
        if (!resp) {
            stream_free(st);
            free(rs.headers);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        free(rs.headers);
        free(rs.body);
        return ret;
    }
    const char *text = rs.body ? rs.body : rs.body_static ? rs.body_static : "";
    size_t len = rs.body          ? rs.body_len
                 : rs.body_static ? (rs.body_len ? rs.body_len : strlen(text))
                                  : 0;
    ret = answer_full(c, status, type, text, len, NULL, rs.headers);
    free(rs.body);
    free(rs.headers);
    return ret;
}

/* ---- the webhook ----------------------------------------------------------------------------- */

static enum MHD_Result ingest(struct srv_listener *l, struct MHD_Connection *c, struct req *r)
{
    struct srv *s = l->s;
    char msg[512];
    if (r->no_budget) {
        atomic_fetch_add(&s->m.req_full, 1);
        return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "too many request bodies in flight (--max-inflight); retry\n");
    }
    if (r->too_big) {
        atomic_fetch_add(&s->m.req_too_large, 1);
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes (--max-body)\n",
                 s->cfg.max_body);
        return answer(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    atomic_fetch_add(&s->m.bytes_received, r->len);
    const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
    struct srv_batch b;
    msg[0] = '\0';
    int st = srv_body_split(&b, r->body ? r->body : "", r->len, enc, s->cfg.max_body,
                            s->cfg.max_record, msg, sizeof(msg));
    uint64_t acc = 0, dups = 0;
    if (st == 200 && srv_guard_refuse(s, msg, sizeof(msg))) /* srv_stateguard.c */
        st = 503;
    if (st == 200)
        st = srv_spool_append(s->spool, &b, &acc, &dups, msg, sizeof(msg));
    srv_batch_free(&b);
    char peer[NI_MAXHOST + NI_MAXSERV + 4];
    enum MHD_Result ret;
    if (st == 200) {
        atomic_fetch_add(&s->m.req_ok, 1);
        atomic_fetch_add(&s->m.records_received, acc);
        atomic_fetch_add(&s->m.records_dup, dups);
        snprintf(msg, sizeof(msg), "{\"records\":%" PRIu64 ",\"duplicates\":%" PRIu64 "}\n", acc,
                 dups);
        ret = answer_json(c, MHD_HTTP_OK, msg);
        srv_hist_observe(&s->m.request, mono_us() - r->t0);
        if (dups) {
            peer_of(c, peer, sizeof(peer));
            srv_log(KAD_LOG_DEBUG,
                    "request %" PRIu64 " from %s: %" PRIu64 " resent records dropped", r->id, peer,
                    dups);
        }
        return ret;
    }
    switch (st) {
    case 400:
    case 415: atomic_fetch_add(&s->m.req_bad, 1); break;
    case 413: atomic_fetch_add(&s->m.req_too_large, 1); break;
    case 503: atomic_fetch_add(&s->m.req_full, 1); break;
    default: atomic_fetch_add(&s->m.req_error, 1);
    }
    peer_of(c, peer, sizeof(peer));
    srv_log(st >= 500 ? KAD_LOG_WARN : KAD_LOG_INFO, "request %" PRIu64 " from %s: %d: %s", r->id,
            peer, st, msg);
    size_t n = strlen(msg);
    if (n + 2 < sizeof(msg)) {
        msg[n] = '\n';
        msg[n + 1] = '\0';
    }
    return answer(c, (unsigned)st, msg);
}

/* ---- kadet scan --listen: the body to the caller's handler ------------------------------------
 */

/*
 * `kadet scan --listen` (srv_listen.c): the same limits as serve's webhook, then the body goes
 * to hook->on_body (one at a time: the engine is single-threaded), which runs and commits it
 * before the answer. Every record is held to --max-record on its own: one over it refuses the
 * body (413, its auditID and byte position) instead of being skipped behind a 200. A body
 * whose records are all within the limit but that is larger than it as a whole (an EventList
 * of many items) is handed over as its records, one per line, so the engine never sees a
 * single value over the limit.
 */
static enum MHD_Result ingest_hook(struct srv_listener *l, struct MHD_Connection *c, struct req *r)
{
    struct srv *s = l->s;
    const struct cli_listen_opts *o = s->hook;
    char msg[CLI_LISTEN_REPLY_MAX], peer[NI_MAXHOST + NI_MAXSERV + 4];
    peer_of(c, peer, sizeof(peer));
    int st = 200;
    msg[0] = '\0';
    if (r->no_budget) {
        st = 503;
        snprintf(msg, sizeof(msg), "too many request bodies in flight (--max-inflight); retry");
    } else if (r->too_big) {
        st = 413;
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes (--max-body)",
                 s->cfg.max_body);
    }
    const char *body = r->body ? r->body : "";
    size_t len = r->len;
    struct srv_batch plain, b;
    memset(&plain, 0, sizeof(plain));
    memset(&b, 0, sizeof(b));
    char *joined = NULL;
    const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
    if (st == 200 && enc && *enc && strcmp(enc, "identity") != 0) {
        if (strcmp(enc, "gzip") != 0 && strcmp(enc, "x-gzip") != 0) {
            st = 415;
            snprintf(msg, sizeof(msg), "Content-Encoding %s is not supported (gzip is)", enc);
        } else if ((st = srv_body_inflate(&plain, body, len, s->cfg.max_body, msg, sizeof(msg))) ==
                   200) {
            body = plain.plain;
            len = plain.plain_len;
        }
    }
    if (st == 200) {
        char smsg[512];
        int sst = srv_body_split(&b, body, len, NULL, s->cfg.max_body, s->cfg.max_record, smsg,
                                 sizeof(smsg));
        if (sst == 413) {
            st = 413;
            snprintf(msg, sizeof(msg), "request %" PRIu64 " from %s: %s", r->id, peer, smsg);
        } else if (sst == 200 && len > s->cfg.max_record) {
            /* within the limit record by record: hand over the records, one per line */
            size_t n = 0;
            for (size_t i = 0; i < b.n; i++)
                n += b.recs[i].len + 1;
            joined = malloc(n + 1);
            if (!joined) {
                st = 500;
                snprintf(msg, sizeof(msg), "out of memory");
            } else {
                char *w = joined;
                for (size_t i = 0; i < b.n; i++) {
                    memcpy(w, b.recs[i].data, b.recs[i].len);
                    w += b.recs[i].len;
                    *w++ = '\n';
                }
                body = joined;
                len = n;
            }
        }
        /* a body the structural scan cannot split goes to the engine as it is: it frames it
           like a file, skips the bad records with their positions and answers 200 */
    }
    if (st != 200) {
        srv_batch_free(&plain);
        srv_batch_free(&b);
        srv_log(st >= 500 ? KAD_LOG_WARN : KAD_LOG_INFO, "%s%s",
                strncmp(msg, "request ", 8) == 0 ? "" : "request refused: ", msg);
        size_t n = strlen(msg);
        if (n + 2 < sizeof(msg)) {
            msg[n] = '\n';
            msg[n + 1] = '\0';
        }
        return answer(c, (unsigned)st, msg);
    }
    struct cli_listen_req rq = {r->id, peer, body, len};
    bool stop = false;
    msg[0] = '\0';
    pthread_mutex_lock(&s->hook_mu);
    if (atomic_load(&s->hook_stop)) {
        st = 500;
        snprintf(msg, sizeof(msg), "kadet: stopping after an error (see its stderr)\n");
    } else {
        st = o->on_body(o->ctx, &rq, msg, sizeof(msg), &stop);
    }
    if (stop)
        atomic_store(&s->hook_stop, true);
    pthread_mutex_unlock(&s->hook_mu);
    free(joined);
    srv_batch_free(&plain);
    srv_batch_free(&b);
    if (st == 200)
        atomic_fetch_add(&s->m.req_ok, 1);
    return answer_full(c, (unsigned)st,
                       st == 200 ? "application/json" : "text/plain; charset=utf-8", msg,
                       strlen(msg), NULL, NULL);
}

/* ---- the request callback -------------------------------------------------------------------- */

static enum MHD_Result refuse_auth(struct srv *s, struct MHD_Connection *c, const struct ident *id,
                                   bool webhook)
{
    if (id->presented) {
        if (webhook)
            atomic_fetch_add(&s->m.req_forbidden, 1);
        return answer(c, MHD_HTTP_FORBIDDEN, "forbidden: these credentials are not accepted\n");
    }
    if (webhook)
        atomic_fetch_add(&s->m.req_unauth, 1);
    return answer(c, MHD_HTTP_UNAUTHORIZED,
                  "unauthorized: a client certificate or a bearer token is required\n");
}

static enum MHD_Result first_call(struct srv_listener *l, struct MHD_Connection *c, const char *url,
                                  const char *method, void **con_cls)
{
    struct srv *s = l->s;
    bool get = is(method, MHD_HTTP_METHOD_GET) || is(method, MHD_HTTP_METHOD_HEAD);
    bool post = is(method, MHD_HTTP_METHOD_POST);
    char why[256];
    if (is(url, "/healthz")) {
        if (!get)
            return answer_full(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9,
                               "GET, HEAD", NULL);
        return answer(c, MHD_HTTP_OK, "ok\n");
    }
    if (s->hook) { /* scan --listen: /healthz and the webhook path only */
        if (!post)
            return answer_full(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                               "method not allowed: POST only\n", 30, "POST", NULL);
        if (!is(url, s->cfg.listen_path ? s->cfg.listen_path : "/")) {
            atomic_fetch_add(&s->m.req_notfound, 1);
            return answer(c, MHD_HTTP_NOT_FOUND, "not found\n");
        }
    }
    if (is(url, "/readyz")) {
        if (!get)
            return answer_full(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9,
                               "GET, HEAD", NULL);
        bool ok = ready(s, why, sizeof(why));
        return answer(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, why);
    }
    struct ident id;
    const char *wpath = s->cfg.listen_path ? s->cfg.listen_path : "/";
    if (l->webhook && is(url, wpath)) {
        if (!post)
            return answer_full(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "POST only\n", 10,
                               "POST", NULL);
        identify(l, c, &id);
        if (webhook_auth_on(s) && !id.poster)
            return refuse_auth(s, c, &id, true);
        if (atomic_load(&s->stopping)) {
            atomic_fetch_add(&s->m.req_full, 1);
            return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down; retry\n");
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        unsigned long long clen = cl ? strtoull(cl, NULL, 10) : 0;
        if (clen > s->cfg.max_body) {
            atomic_fetch_add(&s->m.req_too_large, 1);
            snprintf(why, sizeof(why), "request body larger than %zu bytes (--max-body)\n",
                     s->cfg.max_body);
            return answer(c, MHD_HTTP_CONTENT_TOO_LARGE, why);
        }
        if (clen && !budget_take(s, (size_t)clen)) {
            atomic_fetch_add(&s->m.req_full, 1);
            return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "too many request bodies in flight (--max-inflight); retry\n");
        }
        struct req *r = calloc(1, sizeof(*r));
        if (!r) {
            if (clen)
                atomic_fetch_sub(&s->m.inflight_bytes, (int64_t)clen);
            return MHD_NO;
        }
        r->kind = R_INGEST;
        r->reserved = (size_t)clen;
        r->id = atomic_fetch_add(&s->nreq, 1) + 1;
        r->t0 = mono_us();
        *con_cls = r;
        atomic_fetch_add(&s->inflight_requests, 1);
        return MHD_YES;
    }
    if (l->admin) {
        srv_mount *mt = find_mount(s, url);
        bool metrics = is(url, "/metrics"), reload = is(url, "/-/reload");
        if (metrics || reload || mt) {
            identify(l, c, &id);
            if (!admin_auth_on(s)) {
                id.role = SRV_ROLE_ADMIN; /* no credentials configured (loopback or --insecure) */
                snprintf(id.principal, sizeof(id.principal), "anonymous");
            }
        }
        if (metrics) {
            if (!get)
                return answer_full(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9,
                                   "GET, HEAD", NULL);
            if (id.role < SRV_ROLE_READ)
                return refuse_auth(s, c, &id, false);
            char *t = srv_metrics_text(s);
            if (!t)
                return MHD_NO;
            enum MHD_Result ret =
                answer_full(c, MHD_HTTP_OK, "text/plain; version=0.0.4", t, strlen(t), NULL, NULL);
            free(t);
            return ret;
        }
        if (reload) {
            if (!post)
                return answer_full(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "POST only\n", 10,
                                   "POST", NULL);
            if (id.role < SRV_ROLE_ADMIN)
                return refuse_auth(s, c, &id, false);
            srv_log(KAD_LOG_INFO, "reload requested by %s", id.principal);
            char msg[600], out[700];
            if (srv_reload(s, msg, sizeof(msg)) == 0)
                return answer(c, MHD_HTTP_OK, "reloaded\n");
            snprintf(out, sizeof(out), "reload failed, the previous rules keep running: %s\n", msg);
            return answer(c, MHD_HTTP_UNPROCESSABLE_CONTENT, out);
        }
        if (mt) {
            struct req *r = calloc(1, sizeof(*r));
            if (!r)
                return MHD_NO;
            r->kind = R_MOUNT;
            r->mount = mt;
            r->role = id.role;
            snprintf(r->principal, sizeof(r->principal), "%s", id.principal);
            r->id = atomic_fetch_add(&s->nreq, 1) + 1;
            *con_cls = r;
            atomic_fetch_add(&s->inflight_requests, 1);
            return MHD_YES;
        }
    }
    if (!l->webhook || !is(url, wpath)) {
        atomic_fetch_add(&s->m.req_notfound, 1);
        return answer(c, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    return answer(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct srv_listener *l = cls;
    struct srv *s = l->s;
    struct req *r = *con_cls;
    if (!r) {
        /* the headers are in: no deadline while answering, the body's while reading it */
        conn_deadline(l, c, 0, NULL);
        enum MHD_Result ret = first_call(l, c, url, method, con_cls);
        if (*con_cls)
            conn_deadline(l, c, s->cfg.body_timeout_s, "body");
        return ret;
    }
    if (*upload_data_size) {
        size_t max = r->kind == R_MOUNT ? ((size_t)8 << 20) : s->cfg.max_body;
        if (!r->too_big && !r->no_budget && !body_add(s, r, max, upload_data, *upload_data_size)) {
            if (!r->no_budget)
                r->too_big = true; /* the rest is read and dropped, then 413 */
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->kind == R_DONE)
        return MHD_YES;
    conn_deadline(l, c, 0, NULL); /* the body is in: processing it has no deadline */
    int kind = r->kind;
    r->kind = R_DONE;
    if (kind == R_INGEST)
        return s->hook ? ingest_hook(l, c, r) : ingest(l, c, r);
    if (r->too_big)
        return answer(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
    return run_mount(l, c, url, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct srv_listener *l = cls;
    /* a kept-alive connection: the next request's headers, once --timeout has not closed it */
    if (l->s->cfg.header_timeout_s)
        conn_deadline(l, c, l->s->cfg.timeout_s + l->s->cfg.header_timeout_s, "headers");
    struct req *r = *con_cls;
    if (!r)
        return;
    if (r->reserved)
        atomic_fetch_sub(&l->s->m.inflight_bytes, (int64_t)r->reserved);
    atomic_fetch_sub(&l->s->inflight_requests, 1);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct srv_listener *l = cls;
    struct srv *s = l->s;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&s->m.connections, 1);
        struct conn *cn = calloc(1, sizeof(*cn));
        *socket_context = cn;
        if (!cn)
            return;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        cn->fd = ci ? ci->connect_fd : -1;
        peer_of(c, cn->peer, sizeof(cn->peer));
        pthread_mutex_lock(&l->conns_mu);
        if (cn->fd >= 0 && s->cfg.header_timeout_s) {
            cn->deadline_us = mono_us() + (int64_t)s->cfg.header_timeout_s * 1000000;
            cn->waiting = "headers";
        }
        cn->next = l->conns;
        if (l->conns)
            l->conns->prev = cn;
        l->conns = cn;
        pthread_mutex_unlock(&l->conns_mu);
    } else {
        atomic_fetch_sub(&s->m.connections, 1);
        struct conn *cn = *socket_context;
        if (cn) {
            pthread_mutex_lock(&l->conns_mu);
            if (cn->prev)
                cn->prev->next = cn->next;
            else
                l->conns = cn->next;
            if (cn->next)
                cn->next->prev = cn->prev;
            pthread_mutex_unlock(&l->conns_mu);
        }
        free(cn);
        *socket_context = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    srv_log(KAD_LOG_DEBUG, "http: %s", msg);
}

/* ---- listeners ------------------------------------------------------------------------------- */

static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        srv_log(KAD_LOG_ERROR, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc((1 << 20) + 1);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        srv_log(KAD_LOG_ERROR, "%s: empty or unreadable", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static struct srv_listener *listener_start(struct srv *s, const char *addr, bool webhook,
                                           bool admin)
{
    struct srv_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->s = s;
    l->addr = addr;
    l->webhook = webhook;
    l->admin = admin;
    l->tls = s->cfg.tls_cert != NULL;
    l->verify = l->tls && s->cfg.client_ca;
    pthread_mutex_init(&l->conns_mu, NULL);
    pthread_cond_init(&l->reaper_cond, NULL);
    if (l->tls && (!(l->cert = read_pem(s->cfg.tls_cert)) || !(l->key = read_pem(s->cfg.tls_key)) ||
                   (l->verify && !(l->ca = read_pem(s->cfg.client_ca)))))
        goto fail;
    int family = AF_INET;
    char *where = l->where;
    int fd = srv_addr_bind(addr, &family, l->where, sizeof(l->where));
    if (fd < 0)
        goto fail;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (l->tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[16];
    size_t k = 0;
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, l};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, l};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections, NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.timeout_s, NULL};
    if (s->cfg.max_per_ip)
        opts[k++] =
            (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->cfg.max_per_ip, NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_STACK_SIZE, 256 * 1024, NULL};
    if (l->tls) {
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, l->cert};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, l->key};
        if (l->verify)
            opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, l->ca};
    }
    opts[k] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    /* MHD_OPTION_EXTERNAL_LOGGER takes two arguments: through the array it is (value, ptr) */
    l->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    if (!l->d) {
        srv_log(KAD_LOG_ERROR, "cannot start the HTTP%s server on %s (certificate or key?)",
                l->tls ? "S" : "", addr);
        close(fd);
        goto fail;
    }
    if (s->cfg.header_timeout_s || s->cfg.body_timeout_s) {
        if (pthread_create(&l->reaper, NULL, reaper_main, l) != 0) {
            srv_log(KAD_LOG_ERROR, "cannot start a thread");
            MHD_stop_daemon(l->d);
            l->d = NULL;
            goto fail;
        }
        l->reaper_on = true;
    }
    if (s->hook) {
        /* the line tests and scripts wait for: "kadet scan: listening on IP:PORT" */
        fprintf(stderr, "%s: listening on %s\n", s->hook->banner ? s->hook->banner : "kadet",
                where);
        fflush(stderr);
        if (!srv_addr_loopback(addr))
            srv_log(KAD_LOG_WARN,
                    "%s is not a loopback address and --listen has no TLS and no "
                    "authentication: anyone who reaches it can post events (bind to 127.0.0.1 "
                    "behind a TLS proxy, or use kadet serve; docs/deployment.md)",
                    where);
        return l;
    }
    srv_log(KAD_LOG_INFO, "listening on %s (%s, %s%s)", where,
            webhook && admin ? "webhook+admin"
            : webhook        ? "webhook"
                             : "admin",
            l->tls ? "https" : "http", l->verify ? ", client certificates" : "");
    if (!l->tls && !webhook_auth_on(s) && webhook)
        srv_log(KAD_LOG_WARN,
                "the webhook on %s has no TLS and no client authentication: "
                "anyone who reaches it can post events",
                where);
    return l;
fail:
    free(l->cert);
    free(l->key);
    free(l->ca);
    pthread_mutex_destroy(&l->conns_mu);
    pthread_cond_destroy(&l->reaper_cond);
    free(l);
    return NULL;
}

static void listener_quiesce(struct srv_listener *l)
{
    if (!l || !l->d)
        return;
    MHD_socket fd = MHD_quiesce_daemon(l->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

static void listener_stop(struct srv_listener *l)
{
    if (!l)
        return;
    if (l->reaper_on) {
        pthread_mutex_lock(&l->conns_mu);
        l->reaper_stop = true;
        pthread_cond_signal(&l->reaper_cond);
        pthread_mutex_unlock(&l->conns_mu);
        pthread_join(l->reaper, NULL);
    }
    if (l->d)
        MHD_stop_daemon(l->d);
    free(l->cert);
    free(l->key);
    free(l->ca);
    pthread_mutex_destroy(&l->conns_mu);
    pthread_cond_destroy(&l->reaper_cond);
    free(l);
}

/* ---- start and stop -------------------------------------------------------------------------- */

static kad_rules *svc_rules_get(void *sv) { return srv_rules_get(sv); }
static int svc_reload(void *sv, char *msg, size_t size) { return srv_reload(sv, msg, size); }
static char *svc_metrics(void *sv) { return srv_metrics_text(sv); }

/* The console (serve/console.c) when it is linked in: weak, so serve links without it. */
#pragma weak console_mount_new

int srv_http_start(struct srv *s)
{
    s->services = (srv_services){
        .sv = s,
        .state_location = s->cfg.state,
        .output_path = s->cfg.output,
        .exception_paths = (const char *const *)s->cfg.exceptions,
        .n_exception_paths = s->cfg.nexceptions,
        .rules_get = svc_rules_get,
        .reload = svc_reload,
        .metrics_text = svc_metrics,
        .authenticate_token = svc_auth,
    };
    if (console_mount_new && !s->hook && !s->cfg.no_console) {
        kad_err err;
        kad_err_clear(&err);
        srv_mount *m = console_mount_new(&s->services, s->cfg.config_path, &err);
        if (!m) {
            srv_log(KAD_LOG_ERROR, "console: %s", err.msg);
            return -1;
        }
        s->mounts[s->nmounts++] = m;
        srv_log(KAD_LOG_INFO, "console mounted (/ui, /api/v1/)");
    }
    bool sep = s->cfg.admin_listen != NULL;
    if (s->cfg.listen && !(s->web = listener_start(s, s->cfg.listen, true, !sep)))
        return -1;
    if (sep && !(s->admin = listener_start(s, s->cfg.admin_listen, false, true)))
        return -1;
    return 0;
}

const char *srv_http_where(const struct srv *s) { return s->web ? s->web->where : ""; }

void srv_http_stop(struct srv *s)
{
    atomic_store(&s->stopping, true);
    listener_quiesce(s->web);
    listener_quiesce(s->admin);
    /* requests in flight finish (their spool fsync included), up to the drain bound */
    int64_t deadline = mono_us() + (int64_t)s->cfg.drain_s * 1000000;
    while (atomic_load(&s->inflight_requests) > 0 && mono_us() < deadline) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    listener_stop(s->web);
    listener_stop(s->admin);
    s->web = s->admin = NULL;
    for (size_t i = 0; i < s->nmounts; i++)
        if (s->mounts[i]->close)
            s->mounts[i]->close(s->mounts[i]->ctx);
    s->nmounts = 0;
}
