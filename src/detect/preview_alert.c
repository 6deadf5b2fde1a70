/*
 * preview_alert.c - one preview alert as a JSON document.
 *
 * INTERIM: until the engine's alert builder lands (/work/notes/preview-engine.md), this writes
 * the fields preview decides, under Elastic's names (flat dotted keys, new-terms.md §5), next to
 * the source document. When the builder lands this file becomes a call to it, so `preview` and
 * `scan` print the same format.
 */
#include "detect/detect.h"

#include "base/jsonw.h"
#include "base/str.h"

#include <stdio.h>
#include <string.h>

static void time_field(kad_jsonw *w, const char *key, int64_t ms)
{
    char buf[32];
    kad_jsonw_keyc(w, key);
    if (ms == EV_TIME_NONE) {
        kad_jsonw_null(w);
        return;
    }
    size_t n = ev_time_fmt_ms(ms, buf);
    kad_jsonw_str(w, buf, n);
}

int pv_alert_write(kad_buf *out, const struct rule *r, const struct pv_doc *d,
                   const struct pv_alert *a)
{
    kad_jsonw w;
    kad_jsonw_init(&w, out);
    const char *nt = a->new_terms_json ? a->new_terms_json : "";
    const char *rid = r->rule_id ? r->rule_id : "";
    uint64_t h = kad_hash64(d->id, strlen(d->id), 0);
    h = kad_hash64(rid, strlen(rid), h);
    h = kad_hash64(nt, strlen(nt), h);
    char uuid[24];
    snprintf(uuid, sizeof(uuid), "%016llx", (unsigned long long)h);

    kad_jsonw_obj_begin(&w);
    time_field(&w, "@timestamp", a->exec_ms);
    kad_jsonw_keyc(&w, "event.kind");
    kad_jsonw_strc(&w, "signal");
    kad_jsonw_keyc(&w, "kibana.alert.uuid");
    kad_jsonw_strc(&w, uuid);
    kad_jsonw_keyc(&w, "kibana.alert.rule.rule_id");
    kad_jsonw_strc(&w, rid);
    kad_jsonw_keyc(&w, "kibana.alert.rule.name");
    kad_jsonw_strc(&w, r->name ? r->name : "");
    kad_jsonw_keyc(&w, "kibana.alert.rule.type");
    kad_jsonw_strc(&w, r->type == RULE_NEW_TERMS ? "new_terms" : "query");
    time_field(&w, "kibana.alert.original_time", d->timestamp);
    time_field(&w, "kibana.alert.start", a->exec_ms);
    time_field(&w, "kibana.alert.last_detected", a->last_detected_ms);
    kad_jsonw_keyc(&w, "kibana.alert.ancestors");
    kad_jsonw_arr_begin(&w);
    kad_jsonw_obj_begin(&w);
    kad_jsonw_keyc(&w, "id");
    kad_jsonw_strc(&w, d->id);
    kad_jsonw_keyc(&w, "type");
    kad_jsonw_strc(&w, "event");
    kad_jsonw_keyc(&w, "depth");
    kad_jsonw_int(&w, 0);
    kad_jsonw_obj_end(&w);
    kad_jsonw_arr_end(&w);
    if (a->new_terms_json) {
        kad_jsonw_keyc(&w, "kibana.alert.new_terms");
        kad_jsonw_raw(&w, a->new_terms_json, strlen(a->new_terms_json));
    }
    if (a->sup_terms_json) {
        kad_jsonw_keyc(&w, "kibana.alert.instance.id");
        kad_jsonw_strc(&w, a->instance_id);
        kad_jsonw_keyc(&w, "kibana.alert.suppression.terms");
        kad_jsonw_raw(&w, a->sup_terms_json, strlen(a->sup_terms_json));
        time_field(&w, "kibana.alert.suppression.start", a->sup_start_ms);
        time_field(&w, "kibana.alert.suppression.end", a->sup_end_ms);
        kad_jsonw_keyc(&w, "kibana.alert.suppression.docs_count");
        kad_jsonw_int(&w, (int64_t)a->sup_docs_count);
    }
    kad_buf src;
    kad_buf_init(&src, 0);
    int rc = ev_json_dump(d->doc, &src);
    kad_jsonw_keyc(&w, "kibana.alert.source"); /* interim: the builder merges it Elastic's way */
    kad_jsonw_raw(&w, src.ptr ? src.ptr : "{}", src.ptr ? src.len : 2);
    kad_buf_fini(&src);
    kad_jsonw_obj_end(&w);
    return rc ? rc : kad_jsonw_error(&w);
}
