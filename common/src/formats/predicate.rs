//! The model_signing predicates: `https://model_signing/signature/v1.0` and the legacy
//! `https://model_signing/Digests/v0.1`.
//!
//! Spec: `model_signing/_signing/signing.py` (model_signing 1.x). A v1.0 statement has
//! exactly one subject, named after the model, whose sha256 is the digest of the resource
//! digests in order; the predicate holds `serialization` (how to recompute) and
//! `resources` (`name`, `algorithm`, `digest`). A v0.1 statement lists each file as a
//! subject with its sha256.

use crate::errors::SignatureError;
use crate::formats::digest::{Digest, HashAlgorithm};
use crate::formats::intoto::{STATEMENT_V1, Statement, Subject};
use crate::formats::manifest::{Manifest, Method, ResourceKey, Serialization};
use std::collections::BTreeMap;

/// Predicate type of model_signing 1.x signatures.
pub const PREDICATE_V1: &str = "https://model_signing/signature/v1.0";
/// Predicate type of model_signing 0.2 signatures.
pub const PREDICATE_V01: &str = "https://model_signing/Digests/v0.1";

/// The model name model_signing uses for legacy v0.1 statements (they carry none).
pub const LEGACY_MODEL_NAME: &str = "compat-undefined-not-present";

/// The `algorithm` model_signing records for each resource: the hash name, and for shards
/// `NAME-sharded-SIZE` (its `ShardedFileHasher.digest_name`), so shard size is bound into
/// every digest's label.
pub fn resource_algorithm(ser: &Serialization) -> String {
    match ser.method {
        Method::Files => ser.hash.name().to_owned(),
        Method::Shards { shard_size } => format!("{}-sharded-{shard_size}", ser.hash.name()),
    }
}

/// Builds the in-toto statement model_signing signs for a manifest.
pub fn statement_for(manifest: &Manifest) -> Statement {
    let algorithm = resource_algorithm(&manifest.serialization);
    let resources: Vec<serde_json::Value> = manifest
        .items()
        .map(|(k, d)| serde_json::json!({ "name": k.name(), "algorithm": algorithm, "digest": d.hex() }))
        .collect();
    let mut predicate = serde_json::Map::new();
    predicate.insert("serialization".into(), manifest.serialization.to_json());
    predicate.insert("resources".into(), resources.into());
    Statement {
        type_: STATEMENT_V1.to_owned(),
        subject: vec![Subject {
            name: manifest.model_name.clone(),
            digest: BTreeMap::from([("sha256".to_owned(), manifest.root_digest().hex())]),
            annotations: None,
        }],
        predicate_type: PREDICATE_V1.to_owned(),
        predicate: serde_json::Value::Object(predicate),
    }
}

fn bad(msg: impl Into<String>) -> SignatureError {
    SignatureError::Statement(msg.into())
}

/// Parses a signed statement payload (JSON bytes) into the manifest it describes, checking
/// its internal consistency (statement type, one subject, subject digest).
pub fn manifest_from_payload(payload: &[u8]) -> Result<Manifest, SignatureError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| bad(format!("payload is not JSON: {e}")))?;
    let stmt: Statement = serde_json::from_value(value)
        .map_err(|e| bad(format!("payload is not an in-toto statement: {e}")))?;
    manifest_from_statement(&stmt)
}

/// Converts a statement into the manifest it describes.
pub fn manifest_from_statement(stmt: &Statement) -> Result<Manifest, SignatureError> {
    if stmt.type_ != STATEMENT_V1 {
        return Err(bad(format!("`_type` is `{}`, expected `{STATEMENT_V1}`", stmt.type_)));
    }
    match stmt.predicate_type.as_str() {
        PREDICATE_V1 => from_v1(stmt),
        PREDICATE_V01 => from_v01(stmt),
        other => Err(bad(format!(
            "`predicateType` is `{other}`, expected `{PREDICATE_V1}` (or legacy `{PREDICATE_V01}`)"
        ))),
    }
}

fn from_v1(stmt: &Statement) -> Result<Manifest, SignatureError> {
    let [subject] = stmt.subject.as_slice() else {
        return Err(bad(format!("expected exactly one subject, found {}", stmt.subject.len())));
    };
    let expected_root = subject.digest.get("sha256").ok_or_else(|| bad("subject has no sha256 digest"))?;
    let manifest = manifest_from_v1_predicate(&subject.name, &stmt.predicate)?;
    let got_root = manifest.root_digest().hex();
    if !got_root.eq_ignore_ascii_case(expected_root) {
        return Err(bad(format!(
            "manifest is inconsistent: subject digest is {expected_root} but the resources hash to {got_root}"
        )));
    }
    Ok(manifest)
}

