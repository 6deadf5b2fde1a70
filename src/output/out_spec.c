/*
 * out_spec.c - sink specs: `TYPE:TARGET[,key=value...]` (docs/internals/outputs.md, "Specs").
 */
#include "output/output.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/str.h"
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *out_type_name(enum out_type t)
{
    switch (t) {
    case OUT_ES: return "elasticsearch";
    case OUT_WEBHOOK: return "webhook";
    case OUT_SLACK: return "slack";
    case OUT_SYSLOG: return "syslog";
    case OUT_FILE: return "file";
    case OUT_STDOUT: return "stdout";
    }
    return "?";
}

void out_spec_fini(struct out_spec *s)
{
    char **strs[] = {&s->text,   &s->name,       &s->target,     &s->host,     &s->port,
                     &s->index,  &s->api_key,    &s->user,       &s->password, &s->ca_file,
                     &s->secret, &s->sig_header, &s->dead_letter};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        kx_free(*strs[i]);
    for (size_t i = 0; i < s->nheaders; i++)
        kx_free(s->headers[i]);
    for (size_t i = 0; i < s->nrules; i++)
        kx_free(s->rules[i]);
    for (size_t i = 0; i < s->ntags; i++)
        kx_free(s->tags[i]);
    memset(s, 0, sizeof(*s));
}

int out_severity(const char *name, size_t len)
{
    static const char *const names[] = {"low", "medium", "high", "critical"};
    for (int i = 0; i < 4; i++)
        if (kx_str_eq_nocase((kx_str){name, len}, kx_str_c(names[i])))
            return i + 1;
    return 0;
}

struct sp {
    const char *text;
    const char *origin;
    kad_err *err;
};

static int sp_err(struct sp *p, size_t off, int code, const char *fmt, const char *a, size_t alen)
{
    char what[160];
    snprintf(what, sizeof(what), fmt, (int)(alen > 60 ? 60 : alen), a);
    return kx_err_at(p->err, code, p->origin, p->text, strlen(p->text), off, "sink spec: %s", what);
}

/* SIZE with an optional k/m/g suffix (powers of 1024). */
static bool parse_size(kx_str v, int64_t *out)
{
    if (v.len == 0)
        return false;
    int64_t mul = 1;
    char c = v.ptr[v.len - 1];
    if (c == 'k' || c == 'K')
        mul = 1024;
    else if (c == 'm' || c == 'M')
        mul = 1024 * 1024;
    else if (c == 'g' || c == 'G')
        mul = 1024LL * 1024 * 1024;
    if (mul > 1)
        v.len--;
    int64_t n;
    if (!kx_str_to_i64(v, &n) || n < 0 || n > INT64_MAX / mul)
        return false;
    *out = n * mul;
    return true;
}

static bool parse_int(kx_str v, int lo, int hi, int *out)
{
    int64_t n;
    if (!kx_str_to_i64(v, &n) || n < lo || n > hi)
        return false;
    *out = (int)n;
    return true;
}

/* Split `udp://HOST:PORT` (or [v6]:PORT). */
static int parse_syslog_target(struct sp *p, struct out_spec *s, const char *t, size_t tlen,
                               size_t off)
{
    static const struct {
        const char *scheme;
        enum out_syslog_proto proto;
    } schemes[] = {{"udp://", OUT_SYS_UDP}, {"tcp://", OUT_SYS_TCP}, {"tls://", OUT_SYS_TLS}};
    kx_str ts = {t, tlen};
    if (kx_str_starts(ts, KX_STR_LIT("unix:"))) {
        if (tlen == 5)
            return sp_err(p, off + 5, KAD_ESYNTAX, "%.*s: unix: needs a socket path", "syslog", 6);
        s->proto = OUT_SYS_UNIX;
        s->target = kx_strndup(t + 5, tlen - 5);
        return 0;
    }
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(schemes[i].scheme);
        if (!kx_str_starts(ts, (kx_str){schemes[i].scheme, sl}))
            continue;
        const char *h = t + sl, *end = t + tlen, *colon;
        if (*h == '[') {
            const char *rb = memchr(h, ']', (size_t)(end - h));
            if (!rb)
                return sp_err(p, off + sl, KAD_ESYNTAX, "%.*s: unclosed '[' in the address",
                              "syslog", 6);
            colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
            s->host = kx_strndup(h + 1, (size_t)(rb - h - 1));
        } else {
            colon = NULL;
            for (const char *q = h; q < end; q++)
                if (*q == ':')
                    colon = q;
            if (colon)
                s->host = kx_strndup(h, (size_t)(colon - h));
        }
        int port;
        if (!colon || !s->host[0] ||
            !parse_int((kx_str){colon + 1, (size_t)(end - colon - 1)}, 1, 65535, &port))
            return sp_err(p, off + sl, KAD_ESYNTAX, "%.*s: expected HOST:PORT (port 1-65535)",
                          "syslog", 6);
        s->port = kx_strndup(colon + 1, (size_t)(end - colon - 1));
        s->proto = schemes[i].proto;
        s->target = kx_strndup(t, tlen);
        return 0;
    }
    return sp_err(p, off, KAD_ESYNTAX,
                  "%.*s target must be udp://HOST:PORT, tcp://HOST:PORT, "
                  "tls://HOST:PORT or unix:PATH",
                  "syslog", 6);
}

