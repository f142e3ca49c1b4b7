//! The wasm shell: a thin wasm-bindgen facade over the simulator for the
//! teaching page in `www/`.
//!
//! Nothing is re-implemented here: every message, digest and byte count comes
//! from the same [`crate::sim::Simulation`] the native tests and CLI run, so a
//! seed replays the same way in the browser and natively. "Bytes full state
//! would have sent" is what a real full-state run of the same scenario sent
//! (see [`crate::sim::ShadowedSimulation`]). The facade only
//! converts values at the JS boundary: numbers arrive as `f64` (a JS number)
//! and are checked before they become `u64`/`i64`/`usize`, and results leave
//! as plain JS objects through serde-wasm-bindgen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::core::config::Overlay;
use crate::core::config::Protocol;
use crate::core::wire::MessageKind;
use crate::sim::{self, KindTotals, ShadowedSimulation, SimConfig, TopologyKind, TraceEvent};

/// The largest integer a JS number holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Most nodes the page draws; the simulator itself has no such limit.
const MAX_NODE_COUNT: usize = 64;

/// Most values a page run may start with on every node.
const MAX_INITIAL_VALUES: u64 = 10_000;

/// What the page may configure. Everything else keeps the simulator's
/// defaults, so a page link stays valid when the simulator grows options.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct PageConfig {
    pub node_count: usize,
    pub seed: u64,
    pub protocol: Protocol,
    pub loss_probability: f64,
    /// `star` or `epidemic`.
    pub overlay: Overlay,
    /// The peer graph the epidemic overlay gossips along.
    pub topology: TopologyKind,
    /// Epidemic overlay: whether new values are pushed on (off: the rounds
    /// alone spread them, round by round).
    pub eager_push: bool,
    /// Values every node starts with, in sync.
    pub initial_values: u64,
}

impl Default for PageConfig {
    fn default() -> Self {
        let defaults = SimConfig::default();
        PageConfig {
            node_count: defaults.node_count,
            seed: defaults.seed,
            protocol: defaults.protocol,
            loss_probability: defaults.loss_probability,
            overlay: defaults.overlay,
            topology: defaults.topology,
            eager_push: defaults.eager_push,
            initial_values: defaults.initial_values,
        }
    }
}

impl PageConfig {
    fn validate(&self) -> Result<(), String> {
        if !(2..=MAX_NODE_COUNT).contains(&self.node_count) {
            return Err(format!("node_count must be between 2 and {MAX_NODE_COUNT}, got {}", self.node_count));
        }
        if !(0.0..=1.0).contains(&self.loss_probability) {
            return Err(format!("loss_probability must be between 0 and 1, got {}", self.loss_probability));
        }
        if self.initial_values > MAX_INITIAL_VALUES {
            return Err(format!("initial_values must be at most {MAX_INITIAL_VALUES}, got {}", self.initial_values));
        }
        Ok(())
    }

    fn to_sim_config(&self) -> SimConfig {
        SimConfig {
            node_count: self.node_count,
            seed: self.seed,
            protocol: self.protocol,
            loss_probability: self.loss_probability,
            overlay: self.overlay,
            topology: self.topology,
            eager_push: self.eager_push,
            initial_values: self.initial_values,
            ..SimConfig::default()
        }
    }
}

/// One message as the page animates it.
#[derive(Clone, Debug, Serialize)]
pub struct MessageView {
    pub send_ms: u64,
    pub deliver_ms: u64,
    pub from: usize,
    pub to: usize,
    pub kind: MessageKind,
    pub bytes: u64,
    pub dropped: bool,
    /// The network's second copy of the message before it.
    pub duplicate: bool,
}

impl From<TraceEvent> for MessageView {
    fn from(event: TraceEvent) -> Self {
        MessageView {
            send_ms: event.send_ms,
            deliver_ms: event.deliver_ms,
            from: event.from,
            to: event.to,
            kind: event.kind,
            bytes: event.bytes,
            dropped: event.dropped,
            duplicate: event.duplicate,
        }
    }
}

