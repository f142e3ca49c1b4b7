#!/usr/bin/env bash
# The wasm side of the build: toolchain install, module build, browser tests,
# and a local server for the teaching page in www/.
#
#   scripts/wasm.sh install   rustup target, wasm-bindgen-cli (= Cargo.lock's
#                             version), chromium + chromedriver (apt), npm ci
#   scripts/wasm.sh build     release wasm -> www/pkg (wasm-bindgen --target web,
#                             then npm binaryen's wasm-opt -O when installed)
#   scripts/wasm.sh test      wasm-bindgen-test in headless Chromium, then the
#                             Playwright end-to-end tests (node --test tests/e2e/)
#   scripts/wasm.sh serve [port]   build, then serve www/ on 127.0.0.1
#   scripts/wasm.sh bench     the simulator's cost per animation frame in wasm
#
# build.sh may also `source` this file and call wasm_install, wasm_build,
# wasm_test, wasm_serve, wasm_bench. Only crates.io, npm and apt are contacted.
set -euo pipefail

WASM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_TARGET=wasm32-unknown-unknown
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

wasm_log() { printf 'wasm.sh: %s\n' "$*" >&2; }

# The wasm-bindgen version Cargo.lock pins; the CLI must match it exactly.
wasm_bindgen_version() {
  (cd "$WASM_ROOT" && cargo pkgid -p wasm-bindgen | sed 's/.*@//')
}

wasm_install() {
  cd "$WASM_ROOT"
  rustup target add "$WASM_TARGET"
  local want have
  want="$(wasm_bindgen_version)"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  if [ "$have" != "$want" ]; then
    wasm_log "installing wasm-bindgen-cli $want (found '${have:-none}')"
    # --locked first; its lockfile has pinned yanked crates before, so fall back.
    cargo install wasm-bindgen-cli --version "$want" --locked \
      || cargo install wasm-bindgen-cli --version "$want"
  fi
  if [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
    wasm_log "installing chromium and chromium-driver from apt"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends chromium chromium-driver
  fi
  npm ci --no-audit --no-fund
}

wasm_build() {
  cd "$WASM_ROOT"
  cargo build --release --lib --target "$WASM_TARGET"
  local wasm="target/$WASM_TARGET/release/anti_entropy.wasm"
  rm -rf www/pkg
  wasm-bindgen --target web --no-typescript --out-dir www/pkg "$wasm"
  local out=www/pkg/anti_entropy_bg.wasm
  # npm's binaryen only: Debian's wasm-opt 108 emits modules that fail at run time.
  local opt="node_modules/.bin/wasm-opt"
  if [ -x "$opt" ]; then
    "$opt" -O --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$out" -o "$out.opt"
    mv "$out.opt" "$out"
  else
    wasm_log "node_modules/.bin/wasm-opt not found (run install): module left unoptimised"
  fi
  wasm_log "built $out ($(wc -c <"$out") bytes)"
}

wasm_test() {
  cd "$WASM_ROOT"
  # run_in_browser tests: wasm-bindgen-test-runner drives headless Chromium.
  cargo test --release --target "$WASM_TARGET" --test web
  [ -f www/pkg/anti_entropy_bg.wasm ] || wasm_build
  node --test tests/e2e/
}

wasm_bench() {
  cd "$WASM_ROOT"
  [ -f www/pkg/anti_entropy_bg.wasm ] || wasm_build
  node scripts/wasm-step-cost.mjs
}

wasm_serve() {
  local port="${1:-8000}"
  wasm_build
  cd "$WASM_ROOT/www"
  echo "Serving the teaching page at http://127.0.0.1:$port/ (Ctrl-C to stop)"
  exec python3 -m http.server "$port" --bind 127.0.0.1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    install) wasm_install ;;
    build) wasm_build ;;
    test) wasm_test ;;
    serve) shift; wasm_serve "$@" ;;
    bench) wasm_bench ;;
    *) echo "usage: scripts/wasm.sh install|build|test|bench|serve [port]" >&2; exit 2 ;;
  esac
fi
