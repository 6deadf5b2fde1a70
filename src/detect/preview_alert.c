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
    if (a->sup_terms_json) {
        x.instance_id = a->instance_id;
        x.sup_terms_json = a->sup_terms_json;
        x.sup_start_ms = a->sup_start_ms;
        x.sup_end_ms = a->sup_end_ms;
        x.sup_docs_count = a->sup_docs_count;
    }
    return det_alert_write(out, r, d->doc, &x, NULL);
}
