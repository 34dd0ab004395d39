//! Trust policy: which signers a model must be signed by, decided by where it lives — the
//! per-repository verification policies of container and model tools (llmman's
//! `verify.conf`, Ollama's signature policies, cosign's policy-controller) for
//! model_signing signatures.
//!
//! A TOML file of rules, first match wins:
//!
//! ```toml
//! [[rule]]
//! match = "registry.example.com/models/**"   # reference glob; oci:/kit: sources too
//! mode = "enforce"                            # enforce | warn | off
//! require = "any"                             # any (default) | all
//! signers = [
//!   { public_key = "keys/team.pub" },
//!   { certificate_chain = "ca.pem" },
//!   { identity = "ci@example.com", issuer = "https://token.actions.githubusercontent.com", trust_config = "trust.json" },
//! ]
//! ```
//!
//! Paths are relative to the policy file. Found from `--policy`, else `$MODELSIG_POLICY`, else
//! `$XDG_CONFIG_HOME/modelsig/policy.toml` (`~/.config/…`), else `/etc/modelsig/policy.toml`.
//! Everything is checked when the file is loaded (unknown keys, globs, key files), with the
//! file, rule and key named.

use crate::crypto::signature::TrustPolicy;
use crate::crypto::trust::TrustSpec;
use crate::errors::Error;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What to do with a model a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A signature by a listed signer is required; anything else fails (nothing written).
    Enforce,
    /// Verify, but on failure warn and go on (files are still checked against a signature
    /// that verifies).
    Warn,
    /// No signature check.
    Off,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Off => "off",
        })
    }
}

/// How many of the listed signers must have signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Require {
    /// Any one of them.
    #[default]
    Any,
    /// Every one of them.
    All,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    pattern: String,
    mode: Mode,
    #[serde(default)]
    require: Require,
    #[serde(default)]
    signers: Vec<RawSigner>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigner {
    public_key: Option<PathBuf>,
    certificate_chain: Option<PathBuf>,
    identity: Option<String>,
    issuer: Option<String>,
    trust_config: Option<PathBuf>,
}

/// One signer of a rule, loaded.
#[derive(Debug, Clone)]
pub struct PolicySigner {
    /// How the policy file names it (for reports).
    pub describe: String,
    /// Its trust policy.
    pub trust: TrustPolicy,
}

/// One rule, loaded.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The `match` glob as written.
    pub pattern: String,
    matcher: globset::GlobMatcher,
    /// Enforce, warn or off.
    pub mode: Mode,
    /// Any or all signers.
    pub require: Require,
    /// The signers.
    pub signers: Vec<PolicySigner>,
}

impl Rule {
    /// Does this rule apply to the reference (`registry/repository[:tag]`, `oci:PATH`,
    /// `kit:REF`)?
    pub fn matches(&self, reference: &str) -> bool {
        self.matcher.is_match(reference)
    }
}

/// A loaded policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Where it was read from.
    pub path: PathBuf,
    /// The rules in order.
    pub rules: Vec<Rule>,
}

fn bad(path: &Path, problem: impl Into<String>) -> Error {
    Error::Usage(format!("{}: {}", path.display(), problem.into()))
}