/// Parses a model_signing v1.0 predicate (`serialization` and `resources`) into the
/// manifest it lists, without the statement's subject (cosign attestations put the OCI
/// manifest digest there).
pub fn manifest_from_v1_predicate(
    name: &str,
    predicate: &serde_json::Value,
) -> Result<Manifest, SignatureError> {
    let serialization = Serialization::from_json(
        predicate.get("serialization").ok_or_else(|| bad("predicate has no `serialization`"))?,
    )?;
    let resources = predicate
        .get("resources")
        .and_then(|r| r.as_array())
        .ok_or_else(|| bad("predicate has no `resources` list"))?;
    let mut items = Vec::with_capacity(resources.len());
    for (i, r) in resources.iter().enumerate() {
        let field = |k: &str| {
            r.get(k)
                .and_then(|v| v.as_str())
                .ok_or_else(|| bad(format!("resources[{i}].{k} is missing or not a string")))
        };
        let name = field("name")?;
        // model_signing's API writes `sha256-sharded-1024` for shards; earlier writers (and
        // this tool before) the bare hash name. Either must agree with the serialization.
        let label = field("algorithm")?;
        let bare = HashAlgorithm::from_name(label).ok() == Some(serialization.hash);
        if label != resource_algorithm(&serialization) && !bare {
            return Err(bad(format!(
                "resources[{i}] `{name}` uses `{label}` but the serialization is {} ({})",
                resource_algorithm(&serialization),
                serialization.hash.name()
            )));
        }
        let algorithm = serialization.hash;
        let digest = Digest::from_hex(algorithm, field("digest")?)
            .map_err(|e| bad(format!("resources[{i}] `{name}`: {e}")))?;
        let key = ResourceKey::parse(name, serialization.method).map_err(|e| bad(e.to_string()))?;
        items.push((key, digest));
    }
    let n = items.len();
    let manifest = Manifest::new(name.to_owned(), serialization, items);
    if manifest.len() != n {
        return Err(bad("resources list names the same resource twice"));
    }
    Ok(manifest)
}

fn from_v01(stmt: &Statement) -> Result<Manifest, SignatureError> {
    let serialization = Serialization {
        method: Method::Files,
        hash: HashAlgorithm::Sha256,
        allow_symlinks: false,
        ignore_paths: Vec::new(),
    };
    let mut items = Vec::with_capacity(stmt.subject.len());
    for (i, s) in stmt.subject.iter().enumerate() {
        let hex_value =
            s.digest.get("sha256").ok_or_else(|| bad(format!("subject[{i}] `{}` has no sha256", s.name)))?;
        let digest = Digest::from_hex(HashAlgorithm::Sha256, hex_value)
            .map_err(|e| bad(format!("subject[{i}] `{}`: {e}", s.name)))?;
        items.push((ResourceKey::parse(&s.name, Method::Files).map_err(|e| bad(e.to_string()))?, digest));
    }
    let n = items.len();
    let manifest = Manifest::new(LEGACY_MODEL_NAME.to_owned(), serialization, items);
    if manifest.len() != n {
        return Err(bad("subjects name the same file twice"));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let ser = Serialization {
            method: Method::Files,
            hash: HashAlgorithm::Sha256,
            allow_symlinks: false,
            ignore_paths: vec![".git".into()],
        };
        Manifest::new(
            "model".into(),
            ser,
            [
                (ResourceKey::file("w/b.bin"), HashAlgorithm::Sha256.digest(b"b")),
                (ResourceKey::file("a.json"), HashAlgorithm::Sha256.digest(b"a")),
            ],
        )
    }

    #[test]
    fn statement_round_trips() -> Result<(), SignatureError> {
        let m = sample();
        let payload = statement_for(&m).to_payload()?;
        let back = manifest_from_payload(&payload)?;
        assert!(back.compare(&m).is_match());
        assert_eq!(back.model_name, "model");
        assert_eq!(back.serialization, m.serialization);
        Ok(())
    }

    #[test]
    fn inconsistent_subject_is_rejected() {
        let mut s = statement_for(&sample());
        s.subject[0].digest.insert("sha256".into(), "00".repeat(32));
        let e = manifest_from_statement(&s);
        assert!(matches!(e, Err(SignatureError::Statement(ref m)) if m.contains("inconsistent")));
    }

    #[test]
    fn wrong_types_and_bad_names_are_rejected() {
        let mut s = statement_for(&sample());
        s.predicate_type = "https://example.com/other".into();
        assert!(manifest_from_statement(&s).is_err());
        let mut s = statement_for(&sample());
        s.subject.push(s.subject[0].clone());
        assert!(manifest_from_statement(&s).is_err());
        let mut s = statement_for(&sample());
        s.predicate["resources"][0]["name"] = "../../etc/passwd".into();
        assert!(manifest_from_statement(&s).is_err());
        let mut s = statement_for(&sample());
        s.predicate["resources"][0]["algorithm"] = "blake3".into();
        assert!(manifest_from_statement(&s).is_err());
    }
}
