//! Elliptic-curve keys for DSSE signatures: PEM loading, signing, verification.
//!
//! Matches model_signing's key handling (`_signing/sign_ec_key.py`): curves P-256, P-384
//! and P-521 with SHA-256/384/512 respectively, ASN.1 DER signatures, private keys as
//! PKCS#8 (optionally encrypted with `--password`) or SEC1 PEM, and the bundle key hint =
//! hex sha256 of the public key's PEM (SubjectPublicKeyInfo) text.

use crate::errors::KeyError;
use crate::formats::digest::sha256;
use base64::Engine as _;
use ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use sha2::Digest as _;
use std::path::Path;

/// A supported curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 with SHA-256.
    P256,
    /// NIST P-384 with SHA-384.
    P384,
    /// NIST P-521 with SHA-512.
    P521,
}

impl Curve {
    /// Human name.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "ECDSA P-256",
            Curve::P384 => "ECDSA P-384",
            Curve::P521 => "ECDSA P-521",
        }
    }

    /// The protobuf-specs `PublicKeyDetails` name of this key type.
    pub fn key_details(self) -> &'static str {
        match self {
            Curve::P256 => "PKIX_ECDSA_P256_SHA_256",
            Curve::P384 => "PKIX_ECDSA_P384_SHA_384",
            Curve::P521 => "PKIX_ECDSA_P521_SHA_512",
        }
    }

    /// The message digest paired with the curve.
    fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Curve::P256 => sha2::Sha256::digest(msg).to_vec(),
            Curve::P384 => sha2::Sha384::digest(msg).to_vec(),
            Curve::P521 => sha2::Sha512::digest(msg).to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
enum Verifying {
    P256(ecdsa::VerifyingKey<p256::NistP256>),
    P384(ecdsa::VerifyingKey<p384::NistP384>),
    P521(ecdsa::VerifyingKey<p521::NistP521>),
}

/// An EC public key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    key: Verifying,
    spki_der: Vec<u8>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Io { path: path.to_path_buf(), source })
}

/// Parses PEM text into (label, DER), with the file named in errors.
pub fn pem_decode(text: &[u8], what: &str) -> Result<(String, Vec<u8>), KeyError> {
    match der::pem::decode_vec(text) {
        Ok((label, der)) => Ok((label.to_owned(), der)),
        // RFC 7468 §3's lax reading: base64 lines of any length (Fulcio and some TSAs
        // answer with unwrapped PEM; OpenSSL and Python's cryptography accept it).
        Err(e) => pem_decode_lax(text).ok_or_else(|| KeyError::invalid(what, format!("not a PEM file: {e}"))),
    }
}

