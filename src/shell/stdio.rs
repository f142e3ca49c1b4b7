//! Newline-delimited framing over stdin and stdout, for native shells.
//!
//! This is shell code, not core: it owns a thread, the clock and the file
//! descriptors. It lives in the library so that every line-serving program
//! frames its I/O the same way: the Maelstrom node (`src/shell/maelstrom.rs`) and
//! the naive baseline of the `node_throughput` benchmark both run
//! [`serve_lines`], so the benchmark compares their cores and nothing else.
//!
//! A reader thread reads stdin in large chunks and hands over each chunk's
//! complete lines as one buffer, so the serving loop can wait for "input or
//! the next timer, whichever comes first", and a burst of 60k requests costs a
//! few dozen reads and channel hand-offs instead of one per line. Served
//! buffers go back to the reader to be refilled. Output is
//! gathered in one buffer while more input is already queued and written
//! before the loop blocks, so a reply is never held back while the service
//! waits.

use std::io::{self, Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes asked of each `read` on stdin.
const READ_CHUNK_BYTES: usize = 1 << 16;
/// Chunks queued between the reader thread and the service before the reader
/// waits: bounds memory when stdin outpaces the service.
const CHUNK_QUEUE_CAPACITY: usize = 16;
/// Pipe buffer size asked for on stdin and stdout. Larger buffers measured no
/// better, and pipe memory is counted per user: Linux gives a user's new
/// pipes minimal buffers once all its pipes hold more than 64 MB, and a
/// hundred nodes on one machine at 2 × 256 KB stay under that.
#[cfg(target_os = "linux")]
const PIPE_BUFFER_BYTES: libc::c_int = 1 << 18;
/// Output gathered beyond this is written out even while input is queued.
const OUTPUT_HIGH_WATER_BYTES: usize = 1 << 16;
/// Longest input line kept (checked as the line accumulates, so one read
/// more may be held). A whole set of a million 20-digit values is about
/// 21 MB; a line past this is skipped to its newline, logged on stderr, and
/// the node serves the next line: it cannot be answered (its `src` and
/// `msg_id` were in the part not kept), and nothing already accepted is lost.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// A program that answers lines with lines.
pub trait LineService {
    /// Handles one input line (without its newline, trimmed of ASCII
    /// whitespace, never empty), received at `now_ms` since the start, and
    /// appends any output lines, each ending in `\n`, to `out`.
    fn handle_line(&mut self, now_ms: u64, line: &[u8], out: &mut Vec<u8>);

    /// When the service next wants [`LineService::handle_timeout`], in
    /// milliseconds since the start; `None` for never.
    fn poll_timeout(&self) -> Option<u64> {
        None
    }

    /// Runs the timers due at `now_ms`, appending output lines to `out`.
    fn handle_timeout(&mut self, _now_ms: u64, _out: &mut Vec<u8>) {}
}

/// Serves stdin to `service` until stdin closes, writing its output to
/// stdout. Returns when stdin is exhausted and all output is written.
pub fn serve_lines(service: &mut impl LineService) -> io::Result<()> {
    enlarge_pipe_buffers();
    let started = Instant::now();
    let elapsed_ms = || started.elapsed().as_millis() as u64;
    let ChunkReader { chunks, spent } = spawn_chunk_reader(io::stdin());
    let mut stdout = io::stdout().lock();
    let mut out = Vec::with_capacity(OUTPUT_HIGH_WATER_BYTES * 2);
    let mut write_out = |out: &mut Vec<u8>| -> io::Result<()> {
        stdout.write_all(out)?;
        stdout.flush()?;
        out.clear();
        Ok(())
    };
    loop {
        let now_ms = elapsed_ms();
        if service.poll_timeout().is_some_and(|deadline| deadline <= now_ms) {
            service.handle_timeout(now_ms, &mut out);
        }
        let chunk = match chunks.try_recv() {
            Ok(chunk) => chunk,
            Err(TryRecvError::Disconnected) => return write_out(&mut out),
            Err(TryRecvError::Empty) => {
                // Nothing queued: everything produced so far goes out now.
                write_out(&mut out)?;
                let waited = match service.poll_timeout() {
                    None => chunks.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(deadline) => chunks.recv_timeout(Duration::from_millis(deadline.saturating_sub(elapsed_ms()))),
                };
                match waited {
                    Ok(chunk) => chunk,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return write_out(&mut out),
                }
            }
        };
        let now_ms = elapsed_ms();
        let mut line_start = 0;
        for line_end in memchr::memchr_iter(b'\n', &chunk).chain([chunk.len()]) {
            let line = chunk[line_start..line_end].trim_ascii();
            line_start = line_end + 1;
            if line.is_empty() {
                continue;
            }
            service.handle_line(now_ms, line, &mut out);
            if out.len() >= OUTPUT_HIGH_WATER_BYTES {
                write_out(&mut out)?;
            }
        }
        // The reader refills this buffer: no fresh memory per chunk. (If the
        // reader is gone, stdin is at its end and the buffer just drops.)
        let _ = spent.send(chunk);
    }
}

/// Asks for larger pipe buffers on stdin and stdout, where they are pipes.
///
/// A pipe holds 64 KB by default, so a burst of input or output is passed
/// along in 64 KB steps, each a wake-up of the other side; the node then
/// spends part of a burst waiting. With 256 KB buffers the 60k-line
/// benchmark took about 3 ms less wall time (of 36), and no more CPU time.
/// Where the call fails (not a pipe, or over the system's pipe limits), the
/// buffers stay as they are, which is fine.
fn enlarge_pipe_buffers() {
    #[cfg(target_os = "linux")]
    for fd in [libc::STDIN_FILENO, libc::STDOUT_FILENO] {
        // SAFETY: fcntl on this process's own standard descriptors, with an
        // integer argument; it touches no memory of ours.
        unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BUFFER_BYTES) };
    }
}

