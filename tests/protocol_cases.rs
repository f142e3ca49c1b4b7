//! Data-driven protocol tests through the real binary.
//!
//! Every case in `../shared/cases/*.json` (the mission's samples) and in
//! `tests/cases/*.json` (ours, by theme) is `{name, timeout_ms, input,
//! expected}`: the input lines are fed on stdin, stdin is closed, and each
//! expected line must appear in stdout byte for byte and in order (other
//! lines may come in between). The process must exit 0 within the timeout
//! and must not panic. All failing cases are reported together.
//!
//! Inputs too large to store as JSON (megabyte lines) are generated below.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anti_entropy::MessageSet;
use serde::Deserialize;

const BINARY: &str = env!("CARGO_BIN_EXE_anti-entropy");
const SHARED_CASES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/cases");
const OWN_CASES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases");

#[derive(Deserialize)]
struct Case {
    name: String,
    timeout_ms: u64,
    input: Vec<String>,
    expected: Vec<String>,
}

/// What one run of the binary produced.
struct Run {
    stdout: String,
    stderr: String,
    /// `None` when the process was killed at the timeout.
    exit_code: Option<i32>,
    elapsed: Duration,
}

/// Feeds `input` (raw bytes, lines already joined) to a fresh node, closes
/// stdin, and collects both output streams until exit or `timeout`.
fn run_binary(input: Vec<u8>, timeout: Duration) -> Run {
    let started = Instant::now();
    let mut child = Command::new(BINARY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = thread::spawn(move || {
        // A node that exits early closes the pipe; that shows up in the
        // output checks, not as a write error here.
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let exit_code = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status.code().unwrap_or(-1));
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(2));
    };
    let elapsed = started.elapsed();
    writer.join().expect("writer thread");
    let stdout = String::from_utf8_lossy(&out_reader.join().expect("stdout thread")).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().expect("stderr thread")).into_owned();
    Run { stdout, stderr, exit_code, elapsed }
}

fn input_bytes(lines: &[String]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

/// Shortens a line for a report (some are megabytes long).
fn clip(line: &str) -> String {
    const LIMIT: usize = 300;
    if line.len() <= LIMIT {
        return line.to_string();
    }
    let cut = (0..=LIMIT).rev().find(|&i| line.is_char_boundary(i)).unwrap_or(0);
    format!("{}… ({} bytes)", &line[..cut], line.len())
}

/// Checks a run against the expected lines; returns a readable report of
/// everything wrong, or `None` when the run passes.
fn check_run(run: &Run, expected: &[String], timeout: Duration) -> Option<String> {
    let mut problems = String::new();
    match run.exit_code {
        Some(0) => {}
        Some(code) => writeln!(problems, "  exit code {code}, expected 0").unwrap(),
        None => writeln!(problems, "  did not exit within {timeout:?} after stdin closed (killed)").unwrap(),
    }
    if run.stderr.contains("panicked") {
        writeln!(problems, "  stderr reports a panic:\n{}", indent(&run.stderr, "    ")).unwrap();
    }
    let actual: Vec<&str> = run.stdout.lines().collect();
    let mut next = 0;
    let mut missing = Vec::new();
    for (index, want) in expected.iter().enumerate() {
        match actual[next..].iter().position(|got| got == want) {
            Some(offset) => next += offset + 1,
            None => missing.push((index, want)),
        }
    }
    if !missing.is_empty() {
        writeln!(problems, "  {} of {} expected lines not found in order:", missing.len(), expected.len()).unwrap();
        for (index, want) in &missing {
            writeln!(problems, "    - expected[{index}]: {}", clip(want)).unwrap();
            // The closest actual line (longest common prefix) makes a
            // one-field difference easy to spot.
            if let Some(near) = actual.iter().max_by_key(|got| common_prefix_len(got, want)) {
                let at = common_prefix_len(near, want);
                writeln!(problems, "      nearest actual:  {}", clip(near)).unwrap();
                writeln!(problems, "      first difference at byte {at}: expected {:?}, got {:?}", clip(&want[at..]), clip(&near[at..]))
                    .unwrap();
            }
        }
        writeln!(problems, "  actual stdout ({} lines):", actual.len()).unwrap();
        for got in &actual {
            writeln!(problems, "    | {}", clip(got)).unwrap();
        }
        if !run.stderr.is_empty() {
            writeln!(problems, "  stderr:\n{}", indent(&clip(&run.stderr), "    ")).unwrap();
        }
    }
    (!problems.is_empty()).then_some(problems)
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    a.char_indices().zip(b.chars()).take_while(|((_, x), y)| x == y).map(|((i, x), _)| i + x.len_utf8()).last().unwrap_or(0)
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

fn load_cases(dir: &Path) -> Vec<(PathBuf, Case)> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| {
        panic!("case folder {} is missing or unreadable ({e}); the shared cases live next to the worktree", dir.display())
    });
    let mut files: Vec<PathBuf> =
        entries.map(|e| e.expect("directory entry").path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    files.sort();
    assert!(!files.is_empty(), "no *.json case files in {}", dir.display());
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let parsed: Vec<Case> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not a list of cases: {e}", file.display()));
        assert!(!parsed.is_empty(), "{} holds no cases", file.display());
        cases.extend(parsed.into_iter().map(|case| (file.clone(), case)));
    }
    cases
}

