//! `sigstore-conformance-client`: the command line sigstore-conformance drives
//! (`docs/cli_protocol.md` of sigstore/sigstore-conformance), over the library's
//! Sigstore verification (`modelsig_common::crypto::keyless::artifact`). Exit 0 when the
//! bundle verifies, 1 when it does not, 2 on usage errors.
//!
//! `verify-bundle`: keyless identity + issuer, or `--key`; a custom trusted root, the
//! built-in public-good root, or `--staging`; artifact path or `sha256:` digest.
//! `sign-bundle`: keyless, a message signature over the file (`hashedrekord`) or, with
//! `--in-toto`, a DSSE envelope of the statement; services from `--signing-config` (else
//! public good, or `--staging`), checked against `--trusted-root` before writing.

use clap::{Parser, Subcommand};
use modelsig_common::crypto::keyless::artifact::{
    Artifact, Signer, staging_trusted_root, trusted_root, verify_artifact,
};
use modelsig_common::crypto::keyless::http::HttpTransport;
use modelsig_common::crypto::keyless::signer::{Content, IdentityToken, Services, sign_keyless_content};
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
    /// Sign a file keylessly into a bundle.
    SignBundle {
        /// Use Sigstore's staging services and root (unless given).
        #[arg(long)]
        staging: bool,
        /// FILE is an in-toto statement: sign it as a DSSE envelope.
        #[arg(long)]
        in_toto: bool,
        /// The OIDC identity token.
        #[arg(long)]
        identity_token: String,
        /// Where to write the bundle.
        #[arg(long)]
        bundle: PathBuf,
        /// The trusted root the bundle must verify against.
        #[arg(long)]
        trusted_root: Option<PathBuf>,
        /// The signing config (v0.2) choosing Fulcio, Rekor and TSAs.
        #[arg(long)]
        signing_config: Option<PathBuf>,
        /// The file to sign.
        file: PathBuf,
    },
}

fn read(path: &std::path::Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{what} {}: {e}", path.display()))
}

fn main() {
    let result = match Cli::parse().command {
        Command::VerifyBundle {
            staging,
            bundle,
            certificate_identity,
            certificate_oidc_issuer,
            key,
            trusted_root: root_path,
            file_or_digest,
        } => verify(
            staging,
            &bundle,
            certificate_identity,
            certificate_oidc_issuer,
            key,
            root_path,
            &file_or_digest,
        ),
        Command::SignBundle {
            staging,
            in_toto,
            identity_token,
            bundle,
            trusted_root: root_path,
            signing_config,
            file,
        } => sign(staging, in_toto, &identity_token, &bundle, root_path, signing_config, &file),
    };
    match result {
        Ok(msg) => println!("{msg}"),
        Err(e) => {
            eprintln!("FAIL: {e:#}");
            std::process::exit(1);
        }
    }
}

fn root_for(
    root_path: Option<&PathBuf>,
    staging: bool,
) -> anyhow::Result<modelsig_common::crypto::keyless::trust_root::TrustedRoot> {
    Ok(match (root_path, staging) {
        (Some(p), _) => trusted_root(Some(&read(p, "trusted root")?))?,
        (None, true) => staging_trusted_root()?,
        (None, false) => trusted_root(None)?,
    })
}

fn verify(
    staging: bool,
    bundle: &std::path::Path,
    certificate_identity: Option<String>,
    certificate_oidc_issuer: Option<String>,
    key: Option<PathBuf>,
    root_path: Option<PathBuf>,
    file_or_digest: &str,
) -> anyhow::Result<String> {
    let root = root_for(root_path.as_ref(), staging)?;
    let signer = match (certificate_identity, certificate_oidc_issuer, key) {
        (_, _, Some(k)) => Signer::Key { pem: read(&k, "public key")? },
        (Some(identity), Some(issuer), None) => Signer::Identity { identity, issuer },
        _ => anyhow::bail!("give --certificate-identity and --certificate-oidc-issuer, or --key"),
    };
    let verified =
        verify_artifact(&read(bundle, "bundle")?, &Artifact::from_arg(file_or_digest), &signer, &root)?;
    Ok(match verified.identity {
        Some(id) => format!("OK: {file_or_digest} signed by {id}"),
        None => format!("OK: {file_or_digest} signed by the given key"),
    })
}

fn sign(
    staging: bool,
    in_toto: bool,
    identity_token: &str,
    bundle: &std::path::Path,
    root_path: Option<PathBuf>,
    signing_config: Option<PathBuf>,
    file: &std::path::Path,
) -> anyhow::Result<String> {
    let root = root_for(root_path.as_ref(), staging)?;
    let services = match (&signing_config, staging) {
        (Some(p), _) => {
            let text = read(p, "signing config")?;
            // A bare SigningConfig, or a ClientTrustConfig holding one.
            if text.contains("\"signingConfig\"") {
                Services::from_trust_config(text.as_bytes())?
            } else {
                Services::from_signing_config(&text)?
            }
        }
        (None, true) => Services::staging()?,
        (None, false) => Services::public_good()?,
    };
    let token = IdentityToken::parse(identity_token)?;
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let digest = modelsig_common::formats::digest::sha256(&bytes);
    let content = if in_toto { Content::Statement(&bytes) } else { Content::ArtifactSha256(digest) };
    let transport = HttpTransport::new(std::time::Duration::from_secs(60));
    let signed = sign_keyless_content(content, &token, &services, &transport, &root)?;
    modelsig_common::io::write_atomic(bundle, &signed.to_json()?)?;
    Ok(format!("OK: {} signed into {}", file.display(), bundle.display()))
}
