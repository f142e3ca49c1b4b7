// One simulated cluster on the page: the wasm Simulation plus what the canvas
// needs to animate it (messages in flight, set sizes, the bytes-over-time
// series). The protocol race runs two lanes on the same scenario.

import { Simulation } from '../pkg/anti_entropy.js';

// Messages kept for drawing; beyond this the oldest are forgotten (the totals
// still count them: they come from the simulator, not from this list).
const MAX_FLIGHTS = 4000;
// Bytes-over-time samples are taken at most this often (virtual ms).
const SAMPLE_EVERY_MS = 20;
// Beyond this many samples every other one is dropped, so the chart's cost
// per frame stays flat however long a run goes.
const MAX_SAMPLES = 2000;
// A jump further than this fast-forwards (counters only) to this short
// of its target, then animates the rest, so messages still in flight at the
// target are drawn.
const ANIMATED_TAIL_MS = 2000;
// Chart samples a fast-forward takes at most.
const JUMP_SAMPLES = 400;

export class Lane {
  // `variant` overrides the scenario's protocol, overlay or topology (the
  // lane raced against).
  constructor(scenario, variant = {}) {
    const config = { protocol: scenario.protocol, overlay: scenario.overlay, topology: scenario.topology, ...variant };
    this.protocol = config.protocol;
    this.overlay = config.overlay;
    this.topology = config.topology;
    this.sim = new Simulation({
      node_count: scenario.nodes,
      seed: scenario.seed,
      protocol: this.protocol,
      loss_probability: scenario.loss,
      overlay: this.overlay,
      topology: this.topology,
      eager_push: scenario.eagerPush,
      initial_values: scenario.initialValues,
    });
    this.nodeCount = scenario.nodes;
    // Messages sent so far that may still be on screen.
    this.flights = [];
    // Cumulative bytes over virtual time, for the chart.
    this.samples = [{ t: 0, sent: 0, full: 0 }];
    // Milliseconds spent in the simulator so far (the page reports the rate).
    this.stepCostMs = 0;
    // Each node's skipped-transfer count, and the nodes where it just rose.
    this.skipped = new Array(scenario.nodes).fill(0);
    this.justSkipped = [];
    // Time 0 itself: nodes get init and topology, so the overlay shows at
    // once. `take` fills in the rest: nowMs, counts, digestBadges, groups
    // (partition group per node), upstream (each node's hub, null for a
    // root), totals, converged.
    this.nowMs = -1;
    this.advanceTo(0);
  }

  // Runs the simulator to `tMs` and collects the frame it returns.
  advanceTo(tMs) {
    if (tMs <= this.nowMs) return;
    if (tMs - this.nowMs > ANIMATED_TAIL_MS) this.fastForwardTo(tMs - ANIMATED_TAIL_MS);
    const started = performance.now();
    const frame = this.sim.advance(tMs);
    this.stepCostMs += performance.now() - started;
    this.take(frame);
  }

  // Takes in a frame from the simulator.
  take(frame) {
    this.nowMs = frame.now_ms;
    for (const m of frame.messages) this.flights.push(m);
    if (this.flights.length > MAX_FLIGHTS) this.flights.splice(0, this.flights.length - MAX_FLIGHTS);
    this.counts = frame.counts;
    this.groups = frame.groups;
    this.digestBadges = frame.digest_badges;
    this.upstream = frame.upstream;
    // The topology's links, and node-to-node messages each node has sent.
    this.peerLinks = frame.peer_links;
    this.messagesSent = frame.messages_sent;
    frame.skipped.forEach((count, i) => { if (count > this.skipped[i]) this.justSkipped.push(i); });
    this.skipped = frame.skipped;
    this.totals = frame.totals;
    this.converged = frame.converged;
    // Since when every node holds the same set (null while they differ),
    // dated by the simulator to the event: a race of two topologies shows
    // which spread a value faster.
    this.convergedAtMs = frame.agreed_since_ms ?? null;
    this.sample();
  }

  // Runs to `tMs` in chunks, sampling the totals for the chart but not
  // fetching messages: nothing before the animated tail is drawn anyway.
  fastForwardTo(tMs) {
    const chunk = Math.max(SAMPLE_EVERY_MS, Math.ceil((tMs - this.nowMs) / JUMP_SAMPLES));
    const started = performance.now();
    while (this.nowMs < tMs) {
      this.nowMs = Math.min(tMs, this.nowMs + chunk);
      this.totals = this.sim.fastForward(this.nowMs);
      this.sample();
    }
    this.stepCostMs += performance.now() - started;
  }

  // Keeps one sample per SAMPLE_EVERY_MS: a frame that comes sooner updates the newest one.
  sample() {
    const sample = { t: this.nowMs, sent: this.totals.bytes_sent, full: this.totals.bytes_full_state };
    const previous = this.samples[this.samples.length - 2];
    if (previous && sample.t - previous.t < SAMPLE_EVERY_MS) this.samples[this.samples.length - 1] = sample;
    else this.samples.push(sample);
    if (this.samples.length > MAX_SAMPLES) {
      const last = this.samples.length - 1;
      this.samples = this.samples.filter((_, i) => i % 2 === 0 || i === last);
    }
  }

  // Applies one scenario action at the simulator's current time.
  apply(action, value) {
    switch (action.op) {
      case 'b': this.sim.broadcast(action.node, value); break;
      case 'i': this.sim.isolate(Uint32Array.from(action.nodes)); break;
      case 'r': this.sim.reconnect(action.node); break;
      case 's': this.sim.splitHalves(); break;
      case 'h': this.sim.heal(); break;
      default: throw new Error(`unknown action ${action.op}`);
    }
    // Show the action's effect (a cut, say) at once, even while paused.
    this.take(this.sim.snapshot());
  }

  // Forgets messages that finished long enough ago to be off screen.
  prune(displayMs, keepMs) {
    if (this.flights.length === 0 || this.flights[0].deliver_ms + keepMs >= displayMs) return;
    this.flights = this.flights.filter((m) => m.deliver_ms + keepMs >= displayMs);
  }

  // What the lane runs, in words: "difference, star" or "digest, epidemic on a ring".
  get label() {
    const protocol = this.protocol.replace('_', ' ');
    return this.overlay === 'epidemic' ? `${protocol}, epidemic on a ${this.topology}` : `${protocol}, star`;
  }

  node(i) {
    return this.sim.node(i);
  }

  free() {
    this.sim.free();
  }
}
