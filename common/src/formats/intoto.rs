//! in-toto Statement v1 (in-toto/attestation `spec/v1/statement.md`).
//!
//! The `in-toto` crate on crates.io only models Statement v0.1, so the v1 layer is these
//! few serde types.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `_type` of a v1 statement.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// An in-toto v1 statement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Statement {
    /// Always [`STATEMENT_V1`] for statements we write.
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// URI naming the predicate's schema.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate, kept as JSON.
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// A statement subject (a ResourceDescriptor with a name and digests).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subject {
    /// Name of the subject.
    #[serde(default)]
    pub name: String,
    /// Digests by algorithm name, hex values.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
    /// Optional annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Value>,
}

impl Statement {
    /// The statement as the JSON bytes that get signed: 2-space indented, as model_signing
    /// writes it (protobuf `MessageToJson`).
    pub fn to_payload(&self) -> Result<Vec<u8>, crate::errors::FormatError> {
        // Serializing plain structs and serde_json::Value cannot fail.
        serde_json::to_vec_pretty(self)
            .map_err(|source| crate::errors::FormatError::Encode { what: "statement".into(), source })
    }
}
