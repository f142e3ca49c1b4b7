//! The real binary, several processes at once: a small Maelstrom stand-in.
//!
//! Starts N `anti-entropy` processes, sends each `init`, and routes every
//! line a node prints to its destination's stdin after a network delay, in
//! real time, dropping node-to-node lines across a partition. Clients (this
//! test) play a broadcast/read workload, heal, wait, read every node, and the
//! simulator's `set-full` checker judges the history. This is the check that
//! the shell (threads, timers, buffering) runs the protocol as well as the
//! simulator's in-process nodes do.

use std::collections::{BTreeMap, BinaryHeap};
use std::cmp::Reverse;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anti_entropy::core::rng::Rng;
use anti_entropy::sim::{check_set_full, History, Operation, SetFullResult};
use serde_json::{json, Value};

/// A line in flight to `to`'s stdin.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    due: Instant,
    sequence: u64,
    to: usize,
    line: String,
}

/// One line read from a node's stdout.
struct Printed {
    from: usize,
    line: String,
}

struct Cluster {
    children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
    printed: Receiver<Printed>,
    /// Kept to route the stdout of restarted nodes.
    tx: Sender<Printed>,
    stderr_lines: Arc<Mutex<Vec<String>>>,
    started: Instant,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    sequence: u64,
    /// `cut[a][b]`: lines from a to b are dropped.
    cut: Vec<Vec<bool>>,
    rng: Rng,
    latency_ms: (u64, u64),
    history: History,
    pending: BTreeMap<u64, Operation>,
    next_msg_id: u64,
    node_to_node_lines: u64,
    /// Bytes of node-to-node lines printed (newline included), delivered or not.
    node_to_node_bytes: u64,
    /// Final reads by node, once answered.
    final_reads: BTreeMap<u64, usize>,
    /// Command-line arguments every node process gets.
    node_args: Vec<String>,
    final_values: BTreeMap<usize, Vec<i64>>,
}

