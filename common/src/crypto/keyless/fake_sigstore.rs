//! An in-process fake Fulcio + Rekor (+ CT log) for testing keyless signing and
//! verification without any network: it issues real certificates with embedded SCTs,
//! real signed entry timestamps, inclusion proofs and checkpoints, from its own keys.
//! Built for the unit tests, and with the `test-services` feature for the end-to-end tests
//! (which serve it over HTTP on 127.0.0.1); never part of a release build.

use super::signer::{IdentityToken, Transport, TransportError};
use super::trust_root::TrustedRoot;
use crate::crypto::keys::{PublicKey, pem_encode};
use crate::crypto::x509::Cert;
use crate::formats::digest::sha256;
use crate::formats::dsse::Envelope;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use const_oid::{AssociatedOid, ObjectIdentifier};
use der::Encode;
use ecdsa::signature::hazmat::PrehashSigner;
use pkcs8::EncodePublicKey;
use std::cell::Cell;
use std::str::FromStr;
use std::time::Duration;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

type Key = p256::ecdsa::SigningKey;

fn new_key() -> Key {
    Key::random(&mut rand_core::OsRng)
}

fn spki_der(k: &Key) -> Vec<u8> {
    p256::PublicKey::from(k.verifying_key()).to_public_key_der().map(|d| d.into_vec()).unwrap_or_default()
}

fn sign(k: &Key, msg: &[u8]) -> Vec<u8> {
    let s: p256::ecdsa::Signature = k.sign_prehash(&sha256(msg)).unwrap_or_else(|e| panic!("{e}"));
    s.to_der().as_bytes().to_vec()
}

/// Fulcio's OIDC issuer extension (v2, DER UTF8String).
struct IssuerExt(String);

impl AssociatedOid for IssuerExt {
    const OID: ObjectIdentifier = super::OID_ISSUER_V2;
}

impl der::Encode for IssuerExt {
    fn encoded_len(&self) -> der::Result<der::Length> {
        der::asn1::Utf8StringRef::new(&self.0)?.encoded_len()
    }
    fn encode(&self, w: &mut impl der::Writer) -> der::Result<()> {
        der::asn1::Utf8StringRef::new(&self.0)?.encode(w)
    }
}

impl x509_cert::ext::AsExtension for IssuerExt {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}

/// Fulcio's deprecated OIDC issuer extension (v1: the issuer's bytes, not DER), which
/// Fulcio still writes and sigstore-python's identity policy reads.
struct IssuerExtV1(String);

impl AssociatedOid for IssuerExtV1 {
    const OID: ObjectIdentifier = super::OID_ISSUER_V1;
}

impl der::Encode for IssuerExtV1 {
    fn encoded_len(&self) -> der::Result<der::Length> {
        der::Length::try_from(self.0.len())
    }
    fn encode(&self, w: &mut impl der::Writer) -> der::Result<()> {
        w.write(self.0.as_bytes())
    }
}

impl x509_cert::ext::AsExtension for IssuerExtV1 {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}

/// The embedded SCT list extension (an OCTET STRING holding the TLS-encoded list).
struct SctExt(Vec<u8>);

impl AssociatedOid for SctExt {
    // RFC 6962 embedded SCT list.
    const OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
}

impl der::Encode for SctExt {
    fn encoded_len(&self) -> der::Result<der::Length> {
        der::asn1::OctetStringRef::new(&self.0)?.encoded_len()
    }
    fn encode(&self, w: &mut impl der::Writer) -> der::Result<()> {
        der::asn1::OctetStringRef::new(&self.0)?.encode(w)
    }
}

/// Extended key usage codeSigning, non-critical as Fulcio issues it (RFC 5280 §4.2.1.12
/// leaves the choice to the CA; Python's cryptography refuses a critical one in this
/// profile).
struct CodeSigningEku;

impl AssociatedOid for CodeSigningEku {
    const OID: ObjectIdentifier = const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE;
}

impl der::Encode for CodeSigningEku {
    fn encoded_len(&self) -> der::Result<der::Length> {
        ExtendedKeyUsage(vec![crate::crypto::x509::EKU_CODE_SIGNING]).encoded_len()
    }
    fn encode(&self, w: &mut impl der::Writer) -> der::Result<()> {
        ExtendedKeyUsage(vec![crate::crypto::x509::EKU_CODE_SIGNING]).encode(w)
    }
}

impl x509_cert::ext::AsExtension for CodeSigningEku {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}

impl x509_cert::ext::AsExtension for SctExt {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}

/// How the fake misbehaves.
#[derive(Default, Clone, Copy)]
pub struct Faults {
    /// Fulcio certifies a key other than the one asked for.
    pub wrong_key: bool,
    /// Rekor's signed entry timestamp is signed over other data.
    pub bad_set: bool,
    /// Fulcio's SCT comes from a CT log the trusted root does not know.
    pub unknown_ct_log: bool,
    /// Fulcio answers with PEM whose base64 is one unwrapped line (valid; must be read).
    pub unwrapped_pem: bool,
    /// The TSA embeds its CA too, in a certificate SET OF that is not in DER order
    /// (what OpenSSL writes with `certs`); sigstore-python refuses such tokens.
    pub tsa_unordered_certs: bool,
}

