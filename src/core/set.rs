//! The message set: a B+ tree of `i64` values whose inner nodes carry the
//! count of every child subtree, beside one [`Fingerprint`] (count and lane
//! sum) of the whole set.
//!
//! The digest is that fingerprint's hash (O(1)); insert hashes the new value
//! once and adds it to the fingerprint, and counts along one path (O(log
//! n)); rank and selection descend by the counts. The tree once carried the
//! fingerprint of every subtree, for range-based reconciliation; the coded
//! symbols replaced that (see [`crate::core::reconcile`]), and dropping the
//! per-subtree fingerprints halved the hashing per insert (a leaf split
//! rehashed half a leaf) and cut the tree's memory by about a third (a
//! leaf's entry in its parent was 152 bytes, now 24). Leaves hold plain
//! sorted values, about 8 bytes per value.
//!
//! Values are never removed: broadcast messages, once accepted, are kept.

use std::sync::{Mutex, OnceLock, PoisonError};

use crate::core::coding::{self, CodedPrefix, OddSketch, Symbol};
use crate::core::fingerprint::{Fingerprint, SetDigest};
use crate::core::pinsketch::{self, BucketSketch, PinSketch, KEPT_BUCKET_SUMS, PIN_CAPACITY, PIN_KEPT};

/// Maximum values per leaf.
const LEAF_CAPACITY: usize = 32;
/// Maximum children per inner node.
const INNER_CAPACITY: usize = 32;

#[derive(Clone, Debug)]
enum Node {
    Leaf(Vec<i64>),
    Inner(Vec<Child>),
}

#[derive(Clone, Debug)]
struct Child {
    /// Smallest value in the subtree; routing key.
    min: i64,
    /// Values in the subtree.
    count: u64,
    node: Box<Node>,
}

/// An ordered set of `i64` with an incremental, order-independent digest and
/// O(log n) ranks and selection.
#[derive(Clone, Debug)]
pub struct MessageSet {
    root: Node,
    total: Fingerprint,
    /// Sum of the decimal lengths of all values: lets the node price a
    /// full-state transfer without serialising the set.
    decimal_digits_total: u64,
    /// Odd sketch of all values, kept by `insert` (two hashes and a few
    /// xors per value): every periodic check's opener carries it folded.
    parity: OddSketch,
    /// First coded symbols, built at the first repair that asks (a set that
    /// never reconciles pays nothing), then kept up to date by `insert`.
    coded: OnceLock<CodedPrefix>,
    /// The first [`PIN_KEPT`] power sums, built and kept the same way:
    /// small differences decode from them exactly.
    pin: OnceLock<PinSketch>,
    /// The power sums after those, up to [`PIN_CAPACITY`]: built at the
    /// first large difference that asks and brought up to date at the next
    /// (168 products per value would quadruple what a reconciled set's
    /// insert costs, and such differences are rare).
    later_sums: CaughtUp<PinSketch>,
    /// The first sums of each fine bucket (see [`BucketSketch`]), kept the
    /// same way: built at the first bucketed request, 512 KB.
    bucket_sums: CaughtUp<BucketSketch>,
}

/// A sketch of the set kept lazily: built at the first ask, and brought up
/// to date at each later ask with the values inserted since the last.
#[derive(Debug)]
struct CaughtUp<T>(Mutex<(Option<T>, Vec<i64>)>);

impl<T> Default for CaughtUp<T> {
    fn default() -> Self {
        CaughtUp(Mutex::new((None, Vec::new())))
    }
}

impl<T: Clone> Clone for CaughtUp<T> {
    fn clone(&self) -> Self {
        CaughtUp(Mutex::new(self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()))
    }
}

impl<T> CaughtUp<T> {
    /// Notes an insert into a set of `count` values. Past a quarter of the
    /// set, building anew costs at most four times what catching up would,
    /// and the list stops growing.
    fn inserted(&mut self, value: i64, count: usize) {
        let (kept, pending) = self.0.get_mut().unwrap_or_else(PoisonError::into_inner);
        if kept.is_some() {
            if pending.len() >= count / 4 {
                *kept = None;
                *pending = Vec::new();
            } else {
                pending.push(value);
            }
        }
    }

