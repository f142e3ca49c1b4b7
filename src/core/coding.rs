//! The linear summaries of a set that reconciliation exchanges: rateless
//! IBLT coded symbols and odd sketches, keyed by the values themselves.
//!
//! Both are xors over the values, so adding a value updates them in place:
//! a set keeps its odd sketch, and [`CodedPrefix`] its first coded symbols,
//! up to date on every insert (about 2·ln K cell updates per value), so a repair
//! reads them in O(K) instead of walking the whole set (O(n log K)): at
//! n = 1M that is what separates a repair of a few milliseconds from one of
//! half a second.

/// Bytes of a symbol's checksum on the wire, for the first
/// [`NARROW_CHECKS_FROM`] symbols. 24 bits: a cell holding several values
/// passes for pure with probability 2^-24 and must then also be one its
/// value maps to; a false pure cell only makes that decode fail the digest
/// check, never inserts anything.
pub const CHECK_BYTES: usize = 3;
/// Bytes of the checksum of a symbol at [`NARROW_CHECKS_FROM`] or beyond.
/// A mixed cell there passes for pure only if its xor also maps to it,
/// which index `i` is for one value in `1 + i/2`: a cell at 512 or beyond
/// that passes 16 checksum bits is as rare as a cell before it that passes
/// 24 (2^-16 / 257 against 2^-24, if it maps there at all). Over a whole
/// decode, the false pure cells past 512 expected are about `d · 4 / 512 ·
/// 2^-16`: one decode in 8,000 at a difference of 1,000, one in 800 at
/// 10,000 (with 8 bits instead, 1 of 60 decodes of 3,000 random i64s took
/// more rounds; with 16, none). It saves a byte on every symbol past the
/// 512th: 7% of a repair of 3,000 random i64s.
pub const NARROW_CHECK_BYTES: usize = 2;
/// The first index whose symbol carries a [`NARROW_CHECK_BYTES`] checksum.
pub const NARROW_CHECKS_FROM: u64 = 512;

/// Checksum bytes on the wire of the symbol at `index`.
pub fn check_bytes(index: u64) -> usize {
    if index < NARROW_CHECKS_FROM {
        CHECK_BYTES
    } else {
        NARROW_CHECK_BYTES
    }
}

/// The checksum bits the symbol at `index` carries on the wire.
pub fn check_mask(index: u64) -> u32 {
    (1 << (8 * check_bytes(index))) - 1
}

const CHECK_MASK: u32 = (1 << (8 * CHECK_BYTES)) - 1;

/// One coded symbol: the xor of the values mapped to it and of their
/// 24-bit checksums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Symbol {
    pub key: u64,
    pub check: u32,
}

impl Symbol {
    pub fn of_value(value: i64) -> Self {
        Symbol { key: value as u64, check: value_hash(value) as u32 & CHECK_MASK }
    }

    pub fn xor(&mut self, other: &Symbol) {
        self.key ^= other.key;
        self.check ^= other.check;
    }

    pub fn is_empty(&self) -> bool {
        self.key == 0 && self.check == 0
    }
}

/// A fixed 64-bit mix of a value (SplitMix64's finalizer over a domain
/// constant): the checksum and the seed of the value's index sequence.
pub fn value_hash(value: i64) -> u64 {
    let mut z = (value as u64) ^ 0x6a09_e667_f3bc_c908;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The coded-symbol indices one value maps to, ascending from 0: index `i`
/// is hit with probability `1 / (1 + i/2)` (the mapping of Yang et al.,
/// with steps of at least one so no value lands twice in a cell).
pub struct IndexSequence {
    prng: u64,
    next: u64,
}

impl IndexSequence {
    pub fn of_value(value: i64) -> Self {
        IndexSequence { prng: value_hash(value), next: 0 }
    }
}

impl Iterator for IndexSequence {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        let current = self.next;
        self.prng = self.prng.wrapping_mul(0xda94_2042_e4dd_58b5);
        let scale = 4_294_967_296.0 / ((self.prng as f64) + 1.0).sqrt() - 1.0;
        let step = (current as f64 + 1.5) * scale;
        // `as` truncates and saturates (a huge step ends the sequence instead
        // of wrapping); rounding up by hand is `f64::ceil` for positive steps,
        // without its libm call (a seventh of a repair's time).
        let truncated = step as u64;
        let step = if (truncated as f64) < step { truncated + 1 } else { truncated };
        self.next = current.saturating_add(step.max(1));
        Some(current)
    }
}

