//! The node state machine: messages and timer ticks in, messages out.
//!
//! Shaped like quinn-proto: `handle_*` methods feed it (with the current time
//! as `now_ms`), `poll_output` drains what it wants to send and
//! `poll_timeout` says when it next wants `handle_timeout`. It never reads a
//! clock, never touches stdin/stdout and never draws randomness of its own,
//! so the native shell, the simulator and the wasm facade drive the very same
//! code, and the simulator can replay any run from its seed.

use std::collections::BTreeMap;

use crate::core::ack::{AckPolicy, WaitingAck, WAITING_BROADCASTS_MAX};
use crate::core::config::{NodeConfig, Overlay};
use crate::core::epidemic::Epidemic;
use crate::core::overlay::{Gossip, Local};
use crate::core::set::MessageSet;
use crate::core::star::Star;
use crate::core::wire::{self, Body, Decoded, Envelope, MessageKind, Name, Payload, Rejection, StatsReport};

/// Bytes of `, "local_messages": ` in a `digest_sync_ok` body: what a
/// full-state reply adds in front of the list.
const LOCAL_MESSAGES_FIELD_LEN: u64 = r#", "local_messages": "#.len() as u64;

/// A broadcast node: the client half here, the node-to-node half in its
/// overlay, and what they share in [`Local`].
#[derive(Debug, Default)]
pub struct Node {
    local: Local,
    /// The topology Maelstrom suggested. The star builds its own overlay, so
    /// under it this is kept for inspection only.
    suggested_topology: BTreeMap<String, Vec<String>>,
    /// The overlay (`NodeConfig::overlay`), from `init` on, when `init`
    /// named a cluster of two or more that includes us.
    gossip: Option<Box<dyn Gossip>>,
}

impl Node {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_config(config: NodeConfig) -> Self {
        Node { local: Local::new(config), ..Self::default() }
    }

    pub fn config(&self) -> &NodeConfig {
        self.local.config()
    }

    /// Our node id (empty before `init`).
    pub fn id(&self) -> &str {
        self.local.id()
    }

    pub fn node_ids(&self) -> &[String] {
        self.local.node_ids()
    }

    pub fn suggested_topology(&self) -> &BTreeMap<String, Vec<String>> {
        &self.suggested_topology
    }

    /// The hub this node pushes to and checks itself against (`None` for the
    /// primary, before `init`, under the epidemic overlay, or for a node cut
    /// off from every hub).
    pub fn upstream(&self) -> Option<&str> {
        self.gossip.as_ref().and_then(|g| g.upstream())
    }

    /// The nodes this node flushes to as their hub.
    pub fn followers(&self) -> Vec<&str> {
        self.gossip.as_ref().map(|g| g.followers()).unwrap_or_default()
    }

    /// The messages this node holds.
    pub fn set(&self) -> &MessageSet {
        self.local.set()
    }

    /// Starts the node from `backup`, as replicas restored from one backup
    /// start: the values are held but not spread, acknowledged or counted
    /// (they were never broadcast here). Meant for before `init`.
    pub fn restore(&mut self, backup: &MessageSet) {
        self.local.restore(backup);
    }

    pub fn stats(&self) -> StatsReport {
        let c = self.local.counters();
        StatsReport {
            skipped: c.skipped,
            transferred: c.transferred,
            bytes_sent: c.bytes_sent,
            bytes_saved: c.bytes_full_state as i64 - c.bytes_sent as i64,
            syncs: c.syncs,
            bytes_full_state: c.bytes_full_state,
            messages: self.local.set().len() as u64,
            messages_sent: c.messages_sent,
        }
    }

    /// Feeds one decoded line. Returns a description of a line that could not
    /// be answered, for the shell to log.
    pub fn handle_input(&mut self, now_ms: u64, input: Decoded) -> Result<(), String> {
        match input {
            Decoded::Message(msg) => self.handle_message(now_ms, msg),
            Decoded::Rejected(rejection) => {
                self.handle_rejection(rejection);
                Ok(())
            }
            Decoded::Unanswerable(reason) => Err(reason),
        }
    }

    /// Answers a request the decoder could not accept with a Maelstrom error.
    pub fn handle_rejection(&mut self, rejection: Rejection) {
        let Rejection { src, dest, in_reply_to, code, text } = rejection;
        let from = self.reply_source(dest);
        self.local.send_from(from, src, Payload::Error { code, text }, Some(in_reply_to));
    }

