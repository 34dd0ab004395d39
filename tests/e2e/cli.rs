//! Command-line contract of `modelsig-translate`: exit codes, JSON output, atomic writes,
//! serialization options, encrypted keys, help texts.

use modelsig_e2e::{Pki, Shape, make_model, openssl, translate};

fn setup() -> (tempfile::TempDir, Pki) {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pki = Pki::generate(&t.path().join("pki"), "P-256");
    make_model(t.path(), Shape::Nested);
    (t, pki)
}

#[test]
fn json_output_lists_every_file_and_exit_codes_follow_the_contract() {
    let (t, pki) = setup();
    let cwd = t.path();
    translate(
        cwd,
        &[
            "sign",
            "key",
            "model",
            "--private_key",
            &pki.path("key.pem"),
            "--signature",
            "m.sig",
        ],
    )
    .ok("sign");
    let pubkey = pki.path("key.pub");
    let verify = |extra: &[&str]| {
        let mut a = vec![
            "verify",
            "key",
            "model",
            "--public_key",
            &pubkey,
            "--signature",
            "m.sig",
            "--output",
            "json",
        ];
        a.extend_from_slice(extra);
        translate(cwd, &a)
    };
    let r = verify(&[]);
    r.ok("verify json");
    let j: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    assert_eq!(j["verified"], true);
    assert_eq!(j["summary"]["ok"], 6);
    assert_eq!(j["signer"]["method"], "key");
    assert!(
        j["files"]
            .as_array()
            .is_some_and(|f| f.iter().all(|x| x["status"] == "ok"))
    );

    std::fs::write(cwd.join("model/a/b"), b"changed").unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(cwd.join("model/empty")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(cwd.join("model/new"), b"new").unwrap_or_else(|e| panic!("{e}"));
    let r = verify(&[]);
    r.expect_code(1, "tampered json");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(j["verified"], false);
    assert_eq!(
        (
            j["summary"]["mismatch"].as_u64(),
            j["summary"]["missing"].as_u64(),
            j["summary"]["extra"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let status = |name: &str| {
        j["files"]
            .as_array()
            .and_then(|f| f.iter().find(|x| x["name"] == name))
            .map(|x| x["status"].clone())
    };
    assert_eq!(status("a/b"), Some("mismatch".into()));
    assert_eq!(status("empty"), Some("missing".into()));
    assert_eq!(status("new"), Some("extra".into()));

    // Unreadable input and bad usage exit 2; nothing is printed as verified.
    let r = translate(
        cwd,
        &[
            "verify",
            "key",
            "model",
            "--public_key",
            &pki.path("key.pub"),
            "--signature",
            "nope.sig",
        ],
    );
    r.expect_code(2, "missing signature");
    assert!(r.stderr.contains("nope.sig") && !r.stdout.contains("succeeded"));
    translate(cwd, &["verify", "key", "model", "--signature", "m.sig"])
        .expect_code(2, "missing --public_key");
    translate(
        cwd,
        &[
            "verify",
            "key",
            "model",
            "--public_key",
            "missing.pub",
            "--signature",
            "m.sig",
        ],
    )
    .expect_code(2, "missing key");
    std::fs::write(cwd.join("garbage.sig"), b"{not json").unwrap_or_else(|e| panic!("{e}"));
    let r = translate(
        cwd,
        &[
            "verify",
            "key",
            "model",
            "--public_key",
            &pki.path("key.pub"),
            "--signature",
            "garbage.sig",
        ],
    );
    r.expect_code(1, "garbage signature");
    assert!(r.stderr.contains("garbage.sig"), "{}", r.stderr);
}

#[test]
fn failed_sign_leaves_no_signature_and_success_leaves_no_temp_files() {
    let (t, pki) = setup();
    let cwd = t.path();
    std::os::unix::fs::symlink(cwd.join("model/a/b"), cwd.join("model/link"))
        .unwrap_or_else(|e| panic!("{e}"));
    let r = translate(
        cwd,
        &[
            "sign",
            "key",
            "model",
            "--private_key",
            &pki.path("key.pem"),
            "--signature",
            "out.sig",
        ],
    );
    r.expect_code(2, "symlink without --allow_symlinks");
    assert!(
        r.stderr.contains("link") && r.stderr.contains("--allow_symlinks"),
        "{}",
        r.stderr
    );
    assert!(!cwd.join("out.sig").exists());
    translate(
        cwd,
        &[
            "sign",
            "key",
            "model",
            "--allow_symlinks",
            "--private_key",
            &pki.path("key.pem"),
            "--signature",
            "out.sig",
        ],
    )
    .ok("sign with symlinks");
    let leftovers: Vec<_> = std::fs::read_dir(cwd)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".modelsig-"))
        .collect();
    assert!(leftovers.is_empty());
    // Verification takes allow_symlinks from the signed predicate: no flag needed.
    translate(
        cwd,
        &[
            "verify",
            "key",
            "model",
            "--public_key",
            &pki.path("key.pub"),
            "--signature",
            "out.sig",
        ],
    )
    .ok("verify follows the signed allow_symlinks");
}

#[test]
fn shards_and_other_hashes_round_trip_without_verify_flags() {
    let (t, pki) = setup();
    let cwd = t.path();
    let key = pki.path("key.pem");
    for (ser, extra) in [
        ("shards", vec!["--shard_size", "4096"]),
        ("files", vec!["--hash_type", "blake3"]),
        (
            "shards",
            vec!["--hash_type", "blake2b", "--shard_size", "100000"],
        ),
    ] {
        let mut a = vec![
            "sign",
            "key",
            "model",
            "--private_key",
            &key,
            "--signature",
            "s.sig",
            "--serialization",
            ser,
        ];
        a.extend(extra.iter().copied());
        translate(cwd, &a).ok(&format!("sign {ser} {extra:?}"));
        let r = translate(
            cwd,
            &[
                "verify",
                "key",
                "model",
                "--public_key",
                &pki.path("key.pub"),
                "--signature",
                "s.sig",
                "--output",
                "json",
            ],
        );
        r.ok(&format!("verify {ser} {extra:?}"));
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        assert_eq!(j["serialization"]["method"], ser);
        if ser == "shards" {
            assert!(j["files"].as_array().is_some_and(|f| {
                f.iter()
                    .any(|x| x["name"].as_str().is_some_and(|n| n.contains(':')))
            }));
        }
        modelsig_e2e::flip_byte(&cwd.join("model/a/c/d/weights.bin"), 5000);
        translate(
            cwd,
            &[
                "verify",
                "key",
                "model",
                "--public_key",
                &pki.path("key.pub"),
                "--signature",
                "s.sig",
            ],
        )
        .expect_code(1, "tampered shard");
        modelsig_e2e::flip_byte(&cwd.join("model/a/c/d/weights.bin"), 5000);
    }
}

#[test]
fn encrypted_keys_need_the_right_password() {
    let (t, pki) = setup();
    let cwd = t.path();
    openssl(
        cwd,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            &pki.path("key.pem"),
            "-out",
            "enc.pem",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:s3cret",
        ],
    );
    translate(
        cwd,
        &[
            "sign",
            "key",
            "model",
            "--private_key",
            "enc.pem",
            "--signature",
            "e.sig",
        ],
    )
    .expect_code(2, "no password");
    translate(
        cwd,
        &[
            "sign",
            "key",
            "model",
            "--private_key",
            "enc.pem",
            "--password",
            "wrong",
            "--signature",
            "e.sig",
        ],
    )
    .expect_code(2, "wrong password");
    translate(
        cwd,
        &[
            "sign",
            "key",
            "model",
            "--private_key",
            "enc.pem",
            "--password",
            "s3cret",
            "--signature",
            "e.sig",
        ],
    )
    .ok("right password");
    translate(
        cwd,
        &[
            "verify",
            "key",
            "model",
            "--public_key",
            &pki.path("key.pub"),
            "--signature",
            "e.sig",
        ],
    )
    .ok("verify");
    // SEC1 ("EC PRIVATE KEY") keys work too.
    openssl(
        cwd,
        &["ec", "-in", &pki.path("key.pem"), "-out", "sec1.pem"],
    );
    translate(
        cwd,
        &[
            "sign",
            "key",
            "model",
            "--private_key",
            "sec1.pem",
            "--signature",
            "s1.sig",
        ],
    )
    .ok("sec1 key");
}

#[test]
fn manifest_help_version_and_completions() {
    let (t, _pki) = setup();
    let cwd = t.path();
    let r = translate(cwd, &["manifest", "model"]);
    r.ok("manifest");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
    let names: Vec<&str> = j["resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [
            "a/b",
            "a/c/d/weights.bin",
            "a-b",
            "config.json",
            "empty",
            "z/empty2"
        ]
    );
    assert_eq!(j["root_digest"]["sha256"].as_str().map(str::len), Some(64));
    for sub in [
        vec!["--help"],
        vec!["sign", "key", "--help"],
        vec!["verify", "sigstore", "--help"],
        vec!["manifest", "--help"],
    ] {
        let r = translate(cwd, &sub);
        r.ok("help");
        assert!(
            r.stdout.contains("Example"),
            "{sub:?} help has no example:\n{}",
            r.stdout
        );
    }
    assert!(
        translate(cwd, &["--version"])
            .stdout
            .starts_with("modelsig-translate ")
    );
    assert!(
        translate(cwd, &["completions", "bash"])
            .stdout
            .contains("modelsig-translate")
    );
}

