//! Set fingerprints: a homomorphic multiset hash over SHA-256.
//!
//! Construction (an LtHash in the sense of Bellare–Micciancio and Lewi et al.,
//! "Securing Update Propagation with Homomorphic Hashing", 2019):
//!
//! * every value `v` is expanded to a 1024-bit vector `h(v)`: four SHA-256
//!   outputs of `DOMAIN || lane_block || v` (big-endian), read as sixteen
//!   little-endian `u64` lanes;
//! * the fingerprint of a set is `(count, Σ h(v))`, the sum taken lane by lane
//!   modulo 2^64;
//! * the digest reported to clients is `SHA-256(DIGEST_DOMAIN || count || sum)`.
//!
//! Why this one:
//!
//! * **Order and repetition independent by construction**: a sum does not care
//!   about order, and the set only adds a value the first time it arrives.
//! * **Incremental and subtractable**: one insert costs one `h(v)` and a few
//!   lane additions per tree level; the fingerprint of any range is
//!   `prefix(hi) - prefix(lo)`, which is what range-based reconciliation needs.
//! * **Accidental collisions**: two different sets collide only if the sums of
//!   their pseudo-random 1024-bit vectors agree, probability 2^-1024 per pair
//!   before the final SHA-256 (2^-256 after it).
//! * **Crafted collisions**: a plain XOR or a sum of small integers is broken by
//!   hand ({1,2,3} XORs to 0). A sum of 256-bit hashes is still weak: Wagner's
//!   generalized-birthday algorithm finds a colliding pair of sets in roughly
//!   2^32 work. With 1024 bits, Wagner needs about 2^63 time *and* memory (more
//!   values than an attacker can even choose among i64s), and the lattice (SIS)
//!   attack on `Σ e_i h(v_i) = 0` with `e_i ∈ {-1,0,1}`, `n·log q = 1024`, needs
//!   BKZ block sizes around 400, i.e. well beyond 2^100 operations.
//!
//! Bytes on the wire are a separate matter: reconciliation sends truncated
//! digests of ranges ([`Fingerprint::short`]), 16 bytes, since an accidental
//! mismatch there only costs one more round.

use sha2::{Digest as _, Sha256};

#[cfg(target_arch = "x86_64")]
mod sha_ni;

/// Number of 64-bit lanes in a fingerprint sum (1024 bits).
pub const LANES: usize = 16;

const ELEMENT_DOMAIN: &[u8] = b"anti-entropy/element/v1";
const DIGEST_DOMAIN: &[u8] = b"anti-entropy/set-digest/v1";

/// The 1024-bit lane sum of a set (or of a range of it).
pub type LaneSum = [u64; LANES];

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_INITIAL_STATE: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// Bytes of one element-hash message: domain, lane block number, value.
const ELEMENT_MESSAGE_LEN: usize = ELEMENT_DOMAIN.len() + 1 + 8;

/// Expands one value to its 1024-bit vector: lane block `i` (of 4) is
/// `SHA-256(ELEMENT_DOMAIN || i || value as big-endian)`.
///
/// Each message is 32 bytes, so SHA-256 is exactly one compression of a
/// padded block; calling the compression function directly skips the
/// streaming hasher's buffering. This runs once per inserted value and is
/// the node's main per-message cost: about 0.3 µs as four compressions one
/// after the other through `sha2` (its SHA-NI path where the CPU has one),
/// 10 to 20 % less with SHA-NI's four compressions interleaved (`sha_ni`).
pub fn element_hash(value: i64) -> LaneSum {
    let digests = compress_each(&element_blocks(value));
    core::array::from_fn(|lane| {
        let digest = &digests[lane / 4];
        u64::from_le_bytes(digest[8 * (lane % 4)..][..8].try_into().expect("eight bytes"))
    })
}

/// The four messages of [`element_hash`], each as its one padded block.
fn element_blocks(value: i64) -> [[u8; 64]; 4] {
    let mut block = [0u8; 64];
    block[..ELEMENT_DOMAIN.len()].copy_from_slice(ELEMENT_DOMAIN);
    block[ELEMENT_DOMAIN.len() + 1..ELEMENT_MESSAGE_LEN].copy_from_slice(&value.to_be_bytes());
    block[ELEMENT_MESSAGE_LEN] = 0x80;
    block[56..].copy_from_slice(&((ELEMENT_MESSAGE_LEN as u64) * 8).to_be_bytes());
    core::array::from_fn(|lane_block| {
        let mut block = block;
        block[ELEMENT_DOMAIN.len()] = lane_block as u8;
        block
    })
}

