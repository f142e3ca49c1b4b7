//! The command-line tool: `anti-entropy simulate ...` runs the deterministic
//! cluster simulator and prints a Maelstrom-like summary (and, with
//! `--json`, one JSON object on the last stdout line).
//!
//! Output on stdout depends only on the arguments: the same command prints
//! the same bytes. Wall-clock figures and the progress bar go to stderr.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use crate::sim::{LatencyModel, Nemesis, PartitionKind, Report, SimConfig, Simulation, Workload};
use crate::AckPolicy;
use crate::Overlay;
use crate::sim::TopologyKind;
use crate::Protocol;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Virtual milliseconds simulated between progress-bar updates.
const PROGRESS_STEP_MS: u64 = 250;

#[derive(Parser, Debug)]
#[command(
    name = "anti-entropy",
    version,
    about = "Digest-based anti-entropy for a gossiping broadcast cluster",
    long_about = "Digest-based anti-entropy for a gossiping broadcast cluster.\n\nWith no arguments the binary is a Maelstrom node reading JSON lines on stdin."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: run the Maelstrom node, answering broadcast_ok
    /// after replication (after-replication) or at once (local, the default;
    /// also set by the ANTI_ENTROPY_ACK environment variable).
    #[arg(long)]
    ack: Option<AckPolicy>,
    /// Without a subcommand: the overlay the node runs, star (the default)
    /// or epidemic (pairwise digest exchange along Maelstrom's topology;
    /// also set by ANTI_ENTROPY_OVERLAY).
    #[arg(long)]
    overlay: Option<Overlay>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a deterministic in-process cluster simulation and check it like Maelstrom's broadcast workload.
    Simulate(SimulateArgs),
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct SimulateArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=1000))]
    nodes: u32,
    /// Mean one-way message latency in milliseconds (Maelstrom's --latency).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    latency_ms: u64,
    /// Latency distribution: constant, uniform (0 to twice the mean) or exponential.
    #[arg(long, default_value = "constant", value_parser = ["constant", "uniform", "exponential"])]
    latency_dist: String,
    /// Client operations per second, all clients together (0: no workload, only final reads).
    #[arg(long, default_value_t = 100.0, value_parser = parse_rate)]
    rate: f64,
    /// How long clients issue operations, in seconds (Maelstrom's --time-limit).
    #[arg(long, default_value_t = 20.0, value_parser = parse_seconds)]
    seconds: f64,
    /// Share of client operations that are reads.
    #[arg(long, default_value_t = 0.5, value_parser = parse_probability)]
    read_fraction: f64,
    /// Quiet period after the workload (and the final heal) before the final reads, in milliseconds (Maelstrom waits 10 s).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    quiet_ms: u64,
    /// Seed of every random choice in the run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Faults: partition (Maelstrom's: one node, a minority third, a majority or a ring of majorities, at random gaps), halves (random halves), isolate (one node), links (links cut one by one), mixed (one of halves, isolate, links, crash), crash (a node loses its state and restarts empty).
    #[arg(long)]
    nemesis: Option<PartitionKind>,
    /// Length of each healthy and each partitioned period, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    nemesis_interval_ms: u64,
    /// Anti-entropy protocol: full_state, digest or difference.
    #[arg(long, default_value = "difference")]
    protocol: Protocol,
    /// Probability that a node-to-node message is lost.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    loss: f64,
    /// Probability that a node-to-node message is delivered twice.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    duplicate: f64,
    /// Overlay: star (a hub flushes to everyone) or epidemic (pairwise digest exchange along the topology, no hub).
    #[arg(long, default_value = "star")]
    overlay: Overlay,
    /// Topology sent to nodes (the epidemic overlay's peer graph): grid (Maelstrom's default), ring, line, tree, random or total.
    #[arg(long, default_value = "grid")]
    topology: TopologyKind,
    /// Neighbours per node for --topology random.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=999))]
    degree: u32,
    /// Epidemic overlay: how often each node compares digests with one neighbour, in milliseconds.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    round_ms: u64,
    /// Epidemic overlay: do not push new values on; the digest rounds alone spread them.
    #[arg(long)]
    no_eager_push: bool,
    /// Values every node holds from the start, in sync, as if restored from one backup (-1, -2, ...).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    initial_values: u64,
    /// When nodes answer broadcast_ok: local (as soon as the value is in their own set) or after-replication (once another node holds it, so a crash loses nothing acknowledged).
    #[arg(long, default_value = "local")]
    ack: AckPolicy,
    /// Also print the results as one JSON object on the last stdout line.
    #[arg(long)]
    json: bool,
}

