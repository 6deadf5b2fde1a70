/*
 * event_values.c - field lookup by dotted path over an ev_node tree (docs/internals/kql.md
 * §5.1), plus small accessors used by the decoders.
 *
 * A path is split only where the document's keys allow it: at an object, a key equal to the
 * whole remaining path yields its value, a key that is a dot-delimited prefix of the path is
 * descended into, and a key that extends the path past a dot marks a "partial" hit (exists
 * only). Arrays are transparent at every level. Nothing here allocates.
 */
#include "event/event.h"

#include <string.h>

/* Emit v flattened: arrays give their elements (recursively), null gives nothing. */
static bool emit(const struct ev_node *v, bool partial, ev_visit_fn fn, void *ctx)
{
    if (v->type == EV_NULL)
        return false;
    if (v->type == EV_ARRAY) {
        for (const struct ev_node *c = v->child; c; c = c->next)
            if (emit(c, partial, fn, ctx))
                return true;
        return false;
    }
    return fn(v, partial, ctx);
}

static bool walk(const struct ev_node *n, const char *path, size_t len, ev_visit_fn fn, void *ctx)
{
    if (n->type == EV_ARRAY) {
        for (const struct ev_node *c = n->child; c; c = c->next)
            if (walk(c, path, len, fn, ctx))
                return true;
        return false;
    }
    if (n->type != EV_OBJECT)
        return false;
    for (const struct ev_node *m = n->child; m; m = m->next) {
        size_t k = m->klen;
        /* lengths reject most members without reading the key; then the first byte is
           compared inline before memcmp (a call) */
        if (k == len) {
            if ((!k || m->key[0] == path[0]) && memcmp(m->key, path, len) == 0 &&
                emit(m, false, fn, ctx))
                return true;
        } else if (k < len) {
            if (path[k] == '.' && (!k || m->key[0] == path[0]) && memcmp(m->key, path, k) == 0 &&
                walk(m, path + k + 1, len - k - 1, fn, ctx))
                return true;
        } else if (m->key[len] == '.' && (!len || m->key[0] == path[0]) &&
                   memcmp(m->key, path, len) == 0) {
            if (emit(m, true, fn, ctx))
                return true;
        }
    }
    return false;
}

bool ev_values(const struct ev_node *root, const char *path, size_t len, ev_visit_fn fn, void *ctx)
{
    if (!root || !path)
        return false;
    return walk(root, path, len, fn, ctx);
}

/* ---- memo ----------------------------------------------------------------------------------- */

void ev_memo_reset(struct ev_memo *m, const struct ev_node *root)
{
    m->root = root;
    m->npaths = m->nvals = 0;
    m->busy = false;
}

struct rec_ctx {
    struct ev_memo *m;
    ev_visit_fn fn;
    void *ctx;
    bool stopped;  /* the caller's visitor asked to stop: later visits are recorded only */
    bool overflow; /* more values than the memo holds: not kept */
};

static bool record(const struct ev_node *v, bool partial, void *ctx)
{
    struct rec_ctx *r = ctx;
    if (!r->overflow) {
        if (r->m->nvals == EV_MEMO_VALS) {
            r->overflow = true;
        } else {
            r->m->v[r->m->nvals].v = v;
            r->m->v[r->m->nvals].partial = partial;
            r->m->nvals++;
        }
    }
    if (!r->stopped && r->fn(v, partial, r->ctx))
        r->stopped = true;
    /* walk on to complete the record (a later reader may want every value); without room
       there is nothing more to gain */
    return r->stopped && r->overflow;
}

bool ev_values_memo_(struct ev_memo *m, const struct ev_node *root, const char *path, size_t len,
                     ev_visit_fn fn, void *ctx)
{
    if (!m || !root || root != m->root || !path || m->busy || len > UINT32_MAX)
        return ev_values(root, path, len, fn, ctx);
    for (uint32_t i = 0; i < m->npaths; i++) {
        if (m->p[i].len != len || (m->p[i].path != path && memcmp(m->p[i].path, path, len) != 0))
            continue;
        for (uint32_t k = m->p[i].first, e = k + m->p[i].n; k < e; k++)
            if (fn(m->v[k].v, m->v[k].partial, ctx))
                return true;
        return false;
    }
    if (m->npaths == EV_MEMO_PATHS)
        return ev_values(root, path, len, fn, ctx);
    uint32_t first = m->nvals;
    struct rec_ctx r = {m, fn, ctx, false, false};
    m->busy = true; /* a visitor's own lookups go around the memo */
    walk(root, path, len, record, &r);
    m->busy = false;
    if (r.overflow) {
        m->nvals = first; /* too many values: this path is walked every time */
    } else {
        m->p[m->npaths].path = path; /* kept, not copied (see event.h) */
        m->p[m->npaths].len = (uint32_t)len;
        m->p[m->npaths].first = first;
        m->p[m->npaths].n = m->nvals - first;
        m->npaths++;
    }
    return r.stopped;
}

bool ev_has_value(const struct ev_node *v)
{
    switch (v->type) {
    case EV_NULL: return false;
    case EV_ARRAY:
    case EV_OBJECT:
        for (const struct ev_node *c = v->child; c; c = c->next)
            if (ev_has_value(c))
                return true;
        return false;
    default: return true;
    }
}

const struct ev_node *ev_member(const struct ev_node *obj, const char *key, size_t klen)
{
    if (!obj || obj->type != EV_OBJECT)
        return NULL;
    for (const struct ev_node *m = obj->child; m; m = m->next)
        if (m->klen == klen && (klen == 0 || m->key[0] == key[0]) && memcmp(m->key, key, klen) == 0)
            return m;
    return NULL;
}

struct first_ctx {
    const struct ev_node *found;
    uint8_t want;
};

static bool first_visit(const struct ev_node *v, bool partial, void *ctx)
{
    struct first_ctx *f = ctx;
    if (partial || v->type != f->want)
        return false;
    f->found = v;
    return true;
}

const struct ev_node *ev_first(const struct ev_node *root, const char *path, uint8_t type)
{
    struct first_ctx f = {NULL, type};
    ev_values(root, path, strlen(path), first_visit, &f);
    return f.found;
}

kx_str ev_first_str(const struct ev_node *root, const char *path)
{
    const struct ev_node *n = ev_first(root, path, EV_STRING);
    return n ? (kx_str){n->str, n->len} : (kx_str){NULL, 0};
}
