//! The one pass over a model layer: every byte of the blob is read once, and while it
//! streams we check the layer digest (descriptor), the diffId (uncompressed digest), and
//! hash each member file into manifest resources.
//!
//! Raw layers (ModelPack `…v1.raw`, one file) hold the file itself: with `files`/`sha256`
//! serialization the verified layer digest *is* the resource digest, so nothing is hashed
//! twice. Tar layers (`tar`, `tar+gzip`, `tar+zstd`) are decompressed and walked as they
//! stream. Member names are untrusted: absolute paths, `..`, duplicates, links and special
//! files are rejected with the layer and entry named.

use crate::digest::{Digest, HashAlgorithm};
use crate::errors::OciError;
use crate::hashing::{Progress, StreamHasher};
use crate::manifest::{Method, ResourceKey};
use crate::modelpack::LayerFormat;
use crate::oci::OciDigest;
use sha2::Digest as _;
use std::collections::HashSet;
use std::io::Read;

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
    /// Progress sink (bytes of the blob).
    pub progress: &'a dyn Progress,
    /// Accept symbolic and hard links whose target is a file of the same layer (hashed as
    /// that file, as model_signing does with `--allow_symlinks` on the unpacked directory).
    pub allow_links: bool,
    /// For tar layers: the path the layer packs (its file path annotation or Kitfile
    /// entry); every file in it must be that path or below it.
    pub path_prefix: Option<String>,
}

/// What one pass over a layer produced.
#[derive(Debug, Default)]
pub struct LayerOutput {
    /// Resources of the included files.
    pub resources: Vec<(ResourceKey, Digest)>,
    /// Every file name the layer holds (included or not).
    pub files: Vec<String>,
    /// The uncompressed digest.
    pub diff_id: Option<OciDigest>,
}

impl LayerJob<'_> {
    /// With `files`/`sha256` serialization a raw layer's digest *is* its file's resource.
    pub fn digest_is_resource(&self) -> bool {
        self.method == Method::Files && self.algorithm == HashAlgorithm::Sha256
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
        if (self.include)(&name) && self.digest_is_resource() {
            out.resources
                .push((ResourceKey::file(&name), Digest::new(HashAlgorithm::Sha256, self.digest.bytes())));
        }
        Ok(out)
    }
}

/// Counts bytes and reports progress.
struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Hashes the uncompressed stream (diffId).
struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn content(what: &str, problem: impl Into<String>) -> OciError {
    OciError::Content { what: what.to_owned(), problem: problem.into() }
}

/// Validates and normalizes a path found in a layer (tar member or annotation).
pub fn safe_member_name(raw: &str) -> Result<String, String> {
    if raw.starts_with('/') {
        return Err(format!("`{raw}` is an absolute path"));
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("`{raw}` contains `..`")),
            c if c.contains('\0') => return Err(format!("`{raw}` contains a NUL byte")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(format!("`{raw}` names no file"));
    }
    Ok(parts.join("/"))
}

fn drain(mut r: impl Read, buf: &mut [u8]) -> std::io::Result<()> {
    while r.read(buf)? != 0 {}
    Ok(())
}

/// Streams one layer blob (already wrapped in a digest-checking reader) and returns its
/// resources. Fails on the first mismatch or unsafe entry.
pub fn hash_layer(blob: impl Read, job: &LayerJob<'_>) -> Result<LayerOutput, OciError> {
    let mut buf = vec![0u8; crate::hashing::READ_BUFFER];
    let reader = Counting { inner: blob, progress: job.progress };
    let io = OciError::from_io;
    match job.format {
        LayerFormat::Raw => {
            let mut out = job.raw_from_digest()?;
            let name = out.files[0].clone();
            if !(job.include)(&name) || job.digest_is_resource() {
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
            o.diff_id = Some(job.digest.clone());
            o
        }),
        LayerFormat::TarGzip => {
            let mut h =
                Hashing { inner: flate2::read::MultiGzDecoder::new(reader), hasher: sha2::Sha256::new() };
            let mut o = walk_tar(&mut h, job, &mut buf)?;
            o.diff_id = Some(OciDigest::from_sha256(&h.hasher.finalize()));
            Ok(o)
        }
        LayerFormat::TarZstd => {
            let dec = zstd::stream::read::Decoder::new(reader).map_err(io)?;
            let mut h = Hashing { inner: dec, hasher: sha2::Sha256::new() };
            let mut o = walk_tar(&mut h, job, &mut buf)?;
            o.diff_id = Some(OciDigest::from_sha256(&h.hasher.finalize()));
            Ok(o)
        }
    }
}

