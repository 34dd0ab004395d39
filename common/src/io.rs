//! Small I/O helpers shared by every layer that writes or streams: atomic file writes
//! (temporary file + rename, so nothing is ever half-written), and one reader adapter that
//! hands each chunk read to a closure (hashing, counting, progress).

use std::io::Read;
use std::path::{Path, PathBuf};

/// Writes bytes to `path` atomically: a temporary file in the same directory, renamed
/// over the target only once complete.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), crate::errors::OutputError> {
    use std::io::Write;
    let err = |source| crate::errors::OutputError { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".modelsig-").tempfile_in(&dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Encodes a value as JSON, naming the document on failure (never writes an empty file).
pub fn to_json<T: serde::Serialize + ?Sized>(
    value: &T,
    what: &str,
) -> Result<Vec<u8>, crate::errors::FormatError> {
    serde_json::to_vec(value)
        .map_err(|source| crate::errors::FormatError::Encode { what: what.into(), source })
}

/// A reader that passes every chunk it reads to `tap` (a hasher, a counter, a progress
/// bar) before handing it on.
pub struct Tap<R, F> {
    inner: R,
    tap: F,
}

impl<R: Read, F: FnMut(&[u8])> Tap<R, F> {
    /// Wraps `inner`.
    pub fn new(inner: R, tap: F) -> Self {
        Self { inner, tap }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read, F: FnMut(&[u8])> Read for Tap<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.tap)(&buf[..n]);
        Ok(n)
    }
}

/// The decoded value of `key` in `application/x-www-form-urlencoded` text (a query string
/// or a form body), if present.
pub fn form_field(form: &str, key: &str) -> Option<String> {
    form.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

/// Decodes `application/x-www-form-urlencoded` text (`%XX` escapes, `+` as space); a stray
/// `%` is kept as is.
pub fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(c) =
                std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(c);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
