//! The one pass over a model layer: every byte of the blob is read once, and while it
//! streams we check the layer digest (descriptor), the diffId (uncompressed digest), and
//! hash each member file into manifest resources.
//!
//! Raw layers (ModelPack `…v1.raw`, one file) hold the file itself: with `files`/`sha256`
//! serialization the verified layer digest *is* the resource digest, so nothing is hashed
//! twice. Tar layers (`tar`, `tar+gzip`, `tar+zstd`) are decompressed and walked as they
//! stream through the one strict reader of [`crate::oci::tar_archive`] (the rules that make a
//! verifier see what extractors extract). Member names are untrusted: absolute paths,
//! `..`, duplicates, links and special files are rejected with the layer and entry named.
//!
//! Costs are bounded: a compressed layer may unpack to at most [`unpacked_limit`] bytes
//! (`--max-unpacked-size` raises it), and members the signature does not list are reported
//! as unsigned without being hashed.

use crate::errors::OciError;
use crate::formats::digest::{Digest, HashAlgorithm};
use crate::formats::manifest::{Method, ResourceKey};
use crate::hashing::{Progress, StreamHasher};
use crate::io::Tap;
use crate::oci::OciDigest;
use crate::oci::changeset::{Changes, record};
use crate::oci::modelpack::LayerFormat;
use crate::oci::tar_archive::{MemberKind, TarError, TarLimits, TarReader};
use sha2::Digest as _;
use std::io::Read;

pub use crate::oci::tar_archive::safe_member_name;

/// What to compute for one layer.
pub struct LayerJob<'a> {
    /// Names the layer in errors (`layer 2 (sha256:…)`).
    pub what: String,
    /// The blob's format.
    pub format: LayerFormat,
    /// The layer digest (checked by the reader; reused as the file digest of raw layers).
    pub digest: OciDigest,
    /// For raw layers: the file's path in the model.
    pub raw_name: Option<String>,
    /// Serialization method.
    pub method: Method,
    /// Hash algorithm of the resources.
    pub algorithm: HashAlgorithm,
    /// Which member names become resources (ignore paths, `--ignore_unsigned_files`).
    pub include: &'a (dyn Fn(&str) -> bool + Sync),
    /// When verifying: which names the signature lists. Included members it does not list
    /// are reported in [`LayerOutput::unsigned`] without being hashed.
    pub signed: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
    /// The most bytes a compressed layer may unpack to (see [`unpacked_limit`]).
    pub max_unpacked: u64,
    /// Progress sink (bytes of the blob).
    pub progress: &'a dyn Progress,
    /// Accept symbolic and hard links whose target is a file of the same layer (hashed as
    /// that file, as model_signing does with `--allow_symlinks` on the unpacked directory).
    pub allow_links: bool,
    /// For tar layers: the path the layer packs (its file path annotation or Kitfile
    /// entry); every file in it must be that path or below it.
    pub path_prefix: Option<String>,
    /// For container image layers: the model root (a member-name prefix, see
    /// [`crate::oci::changeset`]). Members outside it are skipped unread, names inside it
    /// are taken relative to it, and whiteouts are reported as changes, not files.
    pub image_root: Option<&'a str>,
    /// Compute the diffId of compressed tar layers (and report the layer digest as the
    /// diffId of uncompressed ones). Off when the file digests alone decide
    /// ([`crate::hashing::source::LayerTrust::FilesDecide`]): one hash pass per byte.
    pub layer_digests: bool,
}

/// What one pass over a layer produced.
#[derive(Debug, Default)]
pub struct LayerOutput {
    /// Resources of the included files.
    pub resources: Vec<(ResourceKey, Digest)>,
    /// Every file name the layer holds (included or not).
    pub files: Vec<String>,
    /// Included files the signature does not list (not hashed).
    pub unsigned: Vec<String>,
    /// The uncompressed digest.
    pub diff_id: Option<OciDigest>,
    /// For container image layers: what the layer deletes below it, and its directories.
    pub changes: Changes,
}