    /// What `read` makes of the sketch, up to date.
    fn read<R>(&self, build: impl FnOnce() -> T, add: impl Fn(&mut T, i64), read: impl FnOnce(&T) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (kept, pending) = &mut *guard;
        let kept = match kept {
            Some(kept) => {
                for value in pending.drain(..) {
                    add(kept, value);
                }
                kept
            }
            None => kept.insert(build()),
        };
        read(kept)
    }
}

impl Default for MessageSet {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for MessageSet {
    fn eq(&self, other: &Self) -> bool {
        self.total == other.total && self.to_vec() == other.to_vec()
    }
}
impl Eq for MessageSet {}

impl FromIterator<i64> for MessageSet {
    fn from_iter<I: IntoIterator<Item = i64>>(iter: I) -> Self {
        let mut set = MessageSet::new();
        set.extend(iter);
        set
    }
}

impl Extend<i64> for MessageSet {
    fn extend<I: IntoIterator<Item = i64>>(&mut self, iter: I) {
        for v in iter {
            self.insert(v);
        }
    }
}

/// Number of bytes `value` takes as a JSON integer.
pub fn decimal_len(value: i64) -> u64 {
    let mut n = value.unsigned_abs();
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits + u64::from(value < 0)
}

impl MessageSet {
    pub fn new() -> Self {
        MessageSet {
            root: Node::Leaf(Vec::new()),
            total: Fingerprint::EMPTY,
            decimal_digits_total: 0,
            parity: OddSketch::default(),
            coded: OnceLock::new(),
            pin: OnceLock::new(),
            later_sums: CaughtUp::default(),
            bucket_sums: CaughtUp::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.total.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.total.count == 0
    }

    /// Fingerprint of the whole set.
    pub fn fingerprint(&self) -> Fingerprint {
        self.total
    }

    /// The set digest (SHA-256 of the root fingerprint).
    pub fn digest(&self) -> SetDigest {
        self.total.digest()
    }

    /// Bytes of the JSON list `[a, b, c]` of all values, with `", "`
    /// separators as the wire writes them.
    pub fn json_list_len(&self) -> u64 {
        let n = self.total.count;
        2 + self.decimal_digits_total + n.saturating_sub(1) * 2
    }

    pub fn contains(&self, value: i64) -> bool {
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(values) => return values.binary_search(&value).is_ok(),
                Node::Inner(children) => {
                    let idx = route(children, value);
                    if value < children[idx].min {
                        return false;
                    }
                    node = &children[idx].node;
                }
            }
        }
    }

    /// Inserts `value`; returns whether it was new.
    pub fn insert(&mut self, value: i64) -> bool {
        let split = match insert_rec(&mut self.root, value, true) {
            Inserted::Duplicate => return false,
            Inserted::Fits => None,
            Inserted::Split(right) => Some(right),
        };
        self.total.add(&Fingerprint::of_value(value));
        if let Some(right) = split {
            self.grow_root(right);
        }
        self.decimal_digits_total += decimal_len(value);
        self.parity.add(value);
        let count = self.len();
        if let Some(prefix) = self.coded.get_mut() {
            if prefix.outgrown(count) {
                self.coded = OnceLock::new();
            } else {
                prefix.add(value);
            }
        }
        if let Some(pin) = self.pin.get_mut() {
            pin.add(value);
        }
        self.later_sums.inserted(value, count);
        self.bucket_sums.inserted(value, count);
        true
    }

