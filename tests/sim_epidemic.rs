//! The epidemic overlay in the simulator (virtual time, so figures may be
//! asserted): valid with nothing lost on every connected topology, healed
//! partitions repaired by the rounds alone, the load spread evenly at 1000
//! nodes, and a cluster whose topology is cut in two reported as such.
//!
//! The bounds below are what this version achieves, held so that it cannot
//! get worse unnoticed. Issue 10 asks for more at 25 nodes (at most 5
//! msgs/op, stable latency median 500 ms and max 1000 ms); eager push along
//! every link gets the latency but costs 7 to 8 msgs/op (README, "The
//! epidemic overlay").

use anti_entropy::Overlay;
use anti_entropy::sim::{Nemesis, PartitionKind, Report, SimConfig, Simulation, TopologyKind, Workload};

fn epidemic(node_count: usize, seed: u64, topology: TopologyKind, workload: Workload) -> SimConfig {
    SimConfig {
        node_count,
        seed,
        overlay: Overlay::Epidemic,
        topology,
        workload: Some(workload),
        record_trace: false,
        ..SimConfig::default()
    }
}

fn assert_sound(report: &Report) {
    let r = &report.set_full;
    assert!(r.valid, "{r:?}\n  replay: {}", report.replay_command);
    assert_eq!(r.lost_count, 0, "lost {:?}\n  replay: {}", r.lost, report.replay_command);
    assert!(report.converged, "digests differ at the end\n  replay: {}", report.replay_command);
}

#[test]
fn twenty_five_nodes_on_a_random_graph() {
    for seed in 0..3 {
        let report = Simulation::new(epidemic(25, seed, TopologyKind::Random, Workload::default())).run_to_end();
        assert_sound(&report);
        let latency = report.set_full.stable_latency_ms.unwrap();
        eprintln!("seed {seed}: msgs/op {:.2}, stable p50 {} ms, max {} ms", report.msgs_per_op, latency.p50, latency.p100);
        assert!(report.msgs_per_op <= 9.0, "msgs/op {:.2}", report.msgs_per_op);
        assert!(latency.p50 <= 700, "stable latency p50 {} ms", latency.p50);
        assert!(latency.p100 <= 1200, "stable latency max {} ms", latency.p100);
        let load = report.node_load;
        assert!(load.max_msgs_sent_per_s <= 2.0 * load.mean_msgs_sent_per_s, "{load:?}");
    }
}

#[test]
fn partitions_are_healed_by_the_rounds_alone() {
    // Issue 10's target: every heal converged within 2 s (seeds 0 to 30
    // reach at most 1.53 s).
    for seed in 0..10 {
        let workload = Workload { duration_ms: 30_000, ..Workload::default() };
        let mut config = epidemic(25, seed, TopologyKind::Random, workload);
        config.nemesis = Some(Nemesis { kind: PartitionKind::Maelstrom, interval_ms: 10_000 });
        let report = Simulation::new(config).run_to_end();
        assert_sound(&report);
        assert!(!report.heals.is_empty());
        for heal in &report.heals {
            let converged = heal.converged_after_ms.expect("every heal converges");
            assert!(converged <= 2_000, "seed {seed}: {converged} ms after the heal at {} ms", heal.heal_ms);
        }
    }
}

#[test]
fn a_thousand_nodes_share_the_load() {
    let report = Simulation::new(epidemic(1000, 7, TopologyKind::Random, Workload::default())).run_to_end();
    assert_sound(&report);
    let load = report.node_load;
    eprintln!("1000 nodes: msgs/op {:.1}, {load:?}", report.msgs_per_op);
    assert!(load.max_msgs_sent_per_s <= 2.0 * load.mean_msgs_sent_per_s, "busiest node {load:?}");
}

#[test]
fn every_connected_topology_converges() {
    for topology in TopologyKind::ALL {
        let workload = Workload { rate_per_s: 30.0, duration_ms: 3_000, ..Workload::default() };
        let report = Simulation::new(epidemic(9, 3, topology, workload)).run_to_end();
        assert_sound(&report);
    }
}

#[test]
fn a_line_cut_in_the_middle_is_not_converged_and_not_valid() {
    let mut config = epidemic(6, 1, TopologyKind::Line, Workload::default());
    config.workload = None;
    let mut sim = Simulation::new(config);
    sim.run_until(500);
    // n0 - n1 - n2 | n3 - n4 - n5: the only link between the halves is cut.
    sim.set_link_cut(2, 3, true);
    sim.broadcast(0, 7);
    sim.broadcast(5, 8);
    sim.run_until(5_000);
    let report = sim.run_to_end();
    assert!(!report.converged);
    assert!(!report.set_full.valid, "{:?}", report.set_full);
    assert!(report.set_full.lost_count > 0);
}

/// Virtual rounds until one value, given to one node, reaches every node of
/// a complete graph with eager push off: anti-entropy alone, push-pull, one
/// random peer per node per round (Demers et al.'s setting).
fn rounds_to_reach_everyone(node_count: usize, seed: u64) -> u64 {
    const ROUND_MS: u64 = 1000;
    let mut sim = Simulation::new(SimConfig {
        node_count,
        seed,
        overlay: Overlay::Epidemic,
        topology: TopologyKind::Total,
        eager_push: false,
        round_ms: ROUND_MS,
        latency: anti_entropy::sim::LatencyModel::Constant { ms: 1 },
        record_trace: false,
        ..SimConfig::default()
    });
    sim.run_until(ROUND_MS);
    sim.broadcast(0, 1);
    let mut t = ROUND_MS;
    while (0..node_count).any(|i| !sim.node(i).set().contains(1)) {
        t += 50;
        assert!(t < 100 * ROUND_MS, "{node_count} nodes: not spread after 100 rounds");
        sim.run_until(t);
    }
    (t - ROUND_MS).div_ceil(ROUND_MS)
}

/// The teaching figure (README): rounds beside log2 N + ln N, Pittel's bound
/// for push alone; push-pull does better.
#[test]
fn anti_entropy_alone_spreads_in_about_log_n_rounds() {
    for node_count in [16, 64, 256, 1024] {
        let rounds: Vec<u64> = (0..3).map(|seed| rounds_to_reach_everyone(node_count, seed)).collect();
        let bound = (node_count as f64).log2() + (node_count as f64).ln();
        eprintln!("N = {node_count}: rounds {rounds:?}, log2 N + ln N = {bound:.1}");
        assert!(rounds.iter().all(|&r| r as f64 <= bound.ceil()), "N = {node_count}: {rounds:?} vs {bound:.1}");
    }
}

#[test]
fn a_matched_round_is_a_skipped_transfer_at_both_ends() {
    // Two nodes in sync: every round is an opener and its answer, and each
    // node counts the skipped transfers of its own rounds and of its peer's.
    let config = SimConfig { workload: None, initial_values: 100, ..epidemic(2, 4, TopologyKind::Line, Workload::default()) };
    let mut sim = Simulation::new(config);
    sim.run_until(5_000);
    let rounds_each = 5_000 / sim.node(0).config().round_ms;
    for i in 0..2 {
        let stats = sim.node(i).stats();
        assert_eq!(stats.syncs, stats.skipped, "n{i}: {stats:?}");
        assert!(stats.skipped >= 2 * rounds_each - 2, "n{i}: {stats:?} in {rounds_each} rounds each");
    }
    assert!(sim.totals().server_messages >= 4 * rounds_each - 4, "an opener and an answer per round");
}
