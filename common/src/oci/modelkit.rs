//! KitOps ModelKits (kitops-ml/kitops `pkg/artifact/kitfile.go`,
//! `pkg/lib/constants/mediaType.go`, `pkg/lib/repo/local`): media types, the Kitfile
//! config, and `kit` local storage.
//!
//! A ModelKit has one layer per Kitfile path (which may be a directory); the config is
//! the Kitfile as JSON with each entry's layer `digest` and `diffId`. Tar members are
//! paths relative to the Kitfile's context directory. Local storage is one shared OCI
//! layout (`$KITOPS_HOME/storage`, default `$XDG_DATA_HOME/kitops/storage` or
//! `~/.local/share/kitops/storage`) with, per repository, `<base64url(registry/repo)>-index.json`
//! and `-tags.json` (tag → manifest descriptor).

use crate::errors::OciError;
use crate::oci::modelpack::LayerFormat;
use crate::oci::{Descriptor, OciLayout};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Manifest `artifactType` of newer ModelKits.
pub const ARTIFACT_TYPE: &str = "application/vnd.kitops.modelkit.manifest.v1+json";
/// Config media type (identifies older ModelKits that have no artifactType).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.kitops.modelkit.config.v1+json";
/// The registry KitOps assumes for references without one.
pub const DEFAULT_REGISTRY: &str = "localhost";

/// File names KitOps reads a Kitfile from (and `kit unpack` writes): not layer content.
pub const KITFILE_NAMES: [&str; 3] = ["Kitfile", "kitfile", ".kitfile"];

/// Layer kinds of a ModelKit.
pub const KINDS: [&str; 6] = ["model", "modelpart", "dataset", "code", "docs", "prompts"];

/// Parses `application/vnd.kitops.modelkit.<kind>.v1.<tar|raw>[+gzip|+zstd]`.
pub fn parse_layer_media_type(mt: &str) -> Option<(&str, LayerFormat)> {
    let rest = mt.strip_prefix("application/vnd.kitops.modelkit.")?;
    let (kind, format) = rest.split_once(".v1.")?;
    if !KINDS.contains(&kind) {
        return None;
    }
    let format = match format {
        "raw" => LayerFormat::Raw,
        "tar" => LayerFormat::Tar,
        "tar+gzip" => LayerFormat::TarGzip,
        "tar+zstd" => LayerFormat::TarZstd,
        _ => return None,
    };
    Some((kind, format))
}

/// The layer media type for a kind, uncompressed tar.
pub fn layer_media_type(kind: &str) -> String {
    format!("application/vnd.kitops.modelkit.{kind}.v1.tar")
}

/// One Kitfile entry that became a layer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Path relative to the context directory (file or directory).
    #[serde(default)]
    pub path: String,
    /// Entry name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Digest of its layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Uncompressed digest of its layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// Everything else the Kitfile says (license, description, …).
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `model`: an entry with parts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelSection {
    /// The model entry itself.
    #[serde(flatten)]
    pub entry: Entry,
    /// Further model files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Entry>,
}

/// The Kitfile config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kitfile {
    /// `1.0.0`.
    #[serde(default)]
    pub manifest_version: String,
    /// Package metadata (name, version, authors, …).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub package: serde_json::Map<String, serde_json::Value>,
    /// The model and its parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSection>,
    /// Code entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<Entry>,
    /// Dataset entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<Entry>,
    /// Documentation entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docs: Vec<Entry>,
    /// Prompt entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<Entry>,
}

impl Kitfile {
    /// Every entry that has a layer.
    pub fn entries(&self) -> Vec<&Entry> {
        let mut v = Vec::new();
        if let Some(m) = &self.model {
            v.push(&m.entry);
            v.extend(m.parts.iter());
        }
        v.extend(self.code.iter().chain(&self.datasets).chain(&self.docs).chain(&self.prompts));
        v
    }

    /// The entry whose layer has this digest.
    pub fn entry_for_digest(&self, digest: &str) -> Option<&Entry> {
        self.entries().into_iter().find(|e| e.digest.as_deref() == Some(digest))
    }

    /// The package name, if any.
    pub fn package_name(&self) -> Option<String> {
        self.package.get("name").and_then(|v| v.as_str()).map(str::to_owned)
    }
}

/// KitOps' storage directory.
pub fn storage_dir() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("KITOPS_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(h).join("storage"));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("kitops/storage"))
}

/// A parsed KitOps reference: `[registry/]repository[:tag|@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitRef {
    /// Registry (default `localhost`).
    pub registry: String,
    /// Repository.
    pub repository: String,
    /// Tag, or `@sha256:…`.
    pub reference: String,
}

