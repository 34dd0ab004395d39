//! The OCI clients people run, both directions, against docker-registry on 127.0.0.1: the
//! ORAS Python SDK (`oras`), `modelpack-client` and PyKitOps, with `model_signing` (CLI and
//! Python API) judging every result. Artifacts they push are verified, signed in place and
//! pulled by us; artifacts we push are pulled by them. Where a client cannot do something,
//! the test says so and checks that it fails visibly rather than silently.

use modelsig_e2e::registry::{Registry, get_manifest};
use modelsig_e2e::{Pki, model_signing, oras, python, run, workspace};
use std::path::Path;
use std::process::Command;

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        must(std::fs::create_dir_all(p));
    }
    must(std::fs::write(path, data));
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed)).collect()
}

/// `python tests/clients.py ARGS` (the third-party clients), which must succeed.
fn client(cwd: &Path, args: &[&str]) -> String {
    let script = workspace().join("tests/clients.py");
    let r = run(Command::new(python()).arg(script).args(args).current_dir(cwd));
    r.ok(&format!("clients.py {args:?}"));
    r.stdout.clone()
}

/// `python -m modelpack_client --insecure ARGS`, which must succeed.
fn modelpack(cwd: &Path, args: &[&str]) {
    let r = run(Command::new(python())
        .args(["-m", "modelpack_client", "--insecure"])
        .args(args)
        .current_dir(cwd));
    r.ok(&format!("modelpack {args:?}"));
}

fn ms_sign(cwd: &Path, model: &str, key: &str, sig: &str) {
    model_signing(cwd, &["sign", "key", model, "--private_key", key, "--signature", sig])
        .ok("model_signing sign");
}

fn ms_verify(cwd: &Path, model: &str, public: &str, sig: &str) -> modelsig_e2e::Run {
    model_signing(cwd, &["verify", "key", model, "--public_key", public, "--signature", sig])
}

#[test]
fn oras_py_artifacts_verify_sign_in_place_and_pull() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));

    // Files: oras-py layers titled by name (media type ...layer.v1.tar, read as files).
    write(&cwd.join("flat/config.json"), b"{\"hidden_size\": 64}");
    write(&cwd.join("flat/weights.bin"), &pattern(200_000, 1));
    ms_sign(cwd, "flat", &key, "flat.sig");
    let r1 = format!("{}/oras/flat:v1", reg.addr);
    client(cwd, &["oras-push", &r1, &cwd.join("flat").display().to_string(), "config.json", "weights.bin"]);
    oras(cwd, &["attach", &r1, "--signature", "flat.sig"]).ok("attach");
    let v = oras(cwd, &["verify", "key", &r1, "--public_key", &public]);
    v.ok("verify an oras-py push");
    oras(cwd, &["pull", &r1, "-o", "p1", "--public_key", &public]).ok("pull");
    ms_verify(cwd, "p1", &public, "flat.sig").ok("model_signing verifies our pull of an oras-py push");
    oras(cwd, &["sign", "key", &r1, "--private_key", &key, "--signature", "s1.sig"]).ok("sign in place");
    ms_verify(cwd, "flat", &public, "s1.sig").ok("model_signing accepts the in-place signature");

    // A directory as oras-py pushes it: tar+gzip without the unpack annotation. oras (Go)
    // would write it as a file, oras-py extracts it: refused, saying so.
    write(&cwd.join("tree/tok/tokenizer.json"), b"{\"vocab\": [1, 2, 3]}");
    write(&cwd.join("tree/tok/merges.txt"), &pattern(5_000, 2));
    ms_sign(cwd, "tree", &key, "tree.sig");
    let r2 = format!("{}/oras/tree:py", reg.addr);
    client(cwd, &["oras-push", &r2, &cwd.join("tree").display().to_string(), "tok"]);
    oras(cwd, &["attach", &r2, "--signature", "tree.sig"]).ok("attach");
    let v = oras(cwd, &["verify", "key", &r2, "--public_key", &public, "--deep"]);
    let all = format!("{}{}", v.stdout, v.stderr);
    assert!(v.code != 0 && all.contains("oras-py extracts it"), "ambiguous directory layer accepted:\n{all}");

    // The same directory as `oras push DIR` (Go) writes it: annotated unpack=true.
    let r3 = format!("{}/oras/tree:go", reg.addr);
    client(cwd, &["oras-push-unpack", &r3, &cwd.join("tree").display().to_string(), "tok"]);
    let m = get_manifest(&reg.addr, "oras/tree", "go");
    assert_eq!(m["layers"][0]["annotations"]["io.deis.oras.content.unpack"], "true");
    oras(cwd, &["attach", &r3, "--signature", "tree.sig"]).ok("attach");
    let shallow = oras(cwd, &["verify", "key", &r3, "--public_key", &public]);
    assert!(shallow.code == 1 && format!("{}{}", shallow.stdout, shallow.stderr).contains("--deep"));
    oras(cwd, &["verify", "key", &r3, "--public_key", &public, "--deep"])
        .ok("deep verify of a directory layer");
    oras(cwd, &["pull", &r3, "-o", "p3", "--public_key", &public]).ok("pull a directory layer");
    ms_verify(cwd, "p3", &public, "tree.sig").ok("model_signing verifies our pull of a directory layer");
    oras(cwd, &["sign", "key", &r3, "--private_key", &key, "--signature", "s3.sig"]).ok("sign in place");
    ms_verify(cwd, "tree", &public, "s3.sig")
        .ok("model_signing accepts the in-place signature of a directory layer");
    client(cwd, &["oras-pull", &r3, &cwd.join("p4").display().to_string()]);
    ms_verify(cwd, "p4", &public, "s3.sig")
        .ok("model_signing verifies oras-py's pull with our in-place signature");

    // A single-file model: model_signing names its only resource `.`.
    ms_sign(cwd, "flat/weights.bin", &key, "single.sig");
    let r5 = format!("{}/oras/single:v1", reg.addr);
    client(cwd, &["oras-push", &r5, &cwd.join("flat").display().to_string(), "weights.bin"]);
    oras(cwd, &["attach", &r5, "--signature", "single.sig"]).ok("attach");
    oras(cwd, &["verify", "key", &r5, "--public_key", &public])
        .ok("a single-file signature verifies the artifact");
    oras(cwd, &["pull", &r5, "-o", "p5", "--public_key", &public]).ok("pull a single-file model");
    ms_verify(cwd, "p5/weights.bin", &public, "single.sig").ok("model_signing verifies the pulled file");
}

