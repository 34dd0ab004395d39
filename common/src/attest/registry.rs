//! cosign-compatible model attestations on a registry (see [`crate::attest::cosign`]): write them in
//! cosign's new bundle format or its legacy `.att` tag, find and verify them like
//! `cosign verify-attestation` (signature, subject digest = manifest digest, predicate
//! type), then check the predicate's files against the manifest's layers.

use crate::attest::cosign;
use crate::crypto::keyless::rekor;
use crate::crypto::keyless::signer::{Transport, log_envelope};
use crate::crypto::keyless::trust_root::TrustedRoot;
use crate::crypto::keys::pem_encode;
use crate::crypto::signature::{Signer, TrustPolicy, verify_signed_payload};
use crate::crypto::signing::{SigningMaterial, sign_payload};
use crate::errors::{Error, SignatureError};
use crate::formats::bundle::{BUNDLE_V03, Bundle, CertificateChain, RawBytes, VerificationMaterial};
use crate::formats::dsse::Envelope;
use crate::formats::manifest::Manifest;
use crate::hashing::source::HashOptions;
use crate::oci::referrer;
use crate::oci::{BlobStore, Descriptor, ImageManifest, MEDIA_TYPE_MANIFEST, OciDigest};
use crate::ops::remote::{MAX_SIGNATURE_CANDIDATES, RemoteVerifyOptions};
use crate::ops::report::VerifyReport;
use crate::ops::verify::check_files;
use crate::packaging::read::PackagedModel;
use crate::registry::client::{Client, FetchedManifest};
use crate::registry::model::{remote_manifest, resolve};
use crate::registry::reference::Reference;
use serde::Serialize;
use std::time::Instant;

/// What `attest` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct AttestReport {
    /// The pinned manifest.
    pub subject: String,
    /// Where the attestation is: referrer digest or `.att` tag.
    pub stored_as: String,
    /// Files listed in the predicate.
    pub resources: usize,
}

/// Where key- and certificate-signed attestations are recorded (cosign's default
/// `--tlog-upload=true`): the Rekor to write to, how to reach it, and the root the entry must
/// verify against before anything is pushed.
pub struct TlogUpload {
    /// Rekor base URL.
    pub rekor: String,
    /// How to reach it.
    pub transport: Box<dyn Transport>,
    /// The trusted root that knows the log.
    pub root: TrustedRoot,
}

impl TlogUpload {
    /// The Rekor and root of a `ClientTrustConfig` file (its signing config's log), or
    /// Sigstore's public-good ones.
    #[cfg(feature = "http")]
    pub fn from_trust_config(trust_config: Option<&std::path::Path>) -> Result<Self, Error> {
        use crate::crypto::keyless::signer::Services;
        let (root, services) = match trust_config {
            Some(p) => {
                let bytes = std::fs::read(p)
                    .map_err(|source| crate::errors::KeyError::Io { path: p.to_path_buf(), source })?;
                let root = TrustedRoot::from_json(&bytes, &p.display().to_string())?;
                let services = Services::from_trust_config(&bytes)
                    .map_err(|e| Error::Usage(format!("{}: {e}", p.display())))?;
                (root, services)
            }
            None => (TrustedRoot::builtin()?, Services::public_good()?),
        };
        Ok(Self {
            rekor: services.rekor,
            transport: Box::new(crate::crypto::keyless::http::HttpTransport::new(
                std::time::Duration::from_secs(60),
            )),
            root,
        })
    }
}

/// cosign's transparency-log rule for key- and certificate-signed attestations: an entry is
/// required and verified against `root`, unless `insecure_ignore_tlog`.
pub struct TlogCheck {
    /// The root whose logs are trusted.
    pub root: TrustedRoot,
    /// `--insecure-ignore-tlog`: accept attestations without a log entry.
    pub insecure_ignore_tlog: bool,
}

