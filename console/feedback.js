// What the user is told: failures (data-test="error", role=alert, always `<code>: <message>`),
// short success notices (role=status), and the token form that a 100701 answer opens.

import { ApiError, needsToken } from './api.js';

const errorBox = document.getElementById('error');
const noticeBox = document.getElementById('notice');
const tokenForm = document.getElementById('token-form');
const tokenInput = document.getElementById('token-input');

// The source of the error on show ("status", "publish", ...): a later success of the same
// source clears it, a success of another source leaves it.
let errorSource = null;

/** Shows a failure as `<code>: <message>`; 100701 also opens the token form. */
export function reportError(err, source = 'page') {
  const text = err instanceof ApiError ? err.toString() : `error: ${err?.message ?? err}`;
  errorBox.textContent = text;
  errorBox.hidden = false;
  errorSource = source;
  if (needsToken(err)) showTokenForm(false);
}

/** Clears the error on show; with a source, only when it is that source's. */
export function clearError(source) {
  if (source !== undefined && source !== errorSource) return;
  errorBox.textContent = '';
  errorBox.hidden = true;
  errorSource = null;
}

let noticeTimer;
/** A short success message (role=status), cleared after a while. */
export function notify(text) {
  noticeBox.textContent = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { noticeBox.textContent = ''; }, 8000);
}

export function showTokenForm(focus) {
  tokenForm.hidden = false;
  if (focus) tokenInput.focus();
}

export function hideTokenForm() {
  tokenForm.hidden = true;
}
