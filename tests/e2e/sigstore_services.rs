//! A local Sigstore test double over HTTP on 127.0.0.1: the library's in-process fake Fulcio,
//! Rekor and CT log (feature `test-services`), optionally with OpenSSL's RFC 3161 TSA, behind
//! a tiny HTTP server, with a `ClientTrustConfig` file that trusts it and sends signing to
//! it. Never a public instance. The tests here sign keylessly through it with our binary and
//! check the bundles with ours and with the reference `model_signing`.

use modelsig_common::crypto::keyless::fake_sigstore::FakeSigstore;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The running services.
pub struct SigstoreServices {
    /// The trust configuration file (trusted root + signing config).
    pub trust_config: PathBuf,
}

impl SigstoreServices {
    /// Starts the services and writes `trust_config.json` into `dir`.
    pub fn start(dir: &Path) -> SigstoreServices {
        Self::serve(dir, FakeSigstore::new())
    }

    /// The same with a timestamp authority whose `genTime` has `digits` fractional digits.
    pub fn start_with_tsa(dir: &Path, digits: u8) -> SigstoreServices {
        Self::serve(dir, FakeSigstore::with_tsa(digits))
    }

    /// The same with a TSA and a Rekor v2 log listed before the v1 log.
    pub fn start_with_rekor_v2(dir: &Path) -> SigstoreServices {
        Self::serve(dir, FakeSigstore::with_rekor_v2())
    }

    fn serve(dir: &Path, fake: FakeSigstore) -> SigstoreServices {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let base = format!("http://{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        let trust_config = dir.join("trust_config.json");
        std::fs::write(&trust_config, fake.trust_config_json(&base).to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        // One thread owns the fake (it is not Sync) and serves connections in turn.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let Some((method, path, authorization, body)) = read_request(&mut s) else { continue };
                if method == "GET" {
                    let (status, answer) = match fake.handle_get(&path, &base) {
                        Ok(v) => (200, v.to_string()),
                        Err(e) => (404, e.to_string()),
                    };
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    continue;
                }
                if path.ends_with("/api/v1/timestamp") {
                    let (status, answer) = match fake.handle_bytes(&path, &body) {
                        Ok(b) => (200, b),
                        Err(e) => (400, e.to_string().into_bytes()),
                    };
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        answer.len()
                    );
                    let _ = s.write_all(&answer);
                    continue;
                }
                let (status, answer) = match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(json) => match fake.handle_authorized(&path, &json, authorization.as_deref()) {
                        Ok(v) => (201, v.to_string()),
                        Err(e) => (400, serde_json::json!({ "message": e.to_string() }).to_string()),
                    },
                    Err(e) => (400, serde_json::json!({ "message": e.to_string() }).to_string()),
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        SigstoreServices { trust_config }
    }
}

/// The method, path, `Authorization` header and body of one HTTP/1.1 request.
fn read_request(s: &mut std::net::TcpStream) -> Option<(String, String, Option<String>, Vec<u8>)> {
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let method = line.split_whitespace().next()?.to_owned();
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0usize;
    let mut authorization = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(v.trim().to_owned());
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, authorization, body))
}

use modelsig_e2e::{Shape, make_model, model_signing, translate};

#[test]
fn keyless_bundles_carry_tsa_timestamps_and_verify_in_both_tools() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    make_model(cwd, Shape::Nested);
    let token =
        modelsig_common::crypto::keyless::fake_sigstore::token("dev@example.com", "https://issuer.example");
    // Whole-second and millisecond genTime (OpenSSL's TSA writes both).
    for digits in [0u8, 3] {
        let dir = cwd.join(format!("svc-{digits}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let svc = SigstoreServices::start_with_tsa(&dir, digits);
        let tc = svc.trust_config.display().to_string();
        let sig = format!("model-{digits}.sig");
        translate(
            cwd,
            &[
                "sign",
                "sigstore",
                "model",
                "--identity_token",
                &token,
                "--trust_config",
                &tc,
                "--signature",
                &sig,
            ],
        )
        .ok("keyless sign with a TSA");
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cwd.join(&sig)).unwrap_or_default()).unwrap_or_default();
        let stamps = bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .map(Vec::len);
        assert_eq!(stamps, Some(1), "the bundle carries the TSA's timestamp: {bundle}");
        let verify = [
            "verify",
            "sigstore",
            "model",
            "--signature",
            &sig,
            "--identity",
            "dev@example.com",
            "--identity_provider",
            "https://issuer.example",
            "--trust_config",
            &tc,
        ];
        translate(cwd, &verify).ok("ours verifies");
        model_signing(cwd, &verify).ok("model_signing verifies our keyless bundle with its timestamp");
        // The wrong identity is refused by both.
        let mut wrong = verify;
        wrong[6] = "eve@example.com";
        assert_ne!(translate(cwd, &wrong).code, 0);
        assert_ne!(model_signing(cwd, &wrong).code, 0);

        // The other way: model_signing (sigstore-python) signs through the same services.
        let theirs = format!("theirs-{digits}.sig");
        model_signing(
            cwd,
            &[
                "sign",
                "sigstore",
                "model",
                "--identity_token",
                &token,
                "--trust_config",
                &tc,
                "--signature",
                &theirs,
            ],
        )
        .ok("model_signing signs keylessly through the local services");
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cwd.join(&theirs)).unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "sigstore-python fetched a timestamp: {bundle}"
        );
        let mut verify_theirs = verify;
        verify_theirs[4] = &theirs;
        translate(cwd, &verify_theirs).ok("ours verifies model_signing's keyless bundle with its timestamp");
        model_signing(cwd, &verify_theirs).ok("model_signing verifies its own");
    }
}

