//! The native binary: with no arguments, a Maelstrom node on stdin/stdout;
//! with a subcommand, a command-line tool over the same core.
//!
//! On wasm32 the binary is empty: the crate is built for the browser as a
//! library, but `cargo test --target wasm32-unknown-unknown` still compiles
//! every target, and the shells need threads, stdio and clap.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use anti_entropy::shell::{cli, maelstrom};
    if std::env::args_os().len() <= 1 {
        // Maelstrom starts the node with no arguments: no parser needed.
        return maelstrom::run(None, None);
    }
    cli::run()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
