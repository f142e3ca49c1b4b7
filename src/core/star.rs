//! The star overlay: a hub flushes new values to its followers with its
//! digest, followers push to it and check themselves against every flush.
//!
//! The first node id is the primary hub; every other node pushes new values
//! to its hub at once; the hub batches what is new and flushes it to every
//! follower, numbering flushes per follower and carrying its digest. The
//! echo of a pushed value is its acknowledgement, a gap-free flush whose
//! digest matches is a skipped transfer, a mismatch or a gap starts a
//! repair. A hub silent for `hub_timeout_ms` is suspected and the follower
//! moves to the next node in id order; a node only follows lower-indexed
//! nodes, so the overlay is a forest and cannot loop. ARCHITECTURE.md has
//! the whole design and the message table.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::core::config::Protocol;
use crate::core::fingerprint::Fingerprint;
use crate::core::overlay::{Gossip, Inserted, Local};
use crate::core::reconcile;
use crate::core::repair::{self, Repairs};
use crate::core::wire::Payload;

/// Most values a repair may bring that are then flushed on to followers at
/// once (see `Star::spread_repaired`).
const REPAIRED_VALUES_FLUSHED_MAX: usize = 64;

/// Most unechoed values pushed again as they are; beyond this many a
/// reconciliation with the hub replaces the pushes (see
/// `Star::requeue_unconfirmed`).
const REPUSHED_VALUES_MAX: usize = 64;

/// How far behind the expected flush number a flush may arrive and still
/// count as a late copy rather than a sign that the hub restarted.
const FLUSH_REORDER_WINDOW: u64 = 8;

/// One node's side of the star.
#[derive(Debug, Default)]
pub(crate) struct Star {
    /// Position of each node id in `node_ids`: a lower index is a more
    /// preferred hub, and a node only ever follows lower-indexed nodes, so
    /// the overlay is a forest and can never form a cycle.
    index_of: BTreeMap<String, usize>,
    my_index: usize,
    /// The hub we push to and expect flushes from (`None`: we are a root).
    upstream: Option<String>,
    upstream_since_ms: u64,
    last_heard_ms: BTreeMap<String, u64>,
    suspected_until_ms: BTreeMap<String, u64>,
    /// Nodes we flush to. The primary counts every other node as a follower,
    /// so that nodes cut off from it find their way back once links heal.
    followers: BTreeMap<String, Follower>,
    flush_pending: BTreeSet<i64>,
    flush_due_ms: Option<u64>,
    next_heartbeat_ms: Option<u64>,
    /// Follower side: sequence tracking of the upstream's flushes.
    expected_seq: Option<u64>,
    seqs_ahead: BTreeSet<u64>,
    latest_upstream_digest: Option<(u64, String)>,
    gap_since_ms: Option<u64>,
    /// Values queued or pushed upstream and not yet echoed back, with the
    /// time they were (re)queued.
    unconfirmed: BTreeMap<i64, u64>,
    /// Push order of `unconfirmed` (entries may be stale; checked on use).
    unconfirmed_queue: VecDeque<(u64, i64)>,
    unconfirmed_fingerprint: Fingerprint,
    push_pending: BTreeSet<i64>,
    push_due_ms: Option<u64>,
    last_push_ms: Option<u64>,
    last_sent_upstream_ms: u64,
    repair_until_ms: Option<u64>,
    next_full_state_ms: Option<u64>,
    repairs: Repairs,
}

#[derive(Debug, Clone, Copy)]
struct Follower {
    last_heard_ms: u64,
    next_seq: u64,
}


