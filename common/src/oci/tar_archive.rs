//! The one reading of tar layers (POSIX.1-2017 `pax`/`ustar` interchange format, with the
//! GNU long-name extension), shared by everything that looks inside a layer: verify, pull,
//! packaged sources.
//!
//! A verifier and an unpacker must see the same files. Extractors disagree on corner cases
//! of the format, so this reader accepts an archive only when GNU tar, Python's `tarfile`
//! and Go's `archive/tar` (what kit and modctl use) must all extract the same tree from it,
//! and rejects the ambiguity otherwise, naming the entry:
//! - duplicate PAX records (tar-rs applies the first, the others the last), PAX keys
//!   outside a short list of known-harmless ones, `GNU.sparse.*` keys and sparse entries,
//!   global headers that set anything but `comment`, empty `path`/`linkpath`/`size`
//!   values (POSIX: "delete", which readers apply differently);
//! - a PAX `size` that disagrees with a non-zero header size; a GNU long name next to a
//!   PAX `path` (or long link next to `linkpath`); two extension headers of one kind for
//!   one member; extension headers that describe no member;
//! - a `prefix` field in a non-ustar header (Python applies it, GNU tar does not);
//!   numeric fields that are not plain octal or positive base-256; base-256 values over
//!   64 bits (tar-rs reads only the last 8 bytes);
//! - a regular file whose name ends in `/` (old tars make it a directory), data attached
//!   to anything but a regular file (Python does not skip it), special files;
//! - any non-zero byte after the end-of-archive marker (readers stop at the marker);
//! - a name used twice, a file that is also a directory, a file below a file; absolute
//!   names and `..` for files, links and directories alike.
//!
//! Every cost is bounded: names and link targets at [`TarLimits::max_name`] bytes,
//! extension headers at [`TarLimits::max_extension`], members per layer at
//! [`TarLimits::max_members`]; data is never buffered.
//!
//! Why not the `tar` crate (tar-rs 0.4), which the rest of the workspace uses to *write*
//! archives: its reader takes the first of duplicate PAX records (`path_bytes` stops at the
//! first `path`) where Python and Go take the last; it buffers GNU long names without a
//! limit (an 8 KiB zstd layer holding a 256 MiB long name cost 1.7 GiB); it ignores the
//! `prefix` field of GNU headers that Python applies; its raw mode cannot apply a PAX
//! `size`. The policy above needs the header records themselves, so this module reads
//! them (about 300 lines), and tests compare its reading with GNU tar and Python.

use std::collections::HashSet;
use std::io::{self, Read};

/// Bytes in a tar block.
pub const BLOCK: usize = 512;

/// Bounds on what one layer's metadata may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TarLimits {
    /// Longest name or link target, in bytes (Linux `PATH_MAX`).
    pub max_name: usize,
    /// Largest PAX or GNU extension header, in bytes.
    pub max_extension: u64,
    /// Most members (files, directories, links) in one layer.
    pub max_members: usize,
}

impl Default for TarLimits {
    fn default() -> Self {
        Self { max_name: 4096, max_extension: 64 * 1024, max_members: 1_000_000 }
    }
}

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberKind {
    /// A regular file (types `0`, NUL and `7`).
    File,
    /// A directory.
    Directory,
    /// A symbolic link to the target (as written, not resolved).
    Symlink(String),
    /// A hard link to an earlier member (as written).
    HardLink(String),
}

/// One member as every mainstream extractor sees it.
#[derive(Debug, Clone)]
pub struct Member {
    /// The name as written in the archive (for messages).
    pub raw_name: String,
    /// The normalized relative name (no `.`, empty components or trailing slash).
    pub name: String,
    /// File, directory or link.
    pub kind: MemberKind,
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// Reading the underlying stream failed (this includes digest checks of the blob).
    #[error("{0}")]
    Io(#[source] io::Error),
    /// The archive is malformed or ambiguous; `entry` names the member when known.
    #[error("{}{problem}", entry.as_ref().map(|e| format!("entry `{e}`: ")).unwrap_or_default())]
    Invalid {
        /// The member's name as written, when known.
        entry: Option<String>,
        /// What is wrong.
        problem: String,
    },
}

fn invalid(entry: Option<&str>, problem: impl Into<String>) -> TarError {
    TarError::Invalid { entry: entry.map(str::to_owned), problem: problem.into() }
}

/// Why a path from a layer (tar member, link, annotation) cannot name a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// It starts at `/`.
    #[error("`{0}` is an absolute path")]
    Absolute(String),
    /// A component is `..`.
    #[error("`{0}` contains `..`")]
    ParentDir(String),
    /// It contains a NUL byte.
    #[error("`{0}` contains a NUL byte")]
    Nul(String),
    /// Nothing but `.` and separators.
    #[error("`{0}` names no file")]
    Empty(String),
}

