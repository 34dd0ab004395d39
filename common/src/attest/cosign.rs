//! cosign interoperability (sigstore/cosign v3 `specs/ATTESTATION_SPEC.md`,
//! `BUNDLE_SPEC.md`, `pkg/cosign/keys.go`): attestations whose statement subject is the OCI
//! **manifest digest** and whose predicate is the model_signing v1.0 predicate, stored as
//! cosign stores them, and cosign's encrypted key files.
//!
//! cosign only accepts an attestation whose subject digest is the image manifest digest,
//! while a model_signing statement's subject is the digest of the file digests; this
//! statement carries the model_signing predicate with a cosign subject, so an admission
//! policy can pin the manifest and still know every file's digest.
//!
//! Storage: the new bundle format (a referrer, see [`crate::oci::referrer`], with the predicate
//! type annotation) or the legacy `sha256-<hex>.att` tag: one manifest whose layers are DSSE
//! envelopes (`application/vnd.dsse.envelope.v1+json`) annotated with `predicateType` and an
//! empty `dev.cosignproject.cosign/signature`, appended to the attestations already there.

use crate::errors::{Error, SignatureError};
use crate::formats::bundle::{InclusionPromise, KindVersion, LogId, TlogEntry};
use crate::formats::dsse::Envelope;
use crate::formats::intoto::{STATEMENT_V1, Statement, Subject};
use crate::formats::manifest::Manifest;
use crate::oci::{Descriptor, ImageManifest, MEDIA_TYPE_MANIFEST, OciDigest};
use std::collections::BTreeMap;

/// Legacy layer annotation holding the Rekor entry (cosign's `RekorBundle`).
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";

/// cosign's `RekorBundle` (the legacy annotation): the signed entry timestamp and what it
/// signs.
#[derive(serde::Serialize, serde::Deserialize)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: RekorBundlePayload,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorBundlePayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// The legacy annotation for a log entry (which must carry its signed entry timestamp).
pub fn rekor_bundle_annotation(entry: &TlogEntry) -> Result<String, SignatureError> {
    let set = entry
        .inclusion_promise
        .as_ref()
        .ok_or_else(|| SignatureError::Material("the log entry has no signed entry timestamp".into()))?;
    let key_id = crate::formats::bundle::decode_b64(&entry.log_id.key_id, "logId.keyId")?;
    let b = RekorBundle {
        signed_entry_timestamp: set.signed_entry_timestamp.clone(),
        payload: RekorBundlePayload {
            body: entry.canonicalized_body.clone(),
            integrated_time: entry.integrated_time,
            log_index: entry.log_index,
            log_id: hex::encode(key_id),
        },
    };
    Ok(String::from_utf8(crate::io::to_json(&b, "Rekor bundle")?).unwrap_or_default())
}

/// The log entry a legacy annotation describes (no inclusion proof: cosign's legacy
/// attestations carry the signed entry timestamp only).
pub fn entry_from_rekor_bundle(annotation: &str) -> Result<TlogEntry, SignatureError> {
    use base64::Engine as _;
    let b: RekorBundle = serde_json::from_str(annotation)
        .map_err(|e| SignatureError::Material(format!("{ANNOTATION_BUNDLE}: {e}")))?;
    let body = crate::formats::bundle::decode_b64(&b.payload.body, "Rekor bundle body")?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Kind {
        kind: String,
        api_version: String,
    }
    let kind: Kind = serde_json::from_slice(&body)
        .map_err(|e| SignatureError::Material(format!("{ANNOTATION_BUNDLE}: entry body: {e}")))?;
    let key_id = hex::decode(&b.payload.log_id)
        .map_err(|_| SignatureError::Material(format!("{ANNOTATION_BUNDLE}: logID is not hex")))?;
    Ok(TlogEntry {
        log_index: b.payload.log_index,
        log_id: LogId { key_id: base64::engine::general_purpose::STANDARD.encode(key_id) },
        kind_version: KindVersion { kind: kind.kind, version: kind.api_version },
        integrated_time: b.payload.integrated_time,
        inclusion_promise: Some(InclusionPromise { signed_entry_timestamp: b.signed_entry_timestamp }),
        inclusion_proof: None,
        canonicalized_body: b.payload.body,
    })
}

/// Media type of legacy attestation layers.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Legacy signature annotation (empty for attestations: the signature is in the envelope).
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// Legacy predicate type annotation.
pub const ANNOTATION_PREDICATE_TYPE: &str = "predicateType";
/// Legacy certificate annotation.
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// Legacy chain annotation.
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";

