//! The Maelstrom shell: JSON lines on stdin, JSON lines on stdout, logs on
//! stderr. It owns the clock and the framing; every decision is the core's.
//!
//! A reader thread turns stdin into lines on a channel, so the main loop can
//! wait for "a line or the next timer, whichever comes first". Output is
//! buffered while more input is already queued and flushed before the loop
//! blocks, so a reply is never held back while the node waits, yet a burst of
//! 60k requests does not cost 60k write syscalls.

use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use anti_entropy::wire;
use anti_entropy::Node;

/// Batches queued between the reader thread and the node before the reader
/// waits: bounds memory when stdin outpaces the node.
const BATCH_QUEUE_CAPACITY: usize = 64;
/// Most lines per batch. The reader hands over whatever complete lines are
/// already buffered, so a burst costs one channel hand-off (and at most one
/// thread wake-up) per batch instead of per line.
const BATCH_MAX_LINES: usize = 1024;

pub fn run() -> ExitCode {
    if io::stdin().is_terminal() {
        eprintln!(
            "anti-entropy: Maelstrom node reading JSON lines on stdin (try `anti-entropy simulate --help`, or run under `maelstrom test -w broadcast`)"
        );
    }
    let started = Instant::now();
    let lines = spawn_line_reader();
    let mut node = Node::new();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());

    let result = (|| -> io::Result<()> {
        loop {
            let now_ms = elapsed_ms(started);
            if node.poll_timeout().is_some_and(|deadline| deadline <= now_ms) {
                node.handle_timeout(now_ms);
            }
            write_outputs(&mut node, &mut out)?;

            let batch = match lines.try_recv() {
                Ok(batch) => batch,
                Err(TryRecvError::Disconnected) => return out.flush(),
                Err(TryRecvError::Empty) => {
                    // Nothing queued: everything produced so far goes out now.
                    out.flush()?;
                    let waited = match node.poll_timeout() {
                        None => lines.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        Some(deadline) => {
                            let wait_ms = deadline.saturating_sub(elapsed_ms(started));
                            lines.recv_timeout(Duration::from_millis(wait_ms))
                        }
                    };
                    match waited {
                        Ok(batch) => batch,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return out.flush(),
                    }
                }
            };
            let now_ms = elapsed_ms(started);
            for line in batch {
                let trimmed = line.trim_ascii();
                if trimmed.is_empty() {
                    continue;
                }
                if let Err(reason) = node.handle_input(now_ms, wire::decode(trimmed)) {
                    eprintln!("anti-entropy: skipped input line: {reason}");
                }
                write_outputs(&mut node, &mut out)?;
            }
        }
    })();

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anti-entropy: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_outputs(node: &mut Node, out: &mut impl Write) -> io::Result<()> {
    while let Some(envelope) = node.poll_output() {
        wire::write_json(&mut *out, &envelope)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// Reads stdin on its own thread and sends batches of lines; the channel
/// closes at EOF.
fn spawn_line_reader() -> mpsc::Receiver<Vec<Vec<u8>>> {
    let (tx, rx) = mpsc::sync_channel(BATCH_QUEUE_CAPACITY);
    thread::spawn(move || {
        let mut reader = BufReader::with_capacity(1 << 16, io::stdin().lock());
        loop {
            let mut batch = Vec::new();
            let mut at_eof = false;
            // The first line may block; further ones only if already buffered.
            while batch.is_empty() || (batch.len() < BATCH_MAX_LINES && reader.buffer().contains(&b'\n')) {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => {
                        at_eof = true;
                        break;
                    }
                    Ok(_) => batch.push(line),
                    Err(e) => {
                        eprintln!("anti-entropy: cannot read stdin: {e}");
                        at_eof = true;
                        break;
                    }
                }
            }
            if !batch.is_empty() && tx.send(batch).is_err() || at_eof {
                break;
            }
        }
    });
    rx
}