/// Xors `value` into the cells `[start, start + cells.len())` it maps to.
fn add_to_cells(cells: &mut [Symbol], start: u64, value: i64) {
    let end = start + cells.len() as u64;
    let symbol = Symbol::of_value(value);
    for index in IndexSequence::of_value(value).take_while(|&i| i < end) {
        if index >= start {
            cells[(index - start) as usize].xor(&symbol);
        }
    }
}

/// Coded symbols `[start, end)` of the given values, from scratch.
pub fn coded_symbols(values: &[i64], start: u64, end: u64) -> Vec<Symbol> {
    let mut cells = vec![Symbol::default(); end.saturating_sub(start) as usize];
    for &value in values {
        add_to_cells(&mut cells, start, value);
    }
    cells
}

/// Bits per level of an [`OddSketch`].
pub const ODD_SKETCH_BITS: u32 = 256;
pub const ODD_SKETCH_WORDS: usize = ODD_SKETCH_BITS as usize / 64;
/// Levels of an [`OddSketch`]; level `j` samples one value in `4^j`.
pub const ODD_SKETCH_LEVELS: usize = 5;
/// Bytes of an encoded [`OddSketch`], all levels.
pub const ODD_SKETCH_BYTES: usize = ODD_SKETCH_LEVELS * ODD_SKETCH_WORDS * 8;
/// Bytes of its first level folded to 128 bits (up to about 150).
pub const ODD_SKETCH_FOLDED_BYTES: usize = 16;

/// An odd sketch (Mitzenmacher, Pagh, Pham 2014) at several sampling rates:
/// each sampled value flips one bit, so the xor of two sides' sketches is the
/// sketch of their symmetric difference, and its number of set bits tells
/// roughly how big that difference is. Level `j` keeps the values whose hash
/// has `2j` trailing zero bits, so the five levels of 256 bits resolve
/// differences from 1 to about 40 000 in 160 bytes (to about ±15%: the
/// level read sees between 24 and 100 sampled values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OddSketch([[u64; ODD_SKETCH_WORDS]; ODD_SKETCH_LEVELS]);

impl OddSketch {
    pub fn add(&mut self, value: i64) {
        // An independent mix of the value hash (which also seeds the symbol mapping).
        let h = value_hash(value_hash(value) as i64);
        let bit = (h % u64::from(ODD_SKETCH_BITS)) as usize;
        let depth = ((h >> 8).trailing_zeros() / 2) as usize;
        for level in self.0.iter_mut().take(depth + 1) {
            level[bit / 64] ^= 1 << (bit % 64);
        }
    }

    pub fn of_values(values: &[i64]) -> Self {
        let mut sketch = OddSketch::default();
        for &value in values {
            sketch.add(value);
        }
        sketch
    }

    /// Level 0 folded to 128 bits (its two halves xored): the odd sketch of
    /// every value at 128 bits, since a bit's parity over `{j, j + 128}` is
    /// the parity of the values whose hash is `j` modulo 128.
    pub fn folded(&self) -> [u64; 2] {
        [self.0[0][0] ^ self.0[0][2], self.0[0][1] ^ self.0[0][3]]
    }

    /// The sketch as sent: folded ([`ODD_SKETCH_FOLDED_BYTES`]) or whole
    /// ([`ODD_SKETCH_BYTES`]).
    pub fn to_bytes(&self, form: SketchForm) -> Vec<u8> {
        let words: Vec<u64> = match form {
            SketchForm::Folded => self.folded().to_vec(),
            SketchForm::Whole => self.0.iter().flatten().copied().collect(),
        };
        words.iter().flat_map(|word| word.to_le_bytes()).collect()
    }

