//! Packaged models (ModelPack layouts as `modctl` writes them, ModelKits as `kit pack`
//! writes them) signed and verified without unpacking, interoperating with model_signing on
//! the unpacked directory, and rejecting tampered layers.

use modelsig_e2e::fixtures::{Compression, Layout, kit_pack, kit_storage_tag, kit_tar, modctl_build};
use modelsig_e2e::{Pki, Shape, flip_byte, make_model, model_signing, translate, translate_env};
use std::path::Path;

fn resources(cwd: &Path, model: &str) -> serde_json::Value {
    let r = translate(cwd, &["manifest", model]);
    r.ok(&format!("manifest {model}"));
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
    j["resources"].clone()
}

fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn modelpack_layout_signs_and_verifies_like_the_unpacked_directory() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));
    make_model(cwd, Shape::Nested);
    let layout = Layout::create(&cwd.join("layout"));
    let desc = modctl_build(&layout, &cwd.join("model"));
    layout.write_index(&[("v1", desc)]);

    assert_eq!(resources(cwd, "oci:layout:v1"), resources(cwd, "model"), "same resources as the directory");

    // Ours signs the layout; model_signing verifies the directory.
    translate(cwd, &["sign", "key", "oci:layout:v1", "--private_key", &key, "--signature", "oci.sig"])
        .ok("sign oci");
    let r =
        model_signing(cwd, &["verify", "key", "model", "--public_key", &public, "--signature", "oci.sig"]);
    r.ok("model_signing verify of a layout signature");
    // model_signing signs the directory; ours verifies the layout.
    model_signing(cwd, &["sign", "key", "model", "--private_key", &key, "--signature", "dir.sig"])
        .ok("py sign");
    let r =
        translate(cwd, &["verify", "key", "oci:layout", "--public_key", &public, "--signature", "dir.sig"]);
    r.ok("verify layout against a directory signature");

    // A tampered raw blob is caught while streaming.
    let weights = std::fs::read(cwd.join("model/a/c/d/weights.bin")).unwrap_or_default();
    let blob =
        layout.blob(&format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&weights))));
    flip_byte(&blob, 100);
    let r = translate(
        cwd,
        &["verify", "key", "oci:layout:v1", "--public_key", &public, "--signature", "dir.sig"],
    );
    r.expect_code(1, "tampered raw blob");
    assert!(r.stderr.contains("does not match its digest"), "{}", r.stderr);
}

fn kit_context(cwd: &Path) -> std::path::PathBuf {
    let ctx = cwd.join("project");
    write(&ctx.join("weights/model-00001.safetensors"), &vec![1u8; 200_000]);
    write(&ctx.join("weights/model-00002.safetensors"), &vec![2u8; 150_000]);
    write(&ctx.join("adapter.bin"), &vec![3u8; 50_000]);
    write(&ctx.join("README.md"), b"# fixture kit\n");
    write(&ctx.join("src/serve.py"), b"print('hi')\n");
    write(&ctx.join("src/util/io.py"), b"");
    ctx
}

const KIT_ENTRIES: [(&str, &str, Compression); 4] = [
    ("model", "weights", Compression::Gzip),
    ("modelpart", "adapter.bin", Compression::Zstd),
    ("docs", "README.md", Compression::None),
    ("code", "src", Compression::None),
];

#[test]
fn modelkits_in_kit_storage_sign_and_verify_without_unpacking() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-384");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));
    let ctx = kit_context(cwd);
    let home = cwd.join("kithome");
    let storage = Layout::create(&home.join("storage"));
    let desc = kit_pack(&storage, &ctx, &KIT_ENTRIES, true);
    kit_storage_tag(&storage, "my/model", "1", &desc);
    let env = [("KITOPS_HOME", home.as_path())];

    let r = translate_env(cwd, &env, &["manifest", "kit:my/model:1"]);
    r.ok("manifest kit");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
    assert_eq!(j["model_name"], "fixture-kit");
    assert_eq!(j["resources"], resources(cwd, "project"));

    let sign = ["sign", "key", "kit:my/model:1", "--private_key", &key, "--signature", "kit.sig"];
    translate_env(cwd, &env, &sign).ok("sign kit");
    let r =
        model_signing(cwd, &["verify", "key", "project", "--public_key", &public, "--signature", "kit.sig"]);
    r.ok("model_signing verify of a ModelKit signature on the unpacked directory");

    model_signing(cwd, &["sign", "key", "project", "--private_key", &key, "--signature", "dir.sig"])
        .ok("py sign");
    let verify = ["verify", "key", "kit:my/model:1", "--public_key", &public, "--signature", "dir.sig"];
    translate_env(cwd, &env, &verify).ok("verify kit against directory signature");
    let r = translate(
        cwd,
        &["verify", "key", "kit:my/model:1", "--public_key", &public, "--signature", "dir.sig"],
    );
    assert_ne!(r.code, 0, "without KITOPS_HOME the ModelKit is not found: {r:?}");
}

