//! `oras-modelsig`: model signatures on OCI registries. Pushes models as ModelPack
//! artifacts, attaches `model.sig` as an OCI 1.1 referrer that `oras` and `cosign`
//! understand, verifies from the manifest and signature only, and pulls with every file
//! checked as it streams. All registry and format logic lives in `modelsig-common`.

mod args;

use args::{Cli, Command, PolicyCommand, PolicyVerifyArgs, RemoteSign, RemoteVerify, SignArgs, VerifyArgs};
use clap::{CommandFactory, Parser};
use modelsig_common::ModelRef;
use modelsig_common::cli::RegistryArgs;
use modelsig_common::crypto::signature::TrustPolicy;
use modelsig_common::errors::Error;
use modelsig_common::ops::by_policy::{policy_key, pull_by_policy, verify_by_policy as by_policy_verify};
use modelsig_common::ops::policy::{Mode, Policy, Require};
use modelsig_common::ops::report::OutputFormat;
use modelsig_common::registry::model as remote;
use modelsig_common::registry::{Client, Reference};

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

fn verify_by_policy(args: &PolicyVerifyArgs) -> Result<i32, (Error, OutputFormat)> {
    let fmt = args.output.output;
    let fail = |e: Error| (e, fmt);
    let reference = args.reference.as_deref().unwrap_or_default();
    let r = parse_ref(reference).map_err(fail)?;
    let policy = Policy::discover(args.policy.as_deref()).map_err(fail)?;
    let rule = policy.rule_for(&policy_key(&r)).map_err(fail)?;
    let client = Client::new(&r.registry, args.registry.options());
    let opts = modelsig_common::RemoteVerifyOptions {
        deep: args.deep,
        ignore_unsigned_files: args.ignore_unsigned_files,
    };
    let (report, decision) =
        by_policy_verify(&r, &client, rule, &policy.path, &args.hashing.options(), &opts).map_err(fail)?;
    Ok(modelsig_common::cli::print_policy_outcome(&report, &decision, fmt))
}

/// `discover --verify`: every attachment with the policy signer that verified it.
fn discover_verified(
    reference: &str,
    fmt: OutputFormat,
    registry: &RegistryArgs,
    policy: Option<&std::path::Path>,
) -> Result<i32, (Error, OutputFormat)> {
    let fail = |e: Error| (e, fmt);
    let r = parse_ref(reference).map_err(fail)?;
    let policy = Policy::discover(policy).map_err(fail)?;
    let rule = policy.rule_for(&policy_key(&r)).map_err(fail)?;
    let client = Client::new(&r.registry, registry.options());
    let attached = modelsig_common::attest::discover::discover_verified(&r, &client, rule).map_err(fail)?;
    let verified_by: std::collections::BTreeSet<&str> =
        attached.iter().filter_map(|a| a.verified_by.as_deref()).collect();
    let satisfied = match rule.require {
        Require::Any => !verified_by.is_empty(),
        Require::All => rule.signers.iter().all(|s| verified_by.contains(s.describe.as_str())),
    };
    let code = if rule.mode == Mode::Enforce && !satisfied { 1 } else { 0 };
    if fmt == OutputFormat::Json {
        let json = serde_json::json!({
            "reference": r.to_string(),
            "policy": policy.path.display().to_string(),
            "rule": rule.pattern,
            "mode": rule.mode,
            "satisfied": satisfied,
            "attached": attached,
        });
        println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
        return Ok(code);
    }
    println!("{r}  (policy {}: rule `{}`, {})", policy.path.display(), rule.pattern, rule.mode);
    for a in &attached {
        println!(
            "└── {} {}{}",
            a.predicate_type.as_deref().unwrap_or("?"),
            a.location,
            a.created.as_deref().map(|c| format!(" (created {c})")).unwrap_or_default()
        );
        match (&a.signer, &a.verified_by, &a.problem) {
            (Some(s), Some(by), _) => println!("      verified: {s} (policy signer {by})"),
            (_, _, Some(p)) => println!("      NOT verified: {p}"),
            _ => println!("      NOT verified"),
        }
    }
    if attached.is_empty() {
        println!("└── (no signatures or attestations attached)");
    }
    let need = if rule.require == Require::All { "every policy signer" } else { "one policy signer" };
    if satisfied {
        println!("policy satisfied: {need} verified an attachment");
    } else {
        println!("policy NOT satisfied: {need} must verify an attachment");
    }
    Ok(code)
}

