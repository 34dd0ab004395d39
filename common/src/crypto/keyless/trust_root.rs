//! Sigstore trusted roots (`TrustedRoot`, and `ClientTrustConfig` that wraps one).
//!
//! Spec: sigstore/protobuf-specs `protos/sigstore_trustroot.proto`. Holds the Fulcio CA
//! chains, the Rekor (transparency log) keys and the CT log keys, each with the period it
//! is valid for. A built-in copy of the public-good root (as shipped by sigstore-python)
//! is used when `--trust_config` is not given, since we never fetch TUF metadata.

use crate::crypto::x509::Cert;
use crate::errors::FormatError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

/// The built-in public-good trust configuration.
pub const BUILTIN_TRUST_CONFIG: &str = include_str!("public_good_trust_config.json");

/// A transparency or CT log key.
#[derive(Debug, Clone)]
pub struct LogKey {
    /// Log base URL.
    pub base_url: String,
    /// sha256 of the DER public key (the log ID).
    pub key_id: Vec<u8>,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// Key type as named by protobuf-specs (e.g. `PKIX_ECDSA_P256_SHA_256`).
    pub key_details: String,
    /// Validity start (seconds since the epoch).
    pub valid_from: Option<i64>,
    /// Validity end.
    pub valid_to: Option<i64>,
}

impl LogKey {
    /// Was the key in use at time `t`?
    pub fn valid_at(&self, t: i64) -> bool {
        self.valid_from.is_none_or(|s| s <= t) && self.valid_to.is_none_or(|e| t <= e)
    }
}

/// A Fulcio certificate authority.
#[derive(Debug, Clone)]
pub struct CertAuthority {
    /// CA URL.
    pub uri: String,
    /// Chain, issuing certificate first, root last.
    pub chain: Vec<Cert>,
    /// Validity start.
    pub valid_from: Option<i64>,
    /// Validity end.
    pub valid_to: Option<i64>,
}

/// A trusted root.
#[derive(Debug, Clone, Default)]
pub struct TrustedRoot {
    /// Rekor logs.
    pub tlogs: Vec<LogKey>,
    /// Certificate transparency logs.
    pub ctlogs: Vec<LogKey>,
    /// Fulcio CAs.
    pub certificate_authorities: Vec<CertAuthority>,
    /// RFC 3161 timestamping authorities (same shape: chain, leaf first).
    pub timestamp_authorities: Vec<CertAuthority>,
    /// The `trustedRoot` JSON this was read from, for the client-spec verifier
    /// ([`super::artifact`]).
    pub json: String,
    /// That verifier, prepared once per root.
    pub(crate) verifier: PreparedVerifier,
}

/// A `sigstore-verify` verifier built from a root's JSON on first use.
#[derive(Clone, Default)]
pub(crate) struct PreparedVerifier(
    std::sync::Arc<std::sync::OnceLock<Result<sigstore_verify::Verifier, String>>>,
);

impl std::fmt::Debug for PreparedVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedVerifier")
    }
}

