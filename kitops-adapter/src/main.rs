//! `modelsig-translate`: sign and verify models exactly like model_signing, with the same
//! subcommands and flags. All format and crypto logic lives in `modelsig-common`.

use clap::{CommandFactory, Parser, Subcommand};
use modelsig_common::ModelRef;
use modelsig_common::cli::{HashingArgs, PolicyVerifyCommon, SerializationArgs, SignCommand, VerifyCommand};
use modelsig_common::errors::Error;
use modelsig_common::ops::by_policy::policy_key_for_model;
use modelsig_common::ops::policy::{Policy, decide};
use modelsig_common::ops::report::OutputFormat;

use modelsig_common::packaging::write::{self, PackFormat, PackLayerFormat};

/// Sign and verify ML models, byte-compatible with model_signing (sigstore model-transparency).
#[derive(Parser)]
#[command(name = "modelsig-translate", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  modelsig-translate sign key ./model --private_key key.pem --signature model.sig
  modelsig-translate verify key ./model --public_key key.pub --signature model.sig
  modelsig-translate verify sigstore ./model --identity me@example.com \\
      --identity_provider https://accounts.google.com --signature model.sig
  modelsig-translate manifest ./model

Exit codes: 0 verified/succeeded, 1 verification failed, 2 bad usage or unreadable input.";

#[derive(Subcommand)]
enum Command {
    /// Sign a model (writes a Sigstore bundle like `model_signing sign`).
    #[command(
        after_help = "Example:\n  modelsig-translate sign key ./model --private_key key.pem --signature model.sig"
    )]
    Sign {
        #[command(subcommand)]
        method: SignCommand,
    },
    /// Verify a model against a signature (like `model_signing verify`).
    #[command(
        after_help = "Examples:\n  modelsig-translate verify key oci:./layout:v1 --public_key key.pub --signature model.sig\n  modelsig-translate verify registry:localhost:5000/models/demo:v1 --signature model.sig --policy policy.toml",
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Verify {
        #[command(subcommand)]
        method: Option<VerifyCommand>,
        #[command(flatten)]
        by_policy: PolicyVerifyCommon,
    },
    /// Print the manifest (resources and digests model_signing would sign) as JSON.
    #[command(after_help = "Example:\n  modelsig-translate manifest ./model > manifest.json")]
    Manifest {
        /// The model: a directory or a single file.
        #[arg(value_name = "MODEL")]
        model: String,
        #[command(flatten)]
        hashing: HashingArgs,
        #[command(flatten)]
        serialization: SerializationArgs,
    },
    /// Pack a model directory into an OCI image layout (ModelPack or ModelKit), optionally
    /// checking a model.sig against the files in the same pass and attaching it as a referrer.
    #[command(
        after_help = "Examples:\n  modelsig-translate pack ./model -o oci:./layout:v1\n  modelsig-translate pack ./model -o oci:./layout:v1 --format modelkit --signature model.sig"
    )]
    Pack {
        /// The model directory.
        #[arg(value_name = "MODEL_DIR")]
        model: std::path::PathBuf,
        /// Output layout: oci:PATH[:TAG].
        #[arg(short, long, value_name = "oci:PATH[:TAG]")]
        output: String,
        /// Packaging convention.
        #[arg(long, value_enum, default_value = "modelpack")]
        format: PackFormat,
        /// Layer format (ModelKits always use tar).
        #[arg(long = "layer-format", value_enum, default_value = "raw")]
        layer_format: PackLayerFormat,
        /// A model.sig to check against the files and attach to the packed model.
        #[arg(long, value_name = "SIGNATURE_PATH")]
        signature: Option<std::path::PathBuf>,
        #[command(flatten)]
        hashing: HashingArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  modelsig-translate completions bash > /etc/bash_completion.d/modelsig-translate"
    )]
    Completions {
        /// Target shell.
        shell: clap_complete::Shell,
    },
}

