//! The simulator replays a run from its seed, whatever way time is advanced.

use anti_entropy::AckPolicy;
use anti_entropy::sim::{LatencyModel, Nemesis, PartitionKind, SimConfig, Simulation, Workload};
use anti_entropy::Protocol;

/// A run with every fault on, short enough for a debug build.
fn faulty_config(seed: u64) -> SimConfig {
    SimConfig {
        node_count: 7,
        seed,
        protocol: Protocol::Difference,
        latency: LatencyModel::Exponential { mean_ms: 40 },
        loss_probability: 0.1,
        duplicate_probability: 0.05,
        workload: Some(Workload { rate_per_s: 50.0, duration_ms: 4_000, read_fraction: 0.5, quiet_period_ms: 1_000 }),
        nemesis: Some(Nemesis { kind: PartitionKind::Mixed, interval_ms: 700 }),
        record_trace: true,
        ack: AckPolicy::AfterReplication,
        ..SimConfig::default()
    }
}

#[test]
fn same_seed_same_trace_history_and_report() {
    let mut a = Simulation::new(faulty_config(42));
    let mut b = Simulation::new(faulty_config(42));
    let report_a = a.run_to_end();
    let report_b = b.run_to_end();
    assert_eq!(a.history(), b.history(), "replay: {}", report_a.replay_command);
    let trace_a = a.drain_trace();
    assert!(trace_a.iter().any(|e| e.dropped) && trace_a.iter().any(|e| e.duplicate), "faults show in the trace");
    assert_eq!(trace_a, b.drain_trace(), "replay: {}", report_a.replay_command);
    assert_eq!(report_a, report_b);
    assert!(report_a.totals.client_ops > 100, "{:?}", report_a.totals);
}

#[test]
fn chunked_run_until_equals_one_call() {
    let mut whole = Simulation::new(faulty_config(9));
    whole.run_until(3_000);
    let whole_trace = whole.drain_trace();

    let mut chunked = Simulation::new(faulty_config(9));
    let mut chunked_trace = Vec::new();
    // Uneven chunks, some repeating the same instant.
    let mut t = 0;
    while t < 3_000 {
        chunked.run_until(t);
        chunked.run_until(t);
        chunked_trace.extend(chunked.drain_trace());
        t += 1 + (t * 7919) % 97;
    }
    chunked.run_until(3_000);
    chunked_trace.extend(chunked.drain_trace());

    assert_eq!(chunked.now_ms(), 3_000);
    assert_eq!(whole.history(), chunked.history());
    assert!(whole_trace.len() > 100, "nodes gossiped: {}", whole_trace.len());
    assert_eq!(whole_trace, chunked_trace);
    assert_eq!(whole.report(), chunked.report());
    assert_eq!(whole.run_to_end(), chunked.run_to_end());
}

#[test]
fn different_seeds_give_different_runs() {
    let mut a = Simulation::new(faulty_config(1));
    let mut b = Simulation::new(faulty_config(2));
    a.run_until(2_000);
    b.run_until(2_000);
    assert_ne!(a.history(), b.history());
}

#[test]
fn workload_runs_at_its_rate_and_mix() {
    let config = SimConfig {
        node_count: 5,
        workload: Some(Workload { rate_per_s: 100.0, duration_ms: 20_000, read_fraction: 0.5, quiet_period_ms: 500 }),
        record_trace: false,
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config);
    let report = sim.run_to_end();
    let replay = &report.replay_command;
    let workload_ops = report.totals.client_ops - 5; // minus the final reads
    assert!((1_900..=2_100).contains(&workload_ops), "{workload_ops}; replay: {replay}");
    let broadcasts = report.totals.broadcasts as f64 / workload_ops as f64;
    assert!((0.45..0.55).contains(&broadcasts), "{broadcasts}; replay: {replay}");
    assert_eq!(report.set_full.attempt_count, report.totals.broadcasts);
    assert_eq!(report.set_full.acknowledged_count, report.totals.broadcasts, "every broadcast is acknowledged");
    // Every final read was answered, after the quiet period.
    assert!(report.now_ms >= 20_500 && report.now_ms <= 20_500 + 1_000, "{}; replay: {replay}", report.now_ms);
    assert_eq!(sim.history().entries.iter().filter(|e| e.completion.is_some()).count() as u64, report.totals.client_ops);
}

#[test]
fn nemesis_alternates_and_heals_when_the_workload_ends() {
    let config = SimConfig {
        node_count: 6,
        workload: Some(Workload { rate_per_s: 10.0, duration_ms: 5_000, read_fraction: 0.5, quiet_period_ms: 100 }),
        nemesis: Some(Nemesis { kind: PartitionKind::Halves, interval_ms: 1_000 }),
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config);
    sim.run_until(999);
    assert!(!sim.network().is_partitioned());
    sim.run_until(1_000);
    assert_eq!(sim.network().cut_link_count(), 9, "3 x 3 links between two halves of 6");
    sim.run_until(2_500);
    assert!(!sim.network().is_partitioned());
    sim.run_until(3_500);
    assert!(sim.network().is_partitioned());
    let report = sim.run_to_end();
    let heal_times: Vec<u64> = report.heals.iter().map(|h| h.heal_ms).collect();
    assert_eq!(heal_times, vec![2_000, 4_000], "replay: {}", report.replay_command);
    assert!(!sim.network().is_partitioned());
}

