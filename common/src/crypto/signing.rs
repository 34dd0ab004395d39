//! Signing a manifest into a Sigstore bundle, as model_signing's key and certificate
//! signers do (`_signing/sign_ec_key.py`, `sign_certificate.py`): the in-toto statement is
//! the DSSE payload, the signature is ECDSA over its PAE, and the bundle's verification
//! material is the key hint or the certificate chain (leaf first), with no log entries.

use crate::crypto::keyless::signer::{IdentityToken, Services, Transport, sign_keyless};
use crate::crypto::keyless::trust_root::TrustedRoot;
use crate::crypto::keys::PrivateKey;
use crate::crypto::x509::Cert;
use crate::errors::{Error, KeyError};
use crate::formats::bundle::{
    BUNDLE_V03, Bundle, CertificateChain, PublicKeyIdentifier, RawBytes, VerificationMaterial,
};
use crate::formats::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, pae};
use crate::formats::manifest::Manifest;
use crate::formats::predicate::statement_for;
use std::path::{Path, PathBuf};

/// The private key and what the bundle says about it.
pub enum SigningMaterial {
    /// A bare key: the bundle carries its hint.
    Key(PrivateKey),
    /// A key with its certificate and chain: the bundle carries the chain.
    Certificate {
        /// The signing key.
        key: PrivateKey,
        /// Leaf first, then the chain as given.
        chain: Vec<Cert>,
    },
    /// Sigstore keyless: an ephemeral key certified by Fulcio, logged in Rekor.
    Keyless {
        /// The OIDC identity.
        token: IdentityToken,
        /// Fulcio and Rekor URLs.
        services: Services,
        /// How to reach them.
        transport: Box<dyn Transport>,
        /// The root the result must verify against.
        root: Box<TrustedRoot>,
    },
}

impl SigningMaterial {
    /// Loads a private key file.
    pub fn key(path: &Path, password: Option<&str>) -> Result<Self, KeyError> {
        Ok(Self::Key(PrivateKey::from_pem_file(path, password)?))
    }

    /// Loads a key, its certificate and chain files; the certificate must hold the key's
    /// public half.
    pub fn certificate(
        key: &Path,
        certificate: &Path,
        chain: &[PathBuf],
        password: Option<&str>,
    ) -> Result<Self, KeyError> {
        let key = PrivateKey::from_pem_file(key, password)?;
        let load = |p: &Path| -> Result<Vec<Cert>, KeyError> {
            let text = std::fs::read(p).map_err(|source| KeyError::Io { path: p.to_path_buf(), source })?;
            Cert::from_pem_chain(&text)
                .map_err(|e| KeyError::Certificate { what: p.display().to_string(), source: Box::new(e) })
        };
        let mut certs = load(certificate)?;
        if certs.len() != 1 {
            return Err(KeyError::invalid(
                certificate.display().to_string(),
                format!("expected one signing certificate, found {}", certs.len()),
            ));
        }
        let leaf_key = certs[0].ec_public_key().map_err(|e| KeyError::Certificate {
            what: certificate.display().to_string(),
            source: Box::new(e),
        })?;
        if &leaf_key != key.public_key() {
            return Err(KeyError::invalid(
                certificate.display().to_string(),
                "the certificate's public key does not match the private key",
            ));
        }
        for p in chain {
            certs.extend(load(p)?);
        }
        Ok(Self::Certificate { key, chain: certs })
    }
}

/// Signs a manifest; returns the bundle.
pub fn sign_manifest(manifest: &Manifest, material: &SigningMaterial) -> Result<Bundle, Error> {
    sign_payload(&statement_for(manifest).to_payload()?, material)
}

/// Signs any in-toto statement payload into a DSSE bundle.
pub fn sign_payload(payload: &[u8], material: &SigningMaterial) -> Result<Bundle, Error> {
    let payload = payload.to_vec();
    let (key, verification_material) = match material {
        SigningMaterial::Keyless { token, services, transport, root } => {
            return Ok(sign_keyless(&payload, token, services, transport.as_ref(), root)?);
        }
        SigningMaterial::Key(k) => (
            k,
            VerificationMaterial {
                public_key: Some(PublicKeyIdentifier {
                    hint: Some(k.public_key().hint()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
        SigningMaterial::Certificate { key, chain } => (
            key,
            VerificationMaterial {
                x509_certificate_chain: Some(CertificateChain {
                    certificates: chain.iter().map(|c| RawBytes::new(c.der())).collect(),
                }),
                ..Default::default()
            },
        ),
    };
    let signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload))?;
    Ok(Bundle {
        media_type: BUNDLE_V03.to_owned(),
        verification_material,
        dsse_envelope: Some(Envelope::new(IN_TOTO_PAYLOAD_TYPE, &payload, &signature)),
        message_signature: None,
    })
}
