/*
 * rule_exceptions.c - exception lists (../shared/spec/exceptions.md): loading the three file
 * formats kadet reads and deciding whether an exception excludes a document.
 *
 *   1. detection-rules exception files (TOML: [metadata], [[exceptions]] with a container,
 *      items and entries);
 *   2. Kibana exports (NDJSON: a container line, item lines, an export summary line);
 *   3. kadet's shorthand (TOML: [[exception]] with id, rules, query, lists, expires).
 *
 * All three become `struct rule_exc_list` (rule_int.h): items whose entries must all hold.
 * Lists attach to rules by list_id (the rule's exceptions_list), by rule_id or by rule name.
 * An entry kadet cannot apply (an Elastic value list, known only to Kibana) makes its item
 * inapplicable, with Elastic's warning text. Matching is Elastic's: case-sensitive, any value
 * of a multi-valued field, `excluded` negates, an expired item no longer applies.
 *
 * Not done here: value lists stored in Kibana, exception comments and tags (read, ignored).
 */
#include "rule/rule_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- a view over a TOML table or a JSON object (both formats have the same shape) ----------- */

struct xv {
    const struct toml_value *t;
    const struct ev_node *j;
};

static bool xnull(struct xv v) { return !v.t && !v.j; }

static struct xv xget(struct xv v, const char *k)
{
    struct xv r = {NULL, NULL};
    if (v.t)
        r.t = toml_get(v.t, k);
    else if (v.j && v.j->type == EV_OBJECT)
        r.j = ev_member(v.j, k, strlen(k));
    if (r.j && r.j->type == EV_NULL)
        r.j = NULL;
    return r;
}

static const char *xstr(struct xv v)
{
    if (v.t)
        return v.t->type == TOML_STRING ? v.t->u.s : NULL;
    if (v.j)
        return v.j->type == EV_STRING ? v.j->str : NULL;
    return NULL;
}

static bool xarr(struct xv v, size_t *n)
{
    if (v.t && v.t->type == TOML_ARRAY) {
        *n = v.t->len;
        return true;
    }
    if (v.j && v.j->type == EV_ARRAY) {
        *n = v.j->len;
        return true;
    }
    return false;
}

static struct xv xat(struct xv v, size_t i)
{
    struct xv r = {NULL, NULL};
    if (v.t)
        r.t = i < v.t->len ? v.t->u.items[i] : NULL;
    else if (v.j) {
        const struct ev_node *c = v.j->child;
        while (c && i--)
            c = c->next;
        r.j = c;
    }
    return r;
}

/* ---- loading context ------------------------------------------------------------------------- */

struct xl {
    struct rule_set *rs;
    const char *path;
    const char *text; /* TOML text, or NULL for NDJSON */
    size_t len;
    uint32_t line; /* NDJSON: current line */
    int errors;
};

