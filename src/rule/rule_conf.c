/*
 * rule_conf.c - configuration documents (kad_conf_parse in include/kad.h) through the TOML
 * reader of the rules module: the document is parsed into a scratch arena and every setting is
 * handed to the caller as a flat kad_conf_item (top level, [table] and [[array of tables]]).
 */
#include "base/alloc.h"
#include "base/err.h"
#include "rule_int.h"

#include <string.h>

#define CONF_MAX_STRS 1024

struct walk {
    const char *text;
    size_t len;
    int (*fn)(const kad_conf_item *it, void *ud, kad_err *err);
    void *ud;
    kad_err *err;
    const char *strs[CONF_MAX_STRS];
};

static int one(struct walk *w, const char *table, size_t index, const struct toml_member *m)
{
    const struct toml_value *v = m->val;
    kad_conf_item it;
    memset(&it, 0, sizeof(it));
    it.table = table;
    it.index = index;
    it.key = m->key;
    it.type_name = toml_type_name(v->type);
    kx_locate(w->text, w->len, m->offset, &it.line, &it.col);
    switch (v->type) {
    case TOML_STRING:
        it.type = KAD_CONF_STRING;
        it.str = v->u.s;
        break;
    case TOML_INTEGER:
        it.type = KAD_CONF_INT;
        it.num = v->u.i;
        break;
    case TOML_BOOL:
        it.type = KAD_CONF_BOOL;
        it.num = v->u.b ? 1 : 0;
        break;
    case TOML_ARRAY: {
        it.type = KAD_CONF_STRINGS;
        if (v->len > CONF_MAX_STRS) {
            it.type = KAD_CONF_OTHER;
            break;
        }
        for (size_t i = 0; i < v->len; i++) {
            if (v->u.items[i]->type != TOML_STRING) {
                it.type = KAD_CONF_OTHER;
                break;
            }
            w->strs[i] = v->u.items[i]->u.s;
        }
        it.strs = w->strs;
        it.nstrs = v->len;
        break;
    }
    default: it.type = KAD_CONF_OTHER; break;
    }
    return w->fn(&it, w->ud, w->err);
}

/* Whether v is an array whose every item is a table (an array of tables). */
static bool table_array(const struct toml_value *v)
{
    if (v->type != TOML_ARRAY || v->len == 0)
        return false;
    for (size_t i = 0; i < v->len; i++)
        if (v->u.items[i]->type != TOML_TABLE)
            return false;
    return true;
}

static int members(struct walk *w, const char *table, size_t index, const struct toml_value *t)
{
    for (size_t i = 0; i < t->len; i++) {
        int rc = one(w, table, index, &t->u.members[i]);
        if (rc != KAD_OK)
            return rc;
    }
    return KAD_OK;
}

int rule_conf_walk(const char *text, size_t len, const char *origin,
                   int (*fn)(const kad_conf_item *it, void *ud, kad_err *err), void *ud,
                   kad_err *err)
{
    kx_arena scratch;
    kx_arena_init(&scratch, 16 * 1024, 16 * RULE_MAX_FILE);
    const struct toml_value *root = toml_parse(&scratch, text, len, origin, err);
    if (!root) {
        kx_arena_fini(&scratch);
        return err ? err->code : KAD_ESYNTAX;
    }
    struct walk *w = kx_malloc(sizeof(*w));
    if (!w) {
        kx_arena_fini(&scratch);
        return kx_err_setf(err, KAD_ENOMEM, "%s: out of memory", origin);
    }
    w->text = text;
    w->len = len;
    w->fn = fn;
    w->ud = ud;
    w->err = err;
    int rc = KAD_OK;
    for (size_t i = 0; i < root->len && rc == KAD_OK; i++) {
        const struct toml_member *m = &root->u.members[i];
        const struct toml_value *v = m->val;
        if (v->type == TOML_TABLE)
            rc = members(w, m->key, 0, v);
        else if (table_array(v))
            for (size_t k = 0; k < v->len && rc == KAD_OK; k++)
                rc = members(w, m->key, k, v->u.items[k]);
        else
            rc = one(w, NULL, 0, m);
    }
    kx_free(w);
    kx_arena_fini(&scratch);
    return rc;
}