/// One PEM block with its base64 wrapped at any width: the BEGIN line, base64 lines of any
/// length separated by line breaks (LF or CRLF) and nothing else (no spaces, tabs or
/// headers), the END line, at most a line break after it.
fn pem_decode_lax(text: &[u8]) -> Option<(String, Vec<u8>)> {
    use base64::Engine as _;
    let text = std::str::from_utf8(text).ok()?;
    let rest = text.strip_prefix("-----BEGIN ")?;
    let (label, rest) = rest.split_once("-----")?;
    let rest = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n'))?;
    let end_marker = format!("-----END {label}-----");
    let (body, tail) = rest.split_once(&end_marker)?;
    if !matches!(tail, "" | "\n" | "\r\n") || !(body.ends_with('\n') || body.is_empty()) {
        return None;
    }
    let mut b64 = String::with_capacity(body.len());
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !line.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')) {
            return None;
        }
        b64.push_str(line);
    }
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some((label.to_owned(), der))
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8], what: &str) -> Result<Self, KeyError> {
        let key = if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            Verifying::P256(k.into())
        } else if let Ok(k) = p384::PublicKey::from_public_key_der(der) {
            Verifying::P384(k.into())
        } else if let Ok(k) = p521::PublicKey::from_public_key_der(der) {
            Verifying::P521(
                ecdsa::VerifyingKey::from_affine(*k.as_affine())
                    .map_err(|_| KeyError::invalid(what, "invalid P-521 point"))?,
            )
        } else {
            return Err(KeyError::invalid(
                what,
                "not an elliptic-curve public key on P-256, P-384 or P-521 (model_signing supports only these)",
            ));
        };
        Self::from_verifying(key, what)
    }

    /// Wraps a verifying key with its canonical DER SubjectPublicKeyInfo.
    fn from_verifying(key: Verifying, what: &str) -> Result<Self, KeyError> {
        let spki_der = match &key {
            Verifying::P256(k) => p256::PublicKey::from(k).to_public_key_der(),
            Verifying::P384(k) => p384::PublicKey::from(k).to_public_key_der(),
            Verifying::P521(k) => p521::PublicKey::from_affine(*k.as_affine())
                .map_err(|_| spki::Error::KeyMalformed)
                .and_then(|p| p.to_public_key_der()),
        }
        .map_err(|e| KeyError::invalid(what, format!("cannot encode key: {e}")))?
        .into_vec();
        Ok(Self { key, spki_der })
    }

    /// Reads a PEM public key file.
    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let what = path.display().to_string();
        Self::from_pem(&read(path)?, &what)
    }

    /// Parses PEM public key text.
    pub fn from_pem(text: &[u8], what: &str) -> Result<Self, KeyError> {
        let (label, der) = pem_decode(text, what)?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::invalid(what, format!("expected a PUBLIC KEY PEM block, found {label}")));
        }
        Self::from_spki_der(&der, what)
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        match self.key {
            Verifying::P256(_) => Curve::P256,
            Verifying::P384(_) => Curve::P384,
            Verifying::P521(_) => Curve::P521,
        }
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// PEM text exactly as OpenSSL / Python `cryptography` write it.
    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// The key hint model_signing writes into bundles: hex sha256 of the PEM text.
    pub fn hint(&self) -> String {
        hex::encode(sha256(self.to_pem().as_bytes()))
    }

    /// Verifies a DER ECDSA signature over `msg` with the curve's hash.
    pub fn verify(&self, msg: &[u8], sig_der: &[u8]) -> bool {
        self.verify_prehash(&self.curve().digest(msg), sig_der)
    }

    /// Verifies a DER ECDSA signature over `msg` hashed with SHA-256 whatever the curve
    /// (model_signing 0.2 compatibility path for certificates).
    pub fn verify_sha256(&self, msg: &[u8], sig_der: &[u8]) -> bool {
        self.verify_prehash(&sha256(msg), sig_der)
    }

    /// Verifies a DER ECDSA signature over a precomputed digest.
    pub fn verify_prehash(&self, digest: &[u8], sig_der: &[u8]) -> bool {
        match &self.key {
            Verifying::P256(k) => ecdsa::Signature::<p256::NistP256>::from_der(sig_der)
                .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
            Verifying::P384(k) => ecdsa::Signature::<p384::NistP384>::from_der(sig_der)
                .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
            Verifying::P521(k) => ecdsa::Signature::<p521::NistP521>::from_der(sig_der)
                .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
        }
    }

    /// Short description, e.g. `ECDSA P-384 key sha256:ab12…`.
    pub fn describe(&self) -> String {
        format!("{} key {}", self.curve().name(), &self.hint()[..16])
    }
}

/// PEM-encodes DER with 64-column base64 lines and a trailing newline.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

enum Signing {
    P256(ecdsa::SigningKey<p256::NistP256>),
    P384(ecdsa::SigningKey<p384::NistP384>),
    P521(ecdsa::SigningKey<p521::NistP521>),
}

/// An EC private key.
pub struct PrivateKey {
    key: Signing,
    public: PublicKey,
}

impl PrivateKey {
    /// Reads a PEM private key file (PKCS#8, encrypted PKCS#8 or SEC1).
    pub fn from_pem_file(path: &Path, password: Option<&str>) -> Result<Self, KeyError> {
        let what = path.display().to_string();
        Self::from_pem(&read(path)?, password, &what)
    }

    /// Parses PEM private key text.
    pub fn from_pem(text: &[u8], password: Option<&str>, what: &str) -> Result<Self, KeyError> {
        if text.windows(22).any(|w| w == b"Proc-Type: 4,ENCRYPTED") {
            return Err(KeyError::invalid(
                what,
                "legacy OpenSSL-encrypted PEM is not supported; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
            ));
        }
        let (label, der) = pem_decode(text, what)?;
        let key = match label.as_str() {
            "PRIVATE KEY" => {
                if password.is_some() {
                    return Err(KeyError::Password {
                        what: what.into(),
                        problem: "a password was given but the key is not encrypted".into(),
                    });
                }
                Self::from_pkcs8(&der, what)?
            }
            "ENCRYPTED PRIVATE KEY" => {
                let password = password.ok_or_else(|| KeyError::Password {
                    what: what.into(),
                    problem: "the key is encrypted: pass --password".into(),
                })?;
                let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
                    .map_err(|e| KeyError::invalid(what, format!("bad encrypted key: {e}")))?;
                let doc = info.decrypt(password).map_err(|_| KeyError::Password {
                    what: what.into(),
                    problem: "cannot decrypt the key: wrong password or unsupported cipher".into(),
                })?;
                Self::from_pkcs8(doc.as_bytes(), what)?
            }
            "EC PRIVATE KEY" => {
                if let Ok(k) = p256::SecretKey::from_sec1_der(&der) {
                    Signing::P256(k.into())
                } else if let Ok(k) = p384::SecretKey::from_sec1_der(&der) {
                    Signing::P384(k.into())
                } else if let Ok(k) = p521::SecretKey::from_sec1_der(&der) {
                    Signing::P521(k.into())
                } else {
                    return Err(KeyError::invalid(what, "not a P-256, P-384 or P-521 SEC1 key"));
                }
            }
            other => {
                return Err(KeyError::invalid(
                    what,
                    format!("expected a private key PEM block, found {other}"),
                ));
            }
        };
        let verifying = match &key {
            Signing::P256(k) => Verifying::P256(*k.verifying_key()),
            Signing::P384(k) => Verifying::P384(*k.verifying_key()),
            Signing::P521(k) => Verifying::P521(*k.verifying_key()),
        };
        let public = PublicKey::from_verifying(verifying, what)?;
        Ok(Self { key, public })
    }

