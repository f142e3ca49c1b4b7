//! A deterministic discrete-event simulator of a whole cluster.
//!
//! Many [`Node`]s (the very state machine the Maelstrom binary runs) live in
//! one process and talk through a simulated [`Network`] in virtual time.
//! Events sit in a priority queue ordered by `(time_ms, sequence number)`:
//! ties resolve in the order events were scheduled, and nothing depends on
//! how a caller chunks time, so `run_until(10_000)` and a hundred calls of
//! `run_until(k * 100)` produce the same run. All randomness flows from
//! [`SimConfig::seed`] through [`Rng`]; no clock, thread or I/O is touched,
//! so the same seed gives the same run natively and in wasm.
//!
//! The network is Maelstrom's (`maelstrom/net.clj`, `process.clj`):
//! - node-to-node messages take a delay drawn from the latency model;
//!   client links take none ("as if colocated with nodes"), are never cut,
//!   lost or duplicated;
//! - each node is fed by one delivery thread that takes the message due
//!   first, waits until it is due, hands it over, then looks again, so a
//!   client request that arrives while a node-to-node message is on its way
//!   to the same node waits behind it. This head-of-line wait is why a read
//!   sent just before a flush lands already sees the flushed values, and it
//!   moves Maelstrom's stable latencies by one network delay.
//!
//! Where the simulator departs from Maelstrom: whether a node-to-node
//! message is dropped (loss, or a cut link) is decided when it is sent
//! (Maelstrom checks the partition when the delivery thread takes it), and
//! nodes take no time to compute.

pub mod checker;
pub mod network;
pub mod shadow;
pub mod topology;
pub mod workload;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use serde::{Deserialize, Serialize};

use crate::core::ack::AckPolicy;
use crate::core::config::Overlay;
use crate::core::config::{NodeConfig, Protocol};
use crate::core::wire::MessageKind;
use crate::core::node::Node;
use crate::core::rng::Rng;
use crate::core::set::MessageSet;
use crate::core::wire::{self, Body, Envelope, Payload};

pub use checker::{check_set_full, History, Operation, Quantiles, SetFullResult};
pub use network::{LatencyModel, Network};
pub use shadow::ShadowedSimulation;
pub use topology::TopologyKind;
pub use workload::{JepsenTarget, Nemesis, PartitionKind, Workload};

/// Longest a final read may stay unanswered before `run_to_end` gives up on
/// it (it then counts as never answered; its values are not checked).
const FINAL_READ_TIMEOUT_MS: u64 = 60_000;

/// Everything that determines a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    pub node_count: usize,
    pub seed: u64,
    pub protocol: Protocol,
    /// When nodes answer `broadcast_ok` (see `ack`).
    pub ack: AckPolicy,
    /// Star (a hub) or epidemic (pairwise, along the topology).
    pub overlay: Overlay,
    /// The topology sent to nodes (the epidemic overlay's peer graph).
    pub topology: TopologyKind,
    /// Neighbours per node for the `random` topology.
    pub degree: usize,
    /// Epidemic overlay: the anti-entropy round interval.
    pub round_ms: u64,
    /// Epidemic overlay: whether new values are pushed on (off: rounds only).
    pub eager_push: bool,
    /// Values every node holds from the start, in sync (as if restored from
    /// one backup): -1, -2, ..., so they never collide with broadcast values.
    /// The savings of anti-entropy show at the set sizes where it matters.
    pub initial_values: u64,
    pub latency: LatencyModel,
    /// Chance that a node-to-node message is lost.
    pub loss_probability: f64,
    /// Chance that a node-to-node message is delivered twice.
    pub duplicate_probability: f64,
    /// Client operations to play; `None` for manual mode (the visualiser
    /// calls [`Simulation::broadcast`] and friends itself).
    pub workload: Option<Workload>,
    /// Scheduled partitions; `None` for none (manual cuts still work).
    pub nemesis: Option<Nemesis>,
    /// Whether to keep [`TraceEvent`]s for [`Simulation::drain_trace`]. Long
    /// command-line runs turn it off to save memory.
    pub record_trace: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            node_count: 5,
            seed: 0,
            protocol: Protocol::default(),
            ack: AckPolicy::default(),
            overlay: Overlay::default(),
            topology: TopologyKind::default(),
            degree: 4,
            round_ms: NodeConfig::default().round_ms,
            eager_push: true,
            initial_values: 0,
            latency: LatencyModel::default(),
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            workload: None,
            nemesis: None,
            record_trace: true,
        }
    }
}

impl SimConfig {
    /// The `anti-entropy simulate ...` command line that replays this run
    /// (manual-mode runs have no workload to replay; the command then plays
    /// an empty one).
    pub fn replay_command(&self) -> String {
        let mut cmd = format!(
            "anti-entropy simulate --nodes {} --protocol {} --latency-ms {} --latency-dist {} --loss {} --duplicate {}",
            self.node_count,
            self.protocol.name(),
            self.latency.mean_ms(),
            self.latency.name(),
            self.loss_probability,
            self.duplicate_probability,
        );
        match &self.workload {
            Some(w) => cmd += &format!(
                " --rate {} --seconds {} --read-fraction {} --quiet-ms {}",
                w.rate_per_s,
                w.duration_ms as f64 / 1000.0,
                w.read_fraction,
                w.quiet_period_ms
            ),
            None => cmd += " --rate 0",
        }
        if let Some(n) = &self.nemesis {
            cmd += &format!(" --nemesis {} --nemesis-interval-ms {}", n.kind.name(), n.interval_ms);
        }
        if self.ack != AckPolicy::Local {
            cmd += &format!(" --ack {}", self.ack.name());
        }
        if self.overlay != Overlay::Star {
            cmd += &format!(" --overlay {} --round-ms {}", self.overlay.name(), self.round_ms);
        }
        if !self.eager_push {
            cmd += " --no-eager-push";
        }
        if self.topology != TopologyKind::Grid {
            cmd += &format!(" --topology {}", self.topology.name());
        }
        if self.topology == TopologyKind::Random && self.degree != 4 {
            cmd += &format!(" --degree {}", self.degree);
        }
        if self.initial_values > 0 {
            cmd += &format!(" --initial-values {}", self.initial_values);
        }
        cmd += &format!(" --seed {}", self.seed);
        cmd
    }
}

