//! The federation's certificate authority: node identities as X.509
//! certificates, revocation lists, and the mutual-TLS configurations that
//! nodes use to talk to each other.
//!
//! **Invariant:** a node's identity is the one `urn:renkei:node:<id>` URI SAN
//! of a certificate that chains to the federation root; nothing else (no
//! system roots, no name the peer claims in a message) establishes who a
//! peer is.

pub mod authority;
pub mod crl;
pub mod error;
pub mod identity;
pub mod keyfile;
pub mod node_id;
pub mod tls;

pub use authority::{Authority, CertStatus, IssuedCert, RevokeTarget};
pub use crl::{CrlError, Succession, VerifiedCrl};
pub use error::CaError;
pub use tls::{NodeIdentity, Trust};
