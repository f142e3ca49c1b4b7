//! Node-to-node anti-entropy: which protocol a cluster runs and how its
//! messages are classified for accounting and visualisation.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::core::config::{Overlay, Protocol};
use crate::core::fingerprint::Fingerprint;
use crate::core::node::Node;
use crate::core::reconcile::{self, ReconcileMessage};
use crate::core::wire::{self, Payload};

/// Most values a repair may bring that are then flushed on to followers at
/// once (see `Node::learn_repaired`).
const REPAIRED_VALUES_FLUSHED_MAX: usize = 64;

/// Most unechoed values pushed again as they are; beyond this many a
/// reconciliation with the hub replaces the pushes (see
/// `Node::requeue_unconfirmed`).
const REPUSHED_VALUES_MAX: usize = 64;

/// How far behind the expected flush number a flush may arrive and still
/// count as a late copy rather than a sign that the hub restarted.
const FLUSH_REORDER_WINDOW: u64 = 8;

/// Overlay and anti-entropy state of one node (the design is described in ARCHITECTURE.md,
/// "gossip").
#[derive(Debug, Default)]
pub(crate) struct GossipState {
    /// Position of each node id in `node_ids`: a lower index is a more
    /// preferred hub, and a node only ever follows lower-indexed nodes, so
    /// the overlay is a forest and can never form a cycle.
    pub index_of: BTreeMap<String, usize>,
    pub my_index: usize,
    /// The hub we push to and expect flushes from (`None`: we are a root).
    pub upstream: Option<String>,
    pub upstream_since_ms: u64,
    pub last_heard_ms: BTreeMap<String, u64>,
    pub suspected_until_ms: BTreeMap<String, u64>,
    /// Nodes we flush to. The primary counts every other node as a follower,
    /// so that nodes cut off from it find their way back once links heal.
    pub followers: BTreeMap<String, Follower>,
    pub flush_pending: BTreeSet<i64>,
    pub flush_due_ms: Option<u64>,
    pub next_heartbeat_ms: Option<u64>,
    /// Follower side: sequence tracking of the upstream's flushes.
    pub expected_seq: Option<u64>,
    pub seqs_ahead: BTreeSet<u64>,
    pub latest_upstream_digest: Option<(u64, String)>,
    pub gap_since_ms: Option<u64>,
    /// Values queued or pushed upstream and not yet echoed back, with the
    /// time they were (re)queued.
    pub unconfirmed: BTreeMap<i64, u64>,
    /// Push order of `unconfirmed` (entries may be stale; checked on use).
    pub unconfirmed_queue: VecDeque<(u64, i64)>,
    pub unconfirmed_fingerprint: Fingerprint,
    pub push_pending: BTreeSet<i64>,
    pub push_due_ms: Option<u64>,
    pub last_push_ms: Option<u64>,
    pub last_sent_upstream_ms: u64,
    pub repair_until_ms: Option<u64>,
    pub next_full_state_ms: Option<u64>,
    /// `Protocol::Difference`: reconciliations waiting for more symbols, by
    /// peer (bounded by `reconcile::MAX_SYMBOLS` each).
    pub reconcile_sessions: BTreeMap<String, reconcile::Session>,
    /// While empty: the peer refilling us and until when others wait.
    pub refill_from: Option<(String, u64)>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Follower {
    pub last_heard_ms: u64,
    pub next_seq: u64,
}

impl Node {
    /// Sets up the overlay once `init` has told us the cluster.
    pub(crate) fn gossip_init(&mut self, now_ms: u64) {
        let g = &mut self.gossip;
        *g = GossipState::default();
        // A node missing from `node_ids`, or alone in it, has nobody to
        // gossip with: it serves clients and leaves the overlay empty.
        let Some(my_index) = self.node_ids.iter().position(|id| *id == self.id) else { return };
        if self.node_ids.len() < 2 {
            return;
        }
        g.index_of = self.node_ids.iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
        g.my_index = my_index;
        if self.config.overlay == Overlay::Epidemic {
            self.epidemic_init(now_ms);
            return;
        }
        if my_index == 0 {
            for id in self.node_ids.iter().skip(1) {
                g.followers.insert(id.clone(), Follower { last_heard_ms: now_ms, next_seq: 1 });
            }
            // The first heartbeat goes out at once: a hub that restarted
            // empty must tell its followers now (its flush numbering starts
            // again at 1, see `on_upstream_flush`), so that they check
            // themselves against it and refill it, rather than after a
            // heartbeat interval.
            g.next_heartbeat_ms = Some(now_ms);
        } else {
            g.upstream = Some(self.node_ids[0].clone());
            g.upstream_since_ms = now_ms;
            g.last_sent_upstream_ms = now_ms;
        }
        if self.config.protocol == Protocol::FullState {
            g.next_full_state_ms = Some(now_ms + self.config.full_state_interval_ms);
        }
        self.check_in_with_upstream();
    }