/// The attestation statement: subject = the manifest digest, predicate = model_signing's.
pub fn statement(subject_name: &str, manifest_digest: &OciDigest, model: &Manifest) -> Statement {
    let mstmt = crate::formats::predicate::statement_for(model);
    Statement {
        type_: STATEMENT_V1.to_owned(),
        subject: vec![Subject {
            name: subject_name.to_owned(),
            digest: BTreeMap::from([("sha256".to_owned(), manifest_digest.hex().to_owned())]),
            annotations: None,
        }],
        predicate_type: crate::formats::predicate::PREDICATE_V1.to_owned(),
        predicate: mstmt.predicate,
    }
}

/// The model_signing predicate alone (what `cosign attest --predicate` takes).
pub fn predicate_json(model: &Manifest) -> serde_json::Value {
    crate::formats::predicate::statement_for(model).predicate
}

/// Checks a verified statement against what cosign requires: predicate type and a subject
/// whose sha256 is the manifest digest. Returns the model manifest it lists.
pub fn check_statement(
    payload: &[u8],
    manifest_digest: &OciDigest,
    predicate_type: &str,
) -> Result<Manifest, SignatureError> {
    let stmt: Statement = serde_json::from_slice(payload)
        .map_err(|e| SignatureError::Statement(format!("payload is not an in-toto statement: {e}")))?;
    if stmt.predicate_type != predicate_type {
        return Err(SignatureError::Statement(format!(
            "predicate type is `{}`, expected `{predicate_type}`",
            stmt.predicate_type
        )));
    }
    if !stmt.subject.iter().any(|s| s.digest.get("sha256").map(String::as_str) == Some(manifest_digest.hex()))
    {
        return Err(SignatureError::Statement(format!(
            "no statement subject has the manifest digest {manifest_digest} (subjects: {:?})",
            stmt.subject
                .iter()
                .map(|s| s.digest.get("sha256").map_or("(none)", String::as_str))
                .collect::<Vec<_>>()
        )));
    }
    let name = stmt.subject.first().map_or("model", |s| s.name.as_str());
    crate::formats::predicate::manifest_from_v1_predicate(name, &stmt.predicate)
}

/// The legacy `.att` manifest: existing attestation layers plus a new DSSE envelope layer.
/// Returns the config blob and the manifest.
pub fn legacy_att_manifest(
    existing: Option<&ImageManifest>,
    envelope: &Descriptor,
    predicate_type: &str,
    certs: Option<(&str, &str)>,
    rekor_bundle: Option<&str>,
) -> Result<(Vec<u8>, ImageManifest), crate::errors::FormatError> {
    let mut layers: Vec<Descriptor> = existing.map(|m| m.layers.clone()).unwrap_or_default();
    // cosign's duplicate detector: the same envelope already attached changes nothing (it
    // keeps its place); anything else is appended, as go-containerregistry's mutate.Append.
    if !layers.iter().any(|l| l.digest_str == envelope.digest_str) {
        let mut layer = Descriptor { media_type: DSSE_MEDIA_TYPE.into(), ..envelope.clone() }
            .annotate(ANNOTATION_SIGNATURE, "")
            .annotate(ANNOTATION_PREDICATE_TYPE, predicate_type);
        if let Some((cert, chain)) = certs {
            layer = layer.annotate(ANNOTATION_CERTIFICATE, cert).annotate(ANNOTATION_CHAIN, chain);
        }
        if let Some(b) = rekor_bundle {
            layer = layer.annotate(ANNOTATION_BUNDLE, b);
        }
        layers.push(layer);
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest_str.clone()).collect();
    // mutate.Append records one history entry per layer (zero time, as cosign's layers have).
    let history: Vec<serde_json::Value> =
        layers.iter().map(|_| serde_json::json!({ "created": "0001-01-01T00:00:00Z" })).collect();
    let config = serde_json::json!({
        "architecture": "", "created": "0001-01-01T00:00:00Z",
        "history": history,
        "os": "", "rootfs": { "type": "layers", "diff_ids": diff_ids }, "config": {},
    });
    let config = crate::io::to_json(&config, "attestation config")?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(
            "application/vnd.oci.image.config.v1+json",
            &OciDigest::of(&config),
            config.len() as u64,
        ),
        layers,
        subject: None,
        annotations: None,
        extra: Default::default(),
    };
    Ok((config, manifest))
}

/// The legacy attestation tag of a manifest digest.
pub fn att_tag(digest: &OciDigest) -> String {
    format!("sha256-{}.att", digest.hex())
}

/// The DSSE envelope of a legacy attestation layer or a bundle.
pub fn envelope_of(bytes: &[u8]) -> Result<Envelope, Error> {
    if let Ok(b) = crate::formats::bundle::Bundle::from_json(bytes, "attestation") {
        return Ok(b.envelope().map_err(SignatureError::from)?.clone());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| SignatureError::Statement(format!("not a DSSE envelope: {e}")).into())
}
