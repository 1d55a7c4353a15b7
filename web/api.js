// The one way the app talks to the server (docs/API.md): same-origin
// credentials, JSON in and out, X-CSRF-Token on every state-changing request.

export const API = '/api/v1';

let csrfToken = '';

export function setCsrf(token) {
  csrfToken = typeof token === 'string' ? token : '';
}

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body || {};
  }
}

// Listeners for "the session is gone" (401 on anything but /login).
const unauthListeners = [];
export function onUnauthenticated(fn) {
  unauthListeners.push(fn);
}

const STATUS_TEXT = {
  400: 'The request was not accepted.',
  401: 'Please sign in.',
  403: 'You are not allowed to do this.',
  404: 'Not found, or you do not have access to it.',
  409: 'This conflicts with something that already exists.',
  413: 'The file is too large.',
  423: 'The account is locked for now.',
  429: 'Too many requests; please wait and try again.',
};

// method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; body: object (sent as JSON) or FormData.
export async function api(method, path, body, { quietAuth = false } = {}) {
  const headers = { Accept: 'application/json' };
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;

  let res;
  try {
    res = await fetch(API + path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', 'The server could not be reached. Check the connection and try again.');
  }

  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const code = (data && data.error) || `http_${res.status}`;
    let message = (data && data.message) || STATUS_TEXT[res.status] || `The server answered ${res.status}.`;
    if (res.status === 429 || res.status === 423) {
      const after = (data && data.retry_after) || res.headers.get('Retry-After');
      if (after && !/\d/.test(message)) message += ` (try again in ${after} s)`;
    }
    const err = new ApiError(res.status, code, message, data);
    if (res.status === 401 && !quietAuth) unauthListeners.forEach((fn) => fn(err));
    throw err;
  }
  return data || {};
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
