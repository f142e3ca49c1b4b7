//! Bytes, round trips and CPU to reconcile two sets, against the public
//! peers `negentropy` (range-based reconciliation) and `do-riblt` (rateless
//! IBLT) on the very same draws, interleaved, and against the seed's
//! full-state exchange.
//!
//! Run with `cargo bench --bench reconcile`. Our messages are priced twice:
//! as a node sends them (the whole envelope line with `src`, `dest` and
//! `msg_id`, through `wire::wire_len`) and raw (`ReconcileMessage::raw_len`,
//! the same message in a binary framing, which is what the peers' byte
//! counts are). Everything is counted both directions, until both sets equal
//! their union: a peer that only finds the difference also pays 8 bytes per
//! value the other side lacks.

use std::time::Instant;

use do_riblt::{Decoder as RibltDecoder, Encoder as RibltEncoder, Peeled, Symbol as RibltSymbol};
use negentropy::{Id, Negentropy, NegentropyStorageBase, NegentropyStorageVector};

use anti_entropy::core::coding::{OddSketch, PeerSketch, SketchForm};
use anti_entropy::core::pinsketch::{self, PinSketch, PIN_CAPACITY};
use anti_entropy::core::reconcile::{reconcile_pair, reconcile_pair_inserting, ReconcileMessage};
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
                // Past the base, at a seed-dependent offset: draws with the
                // same added values would share one pattern of hash
                // collisions, and so one estimate error, not sample it.
                _ => (n + k * seed as i64..n + k * (seed as i64 + 1)).collect(),
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

/// The first brief's targets per d, in bytes, and the round-trip limit if
/// any. An in-sync check was 128 bytes at most; it is now 160: the opener
/// carries a 16-byte folded odd sketch (30 bytes of line), which is what
/// lets a difference of up to 100 values reach both sides in 1.5 round
/// trips instead of 2.5 (the later brief's goal).
fn target(n: i64, d: i64, full: u64) -> (u64, Option<u32>) {
    match d {
        0 => (160, Some(1)),
        1 => (1_000, None),
        10 => (4_000, Some(4)),
        1000 => (40_000, None),
        _ if d == n => (full * 11 / 10, None),
        _ => (full, None),
    }
}

/// Sections run: all by default, or those named on the command line
/// (`cargo bench --bench reconcile -- peers tails`); `quick` skips
/// `do-riblt` in the peers table (its encoder costs O(n) per symbol: minutes
/// at n = 1M).
fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let options = |a: &String| a == "quick" || a.starts_with("d=");
    let wants = |section: &str| args.iter().all(options) || args.iter().any(|a| a == section);
    let with_riblt = !args.iter().any(|a| a == "quick");
    // `d=1000`: only the peers rows of that difference.
    let only_d: Option<i64> = args.iter().find_map(|a| a.strip_prefix("d=")?.parse().ok());
    if wants("peers") {
        peers(with_riblt, only_d);
        println!();
    }
    if wants("full") {
        versus_full_state();
        println!();
    }
    if wants("tails") {
        tails();
        println!();
    }
    if wants("rounds") {
        rounds();
        println!();
    }
    if wants("estimates") {
        estimates();
        println!();
    }
    if wants("sums") {
        sums_decode_cost();
    }
}

/// An i64 as a `do-riblt` item (8 bytes; its coded symbols add an 8-byte hash).
#[derive(Clone, Copy)]
struct RibltValue(i64);

impl RibltSymbol<8> for RibltValue {
    fn to_bytes(&self) -> [u8; 8] {
        self.0.to_le_bytes()
    }
    fn from_bytes(bytes: &[u8; 8]) -> Self {
        RibltValue(i64::from_le_bytes(*bytes))
    }
}

/// Bytes of one `do-riblt` coded symbol on a wire: the xored item and hash.
const RIBLT_SYMBOL_BYTES: u64 = 8 + 8;
/// Bytes of one value sent back to the side that lacks it.
const VALUE_BYTES: u64 = 8;

