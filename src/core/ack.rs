//! When a node answers `broadcast_ok`: the acknowledgement policy.
//!
//! [`AckPolicy::Local`] (the default) answers as soon as the value is in the
//! node's own set: the fastest answer, and right for Maelstrom, whose nodes
//! never crash. But a node that acknowledges a value and crashes before
//! passing it on loses it.
//!
//! [`AckPolicy::AfterReplication`] answers only once another node is known
//! to hold the value, so an acknowledged value survives the crash of the node
//! that acknowledged it:
//! - a follower learns it from its hub's echo (the flush that carries the
//!   value back), or from a digest check that matched, which proves the hub
//!   holds everything not still in flight; any value that arrives from
//!   another node counts too;
//! - a root (a hub with nobody upstream) sends the value to one other member
//!   in a `replicate` message and answers when `replicate_ok` comes back,
//!   trying the next member every `retransmit_ms` until one does;
//! - a lone node answers at once: there is nobody to replicate to.
//!
//! Until then the value is hidden from reads on this node, so no read can
//! report a value that a crash could still take away (Jepsen's set-full
//! checker counts a value a read saw as known, acknowledged or not).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::core::node::Node;
use crate::core::wire::{self, Name, Payload};

/// Most broadcasts a node keeps waiting for replication; past it, new
/// broadcasts are refused with error 11 (temporarily unavailable) and not
/// accepted, so nothing acknowledged or accepted is dropped.
pub const WAITING_BROADCASTS_MAX: usize = 100_000;

/// When `broadcast_ok` goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckPolicy {
    /// As soon as the value is in this node's set.
    #[default]
    Local,
    /// Once another node is known to hold the value.
    AfterReplication,
}

impl AckPolicy {
    pub const ALL: [AckPolicy; 2] = [AckPolicy::Local, AckPolicy::AfterReplication];

    /// The command-line name (`--ack NAME`).
    pub fn name(self) -> &'static str {
        match self {
            AckPolicy::Local => "local",
            AckPolicy::AfterReplication => "after-replication",
        }
    }
}

impl std::str::FromStr for AckPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AckPolicy::ALL
            .into_iter()
            .find(|p| p.name() == s || p.name().replace('-', "_") == s)
            .ok_or_else(|| format!("unknown acknowledgement policy {s:?} (expected local or after-replication)"))
    }
}

/// A client request whose `broadcast_ok` waits for replication.
#[derive(Clone, Debug)]
pub(crate) struct WaitingAck {
    /// The name the reply comes from (the request's `dest`).
    from: Name,
    client: Name,
    request_id: u64,
}

#[derive(Debug, Default)]
pub(crate) struct AckState {
    /// Values clients broadcast here that no other node is known to hold,
    /// with the requests waiting for them.
    waiting: BTreeMap<i64, Vec<WaitingAck>>,
    waiting_count: usize,
    /// A root's next `replicate` (first send or retry).
    replicate_due_ms: Option<u64>,
    /// Which member the next `replicate` goes to, round robin.
    replicate_turn: usize,
    /// Follower side: values a root replicated here, until our upstream is
    /// known to hold them. If the root crashes, we are their one copy, so
    /// they are pushed to whichever hub we follow next (or to the restarted
    /// one) at once, like our own waiting broadcasts.
    held_for_root: BTreeSet<i64>,
}

impl Node {
    /// A client broadcast: stores the value and returns the reply to send
    /// now, or `None` when `broadcast_ok` waits for replication.
    pub(crate) fn accept_broadcast(
        &mut self,
        now_ms: u64,
        value: i64,
        from: Name,
        client: Name,
        request_id: u64,
    ) -> Option<Payload> {
        let alone = self.gossip.index_of.is_empty();
        if self.config.ack == AckPolicy::Local || alone {
            self.learn(now_ms, [value], None);
            return Some(Payload::BroadcastOk);
        }
        if self.set.contains(value) && !self.acks.waiting.contains_key(&value) {
            // It came from another node, or was replicated before.
            return Some(Payload::BroadcastOk);
        }
        if self.acks.waiting_count >= WAITING_BROADCASTS_MAX {
            return Some(Payload::Error {
                code: wire::error_code::TEMPORARILY_UNAVAILABLE,
                text: format!(
                    "{WAITING_BROADCASTS_MAX} broadcasts are waiting for replication; try again once they are acknowledged"
                ),
            });
        }
        self.learn(now_ms, [value], None);
        self.acks.waiting.entry(value).or_default().push(WaitingAck { from, client, request_id });
        self.acks.waiting_count += 1;
        if self.gossip.upstream.is_none() {
            self.acks.replicate_due_ms.get_or_insert(now_ms);
        }
        None
    }

