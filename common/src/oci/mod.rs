//! OCI image-spec v1.1 types and the OCI image layout (opencontainers/image-spec
//! `descriptor.md`, `manifest.md`, `image-index.md`, `image-layout.md`), the model
//! packaging specs built on them (CNCF ModelPack [`modelpack`], KitOps ModelKits
//! [`modelkit`]), signature referrers ([`referrer`]), and the reading of layers
//! ([`tar_archive`], [`layer_stream`]).
//!
//! Small serde mirrors instead of the design-card crate `oci-spec` (checked at 0.9: its
//! `Descriptor`, `ImageIndex` and `ImageManifest` have fixed fields and no catch-all, so a
//! descriptor's unknown fields — and any field a newer spec adds — are dropped when an
//! `index.json` or a referrers fallback index written by another tool is read and written
//! back; annotations are a `HashMap`, so their order changes on every rewrite). Here every
//! type keeps what it does not model in `extra` and writes it back (tested in
//! `layout::tests`), digests are always computed over the exact bytes read or written
//! (never over a re-serialization), and each descriptor is validated (`sha256:` + 64 hex)
//! before any digest becomes a file name.

pub mod changeset;
pub mod descriptor;
pub mod digest;
pub mod index;
pub(crate) mod layer_stream;
pub mod layout;
pub mod manifest;
pub mod modelkit;
pub mod modelpack;
pub mod referrer;
pub(crate) mod tar_archive;

pub use descriptor::Descriptor;
pub use digest::OciDigest;
pub use index::ImageIndex;
pub use layout::OciLayout;
pub use manifest::ImageManifest;

/// Where blobs come from: an image layout on disk or a registry repository. Readers check
/// size and digest as they stream.
pub trait BlobStore: Sync {
    /// Opens a blob for streaming; the reader fails if the content does not match `desc`.
    fn open_blob(
        &self,
        desc: &Descriptor,
        what: &str,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, crate::errors::OciError>;

    /// Opens a blob checking only its size, where its digest decides nothing (tar layers
    /// whose files a signature checks). Stores that check digests anyway need not override.
    fn open_blob_size_only(
        &self,
        desc: &Descriptor,
        what: &str,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, crate::errors::OciError> {
        self.open_blob(desc, what)
    }

    /// Reads a small blob (manifest, config) fully, checking size and digest.
    fn read_blob(&self, desc: &Descriptor, what: &str) -> Result<Vec<u8>, crate::errors::OciError> {
        self.read_blob_up_to(desc, what, layout::MAX_METADATA_BLOB)
    }

    /// Reads a blob of at most `cap` bytes fully (a signature bundle:
    /// [`layout::MAX_SIGNATURE_BUNDLE`]), checking size and digest; larger ones are refused
    /// before anything is read.
    fn read_blob_up_to(
        &self,
        desc: &Descriptor,
        what: &str,
        cap: u64,
    ) -> Result<Vec<u8>, crate::errors::OciError> {
        if desc.size > cap {
            return Err(crate::errors::OciError::Blob {
                what: what.into(),
                digest: desc.digest_str.clone(),
                problem: format!("{} bytes is over the {} MiB cap for {what}", desc.size, cap >> 20),
            });
        }
        let mut out = Vec::with_capacity(desc.size as usize);
        std::io::Read::read_to_end(&mut self.open_blob(desc, what)?, &mut out)
            .map_err(crate::errors::OciError::from_io)?;
        Ok(out)
    }
}

/// `application/vnd.oci.image.manifest.v1+json`.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker's image manifest (schema 2), the same structure as OCI's; read as a container
/// image.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// `application/vnd.oci.image.index.v1+json`.
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The empty JSON descriptor media type (`{}`).
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Annotation naming a manifest in an image layout's index.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation giving a layer's file name (ORAS).
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Annotation with the creation time.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