/// What one reconciliation cost one implementation.
#[derive(Clone, Copy, Default)]
struct Cost {
    raw_bytes: u64,
    /// Whole JSON lines (ours only).
    line_bytes: u64,
    /// One-way flights until both sides hold the union.
    flights: u32,
    cpu_ms: f64,
    /// Building what a node keeps between repairs (ours: the coded prefix,
    /// power sums and bucket sums of both sets; negentropy: both sorted, sealed storages), not in `cpu_ms`.
    index_ms: f64,
    /// Bringing both sides to the union once the exchange has told them
    /// what to take: ours inserts into the sets (keeping the fingerprint,
    /// coded prefix and kept sums up to date), negentropy brings both
    /// storages to the union and seals them again. Not in `cpu_ms`.
    apply_ms: f64,
}

/// Ours, from a bare count-and-digest opener (as the peers start from
/// nothing). CPU is timed on a run priced by `raw_len` only, so the JSON
/// pricing is not counted, and after both sets built their coded prefix
/// (a node builds it at its first repair and keeps it up to date on insert);
/// the inserts of what each side learns are timed apart, as `apply_ms`.
fn ours(a: &MessageSet, b: &MessageSet, union_len: usize) -> Cost {
    let (a, b) = (a.clone(), b.clone());
    let started = Instant::now();
    a.coded_prefix();
    b.coded_prefix();
    a.power_sums(PIN_CAPACITY);
    b.power_sums(PIN_CAPACITY);
    a.bucket_sums(1, None, 0, 1);
    b.bucket_sums(1, None, 0, 1);
    let index_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (mut x, mut y) = (a.clone(), b.clone());
    let mut insert_ms = 0.0;
    let started = Instant::now();
    let timed = reconcile_pair_inserting(&mut x, &mut y, false, |msg, _| msg.raw_len(), |set, values| {
        let inserting = Instant::now();
        set.extend(values);
        insert_ms += inserting.elapsed().as_secs_f64() * 1000.0;
    })
    .expect("reconciles");
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(x == y && x.len() == union_len, "ours: not the union");
    let (mut x, mut y) = (a.clone(), b.clone());
    let mut pricer = Pricer::new();
    let lines = reconcile_pair(&mut x, &mut y, false, |msg, from| pricer.price(msg, from)).expect("reconciles");
    assert_eq!(lines.flights, timed.flights);
    Cost {
        raw_bytes: timed.bytes,
        line_bytes: lines.bytes,
        flights: timed.flights,
        cpu_ms: total_ms - insert_ms,
        index_ms,
        apply_ms: insert_ms,
    }
}

fn negentropy_id(value: i64) -> Id {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&((value as u64) ^ (1 << 63)).to_be_bytes());
    Id::from_byte_array(bytes)
}

fn negentropy_value(id: &Id) -> i64 {
    (u64::from_be_bytes(id.as_bytes()[..8].try_into().expect("8 bytes")) ^ (1 << 63)) as i64
}

fn negentropy_storage(set: &MessageSet) -> NegentropyStorageVector {
    let mut storage = NegentropyStorageVector::with_capacity(set.len());
    for v in set.to_vec() {
        storage.insert(0, negentropy_id(v)).expect("insert");
    }
    storage.seal().expect("seal");
    storage
}

/// `negentropy`: the initiator holds `a`. Its storage (sorted and sealed
/// once, as a node would keep it) is built outside the timing; then the
/// message exchange until the initiator knows both differences, plus one
/// flight of the values the responder lacks: `cpu_ms` is that exchange
/// alone, as ours is. `apply_ms` is what it then takes for both storages to
/// hold the union, sealed again (`seal` sorts the whole vector: a storage
/// with O(log n) inserts would do better, so the exchange ratio is the one
/// the goal is held to, and the ratio to the union is shown beside it).
fn negentropy(a: &MessageSet, b: &MessageSet, union_len: usize) -> Cost {
    let started = Instant::now();
    let (mut storage_a, mut storage_b) = (negentropy_storage(a), negentropy_storage(b));
    let index_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let mut client = Negentropy::borrowed(&storage_a, 0).expect("client");
    let mut server = Negentropy::borrowed(&storage_b, 0).expect("server");
    let mut query = client.initiate().expect("initiate");
    let mut cost = Cost { raw_bytes: query.len() as u64, flights: 1, index_ms, ..Cost::default() };
    let (mut have, mut need) = (Vec::new(), Vec::new());
    loop {
        let reply = server.reconcile(&query).expect("reconcile");
        cost.raw_bytes += reply.len() as u64;
        cost.flights += 1;
        match client.reconcile_with_ids(&reply, &mut have, &mut need).expect("reconcile_with_ids") {
            Some(next) => {
                cost.raw_bytes += next.len() as u64;
                cost.flights += 1;
                query = next;
            }
            None => break,
        }
    }
    drop((client, server));
    cost.cpu_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    for (storage, ids) in [(&mut storage_a, &need), (&mut storage_b, &have)] {
        storage.unseal().expect("unseal");
        for id in ids {
            storage.insert(0, negentropy_id(negentropy_value(id))).expect("insert");
        }
        storage.seal().expect("seal");
    }
    cost.apply_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !have.is_empty() {
        cost.raw_bytes += VALUE_BYTES * have.len() as u64;
        cost.flights += 1;
    }
    assert_eq!(storage_a.size().expect("size"), union_len, "negentropy: not the union");
    assert_eq!(storage_b.size().expect("size"), union_len, "negentropy: not the union");
    cost
}

