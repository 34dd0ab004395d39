//! CNCF ModelPack (modelpack/model-spec `docs/spec.md`, `specs-go/v1/*.go`): media types,
//! annotations, the model config with `modelfs.diffIds`, and how files are sorted into
//! layer kinds when packing (the extension lists of modctl, the reference packer).

use serde::{Deserialize, Serialize};

/// Manifest `artifactType` of a ModelPack model.
pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.model.manifest.v1+json";
/// Config media type.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.model.config.v1+json";
/// Layer annotation: the file's path in the model.
pub const ANNOTATION_FILEPATH: &str = "org.cncf.model.filepath";
/// Layer annotation: file metadata JSON.
pub const ANNOTATION_FILE_METADATA: &str = "org.cncf.model.file.metadata+json";
/// Layer annotation: the media type of the file was not tested.
pub const ANNOTATION_MEDIATYPE_UNTESTED: &str = "org.cncf.model.file.mediatype.untested";
/// Older artifacts (CNAI) used this prefix for the same annotations and media types.
pub const LEGACY_PREFIX: &str = "org.cnai.model.";

/// How a layer stores its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerFormat {
    /// One uncompressed file.
    Raw,
    /// A tar archive.
    Tar,
    /// A gzip-compressed tar archive.
    TarGzip,
    /// A zstd-compressed tar archive.
    TarZstd,
}

impl LayerFormat {
    /// The media type suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            LayerFormat::Raw => "raw",
            LayerFormat::Tar => "tar",
            LayerFormat::TarGzip => "tar+gzip",
            LayerFormat::TarZstd => "tar+zstd",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "raw" => LayerFormat::Raw,
            "tar" => LayerFormat::Tar,
            "tar+gzip" => LayerFormat::TarGzip,
            "tar+zstd" => LayerFormat::TarZstd,
            _ => return None,
        })
    }
}

/// ModelPack layer kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Model weights.
    Weight,
    /// Weight configuration (config.json, tokenizer files).
    WeightConfig,
    /// Documentation.
    Doc,
    /// Code.
    Code,
    /// Datasets.
    Dataset,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Weight => "weight",
            Kind::WeightConfig => "weight.config",
            Kind::Doc => "doc",
            Kind::Code => "code",
            Kind::Dataset => "dataset",
        }
    }
}

/// The layer media type for a kind and format (20 combinations).
pub fn layer_media_type(kind: Kind, format: LayerFormat) -> String {
    format!("application/vnd.cncf.model.{}.v1.{}", kind.name(), format.suffix())
}

/// Parses a ModelPack layer media type (also the older `application/vnd.cnai.model.*`).
pub fn parse_layer_media_type(mt: &str) -> Option<(Kind, LayerFormat)> {
    let rest = mt
        .strip_prefix("application/vnd.cncf.model.")
        .or_else(|| mt.strip_prefix("application/vnd.cnai.model."))?;
    let (kind, format) = rest.split_once(".v1.")?;
    let kind = match kind {
        "weight" => Kind::Weight,
        "weight.config" => Kind::WeightConfig,
        "doc" => Kind::Doc,
        "code" => Kind::Code,
        "dataset" => Kind::Dataset,
        _ => return None,
    };
    Some((kind, LayerFormat::parse(format)?))
}

/// A layer annotation, current name or legacy `org.cnai.model.*` one.
pub fn annotation<'a>(desc: &'a crate::oci::Descriptor, key: &str) -> Option<&'a str> {
    desc.annotation(key).or_else(|| {
        let legacy = format!("{LEGACY_PREFIX}{}", key.strip_prefix("org.cncf.model.")?);
        desc.annotation(&legacy)
    })
}

/// `modelfs` of the config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ModelFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub fs_type: String,
    /// Uncompressed digests of the layers, in order.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// The ModelPack config (only the parts we read or write are typed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Descriptive metadata (`name`, `createdAt`, …).
    #[serde(default)]
    pub descriptor: serde_json::Map<String, serde_json::Value>,
    /// Layer digests.
    pub modelfs: ModelFs,
    /// Architecture, format, precision, …
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
}

