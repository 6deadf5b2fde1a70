/*
 * srv_detect.c - the detection thread (docs/internals/serve.md "Detection"): the only thread
 * that touches the engine. It reads durable records from the spool, feeds each with its
 * segment's resume key (kad_engine_feed), and commits when the spool has nothing more to give
 * right now or commit_interval has passed since the first uncommitted record, so alerts leave
 * well within a second. After each commit: fully read segments are deleted, the metrics
 * snapshot is published and the batch's alert lines go to the mounts' on_alerts.
 *
 * Reload: the new rule set is built by the caller (a connection thread or the signal thread);
 * the detection thread swaps it in between batches: commit, free the engine, open one on the
 * new rules (baselines survive unless a rule's logic changed: the engine's registration), and
 * on failure reopen on the old rules.
 *
 * The file source (srv_follow.c) plugs in here: its queued records are run on this thread
 * between spool records, each with its file content's resume key (kad_engine_feed_at), so its
 * positions commit with the batch (see "Sources" in the design doc).
 */
#include "serve.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define SPOOL_BATCH 1024 /* spool records per read (they share one lock round trip) */

struct det {
    struct srv *s;
    kad_engine *e;
    kad_rules *rules; /* what e runs on (the engine holds its own reference) */
    char *alerts;     /* this batch's alert lines, for the mounts */
    size_t alen, acap;
    bool want_alerts;
    int64_t *recv; /* receipt times of the records since the last commit (sampled) */
    size_t nrecv, crecv;
    uint64_t pending;
    int64_t first_pending_us;
    int64_t last_state_stats_us;
    kad_engine_stats base; /* counters of the engines replaced by reloads */
    /* --source: decode options of the webhook and of followed paths (kad_engine_decode_add) */
    int webhook_dec;
    struct {
        const char *path;
        int dec;
    } fdec[SRV_MAX_PATHS];
    size_t nfdec;
    struct srv_follow_rec fr;               /* the file source's record being run */
    struct srv_spool_rec recs[SPOOL_BATCH]; /* spool records being run (srv_spool_read) */
    int lost; /* the engine failed: state unreachable (srv_guard_outage) */
    char lost_msg[512];
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- rules ----------------------------------------------------------------------------------- */

int srv_rules_build(struct srv *s, kad_rules **out, char *msg, size_t size)
{
    *out = NULL;
    kad_rules *rs = kad_rules_new();
    if (!rs) {
        snprintf(msg, size, "out of memory");
        return -1;
    }
    const char *def[] = {s->default_rules};
    const char *const *paths = s->cfg.nrules ? (const char *const *)s->cfg.rules : def;
    size_t n = s->cfg.nrules ? s->cfg.nrules : 1;
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= kad_rules_load(rs, paths[i], NULL) != KAD_OK;
    for (size_t i = 0; i < s->cfg.nexceptions; i++)
        bad |= kad_rules_load_exceptions(rs, s->cfg.exceptions[i], NULL) != KAD_OK;
    size_t nd = kad_rules_diag_count(rs);
    char first[512] = "";
    for (size_t i = 0; i < nd; i++) {
        int is_err = 0;
        kad_rules_diag(rs, i, &is_err);
        char line[1024];
        kad_rules_diag_format(rs, i, line, sizeof(line));
        srv_log(is_err ? KAD_LOG_ERROR : KAD_LOG_WARN, "rules: %s", line);
        if (is_err && !first[0])
            snprintf(first, sizeof(first), "%.500s", line);
    }
    if (bad || kad_rules_count(rs) == 0) {
        snprintf(msg, size, "%s", first[0] ? first : "no rules loaded");
        kad_rules_unref(rs);
        return -1;
    }
    *out = rs;
    return 0;
}

kad_rules *srv_rules_get(struct srv *s)
{
    pthread_mutex_lock(&s->rules_mu);
    kad_rules *r = s->rules ? kad_rules_ref(s->rules) : NULL;
    pthread_mutex_unlock(&s->rules_mu);
    return r;
}

/* ---- engine ---------------------------------------------------------------------------------- */

static int on_alert(const kad_alert *a, void *ud)
{
    struct det *d = ud;
    if (!d->want_alerts)
        return KAD_ALERT_WRITE;
    if (d->alen + a->len + 1 > d->acap) {
        size_t cap = d->acap ? d->acap : 65536;
        while (cap < d->alen + a->len + 1)
            cap *= 2;
        char *b = realloc(d->alerts, cap);
        if (!b)
            return KAD_ALERT_WRITE; /* the mounts miss this line; the output has it */
        d->alerts = b;
        d->acap = cap;
    }
    memcpy(d->alerts + d->alen, a->json, a->len);
    d->alerts[d->alen + a->len] = '\n';
    d->alen += a->len + 1;
    return KAD_ALERT_WRITE;
}

/* --threads: 0 is one per CPU (at most 8: decoding beyond that waits on detection anyway) */
static int decode_threads(const struct srv_config *c)
{
    if (c->threads)
        return (int)c->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

static int open_engine(struct det *d, kad_rules *rules, kad_err *err)
{
    const struct srv_config *c = &d->s->cfg;
    kad_engine_opts o = {
        .rules = rules,
        .state = d->s->st,
        .decode =
            {
                .no_host = c->no_host,
                .host_name = c->host_name,
                .host_os_type = c->host_os_type,
                .timestamp = KAD_TS_STAGE,
                .ingested = c->ingested,
                .max_record = c->max_record,
                .cluster_name = c->cluster_name,
            },
        .format = KAD_FORMAT_AUTO,
        .now_ms = c->now_ms,
        .batch = 0,
        .output_path = c->output,
        /* with sinks, alerts go to them (and to --output FILE when given) */
        .output_fd = c->output || d->s->outs ? -1 : 1,
        .outputs = d->s->outs,
        .on_alert = on_alert,
        .ud = d,
        .threads = decode_threads(c),
    };
    int rc = kad_engine_new(&d->e, &o, err);
    if (rc != KAD_OK)
        return rc;
    d->rules = rules;
    d->webhook_dec = 0;
    d->nfdec = 0;
    for (size_t i = 0; i < c->nsource; i++) { /* checked by the config: parses */
        struct srv_source_meta m;
        char buf[4096], msg[512];
        if (srv_source_parse(c->source[i], &m, buf, sizeof(buf), msg, sizeof(msg)) != 0)
            continue;
        kad_decode_opts dd = o.decode;
        if (m.no_host >= 0)
            dd.no_host = m.no_host;
        if (m.host_name)
            dd.host_name = m.host_name;
        if (m.host_os_type)
            dd.host_os_type = m.host_os_type;
        if (m.cluster_name)
            dd.cluster_name = m.cluster_name;
        int id = kad_engine_decode_add(d->e, &dd, err); /* copies the strings */
        if (id < 0) {
            kad_engine_free(d->e);
            d->e = NULL;
            return id;
        }
        if (strcmp(m.name, "webhook") == 0) {
            d->webhook_dec = id;
        } else {
            for (size_t j = 0; j < c->nfollow; j++) /* the config's string: lives long enough */
                if (strcmp(c->follow[j], m.name) == 0 && d->nfdec < SRV_MAX_PATHS) {
                    d->fdec[d->nfdec].path = c->follow[j];
                    d->fdec[d->nfdec++].dec = id;
                    break;
                }
        }
    }
    return KAD_OK;
}

/* The decode options of a followed record: its file is the --follow path itself, or a rotated
   copy of it in the same directory (logrotate's PATH.1, PATH.2.gz; kube-apiserver's
   STEM-TIME.EXT for STEM.EXT). */
static int follow_dec(const struct det *d, const char *origin)
{
    if (!origin || !d->nfdec)
        return 0;
    const char *ob = strrchr(origin, '/');
    size_t odir = ob ? (size_t)(ob - origin) + 1 : 0;
    ob = origin + odir;
    int best = 0;
    size_t best_len = 0;
    for (size_t i = 0; i < d->nfdec; i++) {
        const char *p = d->fdec[i].path;
        if (strcmp(p, origin) == 0)
            return d->fdec[i].dec;
        const char *pb = strrchr(p, '/');
        size_t pdir = pb ? (size_t)(pb - p) + 1 : 0;
        if (pdir != odir || strncmp(p, origin, pdir) != 0)
            continue;
        pb = p + pdir;
        size_t blen = strlen(pb);
        const char *dot = strrchr(pb, '.');
        size_t stem = dot && dot > pb ? (size_t)(dot - pb) : blen;
        bool match = (strncmp(ob, pb, blen) == 0 && ob[blen] == '.') ||
                     (strncmp(ob, pb, stem) == 0 && ob[stem] == '-');
        if (match && blen > best_len) {
            best = d->fdec[i].dec;
            best_len = blen;
        }
    }
    return best;
}

static void add_stats(kad_engine_stats *to, const kad_engine_stats *from)
{
    to->records += from->records;
    to->events += from->events;
    to->bytes += from->bytes;
    to->skipped += from->skipped;
    to->skipped_syntax += from->skipped_syntax;
    to->skipped_limit += from->skipped_limit;
    to->skipped_other += from->skipped_other;
    to->not_format += from->not_format;
    to->refused += from->refused;
    to->alerts += from->alerts;
    to->matched += from->matched;
    to->excepted += from->excepted;
    to->suppressed += from->suppressed;
    to->pruned += from->pruned;
    to->commits += from->commits;
}

static void publish(struct det *d)
{
    struct srv *s = d->s;
    struct srv_snap n;
    memset(&n, 0, sizeof(n));
    kad_engine_stats_get(d->e, &n.es);
    add_stats(&n.es, &d->base);
    size_t nr = kad_engine_rule_count(d->e);
    n.rules = calloc(nr ? nr : 1, sizeof(*n.rules));
    if (n.rules) {
        for (size_t i = 0; i < nr; i++) {
            kad_rule_stats rs;
            kad_rule_info ri;
            kad_engine_rule_stats(d->e, i, &rs);
            if (!rs.runs || kad_rules_info(d->rules, i, &ri) != KAD_OK)
                continue;
            struct srv_rule_snap *o = &n.rules[n.nrules++];
            o->rule_id = strdup(ri.rule_id ? ri.rule_id : "");
            o->matched = rs.matched;
            o->alerts = rs.alerts;
            o->excepted = rs.excepted;
            o->suppressed = rs.suppressed;
            o->too_late = rs.too_late;
            o->future = rs.future;
        }
    }
    int64_t now = mono_us();
    pthread_mutex_lock(&s->mu);
    n.combinations = s->snap.combinations;
    pthread_mutex_unlock(&s->mu);
    if (now - d->last_state_stats_us > 10 * 1000000) {
        kad_state_stats st;
        if (kad_state_stats_get(s->st, &st, NULL) == KAD_OK)
            n.combinations = st.combinations;
        d->last_state_stats_us = now;
    }
    pthread_mutex_lock(&s->mu);
    struct srv_snap old = s->snap;
    s->snap = n;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < old.nrules; i++)
        free(old.rules[i].rule_id);
    free(old.rules);
}

/* ---- state outages (srv_stateguard.c) -------------------------------------------------------- */

/* An engine failure that is the state server being unreachable: remembered for the detection
   loop (state_outage), not fatal. */
static bool note_outage(struct det *d, const kad_err *err, const char *line)
{
    if (!srv_guard_outage(err->code))
        return false;
    d->lost = err->code;
    snprintf(d->lost_msg, sizeof(d->lost_msg), "%.500s", line);
    return true;
}

static int commit(struct det *d)
{
    struct srv *s = d->s;
    kad_err err;
    kad_err_clear(&err);
    int64_t t0 = mono_us();
    if (kad_engine_commit(d->e, &err) != KAD_OK) {
        char line[1024];
        kad_err_format(&err, line, sizeof(line));
        if (note_outage(d, &err, line))
            return -1;
        srv_log(KAD_LOG_ERROR, "commit failed: %s", line);
        atomic_fetch_add(&s->m.output_errors, 1);
        return -1;
    }
    int64_t t1 = mono_us(), now = real_us();
    srv_hist_observe(&s->m.commit, t1 - t0);
    for (size_t i = 0; i < d->nrecv; i++)
        srv_hist_observe(&s->m.receipt_alert, now - d->recv[i]);
    d->nrecv = 0;
    d->pending = 0;
    srv_spool_committed(s->spool);
    publish(d);
    if (d->alen) {
        for (size_t i = 0; i < s->nmounts; i++)
            if (s->mounts[i]->on_alerts)
                s->mounts[i]->on_alerts(s->mounts[i]->ctx, d->alerts, d->alen);
        d->alen = 0;
    }
    return 0;
}

static void note_recv(struct det *d, int64_t us)
{
    if (d->nrecv == d->crecv) {
        if (d->crecv >= 1 << 20)
            return; /* a huge batch: the first million samples are enough */
        size_t cap = d->crecv ? d->crecv * 2 : 4096;
        int64_t *r = realloc(d->recv, cap * sizeof(*r));
        if (!r)
            return;
        d->recv = r;
        d->crecv = cap;
    }
    d->recv[d->nrecv++] = us;
}

static int feed(struct det *d, const char *key, const kad_record *rec, int64_t read_ms,
                int64_t recv_us, int dec);

/* What a reload hands to the detection thread besides the rules: the running sources and
   sinks (their strings are the config's, kept by srv_config_reload until exit). */
struct reload_src {
    const char *follow[SRV_MAX_PATHS], *sink[SRV_MAX_PATHS];
    size_t nfollow, nsink;
};
static struct reload_src running; /* what the follower and the outputs run on */

static void src_log(kad_err *err, const char *what, char *msg, size_t size)
{
    char line[1024];
    kad_err_format(err, line, sizeof(line));
    snprintf(msg, size, "%s: %.400s", what, line);
    srv_log(KAD_LOG_ERROR, "reload: %s", msg);
}

/* The follower on cfg.follow: stop the old one, run what it had queued (commit follows in the
   caller), start the new one; positions come from the state, so nothing is read twice. */
static int swap_follow(struct det *d, char *msg, size_t size)
{
    struct srv *s = d->s;
    srv_follow_stop(s);
    while (srv_follow_pop(s, &d->fr) == 1)
        if (feed(d, d->fr.source, &d->fr.rec, d->fr.read_ms, d->fr.read_ms * 1000,
                 follow_dec(d, d->fr.rec.origin)) != 0)
            return -1;
    if (d->pending && commit(d) != 0)
        return -1;
    kad_err err;
    kad_err_clear(&err);
    const struct srv_config *c = &s->cfg;
    if (srv_follow_replace(s, (const char *const *)c->follow, c->nfollow, &err) == KAD_OK) {
        running.nfollow = c->nfollow;
        memcpy(running.follow, c->follow, sizeof(running.follow));
        return 0;
    }
    src_log(&err, "follow", msg, size);
    kad_err_clear(&err);
    if (srv_follow_replace(s, running.follow, running.nfollow, &err) != KAD_OK) {
        char line[1024];
        kad_err_format(&err, line, sizeof(line));
        srv_log(KAD_LOG_ERROR, "cannot restart the old followed files: %s", line);
    }
    return -1;
}

/* The outputs on cfg.sink and the config's [[sink]] tables, the engine being closed: deliveries
   still pending stay in the outbox for the new kad_outputs. */
static int swap_outs(struct det *d, char *msg, size_t size)
{
    struct srv *s = d->s;
    pthread_mutex_lock(&s->src_mu);
    kad_outputs *old = s->outs;
    s->outs = NULL;
    pthread_mutex_unlock(&s->src_mu);
    if (old)
        kad_outputs_free(old);
    kad_err err;
    kad_err_clear(&err);
    kad_outputs *n = NULL;
    int rc = srv_outputs_open(s, (const char *const *)s->cfg.sink, s->cfg.nsink, &n, &err);
    if (rc != KAD_OK) {
        src_log(&err, "sinks", msg, size);
        kad_err_clear(&err);
        /* the old specs (the file's tables are the new ones: checked before, so rarely here) */
        if (srv_outputs_open(s, running.sink, running.nsink, &n, &err) != KAD_OK) {
            char line[1024];
            kad_err_format(&err, line, sizeof(line));
            srv_log(KAD_LOG_ERROR, "cannot reopen the sinks: %s", line);
            n = NULL;
        }
    } else {
        running.nsink = s->cfg.nsink;
        memcpy(running.sink, s->cfg.sink, sizeof(running.sink));
    }
    pthread_mutex_lock(&s->src_mu);
    s->outs = n;
    pthread_mutex_unlock(&s->src_mu);
    return rc == KAD_OK ? 0 : -1;
}

static int swap_rules(struct det *d, kad_rules *nr, char *msg, size_t size)
{
    struct srv *s = d->s;
    kad_err err;
    kad_err_clear(&err);
    pthread_mutex_lock(&s->mu);
    bool do_follow = s->pending_follow, do_outs = s->pending_outs;
    s->pending_follow = s->pending_outs = false;
    pthread_mutex_unlock(&s->mu);
    int src_rc = 0;
    if (do_follow && swap_follow(d, msg, size) != 0) {
        if (atomic_load(&s->fatal)) {
            kad_rules_unref(nr);
            return -1;
        }
        src_rc = -1;
    }
    if (d->pending && commit(d) != 0) {
        snprintf(msg, size, "the commit before the swap failed");
        kad_rules_unref(nr);
        return -1;
    }
    kad_rules *old = kad_rules_ref(d->rules);
    kad_engine_stats es;
    kad_engine_stats_get(d->e, &es);
    add_stats(&d->base, &es);
    kad_engine_free(d->e);
    d->e = NULL;
    if (do_outs && swap_outs(d, msg, size) != 0)
        src_rc = -1;
    if (open_engine(d, nr, &err) == KAD_OK) {
        pthread_mutex_lock(&s->rules_mu);
        kad_rules *prev = s->rules;
        s->rules = nr; /* the reference built by srv_rules_build */
        pthread_mutex_unlock(&s->rules_mu);
        kad_rules_unref(prev);
        kad_rules_unref(old);
        return src_rc;
    }
    char line[1024];
    kad_err_format(&err, line, sizeof(line));
    snprintf(msg, size, "the engine refused the new rules: %.400s", line);
    kad_rules_unref(nr);
    kad_err_clear(&err);
    int rc = open_engine(d, old, &err);
    kad_rules_unref(old);
    if (rc != KAD_OK) {
        kad_err_format(&err, line, sizeof(line));
        srv_log(KAD_LOG_ERROR, "cannot reopen the engine on the old rules: %s", line);
        atomic_store(&s->fatal, true);
    }
    return -1;
}

static int spool_pos(void *ud, const char *key, int64_t *offset)
{
    struct det *d = ud;
    int64_t line;
    return kad_engine_position(d->e, key, offset, &line, NULL) == KAD_OK ? 0 : -1;
}

/* Run one record (read_ms: when it was read, KAD_TIME_NONE: now; recv_us: its receipt for the
   latency histogram): 0, or -1 when the engine failed (serve stops). */
static int feed(struct det *d, const char *key, const kad_record *rec, int64_t read_ms,
                int64_t recv_us, int dec)
{
    struct srv *s = d->s;
    kad_err err;
    kad_err_clear(&err);
    /* spool records are pushed (decoded on the engine's threads, run in order: the commit runs
       what is still in flight first); a followed record's buffer is the follower's, fed now */
    int rc = read_ms == KAD_TIME_NONE ? kad_engine_push(d->e, key, rec, read_ms, dec, &err)
                                      : kad_engine_feed_with(d->e, key, rec, read_ms, dec, &err);
    if (rc != KAD_OK && kad_engine_failed(d->e)) {
        char line[1024];
        kad_err_format(&err, line, sizeof(line));
        if (note_outage(d, &err, line))
            return -1;
        srv_log(KAD_LOG_ERROR, "detection stopped: %s", line);
        atomic_fetch_add(&s->m.output_errors, 1);
        atomic_store(&s->fatal, true);
        return -1;
    }
    for (size_t i = 0; i < s->nmounts; i++) /* the console's recent-input store (route.h) */
        if (s->mounts[i]->on_record)
            s->mounts[i]->on_record(s->mounts[i]->ctx, rec->data, rec->len, read_ms);
    if (!d->pending)
        d->first_pending_us = mono_us();
    d->pending++;
    note_recv(d, recv_us);
    return 0;
}

/* ---- state outages, continued ---------------------------------------------------------------- */

/* srv_guard_wait's attempt: a new engine on the same rules, the spool reader rewound to the
   committed positions and the follower restarted from its own (read from the state). */
static int reopen_after_outage(void *ud, kad_err *err)
{
    struct det *d = ud;
    struct srv *s = d->s;
    int rc = open_engine(d, d->rules, err);
    if (rc != KAD_OK)
        return rc;
    srv_spool_reader_start(s->spool, spool_pos, d);
    if (running.nfollow && srv_follow_replace(s, running.follow, running.nfollow, err) != KAD_OK) {
        kad_engine_free(d->e);
        d->e = NULL;
        return err->code ? err->code : KAD_EUNAVAIL;
    }
    return KAD_OK;
}

/* The engine failed because the state server is unreachable: drop it with what it had not
   committed (the spool and the followed files keep it: they are read again from the last
   commit, and the store's protocol makes a replayed batch alert once), pause the file source,
   wait for the server (srv_guard_wait: 503s meanwhile), then go on. 0 resumed, else stop. */
static int state_outage(struct det *d)
{
    struct srv *s = d->s;
    d->lost = 0;
    srv_guard_down(s, d->lost_msg);
    srv_follow_stop(s); /* what it had queued is read again by the next follower */
    while (srv_follow_pop(s, &d->fr) == 1)
        ;
    kad_engine_stats es;
    kad_engine_stats_get(d->e, &es);
    add_stats(&d->base, &es);
    kad_rules *rules = kad_rules_ref(d->rules); /* the engine held the other reference */
    kad_engine_free(d->e);
    d->e = NULL;
    d->pending = 0;
    d->nrecv = 0;
    d->alen = 0;
    int rc = srv_guard_wait(s, reopen_after_outage, d);
    kad_rules_unref(rules);
    if (rc == 0) {
        publish(d);
        return 0;
    }
    if (rc < 0)
        atomic_store(&s->fatal, true);
    return -1;
}

static void *detect_main(void *arg)
{
    prctl(PR_SET_NAME, "kadet-detect", 0, 0, 0); /* per-thread CPU in top, perf, bench/serve.sh */
    struct det *d = arg;
    struct srv *s = d->s;
    srv_spool_reader_start(s->spool, spool_pos, d);
    srv_spool_committed(s->spool); /* segments read to their end before a restart */
    publish(d);
    int64_t commit_us = (int64_t)s->cfg.commit_ms * 1000;
    int64_t drain_deadline = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        kad_rules *nr = s->pending;
        s->pending = NULL;
        bool stop = s->stop_detect;
        pthread_mutex_unlock(&s->mu);
        if (nr) {
            char msg[512] = "";
            int rc = swap_rules(d, nr, msg, sizeof(msg));
            pthread_mutex_lock(&s->mu);
            s->reload_rc = rc;
            snprintf(s->reload_msg, sizeof(s->reload_msg), "%s", msg);
            s->reload_done = true;
            pthread_cond_broadcast(&s->cond);
            pthread_mutex_unlock(&s->mu);
            if (atomic_load(&s->fatal))
                break;
        }
        if (stop && !drain_deadline)
            drain_deadline = mono_us() + (int64_t)s->cfg.drain_s * 1000000;
        /* the file source's queued records first (a bounded number per turn) */
        int fed = 0;
        bool feed_failed = false;
        while (fed < 256 && srv_follow_pop(s, &d->fr) == 1) {
            if (feed(d, d->fr.source, &d->fr.rec, d->fr.read_ms, d->fr.read_ms * 1000,
                     follow_dec(d, d->fr.rec.origin)) != 0) {
                feed_failed = true;
                break;
            }
            fed++;
        }
        if (feed_failed) {
            if (d->lost && state_outage(d) == 0) /* the state came back: go on */
                continue;
            break;
        }
        /* then the spool's durable records, a buffer's worth at a time (one lock round trip) */
        const char *key;
        char msg[512];
        size_t nrec = 0;
        int wait = d->pending || stop || fed ? 0 : 200;
        int got =
            srv_spool_read(s->spool, d->recs, SPOOL_BATCH, &nrec, &key, wait, msg, sizeof(msg));
        if (got < 0) {
            srv_log(KAD_LOG_ERROR, "%s", msg);
            atomic_store(&s->fatal, true);
            break;
        }
        for (size_t i = 0; i < nrec && !feed_failed; i++) {
            const struct srv_spool_rec *r = &d->recs[i];
            kad_record rec = {.data = r->data,
                              .len = r->len,
                              .origin = "webhook",
                              .line = 0,
                              .col = 0,
                              .offset = (uint64_t)r->offset};
            feed_failed = feed(d, key, &rec, KAD_TIME_NONE, r->recv_us, d->webhook_dec) != 0;
        }
        if (feed_failed) {
            /* the state server: the rest of this buffer is read again from the last commit */
            if (d->lost && state_outage(d) == 0)
                continue;
            break;
        }
        bool idle = got == 0 && !fed;
        if (idle && !d->pending)
            srv_guard_idle(s); /* srv_stateguard.c: notice an outage while nothing runs */
        bool due = d->pending && (idle || mono_us() - d->first_pending_us >= commit_us);
        if (due && commit(d) != 0) {
            if (d->lost) { /* the state server: wait for it (fatal only if that fails) */
                if (state_outage(d) == 0)
                    continue;
                break;
            }
            atomic_store(&s->fatal, true);
            break;
        }
        if (stop && ((idle && srv_follow_idle(s)) || mono_us() > drain_deadline)) {
            if (!idle)
                srv_log(KAD_LOG_WARN, "drain timeout: the rest of the spool (and of the followed "
                                      "files) is read at the next start");
            break;
        }
    }
    if (d->e && d->pending && !kad_engine_failed(d->e))
        commit(d);
    if (d->e) /* none: serve stopped during a state outage (state_outage) */
        kad_engine_log_flush(d->e);
    pthread_mutex_lock(&s->mu);
    s->detect_exited = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static struct det *the_det;

int srv_detect_start(struct srv *s, kad_err *err)
{
    struct det *d = calloc(1, sizeof(*d));
    if (!d) {
        err->code = KAD_ENOMEM;
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return KAD_ENOMEM;
    }
    d->s = s;
    running.nfollow = s->cfg.nfollow;
    memcpy(running.follow, s->cfg.follow, sizeof(running.follow));
    running.nsink = s->cfg.nsink;
    memcpy(running.sink, s->cfg.sink, sizeof(running.sink));
    for (size_t i = 0; i < s->nmounts; i++)
        d->want_alerts |= s->mounts[i]->on_alerts != NULL;
    int rc = open_engine(d, s->rules, err);
    if (rc != KAD_OK) {
        free(d);
        return rc;
    }
    if (pthread_create(&s->detect_thread, NULL, detect_main, d) != 0) {
        kad_engine_free(d->e);
        free(d);
        err->code = KAD_ENOMEM;
        snprintf(err->msg, sizeof(err->msg), "cannot start the detection thread");
        return KAD_ENOMEM;
    }
    the_det = d;
    return KAD_OK;
}

void srv_detect_stop(struct srv *s)
{
    struct det *d = the_det;
    if (!d)
        return;
    pthread_mutex_lock(&s->reload_mu); /* a reload in progress finishes first */
    srv_follow_stop(s);                /* no new records; the queued ones are drained below */
    pthread_mutex_lock(&s->mu);
    s->stop_detect = true;
    pthread_mutex_unlock(&s->mu);
    srv_spool_wake(s->spool);
    pthread_mutex_unlock(&s->reload_mu);
    pthread_join(s->detect_thread, NULL);
    kad_engine_stats es;
    memset(&es, 0, sizeof(es));
    if (d->e)
        kad_engine_stats_get(d->e, &es);
    add_stats(&es, &d->base);
    srv_log(KAD_LOG_INFO,
            "detection stopped: %" PRIu64 " records, %" PRIu64 " events, %" PRIu64
            " skipped, %" PRIu64 " alerts, %" PRIu64 " commits",
            es.records, es.events, es.skipped, es.alerts, es.commits);
    kad_engine_free(d->e);
    free(d->alerts);
    free(d->recv);
    free(d->fr.buf);
    free(d);
    the_det = NULL;
    for (size_t i = 0; i < s->snap.nrules; i++)
        free(s->snap.rules[i].rule_id);
    free(s->snap.rules);
    s->snap.rules = NULL;
    s->snap.nrules = 0;
}

int srv_reload(struct srv *s, char *msg, size_t size)
{
    pthread_mutex_lock(&s->reload_mu);
    int64_t t0 = mono_us();
    struct srv_config *c = &s->cfg;
    struct reload_src was = {.nfollow = c->nfollow, .nsink = c->nsink};
    memcpy(was.follow, c->follow, sizeof(was.follow));
    memcpy(was.sink, c->sink, sizeof(was.sink));
    int rc = srv_config_reload(c, msg, size);
    kad_rules *nr = NULL;
    if (rc == 0)
        rc = srv_rules_build(s, &nr, msg, size);
    /* the followed files and the sinks: replaced when the file changed them */
    bool follow_changed = c->nfollow != was.nfollow, outs_changed = false;
    for (size_t i = 0; !follow_changed && i < c->nfollow; i++)
        follow_changed = strcmp(c->follow[i], was.follow[i]) != 0;
    uint64_t hash = srv_file_hash(c->config_path);
    if (c->outbox) {
        outs_changed = c->nsink != was.nsink || hash != s->conf_hash;
        for (size_t i = 0; !outs_changed && i < c->nsink; i++)
            outs_changed = strcmp(c->sink[i], was.sink[i]) != 0;
    }
    if (rc == 0 && outs_changed) { /* a bad sink refuses the reload before anything changes */
        kad_outputs_opts oo = {.outbox_path = c->outbox,
                               .specs = (const char *const *)c->sink,
                               .nspecs = c->nsink,
                               .config_path = c->config_path};
        kad_err kerr;
        kad_err_clear(&kerr);
        if (kad_outputs_check(&oo, &kerr) != KAD_OK) {
            char line[1024];
            kad_err_format(&kerr, line, sizeof(line));
            snprintf(msg, size, "sinks: %.400s", line);
            kad_rules_unref(nr);
            nr = NULL;
            rc = -1;
        }
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        if (s->detect_exited) {
            snprintf(msg, size, "shutting down");
            rc = -1;
            kad_rules_unref(nr);
        } else {
            s->pending_follow = follow_changed;
            s->pending_outs = outs_changed;
            s->pending = nr;
            s->reload_done = false;
            pthread_mutex_unlock(&s->mu);
            srv_spool_wake(s->spool);
            pthread_mutex_lock(&s->mu);
            while (!s->reload_done && !s->detect_exited)
                pthread_cond_wait(&s->cond, &s->mu);
            if (!s->reload_done) {
                snprintf(msg, size, "shutting down");
                rc = -1;
            } else {
                rc = s->reload_rc;
                if (rc != 0)
                    snprintf(msg, size, "%s", s->reload_msg);
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (rc == 0) {
        if (outs_changed)
            s->conf_hash = hash;
        kad_rules *r = srv_rules_get(s);
        pthread_mutex_lock(&s->src_mu);
        size_t nsinks = s->outs ? kad_outputs_count(s->outs) : 0;
        pthread_mutex_unlock(&s->src_mu);
        srv_log(KAD_LOG_INFO,
                "reload: %zu rules running, %zu followed files%s, %zu sinks%s (%.1f ms)",
                r ? kad_rules_count(r) : 0, c->nfollow, follow_changed ? " (replaced)" : "", nsinks,
                outs_changed ? " (replaced)" : "", (double)(mono_us() - t0) / 1000.0);
        kad_rules_unref(r);
        atomic_fetch_add(&s->m.reloads_ok, 1);
    } else {
        srv_log(KAD_LOG_ERROR, "reload failed, the previous rules keep running: %s", msg);
        atomic_fetch_add(&s->m.reloads_failed, 1);
    }
    pthread_mutex_unlock(&s->reload_mu);
    return rc;
}
