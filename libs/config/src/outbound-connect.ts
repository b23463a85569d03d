import { lookup as dnsLookup, LookupAddress, LookupAllOptions } from 'node:dns';
import type { Agent } from 'node:http';
import { isIP, LookupFunction } from 'node:net';
import { addressRefusal, checkOutboundHost, OutboundPolicy, OutboundUrlError, outboundPolicy } from './outbound-url';

/**
 * The connect-time half of the outbound policy: a name is resolved, every address it resolves to is checked, and
 * the connection goes to a checked address, so a DNS answer that changed since the create-time check (rebinding)
 * cannot reach the metadata service, the host itself or a blocked range.
 */

/** Resolves every address of a name, as dns.lookup does; injectable so tests can map names without /etc/hosts. */
export type Resolver = (hostname: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

const systemResolver: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/**
 * A `lookup` for net/tls/http(s) connects (Agent option, or undici's connect.lookup) that refuses a name when any
 * of its addresses is refused. The policy is read at each lookup, so a policy set at boot applies.
 */
export function outboundLookup(policy?: OutboundPolicy, resolver: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    const current = policy ?? outboundPolicy();
    let refusal: string | undefined;
    try {
      checkOutboundHost(hostname, current);
    } catch (err) {
      refusal = (err as Error).message;
    }
    if (refusal) return callback(new OutboundUrlError(refusal), '', 0);
    resolver(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      if (!addresses.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      const refused = addresses.map((a) => addressRefusal(a.address, current)).find(Boolean);
      if (refused) return callback(new OutboundUrlError(`${hostname} resolves to a refused address: ${refused}`), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/** Resolves a host to one address the policy allows (all of its addresses must be allowed), for raw sockets. */
export async function resolveOutboundAddress(host: string, policy?: OutboundPolicy, resolver?: Resolver): Promise<{ address: string; family: number }> {
  const current = policy ?? outboundPolicy();
  const normalised = checkOutboundHost(host, current);
  if (isIP(normalised)) return { address: normalised, family: isIP(normalised) };
  return new Promise((resolve, reject) => {
    outboundLookup(current, resolver)(normalised, { all: false }, (err, address, family) => (err ? reject(err) : resolve({ address: address as string, family: family ?? 4 })));
  });
}

/**
 * Puts an http(s) Agent under the policy: a literal address in the request (which Node dials without a lookup)
 * is checked, and names go through outboundLookup. Returns the same agent.
 */
export function guardAgent<T extends Agent>(agent: T, policy?: OutboundPolicy, resolver?: Resolver): T {
  type CreateConnection = (options: Record<string, unknown>, callback?: unknown) => unknown;
  const guarded = agent as unknown as { createConnection: CreateConnection };
  const original = guarded.createConnection.bind(agent);
  const lookup = outboundLookup(policy, resolver);
  guarded.createConnection = (options: Record<string, unknown>, callback?: unknown) => {
    const host = String(options.host ?? options.hostname ?? 'localhost');
    const refusal = options.socketPath
      ? 'unix sockets are not dialled through this agent'
      : isIP(host.replace(/^\[(.*)\]$/, '$1')) ? addressRefusal(host, policy ?? outboundPolicy()) : undefined;
    if (refusal) {
      // The Agent turns an error given to its callback into the request's 'error' event.
      if (typeof callback === 'function') return void (callback as (err: Error) => void)(new OutboundUrlError(refusal));
      throw new OutboundUrlError(refusal);
    }
    return original({ ...options, lookup }, callback);
  };
  return agent;
}
