/*
 * event_extract.c - the single-pass extractor: a raw JSON document to an ev_node tree holding
 * only the members on a set of compiled paths (the fields the rules read), with the same grammar,
 * checks, limits and error positions as the full parse of event_json.c, whose state and helpers
 * it shares through event_json_int.h.
 */
#include "event_json_int.h"

#include <stdio.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

/* ---- how it works -------------------------------------------------------------------------------
 *
 * Same grammar and checks as the full parse, but only the members on the compiled paths are
 * built; everything else is validated and skipped without allocating. Paths are compiled into a
 * trie of dot-separated segments. A JSON key is matched by walking the trie through the key's
 * own segments, so a literal dotted key ("a.b") matches the path a.b.c exactly as ev_values
 * does (kql.md §5.1); a key that runs past a CAPTURE node ("a.b" against path "a") captures the
 * member whole, which keeps ev_values' "partial" hits. Arrays are transparent.
 */

struct pnode {
    const char *seg;
    uint32_t seglen;
    unsigned flags;
    struct pnode *child;      /* all children, in insertion order reversed */
    struct pnode *next;       /* next sibling */
    struct pnode *bnext;      /* next sibling in the same bucket */
    struct pnode *bucket[16]; /* children by (first byte + length) % 16: one compare per key */
};

static unsigned bucket_of(const char *seg, size_t len)
{
    return ((unsigned)(unsigned char)(len ? seg[0] : 0) + (unsigned)len) & 15u;
}

struct ev_paths {
    kx_arena a;
    struct pnode root;
    size_t count;
};

struct ev_paths *ev_paths_new(void)
{
    struct ev_paths *p = kx_calloc(1, sizeof(*p));
    kx_arena_init(&p->a, 4096, 0);
    return p;
}

void ev_paths_free(struct ev_paths *p)
{
    if (!p)
        return;
    kx_arena_fini(&p->a);
    kx_free(p);
}

size_t ev_paths_count(const struct ev_paths *p) { return p ? p->count : 0; }

int ev_paths_add(struct ev_paths *p, const char *path, size_t len, unsigned flags)
{
    if (!len)
        return KAD_EINVAL;
    struct pnode *t = &p->root;
    size_t i = 0;
    for (;;) {
        const char *dot = memchr(path + i, '.', len - i);
        size_t sl = dot ? (size_t)(dot - (path + i)) : len - i;
        struct pnode *c;
        for (c = t->child; c; c = c->next)
            if (c->seglen == sl && memcmp(c->seg, path + i, sl) == 0)
                break;
        if (!c) {
            c = kx_arena_zalloc(&p->a, sizeof(*c));
            c->seg = kx_arena_strndup(&p->a, path + i, sl);
            c->seglen = (uint32_t)sl;
            c->next = t->child;
            t->child = c;
            unsigned bk = bucket_of(path + i, sl);
            c->bnext = t->bucket[bk];
            t->bucket[bk] = c;
        }
        t = c;
        if (!dot)
            break;
        i += sl + 1;
    }
    if (!t->flags)
        p->count++;
    t->flags |= flags ? flags : EV_PATH_CAPTURE;
    return KAD_OK;
}

/*
 * Length of the key's first dot-separated segment. `readable` bytes from k may be read (the
 * rest of the document): with 16 of them, one SSE2 compare finds the dot of a short key.
 */
static inline size_t seg_len(const char *k, size_t klen, size_t readable)
{
#ifdef __SSE2__
    if (klen <= 16 && readable >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)k);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
        m &= (1u << klen) - 1; /* klen <= 16: the shift fits in 32 bits */
        return m ? (size_t)__builtin_ctz(m) : klen;
    }
#else
    (void)readable;
#endif
    size_t sl = 0;
    while (sl < klen && k[sl] != '.') /* keys are short: no memchr call */
        sl++;
    return sl;
}

