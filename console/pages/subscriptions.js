// #/subscriptions: the callback subscriptions (admin/listSubscription, every 2 s) with their
// position, lag, deliveries and last error, and removing one (rest/unSubscribe).

import { notify } from '../feedback.js';
import { describe, eventHref, h, isoTime, scrollTable, syncRows } from '../util.js';

const COLUMNS = ['Subscription', 'Group', 'Topic', 'Callback URL', 'Position', 'Lag', 'Delivered', 'Failed attempts', 'Last error', 'Last event', 'Created', 'Actions'];

export const title = () => 'Subscriptions';

export async function render(ctx, page) {
  const tbody = h('tbody');
  const state = h('p', { 'data-test': 'subscriptions-state', role: 'status' }, 'Loading…');
  page.append(
    h('p', { class: 'help' },
      'Callback subscriptions POST each matching event to their URL. Position: every matching event up to this ledger position was acknowledged. ',
      'Lag: the broker\'s own figure when it gives one, else the ledger positions between the subscription and the chain\'s last event (events of every topic of the group).'),
    state,
    scrollTable(h('table', { 'data-test': 'subscriptions-table' },
      h('caption', {}, 'Callback subscriptions'),
      h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
      tbody), 'Callback subscriptions'));

  // The chains' event counts, for the lag when the broker does not give it: a group's
  // positions run 1..eventCount without gaps (docs/ledger.md).
  async function eventCounts(list) {
    if (list.every((s) => s.lag !== undefined)) return new Map();
    const groups = [...new Set(list.map((s) => String(s.groupId)))];
    const counts = await Promise.all(groups.map((g) => ctx.get(`chain-${g}`, 'admin/blockchaininfo', { groupId: g })));
    return new Map(groups.map((g, i) => [g, counts[i]?.eventCount]));
  }

  async function refresh() {
    const list = await ctx.get('subscriptions', 'admin/listSubscription');
    if (!Array.isArray(list)) {
      state.textContent = 'Subscriptions unavailable (see the error above).';
      return;
    }
    const counts = await eventCounts(list);
    if (!ctx.alive) return;
    state.textContent = list.length ? `${list.length} subscription${list.length === 1 ? '' : 's'}` : 'No subscriptions.';
    syncRows(tbody, list, (s) => String(s.subscriptionId), buildRow, (tr, s) => updateRow(tr, s, counts));
  }

  function buildRow(s) {
    const remove = h('button', { type: 'button', 'data-test': 'subscription-remove', class: 'danger', 'aria-label': `Remove subscription ${s.subscriptionId}` }, 'Remove');
    remove.addEventListener('click', async () => {
      remove.disabled = true;
      const answer = await ctx.get('unsubscribe', 'rest/unSubscribe', { subscriptionId: s.subscriptionId });
      remove.disabled = false;
      if (answer !== undefined) {
        notify(`Removed subscription ${s.subscriptionId}.`);
        await refresh();
      }
    });
    const names = ['id', 'group', 'topic', 'url', 'position', 'lag', 'delivered', 'failed', 'last-error', 'last-event', 'created'];
    return h('tr', { 'data-test': 'subscription-row', 'data-subscription-id': s.subscriptionId },
      names.map((name) => h(name === 'id' ? 'th' : 'td', { 'data-test': `sub-${name}`, ...(name === 'id' ? { scope: 'row', class: 'hash' } : {}) })),
      h('td', {}, remove));
  }

  function updateRow(tr, s, counts) {
    const cell = (name) => tr.querySelector(`[data-test="sub-${name}"]`);
    const set = (name, value) => {
      if (cell(name).textContent !== value) cell(name).textContent = value;
    };
    set('id', describe(s.subscriptionId));
    set('group', describe(s.groupId));
    set('topic', describe(s.topic));
    set('url', describe(s.url));
    set('position', describe(s.position));
    set('lag', lagText(s, counts.get(String(s.groupId))));
    set('delivered', describe(s.delivered));
    set('failed', describe(s.failedAttempts));
    set('last-error', s.lastError ? String(s.lastError) : 'none');
    set('created', isoTime(s.createdTimestamp));
    const lastEvent = cell('last-event');
    const id = s.lastEventId ? String(s.lastEventId) : '';
    if (lastEvent.dataset.id !== id) {
      lastEvent.dataset.id = id;
      lastEvent.replaceChildren(id ? h('a', { href: eventHref(id, s.groupId), class: 'hash' }, id) : 'none yet');
    }
  }

  ctx.every(2000, refresh);
}

function lagText(s, eventCount) {
  if (s.lag !== undefined && s.lag !== null) return describe(s.lag);
  const count = Number(eventCount);
  const position = Number(s.position);
  if (!Number.isFinite(count) || !Number.isFinite(position)) return '—';
  return `${Math.max(0, count - position)} positions`;
}
