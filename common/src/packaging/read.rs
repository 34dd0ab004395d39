//! Models packaged as OCI artifacts, read as model sources without unpacking: CNCF
//! ModelPack, KitOps ModelKits (old manifests without `artifactType` and new ones), and
//! generic ORAS artifacts (layers titled by `org.opencontainers.image.title`), and
//! container images that carry a model under a directory (KServe ModelCars: `COPY model/
//! /models/`), read across their layers as a runtime applies them ([`crate::oci::changeset`]).
//!
//! The index pins the manifest digest, the manifest pins the config and layer digests, and
//! every blob is checked as it streams (see [`crate::oci::layer_stream`]), so the resources
//! produced are exactly what model_signing would compute on the unpacked directory, and any
//! tampering with the layout shows up as an error or a mismatch. Layers are hashed in
//! parallel, one pass each.

use crate::errors::{OciError, SourceError};
use crate::formats::manifest::Manifest;
use crate::hashing::Progress;
use crate::hashing::source::{HashRequest, Hashed, LayerTrust, ModelSource};
use crate::oci::layer_stream::{LayerJob, hash_layer, safe_member_name, unpacked_limit};
use crate::oci::modelkit::{self, Kitfile};
use crate::oci::modelpack::{self, LayerFormat, ModelConfig};
use crate::oci::{ANNOTATION_TITLE, BlobStore, Descriptor, ImageManifest, OciDigest, OciLayout};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// The packaging convention of a model artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageFormat {
    /// CNCF ModelPack.
    ModelPack,
    /// KitOps ModelKit.
    ModelKit,
    /// Any artifact whose layers carry file titles (e.g. `oras push`).
    Artifact,
    /// A container image (OCI or Docker v2) holding the model under a directory.
    Image,
}

/// A layer and how to read it.
#[derive(Debug, Clone)]
pub struct PlannedLayer {
    /// The descriptor from the manifest.
    pub desc: Descriptor,
    /// Its format.
    pub format: LayerFormat,
    /// For raw layers, the file path; for tar layers, the path the layer packs (informative).
    pub path: Option<String>,
    /// The expected uncompressed digest, from the config.
    pub diff_id: Option<String>,
}

/// A model stored as an OCI artifact (in an image layout or a registry).
pub struct PackagedModel<'a> {
    store: Box<dyn BlobStore + Send + 'a>,
    /// The layout, when the model was opened from one (for attached signatures).
    layout: Option<OciLayout>,
    /// The manifest descriptor (digest pinned by the index).
    pub manifest_desc: Descriptor,
    /// The parsed manifest.
    pub manifest: ImageManifest,
    /// Which convention it follows.
    pub format: PackageFormat,
    /// Its layers in order.
    pub layers: Vec<PlannedLayer>,
    name: String,
    /// For container images: the model root used by the last hash (given or found).
    model_root: std::sync::OnceLock<String>,
}

fn content(what: &str, problem: impl Into<String>) -> OciError {
    OciError::Content { what: what.to_owned(), problem: problem.into() }
}

/// ORAS's annotation for a layer to extract (a directory pushed with `oras push DIR`).
pub const ANNOTATION_ORAS_UNPACK: &str = "io.deis.oras.content.unpack";

/// The OCI tar+gzip layer media type (what `oras push DIR` and oras-py use for directories).
const OCI_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Image configs: OCI and Docker (`application/vnd.docker.container.image.v1+json`).
const IMAGE_CONFIGS: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// The format of a container image layer (OCI `…layer.v1.tar[+gzip|+zstd]`, Docker
/// `…rootfs.diff.tar[.gzip]`); `Err` for non-distributable layers and anything else.
fn image_layer_format(mt: &str) -> Result<LayerFormat, String> {
    Ok(match mt {
        "application/vnd.oci.image.layer.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => {
            LayerFormat::Tar
        }
        OCI_TAR_GZIP | "application/vnd.docker.image.rootfs.diff.tar.gzip" => LayerFormat::TarGzip,
        "application/vnd.oci.image.layer.v1.tar+zstd" => LayerFormat::TarZstd,
        mt if mt.contains("nondistributable") || mt.contains("foreign") => {
            return Err(format!(
                "is a non-distributable layer (`{mt}`): its content may not be in this store"
            ));
        }
        mt => return Err(format!("unknown image layer media type `{mt}`")),
    })
}

