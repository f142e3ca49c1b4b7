#!/usr/bin/env bash
# Measures libminisketch (the optimised PinSketch of Bitcoin's Erlay, C++,
# with the carry-less multiply) on this machine: decode time and per-element
# cost for 64-bit elements at the capacities a difference of 12 or 100
# values needs. It is the evidence behind reconcile.rs's choice to keep
# power sums to small differences: at 100 values even this decoder costs
# more CPU than negentropy's whole exchange. Needs g++; the C++ sources
# come from crates.io (the minisketch-rs crate bundles them; bindgen is not
# used).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/fetch/src"
printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nminisketch-rs = "=0.1.9"\n' > "$work/fetch/Cargo.toml"
echo 'fn main() {}' > "$work/fetch/src/main.rs"
(cd "$work/fetch" && cargo fetch --quiet)
src=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 2 -type d -name 'minisketch-rs-0.1.9' | head -n 1)/minisketch
g++ -O2 -std=c++11 -DHAVE_CLMUL -mpclmul -I"$src/include" "$src"/src/minisketch.cpp "$src"/src/fields/*.cpp \
    "$src"/src/bench.cpp -o "$work/bench"
echo "libminisketch, 64-bit elements; columns: generic, clmul implementation"
for run in "24 12" "160 100" "192 150"; do
    set -- $run
    echo "capacity $1, $2 differing values:"
    "$work/bench" "$1" "$2" 10 | grep -E '^(recover|create).*[[:space:]]64[[:space:]]' \
        | sed -e 's/^recover\[ms\]/  decode ms     /' -e 's/^create\[ns\]/  ns per element and capacity/'
done
