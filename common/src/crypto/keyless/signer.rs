//! Keyless signing: an ephemeral P-256 key, a Fulcio certificate for the OIDC identity,
//! a Rekor entry (v1: `dsse` 0.0.1; v2: `hashedrekord` 0.0.2 over the PAE) and RFC 3161
//! timestamps from the selected TSAs, packed into a v0.3 bundle the way sigstore-python's
//! `Signer.sign_dsse` does for model_signing; services come from the signing config
//! ([`super::signing_config`]).
//!
//! APIs: Fulcio `POST /api/v2/signingCert` (public key + proof of possession of the token's
//! subject), Rekor `POST /api/v1/log/entries` or `POST /api/v2/log/entries`, TSA `POST` of
//! an RFC 3161 `TimeStampReq`. The HTTP exchange goes through [`Transport`]
//! so it can be replaced (tests use an in-process fake Fulcio/Rekor; nothing here reaches
//! the public service unless the real transport is passed). The finished bundle is verified
//! against the trusted root before it is returned, so a misbehaving service cannot make us
//! write a signature that does not verify.
//!
//! Why not sigstore-rust's `sigstore-sign` 0.15.1 (evaluated; its verifier is used, see
//! [`super::artifact`]): `SigningServices::from_signing_config` refuses a signing config
//! without a TSA (`MissingService(Tsa)`), though Rekor v1 logs need none and the public-good
//! config had none before July 2025; it takes one log and one TSA only (`EXACT` with count 1,
//! `ALL` only for a single operator), where [`super::signing_config`] stamps with every
//! selected TSA; and it speaks only async `reqwest`, where this signer's [`Transport`] lets the
//! unit tests run against the in-process test double. Fulcio, Rekor v1/v2 and TSA requests
//! here follow sigstore-python's (interop tested both ways with model_signing).

use crate::crypto::keyless::trust_root::TrustedRoot;
use crate::crypto::keyless::{IdentityPolicy, oidc_issuer, san_values};
use crate::crypto::keys::{PublicKey, pem_decode, pem_encode};
use crate::crypto::x509::Cert;
use crate::errors::SignatureError;
use crate::formats::bundle::{
    BUNDLE_V03, Bundle, Checkpoint, InclusionPromise, InclusionProof, KindVersion, LogId, RawBytes,
    Rfc3161Timestamp, TimestampVerificationData, TlogEntry, VerificationMaterial,
};
use crate::formats::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, pae};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use ecdsa::signature::hazmat::PrehashSigner;
use pkcs8::EncodePublicKey;

/// HTTPS POSTs, replaceable for tests.
pub trait Transport {
    /// POSTs `body` to `url` and returns the JSON response.
    fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<serde_json::Value, TransportError>;
    /// POSTs `body` of `content_type` and returns the response body (RFC 3161 requests).
    fn post_bytes(&self, url: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, TransportError>;
}

/// Why a request to Fulcio or Rekor failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No answer (connection, TLS, timeout).
    #[error("{0}")]
    Request(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An answer other than success.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A success whose body is not JSON.
    #[error("response is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
}

pub use super::signing_config::Services;

/// An OIDC identity token and the claims Fulcio binds.
#[derive(Debug, Clone)]
pub struct IdentityToken {
    raw: String,
    /// The principal Fulcio certifies: the `email` claim, else `sub`.
    pub subject: String,
    /// The `iss` claim.
    pub issuer: String,
}

fn fail(msg: impl Into<String>) -> SignatureError {
    SignatureError::Material(msg.into())
}

impl IdentityToken {
    /// Reads the claims of a JWT (not its signature: Fulcio checks that).
    pub fn parse(raw: &str) -> Result<Self, SignatureError> {
        let raw = raw.trim();
        let claims = raw.split('.').nth(1).ok_or_else(|| fail("identity token is not a JWT"))?;
        let claims = B64URL
            .decode(claims.trim_end_matches('='))
            .map_err(|_| fail("identity token claims are not base64url"))?;
        let claims: TokenClaims =
            serde_json::from_slice(&claims).map_err(|e| fail(format!("identity token claims: {e}")))?;
        let subject =
            claims.email.or(claims.sub).ok_or_else(|| fail("identity token has no email or sub"))?;
        let issuer = claims.iss.ok_or_else(|| fail("identity token has no iss"))?;
        Ok(Self { raw: raw.to_owned(), subject, issuer })
    }
}

/// Fulcio v2 `signingCert` answer (the part used: the certificate chain with embedded SCT).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct FulcioResponse {
    signed_certificate_embedded_sct: FulcioChain,
}

#[derive(serde::Deserialize)]
struct FulcioChain {
    chain: FulcioCertificates,
}