__attribute__((format(printf, 4, 5))) static void xdiag(struct xl *X, bool is_error, struct xv at,
                                                        const char *fmt, ...)
{
    char msg[KAD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (X->text)
        rs_diag(X->rs, is_error, X->path, X->text, X->len, at.t ? at.t->offset : 0, "%s", msg);
    else
        rs_diag_lc(X->rs, is_error, X->path, X->line, 0, "%s", msg);
    if (is_error)
        X->errors++;
}

static const char *adup(struct xl *X, const char *s) { return s ? rs_strdup(X->rs, s) : NULL; }

static struct rule_strlist xstrs(struct xl *X, struct xv v, const char *what, struct xv at)
{
    struct rule_strlist out = {NULL, 0};
    size_t n;
    if (xnull(v))
        return out;
    if (xstr(v)) {
        out.v = kx_arena_alloc(&X->rs->arena, sizeof *out.v);
        out.v[out.n++] = adup(X, xstr(v));
        return out;
    }
    if (!xarr(v, &n)) {
        xdiag(X, true, at, "%s must be a string or an array of strings", what);
        return out;
    }
    out.v = kx_arena_alloc(&X->rs->arena, (n ? n : 1) * sizeof *out.v);
    for (size_t i = 0; i < n; i++) {
        const char *s = xstr(xat(v, i));
        if (!s) {
            xdiag(X, true, at, "%s must be an array of strings (item %zu is not a string)", what,
                  i + 1);
            continue;
        }
        out.v[out.n++] = adup(X, s);
    }
    return out;
}

static struct rule_exc_list *new_list(struct xl *X, const char *list_id, const char *name)
{
    struct rule_exc_list *l = kx_arena_zalloc(&X->rs->arena, sizeof *l);
    l->path = adup(X, X->path);
    l->list_id = adup(X, list_id);
    l->name = adup(X, name ? name : list_id);
    l->line = X->text ? 0 : X->line;
    KX_VEC_PUSH(&X->rs->lists, l);
    return l;
}

/* Remember where the list's rule ids (or the list) are written, for rule_set_lint. */
static void mark_list(struct xl *X, struct rule_exc_list *l, struct xv at)
{
    if (X->text && at.t)
        kx_lines_locate(&X->rs->lines, X->text, X->len, at.t->offset, &l->line, &l->col);
}

static struct exc_item *add_item(struct xl *X, struct rule_exc_list *l)
{
    struct exc_item *items = kx_arena_zalloc(&X->rs->arena, (l->n + 1) * sizeof *items);
    if (l->n)
        memcpy(items, l->items, l->n * sizeof *items);
    l->items = items;
    struct exc_item *it = &items[l->n++];
    it->expire_ms = INT64_MAX;
    return it;
}

static void finish_list(struct xl *X, struct rule_exc_list *l)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s: %zu item%s (%s)", l->list_id ? l->list_id : l->name, l->n,
             l->n == 1 ? "" : "s", l->path);
    l->describe = rs_strdup(X->rs, buf);
}

/* ---- Elastic entries (formats 1 and 2) ------------------------------------------------------- */

static bool build_entry(struct xl *X, struct xv e, struct exc_entry *out, bool in_nested,
                        const char *item_name, bool *unapplied);

/* Append s as a KQL quoted string (only `\\` and `"` need escaping inside quotes). */
static int kql_quote(kx_buf *b, const char *s)
{
    int rc = kx_buf_addc(b, '"');
    for (; *s && rc == KAD_OK; s++) {
        if (*s == '\\' || *s == '"')
            rc = kx_buf_addc(b, '\\');
        if (rc == KAD_OK)
            rc = kx_buf_addc(b, *s);
    }
    return rc ? rc : kx_buf_addc(b, '"');
}

/* Append `"f1":("v1" or ...) or "f2":(...)`: for each field, some value of it equals one of
 * the values as KQL compares a quoted value (kql.md 5.2), which is what Elasticsearch's
 * match_phrase does on keyword, numeric, boolean and ip fields. */
static int kql_terms(kx_buf *b, const char *const *fields, size_t nf, const struct rule_strlist *v)
{
    int rc = KAD_OK;
    for (size_t f = 0; f < nf && rc == KAD_OK; f++) {
        rc = f ? kx_buf_adds(b, " or ") : KAD_OK;
        rc = rc ? rc : kql_quote(b, fields[f]);
        rc = rc ? rc : kx_buf_adds(b, ":(");
        for (size_t i = 0; i < v->n && rc == KAD_OK; i++) {
            rc = i ? kx_buf_adds(b, " or ") : KAD_OK;
            rc = rc ? rc : kql_quote(b, v->v[i]);
        }
        rc = rc ? rc : kx_buf_addc(b, ')');
    }
    return rc;
}

/* Compile kql_terms(fields, v); NULL (a clause that matches nothing) for an empty v, or with
 * an error reported. */
