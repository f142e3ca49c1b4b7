//! What a node holds at most, and what happens past it: each bound in
//! README's "Bounds" list, tested at the bound. (The input line length is
//! tested in `stdio`'s unit tests, on the reader that enforces it.)

use anti_entropy::core::ack::{AckPolicy, WAITING_BROADCASTS_MAX};
use anti_entropy::NodeConfig;
use anti_entropy::core::wire::{self, error_code, Envelope, Payload};
use anti_entropy::Node;

fn feed(node: &mut Node, now_ms: u64, line: &str) {
    node.handle_input(now_ms, wire::decode(line.as_bytes())).expect("accepted");
}

fn drain(node: &mut Node) -> Vec<Envelope> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

/// A follower `n1` of hub `n0` (which never answers).
fn follower(config: NodeConfig) -> Node {
    let mut node = Node::with_config(config);
    feed(&mut node, 0, r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n0","n1"]}}"#);
    drain(&mut node);
    node
}

fn broadcast(node: &mut Node, now_ms: u64, value: i64) {
    let line = format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"broadcast","msg_id":{},"message":{value}}}}}"#, value + 10);
    feed(node, now_ms, &line);
}

#[test]
fn a_burst_is_pushed_in_messages_of_at_most_a_flush_batch() {
    let config = NodeConfig::default();
    let cap = config.flush_batch_max_values;
    let mut node = follower(config);
    let count = 2 * cap as i64 + 123;
    for v in 0..count {
        broadcast(&mut node, 5, v);
    }
    drain(&mut node);
    let mut pushed = Vec::new();
    let mut pushes = 0;
    for now_ms in 5..200 {
        if node.poll_timeout().is_some_and(|t| t <= now_ms) {
            node.handle_timeout(now_ms);
        }
        for envelope in drain(&mut node) {
            if let Payload::Push { values } = envelope.body.payload {
                assert!(values.len() <= cap, "a push of {} values", values.len());
                pushes += 1;
                pushed.extend(values);
            }
        }
    }
    pushed.sort();
    pushed.dedup();
    assert_eq!(pushed, (0..count).collect::<Vec<_>>(), "every value pushed once the burst is split");
    assert_eq!(pushes, 3);
}

#[test]
fn broadcasts_waiting_for_replication_are_bounded_with_error_11() {
    let mut node = follower(NodeConfig { ack: AckPolicy::AfterReplication, ..NodeConfig::default() });
    for v in 0..WAITING_BROADCASTS_MAX as i64 {
        broadcast(&mut node, 5, v);
        // Nothing answers yet; pushes to the silent hub are all there is.
        assert!(node.poll_output().is_none_or(|e| e.dest == "n0"));
        while node.poll_output().is_some() {}
    }
    let past = WAITING_BROADCASTS_MAX as i64;
    broadcast(&mut node, 6, past);
    let replies = drain(&mut node);
    let reply = replies.iter().find(|e| e.dest == "c1").expect("the broadcast past the bound is answered");
    match &reply.body.payload {
        Payload::Error { code, text } => {
            assert_eq!(*code, error_code::TEMPORARILY_UNAVAILABLE);
            assert!(text.contains("waiting for replication"), "{text}");
        }
        other => panic!("expected error 11, got {other:?}"),
    }
    assert!(!node.set().contains(past), "a refused broadcast is not accepted");
    assert_eq!(node.set().len(), WAITING_BROADCASTS_MAX, "everything accepted is kept");
    // Once the hub shows it holds them (a flush carrying them back), all
    // waiting broadcasts are answered.
    let echo: Vec<i64> = (0..past).collect();
    let flush = format!(
        r#"{{"src":"n0","dest":"n1","body":{{"type":"flush","msg_id":9,"seq":1,"values":{},"digest":"00"}}}}"#,
        serde_json::to_string(&echo).unwrap()
    );
    feed(&mut node, 7, &flush);
    let acks = drain(&mut node).iter().filter(|e| matches!(e.body.payload, Payload::BroadcastOk)).count();
    assert_eq!(acks, WAITING_BROADCASTS_MAX);
}

#[test]
fn a_reconcile_request_past_the_symbol_bounds_gets_error_12() {
    let mut node = follower(NodeConfig::default());
    feed(&mut node, 5, r#"{"src":"n0","dest":"n1","body":{"type":"reconcile_more","msg_id":4,"start":0,"end":100000}}"#);
    let replies = drain(&mut node);
    let error = replies.iter().find_map(|e| match &e.body.payload {
        Payload::Error { code, text } => Some((*code, text.clone())),
        _ => None,
    });
    let (code, text) = error.expect("answered with an error");
    assert_eq!(code, error_code::MALFORMED_REQUEST);
    assert!(text.contains("16384 symbols per message"), "{text}");
}
