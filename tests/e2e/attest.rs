//! cosign-compatible model attestations on a real registry: the layouts cosign's specs
//! describe (new bundle referrer and legacy `.att` tag), verification like
//! `cosign verify-attestation` plus the file-level check, each failure with its own message,
//! and a round trip with a cosign-format key pair (scrypt + secretbox) made in the test.

use crate::sigstore_services::SigstoreServices;
use modelsig_common::crypto::cosign_key::encrypt_cosign_key;
use modelsig_e2e::registry::Registry;
use modelsig_e2e::{Pki, Shape, cosign_modelsig, make_model, oras, translate};
use std::path::Path;

fn http_json(url: &str, accept: &str) -> serde_json::Value {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent.get(url).header("Accept", accept).call().unwrap_or_else(|e| panic!("{url}: {e}"));
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const PREDICATE: &str = "https://model_signing/signature/v1.0";

/// A cosign key pair: cosign.key (encrypted with `password`) and cosign.pub.
fn cosign_keys(dir: &Path, password: &str) {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let sk = p256::SecretKey::random(&mut rand_core::OsRng);
    let der = sk.to_pkcs8_der().unwrap_or_else(|e| panic!("{e}"));
    let pem = encrypt_cosign_key(der.as_bytes(), password, 12).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("cosign.key"), pem).unwrap_or_else(|e| panic!("{e}"));
    let public = sk.public_key().to_public_key_pem(LineEnding::LF).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("cosign.pub"), public).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn attestations_in_both_cosign_formats_verify_and_fail_for_the_right_reasons() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    make_model(cwd, Shape::Nested);
    cosign_keys(cwd, "pw");
    let env = [("COSIGN_PASSWORD", "pw")];
    // A local Rekor (and Fulcio) test double: attestations are logged there, as cosign logs
    // them by default, and verification requires the entry.
    let svc = SigstoreServices::start(cwd);
    let tc = svc.trust_config.display().to_string();
    let r = format!("{}/models/att:v1", reg.addr);
    oras(cwd, &["push", "model", &r]).ok("push");
    let base = format!("http://{}/v2/models/att", reg.addr);
    let digest = {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let resp = agent
            .get(&format!("{base}/manifests/v1"))
            .header("Accept", MANIFEST)
            .call()
            .unwrap_or_else(|e| panic!("{e}"));
        resp.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };

    // New bundle format (default), with a cosign key file.
    let a = cosign_modelsig(
        cwd,
        &env,
        None,
        &["attest", &r, "--key", "cosign.key", "--trust_config", &tc, "--output", "json"],
    );
    a.ok("attest (new bundle format)");
    let rep: serde_json::Value = serde_json::from_str(&a.stdout).unwrap_or_default();
    assert_eq!(rep["subject"], digest);
    let referrer =
        http_json(&format!("{base}/manifests/{}", rep["stored_as"].as_str().unwrap_or_default()), MANIFEST);
    // Field by field against cosign's BUNDLE_SPEC.md.
    assert_eq!(referrer["mediaType"], MANIFEST);
    assert_eq!(referrer["artifactType"], BUNDLE);
    assert_eq!(referrer["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
    assert_eq!(
        referrer["config"]["digest"],
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(referrer["config"]["size"], 2);
    assert_eq!(referrer["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(referrer["layers"][0]["mediaType"], BUNDLE);
    assert_eq!(referrer["subject"]["digest"], digest);
    assert_eq!(referrer["annotations"]["dev.sigstore.bundle.content"], "dsse-envelope");
    assert_eq!(referrer["annotations"]["dev.sigstore.bundle.predicateType"], PREDICATE);
    assert!(referrer["annotations"]["org.opencontainers.image.created"].is_string());
    // The statement: subject = manifest digest; predicate = what `manifest` computes.
    let bundle = http_json(
        &format!("{base}/blobs/{}", referrer["layers"][0]["digest"].as_str().unwrap_or_default()),
        "*/*",
    );
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let stmt: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
    assert_eq!(stmt["subject"][0]["digest"]["sha256"], digest.trim_start_matches("sha256:"));
    let entries = bundle["verificationMaterial"]["tlogEntries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "the key attestation carries its transparency log entry: {bundle}");
    assert!(entries[0]["inclusionProof"]["checkpoint"]["envelope"].is_string());
    // sigstore-js, an independent Sigstore client, verifies the bundle with the public key
    // (log entry included) and rejects it once the payload is changed.
    std::fs::write(cwd.join("attestation.json"), bundle.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let js = modelsig_e2e::workspace().join("tests/js");
    assert!(
        js.join("node_modules/@sigstore/verify").exists(),
        "run `npm ci` in tests/js (scripts/test does)"
    );
    let node = |extra: &[&str]| {
        modelsig_e2e::run(
            std::process::Command::new("node")
                .arg(js.join("verify_bundle.mjs"))
                .args(["attestation.json", "cosign.pub", &tc])
                .args(extra)
                .current_dir(cwd),
        )
    };
    node(&[]).ok("sigstore-js verifies our attestation bundle");
    let tampered = node(&["tamper"]);
    assert_eq!(tampered.code, 1, "sigstore-js accepted a tampered payload: {}", tampered.stdout);
    assert_eq!(stmt["predicateType"], PREDICATE);
    let local: serde_json::Value =
        serde_json::from_str(&translate(cwd, &["manifest", "model"]).stdout).unwrap_or_default();
    assert_eq!(stmt["predicate"]["resources"], local["resources"]);

    cosign_modelsig(
        cwd,
        &[],
        None,
        &["verify-attestation", &r, "--key", "cosign.pub", "--trusted-root", &tc],
    )
    .ok("verify-attestation (new)");

    // Legacy .att tag: a second attestation (another signer) is appended; an identical one
    // (deterministic ECDSA over the same statement) is not duplicated.
    let pki = Pki::generate(&cwd.join("pki"), "P-384");
    let att_url = format!("{base}/manifests/sha256-{}.att", digest.trim_start_matches("sha256:"));
    let mut first_layer = serde_json::Value::Null;
    for (i, args) in [
        vec!["--key", "cosign.key"],
        vec!["--private_key", &pki.path("key.pem")],
        vec!["--key", "cosign.key"],
    ]
    .into_iter()
    .enumerate()
    {
        let a =
            [&["attest", r.as_str(), "--new-bundle-format=false", "--trust_config", &tc][..], &args].concat();
        cosign_modelsig(cwd, &env, None, &a).ok("attest legacy");
        if i == 0 {
            first_layer = http_json(&att_url, MANIFEST)["layers"][0]["digest"].clone();
        }
    }
    let att = http_json(&att_url, MANIFEST);
    // Re-attesting the first signer changed nothing (cosign's duplicate detector): it keeps
    // its place, and the config records one history entry per layer, as mutate.Append does.
    assert_eq!(att["layers"][0]["digest"], first_layer, "an identical attestation moved: {att}");
    let cfg =
        http_json(&format!("{base}/blobs/{}", att["config"]["digest"].as_str().unwrap_or_default()), "*/*");
    let n = att["layers"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(n), "{cfg}");
    assert_eq!(cfg["history"].as_array().map(Vec::len), Some(n), "history does not follow the layers: {cfg}");
    assert_eq!(att["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    let layers = att["layers"].as_array().cloned().unwrap_or_default();
    assert_eq!(layers.len(), 2, "legacy attestations are appended once each: {att}");
    for l in &layers {
        assert!(
            l["annotations"]["dev.sigstore.cosign/bundle"].is_string(),
            "legacy layer without its Rekor bundle: {l}"
        );
        assert_eq!(l["mediaType"], "application/vnd.dsse.envelope.v1+json");
        assert_eq!(l["annotations"]["dev.cosignproject.cosign/signature"], "");
        assert_eq!(l["annotations"]["predicateType"], PREDICATE);
    }

    cosign_modelsig(
        cwd,
        &[],
        None,
        &["verify-attestation", &r, "--key", &pki.path("key.pub"), "--trusted-root", &tc],
    )
    .ok("verify legacy");

    // The log must be one the verifier trusts: with the public-good root it is not.
    let v = cosign_modelsig(cwd, &[], None, &["verify-attestation", &r, "--key", "cosign.pub"]);
    v.expect_code(1, "untrusted log");
    assert!(v.stderr.contains("is not in the trusted root"), "{}", v.stderr);
    // Without a log entry (--tlog-upload=false) cosign's default refuses, and says why;
    // --insecure-ignore-tlog accepts it.
    let r3 = format!("{}/models/nolog:v1", reg.addr);
    oras(cwd, &["push", "model", &r3]).ok("push");
    cosign_modelsig(cwd, &env, None, &["attest", &r3, "--key", "cosign.key", "--tlog-upload=false"])
        .ok("attest without log");
    let v = cosign_modelsig(
        cwd,
        &[],
        None,
        &["verify-attestation", &r3, "--key", "cosign.pub", "--trusted-root", &tc],
    );
    v.expect_code(1, "no log entry");
    assert!(
        v.stderr.contains("no transparency log entry") && v.stderr.contains("--insecure-ignore-tlog"),
        "{}",
        v.stderr
    );
    let v = cosign_modelsig(
        cwd,
        &[],
        None,
        &["verify-attestation", &r3, "--key", "cosign.pub", "--insecure-ignore-tlog=true"],
    );
    v.ok("--insecure-ignore-tlog accepts it");
    assert!(v.stdout.contains("warning: the attestation has no transparency log entry"), "{}", v.stdout);

    // Each failure with its own message.
    let wrong = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    cosign_keys(wrong.path(), "x");
    let other_pub = wrong.path().join("cosign.pub").display().to_string();
    let v = cosign_modelsig(
        cwd,
        &[],
        None,
        &["verify-attestation", &r, "--key", &other_pub, "--trusted-root", &tc],
    );
    v.expect_code(1, "wrong key");
    assert!(v.stderr.contains("key mismatch"), "{}", v.stderr);
    let v = cosign_modelsig(
        cwd,
        &[],
        None,
        &[
            "verify-attestation",
            &r,
            "--key",
            "cosign.pub",
            "--type",
            "https://example.com/other",
            "--trusted-root",
            &tc,
        ],
    );
    v.expect_code(1, "wrong predicate type");
    assert!(v.stderr.contains("predicate type is"), "{}", v.stderr);
    let r2 = format!("{}/models/other:v1", reg.addr);
    make_model(&cwd.join("m2"), Shape::Unicode);
    oras(cwd, &["push", "m2/model", &r2]).ok("push other");
    let v = cosign_modelsig(
        cwd,
        &[],
        None,
        &["verify-attestation", &r2, "--key", "cosign.pub", "--trusted-root", &tc],
    );
    v.expect_code(1, "other manifest");
    assert!(v.stderr.contains("no attestations found"), "{}", v.stderr);

    // `cosign verify-attestation … | cosign-modelsig check REF`: cosign prints envelopes.
    let envelope = bundle["dsseEnvelope"].to_string();
    let c = cosign_modelsig(cwd, &[], Some(&format!("{envelope}\n")), &["check", &r]);
    c.ok("check");
    let c = cosign_modelsig(cwd, &[], Some(&format!("{envelope}\n")), &["check", &r2]);
    c.expect_code(1, "check against another manifest");
    assert!(c.stderr.contains("no statement subject has the manifest digest"), "{}", c.stderr);
}

#[test]
fn tampered_layers_and_predicates_are_rejected() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    make_model(cwd, Shape::Nested);
    let r = format!("{}/models/tt:v1", reg.addr);
    oras(cwd, &["push", "model", &r]).ok("push");
    cosign_modelsig(
        cwd,
        &[],
        None,
        &["attest", &r, "--private_key", &pki.path("key.pem"), "--tlog-upload=false"],
    )
    .ok("attest with a PEM key");
    cosign_modelsig(
        cwd,
        &[],
        None,
        &["verify-attestation", &r, "--key", &pki.path("key.pub"), "--insecure-ignore-tlog"],
    )
    .ok("verify");
    // The attacker re-pushes the tag with one layer changed: the attestation names the old
    // manifest digest, so the new manifest has none.
    let p = cosign_modelsig(cwd, &[], None, &["predicate", &r, "-o", "predicate.json"]);
    p.ok("predicate");
    std::fs::write(cwd.join("model/config.json"), b"{\"layers\": 3}").unwrap_or_else(|e| panic!("{e}"));
    oras(cwd, &["push", "model", &r]).ok("attacker re-push");
    let v = cosign_modelsig(
        cwd,
        &[],
        None,
        &["verify-attestation", &r, "--key", &pki.path("key.pub"), "--insecure-ignore-tlog"],
    );
    v.expect_code(1, "tampered layer (new manifest)");
    assert!(v.stderr.contains("no attestations found"), "{}", v.stderr);
    // A forged predicate (attested with another key) is refused by signature.
    let forger = Pki::generate(&cwd.join("forger"), "P-256");
    cosign_modelsig(
        cwd,
        &[],
        None,
        &["attest", &r, "--private_key", &forger.path("key.pem"), "--tlog-upload=false"],
    )
    .ok("forged attest");
    let v = cosign_modelsig(
        cwd,
        &[],
        None,
        &["verify-attestation", &r, "--key", &pki.path("key.pub"), "--insecure-ignore-tlog"],
    );
    v.expect_code(1, "forged predicate");
    assert!(v.stderr.contains("key mismatch"), "{}", v.stderr);
}

#[test]
fn keyless_attestations_in_both_formats_verify_against_a_local_sigstore() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    make_model(cwd, Shape::Nested);
    let svc = SigstoreServices::start(cwd);
    let tc = svc.trust_config.display().to_string();
    let token =
        modelsig_common::crypto::keyless::fake_sigstore::token("dev@example.com", "https://issuer.example");
    for format in ["true", "false"] {
        let r = format!("{}/models/keyless-{format}:v1", reg.addr);
        oras(cwd, &["push", "model", &r]).ok("push");
        let fmt = format!("--new-bundle-format={format}");
        cosign_modelsig(
            cwd,
            &[],
            None,
            &["attest", &r, "--identity-token", &token, "--trust_config", &tc, &fmt],
        )
        .ok("keyless attest");
        let id = [
            "--certificate-identity",
            "dev@example.com",
            "--certificate-oidc-issuer",
            "https://issuer.example",
        ];
        let v = cosign_modelsig(
            cwd,
            &[],
            None,
            &[&["verify-attestation", r.as_str()][..], &id, &["--trusted-root", &tc]].concat(),
        );
        v.ok(&format!("keyless verify-attestation ({format})"));
        assert!(v.stdout.contains("dev@example.com"), "{}", v.stdout);
        let wrong = [
            "--certificate-identity",
            "eve@example.com",
            "--certificate-oidc-issuer",
            "https://issuer.example",
        ];
        let v = cosign_modelsig(
            cwd,
            &[],
            None,
            &[&["verify-attestation", r.as_str()][..], &wrong, &["--trusted-root", &tc]].concat(),
        );
        v.expect_code(1, "wrong identity");
        assert!(v.stderr.contains("identity mismatch"), "{}", v.stderr);
    }
}