impl Star {
    /// Positions in `node_ids`, the hub we follow or, for the primary, every
    /// other node as a follower.
    fn setup(&mut self, local: &Local, now_ms: u64) {
        let node_ids = local.node_ids();
        let my_index = node_ids.iter().position(|id| id == local.id()).expect("init checked membership");
        self.index_of = node_ids.iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
        self.my_index = my_index;
        if my_index == 0 {
            for id in node_ids.iter().skip(1) {
                self.followers.insert(id.clone(), Follower { last_heard_ms: now_ms, next_seq: 1 });
            }
            // The first heartbeat goes out at once: a hub that restarted
            // empty must tell its followers now (its flush numbering starts
            // again at 1, see `on_upstream_flush`), so that they check
            // themselves against it and refill it, rather than after a
            // heartbeat interval.
            self.next_heartbeat_ms = Some(now_ms);
        } else {
            self.upstream = Some(node_ids[0].clone());
            self.upstream_since_ms = now_ms;
            self.last_sent_upstream_ms = now_ms;
        }
        if local.protocol() == Protocol::FullState {
            self.next_full_state_ms = Some(now_ms + local.config().full_state_interval_ms);
        }
    }

    /// A follower that starts offers the hub its digest at once: a process
    /// restarted empty is refilled now instead of at the hub's next
    /// heartbeat. On a cluster's first start the digests are equal and the
    /// hub does not answer, so this costs one small message per follower.
    fn check_in_with_upstream(&mut self, local: &mut Local) {
        let Some(upstream) = self.upstream.clone() else { return };
        match local.protocol() {
            Protocol::Difference => {
                let opener = Payload::Reconcile(reconcile::initiate(local.set()));
                local.send_peer(upstream, opener, None)
            }
            Protocol::Digest => local.send_peer(upstream, Payload::SyncFull { values: local.set().to_vec() }, None),
            Protocol::FullState => {}
        }
    }

    /// Inserts values that arrived from `from` and passes the new ones on.
    fn learn(&mut self, local: &mut Local, now_ms: u64, values: impl IntoIterator<Item = i64>, from: &str) -> u64 {
        let inserted = local.insert(values, Some(from));
        let new_count = inserted.new_count;
        self.spread_inserted(local, now_ms, inserted, Some(from), usize::MAX);
        new_count
    }

    /// Passes on values a repair brought. A few are passed on at once, as
    /// new values are; a bulk of them (a restarted, empty hub being
    /// refilled, a long partition healed) is not flushed to every follower:
    /// each follower's next digest check shows the change, and its own
    /// repair moves only what it lacks.
    fn spread_repaired(&mut self, local: &mut Local, now_ms: u64, inserted: Inserted, from: &str) {
        self.spread_inserted(local, now_ms, inserted, Some(from), REPAIRED_VALUES_FLUSHED_MAX);
    }

    fn spread_inserted(
        &mut self,
        local: &mut Local,
        now_ms: u64,
        inserted: Inserted,
        from: Option<&str>,
        spread_max: usize,
    ) {
        let new = inserted.to_spread;
        if !new.is_empty() && new.len() <= spread_max {
            self.spread(local, now_ms, &new, from);
        }
    }

    /// Queues `v` for the next push. From this moment until the hub echoes
    /// it, `v` counts as in flight: the follower's digest check leaves it
    /// out, so a value waiting for its push cannot look like a divergence.
    fn queue_for_upstream(&mut self, local: &Local, now_ms: u64, v: i64) {
        if self.unconfirmed.insert(v, now_ms).is_none() {
            self.unconfirmed_fingerprint.add(&Fingerprint::of_value(v));
        }
        self.unconfirmed_queue.push_back((now_ms, v));
        self.push_pending.insert(v);
        if self.push_due_ms.is_none() {
            let earliest = self.last_push_ms.map_or(now_ms, |t| t + local.config().push_gap_ms);
            self.push_due_ms = Some(earliest.max(now_ms));
        }
    }

    /// A flush costs one message per follower, so the batching window grows
    /// with the fan-out, up to the configured maximum.
    fn flush_interval_ms(&self, local: &Local) -> u64 {
        let config = local.config();
        let per_follower = config.flush_interval_per_follower_ms * self.followers.len() as u64;
        per_follower.clamp(1, config.flush_interval_max_ms)
    }

