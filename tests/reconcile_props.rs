//! Property tests for `reconcile`: whatever two sets hold, reconciliation
//! leaves both with their union, within bounded flights, and never costs
//! much more than shipping whole sets.
// proptest does not build for wasm32; these run natively.
#![cfg(not(target_arch = "wasm32"))]

use anti_entropy::core::reconcile::{reconcile_pair, respond, ReconcileMessage, Session, SetSummary, MAX_FLIGHTS};
use base64::Engine as _;
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

    #[test]
    fn junk_in_packed_fields_is_refused_or_read_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        mark in any::<bool>(),
        start in prop_oneof![Just(0u64), 500u64..530, any::<u64>()],
    ) {
        // Elias-Fano lists start with 0x80 0x00; coded symbols change their
        // checksum width at index 512: junk there must be refused cleanly,
        // and any list that is accepted must be strictly ascending.
        let bytes = if mark { [vec![0x80, 0x00], bytes].concat() } else { bytes };
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        let set: MessageSet = (0..2000).collect();
        let summary = SetSummary::of_set(&set).encode();
        for msg in [
            ReconcileMessage::Values { values: text.clone() },
            ReconcileMessage::Range { lo: i64::MIN, hi: None, values: text.clone() },
            ReconcileMessage::Symbols { summary: summary.clone(), start, symbols: text.clone(), parity: None },
            ReconcileMessage::Buckets { summary: summary.clone(), buckets: 4, start: 0, sums: text.clone(), which: None },
            ReconcileMessage::Buckets {
                summary: summary.clone(),
                buckets: 64,
                start: 0,
                sums: "AAAAAAAAAAA".into(),
                which: Some(text.clone()),
            },
            ReconcileMessage::MoreSums { buckets: 1 << (start % 13), start: 0, end: 4, which: Some(text.clone()) },
        ] {
            if let Ok(step) = respond(&set, &mut Session::default(), &msg) {
                prop_assert!(step.values_to_insert.windows(2).all(|w| w[0] < w[1]), "{:?}", msg);
            }
        }
    }

    #[test]
    fn packed_lists_deliver_exactly_their_values(
        values in prop::collection::btree_set(value(), 0..3000),
        stride in prop_oneof![Just(1i64), 1i64..40, 1i64..1_000_000_000],
    ) {
        // Whichever packing is shorter (delta varints or Elias-Fano), a
        // `reconcile_values` message hands over exactly the list, from
        // extremes and random i64s to runs of consecutive ids.
        let spread: Vec<i64> = (0..values.len() as i64 / 2).map(|k| 1 + k * stride).collect();
        for list in [values.iter().copied().collect::<Vec<i64>>(), spread] {
            let list: Vec<i64> = list.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let msg = ReconcileMessage::Values { values: anti_entropy::core::reconcile::pack_values(&list) };
            let step = respond(&MessageSet::new(), &mut Session::default(), &msg)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(step.values_to_insert, list);
        }
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

/// A deterministic stream of i64s (SplitMix64) for the large draws.
fn stream(seed: u64) -> impl Iterator<Item = i64> {
    let mut state = seed;
    std::iter::repeat_with(move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as i64
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Sets of up to 100k values (dense ids or anywhere in i64, extremes
    /// included), with up to a few thousand values missing on either side:
    /// the sizes where coded symbols, the kept prefix and the listing
    /// fallback all come into play.
    #[test]
    fn large_sets_end_with_the_union(
        n in 0usize..100_000,
        missing_a in 0usize..3000,
        missing_b in 0usize..3000,
        dense in any::<bool>(),
        seed in any::<u64>(),
        known_mismatch in any::<bool>(),
    ) {
        let values: Vec<i64> = if dense {
            (0..n as i64).collect()
        } else {
            stream(seed).take(n.saturating_sub(2)).chain([i64::MIN, i64::MAX].into_iter().take(n)).collect()
        };
        // Each side misses a stretch of values chosen by the seed.
        let skip = |count: usize, salt: u64| -> std::collections::BTreeSet<usize> {
            stream(seed ^ salt).take(count).map(|r| (r as u64 % n.max(1) as u64) as usize).collect()
        };
        let (skip_a, skip_b) = (skip(missing_a, 1), skip(missing_b, 2));
        let a: MessageSet = values.iter().enumerate().filter(|(i, _)| !skip_a.contains(i)).map(|(_, v)| *v).collect();
        let b: MessageSet = values.iter().enumerate().filter(|(i, _)| !skip_b.contains(i)).map(|(_, v)| *v).collect();
        let mut union = a.clone();
        union.extend(b.to_vec());
        let (mut x, mut y) = (a, b);
        let report = reconcile_pair(&mut x, &mut y, known_mismatch, |msg, _| msg.raw_len())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(x == union && y == union, "not the union after {:?}", report);
    }

    /// A symbol batch or power sums that do not describe the set their
    /// summary names (a lying or corrupted peer, or a decode that peels the
    /// wrong values) never get anything inserted: the decoder checks what it
    /// decoded against the peer's digest first. With a wrong digest nothing
    /// is inserted at all; with flipped bits, nothing the peer lacks.
    #[test]
    fn a_decode_that_does_not_verify_inserts_nothing(
        n in 1usize..5000,
        differ in 1usize..40,
        flip_at in any::<prop::sample::Index>(),
        flip_bit in 0u32..8,
        seed in any::<u64>(),
    ) {
        let values: Vec<i64> = stream(seed).take(n).collect();
        let ours: MessageSet = values.iter().copied().skip(differ / 2).collect();
        let theirs: MessageSet = values.iter().copied().take(n.saturating_sub(differ - differ / 2)).collect();
        let opener = anti_entropy::core::reconcile::initiate(&ours);
        let reply = respond(&theirs, &mut Session::default(), &opener).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(ReconcileMessage::Sums { summary, sums, parity }) = reply.replies.first().cloned() {
            let mut forged = SetSummary::decode(&summary).map_err(|e| TestCaseError::fail(e.to_string()))?;
            forged.digest[0] ^= 1;
            let lying = ReconcileMessage::Sums { summary: forged.encode(), sums: sums.clone(), parity: parity.clone() };
            let step = respond(&ours, &mut Session::default(), &lying).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(step.values_to_insert.is_empty(), "inserted {:?} under a forged digest", step.values_to_insert);
            let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&sums).expect("base64");
            let at = flip_at.index(bytes.len());
            bytes[at] ^= 1 << flip_bit;
            let corrupted = ReconcileMessage::Sums { summary, sums: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes), parity };
            let step = respond(&ours, &mut Session::default(), &corrupted).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(step.values_to_insert.is_empty(), "inserted {:?} from corrupted sums", step.values_to_insert);
            return Ok(());
        }
        let Some(ReconcileMessage::Symbols { summary, start, symbols, parity }) = reply.replies.first().cloned() else {
            // Equal sets, or a listing instead of symbols: nothing to forge.
            return Ok(());
        };
        // The same symbols under a digest that is not theirs.
        let mut forged = SetSummary::decode(&summary).map_err(|e| TestCaseError::fail(e.to_string()))?;
        forged.digest[0] ^= 1;
        let lying = ReconcileMessage::Symbols { summary: forged.encode(), start, symbols: symbols.clone(), parity: parity.clone() };
        let step = respond(&ours, &mut Session::default(), &lying).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(step.values_to_insert.is_empty(), "inserted {:?} under a forged digest", step.values_to_insert);
        // Their digest, symbols with one bit flipped.
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&symbols).expect("base64");
        let at = 1 + flip_at.index(bytes.len() - 1);
        bytes[at] ^= 1 << flip_bit;
        let corrupted = ReconcileMessage::Symbols {
            summary,
            start,
            symbols: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
            parity,
        };
        if let Ok(step) = respond(&ours, &mut Session::default(), &corrupted) {
            for v in &step.values_to_insert {
                prop_assert!(theirs.contains(*v) && !ours.contains(*v), "inserted {} from corrupted symbols", v);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Bucketed power sums (the answer to a large difference of random
    /// values) that do not describe the set their summary names get nothing
    /// inserted, whatever the rounds: under a forged digest the decoder ends
    /// by listing its set, and from sums with a flipped bit it inserts
    /// nothing the peer lacks.
    #[test]
    fn bucketed_sums_that_do_not_verify_insert_nothing(
        n in 0usize..20_000,
        differ in 200usize..1500,
        flip_at in any::<prop::sample::Index>(),
        flip_bit in 0u32..8,
        forge in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let values: Vec<i64> = stream(seed).take(n + differ).collect();
        let ours: MessageSet = values.iter().copied().skip(differ / 2).collect();
        let theirs: MessageSet = values.iter().copied().take(n + differ / 2).collect();
        let mut message = anti_entropy::core::reconcile::initiate_repair(&ours);
        let (mut our_session, mut their_session) = (Session::default(), Session::default());
        let mut bucket_batches = 0;
        for _ in 0..20 {
            let step = respond(&theirs, &mut their_session, &message).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let Some(ReconcileMessage::Buckets { summary, buckets, start, sums, which }) = step.replies.first().cloned() else {
                break;
            };
            bucket_batches += 1;
            let (summary, sums) = if forge {
                let mut forged = SetSummary::decode(&summary).map_err(|e| TestCaseError::fail(e.to_string()))?;
                forged.digest[0] ^= 1;
                (forged.encode(), sums)
            } else if start == 0 {
                let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&sums).expect("base64");
                let at = flip_at.index(bytes.len());
                bytes[at] ^= 1 << flip_bit;
                (summary, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes))
            } else {
                (summary, sums)
            };
            let bent = ReconcileMessage::Buckets { summary, buckets, start, sums, which };
            let step = respond(&ours, &mut our_session, &bent).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for v in &step.values_to_insert {
                prop_assert!(!forge, "inserted {} under a forged digest", v);
                prop_assert!(theirs.contains(*v) && !ours.contains(*v), "inserted {} from corrupted sums", v);
            }
            match step.replies.first() {
                Some(more @ ReconcileMessage::MoreSums { .. }) => message = more.clone(),
                Some(ReconcileMessage::Range { .. }) => break,
                other => {
                    prop_assert!(!forge, "a forged digest was answered with {:?}", other);
                    break;
                }
            }
        }
        // Random values that differ by 200 or more, a tenth of the set at
        // most, are answered with buckets.
        prop_assert!(n < 10 * differ || bucket_batches > 0, "no bucketed sums for n = {}, d = {}", n, differ);
    }
}
