//! `cosign-modelsig`: model attestations that `cosign verify-attestation` accepts (subject =
//! the OCI manifest digest, predicate = the model_signing v1.0 predicate), written in cosign's
//! own storage formats, and file-level checks of what cosign verified. cosign has no command
//! plugins, so this binary prepares its inputs and consumes its outputs. All format logic
//! lives in `modelsig-common`.

use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use modelsig_common::ModelRef;
use modelsig_common::RemoteVerifyOptions;
use modelsig_common::attest::registry as attest;
use modelsig_common::cli::{HashingArgs, OutputArgs, RegistryArgs};
use modelsig_common::crypto::signature::TrustPolicy;
use modelsig_common::crypto::signing::SigningMaterial;
use modelsig_common::crypto::trust::{COSIGN_FLAGS, SigningSpec, TrustSpec};
use modelsig_common::errors::Error;
use modelsig_common::io::write_atomic;
use modelsig_common::ops::by_policy::policy_key;
use modelsig_common::ops::policy::{Policy, decide};
use modelsig_common::ops::report::{OutputFormat, VerifyReport};
use modelsig_common::registry::model::remote_manifest;
use modelsig_common::registry::{Client, Reference};
use modelsig_common::{HashOptions, SignSerialization, compute_manifest};
use std::io::Read;
use std::path::PathBuf;

/// Model attestations for cosign: predicate, attest, verify-attestation, check.
#[derive(Parser)]
#[command(name = "cosign-modelsig", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  cosign-modelsig predicate localhost:5000/models/demo:v1 -o predicate.json
  cosign attest --predicate predicate.json --type https://model_signing/signature/v1.0 --key cosign.key localhost:5000/models/demo:v1
  cosign-modelsig attest localhost:5000/models/demo:v1 --key cosign.key
  cosign-modelsig verify-attestation localhost:5000/models/demo:v1 --key cosign.pub
  cosign verify-attestation --type https://model_signing/signature/v1.0 --key cosign.pub REF | cosign-modelsig check REF

Exit codes: 0 verified, 1 verification failed, 2 bad usage, unreadable input or registry error.";

#[derive(Subcommand)]
enum Command {
    /// Write the model_signing predicate of a model (registry REF, oci:PATH[:TAG], kit:REF or
    /// a directory), for `cosign attest --predicate … --type https://model_signing/signature/v1.0`.
    #[command(
        after_help = "Example:\n  cosign-modelsig predicate localhost:5000/models/demo:v1 -o predicate.json"
    )]
    Predicate {
        /// The model.
        source: String,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        hashing: HashingArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Attest a model in a registry as cosign does (new bundle format by default).
    #[command(
        after_help = "Example:\n  COSIGN_PASSWORD=… cosign-modelsig attest localhost:5000/models/demo:v1 --key cosign.key"
    )]
    Attest {
        /// The model reference.
        reference: String,
        /// A cosign key file (cosign.key; password from COSIGN_PASSWORD) or a PEM key.
        #[arg(long, conflicts_with = "private_key")]
        key: Option<PathBuf>,
        /// A PEM private key (model_signing style).
        #[arg(long = "private_key")]
        private_key: Option<PathBuf>,
        /// Password of --private_key.
        #[arg(long, env = "MODELSIG_KEY_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// The signing certificate (with --private_key).
        #[arg(long, requires = "private_key")]
        certificate: Option<PathBuf>,
        /// Its chain.
        #[arg(long = "certificate_chain")]
        certificate_chain: Vec<PathBuf>,
        /// Keyless: an OIDC identity token for Fulcio (no key given).
        #[arg(long = "identity-token", env = "SIGSTORE_ID_TOKEN", hide_env_values = true)]
        identity_token: Option<String>,
        /// Keyless: client trust configuration with Fulcio/Rekor URLs (default: public good).
        #[arg(long = "trust_config")]
        trust_config: Option<PathBuf>,
        /// Write cosign v3's bundle referrer (true) or the legacy sha256-<hex>.att tag (false).
        #[arg(long = "new-bundle-format", default_value_t = true, action = ArgAction::Set)]
        new_bundle_format: bool,
        /// Record key and certificate attestations in the transparency log, as cosign does
        /// by default (the Rekor of --trust_config, else Sigstore's public good).
        #[arg(long = "tlog-upload", default_value_t = true, action = ArgAction::Set)]
        tlog_upload: bool,
        #[command(flatten)]
        hashing: HashingArgs,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Verify model attestations like `cosign verify-attestation`, then check the files they
    /// list against the manifest's layers.
    #[command(
        after_help = "Example:\n  cosign-modelsig verify-attestation localhost:5000/models/demo:v1 --key cosign.pub"
    )]
    VerifyAttestation {
        /// The model reference.
        reference: String,
        #[command(flatten)]
        trust: CosignTrust,
        #[command(flatten)]
        check: CheckArgs,
    },
    /// Read `cosign verify-attestation` output (one DSSE envelope per line) on standard input
    /// and check the files it lists against REF.
    #[command(
        after_help = "Example:\n  cosign verify-attestation --type https://model_signing/signature/v1.0 --key cosign.pub REF | cosign-modelsig check REF"
    )]
    Check {
        /// The model reference.
        reference: String,
        #[command(flatten)]
        check: CheckArgs,
    },
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  cosign-modelsig completions zsh > _cosign-modelsig")]
    Completions {
        /// Target shell.
        shell: clap_complete::Shell,
    },
}

