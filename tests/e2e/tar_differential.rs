//! Tar layers: our verify must see exactly what extractors extract. A corpus of tar layers —
//! written by GNU tar and Python's tarfile in every format they have (must verify), crafted
//! to exploit reader differences (must be refused, each with its reason), and mutants of a
//! valid archive — is verified as a ModelPack layer, and extracted with GNU `tar` and
//! Python `tarfile`. Whenever our verify accepts, both extracted trees must equal the
//! signed model byte for byte.

use modelsig_common::ModelRef;
use modelsig_common::crypto::signature::TrustPolicy;
use modelsig_common::{HashOptions, verify_model};
use modelsig_e2e::fixtures::modelpack_tar_layout as layout_with_layer;
use modelsig_e2e::tarcraft::{BLOCK, Magic, TarCraft, header, set_checksum};
use modelsig_e2e::{Pki, python, run, translate};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

const LONG: &str = "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllll/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn.bin";

fn model_files() -> Vec<(&'static str, Vec<u8>)> {
    let pattern =
        |n: usize, seed: u8| (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    vec![
        ("a.bin", pattern(1500, 1)),
        ("c.txt", Vec::new()),
        ("d/b.bin", pattern(700, 2)),
        (LONG, pattern(10, 3)),
    ]
}

/// Regular files of an extracted tree (path → sha256); anything else is recorded as such.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).map(|r| r.to_string_lossy().into_owned()).unwrap_or_default();
            let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
            if m.is_dir() {
                walk(root, &p, out);
            } else if m.is_file() {
                out.insert(rel, hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap_or_default())));
            } else {
                out.insert(rel, "not a regular file".into());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Accept,
    Reject(&'static str),
    /// A mutant: either, but an accept must match both extractors.
    Either,
}

struct Case {
    label: String,
    tar: Vec<u8>,
    expect: Expect,
    /// Layer compression: "" (plain), "+gzip", "+zstd".
    compression: &'static str,
}

fn case(label: &str, tar: Vec<u8>, expect: Expect) -> Case {
    Case { label: label.into(), tar, expect, compression: "" }
}

/// The benign archive every crafted case starts from (ustar, with PAX for the long name).
fn base(files: &[(&str, Vec<u8>)]) -> TarCraft {
    let mut t = TarCraft::new();
    t.entry("d/", b'5', &[], Magic::Ustar);
    for (name, data) in files {
        if name.len() > 100 {
            t.pax(b'x', &[("path", name.as_bytes())]);
            t.file("long.bin", data);
        } else {
            t.file(name, data);
        }
    }
    t
}

fn crafted_cases(files: &[(&str, Vec<u8>)]) -> Vec<Case> {
    let a = &files[0].1;
    let mut cases = Vec::new();
    let mut compressed = Vec::new();
    let mut push = |label: &str, t: &TarCraft, expect| cases.push(case(label, t.build(), expect));
    let rest = |t: &mut TarCraft| {
        for (name, data) in &files[1..] {
            if name.len() > 100 {
                t.gnu_long(b'L', name.as_bytes());
                t.entry("long.bin", b'0', data, Magic::Gnu);
            } else {
                t.file(name, data);
            }
        }
    };

    let mut t = base(files);
    t.end();
    push("crafted ustar + PAX path", &t, Expect::Accept);
    for c in ["+gzip", "+zstd"] {
        compressed
            .push(Case { compression: c, ..case(&format!("crafted ustar{c}"), t.build(), Expect::Accept) });
    }
    let mut t = TarCraft::new();
    t.pax(b'g', &[("comment", b"2f5e1c0 (git archive writes the commit here)")]);
    rest(&mut t);
    t.file("a.bin", a).end();
    push("global header with a comment only (git archive)", &t, Expect::Accept);
    let mut t = TarCraft::new();
    rest(&mut t);
    let mut h = header(b"a.bin", b'0', 0, Magic::Ustar);
    set_checksum(&mut h);
    t.pax(b'x', &[("size", a.len().to_string().as_bytes())]).block_and_data(h, a).end();
    push("PAX size with a zero header size (files over 8 GiB)", &t, Expect::Accept);
    let mut t = TarCraft::new();
    rest(&mut t);
    let mut h = header(b"a.bin", b'0', 0, Magic::Gnu);
    h[124] = 0x80;
    h[125..136].fill(0);
    h[134] = (a.len() >> 8) as u8;
    h[135] = a.len() as u8;
    set_checksum(&mut h);
    t.block_and_data(h, a).end();
    push("GNU base-256 size", &t, Expect::Accept);

    // Duplicate PAX records: tar-rs applies the first, Python and Go the last.
    let mut t = TarCraft::new();
    rest(&mut t);
    t.pax(b'x', &[("path", b"a.bin"), ("path", b"evil.bin")]).file("x", a).end();
    push("duplicate PAX path", &t, Expect::Reject("`path` appears twice"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.pax(b'x', &[("size", b"1500"), ("size", b"0")]).file("a.bin", a).end();
    push("duplicate PAX size", &t, Expect::Reject("`size` appears twice"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.pax(b'x', &[("size", b"0")]).file("a.bin", a).end();
    push("PAX size disagreeing with the header", &t, Expect::Reject("disagrees"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.pax(b'x', &[("GNU.sparse.name", b"a.bin"), ("GNU.sparse.realsize", b"1500")]).file("x", a).end();
    push("GNU.sparse PAX keys", &t, Expect::Reject("sparse"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.entry("a.bin", b'S', a, Magic::Gnu).end();
    push("GNU sparse entry", &t, Expect::Reject("sparse"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.pax(b'x', &[("hdrcharset", b"BINARY")]).file("a.bin", a).end();
    push("unknown PAX key", &t, Expect::Reject("not accepted"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.pax(b'x', &[("path", b"")]).file("a.bin", a).end();
    push("empty PAX path", &t, Expect::Reject("is empty"));
    let mut t = TarCraft::new();
    t.pax(b'g', &[("path", b"evil.bin")]);
    rest(&mut t);
    t.file("a.bin", a).end();
    push("global PAX path", &t, Expect::Reject("global PAX header sets `path`"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.gnu_long(b'L', b"evil.bin").pax(b'x', &[("path", b"a.bin")]).entry("a.bin", b'0', a, Magic::Gnu).end();
    push("GNU long name and PAX path", &t, Expect::Reject("both a GNU long name and a PAX `path`"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.gnu_long(b'L', b"evil.bin").gnu_long(b'L', b"a.bin").entry("a.bin", b'0', a, Magic::Gnu).end();
    push("two GNU long names", &t, Expect::Reject("two GNU long name headers"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.gnu_long(b'L', &[b'x'; 300_000]).entry("a.bin", b'0', a, Magic::Gnu).end();
    push("300 KB GNU long name", &t, Expect::Reject("over the limit"));
    let mut t = TarCraft::new();
    rest(&mut t);
    let mut ln = b"a.bin\0evil".to_vec();
    ln.push(0);
    t.entry("././@LongLink", b'L', &ln, Magic::Gnu).entry("x", b'0', a, Magic::Gnu).end();
    push("GNU long name with bytes after its NUL", &t, Expect::Reject("after its terminating NUL"));
    let mut t = TarCraft::new();
    rest(&mut t);
    let mut h = header(b"a.bin", b'0', a.len() as u64, Magic::Gnu);
    h[345..350].copy_from_slice(b"extra");
    set_checksum(&mut h);
    t.block_and_data(h, a).end();
    push("prefix field in a GNU header (Python applies it)", &t, Expect::Reject("prefix field"));
    let mut t = TarCraft::new();
    rest(&mut t);
    let mut h = header(b"a.bin", b'0', 0, Magic::Gnu);
    h[124] = 0x80;
    h[125..136].fill(0);
    h[126] = 1;
    h[135] = a.len() as u8;
    set_checksum(&mut h);
    t.block_and_data(h, a).end();
    push("base-256 size over 64 bits", &t, Expect::Reject("size field"));

    // After the end marker: readers stop there.
    let mut t = base(files);
    t.end().file("evil.bin", b"hidden");
    push("a member after the end marker", &t, Expect::Reject("after the end-of-archive marker"));
    let mut t = base(files);
    t.raw(&[0u8; BLOCK]).raw(&{
        let mut b = [0u8; BLOCK];
        b[7] = 1;
        b
    });
    push("junk in the second end block", &t, Expect::Reject("after the end-of-archive marker"));
    let mut t = base(files);
    t.pax(b'x', &[("mtime", b"1")]).end();
    push("PAX header before the end marker", &t, Expect::Reject("describe no member"));

    // Names.
    let mut t = base(files);
    t.entry("../../x/", b'5', &[], Magic::Ustar).end();
    push("`..` directory entry", &t, Expect::Reject("`..`"));
    let mut t = base(files);
    t.entry("/abs/", b'5', &[], Magic::Ustar).end();
    push("absolute directory entry", &t, Expect::Reject("absolute"));
    let mut t = base(files);
    t.file("./a.bin", b"second copy").end();
    push("a file twice", &t, Expect::Reject("twice"));
    let mut t = TarCraft::new();
    t.file("d", b"file named like a directory");
    rest(&mut t);
    t.file("a.bin", a).end();
    push("a file below a file", &t, Expect::Reject("which is a file"));
    let mut t = base(files);
    t.entry("a.bin/", b'5', &[], Magic::Ustar).end();
    push("a directory named like a file", &t, Expect::Reject("a file earlier"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.entry("a.bin/", 0, &[], Magic::V7).file("a.bin", a).end();
    push("old-style directory (NUL type, trailing slash)", &t, Expect::Reject("ends in `/`"));
    let mut t = TarCraft::new();
    rest(&mut t);
    let inner = header(b"evil.bin", b'0', 0, Magic::Ustar);
    t.entry("e", b'5', &inner, Magic::Ustar).file("a.bin", a).end();
    push("a directory carrying data", &t, Expect::Reject("non-file member"));
    let mut t = TarCraft::new();
    rest(&mut t);
    t.entry("a.bin", b'L', a, Magic::V7).end();
    push("GNU long name type in a V7 header", &t, Expect::Reject("pre-POSIX"));
    let mut t = base(files);
    let mut h = header(b"evil", b'2', 0, Magic::Ustar);
    h[157..170].copy_from_slice(b"../etc/passwd");
    set_checksum(&mut h);
    t.block_and_data(h, &[]).end();
    push("symlink out of the layer", &t, Expect::Reject("links are not allowed"));
    let mut t = base(files);
    t.entry("fifo", b'6', &[], Magic::Ustar).end();
    push("FIFO", &t, Expect::Reject("special files"));
    let mut t = base(files);
    let mut h = header(b"a.bin", b'0', a.len() as u64, Magic::Ustar);
    h[257..263].copy_from_slice(b"uSTAR\0");
    set_checksum(&mut h);
    t.block_and_data(h, a).end();
    push("unknown magic", &t, Expect::Reject("magic"));
    cases.extend(compressed);
    cases
}

/// Archives of the model written by the real tools, in every format they offer.
fn tool_cases(cwd: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    for format in ["gnu", "posix", "ustar", "oldgnu"] {
        let out = cwd.join(format!("gnu-{format}.tar"));
        let r = run(Command::new("tar")
            .args(["--format", format, "-cf"])
            .arg(&out)
            .args(["-C", "model", "."])
            .current_dir(cwd));
        r.ok(&format!("GNU tar --format={format}"));
        cases.push(case(&format!("GNU tar --format={format}"), must(std::fs::read(&out)), Expect::Accept));
    }
    let script = r#"
import sys, tarfile
root, out = sys.argv[1], sys.argv[2]
for name, fmt in [("gnu", tarfile.GNU_FORMAT), ("pax", tarfile.PAX_FORMAT), ("ustar", tarfile.USTAR_FORMAT)]:
    with tarfile.open(f"{out}/py-{name}.tar", "w", format=fmt) as t:
        t.add(root, arcname=".")
"#;
    let r = run(Command::new(python()).args(["-c", script, "model", "."]).current_dir(cwd));
    r.ok("python tarfile");
    for name in ["gnu", "pax", "ustar"] {
        let tar = must(std::fs::read(cwd.join(format!("py-{name}.tar"))));
        cases.push(case(&format!("Python tarfile {name}"), tar, Expect::Accept));
    }
    // Compressed by the test: the same bytes through the gzip and zstd readers.
    let posix = cases[1].tar.clone();
    for c in ["+gzip", "+zstd"] {
        cases.push(Case {
            compression: c,
            ..case(&format!("GNU tar posix{c}"), posix.clone(), Expect::Accept)
        });
    }
    cases
}

/// Mutants of a valid PAX archive: one byte of a header or PAX block changed (checksum
/// recomputed), or blocks duplicated, cut or appended. Deterministic.
fn mutants(seed_tar: &[u8], n: usize) -> Vec<Case> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Header blocks are those whose magic is ustar; PAX data blocks follow `x` headers.
    let blocks = seed_tar.len() / BLOCK;
    let headers: Vec<usize> =
        (0..blocks).filter(|b| &seed_tar[b * BLOCK + 257..b * BLOCK + 262] == b"ustar").collect();
    let mut out = Vec::new();
    for i in 0..n {
        let mut t = seed_tar.to_vec();
        let r = next();
        let kind = r % 5;
        let label;
        match kind {
            0 | 1 => {
                // A byte of a header's name, size, type, link or prefix field.
                let h = headers[(next() as usize) % headers.len()];
                let fields = [(0usize, 100usize), (124, 12), (156, 1), (157, 100), (345, 155), (257, 8)];
                let (start, len) = fields[(next() as usize) % fields.len()];
                let off = h * BLOCK + start + (next() as usize) % len;
                let choices = [b'/', b'.', b'0', b'7', b'x', b'L', b'5', b'2', 0, b'a', 0x80, b' '];
                t[off] = choices[(next() as usize) % choices.len()];
                let mut block = [0u8; BLOCK];
                block.copy_from_slice(&t[h * BLOCK..(h + 1) * BLOCK]);
                set_checksum(&mut block);
                t[h * BLOCK..(h + 1) * BLOCK].copy_from_slice(&block);
                label = format!("mutant {i}: header byte {off}");
            }
            2 => {
                // A byte of the block after a header (PAX records or file data).
                let h = headers[(next() as usize) % headers.len()];
                let off = (h + 1) * BLOCK + (next() as usize) % 64;
                if off < t.len() {
                    t[off] = [b'1', b'=', b'\n', b' ', b'/', b'.'][(next() as usize) % 6];
                }
                label = format!("mutant {i}: data byte {off}");
            }
            3 => {
                // Duplicate a header block with its next block.
                let h = headers[(next() as usize) % headers.len()];
                let end = ((h + 2) * BLOCK).min(t.len());
                let copy = t[h * BLOCK..end].to_vec();
                let at = headers[(next() as usize) % headers.len()] * BLOCK;
                t.splice(at..at, copy);
                label = format!("mutant {i}: blocks of {h} repeated");
            }
            _ => {
                // Cut at a block boundary, or append a block.
                if next() % 2 == 0 {
                    let cut = ((next() as usize) % blocks) * BLOCK;
                    t.truncate(cut);
                    label = format!("mutant {i}: cut at {cut}");
                } else {
                    let mut b = [0u8; BLOCK];
                    b[(next() as usize) % BLOCK] = 1;
                    t.extend_from_slice(&b);
                    label = format!("mutant {i}: trailing block");
                }
            }
        }
        out.push(case(&label, t, Expect::Either));
    }
    out
}

#[test]
fn tar_layers_verify_only_when_gnu_tar_and_python_extract_the_signed_files() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let files = model_files();
    for (name, data) in &files {
        let p = cwd.join("model").join(name);
        must(std::fs::create_dir_all(p.parent().unwrap_or(cwd)));
        must(std::fs::write(&p, data));
    }
    let signed_tree = tree(&cwd.join("model"));
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    translate(
        cwd,
        &["sign", "key", "model", "--private_key", &pki.path("key.pem"), "--signature", "model.sig"],
    )
    .ok("sign");
    let policy = TrustPolicy::Key(must(modelsig_common::crypto::keys::PublicKey::from_pem_file(Path::new(
        &pki.path("key.pub"),
    ))));
    let opts = HashOptions { quiet: true, threads: 1, ..HashOptions::default() };

    let mut cases = tool_cases(cwd);
    let seed =
        cases.iter().find(|c| c.label == "Python tarfile pax").map(|c| c.tar.clone()).unwrap_or_default();
    cases.extend(crafted_cases(&files));
    cases.extend(mutants(&seed, 300));

    // Verify each case and extract it with GNU tar; Python extracts all of them in one run.
    let work = cwd.join("cases");
    must(std::fs::create_dir_all(&work));
    let mut results = Vec::new();
    let mut py_jobs = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let tar_path = work.join(format!("{i}.tar"));
        must(std::fs::write(&tar_path, &c.tar));
        let layout = layout_with_layer(&work.join(format!("{i}.oci")), &c.tar, c.compression);
        let outcome = verify_model(
            &ModelRef::OciLayout { path: layout, reference: Some("t".into()) },
            Some(&cwd.join("model.sig")),
            &policy,
            &opts,
            false,
        );
        let (accepted, why) = match outcome {
            Ok(r) if r.verified => (true, String::new()),
            Ok(r) => (false, r.render(modelsig_common::ops::report::OutputFormat::Text)),
            Err(e) => (false, e.to_string()),
        };
        let gnu = work.join(format!("{i}.gnu"));
        must(std::fs::create_dir_all(&gnu));
        let g = run(Command::new("tar")
            .args(["--no-same-owner", "--no-same-permissions", "-xf"])
            .arg(&tar_path)
            .arg("-C")
            .arg(&gnu));
        let py = work.join(format!("{i}.py"));
        py_jobs.push(serde_json::json!([tar_path, py]));
        results.push((accepted, why, g.code == 0, gnu, py));
    }
    let jobs = work.join("jobs.json");
    must(std::fs::write(&jobs, serde_json::Value::Array(py_jobs).to_string()));
    let script = r#"
import json, os, sys, tarfile
for src, dst in json.load(open(sys.argv[1])):
    os.makedirs(dst, exist_ok=True)
    try:
        with tarfile.open(src) as t:
            t.extractall(dst, filter="data")
    except Exception as e:
        open(dst + ".failed", "w").write(repr(e))
"#;
    let r = run(Command::new(python()).args(["-c", script]).arg(&jobs));
    r.ok("python extraction");

    let (mut accepted_n, mut rejected_n) = (0, 0);
    for (c, (accepted, why, gnu_ok, gnu, py)) in cases.iter().zip(&results) {
        match c.expect {
            Expect::Accept => assert!(*accepted, "{}: expected to verify, got: {why}", c.label),
            Expect::Reject(reason) => {
                assert!(!accepted, "{}: expected a refusal", c.label);
                assert!(why.contains(reason), "{}: expected `{reason}` in: {why}", c.label);
                assert!(why.contains("layer 0"), "{}: the layer is not named in: {why}", c.label);
            }
            Expect::Either => {}
        }
        if *accepted {
            accepted_n += 1;
            assert!(*gnu_ok, "{}: we verify it but GNU tar fails to extract it", c.label);
            assert_eq!(tree(gnu), signed_tree, "{}: GNU tar extracts other files than we verified", c.label);
            let failed = py.with_extension("py.failed");
            assert!(
                !failed.exists(),
                "{}: we verify it but Python fails: {:?}",
                c.label,
                std::fs::read_to_string(&failed)
            );
            assert_eq!(tree(py), signed_tree, "{}: Python extracts other files than we verified", c.label);
        } else {
            rejected_n += 1;
        }
    }
    println!(
        "tar differential: {} cases, {accepted_n} verified (each extracted identically by GNU tar and Python), {rejected_n} refused",
        cases.len()
    );
}