impl KitRef {
    /// Parses like KitOps' `ParseReference`.
    pub fn parse(s: &str) -> Result<Self, OciError> {
        let bad = |p: &str| OciError::Content { what: format!("kit reference `{s}`"), problem: p.into() };
        let (registry, rest) = match s.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') => (first.to_owned(), rest),
            _ => (DEFAULT_REGISTRY.to_owned(), s),
        };
        let (repository, reference) = if let Some((repo, digest)) = rest.split_once('@') {
            (repo.split(':').next().unwrap_or(repo).to_owned(), format!("@{digest}"))
        } else if let Some((repo, tag)) = rest.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            (repo.to_owned(), tag.to_owned())
        } else {
            (rest.to_owned(), "latest".to_owned())
        };
        if repository.is_empty() || repository != repository.to_lowercase() {
            return Err(bad("repository must be non-empty and lowercase"));
        }
        Ok(Self { registry, repository, reference })
    }

    /// `registry/repository`, the key of the per-repository index files.
    pub fn repo_key(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// Finds a ModelKit in local storage: the storage layout and its manifest descriptor.
pub fn resolve_local(reference: &str) -> Result<(OciLayout, Descriptor), OciError> {
    let r = KitRef::parse(reference)?;
    let dir = storage_dir().ok_or_else(|| OciError::Layout {
        path: PathBuf::from("~/.local/share/kitops/storage"),
        problem: "cannot locate KitOps storage: set KITOPS_HOME or HOME".into(),
    })?;
    let layout = OciLayout::open(&dir)?;
    let key = base64::engine::general_purpose::URL_SAFE.encode(r.repo_key());
    let index = layout.read_index(&dir.join(format!("{key}-index.json"))).map_err(|_| OciError::Layout {
        path: dir.clone(),
        problem: format!("no ModelKit repository `{}` in local storage", r.repo_key()),
    })?;
    if let Some(d) = r.reference.strip_prefix('@') {
        let want: crate::oci::OciDigest = d.parse()?;
        let desc = index.manifests.iter().find(|m| m.digest().is_ok_and(|x| x == want)).cloned();
        return desc.map(|d| (layout.clone(), d)).ok_or_else(|| OciError::Layout {
            path: dir.clone(),
            problem: format!("no manifest {want} in `{}`", r.repo_key()),
        });
    }
    let tags_path = dir.join(format!("{key}-tags.json"));
    let tags: std::collections::BTreeMap<String, Descriptor> =
        std::fs::read(&tags_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(|| {
            OciError::Layout { path: tags_path.clone(), problem: "missing or not a tag map".into() }
        })?;
    let desc = tags.get(&r.reference).cloned().ok_or_else(|| OciError::Layout {
        path: tags_path,
        problem: format!("no tag `{}` in `{}`", r.reference, r.repo_key()),
    })?;
    Ok((layout, desc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_like_kitops() -> Result<(), OciError> {
        let r = KitRef::parse("my/model:1")?;
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("localhost", "my/model", "1")
        );
        let r = KitRef::parse("registry.example.com:5000/team/m")?;
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("registry.example.com:5000", "team/m", "latest")
        );
        assert_eq!(KitRef::parse("m@sha256:ab")?.reference, "@sha256:ab");
        assert!(KitRef::parse("Upper/case").is_err());
        Ok(())
    }

    #[test]
    fn media_types_and_kitfile_entries() -> Result<(), serde_json::Error> {
        assert_eq!(
            parse_layer_media_type("application/vnd.kitops.modelkit.model.v1.tar+gzip"),
            Some(("model", LayerFormat::TarGzip))
        );
        assert_eq!(
            parse_layer_media_type("application/vnd.kitops.modelkit.docs.v1.raw"),
            Some(("docs", LayerFormat::Raw))
        );
        assert_eq!(parse_layer_media_type("application/vnd.kitops.modelkit.config.v1+json"), None);
        let k: Kitfile = serde_json::from_str(
            r#"{"manifestVersion":"1.0.0","package":{"name":"demo"},"model":{"path":"m.gguf","digest":"sha256:1","parts":[{"path":"p","digest":"sha256:2"}]},"docs":[{"path":"README.md","digest":"sha256:3","license":"MIT"}]}"#,
        )?;
        assert_eq!(k.entries().len(), 3);
        assert_eq!(k.entry_for_digest("sha256:3").map(|e| e.path.as_str()), Some("README.md"));
        assert_eq!(k.package_name().as_deref(), Some("demo"));
        Ok(())
    }
}
