//! Message types and their one canonical encoding.
//!
//! The encoding is part of the protocol (test harnesses compare bytes, and
//! bandwidth accounting prices every message by its encoded length), so it
//! lives in the core. What the core does not know is framing: reading lines
//! from stdin and writing them to stdout is the native shell's job.
//!
//! Output bytes follow `PROTOCOL.md`: `", "` and `": "` separators, envelope
//! keys `src, dest, body`, body keys `type`, payload fields, `in_reply_to`,
//! `msg_id`, non-ASCII escaped as `\uXXXX`. The payload enum declares fields in
//! wire order; [`ProtocolFormatter`] supplies the spacing and escaping.

use std::any::Any;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::core::reconcile::ReconcileMessage;

/// Maelstrom error codes used by this node.
pub mod error_code {
    /// The request type is not known.
    pub const NOT_SUPPORTED: u32 = 10;
    /// A field is missing or has the wrong type.
    pub const MALFORMED_REQUEST: u32 = 12;
    /// The node cannot take the request now; it may later (too many
    /// broadcasts waiting for replication).
    pub const TEMPORARILY_UNAVAILABLE: u32 = 11;
    /// The request is well formed but the node's state forbids it (a
    /// second `init`).
    pub const PRECONDITION_FAILED: u32 = 22;
}

/// A node or client name as messages carry it. Names are short ("n1",
/// "c12"), and a `CompactString` keeps up to 24 bytes inline: decoding a
/// line and addressing its reply then allocate nothing for the names.
pub type Name = compact_str::CompactString;

/// What a message is, for the simulator's accounting and the page's colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Client requests and their replies.
    Client,
    /// Eager push of new values.
    Push,
    /// A digest (or a reconciliation opener) offered for comparison.
    Digest,
    /// A reply saying the digests matched: a transfer skipped.
    DigestMatch,
    /// Only the missing values, found by reconciliation.
    Difference,
    /// A whole set.
    FullState,
}

/// Anti-entropy accounting since the node started, as `stats_ok` reports it.
/// Field order is wire order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    /// Syncs whose digests matched, so no state moved.
    pub skipped: u64,
    /// Messages that arrived through syncs and were new here.
    pub transferred: u64,
    /// Bytes of anti-entropy traffic this node actually sent.
    pub bytes_sent: u64,
    /// `bytes_full_state - bytes_sent`: negative when digests cost more than
    /// they saved (tiny sets), which the demo shows rather than hides.
    pub bytes_saved: i64,
    /// Syncs handled or started, matched or not.
    pub syncs: u64,
    /// Bytes a full-state exchange would have cost for the same syncs.
    pub bytes_full_state: u64,
    /// Distinct messages held.
    pub messages: u64,
    /// Every message this node has sent (replies included).
    pub messages_sent: u64,
}

/// One message: `{"src", "dest", "body"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Envelope {
    pub src: Name,
    pub dest: Name,
    pub body: Body,
}

/// A body: the typed payload plus the Maelstrom bookkeeping fields, which the
/// protocol wants last.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Body {
    #[serde(flatten)]
    pub payload: Payload,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<u64>,
}

/// Every body type this node reads or writes. Field order here is wire order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    Init {
        node_id: String,
        node_ids: Vec<String>,
    },
    InitOk,
    Topology {
        topology: BTreeMap<String, Vec<String>>,
    },
    TopologyOk,
    Broadcast {
        message: i64,
    },
    BroadcastOk,
    Read,
    ReadOk {
        messages: Vec<i64>,
    },
    Digest,
    DigestOk {
        digest: String,
        count: u64,
    },
    DigestSync {
        remote_digest: String,
        remote_messages: Option<Vec<i64>>,
    },
    DigestSyncOk {
        #[serde(rename = "match")]
        matched: bool,
        transferred: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        local_messages: Option<Vec<i64>>,
    },
    Stats,
    StatsOk(StatsReport),
    Error {
        code: u32,
        text: String,
    },
    // Node-to-node types (see `star`, `epidemic` and `ack`); each is
    // decoded in `payload_from_fields`.
    /// Follower to hub: new values (empty: a keepalive).
    Push {
        values: Vec<i64>,
    },
    /// Hub to follower: values new since the last flush, numbered per
    /// follower, with the hub's short digest after them (empty values: a
    /// heartbeat).
    Flush {
        seq: u64,
        values: Vec<i64>,
        digest: String,
    },
    /// Repair after a digest mismatch, seed style: the whole set...
    SyncFull {
        values: Vec<i64>,
    },
    /// ...answered with the whole set.
    SyncFullOk {
        values: Vec<i64>,
    },
    /// Full-state protocol: the whole set, every round.
    FullState {
        values: Vec<i64>,
    },
    /// `--ack after-replication`, from a root: hold these values, please...
    Replicate {
        values: Vec<i64>,
    },
    /// ...held (the root can now acknowledge them to its clients).
    ReplicateOk {
        values: Vec<i64>,
    },
    /// Repair after a digest mismatch, `Protocol::Difference`: the
    /// reconciliation messages of `reconcile`, each with its own `type`.
    #[serde(untagged)]
    Reconcile(ReconcileMessage),
}


impl Payload {
    /// What this message is, for accounting and visualisation.
    pub fn kind(&self) -> MessageKind {
        match self {
            Payload::DigestSyncOk { matched: true, .. } => MessageKind::DigestMatch,
            Payload::Push { values } | Payload::Flush { values, .. } if values.is_empty() => MessageKind::Digest,
            Payload::Push { .. } | Payload::Flush { .. } | Payload::Replicate { .. } => MessageKind::Push,
            Payload::ReplicateOk { .. } => MessageKind::Digest,
            Payload::SyncFull { .. } | Payload::SyncFullOk { .. } | Payload::FullState { .. } => MessageKind::FullState,
            Payload::Reconcile(msg) if msg.carries_values() => MessageKind::Difference,
            Payload::Reconcile(_) => MessageKind::Digest,
            _ => MessageKind::Client,
        }
    }