/// Records the signed envelope of `bundle` in the log and adds the entry to the bundle,
/// after checking the entry (SET, inclusion proof, body = this envelope and verifier).
fn log_bundle(
    bundle: &mut Bundle,
    payload: &[u8],
    material: &SigningMaterial,
    t: &TlogUpload,
) -> Result<(), Error> {
    let (pem, verifier_der) = match material {
        SigningMaterial::Key(k) => {
            (pem_encode("PUBLIC KEY", k.public_key().spki_der()), k.public_key().spki_der().to_vec())
        }
        SigningMaterial::Certificate { chain, .. } => {
            let leaf =
                chain.first().ok_or_else(|| SignatureError::Material("no signing certificate".into()))?;
            (pem_encode("CERTIFICATE", leaf.der()), leaf.der().to_vec())
        }
        // Keyless bundles carry their entry already.
        SigningMaterial::Keyless { .. } => return Ok(()),
    };
    let env = bundle.envelope().map_err(SignatureError::from)?.clone();
    let sig = envelope_signature(&env)?;
    let entry = log_envelope(&env, &pem, &t.rekor, t.transport.as_ref())?;
    rekor::verify_entry(&entry, &t.root, payload, &sig, &verifier_der, true).map_err(SignatureError::from)?;
    bundle.verification_material.tlog_entries = vec![entry];
    Ok(())
}

fn envelope_signature(env: &Envelope) -> Result<Vec<u8>, SignatureError> {
    let s =
        env.signatures.first().ok_or_else(|| SignatureError::Material("envelope has no signature".into()))?;
    Ok(crate::formats::bundle::decode_b64(&s.sig, "dsseEnvelope.signatures[0].sig")?)
}

/// Attests a model: statement subject = the manifest digest, predicate = model_signing's;
/// with `tlog`, key and certificate signatures are recorded in a transparency log first.
pub fn attest(
    target: &Reference,
    client: &Client,
    material: &SigningMaterial,
    new_format: bool,
    hash: &HashOptions,
    tlog: Option<&TlogUpload>,
) -> Result<AttestReport, Error> {
    let repo = client.repo(&target.repository);
    let subject = resolve(&repo, target)?.desc;
    let digest = subject.digest()?;
    let pinned = target.pinned(&digest);
    let (model, _) = remote_manifest(&pinned, client, hash)?;
    let name = format!("{}/{}", target.registry, target.repository);
    let payload = cosign::statement(&name, &digest, &model).to_payload()?;
    let mut bundle = sign_payload(&payload, material)?;
    if let Some(t) = tlog {
        log_bundle(&mut bundle, &payload, material, t)?;
    }
    let stored_as = if new_format {
        let bytes = bundle.to_json()?;
        let blob = Descriptor { media_type: referrer::BUNDLE_MEDIA_TYPE.into(), ..repo.push_bytes(&bytes)? };
        repo.push_bytes(referrer::EMPTY_CONFIG)?;
        let manifest = referrer::signature_manifest(&subject, &blob, &referrer::now_rfc3339())?.to_json()?;
        repo.push_referrer(&manifest, &digest, referrer::BUNDLE_MEDIA_TYPE)?.digest_str
    } else {
        let envelope = bundle.envelope().map_err(SignatureError::from)?;
        let env_bytes = crate::io::to_json(envelope, "DSSE envelope")?;
        let env_desc = repo.push_bytes(&env_bytes)?;
        let tag = cosign::att_tag(&digest);
        let existing = match repo.fetch_manifest(&tag)? {
            Some(m) => Some(ImageManifest::from_json(&m.bytes, &tag)?),
            None => None,
        };
        // cosign's certificate annotations: the signing certificate and its chain (given
        // ones for certificate signing, Fulcio's for keyless).
        let ders: Vec<Vec<u8>> = match material {
            SigningMaterial::Certificate { chain, .. } => chain.iter().map(|c| c.der().to_vec()).collect(),
            SigningMaterial::Keyless { .. } => bundle.certificates().map_err(SignatureError::from)?,
            SigningMaterial::Key(_) => Vec::new(),
        };
        let pems: Vec<String> = ders.iter().map(|d| pem_encode("CERTIFICATE", d)).collect();
        let chain_pems = pems.split_first().map(|(leaf, rest)| (leaf.clone(), rest.concat()));
        let certs = chain_pems.as_ref().map(|(l, c)| (l.as_str(), c.as_str()));
        let rekor_bundle = match bundle.verification_material.tlog_entries.first() {
            Some(e) => Some(cosign::rekor_bundle_annotation(e)?),
            None => None,
        };
        let (config, manifest) = cosign::legacy_att_manifest(
            existing.as_ref(),
            &env_desc,
            crate::formats::predicate::PREDICATE_V1,
            certs,
            rekor_bundle.as_deref(),
        )?;
        repo.push_bytes(&config)?;
        repo.push_manifest(&tag, &manifest.to_json()?, MEDIA_TYPE_MANIFEST)?;
        tag
    };
    Ok(AttestReport { subject: subject.digest_str, stored_as, resources: model.len() })
}

