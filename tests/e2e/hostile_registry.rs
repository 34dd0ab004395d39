//! An attacker who controls a registry or a layout, but not the signing key: nothing they
//! serve may be written or reported "verified" unless it is what the signer signed, and
//! nothing they serve may cost much. Each bound is measured (requests, bytes, peak memory).

use modelsig_e2e::fixtures::{modelpack_layer_layout, modelpack_tar_layout};
use modelsig_e2e::registry::{Proxy, Registry, get_manifest, manifest_digest, put_manifest};
use modelsig_e2e::tarcraft::{Magic, TarCraft};
use modelsig_e2e::{Pki, bin, oras, python, run, translate};
use std::path::Path;
use std::process::Command;

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn json(r: &modelsig_e2e::Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        must(std::fs::create_dir_all(p));
    }
    must(std::fs::write(path, data));
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect()
}

/// Files in `dir` (recursively), temporary files included.
fn files_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).map(|p| p.display().to_string()).unwrap_or_default());
            }
        }
    }
    out.sort();
    out
}

/// A temporary directory with a key pair and `model/` holding `files`, signed by our CLI
/// into `model.sig` (with `sign_args` added).
struct Signed {
    t: tempfile::TempDir,
    public: String,
}

impl Signed {
    fn new(files: &[(&str, Vec<u8>)], sign_args: &[&str]) -> Signed {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pki = Pki::generate(&t.path().join("pki"), "P-256");
        for (name, data) in files {
            write(&t.path().join("model").join(name), data);
        }
        let key = pki.path("key.pem");
        let sign = ["sign", "key", "model", "--private_key", &key, "--signature", "model.sig"];
        translate(t.path(), &[&sign[..], sign_args].concat()).ok("sign");
        Signed { t, public: pki.path("key.pub") }
    }

    fn cwd(&self) -> &Path {
        self.t.path()
    }
}

fn assert_refused(r: &modelsig_e2e::Run, what: &str, expect: &str) {
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(r.code == 1 || r.code == 2, "{what}: exit {}\n{all}", r.code);
    assert!(all.contains(expect), "{what}: expected `{expect}` in\n{all}");
    assert!(
        !all.contains("\"verified\": true") && !all.contains("succeeded"),
        "{what}: says verified\n{all}"
    );
}

#[test]
fn shard_signatures_count_a_file_only_when_every_shard_matched() {
    let reg = Registry::start();
    let files = [("a.bin", pattern(10_000, 1)), ("b.bin", pattern(3_000, 2))];
    let s = Signed::new(&files, &["--serialization", "shards", "--shard_size", "4096"]);
    let (cwd, public) = (s.cwd(), &s.public);
    let good = format!("{}/models/sharded:v1", reg.addr);
    oras(cwd, &["push", "model", &good, "--signature", "model.sig"]).ok("push");
    let pull =
        |r: &str, out: &str| oras(cwd, &["pull", r, "-o", out, "--public_key", public, "--output", "json"]);
    pull(&good, "good").ok("honest pull");

    // A truncated or emptied local copy is not "already present": it is downloaded again.
    for (name, len) in [("a.bin", 4096u64), ("b.bin", 0)] {
        let f = must(std::fs::OpenOptions::new().write(true).open(cwd.join("good").join(name)));
        must(f.set_len(len));
        let p = json(pull(&good, "good").ok("re-pull"));
        assert_eq!(
            p["written"],
            serde_json::json!([name]),
            "{name} cut to {len} bytes counted as present: {p}"
        );
    }
    // (model_signing's CLI verifies shard signatures only through its API, so compare bytes.)
    for name in ["a.bin", "b.bin"] {
        let (want, got) =
            (std::fs::read(cwd.join("model").join(name)), std::fs::read(cwd.join("good").join(name)));
        assert_eq!(want.ok(), got.ok(), "{name}: the repaired pull differs from the signed file");
    }

    // In the registry: a.bin cut at a shard boundary, b.bin emptied, the signature re-attached.
    write(&cwd.join("cut/a.bin"), &pattern(10_000, 1)[..8192]);
    write(&cwd.join("cut/b.bin"), b"");
    let bad = format!("{}/models/sharded:cut", reg.addr);
    oras(cwd, &["push", "cut", &bad]).ok("push tampered");
    oras(cwd, &["attach", &bad, "--signature", "model.sig"]).ok("attach the signature to it");
    let r = pull(&bad, "bad");
    assert_refused(&r, "pull of truncated shards", "shorter than signed");
    let left = files_in(&cwd.join("bad"));
    assert!(left.is_empty(), "a refused pull left files behind: {left:?}");
    let v = oras(cwd, &["verify", "key", &bad, "--public_key", public]);
    assert_refused(&v, "remote verify of truncated shards", "missing");
}