    /// A follower that starts offers the hub its digest at once: a process
    /// restarted empty is refilled now instead of at the hub's next
    /// heartbeat. On a cluster's first start the digests are equal and the
    /// hub does not answer, so this costs one small message per follower.
    fn check_in_with_upstream(&mut self) {
        let Some(upstream) = self.gossip.upstream.clone() else { return };
        match self.config.protocol {
            Protocol::Difference => self.send_peer(upstream, Payload::Reconcile(reconcile::initiate(&self.set)), None),
            Protocol::Digest => self.send_peer(upstream, Payload::SyncFull { values: self.set.to_vec() }, None),
            Protocol::FullState => {}
        }
    }

    /// Inserts values that arrived from `from` (`None`: a client) and passes
    /// the new ones on. Returns how many were new.
    pub(crate) fn learn(&mut self, now_ms: u64, values: impl IntoIterator<Item = i64>, from: Option<&str>) -> u64 {
        self.learn_and_maybe_spread(now_ms, values, from, usize::MAX)
    }

    /// [`Node::learn`] for values a repair brought. A few are passed on at
    /// once, as new values are; a bulk of them (a restarted, empty hub being
    /// refilled, a long partition healed) is not flushed to every follower:
    /// each follower's next digest check shows the change, and its own
    /// repair moves only what it lacks.
    fn learn_repaired(&mut self, now_ms: u64, values: impl IntoIterator<Item = i64>, from: &str) -> u64 {
        // The epidemic overlay pushes repaired values on like new ones: each
        // crosses each link once, so a healed partition spreads at push speed
        // instead of one round per hop.
        let spread_max = if self.epidemic.active { usize::MAX } else { REPAIRED_VALUES_FLUSHED_MAX };
        self.learn_and_maybe_spread(now_ms, values, Some(from), spread_max)
    }

    fn learn_and_maybe_spread(
        &mut self,
        now_ms: u64,
        values: impl IntoIterator<Item = i64>,
        from: Option<&str>,
        spread_max: usize,
    ) -> u64 {
        // A lone node, or one on the full-state protocol, passes nothing on:
        // it only counts, so a client broadcast costs no allocation here.
        let spreads = self.config.protocol != Protocol::FullState && !self.gossip.index_of.is_empty();
        let mut new = Vec::new();
        let mut new_count = 0;
        let mut held_elsewhere = Vec::new();
        let acks_wait = from.is_some() && self.has_waiting_acks();
        for v in values {
            if acks_wait {
                // Another node holds it: a broadcast of it waiting here for
                // replication can be acknowledged.
                held_elsewhere.push(v);
            }
            if self.set.insert(v) {
                new_count += 1;
                if spreads {
                    new.push(v);
                }
            }
        }
        self.release_acks(&held_elsewhere);
        if !new.is_empty() && new.len() <= spread_max {
            self.spread(now_ms, &new, from);
        }
        new_count
    }