    /// The wire `type` of this payload.
    pub fn type_name(&self) -> &'static str {
        match self {
            Payload::Init { .. } => "init",
            Payload::InitOk => "init_ok",
            Payload::Topology { .. } => "topology",
            Payload::TopologyOk => "topology_ok",
            Payload::Broadcast { .. } => "broadcast",
            Payload::BroadcastOk => "broadcast_ok",
            Payload::Read => "read",
            Payload::ReadOk { .. } => "read_ok",
            Payload::Digest => "digest",
            Payload::DigestOk { .. } => "digest_ok",
            Payload::DigestSync { .. } => "digest_sync",
            Payload::DigestSyncOk { .. } => "digest_sync_ok",
            Payload::Stats => "stats",
            Payload::StatsOk(_) => "stats_ok",
            Payload::Error { .. } => "error",
            Payload::Push { .. } => "push",
            Payload::Flush { .. } => "flush",
            Payload::SyncFull { .. } => "sync_full",
            Payload::SyncFullOk { .. } => "sync_full_ok",
            Payload::FullState { .. } => "full_state",
            Payload::Replicate { .. } => "replicate",
            Payload::ReplicateOk { .. } => "replicate_ok",
            Payload::Reconcile(msg) => msg.type_name(),
        }
    }

    /// Whether this body type is a reply: replies are never answered, even
    /// with an error, so two nodes cannot bounce errors at each other.
    pub fn is_reply(&self) -> bool {
        matches!(
            self,
            Payload::InitOk
                | Payload::TopologyOk
                | Payload::BroadcastOk
                | Payload::ReadOk { .. }
                | Payload::DigestOk { .. }
                | Payload::DigestSyncOk { .. }
                | Payload::StatsOk(_)
                | Payload::Error { .. }
        )
    }
}

/// What a line decodes to.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// A well-formed message.
    Message(Envelope),
    /// A request that can be answered, but only with an error reply.
    Rejected(Rejection),
    /// A line that cannot be answered at all (not JSON, wrong envelope, no
    /// `msg_id`): the shell reports it on stderr and skips it.
    Unanswerable(String),
}

/// An answerable but unservable request: enough to address an error reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub src: Name,
    pub dest: Name,
    pub in_reply_to: u64,
    pub code: u32,
    pub text: String,
}

/// The envelope with the body kept as borrowed `(key, raw value)` pairs: one
/// scan of the line, no copies, and each field parsed on its own later so an
/// error can name it.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    src: Name,
    dest: Name,
    #[serde(borrow)]
    body: BodyFields<'a>,
}

struct BodyFields<'a> {
    /// Each key with its value's JSON text, exactly as on the line.
    fields: Vec<(Cow<'a, str>, &'a str)>,
    /// A key that appeared twice: ambiguous, so the request is refused.
    duplicate: Option<String>,
    /// Whether the hottest fields may be parsed by hand (see
    /// [`parse_plain`]). The serde-only path leaves this off, so comparing the
    /// two paths checks the hand-written parsers too.
    parse_by_hand: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for BodyFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for FieldsVisitor<'a> {
            type Value = BodyFields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields = BodyFields::new(false);
                while let Some(FieldName(key)) = map.next_key::<FieldName<'a>>()? {
                    fields.push(key, map.next_value::<&'a RawValue>()?.get());
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor(std::marker::PhantomData))
    }
}

/// A field name, borrowed from the line unless it contains escapes (serde's
/// own `Cow<str>` always copies).
struct FieldName<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for FieldName<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for NameVisitor<'a> {
            type Value = FieldName<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(NameVisitor(std::marker::PhantomData))
    }
}

impl<'a> BodyFields<'a> {
    fn new(parse_by_hand: bool) -> Self {
        // Bodies rarely have more than eight fields.
        BodyFields { fields: Vec::with_capacity(8), duplicate: None, parse_by_hand }
    }

    /// Adds a field, remembering the first key that repeats.
    fn push(&mut self, key: Cow<'a, str>, value: &'a str) {
        if self.fields.iter().any(|(k, _)| *k == key) {
            self.duplicate.get_or_insert_with(|| key.to_string());
        }
        self.fields.push((key, value));
    }

    fn raw(&self, name: &str) -> Option<&'a str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    /// A required field, parsed as `T`.
    fn req<T: serde::de::DeserializeOwned + 'static>(&self, name: &str) -> Result<T, String> {
        let raw = self.raw(name).ok_or_else(|| format!("missing field `{name}`"))?;
        self.parse(name, raw)
    }

    /// An optional field: absent and `null` both give `None`.
    fn opt<T: serde::de::DeserializeOwned + 'static>(&self, name: &str) -> Result<Option<T>, String> {
        match self.raw(name) {
            None => Ok(None),
            Some(raw) => self.parse(name, raw),
        }
    }

    fn parse<T: serde::de::DeserializeOwned + 'static>(&self, name: &str, raw: &str) -> Result<T, String> {
        match self.parse_by_hand.then(|| parse_plain(raw)).flatten() {
            Some(value) => Ok(value),
            None => parse_field(name, raw),
        }
    }

    /// The body's `type` if it is a string; borrowed from the line when the
    /// string is plain, which saves an allocation on every line.
    fn kind(&self) -> Option<Cow<'a, str>> {
        let raw = self.raw("type")?;
        match plain_str(raw) {
            Some(kind) if self.parse_by_hand => Some(Cow::Borrowed(kind)),
            _ => parse_field::<String>("type", raw).ok().map(Cow::Owned),
        }
    }
}

/// `raw` parsed without serde, when `T` is one of the hottest field types and
/// `raw` is in a form whose serde result is certain; `None` leaves the field
/// to serde, errors included.
fn parse_plain<T: 'static>(raw: &str) -> Option<T> {
    let mut parsed: Option<T> = None;
    // `T` is known at compile time, so each instance keeps at most one arm.
    let slot: &mut dyn Any = &mut parsed;
    if let Some(slot) = slot.downcast_mut::<Option<u64>>() {
        *slot = plain_u64(raw);
    } else if let Some(slot) = slot.downcast_mut::<Option<Option<u64>>>() {
        *slot = plain_u64(raw).map(Some);
    } else if let Some(slot) = slot.downcast_mut::<Option<i64>>() {
        *slot = plain_i64(raw);
    } else if let Some(slot) = slot.downcast_mut::<Option<Vec<i64>>>() {
        *slot = plain_i64_list(raw);
    } else if let Some(slot) = slot.downcast_mut::<Option<String>>() {
        *slot = plain_str(raw).map(str::to_string);
    }
    parsed
}

