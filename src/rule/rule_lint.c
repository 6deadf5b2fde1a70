/*
 * rule_lint.c - rule lint (rule_set_lint): the fields KQL queries name, checked against the
 * ECS and Kubernetes audit-log field lists, and exception lists that point at no loaded rule.
 *
 * The lists are data/fields/ecs.txt and data/fields/kubernetes-audit.txt (generated from
 * Elastic's published field definitions by tools/gen-fields.py), compiled in as sorted tables
 * (build/gen/fields_*.h, made by the Makefile). A field is known when it is listed, when it is
 * an object above a listed field (`kubernetes.audit`), or when it lies below a field whose
 * type takes any sub-field (object, flattened, nested: `kubernetes.audit.user.extra.*`).
 * Positions of the fields are computed at load (rule_lint_collect), while the TOML text is at
 * hand; the lint itself runs once every load is done, so exception files given before or after
 * the rules are judged against the whole set. docs/internals/rules.md has the details.
 */
#include "rule/rule_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/str.h"

#include <stdio.h>
#include <string.h>

struct known_field {
    const char *name, *type;
};

#define F(n, t) {n, t},
static const struct known_field ecs_fields[] = {
#include "fields_ecs.h"
};
static const struct known_field k8s_fields[] = {
#include "fields_k8s.h"
};
#undef F

static const struct {
    const struct known_field *v;
    size_t n;
} lists[] = {
    {ecs_fields, sizeof ecs_fields / sizeof *ecs_fields},
    {k8s_fields, sizeof k8s_fields / sizeof *k8s_fields},
};
#define NLISTS (sizeof lists / sizeof *lists)

/* ---- collecting positions at load ------------------------------------------------------------ */

struct collect {
    struct rule_set *rs;
    const char *text;
    size_t len;
    const struct toml_value *qv;
    KX_VEC(struct rule_qfield) v;
};

static int collect_one(void *ctx, const struct kql_field_ref *ref)
{
    struct collect *c = ctx;
    struct rule_qfield f = {kx_arena_strndup(&c->rs->arena, ref->path, ref->len), 0, 0,
                            ref->pattern};
    size_t at = toml_str_source_offset(c->text, c->len, c->qv, ref->offset);
    kx_lines_locate(&c->rs->lines, c->text, c->len, at, &f.line, &f.col);
    KX_VEC_PUSH(&c->v, f);
    return KAD_OK;
}

void rule_lint_collect(struct rule_set *rs, struct rule *r, const char *text, size_t len,
                       const struct toml_value *qv)
{
    struct collect c = {rs, text, len, qv, {0}};
    kql_field_refs(r->kql, collect_one, &c);
    if (c.v.len) {
        struct rule_qfield *v = kx_arena_alloc(&rs->arena, c.v.len * sizeof *v);
        memcpy(v, c.v.ptr, c.v.len * sizeof *v);
        r->qfields = v;
        r->qfield_n = c.v.len;
    }
    KX_VEC_FREE(&c.v);
}

/* ---- the field lists ------------------------------------------------------------------------- */

