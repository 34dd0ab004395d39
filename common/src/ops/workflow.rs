//! The user-level operations: compute a manifest, sign a model, verify a model.
//!
//! They follow model_signing's CLI (`model_signing/_cli.py`): ignore paths given on the
//! command line are resolved relative to the model, the signature file is always ignored,
//! and git paths are ignored unless asked not to. Verification takes method, hash
//! algorithm, shard size and ignore list from the signed predicate, adding the command
//! line's ignore paths, so any signature model_signing can produce verifies without flags.

use crate::crypto::signature::{TrustPolicy, verify_bundle};
use crate::crypto::signing::{SigningMaterial, sign_manifest};
use crate::errors::{Error, SourceError};
use crate::formats::bundle::Bundle;
use crate::formats::digest::HashAlgorithm;
use crate::formats::manifest::{Comparison, Manifest, Method, Serialization};
use crate::hashing::model_dir::ignore_list;
use crate::hashing::{Progress, ProgressBar};
use crate::io::write_atomic;
use crate::ops::report::{SignReport, VerifyReport};
use crate::ops::source::{HashRequest, Hashed, ModelRef, ModelSource, open, signed_paths};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options shared by every operation that hashes a model.
#[derive(Debug, Clone)]
pub struct HashOptions {
    /// `--ignore-paths` as given (relative to the current directory, or absolute).
    pub ignore_paths: Vec<PathBuf>,
    /// `--ignore-git-paths` (default) / `--no-ignore-git-paths`.
    pub ignore_git_paths: bool,
    /// `--allow_symlinks`.
    pub allow_symlinks: bool,
    /// Worker threads.
    pub threads: usize,
    /// Hide the progress bar.
    pub quiet: bool,
    /// The most bytes one compressed layer may unpack to (`None`: 100x its compressed
    /// size, at least 64 MiB).
    pub max_unpacked_size: Option<u64>,
}

impl Default for HashOptions {
    fn default() -> Self {
        Self {
            ignore_paths: Vec::new(),
            ignore_git_paths: true,
            allow_symlinks: false,
            threads: crate::hashing::default_threads(),
            quiet: false,
            max_unpacked_size: None,
        }
    }
}

impl HashOptions {
    fn progress(&self) -> impl Fn(u64) -> Box<dyn Progress> + '_ {
        move |total| -> Box<dyn Progress> { Box::new(ProgressBar::for_stderr(total, self.quiet)) }
    }

    /// The ignore list relative to the model root, with `extra` files (the signature).
    fn ignore_list(&self, source: &dyn ModelSource, extra: &[&Path]) -> Vec<String> {
        let mut rel: Vec<String> = Vec::new();
        for p in self.ignore_paths.iter().map(PathBuf::as_path).chain(extra.iter().copied()) {
            if let Some(r) = source.relative_path_of(p) {
                rel.push(r);
            }
        }
        rel.extend(source.implicit_ignores());
        ignore_list(&rel, self.ignore_git_paths)
    }
}

/// How to serialize when signing.
#[derive(Debug, Clone, Copy)]
pub struct SignSerialization {
    /// Files or shards.
    pub method: Method,
    /// Hash algorithm.
    pub hash: HashAlgorithm,
}

impl Default for SignSerialization {
    fn default() -> Self {
        Self { method: Method::Files, hash: HashAlgorithm::Sha256 }
    }
}

/// Hashes a model the way a signature would record it: the chosen serialization, the
/// command line's ignore paths plus `extra_ignored` files, and the git paths.
fn hash_for_signing(
    source: &dyn ModelSource,
    opts: &HashOptions,
    ser: SignSerialization,
    extra_ignored: &[&Path],
) -> Result<Hashed, Error> {
    let serialization = Serialization {
        method: ser.method,
        hash: ser.hash,
        allow_symlinks: opts.allow_symlinks,
        ignore_paths: opts.ignore_list(source, extra_ignored),
    };
    let req = HashRequest {
        serialization,
        only: None,
        signed: None,
        max_unpacked: opts.max_unpacked_size,
        threads: opts.threads,
    };
    Ok(source.hash(&req, &opts.progress())?)
}

