//! Command-line arguments shared by the binaries, spelled exactly like model_signing's CLI
//! (`model_signing/_cli.py`): `sign|verify {key,certificate,sigstore}`, `--signature`,
//! `--private_key`, `--password`, `--public_key`, `--signing_certificate`,
//! `--certificate_chain`, `--identity`, `--identity_provider`, `--trust_config`,
//! `--ignore-paths`, `--ignore-git-paths/--no-ignore-git-paths`, `--allow_symlinks`,
//! `--ignore_unsigned_files`.

use crate::crypto::signature::TrustPolicy;
use crate::crypto::signing::SigningMaterial;
use crate::crypto::trust::{MODEL_SIGNING_FLAGS, SigningSpec, TrustSpec};
use crate::errors::Error;
use crate::formats::digest::HashAlgorithm;
use crate::formats::manifest::{DEFAULT_SHARD_SIZE, Method};
use crate::hashing::source::HashOptions;
use crate::ops::report::OutputFormat;
use crate::ops::sign::SignSerialization;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Options that control which files are hashed.
#[derive(Debug, Clone, Args)]
pub struct HashingArgs {
    /// File paths to ignore when signing or verifying (repeatable).
    #[arg(long = "ignore-paths", value_name = "IGNORE_PATHS")]
    pub ignore_paths: Vec<PathBuf>,
    /// Ignore git-related files (.git, .gitattributes, .github, .gitignore) [default].
    #[arg(long = "ignore-git-paths", overrides_with = "no_ignore_git_paths")]
    pub ignore_git_paths: bool,
    /// Include git-related files.
    #[arg(long = "no-ignore-git-paths")]
    pub no_ignore_git_paths: bool,
    /// Follow symbolic links to files instead of failing on them.
    #[arg(long = "allow_symlinks")]
    pub allow_symlinks: bool,
    /// Hashing threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Do not show a progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// The most bytes one compressed tar layer may unpack to, e.g. `200GiB` (default: 100x
    /// its compressed size, at least 64 MiB).
    #[arg(long = "max-unpacked-size", value_name = "SIZE", value_parser = parse_size)]
    pub max_unpacked_size: Option<u64>,
    /// For a model in a container image (KServe ModelCar): the directory holding it, e.g.
    /// /models (default: the directory holding every file of the image's last layer).
    #[arg(long = "model-root", value_name = "DIR")]
    pub model_root: Option<String>,
    /// When verifying an oci: or kit: layout, also check every tar layer's digest and
    /// diffId (one more hash pass); by default the signed file digests decide.
    #[arg(long = "verify-layer-digests")]
    pub verify_layer_digests: bool,
}

/// A `--max-unpacked-size` value that is not a size.
#[derive(Debug, thiserror::Error)]
pub enum SizeError {
    /// No number.
    #[error("`{0}` is not a size (e.g. 500MiB, 200GiB)")]
    NotASize(String),
    /// An unknown unit.
    #[error("unknown size unit `{0}` (use B, KiB, MiB, GiB, TiB)")]
    Unit(String),
    /// Over 2^64 bytes.
    #[error("`{0}` is too large")]
    TooLarge(String),
}

/// Parses a byte count with an optional unit (`B`, `KiB`, `MiB`, `GiB`, `TiB`, or `KB`…`TB`).
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| SizeError::NotASize(s.to_owned()))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TiB" | "T" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => return Err(SizeError::Unit(other.to_owned())),
    };
    n.checked_mul(mult).ok_or_else(|| SizeError::TooLarge(s.to_owned()))
}

impl HashingArgs {
    /// Converts to library options.
    pub fn options(&self) -> HashOptions {
        HashOptions {
            ignore_paths: self.ignore_paths.clone(),
            ignore_git_paths: !self.no_ignore_git_paths,
            allow_symlinks: self.allow_symlinks,
            threads: self.threads.unwrap_or_else(crate::hashing::default_threads).max(1),
            quiet: self.quiet,
            max_unpacked_size: self.max_unpacked_size,
            model_root: self.model_root.clone(),
            verify_layer_digests: self.verify_layer_digests,
        }
    }
}

/// `--output`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Serialization method for signing.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    /// One resource per file (model_signing's default).
    Files,
    /// Files cut into shards of --shard_size bytes.
    Shards,
}

/// Hash algorithm for signing.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HashArg {
    /// SHA-256 (default).
    Sha256,
    /// BLAKE2b-512.
    Blake2b,
    /// BLAKE3.
    Blake3,
}

