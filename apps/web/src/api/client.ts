/**
 * The console's only way to the API: same-origin fetch with the signed-in key as a bearer token. The key lives
 * in sessionStorage (this tab only; never in a URL, never logged). A 401 signs the tab out.
 */
const KEY_STORAGE = 'certctl.apiKey';

export interface FieldProblem {
  field: string;
  message: string;
}

/** An API error in certctl's shape ({error, message, code, details, request_id}). */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly details: FieldProblem[] = [],
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'ApiRequestError';
  }

  /** The message for one form field ("config.cert_path"), if the API named it. */
  fieldMessage(field: string): string | undefined {
    return this.details.find((d) => d.field === field)?.message;
  }
}

let baseUrl = '';
let onUnauthorized: (serverMessage: string) => void = () => undefined;

/** Tests point the console at an api elsewhere; the built console uses its own origin. */
export function setApiBaseUrl(url: string): void {
  baseUrl = url.replace(/\/$/, '');
}

/** Called with the server's message when a request is refused with 401 (a key revoked or expired meanwhile). */
export function setUnauthorizedHandler(handler: (serverMessage: string) => void): void {
  onUnauthorized = handler;
}

export function storedApiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/**
 * After an OpenID sign-in the browser holds an httpOnly session cookie instead of a key; every change made with it
 * carries the session's CSRF token, which the server put in a readable cookie.
 */
function csrfToken(): string | undefined {
  const match = /(?:^|;\s*)certctl_csrf=([^;]*)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

async function request<T>(method: string, path: string, body?: unknown, key = storedApiKey(), root = '/api/v1'): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  else if (method !== 'GET' && csrfToken()) headers['X-CSRF-Token'] = csrfToken()!;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${baseUrl}${root}${path}`, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : undefined;
  if (!res.ok) {
    // Asking whether a session cookie signs the tab in is not a sign-out (a key may be being typed meanwhile).
    if (res.status === 401 && !(key === null && path === '/auth/check')) onUnauthorized(json?.message ?? '');
    throw new ApiRequestError(res.status, json?.message ?? `${res.status} ${res.statusText}`, json?.code, json?.details ?? [], json?.request_id);
  }
  return (json ?? text) as T;
}

export const api = {
  get: <T>(path: string, query?: Query) => request<T>('GET', withQuery(path, query)),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  delete: <T>(path: string) => request<T>('DELETE', path),
  /** A file the API serves (PEM export), fetched with the key in a header, never in the URL. */
  download: async (path: string): Promise<Blob> => {
    const key = storedApiKey();
    const res = await fetch(`${baseUrl}/api/v1${path}`, { headers: key ? { Authorization: `Bearer ${key}` } : {}, credentials: 'same-origin' });
    if (res.status === 401) onUnauthorized('');
    if (!res.ok) throw new ApiRequestError(res.status, `download failed (${res.status})`);
    return res.blob();
  },
  /** Checks a key before it is stored; with null, asks whether the browser holds a session cookie. */
  check: (key: string | null) => request<AuthCheck>('GET', '/auth/check', undefined, key),
  /** How to sign in, and the OpenID providers offered (public). */
  info: () => request<AuthInfo>('GET', '/auth/info', undefined, null),
  /** Ends the cookie session; the answer may name the provider's logout page. */
  logout: () => request<{ redirect_to?: string }>('POST', '/auth/logout', {}, null, ''),
  /** A file made from a request body (PKCS#12 export): a JSON error is read as any other. */
  postForBlob: async (path: string, body: unknown): Promise<Blob> => {
    const key = storedApiKey();
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (key) headers.Authorization = `Bearer ${key}`;
    else if (csrfToken()) headers['X-CSRF-Token'] = csrfToken()!;
    const res = await fetch(`${baseUrl}/api/v1${path}`, { method: 'POST', headers, credentials: 'same-origin', body: JSON.stringify(body) });
    if (res.ok) return res.blob();
    const json = (res.headers.get('content-type') ?? '').includes('json') ? await res.json() : undefined;
    if (res.status === 401) onUnauthorized(json?.message ?? '');
    throw new ApiRequestError(res.status, json?.message ?? `${res.status} ${res.statusText}`, json?.code, json?.details ?? [], json?.request_id);
  },
};

export interface AuthInfo {
  auth_type: string;
  oidc_providers?: Array<{ id: string; name: string; login_url: string }>;
}

/** What /auth/check says about the caller. Other fields may be added by the server; these are the ones used. */
export interface AuthCheck {
  status?: string;
  actor?: string;
  role?: string;
  access?: string[];
  /** Each permission the caller holds and where (global, or one team, issuer or profile). */
  effective_permissions?: Array<{ permission: string; scope_type: string; scope_id?: string }>;
  role_grants?: Array<{ role_id: string; role_name: string; scope_type: string; scope_id?: string; expires_at?: string; via: string }>;
  admin?: boolean;
}
