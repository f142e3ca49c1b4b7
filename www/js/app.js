// The page: wires the controls to one or two lanes (the protocol race), runs
// virtual time forward from requestAnimationFrame, and keeps the scenario in
// the URL. All simulation is the wasm module's; this file only schedules,
// records actions and draws.

import init from '../pkg/anti_entropy.js';
import { Lane } from './lane.js';
import { drawLane, hitNode, layout } from './render.js';
import { drawChart, chartSeries, formatBytes } from './chart.js';
import { KINDS, legendSvg } from './palette.js';
import { decodeScenario, encodeScenario, broadcastValues, racedVariant, MIN_NODES, MAX_NODES, DEFAULT_SPEED } from './scenario.js';

// Virtual milliseconds one press of Step advances.
const STEP_MS = 50;
// Longest real frame gap honoured, so a background tab does not jump ahead.
const MAX_FRAME_GAP_MS = 100;
// Messages stay drawn this long (virtual ms) after delivery, for the fade.
const KEEP_AFTER_DELIVERY_MS = 2000;
// How often the inspector and the performance line refresh (real ms).
const SLOW_REFRESH_MS = 250;

const $ = (id) => document.getElementById(id);

const state = {
  scenario: null,
  lanes: [],
  views: [],
  values: [],
  nextAction: 0,
  displayMs: 0,
  playing: false,
  speed: DEFAULT_SPEED,
  selected: null,
  clickMode: 'broadcast',
  lastRealMs: null,
  lastSlowRefreshMs: 0,
  framesSinceRefresh: 0,
  stepCostSinceRefresh: 0,
  drawCostSinceRefresh: 0,
  reachedMs: 0,
  seeking: false,
  pendingSeekMs: null,
  marksHtml: '',
};

function setStatus(text) {
  $('status').textContent = text;
}

// What the page draws beyond the simulator's state.
function freshView() {
  return { selected: null, bursts: [], realNowMs: 0 };
}

// (Re)creates the lanes and replays the scenario up to `untilMs`.
function rebuild(untilMs = 0) {
  state.lanes.forEach((lane) => lane.free());
  const s = state.scenario;
  const raced = racedVariant(s);
  state.lanes = raced ? [new Lane(s), new Lane(s, raced)] : [new Lane(s)];
  state.views = state.lanes.map(() => freshView());
  state.values = broadcastValues(s.actions);
  state.nextAction = 0;
  state.displayMs = 0;
  if (state.selected !== null && state.selected >= s.nodes) state.selected = null;
  advanceDisplay(untilMs);
  // A jump replays many checks at once: no burst storm for them.
  state.lanes.forEach((lane) => { lane.justSkipped = []; });
  syncControls();
  updateUrl();
  refreshDom(true);
}

// Moves virtual time to `targetMs`, applying every scenario action on the way
// exactly at its timestamp: run_until(action.at), then the action.
function advanceDisplay(targetMs) {
  const target = Math.floor(targetMs);
  const actions = state.scenario.actions;
  while (state.nextAction < actions.length && actions[state.nextAction].at <= target) {
    const index = state.nextAction;
    const action = actions[index];
    state.lanes.forEach((lane) => {
      lane.advanceTo(action.at);
      lane.apply(action, state.values[index]);
    });
    state.nextAction += 1;
  }
  state.lanes.forEach((lane) => lane.advanceTo(target));
  state.displayMs = Math.max(state.displayMs, targetMs);
}

// Records a live action at the simulator's current time and applies it.
function act(action) {
  const at = state.lanes[0].nowMs;
  const actions = state.scenario.actions;
  // Actions already replayed are at or before `at`; later ones (from a link
  // still replaying) stay after it.
  actions.splice(state.nextAction, 0, { ...action, at });
  state.values = broadcastValues(actions);
  advanceDisplay(state.displayMs);
  updateUrl();
  refreshDom(true);
}

function broadcastTo(node) {
  act({ op: 'b', node });
  setStatus(`Broadcast value ${state.values[state.nextAction - 1]} to n${node} at ${state.lanes[0].nowMs} ms.`);
}

function isCutOff(lane, node) {
  return lane.groups.filter((g) => g === lane.groups[node]).length === 1 && lane.nodeCount > 1;
}