    /// Sends pending values (or, with none, a heartbeat) to every follower,
    /// each with the hub's digest so followers can check themselves.
    fn flush(&mut self, local: &mut Local, now_ms: u64) {
        self.expire_followers(local, now_ms);
        let values: Vec<i64> = std::mem::take(&mut self.flush_pending).into_iter().collect();
        let digest = local.set().fingerprint().short();
        for (follower, f) in self.followers.iter_mut() {
            let seq = f.next_seq;
            f.next_seq += 1;
            let payload = Payload::Flush { seq, values: values.clone(), digest: digest.clone() };
            local.send_peer(follower.as_str(), payload, None);
        }
        self.flush_due_ms = None;
        self.next_heartbeat_ms = Some(now_ms + local.config().heartbeat_interval_ms);
    }

    /// A backup hub forgets followers it has not heard from for two hub
    /// timeouts; the primary keeps everyone.
    fn expire_followers(&mut self, local: &Local, now_ms: u64) {
        if self.my_index != 0 {
            let expiry_ms = 2 * local.config().hub_timeout_ms;
            self.followers.retain(|_, f| f.last_heard_ms + expiry_ms > now_ms);
        }
    }

    fn push(&mut self, local: &mut Local, now_ms: u64) {
        self.push_due_ms = None;
        let Some(upstream) = self.upstream.clone() else {
            self.push_pending.clear();
            return;
        };
        // At most a flush's worth per message (a burst of broadcasts while
        // cut off from the hub can be large); the rest goes right after.
        let batch_max = local.config().flush_batch_max_values;
        let values: Vec<i64> = if self.push_pending.len() > batch_max {
            let first_of_rest = self.push_pending.iter().nth(batch_max).copied().expect("longer than the cap");
            let rest = self.push_pending.split_off(&first_of_rest);
            let batch = std::mem::replace(&mut self.push_pending, rest).into_iter().collect();
            self.push_due_ms = Some(now_ms);
            batch
        } else {
            std::mem::take(&mut self.push_pending).into_iter().collect()
        };
        self.last_push_ms = Some(now_ms);
        self.last_sent_upstream_ms = now_ms;
        local.send_peer(upstream, Payload::Push { values }, None);
    }

    /// The hub echoed `v`: it has it, so it no longer counts as in flight.
    fn confirm(&mut self, v: i64) {
        if self.unconfirmed.remove(&v).is_some() {
            self.unconfirmed_fingerprint.sub(&Fingerprint::of_value(v));
        }
    }

    fn note_follower(&mut self, local: &mut Local, now_ms: u64, src: &str) {
        if !self.index_of.contains_key(src) {
            return;
        }
        match self.followers.get_mut(src) {
            Some(f) => f.last_heard_ms = now_ms,
            None => {
                self.followers.insert(src.to_string(), Follower { last_heard_ms: now_ms, next_seq: 1 });
                // A new follower gets a heartbeat at once, so it knows it has a hub.
                if local.protocol() != Protocol::FullState {
                    self.flush_one_heartbeat(local, src);
                }
            }
        }
    }

    fn flush_one_heartbeat(&mut self, local: &mut Local, follower: &str) {
        let digest = local.set().fingerprint().short();
        let f = self.followers.get_mut(follower).expect("just inserted");
        let seq = f.next_seq;
        f.next_seq += 1;
        local.send_peer(follower, Payload::Flush { seq, values: Vec::new(), digest }, None);
    }

    /// Hearing a flush from a node more preferred than our hub means it is
    /// reachable again: follow it.
    fn maybe_adopt_upstream(&mut self, local: &mut Local, now_ms: u64, src: &str) {
        let Some(&src_index) = self.index_of.get(src) else { return };
        if src_index >= self.my_index {
            return;
        }
        let better = match self.upstream.as_ref().and_then(|u| self.index_of.get(u)) {
            None => true,
            Some(&current) => src_index < current,
        };
        if better {
            self.suspected_until_ms.remove(src);
            self.switch_upstream(local, now_ms, Some(src.to_string()));
        }
    }

