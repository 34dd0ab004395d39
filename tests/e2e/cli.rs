//! Command-line contract of `modelsig-translate`: exit codes, JSON output, atomic writes,
//! serialization options, encrypted keys, keyless signing errors, help texts.

use modelsig_e2e::{Pki, Run, Shape, flip_byte, make_model, openssl, translate};
use std::path::Path;

fn setup() -> (tempfile::TempDir, Pki) {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pki = Pki::generate(&t.path().join("pki"), "P-256");
    make_model(t.path(), Shape::Nested);
    (t, pki)
}

/// `sign key model --private_key KEY --signature SIG EXTRA…`
fn sign_key(cwd: &Path, key: &str, sig: &str, extra: &[&str]) -> Run {
    let mut a = vec!["sign", "key", "model", "--private_key", key, "--signature", sig];
    a.extend_from_slice(extra);
    translate(cwd, &a)
}

/// `verify key model --public_key PUB --signature SIG EXTRA…`
fn verify_key(cwd: &Path, public_key: &str, sig: &str, extra: &[&str]) -> Run {
    let mut a = vec!["verify", "key", "model", "--public_key", public_key, "--signature", sig];
    a.extend_from_slice(extra);
    translate(cwd, &a)
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn json_output_lists_every_file_and_exit_codes_follow_the_contract() {
    let (t, pki) = setup();
    let (cwd, key, public) = (t.path(), pki.path("key.pem"), pki.path("key.pub"));
    sign_key(cwd, &key, "m.sig", &[]).ok("sign");
    let r = verify_key(cwd, &public, "m.sig", &["--output", "json"]);
    r.ok("verify json");
    let j = json(&r);
    assert_eq!(j["verified"], true);
    assert_eq!(j["summary"]["ok"], 6);
    assert_eq!(j["signer"]["method"], "key");
    assert!(j["files"].as_array().is_some_and(|f| f.iter().all(|x| x["status"] == "ok")));

    std::fs::write(cwd.join("model/a/b"), b"changed").unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(cwd.join("model/empty")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(cwd.join("model/new"), b"new").unwrap_or_else(|e| panic!("{e}"));
    let r = verify_key(cwd, &public, "m.sig", &["--output", "json"]);
    r.expect_code(1, "tampered json");
    let j = json(&r);
    assert_eq!(j["verified"], false);
    let counts = ["mismatch", "missing", "extra"].map(|k| j["summary"][k].as_u64());
    assert_eq!(counts, [Some(1), Some(1), Some(1)]);
    let status = |name: &str| {
        j["files"].as_array().and_then(|f| f.iter().find(|x| x["name"] == name)).map(|x| x["status"].clone())
    };
    assert_eq!(status("a/b"), Some("mismatch".into()));
    assert_eq!(status("empty"), Some("missing".into()));
    assert_eq!(status("new"), Some("extra".into()));

    // Unreadable input and bad usage exit 2; nothing is printed as verified.
    let r = verify_key(cwd, &public, "nope.sig", &[]);
    r.expect_code(2, "missing signature");
    assert!(r.stderr.contains("nope.sig") && !r.stdout.contains("succeeded"));
    translate(cwd, &["verify", "key", "model", "--signature", "m.sig"])
        .expect_code(2, "missing --public_key");
    verify_key(cwd, "missing.pub", "m.sig", &[]).expect_code(2, "missing key file");
    std::fs::write(cwd.join("garbage.sig"), b"{not json").unwrap_or_else(|e| panic!("{e}"));
    let r = verify_key(cwd, &public, "garbage.sig", &[]);
    r.expect_code(1, "garbage signature");
    assert!(r.stderr.contains("garbage.sig"), "{}", r.stderr);
}

#[test]
fn failed_sign_leaves_no_signature_and_success_leaves_no_temp_files() {
    let (t, pki) = setup();
    let (cwd, key) = (t.path(), pki.path("key.pem"));
    std::os::unix::fs::symlink(cwd.join("model/a/b"), cwd.join("model/link"))
        .unwrap_or_else(|e| panic!("{e}"));
    let r = sign_key(cwd, &key, "out.sig", &[]);
    r.expect_code(2, "symlink without --allow_symlinks");
    assert!(r.stderr.contains("link") && r.stderr.contains("--allow_symlinks"), "{}", r.stderr);
    assert!(!cwd.join("out.sig").exists());
    sign_key(cwd, &key, "out.sig", &["--allow_symlinks"]).ok("sign with symlinks");
    let leftovers = std::fs::read_dir(cwd)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".modelsig-"))
        .count();
    assert_eq!(leftovers, 0);
    // Verification takes allow_symlinks from the signed predicate: no flag needed.
    verify_key(cwd, &pki.path("key.pub"), "out.sig", &[]).ok("verify follows the signed allow_symlinks");
}

