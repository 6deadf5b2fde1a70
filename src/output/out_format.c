/*
 * out_format.c - what each sink sends, as pure functions: the alert fields the filters and
 * formats read, Elasticsearch _bulk bodies and response verdicts, webhook bodies and their
 * HMAC-SHA256 signature, Slack messages, RFC 5424 syslog lines.
 */
#include "output/output.h"

#include "base/err.h"
#include "base/jsonw.h"
#include "base/str.h"
#include "event/event.h"
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- the alert ---------------------------------------------------------------------------- */

static const char *str_of(const struct ev_node *root, const char *path)
{
    const struct ev_node *v = ev_first(root, path, EV_STRING);
    return v ? v->str : NULL;
}

struct collect {
    const char **dst;
    size_t *n, max;
};

static bool collect_str(const struct ev_node *v, bool partial, void *ctx)
{
    struct collect *c = ctx;
    if (partial || (v->type != EV_STRING && v->type != EV_NUMBER))
        return false;
    if (*c->n < c->max)
        c->dst[(*c->n)++] = v->str;
    return *c->n >= c->max;
}

/* The members out_alert_parse reads: only they are built (the document is still checked whole).
   The source event in an alert is most of its bytes; a full tree of it was most of a delivery
   thread's CPU time (bench-outputs). */
static const char *const alert_paths[] = {
    "kibana.alert.uuid",   "kibana.alert.rule.rule_id", "kibana.alert.rule.name",
    "kibana.alert.severity", "kibana.alert.reason",     "@timestamp",
    "kibana.alert.rule.note", "user.name",              "kubernetes.audit.user.username",
    "kibana.alert.rule.tags", "kibana.alert.new_terms",
};
static struct ev_paths *alert_trie;
static pthread_once_t alert_trie_once = PTHREAD_ONCE_INIT;
static void alert_trie_init(void)
{
    alert_trie = ev_paths_new();
    for (size_t i = 0; i < sizeof(alert_paths) / sizeof(alert_paths[0]); i++)
        ev_paths_add(alert_trie, alert_paths[i], strlen(alert_paths[i]), EV_PATH_CAPTURE);
}

int out_alert_parse(struct out_alert *a, kx_arena *ar, const char *json, size_t len, kad_err *err)
{
    memset(a, 0, sizeof(*a));
    if (len > OUT_ALERT_MAX)
        return kx_err_setf(err, KAD_ELIMIT, "alert of %zu bytes (at most %u)", len, OUT_ALERT_MAX);
    pthread_once(&alert_trie_once, alert_trie_init);
    bool aborted = false;
    struct ev_node *root =
        ev_json_extract(ar, json, len, alert_trie, NULL, "alert", &aborted, err);
    if (!root && aborted) /* not an object: the full parse says what it is */
        root = ev_json_parse(ar, json, len, "alert", err);
    if (!root)
        return err ? err->code : KAD_ESYNTAX;
    if (root->type != EV_OBJECT)
        return kx_err_setf(err, KAD_ESYNTAX, "alert: not a JSON object");
    a->json = json;
    a->len = len;
    a->id = str_of(root, "kibana.alert.uuid");
    if (!a->id || !a->id[0])
        return kx_err_setf(err, KAD_EINVAL, "alert without kibana.alert.uuid");
    a->rule_id = str_of(root, "kibana.alert.rule.rule_id");
    a->rule_name = str_of(root, "kibana.alert.rule.name");
    a->severity = str_of(root, "kibana.alert.severity");
    a->sev = a->severity ? out_severity(a->severity, strlen(a->severity)) : 0;
    a->reason = str_of(root, "kibana.alert.reason");
    a->timestamp = str_of(root, "@timestamp");
    a->note = str_of(root, "kibana.alert.rule.note");
    a->user = str_of(root, "user.name");
    if (!a->user)
        a->user = str_of(root, "kubernetes.audit.user.username");
    struct collect c = {a->tags, &a->ntags, OUT_SPEC_LIST_MAX};
    const char *p = "kibana.alert.rule.tags";
    ev_values(root, p, strlen(p), collect_str, &c);
    c = (struct collect){a->new_terms, &a->nnew_terms, OUT_NEW_TERMS_MAX};
    p = "kibana.alert.new_terms";
    ev_values(root, p, strlen(p), collect_str, &c);
    return 0;
}

/* ---- Elasticsearch ------------------------------------------------------------------------ */

int out_fmt_es_bulk(const struct out_spec *s, const struct out_alert *a, size_t n, kx_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        kx_jsonw w;
        kx_jsonw_init(&w, out);
        kx_jsonw_obj_begin(&w);
        kx_jsonw_keyc(&w, "create");
        kx_jsonw_obj_begin(&w);
        kx_jsonw_keyc(&w, "_index");
        kx_jsonw_strc(&w, s->index ? s->index : "kadet-alerts");
        kx_jsonw_keyc(&w, "_id");
        kx_jsonw_strc(&w, a[i].id);
        kx_jsonw_obj_end(&w);
        kx_jsonw_obj_end(&w);
        if (kx_jsonw_error(&w))
            return kx_jsonw_error(&w);
        kx_buf_addc(out, '\n');
        kx_buf_add(out, a[i].json, a[i].len);
        kx_buf_addc(out, '\n');
    }
    return kx_buf_error(out);
}

