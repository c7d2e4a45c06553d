//! The federation's certificate authority: node identities as X.509
//! certificates, revocation lists, and the mutual-TLS configurations that
//! nodes use to talk to each other.

pub mod node_id;
