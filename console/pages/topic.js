// #/topic/<name>?group=G: the topic's state (rest/state), closing it, publishing to it, and a
// live tail of its events (or of an MQTT-style pattern) over rest/stream.

import { ApiError, StreamSource, streamUrl } from '../api.js';
import { reportError, clearError, notify } from '../feedback.js';
import {
  base64ToText, blockHref, defList, describe, eventHref, h, isoTime, labelled, scrollTable, setChildren, shorten,
} from '../util.js';

const MAX_TAIL_ROWS = 200;

const FIELD_LABELS = {
  topicName: 'Name',
  sequenceNumber: 'Last sequence',
  blockNumber: 'Last block',
  createdTimestamp: 'Created',
  lastTimestamp: 'Last event',
};

export const title = (route) => `Topic ${route.arg}`;

export async function render(ctx, page, route) {
  const name = route.arg;
  const group = route.query.get('group') || undefined;
  page.append(h('p', { class: 'subtitle' }, group ? `Group ${group}` : 'Default group'));

  const stateBody = h('div', { 'data-test': 'topic-state' }, h('p', {}, 'Loading…'));
  const closeButton = h('button', { type: 'button', 'data-test': 'topic-close', class: 'danger' }, 'Close topic');
  const closeResult = h('p', { 'data-test': 'close-result', role: 'status' });
  page.append(h('section', { class: 'panel', 'aria-labelledby': 'state-title' },
    h('h2', { id: 'state-title' }, 'State'), stateBody,
    h('div', { class: 'actions' }, closeButton,
      h('span', { class: 'help' }, 'Closing keeps its events readable; it takes no new ones. Needs the admin token when one is configured.')),
    closeResult));

  async function loadState() {
    const state = await ctx.get('state', 'rest/state', { topic: name, groupId: group });
    if (!state || typeof state !== 'object') {
      if (state === undefined) setChildren(stateBody, h('p', {}, 'State unavailable.'));
      return;
    }
    setChildren(stateBody, defList(Object.entries(state).map(([key, value]) => {
      let shown = describe(value);
      if (/Timestamp$/.test(key)) shown = `${isoTime(value)} (${value} ms)`;
      if (key === 'blockNumber' && Number(value) > 0) shown = h('a', { href: blockHref(group, value) }, String(value));
      return [FIELD_LABELS[key] ?? key, shown, { 'data-test': `state-${key}` }];
    })));
  }

  closeButton.addEventListener('click', async () => {
    const answer = await ctx.get('close', 'rest/close', { topic: name, groupId: group });
    if (answer !== undefined) {
      closeResult.textContent = `Topic closed: it takes no new events (open it again from the Topics page).`;
      notify(`Topic ${name} closed.`);
    }
  });

  page.append(publishSection(ctx, name, group, loadState));
  page.append(tailSection(ctx, name, group));
  await loadState();
}

/** The publish form: content, `weevent-*` extension rows, and the new event's id. */
function publishSection(ctx, name, group, afterPublish) {
  const content = h('textarea', { 'data-test': 'publish-content', rows: '4', spellcheck: 'false' });
  const rows = h('div', { class: 'ext-rows' });
  const result = h('p', { 'data-test': 'publish-result', role: 'status' });
  const extInputs = [];

  function addRow() {
    const n = extInputs.length;
    const key = h('input', { type: 'text', 'data-test': `ext-key-${n}`, placeholder: 'weevent-…', autocomplete: 'off', spellcheck: 'false' });
    const value = h('input', { type: 'text', 'data-test': `ext-value-${n}`, autocomplete: 'off', spellcheck: 'false' });
    extInputs.push({ key, value });
    rows.append(h('div', { class: 'ext-row', role: 'group', 'aria-label': `Extension ${n + 1}` },
      labelled(`Extension ${n + 1} key`, key), labelled(`Extension ${n + 1} value`, value)));
    return key;
  }
  addRow();

  const addButton = h('button', { type: 'button', 'data-test': 'ext-add' }, 'Add extension');
  addButton.addEventListener('click', () => addRow().focus());

  const form = h('form', { class: 'stack' },
    labelled('Content', content),
    h('fieldset', {},
      h('legend', {}, 'Extensions'),
      h('p', { class: 'help' }, 'Keys start with weevent- (weevent-mqtt-topic is reserved for the bridge). Rows with an empty key are left out.'),
      rows, addButton),
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-test': 'publish-submit' }, 'Publish')),
    result);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    result.textContent = 'Publishing…';
    const params = [['topic', name], ['groupId', group], ['content', content.value]];
    for (const { key, value } of extInputs) {
      if (key.value.trim() !== '') params.push([key.value.trim(), value.value]);
    }
    const answer = await ctx.get('publish', 'rest/publish', params);
    if (!answer || typeof answer !== 'object' || !answer.eventId) {
      result.textContent = answer === undefined ? 'Not published (see the error above).' : `Unexpected answer: ${describe(answer)}`;
      return;
    }
    setChildren(result, `Published (${describe(answer.status)}): event `,
      h('a', { href: eventHref(answer.eventId, group), 'data-test': 'publish-event-link' }, answer.eventId));
    afterPublish();
  });

  return h('section', { class: 'panel', 'aria-labelledby': 'publish-title' },
    h('h2', { id: 'publish-title' }, 'Publish'), form);
}

