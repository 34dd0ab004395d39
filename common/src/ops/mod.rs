//! The user-level operations, as model_signing's API offers them: open a model from where
//! it lives ([`source`]), compute its manifest, sign it, verify it ([`workflow`]), and the
//! reports they return ([`report`]).

pub mod report;
pub mod source;
pub mod workflow;
