/*
 * test_alerts.c - the alert index (kad_alerts in include/kad.h, src/state/state_alerts.c):
 * indexing alert lines (duplicates and bad lines), the filters, keyset pages under inserts,
 * triage (all or nothing, history), the export's workflow status, the file beside the state.
 */
#include "kad.h"
#include "t_redis.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

/* One alert document as the engine writes it (the keys the index reads). */
static void alert_line(char *out, size_t size, const char *id, const char *rule, const char *sev,
                       const char *user, const char *time, const char *ua)
{
    snprintf(
        out, size,
        "{\"user\":{\"name\":\"%s\"},\"user_agent\":{\"original\":\"%s\"},"
        "\"@timestamp\":\"2026-03-02T00:00:00.000Z\",\"kibana.alert.new_terms\":[\"%s\",\"%s\"],"
        "\"kibana.alert.original_time\":\"%s\",\"kibana.alert.reason\":\"event by %s\","
        "\"kibana.alert.rule.name\":\"Rule %s\",\"kibana.alert.rule.rule_id\":\"%s\","
        "\"kibana.alert.severity\":\"%s\",\"kibana.alert.uuid\":\"%s\","
        "\"kibana.alert.workflow_status\":\"open\"}\n",
        user, ua, user, ua, time, user, rule, rule, sev, id);
}

/* Alerts a1 and a2 of rule r1 by alice, an hour apart, appended to buf. */
static void two_alerts(char *buf, size_t size)
{
    char line[1024];
    alert_line(line, sizeof(line), "a1", "r1", "low", "alice", "2026-03-01T00:00:00.000Z", "x");
    strncat(buf, line, size - strlen(buf) - 1);
    alert_line(line, sizeof(line), "a2", "r1", "low", "alice", "2026-03-01T01:00:00.000Z", "y");
    strncat(buf, line, size - strlen(buf) - 1);
}

struct collect {
    char ids[64][40];
    size_t n;
    char status[16];
};
static int collect_row(const kad_alert_row *r, void *ud)
{
    struct collect *c = ud;
    if (c->n < 64)
        snprintf(c->ids[c->n++], 40, "%s", r->id);
    snprintf(c->status, sizeof(c->status), "%s", r->status);
    return 0;
}

static int add(kad_alerts *a, const char *text, size_t *added, size_t *bad)
{
    kad_err err;
    return kad_alerts_add(a, text, strlen(text), added, bad, &err);
}

TEST(alerts_index_filters_and_pages)
{
    kad_alerts *a = NULL;
    kad_err err;
    ASSERT_OK(kad_alerts_open(&a, NULL, &err));
    char buf[16384] = "", line[1024];
    for (int i = 0; i < 20; i++) {
        char id[40], t[40];
        snprintf(id, sizeof(id), "id%02d", i);
        snprintf(t, sizeof(t), "2026-03-01T%02d:00:00.000Z", i);
        alert_line(line, sizeof(line), id, i % 2 ? "r1" : "r2", i < 5 ? "high" : "low",
                   i % 3 ? "alice" : "bob", t, i == 7 ? "curl/8.0" : "kubectl/1.29");
        strcat(buf, line);
    }
    strcat(buf, "not json\n{\"no\":\"uuid\"}\n\n");
    size_t added = 0, bad = 0;
    ASSERT_OK(add(a, buf, &added, &bad));
    ASSERT_EQ(added, 20u);
    ASSERT_EQ(bad, 2u);
    ASSERT_OK(add(a, buf, &added, &bad)); /* again: every id known */
    ASSERT_EQ(added, 0u);

    kad_alert_filter f;
    kad_alert_filter_init(&f);
    uint64_t n = 0;
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 20u);
    f.rule = "r1";
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 10u);
    f.rule = "Rule r2"; /* by name too */
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 10u);
    kad_alert_filter_init(&f);
    f.severity = "high";
    f.user = "bob";
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 2u); /* i = 0, 3 */
    kad_alert_filter_init(&f);
    f.text = "CURL/"; /* case-insensitive substring of the document */
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 1u);
    f.text = "100%"; /* LIKE wildcards are literal */
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 0u);
    kad_alert_filter_init(&f);
    ASSERT_TRUE(kad_time_parse("2026-03-01T10:00:00Z", 20, &f.from_ms));
    ASSERT_TRUE(kad_time_parse("2026-03-01T12:00:00Z", 20, &f.to_ms));
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 2u); /* [10:00, 12:00) */
    kad_alert_filter_init(&f);
    kad_alert_cond conds[2] = {{.field = "user_agent.original", .value = "curl/8.0"},
                               {.field = "user.name", .value = "alice"}};
    f.conds = conds;
    f.nconds = 2;
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 1u);

    /* keyset pages: newest first; an insert between pages moves nothing */
    kad_alert_filter_init(&f);
    f.limit = 6;
    struct collect p1 = {0}, p2 = {0};
    ASSERT_OK(kad_alerts_find(a, &f, collect_row, &p1, &err));
    ASSERT_EQ(p1.n, 6u);
    ASSERT_STR_EQ(p1.ids[0], "id19");
    ASSERT_STR_EQ(p1.ids[5], "id14");
    alert_line(line, sizeof(line), "idNEW", "r1", "low", "carol", "2026-03-01T23:00:00.000Z", "x");
    ASSERT_OK(add(a, line, &added, NULL));
    alert_line(line, sizeof(line), "idOLD", "r1", "low", "carol", "2026-02-01T00:00:00.000Z", "x");
    ASSERT_OK(add(a, line, &added, NULL));
    f.after_id = "id14";
    ASSERT_TRUE(kad_time_parse("2026-03-01T14:00:00Z", 20, &f.after_ms));
    ASSERT_OK(kad_alerts_find(a, &f, collect_row, &p2, &err));
    ASSERT_EQ(p2.n, 6u);
    ASSERT_STR_EQ(p2.ids[0], "id13");
    ASSERT_STR_EQ(p2.ids[5], "id08");
    kad_alerts_close(a);
}

