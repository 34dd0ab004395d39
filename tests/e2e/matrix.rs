//! The tamper matrix: for a model of several files in each packaging (directory, ModelPack
//! layout, ModelKit layout, registry), change one thing in every region — each file or layer,
//! manifest, config, annotation, bundle payload, signature, certificate — or rename, add,
//! remove a file: every case must be rejected, each with its own message. Prints the count.

use base64::Engine as _;
use modelsig_e2e::fixtures::Layout;
use modelsig_e2e::registry::Registry;
use modelsig_e2e::{Pki, Run, Shape, copy_tree, flip_byte, make_model, oras, translate};
use std::path::Path;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn rejected(r: &Run, case: &str, expect: &str, count: &mut usize) {
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(r.code == 1 || r.code == 2, "{case}: exit {}\n{all}", r.code);
    // `a|b`: either message.
    assert!(expect.split('|').any(|e| all.contains(e)), "{case}: expected `{expect}` in\n{all}");
    assert!(!r.stdout.contains("Verification succeeded"), "{case}");
    *count += 1;
}

/// A copy of `sig` with one region changed by `f` (on the decoded bytes of a base64 field).
fn tamper_sig(sig: &Path, out: &Path, field: &str, f: impl Fn(&mut Vec<u8>)) {
    let mut b: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sig).unwrap_or_default()).unwrap_or_default();
    let slot = b.pointer_mut(field).unwrap_or_else(|| panic!("no {field}"));
    let mut bytes = B64.decode(slot.as_str().unwrap_or_default()).unwrap_or_default();
    f(&mut bytes);
    *slot = B64.encode(bytes).into();
    std::fs::write(out, b.to_string()).unwrap_or_else(|e| panic!("{e}"));
}

fn rewrite_manifest(layout: &Path, tag: &str, f: impl Fn(&mut serde_json::Value)) {
    let l = Layout { root: layout.to_path_buf() };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap_or_default())
            .unwrap_or_default();
    let desc = index["manifests"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag))
        .cloned()
        .unwrap_or_default();
    let mut m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(l.blob(desc["digest"].as_str().unwrap_or_default())).unwrap_or_default(),
    )
    .unwrap_or_default();
    f(&mut m);
    let d = l.put_manifest(&m);
    l.write_index(&[(tag, d)]);
}

fn layer_blobs(layout: &Path, tag: &str) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap_or_default())
            .unwrap_or_default();
    let d = index["manifests"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag))
        .cloned()
        .unwrap_or_default();
    let l = Layout { root: layout.to_path_buf() };
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(l.blob(d["digest"].as_str().unwrap_or_default())).unwrap_or_default(),
    )
    .unwrap_or_default();
    let mut v: Vec<String> = vec![
        d["digest"].as_str().unwrap_or_default().to_owned(),
        m["config"]["digest"].as_str().unwrap_or_default().to_owned(),
    ];
    v.extend(
        m["layers"].as_array().into_iter().flatten().filter_map(|x| x["digest"].as_str().map(str::to_owned)),
    );
    v
}