impl LayerJob<'_> {
    /// With `files`/`sha256` serialization a raw layer's digest *is* its file's resource.
    pub fn digest_is_resource(&self) -> bool {
        self.method == Method::Files && self.algorithm == HashAlgorithm::Sha256
    }

    /// Does the signature list this file (always true when not verifying)?
    pub fn is_signed(&self, name: &str) -> bool {
        self.signed.is_none_or(|s| s(name))
    }

    /// Should this member be hashed?
    fn hashes(&self, name: &str) -> bool {
        (self.include)(name) && self.is_signed(name)
    }

    /// The output of a raw layer taken from its digest: the file, and its resource when it
    /// is included and [`Self::digest_is_resource`]. Valid once the digest is checked (or
    /// the blob is content-addressed and checked when pulled).
    pub fn raw_from_digest(&self) -> Result<LayerOutput, OciError> {
        let name =
            self.raw_name.clone().ok_or_else(|| content(&self.what, "raw layer names no file path"))?;
        let mut out = LayerOutput {
            files: vec![name.clone()],
            diff_id: Some(self.digest.clone()),
            ..Default::default()
        };
        if (self.include)(&name) && !self.is_signed(&name) {
            out.unsigned.push(name);
        } else if (self.include)(&name) && self.digest_is_resource() {
            out.resources
                .push((ResourceKey::file(&name), Digest::new(HashAlgorithm::Sha256, self.digest.bytes())));
        }
        Ok(out)
    }
}

/// Default cap on what a compressed layer may unpack to: 100 times its compressed size,
/// and at least 64 MiB. Model weights barely compress, so only hostile or unusual layers
/// (a large all-zero file) reach it; `--max-unpacked-size` raises it.
pub const UNPACKED_RATIO: u64 = 100;
/// The floor of the default unpacked-size cap.
pub const UNPACKED_FLOOR: u64 = 64 << 20;

/// The cap on a compressed layer's unpacked bytes: `max` when given, else the default.
pub fn unpacked_limit(compressed_size: u64, max: Option<u64>) -> u64 {
    max.unwrap_or_else(|| compressed_size.saturating_mul(UNPACKED_RATIO).max(UNPACKED_FLOOR))
}

/// Fails once more than `limit` bytes came out of a decompressor, and hashes what came out
/// (the diffId) when asked.
struct Unpacked<R> {
    inner: R,
    read: u64,
    limit: u64,
    what: String,
    hasher: Option<sha2::Sha256>,
}

impl<R: Read> Read for Unpacked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(OciError::Limit {
                what: self.what.clone(),
                problem: format!(
                    "unpacks to more than {} bytes (default: {UNPACKED_RATIO}x the compressed size, at least {} MiB); pass --max-unpacked-size to raise the limit",
                    self.limit,
                    UNPACKED_FLOOR >> 20
                ),
            }
            .into_io());
        }
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Opens a tar layer's uncompressed stream: decompressed (gzip, zstd) and capped at
/// `limit` bytes. Shared by verify and pull.
pub fn unpacked_stream<'r>(
    blob: impl Read + 'r,
    format: LayerFormat,
    limit: u64,
    what: &str,
) -> Result<Box<dyn Read + 'r>, OciError> {
    Ok(match format {
        LayerFormat::Raw | LayerFormat::Tar => Box::new(blob),
        LayerFormat::TarGzip => Box::new(Unpacked {
            inner: flate2::read::MultiGzDecoder::new(blob),
            read: 0,
            limit,
            what: what.into(),
            hasher: None,
        }),
        LayerFormat::TarZstd => Box::new(Unpacked {
            inner: zstd::stream::read::Decoder::new(blob).map_err(OciError::from_io)?,
            read: 0,
            limit,
            what: what.into(),
            hasher: None,
        }),
    })
}

fn content(what: &str, problem: impl Into<String>) -> OciError {
    OciError::Content { what: what.to_owned(), problem: problem.into() }
}

/// Maps an error of the tar reader to one naming the layer (and entry).
pub fn tar_failure(what: &str, e: TarError) -> OciError {
    match e {
        TarError::Io(e) => match OciError::from_io(e) {
            OciError::Io(e) => content(what, format!("not a valid tar stream: {e}")),
            other => other,
        },
        TarError::Invalid { entry: Some(entry), problem } => {
            content(&format!("{what}, entry `{entry}`"), problem)
        }
        TarError::Invalid { entry: None, problem } => content(what, problem),
    }
}

fn drain(mut r: impl Read, buf: &mut [u8]) -> std::io::Result<()> {
    while r.read(buf)? != 0 {}
    Ok(())
}