#[derive(serde::Deserialize)]
struct FulcioCertificates {
    certificates: Vec<String>,
}

/// The claims of an identity token that Fulcio binds.
#[derive(serde::Deserialize)]
struct TokenClaims {
    email: Option<String>,
    sub: Option<String>,
    iss: Option<String>,
}

/// A Rekor v1 `LogEntry` (`POST /api/v1/log/entries` answers `{uuid: entry}`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorEntry {
    body: String,
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    log_index: i64,
    verification: RekorVerification,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorVerification {
    signed_entry_timestamp: String,
    inclusion_proof: RekorInclusionProof,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorInclusionProof {
    checkpoint: String,
    hashes: Vec<String>,
    log_index: i64,
    root_hash: String,
    tree_size: i64,
}

fn hex_to_b64(h: &str, what: &str) -> Result<String, SignatureError> {
    let bytes = hex::decode(h).map_err(|_| fail(format!("Rekor response: {what} is not hex")))?;
    Ok(B64.encode(bytes))
}

/// The kind and version an entry body names (`{"apiVersion": …, "kind": …}`).
fn kind_of_body(body_b64: &str) -> Result<KindVersion, SignatureError> {
    let body = B64.decode(body_b64).map_err(|_| fail("Rekor response: body is not base64"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| fail(format!("Rekor response: body: {e}")))?;
    match (v["kind"].as_str(), v["apiVersion"].as_str()) {
        (Some(kind), Some(version)) => Ok(KindVersion { kind: kind.into(), version: version.into() }),
        _ => Err(fail("Rekor response: the body names no kind and apiVersion")),
    }
}

/// Converts a Rekor v1 `LogEntry` response into a bundle `TransparencyLogEntry`.
pub fn tlog_entry_from_rekor(resp: &serde_json::Value) -> Result<TlogEntry, SignatureError> {
    let entries: std::collections::BTreeMap<String, RekorEntry> =
        serde_json::from_value(resp.clone()).map_err(|e| fail(format!("Rekor response: {e}")))?;
    let mut entries = entries.into_values();
    let (Some(e), None) = (entries.next(), entries.next()) else {
        return Err(fail("Rekor response must hold exactly one entry"));
    };
    let proof = &e.verification.inclusion_proof;
    Ok(TlogEntry {
        log_index: e.log_index,
        log_id: LogId { key_id: hex_to_b64(&e.log_id, "logID")? },
        kind_version: kind_of_body(&e.body)?,
        integrated_time: e.integrated_time,
        inclusion_promise: Some(InclusionPromise {
            signed_entry_timestamp: e.verification.signed_entry_timestamp.clone(),
        }),
        inclusion_proof: Some(InclusionProof {
            log_index: proof.log_index,
            root_hash: hex_to_b64(&proof.root_hash, "rootHash")?,
            tree_size: proof.tree_size,
            hashes: proof.hashes.iter().map(|h| hex_to_b64(h, "hashes")).collect::<Result<_, _>>()?,
            checkpoint: Some(Checkpoint { envelope: proof.checkpoint.clone() }),
        }),
        canonicalized_body: e.body,
    })
}

/// Proposes `entry` to a Rekor v1 log (`POST /api/v1/log/entries`) and converts the answer
/// into the bundle's log entry.
fn post_v1_entry(
    entry: &serde_json::Value,
    rekor: &str,
    transport: &dyn Transport,
) -> Result<TlogEntry, SignatureError> {
    let url = format!("{}/api/v1/log/entries", rekor.trim_end_matches('/'));
    let resp = transport.post_json(&url, entry).map_err(|e| fail(format!("Rekor {url}: {e}")))?;
    tlog_entry_from_rekor(&resp)
}

/// Records a signed DSSE envelope in Rekor as a `dsse` 0.0.1 entry whose verifier is
/// `verifier_pem` (the signing certificate, or the public key for key signatures, as cosign
/// records them) and returns the bundle's log entry.
pub fn log_envelope(
    envelope: &Envelope,
    verifier_pem: &str,
    rekor: &str,
    transport: &dyn Transport,
) -> Result<TlogEntry, SignatureError> {
    let entry = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": { "proposedContent": {
            "envelope": serde_json::to_string(envelope).map_err(|e| fail(e.to_string()))?,
            "verifiers": [B64.encode(verifier_pem)],
        }}
    });
    post_v1_entry(&entry, rekor, transport)
}

