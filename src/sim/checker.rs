//! Jepsen's `set-full` checker (the one Maelstrom's broadcast workload
//! runs), over a history of client broadcasts (`add`) and reads.
//!
//! For every value whose add was invoked, the checker tracks:
//! - *known*: the add's acknowledgement, or the first read that saw the value,
//!   whichever completed first;
//! - *last present*: the latest-invoked read that saw it;
//! - *last absent*: the latest-invoked read that missed it.
//!
//! A value is **stable** if some read saw it and every read invoked after
//! the last miss saw it; **lost** if it was known and the latest read (by
//! invocation) that could speak of it missed it, after it was known;
//! otherwise **never read**. The *stable latency* is the time from known to
//! the invocation of the last read that missed it (0 if none did): how long
//! the cluster took to make the value visible everywhere. A stable value with
//! a positive stable latency is **stale**. Quantiles are taken as Jepsen does:
//! element `min(n - 1, floor(n * q))` of the sorted latencies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// A broadcast of one value.
    Add(i64),
    /// A read; completions carry the (sorted) values read.
    Read,
}

/// One line of a history: an invocation or its successful completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub time_ms: u64,
    /// Links an invocation to its completion.
    pub op_id: u64,
    pub operation: Operation,
    /// `None` for an invocation; `Some(values)` for a completed read;
    /// `Some(vec![])` for a completed add.
    pub completion: Option<Vec<i64>>,
}

/// Client operations in the order they happened (invocations and
/// completions interleaved, as Jepsen records them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub entries: Vec<HistoryEntry>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn invoke(&mut self, time_ms: u64, op_id: u64, operation: Operation) {
        self.entries.push(HistoryEntry { time_ms, op_id, operation, completion: None });
    }

    /// Records the acknowledgement of an add.
    pub fn add_ok(&mut self, time_ms: u64, op_id: u64, value: i64) {
        self.entries.push(HistoryEntry { time_ms, op_id, operation: Operation::Add(value), completion: Some(Vec::new()) });
    }

    /// Records a read's result (`values` need not be sorted).
    pub fn read_ok(&mut self, time_ms: u64, op_id: u64, mut values: Vec<i64>) {
        values.sort_unstable();
        values.dedup();
        self.entries.push(HistoryEntry { time_ms, op_id, operation: Operation::Read, completion: Some(values) });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Latency quantiles in milliseconds (Jepsen's points 0, 0.5, 0.95, 0.99, 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p0: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub p100: u64,
}

impl Quantiles {
    /// Quantiles of `values`, or `None` when there are none.
    pub fn of(mut values: Vec<u64>) -> Option<Quantiles> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let n = values.len();
        let at = |q: f64| values[((n as f64 * q).floor() as usize).min(n - 1)];
        Some(Quantiles { p0: at(0.0), p50: at(0.5), p95: at(0.95), p99: at(0.99), p100: at(1.0) })
    }
}

/// What `set-full` concluded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetFullResult {
    /// No value lost, and at least one stable (Jepsen's `:unknown`, when
    /// nothing is stable, counts as not valid).
    pub valid: bool,
    /// Adds invoked.
    pub attempt_count: u64,
    /// Adds acknowledged.
    pub acknowledged_count: u64,
    pub stable_count: u64,
    pub lost_count: u64,
    /// The lost values, sorted.
    pub lost: Vec<i64>,
    pub never_read_count: u64,
    /// Stable values some read missed after they were known.
    pub stale_count: u64,
    /// From known to stable, over stable values.
    pub stable_latency_ms: Option<Quantiles>,
    /// From known to lost, over lost values.
    pub lost_latency_ms: Option<Quantiles>,
    /// From a broadcast's invocation to its `broadcast_ok`, over
    /// acknowledged broadcasts (not part of Jepsen's set-full: what a client
    /// waits, which `--ack after-replication` lengthens).
    pub broadcast_latency_ms: Option<Quantiles>,
}

/// A read's position in the history and its invocation time.
#[derive(Clone, Copy, Debug)]
struct ReadMark {
    index: usize,
    time_ms: u64,
}

#[derive(Clone, Debug, Default)]
struct Element {
    /// History index and time at which the value became known.
    known: Option<(usize, u64)>,
    last_present: Option<ReadMark>,
    last_absent: Option<ReadMark>,
}

