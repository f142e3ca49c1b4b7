//! Feeds arbitrary bytes to a node, one `\n`-separated line at a time, the
//! way the Maelstrom shell does, and checks what must hold whatever the input:
//! no panic, every output encodes to JSON that decodes back to the same
//! message, and the set never loses a value it accepted.

#![no_main]

use anti_entropy::core::wire::{self, Decoded};
use anti_entropy::Node;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut node = Node::new();
    let mut accepted: Vec<i64> = Vec::new();
    for (now_ms, line) in (0u64..).zip(data.split(|&b| b == b'\n')) {
        // Unanswerable lines are the shell's to log; nothing to check here.
        let _ = node.handle_input(now_ms, wire::decode(line));
        while let Some(output) = node.poll_output() {
            let text = wire::encode(&output);
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                panic!("output is not JSON ({e}): {text}");
            }
            match wire::decode(text.as_bytes()) {
                Decoded::Message(decoded) => assert_eq!(decoded, output, "output does not round-trip: {text}"),
                other => panic!("output does not decode as a message ({other:?}): {text}"),
            }
            assert_eq!(wire::wire_len(&output), text.len() as u64 + 1);
        }
        let set = node.set();
        assert!(set.len() >= accepted.len(), "set shrank from {} to {}", accepted.len(), set.len());
        for &value in &accepted {
            assert!(set.contains(value), "accepted value {value} was lost");
        }
        if set.len() != accepted.len() {
            accepted = set.to_vec();
        }
        assert_eq!(set.len(), accepted.len());
    }
});