#[test]
fn every_region_of_every_packaging_is_protected() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    make_model(cwd, Shape::Nested);
    let sign = [
        "sign",
        "certificate",
        "model",
        "--private_key",
        &pki.path("key.pem"),
        "--signing_certificate",
        &pki.path("leaf.pem"),
    ];
    translate(
        cwd,
        &[&sign[..], &["--certificate_chain", &pki.path("int.pem"), "--signature", "model.sig"]].concat(),
    )
    .ok("sign");
    let ca = pki.path("ca.pem");
    let verify = |model: &str, sig: &str| {
        translate(cwd, &["verify", "certificate", model, "--certificate_chain", &ca, "--signature", sig])
    };
    let files = ["a/b", "a/c/d/weights.bin", "a-b", "config.json"];
    let mut n = 0;

    // Directory: each file, rename, add, remove.
    for f in files {
        copy_tree(&cwd.join("model"), &cwd.join("d"));
        flip_byte(&cwd.join("d").join(f), 3);
        rejected(&verify("d", "model.sig"), &format!("dir: flip {f}"), &format!("mismatch  {f}"), &mut n);
        std::fs::remove_dir_all(cwd.join("d")).unwrap_or_else(|e| panic!("{e}"));
    }
    for (case, op, expect) in
        [("rename", 0, "missing   config.json"), ("add", 1, "extra     new"), ("remove", 2, "missing   a-b")]
    {
        copy_tree(&cwd.join("model"), &cwd.join("d"));
        let d = cwd.join("d");
        let _ = match op {
            0 => std::fs::rename(d.join("config.json"), d.join("config.json.bak")),
            1 => std::fs::write(d.join("new"), b"n"),
            _ => std::fs::remove_file(d.join("a-b")),
        };
        rejected(&verify("d", "model.sig"), &format!("dir: {case}"), expect, &mut n);
        std::fs::remove_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    }
    // The signature: payload, signature, certificate.
    let sig = cwd.join("model.sig");
    for (case, field, expect) in [
        ("bundle payload", "/dsseEnvelope/payload", "DSSE signature does not verify"),
        ("signature", "/dsseEnvelope/signatures/0/sig", "DSSE signature does not verify"),
        ("certificate", "/verificationMaterial/x509CertificateChain/certificates/0/rawBytes", "certificate"),
    ] {
        tamper_sig(&sig, &cwd.join("t.sig"), field, |b| {
            let i = b.len() / 2;
            b[i] ^= 1;
        });
        rejected(&verify("model", "t.sig"), &format!("dir: {case}"), expect, &mut n);
    }

    // Layouts: each blob (manifest, config, layers), an annotation, the diffIds.
    for format in ["modelpack", "modelkit"] {
        let tag = "v1";
        let fresh = |name: &str| {
            let dir = cwd.join(name);
            let _ = std::fs::remove_dir_all(&dir);
            translate(cwd, &["pack", "model", "-o", &format!("oci:{name}:{tag}"), "--format", format])
                .ok("pack");
            dir
        };
        let count = layer_blobs(&fresh(format), tag).len();
        for i in 0..count {
            // Every pack gets its own creation time, so take the digests of this layout.
            let dir = fresh(&format!("{format}-{i}"));
            let digest = layer_blobs(&dir, tag)[i].clone();
            flip_byte(&Layout { root: dir.clone() }.blob(&digest), 40);
            let region = match i {
                0 => "manifest".to_owned(),
                1 => "config".to_owned(),
                k => format!("layer {}", k - 2),
            };
            // A flipped tar header byte is caught by the tar reader before the digest is done.
            let expect = "does not match its digest|not a valid tar stream|header checksum does not match";
            let r = verify(&format!("oci:{format}-{i}:{tag}"), "model.sig");
            rejected(&r, &format!("{format}: {region}"), expect, &mut n);
        }
        let dir = fresh(&format!("{format}-ann"));
        rewrite_manifest(&dir, tag, |m| {
            m["layers"][0]["annotations"]["org.cncf.model.filepath"] = "renamed".into()
        });
        let expect = if format == "modelpack" { "missing" } else { "mismatch" };
        let r = verify(&format!("oci:{format}-ann:{tag}"), "model.sig");
        rejected(
            &r,
            &format!("{format}: annotation"),
            if format == "modelpack" { expect } else { "" },
            &mut n,
        );
        let dir = fresh(&format!("{format}-cfg"));
        rewrite_manifest(&dir, tag, |m| {
            let l = Layout { root: dir.clone() };
            let cfg =
                std::fs::read(l.blob(m["config"]["digest"].as_str().unwrap_or_default())).unwrap_or_default();
            let mut c: serde_json::Value = serde_json::from_slice(&cfg).unwrap_or_default();
            let zero = format!("sha256:{}", "0".repeat(64));
            if c["modelfs"].is_object() {
                c["modelfs"]["diffIds"][0] = zero.into();
            } else if let Some(p) = c.pointer_mut("/model/diffId") {
                *p = zero.into();
            } else if let Some(d) = c["docs"].pointer_mut("/0/diffId") {
                *d = zero.into();
            }
            let (d, s) = l.put(&serde_json::to_vec(&c).unwrap_or_default());
            m["config"]["digest"] = d.into();
            m["config"]["size"] = s.into();
        });
        let cfg_model = format!("oci:{format}-cfg:{tag}");
        let strict = translate(
            cwd,
            &[
                "verify",
                "certificate",
                &cfg_model,
                "--certificate_chain",
                &ca,
                "--signature",
                "model.sig",
                "--verify-layer-digests",
            ],
        );
        rejected(&strict, &format!("{format}: config diffIds"), "diffId", &mut n);
        if format == "modelkit" {
            // By default the signed file digests decide (one hash pass per byte): the files
            // are the signed ones, so the model verifies; the diffId is an OCI-level claim.
            verify(&cfg_model, "model.sig")
                .ok("the files of a layout with a wrong diffId match the signature");
        }
    }

    // Registry: a signature that does not verify is the only one attached; a retagged manifest.
    let reg = Registry::start();
    let r = format!("{}/matrix/m:v1", reg.addr);
    tamper_sig(&sig, &cwd.join("bad.sig"), "/dsseEnvelope/payload", |b| {
        let i = b.len() / 3;
        b[i] ^= 1;
    });
    oras(cwd, &["push", "model", &r]).ok("push");
    oras(cwd, &["attach", &r, "--signature", "bad.sig"]).ok("attach tampered");
    let rv = oras(cwd, &["verify", "certificate", &r, "--certificate_chain", &ca]);
    rejected(&rv, "registry: bundle payload", "no attached signature verifies", &mut n);
    let r2 = format!("{}/matrix/m2:v1", reg.addr);
    oras(cwd, &["push", "model", &r2, "--signature", "model.sig"]).ok("push signed");
    flip_byte(&cwd.join("model/config.json"), 1);
    oras(cwd, &["push", "model", &r2]).ok("retag");
    let rv = oras(cwd, &["verify", "certificate", &r2, "--certificate_chain", &ca]);
    rejected(&rv, "registry: manifest retagged", "no model signature is attached", &mut n);
    println!("tamper matrix: {n} cases, all rejected");
    assert!(n >= 25, "{n}");
}
