//! Digest-based anti-entropy for a gossiping broadcast cluster.
//!
//! The crate is an I/O-free core (message set, fingerprints, wire encoding,
//! node state machine, simulator) with thin shells around it: the native
//! Maelstrom binary (`src/main.rs`, framing in `stdio`) and the wasm facade
//! (`wasm`). See ARCHITECTURE.md for the map.

pub mod ack;
pub mod epidemic;
pub mod fingerprint;
pub mod gossip;
pub mod node;
pub mod reconcile;
pub mod rng;
pub mod set;
pub mod sim;
#[cfg(not(target_arch = "wasm32"))]
pub mod stdio;
pub mod wire;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use fingerprint::{Fingerprint, SetDigest};
pub use gossip::{MessageKind, NodeConfig, Protocol};
pub use node::{Node, StatsReport};
pub use set::MessageSet;
