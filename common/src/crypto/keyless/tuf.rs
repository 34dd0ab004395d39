//! Fresh trust material from a TUF repository (The Update Framework spec; Sigstore's
//! `root-signing` repositories), opt-in: `trusted_root.json` and `signing_config.v0.2.json`
//! as model_signing gets them, verified from a pinned TUF root and cached between runs.
//! Without it everything stays offline with the embedded roots or `--trust_config`.
//!
//! The TUF client is sigstore-rust's (`sigstore-trust-root` / `sigstore-tuf`: root
//! chaining, thresholds, rollback and expiry checks, length/hash pinning), not ours.

#[cfg(feature = "http")]
use crate::errors::SignatureError;
#[cfg(feature = "http")]
use sigstore_trust_root::{SigstoreInstance, TufBootstrap, TufConfig, fetch_trust_material};

/// Where to refresh from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TufSource {
    /// Sigstore's public-good repository, pinned by the root embedded in sigstore-rust.
    PublicGood,
    /// Sigstore's staging repository (same).
    Staging,
    /// Another repository (a private Sigstore deployment, a mirror), pinned by `root`.
    Custom {
        /// The repository's base URL.
        url: String,
        /// Its trusted `root.json`.
        root: std::path::PathBuf,
    },
}

#[cfg(feature = "http")]
fn fail(msg: impl Into<String>) -> SignatureError {
    SignatureError::Material(format!("TUF: {}", msg.into()))
}

/// The cache directory: `$XDG_CACHE_HOME/modelsig-oci/tuf`, else `~/.cache/modelsig-oci/tuf`.
pub fn cache_dir() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    Some(base.join("modelsig-oci").join("tuf"))
}

#[cfg(feature = "http")]
/// Fetches and verifies the trust material; returns a `ClientTrustConfig` JSON text (trusted
/// root and signing config) that the rest of the library reads like `--trust_config`.
pub fn refresh(source: &TufSource) -> Result<String, SignatureError> {
    let config = match source {
        TufSource::PublicGood => TufConfig::for_instance(SigstoreInstance::PublicGood),
        TufSource::Staging => TufConfig::for_instance(SigstoreInstance::Staging),
        TufSource::Custom { url, root } => {
            let bytes = std::fs::read(root).map_err(|e| fail(format!("{}: {e}", root.display())))?;
            TufConfig::custom(url.clone(), TufBootstrap::trusted(bytes))
        }
    };
    let config = match cache_dir() {
        Some(dir) => config.with_cache_dir(dir),
        None => config.without_cache(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("runtime: {e}")))?;
    let (root, signing) = runtime.block_on(fetch_trust_material(config)).map_err(|e| fail(e.to_string()))?;
    let doc = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": serde_json::to_value(&root).map_err(|e| fail(e.to_string()))?,
        "signingConfig": serde_json::to_value(&signing).map_err(|e| fail(e.to_string()))?,
    });
    Ok(doc.to_string())
}
