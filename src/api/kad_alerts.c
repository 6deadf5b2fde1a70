/*
 * kad_alerts.c - kad_alerts (include/kad.h, "Alert index") over the state module's alert index
 * (state_alerts.c).
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/buf.h"

#include <string.h>

struct kad_alerts {
    struct st_alerts *a;
};

int kad_alerts_open(kad_alerts **out, const char *state_location, kad_err *err)
{
    *out = NULL;
    struct st_alerts *a = NULL;
    int rc = st_alerts_open(&a, state_location, err);
    if (rc != KAD_OK)
        return rc;
    kad_alerts *h = kx_calloc(1, sizeof(*h));
    h->a = a;
    *out = h;
    return KAD_OK;
}

void kad_alerts_close(kad_alerts *h)
{
    if (!h)
        return;
    st_alerts_close(h->a);
    kx_free(h);
}

const char *kad_alerts_path(const kad_alerts *h) { return st_alerts_path(h->a); }

int kad_alerts_add(kad_alerts *h, const char *ndjson, size_t len, size_t *added, size_t *bad,
                   kad_err *err)
{
    return st_alerts_add(h->a, ndjson, len, added, bad, err);
}

void kad_alert_filter_init(kad_alert_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->from_ms = f->to_ms = f->created_from_ms = f->after_ms = KAD_TIME_NONE;
}

int kad_alerts_find(kad_alerts *h, const kad_alert_filter *f,
                    int (*fn)(const kad_alert_row *r, void *ud), void *ud, kad_err *err)
{
    return st_alerts_find(h->a, f, fn, ud, err);
}

int kad_alerts_count(kad_alerts *h, const kad_alert_filter *f, uint64_t *n, kad_err *err)
{
    return st_alerts_count(h->a, f, n, err);
}

int kad_alerts_get(kad_alerts *h, const char *id, int (*fn)(const kad_alert_row *r, void *ud),
                   void *ud, kad_err *err)
{
    return st_alerts_get(h->a, id, fn, ud, err);
}

int kad_alerts_histogram(kad_alerts *h, const kad_alert_filter *f, int64_t bucket_ms,
                         int (*fn)(int64_t bucket, const char *rule_name, const char *severity,
                                   uint64_t n, void *ud),
                         void *ud, kad_err *err)
{
    return st_alerts_histogram(h->a, f, bucket_ms, fn, ud, err);
}

int kad_alerts_set_status(kad_alerts *h, const char *const *ids, size_t n, const char *status,
                          const char *note, const char *by, int64_t now_ms, size_t *changed,
                          kad_err *err)
{
    return st_alerts_set_status(h->a, ids, n, status, note, by, now_ms, changed, err);
}

/* The engine writes the status as "kibana.alert.workflow_status":"open" (det_alert.c); the
   export replaces that value with the row's. */
char *kad_alert_row_export(const kad_alert_row *r, size_t *len)
{
    static const char key[] = "\"kibana.alert.workflow_status\":\"open\"";
    kx_buf b;
    kx_buf_init(&b, r->doc_len + 64);
    const char *at = NULL;
    for (const char *p = r->doc; (size_t)(p - r->doc) + sizeof(key) - 1 <= r->doc_len; p++) {
        p = memchr(p, '"', r->doc_len - (size_t)(p - r->doc));
        if (!p || (size_t)(p - r->doc) + sizeof(key) - 1 > r->doc_len)
            break;
        if (memcmp(p, key, sizeof(key) - 1) == 0) {
            at = p;
            break;
        }
    }
    if (at && strcmp(r->status, "open") != 0) {
        size_t pre = (size_t)(at - r->doc);
        kx_buf_add(&b, r->doc, pre);
        kx_buf_adds(&b, "\"kibana.alert.workflow_status\":\"");
        kx_buf_adds(&b, r->status); /* one of three plain words */
        kx_buf_addc(&b, '"');
        kx_buf_add(&b, at + sizeof(key) - 1, r->doc_len - pre - (sizeof(key) - 1));
    } else {
        kx_buf_add(&b, r->doc, r->doc_len);
    }
    return kx_buf_take(&b, len);
}
