//! The hashing engine: turns a list of model files into manifest resources.
//!
//! Implements model_signing's `files` and `shards` serializations
//! (`_serialization/file.py`, `file_shard.py`): one digest per file, or per
//! `[start, end)` shard of `shard_size` bytes (empty files yield no shard). Work is spread
//! over one thread per core; every thread streams its file through one fixed buffer, so
//! memory does not depend on model size and every byte is read once.

pub(crate) mod model_dir;
pub(crate) mod parallel;
pub mod source;

use crate::errors::SourceError;
use crate::formats::digest::{Digest, HashAlgorithm};
use crate::formats::manifest::{Method, ResourceKey};
use crate::hashing::model_dir::ModelFile;
use std::io::{Read, Seek, SeekFrom};

/// Bytes read per `read` call by each worker. 128 KiB keeps the just-copied block in the
/// core's L2 cache while it is hashed; measured on 4 x 1 GiB (2 cores, warm page cache) it is
/// ~6% faster than 1 MiB and ~3% faster than 64 KiB.
pub const READ_BUFFER: usize = 1 << 17;

/// Something told about bytes as they are hashed (a progress bar, a counter).
pub trait Progress: Sync {
    /// `n` more bytes were hashed.
    fn advance(&self, n: u64);
}

/// A progress sink that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _n: u64) {}
}

/// A terminal progress bar on stderr, shown only when stderr is a terminal.
pub struct ProgressBar(Option<indicatif::ProgressBar>);

impl ProgressBar {
    /// A bar for `total` bytes, hidden when stderr is not a terminal or `quiet`.
    pub fn for_stderr(total: u64, quiet: bool) -> Self {
        Self::labelled(total, quiet, "hashing")
    }

    /// A bar for `total` bytes transferred across every layer (bytes, rate, ETA).
    pub fn for_transfer(total: u64, quiet: bool) -> Self {
        Self::labelled(total, quiet, "pulling")
    }

    /// A bar for uploads: bytes, rate and ETA across blobs.
    pub fn for_upload(total: u64, quiet: bool) -> Self {
        Self::labelled(total, quiet, "pushing")
    }

    fn labelled(total: u64, quiet: bool, label: &str) -> Self {
        use std::io::IsTerminal;
        if quiet || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {label} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{binary_bytes_per_sec}} eta {{eta}}"
        )) {
            bar.set_style(style.progress_chars("=> "));
        }
        Self(Some(bar))
    }
}

impl Drop for ProgressBar {
    /// Removes the bar from the terminal when hashing is done.
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Progress for ProgressBar {
    fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
}

struct Job<'a> {
    file: &'a ModelFile,
    range: Option<(u64, u64)>,
}

/// Splits files into jobs for a serialization method.
fn jobs(files: &[ModelFile], method: Method) -> Vec<Job<'_>> {
    let mut out = Vec::new();
    for file in files {
        match method {
            Method::Files => out.push(Job { file, range: None }),
            Method::Shards { shard_size } => {
                let mut start = 0;
                while start < file.size {
                    let end = start.saturating_add(shard_size).min(file.size);
                    out.push(Job { file, range: Some((start, end)) });
                    start = end;
                }
            }
        }
    }
    out
}

/// Total bytes the jobs will read.
pub fn total_bytes(files: &[ModelFile]) -> u64 {
    files.iter().map(|f| f.size).sum()
}