    pub(crate) fn has_waiting_acks(&self) -> bool {
        !self.acks.waiting.is_empty()
    }

    /// Another node holds `values`: their waiting broadcasts are answered.
    pub(crate) fn release_acks(&mut self, values: &[i64]) {
        if self.acks.waiting.is_empty() {
            return;
        }
        for v in values {
            if let Some(waiters) = self.acks.waiting.remove(v) {
                self.acks.waiting_count -= waiters.len();
                for w in waiters {
                    self.send_from(w.from, w.client, Payload::BroadcastOk, Some(w.request_id));
                }
            }
        }
    }

    /// The upstream's digest matched ours minus what is in flight to it: it
    /// holds every waiting value that is not in flight.
    pub(crate) fn release_acks_held_upstream(&mut self) {
        let held: Vec<i64> =
            self.acks.waiting.keys().copied().filter(|v| !self.gossip.unconfirmed.contains_key(v)).collect();
        self.release_acks(&held);
    }

    /// Values this node must see to a second holder: its own broadcasts
    /// waiting for replication, and values a root replicated here that our
    /// upstream is not known to hold.
    pub(crate) fn values_to_keep_replicated(&self) -> Vec<i64> {
        let mut values: Vec<i64> = self.acks.waiting.keys().copied().collect();
        values.extend(self.acks.held_for_root.iter().copied());
        values
    }

    /// Our upstream echoed `values`: it holds them.
    pub(crate) fn upstream_holds(&mut self, values: &[i64]) {
        for v in values {
            self.acks.held_for_root.remove(v);
        }
    }

    /// Our upstream's digest matched what we hold and have not in flight.
    pub(crate) fn upstream_holds_everything_settled(&mut self) {
        let g = &self.gossip;
        self.acks.held_for_root.retain(|v| g.unconfirmed.contains_key(v));
    }

    /// What a `read` reports: the set without values still waiting for
    /// replication.
    pub(crate) fn readable_values(&self) -> Vec<i64> {
        if self.acks.waiting.is_empty() {
            return self.set.to_vec();
        }
        self.set.to_vec().into_iter().filter(|v| !self.acks.waiting.contains_key(v)).collect()
    }

    /// A node that became a root (its upstream gone) must replicate what
    /// still waits itself.
    pub(crate) fn ack_became_root(&mut self, now_ms: u64) {
        if !self.acks.waiting.is_empty() {
            self.acks.replicate_due_ms = Some(now_ms);
        }
    }

    /// Sends or retries a root's `replicate`.
    pub(crate) fn ack_timeout(&mut self, now_ms: u64) {
        if self.acks.waiting.is_empty() || self.gossip.upstream.is_some() {
            self.acks.replicate_due_ms = None;
            return;
        }
        if self.acks.replicate_due_ms.is_none_or(|t| t > now_ms) {
            return;
        }
        let others: Vec<&String> = self.node_ids.iter().filter(|id| id.as_str() != self.id.as_str()).collect();
        if others.is_empty() {
            return;
        }
        let target = others[self.acks.replicate_turn % others.len()].clone();
        self.acks.replicate_turn += 1;
        let values: Vec<i64> = self.acks.waiting.keys().copied().take(self.config.flush_batch_max_values).collect();
        self.send_peer_priced(target, Payload::Replicate { values }, None, None);
        self.acks.replicate_due_ms = Some(now_ms + self.config.retransmit_ms);
    }

    pub(crate) fn ack_poll_timeout(&self) -> Option<u64> {
        if self.acks.waiting.is_empty() || self.gossip.upstream.is_some() {
            return None;
        }
        self.acks.replicate_due_ms
    }

    /// `replicate` from a root: keep the values (passing them on as any
    /// values from a peer) and say so.
    pub(crate) fn on_replicate(&mut self, now_ms: u64, src: &str, values: Vec<i64>, msg_id: u64) {
        self.learn(now_ms, values.iter().copied(), Some(src));
        if self.gossip.upstream.is_some() {
            for &v in &values {
                if self.acks.held_for_root.len() < WAITING_BROADCASTS_MAX {
                    self.acks.held_for_root.insert(v);
                }
            }
        }
        self.send_peer_priced(src, Payload::ReplicateOk { values }, Some(msg_id), None);
    }
}
