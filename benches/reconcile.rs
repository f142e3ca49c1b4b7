//! Bytes and rounds to reconcile two 100k-value sets, against the seed's
//! full-state exchange measured in the same run.
//!
//! Run with `cargo bench --bench reconcile`. Every message is priced as a
//! node sends it: the whole envelope line (`src`, `dest`, `body` with
//! `msg_id`) through `wire::wire_len`, both directions, until both sets
//! equal their union.

use std::time::Instant;

use anti_entropy::core::reconcile::{reconcile_pair, ReconcileMessage};
use anti_entropy::core::wire::{self, Body, Envelope, Payload};
use anti_entropy::MessageSet;
use serde::Serialize;

const N: i64 = 100_000;

/// A node-to-node line carrying a reconciliation message (what the node
/// sends: same envelope and body bookkeeping as `wire::Envelope`).
#[derive(Serialize)]
struct Line<'a> {
    src: &'a str,
    dest: &'a str,
    body: LineBody<'a>,
}

#[derive(Serialize)]
struct LineBody<'a> {
    #[serde(flatten)]
    msg: &'a ReconcileMessage,
    msg_id: u64,
}

/// Prices lines between "n1" (initiator) and "n2", each with its own msg_id
/// counter, started where a node that has been up for a while would be.
struct Pricer {
    next_msg_id: [u64; 2],
}

impl Pricer {
    fn new() -> Self {
        Pricer { next_msg_id: [10_000, 10_000] }
    }

    fn price(&mut self, msg: &ReconcileMessage, from_initiator: bool) -> u64 {
        let side = usize::from(!from_initiator);
        let (src, dest) = if from_initiator { ("n1", "n2") } else { ("n2", "n1") };
        let msg_id = self.next_msg_id[side];
        self.next_msg_id[side] += 1;
        wire::wire_len(&Line { src, dest, body: LineBody { msg, msg_id } })
    }

    fn price_payload(&mut self, payload: Payload, from_initiator: bool) -> u64 {
        let side = usize::from(!from_initiator);
        let (src, dest) = if from_initiator { ("n1", "n2") } else { ("n2", "n1") };
        let msg_id = self.next_msg_id[side];
        self.next_msg_id[side] += 1;
        wire::wire_len(&Envelope {
            src: src.into(),
            dest: dest.into(),
            body: Body { payload, in_reply_to: None, msg_id: Some(msg_id) },
        })
    }
}

/// The seed's exchange for the same pair: a digest, then on a mismatch the
/// whole set from each side that holds something the other lacks (on a
/// match, the `match: true` reply).
fn full_exchange_bytes(a: &MessageSet, b: &MessageSet) -> u64 {
    let mut pricer = Pricer::new();
    let digest = a.digest().to_hex();
    let mut bytes = pricer.price_payload(Payload::DigestSync { remote_digest: digest, remote_messages: None }, true);
    if a == b {
        return bytes
            + pricer.price_payload(Payload::DigestSyncOk { matched: true, transferred: 0, local_messages: None }, false);
    }
    let a_values = a.to_vec();
    let b_values = b.to_vec();
    if a_values.iter().any(|v| !b.contains(*v)) {
        let payload = Payload::DigestSyncOk { matched: false, transferred: 0, local_messages: Some(a_values) };
        bytes += pricer.price_payload(payload, true);
    }
    if b_values.iter().any(|v| !a.contains(*v)) {
        let payload = Payload::DigestSyncOk { matched: false, transferred: 0, local_messages: Some(b_values) };
        bytes += pricer.price_payload(payload, false);
    }
    bytes
}

/// A deterministic stream of i64s (SplitMix64).
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> i64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as i64
    }
}

/// Which values the two sides hold.
#[derive(Clone, Copy)]
enum Variant {
    /// 0..n on one side; the other misses `d` of them, spread out.
    DenseMissing,
    /// 0..n; the other side misses `d/2` of them and holds `d - d/2` new ones.
    DenseMixed,
    /// Random i64s (extremes included), `d` differences split the same way.
    RandomMixed,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::DenseMissing => "dense, one-sided",
            Variant::DenseMixed => "dense, two-sided",
            Variant::RandomMixed => "random i64",
        }
    }

    /// (initiator's set, responder's set) with `d` values in the symmetric
    /// difference; `d == n` means disjoint sets of `n` each. `seed` picks
    /// which values differ.
    fn sets(self, n: i64, d: i64, seed: u64) -> (MessageSet, MessageSet) {
        let base: Vec<i64> = match self {
            Variant::RandomMixed => {
                let mut s = Stream(42);
                let mut v: Vec<i64> = (0..n - 2).map(|_| s.next()).chain([i64::MIN, i64::MAX]).collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            _ => (0..n).collect(),
        };
        let fresh = |k: i64| -> Vec<i64> {
            match self {
                Variant::RandomMixed => {
                    let mut s = Stream(7 + seed);
                    (0..k).map(|_| s.next()).collect()
                }
                _ => (n..n + k).collect(),
            }
        };
        if d == n {
            return (base.iter().copied().collect(), fresh(n).into_iter().collect());
        }
        let (removed, added) = match self {
            Variant::DenseMissing => (d, 0),
            _ => (d - d / 2, d / 2),
        };
        // Remove `removed` distinct positions: one per stride, at a
        // seed-dependent offset within it.
        let stride = if removed == 0 { 1 } else { base.len() as i64 / removed };
        let mut offsets = Stream(seed);
        let removed_at: std::collections::BTreeSet<i64> =
            (0..removed).map(|k| k * stride + (offsets.next().rem_euclid(stride))).collect();
        let responder: MessageSet = base
            .iter()
            .enumerate()
            .filter(|(i, _)| !removed_at.contains(&(*i as i64)))
            .map(|(_, v)| *v)
            .chain(fresh(added))
            .collect();
        (base.into_iter().collect(), responder)
    }
}