TEST(alerts_triage_and_export)
{
    char dir[] = "/tmp/kadet-alerts-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char state[256], file[300];
    snprintf(state, sizeof(state), "%s/state.db", dir);
    kad_alerts *a = NULL;
    kad_err err;
    ASSERT_OK(kad_alerts_open(&a, state, &err));
    snprintf(file, sizeof(file), "%s.alerts", state);
    ASSERT_STR_EQ(kad_alerts_path(a), file);
    ASSERT_OK(access(file, F_OK));
    char buf[4096] = "";
    two_alerts(buf, sizeof(buf));
    ASSERT_OK(add(a, buf, NULL, NULL));

    const char *bad[2] = {"a1", "nope"};
    size_t changed = 9;
    ASSERT_EQ(kad_alerts_set_status(a, bad, 2, "closed", "", "ana", 1000, &changed, &err),
              KAD_ENOTFOUND);
    ASSERT_EQ(changed, 0u);
    ASSERT_EQ(kad_alerts_set_status(a, bad, 1, "done", "", "ana", 1000, &changed, &err),
              KAD_EINVAL);
    struct collect c = {0};
    ASSERT_OK(kad_alerts_get(a, "a1", collect_row, &c, &err));
    ASSERT_STR_EQ(c.status, "open"); /* the failed bulk call changed nothing */
    const char *ok[2] = {"a1", "a2"};
    ASSERT_OK(
        kad_alerts_set_status(a, ok, 2, "acknowledged", "looking", "ana", 2000, &changed, &err));
    ASSERT_EQ(changed, 2u);
    kad_alerts_close(a);

    /* reopened: the status persisted; the export carries it */
    ASSERT_OK(kad_alerts_open(&a, state, &err));
    kad_alert_filter f;
    kad_alert_filter_init(&f);
    f.status = "acknowledged";
    uint64_t n = 0;
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 2u);
    ASSERT_EQ(kad_alerts_get(a, "zzz", collect_row, &c, &err), KAD_ENOTFOUND);
    kad_alert_row r = {.doc = "{\"x\":1,\"kibana.alert.workflow_status\":\"open\",\"y\":2}",
                       .status = "closed"};
    r.doc_len = strlen(r.doc);
    size_t len = 0;
    char *ex = kad_alert_row_export(&r, &len);
    ASSERT_STR_EQ(ex, "{\"x\":1,\"kibana.alert.workflow_status\":\"closed\",\"y\":2}");
    ASSERT_EQ(len, strlen(ex));
    kad_free(ex);
    kad_alerts_close(a);
    /* a redis:// state: the index connects to the server (port 1 refuses) */
    ASSERT_EQ(kad_alerts_open(&a, "redis://127.0.0.1:1/0", &err), KAD_EUNAVAIL);
    ASSERT_NULL(a);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ASSERT_OK(system(cmd));
}