/// Does this manifest describe a container image rather than a model artifact: an image
/// config, image layer types, and no file names on the layers?
fn is_container_image(m: &ImageManifest) -> bool {
    m.artifact_type.is_none()
        && IMAGE_CONFIGS.contains(&m.config.media_type.as_str())
        && !m.layers.is_empty()
        && m.layers.iter().all(|l| {
            l.annotation(ANNOTATION_TITLE).is_none()
                && modelpack::annotation(l, modelpack::ANNOTATION_FILEPATH).is_none()
                && image_layer_format(&l.media_type).is_ok()
        })
}

/// The part of an image config read here (image-spec `config.md`).
#[derive(serde::Deserialize)]
struct ImageConfig {
    rootfs: RootFs,
}

#[derive(serde::Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// How a layer of a generic (ORAS) artifact is extracted, as ORAS does: a file named by its
/// title, or — with `io.deis.oras.content.unpack: "true"` — a tar archive of the directory
/// named by its title. A `tar+gzip` layer without the annotation is refused: oras (Go)
/// writes it as a file while oras-py extracts it, so no one reading fits both.
fn oras_layer_format(d: &Descriptor) -> Result<LayerFormat, String> {
    let mt = d.media_type.as_str();
    let tar_kind = if mt.ends_with("tar+gzip") || mt.ends_with("tar.gzip") {
        Some(LayerFormat::TarGzip)
    } else if mt.ends_with("tar+zstd") {
        Some(LayerFormat::TarZstd)
    } else if mt.ends_with(".tar") {
        Some(LayerFormat::Tar)
    } else {
        None
    };
    match (d.annotation(ANNOTATION_ORAS_UNPACK), tar_kind) {
        (Some("true"), Some(format)) => Ok(format),
        (Some("true"), None) => Err(format!(
            "is annotated {ANNOTATION_ORAS_UNPACK}=true but its media type `{mt}` is not a tar archive"
        )),
        (_, _) if mt == OCI_TAR_GZIP => Err(format!(
            "is a `{mt}` layer without {ANNOTATION_ORAS_UNPACK}: oras (Go) writes it as a file, oras-py extracts it as a directory; annotate it {ANNOTATION_ORAS_UNPACK}=true if it is a directory"
        )),
        _ => Ok(LayerFormat::Raw),
    }
}

/// A config's diffId list, which must name exactly one per manifest layer.
fn one_per_layer(
    what: &str,
    field: &str,
    ids: Vec<String>,
    manifest: &ImageManifest,
) -> Result<Vec<Option<String>>, OciError> {
    if ids.len() != manifest.layers.len() {
        return Err(content(
            what,
            format!("{field} lists {} layers, the manifest has {}", ids.len(), manifest.layers.len()),
        ));
    }
    Ok(ids.into_iter().map(Some).collect())
}

fn layer_what(i: usize, d: &Descriptor) -> String {
    format!("layer {i} ({})", d.digest_str)
}

impl<'a> PackagedModel<'a> {
    /// Opens `oci:PATH[:TAG|@DIGEST]`.
    pub fn open_layout(path: &Path, reference: Option<&str>) -> Result<Self, OciError> {
        let layout = OciLayout::open(path)?;
        let index = layout.index()?;
        let desc = layout.resolve(&index, reference)?;
        let fallback = path.file_name().and_then(|n| n.to_str()).unwrap_or("model").to_owned();
        let mut m = Self::open(Box::new(layout.clone()), desc, fallback)?;
        m.layout = Some(layout);
        Ok(m)
    }

    /// Opens `kit:REF` from KitOps local storage.
    pub fn open_kit(reference: &str) -> Result<Self, OciError> {
        let (layout, desc) = modelkit::resolve_local(reference)?;
        let fallback =
            modelkit::KitRef::parse(reference)?.repository.rsplit('/').next().unwrap_or("model").to_owned();
        let mut m = Self::open(Box::new(layout.clone()), desc, fallback)?;
        m.layout = Some(layout);
        Ok(m)
    }

    /// Reads the manifest and config behind a descriptor and plans the layers.
    pub fn open(
        store: Box<dyn BlobStore + Send + 'a>,
        manifest_desc: Descriptor,
        fallback_name: String,
    ) -> Result<Self, OciError> {
        let bytes = store.read_blob(&manifest_desc, "manifest")?;
        Self::from_manifest(store, manifest_desc, &bytes, fallback_name)
    }

