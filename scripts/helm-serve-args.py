#!/usr/bin/env python3
"""helm-serve-args.py RENDERED OUTDIR REPO - from `helm template` output, kadet serve's command
line as the chart's StatefulSet gives it, made runnable here for `kadet serve --check-config`
(scripts/check-helm.sh).

OUTDIR/root gets what the pod would see at each path: the Secrets' files (tls.crt and tls.key,
ca.crt, token: made with openssl, since a chart only names Secrets), the chart's ConfigMaps'
files as rendered, an existing ConfigMap as an empty directory, the image's bundled rules
(/usr/share/kadet/rules, REPO/rules), and the state volume. OUTDIR/args holds the arguments
(NUL-separated) with every absolute path moved under OUTDIR/root.

Checked on the way: the container runs `serve`; every path in its arguments lies under one of
its volumeMounts or in the image; what serve writes (state, spool, output) is on a writable
volume (the root file system is read-only); the probes ask /healthz and /readyz over HTTPS on the
admin port; a ServiceMonitor scrapes /metrics over HTTPS with the token Secret, since serve's
admin listener speaks TLS and asks for credentials when the webhook has them.
"""
import os
import shutil
import subprocess
import sys

import yaml


def fail(msg):
    sys.exit(f"FAIL: {sys.argv[1]}: {msg}")


def main():
    rendered, out, repo = sys.argv[1:4]
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    sts = [d for d in docs if d["kind"] == "StatefulSet"]
    if len(sts) != 1:
        fail(f"{len(sts)} StatefulSets")
    pod = sts[0]["spec"]["template"]["spec"]
    c = [x for x in pod["containers"] if x["name"] == "kadet"][0]
    args = c["args"]
    if args[0] != "serve":
        fail(f"the container runs {args[0]}, not serve")
    cms = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for t in sts[0]["spec"].get("volumeClaimTemplates", []):
        vols[t["metadata"]["name"]] = {"name": t["metadata"]["name"], "persistentVolumeClaim": {}}
    if c.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
        fail("the root file system is not read-only")

    shutil.rmtree(out, ignore_errors=True)
    root = os.path.join(out, "root")
    os.makedirs(root)
    mounts = []
    for m in c["volumeMounts"]:
        v = vols.get(m["name"])
        if v is None:
            fail(f"volumeMount {m['name']} has no volume")
        d = root + m["mountPath"]
        os.makedirs(d, exist_ok=True)
        mounts.append((m["mountPath"], bool(m.get("readOnly"))))
        if "secret" in v:
            secret(v["secret"]["secretName"], d, out)
        elif "configMap" in v:
            name = v["configMap"]["name"]
            if name in cms:
                for fname, body in cms[name].items():
                    open(os.path.join(d, fname), "w").write(body)
            # an existing ConfigMap (not the chart's): an empty directory stands in
    image_paths = ["/usr/share/kadet/rules"]
    shutil.copytree(os.path.join(repo, "rules"), root + "/usr/share/kadet/rules")

    writes = ("--state", "--spool-dir", "--output", "--outbox")
    new = []
    for a in args:
        flag, eq, val = a.partition("=")
        if eq and val.startswith("/") and flag != "--listen-path":
            under = [mp for mp, ro in mounts if val == mp or val.startswith(mp.rstrip("/") + "/")]
            if not under and not any(val.startswith(p) for p in image_paths):
                fail(f"{a}: not under a volumeMount nor in the image")
            if flag in writes and (not under or dict(mounts)[under[0]]):
                fail(f"{a}: serve writes there, but it is not on a writable volume")
            a = f"{flag}={root}{val}"
        new.append(a)
    with open(os.path.join(out, "args"), "wb") as f:
        f.write(b"".join(x.encode() + b"\0" for x in new))

    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = c[probe]["httpGet"]
        if g.get("path") != path or g.get("port") != "admin" or g.get("scheme") != "HTTPS":
            fail(f"{probe}: {g} (serve's admin listener: {path} over HTTPS)")
    tls = "--tls-cert=/etc/kadet/tls/tls.crt" in args
    for sm in (d for d in docs if d["kind"] == "ServiceMonitor"):
        for e in sm["spec"]["endpoints"]:
            if e.get("path") != "/metrics" or e.get("port") != "admin":
                fail(f"ServiceMonitor endpoint {e}")
            if tls and e.get("scheme") != "https":
                fail("ServiceMonitor scrapes plain HTTP; serve's admin listener speaks TLS")
            auth = any(x.startswith(("--client-ca=", "--token-file=")) for x in args)
            if auth and "bearerTokenSecret" not in e and "authorization" not in e:
                fail("ServiceMonitor sends no token; serve's /metrics asks for one")


def secret(name, d, out):
    """The files a Secret the chart names holds, by the mount's use (tls, client CA, token)."""
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    if d.endswith("/tls"):
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", os.path.join(d, "tls.key"), "-out", os.path.join(d, "tls.crt"),
            "-subj", "/CN=kadet")
    elif d.endswith("/client-ca"):
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", os.path.join(out, "ca.key"), "-out", os.path.join(d, "ca.crt"),
            "-subj", "/CN=client CA")
    elif d.endswith("/token"):
        open(os.path.join(d, "token"), "w").write(os.urandom(24).hex() + "\n")
    else:
        fail(f"Secret {name} mounted at {d}: unknown use")


if __name__ == "__main__":
    main()