    /// Estimated size of the symmetric difference between our set and the
    /// one `theirs` sketches, at most `cap`; `None` when `theirs` is folded
    /// and saturated (the difference is beyond the about 150 values it
    /// resolves).
    /// With `k` sampled values a bit of `s` is set with probability
    /// `(1 - q^k) / 2`, `q = 1 - 2/s`, so a level's count of set bits is
    /// inverted by bisection on `k` and scaled by the level's sampling rate.
    ///
    /// Which level: a saturated level shows 50% ± 3.1% of its bits set, and
    /// could dip low enough to look informative, so levels are read
    /// from the sparsest one up. The first with at least
    /// `ODD_SKETCH_MIN_ONES` bits set sees a few dozen values at most and
    /// cannot be saturated; the next denser level refines it when it is
    /// not saturated either and agrees within a factor of two. Only
    /// correctly rounded float operations are used (`q^k` by squaring), so
    /// native and wasm agree to the bit. Saturated everywhere: `cap`.
    pub fn difference_estimate(&self, theirs: &PeerSketch, cap: u64) -> Option<u64> {
        let (other, levels) = match theirs {
            PeerSketch::Folded(words) => {
                let ours = self.folded();
                let ones = (ours[0] ^ words[0]).count_ones() + (ours[1] ^ words[1]).count_ones();
                // Read up to 45% set: coarser than a whole level, but a
                // folded sketch only sizes a first batch.
                return (ones * 100 <= FOLDED_BITS * 45).then(|| sampled_values(ones, FOLDED_BITS).min(cap));
            }
            PeerSketch::Whole(other) => (other, ODD_SKETCH_LEVELS),
        };
        let ones: Vec<u32> = self
            .0
            .iter()
            .zip(&other.0)
            .take(levels)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum())
            .collect();
        let saturated = |level: usize| ones[level] * 100 > ODD_SKETCH_BITS * 36;
        let estimate = |level: usize| sampled_values(ones[level], ODD_SKETCH_BITS) << (2 * level);
        let Some(sparse) = (0..levels).rev().find(|&j| ones[j] >= ODD_SKETCH_MIN_ONES) else {
            // Too few differences to reach the threshold anywhere: level 0 counts them all.
            return Some(sampled_values(ones[0], ODD_SKETCH_BITS).min(cap));
        };
        if sparse == levels - 1 && saturated(sparse) {
            return Some(cap);
        }
        let coarse = estimate(sparse);
        let refined = sparse.checked_sub(1).filter(|&j| !saturated(j)).map(estimate);
        Some(
            match refined {
                Some(fine) if fine <= 2 * coarse && coarse <= 2 * fine => fine,
                _ => coarse,
            }
            .min(cap),
        )
    }
}

/// Bits of a folded sketch.
const FOLDED_BITS: u32 = 128;

/// How much of an odd sketch a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SketchForm {
    /// Level 0 folded to 128 bits (16 bytes): every periodic check's opener.
    Folded,
    /// All five levels (160 bytes).
    Whole,
}

/// A peer's odd sketch as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerSketch {
    Folded([u64; 2]),
    Whole(OddSketch),
}

impl PeerSketch {
    /// Which of the two lengths this sketch came in.
    pub fn form(&self) -> SketchForm {
        match self {
            PeerSketch::Folded(_) => SketchForm::Folded,
            PeerSketch::Whole(_) => SketchForm::Whole,
        }
    }

    /// A sketch in one of the two lengths [`OddSketch::to_bytes`] writes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let words: Vec<u64> = bytes.chunks(8).map(|c| Some(u64::from_le_bytes(c.try_into().ok()?))).collect::<Option<_>>()?;
        match bytes.len() {
            ODD_SKETCH_FOLDED_BYTES => Some(PeerSketch::Folded([words[0], words[1]])),
            ODD_SKETCH_BYTES => {
                let mut levels = [[0u64; ODD_SKETCH_WORDS]; ODD_SKETCH_LEVELS];
                for (word, value) in levels.iter_mut().flatten().zip(&words) {
                    *word = *value;
                }
                Some(PeerSketch::Whole(OddSketch(levels)))
            }
            _ => None,
        }
    }
}

/// Bits a level must have set before its count is trusted (below this,
/// a handful of sampled values makes the estimate too noisy).
const ODD_SKETCH_MIN_ONES: u32 = 24;

/// The number of values `k` an odd-sketch level most plausibly sampled, given
/// its count of set bits: the smallest `k` whose expected count reaches it.
fn sampled_values(ones: u32, bits: u32) -> u64 {
    let s = f64::from(bits);
    let q = 1.0 - 2.0 / s;
    let expected_ones = |k: u64| s / 2.0 * (1.0 - pow_by_squaring(q, k));
    let (mut lo, mut hi) = (0u64, 1u64 << 20);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if expected_ones(mid) < f64::from(ones) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `base^exponent` with multiplications only.
fn pow_by_squaring(mut base: f64, mut exponent: u64) -> f64 {
    let mut result = 1.0;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result *= base;
        }
        base *= base;
        exponent >>= 1;
    }
    result
}

/// Most coded symbols a set keeps up to date (512 KB of cells): enough for
/// a difference of about 22 000 values, past which a repair scans the set.
pub const MAX_PREFIX_SYMBOLS: u64 = 32_768;

/// A set's first coded symbols, kept up to date on insert. Sized to the set when built (a quarter of its values, at least
/// 64, at most [`MAX_PREFIX_SYMBOLS`]: 4 bytes per value beside the set's
/// 8), since a symbol request is capped by a share of what listing the set
/// costs; [`CodedPrefix::outgrown`] says when
/// the set has grown enough that a longer prefix is worth building.
#[derive(Clone, PartialEq, Eq)]
pub struct CodedPrefix {
    symbols: Vec<Symbol>,
}