/// Cluster-wide counters, in the page's words.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TotalsView {
    /// Syncs whose digests matched, so no state moved.
    pub transfers_skipped: u64,
    /// Node-to-node bytes the nodes actually sent.
    pub bytes_sent: u64,
    /// Bytes the full-state protocol sent on the same scenario and actions
    /// (the shadow run; this run's own bytes when it is full state).
    pub bytes_full_state: u64,
    /// `bytes_full_state - bytes_sent` (negative when digests cost more).
    pub bytes_saved: i64,
    /// The older, per-message measure: the bytes of this run's own messages
    /// had each push, flush or digest carried the whole set instead.
    pub bytes_priced_as_whole_sets: u64,
    /// Node-to-node messages sent (lost ones included).
    pub messages_sent: u64,
    /// Wire bytes of every node-to-node message, pushes included.
    pub wire_bytes: u64,
    pub dropped_messages: u64,
    /// Node-to-node messages and bytes per kind.
    pub by_kind: BTreeMap<MessageKind, KindTotals>,
}

impl TotalsView {
    /// This run's totals, measured against `full_state_bytes_sent`.
    fn new(totals: sim::Totals, full_state_bytes_sent: u64) -> Self {
        TotalsView {
            transfers_skipped: totals.skipped,
            bytes_sent: totals.bytes_sent,
            bytes_full_state: full_state_bytes_sent,
            bytes_saved: full_state_bytes_sent as i64 - totals.bytes_sent as i64,
            bytes_priced_as_whole_sets: totals.bytes_full_state,
            messages_sent: totals.server_messages,
            wire_bytes: totals.server_bytes,
            dropped_messages: totals.dropped_messages,
            by_kind: totals.server_by_kind,
        }
    }
}

/// One node as the page draws and inspects it.
#[derive(Clone, Debug, Serialize)]
pub struct NodeView {
    pub id: String,
    pub count: u64,
    /// The first 12 hex digits of the set digest: enough to tell sets apart
    /// at a glance, short enough to read.
    pub digest_prefix: String,
    /// The hub this node pushes to and checks itself against.
    pub upstream: Option<String>,
    /// The nodes this node flushes to as their hub.
    pub followers: Vec<String>,
    /// Its overlay neighbours: the hub and the followers.
    pub peers: Vec<String>,
    pub stats: crate::core::wire::StatsReport,
}

/// What one animation frame needs after the simulator advanced.
#[derive(Clone, Debug, Serialize)]
pub struct FrameView {
    pub now_ms: u64,
    pub messages: Vec<MessageView>,
    pub totals: TotalsView,
    /// Set sizes per node, in node order (the canvas shades nodes by them).
    pub counts: Vec<u64>,
    /// The first hex digits of each node's set digest: equal badges, equal
    /// sets, which is the whole idea the page teaches.
    pub digest_badges: Vec<String>,
    /// Partition group per node: nodes with the same number can reach each
    /// other. Group 0 is node 0's; all zeros when nothing is cut.
    pub groups: Vec<usize>,
    /// Each node's hub in the gossip overlay (`None`: a root).
    pub upstream: Vec<Option<usize>>,
    /// Each node's count of skipped transfers (digest matched), so the page
    /// can mark the node where a check just saved a transfer.
    pub skipped: Vec<u64>,
    /// The peer graph the nodes were given, as links `[a, b]` with `a < b`
    /// (the epidemic overlay gossips along it; the star ignores it).
    pub peer_links: Vec<[usize; 2]>,
    /// Node-to-node messages each node has sent: the hub's load shows.
    pub messages_sent: Vec<u64>,
    pub converged: bool,
    /// Since when every node has held the same set (`None`: some differ).
    pub agreed_since_ms: Option<u64>,
}

/// Digest hex digits the inspector shows.
const DIGEST_PREFIX_LEN: usize = 12;

/// Digest hex digits drawn inside each node.
const DIGEST_BADGE_LEN: usize = 4;

