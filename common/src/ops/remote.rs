//! Models in registries, verified: find the signature attached to a pinned manifest (the
//! newest few referrers), verify the model from its manifest and signature only (the one
//! pipeline of [`crate::ops::verify`], raw layers by digest), and pull it with every file
//! checked as it streams.
//!
//! Verify-then-use is pinned: a tag is resolved once to a manifest digest (checked against
//! the bytes), the signature is looked up and verified for that digest, and everything
//! after is fetched by digest and checked as it streams.

use crate::crypto::signature::{TrustPolicy, VerifiedSignature, verify_bundle};
use crate::errors::{Error, OciError, SignatureError};
use crate::formats::bundle::Bundle;
use crate::formats::manifest::{Manifest, Serialization};
use crate::hashing::StreamHasher;
use crate::hashing::source::{HashOptions, LayerTrust, signed_paths};
use crate::oci::changeset::{Changes, TopDown, common_dir, normalize_root, record};
use crate::oci::layer_stream::{tar_failure, unpacked_limit, unpacked_stream};
use crate::oci::modelpack::LayerFormat;
use crate::oci::referrer;
use crate::oci::tar_archive::{MemberKind, TarLimits, TarReader};
use crate::oci::{BlobStore, Descriptor, ImageManifest, OciDigest};
use crate::ops::report::VerifyReport;
use crate::ops::verify::{VerifyOptions, check_files, serialization_for};
use crate::packaging::read::{PackageFormat, PackagedModel};
use crate::registry::client::{Client, Repo};
use crate::registry::model::resolve;
use crate::registry::reference::Reference;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A verified signature for a pinned remote model, with its plan.
pub struct RemoteSignature<'c> {
    /// The verified signature.
    pub verified: VerifiedSignature,
    /// The model (manifest pinned by digest).
    pub model: PackagedModel<'c>,
    /// The pinned manifest.
    pub subject: Descriptor,
}

/// How many signature referrers are examined at most, newest first (by their
/// `org.opencontainers.image.created` annotation): junk referrers cost two requests each.
pub const MAX_SIGNATURE_CANDIDATES: usize = 16;

/// Reasons quoted in the error when no signature verifies (the rest are counted).
const MAX_REASONS: usize = 3;

/// Resolves, finds the attached signatures and returns the first that verifies (looking at
/// the newest [`MAX_SIGNATURE_CANDIDATES`]).
pub fn verified_signature<'c>(
    target: &Reference,
    client: &'c Client,
    policy: &TrustPolicy,
) -> Result<RemoteSignature<'c>, Error> {
    let repo = client.repo(&target.repository);
    let fetched = resolve(&repo, target)?;
    let subject = fetched.desc.clone();
    let digest = subject.digest()?;
    let (refs, _) = repo.referrers(&digest)?;
    let mut candidates: Vec<Descriptor> = refs.into_iter().filter(referrer::is_bundle_referrer).collect();
    candidates.sort_by(|a, b| {
        let t = |d: &Descriptor| d.annotation(crate::oci::ANNOTATION_CREATED).map(str::to_owned);
        t(b).cmp(&t(a))
    });
    if candidates.is_empty() {
        return Err(SignatureError::Material(format!(
            "no model signature is attached to {target} ({digest})"
        ))
        .into());
    }
    let attached = candidates.len();
    candidates.truncate(MAX_SIGNATURE_CANDIDATES);
    let mut reasons = Vec::new();
    for c in &candidates {
        match check_candidate(&repo, c, &digest, policy) {
            Ok(verified) => {
                let name = target.repository.rsplit('/').next().unwrap_or("model").to_owned();
                let store: Box<dyn BlobStore + Send + 'c> = Box::new(client.repo(&target.repository));
                let model = PackagedModel::from_manifest(store, subject.clone(), &fetched.bytes, name)?;
                return Ok(RemoteSignature { verified, model, subject });
            }
            Err(e) => reasons.push(format!("{}: {}", c.digest_str, short(&e.to_string()))),
        }
    }
    let examined = reasons.len();
    let more = examined.saturating_sub(MAX_REASONS);
    reasons.truncate(MAX_REASONS);
    let mut msg = format!("no attached signature verifies ({examined} examined");
    if attached > examined {
        msg.push_str(&format!(
            " of {attached} attached: only the newest {MAX_SIGNATURE_CANDIDATES} are examined"
        ));
    }
    msg.push_str(&format!("): {}", reasons.join("; ")));
    if more > 0 {
        msg.push_str(&format!("; and {more} more"));
    }
    Err(SignatureError::Material(msg).into())
}

