//! SHA-256 compressions of independent blocks, interleaved, on the x86 SHA
//! extensions.
//!
//! One compression is a chain of 32 dependent `sha256rnds2` instructions, so
//! a single block leaves the SHA unit idle most of the time, waiting on the
//! previous result. An element hash needs four compressions that do not
//! depend on each other; issuing them in lockstep lets the CPU overlap them.
//! The `sha2` crate compresses one chain of blocks at a time, hence this
//! module. It follows the `sha2` crate's own SHA-NI backend step for step,
//! and `tests::matches_sha2` holds it to that crate's results.
//!
//! What it pays, measured 2026-12-03 (issue 13) on a 2-core VM with SHA-NI,
//! 2M element hashes per side in one process, three alternations: 249 to
//! 271 ns per element hash here against 287 to 317 ns through `sha2`'s own
//! (serial) SHA-NI path, so 1.10x to 1.21x. Kept for that, but it is
//! the smallest of the node's hand-written speedups, and the first to go if
//! `sha2` learns to interleave.

use core::arch::x86_64::*;

/// SHA-256 round constants (FIPS 180-4, 4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
    0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
    0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Whether this CPU has the instructions this module uses.
pub fn available() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse2")
        && std::is_x86_feature_detected!("ssse3")
        && std::is_x86_feature_detected!("sse4.1")
}

/// A compression stopped after its first six rounds, in the SHA
/// instructions' layout (the word pairs ABEF and CDGH, as the registers
/// named `abef` and `cdgh` below hold them at that point).
///
/// Those rounds read only the block's first 24 bytes, so every block that
/// starts with the same 24 bytes shares this state: the element hash's blocks
/// start with a fixed domain and a lane number, so it computes four midstates
/// once and skips three of each block's 32 round instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Midstate {
    abef: [u32; 4],
    cdgh: [u32; 4],
}

/// Byte order within each 32-bit word: the message is big-endian.
#[inline(always)]
unsafe fn byte_swap_mask() -> __m128i {
    _mm_set_epi64x(0x0C0D_0E0F_0809_0A0Bu64 as i64, 0x0405_0607_0001_0203u64 as i64)
}

/// `state` as the (ABEF, CDGH) pair the SHA instructions work on.
#[inline(always)]
unsafe fn to_abef_cdgh(state: &[u32; 8]) -> (__m128i, __m128i) {
    let state_ptr = state.as_ptr() as *const __m128i;
    let cdab = _mm_shuffle_epi32(_mm_loadu_si128(state_ptr), 0xB1);
    let hgfe = _mm_shuffle_epi32(_mm_loadu_si128(state_ptr.add(1)), 0x1B);
    (_mm_alignr_epi8(cdab, hgfe, 8), _mm_blend_epi16(hgfe, cdab, 0xF0))
}

/// The message words of `block`, four per vector.
#[inline(always)]
unsafe fn message_words(block: &[u8; 64]) -> [__m128i; 4] {
    let block_ptr = block.as_ptr() as *const __m128i;
    core::array::from_fn(|i| _mm_shuffle_epi8(_mm_loadu_si128(block_ptr.add(i)), byte_swap_mask()))
}

/// The first six rounds of compressing `block` from `initial_state`.
///
/// # Safety
/// The CPU must support SHA, SSE2, SSSE3 and SSE4.1 ([`available`]).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub unsafe fn midstate(initial_state: &[u32; 8], block: &[u8; 64]) -> Midstate {
    let (mut abef, mut cdgh) = to_abef_cdgh(initial_state);
    let w = message_words(block);
    let wk = _mm_add_epi32(w[0], _mm_loadu_si128(K.as_ptr() as *const __m128i));
    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
    abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
    let wk = _mm_add_epi32(w[1], _mm_loadu_si128(K.as_ptr().add(4) as *const __m128i));
    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
    let mut out = Midstate { abef: [0; 4], cdgh: [0; 4] };
    _mm_storeu_si128(out.abef.as_mut_ptr() as *mut __m128i, abef);
    _mm_storeu_si128(out.cdgh.as_mut_ptr() as *mut __m128i, cdgh);
    out
}

