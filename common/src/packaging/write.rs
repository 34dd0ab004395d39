//! Packing a model directory into an OCI image layout, as a CNCF ModelPack (`modctl build`
//! shape: one layer per file, raw or tar) or a KitOps ModelKit (`kit pack` shape: one tar
//! layer per top-level path, Kitfile config with digests and diffIds).
//!
//! Each file is read once: the same bytes go into the blob (hashed for its layer digest)
//! and into the model_signing resource hashers, so the layout and the manifest a signature
//! must match come out of one pass. With a signature, the signed manifest is checked
//! against the files during that pass and the bundle is stored as a referrer of the model
//! manifest (OCI 1.1 `subject`), so tools that copy referrers move both.

use crate::errors::{Error, OciError, OutputError, SignatureError};
use crate::formats::bundle::Bundle;
use crate::formats::digest::{Digest, HashAlgorithm};
use crate::formats::manifest::{Manifest, Method, ResourceKey, Serialization};
use crate::hashing::StreamHasher;
use crate::hashing::model_dir::{ModelFile, WalkOptions};
use crate::hashing::source::HashOptions;
use crate::io::Tap;
use crate::oci::modelkit::{self, Entry, Kitfile, ModelSection};
use crate::oci::modelpack::{self, Kind, LayerFormat, ModelConfig, ModelFs};
use crate::oci::referrer;
use crate::oci::{ANNOTATION_CREATED, ANNOTATION_TITLE, Descriptor, ImageManifest, MEDIA_TYPE_MANIFEST};
use crate::oci::{OciDigest, OciLayout};
use serde::Serialize;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Which packaging convention to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PackFormat {
    /// CNCF ModelPack.
    Modelpack,
    /// KitOps ModelKit.
    Modelkit,
}

/// Layer format for packing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PackLayerFormat {
    /// One uncompressed file per layer (ModelPack only).
    Raw,
    /// Tar layers, one per file (ModelPack) or per top-level entry (ModelKit).
    Tar,
    /// Tar layers, one per top-level entry: the files of a directory share one layer
    /// (ModelPack; ModelKits always have this shape). For models with many files: a manifest
    /// with one layer per file passes registries' usual 4 MiB manifest limit at about 9,000
    /// files (docker-registry 2.8 answers "request body too large").
    TarDirs,
}

/// What `pack` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PackReport {
    /// The layout directory.
    pub layout: String,
    /// The tag.
    pub tag: Option<String>,
    /// The model manifest digest.
    pub manifest_digest: String,
    /// Number of layers.
    pub layers: usize,
    /// Bytes of the model's files.
    pub bytes: u64,
    /// The signature referrer's manifest digest, if a signature was attached.
    pub signature_referrer: Option<String>,
}

fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError { path: path.to_path_buf(), source }
}

/// Hashers for one file: the signature's serialization, unless the blob digest serves.
struct FileHashing {
    hasher: Option<StreamHasher>,
}

impl FileHashing {
    /// For a raw layer, whose blob is the file.
    fn new(name: &str, ser: &Serialization) -> Self {
        let reuse = ser.method == Method::Files && ser.hash == HashAlgorithm::Sha256;
        Self { hasher: (!reuse).then(|| StreamHasher::new(name, ser.method, ser.hash)) }
    }

    fn update(&mut self, b: &[u8]) {
        if let Some(h) = &mut self.hasher {
            h.update(b);
        }
    }

    fn finish(self, name: &str, blob_digest: &OciDigest) -> Vec<(ResourceKey, Digest)> {
        match self.hasher {
            Some(h) => h.finish(),
            None => vec![(ResourceKey::file(name), Digest::new(HashAlgorithm::Sha256, blob_digest.bytes()))],
        }
    }
}

/// Copies a file into `w`, feeding the resource hashers on the way.
fn copy_file(
    f: &ModelFile,
    w: &mut impl Write,
    hashing: &mut FileHashing,
    what: &Path,
) -> Result<u64, Error> {
    let mut src = std::fs::File::open(&f.path)
        .map_err(|source| crate::errors::SourceError::Io { path: f.path.clone(), source })?;
    let mut buf = vec![0u8; crate::hashing::READ_BUFFER];
    let mut n_total = 0u64;
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|source| crate::errors::SourceError::Io { path: f.path.clone(), source })?;
        if n == 0 {
            break;
        }
        hashing.update(&buf[..n]);
        w.write_all(&buf[..n]).map_err(out_err(what))?;
        n_total += n as u64;
    }
    if n_total != f.size {
        return Err(crate::errors::SourceError::Changed {
            path: f.path.clone(),
            expected: f.size,
            read: n_total,
        }
        .into());
    }
    Ok(n_total)
}

