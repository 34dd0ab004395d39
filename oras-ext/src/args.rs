//! The command line of `oras-modelsig`: declarations only (clap), flags spelled like
//! model_signing's and oras'.

use clap::{Parser, Subcommand};
use modelsig_common::cli::{
    AnyTrust, CertificateMaterial, CertificateTrust, HashingArgs, KeyMaterial, KeyTrust, OutputArgs,
    RegistryArgs, SigstoreMaterial, SigstoreTrust,
};
use modelsig_common::ops::report::OutputFormat;
use modelsig_common::packaging::write::{PackFormat, PackLayerFormat};
use std::path::PathBuf;

/// Attach model signatures to OCI models and verify them from the registry.
#[derive(Parser)]
#[command(name = "oras-modelsig", version, about, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

pub(crate) const EXAMPLES: &str = "Examples:
  oras-modelsig push ./model localhost:5000/models/demo:v1 --signature model.sig
  oras-modelsig verify key localhost:5000/models/demo:v1 --public_key key.pub
  oras-modelsig pull localhost:5000/models/demo:v1 -o ./pulled --public_key key.pub --include '*.json'
  oras-modelsig discover localhost:5000/models/demo:v1 --format json

Exit codes: 0 success/verified, 1 verification failed, 2 bad usage, unreadable input or registry error.";

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Push a model directory as a ModelPack artifact (one raw layer per file); with
    /// --signature, check it against the files and attach it.
    #[command(
        after_help = "Example:\n  oras-modelsig push ./model localhost:5000/models/demo:v1 --signature model.sig"
    )]
    Push {
        /// The model directory.
        model: PathBuf,
        /// Target reference (host[:port]/repository:tag).
        reference: String,
        /// model.sig to check against the files and attach.
        #[arg(long)]
        signature: Option<PathBuf>,
        /// Packaging convention.
        #[arg(long, value_enum, default_value = "modelpack")]
        format: PackFormat,
        /// Layer format.
        #[arg(long = "layer-format", value_enum, default_value = "raw")]
        layer_format: PackLayerFormat,
        #[command(flatten)]
        hashing: HashingArgs,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Copy a model (and its attached signatures) from an OCI layout to a registry.
    #[command(after_help = "Example:\n  oras-modelsig copy oci:./layout:v1 localhost:5000/models/demo:v1")]
    Copy {
        /// Source layout: oci:PATH[:TAG].
        source: String,
        /// Target reference.
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Write model.sig and an annotation file for `oras attach`, and print that command.
    #[command(after_help = "Example:\n  oras-modelsig bundle --signature model.sig -o attach-dir")]
    Bundle {
        /// The signature.
        #[arg(long)]
        signature: PathBuf,
        /// Output directory.
        #[arg(short, long = "output-dir")]
        output_dir: PathBuf,
        /// The reference to print in the oras command.
        #[arg(long, default_value = "REF")]
        reference: String,
    },
    /// Attach a model.sig to a model in a registry (referrers API, or the tag fallback).
    #[command(
        after_help = "Example:\n  oras-modelsig attach localhost:5000/models/demo:v1 --signature model.sig"
    )]
    Attach {
        /// Target reference.
        reference: String,
        /// The signature.
        #[arg(long)]
        signature: PathBuf,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List model signatures attached to a reference.
    #[command(
        after_help = "Examples:\n  oras-modelsig discover localhost:5000/models/demo:v1 --format json\n  oras-modelsig discover localhost:5000/models/demo:v1 --verify --policy policy.toml\n\nWith --verify, exit 1 when the policy rule is enforce and its signers did not verify\nwhat it requires (any: one attachment; all: one per signer)."
    )]
    Discover {
        /// Target reference.
        reference: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// Also verify each attached signature and attestation against the trust policy's
        /// signers for this repository, and show who signed what and when.
        #[arg(long)]
        verify: bool,
        /// Trust policy file for --verify (default: $MODELSIG_POLICY,
        /// $XDG_CONFIG_HOME/modelsig/policy.toml, /etc/modelsig/policy.toml).
        #[arg(long, requires = "verify")]
        policy: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Verify a model in a registry: manifest + signature only (raw layers by digest). With
    /// no method, the trust policy decides who must have signed.
    #[command(
        after_help = "Examples:\n  oras-modelsig verify key localhost:5000/models/demo:v1 --public_key key.pub\n  oras-modelsig verify localhost:5000/models/demo:v1 --policy policy.toml",
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Verify {
        #[command(subcommand)]
        method: Option<RemoteVerify>,
        #[command(flatten)]
        by_policy: PolicyVerifyArgs,
    },
    /// Trust policy files.
    #[command(after_help = "Example:\n  oras-modelsig policy check ~/.config/modelsig/policy.toml")]
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Pull a signed model (or the files matching --include), verifying each as it streams.
    #[command(
        after_help = "Example:\n  oras-modelsig pull localhost:5000/models/demo:v1 -o out --public_key key.pub --include 'config.json'"
    )]
    Pull {
        /// Target reference.
        reference: String,
        /// Output directory.
        #[arg(short, long = "output-dir")]
        output_dir: PathBuf,
        /// Only these files (glob; repeatable): partial verification.
        #[arg(long)]
        include: Vec<String>,
        #[command(flatten)]
        trust: AnyTrust,
        /// Trust policy file (used when no trust flags are given; default: $MODELSIG_POLICY,
        /// $XDG_CONFIG_HOME/modelsig/policy.toml, /etc/modelsig/policy.toml).
        #[arg(long)]
        policy: Option<PathBuf>,
        #[command(flatten)]
        hashing: HashingArgs,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Sign a model already in a registry (raw layers are not downloaded).
    #[command(
        after_help = "Example:\n  oras-modelsig sign key localhost:5000/models/demo:v1 --private_key key.pem --attach"
    )]
    Sign {
        #[command(subcommand)]
        method: RemoteSign,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  oras-modelsig completions bash > /etc/bash_completion.d/oras-modelsig"
    )]
    Completions {
        /// Target shell.
        shell: clap_complete::Shell,
    },
}

