//! Getting an OIDC identity token for Fulcio the ways model_signing (sigstore-python) does,
//! in its order: a token given (`--identity_token`, `SIGSTORE_ID_TOKEN`); ambient CI
//! credentials (`--use_ambient_credentials`: GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_URL`
//! / `_TOKEN`, as the `id` package detects them; CI systems that export `SIGSTORE_ID_TOKEN`,
//! like GitLab's `id_tokens`, are the first case); else the OAuth 2.0 authorization-code
//! flow with PKCE (RFC 7636) against the signing config's OIDC provider (its discovery
//! document, OpenID Connect Discovery 1.0): in a browser with a redirect to
//! `http://localhost:PORT/auth/callback`, or out of band (`--oauth_force_oob`, or when no
//! browser starts) with the code typed in. `$BROWSER` names the browser, as in Python.

use crate::errors::SignatureError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use std::io::{BufRead, Write};

/// Sigstore's public OAuth client.
pub const DEFAULT_CLIENT_ID: &str = "sigstore";

/// How to get a token.
#[derive(Debug, Clone, Default)]
pub struct TokenOptions {
    /// A token given outright.
    pub given: Option<String>,
    /// Look for ambient CI credentials.
    pub ambient: bool,
    /// Out-of-band OAuth: print the URL, read the code.
    pub force_oob: bool,
    /// OAuth client ID (default `sigstore`); also the audience asked of CI providers.
    pub client_id: Option<String>,
    /// OAuth client secret (default empty).
    pub client_secret: Option<String>,
}

fn fail(msg: impl Into<String>) -> SignatureError {
    SignatureError::Material(format!("identity token: {}", msg.into()))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn read_json(
    mut resp: ureq::http::Response<ureq::Body>,
    what: &str,
) -> Result<serde_json::Value, SignatureError> {
    let status = resp.status();
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| fail(format!("{what}: {e}")))?;
    if !status.is_success() {
        return Err(fail(format!(
            "{what}: HTTP {}: {}",
            status.as_u16(),
            text.chars().take(300).collect::<String>()
        )));
    }
    serde_json::from_str(&text).map_err(|e| fail(format!("{what}: not JSON: {e}")))
}

/// The token, by the first way that applies; `issuer` is the OIDC provider for the
/// interactive flow (the signing config's `oidcUrls`).
pub fn identity_token(opts: &TokenOptions, issuer: Option<&str>) -> Result<String, SignatureError> {
    if let Some(t) = &opts.given {
        return Ok(t.trim().to_owned());
    }
    let client_id = opts.client_id.as_deref().unwrap_or(DEFAULT_CLIENT_ID);
    if opts.ambient
        && let Some(t) = ambient_token(client_id)?
    {
        return Ok(t);
    }
    let issuer = issuer.ok_or_else(|| {
        fail("no token given, none in the environment, and the signing config names no OIDC provider")
    })?;
    oauth_token(issuer, client_id, opts.client_secret.as_deref().unwrap_or(""), opts.force_oob)
}

