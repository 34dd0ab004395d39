//! X.509 certificates: parsing, signature checks and chain building (RFC 5280 §6, the
//! subset model_signing relies on through OpenSSL's `X509StoreContext`).
//!
//! A chain is built from the leaf through the bundle's intermediates to a certificate of
//! the trust store, checking at a given time each certificate's validity period, each
//! signature (ECDSA P-256/384/521 or RSA PKCS#1 v1.5 with SHA-256/384/512), that every
//! issuer is a CA allowed to sign certificates, and — as OpenSSL does for model_signing —
//! each CA's `pathLenConstraint` (§4.2.1.9), its name constraints (§4.2.1.10: DNS, email,
//! URI, IP and directory names), and that no certificate of the path carries a critical
//! extension this code does not process (§4.2: "MUST reject").

use crate::crypto::keys::PublicKey;
pub use crate::errors::CertError;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::{Decode, Encode};
use rsa::pkcs8::DecodePublicKey as _;
use sha2::Digest as _;
use x509_cert::ext::pkix::constraints::name::NameConstraints;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};

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
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let cert = x509_cert::Certificate::from_der(der).map_err(CertError::Der)?;
        Ok(Self { der: der.to_vec(), cert })
    }

    /// Parses every CERTIFICATE block of a PEM text.
    pub fn from_pem_chain(text: &[u8]) -> Result<Vec<Self>, CertError> {
        // x509-cert 0.2's load_pem_chain underflows (panics in debug builds) on input that is
        // empty once trailing newlines are stripped; no PEM block means no certificate.
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let certs = x509_cert::Certificate::load_pem_chain(text).map_err(CertError::Pem)?;
        certs
            .into_iter()
            .map(|cert| {
                let der = cert.to_der().map_err(CertError::Der)?;
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
    pub fn spki_der(&self) -> Result<Vec<u8>, CertError> {
        self.cert.tbs_certificate.subject_public_key_info.to_der().map_err(CertError::Der)
    }

    /// The subject's EC public key (the only kind that signs model signatures).
    pub fn ec_public_key(&self) -> Result<PublicKey, CertError> {
        PublicKey::from_spki_der(&self.spki_der()?, "certificate public key")
            .map_err(|e| CertError::PublicKey(Box::new(e)))
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

    fn basic_constraints(&self) -> Option<BasicConstraints> {
        self.extension(rfc5912::ID_CE_BASIC_CONSTRAINTS).and_then(|v| BasicConstraints::from_der(v).ok())
    }

    fn basic_constraints_ca(&self) -> bool {
        self.basic_constraints().is_some_and(|b| b.ca)
    }

    fn is_self_issued(&self) -> bool {
        self.cert.tbs_certificate.subject == self.cert.tbs_certificate.issuer
    }

    /// The first critical extension this code does not process, if any.
    pub fn unhandled_critical_extension(&self) -> Option<ObjectIdentifier> {
        const HANDLED: [ObjectIdentifier; 8] = [
            rfc5912::ID_CE_BASIC_CONSTRAINTS,
            rfc5912::ID_CE_KEY_USAGE,
            rfc5912::ID_CE_EXT_KEY_USAGE,
            rfc5912::ID_CE_SUBJECT_ALT_NAME,
            rfc5912::ID_CE_NAME_CONSTRAINTS,
            rfc5912::ID_CE_CERTIFICATE_POLICIES,
            rfc5912::ID_CE_SUBJECT_KEY_IDENTIFIER,
            rfc5912::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        ];
        self.cert
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.critical && !HANDLED.contains(&e.extn_id))
            .map(|e| e.extn_id)
    }

    fn critical_problem(&self) -> Option<CertError> {
        self.unhandled_critical_extension()
            .map(|oid| CertError::CriticalExtension { subject: self.subject(), oid })
    }

    /// The subject alternative names (empty when absent or unreadable).
    fn alt_names(&self) -> Vec<GeneralName> {
        self.extension(rfc5912::ID_CE_SUBJECT_ALT_NAME)
            .and_then(|v| SubjectAltName::from_der(v).ok())
            .map(|s| s.0)
            .unwrap_or_default()
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
    pub fn tbs_raw(&self) -> Result<&[u8], CertError> {
        use der::{Encode as _, Header, SliceReader};
        let element = |b: &[u8]| -> der::Result<(usize, usize)> {
            let h = Header::decode(&mut SliceReader::new(b)?)?;
            Ok((usize::try_from(h.encoded_len()?)?, usize::try_from(h.length)?))
        };
        let (outer_hdr, _) =
            element(&self.der).map_err(|source| CertError::Structure { what: "certificate", source })?;
        let body = &self.der[outer_hdr..];
        let (tbs_hdr, tbs_len) =
            element(body).map_err(|source| CertError::Structure { what: "TBSCertificate", source })?;
        body.get(..tbs_hdr + tbs_len).ok_or(CertError::Structure {
            what: "TBSCertificate",
            source: der::Error::incomplete(der::Length::ZERO),
        })
    }

    /// Checks that `issuer`'s key made this certificate's signature.
    pub fn verify_signed_by(&self, issuer: &Cert) -> Result<(), CertError> {
        // RFC 5280 §4.1.1.2: the unsigned outer algorithm must equal the signed inner one.
        if self.cert.signature_algorithm != self.cert.tbs_certificate.signature {
            return Err(CertError::AlgorithmMismatch);
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
pub fn verify_with_spki(spki: &[u8], alg: ObjectIdentifier, msg: &[u8], sig: &[u8]) -> Result<(), CertError> {
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
        other => return Err(CertError::UnsupportedAlgorithm(other)),
    };
    let is_rsa = matches!(
        alg,
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION
            | rfc5912::SHA_384_WITH_RSA_ENCRYPTION
            | rfc5912::SHA_512_WITH_RSA_ENCRYPTION
    );
    if is_rsa {
        let key = rsa::RsaPublicKey::from_public_key_der(spki).map_err(CertError::RsaKey)?;
        let scheme = match alg {
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        };
        key.verify(scheme, &digest, sig).map_err(|_| CertError::BadSignature("RSA"))
    } else {
        let key =
            PublicKey::from_spki_der(spki, "issuer key").map_err(|e| CertError::PublicKey(Box::new(e)))?;
        if key.verify_prehash(&digest, sig) { Ok(()) } else { Err(CertError::BadSignature("ECDSA")) }
    }
}

/// Builds and checks a chain from `leaf` to one of `anchors` at time `at` (seconds since
/// the epoch). `intermediates` are untrusted helpers (from the bundle). Returns the path
/// after the leaf, ending at the anchor.
pub fn verify_chain(
    leaf: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    at: u64,
) -> Result<Vec<Cert>, CertError> {
    if anchors.is_empty() {
        return Err(CertError::NoAnchors);
    }
    if let Some(p) = leaf.critical_problem() {
        return Err(p);
    }
    if !leaf.valid_at(at) {
        return Err(CertError::NotValidAt {
            subject: leaf.subject(),
            at: fmt_time(at),
            from: fmt_time(leaf.not_before()),
            to: fmt_time(leaf.not_after()),
        });
    }
    let mut path: Vec<Cert> = Vec::new();
    let mut current = leaf.clone();
    for _depth in 0..8 {
        if anchors.contains(&current) {
            check_name_constraints(leaf, &path)?;
            return Ok(path);
        }
        let issuer_name = &current.cert.tbs_certificate.issuer;
        let mut last_problem =
            CertError::NoIssuer { issuer: issuer_name.to_string(), subject: current.subject() };
        let mut found = None;
        for (cand, trusted) in
            anchors.iter().map(|c| (c, true)).chain(intermediates.iter().map(|c| (c, false)))
        {
            if *cand == current || &cand.cert.tbs_certificate.subject != issuer_name || path.contains(cand) {
                continue;
            }
            if let Err(e) = current.verify_signed_by(cand) {
                last_problem = CertError::NotSignedBy {
                    subject: current.subject(),
                    issuer: cand.subject(),
                    source: Box::new(e),
                };
                continue;
            }
            if !cand.basic_constraints_ca() {
                last_problem = CertError::NotCa(cand.subject());
                continue;
            }
            if cand.key_usage().is_some_and(|k| !k.0.contains(KeyUsages::KeyCertSign)) {
                last_problem = CertError::NoCertSign(cand.subject());
                continue;
            }
            if !cand.valid_at(at) {
                last_problem = CertError::IssuerNotValidAt { subject: cand.subject(), at: fmt_time(at) };
                continue;
            }
            if let Some(p) = cand.critical_problem() {
                last_problem = p;
                continue;
            }
            // CA certificates below this one (self-issued ones do not count).
            let below = path.iter().filter(|c| !c.is_self_issued()).count();
            if let Some(max) = cand.basic_constraints().and_then(|b| b.path_len_constraint)
                && below > usize::from(max)
            {
                last_problem = CertError::PathLen { issuer: cand.subject(), allowed: max, found: below };
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
            check_name_constraints(leaf, &path)?;
            return Ok(path);
        }
        current = issuer;
    }
    Err(CertError::TooLong)
}

/// Applies the name constraints of every CA on `path` (leaf's issuer first) to the
/// certificates below it: the leaf and the intermediates between.
fn check_name_constraints(leaf: &Cert, path: &[Cert]) -> Result<(), CertError> {
    for (k, ca) in path.iter().enumerate() {
        let Some(v) = ca.extension(rfc5912::ID_CE_NAME_CONSTRAINTS) else { continue };
        let nc = NameConstraints::from_der(v)
            .map_err(|source| CertError::NameConstraintsDer { issuer: ca.subject(), source })?;
        let permitted: Vec<GeneralName> =
            nc.permitted_subtrees.unwrap_or_default().into_iter().map(|s| s.base).collect();
        let excluded: Vec<GeneralName> =
            nc.excluded_subtrees.unwrap_or_default().into_iter().map(|s| s.base).collect();
        for (j, cert) in std::iter::once(leaf).chain(&path[..k]).enumerate() {
            // Self-issued intermediates are exempt (RFC 5280 §6.1.4 (b)).
            if j > 0 && cert.is_self_issued() {
                continue;
            }
            let mut names = cert.alt_names();
            let subject = &cert.cert.tbs_certificate.subject;
            if !subject.0.is_empty() {
                names.push(GeneralName::DirectoryName(subject.clone()));
            }
            for name in &names {
                if let Some(violation) = name_allowed(name, &permitted, &excluded) {
                    return Err(CertError::NameConstraint {
                        subject: cert.subject(),
                        violation,
                        issuer: ca.subject(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// `None` when `name` is within the permitted subtrees of its type (if any are listed) and
/// in no excluded subtree; otherwise why not.
fn name_allowed(name: &GeneralName, permitted: &[GeneralName], excluded: &[GeneralName]) -> Option<String> {
    let shown = show_name(name);
    let mut same_kind = false;
    let mut in_permitted = false;
    for c in permitted {
        match name_within(name, c) {
            Within::OtherKind => {}
            Within::Unsupported => return Some(format!("{shown}: unsupported name constraint type")),
            Within::Yes => {
                same_kind = true;
                in_permitted = true;
            }
            Within::No => same_kind = true,
        }
    }
    if same_kind && !in_permitted {
        return Some(format!("{shown} is outside the permitted names"));
    }
    for c in excluded {
        match name_within(name, c) {
            Within::Yes => return Some(format!("{shown} is an excluded name")),
            Within::Unsupported => return Some(format!("{shown}: unsupported name constraint type")),
            Within::OtherKind | Within::No => {}
        }
    }
    None
}

enum Within {
    Yes,
    No,
    OtherKind,
    Unsupported,
}

fn show_name(n: &GeneralName) -> String {
    match n {
        GeneralName::DnsName(s) => format!("DNS name `{}`", s.as_str()),
        GeneralName::Rfc822Name(s) => format!("email `{}`", s.as_str()),
        GeneralName::UniformResourceIdentifier(s) => format!("URI `{}`", s.as_str()),
        GeneralName::IpAddress(ip) => format!("IP address {}", hex::encode(ip.as_bytes())),
        GeneralName::DirectoryName(d) => format!("name `{d}`"),
        _ => "a name".into(),
    }
}

/// Is `host` equal to `constraint`, or below it? A constraint starting with `.` matches
/// only below it (the URI and email convention).
fn host_within(host: &str, constraint: &str) -> bool {
    let (h, c) = (host.to_ascii_lowercase(), constraint.to_ascii_lowercase());
    if c.is_empty() {
        return true;
    }
    if let Some(rest) = c.strip_prefix('.') {
        return h.ends_with(&format!(".{rest}"));
    }
    h == c || h.ends_with(&format!(".{c}"))
}

fn name_within(name: &GeneralName, constraint: &GeneralName) -> Within {
    use GeneralName as G;
    let yes = |b: bool| if b { Within::Yes } else { Within::No };
    match (name, constraint) {
        (G::DnsName(n), G::DnsName(c)) => {
            let c = c.as_str();
            let host = n.as_str();
            // A DNS constraint names the domain and everything below it.
            yes(host_within(host, c.strip_prefix('.').unwrap_or(c)))
        }
        (G::Rfc822Name(n), G::Rfc822Name(c)) => {
            let (n, c) = (n.as_str(), c.as_str());
            if c.contains('@') {
                return yes(n.eq_ignore_ascii_case(c));
            }
            let host = n.rsplit_once('@').map_or("", |(_, h)| h);
            yes(if c.starts_with('.') { host_within(host, c) } else { host.eq_ignore_ascii_case(c) })
        }
        (G::UniformResourceIdentifier(n), G::UniformResourceIdentifier(c)) => {
            let host = uri_host(n.as_str());
            yes(host.is_some_and(|h| {
                let c = c.as_str();
                if c.starts_with('.') { host_within(h, c) } else { h.eq_ignore_ascii_case(c) }
            }))
        }
        (G::IpAddress(n), G::IpAddress(c)) => {
            let (ip, net) = (n.as_bytes(), c.as_bytes());
            if net.len() != ip.len() * 2 {
                return Within::No;
            }
            let (addr, mask) = net.split_at(ip.len());
            yes(ip.iter().zip(addr).zip(mask).all(|((i, a), m)| i & m == a & m))
        }
        (G::DirectoryName(n), G::DirectoryName(c)) => {
            yes(c.0.len() <= n.0.len() && n.0.iter().zip(c.0.iter()).all(|(a, b)| a == b))
        }
        // Names of a kind not implemented here (otherName, x400, EDI party, registered ID)
        // cannot be judged against a constraint of their kind: refused, as OpenSSL does.
        _ if std::mem::discriminant(name) == std::mem::discriminant(constraint) => Within::Unsupported,
        _ => Within::OtherKind,
    }
}

/// The host of a URI (`scheme://[user@]host[:port]/…`), if it has one.
fn uri_host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') { host } else { host.split(':').next()? };
    (!host.is_empty()).then_some(host)
}

/// Formats seconds since the epoch as RFC 3339.
pub fn fmt_time(t: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t as i64)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod pem_tests {
    use super::*;

    #[test]
    fn empty_or_blank_pem_text_holds_no_certificate() {
        for text in [&b""[..], b"\n", b"\r\n\r\n", b"  \n"] {
            assert!(Cert::from_pem_chain(text).is_ok_and(|c| c.is_empty()), "{text:?}");
        }
        assert!(Cert::from_pem_chain(b"not pem").is_err());
    }
}