/// `do-riblt`: the responder (holding `b`) streams coded symbols until the
/// initiator's decoder is done (one flight, counting only the symbols it
/// needed: an ideal stream that stops at once), then one flight of the
/// values the responder lacks. Encoder and decoder are built from the sets
/// inside the timing: that is how its API takes a set.
fn riblt(a: &MessageSet, b: &MessageSet, union_len: usize) -> Cost {
    let (values_a, values_b) = (a.to_vec(), b.to_vec());
    let started = Instant::now();
    let mut encoder = RibltEncoder::new(values_b.iter().map(|&v| RibltValue(v)));
    let mut decoder = RibltDecoder::new(values_a.iter().map(|&v| RibltValue(v)));
    let (mut symbols, mut local_lacks, mut remote_lacks) = (0u64, 0usize, 0u64);
    loop {
        symbols += 1;
        let (done, peeled) = decoder.next_symbol(encoder.next_symbol());
        for item in peeled {
            match item {
                Peeled::MissingLocal(_) => local_lacks += 1,
                Peeled::MissingRemote(_) => remote_lacks += 1,
            }
        }
        if done {
            break;
        }
    }
    let cpu_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(a.len() + local_lacks, union_len, "do-riblt: not the union");
    assert_eq!(b.len() as u64 + remote_lacks, union_len as u64, "do-riblt: not the union");
    Cost {
        raw_bytes: symbols * RIBLT_SYMBOL_BYTES + remote_lacks * VALUE_BYTES,
        line_bytes: 0,
        flights: 1 + u32::from(remote_lacks > 0),
        cpu_ms,
        ..Cost::default()
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

/// The side-by-side table: medians over `DRAWS` draws of which values
/// differ; within a draw the three run on the same two sets, in an order
/// that rotates from draw to draw.
fn peers(with_riblt: bool, only_d: Option<i64>) {
    const DRAWS: u64 = 5;
    println!("side by side with the peers: medians of {DRAWS} draws; raw = binary payload bytes, both ways, until both hold the union; rt = round trips (flights / 2); idx_ms = building what a node keeps between repairs (not in ms); ms = the exchange until each side knows what to take, apply = then taking it (ours: inserts keeping the set's indexes; negentropy: storages brought to the union and sealed); cpu/negent compares exchanges, union/negent exchange plus apply");
    println!(
        "{:<17} {:>9} {:>6} | {:>9} {:>9} {:>6} {:>5} {:>8} {:>6} | {:>9} {:>5} {:>8} {:>6} | {:>9} {:>5} {:>8} | {:>10} {:>10} {:>12} | {:>7} {:>10}",
        "variant", "n", "d", "ours_line", "ours_raw", "B/d", "rt", "ms", "apply", "negent", "rt", "ms", "apply", "riblt", "rt", "ms",
        "raw/best", "cpu/negent", "union/negent", "idx_ms", "negent_idx"
    );
    let rows: [(Variant, i64, i64); 10] = [
        (Variant::DenseMixed, 100_000, 1),
        (Variant::DenseMixed, 100_000, 10),
        (Variant::DenseMixed, 100_000, 100),
        (Variant::DenseMixed, 100_000, 1000),
        (Variant::RandomMixed, 100_000, 10),
        (Variant::RandomMixed, 100_000, 100),
        (Variant::RandomMixed, 100_000, 1000),
        (Variant::RandomMixed, 100_000, 10_000),
        (Variant::DenseMixed, 1_000_000, 10),
        (Variant::DenseMixed, 1_000_000, 1000),
    ];
    for (variant, n, d) in rows {
        if only_d.is_some_and(|only| only != d) {
            continue;
        }
        let mut costs: [Vec<Cost>; 3] = Default::default();
        for draw in 0..DRAWS {
            let (a, b) = variant.sets(n, d, draw + 1);
            let union_len = a.len() + b.to_vec().iter().filter(|&&v| !a.contains(v)).count();
            for k in 0..3 {
                let which = (k + draw as usize) % 3;
                let cost = match which {
                    0 => ours(&a, &b, union_len),
                    1 => negentropy(&a, &b, union_len),
                    _ if with_riblt => riblt(&a, &b, union_len),
                    _ => Cost::default(),
                };
                costs[which].push(cost);
            }
        }
        let med = |i: usize, f: fn(&Cost) -> f64| median(costs[i].iter().map(f).collect());
        let raw = |c: &Cost| c.raw_bytes as f64;
        let rt = |c: &Cost| f64::from(c.flights) / 2.0;
        let ms = |c: &Cost| c.cpu_ms;
        let apply = |c: &Cost| c.apply_ms;
        let to_union = |c: &Cost| c.cpu_ms + c.apply_ms;
        let best_peer_raw = if with_riblt { med(1, raw).min(med(2, raw)) } else { med(1, raw) };
        println!(
            "{:<17} {:>9} {:>6} | {:>9.0} {:>9.0} {:>6.1} {:>5.1} {:>8.2} {:>6.2} | {:>9.0} {:>5.1} {:>8.2} {:>6.1} | {:>9.0} {:>5.1} {:>8.2} | {:>10.2} {:>10.2} {:>12.2} | {:>7.1} {:>10.1}",
            variant.name(),
            n,
            d,
            med(0, |c| c.line_bytes as f64),
            med(0, raw),
            med(0, raw) / d as f64,
            med(0, rt),
            med(0, ms),
            med(0, apply),
            med(1, raw),
            med(1, rt),
            med(1, ms),
            med(1, apply),
            med(2, raw),
            med(2, rt),
            med(2, ms),
            med(0, raw) / best_peer_raw,
            med(0, ms) / med(1, ms),
            med(0, to_union) / med(1, to_union),
            med(0, |c| c.index_ms),
            med(1, |c| c.index_ms),
        );
    }
}

/// One draw per row against the seed's whole-set exchange.
fn versus_full_state() {
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
        .flat_map(|(v, k)| [1, 10, 100, 1000].into_iter().map(move |d| (v, k, d)))
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
                if target_bytes == u64::MAX { "-".to_string() } else { target_bytes.to_string() },
                missed
            );
        }
    }
}