    /// The set's first `count` odd power sums (at most [`PIN_CAPACITY`]):
    /// the kept ones, built now if this is the first ask, and beyond
    /// [`PIN_KEPT`] the later ones, built or brought up to date now.
    pub fn power_sums(&self, count: usize) -> Vec<u64> {
        let count = count.min(PIN_CAPACITY);
        let kept = self.pin.get_or_init(|| PinSketch::of_values(&self.to_vec(), 0, PIN_KEPT));
        let mut sums = kept.sums()[..count.min(PIN_KEPT)].to_vec();
        if count > PIN_KEPT {
            self.later_sums.read(
                || PinSketch::of_values(&self.to_vec(), PIN_KEPT, PIN_CAPACITY - PIN_KEPT),
                PinSketch::add,
                |later| sums.extend_from_slice(&later.sums()[..count - PIN_KEPT]),
            );
        }
        sums
    }

    /// The set's odd power sums `[first, first + count)` in each of the
    /// `selected` buckets of `buckets` (see [`pinsketch::bucket_sums`]):
    /// from the kept fine buckets (built now if this is the first ask)
    /// within their [`KEPT_BUCKET_SUMS`], else from the values.
    pub fn bucket_sums(&self, buckets: u64, selected: Option<&[u64]>, first: usize, count: usize) -> Vec<u64> {
        if first + count > KEPT_BUCKET_SUMS {
            return pinsketch::bucket_sums(&self.to_vec(), buckets, selected, first, count);
        }
        self.bucket_sums.read(
            || BucketSketch::of_values(&self.to_vec()),
            BucketSketch::add,
            |kept| kept.sums(buckets, selected, first, count).expect("within the kept sums"),
        )
    }

    /// The set's kept coded prefix (built now if this is the first ask).
    pub fn coded_prefix(&self) -> &CodedPrefix {
        self.coded.get_or_init(|| CodedPrefix::of_values(&self.to_vec()))
    }

    /// Coded symbols `[start, end)` of the set: the kept prefix, and a scan
    /// of the set for whatever lies past it.
    pub fn coded_symbols(&self, start: u64, end: u64) -> Vec<Symbol> {
        let prefix = self.coded_prefix().symbols();
        let kept = prefix.len() as u64;
        let mut out: Vec<Symbol> = prefix[start.min(kept) as usize..end.min(kept) as usize].to_vec();
        if end > kept {
            out.extend(coding::coded_symbols(&self.to_vec(), start.max(kept), end));
        }
        out
    }

    /// The set's odd sketch.
    pub fn odd_sketch(&self) -> OddSketch {
        self.parity
    }

    /// The root split: a new root with the old one and its new sibling.
    fn grow_root(&mut self, right: Child) {
        let old_root = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
        let left = Child { min: node_min(&old_root), count: self.total.count - right.count, node: Box::new(old_root) };
        self.root = Node::Inner(vec![left, right]);
    }

    /// Number of values `< bound` (`None` = all).
    pub fn rank(&self, bound: Option<i64>) -> usize {
        let Some(x) = bound else { return self.len() };
        let mut node = &self.root;
        let mut rank = 0u64;
        loop {
            match node {
                Node::Leaf(values) => return rank as usize + values.partition_point(|&v| v < x),
                Node::Inner(children) => {
                    let below = children.partition_point(|c| c.min < x);
                    if below == 0 {
                        return rank as usize;
                    }
                    rank += children[..below - 1].iter().map(|c| c.count).sum::<u64>();
                    node = &children[below - 1].node;
                }
            }
        }
    }

    /// The value of rank `index` (0-based, ascending), if any.
    pub fn select(&self, index: usize) -> Option<i64> {
        if index >= self.len() {
            return None;
        }
        let mut remaining = index as u64;
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(values) => return values.get(remaining as usize).copied(),
                Node::Inner(children) => {
                    let mut next = None;
                    for c in children {
                        if remaining < c.count {
                            next = Some(&c.node);
                            break;
                        }
                        remaining -= c.count;
                    }
                    node = next?;
                }
            }
        }
    }

    /// Values in `[lo, hi)`, ascending.
    pub fn range_values(&self, lo: i64, hi: Option<i64>) -> Vec<i64> {
        let mut out = Vec::new();
        collect_range(&self.root, lo, hi, &mut out);
        out
    }

    /// All values, ascending.
    pub fn to_vec(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.len());
        collect_range(&self.root, i64::MIN, None, &mut out);
        out
    }
}