/// Streams one layer blob (already wrapped in a digest-checking reader) and returns its
/// resources. Fails on the first mismatch or unsafe entry.
pub fn hash_layer(blob: impl Read, job: &LayerJob<'_>) -> Result<LayerOutput, OciError> {
    let mut buf = vec![0u8; crate::hashing::READ_BUFFER];
    let reader = Tap::new(blob, |b: &[u8]| job.progress.advance(b.len() as u64));
    let io = OciError::from_io;
    match job.format {
        LayerFormat::Raw => {
            let mut out = job.raw_from_digest()?;
            let name = out.files[0].clone();
            if !job.hashes(&name) || job.digest_is_resource() {
                // The reader verifies the digest at EOF: that digest is the file's sha256.
                drain(reader, &mut buf).map_err(io)?;
                return Ok(out);
            }
            let mut h = StreamHasher::new(&name, job.method, job.algorithm);
            let mut r = reader;
            loop {
                let n = r.read(&mut buf).map_err(io)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            out.resources = h.finish();
            Ok(out)
        }
        LayerFormat::Tar => walk_tar(reader, job, &mut buf).map(|mut o| {
            o.diff_id = job.layer_digests.then(|| job.digest.clone());
            o
        }),
        LayerFormat::TarGzip | LayerFormat::TarZstd => {
            let inner: Box<dyn Read> = if job.format == LayerFormat::TarGzip {
                Box::new(flate2::read::MultiGzDecoder::new(reader))
            } else {
                Box::new(zstd::stream::read::Decoder::new(reader).map_err(io)?)
            };
            let mut h = Unpacked {
                inner,
                read: 0,
                limit: job.max_unpacked,
                what: job.what.clone(),
                hasher: job.layer_digests.then(sha2::Sha256::new),
            };
            let mut o = walk_tar(&mut h, job, &mut buf)?;
            o.diff_id = h.hasher.take().map(|d| OciDigest::from_sha256(&d.finalize()));
            Ok(o)
        }
    }
}

fn walk_tar<R: Read>(reader: R, job: &LayerJob<'_>, buf: &mut [u8]) -> Result<LayerOutput, OciError> {
    let fail = |e| tar_failure(&job.what, e);
    let io = |e| tar_failure(&job.what, TarError::Io(e));
    let mut out = LayerOutput::default();
    let mut links: Vec<(String, String, String)> = Vec::new();
    let mut archive = TarReader::new(reader, TarLimits::default());
    while let Some(member) = archive.next_member().map_err(fail)? {
        let entry_what = || format!("{}, entry `{}`", job.what, member.raw_name);
        let mut kind = member.kind.clone();
        let name = match job.image_root {
            None => member.name.clone(),
            Some(root) => {
                let is_dir = kind == MemberKind::Directory;
                let is_link = matches!(kind, MemberKind::Symlink(_) | MemberKind::HardLink(_));
                let Some(rel) = record(&member.name, is_dir, is_link, root, &mut out.changes)
                    .map_err(|p| content(&entry_what(), p))?
                else {
                    continue;
                };
                if let MemberKind::HardLink(t) = &kind {
                    // Hard link targets name archive members: take them from the root.
                    let t = crate::oci::changeset::normalize_root(t)
                        .and_then(|t| {
                            t.strip_prefix(&format!("{root}/"))
                                .map(str::to_owned)
                                .or_else(|| root.is_empty().then_some(t))
                        })
                        .ok_or_else(|| {
                            content(
                                &entry_what(),
                                format!("hard link target `{t}` is outside the model root `/{root}`"),
                            )
                        })?;
                    kind = MemberKind::HardLink(t);
                }
                rel
            }
        };
        let target = match kind {
            MemberKind::Directory => continue,
            MemberKind::File => None,
            MemberKind::Symlink(t) => Some((t, true)),
            MemberKind::HardLink(t) => Some((t, false)),
        };
        if let Some(prefix) = &job.path_prefix
            && name != *prefix
            && !name.starts_with(&format!("{prefix}/"))
        {
            return Err(content(
                &entry_what(),
                format!("is outside the path `{prefix}` the layer is declared to hold"),
            ));
        }
        if let Some((target, symbolic)) = target {
            if !job.allow_links {
                return Err(content(
                    &entry_what(),
                    "links are not allowed in model layers (--allow_symlinks follows links that stay inside the layer)",
                ));
            }
            let base = if symbolic { parent_of(&name) } else { "" };
            let resolved = resolve_link(base, &target)
                .ok_or_else(|| content(&entry_what(), format!("link target `{target}` leaves the layer")))?;
            links.push((name, resolved, entry_what()));
            continue;
        }
        if job.hashes(&name) {
            let mut h = StreamHasher::new(&name, job.method, job.algorithm);
            let mut data = archive.data();
            loop {
                let n = data.read(buf).map_err(io)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            out.resources.extend(h.finish());
        } else if (job.include)(&name) {
            // Not signed: reported as extra without reading its bytes here (the reader
            // skips them, still bounded by the layer's caps).
            out.unsigned.push(name.clone());
        }
        out.files.push(name);
    }
    // Whatever follows the archive (compression trailer) is read so the digest is checked.
    drain(archive.into_inner(), buf).map_err(io)?;
    // Links are hashed as the files they point to (following chains of links). Indexes
    // keep this linear in the number of members, however many links there are.
    if links.is_empty() {
        return Ok(out);
    }
    let targets: std::collections::HashMap<String, String> =
        links.iter().map(|(n, t, _)| (n.clone(), t.clone())).collect();
    let files: std::collections::HashSet<String> = out.files.iter().cloned().collect();
    let mut dirs: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for f in &files {
        let mut p = f.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !dirs.insert(parent) {
                break;
            }
            p = parent;
        }
    }
    let mut by_path: std::collections::HashMap<String, Vec<(ResourceKey, Digest)>> =
        std::collections::HashMap::new();
    for (k, d) in &out.resources {
        by_path.entry(k.path().to_owned()).or_default().push((k.clone(), d.clone()));
    }
    for (name, target, what) in &links {
        let mut t = target.clone();
        for _ in 0..8 {
            match targets.get(&t) {
                Some(next) => t = next.clone(),
                None => break,
            }
        }
        if !files.contains(&t) {
            if dirs.contains(t.as_str()) {
                // A link to a directory: listed, not descended, like model_signing.
                continue;
            }
            return Err(content(what, format!("link target `{target}` is not a file of this layer")));
        }
        out.files.push(name.clone());
        if (job.include)(name) && !job.is_signed(name) {
            out.unsigned.push(name.clone());
        } else if (job.include)(name) {
            let copies: Vec<(ResourceKey, Digest)> = by_path
                .get(&t)
                .into_iter()
                .flatten()
                .map(|(k, d)| {
                    let key = match k.range() {
                        None => ResourceKey::file(name),
                        Some((s, e)) => ResourceKey::shard(name, s, e),
                    };
                    (key, d.clone())
                })
                .collect();
            if copies.is_empty() && !job.hashes(&t) {
                return Err(content(
                    what,
                    "the link's target was not hashed (it is ignored or unsigned); cannot hash the link",
                ));
            }
            out.resources.extend(copies);
        }
    }
    Ok(out)
}

fn parent_of(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(p, _)| p)
}

