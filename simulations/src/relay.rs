//! The UDP relay in front of every node: the directory lists the relay's
//! address, the relay forwards to the node's real socket, and on the way it
//! drops or delays packets per link (loss, latency, partitions). QUIC itself
//! is untouched: real handshakes, real retransmissions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

/// What happens to packets from one node to another.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkRule {
    pub loss: f64,
    pub delay: Duration,
}

/// The rules every relay consults: (source node, target node) → rule.
#[derive(Debug, Default)]
pub struct Network {
    rules: Mutex<HashMap<(String, String), LinkRule>>,
    /// Which node sends from which real address.
    owners: Mutex<HashMap<SocketAddr, String>>,
}

impl Network {
    pub fn set(&self, source: &str, target: &str, rule: LinkRule) {
        self.rules
            .lock()
            .unwrap()
            .insert((source.into(), target.into()), rule);
    }

    pub fn clear(&self, source: &str, target: &str) {
        self.rules
            .lock()
            .unwrap()
            .remove(&(source.to_string(), target.to_string()));
    }

    pub fn register(&self, node: &str, real: SocketAddr) {
        self.owners.lock().unwrap().insert(real, node.into());
    }

    fn rule(&self, from_addr: SocketAddr, target: &str) -> LinkRule {
        let Some(source) = self.owners.lock().unwrap().get(&from_addr).cloned() else {
            return LinkRule::default();
        };
        self.rules
            .lock()
            .unwrap()
            .get(&(source, target.to_string()))
            .copied()
            .unwrap_or_default()
    }
}

/// Starts a relay for `target` on `listen`, forwarding to `real`. Each sender
/// gets its own upstream socket, so replies find their way back.
pub async fn start(
    network: Arc<Network>,
    target: String,
    listen: UdpSocket,
    real: SocketAddr,
) -> anyhow::Result<()> {
    let listen = Arc::new(listen);
    let upstreams: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        loop {
            let Ok((n, from)) = listen.recv_from(&mut buf).await else {
                break;
            };
            let packet = buf[..n].to_vec();
            let rule = network.rule(from, &target);
            if rule.loss > 0.0 && rand::random::<f64>() < rule.loss {
                continue;
            }
            let existing = upstreams.lock().unwrap().get(&from).cloned();
            let upstream = match existing {
                Some(u) => u,
                None => {
                    let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
                        continue;
                    };
                    let socket = Arc::new(socket);
                    upstreams.lock().unwrap().insert(from, socket.clone());
                    // Replies from the node go back to the sender through the relay,
                    // under the same rule in reverse.
                    let (back, listen2, network2, target2) = (
                        socket.clone(),
                        listen.clone(),
                        network.clone(),
                        target.clone(),
                    );
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 65_535];
                        while let Ok(n) = back.recv(&mut buf).await {
                            let reverse = network2.reverse_rule(&target2, from);
                            if reverse.loss > 0.0 && rand::random::<f64>() < reverse.loss {
                                continue;
                            }
                            let packet = buf[..n].to_vec();
                            let listen3 = listen2.clone();
                            if reverse.delay.is_zero() {
                                let _ = listen3.send_to(&packet, from).await;
                            } else {
                                tokio::spawn(async move {
                                    tokio::time::sleep(reverse.delay).await;
                                    let _ = listen3.send_to(&packet, from).await;
                                });
                            }
                        }
                    });
                    socket
                }
            };
            if rule.delay.is_zero() {
                let _ = upstream.send_to(&packet, real).await;
            } else {
                tokio::spawn(async move {
                    tokio::time::sleep(rule.delay).await;
                    let _ = upstream.send_to(&packet, real).await;
                });
            }
        }
    });
    Ok(())
}

impl Network {
    /// The rule for packets from `source` (by node id) to the node at `to_addr`.
    fn reverse_rule(&self, source: &str, to_addr: SocketAddr) -> LinkRule {
        let Some(target) = self.owners.lock().unwrap().get(&to_addr).cloned() else {
            return LinkRule::default();
        };
        self.rules
            .lock()
            .unwrap()
            .get(&(source.to_string(), target))
            .copied()
            .unwrap_or_default()
    }
}