/// One reason, cut to a readable length.
fn short(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn check_candidate(
    repo: &Repo,
    c: &Descriptor,
    subject: &OciDigest,
    policy: &TrustPolicy,
) -> Result<VerifiedSignature, Error> {
    let m = repo
        .fetch_manifest(&c.digest_str)?
        .ok_or_else(|| SignatureError::Material("referrer manifest is gone".into()))?;
    let rm = ImageManifest::from_json(&m.bytes, "referrer manifest")?;
    if rm.subject.as_ref().map(|s| s.digest_str.as_str()) != Some(subject.to_string().as_str()) {
        return Err(SignatureError::Material("referrer names another subject".into()).into());
    }
    let layer = referrer::bundle_layer(&rm)
        .ok_or_else(|| SignatureError::Material("referrer has no bundle layer".into()))?;
    let bytes = repo.read_blob_up_to(layer, "signature bundle", crate::oci::layout::MAX_SIGNATURE_BUNDLE)?;
    let bundle = Bundle::from_json(&bytes, "attached signature").map_err(SignatureError::from)?;
    Ok(verify_bundle(&bundle, policy)?)
}

/// Options of remote verification.
#[derive(Debug, Clone, Default)]
pub struct RemoteVerifyOptions {
    /// Stream tar layers to check their files.
    pub deep: bool,
    /// Tolerate layer files that were not signed.
    pub ignore_unsigned_files: bool,
}

impl RemoteVerifyOptions {
    /// The pipeline's options for a model in a registry: raw layers by digest (the registry
    /// is content-addressed), tar layers streamed with `deep`.
    pub fn for_registry(&self, hash: &HashOptions) -> VerifyOptions {
        VerifyOptions {
            hash: hash.clone(),
            layers: LayerTrust::RawDigests { stream_tar: self.deep },
            ignore_unsigned_files: self.ignore_unsigned_files,
        }
    }
}

/// Verifies a model in a registry from its manifest and signature: raw layers by digest
/// equality (not downloaded), tar layers streamed only with `deep`.
pub fn verify_remote(
    target: &Reference,
    client: &Client,
    policy: &TrustPolicy,
    hash: &HashOptions,
    opts: &RemoteVerifyOptions,
) -> Result<VerifyReport, Error> {
    let started = Instant::now();
    let mut report = VerifyReport::new(target.to_string(), "attached signature".into());
    let sig = match verified_signature(target, client, policy) {
        Ok(s) => s,
        Err(Error::Signature(e)) => {
            report.bytes_transferred = Some(client.downloaded());
            return Ok(report.failed(e.to_string(), started));
        }
        Err(e) => return Err(e),
    };
    verify_files(client, &sig, hash, opts, report, started)
}

/// The files stage for a signature already verified for the pinned manifest.
pub fn verify_files(
    client: &Client,
    sig: &RemoteSignature<'_>,
    hash: &HashOptions,
    opts: &RemoteVerifyOptions,
    mut report: VerifyReport,
    started: Instant,
) -> Result<VerifyReport, Error> {
    report.subject = Some(sig.subject.digest_str.clone());
    report.signer = Some(sig.verified.signer.clone());
    report.predicate_type = Some(sig.verified.predicate_type.clone());
    let mut report =
        check_files(&sig.model, &sig.verified.manifest, &opts.for_registry(hash), &[], report, started)?;
    report.bytes_transferred = Some(client.downloaded());
    Ok(report)
}

/// The `--include` patterns as one matcher: `*` and `?` within a path component, `**`
/// across components (globset with a literal separator, as `oras`, git and shells read
/// them). An invalid pattern is a usage error naming it.
pub fn include_matcher(patterns: &[String]) -> Result<globset::GlobSet, Error> {
    let mut set = globset::GlobSetBuilder::new();
    for p in patterns {
        let glob = globset::GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Usage(format!("--include `{p}`: {e}")))?;
        set.add(glob);
    }
    set.build().map_err(|e| Error::Usage(format!("--include: {e}")))
}

