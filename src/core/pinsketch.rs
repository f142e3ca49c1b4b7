//! PinSketch (Dodis, Ostrovsky, Reyzin, Smith 2004; the `minisketch` of
//! Bitcoin's Erlay): a set summarised by the odd power sums of its values in
//! GF(2^64). The sums of two sets xor to the sums of their symmetric
//! difference, and a difference of at most `c` values is decoded from its
//! first `c` sums (Berlekamp-Massey, then the roots of the error locator):
//! exactly 8 bytes per value of capacity, always decoding within it, where a
//! rateless IBLT needs about 1.5 to 2.7 symbols per value at small
//! differences and sometimes a second round. The price is CPU: each sum costs
//! one field multiplication per value kept, and decoding takes O(c²) field
//! operations for Berlekamp-Massey and about 64·c² for the roots (64
//! polynomial squarings check that the locator splits and give the powers
//! every trace is formed from; with the CPU's carry-less multiply, products
//! summed into one coefficient are reduced once, not one by one). Locators
//! and factors of degree 11 or less skip all that: their roots come from an
//! affine multiple and one elimination over GF(2) (see [`affine_roots`]),
//! twelve times faster at capacity 8 (0.6 µs per decoded value instead of
//! 7.3). So one sketch serves small differences only (see
//! [`PIN_CAPACITY`]), and large ones are split into many small sketches by
//! a hash of the values, or left to the rateless IBLT.
//!
//! A value is the field element of its 64 bits. Zero is the one value the
//! sums cannot see; the decoder's digest check catches a difference that
//! holds it, and [`crate::core::reconcile`] then tries it on either side.

/// Most power sums a set keeps, and so the largest difference a sketch
/// decodes.
pub const PIN_CAPACITY: usize = 192;

/// Power sums a set that has reconciled keeps up to date on every insert
/// (24 products per value): what small differences, the common case, take.
pub const PIN_KEPT: usize = 24;

/// Independent chains of products in [`PinSketch::add`] (4 measured
/// fastest: 8 no better, 16 twice as slow).
#[cfg(target_arch = "x86_64")]
const ADD_LANES: usize = 4;

/// Multiplication in GF(2^64) modulo x^64 + x^4 + x^3 + x + 1 (irreducible).
/// The carry-less product uses the CPU's instruction where there is one
/// (x86-64 with PCLMULQDQ), else a portable loop; both give the same bits.
fn mul(a: u64, b: u64) -> u64 {
    let (lo, hi) = clmul(a, b);
    reduce(lo, hi)
}

fn reduce(lo: u64, hi: u64) -> u64 {
    // hi · x^64 = hi · (x^4 + x^3 + x + 1); its top bits (t) wrap once more,
    // and t (four bits) shifted by at most 4 does not: so both are one
    // multiple, (hi + t) · (x^4 + x^3 + x + 1), 13 operations instead of 16.
    let wrapped = hi ^ (hi >> 63) ^ (hi >> 61) ^ (hi >> 60);
    lo ^ wrapped ^ (wrapped << 1) ^ (wrapped << 3) ^ (wrapped << 4)
}

/// Whether the CPU multiplies carry-less itself.
#[cfg(target_arch = "x86_64")]
fn has_clmul() -> bool {
    use std::sync::OnceLock;
    static HAS_CLMUL: OnceLock<bool> = OnceLock::new();
    *HAS_CLMUL.get_or_init(|| std::is_x86_feature_detected!("pclmulqdq"))
}

