"""Writes a TUF repository with python-tuf's Metadata API (an implementation we did not
write) holding a ClientTrustConfig's trusted root and signing config as Sigstore's
root-signing repositories do (`trusted_root.json`, `signing_config.v0.2.json`, consistent
snapshots), for the end-to-end tests of `--tuf_url` / `--tuf_root`.

Usage: tuf_repo.py TRUST_CONFIG OUT_DIR [--expired]
"""
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import MetaFile, Metadata, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer


def main() -> None:
    trust_config = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    expired = "--expired" in sys.argv[3:]
    (out / "targets").mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    expires = now - timedelta(days=1) if expired else now + timedelta(days=7)
    signer = CryptoSigner.generate_ecdsa()
    root = Metadata(Root(expires=now + timedelta(days=30), consistent_snapshot=True))
    for role in ["root", "timestamp", "snapshot", "targets"]:
        root.signed.add_key(signer.public_key, role)
    targets = Metadata(Targets(expires=expires))
    for name, content in [
        ("trusted_root.json", trust_config["trustedRoot"]),
        ("signing_config.v0.2.json", trust_config["signingConfig"]),
    ]:
        data = json.dumps(content).encode()
        target = TargetFile.from_data(name, data, ["sha256"])
        targets.signed.targets[name] = target
        (out / "targets" / f"{target.hashes['sha256']}.{name}").write_bytes(data)
    snapshot = Metadata(Snapshot(expires=expires))
    snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
    timestamp = Metadata(Timestamp(expires=expires))
    timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
    serializer = JSONSerializer(compact=False)
    for md, name in [(root, "1.root.json"), (targets, "1.targets.json"), (snapshot, "1.snapshot.json"),
                     (timestamp, "timestamp.json")]:
        md.sign(signer)
        md.to_file(str(out / name), serializer)
    (out / "root.json").write_bytes((out / "1.root.json").read_bytes())


if __name__ == "__main__":
    main()