    /// Handles one message addressed to this node. Replies and error bodies
    /// are not answered; they come back as `Err` so the shell can log them.
    pub fn handle_message(&mut self, now_ms: u64, msg: Envelope) -> Result<(), String> {
        let Envelope { src, dest, body } = msg;
        let Body { payload, msg_id, in_reply_to } = body;
        if payload.is_reply() {
            return Err(format!("ignoring unsolicited {} from {src}", payload.type_name()));
        }
        let Some(request_id) = msg_id else {
            return Err(format!("ignoring {} from {src} without msg_id", payload.type_name()));
        };
        if payload.kind() != MessageKind::Client {
            // Node-to-node messages change the set and the overlay, so only
            // the cluster `init` named may send them: a client that forges
            // a `push` must not slip values past the broadcast path.
            if !self.local.is_member(&src) {
                let text = format!(
                    "{} is a node-to-node message and {src} is not a member of this cluster{}",
                    payload.type_name(),
                    if self.local.id().is_empty() { " (no init yet)" } else { "" }
                );
                let from = self.reply_source(dest);
                let error = Payload::Error { code: wire::error_code::NOT_SUPPORTED, text };
                self.local.send_from(from, src, error, Some(request_id));
                return Ok(());
            }
            let answers = in_reply_to.is_some();
            let handled = match self.gossip.as_mut() {
                Some(gossip) => gossip.handle_peer(&mut self.local, now_ms, &src, payload, request_id, answers),
                None => false,
            };
            if handled {
                return Ok(());
            }
            return Err(format!("unexpected peer message from {src}"));
        }
        let from = self.reply_source(dest);
        let reply = match payload {
            Payload::Init { .. } if !self.local.id().is_empty() => Payload::Error {
                code: wire::error_code::PRECONDITION_FAILED,
                text: format!("already initialised as {}: init is accepted once per process", self.local.id()),
            },
            Payload::Init { node_id, node_ids } => {
                self.init(now_ms, node_id, node_ids);
                Payload::InitOk
            }
            Payload::Topology { topology } => {
                self.suggested_topology = topology;
                self.take_topology();
                Payload::TopologyOk
            }
            Payload::Broadcast { message } => {
                match self.accept_broadcast(now_ms, message, from.clone(), src.clone(), request_id) {
                    Some(reply) => reply,
                    None => return Ok(()), // answered once replicated
                }
            }
            Payload::Read => Payload::ReadOk { messages: self.local.readable_values() },
            Payload::Digest => {
                let set = self.local.set();
                Payload::DigestOk { digest: set.digest().to_hex(), count: set.len() as u64 }
            }
            Payload::DigestSync { remote_digest, remote_messages } => {
                return {
                    self.client_digest_sync(now_ms, from, src, request_id, &remote_digest, remote_messages);
                    Ok(())
                };
            }
            Payload::Stats => Payload::StatsOk(self.stats()),
            other => {
                // Reply types were filtered above; anything else reaching here
                // is a type this node decodes but does not serve.
                Payload::Error {
                    code: wire::error_code::NOT_SUPPORTED,
                    text: format!("{} is not served by this node", other.type_name()),
                }
            }
        };
        self.local.send_from(from, src, reply, Some(request_id));
        Ok(())
    }