static const struct pnode *match_key(const struct pnode *t, const char *k, size_t klen,
                                     size_t readable)
{
    for (;;) {
        size_t sl = seg_len(k, klen, readable);
        const struct pnode *c;
        for (c = t->bucket[bucket_of(k, sl)]; c; c = c->bnext)
            if (c->seglen == sl && memcmp(c->seg, k, sl) == 0)
                break;
        if (!c || sl == klen || c->flags)
            return c;
        t = c;
        k += sl + 1;
        klen -= sl + 1;
        readable -= sl + 1;
    }
}

static const char *skip_value_slow(struct jp *j, const char *p);

static const char *skip_string(struct jp *j, const char *p)
{
    struct lex_err le;
    bool esc = false;
    const char *q = lex_string(p + 1, j->end, &esc, &le);
    return q ? q + 1 : ev_jp_fail_lex(j, &le);
}

static const char *skip_container(struct jp *j, const char *p)
{
    bool obj = *p == '{';
    char close = obj ? '}' : ']';
    if (++j->depth > j->max_depth)
        return ev_jp_fail_at(j, KAD_ELIMIT, p, "nesting deeper than %u levels", j->max_depth);
    p = lex_ws(p + 1, j->end);
    if (p < j->end && *p == close) {
        j->depth--;
        return p + 1;
    }
    for (;;) {
        if (obj) {
            if (!key_start(j, p))
                return NULL;
            if (!(p = skip_string(j, p)))
                return NULL;
            if (!(p = after_key(j, p)))
                return NULL;
        }
        if (!(p = skip_value_slow(j, p)))
            return NULL;
        bool more;
        if (!(p = after_item(j, p, close, &more)))
            return NULL;
        if (!more) {
            j->depth--;
            return p;
        }
    }
}

/* The careful skip: one call per token, every error positioned and worded. */
static const char *skip_value_slow(struct jp *j, const char *p)
{
    if (p >= j->end)
        return ev_jp_fail_at(j, KAD_ESYNTAX, p, "%s", "unexpected end of input, expected a value");
    switch (*p) {
    case '"': return skip_string(j, p);
    case '{':
    case '[': return skip_container(j, p);
    default: {
        struct lex_err le;
        const char *q = lex_scalar(p, j->end, &le);
        return q ? q : ev_jp_fail_lex(j, &le);
    }
    }
}

/*
 * The fast skip: the same grammar and the same checks as skip_value_slow (the same lexical
 * primitives for strings and numbers), but one loop with an explicit stack of container kinds,
 * a bit per level, instead of a recursive call per value and a call per separator. The skipped
 * parts (request and response bodies) are most of an audit event's bytes and tokens; the calls
 * were about a third of the time spent skipping them.
 *
 * It only answers "valid, ends here" or "no": on NULL (a syntax or encoding error, nesting
 * beyond `room` or beyond SKIP_FAST_DEPTH levels) the caller runs skip_value_slow from the same
 * position, which accepts or rejects and, when it rejects, positions and words the error.
 * Errors therefore read exactly as before; an error costs a second pass over one value.
 */
#define SKIP_FAST_DEPTH 256

static const char *skip_fast(const char *p, const char *end, uint32_t room)
{
    uint64_t kind[SKIP_FAST_DEPTH / 64] = {0}; /* bit set: that level is an object */
    uint32_t depth = 0;
    uint32_t limit = room < SKIP_FAST_DEPTH ? room : SKIP_FAST_DEPTH;
    bool in_obj = false;
    struct lex_err le;
    bool esc;
    unsigned char c;

value:
    if (p >= end)
        return NULL;
    c = (unsigned char)*p;
    if (c == '"') {
        if (!(p = lex_string(p + 1, end, &esc, &le)))
            return NULL;
        p++;
    } else if (c == '{' || c == '[') {
        if (depth >= limit)
            return NULL;
        in_obj = c == '{';
        uint64_t bit = (uint64_t)1 << (depth & 63);
        kind[depth >> 6] = in_obj ? kind[depth >> 6] | bit : kind[depth >> 6] & ~bit;
        depth++;
        p = lex_ws(p + 1, end);
        if (p >= end)
            return NULL;
        if (*p == (in_obj ? '}' : ']')) {
            p++;
            goto close;
        }
        if (in_obj)
            goto key;
        goto value;
    } else if (!(p = lex_scalar(p, end, &le))) {
        return NULL;
    }

after:
    if (!depth)
        return p;
    p = lex_ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == ',') {
        p = lex_ws(p + 1, end);
        if (in_obj)
            goto key;
        goto value;
    }
    if (*p != (in_obj ? '}' : ']'))
        return NULL;
    p++;
