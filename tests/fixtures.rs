//! Test fixtures that reproduce what real packers write, built independently of
//! `modelsig-common`: `kit pack` (ModelKit tar layers with KitOps' sanitized headers, a
//! Kitfile config with digests and diffIds, KitOps local storage) and `modctl build`
//! (ModelPack raw layers, one file each, with file metadata and `modelfs.diffIds`).

use sha2::Digest as _;
use std::path::{Path, PathBuf};

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// A minimal OCI layout writer for fixtures.
pub struct Layout {
    /// Its directory.
    pub root: PathBuf,
}

impl Layout {
    /// Creates the layout skeleton.
    pub fn create(root: &Path) -> Layout {
        must(std::fs::create_dir_all(root.join("blobs/sha256")));
        must(std::fs::write(root.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#));
        Layout { root: root.to_path_buf() }
    }

    /// Stores a blob; returns `(sha256:<hex>, size)`.
    pub fn put(&self, bytes: &[u8]) -> (String, u64) {
        let hex = sha256_hex(bytes);
        must(std::fs::write(self.root.join("blobs/sha256").join(&hex), bytes));
        (format!("sha256:{hex}"), bytes.len() as u64)
    }

    /// Path of a blob.
    pub fn blob(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
    }

    /// Stores a manifest and returns its descriptor.
    pub fn put_manifest(&self, manifest: &serde_json::Value) -> serde_json::Value {
        let bytes = must(serde_json::to_vec(manifest));
        let (digest, size) = self.put(&bytes);
        serde_json::json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size })
    }

    /// Writes `index.json` with the given descriptors tagged.
    pub fn write_index(&self, tagged: &[(&str, serde_json::Value)]) {
        let manifests: Vec<serde_json::Value> = tagged
            .iter()
            .map(|(tag, d)| {
                let mut d = d.clone();
                d["annotations"] = serde_json::json!({ "org.opencontainers.image.ref.name": tag });
                d
            })
            .collect();
        let index = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests });
        must(std::fs::write(self.root.join("index.json"), must(serde_json::to_vec(&index))));
    }
}

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

fn walk_sorted(dir: &Path, rel: &str, out: &mut Vec<(String, bool)>) {
    let mut names: Vec<String> =
        must(std::fs::read_dir(dir)).filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    for n in names {
        let r = if rel.is_empty() { n.clone() } else { format!("{rel}/{n}") };
        let p = dir.join(&n);
        let is_dir = p.is_dir();
        out.push((r.clone(), is_dir));
        if is_dir {
            walk_sorted(&p, &r, out);
        }
    }
}

/// A tar of `path` (relative to `context`) the way `kit pack` writes it: a walk of the
/// context in lexical order keeping the path's ancestors and descendants, names relative to
/// the context, directories included, times zero, uid 1000, gid 0, no user names.
pub fn kit_tar(context: &Path, path: &str) -> Vec<u8> {
    let mut all = Vec::new();
    walk_sorted(context, "", &mut all);
    let related =
        |e: &str| e == path || path.starts_with(&format!("{e}/")) || e.starts_with(&format!("{path}/"));
    let mut b = tar::Builder::new(Vec::new());
    for (name, is_dir) in all.into_iter().filter(|(n, _)| related(n)) {
        let mut h = tar::Header::new_ustar();
        let full = context.join(&name);
        if is_dir {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(must(std::fs::metadata(&full)).len());
        }
        h.set_mtime(0);
        h.set_uid(1000);
        h.set_gid(0);
        let tar_name = if is_dir { format!("{name}/") } else { name.clone() };
        if is_dir {
            must(b.append_data(&mut h, &tar_name, std::io::empty()));
        } else {
            must(b.append_data(&mut h, &tar_name, must(std::fs::File::open(&full))));
        }
    }
    must(b.into_inner())
}

fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            must(std::io::Write::write_all(&mut e, data));
            must(e.finish())
        }
        Compression::Zstd => must(zstd::encode_all(data, 3)),
    }
}

/// One Kitfile entry to pack: section (`model`, `modelpart`, `code`, `datasets`, `docs`),
/// path, compression.
pub type KitEntry<'a> = (&'a str, &'a str, Compression);

/// Builds a ModelKit for the files under `context` into `layout` and returns the manifest
/// descriptor. `new_style` adds `artifactType` and per-layer file path annotations.
pub fn kit_pack(
    layout: &Layout,
    context: &Path,
    entries: &[KitEntry<'_>],
    new_style: bool,
) -> serde_json::Value {
    let mut kitfile = serde_json::json!({ "manifestVersion": "1.0.0", "package": { "name": "fixture-kit" } });
    let mut layers = Vec::new();
    for (section, path, comp) in entries {
        let tar = kit_tar(context, path);
        let blob = compress(&tar, *comp);
        let (digest, size) = layout.put(&blob);
        let kind = match *section {
            "datasets" => "dataset",
            "model" | "modelpart" | "code" | "docs" => section,
            other => panic!("unknown section {other}"),
        };
        let suffix = match comp {
            Compression::None => "",
            Compression::Gzip => "+gzip",
            Compression::Zstd => "+zstd",
        };
        let mut desc = serde_json::json!({
            "mediaType": format!("application/vnd.kitops.modelkit.{kind}.v1.tar{suffix}"),
            "digest": digest, "size": size,
        });
        if new_style {
            desc["annotations"] = serde_json::json!({ "org.cncf.model.filepath": path });
        }
        layers.push(desc);
        let entry = serde_json::json!({ "path": path, "digest": digest, "diffId": format!("sha256:{}", sha256_hex(&tar)) });
        match *section {
            "model" => {
                let parts = kitfile["model"]["parts"].clone();
                kitfile["model"] = entry;
                if !parts.is_null() {
                    kitfile["model"]["parts"] = parts;
                }
            }
            "modelpart" => {
                if kitfile["model"]["parts"].is_null() {
                    kitfile["model"]["parts"] = serde_json::json!([]);
                }
                if let Some(a) = kitfile["model"]["parts"].as_array_mut() {
                    a.push(entry);
                }
            }
            s => {
                if kitfile[s].is_null() {
                    kitfile[s] = serde_json::json!([]);
                }
                if let Some(a) = kitfile[s].as_array_mut() {
                    a.push(entry);
                }
            }
        }
    }
    let config = must(serde_json::to_vec(&kitfile));
    let (cdigest, csize) = layout.put(&config);
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.kitops.modelkit.config.v1+json", "digest": cdigest, "size": csize },
        "layers": layers,
    });
    if new_style {
        manifest["artifactType"] = "application/vnd.kitops.modelkit.manifest.v1+json".into();
    }
    layout.put_manifest(&manifest)
}

