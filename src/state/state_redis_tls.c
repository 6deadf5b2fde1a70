/*
 * state_redis_tls.c - the Redis store's connections (state_redis_tls.h). A plain connection is
 * hiredis' own. A TLS one (rediss://) is a hiredis context whose socket carries a GnuTLS
 * session: hiredis connects the socket (host resolution, connect timeout), formats the
 * commands into its output buffer (redisAppendCommandArgv) and parses the replies (its
 * reader); this file does the socket I/O through the session instead of hiredis' read/write,
 * which Debian 12's hiredis 0.14 cannot do (it has no TLS). The session hangs on the reader's
 * private data (redisReaderSetPrivdata: a field hiredis leaves to its users), so a context
 * knows its kind wherever it is passed. Why this and not a relay thread behind redisConnectFd:
 * docs/internals/state.md, "TLS".
 */
#include "state/state_redis_tls.h"

#include "base/alloc.h"
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <hiredis/sds.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define RD_TLS_HANDSHAKE_MS 5000 /* a plain server on the port never answers the hello */
#define RD_TLS_READ 16384        /* one TLS record */

struct rd_tconn {
    gnutls_session_t s;
    int timeout_ms;   /* of a read or a write (rd_io_set_timeout) */
    bool client_cert; /* cert= given */
};

/* ---- parameters --------------------------------------------------------------------------- */

char **rd_tls_slot(struct rd_tls *t, const char *p, size_t n, size_t *klen)
{
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"ca=", offsetof(struct rd_tls, ca)},
        {"cert=", offsetof(struct rd_tls, cert)},
        {"key=", offsetof(struct rd_tls, key)},
        {"servername=", offsetof(struct rd_tls, name)},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        size_t kl = strlen(keys[i].key);
        if (n > kl && memcmp(p, keys[i].key, kl) == 0) {
            *klen = kl;
            return (char **)(void *)((char *)t + keys[i].off);
        }
    }
    return NULL;
}

const char *rd_tls_check(const struct rd_tls *t)
{
    if (!t->on && (t->ca || t->cert || t->key || t->name))
        return "ca=, cert=, key= and servername= are TLS parameters: they need rediss://";
    if (!t->cert != !t->key)
        return "a client certificate needs both cert=FILE and key=FILE";
    return NULL;
}

void rd_tls_fini(struct rd_tls *t)
{
    if (t->cred)
        gnutls_certificate_free_credentials(t->cred);
    kx_free(t->ca);
    kx_free(t->cert);
    kx_free(t->key);
    kx_free(t->name);
    memset(t, 0, sizeof(*t));
}

/* The credentials: the authorities (or the system's) and the client certificate. -1: why. */
static int cred_load(struct rd_tls *t, char *why, size_t whyn)
{
    if (t->cred)
        return 0;
    gnutls_certificate_credentials_t cred;
    int r = gnutls_certificate_allocate_credentials(&cred);
    if (r < 0) {
        snprintf(why, whyn, "TLS: %s", gnutls_strerror(r));
        return -1;
    }
    if (t->ca) {
        r = gnutls_certificate_set_x509_trust_file(cred, t->ca, GNUTLS_X509_FMT_PEM);
        if (r <= 0) {
            snprintf(why, whyn, "TLS: ca=%s: %s", t->ca,
                     r == 0 ? "no PEM certificate in the file" : gnutls_strerror(r));
            gnutls_certificate_free_credentials(cred);
            return -1;
        }
    } else if ((r = gnutls_certificate_set_x509_system_trust(cred)) <= 0) {
        snprintf(why, whyn, "TLS: the system's trust store: %s (give the authority with ca=FILE)",
                 r == 0 ? "no certificate" : gnutls_strerror(r));
        gnutls_certificate_free_credentials(cred);
        return -1;
    }
    if (t->cert) {
        r = gnutls_certificate_set_x509_key_file(cred, t->cert, t->key, GNUTLS_X509_FMT_PEM);
        if (r < 0) {
            snprintf(why, whyn, "TLS: cert=%s, key=%s: %s", t->cert, t->key, gnutls_strerror(r));
            gnutls_certificate_free_credentials(cred);
            return -1;
        }
    }
    t->cred = cred;
    return 0;
}

