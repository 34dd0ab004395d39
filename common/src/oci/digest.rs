//! Content digests (`algorithm:encoded`, image-spec `descriptor.md#digests`), restricted to
//! sha256, the only algorithm registries and model tools use.

use crate::errors::FormatError;
use std::fmt;
use std::str::FromStr;

/// A validated `sha256:<64 lowercase hex>` digest; safe to use as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OciDigest {
    hex: String,
}

impl OciDigest {
    /// From raw sha256 bytes.
    pub fn from_sha256(bytes: &[u8]) -> Self {
        Self { hex: hex::encode(bytes) }
    }

    /// Digest of some bytes.
    pub fn of(data: &[u8]) -> Self {
        Self::from_sha256(&crate::formats::digest::sha256(data))
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The raw 32 bytes.
    pub fn bytes(&self) -> Vec<u8> {
        hex::decode(&self.hex).unwrap_or_default()
    }
}

impl FromStr for OciDigest {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self, FormatError> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| {
            FormatError::field("OCI descriptor", "digest", format!("`{s}` is not a sha256 digest"))
        })?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(FormatError::field(
                "OCI descriptor",
                "digest",
                format!("`{s}` is not 64 lowercase hex digits"),
            ));
        }
        Ok(Self { hex: hex.to_owned() })
    }
}

impl fmt::Display for OciDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_sha256_digests_parse() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(good.parse::<OciDigest>().map(|d| d.to_string()).ok(), Some(good));
        for bad in ["sha512:00", "sha256:../../etc", &format!("sha256:{}", "A".repeat(64)), "sha256:"] {
            assert!(bad.parse::<OciDigest>().is_err(), "{bad}");
        }
    }
}