/// One node-to-node message, for the visualiser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceEvent {
    pub send_ms: u64,
    /// Arrival time; for a dropped message, when it would have arrived.
    pub deliver_ms: u64,
    pub from: usize,
    pub to: usize,
    pub kind: MessageKind,
    /// The wire `type` (`"gossip"`, ...).
    pub message_type: &'static str,
    /// Encoded size, newline included.
    pub bytes: u64,
    /// Lost, or sent over a cut link.
    pub dropped: bool,
    /// The network's second copy of a message traced just before.
    pub duplicate: bool,
}

/// Messages and bytes of one [`MessageKind`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindTotals {
    pub messages: u64,
    pub bytes: u64,
}

/// Counters of a run so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Node-to-node messages sent (dropped ones and acks included; network
    /// duplicates not: the network made them, not a node).
    pub server_messages: u64,
    /// Wire bytes of those messages.
    pub server_bytes: u64,
    pub server_by_kind: BTreeMap<MessageKind, KindTotals>,
    /// Node-to-node messages the network dropped (loss or a cut link).
    pub dropped_messages: u64,
    /// Extra copies the network delivered.
    pub duplicated_messages: u64,
    /// Client operations invoked (broadcasts and reads, final reads included).
    pub client_ops: u64,
    pub broadcasts: u64,
    pub reads: u64,
    /// Inputs a node refused to act on (see `Node::handle_message`).
    pub ignored_inputs: u64,
    /// Sums of every node's `stats()`.
    pub skipped: u64,
    pub transferred: u64,
    pub syncs: u64,
    pub bytes_sent: u64,
    pub bytes_full_state: u64,
    pub bytes_saved: i64,
}

/// How long the cluster took to converge after one heal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealReport {
    /// When the last cut link was restored.
    pub heal_ms: u64,
    /// Time from the heal until every node held every value that any node
    /// held at the heal (`None`: not yet). Values broadcast after the heal
    /// do not count, so this is meaningful while clients keep writing; with
    /// no new writes it is the time until all digests are equal.
    pub converged_after_ms: Option<u64>,
}

/// How a crashed node was refilled after its restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefillReport {
    pub node: usize,
    /// When it came back (empty) and was sent `init`.
    pub restart_ms: u64,
    /// Values the other nodes held at the restart: what it must get back.
    pub values_to_refill: u64,
    /// Time from the restart until it held all of those (`None`: not yet).
    pub refilled_after_ms: Option<u64>,
    /// Node-to-node bytes it sent and received from the restart until then
    /// (so far, if not yet refilled).
    pub bytes: u64,
    /// It crashed again before it was refilled.
    pub interrupted: bool,
}

/// The checker's verdict and the run's costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub seed: u64,
    /// Virtual time the report was taken at.
    pub now_ms: u64,
    #[serde(flatten)]
    pub set_full: SetFullResult,
    /// Node-to-node messages per client operation (Maelstrom's
    /// `msgs-per-op` for servers).
    pub msgs_per_op: f64,
    /// Node-to-node wire bytes per client operation.
    pub bytes_per_op: f64,
    #[serde(flatten)]
    pub totals: Totals,
    pub heals: Vec<HealReport>,
    /// The longest `converged_after_ms` over heals (`None` if any heal has
    /// not converged, or there were none).
    pub max_heal_convergence_ms: Option<u64>,
    /// One entry per crash restart (`--nemesis crash`).
    pub refills: Vec<RefillReport>,
    /// Whether every node's digest is equal now.
    pub converged: bool,
    /// How the sending is spread over nodes: a hub's load shows here.
    pub node_load: NodeLoad,
    /// The command that replays this run.
    pub replay_command: String,
}

/// Node-to-node sending per node, over the whole run so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct NodeLoad {
    pub max_msgs_sent_per_s: f64,
    pub mean_msgs_sent_per_s: f64,
    pub max_bytes_sent_per_s: f64,
    pub mean_bytes_sent_per_s: f64,
}

/// Who receives a scheduled message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recipient {
    Node(usize),
    /// The client side of a node's replies.
    Client,
}

#[derive(Clone, Debug)]
enum NemesisAction {
    Start,
    Stop,
    Cut(usize, usize),
    Restore(usize, usize),
    Restart(usize),
}

#[derive(Clone, Debug)]
enum Event {
    Deliver { to: Recipient, envelope: Envelope },
    Timer { node: usize },
    ClientOp,
    WorkloadEnd,
    FinalReads,
    Nemesis(NemesisAction),
}

struct Scheduled {
    time_ms: u64,
    sequence: u64,
    event: Event,
}

