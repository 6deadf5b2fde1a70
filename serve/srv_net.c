/*
 * srv_net.c - listening addresses, shared by kadet serve's listeners and `kadet scan --listen`
 * (both run on srv_http.c): "HOST:PORT", "[V6]:PORT" or ":PORT" checked, classified (loopback
 * or not) and bound by us, so a bind error carries its errno.
 */
#include "serve.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

bool srv_addr_split(const char *addr, char *host, size_t hsize, char *port, size_t psize)
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
    size_t pl = strlen(colon + 1);
    if (pl == 0 || pl >= psize || hl >= hsize || strspn(colon + 1, "0123456789") != pl ||
        strtol(colon + 1, NULL, 10) > 65535)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl + 1);
    return true;
}

bool srv_addr_ok(const char *addr, const char *flag, char *msg, size_t size)
{
    char host[256], port[8];
    if (srv_addr_split(addr, host, sizeof(host), port, sizeof(port)))
        return true;
    snprintf(msg, size, "%s: expected HOST:PORT, [IPV6]:PORT or :PORT (port 0-65535), got '%s'",
             flag, addr);
    return false;
}

bool srv_addr_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]:", 6) == 0 ||
           strncmp(addr, "localhost:", 10) == 0;
}

void srv_addr_format(const struct sockaddr *sa, char *out, size_t size)
{
    char h[NI_MAXHOST], p[NI_MAXSERV];
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, h, sizeof(h), p, sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(out, size, "?");
    else
        snprintf(out, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

int srv_addr_bind(const char *addr, int *family, char *where, size_t wsize)
{
    char host[256], port[8];
    if (!srv_addr_split(addr, host, sizeof(host), port, sizeof(port))) {
        srv_log(KAD_LOG_ERROR, "bad address '%s' (expected HOST:PORT, [IPV6]:PORT or :PORT)", addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (g != 0) {
        srv_log(KAD_LOG_ERROR, "cannot listen on %s: %s", addr, gai_strerror(g));
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
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
            *family = ai->ai_family;
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        srv_log(KAD_LOG_ERROR, "cannot listen on %s: %s", addr, strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss); /* the real port when 0 was asked for */
    snprintf(where, wsize, "?");
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        srv_addr_format((struct sockaddr *)&ss, where, wsize);
    return fd;
}
