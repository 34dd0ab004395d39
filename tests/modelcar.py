"""Writes a container image (an OCI image layout) the way image builders lay out a KServe
ModelCar, with nothing from modelsig-oci: each layer is a directory turned into a gzip'd
tar by Python's tarfile, whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) are
plain empty files in those directories, as docker and buildah write them.

    modelcar.py LAYOUT TAG LAYER_DIR...

The image config lists `rootfs.diff_ids` and a history entry per layer; the index tags
the manifest with `org.opencontainers.image.ref.name`.
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def layer_tar(directory):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(root, name)
                arc = os.path.relpath(full, directory)
                info = tar.gettarinfo(full, arcname=arc)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = 0
                if info.isreg():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()


def main(layout, tag, layer_dirs):
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    layers, diff_ids, history = [], [], []
    for d in layer_dirs:
        raw = layer_tar(d)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        digest, size = blob(layout, gzip.compress(raw, mtime=0))
        layers.append(
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}
        )
        history.append({"created_by": "COPY " + os.path.basename(d) + " /"})
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    cdigest, csize = blob(layout, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
        "layers": layers,
    }
    mdigest, msize = blob(layout, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": mdigest,
                "size": msize,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(mdigest)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
