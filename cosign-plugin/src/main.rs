//! `cosign-modelsig`: model attestations in cosign's storage formats.
//!
//! Placeholder until the attestation work lands in `modelsig-common`: it parses its planned
//! command line and says plainly that the commands are not available yet.

use clap::{Parser, Subcommand};

/// Model attestations that `cosign verify-attestation` accepts (not yet available).
#[derive(Parser)]
#[command(name = "cosign-modelsig", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the model_signing predicate for `cosign attest --predicate`.
    Predicate,
    /// Attest a model in a registry.
    Attest,
    /// Verify a model attestation and the files it lists.
    VerifyAttestation,
    /// Check `cosign verify-attestation` output against a model.
    Check,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let name = match cli.command {
        Command::Predicate => "predicate",
        Command::Attest => "attest",
        Command::VerifyAttestation => "verify-attestation",
        Command::Check => "check",
    };
    eprintln!("cosign-modelsig {name}: attestations are not implemented in this build yet");
    std::process::exit(modelsig_common::errors::EXIT_USAGE);
}
