/*
 * test_toml.c - the TOML reader (src/rule/toml.c): our own cases, always run, and the
 * toml-test conformance driver over ../shared/data/toml-test (TOML 1.0.0 file list).
 *
 * The driver compares every valid document value by value with the tagged JSON beside it
 * ({"type": "integer", "value": "1"} for scalars); it has its own tiny JSON reader (below)
 * so it depends on nothing but the TOML module.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "rule/toml.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny JSON reader for the expected files ---------------------------------------------- */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
    int type;
    char *s; /* J_STR (decoded), J_NUM (text) */
    size_t slen;
    bool b;
    struct jv *kids; /* array items or object values */
    char **keys;     /* object keys */
    size_t *klens;
    size_t n;
};

struct jp {
    const char *s;
    size_t n, p;
    bool bad;
};

static void jws(struct jp *j)
{
    while (j->p < j->n && strchr(" \t\r\n", j->s[j->p]))
        j->p++;
}

static int jhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned jhex4(struct jp *j)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = j->p < j->n ? jhex(j->s[j->p++]) : -1;
        if (h < 0) {
            j->bad = true;
            return 0;
        }
        v = v * 16 + (unsigned)h;
    }
    return v;
}

static char *jstring(struct jp *j, size_t *len)
{
    kx_buf b;
    kx_buf_init(&b, 1 << 24);
    j->p++; /* opening quote */
    while (j->p < j->n && j->s[j->p] != '"') {
        char c = j->s[j->p++];
        if (c != '\\') {
            kx_buf_addc(&b, c);
            continue;
        }
        char e = j->p < j->n ? j->s[j->p++] : 0;
        switch (e) {
        case 'n': kx_buf_addc(&b, '\n'); break;
        case 't': kx_buf_addc(&b, '\t'); break;
        case 'r': kx_buf_addc(&b, '\r'); break;
        case 'b': kx_buf_addc(&b, '\b'); break;
        case 'f': kx_buf_addc(&b, '\f'); break;
        case 'u': {
            unsigned cp = jhex4(j);
            if (cp >= 0xD800 && cp < 0xDC00 && j->p + 1 < j->n && j->s[j->p] == '\\' &&
                j->s[j->p + 1] == 'u') {
                j->p += 2;
                unsigned lo = jhex4(j);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            char u8[4];
            int l = kx_utf8_encode(cp, u8);
            kx_buf_add(&b, u8, (size_t)l);
            break;
        }
        default: kx_buf_addc(&b, e); break;
        }
    }
    j->p++;
    if (!b.ptr)
        kx_buf_addc(&b, 0), b.len = 0;
    return kx_buf_take(&b, len);
}

static void jparse(struct jp *j, struct jv *v)
{
    memset(v, 0, sizeof *v);
    jws(j);
    if (j->p >= j->n) {
        j->bad = true;
        return;
    }
    char c = j->s[j->p];
    if (c == '{' || c == '[') {
        v->type = c == '{' ? J_OBJ : J_ARR;
        j->p++;
        size_t cap = 0;
        for (;;) {
            jws(j);
            if (j->p < j->n && j->s[j->p] == (c == '{' ? '}' : ']')) {
                j->p++;
                return;
            }
            if (j->p < j->n && j->s[j->p] == ',') {
                j->p++;
                continue;
            }
            if (j->bad || j->p >= j->n) {
                j->bad = true;
                return;
            }
            if (v->n == cap) {
                cap = cap ? cap * 2 : 4;
                v->kids = kx_realloc(v->kids, cap * sizeof *v->kids);
                v->keys = kx_realloc(v->keys, cap * sizeof *v->keys);
                v->klens = kx_realloc(v->klens, cap * sizeof *v->klens);
            }
            v->keys[v->n] = NULL;
            if (c == '{') {
                jws(j);
                v->keys[v->n] = jstring(j, &v->klens[v->n]);
                jws(j);
                j->p++; /* ':' */
            }
            jparse(j, &v->kids[v->n]);
            v->n++;
        }
    }
    if (c == '"') {
        v->type = J_STR;
        v->s = jstring(j, &v->slen);
        return;
    }
    if (strncmp(j->s + j->p, "true", 4) == 0 || strncmp(j->s + j->p, "false", 5) == 0) {
        v->type = J_BOOL;
        v->b = c == 't';
        j->p += v->b ? 4 : 5;
        return;
    }
    if (strncmp(j->s + j->p, "null", 4) == 0) {
        j->p += 4;
        return;
    }
    size_t s = j->p;
    while (j->p < j->n && strchr("+-0123456789.eE", j->s[j->p]))
        j->p++;
    v->type = J_NUM;
    v->s = kx_strndup(j->s + s, j->p - s);
    if (j->p == s)
        j->bad = true;
}

static void jfree(struct jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->kids[i]);
        kx_free(v->keys[i]);
    }
    kx_free(v->kids);
    kx_free(v->keys);
    kx_free(v->klens);
    kx_free(v->s);
}