/// How to serialize when signing (extensions over model_signing's CLI, which exposes
/// these only through its Python API).
#[derive(Debug, Clone, Args)]
pub struct SerializationArgs {
    /// Serialization method.
    #[arg(long = "serialization", value_enum, default_value_t = MethodArg::Files)]
    pub method: MethodArg,
    /// Shard size in bytes for --serialization shards.
    #[arg(long = "shard_size", default_value_t = DEFAULT_SHARD_SIZE)]
    pub shard_size: u64,
    /// Hash algorithm.
    #[arg(long = "hash_type", value_enum, default_value_t = HashArg::Sha256)]
    pub hash: HashArg,
}

impl SerializationArgs {
    /// Converts to library options.
    pub fn serialization(&self) -> Result<SignSerialization, Error> {
        let method = match self.method {
            MethodArg::Files => Method::Files,
            MethodArg::Shards if self.shard_size == 0 => {
                return Err(Error::Usage("--shard_size must be positive".into()));
            }
            MethodArg::Shards => Method::Shards { shard_size: self.shard_size },
        };
        let hash = match self.hash {
            HashArg::Sha256 => HashAlgorithm::Sha256,
            HashArg::Blake2b => HashAlgorithm::Blake2b,
            HashArg::Blake3 => HashAlgorithm::Blake3,
        };
        Ok(SignSerialization { method, hash })
    }
}

/// `sign <method>` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum SignCommand {
    /// Sign with an elliptic-curve private key (P-256, P-384, P-521).
    #[command(after_help = "Example:\n  sign key ./model --private_key key.pem --signature model.sig")]
    Key(SignArgs<KeyMaterial>),
    /// Sign with a private key and its certificate chain.
    #[command(
        after_help = "Example:\n  sign certificate ./model --private_key key.pem \\\n      --signing_certificate cert.pem --certificate_chain chain.pem --signature model.sig"
    )]
    Certificate(SignArgs<CertificateMaterial>),
    /// Sign keylessly with Sigstore (Fulcio certificate for an OIDC identity, Rekor entry).
    #[command(
        after_help = "Example:\n  sign sigstore ./model --identity_token \"$(cat token.jwt)\" --signature model.sig"
    )]
    Sigstore(SignArgs<SigstoreMaterial>),
}

impl SignCommand {
    /// The common arguments and the loaded signing material.
    pub fn parts(&self) -> (&SignCommon, Result<SigningMaterial, Error>) {
        match self {
            SignCommand::Key(a) => (&a.common, a.material.spec().load()),
            SignCommand::Certificate(a) => (&a.common, a.material.spec().load()),
            SignCommand::Sigstore(a) => (&a.common, a.material.spec().load()),
        }
    }
}

/// Arguments of every `sign` method.
#[derive(Debug, Clone, Args)]
pub struct SignArgs<M: Args> {
    /// Method-specific key material.
    #[command(flatten)]
    pub material: M,
    /// Everything else.
    #[command(flatten)]
    pub common: SignCommon,
}