static bool is_ip(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* ---- connecting --------------------------------------------------------------------------- */

static int tls_start(struct rd_tls *t, redisContext *c, const char *host, int port, char *why,
                     size_t whyn)
{
    int r = cred_load(t, why, whyn);
    if (r)
        return r;
    const char *name = t->name ? t->name : host;
    struct timeval tv = {RD_TLS_HANDSHAKE_MS / 1000, 0};
    redisSetTimeout(c, tv);
    gnutls_session_t s;
    r = gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
    if (r < 0) {
        snprintf(why, whyn, "TLS: %s", gnutls_strerror(r));
        return -1;
    }
    if ((r = gnutls_set_default_priority(s)) == 0 &&
        (r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, t->cred)) == 0 &&
        !is_ip(name)) /* no SNI for an address (RFC 6066) */
        r = gnutls_server_name_set(s, GNUTLS_NAME_DNS, name, strlen(name));
    if (r < 0) {
        snprintf(why, whyn, "TLS: %s", gnutls_strerror(r));
        gnutls_deinit(s);
        return -1;
    }
    /* the chain against the authorities, and the name (a DNS name or an IP address in the
       certificate's subjectAltName) */
    gnutls_session_set_verify_cert(s, name, 0);
    gnutls_transport_set_int(s, c->fd);
    gnutls_handshake_set_timeout(s, RD_TLS_HANDSHAKE_MS);
    do
        r = gnutls_handshake(s);
    while (r < 0 && !gnutls_error_is_fatal(r) && r != GNUTLS_E_AGAIN);
    if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        unsigned status = gnutls_session_get_verify_cert_status(s);
        gnutls_datum_t out = {NULL, 0};
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
        while (out.data && out.size && out.data[out.size - 1] == ' ')
            out.data[--out.size] = '\0';
        snprintf(why, whyn,
                 "%s:%d: TLS: the server's certificate is refused (name checked: %s): %s", host,
                 port, name, out.data ? (const char *)out.data : gnutls_strerror(r));
        gnutls_free(out.data);
        gnutls_deinit(s);
        return -1;
    }
    if (r < 0) {
        bool timeout = r == GNUTLS_E_AGAIN || r == GNUTLS_E_TIMEDOUT;
        snprintf(why, whyn, "%s:%d: TLS handshake failed: %s%s", host, port,
                 timeout ? "no answer" : gnutls_strerror(r),
                 timeout || r == GNUTLS_E_UNEXPECTED_PACKET_LENGTH ||
                         r == GNUTLS_E_UNEXPECTED_PACKET || r == GNUTLS_E_PREMATURE_TERMINATION
                     ? " (does the port speak TLS? redis-server's is --tls-port)"
                     : "");
        gnutls_deinit(s);
        /* a certificate the server asked for and did not get (mutual TLS) is not cured by
           retrying either; the server just closes: the message says what it said */
        return r == GNUTLS_E_CERTIFICATE_REQUIRED ? -1 : 1;
    }
    struct rd_tconn *tc = kx_calloc(1, sizeof(*tc));
    tc->s = s;
    tc->timeout_ms = RD_TLS_HANDSHAKE_MS;
    tc->client_cert = t->cert != NULL;
    redisReaderSetPrivdata(c->reader, tc);
    return 0;
}

int rd_io_connect(struct rd_tls *t, const char *host, int port, redisContext **out, char *why,
                  size_t whyn)
{
    *out = NULL;
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        snprintf(why, whyn, "%s:%d: %s", host, port, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return 1;
    }
    if (t && t->on) {
        int r = tls_start(t, c, host, port, why, whyn);
        if (r) {
            redisFree(c);
            return r;
        }
    }
    *out = c;
    return 0;
}

/* ---- I/O ---------------------------------------------------------------------------------- */

static struct rd_tconn *tconn(const redisContext *c)
{
    return c && c->reader ? c->reader->privdata : NULL;
}

bool rd_io_is_tls(const redisContext *c) { return tconn(c) != NULL; }

static int io_fail(redisContext *c, int type, const char *what)
{
    c->err = type;
    snprintf(c->errstr, sizeof(c->errstr), "%s", what);
    return REDIS_ERR;
}

int rd_io_set_timeout(redisContext *c, struct timeval tv)
{
    struct rd_tconn *tc = tconn(c);
    if (tc)
        tc->timeout_ms = (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000);
    return redisSetTimeout(c, tv);
}

