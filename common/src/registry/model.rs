//! Model operations against a registry that need no trust decision: push a directory
//! (ModelPack) or a layout with its signature referrers, attach and discover signatures,
//! resolve a tag once to its manifest, and compute the manifest of a model in place (for
//! signing it without downloading raw layers). Verification and verified pull are in
//! [`crate::ops::remote`].

use super::client::{Client, ClientOptions, FetchedManifest, Repo};
use super::reference::Reference;
use crate::errors::{Error, OciError, RegistryError, SignatureError};
use crate::formats::bundle::Bundle;
use crate::formats::manifest::{Manifest, Serialization};
use crate::hashing::NoProgress;
use crate::hashing::source::{HashOptions, HashRequest, LayerTrust, ModelSource};
use crate::oci::referrer;
use crate::oci::{BlobStore, Descriptor, ImageManifest, MEDIA_TYPE_MANIFEST, OciLayout};
use crate::packaging::read::PackagedModel;
use serde::Serialize;

/// Connects to the registry of a reference.
pub fn connect(r: &Reference, opts: &ClientOptions) -> Client {
    Client::new(&r.registry, opts.clone())
}

fn not_found(r: &Reference) -> RegistryError {
    RegistryError::Request {
        registry: r.registry.clone(),
        repository: r.repository.clone(),
        what: format!("manifest {}", r.reference()),
        problem: "not found".into(),
    }
}

/// Resolves a reference once to its manifest (bytes checked against the digest).
pub fn resolve(repo: &Repo, r: &Reference) -> Result<FetchedManifest, RegistryError> {
    repo.fetch_manifest(&r.reference())?.ok_or_else(|| not_found(r))
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// Where.
    pub reference: String,
    /// The pushed manifest digest.
    pub digest: String,
    /// Blobs uploaded (others were already there).
    pub uploaded_blobs: usize,
    /// Signature referrers pushed along.
    pub referrers: Vec<String>,
}

/// Pushes a layout's manifest (its blobs first) and the signature referrers of it that the
/// layout holds, with one progress bar (bytes, rate, ETA) over the blobs unless `quiet`.
pub fn push_layout(
    layout: &OciLayout,
    manifest: &Descriptor,
    target: &Reference,
    client: &Client,
    quiet: bool,
) -> Result<PushReport, Error> {
    let repo = client.repo(&target.repository);
    let bytes = layout.read_blob(manifest, "manifest")?;
    let m = ImageManifest::from_json(&bytes, "manifest")?;
    // Blobs go up concurrently (`--concurrency`), the manifest only once all are there.
    let blobs: Vec<&Descriptor> = std::iter::once(&m.config).chain(m.layers.iter()).collect();
    let bar = crate::hashing::ProgressBar::for_upload(blobs.iter().map(|d| d.size).sum(), quiet);
    let pushed = crate::hashing::parallel::try_map(
        &blobs,
        client.concurrency(),
        || (),
        |_, i, d| push_blob_from_layout(layout, &repo, d, &format!("blob {i}"), &bar),
    )?;
    drop(bar);
    let mut uploaded = pushed.iter().filter(|(_, new)| *new).count();
    let tag = target.tag.clone().unwrap_or_else(|| manifest.digest_str.clone());
    repo.push_manifest(&tag, &bytes, m.media_type.as_deref().unwrap_or(MEDIA_TYPE_MANIFEST))?;
    let subject = manifest.digest()?;
    let mut referrers = Vec::new();
    for d in layout.index()?.manifests.iter().filter(|d| referrer::is_bundle_referrer(d)) {
        let rbytes = layout.read_blob(d, "referrer")?;
        let rm = ImageManifest::from_json(&rbytes, "referrer")?;
        if rm.subject.as_ref().map(|s| &s.digest_str) != Some(&manifest.digest_str) {
            continue;
        }
        for (i, b) in std::iter::once(&rm.config).chain(rm.layers.iter()).enumerate() {
            uploaded += usize::from(push_blob_from_layout(
                layout,
                &repo,
                b,
                &format!("referrer blob {i}"),
                &crate::hashing::NoProgress,
            )?);
        }
        referrers.push(repo.push_referrer(&rbytes, &subject, referrer::BUNDLE_MEDIA_TYPE)?.digest_str);
    }
    Ok(PushReport {
        reference: target.to_string(),
        digest: manifest.digest_str.clone(),
        uploaded_blobs: uploaded,
        referrers,
    })
}

fn push_blob_from_layout(
    layout: &OciLayout,
    repo: &Repo,
    d: &Descriptor,
    what: &str,
    bar: &dyn crate::hashing::Progress,
) -> Result<bool, Error> {
    let digest = d.digest()?;
    if repo.blob_exists(&digest)? {
        bar.advance(d.size);
        return Ok(false);
    }
    let mut reader =
        crate::io::Tap::new(layout.open_file_blob(d, what)?, |b: &[u8]| bar.advance(b.len() as u64));
    let (got, _) = repo.push_stream(&mut reader, what)?;
    if got != digest {
        return Err(OciError::DigestMismatch {
            what: what.into(),
            expected: digest.to_string(),
            actual: got.to_string(),
        }
        .into());
    }
    Ok(true)
}

