//! The simulated network between nodes: per-message latency, loss,
//! duplication, and which links a partition has cut.
//!
//! Reordering is not a separate knob: with a random latency model two
//! messages on one link overtake each other whenever the later one draws a
//! shorter delay, as on a real network.

use serde::{Deserialize, Serialize};

use crate::core::rng::Rng;

/// How long one message takes on one link.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum LatencyModel {
    /// Always `ms` (Maelstrom's default `--latency-dist constant`).
    Constant { ms: u64 },
    /// Uniform in `[0, 2 * mean_ms]`, so the mean is `mean_ms`.
    Uniform { mean_ms: u64 },
    /// Exponential with mean `mean_ms` (a long tail: heavy reordering).
    Exponential { mean_ms: u64 },
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel::Constant { ms: 100 }
    }
}

impl LatencyModel {
    /// Builds a model from its command-line name and mean.
    pub fn from_name(name: &str, mean_ms: u64) -> Result<Self, String> {
        match name {
            "constant" => Ok(LatencyModel::Constant { ms: mean_ms }),
            "uniform" => Ok(LatencyModel::Uniform { mean_ms }),
            "exponential" => Ok(LatencyModel::Exponential { mean_ms }),
            other => Err(format!("unknown latency distribution {other:?} (expected constant, uniform or exponential)")),
        }
    }

    /// The command-line name of the distribution.
    pub fn name(&self) -> &'static str {
        match self {
            LatencyModel::Constant { .. } => "constant",
            LatencyModel::Uniform { .. } => "uniform",
            LatencyModel::Exponential { .. } => "exponential",
        }
    }

    pub fn mean_ms(&self) -> u64 {
        match *self {
            LatencyModel::Constant { ms } => ms,
            LatencyModel::Uniform { mean_ms } | LatencyModel::Exponential { mean_ms } => mean_ms,
        }
    }

    /// Draws one delay in whole milliseconds.
    pub fn sample_ms(&self, rng: &mut Rng) -> u64 {
        match *self {
            LatencyModel::Constant { ms } => ms,
            LatencyModel::Uniform { mean_ms } => rng.below(2 * mean_ms + 1),
            LatencyModel::Exponential { mean_ms } => rng.exponential(mean_ms as f64).round() as u64,
        }
    }
}

/// The fate of one node-to-node message, decided when it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// When the message would arrive (also set for dropped messages, so a
    /// visualiser can show them vanishing in flight).
    pub deliver_ms: u64,
    pub dropped: bool,
    /// Arrival time of a second copy, when the network duplicated it.
    pub duplicate_ms: Option<u64>,
}

/// Links between `node_count` nodes, undirected, each either up or cut.
#[derive(Clone, Debug)]
pub struct Network {
    node_count: usize,
    /// `cut[a * node_count + b]`, kept symmetric.
    cut: Vec<bool>,
    cut_count: usize,
    pub latency: LatencyModel,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
}