/** The live tail: rest/stream from OFFSET_LAST (with the token, `StreamSource`), newest first. */
function tailSection(ctx, name, group) {
  const pattern = h('input', { type: 'text', 'data-test': 'tail-pattern', value: name, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'tail-help' });
  // Status words: idle, connecting, connected, reconnecting, closed (never colour alone).
  const status = h('span', { 'data-test': 'tail-status', class: 'badge' }, 'idle');
  const following = h('span', { 'data-test': 'tail-following' });
  const tbody = h('tbody', { 'data-test': 'tail-rows' });
  const form = h('form', { class: 'inline-form' },
    labelled('Topic or pattern', pattern),
    h('button', { type: 'submit', 'data-test': 'tail-follow' }, 'Follow'),
    h('button', { type: 'button', 'data-test': 'tail-clear', onclick: () => tbody.replaceChildren() }, 'Clear rows'));

  let source = null;

  function setStatus(text, kind) {
    status.textContent = text;
    status.dataset.state = kind;
  }

  function stop() {
    source?.close();
    source = null;
  }

  function start(filter) {
    stop();
    clearError('tail');
    const url = streamUrl({ topic: filter, groupId: group, offset: 'OFFSET_LAST' });
    const es = new StreamSource(url);
    source = es;
    setStatus('connecting', 'pending');
    following.textContent = ` (following ${filter})`;
    es.addEventListener('open', () => {
      if (source === es) setStatus('connected', 'ok');
    });
    es.addEventListener('message', (msg) => {
      if (source === es) prepend(msg);
    });
    es.addEventListener('error', () => {
      if (source !== es) return;
      if (es.readyState === StreamSource.CONNECTING) {
        setStatus('reconnecting', 'pending');
        return;
      }
      // Closed for good: the broker refused the stream, and said why.
      setStatus('closed', 'bad');
      if (!ctx.alive) return;
      reportError(es.failure ?? new ApiError('stream', 'the event stream closed; press Follow to start it again'), 'tail');
    });
  }

  function prepend(msg) {
    let event;
    try {
      event = JSON.parse(msg.data);
    } catch {
      event = { eventId: msg.lastEventId, topic: '?', content: '' };
    }
    const id = String(event.eventId ?? msg.lastEventId ?? '');
    tbody.prepend(h('tr', { 'data-test': 'tail-row', 'data-event-id': id },
      h('td', {}, h('a', { href: eventHref(id, group) }, id)),
      h('td', {}, describe(event.topic)),
      h('td', { class: 'content' }, shorten(base64ToText(event.content ?? ''), 200))));
    while (tbody.children.length > MAX_TAIL_ROWS) tbody.lastElementChild.remove();
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    start(pattern.value.trim() || name);
  });
  ctx.onLeave(stop);
  start(name);

  return h('section', { class: 'panel', 'aria-labelledby': 'tail-title' },
    h('h2', { id: 'tail-title' }, 'Live tail'),
    h('p', { id: 'tail-help', class: 'help' },
      `New events as they are committed (rest/stream from OFFSET_LAST). A pattern may use MQTT wildcards: + for one level, # for the rest. At most ${MAX_TAIL_ROWS} rows are kept.`),
    form,
    h('p', {}, 'Stream: ', status, following),
    scrollTable(h('table', {},
      h('caption', {}, 'Received events, newest first'),
      h('thead', {}, h('tr', {}, ['Event id', 'Topic', 'Content'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody), 'Received events'));
}