/// Validates and normalizes a path found in a layer (tar member, link or annotation):
/// relative, no `..`, no NUL, names something.
pub fn safe_member_name(raw: &str) -> Result<String, NameError> {
    if raw.starts_with('/') {
        return Err(NameError::Absolute(raw.into()));
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(NameError::ParentDir(raw.into())),
            c if c.contains('\0') => return Err(NameError::Nul(raw.into())),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(NameError::Empty(raw.into()));
    }
    Ok(parts.join("/"))
}

/// PAX keys whose values do not change which bytes land under which name.
fn harmless_pax_key(key: &str) -> bool {
    matches!(
        key,
        "uid"
            | "gid"
            | "uname"
            | "gname"
            | "mtime"
            | "atime"
            | "ctime"
            | "comment"
            | "SCHILY.dev"
            | "SCHILY.ino"
            | "SCHILY.nlink"
            | "LIBARCHIVE.creationtime"
    ) || key.starts_with("SCHILY.xattr.")
        || key.starts_with("LIBARCHIVE.xattr.")
}

/// Extension records pending for the next member.
#[derive(Default)]
struct Pending {
    pax: Option<Vec<(String, String)>>,
    long_name: Option<String>,
    long_link: Option<String>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pax.is_none() && self.long_name.is_none() && self.long_link.is_none()
    }

    fn pax_value(&self, key: &str) -> Option<&str> {
        self.pax.as_ref()?.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Reads members one by one from an uncompressed tar stream. Call [`TarReader::next_member`],
/// read its data through [`TarReader::data`] (unread data is skipped), and at the end
/// [`TarReader::next_member`] returns `None` once the end marker and everything after it
/// checked out.
pub struct TarReader<R> {
    inner: R,
    limits: TarLimits,
    /// Data left of the current member, then its padding.
    remaining: u64,
    padding: u64,
    members: usize,
    files: HashSet<String>,
    dirs: HashSet<String>,
    current: Option<String>,
    finished: bool,
}

impl<R: Read> TarReader<R> {
    /// Reads `inner` with the given limits.
    pub fn new(inner: R, limits: TarLimits) -> Self {
        Self {
            inner,
            limits,
            remaining: 0,
            padding: 0,
            members: 0,
            files: HashSet::new(),
            dirs: HashSet::new(),
            current: None,
            finished: false,
        }
    }

    /// Gives back the underlying reader (positioned after whatever was read).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The data of the current member.
    pub fn data(&mut self) -> MemberData<'_, R> {
        MemberData { reader: self }
    }

    fn skip(&mut self, mut n: u64) -> Result<(), TarError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = self.inner.read(&mut buf[..want]).map_err(TarError::Io)?;
            if got == 0 {
                return Err(invalid(self.current.as_deref(), "the archive ends inside this member's data"));
            }
            n -= got as u64;
        }
        Ok(())
    }

    /// Reads one block; `Ok(false)` at a clean end of stream before the block.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> Result<bool, TarError> {
        let mut filled = 0;
        while filled < BLOCK {
            let n = self.inner.read(&mut block[filled..]).map_err(TarError::Io)?;
            if n == 0 {
                if filled == 0 {
                    return Ok(false);
                }
                return Err(invalid(None, "the archive ends inside a header block"));
            }
            filled += n;
        }
        Ok(true)
    }

    fn read_extension(&mut self, size: u64, what: &str) -> Result<Vec<u8>, TarError> {
        if size > self.limits.max_extension {
            return Err(invalid(
                None,
                format!(
                    "{what} header of {size} bytes is over the limit of {} bytes",
                    self.limits.max_extension
                ),
            ));
        }
        let mut data = vec![0u8; size as usize];
        self.inner.read_exact(&mut data).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                invalid(None, format!("the archive ends inside a {what} header"))
            } else {
                TarError::Io(e)
            }
        })?;
        self.skip(pad(size))?;
        Ok(data)
    }

    /// Checks that everything after the first zero block is zero.
    fn check_trailer(&mut self) -> Result<(), TarError> {
        let mut buf = [0u8; 8192];
        let mut offset: u64 = 0;
        loop {
            let n = self.inner.read(&mut buf).map_err(TarError::Io)?;
            if n == 0 {
                return Ok(());
            }
            if let Some(i) = buf[..n].iter().position(|b| *b != 0) {
                return Err(invalid(
                    None,
                    format!(
                        "data after the end-of-archive marker (a non-zero byte {} bytes past it); extractors stop at the marker",
                        offset + i as u64
                    ),
                ));
            }
            offset += n as u64;
        }
    }

    /// The next member, or `None` at the end of the archive.
    pub fn next_member(&mut self) -> Result<Option<Member>, TarError> {
        if self.finished {
            return Ok(None);
        }
        self.skip(self.remaining + self.padding)?;
        self.remaining = 0;
        self.padding = 0;
        self.current = None;
        let mut pending = Pending::default();
        let mut block = [0u8; BLOCK];
        loop {
            if !self.read_block(&mut block)? {
                self.finished = true;
                if !pending.is_empty() {
                    return Err(invalid(None, "extension headers at the end describe no member"));
                }
                return Ok(None);
            }
            if block.iter().all(|b| *b == 0) {
                self.finished = true;
                if !pending.is_empty() {
                    return Err(invalid(None, "extension headers before the end marker describe no member"));
                }
                self.check_trailer()?;
                return Ok(None);
            }
            let h = Header::parse(&block)?;
            match h.typeflag {
                b'x' | b'g' | b'L' | b'K' if h.format == Format::V7 => {
                    return Err(invalid(
                        Some(&h.name),
                        format!("extension header `{}` in a pre-POSIX header", h.typeflag as char),
                    ));
                }
                b'x' => {
                    if pending.pax.is_some() {
                        return Err(invalid(None, "two PAX headers describe one member"));
                    }
                    let data = self.read_extension(h.size, "PAX")?;
                    pending.pax = Some(parse_pax(&data)?);
                }
                b'g' => {
                    if !pending.is_empty() {
                        return Err(invalid(
                            None,
                            "a global PAX header between a member's extension headers",
                        ));
                    }
                    let data = self.read_extension(h.size, "global PAX")?;
                    if let Some((k, _)) = parse_pax(&data)?.into_iter().find(|(k, _)| k != "comment") {
                        return Err(invalid(
                            None,
                            format!(
                                "global PAX header sets `{k}` (only `comment` is accepted: readers apply global headers differently)"
                            ),
                        ));
                    }
                }
                b'L' | b'K' => {
                    let what = if h.typeflag == b'L' { "GNU long name" } else { "GNU long link" };
                    let slot = if h.typeflag == b'L' { &pending.long_name } else { &pending.long_link };
                    if slot.is_some() {
                        return Err(invalid(None, format!("two {what} headers describe one member")));
                    }
                    if h.size > self.limits.max_name as u64 + 1 {
                        return Err(invalid(
                            None,
                            format!(
                                "{what} of {} bytes is over the limit of {} bytes",
                                h.size, self.limits.max_name
                            ),
                        ));
                    }
                    let data = self.read_extension(h.size, what)?;
                    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
                    if data[end..].iter().any(|b| *b != 0) {
                        return Err(invalid(None, format!("{what} has bytes after its terminating NUL")));
                    }
                    let text = String::from_utf8(data[..end].to_vec())
                        .map_err(|_| invalid(None, format!("{what} is not UTF-8")))?;
                    if h.typeflag == b'L' {
                        pending.long_name = Some(text);
                    } else {
                        pending.long_link = Some(text);
                    }
                }
                _ => return self.member(h, pending).map(Some),
            }
        }
    }

    fn member(&mut self, h: Header, pending: Pending) -> Result<Member, TarError> {
        let pax_path = pending.pax_value("path");
        let pax_link = pending.pax_value("linkpath");
        let raw_name = match (&pending.long_name, pax_path) {
            (Some(_), Some(_)) => {
                return Err(invalid(Some(&h.name), "both a GNU long name and a PAX `path` name this member"));
            }
            (Some(n), None) => n.clone(),
            (None, Some(p)) => p.to_owned(),
            (None, None) => h.name.clone(),
        };
        self.current = Some(raw_name.clone());
        let entry = Some(raw_name.as_str());
        if raw_name.len() > self.limits.max_name {
            return Err(invalid(None, format!("a name of {} bytes is over the limit", raw_name.len())));
        }
        let link = match (&pending.long_link, pax_link) {
            (Some(_), Some(_)) => {
                return Err(invalid(entry, "both a GNU long link and a PAX `linkpath` name the target"));
            }
            (Some(l), None) => l.clone(),
            (None, Some(l)) => l.to_owned(),
            (None, None) => h.link.clone(),
        };
        let mut size = h.size;
        if let Some(s) = pending.pax_value("size") {
            let v = parse_decimal(s)
                .ok_or_else(|| invalid(entry, format!("PAX `size` `{s}` is not a number")))?;
            if h.size != 0 && h.size != v {
                return Err(invalid(
                    entry,
                    format!("PAX `size` {v} disagrees with the header's size {}", h.size),
                ));
            }
            size = v;
        }
        let kind = match h.typeflag {
            b'0' | 0 | b'7' => {
                if raw_name.ends_with('/') {
                    return Err(invalid(
                        entry,
                        "a regular file whose name ends in `/` (old tars read it as a directory)",
                    ));
                }
                MemberKind::File
            }
            b'5' => MemberKind::Directory,
            b'2' => MemberKind::Symlink(link),
            b'1' => MemberKind::HardLink(link),
            b'S' => {
                return Err(invalid(
                    entry,
                    "sparse files are not supported (extractors rebuild them differently)",
                ));
            }
            b'3' | b'4' | b'6' => {
                return Err(invalid(entry, "special files (devices, FIFOs) are not allowed"));
            }
            t => return Err(invalid(entry, format!("unsupported entry type `{}`", t.escape_ascii()))),
        };
        if kind != MemberKind::File && size != 0 {
            return Err(invalid(entry, format!("a non-file member carries {size} bytes of data")));
        }
        if let MemberKind::Symlink(t) | MemberKind::HardLink(t) = &kind {
            if t.is_empty() {
                return Err(invalid(entry, "link has no target"));
            }
            if t.len() > self.limits.max_name {
                return Err(invalid(entry, format!("link target of {} bytes is over the limit", t.len())));
            }
            if t.contains('\0') {
                return Err(invalid(entry, "link target contains a NUL byte"));
            }
        }
        self.members += 1;
        if self.members > self.limits.max_members {
            return Err(invalid(
                entry,
                format!("the layer has more than {} members", self.limits.max_members),
            ));
        }
        let is_root = kind == MemberKind::Directory
            && !raw_name.starts_with('/')
            && raw_name.split('/').all(|c| c.is_empty() || c == ".");
        if is_root {
            // `./`: the extraction directory itself.
            return Ok(Member { raw_name, name: ".".into(), kind });
        }
        let name = safe_member_name(&raw_name).map_err(|p| invalid(entry, p.to_string()))?;
        self.claim(&name, kind == MemberKind::Directory).map_err(|c| invalid(entry, c.to_string()))?;
        self.remaining = size;
        self.padding = pad(size);
        Ok(Member { raw_name, name, kind })
    }

    /// Records a name, refusing a second use, a file that is also a directory, and a path
    /// below a file.
    fn claim(&mut self, name: &str, is_dir: bool) -> Result<(), Conflict> {
        if self.files.contains(name) {
            return Err(if is_dir { Conflict::DirAfterFile } else { Conflict::Twice });
        }
        if !is_dir && self.dirs.contains(name) {
            return Err(Conflict::FileAfterDir);
        }
        let mut ancestor = name;
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if self.files.contains(parent) {
                return Err(Conflict::BelowFile(parent.to_owned()));
            }
            if !self.dirs.insert(parent.to_owned()) {
                break;
            }
            ancestor = parent;
        }
        if is_dir {
            self.dirs.insert(name.to_owned());
        } else {
            self.files.insert(name.to_owned());
        }
        Ok(())
    }
}