/// `verify REF` under the trust policy.
#[derive(clap::Args)]
pub(crate) struct PolicyVerifyArgs {
    /// Target reference.
    #[arg(required = true)]
    pub(crate) reference: Option<String>,
    /// Trust policy file (default: $MODELSIG_POLICY, $XDG_CONFIG_HOME/modelsig/policy.toml,
    /// /etc/modelsig/policy.toml).
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// Also stream tar layers to check their files.
    #[arg(long)]
    pub(crate) deep: bool,
    /// Tolerate layer files that were not signed.
    #[arg(long = "ignore_unsigned_files")]
    pub(crate) ignore_unsigned_files: bool,
    #[command(flatten)]
    pub(crate) hashing: HashingArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `policy …`.
#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Check a policy file (syntax, globs, every key and certificate it names) and print the
    /// rules it holds.
    Check {
        /// The policy file.
        file: PathBuf,
    },
}

/// Arguments of `verify <method>`.
#[derive(clap::Args)]
pub(crate) struct VerifyArgs<T: clap::Args> {
    #[command(flatten)]
    pub(crate) trust: T,
    /// Target reference.
    pub(crate) reference: String,
    /// Also stream tar layers to check their files.
    #[arg(long)]
    pub(crate) deep: bool,
    /// Tolerate layer files that were not signed.
    #[arg(long = "ignore_unsigned_files")]
    pub(crate) ignore_unsigned_files: bool,
    #[command(flatten)]
    pub(crate) hashing: HashingArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

#[derive(Subcommand)]
pub(crate) enum RemoteVerify {
    /// With a public key.
    #[command(
        after_help = "Example:\n  oras-modelsig verify key localhost:5000/models/demo:v1 --public_key key.pub"
    )]
    Key(VerifyArgs<KeyTrust>),
    /// With trusted certificates.
    #[command(
        after_help = "Example:\n  oras-modelsig verify certificate localhost:5000/models/demo:v1 --certificate_chain ca.pem"
    )]
    Certificate(VerifyArgs<CertificateTrust>),
    /// Sigstore keyless, offline.
    #[command(
        after_help = "Example:\n  oras-modelsig verify sigstore localhost:5000/models/demo:v1 --identity me@example.com \\\n      --identity_provider https://accounts.google.com --trust_config trust_config.json"
    )]
    Sigstore(VerifyArgs<SigstoreTrust>),
}

/// Arguments of `sign <method>`.
#[derive(clap::Args)]
pub(crate) struct SignArgs<M: clap::Args> {
    #[command(flatten)]
    pub(crate) material: M,
    /// Target reference.
    pub(crate) reference: String,
    /// Where to write the signature.
    #[arg(long, default_value = "model.sig")]
    pub(crate) signature: PathBuf,
    /// Also attach the signature to the model.
    #[arg(long)]
    pub(crate) attach: bool,
    #[command(flatten)]
    pub(crate) hashing: HashingArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Subcommand)]
pub(crate) enum RemoteSign {
    /// With a private key.
    #[command(
        after_help = "Example:\n  oras-modelsig sign key localhost:5000/models/demo:v1 --private_key key.pem --attach"
    )]
    Key(SignArgs<KeyMaterial>),
    /// With a key and certificate chain.
    #[command(
        after_help = "Example:\n  oras-modelsig sign certificate localhost:5000/models/demo:v1 --private_key key.pem \\\n      --signing_certificate cert.pem --certificate_chain chain.pem --attach"
    )]
    Certificate(SignArgs<CertificateMaterial>),
    /// Sigstore keyless.
    #[command(
        after_help = "Example:\n  oras-modelsig sign sigstore localhost:5000/models/demo:v1 --identity_token \"$TOKEN\" --attach"
    )]
    Sigstore(SignArgs<SigstoreMaterial>),
}