#[test]
fn pull_refuses_from_the_manifest_alone_before_downloading() {
    let reg = Registry::start();
    let proxy = Proxy::start(&reg.addr, false);
    let s = Signed::new(&[("a.bin", pattern(200_000, 1)), ("b.bin", pattern(1_000, 2))], &[]);
    let (cwd, public) = (s.cwd(), s.public.clone());
    let repo = "models/pre";
    let good = format!("{}/{repo}:v1", reg.addr);
    oras(cwd, &["push", "model", &good]).ok("push");
    let m = get_manifest(&reg.addr, repo, "v1");
    let layer_of = |name: &str| {
        m["layers"]
            .as_array()
            .and_then(|l| l.iter().position(|d| d["annotations"]["org.cncf.model.filepath"] == name))
            .unwrap_or_else(|| panic!("no layer for {name}: {m}"))
    };
    let (ia, ib) = (layer_of("a.bin"), layer_of("b.bin"));
    let b_digest = m["layers"][ib]["digest"].as_str().unwrap_or_default().to_owned();
    let a_digest = m["layers"][ia]["digest"].as_str().unwrap_or_default().to_owned();

    // a.bin's layer replaced by b.bin's blob: the digest contradicts the signed one.
    let mut swapped = m.clone();
    swapped["layers"][ia]["digest"] = m["layers"][ib]["digest"].clone();
    swapped["layers"][ia]["size"] = m["layers"][ib]["size"].clone();
    put_manifest(&reg.addr, repo, "swapped", &swapped);
    // a.bin's layer declared at 1 TiB.
    let mut huge = m.clone();
    huge["layers"][ia]["size"] = serde_json::json!(1u64 << 40);
    put_manifest(&reg.addr, repo, "huge", &huge);

    for (tag, expect) in [("swapped", "contradicts the signed digest"), ("huge", "bytes are free")] {
        let r = format!("{}/{repo}:{tag}", proxy.addr);
        oras(cwd, &["attach", &r, "--signature", "model.sig"]).ok("attach");
        let before = proxy.requests();
        let out = format!("out-{tag}");
        let p = oras(cwd, &["pull", &r, "-o", &out, "--public_key", &public]);
        assert_refused(&p, tag, expect);
        assert!(format!("{}{}", p.stdout, p.stderr).contains("nothing downloaded"), "{tag}");
        let seen: Vec<String> = proxy.seen.lock().map(|v| v[before..].to_vec()).unwrap_or_default();
        let layer_gets: Vec<&String> = seen
            .iter()
            .filter(|s| {
                s.contains(&format!("/blobs/{b_digest}")) || s.contains(&format!("/blobs/{a_digest}"))
            })
            .collect();
        assert!(layer_gets.is_empty(), "{tag}: layer blobs were requested: {layer_gets:?}");
        assert!(files_in(&cwd.join(&out)).is_empty(), "{tag}: files written");
        println!("{tag}: refused after {} requests, no layer downloaded", seen.len());
    }
}

