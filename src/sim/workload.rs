//! What the clients and the nemesis do: Maelstrom's broadcast workload and
//! its partition nemesis, as plain settings the simulator schedules.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Maelstrom's broadcast workload: values 0, 1, 2, ... broadcast and reads
/// mixed, each to a random node, at `rate_per_s` operations per second in
/// total; then (with faults healed) a quiet period, then one final read on
/// every node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workload {
    /// Client operations per second, all clients together.
    pub rate_per_s: f64,
    /// How long clients issue operations (Maelstrom's `--time-limit`).
    pub duration_ms: u64,
    /// Share of operations that are reads (Maelstrom mixes half and half).
    pub read_fraction: f64,
    /// Time between the end of the workload (and the final heal) and the
    /// final reads, for the cluster to settle.
    pub quiet_period_ms: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload { rate_per_s: 100.0, duration_ms: 20_000, read_fraction: 0.5, quiet_period_ms: 5_000 }
    }
}

impl Workload {
    /// Gap until the next operation: uniform in `[0, 2 / rate]` seconds like
    /// Jepsen's `stagger`, so the mean rate is `rate_per_s`.
    pub fn next_gap_ms(&self, rng: &mut Rng) -> u64 {
        let mean_ms = 1000.0 / self.rate_per_s;
        (rng.unit_f64() * 2.0 * mean_ms).round() as u64
    }
}

/// How the nemesis cuts the network each time it strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionKind {
    /// Two random halves that cannot reach each other (Maelstrom's
    /// `--nemesis partition`).
    Halves,
    /// One random node cut off from all others.
    IsolateOne,
    /// Half of all links, chosen at random, cut one by one over the first
    /// half of the partitioned period, then restored one by one in a new
    /// random order over the first half of the healed period.
    RollingLinks,
    /// Each strike picks one of the three partition kinds above at random.
    Mixed,
    /// One random node crashes: it loses all its state at once, stays down
    /// for [`Nemesis::crash_pause_ms`] (messages and client requests sent to
    /// it meanwhile are lost), then restarts empty and is sent `init` and
    /// `topology` again, as a restarted process would be.
    Crash,
}

impl PartitionKind {
    // `Crash` comes last so that seeded code indexing the first four (the
    // swarm, `Mixed`) keeps its runs.
    pub const ALL: [PartitionKind; 5] = [
        PartitionKind::Halves,
        PartitionKind::IsolateOne,
        PartitionKind::RollingLinks,
        PartitionKind::Mixed,
        PartitionKind::Crash,
    ];

    /// The command-line name (`--nemesis NAME`).
    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::Halves => "partition",
            PartitionKind::IsolateOne => "isolate",
            PartitionKind::RollingLinks => "links",
            PartitionKind::Mixed => "mixed",
            PartitionKind::Crash => "crash",
        }
    }

    /// Resolves `Mixed` to one concrete kind.
    pub fn pick(self, rng: &mut Rng) -> PartitionKind {
        match self {
            PartitionKind::Mixed => PartitionKind::ALL[rng.index(3)],
            concrete => concrete,
        }
    }
}

impl std::str::FromStr for PartitionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PartitionKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown nemesis {s:?} (expected partition, isolate, links, mixed or crash)"))
    }
}

/// Alternating healthy and partitioned periods, like Maelstrom's nemesis:
/// healthy for `interval_ms`, partitioned for `interval_ms`, and so on;
/// everything is healed when the workload ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nemesis {
    pub kind: PartitionKind,
    /// Length of each healthy and each partitioned period (Maelstrom's
    /// `--nemesis-interval`, 10 s by default).
    pub interval_ms: u64,
}

impl Nemesis {
    /// How long a crashed node stays down: half a healthy period, at most a
    /// second (a supervisor restarting a process).
    pub fn crash_pause_ms(&self) -> u64 {
        (self.interval_ms / 2).clamp(1, 1000)
    }
}

impl Default for Nemesis {
    fn default() -> Self {
        Nemesis { kind: PartitionKind::Halves, interval_ms: 10_000 }
    }
}
