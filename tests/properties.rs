//! Property tests: the message set against a brute-force `BTreeSet`, the
//! digest's order/repetition independence, and the node's accounting, driven
//! with `Envelope` values.
//!
//! Native only: proptest is a native dev-dependency (it draws OS randomness,
//! which wasm32-unknown-unknown lacks), and `wasm-pack test` builds every
//! test target for wasm.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeSet;

use anti_entropy::core::wire::{self, Body, Decoded, Envelope, Payload};
use anti_entropy::{Fingerprint, MessageSet, Node, StatsReport};
use proptest::prelude::*;

/// Values that exercise the edges: extremes, their neighbours, small
/// numbers of both signs (many collisions, so duplicates happen), anything.
fn value() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![
        3 => -200i64..200,
        3 => any::<i64>(),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MIN + 1), Just(-1i64), Just(0i64), Just(i64::MAX - 1), Just(i64::MAX)],
    ]
}

/// Sets big enough for a three-level tree (32 values per leaf, 32 children
/// per inner node) often enough, small enough to stay quick.
fn values(max_len: usize) -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        2 => prop::collection::vec(value(), 0..80),
        1 => prop::collection::vec(value(), 0..max_len),
        // Dense runs: the ascending-append split path.
        1 => (any::<i64>(), 0..max_len).prop_map(|(start, n)| (0..n as i64).map(|i| start.wrapping_add(i)).collect()),
    ]
}

/// A bound for range queries: a present value, a neighbour of one, an
/// extreme, or anything.
fn bound_near(values: &[i64]) -> BoxedStrategy<i64> {
    let extremes = prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64), any::<i64>()];
    if values.is_empty() {
        return extremes.boxed();
    }
    let present = prop::sample::select(values.to_vec());
    prop_oneof![
        present.clone(),
        present.prop_map(|v| v.saturating_add(1)),
        extremes,
    ]
    .boxed()
}