// A node on its own is reconnected (all its links restored); any other node
// is cut off alone. The simulator applies the action at its next step, so the
// page reads the partition back from the following frame.
function cutOff(node) {
  if (isCutOff(state.lanes[0], node)) {
    act({ op: 'r', node });
    setStatus(`n${node} reconnected: all its links restored.`);
  } else {
    act({ op: 'i', nodes: [node] });
    setStatus(`n${node} cut off from every other node.`);
  }
}

function selectedOrRandomNode() {
  const value = $('target').value;
  if (value !== 'any') return Number(value);
  return Math.floor(Math.random() * state.scenario.nodes);
}

function select(node) {
  state.selected = node;
  $('target').value = node === null ? 'any' : String(node);
  refreshInspector();
}

function clickNode(node) {
  select(node);
  if (state.clickMode === 'broadcast') broadcastTo(node);
  else if (state.clickMode === 'cut') cutOff(node);
}

function setPlaying(playing) {
  state.playing = playing;
  $('play').textContent = playing ? 'Pause' : 'Play';
  $('play').setAttribute('aria-pressed', String(playing));
}

function updateUrl() {
  const s = state.scenario;
  history.replaceState(null, '', encodeScenario({ ...s, t: null, play: false, speed: state.speed }));
  const atNow = $('share-at-now').checked;
  const url = new URL(location.href);
  url.search = encodeScenario({
    ...s, t: atNow ? Math.floor(state.displayMs) : null, play: $('share-play').checked, speed: state.speed,
  });
  $('share').value = url.toString();
}

function syncControls() {
  const s = state.scenario;
  $('nodes').value = String(s.nodes);
  $('seed').value = String(s.seed);
  $('protocol').value = s.protocol;
  $('overlay').value = s.overlay;
  $('topology').value = s.topology;
  $('initial-values').value = String(s.initialValues);
  $('eager-push').checked = s.eagerPush;
  $('eager-push').disabled = s.overlay !== 'epidemic' && s.race !== 'epidemic';
  $('race').value = s.race ?? '';
  $('loss').value = String(s.loss);
  $('loss-value').textContent = `${Math.round(s.loss * 100)}%`;
  const target = $('target');
  const options = ['<option value="any">any</option>'];
  for (let i = 0; i < s.nodes; i++) options.push(`<option value="${i}">n${i}</option>`);
  target.innerHTML = options.join('');
  target.value = state.selected === null ? 'any' : String(state.selected);
  document.querySelectorAll('.lane').forEach((figure, k) => {
    figure.hidden = k >= state.lanes.length;
    const lane = state.lanes[k];
    if (lane) figure.querySelector('.lane-protocol').textContent = lane.label;
  });
  $('lanes').classList.toggle('racing', state.lanes.length > 1);
  const series = chartSeries(state.lanes[0], state.lanes[1]);
  $('chart-legend').innerHTML = series
    .map((s) => `<li><span class="swatch" style="border-top: 3px ${s.dash.length === 0 ? 'solid' : s.dash[0] > 3 ? 'dashed' : 'dotted'} ${s.color}"></span>${s.label}</li>`)
    .join('');
}

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

// The node that sent the most node-to-node messages, and how many.
function busiest(lane) {
  const sent = lane.messagesSent ?? [];
  if (sent.length === 0) return null;
  const most = Math.max(...sent);
  return { node: sent.indexOf(most), sent: most, mean: sent.reduce((a, b) => a + b, 0) / sent.length };
}

function laneSummary(lane) {
  const t = lane.totals;
  const top = busiest(lane);
  const load = top && top.sent > 0 ? ` · busiest n${top.node}: ${top.sent} (${(top.sent / top.mean).toFixed(1)}× the mean)` : '';
  const agreed = lane.convergedAtMs === null ? 'not in sync' : `in sync since ${lane.convergedAtMs} ms`;
  return `${formatBytes(t.bytes_sent)} sent · ${t.messages_sent} messages · ${t.transfers_skipped} skipped${load} · ${agreed}`;
}

