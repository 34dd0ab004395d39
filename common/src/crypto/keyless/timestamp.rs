//! RFC 3161 signed timestamps (`timestampVerificationData.rfc3161Timestamps`).
//!
//! A Timestamping Authority signs (CMS SignedData, RFC 5652) a `TSTInfo` whose message
//! imprint is the hash of the DSSE signature. We check the imprint, the CMS signed
//! attributes (content type, message digest), the TSA's signature, and the TSA chain to a
//! `timestampAuthorities` root of the trusted root at the stamped time, as sigstore-python
//! does; the result is a verified signing time.

use crate::crypto::keyless::trust_root::TrustedRoot;
use crate::crypto::x509::{Cert, verify_chain, verify_with_spki};
pub use crate::errors::{TimestampError, TsaRejected};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Any, GeneralizedTime, OctetString};
use der::{Decode, Encode};
use sha2::Digest as _;

/// id-ct-TSTInfo.
const ID_CT_TSTINFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// Extended key usage: time stamping.
const EKU_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

#[derive(der::Sequence)]
struct MessageImprint {
    hash_algorithm: x509_cert::spki::AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

fn der_err(what: &'static str) -> impl FnOnce(der::Error) -> TimestampError {
    move |source| TimestampError::Der { what, source }
}

fn hash_by_oid(oid: ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, TimestampError> {
    Ok(match oid {
        rfc5912::ID_SHA_256 => sha2::Sha256::digest(data).to_vec(),
        rfc5912::ID_SHA_384 => sha2::Sha384::digest(data).to_vec(),
        rfc5912::ID_SHA_512 => sha2::Sha512::digest(data).to_vec(),
        other => return Err(TimestampError::DigestAlgorithm(other)),
    })
}

/// The token (ContentInfo) of a TimeStampResp, or the token itself if given bare.
fn token_of(der_bytes: &[u8]) -> Result<ContentInfo, TimestampError> {
    if let Ok(ci) = ContentInfo::from_der(der_bytes) {
        return Ok(ci);
    }
    let parts: Vec<Any> = Vec::<Any>::from_der(der_bytes).map_err(der_err("TimeStampResp"))?;
    let status: Vec<Any> = parts
        .first()
        .ok_or(TimestampError::Missing("empty TimeStampResp"))?
        .decode_as()
        .map_err(der_err("PKIStatusInfo"))?;
    let code: u8 = status
        .first()
        .ok_or(TimestampError::Missing("empty PKIStatusInfo"))?
        .decode_as()
        .map_err(der_err("status"))?;
    if code > 1 {
        return Err(TimestampError::NotGranted(code));
    }
    parts
        .get(1)
        .ok_or(TimestampError::Missing("timestamp response has no token"))?
        .decode_as()
        .map_err(der_err("token"))
}

/// Does the CMS signer identifier name this certificate?
fn identifies(sid: &cms::signed_data::SignerIdentifier, cert: &Cert) -> bool {
    use cms::signed_data::SignerIdentifier;
    let tbs = &cert.inner().tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(i) => {
            i.issuer == tbs.issuer && i.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .extension(const_oid::db::rfc5912::ID_CE_SUBJECT_KEY_IDENTIFIER)
            .and_then(|v| x509_cert::ext::pkix::SubjectKeyIdentifier::from_der(v).ok())
            .is_some_and(|own| own.0 == ski.0),
    }
}

/// The SignedData of a response (or bare token), the TSTInfo's DER and its fields.
fn tst_of(resp: &[u8]) -> Result<(SignedData, Vec<u8>, Vec<Any>), TimestampError> {
    let token = token_of(resp)?;
    if token.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(TimestampError::Invalid("timestamp token is not CMS SignedData"));
    }
    let sd: SignedData = token.content.decode_as().map_err(der_err("SignedData"))?;
    sets_in_der_order(&token.content.to_der().map_err(der_err("SignedData"))?)?;
    if sd.encap_content_info.econtent_type != ID_CT_TSTINFO {
        return Err(TimestampError::Invalid("timestamp token does not hold a TSTInfo"));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or(TimestampError::Missing("timestamp token has no content"))?;
    let tst_der: OctetString = econtent.decode_as().map_err(der_err("TSTInfo wrapper"))?;
    let tst_bytes = tst_der.as_bytes().to_vec();
    let fields: Vec<Any> = Vec::<Any>::from_der(&tst_bytes).map_err(der_err("TSTInfo"))?;
    Ok((sd, tst_bytes, fields))
}

/// The SET OFs of a SignedData (digestAlgorithms, certificates, signerInfos) in DER order
/// (X.690 §11.6): the `der` crate sorts them while decoding, so their order is checked on
/// the raw bytes. Python's `rfc3161-client` (sigstore-python) refuses unordered sets, and
/// OpenSSL's TSA writes one when told to add chain certificates (`certs`).
fn sets_in_der_order(signed_data: &[u8]) -> Result<(), TimestampError> {
    let fields: Vec<Any> = Vec::<Any>::from_der(signed_data).map_err(der_err("SignedData"))?;
    for f in &fields {
        let tag = der::Tagged::tag(f);
        let is_set = tag == der::Tag::Set
            || tag == der::Tag::ContextSpecific { constructed: true, number: der::TagNumber::N0 }
            || tag == der::Tag::ContextSpecific { constructed: true, number: der::TagNumber::N1 };
        if !is_set {
            continue;
        }
        let mut reader = der::SliceReader::new(f.value()).map_err(der_err("SET OF"))?;
        let mut prev: Option<Vec<u8>> = None;
        while !der::Reader::is_finished(&reader) {
            let item: Any = der::Decode::decode(&mut reader).map_err(der_err("SET OF element"))?;
            let enc = item.to_der().map_err(der_err("SET OF element"))?;
            if prev.as_ref().is_some_and(|p| *p > enc) {
                return Err(TimestampError::Invalid(
                    "a SET OF of the timestamp token is not in DER order (X.690 §11.6)",
                ));
            }
            prev = Some(enc);
        }
    }
    Ok(())
}

/// `TimeStampReq` (RFC 3161 §2.4.1) without a policy or extensions.
#[derive(der::Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    nonce: u64,
    cert_req: bool,
}

/// The DER of a request for a timestamp over a SHA-256 digest, with `nonce`, asking for
/// the TSA's certificate in the token.
pub fn request_der(sha256: &[u8], nonce: u64) -> Result<Vec<u8>, der::Error> {
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: x509_cert::spki::AlgorithmIdentifierOwned {
                oid: rfc5912::ID_SHA_256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(sha256)?,
        },
        nonce,
        cert_req: true,
    }
    .to_der()
}