    /// Plans a model from manifest bytes already fetched and checked against `manifest_desc`.
    pub fn from_manifest(
        store: Box<dyn BlobStore + Send + 'a>,
        manifest_desc: Descriptor,
        bytes: &[u8],
        fallback_name: String,
    ) -> Result<Self, OciError> {
        let manifest = ImageManifest::from_json(bytes, "manifest")?;
        let format = match (manifest.artifact_type.as_deref(), manifest.config.media_type.as_str()) {
            (Some(modelpack::ARTIFACT_TYPE), _) | (_, modelpack::CONFIG_MEDIA_TYPE) => {
                PackageFormat::ModelPack
            }
            (Some(modelkit::ARTIFACT_TYPE), _) | (_, modelkit::CONFIG_MEDIA_TYPE) => PackageFormat::ModelKit,
            _ if is_container_image(&manifest) => PackageFormat::Image,
            _ => PackageFormat::Artifact,
        };
        let mut name = fallback_name;
        let mut diff_ids: Vec<Option<String>> = vec![None; manifest.layers.len()];
        let mut kitfile = None;
        match format {
            PackageFormat::ModelPack => {
                let cfg = store.read_blob(&manifest.config, "config")?;
                let cfg: ModelConfig = serde_json::from_slice(&cfg)
                    .map_err(|e| content("ModelPack config", format!("not a model config: {e}")))?;
                diff_ids =
                    one_per_layer("ModelPack config", "modelfs.diffIds", cfg.modelfs.diff_ids, &manifest)?;
                if let Some(n) = cfg.descriptor.get("name").and_then(|v| v.as_str()) {
                    name = n.to_owned();
                }
            }
            PackageFormat::ModelKit => {
                let cfg = store.read_blob(&manifest.config, "config")?;
                let k: Kitfile = serde_json::from_slice(&cfg)
                    .map_err(|e| content("ModelKit config", format!("not a Kitfile: {e}")))?;
                if let Some(n) = k.package_name() {
                    name = n;
                }
                for (i, l) in manifest.layers.iter().enumerate() {
                    diff_ids[i] = k.entry_for_digest(&l.digest_str).and_then(|e| e.diff_id.clone());
                }
                kitfile = Some(k);
            }
            PackageFormat::Image => {
                let cfg = store.read_blob(&manifest.config, "image config")?;
                let cfg: ImageConfig = serde_json::from_slice(&cfg)
                    .map_err(|e| content("image config", format!("not an image config: {e}")))?;
                diff_ids = one_per_layer("image config", "rootfs.diff_ids", cfg.rootfs.diff_ids, &manifest)?;
            }
            PackageFormat::Artifact => {}
        }
        let image = format == PackageFormat::Image;
        let mut layers = Vec::with_capacity(manifest.layers.len());
        for (i, d) in manifest.layers.iter().enumerate() {
            let what = layer_what(i, d);
            let format = match format {
                PackageFormat::ModelPack => modelpack::parse_layer_media_type(&d.media_type).map(|(_, f)| f),
                PackageFormat::ModelKit => modelkit::parse_layer_media_type(&d.media_type).map(|(_, f)| f),
                PackageFormat::Artifact => Some(oras_layer_format(d).map_err(|p| content(&what, p))?),
                PackageFormat::Image => {
                    Some(image_layer_format(&d.media_type).map_err(|p| content(&what, p))?)
                }
            }
            .ok_or_else(|| content(&what, format!("unknown layer media type `{}`", d.media_type)))?;
            let annotated = modelpack::annotation(d, modelpack::ANNOTATION_FILEPATH)
                .or_else(|| d.annotation(ANNOTATION_TITLE))
                .map(str::to_owned)
                .or_else(|| {
                    kitfile.as_ref().and_then(|k| k.entry_for_digest(&d.digest_str)).map(|e| e.path.clone())
                });
            let path = match annotated {
                _ if image => None,
                // A tar layer of the whole context (`.`) has no path prefix to enforce.
                Some(p) if format != LayerFormat::Raw && p.split('/').all(|c| c.is_empty() || c == ".") => {
                    None
                }
                Some(p) => Some(safe_member_name(&p).map_err(|e| content(&what, format!("file path {e}")))?),
                None if format == LayerFormat::Raw => {
                    return Err(content(
                        &what,
                        "raw layer has no file path (org.cncf.model.filepath or title)",
                    ));
                }
                None => None,
            };
            layers.push(PlannedLayer { desc: d.clone(), format, path, diff_id: diff_ids[i].clone() });
        }
        Ok(Self {
            store,
            layout: None,
            manifest_desc,
            manifest,
            format,
            layers,
            name,
            model_root: Default::default(),
        })
    }

