//! Digest-based anti-entropy for a gossiping broadcast cluster.
//!
//! The tree is the architecture (ARCHITECTURE.md has the map):
//! - [`core`]: the I/O-free core, from the set digest up to the node state
//!   machine and its two overlays;
//! - [`sim`]: the deterministic cluster simulator, which drives many core
//!   nodes in virtual time;
//! - [`shell`]: the adapters that put the core to work (stdio framing, the
//!   Maelstrom node, the command line, the wasm facade); `src/main.rs` is
//!   the native binary over them.

pub mod core;
pub mod shell;
pub mod sim;

pub use crate::core::ack::AckPolicy;
pub use crate::core::config::{NodeConfig, Overlay, Protocol};
pub use crate::core::fingerprint::{Fingerprint, SetDigest};
pub use crate::core::node::Node;
pub use crate::core::set::MessageSet;
pub use crate::core::wire::{MessageKind, StatsReport};
