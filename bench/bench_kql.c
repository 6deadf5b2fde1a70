/*
 * bench_kql.c - micro-benchmark of KQL evaluation (kql_match) on an event view that is
 * already extracted, for the seed rule's query (issue 4 target: >= 5 M evaluations/s per
 * core). Single thread; prints one line per scenario and, with --markdown, the section that
 * `make bench-kql` writes into bench/RESULTS.md.
 *
 * Scenarios: the seed query on (1) the extracted view (only the query's fields, as the
 * extractor hands them over) matching, (2) the same view failing on the last clause, (3) a
 * complete ECS-shaped audit document (about 60 values), and (4) the most complex Kubernetes
 * rule query (hostpath volumes, 30+ wildcards) on its extracted view.
 *
 * Not a test: nothing here asserts a time.
 */
#include "base/arena.h"
#include "base/buf.h"
#include "event/event.h"
#include "kql/kql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char SEED_QUERY[] =
    "host.os.type:\"linux\" and event.dataset:\"kubernetes.audit_logs\" and "
    "kubernetes.audit.stage:\"ResponseComplete\" and user_agent.original:*\n";

static const char VIEW_MATCH[] =
    "{\"host\":{\"os\":{\"type\":\"linux\"}},\"event\":{\"dataset\":\"kubernetes.audit_logs\"},"
    "\"kubernetes\":{\"audit\":{\"stage\":\"ResponseComplete\"}},"
    "\"user_agent\":{\"original\":\"kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819\"}}";

static const char VIEW_MISS[] =
    "{\"host\":{\"os\":{\"type\":\"linux\"}},\"event\":{\"dataset\":\"kubernetes.audit_logs\"},"
    "\"kubernetes\":{\"audit\":{\"stage\":\"ResponseComplete\"}}}";

static const char FULL_DOC[] =
    "{\"@timestamp\":\"2025-07-22T10:00:00.123Z\",\"ecs\":{\"version\":\"8.11.0\"},"
    "\"data_stream\":{\"dataset\":\"kubernetes.audit_logs\",\"namespace\":\"default\","
    "\"type\":\"logs\"},\"event\":{\"action\":\"get\",\"category\":[\"web\"],\"dataset\":"
    "\"kubernetes.audit_logs\",\"ingested\":\"2025-07-22T10:00:01Z\",\"kind\":\"event\","
    "\"module\":\"kubernetes\",\"outcome\":\"success\"},\"host\":{\"name\":\"node-1\",\"os\":"
    "{\"family\":\"debian\",\"kernel\":\"6.1.0\",\"name\":\"Debian GNU/Linux\",\"platform\":"
    "\"debian\",\"type\":\"linux\",\"version\":\"12\"}},\"orchestrator\":{\"type\":"
    "\"kubernetes\"},\"source\":{\"ip\":[\"10.0.12.7\"]},\"user\":{\"name\":\"system:"
    "serviceaccount:default:app\"},\"user_agent\":{\"original\":\"kubectl/v1.29.2 "
    "(linux/amd64) kubernetes/4b8e819\"},\"kubernetes\":{\"audit\":{\"kind\":\"Event\","
    "\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"8b0c6c1e-"
    "43e4-4d2f-9a35-5f2c1f0e7a11\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/"
    "namespaces/default/pods?limit=500\",\"verb\":\"list\",\"user\":{\"username\":\"system:"
    "serviceaccount:default:app\",\"uid\":\"5a1e\",\"groups\":[\"system:serviceaccounts\","
    "\"system:serviceaccounts:default\",\"system:authenticated\"],\"extra\":{\"authentication."
    "kubernetes.io/pod-name\":[\"app-7d9f\"]}},\"sourceIPs\":[\"10.0.12.7\"],\"userAgent\":"
    "\"kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819\",\"objectRef\":{\"resource\":\"pods\","
    "\"namespace\":\"default\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"metadata\":{},"
    "\"code\":200},\"requestReceivedTimestamp\":\"2025-07-22T10:00:00.100000Z\","
    "\"stageTimestamp\":\"2025-07-22T10:00:00.120000Z\",\"annotations\":{\"authorization_k8s_io/"
    "decision\":\"allow\",\"authorization_k8s_io/reason\":\"RBAC: allowed by RoleBinding\"}}}}";

