//! Image indexes (image-spec `image-index.md`): the `index.json` of a layout, and the
//! referrers list.

use super::Descriptor;
use crate::errors::FormatError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An image index.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.index.v1+json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Every other field (`subject`, `artifactType`, future ones), kept as read.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ImageIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(super::MEDIA_TYPE_INDEX.into()),
            manifests: Vec::new(),
            annotations: None,
            extra: Default::default(),
        }
    }

    /// Parses index JSON.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<Self, FormatError> {
        let i: ImageIndex = serde_json::from_slice(bytes)
            .map_err(|source| FormatError::Json { what: what.into(), source })?;
        if i.schema_version != 2 {
            return Err(FormatError::field(what, "schemaVersion", format!("{} is not 2", i.schema_version)));
        }
        Ok(i)
    }
}

impl Default for ImageIndex {
    fn default() -> Self {
        Self::new()
    }
}