static const struct kql_query *terms_query(struct xl *X, const char *const *fields, size_t nf,
                                           const struct rule_strlist *v, const char *item_name,
                                           struct xv at)
{
    if (v->n == 0)
        return NULL;
    kx_buf b;
    kx_buf_init(&b, KQL_MAX_LEN);
    kad_err ke;
    kad_err_clear(&ke);
    const struct kql_query *q = NULL;
    if (kql_terms(&b, fields, nf, v) != KAD_OK)
        kx_err_setf(&ke, KAD_ELIMIT, "values longer than %u bytes", KQL_MAX_LEN);
    else
        q = kql_compile(&X->rs->arena, b.ptr, b.len, X->path, &ke);
    kx_buf_fini(&b);
    if (!q)
        xdiag(X, true, at, "exception item '%s': %s", item_name, ke.msg);
    return q;
}

static bool build_entries(struct xl *X, struct xv arr, struct exc_entry **out, size_t *n,
                          bool in_nested, const char *item_name, bool *unapplied, struct xv at)
{
    size_t cnt;
    if (!xarr(arr, &cnt) || cnt == 0) {
        xdiag(X, true, at, "exception item '%s': 'entries' must be a non-empty array", item_name);
        return false;
    }
    *out = kx_arena_zalloc(&X->rs->arena, cnt * sizeof **out);
    *n = cnt;
    bool ok = true;
    for (size_t i = 0; i < cnt; i++)
        ok &= build_entry(X, xat(arr, i), &(*out)[i], in_nested, item_name, unapplied);
    return ok;
}

static bool build_entry(struct xl *X, struct xv e, struct exc_entry *out, bool in_nested,
                        const char *item_name, bool *unapplied)
{
    const char *type = xstr(xget(e, "type"));
    const char *field = xstr(xget(e, "field"));
    const char *op = xstr(xget(e, "operator"));
    struct xv at = e;
    if (!type || !field) {
        xdiag(X, true, at, "exception item '%s': an entry needs 'field' and 'type'", item_name);
        return false;
    }
    out->field = adup(X, field);
    if (op && strcmp(op, "excluded") == 0)
        out->excluded = true;
    else if (op && strcmp(op, "included") != 0) {
        xdiag(X, true, at,
              "exception item '%s': operator must be \"included\" or \"excluded\", "
              "not '%s'",
              item_name, op);
        return false;
    }
    struct xv val = xget(e, "value");
    if (strcmp(type, "match") == 0 || strcmp(type, "wildcard") == 0) {
        out->type = type[0] == 'm' ? EXC_MATCH : EXC_WILDCARD;
        if (!xstr(val)) {
            xdiag(X, true, at, "exception item '%s': a %s entry needs a string 'value'", item_name,
                  type);
            return false;
        }
        out->values = xstrs(X, val, "value", at);
        if (out->type == EXC_MATCH)
            out->kql = terms_query(X, &out->field, 1, &out->values, item_name, at);
        return true;
    }
    if (strcmp(type, "match_any") == 0) {
        out->type = EXC_MATCH_ANY;
        size_t n;
        if (!xarr(val, &n)) {
            xdiag(X, true, at, "exception item '%s': a match_any entry needs an array 'value'",
                  item_name);
            return false;
        }
        out->values = xstrs(X, val, "value", at);
        out->kql = terms_query(X, &out->field, 1, &out->values, item_name, at);
        return true;
    }
    if (strcmp(type, "exists") == 0) {
        out->type = EXC_EXISTS;
        return true;
    }
    if (strcmp(type, "list") == 0) {
        /* an Elastic value list lives in Kibana: kadet cannot see its values */
        out->type = EXC_LIST;
        *unapplied = true;
        return true;
    }
    if (strcmp(type, "nested") == 0 && !in_nested) {
        out->type = EXC_NESTED;
        return build_entries(X, xget(e, "entries"), &out->sub, &out->sub_n, true, item_name,
                             unapplied, at);
    }
    xdiag(X, true, at,
          "exception item '%s': unknown entry type '%s' (match, match_any, exists, "
          "wildcard, list, nested)",
          item_name, type);
    return false;
}