    fn from_pkcs8(der: &[u8], what: &str) -> Result<Signing, KeyError> {
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
            Ok(Signing::P256(k.into()))
        } else if let Ok(k) = p384::SecretKey::from_pkcs8_der(der) {
            Ok(Signing::P384(k.into()))
        } else if let Ok(k) = p521::SecretKey::from_pkcs8_der(der) {
            Ok(Signing::P521(k.into()))
        } else {
            Err(KeyError::invalid(
                what,
                "not an elliptic-curve private key on P-256, P-384 or P-521 (model_signing supports only these)",
            ))
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `msg` (hashed with the curve's hash); returns an ASN.1 DER signature.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let digest = self.public.curve().digest(msg);
        let err = |e: ecdsa::Error| KeyError::invalid("signing key", format!("signing failed: {e}"));
        Ok(match &self.key {
            Signing::P256(k) => {
                let s: ecdsa::Signature<p256::NistP256> = k.sign_prehash(&digest).map_err(err)?;
                s.to_der().as_bytes().to_vec()
            }
            Signing::P384(k) => {
                let s: ecdsa::Signature<p384::NistP384> = k.sign_prehash(&digest).map_err(err)?;
                s.to_der().as_bytes().to_vec()
            }
            Signing::P521(k) => {
                let k = p521::ecdsa::SigningKey::from(k.clone());
                let s: p521::ecdsa::Signature = k.sign_prehash(&digest).map_err(err)?;
                s.to_der().as_bytes().to_vec()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAu46SjJURBN2a3B6
H038iJattiX73sUyE+dHm1EVVLChRANCAARbJ55o7yPC8HrgGWTeKW0iWndruMYY
HBlP2LNVRLbUqi4/NN+rPR8tNeHy/waV9yPxhY51Er+kQyIedjpMLh2G
-----END PRIVATE KEY-----
";

    #[test]
    fn pem_wrapped_at_any_width_reads_the_same() -> Result<(), KeyError> {
        let (label, der) = pem_decode(P256_PKCS8.as_bytes(), "wrapped")?;
        let body: String =
            P256_PKCS8.lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>().concat();
        let one_line = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        assert_eq!(pem_decode(one_line.as_bytes(), "one line")?, (label.clone(), der.clone()));
        let narrow: String =
            body.as_bytes().chunks(20).map(|c| String::from_utf8_lossy(c) + "\r\n").collect();
        let narrow = format!("-----BEGIN PRIVATE KEY-----\r\n{narrow}-----END PRIVATE KEY-----");
        assert_eq!(pem_decode(narrow.as_bytes(), "20 columns")?, (label, der));
        // Still strict about the rest: bad base64, mismatched END, headers, trailing data,
        // whitespace other than line breaks.
        for bad in [
            one_line.replacen('\n', "\t", 1),
            one_line.replace("MIGH", "MI GH"),
            one_line.replace("MIGH", "M!GH"),
            one_line.replace("END PRIVATE", "END PUBLIC"),
            one_line.replace("-----\nMIGH", "-----\nProc-Type: 4,ENCRYPTED\nMIGH"),
            format!("{one_line}junk"),
        ] {
            assert!(pem_decode(bad.as_bytes(), "bad").is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() -> Result<(), KeyError> {
        let k = PrivateKey::from_pem(P256_PKCS8.as_bytes(), None, "test key")?;
        let sig = k.sign(b"hello")?;
        assert!(k.public_key().verify(b"hello", &sig));
        assert!(!k.public_key().verify(b"hellp", &sig));
        let pem = k.public_key().to_pem();
        let again = PublicKey::from_pem(pem.as_bytes(), "pub")?;
        assert_eq!(&again, k.public_key());
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(PrivateKey::from_pem(P256_PKCS8.as_bytes(), Some("pw"), "k").is_err());
        Ok(())
    }
}
