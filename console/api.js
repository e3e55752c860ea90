// The broker's HTTP API: every call is a GET with query parameters (docs/api.md), the access
// token goes as `Authorization: Bearer`, and every failure becomes an ApiError carrying the
// broker's {"code","message"}.

/** The API base: the parent of the console's own path (/weevent/console/ -> /weevent/). */
export const apiBase = new URL('../', location.href);

const TOKEN_KEY = 'weevent.console.token';

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (private mode etc.): the token then lasts as long as nothing.
  }
  window.dispatchEvent(new CustomEvent('weevent:token'));
}

/** The broker's error (`code` is WeEvent's number, or a word for failures outside the API). */
export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }

  toString() {
    return `${this.code}: ${this.message}`;
  }
}

/** True for the code that asks for a token (100701, HTTP 401). */
export const needsToken = (err) => err instanceof ApiError && Number(err.code) === 100701;

/**
 * The URL of an endpoint. params: an object or an array of [name, value] pairs (pairs keep
 * order and allow repeated names); undefined and null values are left out.
 */
export function apiUrl(path, params = {}) {
  const url = new URL(path, apiBase);
  const pairs = Array.isArray(params) ? params : Object.entries(params);
  for (const [name, value] of pairs) {
    if (value !== undefined && value !== null) url.searchParams.append(name, String(value));
  }
  return url;
}

function authHeaders() {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

/** An ApiError from a failed answer: the broker's JSON when it is one, else the HTTP status. */
export function errorFromAnswer(status, statusText, text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof body === 'object' && body.code !== undefined) {
      return new ApiError(body.code, String(body.message ?? statusText ?? 'request failed'), status);
    }
  } catch {
    // not JSON: fall through
  }
  const detail = String(text ?? '').trim().slice(0, 200);
  return new ApiError(`HTTP ${status}`, detail || statusText || 'request failed', status);
}

/**
 * Calls an endpoint. Resolves with the parsed JSON answer (or the text when it is not JSON,
 * or always the text with raw: true); rejects with ApiError, or an AbortError when `signal`
 * aborts.
 */
export async function api(path, params = {}, { signal, raw = false } = {}) {
  const url = apiUrl(path, params);
  let response;
  try {
    response = await fetch(url, { headers: authHeaders(), signal, cache: 'no-store' });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError('network', `cannot reach the broker at ${url.origin} (${err?.message ?? err})`);
  }
  const text = await response.text();
  if (!response.ok) throw errorFromAnswer(response.status, response.statusText, text);
  if (raw) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The URL for an EventSource on rest/stream. Streams need no token (docs/api.md, "Access
 * control"), so none is put in the URL, where proxies and logs would keep it.
 */
export function streamUrl(params) {
  return apiUrl('rest/stream', params);
}

/**
 * Why a stream URL failed: EventSource does not expose the error answer, so this asks again
 * with fetch and reads the broker's JSON. Resolves with an ApiError, or null when the stream
 * opens fine now (the fetch is then cancelled at once).
 */
export async function diagnoseStream(url, signal) {
  const controller = new AbortController();
  const abort = () => controller.abort();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const response = await fetch(url, { headers: authHeaders(), signal: controller.signal, cache: 'no-store' });
    if (response.ok) return null;
    return errorFromAnswer(response.status, response.statusText, await response.text());
  } catch (err) {
    if (err?.name === 'AbortError') return null;
    return new ApiError('network', `cannot reach the broker (${err?.message ?? err})`);
  } finally {
    controller.abort();
    signal?.removeEventListener('abort', abort);
  }
}