/// Digits without a leading zero that fit a `u64`: serde reads exactly such a
/// text as that number. (`str::parse` alone would also take `+1` and `007`.)
fn plain_u64(raw: &str) -> Option<u64> {
    let canonical = raw.starts_with(|c: char| c.is_ascii_digit()) && (raw.len() == 1 || !raw.starts_with('0'));
    canonical.then(|| raw.parse().ok()).flatten()
}

/// A `u64` text up to `i64::MAX`, or a minus and one with a magnitude from 1
/// to 2^63. serde reads `-0` as the float `-0.0`, which an `i64` refuses, so
/// it is left to serde.
fn plain_i64(raw: &str) -> Option<i64> {
    match raw.strip_prefix('-') {
        Some(magnitude) => plain_u64(magnitude).filter(|&m| m != 0).and_then(|m| 0i64.checked_sub_unsigned(m)),
        None => plain_u64(raw).and_then(|n| i64::try_from(n).ok()),
    }
}

/// A JSON array of [`plain_i64`] texts.
fn plain_i64_list(raw: &str) -> Option<Vec<i64>> {
    let mut cursor = Cursor { text: raw, pos: 0 };
    let mut values = Vec::new();
    cursor.array(|cursor| {
        values.push(plain_i64(cursor.integer()?)?);
        Some(())
    })?;
    cursor.peek().is_none().then_some(values)
}

/// A quoted plain string's contents (see [`is_plain`]): serde reads the same
/// text, as there are no escapes.
fn plain_str(raw: &str) -> Option<&str> {
    raw.strip_prefix('"')?.strip_suffix('"').filter(|text| text.bytes().all(is_plain))
}

/// Parses one field's raw JSON. serde's message ends with a position inside
/// that field's text ("at line 1 column 4"), which would mislead a reader of
/// the whole line, so it is cut off.
fn parse_field<T: serde::de::DeserializeOwned>(name: &str, raw: &str) -> Result<T, String> {
    serde_json::from_str(raw).map_err(|e| {
        let text = e.to_string();
        let text = text.rfind(" at line ").map_or(text.as_str(), |cut| &text[..cut]);
        format!("field `{name}`: {text}")
    })
}

/// Why a body could not become a payload.
enum PayloadError {
    UnknownType,
    Malformed(String),
}

impl From<String> for PayloadError {
    fn from(text: String) -> Self {
        PayloadError::Malformed(text)
    }
}

/// Builds the payload of type `kind` from its fields. This match is the one
/// list of body types a node accepts: any other `type` is error 10.
fn payload_from_fields(kind: &str, f: &BodyFields) -> Result<Payload, PayloadError> {
    if let Some(name) = &f.duplicate {
        return Err(PayloadError::Malformed(format!("duplicate field `{name}`")));
    }
    Ok(match kind {
        "init" => Payload::Init { node_id: f.req("node_id")?, node_ids: f.req("node_ids")? },
        "init_ok" => Payload::InitOk,
        "topology" => Payload::Topology { topology: f.req("topology")? },
        "topology_ok" => Payload::TopologyOk,
        "broadcast" => Payload::Broadcast { message: f.req("message")? },
        "broadcast_ok" => Payload::BroadcastOk,
        "read" => Payload::Read,
        "read_ok" => Payload::ReadOk { messages: f.req("messages")? },
        "digest" => Payload::Digest,
        "digest_ok" => Payload::DigestOk { digest: f.req("digest")?, count: f.req("count")? },
        "digest_sync" => {
            Payload::DigestSync { remote_digest: f.req("remote_digest")?, remote_messages: f.opt("remote_messages")? }
        }
        "digest_sync_ok" => Payload::DigestSyncOk {
            matched: f.req("match")?,
            transferred: f.req("transferred")?,
            local_messages: f.opt("local_messages")?,
        },
        "stats" => Payload::Stats,
        "stats_ok" => Payload::StatsOk(serde_json::from_str(&fields_object(f)).map_err(|e| e.to_string())?),
        "error" => Payload::Error { code: f.req("code")?, text: f.req("text")? },
        "push" => Payload::Push { values: f.req("values")? },
        "flush" => Payload::Flush { seq: f.req("seq")?, values: f.req("values")?, digest: f.req("digest")? },
        "sync_full" => Payload::SyncFull { values: f.req("values")? },
        "sync_full_ok" => Payload::SyncFullOk { values: f.req("values")? },
        "full_state" => Payload::FullState { values: f.req("values")? },
        "replicate" => Payload::Replicate { values: f.req("values")? },
        "replicate_ok" => Payload::ReplicateOk { values: f.req("values")? },
        "reconcile" => Payload::Reconcile(ReconcileMessage::Open {
            summary: f.req("summary")?,
            parity: f.opt("parity")?,
            sums: f.opt("sums")?,
        }),
        "reconcile_symbols" => Payload::Reconcile(ReconcileMessage::Symbols {
            summary: f.req("summary")?,
            start: f.req("start")?,
            symbols: f.req("symbols")?,
            parity: f.opt("parity")?,
        }),
        "reconcile_sums" => {
            Payload::Reconcile(ReconcileMessage::Sums {
                summary: f.req("summary")?,
                sums: f.req("sums")?,
                parity: f.opt("parity")?,
            })
        }
        "reconcile_more" => Payload::Reconcile(ReconcileMessage::More {
            start: f.req("start")?,
            end: f.req("end")?,
            parity: f.opt("parity")?,
        }),
        "reconcile_range" => {
            Payload::Reconcile(ReconcileMessage::Range { lo: f.req("lo")?, hi: f.opt("hi")?, values: f.req("values")? })
        }
        "reconcile_values" => Payload::Reconcile(ReconcileMessage::Values { values: f.req("values")? }),
        "reconcile_buckets" => Payload::Reconcile(ReconcileMessage::Buckets {
            summary: f.req("summary")?,
            buckets: f.req("buckets")?,
            start: f.req("start")?,
            sums: f.req("sums")?,
            which: f.opt("which")?,
        }),
        "reconcile_more_sums" => Payload::Reconcile(ReconcileMessage::MoreSums {
            buckets: f.req("buckets")?,
            start: f.req("start")?,
            end: f.req("end")?,
            which: f.opt("which")?,
        }),
        _ => return Err(PayloadError::UnknownType),
    })
}

