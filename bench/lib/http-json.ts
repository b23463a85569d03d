import { Agent, request } from 'node:http';

export interface JsonResponse {
  status: number;
  body: string;
  /** Request start to last body byte, in milliseconds (process.hrtime). */
  latencyMs: number;
}

/** One request with a JSON body (read in full), over the given keep-alive agent or a fresh connection. */
export function httpJson(
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  payload: unknown,
  agent?: Agent,
  timeoutMs = 30_000,
): Promise<JsonResponse> {
  const body = Buffer.from(JSON.stringify(payload ?? {}));
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, baseUrl),
      { method, agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(body.length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            latencyMs: Number(process.hrtime.bigint() - started) / 1e6,
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The parsed JSON body of a response that must have the expected status; throws with the body otherwise. */
export function expectJson<T>(res: JsonResponse, expected: number, what: string): T {
  if (res.status !== expected) throw new Error(`${what}: HTTP ${res.status}, expected ${expected}: ${res.body.slice(0, 500)}`);
  return JSON.parse(res.body) as T;
}
