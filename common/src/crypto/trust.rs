//! Trust material as users name it — a public key file, certificate files (or the system
//! store), a Sigstore identity with a trust configuration — loaded into a [`TrustPolicy`];
//! and signing material likewise into [`SigningMaterial`]. The one loader every binary
//! uses (model_signing's flags, cosign's flags), so files are read, and errors named, the
//! same way everywhere.

use crate::crypto::keyless::IdentityPolicy;
use crate::crypto::keyless::trust_root::TrustedRoot;
use crate::crypto::keys::PublicKey;
use crate::crypto::signature::TrustPolicy;
use crate::crypto::x509::Cert;
use crate::errors::{Error, KeyError};
use std::path::{Path, PathBuf};

/// Common system trust store locations (for `verify certificate` without a chain).
const SYSTEM_ROOTS: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/// What to trust, before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSpec {
    /// A public key file (PEM SubjectPublicKeyInfo, e.g. `key.pub` or `cosign.pub`).
    Key {
        /// The file.
        public_key: PathBuf,
    },
    /// Trusted certificates (PEM files); none: the system trust store.
    Certificate {
        /// The files.
        chain: Vec<PathBuf>,
        /// Print each anchor's fingerprint to stderr (model_signing's `--log_fingerprints`).
        log_fingerprints: bool,
    },
    /// A Sigstore identity and OIDC issuer, checked against a trusted root.
    Sigstore {
        /// The certificate identity (SAN).
        identity: String,
        /// The OIDC issuer.
        issuer: String,
        /// `ClientTrustConfig` or trusted root JSON; none: the built-in public-good root.
        trust_config: Option<PathBuf>,
        /// `--use_staging`: Sigstore's staging root (embedded) instead of the public-good one.
        use_staging: bool,
        /// Refresh the trust material from this TUF repository first (opt-in).
        tuf: Option<crate::crypto::keyless::tuf::TufSource>,
    },
}

/// The flag names a command uses, for messages (model_signing's or cosign's spelling).
#[derive(Debug, Clone, Copy)]
pub struct FlagNames {
    /// The public key flag.
    pub key: &'static str,
    /// The certificate chain flag.
    pub chain: &'static str,
    /// The identity flag.
    pub identity: &'static str,
    /// The issuer flag.
    pub issuer: &'static str,
}

/// model_signing's flag names.
pub const MODEL_SIGNING_FLAGS: FlagNames = FlagNames {
    key: "--public_key",
    chain: "--certificate_chain",
    identity: "--identity",
    issuer: "--identity_provider",
};

/// cosign's flag names.
pub const COSIGN_FLAGS: FlagNames = FlagNames {
    key: "--key",
    chain: "--certificate_chain",
    identity: "--certificate-identity",
    issuer: "--certificate-oidc-issuer",
};

impl TrustSpec {
    /// Chooses the method from which flags are given (exactly one kind).
    pub fn from_flags(
        key: Option<&Path>,
        chain: &[PathBuf],
        identity: Option<&str>,
        issuer: Option<&str>,
        trust_config: Option<&Path>,
        names: FlagNames,
    ) -> Result<Self, Error> {
        match (key, identity, chain.is_empty()) {
            (Some(k), None, true) => Ok(Self::Key { public_key: k.to_path_buf() }),
            (None, Some(id), true) => Ok(Self::Sigstore {
                identity: id.to_owned(),
                issuer: issuer
                    .ok_or_else(|| Error::Usage(format!("{} needs {}", names.identity, names.issuer)))?
                    .to_owned(),
                trust_config: trust_config.map(Path::to_path_buf),
                use_staging: false,
                tuf: None,
            }),
            (None, None, false) => Ok(Self::Certificate { chain: chain.to_vec(), log_fingerprints: false }),
            _ => Err(Error::Usage(format!(
                "give exactly one of {}, {}, or {}/{}",
                names.key, names.chain, names.identity, names.issuer
            ))),
        }
    }

    /// Reads the files and builds the policy.
    pub fn load(&self) -> Result<TrustPolicy, Error> {
        match self {
            Self::Key { public_key } => Ok(TrustPolicy::Key(PublicKey::from_pem_file(public_key)?)),
            Self::Certificate { chain, log_fingerprints } => {
                let mut anchors = Vec::new();
                if chain.is_empty() {
                    let sys = SYSTEM_ROOTS.iter().map(Path::new).find(|p| p.exists()).ok_or_else(|| {
                        Error::Usage("no --certificate_chain and no system trust store found".into())
                    })?;
                    anchors.extend(load_certificates(sys)?);
                } else {
                    for p in chain {
                        anchors.extend(load_certificates(p)?);
                    }
                }
                if *log_fingerprints {
                    for c in &anchors {
                        eprintln!("[  init  ] sha256 Fingerprint: {} {}", c.fingerprint(), c.subject());
                    }
                }
                Ok(TrustPolicy::Certificate { anchors })
            }
            Self::Sigstore { identity, issuer, trust_config, use_staging, tuf } => {
                let root = match tuf {
                    Some(source) => {
                        let text = refreshed(source)?;
                        TrustedRoot::from_json(text.as_bytes(), "TUF trust material")?
                    }
                    None => trusted_root(trust_config.as_deref(), *use_staging)?,
                };
                Ok(TrustPolicy::Sigstore {
                    root: Box::new(root),
                    identity: IdentityPolicy { identity: identity.clone(), issuer: issuer.clone() },
                })
            }
        }
    }
}

