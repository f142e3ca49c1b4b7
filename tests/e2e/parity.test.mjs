// The wasm module and the native build replay one scenario to the same
// figures: totals, per-node set sizes and digests, and the message trace.
// The wasm side loads www/pkg (the page's own --target web build) in Node
// with initSync; the native side is `cargo run --example replay`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT, WWW, requireBuild } from './harness.mjs';
import { broadcastValues } from '../../www/js/scenario.js';

requireBuild();
const { initSync, Simulation } = await import(path.join(WWW, 'pkg', 'anti_entropy.js'));
initSync({ module: fs.readFileSync(path.join(WWW, 'pkg', 'anti_entropy_bg.wasm')) });

// Same replay rule as the page (www/js/app.js): run_until(action.at), then the action.
function replayWasm(scenario) {
  const sim = new Simulation({
    node_count: scenario.nodes, seed: scenario.seed, protocol: scenario.protocol, loss_probability: scenario.loss,
    overlay: scenario.overlay ?? 'star', topology: scenario.topology ?? 'grid',
    eager_push: scenario.eager_push ?? true, initial_values: scenario.initial_values ?? 0,
  });
  const values = broadcastValues(scenario.actions);
  const trace = { messages: 0, bytes: 0, dropped: 0 };
  const tally = (frame) => {
    for (const m of frame.messages) {
      trace.messages += 1;
      trace.bytes += m.bytes;
      trace.dropped += m.dropped ? 1 : 0;
    }
    return frame;
  };
  scenario.actions.forEach((action, k) => {
    tally(sim.advance(action.at));
    switch (action.op) {
      case 'b': sim.broadcast(action.node, values[k]); break;
      case 'i': sim.isolate(Uint32Array.from(action.nodes)); break;
      case 'r': sim.reconnect(action.node); break;
      case 's': sim.splitHalves(); break;
      case 'h': sim.heal(); break;
      default: throw new Error(action.op);
    }
  });
  const frame = tally(sim.advance(scenario.until_ms));
  const nodes = [];
  for (let i = 0; i < scenario.nodes; i++) {
    const n = sim.node(i);
    nodes.push({ count: n.count, digest_prefix: n.digest_prefix });
  }
  sim.free();
  return { now_ms: frame.now_ms, totals: frame.totals, converged: frame.converged, trace, nodes };
}

function replayNative(scenario) {
  const out = execFileSync('cargo', ['run', '--release', '--locked', '--quiet', '--example', 'replay'], {
    cwd: ROOT, input: JSON.stringify(scenario), encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'],
  });
  const native = JSON.parse(out);
  return {
    now_ms: native.now_ms,
    totals: native.totals,
    converged: native.converged,
    trace: native.trace,
    nodes: native.nodes.map((n) => ({ count: n.count, digest_prefix: n.digest.slice(0, 12) })),
  };
}

const SCENARIOS = [
  {
    nodes: 12, seed: 17, protocol: 'difference', loss: 0.1, until_ms: 8000,
    actions: [
      { at: 0, op: 'b', node: 0 }, { at: 150, op: 'b', node: 5 }, { at: 600, op: 's' },
      { at: 700, op: 'b', node: 1 }, { at: 700, op: 'b', node: 11 }, { at: 2500, op: 'h' },
      { at: 3000, op: 'i', nodes: [3, 4] }, { at: 3100, op: 'b', node: 3 }, { at: 3300, op: 'i', nodes: [8] },
      { at: 4000, op: 'r', node: 8 }, { at: 5000, op: 'h' },
    ],
  },
  { nodes: 7, seed: 4, protocol: 'digest', loss: 0, until_ms: 5000, actions: [0, 1, 2, 3, 4, 5].map((k) => ({ at: 100 * k, op: 'b', node: k })) },
  { nodes: 5, seed: 99, protocol: 'full_state', loss: 0.3, until_ms: 4000, actions: [{ at: 10, op: 'b', node: 2 }] },
  {
    nodes: 10, seed: 23, protocol: 'difference', overlay: 'epidemic', topology: 'random', loss: 0.1, until_ms: 6000,
    actions: [
      { at: 0, op: 'b', node: 0 }, { at: 200, op: 's' }, { at: 300, op: 'b', node: 4 }, { at: 300, op: 'b', node: 9 },
      { at: 2000, op: 'h' }, { at: 2500, op: 'i', nodes: [2] }, { at: 2600, op: 'b', node: 2 }, { at: 3500, op: 'h' },
    ],
  },
  {
    // Values in sync from the start, rounds alone spreading (no push), and
    // the full-state shadow measuring the savings on both sides.
    nodes: 9, seed: 8, protocol: 'digest', overlay: 'epidemic', topology: 'ring', eager_push: false,
    initial_values: 1000, loss: 0.05, until_ms: 7000,
    actions: [{ at: 0, op: 'b', node: 4 }, { at: 900, op: 's' }, { at: 1000, op: 'b', node: 0 }, { at: 3000, op: 'h' }],
  },
];

for (const scenario of SCENARIOS) {
  test(`wasm and native agree: ${scenario.protocol}, ${scenario.overlay ?? 'star'}, ${scenario.nodes} nodes, seed ${scenario.seed}`, { timeout: 600000 }, () => {
    const wasm = replayWasm(scenario);
    const native = replayNative(scenario);
    assert.ok(wasm.trace.messages > 0, 'the scenario sent messages');
    assert.ok(wasm.totals.bytes_full_state > 0, 'the full-state shadow ran');
    assert.deepEqual(wasm, native);
  });
}
