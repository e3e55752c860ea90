// #/blocks?group=G&height=H: one block's header and events (rest/block), paging down and up
// the chain. Without a height: the chain's last block (admin/blockchaininfo).

import {
  blockHref, defList, describe, eventHref, groupSelect, h, isoTime, labelled, scrollTable, topicHref,
} from '../util.js';

export const title = (route) => (route.query.get('height') ? `Block ${route.query.get('height')}` : 'Blocks');

export async function render(ctx, page, route) {
  const groups = await ctx.get('groups', 'admin/listGroup');
  if (!Array.isArray(groups) || !ctx.alive) return;
  const names = groups.map(String);
  const asked = route.query.get('group');
  const group = asked && names.includes(asked) ? asked : (asked || names[0]);

  const info = await ctx.get('chain', 'admin/blockchaininfo', { groupId: group });
  if (!ctx.alive) return;
  const chainHeight = info && typeof info === 'object' ? Number(info.blockHeight) : NaN;
  const heightParam = (route.query.get('height') ?? '').trim();
  const height = heightParam || (Number.isFinite(chainHeight) && chainHeight > 0 ? String(chainHeight) : '');
  if (height) document.title = `Block ${height} · WeEvent broker console`;

  // Controls: group and height.
  const groupSel = groupSelect(names, group, { 'data-test': 'block-group' });
  const heightInput = h('input', { type: 'number', min: '1', step: '1', inputmode: 'numeric', 'data-test': 'block-height-input', value: height });
  const form = h('form', { class: 'inline-form' },
    labelled('Group', groupSel),
    labelled('Height', heightInput),
    h('button', { type: 'submit', 'data-test': 'block-go' }, 'Show block'));
  const go = (g, hgt) => {
    const next = blockHref(g, hgt);
    if (location.hash === next) ctx.reload();
    else location.hash = next;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go(groupSel.value, heightInput.value.trim());
  });
  groupSel.addEventListener('change', () => go(groupSel.value, ''));

  const n = Number(height);
  const older = h('button', { type: 'button', 'data-test': 'block-older' }, '← Older');
  const newer = h('button', { type: 'button', 'data-test': 'block-newer' }, 'Newer →');
  older.disabled = !(Number.isInteger(n) && n > 1);
  newer.disabled = !(Number.isInteger(n) && Number.isFinite(chainHeight) && n < chainHeight);
  older.addEventListener('click', () => go(group, String(n - 1)));
  newer.addEventListener('click', () => go(group, String(n + 1)));

  page.append(
    h('p', { class: 'subtitle' }, `Group ${group}`, Number.isFinite(chainHeight) ? `, chain height ${chainHeight}` : ''),
    form,
    h('div', { class: 'pager' }, older, newer));

  if (!height) {
    page.append(h('p', { 'data-test': 'block-empty' }, Number.isFinite(chainHeight) ? 'This chain has no blocks yet.' : 'Type a height above.'));
    return;
  }

  const block = await ctx.get('block', 'rest/block', { height, groupId: group });
  if (!ctx.alive) return;
  if (!block || typeof block !== 'object') {
    page.append(h('p', {}, 'The block could not be read (see the error above).'));
    return;
  }

  const blockHeight = Number(block.height);
  const previous = blockHeight > 1
    ? h('a', { href: blockHref(group, blockHeight - 1), class: 'hash', 'data-test': 'block-previous', 'aria-label': `Previous block ${blockHeight - 1}, hash ${block.previousHash}` }, String(block.previousHash))
    : h('span', { class: 'hash', 'data-test': 'block-previous' }, `${describe(block.previousHash)} (none: the first block)`);
  page.append(h('section', { class: 'panel', 'aria-labelledby': 'header-title' },
    h('h2', { id: 'header-title' }, `Block ${describe(block.height)}`),
    defList([
      ['Height', h('span', { 'data-test': 'block-height' }, describe(block.height))],
      ['Hash', h('span', { class: 'hash', 'data-test': 'block-hash' }, describe(block.hash))],
      ['Previous hash', previous],
      ['Merkle root', h('span', { class: 'hash', 'data-test': 'block-merkle-root' }, describe(block.merkleRoot))],
      ['Time', h('span', { 'data-test': 'block-time' }, `${isoTime(block.timestamp)} (${describe(block.timestamp)} ms)`)],
      ['Events', h('span', { 'data-test': 'block-event-count' }, describe(block.eventCount))],
    ], { 'data-test': 'block-header' })));

  const events = Array.isArray(block.events) ? block.events : [];
  const table = h('table', { 'data-test': 'block-events' },
    h('caption', {}, block.eventsTruncated
      ? `Events (the first ${events.length} of ${describe(block.eventCount)}; the list is truncated)`
      : `Events (${events.length})`),
    h('thead', {}, h('tr', {}, ['#', 'Event id', 'Topic'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, events.map((ev, i) => h('tr', { 'data-test': 'block-event-row' },
      h('td', { class: 'num' }, String(i + 1)),
      h('td', {}, h('a', { href: eventHref(ev.eventId, group), class: 'hash' }, describe(ev.eventId))),
      h('td', {}, h('a', { href: topicHref(String(ev.topic), group) }, describe(ev.topic)))))));
  page.append(h('section', { 'aria-labelledby': 'events-title' },
    h('h2', { id: 'events-title' }, 'Events in this block'),
    scrollTable(table, 'Events in this block'),
    block.eventsTruncated ? h('p', { class: 'help', 'data-test': 'block-truncated' }, 'The broker lists only the first events of a large block.') : null));
}
