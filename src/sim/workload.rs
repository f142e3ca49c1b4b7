//! What the clients and the nemesis do: Maelstrom's broadcast workload and
//! its partition nemesis, as plain settings the simulator schedules.

use serde::{Deserialize, Serialize};

use crate::core::rng::Rng;

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
    /// final reads, for the cluster to settle (Maelstrom sleeps 10 s).
    pub quiet_period_ms: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload { rate_per_s: 100.0, duration_ms: 20_000, read_fraction: 0.5, quiet_period_ms: 10_000 }
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
    /// Two random halves that cannot reach each other.
    Halves,
    /// One random node cut off from all others.
    IsolateOne,
    /// Half of all links, chosen at random, cut one by one over the first
    /// half of the partitioned period, then restored one by one in a new
    /// random order over the first half of the healed period.
    RollingLinks,
    /// Each strike picks one of the three partition kinds above, or a
    /// crash, at random.
    Mixed,
    /// One random node crashes: it loses all its state at once, stays down
    /// for [`Nemesis::crash_pause_ms`] (messages and client requests sent to
    /// it meanwhile are lost), then restarts empty and is sent `init` and
    /// `topology` again, as a restarted process would be.
    Crash,
    /// Maelstrom's `--nemesis partition` (Jepsen's partition package): each
    /// strike picks one of Jepsen's targets at random (one node isolated; a
    /// minority of less than a third split off; a majority and a minority;
    /// majorities in a ring, where every node sees a majority but no two the
    /// same one), and strikes and heals follow each other at gaps uniform in
    /// `[0, 2 * interval)`, the first strike at once (Jepsen's `stagger`).
    #[serde(rename = "partition")]
    Maelstrom,
}

/// One of the partitions Jepsen's partition package chooses from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JepsenTarget {
    One,
    MinorityThird,
    Majority,
    MajoritiesRing,
}

impl JepsenTarget {
    pub const ALL: [JepsenTarget; 4] =
        [JepsenTarget::One, JepsenTarget::MinorityThird, JepsenTarget::Majority, JepsenTarget::MajoritiesRing];

    /// The links this target cuts among `node_count` nodes, for a seeded
    /// shuffle of the nodes (Jepsen shuffles too).
    pub fn cut_links(self, node_count: usize, rng: &mut Rng) -> Vec<(usize, usize)> {
        let mut nodes: Vec<usize> = (0..node_count).collect();
        rng.shuffle(&mut nodes);
        let split = |group_len: usize| -> Vec<(usize, usize)> {
            let (inside, outside) = nodes.split_at(group_len.min(node_count));
            inside.iter().flat_map(|&a| outside.iter().map(move |&b| (a.min(b), a.max(b)))).collect()
        };
        match self {
            JepsenTarget::One => split(1),
            // Jepsen's `minority-third`: the largest count below a third.
            JepsenTarget::MinorityThird => split(node_count.saturating_sub(1) / 3),
            // Jepsen's `bisect`: the first floor(n / 2) against the rest.
            JepsenTarget::Majority => split(node_count / 2),
            JepsenTarget::MajoritiesRing => {
                // Around a ring, each node keeps the `reach` nearest on each
                // side: itself plus 2 * reach is a majority, and neighbours'
                // majorities differ. (Jepsen searches for such a grudge at
                // random for big clusters; the ring is one.)
                let majority = node_count / 2 + 1;
                let reach = (majority - 1).div_ceil(2);
                let mut cuts = Vec::new();
                for i in 0..node_count {
                    for j in i + 1..node_count {
                        let distance = (j - i).min(node_count - (j - i));
                        if distance > reach {
                            cuts.push((nodes[i].min(nodes[j]), nodes[i].max(nodes[j])));
                        }
                    }
                }
                cuts
            }
        }
    }
}

impl PartitionKind {
    pub const ALL: [PartitionKind; 6] = [
        PartitionKind::Halves,
        PartitionKind::IsolateOne,
        PartitionKind::RollingLinks,
        PartitionKind::Mixed,
        PartitionKind::Crash,
        PartitionKind::Maelstrom,
    ];

    /// The command-line name (`--nemesis NAME`).
    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::Halves => "halves",
            PartitionKind::IsolateOne => "isolate",
            PartitionKind::RollingLinks => "links",
            PartitionKind::Mixed => "mixed",
            PartitionKind::Crash => "crash",
            PartitionKind::Maelstrom => "partition",
        }
    }

    /// Resolves `Mixed` to one concrete kind.
    pub fn pick(self, rng: &mut Rng) -> PartitionKind {
        match self {
            PartitionKind::Mixed => {
                const PICKS: [PartitionKind; 4] = [
                    PartitionKind::Halves,
                    PartitionKind::IsolateOne,
                    PartitionKind::RollingLinks,
                    PartitionKind::Crash,
                ];
                PICKS[rng.index(PICKS.len())]
            }
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
            .ok_or_else(|| format!("unknown nemesis {s:?} (expected partition, halves, isolate, links, mixed or crash)"))
    }
}

/// Alternating healthy and faulty periods: healthy for `interval_ms`,
/// faulty for `interval_ms`, and so on (for [`PartitionKind::Maelstrom`],
/// gaps drawn as Jepsen does); everything is healed when the workload ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nemesis {
    pub kind: PartitionKind,
    /// Length of each healthy and each partitioned period (Maelstrom's
    /// `--nemesis-interval`, 10 s by default).
    pub interval_ms: u64,
}

impl Nemesis {
    /// When the first strike comes: Jepsen's `stagger` lets the first one
    /// through at once; the other kinds start healthy.
    pub fn first_strike_ms(&self) -> u64 {
        match self.kind {
            PartitionKind::Maelstrom => 0,
            _ => self.interval_ms,
        }
    }

    /// Time from one strike or heal to the next.
    pub fn gap_ms(&self, rng: &mut Rng) -> u64 {
        match self.kind {
            PartitionKind::Maelstrom => rng.below(2 * self.interval_ms.max(1)),
            _ => self.interval_ms,
        }
    }

    /// How long a crashed node stays down: half a healthy period, at most a
    /// second (a supervisor restarting a process).
    pub fn crash_pause_ms(&self) -> u64 {
        (self.interval_ms / 2).clamp(1, 1000)
    }
}

impl Default for Nemesis {
    fn default() -> Self {
        Nemesis { kind: PartitionKind::Maelstrom, interval_ms: 10_000 }
    }
}
