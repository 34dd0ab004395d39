//! Helpers for the end-to-end tests: locating the built binaries, the reference vectors and
//! the Python `model_signing` install, running commands, generating keys with OpenSSL and
//! generating test models and packaged-model fixtures.

pub mod fixtures;
pub mod registry;
pub mod tarcraft;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The model-transparency reference vectors vendored in `tests/vectors/model-transparency`
/// (Apache-2.0, see its NOTICE), or `MODELSIG_VECTORS`.
pub fn vectors() -> PathBuf {
    let p = std::env::var_os("MODELSIG_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("tests/vectors/model-transparency"));
    assert!(
        p.join("trust_config.json").exists(),
        "reference vectors not found at {} (set MODELSIG_VECTORS)",
        p.display()
    );
    p
}

/// A built binary of this workspace (run `cargo build --workspace` first; `scripts/test`
/// does).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/e2e-<hash> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let p = dir.join(name);
    assert!(p.exists(), "{} is not built: run `cargo build --workspace` (scripts/test does)", p.display());
    p
}

/// The Python interpreter that has `model_signing` (`MODELSIG_PYTHON`, else `.venv`).
pub fn python() -> PathBuf {
    let p = std::env::var_os("MODELSIG_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "Python with model_signing not found at {}: run scripts/test (it creates .venv with `pip install model-signing pyopenssl`) or set MODELSIG_PYTHON",
        p.display()
    );
    p
}

/// Outcome of a command.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with the output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code, code,
            "{what}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the command succeeded.
    #[track_caller]
    pub fn ok(&self, what: &str) -> &Self {
        self.expect_code(0, what)
    }
}

/// Runs a command to completion.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `modelsig-translate ARGS` in `cwd`.
pub fn translate(cwd: &Path, args: &[&str]) -> Run {
    run(Command::new(bin("modelsig-translate")).args(args).current_dir(cwd))
}

/// `modelsig-translate ARGS` in `cwd` with extra environment variables.
pub fn translate_env(cwd: &Path, env: &[(&str, &Path)], args: &[&str]) -> Run {
    let mut cmd = Command::new(bin("modelsig-translate"));
    cmd.args(args).current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// `oras-modelsig ARGS` in `cwd`.
pub fn oras(cwd: &Path, args: &[&str]) -> Run {
    run(Command::new(bin("oras-modelsig")).args(args).current_dir(cwd))
}

/// `cosign-modelsig ARGS` in `cwd`, with extra environment and optional standard input.
pub fn cosign_modelsig(cwd: &Path, env: &[(&str, &str)], stdin: Option<&str>, args: &[&str]) -> Run {
    use std::io::Write;
    let mut cmd = Command::new(bin("cosign-modelsig"));
    cmd.args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run cosign-modelsig: {e}"));
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.unwrap_or("").as_bytes());
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `python -m model_signing ARGS` in `cwd`.
pub fn model_signing(cwd: &Path, args: &[&str]) -> Run {
    run(Command::new(python()).args(["-m", "model_signing"]).args(args).current_dir(cwd))
}

/// `openssl ARGS` in `cwd`, which must succeed.
pub fn openssl(cwd: &Path, args: &[&str]) {
    run(Command::new("openssl").args(args).current_dir(cwd)).ok("openssl");
}

/// Key material generated for a test: an EC key pair, and a CA → intermediate → leaf
/// chain whose leaf holds the same key.
pub struct Pki {
    /// Directory holding the files.
    pub dir: PathBuf,
}

impl Pki {
    /// Generates keys and certificates with OpenSSL (`curve`: `P-256` or `P-384`).
    pub fn generate(dir: &Path, curve: &str) -> Pki {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        let ec = |out: &str| {
            openssl(
                dir,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    &format!("ec_paramgen_curve:{curve}"),
                    "-out",
                    out,
                ],
            )
        };
        ec("key.pem");
        openssl(dir, &["pkey", "-in", "key.pem", "-pubout", "-out", "key.pub"]);
        ec("ca.key");
        ec("int.key");
        std::fs::write(
            dir.join("ext.cnf"),
            "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             [leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let days = ["-days", "3650"];
        let root = ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=test root", "-out", "ca.pem"];
        openssl(dir, &[&root[..], &days, &["-extensions", "ca", "-config", "ext.cnf"]].concat());
        let csr = |key: &str, subject: &str, out: &str| {
            openssl(dir, &["req", "-new", "-key", key, "-subj", subject, "-out", out, "-config", "ext.cnf"]);
        };
        let issue = |csr: &str, ca: &str, ca_key: &str, profile: &str, out: &str| {
            let x509 = ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial"];
            openssl(
                dir,
                &[&x509[..], &days, &["-extfile", "ext.cnf", "-extensions", profile, "-out", out]].concat(),
            );
        };
        csr("int.key", "/CN=test intermediate", "int.csr");
        issue("int.csr", "ca.pem", "ca.key", "ca", "int.pem");
        csr("key.pem", "/CN=test signer", "leaf.csr");
        issue("leaf.csr", "int.pem", "int.key", "leaf", "leaf.pem");
        Pki { dir: dir.to_path_buf() }
    }

    /// Path of a generated file (`key.pem`, `key.pub`, `ca.pem`, `int.pem`, `leaf.pem`).
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// Shapes of generated test models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Nested directories, names whose string order differs from path order, an empty file.
    Nested,
    /// A model that is one file.
    SingleFile,
    /// Non-ASCII file and directory names.
    Unicode,
    /// A model with git metadata and a file to leave out with --ignore-paths.
    WithIgnored,
}

/// All shapes.
pub const SHAPES: [Shape; 4] = [Shape::Nested, Shape::SingleFile, Shape::Unicode, Shape::WithIgnored];

fn content(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + seed * 7) % 251) as u8).collect()
}

