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

/// Whether this CPU has the instructions [`compress_from`] needs.
pub fn available() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse2")
        && std::is_x86_feature_detected!("ssse3")
        && std::is_x86_feature_detected!("sse4.1")
}

/// Compresses each block from `initial_state`, independently: entry `i` of
/// the result is `sha2::compress256` of `blocks[i]` from `initial_state`.
///
/// # Safety
/// The CPU must support SHA, SSE2, SSSE3 and SSE4.1 ([`available`]).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub unsafe fn compress_from<const N: usize>(initial_state: &[u32; 8], blocks: &[[u8; 64]; N]) -> [[u32; 8]; N] {
    // Byte order within each 32-bit word: the message is big-endian.
    let byte_swap = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0Bu64 as i64, 0x0405_0607_0001_0203u64 as i64);
    // The SHA instructions keep the state as the word pairs ABEF and CDGH.
    let state_ptr = initial_state.as_ptr() as *const __m128i;
    let cdab = _mm_shuffle_epi32(_mm_loadu_si128(state_ptr), 0xB1);
    let hgfe = _mm_shuffle_epi32(_mm_loadu_si128(state_ptr.add(1)), 0x1B);
    let abef_initial = _mm_alignr_epi8(cdab, hgfe, 8);
    let cdgh_initial = _mm_blend_epi16(hgfe, cdab, 0xF0);

    let mut abef = [abef_initial; N];
    let mut cdgh = [cdgh_initial; N];
    // The message schedule, four words per vector, as a ring of the last
    // four vectors.
    let mut w = [[_mm_setzero_si128(); 4]; N];
    for (words, block) in w.iter_mut().zip(blocks) {
        let block_ptr = block.as_ptr() as *const __m128i;
        for (i, word) in words.iter_mut().enumerate() {
            *word = _mm_shuffle_epi8(_mm_loadu_si128(block_ptr.add(i)), byte_swap);
        }
    }
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
    rounds4!(0, 0, false);
    rounds4!(1, 1, false);
    rounds4!(2, 2, false);
    rounds4!(3, 3, false);
    // The 48 scheduled rounds as a loop over one turn of the ring: fully
    // unrolled, the body is too big for the CPU's decoded-instruction cache,
    // and four blocks measured 30 ns each instead of 20 (Zen 4).
    for quad in 1..4 {
        rounds4!(4 * quad, 0, true);
        rounds4!(4 * quad + 1, 1, true);
        rounds4!(4 * quad + 2, 2, true);
        rounds4!(4 * quad + 3, 3, true);
    }

    let mut states = [[0u32; 8]; N];
    for (s, state) in states.iter_mut().enumerate() {
        let feba = _mm_shuffle_epi32(_mm_add_epi32(abef[s], abef_initial), 0x1B);
        let dchg = _mm_shuffle_epi32(_mm_add_epi32(cdgh[s], cdgh_initial), 0xB1);
        let out = state.as_mut_ptr() as *mut __m128i;
        _mm_storeu_si128(out, _mm_blend_epi16(feba, dchg, 0xF0));
        _mm_storeu_si128(out.add(1), _mm_alignr_epi8(dchg, feba, 8));
    }
    states
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
            let pair = unsafe { compress_from(&initial, &[blocks[0], blocks[1]]) };
            let four = unsafe { compress_from(&initial, &blocks) };
            for (i, block) in blocks.iter().enumerate() {
                let mut expected = initial;
                sha2::compress256(&mut expected, &[(*block).into()]);
                assert_eq!(four[i], expected, "block {i} of four");
                if i < 2 {
                    assert_eq!(pair[i], expected, "block {i} of two");
                }
            }
        }
    }
}