    fn spread(&mut self, now_ms: u64, new: &[i64], from: Option<&str>) {
        if self.epidemic.active {
            self.epidemic_spread(now_ms, new, from);
            return;
        }
        if !self.gossip.followers.is_empty() {
            self.gossip.flush_pending.extend(new.iter().copied());
            let enough_values = (self.gossip.followers.len() * self.config.flush_values_per_follower)
                .clamp(1, self.config.flush_batch_max_values);
            if self.gossip.flush_pending.len() >= enough_values {
                // Due now rather than sent now: the reply to the request that
                // brought these values goes out first.
                self.gossip.flush_due_ms = Some(now_ms);
            } else if self.gossip.flush_due_ms.is_none() {
                self.gossip.flush_due_ms = Some(now_ms + self.flush_interval_ms());
            }
        }
        if self.gossip.upstream.is_some() && self.gossip.upstream.as_deref() != from {
            for &v in new {
                self.queue_for_upstream(now_ms, v);
            }
        }
    }

    /// Queues `v` for the next push. From this moment until the hub echoes
    /// it, `v` counts as in flight: the follower's digest check leaves it
    /// out, so a value waiting for its push cannot look like a divergence.
    fn queue_for_upstream(&mut self, now_ms: u64, v: i64) {
        let g = &mut self.gossip;
        if g.unconfirmed.insert(v, now_ms).is_none() {
            g.unconfirmed_fingerprint.add(&Fingerprint::of_value(v));
        }
        g.unconfirmed_queue.push_back((now_ms, v));
        g.push_pending.insert(v);
        if g.push_due_ms.is_none() {
            let earliest = g.last_push_ms.map_or(now_ms, |t| t + self.config.push_gap_ms);
            g.push_due_ms = Some(earliest.max(now_ms));
        }
    }

    /// A flush costs one message per follower, so the batching window grows
    /// with the fan-out, up to the configured maximum.
    fn flush_interval_ms(&self) -> u64 {
        let per_follower = self.config.flush_interval_per_follower_ms * self.gossip.followers.len() as u64;
        per_follower.clamp(1, self.config.flush_interval_max_ms)
    }

    /// Sends pending values (or, with none, a heartbeat) to every follower,
    /// each with the hub's digest so followers can check themselves.
    fn flush(&mut self, now_ms: u64) {
        let is_primary = self.gossip.my_index == 0;
        let expiry_ms = 2 * self.config.hub_timeout_ms;
        if !is_primary {
            self.gossip.followers.retain(|_, f| f.last_heard_ms + expiry_ms > now_ms);
        }
        let values: Vec<i64> = std::mem::take(&mut self.gossip.flush_pending).into_iter().collect();
        let digest = self.set.fingerprint().short();
        let followers: Vec<String> = self.gossip.followers.keys().cloned().collect();
        for follower in followers {
            let f = self.gossip.followers.get_mut(&follower).expect("listed above");
            let seq = f.next_seq;
            f.next_seq += 1;
            let payload = Payload::Flush { seq, values: values.clone(), digest: digest.clone() };
            self.send_peer(follower, payload, None);
        }
        self.gossip.flush_due_ms = None;
        self.gossip.next_heartbeat_ms = Some(now_ms + self.config.heartbeat_interval_ms);
    }

    fn push(&mut self, now_ms: u64) {
        let g = &mut self.gossip;
        g.push_due_ms = None;
        let Some(upstream) = g.upstream.clone() else {
            g.push_pending.clear();
            return;
        };
        // At most a flush's worth per message (a burst of broadcasts while
        // cut off from the hub can be large); the rest goes right after.
        let values: Vec<i64> = if g.push_pending.len() > self.config.flush_batch_max_values {
            let rest = g.push_pending.split_off(
                &g.push_pending.iter().nth(self.config.flush_batch_max_values).copied().expect("longer than the cap"),
            );
            let batch = std::mem::replace(&mut g.push_pending, rest).into_iter().collect();
            g.push_due_ms = Some(now_ms);
            batch
        } else {
            std::mem::take(&mut g.push_pending).into_iter().collect()
        };
        g.last_push_ms = Some(now_ms);
        g.last_sent_upstream_ms = now_ms;
        self.send_peer(upstream, Payload::Push { values }, None);
    }