/// The fake services.
pub struct FakeSigstore {
    ca_key: Key,
    ca_cert: Cert,
    ct_key: Key,
    rekor_key: Key,
    /// Misbehaviour switches.
    pub faults: Faults,
    /// Requests served.
    pub calls: Cell<usize>,
    /// The timestamp authority, when one is run.
    tsa: Option<OpensslTsa>,
    /// A Rekor v2 log (its own key) listed before the v1 log in the signing config.
    rekor_v2: Option<Key>,
    /// OAuth codes handed out, with their PKCE challenge.
    codes: std::cell::RefCell<std::collections::HashMap<String, String>>,
}

/// An HTTP answer of [`FakeSigstore::serve_http`].
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    fn json(status: u16, v: &serde_json::Value) -> Self {
        Self { status, content_type: "application/json", location: None, body: v.to_string().into_bytes() }
    }
}

/// The bearer token a test gives the fake's GitHub Actions token endpoint.
pub const GHA_REQUEST_TOKEN: &str = "gha-request-token";

/// A timestamp authority that is OpenSSL's (`openssl ts -reply`, RFC 3161), not ours: the
/// tokens our signer fetches and our verifiers check come from an implementation we did
/// not write. Its CA and TSA certificate (EKU timeStamping, critical) are made by
/// `openssl` too, in a private temporary directory.
struct OpensslTsa {
    dir: tempfile::TempDir,
    /// DER chain, TSA certificate first.
    chain: Vec<Vec<u8>>,
}

fn openssl(dir: &std::path::Path, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

impl OpensslTsa {
    /// A TSA whose `genTime` has `fraction_digits` fractional-second digits (0: none).
    fn new(fraction_digits: u8) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        std::fs::write(
            d.join("tsa.cnf"),
            format!(
                "[tsa]\ndefault_tsa = fake\n[fake]\nserial = ./serial\ncrypto_device = builtin\n\
                 default_policy = 1.3.6.1.4.1.57264.2\nother_policies = 1.3.6.1.4.1.57264.2.1\n\
                 digests = sha256, sha384, sha512\naccuracy = secs:1\nclock_precision_digits = {fraction_digits}\n\
                 ordering = no\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n\
                 signer_digest = sha256\n\
                 [tsa_ext]\nextendedKeyUsage = critical,timeStamping\nkeyUsage = critical,digitalSignature\n\
                 basicConstraints = critical,CA:FALSE\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(d.join("serial"), "01\n").map_err(|e| e.to_string())?;
        for args in [
            &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"][..],
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-subj",
                "/O=test/CN=fake tsa root",
                "-days",
                "2",
                "-out",
                "ca.pem",
            ],
            &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "tsa.key"],
            &["req", "-new", "-key", "tsa.key", "-subj", "/O=test/CN=fake tsa", "-out", "tsa.csr"],
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-days",
                "1",
                "-extfile",
                "tsa.cnf",
                "-extensions",
                "tsa_ext",
                "-out",
                "tsa.pem",
            ],
        ] {
            openssl(d, args)?;
        }
        let der = |f: &str| -> Result<Vec<u8>, String> {
            let text = std::fs::read(d.join(f)).map_err(|e| e.to_string())?;
            crate::crypto::keys::pem_decode(&text, f).map(|(_, der)| der).map_err(|e| e.to_string())
        };
        let chain = vec![der("tsa.pem")?, der("ca.pem")?];
        Ok(Self { dir, chain })
    }

    /// OpenSSL's `TimeStampResp` to a DER `TimeStampReq` (`unordered`: with the CA too,
    /// which OpenSSL puts in a SET OF out of DER order).
    fn reply(&self, query: &[u8], unordered: bool) -> Result<Vec<u8>, String> {
        let d = self.dir.path();
        let q = tempfile::NamedTempFile::new_in(d).map_err(|e| e.to_string())?;
        std::fs::write(q.path(), query).map_err(|e| e.to_string())?;
        let r = tempfile::NamedTempFile::new_in(d).map_err(|e| e.to_string())?;
        let (qp, rp) = (q.path().display().to_string(), r.path().display().to_string());
        let mut args = vec![
            "ts",
            "-reply",
            "-config",
            "tsa.cnf",
            "-queryfile",
            &qp,
            "-signer",
            "tsa.pem",
            "-inkey",
            "tsa.key",
            "-out",
            &rp,
        ];
        if unordered {
            args.extend(["-chain", "ca.pem"]);
        }
        openssl(d, &args)?;
        std::fs::read(r.path()).map_err(|e| e.to_string())
    }
}

