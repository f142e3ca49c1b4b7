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

use crate::core::wire::Name;

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
    pub from: Name,
    pub client: Name,
    pub request_id: u64,
}

/// The broadcasts waiting for replication and a root's `replicate` timer.
/// It decides nothing about messages: its owner ([`crate::core::overlay::Local`])
/// sends the replies it hands back, and the overlay tells it whether the
/// node has an upstream (a hub it pushes to) and what is in flight there.
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

impl AckState {
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    pub fn is_waiting(&self, value: i64) -> bool {
        self.waiting.contains_key(&value)
    }

    pub fn is_full(&self) -> bool {
        self.waiting_count >= WAITING_BROADCASTS_MAX
    }

    /// Holds `request`'s `broadcast_ok` until `value` is known elsewhere. A
    /// root (no upstream) replicates it itself, starting now.
    pub fn wait(&mut self, now_ms: u64, value: i64, request: WaitingAck, has_upstream: bool) {
        self.waiting.entry(value).or_default().push(request);
        self.waiting_count += 1;
        if !has_upstream {
            self.replicate_due_ms.get_or_insert(now_ms);
        }
    }

    /// Another node holds `values`: the requests waiting for them, to answer.
    pub fn release(&mut self, values: &[i64]) -> Vec<WaitingAck> {
        let mut released = Vec::new();
        if self.waiting.is_empty() {
            return released;
        }
        for v in values {
            if let Some(waiters) = self.waiting.remove(v) {
                self.waiting_count -= waiters.len();
                released.extend(waiters);
            }
        }
        released
    }

    /// The waiting values for which `in_flight` is false.
    pub fn waiting_except(&self, in_flight: impl Fn(i64) -> bool) -> Vec<i64> {
        self.waiting.keys().copied().filter(|&v| !in_flight(v)).collect()
    }

    /// Values this node must see to a second holder: its own broadcasts
    /// waiting for replication, and values a root replicated here that our
    /// upstream is not known to hold.
    pub fn values_to_keep_replicated(&self) -> Vec<i64> {
        let mut values: Vec<i64> = self.waiting.keys().copied().collect();
        values.extend(self.held_for_root.iter().copied());
        values
    }

    /// Our upstream echoed `values`: it holds them.
    pub fn upstream_holds(&mut self, values: &[i64]) {
        for v in values {
            self.held_for_root.remove(v);
        }
    }

    /// Our upstream's digest matched what we hold and have not in flight.
    pub fn upstream_holds_all_but(&mut self, in_flight: impl Fn(i64) -> bool) {
        self.held_for_root.retain(|&v| in_flight(v));
    }

    /// A root replicated `values` here; we keep them until our upstream
    /// holds them.
    pub fn hold_for_root(&mut self, values: &[i64]) {
        for &v in values {
            if self.held_for_root.len() < WAITING_BROADCASTS_MAX {
                self.held_for_root.insert(v);
            }
        }
    }

    /// A node that became a root (its upstream gone) must replicate what
    /// still waits itself.
    pub fn became_root(&mut self, now_ms: u64) {
        if !self.waiting.is_empty() {
            self.replicate_due_ms = Some(now_ms);
        }
    }

    /// A root's `replicate` that is due: which of `others` it goes to and
    /// which values it carries (at most `batch_max`).
    pub fn replicate_due<'a>(
        &mut self,
        now_ms: u64,
        has_upstream: bool,
        others: &[&'a str],
        batch_max: usize,
        retransmit_ms: u64,
    ) -> Option<(&'a str, Vec<i64>)> {
        if self.waiting.is_empty() || has_upstream {
            self.replicate_due_ms = None;
            return None;
        }
        if self.replicate_due_ms.is_none_or(|t| t > now_ms) || others.is_empty() {
            return None;
        }
        let target = others[self.replicate_turn % others.len()];
        self.replicate_turn += 1;
        let values: Vec<i64> = self.waiting.keys().copied().take(batch_max).collect();
        self.replicate_due_ms = Some(now_ms + retransmit_ms);
        Some((target, values))
    }

    pub fn poll_timeout(&self, has_upstream: bool) -> Option<u64> {
        if self.waiting.is_empty() || has_upstream {
            return None;
        }
        self.replicate_due_ms
    }
}