fn walk_tar<R: Read>(reader: R, job: &LayerJob<'_>, buf: &mut [u8]) -> Result<LayerOutput, OciError> {
    let io = OciError::from_io;
    let mut out = LayerOutput::default();
    let mut seen = HashSet::new();
    let mut links: Vec<(String, String, String)> = Vec::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(|e| tar_error(job, e))?;
        let raw = entry.path_bytes().into_owned();
        let raw = String::from_utf8(raw).map_err(|_| content(&job.what, "tar entry name is not UTF-8"))?;
        let entry_what = || format!("{}, entry `{raw}`", job.what);
        use tar::EntryType as T;
        match entry.header().entry_type() {
            T::Directory => continue,
            T::Regular | T::Continuous => {}
            T::Symlink | T::Link => {
                if !job.allow_links {
                    return Err(content(
                        &entry_what(),
                        "links are not allowed in model layers (--allow_symlinks follows links that stay inside the layer)",
                    ));
                }
                let name = safe_member_name(&raw).map_err(|p| content(&entry_what(), p))?;
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok_or_else(|| content(&entry_what(), "link has no target"))?;
                let base = if entry.header().entry_type() == T::Symlink { parent_of(&name) } else { "" };
                let resolved = resolve_link(base, &target).ok_or_else(|| {
                    content(&entry_what(), format!("link target `{target}` leaves the layer"))
                })?;
                if !seen.insert(name.clone()) {
                    return Err(content(&entry_what(), "the layer holds this file twice"));
                }
                links.push((name, resolved, entry_what()));
                continue;
            }
            other => return Err(content(&entry_what(), format!("unsupported entry type {other:?}"))),
        }
        let name = safe_member_name(&raw).map_err(|p| content(&entry_what(), p))?;
        if !seen.insert(name.clone()) {
            return Err(content(&entry_what(), "the layer holds this file twice"));
        }
        if let Some(prefix) = &job.path_prefix
            && name != *prefix
            && !name.starts_with(&format!("{prefix}/"))
        {
            return Err(content(
                &entry_what(),
                format!("is outside the path `{prefix}` the layer is declared to hold"),
            ));
        }
        if (job.include)(&name) {
            let mut h = StreamHasher::new(&name, job.method, job.algorithm);
            loop {
                let n = entry.read(buf).map_err(|e| tar_error(job, e))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            out.resources.extend(h.finish());
        } else {
            drain(&mut entry, buf).map_err(|e| tar_error(job, e))?;
        }
        out.files.push(name);
    }
    // Read the end-of-archive blocks and whatever follows, so every byte is checked.
    drain(archive.into_inner(), buf).map_err(|e| tar_error(job, e))?;
    // Links are hashed as the files they point to (following chains of links).
    let targets: std::collections::HashMap<String, String> =
        links.iter().map(|(n, t, _)| (n.clone(), t.clone())).collect();
    for (name, target, what) in &links {
        let mut t = target.clone();
        for _ in 0..8 {
            match targets.get(&t) {
                Some(next) => t = next.clone(),
                None => break,
            }
        }
        if !out.files.contains(&t) {
            if out.files.iter().any(|f| f.starts_with(&format!("{t}/"))) {
                // A link to a directory: listed, not descended, like model_signing.
                continue;
            }
            return Err(content(what, format!("link target `{target}` is not a file of this layer")));
        }
        out.files.push(name.clone());
        if (job.include)(name) {
            let copies: Vec<(ResourceKey, Digest)> = out
                .resources
                .iter()
                .filter(|(k, _)| k.path() == t)
                .map(|(k, d)| {
                    let key = match k.range() {
                        None => ResourceKey::file(name),
                        Some((s, e)) => ResourceKey::shard(name, s, e),
                    };
                    (key, d.clone())
                })
                .collect();
            if copies.is_empty() && !(job.include)(&t) {
                return Err(content(
                    what,
                    "the link's target was not hashed (it is ignored); cannot hash the link",
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

fn tar_error(job: &LayerJob<'_>, e: std::io::Error) -> OciError {
    match OciError::from_io(e) {
        OciError::Io(e) => content(&job.what, format!("not a valid tar stream: {e}")),
        other => other,
    }
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
            progress: &NoProgress,
            allow_links: false,
            path_prefix: None,
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