/// GitHub Actions' OIDC token for `audience`, when the job may request one.
pub fn ambient_token(audience: &str) -> Result<Option<String>, SignatureError> {
    let (Ok(url), Ok(bearer)) =
        (std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL"), std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
    else {
        return Ok(None);
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let resp = agent()
        .get(&format!("{url}{sep}audience={audience}"))
        .header("Authorization", &format!("bearer {bearer}"))
        .call()
        .map_err(|e| fail(format!("GitHub Actions token request: {e}")))?;
    let v = read_json(resp, "GitHub Actions token request")?;
    v["value"]
        .as_str()
        .map(|s| Some(s.to_owned()))
        .ok_or_else(|| fail("GitHub Actions answered without a `value`"))
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    B64URL.encode(b)
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// Opens `url` in `$BROWSER`, else `xdg-open`; false when none starts (the command is
/// missing, or exits with a failure within a few seconds, as `xdg-open` does without a
/// desktop).
fn open_browser(url: &str) -> bool {
    let browser = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let cmd = browser.as_deref().unwrap_or(if cfg!(target_os = "macos") { "open" } else { "xdg-open" });
    let Ok(mut child) = std::process::Command::new(cmd)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        return false;
    };
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(3) {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(_) => return false,
        }
    }
    // Still running (a browser in the foreground): assume the page is open.
    true
}

/// How long the browser flow waits for the provider's redirect.
const REDIRECT_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The authorization-code flow with PKCE against `issuer`.
pub fn oauth_token(
    issuer: &str,
    client_id: &str,
    client_secret: &str,
    force_oob: bool,
) -> Result<String, SignatureError> {
    let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let resp = agent().get(&discovery_url).call().map_err(|e| fail(format!("{discovery_url}: {e}")))?;
    let config = read_json(resp, &discovery_url)?;
    let (Some(auth_endpoint), Some(token_endpoint)) =
        (config["authorization_endpoint"].as_str(), config["token_endpoint"].as_str())
    else {
        return Err(fail(format!("{discovery_url}: no authorization_endpoint or token_endpoint")));
    };
    let verifier = random_b64(32);
    let challenge = B64URL.encode(crate::formats::digest::sha256(verifier.as_bytes()));
    let state = random_b64(16);
    let auth_url = |redirect: &str| {
        format!(
            "{auth_endpoint}?{}",
            form_encode(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("scope", "openid email"),
                ("redirect_uri", redirect),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", &state),
            ])
        )
    };
    let listener = if force_oob { None } else { std::net::TcpListener::bind("127.0.0.1:0").ok() };
    let redirect_port = listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port());
    let (code, redirect) = match (listener, redirect_port) {
        (Some(listener), Some(port))
            if open_browser(&auth_url(&format!("http://localhost:{port}/auth/callback"))) =>
        {
            eprintln!("Waiting for browser interaction...");
            let redirect = format!("http://localhost:{port}/auth/callback");
            (wait_for_redirect(&listener, &state)?, redirect)
        }
        _ => {
            let redirect = "urn:ietf:wg:oauth:2.0:oob".to_owned();
            eprintln!("Go to the following link in a browser:\n\n\t{}\n", auth_url(&redirect));
            eprint!("Enter verification code: ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| fail(format!("reading the code: {e}")))?;
            (line.trim().to_owned(), redirect)
        }
    };
    let body = form_encode(&[
        ("grant_type", "authorization_code"),
        ("redirect_uri", &redirect),
        ("code", &code),
        ("code_verifier", &verifier),
    ]);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}"));
    let resp = agent()
        .post(token_endpoint)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", &format!("Basic {basic}"))
        .send(body.as_bytes())
        .map_err(|e| fail(format!("{token_endpoint}: {e}")))?;
    let v = read_json(resp, token_endpoint)?;
    if let Some(e) = v["error"].as_str() {
        return Err(fail(format!("{token_endpoint}: {e}")));
    }
    v["access_token"]
        .as_str()
        .or_else(|| v["id_token"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| fail(format!("{token_endpoint}: no access_token")))
}

/// Serves the one redirect of the browser flow; returns its code after checking `state`.
fn wait_for_redirect(listener: &std::net::TcpListener, state: &str) -> Result<String, SignatureError> {
    listener.set_nonblocking(true).map_err(|e| fail(format!("redirect listener: {e}")))?;
    let start = std::time::Instant::now();
    loop {
        let mut stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if start.elapsed() > REDIRECT_WAIT {
                    return Err(fail(
                        "no answer from the browser in 5 minutes (--oauth_force_oob prints a link instead)",
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
            Err(e) => return Err(fail(format!("redirect listener: {e}"))),
        };
        stream.set_nonblocking(false).map_err(|e| fail(format!("redirect: {e}")))?;
        let mut line = String::new();
        std::io::BufReader::new(&stream).read_line(&mut line).map_err(|e| fail(format!("redirect: {e}")))?;
        let target = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let Some(query) = target.strip_prefix("/auth/callback?") else {
            let _ =
                stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            continue;
        };
        let page = "Authentication complete: you may close this window.";
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        if let Some(e) = crate::io::form_field(query, "error") {
            return Err(fail(format!("the provider answered `{e}`")));
        }
        if crate::io::form_field(query, "state").as_deref() != Some(state) {
            return Err(fail("OAuth state mismatch"));
        }
        return crate::io::form_field(query, "code").ok_or_else(|| fail("the redirect carries no code"));
    }
}

#[cfg(test)]
mod tests {
    use super::form_encode;

    #[test]
    fn form_and_query_encoding_round_trip() {
        let enc =
            form_encode(&[("redirect_uri", "http://localhost:1/auth/callback"), ("scope", "openid email")]);
        assert_eq!(enc, "redirect_uri=http%3A%2F%2Flocalhost%3A1%2Fauth%2Fcallback&scope=openid%20email");
        assert_eq!(
            crate::io::form_field(&enc, "redirect_uri").as_deref(),
            Some("http://localhost:1/auth/callback")
        );
        assert_eq!(crate::io::form_field("a=1&b=x+y", "b").as_deref(), Some("x y"));
        assert_eq!(crate::io::form_field("a=1", "b"), None);
    }
}