static void build_item(struct xl *X, struct rule_exc_list *l, struct xv item)
{
    const char *id = xstr(xget(item, "item_id"));
    const char *name = xstr(xget(item, "name"));
    const char *shown = name ? name : id ? id : "?";
    struct exc_item *it = add_item(X, l);
    it->id = adup(X, id);
    it->name = adup(X, shown);
    const char *exp = xstr(xget(item, "expire_time"));
    if (exp) {
        int64_t ms;
        bool abs;
        kad_err e;
        kad_err_clear(&e);
        if (rule_parse_datemath(exp, &ms, &abs, &e) != KAD_OK || !abs)
            xdiag(X, true, xget(item, "expire_time"),
                  "exception item '%s': expire_time must be an ISO-8601 time, not '%s'", shown,
                  exp);
        else
            it->expire_ms = ms;
    }
    struct xv os = xget(item, "os_types");
    if (!xnull(os)) {
        static const char *const os_fields[] = {"host.os.type", "host.os.name.caseless"};
        struct rule_strlist types = xstrs(X, os, "os_types", item);
        if (types.n)
            it->os = terms_query(X, os_fields, 2, &types, shown, item);
    }
    bool unapplied = false;
    build_entries(X, xget(item, "entries"), &it->entries, &it->n, false, shown, &unapplied, item);
    if (unapplied) {
        /* Elastic's warning text exactly (getUnprocessedExceptionsWarnings): the item's name;
           the reason, a value list stored in Kibana, is in docs/rules.md */
        xdiag(X, false, item, "The following exceptions won't be applied to rule execution: %s",
              shown);
        it->n = 0; /* an item with no entries never applies (see item_matches) */
    }
}

/* ---- format 1: detection-rules TOML ---------------------------------------------------------- */

static void load_dr_toml(struct xl *X, const struct toml_value *root)
{
    struct xv meta = {toml_get(root, "metadata"), NULL};
    struct rule_strlist ids = xstrs(X, xget(meta, "rule_ids"), "metadata.rule_ids", meta);
    struct rule_strlist names = xstrs(X, xget(meta, "rule_names"), "metadata.rule_names", meta);
    const char *list_name = xstr(xget(meta, "list_name"));
    const struct toml_value *blocks = toml_get(root, "exceptions");
    if (!blocks || blocks->type != TOML_ARRAY || blocks->len == 0) {
        xdiag(X, true, (struct xv){root, NULL},
              "no [[exceptions]] block: not a detection-rules exception file");
        return;
    }
    for (size_t b = 0; b < blocks->len; b++) {
        struct xv blk = {blocks->u.items[b], NULL};
        struct xv cont = xget(blk, "container");
        const char *list_id = xstr(xget(cont, "list_id"));
        if (!list_id) {
            xdiag(X, true, xnull(cont) ? blk : cont,
                  "[[exceptions]] block %zu: missing exceptions.container.list_id", b + 1);
            continue;
        }
        const char *name = xstr(xget(cont, "name"));
        struct rule_exc_list *l = new_list(X, list_id, name ? name : list_name);
        l->rule_ids = ids;
        l->rule_names = names;
        struct xv at = xget(meta, "rule_ids");
        mark_list(X, l, xnull(at) ? xget(meta, "rule_names") : at);
        if (!l->line)
            mark_list(X, l, cont);
        struct xv items = xget(blk, "items");
        size_t n = 0;
        if (!xarr(items, &n) || n == 0)
            xdiag(X, true, blk, "exception list '%s': no [[exceptions.items]]", list_id);
        for (size_t i = 0; i < n; i++)
            build_item(X, l, xat(items, i));
        finish_list(X, l);
    }
}

/* ---- format 3: kadet shorthand TOML ---------------------------------------------------------- */

