//! A local Sigstore test double over HTTP on 127.0.0.1: the library's in-process fake Fulcio,
//! Rekor and CT log (feature `test-services`) behind a tiny HTTP server, with a
//! `ClientTrustConfig` file that trusts it and sends signing to it. Never a public instance.

use modelsig_common::crypto::keyless::fake_sigstore::FakeSigstore;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The running services.
pub struct SigstoreServices {
    /// The trust configuration file (trusted root + signing config).
    pub trust_config: PathBuf,
}

impl SigstoreServices {
    /// Starts the services and writes `trust_config.json` into `dir`.
    pub fn start(dir: &Path) -> SigstoreServices {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let base = format!("http://{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        let fake = FakeSigstore::new();
        let trust_config = dir.join("trust_config.json");
        std::fs::write(&trust_config, fake.trust_config_json(&base).to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        // One thread owns the fake (it is not Sync) and serves connections in turn.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let Some((path, body)) = read_request(&mut s) else { continue };
                let (status, answer) = match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(json) => match fake.handle(&path, &json) {
                        Ok(v) => (201, v.to_string()),
                        Err(e) => (400, serde_json::json!({ "message": e.to_string() }).to_string()),
                    },
                    Err(e) => (400, serde_json::json!({ "message": e.to_string() }).to_string()),
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        SigstoreServices { trust_config }
    }
}

/// The path and body of one HTTP/1.1 request.
fn read_request(s: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some((path, body))
}
