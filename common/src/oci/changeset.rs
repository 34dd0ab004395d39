//! Container image layers as filesystem changesets (image-spec `layer.md`, "Applying
//! Changesets" and "Whiteouts"), seen from a model root directory such as KServe
//! ModelCars' `/models`: the files a container runtime shows under that directory once
//! every layer is applied in order, computed from one streaming pass per layer without
//! unpacking anything.
//!
//! Rules, as runtimes apply them (containerd's and the image-spec's):
//! - a later layer's file replaces the same path below, and everything under it (a file
//!   replacing a directory); a later layer's directory replaces a file of that path;
//! - `DIR/.wh.NAME` deletes `DIR/NAME` (and all under it) from the layers below;
//!   `DIR/.wh..wh..opq` deletes everything under `DIR` from the layers below; neither
//!   touches its own layer; a whiteout or opaque marker at or above the model root deletes
//!   the whole model from the layers below;
//! - other `.wh..wh.` names (AUFS metadata) and empty whiteout names are refused inside the
//!   root, as is a link (symbolic or hard) at the model root or above it: the runtime
//!   would show a different directory than the one read here. Outside the root nothing is
//!   read but the headers (base-image files are not the model).

use std::collections::BTreeMap;

/// The whiteout prefix.
pub const WHITEOUT: &str = ".wh.";
/// The opaque-directory marker's file name.
pub const OPAQUE: &str = ".wh..wh..opq";

/// Where a member of an image layer falls, seen from the model root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Outside the model root: not part of the model.
    Outside,
    /// A path inside the root (relative to it).
    Inside(String),
    /// A whiteout of a path inside the root (relative to it).
    Whiteout(String),
    /// An opaque marker for a directory inside the root (relative to it; `""` is the root).
    Opaque(String),
    /// A whiteout or opaque marker at or above the root: the model below is deleted.
    WipeRoot,
}

/// The model root as a member-name prefix (`models`, `opt/app/model`; `""` for the whole
/// archive), from `/models`, `models/` or `./models`. `None` when it leaves the archive.
pub fn normalize_root(root: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in root.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// `name` relative to `root` when it is the root or below it.
fn relative<'n>(name: &'n str, root: &str) -> Option<&'n str> {
    if root.is_empty() {
        return Some(name);
    }
    if name == root {
        return Some("");
    }
    name.strip_prefix(root).and_then(|r| r.strip_prefix('/'))
}

/// Is `name` the root or one of its ancestors?
pub fn covers_root(name: &str, root: &str) -> bool {
    name == root || root.starts_with(&format!("{name}/"))
}

/// Classifies a member name (already made safe by the tar reader) against the root.
/// Errors are problems for the entry (AUFS metadata, empty whiteout names).
pub fn place(name: &str, root: &str) -> Result<Placement, String> {
    let (dir, base) = name.rsplit_once('/').unwrap_or(("", name));
    if let Some(target) = base.strip_prefix(WHITEOUT) {
        if base == OPAQUE {
            return Ok(match relative(dir, root) {
                Some(rel) => Placement::Opaque(rel.to_owned()),
                None if covers_root(dir, root) || (dir.is_empty() && !root.is_empty()) => Placement::WipeRoot,
                None => Placement::Outside,
            });
        }
        let full = if dir.is_empty() { target.to_owned() } else { format!("{dir}/{target}") };
        let placed = match relative(&full, root) {
            Some("") => Placement::WipeRoot,
            Some(rel) => Placement::Whiteout(rel.to_owned()),
            None if covers_root(&full, root) => Placement::WipeRoot,
            None => return Ok(Placement::Outside),
        };
        if target.starts_with(WHITEOUT) {
            return Err(format!("`{base}` is whiteout metadata no runtime applies the same way"));
        }
        if target.is_empty() || target == "." || target == ".." {
            return Err(format!("`{base}` whites out no valid name"));
        }
        return Ok(placed);
    }
    Ok(match relative(name, root) {
        Some(rel) => Placement::Inside(rel.to_owned()),
        None => Placement::Outside,
    })
}