/// Re-assembles the fields as a JSON object (for the one payload that is a
/// whole struct, `stats_ok`; never on a node's hot path).
fn fields_object(f: &BodyFields) -> String {
    let mut map = serde_json::Map::new();
    for (k, v) in &f.fields {
        if let Ok(value) = serde_json::from_str(v) {
            map.insert(k.to_string(), value);
        }
    }
    serde_json::Value::Object(map).to_string()
}

/// Decodes one line (without its newline).
///
/// SIMD JSON was tried as the one fast decoder instead of the hand-written
/// readers (issue 13) and lost. Decoding 1M broadcast lines in-process took
/// 283-326 ns a line here against 1012-1270 with sonic-rs 0.5.10 reading
/// the envelope and raw field pairs (and 776-850 with the hand field parsers
/// kept), and 815-1032 with serde_json. Even straight into a typed struct,
/// with no payload built, sonic-rs took 430-464 ns, serde_json 376-422 and
/// simd-json 0.19 896 (with its copy of the line; it also needs Rust 1.88).
/// With `-C target-cpu=native` it was 370 for sonic-rs against 178 for the
/// hand-written path. In `node_throughput` the node's CPU time went from
/// 99-103 ms to 152-158 ms (naive 883-894 ms), and the ratio from 8.6-9.0x
/// to 5.6-5.8x. On 80-byte lines the per-call cost of the SIMD crates'
/// serde paths outweighs their SIMD. So `decode_hot` and `scan_fast` stay.
pub fn decode(line: &[u8]) -> Decoded {
    if let Some(decoded) = decode_hot(line) {
        return decoded;
    }
    match scan_fast(line) {
        Some((src, dest, fields)) => decode_body(Name::new(src), Name::new(dest), &fields),
        None => decode_without_fast_path(line),
    }
}

/// [`decode`] through serde alone, for anything outside the fast scanner's
/// form; public so that tests and fuzzing can check that both paths agree.
#[doc(hidden)]
pub fn decode_without_fast_path(line: &[u8]) -> Decoded {
    // serde reads a struct from a JSON array too (fields by position), so
    // `["c1", "n1", {...}]` would be served: only objects are messages. (The
    // body is read as a map, which already refuses arrays.)
    if line.trim_ascii_start().first() != Some(&b'{') {
        return Decoded::Unanswerable("not a Maelstrom message (not a JSON object)".into());
    }
    let raw: RawEnvelope = match serde_json::from_slice(line) {
        Ok(raw) => raw,
        Err(e) => return Decoded::Unanswerable(format!("not a Maelstrom message ({e})")),
    };
    decode_body(raw.src, raw.dest, &raw.body)
}

/// Whether [`decode`] reads `line` with its fast scanner (or the hot
/// reader, whose form is inside the scanner's); for tests that must know the
/// fast path was exercised.
#[doc(hidden)]
pub fn takes_fast_path(line: &[u8]) -> bool {
    scan_fast(line).is_some()
}

/// Whether [`decode`] reads `line` with the hot reader alone.
#[doc(hidden)]
pub fn takes_hot_path(line: &[u8]) -> bool {
    decode_hot(line).is_some()
}

/// The body of a hot line: the only keys it may hold, each at most once.
#[derive(Default)]
struct HotBody<'a> {
    kind: Option<&'a str>,
    msg_id: Option<u64>,
    in_reply_to: Option<u64>,
    message: Option<i64>,
}

/// Reads the commonest requests and replies (`broadcast`, `read`, `digest`,
/// `stats` and the bodiless replies) straight into a message, or gives `None`
/// for anything else, which the fast scanner then reads. These lines are most
/// of a node's input, and skipping the field list took about a third off the
/// node's decoding time on the 60k-line benchmark.
///
/// The form is a part of [`scan_fast`]'s: a body whose keys are among
/// `type`, `msg_id`, `in_reply_to` and `message`, once each; `type` names a
/// payload built from those keys alone; the integers are in the form the hand
/// parsers read ([`plain_u64`], [`plain_i64`]); and the message is
/// answerable. Any line that misses (a duplicate, an overflow, a missing
/// field, ...) goes on, so every error text still comes from one place.
fn decode_hot(line: &[u8]) -> Option<Decoded> {
    let mut cursor = Cursor { text: simdutf8::basic::from_utf8(line).ok()?, pos: 0 };
    let (src, dest, body) = cursor.envelope(Cursor::hot_body)?;
    let payload = match body.kind? {
        "broadcast" => Payload::Broadcast { message: body.message? },
        "read" => Payload::Read,
        "digest" => Payload::Digest,
        "stats" => Payload::Stats,
        "broadcast_ok" => Payload::BroadcastOk,
        "init_ok" => Payload::InitOk,
        "topology_ok" => Payload::TopologyOk,
        _ => return None,
    };
    if body.msg_id.is_none() && !payload.is_reply() {
        return None;
    }
    let body = Body { payload, in_reply_to: body.in_reply_to, msg_id: body.msg_id };
    Some(Decoded::Message(Envelope { src: Name::new(src), dest: Name::new(dest), body }))
}

