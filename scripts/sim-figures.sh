#!/usr/bin/env bash
# Prints the simulator figures quoted in README.md: 5, 25 and 100 nodes,
# 100 ms latency, rate 100, 20 s, for each protocol; then the partition runs.
# Every row is one `anti-entropy simulate ... --json` run (deterministic).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/anti-entropy
row() {
    "$bin" simulate "$@" --json 2>/dev/null | tail -n 1 | python3 -c '
import json, sys
r = json.load(sys.stdin)
c = r["config"]; l = r["stable_latency_ms"]; heals = [h["converged_after_ms"] for h in r.get("heals", [])]
worst = max((h for h in heals if h is not None), default=None)
print("| %d | %s | %s | %.2f | %.0f | %d / %d | %d | %s | %s |" % (
    c["node_count"], c["protocol"], (c["nemesis"] or {}).get("kind", "none"), r["msgs_per_op"], r["bytes_per_op"],
    l["p50"], l["p100"], r["lost_count"], "yes" if r["valid"] else "NO",
    "-" if not heals else ("%d ms" % worst if worst is not None else "never")))'
}
echo "| nodes | protocol | nemesis | msgs/op | bytes/op | stable latency p50 / max ms | lost | valid | worst convergence after heal |"
echo "|---|---|---|---|---|---|---|---|---|"
for nodes in 5 25 100; do
    for protocol in full_state digest difference; do
        row --nodes "$nodes" --protocol "$protocol" --latency-ms 100 --rate 100 --seconds 20 --seed 7
    done
done
for protocol in full_state digest difference; do
    row --nodes 25 --protocol "$protocol" --latency-ms 100 --rate 100 --seconds 30 --seed 7 --nemesis partition
    row --nodes 25 --protocol "$protocol" --latency-ms 100 --rate 100 --seconds 30 --seed 7 --nemesis halves
done
