//! Models packaged as OCI artifacts (CNCF ModelPack, KitOps ModelKits, ORAS artifacts):
//! [`read`] reads one as a model source without unpacking it, [`write`] packs a model
//! directory into an OCI image layout. The formats themselves are in [`crate::oci`].

pub mod read;
pub mod write;