impl TrustedRoot {
    /// The client-spec verifier for this root (built on first use).
    pub(crate) fn verifier(&self) -> Result<&sigstore_verify::Verifier, String> {
        self.verifier
            .0
            .get_or_init(|| {
                let root = sigstore_verify::trust_root::TrustedRoot::from_json(&self.json)
                    .map_err(|e| e.to_string())?;
                sigstore_verify::Verifier::new(&root).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    trusted_root: Option<RawRoot>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawPublicKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: String,
    #[serde(default)]
    key_details: String,
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawValidFor {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

fn parse_time(s: &Option<String>, what: &str, field: &str) -> Result<Option<i64>, FormatError> {
    match s {
        None => Ok(None),
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| Some(t.unix_timestamp()))
            .map_err(|e| FormatError::field(what, field, format!("bad time `{s}`: {e}"))),
    }
}

fn b64(s: &str, what: &str, field: &str) -> Result<Vec<u8>, FormatError> {
    B64.decode(s.as_bytes()).map_err(|_| FormatError::Base64 { what: what.into(), field: field.into() })
}

impl TrustedRoot {
    /// Parses a `ClientTrustConfig` or a bare `TrustedRoot` JSON document.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<Self, FormatError> {
        let json = |source| FormatError::Json { what: what.to_owned(), source };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(json)?;
        let root_value = value.get("trustedRoot").cloned().unwrap_or_else(|| value.clone());
        let raw: RawRoot = if value.get("trustedRoot").is_some() {
            let c: RawConfig = serde_json::from_value(value).map_err(json)?;
            c.trusted_root.ok_or_else(|| FormatError::field(what, "trustedRoot", "missing"))?
        } else {
            serde_json::from_value(value).map_err(json)?
        };
        let logs = |v: &[RawLog], kind: &str| -> Result<Vec<LogKey>, FormatError> {
            v.iter()
                .enumerate()
                .map(|(i, l)| {
                    let f = format!("{kind}[{i}]");
                    let vf = l.public_key.valid_for.as_ref();
                    Ok(LogKey {
                        base_url: l.base_url.clone(),
                        key_id: b64(&l.log_id.key_id, what, &format!("{f}.logId.keyId"))?,
                        spki_der: b64(&l.public_key.raw_bytes, what, &format!("{f}.publicKey.rawBytes"))?,
                        key_details: l.public_key.key_details.clone(),
                        valid_from: parse_time(&vf.and_then(|v| v.start.clone()), what, &f)?,
                        valid_to: parse_time(&vf.and_then(|v| v.end.clone()), what, &f)?,
                    })
                })
                .collect()
        };
        let cas = |v: &[RawCa], kind: &str| -> Result<Vec<CertAuthority>, FormatError> {
            let mut out = Vec::new();
            for (i, ca) in v.iter().enumerate() {
                let f = format!("{kind}[{i}]");
                let mut chain = Vec::new();
                for (j, c) in ca.cert_chain.certificates.iter().enumerate() {
                    let der = b64(&c.raw_bytes, what, &format!("{f}.certChain.certificates[{j}]"))?;
                    chain
                        .push(Cert::from_der(&der).map_err(|e| FormatError::field(what, &f, e.to_string()))?);
                }
                let vf = ca.valid_for.as_ref();
                out.push(CertAuthority {
                    uri: ca.uri.clone(),
                    chain,
                    valid_from: parse_time(&vf.and_then(|v| v.start.clone()), what, &f)?,
                    valid_to: parse_time(&vf.and_then(|v| v.end.clone()), what, &f)?,
                });
            }
            Ok(out)
        };
        Ok(Self {
            tlogs: logs(&raw.tlogs, "tlogs")?,
            ctlogs: logs(&raw.ctlogs, "ctlogs")?,
            certificate_authorities: cas(&raw.certificate_authorities, "certificateAuthorities")?,
            timestamp_authorities: cas(&raw.timestamp_authorities, "timestampAuthorities")?,
            json: root_value.to_string(),
            verifier: PreparedVerifier::default(),
        })
    }

    /// The built-in Sigstore public-good root.
    pub fn builtin() -> Result<Self, FormatError> {
        Self::from_json(BUILTIN_TRUST_CONFIG.as_bytes(), "built-in trust config")
    }

    /// The Rekor key with this log ID.
    pub fn tlog(&self, key_id: &[u8]) -> Option<&LogKey> {
        self.tlogs.iter().find(|l| l.key_id == key_id)
    }

    /// The CT log key with this log ID.
    pub fn ctlog(&self, key_id: &[u8]) -> Option<&LogKey> {
        self.ctlogs.iter().find(|l| l.key_id == key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_root_and_signing_config_parse() -> Result<(), FormatError> {
        let root = TrustedRoot::builtin()?;
        assert!(!root.tlogs.is_empty() && !root.ctlogs.is_empty());
        assert_eq!(root.certificate_authorities.len(), 2);
        assert_eq!(root.timestamp_authorities.len(), 1);
        let s = super::super::signer::Services::from_trust_config(BUILTIN_TRUST_CONFIG.as_bytes());
        assert_eq!(
            s.ok().map(|s| (s.fulcio, s.rekor)),
            Some(("https://fulcio.sigstore.dev".to_owned(), "https://rekor.sigstore.dev".to_owned()))
        );
        assert!(TrustedRoot::from_json(b"{\"tlogs\": 3}", "x").is_err());
        Ok(())
    }
}
