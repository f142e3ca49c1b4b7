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
use crate::core::overlay::{Gossip, Inserted, Local};
use crate::core::reconcile::{self, ReconcileMessage};
use crate::core::repair::{self, Repairs};
use crate::core::rng::Rng;
use crate::core::wire::Payload;

use std::collections::BTreeMap;


/// One node's side of the epidemic overlay.
#[derive(Debug, Default)]
pub(crate) struct Epidemic {
    neighbours: Vec<String>,
    /// New values waiting for the next push, with the peers that sent them
    /// (who need not get them back).
    pending: BTreeMap<i64, Vec<String>>,
    push_due_ms: Option<u64>,
    next_round_ms: Option<u64>,
    rng: Rng,
    repairs: Repairs,
}

impl Epidemic {
    /// Inserts values from a peer and pushes the new ones on. Values a
    /// repair brought are pushed on like new ones: each crosses each link
    /// once, so a healed partition spreads at push speed instead of one
    /// round per hop.
    fn learn(&mut self, local: &mut Local, now_ms: u64, values: impl IntoIterator<Item = i64>, from: &str) -> u64 {
        let inserted = local.insert(values, Some(from));
        let new_count = inserted.new_count;
        self.spread_inserted(local, now_ms, inserted, from);
        new_count
    }

    fn spread_inserted(&mut self, local: &mut Local, now_ms: u64, inserted: Inserted, from: &str) {
        if !inserted.to_spread.is_empty() {
            self.spread(local, now_ms, &inserted.to_spread, Some(from));
        }
    }

    fn push(&mut self, local: &mut Local) {
        self.push_due_ms = None;
        let pending = std::mem::take(&mut self.pending);
        let chunk_len = local.config().flush_batch_max_values.max(1);
        for neighbour in &self.neighbours {
            let values: Vec<i64> =
                pending.iter().filter(|(_, senders)| !senders.contains(neighbour)).map(|(&v, _)| v).collect();
            for chunk in values.chunks(chunk_len) {
                local.send_peer(neighbour.as_str(), Payload::Push { values: chunk.to_vec() }, None);
            }
        }
    }

    /// One anti-entropy round with a neighbour picked at random.
    fn round(&mut self, local: &mut Local) {
        if self.neighbours.is_empty() {
            return;
        }
        let peer = self.neighbours[self.rng.index(self.neighbours.len())].clone();
        local.count_sync();
        match local.protocol() {
            Protocol::Difference | Protocol::Digest => {
                let opener = Payload::Reconcile(reconcile::initiate(local.set()));
                local.send_peer(peer, opener, None)
            }
            Protocol::FullState => local.send_peer(peer, Payload::FullState { values: local.set().to_vec() }, None),
        }
    }

    /// A round's opener (or the peer's answer to ours): the summaries are
    /// compared. Returns `true` when the exchange ends here.
    fn on_opener(&mut self, local: &mut Local, src: &str, msg: &ReconcileMessage, msg_id: u64, answers: bool) -> bool {
        let ReconcileMessage::Open { summary, .. } = msg else { return false };
        // The round's comparison: equal summaries (count and digest) are a
        // skipped transfer.
        let ours = reconcile::initiate(local.set());
        let matched = matches!(&ours, ReconcileMessage::Open { summary: s, .. } if s == summary);
        if answers {
            // The peer's summary, answering our opener: it matched there, so
            // the transfer is skipped at this end too (if ours moved on
            // since, the next round sees it). Counted in the sync the round
            // opened.
            if matched {
                local.count_skip();
            }
            return true;
        }
        local.count_sync();
        if matched {
            local.count_skip();
            // Digests are exchanged, both ways: our summary goes back, so the
            // peer sees the match and skips too.
            local.send_peer(src, Payload::Reconcile(ours), Some(msg_id));
            return true;
        }
        if local.protocol() == Protocol::Digest {
            // Digest protocol: on a mismatch swap whole sets.
            local.send_peer(src, Payload::SyncFull { values: local.set().to_vec() }, Some(msg_id));
            return true;
        }
        false
    }
}

