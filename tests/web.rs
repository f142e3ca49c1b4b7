//! The wasm facade in a real browser (headless Chromium via
//! wasm-bindgen-test-runner; see .cargo/config.toml and scripts/wasm.sh test):
//!
//!     CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown --test web
//!     wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver -- --test web
#![cfg(target_arch = "wasm32")]

use anti_entropy::shell::wasm::WasmSimulation;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, Deserialize, PartialEq)]
struct Totals {
    transfers_skipped: u64,
    bytes_sent: u64,
    bytes_full_state: u64,
    bytes_saved: i64,
    messages_sent: u64,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Message {
    send_ms: u64,
    deliver_ms: u64,
    from: usize,
    to: usize,
    kind: String,
    bytes: u64,
    dropped: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Frame {
    now_ms: u64,
    messages: Vec<Message>,
    totals: Totals,
    counts: Vec<u64>,
    converged: bool,
}

#[derive(Debug, Deserialize)]
struct NodeView {
    id: String,
    count: u64,
    digest_prefix: String,
    upstream: Option<String>,
    followers: Vec<String>,
    peers: Vec<String>,
}

fn config(node_count: usize, seed: u64, protocol: &str, loss_probability: f64) -> JsValue {
    let json = format!(
        r#"{{"node_count": {node_count}, "seed": {seed}, "protocol": "{protocol}", "loss_probability": {loss_probability}}}"#
    );
    js_sys::JSON::parse(&json).expect("valid JSON")
}

fn simulation(node_count: usize, seed: u64, protocol: &str, loss_probability: f64) -> WasmSimulation {
    WasmSimulation::new(config(node_count, seed, protocol, loss_probability))
        .map_err(JsValue::from)
        .expect("valid config")
}

fn advance(sim: &mut WasmSimulation, t_ms: u64) -> Frame {
    let frame = sim.advance(t_ms as f64).map_err(JsValue::from).expect("advance");
    serde_wasm_bindgen::from_value(frame).expect("frame shape")
}

/// A scripted run: broadcasts, a partition, a heal. Returns every frame.
fn scripted_run(seed: u64, protocol: &str) -> Vec<Frame> {
    let mut sim = simulation(9, seed, protocol, 0.1);
    let mut frames = Vec::new();
    for (i, t_ms) in (0..6000).step_by(250).enumerate() {
        frames.push(advance(&mut sim, t_ms));
        match t_ms {
            500 | 750 => sim.broadcast(i % 9, t_ms as f64).map_err(JsValue::from).unwrap(),
            1000 => sim.isolate(vec![0, 1, 2]).map_err(JsValue::from).unwrap(),
            1250 => sim.broadcast(1, 7.0).map_err(JsValue::from).unwrap(),
            3000 => sim.heal(),
            _ => {}
        }
    }
    frames
}

#[wasm_bindgen_test]
fn one_seed_replays_identically() {
    let first = scripted_run(42, "difference");
    let second = scripted_run(42, "difference");
    assert!(first.iter().map(|f| f.messages.len()).sum::<usize>() > 0, "the run sent messages");
    assert_eq!(first, second);
    let other_seed = scripted_run(43, "difference");
    assert_ne!(first, other_seed, "a different seed gives a different run");
}

#[wasm_bindgen_test]
fn a_broadcast_reaches_every_node() {
    let mut sim = simulation(7, 3, "digest", 0.0);
    sim.broadcast(4, 1234.0).map_err(JsValue::from).unwrap();
    let frame = advance(&mut sim, 10_000);
    assert_eq!(frame.counts, vec![1; 7]);
    assert!(frame.converged);
    let nodes: Vec<NodeView> =
        (0..7).map(|i| serde_wasm_bindgen::from_value(sim.node(i).map_err(JsValue::from).unwrap()).unwrap()).collect();
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node.id, format!("n{i}"));
        assert_eq!(node.count, 1);
        assert_eq!(node.digest_prefix, nodes[0].digest_prefix, "equal sets, equal digests");
        assert!(!node.peers.is_empty(), "{} has overlay neighbours", node.id);
        // The overlay as the inspector shows it is consistent: a node's hub
        // counts it among its followers.
        if let Some(hub) = &node.upstream {
            let hub_index: usize = hub[1..].parse().unwrap();
            assert!(nodes[hub_index].followers.contains(&node.id), "{hub} flushes to {}", node.id);
        }
    }
}

#[wasm_bindgen_test]
fn counters_rise_and_digests_skip_transfers() {
    let mut sim = simulation(6, 8, "digest", 0.0);
    for value in 0..30 {
        sim.broadcast(value % 6, value as f64).map_err(JsValue::from).unwrap();
    }
    let early = advance(&mut sim, 2_000).totals;
    let later = advance(&mut sim, 10_000).totals;
    assert!(early.messages_sent > 0 && early.bytes_sent > 0);
    assert!(later.messages_sent > early.messages_sent);
    assert!(later.bytes_sent > early.bytes_sent);
    assert!(later.transfers_skipped > early.transfers_skipped, "in-sync peers skip transfers");
    assert_eq!(later.bytes_saved, later.bytes_full_state as i64 - later.bytes_sent as i64);
}

#[wasm_bindgen_test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(WasmSimulation::new(config(1, 1, "digest", 0.0)).is_err(), "one node");
    assert!(WasmSimulation::new(config(4, 1, "digest", 1.5)).is_err(), "loss above 1");
    assert!(WasmSimulation::new(js_sys::JSON::parse(r#"{"protocol": "carrier_pigeon"}"#).unwrap()).is_err());
    let mut sim = simulation(4, 1, "digest", 0.0);
    assert!(sim.broadcast(4, 1.0).is_err(), "node out of range");
    assert!(sim.broadcast(0, 0.5).is_err(), "value not whole");
    assert!(sim.run_until(-1.0).is_err(), "negative time");
    assert!(sim.isolate(vec![0, 9]).is_err(), "isolating a missing node");
}

#[wasm_bindgen_test]
fn fast_forward_counts_the_same_as_animated_frames() {
    let run = |fast: bool| {
        let mut sim = simulation(10, 5, "digest", 0.2);
        for value in 0..12 {
            sim.broadcast(value % 10, value as f64).map_err(JsValue::from).unwrap();
        }
        for t_ms in (100..=8000).step_by(100) {
            if fast {
                sim.fast_forward(t_ms as f64).map_err(JsValue::from).unwrap();
            } else {
                advance(&mut sim, t_ms);
            }
        }
        let totals: Totals = serde_wasm_bindgen::from_value(sim.totals().map_err(JsValue::from).unwrap()).unwrap();
        (totals, advance(&mut sim, 8000).counts)
    };
    let (animated, animated_counts) = run(false);
    let (fast, fast_counts) = run(true);
    assert!(animated.messages_sent > 0);
    assert_eq!(animated, fast);
    assert_eq!(animated_counts, fast_counts);
}