/// What a pull did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PullReport {
    /// The pinned manifest.
    pub subject: String,
    /// Files written (verified).
    pub written: Vec<String>,
    /// Files already present with the signed digest.
    pub already_present: Vec<String>,
    /// Bytes downloaded.
    pub bytes_transferred: u64,
}

/// Creates the directories of `rel` under `root`, refusing symbolic links on the way.
fn safe_parent(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    let mut dir = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for c in &parts[..parts.len().saturating_sub(1)] {
        dir.push(c);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(OciError::Content {
                    what: rel.into(),
                    problem: format!("{} is a symbolic link", dir.display()),
                }
                .into());
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(OciError::Content {
                    what: rel.into(),
                    problem: format!("{} is not a directory", dir.display()),
                }
                .into());
            }
            Err(_) => match std::fs::create_dir(&dir) {
                Ok(()) => {}
                // Another transfer created it meanwhile: fine if it is a real directory.
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists
                        && std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) => {}
                Err(source) => return Err(crate::errors::OutputError { path: dir.clone(), source }.into()),
            },
        }
    }
    Ok(dir)
}

/// A file being written: temporary until its content matched the signature (or, for a
/// pull without one, until its blob matched its digest).
struct Pending {
    name: String,
    /// The signed resource path it is checked as (`.` for a single-file model).
    resource: String,
    tmp: tempfile::NamedTempFile,
    hasher: Option<StreamHasher>,
    dest: PathBuf,
}

impl Pending {
    fn new(root: &Path, name: &str, resource: &str, ser: &Serialization) -> Result<Self, Error> {
        let mut p = Self::unchecked(root, name)?;
        p.resource = resource.into();
        p.hasher = Some(StreamHasher::new(resource, ser.method, ser.hash));
        Ok(p)
    }

    /// A file written without a signature to check it against.
    fn unchecked(root: &Path, name: &str) -> Result<Self, Error> {
        let dir = safe_parent(root, name)?;
        let tmp = tempfile::Builder::new()
            .prefix(".modelsig-pull-")
            .tempfile_in(&dir)
            .map_err(|source| crate::errors::OutputError { path: dir.clone(), source })?;
        let dest = root.join(name);
        if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(OciError::Content {
                what: name.into(),
                problem: "destination is a symbolic link".into(),
            }
            .into());
        }
        Ok(Self { name: name.into(), resource: name.into(), tmp, hasher: None, dest })
    }

    /// Streams `src` to the temporary file, hashing it on the way.
    fn fill(&mut self, src: &mut impl Read, buf: &mut [u8]) -> Result<(), Error> {
        loop {
            let n = src.read(buf).map_err(OciError::from_io)?;
            if n == 0 {
                return Ok(());
            }
            if let Some(h) = &mut self.hasher {
                h.update(&buf[..n]);
            }
            self.tmp
                .write_all(&buf[..n])
                .map_err(|source| crate::errors::OutputError { path: self.dest.clone(), source })?;
        }
    }

    /// Renames into place if the file matches the signature: every signed resource of it
    /// (all shards up to its signed end) and nothing more.
    fn commit(mut self, signed: &Manifest) -> Result<String, Error> {
        let computed = self.hasher.take().map(StreamHasher::finish).unwrap_or_default();
        signed
            .check_file(&self.resource, &computed)
            .map_err(|m| OciError::Content { what: self.name.clone(), problem: m.to_string() })?;
        self.persist()
    }

    /// Renames into place (the caller checked the content some other way).
    fn persist(self) -> Result<String, Error> {
        self.tmp
            .persist(&self.dest)
            .map_err(|e| crate::errors::OutputError { path: self.dest.clone(), source: e.error })?;
        Ok(self.name)
    }
}

/// Is the file already in place with exactly the signed content (every signed resource)?
fn local_matches(path: &Path, resource: &str, ser: &Serialization, signed: &Manifest) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    if !meta.is_file() {
        return false;
    }
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    let mut h = StreamHasher::new(resource, ser.method, ser.hash);
    let mut buf = vec![0u8; crate::hashing::READ_BUFFER];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    signed.check_file(resource, &h.finish()).is_ok()
}

