//! Wire types and the QUIC transport between Renkei nodes.
//!
//! This crate is where the federation protocol will live (ALPN `renkei/1`,
//! postcard envelopes, durable outbox delivery); it holds no code yet. Node
//! identities and mutual-TLS configurations already exist in `renkei-ca`.
