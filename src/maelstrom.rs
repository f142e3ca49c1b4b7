//! The Maelstrom shell: JSON lines on stdin, JSON lines on stdout, logs on
//! stderr. Framing, the clock and the buffering policy are
//! [`anti_entropy::stdio`]'s; this adapter only connects them to a [`Node`]:
//! every decision is the core's.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use anti_entropy::ack::AckPolicy;
use anti_entropy::gossip::NodeConfig;
use anti_entropy::stdio::{self, LineService};
use anti_entropy::{wire, Node};

/// The environment variable that sets the acknowledgement policy when the
/// node cannot be given flags (`maelstrom test --bin` takes a path only).
pub const ACK_ENV_VAR: &str = "ANTI_ENTROPY_ACK";

/// Runs the node; `ack` is the `--ack` flag, which wins over the variable.
pub fn run(ack: Option<AckPolicy>) -> ExitCode {
    let ack = match ack {
        Some(ack) => ack,
        None => match std::env::var(ACK_ENV_VAR) {
            Ok(value) => match value.parse() {
                Ok(ack) => ack,
                Err(e) => {
                    eprintln!("anti-entropy: {ACK_ENV_VAR}: {e}");
                    return ExitCode::from(2);
                }
            },
            Err(_) => AckPolicy::default(),
        },
    };
    let node = Node::with_config(NodeConfig { ack, ..NodeConfig::default() });
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
