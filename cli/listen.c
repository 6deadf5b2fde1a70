/*
 * listen.c - the HTTP side of `kadet scan --listen` (cli/listen.h) on libmicrohttpd: bind the
 * socket ourselves (so a bind error has its errno), run MHD with its internal polling thread
 * and no thread per connection (so every callback runs on that one thread, one after the
 * other), gather each POST body up to max_body, answer GET /healthz, 404/405/413, and hand
 * complete bodies to on_body. The calling thread blocks SIGINT/SIGTERM (before MHD's thread is
 * created, which inherits the mask) and waits for them with sigtimedwait.
 *
 * It does not parse bodies, keep state or write alerts: that is cmd_scan.c's on_body.
 * No TLS: bind to 127.0.0.1 or put a TLS proxy in front (docs/deployment.md).
 */
#include "listen.h"

#include "cmd.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY ((size_t)64 << 20)

struct server {
    const struct cli_listen_opts *o;
    size_t max_body;
    uint64_t nreq;
    atomic_bool stop;
};

struct req {
    char *body;
    size_t len, cap;
    uint64_t n;
    bool too_big;
};

/* Append to the body, at most max bytes in all; false when it would pass max (or no memory). */
static bool body_add(struct req *r, size_t max, const char *p, size_t n)
{
    if (n > max || r->len > max - n)
        return false;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
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

/* ============================================================================================ */
/* Addresses                                                                                    */
/* ============================================================================================ */

/* Split "HOST:PORT" / "[V6]:PORT" / ":PORT" into host (empty = any) and port. */
static bool split_addr(const char *addr, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return false;
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl)) {
        return false; /* an IPv6 address needs brackets */
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (pl == 0 || pl >= psize || hl >= hsize || strspn(p, "0123456789") != pl)
        return false;
    if (strtol(p, NULL, 10) > 65535)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    return true;
}

bool cli_listen_addr_ok(const char *addr, char *msg, size_t size)
{
    char host[256], port[8];
    if (split_addr(addr, host, sizeof(host), port, sizeof(port)))
        return true;
    snprintf(msg, size,
             "--listen: expected HOST:PORT, [IPV6]:PORT or :PORT (port 0-65535), got '%s'", addr);
    return false;
}

/* "IP:PORT" or "[IP6]:PORT" of a socket address. */
static void fmt_addr(const struct sockaddr *sa, char *out, size_t size)
{
    char h[NI_MAXHOST], p[NI_MAXSERV];
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, h, sizeof(h), p, sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, size, "?");
        return;
    }
    snprintf(out, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

/* A listening socket on addr, or -1 with the reason on stderr. */
static int bind_addr(const char *addr, int *family)
{
    char host[256], port[8];
    if (!split_addr(addr, host, sizeof(host), port, sizeof(port))) {
        fprintf(stderr, "kadet: scan: --listen: bad address '%s'\n", addr);
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (g != 0) {
        fprintf(stderr, "kadet: scan: cannot listen on %s: %s\n", addr, gai_strerror(g));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
            *family = ai->ai_family;
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "kadet: scan: cannot listen on %s: %s\n", addr, strerror(err));
    return fd;
}

/* ============================================================================================ */
/* Requests                                                                                     */
/* ============================================================================================ */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
                              const char *text, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer_s(struct MHD_Connection *c, unsigned status, const char *text)
{
    return answer(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void too_big_msg(struct server *sv, char *msg, size_t size)
{
    snprintf(msg, size, "request body larger than %zu bytes (--max-body)\n", sv->max_body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct server *sv = cls;
    struct req *r = *con_cls;
    char msg[256];
    if (!r) {
        bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
        if (!post) {
            if ((strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                 strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) &&
                strcmp(url, "/healthz") == 0)
                return answer_s(c, MHD_HTTP_OK, "ok\n");
            return answer_s(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: POST only\n");
        }
        if (strcmp(url, sv->o->path ? sv->o->path : "/") != 0)
            return answer_s(c, MHD_HTTP_NOT_FOUND, "not found\n");
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->n = ++sv->nreq;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > sv->max_body) {
            /* refused before the body is read; MHD closes the connection */
            too_big_msg(sv, msg, sizeof(msg));
            return answer_s(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->too_big && !body_add(r, sv->max_body, upload_data, *upload_data_size)) {
            r->too_big = true; /* the rest is read and dropped, then 413 */
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_big) {
        too_big_msg(sv, msg, sizeof(msg));
        return answer_s(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    char peer[NI_MAXHOST + NI_MAXSERV + 4] = "?";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr)
        fmt_addr(ci->client_addr, peer, sizeof(peer));
    struct cli_listen_req rq = {r->n, peer, r->body ? r->body : "", r->len};
    char reply[CLI_LISTEN_REPLY_MAX];
    reply[0] = '\0';
    bool stop = false;
    int status = sv->o->on_body(sv->o->ctx, &rq, reply, sizeof(reply), &stop);
    const char *type = status == MHD_HTTP_OK ? "application/json" : "text/plain; charset=utf-8";
    enum MHD_Result ret = answer(c, (unsigned)status, type, reply, strlen(reply));
    if (stop)
        atomic_store(&sv->stop, true);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;
    if (!r)
        return;
    free(r->body);
    free(r);
    *con_cls = NULL;
}

/* ============================================================================================ */
/* Server                                                                                       */
/* ============================================================================================ */

int cli_listen_run(const struct cli_listen_opts *o)
{
    struct server sv;
    memset(&sv, 0, sizeof(sv));
    sv.o = o;
    sv.max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
    atomic_init(&sv.stop, false);
    int family = AF_INET;
    int fd = bind_addr(o->addr, &family);
    if (fd < 0)
        return EXIT_RUNTIME;

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old); /* before MHD's thread exists: it inherits this */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, &sv, MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "kadet: scan: cannot start the HTTP server on %s\n", o->addr);
        close(fd);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return EXIT_RUNTIME;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss); /* the real port when 0 was asked for */
    char where[NI_MAXHOST + NI_MAXSERV + 4] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        fmt_addr((struct sockaddr *)&ss, where, sizeof(where));
    fprintf(stderr, "%s: listening on %s\n", o->banner ? o->banner : "kadet", where);
    fflush(stderr);

    int rc = EXIT_OK;
    for (;;) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (atomic_load(&sv.stop)) {
            rc = EXIT_RUNTIME;
            break;
        }
    }
    MHD_stop_daemon(d); /* joins MHD's thread; closes the listening socket */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