    /// The hub echoed `v`: it has it, so it no longer counts as in flight.
    fn confirm(&mut self, v: i64) {
        if self.gossip.unconfirmed.remove(&v).is_some() {
            self.gossip.unconfirmed_fingerprint.sub(&Fingerprint::of_value(v));
        }
    }

    /// Handles node-to-node traffic. Returns `false` for payloads that are
    /// not gossip.
    pub(crate) fn handle_peer(&mut self, now_ms: u64, src: &str, payload: Payload, msg_id: u64) -> bool {
        self.gossip.last_heard_ms.insert(src.to_string(), now_ms);
        match payload {
            Payload::Push { values } => {
                self.note_follower(now_ms, src);
                self.learn(now_ms, values, Some(src));
            }
            Payload::Flush { seq, values, digest } => {
                self.maybe_adopt_upstream(now_ms, src);
                let from_upstream = self.gossip.upstream.as_deref() == Some(src);
                if from_upstream {
                    for &v in &values {
                        self.confirm(v);
                    }
                    self.upstream_holds(&values);
                }
                self.learn(now_ms, values, Some(src));
                if from_upstream {
                    self.on_upstream_flush(now_ms, seq, digest);
                }
            }
            Payload::SyncFull { values } => {
                let new = self.learn_repaired(now_ms, values, src);
                self.counters.transferred += new;
                let reply = Payload::SyncFullOk { values: self.set.to_vec() };
                self.send_peer(src, reply, Some(msg_id));
            }
            Payload::SyncFullOk { values } => {
                let new = self.learn_repaired(now_ms, values, src);
                self.counters.transferred += new;
                if self.gossip.upstream.as_deref() == Some(src) {
                    self.gossip.repair_until_ms = None;
                }
            }
            Payload::Reconcile(msg) => self.on_reconcile(now_ms, src, msg, msg_id),
            Payload::Replicate { values } => self.on_replicate(now_ms, src, values, msg_id),
            Payload::ReplicateOk { values } => self.release_acks(&values),
            Payload::FullState { values } => {
                if self.gossip.index_of.get(src).is_some_and(|&i| i < self.gossip.my_index) {
                    self.maybe_adopt_upstream(now_ms, src);
                } else {
                    self.note_follower(now_ms, src);
                }
                self.counters.syncs += 1;
                let new = self.learn(now_ms, values, Some(src));
                self.counters.transferred += new;
            }
            _ => return false,
        }
        true
    }

    fn note_follower(&mut self, now_ms: u64, src: &str) {
        if !self.gossip.index_of.contains_key(src) {
            return;
        }
        match self.gossip.followers.get_mut(src) {
            Some(f) => f.last_heard_ms = now_ms,
            None => {
                self.gossip.followers.insert(src.to_string(), Follower { last_heard_ms: now_ms, next_seq: 1 });
                // A new follower gets a heartbeat at once, so it knows it has a hub.
                if self.config.protocol != Protocol::FullState {
                    self.flush_one_heartbeat(src);
                }
            }
        }
    }

    fn flush_one_heartbeat(&mut self, follower: &str) {
        let digest = self.set.fingerprint().short();
        let f = self.gossip.followers.get_mut(follower).expect("just inserted");
        let seq = f.next_seq;
        f.next_seq += 1;
        self.send_peer(follower, Payload::Flush { seq, values: Vec::new(), digest }, None);
    }

