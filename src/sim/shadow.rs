//! A run with its full-state shadow: the scenario shown, and the same
//! scenario and actions under the full-state protocol, unseen, in lockstep.
//!
//! "Bytes full state would have sent" is then what a real full-state run
//! sent, not an estimate: pricing each message as a whole set misses that
//! full state also sends more often, and on small sets it made the counter
//! contradict a race against full state on the same screen. The page (through
//! the wasm facade) and the native replay of a page scenario both drive this
//! type, so they report the same figures.

use super::{SimConfig, Simulation, TraceEvent};
use crate::core::config::Protocol;

pub struct ShadowedSimulation {
    run: Simulation,
    /// `None` when `run` is on the full-state protocol already.
    full_state_shadow: Option<Simulation>,
}

impl ShadowedSimulation {
    pub fn new(config: SimConfig) -> Self {
        let full_state_shadow = (config.protocol != Protocol::FullState).then(|| {
            // The shadow's messages are never shown: no trace to keep.
            Simulation::new(SimConfig { protocol: Protocol::FullState, record_trace: false, ..config.clone() })
        });
        ShadowedSimulation { run: Simulation::new(config), full_state_shadow }
    }

    /// The run shown.
    pub fn run(&self) -> &Simulation {
        &self.run
    }

    /// Bytes the full-state protocol sent node to node on this scenario so far.
    pub fn full_state_bytes_sent(&self) -> u64 {
        self.full_state_shadow.as_ref().unwrap_or(&self.run).totals().bytes_sent
    }

    /// The shown run's messages since the last drain.
    pub fn drain_trace(&mut self) -> Vec<TraceEvent> {
        self.run.drain_trace()
    }

    pub fn run_until(&mut self, t_ms: u64) {
        self.each(|sim| sim.run_until(t_ms));
    }

    pub fn broadcast(&mut self, node: usize, value: i64) {
        self.each(|sim| sim.broadcast(node, value));
    }

    pub fn isolate(&mut self, nodes: &[usize]) {
        self.each(|sim| sim.isolate(nodes));
    }

    /// Restores every link of `node` (other cuts stay).
    pub fn reconnect(&mut self, node: usize) {
        let node_count = self.run.node_count();
        self.each(|sim| (0..node_count).for_each(|other| sim.set_link_cut(node, other, false)));
    }

    pub fn split_halves(&mut self) {
        self.each(Simulation::split_halves);
    }

    pub fn heal(&mut self) {
        self.each(Simulation::heal);
    }

    fn each(&mut self, mut act: impl FnMut(&mut Simulation)) {
        act(&mut self.run);
        if let Some(shadow) = &mut self.full_state_shadow {
            act(shadow);
        }
    }
}
