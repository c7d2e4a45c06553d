//! A whole federation for tests: a real CA, certificates and CRL, a
//! directory with real loopback ports, and real nodes talking QUIC.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use renkei_ca::Authority;
use renkei_node::clock::Clock;
use renkei_node::config::NodeKind;
use renkei_node::federation::FederationConfig;

use crate::{StoppedNode, TestNode};

/// One node of a test federation: id, kind, municipalities served, names.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: &'static str,
    pub national: bool,
    pub municipalities: &'static [&'static str],
}

pub const NATIONAL: Member = Member {
    id: "national",
    national: true,
    municipalities: &[],
};
pub const MINATO: Member = Member {
    id: "hc-13103",
    national: false,
    municipalities: &["131032"],
};
pub const SHINJUKU: Member = Member {
    id: "hc-13104",
    national: false,
    municipalities: &["131041"],
};
pub const SETAGAYA: Member = Member {
    id: "hc-13112",
    national: false,
    municipalities: &["131121"],
};

pub struct TestFederation {
    pub dir: tempfile::TempDir,
    pub ca: Authority,
    pub running: BTreeMap<String, TestNode>,
    stopped: BTreeMap<String, StoppedNode>,
}

/// A loopback UDP socket on a port of the system's choosing. It is handed to
/// the node as it is, never closed and bound again, so no other program can
/// take the port between the directory naming it and the node using it.
fn bound_udp_socket() -> std::net::UdpSocket {
    std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP socket")
}

impl TestFederation {
    pub async fn start(members: &[Member]) -> Self {
        Self::start_with(members, |_, _| {}).await
    }

    /// Starts the federation, letting `adjust` change each node's federation config.
    pub async fn start_with(
        members: &[Member],
        adjust: impl Fn(&str, &mut FederationConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = Authority::init(&dir.path().join("ca"), "Test federation", None).unwrap();
        let crl_path = dir.path().join("federation.crl");
        std::fs::write(&crl_path, ca.crl_pem(7).unwrap()).unwrap();
        let ca_path = dir.path().join("ca").join("ca.pem");
        let mut directory = String::new();
        let mut addresses = BTreeMap::new();
        let mut sockets = BTreeMap::new();
        for m in members {
            let socket = bound_udp_socket();
            let addr = socket.local_addr().unwrap();
            addresses.insert(m.id, addr);
            sockets.insert(m.id, socket);
            let codes: Vec<String> = m
                .municipalities
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect();
            directory.push_str(&format!(
                "[[node]]\nid = \"{}\"\nkind = \"{}\"\nname_ja = \"{}\"\nname_en = \"{}\"\nquic = \"{addr}\"\nmunicipalities = [{}]\n\n",
                m.id,
                if m.national { "national" } else { "health-centre" },
                m.id,
                m.id,
                codes.join(", ")
            ));
        }
        let person_key = dir.path().join("person.key");
        std::fs::write(
            &person_key,
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        )
        .unwrap();
        let directory_path = dir.path().join("directory.toml");
        std::fs::write(&directory_path, directory).unwrap();
        let mut running = BTreeMap::new();
        for m in members {
            let out = dir.path().join("certs").join(m.id);
            std::fs::create_dir_all(&out).unwrap();
            let issued = ca.issue(m.id, 30).unwrap();
            std::fs::write(out.join("node.pem"), &issued.cert_pem).unwrap();
            renkei_ca::keyfile::write_private(&out.join("node.key"), issued.key_pem.as_bytes())
                .unwrap();
            let mut federation = FederationConfig {
                quic_listen: addresses[m.id],
                directory: directory_path.clone(),
                certificate: out.join("node.pem"),
                key: out.join("node.key"),
                ca: ca_path.clone(),
                crl: crl_path.clone(),
                max_backoff: Duration::from_millis(500),
                crl_check_interval: Duration::from_millis(200),
                person_key: Some(person_key.clone()),
                auto_accept_transfers_from: Vec::new(),
            };
            adjust(m.id, &mut federation);
            let member = m.clone();
            let node = TestNode::start_on(
                move |c| {
                    c.node_id = member.id.to_string();
                    c.kind = if member.national {
                        NodeKind::National
                    } else {
                        NodeKind::HealthCentre
                    };
                    c.federation = Some(federation);
                },
                sockets.remove(m.id),
            )
            .await;
            running.insert(m.id.to_string(), node);
        }
        Self {
            dir,
            ca,
            running,
            stopped: BTreeMap::new(),
        }
    }

    pub fn node(&self, id: &str) -> &TestNode {
        self.running
            .get(id)
            .unwrap_or_else(|| panic!("{id} is not running"))
    }

    /// Stops a node, keeping its data.
    pub async fn stop(&mut self, id: &str) {
        let node = self.running.remove(id).expect("running");
        self.stopped
            .insert(id.to_string(), node.stop_keeping_data().await);
    }

    /// Starts a stopped node again, on the same database and ports.
    pub async fn restart(&mut self, id: &str) {
        let stopped = self.stopped.remove(id).expect("stopped");
        self.running
            .insert(id.to_string(), TestNode::restart(stopped).await);
    }

    /// Revokes a node and publishes the new CRL where every node reads it.
    pub fn revoke(&mut self, id: &str) {
        self.ca
            .revoke(&renkei_ca::RevokeTarget::Node(id.to_string()))
            .unwrap();
        std::fs::write(self.crl_path(), self.ca.crl_pem(7).unwrap()).unwrap();
    }

    /// The database file of a stopped node (to act on it as an operator would).
    pub fn stopped_database(&self, id: &str) -> PathBuf {
        self.stopped[id].database_path()
    }

    /// One node's clock, running or stopped.
    pub fn clock(&self, id: &str) -> &Clock {
        match self.running.get(id) {
            Some(node) => &node.clock,
            None => &self.stopped[id].clock,
        }
    }

    /// Moves one node's clock forward, running or stopped.
    pub fn advance_clock(&self, id: &str, by: Duration) {
        self.clock(id).advance(by);
    }

    pub fn crl_path(&self) -> PathBuf {
        self.dir.path().join("federation.crl")
    }

    pub async fn shutdown(mut self) {
        for (_, node) in std::mem::take(&mut self.running) {
            node.stop().await;
        }
    }
}
