/*
 * gen_audit.c - deterministic generator of realistic Kubernetes audit logs (NDJSON, the shape
 * kube-apiserver's log backend writes) for `make bench-json`.
 *
 * usage: gen_audit MEGABYTES [SEED] > file.jsonl
 *
 * The mix follows what a busy cluster's audit policy produces: mostly Metadata-level events
 * (controllers, kubelets, service accounts; get/list/watch/update of leases, pods, configmaps),
 * some Request-level events with a pod spec in requestObject, a few RequestResponse events with
 * a responseObject, RequestReceived stages, forbid decisions, user.extra maps. Same seed, same
 * bytes. This is a benchmark input, not a test oracle. Not linked into kadet.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned pick(unsigned n) { return (unsigned)(rnd() % n); }

#define PICK(arr) arr[pick(sizeof(arr) / sizeof(*arr))]

static void uuid(char out[37])
{
    uint64_t a = rnd(), b = rnd();
    snprintf(out, 37, "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64 "-%012" PRIx64,
             a >> 32, (a >> 16) & 0xffff, a & 0xfff, (b >> 48) & 0xfff,
             b & (uint64_t)0xffffffffffffull);
}

static const char *const namespaces[] = {"default",       "kube-system",  "monitoring", "payments",
                                         "ingress-nginx", "cert-manager", "argocd",     "logging"};
static const char *const resources[] = {"pods",   "leases",      "configmaps",      "secrets",
                                        "nodes",  "services",    "endpoints",       "deployments",
                                        "events", "replicasets", "serviceaccounts", "roles"};
static const char *const verbs[] = {"get",   "get",    "get",    "list", "watch", "update",
                                    "patch", "create", "delete", "get",  "list",  "update"};
static const char *const agents[] = {
    "kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/leader-election",
    "kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819",
    "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
    "kube-scheduler/v1.29.2 (linux/amd64) kubernetes/4b8e819/leader-election",
    "argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format",
    "Go-http-client/2.0",
    "prometheus/2.48.1",
    "cert-manager-controller/v1.13.2 (linux/amd64) kubernetes/$Format/leader-election",
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Safari/537.36",
};
static const char *const users[] = {
    "system:kube-controller-manager",
    "system:node:ip-10-0-12-7.ec2.internal",
    "system:serviceaccount:argocd:argocd-application-controller",
    "system:kube-scheduler",
    "system:serviceaccount:monitoring:prometheus",
    "alice@example.com",
    "system:serviceaccount:cert-manager:cert-manager",
    "system:apiserver",
};

static void ts(char out[40], uint64_t us)
{
    uint64_t s = us / 1000000;
    unsigned day = (unsigned)(s / 86400) % 28 + 1;
    snprintf(out, 40, "2025-11-%02uT%02u:%02u:%02u.%06uZ", day, (unsigned)(s / 3600 % 24),
             (unsigned)(s / 60 % 60), (unsigned)(s % 60), (unsigned)(us % 1000000));
}

static size_t event(char *b, size_t cap, uint64_t now_us)
{
    char id[37], uid[37], rts[40], sts[40];
    uuid(id);
    uuid(uid);
    ts(rts, now_us);
    ts(sts, now_us + 1000 + pick(40000));
    const char *ns = PICK(namespaces), *res = PICK(resources), *verb = PICK(verbs);
    const char *user = PICK(users), *ua = PICK(agents);
    unsigned r = pick(100);
    const char *level = r < 8 ? "Request" : r < 11 ? "RequestResponse" : "Metadata";
    const char *stage = pick(10) == 0 ? "RequestReceived" : "ResponseComplete";
    bool forbid = pick(33) == 0;
    char name[64];
    snprintf(name, sizeof(name), "%s-%05u", res, pick(20000));
    size_t n = 0;
#define OUT(...) n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__)
    OUT("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/"
        "v1\",\"level\":\"%s\",\"auditID\":\"%s\","
        "\"stage\":\"%s\",\"requestURI\":\"/api/v1/namespaces/%s/%s/%s?resourceVersion=0\\u0026"
        "timeout=32s\",\"verb\":\"%s\",\"user\":{\"username\":\"%s\",\"uid\":\"%s\",\"groups\":["
        "\"system:serviceaccounts\",\"system:serviceaccounts:%s\",\"system:authenticated\"]",
        level, id, stage, ns, res, name, verb, user, uid, ns);
    if (pick(3) == 0) {
        char jti[37], puid[37];
        uuid(jti);
        uuid(puid);
        OUT(",\"extra\":{\"authentication.kubernetes.io/credential-id\":[\"JTI=%s\"],"
            "\"authentication.kubernetes.io/node-name\":[\"ip-10-0-%u-%u.ec2.internal\"],"
            "\"authentication.kubernetes.io/pod-name\":[\"%s-7d9f8c-%05u\"],"
            "\"authentication.kubernetes.io/pod-uid\":[\"%s\"]}",
            jti, pick(255), pick(255), ns, pick(99999), puid);
    }
    OUT("},\"sourceIPs\":[\"10.%u.%u.%u\"],\"userAgent\":\"%s\",\"objectRef\":{\"resource\":\"%s\","
        "\"namespace\":\"%s\",\"name\":\"%s\",\"apiVersion\":\"v1\"}",
        pick(256), pick(256), pick(256), ua, res, ns, name);
    if (strcmp(stage, "ResponseComplete") == 0) {
        if (forbid)
            OUT(",\"responseStatus\":{\"metadata\":{},\"status\":\"Failure\",\"message\":\"%s "
                "\\\"%s\\\" is forbidden: User \\\"%s\\\" cannot %s resource \\\"%s\\\" in API "
                "group \\\"\\\" in the namespace \\\"%s\\\"\",\"reason\":\"Forbidden\","
                "\"details\":{\"name\":\"%s\",\"kind\":\"%s\"},\"code\":403}",
                res, name, user, verb, res, ns, name, res);
        else
            OUT(",\"responseStatus\":{\"metadata\":{},\"code\":200}");
    }
    if (level[7] == 0 || level[7] == 'R') { /* Request or RequestResponse */
        OUT(",\"requestObject\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%"
            "s\","
            "\"namespace\":\"%s\",\"labels\":{\"app\":\"%s\",\"pod-template-hash\":\"7d9f8c\"}},"
            "\"spec\":{\"volumes\":[{\"name\":\"kube-api-access-%05u\",\"projected\":{\"sources\":"
            "[{\"serviceAccountToken\":{\"expirationSeconds\":3607,\"path\":\"token\"}}],"
            "\"defaultMode\":420}}],\"containers\":[{\"name\":\"app\",\"image\":"
            "\"registry.example.com/%s/app:1.%u.%u\",\"ports\":[{\"containerPort\":8080,"
            "\"protocol\":\"TCP\"}],\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":"
            "\"256Mi\"}},\"securityContext\":{\"privileged\":%s,\"runAsNonRoot\":true,"
            "\"runAsUser\":1000}}],\"restartPolicy\":\"Always\",\"hostNetwork\":%s,"
            "\"serviceAccountName\":\"default\"}}",
            name, ns, ns, pick(99999), ns, pick(30), pick(10), pick(50) ? "false" : "true",
            pick(40) ? "false" : "true");
    }
    if (level[7] == 'R') {
        OUT(",\"responseObject\":{\"kind\":\"Lease\",\"apiVersion\":\"coordination.k8s.io/v1\","
            "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"uid\":\"%s\",\"resourceVersion\":"
            "\"%u\",\"creationTimestamp\":\"2025-01-01T00:00:00Z\",\"managedFields\":[{\"manager\":"
            "\"kube-controller-manager\",\"operation\":\"Update\",\"apiVersion\":"
            "\"coordination.k8s.io/v1\",\"time\":\"%s\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{"
            "\"f:spec\":{\"f:acquireTime\":{},\"f:holderIdentity\":{},\"f:leaseDurationSeconds\":{}"
            ","
            "\"f:renewTime\":{}}}}]},\"spec\":{\"holderIdentity\":\"%s_%s\","
            "\"leaseDurationSeconds\":15,\"acquireTime\":\"%s\",\"renewTime\":\"%s\","
            "\"leaseTransitions\":%u}}",
            name, ns, uid, pick(100000000), sts, name, id, rts, sts, pick(20));
    }
    OUT(",\"requestReceivedTimestamp\":\"%s\",\"stageTimestamp\":\"%s\"", rts, sts);
    if (strcmp(stage, "ResponseComplete") == 0)
        OUT(",\"annotations\":{\"authorization.k8s.io/decision\":\"%s\","
            "\"authorization.k8s.io/reason\":\"%s\"}}\n",
            forbid ? "forbid" : "allow",
            forbid ? ""
                   : "RBAC: allowed by ClusterRoleBinding \\\"system:controller\\\" of "
                     "ClusterRole \\\"system:controller\\\" to User \\\"system:controller\\\"");
    else
        OUT("}\n");
#undef OUT
    return n < cap ? n : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gen_audit MEGABYTES [SEED] > file.jsonl\n");
        return 1;
    }
    uint64_t want = strtoull(argv[1], NULL, 10) << 20;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 42;
    static char buf[1 << 16];
    uint64_t total = 0, now = 1700000000000000ull;
    while (total < want) {
        size_t n = event(buf, sizeof(buf), now);
        now += 1 + pick(3000);
        if (fwrite(buf, 1, n, stdout) != n)
            return 2;
        total += n;
    }
    return 0;
}