    /// The model root of a container image, once hashed (given with `--model-root`, or
    /// found from the last layer).
    pub fn model_root(&self) -> Option<&str> {
        self.model_root.get().map(String::as_str)
    }

    /// Where the blobs are.
    pub fn store(&self) -> &(dyn BlobStore + Send + 'a) {
        self.store.as_ref()
    }
}

impl ModelSource for PackagedModel<'_> {
    fn model_name(&self) -> String {
        self.name.clone()
    }

    fn relative_path_of(&self, _path: &Path) -> Option<String> {
        // No local file lies inside a packaged model.
        None
    }

    fn ignore_path_of(&self, path: &Path) -> Option<String> {
        // `--ignore-paths` names paths inside the package.
        let p = path.to_str()?;
        (!p.starts_with('/')).then(|| crate::formats::manifest::ResourceKey::file(p).path().to_owned())
    }

    fn attached_signature(&self) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(layout) = &self.layout else { return Ok(None) };
        // The newest signature referrer whose subject is this manifest.
        for d in
            layout.index()?.manifests.iter().rev().filter(|d| crate::oci::referrer::is_bundle_referrer(d))
        {
            let bytes = layout.read_blob(d, "referrer manifest")?;
            let m = ImageManifest::from_json(&bytes, "referrer manifest").map_err(OciError::from)?;
            if m.subject.as_ref().map(|s| &s.digest_str) == Some(&self.manifest_desc.digest_str)
                && let Some(layer) = crate::oci::referrer::bundle_layer(&m)
            {
                return Ok(Some(layout.read_blob_up_to(
                    layer,
                    "attached signature",
                    crate::oci::layout::MAX_SIGNATURE_BUNDLE,
                )?));
            }
        }
        Ok(None)
    }

    fn model_root(&self) -> Option<String> {
        self.model_root.get().map(|r| format!("/{r}"))
    }

    fn implicit_ignores(&self) -> Vec<String> {
        match self.format {
            PackageFormat::ModelKit => modelkit::KITFILE_NAMES.iter().map(|s| s.to_string()).collect(),
            _ => Vec::new(),
        }
    }

    fn hash(
        &self,
        req: &HashRequest,
        progress: &dyn Fn(u64) -> Box<dyn Progress>,
    ) -> Result<Hashed, SourceError> {
        let ser = &req.serialization;
        let only: Option<HashSet<&str>> = req.only.as_ref().map(|v| v.iter().map(String::as_str).collect());
        let include = |name: &str| {
            !crate::hashing::model_dir::is_ignored(name, &ser.ignore_paths)
                && only.as_ref().is_none_or(|o| o.contains(name))
        };
        let signed = req.signed.as_ref().map(|s| move |name: &str| s.contains(name));
        let signed: Option<&(dyn Fn(&str) -> bool + Sync)> = signed.as_ref().map(|f| f as _);
        let total: u64 = self.layers.iter().map(|l| l.desc.size).sum();
        let bar = progress(total);
        if self.format == PackageFormat::Image {
            return self.hash_image(req, &include, signed, bar.as_ref(), total);
        }
        if req.model_root.is_some() {
            return Err(SourceError::Oci(content(
                &self.manifest_desc.digest_str,
                "--model-root applies to container images; this is a model artifact",
            )));
        }
        let results: BTreeMap<usize, crate::oci::layer_stream::LayerOutput> =
            crate::hashing::parallel::try_map(
                &self.layers,
                req.threads,
                || (),
                |_, i, layer| self.hash_layer_at(i, layer, req, &include, signed, bar.as_ref(), None),
            )
            .map_err(SourceError::Oci)?
            .into_iter()
            .collect();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut items = Vec::new();
        let mut unsigned = Vec::new();
        for (i, out) in results {
            for f in &out.files {
                if let Some(prev) = seen.insert(f.clone(), i) {
                    return Err(SourceError::Oci(content(
                        &layer_what(i, &self.layers[i].desc),
                        format!("file `{f}` is also in layer {prev}"),
                    )));
                }
            }
            items.extend(out.resources);
            unsigned.extend(out.unsigned);
        }
        let manifest = Manifest::new(self.name.clone(), ser.clone(), items);
        Ok(Hashed { manifest, bytes_read: total, unsigned })
    }
}