fn file_metadata(f: &ModelFile) -> String {
    let meta = std::fs::metadata(&f.path).ok();
    let mtime = meta
        .as_ref()
        .and_then(|m| time::OffsetDateTime::from_unix_timestamp(m.mtime()).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    serde_json::json!({
        "name": f.name.rsplit('/').next().unwrap_or(&f.name),
        "mode": meta.as_ref().map_or(0o644, |m| m.mode() & 0o7777),
        "uid": meta.as_ref().map_or(0, |m| m.uid()),
        "gid": meta.as_ref().map_or(0, |m| m.gid()),
        "size": f.size,
        "mtime": mtime,
        "typeflag": 48,
    })
    .to_string()
}

/// A tar header like `kit pack` writes (times zero, uid 1000, gid 0, no user names).
fn kit_header(size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(1000);
    h.set_gid(0);
    h
}

struct Packer<'a> {
    layout: &'a OciLayout,
    ser: Serialization,
    items: Vec<(ResourceKey, Digest)>,
    bytes: u64,
}

impl Packer<'_> {
    /// A raw layer holding one file.
    fn raw_layer(&mut self, f: &ModelFile, media_type: &str) -> Result<Descriptor, Error> {
        let mut w = self.layout.blob_writer()?;
        let mut h = FileHashing::new(&f.name, &self.ser);
        self.bytes += copy_file(f, &mut w, &mut h, self.layout.root())?;
        let (digest, size) = w.finish()?;
        self.items.extend(h.finish(&f.name, &digest));
        Ok(Descriptor::new(media_type, &digest, size))
    }

    /// A tar layer holding `members` (directories as `name/`, files) in order.
    fn tar_layer(
        &mut self,
        members: &[(String, Option<&ModelFile>)],
        media_type: &str,
    ) -> Result<(Descriptor, String), Error> {
        let root = self.layout.root().to_path_buf();
        let mut builder = tar::Builder::new(self.layout.blob_writer()?);
        for (name, file) in members {
            match file {
                None => {
                    let mut h = kit_header(0, true);
                    builder
                        .append_data(&mut h, format!("{name}/"), std::io::empty())
                        .map_err(out_err(&root))?;
                }
                Some(f) => {
                    let mut h = kit_header(f.size, false);
                    let src = std::fs::File::open(&f.path)
                        .map_err(|source| crate::errors::SourceError::Io { path: f.path.clone(), source })?;
                    let mut hasher = StreamHasher::new(&f.name, self.ser.method, self.ser.hash);
                    let mut read = 0u64;
                    let mut reader = Tap::new(src, |b: &[u8]| {
                        hasher.update(b);
                        read += b.len() as u64;
                    });
                    builder.append_data(&mut h, &f.name, &mut reader).map_err(|e| match e.kind() {
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                            Error::from(crate::errors::SourceError::Io { path: f.path.clone(), source: e })
                        }
                        _ => Error::from(OutputError { path: root.clone(), source: e }),
                    })?;
                    if read != f.size {
                        return Err(crate::errors::SourceError::Changed {
                            path: f.path.clone(),
                            expected: f.size,
                            read,
                        }
                        .into());
                    }
                    self.bytes += f.size;
                    self.items.extend(hasher.finish());
                }
            }
        }
        let w = builder.into_inner().map_err(out_err(&root))?;
        let (digest, size) = w.finish()?;
        // Uncompressed tar: the diffId is the layer digest.
        Ok((Descriptor::new(media_type, &digest, size), digest.to_string()))
    }
}

/// Files grouped by their top-level path, in order (`files` is sorted by name).
fn top_level_groups(files: &[ModelFile]) -> Vec<(String, Vec<&ModelFile>)> {
    let mut groups: Vec<(String, Vec<&ModelFile>)> = Vec::new();
    for f in files {
        let top = f.name.split('/').next().unwrap_or(&f.name).to_owned();
        match groups.last_mut() {
            Some((t, v)) if *t == top => v.push(f),
            _ => groups.push((top, vec![f])),
        }
    }
    groups
}

