//! The page's bandwidth counter: "full state would have sent" is a real
//! full-state run of the same scenario and actions (the shadow), so it equals
//! what a separate full-state run sends, and with sets of the size where
//! anti-entropy matters the digest protocols save bytes against it.

use anti_entropy::Overlay;
use anti_entropy::sim::{ShadowedSimulation, SimConfig, Simulation, TopologyKind};
use anti_entropy::Protocol;

fn page_config(protocol: Protocol, overlay: Overlay, initial_values: u64) -> SimConfig {
    SimConfig {
        node_count: 12,
        seed: 5,
        protocol,
        overlay,
        topology: TopologyKind::Random,
        initial_values,
        loss_probability: 0.05,
        ..SimConfig::default()
    }
}

/// What a page scenario does to a cluster, shadowed or not.
trait Cluster {
    fn run_until(&mut self, t_ms: u64);
    fn broadcast(&mut self, node: usize, value: i64);
    fn split_halves(&mut self);
    fn heal(&mut self);
}

macro_rules! cluster {
    ($t:ty) => {
        impl Cluster for $t {
            fn run_until(&mut self, t_ms: u64) {
                <$t>::run_until(self, t_ms)
            }
            fn broadcast(&mut self, node: usize, value: i64) {
                <$t>::broadcast(self, node, value)
            }
            fn split_halves(&mut self) {
                <$t>::split_halves(self)
            }
            fn heal(&mut self) {
                <$t>::heal(self)
            }
        }
    };
}
cluster!(Simulation);
cluster!(ShadowedSimulation);

/// A few broadcasts, a split and a heal, as a page scenario plays them.
fn play(sim: &mut impl Cluster) {
    for (k, at_ms) in [0u64, 300, 700].into_iter().enumerate() {
        sim.run_until(at_ms);
        sim.broadcast(k * 5 % 12, k as i64 + 1);
    }
    sim.run_until(1_000);
    sim.split_halves();
    sim.broadcast(3, 10);
    sim.run_until(2_500);
    sim.heal();
    sim.run_until(6_000);
}

#[test]
fn the_shadow_is_the_full_state_run_of_the_same_scenario() {
    for overlay in Overlay::ALL {
        for protocol in [Protocol::Digest, Protocol::Difference] {
            let mut shadowed = ShadowedSimulation::new(page_config(protocol, overlay, 1000));
            play(&mut shadowed);
            let mut full_state = Simulation::new(page_config(Protocol::FullState, overlay, 1000));
            play(&mut full_state);
            let shown = shadowed.run();
            assert!(shown.converged() && full_state.converged(), "{overlay:?} {protocol:?}");
            assert_eq!(shadowed.full_state_bytes_sent(), full_state.totals().bytes_sent, "{overlay:?} {protocol:?}");
            let sent = shown.totals().bytes_sent;
            // 1000 values in sync: every matched digest saves a whole set.
            assert!(
                sent * 3 < shadowed.full_state_bytes_sent(),
                "{overlay:?} {protocol:?}: sent {sent} of {} full-state bytes",
                shadowed.full_state_bytes_sent()
            );
        }
    }
}

#[test]
fn a_full_state_run_is_its_own_measure() {
    let mut shadowed = ShadowedSimulation::new(page_config(Protocol::FullState, Overlay::Star, 100));
    play(&mut shadowed);
    assert_eq!(shadowed.full_state_bytes_sent(), shadowed.run().totals().bytes_sent);
}

#[test]
fn initial_values_start_every_node_in_sync() {
    for overlay in Overlay::ALL {
        let mut sim = Simulation::new(page_config(Protocol::Difference, overlay, 10_000));
        assert!(sim.converged());
        sim.run_until(2_000);
        for i in 0..sim.node_count() {
            let set = sim.node(i).set();
            assert_eq!(set.len(), 10_000);
            assert!(set.contains(-1) && set.contains(-10_000) && !set.contains(0));
        }
        // In sync from the start, nothing needs repairing: only digests move.
        let totals = sim.totals();
        assert!(totals.skipped > 0);
        assert_eq!(totals.bytes_sent, totals.server_bytes);
        assert!(totals.bytes_sent < 200 * 2_000, "{overlay:?}: {} bytes in 2 s", totals.bytes_sent);
    }
}

#[test]
fn agreement_is_dated_to_the_event_and_matches_convergence() {
    use anti_entropy::sim::{Nemesis, PartitionKind, Workload};
    for (seed, kind) in [(1, PartitionKind::Crash), (2, PartitionKind::Halves), (3, PartitionKind::Mixed)] {
        let workload = Workload { rate_per_s: 20.0, duration_ms: 6_000, quiet_period_ms: 3_000, ..Workload::default() };
        let config = SimConfig {
            node_count: 7,
            seed,
            workload: Some(workload),
            nemesis: Some(Nemesis { kind, interval_ms: 1_500 }),
            record_trace: false,
            ..SimConfig::default()
        };
        let mut coarse = Simulation::new(config.clone());
        let mut fine = Simulation::new(config);
        let mut agreements = 0;
        for step in 1..=1_000 {
            fine.run_until(step * 10);
            assert_eq!(fine.agreed_since_ms().is_some(), fine.converged(), "seed {seed} at {} ms", fine.now_ms());
            if step % 50 == 0 {
                coarse.run_until(step * 10);
                // However time is chunked, agreement is dated alike.
                assert_eq!(coarse.agreed_since_ms(), fine.agreed_since_ms(), "seed {seed} at {} ms", fine.now_ms());
                agreements += u32::from(fine.agreed_since_ms().is_some_and(|t| t > 0));
            }
        }
        assert!(agreements > 0, "seed {seed}: the cluster agreed again at some point");
    }
}