    /// Runs the timers that are due (hub flushes, pushes, heartbeats,
    /// retransmissions, failover).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if let Some(gossip) = self.gossip.as_mut() {
            gossip.handle_timeout(&mut self.local, now_ms);
        }
    }

    /// When the node next wants `handle_timeout`, in the caller's `now_ms`
    /// time base.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.gossip.as_ref().and_then(|g| g.poll_timeout(&self.local))
    }

    /// Next message to send, in the order the node produced them.
    pub fn poll_output(&mut self) -> Option<Envelope> {
        self.local.pop_output()
    }

    /// Hands every queued message to `send` in order and empties the queue:
    /// [`Node::poll_output`] until `None`, for a shell that only encodes
    /// them, without moving each envelope out of the queue first.
    pub fn for_each_output(&mut self, send: impl FnMut(&Envelope)) {
        self.local.for_each_output(send);
    }

    /// The client-facing `digest_sync`: compare digests; on a mismatch merge
    /// the caller's messages and return the whole set.
    fn client_digest_sync(
        &mut self,
        now_ms: u64,
        from: Name,
        client: Name,
        request_id: u64,
        remote_digest: &str,
        remote_messages: Option<Vec<i64>>,
    ) {
        self.local.count_sync();
        let local_digest = self.local.set().digest().to_hex();
        let reply = if remote_digest.eq_ignore_ascii_case(&local_digest) {
            self.local.count_skip();
            Payload::DigestSyncOk { matched: true, transferred: 0, local_messages: None }
        } else {
            let transferred = self.learn_from_client(now_ms, remote_messages.into_iter().flatten());
            self.local.count_transferred(transferred);
            Payload::DigestSyncOk { matched: false, transferred, local_messages: Some(self.local.set().to_vec()) }
        };
        let full_state_extra = match &reply {
            Payload::DigestSyncOk { local_messages: None, .. } => LOCAL_MESSAGES_FIELD_LEN + self.local.set().json_list_len(),
            _ => 0,
        };
        self.local.send_from(from, client, reply, Some(request_id));
        let bytes = self.local.last_queued_len();
        self.local.count_bytes(bytes, bytes + full_state_extra);
    }

    /// Takes what `init` says and starts the overlay.
    fn init(&mut self, now_ms: u64, node_id: String, node_ids: Vec<String>) {
        if !self.local.init(node_id.into(), node_ids) {
            // A node missing from `node_ids`, or alone in it, has nobody to
            // gossip with: it serves clients and has no overlay.
            return;
        }
        let mut gossip: Box<dyn Gossip> = match self.local.config().overlay {
            Overlay::Star => Box::<Star>::default(),
            Overlay::Epidemic => Box::<Epidemic>::default(),
        };
        gossip.start(&mut self.local, now_ms);
        self.gossip = Some(gossip);
    }

    /// Hands the overlay our neighbours in the suggested topology (members
    /// only).
    fn take_topology(&mut self) {
        let Some(gossip) = self.gossip.as_mut() else { return };
        let Some(neighbours) = self.suggested_topology.get(self.local.id()) else { return };
        let mut chosen: Vec<String> = neighbours
            .iter()
            .filter(|n| n.as_str() != self.local.id() && self.local.is_member(n))
            .cloned()
            .collect();
        chosen.sort();
        chosen.dedup();
        gossip.take_neighbours(chosen);
    }

    /// Inserts values a client gave us and has the overlay pass the new ones on.
    fn learn_from_client(&mut self, now_ms: u64, values: impl IntoIterator<Item = i64>) -> u64 {
        let inserted = self.local.insert(values, None);
        if let Some(gossip) = self.gossip.as_mut() {
            if !inserted.to_spread.is_empty() {
                gossip.spread(&mut self.local, now_ms, &inserted.to_spread, None);
            }
        }
        inserted.new_count
    }

    /// A client broadcast: stores the value and returns the reply to send
    /// now, or `None` when `broadcast_ok` waits for replication (see `ack`).
    fn accept_broadcast(&mut self, now_ms: u64, value: i64, from: Name, client: Name, request_id: u64) -> Option<Payload> {
        let Some(gossip) = self.gossip.as_ref() else {
            // Alone: there is nobody to replicate to.
            self.learn_from_client(now_ms, [value]);
            return Some(Payload::BroadcastOk);
        };
        let has_upstream = gossip.upstream().is_some();
        if self.local.config().ack == AckPolicy::Local {
            self.learn_from_client(now_ms, [value]);
            return Some(Payload::BroadcastOk);
        }
        if self.local.set().contains(value) && !self.local.acks().is_waiting(value) {
            // It came from another node, or was replicated before.
            return Some(Payload::BroadcastOk);
        }
        if self.local.acks().is_full() {
            return Some(Payload::Error {
                code: wire::error_code::TEMPORARILY_UNAVAILABLE,
                text: format!(
                    "{WAITING_BROADCASTS_MAX} broadcasts are waiting for replication; try again once they are acknowledged"
                ),
            });
        }
        self.learn_from_client(now_ms, [value]);
        self.local.acks_mut().wait(now_ms, value, WaitingAck { from, client, request_id }, has_upstream);
        None
    }

    /// The `src` for replies: our id, or before `init` the address the
    /// request was sent to. A request addressed to our id hands over its
    /// `dest` string, which saves a copy of the id per reply.
    fn reply_source(&self, dest: Name) -> Name {
        if self.local.id().is_empty() || dest == self.local.id() {
            dest
        } else {
            self.local.name()
        }
    }

}
