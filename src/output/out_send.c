/*
 * out_send.c - the transports: HTTP sinks over libcurl (Elasticsearch _bulk, webhook, Slack),
 * syslog over UDP, TCP (octet counting), TLS (GnuTLS) and a Unix socket, files with size
 * rotation, stdout. One attempt per call; retries are the worker's (out_mgr.c).
 */
#include "output/out_int.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct out_conn {
    const struct out_spec *s;
    char hostname[256];
    CURL *curl;
    int fd; /* syslog socket, file; -1 closed */
    int64_t file_size;
    gnutls_session_t tls;
    gnutls_certificate_credentials_t cred;
    kx_buf body, resp;
    const atomic_bool *abort; /* set: an HTTP request in flight is given up (shutdown) */
    atomic_int http_fd;       /* libcurl's socket while open, else -1 (conn_abort) */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

struct out_conn *conn_new(const struct out_spec *s, const char *hostname)
{
    struct out_conn *c = kx_calloc(1, sizeof(*c));
    c->s = s;
    c->fd = -1;
    atomic_init(&c->http_fd, -1);
    if (hostname)
        snprintf(c->hostname, sizeof(c->hostname), "%s", hostname);
    else if (gethostname(c->hostname, sizeof(c->hostname) - 1) != 0)
        snprintf(c->hostname, sizeof(c->hostname), "-");
    kx_buf_init(&c->body, (size_t)s->batch_bytes + OUT_ALERT_MAX + (1 << 20));
    kx_buf_init(&c->resp, 64u << 20);
    return c;
}

void conn_set_abort(struct out_conn *c, const atomic_bool *flag) { c->abort = flag; }

/* libcurl's progress callback (about once a second while waiting): nonzero aborts. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const atomic_bool *flag = ud;
    return flag && atomic_load(flag) ? 1 : 0;
}

/* libcurl's socket, remembered so that conn_abort can shut it down from another thread. */
static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
    (void)purpose;
    atomic_store(&((struct out_conn *)ud)->http_fd, (int)fd);
    return CURL_SOCKOPT_OK;
}

static int on_closesocket(void *ud, curl_socket_t fd)
{
    struct out_conn *c = ud;
    int expect = (int)fd;
    atomic_compare_exchange_strong(&c->http_fd, &expect, -1);
    return close(fd);
}

void conn_abort(struct out_conn *c)
{
    int fd = atomic_load(&c->http_fd);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR); /* the request in flight fails at once */
}

static void sock_close(struct out_conn *c)
{
    if (c->tls) {
        gnutls_bye(c->tls, GNUTLS_SHUT_WR);
        gnutls_deinit(c->tls);
        c->tls = NULL;
    }
    if (c->fd >= 0 && c->fd != STDOUT_FILENO)
        close(c->fd);
    c->fd = -1;
}

void conn_free(struct out_conn *c)
{
    if (!c)
        return;
    sock_close(c);
    if (c->cred)
        gnutls_certificate_free_credentials(c->cred);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    kx_buf_fini(&c->body);
    kx_buf_fini(&c->resp);
    kx_free(c);
}

static void all_done(struct out_item_result *res, size_t n)
{
    for (size_t i = 0; i < n; i++)
        res[i] = (struct out_item_result){.v = OUT_V_DONE, .status = 0};
}

