//! Replays a page scenario natively and prints what the page would show, as
//! JSON: the wasm/native parity test (tests/e2e/parity.test.mjs) runs the same
//! scenario through the wasm module and compares.
//!
//!     echo '{"nodes": 8, "seed": 3, "protocol": "digest", "loss": 0.1,
//!            "actions": [{"at": 0, "op": "b", "node": 2}], "until_ms": 5000}' \
//!       | cargo run --release --example replay
//!
//! Actions are the page's (see www/js/scenario.js): `b` broadcast (the k-th
//! carries value k), `i` isolate `nodes`, `r` reconnect `node` (restore all
//! its links), `s` split in halves, `h` heal. Each
//! is applied after `run_until(at)`, exactly as the page applies it.

use std::io::Read;
use std::process::ExitCode;

use anti_entropy::Overlay;
use anti_entropy::sim::{ShadowedSimulation, SimConfig, TopologyKind};
use anti_entropy::Protocol;
use serde::Deserialize;

#[derive(Deserialize)]
struct Scenario {
    nodes: usize,
    seed: u64,
    protocol: Protocol,
    #[serde(default)]
    loss: f64,
    #[serde(default)]
    overlay: Overlay,
    #[serde(default)]
    topology: TopologyKind,
    #[serde(default = "yes")]
    eager_push: bool,
    #[serde(default)]
    initial_values: u64,
    #[serde(default)]
    actions: Vec<Action>,
    until_ms: u64,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Action {
    at: u64,
    op: String,
    #[serde(default)]
    node: usize,
    #[serde(default)]
    nodes: Vec<usize>,
}

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("replay: cannot read stdin: {e}");
        return ExitCode::from(2);
    }
    let scenario: Scenario = match serde_json::from_str(&input) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("replay: bad scenario JSON: {e}");
            return ExitCode::from(2);
        }
    };
    // The page's figures: "full state would have sent" is a real full-state
    // run of the same scenario, as in the wasm facade.
    let mut sim = ShadowedSimulation::new(SimConfig {
        node_count: scenario.nodes,
        seed: scenario.seed,
        protocol: scenario.protocol,
        loss_probability: scenario.loss,
        overlay: scenario.overlay,
        topology: scenario.topology,
        eager_push: scenario.eager_push,
        initial_values: scenario.initial_values,
        ..SimConfig::default()
    });
    let mut broadcasts = 0;
    let mut messages = 0u64;
    let mut message_bytes = 0u64;
    let mut dropped = 0u64;
    let mut tally = |sim: &mut ShadowedSimulation| {
        for event in sim.drain_trace() {
            messages += 1;
            message_bytes += event.bytes;
            dropped += u64::from(event.dropped);
        }
    };
    for action in &scenario.actions {
        if action.at > scenario.until_ms {
            break;
        }
        sim.run_until(action.at);
        tally(&mut sim);
        let in_range = |n: usize| n < scenario.nodes;
        match action.op.as_str() {
            "b" if in_range(action.node) => {
                broadcasts += 1;
                sim.broadcast(action.node, broadcasts);
            }
            "i" if action.nodes.iter().all(|&n| in_range(n)) => sim.isolate(&action.nodes),
            "r" if in_range(action.node) => sim.reconnect(action.node),
            "s" => sim.split_halves(),
            "h" => sim.heal(),
            other => {
                eprintln!("replay: bad action {other:?} at {} ms", action.at);
                return ExitCode::from(2);
            }
        }
    }
    sim.run_until(scenario.until_ms);
    tally(&mut sim);
    let full_state_bytes_sent = sim.full_state_bytes_sent();
    let sim = sim.run();
    let totals = sim.totals();
    let nodes: Vec<_> = (0..sim.node_count())
        .map(|i| {
            let node = sim.node(i);
            serde_json::json!({ "count": node.set().len(), "digest": node.set().digest().to_hex() })
        })
        .collect();
    let out = serde_json::json!({
        "now_ms": sim.now_ms(),
        "totals": {
            "transfers_skipped": totals.skipped,
            "bytes_sent": totals.bytes_sent,
            "bytes_full_state": full_state_bytes_sent,
            "bytes_saved": full_state_bytes_sent as i64 - totals.bytes_sent as i64,
            "bytes_priced_as_whole_sets": totals.bytes_full_state,
            "messages_sent": totals.server_messages,
            "wire_bytes": totals.server_bytes,
            "dropped_messages": totals.dropped_messages,
            "by_kind": totals.server_by_kind,
        },
        "trace": { "messages": messages, "bytes": message_bytes, "dropped": dropped },
        "converged": sim.converged(),
        "nodes": nodes,
    });
    println!("{out}");
    ExitCode::SUCCESS
}