impl Gossip for Epidemic {
    /// Every other member is a neighbour until a topology says otherwise.
    fn start(&mut self, local: &mut Local, now_ms: u64) {
        let round_ms = local.config().round_ms.max(1);
        self.rng = Rng::new(local.config().rng_seed ^ 0xe91d_e41c);
        self.neighbours = local.others().cloned().collect();
        // The rounds are staggered over one interval, so that a cluster
        // started at once does not compare all at the same instant...
        let offset_ms = 1 + self.rng.below(round_ms);
        self.next_round_ms = Some(now_ms + offset_ms);
        // ...but a node that starts compares with one neighbour at once: a
        // process restarted empty is refilled now, not a round later (on a
        // cluster's first start the summaries match: one small message each).
        self.round(local);
    }

    fn take_neighbours(&mut self, neighbours: Vec<String>) {
        self.neighbours = neighbours;
    }

    /// New values to spread: pushed to every neighbour but their senders.
    fn spread(&mut self, local: &mut Local, now_ms: u64, new: &[i64], from: Option<&str>) {
        if !local.config().eager_push {
            return;
        }
        for &v in new {
            let senders = self.pending.entry(v).or_default();
            if let Some(from) = from {
                senders.push(from.to_string());
            }
        }
        self.push_due_ms.get_or_insert(now_ms + local.config().epidemic_push_gap_ms);
    }

    fn handle_peer(
        &mut self,
        local: &mut Local,
        now_ms: u64,
        src: &str,
        payload: Payload,
        msg_id: u64,
        answers: bool,
    ) -> bool {
        match payload {
            Payload::Push { values } => {
                self.learn(local, now_ms, values, src);
            }
            Payload::FullState { values } => {
                local.count_sync();
                let mut theirs = values.clone();
                theirs.sort_unstable();
                theirs.dedup();
                let new = self.learn(local, now_ms, values, src);
                if new == 0 {
                    local.count_skip();
                }
                local.count_transferred(new);
                // Push-pull: if the sender lacks some of ours, our whole set
                // goes back (it then lacks nothing, so it does not answer).
                if local.set().len() > theirs.len() {
                    local.send_peer(src, Payload::FullState { values: local.set().to_vec() }, None);
                }
            }
            Payload::Reconcile(msg) => {
                if self.on_opener(local, src, &msg, msg_id, answers) {
                    return true;
                }
                let reconciled = self.repairs.on_reconcile(local, now_ms, src, msg, msg_id);
                self.spread_inserted(local, now_ms, reconciled.inserted, src);
            }
            Payload::SyncFull { values } => {
                let inserted = repair::on_sync_full(local, src, values, msg_id);
                self.spread_inserted(local, now_ms, inserted, src);
            }
            Payload::SyncFullOk { values } => {
                let inserted = repair::on_sync_full_ok(local, src, values);
                self.spread_inserted(local, now_ms, inserted, src);
            }
            // No node has an upstream here: every node replicates its own
            // waiting broadcasts, and keeps what it is sent like any value.
            Payload::Replicate { values } => {
                let inserted = local.on_replicate(src, values, msg_id, false);
                self.spread_inserted(local, now_ms, inserted, src);
            }
            Payload::ReplicateOk { values } => local.release_acks(&values),
            // Hub flushes have no place here.
            _ => return false,
        }
        true
    }

    fn handle_timeout(&mut self, local: &mut Local, now_ms: u64) {
        local.replicate_if_due(now_ms, false);
        if self.push_due_ms.is_some_and(|t| t <= now_ms) {
            self.push(local);
        }
        if self.next_round_ms.is_some_and(|t| t <= now_ms) {
            self.next_round_ms = Some(now_ms + local.config().round_ms.max(1));
            self.round(local);
        }
    }

    fn poll_timeout(&self, local: &Local) -> Option<u64> {
        [self.push_due_ms, self.next_round_ms, local.acks().poll_timeout(false)].into_iter().flatten().min()
    }
}