/* ---- HTTP --------------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    kx_buf *b = ud;
    return kx_buf_add(b, p, size * nmemb) == 0 ? size * nmemb : 0;
}

static int http_send(struct out_conn *c, const struct out_alert *a, size_t n,
                     struct out_item_result *res, bool *permanent, kad_err *err)
{
    const struct out_spec *s = c->s;
    kx_buf_reset(&c->body);
    kx_buf_reset(&c->resp);
    int rc = s->type == OUT_ES        ? out_fmt_es_bulk(s, a, n, &c->body)
             : s->type == OUT_WEBHOOK ? out_fmt_webhook(s, a, n, &c->body)
                                      : out_fmt_slack(&a[0], NULL, &c->body);
    if (rc) {
        *permanent = true;
        return kx_err_setf(err, rc, "%s: cannot format the request", s->name);
    }
    /* libcurl (and its TLS library) start at the first HTTP request, in the delivery thread:
       a run that sends nothing does not pay for it */
    pthread_once(&curl_once, curl_init_once);
    if (!c->curl && !(c->curl = curl_easy_init()))
        return kx_err_setf(err, KAD_ENOMEM, "%s: curl_easy_init failed", s->name);
    CURL *h = c->curl;
    curl_easy_reset(h);
    char url[4200];
    if (s->type == OUT_ES) {
        size_t tl = strlen(s->target);
        snprintf(url, sizeof(url), "%s%s_bulk", s->target,
                 tl && s->target[tl - 1] == '/' ? "" : "/");
    } else {
        snprintf(url, sizeof(url), "%s", s->target);
    }
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, s->type == OUT_ES ? "Content-Type: application/x-ndjson"
                                                   : "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    char line[1024];
    if (s->api_key) {
        snprintf(line, sizeof(line), "Authorization: ApiKey %s", s->api_key);
        hdr = curl_slist_append(hdr, line);
    }
    if (s->secret) {
        char sig[72];
        if (out_hmac_sha256_hex(s->secret, c->body.ptr, c->body.len, sig) == 0) {
            snprintf(line, sizeof(line), "%s: %s", s->sig_header, sig);
            hdr = curl_slist_append(hdr, line);
        }
    }
    for (size_t i = 0; i < s->nheaders; i++)
        hdr = curl_slist_append(hdr, s->headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body.ptr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body.len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kadet/" KAD_VERSION);
    curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, c);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, c);
    if (c->abort) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->abort);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (s->user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, s->password ? s->password : "");
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    if (s->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    if (cc != CURLE_OK)
        return kx_err_setf(err, KAD_EIO, "%s: %s", s->name, curl_easy_strerror(cc));
    if (status >= 200 && status < 300) {
        if (s->type != OUT_ES) {
            all_done(res, n);
            return 0;
        }
        rc = out_es_bulk_items(c->resp.ptr ? c->resp.ptr : "", c->resp.len, res, n, err);
        if (rc) /* an answer we cannot read: retry (create makes the resend harmless) */
            return kx_err_setf(err, KAD_EIO, "%s: %s", s->name, err ? err->msg : "bad response");
        return 0;
    }
    *permanent = !(status == 408 || status == 429 || status >= 500);
    return kx_err_setf(err, KAD_EIO, "%s: HTTP %ld: %.120s", s->name, status,
                       c->resp.ptr ? c->resp.ptr : "");
}

/* ---- syslog ------------------------------------------------------------------------------- */

static int sys_connect(struct out_conn *c, kad_err *err)
{
    const struct out_spec *s = c->s;
    if (s->proto == OUT_SYS_UNIX) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        if (strlen(s->target) >= sizeof(un.sun_path))
            return kx_err_setf(err, KAD_EINVAL, "%s: socket path too long", s->name);
        memcpy(un.sun_path, s->target, strlen(s->target) + 1);
        for (int type = SOCK_DGRAM; type; type = type == SOCK_DGRAM ? SOCK_STREAM : 0) {
            int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0) {
                c->fd = fd;
                return 0;
            }
            if (fd >= 0)
                close(fd);
        }
        int e = errno;
        return kx_err_setf(err, KAD_EIO, "%s: %s", s->name, strerror(e));
    }
    struct addrinfo hints = {.ai_socktype = s->proto == OUT_SYS_UDP ? SOCK_DGRAM : SOCK_STREAM},
                    *ai = NULL;
    int g = getaddrinfo(s->host, s->port, &hints, &ai);
    if (g)
        return kx_err_setf(err, KAD_EIO, "%s: %s", s->name, gai_strerror(g));
    int e = 0;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        int fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) {
            c->fd = fd;
            break;
        }
        e = errno;
        close(fd);
    }
    freeaddrinfo(ai);
    if (c->fd < 0)
        return kx_err_setf(err, KAD_EIO, "%s: %s", s->name, strerror(e));
    if (s->proto != OUT_SYS_TLS)
        return 0;
    if (!c->cred) {
        gnutls_certificate_allocate_credentials(&c->cred);
        if (s->ca_file)
            gnutls_certificate_set_x509_trust_file(c->cred, s->ca_file, GNUTLS_X509_FMT_PEM);
        else
            gnutls_certificate_set_x509_system_trust(c->cred);
    }
    int r = gnutls_init(&c->tls, GNUTLS_CLIENT);
    if (r == 0)
        r = gnutls_set_default_priority(c->tls);
    if (r == 0)
        r = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred);
    if (r == 0) {
        gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, s->host, strlen(s->host));
        gnutls_session_set_verify_cert(c->tls, s->host, 0);
        gnutls_transport_set_int(c->tls, c->fd);
        gnutls_handshake_set_timeout(c->tls, (unsigned)s->timeout_ms);
        do
            r = gnutls_handshake(c->tls);
        while (r < 0 && !gnutls_error_is_fatal(r));
    }
    if (r < 0) {
        sock_close(c);
        return kx_err_setf(err, KAD_EIO, "%s: TLS: %s", s->name, gnutls_strerror(r));
    }
    return 0;
}