impl Cluster {
    /// Starts node process `from`, its stdout routed through `tx`.
    fn spawn_node(
        from: usize,
        args: &[String],
        tx: &Sender<Printed>,
        stderr_lines: &Arc<Mutex<Vec<String>>>,
    ) -> Child {
        let mut child = Command::new(env!("CARGO_BIN_EXE_anti-entropy"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the node binary starts");
        let stdout = child.stdout.take().unwrap();
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(Printed { from, line }).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(stderr_lines);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(format!("n{from}: {line}"));
            }
        });
        child
    }

    fn start(node_count: usize, latency_ms: (u64, u64), seed: u64) -> Cluster {
        Self::start_with_args(node_count, latency_ms, seed, &[])
    }

    fn start_with_args(node_count: usize, latency_ms: (u64, u64), seed: u64, args: &[&str]) -> Cluster {
        let node_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (tx, printed) = mpsc::channel();
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let mut children = Vec::new();
        let mut stdins = Vec::new();
        for from in 0..node_count {
            let mut child = Self::spawn_node(from, &node_args, &tx, &stderr_lines);
            stdins.push(child.stdin.take());
            children.push(child);
        }
        let mut cluster = Cluster {
            tx,
            children,
            stdins,
            printed,
            stderr_lines,
            started: Instant::now(),
            in_flight: BinaryHeap::new(),
            sequence: 0,
            cut: vec![vec![false; node_count]; node_count],
            rng: Rng::new(seed),
            latency_ms,
            history: History::new(),
            pending: BTreeMap::new(),
            next_msg_id: 0,
            node_to_node_lines: 0,
            node_to_node_bytes: 0,
            final_reads: BTreeMap::new(),
            final_values: BTreeMap::new(),
            node_args,
        };
        for node in 0..node_count {
            cluster.send_init(node);
        }
        cluster
    }

    fn send_init(&mut self, node: usize) {
        let node_ids: Vec<String> = (0..self.cut.len()).map(|i| format!("n{i}")).collect();
        let msg_id = self.next_id();
        let init = json!({"src": "c-setup", "dest": format!("n{node}"),
            "body": {"type": "init", "node_id": format!("n{node}"), "node_ids": node_ids, "msg_id": msg_id}});
        self.write_line(node, &init.to_string());
    }

    /// Kills `node` with SIGKILL (everything it held is gone), starts a new
    /// process in its place and sends it `init`, as a supervisor would.
    fn kill_and_restart(&mut self, node: usize) {
        let _ = self.children[node].kill();
        let _ = self.children[node].wait();
        let mut child = Self::spawn_node(node, &self.node_args, &self.tx, &self.stderr_lines);
        self.stdins[node] = child.stdin.take();
        self.children[node] = child;
        self.send_init(node);
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn next_id(&mut self) -> u64 {
        self.next_msg_id += 1;
        self.next_msg_id
    }

    fn write_line(&mut self, node: usize, line: &str) {
        if let Some(stdin) = self.stdins[node].as_mut() {
            // A node that died shows up as a failed check, with its stderr.
            let _ = writeln!(stdin, "{line}").and_then(|_| stdin.flush());
        }
    }

    /// A client request, delivered at once (clients always reach nodes).
    fn request(&mut self, node: usize, operation: Operation) -> u64 {
        let msg_id = self.next_id();
        let body = match operation {
            Operation::Add(value) => json!({"type": "broadcast", "message": value, "msg_id": msg_id}),
            Operation::Read => json!({"type": "read", "msg_id": msg_id}),
        };
        self.history.invoke(self.now_ms(), msg_id, operation.clone());
        self.pending.insert(msg_id, operation);
        let line = json!({"src": format!("c{node}"), "dest": format!("n{node}"), "body": body}).to_string();
        self.write_line(node, &line);
        msg_id
    }

    fn set_partition(&mut self, group: &[usize]) {
        let n = self.cut.len();
        for a in 0..n {
            for b in 0..n {
                self.cut[a][b] = group.contains(&a) != group.contains(&b);
            }
        }
    }

    /// Routes lines and delivers due ones until `until`.
    fn pump_until(&mut self, until: Instant) {
        loop {
            let now = Instant::now();
            while self.in_flight.peek().is_some_and(|Reverse(f)| f.due <= now) {
                let Reverse(flight) = self.in_flight.pop().unwrap();
                self.write_line(flight.to, &flight.line);
            }
            if now >= until {
                return;
            }
            let next_due = self.in_flight.peek().map_or(until, |Reverse(f)| f.due.min(until));
            match self.printed.recv_timeout(next_due.saturating_duration_since(now)) {
                Ok(printed) => self.route(printed),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn route(&mut self, Printed { from, line }: Printed) {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            panic!("n{from} printed a line that is not JSON: {line}");
        };
        let dest = message["dest"].as_str().unwrap_or_default();
        if let Some(to) = dest.strip_prefix('n').and_then(|i| i.parse::<usize>().ok()) {
            self.node_to_node_lines += 1;
            self.node_to_node_bytes += line.len() as u64 + 1;
            if to < self.cut.len() && !self.cut[from][to] {
                let (lo, hi) = self.latency_ms;
                let delay_ms = lo + self.rng.below(hi - lo + 1);
                self.sequence += 1;
                let due = Instant::now() + Duration::from_millis(delay_ms);
                self.in_flight.push(Reverse(InFlight { due, sequence: self.sequence, to, line }));
            }
            return;
        }
        let body = &message["body"];
        let Some(op_id) = body["in_reply_to"].as_u64() else { return };
        let Some(operation) = self.pending.remove(&op_id) else { return };
        let now_ms = self.now_ms();
        match (operation, body["type"].as_str()) {
            (Operation::Add(value), Some("broadcast_ok")) => self.history.add_ok(now_ms, op_id, value),
            (Operation::Read, Some("read_ok")) => {
                let values: Vec<i64> =
                    body["messages"].as_array().into_iter().flatten().filter_map(Value::as_i64).collect();
                if let Some(node) = self.final_reads.get(&op_id) {
                    self.final_values.insert(*node, values.clone());
                }
                self.history.read_ok(now_ms, op_id, values);
            }
            (_, other) => panic!("unexpected reply {other:?} to client op {op_id}: {line}"),
        }
    }

    /// Closes every stdin and waits (bounded) for the nodes to exit.
    fn shut_down(&mut self) -> Vec<Option<i32>> {
        self.stdins.iter_mut().for_each(|s| drop(s.take()));
        let deadline = Instant::now() + Duration::from_secs(5);
        self.children
            .iter_mut()
            .map(|child| loop {
                match child.try_wait() {
                    Ok(Some(status)) => break status.code(),
                    _ if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break None;
                    }
                    _ => thread::sleep(Duration::from_millis(10)),
                }
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Outcome {
    result: SetFullResult,
    final_values: BTreeMap<usize, Vec<i64>>,
    node_to_node_lines: u64,
    exit_codes: Vec<Option<i32>>,
    stderr_tail: Vec<String>,
}

/// Plays: `workload_ms` of ops at `rate_per_s` (partitioned from
/// `partition_ms.0` to `partition_ms.1`), then `quiet_ms`, then final reads.
fn play(node_count: usize, rate_per_s: u64, workload_ms: u64, partition_ms: (u64, u64), quiet_ms: u64) -> Outcome {
    let mut cluster = Cluster::start(node_count, (5, 25), 1);
    let start = cluster.started;
    let at = |ms: u64| start + Duration::from_millis(ms);
    let gap_ms = 1000 / rate_per_s;
    let mut next_value = 0;
    let mut partitioned = false;
    let mut t = gap_ms;
    while t < workload_ms {
        cluster.pump_until(at(t));
        if !partitioned && (partition_ms.0..partition_ms.1).contains(&t) {
            let half: Vec<usize> = (0..node_count / 2).collect();
            cluster.set_partition(&half);
            partitioned = true;
        } else if partitioned && t >= partition_ms.1 {
            cluster.set_partition(&[]);
            partitioned = false;
        }
        let node = cluster.rng.index(node_count);
        if cluster.rng.chance(0.5) {
            cluster.request(node, Operation::Read);
        } else {
            cluster.request(node, Operation::Add(next_value));
            next_value += 1;
        }
        t += gap_ms;
    }
    cluster.set_partition(&[]);
    cluster.pump_until(at(workload_ms + quiet_ms));
    for node in 0..node_count {
        let op_id = cluster.request(node, Operation::Read);
        cluster.final_reads.insert(op_id, node);
    }
    let final_deadline = Instant::now() + Duration::from_secs(3);
    while cluster.final_values.len() < node_count && Instant::now() < final_deadline {
        cluster.pump_until(Instant::now() + Duration::from_millis(20));
    }
    let exit_codes = cluster.shut_down();
    let stderr_tail = {
        let lines = cluster.stderr_lines.lock().unwrap();
        lines.iter().rev().take(20).rev().cloned().collect()
    };
    Outcome {
        result: check_set_full(&cluster.history),
        final_values: std::mem::take(&mut cluster.final_values),
        node_to_node_lines: cluster.node_to_node_lines,
        exit_codes,
        stderr_tail,
    }
}

#[test]
fn five_processes_survive_a_partition_and_converge() {
    let started = Instant::now();
    let outcome = play(5, 40, 3_000, (800, 1_800), 1_500);
    let r = &outcome.result;
    let context = format!("{r:?}\nstderr tail:\n{}", outcome.stderr_tail.join("\n"));
    assert!(r.attempt_count > 30, "{context}");
    assert_eq!(r.acknowledged_count, r.attempt_count, "{context}");
    assert_eq!(r.lost_count, 0, "lost {:?}: {context}", r.lost);
    assert!(r.valid, "{context}");
    assert_eq!(outcome.final_values.len(), 5, "every final read answered: {context}");
    let first = &outcome.final_values[&0];
    assert_eq!(first.len() as u64, r.attempt_count, "{context}");
    assert!(outcome.final_values.values().all(|v| v == first), "final reads differ: {context}");
    assert!(outcome.node_to_node_lines > 0, "{context}");
    assert!(outcome.exit_codes.iter().all(|c| *c == Some(0)), "{:?}: {context}", outcome.exit_codes);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

/// Issue 4's process-level check: two real nodes agree on 20k values, the
/// link between them is cut, 10 new values reach the hub, the link heals.
/// The follower notices (a gap in the hub's flushes, or its digest) and
/// repairs by reconciliation: the node-to-node bytes from the heal until
/// both hold the same set must stay under 4 KB (a whole-set repair would
/// move about 2 × 130 KB).
#[test]
fn two_processes_repair_ten_values_after_a_cut_in_under_4_kb() {
    const AGREED: i64 = 20_000;
    const NEW: i64 = 10;
    let mut cluster = Cluster::start(2, (5, 25), 7);
    let mut next_value = 0;
    while next_value < AGREED {
        for _ in 0..1000 {
            cluster.request(0, Operation::Add(next_value));
            next_value += 1;
        }
        cluster.pump_until(Instant::now() + Duration::from_millis(20));
    }
    let agreed = wait_for_equal_sets(&mut cluster, AGREED as usize, Duration::from_secs(10));
    assert!(agreed.is_some(), "the two nodes never agreed on {AGREED} values");

    cluster.set_partition(&[0]);
    for _ in 0..NEW {
        cluster.request(0, Operation::Add(next_value));
        next_value += 1;
    }
    cluster.pump_until(Instant::now() + Duration::from_millis(1500));
    let bytes_at_heal = cluster.node_to_node_bytes;
    cluster.set_partition(&[]);
    let healed = wait_for_equal_sets(&mut cluster, (AGREED + NEW) as usize, Duration::from_secs(5));
    let repair_bytes = cluster.node_to_node_bytes - bytes_at_heal;
    let stderr_tail = cluster.stderr_lines.lock().unwrap().iter().rev().take(10).cloned().collect::<Vec<_>>();
    let convergence = healed.unwrap_or_else(|| panic!("no convergence after the heal; stderr tail: {stderr_tail:?}"));
    eprintln!("repair after the heal: {repair_bytes} node-to-node bytes, converged in {convergence:?}");
    assert!(repair_bytes <= 4096, "{repair_bytes} bytes between heal and agreement");
}

/// Issue 11's case with real processes: two nodes cut apart from the start
/// are both loaded with the same 20k values (two replicas restored from one
/// backup), ten more values differ, the link heals. The follower had pushed
/// all 20k to a hub it could not reach; re-pushing them blindly moved about
/// 130 KB at the heal (690 KB at 100k values). It reconciles instead, so the
/// heal costs what the agreed case above costs: under 4 KB.
#[test]
fn two_processes_loaded_alike_while_apart_heal_for_the_difference() {
    const LOADED: i64 = 20_000;
    const DIFFERING: i64 = 10;
    let mut cluster = Cluster::start(2, (5, 25), 11);
    cluster.set_partition(&[0]);
    let mut v = 0;
    while v < LOADED {
        for _ in 0..1000 {
            cluster.request(0, Operation::Add(v));
            cluster.request(1, Operation::Add(v));
            v += 1;
        }
        cluster.pump_until(Instant::now() + Duration::from_millis(20));
    }
    for k in 0..DIFFERING {
        cluster.request((k % 2) as usize, Operation::Add(LOADED + k));
    }
    // Long enough for the follower's pushes to be overdue several times.
    cluster.pump_until(Instant::now() + Duration::from_millis(2500));
    let bytes_at_heal = cluster.node_to_node_bytes;
    cluster.set_partition(&[]);
    let healed = wait_for_equal_sets(&mut cluster, (LOADED + DIFFERING) as usize, Duration::from_secs(5));
    let heal_bytes = cluster.node_to_node_bytes - bytes_at_heal;
    let convergence = healed.expect("no convergence after the heal");
    eprintln!("heal after loading both sides: {heal_bytes} node-to-node bytes, converged in {convergence:?}");
    assert!(heal_bytes <= 4096, "{heal_bytes} bytes between heal and agreement");
}

/// Reads every node every 20 ms until all hold `count` values and agree;
/// returns how long that took.
fn wait_for_equal_sets(cluster: &mut Cluster, count: usize, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let node_count = cluster.cut.len();
    while started.elapsed() < limit {
        cluster.final_values.clear();
        for node in 0..node_count {
            let op_id = cluster.request(node, Operation::Read);
            cluster.final_reads.insert(op_id, node);
        }
        cluster.pump_until(Instant::now() + Duration::from_millis(20));
        let first = cluster.final_values.get(&0);
        if first.is_some_and(|a| a.len() == count) && (1..node_count).all(|n| cluster.final_values.get(&n) == first) {
            return Some(started.elapsed());
        }
    }
    None
}

/// The issue's case with real processes: three nodes agree on 20,000
/// values; one is killed with SIGKILL and started again empty, then sent
/// `init`. It must be refilled within a second, and the node-to-node bytes
/// from the restart until all agree stay within one packed listing of the
/// set (3.3 KB of Elias-Fano for 20,000 consecutive ids; 26.7 KB in delta
/// varints) and [`REFILL_OVERHEAD_BYTES`]: before, the hub's refill cost
/// 286.6 KB and 2 s.
fn killed_node_is_refilled(node: usize) {
    const AGREED: i64 = 20_000;
    let mut cluster = Cluster::start(3, (1, 2), 11);
    let mut next_value = 0;
    while next_value < AGREED {
        for _ in 0..1000 {
            cluster.request((next_value % 3) as usize, Operation::Add(next_value));
            next_value += 1;
        }
        cluster.pump_until(Instant::now() + Duration::from_millis(20));
    }
    assert!(wait_for_equal_sets(&mut cluster, AGREED as usize, Duration::from_secs(10)).is_some(), "agreement");
    cluster.pump_until(Instant::now() + Duration::from_millis(300));
    let bytes_at_restart = cluster.node_to_node_bytes;
    cluster.kill_and_restart(node);
    let refilled = wait_for_equal_sets(&mut cluster, AGREED as usize, Duration::from_secs(10));
    let refill_bytes = cluster.node_to_node_bytes - bytes_at_restart;
    let listing_bytes = anti_entropy::core::reconcile::pack_values(&(0..AGREED).collect::<Vec<_>>()).len() as f64;
    let refilled = refilled.unwrap_or_else(|| panic!("n{node} was never refilled"));
    eprintln!("n{node} killed and restarted: refilled in {refilled:?}, {refill_bytes} node-to-node bytes (packed listing {listing_bytes} B)");
    assert!(refilled <= Duration::from_secs(1), "n{node} took {refilled:?}");
    assert!(refill_bytes as f64 <= listing_bytes + REFILL_OVERHEAD_BYTES, "{refill_bytes} B for n{node}");
}

/// Node-to-node bytes around a refill's listing: repair openers (whole
/// sketch and power sums, about 450 bytes a line), the answers, and the
/// periodic checks of that second. Measured 0.5 KB to 1.7 KB; a second
/// listing of the set would add 3.3 KB.
const REFILL_OVERHEAD_BYTES: f64 = 2_500.0;

#[test]
fn a_killed_follower_is_refilled_in_a_second_for_one_listing() {
    killed_node_is_refilled(2);
}

/// Both followers open a repair with the empty hub at once; one refills
/// it, the other retries later and finds a small difference.
#[test]
fn a_killed_hub_is_refilled_in_a_second_for_one_listing() {
    killed_node_is_refilled(0);
}

/// `--ack after-replication` with real processes: a follower cut off from
/// its hub keeps a client's broadcast (and hides it from reads) without
/// answering; once the link heals and the hub holds the value, the
/// `broadcast_ok` comes. Then the follower is killed and restarted: the
/// acknowledged value is still in the cluster and refills it.
#[test]
fn after_replication_acks_only_once_the_hub_holds_the_value() {
    let mut cluster = Cluster::start_with_args(2, (5, 10), 5, &["--ack", "after-replication"]);
    cluster.pump_until(Instant::now() + Duration::from_millis(300));
    cluster.set_partition(&[1]);
    let op = cluster.request(1, Operation::Add(42));
    cluster.pump_until(Instant::now() + Duration::from_millis(800));
    let acked = |c: &Cluster| c.history.entries.iter().any(|e| e.op_id == op && e.completion.is_some());
    assert!(!acked(&cluster), "acknowledged while no other node could hold it");
    cluster.final_values.clear();
    let read = cluster.request(1, Operation::Read);
    cluster.final_reads.insert(read, 1);
    cluster.pump_until(Instant::now() + Duration::from_millis(100));
    assert_eq!(cluster.final_values.get(&1), Some(&Vec::new()), "a value waiting for replication is hidden from reads");

    cluster.set_partition(&[]);
    let healed = Instant::now();
    while !acked(&cluster) && healed.elapsed() < Duration::from_secs(5) {
        cluster.pump_until(Instant::now() + Duration::from_millis(20));
    }
    assert!(acked(&cluster), "no broadcast_ok within 5 s of the heal");
    eprintln!("broadcast_ok {:?} after the heal", healed.elapsed());

    cluster.kill_and_restart(1);
    let refilled = wait_for_equal_sets(&mut cluster, 1, Duration::from_secs(3));
    assert!(refilled.is_some(), "the acknowledged value did not survive the crash of the node that acknowledged it");
}

/// The environment variable does what the flag does (Maelstrom's `--bin`
/// takes a path, so a wrapper script or the environment must carry it),
/// and a bad value is refused with a clear message before any input.
#[test]
fn the_ack_policy_comes_from_the_environment_too() {
    let output = Command::new(env!("CARGO_BIN_EXE_anti-entropy"))
        .env("ANTI_ENTROPY_ACK", "sometimes")
        .stdin(Stdio::null())
        .output()
        .expect("the node binary starts");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ANTI_ENTROPY_ACK") && stderr.contains("after-replication"), "{stderr}");

    // Two nodes, the follower cut off: with the variable set, no answer.
    let mut child = Command::new(env!("CARGO_BIN_EXE_anti-entropy"))
        .env("ANTI_ENTROPY_ACK", "after-replication")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the node binary starts");
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        r#"{"src":"c0","dest":"n1","body":{"type":"init","node_id":"n1","node_ids":["n0","n1"],"msg_id":1}}"#,
        r#"{"src":"c0","dest":"n1","body":{"type":"broadcast","message":7,"msg_id":2}}"#,
        r#"{"src":"c0","dest":"n1","body":{"type":"read","msg_id":3}}"#,
    ];
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(r#""type": "init_ok""#), "{stdout}");
    assert!(!stdout.contains("broadcast_ok"), "answered without a second holder: {stdout}");
    assert!(stdout.contains(r#""type": "read_ok", "messages": []"#), "{stdout}");
}

/// `--overlay epidemic` with real processes: five nodes on a line (the
/// `topology` message), values broadcast at both ends, all agree.
#[test]
fn epidemic_processes_on_a_line_agree() {
    let mut cluster = Cluster::start_with_args(5, (5, 10), 9, &["--overlay", "epidemic"]);
    let line = json!({"n0": ["n1"], "n1": ["n0", "n2"], "n2": ["n1", "n3"], "n3": ["n2", "n4"], "n4": ["n3"]});
    for node in 0..5 {
        let msg_id = cluster.next_id();
        let topology = json!({"src": "c-setup", "dest": format!("n{node}"),
            "body": {"type": "topology", "topology": line, "msg_id": msg_id}});
        cluster.write_line(node, &topology.to_string());
    }
    for v in 0..20 {
        cluster.request(if v % 2 == 0 { 0 } else { 4 }, Operation::Add(v));
    }
    let agreed = wait_for_equal_sets(&mut cluster, 20, Duration::from_secs(5));
    assert!(agreed.is_some(), "five epidemic processes did not agree within 5 s");
    eprintln!("epidemic line of 5 processes agreed in {:?}", agreed.unwrap());
}