impl PackagedModel<'_> {
    /// Hashes one layer; `root` is the model root of a container image (`None` for model
    /// artifacts).
    #[allow(clippy::too_many_arguments)]
    fn hash_layer_at(
        &self,
        i: usize,
        layer: &PlannedLayer,
        req: &HashRequest,
        include: &(dyn Fn(&str) -> bool + Sync),
        signed: Option<&(dyn Fn(&str) -> bool + Sync)>,
        progress: &dyn Progress,
        root: Option<&str>,
    ) -> Result<crate::oci::layer_stream::LayerOutput, OciError> {
        let what = layer_what(i, &layer.desc);
        let ser = &req.serialization;
        let digest: OciDigest = layer.desc.digest()?;
        let job = LayerJob {
            what: what.clone(),
            format: layer.format,
            digest,
            raw_name: layer.path.clone(),
            method: ser.method,
            algorithm: ser.hash,
            include,
            signed,
            max_unpacked: unpacked_limit(layer.desc.size, req.max_unpacked),
            progress,
            allow_links: ser.allow_symlinks,
            path_prefix: if layer.format == LayerFormat::Raw { None } else { layer.path.clone() },
            image_root: root,
            layer_digests: req.layers != LayerTrust::FilesDecide,
        };
        let (raw_digests, stream_tar) = match req.layers {
            LayerTrust::Stream | LayerTrust::FilesDecide => (false, true),
            LayerTrust::RawDigests { stream_tar } => (true, stream_tar),
        };
        if layer.format == LayerFormat::Raw
            && ((raw_digests && job.digest_is_resource())
                || job.raw_name.as_deref().is_some_and(|n| !job.is_signed(n)))
        {
            // The digest is the resource, or the file is unsigned: nothing to read.
            return job.raw_from_digest();
        }
        if layer.format != LayerFormat::Raw && !stream_tar {
            return Err(content(
                &what,
                "is a tar archive: its files can only be checked by streaming it (use --deep, or pull)",
            ));
        }
        // A raw layer's digest check is its file's hash, so only tar layers skip it.
        let blob = if job.layer_digests || layer.format == LayerFormat::Raw {
            self.store.open_blob(&layer.desc, &what)?
        } else {
            self.store.open_blob_size_only(&layer.desc, &what)?
        };
        let out = hash_layer(blob, &job)?;
        if let (Some(want), Some(got)) = (&layer.diff_id, &out.diff_id)
            && *want != got.to_string()
        {
            return Err(content(&what, format!("diffId is {got} but the config records {want}")));
        }
        Ok(out)
    }
}

/// Takes a layer hashed with the whole archive as its root (names as written) to the model
/// root: names made relative, what lies outside dropped, the ignore list and the signed
/// list applied as a pass rooted there would have.
fn rebase(
    out: crate::oci::layer_stream::LayerOutput,
    root: &str,
    include: &(dyn Fn(&str) -> bool + Sync),
    signed: Option<&(dyn Fn(&str) -> bool + Sync)>,
) -> crate::oci::layer_stream::LayerOutput {
    use crate::formats::manifest::ResourceKey;
    use crate::oci::changeset::{Placement, covers_root, place};
    let rel = |n: &str| -> Option<String> {
        match place(n, root) {
            Ok(Placement::Inside(r)) if !r.is_empty() => Some(r),
            _ => None,
        }
    };
    let mut o = crate::oci::layer_stream::LayerOutput { diff_id: out.diff_id, ..Default::default() };
    o.files = out.files.iter().filter_map(|f| rel(f)).collect();
    let mut unsigned = std::collections::BTreeSet::new();
    for (k, d) in out.resources {
        let Some(r) = rel(k.path()) else { continue };
        if !include(&r) {
            continue;
        }
        if signed.is_some_and(|s| !s(&r)) {
            unsigned.insert(r);
            continue;
        }
        let key = match k.range() {
            None => ResourceKey::file(&r),
            Some((a, b)) => ResourceKey::shard(&r, a, b),
        };
        o.resources.push((key, d));
    }
    o.unsigned = unsigned.into_iter().collect();
    let c = out.changes;
    o.changes.wipe_root = c.wipe_root;
    let mut scoped = |p: &str, opaque: bool| {
        if p.is_empty() || covers_root(p, root) {
            // At or above the root: the whole model below goes (an opaque root keeps its
            // own directory, which is all the same to the files).
            o.changes.wipe_root = true;
        } else if let Ok(Placement::Inside(r)) = place(p, root) {
            if opaque { o.changes.opaque.push(r) } else { o.changes.whiteouts.push(r) }
        }
    };
    for w in &c.whiteouts {
        scoped(w, false);
    }
    for d in &c.opaque {
        scoped(d, true);
    }
    o.changes.dirs = c.dirs.iter().filter_map(|d| rel(d)).collect();
    o
}