fn parse_finite(s: &str, what: &str, max: f64) -> Result<f64, String> {
    let value: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.0..=max).contains(&value) {
        return Err(format!("{what} must be between 0 and {max}"));
    }
    Ok(value)
}

fn parse_probability(s: &str) -> Result<f64, String> {
    parse_finite(s, "a probability", 1.0)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    parse_finite(s, "the rate", 100_000.0)
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    parse_finite(s, "the duration", 86_400.0)
}

impl SimulateArgs {
    /// The simulator configuration these arguments describe.
    pub fn to_config(&self) -> SimConfig {
        let latency = LatencyModel::from_name(&self.latency_dist, self.latency_ms)
            .expect("clap only lets known distributions through");
        let workload = (self.rate > 0.0).then(|| Workload {
            rate_per_s: self.rate,
            duration_ms: (self.seconds * 1000.0).round() as u64,
            read_fraction: self.read_fraction,
            quiet_period_ms: self.quiet_ms,
        });
        SimConfig {
            node_count: self.nodes as usize,
            seed: self.seed,
            protocol: self.protocol,
            latency,
            loss_probability: self.loss,
            duplicate_probability: self.duplicate,
            workload,
            nemesis: self.nemesis.map(|kind| Nemesis { kind, interval_ms: self.nemesis_interval_ms }),
            record_trace: false,
            ack: self.ack,
            overlay: self.overlay,
            topology: self.topology,
            degree: self.degree as usize,
            round_ms: self.round_ms,
            eager_push: !self.no_eager_push,
            initial_values: self.initial_values,
        }
    }
}

/// Parses the arguments (clap prints usage errors and exits with code 2)
/// and runs the subcommand.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Simulate(args)) => simulate(&args),
        None => crate::shell::maelstrom::run(cli.ack, cli.overlay),
    }
}

/// What `--json` prints: the configuration and the report side by side.
#[derive(Serialize)]
struct JsonOutput<'a> {
    config: &'a SimConfig,
    #[serde(flatten)]
    report: &'a Report,
}

fn simulate(args: &SimulateArgs) -> ExitCode {
    let config = args.to_config();
    let started = Instant::now();
    let mut sim = Simulation::new(config.clone());
    if let Some(end_ms) = sim.planned_end_ms() {
        let bar = progress_bar(end_ms);
        // Chunking does not change the run (the simulator is chunk-invariant),
        // so the bar can advance in steps.
        let mut t = 0;
        while t < end_ms {
            t = (t + PROGRESS_STEP_MS).min(end_ms);
            sim.run_until(t);
            bar.set_position(t);
        }
        bar.finish_and_clear();
    }
    let report = sim.run_to_end();
    let elapsed = started.elapsed();

    let mut out = io::stdout().lock();
    let printed = (|| -> io::Result<()> {
        write_summary(&mut out, &config, &report)?;
        if args.json {
            let json = serde_json::to_string(&JsonOutput { config: &config, report: &report }).map_err(io::Error::from)?;
            writeln!(out, "{json}")?;
        }
        out.flush()
    })();
    if let Err(e) = printed {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("anti-entropy: cannot write to stdout: {e}");
            return ExitCode::FAILURE;
        }
    }
    if io::stderr().is_terminal() {
        eprintln!(
            "simulated {:.1} s of cluster time in {:.2} s",
            report.now_ms as f64 / 1000.0,
            elapsed.as_secs_f64()
        );
    }
    if report.set_full.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn progress_bar(end_ms: u64) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(end_ms);
    bar.set_style(
        ProgressStyle::with_template("{spinner} simulating [{bar:40}] {pos}/{len} ms virtual, {elapsed} wall")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar
}

