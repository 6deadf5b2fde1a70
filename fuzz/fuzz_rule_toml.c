/*
 * fuzz_rule_toml.c - the rule loader (and the exceptions loader) on arbitrary bytes as one file.
 *
 * Checks beyond "no crash, no leak": a rule the loader accepts can always be printed
 * (rule_dump, which includes the compiled query's dump) and has the fields the engine relies
 * on; a load that reports no error keeps at least one rule or reports why not; every
 * diagnostic has an origin and a message; every query field kept for the lint has a position,
 * and the lint adds warnings only.
 */
#include "fuzz.h"

#include "base/buf.h"
#include "rule/rule_int.h"

#include <stdlib.h>
#include <string.h>

FUZZ_TARGET(rule_toml)
{
    struct rule_set *rs = rule_set_new();
    rule_load_text(rs, "<fuzz>", (const char *)data, size);
    for (size_t i = 0; i < rule_set_count(rs); i++) {
        const struct rule *r = rule_set_get(rs, i);
        if (!r->name || !r->rule_id || !r->severity || !r->type_name || !r->threat_json ||
            !r->from || !r->interval || r->interval_ms <= 0 || r->max_signals < 1)
            abort();
        if (r->type != RULE_UNSUPPORTED && !r->kql)
            abort();
        if (r->type == RULE_NEW_TERMS &&
            (r->new_terms_fields.n < 1 || r->new_terms_fields.n > 3 || !r->history_window_start))
            abort();
        kx_buf b;
        kx_buf_init(&b, 1 << 26);
        if (rule_dump(r, &b) != KAD_OK || b.len == 0)
            abort();
        kx_buf_fini(&b);
        for (size_t k = 0; k < r->qfield_n; k++)
            if (!r->qfields[k].path || !r->qfields[k].line || !r->qfields[k].col)
                abort();
    }
    /* lint: warnings only (a lint never adds an error without RULE_LINT_STRICT) */
    size_t errors = 0;
    for (size_t i = 0; i < rule_set_diag_count(rs); i++)
        errors += rule_set_diag(rs, i)->is_error;
    if ((rule_set_lint(rs, 0) == KAD_OK) != (errors == 0))
        abort();
    for (size_t i = 0; i < rule_set_diag_count(rs); i++) {
        const struct rule_diag *d = rule_set_diag(rs, i);
        char buf[512];
        if (!d->err.origin || !d->err.msg[0] || rule_diag_format(d, buf, sizeof buf) <= 0)
            abort();
    }
    rule_set_free(rs);

    rs = rule_set_new();
    rule_exc_load_text(rs, "<fuzz>", (const char *)data, size);
    rule_exc_attach(rs);
    rule_set_lint(rs, RULE_LINT_STRICT);
    rule_set_free(rs);
    return 0;
}
