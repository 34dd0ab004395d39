//! X.509 certificates: parsing, signature checks and chain building (RFC 5280 §6, the
//! subset model_signing relies on through OpenSSL's `X509StoreContext`).
//!
//! A chain is built from the leaf through the bundle's intermediates to a certificate of
//! the trust store, checking at a given time each certificate's validity period, each
//! signature (ECDSA P-256/384/521 or RSA PKCS#1 v1.5 with SHA-256/384/512), and that every
//! issuer is a CA allowed to sign certificates.

use crate::keys::PublicKey;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::{Decode, Encode};
use rsa::pkcs8::DecodePublicKey as _;
use sha2::Digest as _;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};

/// Extended key usage: code signing.
pub const EKU_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// A parsed certificate with its DER bytes.
#[derive(Debug, Clone)]
pub struct Cert {
    der: Vec<u8>,
    cert: x509_cert::Certificate,
}

impl PartialEq for Cert {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Cert {
    /// Parses DER.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let cert =
            x509_cert::Certificate::from_der(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
        Ok(Self { der: der.to_vec(), cert })
    }

    /// Parses every CERTIFICATE block of a PEM text.
    pub fn from_pem_chain(text: &[u8]) -> Result<Vec<Self>, String> {
        let certs =
            x509_cert::Certificate::load_pem_chain(text).map_err(|e| format!("bad PEM certificate: {e}"))?;
        certs
            .into_iter()
            .map(|cert| {
                let der = cert.to_der().map_err(|e| e.to_string())?;
                Ok(Self { der, cert })
            })
            .collect()
    }

    /// DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed structure.
    pub fn inner(&self) -> &x509_cert::Certificate {
        &self.cert
    }

    /// Subject as an RFC 4514 string.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// SHA-256 fingerprint, hex.
    pub fn fingerprint(&self) -> String {
        hex::encode(sha2::Sha256::digest(&self.der))
    }

    /// `notBefore` as seconds since the epoch.
    pub fn not_before(&self) -> u64 {
        self.cert.tbs_certificate.validity.not_before.to_unix_duration().as_secs()
    }

    /// `notAfter` as seconds since the epoch.
    pub fn not_after(&self) -> u64 {
        self.cert.tbs_certificate.validity.not_after.to_unix_duration().as_secs()
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Result<Vec<u8>, String> {
        self.cert.tbs_certificate.subject_public_key_info.to_der().map_err(|e| e.to_string())
    }

    /// The subject's EC public key (the only kind that signs model signatures).
    pub fn ec_public_key(&self) -> Result<PublicKey, String> {
        PublicKey::from_spki_der(&self.spki_der()?, "certificate public key").map_err(|e| e.to_string())
    }

    /// The raw value of an extension.
    pub fn extension(&self, oid: ObjectIdentifier) -> Option<&[u8]> {
        self.cert
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }

    fn basic_constraints_ca(&self) -> bool {
        self.extension(rfc5912::ID_CE_BASIC_CONSTRAINTS)
            .and_then(|v| BasicConstraints::from_der(v).ok())
            .is_some_and(|b| b.ca)
    }

    /// Key usage flags, if the extension is present.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.extension(rfc5912::ID_CE_KEY_USAGE).and_then(|v| KeyUsage::from_der(v).ok())
    }

    /// Extended key usages, if the extension is present.
    pub fn extended_key_usage(&self) -> Option<Vec<ObjectIdentifier>> {
        self.extension(rfc5912::ID_CE_EXT_KEY_USAGE)
            .and_then(|v| ExtendedKeyUsage::from_der(v).ok())
            .map(|e| e.0)
    }

    /// May this certificate sign model signatures (model_signing's rule: key usage
    /// digitalSignature, or else extended key usage codeSigning)?
    pub fn can_sign_code(&self) -> bool {
        if self.key_usage().is_some_and(|k| k.0.contains(KeyUsages::DigitalSignature)) {
            return true;
        }
        self.extended_key_usage().is_some_and(|e| e.contains(&EKU_CODE_SIGNING))
    }

    /// The DER of the to-be-signed part exactly as it appears in the certificate.
    pub fn tbs_raw(&self) -> Result<&[u8], String> {
        let outer = der_element(&self.der).ok_or("truncated certificate")?;
        let (hdr, _) = outer;
        let body = &self.der[hdr..];
        let (tbs_hdr, tbs_len) = der_element(body).ok_or("truncated TBSCertificate")?;
        body.get(..tbs_hdr + tbs_len).ok_or_else(|| "truncated TBSCertificate".to_owned())
    }