    /// Hearing a flush from a node more preferred than our hub means it is
    /// reachable again: follow it.
    fn maybe_adopt_upstream(&mut self, now_ms: u64, src: &str) {
        let g = &self.gossip;
        let Some(&src_index) = g.index_of.get(src) else { return };
        if src_index >= g.my_index {
            return;
        }
        let better = match g.upstream.as_ref().and_then(|u| g.index_of.get(u)) {
            None => true,
            Some(&current) => src_index < current,
        };
        if better {
            self.gossip.suspected_until_ms.remove(src);
            self.switch_upstream(now_ms, Some(src.to_string()));
        }
    }

    fn switch_upstream(&mut self, now_ms: u64, upstream: Option<String>) {
        let keep_replicated = self.values_to_keep_replicated();
        let g = &mut self.gossip;
        g.upstream = upstream;
        g.upstream_since_ms = now_ms;
        g.expected_seq = None;
        g.seqs_ahead.clear();
        g.latest_upstream_digest = None;
        g.gap_since_ms = None;
        g.repair_until_ms = None;
        // Whatever the old hub had not echoed goes to the new one.
        let mut in_flight: Vec<i64> = g.unconfirmed.keys().copied().collect();
        in_flight.extend(keep_replicated);
        if g.upstream.is_none() {
            self.ack_became_root(now_ms);
        }
        if self.gossip.upstream.is_some() {
            for v in in_flight {
                self.queue_for_upstream(now_ms, v);
            }
            if self.config.protocol == Protocol::FullState {
                self.send_full_state_upstream();
            } else {
                // Push at once (possibly empty): it registers us with the hub.
                self.push(now_ms);
            }
        }
    }

    fn on_upstream_flush(&mut self, now_ms: u64, seq: u64, digest: String) {
        let g = &mut self.gossip;
        // Flushes are numbered from 1 per hub incarnation: a 1 when we
        // expected more, or a number far behind the expected one, means the
        // hub restarted (empty, or nearly), so its old numbering is void and
        // this flush is checked at once. (Only looking for a 1 would miss a
        // restart whose first flush was lost until the new numbering caught
        // up with the old.) A late copy of an old flush that is taken for a
        // restart costs one repair at most.
        let restarted = |expected: u64| expected > 1 && (seq == 1 || seq + FLUSH_REORDER_WINDOW < expected);
        if g.expected_seq.is_some_and(restarted) {
            g.expected_seq = None;
            g.seqs_ahead.clear();
            g.gap_since_ms = None;
            g.latest_upstream_digest = None;
        }
        if g.latest_upstream_digest.as_ref().is_none_or(|(s, _)| seq >= *s) {
            g.latest_upstream_digest = Some((seq, digest));
        }
        match g.expected_seq {
            None => g.expected_seq = Some(seq + 1),
            Some(expected) if seq == expected => {
                let mut next = expected + 1;
                while g.seqs_ahead.remove(&next) {
                    next += 1;
                }
                g.expected_seq = Some(next);
            }
            Some(expected) if seq > expected => {
                g.seqs_ahead.insert(seq);
                g.gap_since_ms.get_or_insert(now_ms);
                return;
            }
            Some(_) => return, // a duplicate or late copy: values merged, nothing to check
        }
        if !g.seqs_ahead.is_empty() {
            return;
        }
        g.gap_since_ms = None;
        self.check_against_upstream(now_ms);
    }

    /// The digest comparison: our set minus what is still in flight to the
    /// hub must equal the hub's set as of its latest flush.
    fn check_against_upstream(&mut self, now_ms: u64) {
        let Some((_, upstream_digest)) = self.gossip.latest_upstream_digest.clone() else { return };
        self.counters.syncs += 1;
        let mut settled = self.set.fingerprint();
        settled.sub(&self.gossip.unconfirmed_fingerprint);
        if settled.short() == upstream_digest {
            self.counters.skipped += 1;
            self.release_acks_held_upstream();
            self.upstream_holds_everything_settled();
        } else if self.set.fingerprint().short() == upstream_digest {
            // The hub already holds what we have in flight to it (a value it
            // got from elsewhere first, so its flushes will never echo it).
            self.counters.skipped += 1;
            let g = &mut self.gossip;
            g.unconfirmed.clear();
            g.unconfirmed_queue.clear();
            g.unconfirmed_fingerprint = Fingerprint::EMPTY;
            self.release_acks_held_upstream();
            self.upstream_holds_everything_settled();
        } else {
            self.start_repair(now_ms);
        }
    }