/// Two members that cannot both be extracted.
#[derive(Debug, thiserror::Error)]
enum Conflict {
    #[error("the layer holds this file twice")]
    Twice,
    #[error("is a directory here but a file earlier in the layer")]
    DirAfterFile,
    #[error("is a file here but a directory elsewhere in the layer")]
    FileAfterDir,
    #[error("lies below `{0}`, which is a file in this layer")]
    BelowFile(String),
}

/// The data of the current member.
pub struct MemberData<'a, R> {
    reader: &'a mut TarReader<R>,
}

impl<R: Read> Read for MemberData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = &mut *self.reader;
        if r.remaining == 0 {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(r.remaining) as usize;
        let n = r.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the archive ends inside the data of `{}`", r.current.as_deref().unwrap_or("?")),
            ));
        }
        r.remaining -= n as u64;
        Ok(n)
    }
}

fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// POSIX ustar (`ustar\0` `00`), the base of pax.
    Ustar,
    /// GNU (`ustar  \0`).
    Gnu,
    /// Pre-POSIX (no magic).
    V7,
}

struct Header {
    name: String,
    link: String,
    size: u64,
    typeflag: u8,
    format: Format,
}

/// Bytes up to the first NUL, as readers take C strings from header fields.
fn field_str(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|c| *c == 0).unwrap_or(b.len())]
}

