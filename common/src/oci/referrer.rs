//! The model signature referrer: an OCI 1.1 artifact manifest whose `subject` is the model
//! manifest and whose single layer is the Sigstore bundle (`model.sig`). The same shape is
//! written by `oras attach --artifact-type application/vnd.dev.sigstore.bundle.v0.3+json` and
//! by cosign v3's new bundle format (`specs/BUNDLE_SPEC.md`): empty config, annotations
//! `dev.sigstore.bundle.content`, `dev.sigstore.bundle.predicateType`, creation time.

use crate::formats::bundle::BUNDLE_V03;
use crate::oci::{
    ANNOTATION_CREATED, ANNOTATION_TITLE, Descriptor, ImageManifest, MEDIA_TYPE_EMPTY, MEDIA_TYPE_MANIFEST,
    OciDigest,
};

/// Media type of the bundle layer and the referrer's artifact type.
pub const BUNDLE_MEDIA_TYPE: &str = BUNDLE_V03;
/// Annotation: what the bundle holds.
pub const ANNOTATION_CONTENT: &str = "dev.sigstore.bundle.content";
/// Annotation: the statement's predicate type.
pub const ANNOTATION_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
/// The empty JSON config blob.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// Now, RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The referrer manifest for a bundle blob attached to `subject`.
pub fn signature_manifest(
    subject: &Descriptor,
    bundle: &Descriptor,
    created: &str,
) -> Result<ImageManifest, crate::errors::FormatError> {
    Ok(ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: Some(BUNDLE_MEDIA_TYPE.into()),
        config: Descriptor::new(MEDIA_TYPE_EMPTY, &OciDigest::of(EMPTY_CONFIG), EMPTY_CONFIG.len() as u64),
        layers: vec![
            Descriptor { media_type: BUNDLE_MEDIA_TYPE.into(), ..bundle.clone() }
                .annotate(ANNOTATION_TITLE, "model.sig"),
        ],
        subject: Some(Descriptor::new(&subject.media_type, &subject.digest()?, subject.size)),
        extra: Default::default(),
        annotations: Some(
            [
                (ANNOTATION_CONTENT.to_owned(), "dsse-envelope".to_owned()),
                (ANNOTATION_PREDICATE_TYPE.to_owned(), crate::formats::predicate::PREDICATE_V1.to_owned()),
                (ANNOTATION_CREATED.to_owned(), created.to_owned()),
            ]
            .into(),
        ),
    })
}

/// Is this referrer descriptor (from a referrers list) a Sigstore bundle?
pub fn is_bundle_referrer(desc: &Descriptor) -> bool {
    desc.artifact_type.as_deref().is_some_and(|t| t.starts_with("application/vnd.dev.sigstore.bundle"))
}

/// The bundle layer of a referrer manifest (exactly one layer of a bundle media type, as
/// cosign requires), or `None`.
pub fn bundle_layer(m: &ImageManifest) -> Option<&Descriptor> {
    match m.layers.as_slice() {
        [one] if one.media_type.starts_with("application/vnd.dev.sigstore.bundle") => Some(one),
        _ => None,
    }
}

/// Writes what `oras attach` needs to attach `model.sig` as cosign and we read it: the
/// bundle and an annotation file, into `dir`; returns the `oras attach` command line.
pub fn write_oras_attach_files(
    signature: &std::path::Path,
    dir: &std::path::Path,
    reference: &str,
) -> Result<String, crate::errors::Error> {
    use crate::errors::{OutputError, SourceError};
    let bytes = std::fs::read(signature)
        .map_err(|source| SourceError::Io { path: signature.to_path_buf(), source })?;
    crate::formats::bundle::Bundle::from_json(&bytes, &signature.display().to_string())?;
    std::fs::create_dir_all(dir).map_err(|source| OutputError { path: dir.to_path_buf(), source })?;
    crate::io::write_atomic(&dir.join("model.sig"), &bytes)?;
    let annotations = serde_json::json!({ "$manifest": {
        ANNOTATION_CONTENT: "dsse-envelope",
        ANNOTATION_PREDICATE_TYPE: crate::formats::predicate::PREDICATE_V1,
    }});
    let text = serde_json::to_vec_pretty(&annotations)
        .map_err(|e| crate::errors::FormatError::Json { what: "annotations.json".into(), source: e })?;
    crate::io::write_atomic(&dir.join("annotations.json"), &text)?;
    let mt = BUNDLE_MEDIA_TYPE;
    Ok(format!(
        "(cd {} && oras attach --artifact-type {mt} --annotation-file annotations.json {reference} model.sig:{mt})",
        dir.display()
    ))
}
