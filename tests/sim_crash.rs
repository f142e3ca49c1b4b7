//! Crash and restart in the simulator (`--nemesis crash`): a node that loses
//! everything comes back empty and is refilled from its peers, cheaply and
//! quickly, whether it was the hub or a follower.

use anti_entropy::AckPolicy;
use anti_entropy::Overlay;
use anti_entropy::sim::TopologyKind;
use anti_entropy::core::reconcile::pack_values;
use anti_entropy::sim::{LatencyModel, Nemesis, PartitionKind, SimConfig, Simulation, Workload};
use anti_entropy::Protocol;

/// Values every node holds before the crash (the process-level case).
const VALUES: i64 = 20_000;
/// Loopback-like latency between nodes.
const LATENCY_MS: u64 = 1;
/// The target: refilled within 1 s...
const REFILL_MAX_MS: u64 = 1_000;
/// ...for one packed listing of the set (3.3 KB of Elias-Fano for 20,000
/// consecutive ids) and the messages around it: repair openers with whole
/// sketches and power sums, their answers, the periodic checks of that
/// second. Measured 0.5 to 1.7 KB; a second listing would add 3.3 KB.
const REFILL_OVERHEAD_BYTES: u64 = 2_500;

/// A 3-node cluster holding `VALUES` values, in sync.
fn agreed_cluster(overlay: Overlay) -> Simulation {
    let mut sim = Simulation::new(SimConfig {
        node_count: 3,
        overlay,
        topology: TopologyKind::Total,
        latency: LatencyModel::Constant { ms: LATENCY_MS },
        protocol: Protocol::Difference,
        record_trace: false,
        ..SimConfig::default()
    });
    for v in 0..VALUES {
        sim.broadcast((v % 3) as usize, v);
    }
    sim.run_until(5_000);
    assert!(sim.converged(), "the cluster agrees before the crash");
    sim
}

/// Crashes `node`, restarts it after a second and returns the refill's
/// (milliseconds, bytes).
fn refill(node: usize, overlay: Overlay) -> (u64, u64) {
    let mut sim = agreed_cluster(overlay);
    sim.crash(node);
    assert!(sim.is_down(node));
    assert_eq!(sim.node(node).set().len(), 0, "a crash loses everything");
    sim.run_until(6_000);
    sim.restart(node);
    sim.run_until(16_000);
    let report = sim.report();
    let refill = report.refills.last().copied().expect("the restart opened a refill watch");
    assert_eq!(refill.values_to_refill, VALUES as u64);
    let ms = refill.refilled_after_ms.unwrap_or_else(|| panic!("n{node} was never refilled: {refill:?}"));
    assert!(sim.converged(), "all digests equal after the refill");
    (ms, refill.bytes)
}

#[test]
fn a_restarted_follower_is_refilled_within_a_second_for_about_one_listing() {
    let listing_bytes = pack_values(&(0..VALUES).collect::<Vec<_>>()).len() as u64;
    let (ms, bytes) = refill(2, Overlay::Star);
    println!("follower refill: {ms} ms, {bytes} B (packed listing {listing_bytes} B)");
    assert!(ms <= REFILL_MAX_MS, "{ms} ms");
    assert!(bytes <= listing_bytes + REFILL_OVERHEAD_BYTES, "{bytes} B against a listing of {listing_bytes} B");
}

#[test]
fn a_restarted_hub_is_refilled_within_a_second_and_no_node_floods_it() {
    let listing_bytes = pack_values(&(0..VALUES).collect::<Vec<_>>()).len() as u64;
    let (ms, bytes) = refill(0, Overlay::Star);
    println!("hub refill: {ms} ms, {bytes} B (packed listing {listing_bytes} B)");
    assert!(ms <= REFILL_MAX_MS, "{ms} ms");
    // One follower lists its set to the empty hub; the other waits for its
    // retry and then finds a small difference. Not one listing per
    // follower, nor the 20,000 values flushed back to every follower as
    // JSON (about 290 KB before).
    assert!(bytes <= listing_bytes + REFILL_OVERHEAD_BYTES, "{bytes} B against a listing of {listing_bytes} B");
}

/// Under the epidemic overlay there is no hub: a restarted node is refilled
/// by the rounds, its own and its neighbours'. It takes one bulk listing at a
/// time, so two neighbours opening at once do not both send the whole set.
#[test]
fn a_restarted_epidemic_node_is_refilled_within_a_second_for_about_one_listing() {
    let listing_bytes = pack_values(&(0..VALUES).collect::<Vec<_>>()).len() as u64;
    for node in [0, 2] {
        let (ms, bytes) = refill(node, Overlay::Epidemic);
        println!("epidemic refill of n{node}: {ms} ms, {bytes} B (packed listing {listing_bytes} B)");
        assert!(ms <= REFILL_MAX_MS, "{ms} ms");
        assert!(bytes <= listing_bytes + REFILL_OVERHEAD_BYTES, "{bytes} B against a listing of {listing_bytes} B");
    }
}