    fn start_repair(&mut self, now_ms: u64) {
        let Some(upstream) = self.gossip.upstream.clone() else { return };
        if self.gossip.repair_until_ms.is_some_and(|t| t > now_ms) {
            return;
        }
        let g = &mut self.gossip;
        g.repair_until_ms = Some(now_ms + self.config.repair_timeout_ms);
        g.expected_seq = None;
        g.seqs_ahead.clear();
        g.gap_since_ms = None;
        // The repair hands the hub everything we have, in flight or not.
        g.unconfirmed.clear();
        g.unconfirmed_queue.clear();
        g.unconfirmed_fingerprint = Fingerprint::EMPTY;
        // Except that broadcasts still waiting for replication are pushed
        // again at once: a repair can take a while (an empty hub takes one
        // refill at a time), and until the hub holds them a second crash
        // would lose them.
        for v in self.values_to_keep_replicated() {
            self.queue_for_upstream(now_ms, v);
        }
        if self.config.protocol == Protocol::Difference {
            // The opener stands in for `sync_full`: priced as the whole set.
            let full_state = self.whole_set_message_len(&upstream, Payload::SyncFull { values: Vec::new() });
            let opener = Payload::Reconcile(reconcile::initiate_repair(&self.set));
            self.send_peer_priced(upstream, opener, None, Some(full_state));
        } else {
            let payload = Payload::SyncFull { values: self.set.to_vec() };
            self.send_peer(upstream, payload, None);
        }
    }

    /// One step of a `Protocol::Difference` repair (see `reconcile`). The
    /// answer to an opener stands in for `sync_full_ok` and is priced as our
    /// whole set; the rounds after it have no full-state counterpart, so they
    /// count in `bytes_sent` only.
    pub(crate) fn on_reconcile(&mut self, now_ms: u64, src: &str, msg: ReconcileMessage, msg_id: u64) {
        let mut session = self.gossip.reconcile_sessions.remove(src).unwrap_or_default();
        let step = match reconcile::respond(&self.set, &mut session, &msg) {
            Ok(step) => step,
            Err(e) => {
                if session.is_active() {
                    self.gossip.reconcile_sessions.insert(src.to_string(), session);
                }
                let text = format!("malformed {}: {e}", msg.type_name());
                let error = Payload::Error { code: wire::error_code::MALFORMED_REQUEST, text };
                self.send_peer(src, error, Some(msg_id));
                return;
            }
        };
        if !step.done {
            self.gossip.reconcile_sessions.insert(src.to_string(), session);
        } else if self.gossip.upstream.as_deref() == Some(src) {
            self.gossip.repair_until_ms = None;
        }
        let answers_opener = matches!(msg, ReconcileMessage::Open { .. });
        // An empty node (a restarted process) answers an opener with its
        // empty listing, and the peer then sends it its whole set. When all
        // followers of a restarted hub open at once, one such refill is
        // enough: the others go unanswered, retry at their repair deadline
        // and by then find a small difference.
        // (Until the refill's deadline, that is, not only while the set is
        // still empty: a listing arrives in chunks, and an opener answered
        // after the first chunk would start a second bulk transfer.)
        let lists = answers_opener && step.replies.iter().any(|r| matches!(r, ReconcileMessage::Range { .. }));
        if lists {
            if let Some((peer, until_ms)) = &self.gossip.refill_from {
                if peer != src && *until_ms > now_ms {
                    return;
                }
            }
            if self.set.is_empty() {
                self.gossip.refill_from = Some((src.to_string(), now_ms + self.config.repair_timeout_ms));
            }
        }
        for (i, reply) in step.replies.into_iter().enumerate() {
            let full_state = if answers_opener && i == 0 {
                self.whole_set_message_len(src, Payload::SyncFullOk { values: Vec::new() })
            } else {
                0
            };
            self.send_peer_priced(src, Payload::Reconcile(reply), None, Some(full_state));
        }
        let new = self.learn_repaired(now_ms, step.values_to_insert, src);
        self.counters.transferred += new;
    }