/// The two ends the serving loop holds of a reader thread.
struct ChunkReader {
    /// Buffers of whole lines, in input order.
    chunks: Receiver<Vec<u8>>,
    /// Buffers handed back for reuse once their lines are served.
    spent: Sender<Vec<u8>>,
}

/// Reads `input` on its own thread and sends buffers of whole lines (the last
/// one, at end of input, may lack its newline); the channel closes at end of
/// input or on a read error, which is logged.
fn spawn_chunk_reader(input: impl Read + Send + 'static) -> ChunkReader {
    spawn_chunk_reader_with_limit(input, MAX_LINE_BYTES)
}

fn spawn_chunk_reader_with_limit(mut input: impl Read + Send + 'static, max_line_bytes: usize) -> ChunkReader {
    let (tx, chunks) = mpsc::sync_channel(CHUNK_QUEUE_CAPACITY);
    let (spent, recycled) = mpsc::channel::<Vec<u8>>();
    thread::spawn(move || {
        let mut read_buffer = vec![0u8; READ_CHUNK_BYTES];
        // Bytes read after the last newline, carried into the next chunk.
        let mut partial_line = Vec::new();
        // While skipping an overlong line: its bytes so far.
        let mut skipping: Option<usize> = None;
        let log_skip = |bytes: usize| {
            eprintln!("anti-entropy: skipped an input line of {bytes} bytes (longer than {max_line_bytes})")
        };
        loop {
            let read = loop {
                match input.read(&mut read_buffer) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    result => break result,
                }
            };
            let fresh = match read {
                Ok(n) if n > 0 => &read_buffer[..n],
                _ => {
                    if let Err(e) = read {
                        eprintln!("anti-entropy: cannot read stdin: {e}");
                    }
                    if let Some(bytes) = skipping {
                        log_skip(bytes);
                    }
                    if !partial_line.is_empty() {
                        let _ = tx.send(partial_line);
                    }
                    return;
                }
            };
            let fresh = match skipping {
                Some(bytes) => match memchr::memchr(b'\n', fresh) {
                    None => {
                        skipping = Some(bytes + fresh.len());
                        continue;
                    }
                    Some(end) => {
                        log_skip(bytes + end);
                        skipping = None;
                        &fresh[end + 1..]
                    }
                },
                None => fresh,
            };
            let Some(last_newline) = memchr::memrchr(b'\n', fresh) else {
                partial_line.extend_from_slice(fresh);
                if partial_line.len() > max_line_bytes {
                    skipping = Some(partial_line.len());
                    partial_line = Vec::new();
                }
                continue;
            };
            // A spent buffer if one is back, except that a long partial line
            // (a message of megabytes) becomes the chunk rather than be copied.
            let mut chunk = if partial_line.len() >= READ_CHUNK_BYTES {
                std::mem::take(&mut partial_line)
            } else {
                let mut chunk = recycled.try_recv().unwrap_or_default();
                chunk.clear();
                chunk.append(&mut partial_line);
                chunk
            };
            chunk.extend_from_slice(&fresh[..=last_newline]);
            partial_line.extend_from_slice(&fresh[last_newline + 1..]);
            if tx.send(chunk).is_err() {
                return;
            }
        }
    });
    ChunkReader { chunks, spent }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `step` bytes per `read`, as a pipe may.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn lines_through_reader(data: &[u8], step: usize) -> Vec<Vec<u8>> {
        let ChunkReader { chunks, spent } = spawn_chunk_reader(Trickle { data: data.to_vec(), at: 0, step });
        let mut lines = Vec::new();
        for chunk in chunks {
            let _ = spent.send(b"stale bytes of a spent chunk".to_vec());
            assert!(!chunk.is_empty(), "empty chunk sent");
            let body = chunk.strip_suffix(b"\n").unwrap_or(&chunk);
            lines.extend(body.split(|&b| b == b'\n').map(<[u8]>::to_vec));
        }
        lines
    }

    #[test]
    fn overlong_lines_are_skipped_and_the_next_lines_served() {
        // The limit is checked on the bytes carried between reads, so it
        // holds for any line longer than a read buffer.
        let limit = READ_CHUNK_BYTES;
        let data = [b"first\n".to_vec(), vec![b'x'; 5 * limit], b"\nnext\n".to_vec(), vec![b'y'; 3 * limit]].concat();
        for step in [7, 600, 4096, usize::MAX] {
            let ChunkReader { chunks, .. } =
                spawn_chunk_reader_with_limit(Trickle { data: data.clone(), at: 0, step }, limit);
            let lines: Vec<Vec<u8>> = chunks
                .into_iter()
                .flat_map(|c| c.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>())
                .filter(|l| !l.is_empty())
                .collect();
            // A line may pass the limit by at most one read before it is
            // cut, so the line of 5 limits is always dropped, and so is the
            // unterminated tail of 3.
            assert_eq!(lines, vec![b"first".to_vec(), b"next".to_vec()], "read size {step}");
        }
    }

    #[test]
    fn chunks_hold_whole_lines_whatever_the_read_sizes() {
        let long_line = vec![b'x'; 3 * READ_CHUNK_BYTES + 17];
        let expected: Vec<Vec<u8>> =
            vec![b"first".to_vec(), long_line.clone(), Vec::new(), b"last, without newline".to_vec()];
        let mut data = expected.join(&b'\n');
        for step in [1, 7, 4096, READ_CHUNK_BYTES, usize::MAX] {
            assert_eq!(lines_through_reader(&data, step), expected, "read size {step}");
        }
        data.push(b'\n');
        assert_eq!(lines_through_reader(&data, 5000), expected, "trailing newline");
        assert!(lines_through_reader(b"", 10).is_empty());
    }
}
