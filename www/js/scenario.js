// A scenario is everything needed to replay a run exactly: the configuration,
// the seed and the user's actions stamped with the virtual time they happened.
// It lives in the page's query string so a link replays it:
//
//   ?n=16&seed=7&p=digest&loss=0.05&race=full_state&a=1200b3_3000i1.2.5_5000h&t=8000
//
//   n     node count (3..64)         p     protocol: full_state | digest | difference
//   ov    overlay: star | epidemic   topo  peer graph: grid | ring | line | tree | random | total
//   seed  simulator seed             loss  message loss probability (0..0.5)
//   iv    values every node starts with, in sync: 0 | 100 | 1000 | 10000
//   push  0: the epidemic overlay does not push new values on (rounds alone spread them)
//   race  a second lane on the same scenario and actions, differing in one thing (optional):
//           a protocol, an overlay or a topology name (those names are all distinct)
//   a     actions, "_"-separated, each <at_ms><op><args>:
//           b<node>           client broadcast to <node> (the k-th broadcast carries value k)
//           i<n1>.<n2>...     cut these nodes off from the rest
//           r<node>           restore every link of <node>
//           s                 split the cluster in two halves (the simulator picks them from the seed)
//           h                 heal every partition
//   t     open paused at this virtual time (ms) instead of at 0
//   play  1: start playing as soon as the page opens
//   note  a sentence for whoever opens the link (shown as plain text, ≤ 280 characters)
//   speed playback speed, virtual ms per real ms (one of SPEEDS; default 0.25)
//
// Only unreserved URL characters are used, so links stay readable when pasted.

export const PROTOCOLS = ['full_state', 'digest', 'difference'];
export const OVERLAYS = ['star', 'epidemic'];
export const TOPOLOGIES = ['grid', 'ring', 'line', 'tree', 'random', 'total'];
export const INITIAL_VALUES = [0, 100, 1000, 10000];
// What `race` may name: the lane raced against differs from the first in it.
export const RACE_CHOICES = [...PROTOCOLS, ...OVERLAYS, ...TOPOLOGIES];
export const MIN_NODES = 3;
export const MAX_NODES = 64;
export const MAX_LOSS = 0.5;
export const SPEEDS = [0.05, 0.1, 0.25, 0.5, 1, 3, 10];
export const DEFAULT_SPEED = 0.25;
export const MAX_NOTE_LENGTH = 280;

export function defaultScenario() {
  return {
    nodes: 12, seed: 1, protocol: 'digest', overlay: 'star', topology: 'grid', initialValues: 0, eagerPush: true,
    loss: 0, race: null, actions: [], t: null, play: false, speed: DEFAULT_SPEED, note: '',
  };
}

// The configuration of the lane raced against: the scenario with the one
// thing `race` names changed.
export function racedVariant(s) {
  if (PROTOCOLS.includes(s.race)) return { protocol: s.race };
  if (OVERLAYS.includes(s.race)) return { overlay: s.race };
  if (TOPOLOGIES.includes(s.race)) return { topology: s.race };
  return null;
}

const ACTION_PATTERN = /^(\d+)([bishr])([\d.]*)$/;

function encodeAction(action) {
  switch (action.op) {
    case 'b': case 'r': return `${action.at}${action.op}${action.node}`;
    case 'i': return `${action.at}i${action.nodes.join('.')}`;
    case 's': case 'h': return `${action.at}${action.op}`;
    default: throw new Error(`unknown action ${JSON.stringify(action)}`);
  }
}

// Parses one action token; returns an error string for anything malformed.
function decodeAction(token, nodeCount) {
  const m = ACTION_PATTERN.exec(token);
  if (!m) return `bad action "${token}"`;
  const at = Number(m[1]);
  const op = m[2];
  const args = m[3];
  const nodeIndex = (text) => {
    if (!/^\d+$/.test(text)) return null;
    const node = Number(text);
    return node < nodeCount ? node : null;
  };
  if (op === 'b' || op === 'r') {
    const node = nodeIndex(args);
    return node === null ? `bad node in "${token}"` : { at, op, node };
  }
  if (op === 'i') {
    const nodes = args.split('.').map(nodeIndex);
    if (nodes.length === 0 || nodes.some((n) => n === null)) return `bad node list in "${token}"`;
    return { at, op, nodes: [...new Set(nodes)].sort((x, y) => x - y) };
  }
  return args === '' ? { at, op } : `unexpected arguments in "${token}"`;
}

