//! Verifying a Sigstore bundle over an artifact, as the Sigstore client specification
//! (sigstore/architecture-docs `client-spec.md`, "Verification") describes it: a message
//! signature over the artifact's bytes or digest, or a DSSE in-toto statement with the
//! artifact among its subjects; keyless (a Fulcio certificate, an expected identity and
//! OIDC issuer) or a managed key; Rekor v1 entries (SET, integrated time) and Rekor v2
//! entries (`hashedrekord`/`dsse` 0.0.2, C2SP signed-note checkpoints, cosignatures) with
//! the RFC 3161 timestamps the spec requires for them.
//!
//! This is the official sigstore-rust `sigstore-verify` crate, not our own code. Evidence
//! for the choice: on this machine it passes every offline case of sigstore-conformance's
//! `test/assets/bundle-verify/` (70 cases, each by path and by digest: 140 of 140, see
//! `tests/e2e/conformance.rs`), including the Rekor v2, checkpoint and TSA cases our own
//! `keyless` module never handled. What stays ours, and why:
//! - model_signing key bundles (`publicKey` hint, no log entry, no timestamp):
//!   `sigstore-verify` 0.15.1 refuses them (`MissingSigningTimeEvidence`) and cannot parse
//!   the v1.0.0 one (`"keyid": null`);
//! - the `certificate` method (a chain to roots the user gives, no Fulcio/CT/Rekor);
//! - model_signing 0.2's DSSE PAE quirk.

use super::trust_root::TrustedRoot;
use crate::errors::SignatureError;
use sigstore_verify::types::{Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};

/// What the signature is checked over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifact {
    /// A file, streamed (constant memory).
    File(std::path::PathBuf),
    /// Its SHA-256 digest (what `sha256:HEX` on a command line names).
    Sha256([u8; 32]),
}

