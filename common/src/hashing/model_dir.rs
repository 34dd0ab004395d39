//! Listing the files of a local model the way model_signing does.
//!
//! Follows `model_signing/hashing.py` and `_serialization/file.py` (1.x): the model is a
//! directory (walked recursively, links to directories not descended) or a single file
//! (one resource named `.`); ignore paths are relative to the model root and ignore
//! everything below them; `.git`, `.gitattributes`, `.github` and `.gitignore` at the root
//! are ignored unless `--no-ignore-git-paths`; a symbolic link is an error unless
//! symlinks are allowed, and is then hashed as the file it points to.

use crate::errors::SourceError;
use std::path::{Component, Path, PathBuf};

/// The paths at the model root that model_signing ignores by default.
pub const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// Options for listing a model.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Follow symbolic links to files instead of failing on them.
    pub allow_symlinks: bool,
    /// Paths relative to the model root to leave out (with everything below them).
    pub ignore_paths: Vec<String>,
}

/// One file of the model.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// POSIX path relative to the model root (`.` for a single-file model).
    pub name: String,
    /// Where to read it.
    pub path: PathBuf,
    /// Size when listed.
    pub size: u64,
}

/// The informative model name: the last component of the path, like model_signing.
pub fn model_name(model: &Path) -> String {
    match model.file_name().and_then(|n| n.to_str()) {
        Some(n) if !n.is_empty() && n != ".." => n.to_owned(),
        _ => std::fs::canonicalize(model)
            .ok()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .unwrap_or_default(),
    }
}

/// The ignore list model_signing records for a signature: the user's paths (relative to
/// the model root, those outside it dropped), then the git paths when they are ignored.
pub fn ignore_list(user_paths: &[String], ignore_git_paths: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    add_ignores(&mut out, user_paths.iter().map(String::as_str));
    if ignore_git_paths {
        add_ignores(&mut out, GIT_PATHS);
    }
    out
}

/// Appends ignore paths (normalized, those leaving the root dropped) not already listed:
/// how the command line's list and a signature's recorded list are combined.
pub fn add_ignores<'a>(list: &mut Vec<String>, paths: impl IntoIterator<Item = &'a str>) {
    let mut listed: std::collections::HashSet<String> = list.iter().cloned().collect();
    for p in paths {
        if let Some(n) = normalize_relative(p)
            && listed.insert(n.clone())
        {
            list.push(n);
        }
    }
}

/// Normalizes a relative path (`./a//b` → `a/b`); `None` when it leaves the root.
pub fn normalize_relative(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(if parts.is_empty() { ".".to_owned() } else { parts.join("/") })
}

/// Turns ignore paths given on the command line (relative to the current directory, or
/// absolute) into paths relative to the model root, as model_signing's CLI does. Paths
/// outside the model are dropped.
pub fn resolve_cli_ignore_paths(model: &Path, paths: &[PathBuf]) -> Vec<String> {
    let Ok(root) = std::path::absolute(model).map(|p| lexical_clean(&p)) else {
        return Vec::new();
    };
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let mut out = Vec::new();
    for p in paths {
        let Ok(abs) = std::path::absolute(p).map(|a| lexical_clean(&a)) else {
            continue;
        };
        // Resolve links in the existing prefix, like Python's Path.resolve().
        let abs = canonicalize_existing_prefix(&abs);
        if let Ok(rel) = abs.strip_prefix(&root)
            && let Some(s) = rel.to_str()
            && let Some(n) = normalize_relative(s)
        {
            out.push(n);
        }
    }
    out
}

fn lexical_clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn canonicalize_existing_prefix(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) => canonicalize_existing_prefix(parent).join(name),
        _ => p.to_path_buf(),
    }
}

/// Is `rel` (a path relative to the model root) covered by one of the ignore paths?
pub fn is_ignored(rel: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|ig| {
        ig == "."
            || rel == ig
            || (rel.len() > ig.len() && rel.starts_with(ig.as_str()) && rel.as_bytes()[ig.len()] == b'/')
    })
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io { path: path.to_path_buf(), source }
}