close:
    depth--;
    if (depth)
        in_obj = kind[(depth - 1) >> 6] >> ((depth - 1) & 63) & 1;
    goto after;

key:
    if (p >= end || *p != '"')
        return NULL;
    if (!(p = lex_string(p + 1, end, &esc, &le)))
        return NULL;
    p = lex_ws(p + 1, end);
    if (p >= end || *p != ':')
        return NULL;
    p = lex_ws(p + 1, end);
    goto value;
}

/*
 * The block skip: containers are skipped 64 bytes at a time. For each block, SSE2 compares
 * give bit masks of quotes, backslashes, brackets/colon/comma, spaces and control or non-ASCII
 * bytes; escapes are resolved from the backslash mask (a loop per backslash, checking each
 * escape as it goes), the in-string mask is the prefix XOR of the unescaped quotes, carried
 * from block to block. What is left, the tokens (opening quotes, structural characters outside
 * strings, the first byte of each number or literal), drives the same grammar as the other two
 * skips through a small state machine: a token costs a bit scan, not a scan of its bytes, and
 * the position of the next token does not wait for the previous one to be read.
 *
 * Like skip_fast it only answers "valid, ends here" or "no" (NULL). It also says no, leaving
 * the value to skip_fast, to what it does not handle: non-ASCII bytes (UTF-8 is validated by
 * lex_string), control characters other than tab/LF/CR outside strings, nesting deeper than 64
 * levels or than `room`. Used for objects and arrays only: scalars are cheaper one by one.
 * The masks come from two AVX2 compares per kind instead of four SSE2 ones where the CPU has
 * AVX2 (checked at run time); the rest is one body, event_skip.inc, compiled twice.
 */
#ifdef __SSE2__
enum { BS_VALUE, BS_VALUE_OR_CLOSE, BS_KEY, BS_KEY_OR_CLOSE, BS_COLON, BS_NEXT };

struct bmask {
    uint64_t quote, bslash, ctl, structural, space;
};

static inline void bmask_16(const char *s, unsigned shift, struct bmask *m)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i v20 = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i st = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v20, _mm_set1_epi8('{')),
                     _mm_cmpeq_epi8(v20, _mm_set1_epi8('}'))),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')), _mm_cmpeq_epi8(v, _mm_set1_epi8(','))));
    m->quote |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')))
                << shift;
    m->bslash |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))
                 << shift;
    /* signed compare: control bytes and non-ASCII (negative as int8) in one */
    m->ctl |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)))
              << shift;
    m->structural |= (uint64_t)(unsigned)_mm_movemask_epi8(st) << shift;
    m->space |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')))
                << shift;
}

static inline uint64_t prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* Not a byte of a number or literal: whitespace, structural, quote, or the end. */
static inline bool scalar_ends(const char *q, const char *end)
{
    if (q >= end)
        return true;
    switch (*q) {
    case ' ':
    case '\t':
    case '\n':
    case '\r':
    case ',':
    case ':':
    case '{':
    case '}':
    case '[':
    case ']':
    case '"': return true;
    default: return false;
    }
}

#define SKIP_NAME skip_blocks_sse
#define SKIP_ATTR
#define SKIP_MASK(src, m)                                                                          \
    do {                                                                                           \
        bmask_16((src), 0, (m));                                                                   \
        bmask_16((src) + 16, 16, (m));                                                             \
        bmask_16((src) + 32, 32, (m));                                                             \
        bmask_16((src) + 48, 48, (m));                                                             \
    } while (0)