impl Artifact {
    /// Reads a command-line `FILE_OR_DIGEST` as the conformance protocol defines it: a
    /// digest when it is `sha256:` and 64 hex digits and not a path on disk, else a path.
    pub fn from_arg(arg: &str) -> Self {
        let path = std::path::Path::new(arg);
        if let Some(hex_digits) = arg.strip_prefix("sha256:")
            && !path.exists()
            && hex_digits.len() == 64
            && let Ok(bytes) = hex::decode(hex_digits)
            && let Ok(digest) = <[u8; 32]>::try_from(bytes.as_slice())
        {
            return Self::Sha256(digest);
        }
        Self::File(path.to_path_buf())
    }
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Signer {
    /// A Fulcio certificate for this identity (SAN) from this OIDC issuer.
    Identity {
        /// The expected SAN (email, URI).
        identity: String,
        /// The expected OIDC issuer URL.
        issuer: String,
    },
    /// A managed key (PEM SubjectPublicKeyInfo).
    Key {
        /// The PEM text.
        pem: String,
    },
}

/// What a successful verification established.
#[derive(Debug, Clone, Default)]
pub struct ArtifactVerified {
    /// The certificate's SAN, for keyless bundles.
    pub identity: Option<String>,
    /// The certificate's OIDC issuer, for keyless bundles.
    pub issuer: Option<String>,
    /// Verified signing times (Rekor v1 integrated times, RFC 3161 timestamps), RFC 3339.
    pub verified_times: Vec<String>,
    /// Whether the log inclusion (proof, checkpoint) was verified.
    pub tlog_verified: bool,
}

/// Sigstore's staging trusted root, as shipped in `sigstore-trust-root`.
pub fn staging_trusted_root() -> Result<TrustedRoot, SignatureError> {
    trusted_root(Some(sigstore_verify::trust_root::SIGSTORE_STAGING_TRUSTED_ROOT))
}

/// The trusted root: `json` (a `TrustedRoot`, or a model_signing `ClientTrustConfig`
/// wrapping one), or the built-in public-good root.
pub fn trusted_root(json: Option<&str>) -> Result<TrustedRoot, SignatureError> {
    let text = json.unwrap_or(super::trust_root::BUILTIN_TRUST_CONFIG);
    Ok(TrustedRoot::from_json(text.as_bytes(), "trusted root")?)
}

/// Verifies `bundle_json` over `artifact` for `signer` with `root`.
pub fn verify_artifact(
    bundle_json: &str,
    artifact: &Artifact,
    signer: &Signer,
    root: &TrustedRoot,
) -> Result<ArtifactVerified, SignatureError> {
    let bundle =
        Bundle::from_json(bundle_json).map_err(|e| SignatureError::Material(format!("bundle: {e}")))?;
    // One JSON reading of the bundle for our own checks below.
    let mut value: serde_json::Value =
        serde_json::from_str(bundle_json).map_err(|e| SignatureError::Material(format!("bundle: {e}")))?;
    checkpoint_signers_named(&value, root)?;
    let stamped = timestamps_strict(&value, root)?;
    // sigstore-verify 0.15 (sigstore-tsa) cannot decode a `genTime` with fractional seconds
    // (RFC 3161 §2.4.2 allows them; OpenSSL's TSA writes them with clock_precision_digits;
    // sigstore-python accepts them). Where the log gives a signed time anyway (Rekor v1:
    // every entry has an inclusion promise), the timestamps checked above by our reader are
    // left out of what it sees, and the signing certificate's validity at each of their
    // times is checked here instead. Rekor v2 entries need the timestamps, so they go to it.
    let bundle = if !stamped.is_empty() && every_entry_promised(&value) {
        certificate_valid_at(&value, &stamped)?;
        if let Some(vm) = value["verificationMaterial"].as_object_mut() {
            vm.remove("timestampVerificationData");
        }
        Bundle::from_json(&value.to_string()).map_err(|e| SignatureError::Material(format!("bundle: {e}")))?
    } else {
        bundle
    };
    let verifier = root.verifier().map_err(|e| SignatureError::Material(format!("trusted root: {e}")))?;
    let fail = |e: sigstore_verify::Error| SignatureError::Sigstore(Box::new(e));
    let open = |p: &std::path::Path| {
        std::fs::File::open(p).map_err(|e| SignatureError::Material(format!("artifact {}: {e}", p.display())))
    };
    let check = |policy: &dyn sigstore_verify::Policy| match artifact {
        Artifact::File(p) => verifier.verify_reader(open(p)?, &bundle, policy).map_err(fail),
        Artifact::Sha256(d) => verifier.verify(Sha256Hash::new(*d), &bundle, policy).map_err(fail),
    };
    let result = match signer {
        Signer::Identity { identity, issuer } => {
            check(&VerificationPolicy::new(identity.clone(), issuer.clone()))?
        }
        Signer::Key { pem } => {
            let key = DerPublicKey::from_pem(pem)
                .map_err(|e| SignatureError::Material(format!("public key: {e}")))?;
            check(&PublicKeyVerificationPolicy::new(key))?
        }
    };
    Ok(ArtifactVerified {
        identity: result.identity().map(ToString::to_string),
        issuer: result.issuer().map(str::to_owned),
        verified_times: result.verified_timestamps().iter().map(ToString::to_string).collect(),
        tlog_verified: result.tlog_verified(),
    })
}

/// C2SP signed-note strictness `sigstore-verify` 0.15 lacks: it finds the log's signature
/// line by key hint alone, so a line whose (unsigned) signer name was changed still counts;
/// and for Rekor v2 it reads the root from the checkpoint only, so the proof's copy of tree
/// size and root hash must agree with it here.
///
/// A note's key is its name and hash together, so here a signature line carrying a trusted
/// log key's hint must be named as the log its origin line names, every line must have
/// the `— NAME BASE64` shape, and a checkpoint needs a blank line before its signatures
/// (sigstore-python reads notes the same way).
fn checkpoint_signers_named(value: &serde_json::Value, root: &TrustedRoot) -> Result<(), SignatureError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let hints: Vec<Vec<u8>> =
        root.tlogs.iter().filter_map(|l| l.key_id.get(..4).map(<[u8]>::to_vec)).collect();
    let entries = value["verificationMaterial"]["tlogEntries"].as_array().cloned().unwrap_or_default();
    for (i, entry) in entries.iter().enumerate() {
        let Some(note) = entry["inclusionProof"]["checkpoint"]["envelope"].as_str() else { continue };
        let bad = |why: String| {
            SignatureError::Material(format!("tlogEntries[{i}].inclusionProof.checkpoint: {why}"))
        };
        let (body, sigs) = note.split_once("\n\n").ok_or_else(|| bad("no signature block".into()))?;
        let log_name = body.lines().next().and_then(|o| o.split(' ').next()).unwrap_or_default();
        // The proof's own tree size and root hash must be the checkpoint's (sigstore-verify
        // uses only the checkpoint's for Rekor v2, so a disagreeing copy would pass it).
        let mut lines = body.lines().skip(1);
        let (size, root) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
        let proof = &entry["inclusionProof"];
        let proof_size = proof["treeSize"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| proof["treeSize"].as_u64().map(|n| n.to_string()));
        if proof_size.as_deref() != Some(size) || proof["rootHash"].as_str() != Some(root) {
            return Err(bad(format!(
                "the inclusion proof's treeSize/rootHash ({}, {}) are not the checkpoint's ({size}, {root})",
                proof_size.unwrap_or_default(),
                proof["rootHash"].as_str().unwrap_or_default()
            )));
        }
        for line in sigs.lines() {
            let (name, sig) = line
                .strip_prefix("\u{2014} ")
                .and_then(|rest| rest.rsplit_once(' '))
                .ok_or_else(|| bad(format!("signature line `{line}` is not `\u{2014} NAME SIGNATURE`")))?;
            let raw = b64.decode(sig).map_err(|_| bad(format!("signature of `{name}` is not base64")))?;
            let hint = raw.get(..4).unwrap_or_default();
            if hints.iter().any(|h| h.as_slice() == hint) && name != log_name {
                return Err(bad(format!(
                    "the log's signature is named `{name}`, the checkpoint is from `{log_name}`"
                )));
            }
        }
    }
    Ok(())
}