#[cfg(not(target_arch = "x86_64"))]
fn has_clmul() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn clmul(a: u64, b: u64) -> (u64, u64) {
    if has_clmul() {
        // SAFETY: the CPU has the instruction (checked just above).
        unsafe { clmul_x86(a, b) }
    } else {
        clmul_portable(a, b)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn clmul(a: u64, b: u64) -> (u64, u64) {
    clmul_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
unsafe fn clmul_x86(a: u64, b: u64) -> (u64, u64) {
    use std::arch::x86_64::*;
    let product = _mm_clmulepi64_si128(_mm_cvtsi64_si128(a as i64), _mm_cvtsi64_si128(b as i64), 0);
    (_mm_cvtsi128_si64(product) as u64, _mm_cvtsi128_si64(_mm_unpackhi_epi64(product, product)) as u64)
}

/// The carry-less 128-bit product, four bits of `b` at a time (about 2.5
/// times faster than bit by bit, which matters on wasm32: no instruction).
fn clmul_portable(a: u64, b: u64) -> (u64, u64) {
    clmul_by_table(&nibble_table(a), b)
}

/// `a · k` for every 4-bit `k`, as 128-bit (lo, hi) pairs.
fn nibble_table(a: u64) -> [(u64, u64); 16] {
    let mut table = [(0u64, 0u64); 16];
    for k in 1..16 {
        let (lo, hi) = table[k / 2];
        let doubled = (lo << 1, (hi << 1) | (lo >> 63));
        table[k] = if k % 2 == 1 { (doubled.0 ^ a, doubled.1) } else { doubled };
    }
    table
}

fn clmul_by_table(table: &[(u64, u64); 16], b: u64) -> (u64, u64) {
    let (mut lo, mut hi) = (0u64, 0u64);
    for nibble in (0..16).rev() {
        hi = (hi << 4) | (lo >> 60);
        lo <<= 4;
        let (tl, th) = table[((b >> (4 * nibble)) & 15) as usize];
        lo ^= tl;
        hi ^= th;
    }
    (lo, hi)
}

/// A fixed element that many others are multiplied by: without the CPU
/// instruction its 4-bit table is built once, not at every product (about
/// 1.7 times faster per product, which is what wasm32 runs).
#[derive(Clone, Copy)]
struct Factor {
    a: u64,
    table: [(u64, u64); 16],
}

impl Factor {
    fn new(a: u64) -> Self {
        Factor { a, table: if has_clmul() { [(0, 0); 16] } else { nibble_table(a) } }
    }

    fn mul(&self, b: u64) -> u64 {
        if has_clmul() {
            return mul(self.a, b);
        }
        let (lo, hi) = clmul_by_table(&self.table, b);
        reduce(lo, hi)
    }
}

/// A monic polynomial reduced by many times, with a [`Factor`] per
/// coefficient.
struct Modulus {
    coefficients: Vec<u64>,
    factors: Vec<Factor>,
}

impl Modulus {
    fn new(m: &[u64]) -> Self {
        let coefficients = m[..m.len() - 1].to_vec();
        let factors = if has_clmul() { Vec::new() } else { coefficients.iter().map(|&c| Factor::new(c)).collect() };
        Modulus { coefficients, factors }
    }

    fn degree(&self) -> usize {
        self.coefficients.len()
    }

    /// `a mod m`, in place: `a`'s coefficients from the degree of `m` on are
    /// left zero.
    fn reduce(&self, a: &mut [u64]) {
        reduce_in_place(a, &self.coefficients, |j, c| self.factors[j].mul(c));
    }
}

/// Reduces `a` in place modulo a monic polynomial whose lower coefficients
/// are `m`: `a`'s coefficients from the degree of `m` on are left zero.
/// With the CPU's carry-less multiply the products are xored into 128-bit
/// accumulators and each coefficient is reduced to 64 bits once, when it is
/// read, instead of after every product (about three times faster);
/// otherwise `times_coefficient(j, c)` is `m[j] · c`, reduced.
fn reduce_in_place(a: &mut [u64], m: &[u64], times_coefficient: impl Fn(usize, u64) -> u64) {
    #[cfg(target_arch = "x86_64")]
    if has_clmul() {
        // SAFETY: the CPU has the instruction (checked just above).
        return unsafe { reduce_in_place_x86(a, m) };
    }
    reduce_in_place_portable(a, m.len(), times_coefficient);
}

fn reduce_in_place_portable(a: &mut [u64], dm: usize, times_coefficient: impl Fn(usize, u64) -> u64) {
    for top in (dm..a.len()).rev() {
        let c = a[top];
        if c != 0 {
            for j in 0..dm {
                a[top - dm + j] ^= times_coefficient(j, c);
            }
            a[top] = 0;
        }
    }
}

/// A 128-bit carry-less product (or a sum of them), reduced.
#[cfg(target_arch = "x86_64")]
fn narrow(w: std::arch::x86_64::__m128i) -> u64 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2, which every x86-64 CPU has.
    unsafe { reduce(_mm_cvtsi128_si64(w) as u64, _mm_cvtsi128_si64(_mm_unpackhi_epi64(w, w)) as u64) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
unsafe fn reduce_in_place_x86(a: &mut [u64], m: &[u64]) {
    use std::arch::x86_64::*;
    let dm = m.len();
    if a.len() <= dm {
        return;
    }
    let wide_of = |c: u64| _mm_cvtsi64_si128(c as i64);
    let modulus: Vec<__m128i> = m.iter().map(|&c| wide_of(c)).collect();
    let mut wide: Vec<__m128i> = a.iter().map(|&c| wide_of(c)).collect();
    for top in (dm..a.len()).rev() {
        let c = narrow(wide[top]);
        if c != 0 {
            let c = wide_of(c);
            for (w, &mj) in wide[top - dm..top].iter_mut().zip(&modulus) {
                *w = _mm_xor_si128(*w, _mm_clmulepi64_si128(c, mj, 0));
            }
        }
    }
    for (x, &w) in a.iter_mut().zip(&wide[..dm]) {
        *x = narrow(w);
    }
    for x in &mut a[dm..] {
        *x = 0;
    }
}

/// The inverse of a non-zero element: a^(2^64 - 2).
fn inverse(a: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if has_clmul() {
        // SAFETY: the CPU has the instruction (checked just above).
        return unsafe { inverse_x86(a) };
    }
    inverse_with::<PortableProducts>(a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
unsafe fn inverse_x86(a: u64) -> u64 {
    inverse_with::<InstructionProducts>(a)
}

/// [`inverse`] by Itoh and Tsujii's chain: with `β_k = a^(2^k - 1)`,
/// `β_2k = β_k^(2^k) · β_k` and `β_(k+1) = β_k² · a` reach `β_63` in 62
/// squarings and 10 products (square and multiply takes 126), and
/// `β_63² = a^(2^64 - 2)`.
#[inline(always)]
fn inverse_with<C: Carryless>(a: u64) -> u64 {
    let mul = |x: u64, y: u64| narrow_wide(C::product(x, y));
    let squared = |mut x: u64, times: u32| {
        for _ in 0..times {
            x = mul(x, x);
        }
        x
    };
    let mut beta = a;
    for k in [1u32, 3, 7, 15, 31] {
        // β_k → β_2k → β_(2k+1).
        beta = mul(squared(beta, k), beta);
        beta = mul(squared(beta, 1), a);
    }
    squared(beta, 1)
}

/// A run of a set's odd power sums, `S_{2f+1}, S_{2f+3}, ...` from the
/// `f`-th on: [`crate::core::set::MessageSet`] keeps the first
/// [`PIN_KEPT`] up to date on insert once it has reconciled, and brings the
/// rest (up to [`PIN_CAPACITY`]) up to date when a large difference asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinSketch {
    first: usize,
    sums: Vec<u64>,
}

impl PinSketch {
    /// The `count` sums from the `first`-th on of no values (all zero).
    pub fn empty(first: usize, count: usize) -> Self {
        PinSketch { first, sums: vec![0; count] }
    }

    pub fn of_values(values: &[i64], first: usize, count: usize) -> Self {
        let mut sketch = PinSketch::empty(first, count);
        for &v in values {
            sketch.add(v);
        }
        sketch
    }

    pub fn sums(&self) -> &[u64] {
        &self.sums
    }

    pub fn add(&mut self, value: i64) {
        add_powers(&mut self.sums, self.first, value);
    }
}

/// Adds `value`'s odd powers `x^(2f+1), x^(2f+3), ...` (`f` = `first`) to
/// `sums`, one power a sum.
fn add_powers(sums: &mut [u64], first: usize, value: i64) {
    #[cfg(target_arch = "x86_64")]
    if has_clmul() {
        // SAFETY: the CPU has the instruction (checked just above).
        return unsafe { add_powers_x86(sums, first, value as u64) };
    }
    add_powers_portable(sums, first, value);
}

fn add_powers_portable(sums: &mut [u64], first: usize, value: i64) {
    let x = value as u64;
    let square = Factor::new(mul(x, x));
    let mut power = mul(x, power_of(mul(x, x), first));
    for sum in sums {
        *sum ^= power;
        power = square.mul(power);
    }
}

/// `add_powers` with the carry-less multiply, in [`ADD_LANES`] independent
/// chains (x^(2f+1), x^(2f+3), ... each stepped by x^(2·lanes)): one chain
/// of products waits on each product's latency, several keep the
/// multiplier busy (192 sums: 0.45 µs per value, about a third of one
/// chain's time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
unsafe fn add_powers_x86(sums: &mut [u64], first: usize, x: u64) {
    use std::arch::x86_64::*;
    let wide_of = |a: u64| _mm_cvtsi64_si128(a as i64);
    let mul_x86 = |a: u64, b: u64| narrow(_mm_clmulepi64_si128(wide_of(a), wide_of(b), 0));
    let square = mul_x86(x, x);
    let mut powers = [mul_x86(x, power_of(square, first)); ADD_LANES];
    for lane in 1..ADD_LANES {
        powers[lane] = mul_x86(powers[lane - 1], square);
    }
    // x^(2·lanes): the square, squared log2(lanes) times.
    let mut step = square;
    for _ in 0..ADD_LANES.trailing_zeros() {
        step = mul_x86(step, step);
    }
    let step = wide_of(step);
    let mut chunks = sums.chunks_exact_mut(ADD_LANES);
    for chunk in &mut chunks {
        for (sum, power) in chunk.iter_mut().zip(&mut powers) {
            *sum ^= *power;
            *power = narrow(_mm_clmulepi64_si128(wide_of(*power), step, 0));
        }
    }
    for (sum, power) in chunks.into_remainder().iter_mut().zip(&powers) {
        *sum ^= *power;
    }
}

/// Most buckets a difference is split into (a difference of about 45,000
/// values at 11 a bucket), and the fine buckets a [`BucketSketch`] keeps:
/// a bucket of `2^k` is the union of `4096 / 2^k` consecutive fine ones.
pub const MAX_BUCKETS: u64 = 4096;

/// Most sums of one bucket.
pub const MAX_BUCKET_SUMS: u64 = 64;

/// Sums of each fine bucket a [`BucketSketch`] keeps: a bucket of about 8
/// values needs more than 16 about one time in 250.
pub const KEPT_BUCKET_SUMS: usize = 16;

/// Which of `buckets` (a power of two, at most [`MAX_BUCKETS`]) `value`
/// falls in: the top bits of a mix of all its bits (splitmix64's
/// finaliser, salted so as not to line up with other hashes of the
/// values), so that dense ids and random ones alike spread evenly, and a
/// bucket is the union of the fine buckets below it.
pub fn bucket_of(value: i64, buckets: u64) -> u64 {
    debug_assert!(buckets.is_power_of_two() && buckets <= MAX_BUCKETS);
    let mut z = (value as u64) ^ 0x6a09_e667_f3bc_c908;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 52) >> (MAX_BUCKETS.trailing_zeros() - buckets.trailing_zeros())
}

/// The slot of each of `buckets` in a bucket-major output, or `u32::MAX`,
/// and the number of slots.
fn slots(buckets: u64, selected: Option<&[u64]>) -> (Vec<u32>, usize) {
    let mut slot_of = vec![u32::MAX; buckets as usize];
    match selected {
        Some(selected) => {
            let inside = selected.iter().filter(|&&b| b < buckets);
            for (slot, &b) in (0u32..).zip(inside) {
                slot_of[b as usize] = slot;
            }
        }
        None => (0u32..).zip(slot_of.iter_mut()).for_each(|(slot, s)| *s = slot),
    }
    let count = slot_of.iter().filter(|&&s| s != u32::MAX).count();
    (slot_of, count)
}

/// Odd power sums `[first, first + count)` of the values in each of the
/// `selected` buckets of `buckets` (ascending indices; every bucket when
/// `None`), bucket after bucket: `count` sums for the first selected
/// bucket, then for the next. A large difference, split by value into
/// buckets of a few values each, decodes bucket by bucket at a cost linear
/// in its size, where one sketch of its whole capacity costs O(c²).
pub fn bucket_sums(values: &[i64], buckets: u64, selected: Option<&[u64]>, first: usize, count: usize) -> Vec<u64> {
    let (slot_of, slots) = slots(buckets, selected);
    let mut sums = vec![0u64; slots * count];
    for &value in values {
        let slot = slot_of[bucket_of(value, buckets) as usize];
        if slot != u32::MAX {
            let at = slot as usize * count;
            add_powers(&mut sums[at..at + count], first, value);
        }
    }
    sums
}

/// The first [`KEPT_BUCKET_SUMS`] sums of each of [`MAX_BUCKETS`] fine
/// buckets of a set (512 KB): any coarser bucketing's first sums are xors
/// of them, so a set that keeps one answers a bucketed request without
/// walking its values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketSketch {
    sums: Vec<u64>,
}

impl BucketSketch {
    pub fn of_values(values: &[i64]) -> Self {
        BucketSketch { sums: bucket_sums(values, MAX_BUCKETS, None, 0, KEPT_BUCKET_SUMS) }
    }

    pub fn add(&mut self, value: i64) {
        let at = bucket_of(value, MAX_BUCKETS) as usize * KEPT_BUCKET_SUMS;
        add_powers(&mut self.sums[at..at + KEPT_BUCKET_SUMS], 0, value);
    }

    /// What [`bucket_sums`] gives for these values, if `first + count` is
    /// at most [`KEPT_BUCKET_SUMS`].
    pub fn sums(&self, buckets: u64, selected: Option<&[u64]>, first: usize, count: usize) -> Option<Vec<u64>> {
        if first + count > KEPT_BUCKET_SUMS {
            return None;
        }
        let (slot_of, slots) = slots(buckets, selected);
        let fine_per_bucket = (MAX_BUCKETS / buckets) as usize;
        let mut sums = vec![0u64; slots * count];
        for (fine, kept) in self.sums.chunks_exact(KEPT_BUCKET_SUMS).enumerate() {
            let slot = slot_of[fine / fine_per_bucket];
            if slot != u32::MAX {
                let at = slot as usize * count;
                for (sum, k) in sums[at..at + count].iter_mut().zip(&kept[first..first + count]) {
                    *sum ^= k;
                }
            }
        }
        Some(sums)
    }
}

/// `a^k`, by squaring and multiplying.
fn power_of(a: u64, mut k: usize) -> u64 {
    let (mut result, mut base) = (1u64, a);
    while k > 0 {
        if k & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        k >>= 1;
    }
    result
}

/// Sums as they travel: 8 bytes each, little-endian.
pub fn sums_to_bytes(sums: &[u64]) -> Vec<u8> {
    sums.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// The sums `bytes` holds: `None` unless it is 1 to [`PIN_CAPACITY`] whole
/// 8-byte sums.
pub fn sums_from_bytes(bytes: &[u8]) -> Option<Vec<u64>> {
    if bytes.is_empty() || bytes.len() % 8 != 0 || bytes.len() / 8 > PIN_CAPACITY {
        return None;
    }
    Some(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
}

/// The non-zero elements whose odd power sums are `odd_sums` (`S_1, S_3,
/// ...`), if there are at most `odd_sums.len()` of them; `None` when the sums
/// do not come from so few distinct elements (a larger difference). An
/// empty difference decodes to nothing.
pub fn decode(odd_sums: &[u64]) -> Option<Vec<u64>> {
    decode_up_to(odd_sums, odd_sums.len())
}

/// [`decode`] for one bucket of many, which is sent more sums if it does
/// not decode: a locator of the sums' full degree past [`AFFINE_MAX_DEGREE`]
/// is left undecoded. Most such locators come from more values than sums
/// and would take the costly split to refuse (a bucket of 13 sums: about 40
/// µs), while a few more sums decode them at the next round; a locator of
/// lower degree has a sum to spare that confirms it.
pub fn decode_bucket(odd_sums: &[u64]) -> Option<Vec<u64>> {
    let capacity = odd_sums.len();
    decode_up_to(odd_sums, if capacity > AFFINE_MAX_DEGREE { capacity - 1 } else { capacity })
}

/// [`decode`], refusing locators of degree past `max_degree`.
fn decode_up_to(odd_sums: &[u64], max_degree: usize) -> Option<Vec<u64>> {
    #[cfg(target_arch = "x86_64")]
    if has_clmul() {
        // SAFETY: the CPU has the instruction (checked just above).
        return unsafe { decode_up_to_x86(odd_sums, max_degree) };
    }
    decode_up_to_with::<PortableProducts>(odd_sums, max_degree)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
unsafe fn decode_up_to_x86(odd_sums: &[u64], max_degree: usize) -> Option<Vec<u64>> {
    decode_up_to_with::<InstructionProducts>(odd_sums, max_degree)
}

/// [`decode_up_to`] over one kind of products: compiled once per kind, so
/// that with the CPU's instruction every product of Berlekamp-Massey, the
/// inversion and the affine root finder is inlined (a call per product
/// cost a bucket's decode 0.1 to 0.7 µs of about 3 to 15).
#[inline(always)]
fn decode_up_to_with<C: Carryless>(odd_sums: &[u64], max_degree: usize) -> Option<Vec<u64>> {
    let capacity = odd_sums.len();
    // All syndromes S_1 ..= S_2c: S_2k = S_k² in characteristic 2.
    let mut syndromes = vec![0u64; 2 * capacity + 1];
    for k in 1..=2 * capacity {
        syndromes[k] = if k % 2 == 1 { odd_sums[k / 2] } else { narrow_wide(C::product(syndromes[k / 2], syndromes[k / 2])) };
    }
    let locator = berlekamp_massey::<C>(&syndromes[1..]);
    let degree = locator.len() - 1;
    if degree == 0 {
        return Some(Vec::new());
    }
    if degree > max_degree || locator[degree] == 0 {
        return None;
    }
    // Locator Λ(z) = Π (1 - x_i z): the reversed polynomial has the x_i as
    // roots. Made monic for the root finder.
    let mut reversed: Vec<u64> = locator.iter().rev().copied().collect();
    let lead_inverse = inverse_with::<C>(reversed[degree]);
    for c in &mut reversed {
        *c = narrow_wide(C::product(*c, lead_inverse));
    }
    let roots = if degree <= AFFINE_MAX_DEGREE { affine_roots_with::<C>(&reversed) } else { roots_of(&reversed) }?;
    // The roots must reproduce the sums (a locator of too large a
    // difference can split into distinct roots that do not).
    let check = PinSketch::of_values(&roots.iter().map(|&r| r as i64).collect::<Vec<_>>(), 0, capacity);
    (check.sums == *odd_sums).then_some(roots)
}

/// Berlekamp-Massey over GF(2^64), without inversions: the shortest
/// connection polynomial generating `s` (lowest coefficient first), up to a
/// non-zero factor. Each step scales the polynomial by the last discrepancy
/// instead of dividing by it, which spares one inversion per step: at
/// capacity 8 that was as much work as finding the roots. A discrepancy
/// and each updated coefficient are sums of products reduced once, and the
/// three polynomials live in buffers allocated once.
#[inline(always)]
fn berlekamp_massey<C: Carryless>(s: &[u64]) -> Vec<u64> {
    let size = s.len() + 2;
    let (mut current, mut previous, mut before) = (vec![0u64; size], vec![0u64; size], vec![0u64; size]);
    current[0] = 1;
    previous[0] = 1;
    // Coefficients past a polynomial's length are zero in `current` (its
    // length only grows); in the other two they are not read.
    let (mut current_len, mut previous_len) = (1usize, 1usize);
    let mut length = 0usize;
    let mut shift = 1usize;
    let mut previous_discrepancy = 1u64;
    for n in 0..s.len() {
        let mut wide = 0u128;
        for i in 0..=length.min(current_len - 1) {
            wide ^= C::product(current[i], s[n - i]);
        }
        let discrepancy = narrow_wide(wide);
        if discrepancy == 0 {
            shift += 1;
            continue;
        }
        let grows = 2 * length <= n;
        let before_len = current_len;
        if grows {
            before[..current_len].copy_from_slice(&current[..current_len]);
        }
        let new_len = current_len.max(previous_len + shift);
        for (i, c) in current[..new_len].iter_mut().enumerate() {
            let p = if i >= shift && i - shift < previous_len { previous[i - shift] } else { 0 };
            *c = narrow_wide(C::product(*c, previous_discrepancy) ^ C::product(discrepancy, p));
        }
        current_len = new_len;
        if grows {
            length = n + 1 - length;
            std::mem::swap(&mut previous, &mut before);
            previous_len = before_len;
            previous_discrepancy = discrepancy;
            shift = 1;
        } else {
            shift += 1;
        }
    }
    current.truncate(length + 1);
    current
}

/// Polynomials over GF(2^64), lowest coefficient first, without trailing
/// zeros (the zero polynomial is empty).
type Poly = Vec<u64>;

fn trim(p: &mut Poly) {
    while p.last() == Some(&0) {
        p.pop();
    }
}

/// `a mod m`, `m` monic.
fn rem_monic(mut a: Poly, m: &[u64]) -> Poly {
    let dm = m.len() - 1;
    reduce_in_place(&mut a, &m[..dm], |j, c| mul(c, m[j]));
    a.truncate(dm);
    trim(&mut a);
    a
}

fn make_monic(p: &mut Poly) {
    if let Some(&lead) = p.last() {
        let inv = inverse(lead);
        for c in p.iter_mut() {
            *c = mul(*c, inv);
        }
    }
}

fn gcd(mut a: Poly, mut b: Poly) -> Poly {
    trim(&mut a);
    trim(&mut b);
    while !b.is_empty() {
        make_monic(&mut b);
        let r = rem_monic(a, &b);
        a = b;
        b = r;
    }
    make_monic(&mut a);
    a
}

/// `a / m` for a monic `m` that divides `a`.
fn div_monic(a: &[u64], m: &[u64]) -> Poly {
    let dm = m.len() - 1;
    let mut rest = a.to_vec();
    let mut quotient = vec![0u64; a.len() - dm];
    for top in (dm..a.len()).rev() {
        let c = rest[top];
        quotient[top - dm] = c;
        if c != 0 {
            for j in 0..=dm {
                rest[top - dm + j] ^= mul(c, m[j]);
            }
        }
    }
    quotient
}

/// `p² mod m`: in characteristic 2 squaring a polynomial squares its
/// coefficients into the even positions.
fn square_mod(p: &[u64], m: &Modulus) -> Poly {
    let mut out = vec![0u64; (2 * p.len()).saturating_sub(1)];
    for (i, &c) in p.iter().enumerate() {
        out[2 * i] = mul(c, c);
    }
    m.reduce(&mut out);
    out.truncate(m.degree());
    trim(&mut out);
    out
}

/// The distinct roots of a monic polynomial, if it splits into distinct
/// linear factors over GF(2^64); otherwise `None`.
fn roots_of(f: &[u64]) -> Option<Vec<u64>> {
    let degree = f.len() - 1;
    if degree <= AFFINE_MAX_DEGREE {
        return affine_roots(f);
    }
    // It splits into distinct linear factors iff it divides x^(2^64) - x.
    // The powers x^(2^i) mod f on the way are kept: every trace below is a
    // combination of them, so no trace needs 63 squarings of its own.
    let x = rem_monic(vec![0, 1], f);
    let modulus = Modulus::new(f);
    let mut frobenius = Frobenius { width: degree, powers: vec![0; 64 * degree] };
    let mut power = x.clone();
    for i in 0..64 {
        frobenius.powers[i * degree..i * degree + power.len()].copy_from_slice(&power);
        power = square_mod(&power, &modulus);
    }
    if power != x {
        return None;
    }
    let mut roots = Vec::with_capacity(degree);
    split(f.to_vec(), &frobenius, 0, &mut roots);
    (roots.len() == degree).then_some(roots)
}

/// x^(2^i) modulo a polynomial of degree `width`, for i in 0..64, each as
/// `width` coefficients, lowest first, in one buffer.
struct Frobenius {
    width: usize,
    powers: Vec<u64>,
}

impl Frobenius {
    /// Tr(βx) = Σ β^(2^i) · x^(2^i), modulo the polynomial the powers were
    /// taken modulo.
    fn trace(&self, beta: u64) -> Vec<u64> {
        let mut trace = vec![0u64; self.width];
        #[cfg(target_arch = "x86_64")]
        if has_clmul() {
            // SAFETY: the CPU has the instruction (checked just above).
            unsafe { self.trace_x86(beta, &mut trace) };
            return trace;
        }
        let mut beta_power = beta;
        for power in self.powers.chunks_exact(self.width) {
            let factor = Factor::new(beta_power);
            for (t, &c) in trace.iter_mut().zip(power) {
                *t ^= factor.mul(c);
            }
            beta_power = mul(beta_power, beta_power);
        }
        trace
    }

    /// [`Frobenius::trace`] with the carry-less multiply: each coefficient
    /// sums its 64 products in 128 bits and is reduced once.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "pclmulqdq")]
    unsafe fn trace_x86(&self, beta: u64, trace: &mut [u64]) {
        use std::arch::x86_64::*;
        let mut wide = vec![_mm_setzero_si128(); self.width];
        let mut beta_power = beta;
        for power in self.powers.chunks_exact(self.width) {
            let factor = _mm_cvtsi64_si128(beta_power as i64);
            for (w, &c) in wide.iter_mut().zip(power) {
                *w = _mm_xor_si128(*w, _mm_clmulepi64_si128(factor, _mm_cvtsi64_si128(c as i64), 0));
            }
            beta_power = mul(beta_power, beta_power);
        }
        for (t, w) in trace.iter_mut().zip(wide) {
            *t = narrow(w);
        }
    }

    /// The same powers modulo `m`, a monic divisor of the polynomial they
    /// were taken modulo.
    fn modulo(&self, m: &[u64]) -> Frobenius {
        let dm = m.len() - 1;
        let modulus = Modulus::new(m);
        let mut out = Frobenius { width: dm, powers: vec![0; 64 * dm] };
        let mut scratch = vec![0u64; self.width];
        for i in 0..64 {
            scratch.copy_from_slice(&self.powers[i * self.width..(i + 1) * self.width]);
            modulus.reduce(&mut scratch);
            out.powers[i * dm..(i + 1) * dm].copy_from_slice(&scratch[..dm]);
        }
        out
    }
}

/// Largest degree whose roots [`affine_roots`] finds: its last step tries
/// up to `2^(degree - 1)` candidates, so past 11 the trace splitting is
/// cheaper. Measured with the root finder's products reduced lazily and
/// its roots divided out as found (2026-12-06): one decode of 2,000 random
/// buckets of 12 sums took 18 µs at 11 values this way against 36 by the
/// trace, and 32 µs at 12 against about 41; on the peers bench's random
/// draws at d = 10,000 (15 draws, twice each, in one process, three
/// times), 10, 11 and 12 took 30.0, 29.2 and 31.0 ms: at 12 a bucket of 12
/// sums holding more values is refused in 7 µs instead of 1.7, which costs
/// more than the decodes it gains.
const AFFINE_MAX_DEGREE: usize = 11;

/// Carry-less 64-bit products, left unreduced (128 bits), so that sums of
/// products are reduced once: the CPU's instruction, or the portable loop.
/// The root finder is written once over this and compiled for each, so the
/// instruction is inlined into its loops rather than called per product.
trait Carryless {
    fn product(a: u64, b: u64) -> u128;
}

struct PortableProducts;

impl Carryless for PortableProducts {
    #[inline(always)]
    fn product(a: u64, b: u64) -> u128 {
        let (lo, hi) = clmul_portable(a, b);
        (u128::from(hi) << 64) | u128::from(lo)
    }
}

#[cfg(target_arch = "x86_64")]
struct InstructionProducts;

#[cfg(target_arch = "x86_64")]
impl Carryless for InstructionProducts {
    #[inline(always)]
    fn product(a: u64, b: u64) -> u128 {
        use std::arch::x86_64::*;
        // SAFETY: only reached from functions compiled with the instruction,
        // which run after `has_clmul` said the CPU has it.
        unsafe {
            let p = _mm_clmulepi64_si128(_mm_cvtsi64_si128(a as i64), _mm_cvtsi64_si128(b as i64), 0);
            let (lo, hi) = (_mm_cvtsi128_si64(p) as u64, _mm_cvtsi128_si64(_mm_unpackhi_epi64(p, p)) as u64);
            (u128::from(hi) << 64) | u128::from(lo)
        }
    }
}

/// A sum of unreduced products, reduced.
#[inline(always)]
fn narrow_wide(w: u128) -> u64 {
    reduce(w as u64, (w >> 64) as u64)
}

/// The distinct roots of a monic `f` of degree 1 to [`AFFINE_MAX_DEGREE`],
/// if it splits into distinct linear factors; otherwise `None`.
///
/// Berlekamp's affine multiple: the `k + 1` polynomials `1, x, x^2, x^4, ...
/// x^(2^(k-1))` modulo `f` lie in a space of dimension `k`, so some
/// combination `b + Σ a_i x^(2^i)` is a multiple of `f`. Its linear part
/// `L(y) = Σ a_i y^(2^i)` is linear over GF(2) (squaring is), so every root
/// of `f` solves the 64 bit equations `L(y) = b`: one elimination over
/// GF(2), whose solutions (a coset of at most `2^(k-1)` elements) are then
/// tried in `f`. This needs `k - 1` polynomial squarings where the trace
/// splitting needs 64 and a reduction of all 64 at every split, and no
/// allocation beyond the roots.
fn affine_roots(f: &[u64]) -> Option<Vec<u64>> {
    #[cfg(target_arch = "x86_64")]
    if has_clmul() {
        // SAFETY: the CPU has the instruction (checked just above).
        return unsafe { affine_roots_x86(f) };
    }
    affine_roots_with::<PortableProducts>(f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
unsafe fn affine_roots_x86(f: &[u64]) -> Option<Vec<u64>> {
    affine_roots_with::<InstructionProducts>(f)
}

#[inline(always)]
fn affine_roots_with<C: Carryless>(f: &[u64]) -> Option<Vec<u64>> {
    let k = f.len() - 1;
    debug_assert!((1..=AFFINE_MAX_DEGREE).contains(&k) && f[k] == 1);
    if k == 1 {
        return Some(vec![f[0]]);
    }
    let powers = frobenius_powers::<C>(f);
    let combination = vanishing_combination::<C>(&powers, k);
    let (b, a) = (combination[0], &combination[1..=k]);
    let (kernel, solution) = affine_solutions(&linear_columns::<C>(a), b)?;
    if kernel.len() >= k {
        // L would have 2^k roots or more: a q-degree of at most k - 1
        // allows 2^(k-1).
        return None;
    }
    coset_roots::<C>(f, &kernel, solution)
}

/// `x^(2^i) mod f` for `i` below the degree `k` of the monic `f`, each as
/// `k` coefficients, after the constant 1: the `k + 1` vectors the affine
/// multiple combines. Each is the square of the one before, reduced with
/// its products summed unreduced.
#[inline(always)]
fn frobenius_powers<C: Carryless>(f: &[u64]) -> [[u64; AFFINE_MAX_DEGREE]; AFFINE_MAX_DEGREE + 1] {
    const K: usize = AFFINE_MAX_DEGREE;
    let k = f.len() - 1;
    let mut powers = [[0u64; K]; K + 1];
    powers[0][0] = 1;
    powers[1][1] = 1;
    for i in 2..=k {
        let mut square = [0u128; 2 * K];
        for (j, &c) in powers[i - 1][..k].iter().enumerate() {
            square[2 * j] = C::product(c, c);
        }
        for top in (k..2 * k - 1).rev() {
            let c = narrow_wide(square[top]);
            if c != 0 {
                for (s, &fj) in square[top - k..top].iter_mut().zip(&f[..k]) {
                    *s ^= C::product(c, fj);
                }
            }
        }
        for (p, &s) in powers[i][..k].iter_mut().zip(&square[..k]) {
            *p = narrow_wide(s);
        }
    }
    powers
}

/// A non-zero `c` with `Σ c_i · powers[i] = 0`: `k + 1` vectors of `k`
/// coefficients always have one. Elimination without division on the
/// matrix whose columns are the vectors (each row update `p·row + c·pivot`
/// keeps the null space), then back substitution that scales what it has
/// solved instead of dividing. The first column without a pivot is the one
/// set free, so the combination uses the fewest powers it can.
#[inline(always)]
fn vanishing_combination<C: Carryless>(
    powers: &[[u64; AFFINE_MAX_DEGREE]; AFFINE_MAX_DEGREE + 1],
    k: usize,
) -> [u64; AFFINE_MAX_DEGREE + 1] {
    const K: usize = AFFINE_MAX_DEGREE;
    let mut rows = [[0u64; K + 1]; K];
    for (i, power) in powers.iter().enumerate().take(k + 1) {
        for (row, &c) in rows.iter_mut().zip(&power[..k]) {
            row[i] = c;
        }
    }
    let mut pivot_columns = [0usize; K];
    let mut rank = 0;
    for column in 0..=k {
        if rank == k {
            break;
        }
        let Some(pivot) = (rank..k).find(|&r| rows[r][column] != 0) else { continue };
        rows.swap(rank, pivot);
        let p = rows[rank][column];
        let pivot_row = rows[rank];
        for row in rows[rank + 1..k].iter_mut() {
            let c = row[column];
            if c != 0 {
                for (x, &y) in row[column..=k].iter_mut().zip(&pivot_row[column..=k]) {
                    *x = narrow_wide(C::product(p, *x) ^ C::product(c, y));
                }
            }
        }
        pivot_columns[rank] = column;
        rank += 1;
    }
    let free = (0..=k).find(|c| !pivot_columns[..rank].contains(c)).expect("k + 1 columns, at most k pivots");
    let mut combination = [0u64; K + 1];
    combination[free] = 1;
    for r in (0..rank).rev() {
        let column = pivot_columns[r];
        if column > free {
            continue;
        }
        let mut sum = 0u128;
        for j in column + 1..=free {
            sum ^= C::product(rows[r][j], combination[j]);
        }
        let p = rows[r][column];
        for c in combination[column + 1..=free].iter_mut() {
            *c = narrow_wide(C::product(p, *c));
        }
        combination[column] = narrow_wide(sum);
    }
    combination
}

/// `L(e_j)` for the 64 basis elements `e_j = x^j`, where `L(y) = Σ a_i
/// y^(2^i)`: each column sums its products unreduced.
#[inline(always)]
fn linear_columns<C: Carryless>(a: &[u64]) -> [u64; 64] {
    let frobenius = basis_frobenius();
    let mut wide = [0u128; 64];
    for (&ai, row) in a.iter().zip(frobenius) {
        if ai != 0 {
            for (w, &power) in wide.iter_mut().zip(row) {
                *w ^= C::product(ai, power);
            }
        }
    }
    wide.map(narrow_wide)
}

/// Candidates [`coset_roots`] tries in one batch.
const LANES: usize = 8;

/// The roots of the monic `f` among `solution + span(kernel)`, if all its
/// `deg f` roots are there and distinct. The coset's elements are tried in
/// Gray-code order a batch of lanes at a time (the lanes' products do not
/// wait on each other); each root found is divided out, so the candidates
/// after it are tried in a polynomial of lower degree, and the last root is
/// read off the remaining linear factor without a search.
#[inline(always)]
fn coset_roots<C: Carryless>(f: &[u64], kernel: &[u64], solution: u64) -> Option<Vec<u64>> {
    const K: usize = AFFINE_MAX_DEGREE;
    let k = f.len() - 1;
    let mut rest = [0u64; K + 1];
    rest[..=k].copy_from_slice(f);
    let mut degree = k;
    let mut roots = Vec::with_capacity(k);
    let mut y = solution;
    let candidates = 1u64 << kernel.len();
    let mut step = 0u64;
    while step < candidates {
        let mut batch = [0u64; LANES];
        let lanes = (candidates - step).min(LANES as u64) as usize;
        for (lane, slot) in batch.iter_mut().enumerate().take(lanes) {
            let index = step + lane as u64;
            if index > 0 {
                y ^= kernel[index.trailing_zeros() as usize];
            }
            *slot = y;
        }
        let values = evaluate_lanes::<C>(&rest[..=degree], &batch);
        for lane in 0..lanes {
            if values[lane] != 0 {
                continue;
            }
            // A root of the polynomial before a division in this batch is
            // one of the quotient's too: the candidates are distinct.
            let root = batch[lane];
            roots.push(root);
            // rest / (x - root), by synthetic division.
            let mut carry = rest[degree];
            for i in (0..degree).rev() {
                let coefficient = rest[i];
                rest[i] = carry;
                carry = coefficient ^ narrow_wide(C::product(carry, root));
            }
            rest[degree] = 0;
            degree -= 1;
            if degree == 1 {
                let last = rest[0];
                // Only a repeated root is left for the linear factor to
                // hold that is not among the candidates still to come.
                return (!roots.contains(&last)).then(|| {
                    roots.push(last);
                    roots
                });
            }
        }
        step += LANES as u64;
    }
    None
}

/// `f(y)` at each of the lanes' `y`, by Horner's rule.
#[inline(always)]
fn evaluate_lanes<C: Carryless>(f: &[u64], ys: &[u64; LANES]) -> [u64; LANES] {
    let mut acc = [0u64; LANES];
    for &c in f.iter().rev() {
        for (a, &y) in acc.iter_mut().zip(ys) {
            *a = narrow_wide(C::product(y, *a)) ^ c;
        }
    }
    acc
}

/// The solutions of the 64 bit equations `L(y) = b`, for the GF(2)-linear
/// `L` whose values at the basis elements are `columns`: a basis of `L`'s
/// kernel and one solution, or `None` if there is none. Gaussian
/// elimination on the columns, each carrying the combination of basis
/// elements it is: every pivot clears its bit from the columns after it
/// without a branch, so the work is 64 passes of independent xors rather
/// than a chain of dependent lookups per column.
fn affine_solutions(columns: &[u64; 64], b: u64) -> Option<(Vec<u64>, u64)> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has the instructions (checked just above).
        return unsafe { affine_solutions_avx2(columns, b) };
    }
    affine_solutions_with(columns, b)
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static HAS_AVX2: OnceLock<bool> = OnceLock::new();
    *HAS_AVX2.get_or_init(|| std::is_x86_feature_detected!("avx2"))
}

/// [`affine_solutions_with`] compiled for 256-bit vectors: the same steps,
/// four columns to an instruction instead of two.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn affine_solutions_avx2(columns: &[u64; 64], b: u64) -> Option<(Vec<u64>, u64)> {
    affine_solutions_with(columns, b)
}

#[inline(always)]
fn affine_solutions_with(columns: &[u64; 64], b: u64) -> Option<(Vec<u64>, u64)> {
    let mut values = *columns;
    let mut elements: [u64; 64] = std::array::from_fn(|j| 1u64 << j);
    let mut pivot_bits = [0u32; 64];
    let mut rank = 0;
    for bit in 0..64 {
        let Some(pivot) = (rank..64).find(|&r| (values[r] >> bit) & 1 == 1) else { continue };
        values.swap(rank, pivot);
        elements.swap(rank, pivot);
        let (pivot_value, pivot_element) = (values[rank], elements[rank]);
        for (value, element) in values[rank + 1..].iter_mut().zip(elements[rank + 1..].iter_mut()) {
            let mask = 0u64.wrapping_sub((*value >> bit) & 1);
            *value ^= pivot_value & mask;
            *element ^= pivot_element & mask;
        }
        pivot_bits[rank] = bit;
        rank += 1;
    }
    // The columns after the pivots are zero, and each pivot's bit is clear
    // in the pivots after it: taking the pivots in order, b's remaining
    // bit at each names the one combination that can give b.
    let (mut rest, mut solution) = (b, 0u64);
    for (i, &bit) in pivot_bits.iter().enumerate().take(rank) {
        if (rest >> bit) & 1 == 1 {
            rest ^= values[i];
            solution ^= elements[i];
        }
    }
    (rest == 0).then(|| (elements[rank..].to_vec(), solution))
}

/// `e_j^(2^i)` for the basis elements `e_j = x^j` and `i` below
/// [`AFFINE_MAX_DEGREE`], computed once.
fn basis_frobenius() -> &'static [[u64; 64]; AFFINE_MAX_DEGREE] {
    use std::sync::OnceLock;
    static TABLE: OnceLock<[[u64; 64]; AFFINE_MAX_DEGREE]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [[0u64; 64]; AFFINE_MAX_DEGREE];
        for j in 0..64 {
            let mut power = 1u64 << j;
            for row in table.iter_mut() {
                row[j] = power;
                power = mul(power, power);
            }
        }
        table
    })
}

/// Berlekamp's trace algorithm: `gcd(f, Tr(βx) mod f)` holds the roots `r`
/// of `f` with `Tr(βr) = 0`; fixed β's take turns until `f` splits. With
/// the powers x^(2^i) mod f at hand, Tr(βx) = Σ β^(2^i) · x^(2^i) costs 64
/// scalar products per coefficient.
fn split(f: Poly, frobenius: &Frobenius, attempt: u64, roots: &mut Vec<u64>) {
    let degree = f.len() - 1;
    if degree <= AFFINE_MAX_DEGREE {
        // `f` divides one that splits, so it does too; a `None` here leaves
        // the roots short and the decode fails.
        roots.extend(affine_roots(&f).unwrap_or_default());
        return;
    }
    // A deterministic sequence of β (the core draws no randomness of its
    // own); 64 attempts fail to split with probability about 2^-64.
    for k in attempt..attempt + 64 {
        let mut trace = frobenius.trace((k + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        trim(&mut trace);
        let g = gcd(f.clone(), trace);
        let dg = g.len().saturating_sub(1);
        if dg > 0 && dg < degree {
            let h = div_monic(&f, &g);
            let (frobenius_g, frobenius_h) = (frobenius.modulo(&g), frobenius.modulo(&h));
            split(g, &frobenius_g, k + 1, roots);
            split(h, &frobenius_h, k + 1, roots);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The carry-less product by the definition, bit by bit.
    fn clmul_by_bits(a: u64, b: u64) -> (u64, u64) {
        let (mut lo, mut hi) = (0u64, 0u64);
        for i in 0..64 {
            if (b >> i) & 1 == 1 {
                lo ^= a << i;
                hi ^= if i == 0 { 0 } else { a >> (64 - i) };
            }
        }
        (lo, hi)
    }

    #[test]
    fn the_field_is_a_field() {
        let samples = [1u64, 2, 3, 0x8000_0000_0000_0000, u64::MAX, 0x1234_5678_9abc_def0, 0xdead_beef];
        for &a in &samples {
            assert_eq!(mul(a, 1), a);
            assert_eq!(mul(a, inverse(a)), 1, "{a:#x}");
            for &b in &samples {
                assert_eq!(mul(a, b), mul(b, a));
                assert_eq!(clmul_portable(a, b), clmul_by_bits(a, b));
                assert_eq!(clmul(a, b), clmul_by_bits(a, b), "the instruction and the definition agree");
                for &c in &samples {
                    assert_eq!(mul(a, b ^ c), mul(a, b) ^ mul(a, c));
                    assert_eq!(mul(mul(a, b), c), mul(a, mul(b, c)));
                }
            }
        }
        // x · x^63 = x^64 = x^4 + x^3 + x + 1.
        assert_eq!(mul(2, 1 << 63), 0b11011);
        // Many pairs: the portable form and the instruction against the
        // definition.
        let mut seed = 3u64;
        for _ in 0..2000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (a, b) = (seed ^ (seed >> 17), seed.rotate_left(29));
            assert_eq!(clmul_portable(a, b), clmul_by_bits(a, b));
            assert_eq!(clmul(a, b), clmul_by_bits(a, b));
        }
    }

    #[test]
    fn differences_up_to_the_capacity_decode_and_larger_ones_do_not() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let z = (seed ^ (seed >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            (z ^ (z >> 29)) as i64
        };
        // Every capacity but the largest is also checked one by one past it.
        for capacity in [1usize, 2, 5, 12, PIN_KEPT, 100, PIN_CAPACITY] {
            for d in 0..=(capacity + 3).min(PIN_CAPACITY) {
                let common: Vec<i64> = (0..50).map(|_| next()).collect();
                let extra: Vec<i64> = (0..d).map(|_| next()).collect();
                let ours = PinSketch::of_values(&common, 0, PIN_CAPACITY);
                let mut theirs_values = common.clone();
                theirs_values.extend(&extra);
                let theirs = PinSketch::of_values(&theirs_values, 0, PIN_CAPACITY);
                let diff = difference(&ours, &theirs, capacity);
                let decoded = decode(&diff);
                if d <= capacity {
                    let mut got = decoded.expect("decodes within capacity");
                    got.sort_unstable();
                    let mut want: Vec<u64> = extra.iter().map(|&v| v as u64).collect();
                    want.sort_unstable();
                    assert_eq!(got, want, "capacity {capacity}, d {d}");
                } else {
                    // Beyond the capacity a decode may return a wrong,
                    // smaller set (with one sum, any difference "decodes" to
                    // one value): the reconciler's digest check rejects it.
                    // A locator of a larger difference rarely splits into
                    // distinct roots, though, and never here from 5 sums up.
                    if capacity >= 5 {
                        assert_eq!(decoded, None, "capacity {capacity}, d {d}");
                    }
                    let full = difference(&ours, &theirs, PIN_CAPACITY);
                    assert_eq!(decode(&full).map(|r| r.len()), Some(d), "the whole sketch decodes it");
                }
            }
        }
    }

    /// The first `count` sums of the difference of two sketches, through
    /// their bytes.
    fn difference(ours: &PinSketch, theirs: &PinSketch, count: usize) -> Vec<u64> {
        let theirs = sums_from_bytes(&sums_to_bytes(&theirs.sums()[..count])).expect("whole sums");
        theirs.iter().zip(ours.sums()).map(|(t, o)| t ^ o).collect()
    }

    #[test]
    fn sums_from_any_first_one_equal_the_run_from_the_start_on_either_path() {
        let values = [1i64, 2, -1, i64::MIN, i64::MAX, 0x5eed_5eed, -77];
        let whole = PinSketch::of_values(&values, 0, PIN_CAPACITY);
        for (first, count) in [(0, 1), (0, 7), (PIN_KEPT, PIN_CAPACITY - PIN_KEPT), (5, 9), (100, 3)] {
            let part = PinSketch::of_values(&values, first, count);
            assert_eq!(part.sums(), &whole.sums()[first..first + count], "first {first}, count {count}");
            let mut portable = PinSketch::empty(first, count);
            for &v in &values {
                add_powers_portable(&mut portable.sums, first, v);
            }
            assert_eq!(portable, part, "the portable products agree, first {first}, count {count}");
        }
        // S_1 is the xor of the values, S_3 the xor of their cubes.
        assert_eq!(whole.sums()[0], values.iter().fold(0, |acc, &v| acc ^ v as u64));
        assert_eq!(whole.sums()[1], values.iter().fold(0, |acc, &v| acc ^ mul(v as u64, mul(v as u64, v as u64))));
    }

    #[test]
    fn bucket_sums_are_the_sums_of_each_buckets_values() {
        let values: Vec<i64> = (0..2_000).map(|i| i * 7919 - 5_000).chain([i64::MIN, i64::MAX, 0]).collect();
        let kept = BucketSketch::of_values(&values);
        for buckets in [1u64, 2, 256, MAX_BUCKETS] {
            let all = bucket_sums(&values, buckets, None, 2, 5);
            assert_eq!(kept.sums(buckets, None, 2, 5).as_ref(), Some(&all), "kept, {buckets} buckets");
            assert_eq!(all.len(), buckets as usize * 5);
            let selected: Vec<u64> = (0..buckets).filter(|b| b % 3 == 0).collect();
            let some = bucket_sums(&values, buckets, Some(&selected), 2, 5);
            for (slot, &b) in selected.iter().enumerate() {
                let inside: Vec<i64> = values.iter().copied().filter(|&v| bucket_of(v, buckets) == b).collect();
                let sketch = PinSketch::of_values(&inside, 2, 5);
                assert_eq!(&all[b as usize * 5..][..5], sketch.sums(), "bucket {b} of {buckets}");
                assert_eq!(&some[slot * 5..][..5], sketch.sums(), "selected bucket {b} of {buckets}");
            }
            assert_eq!(kept.sums(buckets, Some(&selected), 2, 5), Some(some));
        }
        assert_eq!(kept.sums(8, None, 10, 7), None, "past the kept sums");
        let mut grown = BucketSketch::of_values(&values[..1000]);
        values[1000..].iter().for_each(|&v| grown.add(v));
        assert_eq!(grown, kept);
        // Buckets fill evenly: 2,003 values in 256 buckets hold 8 on
        // average; a hash that clumped would leave some far fuller.
        let mut fill = vec![0u32; 256];
        for &v in &values {
            fill[bucket_of(v, 256) as usize] += 1;
        }
        assert!(fill.iter().all(|&f| f <= 24), "{fill:?}");
    }

    #[test]
    fn lazily_reduced_products_equal_products_reduced_one_by_one() {
        let mut rng = crate::core::rng::Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next_u64();
        for (len, degree) in [(1, 1), (5, 1), (9, 4), (40, 13), (13, 40), (200, 100)] {
            let a: Vec<u64> = (0..len).map(|_| next()).collect();
            let m: Vec<u64> = (0..degree).map(|_| next()).chain([1]).collect();
            let mut one_by_one = a.clone();
            reduce_in_place_portable(&mut one_by_one, degree, |j, c| mul(c, m[j]));
            let mut lazily = a.clone();
            reduce_in_place(&mut lazily, &m[..degree], |j, c| mul(c, m[j]));
            assert_eq!(lazily, one_by_one, "len {len}, degree {degree}");
            // A trace from the kept powers equals its definition, term by term.
            let powers: Vec<u64> = (0..64 * degree).map(|_| next()).collect();
            let frobenius = Frobenius { width: degree, powers };
            let beta = next();
            let mut expected = vec![0u64; degree];
            let mut beta_power = beta;
            for power in frobenius.powers.chunks_exact(degree) {
                for (t, &c) in expected.iter_mut().zip(power) {
                    *t ^= reduce_by_bits(clmul_by_bits(beta_power, c));
                }
                beta_power = mul(beta_power, beta_power);
            }
            assert_eq!(frobenius.trace(beta), expected, "degree {degree}");
        }
    }

    /// A 128-bit product modulo x^64 + x^4 + x^3 + x + 1, bit by bit.
    fn reduce_by_bits((mut lo, mut hi): (u64, u64)) -> u64 {
        for bit in (64..128).rev() {
            if (hi >> (bit - 64)) & 1 == 1 {
                hi ^= 1 << (bit - 64);
                // x^bit = x^(bit-64) · (x^4 + x^3 + x + 1).
                for t in [4, 3, 1, 0] {
                    let k = bit - 64 + t;
                    if k >= 64 { hi ^= 1 << (k - 64) } else { lo ^= 1 << k }
                }
            }
        }
        lo
    }

    /// The monic polynomial with these roots, lowest coefficient first.
    fn with_roots(roots: &[u64]) -> Vec<u64> {
        let mut poly = vec![1u64];
        for &r in roots {
            let mut next = vec![0u64; poly.len() + 1];
            for (i, &c) in poly.iter().enumerate() {
                next[i + 1] ^= c;
                next[i] ^= mul(c, r);
            }
            poly = next;
        }
        poly
    }

    #[test]
    fn root_finding_products_agree_on_either_path() {
        let mut rng = crate::core::rng::Rng::new(0x5851_f42d_4c95_7f2d);
        for degree in 1..=AFFINE_MAX_DEGREE {
            let f: Vec<u64> = (0..degree).map(|_| rng.next_u64()).chain([1]).collect();
            let ys: [u64; LANES] = std::array::from_fn(|_| rng.next_u64());
            let horner = ys.map(|y| f.iter().rev().fold(0, |acc, &c| mul(acc, y) ^ c));
            let a = &f[..degree];
            let by_definition: [u64; 64] = std::array::from_fn(|j| {
                a.iter().enumerate().fold(0, |acc, (i, &ai)| {
                    let power = (0..i).fold(1u64 << j, |p, _| mul(p, p));
                    acc ^ mul(ai, power)
                })
            });
            // x^(2^i) mod f by repeated squaring, reduced one product at a
            // time.
            let mut square = vec![0, 1];
            let mut one = vec![0u64; degree];
            one[0] = 1;
            let mut powers_by_definition = vec![one];
            for _ in 0..degree {
                let mut padded = square.clone();
                padded.resize(degree, 0);
                powers_by_definition.push(padded);
                square = square_mod(&square, &Modulus::new(&f));
            }
            let check = |evaluated: [u64; LANES], columns: [u64; 64], powers: [[u64; AFFINE_MAX_DEGREE]; AFFINE_MAX_DEGREE + 1], combination: [u64; AFFINE_MAX_DEGREE + 1]| {
                assert_eq!(evaluated, horner, "degree {degree}");
                assert_eq!(columns, by_definition, "degree {degree}");
                if degree == 1 {
                    // The root is read off; x is not yet reduced modulo f.
                    return;
                }
                for (i, want) in powers_by_definition.iter().enumerate() {
                    assert_eq!(&powers[i][..degree], &want[..degree], "degree {degree}, power {i}");
                }
                assert!(combination.iter().any(|&c| c != 0), "degree {degree}");
                for j in 0..degree {
                    let sum = (0..=degree).fold(0, |acc, i| acc ^ mul(combination[i], powers[i][j]));
                    assert_eq!(sum, 0, "degree {degree}: the combination does not vanish");
                }
            };
            let powers = frobenius_powers::<PortableProducts>(&f);
            check(
                evaluate_lanes::<PortableProducts>(&f, &ys),
                linear_columns::<PortableProducts>(a),
                powers,
                vanishing_combination::<PortableProducts>(&powers, degree),
            );
            #[cfg(target_arch = "x86_64")]
            if has_clmul() {
                let powers = frobenius_powers::<InstructionProducts>(&f);
                check(
                    evaluate_lanes::<InstructionProducts>(&f, &ys),
                    linear_columns::<InstructionProducts>(a),
                    powers,
                    vanishing_combination::<InstructionProducts>(&powers, degree),
                );
            }
        }
    }

    #[test]
    fn gf2_solutions_agree_on_either_path_and_solve() {
        let mut rng = crate::core::rng::Rng::new(0x6a09_e667_f3bc_c908);
        for degree in 1..=AFFINE_MAX_DEGREE {
            let a: Vec<u64> = (0..degree).map(|_| rng.next_u64()).collect();
            let columns = linear_columns::<PortableProducts>(&a);
            let apply = |y: u64| (0..64).filter(|j| (y >> j) & 1 == 1).fold(0, |acc, j| acc ^ columns[j]);
            // One b in the image, one at random.
            for (in_image, b) in [(true, apply(rng.next_u64())), (false, rng.next_u64())] {
                let solved = affine_solutions(&columns, b);
                assert_eq!(solved, affine_solutions_with(&columns, b), "degree {degree}");
                assert!(!in_image || solved.is_some(), "degree {degree}: b is L of something");
                if let Some((kernel, solution)) = solved {
                    assert_eq!(apply(solution), b, "degree {degree}");
                    assert!(kernel.iter().all(|&k| k != 0 && apply(k) == 0), "degree {degree}");
                }
            }
        }
    }

    #[test]
    fn affine_multiples_find_every_root_or_none() {
        let mut rng = crate::core::rng::Rng::new(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next_u64();
        for degree in 1..=AFFINE_MAX_DEGREE {
            for draw in 0..40 {
                // Random roots, and some that share low bits or are tiny, so
                // that their affine span is smaller than usual.
                let roots: Vec<u64> = (0..degree as u64)
                    .map(|i| match draw % 3 {
                        0 => next(),
                        1 => (next() & 0xff) << 56 | i,
                        _ => i + 1,
                    })
                    .collect();
                let f = with_roots(&roots);
                let mut found = affine_roots(&f).unwrap_or_else(|| panic!("degree {degree}, roots {roots:x?}"));
                found.sort_unstable();
                let mut portable = affine_roots_with::<PortableProducts>(&f).expect("the portable path finds them too");
                portable.sort_unstable();
                assert_eq!(portable, found, "degree {degree}");
                let mut want = roots.clone();
                want.sort_unstable();
                assert_eq!(found, want, "degree {degree}");
                assert_eq!(roots_of(&f).map(|mut r| { r.sort_unstable(); r }), Some(want), "degree {degree}");
                if degree >= 2 {
                    // A repeated root, or a factor without roots (x^2 + x + c
                    // with Tr(c) = 1 has none): no split into distinct roots.
                    let mut repeated = roots.clone();
                    repeated[1] = repeated[0];
                    assert_eq!(affine_roots(&with_roots(&repeated)), None, "degree {degree}, repeated");
                    let c = (0..).map(|_| next()).find(|&c| trace(c) == 1).expect("half the elements");
                    let mut g = with_roots(&roots[2..]);
                    g = multiply(&g, &[c, 1, 1]);
                    assert_eq!(affine_roots(&g), None, "degree {degree}, irreducible quadratic factor");
                }
            }
        }
    }

    fn trace(c: u64) -> u64 {
        let (mut t, mut p) = (0u64, c);
        for _ in 0..64 {
            t ^= p;
            p = mul(p, p);
        }
        t
    }

    fn multiply(a: &[u64], b: &[u64]) -> Vec<u64> {
        let mut out = vec![0u64; a.len() + b.len() - 1];
        for (i, &x) in a.iter().enumerate() {
            for (j, &y) in b.iter().enumerate() {
                out[i + j] ^= mul(x, y);
            }
        }
        out
    }

    #[test]
    fn small_values_and_extremes_decode() {
        let values = [1i64, 2, 3, -1, i64::MIN, i64::MAX, 100_000];
        let sketch = PinSketch::of_values(&values, 0, 8);
        let diff = difference(&PinSketch::empty(0, 8), &sketch, 8);
        let mut got = decode(&diff).unwrap();
        got.sort_unstable();
        let mut want: Vec<u64> = values.iter().map(|&v| v as u64).collect();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(sums_from_bytes(&[0; 7]), None);
        assert_eq!(sums_from_bytes(&[]), None);
        assert_eq!(sums_from_bytes(&[0; 8 * (PIN_CAPACITY + 1)]), None);
        assert_eq!(sums_from_bytes(&[0; 8 * PIN_CAPACITY]).map(|s| s.len()), Some(PIN_CAPACITY));
    }
}
