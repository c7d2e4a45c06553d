//! The QUIC transport. One endpoint per node both listens and dials
//! (ALPN `renkei/1`, mutual TLS from `renkei-ca`). Each message travels on
//! its own bidirectional stream: the sender writes one envelope and finishes,
//! the receiver answers with one [`Reply`] on the same stream after it has
//! recorded the message durably. Connections to a peer are reused.
//!
//! **Invariant:** the sender of a message is the node named by the peer's
//! verified certificate; an envelope naming anyone else is refused.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use renkei_ca::identity::{dns_name, peer_node_id};
use renkei_ca::{CaError, NodeIdentity, Succession, Trust};
use rustls::pki_types::CertificateDer;

use crate::directory::{Directory, NodeKind, permitted};
use crate::wire::{ALPN, Envelope, MAX_MESSAGE_BYTES, Refusal, Reply};

/// How long to wait for a peer to complete a handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a reply once a message is sent.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Receives messages that passed every transport check.
pub trait Inbox: Send + Sync + 'static {
    /// Records the message durably (and idempotently: a duplicate is no
    /// error).
    fn receive(&self, envelope: Envelope) -> impl Future<Output = Result<(), InboxError>> + Send;
}

/// Why an inbox did not record a message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InboxError {
    /// Not now: the sender will try again.
    #[error("{0}")]
    Unavailable(String),
    /// Never: the contents break the receiver's rules.
    #[error("{0}")]
    Invalid(String),
    /// Never: the sender may not say this about this case.
    #[error("{0}")]
    Unauthorised(String),
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error("QUIC setup failed: {0}")]
    Setup(String),
}

/// Why a message was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    #[error("`{0}` is not in the directory")]
    UnknownPeer(String),
    #[error("cannot reach `{peer}`: {detail}")]
    Unreachable { peer: String, detail: String },
    #[error("`{peer}` refused the message ({reason:?}): {detail}")]
    Refused {
        peer: String,
        reason: Refusal,
        detail: String,
    },
    #[error("`{peer}` answered outside the protocol: {detail}")]
    Protocol { peer: String, detail: String },
}

impl SendError {
    /// Whether the same message may be delivered by trying again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Unreachable { .. } | SendError::Protocol { .. } => true,
            SendError::Refused { reason, .. } => reason.is_retryable(),
            SendError::UnknownPeer(_) => false,
        }
    }
}

/// What a CRL reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlReload {
    /// The offered CRL is the one already in force.
    Unchanged,
    /// A newer CRL is in force; that many connections of now-revoked peers were closed.
    Installed { closed_connections: usize },
}

type PeerSlot = Arc<tokio::sync::Mutex<Option<quinn::Connection>>>;

pub struct Transport {
    node_id: String,
    endpoint: quinn::Endpoint,
    trust: Arc<Trust>,
    directory: Arc<Directory>,
    client_config: quinn::ClientConfig,
    outgoing: Mutex<HashMap<String, PeerSlot>>,
    /// Every open connection, by peer, so a new CRL can close revoked ones.
    live: Mutex<Vec<(String, quinn::Connection)>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

fn transport_config() -> Arc<quinn::TransportConfig> {
    let mut config = quinn::TransportConfig::default();
    config.max_idle_timeout(Some(
        Duration::from_secs(20)
            .try_into()
            .expect("20 s is a valid idle timeout"),
    ));
    config.keep_alive_interval(Some(Duration::from_secs(5)));
    Arc::new(config)
}

/// The node id in a connection's verified peer certificate.
fn peer_of(conn: &quinn::Connection) -> Result<String, String> {
    let identity = conn
        .peer_identity()
        .ok_or("the peer presented no certificate")?;
    let chain = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| "unexpected peer identity type")?;
    peer_node_id(&chain).map_err(|e| e.to_string())
}

fn peer_certificate(conn: &quinn::Connection) -> Option<CertificateDer<'static>> {
    conn.peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?
        .first()
        .cloned()
}

