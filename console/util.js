// Small DOM and formatting helpers shared by the pages.
// Everything that shows data goes through textContent / text nodes: never innerHTML.

/**
 * Creates an element. attrs: plain attributes (null/false skipped, true = empty attribute),
 * plus `text` (textContent), `value` (set as a property after the children),
 * `class`, and `on<event>` handlers. Children: nodes or strings (as text), arrays flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (key === 'text') el.textContent = String(v);
    else if (key === 'value') value = v;
    else if (key === 'class') el.className = v;
    else if (key.startsWith('on') && typeof v === 'function') el.addEventListener(key.slice(2), v);
    else el.setAttribute(key, v === true ? '' : String(v));
  }
  appendAll(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an SVG element with attributes and children (strings become text). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) el.setAttribute(key, String(v));
  }
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  appendAll(el, children);
  return el;
}

/** A <dl> from [label, value] pairs; a value is a node, a string, or an array of those. */
export function defList(pairs, attrs = {}) {
  return h('dl', { class: 'fields', ...attrs },
    pairs.filter(Boolean).flatMap(([label, value, dd = {}]) => [h('dt', {}, label), h('dd', dd, value)]));
}

/** A labelled control: <label for=id>text</label> followed by the control. */
export function labelled(text, control, attrs = {}) {
  if (!control.id) control.id = uniqueId('f');
  return h('div', { class: 'field', ...attrs }, h('label', { for: control.id }, text), control);
}

let idCounter = 0;
export function uniqueId(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** Wraps a table so that it scrolls horizontally in a narrow window (keyboard-scrollable too). */
export function scrollTable(table, label) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label }, table);
}

/** A <select> of the groups; `selected` defaults to the first. */
export function groupSelect(groups, selected, attrs = {}) {
  const sel = h('select', attrs, groups.map((g) => h('option', { value: g }, `Group ${g}`)));
  if (selected !== undefined && groups.includes(selected)) sel.value = selected;
  return sel;
}

/**
 * Updates the rows of a tbody in place, keyed, so that polling does not destroy focus or
 * selection in rows that stay. build(item) makes a new row; update(tr, item) fills it.
 */
export function syncRows(tbody, items, keyOf, build, update) {
  const existing = new Map();
  for (const tr of tbody.children) if (tr.dataset.key !== undefined) existing.set(tr.dataset.key, tr);
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    let tr = existing.get(key);
    if (tr) existing.delete(key);
    else {
      tr = build(item);
      tr.dataset.key = key;
    }
    update(tr, item);
    const wanted = previous ? previous.nextSibling : tbody.firstChild;
    if (tr !== wanted) tbody.insertBefore(tr, wanted);
    previous = tr;
  }
  for (const tr of existing.values()) tr.remove();
  // Rows without a key (e.g. an "empty" placeholder) go when there are items.
  for (const tr of [...tbody.children]) if (tr.dataset.key === undefined && items.length) tr.remove();
}

// ---- Bytes, base64, text -------------------------------------------------------------------

const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** Base64 to bytes (atob; throws on input that is not base64). */
export function base64ToBytes(b64) {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Base64 to UTF-8 text, invalid sequences replaced by U+FFFD. */
export function base64ToText(b64) {
  try {
    return utf8Decoder.decode(base64ToBytes(String(b64 ?? '')));
  } catch {
    return `(not base64: ${shorten(String(b64), 60)})`;
  }
}

export function bytesToHex(bytes, separator = '') {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(separator);
}

/** Shortens long text for tables: first `max` characters then an ellipsis. */
export function shorten(text, max = 120) {
  const s = String(text ?? '');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A long hash shortened to its first and last 8 digits. */
export function shortHash(hash) {
  const s = String(hash ?? '');
  return s.length > 20 ? `${s.slice(0, 8)}…${s.slice(-8)}` : s;
}

/** Milliseconds since 1970 as an ISO date, or a dash for 0 / missing. */
export function isoTime(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n <= 0) return '—';
  const date = new Date(n);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** Any JSON value as short text (for fields of unknown shape). */
export function describe(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// ---- Event ids and hash routes -------------------------------------------------------------

/** Parses `<8 hex>-<seq>-<block>`; null when the id does not have that shape. */
export function parseEventId(id) {
  const m = /^([0-9a-f]{8})-(\d+)-(\d+)$/i.exec(String(id ?? '').trim());
  return m ? { topicHash: m[1], sequence: m[2], block: m[3] } : null;
}

function withGroup(path, group, extra = {}) {
  const q = new URLSearchParams();
  if (group !== undefined && group !== null && group !== '') q.set('group', group);
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

export const topicHref = (name, group) => withGroup(`#/topic/${encodeURIComponent(name)}`, group);
export const eventHref = (id, group) => withGroup(`#/event/${encodeURIComponent(id)}`, group);
export const blockHref = (group, height) => withGroup('#/blocks', group, { height });

/** A link; text defaults to the href. */
export function link(href, text, attrs = {}) {
  return h('a', { href, ...attrs }, text ?? href);
}