/// The tar members of one group: every ancestor directory once, then the files, sorted.
fn group_members<'f>(group: &[&'f ModelFile]) -> Vec<(String, Option<&'f ModelFile>)> {
    let mut members: Vec<(String, Option<&ModelFile>)> = Vec::new();
    let mut listed = std::collections::HashSet::new();
    for f in group {
        for a in ancestors(&f.name) {
            if listed.insert(a.clone()) {
                members.push((a, None));
            }
        }
        members.push((f.name.clone(), Some(*f)));
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    members
}

/// Ancestors of a path, outermost first (`a/b/c` → `a`, `a/b`).
fn ancestors(name: &str) -> Vec<String> {
    let parts: Vec<&str> = name.split('/').collect();
    (1..parts.len()).map(|i| parts[..i].join("/")).collect()
}

fn kit_section(kind: Kind) -> &'static str {
    match kind {
        Kind::Weight | Kind::WeightConfig => "model",
        Kind::Code => "code",
        Kind::Dataset => "datasets",
        Kind::Doc => "docs",
    }
}

/// Packs `model` into the layout at `out`, tagged `tag`. `serialization` is the one the
/// manifest must be computed with (the signature's, when one is given).
pub fn pack(
    model: &Path,
    out: &Path,
    tag: Option<&str>,
    format: PackFormat,
    layer_format: PackLayerFormat,
    opts: &HashOptions,
    signature: Option<&Path>,
) -> Result<(PackReport, Manifest), Error> {
    if format == PackFormat::Modelkit && layer_format == PackLayerFormat::Raw {
        return Err(Error::Usage("ModelKits are packed with tar layers (--layer-format tar)".into()));
    }
    if !std::fs::metadata(model).map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::Usage(format!("{}: pack needs a model directory", model.display())));
    }
    // The signature (if any) decides the serialization; its claims are checked below.
    let signed: Option<(Bundle, Manifest)> = match signature {
        None => None,
        Some(p) => {
            let bundle = crate::formats::bundle::read_bundle(p)?.map_err(Error::Signature)?;
            let payload = bundle
                .envelope()
                .map_err(SignatureError::from)?
                .payload_bytes()
                .map_err(SignatureError::from)?;
            let m = crate::formats::predicate::manifest_from_payload(&payload)?;
            Some((bundle, m))
        }
    };
    let rel_sig: Vec<PathBuf> = signature.map(Path::to_path_buf).into_iter().collect();
    let user = crate::hashing::model_dir::resolve_cli_ignore_paths(
        model,
        &[opts.ignore_paths.clone(), rel_sig].concat(),
    );
    let mut ignore = crate::hashing::model_dir::ignore_list(&user, opts.ignore_git_paths);
    let ser = match &signed {
        Some((_, m)) => {
            crate::hashing::model_dir::add_ignores(
                &mut ignore,
                m.serialization.ignore_paths.iter().map(String::as_str),
            );
            Serialization { ignore_paths: ignore.clone(), ..m.serialization.clone() }
        }
        None => Serialization {
            method: Method::Files,
            hash: HashAlgorithm::Sha256,
            allow_symlinks: opts.allow_symlinks,
            ignore_paths: ignore.clone(),
        },
    };
    let walk =
        WalkOptions { allow_symlinks: ser.allow_symlinks || opts.allow_symlinks, ignore_paths: ignore };
    let files = crate::hashing::model_dir::list_files(model, &walk, None)?;
    let layout = OciLayout::create(out)?;
    let mut packer = Packer { layout: &layout, ser: ser.clone(), items: Vec::new(), bytes: 0 };
    let name = crate::hashing::model_dir::model_name(model);
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();

    let (artifact_type, config_media_type, config_bytes, layers) = match format {
        PackFormat::Modelpack => {
            let mut layers = Vec::new();
            let mut diff_ids = Vec::new();
            if layer_format == PackLayerFormat::TarDirs {
                for (top, group) in top_level_groups(&files) {
                    // The layer's kind is its largest file's.
                    let kind = group
                        .iter()
                        .max_by_key(|f| f.size)
                        .map_or(Kind::Doc, |f| modelpack::classify(&f.name, f.size));
                    let (desc, diff_id) = packer.tar_layer(
                        &group_members(&group),
                        &modelpack::layer_media_type(kind, LayerFormat::Tar),
                    )?;
                    diff_ids.push(diff_id);
                    layers.push(
                        desc.annotate(modelpack::ANNOTATION_FILEPATH, top.clone())
                            .annotate(ANNOTATION_TITLE, top.clone())
                            .annotate(modelpack::ANNOTATION_MEDIATYPE_UNTESTED, "true"),
                    );
                }
            }
            for f in files.iter().filter(|_| layer_format != PackLayerFormat::TarDirs) {
                let kind = modelpack::classify(&f.name, f.size);
                let desc = match layer_format {
                    PackLayerFormat::Raw => {
                        packer.raw_layer(f, &modelpack::layer_media_type(kind, LayerFormat::Raw))?
                    }
                    PackLayerFormat::Tar | PackLayerFormat::TarDirs => {
                        let mut members: Vec<(String, Option<&ModelFile>)> =
                            ancestors(&f.name).into_iter().map(|a| (a, None)).collect();
                        members.push((f.name.clone(), Some(f)));
                        packer.tar_layer(&members, &modelpack::layer_media_type(kind, LayerFormat::Tar))?.0
                    }
                };
                diff_ids.push(desc.digest_str.clone());
                layers.push(
                    desc.annotate(modelpack::ANNOTATION_FILEPATH, f.name.clone())
                        .annotate(ANNOTATION_TITLE, f.name.clone())
                        .annotate(modelpack::ANNOTATION_FILE_METADATA, file_metadata(f))
                        .annotate(modelpack::ANNOTATION_MEDIATYPE_UNTESTED, "true"),
                );
            }
            let mut descriptor = serde_json::Map::new();
            descriptor.insert("name".into(), name.clone().into());
            descriptor.insert("createdAt".into(), created.clone().into());
            let config = ModelConfig {
                descriptor,
                modelfs: ModelFs { fs_type: "layers".into(), diff_ids },
                config: serde_json::Map::new(),
            };
            (
                modelpack::ARTIFACT_TYPE,
                modelpack::CONFIG_MEDIA_TYPE,
                crate::io::to_json(&config, "ModelPack config")?,
                layers,
            )
        }
        PackFormat::Modelkit => {
            // One layer per top-level path, like a Kitfile listing the project's entries.
            let groups = top_level_groups(&files);
            let mut kitfile = Kitfile { manifest_version: "1.0.0".into(), ..Default::default() };
            kitfile.package.insert("name".into(), name.clone().into());
            let mut layers = Vec::new();
            // The largest weight group is the model; other model files are parts.
            let weight_size = |g: &[&ModelFile]| -> u64 {
                g.iter()
                    .filter(|f| modelpack::classify(&f.name, f.size) == Kind::Weight)
                    .map(|f| f.size)
                    .sum()
            };
            let model_group = groups
                .iter()
                .enumerate()
                .max_by_key(|(_, (_, g))| weight_size(g))
                .filter(|(_, (_, g))| weight_size(g) > 0)
                .map(|(i, _)| i);
            for (gi, (top, group)) in groups.iter().enumerate() {
                let biggest = group
                    .iter()
                    .max_by_key(|f| f.size)
                    .map_or(Kind::Doc, |f| modelpack::classify(&f.name, f.size));
                let section = if Some(gi) == model_group { "model" } else { kit_section(biggest) };
                let kind = match (section, Some(gi) == model_group) {
                    ("model", true) => "model",
                    ("model", false) => "modelpart",
                    ("datasets", _) => "dataset",
                    (s, _) => s,
                };
                let members = group_members(group);
                let (desc, diff_id) = packer.tar_layer(&members, &modelkit::layer_media_type(kind))?;
                let entry = Entry {
                    path: top.clone(),
                    digest: Some(desc.digest_str.clone()),
                    diff_id: Some(diff_id),
                    ..Default::default()
                };
                match kind {
                    "model" => {
                        let parts = kitfile.model.take().map(|m| m.parts).unwrap_or_default();
                        kitfile.model = Some(ModelSection { entry, parts });
                    }
                    "modelpart" => kitfile.model.get_or_insert_with(Default::default).parts.push(entry),
                    "code" => kitfile.code.push(entry),
                    "dataset" => kitfile.datasets.push(entry),
                    _ => kitfile.docs.push(entry),
                }
                layers.push(
                    desc.annotate(modelpack::ANNOTATION_FILEPATH, top.clone())
                        .annotate(ANNOTATION_TITLE, top.clone()),
                );
            }
            (
                modelkit::ARTIFACT_TYPE,
                modelkit::CONFIG_MEDIA_TYPE,
                crate::io::to_json(&kitfile, "Kitfile config")?,
                layers,
            )
        }
    };
    let cdigest = layout.put_blob(&config_bytes)?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: Some(artifact_type.into()),
        config: Descriptor::new(config_media_type, &cdigest, config_bytes.len() as u64),
        layers,
        subject: None,
        annotations: Some([(ANNOTATION_CREATED.to_owned(), created.clone())].into()),
        extra: Default::default(),
    };
    let computed = Manifest::new(name.clone(), ser.clone(), packer.items);
    let bytes = packer.bytes;

    // With a signature: the files must be exactly what it signs before anything is tagged.
    if let Some((_, signed_manifest)) = &signed {
        let c = computed.compare(signed_manifest);
        if !c.is_match() {
            let mut lines: Vec<String> =
                c.mismatched.iter().map(|m| format!("mismatch {}", m.name)).collect();
            lines.extend(c.missing.iter().map(|n| format!("missing {n}")));
            lines.extend(c.extra.iter().map(|n| format!("extra {n}")));
            return Err(SignatureError::Statement(format!(
                "the signature does not match the files being packed: {}",
                lines.join(", ")
            ))
            .into());
        }
    }

    let mbytes = manifest.to_json()?;
    if mbytes.len() as u64 > crate::oci::layout::MAX_METADATA_BLOB {
        // Nothing is tagged: readers (ours included) refuse manifests this large, and
        // registries commonly stop at 4 MiB.
        return Err(OciError::Limit {
            what: format!("manifest of {} layers", manifest.layers.len()),
            problem: format!(
                "would be {} bytes, over the {} MiB metadata cap; pack many files with one tar layer per top-level directory (--layer-format tar-dirs, or --format modelkit)",
                mbytes.len(),
                crate::oci::layout::MAX_METADATA_BLOB >> 20
            ),
        }
        .into());
    }
    let mdigest = layout.put_blob(&mbytes)?;
    let mdesc = Descriptor::new(MEDIA_TYPE_MANIFEST, &mdigest, mbytes.len() as u64);
    let mut report = PackReport {
        layout: out.display().to_string(),
        tag: tag.map(str::to_owned),
        manifest_digest: mdigest.to_string(),
        layers: manifest.layers.len(),
        bytes,
        signature_referrer: None,
    };
    if let (Some(_), Some(sig_path)) = (&signed, signature) {
        let raw = std::fs::read(sig_path)
            .map_err(|source| crate::errors::SourceError::Io { path: sig_path.to_path_buf(), source })?;
        let referrer = attach_bundle(&layout, &mdesc, &raw, &created)?;
        report.signature_referrer = Some(referrer.digest_str.clone());
        layout.add_to_index(referrer, None)?;
    }
    layout.add_to_index(mdesc, tag).map_err(Error::from)?;
    Ok((report, computed))
}

/// Stores a Sigstore bundle as a referrer of `subject` (see [`crate::oci::referrer`]).
pub fn attach_bundle(
    layout: &OciLayout,
    subject: &Descriptor,
    bundle_json: &[u8],
    created: &str,
) -> Result<Descriptor, Error> {
    let bdigest = layout.put_blob(bundle_json)?;
    layout.put_blob(referrer::EMPTY_CONFIG)?;
    let bundle = Descriptor::new(referrer::BUNDLE_MEDIA_TYPE, &bdigest, bundle_json.len() as u64);
    let bytes = referrer::signature_manifest(subject, &bundle, created)?.to_json()?;
    let digest = layout.put_blob(&bytes)?;
    let mut desc = Descriptor::new(MEDIA_TYPE_MANIFEST, &digest, bytes.len() as u64);
    desc.artifact_type = Some(referrer::BUNDLE_MEDIA_TYPE.into());
    Ok(desc)
}
