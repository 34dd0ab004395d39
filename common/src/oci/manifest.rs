//! Image manifests (image-spec `manifest.md`, v1.1 with `artifactType` and `subject`).

use super::{Descriptor, MEDIA_TYPE_MANIFEST};
use crate::errors::FormatError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An image manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.manifest.v1+json` (optional in the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type (ModelPack, ModelKit, signature referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Every other field, kept as read.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ImageManifest {
    /// Parses manifest JSON, rejecting other schema versions and media types.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<Self, FormatError> {
        let m: ImageManifest = serde_json::from_slice(bytes)
            .map_err(|source| FormatError::Json { what: what.into(), source })?;
        if m.schema_version != 2 {
            return Err(FormatError::field(what, "schemaVersion", format!("{} is not 2", m.schema_version)));
        }
        if let Some(mt) = &m.media_type
            && mt != MEDIA_TYPE_MANIFEST
            && mt != super::MEDIA_TYPE_DOCKER_MANIFEST
        {
            let problem = if mt == super::MEDIA_TYPE_INDEX
                || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
            {
                format!(
                    "`{mt}` is an index of several manifests (platforms): name one by its digest (REPO@sha256:…)"
                )
            } else {
                format!("`{mt}` is not an OCI image manifest")
            };
            return Err(FormatError::field(what, "mediaType", problem));
        }
        m.config.digest()?;
        for l in &m.layers {
            l.digest()?;
        }
        Ok(m)
    }

    /// Serializes (compact JSON, the bytes that get digested).
    pub fn to_json(&self) -> Result<Vec<u8>, FormatError> {
        crate::io::to_json(self, "image manifest")
    }
}