/// Runs the `set-full` analysis over `history`.
pub fn check_set_full(history: &History) -> SetFullResult {
    let mut elements: BTreeMap<i64, Element> = BTreeMap::new();
    let mut read_invocations: BTreeMap<u64, ReadMark> = BTreeMap::new();
    let mut acknowledged_count = 0;
    let mut add_invocations: BTreeMap<u64, u64> = BTreeMap::new();
    let mut broadcast_latencies = Vec::new();
    for (index, entry) in history.entries.iter().enumerate() {
        match (&entry.operation, &entry.completion) {
            (Operation::Add(value), None) => {
                elements.insert(*value, Element::default());
                add_invocations.insert(entry.op_id, entry.time_ms);
            }
            (Operation::Add(value), Some(_)) => {
                acknowledged_count += 1;
                if let Some(invoked_ms) = add_invocations.remove(&entry.op_id) {
                    broadcast_latencies.push(entry.time_ms.saturating_sub(invoked_ms));
                }
                if let Some(element) = elements.get_mut(value) {
                    element.known.get_or_insert((index, entry.time_ms));
                }
            }
            (Operation::Read, None) => {
                read_invocations.insert(entry.op_id, ReadMark { index, time_ms: entry.time_ms });
            }
            (Operation::Read, Some(values)) => {
                let Some(invocation) = read_invocations.remove(&entry.op_id) else { continue };
                for (value, element) in elements.iter_mut() {
                    if values.binary_search(value).is_ok() {
                        element.known.get_or_insert((index, entry.time_ms));
                        if element.last_present.is_none_or(|p| p.index < invocation.index) {
                            element.last_present = Some(invocation);
                        }
                    } else if element.last_absent.is_none_or(|a| a.index < invocation.index) {
                        element.last_absent = Some(invocation);
                    }
                }
            }
        }
    }

    let mut result = SetFullResult { attempt_count: elements.len() as u64, acknowledged_count, ..Default::default() };
    let mut stable_latencies = Vec::new();
    let mut lost_latencies = Vec::new();
    for (&value, element) in &elements {
        let present_index = element.last_present.map(|p| p.index);
        let absent_index = element.last_absent.map(|a| a.index);
        let stable = present_index.is_some() && absent_index < present_index;
        let lost = match (element.known, absent_index) {
            (Some((known_index, _)), Some(absent)) => present_index.is_none_or(|p| p < absent) && known_index < absent,
            _ => false,
        };
        let known_ms = element.known.map_or(0, |(_, t)| t);
        if stable {
            result.stable_count += 1;
            let stable_ms = element.last_absent.map_or(0, |a| a.time_ms);
            let latency = stable_ms.saturating_sub(known_ms);
            if latency > 0 {
                result.stale_count += 1;
            }
            stable_latencies.push(latency);
        } else if lost {
            result.lost_count += 1;
            result.lost.push(value);
            let lost_ms = element.last_present.map_or(0, |p| p.time_ms);
            lost_latencies.push(lost_ms.saturating_sub(known_ms));
        } else {
            result.never_read_count += 1;
        }
    }
    result.valid = result.lost_count == 0 && result.stable_count > 0;
    result.stable_latency_ms = Quantiles::of(stable_latencies);
    result.lost_latency_ms = Quantiles::of(lost_latencies);
    result.broadcast_latency_ms = Quantiles::of(broadcast_latencies);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history of `(time, op_id, event)` steps, where reads that list
    /// values are completions.
    fn add(h: &mut History, invoke_ms: u64, ok_ms: u64, op_id: u64, value: i64) {
        h.invoke(invoke_ms, op_id, Operation::Add(value));
        h.add_ok(ok_ms, op_id, value);
    }

    fn read(h: &mut History, invoke_ms: u64, ok_ms: u64, op_id: u64, values: &[i64]) {
        h.invoke(invoke_ms, op_id, Operation::Read);
        h.read_ok(ok_ms, op_id, values.to_vec());
    }

    #[test]
    fn a_value_missing_from_the_final_read_is_lost() {
        let mut h = History::new();
        add(&mut h, 0, 10, 1, 5);
        add(&mut h, 5, 15, 2, 6);
        read(&mut h, 20, 30, 3, &[5, 6]);
        read(&mut h, 40, 50, 4, &[6]);
        let r = check_set_full(&h);
        assert!(!r.valid);
        assert_eq!(r.lost, vec![5]);
        assert_eq!((r.lost_count, r.stable_count, r.never_read_count), (1, 1, 0));
        assert_eq!(r.lost_latency_ms.unwrap().p50, 10, "last present read invoked at 20, known at 10");
    }

    #[test]
    fn stable_latency_runs_from_ack_to_the_last_read_that_missed() {
        let mut h = History::new();
        // Value 1: acked at 100, missed by reads invoked at 150 and 340,
        // seen from the read invoked at 400 on: stable latency 240.
        add(&mut h, 0, 100, 1, 1);
        read(&mut h, 150, 160, 2, &[]);
        read(&mut h, 340, 350, 3, &[]);
        // Value 2: acked at 360, never missed afterwards: latency 0.
        add(&mut h, 355, 360, 4, 2);
        read(&mut h, 400, 410, 5, &[1, 2]);
        read(&mut h, 500, 510, 6, &[2, 1]);
        let r = check_set_full(&h);
        assert!(r.valid, "{r:?}");
        assert_eq!((r.stable_count, r.stale_count, r.lost_count), (2, 1, 0));
        assert_eq!(r.stable_latency_ms, Some(Quantiles { p0: 0, p50: 240, p95: 240, p99: 240, p100: 240 }));
    }

    #[test]
    fn a_miss_concurrent_with_the_add_is_not_a_loss() {
        let mut h = History::new();
        // The read is invoked before the value is known and misses it: the
        // value is never read, not lost.
        h.invoke(0, 1, Operation::Add(7));
        h.invoke(5, 2, Operation::Read);
        h.add_ok(10, 1, 7);
        h.read_ok(20, 2, vec![]);
        let r = check_set_full(&h);
        assert_eq!((r.lost_count, r.never_read_count, r.stable_count), (0, 1, 0));
        assert!(!r.valid, "nothing stable is Jepsen's unknown");
    }

    #[test]
    fn a_read_can_make_a_value_known_before_its_ack() {
        let mut h = History::new();
        h.invoke(0, 1, Operation::Add(3));
        read(&mut h, 5, 8, 2, &[3]);
        read(&mut h, 20, 30, 3, &[]);
        h.add_ok(40, 1, 3);
        let r = check_set_full(&h);
        assert_eq!(r.lost, vec![3], "seen at 8, then missed by a read invoked at 20");
    }

    #[test]
    fn quantiles_pick_jepsens_indices() {
        let q = Quantiles::of((1..=200).collect()).unwrap();
        assert_eq!(q, Quantiles { p0: 1, p50: 101, p95: 191, p99: 199, p100: 200 });
        assert_eq!(Quantiles::of(vec![]), None);
    }
}
