/*
 * preview_input.c - turning one ECS document into what preview needs for one rule: its event
 * time with the rule's timestamp override and fallback (docs/preview.md, "Event time"), its
 * @timestamp, and whether it passes the rule's query and exceptions (§1.4, §4.3).
 *
 * It reads no input and keeps nothing: the caller owns the documents and the pv_doc array.
 */
#include "detect/detect.h"

#include "base/alloc.h"
#include "kql/kql.h"

#include <stdlib.h>
#include <string.h>

/* A date field's value as epoch ms: an RFC 3339 string or a number of epoch milliseconds. */
int64_t pv_field_time(const struct ev_node *doc, const char *path)
{
    const struct ev_node *s = ev_first(doc, path, EV_STRING);
    int64_t ms;
    if (s && det_parse_time(s->str, s->len, &ms))
        return ms;
    const struct ev_node *n = ev_first(doc, path, EV_NUMBER);
    if (n) {
        char buf[40];
        if (n->len < sizeof(buf)) {
            memcpy(buf, n->str, n->len);
            buf[n->len] = 0;
            char *end;
            double d = strtod(buf, &end);
            if (*end == 0 && d > -9.2e18 && d < 9.2e18)
                return (int64_t)d;
        }
    }
    return EV_TIME_NONE;
}

void pv_doc_prepare(const struct rule_set *rs, const struct rule *r, const struct ev_node *doc,
                    const char *id, struct pv_doc *out)
{
    memset(out, 0, sizeof(*out));
    out->doc = doc;
    out->id = id;
    out->timestamp = pv_field_time(doc, "@timestamp");
    out->ts = out->timestamp;
    const char *ov = r->timestamp_override;
    if (ov && strcmp(ov, "@timestamp") != 0) {
        int64_t t = pv_field_time(doc, ov);
        if (t != EV_TIME_NONE) {
            out->ts = t;
            out->has_override = true;
        } else if (r->timestamp_override_fallback_disabled) {
            out->ts = EV_TIME_NONE; /* excluded from every range */
        }
    } else if (ov) {
        out->has_override = out->ts != EV_TIME_NONE;
    }
    /* a sequence's stages and an ES|QL query are evaluated per execution (preview.c);
       exceptions apply to every document before the query (eql.md §10.1, esql.md §7.6) */
    out->eligible =
        (pv_needs_every_doc(r) || det_rule_match(r, doc)) && !rule_excepted(rs, r, doc, out->ts);
}

static struct ev_node *copy_node(kx_arena *a, const struct ev_node *n)
{
    struct ev_node *c = kx_arena_alloc(a, sizeof(*c));
    if (!c)
        return NULL;
    *c = *n;
    c->next = NULL;
    c->child = NULL;
    if (n->key && !(c->key = kx_arena_strndup(a, n->key, n->klen)))
        return NULL;
    if (n->str && !(c->str = kx_arena_strndup(a, n->str, n->len)))
        return NULL;
    struct ev_node **tail = &c->child;
    for (const struct ev_node *k = n->child; k; k = k->next) {
        if (!(*tail = copy_node(a, k)))
            return NULL;
        tail = &(*tail)->next;
    }
    return c;
}

struct ev_node *pv_doc_copy(kx_arena *a, const struct ev_node *doc)
{
    return doc ? copy_node(a, doc) : NULL;
}

/* ---- pv_clone: one document and its id in one block, shared by the streams that hold it ---- */

struct pv_clone {
    uint32_t refs;
    const struct ev_node *doc;
    const char *id;
};

#define CLONE_ALIGN(n) (((n) + 7) & ~(size_t)7)

static size_t tree_size(const struct ev_node *n)
{
    size_t s = CLONE_ALIGN(sizeof(*n));
    if (n->key)
        s += CLONE_ALIGN((size_t)n->klen + 1);
    if (n->str)
        s += CLONE_ALIGN((size_t)n->len + 1);
    for (const struct ev_node *k = n->child; k; k = k->next)
        s += tree_size(k);
    return s;
}

static char *put_str(char **p, const char *s, size_t n)
{
    char *d = *p;
    memcpy(d, s, n);
    d[n] = 0;
    *p += CLONE_ALIGN(n + 1);
    return d;
}

static struct ev_node *tree_copy(char **p, const struct ev_node *n)
{
    struct ev_node *c = (struct ev_node *)(void *)*p;
    *p += CLONE_ALIGN(sizeof(*c));
    *c = *n;
    c->next = NULL;
    c->child = NULL;
    if (n->key)
        c->key = put_str(p, n->key, n->klen);
    if (n->str)
        c->str = put_str(p, n->str, n->len);
    struct ev_node **tail = &c->child;
    for (const struct ev_node *k = n->child; k; k = k->next) {
        *tail = tree_copy(p, k);
        tail = &(*tail)->next;
    }
    return c;
}

struct pv_clone *pv_clone_new(const struct ev_node *doc, const char *id)
{
    size_t idlen = strlen(id);
    size_t size = CLONE_ALIGN(sizeof(struct pv_clone)) + tree_size(doc) + CLONE_ALIGN(idlen + 1);
    struct pv_clone *c = kx_malloc(size);
    if (!c)
        return NULL;
    char *p = (char *)c + CLONE_ALIGN(sizeof(*c));
    c->refs = 1;
    c->doc = tree_copy(&p, doc);
    c->id = put_str(&p, id, idlen);
    return c;
}

const struct ev_node *pv_clone_doc(const struct pv_clone *c) { return c->doc; }

const char *pv_clone_id(const struct pv_clone *c) { return c->id; }

void pv_clone_ref(struct pv_clone *c) { c->refs++; }

void pv_clone_unref(struct pv_clone *c)
{
    if (c && --c->refs == 0)
        kx_free(c);
}