/// Arguments every `sign` method shares.
#[derive(Debug, Clone, Args)]
pub struct SignCommon {
    /// The model: a directory or a single file.
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// Location of the signature file to generate.
    #[arg(long, value_name = "SIGNATURE_PATH", default_value = "model.sig")]
    pub signature: PathBuf,
    /// Which files are hashed.
    #[command(flatten)]
    pub hashing: HashingArgs,
    /// How they are serialized.
    #[command(flatten)]
    pub serialization: SerializationArgs,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `sign key` material.
#[derive(Debug, Clone, Args)]
pub struct KeyMaterial {
    /// Path to the private key, as a PEM-encoded file.
    #[arg(long = "private_key", value_name = "PRIVATE_KEY")]
    pub private_key: PathBuf,
    /// Password for the key encryption, if any.
    #[arg(long, env = "MODELSIG_KEY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

impl KeyMaterial {
    /// The signing material these flags name.
    pub fn spec(&self) -> SigningSpec {
        SigningSpec::Key { private_key: self.private_key.clone(), password: self.password.clone() }
    }
}

/// `sign certificate` material.
#[derive(Debug, Clone, Args)]
pub struct CertificateMaterial {
    /// The private key.
    #[command(flatten)]
    pub key: KeyMaterial,
    /// Path to the signing certificate, as a PEM-encoded file.
    #[arg(long = "signing_certificate", value_name = "CERTIFICATE_PATH")]
    pub signing_certificate: PathBuf,
    /// Certificates of the chain (repeatable, or all in one file).
    #[arg(long = "certificate_chain", value_name = "CERTIFICATE_PATH")]
    pub certificate_chain: Vec<PathBuf>,
}

impl CertificateMaterial {
    /// The signing material these flags name.
    pub fn spec(&self) -> SigningSpec {
        SigningSpec::Certificate {
            private_key: self.key.private_key.clone(),
            password: self.key.password.clone(),
            signing_certificate: self.signing_certificate.clone(),
            chain: self.certificate_chain.clone(),
        }
    }
}

/// `sign sigstore` material.
#[derive(Debug, Clone, Args)]
pub struct SigstoreMaterial {
    /// OIDC identity token (a JWT) to certify; without one (and without ambient
    /// credentials) the OAuth flow of the signing config's OIDC provider runs.
    #[arg(long = "identity_token", value_name = "TOKEN", env = "SIGSTORE_ID_TOKEN", hide_env_values = true)]
    pub identity_token: Option<String>,
    /// Use ambient CI credentials (GitHub Actions' OIDC token) when no token is given.
    #[arg(long = "use_ambient_credentials")]
    pub use_ambient_credentials: bool,
    /// OAuth out of band: print the link, read the code (no browser started).
    #[arg(long = "oauth_force_oob")]
    pub oauth_force_oob: bool,
    /// OAuth client ID (default `sigstore`).
    #[arg(long = "client_id", value_name = "ID")]
    pub client_id: Option<String>,
    /// OAuth client secret.
    #[arg(long = "client_secret", value_name = "SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Client trust configuration: Fulcio/Rekor URLs and the root the result must verify
    /// against (default: Sigstore public good).
    #[arg(long = "trust_config", value_name = "TRUST_CONFIG_PATH")]
    pub trust_config: Option<PathBuf>,
    /// Use Sigstore's staging instance (its trusted root and signing config, embedded).
    #[arg(long = "use_staging")]
    pub use_staging: bool,
    /// Opt-in TUF refresh of the trust material.
    #[command(flatten)]
    pub tuf: TufArgs,
}

impl SigstoreMaterial {
    /// The signing material these flags name.
    pub fn spec(&self) -> SigningSpec {
        SigningSpec::Sigstore {
            token: crate::crypto::keyless::oidc::TokenOptions {
                given: self.identity_token.clone(),
                ambient: self.use_ambient_credentials,
                force_oob: self.oauth_force_oob,
                client_id: self.client_id.clone(),
                client_secret: self.client_secret.clone(),
            },
            trust_config: self.trust_config.clone(),
            use_staging: self.use_staging,
            tuf: self.tuf.source(self.use_staging),
        }
    }
}

/// `verify <method>` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum VerifyCommand {
    /// Verify with the public key paired with the signing key.
    #[command(after_help = "Example:\n  verify key ./model --public_key key.pub --signature model.sig")]
    Key(VerifyArgs<KeyTrust>),
    /// Verify a certificate-signed model against trusted certificates.
    #[command(
        after_help = "Example:\n  verify certificate ./model --certificate_chain ca.pem --signature model.sig"
    )]
    Certificate(VerifyArgs<CertificateTrust>),
    /// Verify a Sigstore keyless signature, offline.
    #[command(
        after_help = "Example:\n  verify sigstore ./model --identity me@example.com \\\n      --identity_provider https://accounts.google.com --trust_config trust_config.json --signature model.sig"
    )]
    Sigstore(VerifyArgs<SigstoreTrust>),
}

impl VerifyCommand {
    /// The common arguments and the trust policy.
    pub fn parts(&self) -> (&VerifyCommon, Result<TrustPolicy, Error>) {
        match self {
            VerifyCommand::Key(a) => (&a.common, a.trust.spec().load()),
            VerifyCommand::Certificate(a) => (&a.common, a.trust.spec().load()),
            VerifyCommand::Sigstore(a) => (&a.common, a.trust.spec().load()),
        }
    }
}

/// Arguments of every `verify` method.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs<T: Args> {
    /// Method-specific trust material.
    #[command(flatten)]
    pub trust: T,
    /// Everything else.
    #[command(flatten)]
    pub common: VerifyCommon,
}