static int add_list(struct sp *p, char **list, size_t *n, kx_str v, size_t off)
{
    if (*n >= OUT_SPEC_LIST_MAX)
        return sp_err(p, off, KAD_ELIMIT, "more than 32 %.*s entries", "list", 4);
    list[(*n)++] = kx_strndup(v.ptr, v.len);
    return 0;
}

static int set_str(char **dst, kx_str v)
{
    kx_free(*dst);
    *dst = kx_strndup(v.ptr, v.len);
    return 0;
}

static int parse_option(struct sp *p, struct out_spec *s, kx_str k, kx_str v, size_t koff,
                        size_t voff)
{
#define KEY(name) kx_str_eqc(k, name)
#define BAD(msg) sp_err(p, voff, KAD_EINVAL, "%.*s: " msg, k.ptr, k.len)
    bool http = s->type == OUT_ES || s->type == OUT_WEBHOOK || s->type == OUT_SLACK;
    if (KEY("name"))
        return v.len ? set_str(&s->name, v) : BAD("empty name");
    if (KEY("min_severity")) {
        if (!(s->min_severity = out_severity(v.ptr, v.len)))
            return BAD("expected low, medium, high or critical");
        return 0;
    }
    if (KEY("rule"))
        return v.len ? add_list(p, s->rules, &s->nrules, v, koff) : BAD("empty rule id");
    if (KEY("tag"))
        return v.len ? add_list(p, s->tags, &s->ntags, v, koff) : BAD("empty tag");
    if (KEY("attempts"))
        return parse_int(v, 1, 1000, &s->max_attempts) ? 0 : BAD("expected 1-1000");
    if (KEY("backoff"))
        return parse_int(v, 1, 3600000, &s->backoff_ms) ? 0 : BAD("expected 1-3600000 (ms)");
    if (KEY("backoff_max"))
        return parse_int(v, 1, 3600000, &s->backoff_max_ms) ? 0 : BAD("expected 1-3600000 (ms)");
    if (KEY("timeout"))
        return parse_int(v, 1, 3600000, &s->timeout_ms) ? 0 : BAD("expected 1-3600000 (ms)");
    if (KEY("batch"))
        return parse_int(v, 1, 10000, &s->batch_count) ? 0 : BAD("expected 1-10000 alerts");
    if (KEY("batch_bytes"))
        return parse_size(v, &s->batch_bytes) && s->batch_bytes >= 1024
                   ? 0
                   : BAD("expected SIZE >= 1k");
    if (KEY("flush"))
        return parse_int(v, 0, 600000, &s->batch_ms) ? 0 : BAD("expected 0-600000 (ms)");
    if (KEY("dead_letter"))
        return v.len ? set_str(&s->dead_letter, v) : BAD("empty path");
    if ((http || s->type == OUT_SYSLOG) && KEY("ca"))
        return v.len ? set_str(&s->ca_file, v) : BAD("empty path");
    if (http && KEY("header")) {
        long c = kx_str_chr(v, ':');
        if (c <= 0 || memchr(v.ptr, '\n', v.len) || memchr(v.ptr, '\r', v.len))
            return BAD("expected 'Name: value' on one line");
        return add_list(p, s->headers, &s->nheaders, v, koff);
    }
    if (s->type == OUT_ES && KEY("index")) {
        if (!v.len || memchr(v.ptr, '"', v.len) || memchr(v.ptr, '\\', v.len))
            return BAD("expected an index or data stream name");
        return set_str(&s->index, v);
    }
    if (s->type == OUT_ES && KEY("api_key"))
        return v.len ? set_str(&s->api_key, v) : BAD("empty key");
    if ((s->type == OUT_ES || s->type == OUT_WEBHOOK) && KEY("user"))
        return set_str(&s->user, v);
    if ((s->type == OUT_ES || s->type == OUT_WEBHOOK) && KEY("password"))
        return set_str(&s->password, v);
    if (s->type == OUT_WEBHOOK && KEY("secret"))
        return v.len ? set_str(&s->secret, v) : BAD("empty secret");
    if (s->type == OUT_WEBHOOK && KEY("signature_header")) {
        if (!v.len || kx_str_chr(v, ':') >= 0 || kx_str_chr(v, ' ') >= 0)
            return BAD("expected a header name");
        return set_str(&s->sig_header, v);
    }
    if (s->type == OUT_WEBHOOK && KEY("batch_format")) {
        if (kx_str_eqc(v, "array"))
            s->array = true;
        else if (kx_str_eqc(v, "single"))
            s->array = false;
        else
            return BAD("expected array or single");
        return 0;
    }
    if (s->type == OUT_FILE && KEY("rotate"))
        return parse_size(v, &s->rotate) && s->rotate >= 1024 ? 0 : BAD("expected SIZE >= 1k");
    if (s->type == OUT_FILE && KEY("keep"))
        return parse_int(v, 1, 100, &s->keep) ? 0 : BAD("expected 1-100");
    if (s->type == OUT_SYSLOG && KEY("facility"))
        return parse_int(v, 0, 23, &s->facility) ? 0 : BAD("expected 0-23");
#undef KEY
#undef BAD
    return sp_err(p, koff, KAD_EINVAL, "unknown option '%.*s' for this sink type", k.ptr, k.len);
}

