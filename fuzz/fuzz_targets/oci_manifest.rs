//! Fuzz target: `modelsig_common::fuzz_entry::oci_manifest` (see that module).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    modelsig_common::fuzz_entry::oci_manifest(data);
});