fn sign(
    args: &SignArgs<impl clap::Args>,
    material: Result<modelsig_common::crypto::signing::SigningMaterial, Error>,
) -> Result<i32, (Error, OutputFormat)> {
    let fail = |e: Error| (e, OutputFormat::Text);
    let material = material.map_err(fail)?;
    let r = parse_ref(&args.reference).map_err(fail)?;
    let client = Client::new(&r.registry, args.registry.options());
    let rep = modelsig_common::ops::remote::sign_remote(
        &r,
        &client,
        &material,
        &args.hashing.options(),
        &args.signature,
        args.attach,
    )
    .map_err(fail)?;
    println!(
        "Signing succeeded: {} resources of {r} ({}) -> {}",
        rep.resources,
        rep.subject,
        args.signature.display()
    );
    if let Some(d) = rep.attached {
        println!("Attached as {d}");
    }
    Ok(0)
}

fn run(cli: Cli) -> Result<i32, (Error, OutputFormat)> {
    match cli.command {
        Command::Push { model, reference, signature, format, layer_format, hashing, registry, output } => {
            let fmt = output.output;
            let fail = |e: Error| (e, fmt);
            let r = parse_ref(&reference).map_err(fail)?;
            let client = Client::new(&r.registry, registry.options());
            let opts = hashing.options();
            let rep =
                remote::push_dir(&model, &r, &client, format, layer_format, &opts, signature.as_deref())
                    .map_err(fail)?;
            let (packed, pushed) = (&rep.pack, &rep.push);
            print(
                fmt,
                serde_json::to_value(&rep).unwrap_or_default(),
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
            let r = parse_ref(&reference).map_err(fail)?;
            let client = Client::new(&r.registry, registry.options());
            let pushed = remote::copy_layout(&path, tag.as_deref(), &r, &client, false).map_err(fail)?;
            print(
                fmt,
                serde_json::to_value(&pushed).unwrap_or_default(),
                format!("Copied {source} to {r} as {}", pushed.digest),
            );
            Ok(0)
        }
        Command::Bundle { signature, output_dir, reference } => {
            let cmd =
                modelsig_common::oci::referrer::write_oras_attach_files(&signature, &output_dir, &reference)
                    .map_err(|e| (e, OutputFormat::Text))?;
            println!("{cmd}");
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
        Command::Discover { reference, format, registry, verify: true, policy } => {
            discover_verified(&reference, format, &registry, policy.as_deref())
        }
        Command::Discover { reference, format, registry, verify: false, .. } => {
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
        Command::Verify { method, by_policy } => match &method {
            Some(RemoteVerify::Key(a)) => verify(a, a.trust.spec().load()),
            Some(RemoteVerify::Certificate(a)) => verify(a, a.trust.spec().load()),
            Some(RemoteVerify::Sigstore(a)) => verify(a, a.trust.spec().load()),
            None => verify_by_policy(&by_policy),
        },
        Command::Policy { command: PolicyCommand::Check { file } } => {
            let policy = Policy::load(&file).map_err(|e| (e, OutputFormat::Text))?;
            println!("{}: {} rule(s), first match wins", policy.path.display(), policy.rules.len());
            for (i, r) in policy.rules.iter().enumerate() {
                let require = if r.require == Require::All { "all of" } else { "any of" };
                println!("  {}. {} -> {}, {require}:", i + 1, r.pattern, r.mode);
                for s in &r.signers {
                    println!("       {}", s.describe);
                }
            }
            Ok(0)
        }
        Command::Pull { reference, output_dir, include, trust, policy, hashing, registry, output } => {
            let fmt = output.output;
            let fail = |e: Error| (e, fmt);
            let r = parse_ref(&reference).map_err(fail)?;
            let client = Client::new(&r.registry, registry.options());
            if trust.is_empty() {
                let policy = Policy::discover(policy.as_deref()).map_err(fail)?;
                let rule = policy.rule_for(&policy_key(&r)).map_err(fail)?;
                let (report, decision) = pull_by_policy(
                    &r,
                    &client,
                    rule,
                    &policy.path,
                    &output_dir,
                    &include,
                    &hashing.options(),
                )
                .map_err(fail)?;
                if let Some(p) = &decision.problem {
                    eprintln!("warning: policy rule `{}` ({}): {p}", decision.pattern, decision.mode);
                }
                let checked = if decision.signers.is_empty() {
                    "each blob checked against its digest only".to_owned()
                } else {
                    format!("each verified against the signature by {}", decision.signers.join(", "))
                };
                let mut json = serde_json::to_value(&report).unwrap_or_default();
                json["policy"] = serde_json::to_value(&decision).unwrap_or_default();
                print(
                    fmt,
                    json,
                    format!(
                        "Pulled {} files of {r} ({}) into {}, {checked} (policy rule `{}`)",
                        report.written.len(),
                        report.subject,
                        output_dir.display(),
                        decision.pattern
                    ),
                );
                return Ok(0);
            }
            let policy = trust.policy().map_err(fail)?;
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