    fn switch_upstream(&mut self, local: &mut Local, now_ms: u64, upstream: Option<String>) {
        self.upstream = upstream;
        self.upstream_since_ms = now_ms;
        self.expected_seq = None;
        self.seqs_ahead.clear();
        self.latest_upstream_digest = None;
        self.gap_since_ms = None;
        self.repair_until_ms = None;
        // Whatever the old hub had not echoed goes to the new one.
        let mut in_flight: Vec<i64> = self.unconfirmed.keys().copied().collect();
        in_flight.extend(local.acks().values_to_keep_replicated());
        if self.upstream.is_none() {
            local.acks_mut().became_root(now_ms);
            return;
        }
        for v in in_flight {
            self.queue_for_upstream(local, now_ms, v);
        }
        if local.protocol() == Protocol::FullState {
            self.send_full_state_upstream(local);
        } else {
            // Push at once (possibly empty): it registers us with the hub.
            self.push(local, now_ms);
        }
    }

    fn on_upstream_flush(&mut self, local: &mut Local, now_ms: u64, seq: u64, digest: String) {
        // Flushes are numbered from 1 per hub incarnation: a 1 when we
        // expected more, or a number far behind the expected one, means the
        // hub restarted (empty, or nearly), so its old numbering is void and
        // this flush is checked at once. (Only looking for a 1 would miss a
        // restart whose first flush was lost until the new numbering caught
        // up with the old.) A late copy of an old flush that is taken for a
        // restart costs one repair at most.
        let restarted = |expected: u64| expected > 1 && (seq == 1 || seq + FLUSH_REORDER_WINDOW < expected);
        if self.expected_seq.is_some_and(restarted) {
            self.expected_seq = None;
            self.seqs_ahead.clear();
            self.gap_since_ms = None;
            self.latest_upstream_digest = None;
        }
        if self.latest_upstream_digest.as_ref().is_none_or(|(s, _)| seq >= *s) {
            self.latest_upstream_digest = Some((seq, digest));
        }
        match self.expected_seq {
            None => self.expected_seq = Some(seq + 1),
            Some(expected) if seq == expected => {
                let mut next = expected + 1;
                while self.seqs_ahead.remove(&next) {
                    next += 1;
                }
                self.expected_seq = Some(next);
            }
            Some(expected) if seq > expected => {
                self.seqs_ahead.insert(seq);
                self.gap_since_ms.get_or_insert(now_ms);
                return;
            }
            Some(_) => return, // a duplicate or late copy: values merged, nothing to check
        }
        if !self.seqs_ahead.is_empty() {
            return;
        }
        self.gap_since_ms = None;
        self.check_against_upstream(local, now_ms);
    }

    /// The digest comparison: our set minus what is still in flight to the
    /// hub must equal the hub's set as of its latest flush.
    fn check_against_upstream(&mut self, local: &mut Local, now_ms: u64) {
        let Some((_, upstream_digest)) = self.latest_upstream_digest.clone() else { return };
        local.count_sync();
        let mut settled = local.set().fingerprint();
        settled.sub(&self.unconfirmed_fingerprint);
        if settled.short() == upstream_digest {
            local.count_skip();
            self.upstream_holds_everything_settled(local);
        } else if local.set().fingerprint().short() == upstream_digest {
            // The hub already holds what we have in flight to it (a value it
            // got from elsewhere first, so its flushes will never echo it).
            local.count_skip();
            self.unconfirmed.clear();
            self.unconfirmed_queue.clear();
            self.unconfirmed_fingerprint = Fingerprint::EMPTY;
            self.upstream_holds_everything_settled(local);
        } else {
            self.start_repair(local, now_ms);
        }
    }

    /// The upstream's digest matched ours minus what is in flight to it: it
    /// holds every value that is not in flight, so the broadcasts waiting
    /// for those are answered and values a root replicated here are safe.
    fn upstream_holds_everything_settled(&mut self, local: &mut Local) {
        let in_flight = |v: i64| self.unconfirmed.contains_key(&v);
        let held = local.acks().waiting_except(in_flight);
        local.release_acks(&held);
        local.acks_mut().upstream_holds_all_but(in_flight);
    }