static const char HOSTPATH_QUERY[] =
    "data_stream.dataset : \"kubernetes.audit_logs\" and "
    "kubernetes.audit.annotations.authorization_k8s_io/decision:\"allow\" and "
    "kubernetes.audit.objectRef.resource:\"pods\" and kubernetes.audit.verb:(\"create\" or "
    "\"update\" or \"patch\") and kubernetes.audit.requestObject.spec.volumes.hostPath.path: ("
    "\"/\" or \"/proc\" or \"/root\" or \"/var\" or \"/var/run\" or \"/var/run/docker.sock\" or "
    "\"/var/run/crio/crio.sock\" or \"/var/run/cri-dockerd.sock\" or \"/var/lib/kubelet\" or "
    "\"/var/lib/kubelet/pki\" or \"/var/lib/docker/overlay2\" or \"/etc\" or \"/etc/kubernetes\" "
    "or \"/etc/kubernetes/manifests\" or \"/etc/kubernetes/pki\" or \"/home/admin\") and not "
    "kubernetes.audit.requestObject.spec.containers.image: (docker.elastic.co/beats/"
    "elastic-agent* or *elastic/elastic-agent* or docker.elastic.co/elastic-agent/elastic-agent* "
    "or *elastic-agent\\:dev* or *cloudops-azure-devops-agent* or rancher/mirrored-longhornio-"
    "longhorn-instance-manager* or quay.io/calico* or ghcr.io/aquasecurity* or rancher/"
    "system-agent* or rancher/mirrored-longhornio-csi-node-driver-registrar* or rancher/"
    "mirrored-longhornio-livenessprobe* or quay.io/prometheus/node-exporter* or "
    "*eks/observability/cloudwatch-agent* or amazon/aws-efs-csi-driver* or public.ecr.aws/"
    "eks-distro/kubernetes-csi* or quay.io/cilium/cilium* or openebs/node-disk-manager* or "
    "openebs/cstor-csi-driver* or registry.k8s.io/sig-storage/csi-node-driver-registrar* or "
    "*.amazonaws.com/eks/csi-node-driver-registrar* or *.amazonaws.com/eks/livenessprobe* or "
    "*.amazonaws.com/eks/aws-efs-csi-driver* or mcr.microsoft.com/oss/v2/kubernetes-csi* or "
    "rancher/mirrored-cilium-cilium* or jenkins/inbound-agent* or gcr.io/datadoghq/agent* or "
    "rancher/mirrored-longhornio-longhorn-share-manager* or */sysdig/*)";

static const char HOSTPATH_VIEW[] =
    "{\"data_stream\":{\"dataset\":\"kubernetes.audit_logs\"},\"kubernetes\":{\"audit\":{"
    "\"annotations\":{\"authorization_k8s_io/decision\":\"allow\"},\"objectRef\":{\"resource\":"
    "\"pods\"},\"verb\":\"create\",\"requestObject\":{\"spec\":{\"volumes\":[{\"hostPath\":{"
    "\"path\":\"/var/run/docker.sock\"}}],\"containers\":[{\"image\":\"docker.io/library/"
    "nginx:1.25\"},{\"image\":\"busybox:1.36\"}]}}}}}";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: per-core rate on a busy machine */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct result {
    const char *name;
    bool match;
    double rate; /* evaluations per second */
    double ns;   /* per evaluation */
};

static struct result run(kx_arena *a, const char *name, const char *query, const char *json,
                         double seconds)
{
    kad_err err;
    kad_err_clear(&err);
    struct kql_query *q = kql_compile(a, query, strlen(query), "<query>", &err);
    struct ev_node *doc = ev_json_parse(a, json, strlen(json), "<doc>", &err);
    if (!q || !doc) {
        char m[512];
        kad_err_format(&err, m, sizeof(m));
        fprintf(stderr, "bench_kql: %s: %s\n", name, m);
        exit(2);
    }
    /* calibrate a batch, then run batches until `seconds` have passed; best of 5 rounds */
    bool m = kql_match(q, doc);
    unsigned long batch = 1000;
    volatile unsigned long sink = 0;
    double best = 0;
    for (int round = 0; round < 5; round++) {
        unsigned long n = 0;
        double t0 = now(), t;
        do {
            for (unsigned long i = 0; i < batch; i++)
                sink += kql_match(q, doc);
            n += batch;
            t = now();
        } while (t - t0 < seconds / 5);
        double rate = (double)n / (t - t0);
        if (rate > best)
            best = rate;
    }
    (void)sink;
    return (struct result){name, m, best, 1e9 / best};
}

int main(int argc, char **argv)
{
    bool md = argc > 1 && strcmp(argv[1], "--markdown") == 0;
    double secs = 2.0;
    const char *e = getenv("BENCH_KQL_SECONDS");
    if (e && atof(e) > 0)
        secs = atof(e);
    kx_arena a;
    kx_arena_init(&a, 1 << 16, 0);
    struct result r[] = {
        run(&a, "seed query, extracted view, match", SEED_QUERY, VIEW_MATCH, secs),
        run(&a, "seed query, extracted view, no user agent", SEED_QUERY, VIEW_MISS, secs),
        run(&a, "seed query, full ECS document (~60 values)", SEED_QUERY, FULL_DOC, secs),
        run(&a, "hostpath rule (30 wildcards), extracted view", HOSTPATH_QUERY, HOSTPATH_VIEW,
            secs),
    };
    size_t n = sizeof(r) / sizeof(r[0]);
    if (md) {
        printf("| scenario | result | evaluations/s (1 core) | ns/evaluation |\n");
        printf("| --- | --- | ---: | ---: |\n");
        for (size_t i = 0; i < n; i++)
            printf("| %s | %s | %.2f M | %.0f |\n", r[i].name, r[i].match ? "match" : "no match",
                   r[i].rate / 1e6, r[i].ns);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%-48s %-8s %8.2f M evals/s  %6.0f ns\n", r[i].name, r[i].match ? "match" : "no",
                   r[i].rate / 1e6, r[i].ns);
    }
    kx_arena_fini(&a);
    return r[0].rate >= 5e6 ? 0 : 1;
}
