//! Registries for the end-to-end tests, all on 127.0.0.1: the Debian `docker-registry`
//! (CNCF distribution 2.8, no referrers API) started with a temporary storage directory,
//! and a proxy in front of it that adds the OCI 1.1 referrers API (answers `OCI-Subject` on
//! manifest pushes with a subject, serves `GET /v2/<repo>/referrers/<digest>`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

fn http_ok(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).contains(" 200 ")
}

/// A `docker-registry` process serving 127.0.0.1 from a temporary directory.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Storage root (for corrupting blobs in tests).
    pub storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry and waits until it answers.
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let storage = dir.path().join("data");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start docker-registry ({e}): apt-get install docker-registry")
            });
        let started = Instant::now();
        while !http_ok(&addr) {
            assert!(started.elapsed() < Duration::from_secs(20), "docker-registry did not start on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, addr, storage, _dir: dir }
    }

    /// Path of a blob's data file in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(s: &mut TcpStream) -> Option<Request> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect();
    let get = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        s.read_exact(&mut body).ok()?;
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                s.read_exact(&mut byte).ok()?;
                line.push(byte[0]);
            }
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&line).trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0u8; size + 2];
            s.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(Request { method, path, headers, body })
}

fn respond(s: &mut TcpStream, status: u16, headers: &[(String, String)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        if k != "content-length" && k != "connection" && k != "transfer-encoding" {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str("\r\n");
    let _ = s.write_all(out.as_bytes());
    let _ = s.write_all(body);
}

/// Faults a [`Proxy`] injects; change them between steps of a test.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The next N requests are answered `500 Internal Server Error`.
    pub server_errors: usize,
    /// The next N connections are closed without an answer.
    pub resets: usize,
    /// Blob downloads with this digest get one byte flipped.
    pub corrupt_blob: Option<String>,
    /// Blob downloads are cut off after half their bytes.
    pub truncate_blobs: bool,
}

/// A proxy in front of a registry: optionally adds the OCI 1.1 referrers API, and injects
/// faults (server errors, connection resets, corrupted or truncated blobs).
pub struct Proxy {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Requests seen (method and path), for assertions.
    pub seen: Arc<Mutex<Vec<String>>>,
    /// Faults to inject.
    pub faults: Arc<Mutex<Faults>>,
    /// What the referrers API answers, by `repo@subject-digest` (tests may add entries).
    pub refs: Arc<Mutex<HashMap<String, Vec<serde_json::Value>>>>,
}

struct Shared {
    upstream: String,
    me: String,
    referrers_api: bool,
    seen: Arc<Mutex<Vec<String>>>,
    refs: Arc<Mutex<HashMap<String, Vec<serde_json::Value>>>>,
    faults: Arc<Mutex<Faults>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`host:port`); `referrers_api` adds that API.
    pub fn start(upstream: &str, referrers_api: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(Faults::default()));
        let refs = Arc::new(Mutex::new(HashMap::new()));
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            me: addr.clone(),
            referrers_api,
            seen: seen.clone(),
            refs: refs.clone(),
            faults: faults.clone(),
        });
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || handle(&mut s, &shared));
            }
        });
        Proxy { addr, seen, faults, refs }
    }

    /// Sets the faults.
    pub fn set(&self, f: Faults) {
        if let Ok(mut g) = self.faults.lock() {
            *g = f;
        }
    }

    /// Number of requests seen so far.
    pub fn requests(&self) -> usize {
        self.seen.lock().map(|v| v.len()).unwrap_or(0)
    }
}