static const struct jv *jget(const struct jv *o, const char *k)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->keys[i] && strcmp(o->keys[i], k) == 0)
            return &o->kids[i];
    return NULL;
}

/* ---- comparing a TOML value with toml-test's tagged JSON ------------------------------------ */

static bool is_tagged_scalar(const struct jv *j)
{
    const struct jv *t = jget(j, "type"), *v = jget(j, "value");
    return j->type == J_OBJ && j->n == 2 && t && v && t->type == J_STR && v->type == J_STR;
}

static bool same_datetime(const struct toml_value *tv, const char *expect, kx_buf *why)
{
    /* parse the expected text with our own reader: `x = <text>` */
    kx_arena a;
    kx_arena_init(&a, 1024, 0);
    char doc[128];
    snprintf(doc, sizeof doc, "x = %s", expect);
    const struct toml_value *r = toml_parse(&a, doc, strlen(doc), "<expect>", NULL);
    const struct toml_value *x = toml_get(r, "x");
    bool ok = x && x->type == tv->type && x->u.dt.year == tv->u.dt.year &&
              x->u.dt.month == tv->u.dt.month && x->u.dt.day == tv->u.dt.day &&
              x->u.dt.hour == tv->u.dt.hour && x->u.dt.minute == tv->u.dt.minute &&
              x->u.dt.second == tv->u.dt.second && x->u.dt.nanosecond == tv->u.dt.nanosecond &&
              x->u.dt.offset_min == tv->u.dt.offset_min;
    if (!ok) {
        char got[64];
        toml_datetime_fmt(tv, got, sizeof got);
        kx_buf_addf(why, "datetime %s != expected %s", got, expect);
    }
    kx_arena_fini(&a);
    return ok;
}

static bool same(const struct toml_value *tv, const struct jv *j, const char *path, kx_buf *why)
{
    if (tv->type == TOML_TABLE) {
        if (j->type != J_OBJ || is_tagged_scalar(j) || j->n != tv->len) {
            kx_buf_addf(why, "%s: table with %zu keys vs JSON", path, tv->len);
            return false;
        }
        for (size_t i = 0; i < tv->len; i++) {
            const struct toml_member *m = &tv->u.members[i];
            const struct jv *jk = NULL;
            for (size_t k = 0; k < j->n; k++)
                if (j->klens[k] == m->klen && memcmp(j->keys[k], m->key, m->klen) == 0)
                    jk = &j->kids[k];
            if (!jk) {
                kx_buf_addf(why, "%s: key '%s' not expected", path, m->key);
                return false;
            }
            char sub[512];
            snprintf(sub, sizeof sub, "%s.%s", path, m->key);
            if (!same(m->val, jk, sub, why))
                return false;
        }
        return true;
    }
    if (tv->type == TOML_ARRAY) {
        if (j->type != J_ARR || j->n != tv->len) {
            kx_buf_addf(why, "%s: array of %zu vs JSON", path, tv->len);
            return false;
        }
        for (size_t i = 0; i < tv->len; i++) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (!same(tv->u.items[i], &j->kids[i], sub, why))
                return false;
        }
        return true;
    }
    if (!is_tagged_scalar(j)) {
        kx_buf_addf(why, "%s: scalar vs untagged JSON", path);
        return false;
    }
    const char *type = jget(j, "type")->s;
    const struct jv *val = jget(j, "value");
    static const char *names[] = {"",         "string",         "integer",    "float",     "bool",
                                  "datetime", "datetime-local", "date-local", "time-local"};
    if (tv->type > TOML_TIME_LOCAL || strcmp(names[tv->type], type) != 0) {
        kx_buf_addf(why, "%s: type %s vs expected %s", path, toml_type_name(tv->type), type);
        return false;
    }
    switch (tv->type) {
    case TOML_STRING:
        if (tv->len != val->slen || memcmp(tv->u.s, val->s, tv->len) != 0) {
            kx_buf_addf(why, "%s: string \"%s\" vs \"%s\"", path, tv->u.s, val->s);
            return false;
        }
        return true;
    case TOML_INTEGER: {
        long long e = strtoll(val->s, NULL, 10);
        if (e != tv->u.i) {
            kx_buf_addf(why, "%s: %lld vs %s", path, (long long)tv->u.i, val->s);
            return false;
        }
        return true;
    }
    case TOML_FLOAT: {
        double e = strtod(val->s, NULL);
        bool ok = (isnan(e) && isnan(tv->u.f)) || e == tv->u.f;
        if (!ok)
            kx_buf_addf(why, "%s: %.17g vs %s", path, tv->u.f, val->s);
        return ok;
    }
    case TOML_BOOL:
        if (strcmp(val->s, tv->u.b ? "true" : "false") != 0) {
            kx_buf_addf(why, "%s: bool vs %s", path, val->s);
            return false;
        }
        return true;
    default: return same_datetime(tv, val->s, why);
    }
}

