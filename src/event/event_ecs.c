/*
 * event_ecs.c - raw Kubernetes audit event -> the ECS document Elastic's Kubernetes integration
 * stores (data stream kubernetes.audit_logs), plus format detection and host metadata.
 *
 * The mapping follows the ingest pipeline processor by processor (ecs-mapping.md)
 * and adds what Elastic Agent adds on the way (§1.2): data_stream.*, event.dataset, host.*,
 * and @timestamp/event.ingested per semantics.md, "Time and state". Where we deliberately differ
 * (pipeline errors, ingest-time artefacts) is listed in docs/internals/ecs-mapping.md.
 *
 * It works in place on a tree in the per-event arena: the raw object becomes
 * kubernetes.audit, ECS fields are new nodes or shallow clones of raw ones. It works the same on
 * a full tree and on the extractor's partial tree, which is what keeps the fast path's answers
 * equal to the full decode's. It does not parse records or read input (event_decode.c).
 */
#include "event/event.h"

#include "base/err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

/* ---- small tree builders ------------------------------------------------------------------- */

struct eb {
    kx_arena *a;
    bool oom;
    struct ev_node *blk, *blk_end; /* nodes are bumped from blocks of the arena */
    struct ev_node dummy; /* handed out after an allocation failure; the doc is discarded */
};

static inline struct ev_node *mk(struct eb *b, uint8_t type)
{
    if (b->blk == b->blk_end) { /* a call per 64 nodes instead of one per node */
        size_t cnt = 64;
        struct ev_node *nb = kx_arena_alloc(b->a, cnt * sizeof(*nb));
        if (!nb) { /* near the arena's maximum */
            cnt = 1;
            nb = kx_arena_alloc(b->a, sizeof(*nb));
        }
        b->blk = nb;
        b->blk_end = nb ? nb + cnt : NULL;
    }
    struct ev_node *n = b->blk ? b->blk++ : NULL;
    if (n)
        memset(n, 0, sizeof(*n));
    if (!n) {
        b->oom = true;
        memset(&b->dummy, 0, sizeof(b->dummy));
        return &b->dummy;
    }
    n->type = type;
    return n;
}

static inline struct ev_node *mk_str(struct eb *b, const char *s, size_t n)
{
    struct ev_node *v = mk(b, EV_STRING);
    v->str = s;
    v->len = (uint32_t)n;
    return v;
}

static inline struct ev_node *clone(struct eb *b, const struct ev_node *src)
{
    struct ev_node *n = mk(b, src->type);
    if (b->oom)
        return n;
    *n = *src;
    n->key = NULL;
    n->klen = 0;
    n->next = NULL;
    return n;
}

static struct ev_node *member(const struct ev_node *obj, const char *key)
{
    return (struct ev_node *)ev_member(obj, key, strlen(key));
}

/*
 * The first value, in document order, at keys path[0..n) walking only through objects. Used
 * wherever the mapping reads below the top level: with duplicate keys ("user":"x",
 * "user":{...}) it gives the same answer on the full tree and on the extractor's partial tree,
 * which keeps, in order, exactly the members that lie on the needed paths.
 */
static struct ev_node *dig_from(const struct ev_node *first, const char *const *path, size_t n);

static struct ev_node *dig(const struct ev_node *obj, const char *const *path, size_t n)
{
    return dig_from(obj && obj->type == EV_OBJECT ? obj->child : NULL, path, n);
}

/* Same, scanning the members from `first` on (the first occurrence, from the index). */
static struct ev_node *dig_from(const struct ev_node *first, const char *const *path, size_t n)
{
    size_t kl = strlen(path[0]);
    for (const struct ev_node *m = first; m; m = m->next) {
        if (m->klen != kl || memcmp(m->key, path[0], kl) != 0)
            continue;
        if (n == 1)
            return (struct ev_node *)m;
        struct ev_node *v = dig(m, path + 1, n - 1);
        if (v)
            return v;
    }
    return NULL;
}

