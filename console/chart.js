// A tiny SVG line chart of a rate over a sliding time window (the overview's events/s).

import { svg, setChildren } from './util.js';

const WIDTH = 320;
const HEIGHT = 110;
const PAD = { left: 40, right: 8, top: 10, bottom: 20 };

/** A round upper bound for the y axis: 1, 2, 5, 10, 20, 50, ... at or above `max`. */
function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

function formatRate(n) {
  if (n >= 100) return String(Math.round(n));
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2).replace(/\.?0+$/, '') || '0';
}

/**
 * A chart element (role img, described by its aria-label) that draws points
 * [{t: ms, v: number}] over the last `windowMs` milliseconds.
 */
export function createRateChart({ windowMs = 5 * 60 * 1000, unit = 'events/s', title = 'Events per second' } = {}) {
  const el = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: 'chart',
    role: 'img',
    'data-test': 'rate-chart',
    'aria-label': `${title} over the last ${Math.round(windowMs / 60000)} minutes: no data yet`,
  });

  function update(points, now = Date.now()) {
    const from = now - windowMs;
    const shown = points.filter((p) => p.t >= from);
    const peak = shown.reduce((m, p) => Math.max(m, p.v), 0);
    const top = niceMax(peak);
    const plotW = WIDTH - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const x = (t) => PAD.left + ((t - from) / windowMs) * plotW;
    const y = (v) => PAD.top + plotH - (Math.min(v, top) / top) * plotH;

    const last = shown.at(-1);
    el.setAttribute('aria-label', last
      ? `${title} over the last ${Math.round(windowMs / 60000)} minutes: now ${formatRate(last.v)} ${unit}, peak ${formatRate(peak)} ${unit}`
      : `${title}: no data yet`);

    const line = shown.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    setChildren(el,
      svg('title', {}, el.getAttribute('aria-label')),
      // Grid: the y axis' top, middle and zero.
      [0, 0.5, 1].map((f) => svg('line', {
        x1: PAD.left, x2: WIDTH - PAD.right, y1: y(top * f), y2: y(top * f), class: f === 0 ? 'axis' : 'grid',
      })),
      svg('text', { x: PAD.left - 4, y: y(top) + 4, 'text-anchor': 'end', class: 'tick' }, formatRate(top)),
      svg('text', { x: PAD.left - 4, y: y(0), 'text-anchor': 'end', class: 'tick' }, '0'),
      svg('text', { x: PAD.left, y: HEIGHT - 4, class: 'tick' }, `${Math.round(windowMs / 60000)} min ago`),
      svg('text', { x: WIDTH - PAD.right, y: HEIGHT - 4, 'text-anchor': 'end', class: 'tick' }, 'now'),
      shown.length > 1 ? svg('polyline', { points: line, class: 'series', fill: 'none' }) : null,
      last ? svg('circle', { cx: x(last.t), cy: y(last.v), r: 2.5, class: 'series-dot' }) : null,
    );
  }

  update([]);
  return { element: el, update };
}

export { formatRate };