/// Resolves a link target against the directory holding the link; `None` if it leaves the
/// layer's root.
fn resolve_link(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|c| !c.is_empty()).collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::NoProgress;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the raw name to test hostile archives.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            h.set_cksum();
            b.append(&h, *data).unwrap_or_else(|e| panic!("{e}"));
        }
        b.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    fn job<'a>(format: LayerFormat, data: &[u8], include: &'a (dyn Fn(&str) -> bool + Sync)) -> LayerJob<'a> {
        LayerJob {
            what: "layer 0".into(),
            format,
            digest: OciDigest::of(data),
            raw_name: None,
            method: Method::Files,
            algorithm: HashAlgorithm::Sha256,
            include,
            signed: None,
            max_unpacked: unpacked_limit(data.len() as u64, None),
            progress: &NoProgress,
            allow_links: false,
            path_prefix: None,
            image_root: None,
            layer_digests: true,
        }
    }

    #[test]
    fn tar_members_become_resources_and_diff_ids_are_computed() -> Result<(), OciError> {
        let t = tar_of(&[("./a/b.bin", b"bbb"), ("c", b"")]);
        let all = |_: &str| true;
        let out = hash_layer(&t[..], &job(LayerFormat::Tar, &t, &all))?;
        assert_eq!(out.files, ["a/b.bin", "c"]);
        assert_eq!(out.resources[0], (ResourceKey::file("a/b.bin"), HashAlgorithm::Sha256.digest(b"bbb")));
        assert_eq!(out.diff_id, Some(OciDigest::of(&t)));

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &t).map_err(OciError::Io)?;
        let gz = gz.finish().map_err(OciError::Io)?;
        let out = hash_layer(&gz[..], &job(LayerFormat::TarGzip, &gz, &all))?;
        assert_eq!(out.diff_id, Some(OciDigest::of(&t)));
        assert_eq!(out.resources.len(), 2);

        let zs = zstd::encode_all(&t[..], 3).map_err(OciError::Io)?;
        let out = hash_layer(&zs[..], &job(LayerFormat::TarZstd, &zs, &all))?;
        assert_eq!(out.diff_id, Some(OciDigest::of(&t)));
        Ok(())
    }

    #[test]
    fn hostile_member_names_are_rejected_naming_the_entry() {
        let all = |_: &str| true;
        for (name, expect) in [("../escape", "`..`"), ("/etc/passwd", "absolute"), ("a/../../b", "`..`")] {
            let t = tar_of(&[(name, b"x")]);
            let e = hash_layer(&t[..], &job(LayerFormat::Tar, &t, &all))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(expect) && e.contains("layer 0"), "{name}: {e}");
        }
        let t = tar_of(&[("dup", b"1"), ("./dup", b"2")]);
        let e = hash_layer(&t[..], &job(LayerFormat::Tar, &t, &all))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn unsigned_members_are_listed_without_being_hashed() -> Result<(), OciError> {
        let t = tar_of(&[("signed.bin", b"abc"), ("extra.bin", b"never hashed")]);
        let all = |_: &str| true;
        let signed = |n: &str| n == "signed.bin";
        let mut j = job(LayerFormat::Tar, &t, &all);
        j.signed = Some(&signed);
        let out = hash_layer(&t[..], &j)?;
        assert_eq!(
            out.resources,
            vec![(ResourceKey::file("signed.bin"), HashAlgorithm::Sha256.digest(b"abc"))]
        );
        assert_eq!(out.unsigned, ["extra.bin"]);
        assert_eq!(out.files, ["signed.bin", "extra.bin"]);
        Ok(())
    }

    #[test]
    fn compressed_layers_stop_at_the_unpacked_cap() -> Result<(), OciError> {
        let t = tar_of(&[("big.bin", &[0u8; 200_000][..])]);
        let zs = zstd::encode_all(&t[..], 3).map_err(OciError::Io)?;
        let all = |_: &str| true;
        let mut j = job(LayerFormat::TarZstd, &zs, &all);
        j.max_unpacked = 100_000;
        let e = hash_layer(&zs[..], &j).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("unpacks to more than 100000 bytes") && e.contains("--max-unpacked-size"), "{e}");
        assert_eq!(unpacked_limit(1 << 30, None), 100 << 30);
        assert_eq!(unpacked_limit(1000, None), UNPACKED_FLOOR);
        assert_eq!(unpacked_limit(1000, Some(5)), 5);
        Ok(())
    }

    /// A tar of `d/real.bin` and symlinks `(name, target)`.
    fn tar_with_links(links: &[(&str, &str)]) -> Result<Vec<u8>, OciError> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "d/real.bin", &b"abc"[..]).map_err(OciError::Io)?;
        for (name, target) in links {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, target).map_err(OciError::Io)?;
        }
        b.into_inner().map_err(OciError::Io)
    }

    #[test]
    fn links_inside_the_layer_hash_as_their_target_only_when_allowed() -> Result<(), OciError> {
        let all = |_: &str| true;
        let t = tar_with_links(&[("d/link.bin", "real.bin"), ("out", "../etc/passwd")])?;
        let mut j = job(LayerFormat::Tar, &t, &all);
        let e = hash_layer(&t[..], &j).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("links are not allowed"), "{e}");
        j.allow_links = true;
        let e = hash_layer(&t[..], &j).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("leaves the layer") && e.contains("`out`"), "{e}");

        let t = tar_with_links(&[("d/link.bin", "real.bin")])?;
        let mut j = job(LayerFormat::Tar, &t, &all);
        j.allow_links = true;
        let out = hash_layer(&t[..], &j)?;
        assert_eq!(out.resources.len(), 2);
        assert_eq!(out.resources[1], (ResourceKey::file("d/link.bin"), HashAlgorithm::Sha256.digest(b"abc")));
        Ok(())
    }

    #[test]
    fn raw_layers_reuse_the_layer_digest_or_hash_once_otherwise() -> Result<(), OciError> {
        let data = vec![7u8; 10_000];
        let all = |_: &str| true;
        let mut j = job(LayerFormat::Raw, &data, &all);
        j.raw_name = Some("w.bin".into());
        let out = hash_layer(&data[..], &j)?;
        assert_eq!(out.resources, vec![(ResourceKey::file("w.bin"), HashAlgorithm::Sha256.digest(&data))]);
        j.method = Method::Shards { shard_size: 4096 };
        j.algorithm = HashAlgorithm::Blake3;
        let out = hash_layer(&data[..], &j)?;
        assert_eq!(out.resources.len(), 3);
        assert_eq!(out.resources[2].1, HashAlgorithm::Blake3.digest(&data[8192..]));
        Ok(())
    }
}