/* DIG(first, k0, k1, ...): dig_from the first occurrence of k0 (from the field index). */
#define DIG(first, ...)                                                                            \
    dig_from((first), (const char *const[]){__VA_ARGS__},                                          \
             sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* Append value v under key (a string that outlives the doc: literal or arena). */
static inline void put(struct eb *b, struct ev_node *obj, const char *key, struct ev_node *v)
{
    if (b->oom)
        return;
    v->key = key;
    v->klen = (uint32_t)strlen(key);
    v->next = NULL;
    struct ev_node **t = &obj->child;
    while (*t)
        t = &(*t)->next;
    *t = v;
    obj->len++;
}

/* An array being built element by element: appends in O(1) (put() walks to the tail, which
   made one event with 349k sourceIPs take minutes). */
struct arr_builder {
    struct ev_node *arr;
    struct ev_node **tail;
};

static void arr_init(struct eb *b, struct arr_builder *ab)
{
    ab->arr = mk(b, EV_ARRAY);
    ab->tail = &ab->arr->child;
}

static void arr_push(struct eb *b, struct arr_builder *ab, struct ev_node *v)
{
    if (b->oom)
        return;
    v->key = NULL;
    v->klen = 0;
    v->next = NULL;
    *ab->tail = v;
    ab->tail = &v->next;
    ab->arr->len++;
}

static void put_front(struct eb *b, struct ev_node *obj, const char *key, struct ev_node *v)
{
    if (b->oom)
        return;
    v->key = key;
    v->klen = (uint32_t)strlen(key);
    v->next = obj->child;
    obj->child = v;
    obj->len++;
}

/* A new empty object appended to obj under key (no lookup: the caller knows it is new). */
static struct ev_node *new_obj(struct eb *b, struct ev_node *obj, const char *key)
{
    struct ev_node *m = mk(b, EV_OBJECT);
    put(b, obj, key, m);
    return m;
}

/* Member object `key` of obj, created (appended) when missing. */
static struct ev_node *obj_at(struct eb *b, struct ev_node *obj, const char *key)
{
    struct ev_node *m = member(obj, key);
    if (m && m->type == EV_OBJECT)
        return m;
    m = mk(b, EV_OBJECT);
    put(b, obj, key, m);
    return m;
}

/* Unlink member `m` from obj. */
static void unlink_member(struct ev_node *obj, struct ev_node *m)
{
    for (struct ev_node **t = &obj->child; *t; t = &(*t)->next) {
        if (*t == m) {
            *t = m->next;
            obj->len--;
            return;
        }
    }
}

/* Rename obj.from to to (Elastic rename: skipped when `to` already exists). */
static void rename_key(struct ev_node *obj, const char *from, const char *to)
{
    struct ev_node *m = member(obj, from);
    if (!m || member(obj, to))
        return;
    m->key = to;
    m->klen = (uint32_t)strlen(to);
}

/* What an Elastic `set copy_from` with ignore_empty_value copies: any value but null and ""
   (numbers, booleans, objects and arrays too). */
static bool copyable(const struct ev_node *v)
{
    return v && v->type != EV_NULL && !(v->type == EV_STRING && v->len == 0);
}

/* Elastic `set copy_from` with ignore_empty_value: copy when present and not "" / null. */
static inline void copy_to(struct eb *b, struct ev_node *obj, const char *key,
                           const struct ev_node *v)
{
    if (!copyable(v))
        return;
    put(b, obj, key, clone(b, v));
}

/* ---- format detection ---------------------------------------------------------------------- */

const char *ev_format_name(int fmt)
{
    switch (fmt) {
    case EV_FMT_K8S: return "k8s";
    case EV_FMT_GKE: return "gke";
    case EV_FMT_AKS: return "aks";
    case EV_FMT_ECS: return "ecs";
    case EV_FMT_LIST: return "list";
    default: return "unknown";
    }
}

static bool str_is(const struct ev_node *n, const char *s)
{
    return n && n->type == EV_STRING && n->len == strlen(s) && memcmp(n->str, s, n->len) == 0;
}

static bool key_is(const struct ev_node *m, const char *k, size_t n)
{
    return m->klen == n && memcmp(m->key, k, n) == 0;
}

int ev_detect(const struct ev_node *root)
{
    if (!root)
        return EV_FMT_UNKNOWN;
    if (root->type == EV_ARRAY)
        return EV_FMT_LIST;
    if (root->type != EV_OBJECT)
        return EV_FMT_UNKNOWN;
    /* one pass over the members (this runs for every event) */
    const struct ev_node *kind = NULL, *av = NULL;
    bool items = false, proto = false, ecs = false, audit_id = false;
    unsigned aks = 0;
    for (const struct ev_node *m = root->child; m; m = m->next) {
        switch (m->klen ? m->key[0] : 0) {
        case 'k':
            if (!kind && key_is(m, "kind", 4))
                kind = m;
            else if (m->klen >= 10 && memcmp(m->key, "kubernetes", 10) == 0 &&
                     (m->klen == 10 || m->key[10] == '.'))
                ecs = true;
            break;
        case 'a':
            if (!av && key_is(m, "apiVersion", 10))
                av = m;
            else if (key_is(m, "auditID", 7))
                audit_id = true;
            break;
        case 'i': items |= key_is(m, "items", 5); break;
        case 'p': proto |= key_is(m, "protoPayload", 12); break;
        case 'c': aks |= key_is(m, "category", 8) ? 1u : 0u; break;
        case 'o': aks |= key_is(m, "operationName", 13) ? 2u : 0u; break;
        case 'r': aks |= key_is(m, "resourceId", 10) ? 4u : 0u; break;
        case 't': aks |= key_is(m, "time", 4) ? 8u : 0u; break;
        default: break;
        }
    }
    if (str_is(kind, "EventList") && items)
        return EV_FMT_LIST;
    if (aks == 15)
        return EV_FMT_AKS;
    if (proto)
        return EV_FMT_GKE;
    if (ecs)
        return EV_FMT_ECS;
    if (str_is(kind, "Event") || audit_id)
        return EV_FMT_K8S;
    if (av && av->type == EV_STRING && av->len > 13 && memcmp(av->str, "audit.k8s.io/", 13) == 0)
        return EV_FMT_K8S;
    return EV_FMT_UNKNOWN;
}

/* ---- one-pass index of the raw event's members ------------------------------------------ */

enum {
    F_KIND,
    F_APIVERSION,
    F_AUDITID,
    F_STAGE,
    F_STS,
    F_RRTS,
    F_TS,
    F_INSERTID,
    F_RECVTS,
    F_LABELS,
    F_ANN,
    F_PP,
    F_RS,
    F_VERB,
    F_UA,
    F_IPS,
    F_RESOURCE,
    F_USER,
    F_OBJREF,
    F_N
};

#define KEQ(lit) (memcmp(k, lit, sizeof(lit) - 1) == 0)

static int field_of(const char *k, size_t n)
{
    switch (n) {
    case 4: return KEQ("kind") ? F_KIND : KEQ("verb") ? F_VERB : KEQ("user") ? F_USER : -1;
    case 5: return KEQ("stage") ? F_STAGE : -1;
    case 6: return KEQ("labels") ? F_LABELS : -1;
    case 7: return KEQ("auditID") ? F_AUDITID : -1;
    case 8: return KEQ("insertId") ? F_INSERTID : KEQ("resource") ? F_RESOURCE : -1;
    case 9:
        return KEQ("timestamp")   ? F_TS
               : KEQ("userAgent") ? F_UA
               : KEQ("sourceIPs") ? F_IPS
               : KEQ("objectRef") ? F_OBJREF
                                  : -1;
    case 10: return KEQ("apiVersion") ? F_APIVERSION : -1;
    case 11: return KEQ("annotations") ? F_ANN : -1;
    case 12: return KEQ("protoPayload") ? F_PP : -1;
    case 14: return KEQ("stageTimestamp") ? F_STS : KEQ("responseStatus") ? F_RS : -1;
    case 16: return KEQ("receiveTimestamp") ? F_RECVTS : -1;
    case 24: return KEQ("requestReceivedTimestamp") ? F_RRTS : -1;
    default: return -1;
    }
}

#undef KEQ

/* f[i] = the first member named field i (document order), or NULL. */
static void index_fields(const struct ev_node *obj, struct ev_node **f)
{
    memset(f, 0, F_N * sizeof(*f));
    for (struct ev_node *m = obj->child; m; m = m->next) {
        int i = field_of(m->key, m->klen);
        if (i >= 0 && !f[i])
            f[i] = m;
    }
}

/* Elastic rename on the index: field `from` takes the name of `to` unless `to` exists. */
static void rename_f(struct ev_node **f, int from, int to, const char *name)
{
    if (!f[from] || f[to])
        return;
    f[to] = f[from];
    f[to]->key = name;
    f[to]->klen = (uint32_t)strlen(name);
    f[from] = NULL;
}

/* ---- the mapping ----------------------------------------------------------------------------- */

static bool is_ip(const struct ev_node *n)
{
    if (!n || n->type != EV_STRING || n->len == 0 || n->len >= 64 || memchr(n->str, 0, n->len))
        return false;
    unsigned char buf[16];
    return inet_pton(AF_INET, n->str, buf) == 1 || inet_pton(AF_INET6, n->str, buf) == 1;
}

/* Elastic `convert type: ip`: every element must be an IP, else the target stays unset. */
static struct ev_node *convert_ips(struct eb *b, const struct ev_node *src)
{
    if (!src)
        return NULL;
    if (src->type == EV_STRING)
        return is_ip(src) ? clone(b, src) : NULL;
    if (src->type != EV_ARRAY || !src->child)
        return NULL;
    for (const struct ev_node *c = src->child; c; c = c->next)
        if (!is_ip(c))
            return NULL;
    return clone(b, src); /* shares the (immutable) element list */
}

/* De-dot annotation keys (every '.' -> '_'); returns event.outcome or NULL. */
static const char *dedot_annotations(struct eb *b, struct ev_node *ann)
{
    const char *outcome = NULL;
    for (struct ev_node *m = ann->child; m; m = m->next) {
        if (m->klen == 29 && memcmp(m->key, "authorization.k8s.io/decision", 29) == 0) {
            if (str_is(m, "allow"))
                outcome = "success";
            else if (str_is(m, "forbid"))
                outcome = "failure";
        }
        if (!memchr(m->key, '.', m->klen))
            continue;
        char *k = kx_arena_strndup(b->a, m->key, m->klen);
        if (!k) {
            b->oom = true;
            return outcome;
        }
        for (char *p = k; (p = memchr(p, '.', (size_t)(k + m->klen - p))); p++)
            *p = '_';
        m->key = k;
    }
    return outcome;
}

/* Recursively drop null, "", {} and [] below container n (the pipeline's last script).
 * Returns true when n itself ends up empty. Leaves are tested inline: no call per leaf. */
static bool prune(struct ev_node *n)
{
    struct ev_node **t = &n->child;
    while (*t) {
        struct ev_node *c = *t;
        bool drop;
        switch (c->type) {
        case EV_NULL: drop = true; break;
        case EV_STRING: drop = c->len == 0; break;
        case EV_OBJECT:
        case EV_ARRAY: drop = !c->child || prune(c); break;
        default: drop = false; break;
        }
        if (drop) {
            *t = c->next;
            n->len--;
        } else {
            t = &c->next;
        }
    }
    return n->child == NULL;
}

/* prune() on a clone-shared subtree would edit the source too; arrays shared by convert_ips
 * hold only non-empty IP strings, so pruning them never changes anything. */

/* Append the non-NULL vals[i] under keys[i]; returns how many were added. */
static int put_strs(struct eb *b, struct ev_node *obj, const char *const *keys,
                    const char *const *vals, size_t n)
{
    int added = 0;
    for (size_t i = 0; i < n; i++) {
        if (vals[i]) {
            put(b, obj, keys[i], mk_str(b, vals[i], strlen(vals[i])));
            added++;
        }
    }
    return added;
}

/* The host object's members, in the order add_host has always produced: name, hostname, id,
   architecture, then os {type, family, name, platform, kernel, version, codename} (present
   when one of them is set). */
static const char *const host_keys[] = {"name", "hostname", "id", "architecture"};
static const char *const os_keys[] = {"type",   "family",  "name",    "platform",
                                      "kernel", "version", "codename"};

static void host_values(const struct ev_host *h, const char *hv[4], const char *ov[7])
{
    const char *const a[] = {h->name, h->hostname, h->id, h->architecture};
    const char *const o[] = {h->os_type,   h->os_family,  h->os_name,    h->os_platform,
                             h->os_kernel, h->os_version, h->os_codename};
    memcpy(hv, a, sizeof(a));
    memcpy(ov, o, sizeof(o));
}

static void add_host(struct eb *b, struct ev_node *root, const struct ev_host *h)
{
    struct ev_node *host = obj_at(b, root, "host");
    const char *hv[4], *ov[7];
    host_values(h, hv, ov);
    put_strs(b, host, host_keys, hv, 4);
    struct ev_node *os = mk(b, EV_OBJECT);
    if (put_strs(b, os, os_keys, ov, 7))
        put(b, host, "os", os);
}

/* Link n (a node of t) after *tail under key; the strings live as long as the ev_host. */
static struct ev_node *tree_put(struct ev_node ***tail, uint32_t *count, struct ev_node *n,
                                const char *key)
{
    n->key = key;
    n->klen = (uint32_t)strlen(key);
    n->next = NULL;
    **tail = n;
    *tail = &n->next;
    (*count)++;
    return n;
}

void ev_ecs_host_tree(struct ev_host_tree *t, const struct ev_host *h, bool keep_empty)
{
    memset(t, 0, sizeof(*t));
    const char *hv[4], *ov[7];
    host_values(h, hv, ov);
    size_t used = 0;
    struct ev_node **tail = &t->first;
    /* what add_host then prune() leave: empty strings dropped unless keep_empty, an os
       without members dropped, a host without members not added */
    for (size_t i = 0; i < 4; i++) {
        if (!hv[i] || (!keep_empty && !hv[i][0]))
            continue;
        struct ev_node *v = &t->n[used++];
        v->type = EV_STRING;
        v->str = hv[i];
        v->len = (uint32_t)strlen(hv[i]);
        tree_put(&tail, &t->count, v, host_keys[i]);
    }
    bool any_os = false;
    for (size_t i = 0; i < 7; i++)
        any_os |= ov[i] && (keep_empty || ov[i][0]);
    if (any_os) {
        struct ev_node *os = &t->n[used++];
        os->type = EV_OBJECT;
        tree_put(&tail, &t->count, os, "os");
        struct ev_node **otail = &os->child;
        uint32_t on = 0;
        for (size_t i = 0; i < 7; i++) {
            if (!ov[i] || (!keep_empty && !ov[i][0]))
                continue;
            struct ev_node *v = &t->n[used++];
            v->type = EV_STRING;
            v->str = ov[i];
            v->len = (uint32_t)strlen(ov[i]);
            tree_put(&otail, &on, v, os_keys[i]);
        }
        os->len = on;
    }
    t->add = keep_empty || t->count > 0;
}

/* The text an append's "{{{field}}}" template renders for v: strings as they are, numbers and
   booleans as their JSON text; NULL for null, "", objects and arrays (not appended). */
static struct ev_node *rendered(struct eb *b, const struct ev_node *v)
{
    if (!v)
        return NULL;
    switch (v->type) {
    case EV_STRING: return v->len ? clone(b, v) : NULL;
    case EV_NUMBER: return mk_str(b, v->str, v->len);
    case EV_TRUE: return mk_str(b, "true", 4);
    case EV_FALSE: return mk_str(b, "false", 5);
    default: return NULL;
    }
}

static bool same_text(const struct ev_node *x, const struct ev_node *y)
{
    return x->len == y->len && memcmp(x->str, y->str, x->len) == 0;
}

static struct ev_node *related_user(struct eb *b, const struct ev_node *uid,
                                    const struct ev_node *uname)
{
    struct ev_node *u = rendered(b, uid), *n = rendered(b, uname);
    if (!u && !n)
        return NULL;
    struct arr_builder ab;
    arr_init(b, &ab);
    if (u)
        arr_push(b, &ab, u);
    if (n && !(u && same_text(u, n)))
        arr_push(b, &ab, n);
    return ab.arr;
}

struct ip_ref {
    const struct ev_node *n;
    size_t idx;
};

static int ip_ref_cmp(const void *pa, const void *pb)
{
    const struct ip_ref *a = pa, *b = pb;
    size_t l = a->n->len < b->n->len ? a->n->len : b->n->len;
    int c = memcmp(a->n->str, b->n->str, l);
    if (c)
        return c;
    if (a->n->len != b->n->len)
        return a->n->len < b->n->len ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx; /* the first occurrence sorts first */
}

/* related.ip: the elements of source.ip (all IP strings) without repeats, in first-occurrence
   order. Few elements: compared pairwise; many: sorted copies in the arena, O(n log n). */
static struct ev_node *related_ip(struct eb *b, const struct ev_node *ips)
{
    size_t n = 0;
    for (const struct ev_node *c = ips->child; c; c = c->next)
        n++;
    struct arr_builder ab;
    arr_init(b, &ab);
    if (n <= 8) {
        for (const struct ev_node *c = ips->child; c; c = c->next) {
            bool dup = false;
            for (const struct ev_node *d = ips->child; d != c && !dup; d = d->next)
                dup = same_text(c, d);
            if (!dup)
                arr_push(b, &ab, clone(b, c));
        }
        return ab.arr;
    }
    struct ip_ref *refs = kx_arena_alloc(b->a, n * sizeof(*refs));
    bool *dup = kx_arena_alloc(b->a, n);
    if (!refs || !dup) {
        b->oom = true;
        return ab.arr;
    }
    size_t i = 0;
    for (const struct ev_node *c = ips->child; c; c = c->next, i++)
        refs[i] = (struct ip_ref){c, i};
    qsort(refs, n, sizeof(*refs), ip_ref_cmp);
    for (i = 0; i < n; i++)
        dup[refs[i].idx] = i > 0 && same_text(refs[i].n, refs[i - 1].n);
    i = 0;
    for (const struct ev_node *c = ips->child; c; c = c->next, i++)
        if (!dup[i])
            arr_push(b, &ab, clone(b, c));
    return ab.arr;
}

static kx_str str_of(const struct ev_node *n)
{
    return n && n->type == EV_STRING ? (kx_str){n->str, n->len} : (kx_str){NULL, 0};
}

static struct ev_node *time_node(struct eb *b, int64_t ms, bool millis)
{
    char buf[32];
    size_t n = millis ? ev_time_fmt_ms(ms, buf) : ev_time_fmt_s(ms, buf);
    char *s = kx_arena_strndup(b->a, buf, n);
    if (!s) {
        b->oom = true;
        return mk(b, EV_NULL);
    }
    return mk_str(b, s, n);
}

static int map_err(kad_err *err, const struct ev_record *rec, int code, const char *msg)
{
    return kx_err_atlc(err, code, rec ? rec->origin : NULL, rec ? (uint32_t)rec->line : 0,
                       rec ? rec->col : 0, rec ? (int64_t)rec->offset : -1, "%s", msg);
}

/* A date field of an ECS document (`strict_date_optional_time||epoch_millis`): a date string, a
   string of digits or a JSON integer of epoch milliseconds. EV_TIME_NONE otherwise. */
static int64_t doc_time(const struct ev_node *doc, const char *path)
{
    int64_t ms;
    kx_str t = ev_first_str(doc, path);
    if (!t.ptr) {
        const struct ev_node *n = ev_first(doc, path, EV_NUMBER);
        if (n)
            t = (kx_str){n->str, n->len};
    }
    if (!t.ptr)
        return EV_TIME_NONE;
    if (ev_time_parse(t.ptr, t.len, &ms))
        return ms;
    if (t.len > 0 && t.len < 16 && t.ptr[0] >= '0' && t.ptr[0] <= '9' && kx_str_to_i64(t, &ms))
        return ms;
    return EV_TIME_NONE;
}

bool ev_gke_is_audit(const struct ev_node *raw, char *why, size_t size)
{
    const struct ev_node *pp = member(raw, "protoPayload");
    const struct ev_node *svc = pp && pp->type == EV_OBJECT ? member(pp, "serviceName") : NULL;
    if (str_is(svc, "k8s.io"))
        return true;
    kx_str ln = str_of(member(raw, "logName"));
    /* GKE writes the Kubernetes API's audit entries under cloudaudit.googleapis.com logs with
       serviceName k8s.io; a record without a serviceName counts when its method is a
       Kubernetes API method (io.k8s.*) or its log name says cluster audit */
    if (!svc) {
        const struct ev_node *meth = pp && pp->type == EV_OBJECT ? member(pp, "methodName") : NULL;
        if (meth && meth->type == EV_STRING && meth->len > 7 &&
            memcmp(meth->str, "io.k8s.", 7) == 0)
            return true;
        for (size_t i = 0; ln.ptr && i + 13 <= ln.len; i++)
            if (memcmp(ln.ptr + i, "cluster-audit", 13) == 0 ||
                memcmp(ln.ptr + i, "cluster_audit", 13) == 0)
                return true;
    }
    kx_str sv = str_of(svc);
    snprintf(why, size,
             "Cloud Logging entry of %s%.*s%s%s%.*s: not a Kubernetes audit event "
             "(protoPayload.serviceName is not k8s.io), skipped",
             sv.ptr ? "service '" : "no service", sv.ptr ? (int)sv.len : 0, sv.ptr ? sv.ptr : "",
             sv.ptr ? "'" : "", ln.ptr ? ", log " : "",
             ln.ptr ? (int)(ln.len > 80 ? 80 : ln.len) : 0, ln.ptr ? ln.ptr : "");
    return false;
}

/* 16-21. orchestrator.* (ev_ecs_map; pp: GKE's protoPayload or NULL) */
static void map_orchestrator(struct eb *b, struct ev_node *root, const struct ev_map_opts *mo,
                             struct ev_node *const *f, const struct ev_node *pp)
{
    struct ev_node *orc = new_obj(b, root, "orchestrator");
    put(b, orc, "type", mk_str(b, "kubernetes", 10));
    copy_to(b, orc, "api_version", f[F_APIVERSION]);
    {
        copy_to(b, orc, "namespace", DIG(f[F_OBJREF], "objectRef", "namespace"));
        const struct ev_node *rn = DIG(f[F_OBJREF], "objectRef", "name");
        const struct ev_node *rt = DIG(f[F_OBJREF], "objectRef", "resource");
        if (copyable(rn) || copyable(rt)) {
            struct ev_node *res = obj_at(b, orc, "resource");
            copy_to(b, res, "name", rn);
            copy_to(b, res, "type", rt);
        }
    }
    const struct ev_node *gres = f[F_RESOURCE];
    if (pp || gres) {
        const struct ev_node *rname = DIG(pp, "protoPayload", "resourceName");
        const struct ev_node *rtype = DIG(gres, "resource", "type");
        if (copyable(rname) || copyable(rtype)) {
            struct ev_node *res = obj_at(b, orc, "resource");
            if (!member(res, "name")) /* override: false */
                copy_to(b, res, "name", rname);
            if (copyable(rtype)) {
                struct ev_node *old = member(res, "type");
                if (old)
                    unlink_member(res, old);
                copy_to(b, res, "type", rtype);
            }
        }
        const struct ev_node *cn = DIG(gres, "resource", "labels", "cluster_name");
        const struct ev_node *cid = DIG(gres, "resource", "labels", "project_id");
        if (copyable(cn) || copyable(cid)) {
            struct ev_node *cl = obj_at(b, orc, "cluster");
            copy_to(b, cl, "name", cn);
            copy_to(b, cl, "id", cid);
        }
    }

    if (mo->o && mo->o->cluster_name && mo->o->cluster_name[0]) {
        /* the source's cluster, unless the record names its own (GKE's resource labels) */
        struct ev_node *cl = obj_at(b, orc, "cluster");
        if (!member(cl, "name"))
            put(b, cl, "name", mk_str(b, mo->o->cluster_name, strlen(mo->o->cluster_name)));
    }
}

int ev_ecs_map(kx_arena *a, struct ev_node *raw, int fmt, const struct ev_map_opts *mo,
               struct ev_event *out, const struct ev_record *rec, kad_err *err)
{
    struct eb b = {.a = a};
    memset(out, 0, sizeof(*out));
    out->rec = rec;
    out->format = fmt;
    out->ts_ms = out->ingested_ms = EV_TIME_NONE;

    if (fmt == EV_FMT_ECS) {
        out->doc = raw;
        out->audit_id = ev_first_str(raw, "kubernetes.audit.auditID");
        out->stage = ev_first_str(raw, "kubernetes.audit.stage");
        out->ts_ms = doc_time(raw, "@timestamp");
        out->ingested_ms = doc_time(raw, "event.ingested");
        if (out->ts_ms == EV_TIME_NONE &&
            (ev_first_str(raw, "@timestamp").ptr || ev_first(raw, "@timestamp", EV_NUMBER))) {
            out->warn = EV_WARN_BAD_TIME;
            out->warn_field = "@timestamp";
        }
        return KAD_OK;
    }
    if (fmt != EV_FMT_K8S && fmt != EV_FMT_GKE && fmt != EV_FMT_AKS)
        return map_err(err, rec, KAD_EUNSUPPORTED,
                       "not a Kubernetes audit event (no kind, apiVersion or auditID)");

    struct ev_node *root = mk(&b, EV_OBJECT);
    struct ev_node *audit = raw;
    int64_t ts = EV_TIME_NONE;

    /* 1. AKS envelope: the Event is properties.log (a JSON string or an object) */
    if (fmt == EV_FMT_AKS) {
        struct ev_node *props = member(raw, "properties");
        struct ev_node *log = props ? member(props, "log") : NULL;
        if (log && log->type == EV_STRING) {
            kad_err perr;
            kad_err_clear(&perr);
            audit = ev_json_parse(a, log->str, log->len, "properties.log", &perr);
            if (!audit) {
                char msg[KAD_ERR_MSG_MAX];
                snprintf(msg, sizeof(msg), "AKS properties.log: %u:%u: %.200s", perr.line, perr.col,
                         perr.msg);
                return map_err(err, rec, perr.code, msg);
            }
        } else if (log && log->type == EV_OBJECT) {
            audit = log;
        } else {
            return map_err(err, rec, KAD_EUNSUPPORTED,
                           "AKS record without an audit event in properties.log");
        }
        if (audit->type != EV_OBJECT)
            return map_err(err, rec, KAD_EUNSUPPORTED, "AKS properties.log is not an object");
        unlink_member(props, log);
        rename_key(raw, "operationName", "operation_name");
        rename_key(raw, "resourceId", "resource_id");
        rename_key(raw, "serviceBuild", "service_build");
        /* properties.{containerID,pod,stream} -> container_id, pod, stream (Elastic renames
           these three; any other member stays under properties) */
        static const char *const lift[][2] = {
            {"containerID", "container_id"}, {"pod", "pod"}, {"stream", "stream"}};
        for (size_t i = 0; i < 3; i++) {
            struct ev_node *m = member(props, lift[i][0]);
            if (!m || member(raw, lift[i][1]))
                continue;
            unlink_member(props, m);
            put(&b, raw, lift[i][1], m);
        }
        kx_str t = str_of(member(raw, "time"));
        if (t.ptr && !ev_time_parse(t.ptr, t.len, &ts)) {
            ts = EV_TIME_NONE;
            out->warn = EV_WARN_BAD_TIME;
            out->warn_field = "time";
        }
        put(&b, audit, "aks_metadata", raw);
    }

    /* webhook items carry no kind/apiVersion: supply them as the log backend writes them */
    if (mo->list_api_version.ptr) {
        if (!member(audit, "apiVersion"))
            put_front(&b, audit, "apiVersion",
                      mk_str(&b, mo->list_api_version.ptr, mo->list_api_version.len));
        if (!member(audit, "kind"))
            put_front(&b, audit, "kind", mk_str(&b, "Event", 5));
    }

    struct ev_node *f[F_N];
    index_fields(audit, f);

    /* 5-6. drop requestObject.metadata / responseObject.metadata */
    for (struct ev_node *m = audit->child; m; m = m->next) /* every one, if duplicated */
        if (m->type == EV_OBJECT && ((m->klen == 14 && memcmp(m->key, "responseObject", 14) == 0) ||
                                     (m->klen == 13 && memcmp(m->key, "requestObject", 13) == 0)))
            for (struct ev_node **t = &m->child; *t;) { /* every "metadata", one pass */
                if ((*t)->klen == 8 && memcmp((*t)->key, "metadata", 8) == 0) {
                    *t = (*t)->next;
                    m->len--;
                } else {
                    t = &(*t)->next;
                }
            }

    /* 9. GKE renames (also reach v1beta1's top-level `timestamp`) */
    rename_f(f, F_INSERTID, F_AUDITID, "auditID");
    rename_f(f, F_RECVTS, F_RRTS, "requestReceivedTimestamp");
    rename_f(f, F_TS, F_STS, "stageTimestamp");
    rename_f(f, F_LABELS, F_ANN, "annotations");
    struct ev_node *pp = f[F_PP];
    struct ev_node *pst = pp && pp->type == EV_OBJECT ? member(pp, "status") : NULL;
    struct ev_node *pcode = pst && pst->type == EV_OBJECT ? member(pst, "code") : NULL;
    if (pcode) {
        struct ev_node *rs = f[F_RS];
        if (!rs) {
            rs = f[F_RS] = mk(&b, EV_OBJECT);
            put(&b, audit, "responseStatus", rs);
        }
        if (rs->type == EV_OBJECT && !member(rs, "code")) {
            unlink_member(pst, pcode);
            put(&b, rs, "code", pcode);
        }
    }

    /* @timestamp: AKS `time`, else the configured source (ev_decoder_opts.timestamp):
       stageTimestamp (a null or empty one falls back to v1beta1's timestamp), else
       requestReceivedTimestamp; or the receive time */
    int tsrc = mo->o ? mo->o->timestamp : EV_TS_STAGE;
    if (ts == EV_TIME_NONE && tsrc == EV_TS_RECEIVED)
        ts = mo->now_ms;
    if (ts == EV_TIME_NONE) {
        const struct ev_node *stage_first[] = {f[F_STS], f[F_TS], f[F_RRTS]};
        const struct ev_node *request_first[] = {f[F_RRTS], f[F_STS], f[F_TS]};
        const struct ev_node *const *tnodes = tsrc == EV_TS_REQUEST ? request_first : stage_first;
        const char *bad = NULL;
        for (size_t i = 0; i < 3 && ts == EV_TIME_NONE; i++) {
            kx_str t = str_of(tnodes[i]);
            if (t.ptr && t.len && !ev_time_parse(t.ptr, t.len, &ts)) {
                ts = EV_TIME_NONE;
                if (!bad)
                    bad = tnodes[i] == f[F_RRTS] ? "requestReceivedTimestamp" : "stageTimestamp";
            }
        }
        if (ts == EV_TIME_NONE && bad && !out->warn) {
            out->warn = EV_WARN_BAD_TIME;
            out->warn_field = bad;
        }
    }
    /* mo->skip: the ECS fields no declared path reaches are not built (the fast path) */
#define WANT(bit) (!(mo->skip & (bit)))
    if (ts != EV_TIME_NONE && WANT(EV_EMIT_TIMESTAMP))
        put(&b, root, "@timestamp", time_node(&b, ts, true));

    struct ev_node *k8s = new_obj(&b, root, "kubernetes");
    put(&b, k8s, "audit", audit);

    /* 7-8. event.kind, event.action */
    const uint32_t ev_bits = EV_EMIT_EV_KIND | EV_EMIT_EV_ACTION | EV_EMIT_EV_OUTCOME |
                             EV_EMIT_EV_DATASET | EV_EMIT_EV_INGESTED;
    struct ev_node *event = (mo->skip & ev_bits) != ev_bits ? new_obj(&b, root, "event") : NULL;
    if (WANT(EV_EMIT_EV_KIND))
        put(&b, event, "kind", mk_str(&b, "event", 5));
    if (WANT(EV_EMIT_EV_ACTION))
        copy_to(&b, event, "action", f[F_VERB]);

    /* 10. annotations: de-dot keys, event.outcome from the decision */
    struct ev_node *ann = f[F_ANN];
    if (ann && ann->type == EV_OBJECT) {
        const char *outcome = dedot_annotations(&b, ann);
        if (outcome && WANT(EV_EMIT_EV_OUTCOME))
            put(&b, event, "outcome", mk_str(&b, outcome, strlen(outcome)));
    }
    if (WANT(EV_EMIT_EV_DATASET))
        put(&b, event, "dataset", mk_str(&b, "kubernetes.audit_logs", 21));
    int64_t ing = EV_TIME_NONE;
    if (mo->o && mo->o->ingested == EV_INGESTED_NOW) {
        ing = mo->now_ms - ((mo->now_ms % 1000) + 1000) % 1000;
        if (WANT(EV_EMIT_EV_INGESTED))
            put(&b, event, "ingested", time_node(&b, ing, false));
    }

    if (WANT(EV_EMIT_DATA_STREAM)) {
        struct ev_node *ds = new_obj(&b, root, "data_stream");
        put(&b, ds, "type", mk_str(&b, "logs", 4));
        put(&b, ds, "dataset", mk_str(&b, "kubernetes.audit_logs", 21));
        put(&b, ds, "namespace", mk_str(&b, mo->ns, strlen(mo->ns)));
    }

    /* 11-12. user.name, user.id (set copy_from: any value but null and "") */
    const bool want_ru = WANT(EV_EMIT_RELATED);
    const struct ev_node *uname = NULL, *uid = NULL;
    if (WANT(EV_EMIT_USER) || want_ru) {
        uname = DIG(f[F_USER], "user", "username");
        uid = DIG(f[F_USER], "user", "uid");
    }
    if (WANT(EV_EMIT_USER) && (copyable(uname) || copyable(uid))) {
        struct ev_node *user = new_obj(&b, root, "user");
        copy_to(&b, user, "name", uname);
        copy_to(&b, user, "id", uid);
    }
    /* 13. user_agent.original */
    const struct ev_node *ua = f[F_UA];
    if (WANT(EV_EMIT_USER_AGENT) && ua && !(ua->type == EV_STRING && ua->len == 0) &&
        ua->type != EV_NULL)
        copy_to(&b, new_obj(&b, root, "user_agent"), "original", ua);

    /* 14-15. source.ip, client.ip */
    struct ev_node *ips = WANT(EV_EMIT_SOURCE) || WANT(EV_EMIT_CLIENT) || want_ru
                              ? convert_ips(&b, f[F_IPS])
                              : NULL;
    if (ips) {
        if (WANT(EV_EMIT_SOURCE))
            put(&b, new_obj(&b, root, "source"), "ip", ips);
        if (WANT(EV_EMIT_CLIENT))
            put(&b, new_obj(&b, root, "client"), "ip", clone(&b, ips));
    }

    /* 23-24. related.user (uid, then username), related.ip (each source.ip): `append` with
       allow_duplicates: false, so each value once, first occurrence first */
    struct ev_node *ru = want_ru ? related_user(&b, uid, uname) : NULL;
    struct ev_node *ri = want_ru && ips && ips->type == EV_ARRAY ? related_ip(&b, ips) : NULL;
    if (ru || ri) {
        struct ev_node *related = new_obj(&b, root, "related");
        if (ri)
            put(&b, related, "ip", ri);
        if (ru)
            put(&b, related, "user", ru);
    }

    if (WANT(EV_EMIT_ORCH))
        map_orchestrator(&b, root, mo, f, pp);

    if (mo->host && !mo->host_tree && WANT(EV_EMIT_HOST))
        add_host(&b, root, mo->host);

    /* 25. drop empty values everywhere */
    if (!(mo->o && mo->o->keep_empty))
        prune(root);

    /* host.* from the decoder's prebuilt subtree (already pruned): a new `host` node per
       document, members shared */
    if (mo->host_tree && mo->host_tree->add && WANT(EV_EMIT_HOST)) {
        struct ev_node *host = mk(&b, EV_OBJECT);
        host->child = mo->host_tree->first;
        host->len = mo->host_tree->count;
        put(&b, root, "host", host);
    }
#undef WANT

    if (b.oom)
        return map_err(err, rec, KAD_ELIMIT, "event too large for the event arena");
    out->doc = root;
    out->audit_id = str_of(f[F_AUDITID]);
    out->stage = str_of(f[F_STAGE]);
    out->ts_ms = ts;
    out->ingested_ms = ing;
    return KAD_OK;
}

/* ---- host metadata ------------------------------------------------------------------------- */

static const char *keep(char **store, size_t *left, const char *s, size_t n)
{
    if (n + 1 > *left || n == 0)
        return NULL;
    char *d = *store;
    memcpy(d, s, n);
    d[n] = '\0';
    *store += n + 1;
    *left -= n + 1;
    return d;
}

/* Value of KEY=value (quotes removed) in os-release text, or NULL. */
static const char *osr(char **store, size_t *left, const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, kl) != 0 || l[kl] != '=')
            continue;
        const char *v = l + kl + 1;
        const char *e = strchr(v, '\n');
        size_t n = e ? (size_t)(e - v) : strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v++;
            n -= 2;
        }
        return keep(store, left, v, n);
    }
    return NULL;
}

