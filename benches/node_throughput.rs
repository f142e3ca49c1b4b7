//! Throughput of the native node against a naive node doing the same I/O.
//!
//! Workload: `init`, 60 000 broadcasts (values 0..60 000) with a `digest`
//! after every 100, then one `read`, piped into a fresh process; the time runs
//! from spawn to exit. The baseline is this bench executable re-invoked with
//! `--naive-node`: the same line loop (`stdio::serve_lines`, `wire::decode`,
//! `wire::write_json`), but a `HashSet<i64>` whose digest is recomputed on every request by collecting,
//! sorting and SHA-256-hashing the ids. Each node runs eleven times,
//! interleaved; medians are reported.
//!
//! A second, in-process figure: one `insert` + `digest()` on a 1 000 000-value
//! `MessageSet` against the naive sort+hash of 1 000 000 values.
//!
//! Run with `cargo bench --bench node_throughput`.

use std::collections::HashSet;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anti_entropy::core::fingerprint::to_hex;
use anti_entropy::core::pinsketch::PIN_CAPACITY;
use anti_entropy::shell::stdio::{self, LineService};
use anti_entropy::core::wire::{self, Body, Decoded, Envelope, Name, Payload};
use anti_entropy::MessageSet;
use sha2::{Digest as _, Sha256};

const NODE_BINARY: &str = env!("CARGO_BIN_EXE_anti-entropy");
const NAIVE_FLAG: &str = "--naive-node";
const BROADCASTS: i64 = 60_000;
const DIGEST_EVERY: i64 = 100;
const RUNS: usize = 11;
const BIG_SET_LEN: i64 = 1_000_000;
const FRESH_INSERTS: usize = 1000;
const NAIVE_BIG_REPS: usize = 5;

fn main() -> ExitCode {
    if std::env::args().any(|a| a == NAIVE_FLAG) {
        return match stdio::serve_lines(&mut NaiveNode::default()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("naive node: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let (node, naive) = process_benchmark();
    timing_splits(node, naive);
    in_process_benchmark();
    ExitCode::SUCCESS
}

// ------------------------------------------------------------ the workload

fn workload() -> (Vec<u8>, usize) {
    let mut input = String::new();
    let mut lines = 0;
    let mut push = |line: String| {
        input.push_str(&line);
        input.push('\n');
        lines += 1;
    };
    push(r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#.into());
    let mut msg_id = 2;
    for value in 0..BROADCASTS {
        push(format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"broadcast","msg_id":{msg_id},"message":{value}}}}}"#));
        msg_id += 1;
        if (value + 1) % DIGEST_EVERY == 0 {
            push(format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"digest","msg_id":{msg_id}}}}}"#));
            msg_id += 1;
        }
    }
    push(format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"read","msg_id":{msg_id}}}}}"#));
    (input.into_bytes(), lines)
}

/// What one run of a node cost.
struct Timing {
    /// Spawn to exit.
    wall: Duration,
    /// User + system CPU time of the node process (all its threads): on a
    /// shared machine this moves far less than wall time.
    cpu: Duration,
}

/// Pipes `input` through a process; returns its timing and stdout lines.
// The child is reaped with wait4, which clippy does not recognise.
#[allow(clippy::zombie_processes)]
fn run_process(command: &mut Command, input: &[u8]) -> (Timing, Vec<String>) {
    let expected_output_len = input.len() * 2;
    let input = input.to_vec();
    let started = Instant::now();
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn node");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = thread::spawn(move || stdin.write_all(&input).expect("write workload"));
    // Output is read in bulk and split afterwards: reading it line by line
    // was slower than the node writes it, so the node's wall time included
    // waits on a full pipe.
    let mut output = Vec::with_capacity(expected_output_len);
    child.stdout.take().expect("stdout").read_to_end(&mut output).expect("read output");
    // wait4 instead of Child::wait: it also reports the child's CPU time.
    // The child is reaped here, so `child` is not waited on again.
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 only writes to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall on our own child's pid with valid out-pointers.
    let reaped = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(reaped, child.id() as libc::pid_t, "wait4: {}", io::Error::last_os_error());
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "node exited with status {status:#x}");
    writer.join().expect("writer");
    let output = String::from_utf8(output).expect("output is UTF-8");
    let lines = output.lines().map(str::to_string).collect();
    let timeval = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    (Timing { wall, cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime) }, lines)
}

