// #/bridge: the MQTT bridge's bindings (master/mqtt_list_topic, every 2 s), adding and removing
// them, and the log of rejected inbound messages (master/mqtt_list_rejected, paged back).

import { notify } from '../feedback.js';
import {
  base64ToText, describe, groupSelect, h, isoTime, labelled, scrollTable, setChildren, shorten, syncRows,
} from '../util.js';

const REJECTED_PAGE = 20;
const COLUMNS = ['Direction', 'Group', 'Topic', 'MQTT topic', 'QoS', 'Instance', 'Bridged', 'Rejected', 'Last error', 'Checkpoint', 'Actions'];

export const title = () => 'MQTT bridge';

export async function render(ctx, page) {
  const tbody = h('tbody');
  const table = h('table', { 'data-test': 'bindings-table' },
    h('caption', {}, 'Bindings, with counters since the running instance took over'),
    h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const listState = h('p', { 'data-test': 'bindings-state', role: 'status' }, 'Loading…');
  const formBox = h('div');
  const rejectedBox = h('div');
  page.append(
    h('section', { 'aria-labelledby': 'bindings-title' },
      h('h2', { id: 'bindings-title' }, 'Bindings'), listState, scrollTable(table, 'Bindings')),
    h('section', { class: 'panel', 'aria-labelledby': 'add-title' },
      h('h2', { id: 'add-title' }, 'Add a binding'), formBox),
    h('section', { 'aria-labelledby': 'rejected-title' },
      h('h2', { id: 'rejected-title' }, 'Rejected inbound messages'), rejectedBox));

  // ---- Bindings, polled
  async function refresh() {
    const list = await ctx.get('bindings', 'master/mqtt_list_topic');
    if (!Array.isArray(list)) {
      listState.textContent = 'Bindings unavailable (see the error above).';
      return;
    }
    listState.textContent = list.length ? `${list.length} binding${list.length === 1 ? '' : 's'}` : 'No bindings.';
    syncRows(tbody, list, (b) => JSON.stringify([b.direction, b.groupId, b.topic]), buildRow, updateRow);
  }

  function buildRow(b) {
    const remove = h('button', { type: 'button', 'data-test': 'binding-remove', class: 'danger', 'aria-label': `Remove the ${b.direction} binding of ${b.topic} (group ${b.groupId})` }, 'Remove');
    remove.addEventListener('click', async () => {
      remove.disabled = true;
      const answer = await ctx.get('binding-remove', `master/mqtt_remove_${b.direction === 'outbound' ? 'outbound' : 'inbound'}_topic`, { topic: b.topic, groupId: b.groupId });
      remove.disabled = false;
      if (answer !== undefined) {
        notify(`Removed the ${b.direction} binding of ${b.topic}.`);
        await refresh();
      }
    });
    const cells = ['direction', 'group', 'topic', 'mqtt-topic', 'qos', 'instance', 'bridged', 'rejected', 'last-error', 'checkpoint']
      .map((name) => h(name === 'topic' ? 'th' : 'td', { 'data-test': name, ...(name === 'topic' ? { scope: 'row' } : {}) }));
    return h('tr', { 'data-test': 'binding-row', 'data-direction': b.direction, 'data-topic': b.topic },
      cells, h('td', {}, remove));
  }

  function updateRow(tr, b) {
    const text = {
      direction: describe(b.direction),
      group: describe(b.groupId),
      topic: describe(b.topic),
      'mqtt-topic': describe(b.mqttTopic),
      qos: describe(b.qos),
      instance: describe(b.instance),
      bridged: String(b.bridged ?? 0),
      rejected: String(b.rejected ?? 0),
      'last-error': b.lastError ? String(b.lastError) : 'none',
      checkpoint: b.checkpoint === undefined || b.checkpoint === null ? '—' : String(b.checkpoint),
    };
    for (const [name, value] of Object.entries(text)) {
      const cell = tr.querySelector(`[data-test="${name}"]`);
      if (cell.textContent !== value) cell.textContent = value;
    }
  }

  ctx.every(2000, refresh);

  // ---- The add form (groups from admin/listGroup)
  const groups = await ctx.get('groups', 'admin/listGroup');
  if (!ctx.alive) return;
  const groupNames = Array.isArray(groups) ? groups.map(String) : ['1'];
  const direction = h('select', { 'data-test': 'binding-direction' },
    h('option', { value: 'inbound' }, 'inbound (MQTT → WeEvent)'),
    h('option', { value: 'outbound' }, 'outbound (WeEvent → MQTT)'));
  const topic = h('input', { type: 'text', 'data-test': 'binding-topic', autocomplete: 'off', spellcheck: 'false' });
  const mqttTopic = h('input', { type: 'text', 'data-test': 'binding-mqtt-topic', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'mqtt-topic-help' });
  const qos = h('select', { 'data-test': 'binding-qos' },
    h('option', { value: '' }, 'broker default'),
    ['0', '1', '2'].map((q) => h('option', { value: q }, q)));
  const group = groupSelect(groupNames, groupNames[0], { 'data-test': 'binding-group' });
  const addResult = h('p', { 'data-test': 'binding-add-result', role: 'status' });
  const form = h('form', { class: 'grid-form' },
    labelled('Direction', direction),
    labelled('WeEvent topic', topic),
    labelled('MQTT topic (optional)', mqttTopic),
    labelled('QoS', qos),
    labelled('Group', group),
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-test': 'binding-add' }, 'Add binding')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    addResult.textContent = '';
    const answer = await ctx.get('binding-add', `master/mqtt_add_${direction.value}_topic`, {
      topic: topic.value,
      groupId: group.value,
      mqttTopic: mqttTopic.value.trim() || undefined,
      qos: qos.value || undefined,
    });
    if (answer !== undefined) {
      addResult.textContent = answer && answer.live === false
        ? `Stored, not live yet: ${answer.message}`
        : `Added: ${direction.value} binding of ${topic.value} in group ${group.value}.`;
      await refresh();
    }
  });
  setChildren(formBox,
    h('p', { id: 'mqtt-topic-help', class: 'help' },
      'The topic must be open. MQTT topic: inbound, a filter (+ and # allowed); outbound, a topic name. Empty: the WeEvent topic. Adding an existing binding changes its MQTT topic and QoS.'),
    form, addResult);

  await rejectedLog(ctx, rejectedBox);
}

