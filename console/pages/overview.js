// #/overview: every group's chain (polled every second, with an events/s chart over the last
// five minutes) and the broker's status (admin/status, polled every 2 s).

import { createRateChart, formatRate } from '../chart.js';
import { blockHref, defList, describe, h, link, setChildren, shortHash } from '../util.js';

const WINDOW_MS = 5 * 60 * 1000;

export const title = () => 'Overview';

export async function render(ctx, page) {
  const statusBody = h('div', { class: 'status-body' }, h('p', {}, 'Loading…'));
  const cards = h('div', { class: 'cards' });
  page.append(
    h('section', { class: 'panel', 'data-test': 'status', 'aria-labelledby': 'status-title' },
      h('h2', { id: 'status-title' }, 'Broker status'), statusBody),
    h('section', { 'aria-labelledby': 'groups-title' },
      h('h2', { id: 'groups-title' }, 'Groups'), cards),
  );

  ctx.every(2000, async () => {
    const status = await ctx.get('status', 'admin/status');
    if (status !== undefined) renderStatus(statusBody, status);
    else if (statusBody.querySelector('dl') === null) setChildren(statusBody, h('p', {}, 'Status unavailable.'));
  });

  const groups = await ctx.get('groups', 'admin/listGroup');
  if (!Array.isArray(groups)) return;
  if (groups.length === 0) cards.append(h('p', {}, 'This broker has no groups.'));
  const groupCards = groups.map((g) => groupCard(ctx, String(g)));
  cards.append(...groupCards.map((c) => c.element));
  ctx.every(1000, () => Promise.all(groupCards.map((c) => c.refresh())));
}

/** One group's card; refresh() polls admin/blockchaininfo and feeds the rate chart. */
function groupCard(ctx, group) {
  const height = h('span', { 'data-test': 'height' }, '…');
  const eventCount = h('span', { 'data-test': 'event-count' }, '…');
  const topicCount = h('span', { 'data-test': 'topic-count' }, '…');
  const lastHash = h('span', { 'data-test': 'last-block-hash', class: 'hash' }, '…');
  const rate = h('span', { 'data-test': 'rate' }, '…');
  const chart = createRateChart({ windowMs: WINDOW_MS });
  const titleId = `group-${group}-title`;
  const element = h('article', { class: 'card', 'data-test': `group-${group}`, 'aria-labelledby': titleId },
    h('h3', { id: titleId }, `Group ${group}`),
    defList([
      ['Height', height],
      ['Events', eventCount],
      ['Open topics', topicCount],
      ['Last block hash', lastHash],
      ['Events per second', rate],
    ]),
    h('figure', { class: 'chart-figure' },
      chart.element,
      h('figcaption', {}, 'Events per second, last 5 minutes')),
  );

  let previous = null; // the last sample: { t, count }
  const points = [];

  async function refresh() {
    const info = await ctx.get(`chain-${group}`, 'admin/blockchaininfo', { groupId: group });
    if (!info || typeof info !== 'object') return;
    const now = Date.now();
    height.textContent = String(info.blockHeight);
    eventCount.textContent = String(info.eventCount);
    topicCount.textContent = String(info.topicCount);
    const hash = String(info.lastBlockHash ?? '');
    if (Number(info.blockHeight) > 0) {
      setChildren(lastHash, link(blockHref(group, info.blockHeight), shortHash(hash), { title: hash, 'aria-label': `Block ${info.blockHeight}, hash ${hash}` }));
    } else {
      lastHash.textContent = 'none yet (no blocks)';
    }

    const count = Number(info.eventCount);
    if (previous && now > previous.t) {
      // A count that went down (another instance's embedded ledger after a failover) is no rate.
      const perSecond = Math.max(0, (count - previous.count) / ((now - previous.t) / 1000));
      points.push({ t: now, v: perSecond });
      while (points.length && points[0].t < now - WINDOW_MS) points.shift();
      rate.textContent = `${formatRate(perSecond)} events/s`;
    } else {
      rate.textContent = 'measuring…';
    }
    previous = { t: now, count };
    chart.update(points, now);
  }

  return { element, refresh };
}

