//! Mutual TLS between two nodes on loopback with certificates from the
//! federation CA, and every way a peer can fail to prove who it is.

use std::sync::Arc;

use renkei_ca::authority::Issued;
use renkei_ca::tls::server_name;
use renkei_ca::{Authority, CaError, NodeIdentity, RevokeTarget, Trust};
use rustls::pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const ALPN: &[&[u8]] = &[b"renkei/1"];

struct Federation {
    _dir: tempfile::TempDir,
    ca: Authority,
}

fn federation() -> Federation {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::init(&dir.path().join("ca"), "Test federation", None).unwrap();
    Federation { _dir: dir, ca }
}

fn identity(issued: &Issued) -> NodeIdentity {
    NodeIdentity::from_pem(&issued.cert_pem, &issued.key_pem).unwrap()
}

/// What each side saw of a handshake: the peer's node id, or the error.
#[derive(Debug)]
struct Outcome {
    server: Result<String, String>,
    client: Result<String, String>,
}

/// One handshake over real TCP on loopback, then one round trip of bytes.
async fn handshake(
    server_id: &NodeIdentity,
    server_trust: &Arc<Trust>,
    client_config: rustls::ClientConfig,
    dial: &str,
) -> Outcome {
    let server_config = Arc::new(server_trust.server_config(server_id, ALPN).unwrap());
    handshake_with(server_config, Arc::new(client_config), dial).await
}

/// A handshake with configs the caller keeps, as a long-running node does.
async fn handshake_with(
    server_config: Arc<rustls::ServerConfig>,
    client_config: Arc<rustls::ClientConfig>,
    dial: &str,
) -> Outcome {
    let acceptor = TlsAcceptor::from(server_config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        match acceptor.accept(tcp).await {
            Ok(mut tls) => {
                let peer = renkei_ca::identity::peer_node_id(
                    tls.get_ref().1.peer_certificates().unwrap_or_default(),
                )
                .map_err(|e| e.to_string())?;
                let mut buf = [0u8; 4];
                tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
                tls.write_all(&buf).await.map_err(|e| e.to_string())?;
                tls.shutdown().await.ok();
                Ok(peer)
            }
            Err(e) => Err(e.to_string()),
        }
    });
    let connector = TlsConnector::from(client_config);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let client = async {
        let mut tls = connector
            .connect(server_name(dial).unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        if tls.get_ref().1.alpn_protocol() != Some(&b"renkei/1"[..]) {
            return Err("no ALPN agreed".to_string());
        }
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"ping");
        renkei_ca::identity::peer_node_id(tls.get_ref().1.peer_certificates().unwrap())
            .map_err(|e| e.to_string())
    }
    .await;
    Outcome {
        server: server.await.unwrap(),
        client,
    }
}

#[tokio::test]
async fn two_issued_nodes_complete_a_mutual_handshake() {
    let mut f = federation();
    let minato = f.ca.issue("hc-13103", 30).unwrap();
    let shinjuku = f.ca.issue("hc-13104", 30).unwrap();
    let crl = f.ca.crl_pem(7).unwrap().into_bytes();
    let trust = Trust::new(f.ca.root_pem().as_bytes(), &[crl]).unwrap();
    let client = trust.client_config(&identity(&shinjuku), ALPN).unwrap();
    let outcome = handshake(&identity(&minato), &trust, client, "hc-13103").await;
    assert_eq!(
        outcome.server,
        Ok("hc-13104".to_string()),
        "the server learns who dialled from the certificate"
    );
    assert_eq!(outcome.client, Ok("hc-13103".to_string()));
}

