// Checks a rest/proof answer in the browser, without trusting the broker: a line-by-line port
// of scripts/check-proof.py (the reference), with the hashing rules of docs/ledger.md.
//
// The port keeps Python's semantics where they decide the outcome:
// - JSON integers are exact (BigInt), floats stay floats (json-exact.js) and, like Python's
//   struct.pack, are refused where an integer is packed; booleans pack as 0/1 (bool is an int);
// - base64 is strict (base64.b64decode(validate=True)): alphabet, padding, length;
// - bytes.fromhex: pairs of hex digits, either case, ASCII whitespace between pairs, any length;
// - a missing field, a wrong type or an unencodable string aborts the check as "malformed
//   proof" (where check-proof.py raises);
// - every comparison that check-proof.py makes becomes one step, in its order; the steps
//   after a failed one are still computed, as check-proof.py collects every problem.
// check-proof.py does not bind the proof to the event id asked for, nor to getEvent's answer;
// neither does this (the event page shows that comparison separately, for information).

import { PyFloat, parseJSONExact } from './json-exact.js';
import { sha256 } from './sha256.js';

/** A reason the proof cannot be checked (where check-proof.py raises). */
export class MalformedProof extends Error {}

/** Parses the answer as Python's json does (exact integers, floats apart; json-exact.js). */
export function parseExactJSON(text) {
  try {
    return parseJSONExact(text);
  } catch (err) {
    throw new MalformedProof(`not JSON (${err.message})`);
  }
}

// ---- Python's types, as far as check-proof.py relies on them ---------------------------------

const isDict = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof PyFloat);

function typeName(v) {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'boolean') return 'bool';
  if (v instanceof PyFloat) return 'float';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

/** obj[key] */
export function item(obj, key) {
  if (!isDict(obj)) throw new MalformedProof(`TypeError: '${typeName(obj)}' object where a dict with '${key}' was expected`);
  if (!Object.hasOwn(obj, key)) throw new MalformedProof(`KeyError: '${key}'`);
  return obj[key];
}

/** obj.get(key) */
export function getItem(obj, key) {
  if (!isDict(obj)) throw new MalformedProof(`AttributeError: '${typeName(obj)}' object has no attribute 'get'`);
  return Object.hasOwn(obj, key) ? obj[key] : null;
}

/** for x in v */
function iterate(v, what) {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return [...v];
  if (isDict(v)) return Object.keys(v);
  throw new MalformedProof(`TypeError: '${typeName(v)}' object is not iterable (${what})`);
}

function truthy(v) {
  if (v === null || v === undefined || v === false || v === '' || v === 0n) return false;
  if (v instanceof PyFloat) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return true;
}

const isNumeric = (v) => typeof v === 'bigint' || typeof v === 'boolean' || v instanceof PyFloat;

/** a == b */
function pyEquals(a, b) {
  if (isNumeric(a) && isNumeric(b)) {
    const x = a instanceof PyFloat ? a.value : a;
    const y = b instanceof PyFloat ? b.value : b;
    // eslint-disable-next-line eqeqeq -- loose equality compares BigInt, Number and Boolean by value
    return x == y;
  }
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEquals(x, b[i]));
  if (isDict(a) && isDict(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && pyEquals(a[k], b[k]));
  }
  return a === b;
}

/** "%d" % v: only numbers format; anything else raises TypeError in check-proof.py. */
function formatD(v) {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (v instanceof PyFloat && Number.isFinite(v.value)) return BigInt(Math.trunc(v.value)).toString();
  throw new MalformedProof(`TypeError: %d format: a number is required, not ${typeName(v)}`);
}

/** Display of a value in a step's text (never raises). */
function show(v) {
  if (typeof v === 'bigint' || v instanceof PyFloat) return String(v);
  if (typeof v === 'string') return v;
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x instanceof PyFloat ? x.value : x));
}

// ---- struct.pack, str.encode, bytes.fromhex, base64 ------------------------------------------

function asInt(v, what) {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  throw new MalformedProof(`struct.error: required argument is not an integer (${what}: ${typeName(v)})`);
}

function pack(v, what, bytes, signed) {
  const n = asInt(v, what);
  const bits = BigInt(bytes * 8);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (n < min || n > max) throw new MalformedProof(`struct.error: ${what} ${n} out of range`);
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  if (bytes === 4) view.setUint32(0, Number(n));
  else if (signed) view.setBigInt64(0, n);
  else view.setBigUint64(0, n);
  return out;
}

const u32 = (v, what) => pack(typeof v === 'number' ? BigInt(v) : v, what, 4, false);
const u64 = (v, what) => pack(v, what, 8, false);
const i64 = (v, what) => pack(v, what, 8, true);

const encoder = new TextEncoder();

/** str.encode() (UTF-8; a lone surrogate cannot be encoded). */
function encode(v, what) {
  if (typeof v !== 'string') throw new MalformedProof(`AttributeError: ${what} is a ${typeName(v)}, not a str`);
  const wellFormed = typeof v.isWellFormed === 'function' ? v.isWellFormed() : !/\p{Surrogate}/u.test(v);
  if (!wellFormed) throw new MalformedProof(`UnicodeEncodeError: ${what} has a lone surrogate`);
  return encoder.encode(v);
}