static void load_value_file(struct xl *X, const char *rel, struct exc_entry *e, struct xv at)
{
    char path[4096];
    const char *slash = strrchr(X->path, '/');
    if (rel[0] == '/' || !slash)
        snprintf(path, sizeof path, "%s", rel);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - X->path), X->path, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        xdiag(X, true, at, "cannot read value list %s: %s", path, strerror(errno));
        return;
    }
    fclose(f);
    size_t before = X->rs->diags.len, len;
    char *text = rs_read_file(X->rs, path, &len);
    if (!text) {
        X->errors += (int)(X->rs->diags.len - before);
        return;
    }
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    e->values.v = kx_arena_alloc(&X->rs->arena, lines * sizeof *e->values.v);
    size_t s = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n')
            continue;
        size_t l = i - s;
        if (l && text[s + l - 1] == '\r')
            l--;
        if (l)
            e->values.v[e->values.n++] = kx_arena_strndup(&X->rs->arena, text + s, l);
        s = i + 1;
    }
    kx_free(text);
    if (e->values.n == 0)
        xdiag(X, false, at, "value list %s is empty", path);
}

static void load_shorthand(struct xl *X, const struct toml_value *root)
{
    const struct toml_value *arr = toml_get(root, "exception");
    for (size_t i = 0; i < arr->len; i++) {
        const struct toml_value *t = arr->u.items[i];
        struct xv x = {t, NULL};
        if (t->type != TOML_TABLE) {
            xdiag(X, true, x, "exception %zu must be a table ([[exception]])", i + 1);
            continue;
        }
        const char *id = xstr(xget(x, "id"));
        if (!id) {
            xdiag(X, true, x, "[[exception]] %zu: missing required key 'id'", i + 1);
            continue;
        }
        struct rule_exc_list *l = new_list(X, NULL, id);
        struct xv rules = xget(x, "rules");
        if (xnull(rules))
            xdiag(X, true, x,
                  "exception '%s': missing required key 'rules' (rule_id values, or "
                  "[\"*\"])",
                  id);
        l->rule_ids = xstrs(X, rules, "rules", x);
        mark_list(X, l, xnull(rules) ? x : rules);
        struct exc_item *it = add_item(X, l);
        it->id = l->name;
        it->name = l->name;
        const struct toml_value *q = toml_get(t, "query");
        const struct toml_value *lists = toml_get(t, "lists");
        size_t nl = lists && lists->type == TOML_ARRAY ? lists->len : 0;
        if (lists && lists->type != TOML_ARRAY)
            xdiag(X, true, (struct xv){lists, NULL},
                  "exception '%s': 'lists' must be an array of { field, file } tables", id);
        if (!q && nl == 0)
            xdiag(X, true, x, "exception '%s': needs a 'query' or 'lists'", id);
        it->entries = kx_arena_zalloc(&X->rs->arena, (nl + 1) * sizeof *it->entries);
        if (q && q->type != TOML_STRING) {
            xdiag(X, true, (struct xv){q, NULL}, "exception '%s': 'query' must be a string", id);
        } else if (q) {
            struct exc_entry *e = &it->entries[it->n++];
            e->type = EXC_KQL;
            e->field = "";
            kad_err ke;
            kad_err_clear(&ke);
            e->kql = kql_compile(&X->rs->arena, q->u.s, q->len, X->path, &ke);
            if (!e->kql) {
                size_t at = rule_kql_err_pos(X->text, X->len, q, &ke);
                rs_diag(X->rs, true, X->path, X->text, X->len, at, "exception '%s': query: %s", id,
                        ke.msg);
                X->errors++;
            }
        }
        for (size_t k = 0; k < nl; k++) {
            struct xv lv = {lists->u.items[k], NULL};
            const char *field = xstr(xget(lv, "field")), *file = xstr(xget(lv, "file"));
            if (!field || !file) {
                xdiag(X, true, lv, "exception '%s': each of 'lists' needs 'field' and 'file'", id);
                continue;
            }
            struct exc_entry *e = &it->entries[it->n++];
            e->type = EXC_LIST;
            e->field = adup(X, field);
            load_value_file(X, file, e, lv);
        }
        const struct toml_value *exp = toml_get(t, "expires");
        if (exp && exp->type == TOML_DATETIME) {
            it->expire_ms = toml_datetime_epoch_ms(exp);
        } else if (exp && exp->type == TOML_STRING) {
            int64_t ms;
            bool abs;
            if (rule_parse_datemath(exp->u.s, &ms, &abs, NULL) == KAD_OK && abs)
                it->expire_ms = ms;
            else
                xdiag(X, true, (struct xv){exp, NULL},
                      "exception '%s': expires must be a date-time such as 2027-03-01T00:00:00Z",
                      id);
        } else if (exp) {
            xdiag(X, true, (struct xv){exp, NULL},
                  "exception '%s': expires must be an offset date-time such as "
                  "2027-03-01T00:00:00Z",
                  id);
        }
        static const char *const known[] = {"id",    "rules",   "description", "query",
                                            "lists", "expires", NULL};
        for (size_t m = 0; m < t->len; m++) {
            bool k = false;
            for (size_t z = 0; known[z]; z++)
                k |= strcmp(known[z], t->u.members[m].key) == 0;
            if (!k)
                rs_diag(X->rs, false, X->path, X->text, X->len, t->u.members[m].offset,
                        "exception '%s': unknown key '%s' (ignored)", id, t->u.members[m].key);
        }
        finish_list(X, l);
    }
}

