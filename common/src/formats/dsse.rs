//! DSSE envelopes and their Pre-Authentication Encoding.
//!
//! Spec: secure-systems-lab/dsse `envelope.md` and `protocol.md` v1.0.0. The signature is
//! over `PAE = "DSSEv1" SP len(type) SP type SP len(body) SP body`. model_signing 0.2 signed
//! a buggy variant (`DSSEV1 … <Python repr of the payload bytes>`), which its verifiers
//! still accept for old signatures; [`pae_compat_v02`] reproduces it.

use crate::errors::FormatError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// The payload type model_signing uses.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope as serialized in a Sigstore bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Base64 of the payload.
    pub payload: String,
    /// The payload's media type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The signatures (model_signing and Sigstore produce exactly one).
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// Base64 of the signature bytes (ASN.1 DER for ECDSA).
    pub sig: String,
    /// Optional key id; model_signing writes an empty string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
}

impl Envelope {
    /// Builds an envelope around a payload and one signature.
    pub fn new(payload_type: &str, payload: &[u8], signature: &[u8]) -> Self {
        Self {
            payload: B64.encode(payload),
            payload_type: payload_type.to_owned(),
            signatures: vec![EnvelopeSignature { sig: B64.encode(signature), keyid: Some(String::new()) }],
        }
    }

    /// The decoded payload bytes.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, FormatError> {
        B64.decode(self.payload.as_bytes())
            .map_err(|_| FormatError::Base64 { what: "DSSE envelope".into(), field: "payload".into() })
    }

    /// The decoded bytes of the only signature; more or fewer than one is an error.
    pub fn single_signature(&self) -> Result<Vec<u8>, FormatError> {
        if self.signatures.len() != 1 {
            return Err(FormatError::field(
                "DSSE envelope",
                "signatures",
                format!("expected exactly one signature, found {}", self.signatures.len()),
            ));
        }
        B64.decode(self.signatures[0].sig.as_bytes()).map_err(|_| FormatError::Base64 {
            what: "DSSE envelope".into(),
            field: "signatures[0].sig".into(),
        })
    }
}

/// The DSSE v1 Pre-Authentication Encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The PAE model_signing 0.2 actually signed: `DSSEV1 <n> <type> <n> <repr(payload)>`,
/// where `repr` is Python's `bytes.__repr__` (`b'…'` with escapes).
pub fn pae_compat_v02(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    format!("DSSEV1 {} {} {} {}", payload_type.len(), payload_type, payload.len(), python_bytes_repr(payload))
        .into_bytes()
}

/// Python's `repr()` of a `bytes` object.
pub fn python_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') { '"' } else { '\'' };
    let mut s = String::with_capacity(b.len() + 3);
    s.push('b');
    s.push(quote);
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            c if c as char == quote => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(quote);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_spec_example() {
        // dsse protocol.md example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn python_repr_escapes_like_cpython() {
        assert_eq!(python_bytes_repr(b"a'b"), "b\"a'b\"");
        assert_eq!(python_bytes_repr(b"a'\"b"), "b'a\\'\"b'");
        assert_eq!(python_bytes_repr(b"{\n \"x\": 1\t}\\\x00\xff"), "b'{\\n \"x\": 1\\t}\\\\\\x00\\xff'");
    }

    #[test]
    fn single_signature_is_required() {
        let mut e = Envelope::new(IN_TOTO_PAYLOAD_TYPE, b"{}", b"sig");
        assert_eq!(e.single_signature().ok(), Some(b"sig".to_vec()));
        e.signatures.push(e.signatures[0].clone());
        assert!(e.single_signature().is_err());
    }
}
