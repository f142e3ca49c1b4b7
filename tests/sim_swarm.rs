//! A swarm of short simulated runs with faults on: small clusters, message
//! loss and duplication, every kind of partition. Each run must lose nothing
//! and converge after every heal. A failure prints the command that replays
//! it (`anti-entropy simulate ... --seed N`).

use anti_entropy::AckPolicy;
use anti_entropy::Overlay;
use anti_entropy::sim::TopologyKind;
use anti_entropy::core::rng::Rng;
use anti_entropy::sim::{LatencyModel, Nemesis, PartitionKind, Report, SimConfig, Simulation, Workload};
use anti_entropy::Protocol;

/// Runs in the swarm (split over several tests so they run in parallel).
const RUNS: u64 = 1_000;
const TESTS: u64 = 4;
/// Quiet time before the final reads. Under 20 % message loss the cluster
/// needs up to about 10 s after a heal (failure detection runs on timers of
/// seconds), so the final reads wait long enough for that.
const QUIET_PERIOD_MS: u64 = 20_000;
/// Issue 3's target: without message loss, the cluster converges within
/// 2 s of the last heal (the one followed by a quiet network).
const LOSSLESS_HEAL_CONVERGENCE_MS: u64 = 2_000;
/// The epidemic overlay repairs through rounds with random neighbours, so a
/// heal takes a round or two more: within 3 s (as in `tests/sim_epidemic.rs`).
const LOSSLESS_HEAL_CONVERGENCE_EPIDEMIC_MS: u64 = 3_000;

/// The configuration of swarm run `index`: every setting drawn from it.
fn swarm_config(index: u64) -> SimConfig {
    let mut rng = Rng::new(index ^ 0x5157_a12d_0000_0000);
    let mean_ms = 1 + rng.below(100);
    let latency = match rng.below(3) {
        0 => LatencyModel::Constant { ms: mean_ms },
        1 => LatencyModel::Uniform { mean_ms },
        _ => LatencyModel::Exponential { mean_ms },
    };
    // Probabilities in whole percent keep the replay command short.
    let loss_probability = if rng.chance(0.25) { 0.0 } else { rng.below(21) as f64 / 100.0 };
    let duplicate_probability = if rng.chance(0.5) { 0.0 } else { rng.below(6) as f64 / 100.0 };
    // Every protocol a user can pick faces the same faults; half the runs
    // use the default one.
    let protocol = if rng.chance(0.5) { Protocol::Difference } else { Protocol::ALL[rng.index(Protocol::ALL.len())] };
    // Halves, one isolated, rolling links, mixed (which may crash a node),
    // crashes, and Maelstrom's own partition package.
    let kind = PartitionKind::ALL[rng.index(PartitionKind::ALL.len())];
    let may_crash = matches!(kind, PartitionKind::Crash | PartitionKind::Mixed);
    let overlay = if index % 2 == 0 { Overlay::Star } else { Overlay::Epidemic };
    SimConfig {
        node_count: 3 + rng.index(7),
        seed: index,
        protocol,
        latency,
        loss_probability,
        duplicate_probability,
        workload: Some(Workload {
            rate_per_s: (10 + rng.below(71)) as f64,
            duration_ms: 1_000 + 250 * rng.below(13),
            read_fraction: 0.5,
            quiet_period_ms: QUIET_PERIOD_MS,
        }),
        nemesis: Some(Nemesis { kind, interval_ms: 200 + 100 * rng.below(19) }),
        record_trace: false,
        // Runs that may crash nodes acknowledge after replication (with the
        // immediate acknowledgement a crash can lose acknowledged values,
        // which `tests/sim_crash.rs` measures); the others draw either.
        ack: if may_crash || rng.chance(0.5) { AckPolicy::AfterReplication } else { AckPolicy::Local },
        // Both overlays face the same faults; the epidemic one on a random
        // connected topology of degree 2 to 4.
        overlay,
        topology: if overlay == Overlay::Epidemic { TopologyKind::Random } else { TopologyKind::Grid },
        degree: 2 + rng.index(3),
        ..SimConfig::default()
    }
}