/* Index of the first entry >= s[0..n) in list l (entries sorted bytewise). */
static size_t lower_bound(const struct known_field *v, size_t nv, const char *s, size_t n)
{
    size_t lo = 0, hi = nv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        size_t ml = strlen(v[mid].name);
        int c = memcmp(v[mid].name, s, ml < n ? ml : n);
        if (c < 0 || (c == 0 && ml < n))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const struct known_field *find(const char *s, size_t n)
{
    for (size_t k = 0; k < NLISTS; k++) {
        size_t i = lower_bound(lists[k].v, lists[k].n, s, n);
        if (i < lists[k].n && strlen(lists[k].v[i].name) == n &&
            memcmp(lists[k].v[i].name, s, n) == 0)
            return &lists[k].v[i];
    }
    return NULL;
}

/* Some listed field lies below s[0..n): s is an object. */
static bool is_object(const char *s, size_t n)
{
    for (size_t k = 0; k < NLISTS; k++) {
        size_t i = lower_bound(lists[k].v, lists[k].n, s, n);
        for (; i < lists[k].n && strncmp(lists[k].v[i].name, s, n) == 0; i++)
            if (lists[k].v[i].name[n] == '.')
                return true;
    }
    return false;
}

static bool open_type(const char *type)
{
    return strcmp(type, "object") == 0 || strcmp(type, "flattened") == 0 ||
           strcmp(type, "nested") == 0;
}

/* s[0..n) is a field that takes any sub-field (`x` of type object, or `x.*`). */
static bool is_open(const char *s, size_t n)
{
    const struct known_field *f = find(s, n);
    if (f && open_type(f->type))
        return true;
    char buf[512];
    if (n + 2 >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    memcpy(buf + n, ".*", 3);
    f = find(buf, n + 2);
    return f && open_type(f->type);
}

/* Known, or below an open field: for the literal part of a pattern too. */
static bool under_open(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' && is_open(s, i))
            return true;
    return false;
}

bool rule_field_known(const char *field)
{
    size_t n = strlen(field);
    return find(field, n) || is_object(field, n) || under_open(field, n);
}

static bool pattern_known(const char *pat)
{
    kx_str p = kx_str_c(pat);
    for (size_t k = 0; k < NLISTS; k++)
        for (size_t i = 0; i < lists[k].n; i++) {
            const char *name = lists[k].v[i].name;
            /* the pattern may stop at an object above this field */
            for (const char *d = name;; d++) {
                if (*d == '.' || *d == '\0') {
                    if (kx_glob_match(p, (kx_str){name, (size_t)(d - name)}))
                        return true;
                }
                if (*d == '\0')
                    break;
            }
        }
    return under_open(pat, strcspn(pat, "*"));
}

/* ---- did you mean ---------------------------------------------------------------------------- */

#define SUGGEST_MAX 256 /* longer names get no suggestion */

/* Optimal string alignment distance (edits, adjacent transpositions) of a and b, at most
   limit + 1 (the search gives up on a row whose best is already past the limit). */
static size_t osa(const char *a, size_t la, const char *b, size_t lb, size_t limit)
{
    if ((la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    size_t rows[3][SUGGEST_MAX + 1];
    size_t *pp = rows[0], *p = rows[1], *c = rows[2];
    for (size_t j = 0; j <= lb; j++)
        p[j] = j;
    for (size_t i = 1; i <= la; i++) {
        c[0] = i;
        size_t best = c[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t d = p[j - 1] + cost;
            if (p[j] + 1 < d)
                d = p[j] + 1;
            if (c[j - 1] + 1 < d)
                d = c[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1;
            c[j] = d;
            if (d < best)
                best = d;
        }
        if (best > limit)
            return limit + 1;
        size_t *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[lb];
}

/* The nearest listed field when it is close enough, else NULL. */
static const char *suggest(const char *field, char *buf, size_t cap)
{
    size_t n = strlen(field);
    if (n == 0 || n > SUGGEST_MAX)
        return NULL;
    size_t limit = n <= 4 ? 1 : n <= 10 ? 2 : 3, best = limit + 1;
    const char *pick = NULL;
    size_t pick_len = 0;
    for (size_t k = 0; k < NLISTS; k++)
        for (size_t i = 0; i < lists[k].n; i++) {
            const char *name = lists[k].v[i].name;
            size_t l = strlen(name);
            if (l >= 2 && strcmp(name + l - 2, ".*") == 0)
                l -= 2;
            if (l > SUGGEST_MAX)
                continue;
            size_t d = osa(field, n, name, l, best - 1 < limit ? best - 1 : limit);
            if (d < best) {
                best = d;
                pick = name;
                pick_len = l;
            }
        }
    if (!pick)
        return NULL;
    snprintf(buf, cap, "%.*s", (int)pick_len, pick);
    return buf;
}

/* ---- the lint -------------------------------------------------------------------------------- */

static void lint_rule(struct rule_set *rs, const struct rule *r)
{
    for (size_t i = 0; i < r->qfield_n; i++) {
        const struct rule_qfield *f = &r->qfields[i];
        if (f->pattern) {
            if (!pattern_known(f->path))
                rs_diag_lc(rs, false, r->path, f->line, f->col,
                           "rule '%s': query: field pattern '%s' matches no known field", r->name,
                           f->path);
            continue;
        }
        if (rule_field_known(f->path))
            continue;
        char buf[SUGGEST_MAX + 1];
        const char *s = suggest(f->path, buf, sizeof buf);
        if (s)
            rs_diag_lc(rs, false, r->path, f->line, f->col,
                       "rule '%s': query: unknown field '%s' (did you mean '%s'?)", r->name,
                       f->path, s);
        else
            rs_diag_lc(rs, false, r->path, f->line, f->col,
                       "rule '%s': query: unknown field '%s' (not in the ECS or Kubernetes "
                       "audit-log field lists)",
                       r->name, f->path);
    }
}

static bool names_list(const struct rule *r, const char *list_id)
{
    for (size_t i = 0; i < r->exceptions_list.n; i++)
        if (strcmp(r->exceptions_list.v[i], list_id) == 0)
            return true;
    return false;
}

static void lint_list(struct rule_set *rs, const struct rule_exc_list *l)
{
    const char *shown = l->list_id ? l->list_id : l->name;
    for (size_t i = 0; i < l->rule_ids.n; i++) {
        const char *id = l->rule_ids.v[i];
        if (strcmp(id, "*") != 0 && !rule_set_find(rs, id))
            rs_diag_lc(rs, false, l->path, l->line, l->col,
                       "exception list '%s': rule_id '%s' matches no loaded rule", shown, id);
    }
    for (size_t i = 0; i < l->rule_names.n; i++) {
        const char *name = l->rule_names.v[i];
        bool found = false;
        for (size_t k = 0; k < rs->rules.len && !found; k++)
            found = strcmp(rs->rules.ptr[k]->name, name) == 0;
        if (!found)
            rs_diag_lc(rs, false, l->path, l->line, l->col,
                       "exception list '%s': rule name '%s' matches no loaded rule", shown, name);
    }
    if (l->rule_ids.n || l->rule_names.n || !l->list_id)
        return;
    for (size_t k = 0; k < rs->rules.len; k++)
        if (names_list(rs->rules.ptr[k], l->list_id))
            return;
    rs_diag_lc(rs, false, l->path, l->line, l->col,
               "exception list '%s': no loaded rule names it in exceptions_list", l->list_id);
}

int rule_set_lint(struct rule_set *rs, unsigned flags)
{
    for (size_t i = 0; i < rs->rules.len; i++)
        lint_rule(rs, rs->rules.ptr[i]);
    for (size_t i = 0; i < rs->lists.len; i++)
        lint_list(rs, rs->lists.ptr[i]);
    bool errors = false;
    for (size_t i = 0; i < rs->diags.len; i++) {
        struct rule_diag *d = &rs->diags.ptr[i];
        if (!d->is_error && (flags & RULE_LINT_STRICT)) {
            d->is_error = true;
            d->err.code = KAD_ERULE;
            rs->had_error = true;
        }
        errors |= d->is_error;
    }
    return errors ? KAD_ERULE : KAD_OK;
}
