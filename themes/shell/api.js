// api.js — the one way the shell and plugin pages talk to Atrium's JSON API.
//
// It adds the CSRF header and JSON content type to unsafe methods, turns every
// non-2xx answer into an ApiError {status, code, message, retryAfter}, and tells
// the shell about two things: that the server saw us (which refreshes the
// session's idle timer) and that the session is gone (a 401 confirmed by
// GET /api/auth/me). It is not a cache and holds no user data besides the
// CSRF token the shell gives it.

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class ApiError extends Error {
  // status: HTTP status (0 when the server could not be reached);
  // code: the API's error code; retryAfter: seconds from Retry-After, or null.
  constructor(status, code, message, retryAfter = null) {
    super(message || code || 'request failed');
    this.name = 'ApiError';
    this.status = status;
    this.code = code || 'error';
    this.retryAfter = retryAfter;
  }
}

let csrfToken = null;
let onActivity = () => {};
let onSignedOut = () => {};
let signedIn = false;

// The shell calls this after sign-in, /me, password change and sign-out.
export function setSession(token, isSignedIn) {
  csrfToken = token || null;
  signedIn = Boolean(isSignedIn);
}

export function getCsrfToken() {
  return csrfToken;
}

// activity(): a request reached the server with our session;
// signedOut(): the server no longer knows our session.
export function setHooks(hooks) {
  onActivity = hooks.activity || onActivity;
  onSignedOut = hooks.signedOut || onSignedOut;
}

function retryAfterSeconds(res) {
  const v = res.headers.get('Retry-After');
  if (!v) return null;
  const n = Number(v);
  if (Number.isFinite(n)) return Math.max(0, Math.round(n));
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, Math.round((t - Date.now()) / 1000));
}

async function send(method, path, body) {
  const headers = { Accept: 'application/json' };
  // referrerPolicy: the server sends Referrer-Policy: no-referrer for pages;
  // 'same-origin' keeps the Origin header on our own unsafe requests in every
  // browser (the server checks it) while still sending nothing elsewhere.
  const init = { method, credentials: 'same-origin', headers, cache: 'no-store', referrerPolicy: 'same-origin' };
  if (UNSAFE.has(method)) {
    headers['Content-Type'] = 'application/json';
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
    if (body !== undefined) init.body = JSON.stringify(body);
    else if (method !== 'DELETE') init.body = '{}';
  }
  try {
    return await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network',
      'The portal could not be reached. Check your connection and try again.');
  }
}

async function parse(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function toError(res, data) {
  const e = data && data.error ? data.error : {};
  let message = e.message;
  if (!message) {
    if (res.status === 403) message = 'You do not have permission to do that.';
    else if (res.status === 404) message = 'That was not found.';
    else if (res.status === 429 || res.status === 503) message = 'The portal is busy. Please try again shortly.';
    else message = 'Something went wrong (' + res.status + '). Please try again.';
  }
  return new ApiError(res.status, e.code || 'http_' + res.status, message, retryAfterSeconds(res));
}

// Paths whose 401 means "wrong credentials", never "your session ended".
const CREDENTIAL_PATHS = ['/api/auth/login', '/api/auth/activate', '/api/auth/register'];

// api(method, path, body) -> Promise of the parsed JSON (null for 204).
// Throws ApiError. A 401 while signed in is checked against /api/auth/me:
// if that also answers 401 the shell is told the session ended.
export async function api(method, path, body) {
  method = String(method).toUpperCase();
  let res = await send(method, path, body);
  let data = await parse(res);
  if (res.status === 403 && UNSAFE.has(method) && data && data.error && data.error.code === 'csrf' &&
      await refreshToken()) {
    // Another tab (or a security step) rotated the token: retry once with the new one.
    res = await send(method, path, body);
    data = await parse(res);
  }
  if (res.ok) {
    // Some answers rotate the token (sign-in, password change, two-step
    // enrolment); take it from wherever it appears.
    if (data && typeof data.csrf_token === 'string') csrfToken = data.csrf_token;
    if (signedIn) onActivity();
    return data;
  }
  const err = toError(res, data);
  if (res.status === 401 && signedIn && !CREDENTIAL_PATHS.some((p) => path.startsWith(p))) {
    if (path.startsWith('/api/auth/me') || !(await stillSignedIn())) {
      signedIn = false;
      onSignedOut();
      err.signedOut = true;
    }
  } else if (signedIn && res.status !== 401) {
    onActivity();
  }
  throw err;
}

// Fetches the session's current CSRF token; false when there is no session.
async function refreshToken() {
  const res = await send('GET', '/api/auth/me');
  if (!res.ok) return false;
  const data = await parse(res);
  if (!data || typeof data.csrf_token !== 'string') return false;
  csrfToken = data.csrf_token;
  return true;
}

async function stillSignedIn() {
  const res = await send('GET', '/api/auth/me');
  if (res.ok) {
    const data = await parse(res);
    if (data && data.csrf_token) csrfToken = data.csrf_token;
    onActivity();
    return true;
  }
  return res.status !== 401;
}
