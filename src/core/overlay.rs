//! The interface between a node and its overlay: [`Local`], what an overlay
//! may see and do of its node, and [`Gossip`], what the node asks of an
//! overlay.
//!
//! A node is two halves. The client half ([`crate::core::node`]) answers
//! requests; the node-to-node half, an overlay ([`crate::core::star`] or
//! [`crate::core::epidemic`]), decides how new values spread and how peers
//! check and repair each other. They share the set, the outgoing queue and
//! the accounting, which live here, behind methods: an overlay never
//! reaches into the node's fields, and the node never into an overlay's.

use std::collections::VecDeque;
use std::fmt;

use crate::core::ack::AckState;
use crate::core::config::{NodeConfig, Protocol};
use crate::core::set::MessageSet;
use crate::core::wire::{self, Body, Envelope, MessageKind, Name, Payload};

/// What the node asks of its overlay. The node owns one once `init` has
/// named a cluster of two or more members that includes it; a lone node has
/// none and only serves clients.
pub(crate) trait Gossip: fmt::Debug + Send {
    /// Sets the overlay up, right after `init`.
    fn start(&mut self, local: &mut Local, now_ms: u64);

    /// Maelstrom's `topology` named these neighbours for this node (members
    /// only, sorted, without ourselves). The star builds its own overlay and
    /// ignores it.
    fn take_neighbours(&mut self, _neighbours: Vec<String>) {}

    /// Values new here, from `from` (`None`: a client), to pass on.
    fn spread(&mut self, local: &mut Local, now_ms: u64, new: &[i64], from: Option<&str>);

    /// A node-to-node message from a member. `answers`: it names one of our
    /// requests in `in_reply_to`. Returns `false` for a payload the overlay
    /// has no use for.
    fn handle_peer(
        &mut self,
        local: &mut Local,
        now_ms: u64,
        src: &str,
        payload: Payload,
        msg_id: u64,
        answers: bool,
    ) -> bool;

    /// Runs the timers that are due.
    fn handle_timeout(&mut self, local: &mut Local, now_ms: u64);

    /// When the overlay next wants `handle_timeout`.
    fn poll_timeout(&self, local: &Local) -> Option<u64>;

    /// The hub this node pushes to, if the overlay has hubs.
    fn upstream(&self) -> Option<&str> {
        None
    }

    /// The nodes this node flushes to as their hub.
    fn followers(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// The accounting counters the node keeps; [`wire::StatsReport`] adds
/// derived ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub syncs: u64,
    pub skipped: u64,
    pub transferred: u64,
    pub bytes_sent: u64,
    pub bytes_full_state: u64,
    pub messages_sent: u64,
}

/// Values handed to [`Local::insert`]: how many were new, and the new ones
/// an overlay should pass on (empty where nothing spreads: a lone node, or
/// the full-state protocol, which ships whole sets instead).
#[derive(Debug, Default)]
pub(crate) struct Inserted {
    pub new_count: u64,
    pub to_spread: Vec<i64>,
}

/// What both halves of a node share: who we are, the set, the outgoing
/// queue, the accounting and the broadcasts waiting for replication.
#[derive(Debug, Default)]
pub(crate) struct Local {
    config: NodeConfig,
    /// Our node id; empty until `init`.
    id: Name,
    node_ids: Vec<String>,
    /// Whether `init` named a cluster of two or more that includes us.
    in_cluster: bool,
    set: MessageSet,
    next_msg_id: u64,
    outbox: VecDeque<Envelope>,
    counters: Counters,
    acks: AckState,
}

impl Local {
    pub fn new(config: NodeConfig) -> Self {
        Local { config, ..Self::default() }
    }

