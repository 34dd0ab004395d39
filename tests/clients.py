"""Drives the third-party OCI clients the interop tests use, one action per subcommand:
the ORAS Python SDK (`oras`), `modelpack-client` and PyKitOps (`kitops`). Run with the
test venv's Python; registries are plain HTTP on 127.0.0.1.

    oras-push REF DIR PATH...        push PATHs (relative to DIR) as oras-py does: files as
                                     layers titled by name, directories as tar+gzip layers
    oras-push-unpack REF DIR SUBDIR  push SUBDIR as `oras push DIR` (Go) does: a tar+gzip
                                     layer annotated io.deis.oras.content.unpack=true
                                     (oras-py cannot annotate a directory layer, so the
                                     blob and manifest go through its lower-level API)
    oras-pull REF OUT                pull with oras-py; prints the files it wrote
    kitfile CONFIG_JSON              parse a ModelKit config with PyKitOps' Kitfile model
"""

import json
import os
import sys


def oras_push(ref, directory, paths):
    import oras.client

    os.chdir(directory)
    oras.client.OrasClient(insecure=True).push(files=paths, target=ref)


def oras_push_unpack(ref, directory, subdir):
    import oras.defaults
    import oras.oci
    import oras.provider
    import oras.utils

    os.chdir(directory)
    registry = oras.provider.Registry(insecure=True)
    container = registry.get_container(ref)
    targz = oras.utils.make_targz(subdir)
    layer = oras.oci.NewLayer(targz, is_dir=True)
    layer["annotations"] = {
        oras.defaults.annotation_title: subdir,
        oras.defaults.annotation_unpack: "true",
    }
    registry.upload_blob(targz, container, layer).raise_for_status()
    conf, config_file = oras.oci.ManifestConfig()
    with open("config.json.tmp", "wb") as f:
        f.write(b"{}")
    registry.upload_blob(config_file or "config.json.tmp", container, conf).raise_for_status()
    os.remove("config.json.tmp")
    manifest = oras.oci.NewManifest()
    manifest["layers"] = [layer]
    manifest["config"] = conf
    registry.upload_manifest(manifest, container).raise_for_status()


def oras_pull(ref, out):
    import oras.client

    files = oras.client.OrasClient(insecure=True).pull(target=ref, outdir=out)
    print(json.dumps(sorted(os.path.relpath(f, out) for f in files)))


def kitfile(config_json):
    from kitops.modelkit.kitfile import Kitfile

    with open(config_json, encoding="utf-8") as f:
        data = json.load(f)
    k = Kitfile(**data)
    parsed = json.loads(k.to_json()) if hasattr(k, "to_json") else k.model_dump(mode="json")
    print(json.dumps(parsed))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "oras-push":
        oras_push(args[0], args[1], args[2:])
    elif cmd == "oras-push-unpack":
        oras_push_unpack(args[0], args[1], args[2])
    elif cmd == "oras-pull":
        oras_pull(args[0], args[1])
    elif cmd == "kitfile":
        kitfile(args[0])
    else:
        sys.exit(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main()
