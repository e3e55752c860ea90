// #/identities: who may call the broker (admin/listIdentity), adding one (its token is shown
// once, here), granting and revoking rights, renewing a token and removing an identity
// (docs/api.md "Access control"). Every call needs admin.

import { notify } from '../feedback.js';
import { h, isoTime, labelled, scrollTable, syncRows } from '../util.js';

const COLUMNS = ['Identity', 'Rights', 'Created', 'Changed', 'Change rights', 'Token and removal'];

export const title = () => 'Identities';

/** A right as text, the form the broker and `weevent identity` take: ACTIONS[@GROUPS][:TOPICS]. */
export function rightText(right) {
  const actions = (right.actions ?? []).join(',');
  const groups = right.groups ? right.groups.join(',') : '*';
  return `${actions}@${groups}:${(right.topics ?? []).join(',')}`;
}

export async function render(ctx, page) {
  const state = h('p', { 'data-test': 'identities-state', role: 'status' }, 'Loading…');
  const tbody = h('tbody');
  // Where a new token is shown: once, with the advice to keep it now.
  const tokenBox = h('div', { class: 'panel token-once', 'data-test': 'identity-token-box', hidden: true, 'aria-live': 'polite' });

  const nameInput = h('input', { type: 'text', 'data-test': 'identity-name', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'identity-help' });
  const rightsInput = h('input', { type: 'text', 'data-test': 'identity-rights', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'identity-help', size: 50 });
  const addForm = h('form', { class: 'inline-form', 'aria-labelledby': 'identity-add-title' },
    labelled('Name', nameInput),
    labelled('Rights', rightsInput),
    h('button', { type: 'submit', 'data-test': 'identity-add' }, 'Add identity'));

  page.append(
    h('p', { class: 'help' },
      'Each identity calls the broker with its own token and may do what its rights say. ',
      'A right is ACTIONS[@GROUPS][:TOPICS]: actions among publish, read, request, manage, admin; groups comma-separated or * (every group); ',
      'topics comma-separated names and patterns (+ one level, # the rest). Callers without a token have the rights of access.anonymous.'),
    tokenBox,
    state,
    scrollTable(h('table', { 'data-test': 'identities-table' },
      h('caption', {}, 'Identities'),
      h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
      tbody), 'Identities'),
    h('section', { class: 'panel', 'aria-labelledby': 'identity-add-title' },
      h('h2', { id: 'identity-add-title' }, 'Add an identity'),
      h('p', { id: 'identity-help', class: 'help' },
        'Name: 1 to 64 letters, digits, ".", "_" or "-". Rights separated by spaces, for example publish,read@1:sensors/# read:public. ',
        'The token is shown once, right after.'),
      addForm));

  function showToken(name, token) {
    const value = h('code', { 'data-test': 'identity-token', class: 'hash' }, token);
    tokenBox.replaceChildren(
      h('h2', {}, `Token of ${name}`),
      h('p', {}, 'Copy it now: the broker keeps only its digest and shows it never again. Send it as Authorization: Bearer.'),
      h('p', {}, value),
      h('button', { type: 'button', 'data-test': 'identity-token-dismiss', onclick: () => { tokenBox.hidden = true; tokenBox.replaceChildren(); } }, 'I have kept it'));
    tokenBox.hidden = false;
    tokenBox.querySelector('button').focus();
  }

  async function refresh() {
    const list = await ctx.get('identities', 'admin/listIdentity');
    if (!Array.isArray(list)) {
      state.textContent = 'Identities unavailable (see the error above).';
      return;
    }
    state.textContent = list.length ? `${list.length} identit${list.length === 1 ? 'y' : 'ies'}` : 'No identities yet.';
    syncRows(tbody, list, (i) => String(i.name), buildRow, updateRow);
  }

  function buildRow(identity) {
    const name = String(identity.name);
    const input = h('input', { type: 'text', 'data-test': 'identity-change-rights', autocomplete: 'off', spellcheck: 'false', 'aria-label': `Rights to grant to or revoke from ${name}` });
    const grant = h('button', { type: 'button', 'data-test': 'identity-grant' }, 'Grant');
    const revoke = h('button', { type: 'button', 'data-test': 'identity-revoke' }, 'Revoke');
    const renew = h('button', { type: 'button', 'data-test': 'identity-renew' }, 'New token');
    const remove = h('button', { type: 'button', 'data-test': 'identity-remove', class: 'danger', 'aria-label': `Remove identity ${name}` }, 'Remove');
    const act = async (button, source, path, params, done) => {
      button.disabled = true;
      const answer = await ctx.get(source, path, params);
      button.disabled = false;
      if (answer !== undefined) {
        done(answer);
        await refresh();
      }
    };
    grant.addEventListener('click', () => act(grant, 'identity-change', 'admin/grantIdentity', { name, rights: input.value }, () => {
      input.value = '';
      notify(`Granted to ${name}.`);
    }));
    revoke.addEventListener('click', () => {
      // Without rights the broker would remove the identity: that is Remove's job, not this one's.
      if (!input.value.trim()) {
        notify('Type the rights to revoke first (Remove takes the whole identity away).');
        input.focus();
        return;
      }
      act(revoke, 'identity-change', 'admin/revokeIdentity', { name, rights: input.value }, () => {
        input.value = '';
        notify(`Revoked from ${name}.`);
      });
    });
    renew.addEventListener('click', () => act(renew, 'identity-change', 'admin/renewIdentityToken', { name }, (answer) => {
      showToken(name, String(answer.token));
    }));
    remove.addEventListener('click', () => {
      if (!window.confirm(`Remove identity ${name}? Its token is refused from then on.`)) return;
      act(remove, 'identity-change', 'admin/revokeIdentity', { name }, () => notify(`Removed identity ${name}.`));
    });
    return h('tr', { 'data-test': 'identity-row', 'data-identity': name },
      h('th', { scope: 'row', 'data-test': 'identity-row-name' }, name),
      h('td', { 'data-test': 'identity-row-rights' }),
      h('td', { 'data-test': 'identity-row-created' }),
      h('td', { 'data-test': 'identity-row-changed' }),
      h('td', {}, h('div', { class: 'inline-form' }, input, grant, revoke)),
      h('td', {}, renew, ' ', remove));
  }

  function updateRow(tr, identity) {
    const set = (name, value) => {
      const cell = tr.querySelector(`[data-test="identity-row-${name}"]`);
      if (cell.textContent !== value) cell.textContent = value;
    };
    const rights = identity.rights ?? [];
    set('rights', rights.length ? rights.map(rightText).join(' ') : 'none');
    set('created', isoTime(identity.created));
    set('changed', isoTime(identity.changed));
  }

  addForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    const answer = await ctx.get('identity-add', 'admin/addIdentity', { name, rights: rightsInput.value });
    if (answer === undefined) return;
    nameInput.value = '';
    rightsInput.value = '';
    showToken(String(answer.name), String(answer.token));
    notify(`Added identity ${answer.name}.`);
    await refresh();
  });

  ctx.every(5000, refresh);
}