/// Turns a parsed envelope into a message, a rejection, or an unanswerable
/// line.
fn decode_body(src: Name, dest: Name, fields: &BodyFields) -> Decoded {
    let (msg_id, in_reply_to) = match (fields.opt::<u64>("msg_id"), fields.opt::<u64>("in_reply_to")) {
        (Ok(msg_id), Ok(in_reply_to)) => (msg_id, in_reply_to),
        (Err(e), _) | (_, Err(e)) => return Decoded::Unanswerable(format!("{e} (expected a non-negative integer)")),
    };
    let kind = fields.kind();
    let payload = match &kind {
        None => Err(PayloadError::Malformed("body.type is missing or not a string".into())),
        Some(kind) => payload_from_fields(kind, fields),
    };
    let kind = kind.unwrap_or_default();
    let (code, text) = match payload {
        Ok(payload) if msg_id.is_none() && !payload.is_reply() => {
            return Decoded::Unanswerable(format!("{kind} request without msg_id"));
        }
        Ok(payload) => {
            let body = Body { payload, in_reply_to, msg_id };
            return Decoded::Message(Envelope { src, dest, body });
        }
        Err(PayloadError::UnknownType) => (error_code::NOT_SUPPORTED, format!("unsupported request type {kind:?}")),
        Err(PayloadError::Malformed(e)) if kind.is_empty() => (error_code::MALFORMED_REQUEST, e),
        Err(PayloadError::Malformed(e)) => (error_code::MALFORMED_REQUEST, format!("malformed {kind} request: {e}")),
    };
    // Replies and messages without a msg_id cannot be answered, not even
    // with an error: answering errors with errors could loop between nodes.
    match msg_id {
        Some(id) if in_reply_to.is_none() => Decoded::Rejected(Rejection { src, dest, in_reply_to: id, code, text }),
        _ => Decoded::Unanswerable(text),
    }
}

/// Reads a line in the common, simple form without serde, or gives `None`
/// for anything else, which [`decode_without_fast_path`] then handles: serde's
/// generic machinery makes a line cost two to three times as much.
///
/// The form: JSON whitespace anywhere between tokens; an object with the keys
/// `src`, `dest` and `body`, once each, in any order ([`Cursor::envelope`]);
/// every key a plain string (see [`is_plain`]), and so are `src` and `dest`;
/// every value in `body`, and that of any other envelope key, a plain
/// string, an integer, `true`, `false`, `null` or a flat array of those.
/// Within it serde reads the same envelope and the same value texts, so
/// everything after the scan is shared and the paths cannot differ. Integers
/// may have any length: overflow is the field parser's concern, as on the
/// serde path.
fn scan_fast(line: &[u8]) -> Option<(&str, &str, BodyFields<'_>)> {
    // The form is ASCII, but no pass of its own checks that: a non-ASCII
    // byte belongs to no token the cursor accepts, so the scan stops there.
    let mut cursor = Cursor { text: simdutf8::basic::from_utf8(line).ok()?, pos: 0 };
    cursor.envelope(Cursor::body)
}

/// A byte in a plain string: printable ASCII other than the quote and the
/// backslash, so the string's JSON text is its value, with no escapes.
fn is_plain(byte: u8) -> bool {
    // A table: one load per byte instead of three comparisons, in the
    // scanner's busiest loop.
    const PLAIN: [bool; 256] = {
        let mut plain = [false; 256];
        let mut byte = b' ';
        while byte <= b'~' {
            plain[byte as usize] = byte != b'"' && byte != b'\\';
            byte += 1;
        }
        plain
    };
    PLAIN[usize::from(byte)]
}

/// A position in a line, for [`scan_fast`] and [`plain_i64_list`]. Each
/// reading method skips the whitespace before its token and gives `None` when
/// the token is not in the fast form. Slices are taken with `str::get`, so a
/// position inside a multi-byte character fails instead of panicking.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

// The small methods are forced inline: as calls they keep the cursor in
// memory, and the scan measured about 20% slower.
impl<'a> Cursor<'a> {
    #[inline(always)]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.as_bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Consumes `byte` if it comes next.
    #[inline(always)]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Consumes `word` if it comes next.
    #[inline(always)]
    fn eat_word(&mut self, word: &str) -> Option<()> {
        self.text.get(self.pos..)?.starts_with(word).then(|| self.pos += word.len())
    }

    /// A plain string's contents.
    #[inline(always)]
    fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let len = self.text.as_bytes().get(start..)?.iter().position(|&b| !is_plain(b))?;
        self.pos = start + len;
        self.eat_word("\"")?;
        self.text.get(start..start + len)
    }

    /// An integer as JSON writes it, an optional minus, then `0` or digits
    /// not starting with `0`; its text. (A fraction or exponent after it is
    /// not a delimiter, so the caller bails.)
    #[inline(always)]
    fn integer(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.pos;
        self.eat_word("-"); // optional
        let digits = self.text.as_bytes().get(self.pos..)?;
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || (len > 1 && digits.first() == Some(&b'0')) {
            return None;
        }
        self.pos += len;
        self.text.get(start..self.pos)
    }

    #[inline(always)]
    fn scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.plain_str().map(drop),
            b'-' | b'0'..=b'9' => self.integer().map(drop),
            b't' => self.eat_word("true"),
            b'f' => self.eat_word("false"),
            b'n' => self.eat_word("null"),
            _ => None,
        }
    }

    /// A scalar or a flat array of scalars; its JSON text, which is what
    /// serde's `RawValue` holds: from the first byte of the value to its
    /// last, inner whitespace included.
    #[inline(always)]
    fn value(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.pos;
        if self.peek()? == b'[' {
            self.array(Self::scalar)?;
        } else {
            self.scalar()?;
        }
        self.text.get(start..self.pos)
    }

    /// An array, its items read by `item`.
    #[inline(always)]
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            if self.eat(b',').is_none() {
                break;
            }
        }
        self.eat(b']')
    }

    /// A whole line: an object with the keys `src`, `dest` and `body` once
    /// each, in any order, the body read by `body`. Other keys may come
    /// between them with a value in the form of [`Cursor::value`]: serde
    /// skips unknown envelope keys (Maelstrom itself adds `id`), so they are
    /// skipped here too.
    #[inline(always)]
    fn envelope<B>(&mut self, body: impl FnOnce(&mut Self) -> Option<B>) -> Option<(&'a str, &'a str, B)> {
        let (mut src, mut dest, mut body_reader, mut parsed) = (None, None, Some(body), None);
        self.eat(b'{')?;
        loop {
            let key = self.plain_str()?;
            self.eat(b':')?;
            match key {
                "src" if src.is_none() => src = Some(self.plain_str()?),
                "dest" if dest.is_none() => dest = Some(self.plain_str()?),
                "body" => parsed = Some(body_reader.take()?(self)?),
                "src" | "dest" => return None,
                _ => drop(self.value()?),
            }
            if self.eat(b',').is_none() {
                break;
            }
        }
        self.eat(b'}')?;
        if self.peek().is_some() {
            return None;
        }
        Some((src?, dest?, parsed?))
    }

    /// A body in [`decode_hot`]'s form.
    #[inline(always)]
    fn hot_body(&mut self) -> Option<HotBody<'a>> {
        let mut body = HotBody::default();
        self.eat(b'{')?;
        loop {
            let key = self.plain_str()?;
            self.eat(b':')?;
            match key {
                "type" if body.kind.is_none() => body.kind = Some(self.plain_str()?),
                "msg_id" if body.msg_id.is_none() => body.msg_id = Some(plain_u64(self.integer()?)?),
                "in_reply_to" if body.in_reply_to.is_none() => body.in_reply_to = Some(plain_u64(self.integer()?)?),
                "message" if body.message.is_none() => body.message = Some(plain_i64(self.integer()?)?),
                _ => return None,
            }
            if self.eat(b',').is_none() {
                break;
            }
        }
        self.eat(b'}')?;
        Some(body)
    }

    fn body(&mut self) -> Option<BodyFields<'a>> {
        let mut fields = BodyFields::new(true);
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(fields);
        }
        loop {
            let key = self.plain_str()?;
            self.eat(b':')?;
            fields.push(Cow::Borrowed(key), self.value()?);
            if self.eat(b',').is_none() {
                break;
            }
        }
        self.eat(b'}')?;
        Some(fields)
    }
}

