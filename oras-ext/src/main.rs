//! `oras-modelsig`: model signatures on OCI registries. Pushes models as ModelPack
//! artifacts, attaches `model.sig` as an OCI 1.1 referrer that `oras` and `cosign`
//! understand, verifies from the manifest and signature only, and pulls with every file
//! checked as it streams. All registry and format logic lives in `modelsig-common`.

use clap::{CommandFactory, Parser, Subcommand};
use modelsig_common::ModelRef;
use modelsig_common::cli::{
    AnyTrust, CertificateMaterial, CertificateTrust, HashingArgs, KeyMaterial, KeyTrust, OutputArgs,
    RegistryArgs, SigstoreMaterial, SigstoreTrust,
};
use modelsig_common::crypto::signature::TrustPolicy;
use modelsig_common::crypto::signing::sign_manifest;
use modelsig_common::errors::Error;
use modelsig_common::io::write_atomic;
use modelsig_common::ops::report::OutputFormat;
use modelsig_common::packaging::write::{PackFormat, PackLayerFormat};
use modelsig_common::registry::model as remote;
use modelsig_common::registry::{Client, Reference};
use std::path::PathBuf;

/// Attach model signatures to OCI models and verify them from the registry.
#[derive(Parser)]
#[command(name = "oras-modelsig", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  oras-modelsig push ./model localhost:5000/models/demo:v1 --signature model.sig
  oras-modelsig verify key localhost:5000/models/demo:v1 --public_key key.pub
  oras-modelsig pull localhost:5000/models/demo:v1 -o ./pulled --public_key key.pub --include '*.json'
  oras-modelsig discover localhost:5000/models/demo:v1 --format json

Exit codes: 0 success/verified, 1 verification failed, 2 bad usage, unreadable input or registry error.";

#[derive(Subcommand)]
enum Command {
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
    #[command(after_help = "Example:\n  oras-modelsig discover localhost:5000/models/demo:v1 --format json")]
    Discover {
        /// Target reference.
        reference: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Verify a model in a registry: manifest + signature only (raw layers by digest).
    #[command(
        after_help = "Example:\n  oras-modelsig verify key localhost:5000/models/demo:v1 --public_key key.pub"
    )]
    Verify {
        #[command(subcommand)]
        method: RemoteVerify,
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

/// Arguments of `verify <method>`.
#[derive(clap::Args)]
struct VerifyArgs<T: clap::Args> {
    #[command(flatten)]
    trust: T,
    /// Target reference.
    reference: String,
    /// Also stream tar layers to check their files.
    #[arg(long)]
    deep: bool,
    /// Tolerate layer files that were not signed.
    #[arg(long = "ignore_unsigned_files")]
    ignore_unsigned_files: bool,
    #[command(flatten)]
    hashing: HashingArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Subcommand)]
enum RemoteVerify {
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
struct SignArgs<M: clap::Args> {
    #[command(flatten)]
    material: M,
    /// Target reference.
    reference: String,
    /// Where to write the signature.
    #[arg(long, default_value = "model.sig")]
    signature: PathBuf,
    /// Also attach the signature to the model.
    #[arg(long)]
    attach: bool,
    #[command(flatten)]
    hashing: HashingArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Subcommand)]
enum RemoteSign {
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

fn parse_ref(s: &str) -> Result<Reference, Error> {
    Ok(Reference::parse(s)?)
}

fn print(format: OutputFormat, json: serde_json::Value, text: String) {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default()),
        OutputFormat::Text => println!("{text}"),
    }
}

fn verify(
    args: &VerifyArgs<impl clap::Args>,
    policy: Result<TrustPolicy, Error>,
) -> Result<i32, (Error, OutputFormat)> {
    let fmt = args.output.output;
    let fail = |e: Error| (e, fmt);
    let policy = policy.map_err(fail)?;
    let r = parse_ref(&args.reference).map_err(fail)?;
    let client = Client::new(&r.registry, args.registry.options());
    let opts = modelsig_common::RemoteVerifyOptions {
        deep: args.deep,
        ignore_unsigned_files: args.ignore_unsigned_files,
    };
    let report =
        modelsig_common::verify_remote(&r, &client, &policy, &args.hashing.options(), &opts).map_err(fail)?;
    let text = report.render(fmt);
    if report.verified || fmt == OutputFormat::Json {
        print!("{text}");
        if report.verified && fmt == OutputFormat::Text {
            println!(
                "  pinned {} ; {} bytes transferred",
                report.subject.as_deref().unwrap_or("?"),
                report.bytes_transferred.unwrap_or(0)
            );
        }
    } else {
        eprint!("{text}");
    }
    Ok(report.exit_code())
}