/// Index of the child whose subtree a value belongs to: the last child whose
/// minimum is `<= value`, or the first child.
fn route(children: &[Child], value: i64) -> usize {
    // Values above every routing key (increasing ids, the common Maelstrom
    // pattern) go to the last child without a search.
    let last = children.len() - 1;
    if children[last].min <= value {
        return last;
    }
    children.partition_point(|c| c.min <= value).saturating_sub(1)
}

/// Moves `node[at..]` into a new node with room for a full node plus the one
/// entry that overfills it, so it never reallocates while it fills up.
fn split_off_full<T>(node: &mut Vec<T>, at: usize, capacity: usize) -> Vec<T> {
    let mut right = Vec::with_capacity(capacity + 1);
    right.extend(node.drain(at..));
    right
}

fn node_min(node: &Node) -> i64 {
    match node {
        Node::Leaf(values) => values.first().copied().unwrap_or(i64::MAX),
        Node::Inner(children) => children[0].min,
    }
}

/// Where to split an overfull node of `len` entries after inserting at `pos`.
/// Appends at the right edge of the tree (dense, increasing ids: the common
/// Maelstrom pattern) keep the left node full instead of half full.
fn split_point(len: usize, pos: usize, rightmost: bool) -> usize {
    if rightmost && pos == len - 1 {
        len - 1
    } else {
        len / 2
    }
}

/// What inserting into a subtree did.
enum Inserted {
    Duplicate,
    /// The value was added.
    Fits,
    /// Added, and the node split off this new right sibling.
    Split(Child),
}

/// Inserts a value in one descent; the counts are updated on the way back
/// up.
fn insert_rec(node: &mut Node, value: i64, rightmost: bool) -> Inserted {
    match node {
        Node::Leaf(values) => {
            let pos = match values.last() {
                Some(&last) if last < value => values.len(),
                _ => values.partition_point(|&v| v < value),
            };
            if values.get(pos) == Some(&value) {
                return Inserted::Duplicate;
            }
            values.insert(pos, value);
            if values.len() <= LEAF_CAPACITY {
                return Inserted::Fits;
            }
            let at = split_point(values.len(), pos, rightmost);
            let right = split_off_full(values, at, LEAF_CAPACITY);
            Inserted::Split(Child { min: right[0], count: right.len() as u64, node: Box::new(Node::Leaf(right)) })
        }
        Node::Inner(children) => {
            let idx = route(children, value);
            let child_rightmost = rightmost && idx == children.len() - 1;
            let child = &mut children[idx];
            let split = match insert_rec(&mut child.node, value, child_rightmost) {
                Inserted::Duplicate => return Inserted::Duplicate,
                Inserted::Fits => None,
                Inserted::Split(right) => Some(right),
            };
            child.min = child.min.min(value);
            child.count += 1;
            let Some(split) = split else { return Inserted::Fits };
            child.count -= split.count;
            children.insert(idx + 1, split);
            if children.len() <= INNER_CAPACITY {
                return Inserted::Fits;
            }
            let at = split_point(children.len(), idx + 1, rightmost);
            let right = split_off_full(children, at, INNER_CAPACITY);
            let count = right.iter().map(|c| c.count).sum();
            Inserted::Split(Child { min: right[0].min, count, node: Box::new(Node::Inner(right)) })
        }
    }
}

