//! Keyless (Sigstore) verification of a bundle, fully offline from a trusted root.
//!
//! Follows sigstore-python's `Verifier.verify_dsse` (the code model_signing runs): a
//! verified signing time from the Rekor SET, the Fulcio chain at that time, an embedded
//! SCT from a trusted CT log, key usage digitalSignature + extended key usage codeSigning,
//! the expected identity (SAN) and OIDC issuer (Fulcio extension), the Rekor inclusion
//! proof and checkpoint, the entry body matching the bundle, and the DSSE signature.
//!
//! Why not the `sigstore` crate: 0.15 does not verify Rekor inclusion proofs or SETs
//! (sigstore-rs#285), cannot verify `publicKey` bundles, and pulls aws-lc-rs. These checks
//! are small and are written here on RustCrypto instead.

#[cfg(any(test, feature = "test-services"))]
pub mod fake_sigstore;
#[cfg(feature = "http")]
pub(crate) mod http;
pub(crate) mod rekor;
pub(crate) mod sct;
pub mod signer;
pub(crate) mod timestamp;
pub mod trust_root;

pub use rekor::{TlogError, VerifiedEntry};
pub use sct::{SctError, SctRejected};
pub use timestamp::{TimestampError, TsaRejected};

use crate::crypto::x509::{Cert, EKU_CODE_SIGNING, verify_chain};
use crate::errors::{CertificateProblem, SignatureError};
use crate::formats::bundle::Bundle;
use const_oid::ObjectIdentifier;
use der::Decode;
use trust_root::TrustedRoot;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{KeyUsages, SubjectAltName};

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
    /// Log entry facts.
    pub entry: rekor::VerifiedEntry,
}

/// The DER RFC 3161 timestamps of a bundle.
fn timestamps(bundle: &Bundle) -> Result<Vec<Vec<u8>>, SignatureError> {
    let Some(tvd) = &bundle.verification_material.timestamp_verification_data else {
        return Ok(Vec::new());
    };
    tvd.rfc3161_timestamps
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Ok(crate::formats::bundle::decode_b64(
                &t.signed_timestamp,
                &format!("timestampVerificationData.rfc3161Timestamps[{i}].signedTimestamp"),
            )?)
        })
        .collect()
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

/// Verifies a keyless bundle's signature over `pae` (the DSSE PAE of `payload`).
pub fn verify(
    bundle: &Bundle,
    payload: &[u8],
    pae: &[u8],
    signature: &[u8],
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<KeylessSigner, SignatureError> {
    let certs = bundle.certificates()?;
    let leaf_der = certs
        .first()
        .ok_or_else(|| SignatureError::Material("keyless bundle has no signing certificate".into()))?;
    let leaf = Cert::from_der(leaf_der).map_err(CertificateProblem::from)?;
    let [entry] = bundle.verification_material.tlog_entries.as_slice() else {
        return Err(rekor::TlogError::EntryCount(bundle.verification_material.tlog_entries.len()).into());
    };
    // The log entry's SET makes its integrated time a verified signing time; every RFC 3161
    // timestamp in the bundle must verify too and adds another.
    let require_proof = bundle.media_type != crate::formats::bundle::BUNDLE_MEDIA_TYPES[0];
    let entry = rekor::verify_entry(entry, root, payload, signature, leaf_der, require_proof)?;
    let mut times = vec![entry.integrated_time];
    for (i, ts) in timestamps(bundle)?.iter().enumerate() {
        let t = timestamp::verify_timestamp(ts, signature, root)
            .map_err(|source| SignatureError::Timestamp { index: i, source })?;
        times.push(t);
    }

    let mut path = Vec::new();
    for &t in &times {
        let at = u64::try_from(t).map_err(|_| rekor::TlogError::Invalid("negative signing time"))?;
        let mut anchors = Vec::new();
        let mut intermediates = Vec::new();
        for ca in &root.certificate_authorities {
            if ca.valid_from.is_some_and(|s| t < s) || ca.valid_to.is_some_and(|e| t > e) {
                continue;
            }
            if let Some((last, rest)) = ca.chain.split_last() {
                anchors.push(last.clone());
                intermediates.extend(rest.iter().cloned());
            }
        }
        path = verify_chain(&leaf, &intermediates, &anchors, at).map_err(|source| {
            SignatureError::FulcioChain { at: crate::crypto::x509::fmt_time(at), source: Box::new(source) }
        })?;
    }
    let issuer_cert =
        path.first().ok_or_else(|| SignatureError::from(crate::crypto::x509::CertError::NoAnchors))?;
    sct::verify_embedded_scts(&leaf, issuer_cert, root)?;

    if !leaf.key_usage().is_some_and(|k| k.0.contains(KeyUsages::DigitalSignature)) {
        return Err(CertificateProblem::KeyUsage.into());
    }
    if !leaf.extended_key_usage().is_some_and(|e| e.contains(&EKU_CODE_SIGNING)) {
        return Err(CertificateProblem::ExtKeyUsage.into());
    }
    let identities = san_values(&leaf);
    if !identities.iter().any(|i| i == &policy.identity) {
        return Err(
            CertificateProblem::Identity { expected: policy.identity.clone(), found: identities }.into()
        );
    }
    let issuer = oidc_issuer(&leaf).ok_or(CertificateProblem::NoIssuer)?;
    if issuer != policy.issuer {
        return Err(CertificateProblem::Issuer { expected: policy.issuer.clone(), found: issuer }.into());
    }
    let key = leaf.ec_public_key().map_err(CertificateProblem::from)?;
    if !key.verify(pae, signature) {
        return Err(SignatureError::BadSignature(format!("the certificate of {}", policy.identity)));
    }
    Ok(KeylessSigner { identities, issuer, entry })
}
