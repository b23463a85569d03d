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

async function request<T>(method: string, path: string, body?: unknown, key = storedApiKey()): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${baseUrl}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : undefined;
  if (!res.ok) {
    if (res.status === 401) onUnauthorized(json?.message ?? '');
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
    const res = await fetch(`${baseUrl}/api/v1${path}`, { headers: { Authorization: `Bearer ${storedApiKey() ?? ''}` } });
    if (res.status === 401) onUnauthorized('');
    if (!res.ok) throw new ApiRequestError(res.status, `download failed (${res.status})`);
    return res.blob();
  },
  /** A file made from a request body (PKCS#12 export): a JSON error is read as any other. */
  postForBlob: async (path: string, body: unknown): Promise<Blob> => {
    const res = await fetch(`${baseUrl}/api/v1${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${storedApiKey() ?? ''}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.ok) return res.blob();
    const json = (res.headers.get('content-type') ?? '').includes('json') ? await res.json() : undefined;
    if (res.status === 401) onUnauthorized(json?.message ?? '');
    throw new ApiRequestError(res.status, json?.message ?? `${res.status} ${res.statusText}`, json?.code, json?.details ?? [], json?.request_id);
  },
  /** Checks a key before it is stored: the sign-in page's only call. */
  check: (key: string) => request<AuthCheck>('GET', '/auth/check', undefined, key),
};

/** What /auth/check says about the caller. Other fields may be added by the server; these are the ones used. */
export interface AuthCheck {
  status?: string;
  actor?: string;
  role?: string;
  access?: string[];
}