/// Every attestation envelope of a manifest: new-format bundles and legacy `.att` layers,
/// as `(where, bundle)`; legacy envelopes get a bundle built from their annotations.
fn candidates(
    client: &Client,
    target: &Reference,
    digest: &OciDigest,
) -> Result<Vec<(String, Bundle)>, Error> {
    Ok(attached_bundles(client, target, digest)?.into_iter().map(|(w, _, b)| (w, b)).collect())
}

/// Every bundle attached to a manifest — model signatures and cosign attestations as
/// referrers (the newest [`MAX_SIGNATURE_CANDIDATES`], by their creation annotation), and
/// legacy `.att` layers — as `(where, created, bundle)`.
pub fn attached_bundles(
    client: &Client,
    target: &Reference,
    digest: &OciDigest,
) -> Result<Vec<(String, Option<String>, Bundle)>, Error> {
    let repo = client.repo(&target.repository);
    let mut out = Vec::new();
    let (refs, _) = repo.referrers(digest)?;
    let mut refs: Vec<_> = refs.into_iter().filter(referrer::is_bundle_referrer).collect();
    let created = |d: &Descriptor| d.annotation(crate::oci::ANNOTATION_CREATED).map(str::to_owned);
    refs.sort_by_key(|d| std::cmp::Reverse(created(d)));
    refs.truncate(MAX_SIGNATURE_CANDIDATES);
    for d in &refs {
        let Some(m) = repo.fetch_manifest(&d.digest_str)? else { continue };
        let Ok(rm) = ImageManifest::from_json(&m.bytes, "referrer") else { continue };
        if rm.subject.as_ref().map(|s| &s.digest_str) != Some(&digest.to_string()) {
            continue;
        }
        let Some(layer) = referrer::bundle_layer(&rm) else { continue };
        let bytes =
            repo.read_blob_up_to(layer, "attestation bundle", crate::oci::layout::MAX_SIGNATURE_BUNDLE)?;
        if let Ok(b) = Bundle::from_json(&bytes, "attestation bundle") {
            out.push((d.digest_str.clone(), created(d), b));
        }
    }
    if let Some(m) = repo.fetch_manifest(&cosign::att_tag(digest))? {
        let att = ImageManifest::from_json(&m.bytes, "attestations")?;
        for layer in att.layers.iter().filter(|l| l.media_type == cosign::DSSE_MEDIA_TYPE) {
            let bytes = repo.read_blob_up_to(
                layer,
                "attestation envelope",
                crate::oci::layout::MAX_SIGNATURE_BUNDLE,
            )?;
            let Ok(env) = serde_json::from_slice::<Envelope>(&bytes) else { continue };
            out.push((
                format!("{} layer {}", cosign::att_tag(digest), layer.digest_str),
                None,
                legacy_bundle(env, layer)?,
            ));
        }
    }
    Ok(out)
}

