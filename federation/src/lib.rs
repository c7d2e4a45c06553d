//! Wire types, the directory of nodes, and the QUIC transport between
//! Renkei nodes. Knows nothing of the node's store: the node hands it
//! envelopes to send and receives envelopes through [`transport::Inbox`].

pub mod authority;
pub mod directory;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod transport;
pub mod wire;

pub use directory::{Directory, NodeKind};
pub use transport::{CrlReload, Inbox, InboxError, SendError, Transport};
pub use wire::{Body, Envelope, Refusal, Reply, StatutoryReport};