/// Computes the manifest model_signing would sign (for `manifest`).
pub fn compute_manifest(
    model: &ModelRef,
    opts: &HashOptions,
    ser: SignSerialization,
) -> Result<Manifest, Error> {
    let source = open(model)?;
    Ok(hash_for_signing(source.as_ref(), opts, ser, &[])?.manifest)
}

/// Signs a model and writes the bundle to `signature` atomically.
pub fn sign_model(
    model: &ModelRef,
    signature: &Path,
    material: &SigningMaterial,
    opts: &HashOptions,
    ser: SignSerialization,
) -> Result<SignReport, Error> {
    let started = Instant::now();
    let source = open(model)?;
    let hashed = hash_for_signing(source.as_ref(), opts, ser, &[signature])?;
    let bundle = sign_manifest(&hashed.manifest, material)?;
    write_atomic(signature, &bundle.to_json())?;
    Ok(SignReport {
        model: model.to_string(),
        signature: signature.display().to_string(),
        resources: hashed.manifest.len(),
        root_digest: hashed.manifest.root_digest().hex(),
        bytes_hashed: hashed.bytes_read,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Reads and parses a signature file. An unreadable file is a usage error; a file that is
/// not a valid bundle is a failed verification.
pub fn read_bundle(signature: &Path) -> Result<Result<Bundle, crate::errors::SignatureError>, Error> {
    let bytes = std::fs::read(signature)
        .map_err(|source| SourceError::Io { path: signature.to_path_buf(), source })?;
    Ok(Bundle::from_json(&bytes, &signature.display().to_string()).map_err(Into::into))
}

/// Verifies a model against a signature. Verification failures are reported in the
/// returned report (with `verified == false`); `Err` means the inputs could not be read.
pub fn verify_model(
    model: &ModelRef,
    signature: Option<&Path>,
    policy: &TrustPolicy,
    opts: &HashOptions,
    ignore_unsigned_files: bool,
) -> Result<VerifyReport, Error> {
    let started = Instant::now();
    let label = signature.map_or_else(|| "attached signature".to_owned(), |p| p.display().to_string());
    let mut report = VerifyReport::new(model.to_string(), label.clone());
    let source = open(model)?;
    let parsed = match signature {
        Some(p) => read_bundle(p)?,
        None => {
            let bytes = source.attached_signature()?.ok_or_else(|| {
                Error::Usage(format!("{model}: no signature is attached to this model; pass --signature"))
            })?;
            Bundle::from_json(&bytes, &label).map_err(Into::into)
        }
    };
    let bundle = match parsed {
        Ok(b) => b,
        Err(e) => return Ok(report.failed(e.to_string(), started)),
    };
    let verified = match verify_bundle(&bundle, policy) {
        Ok(v) => v,
        Err(e) => return Ok(report.failed(e.to_string(), started)),
    };
    report.signer = Some(verified.signer.clone());
    report.predicate_type = Some(verified.predicate_type.clone());
    let signed = &verified.manifest;
    report.serialization = Some(signed.serialization.to_json());

    let mut ignore = opts.ignore_list(source.as_ref(), &signature.into_iter().collect::<Vec<_>>());
    crate::hashing::model_dir::add_ignores(
        &mut ignore,
        signed.serialization.ignore_paths.iter().map(String::as_str),
    );
    let serialization = Serialization {
        allow_symlinks: signed.serialization.allow_symlinks || opts.allow_symlinks,
        ignore_paths: ignore,
        ..signed.serialization.clone()
    };
    let only = ignore_unsigned_files.then(|| signed_paths(signed));
    let req = HashRequest {
        serialization,
        only,
        signed: Some(signed_paths(signed).into_iter().collect()),
        max_unpacked: opts.max_unpacked_size,
        threads: opts.threads,
    };
    let hashed = source.hash(&req, &opts.progress())?;
    let comparison: Comparison = hashed.compare(signed);
    report.bytes_hashed = hashed.bytes_read;
    Ok(report.with_comparison(comparison, started))
}
