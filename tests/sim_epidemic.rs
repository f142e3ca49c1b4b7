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

use anti_entropy::epidemic::Overlay;
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
    for seed in 0..5 {
        let workload = Workload { duration_ms: 30_000, ..Workload::default() };
        let mut config = epidemic(25, seed, TopologyKind::Random, workload);
        config.nemesis = Some(Nemesis { kind: PartitionKind::Maelstrom, interval_ms: 10_000 });
        let report = Simulation::new(config).run_to_end();
        assert_sound(&report);
        assert!(!report.heals.is_empty());
        for heal in &report.heals {
            let converged = heal.converged_after_ms.expect("every heal converges");
            assert!(converged <= 3_000, "seed {seed}: {converged} ms after the heal at {} ms", heal.heal_ms);
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