/// Bytes free for an unprivileged writer on the file system holding `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// The files a pull writes, and the signed resource each is checked as.
struct Wanted {
    paths: HashSet<String>,
    /// The signature names its only resource `.` (model_signing's single-file model): the
    /// artifact's one file is checked as it, whatever its name.
    single: bool,
}

impl Wanted {
    fn resource<'a>(&self, name: &'a str) -> Option<&'a str> {
        if self.single { Some(".") } else { self.paths.contains(name).then_some(name) }
    }
}

/// Checks, from the manifest alone and before anything is downloaded, what can be judged
/// there: a raw layer whose digest contradicts the signed digest of its file, a file claimed
/// by two raw layers, and whether the declared sizes fit on the disk.
fn precheck(
    model: &PackagedModel<'_>,
    signed: &Manifest,
    ser: &Serialization,
    wanted: &Wanted,
    out: &Path,
) -> Result<(), Error> {
    let digest_is_resource = ser.method == crate::formats::manifest::Method::Files
        && ser.hash == crate::formats::digest::HashAlgorithm::Sha256;
    let mut claimed: HashMap<&str, usize> = HashMap::new();
    let mut needed: u64 = 0;
    for (i, layer) in model.layers.iter().enumerate() {
        let what = format!("layer {i} ({})", layer.desc.digest_str);
        if layer.format != LayerFormat::Raw {
            needed = needed.saturating_add(layer.desc.size);
            continue;
        }
        let Some(name) = layer.path.as_deref() else { continue };
        if let Some(prev) = claimed.insert(name, i) {
            return Err(OciError::Content {
                what,
                problem: format!("file `{name}` is also in layer {prev}"),
            }
            .into());
        }
        let Some(resource) = wanted.resource(name) else { continue };
        if digest_is_resource {
            let layer_digest = layer.desc.digest()?;
            if let Some((_, want)) = signed.resources_of(resource).next()
                && want.bytes() != layer_digest.bytes()
            {
                return Err(OciError::Content {
                    what: format!("{what}, file `{name}`"),
                    problem: format!(
                        "the manifest's layer digest {layer_digest} contradicts the signed digest {want} (nothing downloaded)"
                    ),
                }
                .into());
            }
        }
        let present = std::fs::metadata(out.join(name)).is_ok_and(|m| m.len() == layer.desc.size);
        if !present {
            needed = needed.saturating_add(layer.desc.size);
        }
    }
    if let Some(free) = free_space(out)
        && needed > free
    {
        return Err(OciError::Limit {
            what: out.display().to_string(),
            problem: format!(
                "the layers to download declare {needed} bytes but only {free} bytes are free (nothing downloaded)"
            ),
        }
        .into());
    }
    Ok(())
}

/// Pulling the model out of a container image: layers from the top down, each file taken
/// from the topmost layer that shows it under the model root (the view a runtime gives,
/// see [`crate::oci::changeset`]), each checked against the signature as it streams.
struct ImagePull<'a> {
    model: &'a PackagedModel<'a>,
    /// The verified signature's manifest, its serialization and the files wanted; `None`
    /// for a pull the trust policy lets through unchecked (`warn`/`off`).
    checked: Option<(&'a Manifest, &'a Serialization, &'a Wanted)>,
    /// Unchecked pulls: which files (`--include`).
    want: &'a dyn Fn(&str) -> bool,
    out: &'a Path,
    hash: &'a HashOptions,
}

