/*
 * rule_exc_write.c - writing an exception file of proposed allow-list items (rule.h,
 * rule_exc_write_header/_item) in the detection-rules TOML format that rule_exc_load reads.
 */
#include "rule/rule_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Append s as a TOML basic string. */
static void toml_str(kx_buf *b, const char *s, size_t n)
{
    kx_buf_addc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            kx_buf_addc(b, '\\');
            kx_buf_addc(b, (char)ch);
        } else if (ch == '\n') {
            kx_buf_adds(b, "\\n");
        } else if (ch == '\t') {
            kx_buf_adds(b, "\\t");
        } else if (ch < 0x20 || ch == 0x7F) {
            kx_buf_addf(b, "\\u%04X", ch);
        } else {
            kx_buf_addc(b, (char)ch);
        }
    }
    kx_buf_addc(b, '"');
}

static void toml_key_str(kx_buf *b, const char *key, const char *s)
{
    kx_buf_addf(b, "%s = ", key);
    toml_str(b, s, strlen(s));
    kx_buf_addc(b, '\n');
}

void rule_exc_write_header(kx_buf *b, const struct rule_exc_proposal *p)
{
    char day[16] = "1970/01/01", from[32], to[32], list_name[512], list_id[512];
    time_t s = (time_t)(p->to_ms / 1000);
    struct tm tm;
    if (gmtime_r(&s, &tm))
        strftime(day, sizeof(day), "%Y/%m/%d", &tm);
    ev_time_fmt_ms(p->from_ms, from);
    ev_time_fmt_ms(p->to_ms, to);
    snprintf(list_name, sizeof(list_name), "kadet proposals: %s", p->name);
    snprintf(list_id, sizeof(list_id), "kadet-proposals-%s", p->rule_id);
    kx_buf_addf(b,
                "# Exception items proposed by `kadet state propose`: combinations of this rule's\n"
                "# new-terms values seen through its whole baseline,\n"
                "# from %s to %s.\n"
                "# kadet never applies them on its own: review, then pass this file with\n"
                "# --exceptions.\n\n[metadata]\n",
                from, to);
    kx_buf_addf(b, "creation_date = \"%s\"\n", day);
    toml_key_str(b, "list_name", list_name);
    kx_buf_adds(b, "rule_ids = [");
    toml_str(b, p->rule_id, strlen(p->rule_id));
    kx_buf_adds(b, "]\nrule_names = [");
    toml_str(b, p->name, strlen(p->name));
    kx_buf_addf(b, "]\nupdated_date = \"%s\"\n\n[[exceptions]]\n\n[exceptions.container]\n", day);
    toml_key_str(b, "description", "Combinations kadet saw through the whole baseline");
    toml_key_str(b, "list_id", list_id);
    toml_key_str(b, "name", list_name);
    kx_buf_adds(b, "namespace_type = \"single\"\ntype = \"detection\"\n");
}

void rule_exc_write_item(kx_buf *b, const struct rule_exc_proposal *p, size_t item_no,
                         int64_t first_seen, int64_t last_seen, const kx_str *values, size_t n)
{
    char first[32], last[32], text[600];
    ev_time_fmt_ms(first_seen, first);
    ev_time_fmt_ms(last_seen, last);
    kx_buf_adds(b, "\n[[exceptions.items]]\ncomments = []\n");
    snprintf(text, sizeof(text), "first seen %s, last seen %s", first, last);
    toml_key_str(b, "description", text);
    snprintf(text, sizeof(text), "kadet-proposal-%zu", item_no);
    toml_key_str(b, "item_id", text);
    snprintf(text, sizeof(text), "kadet-proposals-%s", p->rule_id);
    toml_key_str(b, "list_id", text);
    kx_buf_adds(b, "name = ");
    kx_buf nm;
    kx_buf_init(&nm, 0);
    for (size_t i = 0; i < n && i < p->nfields; i++)
        kx_buf_addf(&nm, "%s%s=%.*s", i ? ", " : "", p->fields[i], (int)values[i].len,
                    values[i].ptr);
    toml_str(b, nm.ptr ? nm.ptr : "", nm.len);
    kx_buf_fini(&nm);
    kx_buf_adds(b, "\ntags = [\"kadet-proposal\"]\ntype = \"simple\"\n");
    for (size_t i = 0; i < n && i < p->nfields; i++) {
        kx_buf_adds(b, "\n[[exceptions.items.entries]]\n");
        toml_key_str(b, "field", p->fields[i]);
        kx_buf_adds(b, "operator = \"included\"\ntype = \"match\"\nvalue = ");
        toml_str(b, values[i].ptr, values[i].len);
        kx_buf_addc(b, '\n');
    }
}
