// Draws one lane on a canvas: nodes on a circle, messages moving along the
// chord from sender to receiver between their send and delivery times.

import { KINDS, kindStyle, drawGlyph, NODE_FILL, NODE_EMPTY, CUT_COLOR, SELECT_COLOR } from './palette.js';

// How long a "transfer skipped" burst stays on screen, in real milliseconds
// (real time, so it is visible at any playback speed).
const BURST_MS = 700;
const MAX_BURSTS = 200;
// Clusters up to this size get a name label on every node.
const LABELLED_NODES_MAX = 32;

// Sizes canvas backing store to its CSS box times the device pixel ratio.
export function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  return dpr;
}

// The partition group most nodes are in (ties: the lowest number); nodes
// outside it are drawn cut off.
export function mainGroup(groups) {
  const sizes = new Map();
  for (const g of groups) sizes.set(g, (sizes.get(g) ?? 0) + 1);
  let best = 0;
  let bestSize = -1;
  for (const [g, size] of sizes) {
    if (size > bestSize || (size === bestSize && g < best)) { best = g; bestSize = size; }
  }
  return best;
}

// Node positions on a circle; nodes cut off from the main group sit further
// out, so a partition is visible as a shape, not only as a colour.
export function layout(canvas, nodeCount, groups) {
  const dpr = fitCanvas(canvas);
  const w = canvas.width / dpr;
  const h = canvas.height / dpr;
  const cx = w / 2;
  const cy = h / 2;
  // Node radius: as large as the circumference allows, within readable
  // bounds; the margin leaves room for the cut-off offset and the labels.
  const r = Math.max(4, Math.min(18, (Math.PI * Math.min(w, h)) / 2 / nodeCount * 0.5));
  const cutOffset = Math.max(8, r);
  // Up to 32 nodes carry labels outside the ring; leave room for them.
  const labelRoom = nodeCount <= LABELLED_NODES_MAX ? 24 : 6;
  const ring = Math.min(w, h) / 2 - r - cutOffset - labelRoom;
  const main = mainGroup(groups);
  const points = [];
  for (let i = 0; i < nodeCount; i++) {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / nodeCount;
    const cut = groups[i] !== main;
    const radius = ring + (cut ? cutOffset : 0);
    points.push({ x: cx + radius * Math.cos(a), y: cy + radius * Math.sin(a), cut });
  }
  return { dpr, w, h, cx, cy, ring, r, points, cutOffset };
}

// The node under (x, y) in CSS pixels, or null.
export function hitNode(geometry, x, y) {
  let best = null;
  let bestDistance = Infinity;
  geometry.points.forEach((p, i) => {
    const d = Math.hypot(p.x - x, p.y - y);
    if (d < bestDistance) { bestDistance = d; best = i; }
  });
  return bestDistance <= geometry.r + 8 ? best : null;
}

function mix(a, b, t) {
  const pa = parseInt(a.slice(1), 16);
  const pb = parseInt(b.slice(1), 16);
  const channel = (shift) => Math.round(((pa >> shift) & 255) * (1 - t) + ((pb >> shift) & 255) * t);
  return `rgb(${channel(16)}, ${channel(8)}, ${channel(0)})`;
}

// Draws `lane` as of virtual time `displayMs`. `view` carries what the page
// knows beyond the simulator: partition state, selection, bursts.
// Draws `lane` as of virtual time `displayMs`. `view` carries what the page
// adds: the selected node and the bursts in progress.
export function drawLane(canvas, lane, displayMs, view) {
  const g = layout(canvas, lane.nodeCount, lane.groups);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(g.dpr, 0, 0, g.dpr, 0, 0);
  ctx.clearRect(0, 0, g.w, g.h);
  drawOverlay(ctx, g, lane);
  drawMessages(ctx, g, lane, displayMs, view);
  drawNodes(ctx, g, lane, view);
  // A check mark where a digest check just skipped a transfer.
  for (const node of lane.justSkipped) view.bursts.push({ node, startedMs: view.realNowMs });
  lane.justSkipped = [];
  drawBursts(ctx, g, view);
  return g;
}