fn utf8(b: &[u8], what: &str) -> Result<String, TarError> {
    String::from_utf8(b.to_vec()).map_err(|_| invalid(None, format!("{what} is not UTF-8")))
}

impl Header {
    fn parse(b: &[u8; BLOCK]) -> Result<Self, TarError> {
        let name0 = String::from_utf8_lossy(field_str(&b[0..100])).into_owned();
        let bad = |p: String| invalid(Some(&name0), p);
        let stored =
            parse_octal(&b[148..156]).ok_or_else(|| bad("header checksum field is not octal".into()))?;
        let unsigned: u64 =
            b.iter().enumerate().map(|(i, c)| if (148..156).contains(&i) { 32 } else { u64::from(*c) }).sum();
        let signed: i64 = b
            .iter()
            .enumerate()
            .map(|(i, c)| if (148..156).contains(&i) { 32 } else { i64::from(*c as i8) })
            .sum();
        if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
            return Err(bad("header checksum does not match".into()));
        }
        let format = match (&b[257..263], &b[263..265]) {
            (b"ustar\0", b"00") => Format::Ustar,
            (b"ustar ", b" \0") => Format::Gnu,
            (m, v) if m.iter().chain(v).all(|c| *c == 0) => Format::V7,
            _ => return Err(bad("unknown tar header magic".into())),
        };
        let typeflag = b[156];
        let size =
            parse_number(&b[124..136]).ok_or_else(|| bad("size field is not a valid number".into()))?;
        let mut name = utf8(field_str(&b[0..100]), "member name")?;
        let prefix = field_str(&b[345..500]);
        match format {
            Format::Ustar if !prefix.is_empty() => {
                name = format!("{}/{name}", utf8(prefix, "member name prefix")?);
            }
            Format::Ustar => {}
            // Python's tarfile joins a prefix whatever the magic; GNU tar never does.
            _ if b[345] != 0 => {
                return Err(bad("a prefix field in a non-ustar header (readers disagree on it)".into()));
            }
            _ => {}
        }
        let link = utf8(field_str(&b[157..257]), "link target")?;
        Ok(Self { name, link, size, typeflag, format })
    }
}

