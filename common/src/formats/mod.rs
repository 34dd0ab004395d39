//! The wire formats of model signing, from the inside out: hash algorithms and digests, the
//! model manifest (`file → digest`), the model_signing predicate, the in-toto Statement v1
//! that carries it, the DSSE envelope that signs it, and the Sigstore bundle (`model.sig`)
//! that holds the envelope with its verification material. Parsing only: no keys here.

pub mod bundle;
pub mod digest;
pub mod dsse;
pub mod intoto;
pub mod manifest;
pub mod predicate;