/// The `serde_json` formatter that produces the protocol's exact bytes.
///
/// Its methods are forced inline: serializing a `broadcast_ok` reply took
/// 120 ns with them as calls and 95 ns inlined.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProtocolFormatter;

impl serde_json::ser::Formatter for ProtocolFormatter {
    #[inline(always)]
    fn begin_array_value<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    #[inline(always)]
    fn begin_object_key<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    #[inline(always)]
    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    #[inline(always)]
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        if fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// Writes `value` in the protocol's byte form (no newline).
pub fn write_json<W: Write, T: Serialize + ?Sized>(writer: W, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(writer, ProtocolFormatter);
    value.serialize(&mut ser).map_err(io::Error::from)
}

/// Encodes `value` in the protocol's byte form (no newline).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(128);
    write_json(&mut out, value).expect("writing to a Vec cannot fail");
    // The formatter writes only ASCII (non-ASCII is escaped), so this holds.
    String::from_utf8(out).expect("protocol encoding is ASCII")
}

/// Bytes a message occupies on the wire: its encoded line plus the newline.
pub fn wire_len<T: Serialize + ?Sized>(value: &T) -> u64 {
    struct Counter(u64);
    impl Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    write_json(&mut counter, value).expect("counting cannot fail");
    counter.0 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What clients send (compact) and what nodes send (our own spacing).
    const HOT_LINES: [&str; 4] = [
        r#"{"src":"c1","dest":"n1","body":{"type":"broadcast","msg_id":5,"message":123}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"digest","msg_id":102}}"#,
        r#"{"src": "n2", "dest": "n1", "body": {"type": "flush", "seq": 3, "values": [1, 2, 3], "digest": "ab12", "msg_id": 9}}"#,
        r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2"]}}"#,
    ];

    fn assert_paths_agree(line: &str) {
        assert_eq!(decode(line.as_bytes()), decode_without_fast_path(line.as_bytes()), "{line}");
    }

    #[test]
    fn hot_lines_take_the_fast_path_and_read_what_serde_reads() {
        for line in HOT_LINES {
            let (src, dest, fields) = scan_fast(line.as_bytes()).unwrap_or_else(|| panic!("not on the fast path: {line}"));
            let raw: RawEnvelope = serde_json::from_str(line).expect("valid envelope");
            assert_eq!((src, dest), (raw.src.as_str(), raw.dest.as_str()));
            assert_eq!(fields.fields, raw.body.fields, "{line}");
            assert!(matches!(decode(line.as_bytes()), Decoded::Message(_)), "{line}");
            assert_paths_agree(line);
        }
        let (_, _, flush) = scan_fast(HOT_LINES[2].as_bytes()).expect("fast path");
        assert_eq!(flush.raw("values"), Some("[1, 2, 3]"));
    }

    #[test]
    fn lines_outside_the_fast_form_go_to_serde() {
        let body = |fields: &str| format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"broadcast","msg_id":5,{fields}}}}}"#);
        let outside = [
            body(r#""message":1,"note":"a\"b""#),
            body(r#""message":1,"n\u006fte":"x""#),
            r#"{"src":"c\u0031","dest":"n1","body":{"type":"read","msg_id":5}}"#.to_string(),
            body(r#""message":1.5"#),
            body(r#""message":1e3"#),
            body(r#""message":-0.0"#),
            body(r#""message":01"#),
            body(r#""message":-"#),
            body(r#""message":1,"topology":{"n1":["n2"]}"#),
            body(r#""message":[[1]]"#),
            body(r#""message":[1,]"#),
            body(r#""message":1,"note":"é""#),
            body("\"message\":1,\"note\":\"tab\there\""),
            body("\"message\":1,\"note\":\"del\x7f\""),
            r#"{"src":"cé","dest":"n1","body":{"type":"read","msg_id":5}}"#.to_string(),
            r#"{"src":"c1","dest":"n1","id":{"a":1},"body":{"type":"read","msg_id":5}}"#.to_string(),
            r#"{"src":"c1","dest":"n1","id":1.5,"body":{"type":"read","msg_id":5}}"#.to_string(),
            r#"{"src":"c1","src":"c2","dest":"n1","body":{"type":"read","msg_id":5}}"#.to_string(),
            r#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":5},"body":{"type":"read","msg_id":6}}"#.to_string(),
            r#"{"src":"c1","dest":"n1"}"#.to_string(),
            r#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":5}} x"#.to_string(),
            r#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":5}}}"#.to_string(),
            r#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":5}"#.to_string(),
            "\x0c{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"read\",\"msg_id\":5}}".to_string(),
            r#"["c1","n1",{"type":"read","msg_id":5}]"#.to_string(),
            "{}".to_string(),
            String::new(),
        ];
        for line in &outside {
            assert!(scan_fast(line.as_bytes()).is_none(), "took the fast path: {line}");
            assert_paths_agree(line);
        }
    }

    #[test]
    fn odd_lines_inside_the_fast_form_decode_as_serde_decodes_them() {
        let body = |fields: &str| format!(r#"{{"src":"c1","dest":"n1","body":{{{fields}}}}}"#);
        let inside = [
            body(r#""type":"broadcast","msg_id":5,"message":1,"message":2"#),
            body(r#""type":"read","msg_id":5,"type":"read""#),
            body(r#""type":"broadcast","msg_id":18446744073709551616,"message":1"#),
            body(r#""type":"broadcast","msg_id":-1,"message":1"#),
            body(r#""type":"broadcast","msg_id":5,"message":9223372036854775808"#),
            body(r#""type":"broadcast","msg_id":5,"message":-9223372036854775809"#),
            body(r#""type":"broadcast","msg_id":5,"message":-0"#),
            body(r#""type":"broadcast","msg_id":5,"message":123456789012345678901234567890"#),
            body(r#""type":"broadcast","msg_id":null,"message":1"#),
            body(r#""type":"read_ok","in_reply_to":5,"messages":[]"#),
            body(r#""type":5,"msg_id":5"#),
            body(r#""type":"frobnicate","msg_id":5,"x":[true,false,null,"s",-3]"#),
            body(r#""type":"digest_sync_ok","match":true,"transferred":0,"local_messages":null,"in_reply_to":1"#),
            body(r#""type":"push","msg_id":5,"values":[1,-0]"#),
            body(r#""type":"push","msg_id":5,"values":[ 1 , -2 ]"#),
            body(r#""type":"push","msg_id":5,"values":[9223372036854775808]"#),
            body(r#""type":"flush","msg_id":5,"seq":-1,"values":[],"digest":"ab""#),
            body(""),
            r#"{"id":3,"src":"c1","dest":"n1","body":{"type":"read","msg_id":5}}"#.to_string(),
            r#"{"src":"c1","dest":"n1","id":[1,"x"],"body":{"type":"push","msg_id":5,"values":[1]},"note":null}"#.to_string(),
            " \t\r\n{ \"body\" : { \"msg_id\" : 5 , \"type\" : \"read\" } , \"dest\" : \"n1\" , \"src\" : \"c1\" } \n"
                .to_string(),
        ];
        for line in &inside {
            assert!(scan_fast(line.as_bytes()).is_some(), "not on the fast path: {line}");
            assert_paths_agree(line);
        }
        let (_, _, fields) = scan_fast(inside[0].as_bytes()).expect("fast path");
        assert_eq!(fields.duplicate.as_deref(), Some("message"));
    }

    #[test]
    fn the_hot_reader_takes_only_what_it_can_build_alone() {
        let line = |body: &str| format!(r#"{{"src":"c1","dest":"n1","body":{{{body}}}}}"#);
        let hot = [
            line(r#""type":"broadcast","msg_id":5,"message":-12"#),
            r#"{"id":7,"src":"c1","dest":"n1","body":{"type":"broadcast","message":0,"msg_id":1}}"#.to_string(),
            line(r#""type":"read","msg_id":5"#),
            line(r#""msg_id":5,"type":"digest""#),
            line(r#""type":"stats","msg_id":0"#),
            line(r#""type":"read","msg_id":5,"message":3"#),
            line(r#""type":"broadcast_ok","in_reply_to":5"#),
            line(r#""type":"init_ok","in_reply_to":1,"msg_id":2"#),
        ];
        for line in &hot {
            assert!(takes_hot_path(line.as_bytes()), "missed the hot reader: {line}");
            assert!(matches!(decode(line.as_bytes()), Decoded::Message(_)), "{line}");
            assert_paths_agree(line);
        }
        // Each is in the fast scanner's form, but has something only the
        // field list handles: an error to word, a field to ignore or parse.
        let elsewhere = [
            line(r#""type":"broadcast","msg_id":5"#),
            line(r#""type":"broadcast","msg_id":5,"message":"7""#),
            line(r#""type":"broadcast","msg_id":5,"message":-0"#),
            line(r#""type":"broadcast","msg_id":5,"message":9223372036854775808"#),
            line(r#""type":"broadcast","msg_id":5,"message":1,"message":1"#),
            line(r#""type":"read","msg_id":5,"msg_id":5"#),
            line(r#""type":"read","msg_id":18446744073709551616"#),
            line(r#""type":"read""#),
            line(r#""type":"read","msg_id":5,"note":1"#),
            line(r#""type":"read_ok","in_reply_to":5,"messages":[1]"#),
            line(r#""type":"frobnicate","msg_id":5"#),
            line(r#""type":"topology","msg_id":5"#),
            line(""),
        ];
        for line in &elsewhere {
            assert!(!takes_hot_path(line.as_bytes()), "took the hot reader: {line}");
            assert!(takes_fast_path(line.as_bytes()), "missed the fast scanner: {line}");
            assert_paths_agree(line);
        }
    }

    /// Where a hand-written parser answers, serde gives the same value.
    fn assert_hand_parser_agrees<T>(raw: &str) -> bool
    where
        T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + 'static,
    {
        let by_hand = parse_plain::<T>(raw);
        if let Some(value) = &by_hand {
            assert_eq!(serde_json::from_str::<T>(raw).as_ref().ok(), Some(value), "{raw:?}");
        }
        by_hand.is_some()
    }

    #[test]
    fn hand_parsers_answer_only_where_serde_gives_the_same_value() {
        #[rustfmt::skip]
        let texts = [
            "0", "5", "007", "-0", "-1", "+1", " 5", "1.0", "1e2", "null", "true",
            "18446744073709551615", "18446744073709551616", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "-9223372036854775809",
            r#""""#, r#""ab""#, r#""a\"b""#, r#""é""#, "\"a\tb\"", "\"a\x7fb\"", r#"""#,
            "[]", "[ ]", "[1, -2,3]", "[1,]", "[-0]", "[01]", "[1] x", "[1.5]", r#"["a"]"#,
        ];
        let mut answered = Vec::new();
        for raw in texts {
            let answers = [
                assert_hand_parser_agrees::<u64>(raw),
                assert_hand_parser_agrees::<Option<u64>>(raw),
                assert_hand_parser_agrees::<i64>(raw),
                assert_hand_parser_agrees::<Vec<i64>>(raw),
                assert_hand_parser_agrees::<String>(raw),
                assert_hand_parser_agrees::<u32>(raw),
            ];
            answered.push(answers);
        }
        let by_text = |raw: &str| answered[texts.iter().position(|t| *t == raw).expect("listed")];
        assert_eq!(by_text("5"), [true, true, true, false, false, false]);
        assert_eq!(by_text("18446744073709551615"), [true, true, false, false, false, false]);
        assert_eq!(by_text("-9223372036854775808"), [false, false, true, false, false, false]);
        assert_eq!(by_text("[1, -2,3]"), [false, false, false, true, false, false]);
        assert_eq!(by_text(r#""ab""#), [false, false, false, false, true, false]);
        for raw in ["007", "-0", "+1", " 5", "18446744073709551616", "[-0]", r#""a\"b""#, "\"a\tb\""] {
            assert_eq!(by_text(raw), [false; 6], "{raw:?} is left to serde");
        }
    }

    fn reply(payload: Payload) -> Envelope {
        Envelope { src: "n1".into(), dest: "c1".into(), body: Body { payload, in_reply_to: Some(3), msg_id: Some(7) } }
    }

    #[test]
    fn reconcile_messages_encode_flat_and_decode_back() {
        let env = Envelope {
            src: "n2".into(),
            dest: "n1".into(),
            body: Body {
                payload: Payload::Reconcile(ReconcileMessage::Range { lo: i64::MIN, hi: None, values: "AAE".into() }),
                in_reply_to: None,
                msg_id: Some(9),
            },
        };
        let line = encode(&env);
        assert_eq!(
            line,
            r#"{"src": "n2", "dest": "n1", "body": {"type": "reconcile_range", "lo": -9223372036854775808, "values": "AAE", "msg_id": 9}}"#
        );
        assert_eq!(decode(line.as_bytes()), Decoded::Message(env));
        let set = (0..50).collect();
        let openers = [crate::core::reconcile::initiate(&set), crate::core::reconcile::initiate_repair(&set)];
        for msg in openers.into_iter().chain([
            ReconcileMessage::More { start: 6, end: 40, parity: None },
            ReconcileMessage::More { start: 6, end: 40, parity: Some(true) },
        ]) {
            let env = Envelope {
                src: "n2".into(),
                dest: "n1".into(),
                body: Body { payload: Payload::Reconcile(msg), in_reply_to: None, msg_id: Some(1) },
            };
            assert_eq!(decode(encode(&env).as_bytes()), Decoded::Message(env));
        }
        let d = decode(br#"{"src":"n2","dest":"n1","body":{"type":"reconcile_more","msg_id":6,"start":"x","end":3}}"#);
        assert!(matches!(d, Decoded::Rejected(Rejection { code: 12, .. })), "{d:?}");
    }

    #[test]
    fn digest_sync_ok_matches_protocol_example() {
        let env = reply(Payload::DigestSyncOk { matched: false, transferred: 2, local_messages: Some(vec![1, 2, 3, 4, 5]) });
        assert_eq!(
            encode(&env),
            r#"{"src": "n1", "dest": "c1", "body": {"type": "digest_sync_ok", "match": false, "transferred": 2, "local_messages": [1, 2, 3, 4, 5], "in_reply_to": 3, "msg_id": 7}}"#
        );
        assert_eq!(wire_len(&env), encode(&env).len() as u64 + 1);
    }

    #[test]
    fn non_ascii_is_escaped_like_python() {
        let env = reply(Payload::Error { code: 12, text: "é😀\n\"".into() });
        assert!(encode(&env).contains(r#""text": "\u00e9\ud83d\ude00\n\"""#), "{}", encode(&env));
    }

    #[test]
    fn decode_classifies_errors() {
        let d = decode(br#"{"src":"c1","dest":"n1","body":{"type":"broadcast","msg_id":4,"message":"42"}}"#);
        assert!(matches!(d, Decoded::Rejected(Rejection { code: 12, in_reply_to: 4, .. })), "{d:?}");
        let d = decode(br#"{"src":"c1","dest":"n1","body":{"type":"frobnicate","msg_id":5}}"#);
        assert!(matches!(d, Decoded::Rejected(Rejection { code: 10, in_reply_to: 5, .. })), "{d:?}");
        let d = decode(br#"{"src":"c1","dest":"n1","body":{"type":"read"}}"#);
        assert!(matches!(d, Decoded::Unanswerable(_)), "{d:?}");
        let d = decode(b"not json");
        assert!(matches!(d, Decoded::Unanswerable(_)), "{d:?}");
        let d = decode(br#"{"src":"c1","dest":"n1","body":{"type":"broadcast","msg_id":6,"message":9223372036854775808}}"#);
        assert!(matches!(d, Decoded::Rejected(Rejection { code: 12, .. })), "{d:?}");
        let d = decode(br#"{"src":"c1","dest":"n1","body":{"type":"broadcast","msg_id":6,"message":-9223372036854775808}}"#);
        assert!(matches!(d, Decoded::Message(_)), "{d:?}");
    }
}
