//! What can go wrong with certificates, keys and the CA's files. Each
//! variant says which check failed, so an operator knows what to fix.

use std::path::PathBuf;

use crate::node_id::NodeIdError;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} is not valid PEM ({detail})")]
    CorruptPem { what: String, detail: String },
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    #[error("the certificate was not issued by this federation's CA")]
    ForeignCa,
    #[error("the certificate expired at {0}")]
    Expired(String),
    #[error("the certificate is not valid until {0}")]
    NotYetValid(String),
    #[error("the certificate (serial {0}) has been revoked")]
    Revoked(String),
    #[error("the certificate names no node (it needs one URI SAN urn:renkei:node:<id>)")]
    NoNodeSan,
    #[error("the certificate names {0} nodes; it must name exactly one")]
    SeveralNodeSans(usize),
    #[error("the certificate's node id is invalid: {0}")]
    BadNodeId(#[from] NodeIdError),
    #[error("the certificate is not for node `{expected}` but for `{found}`")]
    WrongNode { expected: String, found: String },
    #[error("the certificate is not usable by a node: {0}")]
    Unusable(String),
    #[error("{path} can be read by other users (mode {mode:o}); run `chmod 600` on it")]
    KeyReadableByOthers { path: PathBuf, mode: u32 },
    #[error("the passphrase does not decrypt the CA key")]
    WrongPassphrase,
    #[error("the CA key is encrypted: give --passphrase-file")]
    PassphraseNeeded,
    #[error("{0} already exists; refusing to overwrite it")]
    AlreadyExists(PathBuf),
    #[error("no CA in {0} (run `renkei ca init` first)")]
    NoCa(PathBuf),
    #[error("no certificate matches {0}")]
    NotInInventory(String),
    #[error("validity of {0} days is out of range (1 to 397)")]
    BadValidity(u32),
    #[error("the CA inventory is damaged: {0}")]
    Inventory(String),
    #[error("the CRL could not be used: {0}")]
    Crl(String),
    #[error("the CRL was refused: {0}")]
    CrlRefused(#[from] crate::crl::CrlError),
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
}

impl CaError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CaError {
        let path = path.into();
        move |source| CaError::Io { path, source }
    }
}

/// Maps a rustls verification failure to the check that failed.
pub(crate) fn from_rustls(error: rustls::Error, serial: &str) -> CaError {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(e) => match e {
            C::Expired | C::ExpiredContext { .. } => CaError::Expired(describe(&e)),
            C::NotValidYet | C::NotValidYetContext { .. } => CaError::NotYetValid(describe(&e)),
            C::Revoked => CaError::Revoked(serial.to_string()),
            C::UnknownIssuer | C::BadSignature => CaError::ForeignCa,
            C::BadEncoding => CaError::CorruptPem {
                what: "the certificate".into(),
                detail: "bad DER".into(),
            },
            C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
                CaError::Crl("the CRL is past its next-update time; publish a new one".into())
            }
            C::UnknownRevocationStatus => CaError::Crl("no CRL covers this certificate".into()),
            other => CaError::Unusable(format!("{other:?}")),
        },
        other => CaError::Tls(other),
    }
}

fn describe(e: &rustls::CertificateError) -> String {
    match e {
        rustls::CertificateError::ExpiredContext { not_after, .. } => {
            format!("unix time {}", not_after.as_secs())
        }
        rustls::CertificateError::NotValidYetContext { not_before, .. } => {
            format!("unix time {}", not_before.as_secs())
        }
        _ => "a time outside its validity".into(),
    }
}