const HEX_DIGIT = /^[0-9a-fA-F]$/;
const PY_SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);

/** bytes.fromhex(v) */
export function fromHex(v, what) {
  if (typeof v !== 'string') throw new MalformedProof(`TypeError: fromhex() argument must be str, not ${typeName(v)} (${what})`);
  const out = [];
  let i = 0;
  while (i < v.length) {
    if (PY_SPACE.has(v[i])) {
      i += 1;
      continue;
    }
    if (!HEX_DIGIT.test(v[i]) || i + 1 >= v.length || !HEX_DIGIT.test(v[i + 1])) {
      throw new MalformedProof(`ValueError: non-hexadecimal number in ${what} at position ${i + (HEX_DIGIT.test(v[i]) ? 1 : 0)}`);
    }
    out.push(parseInt(v.slice(i, i + 2), 16));
    i += 2;
  }
  return Uint8Array.from(out);
}

/** base64.b64decode(v, validate=True) */
function b64decodeStrict(v, what) {
  if (typeof v !== 'string') throw new MalformedProof(`TypeError: ${what} must be a str, not ${typeName(v)}`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new MalformedProof(`binascii.Error: ${what} is not base64`);
  if (v.length % 4 !== 0) throw new MalformedProof(`binascii.Error: ${what} has incorrect padding`);
  const binary = atob(v);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i += 1) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

// ---- The hashes (docs/ledger.md) ---------------------------------------------------------------

/** The event hash of a proof's `event` under ledger format `fmt` (1n or 2n). */
export async function eventHash(ev, fmt) {
  const topic = encode(item(ev, 'topic'), 'event topic');
  const content = b64decodeStrict(item(ev, 'content'), 'event content');
  const out = [
    Uint8Array.of(0x00), u32(topic.length, 'topic length'), topic,
    u64(item(ev, 'sequence'), 'event sequence'), i64(item(ev, 'timestamp'), 'event timestamp'),
  ];
  // Format 1 hashes the content, format 2 its SHA-256 (docs/ledger.md).
  if (pyEquals(fmt, 1n)) out.push(u32(content.length, 'content length'), content);
  else if (pyEquals(fmt, 2n)) out.push(await sha256([content]));
  else throw new MalformedProof(`ValueError: unknown ledger format ${show(fmt)}`);
  let ext = getItem(ev, 'extensions');
  if (!truthy(ext)) ext = {};
  if (!isDict(ext)) throw new MalformedProof(`TypeError: event extensions is a ${typeName(ext)}, not a dict`);
  const keys = Object.keys(ext).map((key) => [key, encode(key, 'extension key')]);
  keys.sort((a, b) => compareBytes(a[1], b[1]));
  out.push(u32(keys.length, 'extension count'));
  for (const [key, k] of keys) {
    const v = encode(ext[key], `extension ${key}`);
    out.push(u32(k.length, 'key length'), k, u32(v.length, 'value length'), v);
  }
  return sha256(out);
}

async function blockHash(header, previous) {
  // Format 2 headers also commit to the group tree after the block.
  const tree = Object.hasOwn(header, 'treeRoot')
    ? [u64(item(header, 'treeSize'), 'treeSize'), fromHex(item(header, 'treeRoot'), 'treeRoot')]
    : [];
  return sha256([
    Uint8Array.of(0x02), u64(item(header, 'height'), 'height'), previous,
    fromHex(item(header, 'merkleRoot'), 'merkleRoot'), i64(item(header, 'timestamp'), 'timestamp'),
    u32(item(header, 'eventCount'), 'eventCount'), ...tree,
  ]);
}

// ---- check() -----------------------------------------------------------------------------------

const short = (v) => {
  const s = show(v);
  return s.length > 20 ? `${s.slice(0, 8)}…${s.slice(-8)}` : s;
};

/**
 * check-proof.py's leaf_of(): the event's leaf from its fields, or, for an event whose content
 * was pruned or erased, its eventHash (which the rest of the proof then checks); with whether
 * that holds and what to say.
 */
export async function leafOf(proof, fmt) {
  const ev = item(proof, 'event');
  const claimed = item(proof, 'eventHash');
  const pruned = getItem(ev, 'pruned');
  if (pruned !== null) {
    const leaf = fromHex(claimed, 'eventHash');
    const ok = fmt === 2n && leaf.length === 32;
    return {
      leaf, ok,
      detail: ok
        ? `content ${getItem(pruned, 'reason') ?? 'pruned'} at ${getItem(pruned, 'time') ?? 0}: the leaf is eventHash ${short(claimed)}, checked through the proof`
        : `a format ${fmt} event cannot be pruned`,
    };
  }
  const leaf = await eventHash(ev, fmt);
  return {
    leaf, ok: pyEquals(toHex(leaf), claimed),
    detail: `SHA-256 of the event's fields ${short(toHex(leaf))} vs the proof's eventHash ${short(claimed)}`,
  };
}

/**
 * check-proof.py's check(): resolves with { steps: [{name, ok, detail}], ok, summary }.
 * Throws MalformedProof where check-proof.py raises. onStep(step) is called as each step is
 * decided, so a page can show progress.
 */
export async function checkProof(proof, { trustedHead = '', onStep } = {}) {
  const steps = [];
  const step = (name, ok, detail) => {
    const s = { name, ok, detail };
    steps.push(s);
    onStep?.(s);
  };

  // 1. The event hash from the event's fields (a pruned event's eventHash, as check-proof.py).
  // proof.get('format', 1): an explicit null stays null (and is refused), as in check-proof.py.
  const fmt = getItem(proof, 'format') ?? (Object.hasOwn(proof, 'format') ? null : 1n);
  const { leaf, ok: leafOk, detail: leafDetail } = await leafOf(proof, fmt);
  step('event hash', leafOk, leafDetail);

  // 2. The Merkle root from eventHash and merklePath.
  let node = leaf;
  let index = 0;
  for (const pathStep of iterate(item(proof, 'merklePath'), 'merklePath')) {
    index += 1;
    const sibling = fromHex(item(pathStep, 'sibling'), `merklePath[${index - 1}].sibling`);
    const side = item(pathStep, 'side');
    if (side === 'left' || side === 'right') {
      node = await sha256(side === 'left' ? [Uint8Array.of(0x01), sibling, node] : [Uint8Array.of(0x01), node, sibling]);
      step(`Merkle path step ${index}`, true, `sibling ${short(toHex(sibling))} on the ${side}: node ${short(toHex(node))}`);
    } else {
      step(`Merkle path step ${index}`, false, `side must be left or right, not ${show(side)}`);
    }
  }
  const block = item(proof, 'block');
  const merkleRoot = item(block, 'merkleRoot');
  step('Merkle root', pyEquals(toHex(node), merkleRoot),
    `root from the path ${short(toHex(node))} vs the block's merkleRoot ${short(merkleRoot)}`);

  // 3. The block's hash from its header.
  let current = await blockHash(block, fromHex(item(block, 'previousHash'), 'block previousHash'));
  const blockHashClaimed = item(block, 'hash');
  let height = asInt(item(block, 'height'), 'height');
  step(`block ${height} hash`, pyEquals(toHex(current), blockHashClaimed),
    `SHA-256 of the header ${short(toHex(current))} vs its hash ${short(blockHashClaimed)}`);

  // 4. Every following header, linked through previousHash, up to the head.
  for (const link of iterate(item(proof, 'links'), 'links')) {
    const linkHeight = item(link, 'height');
    const heightOk = pyEquals(linkHeight, height + 1n);
    const label = formatD(linkHeight); // a height that is not a number raises, as "%d" does
    step(`block ${label} height`, heightOk, `height ${show(linkHeight)}, expected ${height + 1n} (after block ${height})`);
    const previousHash = item(link, 'previousHash');
    step(`block ${label} link`, pyEquals(previousHash, toHex(current)),
      `its previousHash ${short(previousHash)} vs the hash of block ${height} ${short(toHex(current))}`);
    current = await blockHash(link, current);
    const linkHash = item(link, 'hash');
    step(`block ${label} hash`, pyEquals(toHex(current), linkHash),
      `SHA-256 of the header ${short(toHex(current))} vs its hash ${short(linkHash)}`);
    height = asInt(linkHeight, 'height');
  }

  // The chain ends at the proof's head.
  const head = item(proof, 'head');
  const headHeight = item(head, 'height');
  const headHash = item(head, 'hash');
  step('chain head', pyEquals(headHeight, height) && pyEquals(headHash, toHex(current)),
    `the chain ends at block ${height} ${short(toHex(current))}; the proof's head is block ${show(headHeight)} ${short(headHash)}`);

  // 5. With a head hash kept elsewhere: the proof's head is that one.
  const trusted = String(trustedHead ?? '').trim();
  if (trusted) {
    step('trusted head', pyEquals(trusted.toLowerCase(), headHash),
      `the head you trust ${short(trusted.toLowerCase())} vs the proof's head ${short(headHash)}`);
  }

  const ok = steps.every((s) => s.ok);
  const eventId = isDict(proof) && Object.hasOwn(proof, 'eventId') ? show(proof.eventId) : '?';
  const summary = ok
    ? `verified: event ${eventId} is in block ${formatD(item(block, 'height'))}, which is linked to head ${height} ${toHex(current)}`
    : `not verified: ${steps.find((s) => !s.ok).name}`;
  return { steps, ok, summary };
}

/**
 * Parses and checks a proof given as the answer's text. Never rejects: a proof that cannot be
 * parsed or checked is { ok: false, summary: "not verified: malformed proof: <reason>" }.
 */
export async function verifyProofText(text, options = {}) {
  let proof;
  const steps = [];
  const onStep = (s) => {
    steps.push(s);
    options.onStep?.(s);
  };
  try {
    proof = parseExactJSON(text);
    return { ...(await checkProof(proof, { ...options, onStep })), proof };
  } catch (err) {
    const reason = err instanceof MalformedProof ? err.message : `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
    return { steps, ok: false, summary: `not verified: malformed proof: ${reason}`, proof };
  }
}
