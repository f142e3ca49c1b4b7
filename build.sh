#!/usr/bin/env bash
# One entry point for people and CI. Every subcommand installs what it needs
# first, so each works on a fresh machine.
#
#   ./build.sh serve            build everything and serve the demo on 127.0.0.1
#   ./build.sh test             install, build and run every test (what CI runs)
#   ./build.sh build            native binary + wasm module into www/pkg
#   ./build.sh simulate [ARGS]  run the cluster simulator (see --help)
#   ./build.sh bench            run the benchmarks and print their tables
#   ./build.sh fuzz [SECONDS] [TARGET]
#                               fuzz the node's input handling (default 600 s,
#                               target node_lines; or decode_equivalence)
#   ./build.sh setup            only install the toolchain pieces
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\n==> %s\n' "$*" >&2; }

setup_native() {
    command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
}

setup() {
    setup_native
    scripts/wasm.sh install
}

build_native() {
    log "cargo build --release"
    cargo build --release --locked
}

build() {
    setup
    build_native
    scripts/wasm.sh build
}

run_tests() {
    setup
    build_native
    log "cargo test --release (unit, protocol cases, properties, simulator swarm, process harness)"
    cargo test --release --locked
    scripts/wasm.sh build
    scripts/wasm.sh test
}

cmd="${1:-help}"
shift || true
case "$cmd" in
    setup) setup ;;
    build) build ;;
    test) run_tests ;;
    serve) build; scripts/wasm.sh serve "$@" ;;
    simulate)
        setup_native
        cargo build --release --locked --quiet
        exec target/release/anti-entropy simulate "$@"
        ;;
    bench)
        setup_native
        cargo bench --locked
        ;;
    fuzz)
        setup_native
        rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
        command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
        target="${2:-node_lines}"
        cd fuzz && mkdir -p "corpus/$target"
        nice -n 10 cargo +nightly fuzz run "$target" "corpus/$target" seeds -- -max_total_time="${1:-600}" -max_len=16384
        ;;
    help|-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) echo "unknown subcommand: $cmd (try ./build.sh help)" >&2; exit 2 ;;
esac