/// Reads one member of an image layer against the root: what it changes is recorded in
/// `changes` (whiteouts, opaque markers, directories, a wiped root), and a file or link
/// inside the root comes back as its path relative to the root. Shared by verify (hashing)
/// and pull (extracting), so both see the same tree. Errors are problems for the entry.
pub fn record(
    name: &str,
    is_dir: bool,
    is_link: bool,
    root: &str,
    changes: &mut Changes,
) -> Result<Option<String>, String> {
    if !root.is_empty() && covers_root(name, root) && !is_dir {
        if is_link {
            return Err(format!(
                "is a link at the model root `/{root}` or above it: a runtime would show another directory; name the real one with --model-root"
            ));
        }
        // A file where the root's directory was: nothing of the model below.
        changes.wipe_root = true;
        return Ok(None);
    }
    match place(name, root)? {
        Placement::Outside => {}
        Placement::WipeRoot => changes.wipe_root = true,
        Placement::Whiteout(rel) => changes.whiteouts.push(rel),
        Placement::Opaque(rel) => changes.opaque.push(rel),
        Placement::Inside(rel) if is_dir => {
            if !rel.is_empty() {
                changes.dirs.push(rel);
            }
        }
        Placement::Inside(rel) if rel.is_empty() || rel == "." => {}
        Placement::Inside(rel) => return Ok(Some(rel)),
    }
    Ok(None)
}

/// What one layer changes under the model root.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    /// Paths whited out (relative to the root).
    pub whiteouts: Vec<String>,
    /// Directories made opaque (relative; `""` is the root).
    pub opaque: Vec<String>,
    /// Directories the layer holds (relative).
    pub dirs: Vec<String>,
    /// The layer deletes the whole model below it.
    pub wipe_root: bool,
}

/// The merged view of a model root across layers: path → value (a file's resources).
#[derive(Debug)]
pub struct Overlay<V> {
    files: BTreeMap<String, (usize, V)>,
}

impl<V> Default for Overlay<V> {
    fn default() -> Self {
        Self { files: BTreeMap::new() }
    }
}

impl<V> Overlay<V> {
    /// Removes `path` and everything under it.
    fn delete_tree(&mut self, path: &str) {
        if path.is_empty() {
            self.files.clear();
            return;
        }
        self.files.remove(path);
        self.delete_below(path);
    }

    /// Removes everything strictly under `dir` (`""`: everything).
    fn delete_below(&mut self, dir: &str) {
        if dir.is_empty() {
            self.files.clear();
            return;
        }
        let lo = format!("{dir}/");
        let hi = format!("{dir}0"); // '0' follows '/' in byte order
        let doomed: Vec<String> = self.files.range(lo..hi).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.files.remove(&k);
        }
    }

    /// Applies layer `index` on top: its deletions hit what is below, then its files land.
    pub fn apply(&mut self, index: usize, changes: &Changes, files: Vec<(String, V)>) {
        if changes.wipe_root {
            self.files.clear();
        }
        for w in &changes.whiteouts {
            self.delete_tree(w);
        }
        for d in &changes.opaque {
            self.delete_below(d);
        }
        for d in &changes.dirs {
            // A directory replaces a file of the same path below.
            self.files.remove(d);
        }
        for (path, _) in &files {
            // A file replaces a directory of the same path below, and a file below it
            // cannot survive either (its parent became a file).
            self.delete_below(path);
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                self.files.remove(parent);
                p = parent;
            }
        }
        for (path, v) in files {
            self.files.insert(path, (index, v));
        }
    }

    /// The files visible at the end, with the layer that provides each.
    pub fn into_files(self) -> impl Iterator<Item = (String, usize, V)> {
        self.files.into_iter().map(|(k, (i, v))| (k, i, v))
    }
}