/* ---- format 2: Kibana NDJSON export ---------------------------------------------------------- */

static struct rule_exc_list *find_list(struct rule_set *rs, const char *path, const char *id)
{
    for (size_t i = 0; i < rs->lists.len; i++) {
        struct rule_exc_list *l = rs->lists.ptr[i];
        if (l->list_id && strcmp(l->list_id, id) == 0 && strcmp(l->path, path) == 0)
            return l;
    }
    return NULL;
}

static void load_ndjson(struct xl *X, const char *text, size_t len)
{
    size_t first = X->rs->lists.len;
    size_t s = 0;
    X->line = 0;
    while (s < len) {
        size_t e = s;
        while (e < len && text[e] != '\n')
            e++;
        X->line++;
        kx_str line = kx_str_trim((kx_str){text + s, e - s});
        s = e + 1;
        if (line.len == 0)
            continue;
        kx_arena a;
        kx_arena_init(&a, 4096, 64u << 20);
        kad_err err;
        kad_err_clear(&err);
        struct ev_node *doc = ev_json_parse(&a, line.ptr, line.len, X->path, &err);
        struct xv d = {NULL, doc};
        if (!doc || doc->type != EV_OBJECT) {
            xdiag(X, true, d, "not a JSON object: %s", doc ? "wrong type" : err.msg);
        } else if (!xnull(xget(d, "exported_exception_list_count")) ||
                   !xnull(xget(d, "exported_count"))) {
            /* the export summary line */
        } else if (xstr(xget(d, "item_id"))) {
            const char *lid = xstr(xget(d, "list_id"));
            if (!lid) {
                xdiag(X, true, d, "exception item without a list_id");
            } else {
                struct rule_exc_list *l = find_list(X->rs, X->path, lid);
                if (!l)
                    l = new_list(X, lid, NULL);
                build_item(X, l, d);
            }
        } else if (xstr(xget(d, "list_id"))) {
            const char *lid = xstr(xget(d, "list_id"));
            struct rule_exc_list *l = find_list(X->rs, X->path, lid);
            if (!l)
                new_list(X, lid, xstr(xget(d, "name")));
            else if (xstr(xget(d, "name")))
                l->name = adup(X, xstr(xget(d, "name")));
        } else {
            xdiag(X, false, d, "not an exception list, item or export summary (ignored)");
        }
        kx_arena_fini(&a);
    }
    for (size_t i = first; i < X->rs->lists.len; i++)
        finish_list(X, X->rs->lists.ptr[i]);
}