/// Every RFC 3161 timestamp through our own strict reading too ([`super::timestamp`]):
/// `sigstore-verify` 0.15 skips fields a token's signature does not cover (the
/// `digestAlgorithms` set, the embedded certificates, the SignerInfo's signature algorithm),
/// so a token altered there still verifies with it; sigstore-python's reader refuses such
/// tokens, and so do we.
fn timestamps_strict(value: &serde_json::Value, root: &TrustedRoot) -> Result<Vec<i64>, SignatureError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let stamps = value["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if stamps.is_empty() {
        return Ok(Vec::new());
    }
    let sig_b64 = value["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .or_else(|| value["messageSignature"]["signature"].as_str())
        .unwrap_or_default();
    let signature =
        b64.decode(sig_b64).map_err(|_| SignatureError::Material("signature is not base64".into()))?;
    let mut times = Vec::new();
    for (index, t) in stamps.iter().enumerate() {
        let der = t["signedTimestamp"].as_str().and_then(|s| b64.decode(s).ok()).ok_or_else(|| {
            SignatureError::Material(format!(
                "timestampVerificationData.rfc3161Timestamps[{index}].signedTimestamp is not base64"
            ))
        })?;
        times.push(
            super::timestamp::verify_timestamp(&der, &signature, root)
                .map_err(|source| SignatureError::Timestamp { index, source })?,
        );
    }
    Ok(times)
}

/// Does every log entry carry a Rekor v1 inclusion promise (a signed integrated time)?
fn every_entry_promised(value: &serde_json::Value) -> bool {
    let entries = value["verificationMaterial"]["tlogEntries"].as_array().cloned().unwrap_or_default();
    !entries.is_empty() && entries.iter().all(|e| e["inclusionPromise"]["signedEntryTimestamp"].is_string())
}

/// The signing certificate (if any) is valid at each of `times`.
fn certificate_valid_at(value: &serde_json::Value, times: &[i64]) -> Result<(), SignatureError> {
    use base64::Engine as _;
    let vm = &value["verificationMaterial"];
    let Some(leaf_b64) = vm["certificate"]["rawBytes"]
        .as_str()
        .or_else(|| vm["x509CertificateChain"]["certificates"][0]["rawBytes"].as_str())
    else {
        return Ok(());
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(leaf_b64)
        .map_err(|_| SignatureError::Material("the signing certificate is not base64".into()))?;
    let leaf = crate::crypto::x509::Cert::from_der(&der).map_err(crate::errors::CertificateProblem::from)?;
    for (index, &t) in times.iter().enumerate() {
        let t = u64::try_from(t).unwrap_or_default();
        if t < leaf.not_before() || t > leaf.not_after() {
            return Err(SignatureError::Material(format!(
                "rfc3161Timestamps[{index}]: the signing certificate is not valid at the stamped time {}",
                crate::crypto::x509::fmt_time(t)
            )));
        }
    }
    Ok(())
}