/** admin/status, whatever it holds: the known parts in words, the rest as JSON. */
function renderStatus(body, status) {
  if (!status || typeof status !== 'object') {
    setChildren(body, h('p', {}, describe(status)));
    return;
  }
  const { instance, store, groups, zookeeper: zk, bridge, cluster, postgresql: pg, ...rest } = status;
  const leader = cluster?.leader ?? bridge?.leader;
  const pairs = [];
  if (instance !== undefined) pairs.push(['This instance', h('span', { 'data-test': 'status-instance' }, describe(instance))]);
  if (store !== undefined) pairs.push(['Ledger store', h('span', { 'data-test': 'status-store' }, describe(store))]);
  if (Array.isArray(groups)) pairs.push(['Groups', groups.join(', ') || 'none']);

  if (zk && typeof zk === 'object') {
    const text = zk.configured === false
      ? 'not configured'
      : [zk.hosts, zk.connected === true ? 'connected' : zk.connected === false ? 'not connected' : null]
        .filter((x) => x !== undefined && x !== null).join(', ') || 'configured';
    pairs.push(['ZooKeeper', h('span', { 'data-test': 'status-zookeeper' }, text)]);
    if (Array.isArray(zk.servers)) {
      const up = zk.servers.filter((s) => s && s.mode).length;
      pairs.push([`ZooKeeper ensemble (${up} of ${zk.servers.length} up)`, h('ul', { class: 'plain', 'data-test': 'status-ensemble' },
        zk.servers.map((s) => h('li', {}, s && s.mode
          ? `${describe(s.address)} — ${describe(s.mode)}`
          : `${describe(s?.address)} — down: ${describe(s?.error)}`)))]);
    }
  } else if (zk !== undefined) pairs.push(['ZooKeeper', describe(zk)]);

  if (pg && typeof pg === 'object') {
    const moved = Number(pg.switches) > 0
      ? `, after ${describe(pg.switches)} failover(s), the last ${Math.round(Number(pg.secondsSinceSwitch))} s ago` : '';
    pairs.push(['Store primary', h('span', { 'data-test': 'status-pg-primary' },
      `${describe(pg.primary)}${pg.reachable === false ? ' (not answering)' : ''}${moved}`)]);
    const standbys = Array.isArray(pg.standbys) ? pg.standbys : [];
    pairs.push(['Standbys', standbys.length === 0
      ? h('span', { 'data-test': 'status-pg-standbys' }, pg.error ? `unknown: ${describe(pg.error)}`
        : pg.synchronousStandbyNames ? `none connected (commits wait for ${describe(pg.synchronousStandbyNames)})`
          : 'none (commits wait for no other server)')
      : h('ul', { class: 'plain', 'data-test': 'status-pg-standbys' }, standbys.map((s) => h('li', {}, [
        describe(s.name),
        s.address ? ` (${s.address})` : '',
        ` — ${describe(s.syncState ?? 'unknown')}, ${describe(s.state ?? 'unknown')}`,
        s.lagBytes !== undefined && s.lagBytes !== null ? `, ${s.lagBytes} bytes behind` : '',
        s.lagSeconds !== undefined && s.lagSeconds !== null ? ` (${Number(s.lagSeconds).toFixed(3)} s)` : '',
      ].join(''))))]);
  }

  if (bridge && typeof bridge === 'object') {
    if (bridge.configured === false) {
      pairs.push(['MQTT bridge', h('span', { 'data-test': 'status-bridge-url' }, 'not configured')]);
    } else {
      pairs.push(['MQTT bridge', h('span', { 'data-test': 'status-bridge-url' }, describe(bridge.url))]);
      if (bridge.leader !== undefined) {
        const mine = bridge.isLeader === true ? ' (this instance)' : bridge.isLeader === false ? ' (another instance)' : '';
        pairs.push(['Bridge run by', `${describe(bridge.leader)}, the leader${mine}`]);
      }
      if (bridge.bindings !== undefined) pairs.push(['Bindings', describe(bridge.bindings)]);
    }
  } else if (bridge !== undefined) pairs.push(['MQTT bridge', describe(bridge)]);

  if (leader !== undefined) {
    pairs.push(['Leader', h('span', { 'data-test': 'status-leader' }, `${describe(leader)} (leader)`)]);
  }
  if (cluster && typeof cluster === 'object' && Array.isArray(cluster.instances)) {
    pairs.push(['Cluster instances', h('ul', { class: 'plain', 'data-test': 'status-instances' },
      cluster.instances.map((i) => h('li', {}, [
        describe(i),
        i === leader ? ' — leader' : '',
        i === instance ? ' — this instance' : '',
      ].join(''))))]);
  } else if (cluster !== undefined) pairs.push(['Cluster', describe(cluster)]);

  for (const [key, value] of Object.entries(rest)) pairs.push([key, describe(value)]);
  setChildren(body, defList(pairs));
}
