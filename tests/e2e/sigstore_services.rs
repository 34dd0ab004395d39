//! A local Sigstore test double over HTTP on 127.0.0.1: the library's in-process fake Fulcio,
//! Rekor and CT log (feature `test-services`), optionally with OpenSSL's RFC 3161 TSA, behind
//! a tiny HTTP server, with a `ClientTrustConfig` file that trusts it and sends signing to
//! it. Never a public instance. The tests here sign keylessly through it with our binary and
//! check the bundles with ours and with the reference `model_signing`.

use modelsig_common::crypto::keyless::fake_sigstore::FakeSigstore;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// `sign sigstore model` with `token` through the services of `tc`, writing `sig` (the same
/// flags for model_signing and ours).
pub(crate) fn keyless_sign<'a>(token: &'a str, tc: &'a str, sig: &'a str) -> [&'a str; 9] {
    ["sign", "sigstore", "model", "--identity_token", token, "--trust_config", tc, "--signature", sig]
}

/// A JSON file (a bundle), or `null`.
pub(crate) fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_default()).unwrap_or_default()
}

/// The running services.
pub struct SigstoreServices {
    /// The trust configuration file (trusted root + signing config).
    pub trust_config: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
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
        let served_base = base.clone();
        std::fs::write(&trust_config, fake.trust_config_json(&base).to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        // One thread owns the fake (it is not Sync) and serves connections in turn.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let Some((method, target, authorization, body)) = read_request(&mut s) else { continue };
                let a = fake.serve_http(&method, &target, authorization.as_deref(), &body, &base);
                let location = a.location.map(|l| format!("Location: {l}\r\n")).unwrap_or_default();
                let _ = write!(
                    s,
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\n{location}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    a.status,
                    a.content_type,
                    a.body.len()
                );
                let _ = s.write_all(&a.body);
            }
        });
        SigstoreServices { trust_config, base: served_base }
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
        translate(cwd, &keyless_sign(&token, &tc, &sig)).ok("keyless sign with a TSA");
        let bundle: serde_json::Value = read_json(&cwd.join(&sig));
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
        model_signing(cwd, &keyless_sign(&token, &tc, &theirs))
            .ok("model_signing signs keylessly through the local services");
        let bundle: serde_json::Value = read_json(&cwd.join(&theirs));
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
    model_signing(cwd, &keyless_sign(&token, &tc, "v2.sig")).ok("model_signing signs with Rekor v2");
    let bundle: serde_json::Value = read_json(&cwd.join("v2.sig"));
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
    translate(cwd, &keyless_sign(&token, &tc, "ours.sig")).ok("ours signs with the v2 log");
    let ours: serde_json::Value = read_json(&cwd.join("ours.sig"));
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