    /// Checks that `issuer`'s key made this certificate's signature.
    pub fn verify_signed_by(&self, issuer: &Cert) -> Result<(), String> {
        // RFC 5280 §4.1.1.2: the unsigned outer algorithm must equal the signed inner one.
        if self.cert.signature_algorithm != self.cert.tbs_certificate.signature {
            return Err("signatureAlgorithm differs from the TBSCertificate's signature field".into());
        }
        let tbs = self.tbs_raw()?;
        let sig = self.cert.signature.raw_bytes();
        let alg = self.cert.signature_algorithm.oid;
        verify_with_spki(&issuer.spki_der()?, alg, tbs, sig)
    }

    fn valid_at(&self, t: u64) -> bool {
        self.not_before() <= t && t <= self.not_after()
    }
}

/// Verifies a signature by algorithm OID with a SubjectPublicKeyInfo (EC or RSA).
pub fn verify_with_spki(spki: &[u8], alg: ObjectIdentifier, msg: &[u8], sig: &[u8]) -> Result<(), String> {
    let digest: Vec<u8> = match alg {
        rfc5912::ECDSA_WITH_SHA_256 | rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
            sha2::Sha256::digest(msg).to_vec()
        }
        rfc5912::ECDSA_WITH_SHA_384 | rfc5912::SHA_384_WITH_RSA_ENCRYPTION => {
            sha2::Sha384::digest(msg).to_vec()
        }
        rfc5912::ECDSA_WITH_SHA_512 | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            sha2::Sha512::digest(msg).to_vec()
        }
        other => return Err(format!("unsupported signature algorithm {other}")),
    };
    let is_rsa = matches!(
        alg,
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION
            | rfc5912::SHA_384_WITH_RSA_ENCRYPTION
            | rfc5912::SHA_512_WITH_RSA_ENCRYPTION
    );
    if is_rsa {
        let key = rsa::RsaPublicKey::from_public_key_der(spki)
            .map_err(|e| format!("issuer key is not RSA: {e}"))?;
        let scheme = match alg {
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        };
        key.verify(scheme, &digest, sig).map_err(|_| "RSA signature does not verify".to_owned())
    } else {
        let key = PublicKey::from_spki_der(spki, "issuer key").map_err(|e| e.to_string())?;
        if key.verify_prehash(&digest, sig) { Ok(()) } else { Err("ECDSA signature does not verify".into()) }
    }
}

/// Header length and content length of the DER element at the start of `b`.
fn der_element(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some((2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | *b.get(2 + i)? as usize;
    }
    Some((2 + n, len))
}

/// Builds and checks a chain from `leaf` to one of `anchors` at time `at` (seconds since
/// the epoch). `intermediates` are untrusted helpers (from the bundle). Returns the path
/// after the leaf, ending at the anchor.
pub fn verify_chain(
    leaf: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    at: u64,
) -> Result<Vec<Cert>, String> {
    if anchors.is_empty() {
        return Err("no trusted certificates given".into());
    }
    if !leaf.valid_at(at) {
        return Err(format!(
            "certificate `{}` is not valid at {} (valid {}..{})",
            leaf.subject(),
            fmt_time(at),
            fmt_time(leaf.not_before()),
            fmt_time(leaf.not_after())
        ));
    }
    let mut path: Vec<Cert> = Vec::new();
    let mut current = leaf.clone();
    for _depth in 0..8 {
        if anchors.contains(&current) {
            return Ok(path);
        }
        let issuer_name = &current.cert.tbs_certificate.issuer;
        let mut last_problem =
            format!("no issuer `{issuer_name}` of `{}` among the given certificates", current.subject());
        let mut found = None;
        for (cand, trusted) in
            anchors.iter().map(|c| (c, true)).chain(intermediates.iter().map(|c| (c, false)))
        {
            if *cand == current || &cand.cert.tbs_certificate.subject != issuer_name || path.contains(cand) {
                continue;
            }
            if let Err(e) = current.verify_signed_by(cand) {
                last_problem = format!("`{}` is not signed by `{}`: {e}", current.subject(), cand.subject());
                continue;
            }
            if !cand.basic_constraints_ca() {
                last_problem = format!("issuer `{}` is not a CA (basicConstraints)", cand.subject());
                continue;
            }
            if cand.key_usage().is_some_and(|k| !k.0.contains(KeyUsages::KeyCertSign)) {
                last_problem = format!("issuer `{}` may not sign certificates (keyUsage)", cand.subject());
                continue;
            }
            if !cand.valid_at(at) {
                last_problem = format!("issuer `{}` is not valid at {}", cand.subject(), fmt_time(at));
                continue;
            }
            found = Some((cand.clone(), trusted));
            break;
        }
        let Some((issuer, trusted)) = found else {
            return Err(last_problem);
        };
        path.push(issuer.clone());
        if trusted {
            return Ok(path);
        }
        current = issuer;
    }
    Err("certificate chain is too long".into())
}

/// Formats seconds since the epoch as RFC 3339.
pub fn fmt_time(t: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t as i64)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}