/// SHA-256 of each element-hash message, given as its one padded block.
fn compress_each(blocks: &[[u8; 64]; 4]) -> [[u8; 32]; 4] {
    #[cfg(target_arch = "x86_64")]
    if sha_ni::available() {
        // A block's first six rounds read its first 24 bytes: the domain and
        // the lane block number, the same for every value. So they are run
        // once per lane block, from the first value's blocks, and skipped
        // after that.
        const _: () = assert!(ELEMENT_DOMAIN.len() + 1 >= 24, "the value must not reach into the first 24 bytes");
        static MIDSTATES: std::sync::OnceLock<[sha_ni::Midstate; 4]> = std::sync::OnceLock::new();
        // SAFETY: the CPU has the instructions `sha_ni` uses.
        let midstates =
            MIDSTATES.get_or_init(|| blocks.map(|block| unsafe { sha_ni::midstate(&SHA256_INITIAL_STATE, &block) }));
        // SAFETY: as above.
        return unsafe { sha_ni::compress_from_midstates(&SHA256_INITIAL_STATE, midstates, blocks) };
    }
    compress_each_portable(blocks)
}

/// [`compress_each`] without CPU extensions (wasm, older x86).
fn compress_each_portable(blocks: &[[u8; 64]; 4]) -> [[u8; 32]; 4] {
    blocks.map(|block| {
        let mut state = SHA256_INITIAL_STATE;
        sha2::compress256(&mut state, &[block.into()]);
        core::array::from_fn(|b| state[b / 4].to_be_bytes()[b % 4])
    })
}

/// Count and lane sum of a set of values: the additive, order-free summary
/// from which digests are derived.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fingerprint {
    pub count: u64,
    pub sum: LaneSum,
}

impl Default for Fingerprint {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Fingerprint {
    pub const EMPTY: Fingerprint = Fingerprint { count: 0, sum: [0; LANES] };

    /// The fingerprint of the one-element set `{value}`.
    pub fn of_value(value: i64) -> Self {
        Fingerprint { count: 1, sum: element_hash(value) }
    }

    /// The fingerprint of a set given as distinct values.
    pub fn of_values<I: IntoIterator<Item = i64>>(values: I) -> Self {
        let mut fp = Self::EMPTY;
        for v in values {
            fp.add(&Fingerprint::of_value(v));
        }
        fp
    }

    /// Union with a disjoint set.
    #[inline]
    pub fn add(&mut self, other: &Fingerprint) {
        self.count = self.count.wrapping_add(other.count);
        for (a, b) in self.sum.iter_mut().zip(other.sum.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    /// Removes a subset (used for `prefix(hi) - prefix(lo)`).
    #[inline]
    pub fn sub(&mut self, other: &Fingerprint) {
        self.count = self.count.wrapping_sub(other.count);
        for (a, b) in self.sum.iter_mut().zip(other.sum.iter()) {
            *a = a.wrapping_sub(*b);
        }
    }

    /// SHA-256 over the count and the sum: the set digest.
    pub fn digest(&self) -> SetDigest {
        let mut hasher = Sha256::new();
        hasher.update(DIGEST_DOMAIN);
        hasher.update(self.count.to_le_bytes());
        for lane in &self.sum {
            hasher.update(lane.to_le_bytes());
        }
        SetDigest(hasher.finalize().into())
    }

    /// A 16-byte digest prefix, lowercase hex: what reconciliation messages
    /// carry per range.
    pub fn short(&self) -> String {
        to_hex(&self.digest().0[..16])
    }
}

/// A full 32-byte set digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SetDigest(pub [u8; 32]);

impl SetDigest {
    /// Lowercase hex, 64 characters: the `digest` field of `digest_ok`.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl std::fmt::Display for SetDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Lowercase hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sets_that_xor_to_zero_still_differ() {
        // {1, 2, 3} XORs to 0 and {} is empty: a weak digest would collide.
        let a = Fingerprint::of_values([1, 2, 3]).digest();
        let b = Fingerprint::EMPTY.digest();
        assert_ne!(a, b);
        assert_ne!(Fingerprint::of_values([0]).digest(), b);
    }

    #[test]
    fn element_hash_is_sha256_of_the_documented_message() {
        for value in [0, 1, -1, i64::MIN, i64::MAX, 1234567] {
            let lanes = element_hash(value);
            for block in 0..4u8 {
                let mut hasher = Sha256::new();
                hasher.update(ELEMENT_DOMAIN);
                hasher.update([block]);
                hasher.update(value.to_be_bytes());
                let out = hasher.finalize();
                for i in 0..4 {
                    let lane = u64::from_le_bytes(out[8 * i..8 * i + 8].try_into().unwrap());
                    assert_eq!(lanes[4 * block as usize + i], lane);
                }
            }
        }
    }

    #[test]
    fn the_portable_element_hash_agrees() {
        for value in [0, 1, -1, i64::MIN, i64::MAX, 1234567] {
            let blocks = element_blocks(value);
            assert_eq!(compress_each_portable(&blocks), compress_each(&blocks), "value {value}");
        }
    }

    #[test]
    fn subtraction_undoes_addition() {
        let mut fp = Fingerprint::of_values([5, -7, i64::MIN, i64::MAX]);
        fp.sub(&Fingerprint::of_values([-7, i64::MAX]));
        assert_eq!(fp, Fingerprint::of_values([5, i64::MIN]));
    }

    #[test]
    fn digest_hex_is_64_lowercase_chars() {
        let hex = Fingerprint::EMPTY.digest().to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    }
}
