/*
 * kadet-gen.c - deterministic generator of realistic raw Kubernetes audit logs: one
 * audit.k8s.io/v1 Event per line, as kube-apiserver's log backend writes them
 * (docs/internals/semantics.md, "Audit formats"), for `make demo`, `make bench` and tests.
 *
 *   kadet-gen [--seed N] [--days D] [--start TIME] [--events N | --bytes SIZE] [--rate EPS]
 *             [--novel N] [--novel-after DAYS] [--truth FILE] [--out FILE]
 *
 * What it writes: a cluster of a few nodes and namespaces seen from the API server. System
 * components (kubelets, kube-controller-manager and its controllers, kube-scheduler,
 * kube-proxy, coredns, the API server itself), service accounts (prometheus, argocd, a CI
 * deployer, metrics-server, elastic-agent, cert-manager), human users with kubectl (more
 * active during working hours) and anonymous health checks. Decisions allow/forbid in the
 * authorization.k8s.io annotations, Metadata/Request/RequestResponse levels with requestObject
 * and responseObject bodies, RequestReceived stages for part of the traffic, failures (403,
 * 404, 409), Go's JSON escaping (`\u0026` in URIs). About 1.8 KB per event on average.
 *
 * Baseline first: the first events walk every (actor, action) pair once, with both decisions
 * where an action can be forbidden, so a learning period sees every normal combination.
 * --novel N then injects N combinations never seen before (curl and python-requests agents,
 * a forbidden request from an unusual agent, anonymous requests that are allowed, a new
 * user...), spread over the time after --novel-after days; --truth writes them as NDJSON.
 *
 * Same options and seed, same bytes (nothing depends on the clock, the locale or the
 * machine). Not part of libkad; links it for time formatting and parsing (event/event.h).
 */
#include "event/event.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AVG_EVENT_BYTES 1770 /* what the mix below averages; used to space --bytes output */
#define K8S_VERSION "v1.29.4"
#define K8S_COMMIT "55019c8"

/* ======================================================================================== */
/* Random numbers (xoshiro256**, seeded with splitmix64)                                     */
/* ======================================================================================== */

static uint64_t rs[4];

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rnd(void)
{
    uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
    rs[2] ^= rs[0];
    rs[3] ^= rs[1];
    rs[1] ^= rs[2];
    rs[0] ^= rs[3];
    rs[2] ^= t;
    rs[3] = rotl(rs[3], 45);
    return r;
}

static uint32_t below(uint32_t n) { return (uint32_t)(((rnd() >> 32) * (uint64_t)n) >> 32); }
static bool chance(unsigned pct) { return below(100) < pct; }

/* ======================================================================================== */
/* Output buffer                                                                            */
/* ======================================================================================== */

static char *ob;
static size_t olen, ocap;
static int ofd = 1;
static uint64_t owritten;

static void flush_out(void)
{
    size_t off = 0;
    while (off < olen) {
        ssize_t n = write(ofd, ob + off, olen - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "kadet-gen: write: %s\n", strerror(errno));
            exit(2);
        }
        off += (size_t)n;
    }
    owritten += olen;
    olen = 0;
}

static void put(const char *s, size_t n)
{
    memcpy(ob + olen, s, n);
    olen += n;
}
#define PUTL(lit) put((lit), sizeof(lit) - 1)
static void puts_(const char *s) { put(s, strlen(s)); }
static void putc_(char c) { ob[olen++] = c; }

static void put_u(uint64_t v)
{
    char t[24];
    int i = 24;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(t + i, (size_t)(24 - i));
}

static const char hexd[] = "0123456789abcdef";

static void put_hex(uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--)
        putc_(hexd[(v >> (i * 4)) & 15]);
}

static void put_uuid(void)
{
    uint64_t a = rnd(), b = rnd();
    put_hex(a >> 32, 8);
    putc_('-');
    put_hex((a >> 16) & 0xffff, 4);
    putc_('-');
    put_hex(0x4000 | (a & 0x0fff), 4);
    putc_('-');
    put_hex(0x8000 | ((b >> 48) & 0x3fff), 4);
    putc_('-');
    put_hex(b & 0xffffffffffffULL, 12);
}

/* lowercase alphanumeric suffix like Kubernetes' generated names ("7d9f8b6c5d-x2k4q") */
static void put_suffix(uint64_t v, int n)
{
    static const char al[] = "bcdfghjklmnpqrstvwxz2456789";
    for (int i = 0; i < n; i++) {
        putc_(al[v % 27]);
        v /= 27;
    }
}

/* ---- time: microseconds since the epoch, formatted as Go's MicroTime ("...T08:01:02.123456Z") */

static int64_t cached_sec = -1;
static char cached_text[24];

static void sec_text(int64_t sec)
{
    if (sec == cached_sec)
        return;
    char t[32];
    ev_time_fmt_s(sec * 1000, t); /* "2026-01-05T08:01:02Z" */
    memcpy(cached_text, t, 19);
    cached_sec = sec;
}

