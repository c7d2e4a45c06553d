//! The transport over real QUIC on loopback, with certificates from a real
//! federation CA.

use std::collections::HashSet;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};

use renkei_ca::{Authority, NodeIdentity, RevokeTarget, Trust};
use renkei_federation::wire::{PROTOCOL_VERSION, TestsSummary};
use renkei_federation::{
    Body, CrlReload, Directory, Envelope, Inbox, Refusal, SendError, StatutoryReport, Transport,
};
use uuid::Uuid;

/// Records messages once per (sender, message id), like a node's inbox.
#[derive(Default)]
struct Recorder {
    seen: Mutex<HashSet<(String, Uuid)>>,
    applied: Mutex<Vec<Envelope>>,
}

impl Inbox for Recorder {
    async fn receive(&self, envelope: Envelope) -> Result<(), renkei_federation::InboxError> {
        if self
            .seen
            .lock()
            .unwrap()
            .insert((envelope.sender.clone(), envelope.message_id))
        {
            self.applied.lock().unwrap().push(envelope);
        }
        Ok(())
    }
}

struct Net {
    _dir: tempfile::TempDir,
    ca: Authority,
    trust: Arc<Trust>,
    directory: Arc<Directory>,
    sockets: Vec<(String, UdpSocket)>,
}

const NODES: &[(&str, &str, &str)] = &[
    ("national", "national", ""),
    ("hc-13103", "health-centre", "131032"),
    ("hc-13104", "health-centre", "131041"),
];

fn net() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let mut ca = Authority::init(&dir.path().join("ca"), "Test federation", None).unwrap();
    let crl = ca.crl_pem(7).unwrap().into_bytes();
    let trust = Trust::new(ca.root_pem().as_bytes(), &[crl]).unwrap();
    let mut toml = String::new();
    let mut sockets = Vec::new();
    for (id, kind, code) in NODES {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let codes = if code.is_empty() {
            String::new()
        } else {
            format!("municipalities = [\"{code}\"]\n")
        };
        toml.push_str(&format!(
            "[[node]]\nid = \"{id}\"\nkind = \"{kind}\"\nname_ja = \"{id}\"\nname_en = \"{id}\"\nquic = \"{}\"\n{codes}\n",
            socket.local_addr().unwrap()
        ));
        sockets.push((id.to_string(), socket));
    }
    Net {
        _dir: dir,
        ca,
        trust,
        directory: Arc::new(Directory::parse(&toml).unwrap()),
        sockets,
    }
}

impl Net {
    fn start(&mut self, id: &str) -> (Arc<Transport>, Arc<Recorder>) {
        let issued = self.ca.issue(id, 30).unwrap();
        let identity = NodeIdentity::from_pem(&issued.cert_pem, &issued.key_pem).unwrap();
        let socket = self
            .sockets
            .iter()
            .find(|(n, _)| n == id)
            .unwrap()
            .1
            .try_clone()
            .unwrap();
        // Each node has its own Trust, as separate processes would.
        let crl = self.ca.crl_pem(7).unwrap().into_bytes();
        let trust = Trust::new(self.ca.root_pem().as_bytes(), &[crl]).unwrap();
        let transport = Transport::bind(socket, &identity, trust, self.directory.clone()).unwrap();
        let inbox = Arc::new(Recorder::default());
        transport.serve(inbox.clone());
        (transport, inbox)
    }

    fn addr(&self, id: &str) -> std::net::SocketAddr {
        self.directory.node(id).unwrap().quic
    }
}

fn report(sender: &str) -> Envelope {
    Envelope::new(
        sender,
        "national",
        1_795_300_000_000,
        Body::StatutoryReport(StatutoryReport {
            case_id: Uuid::now_v7(),
            revision: 1,
            disease: "covid-19".into(),
            diagnosis_class: "confirmed".into(),
            sex: "male".into(),
            age: 46,
            municipality_code: "131032".into(),
            reporting_centre: sender.into(),
            responsible_centre: sender.into(),
            onset_date: None,
            diagnosis_date: None,
            report_date: 20261120,
            tests: TestsSummary {
                positive: 1,
                negative: 0,
                other: 0,
                methods: vec!["pcr".into()],
            },
            status: "home".into(),
            hospitalised: false,
            severe: false,
            deceased: false,
            withdrawn: false,
        }),
    )
}

