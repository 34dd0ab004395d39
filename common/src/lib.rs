//! `modelsig-common`: everything the modelsig-oci binaries share.
//!
//! Formats (Sigstore bundle, DSSE, in-toto Statement v1, the model_signing predicates),
//! the hashing engine, key and certificate handling, keyless (Sigstore) verification, and
//! the high-level sign / verify operations used by `modelsig-translate`, `oras-modelsig`
//! and `cosign-modelsig`.
#![deny(missing_docs)]

pub mod bundle;
pub mod cosign;
pub mod digest;
pub mod dsse;
pub mod errors;
pub mod fuzz_entry;
pub mod hashing;
pub mod intoto;
pub mod keyless;
pub mod keys;
pub mod layer_stream;
pub mod manifest;
pub mod model_dir;
pub mod modelkit;
pub mod modelpack;
pub mod oci;
pub mod pack;
pub mod packaged;
pub mod parallel;
pub mod predicate;
pub mod referrer;
#[cfg(feature = "http")]
pub mod registry;
pub mod report;
pub mod signing;
pub mod source;
pub mod tar_archive;
pub mod verifying;
pub mod workflow;
pub mod x509;

#[cfg(feature = "cli")]
pub mod cli;
