//! Signing a model, as `model_signing sign` does: hash the model with the chosen
//! serialization (ignore paths resolved against the model, the signature file and git
//! paths left out), sign the manifest, write the bundle atomically.

use crate::crypto::signing::{SigningMaterial, sign_manifest};
use crate::errors::Error;
use crate::formats::digest::HashAlgorithm;
use crate::formats::manifest::{Manifest, Method, Serialization};
use crate::hashing::source::{HashOptions, HashRequest, Hashed, ModelSource};
use crate::io::write_atomic;
use crate::ops::report::SignReport;
use crate::ops::source::{ModelRef, open};
use std::path::Path;
use std::time::Instant;

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
    model: &ModelRef,
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
        model_root: opts.model_root.clone(),
        layers: model.layer_trust(),
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
    Ok(hash_for_signing(model, source.as_ref(), opts, ser, &[])?.manifest)
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
    let hashed = hash_for_signing(model, source.as_ref(), opts, ser, &[signature])?;
    let bundle = sign_manifest(&hashed.manifest, material)?;
    write_atomic(signature, &bundle.to_json()?)?;
    Ok(SignReport {
        model: model.to_string(),
        signature: signature.display().to_string(),
        resources: hashed.manifest.len(),
        root_digest: hashed.manifest.root_digest().hex(),
        bytes_hashed: hashed.bytes_read,
        model_root: source.model_root(),
        seconds: started.elapsed().as_secs_f64(),
    })
}
