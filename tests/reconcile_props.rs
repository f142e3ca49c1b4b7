//! Property tests for `reconcile`: whatever two sets hold, reconciliation
//! leaves both with their union, within bounded flights, and never costs
//! much more than shipping whole sets.

use anti_entropy::reconcile::{reconcile_pair, ReconcileMessage, MAX_FLIGHTS};
use anti_entropy::wire;
use anti_entropy::MessageSet;
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
    fn both_sides_end_with_the_union((a, b) in set_pair()) {
        let mut union: MessageSet = a.iter().copied().collect();
        union.extend(b.iter().copied());
        let mut x: MessageSet = a.iter().copied().collect();
        let mut y: MessageSet = b.iter().copied().collect();
        let full = full_state_bytes(&x, &y);
        let mut messages = Vec::new();
        let report = reconcile_pair(&mut x, &mut y, |msg, from_initiator| {
            messages.push((from_initiator, msg.type_name()));
            wire::wire_len(msg)
        });
        let report = report.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&x, &union);
        prop_assert_eq!(&y, &union);
        prop_assert!(report.flights <= MAX_FLIGHTS);
        if x.len() == a.len() && y.len() == b.len() {
            // Already equal: the opener alone.
            prop_assert_eq!(report.messages, 1);
        }
        // Never much worse than shipping whole sets: 10% plus a fixed
        // allowance for the opener, the first sketch and the envelopes.
        prop_assert!(report.bytes <= full * 11 / 10 + 2048, "{} bytes vs full {}: {:?}", report.bytes, full, messages);
    }

    #[test]
    fn messages_survive_the_wire((a, b) in set_pair()) {
        // Every message decodes back to itself from its encoded line, so the
        // JSON form is the protocol, not just a debugging view.
        let mut x: MessageSet = a.into_iter().collect();
        let mut y: MessageSet = b.into_iter().collect();
        let mut failures = Vec::new();
        reconcile_pair(&mut x, &mut y, |msg, _| {
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
