//! Model sources: where the files of a model come from.
//!
//! A `MODEL` argument names a local directory or file, or (in later work) an OCI image
//! layout (`oci:PATH[:TAG|@DIGEST]`), a KitOps ModelKit in local storage (`kit:REF`) or a
//! registry reference (`registry:REF`). Every source yields the same [`Manifest`] that
//! model_signing would compute on the unpacked directory, so signing and verification do
//! not care where the bytes live.

use crate::errors::SourceError;
use crate::formats::manifest::{Manifest, Serialization};
use crate::hashing::model_dir::{self, WalkOptions};
use crate::hashing::{self, Progress};
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

/// Hashing parameters shared by all sources.
#[derive(Debug, Clone)]
pub struct HashRequest {
    /// Method, algorithm, symlink policy and the full ignore list (relative to the root).
    pub serialization: Serialization,
    /// When set, only these file paths are hashed (`--ignore_unsigned_files`).
    pub only: Option<Vec<String>>,
    /// When verifying: the file paths the signature lists. Sources that can skip bytes
    /// (packaged layers) report other files as unsigned without hashing them.
    pub signed: Option<std::collections::HashSet<String>>,
    /// The most bytes one compressed layer may unpack to (`None`: the default cap).
    pub max_unpacked: Option<u64>,
    /// Worker threads.
    pub threads: usize,
}

/// What hashing a source produced.
pub struct Hashed {
    /// The computed manifest.
    pub manifest: Manifest,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Files present but not signed, listed without being hashed.
    pub unsigned: Vec<String>,
}

impl Hashed {
    /// Compares with the signed manifest; unsigned files count as extra.
    pub fn compare(&self, signed: &Manifest) -> crate::formats::manifest::Comparison {
        let mut c = self.manifest.compare(signed);
        for f in &self.unsigned {
            if !c.extra.contains(f) {
                c.extra.push(f.clone());
            }
        }
        c
    }
}

/// A place models are read from.
pub trait ModelSource {
    /// The informative model name.
    fn model_name(&self) -> String;
    /// Paths (relative to the model root) that model_signing's CLI would resolve the
    /// signature file to, so it is left out of the manifest.
    fn relative_path_of(&self, path: &Path) -> Option<String>;
    /// Paths the unpacked model holds that are not part of the packaged content and so
    /// must be recorded as ignored (a ModelKit's `Kitfile`, written by `kit unpack`).
    fn implicit_ignores(&self) -> Vec<String> {
        Vec::new()
    }
    /// A signature stored with the model (an OCI referrer in a layout), if any.
    fn attached_signature(&self) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(None)
    }
    /// Computes the manifest.
    fn hash(
        &self,
        req: &HashRequest,
        progress: &dyn Fn(u64) -> Box<dyn Progress>,
    ) -> Result<Hashed, SourceError>;
}

/// A local directory (or single file).
pub struct DirSource {
    path: PathBuf,
}

impl DirSource {
    /// Opens a local path.
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf() }
    }
}

impl ModelSource for DirSource {
    fn model_name(&self) -> String {
        model_dir::model_name(&self.path)
    }

    fn relative_path_of(&self, path: &Path) -> Option<String> {
        model_dir::resolve_cli_ignore_paths(&self.path, &[path.to_path_buf()]).into_iter().next()
    }

    fn hash(
        &self,
        req: &HashRequest,
        progress: &dyn Fn(u64) -> Box<dyn Progress>,
    ) -> Result<Hashed, SourceError> {
        let ser = &req.serialization;
        let opts = WalkOptions { allow_symlinks: ser.allow_symlinks, ignore_paths: ser.ignore_paths.clone() };
        let files = model_dir::list_files(&self.path, &opts, req.only.as_deref())?;
        let total = hashing::total_bytes(&files);
        let bar = progress(total);
        let items = hashing::hash_files(&files, ser.method, ser.hash, req.threads, bar.as_ref())?;
        Ok(Hashed {
            manifest: Manifest::new(self.model_name(), ser.clone(), items),
            bytes_read: total,
            unsigned: Vec::new(),
        })
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
            let mut m = crate::packaging::read::PackagedModel::from_manifest(
                Box::new(repo),
                fetched.desc,
                &fetched.bytes,
                name,
            )?;
            // Raw layers are content-addressed: their digest is the file's sha256, no download.
            m.trust_raw_digests = true;
            Ok(Box::new(m))
        }
        #[cfg(not(feature = "http"))]
        other @ ModelRef::Registry(_) => Err(SourceError::Unsupported {
            reference: other.to_string(),
            reason: "this build has no registry client (feature `http`)".into(),
        }),
    }
}

/// The file paths a signed manifest covers (shards collapse to their file).
pub fn signed_paths(manifest: &Manifest) -> Vec<String> {
    // Items come in canonical order (path, then shard range), so a file's shards are adjacent.
    let mut v: Vec<String> = manifest.items().map(|(k, _)| k.path().to_owned()).collect();
    v.dedup();
    v
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
