// api.js — the UI's only way to the server: the public API under /api/v1,
// same origin, with the bearer token from sessionStorage.
//
// The token lives in sessionStorage (this tab only, gone when it closes),
// never in a URL: the live event stream and the following log are read with
// fetch() and a streamed body, not EventSource, because EventSource cannot
// send an Authorization header and a ?token= query would land in proxy and
// server access logs and in the browser's history.
//
// Every failure is an ApiError whose message is words a person can act on:
// the server's {"error": {"code", "message"}} when there is one.

const KEY = 'weft.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const WORDS = {
  400: 'the request was refused as malformed',
  401: 'you are not signed in, or your token expired or was revoked',
  403: 'your role does not allow this',
  404: 'not found',
  405: 'not allowed here',
  409: 'this conflicts with the current state',
  413: 'too large',
  422: 'the server could not accept this',
  429: 'too many failed sign-ins from here; wait a minute',
  503: 'the server is busy or starting; try again',
};

export function getToken() { return sessionStorage.getItem(KEY); }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

function url(path, query) {
  const u = new URL('/api/v1' + path, location.origin);
  for (const [k, v] of Object.entries(query || {}))
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  return u.pathname + u.search;
}

function headers(extra) {
  const h = Object.assign({}, extra);
  const t = getToken();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

async function failure(res) {
  let code = 'http_' + res.status, msg = '';
  try {
    const j = await res.json();
    if (j && j.error) { code = j.error.code || code; msg = j.error.message || ''; }
  } catch (_) { /* not JSON */ }
  const words = WORDS[res.status] || 'the server answered ' + res.status;
  return new ApiError(res.status, code, msg ? `${words}: ${msg}` : words);
}

async function call(method, path, { query, body, signal } = {}) {
  const init = { method, headers: headers({ Accept: 'application/json' }), signal, cache: 'no-store' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(url(path, query), init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the server cannot be reached: ' + e.message);
  }
  if (!res.ok) throw await failure(res);
  const type = res.headers.get('Content-Type') || '';
  return type.startsWith('application/json') ? res.json() : res.text();
}

export const api = {
  get: (path, query, signal) => call('GET', path, { query, signal }),
  post: (path, body) => call('POST', path, { body: body === undefined ? {} : body }),
  del: (path) => call('DELETE', path),

  // Reads a streamed text answer (a log with follow=1) chunk by chunk until
  // it ends or signal aborts. onText(chunk) for each piece.
  async follow(path, query, onText, signal) {
    const res = await fetch(url(path, query), { headers: headers(), signal, cache: 'no-store' });
    if (!res.ok) throw await failure(res);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onText(value);
    }
  },

  // The live event stream (SERVER.md §6) over fetch: calls onEvent({id,
  // type, data}) per event, reconnects after a drop with Last-Event-ID so
  // nothing is missed, until signal aborts. onOpen() once each time the
  // stream is connected (callers reload their snapshot then). Returns at
  // once; errors that will not heal (401, 403) go to onError and stop it.
  events(query, { onEvent, onOpen, onError, signal }) {
    let last = null;
    const run = async () => {
      let delay = 500;
      while (!signal.aborted) {
        try {
          const h = headers({ Accept: 'text/event-stream' });
          if (last !== null) h['Last-Event-ID'] = String(last);
          const res = await fetch(url('/events/stream', query), { headers: h, signal, cache: 'no-store' });
          if (!res.ok) {
            const err = await failure(res);
            if (res.status === 401 || res.status === 403 || res.status === 400) { onError && onError(err); return; }
            throw err;
          }
          delay = 500;
          onOpen && onOpen();
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value;
            let i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const ev = { id: null, type: 'message', data: '' };
              for (const line of block.split('\n')) {
                if (line.startsWith(':')) continue;
                const c = line.indexOf(':');
                const field = c < 0 ? line : line.slice(0, c);
                const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
                if (field === 'id') ev.id = val;
                else if (field === 'event') ev.type = val;
                else if (field === 'data') ev.data += (ev.data ? '\n' : '') + val;
              }
              if (ev.id !== null) last = ev.id;
              if (!ev.data) continue;
              try { ev.data = JSON.parse(ev.data); } catch (_) { /* keep the text */ }
              onEvent(ev);
            }
          }
        } catch (e) {
          if (signal.aborted || e.name === 'AbortError') return;
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10000);
      }
    };
    run();
  },
};
