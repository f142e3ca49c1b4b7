// Cumulative bytes over virtual time: what the protocol sent (solid), what the
// full-state protocol sent on the same scenario (dashed, the module's shadow run), and the
// raced protocol's bytes when a race runs (dotted).

import { fitCanvas } from './render.js';
import { SENT_COLOR, FULL_COLOR, RACE_COLOR } from './palette.js';

export function formatBytes(bytes) {
  const abs = Math.abs(bytes);
  if (abs < 1024) return `${bytes} B`;
  if (abs < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

const ACTION_NAMES = { b: 'broadcast', i: 'cut', r: 'reconnect', s: 'split', h: 'heal' };

// `actions` (the scenario's, with `at` in ms) are marked on the time axis.
export function drawChart(canvas, series, actions = []) {
  const dpr = fitCanvas(canvas);
  const w = canvas.width / dpr;
  const h = canvas.height / dpr;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const left = 56;
  const bottom = h - 22;
  const top = 8;
  const right = w - 8;
  let tMax = 1000;
  let yMax = 1024;
  for (const s of series) {
    const last = s.points[s.points.length - 1];
    if (last) tMax = Math.max(tMax, last.t);
    for (const p of s.points) yMax = Math.max(yMax, p.y);
  }
  const x = (t) => left + ((right - left) * t) / tMax;
  const y = (v) => bottom - ((bottom - top) * v) / yMax;

  ctx.strokeStyle = '#888';
  ctx.lineWidth = 1;
  ctx.setLineDash([]);
  ctx.beginPath();
  ctx.moveTo(left, top); ctx.lineTo(left, bottom); ctx.lineTo(right, bottom);
  ctx.stroke();
  ctx.fillStyle = '#333';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  ctx.fillText(formatBytes(Math.round(yMax)), left - 4, top + 4);
  ctx.fillText('0', left - 4, bottom);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.fillText(`${(tMax / 1000).toFixed(1)} s (virtual)`, right - 40, bottom + 5);

  // Partitions and heals as labelled lines; broadcasts as ticks.
  ctx.lineWidth = 1;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  for (const a of actions) {
    if (a.at > tMax) continue;
    const ax = x(a.at);
    ctx.strokeStyle = a.op === 'b' ? '#E69F00' : '#888';
    ctx.setLineDash(a.op === 'b' ? [] : [3, 3]);
    ctx.beginPath();
    ctx.moveTo(ax, a.op === 'b' ? bottom - 6 : top);
    ctx.lineTo(ax, bottom);
    ctx.stroke();
    if (a.op !== 'b') ctx.fillText(ACTION_NAMES[a.op], ax + 2, top);
  }
  ctx.setLineDash([]);

  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dash);
    ctx.beginPath();
    s.points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.t), y(p.y)) : ctx.lineTo(x(p.t), y(p.y))));
    ctx.stroke();
  }
  ctx.setLineDash([]);
}

// The chart's series for a primary lane and an optional raced lane.
export function chartSeries(primary, race) {
  const series = [
    { label: `${primary.label}: sent`, color: SENT_COLOR, dash: [], points: primary.samples.map((s) => ({ t: s.t, y: s.sent })) },
    { label: 'full state sent (same scenario)', color: FULL_COLOR, dash: [6, 4], points: primary.samples.map((s) => ({ t: s.t, y: s.full })) },
  ];
  if (race) {
    series.push({ label: `${race.label}: sent`, color: RACE_COLOR, dash: [2, 3], points: race.samples.map((s) => ({ t: s.t, y: s.sent })) });
  }
  return series;
}