/// Connected components of the network's uncut links, numbered in order of
/// their lowest node, so the page can draw who can still talk to whom
/// (however the cut was made: one node, random halves, several groups).
pub fn partition_groups(network: &sim::Network) -> Vec<usize> {
    let n = network.node_count();
    let mut groups = vec![usize::MAX; n];
    let mut next_group = 0;
    for start in 0..n {
        if groups[start] != usize::MAX {
            continue;
        }
        groups[start] = next_group;
        let mut stack = vec![start];
        while let Some(a) = stack.pop() {
            for (b, group) in groups.iter_mut().enumerate() {
                if *group == usize::MAX && !network.is_cut(a, b) {
                    *group = next_group;
                    stack.push(b);
                }
            }
        }
        next_group += 1;
    }
    groups
}

/// The index of a node named `n<i>` (the simulator's naming).
fn node_index(name: &str) -> Option<usize> {
    name.strip_prefix('n')?.parse().ok()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    // json_compatible: maps become plain objects, which the page indexes.
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("cannot convert to JS: {e}")))
}

/// A JS number that must be a whole, non-negative, exactly representable integer.
fn whole_number(name: &str, value: f64) -> Result<u64, JsError> {
    if value.fract() != 0.0 || !(0.0..=MAX_SAFE_INTEGER).contains(&value) {
        return Err(JsError::new(&format!("{name} must be a whole number between 0 and 2^53-1, got {value}")));
    }
    Ok(value as u64)
}

/// The simulator, as the page's `Simulation` class.
#[wasm_bindgen(js_name = Simulation)]
pub struct WasmSimulation {
    shadowed: ShadowedSimulation,
}

#[wasm_bindgen(js_class = Simulation)]
impl WasmSimulation {
    /// `config`: `{ node_count, seed, protocol: "full_state" | "digest" |
    /// "difference", loss_probability, overlay: "star" | "epidemic",
    /// topology, eager_push, initial_values }` (see [`PageConfig`]), every
    /// field optional.
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> Result<WasmSimulation, JsError> {
        let page_config: PageConfig = if config.is_undefined() || config.is_null() {
            PageConfig::default()
        } else {
            serde_wasm_bindgen::from_value(config).map_err(|e| JsError::new(&format!("bad config: {e}")))?
        };
        page_config.validate().map_err(|e| JsError::new(&e))?;
        Ok(WasmSimulation { shadowed: ShadowedSimulation::new(page_config.to_sim_config()) })
    }

    fn sim(&self) -> &sim::Simulation {
        self.shadowed.run()
    }

    fn totals_view(&self) -> TotalsView {
        TotalsView::new(self.sim().totals(), self.shadowed.full_state_bytes_sent())
    }

    #[wasm_bindgen(js_name = nowMs)]
    pub fn now_ms(&self) -> f64 {
        self.sim().now_ms() as f64
    }

    #[wasm_bindgen(js_name = nodeCount)]
    pub fn node_count(&self) -> usize {
        self.sim().node_count()
    }

    /// Advances virtual time to `t_ms` (no-op if already past it).
    #[wasm_bindgen(js_name = runUntil)]
    pub fn run_until(&mut self, t_ms: f64) -> Result<(), JsError> {
        let t_ms = whole_number("t_ms", t_ms)?;
        self.shadowed.run_until(t_ms);
        Ok(())
    }

    /// Advances to `t_ms` and returns everything a frame draws: the messages
    /// sent since the last call, totals, per-node set sizes, convergence.
    pub fn advance(&mut self, t_ms: f64) -> Result<JsValue, JsError> {
        let t_ms = whole_number("t_ms", t_ms)?;
        self.shadowed.run_until(t_ms);
        let messages = self.shadowed.drain_trace().into_iter().map(MessageView::from).collect();
        to_js(&self.frame(messages))
    }

    /// The frame as of now, without running anything: after an action the
    /// page redraws at once, and calling `run_until` here would interleave
    /// with actions differently from a replay of the same scenario.
    pub fn snapshot(&self) -> Result<JsValue, JsError> {
        to_js(&self.frame(Vec::new()))
    }

