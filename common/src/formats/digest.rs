//! Hash algorithms named in model_signing predicates (`hash_type`, resource `algorithm`).
//!
//! model_signing 1.x (`model_signing/_hashing/memory.py`) names its engines `sha256`,
//! `blake2b` (Python's `hashlib.blake2b`, 64-byte output) and `blake3`; its configuration
//! API spells the second one `blake2`, so both spellings are accepted when reading.

use crate::errors::FormatError;
use sha2::Digest as _;

/// A hash algorithm usable for model resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (the default, and the only one OCI layer digests use).
    Sha256,
    /// BLAKE2b with 64-byte output.
    Blake2b,
    /// BLAKE3 with 32-byte output.
    Blake3,
}

impl HashAlgorithm {
    /// Parses a name as written in a predicate.
    pub fn from_name(name: &str) -> Result<Self, FormatError> {
        match name {
            "sha256" => Ok(Self::Sha256),
            "blake2b" | "blake2" => Ok(Self::Blake2b),
            "blake3" => Ok(Self::Blake3),
            other => Err(FormatError::HashAlgorithm(other.to_owned())),
        }
    }

    /// The name model_signing writes for this algorithm.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Blake2b => "blake2b",
            Self::Blake3 => "blake3",
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 | Self::Blake3 => 32,
            Self::Blake2b => 64,
        }
    }

    /// A fresh streaming hasher.
    pub fn hasher(self) -> Hasher {
        match self {
            Self::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Self::Blake2b => Hasher::Blake2b(blake2::Blake2b512::new()),
            Self::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    /// Hashes a byte slice in one call.
    pub fn digest(self, data: &[u8]) -> Digest {
        let mut h = self.hasher();
        h.update(data);
        h.finalize()
    }
}

/// A streaming hasher for one [`HashAlgorithm`].
pub enum Hasher {
    /// SHA-256 (uses SHA-NI when the CPU has it, detected at run time by `sha2`).
    Sha256(sha2::Sha256),
    /// BLAKE2b-512.
    Blake2b(blake2::Blake2b512),
    /// BLAKE3.
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Blake2b(h) => h.update(data),
            Hasher::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// Finishes and returns the digest.
    pub fn finalize(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::new(HashAlgorithm::Sha256, h.finalize().to_vec()),
            Hasher::Blake2b(h) => Digest::new(HashAlgorithm::Blake2b, h.finalize().to_vec()),
            Hasher::Blake3(h) => Digest::new(HashAlgorithm::Blake3, h.finalize().as_bytes().to_vec()),
        }
    }
}

/// A digest value with the algorithm that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: HashAlgorithm,
    value: Vec<u8>,
}

impl Digest {
    /// Wraps raw digest bytes.
    pub fn new(algorithm: HashAlgorithm, value: Vec<u8>) -> Self {
        Self { algorithm, value }
    }

    /// Parses a lowercase or uppercase hex digest, checking its length.
    pub fn from_hex(algorithm: HashAlgorithm, hex_value: &str) -> Result<Self, DigestError> {
        let value = hex::decode(hex_value)
            .map_err(|source| DigestError::NotHex { value: hex_value.into(), source })?;
        if value.len() != algorithm.output_len() {
            return Err(DigestError::Length {
                value: hex_value.into(),
                got: value.len(),
                algorithm: algorithm.name(),
                expected: algorithm.output_len(),
            });
        }
        Ok(Self { algorithm, value })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.value
    }

    /// Lowercase hex.
    pub fn hex(&self) -> String {
        hex::encode(&self.value)
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex())
    }
}

/// SHA-256 of a byte slice.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// A hex digest that is not one of its algorithm.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// Not hexadecimal.
    #[error("`{value}` is not hex: {source}")]
    NotHex {
        /// The text.
        value: String,
        /// The decoder's reason.
        #[source]
        source: hex::FromHexError,
    },
    /// The wrong length for the algorithm.
    #[error("`{value}` has {got} bytes, {algorithm} digests have {expected}")]
    Length {
        /// The text.
        value: String,
        /// Bytes it decodes to.
        got: usize,
        /// The algorithm.
        algorithm: &'static str,
        /// Bytes that algorithm's digests have.
        expected: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(
            HashAlgorithm::Sha256.digest(b"abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            HashAlgorithm::Blake3.digest(b"").hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        let b2 = HashAlgorithm::Blake2b.digest(b"abc");
        assert_eq!(b2.bytes().len(), 64);
        assert!(b2.hex().starts_with("ba80a53f981c4d0d"));
    }

    #[test]
    fn names_round_trip_and_reject_unknown() {
        for a in [HashAlgorithm::Sha256, HashAlgorithm::Blake2b, HashAlgorithm::Blake3] {
            assert_eq!(HashAlgorithm::from_name(a.name()).ok(), Some(a));
        }
        assert_eq!(HashAlgorithm::from_name("blake2").ok(), Some(HashAlgorithm::Blake2b));
        assert!(HashAlgorithm::from_name("md5").is_err());
    }

    #[test]
    fn hex_length_is_checked() {
        assert!(Digest::from_hex(HashAlgorithm::Sha256, "abcd").is_err());
        assert!(Digest::from_hex(HashAlgorithm::Sha256, &"0".repeat(64)).is_ok());
        assert!(Digest::from_hex(HashAlgorithm::Sha256, &"z".repeat(64)).is_err());
    }
}
