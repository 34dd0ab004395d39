//! The real [`Transport`] for Fulcio and Rekor: JSON over HTTPS with `ureq` (rustls, web PKI
//! roots). Never used by the tests, which use an in-process fake.

use super::signer::{Transport, TransportError};
use std::time::Duration;

/// HTTPS transport with a per-request timeout.
pub struct HttpTransport {
    agent: ureq::Agent,
}

impl HttpTransport {
    /// A transport whose requests time out after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("modelsig-oci/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { agent }
    }
}

impl Transport for HttpTransport {
    fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<serde_json::Value, TransportError> {
        let mut resp = self
            .agent
            .post(url)
            .header("Accept", "application/json")
            .send_json(body)
            .map_err(|e| TransportError::Request(Box::new(e)))?;
        let status = resp.status();
        let text = resp.body_mut().read_to_string().map_err(|e| TransportError::Request(Box::new(e)))?;
        if !status.is_success() {
            return Err(TransportError::Status {
                status: status.as_u16(),
                body: text.chars().take(500).collect(),
            });
        }
        serde_json::from_str(&text).map_err(TransportError::NotJson)
    }

    fn post_bytes(&self, url: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut resp = self
            .agent
            .post(url)
            .header("Content-Type", content_type)
            .send(body)
            .map_err(|e| TransportError::Request(Box::new(e)))?;
        let status = resp.status();
        // A timestamp response is a few kilobytes; 1 MiB bounds a hostile answer.
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| TransportError::Request(Box::new(e)))?;
        if !status.is_success() {
            return Err(TransportError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            });
        }
        Ok(bytes)
    }
}