#[test]
fn junk_referrers_cost_a_bounded_number_of_requests() {
    let reg = Registry::start();
    let proxy = Proxy::start(&reg.addr, true);
    let s = Signed::new(&[("a.bin", pattern(5_000, 1))], &[]);
    let (cwd, public) = (s.cwd(), s.public.clone());
    let repo = "models/junk";
    for (tag, created) in [("newer", "2099-01-01T00:00:00Z"), ("older", "2000-01-01T00:00:00Z")] {
        let r = format!("{}/{repo}:{tag}", proxy.addr);
        oras(cwd, &["push", "model", &r]).ok("push");
        oras(cwd, &["attach", &r, "--signature", "model.sig"]).ok("attach");
        let digest = manifest_digest(&reg.addr, repo, tag);
        let digest = digest.trim_start_matches("sha256:");
        // The referrers API answers ours plus 2,000 junk referrers (manifests that do not exist).
        let junk: Vec<serde_json::Value> = (0..2000)
            .map(|i| {
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                    "digest": format!("sha256:{:064x}", i + 1), "size": 1234,
                    "annotations": { "org.opencontainers.image.created": created },
                })
            })
            .collect();
        if let Ok(mut refs) = proxy.refs.lock() {
            refs.entry(format!("{repo}@sha256:{digest}")).or_default().extend(junk);
        }
        let before = proxy.requests();
        let v = oras(cwd, &["verify", "key", &r, "--public_key", &public]);
        let requests = proxy.requests() - before;
        let all = format!("{}{}", v.stdout, v.stderr);
        if tag == "newer" {
            // 2,000 newer junk referrers hide the signature: refused, briefly, after ≤ 16 looks.
            assert_refused(&v, "junk referrers", "only the newest 16 are examined");
            assert!(all.len() < 2_000, "error message of {} bytes:\n{all}", all.len());
        } else {
            v.ok("the signature is newer than the junk");
        }
        assert!(requests <= 2 * 16 + 8, "{tag}: {requests} requests for 2,001 referrers");
        println!("{tag} junk: {requests} requests, message of {} bytes", all.len());
    }
}

#[test]
fn hostile_tar_layers_are_refused_on_pull_and_deep_verify() {
    let reg = Registry::start();
    let a = pattern(3_000, 1);
    let s = Signed::new(&[("a.bin", a.clone())], &[]);
    let (cwd, public) = (s.cwd(), s.public.clone());
    // tar-rs would read `a.bin` (first record); GNU tar, Python and Go extract `evil.bin`.
    let mut tar = TarCraft::new();
    tar.pax(b'x', &[("path", b"a.bin"), ("path", b"evil.bin")]).entry("a.bin", b'0', &a, Magic::Ustar).end();
    modelpack_tar_layout(&cwd.join("layout"), &tar.build(), "+gzip");
    let r = format!("{}/models/tar:v1", reg.addr);
    oras(cwd, &["copy", "oci:layout:t", &r]).ok("copy");
    oras(cwd, &["attach", &r, "--signature", "model.sig"]).ok("attach");
    let p = oras(cwd, &["pull", &r, "-o", "out", "--public_key", &public]);
    assert_refused(&p, "pull", "`path` appears twice");
    assert!(p.stderr.contains("layer 0"), "{}", p.stderr);
    assert!(files_in(&cwd.join("out")).is_empty(), "files written");
    let v = oras(cwd, &["verify", "key", &r, "--public_key", &public, "--deep"]);
    assert_refused(&v, "deep verify", "`path` appears twice");
}

/// Peak resident memory (KiB) of a command, measured by a Python parent with getrusage.
fn peak_rss_kib(cwd: &Path, program: &Path, args: &[&str]) -> (i32, String, u64) {
    let script = "import resource, subprocess, sys\n\
                  p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n\
                  print(p.returncode); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
                  sys.stderr.write(p.stdout + p.stderr)\n";
    let r = run(Command::new(python()).arg("-c").arg(script).arg(program).args(args).current_dir(cwd));
    let mut lines = r.stdout.lines();
    let code = lines.next().and_then(|l| l.parse().ok()).unwrap_or(-1);
    let rss = lines.next().and_then(|l| l.parse().ok()).unwrap_or(u64::MAX);
    (code, r.stderr, rss)
}

