//! The model manifest: every resource (file or file shard) of a model paired with its digest.
//!
//! Mirrors `model_signing/manifest.py` (model_signing 1.x): resource names are POSIX paths
//! relative to the model root (`.` for a single-file model), shards are named
//! `path:start:end`, resources are ordered the way Python orders `PurePosixPath` keys
//! (component by component, then shard offsets), and two manifests are equal when their
//! resources are equal (the model name is informative only).

use crate::errors::FormatError;
use crate::formats::digest::{Digest, HashAlgorithm};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// How the model was serialized into resources (`predicate.serialization`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serialization {
    /// `files` or `shards`.
    pub method: Method,
    /// `hash_type`.
    pub hash: HashAlgorithm,
    /// `allow_symlinks`.
    pub allow_symlinks: bool,
    /// `ignore_paths`, relative to the model root, in the order they were recorded.
    pub ignore_paths: Vec<String>,
}

/// The serialization method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One resource per file.
    Files,
    /// Files cut into shards of `shard_size` bytes; empty files have no shard.
    Shards {
        /// Bytes per shard (the last shard of a file may be shorter).
        shard_size: u64,
    },
}

/// model_signing's default shard size (1 GB).
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;

impl Serialization {
    /// The `serialization` JSON object, fields in the order model_signing writes them.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        match self.method {
            Method::Files => {
                m.insert("method".into(), "files".into());
                m.insert("hash_type".into(), self.hash.name().into());
            }
            Method::Shards { shard_size } => {
                m.insert("method".into(), "shards".into());
                m.insert("hash_type".into(), self.hash.name().into());
                m.insert("shard_size".into(), shard_size.into());
            }
        }
        m.insert("allow_symlinks".into(), self.allow_symlinks.into());
        if !self.ignore_paths.is_empty() {
            m.insert("ignore_paths".into(), self.ignore_paths.clone().into());
        }
        serde_json::Value::Object(m)
    }

    /// Parses the `serialization` JSON object of a predicate.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, FormatError> {
        const WHAT: &str = "model_signing predicate";
        let obj = v.as_object().ok_or_else(|| FormatError::field(WHAT, "serialization", "not an object"))?;
        let text = |k: &str| -> Result<&str, FormatError> {
            obj.get(k).and_then(|x| x.as_str()).ok_or_else(|| {
                FormatError::field(WHAT, &format!("serialization.{k}"), "missing or not a string")
            })
        };
        let hash = HashAlgorithm::from_name(text("hash_type")?)?;
        let allow_symlinks = match obj.get("allow_symlinks") {
            None => false,
            Some(serde_json::Value::Bool(b)) => *b,
            // model_signing 0.2 compat code passes the string "false".
            Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
            Some(_) => {
                return Err(FormatError::field(WHAT, "serialization.allow_symlinks", "not a boolean"));
            }
        };
        let method = match text("method")? {
            "files" => Method::Files,
            "shards" => {
                let shard_size =
                    obj.get("shard_size").and_then(integral).filter(|s| *s > 0).ok_or_else(|| {
                        FormatError::field(
                            WHAT,
                            "serialization.shard_size",
                            "missing or not a positive integer",
                        )
                    })?;
                Method::Shards { shard_size }
            }
            other => {
                return Err(FormatError::field(
                    WHAT,
                    "serialization.method",
                    format!("unknown method `{other}` (expected files or shards)"),
                ));
            }
        };
        let ignore_paths = match obj.get("ignore_paths") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str().map(str::to_owned).ok_or_else(|| {
                        FormatError::field(WHAT, "serialization.ignore_paths", "not a string list")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(FormatError::field(WHAT, "serialization.ignore_paths", "not a list"));
            }
        };
        Ok(Self { method, hash, allow_symlinks, ignore_paths })
    }
}

/// A JSON number that holds an integer: `4096`, or `4096.0` as model_signing's API writes
/// predicate numbers (the predicate is a protobuf `Struct`, whose numbers are doubles).
/// Fractions, negatives and values past 2^53 (where doubles stop being exact) are refused.
pub fn integral(v: &serde_json::Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    (f.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&f)).then_some(f as u64)
}

/// A resource name: a normalized relative POSIX path, and the byte range for shards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceKey {
    path: String,
    range: Option<(u64, u64)>,
}

impl ResourceKey {
    /// A whole-file resource. `path` must already be relative; it is normalized like
    /// Python's `PurePosixPath` (empty and `.` components dropped, `.` for the root).
    pub fn file(path: &str) -> Self {
        Self { path: normalize(path), range: None }
    }

    /// A shard `[start, end)` of a file.
    pub fn shard(path: &str, start: u64, end: u64) -> Self {
        Self { path: normalize(path), range: Some((start, end)) }
    }