static void item_reason(const struct ev_node *res, struct out_item_result *r)
{
    const struct ev_node *e = ev_member(res, "error", 5);
    r->reason[0] = 0;
    if (!e)
        return;
    if (e->type == EV_STRING) {
        snprintf(r->reason, sizeof(r->reason), "%s", e->str);
        return;
    }
    const struct ev_node *t = ev_member(e, "type", 4), *why = ev_member(e, "reason", 6);
    snprintf(r->reason, sizeof(r->reason), "%s: %s", t && t->type == EV_STRING ? t->str : "error",
             why && why->type == EV_STRING ? why->str : "");
}

int out_es_bulk_items(const char *body, size_t len, struct out_item_result *res, size_t n,
                      kad_err *err)
{
    kx_arena ar;
    kx_arena_init(&ar, 64 << 10, 256u << 20);
    int rc = 0;
    struct ev_node *root = ev_json_parse(&ar, body, len, "bulk response", err);
    const struct ev_node *items = root ? ev_member(root, "items", 5) : NULL;
    if (!root)
        rc = err ? err->code : KAD_ESYNTAX;
    else if (!items || items->type != EV_ARRAY)
        rc = kx_err_setf(err, KAD_ESYNTAX, "bulk response without an items array");
    else if (items->len != n)
        rc =
            kx_err_setf(err, KAD_ESYNTAX, "bulk response has %u items for %zu sent", items->len, n);
    size_t i = 0;
    const struct ev_node *first = rc == 0 && items ? items->child : NULL;
    for (const struct ev_node *it = first; it; it = it->next, i++) {
        /* {"create": {"_index":..., "_id":..., "status": 201, "error": {...}}} */
        const struct ev_node *op = it->type == EV_OBJECT ? it->child : NULL;
        const struct ev_node *st = op && op->type == EV_OBJECT ? ev_member(op, "status", 6) : NULL;
        int64_t status;
        if (!st || st->type != EV_NUMBER || !kx_str_to_i64((kx_str){st->str, st->len}, &status)) {
            rc = kx_err_setf(err, KAD_ESYNTAX, "bulk response item %zu has no status", i);
            break;
        }
        res[i].status = (int)status;
        item_reason(op, &res[i]);
        if ((status >= 200 && status < 300) || status == 409)
            res[i].v = OUT_V_DONE;
        else if (status == 429 || status >= 500)
            res[i].v = OUT_V_RETRY;
        else
            res[i].v = OUT_V_DEAD;
        if (res[i].v != OUT_V_DONE && !res[i].reason[0])
            snprintf(res[i].reason, sizeof(res[i].reason), "status %d", (int)status);
    }
    kx_arena_fini(&ar);
    return rc;
}

/* ---- webhook ------------------------------------------------------------------------------ */

int out_fmt_webhook(const struct out_spec *s, const struct out_alert *a, size_t n, kx_buf *out)
{
    if (n == 1 && !s->array)
        return kx_buf_add(out, a[0].json, a[0].len);
    kx_buf_addc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            kx_buf_addc(out, ',');
        kx_buf_add(out, a[i].json, a[i].len);
    }
    kx_buf_addc(out, ']');
    return kx_buf_error(out);
}

int out_hmac_sha256_hex(const char *secret, const void *body, size_t len, char out[72])
{
    unsigned char mac[32];
    if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, strlen(secret), body, len, mac) < 0)
        return KAD_EUNSUPPORTED;
    snprintf(out, 8, "sha256=");
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

/* ---- Slack -------------------------------------------------------------------------------- */

/* Slack's mrkdwn needs &, < and > escaped. */
static void mrkdwn(kx_buf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '&')
            kx_buf_adds(b, "&amp;");
        else if (*s == '<')
            kx_buf_adds(b, "&lt;");
        else if (*s == '>')
            kx_buf_adds(b, "&gt;");
        else
            kx_buf_addc(b, *s);
    }
}

/* The first steps of an investigation guide: its first list items (at most 3; after a heading
   that mentions "steps" when there is one), else its first non-heading lines. */