/// Lists the files of a model, sorted by name. `only` restricts the listing to the given
/// names (for `--ignore_unsigned_files`); names in it that do not exist are skipped.
pub fn list_files(
    model: &Path,
    opts: &WalkOptions,
    only: Option<&[String]>,
) -> Result<Vec<ModelFile>, SourceError> {
    let meta = std::fs::symlink_metadata(model).map_err(io_err(model))?;
    if meta.file_type().is_symlink() && !opts.allow_symlinks {
        return Err(SourceError::Symlink(model.to_path_buf()));
    }
    let target = std::fs::metadata(model).map_err(io_err(model))?;
    if target.is_file() {
        return Ok(vec![ModelFile { name: ".".into(), path: model.to_path_buf(), size: target.len() }]);
    }
    if !target.is_dir() {
        return Err(SourceError::SpecialFile(model.to_path_buf()));
    }
    let mut out = Vec::new();
    if let Some(names) = only {
        for name in names {
            if is_ignored(name, &opts.ignore_paths) {
                continue;
            }
            let path = model.join(name);
            match classify(&path, opts)? {
                Some(Kind::File(size)) => out.push(ModelFile { name: name.clone(), path, size }),
                Some(Kind::Dir) | None => {}
            }
        }
    } else {
        walk(model, "", opts, &mut out)?;
    }
    out.sort_by(|a, b| {
        crate::formats::manifest::ResourceKey::file(&a.name)
            .cmp(&crate::formats::manifest::ResourceKey::file(&b.name))
    });
    Ok(out)
}

enum Kind {
    File(u64),
    Dir,
}

/// What a directory entry is; `None` for a link to a directory (listed, not descended).
fn classify(path: &Path, opts: &WalkOptions) -> Result<Option<Kind>, SourceError> {
    let lmeta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    if lmeta.file_type().is_symlink() {
        if !opts.allow_symlinks {
            return Err(SourceError::Symlink(path.to_path_buf()));
        }
        let meta = std::fs::metadata(path).map_err(|_| SourceError::SpecialFile(path.to_path_buf()))?;
        return if meta.is_file() {
            Ok(Some(Kind::File(meta.len())))
        } else if meta.is_dir() {
            Ok(None)
        } else {
            Err(SourceError::SpecialFile(path.to_path_buf()))
        };
    }
    if lmeta.is_file() {
        Ok(Some(Kind::File(lmeta.len())))
    } else if lmeta.is_dir() {
        Ok(Some(Kind::Dir))
    } else {
        Err(SourceError::SpecialFile(path.to_path_buf()))
    }
}

fn walk(dir: &Path, prefix: &str, opts: &WalkOptions, out: &mut Vec<ModelFile>) -> Result<(), SourceError> {
    let rd = std::fs::read_dir(dir).map_err(io_err(dir))?;
    for entry in rd {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let fname = entry.file_name();
        let fname = fname.to_str().ok_or_else(|| SourceError::NonUtf8Name(path.clone()))?;
        let rel = if prefix.is_empty() { fname.to_owned() } else { format!("{prefix}/{fname}") };
        if is_ignored(&rel, &opts.ignore_paths) {
            continue;
        }
        match classify(&path, opts)? {
            Some(Kind::File(size)) => out.push(ModelFile { name: rel, path, size }),
            Some(Kind::Dir) => walk(&path, &rel, opts, out)?,
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_matching_is_by_component() {
        let ig = vec![".git".to_owned(), "sub/x".to_owned()];
        assert!(is_ignored(".git", &ig));
        assert!(is_ignored(".git/HEAD", &ig));
        assert!(!is_ignored(".gitx", &ig));
        assert!(is_ignored("sub/x/y", &ig));
        assert!(!is_ignored("sub/xy", &ig));
    }

    #[test]
    fn ignore_list_normalizes_and_adds_git() {
        let l = ignore_list(&["./a/".into(), "../out".into(), "a".into()], true);
        assert_eq!(l, ["a", ".git", ".gitattributes", ".github", ".gitignore"]);
        assert_eq!(ignore_list(&[], false), Vec::<String>::new());
    }

    #[test]
    fn lists_nested_dirs_and_rejects_symlinks() -> Result<(), Box<dyn std::error::Error>> {
        let t = tempfile::tempdir()?;
        std::fs::create_dir_all(t.path().join("d/e"))?;
        std::fs::create_dir_all(t.path().join(".git"))?;
        std::fs::write(t.path().join("d/e/f"), b"x")?;
        std::fs::write(t.path().join("a"), b"")?;
        std::fs::write(t.path().join(".git/HEAD"), b"ref")?;
        let opts = WalkOptions { allow_symlinks: false, ignore_paths: ignore_list(&[], true) };
        let files = list_files(t.path(), &opts, None)?;
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "d/e/f"]);
        std::os::unix::fs::symlink(t.path().join("a"), t.path().join("link"))?;
        assert!(matches!(list_files(t.path(), &opts, None), Err(SourceError::Symlink(_))));
        let allow = WalkOptions { allow_symlinks: true, ..opts };
        assert_eq!(list_files(t.path(), &allow, None)?.len(), 3);
        let single = list_files(&t.path().join("d/e/f"), &allow, None)?;
        assert_eq!(single[0].name, ".");
        Ok(())
    }
}
