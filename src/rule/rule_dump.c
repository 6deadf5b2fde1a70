/*
 * rule_dump.c - the normalized text form of a loaded rule.
 *
 * One `key: value` line per field, in a fixed order, defaults filled in, the query as the KQL
 * module's canonical dump. tests/rules/good/ *.expect hold this form and `kadet rules show`
 * prints it, so a change here is a change of both (on purpose: the form is the contract of what
 * the loader understood). Long prose (description, note) is summarised by its length.
 */
#include "rule/rule_int.h"

#include "base/buf.h"

#include <inttypes.h>
#include <string.h>

static void list(kx_buf *out, const char *key, const struct rule_strlist *l)
{
    kx_buf_addf(out, "%s: [", key);
    for (size_t i = 0; i < l->n; i++)
        kx_buf_addf(out, "%s\"%s\"", i ? ", " : "", l->v[i]);
    kx_buf_adds(out, "]\n");
}

int rule_dump(const struct rule *r, kx_buf *out)
{
    kx_buf_addf(out, "rule_id: %s\n", r->rule_id);
    kx_buf_addf(out, "name: %s\n", r->name);
    if (r->type == RULE_UNSUPPORTED)
        kx_buf_addf(out, "type: %s (unsupported)\n", r->type_name);
    else
        kx_buf_addf(out, "type: %s\n", r->type_name);
    kx_buf_addf(out, "severity: %s\n", r->severity);
    kx_buf_addf(out, "risk_score: %d\n", r->risk_score);
    kx_buf_addf(out, "language: %s\n", r->language ? r->language : "-");
    if (r->kql) {
        kx_buf_adds(out, "query: ");
        kql_dump(r->kql, out);
        kx_buf_addc(out, '\n');
    } else if (r->esql) {
        kx_buf_adds(out, "query: ");
        esql_dump(r->esql, out);
        kx_buf_addc(out, '\n');
    } else if (r->eql) {
        kx_buf_adds(out, "query: ");
        eql_dump(r->eql, out);
        kx_buf_addc(out, '\n');
    } else {
        kx_buf_addf(out, "query: -\n");
    }
    list(out, "index", &r->index);
    if (r->from_abs_ms != INT64_MIN)
        kx_buf_addf(out, "from: %s (absolute %" PRId64 " ms)\n", r->from, r->from_abs_ms);
    else
        kx_buf_addf(out, "from: %s (%" PRId64 " ms)\n", r->from, r->from_ms);
    kx_buf_addf(out, "to: %s\n", r->to);
    kx_buf_addf(out, "interval: %s (%" PRId64 " ms)\n", r->interval, r->interval_ms);
    kx_buf_addf(out, "max_signals: %d\n", r->max_signals);
    kx_buf_addf(
        out, "timestamp_override: %s%s\n", r->timestamp_override ? r->timestamp_override : "-",
        r->timestamp_override && !r->timestamp_override_fallback_disabled ? " (fallback @timestamp)"
                                                                          : "");
    if (r->type == RULE_NEW_TERMS) {
        list(out, "new_terms_fields", &r->new_terms_fields);
        if (r->history_window_abs_ms != INT64_MIN)
            kx_buf_addf(out, "history_window_start: %s (absolute %" PRId64 " ms)\n",
                        r->history_window_start, r->history_window_abs_ms);
        else
            kx_buf_addf(out, "history_window_start: %s (%" PRId64 " ms)\n", r->history_window_start,
                        r->history_window_ms);
    }
    kx_buf_addf(out, "threat: %s\n", r->threat_json);
    list(out, "exceptions_list", &r->exceptions_list);
    if (r->suppress_group_by.n) {
        list(out, "suppress_group_by", &r->suppress_group_by);
        kx_buf_addf(out, "suppress_duration: %" PRId64 " ms\n", r->suppress_duration_ms);
        kx_buf_addf(out, "suppress_missing: %s\n",
                    r->suppress_missing == RULE_SUPPRESS_MISSING ? "suppress" : "doNotSuppress");
    }
    list(out, "tags", &r->tags);
    list(out, "author", &r->author);
    kx_buf_addf(out, "references: %zu\n", r->references.n);
    kx_buf_addf(out, "false_positives: %zu\n", r->false_positives.n);
    kx_buf_addf(out, "description: %zu bytes\n", r->description ? strlen(r->description) : 0);
    kx_buf_addf(out, "note: %zu bytes\n", r->note ? strlen(r->note) : 0);
    kx_buf_addf(out, "version: %s\n", r->version ? r->version : "-");
    kx_buf_addf(out, "maturity: %s\n", r->maturity ? r->maturity : "-");
    kx_buf_addf(out, "enabled: %s\n", r->enabled ? "true" : "false");
    int rc = kx_buf_addf(out, "logic_hash: %016" PRIx64 "\n", r->logic_hash);
    return rc;
}