    /// Parses a resource name from a predicate. Rejects names that would escape the model
    /// root (absolute paths, `..` components), since names are untrusted input.
    pub fn parse(name: &str, method: Method) -> Result<Self, ResourceNameError> {
        let key = match method {
            Method::Files => Self::file(name),
            Method::Shards { .. } => {
                let mut parts = name.rsplitn(3, ':');
                let (end, start, path) = match (parts.next(), parts.next(), parts.next()) {
                    (Some(e), Some(s), Some(p)) => (e, s, p),
                    _ => return Err(ResourceNameError::ShardSyntax(name.into())),
                };
                let offset =
                    |v: &str| v.parse::<u64>().map_err(|_| ResourceNameError::BadOffset(name.into()));
                let (start, end) = (offset(start)?, offset(end)?);
                if end <= start {
                    return Err(ResourceNameError::EmptyRange(name.into()));
                }
                Self::shard(path, start, end)
            }
        };
        if name.starts_with('/') {
            return Err(ResourceNameError::Absolute(name.into()));
        }
        if key.path.split('/').any(|c| c == "..") {
            return Err(ResourceNameError::ParentDir(name.into()));
        }
        Ok(key)
    }

    /// The file path (`.` for a single-file model).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The shard range, if this is a shard.
    pub fn range(&self) -> Option<(u64, u64)> {
        self.range
    }

    /// The name as written in the predicate.
    pub fn name(&self) -> String {
        match self.range {
            None => self.path.clone(),
            Some((s, e)) => format!("{}:{s}:{e}", self.path),
        }
    }

    fn components(&self) -> impl Iterator<Item = &str> {
        self.path.split('/').filter(|c| !c.is_empty() && *c != ".")
    }
}

fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.is_empty() {
        if path.starts_with('/') { "/".to_owned() } else { ".".to_owned() }
    } else if path.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

impl Ord for ResourceKey {
    fn cmp(&self, other: &Self) -> Ordering {
        // Python compares PurePosixPath by its list of components; strings compare by
        // code point, which is UTF-8 byte order.
        self.components().cmp(other.components()).then(self.range.cmp(&other.range))
    }
}

impl PartialOrd for ResourceKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A model manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Informative model name (the subject name).
    pub model_name: String,
    /// How it was serialized.
    pub serialization: Serialization,
    items: BTreeMap<ResourceKey, Digest>,
}

impl Manifest {
    /// Builds a manifest; a repeated key keeps the last digest.
    pub fn new(
        model_name: String,
        serialization: Serialization,
        items: impl IntoIterator<Item = (ResourceKey, Digest)>,
    ) -> Self {
        Self { model_name, serialization, items: items.into_iter().collect() }
    }

