//! Sigstore bundles (`model.sig`): reading v0.1–v0.3, writing v0.3.
//!
//! Spec: sigstore/protobuf-specs `protos/sigstore_bundle.proto` and `sigstore_rekor.proto`
//! (protojson field names; unknown fields are rejected, as protojson does). These are plain serde types instead of `sigstore_protobuf_specs`
//! so that unknown fields and the three media-type generations are handled in one place and
//! the written JSON has model_signing's field order.

use crate::errors::FormatError;
use crate::formats::dsse::Envelope;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// Media type of bundles we write.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Media types we read.
pub const BUNDLE_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    BUNDLE_V03,
];

/// A Sigstore bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bundle {
    /// Bundle media type (version).
    pub media_type: String,
    /// Keys, certificates, log entries.
    pub verification_material: VerificationMaterial,
    /// The signed DSSE envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
    /// A message signature (not used by model_signing; rejected on verify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<serde_json::Value>,
}

/// `verificationMaterial`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationMaterial {
    /// A public key identifier (key signing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    /// A certificate chain, leaf first (certificate signing; keyless in v0.1/v0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<CertificateChain>,
    /// A single leaf certificate (keyless, v0.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<RawBytes>,
    /// Transparency log entries.
    #[serde(default)]
    pub tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<TimestampVerificationData>,
}

/// `timestampVerificationData`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimestampVerificationData {
    /// Signed timestamps.
    #[serde(default)]
    pub rfc3161_timestamps: Vec<Rfc3161Timestamp>,
}

/// One RFC 3161 timestamp.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rfc3161Timestamp {
    /// Base64 DER TimeStampResp.
    pub signed_timestamp: String,
}

/// `publicKey`: a hint, and in model_signing 1.0 also the PEM key itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicKeyIdentifier {
    /// Hex sha256 of the PEM public key (model_signing ≥ 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Base64 of the PEM public key (model_signing 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_bytes: Option<String>,
    /// Key algorithm name (model_signing 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_details: Option<String>,
}

/// `x509CertificateChain`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateChain {
    /// DER certificates, leaf first.
    #[serde(default)]
    pub certificates: Vec<RawBytes>,
}

/// `{ "rawBytes": base64 }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawBytes {
    /// Base64 content.
    pub raw_bytes: String,
}

impl RawBytes {
    /// Wraps bytes.
    pub fn new(bytes: &[u8]) -> Self {
        Self { raw_bytes: B64.encode(bytes) }
    }

    /// Decodes, naming `field` on error.
    pub fn decode(&self, field: &str) -> Result<Vec<u8>, FormatError> {
        decode_b64(&self.raw_bytes, field)
    }
}

/// Decodes standard base64, naming the field on error.
pub fn decode_b64(s: &str, field: &str) -> Result<Vec<u8>, FormatError> {
    B64.decode(s.as_bytes()).map_err(|_| FormatError::Base64 { what: "bundle".into(), field: field.into() })
}

/// A Rekor transparency log entry (`TransparencyLogEntry`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlogEntry {
    /// Global log index (decimal string in protojson).
    #[serde(with = "int_string")]
    pub log_index: i64,
    /// `{ keyId: base64 }` of the log.
    pub log_id: LogId,
    /// Entry kind and version (`dsse` / `0.0.1`).
    pub kind_version: KindVersion,
    /// Seconds since the epoch when the entry was integrated (Rekor v1; Rekor v2 entries
    /// have none and leave it out).
    #[serde(default, with = "int_string", skip_serializing_if = "is_zero")]
    pub integrated_time: i64,
    /// Signed entry timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_promise: Option<InclusionPromise>,
    /// Merkle inclusion proof with checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<InclusionProof>,
    /// Base64 of the canonicalized entry body.
    pub canonicalized_body: String,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// `logId`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogId {
    /// Base64 of the log's key id (sha256 of its DER public key).
    pub key_id: String,
}