fn write_summary(out: &mut impl Write, config: &SimConfig, report: &Report) -> io::Result<()> {
    let r = &report.set_full;
    let t = &report.totals;
    let workload = match &config.workload {
        Some(w) => format!("rate {}/s for {} s", w.rate_per_s, w.duration_ms as f64 / 1000.0),
        None => "no workload".into(),
    };
    let nemesis = match &config.nemesis {
        Some(n) => format!("{} every {} ms", n.kind.name(), n.interval_ms),
        None => "none".into(),
    };
    writeln!(
        out,
        "anti-entropy simulate: {} nodes, {} protocol, {} latency {} ms, loss {}, duplicate {}, {workload}, nemesis {nemesis}, seed {}",
        config.node_count,
        config.protocol.name(),
        config.latency.name(),
        config.latency.mean_ms(),
        config.loss_probability,
        config.duplicate_probability,
        config.seed
    )?;
    writeln!(out)?;
    let verdict = if r.valid { "valid" } else { "INVALID" };
    let row = |out: &mut dyn Write, label: &str, value: String| writeln!(out, "  {label:<22} {value}");
    row(out, "checker (set-full)", verdict.to_string())?;
    row(
        out,
        "elements",
        format!(
            "{} attempted, {} acknowledged, {} stable, {} lost, {} never read, {} stale",
            r.attempt_count, r.acknowledged_count, r.stable_count, r.lost_count, r.never_read_count, r.stale_count
        ),
    )?;
    if !r.lost.is_empty() {
        let shown: Vec<String> = r.lost.iter().take(20).map(i64::to_string).collect();
        let more = if r.lost.len() > 20 { ", ..." } else { "" };
        row(out, "lost values", format!("[{}{more}]", shown.join(", ")))?;
    }
    let quantiles = |q: Option<crate::sim::Quantiles>| match q {
        Some(q) => format!("p0 {}  p50 {}  p95 {}  p99 {}  p100 {}", q.p0, q.p50, q.p95, q.p99, q.p100),
        None => "-".into(),
    };
    row(out, "stable latency ms", quantiles(r.stable_latency_ms))?;
    if r.lost_latency_ms.is_some() {
        row(out, "lost latency ms", quantiles(r.lost_latency_ms))?;
    }
    row(out, "broadcast_ok after ms", quantiles(r.broadcast_latency_ms))?;
    row(out, "client ops", format!("{} ({} broadcasts, {} reads)", t.client_ops, t.broadcasts, t.reads))?;
    row(out, "msgs per op", format!("{:.3}", report.msgs_per_op))?;
    row(out, "bytes per op", format!("{:.1}", report.bytes_per_op))?;
    let by_kind: Vec<String> = t
        .server_by_kind
        .iter()
        .map(|(kind, k)| format!("{} {} ({} B)", serde_json::to_value(kind).unwrap_or_default().as_str().unwrap_or("?"), k.messages, k.bytes))
        .collect();
    row(out, "server messages", format!("{} ({} B): {}", t.server_messages, t.server_bytes, by_kind.join(", ")))?;
    row(out, "dropped / duplicated", format!("{} / {}", t.dropped_messages, t.duplicated_messages))?;
    row(out, "syncs / skipped", format!("{} / {}", t.syncs, t.skipped))?;
    row(out, "bytes saved", format!("{} (of {} full-state bytes)", t.bytes_saved, t.bytes_full_state))?;
    let heals: Vec<String> = report
        .heals
        .iter()
        .map(|h| match h.converged_after_ms {
            Some(ms) => format!("{} ms", ms),
            None => "never".into(),
        })
        .collect();
    row(out, "converged after heals", if heals.is_empty() { "no heals".into() } else { heals.join(", ") })?;
    if !report.refills.is_empty() {
        let refills: Vec<String> = report
            .refills
            .iter()
            .map(|r| match (r.refilled_after_ms, r.interrupted) {
                (Some(ms), _) => format!("n{} {} values in {} ms, {} B", r.node, r.values_to_refill, ms, r.bytes),
                (None, true) => format!("n{} crashed again first", r.node),
                (None, false) => format!("n{} not refilled", r.node),
            })
            .collect();
        row(out, "refills after restart", refills.join("; "))?;
    }
    row(out, "converged at end", if report.converged { "yes" } else { "no" }.into())?;
    row(out, "virtual time ms", report.now_ms.to_string())?;
    row(out, "replay", report.replay_command.clone())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SimConfig::replay_command` must parse back to the same configuration.
    #[test]
    fn replay_command_round_trips() {
        let config = SimConfig {
            node_count: 7,
            seed: 99,
            protocol: Protocol::Digest,
            latency: LatencyModel::Uniform { mean_ms: 30 },
            loss_probability: 0.125,
            duplicate_probability: 0.01,
            workload: Some(Workload { rate_per_s: 12.5, duration_ms: 2_500, read_fraction: 0.3, quiet_period_ms: 700 }),
            nemesis: Some(Nemesis { kind: PartitionKind::RollingLinks, interval_ms: 400 }),
            record_trace: false,
            ack: AckPolicy::AfterReplication,
            overlay: Overlay::Epidemic,
            topology: TopologyKind::Random,
            degree: 3,
            round_ms: 250,
            eager_push: false,
            initial_values: 1000,
        };
        let command = config.replay_command();
        let cli = Cli::try_parse_from(command.split_whitespace()).expect("replay command parses");
        let Some(Command::Simulate(args)) = cli.command else { panic!("no subcommand") };
        assert_eq!(args.to_config(), config);
    }
}