static void set_defaults(struct out_spec *s)
{
    if (!s->index && s->type == OUT_ES)
        s->index = kx_strdup("kadet-alerts");
    if (!s->sig_header && s->type == OUT_WEBHOOK)
        s->sig_header = kx_strdup("X-Kadet-Signature");
    if (!s->batch_count)
        s->batch_count = s->type == OUT_ES ? 500 : (s->type == OUT_WEBHOOK && s->array) ? 100 : 1;
    if ((s->type == OUT_WEBHOOK && !s->array) || s->type == OUT_SLACK)
        s->batch_count = 1; /* one alert per request */
    if (!s->batch_bytes)
        s->batch_bytes = 5 << 20;
    if (!s->max_attempts)
        s->max_attempts = 8;
    if (!s->backoff_ms)
        s->backoff_ms = 500;
    if (!s->backoff_max_ms)
        s->backoff_max_ms = 60000;
    if (s->backoff_max_ms < s->backoff_ms)
        s->backoff_max_ms = s->backoff_ms;
    if (!s->timeout_ms)
        s->timeout_ms = 10000;
    if (!s->keep)
        s->keep = 5;
    if (s->type == OUT_SYSLOG && !s->facility)
        s->facility = 16;
}

static const struct {
    const char *name;
    enum out_type type;
} spec_types[] = {{"elasticsearch", OUT_ES}, {"webhook", OUT_WEBHOOK}, {"slack", OUT_SLACK},
                  {"syslog", OUT_SYSLOG},    {"file", OUT_FILE},       {"stdout", OUT_STDOUT}};

/* TYPE[:TARGET] of text; *pos is left at the first ',' of the options (or the end). */
static int spec_head(struct sp *p, struct out_spec *s, size_t *pos)
{
    const char *text = p->text;
    size_t n = strlen(text);
    size_t tl = strcspn(text, ":,");
    for (size_t i = 0; i < sizeof(spec_types) / sizeof(spec_types[0]); i++)
        if (strlen(spec_types[i].name) == tl && memcmp(spec_types[i].name, text, tl) == 0)
            s->type = spec_types[i].type;
    if (!s->type)
        return sp_err(p, 0, KAD_EINVAL,
                      "unknown sink type '%.*s' (elasticsearch, webhook, slack, syslog, file, "
                      "stdout)",
                      text, tl);
    int rc = 0;
    *pos = tl;
    if (s->type == OUT_STDOUT) {
        if (text[tl] == ':')
            rc = sp_err(p, tl, KAD_ESYNTAX, "%.*s takes no target", "stdout", 6);
        return rc;
    }
    if (text[tl] != ':' || tl + 1 >= n || text[tl + 1] == ',')
        return sp_err(p, tl, KAD_ESYNTAX, "%.*s needs a target: TYPE:TARGET", text, tl);
    size_t start = tl + 1;
    /* the target ends at the first ',' that starts a key=value option */
    size_t end = start;
    for (;;) {
        end += strcspn(text + end, ",");
        if (!text[end])
            break;
        size_t kl = strcspn(text + end + 1, "=,");
        if (text[end + 1 + kl] == '=' && kl > 0)
            break;
        end++;
    }
    if (s->type == OUT_SYSLOG) {
        rc = parse_syslog_target(p, s, text + start, end - start, start);
    } else {
        s->target = kx_strndup(text + start, end - start);
        if (s->type != OUT_FILE && strncmp(s->target, "http://", 7) != 0 &&
            strncmp(s->target, "https://", 8) != 0)
            rc = sp_err(p, start, KAD_ESYNTAX,
                        "%.*s target must be an http:// or "
                        "https:// URL",
                        text, tl);
    }
    *pos = end;
    return rc;
}

