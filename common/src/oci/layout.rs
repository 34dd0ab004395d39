//! The OCI image layout on disk (image-spec `image-layout.md`): `oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`.
//!
//! Reading checks every blob against its descriptor (size and digest) as it streams; writing
//! goes through temporary files renamed into place, so a crash never leaves a blob under a
//! name its content does not match, and `index.json` is replaced atomically.

use super::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, MEDIA_TYPE_MANIFEST, OciDigest};
use crate::errors::{OciError, OutputError};
use sha2::Digest as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest manifest, index or config blob read into memory.
pub const MAX_METADATA_BLOB: u64 = 16 << 20;

/// Largest signature bundle read from a registry or layout: model_signing's bundle lists
/// every file (about 240 bytes each: a 100,000-file model signs into 24 MB), so it gets
/// its own cap, about 270,000 files.
pub const MAX_SIGNATURE_BUNDLE: u64 = 64 << 20;

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OciError + '_ {
    move |e| OciError::Layout { path: path.to_path_buf(), problem: e.to_string() }
}

impl OciLayout {
    /// Opens an existing layout.
    pub fn open(root: &Path) -> Result<Self, OciError> {
        let marker = root.join("oci-layout");
        let text = std::fs::read(&marker).map_err(|e| OciError::Layout {
            path: root.to_path_buf(),
            problem: format!("not an OCI image layout (oci-layout: {e})"),
        })?;
        let v: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| OciError::Layout { path: marker.clone(), problem: format!("not JSON: {e}") })?;
        if v["imageLayoutVersion"].as_str() != Some("1.0.0") {
            return Err(OciError::Layout { path: marker, problem: "imageLayoutVersion is not 1.0.0".into() });
        }
        Ok(Self { root: root.to_path_buf() })
    }

    /// Opens a layout, creating an empty one if the directory has none.
    pub fn create(root: &Path) -> Result<Self, OutputError> {
        let err = |path: PathBuf| move |source| OutputError { path, source };
        std::fs::create_dir_all(root.join("blobs/sha256")).map_err(err(root.join("blobs/sha256")))?;
        if !root.join("oci-layout").exists() {
            crate::io::write_atomic(&root.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !root.join("index.json").exists() {
            let empty = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
            crate::io::write_atomic(&root.join("index.json"), empty)?;
        }
        Ok(Self { root: root.to_path_buf() })
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a blob (the digest is validated, so this never leaves `blobs/sha256`).
    pub fn blob_path(&self, digest: &OciDigest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Reads `index.json`.
    pub fn index(&self) -> Result<ImageIndex, OciError> {
        self.read_index(&self.root.join("index.json"))
    }

    /// Reads an index file of this layout (KitOps keeps one per repository).
    pub fn read_index(&self, path: &Path) -> Result<ImageIndex, OciError> {
        let bytes = read_capped(path, MAX_METADATA_BLOB)?;
        Ok(ImageIndex::from_json(&bytes, &path.display().to_string())?)
    }

    /// Finds a manifest: `None` (the only one), a tag (`org.opencontainers.image.ref.name`),
    /// or `@sha256:…`.
    pub fn resolve(&self, index: &ImageIndex, reference: Option<&str>) -> Result<Descriptor, OciError> {
        let manifests: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| {
                d.media_type == MEDIA_TYPE_MANIFEST || d.media_type == super::MEDIA_TYPE_DOCKER_MANIFEST
            })
            .collect();
        let found = match reference {
            Some(r) if r.starts_with('@') => {
                let want: OciDigest = r[1..].parse()?;
                manifests.into_iter().find(|d| d.digest().is_ok_and(|x| x == want)).cloned()
            }
            Some(tag) => {
                manifests.into_iter().find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(tag)).cloned()
            }
            None => {
                let tagged: Vec<&&Descriptor> =
                    manifests.iter().filter(|d| d.annotation(ANNOTATION_REF_NAME).is_some()).collect();
                match (tagged.as_slice(), manifests.as_slice()) {
                    ([one], _) => Some((**one).clone()),
                    (_, [one]) => Some((*one).clone()),
                    _ => {
                        return Err(OciError::Layout {
                            path: self.root.clone(),
                            problem: "holds several manifests: name one with :TAG or @sha256:…".into(),
                        });
                    }
                }
            }
        };
        found.ok_or_else(|| OciError::Layout {
            path: self.root.clone(),
            problem: format!("no manifest named `{}`", reference.unwrap_or("")),
        })
    }

    /// Opens a blob for streaming; the reader fails (with [`OciError::DigestMismatch`] inside
    /// the I/O error) if the content does not match the descriptor by its end.
    pub fn open_file_blob(
        &self,
        desc: &Descriptor,
        what: &str,
    ) -> Result<VerifyingReader<std::fs::File>, OciError> {
        let digest = desc.digest()?;
        let path = self.blob_path(&digest);
        let f = std::fs::File::open(&path).map_err(|e| OciError::Blob {
            what: what.into(),
            digest: digest.to_string(),
            problem: format!("cannot open {}: {e}", path.display()),
        })?;
        Ok(VerifyingReader::new(f, digest, desc.size, what))
    }

    /// Starts writing a blob.
    pub fn blob_writer(&self) -> Result<BlobWriter, OutputError> {
        let dir = self.root.join("blobs/sha256");
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(|source| OutputError { path: dir.clone(), source })?;
        Ok(BlobWriter { tmp, hasher: sha2::Sha256::new(), size: 0, layout: self.clone() })
    }

    /// Writes a small blob from memory.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<OciDigest, OutputError> {
        let mut w = self.blob_writer()?;
        w.write_all(bytes).map_err(|source| OutputError { path: self.root.clone(), source })?;
        Ok(w.finish()?.0)
    }

    /// Adds a manifest descriptor to `index.json` (replacing one with the same tag), atomically.
    pub fn add_to_index(&self, desc: Descriptor, tag: Option<&str>) -> Result<(), OciError> {
        let mut index = self.index()?;
        let desc = match tag {
            Some(t) => {
                index.manifests.retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(t));
                desc.annotate(ANNOTATION_REF_NAME, t)
            }
            None => {
                if index.manifests.iter().any(|d| d.digest_str == desc.digest_str && d.annotations.is_none())
                {
                    return Ok(());
                }
                desc
            }
        };
        index.manifests.push(desc);
        let bytes = crate::io::to_json(&index, "index.json")?;
        crate::io::write_atomic(&self.root.join("index.json"), &bytes)
            .map_err(|e| OciError::Layout { path: e.path, problem: e.source.to_string() })
    }
}