#[test]
fn modelpack_client_artifacts_verify_sign_in_place_and_pull() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));
    write(&cwd.join("model/weights.bin"), &pattern(300_000, 3));
    write(&cwd.join("model/config.json"), b"{\"layers\": 2}");
    write(&cwd.join("model/tok/tokenizer.json"), b"{\"vocab\": []}");
    write(&cwd.join("model/tok/special.txt"), &pattern(700, 4));
    ms_sign(cwd, "model", &key, "model.sig");
    write(
        &cwd.join("config.json"),
        br#"{"descriptor": {"name": "mp"}, "config": {}, "modelfs": {"type": "layers", "diffIds": []}}"#,
    );
    for (tag, tok_type) in [
        ("tar", "application/vnd.cncf.model.doc.v1.tar"),
        ("gzip", "application/vnd.cncf.model.doc.v1.tar+gzip"),
        ("zstd", "application/vnd.cncf.model.doc.v1.tar+zstd"),
    ] {
        let r = format!("{}/mp/model:{tag}", reg.addr);
        modelpack(
            cwd,
            &[
                "push",
                &r,
                "--config",
                "config.json",
                "--layer",
                "model/weights.bin:application/vnd.cncf.model.weight.v1.raw",
                "--layer",
                "model/config.json:application/vnd.cncf.model.weight.config.v1.raw",
                "--layer",
                &format!("model/tok:{tok_type}"),
            ],
        );
        oras(cwd, &["attach", &r, "--signature", "model.sig"]).ok("attach");
        oras(cwd, &["verify", "key", &r, "--public_key", &public, "--deep"])
            .ok(&format!("{tag}: deep verify"));
        let out = format!("pulled-{tag}");
        oras(cwd, &["pull", &r, "-o", &out, "--public_key", &public]).ok(&format!("{tag}: pull"));
        ms_verify(cwd, &out, &public, "model.sig").ok(&format!("{tag}: model_signing verifies our pull"));
        let sig = format!("{tag}.sig");
        oras(cwd, &["sign", "key", &r, "--private_key", &key, "--signature", &sig])
            .ok(&format!("{tag}: sign"));
        ms_verify(cwd, "model", &public, &sig)
            .ok(&format!("{tag}: model_signing accepts the in-place signature"));
    }
}