/// What `push` of a directory did: how it was packed, and the push.
#[derive(Debug, Clone, Serialize)]
pub struct PushDirReport {
    /// The packing.
    pub pack: crate::packaging::write::PackReport,
    /// The push.
    pub push: PushReport,
}

/// Packs a model directory into a temporary layout (ModelKits always use tar layers) and
/// pushes it with its signature referrer (`signature` is checked against the files first).
pub fn push_dir(
    model: &std::path::Path,
    target: &Reference,
    client: &Client,
    format: crate::packaging::write::PackFormat,
    layer_format: crate::packaging::write::PackLayerFormat,
    hash: &HashOptions,
    signature: Option<&std::path::Path>,
) -> Result<PushDirReport, Error> {
    use crate::packaging::write::{PackFormat, PackLayerFormat, pack};
    let tmp = tempfile::tempdir()
        .map_err(|source| crate::errors::OutputError { path: std::env::temp_dir(), source })?;
    let layout_dir = tmp.path().join("layout");
    let layer_format = if format == PackFormat::Modelkit { PackLayerFormat::Tar } else { layer_format };
    let (packed, _) = pack(model, &layout_dir, Some("push"), format, layer_format, hash, signature)?;
    let push = copy_layout(&layout_dir, Some("push"), target, client, hash.quiet)?;
    Ok(PushDirReport { pack: packed, push })
}

/// Pushes the manifest a layout tag (or digest) names, with its blobs and signature referrers.
pub fn copy_layout(
    layout_dir: &std::path::Path,
    tag: Option<&str>,
    target: &Reference,
    client: &Client,
    quiet: bool,
) -> Result<PushReport, Error> {
    let layout = OciLayout::open(layout_dir)?;
    let index = layout.index()?;
    let desc = layout.resolve(&index, tag)?;
    push_layout(&layout, &desc, target, client, quiet)
}

/// Attaches a bundle (`model.sig`) to the manifest a reference names.
pub fn attach(
    target: &Reference,
    bundle_json: &[u8],
    client: &Client,
) -> Result<(Descriptor, Descriptor), Error> {
    Bundle::from_json(bundle_json, "signature").map_err(SignatureError::from)?;
    let repo = client.repo(&target.repository);
    let subject = resolve(&repo, target)?.desc;
    let bundle =
        Descriptor { media_type: referrer::BUNDLE_MEDIA_TYPE.into(), ..repo.push_bytes(bundle_json)? };
    repo.push_bytes(referrer::EMPTY_CONFIG)?;
    let manifest = referrer::signature_manifest(&subject, &bundle, &referrer::now_rfc3339())?.to_json()?;
    let desc = repo.push_referrer(&manifest, &subject.digest()?, referrer::BUNDLE_MEDIA_TYPE)?;
    Ok((subject, desc))
}

/// The signature referrers of a reference: (subject, referrers, whether the registry's
/// referrers API answered).
pub fn discover(target: &Reference, client: &Client) -> Result<(Descriptor, Vec<Descriptor>, bool), Error> {
    let repo = client.repo(&target.repository);
    let subject = resolve(&repo, target)?.desc;
    let (all, api) = repo.referrers(&subject.digest()?)?;
    Ok((subject, all.into_iter().filter(referrer::is_bundle_referrer).collect(), api))
}

/// Computes the manifest of a model in a registry without downloading raw layers.
pub fn remote_manifest(
    target: &Reference,
    client: &Client,
    hash: &HashOptions,
) -> Result<(Manifest, Descriptor), Error> {
    let repo = client.repo(&target.repository);
    let fetched = resolve(&repo, target)?;
    let name = target.repository.rsplit('/').next().unwrap_or("model").to_owned();
    let store: Box<dyn BlobStore + Send + '_> = Box::new(client.repo(&target.repository));
    let model = PackagedModel::from_manifest(store, fetched.desc.clone(), &fetched.bytes, name)?;
    let serialization = Serialization {
        method: crate::formats::manifest::Method::Files,
        hash: crate::formats::digest::HashAlgorithm::Sha256,
        allow_symlinks: hash.allow_symlinks,
        ignore_paths: hash.ignore_list(&model, &[]),
    };
    let req = HashRequest {
        serialization,
        only: None,
        signed: None,
        max_unpacked: hash.max_unpacked_size,
        model_root: hash.model_root.clone(),
        layers: LayerTrust::RawDigests { stream_tar: true },
        threads: hash.threads,
    };
    let hashed = model.hash(&req, &|_| Box::new(NoProgress))?;
    Ok((hashed.manifest, fetched.desc))
}