/// What is wrong with a run, if anything.
fn problems(config: &SimConfig, report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    let r = &report.set_full;
    if r.lost_count > 0 {
        problems.push(format!("lost {} values: {:?}", r.lost_count, r.lost));
    }
    if !r.valid {
        problems.push(format!("not valid (stable {}, never read {})", r.stable_count, r.never_read_count));
    }
    for heal in report.heals.iter().filter(|h| h.converged_after_ms.is_none()) {
        problems.push(format!("never converged after the heal at {} ms", heal.heal_ms));
    }
    let last_heal = report.heals.last().and_then(|h| h.converged_after_ms);
    let bound_ms = match config.overlay {
        Overlay::Star => LOSSLESS_HEAL_CONVERGENCE_MS,
        Overlay::Epidemic => LOSSLESS_HEAL_CONVERGENCE_EPIDEMIC_MS,
    };
    if config.loss_probability == 0.0 && last_heal.is_some_and(|ms| ms > bound_ms) {
        problems.push(format!("without loss, took {} ms to converge after the last heal", last_heal.unwrap()));
    }
    if !report.converged {
        problems.push("digests differ at the end".into());
    }
    problems
}

fn run_swarm_part(part: u64) {
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut heals = 0;
    let mut slowest_heal_ms = 0;
    for index in (part..RUNS).step_by(TESTS as usize) {
        let config = swarm_config(index);
        let report = Simulation::new(config.clone()).run_to_end();
        runs += 1;
        heals += report.heals.len();
        slowest_heal_ms = slowest_heal_ms.max(report.heals.iter().filter_map(|h| h.converged_after_ms).max().unwrap_or(0));
        let problems = problems(&config, &report);
        if !problems.is_empty() {
            failures.push(format!("seed {index}: {}\n  replay: {}", problems.join("; "), report.replay_command));
        }
    }
    println!("swarm part {part}: {runs} runs, {heals} heals, slowest convergence after a heal {slowest_heal_ms} ms");
    assert!(failures.is_empty(), "{} of {runs} runs failed:\n{}", failures.len(), failures.join("\n"));
    assert!(heals > runs, "the nemesis struck: {heals} heals in {runs} runs");
}

#[test]
fn swarm_part_0() {
    run_swarm_part(0);
}

#[test]
fn swarm_part_1() {
    run_swarm_part(1);
}

#[test]
fn swarm_part_2() {
    run_swarm_part(2);
}

#[test]
fn swarm_part_3() {
    run_swarm_part(3);
}

/// The swarm's configurations really vary over the ranges it claims.
#[test]
fn swarm_covers_its_ranges() {
    let configs: Vec<SimConfig> = (0..RUNS).map(swarm_config).collect();
    for nodes in 3..=9 {
        assert!(configs.iter().any(|c| c.node_count == nodes), "{nodes} nodes");
    }
    // Crashes lose values that the default acknowledgement had already
    // confirmed, so they have their own swarm (`tests/sim_crash.rs`); this
    // one faces every partition kind.
    for kind in &PartitionKind::ALL {
        assert!(configs.iter().any(|c| c.nemesis.as_ref().unwrap().kind == *kind), "{kind:?}");
    }
    for dist in ["constant", "uniform", "exponential"] {
        assert!(configs.iter().any(|c| c.latency.name() == dist), "{dist}");
    }
    for protocol in Protocol::ALL {
        let runs = configs.iter().filter(|c| c.protocol == protocol).count();
        assert!(runs >= 100, "{protocol:?}: only {runs} runs");
    }
    assert!(configs.iter().any(|c| c.loss_probability >= 0.2));
    assert!(configs.iter().any(|c| c.duplicate_probability > 0.0));
}
