//! Registry credentials and challenges: Docker's `config.json` (`auths`, `credHelpers`,
//! `credsStore`, as read by docker, oras and skopeo), credential helper programs
//! (`docker-credential-<name> get`), and `WWW-Authenticate` Basic / Bearer challenges
//! (distribution `docs/spec/auth/token.md`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A username and password (or token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    /// The `Authorization: Basic` value.
    pub fn basic(&self) -> String {
        format!("Basic {}", B64.encode(format!("{}:{}", self.username, self.password)))
    }
}

fn config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Keys a registry may be stored under in `auths`.
fn host_keys(registry: &str) -> Vec<String> {
    let mut v = vec![registry.to_owned(), format!("https://{registry}"), format!("http://{registry}")];
    if registry == "docker.io" || registry == "registry-1.docker.io" {
        v.push("https://index.docker.io/v1/".into());
    }
    v
}

/// Runs `docker-credential-<helper> get` for a registry.
fn from_helper(helper: &str, registry: &str) -> Option<Credentials> {
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(registry.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(Credentials {
        username: v["Username"].as_str()?.to_owned(),
        password: v["Secret"].as_str()?.to_owned(),
    })
}

/// Credentials for a registry from the Docker config, if any.
pub fn lookup(registry: &str) -> Option<Credentials> {
    lookup_in(&config_path()?, registry)
}

/// Credentials for a registry from a Docker config file.
pub fn lookup_in(config: &std::path::Path, registry: &str) -> Option<Credentials> {
    let text = std::fs::read(config).ok()?;
    let cfg: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let keys = host_keys(registry);
    for k in &keys {
        if let Some(helper) = cfg["credHelpers"][k].as_str() {
            return from_helper(helper, registry);
        }
    }
    for k in &keys {
        let entry = &cfg["auths"][k];
        if let Some(auth) = entry["auth"].as_str()
            && let Ok(raw) = B64.decode(auth)
            && let Ok(s) = String::from_utf8(raw)
            && let Some((u, p)) = s.split_once(':')
        {
            return Some(Credentials { username: u.to_owned(), password: p.to_owned() });
        }
        if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
            return Some(Credentials { username: u.to_owned(), password: p.to_owned() });
        }
    }
    cfg["credsStore"].as_str().and_then(|h| from_helper(h, registry))
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Basic authentication.
    Basic,
    /// Bearer token from `realm` for `service` and `scope`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// Service name.
        service: Option<String>,
        /// Requested scope.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut scope = None;
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match key {
            "realm" => realm = Some(value.to_owned()),
            "service" => service = Some(value.to_owned()),
            "scope" => scope = Some(value.to_owned()),
            _ => {}
        }
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer { realm: realm?, service, scope })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:m:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:m:pull,push".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="registry""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn reads_docker_config_auths() -> Result<(), Box<dyn std::error::Error>> {
        let t = tempfile::tempdir()?;
        let auth = B64.encode("alice:s3cret");
        std::fs::write(
            t.path().join("config.json"),
            format!(r#"{{"auths":{{"localhost:5000":{{"auth":"{auth}"}}}}}}"#),
        )?;
        let cfg = t.path().join("config.json");
        assert_eq!(lookup_in(&cfg, "localhost:5000").map(|c| c.username), Some("alice".into()));
        assert_eq!(lookup_in(&cfg, "other:5000"), None);
        Ok(())
    }
}