#[test]
fn our_pushes_pull_with_oras_py_and_modelpack_client() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));
    write(&cwd.join("model/weights.bin"), &pattern(250_000, 5));
    write(&cwd.join("model/config.json"), b"{\"a\": 1}");
    write(&cwd.join("model/tok/tokenizer.json"), b"{\"b\": 2}");
    ms_sign(cwd, "model", &key, "model.sig");

    // ModelPack, raw layers: both clients write the files under their names.
    let raw = format!("{}/ours/model:raw", reg.addr);
    oras(cwd, &["push", "model", &raw, "--signature", "model.sig"]).ok("push raw");
    let m = get_manifest(&reg.addr, "ours/model", "raw");
    for l in m["layers"].as_array().into_iter().flatten() {
        assert_eq!(
            l["annotations"]["org.opencontainers.image.title"],
            l["annotations"]["org.cncf.model.filepath"]
        );
    }
    client(cwd, &["oras-pull", &raw, &cwd.join("oras-raw").display().to_string()]);
    ms_verify(cwd, "oras-raw", &public, "model.sig").ok("model_signing verifies oras-py's pull of our push");
    modelpack(cwd, &["pull", &raw, "mp-raw"]);
    ms_verify(cwd, "mp-raw", &public, "model.sig")
        .ok("model_signing verifies modelpack-client's pull of our push");

    // ModelPack, tar layers: modelpack-client unpacks them; oras-py writes each tar blob as
    // a file (it unpacks only OCI tar+gzip layers), which model_signing then rejects.
    let tar = format!("{}/ours/model:tar", reg.addr);
    oras(cwd, &["push", "model", &tar, "--layer-format", "tar", "--signature", "model.sig"]).ok("push tar");
    modelpack(cwd, &["pull", &tar, "mp-tar"]);
    ms_verify(cwd, "mp-tar", &public, "model.sig")
        .ok("model_signing verifies modelpack-client's pull of tar layers");
    client(cwd, &["oras-pull", &tar, &cwd.join("oras-tar").display().to_string()]);
    let r = ms_verify(cwd, "oras-tar", &public, "model.sig");
    assert_ne!(
        r.code, 0,
        "oras-py cannot unpack ModelPack tar layers; model_signing must not accept its pull"
    );

    // ModelPack, one tar layer per top-level entry (for many-file models): modelpack-client
    // unpacks the directory layer, model_signing verifies its pull; ours verifies from the
    // registry and pulls.
    let dirs = format!("{}/ours/model:dirs", reg.addr);
    oras(cwd, &["push", "model", &dirs, "--layer-format", "tar-dirs", "--signature", "model.sig"])
        .ok("push tar-dirs");
    let dm = get_manifest(&reg.addr, "ours/model", "dirs");
    let mut paths: Vec<&str> = dm["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["annotations"]["org.cncf.model.filepath"].as_str())
        .collect();
    paths.sort_unstable();
    assert_eq!(paths, ["config.json", "tok", "weights.bin"], "one layer per top-level entry: {dm}");
    modelpack(cwd, &["pull", &dirs, "mp-dirs"]);
    ms_verify(cwd, "mp-dirs", &public, "model.sig")
        .ok("model_signing verifies modelpack-client's pull of directory tar layers");
    // Tar layers are checked by streaming them (--deep); without it the verifier says so.
    let shallow = oras(cwd, &["verify", "key", &dirs, "--public_key", &public]);
    assert!(shallow.code != 0 && shallow.stderr.contains("--deep"), "{}", shallow.stderr);
    oras(cwd, &["verify", "key", &dirs, "--public_key", &public, "--deep"])
        .ok("ours verifies the tar-dirs push from the registry");
    oras(cwd, &["pull", &dirs, "-o", "ours-dirs", "--public_key", &public])
        .ok("ours pulls the tar-dirs push");
    ms_verify(cwd, "ours-dirs", &public, "model.sig").ok("model_signing verifies our pull of tar-dirs");

    // ModelKit: its config is a Kitfile that PyKitOps' model parses.
    let kit = format!("{}/ours/kit:v1", reg.addr);
    oras(cwd, &["push", "model", &kit, "--format", "modelkit", "--signature", "model.sig"])
        .ok("push modelkit");
    let km = get_manifest(&reg.addr, "ours/kit", "v1");
    let digest = km["config"]["digest"].as_str().unwrap_or_default();
    let url = format!("http://{}/v2/ours/kit/blobs/{digest}", reg.addr);
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let mut resp = must(agent.get(&url).call());
    let config = must(resp.body_mut().read_to_string());
    write(&cwd.join("kitfile.json"), config.as_bytes());
    let parsed: serde_json::Value = must(serde_json::from_str(&client(cwd, &["kitfile", "kitfile.json"])));
    let mut paths: Vec<String> = std::iter::once(&parsed["model"]["path"])
        .chain(parsed["model"]["parts"].as_array().into_iter().flatten().map(|p| &p["path"]))
        .chain(parsed["docs"].as_array().into_iter().flatten().map(|p| &p["path"]))
        .chain(parsed["code"].as_array().into_iter().flatten().map(|p| &p["path"]))
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect();
    paths.sort();
    assert_eq!(paths, ["config.json", "tok", "weights.bin"], "PyKitOps read: {parsed}");
    for l in km["layers"].as_array().into_iter().flatten() {
        assert!(
            l["annotations"]["org.opencontainers.image.title"].is_string(),
            "untitled ModelKit layer: {l}"
        );
    }
}

