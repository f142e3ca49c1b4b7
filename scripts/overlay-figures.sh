#!/usr/bin/env bash
# Prints the star-against-epidemic figures quoted in README.md: 25, 100 and
# 1000 nodes, 100 ms latency, rate 100, 20 s, seed 7 (epidemic on a random
# graph of degree 4). Every row is one `anti-entropy simulate ... --json` run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/anti-entropy
echo "| nodes | overlay | msgs/op | stable latency p50 / max ms | lost | valid | busiest node msgs/s | mean node msgs/s | busiest / mean |"
echo "|---|---|---|---|---|---|---|---|---|"
for nodes in 25 100 1000; do
    for overlay in star epidemic; do
        "$bin" simulate --nodes "$nodes" --overlay "$overlay" --topology random --seed 7 --json 2>/dev/null | tail -n 1 | python3 -c '
import json, sys
r = json.load(sys.stdin); c = r["config"]; l = r["stable_latency_ms"]; n = r["node_load"]
print("| %d | %s | %.2f | %d / %d | %d | %s | %.1f | %.2f | %.1f |" % (c["node_count"], c["overlay"], r["msgs_per_op"],
    l["p50"], l["p100"], r["lost_count"], "yes" if r["valid"] else "NO", n["max_msgs_sent_per_s"], n["mean_msgs_sent_per_s"],
    n["max_msgs_sent_per_s"] / n["mean_msgs_sent_per_s"]))'
    done
done