/// Reads a PEM file of one or more certificates (at least one).
pub fn load_certificates(path: &Path) -> Result<Vec<Cert>, KeyError> {
    let text = std::fs::read(path).map_err(|source| KeyError::Io { path: path.to_path_buf(), source })?;
    let certs = Cert::from_pem_chain(&text)
        .map_err(|e| KeyError::Certificate { what: path.display().to_string(), source: Box::new(e) })?;
    if certs.is_empty() {
        return Err(KeyError::invalid(path.display().to_string(), "no certificate in file"));
    }
    Ok(certs)
}

/// The trust material a TUF refresh gives (a `ClientTrustConfig` text).
#[cfg(feature = "http")]
fn refreshed(source: &crate::crypto::keyless::tuf::TufSource) -> Result<String, Error> {
    Ok(crate::crypto::keyless::tuf::refresh(source)?)
}

#[cfg(not(feature = "http"))]
fn refreshed(_: &crate::crypto::keyless::tuf::TufSource) -> Result<String, Error> {
    Err(Error::Usage("this build has no TUF client (feature `http`)".into()))
}

/// The trusted root from a trust configuration file, or the built-in public-good root.
pub fn trusted_root(trust_config: Option<&Path>, use_staging: bool) -> Result<TrustedRoot, Error> {
    match trust_config {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|source| KeyError::Io { path: p.to_path_buf(), source })?;
            Ok(TrustedRoot::from_json(&bytes, &p.display().to_string())?)
        }
        // The staging root as sigstore-trust-root ships it (embedded, not fetched).
        None if use_staging => Ok(crate::crypto::keyless::artifact::staging_trusted_root()?),
        None => Ok(TrustedRoot::builtin()?),
    }
}

/// Signing material as users name it.
#[derive(Debug, Clone)]
pub enum SigningSpec {
    /// A private key file (PEM, PKCS#8, SEC1; cosign key files with a password).
    Key {
        /// The file.
        private_key: PathBuf,
        /// Its password, if encrypted.
        password: Option<String>,
    },
    /// A private key with its certificate and chain.
    Certificate {
        /// The key file.
        private_key: PathBuf,
        /// Its password, if encrypted.
        password: Option<String>,
        /// The signing certificate.
        signing_certificate: PathBuf,
        /// The chain (intermediates).
        chain: Vec<PathBuf>,
    },
    /// Sigstore keyless: an OIDC token certified by Fulcio, logged in Rekor.
    #[cfg(feature = "http")]
    Sigstore {
        /// How to get the identity token (given, ambient, OAuth).
        token: crate::crypto::keyless::oidc::TokenOptions,
        /// `ClientTrustConfig` with Fulcio/Rekor URLs; none: public good.
        trust_config: Option<PathBuf>,
        /// `--use_staging`.
        use_staging: bool,
        /// Refresh the trust material (root and signing config) from this TUF repository.
        tuf: Option<crate::crypto::keyless::tuf::TufSource>,
    },
}

impl SigningSpec {
    /// Reads the files (and, for Sigstore, prepares the services).
    pub fn load(&self) -> Result<crate::crypto::signing::SigningMaterial, Error> {
        use crate::crypto::signing::SigningMaterial;
        match self {
            Self::Key { private_key, password } => {
                Ok(SigningMaterial::key(private_key, password.as_deref())?)
            }
            Self::Certificate { private_key, password, signing_certificate, chain } => Ok(
                SigningMaterial::certificate(private_key, signing_certificate, chain, password.as_deref())?,
            ),
            #[cfg(feature = "http")]
            Self::Sigstore { token, trust_config, use_staging, tuf } => {
                use crate::crypto::keyless::http::HttpTransport;
                use crate::crypto::keyless::signer::{IdentityToken, Services};
                let (root, services) = match (tuf, trust_config) {
                    (Some(source), _) => {
                        let text = refreshed(source)?;
                        let root = TrustedRoot::from_json(text.as_bytes(), "TUF trust material")?;
                        let services = Services::from_trust_config(text.as_bytes())
                            .map_err(|e| Error::Usage(format!("TUF signing config: {e}")))?;
                        (root, services)
                    }
                    (None, Some(p)) => {
                        let bytes =
                            std::fs::read(p).map_err(|source| KeyError::Io { path: p.clone(), source })?;
                        let root = TrustedRoot::from_json(&bytes, &p.display().to_string())?;
                        let services = Services::from_trust_config(&bytes)
                            .map_err(|e| Error::Usage(format!("{}: {e}", p.display())))?;
                        (root, services)
                    }
                    (None, None) if *use_staging => {
                        (crate::crypto::keyless::artifact::staging_trusted_root()?, Services::staging()?)
                    }
                    (None, None) => (TrustedRoot::builtin()?, Services::public_good()?),
                };
                // Given, ambient, or the OAuth flow with the config's OIDC provider.
                let raw = crate::crypto::keyless::oidc::identity_token(token, services.oidc.as_deref())?;
                let token = IdentityToken::parse(&raw).map_err(|e| Error::Usage(e.to_string()))?;
                Ok(SigningMaterial::Keyless {
                    token,
                    services,
                    transport: Box::new(HttpTransport::new(std::time::Duration::from_secs(60))),
                    root: Box::new(root),
                })
            }
        }
    }
}