#[tokio::test]
async fn a_peer_with_no_certificate_is_refused() {
    let mut f = federation();
    let minato = f.ca.issue("hc-13103", 30).unwrap();
    let trust = Trust::new(f.ca.root_pem().as_bytes(), &[]).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(renkei_ca::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(trust.server_verifier())
        .with_no_client_auth();
    let outcome = handshake(&identity(&minato), &trust, client, "hc-13103").await;
    let err = outcome.server.unwrap_err();
    assert!(
        err.contains("peer sent no certificates")
            || err.contains("NoCertificatesPresented")
            || err.contains("certificate required"),
        "{err}"
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_both_ways() {
    let mut f = federation();
    let mut other = federation();
    let minato = f.ca.issue("hc-13103", 30).unwrap();
    let intruder = other.ca.issue("hc-13104", 30).unwrap();
    let trust = Trust::new(f.ca.root_pem().as_bytes(), &[]).unwrap();
    let intruder_trust = Trust::new(other.ca.root_pem().as_bytes(), &[]).unwrap();
    // The intruder dials us with its own CA's certificate.
    let client = intruder_trust
        .client_config(&identity(&intruder), ALPN)
        .unwrap();
    let outcome = handshake(&identity(&minato), &trust, client, "hc-13103").await;
    let err = outcome.server.unwrap_err();
    assert!(
        err.contains("UnknownIssuer")
            || err.contains("BadSignature")
            || err.contains("DecryptError"),
        "{err}"
    );
    // And a node that dials the intruder refuses it.
    let shinjuku = f.ca.issue("hc-13104", 30).unwrap();
    let client = trust.client_config(&identity(&shinjuku), ALPN).unwrap();
    let outcome = handshake(&identity(&intruder), &intruder_trust, client, "hc-13104").await;
    let err = outcome.client.unwrap_err();
    // Same CA name, other key: webpki finds the issuer by name and the signature fails.
    assert!(
        err.contains("UnknownIssuer") || err.contains("BadSignature"),
        "{err}"
    );
    assert_eq!(
        f.ca.verify(intruder.cert_pem.as_bytes())
            .unwrap_err()
            .to_string(),
        "the certificate was not issued by this federation's CA"
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_are_refused() {
    let mut f = federation();
    let minato = f.ca.issue("hc-13103", 30).unwrap();
    let now = OffsetDateTime::now_utc();
    let expired =
        f.ca.issue_with_validity(
            "hc-13104",
            now - Duration::days(40),
            now - Duration::days(10),
        )
        .unwrap();
    let future =
        f.ca.issue_with_validity(
            "hc-13112",
            now + Duration::days(10),
            now + Duration::days(40),
        )
        .unwrap();
    let trust = Trust::new(f.ca.root_pem().as_bytes(), &[]).unwrap();
    for (issued, expected) in [
        (&expired, "certificate expired"),
        (&future, "not valid yet"),
    ] {
        let client = trust.client_config(&identity(issued), ALPN).unwrap();
        let outcome = handshake(&identity(&minato), &trust, client, "hc-13103").await;
        let err = outcome.server.unwrap_err();
        assert!(err.contains(expected), "{err}");
    }
    assert!(matches!(
        f.ca.verify(expired.cert_pem.as_bytes()),
        Err(CaError::Expired(_))
    ));
    assert!(matches!(
        f.ca.verify(future.cert_pem.as_bytes()),
        Err(CaError::NotYetValid(_))
    ));
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_after_the_crl_is_reloaded_at_run_time() {
    let mut f = federation();
    let minato = f.ca.issue("hc-13103", 30).unwrap();
    let shinjuku = f.ca.issue("hc-13104", 30).unwrap();
    let crl = f.ca.crl_pem(7).unwrap().into_bytes();
    let trust = Trust::new(f.ca.root_pem().as_bytes(), &[crl]).unwrap();
    let server_identity = identity(&minato);
    // One server config and one client config throughout, as in a running
    // node: a session from an earlier handshake must not let the revoked
    // peer resume without its certificate being checked again.
    let server_config = Arc::new(trust.server_config(&server_identity, ALPN).unwrap());
    let client = Arc::new(trust.client_config(&identity(&shinjuku), ALPN).unwrap());
    for _ in 0..2 {
        let outcome = handshake_with(server_config.clone(), client.clone(), "hc-13103").await;
        assert!(outcome.server.is_ok());
    }

    f.ca.revoke(&RevokeTarget::Node("hc-13104".into())).unwrap();
    trust
        .set_crls(&[f.ca.crl_pem(7).unwrap().into_bytes()])
        .unwrap();
    // Same process, same configs: the next handshake sees the new CRL.
    let outcome = handshake_with(server_config, client, "hc-13103").await;
    let err = outcome.server.unwrap_err();
    assert!(err.contains("Revoked"), "{err}");
    assert!(matches!(
        f.ca.verify(shinjuku.cert_pem.as_bytes()),
        Err(CaError::Revoked(_))
    ));

    // A corrupt CRL changes nothing.
    assert!(trust.set_crls(&[b"not a crl".to_vec()]).is_err());
    let client = trust.client_config(&identity(&shinjuku), ALPN).unwrap();
    assert!(
        handshake(&server_identity, &trust, client, "hc-13103")
            .await
            .server
            .is_err(),
        "still revoked"
    );
}

#[tokio::test]
async fn a_dialler_refuses_a_server_that_is_not_the_node_it_dialled() {
    let mut f = federation();
    let minato = f.ca.issue("hc-13103", 30).unwrap();
    let shinjuku = f.ca.issue("hc-13104", 30).unwrap();
    let trust = Trust::new(f.ca.root_pem().as_bytes(), &[]).unwrap();
    let client = trust.client_config(&identity(&shinjuku), ALPN).unwrap();
    // We meant to reach Setagaya; Minato answered.
    let outcome = handshake(&identity(&minato), &trust, client, "hc-13112").await;
    assert!(
        outcome
            .client
            .unwrap_err()
            .contains("certificate not valid for name \"hc-13112.node.renkei.invalid\"")
    );
}

fn custom_cert(ca_dir: &std::path::Path, sans: Vec<rcgen::SanType>) -> (String, String) {
    // A certificate signed by the federation CA but with SANs of our choosing,
    // as a careless or hostile issuer might make.
    let ca_pem = std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join("ca.key")).unwrap()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, &ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn certificates_must_name_exactly_one_valid_node() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let mut ca = Authority::init(&ca_dir, "Test federation", None).unwrap();
    let uri = |s: &str| rcgen::SanType::URI(s.to_string().try_into().unwrap());
    let cases = [
        (
            vec![rcgen::SanType::DnsName("example.org".try_into().unwrap())],
            "names no node",
        ),
        (
            vec![uri("urn:renkei:node:hc-1"), uri("urn:renkei:node:hc-2")],
            "names 2 nodes",
        ),
        (vec![uri("urn:renkei:node:HC_1")], "node id is invalid"),
    ];
    let minato = ca.issue("hc-13103", 30).unwrap();
    let trust = Trust::new(ca.root_pem().as_bytes(), &[]).unwrap();
    for (sans, expected) in cases {
        let (cert, key) = custom_cert(&ca_dir, sans);
        let refused = NodeIdentity::from_pem(&cert, &key).unwrap_err().to_string();
        assert!(refused.contains(expected), "{refused}");
        assert!(
            ca.verify(cert.as_bytes())
                .unwrap_err()
                .to_string()
                .contains(expected)
        );
        // Presented in a handshake anyway (bypassing NodeIdentity), the peer refuses it.
        let der = renkei_ca::identity::parse_cert_pem(cert.as_bytes(), "c").unwrap();
        let key_der = renkei_ca::identity::parse_key_pem(key.as_bytes(), "k").unwrap();
        let client = rustls::ClientConfig::builder_with_provider(renkei_ca::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(trust.server_verifier())
            .with_client_auth_cert(vec![CertificateDer::clone(&der)], key_der)
            .unwrap();
        let outcome = handshake(&identity(&minato), &trust, client, "hc-13103").await;
        let err = outcome.server.unwrap_err();
        assert!(err.contains(expected), "{expected}: {err}");
    }
}

#[test]
fn corrupt_and_mismatched_inputs_are_named() {
    let mut f = federation();
    let a = f.ca.issue("hc-13103", 30).unwrap();
    let b = f.ca.issue("hc-13104", 30).unwrap();
    let err = NodeIdentity::from_pem(
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        &a.key_pem,
    )
    .unwrap_err();
    assert!(matches!(err, CaError::CorruptPem { .. }), "{err}");
    assert!(matches!(
        NodeIdentity::from_pem("hello", &a.key_pem),
        Err(CaError::CorruptPem { .. })
    ));
    assert!(matches!(
        NodeIdentity::from_pem(&a.cert_pem, "garbage"),
        Err(CaError::CorruptPem { .. })
    ));
    assert_eq!(
        NodeIdentity::from_pem(&a.cert_pem, &b.key_pem)
            .unwrap_err()
            .to_string(),
        "the private key does not match the certificate"
    );
    assert!(matches!(f.ca.issue("HC 1", 30), Err(CaError::BadNodeId(_))));
    assert!(matches!(
        f.ca.issue("hc-1", 0),
        Err(CaError::BadValidity(0))
    ));
    assert!(matches!(
        f.ca.issue("hc-1", 400),
        Err(CaError::BadValidity(400))
    ));
    assert!(matches!(
        Trust::new(b"nope", &[]),
        Err(CaError::CorruptPem { .. })
    ));
    assert!(
        matches!(
            Trust::new(a.cert_pem.as_bytes(), &[]),
            Err(CaError::Unusable(_))
        ),
        "a node certificate is no root"
    );
}

#[test]
fn inventory_renewal_and_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let mut ca = Authority::init(&ca_dir, "Test federation", None).unwrap();
    let first = ca.issue("hc-13103", 30).unwrap();
    assert!(matches!(
        ca.renew("hc-99999", 30),
        Err(CaError::NotInInventory(_))
    ));
    let renewed = ca.renew("hc-13103", 30).unwrap();
    assert_ne!(first.record.serial, renewed.record.serial);
    // Reopened from disk, the inventory holds both, active.
    let mut ca = Authority::open(&ca_dir, None).unwrap();
    assert_eq!(ca.list().len(), 2);
    ca.revoke(&RevokeTarget::Serial(first.record.serial.clone()))
        .unwrap();
    assert!(matches!(
        ca.revoke(&RevokeTarget::Serial(first.record.serial.clone())),
        Err(CaError::NotInInventory(_))
    ));
    assert_eq!(ca.verify(renewed.cert_pem.as_bytes()).unwrap(), "hc-13103");
    let statuses: Vec<_> = Authority::open(&ca_dir, None)
        .unwrap()
        .list()
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(
        statuses,
        [
            renkei_ca::CertStatus::Revoked,
            renkei_ca::CertStatus::Active
        ]
    );
    assert!(matches!(
        Authority::init(&ca_dir, "again", None),
        Err(CaError::AlreadyExists(_))
    ));
    // Opened for inventory work only, the CA cannot sign, and records nothing.
    let mut inventory_only = Authority::open_inventory(&ca_dir).unwrap();
    assert!(
        inventory_only
            .issue("hc-13104", 30)
            .unwrap_err()
            .to_string()
            .contains("cannot sign")
    );
    assert!(inventory_only.crl_pem(7).is_err());
    assert_eq!(Authority::open(&ca_dir, None).unwrap().list().len(), 2);
}

#[cfg(unix)]
#[test]
fn the_ca_key_is_private_and_can_be_sealed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sealed_dir = dir.path().join("sealed");
    Authority::init(&sealed_dir, "Sealed", Some(b"correct horse battery")).unwrap();
    let key_text = std::fs::read_to_string(sealed_dir.join("ca.key")).unwrap();
    assert!(
        !key_text.contains("PRIVATE KEY"),
        "the key is not stored in the clear"
    );
    assert!(matches!(
        Authority::open(&sealed_dir, None),
        Err(CaError::PassphraseNeeded)
    ));
    assert!(matches!(
        Authority::open(&sealed_dir, Some(b"wrong horse battery")),
        Err(CaError::WrongPassphrase)
    ));
    Authority::open(&sealed_dir, Some(b"correct horse battery")).unwrap();

    let plain_dir = dir.path().join("plain");
    Authority::init(&plain_dir, "Plain", None).unwrap();
    let key = plain_dir.join("ca.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(matches!(
        Authority::open(&plain_dir, None),
        Err(CaError::KeyReadableByOthers { .. })
    ));
}

#[test]
fn derived_secrets_are_stable_per_key_and_differ_per_purpose_and_node() {
    let mut f = federation();
    let a = f.ca.issue("hc-13103", 30).unwrap();
    let b = f.ca.issue("hc-13104", 30).unwrap();
    let (a1, a2, b1) = (identity(&a), identity(&a), identity(&b));
    assert_eq!(
        a1.derived_secret("quic-stateless-reset"),
        a2.derived_secret("quic-stateless-reset")
    );
    assert_ne!(
        a1.derived_secret("quic-stateless-reset"),
        a1.derived_secret("other")
    );
    assert_ne!(
        a1.derived_secret("quic-stateless-reset"),
        b1.derived_secret("quic-stateless-reset")
    );
}
