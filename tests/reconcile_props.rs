//! Property tests for `reconcile`: whatever two sets hold, reconciliation
//! leaves both with their union, within bounded flights, and never costs
//! much more than shipping whole sets.
// proptest does not build for wasm32; these run natively.
#![cfg(not(target_arch = "wasm32"))]

use anti_entropy::core::reconcile::{reconcile_pair, ReconcileMessage, MAX_FLIGHTS};
use anti_entropy::core::wire::{self, Body, Envelope, Payload};
use anti_entropy::{MessageSet, Node, NodeConfig, Protocol};
use proptest::prelude::*;

/// Values drawn from the places that break things: the extremes, around
/// zero, dense Maelstrom-like ids, and anywhere in i64.
fn value() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i64::MIN + 1),
        Just(i64::MAX - 1),
        -3i64..3,
        0i64..5000,
        any::<i64>(),
    ]
}

/// How the two sides' sets relate.
#[derive(Clone, Copy, Debug)]
enum Relation {
    Identical,
    Disjoint,
    OneSided,
    Overlapping,
    OneEmpty,
    /// A few values missing on each side: what sketches are for.
    FewDiffer,
}

fn set_pair() -> impl Strategy<Value = (Vec<i64>, Vec<i64>)> {
    let relation = prop_oneof![
        Just(Relation::Identical),
        Just(Relation::Disjoint),
        Just(Relation::OneSided),
        Just(Relation::Overlapping),
        Just(Relation::OneEmpty),
        Just(Relation::FewDiffer),
        Just(Relation::FewDiffer),
    ];
    (
        relation,
        prop::collection::vec(value(), 0..600),
        prop::collection::vec(value(), 0..600),
        prop::collection::vec(any::<bool>(), 0..400),
        any::<bool>(),
    )
        .prop_map(|(relation, a, b, keep, swap)| {
            let (x, y) = match relation {
                Relation::Identical => (a.clone(), a),
                Relation::Disjoint => {
                    let b = b.into_iter().filter(|v| !a.contains(v)).collect();
                    (a, b)
                }
                Relation::OneSided => {
                    let subset = a.iter().zip(keep.iter().chain(std::iter::repeat(&true))).filter(|(_, k)| **k);
                    let subset = subset.map(|(v, _)| *v).collect();
                    (a, subset)
                }
                Relation::Overlapping => {
                    let shared = a.iter().zip(keep.iter().chain(std::iter::repeat(&false))).filter(|(_, k)| **k);
                    let y = shared.map(|(v, _)| *v).chain(b).collect();
                    (a, y)
                }
                Relation::OneEmpty => (a, Vec::new()),
                Relation::FewDiffer => {
                    let dropped = keep.iter().take_while(|k| **k).count().min(4);
                    let y = a.iter().skip(dropped).copied().chain(b.into_iter().take(3)).collect();
                    (a, y)
                }
            };
            if swap {
                (y, x)
            } else {
                (x, y)
            }
        })
}

/// The seed's exchange for the same pair: the whole set from each side
/// that holds something the other lacks.
fn full_state_bytes(a: &MessageSet, b: &MessageSet) -> u64 {
    let lacks = |x: &MessageSet, y: &MessageSet| x.to_vec().iter().any(|v| !y.contains(*v));
    u64::from(lacks(a, b)) * a.json_list_len() + u64::from(lacks(b, a)) * b.json_list_len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn both_sides_end_with_the_union((a, b) in set_pair(), known_mismatch in any::<bool>()) {
        let mut union: MessageSet = a.iter().copied().collect();
        union.extend(b.iter().copied());
        let mut x: MessageSet = a.iter().copied().collect();
        let mut y: MessageSet = b.iter().copied().collect();
        let full = full_state_bytes(&x, &y);
        // Distinct counts: the generated lists may repeat values.
        let (x_len_before, y_len_before) = (x.len(), y.len());
        let mut messages = Vec::new();
        let report = reconcile_pair(&mut x, &mut y, known_mismatch, |msg, from_initiator| {
            messages.push((from_initiator, msg.type_name()));
            wire::wire_len(msg)
        });
        let report = report.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&x, &union);
        prop_assert_eq!(&y, &union);
        prop_assert!(report.flights <= MAX_FLIGHTS);
        if x.len() == x_len_before && y.len() == y_len_before {
            // Already equal: the opener alone.
            prop_assert_eq!(report.messages, 1);
        }
        // Never much worse than shipping whole sets: 10% plus a fixed
        // allowance for the opener, the first sketch and the envelopes.
        prop_assert!(report.bytes <= full * 11 / 10 + 2048, "{} bytes vs full {}: {:?}", report.bytes, full, messages);
    }

    #[test]
    fn messages_survive_the_wire((a, b) in set_pair(), known_mismatch in any::<bool>()) {
        // Every message decodes back to itself from its encoded line, so the
        // JSON form is the protocol, not just a debugging view.
        let mut x: MessageSet = a.into_iter().collect();
        let mut y: MessageSet = b.into_iter().collect();
        let mut failures = Vec::new();
        reconcile_pair(&mut x, &mut y, known_mismatch, |msg, _| {
            let line = wire::encode(msg);
            match serde_json::from_str::<ReconcileMessage>(&line) {
                Ok(back) if &back == msg => {}
                other => failures.push(format!("{line} -> {other:?}")),
            }
            line.len() as u64 + 1
        })
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(failures.is_empty(), "{:?}", failures);
    }
}