impl std::fmt::Debug for CodedPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodedPrefix({} symbols)", self.symbols.len())
    }
}

impl CodedPrefix {
    /// The prefix length a set of `count` values keeps.
    pub fn len_for(count: usize) -> u64 {
        ((count / 4) as u64).next_power_of_two().clamp(64, MAX_PREFIX_SYMBOLS)
    }

    /// The prefix of a set holding exactly `values`.
    pub fn of_values(values: &[i64]) -> Self {
        let len = Self::len_for(values.len());
        CodedPrefix { symbols: coded_symbols(values, 0, len) }
    }

    pub fn add(&mut self, value: i64) {
        add_to_cells(&mut self.symbols, 0, value);
    }

    /// Whether a set now holding `count` values should build a longer
    /// prefix: it has grown at least fourfold since this one was sized, so
    /// rebuilds cost O(log K) per value inserted, amortized.
    pub fn outgrown(&self, count: usize) -> bool {
        (self.symbols.len() as u64) < MAX_PREFIX_SYMBOLS && Self::len_for(count / 2) > self.symbols.len() as u64 * 2
    }

    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_sequence_hits_cell_i_with_probability_two_over_i_plus_two() {
        let values = 20_000;
        let mut hits = [0u32; 64];
        for v in 0..values {
            for i in IndexSequence::of_value(v).take_while(|&i| i < 64) {
                hits[i as usize] += 1;
            }
        }
        assert_eq!(hits[0], values as u32);
        for i in [1usize, 4, 16, 63] {
            let expected = values as f64 * 2.0 / (i as f64 + 2.0);
            let observed = f64::from(hits[i]);
            assert!((observed - expected).abs() < 0.1 * expected, "cell {i}: {observed} vs {expected}");
        }
    }

    #[test]
    fn a_prefix_kept_up_to_date_equals_one_built_from_scratch() {
        let values: Vec<i64> = (0..3000).map(|v| v * 7 - 9000).chain([i64::MIN, i64::MAX]).collect();
        let mut kept = CodedPrefix::of_values(&values[..10]);
        for &v in &values[10..] {
            kept.add(v);
        }
        let fresh = coded_symbols(&values, 0, kept.symbols().len() as u64);
        assert_eq!(kept.symbols(), &fresh[..]);
        assert!(kept.outgrown(values.len()), "64 symbols for 3002 values");
        assert!(!CodedPrefix::of_values(&values).outgrown(values.len()));
    }

    #[test]
    fn a_window_past_the_start_matches_the_whole_run() {
        let values: Vec<i64> = (0..500).collect();
        let whole = coded_symbols(&values, 0, 300);
        assert_eq!(coded_symbols(&values, 100, 300), whole[100..]);
    }

    #[test]
    fn odd_sketch_round_trips_and_estimates_small_differences_closely() {
        let a: Vec<i64> = (0..10_000).collect();
        let b: Vec<i64> = (0..10_000).filter(|v| v % 1000 != 3).collect();
        let (sa, sb) = (OddSketch::of_values(&a), OddSketch::of_values(&b));
        let forms = [SketchForm::Folded, SketchForm::Whole];
        let received: Vec<PeerSketch> = forms.iter().map(|&f| PeerSketch::from_bytes(&sa.to_bytes(f)).unwrap()).collect();
        assert_eq!(received[1], PeerSketch::Whole(sa));
        assert_eq!(received[0], PeerSketch::Folded(sa.folded()));
        assert_eq!(PeerSketch::from_bytes(&[0; 7]), None);
        assert_eq!(PeerSketch::from_bytes(&[0; 24]), None);
        assert_eq!(PeerSketch::from_bytes(&[0; 32]), None);
        for theirs in &received {
            let estimate = sb.difference_estimate(theirs, 1 << 16).unwrap();
            assert!((9..=12).contains(&estimate), "{estimate} for 10 from {theirs:?}");
            assert_eq!(sa.difference_estimate(theirs, 1 << 16), Some(0));
        }
        // A difference of 3000: a folded sketch is saturated, all five levels resolve it.
        let c: Vec<i64> = (0..10_000).filter(|v| v % 10 < 7).collect();
        let sc = OddSketch::of_values(&c);
        assert_eq!(sc.difference_estimate(&received[0], 1 << 16), None);
        let estimate = sc.difference_estimate(&received[1], 1 << 16).unwrap();
        assert!((2000..=4000).contains(&estimate), "{estimate} for 3000");
    }
}