static int write_all(struct out_conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = c->tls ? gnutls_record_send(c->tls, p, n) : write(c->fd, p, n);
        if (w < 0 && (c->tls ? w == GNUTLS_E_INTERRUPTED || w == GNUTLS_E_AGAIN : errno == EINTR))
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int syslog_send(struct out_conn *c, const struct out_alert *a, size_t n,
                       struct out_item_result *res, bool *permanent, kad_err *err)
{
    const struct out_spec *s = c->s;
    bool framed = s->proto == OUT_SYS_TCP || s->proto == OUT_SYS_TLS;
    kx_buf_reset(&c->body);
    for (size_t i = 0; i < n; i++) {
        size_t mark = c->body.len;
        if (out_fmt_syslog(s, &a[i], c->hostname, framed, &c->body)) {
            *permanent = true;
            return kx_err_setf(err, KAD_ELIMIT, "%s: cannot format alert %s", s->name, a[i].id);
        }
        if (s->proto == OUT_SYS_UDP && c->body.len - mark > 65000) {
            *permanent = true;
            return kx_err_setf(err, KAD_ELIMIT,
                               "%s: alert %s is %zu bytes, more than a UDP datagram holds; use "
                               "tcp:// or tls://",
                               s->name, a[i].id, c->body.len - mark);
        }
        if (!framed) { /* one message per datagram */
            if (c->fd < 0 && sys_connect(c, err))
                return err ? err->code : KAD_EIO;
            if (send(c->fd, c->body.ptr + mark, c->body.len - mark, MSG_NOSIGNAL) < 0) {
                int e = errno;
                sock_close(c);
                return kx_err_setf(err, KAD_EIO, "%s: %s", s->name, strerror(e));
            }
            kx_buf_truncate(&c->body, mark);
        }
    }
    if (framed) {
        if (c->fd < 0 && sys_connect(c, err))
            return err ? err->code : KAD_EIO;
        if (write_all(c, c->body.ptr, c->body.len)) {
            int e = errno;
            sock_close(c);
            return kx_err_setf(err, KAD_EIO, "%s: write: %s", s->name, strerror(e));
        }
    }
    all_done(res, n);
    return 0;
}

/* ---- files -------------------------------------------------------------------------------- */

static int file_rotate(struct out_conn *c, kad_err *err)
{
    const char *p = c->s->target;
    size_t pl = strlen(p) + 16;
    char *from = kx_malloc(pl), *to = kx_malloc(pl);
    for (int i = c->s->keep; i >= 1; i--) {
        snprintf(to, pl, "%s.%d", p, i);
        if (i == 1)
            snprintf(from, pl, "%s", p);
        else
            snprintf(from, pl, "%s.%d", p, i - 1);
        if (rename(from, to) != 0 && errno != ENOENT) {
            int e = errno;
            kx_free(from);
            kx_free(to);
            return kx_err_setf(err, KAD_EIO, "%s: cannot rotate: %s", c->s->name, strerror(e));
        }
    }
    kx_free(from);
    kx_free(to);
    sock_close(c);
    return 0;
}

static int file_send(struct out_conn *c, const struct out_alert *a, size_t n,
                     struct out_item_result *res, bool *permanent, kad_err *err)
{
    const struct out_spec *s = c->s;
    for (size_t i = 0; i < n; i++) {
        if (s->type == OUT_STDOUT) {
            c->fd = STDOUT_FILENO;
        } else if (c->fd < 0) {
            c->fd = open(s->target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
            struct stat sb;
            if (c->fd < 0 || fstat(c->fd, &sb) != 0) {
                int e = errno;
                sock_close(c);
                return kx_err_setf(err, KAD_EIO, "%s: %s", s->name, strerror(e));
            }
            c->file_size = sb.st_size;
        }
        if (s->rotate && c->file_size > 0 && c->file_size + (int64_t)a[i].len + 1 > s->rotate) {
            if (file_rotate(c, err))
                return err ? err->code : KAD_EIO;
            i--; /* reopen, then write this alert */
            continue;
        }
        if (write_all(c, a[i].json, a[i].len) || write_all(c, "\n", 1)) {
            int e = errno;
            sock_close(c);
            return kx_err_setf(err, KAD_EIO, "%s: write: %s", s->name, strerror(e));
        }
        c->file_size += (int64_t)a[i].len + 1;
    }
    (void)permanent;
    all_done(res, n);
    return 0;
}

int conn_send(struct out_conn *c, const struct out_alert *a, size_t n, struct out_item_result *res,
              bool *permanent, kad_err *err)
{
    *permanent = false;
    switch (c->s->type) {
    case OUT_ES:
    case OUT_WEBHOOK:
    case OUT_SLACK: return http_send(c, a, n, res, permanent, err);
    case OUT_SYSLOG: return syslog_send(c, a, n, res, permanent, err);
    case OUT_FILE:
    case OUT_STDOUT: return file_send(c, a, n, res, permanent, err);
    }
    return KAD_EINVAL;
}