/// A message to `node` from `src`, through the real decoder.
fn deliver(node: &mut Node, src: &str, payload: Payload, msg_id: u64) {
    let env = Envelope { src: src.into(), dest: node.id().into(), body: Body { payload, in_reply_to: None, msg_id: Some(msg_id) } };
    let decoded = wire::decode(wire::encode(&env).as_bytes());
    node.handle_input(0, decoded).expect("handled");
}

/// Bytes of `payload` (a whole-set message with an empty list) sent in
/// place of `sent`, carrying `set`: what the Digest protocol's repair sends.
fn whole_set_line_len(sent: &Envelope, empty: Payload, set: &MessageSet) -> u64 {
    let env = Envelope { src: sent.src.clone(), dest: sent.dest.clone(), body: Body { payload: empty, ..sent.body.clone() } };
    wire::wire_len(&env) - 2 + set.json_list_len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    /// Two real nodes (`Protocol::Difference`, hub n1 and follower n2) hold
    /// different sets; a hub heartbeat shows the follower the mismatch and
    /// its repair runs to the end. Both then hold the union, every line they
    /// sent is a reconciliation message, `bytes_sent` is exactly the sum of
    /// those lines, and `bytes_full_state` is exactly the Digest protocol's
    /// repair for the same sets (`sync_full` with the follower's set,
    /// `sync_full_ok` with the hub's).
    #[test]
    fn node_repairs_move_the_union_and_account_their_bytes((a, b) in set_pair()) {
        let config = NodeConfig { protocol: Protocol::Difference, ..NodeConfig::default() };
        let mut nodes = [Node::with_config(config.clone()), Node::with_config(config)];
        let ids = ["n1", "n2"];
        for (node, id) in nodes.iter_mut().zip(ids) {
            let init = Payload::Init { node_id: id.into(), node_ids: ids.iter().map(|s| s.to_string()).collect() };
            deliver(node, "c0", init, 0);
        }
        // The hub always holds something the follower lacks, so the check fails.
        let missing = (0..).find(|v| !b.contains(v)).expect("b is finite");
        let hub_values: Vec<i64> = a.iter().copied().chain([missing]).collect();
        for (node, values) in nodes.iter_mut().zip([&hub_values, &b]) {
            for (k, &v) in values.iter().enumerate() {
                deliver(node, "c1", Payload::Broadcast { message: v }, 1 + k as u64);
            }
            while node.poll_output().is_some() {}
        }
        let before: Vec<MessageSet> = nodes.iter().map(|n| n.set().clone()).collect();
        let mut union = before[0].clone();
        union.extend(before[1].to_vec());
        let stats_before: Vec<_> = nodes.iter().map(|n| n.stats()).collect();

        let heartbeat = Payload::Flush { seq: 1, values: Vec::new(), digest: before[0].fingerprint().short() };
        deliver(&mut nodes[1], "n1", heartbeat, 10_000);
        let mut line_bytes = [0u64; 2];
        let mut first_lines: [Option<Envelope>; 2] = [None, None];
        let mut flights = 0;
        loop {
            let mut in_flight = Vec::new();
            for (i, node) in nodes.iter_mut().enumerate() {
                while let Some(env) = node.poll_output() {
                    prop_assert!(matches!(env.body.payload, Payload::Reconcile(_)), "{:?}", env);
                    line_bytes[i] += wire::wire_len(&env);
                    first_lines[i].get_or_insert_with(|| env.clone());
                    in_flight.push((1 - i, env));
                }
            }
            if in_flight.is_empty() {
                break;
            }
            flights += 1;
            prop_assert!(flights <= MAX_FLIGHTS);
            for (to, env) in in_flight {
                let decoded = wire::decode(wire::encode(&env).as_bytes());
                nodes[to].handle_input(0, decoded).map_err(TestCaseError::fail)?;
            }
        }
        prop_assert_eq!(nodes[0].set(), &union);
        prop_assert_eq!(nodes[1].set(), &union);
        let opener = first_lines[1].as_ref().expect("the follower opened a repair");
        let full_state = [
            first_lines[0].as_ref().map_or(0, |first| whole_set_line_len(first, Payload::SyncFullOk { values: Vec::new() }, &before[0])),
            whole_set_line_len(opener, Payload::SyncFull { values: Vec::new() }, &before[1]),
        ];
        for i in 0..2 {
            let stats = nodes[i].stats();
            prop_assert_eq!(stats.bytes_sent - stats_before[i].bytes_sent, line_bytes[i], "node {}", ids[i]);
            prop_assert_eq!(stats.bytes_full_state - stats_before[i].bytes_full_state, full_state[i], "node {}", ids[i]);
        }
    }
}