/// Records a signature in a Rekor v2 log (rekor-tiles `POST /api/v2/log/entries`) as a
/// `hashedrekord` 0.0.2 entry: the SHA-256 `digest` that was signed (of the artifact, or —
/// for DSSE, as sigstore-python records it, rekor-v2-spec §6.1.4 — of the envelope's PAE),
/// the signature and the signing certificate. The answer is the bundle's
/// `TransparencyLogEntry` itself.
pub fn log_hashedrekord_v2(
    digest: &[u8; 32],
    signature: &[u8],
    leaf_der: &[u8],
    rekor: &str,
    transport: &dyn Transport,
) -> Result<TlogEntry, SignatureError> {
    let request = serde_json::json!({ "hashedRekordRequestV002": {
        "digest": B64.encode(digest),
        "signature": {
            "content": B64.encode(signature),
            "verifier": { "x509Certificate": { "rawBytes": B64.encode(leaf_der) }, "keyDetails": "PKIX_ECDSA_P256_SHA_256" },
        },
    }});
    let url = format!("{}/api/v2/log/entries", rekor.trim_end_matches('/'));
    let resp = transport.post_json(&url, &request).map_err(|e| fail(format!("Rekor {url}: {e}")))?;
    let entry: TlogEntry =
        serde_json::from_value(resp).map_err(|e| fail(format!("Rekor {url}: not a log entry: {e}")))?;
    if entry.kind_version.version != "0.0.2" {
        return Err(fail(format!("Rekor {url}: answered a {} entry, not 0.0.2", entry.kind_version.version)));
    }
    Ok(entry)
}

/// Records a message signature over a SHA-256 `digest` in a Rekor v1 log as a
/// `hashedrekord` 0.0.1 entry whose verifier is the signing certificate.
pub fn log_hashedrekord_v1(
    digest: &[u8; 32],
    signature: &[u8],
    leaf_der: &[u8],
    rekor: &str,
    transport: &dyn Transport,
) -> Result<TlogEntry, SignatureError> {
    let entry = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(digest) } },
            "signature": {
                "content": B64.encode(signature),
                "publicKey": { "content": B64.encode(pem_encode("CERTIFICATE", leaf_der)) },
            },
        }
    });
    post_v1_entry(&entry, rekor, transport)
}

/// Asks the TSA at `url` for an RFC 3161 timestamp over `signature` (SHA-256 imprint, a
/// random nonce, the TSA's certificate requested) and returns the `TimeStampResp` DER a
/// bundle carries, after checking its status and that it answers this request.
pub fn request_timestamp(
    url: &str,
    signature: &[u8],
    transport: &dyn Transport,
) -> Result<Vec<u8>, SignatureError> {
    let nonce = {
        let mut b = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        b[0] &= 0x7f;
        u64::from_be_bytes(b)
    };
    let query = super::timestamp::request_der(&crate::formats::digest::sha256(signature), nonce)
        .map_err(|e| fail(format!("timestamp request: {e}")))?;
    let resp = transport
        .post_bytes(url, "application/timestamp-query", &query)
        .map_err(|e| fail(format!("TSA {url}: {e}")))?;
    super::timestamp::check_response(&resp, signature, nonce).map_err(|e| fail(format!("TSA {url}: {e}")))?;
    Ok(resp)
}

/// What a keyless signature covers.
#[derive(Debug, Clone, Copy)]
pub enum Content<'a> {
    /// An in-toto statement, signed as a DSSE envelope (model_signing, cosign attestations).
    Statement(&'a [u8]),
    /// An artifact by its SHA-256 digest, signed as a message signature (`hashedrekord`).
    ArtifactSha256([u8; 32]),
}

/// Signs a statement payload keylessly and returns a bundle that verified against `root`.
pub fn sign_keyless(
    payload: &[u8],
    token: &IdentityToken,
    services: &Services,
    transport: &dyn Transport,
    root: &TrustedRoot,
) -> Result<Bundle, SignatureError> {
    sign_keyless_content(Content::Statement(payload), token, services, transport, root)
}

