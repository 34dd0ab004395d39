//! A faulty network between us and the registry: server errors and dropped connections are
//! retried a bounded number of times; corrupted and truncated blobs stop a pull with a clear
//! error, never "verified", never an unverified file under its final name; an interrupted pull
//! resumes without downloading what was already verified.

use modelsig_e2e::registry::{Faults, Proxy, Registry};
use modelsig_e2e::{Pki, Shape, make_model, oras, translate};
use std::path::Path;

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p.strip_prefix(dir).map(|r| r.display().to_string()).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn retries_errors_and_interrupted_pulls() {
    let reg = Registry::start();
    let proxy = Proxy::start(&reg.addr, false);
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let public = pki.path("key.pub");
    make_model(cwd, Shape::Nested);
    translate(
        cwd,
        &["sign", "key", "model", "--private_key", &pki.path("key.pem"), "--signature", "model.sig"],
    )
    .ok("sign");
    oras(cwd, &["push", "model", &format!("{}/models/f:v1", reg.addr), "--signature", "model.sig"])
        .ok("push");
    let r = format!("{}/models/f:v1", proxy.addr);
    let mut cases = 0;

    // Transient 500s and resets: retried, then success.
    proxy.set(Faults { server_errors: 2, resets: 1, ..Faults::default() });
    oras(cwd, &["verify", "key", &r, "--public_key", &public]).ok("verify through transient faults");
    cases += 1;

    // A registry that keeps failing: bounded retries, a clear error naming it, exit 2.
    proxy.set(Faults { server_errors: 1000, ..Faults::default() });
    let before = proxy.requests();
    let v = oras(cwd, &["verify", "key", &r, "--public_key", &public]);
    v.expect_code(2, "persistent 500");
    assert!(
        v.stderr.contains(&proxy.addr) && v.stderr.contains("models/f") && v.stderr.contains("500"),
        "{}",
        v.stderr
    );
    assert!(!v.stdout.contains("succeeded") && !v.stderr.contains("succeeded"));
    let attempts = proxy.requests() - before;
    assert!((2..=8).contains(&attempts), "{attempts} attempts: retries must be bounded");
    cases += 1;

    // A corrupted blob: the pull stops at it; files verified before it stay, it does not.
    let weights = std::fs::read(cwd.join("model/a/c/d/weights.bin")).unwrap_or_default();
    let digest = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&weights)));
    proxy.set(Faults { corrupt_blob: Some(digest.clone()), ..Faults::default() });
    // One transfer at a time, so that files before it are verified and kept (with several,
    // the failure may cancel them first) and the resume below has something to skip.
    let p = oras(cwd, &["pull", &r, "-o", "out", "--public_key", &public, "--concurrency", "1"]);
    p.expect_code(1, "corrupted blob");
    assert!(p.stderr.contains("does not match its digest") && p.stderr.contains(&digest), "{}", p.stderr);
    let got = files_under(&cwd.join("out"));
    assert!(!got.iter().any(|f| f.ends_with("weights.bin") || f.contains(".modelsig-pull-")), "{got:?}");
    // Four at a time: the failure cancels the other transfers; nothing unverified is left.
    let p = oras(cwd, &["pull", &r, "-o", "out-c", "--public_key", &public]);
    p.expect_code(1, "corrupted blob, concurrent pull");
    assert!(p.stderr.contains(&digest), "{}", p.stderr);
    let got = files_under(&cwd.join("out-c"));
    assert!(!got.iter().any(|f| f.ends_with("weights.bin") || f.contains(".modelsig-pull-")), "{got:?}");
    cases += 1;

    // Truncated downloads: an error, nothing unverified left.
    proxy.set(Faults { truncate_blobs: true, ..Faults::default() });
    let p = oras(cwd, &["pull", &r, "-o", "out2", "--public_key", &public]);
    assert_ne!(p.code, 0, "truncated blobs must fail: {p:?}");
    assert!(files_under(&cwd.join("out2")).iter().all(|f| !f.contains(".modelsig-pull-")));
    cases += 1;

    // Resume: the interrupted pull into `out` completes without downloading verified files.
    proxy.set(Faults::default());
    let p = oras(cwd, &["pull", &r, "-o", "out", "--public_key", &public, "--output", "json"]);
    p.ok("resumed pull");
    let rep: serde_json::Value = serde_json::from_str(&p.stdout).unwrap_or_default();
    let present = rep["already_present"].as_array().map(Vec::len).unwrap_or(0);
    let written = rep["written"].as_array().map(Vec::len).unwrap_or(0);
    assert!(present >= 1 && written >= 1 && present + written == 6, "{rep}");
    translate(cwd, &["verify", "key", "out", "--public_key", &public, "--signature", "model.sig"])
        .ok("pulled tree verifies");
    cases += 1;
    println!("fault cases: {cases}");
}