impl Default for FakeSigstore {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeSigstore {
    /// New keys and a self-signed CA.
    pub fn new() -> Self {
        let ca_key = new_key();
        let name = Name::from_str("CN=fake fulcio,O=test").unwrap_or_else(|e| panic!("{e}"));
        let spki =
            SubjectPublicKeyInfoOwned::from_key(*ca_key.verifying_key()).unwrap_or_else(|e| panic!("{e}"));
        let validity = Validity::from_now(Duration::from_secs(86400)).unwrap_or_else(|e| panic!("{e}"));
        let cert =
            CertificateBuilder::new(Profile::Root, SerialNumber::from(1u32), validity, name, spki, &ca_key)
                .and_then(|b| b.build::<p256::ecdsa::DerSignature>())
                .unwrap_or_else(|e| panic!("{e}"));
        let ca_cert = Cert::from_der(&cert.to_der().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        Self {
            ca_key,
            ca_cert,
            ct_key: new_key(),
            rekor_key: new_key(),
            faults: Faults::default(),
            calls: Cell::new(0),
            tsa: None,
            rekor_v2: None,
            codes: Default::default(),
        }
    }

    /// With a TSA (whole seconds) and a Rekor v2 log listed first in the signing config, as
    /// Sigstore's staging and opt-in configs list them: clients that pick the newest log
    /// version (sigstore-python) write Rekor v2 entries.
    pub fn with_rekor_v2() -> Self {
        let mut f = Self::with_tsa(0);
        f.rekor_v2 = Some(new_key());
        f
    }

    /// The same, with a timestamp authority (OpenSSL's) listed in the trust config, whose
    /// `genTime` carries `fraction_digits` fractional-second digits.
    pub fn with_tsa(fraction_digits: u8) -> Self {
        let mut f = Self::new();
        f.tsa = Some(OpensslTsa::new(fraction_digits).unwrap_or_else(|e| panic!("fake TSA: {e}")));
        f
    }

    /// Answers a binary POST: the TSA's `/api/v1/timestamp` (RFC 3161 query → response).
    pub fn handle_bytes(&self, path: &str, body: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.calls.set(self.calls.get() + 1);
        match &self.tsa {
            Some(tsa) if path.ends_with("/api/v1/timestamp") => {
                // Sigstore's timestamp-authority also takes JSON (`artifactHash`,
                // `hashAlgorithm`), which sigstore-js sends; it becomes the same DER query.
                let query = if body.first() == Some(&b'{') {
                    let j: serde_json::Value = serde_json::from_slice(body).map_err(bad_request)?;
                    if j["hashAlgorithm"] != "sha256" {
                        return Err(bad_request("only sha256"));
                    }
                    let hash =
                        B64.decode(j["artifactHash"].as_str().unwrap_or_default()).map_err(bad_request)?;
                    super::timestamp::request_der(&hash, 1 + self.calls.get() as u64).map_err(bad_request)?
                } else {
                    body.to_vec()
                };
                tsa.reply(&query, self.faults.tsa_unordered_certs).map_err(bad_request)
            }
            _ => Err(TransportError::Status { status: 404, body: path.to_owned() }),
        }
    }

    /// The trusted root that trusts this fake.
    pub fn trusted_root(&self) -> TrustedRoot {
        TrustedRoot::from_json(self.trust_config_json("https://fake").to_string().as_bytes(), "fake root")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn issue(&self, subject_key: &PublicKey, email: &str, issuer: &str) -> Vec<u8> {
        let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::try_from(subject_key.spki_der())
            .unwrap_or_else(|e| panic!("{e}"));
        let validity = Validity::from_now(Duration::from_secs(600)).unwrap_or_else(|e| panic!("{e}"));
        let issuer_name = self.ca_cert.inner().tbs_certificate.subject.clone();
        let build = |sct: Option<&[u8]>| {
            let profile = Profile::Leaf {
                issuer: issuer_name.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: false,
            };
            let mut b = CertificateBuilder::new(
                profile,
                SerialNumber::from(42u32),
                validity,
                Name::default(),
                spki.clone(),
                &self.ca_key,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            b.add_extension(&CodeSigningEku).unwrap_or_else(|e| panic!("{e}"));
            let san =
                GeneralName::Rfc822Name(der::asn1::Ia5String::new(email).unwrap_or_else(|e| panic!("{e}")));
            b.add_extension(&SubjectAltName(vec![san])).unwrap_or_else(|e| panic!("{e}"));
            b.add_extension(&IssuerExtV1(issuer.into())).unwrap_or_else(|e| panic!("{e}"));
            b.add_extension(&IssuerExt(issuer.into())).unwrap_or_else(|e| panic!("{e}"));
            if let Some(s) = sct {
                b.add_extension(&SctExt(s.to_vec())).unwrap_or_else(|e| panic!("{e}"));
            }
            b.build::<p256::ecdsa::DerSignature>().unwrap_or_else(|e| panic!("{e}"))
        };
        let precert = build(None);
        let tbs = precert.tbs_certificate.to_der().unwrap_or_default();
        let ct_key = if self.faults.unknown_ct_log { new_key() } else { self.ct_key.clone() };
        let ts: u64 = 1_700_000_000_000;
        let mut signed = vec![0u8, 0];
        signed.extend(ts.to_be_bytes());
        signed.extend([0, 1]);
        signed.extend(sha256(&self.ca_cert.spki_der().unwrap_or_default()));
        signed.extend(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend(&tbs);
        signed.extend([0, 0]);
        let sig = sign(&ct_key, &signed);
        let mut sct = vec![0u8];
        sct.extend(sha256(&spki_der(&ct_key)));
        sct.extend(ts.to_be_bytes());
        sct.extend([0, 0, 4, 3]);
        sct.extend((sig.len() as u16).to_be_bytes());
        sct.extend(&sig);
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend((sct.len() as u16).to_be_bytes());
        list.extend(&sct);
        build(Some(&list)).to_der().unwrap_or_default()
    }

    /// Fulcio v2 `signingCert`, both request forms: a public key with a proof of possession
    /// (signature over the token's subject) and the token in `credentials`, as we send it;
    /// or a PKCS#10 CSR (self-signed: the proof) with the token as the `Authorization`
    /// bearer, as sigstore-python sends it.
    fn fulcio(
        &self,
        body: &serde_json::Value,
        authorization: Option<&str>,
    ) -> Result<serde_json::Value, TransportError> {
        let refuse = |why: &str| TransportError::Status { status: 400, body: why.into() };
        let key = if let Some(csr_b64) = body["certificateSigningRequest"].as_str() {
            let pem = B64.decode(csr_b64).map_err(bad_request)?;
            let (_, der) = crate::crypto::keys::pem_decode(&pem, "CSR").map_err(bad_request)?;
            let csr = <x509_cert::request::CertReq as der::Decode>::from_der(&der).map_err(bad_request)?;
            let spki = csr.info.public_key.to_der().map_err(bad_request)?;
            let key = PublicKey::from_spki_der(&spki, "CSR key").map_err(bad_request)?;
            let info = csr.info.to_der().map_err(bad_request)?;
            if !key.verify(&info, csr.signature.raw_bytes()) {
                return Err(refuse("CSR signature does not verify"));
            }
            key
        } else {
            let pem = body["publicKeyRequest"]["publicKey"]["content"].as_str().unwrap_or_default();
            PublicKey::from_pem(pem.as_bytes(), "request key").map_err(bad_request)?
        };
        let raw_token = body["credentials"]["oidcIdentityToken"]
            .as_str()
            .or_else(|| authorization.and_then(|a| a.strip_prefix("Bearer ")))
            .unwrap_or_default();
        let token = IdentityToken::parse(raw_token).map_err(bad_request)?;
        if body.get("publicKeyRequest").is_some() {
            let pop = B64
                .decode(body["publicKeyRequest"]["proofOfPossession"].as_str().unwrap_or_default())
                .map_err(bad_request)?;
            if !key.verify(token.subject.as_bytes(), &pop) {
                return Err(refuse("proof of possession does not verify"));
            }
        }
        let certified = if self.faults.wrong_key {
            PublicKey::from_spki_der(&spki_der(&new_key()), "other").map_err(bad_request)?
        } else {
            key
        };
        let leaf = self.issue(&certified, &token.subject, &token.issuer);
        let pem = |der: &[u8]| {
            if self.faults.unwrapped_pem {
                format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", B64.encode(der))
            } else {
                pem_encode("CERTIFICATE", der)
            }
        };
        Ok(serde_json::json!({ "signedCertificateEmbeddedSct": { "chain": { "certificates": [
            pem(&leaf), pem(self.ca_cert.der()),
        ]}}}))
    }

    fn rekor(&self, body: &serde_json::Value) -> Result<serde_json::Value, TransportError> {
        let entry_body = if body["kind"] == "hashedrekord" {
            // Rekor stores a hashedrekord's spec as proposed (hash, signature, verifier).
            serde_json::json!({ "apiVersion": "0.0.1", "kind": "hashedrekord", "spec": body["spec"] })
        } else {
            let content = &body["spec"]["proposedContent"];
            let env_json = content["envelope"].as_str().unwrap_or_default();
            let env: Envelope = serde_json::from_str(env_json).map_err(bad_request)?;
            let payload = env.payload_bytes().map_err(bad_request)?;
            serde_json::json!({
                "apiVersion": "0.0.1", "kind": "dsse",
                "spec": {
                    "envelopeHash": { "algorithm": "sha256", "value": hex::encode(sha256(env_json.as_bytes())) },
                    "payloadHash": { "algorithm": "sha256", "value": hex::encode(sha256(&payload)) },
                    "signatures": [{ "signature": env.signatures[0].sig, "verifier": content["verifiers"][0] }],
                }
            })
        };
        let body_bytes = serde_json::to_vec(&entry_body).map_err(bad_request)?;
        let body_b64 = B64.encode(&body_bytes);
        let log_id = sha256(&spki_der(&self.rekor_key));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let log_index = 7;
        let set_payload = format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            if self.faults.bad_set { "tampered" } else { &body_b64 },
            now,
            hex::encode(log_id),
            log_index
        );
        let set = sign(&self.rekor_key, set_payload.as_bytes());
        // A three-leaf tree with our entry last.
        let (n01, root) = three_leaf_tree(&body_bytes);
        let checkpoint = signed_note("fake.rekor - 42", "fake.rekor", &root, &log_id, &self.rekor_key);
        Ok(serde_json::json!({ "24296fb24b8ad77a": {
            "body": body_b64, "integratedTime": now, "logID": hex::encode(log_id), "logIndex": log_index,
            "verification": {
                "signedEntryTimestamp": B64.encode(set),
                "inclusionProof": { "checkpoint": checkpoint, "hashes": [hex::encode(n01)], "logIndex": 2, "rootHash": hex::encode(root), "treeSize": 3 },
            }
        }}))
    }
}

impl FakeSigstore {
    /// Rekor v2 (rekor-tiles `POST /api/v2/log/entries`): a `hashedrekord` 0.0.2 entry (what
    /// sigstore-python sends for DSSE too: the digest of the envelope's PAE, rekor-v2-spec
    /// §6.1.4) or a `dsse` 0.0.2 one, answered synchronously with a `TransparencyLogEntry`:
    /// no integrated time, an inclusion proof in a three-leaf tree and a C2SP signed-note
    /// checkpoint from the v2 log's key.
    fn rekor_v2(&self, body: &serde_json::Value) -> Result<serde_json::Value, TransportError> {
        let Some(key) = &self.rekor_v2 else {
            return Err(TransportError::Status { status: 404, body: "no Rekor v2 log".into() });
        };
        let (kind, entry_body) = if let Some(r) = body.get("hashedRekordRequestV002") {
            (
                "hashedrekord",
                serde_json::json!({ "kind": "hashedrekord", "apiVersion": "0.0.2", "spec": { "hashedRekordV002": {
                    "data": { "algorithm": "SHA2_256", "digest": r["digest"] },
                    "signature": r["signature"],
                }}}),
            )
        } else if let Some(r) = body.get("dsseRequestV002") {
            let payload =
                B64.decode(r["envelope"]["payload"].as_str().unwrap_or_default()).map_err(bad_request)?;
            (
                "dsse",
                serde_json::json!({ "kind": "dsse", "apiVersion": "0.0.2", "spec": { "dsseV002": {
                    "payloadHash": { "algorithm": "SHA2_256", "digest": B64.encode(sha256(&payload)) },
                    "signatures": [{ "content": r["envelope"]["signatures"][0]["sig"], "verifier": r["verifiers"][0] }],
                }}}),
            )
        } else {
            return Err(bad_request("neither hashedRekordRequestV002 nor dsseRequestV002"));
        };
        let body_bytes = serde_json::to_vec(&entry_body).map_err(bad_request)?;
        let log_id = sha256(&spki_der(key));
        let (n01, root) = three_leaf_tree(&body_bytes);
        let origin = "fake-rekor-v2.test";
        let checkpoint = signed_note(origin, origin, &root, &log_id, key);
        Ok(serde_json::json!({
            "logIndex": "2",
            "logId": { "keyId": B64.encode(log_id) },
            "kindVersion": { "kind": kind, "version": "0.0.2" },
            "inclusionProof": {
                "logIndex": "2", "rootHash": B64.encode(root), "treeSize": "3",
                "hashes": [B64.encode(n01)], "checkpoint": { "envelope": checkpoint },
            },
            "canonicalizedBody": B64.encode(&body_bytes),
        }))
    }
}

impl FakeSigstore {
    /// Serves one HTTP request at `base` (`http://127.0.0.1:PORT`): Fulcio, Rekor v1 and
    /// v2, the TSA, an OIDC provider (discovery, authorization with PKCE — a redirect, or
    /// the code as text for the out-of-band flow — and the token endpoint, whose tokens
    /// name `dev@example.com` from issuer `{base}/oauth2`) and GitHub Actions' token
    /// endpoint (`{base}/gha-token`, bearer [`GHA_REQUEST_TOKEN`], tokens for
    /// `ci@example.com` from `{base}/gha`).
    pub fn serve_http(
        &self,
        method: &str,
        target: &str,
        authorization: Option<&str>,
        body: &[u8],
        base: &str,
    ) -> HttpAnswer {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let param = |k: &str| crate::io::form_field(query, k);
        let err = |e: TransportError| match e {
            TransportError::Status { status, body } => {
                HttpAnswer::json(status, &serde_json::json!({ "message": body }))
            }
            other => HttpAnswer::json(500, &serde_json::json!({ "message": other.to_string() })),
        };
        match (method, path) {
            ("GET", p) if p.ends_with("/oauth2/.well-known/openid-configuration") => HttpAnswer::json(
                200,
                &serde_json::json!({
                    "issuer": format!("{base}/oauth2"),
                    "authorization_endpoint": format!("{base}/oauth2/auth"),
                    "token_endpoint": format!("{base}/oauth2/token"),
                    "jwks_uri": format!("{base}/oauth2/keys"),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["ES256"],
                }),
            ),
            ("GET", p) if p.ends_with("/oauth2/auth") => {
                let (Some(redirect), Some(challenge)) = (param("redirect_uri"), param("code_challenge"))
                else {
                    return HttpAnswer::json(400, &serde_json::json!({ "error": "invalid_request" }));
                };
                if param("code_challenge_method").as_deref() != Some("S256") {
                    return HttpAnswer::json(400, &serde_json::json!({ "error": "invalid_request" }));
                }
                let code = hex::encode(sha256(format!("{challenge}{}", self.calls.get()).as_bytes()));
                self.codes.borrow_mut().insert(code.clone(), challenge);
                self.calls.set(self.calls.get() + 1);
                if redirect == "urn:ietf:wg:oauth:2.0:oob" {
                    HttpAnswer {
                        status: 200,
                        content_type: "text/plain",
                        location: None,
                        body: code.into_bytes(),
                    }
                } else {
                    let state = param("state").unwrap_or_default();
                    HttpAnswer {
                        status: 302,
                        content_type: "text/plain",
                        location: Some(format!("{redirect}?code={code}&state={state}")),
                        body: Vec::new(),
                    }
                }
            }
            ("POST", p) if p.ends_with("/oauth2/token") => {
                let form = String::from_utf8_lossy(body).into_owned();
                let field = |k: &str| crate::io::form_field(&form, k);
                let challenge = field("code").and_then(|c| self.codes.borrow_mut().remove(&c));
                let verifier = field("code_verifier").unwrap_or_default();
                match challenge {
                    Some(ch) if B64URL.encode(sha256(verifier.as_bytes())) == ch => HttpAnswer::json(
                        200,
                        &serde_json::json!({ "access_token": token("dev@example.com", &format!("{base}/oauth2")),
                                             "token_type": "bearer" }),
                    ),
                    _ => HttpAnswer::json(400, &serde_json::json!({ "error": "invalid_grant" })),
                }
            }
            ("GET", p) if p.ends_with("/gha-token") => {
                if authorization != Some(&format!("bearer {GHA_REQUEST_TOKEN}"))
                    || param("audience").is_none()
                {
                    return HttpAnswer::json(401, &serde_json::json!({ "message": "bad request token" }));
                }
                HttpAnswer::json(
                    200,
                    &serde_json::json!({ "value": token("ci@example.com", &format!("{base}/gha")) }),
                )
            }
            ("POST", p) if p.ends_with("/api/v1/timestamp") => match self.handle_bytes(p, body) {
                Ok(b) => HttpAnswer {
                    status: 200,
                    content_type: "application/timestamp-reply",
                    location: None,
                    body: b,
                },
                Err(e) => err(e),
            },
            ("POST", p) => match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(json) => match self.handle_authorized(p, &json, authorization) {
                    Ok(v) => HttpAnswer::json(201, &v),
                    Err(e) => err(e),
                },
                Err(e) => HttpAnswer::json(400, &serde_json::json!({ "message": e.to_string() })),
            },
            _ => HttpAnswer::json(404, &serde_json::json!({ "message": target })),
        }
    }
}

/// A three-leaf Merkle tree (RFC 6962) with `body` as the last leaf: (the proof's one
/// hash, the root).
fn three_leaf_tree(body: &[u8]) -> ([u8; 32], [u8; 32]) {
    let node = |l: &[u8], r: &[u8]| {
        let mut b = vec![1u8];
        b.extend(l);
        b.extend(r);
        sha256(&b)
    };
    let n01 = node(&super::rekor::leaf_hash(b"zero"), &super::rekor::leaf_hash(b"one"));
    let root = node(&n01, &super::rekor::leaf_hash(body));
    (n01, root)
}

/// A C2SP signed-note checkpoint of a three-entry tree, signed by `key` (hint: the first
/// four bytes of `log_id`) under `name`.
fn signed_note(origin: &str, name: &str, root: &[u8; 32], log_id: &[u8; 32], key: &Key) -> String {
    let note = format!("{origin}\n3\n{}\n", B64.encode(root));
    let mut sig = log_id[..4].to_vec();
    sig.extend(sign(key, note.as_bytes()));
    format!("{note}\n\u{2014} {name} {}\n", B64.encode(sig))
}

/// A request the fake services refuse, as a 400 answer.
fn bad_request(e: impl std::fmt::Display) -> TransportError {
    TransportError::Status { status: 400, body: e.to_string() }
}

impl FakeSigstore {
    /// Answers a POST to Fulcio's `/api/v2/signingCert` or Rekor's `/api/v1/log/entries`.
    pub fn handle(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, TransportError> {
        self.handle_authorized(path, body, None)
    }

    /// The same, with the request's `Authorization` header (Fulcio's CSR flow).
    pub fn handle_authorized(
        &self,
        path: &str,
        body: &serde_json::Value,
        authorization: Option<&str>,
    ) -> Result<serde_json::Value, TransportError> {
        self.calls.set(self.calls.get() + 1);
        if path.ends_with("/api/v2/signingCert") {
            self.fulcio(body, authorization)
        } else if path.ends_with("/api/v1/log/entries") {
            self.rekor(body)
        } else if path.ends_with("/rekor2/api/v2/log/entries") && self.rekor_v2.is_some() {
            self.rekor_v2(body)
        } else {
            Err(TransportError::Status { status: 404, body: path.to_owned() })
        }
    }

    /// A `ClientTrustConfig` that trusts this fake and signs through it at `base` (an
    /// `http://127.0.0.1:PORT` serving [`Self::handle`]).
    pub fn trust_config_json(&self, base: &str) -> serde_json::Value {
        let log = |k: &Key| {
            let d = spki_der(k);
            serde_json::json!({
                "baseUrl": base,
                "hashAlgorithm": "SHA2_256",
                "publicKey": { "rawBytes": B64.encode(&d), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                               "validFor": { "start": "2020-01-01T00:00:00Z" } },
                "logId": { "keyId": B64.encode(sha256(&d)) },
            })
        };
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": std::iter::once(log(&self.rekor_key))
                    .chain(self.rekor_v2.iter().map(|k| {
                        let mut l = log(k);
                        l["baseUrl"] = format!("{base}/rekor2").into();
                        l
                    }))
                    .collect::<Vec<_>>(),
                "ctlogs": [log(&self.ct_key)],
                "certificateAuthorities": [{
                    "subject": { "organization": "test", "commonName": "fake fulcio" },
                    "uri": base,
                    "certChain": { "certificates": [{ "rawBytes": B64.encode(self.ca_cert.der()) }] },
                    "validFor": { "start": "2020-01-01T00:00:00Z" },
                }],
                "timestampAuthorities": self.tsa.iter().map(|t| serde_json::json!({
                    "subject": { "organization": "test", "commonName": "fake tsa" },
                    "uri": format!("{base}/api/v1/timestamp"),
                    "certChain": { "certificates": t.chain.iter()
                        .map(|c| serde_json::json!({ "rawBytes": B64.encode(c) })).collect::<Vec<_>>() },
                    "validFor": { "start": "2020-01-01T00:00:00Z" },
                })).collect::<Vec<_>>(),
            },
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [{ "url": base, "majorApiVersion": 1,
                             "validFor": { "start": "2020-01-01T00:00:00Z" }, "operator": "fake" }],
                "oidcUrls": [{ "url": format!("{base}/oauth2"), "majorApiVersion": 1,
                               "validFor": { "start": "2020-01-01T00:00:00Z" }, "operator": "fake" }],
                "rekorTlogUrls": self.rekor_v2.iter().map(|_| serde_json::json!({
                        "url": format!("{base}/rekor2"), "majorApiVersion": 2,
                        "validFor": { "start": "2020-01-01T00:00:00Z" }, "operator": "fake" }))
                    .chain(std::iter::once(serde_json::json!({ "url": base, "majorApiVersion": 1,
                        "validFor": { "start": "2020-01-01T00:00:00Z" }, "operator": "fake" })))
                    .collect::<Vec<_>>(),
                "tsaUrls": self.tsa.iter().map(|_| serde_json::json!({
                    "url": format!("{base}/api/v1/timestamp"), "majorApiVersion": 1,
                    "validFor": { "start": "2020-01-01T00:00:00Z" }, "operator": "fake" })).collect::<Vec<_>>(),
                "rekorTlogConfig": { "selector": "ANY" },
                "tsaConfig": { "selector": "ANY" },
            },
        })
    }
}