    /// Resources in canonical order.
    pub fn items(&self) -> impl Iterator<Item = (&ResourceKey, &Digest)> {
        self.items.iter()
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are no resources.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The digest of one resource.
    pub fn get(&self, key: &ResourceKey) -> Option<&Digest> {
        self.items.get(key)
    }

    /// The resources of one file: its whole-file resource, or all its shards in order.
    pub fn resources_of<'a>(
        &'a self,
        path: &str,
    ) -> impl Iterator<Item = (&'a ResourceKey, &'a Digest)> + 'a {
        let start = ResourceKey::file(path);
        let want = start.path.clone();
        self.items.range(start..).take_while(move |(k, _)| k.path == want)
    }

    /// Judges one file by the resources computed from its bytes: it matches only when every
    /// signed resource of the file (all shards up to its signed end) was computed with the
    /// signed digest and nothing else was. A truncated or emptied file fails, naming the
    /// first signed resource it lacks.
    pub fn check_file(&self, path: &str, computed: &[(ResourceKey, Digest)]) -> Result<(), FileMismatch> {
        let mut signed = 0;
        let by_key: std::collections::HashMap<&ResourceKey, &Digest> =
            computed.iter().map(|(k, d)| (k, d)).collect();
        for (key, want) in self.resources_of(path) {
            signed += 1;
            match by_key.get(key).copied() {
                None => return Err(FileMismatch::Shorter { missing: key.name() }),
                Some(got) if got != want => {
                    return Err(FileMismatch::Differs {
                        resource: key.name(),
                        actual: got.to_string(),
                        expected: want.to_string(),
                    });
                }
                Some(_) => {}
            }
        }
        if let Some((k, _)) = computed.iter().find(|(k, _)| self.get(k).is_none()) {
            return Err(if signed == 0 {
                FileMismatch::Unsigned
            } else {
                FileMismatch::Longer { extra: k.name() }
            });
        }
        Ok(())
    }

    /// SHA-256 over the concatenated raw digests in canonical order: the statement subject.
    pub fn root_digest(&self) -> Digest {
        let mut h = HashAlgorithm::Sha256.hasher();
        for d in self.items.values() {
            h.update(d.bytes());
        }
        h.finalize()
    }

    /// Compares a manifest computed from the model (`self`) with the signed one.
    pub fn compare(&self, signed: &Manifest) -> Comparison {
        let mut c = Comparison::default();
        for (key, want) in &signed.items {
            match self.items.get(key) {
                None => c.missing.push(key.name()),
                Some(got) if got == want => c.matched.push((key.name(), got.hex())),
                Some(got) => c.mismatched.push(Mismatch {
                    name: key.name(),
                    expected: want.to_string(),
                    actual: got.to_string(),
                }),
            }
        }
        for key in self.items.keys() {
            if !signed.items.contains_key(key) {
                c.extra.push(key.name());
            }
        }
        c
    }

    /// The manifest as JSON, for `modelsig-translate manifest`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "model_name": self.model_name,
            "serialization": self.serialization.to_json(),
            "root_digest": { "sha256": self.root_digest().hex() },
            "resources": self.items.iter().map(|(k, d)| serde_json::json!({
                "name": k.name(),
                "algorithm": d.algorithm().name(),
                "digest": d.hex(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// A resource name in a predicate that cannot name a file of the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceNameError {
    /// A shard name without `:start:end`.
    #[error("shard name `{0}` is not `path:start:end`")]
    ShardSyntax(String),
    /// A shard offset that is not a number.
    #[error("shard name `{0}`: bad offset")]
    BadOffset(String),
    /// `end <= start`.
    #[error("shard name `{0}`: empty or reversed range")]
    EmptyRange(String),
    /// Starts at `/`.
    #[error("resource name `{0}` is an absolute path")]
    Absolute(String),
    /// Has a `..` component.
    #[error("resource name `{0}` contains `..`")]
    ParentDir(String),
}

/// Why one file's bytes do not match its signed resources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileMismatch {
    /// A signed resource (shard) was not produced: the file is shorter than signed.
    #[error("content is shorter than signed: `{missing}` is missing")]
    Shorter {
        /// The first missing resource.
        missing: String,
    },
    /// A resource's digest differs.
    #[error("content does not match the signature ({resource} is {actual}, signed {expected})")]
    Differs {
        /// The resource.
        resource: String,
        /// Computed.
        actual: String,
        /// Signed.
        expected: String,
    },
    /// More resources than signed: the file is longer than signed.
    #[error("content is longer than signed: `{extra}` is not signed")]
    Longer {
        /// The first unsigned resource.
        extra: String,
    },
    /// The signature lists nothing of this file.
    #[error("the signature does not list this file")]
    Unsigned,
}

/// One resource whose digest differs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Mismatch {
    /// Resource name.
    pub name: String,
    /// Digest in the signature.
    pub expected: String,
    /// Digest computed from the model.
    pub actual: String,
}

/// Result of comparing a computed manifest with a signed one.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Comparison {
    /// Resources whose digests match, with the digest.
    pub matched: Vec<(String, String)>,
    /// Resources whose digests differ.
    pub mismatched: Vec<Mismatch>,
    /// Signed resources absent from the model.
    pub missing: Vec<String>,
    /// Model resources that were not signed.
    pub extra: Vec<String>,
}

impl Comparison {
    /// True when every signed resource matches and nothing extra is present.
    pub fn is_match(&self) -> bool {
        self.mismatched.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: u8) -> Digest {
        Digest::new(HashAlgorithm::Sha256, vec![b; 32])
    }

    #[test]
    fn ordering_is_by_path_components_like_python() {
        // As strings "a-b" < "a/b", but PurePosixPath orders ["a","b"] before ["a-b"].
        let mut keys = [ResourceKey::file("a-b"), ResourceKey::file("a/b"), ResourceKey::file("a")];
        keys.sort();
        let names: Vec<String> = keys.iter().map(ResourceKey::name).collect();
        assert_eq!(names, ["a", "a/b", "a-b"]);
        let mut shards = [ResourceKey::shard("f", 10, 20), ResourceKey::shard("f", 2, 10)];
        shards.sort();
        assert_eq!(shards[0].name(), "f:2:10");
    }