/// How cosign is told whom to trust.
#[derive(clap::Args)]
struct CosignTrust {
    /// Public key (cosign.pub or PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Certificates to trust (certificate-signed attestations).
    #[arg(long = "certificate_chain")]
    certificate_chain: Vec<PathBuf>,
    /// Keyless: expected identity.
    #[arg(long = "certificate-identity")]
    certificate_identity: Option<String>,
    /// Keyless: expected OIDC issuer.
    #[arg(long = "certificate-oidc-issuer")]
    certificate_oidc_issuer: Option<String>,
    /// Trusted root JSON: Fulcio and the transparency logs (default: built-in public good).
    #[arg(long = "trusted-root")]
    trusted_root: Option<PathBuf>,
    /// Trust policy file, used when no key, certificate or identity is given (default:
    /// $MODELSIG_POLICY, $XDG_CONFIG_HOME/modelsig/policy.toml, /etc/modelsig/policy.toml).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Accept key or certificate attestations without a transparency log entry (cosign's flag).
    #[arg(long = "insecure-ignore-tlog", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    insecure_ignore_tlog: bool,
}

impl CosignTrust {
    fn is_empty(&self) -> bool {
        self.key.is_none() && self.certificate_chain.is_empty() && self.certificate_identity.is_none()
    }

    fn policy(&self) -> Result<TrustPolicy, Error> {
        TrustSpec::from_flags(
            self.key.as_deref(),
            &self.certificate_chain,
            self.certificate_identity.as_deref(),
            self.certificate_oidc_issuer.as_deref(),
            self.trusted_root.as_deref(),
            COSIGN_FLAGS,
        )?
        .load()
    }
}

