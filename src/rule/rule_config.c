/*
 * rule_config.c - arrays of tables of kadet's configuration file (`[[sink]]`), read with the
 * rule module's TOML reader and handed out as key/value strings (rule.h).
 */
#include "rule/rule.h"
#include "rule/toml.h"

#include "base/alloc.h"
#include "base/err.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CFG_MAX_BYTES (16u << 20)

static char *read_all(const char *path, size_t *len, kad_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        kx_err_setf(err, KAD_ENOTFOUND, "%s: %s", path, strerror(errno));
        return NULL;
    }
    kx_buf b;
    kx_buf_init(&b, CFG_MAX_BYTES);
    char tmp[65536];
    size_t n;
    bool over = false;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (kx_buf_add(&b, tmp, n) != KAD_OK) {
            over = true;
            break;
        }
    bool bad = ferror(f);
    fclose(f);
    if (bad || over) {
        kx_buf_fini(&b);
        kx_err_setf(err, bad ? KAD_EIO : KAD_ELIMIT, "%s: %s", path,
                    bad ? "read error" : "larger than 16 MiB");
        return NULL;
    }
    kx_buf_addc(&b, '\0');
    return kx_buf_take(&b, len);
}

int rule_config_tables(const char *path, const char *name,
                       int (*fn)(const struct rule_cfg_kv *kv, size_t n, uint32_t line, void *ud),
                       void *ud, kad_err *err)
{
    size_t len = 0;
    char *text = read_all(path, &len, err);
    if (!text)
        return err ? err->code : KAD_EIO;
    if (len)
        len--; /* the NUL */
    kx_arena ar;
    kx_arena_init(&ar, 64 * 1024, (size_t)256 << 20);
    int rc = KAD_OK;
    const struct toml_value *root = toml_parse(&ar, text, len, path, err);
    const struct toml_value *arr = root ? toml_get(root, name) : NULL;
    if (!root) {
        rc = err && err->code ? err->code : KAD_ESYNTAX;
    } else if (arr && arr->type != TOML_ARRAY) {
        rc = kx_err_at(err, KAD_EINVAL, path, text, len, arr->offset,
                       "'%s' must be an array of tables ([[%s]])", name, name);
    }
    struct rule_cfg_kv *kv = kx_calloc(RULE_CFG_KV_MAX, sizeof(*kv));
    char(*num)[32] = kx_calloc(RULE_CFG_KV_MAX, 32);
    for (size_t t = 0; rc == KAD_OK && arr && t < arr->len; t++) {
        const struct toml_value *tab = arr->u.items[t];
        if (tab->type != TOML_TABLE) {
            rc = kx_err_at(err, KAD_EINVAL, path, text, len, tab->offset,
                           "'%s' must be an array of tables ([[%s]])", name, name);
            break;
        }
        size_t n = 0;
        for (size_t i = 0; rc == KAD_OK && i < tab->len; i++) {
            const struct toml_member *mb = &tab->u.members[i];
            const struct toml_value *v = mb->val;
            size_t nitems = v->type == TOML_ARRAY ? v->len : 1;
            for (size_t j = 0; rc == KAD_OK && j < nitems; j++) {
                const struct toml_value *x = v->type == TOML_ARRAY ? v->u.items[j] : v;
                if (n == RULE_CFG_KV_MAX) {
                    rc = kx_err_at(err, KAD_ELIMIT, path, text, len, x->offset,
                                   "more than %d settings in one [[%s]]", RULE_CFG_KV_MAX, name);
                    break;
                }
                const char *val = NULL;
                if (x->type == TOML_STRING) {
                    val = x->u.s;
                } else if (x->type == TOML_INTEGER) {
                    snprintf(num[n], 32, "%" PRId64, x->u.i);
                    val = num[n];
                } else if (x->type == TOML_BOOL) {
                    val = x->u.b ? "true" : "false";
                } else {
                    rc = kx_err_at(err, KAD_EINVAL, path, text, len, x->offset,
                                   "%s: expected a string, an integer, a boolean or an array of "
                                   "strings, got %s",
                                   mb->key, toml_type_name(x->type));
                    break;
                }
                kv[n].key = mb->key;
                kv[n].val = val;
                kx_locate(text, len, x->offset, &kv[n].line, &kv[n].col);
                n++;
            }
        }
        if (rc == KAD_OK) {
            uint32_t line = 0, col = 0;
            kx_locate(text, len, tab->offset, &line, &col);
            rc = fn(kv, n, line, ud);
        }
    }
    kx_free(num);
    kx_free(kv);
    kx_arena_fini(&ar);
    kx_free(text);
    return rc;
}