fn sign(
    args: &SignArgs<impl clap::Args>,
    material: Result<modelsig_common::crypto::signing::SigningMaterial, Error>,
) -> Result<i32, (Error, OutputFormat)> {
    let fail = |e: Error| (e, OutputFormat::Text);
    let material = material.map_err(fail)?;
    let r = parse_ref(&args.reference).map_err(fail)?;
    let client = Client::new(&r.registry, args.registry.options());
    let (manifest, subject) = remote::remote_manifest(&r, &client, &args.hashing.options()).map_err(fail)?;
    let bundle = sign_manifest(&manifest, &material).map_err(fail)?;
    let json = bundle.to_json();
    write_atomic(&args.signature, &json).map_err(|e| fail(e.into()))?;
    println!(
        "Signing succeeded: {} resources of {} ({}) -> {}",
        manifest.len(),
        r,
        subject.digest_str,
        args.signature.display()
    );
    if args.attach {
        let pinned = r.pinned(&subject.digest().map_err(|e| fail(e.into()))?);
        let (_, desc) = remote::attach(&pinned, &json, &client).map_err(fail)?;
        println!("Attached as {}", desc.digest_str);
    }
    Ok(0)
}

fn run(cli: Cli) -> Result<i32, (Error, OutputFormat)> {
    match cli.command {
        Command::Push { model, reference, signature, format, layer_format, hashing, registry, output } => {
            let fmt = output.output;
            let fail = |e: Error| (e, fmt);
            let r = parse_ref(&reference).map_err(fail)?;
            let tmp =
                tempfile::tempdir().map_err(|e| fail(Error::Usage(format!("temporary directory: {e}"))))?;
            let layout_dir = tmp.path().join("layout");
            let layer_format =
                if format == PackFormat::Modelkit { PackLayerFormat::Tar } else { layer_format };
            let (packed, _) = modelsig_common::packaging::write::pack(
                &model,
                &layout_dir,
                Some("push"),
                format,
                layer_format,
                &hashing.options(),
                signature.as_deref(),
            )
            .map_err(fail)?;
            let layout = modelsig_common::oci::OciLayout::open(&layout_dir).map_err(|e| fail(e.into()))?;
            let index = layout.index().map_err(|e| fail(e.into()))?;
            let desc = layout.resolve(&index, Some("push")).map_err(|e| fail(e.into()))?;
            let client = Client::new(&r.registry, registry.options());
            let pushed = remote::push_layout(&layout, &desc, &r, &client).map_err(fail)?;
            print(
                fmt,
                serde_json::json!({ "pack": packed, "push": pushed }),
                format!(
                    "Pushed {} to {} as {} ({} layers, {} blobs uploaded){}",
                    model.display(),
                    r,
                    pushed.digest,
                    packed.layers,
                    pushed.uploaded_blobs,
                    if pushed.referrers.is_empty() {
                        String::new()
                    } else {
                        format!("; signature attached as {}", pushed.referrers.join(", "))
                    }
                ),
            );
            Ok(0)
        }
        Command::Copy { source, reference, registry, output } => {
            let fmt = output.output;
            let fail = |e: Error| (e, fmt);
            let ModelRef::OciLayout { path, reference: tag } = ModelRef::parse(&source) else {
                return Err(fail(Error::Usage(format!("{source}: expected oci:PATH[:TAG]"))));
            };
            let layout = modelsig_common::oci::OciLayout::open(&path).map_err(|e| fail(e.into()))?;
            let index = layout.index().map_err(|e| fail(e.into()))?;
            let desc = layout.resolve(&index, tag.as_deref()).map_err(|e| fail(e.into()))?;
            let r = parse_ref(&reference).map_err(fail)?;
            let client = Client::new(&r.registry, registry.options());
            let pushed = remote::push_layout(&layout, &desc, &r, &client).map_err(fail)?;
            print(
                fmt,
                serde_json::to_value(&pushed).unwrap_or_default(),
                format!("Copied {source} to {r} as {}", pushed.digest),
            );
            Ok(0)
        }
        Command::Bundle { signature, output_dir, reference } => {
            let fail = |e: Error| (e, OutputFormat::Text);
            let bytes = std::fs::read(&signature).map_err(|source| {
                fail(modelsig_common::errors::SourceError::Io { path: signature.clone(), source }.into())
            })?;
            modelsig_common::formats::bundle::Bundle::from_json(&bytes, &signature.display().to_string())
                .map_err(|e| fail(Error::Format(e)))?;
            let out_err = |source| {
                fail(modelsig_common::errors::OutputError { path: output_dir.clone(), source }.into())
            };
            std::fs::create_dir_all(&output_dir).map_err(out_err)?;
            write_atomic(&output_dir.join("model.sig"), &bytes).map_err(|e| fail(e.into()))?;
            let annotations = serde_json::json!({ "$manifest": {
                modelsig_common::oci::referrer::ANNOTATION_CONTENT: "dsse-envelope",
                modelsig_common::oci::referrer::ANNOTATION_PREDICATE_TYPE: modelsig_common::formats::predicate::PREDICATE_V1,
            }});
            let ann_path = output_dir.join("annotations.json");
            write_atomic(&ann_path, &serde_json::to_vec_pretty(&annotations).unwrap_or_default())
                .map_err(|e| fail(e.into()))?;
            let mt = modelsig_common::oci::referrer::BUNDLE_MEDIA_TYPE;
            println!(
                "(cd {} && oras attach --artifact-type {mt} --annotation-file annotations.json {reference} model.sig:{mt})",
                output_dir.display()
            );
            Ok(0)
        }
        Command::Attach { reference, signature, registry, output } => {
            let fmt = output.output;
            let fail = |e: Error| (e, fmt);
            let r = parse_ref(&reference).map_err(fail)?;
            let bytes = std::fs::read(&signature).map_err(|source| {
                fail(modelsig_common::errors::SourceError::Io { path: signature.clone(), source }.into())
            })?;
            let client = Client::new(&r.registry, registry.options());
            let (subject, desc) = remote::attach(&r, &bytes, &client).map_err(fail)?;
            print(
                fmt,
                serde_json::json!({ "subject": subject, "referrer": desc }),
                format!(
                    "Attached {} to {r} ({}) as {}",
                    signature.display(),
                    subject.digest_str,
                    desc.digest_str
                ),
            );
            Ok(0)
        }
        Command::Discover { reference, format, registry } => {
            let fail = |e: Error| (e, format);
            let r = parse_ref(&reference).map_err(fail)?;
            let client = Client::new(&r.registry, registry.options());
            let (subject, referrers, api) = remote::discover(&r, &client).map_err(fail)?;
            let json = serde_json::json!({
                "reference": r.to_string(),
                "mediaType": subject.media_type,
                "digest": subject.digest_str,
                "size": subject.size,
                "referrers": referrers,
                "referrersApi": api,
            });
            let mut text = format!("{r} ({})\n", subject.digest_str);
            for d in &referrers {
                text.push_str(&format!(
                    "└── {} {}{}\n",
                    d.artifact_type.as_deref().unwrap_or("?"),
                    d.digest_str,
                    d.annotation(modelsig_common::oci::ANNOTATION_CREATED)
                        .map(|c| format!(" (created {c})"))
                        .unwrap_or_default()
                ));
            }
            print(format, json, text.trim_end().to_owned());
            Ok(0)
        }
        Command::Verify { method } => match &method {
            RemoteVerify::Key(a) => verify(a, a.trust.spec().load()),
            RemoteVerify::Certificate(a) => verify(a, a.trust.spec().load()),
            RemoteVerify::Sigstore(a) => verify(a, a.trust.spec().load()),
        },
        Command::Pull { reference, output_dir, include, trust, hashing, registry, output } => {
            let fmt = output.output;
            let fail = |e: Error| (e, fmt);
            let policy = trust.policy().map_err(fail)?;
            let r = parse_ref(&reference).map_err(fail)?;
            let client = Client::new(&r.registry, registry.options());
            let report =
                modelsig_common::pull(&r, &client, &policy, &output_dir, &include, &hashing.options())
                    .map_err(fail)?;
            print(
                fmt,
                serde_json::to_value(&report).unwrap_or_default(),
                format!(
                    "Pulled {} files of {r} ({}) into {}, each verified against the signature ({} already present, {} bytes transferred)",
                    report.written.len(),
                    report.subject,
                    output_dir.display(),
                    report.already_present.len(),
                    report.bytes_transferred
                ),
            );
            Ok(0)
        }
        Command::Sign { method } => match &method {
            RemoteSign::Key(a) => sign(a, a.material.spec().load()),
            RemoteSign::Certificate(a) => sign(a, a.material.spec().load()),
            RemoteSign::Sigstore(a) => sign(a, a.material.spec().load()),
        },
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "oras-modelsig", &mut std::io::stdout());
            Ok(0)
        }
    }
}

fn main() {
    modelsig_common::cli::exit(run(Cli::parse()))
}