/// The brief's targets per d, in bytes, and the round-trip limit if any.
fn target(n: i64, d: i64, full: u64) -> (u64, Option<u32>) {
    match d {
        0 => (128, Some(1)),
        1 => (1_000, None),
        10 => (4_000, Some(4)),
        1000 => (40_000, None),
        _ if d == n => (full * 11 / 10, None),
        _ => (full, None),
    }
}

fn main() {
    println!("reconcile benchmark: n = {N} per side; bytes are whole wire lines, both directions, until both sets are equal");
    println!(
        "{:<17} {:>7} {:>10} {:>5} {:>3} {:>9} {:>10} {:>8} {:>9} {:>9} ok",
        "variant", "d", "bytes", "msgs", "rt", "time_ms", "full", "/full", "/(d·val)", "target"
    );
    let mut misses = 0;
    for variant in [Variant::DenseMissing, Variant::DenseMixed, Variant::RandomMixed] {
        for d in [0, 1, 10, 1000, N] {
            let (mut a, mut b) = variant.sets(N, d, 0);
            let union_len = {
                let mut u = a.clone();
                u.extend(b.to_vec());
                u.len()
            };
            let full = full_exchange_bytes(&a, &b);
            let value_bytes = (a.json_list_len() as f64 / a.len() as f64).max(1.0);
            let mut pricer = Pricer::new();
            let started = Instant::now();
            let report =
                reconcile_pair(&mut a, &mut b, false, |msg, from| pricer.price(msg, from)).expect("reconciles");
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(a, b, "{} d={d}: sets differ after reconciliation", variant.name());
            assert_eq!(a.len(), union_len, "{} d={d}: not the union", variant.name());
            let (target_bytes, target_rt) = target(N, d, full);
            let ok = report.bytes <= target_bytes && target_rt.is_none_or(|rt| report.round_trips() <= rt);
            misses += u32::from(!ok);
            let per_value =
                if d == 0 { "-".to_string() } else { format!("{:.2}", report.bytes as f64 / (d as f64 * value_bytes)) };
            println!(
                "{:<17} {:>7} {:>10} {:>5} {:>3} {:>9.1} {:>10} {:>8.4} {:>9} {:>9} {}",
                variant.name(),
                d,
                report.bytes,
                report.messages,
                report.round_trips(),
                elapsed_ms,
                full,
                report.bytes as f64 / full as f64,
                per_value,
                target_bytes,
                if ok { "yes" } else { "MISS" }
            );
        }
    }
    println!("targets missed: {misses}");
    println!();
    tails();
}

/// The table above is one draw; sketches are probabilistic. Over
/// `TAIL_SEEDS` draws of which values differ: median and worst bytes, worst
/// round trips, and how many draws missed the target. Mode `check` is the
/// table's (a periodic opener that finds the mismatch); `repair` is the
/// node's (`initiate_repair`: the opener of a known mismatch carries the
/// initiator's odd sketch, so the first batch is sized from the estimate).
fn tails() {
    const TAIL_SEEDS: u64 = 20;
    println!("tails over {TAIL_SEEDS} draws per row (which values differ)");
    println!(
        "{:<17} {:<6} {:>7} {:>10} {:>10} {:>7} {:>9} {:>7}",
        "variant", "mode", "d", "median", "max", "max_rt", "target", "missed"
    );
    for (variant, known_mismatch, d) in [Variant::DenseMissing, Variant::DenseMixed, Variant::RandomMixed]
        .into_iter()
        .flat_map(|v| [false, true].into_iter().map(move |k| (v, k)))
        .flat_map(|(v, k)| [1, 10, 1000].into_iter().map(move |d| (v, k, d)))
    {
        {
            let mut bytes = Vec::new();
            let mut max_rt = 0;
            let mut missed = 0;
            for seed in 1..=TAIL_SEEDS {
                let (mut a, mut b) = variant.sets(N, d, seed);
                let mut pricer = Pricer::new();
                let report = reconcile_pair(&mut a, &mut b, known_mismatch, |msg, from| pricer.price(msg, from))
                    .expect("reconciles");
                assert_eq!(a, b);
                let (target_bytes, target_rt) = target(N, d, u64::MAX);
                missed += u32::from(
                    report.bytes > target_bytes || target_rt.is_some_and(|rt| report.round_trips() > rt),
                );
                max_rt = max_rt.max(report.round_trips());
                bytes.push(report.bytes);
            }
            bytes.sort_unstable();
            let (target_bytes, _) = target(N, d, u64::MAX);
            println!(
                "{:<17} {:<6} {:>7} {:>10} {:>10} {:>7} {:>9} {:>7}",
                variant.name(),
                if known_mismatch { "repair" } else { "check" },
                d,
                bytes[bytes.len() / 2],
                bytes[bytes.len() - 1],
                max_rt,
                target_bytes,
                missed
            );
        }
    }
}