/// Arguments every `verify` method shares.
#[derive(Debug, Clone, Args)]
pub struct VerifyCommon {
    /// The model: a directory or a single file.
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// Location of the signature file to verify (optional for oci: layouts that carry an
    /// attached signature referrer).
    #[arg(long, value_name = "SIGNATURE_PATH")]
    pub signature: Option<PathBuf>,
    /// Which files are hashed.
    #[command(flatten)]
    pub hashing: HashingArgs,
    /// Ignore all files that were not originally signed.
    #[arg(long = "ignore_unsigned_files", overrides_with = "no_ignore_unsigned_files")]
    pub ignore_unsigned_files: bool,
    /// Fail on files that were not signed [default].
    #[arg(long = "no-ignore_unsigned_files")]
    pub no_ignore_unsigned_files: bool,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `verify MODEL` under the trust policy (no method subcommand, no trust flags).
#[derive(Debug, Clone, Args)]
pub struct PolicyVerifyCommon {
    /// The model: a directory or file, oci:PATH[:TAG], kit:REF or registry:REF.
    #[arg(value_name = "MODEL", required = true)]
    pub model: Option<String>,
    /// Location of the signature file to verify (optional for oci: layouts that carry an
    /// attached signature referrer).
    #[arg(long, value_name = "SIGNATURE_PATH")]
    pub signature: Option<PathBuf>,
    /// Trust policy file (default: $MODELSIG_POLICY, $XDG_CONFIG_HOME/modelsig/policy.toml,
    /// /etc/modelsig/policy.toml).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Which files are hashed.
    #[command(flatten)]
    pub hashing: HashingArgs,
    /// Ignore all files that were not originally signed.
    #[arg(long = "ignore_unsigned_files")]
    pub ignore_unsigned_files: bool,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `verify key` trust material.
#[derive(Debug, Clone, Args)]
pub struct KeyTrust {
    /// Path to the public key used for verification.
    #[arg(long = "public_key", value_name = "PUBLIC_KEY")]
    pub public_key: PathBuf,
}

/// `verify certificate` trust material.
#[derive(Debug, Clone, Args)]
pub struct CertificateTrust {
    /// Trusted certificates (repeatable, or all in one file). Default: the system roots.
    #[arg(long = "certificate_chain", value_name = "CERTIFICATE_PATH")]
    pub certificate_chain: Vec<PathBuf>,
    /// Print SHA-256 fingerprints of the trusted certificates.
    #[arg(long = "log_fingerprints")]
    pub log_fingerprints: bool,
}

/// `verify sigstore` trust material.
#[derive(Debug, Clone, Args)]
pub struct SigstoreTrust {
    /// The expected identity of the signer (e.g. name@example.com).
    #[arg(long)]
    pub identity: String,
    /// The expected OpenID Connect issuer of the identity.
    #[arg(long = "identity_provider", value_name = "URL")]
    pub identity_provider: String,
    /// Client trust configuration or trusted root JSON (default: built-in public-good root).
    #[arg(long = "trust_config", value_name = "TRUST_CONFIG_PATH")]
    pub trust_config: Option<PathBuf>,
    /// Use Sigstore's staging instance (its embedded trusted root).
    #[arg(long = "use_staging")]
    pub use_staging: bool,
    /// Opt-in TUF refresh of the trust material.
    #[command(flatten)]
    pub tuf: TufArgs,
}

/// Opt-in refresh of Sigstore trust material over TUF (offline by default).
#[derive(Debug, Clone, Args)]
pub struct TufArgs {
    /// Refresh the trusted root (and signing config) from Sigstore's TUF repository
    /// (staging with --use_staging), cached in $XDG_CACHE_HOME/modelsig-oci/tuf, instead of
    /// the embedded copy.
    #[arg(long = "update_trust_root")]
    pub update_trust_root: bool,
    /// Refresh from this TUF repository instead (a private Sigstore deployment or a mirror);
    /// needs --tuf_root.
    #[arg(long = "tuf_url", value_name = "URL", requires = "tuf_root")]
    pub tuf_url: Option<String>,
    /// The trusted TUF root.json of --tuf_url.
    #[arg(long = "tuf_root", value_name = "ROOT_JSON", requires = "tuf_url")]
    pub tuf_root: Option<PathBuf>,
}

impl TufArgs {
    /// The TUF source these flags name, if any.
    pub fn source(&self, use_staging: bool) -> Option<crate::crypto::keyless::tuf::TufSource> {
        use crate::crypto::keyless::tuf::TufSource;
        match (&self.tuf_url, &self.tuf_root) {
            (Some(url), Some(root)) => Some(TufSource::Custom { url: url.clone(), root: root.clone() }),
            _ if self.update_trust_root && use_staging => Some(TufSource::Staging),
            _ if self.update_trust_root => Some(TufSource::PublicGood),
            _ => None,
        }
    }
}

impl KeyTrust {
    /// What these flags trust.
    pub fn spec(&self) -> TrustSpec {
        TrustSpec::Key { public_key: self.public_key.clone() }
    }
}

impl CertificateTrust {
    /// What these flags trust.
    pub fn spec(&self) -> TrustSpec {
        TrustSpec::Certificate {
            chain: self.certificate_chain.clone(),
            log_fingerprints: self.log_fingerprints,
        }
    }
}

impl SigstoreTrust {
    /// What these flags trust.
    pub fn spec(&self) -> TrustSpec {
        TrustSpec::Sigstore {
            identity: self.identity.clone(),
            issuer: self.identity_provider.clone(),
            trust_config: self.trust_config.clone(),
            use_staging: self.use_staging,
            tuf: self.tuf.source(self.use_staging),
        }
    }
}

/// Trust flags without a method subcommand (for `pull`): the method follows from which
/// flags are given.
#[derive(Debug, Clone, Args)]
pub struct AnyTrust {
    /// Verify with this public key.
    #[arg(long = "public_key", value_name = "PUBLIC_KEY")]
    pub public_key: Option<PathBuf>,
    /// Verify a certificate signature against these trusted certificates.
    #[arg(long = "certificate_chain", value_name = "CERTIFICATE_PATH")]
    pub certificate_chain: Vec<PathBuf>,
    /// Verify a Sigstore signature for this identity.
    #[arg(long)]
    pub identity: Option<String>,
    /// ... issued by this OIDC provider.
    #[arg(long = "identity_provider", value_name = "URL")]
    pub identity_provider: Option<String>,
    /// Sigstore trust configuration (default: built-in public good).
    #[arg(long = "trust_config", value_name = "TRUST_CONFIG_PATH")]
    pub trust_config: Option<PathBuf>,
}

impl AnyTrust {
    /// No trust flag given (the trust policy decides).
    pub fn is_empty(&self) -> bool {
        self.public_key.is_none() && self.certificate_chain.is_empty() && self.identity.is_none()
    }