/// What to check and how to report.
#[derive(clap::Args)]
struct CheckArgs {
    /// Predicate type to accept.
    #[arg(long = "type", default_value = modelsig_common::formats::predicate::PREDICATE_V1)]
    predicate_type: String,
    /// Also stream tar layers to check their files.
    #[arg(long)]
    deep: bool,
    #[command(flatten)]
    hashing: HashingArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Connects to the reference's registry and runs one attestation check with the shared flags.
fn check_remote(
    reference: &str,
    check: &CheckArgs,
    run: impl FnOnce(&Reference, &Client, &HashOptions, &RemoteVerifyOptions) -> Result<VerifyReport, Error>,
) -> Result<i32, (Error, OutputFormat)> {
    let fmt = check.output.output;
    let r = Reference::parse(reference).map_err(|e| (e.into(), fmt))?;
    let client = Client::new(&r.registry, check.registry.options());
    let opts = RemoteVerifyOptions { deep: check.deep, ignore_unsigned_files: false };
    let report = run(&r, &client, &check.hashing.options(), &opts).map_err(|e| (e, fmt))?;
    Ok(finish(&report, fmt))
}

fn finish(report: &VerifyReport, format: OutputFormat) -> i32 {
    let text = report.render(format);
    if report.verified || format == OutputFormat::Json {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
    report.exit_code()
}

fn run(cli: Cli) -> Result<i32, (Error, OutputFormat)> {
    match cli.command {
        Command::Predicate { source, output, hashing, registry } => {
            let fail = |e: Error| (e, OutputFormat::Text);
            let manifest = match ModelRef::parse(&source) {
                ModelRef::Dir(p) if !p.exists() && Reference::parse(&source).is_ok() => {
                    let r = Reference::parse(&source).map_err(|e| fail(e.into()))?;
                    let client = Client::new(&r.registry, registry.options());
                    remote_manifest(&r, &client, &hashing.options()).map_err(fail)?.0
                }
                m => compute_manifest(&m, &hashing.options(), SignSerialization::default()).map_err(fail)?,
            };
            let json = serde_json::to_vec_pretty(&modelsig_common::attest::cosign::predicate_json(&manifest))
                .unwrap_or_default();
            match output {
                Some(p) => write_atomic(&p, &json).map_err(|e| fail(e.into()))?,
                None => println!("{}", String::from_utf8_lossy(&json)),
            }
            Ok(0)
        }
        Command::Attest {
            reference,
            key,
            private_key,
            password,
            certificate,
            certificate_chain,
            identity_token,
            trust_config,
            new_bundle_format,
            tlog_upload,
            hashing,
            registry,
            output,
        } => {
            let fmt = output.output;
            let fail = |e: Error| (e, fmt);
            let material = match (&key, &private_key, &certificate) {
                (Some(k), None, None) => {
                    let pw = std::env::var("COSIGN_PASSWORD").ok();
                    SigningMaterial::Key(
                        modelsig_common::crypto::cosign_key::load_private_key(k, pw.as_deref())
                            .map_err(|e| fail(e.into()))?,
                    )
                }
                (None, Some(k), None) => {
                    SigningSpec::Key { private_key: k.clone(), password: password.clone() }
                        .load()
                        .map_err(fail)?
                }
                (None, Some(k), Some(c)) => SigningSpec::Certificate {
                    private_key: k.clone(),
                    password: password.clone(),
                    signing_certificate: c.clone(),
                    chain: certificate_chain.clone(),
                }
                .load()
                .map_err(fail)?,
                (None, None, None) if identity_token.is_some() => SigningSpec::Sigstore {
                    token: modelsig_common::crypto::keyless::oidc::TokenOptions {
                        given: identity_token.clone(),
                        ..Default::default()
                    },
                    trust_config: trust_config.clone(),
                    use_staging: false,
                    tuf: None,
                }
                .load()
                .map_err(fail)?,
                _ => {
                    return Err(fail(Error::Usage(
                        "give --key, --private_key (with --certificate for certificate signing), or --identity-token"
                            .into(),
                    )));
                }
            };
            let r = Reference::parse(&reference).map_err(|e| fail(e.into()))?;
            let client = Client::new(&r.registry, registry.options());
            let tlog = if tlog_upload {
                Some(attest::TlogUpload::from_trust_config(trust_config.as_deref()).map_err(fail)?)
            } else {
                None
            };
            let rep =
                attest::attest(&r, &client, &material, new_bundle_format, &hashing.options(), tlog.as_ref())
                    .map_err(fail)?;
            match fmt {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rep).unwrap_or_default()),
                OutputFormat::Text => {
                    println!("Attested {} files of {r} ({}) as {}", rep.resources, rep.subject, rep.stored_as)
                }
            }
            Ok(0)
        }
        Command::VerifyAttestation { reference, trust, check } => {
            let fail = |e| (e, check.output.output);
            let tlog = attest::TlogCheck {
                root: modelsig_common::crypto::trust::trusted_root(trust.trusted_root.as_deref(), false)
                    .map_err(fail)?,
                insecure_ignore_tlog: trust.insecure_ignore_tlog,
            };
            if trust.is_empty() {
                return verify_attestation_by_policy(&reference, &trust, &check, &tlog);
            }
            let policy = trust.policy().map_err(fail)?;
            check_remote(&reference, &check, |r, client, hash, opts| {
                attest::verify_attestation(r, client, &policy, &check.predicate_type, hash, opts, &tlog)
            })
        }
        Command::Check { reference, check } => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| (Error::Usage(format!("standard input: {e}")), check.output.output))?;
            check_remote(&reference, &check, |r, client, hash, opts| {
                attest::check_cosign_output(r, client, &input, &check.predicate_type, hash, opts)
            })
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "cosign-modelsig", &mut std::io::stdout());
            Ok(0)
        }
    }
}

/// `verify-attestation REF` with no trust flags: the trust policy's rule for the repository
/// names the signers.
fn verify_attestation_by_policy(
    reference: &str,
    trust: &CosignTrust,
    check: &CheckArgs,
    tlog: &attest::TlogCheck,
) -> Result<i32, (Error, OutputFormat)> {
    let fmt = check.output.output;
    let fail = |e: Error| (e, fmt);
    let r = Reference::parse(reference).map_err(|e| fail(e.into()))?;
    let policy = Policy::discover(trust.policy.as_deref()).map_err(fail)?;
    let rule = policy.rule_for(&policy_key(&r)).map_err(fail)?;
    let client = Client::new(&r.registry, check.registry.options());
    let opts = RemoteVerifyOptions { deep: check.deep, ignore_unsigned_files: false };
    let hash = check.hashing.options();
    let (report, decision) = decide(rule, &policy.path, reference, |p| {
        attest::verify_attestation(&r, &client, p, &check.predicate_type, &hash, &opts, tlog)
    })
    .map_err(fail)?;
    Ok(modelsig_common::cli::print_policy_outcome(&report, &decision, fmt))
}

fn main() {
    modelsig_common::cli::exit(run(Cli::parse()))
}