/// Checks that a TSA's answer grants a token over `signature` carrying `nonce` (its trust
/// is checked when the bundle is verified).
pub fn check_response(resp: &[u8], signature: &[u8], nonce: u64) -> Result<(), TimestampError> {
    let (_, _, fields) = tst_of(resp)?;
    let imprint: MessageImprint = fields
        .get(2)
        .ok_or(TimestampError::Missing("TSTInfo has no messageImprint"))?
        .decode_as()
        .map_err(der_err("messageImprint"))?;
    if hash_by_oid(imprint.hash_algorithm.oid, signature)? != imprint.hashed_message.as_bytes() {
        return Err(TimestampError::Invalid("the TSA stamped something else (message imprint mismatch)"));
    }
    let answered = fields
        .iter()
        .skip(5)
        .find(|f| der::Tagged::tag(*f) == der::Tag::Integer)
        .map(|f| f.decode_as::<u64>())
        .transpose()
        .map_err(der_err("nonce"))?;
    if answered != Some(nonce) {
        return Err(TimestampError::Invalid("the TSA's answer does not carry our nonce"));
    }
    Ok(())
}

/// Seconds since the epoch of a DER GeneralizedTime `YYYYMMDDHHMMSS[.f*]Z`: RFC 3161
/// §2.4.2 lets `genTime` carry fractional seconds (no trailing zeros, no bare point), which
/// the `der` crate's `GeneralizedTime` refuses; the fraction is dropped (whole seconds).
fn gen_time_seconds(v: &[u8]) -> Result<u64, TimestampError> {
    let bad = || TimestampError::Invalid("TSTInfo genTime is not YYYYMMDDHHMMSS[.fraction]Z");
    let text = std::str::from_utf8(v).map_err(|_| bad())?;
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = match body.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (body, None),
    };
    if let Some(f) = fraction
        && (f.is_empty() || f.ends_with('0') || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let mut der_time = whole.as_bytes().to_vec();
    der_time.push(b'Z');
    let t = GeneralizedTime::from_der(&[&[0x18, der_time.len() as u8][..], &der_time].concat())
        .map_err(der_err("genTime"))?;
    Ok(t.to_unix_duration().as_secs())
}