    fn send_full_state_upstream(&mut self) {
        if let Some(upstream) = self.gossip.upstream.clone() {
            self.send_peer(upstream, Payload::FullState { values: self.set.to_vec() }, None);
        }
    }

    /// Runs every gossip timer that is due.
    pub(crate) fn gossip_timeout(&mut self, now_ms: u64) {
        if self.gossip.index_of.is_empty() {
            return;
        }
        if self.epidemic.active {
            self.ack_timeout(now_ms);
            self.epidemic_timeout(now_ms);
            return;
        }
        self.check_upstream_liveness(now_ms);
        self.ack_timeout(now_ms);
        if self.config.protocol == Protocol::FullState {
            if self.gossip.next_full_state_ms.is_some_and(|t| t <= now_ms) {
                self.gossip.next_full_state_ms = Some(now_ms + self.config.full_state_interval_ms);
                self.full_state_round(now_ms);
            }
            return;
        }
        if self.gossip.flush_due_ms.is_some_and(|t| t <= now_ms)
            || self.gossip.next_heartbeat_ms.is_some_and(|t| t <= now_ms) && !self.gossip.followers.is_empty()
        {
            self.flush(now_ms);
        }
        self.requeue_unconfirmed(now_ms);
        let keepalive_due = self.keepalive_due_ms().is_some_and(|t| t <= now_ms);
        if self.gossip.push_due_ms.is_some_and(|t| t <= now_ms) || keepalive_due {
            self.push(now_ms);
        }
        // A repair unanswered by its deadline (request or reply lost) is
        // retried at once rather than at the next mismatch, which when the
        // cluster is idle is a heartbeat away.
        let repair_overdue = self.gossip.repair_until_ms.is_some_and(|t| t <= now_ms);
        let gap_overdue = self.gossip.gap_since_ms.is_some_and(|t| t + self.config.gap_timeout_ms <= now_ms);
        if repair_overdue || gap_overdue {
            self.start_repair(now_ms);
        }
    }

    fn full_state_round(&mut self, now_ms: u64) {
        self.send_full_state_upstream();
        self.gossip.last_sent_upstream_ms = now_ms;
        let is_primary = self.gossip.my_index == 0;
        let expiry_ms = 2 * self.config.hub_timeout_ms;
        if !is_primary {
            self.gossip.followers.retain(|_, f| f.last_heard_ms + expiry_ms > now_ms);
        }
        let values = self.set.to_vec();
        for follower in self.gossip.followers.keys().cloned().collect::<Vec<_>>() {
            self.send_peer(follower, Payload::FullState { values: values.clone() }, None);
        }
    }

    /// Values pushed long ago and never echoed were probably lost: push
    /// again. Many of them (a cut link: the hub may well have got the same
    /// values from clients meanwhile, as two replicas restored from one
    /// backup have) are reconciled instead, which costs the difference
    /// rather than every value again: 20,000 such values healed for 131 KB
    /// re-pushed, and now for what ten differing values cost
    /// (`tests/sim_same_backup.rs`).
    fn requeue_unconfirmed(&mut self, now_ms: u64) {
        if self.config.protocol == Protocol::Difference {
            let g = &self.gossip;
            // Entries of values echoed since, or queued again later, are stale.
            let overdue = g
                .unconfirmed_queue
                .iter()
                .take_while(|&&(pushed_ms, _)| pushed_ms + self.config.retransmit_ms <= now_ms)
                .filter(|&&(pushed_ms, v)| g.unconfirmed.get(&v) == Some(&pushed_ms))
                .take(REPUSHED_VALUES_MAX + 1)
                .count();
            if overdue > REPUSHED_VALUES_MAX {
                // The repair hands the hub everything we have, and stops
                // counting these values as in flight.
                self.start_repair(now_ms);
                return;
            }
        }
        while let Some(&(pushed_ms, v)) = self.gossip.unconfirmed_queue.front() {
            if pushed_ms + self.config.retransmit_ms > now_ms {
                break;
            }
            let g = &mut self.gossip;
            g.unconfirmed_queue.pop_front();
            if g.unconfirmed.get(&v) == Some(&pushed_ms) {
                self.queue_for_upstream(now_ms, v);
            }
        }
    }

