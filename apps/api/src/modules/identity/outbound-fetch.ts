import * as http from 'node:http';
import * as https from 'node:https';
import { checkOutboundUrl, guardAgent } from '@certctl/config';

/** Discovery documents, JWKS and token answers are small; a provider that sends more is refused. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const TIMEOUT_MS = 10_000;

const httpAgent = guardAgent(new http.Agent({ keepAlive: true }));
const httpsAgent = guardAgent(new https.Agent({ keepAlive: true }));

/**
 * A fetch for openid-client and jose that dials identity providers under the outbound policy: the URL is checked
 * as written and the connection goes only to an address the policy allows (guardAgent resolves and checks each
 * name), so a provider's discovery document cannot point the api at the metadata service or a blocked range.
 */
export async function outboundFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const url = checkOutboundUrl(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, key) => (headers[key] = value));
  const body = init.body === undefined || init.body === null ? undefined : typeof init.body === 'string' ? init.body : init.body instanceof URLSearchParams ? init.body.toString() : undefined;
  if (init.body && body === undefined) throw new TypeError('outboundFetch sends only string or form bodies');
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<Response>((resolve, reject) => {
    const req = transport.request(url, {
      method: init.method ?? 'GET', headers, agent: url.protocol === 'https:' ? httpsAgent : httpAgent, timeout: TIMEOUT_MS,
      signal: init.signal ?? undefined,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) res.destroy(new Error(`${url.origin} answered more than ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        const responseHeaders = new Headers();
        for (const [key, value] of Object.entries(res.headers)) {
          if (value !== undefined) responseHeaders.set(key, Array.isArray(value) ? value.join(', ') : value);
        }
        const status = res.statusCode ?? 502;
        const payload = status === 204 || status === 304 ? null : Buffer.concat(chunks);
        resolve(new Response(payload, { status, headers: responseHeaders }));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${url.origin} did not answer within ${TIMEOUT_MS / 1000}s`)));
    req.on('error', reject);
    req.end(body);
  });
}