impl ImagePull<'_> {
    fn layer_what(&self, i: usize) -> String {
        format!("layer {i} ({})", self.model.layers[i].desc.digest_str)
    }

    fn archive(&self, i: usize) -> Result<TarReader<Box<dyn Read + '_>>, Error> {
        let layer = &self.model.layers[i];
        let what = self.layer_what(i);
        let limit = unpacked_limit(layer.desc.size, self.hash.max_unpacked_size);
        let blob = self.model.store().open_blob(&layer.desc, &what)?;
        Ok(TarReader::new(unpacked_stream(blob, layer.format, limit, &what)?, TarLimits::default()))
    }

    /// The model root: `--model-root`, else the directory holding every file of the topmost
    /// layer that adds files (as when verifying), found from the layers' headers.
    fn root(&self) -> Result<String, Error> {
        if let Some(r) = &self.hash.model_root {
            return normalize_root(r).ok_or_else(|| {
                OciError::Content {
                    what: "--model-root".into(),
                    problem: format!("`{r}` leaves the image's root"),
                }
                .into()
            });
        }
        for i in (0..self.model.layers.len()).rev() {
            let what = self.layer_what(i);
            let mut archive = self.archive(i)?;
            let mut files = Vec::new();
            while let Some(m) = archive.next_member().map_err(|e| tar_failure(&what, e))? {
                let base = m.name.rsplit('/').next().unwrap_or_default();
                if m.kind != MemberKind::Directory && !base.starts_with(crate::oci::changeset::WHITEOUT) {
                    files.push(m.name);
                }
            }
            std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(OciError::from_io)?;
            if !files.is_empty() {
                let root = common_dir(files.iter().map(String::as_str));
                if !root.is_empty() {
                    return Ok(root);
                }
                break;
            }
        }
        Err(OciError::Content {
            what: "image".into(),
            problem: "cannot tell which directory holds the model: the topmost layer that adds files does not keep them under one directory; pass --model-root (e.g. /models)".into(),
        }
        .into())
    }

    fn run(&self, report: &mut PullReport, buf: &mut [u8]) -> Result<(), Error> {
        let root = self.root()?;
        let mut seen = TopDown::default();
        for i in (0..self.model.layers.len()).rev() {
            let what = self.layer_what(i);
            let mut archive = self.archive(i)?;
            let mut changes = Changes::default();
            let mut files = Vec::new();
            let mut staged = Vec::new();
            while let Some(member) = archive.next_member().map_err(|e| tar_failure(&what, e))? {
                let entry = || format!("{what}, entry `{}`", member.raw_name);
                let bad = |problem: String| -> Error { OciError::Content { what: entry(), problem }.into() };
                let is_link = matches!(member.kind, MemberKind::Symlink(_) | MemberKind::HardLink(_));
                let is_dir = member.kind == MemberKind::Directory;
                let Some(rel) = record(&member.name, is_dir, is_link, &root, &mut changes).map_err(bad)?
                else {
                    continue;
                };
                files.push(rel.clone());
                if !seen.visible(&rel) {
                    continue;
                }
                let Some((signed, ser, wanted)) = self.checked else {
                    if (self.want)(&rel) {
                        if is_link {
                            return Err(bad("links are not pulled".into()));
                        }
                        let mut pending = Pending::unchecked(self.out, &rel)?;
                        pending.fill(&mut archive.data(), buf)?;
                        staged.push(pending);
                    }
                    continue;
                };
                let Some(resource) = wanted.resource(&rel) else { continue };
                if is_link {
                    return Err(bad("links are not pulled".into()));
                }
                if local_matches(&self.out.join(&rel), resource, ser, signed) {
                    report.already_present.push(rel);
                    continue;
                }
                let mut pending = Pending::new(self.out, &rel, resource, ser)?;
                pending.fill(&mut archive.data(), buf)?;
                report.written.push(pending.commit(signed)?);
            }
            std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(OciError::from_io)?;
            // Unchecked files land only once their layer matched its digest.
            for p in staged.drain(..) {
                report.written.push(p.persist()?);
            }
            seen.visited(&changes, files);
        }
        Ok(())
    }
}

/// A reader that stops with an error once another transfer failed (fail-fast).
struct Cancellable<'a, R> {
    inner: R,
    cancel: &'a std::sync::atomic::AtomicBool,
    bar: &'a dyn crate::hashing::Progress,
}

impl<R: Read> Read for Cancellable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "cancelled: another layer failed",
            ));
        }
        let n = self.inner.read(buf)?;
        self.bar.advance(n as u64);
        Ok(n)
    }
}

