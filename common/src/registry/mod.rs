//! OCI registries (distribution-spec v1.1): references, credentials, a blocking client with
//! referrers support, and the model operations built on it (push, attach, discover, verify
//! from manifest + signature only, verified pull, sign in place).

pub(crate) mod auth;
pub mod client;
pub mod model;
pub mod reference;

pub use client::{Client, ClientOptions, Repo};
pub use reference::Reference;
