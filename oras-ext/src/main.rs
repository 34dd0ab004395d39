//! `oras-modelsig`: model signatures on OCI registries (ORAS artifacts, referrers).
//!
//! Placeholder until the registry work lands in `modelsig-common`: it parses its planned
//! command line and says plainly that the commands are not available yet.

use clap::{Parser, Subcommand};

/// Attach model signatures to OCI models and verify them from the registry (not yet available).
#[derive(Parser)]
#[command(name = "oras-modelsig", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push a model directory as a ModelPack artifact.
    Push,
    /// Attach a model.sig to a model in a registry.
    Attach,
    /// List model signatures attached to a reference.
    Discover,
    /// Verify a model in a registry from its manifest and signature.
    Verify,
    /// Pull and verify a model.
    Pull,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let name = match cli.command {
        Command::Push => "push",
        Command::Attach => "attach",
        Command::Discover => "discover",
        Command::Verify => "verify",
        Command::Pull => "pull",
    };
    eprintln!("oras-modelsig {name}: registry support is not implemented in this build yet");
    std::process::exit(modelsig_common::errors::EXIT_USAGE);
}
