//! Every reference vector verifies with the flags its upstream `test-verify-*.sh` uses.

use modelsig_e2e::{translate, vectors};

const IBM_ID: &str = "stefanb@us.ibm.com";
const IBM_ISSUER: &str = "https://sigstore.verify.ibm.com/oauth2";

/// (vector dir, model path argument, method, extra flags) as in upstream's scripts.
pub fn cases() -> Vec<(&'static str, String, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let key = s(&["--public_key", "./keys/certificate/signing-key-pub.pem"]);
    let cert = s(&["--certificate_chain", "./keys/certificate/ca-cert.pem"]);
    let sigstore =
        s(&["--identity", IBM_ID, "--identity_provider", IBM_ISSUER, "--trust_config", "trust_config.json"]);
    let ignore = |v: &str| s(&["--ignore-paths", &format!("./{v}/ignore-me")]);
    vec![
        ("v0.2.0-certificate", "./v0.2.0-certificate/".into(), [s(&["certificate"]), cert.clone()].concat()),
        ("v1.0.0-certificate", "./v1.0.0-certificate/".into(), [s(&["certificate"]), cert.clone()].concat()),
        ("v1.0.0-elliptic-key", "./v1.0.0-elliptic-key/signme-1".into(), [s(&["key"]), key.clone()].concat()),
        ("v1.0.0-sigstore", "./v1.0.0-sigstore/".into(), [s(&["sigstore"]), sigstore.clone()].concat()),
        (
            "v1.1.0-certificate",
            "./v1.1.0-certificate/".into(),
            [s(&["certificate"]), ignore("v1.1.0-certificate"), cert].concat(),
        ),
        (
            "v1.1.0-elliptic-key",
            "./v1.1.0-elliptic-key".into(),
            [s(&["key"]), ignore("v1.1.0-elliptic-key"), key].concat(),
        ),
        (
            "v1.1.0-sigstore",
            "./v1.1.0-sigstore/".into(),
            [s(&["sigstore"]), ignore("v1.1.0-sigstore"), sigstore].concat(),
        ),
    ]
}

/// Builds `verify METHOD MODEL --signature DIR/model.sig FLAGS…`.
pub fn verify_args(dir: &str, model: &str, flags: &[String]) -> Vec<String> {
    let mut a = vec!["verify".to_string(), flags[0].clone(), model.to_string()];
    a.push("--signature".into());
    a.push(format!("./{dir}/model.sig"));
    a.extend(flags[1..].iter().cloned());
    a
}

#[test]
fn every_vector_verifies_with_upstream_flags() {
    let v = vectors();
    for (dir, model, flags) in cases() {
        let args = verify_args(dir, &model, &flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = translate(&v, &args);
        r.ok(dir);
        assert!(r.stdout.starts_with("Verification succeeded"), "{dir}: {}", r.stdout);
    }
}

#[test]
fn keyless_vectors_verify_from_inside_the_model_directory() {
    let v = vectors();
    let trust = v.join("trust_config.json").display().to_string();
    for (dir, extra) in
        [("v1.0.0-sigstore", vec![]), ("v1.1.0-sigstore", vec!["--ignore-paths", "ignore-me"])]
    {
        let mut args = vec![
            "verify",
            "sigstore",
            "--identity",
            IBM_ID,
            "--identity_provider",
            IBM_ISSUER,
            "--trust_config",
            &trust,
            "--signature",
            "model.sig",
            ".",
        ];
        args.extend(extra);
        translate(&v.join(dir), &args).ok(dir);
    }
}

#[test]
fn keyless_uses_the_builtin_public_good_root_when_no_trust_config() {
    let v = vectors();
    let r = translate(
        &v,
        &[
            "verify",
            "sigstore",
            "./v1.0.0-sigstore",
            "--identity",
            IBM_ID,
            "--identity_provider",
            IBM_ISSUER,
            "--signature",
            "./v1.0.0-sigstore/model.sig",
        ],
    );
    r.ok("builtin root");
}

#[test]
fn wrong_identity_issuer_key_or_ca_is_rejected_with_a_reason() {
    let v = vectors();
    let base = [
        "verify",
        "sigstore",
        "./v1.1.0-sigstore",
        "--ignore-paths",
        "./v1.1.0-sigstore/ignore-me",
        "--trust_config",
        "trust_config.json",
        "--signature",
        "./v1.1.0-sigstore/model.sig",
    ];
    let mut a = base.to_vec();
    a.extend(["--identity", "someone@example.com", "--identity_provider", IBM_ISSUER]);
    let r = translate(&v, &a);
    r.expect_code(1, "wrong identity");
    assert!(r.stderr.contains("identity mismatch"), "{}", r.stderr);
    let mut a = base.to_vec();
    a.extend(["--identity", IBM_ID, "--identity_provider", "https://accounts.google.com"]);
    let r = translate(&v, &a);
    r.expect_code(1, "wrong issuer");
    assert!(r.stderr.contains("issuer mismatch"), "{}", r.stderr);

    // A certificate bundle checked against a CA that did not issue it.
    let r = translate(
        &v,
        &[
            "verify",
            "certificate",
            "./v1.0.0-certificate",
            "--certificate_chain",
            "./keys/certificate/signing-key-cert.pem",
            "--signature",
            "./v1.0.0-sigstore/model.sig",
        ],
    );
    r.expect_code(1, "keyless bundle as certificate");
    // The key vector checked with a key that is not in its hint.
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pki = modelsig_e2e::Pki::generate(t.path(), "P-384");
    let r = translate(
        &v,
        &[
            "verify",
            "key",
            "./v1.1.0-elliptic-key",
            "--ignore-paths",
            "./v1.1.0-elliptic-key/ignore-me",
            "--public_key",
            &pki.path("key.pub"),
            "--signature",
            "./v1.1.0-elliptic-key/model.sig",
        ],
    );
    r.expect_code(1, "wrong key");
    assert!(r.stderr.contains("key mismatch"), "{}", r.stderr);
}

/// Bundles of the older media types (v0.1, v0.2: the keyless leaf in `x509CertificateChain`)
/// verify too; the content is the same signature in the older wrapper.
#[test]
fn older_bundle_media_types_verify() {
    let v = vectors();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read(v.join("v1.0.0-sigstore/model.sig")).unwrap_or_else(|e| panic!("{e}"));
    let mut b: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    let vm = &mut b["verificationMaterial"];
    let leaf = vm["certificate"].take();
    vm.as_object_mut().map(|m| m.remove("certificate"));
    vm["x509CertificateChain"] = serde_json::json!({ "certificates": [leaf] });
    for version in ["0.1", "0.2"] {
        b["mediaType"] = format!("application/vnd.dev.sigstore.bundle+json;version={version}").into();
        let sig = t.path().join(format!("v{version}.sig"));
        std::fs::write(&sig, b.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let sig = sig.display().to_string();
        let args = [
            "verify",
            "sigstore",
            "./v1.0.0-sigstore",
            "--identity",
            IBM_ID,
            "--identity_provider",
            IBM_ISSUER,
        ];
        let rest = ["--ignore-paths", "./v1.0.0-sigstore/model.sig", "--trust_config", "trust_config.json"];
        let r = translate(&v, &[&args[..], &rest, &["--signature", &sig]].concat());
        r.ok(&format!("bundle v{version}"));
    }
}