/// What a pull checks each file against.
#[derive(Clone, Copy)]
enum FileCheck<'a> {
    /// The verified signature: each wanted file is checked as it streams and renamed into
    /// place only when it matches.
    Signed { signed: &'a Manifest, ser: &'a Serialization, wanted: &'a Wanted },
    /// No signature (policy `warn`/`off`): the blob digest is the only check, so a tar
    /// layer's files are staged and renamed into place once the whole layer matched.
    Unchecked { want: &'a (dyn Fn(&str) -> bool + Sync) },
}

/// Pulling one layer of a model artifact (raw: its file; tar: the wanted members), each
/// file checked as `check` says while it streams. Layers run concurrently
/// ([`LayerPull::run_all`]).
struct LayerPull<'a> {
    model: &'a PackagedModel<'a>,
    check: FileCheck<'a>,
    out: &'a Path,
    hash: &'a HashOptions,
    bar: &'a dyn crate::hashing::Progress,
}

impl LayerPull<'_> {
    /// Runs every layer, `concurrency` at a time; fail-fast: the first error is kept and the
    /// other transfers stop at their next read. Returns the files written and those present.
    fn run_all(&self, concurrency: usize) -> Result<(Vec<String>, Vec<String>), Error> {
        let indexes: Vec<usize> = (0..self.model.layers.len()).collect();
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let first: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        let results = crate::hashing::parallel::try_map(
            &indexes,
            concurrency,
            || vec![0u8; crate::hashing::READ_BUFFER],
            |buf, _, &i| {
                self.run(i, buf, &cancel).map_err(|e| {
                    if let Ok(mut f) = first.lock() {
                        f.get_or_insert(e);
                    }
                    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                })
            },
        );
        if let Some(e) = first.into_inner().ok().flatten() {
            return Err(e);
        }
        let (mut written, mut present) = (Vec::new(), Vec::new());
        for (_, (w, p)) in results.unwrap_or_default() {
            written.extend(w);
            present.extend(p);
        }
        Ok((written, present))
    }

    /// Returns the files written and those already present.
    fn run(
        &self,
        i: usize,
        buf: &mut [u8],
        cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<(Vec<String>, Vec<String>), Error> {
        let out = self.out;
        let layer = &self.model.layers[i];
        let what = format!("layer {i} ({})", layer.desc.digest_str);
        let (mut written, mut present) = (Vec::new(), Vec::new());
        let open = || -> Result<Cancellable<'_, _>, Error> {
            Ok(Cancellable {
                inner: self.model.store().open_blob(&layer.desc, &what)?,
                cancel,
                bar: self.bar,
            })
        };
        if layer.format == LayerFormat::Raw {
            let Some(name) = &layer.path else { return Ok((written, present)) };
            match self.check {
                FileCheck::Signed { signed, ser, wanted } => {
                    let Some(resource) = wanted.resource(name) else { return Ok((written, present)) };
                    if local_matches(&out.join(name), resource, ser, signed) {
                        present.push(name.clone());
                        return Ok((written, present));
                    }
                    let mut pending = Pending::new(out, name, resource, ser)?;
                    pending.fill(&mut open()?, buf)?;
                    written.push(pending.commit(signed)?);
                }
                FileCheck::Unchecked { want } => {
                    if want(name) {
                        // The blob's digest is checked at its end, before the rename.
                        let mut pending = Pending::unchecked(out, name)?;
                        pending.fill(&mut open()?, buf)?;
                        written.push(pending.persist()?);
                    }
                }
            }
            return Ok((written, present));
        }
        // Tar layers: extract wanted members as they stream, through the one tar reader.
        let limit = unpacked_limit(layer.desc.size, self.hash.max_unpacked_size);
        let stream = unpacked_stream(open()?, layer.format, limit, &what)?;
        let mut archive = TarReader::new(stream, TarLimits::default());
        let fail = |e| tar_failure(&what, e);
        let mut staged = Vec::new();
        while let Some(member) = archive.next_member().map_err(fail)? {
            let entry = || format!("{what}, entry `{}`", member.raw_name);
            let name = member.name.clone();
            match member.kind {
                MemberKind::Directory => continue,
                MemberKind::File => {}
                MemberKind::Symlink(_) | MemberKind::HardLink(_) => {
                    return Err(
                        OciError::Content { what: entry(), problem: "links are not pulled".into() }.into()
                    );
                }
            }
            if let Some(prefix) = &layer.path
                && name != *prefix
                && !name.starts_with(&format!("{prefix}/"))
            {
                return Err(OciError::Content {
                    what: entry(),
                    problem: format!("is outside the path `{prefix}` the layer is declared to hold"),
                }
                .into());
            }
            match self.check {
                FileCheck::Signed { signed, ser, wanted } => {
                    let Some(resource) = wanted.resource(&name) else { continue };
                    if local_matches(&out.join(&name), resource, ser, signed) {
                        present.push(name);
                        continue;
                    }
                    let mut pending = Pending::new(out, &name, resource, ser)?;
                    pending.fill(&mut archive.data(), buf)?;
                    written.push(pending.commit(signed)?);
                }
                FileCheck::Unchecked { want } => {
                    if want(&name) {
                        let mut pending = Pending::unchecked(out, &name)?;
                        pending.fill(&mut archive.data(), buf)?;
                        staged.push(pending);
                    }
                }
            }
        }
        // Finish the stream so the layer digest is checked too, then place staged files.
        std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(OciError::from_io)?;
        for p in staged {
            written.push(p.persist()?);
        }
        Ok((written, present))
    }
}

