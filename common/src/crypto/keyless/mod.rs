//! Keyless (Sigstore): verification of model_signing's keyless bundles, keyless signing
//! (Fulcio, Rekor), trusted roots, and the local test double.
//!
//! Verification follows the Sigstore client specification through the official
//! sigstore-rust `sigstore-verify` crate ([`artifact`]: Fulcio chain at each verified time,
//! SCT, identity and issuer, Rekor v1 and v2 entries, checkpoints, RFC 3161 timestamps),
//! with two strictness checks of our own in front of it (checkpoint signer names, RFC 3161
//! token structure). Ours before it (RustCrypto) stays where that crate has no equivalent:
//! [`rekor`] checks the log entries of key- and certificate-signed cosign attestations
//! (model_signing's `certificate` method has no Fulcio), and [`timestamp`] is the strict
//! token reader. The older `sigstore` (sigstore-rs) crate was not used: 0.x did not verify
//! Rekor inclusion proofs or SETs (sigstore-rs#285).

pub mod artifact;
#[cfg(any(test, feature = "test-services"))]
pub mod fake_sigstore;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod oidc;
pub(crate) mod rekor;
pub mod signer;
pub mod signing_config;
pub(crate) mod timestamp;
pub mod trust_root;
pub mod tuf;

pub use rekor::{TlogError, VerifiedEntry};
pub use timestamp::{TimestampError, TsaRejected};

use crate::crypto::x509::Cert;
use crate::errors::SignatureError;
use crate::formats::bundle::Bundle;
use const_oid::ObjectIdentifier;
use der::Decode;
use trust_root::TrustedRoot;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// Fulcio extension: OIDC issuer (v2, DER UTF8String).
pub const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio extension: OIDC issuer (v1, raw string).
pub const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");

/// Who must have signed.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// Expected SAN (email or URI).
    pub identity: String,
    /// Expected OIDC issuer URL.
    pub issuer: String,
}

/// What was verified about a keyless signature.
#[derive(Debug, Clone)]
pub struct KeylessSigner {
    /// The certificate's identities (SAN values).
    pub identities: Vec<String>,
    /// The OIDC issuer.
    pub issuer: String,
    /// The transparency log's URL (from the trusted root).
    pub log_url: String,
    /// The entry's index in that log.
    pub log_index: Option<i64>,
    /// The first verified signing time (RFC 3339).
    pub signed_at: String,
}

/// SAN values of a certificate (emails, URIs, DNS names).
pub fn san_values(cert: &Cert) -> Vec<String> {
    let Some(v) = cert.extension(const_oid::db::rfc5912::ID_CE_SUBJECT_ALT_NAME) else {
        return Vec::new();
    };
    let Ok(san) = SubjectAltName::from_der(v) else {
        return Vec::new();
    };
    san.0
        .iter()
        .filter_map(|n| match n {
            GeneralName::Rfc822Name(s) => Some(s.to_string()),
            GeneralName::UniformResourceIdentifier(s) => Some(s.to_string()),
            GeneralName::DnsName(s) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

/// The OIDC issuer recorded by Fulcio.
pub fn oidc_issuer(cert: &Cert) -> Option<String> {
    if let Some(v) = cert.extension(OID_ISSUER_V2) {
        return der::asn1::Utf8StringRef::from_der(v).ok().map(|s| s.as_str().to_owned());
    }
    cert.extension(OID_ISSUER_V1).and_then(|v| std::str::from_utf8(v).ok().map(str::to_owned))
}

/// Verifies a keyless model_signing bundle (a DSSE in-toto statement) for `policy`, by the
/// Sigstore client specification through [`artifact::verify_artifact`] (sigstore-verify):
/// Fulcio chain at each verified time, SCT, identity and issuer, Rekor v1 (SET, inclusion
/// proof, checkpoint) or v2 (inclusion proof, signed-note checkpoint, RFC 3161 timestamps)
/// entry matching the bundle, and the DSSE signature. The statement's own subject digest is
/// the artifact it binds to: model_signing compares the statement's resources with the
/// model afterwards, as sigstore-python's `verify_dsse` leaves it to do.
pub fn verify(
    bundle: &Bundle,
    payload: &[u8],
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<KeylessSigner, SignatureError> {
    let statement: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| SignatureError::Statement(format!("not JSON: {e}")))?;
    let subject_hex = statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .ok_or_else(|| SignatureError::Statement("subject[0].digest.sha256 is missing".into()))?;
    let subject: [u8; 32] =
        hex::decode(subject_hex).ok().and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()).ok_or_else(
            || SignatureError::Statement("subject[0].digest.sha256 is not a SHA-256 digest".into()),
        )?;
    let bundle_json =
        String::from_utf8(bundle.to_json()?).map_err(|e| SignatureError::Material(format!("bundle: {e}")))?;
    let verified = artifact::verify_artifact(
        &bundle_json,
        &artifact::Artifact::Sha256(subject),
        &artifact::Signer::Identity { identity: policy.identity.clone(), issuer: policy.issuer.clone() },
        root,
    )?;
    let entry = bundle.verification_material.tlog_entries.first();
    let log_url = entry
        .and_then(|e| crate::formats::bundle::decode_b64(&e.log_id.key_id, "logId.keyId").ok())
        .and_then(|id| root.tlog(&id).map(|l| l.base_url.clone()))
        .unwrap_or_default();
    let signed_at = verified.verified_times.first().cloned().unwrap_or_default();
    Ok(KeylessSigner {
        identities: verified.identity.into_iter().collect(),
        issuer: verified.issuer.unwrap_or_default(),
        log_url,
        log_index: entry.map(|e| e.log_index),
        signed_at,
    })
}