static void guide_steps(kx_buf *b, const char *g)
{
    if (!g)
        return;
    const char *from = g, *steps = strstr(g, "teps");
    if (steps) {
        const char *nl = strchr(steps, '\n');
        if (nl)
            from = nl + 1;
    }
    int found = 0;
    for (int pass = 0; pass < 2 && !found; pass++) {
        for (const char *l = pass ? g : from; *l && found < 3;) {
            const char *e = strchr(l, '\n');
            size_t n = e ? (size_t)(e - l) : strlen(l);
            kx_str line = kx_str_trim((kx_str){l, n});
            bool item =
                line.len > 2 && (line.ptr[0] == '-' || line.ptr[0] == '*') && line.ptr[1] == ' ';
            bool num = line.len > 3 && line.ptr[0] >= '0' && line.ptr[0] <= '9' &&
                       line.ptr[1] == '.' && line.ptr[2] == ' ';
            if (item || num || (pass == 1 && line.len && line.ptr[0] != '#')) {
                size_t skip = item ? 2 : num ? 3 : 0;
                char tmp[400];
                size_t tl = line.len - skip < sizeof(tmp) - 1 ? line.len - skip : sizeof(tmp) - 1;
                memcpy(tmp, line.ptr + skip, tl);
                tmp[tl] = 0;
                kx_buf_adds(b, "\n• ");
                mrkdwn(b, tmp);
                found++;
            }
            if (!e)
                break;
            l = e + 1;
        }
    }
}

int out_fmt_slack(const struct out_alert *a, const char *guide, kx_buf *out)
{
    kx_buf t;
    kx_buf_init(&t, 64 << 10);
    kx_buf_adds(&t, ":rotating_light: *");
    mrkdwn(&t, a->rule_name ? a->rule_name : a->rule_id ? a->rule_id : "kadet alert");
    kx_buf_adds(&t, "* (");
    mrkdwn(&t, a->severity ? a->severity : "unknown severity");
    kx_buf_adds(&t, ")\n*User:* ");
    mrkdwn(&t, a->user ? a->user : "-");
    if (a->nnew_terms) {
        kx_buf_adds(&t, "\n*New terms:* ");
        for (size_t i = 0; i < a->nnew_terms; i++) {
            kx_buf_adds(&t, i ? ", `" : "`");
            mrkdwn(&t, a->new_terms[i]);
            kx_buf_addc(&t, '`');
        }
    }
    if (a->reason) {
        kx_buf_adds(&t, "\n*Reason:* ");
        mrkdwn(&t, a->reason);
    }
    size_t before = t.len;
    kx_buf_adds(&t, "\n*First steps:*");
    size_t mark = t.len;
    guide_steps(&t, guide ? guide : a->note);
    if (t.len == mark)
        kx_buf_truncate(&t, before);
    kx_buf_adds(&t, "\n_alert ");
    kx_buf_adds(&t, a->id);
    kx_buf_addc(&t, '_');
    int rc = kx_buf_error(&t);
    if (!rc) {
        kx_jsonw w;
        kx_jsonw_init(&w, out);
        kx_jsonw_obj_begin(&w);
        kx_jsonw_keyc(&w, "text");
        kx_jsonw_str(&w, t.ptr, t.len);
        kx_jsonw_obj_end(&w);
        rc = kx_jsonw_error(&w);
    }
    kx_buf_fini(&t);
    return rc;
}

/* ---- syslog ------------------------------------------------------------------------------- */

int out_fmt_syslog(const struct out_spec *s, const struct out_alert *a, const char *hostname,
                   bool octet_count, kx_buf *out)
{
    /* severity: critical 2 (crit), high 3 (err), medium 4 (warning), low/unknown 5 (notice) */
    static const int sevmap[] = {5, 5, 4, 3, 2};
    int pri = s->facility * 8 + sevmap[a->sev >= 0 && a->sev <= 4 ? a->sev : 0];
    kx_buf line;
    kx_buf_init(&line, OUT_ALERT_MAX + 1024);
    /* TIMESTAMP: the alert's @timestamp (RFC 3339 already); NILVALUE when absent */
    const char *ts = a->timestamp && a->timestamp[0] ? a->timestamp : "-";
    char host[256];
    size_t hl = 0;
    for (const char *h = hostname && *hostname ? hostname : "-"; *h && hl < 255; h++)
        if (*h > 32 && *h < 127) /* PRINTUSASCII */
            host[hl++] = *h;
    host[hl] = 0;
    kx_buf_addf(&line, "<%d>1 %s %s kadet - alert [kadet@32473 id=\"%s\" rule=\"", pri, ts,
                hl ? host : "-", a->id);
    /* SD-PARAM value: escape '"', '\' and ']' */
    for (const char *r = a->rule_id ? a->rule_id : ""; *r; r++) {
        if (*r == '"' || *r == '\\' || *r == ']')
            kx_buf_addc(&line, '\\');
        kx_buf_addc(&line, *r);
    }
    kx_buf_adds(&line, "\"] ");
    kx_buf_add(&line, a->json, a->len);
    int rc = kx_buf_error(&line);
    if (!rc) {
        if (octet_count)
            kx_buf_addf(out, "%zu ", line.len);
        kx_buf_add(out, line.ptr, line.len);
        rc = kx_buf_error(out);
    }
    kx_buf_fini(&line);
    return rc;
}