    fn start_repair(&mut self, local: &mut Local, now_ms: u64) {
        let Some(upstream) = self.upstream.clone() else { return };
        if self.repair_until_ms.is_some_and(|t| t > now_ms) {
            return;
        }
        self.repair_until_ms = Some(now_ms + local.config().repair_timeout_ms);
        self.expected_seq = None;
        self.seqs_ahead.clear();
        self.gap_since_ms = None;
        // The repair hands the hub everything we have, in flight or not.
        self.unconfirmed.clear();
        self.unconfirmed_queue.clear();
        self.unconfirmed_fingerprint = Fingerprint::EMPTY;
        // Except that broadcasts still waiting for replication are pushed
        // again at once: a repair can take a while (an empty hub takes one
        // refill at a time), and until the hub holds them a second crash
        // would lose them.
        for v in local.acks().values_to_keep_replicated() {
            self.queue_for_upstream(local, now_ms, v);
        }
        if local.protocol() == Protocol::Difference {
            // The opener stands in for `sync_full`: priced as the whole set.
            let full_state = local.whole_set_message_len(&upstream, Payload::SyncFull { values: Vec::new() });
            let opener = Payload::Reconcile(reconcile::initiate_repair(local.set()));
            local.send_peer_priced(upstream, opener, None, Some(full_state));
        } else {
            let payload = Payload::SyncFull { values: local.set().to_vec() };
            local.send_peer(upstream, payload, None);
        }
    }

    /// A repair with `src` finished: if it was our hub, the repair we
    /// started is answered.
    fn repair_answered_by(&mut self, src: &str) {
        if self.upstream.as_deref() == Some(src) {
            self.repair_until_ms = None;
        }
    }

    fn send_full_state_upstream(&mut self, local: &mut Local) {
        if let Some(upstream) = self.upstream.clone() {
            local.send_peer(upstream, Payload::FullState { values: local.set().to_vec() }, None);
        }
    }

    fn full_state_round(&mut self, local: &mut Local, now_ms: u64) {
        self.send_full_state_upstream(local);
        self.last_sent_upstream_ms = now_ms;
        self.expire_followers(local, now_ms);
        let values = local.set().to_vec();
        for follower in self.followers.keys() {
            local.send_peer(follower.as_str(), Payload::FullState { values: values.clone() }, None);
        }
    }

    /// Values pushed long ago and never echoed were probably lost: push
    /// again. Many of them (a cut link: the hub may well have got the same
    /// values from clients meanwhile, as two replicas restored from one
    /// backup have) are reconciled instead, which costs the difference
    /// rather than every value again: 20,000 such values healed for 131 KB
    /// re-pushed, and now for what ten differing values cost
    /// (`tests/sim_same_backup.rs`).
    fn requeue_unconfirmed(&mut self, local: &mut Local, now_ms: u64) {
        let retransmit_ms = local.config().retransmit_ms;
        if local.protocol() == Protocol::Difference {
            // Entries of values echoed since, or queued again later, are stale.
            let overdue = self
                .unconfirmed_queue
                .iter()
                .take_while(|&&(pushed_ms, _)| pushed_ms + retransmit_ms <= now_ms)
                .filter(|&&(pushed_ms, v)| self.unconfirmed.get(&v) == Some(&pushed_ms))
                .take(REPUSHED_VALUES_MAX + 1)
                .count();
            if overdue > REPUSHED_VALUES_MAX {
                // The repair hands the hub everything we have, and stops
                // counting these values as in flight.
                self.start_repair(local, now_ms);
                return;
            }
        }
        while let Some(&(pushed_ms, v)) = self.unconfirmed_queue.front() {
            if pushed_ms + retransmit_ms > now_ms {
                break;
            }
            self.unconfirmed_queue.pop_front();
            if self.unconfirmed.get(&v) == Some(&pushed_ms) {
                self.queue_for_upstream(local, now_ms, v);
            }
        }
    }