function refreshDom(force) {
  const primary = state.lanes[0];
  const t = primary.totals;
  setText('transfers-skipped', String(t.transfers_skipped));
  setText('bytes-sent', String(t.bytes_sent));
  setText('bytes-full-state', String(t.bytes_full_state));
  setText('bytes-saved', String(t.bytes_saved));
  setText('saved-percent', t.bytes_full_state > 0 ? `${((100 * t.bytes_saved) / t.bytes_full_state).toFixed(1)}%` : '–');
  setText('bytes-priced', String(t.bytes_priced_as_whole_sets));
  setText('messages', String(t.messages_sent));
  setText('clock', String(primary.nowMs));
  const converged = state.lanes.every((lane) => lane.converged);
  setText('converged', converged ? 'converged' : 'not converged yet');
  $('converged').classList.toggle('pending', !converged);
  state.lanes.forEach((lane, k) => setLaneSummary(k, laneSummary(lane)));
  if (state.lanes.length > 1) {
    const [a, b] = state.lanes;
    const ratio = b.totals.bytes_sent > 0 ? (100 * a.totals.bytes_sent) / b.totals.bytes_sent : null;
    setText('race-verdict', ratio === null ? '' : `${raceName(a)} sent ${ratio.toFixed(0)}% of ${raceName(b)}'s bytes`);
  } else {
    setText('race-verdict', '');
  }
  if (force) {
    refreshInspector();
    refreshLegendCounts();
  }
}

// A raced lane by what sets it apart: its protocol, overlay or topology.
function raceName(lane) {
  const s = state.scenario;
  const variant = racedVariant(s) ?? {};
  if ('overlay' in variant) return lane.overlay;
  if ('topology' in variant) return lane.overlay === 'epidemic' ? `the ${lane.topology}` : `${lane.topology} (star)`;
  return lane.protocol.replace('_', ' ');
}

function setLaneSummary(k, text) {
  const el = document.querySelector(`#lane-${k} .lane-summary`);
  if (el.textContent !== text) el.textContent = text;
}

function refreshInspector() {
  const box = $('inspector');
  if (state.selected === null || state.lanes.length === 0) {
    box.innerHTML = '<p>Click a node (or pick one under Actions) to inspect it.</p>';
    return;
  }
  const rows = state.lanes.map((lane) => {
    const n = lane.node(state.selected);
    const s = n.stats;
    const groupCount = new Set(lane.groups).size;
    const cut = isCutOff(lane, state.selected) ? ' (cut off)' : groupCount > 1 ? ` (partition ${lane.groups[state.selected] + 1} of ${groupCount})` : '';
    return `<table><caption>${n.id}${cut} · ${lane.label}</caption><tbody>
      <tr><th scope="row">set size</th><td data-testid="inspect-count">${n.count}</td></tr>
      <tr><th scope="row">digest</th><td><code>${n.digest_prefix}…</code></td></tr>
      <tr><th scope="row">hub (upstream)</th><td>${n.upstream ?? '— (a root)'}</td></tr>
      <tr><th scope="row">followers</th><td>${n.followers.length}${n.followers.length > 0 ? `: ${n.followers.slice(0, 12).join(' ')}${n.followers.length > 12 ? ' …' : ''}` : ''}</td></tr>
      <tr><th scope="row">syncs / skipped</th><td>${s.syncs} / ${s.skipped}</td></tr>
      <tr><th scope="row">values received by sync</th><td>${s.transferred}</td></tr>
      <tr><th scope="row">bytes sent / full-state bytes</th><td>${s.bytes_sent} / ${s.bytes_full_state}</td></tr>
      <tr><th scope="row">messages sent</th><td>${s.messages_sent}</td></tr>
    </tbody></table>`;
  });
  box.innerHTML = rows.join('');
}

// What a screen reader hears for a lane's canvas.
function describeLane(lane) {
  const groups = new Set(lane.groups).size;
  const least = Math.min(...lane.counts);
  const most = Math.max(...lane.counts);
  const sizes = least === most ? `every node holds ${most} values` : `nodes hold ${least} to ${most} values`;
  const split = groups > 1 ? `, cut into ${groups} groups` : '';
  const state = lane.converged ? 'converged' : 'not converged';
  const overlay = lane.overlay === 'epidemic' ? `epidemic on a ${lane.topology} of ${lane.peerLinks.length} links` : 'star';
  const top = busiest(lane);
  const load = top === null ? '' : `; the busiest node, n${top.node}, sent ${top.sent} messages`;
  return `${lane.protocol.replace('_', ' ')}, ${overlay}: ${lane.nodeCount} nodes${split}; ${sizes}; ${state}${load}. Arrow keys choose a node, Enter applies the click action to it.`;
}

