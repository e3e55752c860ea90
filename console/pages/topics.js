// #/topics: the open topics of a group, page by page (rest/list), a filter over the loaded
// page with an exact look-up (rest/state) on Enter, and a form to open a topic.

import { groupSelect, h, isoTime, labelled, scrollTable, setChildren, topicHref } from '../util.js';

const PAGE_SIZE = 20;

export const title = () => 'Topics';

export async function render(ctx, page, route) {
  const groups = await ctx.get('groups', 'admin/listGroup');
  if (!Array.isArray(groups) || !ctx.alive) return;
  const state = {
    group: groups.includes(route.query.get('group')) ? route.query.get('group') : String(groups[0] ?? ''),
    pageIndex: 0,
    total: 0,
    topics: [], // the loaded page
    lookup: null, // a topic looked up by exact name, shown instead of the page
  };

  // ---- Controls
  const groupSel = groupSelect(groups.map(String), state.group, { 'data-test': 'topics-group' });
  const search = h('input', { type: 'search', 'data-test': 'topic-search', autocomplete: 'off', 'aria-describedby': 'topic-search-help' });
  const searchForm = h('form', { class: 'inline-form', role: 'search' },
    labelled('Filter topics', search),
    h('button', { type: 'submit', 'data-test': 'topic-search-submit' }, 'Look up'),
    h('p', { id: 'topic-search-help', class: 'help' },
      'Typing filters this page; Enter looks the exact name up in the whole group.'));

  const tbody = h('tbody');
  const table = h('table', { 'data-test': 'topics-table' },
    h('caption', {}, 'Open topics'),
    h('thead', {}, h('tr', {}, ['Topic', 'Last sequence', 'Last block', 'Last event', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const pageInfo = h('p', { 'data-test': 'topics-page-info', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', 'data-test': 'topics-prev' }, 'Previous');
  const next = h('button', { type: 'button', 'data-test': 'topics-next' }, 'Next');
  const showAll = h('button', { type: 'button', 'data-test': 'topics-show-all', hidden: true }, 'Show the whole page again');

  // No required/maxlength: the broker's own answer (100103, 100102, ...) is what the user sees.
  const openInput = h('input', { type: 'text', 'data-test': 'open-topic-input', autocomplete: 'off', spellcheck: 'false' });
  const openForm = h('form', { class: 'inline-form', 'aria-labelledby': 'open-title' },
    labelled('Topic name', openInput),
    h('button', { type: 'submit', 'data-test': 'open-topic-submit' }, 'Open topic'));

  page.append(
    h('div', { class: 'toolbar' }, labelled('Group', groupSel), searchForm),
    scrollTable(table, 'Open topics'),
    h('div', { class: 'pager' }, prev, pageInfo, next, showAll),
    h('section', { class: 'panel', 'aria-labelledby': 'open-title' },
      h('h2', { id: 'open-title' }, 'Open a topic'),
      h('p', { class: 'help' }, 'Creates the topic, or reopens a closed one (rest/open).'),
      openForm),
  );

  // ---- Rendering
  function row(info) {
    return h('tr', { 'data-test': 'topic-row', 'data-topic': info.topicName },
      h('th', { scope: 'row' }, h('a', { href: topicHref(info.topicName, state.group) }, info.topicName)),
      h('td', { class: 'num' }, String(info.sequenceNumber ?? '—')),
      h('td', { class: 'num' }, String(info.blockNumber ?? '—')),
      h('td', {}, isoTime(info.lastTimestamp)),
      h('td', {}, isoTime(info.createdTimestamp)));
  }

  function show() {
    const filter = search.value.trim().toLowerCase();
    const list = state.lookup ? [state.lookup]
      : state.topics.filter((t) => !filter || String(t.topicName).toLowerCase().includes(filter));
    setChildren(tbody, list.length ? list.map(row)
      : h('tr', {}, h('td', { colspan: '5' }, state.topics.length ? 'No topic on this page matches the filter.' : 'No open topics.')));
    const pages = Math.max(1, Math.ceil(state.total / PAGE_SIZE));
    pageInfo.textContent = state.lookup
      ? `Looked up "${state.lookup.topicName}" with rest/state.`
      : `Page ${state.pageIndex + 1} of ${pages} (${state.total} topics)`;
    prev.disabled = Boolean(state.lookup) || state.pageIndex === 0;
    next.disabled = Boolean(state.lookup) || (state.pageIndex + 1) * PAGE_SIZE >= state.total;
    showAll.hidden = !state.lookup;
  }

  async function load() {
    const answer = await ctx.get('list', 'rest/list', { pageIndex: state.pageIndex, pageSize: PAGE_SIZE, groupId: state.group });
    if (!answer) return;
    state.topics = Array.isArray(answer.topicInfoList) ? answer.topicInfoList : [];
    state.total = Number(answer.total ?? state.topics.length);
    state.lookup = null;
    show();
  }

  // ---- Behaviour
  groupSel.addEventListener('change', () => {
    state.group = groupSel.value;
    state.pageIndex = 0;
    load();
  });
  prev.addEventListener('click', () => {
    state.pageIndex = Math.max(0, state.pageIndex - 1);
    load();
  });
  next.addEventListener('click', () => {
    state.pageIndex += 1;
    load();
  });
  showAll.addEventListener('click', () => {
    state.lookup = null;
    show();
    search.focus();
  });
  search.addEventListener('input', () => {
    state.lookup = null;
    show();
  });
  searchForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = search.value.trim();
    if (!name) {
      state.lookup = null;
      show();
      return;
    }
    const info = await ctx.get('lookup', 'rest/state', { topic: name, groupId: state.group });
    if (info && typeof info === 'object') {
      state.lookup = { topicName: name, ...info };
      show();
    }
  });
  openForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = openInput.value;
    const answer = await ctx.get('open', 'rest/open', { topic: name, groupId: state.group });
    if (answer !== undefined) location.hash = topicHref(name, state.group);
  });

  await load();
}