#include "event_skip.inc"
#undef SKIP_NAME
#undef SKIP_ATTR
#undef SKIP_MASK

#if defined(__x86_64__) && defined(__GNUC__)
/* The same masks from two 32-byte AVX2 compares (chosen at run time: the build targets SSE4.2). */
__attribute__((target("avx2"))) static inline void bmask_32(const char *s, unsigned shift,
                                                            struct bmask *m)
{
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)s);
    __m256i v20 = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
    __m256i st = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v20, _mm256_set1_epi8('{')),
                                                 _mm256_cmpeq_epi8(v20, _mm256_set1_epi8('}'))),
                                 _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(':')),
                                                 _mm256_cmpeq_epi8(v, _mm256_set1_epi8(','))));
    m->quote |= (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('"')))
                << shift;
    m->bslash |=
        (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\')))
        << shift;
    /* signed compare: control bytes and non-ASCII (negative as int8) in one */
    m->ctl |= (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v))
              << shift;
    m->structural |= (uint64_t)(uint32_t)_mm256_movemask_epi8(st) << shift;
    m->space |= (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(' ')))
                << shift;
}
#define SKIP_NAME skip_blocks_avx2
#define SKIP_ATTR __attribute__((target("avx2")))
#define SKIP_MASK(src, m)                                                                          \
    do {                                                                                           \
        bmask_32((src), 0, (m));                                                                   \
        bmask_32((src) + 32, 32, (m));                                                             \
    } while (0)
#include "event_skip.inc"
#undef SKIP_NAME
#undef SKIP_ATTR
#undef SKIP_MASK

#ifdef KAD_TEST_HOOKS
bool ev_test_skip_sse; /* tests: the SSE version even where AVX2 runs */
#else
#define ev_test_skip_sse false
#endif

static const char *skip_blocks(const char *p, const char *end, uint32_t room)
{
    if (!ev_test_skip_sse && __builtin_cpu_supports("avx2"))
        return skip_blocks_avx2(p, end, room);
    return skip_blocks_sse(p, end, room);
}
#else
static const char *skip_blocks(const char *p, const char *end, uint32_t room)
{
    return skip_blocks_sse(p, end, room);
}
#endif
#else
static const char *skip_blocks(const char *p, const char *end, uint32_t room)
{
    (void)p, (void)end, (void)room;
    return NULL;
}
#endif

/*
 * Validate and skip one value: containers by blocks, then (when the block skip says no) the
 * token loop, then the careful skip, which positions the error if there is one.
 */
static inline const char *skip_value(struct jp *j, const char *p)
{
    uint32_t room = j->max_depth - j->depth;
    const char *q = NULL;
    if (p < j->end && (*p == '{' || *p == '['))
        q = skip_blocks(p, j->end, room);
    if (!q)
        q = skip_fast(p, j->end, room);
    return q ? q : skip_value_slow(j, p);
}

struct xp {
    struct jp j;
    bool aborted;
};

static const char *extract_value(struct xp *x, const char *p, const struct pnode *t,
                                 struct ev_node *out, bool *keep);