impl Network {
    pub fn new(node_count: usize, latency: LatencyModel, loss_probability: f64, duplicate_probability: f64) -> Self {
        Network {
            node_count,
            cut: vec![false; node_count * node_count],
            cut_count: 0,
            latency,
            loss_probability,
            duplicate_probability,
        }
    }

    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Whether the link between `a` and `b` is cut.
    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut[a * self.node_count + b]
    }

    /// Number of undirected links currently cut.
    pub fn cut_link_count(&self) -> usize {
        self.cut_count
    }

    /// Whether any link is cut.
    pub fn is_partitioned(&self) -> bool {
        self.cut_count > 0
    }

    /// Cuts or restores the link between `a` and `b` (both directions).
    pub fn set_cut(&mut self, a: usize, b: usize, cut: bool) {
        if a == b || self.is_cut(a, b) == cut {
            return;
        }
        self.cut[a * self.node_count + b] = cut;
        self.cut[b * self.node_count + a] = cut;
        if cut {
            self.cut_count += 1;
        } else {
            self.cut_count -= 1;
        }
    }

    /// Cuts every link between a node in `group` and a node outside it.
    pub fn isolate(&mut self, group: &[usize]) {
        let mut inside = vec![false; self.node_count];
        for &node in group {
            if node < self.node_count {
                inside[node] = true;
            }
        }
        for a in 0..self.node_count {
            for b in 0..self.node_count {
                if inside[a] && !inside[b] {
                    self.set_cut(a, b, true);
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.iter_mut().for_each(|c| *c = false);
        self.cut_count = 0;
    }

    /// Every undirected link `(a, b)` with `a < b`, in a fixed order.
    pub fn all_links(&self) -> Vec<(usize, usize)> {
        (0..self.node_count).flat_map(|a| (a + 1..self.node_count).map(move |b| (a, b))).collect()
    }

    /// Decides what happens to a message sent from `from` to `to` at `now_ms`.
    pub fn send(&self, now_ms: u64, from: usize, to: usize, rng: &mut Rng) -> Delivery {
        // Every draw happens whatever the outcome, so a partition does not
        // shift the random stream of the messages after it.
        let latency_ms = self.latency.sample_ms(rng);
        let lost = rng.chance(self.loss_probability);
        let duplicated = rng.chance(self.duplicate_probability);
        let duplicate_latency_ms = self.latency.sample_ms(rng);
        let dropped = lost || self.is_cut(from, to);
        Delivery {
            deliver_ms: now_ms + latency_ms,
            dropped,
            duplicate_ms: (duplicated && !dropped).then_some(now_ms + duplicate_latency_ms),
        }
    }
}

/// A random split of `0..node_count` into two halves (the first of size
/// `node_count / 2`), as Maelstrom's partition nemesis does.
pub fn random_half(node_count: usize, rng: &mut Rng) -> Vec<usize> {
    let mut nodes: Vec<usize> = (0..node_count).collect();
    rng.shuffle(&mut nodes);
    nodes.truncate(node_count / 2);
    nodes.sort_unstable();
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_and_max(model: LatencyModel, rng: &mut Rng) -> (f64, u64) {
        let samples: Vec<u64> = (0..50_000).map(|_| model.sample_ms(rng)).collect();
        (samples.iter().sum::<u64>() as f64 / samples.len() as f64, *samples.iter().max().unwrap())
    }

    #[test]
    fn latency_distributions_have_their_means_and_shapes() {
        let mut rng = Rng::new(11);
        assert_eq!(mean_and_max(LatencyModel::Constant { ms: 100 }, &mut rng), (100.0, 100));
        let (mean, max) = mean_and_max(LatencyModel::Uniform { mean_ms: 100 }, &mut rng);
        assert!((mean - 100.0).abs() < 2.0 && max == 200, "{mean} {max}");
        let (mean, max) = mean_and_max(LatencyModel::Exponential { mean_ms: 100 }, &mut rng);
        assert!((mean - 100.0).abs() < 3.0 && max > 600, "{mean} {max}");
    }

    #[test]
    fn loss_rate_matches_the_probability() {
        let network = Network::new(2, LatencyModel::default(), 0.25, 0.0);
        let mut rng = Rng::new(5);
        let dropped = (0..40_000).filter(|_| network.send(0, 0, 1, &mut rng).dropped).count();
        assert!((dropped as f64 / 40_000.0 - 0.25).abs() < 0.01, "{dropped}");
    }

    #[test]
    fn duplicates_arrive_twice_and_jitter_reorders() {
        let network = Network::new(2, LatencyModel::Uniform { mean_ms: 50 }, 0.0, 0.5);
        let mut rng = Rng::new(8);
        let deliveries: Vec<Delivery> = (0..1000).map(|i| network.send(i, 0, 1, &mut rng)).collect();
        let duplicated = deliveries.iter().filter(|d| d.duplicate_ms.is_some()).count();
        assert!((400..600).contains(&duplicated), "{duplicated}");
        let overtaken = deliveries.windows(2).filter(|w| w[1].deliver_ms < w[0].deliver_ms).count();
        assert!(overtaken > 100, "{overtaken}");
    }

    #[test]
    fn partitions_cut_exactly_the_crossing_links() {
        let mut network = Network::new(5, LatencyModel::default(), 0.0, 0.0);
        network.isolate(&[1, 3]);
        for a in 0..5 {
            for b in 0..5 {
                let crosses = a != b && ([1, 3].contains(&a) != [1, 3].contains(&b));
                assert_eq!(network.is_cut(a, b), crosses, "{a}-{b}");
            }
        }
        assert_eq!(network.cut_link_count(), 6);
        let mut rng = Rng::new(1);
        assert!(network.send(0, 0, 1, &mut rng).dropped);
        assert!(!network.send(0, 1, 3, &mut rng).dropped);
        network.set_cut(1, 3, true);
        assert_eq!(network.cut_link_count(), 7);
        network.heal();
        assert!(!network.is_partitioned());
        assert!(!network.send(0, 0, 1, &mut rng).dropped);
    }

    #[test]
    fn random_half_splits_evenly_and_varies() {
        let mut rng = Rng::new(2);
        let first = random_half(9, &mut rng);
        assert_eq!(first.len(), 4);
        assert!(first.iter().all(|&n| n < 9));
        assert!((0..20).any(|_| random_half(9, &mut rng) != first));
    }
}
