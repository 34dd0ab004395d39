//! Error types of the `modelsig-common` library.
//!
//! One enum per area, each naming what it failed on (file, field, key, certificate), so a
//! caller can print it as is. [`Error`] wraps them for the high-level entry points and maps
//! every failure to the exit code contract shared by the binaries: `1` when something that
//! was checked did not verify, `2` for bad usage or unreadable input.

use std::path::PathBuf;

/// Exit code for "a verification check failed".
pub const EXIT_VERIFY_FAILED: i32 = 1;
/// Exit code for "bad usage or unreadable input".
pub const EXIT_USAGE: i32 = 2;

/// A wire format could not be parsed or is not one we accept.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The document is not valid JSON of the expected shape.
    #[error("{what}: malformed JSON: {source}")]
    Json {
        /// Which document.
        what: String,
        /// The parser's message.
        #[source]
        source: serde_json::Error,
    },
    /// A field is missing or has a value we do not accept.
    #[error("{what}: field `{field}`: {problem}")]
    Field {
        /// Which document.
        what: String,
        /// The JSON path of the field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A base64 field does not decode.
    #[error("{what}: field `{field}` is not valid base64")]
    Base64 {
        /// Which document.
        what: String,
        /// The field.
        field: String,
    },
    /// A value could not be encoded as JSON.
    #[error("{what}: cannot encode as JSON: {source}")]
    Encode {
        /// Which document.
        what: String,
        /// The encoder's message.
        #[source]
        source: serde_json::Error,
    },
    /// A hash algorithm we do not implement.
    #[error("unsupported hash algorithm `{0}` (supported: sha256, blake2b, blake3)")]
    HashAlgorithm(String),
}

impl FormatError {
    /// Shorthand for [`FormatError::Field`].
    pub fn field(what: &str, field: &str, problem: impl Into<String>) -> Self {
        Self::Field { what: what.to_owned(), field: field.to_owned(), problem: problem.into() }
    }
}

/// Reading or hashing the model's files failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An I/O error on a named path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A symbolic link where links are not allowed.
    #[error("{}: is a symbolic link; pass --allow_symlinks to follow links", .0.display())]
    Symlink(PathBuf),
    /// Neither a regular file nor a directory (socket, fifo, device, broken link).
    #[error("{}: not a regular file or directory (special file, broken link or no permission)", .0.display())]
    SpecialFile(PathBuf),
    /// A file name that is not valid UTF-8 cannot be named in a manifest.
    #[error("{}: file name is not valid UTF-8", .0.display())]
    NonUtf8Name(PathBuf),
    /// A model reference form that this build cannot open.
    #[error("{reference}: {reason}")]
    Unsupported {
        /// The reference as given.
        reference: String,
        /// Why it cannot be opened.
        reason: String,
    },
    /// A packaged model (OCI layout, ModelKit) could not be read or does not check out.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// A model in a registry could not be read.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The model changed while it was being hashed.
    #[error("{}: file changed size while being hashed (expected {expected} bytes, read {read})", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// The size seen when listing.
        expected: u64,
        /// The bytes actually read.
        read: u64,
    },
}

impl From<CertError> for SignatureError {
    fn from(e: CertError) -> Self {
        Self::Chain(Box::new(e))
    }
}

impl From<CertError> for CertificateProblem {
    fn from(e: CertError) -> Self {
        Self::Unusable(Box::new(e))
    }
}

