// #/event/<eventId>?group=G: one event (rest/getEvent), its content as text or hex, its
// extensions, its block, and "Verify in this browser": rest/proof checked with verify.js.

import { api } from '../api.js';
import { clearError, reportError } from '../feedback.js';
import { sha256Implementation } from '../sha256.js';
import {
  base64ToBytes, blockHref, bytesToHex, defList, describe, eventHref, h, labelled, parseEventId, scrollTable, topicHref,
} from '../util.js';
import { verifyProofText } from '../verify.js';
import { checkTreeProof } from '../verify-tree.js';
import { checkPublisherSignature } from '../verify-signature.js';

export const title = (route) => `Event ${route.arg}`;

export async function render(ctx, page, route) {
  const eventId = route.arg.trim();
  const group = route.query.get('group') || undefined;

  // Go to any event id.
  const idInput = h('input', { type: 'text', 'data-test': 'event-id-input', value: eventId, autocomplete: 'off', spellcheck: 'false', placeholder: '317e7c4c-1-3' });
  const goForm = h('form', { class: 'inline-form' },
    labelled('Event id', idInput),
    h('button', { type: 'submit', 'data-test': 'event-id-go' }, 'Go'));
  goForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = eventHref(idInput.value.trim(), group);
    if (location.hash === next) ctx.reload();
    else location.hash = next;
  });
  page.append(h('p', { class: 'subtitle' }, group ? `Group ${group}` : 'Default group'), goForm);
  if (!eventId) {
    page.append(h('p', {}, 'Type an event id above.'));
    return;
  }

  const event = await ctx.get('event', 'rest/getEvent', { eventId, groupId: group });
  if (!ctx.alive) return;
  if (event && typeof event === 'object') page.append(eventSection(event, eventId, group));
  else page.append(h('p', {}, 'The event could not be read (see the error above).'));
  const signed = event && typeof event === 'object' && event.extensions?.['weevent-signature'] !== undefined;
  if (signed) page.append(signatureSection(ctx, eventId, group, String(event.extensions['weevent-publisher'] ?? '')));
  page.append(checkpointSection(ctx, eventId, group));
  page.append(verifySection(ctx, eventId, group, event));
}

