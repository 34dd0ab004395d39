//! Verifying a Sigstore bundle into the manifest it signs.
//!
//! The three model_signing verification methods (`_signing/sign_ec_key.py`,
//! `sign_certificate.py`, `sign_sigstore.py`): a public key (matched against the bundle's
//! key hint), a certificate chain (leaf checked at its `notBefore` against the given trust
//! anchors, as model_signing does with OpenSSL), or Sigstore keyless (see [`crate::crypto::keyless`]).
//! The payload must be an in-toto statement; its predicate becomes the expected manifest.

use crate::crypto::keyless::{self, IdentityPolicy, trust_root::TrustedRoot};
use crate::crypto::keys::PublicKey;
use crate::crypto::x509::{Cert, verify_chain};
use crate::errors::{CertificateProblem, SignatureError};
use crate::formats::bundle::Bundle;
use crate::formats::dsse::{IN_TOTO_PAYLOAD_TYPE, pae, pae_compat_v02};
use crate::formats::manifest::Manifest;
use crate::formats::predicate::manifest_from_payload;
use serde::Serialize;

/// What the signature must chain to.
#[derive(Debug, Clone)]
pub enum TrustPolicy {
    /// A known public key.
    Key(PublicKey),
    /// Certificates trusted as anchors.
    Certificate {
        /// Trust anchors.
        anchors: Vec<Cert>,
    },
    /// Sigstore keyless.
    Sigstore {
        /// Fulcio / Rekor / CT roots.
        root: Box<TrustedRoot>,
        /// Expected signer.
        identity: IdentityPolicy,
    },
}

/// Who signed, as established by verification.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Signer {
    /// Key signing.
    Key {
        /// Curve and key hint.
        key: String,
    },
    /// Certificate signing.
    Certificate {
        /// Leaf subject.
        subject: String,
        /// Leaf sha256 fingerprint.
        fingerprint: String,
        /// Subjects of the chain up to the anchor.
        chain: Vec<String>,
    },
    /// Sigstore keyless.
    Sigstore {
        /// Certificate identities.
        identities: Vec<String>,
        /// OIDC issuer.
        issuer: String,
        /// Rekor URL.
        log: String,
        /// Rekor log index.
        log_index: i64,
        /// Verified signing time (RFC 3339).
        signed_at: String,
    },
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Key { key } => write!(f, "{key}"),
            Signer::Certificate { subject, fingerprint, .. } => {
                write!(f, "certificate `{subject}` (sha256 {})", &fingerprint[..16.min(fingerprint.len())])
            }
            Signer::Sigstore { identities, issuer, log_index, signed_at, .. } => {
                write!(f, "{} via {issuer}, Rekor entry {log_index} at {signed_at}", identities.join(", "))
            }
        }
    }
}

/// A verified signature and the manifest it vouches for.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    /// The signed manifest.
    pub manifest: Manifest,
    /// The signer.
    pub signer: Signer,
    /// The statement's predicate type.
    pub predicate_type: String,
}

fn verify_key_compat(key: &PublicKey, payload: &[u8], signature: &[u8], sha256_compat: bool) -> bool {
    if key.verify(&pae(IN_TOTO_PAYLOAD_TYPE, payload), signature) {
        return true;
    }
    // model_signing 0.2 signed a malformed PAE; its verifiers still accept it.
    let compat = pae_compat_v02(IN_TOTO_PAYLOAD_TYPE, payload);
    if sha256_compat { key.verify_sha256(&compat, signature) } else { key.verify(&compat, signature) }
}