#[test]
fn identity_tokens_from_ci_credentials_a_browser_and_out_of_band() {
    use std::io::{BufRead, Write};
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    make_model(cwd, Shape::Nested);
    let svc = SigstoreServices::start(cwd);
    let tc = svc.trust_config.display().to_string();
    let verify = |sig: &str, identity: &str, issuer: &str| {
        translate(
            cwd,
            &[
                "verify",
                "sigstore",
                "model",
                "--signature",
                sig,
                "--identity",
                identity,
                "--identity_provider",
                issuer,
                "--trust_config",
                &tc,
            ],
        )
    };
    let sign = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(modelsig_e2e::bin("modelsig-translate"));
        cmd.current_dir(cwd).args(["sign", "sigstore", "model", "--trust_config", &tc]).args(extra);
        cmd.env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        modelsig_e2e::run(&mut cmd)
    };

    // GitHub Actions' ambient credentials (its request URL and bearer in the environment).
    let gha = format!("{}/gha-token?api-version=2.0", svc.base);
    let token_env = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", gha.as_str()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            modelsig_common::crypto::keyless::fake_sigstore::GHA_REQUEST_TOKEN,
        ),
    ];
    sign(&["--use_ambient_credentials", "--signature", "ci.sig"], &token_env).ok("ambient credentials");
    verify("ci.sig", "ci@example.com", &format!("{}/gha", svc.base)).ok("the CI identity is certified");
    // No TSA in this config: a Rekor v1 bundle without timestamps, which model_signing verifies.
    model_signing(
        cwd,
        &[
            "verify",
            "sigstore",
            "model",
            "--signature",
            "ci.sig",
            "--identity",
            "ci@example.com",
            "--identity_provider",
            &format!("{}/gha", svc.base),
            "--trust_config",
            &tc,
        ],
    )
    .ok("model_signing verifies our bundle without a timestamp");
    // A wrong request token: a clear failure, nothing written.
    let bad_env =
        [("ACTIONS_ID_TOKEN_REQUEST_URL", gha.as_str()), ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "nope")];
    let r = sign(&["--use_ambient_credentials", "--signature", "bad.sig"], &bad_env);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("GitHub Actions token request"), "{}", r.stderr);
    assert!(!cwd.join("bad.sig").exists());

    // The browser flow: $BROWSER opens the authorization URL; the provider redirects to our
    // localhost listener with the code (a script that follows the redirect plays the browser).
    let browser = cwd.join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\nexec {} -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()' \"$1\"\n",
            modelsig_e2e::python().display()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::process::Command::new("chmod").arg("+x").arg(&browser).status().unwrap_or_else(|e| panic!("{e}"));
    let browser_s = browser.display().to_string();
    sign(&["--signature", "web.sig"], &[("BROWSER", browser_s.as_str())]).ok("browser OAuth flow");
    verify("web.sig", "dev@example.com", &format!("{}/oauth2", svc.base))
        .ok("the OAuth identity is certified");

    // Out of band: the link is printed, the code typed in.
    let mut child = std::process::Command::new(modelsig_e2e::bin("modelsig-translate"))
        .current_dir(cwd)
        .args([
            "sign",
            "sigstore",
            "model",
            "--trust_config",
            &tc,
            "--oauth_force_oob",
            "--signature",
            "oob.sig",
        ])
        .env_remove("SIGSTORE_ID_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let mut lines = std::io::BufReader::new(stderr).lines();
    let link = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.trim().starts_with("http").then(|| l.trim().to_owned()))
        .unwrap_or_else(|| panic!("no authorization link printed"));
    assert!(
        link.contains("redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob")
            && link.contains("code_challenge_method=S256"),
        "{link}"
    );
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let code = agent
        .get(&link)
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    writeln!(stdin, "{code}").unwrap_or_else(|e| panic!("{e}"));
    drop(stdin);
    for _ in lines.by_ref() {}
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "out-of-band OAuth flow");
    verify("oob.sig", "dev@example.com", &format!("{}/oauth2", svc.base))
        .ok("the out-of-band identity is certified");
}

#[test]
fn sigstore_js_rekor_v2_bundles_verify_with_ours() {
    let js = modelsig_e2e::workspace().join("tests/js");
    assert!(js.join("node_modules/@sigstore/sign").exists(), "run `npm ci` in tests/js (scripts/test does)");
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    make_model(cwd, Shape::Nested);
    let token =
        modelsig_common::crypto::keyless::fake_sigstore::token("dev@example.com", "https://issuer.example");
    let svc = SigstoreServices::start_with_rekor_v2(cwd);
    let tc = svc.trust_config.display().to_string();
    let js_sign = |file: &str, kind: &str, out: &str| {
        modelsig_e2e::run(
            std::process::Command::new("node")
                .arg(js.join("sign_bundle.mjs"))
                .args([file, kind, &tc, &token, out])
                .current_dir(cwd),
        )
    };
    let entry_kind = |out: &str| {
        let b: serde_json::Value = read_json(&cwd.join(out));
        let k = &b["verificationMaterial"]["tlogEntries"][0]["kindVersion"];
        format!("{}/{}", k["kind"].as_str().unwrap_or_default(), k["version"].as_str().unwrap_or_default())
    };

    // A message signature: a hashedrekord 0.0.2 entry with the TSA's timestamp; the
    // conformance client (the library's Sigstore verification) accepts it for the identity.
    std::fs::write(cwd.join("a.txt"), b"signed by sigstore-js\n").unwrap_or_else(|e| panic!("{e}"));
    js_sign("a.txt", "message", "js-message.json").ok("sigstore-js signs a message with Rekor v2");
    assert_eq!(entry_kind("js-message.json"), "hashedrekord/0.0.2");
    let client = |identity: &str| {
        modelsig_e2e::run(
            std::process::Command::new(modelsig_e2e::bin("sigstore-conformance-client"))
                .current_dir(cwd)
                .args([
                    "verify-bundle",
                    "--bundle",
                    "js-message.json",
                    "--certificate-identity",
                    identity,
                    "--certificate-oidc-issuer",
                    "https://issuer.example",
                    "--trusted-root",
                    &tc,
                    "a.txt",
                ]),
        )
    };
    client("dev@example.com").ok("ours verifies sigstore-js's Rekor v2 message bundle");
    assert_eq!(client("eve@example.com").code, 1);

    // A DSSE bundle of model_signing's statement: sigstore-js 5 records it as a `dsse` 0.0.2
    // entry, which rekor-v2-spec §6.1.4 replaced by hashedrekord over the PAE; model_signing
    // (sigstore-python) refuses it, and so do we, both naming the entry type.
    model_signing(cwd, &keyless_sign(&token, &tc, "ms.sig")).ok("model_signing signs");
    let ms: serde_json::Value = read_json(&cwd.join("ms.sig"));
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(ms["dsseEnvelope"]["payload"].as_str().unwrap_or_default())
        .unwrap_or_default();
    std::fs::write(cwd.join("statement.json"), &payload).unwrap_or_else(|e| panic!("{e}"));
    js_sign("statement.json", "application/vnd.in-toto+json", "js.sig").ok("sigstore-js signs a DSSE bundle");
    assert_eq!(entry_kind("js.sig"), "dsse/0.0.2");
    let verify = [
        "verify",
        "sigstore",
        "model",
        "--signature",
        "js.sig",
        "--identity",
        "dev@example.com",
        "--identity_provider",
        "https://issuer.example",
        "--trust_config",
        &tc,
    ];
    let theirs = model_signing(cwd, &verify);
    let ours = translate(cwd, &verify);
    assert!(theirs.code != 0 && theirs.stderr.contains("dsse/0.0.2"), "model_signing: {}", theirs.stderr);
    assert!(ours.code != 0 && ours.stderr.contains("dsse/0.0.2"), "ours: {}", ours.stderr);
}

