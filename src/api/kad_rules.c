/*
 * kad_rules.c - kad_rules (include/kad.h): a reference-counted rule set over the rules module.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"

#include <string.h>

kad_rules *kad_rules_new(void)
{
    kad_rules *r = kx_calloc(1, sizeof(*r));
    r->rs = rule_set_new();
    r->refs = 1;
    return r;
}

kad_rules *kad_rules_ref(kad_rules *r)
{
    if (r)
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    return r;
}

void kad_rules_unref(kad_rules *r)
{
    if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    rule_set_free(r->rs);
    kx_free(r);
}

/* KAD_ERULE with the first error diagnostic added since `before` in err. */
static int load_result(kad_rules *r, size_t before, int rc, kad_err *err)
{
    if (rc == KAD_OK)
        return KAD_OK;
    for (size_t i = before; i < rule_set_diag_count(r->rs); i++) {
        const struct rule_diag *d = rule_set_diag(r->rs, i);
        if (d->is_error) {
            if (err)
                *err = d->err;
            break;
        }
    }
    if (err)
        err->code = KAD_ERULE;
    return KAD_ERULE;
}

static int shared(const kad_rules *r, kad_err *err)
{
    if (__atomic_load_n(&r->refs, __ATOMIC_ACQUIRE) != 1)
        return kx_err_setf(err, KAD_EINVAL, "rules are shared: load into a new set");
    return KAD_OK;
}

int kad_rules_load(kad_rules *r, const char *path, kad_err *err)
{
    if (shared(r, err))
        return KAD_EINVAL;
    size_t before = rule_set_diag_count(r->rs);
    return load_result(r, before, rule_set_load(r->rs, path), err);
}

int kad_rules_load_text(kad_rules *r, const char *origin, const char *text, size_t len,
                        kad_err *err)
{
    if (shared(r, err))
        return KAD_EINVAL;
    size_t before = rule_set_diag_count(r->rs);
    return load_result(r, before, rule_set_load_text(r->rs, origin, text, len), err);
}

int kad_rules_load_exceptions(kad_rules *r, const char *path, kad_err *err)
{
    if (shared(r, err))
        return KAD_EINVAL;
    size_t before = rule_set_diag_count(r->rs);
    return load_result(r, before, rule_set_load_exceptions(r->rs, path), err);
}

int kad_rules_lint(kad_rules *r, unsigned flags)
{
    return rule_set_lint(r->rs, flags & KAD_LINT_STRICT ? RULE_LINT_STRICT : 0);
}

size_t kad_rules_diag_count(const kad_rules *r) { return rule_set_diag_count(r->rs); }

const kad_err *kad_rules_diag(const kad_rules *r, size_t i, int *is_error)
{
    const struct rule_diag *d = rule_set_diag(r->rs, i);
    if (!d)
        return NULL;
    if (is_error)
        *is_error = d->is_error;
    return &d->err;
}

int kad_rules_diag_format(const kad_rules *r, size_t i, char *buf, size_t size)
{
    const struct rule_diag *d = rule_set_diag(r->rs, i);
    if (!d) {
        if (size)
            buf[0] = '\0';
        return 0;
    }
    return rule_diag_format(d, buf, size);
}

size_t kad_rules_count(const kad_rules *r) { return rule_set_count(r->rs); }
size_t kad_rules_file_count(const kad_rules *r) { return rule_set_file_count(r->rs); }

int kad_rules_lookup(const kad_rules *r, const char *id_or_name, size_t *index)
{
    const struct rule *x = rule_set_lookup(r->rs, id_or_name);
    for (size_t i = 0; x && i < rule_set_count(r->rs); i++) {
        if (rule_set_get(r->rs, i) == x) {
            *index = i;
            return KAD_OK;
        }
    }
    return KAD_ENOTFOUND;
}

int kad_rules_info(const kad_rules *r, size_t i, kad_rule_info *out)
{
    const struct rule *x = rule_set_get(r->rs, i);
    memset(out, 0, sizeof(*out));
    if (!x)
        return KAD_ENOTFOUND;
    out->rule_id = x->rule_id;
    out->name = x->name;
    out->description = x->description;
    out->kind = x->type == RULE_QUERY       ? KAD_RULE_QUERY
                : x->type == RULE_NEW_TERMS ? KAD_RULE_NEW_TERMS
                : x->type == RULE_EQL       ? KAD_RULE_EQL
                : x->type == RULE_ESQL      ? KAD_RULE_ESQL
                                            : KAD_RULE_OTHER;
    out->type = x->type_name;
    out->language = x->language;
    out->severity = x->severity;
    out->risk_score = x->risk_score;
    out->query = x->query;
    out->note = x->note;
    out->setup = x->setup;
    out->file = x->path;
    out->line = x->line;
    out->runnable = x->type == RULE_EQL    ? x->eql != NULL
                    : x->type == RULE_ESQL ? x->esql != NULL
                                           : x->type != RULE_UNSUPPORTED && x->kql != NULL;
    out->not_runnable = out->runnable                 ? NULL
                        : x->type == RULE_UNSUPPORTED ? "rule type not supported"
                                                      : "query not compiled";
    out->max_signals = x->max_signals;
    out->interval_ms = x->interval_ms;
    out->from_ms = x->from_ms;
    out->new_terms_fields = x->new_terms_fields.n;
    out->history_window_start = x->history_window_start;
    out->compiled = x->kql != NULL;
    out->query_fields = x->kql ? kql_field_count(x->kql) : 0;
    out->query_needs_all = x->kql ? kql_needs_all(x->kql) : 0;
    out->exceptions = x->exc_n;
    out->logic_hash = x->logic_hash;
    return KAD_OK;
}

const char *kad_rules_new_terms_field(const kad_rules *r, size_t i, size_t k)
{
    const struct rule *x = rule_set_get(r->rs, i);
    return x && k < x->new_terms_fields.n ? x->new_terms_fields.v[k] : NULL;
}

const char *kad_rules_query_field(const kad_rules *r, size_t i, size_t k)
{
    const struct rule *x = rule_set_get(r->rs, i);
    return x && x->kql && k < kql_field_count(x->kql) ? kql_field(x->kql, k) : NULL;
}

char *kad_rules_dump(const kad_rules *r, size_t i)
{
    const struct rule *x = rule_set_get(r->rs, i);
    if (!x)
        return NULL;
    kx_buf b;
    kx_buf_init(&b, 0);
    char *s = rule_dump(x, &b) == KAD_OK ? kx_strndup(b.ptr ? b.ptr : "", b.len) : NULL;
    kx_buf_fini(&b);
    return s;
}

size_t kad_rules_exc_count(const kad_rules *r) { return rule_set_exc_count(r->rs); }

const char *kad_rules_exc_describe(const kad_rules *r, size_t i)
{
    return rule_set_exc_describe(r->rs, i);
}