    /// Followers of a backup hub must keep telling it they are there; the
    /// primary counts everyone as a follower, so its followers need not.
    fn keepalive_due_ms(&self, local: &Local) -> Option<u64> {
        let upstream = self.upstream.as_ref()?;
        if self.index_of.get(upstream) == Some(&0) {
            return None;
        }
        Some(self.last_sent_upstream_ms + local.config().heartbeat_interval_ms)
    }

    fn check_upstream_liveness(&mut self, local: &mut Local, now_ms: u64) {
        if let Some(upstream) = self.upstream.clone() {
            let heard = self.last_heard_ms.get(&upstream).copied().unwrap_or(0).max(self.upstream_since_ms);
            if heard + local.config().hub_timeout_ms <= now_ms {
                self.suspected_until_ms.insert(upstream, now_ms + local.config().suspect_ms);
                let next = self.best_candidate(local, now_ms);
                self.switch_upstream(local, now_ms, next);
                return;
            }
        }
        // Retry a more preferred hub whose suspicion has expired.
        let current = self.upstream.as_ref().and_then(|u| self.index_of.get(u)).copied();
        if let Some(candidate) = self.best_candidate(local, now_ms) {
            let candidate_index = self.index_of[&candidate];
            if current.is_none_or(|c| candidate_index < c) {
                self.switch_upstream(local, now_ms, Some(candidate));
            }
        }
    }

    /// The most preferred lower-indexed node not currently suspected.
    fn best_candidate(&self, local: &Local, now_ms: u64) -> Option<String> {
        local.node_ids()[..self.my_index]
            .iter()
            .find(|id| self.suspected_until_ms.get(*id).is_none_or(|&t| t <= now_ms))
            .cloned()
    }
}

impl Gossip for Star {
    fn start(&mut self, local: &mut Local, now_ms: u64) {
        self.setup(local, now_ms);
        self.check_in_with_upstream(local);
    }

    fn spread(&mut self, local: &mut Local, now_ms: u64, new: &[i64], from: Option<&str>) {
        if !self.followers.is_empty() {
            self.flush_pending.extend(new.iter().copied());
            let config = local.config();
            let enough_values =
                (self.followers.len() * config.flush_values_per_follower).clamp(1, config.flush_batch_max_values);
            if self.flush_pending.len() >= enough_values {
                // Due now rather than sent now: the reply to the request that
                // brought these values goes out first.
                self.flush_due_ms = Some(now_ms);
            } else if self.flush_due_ms.is_none() {
                self.flush_due_ms = Some(now_ms + self.flush_interval_ms(local));
            }
        }
        if self.upstream.is_some() && self.upstream.as_deref() != from {
            for &v in new {
                self.queue_for_upstream(local, now_ms, v);
            }
        }
    }

    fn handle_peer(
        &mut self,
        local: &mut Local,
        now_ms: u64,
        src: &str,
        payload: Payload,
        msg_id: u64,
        _answers: bool,
    ) -> bool {
        self.last_heard_ms.insert(src.to_string(), now_ms);
        match payload {
            Payload::Push { values } => {
                self.note_follower(local, now_ms, src);
                self.learn(local, now_ms, values, src);
            }
            Payload::Flush { seq, values, digest } => {
                self.maybe_adopt_upstream(local, now_ms, src);
                let from_upstream = self.upstream.as_deref() == Some(src);
                if from_upstream {
                    for &v in &values {
                        self.confirm(v);
                    }
                    local.acks_mut().upstream_holds(&values);
                }
                self.learn(local, now_ms, values, src);
                if from_upstream {
                    self.on_upstream_flush(local, now_ms, seq, digest);
                }
            }
            Payload::SyncFull { values } => {
                let inserted = repair::on_sync_full(local, src, values, msg_id);
                self.spread_repaired(local, now_ms, inserted, src);
            }
            Payload::SyncFullOk { values } => {
                let inserted = repair::on_sync_full_ok(local, src, values);
                self.spread_repaired(local, now_ms, inserted, src);
                self.repair_answered_by(src);
            }
            Payload::Reconcile(msg) => {
                let reconciled = self.repairs.on_reconcile(local, now_ms, src, msg, msg_id);
                if reconciled.done {
                    self.repair_answered_by(src);
                }
                self.spread_repaired(local, now_ms, reconciled.inserted, src);
            }
            Payload::Replicate { values } => {
                let inserted = local.on_replicate(src, values, msg_id, self.upstream.is_some());
                self.spread_inserted(local, now_ms, inserted, Some(src), usize::MAX);
            }
            Payload::ReplicateOk { values } => local.release_acks(&values),
            Payload::FullState { values } => {
                if self.index_of.get(src).is_some_and(|&i| i < self.my_index) {
                    self.maybe_adopt_upstream(local, now_ms, src);
                } else {
                    self.note_follower(local, now_ms, src);
                }
                local.count_sync();
                let new = self.learn(local, now_ms, values, src);
                local.count_transferred(new);
            }
            _ => return false,
        }
        true
    }

