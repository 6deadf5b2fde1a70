/*
 * fuzz_toml.c - the TOML reader on arbitrary bytes.
 *
 * Checks beyond "no crash, no leak": the reader returns either a document or a positioned
 * error, never both and never neither; every string's source mapping stays inside the input;
 * every date/time value formats.
 */
#include "fuzz.h"

#include "base/arena.h"
#include "rule/toml.h"

#include <stdlib.h>

static void walk(const struct toml_value *v, const char *text, size_t len, int depth)
{
    if (depth > TOML_MAX_DEPTH * 2 + 8)
        abort();
    switch (v->type) {
    case TOML_TABLE:
        for (size_t i = 0; i < v->len; i++) {
            const struct toml_member *m = &v->u.members[i];
            if (toml_getn(v, m->key, m->klen) != m->val)
                abort();
            walk(m->val, text, len, depth + 1);
        }
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < v->len; i++)
            walk(v->u.items[i], text, len, depth + 1);
        break;
    case TOML_STRING:
        for (size_t off = 0; off <= v->len; off += 1 + v->len / 4)
            if (toml_str_source_offset(text, len, v, off) > len)
                abort();
        break;
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL: {
        char buf[64];
        if (toml_datetime_fmt(v, buf, sizeof buf) <= 0)
            abort();
        (void)toml_datetime_epoch_ms(v);
        break;
    }
    default: break;
    }
}

FUZZ_TARGET(toml)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 32u << 20);
    kad_err err;
    kad_err_clear(&err);
    const struct toml_value *root = toml_parse(&a, (const char *)data, size, "<fuzz>", &err);
    if (root) {
        if (err.code != KAD_OK)
            abort();
        walk(root, (const char *)data, size, 0);
    } else if (err.code == KAD_OK || err.line == 0) {
        abort();
    }
    kx_arena_fini(&a);
    return 0;
}
