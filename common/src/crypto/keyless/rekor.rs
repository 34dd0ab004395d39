//! Rekor transparency log entries: inclusion proof (RFC 6962 §2.1.1), signed checkpoint
//! (the C2SP signed-note format), signed entry timestamp (SET), and the consistency of the
//! `dsse` v0.0.1 entry body with the bundle (sigstore-python `_validate_dsse_v001_entry_body`).

use crate::crypto::keyless::trust_root::{LogKey, TrustedRoot};
pub use crate::errors::TlogError;
use crate::formats::bundle::{TlogEntry, decode_b64};
use crate::formats::digest::sha256;
use const_oid::db::rfc5912::ECDSA_WITH_SHA_256;

fn hash_children(l: &[u8], r: &[u8]) -> [u8; 32] {
    let mut b = Vec::with_capacity(65);
    b.push(1);
    b.extend_from_slice(l);
    b.extend_from_slice(r);
    sha256(&b)
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut b = Vec::with_capacity(body.len() + 1);
    b.push(0);
    b.extend_from_slice(body);
    sha256(&b)
}

/// Recomputes the tree root from an inclusion proof.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[[u8; 32]],
) -> Result<[u8; 32], TlogError> {
    if index >= size {
        return Err(TlogError::OutsideTree { index, size });
    }
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index >> inner).count_ones() as usize;
    if proof.len() != inner + border {
        return Err(TlogError::ProofLength { got: proof.len(), expected: inner + border });
    }
    let mut h = leaf;
    for (i, p) in proof[..inner].iter().enumerate() {
        h = if (index >> i) & 1 == 0 { hash_children(&h, p) } else { hash_children(p, &h) };
    }
    for p in &proof[inner..] {
        h = hash_children(p, &h);
    }
    Ok(h)
}

fn verify_log_sig(key: &LogKey, msg: &[u8], sig: &[u8]) -> Result<(), TlogError> {
    if !key.key_details.contains("ECDSA") && !key.key_details.is_empty() {
        return Err(TlogError::KeyType(key.key_details.clone()));
    }
    crate::crypto::x509::verify_with_spki(&key.spki_der, ECDSA_WITH_SHA_256, msg, sig)
        .map_err(TlogError::Signature)
}

/// Verifies a signed checkpoint and returns (tree size, root hash).
fn verify_checkpoint(note: &str, key: &LogKey) -> Result<(u64, Vec<u8>), TlogError> {
    let split = note.find("\n\n").ok_or(TlogError::Invalid("checkpoint has no signature block"))?;
    let body = &note[..split + 1];
    let mut lines = body.lines();
    let origin = lines.next().ok_or(TlogError::Invalid("checkpoint has no origin line"))?;
    // The (unsigned) signer name must be the log named by the (signed) origin line.
    let log_name = origin.split(' ').next().unwrap_or_default();
    let size: u64 =
        lines.next().and_then(|l| l.parse().ok()).ok_or(TlogError::Invalid("checkpoint has no tree size"))?;
    let root = lines
        .next()
        .and_then(|l| decode_b64(l, "checkpoint root").ok())
        .ok_or(TlogError::Invalid("checkpoint has no root hash"))?;
    let hint = key.key_id.get(..4).ok_or(TlogError::Invalid("log key id too short"))?;
    let mut last = TlogError::Invalid("no signature line");
    for line in note[split + 2..].lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some((name, sig_b64)) = rest.rsplit_once(' ') else {
            continue;
        };
        if name != log_name {
            last = TlogError::CheckpointSigner { found: name.to_owned(), expected: log_name.to_owned() };
            continue;
        }
        let Ok(raw) = decode_b64(sig_b64, "checkpoint signature") else {
            continue;
        };
        if raw.len() < 5 || &raw[..4] != hint {
            continue;
        }
        match verify_log_sig(key, body.as_bytes(), &raw[4..]) {
            Ok(()) => return Ok((size, root)),
            Err(e) => last = e,
        }
    }
    Err(TlogError::Checkpoint(Box::new(last)))
}

/// Everything checked about a log entry, for reports.
#[derive(Debug, Clone)]
pub struct VerifiedEntry {
    /// Log index.
    pub log_index: i64,
    /// Integrated time, verified by the SET.
    pub integrated_time: i64,
    /// Log URL.
    pub log_url: String,
}