#[test]
fn shards_and_other_hashes_round_trip_without_verify_flags() {
    let (t, pki) = setup();
    let (cwd, key, public) = (t.path(), pki.path("key.pem"), pki.path("key.pub"));
    let weights = cwd.join("model/a/c/d/weights.bin");
    for (ser, extra) in [
        ("shards", vec!["--shard_size", "4096"]),
        ("files", vec!["--hash_type", "blake3"]),
        ("shards", vec!["--hash_type", "blake2b", "--shard_size", "100000"]),
    ] {
        let mut a = vec!["--serialization", ser];
        a.extend(extra.iter().copied());
        sign_key(cwd, &key, "s.sig", &a).ok(&format!("sign {ser} {extra:?}"));
        let r = verify_key(cwd, &public, "s.sig", &["--output", "json"]);
        r.ok(&format!("verify {ser} {extra:?}"));
        let j = json(&r);
        assert_eq!(j["serialization"]["method"], ser);
        if ser == "shards" {
            let names = j["files"].as_array().map(|f| f.iter().filter_map(|x| x["name"].as_str()).collect());
            assert!(names.is_some_and(|n: Vec<&str>| n.iter().any(|n| n.contains(':'))));
        }
        flip_byte(&weights, 5000);
        verify_key(cwd, &public, "s.sig", &[]).expect_code(1, "tampered shard");
        flip_byte(&weights, 5000);
    }
}

#[test]
fn encrypted_keys_need_the_right_password() {
    let (t, pki) = setup();
    let (cwd, key) = (t.path(), pki.path("key.pem"));
    let pkcs8 =
        ["pkcs8", "-topk8", "-in", &key, "-out", "enc.pem", "-v2", "aes-256-cbc", "-passout", "pass:s3cret"];
    openssl(cwd, &pkcs8);
    sign_key(cwd, "enc.pem", "e.sig", &[]).expect_code(2, "no password");
    sign_key(cwd, "enc.pem", "e.sig", &["--password", "wrong"]).expect_code(2, "wrong password");
    sign_key(cwd, "enc.pem", "e.sig", &["--password", "s3cret"]).ok("right password");
    verify_key(cwd, &pki.path("key.pub"), "e.sig", &[]).ok("verify");
    // SEC1 ("EC PRIVATE KEY") keys work too.
    openssl(cwd, &["ec", "-in", &key, "-out", "sec1.pem"]);
    sign_key(cwd, "sec1.pem", "s1.sig", &[]).ok("sec1 key");
}

#[test]
fn manifest_help_version_and_completions() {
    let (t, _pki) = setup();
    let cwd = t.path();
    let r = translate(cwd, &["manifest", "model"]);
    r.ok("manifest");
    let j = json(&r);
    let names: Vec<&str> = j["resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["a/b", "a/c/d/weights.bin", "a-b", "config.json", "empty", "z/empty2"]);
    assert_eq!(j["root_digest"]["sha256"].as_str().map(str::len), Some(64));
    for sub in [
        vec!["--help"],
        vec!["sign", "key", "--help"],
        vec!["verify", "sigstore", "--help"],
        vec!["manifest", "--help"],
    ] {
        let r = translate(cwd, &sub);
        r.ok("help");
        assert!(r.stdout.contains("Example"), "{sub:?} help has no example:\n{}", r.stdout);
    }
    assert!(translate(cwd, &["--version"]).stdout.starts_with("modelsig-translate "));
    assert!(translate(cwd, &["completions", "bash"]).stdout.contains("modelsig-translate"));
}

#[test]
fn keyless_signing_needs_a_token_and_reports_unreachable_services() {
    let (t, _pki) = setup();
    let cwd = t.path();
    // A trust config whose services are a closed loopback port: nothing leaves the machine.
    let text = std::fs::read(modelsig_e2e::vectors().join("trust_config.json")).unwrap_or_default();
    let mut cfg: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    cfg["signingConfig"]["caUrls"][0]["url"] = "http://127.0.0.1:9".into();
    cfg["signingConfig"]["rekorTlogUrls"][0]["url"] = "http://127.0.0.1:9".into();
    cfg["signingConfig"]["oidcUrls"] = serde_json::json!([{ "url": "http://127.0.0.1:9/oauth2",
        "majorApiVersion": 1, "validFor": { "start": "2020-01-01T00:00:00Z" } }]);
    cfg["signingConfig"]["tsaUrls"] = serde_json::json!([]);
    std::fs::write(cwd.join("local.json"), cfg.to_string()).unwrap_or_else(|e| panic!("{e}"));
    // No token: the OAuth flow starts with the config's OIDC provider, which is unreachable.
    let mut cmd = std::process::Command::new(modelsig_e2e::bin("modelsig-translate"));
    cmd.current_dir(cwd)
        .args(["sign", "sigstore", "model", "--trust_config", "local.json", "--signature", "k.sig"])
        .env_remove("SIGSTORE_ID_TOKEN")
        .stdin(std::process::Stdio::null());
    let r = modelsig_e2e::run(&mut cmd);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("http://127.0.0.1:9/oauth2/.well-known/openid-configuration"), "{}", r.stderr);
    assert!(!cwd.join("k.sig").exists());
    let token = "e30.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiZW1haWwiOiJhQGIuYyJ9.c2ln";
    let args = ["sign", "sigstore", "model", "--identity_token", token, "--trust_config", "local.json"];
    let r = translate(cwd, &[&args[..], &["--signature", "k.sig"]].concat());
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("Fulcio http://127.0.0.1:9/api/v2/signingCert"), "{}", r.stderr);
    assert!(!cwd.join("k.sig").exists());
}