impl PackagedModel<'_> {
    /// A container image: the files a runtime shows under the model root, every layer
    /// streamed once (the last one first when the root must be found from it).
    fn hash_image(
        &self,
        req: &HashRequest,
        include: &(dyn Fn(&str) -> bool + Sync),
        signed: Option<&(dyn Fn(&str) -> bool + Sync)>,
        bar: &dyn Progress,
        total: u64,
    ) -> Result<Hashed, SourceError> {
        use crate::oci::changeset::{Overlay, common_dir};
        let mut found = Vec::new();
        let root = match &req.model_root {
            Some(r) => crate::oci::changeset::normalize_root(r).ok_or_else(|| {
                SourceError::Oci(content("--model-root", format!("`{r}` leaves the image's root")))
            })?,
            None => {
                // The topmost layer that adds files (the model's `COPY`) decides: read from
                // the archive root, then taken to the directory holding all its files.
                let all = |_: &str| true;
                let mut root = None;
                for i in (0..self.layers.len()).rev() {
                    let out = self.hash_layer_at(i, &self.layers[i], req, &all, None, bar, Some(""))?;
                    let has_files = !out.files.is_empty();
                    if has_files {
                        root = Some(common_dir(out.files.iter().map(String::as_str)));
                    }
                    found.push((i, out));
                    if has_files {
                        break;
                    }
                }
                let top = self.layers.len() - 1;
                match root {
                    Some(r) if !r.is_empty() => r,
                    _ => {
                        return Err(SourceError::Oci(content(
                            &layer_what(top, &self.layers[top].desc),
                            "cannot tell which directory holds the model: the topmost layer that adds files does not keep them under one directory; pass --model-root (e.g. /models)",
                        )));
                    }
                }
            }
        };
        let _ = self.model_root.set(root.clone());
        let done: HashSet<usize> = found.iter().map(|(i, _)| *i).collect();
        let pending: Vec<usize> = (0..self.layers.len()).filter(|i| !done.contains(i)).collect();
        let mut results: BTreeMap<usize, crate::oci::layer_stream::LayerOutput> =
            crate::hashing::parallel::try_map(
                &pending,
                req.threads,
                || (),
                |_, _, &i| {
                    self.hash_layer_at(i, &self.layers[i], req, include, signed, bar, Some(&root))
                        .map(|o| (i, o))
                },
            )
            .map_err(SourceError::Oci)?
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        for (i, out) in found {
            results.insert(i, rebase(out, &root, include, signed));
        }
        type Entry = (Vec<(crate::formats::manifest::ResourceKey, crate::formats::digest::Digest)>, bool);
        let mut overlay: Overlay<Entry> = Overlay::default();
        for (i, out) in results {
            let unsigned: HashSet<&String> = out.unsigned.iter().collect();
            let mut by_file: BTreeMap<String, Entry> =
                out.files.iter().map(|f| (f.clone(), (Vec::new(), unsigned.contains(f)))).collect();
            for (k, d) in out.resources {
                if let Some(e) = by_file.get_mut(k.path()) {
                    e.0.push((k, d));
                }
            }
            overlay.apply(i, &out.changes, by_file.into_iter().collect());
        }
        let mut items = Vec::new();
        let mut unsigned = Vec::new();
        for (path, _, (resources, extra)) in overlay.into_files() {
            if extra {
                unsigned.push(path);
            }
            items.extend(resources);
        }
        let manifest = Manifest::new(self.name.clone(), req.serialization.clone(), items);
        Ok(Hashed { manifest, bytes_read: total, unsigned })
    }
}
