//! Topologies the simulator (and the page) can hand nodes in the `topology`
//! message: Maelstrom's `grid`, `line`, `tree` (its `tree4`) and `total`,
//! plus `ring` and a seeded connected `random` graph of a given degree.
//! The star overlay ignores them; the epidemic overlay gossips along them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::core::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopologyKind {
    /// Maelstrom's default: a square grid, up to 4 neighbours each.
    #[default]
    Grid,
    Ring,
    Line,
    /// Each node the child of node `(i - 1) / 4` (Maelstrom's `tree4`).
    Tree,
    /// Connected, seeded: a random spanning tree, then random links until
    /// every node has about `degree` neighbours.
    Random,
    Total,
}

impl TopologyKind {
    pub const ALL: [TopologyKind; 6] = [
        TopologyKind::Grid,
        TopologyKind::Ring,
        TopologyKind::Line,
        TopologyKind::Tree,
        TopologyKind::Random,
        TopologyKind::Total,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TopologyKind::Grid => "grid",
            TopologyKind::Ring => "ring",
            TopologyKind::Line => "line",
            TopologyKind::Tree => "tree",
            TopologyKind::Random => "random",
            TopologyKind::Total => "total",
        }
    }

    /// Undirected links between `n` nodes (each pair once, `a < b`).
    pub fn links(self, n: usize, degree: usize, rng: &mut Rng) -> BTreeSet<(usize, usize)> {
        let mut links = BTreeSet::new();
        let mut link = |a: usize, b: usize| {
            if a != b {
                links.insert((a.min(b), a.max(b)));
            }
        };
        match self {
            TopologyKind::Grid => {
                let side = (1..=n).find(|s| s * s >= n).unwrap_or(1);
                for i in 0..n {
                    if i % side + 1 < side && i + 1 < n {
                        link(i, i + 1);
                    }
                    if i + side < n {
                        link(i, i + side);
                    }
                }
            }
            TopologyKind::Ring => {
                for i in 0..n {
                    link(i, (i + 1) % n);
                }
            }
            TopologyKind::Line => {
                for i in 1..n {
                    link(i - 1, i);
                }
            }
            TopologyKind::Tree => {
                for i in 1..n {
                    link((i - 1) / 4, i);
                }
            }
            TopologyKind::Total => {
                for a in 0..n {
                    for b in a + 1..n {
                        link(a, b);
                    }
                }
            }
            TopologyKind::Random => {
                let mut order: Vec<usize> = (0..n).collect();
                rng.shuffle(&mut order);
                // A random spanning tree whose nodes take at most `degree`
                // links (a plain random tree gives some node about log n
                // children, and that node would carry that many times the
                // load), then random links up to about `degree` each.
                let target = degree.max(2).min(n.saturating_sub(1));
                let mut degrees = vec![0usize; n];
                for i in 1..n {
                    let mut parent = order[rng.index(i)];
                    for _ in 0..64 {
                        if degrees[parent] < target {
                            break;
                        }
                        parent = order[rng.index(i)];
                    }
                    link(parent, order[i]);
                    degrees[parent] += 1;
                    degrees[order[i]] += 1;
                }
                let target = degree.min(n.saturating_sub(1));
                for &node in &order {
                    let mut tries = 0;
                    while degrees[node] < target && tries < 8 * n {
                        tries += 1;
                        let other = rng.index(n);
                        let pair = (node.min(other), node.max(other));
                        if other == node || degrees[other] >= target || links.contains(&pair) {
                            continue;
                        }
                        links.insert(pair);
                        degrees[node] += 1;
                        degrees[other] += 1;
                    }
                }
            }
        }
        links
    }

    /// The `topology` message body: each name with its neighbours.
    pub fn build(self, names: &[String], degree: usize, rng: &mut Rng) -> BTreeMap<String, Vec<String>> {
        let mut topology: BTreeMap<String, Vec<String>> = names.iter().map(|n| (n.clone(), Vec::new())).collect();
        for (a, b) in self.links(names.len(), degree, rng) {
            topology.get_mut(&names[a]).expect("listed").push(names[b].clone());
            topology.get_mut(&names[b]).expect("listed").push(names[a].clone());
        }
        for neighbours in topology.values_mut() {
            neighbours.sort_by_key(|name| name.trim_start_matches('n').parse::<usize>().unwrap_or(usize::MAX));
        }
        topology
    }
}

impl std::str::FromStr for TopologyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TopologyKind::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown topology {s:?} (expected grid, ring, line, tree, random or total)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(n: usize, links: &BTreeSet<(usize, usize)>) -> bool {
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        while let Some(a) = stack.pop() {
            if std::mem::replace(&mut seen[a], true) {
                continue;
            }
            stack.extend(links.iter().filter_map(|&(x, y)| if x == a { Some(y) } else if y == a { Some(x) } else { None }));
        }
        seen.into_iter().all(|s| s)
    }

    #[test]
    fn every_kind_is_connected_and_random_has_its_degree() {
        for n in [1, 2, 5, 25, 64] {
            for kind in TopologyKind::ALL {
                let links = kind.links(n, 4, &mut Rng::new(n as u64));
                assert!(connected(n, &links), "{kind:?} on {n} nodes");
            }
        }
        let links = TopologyKind::Random.links(100, 4, &mut Rng::new(3));
        let mean_degree = 2.0 * links.len() as f64 / 100.0;
        assert!((3.8..=4.6).contains(&mean_degree), "mean degree {mean_degree}");
        assert_eq!(TopologyKind::Ring.links(5, 4, &mut Rng::new(0)).len(), 5);
        assert_eq!(TopologyKind::Total.links(5, 4, &mut Rng::new(0)).len(), 10);
    }

    #[test]
    fn grid_matches_maelstrom() {
        let names: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let t = TopologyKind::Grid.build(&names, 4, &mut Rng::new(0));
        assert_eq!(t["n0"], ["n1", "n3"]);
        assert_eq!(t["n4"], ["n1", "n3"]);
    }
}