/// `kindVersion`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindVersion {
    /// Entry kind.
    pub kind: String,
    /// Entry version.
    pub version: String,
}

/// `inclusionPromise`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InclusionPromise {
    /// Base64 signature of the log over the entry.
    pub signed_entry_timestamp: String,
}

/// `inclusionProof`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InclusionProof {
    /// Index of the entry in its tree shard.
    #[serde(with = "int_string")]
    pub log_index: i64,
    /// Base64 root hash.
    pub root_hash: String,
    /// Tree size.
    #[serde(with = "int_string")]
    pub tree_size: i64,
    /// Base64 sibling hashes, leaf to root.
    #[serde(default)]
    pub hashes: Vec<String>,
    /// The signed checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// `checkpoint`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The signed note text.
    pub envelope: String,
}

/// protojson writes 64-bit integers as strings, but accepts numbers too.
mod int_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            S(String),
            N(i64),
        }
        match Either::deserialize(d)? {
            Either::N(n) => Ok(n),
            Either::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Bundle {
    /// Parses bundle JSON; `what` names the file in errors.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<Self, FormatError> {
        let b: Bundle = serde_json::from_slice(bytes)
            .map_err(|source| FormatError::Json { what: what.to_owned(), source })?;
        if !BUNDLE_MEDIA_TYPES.contains(&b.media_type.as_str()) {
            return Err(FormatError::field(
                what,
                "mediaType",
                format!("`{}` is not a Sigstore bundle media type (v0.1–v0.3)", b.media_type),
            ));
        }
        Ok(b)
    }

    /// Serializes as model_signing writes bundles.
    pub fn to_json(&self) -> Result<Vec<u8>, FormatError> {
        crate::io::to_json(self, "bundle")
    }

    /// The DSSE envelope, or an error if the bundle signs something else.
    pub fn envelope(&self) -> Result<&Envelope, FormatError> {
        self.dsse_envelope.as_ref().ok_or_else(|| {
            FormatError::field(
                "bundle",
                "dsseEnvelope",
                "missing: model signatures are DSSE envelopes (found a message signature or nothing)",
            )
        })
    }

    /// The DER certificates of the bundle, leaf first, whichever field holds them.
    pub fn certificates(&self) -> Result<Vec<Vec<u8>>, FormatError> {
        let vm = &self.verification_material;
        if let Some(c) = &vm.certificate {
            return Ok(vec![c.decode("verificationMaterial.certificate.rawBytes")?]);
        }
        if let Some(chain) = &vm.x509_certificate_chain {
            return chain
                .certificates
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    c.decode(&format!("verificationMaterial.x509CertificateChain.certificates[{i}]"))
                })
                .collect();
        }
        Ok(Vec::new())
    }
}

/// Reads and parses a signature file. An unreadable file is a usage error; a file that is
/// not a valid bundle is a failed verification.
pub fn read_bundle(
    signature: &std::path::Path,
) -> Result<Result<Bundle, crate::errors::SignatureError>, crate::errors::SourceError> {
    let bytes = std::fs::read(signature)
        .map_err(|source| crate::errors::SourceError::Io { path: signature.to_path_buf(), source })?;
    Ok(Bundle::from_json(&bytes, &signature.display().to_string()).map_err(Into::into))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_media_type_and_reads_numbers_or_strings() {
        let bad = br#"{"mediaType":"application/json","verificationMaterial":{}}"#;
        assert!(Bundle::from_json(bad, "model.sig").is_err());
        let ok = br#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2",
            "verificationMaterial":{"tlogEntries":[{"logIndex":5,"logId":{"keyId":"AA=="},
            "kindVersion":{"kind":"dsse","version":"0.0.1"},"integratedTime":"7","canonicalizedBody":""}]}}"#;
        let b = Bundle::from_json(ok, "model.sig");
        assert!(matches!(b, Ok(ref b) if b.verification_material.tlog_entries[0].log_index == 5
            && b.verification_material.tlog_entries[0].integrated_time == 7));
    }
}