/// Plain octal (surrounding spaces, NUL-terminated); empty is zero.
fn parse_octal(f: &[u8]) -> Option<u64> {
    let s = field_str(f);
    let s = s.trim_ascii();
    if s.is_empty() {
        return Some(0);
    }
    if !s.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, c| acc.checked_mul(8)?.checked_add(u64::from(c - b'0')))
}

/// Octal, or GNU base-256 (first byte 0x80, positive, at most 64 bits).
fn parse_number(f: &[u8]) -> Option<u64> {
    match f[0] {
        0x80 => {
            let rest = &f[1..];
            let (high, low) = rest.split_at(rest.len().saturating_sub(8));
            if high.iter().any(|c| *c != 0) {
                return None;
            }
            Some(low.iter().fold(0u64, |acc, c| (acc << 8) | u64::from(*c)))
        }
        c if c & 0x80 != 0 => None,
        _ => parse_octal(f),
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses PAX records `LEN KEY=VALUE\n`, strictly: exact lengths, no trailing bytes, no
/// duplicate keys, only keys every reader treats alike.
fn parse_pax(data: &[u8]) -> Result<Vec<(String, String)>, TarError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        let sp = rest
            .iter()
            .position(|c| *c == b' ')
            .ok_or_else(|| invalid(None, "malformed PAX record (no length)"))?;
        let len = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(parse_decimal)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| invalid(None, "malformed PAX record length"))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(invalid(None, "malformed PAX record (its length does not end at a newline)"));
        }
        let record = &rest[sp + 1..len - 1];
        let eq = record
            .iter()
            .position(|c| *c == b'=')
            .ok_or_else(|| invalid(None, "malformed PAX record (no `=`)"))?;
        let key = std::str::from_utf8(&record[..eq]).map_err(|_| invalid(None, "PAX key is not UTF-8"))?;
        let value = std::str::from_utf8(&record[eq + 1..])
            .map_err(|_| invalid(None, format!("PAX `{key}` value is not UTF-8")))?;
        if key.is_empty() {
            return Err(invalid(None, "PAX record with an empty key"));
        }
        if key.starts_with("GNU.sparse.") {
            return Err(invalid(
                None,
                format!("PAX `{key}`: sparse files are not supported (extractors rebuild them differently)"),
            ));
        }
        if !matches!(key, "path" | "linkpath" | "size") && !harmless_pax_key(key) {
            return Err(invalid(
                None,
                format!("PAX key `{key}` is not accepted (readers may apply it differently)"),
            ));
        }
        if matches!(key, "path" | "linkpath" | "size") && value.is_empty() {
            return Err(invalid(None, format!("PAX `{key}` is empty (readers disagree on what that means)")));
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(invalid(
                None,
                format!("PAX record `{key}` appears twice (readers disagree on which applies)"),
            ));
        }
        out.push((key.to_owned(), value.to_owned()));
        pos += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header block with the given fields (ustar unless `magic` says otherwise).
    fn header(name: &[u8], typeflag: u8, size: u64, magic: &[u8; 8]) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b[..name.len()].copy_from_slice(name);
        b[100..107].copy_from_slice(b"0000644");
        b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        b[156] = typeflag;
        b[257..265].copy_from_slice(magic);
        checksum(&mut b);
        b
    }

    fn checksum(b: &mut [u8; BLOCK]) {
        b[148..156].copy_from_slice(b"        ");
        let sum: u32 = b.iter().map(|c| u32::from(*c)).sum();
        b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    }

    const USTAR: &[u8; 8] = b"ustar\x0000";

    fn push_member(out: &mut Vec<u8>, h: [u8; BLOCK], data: &[u8]) {
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len() + pad(data.len() as u64) as usize, 0);
    }

    fn pax_record(key: &str, value: &str) -> Vec<u8> {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while len != body.len() + len.to_string().len() {
            len = body.len() + len.to_string().len();
        }
        format!("{len}{body}").into_bytes()
    }

    fn end(out: &mut Vec<u8>) {
        out.resize(out.len() + 2 * BLOCK, 0);
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(Member, Vec<u8>)>, TarError> {
        let mut r = TarReader::new(bytes, TarLimits::default());
        let mut out = Vec::new();
        while let Some(m) = r.next_member()? {
            let mut d = Vec::new();
            r.data().read_to_end(&mut d).map_err(TarError::Io)?;
            out.push((m, d));
        }
        Ok(out)
    }

    fn err(bytes: &[u8]) -> String {
        read_all(bytes).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn reads_ustar_pax_and_gnu_names() -> Result<(), TarError> {
        let mut t = Vec::new();
        push_member(&mut t, header(b"a.bin", b'0', 3, USTAR), b"abc");
        let rec = pax_record("path", "long/name.bin");
        push_member(&mut t, header(b"PaxHeaders/x", b'x', rec.len() as u64, USTAR), &rec);
        push_member(&mut t, header(b"short", b'0', 2, USTAR), b"xy");
        push_member(&mut t, header(b"././@LongLink", b'L', 9, b"ustar  \0"), b"gnu/long\0");
        push_member(&mut t, header(b"trunc", b'0', 1, b"ustar  \0"), b"z");
        push_member(&mut t, header(b"d/", b'5', 0, USTAR), b"");
        end(&mut t);
        let got = read_all(&t)?;
        let names: Vec<&str> = got.iter().map(|(m, _)| m.name.as_str()).collect();
        assert_eq!(names, ["a.bin", "long/name.bin", "gnu/long", "d"]);
        assert_eq!(got[1].1, b"xy");
        Ok(())
    }

    #[test]
    fn ambiguous_archives_are_refused() {
        let mut base = Vec::new();
        push_member(&mut base, header(b"a", b'0', 1, USTAR), b"1");
        // Duplicate PAX path.
        let mut t = Vec::new();
        let mut rec = pax_record("path", "one");
        rec.extend(pax_record("path", "two"));
        push_member(&mut t, header(b"p", b'x', rec.len() as u64, USTAR), &rec);
        push_member(&mut t, header(b"a", b'0', 1, USTAR), b"1");
        end(&mut t);
        assert!(err(&t).contains("appears twice"), "{}", err(&t));
        // Sparse keys.
        let mut t = Vec::new();
        let rec = pax_record("GNU.sparse.name", "x");
        push_member(&mut t, header(b"p", b'x', rec.len() as u64, USTAR), &rec);
        push_member(&mut t, header(b"a", b'0', 1, USTAR), b"1");
        end(&mut t);
        assert!(err(&t).contains("sparse"), "{}", err(&t));
        // Trailing data after the end marker.
        let mut t = base.clone();
        end(&mut t);
        t.extend_from_slice(&header(b"evil", b'0', 0, USTAR));
        assert!(err(&t).contains("after the end-of-archive marker"), "{}", err(&t));
        // `..` in a directory entry.
        let mut t = Vec::new();
        push_member(&mut t, header(b"../../x/", b'5', 0, USTAR), b"");
        end(&mut t);
        assert!(err(&t).contains("`..`"), "{}", err(&t));
        // A file below a file, and a file that is a directory.
        let mut t = base.clone();
        push_member(&mut t, header(b"a/b", b'0', 1, USTAR), b"1");
        end(&mut t);
        assert!(err(&t).contains("which is a file"), "{}", err(&t));
        let mut t = Vec::new();
        push_member(&mut t, header(b"a/b", b'0', 1, USTAR), b"1");
        push_member(&mut t, header(b"a", b'0', 1, USTAR), b"1");
        end(&mut t);
        assert!(err(&t).contains("directory elsewhere"), "{}", err(&t));
        // Old-style directory: regular file with a trailing slash.
        let mut t = Vec::new();
        push_member(&mut t, header(b"d/", 0, 0, USTAR), b"");
        end(&mut t);
        assert!(err(&t).contains("ends in `/`"), "{}", err(&t));
        // Prefix in a GNU header.
        let mut t = Vec::new();
        let mut h = header(b"a", b'0', 1, b"ustar  \0");
        h[345] = b'p';
        checksum(&mut h);
        push_member(&mut t, h, b"1");
        end(&mut t);
        assert!(err(&t).contains("prefix"), "{}", err(&t));
        // PAX size disagreeing with the header.
        let mut t = Vec::new();
        let rec = pax_record("size", "5");
        push_member(&mut t, header(b"p", b'x', rec.len() as u64, USTAR), &rec);
        push_member(&mut t, header(b"a", b'0', 1, USTAR), b"1");
        end(&mut t);
        assert!(err(&t).contains("disagrees"), "{}", err(&t));
        // Data on a directory.
        let mut t = Vec::new();
        push_member(&mut t, header(b"d", b'5', 3, USTAR), b"abc");
        end(&mut t);
        assert!(err(&t).contains("non-file member"), "{}", err(&t));
    }

    #[test]
    fn metadata_is_bounded() {
        let mut t = Vec::new();
        let big = vec![b'a'; 10_000];
        push_member(&mut t, header(b"././@LongLink", b'L', big.len() as u64, b"ustar  \0"), &big);
        push_member(&mut t, header(b"x", b'0', 0, b"ustar  \0"), b"");
        end(&mut t);
        assert!(err(&t).contains("over the limit"), "{}", err(&t));
        let mut t = Vec::new();
        push_member(&mut t, header(b"p", b'x', 1 << 30, USTAR), b"");
        assert!(err(&t).contains("over the limit"), "{}", err(&t));
    }

    #[test]
    fn pax_size_overrides_a_zero_header_size() -> Result<(), TarError> {
        let mut t = Vec::new();
        let rec = pax_record("size", "4");
        push_member(&mut t, header(b"p", b'x', rec.len() as u64, USTAR), &rec);
        push_member(&mut t, header(b"big", b'0', 0, USTAR), b"data");
        end(&mut t);
        let got = read_all(&t)?;
        assert_eq!(got[0].1, b"data");
        Ok(())
    }
}
