#!/usr/bin/env python3
"""mkimage.py ROOTFS OUTDIR TAG - an OCI image of a prepared root file system, without a
registry or a container engine (`make image`; docs/install.md).

ROOTFS is a Debian 12 root with the kadet package installed (scripts/mkimage.sh). The image is one
layer: the root as a tar (sorted names, numeric owners, fixed mtimes), gzip'ed. Written:
  OUTDIR/oci/           an OCI image layout (oci-layout, index.json, blobs/sha256/...), for
                        `skopeo copy oci:OUTDIR/oci:TAG ...` or `podman pull oci:OUTDIR/oci`
  OUTDIR/kadet-image.tar  the same image as a docker-archive, for `podman load` / `docker load`
The config: numeric non-root user (the package's kadet user, so runAsNonRoot can verify it),
state volume /var/lib/kadet, serve's ports, and a Healthcheck (a docker-format field that
podman and docker honour): curl on serve's /healthz at the admin listener (HTTPS).
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def user_ids(rootfs, name):
    with open(os.path.join(rootfs, "etc/passwd")) as f:
        for ln in f:
            p = ln.split(":")
            if p[0] == name:
                return int(p[2]), int(p[3])
    sys.exit(f"mkimage.py: no user {name} in {rootfs}/etc/passwd")


def main():
    rootfs, out, tag = sys.argv[1:4]
    uid, gid = user_ids(rootfs, "kadet")
    if uid == 0:
        sys.exit("mkimage.py: the kadet user is root")
    os.makedirs(out, exist_ok=True)
    layer_tar = os.path.join(out, "layer.tar")
    excl = ["./proc/*", "./sys/*", "./dev/*", "./run/*", "./tmp/*", "./var/cache/apt/*",
            "./var/lib/apt/lists/*", "./var/log/*", "./.complete"]
    subprocess.run(["tar", "-C", rootfs, "--sort=name", "--numeric-owner", "--xattrs",
                    f"--mtime=@{EPOCH}", "--clamp-mtime", "--format=posix",
                    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime"]
                   + [f"--exclude={e}" for e in excl] + ["-cf", layer_tar, "."], check=True)
    with open(layer_tar, "rb") as f:
        raw = f.read()
    diff_id = sha(raw)
    gz = gzip.compress(raw, compresslevel=6, mtime=EPOCH)
    created = "1970-01-01T00:00:00Z" if EPOCH == 0 else \
        subprocess.run(["date", "-u", "-d", f"@{EPOCH}", "+%Y-%m-%dT%H:%M:%SZ"],
                       capture_output=True, text=True, check=True).stdout.strip()
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": f"{uid}:{gid}",
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "LANG=C.UTF-8"],
            "Entrypoint": ["/usr/bin/kadet"],
            "Cmd": ["serve", "--config", "/etc/kadet/kadet.toml"],
            "WorkingDir": "/var/lib/kadet",
            "Volumes": {"/var/lib/kadet": {}},
            "ExposedPorts": {"8443/tcp": {}, "9090/tcp": {}},
            # serve's admin listener speaks HTTPS with the webhook's certificate (issued for the
            # service's name, not 127.0.0.1: -k, as kubelet's HTTPS probes do)
            "Healthcheck": {
                "Test": ["CMD", "curl", "-fsSk", "--max-time", "4", "-o", "/dev/null",
                         "https://127.0.0.1:9090/healthz"],
                "Interval": 30_000_000_000, "Timeout": 5_000_000_000,
                "StartPeriod": 10_000_000_000, "Retries": 3},
            "Labels": {"org.opencontainers.image.title": "kadet",
                       "org.opencontainers.image.description":
                           "kadet serve: Elastic's Kubernetes detection rules on audit events",
                       "org.opencontainers.image.version": tag},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "make image (scripts/mkimage.py)"}],
    }
    cfg = json.dumps(config, indent=2, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(gz), "size": len(gz)}],
    }
    man = json.dumps(manifest, indent=2, sort_keys=True).encode()
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": manifest["mediaType"], "digest": sha(man),
                            "size": len(man),
                            "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    oci = os.path.join(out, "oci")
    blobs = os.path.join(oci, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    for old in os.listdir(blobs):
        os.unlink(os.path.join(blobs, old))
    for b in (gz, cfg, man):
        with open(os.path.join(blobs, sha(b)[7:]), "wb") as f:
            f.write(b)
    with open(os.path.join(oci, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(oci, "index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    # docker-archive: manifest.json, the config, the uncompressed layer
    arch = os.path.join(out, "kadet-image.tar")
    with tarfile.open(arch + ".tmp", "w", format=tarfile.PAX_FORMAT) as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), EPOCH, 0o644
            t.addfile(ti, io.BytesIO(data))
        cfg_name = sha(cfg)[7:] + ".json"
        add(cfg_name, cfg)
        t.add(layer_tar, arcname=diff_id[7:] + "/layer.tar",
              filter=lambda ti: (setattr(ti, "mtime", EPOCH), ti)[1])
        add("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": [f"kadet:{tag}"],
                                          "Layers": [diff_id[7:] + "/layer.tar"]}]).encode())
    os.replace(arch + ".tmp", arch)
    os.unlink(layer_tar)
    print(f"{oci} ({sha(man)}), {arch}: layer {len(gz) >> 20} MiB gzip'ed, user {uid}:{gid}")


if __name__ == "__main__":
    main()