/// In process, the fake answers at `https://fake` (its trust config's base for unit tests).
impl Transport for FakeSigstore {
    fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<serde_json::Value, TransportError> {
        if !url.starts_with("https://fake/") {
            return Err(TransportError::Status { status: 404, body: url.to_owned() });
        }
        self.handle(url, body)
    }

    fn post_bytes(&self, url: &str, _content_type: &str, body: &[u8]) -> Result<Vec<u8>, TransportError> {
        if !url.starts_with("https://fake/") {
            return Err(TransportError::Status { status: 404, body: url.to_owned() });
        }
        self.handle_bytes(url, body)
    }
}

/// A syntactically valid (unsigned) JWT with these claims.
pub fn token(email: &str, issuer: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    // The claims sigstore-python requires too (aud "sigstore", iat, exp).
    let claims = serde_json::json!({ "iss": issuer, "sub": "1234", "email": email, "email_verified": true,
                                     "aud": "sigstore", "iat": now, "nbf": now, "exp": now + 600 });
    format!("e30.{}.c2ln", B64URL.encode(claims.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::signer::{Services, sign_keyless, tlog_entry_from_rekor};
    use super::*;

    fn services_of(fake: &FakeSigstore) -> Services {
        Services::from_trust_config(fake.trust_config_json("https://fake").to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
    }
    use crate::crypto::keyless::IdentityPolicy;
    use crate::crypto::signature::{TrustPolicy, verify_bundle};
    use crate::errors::SignatureError;
    use crate::formats::bundle::Bundle;
    use crate::formats::digest::HashAlgorithm;
    use crate::formats::manifest::{Manifest, Method, ResourceKey, Serialization};
    use crate::formats::predicate::statement_for;

    const ISSUER: &str = "https://issuer.example";

    fn manifest() -> Manifest {
        let ser = Serialization {
            method: Method::Files,
            hash: HashAlgorithm::Sha256,
            allow_symlinks: false,
            ignore_paths: vec![],
        };
        Manifest::new("m".into(), ser, [(ResourceKey::file("w.bin"), HashAlgorithm::Sha256.digest(b"w"))])
    }

    fn sign_with(fake: &FakeSigstore) -> Result<Bundle, SignatureError> {
        let payload = statement_for(&manifest()).to_payload()?;
        let tok = IdentityToken::parse(&token("dev@example.com", ISSUER))?;
        sign_keyless(&payload, &tok, &services_of(fake), fake, &fake.trusted_root())
    }

    fn policy(fake: &FakeSigstore, identity: &str) -> TrustPolicy {
        TrustPolicy::Sigstore {
            root: Box::new(fake.trusted_root()),
            identity: IdentityPolicy { identity: identity.into(), issuer: ISSUER.into() },
        }
    }

    #[test]
    fn keyless_signature_verifies_after_a_json_round_trip() -> Result<(), Box<dyn std::error::Error>> {
        let fake = FakeSigstore::new();
        let bundle = sign_with(&fake)?;
        assert_eq!(fake.calls.get(), 2);
        let bundle = Bundle::from_json(&bundle.to_json()?, "round trip")?;
        let v = verify_bundle(&bundle, &policy(&fake, "dev@example.com"))?;
        assert!(v.manifest.compare(&manifest()).is_match());
        assert!(matches!(
            verify_bundle(&bundle, &policy(&fake, "eve@example.com")),
            Err(SignatureError::Sigstore(e)) if matches!(*e, sigstore_verify::Error::IdentityMismatch { .. })
        ));
        // Another instance's root (other CA, logs) does not trust it.
        assert!(verify_bundle(&bundle, &policy(&FakeSigstore::new(), "dev@example.com")).is_err());
        Ok(())
    }

    #[test]
    fn misbehaving_services_are_caught_before_anything_is_written() {
        for (faults, expected) in [
            (Faults { wrong_key: true, ..Faults::default() }, "different public key"),
            (Faults { bad_set: true, ..Faults::default() }, "inclusion promise"),
            (Faults { unknown_ct_log: true, ..Faults::default() }, "signed certificate timestamp"),
        ] {
            let mut fake = FakeSigstore::new();
            fake.faults = faults;
            let e = sign_with(&fake).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(expected), "expected `{expected}`, got `{e}`");
        }
    }

    #[test]
    fn bundles_carry_openssl_timestamps_when_the_config_lists_a_tsa() -> Result<(), Box<dyn std::error::Error>>
    {
        // Whole seconds, and milliseconds in genTime (RFC 3161 allows fractions; OpenSSL's
        // clock_precision_digits writes them).
        for digits in [0u8, 3] {
            let fake = FakeSigstore::with_tsa(digits);
            let bundle = sign_with(&fake)?;
            let stamps = bundle
                .verification_material
                .timestamp_verification_data
                .as_ref()
                .map(|t| t.rfc3161_timestamps.len());
            assert_eq!(stamps, Some(1), "one timestamp from the one TSA");
            let bundle = Bundle::from_json(&bundle.to_json()?, "round trip")?;
            verify_bundle(&bundle, &policy(&fake, "dev@example.com"))?;
            // Our verifier checks the token: a root without that TSA refuses it.
            let mut other = fake.trust_config_json("https://fake");
            other["trustedRoot"]["timestampAuthorities"] = serde_json::json!([]);
            let root = TrustedRoot::from_json(other.to_string().as_bytes(), "no TSA")?;
            let p = TrustPolicy::Sigstore {
                root: Box::new(root),
                identity: IdentityPolicy { identity: "dev@example.com".into(), issuer: ISSUER.into() },
            };
            let e = verify_bundle(&bundle, &p).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("rfc3161Timestamps[0]"), "{e}");
        }
        // A token whose certificate SET OF is out of DER order is refused when signing
        // (our reader checks the answer) — sigstore-python would refuse the bundle.
        let mut fake = FakeSigstore::with_tsa(0);
        fake.faults.tsa_unordered_certs = true;
        let e = sign_with(&fake).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("DER order"), "{e}");
        // Without a TSA in the config: no timestamp.
        let fake = FakeSigstore::new();
        assert!(sign_with(&fake)?.verification_material.timestamp_verification_data.is_none());
        Ok(())
    }

    #[test]
    fn fulcio_pem_without_line_wrapping_is_read() -> Result<(), Box<dyn std::error::Error>> {
        let mut fake = FakeSigstore::new();
        fake.faults.unwrapped_pem = true;
        let bundle = sign_with(&fake)?;
        verify_bundle(&bundle, &policy(&fake, "dev@example.com"))?;
        Ok(())
    }

    #[test]
    fn keyless_cosign_attestations_verify_like_cosign() -> Result<(), Box<dyn std::error::Error>> {
        let fake = FakeSigstore::new();
        let digest = crate::oci::OciDigest::of(b"manifest");
        let payload = crate::attest::cosign::statement("reg/model", &digest, &manifest()).to_payload()?;
        let tok = IdentityToken::parse(&token("dev@example.com", ISSUER))?;
        let bundle = sign_keyless(&payload, &tok, &services_of(&fake), &fake, &fake.trusted_root())?;
        let (signed, _) =
            crate::crypto::signature::verify_signed_payload(&bundle, &policy(&fake, "dev@example.com"))?;
        let m = crate::attest::cosign::check_statement(
            &signed,
            &digest,
            crate::formats::predicate::PREDICATE_V1,
        )?;
        assert!(m.compare(&manifest()).is_match());
        let other = crate::oci::OciDigest::of(b"other");
        assert!(
            crate::attest::cosign::check_statement(&signed, &other, crate::formats::predicate::PREDICATE_V1)
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn token_claims_and_rekor_response_conversion() -> Result<(), SignatureError> {
        let t = IdentityToken::parse(&token("a@b.c", ISSUER))?;
        assert_eq!((t.subject.as_str(), t.issuer.as_str()), ("a@b.c", ISSUER));
        assert!(IdentityToken::parse("not-a-jwt").is_err());
        assert!(tlog_entry_from_rekor(&serde_json::json!({})).is_err());
        assert!(tlog_entry_from_rekor(&serde_json::json!({"a": {"logIndex": "x"}})).is_err());
        Ok(())
    }
}