/// Writes a model of `shape` under `parent` and returns the path to sign (a directory, or
/// the file for [`Shape::SingleFile`]).
pub fn make_model(parent: &Path, shape: Shape) -> PathBuf {
    let root = parent.join("model");
    let w = |rel: &str, data: Vec<u8>| {
        let p = root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&p, data).unwrap_or_else(|e| panic!("{e}"));
    };
    match shape {
        Shape::Nested => {
            w("config.json", br#"{"layers": 2}"#.to_vec());
            w("a/b", content(1, 1000));
            w("a-b", content(2, 10));
            w("a/c/d/weights.bin", content(3, 300_000));
            w("empty", Vec::new());
            w("z/empty2", Vec::new());
        }
        Shape::SingleFile => {
            w("model.safetensors", content(4, 70_000));
            return root.join("model.safetensors");
        }
        Shape::Unicode => {
            w("模型/权重.bin", content(5, 5000));
            w("café.txt", b"cr\xc3\xa8me".to_vec());
            w("Ω/ünïcødé name.json", b"{}".to_vec());
        }
        Shape::WithIgnored => {
            w("weights.bin", content(6, 20_000));
            w("README.md", b"# readme".to_vec());
            w(".git/HEAD", b"ref: refs/heads/main".to_vec());
            w(".gitattributes", b"*.bin filter=lfs".to_vec());
            w("notes/draft.txt", b"not part of the model".to_vec());
        }
    }
    root
}

/// Extra command-line flags a shape needs (its ignore paths), relative to `cwd`.
pub fn shape_flags(shape: Shape) -> Vec<String> {
    match shape {
        Shape::WithIgnored => vec![
            "--ignore-paths".into(),
            "model/notes".into(),
            "--ignore-paths".into(),
            "model/README.md".into(),
        ],
        _ => Vec::new(),
    }
}

/// Flips the lowest bit of the byte at `offset` of a file.
pub fn flip_byte(path: &Path, offset: usize) {
    let mut b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let i = offset % b.len().max(1);
    if b.is_empty() {
        b.push(0);
    } else {
        b[i] ^= 1;
    }
    std::fs::write(path, b).unwrap_or_else(|e| panic!("{e}"));
}

/// Copies a directory tree (files made writable).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.unwrap_or_else(|e| panic!("{e}"));
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("{e}"));
            let mut perm = std::fs::metadata(&dst).unwrap_or_else(|e| panic!("{e}")).permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&dst, perm).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