/// Installs a packed ModelKit in KitOps local storage (`$KITOPS_HOME/storage`) as
/// `localhost/<repo>:<tag>`.
pub fn kit_storage_tag(storage: &Layout, repo: &str, tag: &str, desc: &serde_json::Value) {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::URL_SAFE.encode(format!("localhost/{repo}"));
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": [desc] });
    must(std::fs::write(storage.root.join(format!("{key}-index.json")), must(serde_json::to_vec(&index))));
    let tags = serde_json::json!({ tag: desc });
    must(std::fs::write(storage.root.join(format!("{key}-tags.json")), must(serde_json::to_vec(&tags))));
    if !storage.root.join("index.json").exists() {
        storage.write_index(&[]);
    }
}

/// Builds a ModelPack artifact the way `modctl build` does by default: one raw layer per
/// file, sorted by path, with file path and metadata annotations and `modelfs.diffIds`.
pub fn modctl_build(layout: &Layout, model: &Path) -> serde_json::Value {
    let mut files = Vec::new();
    walk_sorted(model, "", &mut files);
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for (name, is_dir) in files.into_iter().filter(|(_, d)| !d) {
        let _ = is_dir;
        let data = must(std::fs::read(model.join(&name)));
        let (digest, size) = layout.put(&data);
        let lower = name.to_lowercase();
        let kind = if lower.ends_with(".safetensors") || lower.ends_with(".bin") {
            "weight"
        } else if lower.ends_with(".json") {
            "weight.config"
        } else if lower.ends_with(".py") {
            "code"
        } else {
            "doc"
        };
        let meta = serde_json::json!({
            "name": name.rsplit('/').next(), "mode": 420, "uid": 0, "gid": 0, "size": size,
            "mtime": "2025-01-01T00:00:00Z", "typeflag": 48,
        });
        layers.push(serde_json::json!({
            "mediaType": format!("application/vnd.cncf.model.{kind}.v1.raw"),
            "digest": digest, "size": size,
            "annotations": {
                "org.cncf.model.filepath": name,
                "org.cncf.model.file.metadata+json": meta.to_string(),
                "org.cncf.model.file.mediatype.untested": "true",
            }
        }));
        diff_ids.push(digest);
    }
    let config = serde_json::json!({
        "descriptor": { "name": "fixture-model", "createdAt": "2025-01-01T00:00:00Z" },
        "modelfs": { "type": "layers", "diffIds": diff_ids },
        "config": { "format": "safetensors" },
    });
    let (cdigest, csize) = layout.put(&must(serde_json::to_vec(&config)));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.model.manifest.v1+json",
        "config": { "mediaType": "application/vnd.cncf.model.config.v1+json", "digest": cdigest, "size": csize },
        "layers": layers,
    });
    layout.put_manifest(&manifest)
}

/// A ModelPack layout holding one tar layer of the whole model (`org.cncf.model.filepath: .`).
pub fn modelpack_tar_layout(root: &Path, tar: &[u8], compression: &str) -> PathBuf {
    let blob = match compression {
        "+gzip" => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            must(std::io::Write::write_all(&mut gz, tar));
            must(gz.finish())
        }
        "+zstd" => must(zstd::encode_all(tar, 3)),
        _ => tar.to_vec(),
    };
    modelpack_layer_layout(root, &blob, &format!("sha256:{}", sha256_hex(tar)), compression)
}

/// A ModelPack layout (tag `t`) holding one tar layer blob of the whole model, already
/// compressed as `compression` says, whose uncompressed digest is `diff_id`.
pub fn modelpack_layer_layout(root: &Path, blob: &[u8], diff_id: &str, compression: &str) -> PathBuf {
    let l = Layout::create(root);
    let (digest, size) = l.put(blob);
    let config = serde_json::json!({
        "descriptor": { "name": "diff" },
        "modelfs": { "type": "layers", "diffIds": [diff_id] },
        "config": {},
    });
    let (cd, cs) = l.put(&must(serde_json::to_vec(&config)));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.model.manifest.v1+json",
        "config": { "mediaType": "application/vnd.cncf.model.config.v1+json", "digest": cd, "size": cs },
        "layers": [{
            "mediaType": format!("application/vnd.cncf.model.weight.v1.tar{compression}"),
            "digest": digest, "size": size,
            "annotations": { "org.cncf.model.filepath": "." }
        }],
    });
    let d = l.put_manifest(&manifest);
    l.write_index(&[("t", d)]);
    root.to_path_buf()
}
