//! The I/O-free core: everything a node decides, and nothing about how its
//! bytes travel or what time it is.
//!
//! Layered bottom to top; a module uses only those above it in this list:
//! - [`fingerprint`]: the homomorphic set digest;
//! - [`coding`]: coded symbols and odd sketches, linear summaries of values;
//! - [`pinsketch`]: power sums in GF(2^64), which decode small differences
//!   exactly;
//! - [`set`]: the message set, a B+ tree with one fingerprint of the whole set;
//! - [`reconcile`]: set reconciliation that moves only the difference;
//! - [`wire`]: message types and their one canonical encoding;
//! - [`rng`]: the one source of randomness, seeded from outside;
//! - [`ack`]: the broadcasts waiting for replication (`broadcast_ok` policy);
//! - [`config`]: what a node is told to run;
//! - [`overlay`]: the interface between a node and its overlay;
//! - [`repair`]: the repair exchanges both overlays share;
//! - [`star`] and [`epidemic`]: the two overlays that carry node-to-node
//!   traffic;
//! - [`node`]: the state machine the shells and the simulator drive.
//!
//! Nothing here reads a clock, touches stdin/stdout or files, sleeps, spawns
//! threads or draws randomness of its own (`tests/architecture.rs` checks).

pub mod ack;
pub mod coding;
pub mod config;
pub mod epidemic;
pub mod fingerprint;
pub mod overlay;
pub mod pinsketch;
pub mod node;
pub mod reconcile;
pub mod repair;
pub mod rng;
pub mod set;
pub mod star;
pub mod wire;