    fn handle_timeout(&mut self, local: &mut Local, now_ms: u64) {
        self.check_upstream_liveness(local, now_ms);
        local.replicate_if_due(now_ms, self.upstream.is_some());
        if local.protocol() == Protocol::FullState {
            if self.next_full_state_ms.is_some_and(|t| t <= now_ms) {
                self.next_full_state_ms = Some(now_ms + local.config().full_state_interval_ms);
                self.full_state_round(local, now_ms);
            }
            return;
        }
        if self.flush_due_ms.is_some_and(|t| t <= now_ms)
            || self.next_heartbeat_ms.is_some_and(|t| t <= now_ms) && !self.followers.is_empty()
        {
            self.flush(local, now_ms);
        }
        self.requeue_unconfirmed(local, now_ms);
        let keepalive_due = self.keepalive_due_ms(local).is_some_and(|t| t <= now_ms);
        if self.push_due_ms.is_some_and(|t| t <= now_ms) || keepalive_due {
            self.push(local, now_ms);
        }
        // A repair unanswered by its deadline (request or reply lost) is
        // retried at once rather than at the next mismatch, which when the
        // cluster is idle is a heartbeat away.
        let repair_overdue = self.repair_until_ms.is_some_and(|t| t <= now_ms);
        let gap_overdue = self.gap_since_ms.is_some_and(|t| t + local.config().gap_timeout_ms <= now_ms);
        if repair_overdue || gap_overdue {
            self.start_repair(local, now_ms);
        }
    }

    fn poll_timeout(&self, local: &Local) -> Option<u64> {
        let config = local.config();
        let liveness = self.upstream.as_ref().map(|u| {
            self.last_heard_ms.get(u).copied().unwrap_or(0).max(self.upstream_since_ms) + config.hub_timeout_ms
        });
        let retry = local.node_ids()[..self.my_index]
            .iter()
            .take_while(|id| Some(*id) != self.upstream.as_ref())
            .filter_map(|id| self.suspected_until_ms.get(id).copied())
            .min();
        let replicate = local.acks().poll_timeout(self.upstream.is_some());
        if config.protocol == Protocol::FullState {
            return [self.next_full_state_ms, liveness, retry, replicate].into_iter().flatten().min();
        }
        let timers = [
            self.flush_due_ms,
            self.next_heartbeat_ms.filter(|_| !self.followers.is_empty()),
            self.push_due_ms,
            self.keepalive_due_ms(local),
            self.unconfirmed_queue.front().map(|(t, _)| t + config.retransmit_ms),
            self.gap_since_ms.map(|t| t + config.gap_timeout_ms),
            self.repair_until_ms,
            liveness,
            retry,
            replicate,
        ];
        timers.into_iter().flatten().min()
    }

    fn upstream(&self) -> Option<&str> {
        self.upstream.as_deref()
    }

    fn followers(&self) -> Vec<&str> {
        self.followers.keys().map(String::as_str).collect()
    }
}