function canvases() {
  return [...document.querySelectorAll('canvas.cluster')];
}

function frame(realNowMs) {
  const gap = state.lastRealMs === null ? 0 : Math.min(MAX_FRAME_GAP_MS, realNowMs - state.lastRealMs);
  state.lastRealMs = realNowMs;
  const before = state.lanes.reduce((sum, lane) => sum + lane.stepCostMs, 0);
  if (state.pendingSeekMs !== null) {
    seek(state.pendingSeekMs);
    state.pendingSeekMs = null;
  } else if (state.playing) {
    advanceDisplay(state.displayMs + gap * state.speed);
  }
  state.stepCostSinceRefresh += state.lanes.reduce((sum, lane) => sum + lane.stepCostMs, 0) - before;
  const drawStarted = performance.now();
  const cs = canvases();
  state.lanes.forEach((lane, k) => {
    lane.prune(state.displayMs, KEEP_AFTER_DELIVERY_MS);
    const view = state.views[k];
    view.realNowMs = realNowMs;
    view.selected = state.selected;
    drawLane(cs[k], lane, state.displayMs, view);
  });
  drawChart($('chart'), chartSeries(state.lanes[0], state.lanes[1]), state.scenario.actions);
  state.drawCostSinceRefresh += performance.now() - drawStarted;
  refreshDom(false);
  refreshTimeline();
  state.framesSinceRefresh += 1;
  const sinceRefresh = realNowMs - state.lastSlowRefreshMs;
  if (sinceRefresh >= SLOW_REFRESH_MS) {
    setText('fps', ((1000 * state.framesSinceRefresh) / sinceRefresh).toFixed(0));
    setText('step-ms', (state.stepCostSinceRefresh / state.framesSinceRefresh).toFixed(3));
    setText('draw-ms', (state.drawCostSinceRefresh / state.framesSinceRefresh).toFixed(3));
    state.framesSinceRefresh = 0;
    state.stepCostSinceRefresh = 0;
    state.drawCostSinceRefresh = 0;
    state.lastSlowRefreshMs = realNowMs;
    if (state.selected !== null) refreshInspector();
    refreshLegendCounts();
    state.lanes.forEach((lane, k) => cs[k].setAttribute('aria-label', describeLane(lane)));
    if (state.playing && $('share-at-now').checked) updateUrl();
  }
  requestAnimationFrame(frame);
}

function readScenarioControl(mutate) {
  mutate(state.scenario);
  state.reachedMs = 0;
  rebuild(0);
}