/* ---- toml-test driver ------------------------------------------------------------------------ */

TEST(toml_test_suite)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: toml-test not run");
    char path[1024];
    snprintf(path, sizeof path, "%s/toml-test/tests/files-toml-1.0.0", root);
    char *list = t_read_file(path, NULL);
    if (!list)
        t_skip("%s absent", path);
    size_t nvalid = 0, ninvalid = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        size_t ll = strlen(line);
        if (ll < 5 || strcmp(line + ll - 5, ".toml") != 0)
            continue;
        bool valid = strncmp(line, "valid/", 6) == 0;
        snprintf(path, sizeof path, "%s/toml-test/tests/%s", root, line);
        size_t len;
        char *text = t_read_file(path, &len);
        kx_arena a;
        kx_arena_init(&a, 4096, 64u << 20);
        kad_err err;
        kad_err_clear(&err);
        const struct toml_value *doc = text ? toml_parse(&a, text, len, line, &err) : NULL;
        char name[600];
        snprintf(name, sizeof name, "toml-test %s", line);
        if (!valid) {
            t_case(text && !doc && err.line > 0, name,
                   doc ? "accepted an invalid document" : "no position in the error");
            ninvalid++;
        } else if (!doc) {
            char msg[512];
            kad_err_format(&err, msg, sizeof msg);
            t_case(false, name, msg);
            nvalid++;
        } else {
            snprintf(path + strlen(path) - 5, 8, ".json");
            size_t jl;
            char *js = t_read_file(path, &jl);
            struct jp jp = {js, js ? jl : 0, 0, false};
            struct jv jv;
            jparse(&jp, &jv);
            kx_buf why;
            kx_buf_init(&why, 1 << 16);
            bool ok = js && !jp.bad && same(doc, &jv, "", &why);
            t_case(ok, name, why.ptr ? why.ptr : "bad expected JSON");
            kx_buf_fini(&why);
            jfree(&jv);
            kx_free(js);
            nvalid++;
        }
        kx_arena_fini(&a);
        kx_free(text);
    }
    kx_free(list);
    ASSERT(nvalid > 200);
    ASSERT(ninvalid > 400);
}

/* ---- our own cases --------------------------------------------------------------------------- */

static const struct toml_value *P(kx_arena *a, const char *text, kad_err *err)
{
    kad_err_clear(err);
    return toml_parse(a, text, strlen(text), "t.toml", err);
}

static void expect_error(const char *text, const char *msg)
{
    kx_arena a;
    kx_arena_init(&a, 1024, 0);
    kad_err err;
    const struct toml_value *r = P(&a, text, &err);
    char got[512];
    kad_err_format(&err, got, sizeof got);
    kx_arena_fini(&a);
    if (r)
        t_fail(__FILE__, __LINE__, "accepted: %s", text);
    if (strcmp(got, msg) != 0)
        t_fail(__FILE__, __LINE__, "for %s\n  got:      %s\n  expected: %s", text, got, msg);
}

