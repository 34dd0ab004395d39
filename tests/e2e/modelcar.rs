//! Models in container images (KServe ModelCars): images written by Python's tarfile (not
//! our code) with a base layer outside the model root, an overridden file, a whiteout and
//! an opaque directory; copied to a registry by skopeo (OCI and Docker v2 media types);
//! signed by model_signing on the directory a runtime would show, verified here without
//! unpacking, and the other way round.

use modelsig_e2e::registry::Registry;
use modelsig_e2e::{Pki, Run, model_signing, oras, python, run, translate, workspace};
use std::path::Path;
use std::process::Command;

fn write(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
}

/// Every file under `dir` (relative name, content), sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).map(|r| r.display().to_string()).unwrap_or_default();
                out.push((rel, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// Writes `dir` as an image layout `layout:tag` with the given layer directories.
fn image(cwd: &Path, layout: &str, layers: &[&str]) {
    let mut c = Command::new(python());
    c.arg(workspace().join("tests/modelcar.py")).args([layout, "v1"]).args(layers).current_dir(cwd);
    run(&mut c).ok("write the image with tests/modelcar.py");
}

fn skopeo(cwd: &Path, args: &[&str]) -> Run {
    run(Command::new("skopeo").args(["copy", "--dest-tls-verify=false"]).args(args).current_dir(cwd))
}

/// The layers: a base image, the model, and an update that replaces `config.json`, whites
/// out `old.bin` and makes `tmp/` opaque.
fn layers(cwd: &Path) {
    write(&cwd.join("base/bin/sh"), b"#!busybox");
    write(&cwd.join("base/etc/passwd"), b"root:x:0:0::/root:/bin/sh\n");
    std::os::unix::fs::symlink("sh", cwd.join("base/bin/ls")).unwrap_or_else(|e| panic!("{e}"));
    write(&cwd.join("l1/models/config.json"), b"{\"v\": 1}");
    write(&cwd.join("l1/models/weights/a.bin"), &vec![7u8; 300_000]);
    write(&cwd.join("l1/models/old.bin"), b"stale");
    write(&cwd.join("l1/models/tmp/t.bin"), b"scratch");
    write(&cwd.join("l2/models/config.json"), b"{\"v\": 2}");
    write(&cwd.join("l2/models/.wh.old.bin"), b"");
    write(&cwd.join("l2/models/tmp/.wh..wh..opq"), b"");
    write(&cwd.join("l2/models/tmp/n.bin"), b"fresh");
    write(&cwd.join("l2/models/README.md"), b"# model");
    // What a container sees under /models.
    write(&cwd.join("model/config.json"), b"{\"v\": 2}");
    write(&cwd.join("model/weights/a.bin"), &vec![7u8; 300_000]);
    write(&cwd.join("model/tmp/n.bin"), b"fresh");
    write(&cwd.join("model/README.md"), b"# model");
}

#[test]
fn modelcar_images_verify_against_model_signing_signatures_both_ways() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, pubkey) = (pki.path("key.pem"), pki.path("key.pub"));
    layers(cwd);
    model_signing(cwd, &["sign", "key", "model", "--private_key", &key, "--signature", "model.sig"])
        .ok("model_signing signs the directory");
    image(cwd, "img", &["base", "l1", "l2"]);

    // The layout, without unpacking: the root is found from the last layer, or given.
    let v =
        translate(cwd, &["verify", "key", "oci:img:v1", "--signature", "model.sig", "--public_key", &pubkey]);
    v.ok("model_signing's signature verifies against the image");
    let v = translate(
        cwd,
        &[
            "verify",
            "key",
            "oci:img:v1",
            "--signature",
            "model.sig",
            "--public_key",
            &pubkey,
            "--model-root",
            "/models/",
        ],
    );
    v.ok("with --model-root");
    let v = translate(
        cwd,
        &[
            "verify",
            "key",
            "oci:img:v1",
            "--signature",
            "model.sig",
            "--public_key",
            &pubkey,
            "--model-root",
            "/etc",
        ],
    );
    v.expect_code(1, "the wrong root lacks the signed files");
    assert!(v.stderr.contains("config.json"), "{}", v.stderr);

    // Recompressed with zstd by skopeo.
    run(Command::new("skopeo")
        .args(["copy", "--dest-compress", "--dest-compress-format", "zstd", "oci:img:v1", "oci:zst:v1"])
        .current_dir(cwd))
    .ok("skopeo copy to zstd layers");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.join("zst/index.json")).unwrap_or_default())
            .unwrap_or_default();
    let digest = index["manifests"][0]["digest"].as_str().unwrap_or_default().trim_start_matches("sha256:");
    let manifest = std::fs::read_to_string(cwd.join("zst/blobs/sha256").join(digest)).unwrap_or_default();
    assert!(manifest.contains("application/vnd.oci.image.layer.v1.tar+zstd"), "{manifest}");
    let v =
        translate(cwd, &["verify", "key", "oci:zst:v1", "--signature", "model.sig", "--public_key", &pubkey]);
    v.ok("zstd layers");

    // In a registry, as skopeo copies it: OCI media types, and Docker v2 ones.
    let oci_ref = format!("{}/modelcar/oci:v1", reg.addr);
    let docker_ref = format!("{}/modelcar/docker:v1", reg.addr);
    skopeo(cwd, &["oci:img:v1", &format!("docker://{oci_ref}")]).ok("skopeo copy (OCI)");
    skopeo(cwd, &["--format", "v2s2", "oci:img:v1", &format!("docker://{docker_ref}")])
        .ok("skopeo copy (v2s2)");
    let m: serde_json::Value = serde_json::from_str(
        &run(Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{docker_ref}")])
            .current_dir(cwd))
        .stdout,
    )
    .unwrap_or_default();
    assert_eq!(m["mediaType"], "application/vnd.docker.distribution.manifest.v2+json", "{m}");
    for r in [&oci_ref, &docker_ref] {
        let reg_r = format!("registry:{r}");
        translate(cwd, &["verify", "key", &reg_r, "--signature", "model.sig", "--public_key", &pubkey])
            .ok(&format!("verify {r}"));
        oras(cwd, &["attach", r, "--signature", "model.sig"]).ok("attach");
        let v = oras(cwd, &["verify", "key", r, "--public_key", &pubkey]);
        v.expect_code(1, "image layers are tar layers: --deep is needed");
        assert!(v.stderr.contains("--deep"), "{}", v.stderr);
        oras(cwd, &["verify", "key", r, "--public_key", &pubkey, "--deep"]).ok("oras-modelsig verify --deep");
        // Pull writes what a container shows under /models, and only that.
        let out = cwd.join("pulled");
        let _ = std::fs::remove_dir_all(&out);
        oras(cwd, &["pull", r, "-o", "pulled", "--public_key", &pubkey])
            .ok("pull the model out of the image");
        assert_eq!(tree(&out), tree(&cwd.join("model")), "{r}");
        model_signing(cwd, &["verify", "key", "pulled", "--signature", "model.sig", "--public_key", &pubkey])
            .ok("model_signing accepts the pulled directory");
        let _ = std::fs::remove_dir_all(&out);
        oras(cwd, &["pull", r, "-o", "pulled", "--public_key", &pubkey, "--include", "tmp/*"])
            .ok("partial pull");
        assert_eq!(tree(&out), vec![("tmp/n.bin".to_owned(), b"fresh".to_vec())]);
    }

    // cosign attestations of the image: predicate from one streaming pass, verified.
    let c = |args: &[&str]| modelsig_e2e::cosign_modelsig(cwd, &[], None, args);
    c(&["attest", &oci_ref, "--private_key", &key, "--tlog-upload=false"]).ok("attest the image");
    let v = c(&["verify-attestation", &oci_ref, "--key", &pubkey, "--insecure-ignore-tlog", "--deep"]);
    v.ok("verify-attestation of the image");
    let p = c(&["predicate", &oci_ref, "-o", "predicate.json"]);
    p.ok("predicate of the image");
    let pred = std::fs::read_to_string(cwd.join("predicate.json")).unwrap_or_default();
    assert!(
        pred.contains("weights/a.bin") && !pred.contains("bin/sh") && !pred.contains("old.bin"),
        "{pred}"
    );

    // Signed here on the image, verified by model_signing on the directory.
    translate(
        cwd,
        &["sign", "key", &format!("registry:{docker_ref}"), "--private_key", &key, "--signature", "ours.sig"],
    )
    .ok("sign the image");
    model_signing(cwd, &["verify", "key", "model", "--signature", "ours.sig", "--public_key", &pubkey])
        .ok("model_signing verifies our signature of the image on the directory");
    oras(cwd, &["sign", "key", &oci_ref, "--private_key", &key, "--signature", "remote.sig"])
        .ok("oras-modelsig sign the image in the registry");
    model_signing(cwd, &["verify", "key", "model", "--signature", "remote.sig", "--public_key", &pubkey])
        .ok("model_signing verifies it on the directory");

    // A later layer that whites out a signed file, replaces one, or adds one: named.
    write(&cwd.join("gone/models/weights/.wh.a.bin"), b"");
    write(&cwd.join("swap/models/config.json"), b"{\"v\": 3}");
    write(&cwd.join("extra/models/extra.bin"), b"unsigned");
    write(&cwd.join("wipe/.wh.models"), b"");
    write(&cwd.join("wipe/models/config.json"), b"{\"v\": 2}");
    for (layer, name) in
        [("gone", "weights/a.bin"), ("swap", "config.json"), ("extra", "extra.bin"), ("wipe", "README.md")]
    {
        let layout = format!("bad-{layer}");
        image(cwd, &layout, &["base", "l1", "l2", layer]);
        let v = translate(
            cwd,
            &[
                "verify",
                "key",
                &format!("oci:{layout}:v1"),
                "--signature",
                "model.sig",
                "--public_key",
                &pubkey,
            ],
        );
        v.expect_code(1, &format!("layer `{layer}` changes the model"));
        assert!(v.stderr.contains(name), "{layer}: {}", v.stderr);
        assert!(!v.stdout.contains("succeeded"), "{}", v.stdout);
        if layer == "swap" || layer == "gone" {
            let r = format!("{}/modelcar/{layer}:v1", reg.addr);
            skopeo(cwd, &[&format!("oci:{layout}:v1"), &format!("docker://{r}")]).ok("copy");
            oras(cwd, &["attach", &r, "--signature", "model.sig"]).ok("attach");
            let p = oras(cwd, &["pull", &r, "-o", &format!("pulled-{layer}"), "--public_key", &pubkey]);
            p.expect_code(1, &format!("pull of `{layer}`"));
            assert!(p.stderr.contains(name), "{layer}: {}", p.stderr);
            let got = tree(&cwd.join(format!("pulled-{layer}")));
            assert!(got.iter().all(|(n, _)| n != name && n != "bin/sh"), "{got:?}");
        }
    }

    // Hostile layers: AUFS metadata inside the root, a link at the root.
    write(&cwd.join("aufs/models/.wh..wh.plnk"), b"");
    write(&cwd.join("aufs/models/config.json"), b"{\"v\": 2}");
    std::fs::create_dir_all(cwd.join("link")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("/data", cwd.join("link/models")).unwrap_or_else(|e| panic!("{e}"));
    for (layers, expect) in [
        (&["base", "l1", "l2", "aufs"][..], ".wh..wh.plnk"),
        (&["link", "l1", "l2"][..], "link at the model root"),
    ] {
        image(cwd, "hostile", layers);
        let v = translate(
            cwd,
            &[
                "verify",
                "key",
                "oci:hostile:v1",
                "--signature",
                "model.sig",
                "--public_key",
                &pubkey,
                "--model-root",
                "/models",
            ],
        );
        v.expect_code(1, expect);
        assert!(v.stderr.contains(expect) && v.stderr.contains("layer"), "{}", v.stderr);
        std::fs::remove_dir_all(cwd.join("hostile")).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `buildah` (from Debian; `from scratch`, `copy`, `commit`, `push` need no container
/// runtime) builds the ModelCar as a user would: a base image, then `COPY model /models`.
#[test]
fn buildah_modelcars_verify_and_pull() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let (key, pubkey) = (pki.path("key.pem"), pki.path("key.pub"));
    layers(cwd);
    let store = cwd.join("storage");
    let buildah = |args: &[&str]| -> Run {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(store.join("root"))
            .arg("--runroot")
            .arg(store.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("BUILDAH_ISOLATION", "chroot")
            .current_dir(cwd);
        let r = run(&mut c);
        r.ok(&format!("buildah {args:?} (apt-get install buildah)"));
        r
    };
    let base = buildah(&["from", "scratch"]).stdout.trim().to_owned();
    buildah(&["copy", &base, "base", "/"]);
    buildah(&["commit", &base, "localhost/mc-base"]);
    let car = buildah(&["from", "localhost/mc-base"]).stdout.trim().to_owned();
    buildah(&["copy", &car, "model", "/models"]);
    buildah(&["commit", "--format", "oci", &car, "localhost/mc-model"]);
    buildah(&["push", "localhost/mc-model", "oci:bh:v1"]);
    let r = format!("{}/modelcar/buildah:v1", reg.addr);
    buildah(&[
        "push",
        "--tls-verify=false",
        "--format",
        "v2s2",
        "localhost/mc-model",
        &format!("docker://{r}"),
    ]);

    model_signing(cwd, &["sign", "key", "model", "--private_key", &key, "--signature", "model.sig"])
        .ok("model_signing signs the directory");
    let v =
        translate(cwd, &["verify", "key", "oci:bh:v1", "--signature", "model.sig", "--public_key", &pubkey]);
    v.ok("buildah's image verifies");
    assert!(v.stdout.contains("model root /models"), "{}", v.stdout);
    oras(cwd, &["attach", &r, "--signature", "model.sig"]).ok("attach");
    oras(cwd, &["verify", "key", &r, "--public_key", &pubkey, "--deep"]).ok("verify the pushed image");
    oras(cwd, &["pull", &r, "-o", "pulled", "--public_key", &pubkey]).ok("pull");
    assert_eq!(tree(&cwd.join("pulled")), tree(&cwd.join("model")));

    // An update layer that replaces config.json (buildah's own override) is caught.
    let upd = buildah(&["from", "localhost/mc-model"]).stdout.trim().to_owned();
    write(&cwd.join("upd/config.json"), b"{\"v\": 9}");
    buildah(&["copy", &upd, "upd/config.json", "/models/config.json"]);
    buildah(&["commit", "--format", "oci", &upd, "localhost/mc-upd"]);
    buildah(&["push", "localhost/mc-upd", "oci:upd:v1"]);
    let v =
        translate(cwd, &["verify", "key", "oci:upd:v1", "--signature", "model.sig", "--public_key", &pubkey]);
    v.expect_code(1, "the override changes config.json");
    assert!(v.stderr.contains("config.json"), "{}", v.stderr);
}