    /// Takes what `init` says. Returns whether we are in a cluster (one of
    /// two or more members), so that an overlay has peers.
    pub fn init(&mut self, id: Name, node_ids: Vec<String>) -> bool {
        self.in_cluster = node_ids.len() >= 2 && node_ids.iter().any(|n| *n == id);
        self.id = id;
        self.node_ids = node_ids;
        self.in_cluster
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    pub fn protocol(&self) -> Protocol {
        self.config.protocol
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Our id as a message address.
    pub fn name(&self) -> Name {
        self.id.clone()
    }

    pub fn node_ids(&self) -> &[String] {
        &self.node_ids
    }

    /// The other members, in `node_ids` order.
    pub fn others(&self) -> impl Iterator<Item = &String> {
        self.node_ids.iter().filter(|id| id.as_str() != self.id.as_str())
    }

    /// Whether `name` is one of the `node_ids` that `init` gave us.
    pub fn is_member(&self, name: &str) -> bool {
        self.node_ids.iter().any(|id| id == name)
    }

    pub fn set(&self) -> &MessageSet {
        &self.set
    }

    /// See [`crate::Node::restore`].
    pub fn restore(&mut self, backup: &MessageSet) {
        if self.set.is_empty() {
            // A clone copies the tree with its fingerprints: no value is
            // hashed again, so a thousand nodes restore 10,000 values at once.
            self.set = backup.clone();
        } else {
            self.set.extend(backup.to_vec());
        }
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// A digest comparison, handled or started.
    pub fn count_sync(&mut self) {
        self.counters.syncs += 1;
    }

    /// A comparison that matched: a transfer skipped.
    pub fn count_skip(&mut self) {
        self.counters.skipped += 1;
    }

    /// Values a sync brought that were new here.
    pub fn count_transferred(&mut self, new_count: u64) {
        self.counters.transferred += new_count;
    }

    /// Inserts values that arrived from `from` (`None`: a client). A value
    /// from another node is held there: a broadcast of it waiting here for
    /// replication is answered.
    pub fn insert(&mut self, values: impl IntoIterator<Item = i64>, from: Option<&str>) -> Inserted {
        // A lone node, or one on the full-state protocol, passes nothing on:
        // it only counts, so a client broadcast costs no allocation here.
        let spreads = self.config.protocol != Protocol::FullState && self.in_cluster;
        let mut inserted = Inserted::default();
        let mut held_elsewhere = Vec::new();
        let acks_wait = from.is_some() && self.acks.has_waiting();
        for v in values {
            if acks_wait {
                held_elsewhere.push(v);
            }
            if self.set.insert(v) {
                inserted.new_count += 1;
                if spreads {
                    inserted.to_spread.push(v);
                }
            }
        }
        self.release_acks(&held_elsewhere);
        inserted
    }

    pub fn acks(&self) -> &AckState {
        &self.acks
    }

    pub fn acks_mut(&mut self) -> &mut AckState {
        &mut self.acks
    }

    /// Another node holds `values`: their waiting broadcasts are answered.
    pub fn release_acks(&mut self, values: &[i64]) {
        for w in self.acks.release(values) {
            self.send_from(w.from, w.client, Payload::BroadcastOk, Some(w.request_id));
        }
    }

    /// What a `read` reports: the set without values still waiting for
    /// replication.
    pub fn readable_values(&self) -> Vec<i64> {
        if !self.acks.has_waiting() {
            return self.set.to_vec();
        }
        self.set.to_vec().into_iter().filter(|&v| !self.acks.is_waiting(v)).collect()
    }

    /// Sends or retries a root's `replicate` (`has_upstream`: we are not a
    /// root, our hub will hold the values).
    pub fn replicate_if_due(&mut self, now_ms: u64, has_upstream: bool) {
        // Field by field, so the acks can be updated while the names are lent.
        let id = self.id.as_str();
        let others: Vec<&str> = self.node_ids.iter().map(String::as_str).filter(|n| *n != id).collect();
        let (batch_max, retransmit_ms) = (self.config.flush_batch_max_values, self.config.retransmit_ms);
        let due = self.acks.replicate_due(now_ms, has_upstream, &others, batch_max, retransmit_ms);
        if let Some((target, values)) = due {
            let target = Name::from(target);
            self.send_peer_priced(target, Payload::Replicate { values }, None, None);
        }
    }

    /// `replicate` from a root: keep the values (the caller passes them on
    /// as any values from a peer) and say so. A follower also keeps them to
    /// push to its hub until the hub holds them.
    pub fn on_replicate(&mut self, src: &str, values: Vec<i64>, msg_id: u64, has_upstream: bool) -> Inserted {
        let inserted = self.insert(values.iter().copied(), Some(src));
        if has_upstream {
            self.acks.hold_for_root(&values);
        }
        self.send_peer_priced(src, Payload::ReplicateOk { values }, Some(msg_id), None);
        inserted
    }

    /// Queues a node-to-node message and accounts for it: its real bytes, and
    /// what a full-state protocol would have sent in its place (push, flush
    /// and heartbeat messages stand in for a whole-set transfer; repair and
    /// full-state messages are whole-set transfers already).
    pub fn send_peer(&mut self, dest: impl Into<Name>, payload: Payload, in_reply_to: Option<u64>) {
        let dest = dest.into();
        let full_state_equivalent = match payload.kind() {
            MessageKind::Push | MessageKind::Digest => {
                Some(self.whole_set_message_len(&dest, Payload::FullState { values: Vec::new() }))
            }
            _ => None,
        };
        self.send_peer_priced(dest, payload, in_reply_to, full_state_equivalent);
    }

    /// Queues a node-to-node message whose full-state counterpart the caller
    /// knows (`None`: the message is its own counterpart).
    pub fn send_peer_priced(
        &mut self,
        dest: impl Into<Name>,
        payload: Payload,
        in_reply_to: Option<u64>,
        full_state_equivalent: Option<u64>,
    ) {
        self.send_from(self.id.clone(), dest.into(), payload, in_reply_to);
        let bytes = self.last_queued_len();
        self.counters.bytes_sent += bytes;
        self.counters.bytes_full_state += full_state_equivalent.unwrap_or(bytes);
    }

    /// Adds a message's bytes to the accounting: `bytes` sent, and what the
    /// full-state protocol would have sent in its place.
    pub fn count_bytes(&mut self, bytes: u64, full_state_bytes: u64) {
        self.counters.bytes_sent += bytes;
        self.counters.bytes_full_state += full_state_bytes;
    }

    /// Bytes of `empty` (a payload whose one list field is empty) carrying
    /// our whole set to `dest` as the next message, without building it.
    pub fn whole_set_message_len(&self, dest: &str, empty: Payload) -> u64 {
        let empty = Envelope {
            src: self.id.clone(),
            dest: dest.into(),
            body: Body { payload: empty, in_reply_to: None, msg_id: Some(self.next_msg_id) },
        };
        wire::wire_len(&empty) - "[]".len() as u64 + self.set.json_list_len()
    }

    /// Queues a message with the next `msg_id`.
    pub fn send_from(&mut self, src: Name, dest: Name, payload: Payload, in_reply_to: Option<u64>) {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        self.counters.messages_sent += 1;
        let envelope = Envelope { src, dest, body: Body { payload, in_reply_to, msg_id: Some(msg_id) } };
        self.outbox.push_back(envelope);
    }

    /// Encoded bytes of the message queued last.
    pub fn last_queued_len(&self) -> u64 {
        wire::wire_len(self.outbox.back().expect("a message was just queued"))
    }

    pub fn pop_output(&mut self) -> Option<Envelope> {
        self.outbox.pop_front()
    }

    pub fn for_each_output(&mut self, send: impl FnMut(&Envelope)) {
        self.outbox.iter().for_each(send);
        self.outbox.clear();
    }
}