    /// What these flags trust (exactly one kind must be given).
    pub fn spec(&self) -> Result<TrustSpec, Error> {
        TrustSpec::from_flags(
            self.public_key.as_deref(),
            &self.certificate_chain,
            self.identity.as_deref(),
            self.identity_provider.as_deref(),
            self.trust_config.as_deref(),
            MODEL_SIGNING_FLAGS,
        )
    }

    /// The trust policy the flags describe.
    pub fn policy(&self) -> Result<TrustPolicy, Error> {
        self.spec()?.load()
    }
}

/// Registry connection flags.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Use plain HTTP (default for localhost and 127.0.0.1).
    #[arg(long = "plain-http")]
    pub plain_http: bool,
    /// Blobs transferred at once (pull).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

#[cfg(feature = "http")]
impl RegistryArgs {
    /// Client options.
    pub fn options(&self) -> crate::registry::ClientOptions {
        crate::registry::ClientOptions {
            plain_http: self.plain_http.then_some(true),
            concurrency: usize::from(self.concurrency),
            ..Default::default()
        }
    }
}

/// Prints a failure the way every binary does (JSON on stdout for `--output json`, text on
/// stderr) and exits with the exit-code contract: 0, 1 verification failed, 2 usage/input.
pub fn exit(result: Result<i32, (Error, OutputFormat)>) -> ! {
    let code = match result {
        Ok(code) => code,
        Err((e, format)) => {
            let text = crate::ops::report::render_error(&e, format);
            match format {
                OutputFormat::Json => print!("{text}"),
                OutputFormat::Text => eprint!("{text}"),
            }
            e.exit_code()
        }
    };
    std::process::exit(code)
}

/// Prints a verification decided by the trust policy — the report, then the rule and the
/// signer (text), or the report with a `policy` member (JSON) — and returns the exit code.
pub fn print_policy_outcome(
    report: &crate::ops::report::VerifyReport,
    decision: &crate::ops::policy::PolicyDecision,
    format: OutputFormat,
) -> i32 {
    if format == OutputFormat::Json {
        let mut json = serde_json::to_value(report).unwrap_or_default();
        json["policy"] = serde_json::to_value(decision).unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
    } else {
        let text = report.render(format);
        if report.verified {
            print!("{text}")
        } else {
            eprint!("{text}")
        }
        for w in report.warnings.iter().filter(|_| !report.verified) {
            eprintln!("warning: {w}");
        }
        let signers =
            if decision.signers.is_empty() { "none".to_owned() } else { decision.signers.join(", ") };
        println!(
            "  policy {}: rule `{}` ({}); signer: {signers}",
            decision.policy, decision.pattern, decision.mode
        );
    }
    decision.exit_code(report)
}
