//! The Maelstrom shell: JSON lines on stdin, JSON lines on stdout, logs on
//! stderr. Framing, the clock and the buffering policy are
//! [`crate::shell::stdio`]'s; this adapter only connects them to a [`Node`]:
//! every decision is the core's.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use crate::AckPolicy;
use crate::Overlay;
use crate::NodeConfig;
use crate::shell::stdio::{self, LineService};
use crate::core::wire;
use crate::Node;

/// The environment variables that set what the flags set, for when the node
/// cannot be given flags (`maelstrom test --bin` takes a path only).
pub const ACK_ENV_VAR: &str = "ANTI_ENTROPY_ACK";
pub const OVERLAY_ENV_VAR: &str = "ANTI_ENTROPY_OVERLAY";

/// A flag's value, else its environment variable's, else the default.
fn setting<T: std::str::FromStr<Err = String> + Default>(flag: Option<T>, variable: &str) -> Result<T, String> {
    match flag {
        Some(value) => Ok(value),
        None => match std::env::var(variable) {
            Ok(text) => text.parse().map_err(|e| format!("{variable}: {e}")),
            Err(_) => Ok(T::default()),
        },
    }
}

/// Runs the node; the flags (`--ack`, `--overlay`) win over the variables.
pub fn run(ack: Option<AckPolicy>, overlay: Option<Overlay>) -> ExitCode {
    let settings = setting(ack, ACK_ENV_VAR).and_then(|ack| Ok((ack, setting(overlay, OVERLAY_ENV_VAR)?)));
    let (ack, overlay) = match settings {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("anti-entropy: {e}");
            return ExitCode::from(2);
        }
    };
    let node = Node::with_config(NodeConfig { ack, overlay, ..NodeConfig::default() });
    if io::stdin().is_terminal() {
        eprintln!(
            "anti-entropy: Maelstrom node reading JSON lines on stdin (try `anti-entropy simulate --help`, or run under `maelstrom test -w broadcast`)"
        );
    }
    match stdio::serve_lines(&mut MaelstromNode(node)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anti-entropy: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A node served over stdin/stdout.
struct MaelstromNode(Node);

impl MaelstromNode {
    /// Encodes everything the node wants to send, one line each.
    fn drain_outputs(&mut self, out: &mut Vec<u8>) {
        self.0.for_each_output(|envelope| {
            wire::write_json(&mut *out, envelope).expect("writing to a Vec cannot fail");
            out.push(b'\n');
        });
    }
}

impl LineService for MaelstromNode {
    fn handle_line(&mut self, now_ms: u64, line: &[u8], out: &mut Vec<u8>) {
        if let Err(reason) = self.0.handle_input(now_ms, wire::decode(line)) {
            eprintln!("anti-entropy: skipped input line: {reason}");
        }
        self.drain_outputs(out);
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.0.poll_timeout()
    }

    fn handle_timeout(&mut self, now_ms: u64, out: &mut Vec<u8>) {
        self.0.handle_timeout(now_ms);
        self.drain_outputs(out);
    }
}
