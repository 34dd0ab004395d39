//! cosign attestations of models: the in-toto statement whose subject is the OCI manifest
//! digest ([`cosign`]), stored in registries the two ways cosign does (a Sigstore bundle
//! referrer, or the legacy `sha256-<hex>.att` tag) and verified as `cosign
//! verify-attestation` does, then checked file by file ([`registry`]).

pub mod cosign;
#[cfg(feature = "http")]
pub mod discover;
#[cfg(feature = "http")]
pub mod registry;
