//! Property tests: the parsers behind every untrusted input never panic, on random bytes and
//! on mutations of valid documents (the same entry points the cargo-fuzz targets use).

use modelsig_common::fuzz_entry;
use proptest::prelude::*;

fn valid_bundle() -> Vec<u8> {
    let payload = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"00"}}],"predicateType":"https://model_signing/signature/v1.0","predicate":{"serialization":{"method":"files","hash_type":"sha256","allow_symlinks":false},"resources":[]}}"#;
    use base64::Engine as _;
    let p = base64::engine::general_purpose::STANDARD.encode(payload);
    format!(
        r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{{"publicKey":{{"hint":"00"}},"tlogEntries":[]}},"dsseEnvelope":{{"payload":"{p}","payloadType":"application/vnd.in-toto+json","signatures":[{{"sig":"AA==","keyid":""}}]}}}}"#
    )
    .into_bytes()
}

fn valid_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_entry_type(tar::EntryType::Regular);
    let _ = b.append_data(&mut h, "dir/file.bin", &b"hello"[..]);
    b.into_inner().unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzz_entry::bundle(&data);
        fuzz_entry::statement(&data);
        fuzz_entry::oci_manifest(&data);
        fuzz_entry::configs(&data);
        fuzz_entry::tar_layer(&data);
    }

    #[test]
    fn mutated_bundles_never_panic(pos in 0usize..4096, byte in any::<u8>()) {
        let mut b = valid_bundle();
        let i = pos % b.len();
        b[i] = byte;
        fuzz_entry::bundle(&b);
    }

    #[test]
    fn mutated_tars_never_panic(pos in 0usize..4096, byte in any::<u8>(), cut in 0usize..4096) {
        let mut t = valid_tar();
        let i = pos % t.len();
        t[i] = byte;
        t.truncate(cut.max(1).min(t.len()));
        fuzz_entry::tar_layer(&t);
    }
}