/// Runs every case in `dir` (two at a time: the machine has two cores) and
/// fails with one report listing every failing case.
fn run_case_folder(dir: &str) {
    let cases = load_cases(Path::new(dir));
    let reports: Vec<Option<String>> = thread::scope(|scope| {
        let chunks: Vec<_> = cases.chunks(cases.len().div_ceil(2)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(file, case)| {
                            assert!(!case.expected.is_empty(), "case {:?} in {} expects nothing", case.name, file.display());
                            let timeout = Duration::from_millis(case.timeout_ms);
                            let run = run_binary(input_bytes(&case.input), timeout);
                            check_run(&run, &case.expected, timeout).map(|problems| {
                                let file_name = file.file_name().unwrap_or_default().to_string_lossy();
                                format!("FAILED {file_name}: {:?}\n{problems}", case.name)
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("case runner")).collect()
    });
    let failures: Vec<String> = reports.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{} of {} cases in {dir} failed:\n\n{}", failures.len(), cases.len(), failures.join("\n"));
    eprintln!("{} cases in {dir} passed", cases.len());
}

#[test]
fn shared_cases() {
    run_case_folder(SHARED_CASES_DIR);
}

#[test]
fn own_cases() {
    run_case_folder(OWN_CASES_DIR);
}

/// The protocol's limit for one run. Unoptimised builds hash about ten times
/// slower (SHA-256 without optimisation), so a debug `cargo test` gets a
/// looser bound for the generated megabyte inputs; the 5 s limit itself is
/// checked by `cargo test --release`.
fn large_input_timeout() -> Duration {
    if cfg!(debug_assertions) {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(5)
    }
}

const INIT: &str = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#;
const INIT_OK: &str = r#"{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}"#;

fn assert_run_passes(run: &Run, expected: &[String], timeout: Duration) {
    if let Some(problems) = check_run(run, expected, timeout) {
        panic!("run took {:?}:\n{problems}", run.elapsed);
    }
}

fn json_list(values: impl IntoIterator<Item = i64>) -> String {
    let items: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
    format!("[{}]", items.join(", "))
}

#[test]
fn digest_sync_with_100k_remote_messages_on_one_line() {
    // Spread-out values, both signs, every one new to the node except the
    // three it already holds.
    let held = [-5i64, 0, 77];
    let remote: Vec<i64> = (0..100_000i64).map(|i| (i - 50_000) * 92_233_720_368_547 + i % 7).chain(held).collect();
    let remote_json: Vec<String> = remote.iter().map(|v| v.to_string()).collect();
    let mut input = vec![INIT.to_string()];
    for (i, v) in held.iter().enumerate() {
        input.push(format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"broadcast","msg_id":{},"message":{v}}}}}"#, 2 + i));
    }
    input.push(format!(
        r#"{{"src":"c1","dest":"n1","body":{{"type":"digest_sync","msg_id":9,"remote_digest":"0","remote_messages":[{}]}}}}"#,
        remote_json.join(",")
    ));
    input.push(r#"{"src":"c1","dest":"n1","body":{"type":"digest","msg_id":10}}"#.to_string());
    let input_len: usize = input.iter().map(|l| l.len() + 1).sum();
    assert!(input_len > 2_000_000, "the sync line should be megabytes, is {input_len} bytes");

    let merged: MessageSet = remote.iter().copied().collect();
    let transferred = merged.len() - held.len();
    let mut expected = vec![INIT_OK.to_string()];
    for i in 0..held.len() {
        expected.push(format!(r#"{{"src": "n1", "dest": "c1", "body": {{"type": "broadcast_ok", "in_reply_to": {}, "msg_id": {}}}}}"#, 2 + i, 1 + i));
    }
    expected.push(format!(
        r#"{{"src": "n1", "dest": "c1", "body": {{"type": "digest_sync_ok", "match": false, "transferred": {transferred}, "local_messages": {}, "in_reply_to": 9, "msg_id": 4}}}}"#,
        json_list(merged.to_vec())
    ));
    expected.push(format!(
        r#"{{"src": "n1", "dest": "c1", "body": {{"type": "digest_ok", "digest": "{}", "count": {}, "in_reply_to": 10, "msg_id": 5}}}}"#,
        merged.digest().to_hex(),
        merged.len()
    ));
    let timeout = large_input_timeout();
    let run = run_binary(input_bytes(&input), timeout);
    assert_run_passes(&run, &expected, timeout);
    eprintln!("100k-value digest_sync ({input_len} bytes in) answered in {:?}", run.elapsed);
}

#[test]
fn five_megabyte_garbage_line_does_not_kill_the_node() {
    // Printable junk with braces and quotes, so the parser does real work
    // before it gives up; no newline inside.
    let pattern = b"{\"src\": [\"x\\u00e9\" 12.5e9, {{ ]] nul\x01l \xff\xfe garbage ";
    let garbage: Vec<u8> = pattern.iter().copied().cycle().take(5 << 20).collect();
    let mut input = Vec::new();
    input.extend_from_slice(INIT.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(&garbage);
    input.push(b'\n');
    input.extend_from_slice(br#"{"src":"c1","dest":"n1","body":{"type":"broadcast","msg_id":2,"message":12}}"#);
    input.push(b'\n');
    input.extend_from_slice(&garbage[..1 << 20]); // no newline at the end either
    input.push(b'\n');
    input.extend_from_slice(br#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":3}}"#);
    let expected = [
        INIT_OK.to_string(),
        r#"{"src": "n1", "dest": "c1", "body": {"type": "broadcast_ok", "in_reply_to": 2, "msg_id": 1}}"#.to_string(),
        r#"{"src": "n1", "dest": "c1", "body": {"type": "read_ok", "messages": [12], "in_reply_to": 3, "msg_id": 2}}"#.to_string(),
    ];
    let timeout = large_input_timeout();
    let run = run_binary(input, timeout);
    assert_run_passes(&run, &expected, timeout);
    assert_eq!(run.stdout.lines().count(), expected.len(), "garbage must not be answered:\n{}", run.stdout);
}

#[test]
fn two_nodes_fed_one_set_in_different_orders_print_the_same_digest_line() {
    let values: Vec<i64> = (0..500i64).map(|i| (i * 7_919) % 1_009 - 300).chain([i64::MIN, i64::MAX, 0]).collect();
    let mut shuffled: Vec<i64> = values.iter().rev().copied().collect();
    shuffled.rotate_left(123);
    shuffled.extend(values.iter().step_by(7)); // repetitions
    let digest_line = |order: &[i64]| -> String {
        let mut input = vec![INIT.to_string()];
        for v in order {
            input.push(format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"broadcast","msg_id":5,"message":{v}}}}}"#));
        }
        input.push(r#"{"src":"c1","dest":"n1","body":{"type":"digest","msg_id":6}}"#.to_string());
        let timeout = Duration::from_secs(5);
        let run = run_binary(input_bytes(&input), timeout);
        assert_run_passes(&run, &[INIT_OK.to_string()], timeout);
        let line = run.stdout.lines().find(|l| l.contains(r#""type": "digest_ok""#)).expect("a digest_ok line").to_string();
        // msg_id differs with the number of broadcasts; compare the rest.
        line.rsplit_once(r#", "msg_id": "#).expect("msg_id field").0.to_string()
    };
    let a = digest_line(&values);
    let b = digest_line(&shuffled);
    assert_eq!(a, b);
    let set: MessageSet = values.iter().copied().collect();
    let expected = format!(
        r#"{{"src": "n1", "dest": "c1", "body": {{"type": "digest_ok", "digest": "{}", "count": {}, "in_reply_to": 6"#,
        set.digest().to_hex(),
        set.len()
    );
    assert_eq!(a, expected);
}