impl super::BlobStore for OciLayout {
    fn open_blob(&self, desc: &Descriptor, what: &str) -> Result<Box<dyn Read + Send + '_>, OciError> {
        Ok(Box::new(self.open_file_blob(desc, what)?))
    }

    fn open_blob_size_only(
        &self,
        desc: &Descriptor,
        what: &str,
    ) -> Result<Box<dyn Read + Send + '_>, OciError> {
        let r = self.open_file_blob(desc, what)?;
        Ok(Box::new(VerifyingReader::size_only(r.inner, r.expected, r.size, what)))
    }
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, OciError> {
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    f.take(max + 1).read_to_end(&mut out).map_err(io_err(path))?;
    if out.len() as u64 > max {
        return Err(OciError::Layout {
            path: path.to_path_buf(),
            problem: format!("larger than {max} bytes"),
        });
    }
    Ok(out)
}

/// A reader that checks a blob's size and sha256 as it streams, and fails at the end (or as
/// soon as it is too long) if they do not match.
pub struct VerifyingReader<R> {
    inner: R,
    /// `None`: the size is checked, the digest is not (see [`VerifyingReader::size_only`]).
    hasher: Option<sha2::Sha256>,
    read: u64,
    expected: OciDigest,
    size: u64,
    what: String,
    done: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps a reader of a blob with this digest and size.
    pub fn new(inner: R, expected: OciDigest, size: u64, what: &str) -> Self {
        Self {
            inner,
            hasher: Some(sha2::Sha256::new()),
            read: 0,
            expected,
            size,
            what: what.into(),
            done: false,
        }
    }

    /// Checks the size only: for tar layers of a local layout whose files are checked
    /// against a model_signing signature, where the layer digest decides nothing
    /// ([`crate::hashing::source::LayerTrust::FilesDecide`]).
    pub fn size_only(inner: R, expected: OciDigest, size: u64, what: &str) -> Self {
        Self { hasher: None, ..Self::new(inner, expected, size, what) }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    fn mismatch(&self, actual: String) -> std::io::Error {
        OciError::DigestMismatch { what: self.what.clone(), expected: self.expected.to_string(), actual }
            .into_io()
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.size {
            return Err(self.mismatch(format!("more than the {} bytes of the descriptor", self.size)));
        }
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        if n == 0 {
            self.done = true;
            if self.read != self.size {
                return Err(self.mismatch(format!("{} bytes instead of {}", self.read, self.size)));
            }
            if let Some(h) = &self.hasher {
                let actual = OciDigest::from_sha256(&h.clone().finalize());
                if actual != self.expected {
                    return Err(self.mismatch(actual.to_string()));
                }
            }
        }
        Ok(n)
    }
}

/// Writes a blob to a temporary file while hashing it; [`BlobWriter::finish`] renames it
/// to its digest.
pub struct BlobWriter {
    tmp: tempfile::NamedTempFile,
    hasher: sha2::Sha256,
    size: u64,
    layout: OciLayout,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.tmp.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Completes the blob: returns its digest and size.
    pub fn finish(mut self) -> Result<(OciDigest, u64), OutputError> {
        let digest = OciDigest::from_sha256(&self.hasher.finalize());
        let path = self.layout.blob_path(&digest);
        let err = |source| OutputError { path: path.clone(), source };
        self.tmp.flush().map_err(err)?;
        self.tmp.persist(&path).map_err(|e| err(e.error))?;
        Ok((digest, self.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `index.json` written by another tool keeps every field it had when we add to it.
    #[test]
    fn index_rewrites_keep_fields_other_tools_wrote() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let layout = OciLayout::create(dir.path())?;
        let foreign = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{}", "a".repeat(64)), "size": 7,
                "platform": { "architecture": "amd64", "os": "linux" },
                "urls": ["https://example.invalid/blob"],
                "data": "e30=",
                "io.example.unknown": { "nested": [1, 2.5, "x"] },
                "annotations": { "org.opencontainers.image.ref.name": "other" }
            }],
            "subject": { "mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "digest": format!("sha256:{}", "b".repeat(64)), "size": 9 },
            "annotations": { "io.example.index": "kept" },
            "io.example.top": true
        });
        crate::io::write_atomic(&dir.path().join("index.json"), &serde_json::to_vec(&foreign)?)?;
        let ours = Descriptor::new(MEDIA_TYPE_MANIFEST, &OciDigest::of(b"m"), 1);
        layout.add_to_index(ours, Some("mine"))?;
        let back: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("index.json"))?)?;
        assert_eq!(back["manifests"][0], foreign["manifests"][0]);
        assert_eq!(back["subject"], foreign["subject"]);
        assert_eq!(back["annotations"], foreign["annotations"]);
        assert_eq!(back["io.example.top"], true);
        assert_eq!(back["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"], "mine");
        Ok(())
    }
}
