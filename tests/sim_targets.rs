//! Issue 3's targets, in virtual time: Maelstrom's broadcast challenge at
//! its hardest public setting (25 nodes, `--latency 100`, `--rate 100`,
//! `--time-limit 20`). A failure prints the command that replays the run.

use anti_entropy::sim::{LatencyModel, Nemesis, PartitionKind, Report, SimConfig, Simulation, Workload};
use anti_entropy::Protocol;

const MSGS_PER_OP_MAX: f64 = 1.5;
const STABLE_LATENCY_MEDIAN_MAX_MS: u64 = 350;
const STABLE_LATENCY_MAX_MS: u64 = 500;
const HEAL_CONVERGENCE_MAX_MS: u64 = 2_000;

fn maelstrom_config(seed: u64, nemesis: Option<Nemesis>) -> SimConfig {
    SimConfig {
        node_count: 25,
        seed,
        protocol: Protocol::Difference,
        latency: LatencyModel::Constant { ms: 100 },
        workload: Some(Workload { rate_per_s: 100.0, duration_ms: 20_000, ..Workload::default() }),
        nemesis,
        record_trace: false,
        ..SimConfig::default()
    }
}

fn summary(report: &Report) -> String {
    format!(
        "seed {}: valid {}, lost {}, msgs/op {:.3}, bytes/op {:.1}, stable latency {:?}, heals {:?}\n  replay: {}",
        report.seed,
        report.set_full.valid,
        report.set_full.lost_count,
        report.msgs_per_op,
        report.bytes_per_op,
        report.set_full.stable_latency_ms,
        report.heals.iter().map(|h| h.converged_after_ms).collect::<Vec<_>>(),
        report.replay_command
    )
}

#[test]
fn healthy_network_beats_the_public_results() {
    for seed in 0..5 {
        let report = Simulation::new(maelstrom_config(seed, None)).run_to_end();
        let context = summary(&report);
        println!("{context}");
        assert!(report.set_full.valid, "{context}");
        assert_eq!(report.set_full.lost_count, 0, "{context}");
        assert!(report.msgs_per_op <= MSGS_PER_OP_MAX, "{context}");
        let latency = report.set_full.stable_latency_ms.expect("some value is stable");
        assert!(latency.p50 <= STABLE_LATENCY_MEDIAN_MAX_MS, "{context}");
        assert!(latency.p100 <= STABLE_LATENCY_MAX_MS, "{context}");
        assert!(report.converged, "{context}");
    }
}

#[test]
fn partitions_lose_nothing_and_converge_within_two_seconds_of_each_heal() {
    for (seed, kind, interval_ms) in [
        (0, PartitionKind::Halves, 10_000),
        (1, PartitionKind::Halves, 10_000),
        (2, PartitionKind::Halves, 3_000),
        (3, PartitionKind::IsolateOne, 3_000),
        (4, PartitionKind::RollingLinks, 3_000),
        (5, PartitionKind::Mixed, 2_000),
    ] {
        let report = Simulation::new(maelstrom_config(seed, Some(Nemesis { kind, interval_ms }))).run_to_end();
        let context = summary(&report);
        println!("{context}");
        assert!(report.set_full.valid, "{context}");
        assert_eq!(report.set_full.lost_count, 0, "{context}");
        assert!(!report.heals.is_empty(), "{context}");
        for heal in &report.heals {
            let after_ms = heal.converged_after_ms.unwrap_or(u64::MAX);
            assert!(after_ms <= HEAL_CONVERGENCE_MAX_MS, "heal at {} ms: {context}", heal.heal_ms);
        }
        assert!(report.converged, "{context}");
    }
}