/* The default name and the defaults of what no option set. */
static void spec_finish(struct out_spec *s, const char *text)
{
    s->text = kx_strdup(text);
    if (!s->name) {
        kx_buf b;
        kx_buf_init(&b, 8192);
        kx_buf_addf(&b, "%s%s%s", out_type_name(s->type), s->target ? ":" : "",
                    s->target ? s->target : "");
        if (s->type == OUT_SYSLOG && s->proto == OUT_SYS_UNIX)
            kx_buf_reset(&b), kx_buf_addf(&b, "syslog:unix:%s", s->target);
        s->name = kx_buf_take(&b, NULL);
    }
    set_defaults(s);
}

int out_spec_parse(struct out_spec *s, const char *text, const char *origin, kad_err *err)
{
    struct sp p = {text, origin ? origin : "<sink>", err};
    memset(s, 0, sizeof(*s));
    size_t n = strlen(text);
    if (n > OUT_SPEC_MAX)
        return sp_err(&p, OUT_SPEC_MAX, KAD_ELIMIT, "longer than %.*s bytes", "4096", 4);
    size_t pos = 0;
    int rc = spec_head(&p, s, &pos);
    while (rc == 0 && pos < n) {
        /* text[pos] == ',' */
        size_t koff = pos + 1;
        size_t kl = strcspn(text + koff, "=,");
        if (text[koff + kl] != '=' || kl == 0) {
            rc = sp_err(&p, koff, KAD_ESYNTAX, "expected key=value%.*s", "", 0);
            break;
        }
        size_t voff = koff + kl + 1;
        size_t vl = strcspn(text + voff, ",");
        rc = parse_option(&p, s, (kx_str){text + koff, kl}, (kx_str){text + voff, vl}, koff, voff);
        pos = voff + vl;
    }
    if (rc) {
        out_spec_fini(s);
        return rc;
    }
    spec_finish(s, text);
    return 0;
}

int out_spec_from_fields(struct out_spec *s, const char *head, const char *const *keys,
                         const char *const *vals, size_t n, const char *origin, size_t *bad,
                         kad_err *err)
{
    struct sp p = {head, origin ? origin : "<sink>", err};
    memset(s, 0, sizeof(*s));
    *bad = SIZE_MAX;
    if (strlen(head) > OUT_SPEC_MAX)
        return sp_err(&p, OUT_SPEC_MAX, KAD_ELIMIT, "longer than %.*s bytes", "4096", 4);
    size_t pos = 0;
    int rc = spec_head(&p, s, &pos);
    if (rc == 0 && head[pos])
        rc = sp_err(&p, pos, KAD_ESYNTAX, "the target ends here; options are keys of their own%.*s",
                    "", 0);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct sp vp = {vals[i], p.origin, err};
        size_t kl = strlen(keys[i]), vl = strlen(vals[i]);
        if (vl > OUT_SPEC_MAX) {
            rc = sp_err(&vp, 0, KAD_ELIMIT, "longer than %.*s bytes", "4096", 4);
        } else {
            rc = parse_option(&vp, s, (kx_str){keys[i], kl}, (kx_str){vals[i], vl}, 0, 0);
        }
        if (rc)
            *bad = i;
    }
    if (rc) {
        out_spec_fini(s);
        return rc;
    }
    spec_finish(s, head);
    return 0;
}

static char *dup_or_null(const char *v) { return v ? kx_strdup(v) : NULL; }

void out_spec_copy(struct out_spec *d, const struct out_spec *s)
{
    *d = *s;
    char **strs[] = {&d->text,   &d->name,       &d->target,     &d->host,     &d->port,
                     &d->index,  &d->api_key,    &d->user,       &d->password, &d->ca_file,
                     &d->secret, &d->sig_header, &d->dead_letter};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        *strs[i] = dup_or_null(*strs[i]);
    for (size_t i = 0; i < d->nheaders; i++)
        d->headers[i] = kx_strdup(s->headers[i]);
    for (size_t i = 0; i < d->nrules; i++)
        d->rules[i] = kx_strdup(s->rules[i]);
    for (size_t i = 0; i < d->ntags; i++)
        d->tags[i] = kx_strdup(s->tags[i]);
}

/* ---- filters ------------------------------------------------------------------------------ */

bool out_filter_pass(const struct out_spec *s, const struct out_alert *a)
{
    if (s->min_severity && a->sev < s->min_severity)
        return false;
    if (s->nrules) {
        bool hit = false;
        for (size_t i = 0; i < s->nrules && !hit; i++)
            hit = a->rule_id && strcmp(a->rule_id, s->rules[i]) == 0;
        if (!hit)
            return false;
    }
    if (s->ntags) {
        bool hit = false;
        for (size_t i = 0; i < s->ntags && !hit; i++)
            for (size_t j = 0; j < a->ntags && !hit; j++)
                hit = strcmp(a->tags[j], s->tags[i]) == 0;
        if (!hit)
            return false;
    }
    return true;
}