#[test]
fn model_signing_api_signatures_verify_shards_blake2_blake3() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));
    write(&cwd.join("model/weights.bin"), &pattern(10_000, 6));
    write(&cwd.join("model/config.json"), b"{}");
    // The API writes predicate numbers as floats (`shard_size: 4096.0`) and labels shard
    // digests `sha256-sharded-4096`.
    let script = r#"
import sys
from model_signing import hashing, signing
key = sys.argv[1]
for name, hc in [
    ("shards", hashing.Config().use_shard_serialization(shard_size=4096)),
    ("blake2", hashing.Config().use_file_serialization(hashing_algorithm="blake2")),
    ("blake2-shards", hashing.Config().use_shard_serialization(hashing_algorithm="blake2", shard_size=3000)),
    ("blake3", hashing.Config().use_file_serialization(hashing_algorithm="blake3")),
]:
    signing.Config().use_elliptic_key_signer(private_key=key).set_hashing_config(hc).sign("model", name + ".sig")
"#;
    run(Command::new(python()).args(["-c", script, &key]).current_dir(cwd)).ok("model_signing API sign");
    let payload = |sig: &str| -> serde_json::Value {
        use base64::Engine as _;
        let b: serde_json::Value = must(serde_json::from_slice(&must(std::fs::read(cwd.join(sig)))));
        let p = base64::engine::general_purpose::STANDARD
            .decode(b["dsseEnvelope"]["payload"].as_str().unwrap_or_default())
            .unwrap_or_default();
        must(serde_json::from_slice(&p))
    };
    assert_eq!(payload("shards.sig")["predicate"]["serialization"]["shard_size"], serde_json::json!(4096.0));
    for sig in ["shards.sig", "blake2.sig", "blake2-shards.sig", "blake3.sig"] {
        modelsig_e2e::translate(
            cwd,
            &["verify", "key", "model", "--public_key", &public, "--signature", sig],
        )
        .ok(&format!("{sig}: we verify a model_signing API signature"));
    }
    // And the API verifies our shard signatures (same labels).
    modelsig_e2e::translate(
        cwd,
        &[
            "sign",
            "key",
            "model",
            "--private_key",
            &key,
            "--signature",
            "ours.sig",
            "--serialization",
            "shards",
            "--shard_size",
            "4096",
        ],
    )
    .ok("sign shards");
    let verify = "import sys\nfrom model_signing import verifying\nverifying.Config().use_elliptic_key_verifier(public_key=sys.argv[1]).verify('model', 'ours.sig')";
    run(Command::new(python()).args(["-c", verify, &public]).current_dir(cwd))
        .ok("model_signing API verifies our shards");
}