fn run(cli: Cli) -> Result<i32, (Error, OutputFormat)> {
    match cli.command {
        Command::Sign { method } => {
            let (common, material) = method.parts();
            let format = common.output.output;
            let fail = |e: Error| (e, format);
            let material = material.map_err(fail)?;
            let ser = common.serialization.serialization().map_err(fail)?;
            let report = modelsig_common::sign_model(
                &ModelRef::parse(&common.model),
                &common.signature,
                &material,
                &common.hashing.options(),
                ser,
            )
            .map_err(fail)?;
            print!("{}", report.render(format));
            Ok(0)
        }
        Command::Verify { method: None, by_policy } => {
            let format = by_policy.output.output;
            let fail = |e: Error| (e, format);
            let model = by_policy.model.clone().unwrap_or_default();
            let policy = Policy::discover(by_policy.policy.as_deref()).map_err(fail)?;
            let rule = policy.rule_for(&policy_key_for_model(&model).map_err(fail)?).map_err(fail)?;
            let (report, decision) = decide(rule, &policy.path, &model, |trust| {
                modelsig_common::verify_model(
                    &ModelRef::parse(&model),
                    by_policy.signature.as_deref(),
                    trust,
                    &by_policy.hashing.options(),
                    by_policy.ignore_unsigned_files,
                )
            })
            .map_err(fail)?;
            Ok(modelsig_common::cli::print_policy_outcome(&report, &decision, format))
        }
        Command::Verify { method: Some(method), .. } => {
            let (common, policy) = method.parts();
            let format = common.output.output;
            let policy = policy.map_err(|e| (e, format))?;
            let report = modelsig_common::verify_model(
                &ModelRef::parse(&common.model),
                common.signature.as_deref(),
                &policy,
                &common.hashing.options(),
                common.ignore_unsigned_files,
            )
            .map_err(|e| (e, format))?;
            let text = report.render(format);
            if report.verified || format == OutputFormat::Json {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
            Ok(report.exit_code())
        }
        Command::Manifest { model, hashing, serialization } => {
            let fail = |e: Error| (e, OutputFormat::Json);
            let ser = serialization.serialization().map_err(fail)?;
            let m = modelsig_common::compute_manifest(&ModelRef::parse(&model), &hashing.options(), ser)
                .map_err(fail)?;
            println!("{}", serde_json::to_string_pretty(&m.to_json()).unwrap_or_default());
            Ok(0)
        }
        Command::Pack { model, output, format, layer_format, signature, hashing, json } => {
            let fmt = if json { OutputFormat::Json } else { OutputFormat::Text };
            let fail = |e: Error| (e, fmt);
            let ModelRef::OciLayout { path, reference } = ModelRef::parse(&output) else {
                return Err(fail(Error::Usage(format!("-o {output}: expected oci:PATH[:TAG]"))));
            };
            if reference.as_deref().is_some_and(|r| r.starts_with('@')) {
                return Err(fail(Error::Usage("-o takes a tag, not a digest".into())));
            }
            let layer_format =
                if format == PackFormat::Modelkit { PackLayerFormat::Tar } else { layer_format };
            let (report, _) = write::pack(
                &model,
                &path,
                reference.as_deref(),
                format,
                layer_format,
                &hashing.options(),
                signature.as_deref(),
            )
            .map_err(fail)?;
            match fmt {
                OutputFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default())
                }
                OutputFormat::Text => println!(
                    "Packed {} ({} layers, {} bytes) into {} as {}{}",
                    model.display(),
                    report.layers,
                    report.bytes,
                    output,
                    report.manifest_digest,
                    report
                        .signature_referrer
                        .as_deref()
                        .map(|d| format!("; signature attached as {d}"))
                        .unwrap_or_default()
                ),
            }
            Ok(0)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "modelsig-translate", &mut std::io::stdout());
            Ok(0)
        }
    }
}

fn main() {
    modelsig_common::cli::exit(run(Cli::parse()))
}
