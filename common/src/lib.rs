//! `modelsig-common`: everything the modelsig-oci binaries share.
//!
//! Formats (Sigstore bundle, DSSE, in-toto Statement v1, the model_signing predicates),
//! the hashing engine, key and certificate handling, keyless (Sigstore) verification, and
//! the high-level sign / verify operations used by `modelsig-translate`, `oras-modelsig`
//! and `cosign-modelsig`.
#![deny(missing_docs)]

pub mod attest;
pub mod crypto;
pub mod errors;
pub mod formats;
pub mod fuzz_entry;
pub mod hashing;
pub mod io;
pub mod oci;
pub mod ops;
pub mod packaging;
#[cfg(feature = "http")]
pub mod registry;

#[cfg(feature = "cli")]
pub mod cli;

pub use crypto::signature::TrustPolicy;
pub use crypto::signing::SigningMaterial;
pub use errors::Error;
pub use hashing::source::{HashOptions, LayerTrust, ModelSource};
#[cfg(feature = "http")]
pub use ops::remote::{PullReport, RemoteVerifyOptions, pull, verify_remote};
pub use ops::report::{OutputFormat, SignReport, VerifyReport};
pub use ops::sign::{SignSerialization, compute_manifest, sign_model};
pub use ops::source::ModelRef;
pub use ops::verify::{VerifyOptions, check_files, verify, verify_model};
#[cfg(feature = "http")]
pub use registry::{Client, ClientOptions, Reference};