/// A signing certificate that may not sign this model.
#[derive(Debug, thiserror::Error)]
pub enum CertificateProblem {
    /// It does not parse, or its key cannot verify.
    #[error("{0}")]
    Unusable(#[source] Box<CertError>),
    /// Key usage lacks digitalSignature (keyless).
    #[error("key usage is not digitalSignature")]
    KeyUsage,
    /// Extended key usage lacks codeSigning (keyless).
    #[error("extended key usage does not include codeSigning")]
    ExtKeyUsage,
    /// Neither usage (model_signing's certificate rule).
    #[error("neither key usage digitalSignature nor extended key usage codeSigning")]
    CodeSigning,
    /// Another identity than the expected one.
    #[error("identity mismatch: expected `{expected}`, certificate has {found:?}")]
    Identity {
        /// Expected.
        expected: String,
        /// The certificate's SAN values.
        found: Vec<String>,
    },
    /// No OIDC issuer extension.
    #[error("no OIDC issuer extension")]
    NoIssuer,
    /// Another issuer than the expected one.
    #[error("OIDC issuer mismatch: expected `{expected}`, certificate has `{found}`")]
    Issuer {
        /// Expected.
        expected: String,
        /// The certificate's.
        found: String,
    },
}

/// Why a certificate or chain is refused.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Not DER X.509.
    #[error("not a DER X.509 certificate: {0}")]
    Der(#[source] der::Error),
    /// Not PEM certificates.
    #[error("bad PEM certificate: {0}")]
    Pem(#[source] der::Error),
    /// The public key is not one we verify with.
    #[error("certificate public key: {0}")]
    PublicKey(#[source] Box<crate::errors::KeyError>),
    /// An RSA algorithm with a non-RSA key.
    #[error("issuer key is not RSA: {0}")]
    RsaKey(#[source] rsa::pkcs8::spki::Error),
    /// A signature algorithm we do not verify.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(const_oid::ObjectIdentifier),
    /// RFC 5280 §4.1.1.2.
    #[error("signatureAlgorithm differs from the TBSCertificate's signature field")]
    AlgorithmMismatch,
    /// The signature does not verify (`ECDSA` or `RSA`).
    #[error("{0} signature does not verify")]
    BadSignature(&'static str),
    /// No trust anchors.
    #[error("no trusted certificates given")]
    NoAnchors,
    /// RFC 5280 §4.2: a critical extension we do not process.
    #[error("certificate `{subject}` has an unsupported critical extension {oid}")]
    CriticalExtension {
        /// The certificate.
        subject: String,
        /// The extension.
        oid: const_oid::ObjectIdentifier,
    },
    /// Outside the leaf's validity period.
    #[error("certificate `{subject}` is not valid at {at} (valid {from}..{to})")]
    NotValidAt {
        /// The certificate.
        subject: String,
        /// The time checked.
        at: String,
        /// notBefore.
        from: String,
        /// notAfter.
        to: String,
    },
    /// No candidate issuer.
    #[error("no issuer `{issuer}` of `{subject}` among the given certificates")]
    NoIssuer {
        /// The issuer name sought.
        issuer: String,
        /// The certificate.
        subject: String,
    },
    /// An issuer candidate whose key did not make the signature.
    #[error("`{subject}` is not signed by `{issuer}`: {source}")]
    NotSignedBy {
        /// The certificate.
        subject: String,
        /// The candidate.
        issuer: String,
        /// Why.
        #[source]
        source: Box<CertError>,
    },
    /// basicConstraints cA is not set.
    #[error("issuer `{0}` is not a CA (basicConstraints)")]
    NotCa(String),
    /// keyUsage lacks keyCertSign.
    #[error("issuer `{0}` may not sign certificates (keyUsage)")]
    NoCertSign(String),
    /// An issuer outside its validity period.
    #[error("issuer `{subject}` is not valid at {at}")]
    IssuerNotValidAt {
        /// The issuer.
        subject: String,
        /// The time checked.
        at: String,
    },
    /// RFC 5280 §4.2.1.9.
    #[error(
        "issuer `{issuer}` allows {allowed} intermediate CA(s) below it (pathLenConstraint) but the chain has {found}"
    )]
    PathLen {
        /// The CA.
        issuer: String,
        /// Its pathLenConstraint.
        allowed: u8,
        /// Intermediates below it.
        found: usize,
    },
    /// More than 8 links.
    #[error("certificate chain is too long")]
    TooLong,
    /// The raw TBSCertificate cannot be located.
    #[error("{what}: {source}")]
    Structure {
        /// Which element.
        what: &'static str,
        /// The DER reader's reason.
        #[source]
        source: der::Error,
    },
    /// An unreadable nameConstraints extension.
    #[error("issuer `{issuer}`: unreadable name constraints: {source}")]
    NameConstraintsDer {
        /// The CA.
        issuer: String,
        /// The DER reader's reason.
        #[source]
        source: der::Error,
    },
    /// RFC 5280 §4.2.1.10.
    #[error("certificate `{subject}`: {violation} (name constraints of `{issuer}`)")]
    NameConstraint {
        /// The constrained certificate.
        subject: String,
        /// The name and how it violates the constraints.
        violation: String,
        /// The CA.
        issuer: String,
    },
}

/// Why an RFC 3161 timestamp is refused.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    /// A digest algorithm we do not compute.
    #[error("unsupported digest algorithm {0}")]
    DigestAlgorithm(const_oid::ObjectIdentifier),
    /// A structure does not decode.
    #[error("bad {what}: {source}")]
    Der {
        /// Which structure.
        what: &'static str,
        /// The decoder's reason.
        #[source]
        source: der::Error,
    },
    /// A required part is absent.
    #[error("{0}")]
    Missing(&'static str),
    /// The TSA did not grant the request.
    #[error("timestamp response status is {0} (not granted)")]
    NotGranted(u8),
    /// The token is inconsistent (RFC 3161 / RFC 5652 rule named).
    #[error("{0}")]
    Invalid(&'static str),
    /// No trusted TSA signed it; one reason per candidate signer.
    #[error("{}", if .0.is_empty() { "no trusted timestamp authority signed this timestamp".to_owned() } else { .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ") })]
    Untrusted(Vec<TsaRejected>),
}

/// Why one candidate TSA certificate did not establish the time.
#[derive(Debug, thiserror::Error)]
pub enum TsaRejected {
    /// Its key cannot be encoded.
    #[error("TSA certificate: {0}")]
    Key(#[source] CertError),
    /// Its extended key usage lacks timeStamping.
    #[error("TSA certificate `{0}` lacks the timeStamping usage")]
    Usage(String),
    /// Its chain to the TSA root does not verify.
    #[error("{0}")]
    Chain(#[source] CertError),
}

/// Why a transparency log entry is refused.
#[derive(Debug, thiserror::Error)]
pub enum TlogError {
    /// The bundle holds another number of entries than one.
    #[error("expected exactly one transparency log entry, found {0}")]
    EntryCount(usize),
    /// The entry's log is not in the trusted root.
    #[error("log {0} is not in the trusted root")]
    UnknownLog(String),
    /// The log key was not valid at the entry's integrated time.
    #[error("log key {0} was not valid at the entry's integrated time")]
    KeyNotValid(String),
    /// An entry kind this verifier does not check.
    #[error("entry kind {kind}/{version} is not supported (expected dsse/0.0.1)")]
    Kind {
        /// Kind.
        kind: String,
        /// Version.
        version: String,
    },
    /// A log key type other than ECDSA.
    #[error("log key type {0} is not supported")]
    KeyType(String),
    /// The signed entry timestamp does not verify.
    #[error("signed entry timestamp: {0}")]
    Set(#[source] Box<TlogError>),
    /// A log signature does not verify.
    #[error("{0}")]
    Signature(#[source] CertError),
    /// The leaf index is outside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    OutsideTree {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The inclusion proof has the wrong number of hashes.
    #[error("inclusion proof has {got} hashes, expected {expected}")]
    ProofLength {
        /// Hashes given.
        got: usize,
        /// Hashes needed.
        expected: usize,
    },
    /// A checkpoint signature line names another signer than the log.
    #[error("checkpoint signature by `{found}`, expected `{expected}`")]
    CheckpointSigner {
        /// The signer named.
        found: String,
        /// The log (origin line).
        expected: String,
    },
    /// The checkpoint has no valid signature.
    #[error("checkpoint signature: {0}")]
    Checkpoint(#[source] Box<TlogError>),
    /// The entry body is not a dsse 0.0.1 body.
    #[error("entry body: {0}")]
    Body(#[source] serde_json::Error),
    /// A base64 field does not decode.
    #[error(transparent)]
    Format(#[from] crate::errors::FormatError),
    /// The entry does not match the bundle, or a proof part is missing or inconsistent.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Loading or using key material failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key or certificate file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold a key of a kind we accept.
    #[error("{what}: {problem}")]
    Invalid {
        /// Which key or file.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// An encrypted key and no (or a wrong) password.
    #[error("{what}: {problem}")]
    Password {
        /// Which key.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// A certificate file that does not hold usable certificates.
    #[error("{what}: {source}")]
    Certificate {
        /// The file.
        what: String,
        /// Why.
        #[source]
        source: Box<CertError>,
    },
}

impl KeyError {
    /// Shorthand for [`KeyError::Invalid`].
    pub fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid { what: what.into(), problem: problem.into() }
    }
}

/// The signature (bundle, envelope, certificate, transparency log entry) did not verify.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The bundle is malformed or of an unexpected kind.
    #[error("signature {0}")]
    Format(#[from] FormatError),
    /// The cryptographic signature over the DSSE PAE is wrong.
    #[error("DSSE signature does not verify with {0}")]
    BadSignature(String),
    /// The bundle names a different key than the one given.
    #[error("key mismatch: {0}")]
    KeyMismatch(String),
    /// The bundle lacks the verification material the chosen method needs.
    #[error("{0}")]
    Material(String),
    /// A certificate chain does not lead to a trusted root.
    #[error("certificate chain: {0}")]
    Chain(#[source] Box<CertError>),
    /// A certificate of the bundle does not parse.
    #[error("certificate chain: certificate {index}: {source}")]
    BundleCertificate {
        /// Its position in the bundle.
        index: usize,
        /// Why.
        #[source]
        source: Box<CertError>,
    },
    /// The Fulcio chain does not verify at a verified signing time.
    #[error("certificate chain: {source} (Fulcio, at verified signing time {at})")]
    FulcioChain {
        /// The verified time.
        at: String,
        /// Why.
        #[source]
        source: Box<CertError>,
    },
    /// The signing certificate is not allowed to sign, or names another identity.
    #[error("signing certificate: {0}")]
    Certificate(#[from] CertificateProblem),
    /// An RFC 3161 timestamp did not verify.
    #[error("signed timestamp rfc3161Timestamps[{index}]: {source}")]
    Timestamp {
        /// Which timestamp of the bundle.
        index: usize,
        /// Why.
        #[source]
        source: TimestampError,
    },
    /// Transparency log entry check failed.
    #[error("transparency log entry: {0}")]
    Tlog(#[from] TlogError),
    /// The signed statement is not a model_signing statement, or is inconsistent.
    #[error("signed statement: {0}")]
    Statement(String),
    /// Sigstore client-spec verification (sigstore-verify) refused the bundle.
    #[error("{0}")]
    Sigstore(#[source] Box<sigstore_verify::Error>),
}

/// Reading or writing OCI content (image layouts, blobs, packaged models) failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The layout (directory, `oci-layout`, `index.json`) is unusable.
    #[error("{}: {problem}", path.display())]
    Layout {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A blob is missing or unreadable.
    #[error("{what} ({digest}): {problem}")]
    Blob {
        /// Which blob (layer, config, manifest).
        what: String,
        /// Its digest.
        digest: String,
        /// What is wrong.
        problem: String,
    },
    /// Content does not match the digest that names it: tampering or corruption.
    #[error("{what}: content does not match its digest: expected {expected}, found {actual}")]
    DigestMismatch {
        /// Which blob.
        what: String,
        /// The digest in the descriptor.
        expected: String,
        /// What was read.
        actual: String,
    },
    /// Packaged content is inconsistent or unsafe (a diffId that does not match, a tar entry
    /// escaping the model, a file in two layers).
    /// A bound on the cost of reading hostile input was reached.
    #[error("{what}: {problem}")]
    Limit {
        /// The layer or blob.
        what: String,
        /// Which limit, and the flag that raises it.
        problem: String,
    },
    /// Content that is not what it must be (layer, entry, file named in `what`).
    #[error("{what}: {problem}")]
    Content {
        /// Which layer / entry / field.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// A manifest, index or config does not parse.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Another I/O error.
    #[error("{0}")]
    Io(std::io::Error),
}

impl OciError {
    /// Wraps this error in an `io::Error`, to pass through readers.
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, self)
    }

    /// Recovers an [`OciError`] passed through a reader, or wraps the I/O error.
    pub fn from_io(e: std::io::Error) -> Self {
        if e.get_ref().is_some_and(|i| i.is::<OciError>()) {
            if let Some(inner) = e.into_inner().and_then(|b| b.downcast::<OciError>().ok()) {
                return *inner;
            }
            return OciError::Io(std::io::Error::other("lost error"));
        }
        OciError::Io(e)
    }

    /// Is this a sign of tampered or corrupted content (rather than unusable input)?
    pub fn is_tampering(&self) -> bool {
        matches!(self, OciError::DigestMismatch { .. } | OciError::Content { .. } | OciError::Limit { .. })
    }
}

/// Talking to an OCI registry failed (after bounded retries where the request is safe to
/// repeat). Names the registry, the repository and what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A request failed.
    #[error("{registry}/{repository}: {what}: {problem}")]
    Request {
        /// Registry host.
        registry: String,
        /// Repository.
        repository: String,
        /// What was requested (manifest tag, blob digest, upload).
        what: String,
        /// The HTTP status or transport error.
        problem: String,
    },
    /// Authentication was refused or could not be obtained.
    #[error("{registry}: authentication: {problem}")]
    Auth {
        /// Registry host.
        registry: String,
        /// What went wrong.
        problem: String,
    },
    /// A reference that does not parse.
    #[error("bad reference `{reference}`: {problem}")]
    Reference {
        /// As given.
        reference: String,
        /// Why.
        problem: String,
    },
}

/// Writing an output file failed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct OutputError {
    /// The file being written.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

/// Any failure of a high-level operation (sign, verify, manifest).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// See [`FormatError`].
    #[error(transparent)]
    Format(#[from] FormatError),
    /// See [`SourceError`].
    #[error(transparent)]
    Source(#[from] SourceError),
    /// See [`KeyError`].
    #[error(transparent)]
    Key(#[from] KeyError),
    /// See [`SignatureError`].
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// See [`OutputError`].
    #[error(transparent)]
    Output(#[from] OutputError),
    /// See [`OciError`].
    #[error(transparent)]
    Oci(#[from] OciError),
    /// See [`RegistryError`].
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Bad combination of options.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Signature(_) => EXIT_VERIFY_FAILED,
            Error::Oci(e) | Error::Source(SourceError::Oci(e)) if e.is_tampering() => EXIT_VERIFY_FAILED,
            _ => EXIT_USAGE,
        }
    }
}
