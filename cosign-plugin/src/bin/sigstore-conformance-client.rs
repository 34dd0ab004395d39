//! `sigstore-conformance-client`: the command line sigstore-conformance drives
//! (`docs/cli_protocol.md` of sigstore/sigstore-conformance), over the library's
//! Sigstore verification (`modelsig_common::crypto::keyless::artifact`). Exit 0 when the
//! bundle verifies, 1 when it does not, 2 on usage errors.
//!
//! Supported: `verify-bundle` (keyless identity + issuer, or `--key`; custom trusted root,
//! the built-in public-good root, or `--staging`; artifact path or `sha256:` digest).
//! `sign-bundle` is not offered yet.

use clap::{Parser, Subcommand};
use modelsig_common::crypto::keyless::artifact::{
    Artifact, Signer, staging_trusted_root, trusted_root, verify_artifact,
};
use std::path::PathBuf;

/// The sigstore-conformance CLI protocol.
#[derive(Parser)]
#[command(name = "sigstore-conformance-client", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  sigstore-conformance-client verify-bundle --bundle a.txt.sigstore.json \\
      --certificate-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com a.txt
  sigstore-conformance-client verify-bundle --bundle b.json --key key.pub --trusted-root root.json sha256:<64 hex>";

#[derive(Subcommand)]
enum Command {
    /// Verify a bundle over a file or a `sha256:` digest.
    VerifyBundle {
        /// Use Sigstore's staging trusted root (unless --trusted-root is given).
        #[arg(long)]
        staging: bool,
        /// The bundle.
        #[arg(long)]
        bundle: PathBuf,
        /// Expected certificate identity (SAN).
        #[arg(long, requires = "certificate_oidc_issuer", conflicts_with = "key")]
        certificate_identity: Option<String>,
        /// Expected OIDC issuer.
        #[arg(long, requires = "certificate_identity")]
        certificate_oidc_issuer: Option<String>,
        /// PEM public key (managed-key bundles).
        #[arg(long, required_unless_present = "certificate_identity")]
        key: Option<PathBuf>,
        /// A trusted root (`TrustedRoot` JSON, or a `ClientTrustConfig`).
        #[arg(long)]
        trusted_root: Option<PathBuf>,
        /// The artifact's path, or `sha256:HEX`.
        file_or_digest: String,
    },
}

fn read(path: &PathBuf, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{what} {}: {e}", path.display()))
}

fn main() {
    let cli = Cli::parse();
    let Command::VerifyBundle {
        staging,
        bundle,
        certificate_identity,
        certificate_oidc_issuer,
        key,
        trusted_root: root_path,
        file_or_digest,
    } = cli.command;
    let run = || -> anyhow::Result<String> {
        let root = match (&root_path, staging) {
            (Some(p), _) => trusted_root(Some(&read(p, "trusted root")?))?,
            (None, true) => staging_trusted_root()?,
            (None, false) => trusted_root(None)?,
        };
        let signer = match (certificate_identity, certificate_oidc_issuer, key) {
            (_, _, Some(k)) => Signer::Key { pem: read(&k, "public key")? },
            (Some(identity), Some(issuer), None) => Signer::Identity { identity, issuer },
            _ => anyhow::bail!("give --certificate-identity and --certificate-oidc-issuer, or --key"),
        };
        let verified =
            verify_artifact(&read(&bundle, "bundle")?, &Artifact::from_arg(&file_or_digest), &signer, &root)?;
        Ok(match verified.identity {
            Some(id) => format!("OK: {file_or_digest} signed by {id}"),
            None => format!("OK: {file_or_digest} signed by the given key"),
        })
    };
    match run() {
        Ok(msg) => println!("{msg}"),
        Err(e) => {
            eprintln!("FAIL: {e:#}");
            std::process::exit(1);
        }
    }
}
