/*
 * console.c - the web console mounted on kadet serve's admin listener (route.h,
 * console_mount_new): authentication (serve's roles, or a session cookie issued at login with
 * a token), CSRF checks, the embedded pages under /ui/, server-sent events of new alerts, and
 * the thread that indexes committed alerts (kad_alerts) as serve hands them over.
 * The JSON API itself is console_api.c; the design is docs/internals/console.md.
 */
#include "console_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t con_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- answers ------------------------------------------------------------------------------- */

int con_json(srv_resp *rs, int status, kad_json *w)
{
    size_t n = 0;
    const char *t = kad_json_text(w, &n);
    if (kad_json_error(w) != KAD_OK)
        return con_error(rs, 500, "answer too large");
    rs->status = status;
    rs->content_type = "application/json";
    rs->body = malloc(n + 1);
    if (!rs->body) {
        rs->status = 500;
        rs->body_static = "{\"error\":\"out of memory\"}";
        return 0;
    }
    memcpy(rs->body, t, n + 1);
    rs->body_len = n;
    return 0;
}

int con_error(srv_resp *rs, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    kad_json_keyc(w, "error");
    kad_json_strc(w, msg);
    kad_json_obj_end(w);
    con_json(rs, status, w);
    kad_json_free(w);
    rs->status = status;
    return 0;
}

static void add_header(srv_resp *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_header(srv_resp *rs, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    size_t old = rs->headers ? strlen(rs->headers) : 0;
    char *h = realloc(rs->headers, old + (size_t)n + 1);
    if (!h)
        return;
    memcpy(h + old, line, (size_t)n + 1);
    rs->headers = h;
}

/* ---- growing text buffers ----------------------------------------------------------------- */

void con_sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2 + 256;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void con_sb_adds(struct sbuf *b, const char *s) { con_sb_add(b, s, strlen(s)); }

/* ---- form and query parameters ------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char *url_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (strlen(out) != o) { /* %00: no NULs inside values */
        free(out);
        return NULL;
    }
    return out;
}