/// Top-down visibility for pulling: layers are visited from the last to the first, and a
/// path is taken from the first (topmost) layer that shows it.
#[derive(Debug, Default)]
pub struct TopDown {
    provided: std::collections::HashSet<String>,
    dirs: std::collections::HashSet<String>,
    hidden: std::collections::HashSet<String>,
    opaque: std::collections::HashSet<String>,
    wiped: bool,
}

impl TopDown {
    /// Would a file at `path` in the layer being visited be visible (not shadowed by the
    /// layers above)?
    pub fn visible(&self, path: &str) -> bool {
        if self.wiped
            || self.provided.contains(path)
            || self.dirs.contains(path)
            || self.hidden.contains(path)
            || self.hidden.contains("")
            || self.opaque.contains("")
        {
            return false;
        }
        // Each ancestor: whited out, made opaque, or a file in an upper layer (which
        // replaces this one's directory). Lookups per path component, never per entry.
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            if self.provided.contains(parent) || self.hidden.contains(parent) || self.opaque.contains(parent)
            {
                return false;
            }
            p = parent;
        }
        true
    }

    /// Records a visited layer: what it shows and what it deletes below it.
    pub fn visited(&mut self, changes: &Changes, files: impl IntoIterator<Item = String>) {
        self.provided.extend(files);
        self.dirs.extend(changes.dirs.iter().cloned());
        self.hidden.extend(changes.whiteouts.iter().cloned());
        self.opaque.extend(changes.opaque.iter().cloned());
        self.wiped |= changes.wipe_root;
    }
}