/** The rejected-message log: newest first here; "Older" asks with before=<oldest id shown>. */
async function rejectedLog(ctx, box) {
  const tbody = h('tbody');
  const info = h('p', { 'data-test': 'rejected-info', role: 'status' });
  const older = h('button', { type: 'button', 'data-test': 'rejected-older' }, 'Older');
  const reload = h('button', { type: 'button', 'data-test': 'rejected-refresh' }, 'Newest');
  let oldestId = null;
  let shown = 0;

  function row(m) {
    return h('tr', { 'data-test': 'rejected-row', 'data-id': String(m.id) },
      h('td', { class: 'num' }, describe(m.id)),
      h('td', {}, isoTime(m.timestamp)),
      h('td', {}, describe(m.groupId)),
      h('td', {}, describe(m.topic)),
      h('td', {}, describe(m.mqttTopic)),
      h('td', { class: 'num' }, describe(m.qos)),
      h('td', { class: 'content', 'data-test': 'rejected-payload' }, shorten(base64ToText(m.payload ?? ''), 200)),
      h('td', { 'data-test': 'rejected-reason' }, describe(m.reason)));
  }

  async function load(before) {
    const page = await ctx.get('rejected', 'master/mqtt_list_rejected', { pageSize: REJECTED_PAGE, before: before ?? undefined });
    if (!Array.isArray(page)) {
      info.textContent = 'The log is unavailable (see the error above).';
      return;
    }
    if (before === undefined) {
      tbody.replaceChildren();
      shown = 0;
    }
    // The broker answers a page oldest first (newest last); here the newest is on top.
    const ordered = [...page].sort((a, b) => Number(b.id) - Number(a.id));
    tbody.append(...ordered.map(row));
    shown += page.length;
    if (page.length) oldestId = ordered.at(-1).id;
    older.disabled = page.length === 0 || page.length < REJECTED_PAGE;
    info.textContent = shown === 0 ? 'No rejected messages.'
      : `${shown} message${shown === 1 ? '' : 's'} shown, newest first${page.length < REJECTED_PAGE ? '; that is all of them' : ''}.`;
  }

  older.addEventListener('click', () => load(oldestId));
  reload.addEventListener('click', () => load());
  box.append(
    h('p', { class: 'help' }, 'Inbound MQTT messages that could not become events (blank, too large, a closed topic, …). The payload is shown as text.'),
    info,
    scrollTable(h('table', { 'data-test': 'rejected-table' },
      h('caption', {}, 'Rejected messages, newest first'),
      h('thead', {}, h('tr', {}, ['Id', 'Time', 'Group', 'Topic', 'MQTT topic', 'QoS', 'Payload', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody), 'Rejected messages'),
    h('div', { class: 'pager' }, reload, older));
  await load();
}
