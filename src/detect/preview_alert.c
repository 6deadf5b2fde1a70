/*
 * preview_alert.c - one preview alert as a JSON document: the engine's alert builder
 * (det_alert_write, the format `kadet scan` writes) with the fields preview decides: the
 * execution time as @timestamp and kibana.alert.start, last_detected, new terms, suppression.
 *
 * The alert uuid is the engine's det_alert_uuid over the same encoded combination
 * (st_combo_encode of the values' texts) and document id, so preview and scan give the same
 * (document, combination) the same kibana.alert.uuid.
 */
#include "detect/detect.h"

#include "base/alloc.h"
#include "base/str.h"
#include "event/event.h"
#include "state/state.h"

#include <string.h>

/* The values' texts of a new_terms JSON array ["a",1,true]. */
static int combo_of(const char *json, kx_buf *out)
{
    kx_arena a;
    kx_arena_init(&a, 1024, 0);
    struct ev_node *arr = ev_json_parse(&a, json, strlen(json), "<new_terms>", NULL);
    kx_str comps[3];
    size_t n = 0;
    for (const struct ev_node *v = arr ? arr->child : NULL; v && n < 3; v = v->next)
        comps[n++] = v->type == EV_TRUE    ? KX_STR_LIT("true")
                     : v->type == EV_FALSE ? KX_STR_LIT("false")
                                           : (kx_str){v->str, v->len};
    int rc = n ? st_combo_encode(out, comps, n, NULL) : KAD_EINVAL;
    kx_arena_fini(&a);
    return rc;
}

/* The suppression fields of a suppressed alert (none when it is not one). */
static void sup_fields(const struct pv_alert *a, struct det_alert_extra *x)
{
    if (!a->sup_terms_json)
        return;
    x->instance_id = a->instance_id;
    x->sup_terms_json = a->sup_terms_json;
    x->sup_start_ms = a->sup_start_ms;
    x->sup_end_ms = a->sup_end_ms;
    x->sup_docs_count = a->sup_docs_count;
}

int pv_alert_write(kx_buf *out, const struct rule *r, const struct pv_doc *d,
                   const struct pv_alert *a)
{
    kx_buf combo;
    kx_buf_init(&combo, 0);
    if (a->new_terms_json)
        combo_of(a->new_terms_json, &combo);
    char uuid[33];
    det_alert_uuid(r->rule_id, combo.ptr ? combo.ptr : "", combo.len, d->id, strlen(d->id), uuid);
    kx_buf_fini(&combo);

    struct det_alert_extra x;
    memset(&x, 0, sizeof(x));
    x.timestamp_ms = a->exec_ms;
    x.last_detected_ms = a->last_detected_ms;
    x.event_ms = d->ts;
    x.uuid = uuid;
    x.doc_id = d->id;
    x.new_terms_json = a->new_terms_json;
    x.intended_ms = a->exec_ms;
    sup_fields(a, &x);
    return det_alert_write(out, r, d->doc, &x, NULL);
}

int pv_seq_alert_write(kx_buf *out, const struct rule *r, const struct pv_doc *dv,
                       const struct pv_alert *a)
{
    uint32_t n = a->seq_n;
    if (n == 0 || (a->seq_pos >= 0 && (uint32_t)a->seq_pos >= n))
        return KAD_EINVAL;
    const struct ev_node **docs = kx_calloc(n, sizeof(*docs));
    const char **ids = kx_calloc(n, sizeof(*ids));
    char(*bb)[33] = kx_calloc(n, sizeof(*bb));
    for (uint32_t i = 0; i < n; i++) {
        docs[i] = dv[i].doc;
        ids[i] = dv[i].id;
    }
    char shell[33];
    kx_buf anc, idb, sb;
    kx_buf_init(&anc, 0);
    kx_buf_init(&idb, 0);
    kx_buf_init(&sb, 0);
    kx_arena ar;
    kx_arena_init(&ar, 1 << 14, 0);
    int rc = det_seq_ids(r, docs, ids, n, bb, shell, &anc, &idb, &sb, NULL);
    if (rc == KAD_OK && a->seq_pos < 0) {
        /* the shell: the events' intersection; original_time is the first building block's
           @timestamp, its creation time (eql.md §10.3) */
        struct ev_node *body = det_seq_body(&ar, docs, n);
        struct det_alert_extra x = {
            .timestamp_ms = a->exec_ms,
            .last_detected_ms = a->exec_ms,
            .event_ms = dv[n - 1].ts,
            .uuid = shell,
            .intended_ms = a->exec_ms,
            .group_id = shell,
            .ancestors_json = anc.ptr,
            .depth = 2,
            .original_ms = a->exec_ms,
        };
        rc = body ? det_alert_write(out, r, body, &x, NULL) : KAD_ENOMEM;
    } else if (rc == KAD_OK) {
        uint32_t i = (uint32_t)a->seq_pos;
        struct det_alert_extra b = {
            .timestamp_ms = a->exec_ms,
            .last_detected_ms = a->exec_ms,
            .event_ms = dv[i].ts,
            .uuid = bb[i],
            .doc_id = ids[i],
            .intended_ms = a->exec_ms,
            .group_id = shell,
            .building_block = true,
            .group_index = (int)i,
        };
        rc = det_alert_write(out, r, docs[i], &b, NULL);
    }
    kx_arena_fini(&ar);
    kx_buf_fini(&anc);
    kx_buf_fini(&idb);
    kx_buf_fini(&sb);
    kx_free(bb);
    kx_free(ids);
    kx_free(docs);
    return rc;
}

int pv_esql_alert_write(kx_buf *out, const struct rule *r, const struct pv_doc *d,
                        const struct pv_alert *a)
{
    if (!a->row_json)
        return KAD_EINVAL;
    kx_arena ar;
    kx_arena_init(&ar, 1 << 14, 0);
    size_t n = strlen(a->row_json);
    struct ev_node *body = det_esql_alert_doc(&ar, a->row_json, n, d ? d->doc : NULL, NULL);
    char uuid[33];
    if (d) /* the document's id, and the row's text when the document gave several rows */
        det_alert_uuid(r->rule_id, a->row_multi ? a->row_json : "", a->row_multi ? n : 0, d->id,
                       strlen(d->id), uuid);
    else
        det_esql_window_uuid(r, a->win_from, a->win_to, a->row_json, n, uuid);
    struct det_alert_extra x = {
        .timestamp_ms = a->exec_ms,
        .last_detected_ms = a->last_detected_ms,
        .event_ms = d ? d->ts : a->exec_ms,
        .uuid = uuid,
        .doc_id = d ? d->id : NULL,
        .intended_ms = a->exec_ms,
    };
    sup_fields(a, &x);
    int rc = body ? det_alert_write(out, r, body, &x, NULL) : KAD_EINVAL;
    kx_arena_fini(&ar);
    return rc;
}
