// Measures what the page pays the simulator per animation frame: the cost of
// Simulation.advance() (run_until + trace + totals + per-node views) in the
// wasm build, for 64 nodes at several playback speeds, against the 16.7 ms
// budget of a 60 fps frame. Runs in Node (V8, the engine Chromium uses) on
// www/pkg, so it measures the very module the page loads.
//
//   node scripts/wasm-step-cost.mjs        (after scripts/wasm.sh build)

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { initSync, Simulation } = await import(path.join(root, 'www/pkg/anti_entropy.js'));
initSync({ module: fs.readFileSync(path.join(root, 'www/pkg/anti_entropy_bg.wasm')) });

const FRAME_MS = 1000 / 60;
const FRAMES = 1200; // 20 s of animation
const BROADCASTS_PER_S = 20; // a busy classroom: far more than anyone clicks

function measure(protocol, speed, nodes, loss) {
  const sim = new Simulation({ node_count: nodes, seed: 1, protocol, loss_probability: loss });
  const costs = [];
  let virtualMs = 0;
  let nextBroadcastMs = 0;
  let value = 0;
  let messages = 0;
  for (let f = 0; f < FRAMES; f++) {
    virtualMs += FRAME_MS * speed;
    while (nextBroadcastMs <= virtualMs) {
      sim.runUntil(Math.floor(nextBroadcastMs));
      sim.broadcast(value % nodes, ++value);
      nextBroadcastMs += 1000 / BROADCASTS_PER_S;
    }
    const started = performance.now();
    const frame = sim.advance(Math.floor(virtualMs));
    costs.push(performance.now() - started);
    messages += frame.messages.length;
  }
  sim.free();
  costs.sort((a, b) => a - b);
  const mean = costs.reduce((a, b) => a + b, 0) / costs.length;
  const p99 = costs[Math.floor(costs.length * 0.99)];
  const max = costs[costs.length - 1];
  return { protocol, speed, nodes, loss, mean, p99, max, messagesPerFrame: messages / FRAMES, values: value };
}

console.log(`wasm step cost per frame (${FRAMES} frames, ${BROADCASTS_PER_S} broadcasts/s of virtual time, seed 1)`);
console.log('protocol     speed  nodes  loss   mean ms  p99 ms  max ms  % of 16.7 ms (mean)  messages/frame');
for (const protocol of ['digest', 'difference', 'full_state']) {
  for (const speed of [1, 10]) {
    const r = measure(protocol, speed, 64, 0.05);
    console.log(
      `${r.protocol.padEnd(11)} ${String(r.speed).padStart(5)}x ${String(r.nodes).padStart(6)} ${r.loss.toFixed(2).padStart(5)}` +
      ` ${r.mean.toFixed(3).padStart(9)} ${r.p99.toFixed(3).padStart(7)} ${r.max.toFixed(2).padStart(7)} ${((100 * r.mean) / FRAME_MS).toFixed(1).padStart(20)}%` +
      ` ${r.messagesPerFrame.toFixed(1).padStart(15)}`,
    );
  }
}
