//! ARCHITECTURE.md's invariants that a machine can check: the core does no
//! I/O, reads no clock, starts no thread, and names no shell module. Only
//! the shells (`src/shell/`, and `src/main.rs` over them) may. The core is
//! what sits under `src/core/` and `src/sim/`: the simulator drives core
//! nodes in virtual time and is held to the same rules.
//!
//! A core file's unit tests (its `#[cfg(test)] mod tests`, last) are not the core and
//! are not checked.

use std::fs;
use std::path::{Path, PathBuf};

/// The directories under `src/` that hold core code.
const CORE_DIRS: [&str; 2] = ["core", "sim"];

/// What a core file must not name, and why.
const FORBIDDEN: [(&str, &str); 13] = [
    ("std::time", "time comes in as now_ms"),
    ("Instant", "time comes in as now_ms (and Instant panics on wasm32)"),
    ("SystemTime", "time comes in as now_ms"),
    ("std::thread", "the core is a state machine, not a runtime"),
    ("std::fs", "the core does no I/O"),
    ("std::net", "the core does no I/O"),
    ("std::process", "the core does no I/O"),
    ("std::env", "configuration comes in as values"),
    ("stdin", "only the shells read input"),
    ("stdout", "only the shells write output"),
    ("println!", "only the shells write output"),
    ("eprintln!", "only the shells write output"),
    ("crate::shell", "the core names no shell"),
];

/// The forbidden names one line of code uses (comments do not count).
fn forbidden_in(line: &str) -> Vec<(&'static str, &'static str)> {
    let code = line.split("//").next().unwrap_or_default();
    let mut found: Vec<_> = FORBIDDEN.iter().copied().filter(|(name, _)| code.contains(name)).collect();
    // serde_json's formatter writes through the io::Write trait into
    // memory: that much of std::io, and nothing else, is allowed.
    if code.contains("std::io") && code.trim() != "use std::io::{self, Write};" {
        found.push(("std::io", "std::io beyond the Write trait"));
    }
    found
}

fn core_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            core_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_core_does_no_io_reads_no_clock_and_names_no_shell() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for dir in CORE_DIRS {
        core_files(&src.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() >= 15, "found only {files:?}");
    let mut violations = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("a readable source file");
        let core_part = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        for (number, line) in core_part.lines().enumerate() {
            for (name, why) in forbidden_in(line) {
                violations.push(format!("{}:{}: `{name}` ({why}): {}", file.display(), number + 1, line.trim()));
            }
        }
        if core_part.contains("wasm_bindgen") {
            violations.push(format!("{}: names wasm_bindgen (only the wasm shell may)", file.display()));
        }
    }
    assert!(violations.is_empty(), "the core must stay I/O-free:\n{}", violations.join("\n"));
}

#[test]
fn the_check_sees_a_violation() {
    // The rule above is only as good as its matching: a line that reads the
    // clock must be caught, a comment that mentions it must not.
    assert!(!forbidden_in("    let started = std::time::Instant::now();").is_empty());
    assert!(!forbidden_in("use std::io::{self, BufRead};").is_empty());
    assert!(!forbidden_in("    let x = crate::shell::stdio::run();").is_empty());
    assert!(forbidden_in("    // never std::time::Instant here").is_empty());
    assert!(forbidden_in("use std::io::{self, Write};").is_empty());
}
