//! Issue 11's node case: two replicas loaded with the same values while the
//! link between them is cut (two nodes restored from one backup) must heal
//! for about what an agreed pair costs, not by re-pushing every value that
//! was never echoed.

use anti_entropy::sim::{SimConfig, Simulation};
use anti_entropy::Protocol;

const LOADED: i64 = 20_000;

/// Bytes node to node from the heal until both sets are equal, and how long.
fn heal_cost(load_both_sides: bool) -> (u64, u64) {
    let mut sim = Simulation::new(SimConfig {
        node_count: 2,
        seed: 3,
        protocol: Protocol::Difference,
        record_trace: false,
        ..SimConfig::default()
    });
    sim.run_until(500);
    sim.isolate(&[1]);
    if load_both_sides {
        for v in 0..LOADED {
            sim.broadcast(0, v);
            sim.broadcast(1, v);
        }
    }
    // Ten values differ either way.
    for v in 0..10 {
        sim.broadcast(v as usize % 2, LOADED + v);
    }
    sim.run_until(5_000);
    let before = sim.totals().bytes_sent;
    sim.heal();
    let healed_at = sim.now_ms();
    while !sim.converged() {
        assert!(sim.now_ms() < healed_at + 10_000, "no convergence 10 s after the heal");
        sim.run_until(sim.now_ms() + 10);
    }
    let converged_at = sim.now_ms();
    // Whatever is still in flight for the repair counts too.
    sim.run_until(converged_at + 2_000);
    (sim.totals().bytes_sent - before, converged_at - healed_at)
}

#[test]
fn a_heal_after_loading_both_sides_costs_what_the_agreed_case_costs() {
    let (agreed_bytes, agreed_ms) = heal_cost(false);
    let (loaded_bytes, loaded_ms) = heal_cost(true);
    eprintln!("heal: agreed {agreed_bytes} B in {agreed_ms} ms, loaded while apart {loaded_bytes} B in {loaded_ms} ms");
    assert!(loaded_bytes <= 2 * agreed_bytes, "loaded {loaded_bytes} B against agreed {agreed_bytes} B");
}
