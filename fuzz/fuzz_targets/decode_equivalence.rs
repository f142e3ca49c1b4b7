//! Differential: every `\n`-separated line of the input must decode the same
//! through `wire::decode` (fast scanner first) and through
//! `wire::decode_without_fast_path` (serde alone), down to the error texts.

#![no_main]

use anti_entropy::core::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        assert_eq!(
            wire::decode(line),
            wire::decode_without_fast_path(line),
            "the decoders disagree on {:?}",
            String::from_utf8_lossy(line)
        );
    }
});
