// The publisher's signature of an event (docs/ledger.md "Publishers and signed events"), checked
// here as scripts/check-proof.py --publisher-key checks it: the signed bytes rebuilt from the
// event the proof covers, Ed25519 from WebCrypto under the key the user typed.

import { base64ToBytes } from './util.js';
import { sha256 } from './sha256.js';
import { ed25519 } from './verify-tree.js';

const encoder = new TextEncoder();

function u32(n) {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

function string(text) {
  const bytes = encoder.encode(text);
  return [u32(bytes.length), bytes];
}

/** Byte order of the UTF-8 encodings, as the broker sorts extension keys. */
function bytewise(a, b) {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** The bytes the publisher signed: group, topic, publisher, SHA-256(content), other extensions. */
export async function signedMessage(groupId, event, publisher) {
  const extensions = Object.entries(event.extensions ?? {})
    .filter(([k]) => k !== 'weevent-signature' && k !== 'weevent-publisher')
    .sort(([a], [b]) => bytewise(a, b));
  const parts = [encoder.encode('weevent event signature v1'), new Uint8Array([0]),
    ...string(String(groupId)), ...string(String(event.topic)), ...string(publisher),
    await sha256([base64ToBytes(String(event.content ?? ''))]), u32(extensions.length)];
  for (const [key, value] of extensions) parts.push(...string(key), ...string(String(value)));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const message = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    message.set(p, at);
    at += p.length;
  }
  return message;
}

/**
 * Checks the signature of the event a proof answer (rest/proof, either form) covers.
 * Resolves with { ok: true | false | null, summary }; null when it could not be checked.
 */
export async function checkPublisherSignature(proofText, publicKeyBase64) {
  const proof = JSON.parse(proofText);
  const event = proof.event ?? {};
  const publisher = event.extensions?.['weevent-publisher'];
  const signature = event.extensions?.['weevent-signature'];
  if (!publisher) return { ok: false, summary: 'not verified: the event names no publisher' };
  if (!signature) return { ok: false, summary: `not verified: the event of ${publisher} is not signed` };
  let key;
  let sig;
  try {
    key = base64ToBytes(publicKeyBase64.trim());
    sig = base64ToBytes(signature);
  } catch {
    return { ok: false, summary: 'not verified: the key or the signature is not base64' };
  }
  if (key.length !== 32) return { ok: false, summary: 'not verified: the key is not 32 bytes of base64 (an Ed25519 public key)' };
  const valid = await ed25519(key, sig, await signedMessage(proof.groupId, event, publisher));
  if (valid === null) return { ok: null, summary: 'not checked: this browser has no Ed25519 in WebCrypto (use scripts/check-proof.py --publisher-key)' };
  return valid
    ? { ok: true, summary: `verified: signed by ${publisher}` }
    : { ok: false, summary: `not verified: the signature of ${publisher} does not verify under this key` };
}