/// Pulls the files of a signed model (or those matching `include`), verifying the signature
/// first and every file as it streams; files are renamed into place only once they match,
/// and the pull stops at the first mismatch.
pub fn pull(
    target: &Reference,
    client: &Client,
    policy: &TrustPolicy,
    out: &Path,
    include: &[String],
    hash: &HashOptions,
) -> Result<PullReport, Error> {
    let sig = verified_signature(target, client, policy)?;
    pull_verified(target, client, &sig, out, include, hash)
}

/// Pulls with a signature already verified for the pinned manifest.
pub fn pull_verified(
    target: &Reference,
    client: &Client,
    sig: &RemoteSignature<'_>,
    out: &Path,
    include: &[String],
    hash: &HashOptions,
) -> Result<PullReport, Error> {
    let signed = &sig.verified.manifest;
    let ser = serialization_for(&sig.model, signed, hash, &[]);
    let matcher = include_matcher(include)?;
    let single = signed_paths(signed) == ["."];
    let paths: HashSet<String> =
        signed_paths(signed).into_iter().filter(|p| include.is_empty() || matcher.is_match(p)).collect();
    if paths.is_empty() && !single {
        return Err(Error::Usage("no signed file matches --include".into()));
    }
    let wanted = Wanted { paths, single };
    std::fs::create_dir_all(out)
        .map_err(|source| crate::errors::OutputError { path: out.to_path_buf(), source })?;
    precheck(&sig.model, signed, &ser, &wanted, out)?;
    let mut report = PullReport { subject: sig.subject.digest_str.clone(), ..Default::default() };
    if sig.model.format == PackageFormat::Image {
        let mut buf = vec![0u8; crate::hashing::READ_BUFFER];
        let all = |_: &str| true;
        let plan =
            ImagePull { model: &sig.model, checked: Some((signed, &ser, &wanted)), want: &all, out, hash };
        plan.run(&mut report, &mut buf)?;
    }
    if sig.model.format != PackageFormat::Image {
        let total: u64 = sig.model.layers.iter().map(|l| l.desc.size).sum();
        let bar = crate::hashing::ProgressBar::for_transfer(total, hash.quiet);
        let check = FileCheck::Signed { signed, ser: &ser, wanted: &wanted };
        let job = LayerPull { model: &sig.model, check, out, hash, bar: &bar };
        let (written, present) = job.run_all(client.concurrency())?;
        report.written.extend(written);
        report.already_present.extend(present);
    }
    let done: HashSet<&String> = report.written.iter().chain(&report.already_present).collect();
    if wanted.single && done.len() != 1 {
        return Err(OciError::Content {
            what: target.to_string(),
            problem: format!(
                "the signature covers a single-file model (`.`), but the artifact holds {} files",
                done.len()
            ),
        }
        .into());
    }
    let mut missing: Vec<&String> =
        wanted.paths.iter().filter(|w| !wanted.single && !done.contains(w)).collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(OciError::Content {
            what: target.to_string(),
            problem: format!("signed files not found in any layer: {missing:?}"),
        }
        .into());
    }
    report.bytes_transferred = client.downloaded();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::include_matcher;

    fn glob_match(pattern: &str, name: &str) -> bool {
        include_matcher(&[pattern.to_owned()]).is_ok_and(|m| m.is_match(name))
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.json", "config.json"));
        assert!(!glob_match("*.json", "a/config.json"));
        assert!(glob_match("**/*.json", "a/b/config.json"));
        assert!(glob_match("**/*.json", "config.json"));
        assert!(glob_match("weights/**", "weights/a/b.bin"));
        assert!(glob_match("model-0000?.bin", "model-00001.bin"));
        assert!(!glob_match("model-0000?.bin", "model-000010.bin"));
        assert!(!glob_match("a?b", "a/b"));
        assert!(include_matcher(&["[unclosed".to_owned()]).is_err());
    }
}

