//! Mutual-TLS configurations for nodes: a client certificate is required
//! both ways, chains are verified against the federation root only (never
//! the system's roots), the CRL is honoured and can be replaced while the
//! process runs, and the verified peer's node id is handed back.
//!
//! A CRL reaches rustls only after [`crate::crl::verify`] and, when it
//! replaces another, [`VerifiedCrl::succeeds`]: a CRL from another CA would
//! otherwise make every peer's revocation status unknown and cut the node off.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};

use crate::crl::{self, CrlError, Succession, VerifiedCrl};
use crate::error::CaError;
use crate::identity::{self, dns_name};

/// The crypto provider every node uses (ring: no C toolchain beyond cc).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS name to dial a node by.
pub fn server_name(node_id: &str) -> Result<ServerName<'static>, CaError> {
    crate::node_id::validate(node_id)?;
    ServerName::try_from(dns_name(node_id)).map_err(|e| CaError::Unusable(e.to_string()))
}

/// A node's own certificate chain and key.
pub struct NodeIdentity {
    pub node_id: String,
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl NodeIdentity {
    /// A 32-byte secret for one `purpose`, derived from this node's private
    /// key: stable across restarts of the node, unknown to anyone without
    /// the key, and different for every purpose.
    pub fn derived_secret(&self, purpose: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::new()
            .chain_update(b"renkei-derived-secret\0")
            .chain_update(purpose.as_bytes())
            .chain_update(b"\0")
            .chain_update(self.key.secret_der())
            .finalize()
            .into()
    }
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// From PEM text; checks the certificate names one node and the key is its key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CaError> {
        let cert = identity::parse_cert_pem(cert_pem.as_bytes(), "the node certificate")?;
        let info = identity::inspect(&cert)?;
        if info.is_ca {
            return Err(CaError::Unusable(
                "a CA certificate cannot be a node identity".into(),
            ));
        }
        identity::check_key_matches(&info, key_pem)?;
        let key = identity::parse_key_pem(key_pem.as_bytes(), "the node key")?;
        Ok(Self {
            node_id: info.node_id,
            chain: vec![cert],
            key,
        })
    }

    /// From the files `renkei ca issue` writes; the key file must be private.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, CaError> {
        let cert = std::fs::read_to_string(cert_path).map_err(CaError::io(cert_path))?;
        let key = crate::keyfile::read_private(key_path)?;
        let key = String::from_utf8(key).map_err(|_| CaError::CorruptPem {
            what: "the node key".into(),
            detail: "not text".into(),
        })?;
        Self::from_pem(&cert, &key)
    }
}

struct Verifiers {
    client: Arc<dyn ClientCertVerifier>,
    server: Arc<dyn ServerCertVerifier>,
    /// The CRL these verifiers honour (none only for offline checks).
    crl: Option<VerifiedCrl>,
}

/// The federation root and the current CRL. Shared by a node's server and
/// client configs; [`Trust::set_crls`] takes effect on the next handshake.
pub struct Trust {
    root: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
    hints: Vec<DistinguishedName>,
    current: RwLock<Arc<Verifiers>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust").finish_non_exhaustive()
    }
}

/// Verifies the CRLs offered: none, or exactly one from the federation root.
fn verify_crls(
    root: &CertificateDer<'static>,
    crl_pems: &[Vec<u8>],
) -> Result<Option<VerifiedCrl>, CaError> {
    match crl_pems {
        [] => Ok(None),
        [pem] => Ok(Some(crl::verify(root, pem)?)),
        more => Err(CrlError::NotOne(more.len()).into()),
    }
}

fn build(
    root: &CertificateDer<'static>,
    crl: Option<VerifiedCrl>,
    provider: &Arc<CryptoProvider>,
) -> Result<Verifiers, CaError> {
    let crls: Vec<CertificateRevocationListDer<'static>> =
        crl.iter().map(|c| c.der().clone()).collect();
    let mut roots = RootCertStore::empty();
    roots
        .add(root.clone())
        .map_err(|e| CaError::Unusable(format!("the federation root: {e}")))?;
    let roots = Arc::new(roots);
    // Revocation expiration is deliberately not enforced: a CRL past its
    // next update stays in force and the node raises an alarm instead of
    // refusing every peer (see the `crl` module for why).
    let client = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .with_crls(crls.clone())
        .build()
        .map_err(|e| CaError::Crl(e.to_string()))?;
    let server = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .with_crls(crls)
        .build()
        .map_err(|e| CaError::Crl(e.to_string()))?;
    Ok(Verifiers {
        client,
        server,
        crl,
    })
}

/// A refusal carried through rustls, which prints it with `Debug`: so the
/// `Debug` form is the readable message.
struct PeerRefused(String);

impl std::fmt::Debug for PeerRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for PeerRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerRefused {}