/// Checks the replies: every broadcast acknowledged, every digest reporting
/// the count so far, and a read with every value.
fn verify(name: &str, lines: &[String]) {
    let (mut broadcast_ok, mut digest_ok, mut read_ok) = (0i64, 0i64, 0);
    for line in lines {
        let reply: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: bad output line ({e}): {line}"));
        let body = &reply["body"];
        match body["type"].as_str() {
            Some("init_ok") => {}
            Some("broadcast_ok") => broadcast_ok += 1,
            Some("digest_ok") => {
                digest_ok += 1;
                assert_eq!(body["count"].as_i64(), Some(digest_ok * DIGEST_EVERY), "{name}: digest count");
                assert_eq!(body["digest"].as_str().map(str::len), Some(64), "{name}: digest is 64 hex chars");
            }
            Some("read_ok") => {
                read_ok += 1;
                let messages: Vec<i64> = serde_json::from_value(body["messages"].clone()).expect("read_ok messages");
                assert!(messages.iter().copied().eq(0..BROADCASTS), "{name}: read_ok must list 0..{BROADCASTS}");
            }
            other => panic!("{name}: unexpected reply type {other:?}: {line}"),
        }
    }
    assert_eq!(broadcast_ok, BROADCASTS, "{name}: broadcast_ok count");
    assert_eq!(digest_ok, BROADCASTS / DIGEST_EVERY, "{name}: digest_ok count");
    assert_eq!(read_ok, 1, "{name}: read_ok count");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Returns the median CPU times of the node and of the baseline.
fn process_benchmark() -> (Duration, Duration) {
    let (input, input_lines) = workload();
    let naive_exe = std::env::current_exe().expect("current_exe");
    let mut node_runs = Vec::new();
    let mut naive_runs = Vec::new();
    for run in 1..=RUNS {
        let (node, node_lines) = run_process(&mut Command::new(NODE_BINARY), &input);
        verify("node", &node_lines);
        let (naive, naive_lines) = run_process(Command::new(&naive_exe).arg(NAIVE_FLAG), &input);
        verify("naive", &naive_lines);
        assert_eq!(node_lines.len(), naive_lines.len(), "both nodes answer every line");
        eprintln!(
            "run {run}: node {:.1} ms wall / {:.1} ms cpu, naive {:.1} ms wall / {:.1} ms cpu",
            ms(node.wall),
            ms(node.cpu),
            ms(naive.wall),
            ms(naive.cpu)
        );
        node_runs.push(node);
        naive_runs.push(naive);
    }
    let medians = |runs: &[Timing]| (median(runs.iter().map(|t| t.wall).collect()), median(runs.iter().map(|t| t.cpu).collect()));
    let (node_wall, node_cpu) = medians(&node_runs);
    let (naive_wall, naive_cpu) = medians(&naive_runs);
    println!();
    println!(
        "node_throughput: {input_lines} input lines ({} bytes), {BROADCASTS} broadcasts, a digest every {DIGEST_EVERY}, one read; medians of {RUNS} interleaved runs",
        input.len()
    );
    println!("| node                            | wall ms | µs per line | cpu ms | cpu µs per line |");
    println!("|---------------------------------|--------:|------------:|-------:|----------------:|");
    for (name, wall, cpu) in [
        ("anti-entropy (B+ tree, LtHash)", node_wall, node_cpu),
        ("naive (HashSet, sort + SHA-256)", naive_wall, naive_cpu),
    ] {
        println!(
            "| {name:<31} | {:>7.1} | {:>11.2} | {:>6.1} | {:>15.2} |",
            ms(wall),
            us_per(wall, input_lines),
            ms(cpu),
            us_per(cpu, input_lines)
        );
    }
    println!(
        "ratio baseline/node: {:.1}x wall, {:.1}x cpu (target >= 10x)",
        naive_wall.as_secs_f64() / node_wall.as_secs_f64(),
        naive_cpu.as_secs_f64() / node_cpu.as_secs_f64()
    );
    // The fastest runs, the ones least disturbed by other processes on a
    // shared machine: a second view of the same ratio, not the target's.
    let fastest = |runs: &[Timing]| (runs.iter().map(|t| t.wall).min().expect("runs"), runs.iter().map(|t| t.cpu).min().expect("runs"));
    let ((node_wall_min, node_cpu_min), (naive_wall_min, naive_cpu_min)) = (fastest(&node_runs), fastest(&naive_runs));
    println!(
        "fastest runs: node {:.1} ms wall / {:.1} ms cpu, naive {:.1} / {:.1}: {:.1}x wall, {:.1}x cpu",
        ms(node_wall_min),
        ms(node_cpu_min),
        ms(naive_wall_min),
        ms(naive_cpu_min),
        naive_wall_min.as_secs_f64() / node_wall_min.as_secs_f64(),
        naive_cpu_min.as_secs_f64() / node_cpu_min.as_secs_f64()
    );
    (node_cpu, naive_cpu)
}

/// Where the time goes. First the node's per-line work in-process, as the
/// shell does it (decode, handle, encode, line after line); what the
/// process's CPU time holds beyond that is pipes, the reader thread, the
/// channel hand-offs and start-up. Then each stage alone over all lines,
/// which runs colder (each pass walks 60k lines' worth of memory), so the
/// three add up to more than the interleaved loop. Also the baseline's
/// digest work alone.
fn timing_splits(node_cpu: Duration, naive_cpu: Duration) {
    let (input, input_lines) = workload();
    let lines: Vec<&[u8]> = input.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let mut samples = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut node = anti_entropy::Node::new();
        let mut out = Vec::with_capacity(input.len() * 2);
        for line in &lines {
            node.handle_input(0, wire::decode(line)).expect("workload lines are answerable");
            node.for_each_output(|envelope| {
                wire::write_json(&mut out, envelope).expect("vec write");
                out.push(b'\n');
            });
        }
        samples[0].push(started.elapsed());
        black_box(out);

        let started = Instant::now();
        let decoded: Vec<Decoded> = lines.iter().map(|l| wire::decode(l)).collect();
        samples[1].push(started.elapsed());

        let started = Instant::now();
        let mut node = anti_entropy::Node::new();
        let mut outputs = Vec::with_capacity(decoded.len());
        for d in decoded {
            node.handle_input(0, d).expect("workload lines are answerable");
            outputs.extend(std::iter::from_fn(|| node.poll_output()));
        }
        samples[2].push(started.elapsed());

        let started = Instant::now();
        let mut out = Vec::with_capacity(input.len() * 2);
        for envelope in &outputs {
            wire::write_json(&mut out, envelope).expect("vec write");
            out.push(b'\n');
        }
        samples[3].push(started.elapsed());
        black_box(out);
    }
    let [interleaved, decode, handle, encode] = samples.map(median);

    let mut naive_set = HashSet::new();
    let started = Instant::now();
    for value in 0..BROADCASTS {
        naive_set.insert(value);
        if (value + 1) % DIGEST_EVERY == 0 {
            black_box(naive_digest(&naive_set));
        }
    }
    let naive_digests = started.elapsed();

    println!();
    println!("timing splits (in-process, median of {RUNS}, same workload):");
    println!("| stage                                      |    ms | µs per line |");
    println!("|--------------------------------------------|------:|------------:|");
    for (name, d) in [
        ("node: decode, handle, encode, line by line", interleaved),
        ("node: process CPU minus that (I/O, start)", node_cpu.saturating_sub(interleaved)),
        ("alone: wire::decode", decode),
        ("alone: Node::handle_input + poll_output", handle),
        ("alone: wire::write_json", encode),
        ("baseline: 600 digests (sort + SHA-256)", naive_digests),
        ("baseline: process CPU minus digests", naive_cpu.saturating_sub(naive_digests)),
    ] {
        println!("| {name:<42} | {:>5.1} | {:>11.2} |", ms(d), us_per(d, input_lines));
    }
}