fn refused(result: Result<(), SendError>) -> Refusal {
    match result {
        Err(SendError::Refused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_report_is_delivered_and_a_duplicate_applied_once() {
    let mut net = net();
    let (_national, inbox) = net.start("national");
    let (centre, _) = net.start("hc-13103");
    let envelope = report("hc-13103");
    centre.send(&envelope).await.unwrap();
    centre
        .send(&envelope)
        .await
        .expect("a duplicate is acknowledged again");
    let applied = inbox.applied.lock().unwrap().clone();
    assert_eq!(applied, vec![envelope]);
    assert!(centre.is_connected("national"));
}

#[tokio::test]
async fn bad_frames_and_false_claims_are_refused() {
    let mut net = net();
    let (national, inbox) = net.start("national");
    let (centre, _) = net.start("hc-13103");
    let (other_centre, other_inbox) = net.start("hc-13104");
    let addr = net.addr("national");
    let id = Uuid::now_v7();
    let good = report("hc-13103").encode();

    assert_eq!(
        refused(
            centre
                .send_bytes("national", addr, id, &good[..good.len() / 2])
                .await
        ),
        Refusal::Malformed
    );
    assert_eq!(
        refused(
            centre
                .send_bytes("national", addr, id, b"\xff\xfe garbage")
                .await
        ),
        Refusal::Malformed
    );
    assert_eq!(
        refused(
            centre
                .send_bytes("national", addr, id, &vec![1u8; 300 * 1024])
                .await
        ),
        Refusal::TooLarge
    );
    let mut future = good.clone();
    future[0] = 9;
    assert_eq!(
        refused(centre.send_bytes("national", addr, id, &future).await),
        Refusal::UnsupportedVersion
    );
    // Hc-13103 claims to be hc-13104.
    assert_eq!(
        refused(centre.send(&report("hc-13104")).await),
        Refusal::WrongSender
    );
    // Addressed to someone else but delivered here.
    let mut misaddressed = report("hc-13103");
    misaddressed.recipient = "hc-13104".into();
    assert_eq!(
        refused(
            centre
                .send_bytes(
                    "national",
                    addr,
                    misaddressed.message_id,
                    &misaddressed.encode()
                )
                .await
        ),
        Refusal::WrongRecipient
    );
    // A centre may not send statutory reports to another centre, nor the national node to a centre.
    let mut sideways = report("hc-13103");
    sideways.recipient = "hc-13104".into();
    assert_eq!(refused(centre.send(&sideways).await), Refusal::NotPermitted);
    let mut downwards = report("national");
    downwards.recipient = "hc-13103".into();
    assert_eq!(
        refused(national.send(&downwards).await),
        Refusal::NotPermitted
    );
    assert!(inbox.applied.lock().unwrap().is_empty());
    assert!(other_inbox.applied.lock().unwrap().is_empty());
    assert_eq!(good[0] as u16, PROTOCOL_VERSION);

    // After all that, the connection still carries good messages.
    centre.send(&report("hc-13103")).await.unwrap();
    other_centre.send(&report("hc-13104")).await.unwrap();
    assert_eq!(inbox.applied.lock().unwrap().len(), 2);
}

/// A hand-built QUIC client: optionally with a federation certificate for
/// `as_node`, offering `alpn`.
fn raw_client(net: &mut Net, alpn: &[u8], as_node: Option<&str>) -> quinn::Endpoint {
    use quinn::crypto::rustls::QuicClientConfig;
    use rustls_pki_types::pem::PemObject;
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(renkei_ca::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(net.trust.server_verifier());
    let mut tls = match as_node {
        Some(id) => {
            let issued = net.ca.issue(id, 30).unwrap();
            let cert = rustls_pki_types::CertificateDer::from_pem_slice(issued.cert_pem.as_bytes())
                .unwrap();
            let key =
                rustls_pki_types::PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(vec![cert], key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![alpn.to_vec()];
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(tls).unwrap(),
    )));
    endpoint
}

async fn try_message(
    endpoint: &quinn::Endpoint,
    addr: std::net::SocketAddr,
    bytes: &[u8],
) -> Result<Vec<u8>, String> {
    let conn = endpoint
        .connect(addr, "national.node.renkei.invalid")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(bytes).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    recv.read_to_end(1024).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn peers_without_a_certificate_or_with_the_wrong_alpn_get_nothing() {
    let mut net = net();
    let (_national, inbox) = net.start("national");
    let addr = net.addr("national");
    let good = report("hc-13103").encode();
    let no_cert = raw_client(&mut net, b"renkei/1", None);
    let err = try_message(&no_cert, addr, &good).await.unwrap_err();
    assert!(
        err.contains("connection lost")
            || err.contains("certificate")
            || err.contains("handshake failed"),
        "{err}"
    );
    let wrong_alpn = raw_client(&mut net, b"h3", Some("hc-13103"));
    let err = try_message(&wrong_alpn, addr, &good).await.unwrap_err();
    assert!(
        err.contains("peer doesn't support any known protocol"),
        "{err}"
    );
    // The same client with the right ALPN is heard: the refusals above were about ALPN and certificates.
    let right = raw_client(&mut net, b"renkei/1", Some("hc-13103"));
    let reply =
        renkei_federation::Reply::decode(&try_message(&right, addr, &good).await.unwrap()).unwrap();
    assert!(matches!(reply, renkei_federation::Reply::Ack { .. }));
    assert_eq!(inbox.applied.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_node_of_another_federation_cannot_connect() {
    let mut net = net();
    let (_national, inbox) = net.start("national");
    // Same node id and directory, but certificates from another CA.
    let mut foreign = self::net();
    foreign.directory = net.directory.clone();
    foreign.sockets = vec![("hc-13103".into(), UdpSocket::bind("127.0.0.1:0").unwrap())];
    let (intruder, _) = foreign.start("hc-13103");
    let result = intruder.send(&report("hc-13103")).await;
    assert!(
        matches!(result, Err(SendError::Unreachable { .. })),
        "{result:?}"
    );
    assert!(inbox.applied.lock().unwrap().is_empty());
}

#[tokio::test]
async fn revoking_a_node_closes_its_connection_and_refuses_it_afterwards() {
    let mut net = net();
    let (national, inbox) = net.start("national");
    let (centre, _) = net.start("hc-13103");
    centre.send(&report("hc-13103")).await.unwrap();
    assert!(national.is_connected("hc-13103"));

    net.ca
        .revoke(&RevokeTarget::Node("hc-13103".into()))
        .unwrap();
    let crl = net.ca.crl_pem(7).unwrap().into_bytes();
    assert_eq!(
        national.reload_crls(&[crl]).unwrap(),
        CrlReload::Installed {
            closed_connections: 1
        },
        "the live connection is closed"
    );
    assert!(!national.is_connected("hc-13103"));
    let result = centre.send(&report("hc-13103")).await;
    assert!(
        matches!(result, Err(SendError::Unreachable { .. })),
        "{result:?}"
    );
    assert_eq!(inbox.applied.lock().unwrap().len(), 1);
}
