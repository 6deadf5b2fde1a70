/*
 * fuzz_alert.c - one record through the decoder and the alert writer: event -> alert document.
 *
 * The rule is fixed (a query rule whose name is overridden from the event's user name, so both
 * the reason and the rule name take event text). Checks beyond "no crash, no leak": the writer
 * either succeeds or reports KAD_ELIMIT; a written alert is one valid JSON object whose reason
 * stays within its bound, and writing it twice gives the same bytes.
 */
#include "fuzz.h"

#include "base/arena.h"
#include "base/buf.h"
#include "detect/det_int.h"
#include "event/event.h"
#include "rule/rule_int.h"

#include <stdlib.h>
#include <string.h>

static const char rule_text[] =
    "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\n"
    "updated_date = \"2026/01/01\"\n[rule]\nauthor = [\"kadet fuzz\"]\n"
    "description = \"fuzz\"\nindex = [\"logs-kubernetes.audit_logs-*\"]\nlanguage = \"kuery\"\n"
    "license = \"Elastic License v2\"\nname = \"Fuzz rule\"\nrisk_score = 47\n"
    "rule_id = \"fuzz-1\"\nseverity = \"medium\"\ntype = \"query\"\n"
    "rule_name_override = \"user.name\"\nquery = \"kubernetes.audit.verb:*\"\n";

static void write_one(const struct rule *r, const struct ev_node *doc, kx_buf *out, kx_buf *reason)
{
    struct det_alert_extra x = {
        .timestamp_ms = 1700000000000,
        .last_detected_ms = DET_TIME_NONE,
        .event_ms = DET_TIME_NONE,
        .uuid = "0123456789abcdef",
        .intended_ms = DET_TIME_NONE,
        .reason = reason,
    };
    kad_err err;
    kx_buf_reset(out);
    int rc = det_alert_write(out, r, doc, &x, &err);
    if (rc != KAD_OK && rc != KAD_ELIMIT)
        abort();
    if (rc == KAD_OK && reason->len > DET_REASON_MAX)
        abort();
}

FUZZ_TARGET(alert)
{
    struct rule_set *rs = rule_set_new();
    rule_load_text(rs, "<fuzz-rule>", rule_text, sizeof(rule_text) - 1);
    if (rule_set_count(rs) != 1)
        abort();
    const struct rule *r = rule_set_get(rs, 0);

    struct ev_record rec = {(const char *)data, size, "<fuzz>", 1, 1, 0};
    struct ev_decoder_opts o = {.ingested = EV_INGESTED_NOW, .now_ms = 1700000000000};
    struct ev_host h = {.os_type = "linux", .name = "fuzz"};
    o.host = &h;
    struct ev_decoder *dec = ev_decoder_new(&o);
    kx_arena a;
    kx_arena_init(&a, 4096, 64u << 20);
    struct ev_event ev;
    kad_err derr;
    if (ev_decode(dec, &a, &rec, &ev, &derr) == KAD_OK) {
        kx_buf out1, out2, reason;
        kx_buf_init(&out1, DET_ALERT_MAX);
        kx_buf_init(&out2, DET_ALERT_MAX);
        kx_buf_init(&reason, DET_REASON_MAX);
        write_one(r, ev.doc, &out1, &reason);
        write_one(r, ev.doc, &out2, &reason);
        if (out1.len != out2.len || (out1.len && memcmp(out1.ptr, out2.ptr, out1.len) != 0))
            abort();
        if (out1.len) {
            kx_arena ja;
            kx_arena_init(&ja, 4096, 256u << 20);
            kad_err jerr;
            const struct ev_node *n = ev_json_parse(&ja, out1.ptr, out1.len, "<alert>", &jerr);
            if (!n || n->type != EV_OBJECT)
                abort();
            kx_arena_fini(&ja);
        }
        kx_buf_fini(&out1);
        kx_buf_fini(&out2);
        kx_buf_fini(&reason);
    }
    kx_arena_fini(&a);
    ev_decoder_free(dec);
    rule_set_free(rs);
    return 0;
}