void rule_exc_load_text(struct rule_set *rs, const char *path, const char *text, size_t len)
{
    struct xl X = {.rs = rs, .path = path};
    kx_str t = kx_str_trim((kx_str){text, len});
    if (t.len && t.ptr[0] == '{') {
        load_ndjson(&X, text, len);
        kx_lines_forget(&rs->lines); /* the text is the caller's and goes away */
        return;
    }
    X.text = text;
    X.len = len;
    kx_arena scratch;
    kx_arena_init(&scratch, 16 * 1024, 16 * RULE_MAX_FILE);
    kad_err e;
    kad_err_clear(&e);
    const struct toml_value *root = toml_parse(&scratch, text, len, path, &e);
    if (!root)
        rs_diag_err(rs, true, &e);
    else if (toml_get(root, "exception") && toml_get(root, "exception")->type == TOML_ARRAY)
        load_shorthand(&X, root);
    else if (toml_get(root, "exceptions"))
        load_dr_toml(&X, root);
    else
        rs_diag(rs, true, path, text, len, 0,
                "not an exceptions file: expected [[exception]] (kadet) or [[exceptions]] "
                "(detection-rules), or a Kibana NDJSON export");
    kx_arena_fini(&scratch);
    kx_lines_forget(&rs->lines);
}

/* ---- attaching lists to rules ---------------------------------------------------------------- */