    #[test]
    fn predicate_integers_may_be_written_as_floats() {
        let ser = |v: serde_json::Value| {
            Serialization::from_json(&serde_json::json!({
                "method": "shards", "hash_type": "sha256", "shard_size": v, "allow_symlinks": false
            }))
        };
        assert_eq!(
            ser(serde_json::json!(1048576.0)).ok().map(|s| s.method),
            Some(Method::Shards { shard_size: 1 << 20 })
        );
        assert_eq!(
            ser(serde_json::json!(4096)).ok().map(|s| s.method),
            Some(Method::Shards { shard_size: 4096 })
        );
        for bad in [
            serde_json::json!(4096.5),
            serde_json::json!(-1.0),
            serde_json::json!(0.0),
            serde_json::json!(1e300),
        ] {
            assert!(ser(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_file_matches_only_with_every_signed_shard() {
        let ser = Serialization {
            method: Method::Shards { shard_size: 4 },
            hash: HashAlgorithm::Sha256,
            allow_symlinks: false,
            ignore_paths: vec![],
        };
        let signed = Manifest::new(
            "m".into(),
            ser,
            [
                (ResourceKey::shard("f", 0, 4), d(1)),
                (ResourceKey::shard("f", 4, 6), d(2)),
                (ResourceKey::shard("f/g", 0, 1), d(3)),
            ],
        );
        let full = [(ResourceKey::shard("f", 0, 4), d(1)), (ResourceKey::shard("f", 4, 6), d(2))];
        assert_eq!(signed.check_file("f", &full), Ok(()));
        // Truncated: the first shard alone; emptied: no shard at all.
        assert!(
            signed
                .check_file("f", &full[..1])
                .is_err_and(|e| e.to_string().contains("shorter") && e.to_string().contains("f:4:6"))
        );
        assert!(signed.check_file("f", &[]).is_err_and(|e| e.to_string().contains("f:0:4")));
        // Longer than signed, or different bytes.
        let longer = [full[0].clone(), (ResourceKey::shard("f", 4, 8), d(2))];
        assert!(signed.check_file("f", &longer).is_err());
        let other = [full[0].clone(), (ResourceKey::shard("f", 4, 6), d(9))];
        assert!(signed.check_file("f", &other).is_err_and(|e| e.to_string().contains("does not match")));
        assert!(
            signed
                .check_file("x", &[(ResourceKey::file("x"), d(1))])
                .is_err_and(|e| e.to_string().contains("does not list"))
        );
    }

    #[test]
    fn normalization_and_parsing() {
        assert_eq!(ResourceKey::file("./a//b/").name(), "a/b");
        assert_eq!(ResourceKey::file(".").name(), ".");
        assert!(ResourceKey::parse("../x", Method::Files).is_err());
        assert!(ResourceKey::parse("/etc/passwd", Method::Files).is_err());
        let s = Method::Shards { shard_size: 5 };
        assert_eq!(ResourceKey::parse("dir/f:b:0:5", s).map(|k| k.name()), Ok("dir/f:b:0:5".into()));
        assert!(ResourceKey::parse("f:5", s).is_err());
        assert!(ResourceKey::parse("f:5:5", s).is_err());
    }

    #[test]
    fn root_digest_and_compare() {
        let ser = Serialization {
            method: Method::Files,
            hash: HashAlgorithm::Sha256,
            allow_symlinks: false,
            ignore_paths: vec![],
        };
        let a = Manifest::new(
            "m".into(),
            ser.clone(),
            [(ResourceKey::file("b"), d(2)), (ResourceKey::file("a"), d(1))],
        );
        let mut cat = vec![1u8; 32];
        cat.extend([2u8; 32]);
        assert_eq!(a.root_digest(), HashAlgorithm::Sha256.digest(&cat));
        let b =
            Manifest::new("m".into(), ser, [(ResourceKey::file("a"), d(9)), (ResourceKey::file("c"), d(3))]);
        let c = b.compare(&a);
        assert!(!c.is_match());
        assert_eq!(c.mismatched.len(), 1);
        assert_eq!(c.mismatched[0].name, "a");
        assert_eq!(c.missing, ["b"]);
        assert_eq!(c.extra, ["c"]);
        assert!(a.compare(&a).is_match());
    }

    #[test]
    fn serialization_json_round_trip() {
        let s = Serialization {
            method: Method::Shards { shard_size: 1000 },
            hash: HashAlgorithm::Blake2b,
            allow_symlinks: true,
            ignore_paths: vec![".git".into()],
        };
        let j = s.to_json();
        assert_eq!(
            serde_json::to_string(&j).ok(),
            Some(r#"{"method":"shards","hash_type":"blake2b","shard_size":1000,"allow_symlinks":true,"ignore_paths":[".git"]}"#.to_owned())
        );
        assert_eq!(Serialization::from_json(&j).ok(), Some(s));
        assert!(
            Serialization::from_json(&serde_json::json!({"method":"tensors","hash_type":"sha256"})).is_err()
        );
        assert!(
            Serialization::from_json(&serde_json::json!({"method":"shards","hash_type":"sha256"})).is_err()
        );
    }
}
