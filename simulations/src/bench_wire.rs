//! Side by side: one message stream over Renkei's transport (QUIC, one
//! stream per message, postcard) and over HTTPS + JSON on TCP (HTTP/1.1 with
//! keep-alive, one connection per message in flight: the way peer systems
//! exchange cases). Both use mutual TLS with the federation's certificates;
//! both receivers decode every message and answer only after decoding it.
//! Neither writes to a database: this compares the wire, not the store.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use renkei_ca::{NodeIdentity, Trust};
use renkei_federation::transport::InboxError;
use renkei_federation::{Directory, Envelope, Inbox, Transport};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct WireFigures {
    pub messages: usize,
    pub quic_per_second: f64,
    pub https_per_second: f64,
    pub postcard_bytes: usize,
    pub json_bytes: usize,
}

/// Accepts everything it can decode (the transport already decoded it).
struct Accept;

impl Inbox for Accept {
    async fn receive(&self, _envelope: Envelope) -> Result<(), InboxError> {
        Ok(())
    }
}

/// `messages` copies of `template` (new ids), `window` in flight, each way.
pub async fn compare(
    fed_dir: &Path,
    sender: (&Path, &Path),
    template: &Envelope,
    messages: usize,
    window: usize,
) -> anyhow::Result<WireFigures> {
    let root = std::fs::read(fed_dir.join("ca/ca.pem")).context("reading the CA")?;
    let crl = std::fs::read(fed_dir.join("federation.crl"))?;
    let national = fed_dir.join("nodes/national/certs");
    let receiver = NodeIdentity::load(&national.join("node.pem"), &national.join("node.key"))?;
    let client = NodeIdentity::load(sender.0, sender.1)?;
    let trust = Trust::new(&root, std::slice::from_ref(&crl))?;
    let envelopes: Vec<Envelope> = (0..messages)
        .map(|_| {
            let mut e = template.clone();
            e.message_id = uuid::Uuid::now_v7();
            e.sender = client.node_id.clone();
            e
        })
        .collect();

    // QUIC + postcard.
    let server_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let server_addr = server_socket.local_addr()?;
    let directory = Arc::new(Directory::parse(&format!(
        "[[node]]\nid = \"national\"\nkind = \"national\"\nname_ja = \"n\"\nname_en = \"n\"\nquic = \"{server_addr}\"\n\n\
         [[node]]\nid = \"{}\"\nkind = \"health-centre\"\nname_ja = \"c\"\nname_en = \"c\"\nquic = \"127.0.0.1:9\"\nmunicipalities = [\"131032\"]\n",
        client.node_id
    ))?);
    let server = Transport::bind(server_socket, &receiver, trust.clone(), directory.clone())?;
    let serving = server.serve(Arc::new(Accept));
    let quic_client = Transport::bind(
        std::net::UdpSocket::bind("127.0.0.1:0")?,
        &client,
        trust.clone(),
        directory.clone(),
    )?;
    // One message first so the handshake is not timed.
    quic_client.send(&envelopes[0]).await?;
    let started = Instant::now();
    let delivered = futures_util::stream::iter(envelopes.iter())
        .map(|e| {
            let c = quic_client.clone();
            async move { c.send(e).await.is_ok() }
        })
        .buffer_unordered(window)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let quic_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        delivered == messages,
        "QUIC delivered {delivered} of {messages}"
    );
    quic_client.shutdown().await;
    server.shutdown().await;
    serving.abort();

    // HTTPS + JSON.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let https_addr = listener.local_addr()?;
    let acceptor =
        tokio_rustls::TlsAcceptor::from(Arc::new(trust.server_config(&receiver, &[b"http/1.1"])?));
    let https_server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let reply = match serde_json::from_slice::<Envelope>(&body) {
                            Ok(e) => format!("{{\"ack\":\"{}\"}}", e.message_id),
                            Err(_) => "{\"error\":\"invalid\"}".to_string(),
                        };
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(reply),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(trust.client_config(&client, &[b"http/1.1"])?));
    let name = renkei_ca::tls::server_name("national")?;
    let json_bytes = serde_json::to_vec(&envelopes[0])?.len();
    // One keep-alive connection per message in flight, each set up before timing.
    let chunks: Vec<Vec<Envelope>> = (0..window)
        .map(|w| envelopes.iter().skip(w).step_by(window).cloned().collect())
        .collect();
    let mut senders = Vec::new();
    for _ in 0..window {
        senders.push(https_connection(&connector, &name, https_addr).await?);
    }
    let started = Instant::now();
    let delivered: usize = futures_util::future::join_all(senders.into_iter().zip(chunks).map(
        |(mut tx, chunk)| async move {
            let mut ok = 0;
            for e in chunk {
                let Ok(body) = serde_json::to_vec(&e) else {
                    continue;
                };
                let request = hyper::Request::post("/messages")
                    .header("host", "national")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)));
                let Ok(request) = request else { continue };
                // The connection takes the next request once the last
                // response is read to the end.
                if tx.ready().await.is_err() {
                    break;
                }
                if let Ok(response) = tx.send_request(request).await
                    && response.status().is_success()
                    && response.into_body().collect().await.is_ok()
                {
                    ok += 1;
                }
            }
            ok
        },
    ))
    .await
    .into_iter()
    .sum();
    let https_secs = started.elapsed().as_secs_f64();
    https_server.abort();
    anyhow::ensure!(
        delivered == messages,
        "HTTPS delivered {delivered} of {messages}"
    );
    Ok(WireFigures {
        messages,
        quic_per_second: messages as f64 / quic_secs,
        https_per_second: messages as f64 / https_secs,
        postcard_bytes: envelopes[0].encode().len(),
        json_bytes,
    })
}

async fn https_connection(
    connector: &tokio_rustls::TlsConnector,
    name: &rustls::pki_types::ServerName<'static>,
    addr: SocketAddr,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let tls = connector.connect(name.clone(), tcp).await?;
    let (tx, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    Ok(tx)
}
