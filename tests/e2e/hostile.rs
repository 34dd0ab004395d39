//! Hostile input: deeply nested or huge JSON, 100,000-layer manifests, unknown algorithms and
//! media types, truncated blobs, traversal in annotations — a clear error, no panic (a panic
//! exits 101), and nothing written outside the output directory.

use modelsig_e2e::fixtures::Layout;
use modelsig_e2e::{Pki, Shape, make_model, translate};

fn assert_clean_failure(r: &modelsig_e2e::Run, what: &str, expect: &str) {
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(r.code == 1 || r.code == 2, "{what}: exit {} (101 = panic)\n{all}", r.code);
    assert!(all.contains(expect), "{what}: expected `{expect}` in\n{all}");
    assert!(!r.stdout.contains("succeeded"), "{what}");
}

#[test]
fn hostile_signatures_and_layouts_fail_cleanly() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let public = pki.path("key.pub");
    make_model(cwd, Shape::Nested);
    let mut cases = 0;

    // Deeply nested JSON as a signature.
    std::fs::write(cwd.join("deep.sig"), format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)))
        .unwrap_or_else(|e| panic!("{e}"));
    let r = translate(cwd, &["verify", "key", "model", "--public_key", &public, "--signature", "deep.sig"]);
    assert_clean_failure(&r, "nested JSON", "deep.sig");
    cases += 1;

    // A valid signature whose predicate names an unknown hash algorithm.
    translate(cwd, &["sign", "key", "model", "--private_key", &pki.path("key.pem"), "--signature", "ok.sig"])
        .ok("sign");
    let text = std::fs::read_to_string(cwd.join("ok.sig")).unwrap_or_default();
    let mut b: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(b["dsseEnvelope"]["payload"].as_str().unwrap_or_default()).unwrap_or_default();
    let mut stmt: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
    stmt["predicate"]["serialization"]["hash_type"] = "md5".into();
    b["dsseEnvelope"]["payload"] = b64.encode(stmt.to_string()).into();
    std::fs::write(cwd.join("md5.sig"), b.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let r = translate(cwd, &["verify", "key", "model", "--public_key", &public, "--signature", "md5.sig"]);
    assert_clean_failure(&r, "altered payload", "does not verify");
    cases += 1;

    // Manifests with 100,000 layers (over the 16 MiB metadata cap: refused before parsing)
    // and 20,000 layers all claiming two files (parsed, then the duplicate is named).
    for (n, expect) in [(100_000, "over the 16 MiB cap for manifest"), (20_000, "is also in layer")] {
        let dir = format!("many{n}");
        let layout = Layout::create(&cwd.join(&dir));
        let (blob, size) = layout.put(b"x");
        let layers: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({
                    "mediaType": "application/vnd.cncf.model.weight.v1.raw", "digest": blob, "size": size,
                    "annotations": { "org.cncf.model.filepath": format!("f{}", i % 2) }
                })
            })
            .collect();
        let diff_ids: Vec<&str> = (0..n).map(|_| blob.as_str()).collect();
        let cfg = serde_json::json!({ "modelfs": { "type": "layers", "diffIds": diff_ids } });
        let (cd, cs) = layout.put(cfg.to_string().as_bytes());
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.cncf.model.manifest.v1+json",
            "config": { "mediaType": "application/vnd.cncf.model.config.v1+json", "digest": cd, "size": cs },
            "layers": layers,
        });
        let d = layout.put_manifest(&m);
        layout.write_index(&[("v1", d)]);
        let r = translate(cwd, &["manifest", &format!("oci:{dir}:v1")]);
        assert_clean_failure(&r, &format!("{n} layers"), expect);
        cases += 1;
    }

    // Unknown layer media type, traversal in a path annotation, truncated blob.
    for (case, mutate, expect) in [
        ("unknown media type", 0, "unknown layer media type"),
        ("path traversal", 1, "`..`"),
        ("absolute path", 2, "absolute"),
        ("truncated blob", 3, "does not match its digest"),
    ] {
        let dir = cwd.join(format!("case{mutate}"));
        let layout = Layout::create(&dir);
        let data = b"model bytes".to_vec();
        let (blob, size) = layout.put(&data);
        let mut layer = serde_json::json!({
            "mediaType": "application/vnd.cncf.model.weight.v1.raw", "digest": blob, "size": size,
            "annotations": { "org.cncf.model.filepath": "w.bin" }
        });
        match mutate {
            0 => layer["mediaType"] = "application/vnd.example.unknown".into(),
            1 => layer["annotations"]["org.cncf.model.filepath"] = "../../outside.bin".into(),
            2 => layer["annotations"]["org.cncf.model.filepath"] = "/etc/passwd".into(),
            _ => std::fs::write(layout.blob(&blob), &data[..4]).unwrap_or_else(|e| panic!("{e}")),
        }
        let (cd, cs) = layout.put(
            serde_json::json!({ "modelfs": { "type": "layers", "diffIds": [blob] } }).to_string().as_bytes(),
        );
        let m = serde_json::json!({
            "schemaVersion": 2, "artifactType": "application/vnd.cncf.model.manifest.v1+json",
            "config": { "mediaType": "application/vnd.cncf.model.config.v1+json", "digest": cd, "size": cs },
            "layers": [layer],
        });
        let d = layout.put_manifest(&m);
        layout.write_index(&[("v1", d)]);
        let r = translate(cwd, &["manifest", &format!("oci:case{mutate}:v1")]);
        assert_clean_failure(&r, case, expect);
        cases += 1;
    }
    assert!(!cwd.join("outside.bin").exists());
    println!("hostile input cases: {cases}");
}