/* A redis:// state: the index in memory, the workflow status in Redis (hash and change list
   under the instance's key prefix), read back by the next open; a triage call Redis refuses
   changes nothing. A real redis-server (t_redis.h). */
TEST(alerts_redis_triage_persists)
{
    if (!t_redis_available())
        t_skip("redis-server is not installed");
    struct t_redis srv;
    t_redis_start(&srv, 0, NULL);
    char url[200];
    snprintf(url, sizeof(url), "%s/2?instance=tri", srv.url);
    kad_alerts *a = NULL;
    kad_err err;
    ASSERT_OK(kad_alerts_open(&a, url, &err));
    ASSERT_NOT_NULL(strstr(kad_alerts_path(a), "{kadet:i:tri}:wf"));
    char buf[4096] = "", line[1024];
    two_alerts(buf, sizeof(buf));
    alert_line(line, sizeof(line), "a3", "r1", "low", "bob", "2026-03-01T02:00:00.000Z", "z");
    strcat(buf, line);
    ASSERT_OK(add(a, buf, NULL, NULL));
    const char *bad[2] = {"a1", "nope"};
    size_t changed = 9;
    ASSERT_EQ(kad_alerts_set_status(a, bad, 2, "closed", "", "ana", 1000, &changed, &err),
              KAD_ENOTFOUND);
    const char *ok[2] = {"a1", "a3"};
    ASSERT_OK(kad_alerts_set_status(a, ok, 2, "acknowledged", "looking \"here\"", "ana", 2000,
                                    &changed, &err));
    ASSERT_EQ(changed, 2u);
    ASSERT_OK(kad_alerts_set_status(a, ok, 1, "closed", "benign", "bo", 3000, &changed, &err));
    kad_alerts_close(a);

    /* what Redis holds: database 2, the instance's keys */
    redisContext *c = redisConnect("127.0.0.1", srv.port);
    ASSERT_NOT_NULL(c);
    redisReply *x = redisCommand(c, "SELECT 2");
    freeReplyObject(x);
    x = redisCommand(c, "HLEN {kadet:i:tri}:wf");
    ASSERT_EQ(x->integer, 2);
    freeReplyObject(x);
    x = redisCommand(c, "LLEN {kadet:i:tri}:wflog");
    ASSERT_EQ(x->integer, 3); /* every change, the refused call none */
    freeReplyObject(x);

    /* reopened (the index rebuilt from the documents, as the console does): statuses back */
    ASSERT_OK(kad_alerts_open(&a, url, &err));
    ASSERT_OK(add(a, buf, NULL, NULL));
    struct collect col = {0};
    ASSERT_OK(kad_alerts_get(a, "a1", collect_row, &col, &err));
    ASSERT_STR_EQ(col.status, "closed");
    memset(&col, 0, sizeof(col));
    ASSERT_OK(kad_alerts_get(a, "a3", collect_row, &col, &err));
    ASSERT_STR_EQ(col.status, "acknowledged");
    memset(&col, 0, sizeof(col));
    ASSERT_OK(kad_alerts_get(a, "a2", collect_row, &col, &err));
    ASSERT_STR_EQ(col.status, "open");
    kad_alert_filter f;
    kad_alert_filter_init(&f);
    f.status = "open";
    uint64_t n = 0;
    ASSERT_OK(kad_alerts_count(a, &f, &n, &err));
    ASSERT_EQ(n, 1u);

    /* Redis refuses the write (the hash is now a string): nothing changes, the error says so */
    x = redisCommand(c, "DEL {kadet:i:tri}:wf");
    freeReplyObject(x);
    x = redisCommand(c, "SET {kadet:i:tri}:wf oops");
    freeReplyObject(x);
    const char *two[1] = {"a2"};
    ASSERT_EQ(kad_alerts_set_status(a, two, 1, "closed", "", "ana", 4000, &changed, &err),
              KAD_ESTATE);
    ASSERT_EQ(changed, 0u);
    ASSERT_NOT_NULL(strstr(err.msg, "WRONGTYPE"));
    memset(&col, 0, sizeof(col));
    ASSERT_OK(kad_alerts_get(a, "a2", collect_row, &col, &err));
    ASSERT_STR_EQ(col.status, "open");
    kad_alerts_close(a);
    /* a key of the wrong type at open is an error with the key's name */
    ASSERT_EQ(kad_alerts_open(&a, url, &err), KAD_ESTATE);
    ASSERT_NOT_NULL(strstr(err.msg, "{kadet:i:tri}:wf"));
    redisFree(c);
    t_redis_stop(&srv);
}
