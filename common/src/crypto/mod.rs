//! Keys and signatures: key files (PEM, PKCS#8, SEC1, cosign), X.509 chains (RFC 5280),
//! Sigstore keyless material (Fulcio, Rekor, RFC 3161 timestamps, the trusted root), and
//! the two directions of a model signature: [`signing`] makes a bundle from a manifest,
//! [`signature`] verifies a bundle and yields the signed manifest.

pub mod cosign_key;
pub mod keyless;
pub mod keys;
pub mod signature;
pub mod signing;
pub mod trust;
pub mod x509;
