//! Against real registries on 127.0.0.1: push, attach, discover, verify from manifest and
//! signature only, verified and partial pull, interop with model_signing on both ends,
//! tampering in the registry, the referrers API and its tag fallback, skopeo reading what we
//! pushed.

use modelsig_e2e::registry::{Proxy, Registry};
use modelsig_e2e::{Pki, Shape, make_model, model_signing, oras, translate};
use std::path::Path;

fn json(r: &modelsig_e2e::Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{e}"));
}

/// A ≥ 1 GiB model (one sparse 1 GiB weights file and a few small files).
fn big_model(cwd: &Path) {
    make_model(cwd, Shape::Nested);
    let f = std::fs::File::create(cwd.join("model/big.safetensors")).unwrap_or_else(|e| panic!("{e}"));
    f.set_len(1 << 30).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn push_verify_with_kilobytes_pull_and_model_signing_interop() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));
    big_model(cwd);
    model_signing(cwd, &["sign", "key", "model", "--private_key", &key, "--signature", "model.sig"])
        .ok("py sign");
    let r = format!("{}/models/big:v1", reg.addr);

    oras(cwd, &["push", "model", &r, "--signature", "model.sig"]).ok("push + attach");
    let d = json(&oras(cwd, &["discover", &r, "--format", "json"]));
    assert_eq!(d["referrersApi"], false, "distribution 2.8 has no referrers API");
    assert_eq!(d["referrers"].as_array().map(Vec::len), Some(1));

    let v = oras(cwd, &["verify", "key", &r, "--public_key", &public, "--output", "json"]);
    v.ok("verify from registry");
    let v = json(&v);
    assert_eq!(v["verified"], true);
    let transferred = v["bytes_transferred"].as_u64().unwrap_or(u64::MAX);
    assert!(transferred <= 64 * 1024, "verify of a 1 GiB model transferred {transferred} bytes");
    println!("verify of a 1 GiB model transferred {transferred} bytes");

    let p = oras(cwd, &["pull", &r, "-o", "pulled", "--public_key", &public, "--output", "json"]);
    p.ok("pull");
    let p = json(&p);
    assert_eq!(p["written"].as_array().map(Vec::len), Some(7));
    model_signing(cwd, &["verify", "key", "pulled", "--public_key", &public, "--signature", "model.sig"])
        .ok("py verify pulled");
    // One transfer at a time or many: the same verified files (layers run concurrently,
    // default 4, sharing parent directories).
    for n in ["1", "16"] {
        let dir = format!("pulled-{n}");
        let q = json(&oras(
            cwd,
            &["pull", &r, "-o", &dir, "--public_key", &public, "--concurrency", n, "--output", "json"],
        ));
        assert_eq!(q["written"].as_array().map(Vec::len), Some(7), "--concurrency {n}: {q}");
        model_signing(cwd, &["verify", "key", &dir, "--public_key", &public, "--signature", "model.sig"])
            .ok(&format!("py verify pulled with --concurrency {n}"));
    }
    oras(cwd, &["pull", &r, "-o", "x", "--public_key", &public, "--concurrency", "0"])
        .expect_code(2, "0 transfers");
    // Pulling again downloads nothing that is already there.
    let again = json(&oras(cwd, &["pull", &r, "-o", "pulled", "--public_key", &public, "--output", "json"]));
    assert_eq!(again["written"].as_array().map(Vec::len), Some(0));
    assert!(again["bytes_transferred"].as_u64().unwrap_or(u64::MAX) < 64 * 1024);

    // Partial: only the files a user needs, each verified.
    let part = json(&oras(
        cwd,
        &["pull", &r, "-o", "partial", "--public_key", &public, "--include", "a/**", "--output", "json"],
    ));
    let mut names: Vec<String> = part["written"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, ["a/b", "a/c/d/weights.bin"]);
    assert!(!cwd.join("partial/big.safetensors").exists());

    // Sign in place (raw layers are not downloaded) and verify with model_signing on the pull.
    let s = oras(cwd, &["sign", "key", &r, "--private_key", &key, "--signature", "remote.sig", "--attach"]);
    s.ok("remote sign");
    model_signing(cwd, &["verify", "key", "pulled", "--public_key", &public, "--signature", "remote.sig"])
        .ok("py verify remote sig");
    let d = json(&oras(cwd, &["discover", &r, "--format", "json"]));
    assert_eq!(d["referrers"].as_array().map(Vec::len), Some(2), "the fallback index keeps both signatures");

    // modelsig-translate reads registry references as a source too.
    translate(
        cwd,
        &["verify", "key", &format!("registry:{r}"), "--public_key", &public, "--signature", "model.sig"],
    )
    .ok("registry: source");
}