fn legacy_bundle(envelope: Envelope, layer: &Descriptor) -> Result<Bundle, SignatureError> {
    let mut certs = Vec::new();
    for key in [cosign::ANNOTATION_CERTIFICATE, cosign::ANNOTATION_CHAIN] {
        if let Some(pem) = layer.annotation(key)
            && let Ok(chain) = crate::crypto::x509::Cert::from_pem_chain(pem.as_bytes())
        {
            certs.extend(chain.iter().map(|c| RawBytes::new(c.der())));
        }
    }
    let tlog_entries = match layer.annotation(cosign::ANNOTATION_BUNDLE) {
        Some(a) => vec![cosign::entry_from_rekor_bundle(a)?],
        None => Vec::new(),
    };
    // cosign's legacy Rekor bundle has a signed entry timestamp but no inclusion proof: read
    // it as the bundle version that allowed that.
    let media_type = if tlog_entries.iter().any(|e| e.inclusion_proof.is_none()) {
        crate::formats::bundle::BUNDLE_MEDIA_TYPES[0]
    } else {
        BUNDLE_V03
    };
    Ok(Bundle {
        media_type: media_type.into(),
        verification_material: VerificationMaterial {
            x509_certificate_chain: (!certs.is_empty()).then_some(CertificateChain { certificates: certs }),
            tlog_entries,
            ..Default::default()
        },
        dsse_envelope: Some(envelope),
        message_signature: None,
    })
}

/// cosign's log rule for an attestation that verified with a key or certificate: its entry
/// verifies (SET; inclusion proof when present; body = this envelope, signature and
/// verifier), or there is none and the caller accepted that.
fn check_tlog(
    bundle: &Bundle,
    payload: &[u8],
    policy: &TrustPolicy,
    tlog: &TlogCheck,
) -> Result<Option<String>, Error> {
    let verifier_der = match policy {
        // verify_bundle checked the log of keyless bundles already.
        TrustPolicy::Sigstore { .. } => return Ok(None),
        TrustPolicy::Key(k) => k.spki_der().to_vec(),
        TrustPolicy::Certificate { .. } => bundle
            .certificates()
            .map_err(SignatureError::from)?
            .first()
            .cloned()
            .ok_or_else(|| SignatureError::Material("no signing certificate".into()))?,
    };
    let Some(entry) = bundle.verification_material.tlog_entries.first() else {
        if tlog.insecure_ignore_tlog {
            return Ok(Some(
                "the attestation has no transparency log entry; accepted because of --insecure-ignore-tlog"
                    .into(),
            ));
        }
        return Err(SignatureError::Material(
            "the attestation has no transparency log entry; cosign verify-attestation requires one (--insecure-ignore-tlog=true accepts it)".into(),
        )
        .into());
    };
    let env = bundle.envelope().map_err(SignatureError::from)?;
    let sig = envelope_signature(env)?;
    let with_proof = entry.inclusion_proof.is_some();
    rekor::verify_entry(entry, &tlog.root, payload, &sig, &verifier_der, with_proof)
        .map_err(SignatureError::from)?;
    Ok(None)
}

