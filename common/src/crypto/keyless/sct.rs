//! Embedded Signed Certificate Timestamps (RFC 6962 §3.2–3.3).
//!
//! A Fulcio certificate carries the CT log's promise (SCT) over the *precertificate*: the
//! TBSCertificate without the SCT list extension, bound to the issuer's key hash. We
//! rebuild that structure and check the log's signature with a CT key of the trusted root.

use crate::crypto::keyless::trust_root::TrustedRoot;
use crate::crypto::x509::Cert;
pub use crate::errors::{SctError, SctRejected};
use crate::formats::digest::sha256;
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};

/// X.509 extension holding the SCT list.
pub const SCT_LIST_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// One parsed SCT.
#[derive(Debug, Clone)]
pub struct Sct {
    /// Log ID (sha256 of the log's key).
    pub log_id: [u8; 32],
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    /// CT extensions.
    pub extensions: Vec<u8>,
    /// TLS hash algorithm (4 = sha256).
    pub hash_alg: u8,
    /// TLS signature algorithm (3 = ecdsa).
    pub sig_alg: u8,
    /// The signature.
    pub signature: Vec<u8>,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SctError> {
        if self.0.len() < n {
            return Err(SctError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn uint(&mut self, n: usize) -> Result<u64, SctError> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64))
    }
    fn vec(&mut self, len_bytes: usize) -> Result<&'a [u8], SctError> {
        let n = self.uint(len_bytes)? as usize;
        self.take(n)
    }
}

/// Parses the SCT list extension value (an OCTET STRING holding the TLS list).
pub fn parse_sct_list(ext_value: &[u8]) -> Result<Vec<Sct>, SctError> {
    let inner = der::asn1::OctetString::from_der(ext_value).map_err(SctError::Extension)?;
    let mut outer = Reader(inner.as_bytes());
    let mut list = Reader(outer.vec(2)?);
    let mut out = Vec::new();
    while !list.0.is_empty() {
        let mut r = Reader(list.vec(2)?);
        let version = r.uint(1)?;
        if version != 0 {
            return Err(SctError::Version(version));
        }
        let mut log_id = [0u8; 32];
        log_id.copy_from_slice(r.take(32)?);
        let timestamp = r.uint(8)?;
        let extensions = r.vec(2)?.to_vec();
        let hash_alg = r.uint(1)? as u8;
        let sig_alg = r.uint(1)? as u8;
        let signature = r.vec(2)?.to_vec();
        out.push(Sct { log_id, timestamp, extensions, hash_alg, sig_alg, signature });
    }
    Ok(out)
}

/// The precertificate TBS: the leaf's TBSCertificate without the SCT list extension.
fn precert_tbs(leaf: &Cert) -> Result<Vec<u8>, SctError> {
    let mut tbs = leaf.inner().tbs_certificate.clone();
    if let Some(exts) = tbs.extensions.as_mut() {
        exts.retain(|e| e.extn_id != SCT_LIST_OID);
    }
    tbs.to_der().map_err(SctError::Precertificate)
}

/// Checks that at least one embedded SCT verifies with a trusted CT log key.
pub fn verify_embedded_scts(leaf: &Cert, issuer: &Cert, root: &TrustedRoot) -> Result<(), SctError> {
    let ext = leaf.extension(SCT_LIST_OID).ok_or(SctError::Missing)?;
    let scts = parse_sct_list(ext)?;
    let tbs = precert_tbs(leaf)?;
    let issuer_key_hash = sha256(&issuer.spki_der().map_err(SctError::IssuerKey)?);
    let mut problems = Vec::new();
    for sct in &scts {
        let Some(log) = root.ctlog(&sct.log_id) else {
            problems.push(SctRejected::UnknownLog(hex::encode(sct.log_id)));
            continue;
        };
        if sct.hash_alg != 4 || sct.sig_alg != 3 {
            problems.push(SctRejected::Algorithm { hash: sct.hash_alg, signature: sct.sig_alg });
            continue;
        }
        let mut signed = vec![0u8, 0u8];
        signed.extend_from_slice(&sct.timestamp.to_be_bytes());
        signed.extend_from_slice(&[0, 1]);
        signed.extend_from_slice(&issuer_key_hash);
        let n = tbs.len();
        if n >= 1 << 24 {
            return Err(SctError::TooLarge);
        }
        signed.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        signed.extend_from_slice(&tbs);
        signed.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
        signed.extend_from_slice(&sct.extensions);
        match crate::crypto::x509::verify_with_spki(
            &log.spki_der,
            const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
            &signed,
            &sct.signature,
        ) {
            Ok(()) => return Ok(()),
            Err(source) => problems.push(SctRejected::Signature { log: log.base_url.clone(), source }),
        }
    }
    Err(if problems.is_empty() { SctError::Empty } else { SctError::NoneVerifies(problems) })
}