#[test]
fn tampering_in_the_registry_is_caught() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));
    make_model(cwd, Shape::Nested);
    translate(cwd, &["sign", "key", "model", "--private_key", &key, "--signature", "model.sig"]).ok("sign");
    let r = format!("{}/models/t:v1", reg.addr);
    oras(cwd, &["push", "model", &r, "--signature", "model.sig"]).ok("push");

    // The attacker re-pushes the tag with one file changed: the new manifest has no signature.
    write(&cwd.join("evil/a/b"), b"evil");
    for f in ["a-b", "config.json", "empty", "z/empty2", "a/c/d/weights.bin"] {
        let data = std::fs::read(cwd.join("model").join(f)).unwrap_or_default();
        write(&cwd.join("evil").join(f), &data);
    }
    oras(cwd, &["push", "evil", &r]).ok("attacker push");
    let v = oras(cwd, &["verify", "key", &r, "--public_key", &public]);
    v.expect_code(1, "retagged manifest");
    assert!(v.stderr.contains("no model signature is attached"), "{}", v.stderr);
    // ... and reusing the old signature on it does not help.
    oras(cwd, &["attach", &r, "--signature", "model.sig"]).ok("attacker attach");
    let v = oras(cwd, &["verify", "key", &r, "--public_key", &public]);
    v.expect_code(1, "old signature on new manifest");
    assert!(v.stderr.contains("mismatch  a/b"), "{}", v.stderr);

    // A corrupted blob in storage: pull stops, nothing unverified is left under a final name.
    let r2 = format!("{}/models/c:v1", reg.addr);
    oras(cwd, &["push", "model", &r2, "--signature", "model.sig"]).ok("push");
    let weights = std::fs::read(cwd.join("model/a/c/d/weights.bin")).unwrap_or_default();
    let digest = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&weights)));
    modelsig_e2e::flip_byte(&reg.blob_file(&digest), 777);
    let p = oras(cwd, &["pull", &r2, "-o", "out", "--public_key", &public]);
    p.expect_code(1, "corrupted blob");
    assert!(p.stderr.contains("does not match its digest"), "{}", p.stderr);
    assert!(!cwd.join("out/a/c/d/weights.bin").exists());
    let leftovers = walk(&cwd.join("out")).into_iter().filter(|n| n.contains(".modelsig-pull-")).count();
    assert_eq!(leftovers, 0, "temporary files left behind");
    // Verify without download does not read the corrupted blob; --deep on a raw layer is
    // not needed, pull is where contents are checked.
    oras(cwd, &["verify", "key", &r2, "--public_key", &public]).ok("manifest + signature still verify");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if p.is_dir() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

#[test]
fn referrers_api_is_used_when_the_registry_has_it() {
    let reg = Registry::start();
    let proxy = Proxy::start(&reg.addr, true);
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    make_model(cwd, Shape::Unicode);
    translate(
        cwd,
        &["sign", "key", "model", "--private_key", &pki.path("key.pem"), "--signature", "model.sig"],
    )
    .ok("sign");
    let r = format!("{}/models/api:v1", proxy.addr);
    oras(cwd, &["push", "model", &r, "--signature", "model.sig"]).ok("push via proxy");
    let d = json(&oras(cwd, &["discover", &r, "--format", "json"]));
    assert_eq!(d["referrersApi"], true);
    assert_eq!(d["referrers"].as_array().map(Vec::len), Some(1));
    let seen = proxy.seen.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(
        !seen.iter().any(|s| s.contains("/manifests/sha256-")),
        "no fallback tag written when OCI-Subject is returned: {seen:?}"
    );
    oras(cwd, &["verify", "key", &r, "--public_key", &pki.path("key.pub")]).ok("verify via referrers API");
}

#[test]
fn skopeo_reads_what_we_push_and_layouts_copy_to_registries() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    make_model(cwd, Shape::Nested);
    translate(
        cwd,
        &["sign", "key", "model", "--private_key", &pki.path("key.pem"), "--signature", "model.sig"],
    )
    .ok("sign");
    let r = format!("{}/models/s:v1", reg.addr);
    oras(cwd, &["push", "model", &r, "--signature", "model.sig"]).ok("push");
    let copy = modelsig_e2e::run(
        std::process::Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false", &format!("docker://{r}"), "oci:fromreg:v1"])
            .current_dir(cwd),
    );
    copy.ok("skopeo copy registry -> oci layout");
    translate(
        cwd,
        &[
            "verify",
            "key",
            "oci:fromreg:v1",
            "--public_key",
            &pki.path("key.pub"),
            "--signature",
            "model.sig",
        ],
    )
    .ok("verify skopeo's layout");

    // A ModelKit packed locally, copied to the registry with its signature, verified there.
    translate(
        cwd,
        &["pack", "model", "-o", "oci:kit:v1", "--format", "modelkit", "--signature", "model.sig"],
    )
    .ok("pack kit");
    let r2 = format!("{}/models/kit:v1", reg.addr);
    oras(cwd, &["copy", "oci:kit:v1", &r2]).ok("copy layout to registry");
    let v = oras(cwd, &["verify", "key", &r2, "--public_key", &pki.path("key.pub"), "--deep"]);
    v.ok("verify a ModelKit in the registry (tar layers streamed)");
    let v = oras(cwd, &["verify", "key", &r2, "--public_key", &pki.path("key.pub")]);
    v.expect_code(1, "tar layers without --deep");
    assert!(v.stderr.contains("--deep"), "{}", v.stderr);
}