TEST(toml_scalars)
{
    kx_arena a;
    kx_arena_init(&a, 1024, 0);
    kad_err err;
    const struct toml_value *r =
        P(&a,
          "s = \"a\\tb\\u00e9\\U0001F600\"\nl = 'C:\\x'\ni = -1_000\nh = 0xdead_BEEF\no = 0o17\n"
          "b = 0b101\nf = 6.5e-1\ninf1 = -inf\nt = true\nd = 1979-05-27T07:32:00.5-07:00\n"
          "ld = 1979-05-27\nlt = 07:32:00\nldt = 1979-05-27 07:32:00\nbig = 9223372036854775807\n",
          &err);
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ(toml_get(r, "s")->u.s, "a\tb\xc3\xa9\xf0\x9f\x98\x80");
    ASSERT_STR_EQ(toml_get(r, "l")->u.s, "C:\\x");
    ASSERT_EQ(toml_get(r, "i")->u.i, -1000);
    ASSERT_EQ(toml_get(r, "h")->u.i, 0xdeadbeef);
    ASSERT_EQ(toml_get(r, "o")->u.i, 15);
    ASSERT_EQ(toml_get(r, "b")->u.i, 5);
    ASSERT(toml_get(r, "f")->u.f == 0.65);
    ASSERT(isinf(toml_get(r, "inf1")->u.f) && toml_get(r, "inf1")->u.f < 0);
    ASSERT(toml_get(r, "t")->u.b);
    const struct toml_value *d = toml_get(r, "d");
    ASSERT_EQ(d->type, TOML_DATETIME);
    ASSERT_EQ(d->u.dt.offset_min, -420);
    ASSERT_EQ(toml_datetime_epoch_ms(d), 296663520500LL);
    char buf[64];
    toml_datetime_fmt(d, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "1979-05-27T07:32:00.5-07:00");
    ASSERT_EQ(toml_get(r, "ld")->type, TOML_DATE_LOCAL);
    ASSERT_EQ(toml_get(r, "lt")->type, TOML_TIME_LOCAL);
    ASSERT_EQ(toml_get(r, "ldt")->type, TOML_DATETIME_LOCAL);
    ASSERT_EQ(toml_get(r, "big")->u.i, INT64_MAX);
    kx_arena_fini(&a);
}

TEST(toml_tables_and_arrays)
{
    kx_arena a;
    kx_arena_init(&a, 1024, 0);
    kad_err err;
    const struct toml_value *r = P(&a,
                                   "a.b = 1\n[x.y]\nz = [1, [2, 3], {k = 'v', m.n = 4},]\n"
                                   "[x]\nw = 2\n[[aot]]\nq = 1\n[[aot]]\nq = 2\n[aot.sub]\nr = 3\n",
                                   &err);
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(toml_get(toml_get(r, "a"), "b")->u.i, 1);
    const struct toml_value *z = toml_get(toml_get(toml_get(r, "x"), "y"), "z");
    ASSERT_EQ(z->type, TOML_ARRAY);
    ASSERT_EQ(z->len, 3);
    ASSERT_EQ(z->u.items[1]->len, 2);
    ASSERT_EQ(toml_get(toml_get(z->u.items[2], "m"), "n")->u.i, 4);
    const struct toml_value *aot = toml_get(r, "aot");
    ASSERT_EQ(aot->len, 2);
    ASSERT_EQ(toml_get(toml_get(aot->u.items[1], "sub"), "r")->u.i, 3);
    kx_arena_fini(&a);
}

TEST(toml_many_keys_use_index)
{
    kx_buf b;
    kx_buf_init(&b, 1 << 20);
    for (int i = 0; i < 500; i++)
        kx_buf_addf(&b, "k%d = %d\n", i, i);
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    const struct toml_value *r = toml_parse(&a, b.ptr, b.len, "t", &err);
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(r->len, 500);
    ASSERT_EQ(toml_get(r, "k377")->u.i, 377);
    ASSERT_NULL(toml_get(r, "k500"));
    kx_buf_addf(&b, "k250 = 1\n");
    ASSERT_NULL(toml_parse(&a, b.ptr, b.len, "t", &err));
    kx_arena_fini(&a);
    kx_buf_fini(&b);
}

