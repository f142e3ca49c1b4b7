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

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Maelstrom error codes used by this node.
pub mod error_code {
    /// The request type is not known.
    pub const NOT_SUPPORTED: u32 = 10;
    /// A field is missing or has the wrong type.
    pub const MALFORMED_REQUEST: u32 = 12;
}

/// One message: `{"src", "dest", "body"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Envelope {
    pub src: String,
    pub dest: String,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    StatsOk(crate::node::StatsReport),
    Error {
        code: u32,
        text: String,
    },
    // Node-to-node anti-entropy types follow here; list each in KNOWN_TYPES.
}

/// Every `type` a node accepts as a request: anything else is answered with
/// error 10, these with error 12 when their fields are wrong.
pub const KNOWN_TYPES: &[&str] = &["init", "topology", "broadcast", "read", "digest", "digest_sync", "stats"];

impl Payload {
    /// What this message is, for accounting and visualisation.
    pub fn kind(&self) -> crate::gossip::MessageKind {
        use crate::gossip::MessageKind;
        match self {
            Payload::DigestSyncOk { matched: true, .. } => MessageKind::DigestMatch,
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
    pub src: String,
    pub dest: String,
    pub in_reply_to: u64,
    pub code: u32,
    pub text: String,
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    src: String,
    dest: String,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// The fields needed to decide how to answer, read before the payload.
#[derive(Deserialize)]
struct BodyHead<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    msg_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    in_reply_to: Option<&'a RawValue>,
}

/// Decodes one line (without its newline).
pub fn decode(line: &[u8]) -> Decoded {
    // serde reads a struct from a JSON array too (fields by position), so
    // `["c1", "n1", {...}]` or a body `["broadcast", 2]` would be served:
    // only objects are messages.
    if line.trim_ascii_start().first() != Some(&b'{') {
        return Decoded::Unanswerable("not a Maelstrom message (not a JSON object)".into());
    }
    let raw: RawEnvelope = match serde_json::from_slice(line) {
        Ok(raw) => raw,
        Err(e) => return Decoded::Unanswerable(format!("not a Maelstrom message ({e})")),
    };
    if !raw.body.get().starts_with('{') {
        return Decoded::Unanswerable("body is not a JSON object".into());
    }
    let head: BodyHead = match serde_json::from_str(raw.body.get()) {
        Ok(head) => head,
        Err(e) => return Decoded::Unanswerable(format!("body is not a JSON object ({e})")),
    };
    let in_reply_to = match head.in_reply_to.map(|v| serde_json::from_str::<u64>(v.get())) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Decoded::Unanswerable("in_reply_to is not a non-negative integer".into()),
    };
    let msg_id = match head.msg_id.map(|v| serde_json::from_str::<u64>(v.get())) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Decoded::Unanswerable("msg_id is not a non-negative integer".into()),
    };
    let kind = head.kind.and_then(|k| serde_json::from_str::<String>(k.get()).ok());
    let reject = |code: u32, text: String| match msg_id {
        Some(id) if in_reply_to.is_none() => Decoded::Rejected(Rejection {
            src: raw.src.clone(),
            dest: raw.dest.clone(),
            in_reply_to: id,
            code,
            text,
        }),
        _ => Decoded::Unanswerable(text),
    };
    let Some(kind) = kind else {
        return reject(error_code::MALFORMED_REQUEST, "body.type is missing or not a string".into());
    };
    match serde_json::from_str::<Payload>(raw.body.get()) {
        Ok(payload) => {
            if msg_id.is_none() && !payload.is_reply() {
                return Decoded::Unanswerable(format!("{kind} request without msg_id"));
            }
            Decoded::Message(Envelope { src: raw.src, dest: raw.dest, body: Body { payload, in_reply_to, msg_id } })
        }
        Err(e) => {
            if is_known_type(&kind) {
                reject(error_code::MALFORMED_REQUEST, format!("malformed {kind} request: {e}"))
            } else {
                reject(error_code::NOT_SUPPORTED, format!("unsupported request type {kind:?}"))
            }
        }
    }
}

fn is_known_type(kind: &str) -> bool {
    KNOWN_TYPES.contains(&kind)
}

/// The `serde_json` formatter that produces the protocol's exact bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProtocolFormatter;

impl serde_json::ser::Formatter for ProtocolFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

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

    fn reply(payload: Payload) -> Envelope {
        Envelope { src: "n1".into(), dest: "c1".into(), body: Body { payload, in_reply_to: Some(3), msg_id: Some(7) } }
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
