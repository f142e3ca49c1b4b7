//! The fast decoders (the hot reader and the fast scanner) against the
//! serde-only one: for generated message-like lines, and for random byte
//! mutations of them, `wire::decode` must give exactly what
//! `wire::decode_without_fast_path` gives (messages, rejections and their
//! texts alike).
//!
//! The generator knows which lines stay inside the fast scanner's form, so it
//! also checks that those lines do take the fast path: the comparison cannot
//! pass by having every line fall back to serde.
//!
//! Native only: proptest is a native dev-dependency (it draws OS randomness,
//! which wasm32-unknown-unknown lacks), and `wasm-pack test` builds every
//! test target for wasm.
#![cfg(not(target_arch = "wasm32"))]

use anti_entropy::core::wire::{self, Decoded};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// A piece of JSON (or almost-JSON) text, and whether it stays inside the
/// fast scanner's form.
#[derive(Clone, Debug)]
struct Json {
    text: String,
    simple: bool,
}

impl Json {
    fn simple(text: impl Into<String>) -> Json {
        Json { text: text.into(), simple: true }
    }

    fn other(text: impl Into<String>) -> Json {
        Json { text: text.into(), simple: false }
    }

    fn quoted(name: &str) -> Json {
        Json::simple(format!("\"{name}\""))
    }
}

/// Integers of every size: in and out of each field's range, `-0`, beyond
/// `u64`; and near-integers JSON forbids (leading zeros, a bare minus, a
/// trailing dot).
fn integer() -> BoxedStrategy<Json> {
    let edges = vec![
        "0",
        "-0",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
    ];
    prop_oneof![
        4 => (0u64..1000).prop_map(|n| Json::simple(n.to_string())),
        2 => any::<i64>().prop_map(|n| Json::simple(n.to_string())),
        2 => any::<u64>().prop_map(|n| Json::simple(n.to_string())),
        2 => prop::sample::select(edges).prop_map(Json::simple),
        1 => "-?[1-9][0-9]{19,40}".prop_map(Json::simple),
        1 => "-?0[0-9]{1,3}".prop_map(Json::other),
        1 => prop::sample::select(vec!["1.", "-", "--1", "+1", ".5", "1.e3", "1e", "0x10", "1-"]).prop_map(Json::other),
    ]
    .boxed()
}

fn float() -> BoxedStrategy<Json> {
    prop_oneof!["-?[0-9]{1,3}\\.[0-9]{1,3}", "-?[1-9][eE][-+]?[0-9]{1,3}", Just("-0.0".to_string()),]
        .prop_map(Json::other)
        .boxed()
}

/// Strings: plain ones, escaped ones, and ones with raw non-ASCII, control
/// or DEL bytes.
fn string() -> BoxedStrategy<Json> {
    let escapes = vec![r#"\""#, r"\\", r"\n", r"\/", r"\u00e9", r"\ud83d\ude00", r"\u0000"];
    let raw_oddities = vec!["é", "😀", "\t", "\x7f", "\u{1}"];
    prop_oneof![
        6 => "[a-z0-9_ ]{0,10}".prop_map(|s| Json::quoted(&s)),
        2 => "[ -~]{0,8}".prop_map(|s| Json {
            text: serde_json::to_string(&s).expect("a string serializes"),
            simple: !s.contains(['"', '\\']),
        }),
        1 => ("[a-z]{0,4}", prop::sample::select(escapes), "[a-z]{0,4}")
            .prop_map(|(a, escape, b)| Json::other(format!("\"{a}{escape}{b}\""))),
        1 => ("[a-z]{0,4}", prop::sample::select(raw_oddities), "[a-z]{0,4}")
            .prop_map(|(a, odd, b)| Json::other(format!("\"{a}{odd}{b}\""))),
    ]
    .boxed()
}

fn scalar() -> BoxedStrategy<Json> {
    prop_oneof![
        3 => integer(),
        3 => string(),
        1 => float(),
        1 => prop::sample::select(vec!["true", "false", "null"]).prop_map(Json::simple),
        1 => prop::sample::select(vec!["tru", "nulll", "False", "nan"]).prop_map(Json::other),
    ]
    .boxed()
}

/// JSON whitespace between tokens: none, one space, or a few of any kind.
fn gap() -> BoxedStrategy<String> {
    prop_oneof![3 => Just(String::new()), 2 => Just(" ".to_string()), 1 => "[ \t\n\r]{1,3}"].boxed()
}

/// An array of `item`s. Only a flat array of simple scalars is simple, and
/// an empty one.
fn array(item: BoxedStrategy<Json>, max_len: usize, items_are_arrays: bool) -> BoxedStrategy<Json> {
    (prop::collection::vec(item, 0..max_len), gap(), gap(), gap(), gap())
        .prop_map(move |(items, open, before_comma, after_comma, close)| {
            let texts: Vec<&str> = items.iter().map(|item| item.text.as_str()).collect();
            Json {
                text: format!("[{open}{}{close}]", texts.join(&format!("{before_comma},{after_comma}"))),
                simple: items.iter().all(|item| item.simple && !items_are_arrays),
            }
        })
        .boxed()
}

/// A nested object (a topology, say): never simple inside a body.
fn object() -> BoxedStrategy<Json> {
    prop::collection::vec(("[a-z0-9]{1,3}", array(string(), 3, false)), 0..3)
        .prop_map(|members| {
            let members: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\": {}", v.text)).collect();
            Json::other(format!("{{{}}}", members.join(", ")))
        })
        .boxed()
}