TEST(toml_multiline_strings)
{
    kx_arena a;
    kx_arena_init(&a, 1024, 0);
    kad_err err;
    const struct toml_value *r = P(&a,
                                   "a = \"\"\"\nline1\\\n    line2 \\\"\"\"\"\"\n"
                                   "b = '''\r\nraw \\n''''\nc = \"\"\"x\r\ny\"\"\"\n",
                                   &err);
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ(toml_get(r, "a")->u.s, "line1line2 \"\"");
    ASSERT_STR_EQ(toml_get(r, "b")->u.s, "raw \\n'");
    ASSERT_STR_EQ(toml_get(r, "c")->u.s, "x\ny");
    kx_arena_fini(&a);
}

TEST(toml_source_offsets_of_strings)
{
    kx_arena a;
    kx_arena_init(&a, 1024, 0);
    kad_err err;
    const char *text = "q = '''\nab\ncd'''\nr = \"x\\ty\"\ns = \"\"\"\\\n   z\"\"\"\n";
    const struct toml_value *r = toml_parse(&a, text, strlen(text), "t", &err);
    ASSERT_NOT_NULL(r);
    const struct toml_value *q = toml_get(r, "q");
    ASSERT_EQ(toml_str_source_offset(text, strlen(text), q, 0), 8);  /* 'a' */
    ASSERT_EQ(toml_str_source_offset(text, strlen(text), q, 3), 11); /* 'c' */
    const struct toml_value *rv = toml_get(r, "r");
    ASSERT_EQ(text[toml_str_source_offset(text, strlen(text), rv, 2)], 'y');
    const struct toml_value *s = toml_get(r, "s");
    ASSERT_EQ(text[toml_str_source_offset(text, strlen(text), s, 0)], 'z');
    kx_arena_fini(&a);
}

TEST(toml_errors_are_positioned)
{
    expect_error("a = 1\na = 2\n", "t.toml:2:1: error: duplicate key 'a'");
    expect_error("a = \n", "t.toml:1:5: error: expected a value, found end of line");
    expect_error("[t]\nx=1\n[t]\n", "t.toml:3:1: error: table 't' is defined twice");
    expect_error("a = \"abc\n", "t.toml:1:9: error: unterminated string: end of line before the "
                                "closing quote");
    expect_error("a = {b = 1\n",
                 "t.toml:1:11: error: expected ',' or '}' in inline table, found end of line (an "
                 "inline table must be on one line)");
    expect_error("a = 01\n", "t.toml:1:5: error: invalid number '01': leading zeros are not "
                             "allowed");
    expect_error("a = [1 2]\n", "t.toml:1:8: error: expected ',' or ']' in array, found '2'");
    expect_error("x = 1 y\n", "t.toml:1:7: error: expected a new line after a value, found 'y'");
    expect_error("a = 1979-02-29\n", "t.toml:1:13: error: invalid date: day 29 is out of range");
    expect_error("a = \"\\q\"\n", "t.toml:1:6: error: invalid escape sequence '\\q'");
    expect_error("a = yes\n", "t.toml:1:5: error: invalid value 'yes' (strings must be quoted)");
    expect_error("a.b = 1\n[a.b]\n",
                 "t.toml:2:1: error: cannot define table 'a.b': it is already an integer");
    expect_error("a = {}\n[a.b]\n", "t.toml:2:2: error: cannot add a table to inline table 'a'");
    expect_error("[a]\nb.c = 1\n[a.b]\n",
                 "t.toml:3:1: error: table 'a.b' is already defined by dotted keys");
    expect_error("a = [1]\n[[a]]\n", "t.toml:2:1: error: cannot append to static array 'a' "
                                     "with [[a]]");
    expect_error("a = \"\xff\"\n", "t.toml:1:6: error: invalid UTF-8");
    expect_error("a = 9223372036854775808\n",
                 "t.toml:1:5: error: integer '9223372036854775808' is out of range");
}

TEST(toml_depth_limit)
{
    kx_buf b;
    kx_buf_init(&b, 1 << 20);
    kx_buf_adds(&b, "a = ");
    for (int i = 0; i < TOML_MAX_DEPTH + 5; i++)
        kx_buf_addc(&b, '[');
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    ASSERT_NULL(toml_parse(&a, b.ptr, b.len, "t", &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    kx_arena_fini(&a);
    kx_buf_fini(&b);
}
