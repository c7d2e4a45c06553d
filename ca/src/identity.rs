//! Reading node certificates: which node a certificate names, and whether a
//! key belongs to it.

use data_encoding::HEXLOWER;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::extensions::GeneralName;

use crate::error::CaError;
use crate::node_id::{self, URI_PREFIX};

/// The DNS name space for node identities. `.invalid` is reserved and never
/// resolves, so these names cannot collide with real hosts.
pub const DNS_SUFFIX: &str = "node.renkei.invalid";

/// The DNS SAN that goes with a node id.
pub fn dns_name(node_id: &str) -> String {
    format!("{node_id}.{DNS_SUFFIX}")
}

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub node_id: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    pub public_key: Vec<u8>,
    pub is_ca: bool,
}

pub fn parse_cert_pem(pem: &[u8], what: &str) -> Result<CertificateDer<'static>, CaError> {
    CertificateDer::from_pem_slice(pem).map_err(|e| CaError::CorruptPem {
        what: what.into(),
        detail: e.to_string(),
    })
}

pub fn parse_key_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, CaError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| CaError::CorruptPem {
        what: what.into(),
        detail: e.to_string(),
    })
}

/// Parses a certificate and finds the one node it names.
pub fn inspect(der: &CertificateDer<'_>) -> Result<CertInfo, CaError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| CaError::CorruptPem {
        what: "the certificate".into(),
        detail: e.to_string(),
    })?;
    let is_ca = cert.is_ca();
    let names: Vec<GeneralName<'_>> = cert
        .subject_alternative_name()
        .map_err(|e| CaError::Unusable(format!("bad subject alternative names: {e}")))?
        .map(|san| san.value.general_names.clone())
        .unwrap_or_default();
    let node_uris: Vec<&str> = names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(uri) if uri.starts_with(URI_PREFIX) => Some(*uri),
            _ => None,
        })
        .collect();
    let node_id = match node_uris.as_slice() {
        [] if is_ca => String::new(),
        [] => return Err(CaError::NoNodeSan),
        [uri] => {
            let id = &uri[URI_PREFIX.len()..];
            node_id::validate(id)?;
            id.to_string()
        }
        several => return Err(CaError::SeveralNodeSans(several.len())),
    };
    // Any DNS name must be this node's: a certificate cannot speak for two.
    for name in &names {
        if let GeneralName::DNSName(dns) = name
            && *dns != dns_name(&node_id)
        {
            return Err(CaError::WrongNode {
                expected: dns_name(&node_id),
                found: dns.to_string(),
            });
        }
    }
    Ok(CertInfo {
        node_id,
        serial: HEXLOWER.encode(cert.raw_serial()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        public_key: cert.public_key().subject_public_key.data.to_vec(),
        is_ca,
    })
}

/// The node named by a verified peer certificate chain.
pub fn peer_node_id(chain: &[CertificateDer<'_>]) -> Result<String, CaError> {
    let end_entity = chain.first().ok_or(CaError::NoNodeSan)?;
    Ok(inspect(end_entity)?.node_id)
}

/// Whether `key_pem` is the private key of the certificate.
pub fn check_key_matches(info: &CertInfo, key_pem: &str) -> Result<(), CaError> {
    let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| CaError::CorruptPem {
        what: "the private key".into(),
        detail: e.to_string(),
    })?;
    if key.public_key_raw() == info.public_key.as_slice() {
        Ok(())
    } else {
        Err(CaError::KeyMismatch)
    }
}
