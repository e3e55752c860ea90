// The console's shell: hash router, page lifecycle, error display and the access token.

import { api, getToken, setToken } from './api.js';
import { clearError, hideTokenForm, notify, reportError, showTokenForm } from './feedback.js';
import { h } from './util.js';
import * as overview from './pages/overview.js';
import * as topics from './pages/topics.js';
import * as topic from './pages/topic.js';
import * as event from './pages/event.js';
import * as blocks from './pages/blocks.js';
import * as bridge from './pages/bridge.js';
import * as subscriptions from './pages/subscriptions.js';
import * as identities from './pages/identities.js';

const PAGES = { overview, topics, topic, event, blocks, bridge, subscriptions, identities };
// Which nav link is current for each page.
const NAV_OF = { topic: 'topics', event: 'topics' };

const main = document.getElementById('main');
const tokenForm = document.getElementById('token-form');
const tokenInput = document.getElementById('token-input');

// ---- Page context --------------------------------------------------------------------------

/** What a page gets: its API calls and timers end when the user leaves it. */
class PageContext {
  constructor(route) {
    this.route = route;
    this.controller = new AbortController();
    this.cleanups = [];
  }

  get alive() {
    return !this.controller.signal.aborted;
  }

  get signal() {
    return this.controller.signal;
  }

  /**
   * Calls the API for this page. Resolves with the answer, or with undefined after showing
   * the failure (source: the error's source, see reportError); undefined too once the page
   * was left.
   */
  async get(source, path, params = {}, options = {}) {
    try {
      const result = await api(path, params, { ...options, signal: this.signal });
      if (!this.alive) return undefined;
      clearError(source);
      return result;
    } catch (err) {
      if (this.alive && err?.name !== 'AbortError') reportError(err, source);
      return undefined;
    }
  }

  /** Runs fn now and then every `ms` (from the start of one run to the next) while alive. */
  every(ms, fn) {
    let timer;
    const tick = async () => {
      if (!this.alive) return;
      const started = performance.now();
      try {
        await fn();
      } catch (err) {
        console.error(err);
      }
      if (this.alive) timer = setTimeout(tick, Math.max(0, ms - (performance.now() - started)));
    };
    this.onLeave(() => clearTimeout(timer));
    tick();
  }

  onLeave(fn) {
    this.cleanups.push(fn);
  }

  leave() {
    this.controller.abort();
    for (const fn of this.cleanups.splice(0)) {
      try {
        fn();
      } catch (err) {
        console.error(err);
      }
    }
  }
}

// ---- Router --------------------------------------------------------------------------------

/** `#/topic/<name>?group=1` -> { name: 'topic', arg: '<name>', query: URLSearchParams }. */
function parseHash(hash) {
  const raw = hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const slash = path.indexOf('/');
  const name = (slash < 0 ? path : path.slice(0, slash)) || 'overview';
  let arg = slash < 0 ? '' : path.slice(slash + 1);
  try {
    arg = decodeURIComponent(arg);
  } catch {
    // a malformed escape: keep it as typed
  }
  return { name, arg, query };
}

let current = null;

/** A fresh page of the given name (data-test="page-<name>") with its h1; sets the title. */
function pageShell(name, title) {
  document.title = `${title} · WeEvent broker console`;
  const heading = h('h1', { tabindex: '-1' }, title);
  const section = h('section', { class: `page page-${name}`, 'data-test': `page-${name}`, 'aria-labelledby': 'page-title' }, heading);
  heading.id = 'page-title';
  return { section, heading };
}

async function render({ focus = false } = {}) {
  current?.leave();
  clearError();
  const route = parseHash(location.hash);
  const ctx = new PageContext(route);
  ctx.reload = () => render();
  current = ctx;

  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === (NAV_OF[route.name] ?? route.name)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }

  const page = PAGES[route.name];
  if (!page) {
    const { section, heading } = pageShell('notfound', 'Page not found');
    section.append(h('p', {}, 'There is no page at ', h('code', {}, location.hash), '. ',
      h('a', { href: '#/overview' }, 'Go to the overview'), '.'));
    main.replaceChildren(section);
    if (focus) heading.focus();
    return;
  }
  const { section, heading } = pageShell(route.name, page.title(route));
  main.replaceChildren(section);
  if (focus) heading.focus();
  try {
    await page.render(ctx, section, route);
  } catch (err) {
    if (ctx.alive) reportError(err, 'page');
  }
}

/** Renders the current route again (after a token was saved, for instance). */
function reload() {
  render();
}

// ---- Access token --------------------------------------------------------------------------

function updateTokenStatus() {
  document.getElementById('token-status').textContent = getToken() ? 'Access token set' : 'No access token';
}

tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  setToken(tokenInput.value.trim());
  tokenInput.value = '';
  hideTokenForm();
  notify(getToken() ? 'Access token saved for this tab.' : 'Access token cleared.');
  reload();
});
document.getElementById('token-cancel').addEventListener('click', () => {
  hideTokenForm();
  document.getElementById('token-show').focus();
});
document.getElementById('token-show').addEventListener('click', () => showTokenForm(true));
document.getElementById('token-clear').addEventListener('click', () => {
  setToken('');
  notify('Access token cleared.');
  reload();
});
window.addEventListener('weevent:token', updateTokenStatus);
updateTokenStatus();

// The skip link would change the hash (our routes live there): move the focus instead.
document.querySelector('[data-skip]')?.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', () => render({ focus: true }));
if (!location.hash || location.hash === '#' || location.hash === '#/') {
  history.replaceState(null, '', '#/overview');
}
render();
