//! cosign's key files (sigstore/cosign `pkg/cosign/keys.go`): `ENCRYPTED SIGSTORE PRIVATE
//! KEY` (or `… COSIGN …`) PEM blocks holding JSON — scrypt parameters and salt, a NaCl
//! secretbox nonce and the ciphertext of a PKCS#8 key — with the password from
//! `COSIGN_PASSWORD`. Plain PEM keys are read as usual.

use crate::crypto::keys::PrivateKey;
use crate::errors::KeyError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// The JSON inside an encrypted cosign key.
#[derive(serde::Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(serde::Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(serde::Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(serde::Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// Reads a cosign key file: `ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY` (scrypt + NaCl
/// secretbox around a PKCS#8 key; password from `COSIGN_PASSWORD`), or a plain PEM key.
pub fn load_private_key(path: &std::path::Path, password: Option<&str>) -> Result<PrivateKey, KeyError> {
    let what = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| KeyError::Io { path: path.to_path_buf(), source })?;
    let (label, body) = crate::crypto::keys::pem_decode(&text, &what)?;
    if label != "ENCRYPTED SIGSTORE PRIVATE KEY" && label != "ENCRYPTED COSIGN PRIVATE KEY" {
        return PrivateKey::from_pem(&text, password, &what);
    }
    let der = decrypt_cosign_key(&body, password.unwrap_or(""), &what)?;
    let pem = crate::crypto::keys::pem_encode("PRIVATE KEY", &der);
    PrivateKey::from_pem(pem.as_bytes(), None, &what)
}

/// Decrypts the JSON body of a cosign encrypted key.
pub fn decrypt_cosign_key(body: &[u8], password: &str, what: &str) -> Result<Vec<u8>, KeyError> {
    use xsalsa20poly1305::aead::{Aead, KeyInit};
    let bad = |p: &str| KeyError::invalid(what, p.to_owned());
    let v: EncryptedKey = serde_json::from_slice(body)
        .map_err(|e| KeyError::invalid(what, format!("encrypted key body: {e}")))?;
    if v.kdf.name != "scrypt" || v.cipher.name != "nacl/secretbox" {
        return Err(bad("unsupported encrypted key (expected scrypt + nacl/secretbox)"));
    }
    let p = &v.kdf.params;
    let n = Some(p.n).filter(|n| n.is_power_of_two() && *n > 1).ok_or_else(|| bad("bad scrypt N"))?;
    let (r, par) = (p.r, p.p);
    let b = |x: &str| B64.decode(x).map_err(|_| bad("bad base64 in key"));
    let (salt, nonce, ct) = (b(&v.kdf.salt)?, b(&v.cipher.nonce)?, b(&v.ciphertext)?);
    if nonce.len() != 24 {
        return Err(bad("bad secretbox nonce"));
    }
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, par, 32)
        .map_err(|_| bad("bad scrypt parameters"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).map_err(|_| bad("scrypt failed"))?;
    let cipher = xsalsa20poly1305::XSalsa20Poly1305::new(&key.into());
    cipher.decrypt(xsalsa20poly1305::Nonce::from_slice(&nonce), ct.as_ref()).map_err(|_| KeyError::Password {
        what: what.into(),
        problem: "cannot decrypt the cosign key: wrong COSIGN_PASSWORD".into(),
    })
}

/// Encrypts a PKCS#8 key the way `cosign generate-key-pair` does (for tests and tooling).
pub fn encrypt_cosign_key(pkcs8_der: &[u8], password: &str, log_n: u8) -> Result<String, KeyError> {
    use rand_core::RngCore;
    use xsalsa20poly1305::aead::{Aead, KeyInit};
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    rand_core::OsRng.fill_bytes(&mut salt);
    rand_core::OsRng.fill_bytes(&mut nonce);
    let params = scrypt::Params::new(log_n, 8, 1, 32)
        .map_err(|_| KeyError::invalid("cosign key", "bad scrypt parameters"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key)
        .map_err(|_| KeyError::invalid("cosign key", "scrypt failed"))?;
    let ct = xsalsa20poly1305::XSalsa20Poly1305::new(&key.into())
        .encrypt(xsalsa20poly1305::Nonce::from_slice(&nonce), pkcs8_der)
        .map_err(|_| KeyError::invalid("cosign key", "encryption failed"))?;
    let body = serde_json::json!({
        "kdf": { "name": "scrypt", "params": { "N": 1u64 << log_n, "r": 8, "p": 1 }, "salt": B64.encode(salt) },
        "cipher": { "name": "nacl/secretbox", "nonce": B64.encode(nonce) },
        "ciphertext": B64.encode(ct),
    });
    Ok(crate::crypto::keys::pem_encode("ENCRYPTED SIGSTORE PRIVATE KEY", body.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::EncodePrivateKey;

    #[test]
    fn cosign_key_files_round_trip_and_need_the_password() -> Result<(), Box<dyn std::error::Error>> {
        let sk = p256::SecretKey::random(&mut rand_core::OsRng);
        let der = sk.to_pkcs8_der()?;
        let pem = encrypt_cosign_key(der.as_bytes(), "pw", 10)?;
        let t = tempfile::tempdir()?;
        let path = t.path().join("cosign.key");
        std::fs::write(&path, &pem)?;
        let k = load_private_key(&path, Some("pw"))?;
        let sig = k.sign(b"msg")?;
        assert!(k.public_key().verify(b"msg", &sig));
        assert!(matches!(load_private_key(&path, Some("nope")), Err(KeyError::Password { .. })));
        Ok(())
    }
}