/// Verifies a bundle against a trust policy and returns the signed manifest.
pub fn verify_bundle(bundle: &Bundle, policy: &TrustPolicy) -> Result<VerifiedSignature, SignatureError> {
    let (payload, signer) = verify_signed_payload(bundle, policy)?;
    let manifest = manifest_from_payload(&payload)?;
    let predicate_type = serde_json::from_slice::<serde_json::Value>(&payload)
        .ok()
        .and_then(|v| v["predicateType"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(VerifiedSignature { manifest, signer, predicate_type })
}

/// Verifies a bundle's DSSE signature against a trust policy and returns the signed
/// in-toto payload (whatever its predicate) and the signer.
pub fn verify_signed_payload(
    bundle: &Bundle,
    policy: &TrustPolicy,
) -> Result<(Vec<u8>, Signer), SignatureError> {
    if bundle.message_signature.is_some() && bundle.dsse_envelope.is_none() {
        return Err(SignatureError::Material(
            "bundle holds a message signature, not a DSSE envelope: not a model signature".into(),
        ));
    }
    let envelope = bundle.envelope()?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(SignatureError::Statement(format!(
            "DSSE payload type is `{}`, expected `{IN_TOTO_PAYLOAD_TYPE}`",
            envelope.payload_type
        )));
    }
    let payload = envelope.payload_bytes()?;
    let signature = envelope.single_signature()?;
    let vm = &bundle.verification_material;
    let signer = match policy {
        TrustPolicy::Key(key) => {
            if let Some(pk) = &vm.public_key {
                if let Some(hint) = pk.hint.as_deref().filter(|h| !h.is_empty())
                    && hint != key.hint()
                {
                    return Err(SignatureError::KeyMismatch(format!(
                        "the signature names key {hint}, the given public key is {}",
                        key.hint()
                    )));
                }
                if let Some(details) = pk.key_details.as_deref()
                    && details != key.curve().key_details()
                {
                    return Err(SignatureError::KeyMismatch(format!(
                        "the signature names a {details} key, the given key is {}",
                        key.curve().key_details()
                    )));
                }
                if let Some(raw) = &pk.raw_bytes {
                    let pem =
                        crate::formats::bundle::decode_b64(raw, "verificationMaterial.publicKey.rawBytes")?;
                    let embedded = PublicKey::from_pem(&pem, "the signature's public key")
                        .map_err(|e| SignatureError::Material(e.to_string()))?;
                    if &embedded != key {
                        return Err(SignatureError::KeyMismatch(
                            "the signature carries a different public key than the one given".into(),
                        ));
                    }
                }
            }
            if !verify_key_compat(key, &payload, &signature, false) {
                return Err(SignatureError::BadSignature(key.describe()));
            }
            Signer::Key { key: key.describe() }
        }
        TrustPolicy::Certificate { anchors } => {
            let ders = bundle.certificates()?;
            let certs: Vec<Cert> = ders
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    Cert::from_der(d)
                        .map_err(|e| SignatureError::BundleCertificate { index: i, source: Box::new(e) })
                })
                .collect::<Result<_, _>>()?;
            let (leaf, rest) = certs
                .split_first()
                .ok_or_else(|| SignatureError::Material("the signature has no certificate chain".into()))?;
            // model_signing checks the chain at the leaf's notBefore (OpenSSL store time).
            let path = verify_chain(leaf, rest, anchors, leaf.not_before())?;
            if !leaf.can_sign_code() {
                return Err(CertificateProblem::CodeSigning.into());
            }
            let key = leaf.ec_public_key().map_err(CertificateProblem::from)?;
            if !verify_key_compat(&key, &payload, &signature, true) {
                return Err(SignatureError::BadSignature(format!(
                    "the key of certificate `{}`",
                    leaf.subject()
                )));
            }
            Signer::Certificate {
                subject: leaf.subject(),
                fingerprint: leaf.fingerprint(),
                chain: path.iter().map(Cert::subject).collect(),
            }
        }
        TrustPolicy::Sigstore { root, identity } => {
            let s = keyless::verify(bundle, &payload, root, identity)?;
            Signer::Sigstore {
                identities: s.identities,
                issuer: s.issuer,
                log: s.log_url,
                log_index: s.log_index.unwrap_or_default(),
                signed_at: s.signed_at,
            }
        }
    };
    Ok((payload, signer))
}