/// Signs `content` keylessly: Fulcio certificate, signature, Rekor entry (v1 or v2 as the
/// services say), timestamps; the bundle is verified against `root` before it is returned.
pub fn sign_keyless_content(
    content: Content<'_>,
    token: &IdentityToken,
    services: &Services,
    transport: &dyn Transport,
    root: &TrustedRoot,
) -> Result<Bundle, SignatureError> {
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let spki = p256::PublicKey::from(key.verifying_key())
        .to_public_key_der()
        .map_err(|e| fail(format!("cannot encode the ephemeral key: {e}")))?;
    let public =
        PublicKey::from_spki_der(spki.as_bytes(), "ephemeral key").map_err(|e| fail(e.to_string()))?;
    let sign_digest = |digest: &[u8; 32]| -> Result<Vec<u8>, SignatureError> {
        let sig: p256::ecdsa::Signature =
            key.sign_prehash(digest).map_err(|e| fail(format!("signing failed: {e}")))?;
        Ok(sig.to_der().as_bytes().to_vec())
    };
    let sign = |msg: &[u8]| sign_digest(&crate::formats::digest::sha256(msg));

    // 1. Fulcio: a short-lived certificate for this key and identity.
    let request = serde_json::json!({
        "credentials": { "oidcIdentityToken": token.raw },
        "publicKeyRequest": {
            "publicKey": { "algorithm": "ECDSA", "content": public.to_pem() },
            "proofOfPossession": B64.encode(sign(token.subject.as_bytes())?),
        }
    });
    let url = format!("{}/api/v2/signingCert", services.fulcio.trim_end_matches('/'));
    let resp = transport.post_json(&url, &request).map_err(|e| fail(format!("Fulcio {url}: {e}")))?;
    let resp: FulcioResponse =
        serde_json::from_value(resp).map_err(|e| fail(format!("Fulcio response: {e}")))?;
    let leaf_pem = resp
        .signed_certificate_embedded_sct
        .chain
        .certificates
        .first()
        .ok_or_else(|| fail("Fulcio returned no certificate"))?;
    let (_, leaf_der) =
        pem_decode(leaf_pem.as_bytes(), "Fulcio certificate").map_err(|e| fail(e.to_string()))?;
    let leaf = Cert::from_der(&leaf_der).map_err(|e| fail(format!("Fulcio certificate: {e}")))?;
    if leaf.ec_public_key().ok().as_ref() != Some(&public) {
        return Err(fail("Fulcio certified a different public key"));
    }

    // 2. The signature (DSSE over the PAE, or over the artifact digest), and
    // 3. Rekor: its entry with the certificate as verifier (v1, or v2 `hashedrekord`).
    let v2 = services.rekor_version == 2;
    let (signature, tlog, envelope, message) = match content {
        Content::Statement(payload) => {
            let pae_bytes = pae(IN_TOTO_PAYLOAD_TYPE, payload);
            let signature = sign(&pae_bytes)?;
            let envelope = Envelope::new(IN_TOTO_PAYLOAD_TYPE, payload, &signature);
            let tlog = if v2 {
                let digest = crate::formats::digest::sha256(&pae_bytes);
                log_hashedrekord_v2(&digest, &signature, &leaf_der, &services.rekor, transport)?
            } else {
                log_envelope(&envelope, &pem_encode("CERTIFICATE", &leaf_der), &services.rekor, transport)?
            };
            (signature, tlog, Some(envelope), None)
        }
        Content::ArtifactSha256(digest) => {
            let signature = sign_digest(&digest)?;
            let tlog = if v2 {
                log_hashedrekord_v2(&digest, &signature, &leaf_der, &services.rekor, transport)?
            } else {
                log_hashedrekord_v1(&digest, &signature, &leaf_der, &services.rekor, transport)?
            };
            let message = serde_json::json!({
                "messageDigest": { "algorithm": "SHA2_256", "digest": B64.encode(digest) },
                "signature": B64.encode(&signature),
            });
            (signature, tlog, None, Some(message))
        }
    };

    // 4. RFC 3161 timestamps over the signature from each selected TSA.
    let mut stamps = Vec::new();
    for url in &services.tsas {
        stamps.push(Rfc3161Timestamp {
            signed_timestamp: B64.encode(request_timestamp(url, &signature, transport)?),
        });
    }

    let bundle = Bundle {
        media_type: BUNDLE_V03.into(),
        verification_material: VerificationMaterial {
            certificate: Some(RawBytes::new(&leaf_der)),
            tlog_entries: vec![tlog],
            timestamp_verification_data: (!stamps.is_empty())
                .then_some(TimestampVerificationData { rfc3161_timestamps: stamps }),
            ..Default::default()
        },
        dsse_envelope: envelope,
        message_signature: message,
    };

    // 5. Verify what we are about to hand out, for the identity Fulcio certified.
    let policy = IdentityPolicy {
        identity: san_values(&leaf)
            .into_iter()
            .next()
            .ok_or_else(|| fail("Fulcio certificate has no identity"))?,
        issuer: oidc_issuer(&leaf).ok_or_else(|| fail("Fulcio certificate has no issuer"))?,
    };
    match content {
        Content::Statement(payload) => {
            super::verify(&bundle, payload, root, &policy)?;
        }
        Content::ArtifactSha256(digest) => {
            let json = String::from_utf8(bundle.to_json()?).map_err(|e| fail(e.to_string()))?;
            super::artifact::verify_artifact(
                &json,
                &super::artifact::Artifact::Sha256(digest),
                &super::artifact::Signer::Identity { identity: policy.identity, issuer: policy.issuer },
                root,
            )?;
        }
    }
    Ok(bundle)
}