/// Verifies the model attestations of a reference like `cosign verify-attestation`, then
/// checks the predicate's files against the manifest's layers.
pub fn verify_attestation(
    target: &Reference,
    client: &Client,
    policy: &TrustPolicy,
    predicate_type: &str,
    hash: &HashOptions,
    opts: &RemoteVerifyOptions,
    tlog: &TlogCheck,
) -> Result<VerifyReport, Error> {
    let started = Instant::now();
    let mut report = VerifyReport::new(target.to_string(), "attestation".into());
    let repo = client.repo(&target.repository);
    let fetched = resolve(&repo, target)?;
    let digest = fetched.desc.digest()?;
    report.subject = Some(digest.to_string());
    let mut reasons = Vec::new();
    let mut found: Option<(Manifest, Signer, Option<String>)> = None;
    for (wher, bundle) in candidates(client, target, &digest)? {
        let checked = verify_signed_payload(&bundle, policy)
            .map_err(Error::from)
            .and_then(|(payload, signer)| {
                check_tlog(&bundle, &payload, policy, tlog).map(|note| (payload, signer, note))
            })
            .and_then(|(payload, signer, note)| {
                Ok(cosign::check_statement(&payload, &digest, predicate_type).map(|m| (m, signer, note))?)
            });
        match checked {
            Ok(ok) => {
                found = Some(ok);
                break;
            }
            Err(e) => reasons.push(format!("{wher}: {e}")),
        }
    }
    let Some((signed, signer, note)) = found else {
        report.bytes_transferred = Some(client.downloaded());
        let why = if reasons.is_empty() {
            format!("no attestations found for {target} ({digest})")
        } else {
            reasons.join("; ")
        };
        return Ok(report.failed(format!("no matching attestations: {why}"), started));
    };
    report.signer = Some(signer);
    report.predicate_type = Some(predicate_type.to_owned());
    report.warnings.extend(note);
    check_layers(target, client, &fetched, &signed, hash, opts, report, started)
}

/// Checks the attested files against the pinned manifest's layers.
#[allow(clippy::too_many_arguments)]
fn check_layers(
    target: &Reference,
    client: &Client,
    fetched: &FetchedManifest,
    signed: &Manifest,
    hash: &HashOptions,
    opts: &RemoteVerifyOptions,
    report: VerifyReport,
    started: Instant,
) -> Result<VerifyReport, Error> {
    let name = target.repository.rsplit('/').next().unwrap_or("model").to_owned();
    let store: Box<dyn BlobStore + Send + '_> = Box::new(client.repo(&target.repository));
    let model = PackagedModel::from_manifest(store, fetched.desc.clone(), &fetched.bytes, name)?;
    let mut report = check_files(&model, signed, &opts.for_registry(hash), &[], report, started)?;
    report.bytes_transferred = Some(client.downloaded());
    Ok(report)
}

/// Checks attestation envelopes already verified by `cosign verify-attestation` (its
/// stdout: one DSSE envelope JSON per line) against a reference's manifest and layers.
pub fn check_cosign_output(
    target: &Reference,
    client: &Client,
    cosign_stdout: &str,
    predicate_type: &str,
    hash: &HashOptions,
    opts: &RemoteVerifyOptions,
) -> Result<VerifyReport, Error> {
    let started = Instant::now();
    let mut report = VerifyReport::new(target.to_string(), "cosign verify-attestation output".into());
    let repo = client.repo(&target.repository);
    let fetched = resolve(&repo, target)?;
    let digest = fetched.desc.digest()?;
    report.subject = Some(digest.to_string());
    let mut reasons = Vec::new();
    let mut signed = None;
    for (i, line) in cosign_stdout.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let res = cosign::envelope_of(line.as_bytes())
            .and_then(|env| Ok(env.payload_bytes().map_err(SignatureError::from)?))
            .and_then(|payload| Ok(cosign::check_statement(&payload, &digest, predicate_type)?));
        match res {
            Ok(m) => {
                signed = Some(m);
                break;
            }
            Err(e) => reasons.push(format!("line {}: {e}", i + 1)),
        }
    }
    let Some(signed) = signed else {
        let why =
            if reasons.is_empty() { "no envelopes on standard input".to_owned() } else { reasons.join("; ") };
        return Ok(report.failed(format!("no model attestation for {digest}: {why}"), started));
    };
    report.predicate_type = Some(predicate_type.to_owned());
    check_layers(target, client, &fetched, &signed, hash, opts, report, started)
}
