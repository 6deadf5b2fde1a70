/*
 * rule_types.c - the table of Elastic rule types kadet knows (Suricata's sigmatch_table idea).
 *
 * `query` and `new_terms` run with KQL queries, `eql` with EQL (src/eql) and `esql` with ES|QL
 * (src/esql) queries, compiled at load; the others are recognised so that a directory of Elastic
 * rules loads cleanly: they are kept in the set as RULE_UNSUPPORTED, reported once as a warning,
 * and skipped at run time. A type missing from this table is an error. The per-type checks
 * (new-terms fields, history window) live in rule_load.c next to the keys they read.
 */
#include "rule/rule_int.h"

#include <string.h>

static const struct rule_type_def types[] = {
    {"query", RULE_QUERY, true, false},
    {"new_terms", RULE_NEW_TERMS, true, false},
    {"eql", RULE_EQL, false, true},
    {"esql", RULE_ESQL, false, false},
    {"threshold", RULE_UNSUPPORTED, false, false},
    {"machine_learning", RULE_UNSUPPORTED, false, false},
    {"threat_match", RULE_UNSUPPORTED, false, false},
    {"saved_query", RULE_UNSUPPORTED, false, false},
};

const struct rule_type_def *rule_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}