// The heap is a max-heap: invert the order so the earliest (time, sequence)
// comes out first.
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time_ms, other.sequence).cmp(&(self.time_ms, self.sequence))
    }
}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time_ms, self.sequence) == (other.time_ms, other.sequence)
    }
}
impl Eq for Scheduled {}

/// A message waiting in a node's inbox for the node's delivery thread.
struct Inbound {
    due_ms: u64,
    sequence: u64,
    envelope: Envelope,
}

// A max-heap again: the earliest (due, sequence) comes out first.
impl Ord for Inbound {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due_ms, other.sequence).cmp(&(self.due_ms, self.sequence))
    }
}
impl PartialOrd for Inbound {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Inbound {
    fn eq(&self, other: &Self) -> bool {
        (self.due_ms, self.sequence) == (other.due_ms, other.sequence)
    }
}
impl Eq for Inbound {}

/// A client operation awaiting its reply.
#[derive(Clone, Debug)]
struct PendingOp {
    operation: Operation,
    is_final_read: bool,
}

/// A convergence watch opened at a heal.
#[derive(Clone, Debug)]
struct HealWatch {
    heal_ms: u64,
    /// Per node, the values it still lacks (sorted).
    missing: Vec<Vec<i64>>,
    converged_after_ms: Option<u64>,
}

/// A refill watch opened when a crashed node restarts.
#[derive(Clone, Debug)]
struct RefillWatch {
    report: RefillReport,
    /// The values it still lacks (sorted).
    missing: Vec<i64>,
}

/// A cluster in virtual time.
pub struct Simulation {
    config: SimConfig,
    nodes: Vec<Node>,
    node_names: Vec<String>,
    network: Network,
    network_rng: Rng,
    /// Per node, messages handed to the network and not yet taken by the
    /// node's delivery thread (see [`Simulation::enqueue_for_node`]).
    inbox: Vec<BinaryHeap<Inbound>>,
    /// Per node, whether its delivery thread holds a message it is waiting
    /// to hand over.
    delivering: Vec<bool>,
    workload_rng: Rng,
    nemesis_rng: Rng,
    queue: BinaryHeap<Scheduled>,
    next_sequence: u64,
    now_ms: u64,
    /// The time of each node's queued timer event, if any; queued timer
    /// events at other times are stale and skipped.
    timer_at: Vec<Option<u64>>,
    history: History,
    pending: BTreeMap<u64, PendingOp>,
    next_client_msg_id: u64,
    next_value: i64,
    trace: Vec<TraceEvent>,
    totals: Totals,
    heal_watches: Vec<HealWatch>,
    /// Set size of each node when the heal watches last looked.
    watched_len: Vec<usize>,
    /// The largest set size and how many nodes hold that many: every node
    /// does exactly when all sets may be equal, so agreement is checked
    /// only then (sets only grow, or empty in a crash).
    largest_len: usize,
    nodes_at_largest_len: usize,
    /// Since when every node's set has been the same (`None`: they differ).
    agreed_since_ms: Option<u64>,
    /// Links the rolling-links nemesis has cut, in cut order.
    rolling_cuts: Vec<(usize, usize)>,
    /// True once the workload ended: nemesis events still queued are void.
    nemesis_over: bool,
    final_reads_issued: bool,
    final_reads_pending: usize,
    /// Per node: crashed and not restarted yet.
    down: Vec<bool>,
    /// Per node: the node config it was built with (a restart reuses it).
    node_configs: Vec<NodeConfig>,
    /// Statistics of node incarnations lost in crashes, so totals keep them.
    crashed_stats: Vec<crate::core::wire::StatsReport>,
    refill_watches: Vec<RefillWatch>,
    /// The `topology` every node is sent (the same after a restart).
    topology: BTreeMap<String, Vec<String>>,
    /// Per node: node-to-node messages and bytes it sent (all incarnations).
    sent_by_node: Vec<(u64, u64)>,
}

impl Simulation {
    /// Builds the cluster, sends every node `init` and Maelstrom's grid
    /// `topology` at time 0, and schedules the workload and the nemesis.
    pub fn new(config: SimConfig) -> Simulation {
        let node_count = config.node_count.max(1);
        let mut root_rng = Rng::new(config.seed);
        let network_rng = root_rng.fork();
        let workload_rng = root_rng.fork();
        let nemesis_rng = root_rng.fork();
        let node_names: Vec<String> = (0..node_count).map(|i| format!("n{i}")).collect();
        // The struct update keeps this compiling as NodeConfig grows.
        #[allow(clippy::needless_update)]
        let node_configs: Vec<NodeConfig> = (0..node_count)
            .map(|_| NodeConfig {
                protocol: config.protocol,
                ack: config.ack,
                overlay: config.overlay,
                round_ms: config.round_ms,
                eager_push: config.eager_push,
                rng_seed: root_rng.next_u64(),
                ..NodeConfig::default()
            })
            .collect();
        let backup: MessageSet = (1..=config.initial_values as i64).map(|k| -k).collect();
        let nodes = node_configs
            .iter()
            .cloned()
            .map(|node_config| {
                let mut node = Node::with_config(node_config);
                node.restore(&backup);
                node
            })
            .collect();
        // Forked last, so the other streams keep their seeds.
        let topology = config.topology.build(&node_names, config.degree, &mut root_rng.fork());
        let network =
            Network::new(node_count, config.latency, config.loss_probability, config.duplicate_probability);
        let mut sim = Simulation {
            nodes,
            node_names,
            network,
            network_rng,
            inbox: (0..node_count).map(|_| BinaryHeap::new()).collect(),
            delivering: vec![false; node_count],
            workload_rng,
            nemesis_rng,
            queue: BinaryHeap::new(),
            next_sequence: 0,
            now_ms: 0,
            timer_at: vec![None; node_count],
            history: History::new(),
            pending: BTreeMap::new(),
            next_client_msg_id: 0,
            next_value: 0,
            trace: Vec::new(),
            totals: Totals::default(),
            heal_watches: Vec::new(),
            watched_len: vec![config.initial_values as usize; node_count],
            largest_len: config.initial_values as usize,
            nodes_at_largest_len: node_count,
            agreed_since_ms: Some(0),
            rolling_cuts: Vec::new(),
            nemesis_over: false,
            final_reads_issued: false,
            final_reads_pending: 0,
            down: vec![false; node_count],
            node_configs,
            crashed_stats: Vec::new(),
            refill_watches: Vec::new(),
            topology,
            sent_by_node: vec![(0, 0); node_count],
            config,
        };
        sim.config.node_count = node_count;
        sim.initialise_nodes();
        if let Some(workload) = sim.config.workload.clone() {
            sim.schedule(0, Event::ClientOp);
            sim.schedule(workload.duration_ms, Event::WorkloadEnd);
            sim.schedule(workload.duration_ms + workload.quiet_period_ms, Event::FinalReads);
        }
        if let Some(nemesis) = sim.config.nemesis.clone() {
            sim.schedule(nemesis.first_strike_ms(), Event::Nemesis(NemesisAction::Start));
        }
        sim
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Current virtual time.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// When the scheduled workload's final reads are issued, if there is a
    /// workload (for progress bars).
    pub fn planned_end_ms(&self) -> Option<u64> {
        self.config.workload.as_ref().map(|w| w.duration_ms + w.quiet_period_ms)
    }

    /// Processes every event with time `<= t_ms`, then sets the clock to
    /// `t_ms` (the clock never goes back).
    pub fn run_until(&mut self, t_ms: u64) {
        while self.queue.peek().is_some_and(|top| top.time_ms <= t_ms) {
            self.step();
        }
        self.now_ms = self.now_ms.max(t_ms);
    }

    /// Plays the workload to its end (or, in manual mode, starts at once),
    /// then the quiet period and one final read on every node, waits for
    /// their replies, and checks the history.
    pub fn run_to_end(&mut self) -> Report {
        if !self.final_reads_issued {
            match self.planned_end_ms() {
                Some(end_ms) => self.run_until(end_ms),
                None => self.issue_final_reads(),
            }
        }
        let deadline_ms = self.now_ms + FINAL_READ_TIMEOUT_MS;
        while self.final_reads_pending > 0 && self.queue.peek().is_some_and(|top| top.time_ms <= deadline_ms) {
            self.step();
        }
        self.report()
    }

    /// A client broadcast of `value` to `node`, reaching it now (manual mode).
    pub fn broadcast(&mut self, node: usize, value: i64) {
        if node < self.nodes.len() {
            self.client_request(node, Operation::Add(value), false);
        }
    }

    /// A client read of `node`, reaching it now (manual mode).
    pub fn read(&mut self, node: usize) {
        if node < self.nodes.len() {
            self.client_request(node, Operation::Read, false);
        }
    }

    /// Cuts every link between `nodes` and the other nodes.
    pub fn isolate(&mut self, nodes: &[usize]) {
        self.network.isolate(nodes);
    }

    /// Cuts the cluster into two random halves.
    pub fn split_halves(&mut self) {
        let half = network::random_half(self.nodes.len(), &mut self.nemesis_rng);
        self.network.isolate(&half);
    }

    /// Cuts or restores one link.
    pub fn set_link_cut(&mut self, a: usize, b: usize, cut: bool) {
        if a < self.nodes.len() && b < self.nodes.len() {
            let was_partitioned = self.network.is_partitioned();
            self.network.set_cut(a, b, cut);
            self.note_if_healed(was_partitioned);
        }
    }

    /// Restores every link (and starts timing convergence, if anything was
    /// cut).
    pub fn heal(&mut self) {
        let was_partitioned = self.network.is_partitioned();
        self.network.heal();
        self.note_if_healed(was_partitioned);
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Node-to-node messages sent since the last call (only when
    /// `record_trace` is on).
    pub fn drain_trace(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.trace)
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// Whether `node` has crashed and not restarted yet.
    pub fn is_down(&self, node: usize) -> bool {
        self.down.get(node).copied().unwrap_or(false)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The client history so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Counters so far, node statistics summed.
    pub fn totals(&self) -> Totals {
        let mut totals = self.totals.clone();
        let live = self.nodes.iter().map(Node::stats);
        for stats in self.crashed_stats.iter().cloned().chain(live) {
            totals.skipped += stats.skipped;
            totals.transferred += stats.transferred;
            totals.syncs += stats.syncs;
            totals.bytes_sent += stats.bytes_sent;
            totals.bytes_full_state += stats.bytes_full_state;
            totals.bytes_saved += stats.bytes_saved;
        }
        totals
    }

    /// Whether every node holds the same set (equal digests).
    /// Since when every node has held the same set (`None`: some differ
    /// now). Exact to the event, however the caller chunks time.
    pub fn agreed_since_ms(&self) -> Option<u64> {
        self.agreed_since_ms
    }

    pub fn converged(&self) -> bool {
        let first = self.nodes[0].set().fingerprint();
        self.nodes[1..].iter().all(|node| node.set().fingerprint() == first)
    }

    /// The checker's verdict on the history so far, with the run's costs.
    pub fn report(&self) -> Report {
        let totals = self.totals();
        let per_op = |x: u64| if totals.client_ops == 0 { 0.0 } else { x as f64 / totals.client_ops as f64 };
        let heals: Vec<HealReport> = self
            .heal_watches
            .iter()
            .map(|w| HealReport { heal_ms: w.heal_ms, converged_after_ms: w.converged_after_ms })
            .collect();
        let max_heal_convergence_ms = if heals.iter().all(|h| h.converged_after_ms.is_some()) {
            heals.iter().filter_map(|h| h.converged_after_ms).max()
        } else {
            None
        };
        Report {
            seed: self.config.seed,
            now_ms: self.now_ms,
            set_full: check_set_full(&self.history),
            msgs_per_op: per_op(totals.server_messages),
            bytes_per_op: per_op(totals.server_bytes),
            totals,
            heals,
            max_heal_convergence_ms,
            refills: self.refill_watches.iter().map(|w| w.report).collect(),
            converged: self.converged(),
            node_load: self.node_load(),
            replay_command: self.config.replay_command(),
        }
    }

    /// Node-to-node messages and bytes each node sent, per virtual second.
    pub fn node_load(&self) -> NodeLoad {
        let seconds = (self.now_ms.max(1)) as f64 / 1000.0;
        let n = self.sent_by_node.len().max(1) as f64;
        let max = |f: fn(&(u64, u64)) -> u64| self.sent_by_node.iter().map(f).max().unwrap_or(0) as f64 / seconds;
        let mean = |f: fn(&(u64, u64)) -> u64| self.sent_by_node.iter().map(f).sum::<u64>() as f64 / n / seconds;
        NodeLoad {
            max_msgs_sent_per_s: max(|s| s.0),
            mean_msgs_sent_per_s: mean(|s| s.0),
            max_bytes_sent_per_s: max(|s| s.1),
            mean_bytes_sent_per_s: mean(|s| s.1),
        }
    }

    /// Node-to-node messages each node sent so far (the page's load view).
    pub fn messages_sent_by_node(&self) -> Vec<u64> {
        self.sent_by_node.iter().map(|s| s.0).collect()
    }

    /// One node's own entry of the topology, all it reads of the message.
    fn own_topology_entry(&self, node: usize) -> BTreeMap<String, Vec<String>> {
        let name = &self.node_names[node];
        self.topology.get(name).map(|n| BTreeMap::from([(name.clone(), n.clone())])).unwrap_or_default()
    }

    /// The peer graph nodes were given, as sorted undirected links.
    pub fn topology_links(&self) -> Vec<(usize, usize)> {
        let mut links = Vec::new();
        for (a, name) in self.node_names.iter().enumerate() {
            for neighbour in self.topology.get(name).into_iter().flatten() {
                if let Some(b) = self.node_index(neighbour) {
                    if a < b {
                        links.push((a, b));
                    }
                }
            }
        }
        links
    }

    // ---- event processing ----

    fn schedule(&mut self, time_ms: u64, event: Event) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.queue.push(Scheduled { time_ms, sequence, event });
    }

    /// Pops and handles the earliest event.
    fn step(&mut self) {
        let Some(Scheduled { time_ms, event, .. }) = self.queue.pop() else { return };
        self.now_ms = self.now_ms.max(time_ms);
        match event {
            Event::Deliver { to: Recipient::Node(node), envelope } => {
                self.deliver_to_node(node, envelope);
                self.take_next_inbound(node);
            }
            Event::Deliver { to: Recipient::Client, envelope } => self.deliver_to_client(envelope),
            Event::Timer { node } => self.fire_timer(node, time_ms),
            Event::ClientOp => self.workload_op(),
            Event::WorkloadEnd => {
                self.nemesis_over = true;
                self.heal();
                for node in 0..self.nodes.len() {
                    self.restart(node);
                }
            }
            Event::FinalReads => self.issue_final_reads(),
            Event::Nemesis(action) => self.nemesis_action(action),
        }
    }

    fn deliver_to_node(&mut self, node: usize, envelope: Envelope) {
        if self.down[node] {
            // A crashed process reads nothing: the message is lost.
            if self.node_index(&envelope.src).is_some() {
                self.totals.dropped_messages += 1;
            }
            return;
        }
        if self.nodes[node].handle_message(self.now_ms, envelope).is_err() {
            self.totals.ignored_inputs += 1;
        }
        self.after_node_activity(node);
    }

    fn fire_timer(&mut self, node: usize, time_ms: u64) {
        if self.timer_at[node] != Some(time_ms) || self.down[node] {
            return; // superseded by a later reschedule
        }
        self.timer_at[node] = None;
        if self.nodes[node].poll_timeout().is_some_and(|deadline| deadline <= self.now_ms) {
            self.nodes[node].handle_timeout(self.now_ms);
        }
        self.after_node_activity(node);
    }

    /// Routes what `node` wants to send, re-arms its timer and updates the
    /// convergence watches.
    fn after_node_activity(&mut self, node: usize) {
        while let Some(envelope) = self.nodes[node].poll_output() {
            self.route(node, envelope);
        }
        if let Some(deadline) = self.nodes[node].poll_timeout() {
            // A deadline already due runs one millisecond later, so a node
            // that keeps asking for "now" cannot stall virtual time.
            let at = if deadline <= self.now_ms { self.now_ms + 1 } else { deadline };
            if self.timer_at[node] != Some(at) {
                self.timer_at[node] = Some(at);
                self.schedule(at, Event::Timer { node });
            }
        } else {
            self.timer_at[node] = None;
        }
        self.update_heal_watches(node);
    }

    fn route(&mut self, from: usize, envelope: Envelope) {
        match self.node_index(&envelope.dest) {
            Some(to) => self.send_between_nodes(from, to, envelope),
            None => {
                // Maelstrom gives client links no latency ("as if colocated
                // with nodes"), and a client reads only its own replies.
                self.schedule(self.now_ms, Event::Deliver { to: Recipient::Client, envelope });
            }
        }
    }

    fn send_between_nodes(&mut self, from: usize, to: usize, envelope: Envelope) {
        let kind = envelope.body.payload.kind();
        let message_type = envelope.body.payload.type_name();
        let bytes = wire::wire_len(&envelope);
        for watch in self.refill_watches.iter_mut().filter(|w| w.report.refilled_after_ms.is_none() && !w.report.interrupted) {
            if watch.report.node == from || watch.report.node == to {
                watch.report.bytes += bytes;
            }
        }
        let delivery = self.network.send(self.now_ms, from, to, &mut self.network_rng);
        self.sent_by_node[from].0 += 1;
        self.sent_by_node[from].1 += bytes;
        self.totals.server_messages += 1;
        self.totals.server_bytes += bytes;
        let by_kind = self.totals.server_by_kind.entry(kind).or_default();
        by_kind.messages += 1;
        by_kind.bytes += bytes;
        self.totals.dropped_messages += u64::from(delivery.dropped);
        let trace = TraceEvent {
            send_ms: self.now_ms,
            deliver_ms: delivery.deliver_ms,
            from,
            to,
            kind,
            message_type,
            bytes,
            dropped: delivery.dropped,
            duplicate: false,
        };
        if let Some(duplicate_ms) = delivery.duplicate_ms {
            self.totals.duplicated_messages += 1;
            self.enqueue_for_node(to, duplicate_ms, envelope.clone());
            if self.config.record_trace {
                self.trace.push(trace.clone());
                self.trace.push(TraceEvent { deliver_ms: duplicate_ms, duplicate: true, ..trace });
            }
        } else if self.config.record_trace {
            self.trace.push(trace);
        }
        if !delivery.dropped {
            self.enqueue_for_node(to, delivery.deliver_ms, envelope);
        }
    }

    /// Hands `envelope` to `to`'s delivery thread, due at `due_ms`.
    ///
    /// Maelstrom feeds each node from one thread: it takes the message due
    /// first, sleeps until it is due, writes it to the node's stdin, and only
    /// then looks again. A message that arrives meanwhile waits, even one due
    /// earlier, such as a client request (client links have no latency): a
    /// read sent while a flush is on its way is answered after the flush.
    /// This head-of-line wait is part of the latencies Maelstrom reports, so
    /// the simulator keeps it.
    fn enqueue_for_node(&mut self, to: usize, due_ms: u64, envelope: Envelope) {
        if self.delivering[to] {
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            self.inbox[to].push(Inbound { due_ms, sequence, envelope });
        } else {
            self.delivering[to] = true;
            self.schedule(due_ms.max(self.now_ms), Event::Deliver { to: Recipient::Node(to), envelope });
        }
    }

    /// The delivery thread of `node`, having handed a message over, takes
    /// the next one due, if any.
    fn take_next_inbound(&mut self, node: usize) {
        match self.inbox[node].pop() {
            Some(next) => {
                let at_ms = next.due_ms.max(self.now_ms);
                self.schedule(at_ms, Event::Deliver { to: Recipient::Node(node), envelope: next.envelope });
            }
            None => self.delivering[node] = false,
        }
    }

    fn node_index(&self, name: &str) -> Option<usize> {
        let index: usize = name.strip_prefix('n')?.parse().ok()?;
        (index < self.nodes.len() && self.node_names[index] == name).then_some(index)
    }

    // ---- clients ----

    fn client_request(&mut self, node: usize, operation: Operation, is_final_read: bool) {
        let msg_id = self.next_client_msg_id;
        self.next_client_msg_id += 1;
        let payload = match operation {
            Operation::Add(message) => {
                self.totals.broadcasts += 1;
                Payload::Broadcast { message }
            }
            Operation::Read => {
                self.totals.reads += 1;
                Payload::Read
            }
        };
        self.totals.client_ops += 1;
        self.history.invoke(self.now_ms, msg_id, operation.clone());
        self.pending.insert(msg_id, PendingOp { operation, is_final_read });
        let envelope = Envelope {
            src: compact_str::format_compact!("c{node}"),
            dest: self.node_names[node].as_str().into(),
            body: Body { payload, in_reply_to: None, msg_id: Some(msg_id) },
        };
        self.enqueue_for_node(node, self.now_ms, envelope);
    }

    fn deliver_to_client(&mut self, envelope: Envelope) {
        let Some(op) = envelope.body.in_reply_to.and_then(|id| self.pending.remove(&id).map(|op| (id, op))) else {
            return; // init_ok, topology_ok, or a duplicate reply
        };
        let (op_id, op) = op;
        match (&op.operation, envelope.body.payload) {
            (Operation::Add(value), Payload::BroadcastOk) => self.history.add_ok(self.now_ms, op_id, *value),
            (Operation::Read, Payload::ReadOk { messages }) => self.history.read_ok(self.now_ms, op_id, messages),
            _ => {} // an error reply: the operation failed and is not recorded
        }
        if op.is_final_read {
            self.final_reads_pending -= 1;
        }
    }

    fn workload_op(&mut self) {
        let Some(workload) = self.config.workload.clone() else { return };
        let node = self.workload_rng.index(self.nodes.len());
        let operation = if self.workload_rng.chance(workload.read_fraction) {
            Operation::Read
        } else {
            let value = self.next_value;
            self.next_value += 1;
            Operation::Add(value)
        };
        self.client_request(node, operation, false);
        let next_ms = self.now_ms + workload.next_gap_ms(&mut self.workload_rng);
        if next_ms < workload.duration_ms {
            self.schedule(next_ms, Event::ClientOp);
        }
    }

    fn issue_final_reads(&mut self) {
        self.final_reads_issued = true;
        for node in 0..self.nodes.len() {
            self.final_reads_pending += 1;
            self.client_request(node, Operation::Read, true);
        }
    }

    fn initialise_nodes(&mut self) {
        for node in 0..self.nodes.len() {
            self.initialise_node(node);
        }
    }

    /// Sends `node` Maelstrom's `init` and grid `topology`.
    fn initialise_node(&mut self, node: usize) {
        let messages = [
            Payload::Init { node_id: self.node_names[node].clone(), node_ids: self.node_names.clone() },
            // Maelstrom sends every node the whole map; a node reads only its
            // own entry, so the simulator sends just that (a total topology of
            // 1000 nodes would otherwise cost a billion names).
            Payload::Topology { topology: self.own_topology_entry(node) },
        ];
        for payload in messages {
            let msg_id = self.next_client_msg_id;
            self.next_client_msg_id += 1;
            let envelope = Envelope {
                src: "c-setup".into(),
                dest: self.node_names[node].as_str().into(),
                body: Body { payload, in_reply_to: None, msg_id: Some(msg_id) },
            };
            self.deliver_to_node(node, envelope);
        }
    }

    // ---- nemesis and convergence ----

    fn nemesis_action(&mut self, action: NemesisAction) {
        let Some(nemesis) = self.config.nemesis.clone() else { return };
        if self.nemesis_over {
            return;
        }
        match action {
            NemesisAction::Start => {
                match nemesis.kind.pick(&mut self.nemesis_rng) {
                    PartitionKind::IsolateOne => {
                        let node = self.nemesis_rng.index(self.nodes.len());
                        self.network.isolate(&[node]);
                    }
                    PartitionKind::Crash => {
                        let node = self.nemesis_rng.index(self.nodes.len());
                        self.crash(node);
                        self.schedule(self.now_ms + nemesis.crash_pause_ms(), Event::Nemesis(NemesisAction::Restart(node)));
                    }
                    PartitionKind::RollingLinks => {
                        let mut links = self.network.all_links();
                        self.nemesis_rng.shuffle(&mut links);
                        links.truncate(links.len().div_ceil(2));
                        let step_ms = (nemesis.interval_ms / 2) / links.len().max(1) as u64;
                        for (i, &(a, b)) in links.iter().enumerate() {
                            self.schedule(self.now_ms + i as u64 * step_ms, Event::Nemesis(NemesisAction::Cut(a, b)));
                        }
                    }
                    PartitionKind::Maelstrom => {
                        let target = JepsenTarget::ALL[self.nemesis_rng.index(JepsenTarget::ALL.len())];
                        for (a, b) in target.cut_links(self.nodes.len(), &mut self.nemesis_rng) {
                            self.network.set_cut(a, b, true);
                        }
                    }
                    _ => self.split_halves(),
                }
                let gap_ms = nemesis.gap_ms(&mut self.nemesis_rng);
                self.schedule(self.now_ms + gap_ms, Event::Nemesis(NemesisAction::Stop));
            }
            NemesisAction::Stop => {
                if self.rolling_cuts.is_empty() {
                    self.heal();
                } else {
                    let mut links = std::mem::take(&mut self.rolling_cuts);
                    self.nemesis_rng.shuffle(&mut links);
                    let step_ms = (nemesis.interval_ms / 2) / links.len() as u64;
                    for (i, &(a, b)) in links.iter().enumerate() {
                        self.schedule(self.now_ms + i as u64 * step_ms, Event::Nemesis(NemesisAction::Restore(a, b)));
                    }
                }
                let gap_ms = nemesis.gap_ms(&mut self.nemesis_rng);
                self.schedule(self.now_ms + gap_ms, Event::Nemesis(NemesisAction::Start));
            }
            NemesisAction::Cut(a, b) => {
                self.network.set_cut(a, b, true);
                self.rolling_cuts.push((a, b));
            }
            NemesisAction::Restore(a, b) => self.set_link_cut(a, b, false),
            NemesisAction::Restart(node) => self.restart(node),
        }
    }

    /// `node` loses everything it held, as a killed process does. Replies it
    /// had already sent are in the network and still arrive.
    pub fn crash(&mut self, node: usize) {
        if node >= self.nodes.len() || self.down[node] {
            return;
        }
        for watch in self.refill_watches.iter_mut().filter(|w| w.report.node == node) {
            watch.report.interrupted |= watch.report.refilled_after_ms.is_none();
        }
        self.crashed_stats.push(self.nodes[node].stats());
        self.nodes[node] = Node::with_config(self.node_configs[node].clone());
        self.down[node] = true;
        // Values that only the crashed node held are gone from the cluster:
        // a node being refilled can no longer get them, so they leave its
        // target (the checker reports them as lost if they were acknowledged).
        let (nodes, down) = (&self.nodes, &self.down);
        for watch in self.refill_watches.iter_mut().filter(|w| w.report.refilled_after_ms.is_none()) {
            let target = watch.report.node;
            watch.missing.retain(|&v| (0..nodes.len()).any(|i| i != target && !down[i] && nodes[i].set().contains(v)));
            if watch.missing.is_empty() && !watch.report.interrupted {
                watch.report.refilled_after_ms = Some(self.now_ms - watch.report.restart_ms);
            }
        }
        // The same for convergence after a heal: what no live node holds
        // any more cannot arrive.
        for watch in self.heal_watches.iter_mut().filter(|w| w.converged_after_ms.is_none()) {
            for (target, missing) in watch.missing.iter_mut().enumerate() {
                missing.retain(|&v| (0..nodes.len()).any(|i| i != target && !down[i] && nodes[i].set().contains(v)));
            }
            if watch.missing.iter().all(Vec::is_empty) {
                watch.converged_after_ms = Some(self.now_ms - watch.heal_ms);
            }
        }
        self.timer_at[node] = None;
        let old_len = self.watched_len[node];
        self.watched_len[node] = 0;
        self.note_set_len(old_len, 0);
    }

    /// Brings a crashed node back, empty, sends it `init` and `topology`,
    /// and watches it being refilled (see [`Report::refills`]).
    pub fn restart(&mut self, node: usize) {
        if node >= self.nodes.len() || !self.down[node] {
            return;
        }
        self.down[node] = false;
        let mut missing: Vec<i64> = Vec::new();
        for (other, peer) in self.nodes.iter().enumerate() {
            if other != node && !self.down[other] {
                missing.extend(peer.set().to_vec());
            }
        }
        missing.sort_unstable();
        missing.dedup();
        let report = RefillReport {
            node,
            restart_ms: self.now_ms,
            values_to_refill: missing.len() as u64,
            refilled_after_ms: missing.is_empty().then_some(0),
            bytes: 0,
            interrupted: false,
        };
        self.refill_watches.push(RefillWatch { report, missing });
        self.initialise_node(node);
    }

    /// Opens a convergence watch when the network just became whole.
    fn note_if_healed(&mut self, was_partitioned: bool) {
        if !was_partitioned || self.network.is_partitioned() {
            return;
        }
        self.rolling_cuts.clear();
        let mut union: Vec<i64> = Vec::new();
        for node in &self.nodes {
            union.extend(node.set().to_vec());
        }
        union.sort_unstable();
        union.dedup();
        let missing: Vec<Vec<i64>> =
            self.nodes.iter().map(|node| union.iter().copied().filter(|&v| !node.set().contains(v)).collect()).collect();
        let converged_after_ms = missing.iter().all(Vec::is_empty).then_some(0);
        self.heal_watches.push(HealWatch { heal_ms: self.now_ms, missing, converged_after_ms });
        for (node, len) in self.watched_len.iter_mut().enumerate() {
            *len = self.nodes[node].set().len();
        }
    }

    /// Keeps [`Simulation::agreed_since_ms`] as one set goes from
    /// `old_len` to `new_len` values.
    fn note_set_len(&mut self, old_len: usize, new_len: usize) {
        if old_len == self.largest_len {
            self.nodes_at_largest_len -= 1;
        }
        if new_len > self.largest_len {
            self.largest_len = new_len;
            self.nodes_at_largest_len = 1;
        } else if new_len == self.largest_len {
            self.nodes_at_largest_len += 1;
        }
        if self.nodes_at_largest_len == 0 {
            // The largest set emptied in a crash: recount.
            self.largest_len = self.watched_len.iter().copied().max().unwrap_or(0);
            self.nodes_at_largest_len = self.watched_len.iter().filter(|&&len| len == self.largest_len).count();
        }
        let agreed = self.nodes_at_largest_len == self.nodes.len() && self.converged();
        self.agreed_since_ms = match (agreed, self.agreed_since_ms) {
            (true, Some(since)) => Some(since),
            (true, None) => Some(self.now_ms),
            (false, _) => None,
        };
    }

    fn update_heal_watches(&mut self, node: usize) {
        let len = self.nodes[node].set().len();
        if len == self.watched_len[node] {
            return;
        }
        let old_len = std::mem::replace(&mut self.watched_len[node], len);
        self.note_set_len(old_len, len);
        let set = self.nodes[node].set();
        for watch in self.refill_watches.iter_mut().filter(|w| w.report.node == node) {
            if watch.report.refilled_after_ms.is_none() && !watch.report.interrupted {
                watch.missing.retain(|&v| !set.contains(v));
                if watch.missing.is_empty() {
                    watch.report.refilled_after_ms = Some(self.now_ms - watch.report.restart_ms);
                }
            }
        }
        for watch in self.heal_watches.iter_mut().filter(|w| w.converged_after_ms.is_none()) {
            watch.missing[node].retain(|&v| !set.contains(v));
            if watch.missing.iter().all(Vec::is_empty) {
                watch.converged_after_ms = Some(self.now_ms - watch.heal_ms);
            }
        }
    }
}