/// How often a difference of up to 100 values takes more than 1.5 round
/// trips (the goal), over `ROUND_DRAWS` draws per row at n = 20,000 (the
/// draws, not n, decide the tail; a smaller set keeps the run short), and
/// the raw bytes' median and 99th percentile per differing value.
fn rounds() {
    const ROUND_DRAWS: u64 = 300;
    const ROUND_N: i64 = 20_000;
    println!("round trips over {ROUND_DRAWS} draws per row, n = {ROUND_N} (slow: more than 1.5 round trips)");
    println!("{:<17} {:<6} {:>5} {:>6} {:>7} {:>9} {:>9}", "variant", "mode", "d", "slow", "max_rt", "B/d p50", "B/d p99");
    for (variant, known_mismatch, d) in [Variant::DenseMixed, Variant::RandomMixed]
        .into_iter()
        .flat_map(|v| [false, true].into_iter().map(move |k| (v, k)))
        .flat_map(|(v, k)| [20, 40, 60, 80, 100].into_iter().map(move |d| (v, k, d)))
    {
        let mut slow = 0;
        let mut max_rt = 0.0f64;
        let mut bytes_per_value = Vec::new();
        for seed in 1..=ROUND_DRAWS {
            let (mut a, mut b) = variant.sets(ROUND_N, d, seed);
            let report = reconcile_pair(&mut a, &mut b, known_mismatch, |msg, _| msg.raw_len()).expect("reconciles");
            assert_eq!(a, b, "seed {seed} did not end in equal sets");
            let rt = f64::from(report.flights) / 2.0;
            slow += u32::from(rt > 1.5);
            max_rt = max_rt.max(rt);
            bytes_per_value.push(report.bytes as f64 / d as f64);
        }
        bytes_per_value.sort_by(f64::total_cmp);
        let at = |p: f64| bytes_per_value[((bytes_per_value.len() as f64 * p) as usize).min(bytes_per_value.len() - 1)];
        println!(
            "{:<17} {:<6} {:>5} {:>6} {:>7.1} {:>9.1} {:>9.1}",
            variant.name(),
            if known_mismatch { "repair" } else { "check" },
            d,
            slow,
            max_rt,
            at(0.5),
            at(0.99)
        );
    }
}