/// Random 8-byte connection ids that every run of a node accepts as its own,
/// so a restarted node answers a peer's packets for a connection of its
/// previous run with a stateless reset (quinn's default generator signs its
/// ids with a key that changes at every start, and silently drops the rest).
struct RandomCids;

impl quinn::ConnectionIdGenerator for RandomCids {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        let bytes: [u8; 8] = rand::random();
        quinn::ConnectionId::new(&bytes)
    }

    fn cid_len(&self) -> usize {
        8
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

impl Transport {
    /// Builds the endpoint on an already bound UDP socket.
    pub fn bind(
        socket: std::net::UdpSocket,
        identity: &NodeIdentity,
        trust: Arc<Trust>,
        directory: Arc<Directory>,
    ) -> Result<Arc<Self>, TransportError> {
        let server_tls = trust.server_config(identity, &[ALPN])?;
        let client_tls = trust.client_config(identity, &[ALPN])?;
        let server_crypto = QuicServerConfig::try_from(server_tls)
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        let client_crypto = QuicClientConfig::try_from(client_tls)
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
        server_config.transport_config(transport_config());
        let mut client_config = quinn::ClientConfig::new(Arc::new(client_crypto));
        client_config.transport_config(transport_config());
        let runtime = quinn::default_runtime()
            .ok_or_else(|| TransportError::Setup("no async runtime".into()))?;
        // The stateless-reset key is derived from the node's key, so after a
        // restart the node can tell peers still holding a connection to its
        // previous run that it is gone: they reconnect at once instead of
        // waiting for a reply that will never come.
        let reset_key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &identity.derived_secret("quic-stateless-reset"),
        );
        let mut endpoint_config = quinn::EndpointConfig::new(Arc::new(reset_key));
        endpoint_config.cid_generator(|| Box::new(RandomCids));
        // After a restart hundreds of centres must each get their reset at
        // once: quinn's default answers one packet per 20 ms across all
        // peers and drops the rest, so most of 470 centres would wait for a
        // retransmission or their reply timeout. A reset is always smaller
        // than the packet that caused it, so answering every one amplifies
        // nothing.
        endpoint_config.min_reset_interval(Duration::ZERO);
        let endpoint = quinn::Endpoint::new(endpoint_config, Some(server_config), socket, runtime)
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        Ok(Arc::new(Self {
            node_id: identity.node_id.clone(),
            endpoint,
            trust,
            directory,
            client_config,
            outgoing: Mutex::new(HashMap::new()),
            live: Mutex::new(Vec::new()),
        }))
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    fn register(&self, peer: &str, conn: &quinn::Connection) {
        let mut live = self.live.lock().expect("live lock");
        live.retain(|(_, c)| c.close_reason().is_none());
        live.push((peer.to_string(), conn.clone()));
    }

    /// Whether an open connection to or from `peer` exists.
    pub fn is_connected(&self, peer: &str) -> bool {
        self.live
            .lock()
            .expect("live lock")
            .iter()
            .any(|(p, c)| p == peer && c.close_reason().is_none())
    }

    /// Accepts connections and messages until the endpoint closes.
    pub fn serve<I: Inbox>(self: &Arc<Self>, inbox: Arc<I>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            while let Some(incoming) = this.endpoint.accept().await {
                let this = this.clone();
                let inbox = inbox.clone();
                tokio::spawn(async move {
                    let conn = match incoming.await {
                        Ok(conn) => conn,
                        Err(error) => {
                            tracing::warn!(%error, "refused an incoming connection");
                            return;
                        }
                    };
                    let peer = match peer_of(&conn) {
                        Ok(peer) => peer,
                        Err(error) => {
                            tracing::warn!(%error, "closing a connection without a node identity");
                            conn.close(quinn::VarInt::from_u32(1), b"no node identity");
                            return;
                        }
                    };
                    this.register(&peer, &conn);
                    while let Ok((send, recv)) = conn.accept_bi().await {
                        let this = this.clone();
                        let inbox = inbox.clone();
                        let peer = peer.clone();
                        tokio::spawn(async move {
                            this.handle_stream(&peer, send, recv, inbox.as_ref()).await
                        });
                    }
                });
            }
        })
    }

    async fn handle_stream<I: Inbox>(
        &self,
        peer: &str,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
        inbox: &I,
    ) {
        let reply = match recv.read_to_end(MAX_MESSAGE_BYTES).await {
            Ok(bytes) => self.judge(peer, &bytes, inbox).await,
            Err(quinn::ReadToEndError::TooLong) => Reply::Refused {
                message_id: None,
                reason: Refusal::TooLarge,
                detail: format!("messages are at most {MAX_MESSAGE_BYTES} bytes"),
            },
            Err(error) => {
                tracing::debug!(%peer, %error, "stream ended before a whole message arrived");
                return;
            }
        };
        if let Reply::Refused { reason, detail, .. } = &reply {
            // The detail names the check, never the message's contents.
            tracing::warn!(%peer, ?reason, %detail, "refused a message");
        }
        let _ = send.write_all(&reply.encode()).await;
        let _ = send.finish();
        // Wait for the peer to read the reply before the stream is dropped.
        let _ = send.stopped().await;
    }

    /// Every check a message passes before the inbox sees it.
    async fn judge<I: Inbox>(&self, peer: &str, bytes: &[u8], inbox: &I) -> Reply {
        let refuse = |message_id, reason, detail: String| Reply::Refused {
            message_id,
            reason,
            detail,
        };
        let envelope = match Envelope::decode(bytes) {
            Ok(envelope) => envelope,
            Err(e) => return refuse(None, e.refusal(), e.to_string()),
        };
        let id = Some(envelope.message_id);
        if envelope.sender != peer {
            return refuse(
                id,
                Refusal::WrongSender,
                format!(
                    "the envelope names `{}` but the peer is `{peer}`",
                    envelope.sender
                ),
            );
        }
        if envelope.recipient != self.node_id {
            return refuse(
                id,
                Refusal::WrongRecipient,
                format!(
                    "addressed to `{}`, this is `{}`",
                    envelope.recipient, self.node_id
                ),
            );
        }
        let kind = |id: &str| self.directory.node(id).map(|n| n.kind);
        let (Some(sender_kind), Some(own_kind)) = (kind(peer), kind(&self.node_id)) else {
            return refuse(
                id,
                Refusal::NotPermitted,
                format!("`{peer}` is not in this node's directory"),
            );
        };
        if !permitted(sender_kind, own_kind, &envelope.body) {
            return refuse(
                id,
                Refusal::NotPermitted,
                format!(
                    "a {sender_kind:?} node may not send {} to a {own_kind:?} node",
                    envelope.body.name()
                ),
            );
        }
        let message_id = envelope.message_id;
        match inbox.receive(envelope).await {
            Ok(()) => Reply::Ack { message_id },
            Err(InboxError::Unavailable(detail)) => refuse(id, Refusal::Unavailable, detail),
            Err(InboxError::Invalid(detail)) => refuse(id, Refusal::Invalid, detail),
            Err(InboxError::Unauthorised(detail)) => refuse(id, Refusal::Unauthorised, detail),
        }
    }

    fn slot(&self, peer: &str) -> PeerSlot {
        self.outgoing
            .lock()
            .expect("outgoing lock")
            .entry(peer.to_string())
            .or_default()
            .clone()
    }

    async fn connection(
        &self,
        peer: &str,
        addr: SocketAddr,
    ) -> Result<quinn::Connection, SendError> {
        let unreachable = |detail: String| SendError::Unreachable {
            peer: peer.to_string(),
            detail,
        };
        let slot = self.slot(peer);
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| c.close_reason().is_none()) {
            return Ok(conn.clone());
        }
        let connecting = self
            .endpoint
            .connect_with(self.client_config.clone(), addr, &dns_name(peer))
            .map_err(|e| unreachable(e.to_string()))?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| unreachable("no handshake within the timeout".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        match peer_of(&conn) {
            Ok(id) if id == peer => {}
            other => {
                conn.close(quinn::VarInt::from_u32(1), b"wrong node");
                return Err(SendError::Protocol {
                    peer: peer.to_string(),
                    detail: format!("reached {other:?}"),
                });
            }
        }
        self.register(peer, &conn);
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Drops a connection that failed an exchange, so the next attempt dials
    /// afresh instead of waiting for the idle timeout to notice a peer that
    /// restarted or vanished.
    fn evict(&self, peer: &str, conn: &quinn::Connection) {
        conn.close(quinn::VarInt::from_u32(3), b"exchange failed");
        if let Ok(mut slot) = self.slot(peer).try_lock()
            && slot
                .as_ref()
                .is_some_and(|c| c.stable_id() == conn.stable_id())
        {
            *slot = None;
        }
    }

    /// Sends one envelope and waits for the receiver's durable ack.
    pub async fn send(&self, envelope: &Envelope) -> Result<(), SendError> {
        let peer = envelope.recipient.as_str();
        let node = self
            .directory
            .node(peer)
            .ok_or_else(|| SendError::UnknownPeer(peer.to_string()))?;
        self.send_bytes(peer, node.quic, envelope.message_id, &envelope.encode())
            .await
    }

    /// Sends raw bytes as one message (tests use it to send what a broken or
    /// hostile node would).
    pub async fn send_bytes(
        &self,
        peer: &str,
        addr: SocketAddr,
        message_id: uuid::Uuid,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        let conn = self.connection(peer, addr).await?;
        let result = tokio::time::timeout(REPLY_TIMEOUT, async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
            send.write_all(bytes).await.map_err(|e| e.to_string())?;
            send.finish().map_err(|e| e.to_string())?;
            recv.read_to_end(MAX_MESSAGE_BYTES)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        let bytes = match result {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(detail)) => {
                self.evict(peer, &conn);
                return Err(SendError::Unreachable {
                    peer: peer.to_string(),
                    detail,
                });
            }
            Err(_) => {
                self.evict(peer, &conn);
                return Err(SendError::Unreachable {
                    peer: peer.to_string(),
                    detail: "no reply within the timeout".into(),
                });
            }
        };
        match Reply::decode(&bytes) {
            Ok(Reply::Ack { message_id: acked }) if acked == message_id => Ok(()),
            Ok(Reply::Ack { .. }) => Err(SendError::Protocol {
                peer: peer.to_string(),
                detail: "acknowledged another message".into(),
            }),
            Ok(Reply::Refused { reason, detail, .. }) => Err(SendError::Refused {
                peer: peer.to_string(),
                reason,
                detail,
            }),
            Err(e) => Err(SendError::Protocol {
                peer: peer.to_string(),
                detail: e.to_string(),
            }),
        }
    }

    /// The federation root and the CRL in force.
    pub fn trust(&self) -> &Arc<Trust> {
        &self.trust
    }

    /// Installs a newer CRL (after checking it against the federation root)
    /// and closes every connection whose peer certificate no longer
    /// verifies. A refused CRL changes nothing.
    pub fn reload_crls(&self, crl_pems: &[Vec<u8>]) -> Result<CrlReload, CaError> {
        if self.trust.set_crls(crl_pems)? == Succession::Same {
            return Ok(CrlReload::Unchanged);
        }
        let mut closed = 0;
        let live = self.live.lock().expect("live lock").clone();
        for (peer, conn) in live {
            if conn.close_reason().is_some() {
                continue;
            }
            let still_valid =
                peer_certificate(&conn).is_some_and(|cert| self.trust.verify(&cert).is_ok());
            if !still_valid {
                tracing::warn!(%peer, "closing the connection of a peer whose certificate is no longer valid");
                conn.close(quinn::VarInt::from_u32(2), b"certificate revoked");
                closed += 1;
            }
        }
        Ok(CrlReload::Installed {
            closed_connections: closed,
        })
    }

    /// Closes every connection and the endpoint.
    pub async fn shutdown(&self) {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"shutting down");
        self.endpoint.wait_idle().await;
    }
}

/// Kinds by node id, for callers deciding what to send.
pub fn kind_of(directory: &Directory, node: &str) -> Option<NodeKind> {
    directory.node(node).map(|n| n.kind)
}