/// Builds an old-style ModelKit (no artifactType, no file path annotations) in a plain
/// layout, then rewrites one layer so its tar member content changes while every digest
/// stays consistent: only the signature can catch it.
#[test]
fn old_modelkits_verify_and_tampered_members_or_diff_ids_fail() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));
    let ctx = kit_context(cwd);
    let layout = Layout::create(&cwd.join("layout"));
    let desc = kit_pack(&layout, &ctx, &KIT_ENTRIES, false);
    layout.write_index(&[("old", desc)]);
    model_signing(cwd, &["sign", "key", "project", "--private_key", &key, "--signature", "dir.sig"])
        .ok("py sign");
    let verify = ["verify", "key", "oci:layout:old", "--public_key", &public, "--signature", "dir.sig"];
    translate(cwd, &verify).ok("old-style ModelKit verifies");

    // Same layer content but one member changed, digests recomputed consistently.
    write(&ctx.join("src/serve.py"), b"print('pwned')\n");
    let layout2 = Layout::create(&cwd.join("layout2"));
    let desc2 = kit_pack(&layout2, &ctx, &KIT_ENTRIES, false);
    layout2.write_index(&[("old", desc2.clone())]);
    let verify2 = ["verify", "key", "oci:layout2:old", "--public_key", &public, "--signature", "dir.sig"];
    let r = translate(cwd, &verify2);
    r.expect_code(1, "tampered tar member");
    assert!(r.stderr.contains("mismatch  src/serve.py"), "{}", r.stderr);

    // A config whose diffId does not match the gzip layer's content.
    let mbytes =
        std::fs::read(layout2.blob(desc2["digest"].as_str().unwrap_or_default())).unwrap_or_default();
    let mut manifest: serde_json::Value = serde_json::from_slice(&mbytes).unwrap_or_default();
    let cbytes = std::fs::read(layout2.blob(manifest["config"]["digest"].as_str().unwrap_or_default()))
        .unwrap_or_default();
    let mut config: serde_json::Value = serde_json::from_slice(&cbytes).unwrap_or_default();
    config["model"]["diffId"] = format!("sha256:{}", "0".repeat(64)).into();
    let (cd, cs) = layout2.put(&serde_json::to_vec(&config).unwrap_or_default());
    manifest["config"]["digest"] = cd.into();
    manifest["config"]["size"] = cs.into();
    let d3 = layout2.put_manifest(&manifest);
    layout2.write_index(&[("old", d3)]);
    // By default the files decide (this layout also holds the tampered member).
    translate(cwd, &verify2).expect_code(1, "tampered member, wrong diffId");
    let r = translate(cwd, &[&verify2[..], &["--verify-layer-digests"]].concat());
    r.expect_code(1, "wrong diffId");
    assert!(r.stderr.contains("diffId"), "{}", r.stderr);

    // kit_tar reproduces kit's member order: ancestors and directories first.
    let tar = kit_tar(&ctx, "src");
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .map(|es| es.filter_map(|e| e.ok()?.path().ok().map(|p| p.display().to_string())).collect())
        .unwrap_or_default();
    assert_eq!(names, ["src/", "src/serve.py", "src/util/", "src/util/io.py"]);
}

