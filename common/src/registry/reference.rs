//! Registry references (`host[:port]/repository[:tag|@sha256:…]`, distribution
//! `reference` grammar, simplified: the registry host is required, as with `oras`).

use crate::errors::RegistryError;
use crate::oci::OciDigest;

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (and port).
    pub registry: String,
    /// Repository path.
    pub repository: String,
    /// Tag, if given.
    pub tag: Option<String>,
    /// Digest, if given (wins over the tag).
    pub digest: Option<OciDigest>,
}

impl Reference {
    /// Parses `host[:port]/repo[:tag][@digest]`.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        let bad = |p: &str| RegistryError::Reference { reference: s.to_owned(), problem: p.to_owned() };
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d.parse::<OciDigest>().map_err(|e| bad(&e.to_string()))?)),
            None => (s, None),
        };
        let (registry, path) =
            rest.split_once('/').ok_or_else(|| bad("expected host[:port]/repository[:tag]"))?;
        if registry.is_empty()
            || !(registry.contains('.') || registry.contains(':') || registry == "localhost")
        {
            return Err(bad("the first component must be a registry host (e.g. localhost:5000)"));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_owned(), Some(t.to_owned())),
            _ => (path.to_owned(), None),
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                    && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            });
        if !valid_repo {
            return Err(bad("repository must be lowercase path components of [a-z0-9._-]"));
        }
        if let Some(t) = &tag
            && (t.is_empty()
                || t.len() > 128
                || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
        {
            return Err(bad("tag must be 1-128 characters of [A-Za-z0-9._-]"));
        }
        if tag.is_none() && digest.is_none() {
            return Ok(Self {
                registry: registry.to_owned(),
                repository,
                tag: Some("latest".into()),
                digest: None,
            });
        }
        Ok(Self { registry: registry.to_owned(), repository, tag, digest })
    }

    /// The tag or digest to ask the registry for.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// The same repository pinned to a digest.
    pub fn pinned(&self, digest: &OciDigest) -> Self {
        Self { digest: Some(digest.clone()), ..self.clone() }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() -> Result<(), RegistryError> {
        let r = Reference::parse("localhost:5000/team/model:v1")?;
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "team/model", Some("v1"))
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("reg.example.com/m@{d}"))?;
        assert_eq!(r.reference(), d);
        assert_eq!(Reference::parse("localhost:5000/m")?.reference(), "latest");
        for bad in [
            "model:v1",
            "localhost:5000/Model",
            "localhost:5000/m:bad/tag",
            "localhost:5000/m@sha256:zz",
            "localhost:5000/../x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}
