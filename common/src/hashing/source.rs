//! Model sources as the hashing layer sees them: anything that can produce model_signing's
//! manifest of a model (a directory, an OCI layout, KitOps storage, a registry), the
//! request that says how ([`HashRequest`]: the predicate's serialization, ignore list,
//! limits, and how packaged layers are trusted), and the options shared by every operation
//! that hashes ([`HashOptions`]).

use crate::errors::SourceError;
use crate::formats::manifest::{Manifest, Serialization};
use crate::hashing::model_dir::{self, WalkOptions};
use crate::hashing::{self, Progress, ProgressBar};
use std::path::{Path, PathBuf};

/// How the files of packaged layers are established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerTrust {
    /// Read every blob, checking its digest as it streams (image layouts on disk, whose
    /// files anyone may have changed).
    Stream,
    /// A raw layer's descriptor digest is taken as its file's sha256 without reading the
    /// blob: the store is content-addressed and checks the digest whenever the blob is
    /// fetched (registries). Tar layers are streamed when `stream_tar`, and otherwise fail
    /// naming the layer (remote verify without `--deep`).
    RawDigests {
        /// Stream tar layers to hash their files.
        stream_tar: bool,
    },
    /// Verifying a model_signing signature of a local layout: the signed file digests
    /// decide, so tar layers are streamed once for their files without computing the
    /// layer digest or diffId (their size is still checked, and the tar reading is the
    /// same). Raw layers are read through their digest check, which is their file digest.
    FilesDecide,
}

/// Options shared by every operation that hashes a model.
#[derive(Debug, Clone)]
pub struct HashOptions {
    /// `--ignore-paths` as given (relative to the current directory, or absolute).
    pub ignore_paths: Vec<PathBuf>,
    /// `--ignore-git-paths` (default) / `--no-ignore-git-paths`.
    pub ignore_git_paths: bool,
    /// `--allow_symlinks`.
    pub allow_symlinks: bool,
    /// Worker threads.
    pub threads: usize,
    /// Hide the progress bar.
    pub quiet: bool,
    /// The most bytes one compressed layer may unpack to (`None`: 100x its compressed
    /// size, at least 64 MiB).
    pub max_unpacked_size: Option<u64>,
    /// `--model-root`: the directory of a container image that holds the model.
    pub model_root: Option<String>,
    /// `--verify-layer-digests`: when verifying a local layout, also check each tar
    /// layer's digest and diffId (a second hash pass over its bytes).
    pub verify_layer_digests: bool,
}

impl Default for HashOptions {
    fn default() -> Self {
        Self {
            ignore_paths: Vec::new(),
            ignore_git_paths: true,
            allow_symlinks: false,
            threads: crate::hashing::default_threads(),
            quiet: false,
            max_unpacked_size: None,
            model_root: None,
            verify_layer_digests: false,
        }
    }
}

impl HashOptions {
    /// A progress bar factory honoring `quiet`.
    pub fn progress(&self) -> impl Fn(u64) -> Box<dyn Progress> + '_ {
        move |total| -> Box<dyn Progress> { Box::new(ProgressBar::for_stderr(total, self.quiet)) }
    }

    /// The ignore list relative to the model root: the command line's ignore paths (as the
    /// source resolves them), `extra` local files (the signature, when it lies inside the
    /// model), what the source implies (a ModelKit's `Kitfile`), and the git paths.
    pub fn ignore_list(&self, source: &dyn ModelSource, extra: &[&Path]) -> Vec<String> {
        let mut rel: Vec<String> = Vec::new();
        for p in &self.ignore_paths {
            rel.extend(source.ignore_path_of(p));
        }
        for p in extra {
            rel.extend(source.relative_path_of(p));
        }
        rel.extend(source.implicit_ignores());
        model_dir::ignore_list(&rel, self.ignore_git_paths)
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
    /// For container images: the directory that holds the model (`None`: found from the
    /// last layer).
    pub model_root: Option<String>,
    /// How the files of packaged layers are established.
    pub layers: LayerTrust,
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
    /// The manifest of a model that is one file, as model_signing names it: when every
    /// resource belongs to one file (and nothing else is there), that file becomes `.`.
    pub fn as_single_file(self) -> Self {
        let paths: std::collections::BTreeSet<&str> = self.manifest.items().map(|(k, _)| k.path()).collect();
        let one_file = paths.len() == 1 && !paths.contains(".") && self.unsigned.is_empty();
        if !one_file {
            return self;
        }
        let items: Vec<_> = self
            .manifest
            .items()
            .map(|(k, d)| {
                let key = match k.range() {
                    None => crate::formats::manifest::ResourceKey::file("."),
                    Some((s, e)) => crate::formats::manifest::ResourceKey::shard(".", s, e),
                };
                (key, d.clone())
            })
            .collect();
        let manifest =
            Manifest::new(self.manifest.model_name.clone(), self.manifest.serialization.clone(), items);
        Self { manifest, ..self }
    }

    /// Compares with the signed manifest; unsigned files count as extra.
    pub fn compare(&self, signed: &Manifest) -> crate::formats::manifest::Comparison {
        let mut c = self.manifest.compare(signed);
        let mut listed: std::collections::HashSet<String> = c.extra.iter().cloned().collect();
        for f in &self.unsigned {
            if listed.insert(f.clone()) {
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
    /// Where a local file lies inside this model (relative to its root), if it does: the
    /// signature file is left out of the manifest when it is inside the model directory.
    fn relative_path_of(&self, path: &Path) -> Option<String>;
    /// A command-line `--ignore-paths` entry as a path in this model: model_signing's CLI
    /// resolves it against the model directory; for packaged models it names a path inside
    /// the package.
    fn ignore_path_of(&self, path: &Path) -> Option<String> {
        self.relative_path_of(path)
    }
    /// Paths the unpacked model holds that are not part of the packaged content and so
    /// must be recorded as ignored (a ModelKit's `Kitfile`, written by `kit unpack`).
    fn implicit_ignores(&self) -> Vec<String> {
        Vec::new()
    }
    /// For a model inside a container image: the directory holding it (`/models`), once
    /// hashed.
    fn model_root(&self) -> Option<String> {
        None
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

/// The file paths a signed manifest covers (shards collapse to their file).
pub fn signed_paths(manifest: &Manifest) -> Vec<String> {
    // Items come in canonical order (path, then shard range), so a file's shards are adjacent.
    let mut v: Vec<String> = manifest.items().map(|(k, _)| k.path().to_owned()).collect();
    v.dedup();
    v
}
