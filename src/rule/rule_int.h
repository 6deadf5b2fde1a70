/*
 * rule_int.h - private declarations shared by the files of the rule module (not for other
 * modules: they use rule.h).
 */
#ifndef KAD_RULE_INT_H
#define KAD_RULE_INT_H

#include "base/arena.h"
#include "base/err.h"
#include "base/vec.h"
#include "rule/rule.h"
#include "rule/toml.h"

/* Maximum size of one rule or exceptions file. */
#define RULE_MAX_FILE ((size_t)8 << 20)

/* ---- exceptions (rule_exceptions.c) ---------------------------------------------------------- */

enum exc_type { EXC_MATCH, EXC_MATCH_ANY, EXC_EXISTS, EXC_WILDCARD, EXC_LIST, EXC_NESTED, EXC_KQL };

struct exc_entry {
    uint8_t type;  /* enum exc_type */
    bool excluded; /* operator "excluded": the entry is negated */
    const char *field;
    struct rule_strlist values; /* match: 1, match_any/list: n, wildcard: 1 pattern */
    struct exc_entry *sub;      /* nested: entries applied to one element of `field` */
    size_t sub_n;
    /* EXC_KQL: the shorthand's query; match/match_any: `"field":("v" or ...)`, so values are
     * compared as KQL compares a quoted value (numbers by value, booleans, CIDR blocks) */
    const struct kql_query *kql;
};

struct exc_item {
    const char *id;    /* item_id, or the shorthand's id */
    const char *name;  /* for warnings */
    int64_t expire_ms; /* INT64_MAX when the item never expires */
    struct exc_entry *entries;
    size_t n;
    /* os_types: the item applies only where host.os.type or host.os.name.caseless is one of
     * them (Kibana's transformOsType); NULL when the item has none */
    const struct kql_query *os;
};

struct rule_exc_list {
    const char *path;    /* file it came from */
    const char *list_id; /* Elastic list_id (NULL for shorthand items) */
    const char *name;
    struct rule_strlist rule_ids;   /* attach by rule_id ("*" = every rule) */
    struct rule_strlist rule_names; /* attach by rule name */
    struct exc_item *items;
    size_t n;
    const char *describe; /* "LIST: N items (FILE)" */
    uint32_t line, col;   /* where its rule ids (else the list) are written; 0 when unknown */
};

/* ---- the set (ruleset.c) --------------------------------------------------------------------- */

struct rule_set {
    kx_arena arena; /* rules, strings, compiled queries, diagnostics' origins, exceptions */
    KX_VEC(struct rule *) rules;
    KX_VEC(struct rule_diag) diags;
    KX_VEC(struct rule_exc_list *) lists;
    size_t files;
    bool had_error;
    struct kx_lines lines; /* line index of the text being loaded (rs_diag), forgotten after */
};

/* Record a diagnostic at byte `offset` of `text` (line/col computed) or, with text NULL, at
   line/col given through offset = line, col. `origin` is copied into the set. */
void rs_diag(struct rule_set *rs, bool is_error, const char *origin, const char *text, size_t len,
             size_t offset, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
void rs_diag_lc(struct rule_set *rs, bool is_error, const char *origin, uint32_t line, uint32_t col,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Record an error already in a kad_err (origin copied). */
void rs_diag_err(struct rule_set *rs, bool is_error, const kad_err *e);
/* Copy of s in the set's arena (never NULL for non-NULL s). */
char *rs_strdup(struct rule_set *rs, const char *s);

/* Read a whole file (at most RULE_MAX_FILE); diagnostics on failure. Caller kx_free()s. */
char *rs_read_file(struct rule_set *rs, const char *path, size_t *len);

/* rule_load.c: byte offset in the document `text` of the position a KQL error `e` names inside
   the string value qv (the compiled query). */
size_t rule_kql_err_pos(const char *text, size_t len, const struct toml_value *qv,
                        const kad_err *e);
/* rule_load.c: load every rule of one TOML file's text. */
void rule_load_text(struct rule_set *rs, const char *path, const char *text, size_t len);

/* rule_lint.c: the fields a rule's query names and where (kept for rule_set_lint). */
struct rule_qfield {
    const char *path;
    uint32_t line, col;
    bool pattern;
};
void rule_lint_collect(struct rule_set *rs, struct rule *r, const char *text, size_t len,
                       const struct toml_value *qv);

/* rule_exceptions.c: load one exceptions file's text (format chosen from the content). */
void rule_exc_load_text(struct rule_set *rs, const char *path, const char *text, size_t len);
/* Recompute each rule's attached exception lists. */
void rule_exc_attach(struct rule_set *rs);

/* rule_datemath.c: rule_parse_datemath's fixed form, and whether it is exact (no rounding,
   no month or year steps), i.e. the same length whatever `now` is. */
int rule_datemath_info(const char *s, int64_t *ms, bool *absolute, bool *exact, kad_err *err);

/* rule_types.c: the table of rule types. */
struct rule_type_def {
    const char *name;
    enum rule_type type;
    bool runs_kql; /* query and new_terms: `query` is KQL/Lucene and is compiled */
    bool runs_eql; /* eql: `query` is EQL and is compiled */
};
const struct rule_type_def *rule_type_find(const char *name);

#endif