fn brute_range(reference: &BTreeSet<i64>, lo: i64, hi: Option<i64>) -> Vec<i64> {
    reference.iter().copied().filter(|&v| v >= lo && hi.is_none_or(|h| v < h)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn digest_ignores_order_and_repetition(
        (original, reordered) in values(1500).prop_flat_map(|v| {
            let with_repeats: Vec<i64> = v.iter().chain(v.iter().step_by(3)).copied().collect();
            (Just(v), Just(with_repeats).prop_shuffle())
        })
    ) {
        let a: MessageSet = original.iter().copied().collect();
        let b: MessageSet = reordered.iter().copied().collect();
        let distinct: BTreeSet<i64> = original.iter().copied().collect();
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(a.digest(), Fingerprint::of_values(distinct.iter().copied()).digest());
        prop_assert_eq!(a.len(), distinct.len());
        prop_assert_eq!(b.to_vec(), distinct.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn different_sets_give_different_digests(a in values(300), b in values(300), extra in value()) {
        let set_a: BTreeSet<i64> = a.iter().copied().collect();
        let set_b: BTreeSet<i64> = b.iter().copied().collect();
        let digest_a = a.iter().copied().collect::<MessageSet>().digest();
        let digest_b = b.iter().copied().collect::<MessageSet>().digest();
        prop_assert_eq!(set_a == set_b, digest_a == digest_b);
        // One value more or less is the hardest case for a weak digest.
        let mut plus_one: MessageSet = a.iter().copied().collect();
        let was_new = plus_one.insert(extra);
        prop_assert_eq!(was_new, !set_a.contains(&extra));
        prop_assert_eq!(was_new, plus_one.digest() != digest_a);
    }

    #[test]
    fn queries_match_a_btreeset(
        (inserted, lo, hi, index) in values(2500).prop_flat_map(|v| {
            let bounds = bound_near(&v);
            let len = v.len();
            (Just(v), bounds.clone(), prop::option::weighted(0.8, bounds), 0..len + 2)
        })
    ) {
        let set: MessageSet = inserted.iter().copied().collect();
        let reference: BTreeSet<i64> = inserted.iter().copied().collect();
        let sorted: Vec<i64> = reference.iter().copied().collect();

        let expected = brute_range(&reference, lo, hi);
        prop_assert_eq!(set.range_values(lo, hi), expected.clone());
        prop_assert_eq!(set.rank(Some(lo)), reference.range(..lo).count());
        prop_assert_eq!(set.rank(hi), hi.map_or(reference.len(), |h| reference.range(..h).count()));
        prop_assert_eq!(set.rank(None), reference.len());
        prop_assert_eq!(set.select(index), sorted.get(index).copied());
        prop_assert_eq!(set.fingerprint(), Fingerprint::of_values(sorted.iter().copied()));
        prop_assert_eq!(set.to_vec(), sorted.clone());
        prop_assert_eq!(set.len(), reference.len());
        for v in inserted.iter().take(50) {
            prop_assert!(set.contains(*v));
        }
        prop_assert_eq!(set.contains(lo), reference.contains(&lo));
        if let Some(h) = hi {
            prop_assert_eq!(set.contains(h), reference.contains(&h));
        }
    }

    #[test]
    fn json_list_len_is_the_encoded_length(inserted in values(2000)) {
        let set: MessageSet = inserted.iter().copied().collect();
        prop_assert_eq!(set.json_list_len(), wire::encode(&set.to_vec()).len() as u64);
    }
}

// ------------------------------------------------------------------ the node

fn request(msg_id: u64, payload: Payload) -> Envelope {
    Envelope { src: "c1".into(), dest: "n1".into(), body: Body { payload, in_reply_to: None, msg_id: Some(msg_id) } }
}

fn drain(node: &mut Node) -> Vec<Envelope> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

fn new_node() -> Node {
    let mut node = Node::new();
    let init = Payload::Init { node_id: "n1".into(), node_ids: vec!["n1".into()] };
    node.handle_message(0, request(0, init)).expect("init is served");
    drain(&mut node);
    node
}

/// A client operation against the node.
#[derive(Clone, Debug)]
enum Op {
    Broadcast(i64),
    /// A sync whose digest matches the node's set (computed at send time).
    SyncMatching(Option<Vec<i64>>),
    /// A sync with a digest that cannot match.
    SyncMismatching(Option<Vec<i64>>),
    Read,
    Digest,
    Stats,
}

fn op() -> impl Strategy<Value = Op> {
    let remote = prop::option::weighted(0.85, prop::collection::vec(value(), 0..40));
    prop_oneof![
        4 => value().prop_map(Op::Broadcast),
        2 => remote.clone().prop_map(Op::SyncMatching),
        3 => remote.prop_map(Op::SyncMismatching),
        1 => Just(Op::Read),
        1 => Just(Op::Digest),
        1 => Just(Op::Stats),
    ]
}

/// Lines a client could send that must be rejected with error 12; the
/// digest_sync ones carry valid values next to the bad entry, which must not
/// be merged either.
fn malformed_line() -> impl Strategy<Value = String> {
    let bad_entry = prop_oneof![
        Just("\"7\"".to_string()),
        Just("1.5".to_string()),
        Just("9223372036854775808".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("null".to_string()),
        Just("[1]".to_string()),
        Just("true".to_string()),
    ];
    let goods = prop::collection::vec(value(), 0..10);
    prop_oneof![
        bad_entry.clone().prop_map(|bad| format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"broadcast","msg_id":77,"message":{bad}}}}}"#)),
        (goods, bad_entry, any::<prop::sample::Index>()).prop_map(|(goods, bad, at)| {
            let mut entries: Vec<String> = goods.iter().map(|v| v.to_string()).collect();
            let pos = at.index(entries.len() + 1);
            entries.insert(pos, bad);
            format!(
                r#"{{"src":"c1","dest":"n1","body":{{"type":"digest_sync","msg_id":78,"remote_digest":"x","remote_messages":[{}]}}}}"#,
                entries.join(",")
            )
        }),
        Just(r#"{"src":"c1","dest":"n1","body":{"type":"digest_sync","msg_id":79,"remote_messages":[1,2]}}"#.to_string()),
        Just(r#"{"src":"c1","dest":"n1","body":{"type":"topology","msg_id":80,"topology":{"n1":[3]}}}"#.to_string()),
    ]
}

/// What a test expects the node's accounting to be, computed from the
/// replies it produced.
#[derive(Default)]
struct Ledger {
    syncs: u64,
    skipped: u64,
    transferred: u64,
    bytes_sent: u64,
    bytes_full_state: u64,
    messages_sent: u64,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Runs random client traffic and checks every reply against a
    /// `BTreeSet` model, then the stats against sums over the replies.
    #[test]
    fn node_merges_as_set_union_and_stats_add_up(ops in prop::collection::vec(op(), 1..120)) {
        let mut node = new_node();
        let mut model: BTreeSet<i64> = BTreeSet::new();
        let mut ledger = Ledger::default();
        for (i, op) in ops.iter().enumerate() {
            let msg_id = 1 + i as u64;
            let payload = match op {
                Op::Broadcast(v) => Payload::Broadcast { message: *v },
                Op::SyncMatching(remote) => Payload::DigestSync { remote_digest: node.set().digest().to_hex(), remote_messages: remote.clone() },
                Op::SyncMismatching(remote) => Payload::DigestSync { remote_digest: "not-a-digest".into(), remote_messages: remote.clone() },
                Op::Read => Payload::Read,
                Op::Digest => Payload::Digest,
                Op::Stats => Payload::Stats,
            };
            let stats_before = node.stats();
            node.handle_message(i as u64, request(msg_id, payload)).expect("requests are served");
            let replies = drain(&mut node);
            prop_assert_eq!(replies.len(), 1);
            let reply = &replies[0];
            prop_assert_eq!(reply.body.in_reply_to, Some(msg_id));
            prop_assert_eq!(reply.body.msg_id, Some(ledger.messages_sent + 1), "msg_id counts every message, init's reply was 0");
            ledger.messages_sent += 1;
            match (op, &reply.body.payload) {
                (Op::Broadcast(v), Payload::BroadcastOk) => {
                    model.insert(*v);
                }
                (Op::SyncMatching(_), Payload::DigestSyncOk { matched: true, transferred: 0, local_messages: None }) => {
                    ledger.syncs += 1;
                    ledger.skipped += 1;
                    ledger.bytes_sent += wire::wire_len(reply);
                    // A full-state exchange would have carried the whole set.
                    let mut full = reply.clone();
                    full.body.payload = Payload::DigestSyncOk { matched: true, transferred: 0, local_messages: Some(model.iter().copied().collect()) };
                    ledger.bytes_full_state += wire::wire_len(&full);
                }
                (Op::SyncMismatching(remote), Payload::DigestSyncOk { matched: false, transferred, local_messages: Some(local) }) => {
                    let before = model.len() as u64;
                    model.extend(remote.iter().flatten().copied());
                    prop_assert_eq!(*transferred, model.len() as u64 - before, "transferred counts exactly the new values");
                    prop_assert_eq!(local, &model.iter().copied().collect::<Vec<_>>(), "merge is the set union");
                    ledger.syncs += 1;
                    ledger.transferred += transferred;
                    ledger.bytes_sent += wire::wire_len(reply);
                    ledger.bytes_full_state += wire::wire_len(reply);
                }
                (Op::Read, Payload::ReadOk { messages }) => {
                    prop_assert_eq!(messages, &model.iter().copied().collect::<Vec<_>>());
                }
                (Op::Digest, Payload::DigestOk { digest, count }) => {
                    prop_assert_eq!(digest, &Fingerprint::of_values(model.iter().copied()).digest().to_hex());
                    prop_assert_eq!(*count, model.len() as u64);
                }
                (Op::Stats, Payload::StatsOk(report)) => {
                    prop_assert_eq!(report, &stats_before);
                }
                (op, other) => prop_assert!(false, "{:?} answered with {:?}", op, other),
            }
            prop_assert_eq!(node.set().to_vec(), model.iter().copied().collect::<Vec<_>>());
            let stats = node.stats();
            prop_assert_eq!(&stats, &StatsReport {
                skipped: ledger.skipped,
                transferred: ledger.transferred,
                bytes_sent: ledger.bytes_sent,
                bytes_saved: ledger.bytes_full_state as i64 - ledger.bytes_sent as i64,
                syncs: ledger.syncs,
                bytes_full_state: ledger.bytes_full_state,
                messages: model.len() as u64,
                messages_sent: ledger.messages_sent + 1,
            });
            prop_assert_eq!(stats.bytes_saved, stats.bytes_full_state as i64 - stats.bytes_sent as i64);
        }
    }

    #[test]
    fn a_rejected_request_changes_nothing(prefix in prop::collection::vec(value(), 0..200), line in malformed_line()) {
        let mut node = new_node();
        for (i, v) in prefix.iter().enumerate() {
            node.handle_message(0, request(i as u64 + 1, Payload::Broadcast { message: *v })).expect("served");
        }
        drain(&mut node);
        let set_before = node.set().to_vec();
        let digest_before = node.set().digest();
        let stats_before = node.stats();

        let decoded = wire::decode(line.as_bytes());
        prop_assert!(matches!(&decoded, Decoded::Rejected(r) if r.code == 12), "{} decoded to {:?}", line, decoded);
        node.handle_input(1, decoded).expect("a rejection is answered");
        let replies = drain(&mut node);
        prop_assert_eq!(replies.len(), 1);
        prop_assert!(matches!(&replies[0].body.payload, Payload::Error { code: 12, .. }), "{:?}", replies[0]);

        prop_assert_eq!(node.set().to_vec(), set_before);
        prop_assert_eq!(node.set().digest(), digest_before);
        let stats = node.stats();
        prop_assert_eq!(stats.messages_sent, stats_before.messages_sent + 1);
        prop_assert_eq!(stats, StatsReport { messages_sent: stats_before.messages_sent + 1, ..stats_before });
    }
}
