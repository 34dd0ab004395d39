//! Interoperability with the reference implementation, both directions: signatures made by
//! `modelsig-translate` verify with Python `model_signing`, and the reverse, on generated
//! models of several shapes, for key and certificate signing.

use base64::Engine as _;
use modelsig_e2e::{Pki, SHAPES, Shape, make_model, model_signing, shape_flags, translate};
use std::path::Path;

fn signature_location(shape: Shape) -> &'static str {
    // Inside the model for one shape, so the automatic ignore of the signature is exercised.
    if shape == Shape::WithIgnored { "model/model.sig" } else { "model.sig" }
}

fn model_arg(shape: Shape) -> &'static str {
    if shape == Shape::SingleFile { "model/model.safetensors" } else { "model" }
}

fn sign_args<'a>(tool_method: &'a str, pki: &'a Pki, shape: Shape, sig: &'a str) -> Vec<String> {
    let mut a = vec![
        "sign".to_string(),
        tool_method.to_string(),
        model_arg(shape).to_string(),
        "--signature".into(),
        sig.into(),
    ];
    a.extend(["--private_key".to_string(), pki.path("key.pem")]);
    if tool_method == "certificate" {
        a.extend([
            "--signing_certificate".to_string(),
            pki.path("leaf.pem"),
            "--certificate_chain".into(),
            pki.path("int.pem"),
        ]);
    }
    a.extend(shape_flags(shape));
    a
}

fn verify_args(tool_method: &str, pki: &Pki, shape: Shape, sig: &str) -> Vec<String> {
    let mut a = vec![
        "verify".to_string(),
        tool_method.to_string(),
        model_arg(shape).to_string(),
        "--signature".into(),
        sig.into(),
    ];
    if tool_method == "certificate" {
        a.extend(["--certificate_chain".to_string(), pki.path("ca.pem")]);
    } else {
        a.extend(["--public_key".to_string(), pki.path("key.pub")]);
    }
    a.extend(shape_flags(shape));
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The statement inside a bundle.
fn statement(sig: &Path) -> serde_json::Value {
    let b: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sig).unwrap_or_else(|e| panic!("{e}"))).unwrap_or_default();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(b["dsseEnvelope"]["payload"].as_str().unwrap_or_default())
        .unwrap_or_default();
    serde_json::from_slice(&payload).unwrap_or_default()
}

fn sorted_ignores(s: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = s["predicate"]["serialization"]["ignore_paths"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn signatures_interoperate_with_model_signing_both_ways() {
    let keys = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p256 = Pki::generate(&keys.path().join("p256"), "P-256");
    let p384 = Pki::generate(&keys.path().join("p384"), "P-384");
    let mut checked = 0;
    for shape in SHAPES {
        for (method, pki) in [("key", &p256), ("certificate", &p384)] {
            let what = format!("{shape:?}/{method}");
            let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let cwd = work.path();
            make_model(cwd, shape);
            let sig = signature_location(shape);

            // Ours signs, Python verifies.
            translate(cwd, &strs(&sign_args(method, pki, shape, sig))).ok(&format!("{what}: our sign"));
            let ours = statement(&cwd.join(sig));
            let r = model_signing(cwd, &strs(&verify_args(method, pki, shape, sig)));
            r.ok(&format!("{what}: model_signing verify of our signature"));
            assert!(r.stdout.contains("Verification succeeded"), "{what}: {}", r.stdout);

            // Python signs, ours verifies.
            std::fs::remove_file(cwd.join(sig)).unwrap_or_else(|e| panic!("{e}"));
            model_signing(cwd, &strs(&sign_args(method, pki, shape, sig)))
                .ok(&format!("{what}: model_signing sign"));
            let theirs = statement(&cwd.join(sig));
            let r = translate(cwd, &strs(&verify_args(method, pki, shape, sig)));
            r.ok(&format!("{what}: our verify of model_signing's signature"));

            // Both computed the same statement: subject, resources (in order), serialization.
            assert_eq!(ours["subject"], theirs["subject"], "{what}: subject");
            assert_eq!(ours["predicate"]["resources"], theirs["predicate"]["resources"], "{what}: resources");
            for k in ["method", "hash_type", "allow_symlinks"] {
                assert_eq!(
                    ours["predicate"]["serialization"][k], theirs["predicate"]["serialization"][k],
                    "{what}: {k}"
                );
            }
            assert_eq!(sorted_ignores(&ours), sorted_ignores(&theirs), "{what}: ignore_paths");
            checked += 1;
        }
    }
    println!("interop cases (each both directions): {checked}");
}

#[test]
fn tampered_model_fails_in_both_tools() {
    let keys = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pki = Pki::generate(keys.path(), "P-256");
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = work.path();
    make_model(cwd, Shape::Nested);
    translate(cwd, &strs(&sign_args("key", &pki, Shape::Nested, "model.sig"))).ok("sign");
    modelsig_e2e::flip_byte(&cwd.join("model/a/c/d/weights.bin"), 1234);
    let args = verify_args("key", &pki, Shape::Nested, "model.sig");
    model_signing(cwd, &strs(&args)).expect_code(1, "model_signing on tampered model");
    let r = translate(cwd, &strs(&args));
    r.expect_code(1, "ours on tampered model");
    assert!(r.stderr.contains("mismatch  a/c/d/weights.bin"), "{}", r.stderr);
}
