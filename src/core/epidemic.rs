//! The epidemic overlay: anti-entropy with no hub, on any topology, as
//! Demers et al. (1987) and Dynamo/Cassandra repair run it.
//!
//! - Peers are the node's neighbours in the topology: Maelstrom's
//!   `topology` message when it has come (the simulator and the page send
//!   their own), every other member until then.
//! - New values spread by eager push (rumour mongering): gathered for
//!   `epidemic_push_gap_ms`, then sent to every neighbour but the ones they
//!   came from. A node forwards a value only the first time it learns it, so
//!   each value crosses each link about once.
//! - Every `round_ms` the node compares digests with one neighbour chosen by
//!   its seeded [`Rng`]: the `reconcile` opener carries a summary of its set;
//!   equal summaries are answered with the peer's own summary, so digests
//!   go both ways and both ends count the skipped transfer (one small
//!   message more per matched round, about 0.25 msgs/op at 25 nodes, for
//!   an exchange the page can show whole); otherwise the pair reconciles under the cluster's protocol
//!   (`difference`: only the difference, both ways; `digest`: the whole set
//!   both ways) and ends equal. `full_state` ships the whole set instead.
//!   Lost messages and healed partitions are repaired by these rounds alone.

use crate::core::config::Protocol;
use crate::core::node::Node;
use crate::core::reconcile;
use crate::core::rng::Rng;
use crate::core::wire::Payload;

use std::collections::BTreeMap;


#[derive(Debug, Default)]
pub(crate) struct EpidemicState {
    /// Whether this node runs the epidemic overlay (set at `init`).
    pub active: bool,
    pub neighbours: Vec<String>,
    /// New values waiting for the next push, with the peers that sent them
    /// (who need not get them back).
    pending: BTreeMap<i64, Vec<String>>,
    push_due_ms: Option<u64>,
    next_round_ms: Option<u64>,
    rng: Rng,
}

impl Node {
    /// Sets the overlay up at `init`: every other member is a neighbour
    /// until a topology says otherwise.
    pub(crate) fn epidemic_init(&mut self, now_ms: u64) {
        let e = &mut self.epidemic;
        e.active = true;
        e.rng = Rng::new(self.config.rng_seed ^ 0xe91d_e41c);
        e.neighbours = self.node_ids.iter().filter(|id| id.as_str() != self.id.as_str()).cloned().collect();
        // The rounds are staggered over one interval, so that a cluster
        // started at once does not compare all at the same instant...
        let offset_ms = 1 + e.rng.below(self.config.round_ms.max(1));
        e.next_round_ms = Some(now_ms + offset_ms);
        // ...but a node that starts compares with one neighbour at once: a
        // process restarted empty is refilled now, not a round later (on a
        // cluster's first start the summaries match: one small message each).
        self.epidemic_round();
    }

    /// Takes the neighbours the topology gives this node (members only).
    pub(crate) fn epidemic_take_topology(&mut self) {
        if !self.epidemic.active {
            return;
        }
        let Some(neighbours) = self.suggested_topology().get(self.id.as_str()) else { return };
        let members = &self.node_ids;
        let mut chosen: Vec<String> = neighbours
            .iter()
            .filter(|n| n.as_str() != self.id.as_str() && members.contains(n))
            .cloned()
            .collect();
        chosen.sort();
        chosen.dedup();
        self.epidemic.neighbours = chosen;
    }

    /// New values to spread: pushed to every neighbour but their senders.
    pub(crate) fn epidemic_spread(&mut self, now_ms: u64, new: &[i64], from: Option<&str>) {
        if !self.config.eager_push {
            return;
        }
        let e = &mut self.epidemic;
        for &v in new {
            let senders = e.pending.entry(v).or_default();
            if let Some(from) = from {
                senders.push(from.to_string());
            }
        }
        e.push_due_ms.get_or_insert(now_ms + self.config.epidemic_push_gap_ms);
    }

    fn epidemic_push(&mut self) {
        self.epidemic.push_due_ms = None;
        let pending = std::mem::take(&mut self.epidemic.pending);
        let neighbours = self.epidemic.neighbours.clone();
        for neighbour in neighbours {
            let values: Vec<i64> = pending
                .iter()
                .filter(|(_, senders)| !senders.contains(&neighbour))
                .map(|(&v, _)| v)
                .collect();
            for chunk in values.chunks(self.config.flush_batch_max_values.max(1)) {
                self.send_peer(neighbour.clone(), Payload::Push { values: chunk.to_vec() }, None);
            }
        }
    }