fn any_value() -> BoxedStrategy<Json> {
    prop_oneof![
        6 => scalar(),
        2 => array(scalar(), 6, false),
        1 => array(array(scalar(), 3, false), 3, true),
        1 => object(),
    ]
    .boxed()
}

/// A key: usually plain, sometimes escaped (`msg_\u0069d` is `msg_id`) or
/// non-ASCII.
fn any_key() -> BoxedStrategy<Json> {
    prop_oneof![
        6 => "[a-z_]{1,8}".prop_map(|k| Json::quoted(&k)),
        1 => prop::sample::select(vec![r#""ty\u0070e""#, r#""msg_\u0069d""#, r#""message\n""#]).prop_map(Json::other),
        1 => Just(Json::other("\"clé\"")),
    ]
    .boxed()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Int,
    Ints,
    Str,
    Strs,
    Bool,
    Topology,
}

/// Body types with their fields, plus a few unknown types.
const TYPES: &[(&str, &[(&str, Kind)])] = {
    use Kind::*;
    &[
        ("init", &[("node_id", Str), ("node_ids", Strs)]),
        ("init_ok", &[]),
        ("topology", &[("topology", Topology)]),
        ("topology_ok", &[]),
        ("broadcast", &[("message", Int)]),
        ("broadcast_ok", &[]),
        ("read", &[]),
        ("read_ok", &[("messages", Ints)]),
        ("digest", &[]),
        ("digest_ok", &[("digest", Str), ("count", Int)]),
        ("digest_sync", &[("remote_digest", Str), ("remote_messages", Ints)]),
        ("digest_sync_ok", &[("match", Bool), ("transferred", Int), ("local_messages", Ints)]),
        ("stats", &[]),
        (
            "stats_ok",
            &[
                ("skipped", Int),
                ("transferred", Int),
                ("bytes_sent", Int),
                ("bytes_saved", Int),
                ("syncs", Int),
                ("bytes_full_state", Int),
                ("messages", Int),
                ("messages_sent", Int),
            ],
        ),
        ("error", &[("code", Int), ("text", Str)]),
        ("push", &[("values", Ints)]),
        ("flush", &[("seq", Int), ("values", Ints), ("digest", Str)]),
        ("sync_full", &[("values", Ints)]),
        ("sync_full_ok", &[("values", Ints)]),
        ("full_state", &[("values", Ints)]),
        ("reconcile", &[("summary", Str), ("parity", Str), ("sums", Str)]),
        ("reconcile_symbols", &[("summary", Str), ("start", Int), ("symbols", Str), ("parity", Str)]),
        ("reconcile_sums", &[("summary", Str), ("sums", Str), ("parity", Str)]),
        ("reconcile_more", &[("start", Int), ("end", Int), ("parity", Bool)]),
        ("reconcile_range", &[("lo", Int), ("hi", Int), ("values", Str)]),
        ("reconcile_values", &[("values", Str)]),
        ("reconcile_buckets", &[("summary", Str), ("buckets", Int), ("start", Int), ("sums", Str), ("which", Str)]),
        ("reconcile_more_sums", &[("buckets", Int), ("start", Int), ("end", Int), ("which", Str)]),
        ("frobnicate", &[("message", Int)]),
        ("Broadcast", &[("message", Int)]),
        ("", &[]),
    ]
};

/// A value for a field of `kind`: usually of that kind, sometimes anything.
fn field_value(kind: Kind) -> BoxedStrategy<Json> {
    let fitting = match kind {
        Kind::Int => integer(),
        Kind::Ints => array(integer(), 8, false),
        Kind::Str => string(),
        Kind::Strs => array(string(), 4, false),
        Kind::Bool => prop::sample::select(vec!["true", "false"]).prop_map(Json::simple).boxed(),
        Kind::Topology => object(),
    };
    prop_oneof![9 => fitting, 1 => any_value()].boxed()
}

/// Spacing around colons and commas, and inside braces, for one line.
#[derive(Clone, Debug)]
struct Style {
    open: String,
    colon: String,
    comma: String,
    close: String,
}

fn style() -> BoxedStrategy<Style> {
    let of = |open: &str, colon: &str, comma: &str, close: &str| Style {
        open: open.into(),
        colon: colon.into(),
        comma: comma.into(),
        close: close.into(),
    };
    prop_oneof![
        2 => Just(of("", ":", ",", "")),
        2 => Just(of("", ": ", ", ", "")),
        1 => (gap(), gap(), gap(), gap(), gap(), gap())
            .prop_map(move |(open, a, b, c, d, close)| of(&open, &format!("{a}:{b}"), &format!("{c},{d}"), &close)),
    ]
    .boxed()
}

fn object_text(members: &[(Json, Json)], style: &Style) -> String {
    let members: Vec<String> = members.iter().map(|(k, v)| format!("{}{}{}", k.text, style.colon, v.text)).collect();
    format!("{{{}{}{}}}", style.open, members.join(&style.comma), style.close)
}

/// Body members: `type`, `msg_id`, perhaps `in_reply_to`, the type's fields
/// (each usually present), perhaps an unknown field and a repeated key, in
/// any order.
fn body_members() -> BoxedStrategy<Vec<(Json, Json)>> {
    (0..TYPES.len())
        .prop_flat_map(|t| {
            let (name, fields) = TYPES[t];
            let type_value = prop_oneof![8 => Just(Json::quoted(name)), 1 => any_value()];
            let msg_id =
                prop_oneof![5 => (0u64..10_000).prop_map(|n| Json::simple(n.to_string())), 1 => integer(), 1 => any_value()];
            let payload: Vec<_> = fields
                .iter()
                .map(|&(field, kind)| prop::option::weighted(0.9, field_value(kind).prop_map(move |v| (Json::quoted(field), v))))
                .collect();
            (
                prop::option::weighted(0.9, type_value.prop_map(|v| (Json::quoted("type"), v))),
                prop::option::weighted(0.85, msg_id.prop_map(|v| (Json::quoted("msg_id"), v))),
                prop::option::weighted(0.15, integer().prop_map(|v| (Json::quoted("in_reply_to"), v))),
                payload,
                prop::option::weighted(0.25, (any_key(), any_value())),
                prop::option::weighted(0.1, (any::<Index>(), scalar())),
            )
        })
        .prop_flat_map(|(type_member, msg_id, in_reply_to, payload, extra, repeat)| {
            let mut members: Vec<(Json, Json)> =
                [type_member, msg_id, in_reply_to].into_iter().chain(payload).flatten().chain(extra).collect();
            if let Some((which, value)) = repeat.filter(|_| !members.is_empty()) {
                let key = members[which.index(members.len())].0.clone();
                members.push((key, value));
            }
            Just(members).prop_shuffle()
        })
        .boxed()
}

fn node_name(prefix: &'static str) -> BoxedStrategy<Json> {
    prop_oneof![
        8 => "[0-9]{1,2}".prop_map(move |n| Json::quoted(&format!("{prefix}{n}"))),
        1 => string(),
        1 => any_value(),
    ]
    // Only a string can be `src` or `dest` on the fast path.
    .prop_map(|v| Json { simple: v.simple && v.text.starts_with('"'), ..v })
    .boxed()
}

/// A generated line, and whether it stays inside the fast scanner's form.
fn line() -> BoxedStrategy<Json> {
    let body = (body_members(), style(), prop::option::weighted(0.05, any_value())).prop_map(|(members, style, instead)| {
        instead.map(|v| Json::other(v.text)).unwrap_or_else(|| Json {
            simple: members.iter().all(|(k, v)| k.simple && v.simple),
            text: object_text(&members, &style),
        })
    });
    let member = |key: &'static str, value: BoxedStrategy<Json>| {
        prop::option::weighted(0.97, value.prop_map(move |v| (Json::quoted(key), v)))
    };
    // A form feed is whitespace to `trim_ascii_start` but not to JSON.
    let lead = prop_oneof![9 => gap().prop_map(Json::simple), 1 => Just(Json::other("\u{c}"))];
    (
        member("src", node_name("c")),
        member("dest", node_name("n")),
        member("body", body.boxed()),
        prop::option::weighted(0.05, (any_key(), any_value())),
        prop::option::weighted(0.03, node_name("c").prop_map(|v| (Json::quoted("src"), v))),
        style(),
        lead,
        gap(),
    )
        .prop_flat_map(|(src, dest, body, extra, second_src, style, lead, trail)| {
            // An unknown envelope key is skipped on both paths; one named like
            // an envelope key is a duplicate, which only serde words.
            let extra_is_other = extra.as_ref().is_none_or(|(k, _)| !["\"src\"", "\"dest\"", "\"body\""].contains(&k.text.as_str()));
            let once_each = src.is_some() && dest.is_some() && body.is_some() && extra_is_other && second_src.is_none();
            let members: Vec<(Json, Json)> = [src, dest, body, extra, second_src].into_iter().flatten().collect();
            let simple = once_each && lead.simple && members.iter().all(|(k, v)| k.simple && v.simple);
            (Just((simple, style, lead.text, trail)), Just(members).prop_shuffle())
        })
        .prop_map(|((simple, style, lead, trail), members)| Json {
            text: format!("{lead}{}{trail}", object_text(&members, &style)),
            simple,
        })
        .boxed()
}

/// One edit of a line's bytes, at a position scaled to its length.
#[derive(Clone, Debug)]
enum Mutation {
    Delete(Index),
    Insert(Index, u8),
    Replace(Index, u8),
    Truncate(Index),
}

fn mutation() -> BoxedStrategy<Mutation> {
    // Mostly bytes that matter to JSON, so a mutation often yields another
    // nearly valid line rather than garbage.
    let byte = prop_oneof![3 => prop::sample::select(b"{}[]\":,\\ -0123456789.eEtrufalsn\t\n".to_vec()), 1 => any::<u8>()];
    prop_oneof![
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), byte.clone()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<Index>(), byte).prop_map(|(at, b)| Mutation::Replace(at, b)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
    .boxed()
}

fn apply(line: &mut Vec<u8>, mutation: &Mutation) {
    match *mutation {
        Mutation::Insert(ref at, byte) => line.insert(at.index(line.len() + 1), byte),
        _ if line.is_empty() => {}
        Mutation::Delete(ref at) => {
            line.remove(at.index(line.len()));
        }
        Mutation::Replace(ref at, byte) => {
            let at = at.index(line.len());
            line[at] = byte;
        }
        Mutation::Truncate(ref at) => line.truncate(at.index(line.len())),
    }
}

fn assert_decoders_agree(line: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(wire::decode(line), wire::decode_without_fast_path(line), "line: {:?}", String::from_utf8_lossy(line));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn generated_lines_decode_alike_on_both_paths(line in line()) {
        if line.simple {
            prop_assert!(wire::takes_fast_path(line.text.as_bytes()), "simple line missed the fast path: {}", line.text);
        }
        assert_decoders_agree(line.text.as_bytes())?;
    }

    #[test]
    fn mutated_lines_decode_alike_on_both_paths(line in line(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let mut bytes = line.text.into_bytes();
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        assert_decoders_agree(&bytes)?;
    }
}

/// The comparison is only worth something if many lines take the fast path
/// and many of those decode to messages, not just to errors.
#[test]
fn the_generator_exercises_the_fast_path() {
    const LINES: usize = 3000;
    let mut runner = TestRunner::deterministic();
    let strategy = line();
    let (mut simple, mut messages, mut hot) = (0, 0, 0);
    for _ in 0..LINES {
        let line = strategy.new_tree(&mut runner).expect("a line").current();
        if !line.simple {
            continue;
        }
        let bytes = line.text.as_bytes();
        assert!(wire::takes_fast_path(bytes), "simple line missed the fast path: {}", line.text);
        simple += 1;
        messages += usize::from(matches!(wire::decode(bytes), Decoded::Message(_)));
        hot += usize::from(wire::takes_hot_path(bytes));
    }
    eprintln!(
        "{LINES} generated lines: {simple} simple (all on the fast path), {messages} of those decode to messages, {hot} through the hot reader"
    );
    assert!(simple >= LINES / 5, "only {simple} of {LINES} generated lines are simple");
    assert!(messages >= simple / 5, "only {messages} of {simple} simple lines decode to messages");
    assert!(hot >= simple / 50, "only {hot} of {simple} simple lines went through the hot reader");
}
