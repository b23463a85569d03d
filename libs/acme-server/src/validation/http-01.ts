import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { AddressError, dnsResolver, validationAddresses } from './addresses';
import { invalid, VALID, ValidationResult } from './problems';
import type { ValidateChallengeInput } from './index';

/** Redirects followed before giving up (Let's Encrypt's figure). */
export const HTTP01_MAX_REDIRECTS = 10;
/** Bytes of body read: a key authorization is 87 characters, so anything past this is not one. */
export const HTTP01_MAX_BODY_BYTES = 4096;

interface Fetched {
  status: number;
  location?: string;
  body: string;
  tooLarge: boolean;
}

class ConnectError extends Error {}

/** One request to one address, the Host header and SNI carrying the identifier; certificates are not checked (RFC 8555 §8.3 over a redirect to https). */
function fetchOnce(url: URL, address: string, signal: AbortSignal): Promise<Fetched> {
  const module = url.protocol === 'https:' ? https : http;
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve, reject) => {
    const req = module.request(
      {
        host: address,
        port: url.port || (url.protocol === 'https:' ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { Host: url.host, 'User-Agent': 'certctl-acme-validator', Accept: '*/*' },
        agent: false,
        signal,
        ...(url.protocol === 'https:' ? { rejectUnauthorized: false, servername: isIP(hostname) ? undefined : hostname } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let tooLarge = false;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > HTTP01_MAX_BODY_BYTES) {
            tooLarge = true;
            res.destroy();
            resolve({ status: res.statusCode ?? 0, body: '', tooLarge });
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString('utf8'), tooLarge }));
        res.on('error', reject);
        // A body cut short (reset, or the deadline's abort) rejects; after 'end' this is a no-op.
        res.on('close', () => reject(new ConnectError('connection closed before the body ended')));
      },
    );
    // Errors before a response are connection failures (refused, reset, timed out): the next address may answer.
    req.on('error', (err) => reject(new ConnectError(`${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    req.end();
  });
}

/** RFC 8555 §8.3 (and RFC 8738 for IP identifiers): GET http://{host}:{port}/.well-known/acme-challenge/{token}. */
export async function validateHttp01(input: ValidateChallengeInput, signal: AbortSignal, timeoutMs: number): Promise<ValidationResult> {
  const port = input.options?.http01Port ?? 80;
  const tlsPort = input.options?.tlsAlpn01Port ?? 443;
  const host = input.identifier.type === 'ip' && isIP(input.identifier.value) === 6 ? `[${input.identifier.value}]` : input.identifier.value;
  let url = new URL(`http://${host}:${port}/.well-known/acme-challenge/${input.token}`);
  const resolver = dnsResolver(input.options?.dnsResolver, timeoutMs);
  // Redirects may only lead to the ports validation itself uses, so a client cannot point the server at arbitrary services.
  const allowedPorts = new Set([80, 443, port, tlsPort].map(String));

  for (let hop = 0; ; hop++) {
    let addresses: string[];
    try {
      addresses = await validationAddresses(url.hostname, resolver, input.options?.outboundPolicy);
    } catch (err) {
      if (err instanceof AddressError) return invalid(err.kind, err.message, err.transient);
      throw err;
    }
    let fetched: Fetched | undefined;
    const failures: string[] = [];
    for (const address of addresses) {
      try {
        fetched = await fetchOnce(url, address, signal);
        break;
      } catch (err) {
        if (signal.aborted) return invalid('connection', `Fetching ${url.href}: timed out after ${timeoutMs} ms`, true);
        failures.push(`${address}: ${(err as Error).message}`);
      }
    }
    if (!fetched) return invalid('connection', `Fetching ${url.href}: ${failures.join('; ')}`);

    if ([301, 302, 303, 307, 308].includes(fetched.status) && fetched.location) {
      if (hop >= HTTP01_MAX_REDIRECTS) return invalid('unauthorized', `Fetching ${url.href}: more than ${HTTP01_MAX_REDIRECTS} redirects`);
      let next: URL;
      try {
        next = new URL(fetched.location, url);
      } catch {
        return invalid('unauthorized', `Fetching ${url.href}: redirect to an invalid URL`);
      }
      const nextPort = next.port || (next.protocol === 'https:' ? '443' : '80');
      if (!['http:', 'https:'].includes(next.protocol) || !allowedPorts.has(nextPort)) {
        return invalid('unauthorized', `Fetching ${url.href}: redirect to ${next.protocol}//…:${nextPort} is not allowed (only http/https on ports ${[...allowedPorts].join(', ')})`);
      }
      url = next;
      continue;
    }
    if (fetched.status !== 200) return invalid('unauthorized', `Invalid response from ${url.href}: HTTP ${fetched.status}`);
    if (fetched.tooLarge) return invalid('unauthorized', `Invalid response from ${url.href}: body larger than ${HTTP01_MAX_BODY_BYTES} bytes`);
    const answer = fetched.body.trim();
    if (answer !== input.keyAuthorization) {
      return invalid('incorrectResponse', `The key authorization served at ${url.href} is wrong (got ${JSON.stringify(answer.slice(0, 100))})`);
    }
    return VALID;
  }
}