// The gossip overlay: under the star a thin line from each node to its hub,
// under the epidemic overlay the real peer graph the nodes gossip along.
function drawOverlay(ctx, g, lane) {
  ctx.strokeStyle = '#c9d1d9';
  ctx.lineWidth = 1;
  ctx.setLineDash([]);
  ctx.beginPath();
  if (lane.overlay === 'epidemic') {
    for (const [a, b] of lane.peerLinks) {
      if (!g.points[a] || !g.points[b]) continue;
      ctx.moveTo(g.points[a].x, g.points[a].y);
      ctx.lineTo(g.points[b].x, g.points[b].y);
    }
  } else {
    lane.upstream.forEach((hub, i) => {
      if (hub === null || !g.points[hub]) return;
      ctx.moveTo(g.points[i].x, g.points[i].y);
      ctx.lineTo(g.points[hub].x, g.points[hub].y);
    });
  }
  ctx.stroke();
  drawLoad(ctx, g, lane);
}

// Per-node load: a small bar towards the centre, as long as the share of
// messages the node sent against the busiest node, so the hub stands out.
function drawLoad(ctx, g, lane) {
  const sent = lane.messagesSent ?? [];
  const most = Math.max(1, ...sent);
  ctx.strokeStyle = '#8b949e';
  ctx.lineWidth = 3;
  ctx.beginPath();
  sent.forEach((count, i) => {
    const p = g.points[i];
    if (!p || count === 0) return;
    const dx = g.cx - p.x;
    const dy = g.cy - p.y;
    const d = Math.hypot(dx, dy) || 1;
    const length = (g.r * 2.2 * count) / most;
    const start = g.r + 2;
    ctx.moveTo(p.x + (dx / d) * start, p.y + (dy / d) * start);
    ctx.lineTo(p.x + (dx / d) * (start + length), p.y + (dy / d) * (start + length));
  });
  ctx.stroke();
}

function drawMessages(ctx, g, lane, displayMs, view) {
  // Group by kind so each dash pattern and colour is set once per frame.
  const byKind = new Map();
  for (const m of lane.flights) {
    if (m.send_ms > displayMs) continue;
    const duration = Math.max(1, m.deliver_ms - m.send_ms);
    const progress = (displayMs - m.send_ms) / duration;
    if (!m.dropped && progress >= 1) continue;
    // A lost message travels half way, then fades out where it was lost.
    const shown = m.dropped ? Math.min(progress, 0.5) : progress;
    const alpha = m.dropped ? Math.max(0, 1 - Math.max(0, progress - 0.5) * 2) : 1;
    if (alpha <= 0) continue;
    const a = g.points[m.from];
    const b = g.points[m.to];
    const item = { a, x: a.x + (b.x - a.x) * shown, y: a.y + (b.y - a.y) * shown, m, alpha };
    if (!byKind.has(m.kind)) byKind.set(m.kind, []);
    byKind.get(m.kind).push(item);
  }
  if (view.bursts.length > MAX_BURSTS) view.bursts.splice(0, view.bursts.length - MAX_BURSTS);

  for (const [kind, items] of byKind) {
    const style = kindStyle(kind);
    ctx.strokeStyle = style.color;
    ctx.fillStyle = style.color;
    // Trails: the path travelled so far, faint, with the kind's dash.
    ctx.globalAlpha = 0.35;
    ctx.lineWidth = kind === 'full_state' ? 2.5 : 1.2;
    ctx.setLineDash(style.dash);
    ctx.beginPath();
    for (const it of items) {
      if (it.m.dropped) continue;
      ctx.moveTo(it.a.x, it.a.y);
      ctx.lineTo(it.x, it.y);
    }
    ctx.stroke();
    ctx.setLineDash([]);
    for (const it of items) {
      ctx.globalAlpha = it.alpha;
      // Transfers grow with their size, so a full state looks as heavy as it is.
      // Glyphs shrink with the nodes, so 64 nodes do not drown in squares.
      const scale = Math.min(1.2, Math.max(0.45, g.r / 12));
      const r = scale * (style.size + (kind === 'full_state' || kind === 'difference' ? Math.min(8, Math.sqrt(it.m.bytes) / 8) : 0));
      drawGlyph(ctx, style.shape, it.x, it.y, r);
      if (it.m.dropped && it.alpha < 1) drawLossMark(ctx, it.x, it.y, r + 3);
    }
  }
  ctx.globalAlpha = 1;
}

