//! Content descriptors (image-spec `descriptor.md`).

use super::OciDigest;
use crate::errors::FormatError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A descriptor: media type, digest, size, and optional annotations / artifact type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest string as written (validate with [`Descriptor::digest`]).
    #[serde(rename = "digest")]
    pub digest_str: String,
    /// Size in bytes.
    pub size: u64,
    /// Artifact type (manifests of artifacts, referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Every other field (`urls`, `platform`, `data`, future ones), kept as read so that a
    /// rewritten index loses nothing another tool wrote.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Descriptor {
    /// A descriptor for some content.
    pub fn new(media_type: &str, digest: &OciDigest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest_str: digest.to_string(),
            size,
            artifact_type: None,
            annotations: None,
            extra: Default::default(),
        }
    }

    /// The validated digest.
    pub fn digest(&self) -> Result<OciDigest, FormatError> {
        self.digest_str.parse()
    }

    /// One annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// Sets an annotation.
    pub fn annotate(mut self, key: &str, value: impl Into<String>) -> Self {
        self.annotations.get_or_insert_with(BTreeMap::new).insert(key.to_owned(), value.into());
        self
    }
}
