/*
 * t_redis.h - redis-server processes for the tests of the Redis store: started on 127.0.0.1 on
 * a free port with a temporary directory, no persistence, daemonized; stopped by t_redis_stop
 * or, whatever happens to the test, at the runner's exit. Functions in
 * tests/unit/test_state_redis.c.
 */
#ifndef KAD_T_REDIS_H
#define KAD_T_REDIS_H

#include <stdbool.h>

struct t_redis {
    int port;
    char dir[64];
    char url[128]; /* redis://127.0.0.1:PORT */
};

/* Whether redis-server is installed. */
bool t_redis_available(void);
/* Start a server (port 0: a free one) with extra arguments appended to its command line (NULL
   for none); fails the test if it does not come up. The caller checks t_redis_available. */
void t_redis_start(struct t_redis *r, int port, const char *extra);
/* Stop it (SIGTERM, waits until it is gone) and remove its directory. */
void t_redis_stop(struct t_redis *r);
/*
 * The URL of the Redis server the behaviour suite (test_state_ops.c) runs its "redis" row
 * against: KADET_TEST_REDIS when set (a scratch server: its database is emptied), else a
 * server started on first use and stopped at exit; NULL when redis-server is absent. Each call
 * leaves the server's database empty.
 */
const char *t_redis_suite_url(void);

#endif