fn other(error: CaError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(PeerRefused(
        error.to_string(),
    )))))
}

impl Trust {
    /// Trusts `root_pem` only, with the federation's CRL (PEM), which must
    /// verify against that root. No CRL at all is for offline checks only.
    pub fn new(root_pem: &[u8], crl_pems: &[Vec<u8>]) -> Result<Arc<Self>, CaError> {
        let root = identity::parse_cert_pem(root_pem, "the federation root certificate")?;
        if !identity::inspect(&root)?.is_ca {
            return Err(CaError::Unusable(
                "the federation root is not a CA certificate".into(),
            ));
        }
        let provider = provider();
        let verifiers = build(&root, verify_crls(&root, crl_pems)?, &provider)?;
        let hints = verifiers.client.root_hint_subjects().to_vec();
        Ok(Arc::new(Self {
            root,
            provider,
            hints,
            current: RwLock::new(Arc::new(verifiers)),
        }))
    }

    /// Replaces the CRL with a newer one from the federation root. Nothing
    /// changes unless it verifies and succeeds the installed CRL; the same
    /// CRL again is [`Succession::Same`] and changes nothing either.
    pub fn set_crls(&self, crl_pems: &[Vec<u8>]) -> Result<Succession, CaError> {
        let offered = verify_crls(&self.root, crl_pems)?;
        // The write lock is held from the comparison to the swap, so two
        // reloads at once cannot both pass the check against the same CRL.
        let mut current = self.current.write().expect("trust lock");
        let succession = match (&offered, &current.crl) {
            (Some(offered), Some(installed)) => offered.succeeds(installed)?,
            (Some(_), None) => Succession::Newer,
            (None, None) => Succession::Same,
            (None, Some(_)) => {
                return Err(CaError::Crl(
                    "the installed CRL can only be replaced by a newer one, not removed".into(),
                ));
            }
        };
        if succession == Succession::Newer {
            *current = Arc::new(build(&self.root, offered, &self.provider)?);
        }
        Ok(succession)
    }

    /// Checks a CRL (PEM) against this federation's root without installing it.
    pub fn verify_crl(&self, crl_pem: &[u8]) -> Result<VerifiedCrl, CaError> {
        Ok(crl::verify(&self.root, crl_pem)?)
    }

    /// The CRL in force, if any.
    pub fn installed_crl(&self) -> Option<VerifiedCrl> {
        self.verifiers().crl.clone()
    }

    fn verifiers(&self) -> Arc<Verifiers> {
        self.current.read().expect("trust lock").clone()
    }

    /// Verifies a node certificate now, as a peer would: chain to the root,
    /// validity window, revocation, and the node SAN. Returns its node id.
    pub fn verify(&self, cert: &CertificateDer<'_>) -> Result<String, CaError> {
        let info = identity::inspect(cert)?;
        self.verifiers()
            .client
            .verify_client_cert(cert, &[], UnixTime::now())
            .map_err(|e| crate::error::from_rustls(e, &info.serial))?;
        Ok(info.node_id)
    }

    pub fn client_verifier(self: &Arc<Self>) -> Arc<dyn ClientCertVerifier> {
        Arc::new(NodeClientVerifier(self.clone()))
    }

    pub fn server_verifier(self: &Arc<Self>) -> Arc<dyn ServerCertVerifier> {
        Arc::new(NodeServerVerifier(self.clone()))
    }

    /// A server config that requires a client certificate from the federation.
    pub fn server_config(
        self: &Arc<Self>,
        identity: &NodeIdentity,
        alpn: &[&[u8]],
    ) -> Result<ServerConfig, CaError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(self.client_verifier())
            .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
        // No session resumption: a resumed session skips the client
        // certificate check, which would let a revoked peer back in.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// A client config that presents this node's certificate and accepts only
    /// federation servers.
    pub fn client_config(
        self: &Arc<Self>,
        identity: &NodeIdentity,
        alpn: &[&[u8]],
    ) -> Result<ClientConfig, CaError> {
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(self.server_verifier())
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())?;
        // Every connection proves its certificates afresh (see server_config).
        config.resumption = rustls::client::Resumption::disabled();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

/// Checks a client (dialling) node: webpki for chain, time and CRL, then
/// the node SAN.
#[derive(Debug)]
struct NodeClientVerifier(Arc<Trust>);

impl ClientCertVerifier for NodeClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.0.hints
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0
            .verifiers()
            .client
            .verify_client_cert(end_entity, intermediates, now)?;
        identity::inspect(end_entity).map_err(other)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Checks the server a node dialled: webpki for chain, time, CRL and the
/// node's DNS name, then the node SAN.
#[derive(Debug)]
struct NodeServerVerifier(Arc<Trust>);

impl ServerCertVerifier for NodeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0.verifiers().server.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp,
            now,
        )?;
        identity::inspect(end_entity).map_err(other)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