/// Serves the files under `dir` over HTTP on 127.0.0.1 (404 for anything else); returns the
/// base URL.
fn serve_dir(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let base = format!("http://{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let Some((_, target, _, _)) = read_request(&mut s) else { continue };
            let rel = target.trim_start_matches('/');
            let file = (!rel.contains("..")).then(|| std::fs::read(dir.join(rel)).ok()).flatten();
            let (status, body) = match file {
                Some(b) => (200, b),
                None => (404, Vec::new()),
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    base
}

#[test]
fn trust_material_refreshed_from_a_tuf_repository() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    make_model(cwd, Shape::Nested);
    let token =
        modelsig_common::crypto::keyless::fake_sigstore::token("dev@example.com", "https://issuer.example");
    let svc = SigstoreServices::start_with_tsa(cwd, 0);
    let tc = svc.trust_config.display().to_string();
    // A TUF repository (python-tuf) publishing the local services' root and signing config.
    let mut repos = Vec::new();
    for (name, flag) in [("repo", None), ("expired", Some("--expired"))] {
        let out = cwd.join(name);
        let mut cmd = std::process::Command::new(modelsig_e2e::python());
        cmd.arg(modelsig_e2e::workspace().join("tests/tuf_repo.py")).arg(&tc).arg(&out).args(flag);
        modelsig_e2e::run(&mut cmd).ok("python-tuf writes the repository");
        repos.push((serve_dir(out.clone()), out.join("root.json").display().to_string()));
    }
    let cache = cwd.join("cache");
    let cache_s = cache.display().to_string();
    let with_cache = |args: &[&str]| {
        modelsig_e2e::run(
            std::process::Command::new(modelsig_e2e::bin("modelsig-translate"))
                .current_dir(cwd)
                .env("XDG_CACHE_HOME", &cache_s)
                .env_remove("SIGSTORE_ID_TOKEN")
                .args(args),
        )
    };
    let (url, root) = &repos[0];
    // Signing takes Fulcio/Rekor/TSA from the TUF signing config, and the bundle is checked
    // against the TUF trusted root.
    with_cache(&[
        "sign",
        "sigstore",
        "model",
        "--identity_token",
        &token,
        "--tuf_url",
        url,
        "--tuf_root",
        root,
        "--signature",
        "m.sig",
    ])
    .ok("sign with trust material from TUF");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "sigstore",
            "model",
            "--signature",
            "m.sig",
            "--identity",
            "dev@example.com",
            "--identity_provider",
            "https://issuer.example",
        ];
        args.extend(extra);
        with_cache(&args)
    };
    verify(&["--tuf_url", url, "--tuf_root", root]).ok("verify with the TUF trusted root");
    assert!(cache.join("modelsig-oci/tuf").exists(), "the TUF metadata is cached");
    // Offline by default: the built-in public-good root does not trust the local services.
    assert_ne!(verify(&[]).code, 0, "the embedded public-good root must not accept a local-services bundle");
    // Expired TUF metadata is refused (and nothing is trusted from it).
    let (url, root) = &repos[1];
    let r = verify(&["--tuf_url", url, "--tuf_root", root]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("TUF"), "{}", r.stderr);
    // model_signing verifies the bundle with the same trust material given as a file.
    model_signing(
        cwd,
        &[
            "verify",
            "sigstore",
            "model",
            "--signature",
            "m.sig",
            "--identity",
            "dev@example.com",
            "--identity_provider",
            "https://issuer.example",
            "--trust_config",
            &tc,
        ],
    )
    .ok("model_signing verifies");
}
