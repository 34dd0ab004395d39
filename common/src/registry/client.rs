//! A small blocking client for the OCI distribution API v1.1 (opencontainers/distribution-spec
//! `spec.md`): manifests and blobs (pull, push, chunked streaming upload), the referrers API
//! and its tag-schema fallback, with Basic/Bearer auth, bounded retries with backoff, and a
//! count of bytes downloaded.
//!
//! Why not `oci-client`: it is async-only (tokio + reqwest) while our hashing engine is
//! synchronous and streams blobs through digest-checking readers; it does not maintain the
//! referrers fallback index on push nor read Docker's config and credential helpers. The
//! handful of endpoints we need are simpler to own than to bridge.

use super::auth::{self, Challenge, Credentials};
use crate::errors::{OciError, RegistryError};
use crate::io::Tap;
use crate::oci::layout::{MAX_METADATA_BLOB, VerifyingReader};
use crate::oci::{BlobStore, Descriptor, ImageIndex, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, OciDigest};
use sha2::Digest as _;
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Connection options.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Use plain HTTP (like `oras --plain-http`). Defaults to true for localhost/127.0.0.1.
    pub plain_http: Option<bool>,
    /// Attempts after the first for requests that are safe to repeat.
    pub retries: u32,
    /// First backoff delay; doubled per attempt.
    pub backoff: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Blobs transferred at once (`--concurrency`; 4 like oras, skopeo and containerd).
    pub concurrency: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            plain_http: None,
            retries: 3,
            backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(300),
            concurrency: 4,
        }
    }
}

/// A registry connection (cheap to clone: clones share tokens and counters).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    registry: String,
    base: String,
    creds: Option<Credentials>,
    tokens: Arc<Mutex<HashMap<String, String>>>,
    basic: Arc<std::sync::atomic::AtomicBool>,
    downloaded: Arc<AtomicU64>,
    opts: ClientOptions,
}

enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Reader(&'a mut (dyn Read + Send)),
}