fn in_process_benchmark() {
    let build_started = Instant::now();
    let mut set: MessageSet = (0..BIG_SET_LEN).collect();
    let build = build_started.elapsed();
    // Fresh values spread over the whole i64 range, so inserts land all over
    // the tree rather than at its right edge.
    let fresh: Vec<i64> = (1..=FRESH_INSERTS as i64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64)).collect();
    let started = Instant::now();
    for &v in &fresh {
        assert!(set.insert(v), "value {v} is fresh");
        black_box(set.digest());
    }
    let per_insert = started.elapsed() / FRESH_INSERTS as u32;

    // A set that has reconciled once keeps its coded prefix (32,768 symbols
    // for this size) and its 24 power sums up to date on every insert. Ten
    // times as many values as above, into a copy without them and into one
    // with them.
    let mut coded = set.clone();
    coded.coded_prefix();
    coded.power_sums(PIN_CAPACITY);
    let fresh_again: Vec<i64> =
        (1..=10 * FRESH_INSERTS as i64).map(|i| (i ^ 1 << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64)).collect();
    let mut per_insert_pair = [Duration::ZERO; 2];
    for (target, time) in [&mut set, &mut coded].into_iter().zip(per_insert_pair.iter_mut()) {
        let started = Instant::now();
        for &v in &fresh_again {
            assert!(target.insert(v), "value {v} is fresh");
            black_box(target.digest());
        }
        *time = started.elapsed() / fresh_again.len() as u32;
    }
    let [per_insert_plain, per_insert_coded] = per_insert_pair;

    let naive_set: HashSet<i64> = (0..BIG_SET_LEN).collect();
    let mut naive_samples = Vec::new();
    for _ in 0..NAIVE_BIG_REPS {
        let started = Instant::now();
        black_box(naive_digest(&naive_set));
        naive_samples.push(started.elapsed());
    }
    let naive = median(naive_samples);
    println!();
    println!("in-process, {BIG_SET_LEN}-value set (built in {:.0} ms):", ms(build));
    println!("  MessageSet insert + digest(): {:>10.2} µs  (mean of {FRESH_INSERTS} fresh values)", per_insert.as_secs_f64() * 1e6);
    println!(
        "  {} more, without / with the coded prefix and power sums kept: {:.2} / {:.2} µs  (a set that has reconciled: +{:.2} µs per insert)",
        fresh_again.len(),
        per_insert_plain.as_secs_f64() * 1e6,
        per_insert_coded.as_secs_f64() * 1e6,
        per_insert_coded.as_secs_f64() * 1e6 - per_insert_plain.as_secs_f64() * 1e6
    );
    println!("  naive collect+sort+SHA-256:   {:>10.2} µs  (median of {NAIVE_BIG_REPS})", naive.as_secs_f64() * 1e6);
    println!("  ratio naive/MessageSet: {:.0}x", naive.as_secs_f64() / per_insert.as_secs_f64());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us_per(d: Duration, lines: usize) -> f64 {
    d.as_secs_f64() * 1e6 / lines as f64
}

