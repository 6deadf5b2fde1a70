/*
 * kql.h - the KQL module's only header for other modules (owned by the KQL module).
 *
 * CONTRACT FIXED BY THE FOUNDATION (the rules and detect modules code against these names; the
 * KQL module may add functions here but must keep these):
 *
 *   struct kql_query *kql_compile(kad_arena *a, const char *src, size_t len,
 *                                 const char *origin, kad_err *err);
 *       Parse and compile. All memory comes from `a` (the ruleset arena) and lives as long as
 *       it does. On error returns NULL and fills err with origin:1:col (col is 1-based, bytes)
 *       and Kibana-style "expected ..." wording.
 *   bool kql_match(const struct kql_query *q, const struct ev_node *doc);
 *       Evaluate against one document (event.h). Never allocates, never fails.
 *   int kql_dump(const struct kql_query *q, kad_buf *out);
 *       Canonical s-expression of the AST (tests, `kadet rules show`).
 *   size_t kql_field_count(const struct kql_query *q);
 *   const char *kql_field(const struct kql_query *q, size_t i);
 *       The distinct field paths the query reads (for the extractor's path trie). A field-name
 *       pattern or free text needs the whole document: kql_needs_all() is then true.
 *   bool kql_needs_all(const struct kql_query *q);
 */
#ifndef KAD_KQL_H
#define KAD_KQL_H

#include "base/arena.h"
#include "base/buf.h"
#include "event/event.h"
#include "kad.h"
#include <stdbool.h>
#include <stddef.h>

struct kql_query;

struct kql_query *kql_compile(kad_arena *a, const char *src, size_t len, const char *origin,
                              kad_err *err);
bool kql_match(const struct kql_query *q, const struct ev_node *doc);
int kql_dump(const struct kql_query *q, kad_buf *out);
size_t kql_field_count(const struct kql_query *q);
const char *kql_field(const struct kql_query *q, size_t i);
bool kql_needs_all(const struct kql_query *q);

#endif