export function encodeScenario(s) {
  const parts = [`n=${s.nodes}`, `seed=${s.seed}`, `p=${s.protocol}`];
  if (s.overlay !== 'star') parts.push(`ov=${s.overlay}`);
  if (s.topology !== 'grid') parts.push(`topo=${s.topology}`);
  if (s.initialValues > 0) parts.push(`iv=${s.initialValues}`);
  if (!s.eagerPush) parts.push('push=0');
  if (s.loss > 0) parts.push(`loss=${s.loss}`);
  if (s.race) parts.push(`race=${s.race}`);
  if (s.actions.length > 0) parts.push(`a=${s.actions.map(encodeAction).join('_')}`);
  if (s.t !== null && s.t !== undefined) parts.push(`t=${s.t}`);
  if (s.play) parts.push('play=1');
  if (s.speed !== DEFAULT_SPEED) parts.push(`speed=${s.speed}`);
  if (s.note) parts.push(`note=${encodeURIComponent(s.note)}`);
  return `?${parts.join('&')}`;
}

// Reads a query string. Unknown or malformed fields fall back to defaults and
// are reported in `errors`, so a mangled link still opens something sensible.
export function decodeScenario(search) {
  const s = defaultScenario();
  const errors = [];
  const params = new URLSearchParams(search);
  const integer = (name, lo, hi) => {
    const text = params.get(name);
    if (text === null) return null;
    const v = Number(text);
    if (!/^\d+$/.test(text) || v < lo || v > hi) {
      errors.push(`${name} must be a whole number in ${lo}..${hi}, got "${text}"`);
      return null;
    }
    return v;
  };
  s.nodes = integer('n', MIN_NODES, MAX_NODES) ?? s.nodes;
  s.seed = integer('seed', 0, Number.MAX_SAFE_INTEGER) ?? s.seed;
  const protocol = params.get('p');
  if (protocol !== null) {
    if (PROTOCOLS.includes(protocol)) s.protocol = protocol;
    else errors.push(`unknown protocol "${protocol}"`);
  }
  const overlay = params.get('ov');
  if (overlay !== null) {
    if (OVERLAYS.includes(overlay)) s.overlay = overlay;
    else errors.push(`unknown overlay "${overlay}"`);
  }
  const topology = params.get('topo');
  if (topology !== null) {
    if (TOPOLOGIES.includes(topology)) s.topology = topology;
    else errors.push(`unknown topology "${topology}"`);
  }
  const initialValues = params.get('iv');
  if (initialValues !== null) {
    if (INITIAL_VALUES.map(String).includes(initialValues)) s.initialValues = Number(initialValues);
    else errors.push(`iv (initial values) must be one of ${INITIAL_VALUES.join(', ')}, got "${initialValues}"`);
  }
  const push = params.get('push');
  if (push !== null) {
    if (push === '0' || push === '1') s.eagerPush = push === '1';
    else errors.push(`push must be 0 or 1, got "${push}"`);
  }
  const race = params.get('race');
  if (race !== null && race !== '') {
    if (RACE_CHOICES.includes(race)) s.race = race;
    else errors.push(`unknown race "${race}" (a protocol, an overlay or a topology)`);
  }
  const loss = params.get('loss');
  if (loss !== null) {
    const v = Number(loss);
    if (loss !== '' && Number.isFinite(v) && v >= 0 && v <= MAX_LOSS) s.loss = v;
    else errors.push(`loss must be between 0 and ${MAX_LOSS}, got "${loss}"`);
  }
  const actions = params.get('a');
  if (actions) {
    for (const token of actions.split('_')) {
      const action = decodeAction(token, s.nodes);
      if (typeof action === 'string') errors.push(action);
      else s.actions.push(action);
    }
    // Replay applies actions in time order; a stable sort keeps same-time ones in link order.
    s.actions.sort((x, y) => x.at - y.at);
  }
  s.t = integer('t', 0, Number.MAX_SAFE_INTEGER);
  s.play = params.get('play') === '1';
  const note = params.get('note');
  if (note !== null) {
    if (note.length <= MAX_NOTE_LENGTH) s.note = note;
    else errors.push(`the note is longer than ${MAX_NOTE_LENGTH} characters`);
  }
  const speed = params.get('speed');
  if (speed !== null) {
    if (SPEEDS.includes(Number(speed))) s.speed = Number(speed);
    else errors.push(`speed must be one of ${SPEEDS.join(', ')}, got "${speed}"`);
  }
  return { scenario: s, errors };
}

// The value a broadcast carries: its 1-based position among the broadcasts.
export function broadcastValues(actions) {
  let k = 0;
  return actions.map((a) => (a.op === 'b' ? ++k : null));
}