/// Hashes the files (whole or sharded) in parallel and returns the resources.
pub fn hash_files(
    files: &[ModelFile],
    method: Method,
    algorithm: HashAlgorithm,
    threads: usize,
    progress: &dyn Progress,
) -> Result<Vec<(ResourceKey, Digest)>, SourceError> {
    let mut jobs = jobs(files, method);
    // Longest first: keeps every core busy until the end on uneven file sizes.
    jobs.sort_by_key(|j| std::cmp::Reverse(j.range.map_or(j.file.size, |(s, e)| e - s)));
    let results = crate::hashing::parallel::try_map(
        &jobs,
        threads,
        || vec![0u8; READ_BUFFER],
        |buf, _, job| hash_job(job, algorithm, buf, progress),
    )?;
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

fn hash_job(
    job: &Job<'_>,
    algorithm: HashAlgorithm,
    buf: &mut [u8],
    progress: &dyn Progress,
) -> Result<(ResourceKey, Digest), SourceError> {
    let path = &job.file.path;
    let io = |source| SourceError::Io { path: path.clone(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut hasher = algorithm.hasher();
    if let Some(map) = mapped::map(&f, job.file.size) {
        let (start, end) = job.range.unwrap_or((0, job.file.size));
        let (s, e) =
            (usize::try_from(start).unwrap_or(usize::MAX), usize::try_from(end).unwrap_or(usize::MAX));
        let Some(bytes) = map.get(s..e) else {
            return Err(SourceError::Changed {
                path: path.clone(),
                expected: job.file.size,
                read: map.len() as u64,
            });
        };
        for (i, chunk) in bytes.chunks(mapped::WINDOW).enumerate() {
            for piece in chunk.chunks(READ_BUFFER) {
                hasher.update(piece);
                progress.advance(piece.len() as u64);
            }
            mapped::release(&map, s + i * mapped::WINDOW, chunk.len());
        }
        let key = match job.range {
            None => ResourceKey::file(&job.file.name),
            Some((s, e)) => ResourceKey::shard(&job.file.name, s, e),
        };
        return Ok((key, hasher.finalize()));
    }
    match job.range {
        None => {
            // Whole file to EOF, as model_signing does.
            loop {
                let n = match f.read(buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io(e)),
                };
                hasher.update(&buf[..n]);
                progress.advance(n as u64);
            }
            Ok((ResourceKey::file(&job.file.name), hasher.finalize()))
        }
        Some((start, end)) => {
            f.seek(SeekFrom::Start(start)).map_err(io)?;
            let mut left = end - start;
            while left > 0 {
                let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                let n = match f.read(&mut buf[..want]) {
                    Ok(0) => {
                        return Err(SourceError::Changed {
                            path: path.clone(),
                            expected: job.file.size,
                            read: end - left,
                        });
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io(e)),
                };
                hasher.update(&buf[..n]);
                progress.advance(n as u64);
                left -= n as u64;
            }
            Ok((ResourceKey::shard(&job.file.name, start, end), hasher.finalize()))
        }
    }
}

/// Memory-mapped reading of large files: hashing straight from the page cache saves the
/// copy into a buffer (measured: 4 x 1 GiB hashed in 1.30 s instead of 1.40 s on 2 cores).
mod mapped {
    #![allow(unsafe_code)]

    /// Files at least this large are mapped; smaller ones are read.
    const MIN_MAPPED: u64 = 8 << 20;

    /// Hashed pages are dropped from the mapping every this many bytes, so the resident
    /// set stays small (the data stays in the page cache).
    pub const WINDOW: usize = 4 << 20;

    /// Drops `len` bytes at `offset` of the mapping from this process's resident set.
    pub fn release(map: &memmap2::Mmap, offset: usize, len: usize) {
        // SAFETY: MADV_DONTNEED on a read-only, file-backed private mapping only discards
        // this process's page table entries; a later access would fault the same file bytes
        // back in. The range was fully consumed and is never read again.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
    }

    /// Maps a file read-only, or `None` (small file, or mapping refused: fall back to reads).
    pub fn map(f: &std::fs::File, size: u64) -> Option<memmap2::Mmap> {
        if size < MIN_MAPPED {
            return None;
        }
        // SAFETY: the map is read-only and private to this process. Another process could
        // still change the file while it is hashed; then the digest covers whatever bytes
        // were read (a concurrent writer can make any reader see a mix), and a truncation
        // raises SIGBUS and ends the process: neither can make a changed file verify.
        let map = unsafe { memmap2::Mmap::map(f) }.ok()?;
        let _ = map.advise(memmap2::Advice::Sequential);
        Some(map)
    }
}

/// Hashes one file's bytes as they stream past (from a tar member or a raw blob) into the
/// resources of a serialization method: one digest for `files`, one per shard for `shards`.
pub struct StreamHasher {
    name: String,
    method: Method,
    algorithm: HashAlgorithm,
    hasher: crate::formats::digest::Hasher,
    pos: u64,
    shard_start: u64,
    out: Vec<(ResourceKey, Digest)>,
}

impl StreamHasher {
    /// Starts hashing the file `name`.
    pub fn new(name: &str, method: Method, algorithm: HashAlgorithm) -> Self {
        Self {
            name: name.to_owned(),
            method,
            algorithm,
            hasher: algorithm.hasher(),
            pos: 0,
            shard_start: 0,
            out: Vec::new(),
        }
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        let Method::Shards { shard_size } = self.method else {
            self.hasher.update(data);
            self.pos += data.len() as u64;
            return;
        };
        while !data.is_empty() {
            let room = self.shard_start + shard_size - self.pos;
            let n = usize::try_from(room).unwrap_or(usize::MAX).min(data.len());
            self.hasher.update(&data[..n]);
            self.pos += n as u64;
            data = &data[n..];
            if self.pos == self.shard_start + shard_size {
                self.close_shard();
            }
        }
    }

    fn close_shard(&mut self) {
        let done = std::mem::replace(&mut self.hasher, self.algorithm.hasher());
        self.out.push((ResourceKey::shard(&self.name, self.shard_start, self.pos), done.finalize()));
        self.shard_start = self.pos;
    }

    /// The resources of the file (none for an empty file under `shards`).
    pub fn finish(mut self) -> Vec<(ResourceKey, Digest)> {
        match self.method {
            Method::Files => vec![(ResourceKey::file(&self.name), self.hasher.finalize())],
            Method::Shards { .. } => {
                if self.pos > self.shard_start {
                    self.close_shard();
                }
                self.out
            }
        }
    }
}

/// Number of hashing threads to use by default: one per available core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &std::path::Path, name: &str, data: &[u8]) -> std::io::Result<ModelFile> {
        let path = dir.join(name);
        std::fs::write(&path, data)?;
        Ok(ModelFile { name: name.into(), path, size: data.len() as u64 })
    }

    #[test]
    fn files_and_shards_match_direct_hashing() -> Result<(), Box<dyn std::error::Error>> {
        let t = tempfile::tempdir()?;
        let big: Vec<u8> = (0..(3 * READ_BUFFER + 17)).map(|i| (i % 251) as u8).collect();
        let files = vec![file(t.path(), "big", &big)?, file(t.path(), "empty", b"")?];
        let mut r = hash_files(&files, Method::Files, HashAlgorithm::Sha256, 4, &NoProgress)?;
        r.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1, HashAlgorithm::Sha256.digest(&big));
        assert_eq!(r[1].1, HashAlgorithm::Sha256.digest(b""));

        let size = READ_BUFFER as u64 + 5;
        let mut s =
            hash_files(&files, Method::Shards { shard_size: size }, HashAlgorithm::Sha256, 2, &NoProgress)?;
        s.sort_by(|a, b| a.0.cmp(&b.0));
        // The empty file has no shard; the big one has four, the last one short.
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].0.name(), format!("big:0:{size}"));
        assert_eq!(s[3].0.name(), format!("big:{}:{}", 3 * size, big.len()));
        assert_eq!(s[1].1, HashAlgorithm::Sha256.digest(&big[size as usize..2 * size as usize]));
        Ok(())
    }

    #[test]
    fn mapped_large_files_hash_like_small_ones() -> Result<(), Box<dyn std::error::Error>> {
        let t = tempfile::tempdir()?;
        let big: Vec<u8> =
            (0..(9 << 20) + 123).map(|i: usize| (i.wrapping_mul(2654435761) >> 7) as u8).collect();
        let files = vec![file(t.path(), "big", &big)?];
        let whole = hash_files(&files, Method::Files, HashAlgorithm::Sha256, 1, &NoProgress)?;
        assert_eq!(whole[0].1, HashAlgorithm::Sha256.digest(&big));
        let size = 3_000_001u64;
        let mut shards =
            hash_files(&files, Method::Shards { shard_size: size }, HashAlgorithm::Blake2b, 2, &NoProgress)?;
        shards.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(shards.len(), 4);
        for (key, digest) in &shards {
            let (s, e) = key.range().unwrap_or_default();
            assert_eq!(
                digest,
                &HashAlgorithm::Blake2b.digest(&big[s as usize..e as usize]),
                "{}",
                key.name()
            );
        }
        Ok(())
    }

    #[test]
    fn stream_hasher_matches_file_hashing() -> Result<(), Box<dyn std::error::Error>> {
        let t = tempfile::tempdir()?;
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let files = vec![file(t.path(), "f", &data)?];
        for method in
            [Method::Files, Method::Shards { shard_size: 7_000 }, Method::Shards { shard_size: 100_000 }]
        {
            let mut want = hash_files(&files, method, HashAlgorithm::Sha256, 1, &NoProgress)?;
            want.sort_by(|a, b| a.0.cmp(&b.0));
            let mut s = StreamHasher::new("f", method, HashAlgorithm::Sha256);
            for piece in data.chunks(3_333) {
                s.update(piece);
            }
            assert_eq!(s.finish(), want);
        }
        let empty = StreamHasher::new("e", Method::Shards { shard_size: 10 }, HashAlgorithm::Sha256);
        assert!(empty.finish().is_empty());
        Ok(())
    }

    #[test]
    fn missing_file_is_an_error_naming_it() -> Result<(), Box<dyn std::error::Error>> {
        let t = tempfile::tempdir()?;
        let gone = ModelFile { name: "gone".into(), path: t.path().join("gone"), size: 1 };
        let e = hash_files(&[gone], Method::Files, HashAlgorithm::Sha256, 1, &NoProgress);
        assert!(matches!(e, Err(SourceError::Io { ref path, .. }) if path.ends_with("gone")));
        Ok(())
    }
}