#[test]
fn rekor_v2_bundles_verify_both_ways_with_model_signing() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    make_model(cwd, Shape::Nested);
    let token =
        modelsig_common::crypto::keyless::fake_sigstore::token("dev@example.com", "https://issuer.example");
    let svc = SigstoreServices::start_with_rekor_v2(cwd);
    let tc = svc.trust_config.display().to_string();
    // sigstore-python picks the newest log version listed: a Rekor v2 entry (DSSE recorded as
    // hashedrekord 0.0.2), no integrated time, the TSA's timestamp as the signing time.
    model_signing(
        cwd,
        &[
            "sign",
            "sigstore",
            "model",
            "--identity_token",
            &token,
            "--trust_config",
            &tc,
            "--signature",
            "v2.sig",
        ],
    )
    .ok("model_signing signs with Rekor v2");
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.join("v2.sig")).unwrap_or_default()).unwrap_or_default();
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(entry["kindVersion"]["version"], "0.0.2", "{bundle}");
    assert!(entry["integratedTime"].is_null() || entry["integratedTime"] == "0", "{entry}");
    let verify = |sig: &str| {
        [
            "verify",
            "sigstore",
            "model",
            "--signature",
            sig,
            "--identity",
            "dev@example.com",
            "--identity_provider",
            "https://issuer.example",
            "--trust_config",
            &tc,
        ]
        .map(str::to_owned)
    };
    fn as_refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    model_signing(cwd, &as_refs(&verify("v2.sig"))).ok("model_signing verifies its Rekor v2 bundle");
    translate(cwd, &as_refs(&verify("v2.sig"))).ok("ours verifies model_signing's Rekor v2 bundle");
    // Its checkpoint is what ties the entry to the log: a flipped root hash is refused.
    let mut bad = bundle.clone();
    bad["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["rootHash"] =
        serde_json::Value::String("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    std::fs::write(cwd.join("bad.sig"), bad.to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        translate(cwd, &as_refs(&verify("bad.sig"))).code,
        0,
        "a wrong inclusion proof root is refused"
    );
    // Without the timestamp a Rekor v2 entry gives no signing time: refused.
    let mut bare = bundle.clone();
    if let Some(vm) = bare["verificationMaterial"].as_object_mut() {
        vm.remove("timestampVerificationData");
    }
    std::fs::write(cwd.join("bare.sig"), bare.to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        translate(cwd, &as_refs(&verify("bare.sig"))).code,
        0,
        "Rekor v2 without a timestamp is refused"
    );

    // Ours picks the newest log version too: a Rekor v2 entry like sigstore-python's, with the
    // TSA's timestamp; model_signing verifies it.
    translate(
        cwd,
        &[
            "sign",
            "sigstore",
            "model",
            "--identity_token",
            &token,
            "--trust_config",
            &tc,
            "--signature",
            "ours.sig",
        ],
    )
    .ok("ours signs with the v2 log");
    let ours: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.join("ours.sig")).unwrap_or_default()).unwrap_or_default();
    let entry = &ours["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(entry["kindVersion"]["kind"], "hashedrekord", "{ours}");
    assert_eq!(entry["kindVersion"]["version"], "0.0.2", "{ours}");
    assert!(entry.get("integratedTime").is_none(), "{entry}");
    assert_eq!(
        ours["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    model_signing(cwd, &as_refs(&verify("ours.sig"))).ok("model_signing verifies ours");
    translate(cwd, &as_refs(&verify("ours.sig"))).ok("ours verifies ours");
}