#[test]
fn rolling_links_cut_one_by_one_and_restore_in_random_order() {
    let config = SimConfig {
        node_count: 5,
        nemesis: Some(Nemesis { kind: PartitionKind::RollingLinks, interval_ms: 1_000 }),
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config);
    let mut cut_counts = Vec::new();
    for t in (1_000..=3_000).step_by(100) {
        sim.run_until(t);
        cut_counts.push(sim.network().cut_link_count());
    }
    // 10 links, 5 of them cut over 500 ms, held, then restored over 500 ms.
    assert_eq!(cut_counts[0], 1);
    assert_eq!(*cut_counts.iter().max().unwrap(), 5);
    assert!(cut_counts[1..5].windows(2).all(|w| w[0] < w[1]), "{cut_counts:?}");
    assert_eq!(cut_counts[10], 4, "the first restore happens at the stop: {cut_counts:?}");
    assert_eq!(cut_counts[15], 0, "{cut_counts:?}");
    assert_eq!(sim.report().heals.len(), 1);
    assert_eq!(sim.report().heals[0].heal_ms, 2_400);
}

#[test]
fn manual_mode_broadcasts_reach_the_node_now() {
    let mut sim = Simulation::new(SimConfig { node_count: 3, ..SimConfig::default() });
    sim.run_until(500);
    sim.broadcast(1, 77);
    assert!(!sim.node(1).set().contains(77), "delivered by the next run_until");
    sim.run_until(500);
    assert!(sim.node(1).set().contains(77));
    assert_eq!(sim.report().set_full.acknowledged_count, 1);
    sim.broadcast(9, 1); // no such node: ignored
    assert_eq!(sim.totals().broadcasts, 1);
}

#[test]
fn a_value_kept_behind_a_partition_is_reported_lost() {
    let mut sim = Simulation::new(SimConfig { node_count: 4, ..SimConfig::default() });
    // Start-up traffic delivered first: a message still in flight to a node
    // would hold the client requests behind it (one delivery thread per node).
    sim.run_until(500);
    sim.isolate(&[0]);
    sim.broadcast(0, 42);
    sim.run_until(510);
    sim.read(0);
    sim.run_until(520);
    let report = sim.run_to_end();
    // The final reads on nodes 1..3 come after node 0's and miss 42.
    assert_eq!(report.set_full.lost, vec![42], "{report:?}");
    assert!(!report.set_full.valid);
    assert!(!report.converged);
}

#[test]
fn replay_command_names_every_setting() {
    let cmd = faulty_config(42).replay_command();
    assert_eq!(
        cmd,
        "anti-entropy simulate --nodes 7 --protocol difference --latency-ms 40 --latency-dist exponential --loss 0.1 \
         --duplicate 0.05 --rate 50 --seconds 4 --read-fraction 0.5 --quiet-ms 1000 --nemesis mixed \
         --nemesis-interval-ms 700 --ack after-replication --seed 42"
    );
}

#[test]
fn totals_match_the_trace() {
    let mut sim = Simulation::new(faulty_config(5));
    let report = sim.run_to_end();
    let trace = sim.drain_trace();
    println!("replay: {}", report.replay_command);
    let sent: Vec<_> = trace.iter().filter(|e| !e.duplicate).collect();
    let t = &report.totals;
    assert_eq!(t.server_messages, sent.len() as u64);
    assert_eq!(t.server_bytes, sent.iter().map(|e| e.bytes).sum::<u64>());
    assert_eq!(t.dropped_messages, sent.iter().filter(|e| e.dropped).count() as u64);
    assert_eq!(t.duplicated_messages, trace.iter().filter(|e| e.duplicate).count() as u64);
    assert_eq!(t.server_by_kind.values().map(|k| k.messages).sum::<u64>(), t.server_messages);
    assert_eq!(report.msgs_per_op, t.server_messages as f64 / t.client_ops as f64);
    assert_eq!(report.bytes_per_op, t.server_bytes as f64 / t.client_ops as f64);
    assert!(sent.iter().all(|e| e.from != e.to && e.from < 7 && e.to < 7 && e.deliver_ms >= e.send_ms));
    let node_stats: u64 = (0..sim.node_count()).map(|i| sim.node(i).stats().skipped).sum();
    assert_eq!(t.skipped, node_stats);
}

#[test]
fn manual_heal_is_timed_until_everyone_has_everything() {
    let mut sim = Simulation::new(SimConfig { node_count: 5, seed: 3, ..SimConfig::default() });
    sim.run_until(1_000);
    sim.isolate(&[4]);
    sim.broadcast(4, 1);
    sim.broadcast(0, 2);
    sim.run_until(3_000);
    assert!(!sim.converged());
    assert!(!sim.node(0).set().contains(1) && !sim.node(4).set().contains(2));
    sim.heal();
    let heal = sim.report().heals[0];
    assert_eq!((heal.heal_ms, heal.converged_after_ms), (3_000, None));
    sim.run_until(10_000);
    let report = sim.report();
    let after_ms = report.heals[0].converged_after_ms.expect("converged after the heal");
    assert!(after_ms > 0 && after_ms < 7_000, "{after_ms} (seed 3, manual mode)");
    assert!(sim.converged());
    assert!((0..5).all(|i| sim.node(i).set().contains(1) && sim.node(i).set().contains(2)));
}