    /// Followers of a backup hub must keep telling it they are there; the
    /// primary counts everyone as a follower, so its followers need not.
    fn keepalive_due_ms(&self) -> Option<u64> {
        let g = &self.gossip;
        let upstream = g.upstream.as_ref()?;
        if g.index_of.get(upstream) == Some(&0) {
            return None;
        }
        Some(g.last_sent_upstream_ms + self.config.heartbeat_interval_ms)
    }

    fn check_upstream_liveness(&mut self, now_ms: u64) {
        let g = &self.gossip;
        if let Some(upstream) = g.upstream.clone() {
            let heard = g.last_heard_ms.get(&upstream).copied().unwrap_or(0).max(g.upstream_since_ms);
            if heard + self.config.hub_timeout_ms <= now_ms {
                self.gossip.suspected_until_ms.insert(upstream, now_ms + self.config.suspect_ms);
                let next = self.best_candidate(now_ms);
                self.switch_upstream(now_ms, next);
                return;
            }
        }
        // Retry a more preferred hub whose suspicion has expired.
        let current = self.gossip.upstream.as_ref().and_then(|u| self.gossip.index_of.get(u)).copied();
        if let Some(candidate) = self.best_candidate(now_ms) {
            let candidate_index = self.gossip.index_of[&candidate];
            if current.is_none_or(|c| candidate_index < c) {
                self.switch_upstream(now_ms, Some(candidate));
            }
        }
    }

    /// The most preferred lower-indexed node not currently suspected.
    fn best_candidate(&self, now_ms: u64) -> Option<String> {
        let g = &self.gossip;
        self.node_ids[..g.my_index]
            .iter()
            .find(|id| g.suspected_until_ms.get(*id).is_none_or(|&t| t <= now_ms))
            .cloned()
    }

    /// The earliest time a gossip timer wants to run.
    pub(crate) fn gossip_poll_timeout(&self) -> Option<u64> {
        let g = &self.gossip;
        if g.index_of.is_empty() {
            return None;
        }
        if self.epidemic.active {
            return [self.epidemic_poll_timeout(), self.ack_poll_timeout()].into_iter().flatten().min();
        }
        let liveness = g.upstream.as_ref().map(|u| {
            g.last_heard_ms.get(u).copied().unwrap_or(0).max(g.upstream_since_ms) + self.config.hub_timeout_ms
        });
        let retry = self.node_ids[..g.my_index]
            .iter()
            .take_while(|id| Some(*id) != g.upstream.as_ref())
            .filter_map(|id| g.suspected_until_ms.get(id).copied())
            .min();
        let replicate = self.ack_poll_timeout();
        if self.config.protocol == Protocol::FullState {
            return [g.next_full_state_ms, liveness, retry, replicate].into_iter().flatten().min();
        }
        let timers = [
            g.flush_due_ms,
            g.next_heartbeat_ms.filter(|_| !g.followers.is_empty()),
            g.push_due_ms,
            self.keepalive_due_ms(),
            g.unconfirmed_queue.front().map(|(t, _)| t + self.config.retransmit_ms),
            g.gap_since_ms.map(|t| t + self.config.gap_timeout_ms),
            g.repair_until_ms,
            liveness,
            retry,
            replicate,
        ];
        timers.into_iter().flatten().min()
    }
}