function bindControls() {
  $('play').addEventListener('click', () => setPlaying(!state.playing));
  $('step').addEventListener('click', () => {
    setPlaying(false);
    advanceDisplay(Math.floor(state.displayMs) + STEP_MS);
    refreshDom(true);
  });
  // Seeks run in the next animation frame, so a fast drag replays once per frame.
  $('timeline').addEventListener('input', (e) => {
    state.seeking = true;
    setPlaying(false);
    state.pendingSeekMs = Number(e.target.value);
  });
  $('timeline').addEventListener('change', () => { state.seeking = false; });
  $('speed').addEventListener('change', (e) => {
    state.speed = Number(e.target.value);
    updateUrl();
  });
  $('restart').addEventListener('click', () => { rebuild(0); setStatus('Replaying the scenario from the start.'); });
  $('reset').addEventListener('click', () => {
    state.scenario.actions = [];
    state.reachedMs = 0;
    setPlaying(false);
    rebuild(0);
    setStatus('Reset: no actions, time 0.');
  });
  $('nodes').addEventListener('change', (e) => {
    const n = Math.round(Number(e.target.value));
    if (!(n >= MIN_NODES && n <= MAX_NODES)) {
      setStatus(`Nodes must be between ${MIN_NODES} and ${MAX_NODES}.`);
      e.target.value = String(state.scenario.nodes);
      return;
    }
    // Actions naming nodes that no longer exist are dropped.
    readScenarioControl((s) => {
      s.nodes = n;
      s.actions = s.actions
        .map((a) => (a.op === 'i' ? { ...a, nodes: a.nodes.filter((x) => x < n) } : a))
        .filter((a) => (a.op === 'b' || a.op === 'r' ? a.node < n : a.op === 'i' ? a.nodes.length > 0 : true));
    });
  });
  $('seed').addEventListener('change', (e) => {
    const seed = Number(e.target.value);
    if (!Number.isSafeInteger(seed) || seed < 0) {
      setStatus('The seed must be a whole number ≥ 0.');
      e.target.value = String(state.scenario.seed);
      return;
    }
    readScenarioControl((s) => { s.seed = seed; });
  });
  $('protocol').addEventListener('change', (e) => readScenarioControl((s) => { s.protocol = e.target.value; }));
  $('overlay').addEventListener('change', (e) => readScenarioControl((s) => { s.overlay = e.target.value; }));
  $('topology').addEventListener('change', (e) => readScenarioControl((s) => { s.topology = e.target.value; }));
  $('race').addEventListener('change', (e) => readScenarioControl((s) => { s.race = e.target.value || null; }));
  $('initial-values').addEventListener('change', (e) => readScenarioControl((s) => { s.initialValues = Number(e.target.value); }));
  $('eager-push').addEventListener('change', (e) => readScenarioControl((s) => { s.eagerPush = e.target.checked; }));
  $('loss').addEventListener('input', (e) => { $('loss-value').textContent = `${Math.round(Number(e.target.value) * 100)}%`; });
  $('loss').addEventListener('change', (e) => readScenarioControl((s) => { s.loss = Number(e.target.value); }));
  $('target').addEventListener('change', (e) => select(e.target.value === 'any' ? null : Number(e.target.value)));
  $('broadcast').addEventListener('click', () => broadcastTo(selectedOrRandomNode()));
  $('cut').addEventListener('click', () => {
    if (state.selected === null) { setStatus('Pick a node first (click it, or choose it under Node).'); return; }
    cutOff(state.selected);
  });
  $('partition').addEventListener('click', () => { act({ op: 's' }); setStatus('Split into two halves (picked by the seed): the outer ring cannot talk to the inner one.'); });
  $('heal').addEventListener('click', () => { act({ op: 'h' }); setStatus('Healed: every node can reach every other again.'); });
  document.querySelectorAll('input[name="click-mode"]').forEach((radio) => {
    radio.addEventListener('change', (e) => { state.clickMode = e.target.value; });
  });
  $('share-at-now').addEventListener('change', updateUrl);
  $('share-play').addEventListener('change', updateUrl);
  $('share-note').addEventListener('input', (e) => {
    state.scenario.note = e.target.value;
    updateUrl();
  });
  $('copy').addEventListener('click', async () => {
    updateUrl();
    try {
      await navigator.clipboard.writeText($('share').value);
      setStatus('Link copied.');
    } catch {
      $('share').select();
      setStatus('Select the link and copy it (the clipboard is not available here).');
    }
  });

  canvases().forEach((canvas) => {
    canvas.addEventListener('click', (e) => {
      const rect = canvas.getBoundingClientRect();
      const lane = state.lanes[canvases().indexOf(canvas)];
      const node = hitNode(layout(canvas, lane.nodeCount, lane.groups), e.clientX - rect.left, e.clientY - rect.top);
      if (node !== null) clickNode(node);
    });
    canvas.addEventListener('keydown', (e) => {
      const n = state.scenario.nodes;
      const current = state.selected ?? 0;
      if (e.key === 'ArrowRight' || e.key === 'ArrowDown') select((current + 1) % n);
      else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') select((current + n - 1) % n);
      else if (e.key === 'Enter') clickNode(current);
      else return;
      e.preventDefault();
    });
  });

  document.addEventListener('keydown', (e) => {
    const tag = e.target.tagName;
    if (e.ctrlKey || e.metaKey || e.altKey || tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') return;
    const keys = { k: () => $('play').click(), '.': () => $('step').click(), b: () => $('broadcast').click(), h: () => $('heal').click() };
    if (keys[e.key]) { keys[e.key](); e.preventDefault(); }
  });
}

function renderLegend() {
  $('legend').innerHTML = Object.entries(KINDS)
    .filter(([kind]) => kind !== 'client')
    .map(([kind, style]) => `<li>${legendSvg(kind)} ${style.label} <span class="kind-count" data-kind="${kind}"></span></li>`)
    .join('') + '<li><svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><path d="M3 3 L13 13 M13 3 L3 13" stroke="#D55E00" stroke-width="2"/></svg> lost message (fades out)</li>'
    + '<li><svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="6" fill="none" stroke="#D55E00" stroke-width="2" stroke-dasharray="3 2"/></svg> node cut off (moved outwards)</li>'
    + '<li><svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="7" fill="#0072B2"/></svg> node: values held, and the first digits of its digest (darker: holds more)</li>';
}

function refreshLegendCounts() {
  const byKind = state.lanes[0].totals.by_kind;
  document.querySelectorAll('.kind-count').forEach((el) => {
    const kind = el.dataset.kind;
    const t = byKind[kind];
    // A matched digest is not a message of its own: count the skipped transfers.
    const text = kind === 'digest_match' ? `× ${state.lanes[0].totals.transfers_skipped}` : t ? `× ${t.messages} · ${formatBytes(t.bytes)}` : '';
    if (el.textContent !== text) el.textContent = text;
  });
}

// The timeline spans everything reached so far and every scheduled action.
function refreshTimeline() {
  const actions = state.scenario.actions;
  const lastAction = actions.length > 0 ? actions[actions.length - 1].at : 0;
  state.reachedMs = Math.max(state.reachedMs, Math.floor(state.displayMs));
  const max = Math.max(2000, state.reachedMs, lastAction);
  const slider = $('timeline');
  if (slider.max !== String(max)) slider.max = String(max);
  if (document.activeElement !== slider || !state.seeking) slider.value = String(Math.floor(state.displayMs));
  slider.setAttribute('aria-valuetext', `${Math.floor(state.displayMs)} ms of ${max}`);
  const marks = actions.map((a) => `<span class="${a.op}" style="left: calc(${(100 * a.at) / max}% - 1px)"></span>`).join('');
  if (state.marksHtml !== marks) {
    state.marksHtml = marks;
    $('timeline-marks').innerHTML = marks;
  }
}

// Moves to `tMs`: forward by running on, backward by replaying from the seed.
function seek(tMs) {
  if (tMs >= state.displayMs) {
    advanceDisplay(tMs);
    state.lanes.forEach((lane) => { lane.justSkipped = []; });
  } else {
    rebuild(tMs);
  }
  updateUrl();
  refreshDom(true);
}

async function main() {
  await init();
  const { scenario, errors } = decodeScenario(location.search);
  state.scenario = scenario;
  $('share-note').value = scenario.note;
  $('note').textContent = scenario.note;
  $('note').hidden = scenario.note === '';
  state.speed = scenario.speed;
  $('speed').value = String(scenario.speed);
  renderLegend();
  // The race offers every choice of the three controls it can vary.
  document.querySelectorAll('#race optgroup[data-copies]').forEach((group) => {
    group.innerHTML = $(group.dataset.copies).innerHTML;
  });
  bindControls();
  rebuild(scenario.t ?? 0);
  if (errors.length > 0) setStatus(`Parts of the link were ignored: ${errors.join('; ')}.`);
  else if (scenario.t !== null) setStatus(`Scenario replayed to ${scenario.t} ms. Press Play to continue.`);
  else if (scenario.play) setStatus(`Playing a scenario with ${scenario.actions.length} actions.`);
  else if (scenario.actions.length > 0) setStatus(`Scenario with ${scenario.actions.length} actions loaded. Press Play to replay it.`);
  else setStatus('Ready. Press Play, then broadcast a value or click a node.');
  if (scenario.play) setPlaying(true);
  document.body.dataset.ready = 'true';
  requestAnimationFrame(frame);
}

main().catch((error) => {
  setStatus(`The simulator failed to start: ${error.message ?? error}`);
  console.error(error);
});
