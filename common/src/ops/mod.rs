//! The user-level operations, as model_signing's API offers them: open a model from where
//! it lives ([`source`]), sign it ([`sign`]), verify it through the one pipeline
//! ([`verify`]), verify and pull it from a registry ([`remote`]), and the reports they
//! return ([`report`]).

#[cfg(feature = "http")]
pub mod by_policy;
pub mod policy;
#[cfg(feature = "http")]
pub mod remote;
pub mod report;
pub mod sign;
pub mod source;
pub mod verify;