/// How well the sketches an opener carries read a difference of `d` random
/// values: quantiles of estimate ÷ d over `ESTIMATE_DRAWS` draws, as the
/// responder reads them (the xor of two sketches is the sketch of the
/// difference). A first batch that must decode in one go is sized for the
/// low quantile: this is what bounds the bytes of a 1.5-round-trip repair
/// at d = 100 (see `src/core/reconcile.rs`).
fn estimates() {
    const ESTIMATE_DRAWS: u64 = 2000;
    println!("estimate / d over {ESTIMATE_DRAWS} draws of d random values (folded: the 16 bytes of every periodic opener; whole: the 160 bytes of a repair opener)");
    println!("{:<7} {:>5} {:>6} {:>6} {:>6} {:>6} {:>11}", "sketch", "d", "1%", "5%", "50%", "95%", "unreadable");
    let mut stream = Stream(99);
    for (form, d) in [SketchForm::Folded, SketchForm::Whole].into_iter().flat_map(|f| [10u64, 20, 30, 40, 50, 60, 100, 150].map(|d| (f, d))) {
        let mut ratios = Vec::new();
        let mut unreadable = 0;
        for _ in 0..ESTIMATE_DRAWS {
            let values: Vec<i64> = (0..d).map(|_| stream.next()).collect();
            let theirs = PeerSketch::from_bytes(&OddSketch::of_values(&values).to_bytes(form)).expect("a sketch's own bytes");
            match OddSketch::default().difference_estimate(&theirs, u64::MAX) {
                Some(estimate) => ratios.push(estimate as f64 / d as f64),
                None => unreadable += 1,
            }
        }
        ratios.sort_by(f64::total_cmp);
        let q = |p: f64| ratios.get(((ratios.len() as f64 * p) as usize).min(ratios.len().saturating_sub(1))).copied().unwrap_or(f64::NAN);
        println!(
            "{:<7} {:>5} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>10.1}%",
            if form == SketchForm::Folded { "folded" } else { "whole" },
            d,
            q(0.01),
            q(0.05),
            q(0.5),
            q(0.95),
            100.0 * unreadable as f64 / ESTIMATE_DRAWS as f64
        );
    }
}

/// What decoding power sums costs per value, by capacity (a difference of
/// three quarters of it, random i64s): why sums serve small differences
/// only, and what a PinSketch-only design would pay at large ones.
fn sums_decode_cost() {
    println!("power-sum decode cost (random i64s, differences of 3/4 of the capacity)");
    println!("{:>8} {:>6} {:>12} {:>14}", "capacity", "d", "ms/decode", "us per value");
    let mut stream = Stream(99);
    for capacity in [8usize, 16, 32, 64, 128, 192] {
        let d = capacity * 3 / 4;
        let draws = 8_000 / capacity;
        let sketches: Vec<Vec<u64>> = (0..draws)
            .map(|_| {
                let values: Vec<i64> = (0..d).map(|_| stream.next()).collect();
                PinSketch::of_values(&values, 0, capacity).sums().to_vec()
            })
            .collect();
        let started = Instant::now();
        for sums in &sketches {
            let decoded = pinsketch::decode(sums).expect("within capacity");
            assert_eq!(decoded.len(), d);
        }
        let per_decode_ms = started.elapsed().as_secs_f64() * 1000.0 / draws as f64;
        println!("{capacity:>8} {d:>6} {per_decode_ms:>12.3} {:>14.2}", per_decode_ms * 1000.0 / d as f64);
    }
}