#[test]
fn metadata_and_decompression_bombs_cost_little() {
    let a = pattern(3_000, 1);
    let s = Signed::new(&[("a.bin", a.clone())], &[]);
    let (cwd, public) = (s.cwd(), s.public.clone());

    // 256 MiB GNU long name and 1 GiB of zeros (an unsigned member), each zstd-compressed
    // to kilobytes. Built by streaming into the encoder.
    /// Writes to the zstd encoder and hashes the uncompressed bytes (the diffId).
    struct Tee(zstd::stream::Encoder<'static, Vec<u8>>, sha2::Sha256);
    impl std::io::Write for Tee {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            use sha2::Digest as _;
            self.1.update(b);
            self.0.write_all(b)?;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
    let zstd_tar = |build: &dyn Fn(&mut dyn std::io::Write)| -> (Vec<u8>, String) {
        use sha2::Digest as _;
        let mut tee = Tee(must(zstd::stream::Encoder::new(Vec::new(), 19)), sha2::Sha256::new());
        build(&mut tee);
        let Tee(enc, h) = tee;
        (must(enc.finish()), format!("sha256:{}", hex::encode(h.finalize())))
    };
    let zeros = vec![0u8; 1 << 20];
    let long_name = zstd_tar(&|w| {
        let len = 256u64 << 20;
        must(w.write_all(&modelsig_e2e::tarcraft::header(b"././@LongLink", b'L', len, Magic::Gnu)));
        for _ in 0..256 {
            must(w.write_all(&[b'n'; 1 << 20]));
        }
        let mut rest = TarCraft::new();
        rest.entry("x", b'0', &a, Magic::Gnu).end();
        must(w.write_all(&rest.bytes));
    });
    let bomb = zstd_tar(&|w| {
        let mut head = TarCraft::new();
        head.file("a.bin", &a);
        must(w.write_all(&head.bytes));
        must(w.write_all(&modelsig_e2e::tarcraft::header(b"zeros.bin", b'0', 1 << 30, Magic::Ustar)));
        for _ in 0..1024 {
            must(w.write_all(&zeros));
        }
        must(w.write_all(&[0u8; 1024]));
    });
    let sizes = (long_name.0.len(), bomb.0.len());
    let translate_bin = bin("modelsig-translate");
    let verify = |layout: &str, extra: &[&str]| {
        let oci = format!("oci:{layout}:t");
        let args = [&["verify", "key", &oci, "--public_key", &public, "--signature", "model.sig"][..], extra]
            .concat();
        peak_rss_kib(cwd, &translate_bin, &args)
    };
    modelpack_layer_layout(&cwd.join("long"), &long_name.0, &long_name.1, "+zstd");
    modelpack_layer_layout(&cwd.join("bomb"), &bomb.0, &bomb.1, "+zstd");

    let (code, out, rss) = verify("long", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("GNU long name of") && out.contains("over the limit"), "{out}");
    assert!(rss < 64 * 1024, "256 MiB long name: peak RSS {rss} KiB");
    println!("{} byte layer with a 256 MiB long name: refused, peak RSS {rss} KiB", sizes.0);

    let (code, out, rss) = verify("bomb", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unpacks to more than") && out.contains("--max-unpacked-size"), "{out}");
    assert!(rss < 64 * 1024, "zstd bomb: peak RSS {rss} KiB");
    println!("{} byte layer unpacking to 1 GiB: refused at the cap, peak RSS {rss} KiB", sizes.1);
    // Raised: the unsigned member is reported as extra (not hashed), memory still flat.
    let (code, out, rss) = verify("bomb", &["--max-unpacked-size", "2GiB"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("zeros.bin"), "the unsigned file is not named: {out}");
    assert!(rss < 64 * 1024, "zstd bomb with a raised cap: peak RSS {rss} KiB");
}
