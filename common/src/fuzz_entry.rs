//! Entry points that feed untrusted bytes to each parser: the cargo-fuzz targets in `fuzz/`
//! and the property tests call the same functions, so stable CI exercises what the fuzzers
//! explore. Each must return (with an error or a value) for any input, never panic.

use crate::formats::digest::HashAlgorithm;
use crate::formats::manifest::Method;
use crate::hashing::NoProgress;
use crate::oci::layer_stream::{LayerJob, hash_layer};
use crate::oci::modelpack::LayerFormat;
use crate::oci::{ImageIndex, ImageManifest, OciDigest};

/// Sigstore bundle JSON, then its DSSE envelope and payload.
pub fn bundle(data: &[u8]) {
    if let Ok(b) = crate::formats::bundle::Bundle::from_json(data, "fuzz")
        && let Ok(e) = b.envelope()
    {
        let _ = e.payload_bytes().map(|p| crate::formats::predicate::manifest_from_payload(&p));
        let _ = e.single_signature();
        let _ = b.certificates();
    }
}

/// An in-toto statement carrying a model_signing predicate.
pub fn statement(data: &[u8]) {
    let _ = crate::formats::predicate::manifest_from_payload(data);
}

/// OCI manifests and indexes.
pub fn oci_manifest(data: &[u8]) {
    let _ = ImageManifest::from_json(data, "fuzz");
    let _ = ImageIndex::from_json(data, "fuzz");
}

/// A ModelKit config (Kitfile as JSON) and a ModelPack config.
pub fn configs(data: &[u8]) {
    if let Ok(k) = serde_json::from_slice::<crate::oci::modelkit::Kitfile>(data) {
        let _ = k.entries();
        let _ = k.package_name();
    }
    let _ = serde_json::from_slice::<crate::oci::modelpack::ModelConfig>(data);
}

/// A tar layer (plain, gzip and zstd), hashed with links allowed and refused.
pub fn tar_layer(data: &[u8]) {
    let include = |_: &str| true;
    for format in [LayerFormat::Tar, LayerFormat::TarGzip, LayerFormat::TarZstd] {
        for allow_links in [false, true] {
            let job = LayerJob {
                what: "fuzz".into(),
                format,
                digest: OciDigest::of(data),
                raw_name: None,
                method: Method::Shards { shard_size: 7 },
                algorithm: HashAlgorithm::Sha256,
                include: &include,
                signed: None,
                max_unpacked: crate::oci::layer_stream::unpacked_limit(data.len() as u64, None),
                progress: &NoProgress,
                allow_links,
                path_prefix: None,
                image_root: None,
                layer_digests: true,
            };
            let _ = hash_layer(data, &job);
        }
    }
}