/// What a crash swarm run found, over all its seeds.
struct SwarmOutcome {
    runs: u64,
    restarts: usize,
    lost: u64,
    acknowledged: u64,
    broadcast_latency_p50_ms: Vec<u64>,
    failures: Vec<String>,
}

/// `runs` seeded runs of 3 to 7 nodes, both overlays, every protocol,
/// uniform latency up to 100 ms, loss up to 6%, a node crashing every 0.3 to
/// 0.9 s.
fn crash_swarm(runs: u64, ack: AckPolicy) -> SwarmOutcome {
    let mut outcome = SwarmOutcome {
        runs,
        restarts: 0,
        lost: 0,
        acknowledged: 0,
        broadcast_latency_p50_ms: Vec::new(),
        failures: Vec::new(),
    };
    for seed in 0..runs {
        let config = SimConfig {
            node_count: 3 + (seed % 5) as usize,
            seed,
            protocol: Protocol::ALL[(seed % 3) as usize],
            ack,
            // Both overlays: odd seeds gossip without a hub on a random graph.
            overlay: if seed % 2 == 1 { Overlay::Epidemic } else { Overlay::Star },
            topology: TopologyKind::Random,
            degree: 2 + (seed / 2 % 3) as usize,
            latency: LatencyModel::Uniform { mean_ms: 1 + seed % 50 },
            loss_probability: (seed % 4) as f64 * 0.02,
            workload: Some(Workload { rate_per_s: 50.0, duration_ms: 4_000, read_fraction: 0.5, quiet_period_ms: 10_000 }),
            nemesis: Some(Nemesis { kind: PartitionKind::Crash, interval_ms: 300 + 100 * (seed % 7) }),
            record_trace: false,
            ..SimConfig::default()
        };
        let report = Simulation::new(config).run_to_end();
        outcome.restarts += report.refills.len();
        outcome.lost += report.set_full.lost_count;
        outcome.acknowledged += report.set_full.acknowledged_count;
        if let Some(q) = report.set_full.broadcast_latency_ms {
            outcome.broadcast_latency_p50_ms.push(q.p50);
        }
        let unrefilled = report.refills.iter().filter(|r| r.refilled_after_ms.is_none() && !r.interrupted).count();
        let lost_here = ack == AckPolicy::AfterReplication && report.set_full.lost_count > 0;
        if unrefilled > 0 || !report.converged || lost_here {
            outcome.failures.push(format!(
                "seed {seed}: {unrefilled} restarts never refilled, converged {}, lost {:?}\n  replay: {}",
                report.converged, report.set_full.lost, report.replay_command
            ));
        }
    }
    outcome.broadcast_latency_p50_ms.sort();
    outcome
}

fn report(name: &str, o: &SwarmOutcome) {
    let median = o.broadcast_latency_p50_ms.get(o.broadcast_latency_p50_ms.len() / 2).copied().unwrap_or(0);
    println!(
        "crash swarm, {name}: {} runs, {} restarts, {} acknowledged, {} lost; median broadcast latency p50 {median} ms",
        o.runs, o.restarts, o.acknowledged, o.lost
    );
}

/// With the immediate acknowledgement, a value acknowledged by a node that
/// crashed before passing it on is lost: reported, not hidden, and every
/// restart is still refilled and every run converges.
#[test]
fn crash_swarm_with_local_acks_refills_every_restart_and_converges() {
    let o = crash_swarm(200, AckPolicy::Local);
    report("local acks", &o);
    assert!(o.restarts >= 200, "the nemesis crashed nodes: {} restarts", o.restarts);
    assert!(o.failures.is_empty(), "{} runs failed:\n{}", o.failures.len(), o.failures.join("\n"));
}

/// With `--ack after-replication`, nothing acknowledged is ever lost.
#[test]
fn crash_swarm_with_acks_after_replication_loses_nothing() {
    let o = crash_swarm(1000, AckPolicy::AfterReplication);
    report("acks after replication", &o);
    assert!(o.restarts >= 1000, "the nemesis crashed nodes: {} restarts", o.restarts);
    assert!(o.acknowledged > 50_000, "clients got answers: {}", o.acknowledged);
    assert!(o.failures.is_empty(), "{} runs failed:\n{}", o.failures.len(), o.failures.join("\n"));
}