function eventSection(event, eventId, group) {
  const parts = parseEventId(event.eventId ?? eventId);
  const content = String(event.content ?? '');
  let bytes = null;
  try {
    bytes = base64ToBytes(content);
  } catch {
    // shown as "not base64" below
  }
  const pruned = event.pruned && typeof event.pruned === 'object' ? event.pruned : null;
  const prunedAt = pruned ? new Date(Number(pruned.time)).toISOString() : '';
  const text = pruned
    ? `(content ${pruned.reason === 'erased' ? 'erased on request' : 'removed by retention'} at ${prunedAt})`
    : bytes ? new TextDecoder('utf-8', { fatal: false }).decode(bytes) : `(not base64: ${content})`;
  const contentBox = h('pre', { 'data-test': 'event-content', class: 'content-box', tabindex: '0', 'aria-label': 'Event content' }, text);
  const toggle = h('button', { type: 'button', 'data-test': 'content-hex-toggle', 'aria-pressed': 'false' }, 'Show as hex');
  toggle.addEventListener('click', () => {
    const hex = toggle.getAttribute('aria-pressed') !== 'true';
    toggle.setAttribute('aria-pressed', String(hex));
    toggle.textContent = hex ? 'Show as text' : 'Show as hex';
    contentBox.textContent = hex ? (bytes ? bytesToHex(bytes, ' ') : '(not base64)') : text;
    contentBox.dataset.mode = hex ? 'hex' : 'text';
  });
  contentBox.dataset.mode = 'text';

  const extensions = event.extensions && typeof event.extensions === 'object' ? Object.entries(event.extensions) : [];
  const extTable = h('table', { 'data-test': 'event-extensions' },
    h('caption', {}, extensions.length ? 'Extensions' : 'Extensions: none'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', {}, extensions.map(([k, v]) => h('tr', {}, h('td', { 'data-test': 'ext-key' }, k), h('td', { 'data-test': 'ext-value' }, describe(v))))));

  return h('section', { class: 'panel', 'aria-labelledby': 'event-title' },
    h('h2', { id: 'event-title' }, 'Event'),
    defList([
      ['Event id', h('span', { 'data-test': 'event-id', class: 'hash' }, String(event.eventId ?? eventId))],
      ['Topic', h('a', { href: topicHref(String(event.topic), group), 'data-test': 'event-topic' }, String(event.topic))],
      parts && ['Sequence in topic', parts.sequence],
      parts && ['Block', h('a', { href: blockHref(group, parts.block), 'data-test': 'event-block' }, `Block ${parts.block}`)],
      ['Size', bytes && !pruned ? `${bytes.length} bytes` : '—'],
      pruned && ['Content', h('span', { 'data-test': 'event-pruned' },
        `${pruned.reason === 'erased' ? 'erased' : 'pruned (retention)'} at ${prunedAt}; the event's hash ${String(pruned.eventHash ?? '')} stays, and its proofs below still check`)],
      ['Publisher', h('span', { 'data-test': 'event-publisher' }, event.extensions?.['weevent-publisher']
        ? String(event.extensions['weevent-publisher']) + (event.extensions['weevent-signature'] ? ' (signed)' : '')
        : 'none named (an anonymous publish)')],
    ]),
    h('div', { class: 'content-head' }, h('h3', {}, 'Content'), toggle),
    contentBox,
    scrollTable(extTable, 'Extensions'));
}

/**
 * The publisher's signature, checked here under the key the user gives (from the publisher,
 * not from the broker: the broker is what the check does not trust), kept in this browser.
 */
function signatureSection(ctx, eventId, group, publisher) {
  const storeKey = `weevent.publisherKey.${publisher}`;
  const key = h('input', { type: 'text', 'data-test': 'publisher-key', autocomplete: 'off', spellcheck: 'false' });
  try { key.value = localStorage.getItem(storeKey) ?? ''; } catch { /* private mode */ }
  const button = h('button', { type: 'button', 'data-test': 'verify-signature' }, 'Check the publisher\'s signature');
  const result = h('p', { 'data-test': 'signature-result', class: 'verify-result', role: 'status' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    result.textContent = 'verifying…';
    delete result.dataset.ok;
    try { localStorage.setItem(storeKey, key.value.trim()); } catch { /* private mode */ }
    try {
      const text = await api('rest/proof', { eventId, groupId: group }, { raw: true, signal: ctx.signal });
      clearError('signature');
      const outcome = await checkPublisherSignature(text, key.value);
      if (!ctx.alive) return;
      result.textContent = outcome.summary;
      result.dataset.ok = String(outcome.ok);
    } catch (err) {
      if (err?.name === 'AbortError') return;
      reportError(err, 'signature');
      result.textContent = `not verified: ${err}`;
      result.dataset.ok = 'false';
    } finally {
      button.disabled = false;
    }
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'signature-title' },
    h('h2', { id: 'signature-title' }, 'Publisher\'s signature'),
    h('p', { class: 'help' },
      `Checks, here, that ${publisher} signed this event (its group, topic, content and extensions) with the key below: `,
      'take the key from the publisher, not from the broker. Ed25519 from WebCrypto.'),
    labelled(`Public key of ${publisher} (base64)`, key),
    h('div', { class: 'actions' }, button),
    result);
}

/**
 * The tree proof against a signed checkpoint: the event's leaf, its inclusion proof, the
 * checkpoint's Ed25519 signature under the broker's verifier key (kept in this browser) and the
 * witnesses' cosignatures under the keys given.
 */
function checkpointSection(ctx, eventId, group) {
  const stored = (key) => { try { return localStorage.getItem(key) ?? ''; } catch { return ''; } };
  const keep = (key, value) => { try { localStorage.setItem(key, value); } catch { /* private mode */ } };
  const vkey = h('input', { type: 'text', 'data-test': 'checkpoint-key', autocomplete: 'off', spellcheck: 'false', value: stored(`weevent.checkpointKey.${group}`) });
  const witnesses = h('textarea', { 'data-test': 'witness-keys', rows: '2', spellcheck: 'false' });
  witnesses.value = stored('weevent.witnessKeys');
  const button = h('button', { type: 'button', 'data-test': 'verify-tree' }, 'Verify against a signed checkpoint');
  const steps = h('ol', { class: 'steps', 'data-test': 'tree-steps' });
  const result = h('p', { 'data-test': 'tree-result', class: 'verify-result', role: 'status' });

  button.addEventListener('click', async () => {
    button.disabled = true;
    steps.replaceChildren();
    result.textContent = 'verifying…';
    delete result.dataset.ok;
    keep(`weevent.checkpointKey.${group}`, vkey.value.trim());
    keep('weevent.witnessKeys', witnesses.value);
    try {
      let text;
      try {
        text = await api('rest/proof', { eventId, groupId: group }, { raw: true, signal: ctx.signal });
        clearError('tree-proof');
      } catch (err) {
        if (err?.name === 'AbortError') return;
        reportError(err, 'tree-proof');
        result.textContent = `not verified: ${err}`;
        result.dataset.ok = 'false';
        return;
      }
      const outcome = await checkTreeProof(text, {
        vkey: vkey.value,
        witnessKeys: witnesses.value.split(/\s+/),
        onStep: (s) => {
          if (!ctx.alive) return;
          const label = s.ok === true ? 'ok' : s.ok === false ? 'FAILED' : 'not checked';
          steps.append(h('li', { 'data-test': 'tree-step', 'data-ok': String(s.ok) },
            h('span', { class: s.ok === true ? 'status ok' : s.ok === false ? 'status bad' : 'status' }, label), ' ',
            h('strong', {}, s.name), ': ', s.detail));
        },
      });
      if (!ctx.alive) return;
      result.textContent = outcome.summary;
      result.dataset.ok = String(outcome.ok);
    } finally {
      button.disabled = false;
    }
  });

  return h('section', { class: 'panel', 'aria-labelledby': 'tree-title' },
    h('h2', { id: 'tree-title' }, 'Checkpoint proof'),
    h('p', { class: 'help' },
      'Fetches rest/proof and checks, here, the event\'s leaf, its inclusion proof in the group tree and the signed checkpoint it leads to (docs/audit.md). Signatures are checked with Ed25519 from WebCrypto where this browser has it.'),
    labelled('Broker verifier key (weevent key show)', vkey),
    labelled('Witness keys (optional, one per line)', witnesses),
    h('div', { class: 'actions' }, button),
    steps, result);
}

/** The proof check: every step of check-proof.py as a list item, then the result. */
function verifySection(ctx, eventId, group, event) {
  const trusted = h('input', { type: 'text', 'data-test': 'verify-trusted-head', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'trusted-help' });
  const button = h('button', { type: 'button', 'data-test': 'verify' }, 'Verify in this browser');
  const steps = h('ol', { class: 'steps', 'data-test': 'verify-steps' });
  const result = h('p', { 'data-test': 'verify-result', class: 'verify-result', role: 'status' });
  const binding = h('p', { 'data-test': 'verify-binding', class: 'help' });

  button.addEventListener('click', async () => {
    button.disabled = true;
    steps.replaceChildren();
    binding.textContent = '';
    result.textContent = 'verifying…';
    delete result.dataset.ok;
    try {
      let text;
      try {
        text = await api('rest/proof', { eventId, groupId: group, form: 'chain' }, { raw: true, signal: ctx.signal });
        clearError('proof');
      } catch (err) {
        if (err?.name === 'AbortError') return;
        reportError(err, 'proof');
        result.textContent = `not verified: ${err}`;
        result.dataset.ok = 'false';
        return;
      }
      const outcome = await verifyProofText(text, {
        trustedHead: trusted.value,
        onStep: (s) => {
          if (!ctx.alive) return;
          steps.append(h('li', { 'data-test': 'verify-step', 'data-ok': String(s.ok) },
            h('span', { class: s.ok ? 'status ok' : 'status bad' }, s.ok ? 'ok' : 'FAILED'), ' ',
            h('strong', {}, s.name), ': ', s.detail));
        },
      });
      if (!ctx.alive) return;
      result.textContent = outcome.summary;
      result.dataset.ok = String(outcome.ok);
      binding.textContent = describeBinding(outcome.proof, eventId, event);
    } finally {
      button.disabled = false;
    }
  });

  return h('section', { class: 'panel', 'aria-labelledby': 'verify-title' },
    h('h2', { id: 'verify-title' }, 'Chain proof'),
    h('p', { class: 'help' },
      `Fetches rest/proof?form=chain and recomputes every hash here, as scripts/check-proof.py does (SHA-256 by ${sha256Implementation}); nothing the broker says is taken on trust.`),
    labelled('Trusted head hash (optional)', trusted),
    h('p', { id: 'trusted-help', class: 'help' },
      'A lastBlockHash you kept elsewhere from the Overview: the proof must end at that head. Leave empty to check the chain up to the broker\'s current head.'),
    h('div', { class: 'actions' }, button),
    steps, result, binding);
}

/**
 * For information only (check-proof.py does not do it, so the result above does not depend
 * on it): does the proof speak of the event shown on this page?
 */
function describeBinding(proof, eventId, event) {
  if (!proof || typeof proof !== 'object' || !proof.event || typeof proof.event !== 'object') return '';
  const differences = [];
  const parts = parseEventId(eventId);
  if (proof.eventId !== eventId) differences.push('event id');
  if (parts && proof.event.sequence !== BigInt(parts.sequence)) differences.push('sequence');
  if (parts && proof.block?.height !== BigInt(parts.block)) differences.push('block height');
  if (event && typeof event === 'object') {
    if (proof.event.topic !== event.topic) differences.push('topic');
    if (proof.event.content !== event.content) differences.push('content');
    const a = proof.event.extensions ?? {};
    const b = event.extensions ?? {};
    const same = typeof a === 'object' && Object.keys(a).length === Object.keys(b).length
      && Object.entries(a).every(([k, v]) => b[k] === v);
    if (!same) differences.push('extensions');
  }
  return differences.length
    ? `Note: the proof's event differs from the event shown above in: ${differences.join(', ')} (not part of check-proof.py's check).`
    : 'The proof\'s event is the event shown above (same id, topic, content and extensions; not part of check-proof.py\'s check).';
}
