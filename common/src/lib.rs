//! `modelsig-common`: one model_signing signature for models wherever they live — a
//! directory, an OCI image layout (CNCF ModelPack, KitOps ModelKit, ORAS artifacts), KitOps
//! storage, an OCI registry — and the library behind `modelsig-translate`, `oras-modelsig`
//! and `cosign-modelsig`.
//!
//! The layers, bottom up (see `docs/ARCHITECTURE.md`): [`formats`] (bundle, DSSE,
//! in-toto, the model_signing predicate and manifest), [`crypto`] (keys, X.509, Sigstore,
//! signing and verifying bundles, trust material), [`hashing`] (files, shards, the
//! `ModelSource` trait), [`oci`] (image-spec types, ModelPack/ModelKit, the strict tar
//! reader), [`packaging`] (packaged models as sources; packing), [`registry`] (the
//! distribution client), [`ops`] (sign, the one verification pipeline, verified pull),
//! [`attest`] (cosign attestations).
//!
//! ```no_run
//! use modelsig_common::{HashOptions, ModelRef, TrustPolicy, verify_model};
//! use modelsig_common::crypto::keys::PublicKey;
//! use std::path::Path;
//!
//! # fn main() -> Result<(), modelsig_common::Error> {
//! // A ModelKit in an OCI layout, checked against a model.sig made on the unpacked
//! // directory by `model_signing sign key` — without unpacking it.
//! let policy = TrustPolicy::Key(PublicKey::from_pem_file(Path::new("key.pub"))?);
//! let report = verify_model(
//!     &ModelRef::parse("oci:./layout:v1"),
//!     Some(Path::new("model.sig")),
//!     &policy,
//!     &HashOptions::default(),
//!     false,
//! )?;
//! println!("{}", report.render(modelsig_common::OutputFormat::Text));
//! std::process::exit(report.exit_code());
//! # }
//! ```
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