    /// Advances to `t_ms` without handing the messages to JS (they are
    /// dropped unseen), and returns the totals: for jumps, where only the
    /// counters and the chart matter and serialising every message would
    /// cost more than simulating it.
    #[wasm_bindgen(js_name = fastForward)]
    pub fn fast_forward(&mut self, t_ms: f64) -> Result<JsValue, JsError> {
        let t_ms = whole_number("t_ms", t_ms)?;
        self.shadowed.run_until(t_ms);
        self.shadowed.drain_trace();
        self.totals()
    }

    /// A client broadcast of `value` to node `node`, now.
    pub fn broadcast(&mut self, node: usize, value: f64) -> Result<(), JsError> {
        self.check_node(node)?;
        let value = whole_number("value", value)?;
        self.shadowed.broadcast(node, value as i64);
        Ok(())
    }

    /// Cuts `nodes` off from the rest of the cluster.
    pub fn isolate(&mut self, nodes: Vec<usize>) -> Result<(), JsError> {
        for &node in &nodes {
            self.check_node(node)?;
        }
        self.shadowed.isolate(&nodes);
        Ok(())
    }

    /// Restores every link of `node` (other cuts stay).
    pub fn reconnect(&mut self, node: usize) -> Result<(), JsError> {
        self.check_node(node)?;
        self.shadowed.reconnect(node);
        Ok(())
    }

    /// Cuts the cluster into two halves the simulator picks from its seed.
    #[wasm_bindgen(js_name = splitHalves)]
    pub fn split_halves(&mut self) {
        self.shadowed.split_halves();
    }

    pub fn heal(&mut self) {
        self.shadowed.heal();
    }

    /// Messages sent since the last drain.
    #[wasm_bindgen(js_name = drainTrace)]
    pub fn drain_trace(&mut self) -> Result<JsValue, JsError> {
        let messages: Vec<MessageView> = self.shadowed.drain_trace().into_iter().map(MessageView::from).collect();
        to_js(&messages)
    }

    pub fn node(&self, node: usize) -> Result<JsValue, JsError> {
        self.check_node(node)?;
        let n = self.sim().node(node);
        let digest = n.set().digest().to_hex();
        let upstream = n.upstream().map(str::to_string);
        let followers: Vec<String> = n.followers().into_iter().map(str::to_string).collect();
        let view = NodeView {
            id: n.id().to_string(),
            count: n.set().len() as u64,
            digest_prefix: digest[..DIGEST_PREFIX_LEN].to_string(),
            peers: upstream.iter().chain(&followers).cloned().collect(),
            upstream,
            followers,
            stats: n.stats(),
        };
        to_js(&view)
    }

    pub fn totals(&self) -> Result<JsValue, JsError> {
        to_js(&self.totals_view())
    }

    pub fn converged(&self) -> bool {
        self.sim().converged()
    }

    fn frame(&self, messages: Vec<MessageView>) -> FrameView {
        let node_count = self.sim().node_count();
        let node = |i: usize| self.sim().node(i);
        FrameView {
            now_ms: self.sim().now_ms(),
            messages,
            totals: self.totals_view(),
            counts: (0..node_count).map(|i| node(i).set().len() as u64).collect(),
            digest_badges: (0..node_count)
                .map(|i| node(i).set().digest().to_hex()[..DIGEST_BADGE_LEN].to_string())
                .collect(),
            groups: partition_groups(self.sim().network()),
            upstream: (0..node_count).map(|i| node(i).upstream().and_then(node_index)).collect(),
            skipped: (0..node_count).map(|i| node(i).stats().skipped).collect(),
            peer_links: self.sim().topology_links().into_iter().map(|(a, b)| [a, b]).collect(),
            messages_sent: self.sim().messages_sent_by_node(),
            converged: self.sim().converged(),
            agreed_since_ms: self.sim().agreed_since_ms(),
        }
    }

    fn check_node(&self, node: usize) -> Result<(), JsError> {
        if node >= self.sim().node_count() {
            return Err(JsError::new(&format!(
                "node {node} does not exist (the cluster has {})",
                self.sim().node_count()
            )));
        }
        Ok(())
    }
}
