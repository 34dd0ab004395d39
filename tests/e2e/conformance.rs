//! sigstore-conformance's offline verification cases (`tests/vectors/sigstore-conformance`,
//! 70 cases: keyless and managed-key bundles, DSSE, Rekor v1 and v2, checkpoints with
//! cosignatures, TSA timestamps, inclusion proofs, wrong materials) run through the
//! workspace's `sigstore-conformance-client` by the rules of the suite's README and
//! `test_bundle.py::test_verify`: a case whose name ends in `_fail` must fail; optional
//! `artifact` (else `a.txt`), `identity`, `issuer`, `key.pub` (verify with the key instead
//! of an identity) and `trusted_root.json` (else the public-good root); each case once with
//! the artifact's path and once with its `sha256:` digest.

use modelsig_e2e::{bin, run, workspace};
use std::path::Path;
use std::process::Command;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

#[test]
fn every_bundle_verify_case_of_sigstore_conformance() {
    let base = workspace().join("tests/vectors/sigstore-conformance/bundle-verify");
    let mut cases: Vec<_> = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("{}: {e}", base.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 70, "the vendored suite has 70 cases");
    let cwd = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut wrong = Vec::new();
    let mut passed = 0;
    for case in &cases {
        let name = case.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let must_fail = name.ends_with("_fail");
        let artifact =
            if case.join("artifact").exists() { case.join("artifact") } else { base.join("a.txt") };
        let bytes = std::fs::read(&artifact).unwrap_or_else(|e| panic!("{}: {e}", artifact.display()));
        let digest = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
        for input in [artifact.display().to_string(), digest] {
            let mut cmd = Command::new(bin("sigstore-conformance-client"));
            cmd.current_dir(cwd.path())
                .arg("verify-bundle")
                .arg("--bundle")
                .arg(case.join("bundle.sigstore.json"));
            if case.join("key.pub").exists() {
                cmd.arg("--key").arg(case.join("key.pub"));
            } else {
                let identity =
                    read_trimmed(&case.join("identity")).unwrap_or_else(|| DEFAULT_IDENTITY.into());
                let issuer = read_trimmed(&case.join("issuer")).unwrap_or_else(|| DEFAULT_ISSUER.into());
                cmd.args(["--certificate-identity", &identity, "--certificate-oidc-issuer", &issuer]);
            }
            if case.join("trusted_root.json").exists() {
                cmd.arg("--trusted-root").arg(case.join("trusted_root.json"));
            }
            cmd.arg(&input);
            let r = run(&mut cmd);
            // Failures must be verification failures (1), not usage errors (2).
            let ok = if must_fail { r.code == 1 } else { r.code == 0 };
            if ok {
                passed += 1;
            } else {
                wrong.push(format!("{name} ({input}): exit {}: {}{}", r.code, r.stdout, r.stderr));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} runs wrong:\n{}", wrong.len(), cases.len() * 2, wrong.join("\n"));
    assert_eq!(passed, 140);
}

#[test]
fn conformance_client_reads_digests_only_when_they_are_not_paths() {
    let base = workspace().join("tests/vectors/sigstore-conformance/bundle-verify");
    let case = base.join("happy-path-v0.3");
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(base.join("a.txt")).unwrap_or_default();
    let digest = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
    // A file named like the digest, holding other bytes: the path wins, and fails.
    std::fs::write(t.path().join(&digest), b"not a.txt").unwrap_or_else(|e| panic!("{e}"));
    let verify = |input: &str| {
        run(Command::new(bin("sigstore-conformance-client")).current_dir(t.path()).args([
            "verify-bundle",
            "--bundle",
            &case.join("bundle.sigstore.json").display().to_string(),
            "--certificate-identity",
            DEFAULT_IDENTITY,
            "--certificate-oidc-issuer",
            DEFAULT_ISSUER,
            input,
        ]))
    };
    let r = verify(&digest);
    assert_eq!(r.code, 1, "the file named like the digest is read: {}", r.stderr);
    // Wrong length: a path (that does not exist), not a digest.
    let r = verify(&digest[..digest.len() - 1]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("artifact"), "{}", r.stderr);
    // Wrong identity: refused, naming the mismatch.
    let r = run(Command::new(bin("sigstore-conformance-client")).args([
        "verify-bundle",
        "--bundle",
        &case.join("bundle.sigstore.json").display().to_string(),
        "--certificate-identity",
        "https://example.com/other",
        "--certificate-oidc-issuer",
        DEFAULT_ISSUER,
        &base.join("a.txt").display().to_string(),
    ]));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("identity mismatch"), "{}", r.stderr);
    // Neither an identity nor a key: a usage error.
    let r = run(Command::new(bin("sigstore-conformance-client")).args([
        "verify-bundle",
        "--bundle",
        &case.join("bundle.sigstore.json").display().to_string(),
        &base.join("a.txt").display().to_string(),
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn conformance_client_signs_message_and_in_toto_bundles_through_local_services() {
    use crate::sigstore_services::SigstoreServices;
    let token =
        modelsig_common::crypto::keyless::fake_sigstore::token("dev@example.com", "https://issuer.example");
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    std::fs::write(cwd.join("a.txt"), b"hello, conformance\n").unwrap_or_else(|e| panic!("{e}"));
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"hello, conformance\n"));
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": "a.txt", "digest": { "sha256": digest } }],
        "predicateType": "https://example.com/test/v1",
        "predicate": {},
    });
    std::fs::write(cwd.join("statement.json"), statement.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let client =
        |args: &[&str]| run(Command::new(bin("sigstore-conformance-client")).current_dir(cwd).args(args));
    for (name, v2) in [("v1", false), ("v2", true)] {
        let dir = cwd.join(name);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let svc = if v2 {
            SigstoreServices::start_with_rekor_v2(&dir)
        } else {
            SigstoreServices::start_with_tsa(&dir, 0)
        };
        let tc = svc.trust_config.display().to_string();
        for (in_toto, out) in [(false, format!("{name}-message.json")), (true, format!("{name}-intoto.json"))]
        {
            let input = if in_toto { "statement.json" } else { "a.txt" };
            let mut args = vec!["sign-bundle"];
            if in_toto {
                args.push("--in-toto");
            }
            args.extend([
                "--identity-token",
                &token,
                "--bundle",
                &out,
                "--trusted-root",
                &tc,
                "--signing-config",
                &tc,
                input,
            ]);
            client(&args).ok(&format!("sign-bundle {name} in_toto={in_toto}"));
            let bundle: serde_json::Value =
                serde_json::from_slice(&std::fs::read(cwd.join(&out)).unwrap_or_default())
                    .unwrap_or_default();
            let kind = &bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"];
            let expected = match (v2, in_toto) {
                (true, _) => ("hashedrekord", "0.0.2"),
                (false, true) => ("dsse", "0.0.1"),
                (false, false) => ("hashedrekord", "0.0.1"),
            };
            assert_eq!(
                (kind["kind"].as_str(), kind["version"].as_str()),
                (Some(expected.0), Some(expected.1)),
                "{bundle}"
            );
            assert_eq!(bundle["messageSignature"].is_object(), !in_toto, "{bundle}");
            let verify = |identity: &str| {
                client(&[
                    "verify-bundle",
                    "--bundle",
                    &out,
                    "--certificate-identity",
                    identity,
                    "--certificate-oidc-issuer",
                    "https://issuer.example",
                    "--trusted-root",
                    &tc,
                    "a.txt",
                ])
            };
            verify("dev@example.com").ok(&format!("verify-bundle {out}"));
            assert_eq!(verify("eve@example.com").code, 1, "wrong identity accepted for {out}");
        }
    }
}
