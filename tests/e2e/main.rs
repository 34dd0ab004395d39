//! End-to-end tests: the built binaries against the upstream reference vectors, the Python
//! `model_signing` tool (both directions) and tampered inputs.

mod attest;
mod chains;
mod cli;
mod conformance;
mod faults;
mod hostile;
mod hostile_registry;
mod interop;
mod matrix;
mod modelcar;
mod packaged;
mod policy;
mod remote;
mod sigstore_services;
mod tamper;
mod tar_differential;
mod third_party;
mod vectors;
