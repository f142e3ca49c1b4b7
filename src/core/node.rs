//! The node state machine: messages and timer ticks in, messages out.
//!
//! Shaped like quinn-proto: `handle_*` methods feed it (with the current time
//! as `now_ms`), `poll_output` drains what it wants to send and
//! `poll_timeout` says when it next wants `handle_timeout`. It never reads a
//! clock, never touches stdin/stdout and never draws randomness of its own,
//! so the native shell, the simulator and the wasm facade drive the very same
//! code, and the simulator can replay any run from its seed.

use std::collections::{BTreeMap, VecDeque};


use crate::core::ack::AckState;
use crate::core::epidemic::EpidemicState;
use crate::core::config::NodeConfig;
use crate::core::star::GossipState;
use crate::core::wire::{MessageKind, StatsReport};
use crate::core::set::MessageSet;
use crate::core::wire::{self, Body, Decoded, Envelope, Name, Payload, Rejection};

/// The accounting counters the node keeps; [`StatsReport`] adds derived ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub syncs: u64,
    pub skipped: u64,
    pub transferred: u64,
    pub bytes_sent: u64,
    pub bytes_full_state: u64,
    pub messages_sent: u64,
}

/// Bytes of `, "local_messages": ` in a `digest_sync_ok` body: what a
/// full-state reply adds in front of the list.
const LOCAL_MESSAGES_FIELD_LEN: u64 = r#", "local_messages": "#.len() as u64;

/// A broadcast node.
#[derive(Debug, Default)]
pub struct Node {
    pub(crate) config: NodeConfig,
    /// Our node id; empty until `init`.
    pub(crate) id: Name,
    pub(crate) node_ids: Vec<String>,
    /// The topology Maelstrom suggested. The node builds its own overlay
    /// (see `gossip`), so this is kept for inspection only.
    suggested_topology: BTreeMap<String, Vec<String>>,
    pub(crate) set: MessageSet,
    next_msg_id: u64,
    outbox: VecDeque<Envelope>,
    pub(crate) counters: Counters,
    pub(crate) gossip: GossipState,
    pub(crate) acks: AckState,
    pub(crate) epidemic: EpidemicState,
}

impl Node {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_config(config: NodeConfig) -> Self {
        Node { config, ..Self::default() }
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Our node id (empty before `init`).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn node_ids(&self) -> &[String] {
        &self.node_ids
    }

    pub fn suggested_topology(&self) -> &BTreeMap<String, Vec<String>> {
        &self.suggested_topology
    }

    /// The hub this node pushes to and checks itself against (`None` for the
    /// primary, before `init`, or for a node cut off from every hub).
    pub fn upstream(&self) -> Option<&str> {
        self.gossip.upstream.as_deref()
    }

    /// The nodes this node flushes to as their hub.
    pub fn followers(&self) -> Vec<&str> {
        self.gossip.followers.keys().map(String::as_str).collect()
    }

    /// The messages this node holds.
    pub fn set(&self) -> &MessageSet {
        &self.set
    }

    /// Starts the node from `backup`, as replicas restored from one backup
    /// start: the values are held but not spread, acknowledged or counted
    /// (they were never broadcast here). Meant for before `init`.
    pub fn restore(&mut self, backup: &MessageSet) {
        if self.set.is_empty() {
            // A clone copies the tree with its fingerprints: no value is
            // hashed again, so a thousand nodes restore 10,000 values at once.
            self.set = backup.clone();
        } else {
            self.set.extend(backup.to_vec());
        }
    }

    pub fn stats(&self) -> StatsReport {
        let c = &self.counters;
        StatsReport {
            skipped: c.skipped,
            transferred: c.transferred,
            bytes_sent: c.bytes_sent,
            bytes_saved: c.bytes_full_state as i64 - c.bytes_sent as i64,
            syncs: c.syncs,
            bytes_full_state: c.bytes_full_state,
            messages: self.set.len() as u64,
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
        self.send_from(from, src, Payload::Error { code, text }, Some(in_reply_to));
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
            if !self.is_member(&src) {
                let text = format!(
                    "{} is a node-to-node message and {src} is not a member of this cluster{}",
                    payload.type_name(),
                    if self.id.is_empty() { " (no init yet)" } else { "" }
                );
                let from = self.reply_source(dest);
                let error = Payload::Error { code: wire::error_code::NOT_SUPPORTED, text };
                self.send_from(from, src, error, Some(request_id));
                return Ok(());
            }
            let handled = if self.epidemic.active {
                self.epidemic_handle_peer(now_ms, &src, payload, request_id, in_reply_to.is_some())
            } else {
                self.handle_peer(now_ms, &src, payload, request_id)
            };
            if handled {
                return Ok(());
            }
            return Err(format!("unexpected peer message from {src}"));
        }
        let from = self.reply_source(dest);
        let reply = match payload {
            Payload::Init { .. } if !self.id.is_empty() => Payload::Error {
                code: wire::error_code::PRECONDITION_FAILED,
                text: format!("already initialised as {}: init is accepted once per process", self.id),
            },
            Payload::Init { node_id, node_ids } => {
                self.id = node_id.into();
                self.node_ids = node_ids;
                self.gossip_init(now_ms);
                Payload::InitOk
            }
            Payload::Topology { topology } => {
                self.suggested_topology = topology;
                self.epidemic_take_topology();
                Payload::TopologyOk
            }
            Payload::Broadcast { message } => {
                match self.accept_broadcast(now_ms, message, from.clone(), src.clone(), request_id) {
                    Some(reply) => reply,
                    None => return Ok(()), // answered once replicated
                }
            }
            Payload::Read => Payload::ReadOk { messages: self.readable_values() },
            Payload::Digest => Payload::DigestOk { digest: self.set.digest().to_hex(), count: self.set.len() as u64 },
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
        self.send_from(from, src, reply, Some(request_id));
        Ok(())
    }

    /// Runs the timers that are due (hub flushes, pushes, heartbeats,
    /// retransmissions, failover).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.gossip_timeout(now_ms);
    }

