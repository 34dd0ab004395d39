//! Tampering with a model or its signature makes verification fail.

use super::vectors::{cases, verify_args};
use modelsig_common::ModelRef;
use modelsig_common::{HashOptions, verify_model};
use modelsig_e2e::{copy_tree, flip_byte, translate, vectors};
use std::path::{Path, PathBuf};

fn fresh_copy() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = t.path().join("v");
    copy_tree(&vectors(), &root);
    (t, root)
}

fn verify(root: &Path, dir: &str, model: &str, flags: &[String]) -> modelsig_e2e::Run {
    let args = verify_args(dir, model, flags);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    translate(root, &args)
}

fn model_files(root: &Path, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("signme"))
        .collect();
    v.sort();
    v
}

#[test]
fn changing_renaming_adding_or_deleting_model_files_fails() {
    let mut cases_run = 0;
    for (dir, model, flags) in cases() {
        for file in model_files(&vectors(), dir) {
            let single = model.ends_with("signme-1");
            if single && file != "signme-1" {
                continue;
            }
            // Flip a byte at the start and at the end.
            for offset in [0usize, usize::MAX] {
                let (_t, root) = fresh_copy();
                let p = root.join(dir).join(&file);
                let len = std::fs::metadata(&p).map(|m| m.len() as usize).unwrap_or(1);
                flip_byte(&p, if offset == 0 { 0 } else { len - 1 });
                let r = verify(&root, dir, &model, &flags);
                r.expect_code(1, &format!("{dir}: flipped byte of {file}"));
                assert!(r.stderr.contains("mismatch"), "{dir}/{file}: {}", r.stderr);
                cases_run += 1;
            }
            if single {
                continue;
            }
            let (_t, root) = fresh_copy();
            std::fs::rename(root.join(dir).join(&file), root.join(dir).join(format!("{file}.renamed")))
                .unwrap_or_else(|e| panic!("{e}"));
            let r = verify(&root, dir, &model, &flags);
            r.expect_code(1, &format!("{dir}: renamed {file}"));
            assert!(r.stderr.contains("missing") && r.stderr.contains("extra"), "{}", r.stderr);
            let (_t, root) = fresh_copy();
            std::fs::remove_file(root.join(dir).join(&file)).unwrap_or_else(|e| panic!("{e}"));
            verify(&root, dir, &model, &flags).expect_code(1, &format!("{dir}: deleted {file}"));
            cases_run += 2;
        }
        if !model.ends_with("signme-1") {
            let (_t, root) = fresh_copy();
            std::fs::write(root.join(dir).join("added.bin"), b"x").unwrap_or_else(|e| panic!("{e}"));
            let r = verify(&root, dir, &model, &flags);
            r.expect_code(1, &format!("{dir}: added file"));
            assert!(r.stderr.contains("extra     added.bin"), "{}", r.stderr);
            // With --ignore_unsigned_files the unsigned file is tolerated, as upstream.
            let mut f = flags.clone();
            f.push("--ignore_unsigned_files".into());
            verify(&root, dir, &model, &f).ok(&format!("{dir}: added file with --ignore_unsigned_files"));
            cases_run += 2;
        }
    }
    println!("model tamper cases: {cases_run}");
    assert!(cases_run >= 30);
}

/// Flips every byte of every vector's model.sig, one at a time, and checks that none of the
/// variants verifies (in-process through the library, in parallel).
#[test]
fn every_byte_of_every_model_sig_matters() {
    let (_t, root) = fresh_copy();
    let mut total = 0usize;
    for (dir, model, flags) in cases() {
        let sig_path = root.join(dir).join("model.sig");
        let original = std::fs::read(&sig_path).unwrap_or_else(|e| panic!("{e}"));
        let policy = policy_for(&root, &flags);
        let mut ignore: Vec<PathBuf> = flags
            .windows(2)
            .filter(|w| w[0] == "--ignore-paths")
            .map(|w| root.join(w[1].trim_start_matches("./")))
            .collect();
        // The tampered copies live outside the model; leave the original out like the CLI does.
        ignore.push(sig_path.clone());
        let model_path = root.join(model.trim_start_matches("./"));
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let accepted: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|w| {
                    let (original, policy, ignore, model_path, work) =
                        (&original, &policy, &ignore, &model_path, work.path());
                    s.spawn(move || {
                        let sig = work.join(format!("sig-{w}"));
                        let opts = HashOptions {
                            ignore_paths: ignore.clone(),
                            threads: 1,
                            quiet: true,
                            ..HashOptions::default()
                        };
                        // Sanity: the untouched bytes at this path verify with these options.
                        std::fs::write(&sig, original).unwrap_or_else(|e| panic!("{e}"));
                        let r = verify_model(
                            &ModelRef::Dir(model_path.clone()),
                            Some(&sig),
                            policy,
                            &opts,
                            false,
                        );
                        assert!(matches!(r, Ok(ref rep) if rep.verified), "original does not verify: {r:?}");
                        let mut bad = Vec::new();
                        for i in (w..original.len()).step_by(threads) {
                            let mut b = original.clone();
                            b[i] ^= 1;
                            std::fs::write(&sig, &b).unwrap_or_else(|e| panic!("{e}"));
                            let r = verify_model(
                                &ModelRef::Dir(model_path.clone()),
                                Some(&sig),
                                policy,
                                &opts,
                                false,
                            );
                            if matches!(r, Ok(ref rep) if rep.verified) {
                                bad.push(i);
                            }
                        }
                        bad
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        assert!(accepted.is_empty(), "{dir}: flipping bytes at {accepted:?} of model.sig still verifies");
        // The untouched signature still verifies with the same policy.
        let opts = HashOptions { ignore_paths: ignore, quiet: true, ..HashOptions::default() };
        let r = verify_model(&ModelRef::Dir(model_path), Some(&sig_path), &policy, &opts, false);
        assert!(matches!(r, Ok(ref rep) if rep.verified), "{dir}: original does not verify: {r:?}");
        total += original.len();
    }
    println!("model.sig byte flips rejected: {total}");
}

fn policy_for(root: &Path, flags: &[String]) -> modelsig_common::crypto::signature::TrustPolicy {
    use modelsig_common::crypto::keyless::{IdentityPolicy, trust_root::TrustedRoot};
    use modelsig_common::crypto::signature::TrustPolicy;
    let get = |name: &str| {
        flags.windows(2).find(|w| w[0] == name).map(|w| root.join(w[1].trim_start_matches("./")))
    };
    match flags[0].as_str() {
        "key" => TrustPolicy::Key(
            modelsig_common::crypto::keys::PublicKey::from_pem_file(&get("--public_key").unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}")),
        ),
        "certificate" => {
            let text = std::fs::read(get("--certificate_chain").unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
            TrustPolicy::Certificate {
                anchors: modelsig_common::crypto::x509::Cert::from_pem_chain(&text)
                    .unwrap_or_else(|e| panic!("{e}")),
            }
        }
        _ => {
            let text =
                std::fs::read(get("--trust_config").unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
            let arg =
                |n: &str| flags.windows(2).find(|w| w[0] == n).map(|w| w[1].clone()).unwrap_or_default();
            TrustPolicy::Sigstore {
                root: Box::new(
                    TrustedRoot::from_json(&text, "trust config").unwrap_or_else(|e| panic!("{e}")),
                ),
                identity: IdentityPolicy { identity: arg("--identity"), issuer: arg("--identity_provider") },
            }
        }
    }
}
