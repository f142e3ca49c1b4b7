//! What a node is told to run: the cluster protocol, the overlay and their
//! tunables ([`NodeConfig`]), fixed when the node is made.

use serde::{Deserialize, Serialize};

use crate::core::ack::AckPolicy;

/// How nodes keep each other's sets in sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Periodically ship the whole set to peers (the baseline digests beat).
    FullState,
    /// Exchange digests; on a mismatch ship the whole set (the seed's `digest_sync`).
    Digest,
    /// Exchange digests; on a mismatch reconcile ranges and move only the difference.
    #[default]
    Difference,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::FullState, Protocol::Digest, Protocol::Difference];

    /// The name used on the command line, in URLs and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::FullState => "full_state",
            Protocol::Digest => "digest",
            Protocol::Difference => "difference",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == s || p.name().replace('_', "-") == s)
            .ok_or_else(|| format!("unknown protocol {s:?} (expected full_state, digest or difference)"))
    }
}

/// Node-level settings. The native shell uses the defaults; the simulator and
/// the wasm page choose their own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeConfig {
    pub protocol: Protocol,
    /// Seed for a node's random choices; the simulator derives it from the
    /// run's seed. The star overlay draws nothing now (the primary's first
    /// heartbeat, which it used to stagger, goes out at start-up so that a
    /// restarted hub is noticed at once); kept for overlays that choose
    /// peers at random.
    pub rng_seed: u64,
    /// Longest a hub holds new values before flushing them to its followers.
    pub flush_interval_max_ms: u64,
    /// Hub flush interval per follower: a flush costs one message per
    /// follower, so bigger clusters batch longer (up to the maximum above).
    pub flush_interval_per_follower_ms: u64,
    /// Flush at once when this many values per follower are pending: under
    /// heavy load flushes come sooner, at the same cost per value.
    pub flush_values_per_follower: usize,
    /// Flush at once when this many values are pending (bounds message size).
    pub flush_batch_max_values: usize,
    /// Minimum gap between two pushes to the hub: bursts get batched, lone
    /// values go out at once.
    pub push_gap_ms: u64,
    /// A hub with nothing to flush sends each follower a digest this often.
    pub heartbeat_interval_ms: u64,
    /// Silence after which a follower gives up on its hub and fails over.
    pub hub_timeout_ms: u64,
    /// How long a hub that did not answer is skipped before being retried.
    pub suspect_ms: u64,
    /// A value pushed to the hub and not echoed back within this is re-pushed.
    pub retransmit_ms: u64,
    /// A hole in the hub's flush sequence older than this triggers a repair.
    pub gap_timeout_ms: u64,
    /// A repair not answered within this is sent again.
    pub repair_timeout_ms: u64,
    /// Full-state protocol only: how often every node ships its whole set.
    pub full_state_interval_ms: u64,
    /// When `broadcast_ok` goes out (see `ack`).
    pub ack: AckPolicy,
    /// Which overlay carries node-to-node traffic (see `epidemic`).
    pub overlay: Overlay,
    /// Epidemic overlay: how often each node compares digests with one
    /// neighbour.
    pub round_ms: u64,
    /// Epidemic overlay: how long new values are gathered before they are
    /// pushed on to the neighbours.
    pub epidemic_push_gap_ms: u64,
    /// Epidemic overlay: whether new values are pushed on at all (off: the
    /// rounds alone spread them, the setting of Demers et al.'s analysis).
    pub eager_push: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            protocol: Protocol::default(),
            rng_seed: 0,
            flush_interval_max_ms: 300,
            flush_interval_per_follower_ms: 12,
            flush_values_per_follower: 1,
            flush_batch_max_values: 4096,
            push_gap_ms: 20,
            heartbeat_interval_ms: 1000,
            hub_timeout_ms: 2500,
            suspect_ms: 5000,
            retransmit_ms: 700,
            gap_timeout_ms: 150,
            repair_timeout_ms: 500,
            full_state_interval_ms: 300,
            ack: AckPolicy::Local,
            overlay: Overlay::Star,
            round_ms: 500,
            epidemic_push_gap_ms: 150,
            eager_push: true,
        }
    }
}

/// Which overlay carries node-to-node traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlay {
    /// A hub (the first node) flushes to everyone; followers push to it.
    #[default]
    Star,
    /// Pairwise digest exchange with topology neighbours, no hub.
    Epidemic,
}

impl Overlay {
    pub const ALL: [Overlay; 2] = [Overlay::Star, Overlay::Epidemic];

    pub fn name(self) -> &'static str {
        match self {
            Overlay::Star => "star",
            Overlay::Epidemic => "epidemic",
        }
    }
}

impl std::str::FromStr for Overlay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Overlay::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("unknown overlay {s:?} (expected star or epidemic)"))
    }
}