/// The deepest directory holding every one of `names` (`""` when they share none).
pub fn common_dir<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut common: Option<Vec<&str>> = None;
    for n in names {
        let dir: Vec<&str> = n.rsplit_once('/').map_or(vec![], |(d, _)| d.split('/').collect());
        common = Some(match common {
            None => dir,
            Some(c) => c.iter().zip(&dir).take_while(|(a, b)| a == b).map(|(a, _)| *a).collect(),
        });
    }
    common.unwrap_or_default().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_placed_against_the_root() {
        let p = |n: &str| place(n, "models");
        assert_eq!(p("bin/sh"), Ok(Placement::Outside));
        assert_eq!(p("models"), Ok(Placement::Inside(String::new())));
        assert_eq!(p("modelsx/a"), Ok(Placement::Outside));
        assert_eq!(p("models/a/b.bin"), Ok(Placement::Inside("a/b.bin".into())));
        assert_eq!(p("models/a/.wh.b.bin"), Ok(Placement::Whiteout("a/b.bin".into())));
        assert_eq!(p("models/.wh..wh..opq"), Ok(Placement::Opaque(String::new())));
        assert_eq!(p("models/a/.wh..wh..opq"), Ok(Placement::Opaque("a".into())));
        assert_eq!(p(".wh.models"), Ok(Placement::WipeRoot));
        assert_eq!(p(".wh..wh..opq"), Ok(Placement::WipeRoot));
        assert_eq!(p("etc/.wh.passwd"), Ok(Placement::Outside));
        assert_eq!(p("etc/.wh..wh..opq"), Ok(Placement::Outside));
        assert!(p("models/.wh..wh.plnk").is_err());
        assert!(p("models/.wh.").is_err());
        assert!(p("models/.wh..").is_err() && p("models/.wh...").is_err());
        assert_eq!(place("opt/.wh.app", "opt/app/model"), Ok(Placement::WipeRoot));
        assert_eq!(place("opt/app/.wh..wh..opq", "opt/app/model"), Ok(Placement::WipeRoot));
        assert_eq!(normalize_root("/models/"), Some("models".into()));
        assert_eq!(normalize_root("./a//b"), Some("a/b".into()));
        assert_eq!(normalize_root("/a/../b"), None);
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts_and_opaque_directories() {
        let mut o = Overlay::default();
        let none = Changes::default();
        o.apply(0, &none, vec![("a".into(), 0), ("d/x".into(), 0), ("d/y".into(), 0), ("e/z".into(), 0)]);
        // Layer 1 replaces `a`, whites out `d/x`, makes `e` opaque and adds `e/new`.
        let c1 = Changes { whiteouts: vec!["d/x".into()], opaque: vec!["e".into()], ..Default::default() };
        o.apply(1, &c1, vec![("a".into(), 1), ("e/new".into(), 1)]);
        // Layer 2 replaces directory `d` with a file, and file `a` with a directory.
        let c2 = Changes { dirs: vec!["a".into()], ..Default::default() };
        o.apply(2, &c2, vec![("d".into(), 2), ("a/inner".into(), 2)]);
        let got: Vec<(String, usize, i32)> = o.into_files().collect();
        assert_eq!(
            got,
            vec![("a/inner".into(), 2, 2), ("d".into(), 2, 2), ("e/new".into(), 1, 1)],
            "{got:?}"
        );
        let mut o = Overlay::default();
        o.apply(0, &none, vec![("m".into(), 0)]);
        o.apply(1, &Changes { wipe_root: true, ..Default::default() }, vec![("n".into(), 1)]);
        assert_eq!(o.into_files().map(|(k, _, _)| k).collect::<Vec<_>>(), ["n"]);
    }

    #[test]
    fn top_down_visibility_matches_bottom_up_application() {
        let mut t = TopDown::default();
        let c = Changes { whiteouts: vec!["gone".into()], opaque: vec!["op".into()], ..Default::default() };
        t.visited(&c, ["a".to_owned(), "f".to_owned()]);
        assert!(!t.visible("a"));
        assert!(!t.visible("gone") && !t.visible("gone/x"));
        assert!(!t.visible("op/x"));
        assert!(!t.visible("f/below"));
        assert!(t.visible("b") && t.visible("op"));
        assert_eq!(common_dir(["models/a", "models/b/c"]), "models");
        assert_eq!(common_dir(["m/a/x", "m/a/y"]), "m/a");
        assert_eq!(common_dir(["x", "m/a"]), "");
    }

    /// Bottom-up application (verify) and top-down visibility (pull) pick the same file
    /// from the same layer, over many generated layer stacks.
    #[test]
    fn verify_and_pull_agree_on_generated_layer_stacks() {
        let paths = ["a", "b", "d/x", "d/y", "d/e/z", "d", "e"];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..3000 {
            let mut stack = Vec::new();
            for _ in 0..(1 + next(4)) {
                let mut c = Changes::default();
                let mut files: Vec<String> = Vec::new();
                for p in paths {
                    match next(8) {
                        0 => c.whiteouts.push(p.to_owned()),
                        1 if p == "d" || p == "d/e" => c.opaque.push(p.to_owned()),
                        2 | 3 => files.push(p.to_owned()),
                        _ => {}
                    }
                }
                // One layer cannot hold a file and something below it (the reader refuses).
                let fs = files.clone();
                files.retain(|f| !fs.iter().any(|g| f.starts_with(&format!("{g}/"))));
                for f in &files {
                    let mut p = f.as_str();
                    while let Some((parent, _)) = p.rsplit_once('/') {
                        c.dirs.push(parent.to_owned());
                        p = parent;
                    }
                }
                c.whiteouts.retain(|w| !files.contains(w));
                c.wipe_root = next(20) == 0;
                stack.push((c, files));
            }
            let mut o = Overlay::default();
            for (i, (c, f)) in stack.iter().enumerate() {
                o.apply(i, c, f.iter().map(|p| (p.clone(), ())).collect());
            }
            let bottom_up: Vec<(String, usize)> = o.into_files().map(|(p, i, _)| (p, i)).collect();
            let mut t = TopDown::default();
            let mut top_down = Vec::new();
            for (i, (c, f)) in stack.iter().enumerate().rev() {
                for p in f {
                    if t.visible(p) {
                        top_down.push((p.clone(), i));
                    }
                }
                t.visited(c, f.iter().cloned());
            }
            top_down.sort();
            assert_eq!(bottom_up, top_down, "{stack:?}");
        }
    }
}
