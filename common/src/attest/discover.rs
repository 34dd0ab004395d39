//! `discover --verify`: every model signature and cosign attestation attached to a model,
//! each with its signer as verified under the trust policy's rule for the repository.

use crate::attest::registry::attached_bundles;
use crate::errors::Error;
use crate::ops::policy::{Mode, Rule};
use crate::registry::client::Client;
use crate::registry::reference::Reference;

/// One signature or attestation attached to a model, as `discover --verify` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attached {
    /// Where it is (referrer digest, or `.att` tag and layer).
    pub location: String,
    /// What its statement claims to be (`https://model_signing/signature/v1.0`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// When it was attached (`org.opencontainers.image.created`) or logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who signed it, as verified under the policy (key fingerprint, certificate, or
    /// identity + issuer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The policy signer that verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
    /// Why no policy signer verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Every model signature and cosign attestation attached to a reference, each checked
/// against the signers of `rule`: which signer verified it, or why none did.
pub fn discover_verified(target: &Reference, client: &Client, rule: &Rule) -> Result<Vec<Attached>, Error> {
    use crate::crypto::signature::verify_signed_payload;
    let repo = client.repo(&target.repository);
    let subject = crate::registry::model::resolve(&repo, target)?.desc;
    let digest = subject.digest()?;
    let mut out = Vec::new();
    for (location, created, bundle) in attached_bundles(client, target, &digest)? {
        let predicate_type = bundle
            .envelope()
            .ok()
            .and_then(|e| e.payload_bytes().ok())
            .and_then(|p| serde_json::from_slice::<crate::formats::intoto::Statement>(&p).ok())
            .map(|s| s.predicate_type);
        let mut entry =
            Attached { location, predicate_type, created, signer: None, verified_by: None, problem: None };
        let mut reasons = Vec::new();
        if rule.mode == Mode::Off {
            entry.problem = Some(format!("not checked: policy rule `{}` is off", rule.pattern));
        }
        for s in rule.signers.iter().filter(|_| rule.mode != Mode::Off) {
            match verify_signed_payload(&bundle, &s.trust) {
                Ok((_, signer)) => {
                    entry.signer = Some(signer.to_string());
                    entry.verified_by = Some(s.describe.clone());
                    break;
                }
                Err(e) => reasons.push(format!("{}: {e}", s.describe)),
            }
        }
        if entry.verified_by.is_none() && entry.problem.is_none() {
            entry.problem = Some(reasons.join("; "));
        }
        out.push(entry);
    }
    Ok(out)
}