const WEIGHT_EXT: &[&str] = &[
    "safetensors",
    "bin",
    "pt",
    "pth",
    "mar",
    "pte",
    "pt2",
    "ptl",
    "tflite",
    "h5",
    "hdf",
    "hdf5",
    "pb",
    "index",
    "gguf",
    "ggml",
    "ggmf",
    "ggjt",
    "ckpt",
    "checkpoint",
    "dist_ckpt",
    "tensor",
    "weights",
    "state",
    "embedding",
    "ot",
    "engine",
    "trt",
    "onnx",
    "msgpack",
    "model",
    "pkl",
    "pickle",
    "keras",
    "joblib",
    "npy",
    "npz",
    "nc",
    "mlmodel",
    "coreml",
    "llamafile",
    "caffemodel",
];
const CONFIG_EXT: &[&str] = &[
    "json",
    "jsonl",
    "json5",
    "jsonc",
    "yaml",
    "yml",
    "toml",
    "ini",
    "config",
    "cfg",
    "conf",
    "xml",
    "modelcard",
];
const CODE_EXT: &[&str] = &[
    "py", "ipynb", "sh", "bash", "c", "h", "cc", "cpp", "hpp", "cu", "cuh", "java", "js", "ts", "go", "rs",
    "rb", "lua", "pl", "r", "jl", "so", "dll", "dylib",
];
const DOC_EXT: &[&str] =
    &["md", "txt", "pdf", "rst", "html", "htm", "png", "jpg", "jpeg", "gif", "svg", "csv"];

/// Threshold above which an unrecognized file is treated as weights (modctl uses 128 MiB).
pub const WEIGHT_SIZE_THRESHOLD: u64 = 128 << 20;

/// The layer kind modctl would give a file, from its name and size.
pub fn classify(path: &str, size: u64) -> Kind {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if name.starts_with("readme") || name.starts_with("license") {
        Kind::Doc
    } else if name.contains("tokenizer.model") || name.starts_with("config.json") || CONFIG_EXT.contains(&ext)
    {
        Kind::WeightConfig
    } else if WEIGHT_EXT.contains(&ext) || name.contains(".data-") {
        Kind::Weight
    } else if CODE_EXT.contains(&ext) || name.starts_with("dockerfile") || name.starts_with("makefile") {
        Kind::Code
    } else if DOC_EXT.contains(&ext) {
        Kind::Doc
    } else if size >= WEIGHT_SIZE_THRESHOLD {
        Kind::Weight
    } else {
        Kind::Doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_twenty_media_types_round_trip() {
        let kinds = [Kind::Weight, Kind::WeightConfig, Kind::Doc, Kind::Code, Kind::Dataset];
        let formats = [LayerFormat::Raw, LayerFormat::Tar, LayerFormat::TarGzip, LayerFormat::TarZstd];
        let mut n = 0;
        for k in kinds {
            for f in formats {
                assert_eq!(parse_layer_media_type(&layer_media_type(k, f)), Some((k, f)));
                n += 1;
            }
        }
        assert_eq!(n, 20);
        assert_eq!(
            parse_layer_media_type("application/vnd.cnai.model.weight.v1.tar"),
            Some((Kind::Weight, LayerFormat::Tar))
        );
        assert_eq!(parse_layer_media_type("application/vnd.oci.image.layer.v1.tar"), None);
    }

    #[test]
    fn files_are_classified_like_modctl() {
        assert_eq!(classify("model-00001-of-00002.safetensors", 10), Kind::Weight);
        assert_eq!(classify("config.json", 10), Kind::WeightConfig);
        assert_eq!(classify("tokenizer.model", 10), Kind::WeightConfig);
        assert_eq!(classify("README.md", 10), Kind::Doc);
        assert_eq!(classify("src/train.py", 10), Kind::Code);
        assert_eq!(classify("blob", 200 << 20), Kind::Weight);
        assert_eq!(classify("notes", 10), Kind::Doc);
    }
}