/*
 * Wait until the session has something to read or the socket can take more (GnuTLS answers
 * GNUTLS_E_AGAIN also on a blocking socket, after a post-handshake message such as a TLS 1.3
 * session ticket): 0, or -1 after the timeout.
 */
static int tls_wait(redisContext *c, struct rd_tconn *tc)
{
    if (gnutls_record_check_pending(tc->s) > 0)
        return 0;
    struct pollfd p = {c->fd, gnutls_record_get_direction(tc->s) ? POLLOUT : POLLIN, 0};
    int r;
    do
        r = poll(&p, 1, tc->timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0 ? 0 : -1;
}

/* A read or a write failed: the reason; a server that closes a session that presented no
   certificate most likely wants one (with TLS 1.3 it says so only after the handshake). */
static int tls_fail(redisContext *c, struct rd_tconn *tc, int r)
{
    char msg[128];
    if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
        snprintf(msg, sizeof(msg), "TLS alert from the server: %s",
                 gnutls_alert_get_name(gnutls_alert_get(tc->s)));
    else
        snprintf(msg, sizeof(msg), "%s", gnutls_strerror(r));
    if (!tc->client_cert &&
        (r == GNUTLS_E_FATAL_ALERT_RECEIVED || r == GNUTLS_E_PREMATURE_TERMINATION))
        snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
                 " (a client certificate required? cert=FILE&key=FILE)");
    return io_fail(c, REDIS_ERR_IO, msg);
}

/* The output buffer (the commands appended since the last flush) through the session. */
static int tls_flush(redisContext *c, struct rd_tconn *tc)
{
    size_t len = sdslen(c->obuf), off = 0;
    while (off < len) {
        ssize_t w = gnutls_record_send(tc->s, c->obuf + off, len - off);
        if (w == GNUTLS_E_INTERRUPTED || (w == GNUTLS_E_AGAIN && tls_wait(c, tc) == 0))
            continue;
        if (w == GNUTLS_E_AGAIN)
            return io_fail(c, REDIS_ERR_IO, "write timed out");
        if (w <= 0)
            return tls_fail(c, tc, (int)w);
        off += (size_t)w;
    }
    sdsclear(c->obuf);
    return REDIS_OK;
}

int rd_io_flush(redisContext *c)
{
    struct rd_tconn *tc = tconn(c);
    if (tc)
        return c->err ? REDIS_ERR : tls_flush(c, tc);
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return REDIS_ERR;
    return REDIS_OK;
}

int rd_io_get_reply(redisContext *c, void **reply)
{
    struct rd_tconn *tc = tconn(c);
    if (!tc)
        return redisGetReply(c, reply);
    *reply = NULL;
    if (c->err)
        return REDIS_ERR;
    void *r = NULL;
    if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
        return io_fail(c, REDIS_ERR_PROTOCOL, c->reader->errstr);
    if (!r && tls_flush(c, tc) != REDIS_OK)
        return REDIS_ERR;
    while (!r) {
        char buf[RD_TLS_READ];
        if (tls_wait(c, tc) != 0)
            return io_fail(c, REDIS_ERR_IO, "read timed out");
        ssize_t n = gnutls_record_recv(tc->s, buf, sizeof(buf));
        if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_AGAIN)
            continue;
        if (n == 0)
            return io_fail(c, REDIS_ERR_EOF, "Server closed the connection");
        if (n < 0)
            return tls_fail(c, tc, (int)n);
        if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK ||
            redisReaderGetReply(c->reader, &r) != REDIS_OK)
            return io_fail(c, REDIS_ERR_PROTOCOL, c->reader->errstr);
    }
    *reply = r;
    return REDIS_OK;
}

redisReply *rd_io_command(redisContext *c, int argc, const char **argv)
{
    if (!tconn(c))
        return redisCommandArgv(c, argc, argv, NULL);
    void *r = NULL;
    if (redisAppendCommandArgv(c, argc, argv, NULL) != REDIS_OK ||
        rd_io_get_reply(c, &r) != REDIS_OK)
        return NULL;
    return r;
}

void rd_io_free(redisContext *c)
{
    if (!c)
        return;
    struct rd_tconn *tc = tconn(c);
    if (tc) {
        /* no close_notify: a server that is gone would make it wait; Redis does not need it */
        gnutls_deinit(tc->s);
        redisReaderSetPrivdata(c->reader, NULL);
        kx_free(tc);
    }
    redisFree(c);
}
