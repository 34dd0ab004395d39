//! The one verification pipeline, for every place a model lives (directory, OCI layout,
//! KitOps storage, registry) and every way its signature arrives (a `model.sig`, an
//! attached referrer, a cosign attestation):
//!
//! 1. the signature: [`crate::crypto::signature::verify_bundle`] checks the bundle under a
//!    [`TrustPolicy`] and yields the signed manifest (attestations: `attest::registry`);
//! 2. the files: [`check_files`] hashes the source with the parameters the signed
//!    predicate records (method, hash, shard size, ignore paths, symlinks), plus the
//!    command line's ignore paths, and compares.
//!
//! A failed check is a [`VerifyReport`] with `verified == false`; `Err` means the inputs
//! could not be read. How packaged layers are trusted is a [`LayerTrust`] value in the
//! options, chosen by the caller (local layouts stream every blob; registries are
//! content-addressed).

use crate::crypto::signature::{TrustPolicy, verify_bundle};
use crate::errors::{Error, SourceError};
use crate::formats::bundle::{Bundle, read_bundle};
use crate::formats::manifest::{Manifest, Serialization};
use crate::hashing::source::{HashOptions, HashRequest, LayerTrust, ModelSource, signed_paths};
use crate::ops::report::VerifyReport;
use crate::ops::source::{ModelRef, open};
use std::path::Path;
use std::time::Instant;

/// How to check a model's files against a signed manifest.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Ignore paths, threads, limits.
    pub hash: HashOptions,
    /// How packaged layers are trusted.
    pub layers: LayerTrust,
    /// Tolerate files that were not signed (`--ignore_unsigned_files`).
    pub ignore_unsigned_files: bool,
}

/// The serialization to hash with: the signed predicate's, with its ignore list extended
/// by the command line's (resolved by the source) and `extra` local files.
pub fn serialization_for(
    source: &dyn ModelSource,
    signed: &Manifest,
    hash: &HashOptions,
    extra: &[&Path],
) -> Serialization {
    let mut ignore = hash.ignore_list(source, extra);
    crate::hashing::model_dir::add_ignores(
        &mut ignore,
        signed.serialization.ignore_paths.iter().map(String::as_str),
    );
    Serialization {
        allow_symlinks: signed.serialization.allow_symlinks || hash.allow_symlinks,
        ignore_paths: ignore,
        ..signed.serialization.clone()
    }
}

/// Stage 2 of the pipeline: hashes `source` as `signed` prescribes and compares. Content
/// that proves tampering (a blob that does not match its digest, a refused tar entry, a
/// limit reached) fails the report; unreadable input is `Err`.
pub fn check_files(
    source: &dyn ModelSource,
    signed: &Manifest,
    opts: &VerifyOptions,
    extra_ignored: &[&Path],
    mut report: VerifyReport,
    started: Instant,
) -> Result<VerifyReport, Error> {
    report.serialization = Some(signed.serialization.to_json());
    // model_signing names the only resource of a single-file model `.`: the source's one
    // file is checked as it, whatever its name in the artifact.
    let single = signed_paths(signed) == ["."];
    let req = HashRequest {
        serialization: serialization_for(source, signed, &opts.hash, extra_ignored),
        only: (opts.ignore_unsigned_files && !single).then(|| signed_paths(signed)),
        signed: (!single).then(|| signed_paths(signed).into_iter().collect()),
        max_unpacked: opts.hash.max_unpacked_size,
        model_root: opts.hash.model_root.clone(),
        layers: opts.layers,
        threads: opts.hash.threads,
    };
    let hashed = match source.hash(&req, &opts.hash.progress()) {
        Ok(h) => h,
        Err(SourceError::Oci(e)) if e.is_tampering() => return Ok(report.failed(e.to_string(), started)),
        Err(e) => return Err(e.into()),
    };
    let hashed = if single { hashed.as_single_file() } else { hashed };
    report.bytes_hashed = hashed.bytes_read;
    report.model_root = source.model_root();
    Ok(report.with_comparison(hashed.compare(signed), started))
}

/// The whole pipeline for one source and one bundle: the signature, then the files.
/// `signature_file` is left out of the manifest when it lies inside the model.
pub fn verify(
    source: &dyn ModelSource,
    bundle: &Bundle,
    policy: &TrustPolicy,
    opts: &VerifyOptions,
    signature_file: Option<&Path>,
    mut report: VerifyReport,
) -> Result<VerifyReport, Error> {
    let started = Instant::now();
    let verified = match verify_bundle(bundle, policy) {
        Ok(v) => v,
        Err(e) => return Ok(report.failed(e.to_string(), started)),
    };
    report.signer = Some(verified.signer.clone());
    report.predicate_type = Some(verified.predicate_type.clone());
    let extra: Vec<&Path> = signature_file.into_iter().collect();
    check_files(source, &verified.manifest, opts, &extra, report, started)
}

/// Verifies a model reference against a signature file, or against the signature attached
/// to it (layouts) when `signature` is `None`.
pub fn verify_model(
    model: &ModelRef,
    signature: Option<&Path>,
    policy: &TrustPolicy,
    hash: &HashOptions,
    ignore_unsigned_files: bool,
) -> Result<VerifyReport, Error> {
    let started = Instant::now();
    let label = signature.map_or_else(|| "attached signature".to_owned(), |p| p.display().to_string());
    let report = VerifyReport::new(model.to_string(), label.clone());
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
    let opts = VerifyOptions {
        hash: hash.clone(),
        layers: if hash.verify_layer_digests { model.layer_trust() } else { model.layer_trust_for_verify() },
        ignore_unsigned_files,
    };
    verify(source.as_ref(), &bundle, policy, &opts, signature, report)
}