static void put_time(int64_t us, bool micro)
{
    sec_text(us / 1000000);
    put(cached_text, 19);
    if (micro) {
        char f[8];
        unsigned frac = (unsigned)(us % 1000000);
        f[0] = '.';
        for (int i = 6; i >= 1; i--) {
            f[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        put(f, 7);
    }
    putc_('Z');
}

/* ======================================================================================== */
/* The cluster                                                                              */
/* ======================================================================================== */

static const char *const namespaces[] = {"default", "payments",   "web",           "ci",
                                         "argocd",  "monitoring", "ingress-nginx", "logging"};
#define NNS (sizeof(namespaces) / sizeof(namespaces[0]))
static const char *const apps[] = {"api",      "web",      "worker", "redis",  "postgres",
                                   "frontend", "checkout", "cart",   "search", "gateway"};
#define NAPPS (sizeof(apps) / sizeof(apps[0]))
static const char *const images[] = {"nginx:1.25.4",
                                     "redis:7.2.4",
                                     "postgres:16.2",
                                     "ghcr.io/acme/api:2.14.1",
                                     "ghcr.io/acme/worker:2.14.1",
                                     "ghcr.io/acme/frontend:5.3.0"};
#define NIMAGES (sizeof(images) / sizeof(images[0]))
#define NNODES 6
static char node_names[NNODES][48];
static char node_ips[NNODES][16];

enum level { L_META, L_REQ, L_RR };
enum ns_mode { NS_NONE, NS_ANY, NS_SYS, NS_OWN, NS_NODE_LEASE };
enum body {
    B_NONE,
    B_DEPLOY_PATCH,
    B_POD,
    B_CM,
    B_LEASE,
    B_POD_STATUS,
    B_EVENT,
    B_BINDING,
    B_NODE_STATUS,
    B_RS_STATUS,
};

struct action {
    const char *verb;
    const char *group; /* NULL: the core group */
    const char *version;
    const char *resource;
    const char *sub;
    enum ns_mode ns;
    bool named;
    enum level level;
    enum body body;
    unsigned forbid_pct;
    unsigned weight;
    const char *uri;  /* non-resource request */
    const char *name; /* fixed object name, or NULL for a generated one */
};

#define ACTS(a) a, sizeof(a) / sizeof(a[0])

static const struct action kubelet_acts[] = {
    {"get", NULL, "v1", "nodes", NULL, NS_NONE, true, L_META, B_NONE, 0, 14, NULL, NULL},
    {"patch", NULL, "v1", "nodes", "status", NS_NONE, true, L_REQ, B_NODE_STATUS, 0, 10, NULL,
     NULL},
    {"update", "coordination.k8s.io", "v1", "leases", NULL, NS_NODE_LEASE, true, L_REQ, B_LEASE, 0,
     30, NULL, NULL},
    {"get", NULL, "v1", "pods", NULL, NS_ANY, true, L_RR, B_POD, 0, 14, NULL, NULL},
    {"patch", NULL, "v1", "pods", "status", NS_ANY, true, L_RR, B_POD_STATUS, 0, 24, NULL, NULL},
    {"watch", NULL, "v1", "configmaps", NULL, NS_ANY, false, L_META, B_NONE, 0, 4, NULL, NULL},
    {"get", NULL, "v1", "secrets", NULL, NS_ANY, true, L_META, B_NONE, 0, 3, NULL, NULL},
    {"list", NULL, "v1", "services", NULL, NS_NONE, false, L_META, B_NONE, 0, 3, NULL, NULL},
    {"watch", "node.k8s.io", "v1", "runtimeclasses", NULL, NS_NONE, false, L_META, B_NONE, 0, 1,
     NULL, NULL},
    {"get", "storage.k8s.io", "v1", "csinodes", NULL, NS_NONE, true, L_META, B_NONE, 0, 2, NULL,
     NULL},
    {"create", NULL, "v1", "events", NULL, NS_ANY, false, L_REQ, B_EVENT, 0, 5, NULL, NULL},
};

static const struct action kcm_acts[] = {
    {"update", "coordination.k8s.io", "v1", "leases", NULL, NS_SYS, true, L_RR, B_LEASE, 0, 40,
     NULL, "kube-controller-manager"},
    {"get", "coordination.k8s.io", "v1", "leases", NULL, NS_SYS, true, L_META, B_NONE, 0, 20, NULL,
     "kube-controller-manager"},
    {"list", NULL, "v1", "nodes", NULL, NS_NONE, false, L_META, B_NONE, 0, 5, NULL, NULL},
};

static const struct action rs_ctrl_acts[] = {
    {"create", NULL, "v1", "pods", NULL, NS_ANY, false, L_RR, B_POD, 0, 8, NULL, NULL},
    {"delete", NULL, "v1", "pods", NULL, NS_ANY, true, L_META, B_NONE, 0, 4, NULL, NULL},
    {"update", "apps", "v1", "replicasets", "status", NS_ANY, true, L_RR, B_RS_STATUS, 0, 10, NULL,
     NULL},
    {"create", NULL, "v1", "events", NULL, NS_ANY, false, L_REQ, B_EVENT, 0, 4, NULL, NULL},
};

static const struct action deploy_ctrl_acts[] = {
    {"update", "apps", "v1", "deployments", "status", NS_ANY, true, L_RR, B_RS_STATUS, 0, 10, NULL,
     NULL},
    {"create", NULL, "v1", "events", NULL, NS_ANY, false, L_REQ, B_EVENT, 0, 3, NULL, NULL},
};

static const struct action eps_ctrl_acts[] = {
    {"update", "discovery.k8s.io", "v1", "endpointslices", NULL, NS_ANY, true, L_META, B_NONE, 0,
     10, NULL, NULL},
    {"list", "discovery.k8s.io", "v1", "endpointslices", NULL, NS_NONE, false, L_META, B_NONE, 0, 1,
     NULL, NULL},
};

static const struct action gc_acts[] = {
    {"list", "apps", "v1", "replicasets", NULL, NS_NONE, false, L_META, B_NONE, 0, 5, NULL, NULL},
    {"delete", "apps", "v1", "replicasets", NULL, NS_ANY, true, L_META, B_NONE, 0, 1, NULL, NULL},
    {"get", NULL, "v1", "pods", NULL, NS_ANY, true, L_META, B_NONE, 0, 2, NULL, NULL},
};

static const struct action sched_acts[] = {
    {"create", NULL, "v1", "pods", "binding", NS_ANY, true, L_REQ, B_BINDING, 0, 10, NULL, NULL},
    {"update", "coordination.k8s.io", "v1", "leases", NULL, NS_SYS, true, L_RR, B_LEASE, 0, 30,
     NULL, "kube-scheduler"},
    {"watch", NULL, "v1", "pods", NULL, NS_NONE, false, L_META, B_NONE, 0, 2, NULL, NULL},
    {"create", NULL, "v1", "events", NULL, NS_ANY, false, L_REQ, B_EVENT, 0, 3, NULL, NULL},
};

static const struct action apiserver_acts[] = {
    {"update", "coordination.k8s.io", "v1", "leases", NULL, NS_SYS, true, L_RR, B_LEASE, 0, 20,
     NULL, "apiserver-7hxkq2z4w5d6c3b2v4n5m6k7"},
    {"get", NULL, "v1", "namespaces", NULL, NS_NONE, true, L_META, B_NONE, 0, 10, NULL,
     "kube-system"},
    {"list", "flowcontrol.apiserver.k8s.io", "v1", "flowschemas", NULL, NS_NONE, false, L_META,
     B_NONE, 0, 2, NULL, NULL},
};

static const struct action proxy_acts[] = {
    {"watch", "discovery.k8s.io", "v1", "endpointslices", NULL, NS_NONE, false, L_META, B_NONE, 0,
     6, NULL, NULL},
    {"watch", NULL, "v1", "services", NULL, NS_NONE, false, L_META, B_NONE, 0, 4, NULL, NULL},
    {"get", NULL, "v1", "nodes", NULL, NS_NONE, true, L_META, B_NONE, 0, 2, NULL, NULL},
};

static const struct action coredns_acts[] = {
    {"watch", "discovery.k8s.io", "v1", "endpointslices", NULL, NS_NONE, false, L_META, B_NONE, 0,
     6, NULL, NULL},
    {"watch", NULL, "v1", "services", NULL, NS_NONE, false, L_META, B_NONE, 0, 4, NULL, NULL},
    {"list", NULL, "v1", "namespaces", NULL, NS_NONE, false, L_META, B_NONE, 0, 2, NULL, NULL},
};

static const struct action prom_acts[] = {
    {"list", NULL, "v1", "pods", NULL, NS_NONE, false, L_META, B_NONE, 0, 6, NULL, NULL},
    {"watch", NULL, "v1", "endpoints", NULL, NS_NONE, false, L_META, B_NONE, 0, 4, NULL, NULL},
    {"get", NULL, "v1", "nodes", "proxy", NS_NONE, true, L_META, B_NONE, 0, 6, NULL, NULL},
    {"list", NULL, "v1", "secrets", NULL, NS_SYS, false, L_META, B_NONE, 100, 1, NULL, NULL},
};

static const struct action metrics_acts[] = {
    {"get", NULL, "v1", "nodes", "proxy", NS_NONE, true, L_META, B_NONE, 0, 6, NULL, NULL},
    {"list", NULL, "v1", "nodes", NULL, NS_NONE, false, L_META, B_NONE, 0, 2, NULL, NULL},
    {"create", "authorization.k8s.io", "v1", "subjectaccessreviews", NULL, NS_NONE, false, L_META,
     B_NONE, 0, 3, NULL, NULL},
};

static const struct action argocd_acts[] = {
    {"get", "apps", "v1", "deployments", NULL, NS_ANY, true, L_META, B_NONE, 0, 8, NULL, NULL},
    {"patch", "apps", "v1", "deployments", NULL, NS_ANY, true, L_RR, B_DEPLOY_PATCH, 0, 3, NULL,
     NULL},
    {"list", NULL, "v1", "configmaps", NULL, NS_ANY, false, L_META, B_NONE, 0, 3, NULL, NULL},
    {"update", NULL, "v1", "configmaps", NULL, NS_ANY, true, L_RR, B_CM, 0, 2, NULL, NULL},
    {"get", NULL, "v1", "secrets", NULL, NS_SYS, true, L_META, B_NONE, 100, 1, NULL, NULL},
};

static const struct action agent_acts[] = {
    {"get", "coordination.k8s.io", "v1", "leases", NULL, NS_SYS, true, L_META, B_NONE, 0, 6, NULL,
     "elastic-agent-cluster-leader"},
    {"update", "coordination.k8s.io", "v1", "leases", NULL, NS_SYS, true, L_REQ, B_LEASE, 0, 6,
     NULL, "elastic-agent-cluster-leader"},
    {"list", NULL, "v1", "pods", NULL, NS_NONE, false, L_META, B_NONE, 0, 2, NULL, NULL},
};

static const struct action certm_acts[] = {
    {"get", NULL, "v1", "secrets", NULL, NS_ANY, true, L_META, B_NONE, 0, 3, NULL, NULL},
    {"update", "coordination.k8s.io", "v1", "leases", NULL, NS_SYS, true, L_REQ, B_LEASE, 0, 6,
     NULL, "cert-manager-controller"},
};

static const struct action ci_acts[] = {
    {"get", "apps", "v1", "deployments", NULL, NS_ANY, true, L_META, B_NONE, 0, 4, NULL, NULL},
    {"patch", "apps", "v1", "deployments", NULL, NS_ANY, true, L_RR, B_DEPLOY_PATCH, 0, 4, NULL,
     NULL},
    {"create", NULL, "v1", "configmaps", NULL, NS_ANY, false, L_RR, B_CM, 0, 2, NULL, NULL},
    {"get", NULL, "v1", "secrets", NULL, NS_ANY, true, L_META, B_NONE, 0, 2, NULL, NULL},
    {"create", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", NULL, NS_NONE, false,
     L_META, B_NONE, 100, 1, NULL, NULL},
};

static const struct action admin_acts[] = {
    {"get", NULL, "v1", "pods", NULL, NS_ANY, true, L_META, B_NONE, 0, 10, NULL, NULL},
    {"list", NULL, "v1", "pods", NULL, NS_ANY, false, L_META, B_NONE, 0, 10, NULL, NULL},
    {"get", NULL, "v1", "pods", "log", NS_ANY, true, L_META, B_NONE, 0, 6, NULL, NULL},
    {"create", NULL, "v1", "pods", "exec", NS_ANY, true, L_REQ, B_NONE, 0, 2, NULL, NULL},
    {"patch", "apps", "v1", "deployments", NULL, NS_ANY, true, L_RR, B_DEPLOY_PATCH, 0, 3, NULL,
     NULL},
    {"get", NULL, "v1", "secrets", NULL, NS_ANY, true, L_META, B_NONE, 0, 2, NULL, NULL},
    {"delete", NULL, "v1", "pods", NULL, NS_ANY, true, L_META, B_NONE, 0, 1, NULL, NULL},
    {"get", NULL, NULL, NULL, NULL, NS_NONE, false, L_META, B_NONE, 0, 2, "/version", NULL},
};

static const struct action dev_acts[] = {
    {"get", NULL, "v1", "pods", NULL, NS_ANY, true, L_META, B_NONE, 0, 10, NULL, NULL},
    {"list", NULL, "v1", "pods", NULL, NS_ANY, false, L_META, B_NONE, 0, 10, NULL, NULL},
    {"get", NULL, "v1", "pods", "log", NS_ANY, true, L_META, B_NONE, 0, 8, NULL, NULL},
    {"list", "apps", "v1", "deployments", NULL, NS_ANY, false, L_META, B_NONE, 0, 4, NULL, NULL},
    {"update", NULL, "v1", "configmaps", NULL, NS_ANY, true, L_RR, B_CM, 0, 2, NULL, NULL},
    {"get", NULL, "v1", "secrets", NULL, NS_SYS, true, L_META, B_NONE, 100, 1, NULL, NULL},
    {"create", NULL, "v1", "pods", "exec", NS_SYS, true, L_REQ, B_NONE, 100, 1, NULL, NULL},
};

static const struct action health_acts[] = {
    {"get", NULL, NULL, NULL, NULL, NS_NONE, false, L_META, B_NONE, 0, 5, "/readyz", NULL},
    {"get", NULL, NULL, NULL, NULL, NS_NONE, false, L_META, B_NONE, 0, 5, "/livez", NULL},
    {"get", NULL, NULL, NULL, NULL, NS_NONE, false, L_META, B_NONE, 0, 1, "/version", NULL},
};

enum kind { K_SYSTEM, K_NODE, K_SA, K_HUMAN, K_ANON };

struct actor {
    const char *user;
    const char *uid;
    const char *groups; /* JSON array */
    const char *extra;  /* JSON object or NULL */
    const char *ua;
    const char *reason; /* JSON-escaped RBAC reason for allowed requests */
    const char *ip;
    const struct action *acts;
    size_t nacts;
    unsigned weight;
    enum kind kind;
    unsigned rr_pct; /* share of requests that also log a RequestReceived stage */
    int node;        /* for K_NODE */
    unsigned act_total;
};

#define UA(c) c "/" K8S_VERSION " (linux/amd64) kubernetes/" K8S_COMMIT
#define SA_GROUPS(ns)                                                                              \
    "[\"system:serviceaccounts\",\"system:serviceaccounts:" ns "\",\"system:authenticated\"]"
#define RBAC(kind, binding, role, subj)                                                            \
    "RBAC: allowed by " kind " \\\"" binding "\\\" of ClusterRole \\\"" role "\\\" to " subj

static struct actor actors[64];
static size_t nactors;
static unsigned actor_total;

static void add_actor(struct actor a)
{
    a.act_total = 0;
    for (size_t i = 0; i < a.nacts; i++)
        a.act_total += a.acts[i].weight;
    actors[nactors++] = a;
    actor_total += a.weight;
}

static void build_cluster(void)
{
    for (int i = 0; i < NNODES; i++) {
        unsigned b = 1 + (unsigned)i % 3, c = 20 + (unsigned)i * 17;
        snprintf(node_ips[i], sizeof(node_ips[i]), "10.0.%u.%u", b, c);
        snprintf(node_names[i], sizeof(node_names[i]), "ip-10-0-%u-%u.eu-west-1.compute.internal",
                 b, c);
    }
    static char node_users[NNODES][80];
    for (int i = 0; i < NNODES; i++) {
        snprintf(node_users[i], sizeof(node_users[i]), "system:node:%s", node_names[i]);
        add_actor((struct actor){node_users[i], NULL, "[\"system:nodes\",\"system:authenticated\"]",
                                 NULL, UA("kubelet"), "", node_ips[i], ACTS(kubelet_acts), 60,
                                 K_NODE, 10, i, 0});
    }
    add_actor((struct actor){"system:kube-controller-manager", NULL, "[\"system:authenticated\"]",
                             NULL, UA("kube-controller-manager") "/leader-election",
                             RBAC("ClusterRoleBinding", "system:kube-controller-manager",
                                  "system:kube-controller-manager",
                                  "User \\\"system:kube-controller-manager\\\""),
                             "10.0.0.10", ACTS(kcm_acts), 50, K_SYSTEM, 0, 0, 0});
#define CTRL(name, acts, w)                                                                        \
    add_actor((struct actor){                                                                      \
        "system:serviceaccount:kube-system:" name, "5b1c7e2a-0f3d-4c8e-9a61-" name,                \
        SA_GROUPS("kube-system"), NULL,                                                            \
        UA("kube-controller-manager") "/system:serviceaccount:kube-system:" name,                  \
        RBAC("ClusterRoleBinding", "system:controller:" name, "system:controller:" name,           \
             "ServiceAccount \\\"" name "/kube-system\\\""),                                       \
        "10.0.0.10", ACTS(acts), w, K_SYSTEM, 0, 0, 0})
    CTRL("replicaset-controller", rs_ctrl_acts, 25);
    CTRL("deployment-controller", deploy_ctrl_acts, 15);
    CTRL("endpointslice-controller", eps_ctrl_acts, 25);
    CTRL("generic-garbage-collector", gc_acts, 8);
#undef CTRL
    add_actor((struct actor){"system:kube-scheduler", NULL, "[\"system:authenticated\"]", NULL,
                             UA("kube-scheduler") "/scheduler",
                             RBAC("ClusterRoleBinding", "system:kube-scheduler",
                                  "system:kube-scheduler", "User \\\"system:kube-scheduler\\\""),
                             "10.0.0.10", ACTS(sched_acts), 35, K_SYSTEM, 0, 0, 0});
    add_actor((struct actor){"system:apiserver", "a1f5c3e9-2b47-4d1e-8f6a-3c9b7e5d1a20",
                             "[\"system:masters\"]", NULL, UA("kube-apiserver"), "", "::1",
                             ACTS(apiserver_acts), 30, K_SYSTEM, 0, 0, 0});
    add_actor((struct actor){
        "system:serviceaccount:kube-system:kube-proxy", "0c8a9e77-1d2b-4f3c-b5a6-7e8f9a0b1c2d",
        SA_GROUPS("kube-system"), NULL, UA("kube-proxy"),
        RBAC("ClusterRoleBinding", "system:node-proxier", "system:node-proxier",
             "ServiceAccount \\\"kube-proxy/kube-system\\\""),
        "10.0.1.20", ACTS(proxy_acts), 12, K_SA, 0, 0, 0});
    add_actor((struct actor){
        "system:serviceaccount:kube-system:coredns", "6f4e2d1c-9b8a-4c7d-a6e5-f4d3c2b1a098",
        SA_GROUPS("kube-system"),
        "{\"authentication.kubernetes.io/credential-id\":[\"JTI=3c9e4b1a-77d2-4f0e-9a5b-"
        "2d8c6e1f0a93\"],\"authentication.kubernetes.io/node-name\":[\"ip-10-0-2-37.eu-west-1."
        "compute.internal\"],\"authentication.kubernetes.io/pod-name\":[\"coredns-5d78c9869d-"
        "8kq2x\"],\"authentication.kubernetes.io/pod-uid\":[\"e1b7f2c4-5a3d-4e8f-b9c6-"
        "0d2a4f6e8b1c\"]}",
        "coredns/v1.11.1 (linux/amd64) kubernetes/$Format",
        RBAC("ClusterRoleBinding", "system:coredns", "system:coredns",
             "ServiceAccount \\\"coredns/kube-system\\\""),
        "10.0.2.37", ACTS(coredns_acts), 10, K_SA, 0, 0, 0});
    add_actor((struct actor){
        "system:serviceaccount:monitoring:prometheus", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        SA_GROUPS("monitoring"),
        "{\"authentication.kubernetes.io/credential-id\":[\"JTI=7b2e9d4c-1a6f-4e3b-8d5c-"
        "9f0a2b4c6e8d\"],\"authentication.kubernetes.io/pod-name\":[\"prometheus-k8s-0\"]}",
        "Prometheus/2.51.2",
        RBAC("ClusterRoleBinding", "prometheus-k8s", "prometheus-k8s",
             "ServiceAccount \\\"prometheus/monitoring\\\""),
        "10.0.3.54", ACTS(prom_acts), 12, K_SA, 0, 0, 0});
    add_actor((struct actor){
        "system:serviceaccount:kube-system:metrics-server", "3e2d1c0b-9a8f-4e7d-b6c5-a4b3c2d1e0f9",
        SA_GROUPS("kube-system"), NULL, "metrics-server/v0.7.1 (linux/amd64) kubernetes/$Format",
        RBAC("ClusterRoleBinding", "system:metrics-server", "system:metrics-server",
             "ServiceAccount \\\"metrics-server/kube-system\\\""),
        "10.0.1.71", ACTS(metrics_acts), 8, K_SA, 0, 0, 0});
    add_actor((struct actor){"system:serviceaccount:argocd:argocd-application-controller",
                             "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a", SA_GROUPS("argocd"), NULL,
                             "argocd-application-controller/v2.10.7 (linux/amd64) "
                             "kubernetes/$Format",
                             RBAC("ClusterRoleBinding", "argocd-application-controller",
                                  "argocd-application-controller",
                                  "ServiceAccount \\\"argocd-application-controller/argocd\\\""),
                             "10.0.2.88", ACTS(argocd_acts), 8, K_SA, 20, 0, 0});
    add_actor((struct actor){"system:serviceaccount:kube-system:elastic-agent",
                             "12345678-aaaa-4bbb-8ccc-1234567890ab", SA_GROUPS("kube-system"), "{}",
                             "elastic-agent/v8.13.2 (linux/amd64) kubernetes/$Format",
                             RBAC("ClusterRoleBinding", "elastic-agent", "elastic-agent",
                                  "ServiceAccount \\\"elastic-agent/kube-system\\\""),
                             "10.0.3.12", ACTS(agent_acts), 6, K_SA, 0, 0, 0});
    add_actor((struct actor){"system:serviceaccount:cert-manager:cert-manager",
                             "4c3b2a19-0f8e-4d7c-a6b5-c4d3e2f1a0b9", SA_GROUPS("cert-manager"),
                             NULL,
                             "cert-manager-controller/v1.14.4 (linux/amd64) cert-manager/"
                             "e2f5a1c9b7d3f8e6a4c2b0d9f7e5c3a1b9d7f5e3",
                             RBAC("ClusterRoleBinding", "cert-manager-controller-certificates",
                                  "cert-manager-controller-certificates",
                                  "ServiceAccount \\\"cert-manager/cert-manager\\\""),
                             "10.0.1.93", ACTS(certm_acts), 4, K_SA, 0, 0, 0});
    add_actor((struct actor){
        "system:serviceaccount:ci:deployer", "7e6d5c4b-3a2f-4e1d-9c8b-7a6f5e4d3c2b",
        SA_GROUPS("ci"), NULL, "Helm/3.14.4",
        RBAC("RoleBinding", "deployer", "edit", "ServiceAccount \\\"deployer/ci\\\""), "10.0.2.140",
        ACTS(ci_acts), 3, K_SA, 30, 0, 0});
    add_actor((struct actor){"alice@example.com", "oidc:1f0e9d8c7b6a",
                             "[\"platform-admins\",\"system:authenticated\"]", NULL,
                             "kubectl/v1.29.2 (darwin/arm64) kubernetes/4b8e819",
                             RBAC("ClusterRoleBinding", "platform-admins", "cluster-admin",
                                  "Group \\\"platform-admins\\\""),
                             "203.0.113.24", ACTS(admin_acts), 3, K_HUMAN, 50, 0, 0});
    add_actor((struct actor){"alice@example.com", "oidc:1f0e9d8c7b6a",
                             "[\"platform-admins\",\"system:authenticated\"]", NULL,
                             "k9s/v0.32.4 (darwin/arm64) kubernetes/$Format",
                             RBAC("ClusterRoleBinding", "platform-admins", "cluster-admin",
                                  "Group \\\"platform-admins\\\""),
                             "203.0.113.24", ACTS(admin_acts), 1, K_HUMAN, 50, 0, 0});
    add_actor((struct actor){
        "bob@example.com", "oidc:8a7b6c5d4e3f", "[\"developers\",\"system:authenticated\"]", NULL,
        "kubectl/v1.28.4 (linux/amd64) kubernetes/bae2c62",
        RBAC("ClusterRoleBinding", "developers-view", "view", "Group \\\"developers\\\""),
        "198.51.100.7", ACTS(dev_acts), 3, K_HUMAN, 50, 0, 0});
    add_actor((struct actor){"carol@example.com", "oidc:2c3d4e5f6a7b",
                             "[\"sre\",\"system:authenticated\"]", NULL,
                             "kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8",
                             RBAC("ClusterRoleBinding", "sre", "admin", "Group \\\"sre\\\""),
                             "198.51.100.19", ACTS(admin_acts), 2, K_HUMAN, 50, 0, 0});
    add_actor((struct actor){
        "system:anonymous", NULL, "[\"system:unauthenticated\"]", NULL, "kube-probe/1.29",
        RBAC("ClusterRoleBinding", "system:public-info-viewer", "system:public-info-viewer",
             "Group \\\"system:unauthenticated\\\""),
        "10.0.0.2", ACTS(health_acts), 10, K_ANON, 0, 0, 0});
}

/* ======================================================================================== */
/* One event                                                                                */
/* ======================================================================================== */

struct req {
    const struct actor *a;
    const struct action *x;
    const char *ns;
    char name[96];
    bool forbid;
    unsigned code;
    const char *fail_reason; /* responseStatus.reason for failures */
    int64_t t0, t1;          /* requestReceived, stage timestamps (us) */
    unsigned app;
    char audit_id[40];
};

static uint64_t resource_version = 48213377;

static void gen_name(struct req *q)
{
    const struct action *x = q->x;
    q->name[0] = '\0';
    if (!x->named)
        return;
    if (x->name) {
        snprintf(q->name, sizeof(q->name), "%s", x->name);
        return;
    }
    const char *r = x->resource;
    size_t n = 0;
    if (strcmp(r, "nodes") == 0 || strcmp(r, "csinodes") == 0) {
        snprintf(q->name, sizeof(q->name), "%s",
                 node_names[q->a->kind == K_NODE ? q->a->node : (int)below(NNODES)]);
    } else if (strcmp(r, "leases") == 0 && x->ns == NS_NODE_LEASE) {
        snprintf(q->name, sizeof(q->name), "%s", node_names[q->a->node]);
    } else if (strcmp(r, "pods") == 0) {
        /* deterministic pod names: app, replica-set hash, 4 pods per app */
        unsigned slot = below(4);
        uint64_t h = (uint64_t)q->app * 2654435761u + (uint64_t)(q->ns[0]) * 40503u;
        n = (size_t)snprintf(q->name, sizeof(q->name), "%s-%08" PRIx64 "-", apps[q->app],
                             (uint64_t)((h * 0x9e3779b97f4a7c15ULL) >> 36));
        static const char al[] = "bcdfghjklmnpqrstvwxz2456789";
        uint64_t v = h + slot * 7919;
        for (int i = 0; i < 5; i++, v /= 27)
            q->name[n++] = al[v % 27];
        q->name[n] = '\0';
    } else if (strcmp(r, "secrets") == 0) {
        snprintf(q->name, sizeof(q->name), "%s-%s", apps[q->app], below(2) ? "credentials" : "tls");
    } else if (strcmp(r, "configmaps") == 0) {
        snprintf(q->name, sizeof(q->name), "%s-config", apps[q->app]);
    } else if (strcmp(r, "endpointslices") == 0) {
        snprintf(q->name, sizeof(q->name), "%s-%c%c%c%c%c", apps[q->app], 'a' + (int)below(26),
                 'a' + (int)below(26), '2' + (int)below(8), 'a' + (int)below(26),
                 'a' + (int)below(26));
    } else {
        snprintf(q->name, sizeof(q->name), "%s", apps[q->app]);
    }
}

static void put_uri(const struct req *q)
{
    const struct action *x = q->x;
    if (x->uri) {
        puts_(x->uri);
        return;
    }
    if (x->group) {
        PUTL("/apis/");
        puts_(x->group);
        putc_('/');
    } else {
        PUTL("/api/");
    }
    puts_(x->version);
    if (q->ns) {
        PUTL("/namespaces/");
        puts_(q->ns);
    }
    putc_('/');
    puts_(x->resource);
    if (q->name[0]) {
        putc_('/');
        puts_(q->name);
    }
    if (x->sub) {
        putc_('/');
        puts_(x->sub);
    }
    if (strcmp(x->verb, "watch") == 0) {
        PUTL("?allowWatchBookmarks=true\\u0026resourceVersion=");
        put_u(resource_version - below(50000));
        PUTL("\\u0026timeout=7m43s\\u0026timeoutSeconds=463\\u0026watch=true");
    } else if (strcmp(x->verb, "list") == 0) {
        PUTL("?limit=500\\u0026resourceVersion=0");
    } else if (strcmp(x->verb, "patch") == 0 && q->a->kind == K_HUMAN) {
        PUTL("?fieldManager=kubectl-client-side-apply\\u0026fieldValidation=Strict");
    } else if (x->sub && strcmp(x->sub, "exec") == 0) {
        PUTL("?command=%2Fbin%2Fsh\\u0026container=");
        puts_(apps[q->app]);
        PUTL("\\u0026stdin=true\\u0026stdout=true\\u0026tty=true");
    } else if (x->sub && strcmp(x->sub, "log") == 0) {
        PUTL("?container=");
        puts_(apps[q->app]);
        PUTL("\\u0026follow=true\\u0026tailLines=100");
    }
}

static void put_user(const struct actor *a)
{
    PUTL("\"user\":{\"username\":\"");
    puts_(a->user);
    putc_('"');
    if (a->uid) {
        PUTL(",\"uid\":\"");
        puts_(a->uid);
        putc_('"');
    }
    PUTL(",\"groups\":");
    puts_(a->groups);
    if (a->extra) {
        PUTL(",\"extra\":");
        puts_(a->extra);
    }
    putc_('}');
}

static void put_managed(const char *manager, int64_t t, const char *fields)
{
    PUTL("{\"manager\":\"");
    puts_(manager);
    PUTL("\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"");
    put_time(t, false);
    PUTL("\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":");
    puts_(fields);
    putc_('}');
}

static void put_meta(const struct req *q, const char *name, bool full)
{
    PUTL("\"metadata\":{\"name\":\"");
    puts_(name);
    PUTL("\",\"namespace\":\"");
    puts_(q->ns ? q->ns : "default");
    putc_('"');
    if (full) {
        PUTL(",\"uid\":\"");
        put_uuid();
        PUTL("\",\"resourceVersion\":\"");
        put_u(resource_version);
        PUTL("\",\"generation\":");
        put_u(3 + below(40));
        PUTL(",\"creationTimestamp\":\"");
        put_time(q->t0 - (int64_t)(1 + below(90)) * 86400000000LL, false);
        putc_('"');
    }
    PUTL(",\"labels\":{\"app.kubernetes.io/name\":\"");
    puts_(apps[q->app]);
    PUTL("\",\"app.kubernetes.io/part-of\":\"shop\",\"app.kubernetes.io/managed-by\":\"");
    puts_(q->a->kind == K_SA ? "argocd" : "kubectl");
    PUTL("\"}");
}

static void put_container(const struct req *q)
{
    PUTL("{\"name\":\"");
    puts_(apps[q->app]);
    PUTL("\",\"image\":\"");
    puts_(images[q->app % NIMAGES]);
    PUTL("\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}],"
         "\"env\":[{\"name\":\"LOG_LEVEL\",\"value\":\"info\"},{\"name\":\"POD_NAMESPACE\","
         "\"valueFrom\":{\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"metadata."
         "namespace\"}}}],\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"512Mi\"},"
         "\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"}},\"livenessProbe\":{\"httpGet\":"
         "{\"path\":\"/healthz\",\"port\":8080,\"scheme\":\"HTTP\"},\"initialDelaySeconds\":10,"
         "\"timeoutSeconds\":1,\"periodSeconds\":10,\"successThreshold\":1,"
         "\"failureThreshold\":3},\"terminationMessagePath\":\"/dev/termination-log\","
         "\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":\"IfNotPresent\","
         "\"securityContext\":{\"allowPrivilegeEscalation\":false,\"runAsNonRoot\":true}}");
}

static void put_deployment(const struct req *q)
{
    PUTL("{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",");
    put_meta(q, q->name, true);
    PUTL(",\"annotations\":{\"deployment.kubernetes.io/revision\":\"");
    put_u(2 + below(30));
    PUTL("\"},\"managedFields\":[");
    put_managed(q->a->kind == K_SA ? "argocd-controller" : "kubectl-client-side-apply",
                q->t0 - 3600000000LL,
                "{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app.kubernetes.io/name\":{}}},"
                "\"f:spec\":{\"f:replicas\":{},\"f:selector\":{},\"f:template\":{\"f:spec\":"
                "{\"f:containers\":{}}}}}");
    putc_(',');
    put_managed("kube-controller-manager", q->t0 - 60000000LL,
                "{\"f:metadata\":{\"f:annotations\":{\"f:deployment.kubernetes.io/revision\":{}}"
                "},\"f:status\":{\"f:availableReplicas\":{},\"f:conditions\":{},"
                "\"f:observedGeneration\":{},\"f:readyReplicas\":{},\"f:replicas\":{}}}");
    PUTL("]},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app.kubernetes.io/name\""
         ":\"");
    puts_(apps[q->app]);
    PUTL("\"}},\"template\":{\"metadata\":{\"creationTimestamp\":null,\"labels\":{"
         "\"app.kubernetes.io/name\":\"");
    puts_(apps[q->app]);
    PUTL("\"},\"annotations\":{\"kubectl.kubernetes.io/restartedAt\":\"");
    put_time(q->t0, false);
    PUTL("\"}},\"spec\":{\"containers\":[");
    put_container(q);
    PUTL("],\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":"
         "\"ClusterFirst\",\"serviceAccountName\":\"");
    puts_(apps[q->app]);
    PUTL("\",\"securityContext\":{},\"schedulerName\":\"default-scheduler\"}},\"strategy\":{"
         "\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":\"25%\","
         "\"maxSurge\":\"25%\"}},\"revisionHistoryLimit\":10,\"progressDeadlineSeconds\":600},"
         "\"status\":{\"observedGeneration\":12,\"replicas\":3,\"updatedReplicas\":1,"
         "\"readyReplicas\":3,\"availableReplicas\":3,\"conditions\":[{\"type\":\"Available\","
         "\"status\":\"True\",\"lastUpdateTime\":\"");
    put_time(q->t0 - 86400000000LL, false);
    PUTL("\",\"lastTransitionTime\":\"");
    put_time(q->t0 - 86400000000LL, false);
    PUTL("\",\"reason\":\"MinimumReplicasAvailable\",\"message\":\"Deployment has minimum "
         "availability.\"}]}}");
}

static void put_pod(const struct req *q, bool response)
{
    PUTL("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"generateName\":\"");
    puts_(apps[q->app]);
    PUTL("-7d9f8b6c5d-\",\"namespace\":\"");
    puts_(q->ns);
    putc_('"');
    if (response) {
        PUTL(",\"name\":\"");
        puts_(apps[q->app]);
        PUTL("-7d9f8b6c5d-");
        put_suffix(rnd(), 5);
        PUTL("\",\"uid\":\"");
        put_uuid();
        PUTL("\",\"resourceVersion\":\"");
        put_u(resource_version);
        PUTL("\",\"creationTimestamp\":\"");
        put_time(q->t0, false);
        putc_('"');
    } else {
        PUTL(",\"creationTimestamp\":null");
    }
    PUTL(",\"labels\":{\"app.kubernetes.io/name\":\"");
    puts_(apps[q->app]);
    PUTL("\",\"pod-template-hash\":\"7d9f8b6c5d\"},\"ownerReferences\":[{\"apiVersion\":\"apps/"
         "v1\",\"kind\":\"ReplicaSet\",\"name\":\"");
    puts_(apps[q->app]);
    PUTL("-7d9f8b6c5d\",\"uid\":\"");
    put_uuid();
    PUTL("\",\"controller\":true,\"blockOwnerDeletion\":true}]},\"spec\":{\"volumes\":[{\"name\":"
         "\"kube-api-access-x7k2p\",\"projected\":{\"sources\":[{\"serviceAccountToken\":{"
         "\"expirationSeconds\":3607,\"path\":\"token\"}},{\"configMap\":{\"name\":\"kube-root-"
         "ca.crt\",\"items\":[{\"key\":\"ca.crt\",\"path\":\"ca.crt\"}]}}],\"defaultMode\":420}}]"
         ",\"containers\":[");
    put_container(q);
    PUTL("],\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":"
         "\"ClusterFirst\",\"serviceAccountName\":\"default\",\"securityContext\":{},"
         "\"schedulerName\":\"default-scheduler\",\"tolerations\":[{\"key\":\"node.kubernetes.io"
         "/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":"
         "300}],\"priority\":0,\"enableServiceLinks\":true,\"preemptionPolicy\":"
         "\"PreemptLowerPriority\"},\"status\":{");
    if (response)
        PUTL("\"phase\":\"Pending\",\"qosClass\":\"Burstable\"");
    PUTL("}}");
}

static void put_configmap(const struct req *q, bool response)
{
    PUTL("{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",");
    put_meta(q, q->name[0] ? q->name : "release-notes", response);
    PUTL("},\"data\":{\"LOG_LEVEL\":\"info\",\"FEATURE_FLAGS\":\"checkout-v2,search-ranking\","
         "\"config.yaml\":\"server:\\n  port: 8080\\n  timeout: 30s\\ncache:\\n  ttl: 300\\n\"}}");
}

static void put_body(const struct req *q, bool response)
{
    switch (q->x->body) {
    case B_DEPLOY_PATCH:
        if (!response) {
            PUTL("{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"kubectl.kubernetes."
                 "io/restartedAt\":\"");
            put_time(q->t0, false);
            PUTL("\"}}}}}");
        } else {
            put_deployment(q);
        }
        break;
    case B_POD: put_pod(q, response); break;
    case B_CM: put_configmap(q, response); break;
    case B_POD_STATUS:
        if (response) {
            put_pod(q, true);
            break;
        }
        PUTL("{\"metadata\":{\"uid\":\"");
        put_uuid();
        PUTL("\"},\"status\":{\"$setElementOrder/conditions\":[{\"type\":\"Initialized\"},{\"type"
             "\":\"Ready\"},{\"type\":\"ContainersReady\"},{\"type\":\"PodScheduled\"}],"
             "\"conditions\":[{\"lastProbeTime\":null,\"lastTransitionTime\":\"");
        put_time(q->t0, false);
        PUTL("\",\"status\":\"True\",\"type\":\"Ready\"}],\"containerStatuses\":[{\"containerID\":"
             "\"containerd://");
        put_hex(rnd(), 16);
        put_hex(rnd(), 16);
        PUTL("\",\"image\":\"");
        puts_(images[q->app % NIMAGES]);
        PUTL("\",\"lastState\":{},\"name\":\"");
        puts_(apps[q->app]);
        PUTL("\",\"ready\":true,\"restartCount\":0,\"started\":true,\"state\":{\"running\":{"
             "\"startedAt\":\"");
        put_time(q->t0 - 5000000, false);
        PUTL("\"}}}]}}");
        break;
    case B_NODE_STATUS:
        PUTL("{\"status\":{\"$setElementOrder/conditions\":[{\"type\":\"MemoryPressure\"},{\"type"
             "\":\"DiskPressure\"},{\"type\":\"PIDPressure\"},{\"type\":\"Ready\"}],\"conditions\":"
             "[{\"lastHeartbeatTime\":\"");
        put_time(q->t0, false);
        PUTL("\",\"type\":\"MemoryPressure\"},{\"lastHeartbeatTime\":\"");
        put_time(q->t0, false);
        PUTL("\",\"type\":\"DiskPressure\"},{\"lastHeartbeatTime\":\"");
        put_time(q->t0, false);
        PUTL("\",\"type\":\"PIDPressure\"},{\"lastHeartbeatTime\":\"");
        put_time(q->t0, false);
        PUTL("\",\"type\":\"Ready\"}]}}");
        break;
    case B_EVENT:
        PUTL("{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"");
        puts_(apps[q->app]);
        putc_('.');
        put_hex(rnd(), 16);
        PUTL("\",\"namespace\":\"");
        puts_(q->ns);
        PUTL(
            "\",\"creationTimestamp\":null},\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"");
        puts_(q->ns);
        PUTL("\",\"name\":\"");
        puts_(apps[q->app]);
        PUTL("-7d9f8b6c5d-");
        put_suffix(rnd(), 5);
        PUTL("\",\"apiVersion\":\"v1\"},\"reason\":\"Pulled\",\"message\":\"Container image \\\"");
        puts_(images[q->app % NIMAGES]);
        PUTL("\\\" already present on machine\",\"source\":{\"component\":\"kubelet\"},"
             "\"firstTimestamp\":\"");
        put_time(q->t0, false);
        PUTL("\",\"lastTimestamp\":\"");
        put_time(q->t0, false);
        PUTL("\",\"count\":1,\"type\":\"Normal\",\"eventTime\":null,\"reportingComponent\":"
             "\"kubelet\",\"reportingInstance\":\"\"}");
        break;
    case B_BINDING:
        PUTL("{\"kind\":\"Binding\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"");
        puts_(q->name);
        PUTL("\",\"namespace\":\"");
        puts_(q->ns);
        PUTL("\",\"uid\":\"");
        put_uuid();
        PUTL("\",\"creationTimestamp\":null},\"target\":{\"kind\":\"Node\",\"name\":\"");
        puts_(node_names[below(NNODES)]);
        PUTL("\"}}");
        break;
    case B_LEASE:
        PUTL("{\"kind\":\"Lease\",\"apiVersion\":\"coordination.k8s.io/v1\",\"metadata\":{"
             "\"name\":\"");
        puts_(q->name);
        PUTL("\",\"namespace\":\"");
        puts_(q->ns);
        PUTL("\",\"uid\":\"");
        put_uuid();
        PUTL("\",\"resourceVersion\":\"");
        put_u(resource_version - 1);
        PUTL("\",\"creationTimestamp\":\"");
        put_time(q->t0 - 30 * 86400000000LL, false);
        PUTL("\",\"managedFields\":[");
        put_managed(q->a->ua, q->t0 - 10000000,
                    "{\"f:spec\":{\"f:acquireTime\":{},\"f:holderIdentity\":{},"
                    "\"f:leaseDurationSeconds\":{},\"f:leaseTransitions\":{},\"f:renewTime\":{}}}");
        PUTL("]},\"spec\":{\"holderIdentity\":\"");
        puts_(q->name);
        PUTL("_");
        put_uuid();
        PUTL("\",\"leaseDurationSeconds\":40,\"acquireTime\":\"");
        put_time(q->t0 - 30 * 86400000000LL, true);
        PUTL("\",\"renewTime\":\"");
        put_time(q->t0, true);
        PUTL("\",\"leaseTransitions\":3}}");
        break;
    case B_RS_STATUS:
        PUTL("{\"kind\":\"ReplicaSet\",\"apiVersion\":\"apps/v1\",");
        put_meta(q, q->name, true);
        PUTL("},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app.kubernetes.io/name\""
             ":\"");
        puts_(apps[q->app]);
        PUTL("\"}}},\"status\":{\"replicas\":3,\"fullyLabeledReplicas\":3,\"readyReplicas\":");
        put_u(2 + below(2));
        PUTL(",\"availableReplicas\":3,\"observedGeneration\":");
        put_u(3 + below(40));
        PUTL("}}");
        break;
    default: PUTL("{}");
    }
}

static void put_event(const struct req *q, bool received_stage)
{
    const struct action *x = q->x;
    const struct actor *a = q->a;
    PUTL("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"");
    puts_(x->level == L_META ? "Metadata" : x->level == L_REQ ? "Request" : "RequestResponse");
    PUTL("\",\"auditID\":\"");
    puts_(q->audit_id);
    PUTL("\",\"stage\":\"");
    puts_(received_stage ? "RequestReceived" : "ResponseComplete");
    PUTL("\",\"requestURI\":\"");
    put_uri(q);
    PUTL("\",\"verb\":\"");
    puts_(x->verb);
    PUTL("\",");
    put_user(a);
    PUTL(",\"sourceIPs\":[\"");
    puts_(a->ip);
    PUTL("\"],\"userAgent\":\"");
    puts_(a->ua);
    putc_('"');
    if (x->resource) {
        PUTL(",\"objectRef\":{\"resource\":\"");
        puts_(x->resource);
        putc_('"');
        if (q->ns) {
            PUTL(",\"namespace\":\"");
            puts_(q->ns);
            putc_('"');
        }
        if (q->name[0]) {
            PUTL(",\"name\":\"");
            puts_(q->name);
            putc_('"');
        }
        if (x->group) {
            PUTL(",\"apiGroup\":\"");
            puts_(x->group);
            putc_('"');
        }
        PUTL(",\"apiVersion\":\"");
        puts_(x->version);
        putc_('"');
        if (x->sub) {
            PUTL(",\"subresource\":\"");
            puts_(x->sub);
            putc_('"');
        }
        putc_('}');
    }
    if (!received_stage) {
        PUTL(",\"responseStatus\":{\"metadata\":{}");
        if (q->code >= 400) {
            PUTL(",\"status\":\"Failure\",\"message\":\"");
            if (q->code == 403) {
                const char *r = x->resource ? x->resource : "";
                puts_(r);
                if (q->name[0]) {
                    PUTL(" \\\"");
                    puts_(q->name);
                    PUTL("\\\"");
                }
                PUTL(" is forbidden: User \\\"");
                puts_(a->user);
                PUTL("\\\" cannot ");
                puts_(x->verb);
                PUTL(" resource \\\"");
                puts_(r);
                if (x->sub) {
                    putc_('/');
                    puts_(x->sub);
                }
                PUTL("\\\" in API group \\\"");
                if (x->group)
                    puts_(x->group);
                PUTL("\\\"");
                if (q->ns) {
                    PUTL(" in the namespace \\\"");
                    puts_(q->ns);
                    PUTL("\\\"");
                } else {
                    PUTL(" at the cluster scope");
                }
            } else if (q->code == 404) {
                puts_(x->resource);
                PUTL(" \\\"");
                puts_(q->name);
                PUTL("\\\" not found");
            } else {
                PUTL("Operation cannot be fulfilled on ");
                puts_(x->resource);
                PUTL(" \\\"");
                puts_(q->name);
                PUTL("\\\": the object has been modified; please apply your changes to the latest "
                     "version and try again");
            }
            PUTL("\",\"reason\":\"");
            puts_(q->fail_reason);
            PUTL("\",\"details\":{");
            if (q->name[0]) {
                PUTL("\"name\":\"");
                puts_(q->name);
                PUTL("\",");
            }
            if (x->group) {
                PUTL("\"group\":\"");
                puts_(x->group);
                PUTL("\",");
            }
            PUTL("\"kind\":\"");
            puts_(x->resource ? x->resource : "");
            PUTL("\"}");
        }
        PUTL(",\"code\":");
        put_u(q->code);
        putc_('}');
    }
    if (x->level >= L_REQ && x->body != B_NONE && !received_stage && !q->forbid) {
        if (strcmp(x->verb, "get") != 0) { /* reads send no body */
            PUTL(",\"requestObject\":");
            put_body(q, false);
        }
        if (x->level == L_RR && q->code < 400) {
            PUTL(",\"responseObject\":");
            put_body(q, true);
        }
    }
    PUTL(",\"requestReceivedTimestamp\":\"");
    put_time(q->t0, true);
    PUTL("\",\"stageTimestamp\":\"");
    put_time(received_stage ? q->t0 : q->t1, true);
    putc_('"');
    if (!received_stage) {
        PUTL(",\"annotations\":{");
        if (q->t1 - q->t0 > 500000 && strcmp(x->verb, "watch") != 0) {
            PUTL("\"apiserver.latency.k8s.io/etcd\":\"");
            put_u((uint64_t)(q->t1 - q->t0) / 1000 / 3);
            PUTL("ms\",\"apiserver.latency.k8s.io/total\":\"");
            put_u((uint64_t)(q->t1 - q->t0) / 1000);
            PUTL("ms\",");
        }
        PUTL("\"authorization.k8s.io/decision\":\"");
        puts_(q->forbid ? "forbid" : "allow");
        PUTL("\",\"authorization.k8s.io/reason\":\"");
        if (!q->forbid)
            puts_(a->reason);
        PUTL("\"}");
    }
    PUTL("}\n");
}

/* ======================================================================================== */
/* Choosing requests                                                                        */
/* ======================================================================================== */

static int64_t now_us; /* event clock */

static void make_request(struct req *q, const struct actor *a, const struct action *x, int forced)
{
    memset(q, 0, sizeof(*q));
    q->a = a;
    q->x = x;
    q->app = below(NAPPS);
    switch (x->ns) {
    case NS_NONE: q->ns = NULL; break;
    case NS_SYS: q->ns = "kube-system"; break;
    case NS_NODE_LEASE: q->ns = "kube-node-lease"; break;
    default: q->ns = namespaces[below(NNS)];
    }
    gen_name(q);
    /* forced: -1 = baseline walk "allow", 1 = baseline walk "forbid", 0 = random */
    q->forbid = forced ? forced > 0 : x->forbid_pct && chance(x->forbid_pct);
    const char *v = x->verb;
    q->code = strcmp(v, "create") == 0 ? 201 : 200;
    if (x->sub && strcmp(x->sub, "exec") == 0)
        q->code = 101;
    if (q->forbid) {
        q->code = 403;
        q->fail_reason = "Forbidden";
    } else if (!forced && strcmp(v, "get") == 0 && q->name[0] && chance(3)) {
        q->code = 404;
        q->fail_reason = "NotFound";
    } else if (!forced && strcmp(v, "update") == 0 && q->name[0] && chance(2)) {
        q->code = 409;
        q->fail_reason = "Conflict";
    }
    q->t0 = now_us;
    int64_t lat = 600 + (int64_t)below(12000);
    if (strcmp(v, "watch") == 0)
        lat = 463000000 + (int64_t)below(1000000);
    else if (x->sub && strcmp(x->sub, "exec") == 0)
        lat = 2000000 + (int64_t)below(300000000);
    else if (chance(1))
        lat = 500000 + (int64_t)below(2500000);
    q->t1 = q->t0 + lat;
    char *p = q->audit_id;
    /* the audit id is written through the output buffer helpers into a small scratch */
    size_t save = olen;
    put_uuid();
    memcpy(p, ob + save, 36);
    p[36] = '\0';
    olen = save;
    if (x->level != L_META || strcmp(v, "get") != 0)
        resource_version += 1 + below(3);
}

static const struct actor *pick_actor(void)
{
    for (;;) {
        unsigned r = below(actor_total);
        size_t i = 0;
        while (r >= actors[i].weight)
            r -= actors[i++].weight;
        const struct actor *a = &actors[i];
        if (a->kind == K_HUMAN) {
            /* people work 07:00-19:00 UTC on weekdays; 1 in 10 at other times */
            int64_t sec = now_us / 1000000;
            int hour = (int)((sec / 3600) % 24), dow = (int)((sec / 86400 + 4) % 7); /* 0 = Sun */
            bool work = hour >= 7 && hour < 19 && dow >= 1 && dow <= 5;
            if (!work && !chance(10))
                continue;
        }
        return a;
    }
}

static const struct action *pick_action(const struct actor *a)
{
    unsigned r = below(a->act_total);
    size_t i = 0;
    while (r >= a->acts[i].weight)
        r -= a->acts[i++].weight;
    return &a->acts[i];
}

/* Write the request's events; returns how many (a RequestReceived stage only if room). */
static uint64_t emit(const struct req *q, bool room_for_two)
{
    bool rr = q->a->rr_pct && chance(q->a->rr_pct) && room_for_two;
    if (rr)
        put_event(q, true);
    put_event(q, false);
    return rr ? 2 : 1;
}

/* ======================================================================================== */
/* Novel combinations                                                                       */
/* ======================================================================================== */

static const struct action novel_get_secret = {"get",  NULL,   "v1", "secrets", NULL, NS_ANY, true,
                                               L_META, B_NONE, 0,    1,         NULL, NULL};
static const struct action novel_list_secrets = {
    "list", NULL, "v1", "secrets", NULL, NS_ANY, false, L_META, B_NONE, 0, 1, NULL, NULL};
static const struct action novel_list_pods = {"list", NULL,   "v1", "pods", NULL, NS_SYS, false,
                                              L_META, B_NONE, 0,    1,      NULL, NULL};
static const struct action novel_crb = {"create", "rbac.authorization.k8s.io",
                                        "v1",     "clusterrolebindings",
                                        NULL,     NS_NONE,
                                        false,    L_META,
                                        B_NONE,   0,
                                        1,        NULL,
                                        NULL};
static const struct action novel_get_pods = {"get",  NULL,   "v1", "pods", NULL, NS_ANY, true,
                                             L_META, B_NONE, 0,    1,      NULL, NULL};
static const struct action novel_exec = {"create", NULL,   "v1", "pods", "exec", NS_ANY, true,
                                         L_REQ,    B_NONE, 0,    1,      NULL,   NULL};

struct novel {
    char user[96];
    char ua[128];
    char groups[160];
    char reason[256];
    char ip[24];
    const struct action *x;
    bool forbid;
};

static void make_novel(uint64_t k, struct novel *n)
{
    unsigned v = (unsigned)(k / 6);
    memset(n, 0, sizeof(*n));
    snprintf(n->ip, sizeof(n->ip), "203.0.113.%u", 100 + (unsigned)(k % 150));
    switch (k % 6) {
    case 0: /* an admin with curl reads a secret */
        snprintf(n->user, sizeof(n->user), "alice@example.com");
        snprintf(n->groups, sizeof(n->groups), "[\"platform-admins\",\"system:authenticated\"]");
        snprintf(n->ua, sizeof(n->ua), "curl/8.%u.%u", 5 + v / 10, v % 10);
        snprintf(n->reason, sizeof(n->reason), "%s",
                 RBAC("ClusterRoleBinding", "platform-admins", "cluster-admin",
                      "Group \\\"platform-admins\\\""));
        n->x = &novel_get_secret;
        break;
    case 1: /* a workload's service account lists secrets with python: forbidden */
        snprintf(n->user, sizeof(n->user), "system:serviceaccount:web:default");
        snprintf(n->groups, sizeof(n->groups), "%s", SA_GROUPS("web"));
        snprintf(n->ua, sizeof(n->ua), "python-requests/2.%u.%u", 31 + v / 10, v % 10);
        n->x = &novel_list_secrets;
        n->forbid = true;
        break;
    case 2: /* anonymous and allowed */
        snprintf(n->user, sizeof(n->user), "system:anonymous");
        snprintf(n->groups, sizeof(n->groups), "[\"system:unauthenticated\"]");
        snprintf(n->ua, sizeof(n->ua), "curl/7.%u.%u", 88 + v / 10, v % 10);
        snprintf(
            n->reason, sizeof(n->reason), "%s",
            RBAC("ClusterRoleBinding", "anonymous-view", "view", "User \\\"system:anonymous\\\""));
        n->x = &novel_list_pods;
        break;
    case 3: /* a developer tries to bind a cluster role with a Go client: forbidden */
        snprintf(n->user, sizeof(n->user), "bob@example.com");
        snprintf(n->groups, sizeof(n->groups), "[\"developers\",\"system:authenticated\"]");
        snprintf(n->ua, sizeof(n->ua), "Go-http-client/1.%u", 1 + v);
        n->x = &novel_crb;
        n->forbid = true;
        break;
    case 4: /* a user never seen before */
        snprintf(n->user, sizeof(n->user), "dave%u@example.com", v);
        snprintf(n->groups, sizeof(n->groups), "[\"developers\",\"system:authenticated\"]");
        snprintf(n->ua, sizeof(n->ua), "kubectl/v1.30.%u (windows/amd64) kubernetes/7c48c2b", v);
        snprintf(n->reason, sizeof(n->reason), "%s",
                 RBAC("ClusterRoleBinding", "developers-view", "view", "Group \\\"developers\\\""));
        n->x = &novel_get_pods;
        break;
    default: /* a monitoring service account execs into a pod with kubectl */
        snprintf(n->user, sizeof(n->user), "system:serviceaccount:monitoring:prometheus");
        snprintf(n->groups, sizeof(n->groups), "%s", SA_GROUPS("monitoring"));
        snprintf(n->ua, sizeof(n->ua), "kubectl/v1.29.%u (linux/amd64) kubernetes/55019c8", 5 + v);
        snprintf(n->reason, sizeof(n->reason), "%s",
                 RBAC("ClusterRoleBinding", "prometheus-debug", "edit",
                      "ServiceAccount \\\"prometheus/monitoring\\\""));
        n->x = &novel_exec;
        break;
    }
}

static FILE *truth;

static void emit_novel(uint64_t k)
{
    struct novel n;
    make_novel(k, &n);
    struct actor a = {.user = n.user,
                      .groups = n.groups,
                      .ua = n.ua,
                      .reason = n.reason,
                      .ip = n.ip,
                      .kind = K_HUMAN,
                      .rr_pct = 0};
    struct req q;
    make_request(&q, &a, n.x, n.forbid ? 1 : -1);
    put_event(&q, false);
    if (truth) {
        size_t save = olen;
        put_time(q.t1, true);
        char ts[40];
        memcpy(ts, ob + save, olen - save);
        ts[olen - save] = '\0';
        olen = save;
        /* the strings above contain no characters that need escaping except the UA/user,
           which are plain ASCII without quotes or backslashes by construction */
        fprintf(truth,
                "{\"n\":%" PRIu64 ",\"stageTimestamp\":\"%s\",\"auditID\":\"%s\",\"decision\":"
                "\"%s\",\"username\":\"%s\",\"user_agent\":\"%s\"}\n",
                k, ts, q.audit_id, n.forbid ? "forbid" : "allow", n.user, n.ua);
    }
}

/* ======================================================================================== */
/* Options and main loop                                                                    */
/* ======================================================================================== */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kadet-gen [--seed N] [--days D] [--start TIME] [--events N | --bytes SIZE]\n"
            "                 [--rate EPS] [--novel N] [--novel-after DAYS] [--truth FILE]\n"
            "                 [--out FILE]\n\n"
            "Write realistic raw audit.k8s.io/v1 audit events (one JSON per line, as\n"
            "kube-apiserver's log backend writes them) to FILE or stdout. Same options, same\n"
            "bytes.\n\n"
            "  --seed N          random seed (default 1)\n"
            "  --days D          days of event time the output spans (default 3; may be 0.5)\n"
            "  --start TIME      first event time: 2026-01-05, 2026-01-05T08:00:00Z or epoch\n"
            "                    seconds (default 2026-01-05T00:00:00Z, a Monday)\n"
            "  --events N        number of events (default 100000)\n"
            "  --bytes SIZE      write events until SIZE bytes (never more): 1G = 2^30,\n"
            "                    1GB = 10^9, also K/M/T and KB/MB/TB (~%d bytes per event)\n"
            "  --rate EPS        events per second; with --days and no --events/--bytes\n"
            "                    gives the number of events\n"
            "  --novel N         inject N novel decision/user/user-agent combinations\n"
            "  --novel-after D   first novel combination after D days (default: the first\n"
            "                    two thirds of --days are normal traffic)\n"
            "  --truth FILE      write the injected combinations as NDJSON\n"
            "  --out FILE        output file (default stdout)\n",
            AVG_EVENT_BYTES);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    uint64_t mul = 1;
    static const char units[] = "KMGT";
    if (*end) {
        const char *u = strchr(units, end[0]);
        if (!u || !end[0])
            return false;
        bool dec = end[1] == 'B';
        if (end[1] && !(dec && !end[2]))
            return false;
        for (long i = 0; i <= u - units; i++)
            mul *= dec ? 1000 : 1024;
    }
    if (v > UINT64_MAX / mul)
        return false;
    *out = v * mul;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= 0) || v > 1e6)
        return false;
    *out = v;
    return true;
}

/* 2026-01-05, 2026-01-05T08:00:00Z (any RFC 3339 date-time), or epoch seconds -> us */
static bool parse_start(const char *s, int64_t *out)
{
    uint64_t e;
    int64_t ms;
    char buf[64];
    if (parse_u64(s, &e)) {
        *out = (int64_t)e * 1000000;
        return true;
    }
    if (strlen(s) == 10) { /* a date alone: midnight UTC */
        snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
        s = buf;
    }
    if (!ev_time_parse(s, strlen(s), &ms) || ms < 0)
        return false;
    *out = ms * 1000;
    return true;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, events = 0, bytes = 0, novel = 0;
    double days = 3, rate = 0, novel_after = -1;
    int64_t start = 0;
    const char *out = NULL, *truth_path = NULL;
    bool have_start = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kadet-gen: %s: missing value (or unknown option)\n", a);
            return 1;
        }
        const char *v = argv[++i];
        bool ok;
        if (strcmp(a, "--seed") == 0)
            ok = parse_u64(v, &seed);
        else if (strcmp(a, "--days") == 0)
            ok = parse_double(v, &days) && days > 0;
        else if (strcmp(a, "--start") == 0)
            ok = have_start = parse_start(v, &start);
        else if (strcmp(a, "--events") == 0)
            ok = parse_u64(v, &events) && events > 0;
        else if (strcmp(a, "--bytes") == 0)
            ok = parse_size(v, &bytes) && bytes > 0;
        else if (strcmp(a, "--rate") == 0)
            ok = parse_double(v, &rate) && rate > 0;
        else if (strcmp(a, "--novel") == 0)
            ok = parse_u64(v, &novel);
        else if (strcmp(a, "--novel-after") == 0)
            ok = parse_double(v, &novel_after);
        else if (strcmp(a, "--truth") == 0)
            ok = (truth_path = v) != NULL;
        else if (strcmp(a, "--out") == 0)
            ok = (out = v) != NULL;
        else {
            fprintf(stderr, "kadet-gen: unknown option '%s'\n", a);
            usage(stderr);
            return 1;
        }
        if (!ok) {
            fprintf(stderr, "kadet-gen: bad value '%s' for %s\n", v, a);
            return 1;
        }
    }
    if (events && bytes) {
        fprintf(stderr, "kadet-gen: give --events or --bytes, not both\n");
        return 1;
    }
    if (!have_start)
        parse_start("2026-01-05T00:00:00Z", &start);
    uint64_t n_est = events  ? events
                     : bytes ? bytes / AVG_EVENT_BYTES + 1
                     : rate  ? (uint64_t)(rate * days * 86400.0) + 1
                             : 100000;
    if (!events && !bytes)
        events = n_est;
    if (novel_after < 0)
        novel_after = days > 1.5 ? days - (double)(uint64_t)(days / 3 + 0.5) : days * 2 / 3;
    if (novel_after >= days) {
        fprintf(stderr, "kadet-gen: --novel-after %.3g must be less than --days %.3g\n",
                novel_after, days);
        return 1;
    }
    if (out) {
        ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (ofd < 0) {
            fprintf(stderr, "kadet-gen: %s: %s\n", out, strerror(errno));
            return 2;
        }
    }
    if (truth_path && !(truth = fopen(truth_path, "w"))) {
        fprintf(stderr, "kadet-gen: %s: %s\n", truth_path, strerror(errno));
        return 2;
    }
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++)
        rs[i] = splitmix(&sm);
    ocap = (size_t)4 << 20;
    ob = malloc(ocap + (1 << 20)); /* 1 MiB of slack: one event always fits */
    if (!ob) {
        fprintf(stderr, "kadet-gen: out of memory\n");
        return 2;
    }
    build_cluster();

    int64_t span = (int64_t)(days * 86400e6);
    int64_t dt = span / (int64_t)n_est;
    if (dt < 1)
        dt = 1;
    int64_t novel_t0 = start + (int64_t)(novel_after * 86400e6);
    int64_t novel_dt = novel ? (start + span - novel_t0) / (int64_t)novel : 0;
    uint64_t next_novel = 0;
    now_us = start;

    /* baseline walk: every (actor, action) once, with both decisions where forbid is possible */
    size_t walk_actor = 0, walk_act = 0;
    int walk_forbid = 0;
    uint64_t n = 0, lines = 0;
    for (;;) {
        if (events && n >= events)
            break;
        bool room = !events || n + 2 <= events;
        size_t before = olen;
        lines = 1;
        if (next_novel < novel && now_us >= novel_t0 + (int64_t)next_novel * novel_dt) {
            emit_novel(next_novel++);
        } else if (walk_actor < nactors) {
            const struct actor *a = &actors[walk_actor];
            const struct action *x = &a->acts[walk_act];
            struct req q;
            make_request(&q, a, x,
                         x->forbid_pct == 0     ? -1
                         : x->forbid_pct >= 100 ? 1
                         : walk_forbid          ? 1
                                                : -1);
            lines = emit(&q, room);
            if (x->forbid_pct && x->forbid_pct < 100 && !walk_forbid) {
                walk_forbid = 1;
            } else {
                walk_forbid = 0;
                if (++walk_act == a->nacts) {
                    walk_act = 0;
                    walk_actor++;
                }
            }
        } else {
            const struct actor *a = pick_actor();
            struct req q;
            make_request(&q, a, pick_action(a), 0);
            lines = emit(&q, room);
        }
        if (bytes && owritten + olen > bytes) {
            olen = before; /* --bytes is a ceiling: drop the event that crosses it */
            break;
        }
        n += lines;
        for (uint64_t l = 0; l < lines; l++) /* time advances by about dt per event written */
            now_us += 1 + (int64_t)below((uint32_t)(dt * 2 > UINT32_MAX ? UINT32_MAX : dt * 2));
        if (olen >= ocap)
            flush_out();
    }
    flush_out();
    if (out && close(ofd) != 0) {
        fprintf(stderr, "kadet-gen: %s: %s\n", out, strerror(errno));
        return 2;
    }
    if (truth && fclose(truth) != 0) {
        fprintf(stderr, "kadet-gen: %s: write error\n", truth_path);
        return 2;
    }
    free(ob);
    return 0;
}