static size_t slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

void ev_host_detect(struct ev_host *h, char *store, size_t size)
{
    memset(h, 0, sizeof(*h));
    size_t left = size;
    struct utsname u;
    if (uname(&u) == 0) {
        h->name = keep(&store, &left, u.nodename, strlen(u.nodename));
        h->hostname = h->name;
        h->architecture = keep(&store, &left, u.machine, strlen(u.machine));
        h->os_kernel = keep(&store, &left, u.release, strlen(u.release));
        char sys[sizeof(u.sysname)];
        size_t i;
        for (i = 0; u.sysname[i] && i + 1 < sizeof(sys); i++)
            sys[i] = (char)(u.sysname[i] >= 'A' && u.sysname[i] <= 'Z' ? u.sysname[i] + 32
                                                                       : u.sysname[i]);
        h->os_type = keep(&store, &left, sys, i);
    }
    char text[4096];
    if (slurp("/etc/os-release", text, sizeof(text)) ||
        slurp("/usr/lib/os-release", text, sizeof(text))) {
        h->os_name = osr(&store, &left, text, "NAME");
        h->os_platform = osr(&store, &left, text, "ID");
        h->os_version = osr(&store, &left, text, "VERSION");
        h->os_codename = osr(&store, &left, text, "VERSION_CODENAME");
        const char *like = osr(&store, &left, text, "ID_LIKE");
        h->os_family = like ? like : h->os_platform;
        if (like && strchr(like, ' '))
            *strchr((char *)like, ' ') = '\0';
    }
    size_t n = slurp("/etc/machine-id", text, sizeof(text));
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        n--;
    if (n)
        h->id = keep(&store, &left, text, n);
}