fn collect_range(node: &Node, lo: i64, hi: Option<i64>, out: &mut Vec<i64>) {
    let below_hi = |v: i64| hi.is_none_or(|h| v < h);
    match node {
        Node::Leaf(values) => {
            let start = values.partition_point(|&v| v < lo);
            out.extend(values[start..].iter().copied().take_while(|&v| below_hi(v)));
        }
        Node::Inner(children) => {
            let first = route(children, lo);
            for c in &children[first..] {
                if !below_hi(c.min) {
                    break;
                }
                collect_range(&c.node, lo, hi, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_sketch_and_prefix_match_ones_built_from_the_values() {
        let mut set = MessageSet::new();
        let values: Vec<i64> = (0..5000).map(|v| (v * 7919) % 10_007 - 5000).chain([i64::MIN, i64::MAX]).collect();
        for (k, &v) in values.iter().enumerate() {
            set.insert(v);
            if k == 100 {
                // From here on the prefix is kept (and rebuilt when outgrown),
                // and so are the power sums.
                set.coded_prefix();
                set.power_sums(PIN_CAPACITY);
            }
            if k == 2000 {
                // The later sums catch up once here; by about 2,700 the
                // values since are a quarter of the set, so they are
                // dropped and built anew at the last ask below.
                assert_eq!(set.power_sums(PIN_CAPACITY), PinSketch::of_values(&set.to_vec(), 0, PIN_CAPACITY).sums());
            }
        }
        let sorted = set.to_vec();
        assert_eq!(set.odd_sketch(), OddSketch::of_values(&sorted));
        assert_eq!(set.power_sums(PIN_KEPT), PinSketch::of_values(&sorted, 0, PIN_KEPT).sums());
        assert_eq!(set.power_sums(PIN_CAPACITY + 1), PinSketch::of_values(&sorted, 0, PIN_CAPACITY).sums());
        let len = set.coded_prefix().symbols().len() as u64;
        assert_eq!(set.coded_symbols(0, len + 50), coding::coded_symbols(&sorted, 0, len + 50));
        assert_eq!(set.coded_symbols(len - 5, len + 5), coding::coded_symbols(&sorted, len - 5, len + 5));
    }

    #[test]
    fn sequential_and_reverse_inserts_keep_order_and_digest() {
        let forward: MessageSet = (0..5000).collect();
        let backward: MessageSet = (0..5000).rev().collect();
        assert_eq!(forward.digest(), backward.digest());
        assert_eq!(forward.to_vec(), (0..5000).collect::<Vec<_>>());
        assert_eq!(backward.to_vec(), (0..5000).collect::<Vec<_>>());
        assert_eq!(forward.fingerprint(), Fingerprint::of_values(0..5000));
    }

    #[test]
    fn range_queries_match_brute_force() {
        let values: Vec<i64> = (0..3000).map(|i| (i * 7919) % 10007 - 5000).collect();
        let set: MessageSet = values.iter().copied().collect();
        let mut sorted = values.clone();
        sorted.sort();
        for (lo, hi) in [(-6000, Some(6000)), (0, Some(1)), (-100, Some(2500)), (4000, None), (i64::MIN, None)] {
            let expect: Vec<i64> = sorted.iter().copied().filter(|&v| v >= lo && hi.is_none_or(|h| v < h)).collect();
            assert_eq!(set.range_values(lo, hi), expect);
            assert_eq!(set.rank(hi) - set.rank(Some(lo)), expect.len());
        }
        for (i, v) in sorted.iter().enumerate() {
            assert_eq!(set.select(i), Some(*v));
        }
        assert_eq!(set.select(sorted.len()), None);
    }

    #[test]
    fn extremes_and_duplicates() {
        let mut set = MessageSet::new();
        assert!(set.insert(i64::MAX));
        assert!(set.insert(i64::MIN));
        assert!(!set.insert(i64::MAX));
        assert_eq!(set.len(), 2);
        assert_eq!(set.range_values(i64::MIN, None), vec![i64::MIN, i64::MAX]);
        assert_eq!(set.range_values(i64::MIN, Some(i64::MAX)), vec![i64::MIN]);
        assert_eq!(set.json_list_len(), "[-9223372036854775808, 9223372036854775807]".len() as u64);
    }
}