impl Policy {
    /// Reads and checks a policy file: syntax, unknown keys, globs, and every key,
    /// certificate and trust configuration it names.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| bad(path, e.to_string()))?;
        let raw: RawFile = toml::from_str(&text).map_err(|e| bad(path, e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut rules = Vec::new();
        for (i, r) in raw.rule.into_iter().enumerate() {
            let at =
                |problem: String| bad(path, format!("rule {} (match = \"{}\"): {problem}", i + 1, r.pattern));
            let glob = globset::GlobBuilder::new(&r.pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| at(format!("bad glob: {e}")))?;
            if r.signers.is_empty() && r.mode != Mode::Off {
                return Err(at("lists no signers (only mode = \"off\" may)".into()));
            }
            let mut signers = Vec::new();
            for (j, s) in r.signers.iter().enumerate() {
                let at = |problem: String| at(format!("signer {}: {problem}", j + 1));
                let rel = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { dir.join(p) };
                let (spec, describe) = match (&s.public_key, &s.certificate_chain, &s.identity) {
                    (Some(k), None, None) if s.issuer.is_none() && s.trust_config.is_none() => {
                        (TrustSpec::Key { public_key: rel(k) }, format!("public_key {}", k.display()))
                    }
                    (None, Some(c), None) if s.issuer.is_none() && s.trust_config.is_none() => (
                        TrustSpec::Certificate { chain: vec![rel(c)], log_fingerprints: false },
                        format!("certificate_chain {}", c.display()),
                    ),
                    (None, None, Some(id)) => {
                        let issuer = s.issuer.clone().ok_or_else(|| at("identity needs issuer".into()))?;
                        (
                            TrustSpec::Sigstore {
                                identity: id.clone(),
                                issuer: issuer.clone(),
                                trust_config: s.trust_config.as_deref().map(rel),
                                use_staging: false,
                                tuf: None,
                            },
                            format!("identity {id} via {issuer}"),
                        )
                    }
                    _ => {
                        return Err(at(
                            "give exactly one of public_key, certificate_chain, or identity + issuer [+ trust_config]"
                                .into(),
                        ));
                    }
                };
                let trust = spec.load().map_err(|e| at(e.to_string()))?;
                signers.push(PolicySigner { describe, trust });
            }
            rules.push(Rule {
                pattern: r.pattern.clone(),
                matcher: glob.compile_matcher(),
                mode: r.mode,
                require: r.require,
                signers,
            });
        }
        Ok(Self { path: path.to_path_buf(), rules })
    }

    /// The policy file in force: `explicit`, else `$MODELSIG_POLICY`, else
    /// `$XDG_CONFIG_HOME/modelsig/policy.toml` (default `~/.config`), else
    /// `/etc/modelsig/policy.toml`.
    pub fn discover(explicit: Option<&Path>) -> Result<Self, Error> {
        let candidates = Self::search_path(explicit);
        if let Some(p) = explicit {
            return Self::load(p);
        }
        if let Some(p) = std::env::var_os("MODELSIG_POLICY") {
            return Self::load(Path::new(&p));
        }
        match candidates.iter().find(|p| p.exists()) {
            Some(p) => Self::load(p),
            None => Err(Error::Usage(format!(
                "no trust flags and no policy file (looked at $MODELSIG_POLICY, {})",
                candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The files looked at in order (after `--policy` and `$MODELSIG_POLICY`).
    pub fn search_path(_explicit: Option<&Path>) -> Vec<PathBuf> {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        config
            .map(|c| c.join("modelsig/policy.toml"))
            .into_iter()
            .chain(std::iter::once(PathBuf::from("/etc/modelsig/policy.toml")))
            .collect()
    }

    /// The first rule that matches, or a usage error naming the reference.
    pub fn rule_for(&self, reference: &str) -> Result<&Rule, Error> {
        self.rules.iter().find(|r| r.matches(reference)).ok_or_else(|| {
            Error::Usage(format!("no policy rule matches {reference} (policy {})", self.path.display()))
        })
    }
}

/// What the policy decided for a model, for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyDecision {
    /// The policy file.
    pub policy: String,
    /// The matching rule's `match`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Its mode.
    pub mode: Mode,
    /// The signers that verified (as the policy names them).
    pub signers: Vec<String>,
    /// Why it is not trusted, when it is not (warn mode goes on regardless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl PolicyDecision {
    /// The exit code under the rule: when a listed signer's signature verified, the files
    /// decide (a mismatch fails in every mode); otherwise `enforce` fails and `warn` / `off`
    /// go on.
    pub fn exit_code(&self, report: &crate::ops::report::VerifyReport) -> i32 {
        if !self.signers.is_empty() || self.mode == Mode::Enforce { report.exit_code() } else { 0 }
    }
}

/// Runs `check` with each signer of `rule` — until one verifies (`any`) or for every one
/// (`all`) — and decides under the rule's mode. `check` returns a report for one trust
/// policy (a failed signature is a report whose `signer` is unset).
pub fn decide(
    rule: &Rule,
    policy: &Path,
    model: &str,
    mut check: impl FnMut(&TrustPolicy) -> Result<crate::ops::report::VerifyReport, Error>,
) -> Result<(crate::ops::report::VerifyReport, PolicyDecision), Error> {
    use crate::ops::report::VerifyReport;
    let decision = |signers: Vec<String>, problem: Option<String>| PolicyDecision {
        policy: policy.display().to_string(),
        pattern: rule.pattern.clone(),
        mode: rule.mode,
        signers,
        problem,
    };
    let started = std::time::Instant::now();
    if rule.mode == Mode::Off {
        let mut report = VerifyReport::new(model.to_owned(), "policy".into());
        report.warnings.push(format!("not checked: policy rule `{}` is off", rule.pattern));
        return Ok((report, decision(Vec::new(), None)));
    }
    let mut first: Option<VerifyReport> = None;
    let mut verified = Vec::new();
    let mut reasons = Vec::new();
    for s in &rule.signers {
        let report = check(&s.trust)?;
        if report.signer.is_some() {
            // The signer's signature verified: its files decide, in every mode.
            if !report.verified {
                return Ok((report, decision(vec![s.describe.clone()], None)));
            }
            verified.push(s.describe.clone());
            first.get_or_insert(report);
            if rule.require == Require::Any {
                break;
            }
        } else {
            reasons.push(format!("{}: {}", s.describe, report.error.clone().unwrap_or_default()));
        }
    }
    let satisfied = match rule.require {
        Require::Any => !verified.is_empty(),
        Require::All => reasons.is_empty(),
    };
    match first {
        Some(report) if satisfied => Ok((report, decision(verified, None))),
        _ => {
            let why = format!(
                "not signed as policy rule `{}` requires ({}): {}",
                rule.pattern,
                if rule.require == Require::All { "every signer" } else { "any signer" },
                reasons.join("; ")
            );
            let mut report =
                VerifyReport::new(model.to_owned(), "policy".into()).failed(why.clone(), started);
            if rule.mode == Mode::Warn {
                report.warnings.push(format!("policy rule `{}` (warn): {why}", rule.pattern));
            }
            Ok((report, decision(Vec::new(), Some(why))))
        }
    }
}
