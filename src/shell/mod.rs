//! The shells: thin adapters that put the core to work. They own what the
//! core must not touch (stdio, the clock, threads, argument parsing, the JS
//! boundary) and make no protocol decision of their own.
//!
//! - [`stdio`]: newline framing over stdin/stdout, with timers;
//! - [`maelstrom`]: the Maelstrom node, a [`stdio::LineService`] over a
//!   [`crate::Node`];
//! - [`cli`]: `anti-entropy simulate`, the simulator on the command line;
//! - [`wasm`]: the wasm-bindgen facade the page in `www/` drives.

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub mod maelstrom;
#[cfg(not(target_arch = "wasm32"))]
pub mod stdio;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