// ------------------------------------------------------------ the baseline

/// The digest a node without incremental fingerprints computes: sort all ids
/// and hash them, 8 bytes big-endian each.
fn naive_digest(values: &HashSet<i64>) -> String {
    let mut sorted: Vec<i64> = values.iter().copied().collect();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    for v in &sorted {
        hasher.update(v.to_be_bytes());
    }
    to_hex(&hasher.finalize())
}

/// The naive node: the same framing as the real one (`stdio::serve_lines`),
/// the same decoder and encoder, and a set without incremental digests.
#[derive(Default)]
struct NaiveNode {
    values: HashSet<i64>,
    node_id: Name,
    next_msg_id: u64,
}

impl LineService for NaiveNode {
    fn handle_line(&mut self, _now_ms: u64, line: &[u8], out: &mut Vec<u8>) {
        let Decoded::Message(request) = wire::decode(line) else {
            return;
        };
        let reply = match request.body.payload {
            Payload::Init { node_id, .. } => {
                self.node_id = node_id.into();
                Payload::InitOk
            }
            Payload::Broadcast { message } => {
                self.values.insert(message);
                Payload::BroadcastOk
            }
            Payload::Read => {
                let mut messages: Vec<i64> = self.values.iter().copied().collect();
                messages.sort_unstable();
                Payload::ReadOk { messages }
            }
            Payload::Digest => Payload::DigestOk { digest: naive_digest(&self.values), count: self.values.len() as u64 },
            _ => return,
        };
        let envelope = Envelope {
            src: self.node_id.clone(),
            dest: request.src,
            body: Body { payload: reply, in_reply_to: request.body.msg_id, msg_id: Some(self.next_msg_id) },
        };
        self.next_msg_id += 1;
        wire::write_json(&mut *out, &envelope).expect("writing to a Vec cannot fail");
        out.push(b'\n');
    }
}