/// Counts downloaded bytes into the client's counter.
fn counted<R: Read>(inner: R, counter: Arc<AtomicU64>) -> Tap<R, impl FnMut(&[u8])> {
    Tap::new(inner, move |b: &[u8]| {
        counter.fetch_add(b.len() as u64, Ordering::Relaxed);
    })
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

impl Client {
    /// Connects (lazily) to a registry host, using Docker config credentials if any.
    pub fn new(registry: &str, opts: ClientOptions) -> Self {
        let host = registry.split(':').next().unwrap_or(registry);
        let local = host == "localhost" || host == "127.0.0.1" || host == "[::1]";
        let scheme = if opts.plain_http.unwrap_or(local) { "http" } else { "https" };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(opts.timeout))
            .http_status_as_error(false)
            .max_redirects(5)
            .user_agent(concat!("modelsig-oci/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            agent,
            registry: registry.to_owned(),
            base: format!("{scheme}://{registry}"),
            creds: auth::lookup(registry),
            tokens: Arc::new(Mutex::new(HashMap::new())),
            basic: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            downloaded: Arc::new(AtomicU64::new(0)),
            opts,
        }
    }

    /// Registry host.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// How many blobs to transfer at once.
    pub fn concurrency(&self) -> usize {
        self.opts.concurrency.max(1)
    }

    /// Bytes downloaded so far (all response bodies).
    pub fn downloaded(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }

    /// A repository of this registry.
    pub fn repo(&self, name: &str) -> Repo {
        Repo { client: self.clone(), name: name.to_owned() }
    }

    fn err(&self, repo: &str, what: &str, problem: impl Into<String>) -> RegistryError {
        RegistryError::Request {
            registry: self.registry.clone(),
            repository: repo.to_owned(),
            what: what.to_owned(),
            problem: problem.into(),
        }
    }

    fn authorization(&self, repo: &str) -> Option<String> {
        if let Some(t) = self.tokens.lock().ok().and_then(|t| t.get(repo).cloned()) {
            return Some(format!("Bearer {t}"));
        }
        if self.basic.load(Ordering::Relaxed) {
            return self.creds.as_ref().map(Credentials::basic);
        }
        None
    }

    /// Answers a 401 challenge; false when there is nothing more to try.
    fn authenticate(&self, repo: &str, challenge: Option<String>) -> Result<bool, RegistryError> {
        let auth_err = |p: String| RegistryError::Auth { registry: self.registry.clone(), problem: p };
        match challenge.as_deref().and_then(auth::parse_challenge) {
            Some(Challenge::Basic) => {
                if self.creds.is_none() || self.basic.swap(true, Ordering::Relaxed) {
                    return Ok(false);
                }
                Ok(true)
            }
            Some(Challenge::Bearer { realm, service, scope }) => {
                let scope = scope.unwrap_or_else(|| format!("repository:{repo}:pull,push"));
                let mut req = self.agent.get(&realm).query("scope", &scope);
                if let Some(s) = &service {
                    req = req.query("service", s);
                }
                if let Some(c) = &self.creds {
                    req = req.header("Authorization", &c.basic());
                }
                let mut resp = req.call().map_err(|e| auth_err(format!("token endpoint {realm}: {e}")))?;
                if !resp.status().is_success() {
                    return Err(auth_err(format!("token endpoint {realm} answered {}", resp.status())));
                }
                let v: serde_json::Value = resp
                    .body_mut()
                    .read_json()
                    .map_err(|e| auth_err(format!("token endpoint {realm}: {e}")))?;
                let token = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .ok_or_else(|| auth_err("no token in response".into()))?;
                let fresh = self
                    .tokens
                    .lock()
                    .map(|mut t| t.insert(repo.to_owned(), token.to_owned()).as_deref() != Some(token));
                Ok(fresh.unwrap_or(false))
            }
            None => Err(auth_err("401 without a usable WWW-Authenticate challenge".into())),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends one request with auth handling and, when safe, retries on 5xx, 429 and
    /// connection failures.
    fn send(
        &self,
        method: &str,
        url: &str,
        repo: &str,
        what: &str,
        headers: &[(&str, &str)],
        mut body: Body<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        let repeatable = !matches!(body, Body::Reader(_));
        let mut attempt = 0u32;
        let mut auth_tries = 0;
        loop {
            let mut builder = ureq::http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                builder = builder.header(*k, *v);
            }
            if let Some(a) = self.authorization(repo) {
                builder = builder.header("Authorization", a);
            }
            let result = match &mut body {
                Body::Empty => builder
                    .body(())
                    .map_err(|e| e.to_string())
                    .and_then(|r| self.agent.run(r).map_err(|e| e.to_string())),
                Body::Bytes(b) => builder
                    .body(*b)
                    .map_err(|e| e.to_string())
                    .and_then(|r| self.agent.run(r).map_err(|e| e.to_string())),
                Body::Reader(r) => builder
                    .body(ureq::SendBody::from_reader(r))
                    .map_err(|e| e.to_string())
                    .and_then(|req| self.agent.run(req).map_err(|e| e.to_string())),
            };
            let retry_in = self.opts.backoff * 2u32.saturating_pow(attempt);
            match result {
                Err(e) if repeatable && attempt < self.opts.retries => {
                    attempt += 1;
                    std::thread::sleep(retry_in);
                    let _ = e;
                }
                Err(e) => return Err(self.err(repo, what, format!("{method} {url}: {e}"))),
                Ok(resp) if resp.status() == 401 && auth_tries < 2 && repeatable => {
                    auth_tries += 1;
                    if !self.authenticate(repo, header(&resp, "www-authenticate"))? {
                        return Err(RegistryError::Auth {
                            registry: self.registry.clone(),
                            problem: format!(
                                "{method} {url}: 401 Unauthorized (check `docker login` / credentials)"
                            ),
                        });
                    }
                }
                Ok(resp)
                    if repeatable
                        && attempt < self.opts.retries
                        && (resp.status().is_server_error() || resp.status() == 429) =>
                {
                    attempt += 1;
                    std::thread::sleep(retry_in);
                }
                Ok(resp) => return Ok(resp),
            }
        }
    }

    /// Reads a manifest or index response body (counted), refusing more than 16 MiB.
    fn read_metadata(
        &self,
        resp: ureq::http::Response<ureq::Body>,
        repo: &str,
        what: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut bytes = Vec::new();
        counted(resp.into_body().into_reader(), self.downloaded.clone())
            .take(MAX_METADATA_BLOB + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.err(repo, what, e.to_string()))?;
        if bytes.len() as u64 > MAX_METADATA_BLOB {
            return Err(self.err(repo, what, "larger than 16 MiB"));
        }
        Ok(bytes)
    }

    fn status_error(
        &self,
        repo: &str,
        what: &str,
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> RegistryError {
        let status = resp.status();
        let text = resp.body_mut().with_config().limit(4096).read_to_string().unwrap_or_default();
        let msg: String = text.chars().take(300).collect();
        self.err(repo, what, format!("HTTP {status} {}", msg.trim()))
    }
}

/// A repository on a registry.
#[derive(Clone)]
pub struct Repo {
    client: Client,
    name: String,
}

/// A manifest fetched and checked against its digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// Exact bytes.
    pub bytes: Vec<u8>,
    /// Descriptor (media type from the response, digest computed from the bytes).
    pub desc: Descriptor,
}

impl Repo {
    /// Repository name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fetches a manifest by tag or digest. The digest is computed from the bytes; when the
    /// reference is a digest (or the registry sends `Docker-Content-Digest`) they must agree.
    pub fn fetch_manifest(&self, reference: &str) -> Result<Option<FetchedManifest>, RegistryError> {
        let c = &self.client;
        let what = format!("manifest {reference}");
        let url = c.url(&format!("/v2/{}/manifests/{reference}", self.name));
        let resp = c.send("GET", &url, &self.name, &what, &[("Accept", ACCEPT_MANIFESTS)], Body::Empty)?;
        if resp.status() == 404 {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(c.status_error(&self.name, &what, resp));
        }
        let media_type = header(&resp, "content-type").unwrap_or_default();
        let media_type = media_type.split(';').next().unwrap_or("").trim().to_owned();
        let claimed = header(&resp, "docker-content-digest");
        let bytes = c.read_metadata(resp, &self.name, &what)?;
        let digest = OciDigest::of(&bytes);
        let expected = reference.parse::<OciDigest>().ok().or_else(|| claimed.and_then(|h| h.parse().ok()));
        if let Some(want) = expected
            && want != digest
        {
            return Err(c.err(&self.name, &what, format!("content digest {digest} does not match {want}")));
        }
        let desc = Descriptor::new(&media_type, &digest, bytes.len() as u64);
        Ok(Some(FetchedManifest { bytes, desc }))
    }

    /// Streams a blob, checking size and digest as it arrives.
    pub fn blob_reader(
        &self,
        desc: &Descriptor,
        what: &str,
    ) -> Result<VerifyingReader<impl Read + Send + '_>, OciError> {
        let c = &self.client;
        let digest = desc.digest()?;
        let url = c.url(&format!("/v2/{}/blobs/{digest}", self.name));
        let resp = c.send("GET", &url, &self.name, what, &[], Body::Empty).map_err(|e| OciError::Blob {
            what: what.into(),
            digest: digest.to_string(),
            problem: e.to_string(),
        })?;
        if !resp.status().is_success() {
            let e = c.status_error(&self.name, what, resp);
            return Err(OciError::Blob {
                what: what.into(),
                digest: digest.to_string(),
                problem: e.to_string(),
            });
        }
        let body = counted(resp.into_body().into_reader(), c.downloaded.clone());
        Ok(VerifyingReader::new(body, digest, desc.size, what))
    }

    /// Does the repository hold this blob?
    pub fn blob_exists(&self, digest: &OciDigest) -> Result<bool, RegistryError> {
        let c = &self.client;
        let url = c.url(&format!("/v2/{}/blobs/{digest}", self.name));
        let resp = c.send("HEAD", &url, &self.name, &format!("blob {digest}"), &[], Body::Empty)?;
        Ok(resp.status().is_success())
    }

    fn start_upload(&self, what: &str) -> Result<String, RegistryError> {
        let c = &self.client;
        let url = c.url(&format!("/v2/{}/blobs/uploads/", self.name));
        let resp = c.send("POST", &url, &self.name, what, &[("Content-Length", "0")], Body::Empty)?;
        if resp.status() != 202 {
            return Err(c.status_error(&self.name, what, resp));
        }
        header(&resp, "location").ok_or_else(|| c.err(&self.name, what, "upload has no Location"))
    }

    fn with_digest(location: &str, digest: &OciDigest) -> String {
        let sep = if location.contains('?') { '&' } else { '?' };
        format!("{location}{sep}digest={digest}")
    }

    /// Uploads a small blob from memory (skipped when the registry has it).
    pub fn push_bytes(&self, bytes: &[u8]) -> Result<Descriptor, RegistryError> {
        let c = &self.client;
        let digest = OciDigest::of(bytes);
        let what = format!("blob {digest}");
        if !self.blob_exists(&digest)? {
            let loc = c.url(&self.start_upload(&what)?);
            let url = Self::with_digest(&loc, &digest);
            let headers = [("Content-Type", "application/octet-stream")];
            let resp = c.send("PUT", &url, &self.name, &what, &headers, Body::Bytes(bytes))?;
            if resp.status() != 201 {
                return Err(c.status_error(&self.name, &what, resp));
            }
        }
        Ok(Descriptor::new("application/octet-stream", &digest, bytes.len() as u64))
    }

    /// Streams a blob of unknown digest to the registry (chunked `PATCH`, then `PUT` with
    /// the digest computed on the way), reading the source once.
    pub fn push_stream(
        &self,
        source: &mut (dyn Read + Send),
        what: &str,
    ) -> Result<(OciDigest, u64), RegistryError> {
        let c = &self.client;
        let loc = c.url(&self.start_upload(what)?);
        let (mut hasher, mut size) = (sha2::Sha256::new(), 0u64);
        let headers = [("Content-Type", "application/octet-stream")];
        let mut hashing = Tap::new(source, |b: &[u8]| {
            hasher.update(b);
            size += b.len() as u64;
        });
        let resp = c.send("PATCH", &loc, &self.name, what, &headers, Body::Reader(&mut hashing))?;
        if resp.status() != 202 {
            return Err(c.status_error(&self.name, what, resp));
        }
        let loc = c.url(
            &header(&resp, "location").ok_or_else(|| c.err(&self.name, what, "upload has no Location"))?,
        );
        let digest = OciDigest::from_sha256(&hasher.finalize());
        let resp = c.send(
            "PUT",
            &Self::with_digest(&loc, &digest),
            &self.name,
            what,
            &[("Content-Length", "0")],
            Body::Empty,
        )?;
        if resp.status() != 201 {
            return Err(c.status_error(&self.name, what, resp));
        }
        Ok((digest, size))
    }

    /// Pushes a manifest under a tag or its digest; returns whether the registry answered
    /// with `OCI-Subject` (it indexes referrers itself).
    pub fn push_manifest(
        &self,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<bool, RegistryError> {
        let c = &self.client;
        let what = format!("manifest {reference}");
        let url = c.url(&format!("/v2/{}/manifests/{reference}", self.name));
        let resp =
            c.send("PUT", &url, &self.name, &what, &[("Content-Type", media_type)], Body::Bytes(bytes))?;
        if resp.status() != 201 {
            return Err(c.status_error(&self.name, &what, resp));
        }
        Ok(header(&resp, "oci-subject").is_some())
    }

    /// The fallback tag for referrers of a digest (`sha256-<hex>`).
    pub fn fallback_tag(subject: &OciDigest) -> String {
        format!("sha256-{}", subject.hex())
    }

    /// Lists referrers of `subject`: the referrers API when the registry has it, else the
    /// `sha256-<hex>` tag schema. Returns the descriptors and whether the API answered.
    pub fn referrers(&self, subject: &OciDigest) -> Result<(Vec<Descriptor>, bool), RegistryError> {
        let c = &self.client;
        let what = format!("referrers of {subject}");
        let url = c.url(&format!("/v2/{}/referrers/{subject}", self.name));
        let resp = c.send("GET", &url, &self.name, &what, &[("Accept", MEDIA_TYPE_INDEX)], Body::Empty)?;
        let is_index = header(&resp, "content-type").is_some_and(|t| t.starts_with(MEDIA_TYPE_INDEX));
        if resp.status() == 200 && is_index {
            let bytes = c.read_metadata(resp, &self.name, &what)?;
            let index =
                ImageIndex::from_json(&bytes, &what).map_err(|e| c.err(&self.name, &what, e.to_string()))?;
            return Ok((index.manifests, true));
        }
        if resp.status().is_success() {
            // Some registries answer 200 with something else: treat as no API.
            let _ = resp.into_body().into_reader().read_to_end(&mut Vec::new());
        } else if ![404, 400, 405].contains(&resp.status().as_u16()) {
            return Err(c.status_error(&self.name, &what, resp));
        }
        Ok((self.fallback_index(subject)?.map(|i| i.manifests).unwrap_or_default(), false))
    }

    fn fallback_index(&self, subject: &OciDigest) -> Result<Option<ImageIndex>, RegistryError> {
        let tag = Self::fallback_tag(subject);
        match self.fetch_manifest(&tag)? {
            None => Ok(None),
            Some(m) => ImageIndex::from_json(&m.bytes, &tag)
                .map(Some)
                .map_err(|e| self.client.err(&self.name, &tag, e.to_string())),
        }
    }

    /// Adds a referrer to the `sha256-<hex>` fallback index: keeps everyone else's entries,
    /// and re-reads after writing so that a concurrent writer's update does not lose ours.
    pub fn add_to_fallback(&self, subject: &OciDigest, referrer: &Descriptor) -> Result<(), RegistryError> {
        let tag = Self::fallback_tag(subject);
        for _ in 0..5 {
            let mut index = self.fallback_index(subject)?.unwrap_or_default();
            if index.manifests.iter().any(|d| d.digest_str == referrer.digest_str) {
                return Ok(());
            }
            index.manifests.push(referrer.clone());
            let bytes = crate::io::to_json(&index, "referrers fallback index")
                .map_err(|e| self.client.err(&self.name, "fallback index", e.to_string()))?;
            self.push_manifest(&tag, &bytes, MEDIA_TYPE_INDEX)?;
            if self
                .fallback_index(subject)?
                .is_some_and(|i| i.manifests.iter().any(|d| d.digest_str == referrer.digest_str))
            {
                return Ok(());
            }
        }
        Err(self.client.err(&self.name, &tag, "another writer keeps replacing the referrers index"))
    }

    /// Pushes a referrer manifest (by digest) and makes it discoverable: by the registry
    /// itself (`OCI-Subject`) or through the fallback index.
    pub fn push_referrer(
        &self,
        manifest: &[u8],
        subject: &OciDigest,
        artifact_type: &str,
    ) -> Result<Descriptor, RegistryError> {
        let digest = OciDigest::of(manifest);
        let indexed = self.push_manifest(&digest.to_string(), manifest, MEDIA_TYPE_MANIFEST)?;
        let mut desc = Descriptor::new(MEDIA_TYPE_MANIFEST, &digest, manifest.len() as u64);
        desc.artifact_type = Some(artifact_type.to_owned());
        if let Ok(m) = serde_json::from_slice::<crate::oci::ImageManifest>(manifest) {
            desc.annotations = m.annotations;
        }
        if !indexed {
            self.add_to_fallback(subject, &desc)?;
        }
        Ok(desc)
    }
}

impl BlobStore for Repo {
    fn open_blob(&self, desc: &Descriptor, what: &str) -> Result<Box<dyn Read + Send + '_>, OciError> {
        Ok(Box::new(self.blob_reader(desc, what)?))
    }
}
