//! Results of sign and verify operations, printed as human text or JSON (`--output json`).
//!
//! A verify report says "verified" only when the signature verified and every signed
//! resource matched with nothing extra; otherwise it lists every mismatching, missing and
//! extra file, or the reason the signature was rejected.

use crate::crypto::signature::Signer;
use crate::errors::{EXIT_VERIFY_FAILED, Error};
use crate::formats::manifest::{Comparison, Mismatch};
use serde::Serialize;
use std::time::Instant;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum OutputFormat {
    /// Human text.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// What `sign` did.
#[derive(Debug, Clone, Serialize)]
pub struct SignReport {
    /// The model reference.
    pub model: String,
    /// Where the signature was written.
    pub signature: String,
    /// Number of signed resources.
    pub resources: usize,
    /// Statement subject digest.
    pub root_digest: String,
    /// Bytes hashed.
    pub bytes_hashed: u64,
    /// For a model in a container image: the directory that holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_root: Option<String>,
    /// Wall time.
    pub seconds: f64,
}

impl SignReport {
    /// Renders the report.
    pub fn render(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Json => json_line(&serde_json::json!({ "signed": true, "report": self })),
            OutputFormat::Text => format!(
                "Signing succeeded: {} resources of {}{} ({}) -> {}\n",
                self.resources,
                self.model,
                self.model_root.as_ref().map(|r| format!(" (model root {r})")).unwrap_or_default(),
                human_bytes(self.bytes_hashed),
                self.signature
            ),
        }
    }
}

/// Per-file outcome.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    /// Resource name.
    pub name: String,
    /// `ok`, `mismatch`, `missing` or `extra`.
    pub status: &'static str,
    /// Signed digest (`algorithm:hex`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Computed digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// True only when every check passed.
    pub verified: bool,
    /// The model reference.
    pub model: String,
    /// The signature file.
    pub signature: String,
    /// Why verification failed, when it did before comparing files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The verified signer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    /// The statement's predicate type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// The signed serialization parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serialization: Option<serde_json::Value>,
    /// Every resource's outcome.
    pub files: Vec<FileResult>,
    /// Counts of each outcome.
    pub summary: Summary,
    /// Bytes hashed.
    pub bytes_hashed: u64,
    /// For a model in a container image: the directory that holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_root: Option<String>,
    /// For registry sources: the manifest digest the tag resolved to (everything after was
    /// fetched by digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// For registry sources: bytes downloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_transferred: Option<u64>,
    /// Bytes this process read through `read(2)` (Linux `/proc/self/io` rchar), measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_read_bytes: Option<u64>,
    /// Wall time.
    pub seconds: f64,
    /// What was accepted only because the user said so (e.g. no transparency log entry under
    /// `--insecure-ignore-tlog`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Bytes read by this process so far through read system calls (Linux only).
pub fn io_read_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines().find_map(|l| l.strip_prefix("rchar:")).and_then(|v| v.trim().parse().ok())
}

/// Outcome counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Matching resources.
    pub ok: usize,
    /// Digest mismatches.
    pub mismatch: usize,
    /// Signed but absent.
    pub missing: usize,
    /// Present but not signed.
    pub extra: usize,
}

impl VerifyReport {
    /// An empty, not-yet-verified report.
    pub fn new(model: String, signature: String) -> Self {
        Self {
            verified: false,
            model,
            signature,
            error: None,
            signer: None,
            predicate_type: None,
            serialization: None,
            files: Vec::new(),
            summary: Summary::default(),
            bytes_hashed: 0,
            model_root: None,
            subject: None,
            bytes_transferred: None,
            io_read_bytes: None,
            seconds: 0.0,
            warnings: Vec::new(),
        }
    }

    /// Marks the report failed with a reason.
    pub fn failed(mut self, error: String, started: Instant) -> Self {
        self.verified = false;
        self.error = Some(error);
        self.seconds = started.elapsed().as_secs_f64();
        self
    }

    /// Fills in the file comparison; verified iff everything matched.
    pub fn with_comparison(mut self, c: Comparison, started: Instant) -> Self {
        self.summary = Summary {
            ok: c.matched.len(),
            mismatch: c.mismatched.len(),
            missing: c.missing.len(),
            extra: c.extra.len(),
        };
        self.verified = self.error.is_none() && c.is_match();
        for (name, digest) in c.matched {
            self.files.push(FileResult {
                name,
                status: "ok",
                expected: Some(digest.clone()),
                actual: Some(digest),
            });
        }
        for Mismatch { name, expected, actual } in c.mismatched {
            self.files.push(FileResult {
                name,
                status: "mismatch",
                expected: Some(expected),
                actual: Some(actual),
            });
        }
        for name in c.missing {
            self.files.push(FileResult { name, status: "missing", expected: None, actual: None });
        }
        for name in c.extra {
            self.files.push(FileResult { name, status: "extra", expected: None, actual: None });
        }
        self.seconds = started.elapsed().as_secs_f64();
        self.io_read_bytes = io_read_bytes();
        self
    }

    /// Process exit code: 0 verified, 1 not.
    pub fn exit_code(&self) -> i32 {
        if self.verified { 0 } else { EXIT_VERIFY_FAILED }
    }

    /// Renders the report.
    pub fn render(&self, format: OutputFormat) -> String {
        if format == OutputFormat::Json {
            return json_line(self);
        }
        let mut s = String::new();
        if let Some(e) = &self.error {
            s.push_str(&format!("Verification failed: {e}\n"));
            return s;
        }
        if self.verified {
            s.push_str(&format!(
                "Verification succeeded: {} resources of {}{} match the signature",
                self.summary.ok,
                self.model,
                self.model_root.as_ref().map(|r| format!(" (model root {r})")).unwrap_or_default()
            ));
            if let Some(signer) = &self.signer {
                s.push_str(&format!(" by {signer}"));
            }
            s.push('\n');
            for w in &self.warnings {
                s.push_str(&format!("warning: {w}\n"));
            }
            return s;
        }
        s.push_str(&format!(
            "Verification failed: {} does not match {} ({} mismatched, {} missing, {} extra)\n",
            self.model, self.signature, self.summary.mismatch, self.summary.missing, self.summary.extra
        ));
        for f in self.files.iter().filter(|f| f.status != "ok") {
            match f.status {
                "mismatch" => s.push_str(&format!(
                    "  mismatch  {}: expected {}, found {}\n",
                    f.name,
                    f.expected.as_deref().unwrap_or("?"),
                    f.actual.as_deref().unwrap_or("?")
                )),
                "missing" => s.push_str(&format!("  missing   {}: signed but not present\n", f.name)),
                _ => s.push_str(&format!("  extra     {}: present but not signed\n", f.name)),
            }
        }
        s
    }
}

/// Renders an error for `--output json` or text.
pub fn render_error(e: &Error, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => json_line(&serde_json::json!({ "verified": false, "error": e.to_string() })),
        OutputFormat::Text => format!("error: {e}\n"),
    }
}

fn json_line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// `1.5 GiB` style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}
