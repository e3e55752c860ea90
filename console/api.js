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

/** The URL of rest/stream with these parameters. */
export function streamUrl(params) {
  return apiUrl('rest/stream', params);
}

/**
 * A Server-Sent Events stream read with fetch, so that it carries the access token as
 * `Authorization: Bearer` (EventSource cannot send headers, and a token in the URL would land in
 * proxy logs). Like EventSource: `open`, `message` (with `data` and `lastEventId`) and `error`
 * events, `readyState`, `close()`, and reconnecting after `retry` ms with `Last-Event-ID`. An
 * answer that is not a stream (the broker's JSON error) closes it for good, with `failure`.
 */
export class StreamSource extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;

  constructor(url) {
    super();
    this.url = url;
    this.readyState = StreamSource.CONNECTING;
    this.lastEventId = '';
    this.retry = 2000;
    this.failure = null;
    this.controller = new AbortController();
    this.run();
  }

  close() {
    this.readyState = StreamSource.CLOSED;
    this.controller.abort();
  }

  async run() {
    while (this.readyState !== StreamSource.CLOSED) {
      try {
        const headers = { ...authHeaders(), Accept: 'text/event-stream' };
        if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
        const response = await fetch(this.url, { headers, signal: this.controller.signal, cache: 'no-store' });
        if (!response.ok) {
          this.failure = errorFromAnswer(response.status, response.statusText, await response.text());
          this.readyState = StreamSource.CLOSED;
          this.dispatchEvent(new Event('error'));
          return;
        }
        this.readyState = StreamSource.OPEN;
        this.dispatchEvent(new Event('open'));
        await this.read(response.body);
      } catch {
        // The connection failed or dropped: reconnect below, unless closed.
      }
      if (this.readyState === StreamSource.CLOSED) return;
      this.readyState = StreamSource.CONNECTING;
      this.dispatchEvent(new Event('error'));
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, this.retry);
        this.controller.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
      });
    }
  }

  /** Parses the event stream (lines ending in LF; blank line ends an event; ':' a comment). */
  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let data = [];
    let id = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, '');
        buffer = buffer.slice(end + 1);
        if (line === '') {
          if (id !== null) this.lastEventId = id;
          if (data.length && this.readyState !== StreamSource.CLOSED) {
            this.dispatchEvent(new MessageEvent('message', { data: data.join('\n'), lastEventId: this.lastEventId }));
          }
          data = [];
          id = null;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'data') data.push(text);
        else if (field === 'id') id = text;
        else if (field === 'retry' && /^[0-9]+$/.test(text)) this.retry = Number(text);
      }
    }
  }
}