static const char *extract_object(struct xp *x, const char *p, const struct pnode *t,
                                  struct ev_node *out)
{
    struct jp *j = &x->j;
    out->type = EV_OBJECT;
    struct ev_node **tail = &out->child;
    p = lex_ws(p + 1, j->end);
    if (p < j->end && *p == '}')
        return p + 1;
    for (;;) {
        if (!key_start(j, p))
            return NULL;
        struct lex_err le;
        bool esc = false;
        const char *kb = p + 1;
        const char *q = lex_string(kb, j->end, &esc, &le);
        if (!q)
            return ev_jp_fail_lex(j, &le);
        const char *key = kb;
        size_t klen = (size_t)(q - kb);
        uint32_t kl32 = 0;
        if (esc) {
            if (!(key = copy_string(j, kb, klen, true, &kl32)))
                return NULL;
            klen = kl32;
        }
        /* an unescaped key lies in the document: the rest of it may be read */
        size_t readable = esc ? klen : (size_t)(j->end - key);
        const struct pnode *m = klen ? match_key(t, key, klen, readable) : NULL;
        if (!(p = after_key(j, q + 1)))
            return NULL;
        if (!m) {
            p = skip_value(j, p);
        } else if (m->flags & EV_PATH_ABORT) {
            x->aborted = true;
            return NULL;
        } else {
            struct ev_node *node = new_node(j, p);
            if (!node)
                return NULL;
            bool keep = true;
            if (m->flags & EV_PATH_CAPTURE)
                p = ev_jp_parse_value(j, p, node);
            else
                p = extract_value(x, p, m, node, &keep);
            if (p && keep) {
                if (esc) {
                    node->key = key;
                    node->klen = (uint32_t)klen;
                } else if (!(node->key = copy_string(j, kb, klen, false, &node->klen))) {
                    return NULL;
                }
                *tail = node;
                tail = &node->next;
                out->len++;
            }
        }
        if (!p)
            return NULL;
        bool more;
        if (!(p = after_item(j, p, '}', &more)) || !more)
            return p;
    }
}

static const char *extract_array(struct xp *x, const char *p, const struct pnode *t,
                                 struct ev_node *out)
{
    struct jp *j = &x->j;
    out->type = EV_ARRAY;
    struct ev_node **tail = &out->child;
    struct ev_node *spare = NULL;
    p = lex_ws(p + 1, j->end);
    if (p < j->end && *p == ']')
        return p + 1;
    for (;;) {
        if (!spare && !(spare = new_node(j, p)))
            return NULL;
        bool keep = false;
        if (!(p = extract_value(x, p, t, spare, &keep)))
            return NULL;
        if (keep) {
            *tail = spare;
            tail = &spare->next;
            out->len++;
            spare = NULL;
        } else {
            memset(spare, 0, sizeof(*spare));
        }
        bool more;
        if (!(p = after_item(j, p, ']', &more)) || !more)
            return p;
    }
}

static const char *extract_value(struct xp *x, const char *p, const struct pnode *t,
                                 struct ev_node *out, bool *keep)
{
    struct jp *j = &x->j;
    *keep = false;
    if (p < j->end && (*p == '{' || *p == '[')) {
        if (++j->depth > j->max_depth)
            return ev_jp_fail_at(j, KAD_ELIMIT, p, "nesting deeper than %u levels", j->max_depth);
        const char *q = *p == '{' ? extract_object(x, p, t, out) : extract_array(x, p, t, out);
        j->depth--;
        *keep = q && out->len > 0;
        return q;
    }
    return skip_value(j, p);
}

struct ev_node *ev_json_extract(kx_arena *a, const char *s, size_t n, const struct ev_paths *paths,
                                const struct ev_json_limits *lim, const char *origin, bool *aborted,
                                kad_err *err)
{
    struct xp x = {.j = {.a = a, .s = s, .end = s + n, .origin = origin, .err = err}};
    struct jp *j = &x.j;
    *aborted = false;
    j->max_depth = lim && lim->max_depth ? lim->max_depth : EV_JSON_MAX_DEPTH;
    size_t max_size = lim && lim->max_size ? lim->max_size : EV_JSON_MAX_SIZE;
    if (n > max_size)
        return ev_jp_fail_at(j, KAD_ELIMIT, s + max_size, "document larger than %zu bytes",
                             max_size);
    const char *p = lex_ws(s, j->end);
    if (p >= j->end || *p != '{') {
        *aborted = true; /* not an object: the caller's full parse decides */
        return NULL;
    }
    struct ev_node *root = new_node(j, p);
    if (!root)
        return NULL;
    j->depth = 1;
    p = extract_object(&x, p, &paths->root, root);
    if (!p) {
        if (x.aborted) {
            *aborted = true;
            kad_err_clear(err);
        }
        return NULL;
    }
    p = lex_ws(p, j->end);
    if (p != j->end)
        return ev_jp_fail_at(j, KAD_ESYNTAX, p, "%s", "unexpected content after the JSON value");
    return root;
}
