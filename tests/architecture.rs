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

/// The core's modules bottom to top, as `src/core/mod.rs` lists them: a
/// module may use only those before it, so no two modules import each
/// other, directly or round a circle.
const CORE_LAYERS: [&str; 14] =
    ["fingerprint", "coding", "pinsketch", "set", "reconcile", "wire", "rng", "ack", "config", "overlay", "repair", "star", "epidemic", "node"];

/// The core modules one line of code names as `crate::core::NAME`.
fn core_modules_named(line: &str) -> Vec<&'static str> {
    let code = line.split("//").next().unwrap_or_default();
    CORE_LAYERS
        .iter()
        .copied()
        .filter(|m| {
            let path = format!("crate::core::{m}");
            code.match_indices(&path).any(|(at, _)| {
                let next = code[at + path.len()..].chars().next();
                !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .collect()
}

#[test]
fn core_modules_use_only_the_layers_below_them() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mod_rs = fs::read_to_string(core.join("mod.rs")).expect("src/core/mod.rs");
    let mut declared: Vec<&str> =
        mod_rs.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|l| l.trim_end_matches(';')).collect();
    declared.sort();
    let mut expected: Vec<&str> = CORE_LAYERS.to_vec();
    expected.sort();
    assert_eq!(declared, expected, "every core module has a layer, and every layer a module");
    let mut violations = Vec::new();
    for (rank, module) in CORE_LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let dir = core.join(module);
        if dir.is_dir() {
            core_files(&dir, &mut files);
        }
        files.push(core.join(format!("{module}.rs")));
        for file in files {
            let text = fs::read_to_string(&file).expect("a readable source file");
            let core_part = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
            for (number, line) in core_part.lines().enumerate() {
                for used in core_modules_named(line) {
                    let used_rank = CORE_LAYERS.iter().position(|m| *m == used).expect("a layer");
                    if used_rank >= rank && used != *module {
                        violations.push(format!("{}:{}: {module} uses {used}: {}", file.display(), number + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(violations.is_empty(), "a core module may use only the layers below it:\n{}", violations.join("\n"));
}

#[test]
fn the_layer_check_sees_an_import() {
    assert_eq!(core_modules_named("use crate::core::node::Node;"), vec!["node"]);
    assert_eq!(core_modules_named("use crate::core::set::MessageSet; // crate::core::star"), vec!["set"]);
    assert!(core_modules_named("use crate::core::settings;").is_empty());
}