static bool strlist_has(const struct rule_strlist *l, const char *s)
{
    for (size_t i = 0; s && i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

void rule_exc_attach(struct rule_set *rs)
{
    for (size_t i = 0; i < rs->rules.len; i++) {
        struct rule *r = rs->rules.ptr[i];
        const struct rule_exc_list **v = NULL;
        size_t n = 0;
        for (size_t k = 0; k < rs->lists.len; k++) {
            const struct rule_exc_list *l = rs->lists.ptr[k];
            bool on = (l->list_id && strlist_has(&r->exceptions_list, l->list_id)) ||
                      strlist_has(&l->rule_ids, r->rule_id) || strlist_has(&l->rule_ids, "*") ||
                      strlist_has(&l->rule_names, r->name);
            if (!on)
                continue;
            if (!v)
                v = kx_arena_alloc(&rs->arena, rs->lists.len * sizeof *v);
            v[n++] = l;
        }
        r->exc = v;
        r->exc_n = n;
    }
}

/* ---- matching -------------------------------------------------------------------------------- */

/* Byte length of the UTF-8 character at s (n > 0 bytes left). */
static size_t u8len(const char *s, size_t n)
{
    size_t k = 1;
    while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
        k++;
    return k;
}

/* The token of an Elasticsearch (Lucene) wildcard pattern at p[i]: '*' (1), '?' (2) or a
 * literal character (0: its bytes in *lit, *ln); `\\` makes the next character literal (a
 * trailing `\\` is itself). *adv is the number of pattern bytes the token takes. */
static int wild_tok(const char *p, size_t pn, size_t i, const char **lit, size_t *ln, size_t *adv)
{
    if (p[i] == '*' || p[i] == '?') {
        *adv = 1;
        return p[i] == '*' ? 1 : 2;
    }
    size_t s = p[i] == '\\' && i + 1 < pn ? i + 1 : i;
    *lit = p + s;
    *ln = u8len(p + s, pn - s);
    *adv = s - i + *ln;
    return 0;
}

/* Elastic's wildcard: '*' any sequence, '?' one character, '\\' escapes; anchored,
 * case-sensitive, by characters. Greedy with backtracking to the last '*' (linear memory,
 * O(len(p) * len(s)) time). */
static bool wild_match(const char *p, size_t pn, const char *s, size_t sn)
{
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < sn) {
        const char *lit = NULL;
        size_t ln = 0, adv = 0, cl = u8len(s + si, sn - si);
        int t = pi < pn ? wild_tok(p, pn, pi, &lit, &ln, &adv) : -1;
        if (t == 1) {
            pi += adv;
            star_p = pi;
            star_s = si;
        } else if (t == 2 || (t == 0 && ln == cl && memcmp(lit, s + si, cl) == 0)) {
            pi += adv;
            si += cl;
        } else if (star_p != SIZE_MAX) {
            pi = star_p;
            star_s += u8len(s + star_s, sn - star_s);
            si = star_s;
        } else {
            return false;
        }
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

struct mctx {
    const struct exc_entry *e;
    bool hit;
};

static bool leaf_text(const struct ev_node *v, const char **s, size_t *n)
{
    switch (v->type) {
    case EV_STRING:
    case EV_NUMBER: *s = v->str, *n = v->len; return true;
    case EV_TRUE: *s = "true", *n = 4; return true;
    case EV_FALSE: *s = "false", *n = 5; return true;
    default: return false;
    }
}

static bool visit(const struct ev_node *v, bool partial, void *ctx)
{
    struct mctx *m = ctx;
    const struct exc_entry *e = m->e;
    if (e->type == EXC_EXISTS) {
        m->hit = partial ? ev_has_value(v) : (v->type != EV_OBJECT || ev_has_value(v));
        return m->hit;
    }
    const char *s;
    size_t n;
    if (partial || !leaf_text(v, &s, &n))
        return false;
    if (e->type == EXC_WILDCARD && v->type != EV_STRING)
        return false; /* numbers and booleans never match a wildcard (kql.md 5.3) */
    for (size_t i = 0; i < e->values.n && !m->hit; i++) {
        const char *x = e->values.v[i];
        size_t xl = strlen(x);
        if (e->type == EXC_WILDCARD)
            m->hit = wild_match(x, xl, s, n);
        else
            m->hit = xl == n && memcmp(x, s, n) == 0;
    }
    return m->hit;
}

static bool entry_matches(const struct exc_entry *e, const struct ev_node *doc);

struct nctx {
    const struct exc_entry *e;
    bool hit;
};

static bool visit_nested(const struct ev_node *v, bool partial, void *ctx)
{
    struct nctx *c = ctx;
    if (partial || v->type != EV_OBJECT)
        return false;
    bool all = true;
    for (size_t i = 0; i < c->e->sub_n && all; i++)
        all = entry_matches(&c->e->sub[i], v);
    c->hit = all;
    return all;
}

static bool entry_matches(const struct exc_entry *e, const struct ev_node *doc)
{
    bool hit;
    if (e->type == EXC_KQL || e->type == EXC_MATCH || e->type == EXC_MATCH_ANY) {
        hit = e->kql && kql_match(e->kql, doc);
    } else if (e->type == EXC_NESTED) {
        struct nctx c = {e, false};
        ev_values(doc, e->field, strlen(e->field), visit_nested, &c);
        hit = c.hit;
    } else {
        struct mctx m = {e, false};
        ev_values(doc, e->field, strlen(e->field), visit, &m);
        hit = m.hit;
    }
    return e->excluded ? !hit : hit;
}

static bool item_matches(const struct exc_item *it, const struct ev_node *doc, int64_t ts_ms)
{
    if (it->n == 0 || ts_ms >= it->expire_ms)
        return false;
    if (it->os && !kql_match(it->os, doc))
        return false;
    for (size_t i = 0; i < it->n; i++)
        if (!entry_matches(&it->entries[i], doc))
            return false;
    return true;
}

bool rule_excepted(const struct rule_set *rs, const struct rule *r, const struct ev_node *doc,
                   int64_t ts_ms)
{
    (void)rs;
    for (size_t i = 0; i < r->exc_n; i++) {
        const struct rule_exc_list *l = r->exc[i];
        for (size_t k = 0; k < l->n; k++)
            if (item_matches(&l->items[k], doc, ts_ms))
                return true;
    }
    return false;
}