/// Verifies an entry's SET, inclusion proof and checkpoint, and that its body records
/// exactly this DSSE payload, signature and signing certificate.
pub fn verify_entry(
    entry: &TlogEntry,
    root: &TrustedRoot,
    payload: &[u8],
    signature: &[u8],
    leaf_der: &[u8],
    require_proof: bool,
) -> Result<VerifiedEntry, TlogError> {
    let key_id = decode_b64(&entry.log_id.key_id, "tlogEntries[0].logId.keyId")?;
    let key = root.tlog(&key_id).ok_or_else(|| TlogError::UnknownLog(hex::encode(&key_id)))?;
    if !key.valid_at(entry.integrated_time) {
        return Err(TlogError::KeyNotValid(key.base_url.clone()));
    }
    let kv = &entry.kind_version;
    if kv.kind != "dsse" || kv.version != "0.0.1" {
        return Err(TlogError::Kind { kind: kv.kind.clone(), version: kv.version.clone() });
    }
    let body = decode_b64(&entry.canonicalized_body, "tlogEntries[0].canonicalizedBody")?;

    // Signed entry timestamp: the log's signature over the canonical JSON of the entry.
    let promise = entry.inclusion_promise.as_ref().ok_or(TlogError::Invalid(
        "no signed entry timestamp (inclusion promise): no verified signing time",
    ))?;
    let set_payload = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        entry.canonicalized_body,
        entry.integrated_time,
        hex::encode(&key_id),
        entry.log_index
    );
    let set = decode_b64(&promise.signed_entry_timestamp, "inclusionPromise.signedEntryTimestamp")?;
    verify_log_sig(key, set_payload.as_bytes(), &set).map_err(|e| TlogError::Set(Box::new(e)))?;

    match &entry.inclusion_proof {
        Some(p) => {
            let proof: Vec<[u8; 32]> = p
                .hashes
                .iter()
                .map(|h| {
                    decode_b64(h, "inclusionProof.hashes").map_err(TlogError::from).and_then(|v| {
                        <[u8; 32]>::try_from(v.as_slice())
                            .map_err(|_| TlogError::Invalid("inclusion proof hash is not 32 bytes"))
                    })
                })
                .collect::<Result<_, _>>()?;
            let (index, size) = (u64::try_from(p.log_index), u64::try_from(p.tree_size));
            let (Ok(index), Ok(size)) = (index, size) else {
                return Err(TlogError::Invalid("negative index or tree size"));
            };
            let computed = root_from_inclusion_proof(index, size, leaf_hash(&body), &proof)?;
            let claimed = decode_b64(&p.root_hash, "inclusionProof.rootHash")?;
            if computed.as_slice() != claimed.as_slice() {
                return Err(TlogError::Invalid("inclusion proof does not lead to the claimed root hash"));
            }
            let cp = p.checkpoint.as_ref().ok_or(TlogError::Invalid("inclusion proof has no checkpoint"))?;
            let (cp_size, cp_root) = verify_checkpoint(&cp.envelope, key)?;
            if cp_size != size || cp_root != claimed {
                return Err(TlogError::Invalid("checkpoint does not match the inclusion proof"));
            }
        }
        None if require_proof => return Err(TlogError::Invalid("no inclusion proof")),
        None => {}
    }

    check_dsse_body(&body, payload, signature, leaf_der)?;
    Ok(VerifiedEntry {
        log_index: entry.log_index,
        integrated_time: entry.integrated_time,
        log_url: key.base_url.clone(),
    })
}

/// The canonicalized body of a Rekor `dsse` 0.0.1 entry (the fields checked here).
#[derive(serde::Deserialize)]
struct DsseEntryBody {
    spec: DsseEntrySpec,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseEntrySpec {
    payload_hash: EntryHash,
    signatures: Vec<EntrySignature>,
}

#[derive(serde::Deserialize)]
struct EntryHash {
    algorithm: String,
    value: String,
}

#[derive(serde::Deserialize)]
struct EntrySignature {
    signature: String,
    verifier: String,
}

/// The entry body must record this payload's hash and this signature by this certificate.
fn check_dsse_body(body: &[u8], payload: &[u8], signature: &[u8], leaf_der: &[u8]) -> Result<(), TlogError> {
    let v: DsseEntryBody = serde_json::from_slice(body).map_err(TlogError::Body)?;
    let spec = &v.spec;
    if spec.payload_hash.algorithm != "sha256" {
        return Err(TlogError::Invalid("entry payloadHash is not sha256"));
    }
    if spec.payload_hash.value != hex::encode(sha256(payload)) {
        return Err(TlogError::Invalid("entry payload hash does not match the signed payload"));
    }
    let [only] = spec.signatures.as_slice() else {
        return Err(TlogError::Invalid("entry must record exactly one signature"));
    };
    let rec_sig = decode_b64(&only.signature, "entry signature")?;
    if rec_sig != signature {
        return Err(TlogError::Invalid("entry records a different signature"));
    }
    let verifier_pem = decode_b64(&only.verifier, "entry verifier")?;
    let (_, verifier_der) = crate::crypto::keys::pem_decode(&verifier_pem, "entry verifier")
        .map_err(|_| TlogError::Invalid("entry verifier is not a PEM certificate"))?;
    if verifier_der != leaf_der {
        return Err(TlogError::Invalid("entry records a different signing certificate"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(l: [u8; 32], r: [u8; 32]) -> [u8; 32] {
        hash_children(&l, &r)
    }

    #[test]
    fn inclusion_proofs_for_a_five_leaf_tree() -> Result<(), TlogError> {
        let leaves: Vec<[u8; 32]> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        let n01 = node(leaves[0], leaves[1]);
        let n23 = node(leaves[2], leaves[3]);
        let n0123 = node(n01, n23);
        let root = node(n0123, leaves[4]);
        assert_eq!(root_from_inclusion_proof(2, 5, leaves[2], &[leaves[3], n01, leaves[4]])?, root);
        assert_eq!(root_from_inclusion_proof(4, 5, leaves[4], &[n0123])?, root);
        assert_ne!(root_from_inclusion_proof(2, 5, leaves[1], &[leaves[3], n01, leaves[4]])?, root);
        assert!(root_from_inclusion_proof(5, 5, leaves[4], &[n0123]).is_err());
        assert!(root_from_inclusion_proof(4, 5, leaves[4], &[]).is_err());
        Ok(())
    }
}
