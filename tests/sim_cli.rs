//! The `simulate` subcommand: deterministic output, JSON shape, bad arguments.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anti-entropy")).args(args).output().expect("the binary starts")
}

const SMALL_RUN: &[&str] =
    &["simulate", "--nodes", "5", "--rate", "40", "--seconds", "2", "--quiet-ms", "1000", "--loss", "0.05", "--nemesis", "mixed", "--nemesis-interval-ms", "500", "--latency-dist", "exponential", "--latency-ms", "30", "--seed", "11", "--json"];

#[test]
fn same_arguments_same_output() {
    let first = run(SMALL_RUN);
    let second = run(SMALL_RUN);
    assert!(!first.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&first.stdout), String::from_utf8_lossy(&second.stdout));
    assert_eq!(first.status.code(), second.status.code());
    let mut other_seed = SMALL_RUN.to_vec();
    *other_seed.iter_mut().find(|a| **a == "11").unwrap() = "12";
    assert_ne!(run(&other_seed).stdout, first.stdout);
}

#[test]
fn json_is_the_last_line_with_the_promised_fields() {
    let output = run(SMALL_RUN);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let last = stdout.lines().last().expect("some output");
    let json: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    for key in ["valid", "lost", "msgs_per_op", "bytes_per_op", "stable_latency_ms", "skipped", "bytes_saved", "seed", "config"] {
        assert!(json.get(key).is_some(), "missing {key}: {last}");
    }
    assert_eq!(json["seed"], 11);
    assert_eq!(json["config"]["node_count"], 5);
    assert_eq!(json["config"]["nemesis"]["kind"], "mixed");
    assert_eq!(json["config"]["latency"]["dist"], "exponential");
    let valid = json["valid"].as_bool().unwrap();
    assert_eq!(output.status.code(), Some(if valid { 0 } else { 1 }), "exit code follows validity");
    // The summary for people comes first and names the replay command.
    assert!(stdout.contains("replay"), "{stdout}");
    assert!(stdout.contains("--seed 11"), "{stdout}");
}

#[test]
fn without_json_there_is_only_the_summary() {
    let args: Vec<&str> = SMALL_RUN.iter().copied().filter(|a| *a != "--json").collect();
    let stdout = String::from_utf8(run(&args).stdout).unwrap();
    assert!(stdout.contains("checker (set-full)"), "{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with('{')), "{stdout}");
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message() {
    for (args, expected) in [
        (&["simulate", "--nodes", "0"][..], "--nodes"),
        (&["simulate", "--loss", "1.5"][..], "probability"),
        (&["simulate", "--loss", "lots"][..], "not a number"),
        (&["simulate", "--protocol", "carrier-pigeon"][..], "unknown protocol"),
        (&["simulate", "--nemesis", "meteor"][..], "unknown nemesis"),
        (&["simulate", "--latency-dist", "normal"][..], "--latency-dist"),
        (&["simulate", "--frobnicate"][..], "--frobnicate"),
        (&["fly"][..], "fly"),
    ] {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_exits_0() {
    let output = run(&["simulate", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("--nemesis"));
}

#[test]
fn crash_nemesis_reports_each_refill_in_json_and_in_the_summary() {
    let output = run(&["simulate", "--nodes", "5", "--rate", "50", "--seconds", "20", "--seed", "3", "--nemesis", "crash", "--json"]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).expect("last line is JSON");
    assert_eq!(json["config"]["nemesis"]["kind"], "crash");
    let refills = json["refills"].as_array().expect("refills is a list");
    assert!(!refills.is_empty(), "the nemesis crashed a node: {stdout}");
    for refill in refills {
        assert!(refill["values_to_refill"].as_u64().unwrap() > 0, "{refill}");
        assert!(refill["refilled_after_ms"].as_u64().is_some(), "{refill}");
        assert!(refill["bytes"].as_u64().unwrap() > 0, "{refill}");
    }
    assert!(stdout.contains("refills after restart"), "{stdout}");
}

#[test]
fn both_overlays_report_their_overlay_and_node_load() {
    let mut ratios = Vec::new();
    for overlay in ["star", "epidemic"] {
        let output = run(&[
            "simulate", "--nodes", "12", "--rate", "40", "--seconds", "3", "--overlay", overlay, "--topology", "random",
            "--degree", "3", "--round-ms", "400", "--seed", "5", "--json",
        ]);
        assert!(output.status.success());
        let stdout = String::from_utf8(output.stdout).unwrap();
        let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).expect("last line is JSON");
        assert_eq!(json["config"]["overlay"], overlay);
        assert_eq!(json["valid"], true, "{stdout}");
        let load = &json["node_load"];
        for key in ["max_msgs_sent_per_s", "mean_msgs_sent_per_s", "max_bytes_sent_per_s", "mean_bytes_sent_per_s"] {
            assert!(load[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {load}");
        }
        ratios.push(load["max_msgs_sent_per_s"].as_f64().unwrap() / load["mean_msgs_sent_per_s"].as_f64().unwrap());
        assert!(json["replay_command"].as_str().unwrap().contains("--topology random --degree 3"), "{stdout}");
    }
    // The hub carries the star; the epidemic overlay spreads the sending.
    assert!(ratios[0] > 3.0 && ratios[1] < 2.0, "busiest / mean: star {:.1}, epidemic {:.1}", ratios[0], ratios[1]);
}
