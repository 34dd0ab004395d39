//! Verify and pull a model in a registry under the trust policy ([`crate::ops::policy`]):
//! the first rule matching `registry/repository` decides which signers count, and its mode
//! what happens when none of them signed — `enforce` fails (nothing written), `warn` goes on
//! with a warning (files still checked against a signature that verifies), `off` does not
//! check. Every result names the rule and the signer that verified.

use crate::errors::{Error, SignatureError};
use crate::hashing::source::HashOptions;
use crate::ops::policy::{Mode, PolicyDecision, Require, Rule};
use crate::ops::remote::{
    PullReport, RemoteSignature, RemoteVerifyOptions, pull_unverified, pull_verified, verified_signature,
    verify_files,
};
use crate::ops::report::VerifyReport;
use crate::registry::client::Client;
use crate::registry::reference::Reference;
use std::path::Path;
use std::time::Instant;

/// The string registry rules match: `registry/repository` (tag and digest left out).
pub fn policy_key(r: &Reference) -> String {
    format!("{}/{}", r.registry, r.repository)
}

/// The string rules match for a model reference: `registry/repository` for `registry:`
/// references, the reference as written otherwise (`oci:PATH[:TAG]`, `kit:REF`, a path).
pub fn policy_key_for_model(model: &str) -> Result<String, Error> {
    match model.strip_prefix("registry:") {
        Some(r) => Ok(policy_key(&Reference::parse(r)?)),
        None => Ok(model.to_owned()),
    }
}

/// The signatures the rule's signers made: the one whose files are checked, and the signers
/// that verified; or why the rule is not satisfied.
fn signatures_by_rule<'c>(
    target: &Reference,
    client: &'c Client,
    rule: &Rule,
) -> Result<(RemoteSignature<'c>, Vec<String>), Error> {
    let mut first = None;
    let mut verified = Vec::new();
    let mut reasons = Vec::new();
    for s in &rule.signers {
        match verified_signature(target, client, &s.trust) {
            Ok(sig) => {
                verified.push(s.describe.clone());
                first.get_or_insert(sig);
                if rule.require == Require::Any {
                    break;
                }
            }
            Err(Error::Signature(e)) => reasons.push(format!("{}: {e}", s.describe)),
            Err(e) => return Err(e),
        }
    }
    let satisfied = match rule.require {
        Require::Any => !verified.is_empty(),
        Require::All => reasons.is_empty(),
    };
    match first {
        Some(sig) if satisfied => Ok((sig, verified)),
        _ => Err(SignatureError::Material(format!(
            "not signed as policy rule `{}` requires ({}): {}",
            rule.pattern,
            if rule.require == Require::All { "every signer" } else { "any signer" },
            reasons.join("; ")
        ))
        .into()),
    }
}

fn decision(rule: &Rule, policy: &Path, signers: Vec<String>, problem: Option<String>) -> PolicyDecision {
    PolicyDecision {
        policy: policy.display().to_string(),
        pattern: rule.pattern.clone(),
        mode: rule.mode,
        signers,
        problem,
    }
}

/// Verifies from the registry under `rule`. The report's exit code is the caller's to
/// decide by mode: `enforce` as verified; `warn` and `off` succeed (with a warning).
pub fn verify_by_policy(
    target: &Reference,
    client: &Client,
    rule: &Rule,
    policy: &Path,
    hash: &HashOptions,
    opts: &RemoteVerifyOptions,
) -> Result<(VerifyReport, PolicyDecision), Error> {
    let started = Instant::now();
    let mut report = VerifyReport::new(target.to_string(), "attached signature".into());
    if rule.mode == Mode::Off {
        report.warnings.push(format!("not checked: policy rule `{}` is off", rule.pattern));
        return Ok((report, decision(rule, policy, Vec::new(), None)));
    }
    match signatures_by_rule(target, client, rule) {
        Ok((sig, signers)) => {
            let report = verify_files(client, &sig, hash, opts, report, started)?;
            Ok((report, decision(rule, policy, signers, None)))
        }
        Err(Error::Signature(e)) => {
            let why = e.to_string();
            report.bytes_transferred = Some(client.downloaded());
            let mut report = report.failed(why.clone(), started);
            if rule.mode == Mode::Warn {
                report.warnings.push(format!("policy rule `{}` (warn): {why}", rule.pattern));
            }
            Ok((report, decision(rule, policy, Vec::new(), Some(why))))
        }
        Err(e) => Err(e),
    }
}

/// Pulls under `rule`: `enforce` pulls only a model its signers signed (each file checked
/// against the signature; refused before anything is written otherwise), `warn` falls back
/// to a digest-checked pull with a warning, `off` pulls digest-checked.
pub fn pull_by_policy(
    target: &Reference,
    client: &Client,
    rule: &Rule,
    policy: &Path,
    out: &Path,
    include: &[String],
    hash: &HashOptions,
) -> Result<(PullReport, PolicyDecision), Error> {
    if rule.mode == Mode::Off {
        let report = pull_unverified(target, client, out, include, hash)?;
        return Ok((report, decision(rule, policy, Vec::new(), Some("not checked: the rule is off".into()))));
    }
    match signatures_by_rule(target, client, rule) {
        Ok((sig, signers)) => {
            let report = pull_verified(target, client, &sig, out, include, hash)?;
            Ok((report, decision(rule, policy, signers, None)))
        }
        Err(Error::Signature(e)) if rule.mode == Mode::Warn => {
            let report = pull_unverified(target, client, out, include, hash)?;
            Ok((report, decision(rule, policy, Vec::new(), Some(e.to_string()))))
        }
        Err(e) => Err(e),
    }
}