    /// One anti-entropy round with a neighbour picked at random.
    fn epidemic_round(&mut self) {
        let neighbours = &self.epidemic.neighbours;
        if neighbours.is_empty() {
            return;
        }
        let peer = neighbours[self.epidemic.rng.index(neighbours.len())].clone();
        self.counters.syncs += 1;
        match self.config.protocol {
            Protocol::Difference | Protocol::Digest => {
                self.send_peer(peer, Payload::Reconcile(reconcile::initiate(&self.set)), None)
            }
            Protocol::FullState => self.send_peer(peer, Payload::FullState { values: self.set.to_vec() }, None),
        }
    }

    pub(crate) fn epidemic_timeout(&mut self, now_ms: u64) {
        if self.epidemic.push_due_ms.is_some_and(|t| t <= now_ms) {
            self.epidemic_push();
        }
        if self.epidemic.next_round_ms.is_some_and(|t| t <= now_ms) {
            self.epidemic.next_round_ms = Some(now_ms + self.config.round_ms.max(1));
            self.epidemic_round();
        }
    }

    pub(crate) fn epidemic_poll_timeout(&self) -> Option<u64> {
        [self.epidemic.push_due_ms, self.epidemic.next_round_ms].into_iter().flatten().min()
    }

    /// Node-to-node traffic under the epidemic overlay. Returns `false` for
    /// payloads that are not gossip.
    /// `answers` says the message is the answer to one of ours (it names
    /// our request in `in_reply_to`).
    pub(crate) fn epidemic_handle_peer(
        &mut self,
        now_ms: u64,
        src: &str,
        payload: Payload,
        msg_id: u64,
        answers: bool,
    ) -> bool {
        match payload {
            Payload::Push { values } => {
                self.learn(now_ms, values, Some(src));
            }
            Payload::FullState { values } => {
                self.counters.syncs += 1;
                let mut theirs = values.clone();
                theirs.sort_unstable();
                theirs.dedup();
                let new = self.learn(now_ms, values, Some(src));
                if new == 0 {
                    self.counters.skipped += 1;
                }
                self.counters.transferred += new;
                // Push-pull: if the sender lacks some of ours, our whole set
                // goes back (it then lacks nothing, so it does not answer).
                if self.set.len() > theirs.len() {
                    self.send_peer(src, Payload::FullState { values: self.set.to_vec() }, None);
                }
            }
            Payload::Reconcile(msg) => {
                if let reconcile::ReconcileMessage::Open { summary, .. } = &msg {
                    // The round's comparison: equal summaries (count and
                    // digest) are a skipped transfer.
                    let ours = reconcile::initiate(&self.set);
                    let matched = matches!(&ours, reconcile::ReconcileMessage::Open { summary: s, .. } if s == summary);
                    if answers {
                        // The peer's summary, answering our opener: it
                        // matched there, so the transfer is skipped at this
                        // end too (if ours moved on since, the next round
                        // sees it). Counted in the sync the round opened.
                        if matched {
                            self.counters.skipped += 1;
                        }
                        return true;
                    }
                    self.counters.syncs += 1;
                    if matched {
                        self.counters.skipped += 1;
                        // Digests are exchanged, both ways: our summary goes
                        // back, so the peer sees the match and skips too.
                        self.send_peer(src, Payload::Reconcile(ours), Some(msg_id));
                        return true;
                    }
                    if self.config.protocol == Protocol::Digest {
                        // Digest protocol: on a mismatch swap whole sets.
                        if !matched {
                            self.send_peer(src, Payload::SyncFull { values: self.set.to_vec() }, Some(msg_id));
                        }
                        return true;
                    }
                }
                self.on_reconcile(now_ms, src, msg, msg_id);
            }
            // Hub flushes have no place here.
            Payload::Flush { .. } => return false,
            // Whole-set swaps and replication work as under the star.
            other => return self.handle_peer(now_ms, src, other, msg_id),
        }
        true
    }
}