function drawLossMark(ctx, x, y, r) {
  ctx.save();
  ctx.strokeStyle = CUT_COLOR;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r);
  ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r);
  ctx.stroke();
  ctx.restore();
}

function drawNodes(ctx, g, lane, view) {
  const most = Math.max(1, ...lane.counts);
  const labelFont = `${Math.max(9, Math.min(13, g.r))}px system-ui, sans-serif`;
  ctx.font = labelFont;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  g.points.forEach((p, i) => {
    const count = lane.counts[i] ?? 0;
    const share = count / most;
    ctx.fillStyle = mix(NODE_EMPTY, NODE_FILL, share);
    ctx.strokeStyle = '#334';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.arc(p.x, p.y, g.r, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
    if (p.cut) {
      ctx.save();
      ctx.strokeStyle = CUT_COLOR;
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      ctx.arc(p.x, p.y, g.r + 5, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.restore();
    }
    if (view.selected === i) {
      ctx.strokeStyle = SELECT_COLOR;
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(p.x, p.y, g.r + (p.cut ? 9 : 4), 0, 2 * Math.PI);
      ctx.stroke();
    }
    // Inside the node when it fits: the set size, and under it the start of
    // the set's digest (equal digests, equal sets).
    ctx.fillStyle = share > 0.55 ? '#fff' : '#000';
    if (g.r >= 14) {
      ctx.font = `bold ${Math.round(g.r * 0.62)}px system-ui, sans-serif`;
      ctx.fillText(String(count), p.x, p.y - g.r * 0.28);
      ctx.font = `${Math.round(g.r * 0.5)}px ui-monospace, monospace`;
      ctx.fillText(lane.digestBadges[i] ?? '', p.x, p.y + g.r * 0.38);
    } else if (g.r >= 9) {
      ctx.font = `${Math.round(g.r * 0.9)}px system-ui, sans-serif`;
      ctx.fillText(String(count), p.x, p.y);
    }
    ctx.font = labelFont;
    if (lane.nodeCount <= LABELLED_NODES_MAX || view.selected === i) {
      const distance = Math.hypot(p.x - g.cx, p.y - g.cy);
      const out = 1 + (g.r + (p.cut || view.selected === i ? 17 : 12)) / distance;
      ctx.fillStyle = '#333';
      ctx.fillText(`n${i}`, g.cx + (p.x - g.cx) * out, g.cy + (p.y - g.cy) * out);
    }
  });
}

function drawBursts(ctx, g, view) {
  const { color } = KINDS.digest_match;
  view.bursts = view.bursts.filter((b) => view.realNowMs - b.startedMs < BURST_MS);
  ctx.strokeStyle = color;
  for (const b of view.bursts) {
    const t = (view.realNowMs - b.startedMs) / BURST_MS;
    const p = g.points[b.node];
    if (!p) continue;
    ctx.globalAlpha = 1 - t;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.arc(p.x, p.y, g.r + 2 + t * Math.max(4, g.r * 0.8), 0, 2 * Math.PI);
    ctx.stroke();
    drawGlyph(ctx, 'check', p.x + g.r * 0.9, p.y - g.r * 0.9, Math.max(3, g.r * 0.4));
  }
  ctx.globalAlpha = 1;
}