#[test]
fn keyless_signing_needs_a_token_and_reports_unreachable_services() {
    let (t, _pki) = setup();
    let cwd = t.path();
    let r = translate(cwd, &["sign", "sigstore", "model", "--signature", "k.sig"]);
    r.expect_code(2, "no token");
    assert!(r.stderr.contains("--identity_token"), "{}", r.stderr);
    // A trust config whose services are a closed loopback port: nothing leaves the machine.
    let mut cfg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(modelsig_e2e::vectors().join("trust_config.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    cfg["signingConfig"]["caUrls"][0]["url"] = "http://127.0.0.1:9".into();
    cfg["signingConfig"]["rekorTlogUrls"][0]["url"] = "http://127.0.0.1:9".into();
    std::fs::write(cwd.join("local.json"), cfg.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let token = "e30.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiZW1haWwiOiJhQGIuYyJ9.c2ln";
    let r = translate(
        cwd,
        &[
            "sign",
            "sigstore",
            "model",
            "--identity_token",
            token,
            "--trust_config",
            "local.json",
            "--signature",
            "k.sig",
        ],
    );
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("Fulcio http://127.0.0.1:9/api/v2/signingCert"),
        "{}",
        r.stderr
    );
    assert!(!cwd.join("k.sig").exists());
}