/// Verifies one RFC 3161 timestamp over `signature`; returns the stamped time (seconds).
pub fn verify_timestamp(resp: &[u8], signature: &[u8], root: &TrustedRoot) -> Result<i64, TimestampError> {
    let (sd, tst_bytes, fields) = tst_of(resp)?;
    let tst_bytes = tst_bytes.as_slice();
    let imprint: MessageImprint = fields
        .get(2)
        .ok_or(TimestampError::Missing("TSTInfo has no messageImprint"))?
        .decode_as()
        .map_err(der_err("messageImprint"))?;
    let gen_time = fields.get(4).ok_or(TimestampError::Missing("TSTInfo has no genTime"))?;
    if der::Tagged::tag(gen_time) != der::Tag::GeneralizedTime {
        return Err(TimestampError::Invalid("TSTInfo genTime is not a GeneralizedTime"));
    }
    let when = gen_time_seconds(gen_time.value())?;
    if hash_by_oid(imprint.hash_algorithm.oid, signature)? != imprint.hashed_message.as_bytes() {
        return Err(TimestampError::Invalid(
            "timestamp is over a different signature (message imprint mismatch)",
        ));
    }

    let signer =
        sd.signer_infos.0.iter().next().ok_or(TimestampError::Missing("timestamp token has no signer"))?;
    if sd.signer_infos.0.len() != 1 {
        return Err(TimestampError::Invalid("timestamp token must have exactly one signer"));
    }
    let expected_version = match signer.sid {
        cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(_) => cms::content_info::CmsVersion::V1,
        cms::signed_data::SignerIdentifier::SubjectKeyIdentifier(_) => cms::content_info::CmsVersion::V3,
    };
    if signer.version != expected_version {
        return Err(TimestampError::Invalid(
            "SignerInfo version does not match its signer identifier (RFC 5652 §5.3)",
        ));
    }
    if !sd.digest_algorithms.iter().any(|a| a.oid == signer.digest_alg.oid) {
        return Err(TimestampError::Invalid(
            "the signer's digest algorithm is not among the token's digestAlgorithms",
        ));
    }
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or(TimestampError::Missing("timestamp signer has no signed attributes"))?;
    let mut digest_ok = false;
    let mut type_ok = false;
    for a in attrs.iter() {
        let Some(v) = a.values.iter().next() else {
            continue;
        };
        if a.oid == rfc5911::ID_MESSAGE_DIGEST {
            let d: OctetString = v.decode_as().map_err(der_err("message-digest"))?;
            digest_ok = d.as_bytes() == hash_by_oid(signer.digest_alg.oid, tst_bytes)?.as_slice();
        } else if a.oid == rfc5911::ID_CONTENT_TYPE {
            type_ok = v.decode_as::<ObjectIdentifier>().is_ok_and(|o| o == ID_CT_TSTINFO);
        }
    }
    if !digest_ok || !type_ok {
        return Err(TimestampError::Invalid("timestamp signed attributes do not bind the TSTInfo"));
    }
    let signed = attrs.to_der().map_err(der_err("signed attributes"))?;
    let sig_alg = match signer.signature_algorithm.oid {
        rfc5912::ID_EC_PUBLIC_KEY => match signer.digest_alg.oid {
            rfc5912::ID_SHA_384 => rfc5912::ECDSA_WITH_SHA_384,
            rfc5912::ID_SHA_512 => rfc5912::ECDSA_WITH_SHA_512,
            _ => rfc5912::ECDSA_WITH_SHA_256,
        },
        rfc5912::RSA_ENCRYPTION => match signer.digest_alg.oid {
            rfc5912::ID_SHA_384 => rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            rfc5912::ID_SHA_512 => rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            _ => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
        },
        other => other,
    };

    let embedded: Vec<Cert> = sd
        .certificates
        .iter()
        .flat_map(|s| s.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => {
                c.to_der().ok().and_then(|d: Vec<u8>| Cert::from_der(&d).ok())
            }
            _ => None,
        })
        .collect();
    let mut problems = Vec::new();
    for tsa in &root.timestamp_authorities {
        if tsa.valid_from.is_some_and(|s| (when as i64) < s)
            || tsa.valid_to.is_some_and(|e| (when as i64) > e)
        {
            continue;
        }
        let Some((anchor, rest)) = tsa.chain.split_last() else {
            continue;
        };
        let mut intermediates: Vec<Cert> = rest.to_vec();
        intermediates.extend(embedded.iter().cloned());
        // A token that embeds certificates must be signed by one of them (RFC 3161 certReq).
        let leaves: &[Cert] = if embedded.is_empty() { &tsa.chain } else { &embedded };
        for leaf in leaves.iter().filter(|c| identifies(&signer.sid, c)) {
            let spki = match leaf.spki_der() {
                Ok(k) => k,
                Err(e) => {
                    problems.push(TsaRejected::Key(e));
                    continue;
                }
            };
            if verify_with_spki(&spki, sig_alg, &signed, signer.signature.as_bytes()).is_err() {
                continue;
            }
            if !leaf.extended_key_usage().is_some_and(|e| e.contains(&EKU_TIME_STAMPING)) {
                problems.push(TsaRejected::Usage(leaf.subject()));
                continue;
            }
            match verify_chain(leaf, &intermediates, std::slice::from_ref(anchor), when) {
                Ok(_) => return Ok(when as i64),
                Err(e) => problems.push(TsaRejected::Chain(e)),
            }
        }
    }
    Err(TimestampError::Untrusted(problems))
}

#[cfg(test)]
mod tests {
    use super::gen_time_seconds;

    #[test]
    fn gen_time_with_and_without_fractional_seconds() {
        assert_eq!(gen_time_seconds(b"20251010021221Z").ok(), Some(1_760_062_341));
        assert_eq!(gen_time_seconds(b"20251010021221.5Z").ok(), Some(1_760_062_341));
        assert_eq!(gen_time_seconds(b"20251010021221.123456Z").ok(), Some(1_760_062_341));
        // DER: no trailing zeros, no bare point, digits only, UTC only.
        for bad in [
            &b"20251010021221.50Z"[..],
            b"20251010021221.Z",
            b"20251010021221.5x Z",
            b"20251010021221",
            b"202510100212Z",
            b"20251310021221Z",
        ] {
            assert!(gen_time_seconds(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