char *con_param(const char *qs, size_t len, const char *name, size_t nth)
{
    if (!qs)
        return NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(qs + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - qs) : len;
        const char *eq = memchr(qs + i, '=', end - i);
        size_t kend = eq ? (size_t)(eq - qs) : end;
        if (kend - i == nl && memcmp(qs + i, name, nl) == 0) {
            if (nth == 0)
                return eq ? url_decode(eq + 1, end - kend - 1) : url_decode("", 0);
            nth--;
        }
        i = end + 1;
    }
    return NULL;
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void random_hex(char *out, size_t bytes)
{
    unsigned char b[64];
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = getrandom(b + got, bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* no randomness: never issue guessable session ids */
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Constant-time comparison of two NUL-terminated strings of the same expected length. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0 && la > 0;
}

static const struct con_session *session_new(struct console *c, srv_role role,
                                             const char *principal, struct con_session *copy)
{
    int64_t now = con_now_ms();
    pthread_mutex_lock(&c->ses_mu);
    struct con_session *slot = NULL;
    for (size_t i = 0; i < CON_SESSIONS_MAX; i++) {
        struct con_session *s = &c->sessions[i];
        if (!s->id[0] || s->expires_ms <= now || s->last_ms + c->ses_idle_ms <= now) {
            slot = s;
            break;
        }
        if (!slot || s->expires_ms < slot->expires_ms)
            slot = s; /* all taken: the one closest to expiry is reused */
    }
    for (size_t i = 0; i < CON_SESSIONS_MAX && slot == NULL; i++)
        slot = &c->sessions[i];
    random_hex(slot->id, 32);
    random_hex(slot->csrf, 16);
    snprintf(slot->principal, sizeof(slot->principal), "%s", principal);
    slot->role = role;
    slot->expires_ms = now + c->ses_ttl_ms;
    slot->last_ms = now;
    *copy = *slot;
    pthread_mutex_unlock(&c->ses_mu);
    return copy;
}

static bool session_find(struct console *c, const char *id, struct con_session *copy)
{
    bool found = false;
    int64_t now = con_now_ms();
    pthread_mutex_lock(&c->ses_mu);
    for (size_t i = 0; i < CON_SESSIONS_MAX; i++) {
        struct con_session *s = &c->sessions[i];
        if (s->id[0] && s->expires_ms > now && s->last_ms + c->ses_idle_ms > now &&
            same_secret(s->id, id)) {
            s->last_ms = now; /* idle expiry counts from here */
            *copy = *s;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&c->ses_mu);
    return found;
}

static void session_drop(struct console *c, const char *id)
{
    pthread_mutex_lock(&c->ses_mu);
    for (size_t i = 0; i < CON_SESSIONS_MAX; i++)
        if (c->sessions[i].id[0] && same_secret(c->sessions[i].id, id))
            memset(&c->sessions[i], 0, sizeof(c->sessions[i]));
    pthread_mutex_unlock(&c->ses_mu);
}

/* The kadet_session cookie's value (64 hex digits), copied into out; false when absent. */
static bool cookie_session(const srv_req *rq, char out[65])
{
    const char *ck = rq->header ? rq->header(rq, "Cookie") : NULL;
    if (!ck)
        return false;
    const char *p = ck;
    while ((p = strstr(p, "kadet_session=")) != NULL) {
        if (p == ck || p[-1] == ' ' || p[-1] == ';') {
            p += strlen("kadet_session=");
            size_t n = strspn(p, "0123456789abcdef");
            if (n == 64) {
                memcpy(out, p, 64);
                out[64] = '\0';
                return true;
            }
            return false;
        }
        p++;
    }
    return false;
}

static void authenticate(struct console *c, const srv_req *rq, struct con_auth *au)
{
    memset(au, 0, sizeof(*au));
    const char *authz = rq->header ? rq->header(rq, "Authorization") : NULL;
    au->bearer = authz && strncasecmp(authz, "Bearer ", 7) == 0;
    char sid[65];
    if (cookie_session(rq, sid) && session_find(c, sid, &au->ses_copy))
        au->ses = &au->ses_copy;
    if (rq->role != SRV_ROLE_NONE) {
        au->role = rq->role;
        snprintf(au->principal, sizeof(au->principal), "%s", rq->principal ? rq->principal : "");
    } else if (au->ses) {
        au->role = au->ses->role;
        snprintf(au->principal, sizeof(au->principal), "%s", au->ses->principal);
    }
}

static const char *role_name(srv_role r)
{
    switch (r) {
    case SRV_ROLE_READ: return "read";
    case SRV_ROLE_ANALYST: return "analyst";
    case SRV_ROLE_ADMIN: return "admin";
    default: return "none";
    }
}

static void session_answer(srv_resp *rs, const struct con_auth *au, const struct con_session *s,
                           bool secure)
{
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    kad_json_keyc(w, "principal");
    kad_json_strc(w, au->principal);
    kad_json_keyc(w, "role");
    kad_json_strc(w, role_name(au->role));
    kad_json_keyc(w, "csrf");
    if (s)
        kad_json_strc(w, s->csrf);
    else
        kad_json_null(w);
    kad_json_obj_end(w);
    con_json(rs, 200, w);
    kad_json_free(w);
    if (s) /* Secure on TLS: the browser then never sends it over plain HTTP */
        add_header(rs, "Set-Cookie: kadet_session=%s; Path=/; HttpOnly; SameSite=Strict%s\r\n",
                   s->id, secure ? "; Secure" : "");
    add_header(rs, "Cache-Control: no-store\r\n");
}

/* ---- login rate limits --------------------------------------------------------------------- */

/* The address part of serve's "IP:PORT" / "[IPv6]:PORT". */
static void peer_addr(const char *peer, char *out, size_t size)
{
    const char *p = peer ? peer : "";
    size_t n = strlen(p);
    const char *colon = strrchr(p, ':');
    if (p[0] == '[') {
        const char *rb = strchr(p, ']');
        if (rb) {
            p++;
            n = (size_t)(rb - p);
        }
    } else if (colon && strchr(p, ':') == colon) {
        n = (size_t)(colon - p);
    }
    snprintf(out, size, "%.*s", (int)n, p);
}

/* The counter of key in the current window (ses_mu held): a new one replaces a free slot, an
   expired one or the oldest window. */
static struct con_rate *rate_slot(struct console *c, const char *key, int64_t now)
{
    struct con_rate *victim = NULL;
    for (size_t i = 0; i < CON_RATE_SLOTS; i++) {
        struct con_rate *r = &c->rates[i];
        bool live = r->window_ms && now - r->window_ms < CON_RATE_WINDOW_MS;
        if (live && !strcmp(r->key, key))
            return r;
        if (!live) {
            if (!victim || victim->window_ms)
                victim = r;
        } else if (!victim || (victim->window_ms && r->window_ms < victim->window_ms)) {
            victim = r;
        }
    }
    snprintf(victim->key, sizeof(victim->key), "%s", key);
    victim->window_ms = now;
    victim->n = 0;
    return victim;
}

/* Seconds until key's window ends when its count reached max; 0 when allowed. */
static long rate_check(struct console *c, const char *key, unsigned max)
{
    int64_t now = con_now_ms();
    pthread_mutex_lock(&c->ses_mu);
    struct con_rate *r = rate_slot(c, key, now);
    long wait = 0;
    if (r->n >= max) {
        wait = (long)((r->window_ms + CON_RATE_WINDOW_MS - now + 999) / 1000);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(&c->ses_mu);
    return wait;
}

static void rate_count(struct console *c, const char *key)
{
    pthread_mutex_lock(&c->ses_mu);
    rate_slot(c, key, con_now_ms())->n++;
    pthread_mutex_unlock(&c->ses_mu);
}

static int too_many(srv_resp *rs, long wait, const char *what)
{
    con_error(rs, 429, "too many %s: try again in %ld s", what, wait);
    add_header(rs, "Retry-After: %ld\r\n", wait);
    return 0;
}

/* POST /api/v1/login (token=...): a session for the token's user. */
static int login(struct console *c, const srv_req *rq, srv_resp *rs)
{
    if (!c->sv.authenticate_token)
        return con_error(rs, 501,
                         "this server has no token users: log in with a client certificate");
    char ipkey[80], addr[64];
    peer_addr(rq->peer, addr, sizeof(addr));
    snprintf(ipkey, sizeof(ipkey), "ip:%s", addr);
    long wait = rate_check(c, ipkey, CON_RATE_IP_FAILS);
    if (wait)
        return too_many(rs, wait, "failed logins from this address");
    char *tok = con_param(rq->body, rq->body_len, "token", 0);
    if (!tok || !*tok) {
        free(tok);
        return con_error(rs, 400, "token: missing (form field token=...)");
    }
    char principal[128] = "";
    srv_role role = c->sv.authenticate_token(c->sv.sv, tok, principal, sizeof(principal));
    memset(tok, 0, strlen(tok));
    free(tok);
    if (role == SRV_ROLE_NONE) {
        rate_count(c, ipkey);
        return con_error(rs, 401, "unknown token");
    }
    char ukey[160];
    snprintf(ukey, sizeof(ukey), "user:%.70s", principal);
    if ((wait = rate_check(c, ukey, CON_RATE_USER_LOGINS)) != 0)
        return too_many(rs, wait, "logins of this user");
    rate_count(c, ukey);
    struct con_auth au;
    memset(&au, 0, sizeof(au));
    au.role = role;
    snprintf(au.principal, sizeof(au.principal), "%s", principal);
    struct con_session copy;
    session_answer(rs, &au, session_new(c, role, principal, &copy), rq->tls);
    return 0;
}

/* ---- static pages -------------------------------------------------------------------------- */

static int asset(const srv_req *rq, srv_resp *rs)
{
    const char *p = rq->path;
    /* every page of the single-page console is index.html; the client routes by hash */
    if (!strcmp(p, "/ui") || !strcmp(p, "/ui/"))
        p = "/ui/index.html";
    for (size_t i = 0; i < con_assets_count; i++) {
        if (strcmp(con_assets[i].path, p) == 0) {
            rs->status = 200;
            rs->content_type = con_assets[i].type;
            rs->body_static = (const char *)con_assets[i].data;
            rs->body_len = con_assets[i].len;
            add_header(rs, "Cache-Control: no-cache\r\n");
            add_header(rs, "X-Content-Type-Options: nosniff\r\n");
            add_header(rs, "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
                           "style-src 'self'; script-src 'self'; frame-ancestors 'none'\r\n");
            return 0;
        }
    }
    return con_error(rs, 404, "no page %s", rq->path);
}

/* ---- server-sent events -------------------------------------------------------------------- */

struct sse {
    struct console *c;
    uint64_t seen;
    int64_t last_write_ms;
    bool hello;
};

static long sse_next(void *stream, char *buf, size_t size)
{
    struct sse *s = stream;
    struct console *c = s->c;
    if (size < 256)
        return 0;
    if (!s->hello) {
        s->hello = true;
        s->last_write_ms = con_now_ms();
        return snprintf(buf, size, "retry: 2000\n: kadet console\n\n");
    }
    pthread_mutex_lock(&c->q_mu);
    bool stop = c->stop;
    uint64_t gen = c->gen, added = c->last_added, total = c->indexed_total;
    pthread_mutex_unlock(&c->q_mu);
    if (stop)
        return -1;
    int64_t now = con_now_ms();
    if (gen != s->seen) {
        s->seen = gen;
        s->last_write_ms = now;
        return snprintf(buf, size, "event: alerts\ndata: {\"added\":%llu,\"indexed\":%llu}\n\n",
                        (unsigned long long)added, (unsigned long long)total);
    }
    if (now - s->last_write_ms > 15000) { /* keep proxies from closing a quiet stream */
        s->last_write_ms = now;
        return snprintf(buf, size, ": ping\n\n");
    }
    return 0;
}

static void sse_free(void *stream) { free(stream); }

static int events(struct console *c, srv_resp *rs)
{
    struct sse *s = calloc(1, sizeof(*s));
    if (!s)
        return con_error(rs, 500, "out of memory");
    s->c = c;
    pthread_mutex_lock(&c->q_mu);
    s->seen = c->gen;
    pthread_mutex_unlock(&c->q_mu);
    rs->status = 200;
    rs->content_type = "text/event-stream";
    rs->next = sse_next;
    rs->stream_free = sse_free;
    rs->stream = s;
    add_header(rs, "Cache-Control: no-store\r\n");
    return 0;
}

/* ---- alert intake -------------------------------------------------------------------------- */

static void on_alerts(void *ctx, const char *ndjson, size_t len)
{
    struct console *c = ctx;
    pthread_mutex_lock(&c->q_mu);
    if (c->q_len + len + 1 > c->q_cap) {
        size_t cap = (c->q_len + len + 1) * 2;
        char *q = realloc(c->q, cap);
        if (!q) {
            pthread_mutex_unlock(&c->q_mu);
            fprintf(stderr,
                    "kadet: console: out of memory; %zu bytes of alerts not indexed (they "
                    "are indexed again from the alerts file at the next start)\n",
                    len);
            return;
        }
        c->q = q;
        c->q_cap = cap;
    }
    memcpy(c->q + c->q_len, ndjson, len);
    c->q_len += len;
    c->q[c->q_len++] = '\n';
    pthread_cond_signal(&c->q_cv);
    pthread_mutex_unlock(&c->q_mu);
}

static void on_record(void *ctx, const char *data, size_t len, int64_t read_ms)
{
    struct console *c = ctx;
    con_input_record(c->input, data, len, read_ms);
}

static void index_text(struct console *c, const char *text, size_t len)
{
    size_t added = 0, bad = 0;
    kad_err err;
    kad_err_clear(&err);
    pthread_mutex_lock(&c->idx_mu);
    int rc = kad_alerts_add(c->idx, text, len, &added, &bad, &err);
    pthread_mutex_unlock(&c->idx_mu);
    if (rc != KAD_OK)
        fprintf(stderr, "kadet: console: %s\n", err.msg);
    if (bad)
        fprintf(stderr, "kadet: console: %zu lines were not alert documents (skipped)\n", bad);
    pthread_mutex_lock(&c->q_mu);
    if (added) {
        c->gen++;
        c->last_added = added;
        c->indexed_total += added;
    }
    pthread_mutex_unlock(&c->q_mu);
}

static void *ingest_main(void *arg)
{
    struct console *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->q_mu);
        while (!c->stop && c->q_len == 0)
            pthread_cond_wait(&c->q_cv, &c->q_mu);
        if (c->q_len == 0 && c->stop) {
            pthread_mutex_unlock(&c->q_mu);
            return NULL;
        }
        char *text = c->q;
        size_t len = c->q_len;
        c->q = NULL;
        c->q_len = c->q_cap = 0;
        pthread_mutex_unlock(&c->q_mu);
        index_text(c, text, len);
        free(text);
    }
}

/* The alerts file serve writes: index what is there (ids already indexed are skipped), so the
   console shows alerts committed before it started. */
static void index_output_file(struct console *c)
{
    if (!c->sv.output_path)
        return;
    int fd = open(c->sv.output_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[1 << 16];
    size_t cap = 0, len = 0;
    char *text = NULL;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (len + (size_t)n > cap) {
            cap = (len + (size_t)n) * 2;
            char *t = realloc(text, cap);
            if (!t)
                break;
            text = t;
        }
        memcpy(text + len, buf, (size_t)n);
        len += (size_t)n;
        /* index whole lines as they come, so a large file needs no large buffer */
        size_t upto = len;
        while (upto > 0 && text[upto - 1] != '\n')
            upto--;
        if (upto > 0) {
            index_text(c, text, upto);
            memmove(text, text + upto, len - upto);
            len -= upto;
        }
    }
    if (len)
        index_text(c, text, len);
    free(text);
    close(fd);
}

/* ---- the handler --------------------------------------------------------------------------- */

static bool changes_state(const char *m)
{
    return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && strcmp(m, "OPTIONS") != 0;
}

static int handle(void *ctx, const srv_req *rq, srv_resp *rs)
{
    struct console *c = ctx;
    const char *p = rq->path;
    bool api = strncmp(p, "/api/v1/", 8) == 0;
    if (!api && strcmp(p, "/ui") != 0 && strncmp(p, "/ui/", 4) != 0)
        return 1;
    if (!api) {
        if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD"))
            return con_error(rs, 405, "%s: only GET", p);
        return asset(rq, rs); /* pages hold no data: the API behind them checks every call */
    }
    if (!strcmp(p, "/api/v1/login")) {
        if (strcmp(rq->method, "POST"))
            return con_error(rs, 405, "/api/v1/login: POST token=...");
        return login(c, rq, rs);
    }
    struct con_auth au;
    authenticate(c, rq, &au);
    if (au.role == SRV_ROLE_NONE) {
        con_error(rs, 401,
                  "authentication required: a bearer token, a client certificate or a "
                  "session (POST /api/v1/login)");
        add_header(rs, "WWW-Authenticate: Bearer realm=\"kadet\"\r\n");
        return 0;
    }
    if (changes_state(rq->method) && !au.bearer) {
        /* a browser sends cookies and client certificates on its own: a state-changing request
           must also show the session's CSRF token, which only the console's pages can read */
        const char *tok = rq->header ? rq->header(rq, "X-CSRF-Token") : NULL;
        if (!au.ses || !tok || !same_secret(au.ses->csrf, tok))
            return con_error(rs, 403,
                             "missing or wrong X-CSRF-Token header (GET /api/v1/session "
                             "gives it)");
    }
    if (!strcmp(p, "/api/v1/session")) {
        if (!strcmp(rq->method, "GET")) {
            struct con_session copy;
            const struct con_session *s = au.ses;
            if (!s && !au.bearer) /* a client certificate: the pages need a CSRF token */
                s = session_new(c, au.role, au.principal, &copy);
            session_answer(rs, &au, s, rq->tls);
            return 0;
        }
        if (!strcmp(rq->method, "DELETE")) {
            if (au.ses)
                session_drop(c, au.ses->id);
            rs->status = 200;
            rs->body_static = "{\"ok\":true}";
            rs->body_len = strlen(rs->body_static);
            add_header(rs,
                       "Set-Cookie: kadet_session=; Path=/; HttpOnly; SameSite=Strict; "
                       "Max-Age=0%s\r\n",
                       rq->tls ? "; Secure" : "");
            return 0;
        }
        return con_error(rs, 405, "/api/v1/session: GET or DELETE");
    }
    if (!strcmp(p, "/api/v1/events")) {
        if (strcmp(rq->method, "GET"))
            return con_error(rs, 405, "/api/v1/events: GET");
        return events(c, rs);
    }
    return con_api(c, rq, &au, rs);
}

static void console_close(void *ctx)
{
    struct console *c = ctx;
    if (!c)
        return;
    if (c->ingest_started) {
        pthread_mutex_lock(&c->q_mu);
        c->stop = true;
        pthread_cond_broadcast(&c->q_cv);
        pthread_mutex_unlock(&c->q_mu);
        pthread_join(c->ingest, NULL);
    }
    con_input_free(c->input);
    kad_alerts_close(c->idx);
    free(c->q);
    free(c->config_path);
    pthread_mutex_destroy(&c->idx_mu);
    pthread_mutex_destroy(&c->ses_mu);
    pthread_mutex_destroy(&c->q_mu);
    pthread_cond_destroy(&c->q_cv);
    free(c);
}

srv_mount *console_mount_new(const srv_services *sv, const char *config_path, kad_err *err)
{
    struct console *c = calloc(1, sizeof(*c));
    if (!c) {
        if (err) {
            err->code = KAD_ENOMEM;
            snprintf(err->msg, sizeof(err->msg), "console: out of memory");
        }
        return NULL;
    }
    c->sv = *sv;
    c->ses_ttl_ms = CON_SESSION_TTL_MS;
    c->ses_idle_ms = CON_SESSION_IDLE_MS;
#ifdef KAD_TEST_HOOKS
    /* tests shorten the session lifetimes to see them expire */
    const char *ttl = getenv("KADET_TEST_SESSION_TTL_MS"), *idle = getenv("KADET_TEST_SESSION_IDLE_MS");
    if (ttl && atoll(ttl) > 0)
        c->ses_ttl_ms = atoll(ttl);
    if (idle && atoll(idle) > 0)
        c->ses_idle_ms = atoll(idle);
#endif
    c->config_path = config_path ? strdup(config_path) : NULL;
    pthread_mutex_init(&c->idx_mu, NULL);
    pthread_mutex_init(&c->ses_mu, NULL);
    pthread_mutex_init(&c->q_mu, NULL);
    pthread_cond_init(&c->q_cv, NULL);
    int rc = kad_alerts_open(&c->idx, sv->state_location, err);
    if (rc == KAD_EUNSUPPORTED) {
        fprintf(stderr,
                "kadet: console: %s: alerts are indexed in memory from the alerts file, and "
                "triage is off (docs/internals/console.md)\n",
                err ? err->msg : "the state keeps no alert index");
        if (err)
            kad_err_clear(err);
        c->idx_in_memory = true;
        rc = kad_alerts_open(&c->idx, NULL, err);
    }
    if (rc != KAD_OK) {
        console_close(c);
        return NULL;
    }
    index_output_file(c);
    kad_err ierr;
    kad_err_clear(&ierr);
    c->input = con_input_new(CON_INPUT_MAX_EVENTS, CON_INPUT_MAX_BYTES, &ierr);
    if (!c->input) /* the console works without it: alert pages say so */
        fprintf(stderr, "kadet: console: no recent-input store: %s\n", ierr.msg);
    if (pthread_create(&c->ingest, NULL, ingest_main, c) != 0) {
        if (err) {
            err->code = KAD_ENOMEM;
            snprintf(err->msg, sizeof(err->msg), "console: cannot start its indexing thread");
        }
        console_close(c);
        return NULL;
    }
    c->ingest_started = true;
    c->prefixes[0] = "/ui";
    c->prefixes[1] = "/api/v1/";
    c->prefixes[2] = NULL;
    c->mount.prefixes = c->prefixes;
    c->mount.handle = handle;
    c->mount.on_alerts = on_alerts;
    c->mount.on_record = c->input ? on_record : NULL;
    c->mount.close = console_close;
    c->mount.ctx = c;
    return &c->mount;
}
