// How each message kind looks. Colours are the Okabe–Ito palette (safe for
// the common colour-vision deficiencies); every kind also has its own shape
// and trail dash, so nothing depends on colour alone.

export const KINDS = {
  push: { label: 'new value (push)', color: '#E69F00', shape: 'circle', dash: [2, 4], size: 4 },
  digest: { label: 'digest (small)', color: '#56B4E9', shape: 'diamond', dash: [6, 4], size: 4 },
  digest_match: { label: 'digest matched: transfer skipped', color: '#009E73', shape: 'check', dash: [1, 3], size: 5 },
  difference: { label: 'difference transfer', color: '#D55E00', shape: 'triangle', dash: [], size: 5 },
  full_state: { label: 'full-state transfer (big)', color: '#CC79A7', shape: 'square', dash: [], size: 6 },
  client: { label: 'client request / reply', color: '#999999', shape: 'circle', dash: [1, 2], size: 3 },
};

export const NODE_FILL = '#0072B2';
export const NODE_EMPTY = '#e8eef3';
export const CUT_COLOR = '#D55E00';
export const SELECT_COLOR = '#000000';
export const SENT_COLOR = '#0072B2';
export const FULL_COLOR = '#CC79A7';
export const RACE_COLOR = '#E69F00';

export function kindStyle(kind) {
  return KINDS[kind] ?? KINDS.client;
}

// Draws a glyph of `shape` centred at (x, y) with half-size r.
export function drawGlyph(ctx, shape, x, y, r) {
  ctx.beginPath();
  switch (shape) {
    case 'diamond':
      ctx.moveTo(x, y - r); ctx.lineTo(x + r, y); ctx.lineTo(x, y + r); ctx.lineTo(x - r, y); ctx.closePath();
      ctx.fill();
      break;
    case 'triangle':
      ctx.moveTo(x, y - r); ctx.lineTo(x + r, y + r * 0.8); ctx.lineTo(x - r, y + r * 0.8); ctx.closePath();
      ctx.fill();
      break;
    case 'square':
      ctx.rect(x - r, y - r, 2 * r, 2 * r);
      ctx.fill();
      break;
    case 'check':
      ctx.moveTo(x - r, y); ctx.lineTo(x - r * 0.25, y + r * 0.8); ctx.lineTo(x + r, y - r * 0.8);
      ctx.lineWidth = Math.max(2, r * 0.45);
      ctx.stroke();
      break;
    default:
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fill();
  }
}

// A small inline SVG of a kind's glyph, for the legend.
export function legendSvg(kind) {
  const { color, shape } = kindStyle(kind);
  const shapes = {
    circle: `<circle cx="8" cy="8" r="5" fill="${color}"/>`,
    diamond: `<polygon points="8,2 14,8 8,14 2,8" fill="${color}"/>`,
    triangle: `<polygon points="8,2 14,13 2,13" fill="${color}"/>`,
    square: `<rect x="2" y="2" width="12" height="12" fill="${color}"/>`,
    check: `<polyline points="2,8 6,13 14,3" fill="none" stroke="${color}" stroke-width="3"/>`,
  };
  return `<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">${shapes[shape]}</svg>`;
}
