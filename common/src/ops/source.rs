//! Model references: what a `MODEL` argument names — a local directory or file, an OCI
//! image layout (`oci:PATH[:TAG|@DIGEST]`), a KitOps ModelKit in local storage (`kit:REF`)
//! or a registry reference (`registry:REF`) — and opening one as a
//! [`ModelSource`](crate::hashing::source::ModelSource). Every source yields the manifest
//! model_signing would compute on the unpacked directory, so signing and verification do
//! not care where the bytes live.

use crate::errors::SourceError;
use crate::hashing::source::{DirSource, LayerTrust, ModelSource};
use std::path::{Path, PathBuf};

/// A parsed `MODEL` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A local directory or single file.
    Dir(PathBuf),
    /// An OCI image layout with an optional tag or digest.
    OciLayout {
        /// Layout directory.
        path: PathBuf,
        /// Tag or `@sha256:…` digest.
        reference: Option<String>,
    },
    /// A ModelKit in KitOps local storage.
    Kit(String),
    /// A model in an OCI registry.
    Registry(String),
}

impl ModelRef {
    /// Parses a `MODEL` argument. Anything without a recognized prefix is a local path.
    pub fn parse(s: &str) -> Self {
        if let Some(rest) = s.strip_prefix("oci:") {
            let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
            let (path, reference) = if let Some(i) = rest.rfind('@').filter(|i| *i >= last_slash) {
                (&rest[..i], Some(rest[i..].to_owned()))
            } else if let Some(i) = rest[last_slash..].rfind(':').map(|i| i + last_slash) {
                (&rest[..i], Some(rest[i + 1..].to_owned()))
            } else {
                (rest, None)
            };
            return Self::OciLayout { path: PathBuf::from(path), reference };
        }
        if let Some(rest) = s.strip_prefix("kit:") {
            return Self::Kit(rest.to_owned());
        }
        if let Some(rest) = s.strip_prefix("registry:") {
            return Self::Registry(rest.to_owned());
        }
        Self::Dir(PathBuf::from(s))
    }

    /// The local path, for a directory source.
    pub fn as_dir(&self) -> Option<&Path> {
        match self {
            Self::Dir(p) => Some(p),
            _ => None,
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(p) => write!(f, "{}", p.display()),
            Self::OciLayout { path, reference: None } => write!(f, "oci:{}", path.display()),
            Self::OciLayout { path, reference: Some(r) } if r.starts_with('@') => {
                write!(f, "oci:{}{r}", path.display())
            }
            Self::OciLayout { path, reference: Some(r) } => write!(f, "oci:{}:{r}", path.display()),
            Self::Kit(r) => write!(f, "kit:{r}"),
            Self::Registry(r) => write!(f, "registry:{r}"),
        }
    }
}

impl ModelRef {
    /// How this model's packaged layers are trusted when hashed: registries are
    /// content-addressed (raw layers by digest, tar layers streamed); layouts are read.
    pub fn layer_trust(&self) -> LayerTrust {
        match self {
            Self::Registry(_) => LayerTrust::RawDigests { stream_tar: true },
            _ => LayerTrust::Stream,
        }
    }

    /// The layer trust for verifying a model_signing signature: as [`Self::layer_trust`],
    /// except that a local layout's tar layers are hashed once, for their files only
    /// ([`LayerTrust::FilesDecide`]).
    pub fn layer_trust_for_verify(&self) -> LayerTrust {
        match self {
            Self::OciLayout { .. } | Self::Kit(_) => LayerTrust::FilesDecide,
            other => other.layer_trust(),
        }
    }
}

/// Opens a model reference.
pub fn open(model: &ModelRef) -> Result<Box<dyn ModelSource>, SourceError> {
    match model {
        ModelRef::Dir(p) => Ok(Box::new(DirSource::new(p))),
        ModelRef::OciLayout { path, reference } => {
            Ok(Box::new(crate::packaging::read::PackagedModel::open_layout(path, reference.as_deref())?))
        }
        ModelRef::Kit(r) => Ok(Box::new(crate::packaging::read::PackagedModel::open_kit(r)?)),
        #[cfg(feature = "http")]
        ModelRef::Registry(r) => {
            use crate::registry::{Client, ClientOptions, Reference, model::resolve};
            let reference = Reference::parse(r)?;
            let client = Client::new(&reference.registry, ClientOptions::default());
            let repo = client.repo(&reference.repository);
            let fetched = resolve(&repo, &reference)?;
            let name = reference.repository.rsplit('/').next().unwrap_or("model").to_owned();
            let m = crate::packaging::read::PackagedModel::from_manifest(
                Box::new(repo),
                fetched.desc,
                &fetched.bytes,
                name,
            )?;
            Ok(Box::new(m))
        }
        #[cfg(not(feature = "http"))]
        other @ ModelRef::Registry(_) => Err(SourceError::Unsupported {
            reference: other.to_string(),
            reason: "this build has no registry client (feature `http`)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_model_references() {
        assert_eq!(ModelRef::parse("./m"), ModelRef::Dir("./m".into()));
        assert_eq!(
            ModelRef::parse("oci:/tmp/l:v1"),
            ModelRef::OciLayout { path: "/tmp/l".into(), reference: Some("v1".into()) }
        );
        assert_eq!(
            ModelRef::parse("oci:/tmp/l@sha256:ab"),
            ModelRef::OciLayout { path: "/tmp/l".into(), reference: Some("@sha256:ab".into()) }
        );
        assert_eq!(ModelRef::parse("oci:/tmp/l@sha256:ab").to_string(), "oci:/tmp/l@sha256:ab");
        assert_eq!(ModelRef::parse("oci:dir"), ModelRef::OciLayout { path: "dir".into(), reference: None });
        assert_eq!(ModelRef::parse("kit:my/model:1"), ModelRef::Kit("my/model:1".into()));
        assert_eq!(ModelRef::parse("oci:/tmp/l:v1").to_string(), "oci:/tmp/l:v1");
    }
}
