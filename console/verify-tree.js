// Checks a tree proof (rest/proof's default form) in the browser, as scripts/check-proof.py
// does: the event hash from the event's fields (docs/ledger.md), the RFC 9162 §2.1.3.2
// inclusion proof up to rootHash, the checkpoint naming that size and root, its Ed25519
// signature under the broker's verifier key (WebCrypto, where the browser has Ed25519), and the
// witnesses' cosignatures (tlog-cosignature/v1) under the witness keys given.

import { MalformedProof, fromHex, getItem, item, leafOf, parseExactJSON, toHex } from './verify.js';
import { sha256 } from './sha256.js';

const node = (left, right) => sha256([Uint8Array.of(0x01), left, right]);

/** RFC 9162 §2.1.3.2 with BigInt indexes: does `path` lead from `leaf` to `root`? */
export async function verifyInclusion(leaf, index, size, path, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await node(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await node(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && toHex(r) === toHex(root);
}

function base64(text, what) {
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw new MalformedProof(`${what} is not base64`);
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** A signed note: its text (through the last newline before the blank line) and signature lines. */
export function parseNote(note) {
  const at = note.lastIndexOf('\n\n');
  if (!note.endsWith('\n') || at < 0) throw new MalformedProof('the checkpoint is not a signed note');
  const text = note.slice(0, at + 1);
  const signatures = note.slice(at + 2, -1).split('\n').map((line) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new MalformedProof(`malformed signature line ${line}`);
    const bytes = base64(m[2], `the signature of ${m[1]}`);
    if (bytes.length < 5) throw new MalformedProof(`the signature of ${m[1]} is too short`);
    return { name: m[1], keyId: toHex(bytes.slice(0, 4)), signature: bytes.slice(4) };
  });
  const lines = text.split('\n');
  if (lines.length < 4 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) throw new MalformedProof('the note is not a checkpoint');
  return { text, origin: lines[0], size: BigInt(lines[1]), root: base64(lines[2], 'the checkpoint root'), signatures };
}

/** A signed-note verifier key `name+keyid+base64(type ‖ key)`, its key ID checked. */
export async function parseVerifierKey(vkey) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(vkey.trim());
  if (!m) throw new MalformedProof(`'${vkey.trim().slice(0, 60)}' is not a verifier key (name+keyid+key)`);
  const material = base64(m[3], 'the verifier key');
  if (material.length !== 33 || (material[0] !== 0x01 && material[0] !== 0x04)) {
    throw new MalformedProof(`${m[1]}: not an Ed25519 (01) or cosignature (04) key`);
  }
  const id = await sha256([new TextEncoder().encode(m[1]), Uint8Array.of(0x0a), material]);
  if (toHex(id.slice(0, 4)) !== m[2]) throw new MalformedProof(`${m[1]}: the key ID does not match the key`);
  return { name: m[1], keyId: m[2], type: material[0], publicKey: material.slice(1) };
}

/** Ed25519 through WebCrypto: true or false, or null when this browser cannot check it. */
export async function ed25519(publicKey, signature, message) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  let key;
  try {
    key = await subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch {
    return null;
  }
  try {
    return await subtle.verify({ name: 'Ed25519' }, key, signature, message);
  } catch {
    return false;
  }
}

/** Does `sig` (a parsed signature line) verify under `key` over the note's text? true/false/null. */
async function verifySignature(key, sig, text) {
  if (sig.name !== key.name || sig.keyId !== key.keyId) return false;
  const encoder = new TextEncoder();
  if (key.type === 0x01) return ed25519(key.publicKey, sig.signature, encoder.encode(text));
  if (sig.signature.length !== 72) return false;
  const time = new DataView(sig.signature.buffer, sig.signature.byteOffset, 8).getBigUint64(0);
  return ed25519(key.publicKey, sig.signature.slice(8), encoder.encode(`cosignature/v1\ntime ${time}\n${text}`));
}

/**
 * Checks a rest/proof answer (tree form): resolves with { steps: [{name, ok, detail}], ok,
 * summary }, `ok` true when every step held, 'unchecked' when the inclusion held but a
 * signature could not be checked here, false otherwise.
 */
export async function checkTreeProof(text, { vkey = '', witnessKeys = [], onStep } = {}) {
  const steps = [];
  const step = (name, ok, detail) => {
    const s = { name, ok, detail };
    steps.push(s);
    onStep?.(s);
  };
  let proof;
  try {
    proof = parseExactJSON(text);
    const fmt = getItem(proof, 'format') ?? 1n;
    const { leaf, ok: leafOk, detail: leafDetail } = await leafOf(proof, fmt);
    step('event hash', leafOk, `format ${fmt}: ${leafDetail}`);
    const size = item(proof, 'treeSize');
    const index = item(proof, 'leafIndex');
    const path = item(proof, 'inclusionProof').map((h, i) => fromHex(h, `inclusionProof[${i}]`));
    const root = fromHex(item(proof, 'rootHash'), 'rootHash');
    const included = await verifyInclusion(leaf, BigInt(index), BigInt(size), path, root);
    step('inclusion proof', included, `${path.length} hashes from leaf ${index} to the root of the tree of ${size} events`);
    const note = getItem(proof, 'checkpoint');
    if (note === null) {
      step('checkpoint', false, 'no signed checkpoint of this tree size yet (one is signed within ledger.checkpoint.interval-ms): verify again in a moment');
      return finish(steps, proof, 'not verified: no signed checkpoint covers the event yet');
    }
    const checkpoint = parseNote(String(note));
    const names = checkpoint.size === BigInt(size) && toHex(checkpoint.root) === toHex(root);
    step('checkpoint', names, `${checkpoint.origin}, tree size ${checkpoint.size}, root ${toHex(checkpoint.root).slice(0, 16)}…`);
    let unchecked = '';
    if (vkey.trim()) {
      const key = await parseVerifierKey(vkey);
      const results = await Promise.all(checkpoint.signatures.map((s) => verifySignature(key, s, checkpoint.text)));
      if (results.includes(true)) {
        step('broker signature', true, `signed by ${key.name}`);
      } else if (results.includes(null)) {
        unchecked = 'this browser has no Ed25519 in WebCrypto, so the signatures were not checked (use scripts/check-proof.py)';
        step('broker signature', null, unchecked);
      } else {
        step('broker signature', false, `no valid signature of ${key.name}+${key.keyId}`);
      }
    } else {
      unchecked = 'no broker verifier key given, so the checkpoint\'s signature was not checked';
      step('broker signature', null, unchecked);
    }
    const keys = await Promise.all(witnessKeys.filter((k) => k.trim()).map(parseVerifierKey));
    for (const sig of checkpoint.signatures.filter((s) => s.name !== checkpoint.origin)) {
      const key = keys.find((k) => k.name === sig.name);
      if (!key) {
        step(`cosigned by ${sig.name}`, null, 'no key given for this witness: not checked');
        continue;
      }
      const valid = await verifySignature(key, sig, checkpoint.text);
      step(`cosigned by ${sig.name}`, valid, valid === null ? 'this browser has no Ed25519 in WebCrypto' : valid ? 'valid cosignature' : 'the cosignature does not verify');
    }
    for (const key of keys.filter((k) => !checkpoint.signatures.some((s) => s.name === k.name))) {
      step(`cosigned by ${key.name}`, false, 'this witness did not cosign this checkpoint');
    }
    const cosigners = steps.filter((s) => s.name.startsWith('cosigned by ') && s.ok === true).map((s) => s.name.slice(12));
    const failed = steps.find((s) => s.ok === false);
    if (failed) return finish(steps, proof, `not verified: ${failed.name} failed`);
    const what = `event ${getItem(proof, 'eventId') ?? '?'} is leaf ${index} of the tree of ${size} events`;
    if (unchecked) return { steps, proof, ok: 'unchecked', summary: `inclusion verified (${what}); ${unchecked}` };
    return {
      steps, proof, ok: true,
      summary: `verified: ${what}, in the checkpoint signed by ${checkpoint.origin}${cosigners.length ? `, cosigned by ${cosigners.join(', ')}` : ''}`,
    };
  } catch (err) {
    // A proof of the wrong shape (a missing field, a list that is not one) is not verified.
    step('proof', false, `malformed: ${err.message}`);
    return finish(steps, proof, `not verified: malformed proof: ${err.message}`);
  }
}

function finish(steps, proof, summary) {
  return { steps, proof, ok: false, summary };
}