fn handle(s: &mut TcpStream, sh: &Shared) {
    let Some(req) = read_request(s) else { return };
    if let Ok(mut v) = sh.seen.lock() {
        v.push(format!("{} {}", req.method, req.path));
    }
    let (reset, error) = match sh.faults.lock() {
        Ok(mut f) => {
            let reset = f.resets > 0;
            f.resets = f.resets.saturating_sub(1);
            let error = !reset && f.server_errors > 0;
            if error {
                f.server_errors -= 1;
            }
            (reset, error)
        }
        Err(_) => (false, false),
    };
    if reset {
        let _ = s.shutdown(std::net::Shutdown::Both);
        return;
    }
    if error {
        return respond(s, 500, &[], b"injected failure");
    }
    let (upstream, me, refs) = (sh.upstream.as_str(), sh.me.as_str(), &sh.refs);
    // GET /v2/<repo>/referrers/<digest>: answered from what was pushed through us.
    if sh.referrers_api
        && req.method == "GET"
        && let Some((repo_part, digest)) = req.path.split_once("/referrers/")
    {
        let key = format!(
            "{}@{}",
            repo_part.trim_start_matches("/v2/"),
            digest.split('?').next().unwrap_or(digest)
        );
        let manifests = refs.lock().ok().and_then(|r| r.get(&key).cloned()).unwrap_or_default();
        let body = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests });
        let headers = vec![("content-type".to_owned(), "application/vnd.oci.image.index.v1+json".to_owned())];
        respond(s, 200, &headers, body.to_string().as_bytes());
        return;
    }
    // Everything else goes upstream.
    let url = format!("http://{upstream}{}", req.path);
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let mut builder = ureq::http::Request::builder().method(req.method.as_str()).uri(&url);
    for (k, v) in &req.headers {
        if k != "host" && k != "content-length" && k != "transfer-encoding" && k != "connection" {
            builder = builder.header(k, v);
        }
    }
    let result = match builder.body(req.body.clone()) {
        Ok(r) => agent.run(r),
        Err(_) => return respond(s, 500, &[], b"bad request"),
    };
    let Ok(resp) = result else { return respond(s, 502, &[], b"upstream failed") };
    let status = resp.status().as_u16();
    let mut headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            let v = v.to_str().unwrap_or("").replace(upstream, me);
            (k.as_str().to_owned(), v)
        })
        .collect();
    let mut body = Vec::new();
    let _ = resp.into_body().into_reader().read_to_end(&mut body);
    if req.method == "GET" && req.path.contains("/blobs/sha256:") && status == 200 {
        let faults = sh.faults.lock().map(|f| f.clone()).unwrap_or_default();
        if faults.corrupt_blob.as_deref().is_some_and(|d| req.path.ends_with(d)) && !body.is_empty() {
            let i = body.len() / 2;
            body[i] ^= 1;
        }
        if faults.truncate_blobs {
            // Claim the full length, send half, hang up.
            let full = body.len();
            let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {full}\r\nConnection: close\r\n\r\n")
                .into_bytes();
            out.extend_from_slice(&body[..full / 2]);
            let _ = s.write_all(&out);
            let _ = s.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
    // A manifest with a subject pushed through us: index it and say so.
    if sh.referrers_api
        && req.method == "PUT"
        && status == 201
        && req.path.contains("/manifests/")
        && let Ok(m) = serde_json::from_slice::<serde_json::Value>(&req.body)
        && let Some(subject) = m["subject"]["digest"].as_str()
    {
        let repo = req.path.trim_start_matches("/v2/").split("/manifests/").next().unwrap_or("").to_owned();
        let digest = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("docker-content-digest"))
            .map(|(_, v)| v.clone());
        let desc = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": req.body.len(),
            "artifactType": m["artifactType"], "annotations": m["annotations"],
        });
        if let Ok(mut r) = refs.lock() {
            r.entry(format!("{repo}@{subject}")).or_default().push(desc);
        }
        headers.push(("oci-subject".into(), subject.to_owned()));
    }
    respond(s, status, &headers, &body);
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
}

/// Uploads a blob to `repo` on a registry (monolithic upload) and returns its digest.
pub fn put_blob(addr: &str, repo: &str, bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    let a = agent();
    let resp = a
        .post(&format!("http://{addr}/v2/{repo}/blobs/uploads/"))
        .send_empty()
        .unwrap_or_else(|e| panic!("start upload: {e}"));
    assert_eq!(resp.status().as_u16(), 202, "start upload");
    let location =
        resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let url = if location.starts_with("http") { location } else { format!("http://{addr}{location}") };
    let sep = if url.contains('?') { '&' } else { '?' };
    let resp = a
        .put(&format!("{url}{sep}digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .send(bytes)
        .unwrap_or_else(|e| panic!("upload: {e}"));
    assert_eq!(resp.status().as_u16(), 201, "upload {digest}");
    digest
}

/// Puts a manifest (any JSON the test crafts) under a tag; returns its digest.
pub fn put_manifest(addr: &str, repo: &str, tag: &str, manifest: &serde_json::Value) -> String {
    use sha2::Digest as _;
    let bytes = serde_json::to_vec(manifest).unwrap_or_default();
    let media_type = manifest["mediaType"].as_str().unwrap_or("application/vnd.oci.image.manifest.v1+json");
    let mut resp = agent()
        .put(&format!("http://{addr}/v2/{repo}/manifests/{tag}"))
        .header("Content-Type", media_type)
        .send(&bytes[..])
        .unwrap_or_else(|e| panic!("put manifest: {e}"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 201, "put manifest {repo}:{tag}: {}", text.chars().take(500).collect::<String>());
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
}

/// GETs a manifest by tag or digest: (body, `Docker-Content-Digest`).
fn fetch_manifest(addr: &str, repo: &str, reference: &str) -> (String, String) {
    let mut resp = agent()
        .get(&format!("http://{addr}/v2/{repo}/manifests/{reference}"))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        )
        .call()
        .unwrap_or_else(|e| panic!("get manifest: {e}"));
    let digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (resp.body_mut().read_to_string().unwrap_or_default(), digest)
}

/// Gets a manifest by tag or digest.
pub fn get_manifest(addr: &str, repo: &str, reference: &str) -> serde_json::Value {
    let (text, _) = fetch_manifest(addr, repo, reference);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The digest a registry reports for a manifest (`Docker-Content-Digest`).
pub fn manifest_digest(addr: &str, repo: &str, reference: &str) -> String {
    fetch_manifest(addr, repo, reference).1
}