    /// When the node next wants `handle_timeout`, in the caller's `now_ms`
    /// time base.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.gossip_poll_timeout()
    }

    /// Next message to send, in the order the node produced them.
    pub fn poll_output(&mut self) -> Option<Envelope> {
        self.outbox.pop_front()
    }

    /// Hands every queued message to `send` in order and empties the queue:
    /// [`Node::poll_output`] until `None`, for a shell that only encodes
    /// them, without moving each envelope out of the queue first.
    pub fn for_each_output(&mut self, send: impl FnMut(&Envelope)) {
        self.outbox.iter().for_each(send);
        self.outbox.clear();
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
        self.counters.syncs += 1;
        let local_digest = self.set.digest().to_hex();
        let reply = if remote_digest.eq_ignore_ascii_case(&local_digest) {
            self.counters.skipped += 1;
            Payload::DigestSyncOk { matched: true, transferred: 0, local_messages: None }
        } else {
            let transferred = self.learn(now_ms, remote_messages.into_iter().flatten(), None);
            self.counters.transferred += transferred;
            Payload::DigestSyncOk { matched: false, transferred, local_messages: Some(self.set.to_vec()) }
        };
        let full_state_extra = match &reply {
            Payload::DigestSyncOk { local_messages: None, .. } => LOCAL_MESSAGES_FIELD_LEN + self.set.json_list_len(),
            _ => 0,
        };
        self.send_from(from, client, reply, Some(request_id));
        let bytes = wire::wire_len(self.outbox.back().expect("just queued"));
        self.counters.bytes_sent += bytes;
        self.counters.bytes_full_state += bytes + full_state_extra;
    }

    /// Whether `name` is one of the `node_ids` that `init` gave us.
    fn is_member(&self, name: &str) -> bool {
        self.node_ids.iter().any(|id| id == name)
    }

    /// The `src` for replies: our id, or before `init` the address the
    /// request was sent to. A request addressed to our id hands over its
    /// `dest` string, which saves a copy of the id per reply.
    fn reply_source(&self, dest: Name) -> Name {
        if self.id.is_empty() || dest == self.id {
            dest
        } else {
            self.id.clone()
        }
    }

    /// Queues a node-to-node message and accounts for it: its real bytes, and
    /// what a full-state protocol would have sent in its place (push, flush
    /// and heartbeat messages stand in for a whole-set transfer; repair and
    /// full-state messages are whole-set transfers already).
    pub(crate) fn send_peer(&mut self, dest: impl Into<Name>, payload: Payload, in_reply_to: Option<u64>) {
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
    pub(crate) fn send_peer_priced(
        &mut self,
        dest: impl Into<Name>,
        payload: Payload,
        in_reply_to: Option<u64>,
        full_state_equivalent: Option<u64>,
    ) {
        self.send_from(self.id.clone(), dest.into(), payload, in_reply_to);
        let bytes = wire::wire_len(self.outbox.back().expect("just queued"));
        self.counters.bytes_sent += bytes;
        self.counters.bytes_full_state += full_state_equivalent.unwrap_or(bytes);
    }

    /// Bytes of `empty` (a payload whose one list field is empty) carrying
    /// our whole set to `dest` as the next message, without building it.
    pub(crate) fn whole_set_message_len(&self, dest: &str, empty: Payload) -> u64 {
        let empty = Envelope {
            src: self.id.clone(),
            dest: dest.into(),
            body: Body { payload: empty, in_reply_to: None, msg_id: Some(self.next_msg_id) },
        };
        wire::wire_len(&empty) - "[]".len() as u64 + self.set.json_list_len()
    }

    /// Queues a message with the next `msg_id`.
    pub(crate) fn send_from(&mut self, src: Name, dest: Name, payload: Payload, in_reply_to: Option<u64>) {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        self.counters.messages_sent += 1;
        let envelope = Envelope { src, dest, body: Body { payload, in_reply_to, msg_id: Some(msg_id) } };
        self.outbox.push_back(envelope);
    }
}