/// Finishes each block's compression from `initial_state`, independently:
/// entry `i` of the result is the state `sha2::compress256` leaves after
/// `blocks[i]` from `initial_state`, as big-endian bytes (a digest, when the
/// block is a whole padded message), given that `midstates[i]` is
/// `midstate(initial_state, &blocks[i])` (or that of any block with the same
/// first 24 bytes).
///
/// # Safety
/// The CPU must support SHA, SSE2, SSSE3 and SSE4.1 ([`available`]).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub unsafe fn compress_from_midstates<const N: usize>(
    initial_state: &[u32; 8],
    midstates: &[Midstate; N],
    blocks: &[[u8; 64]; N],
) -> [[u8; 32]; N] {
    let (abef_initial, cdgh_initial) = to_abef_cdgh(initial_state);
    let mut abef = midstates.map(|m| _mm_loadu_si128(m.abef.as_ptr() as *const __m128i));
    let mut cdgh = midstates.map(|m| _mm_loadu_si128(m.cdgh.as_ptr() as *const __m128i));
    // The message schedule, four words per vector, as a ring of the last
    // four vectors.
    let mut w = blocks.map(|block| message_words(&block));
    // Four rounds of every block in turn, so the blocks' chains interleave.
    macro_rules! rounds4 {
        ($group:expr, $slot:literal, $schedule:literal) => {
            let k = _mm_loadu_si128(K.as_ptr().add(4 * $group) as *const __m128i);
            for s in 0..N {
                if $schedule {
                    // W[t..t+4] from W[t-16..t]: the ring's oldest vector is
                    // the one being replaced.
                    let t1 = _mm_sha256msg1_epu32(w[s][$slot], w[s][($slot + 1) % 4]);
                    let t2 = _mm_alignr_epi8(w[s][($slot + 3) % 4], w[s][($slot + 2) % 4], 4);
                    w[s][$slot] = _mm_sha256msg2_epu32(_mm_add_epi32(t1, t2), w[s][($slot + 3) % 4]);
                }
                let wk = _mm_add_epi32(w[s][$slot], k);
                cdgh[s] = _mm_sha256rnds2_epu32(cdgh[s], abef[s], wk);
                abef[s] = _mm_sha256rnds2_epu32(abef[s], cdgh[s], _mm_shuffle_epi32(wk, 0x0E));
            }
        };
    }
    // Rounds 6 and 7, the second half of the second group: the midstate
    // holds the first six.
    let k = _mm_loadu_si128(K.as_ptr().add(4) as *const __m128i);
    for s in 0..N {
        let wk = _mm_add_epi32(w[s][1], k);
        abef[s] = _mm_sha256rnds2_epu32(abef[s], cdgh[s], _mm_shuffle_epi32(wk, 0x0E));
    }
    rounds4!(2, 2, false);
    rounds4!(3, 3, false);
    // The 48 scheduled rounds as a loop over one turn of the ring: fully
    // unrolled, four blocks measured 30 ns each instead of 20 (Zen 4), most
    // likely because the body no longer fit the decoded-instruction cache.
    for quad in 1..4 {
        rounds4!(4 * quad, 0, true);
        rounds4!(4 * quad + 1, 1, true);
        rounds4!(4 * quad + 2, 2, true);
        rounds4!(4 * quad + 3, 3, true);
    }

    let mut digests = [[0u8; 32]; N];
    for (s, digest) in digests.iter_mut().enumerate() {
        let feba = _mm_shuffle_epi32(_mm_add_epi32(abef[s], abef_initial), 0x1B);
        let dchg = _mm_shuffle_epi32(_mm_add_epi32(cdgh[s], cdgh_initial), 0xB1);
        let out = digest.as_mut_ptr() as *mut __m128i;
        _mm_storeu_si128(out, _mm_shuffle_epi8(_mm_blend_epi16(feba, dchg, 0xF0), byte_swap_mask()));
        _mm_storeu_si128(out.add(1), _mm_shuffle_epi8(_mm_alignr_epi8(dchg, feba, 8), byte_swap_mask()));
    }
    digests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sha2() {
        if !available() {
            eprintln!("no SHA extensions on this CPU: nothing to compare");
            return;
        }
        let initial: [u32; 8] = core::array::from_fn(|i| 0x0101_0101u32.wrapping_mul(i as u32 + 7));
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200 {
            let blocks: [[u8; 64]; 4] = core::array::from_fn(|_| {
                core::array::from_fn(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (seed >> 56) as u8
                })
            });
            // SAFETY: `available()` said the instructions exist.
            let midstates = blocks.map(|block| unsafe { midstate(&initial, &block) });
            // SAFETY: as above.
            let pair = unsafe { compress_from_midstates(&initial, &[midstates[0], midstates[1]], &[blocks[0], blocks[1]]) };
            // SAFETY: as above.
            let four = unsafe { compress_from_midstates(&initial, &midstates, &blocks) };
            // Only the first 24 bytes matter to a midstate.
            let mut same_start = blocks[0];
            same_start[24..].fill(0xA5);
            // SAFETY: as above.
            assert_eq!(unsafe { midstate(&initial, &same_start) }, midstates[0]);
            for (i, block) in blocks.iter().enumerate() {
                let mut state = initial;
                sha2::compress256(&mut state, &[(*block).into()]);
                let expected: [u8; 32] = core::array::from_fn(|b| state[b / 4].to_be_bytes()[b % 4]);
                assert_eq!(four[i], expected, "block {i} of four");
                if i < 2 {
                    assert_eq!(pair[i], expected, "block {i} of two");
                }
            }
        }
    }
}