fn index_manifests(layout: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read(layout.join("index.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    v["manifests"].as_array().cloned().unwrap_or_default()
}

#[test]
fn pack_checks_and_attaches_a_model_signing_signature_then_verifies() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, public) = (pki.path("key.pem"), pki.path("key.pub"));
    make_model(cwd, Shape::Unicode);
    model_signing(cwd, &["sign", "key", "model", "--private_key", &key, "--signature", "model.sig"])
        .ok("py sign");
    for (format, layer) in [("modelpack", "raw"), ("modelpack", "tar"), ("modelkit", "tar")] {
        let out = format!("oci:{format}-{layer}:v1");
        let r = translate(
            cwd,
            &[
                "pack",
                "model",
                "-o",
                &out,
                "--format",
                format,
                "--layer-format",
                layer,
                "--signature",
                "model.sig",
                "--json",
            ],
        );
        r.ok(&format!("pack {format}/{layer}"));
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        let dir = cwd.join(format!("{format}-{layer}"));
        let manifests = index_manifests(&dir);
        // The model (tagged) and the signature referrer (untagged, subject = model).
        assert_eq!(manifests.len(), 2, "{manifests:?}");
        let referrer = manifests
            .iter()
            .find(|m| m["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json")
            .unwrap_or_else(|| panic!("no referrer in {manifests:?}"));
        assert_eq!(referrer["digest"], report["signature_referrer"]);
        let rbytes = std::fs::read(
            dir.join("blobs/sha256")
                .join(referrer["digest"].as_str().unwrap_or_default().trim_start_matches("sha256:")),
        )
        .unwrap_or_default();
        let rm: serde_json::Value = serde_json::from_slice(&rbytes).unwrap_or_default();
        assert_eq!(rm["subject"]["digest"], report["manifest_digest"]);
        assert_eq!(rm["annotations"]["dev.sigstore.bundle.content"], "dsse-envelope");
        assert_eq!(rm["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
        let verify = ["verify", "key", &out, "--public_key", &public, "--signature", "model.sig"];
        translate(cwd, &verify).ok(&format!("verify {format}/{layer}"));
        // The attached signature travels with the layout: no --signature needed.
        let r = translate(cwd, &["verify", "key", &out, "--public_key", &public]);
        r.ok(&format!("verify {format}/{layer} with its attached signature"));
        assert!(r.stdout.contains("Verification succeeded"), "{}", r.stdout);
        // And the other direction: sign the layout, model_signing verifies the directory.
        translate(cwd, &["sign", "key", &out, "--private_key", &key, "--signature", "layout.sig"])
            .ok("sign layout");
        model_signing(cwd, &["verify", "key", "model", "--public_key", &public, "--signature", "layout.sig"])
            .ok("py verify");
    }

    // A directory has no attached signature.
    let r = translate(cwd, &["verify", "key", "model", "--public_key", &public]);
    r.expect_code(2, "no --signature for a directory");
    assert!(r.stderr.contains("pass --signature"), "{}", r.stderr);

    // A signature that does not match the files: error naming the file, nothing tagged.
    std::fs::write(cwd.join("model/café.txt"), b"changed").unwrap_or_else(|e| panic!("{e}"));
    let r = translate(cwd, &["pack", "model", "-o", "oci:bad:v1", "--signature", "model.sig"]);
    r.expect_code(1, "mismatching signature");
    assert!(r.stderr.contains("mismatch café.txt"), "{}", r.stderr);
    assert!(index_manifests(&cwd.join("bad")).is_empty());
}

/// A real OCI client (skopeo) reads and copies what `pack` writes, and the copy verifies.
#[test]
fn skopeo_copies_packed_layouts_and_the_copies_verify() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    make_model(cwd, Shape::Nested);
    translate(
        cwd,
        &["sign", "key", "model", "--private_key", &pki.path("key.pem"), "--signature", "model.sig"],
    )
    .ok("sign");
    for format in ["modelpack", "modelkit"] {
        let (src, dst) = (format!("oci:{format}:v1"), format!("oci:{format}-copy:v1"));
        translate(cwd, &["pack", "model", "-o", &src, "--format", format, "--signature", "model.sig"])
            .ok("pack");
        let r = modelsig_e2e::run(
            std::process::Command::new("skopeo").args(["copy", &src, &dst]).current_dir(cwd),
        );
        r.ok(&format!("skopeo copy {format} (apt-get install skopeo)"));
        translate(
            cwd,
            &["verify", "key", &dst, "--public_key", &pki.path("key.pub"), "--signature", "model.sig"],
        )
        .ok(&format!("verify the skopeo copy of the {format} layout"));
    }
}