/// What signing a model in place did.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteSignReport {
    /// Resources signed.
    pub resources: usize,
    /// The pinned manifest digest.
    pub subject: String,
    /// The referrer, when attached.
    pub attached: Option<String>,
}

/// Signs a model already in a registry (raw layers are not downloaded), writes the bundle
/// to `signature` atomically and, with `attach`, attaches it to the pinned digest.
pub fn sign_remote(
    target: &Reference,
    client: &Client,
    material: &crate::crypto::signing::SigningMaterial,
    hash: &HashOptions,
    signature: &Path,
    attach: bool,
) -> Result<RemoteSignReport, Error> {
    let (manifest, subject) = crate::registry::model::remote_manifest(target, client, hash)?;
    let bundle = crate::crypto::signing::sign_manifest(&manifest, material)?;
    let json = bundle.to_json()?;
    crate::io::write_atomic(signature, &json)?;
    let attached = if attach {
        let pinned = target.pinned(&subject.digest()?);
        Some(crate::registry::model::attach(&pinned, &json, client)?.1.digest_str)
    } else {
        None
    };
    Ok(RemoteSignReport { resources: manifest.len(), subject: subject.digest_str, attached })
}

/// Pulls every file of a model without checking a signature (a policy in `warn` mode when no
/// signature verified, or `off`): each blob still streams through its digest check, raw
/// files are renamed into place only when their blob matched, and a tar layer's files only
/// once the whole layer matched its digest. `--include` selects files as usual. Same
/// per-layer code and concurrency as a verified pull ([`FileCheck::Unchecked`]).
pub fn pull_unverified(
    target: &Reference,
    client: &Client,
    out: &Path,
    include: &[String],
    hash: &HashOptions,
) -> Result<PullReport, Error> {
    let repo = client.repo(&target.repository);
    let fetched = resolve(&repo, target)?;
    let name = target.repository.rsplit('/').next().unwrap_or("model").to_owned();
    let store: Box<dyn BlobStore + Send + '_> = Box::new(client.repo(&target.repository));
    let model = PackagedModel::from_manifest(store, fetched.desc.clone(), &fetched.bytes, name)?;
    let matcher = include_matcher(include)?;
    let want = |n: &str| include.is_empty() || matcher.is_match(n);
    std::fs::create_dir_all(out)
        .map_err(|source| crate::errors::OutputError { path: out.to_path_buf(), source })?;
    let mut report = PullReport { subject: fetched.desc.digest_str.clone(), ..Default::default() };
    if model.format == PackageFormat::Image {
        let mut buf = vec![0u8; crate::hashing::READ_BUFFER];
        let plan = ImagePull { model: &model, checked: None, want: &want, out, hash };
        plan.run(&mut report, &mut buf)?;
    } else {
        let total: u64 = model.layers.iter().map(|l| l.desc.size).sum();
        let bar = crate::hashing::ProgressBar::for_transfer(total, hash.quiet);
        let job =
            LayerPull { model: &model, check: FileCheck::Unchecked { want: &want }, out, hash, bar: &bar };
        report.written.extend(job.run_all(client.concurrency())?.0);
    }
    report.bytes_transferred = client.downloaded();
    Ok(report)
}
