import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { addressRefusal, checkOutboundHost, outboundPolicy, OutboundPolicy } from '@certctl/config';

/** A DNS resolver pointed at `host:port` when one is configured (so validation runs against a test server on loopback), else the system's. */
export function dnsResolver(server: string | undefined, timeoutMs: number): Resolver {
  // c-ares' timeout is per try; two tries fit the caller's overall deadline.
  const resolver = new Resolver({ timeout: Math.max(100, Math.floor(timeoutMs / 2)), tries: 2 });
  if (server) resolver.setServers([server]);
  return resolver;
}

/** DNS errors that mean "there is no such record" rather than "the lookup failed". */
export function isNoRecord(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOTFOUND' || code === 'ENODATA';
}

export function dnsErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}` : e.message;
}

/** RFC 8738 §6: the reverse-mapping name of an IP address, used as SNI for tls-alpn-01 on an IP identifier. */
export function reverseName(ip: string): string {
  if (isIP(ip) === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const bytes = ipv6Bytes(ip);
  const nibbles = [...bytes].flatMap((b) => [b >> 4, b & 0xf]).map((n) => n.toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

export function ipv6Bytes(ip: string): Buffer {
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const expand = (groups: string[]) => groups.flatMap((g) => (g.includes('.') ? (([a, b, c, d]) => [((a! << 8) | b!).toString(16), ((c! << 8) | d!).toString(16)])(g.split('.').map(Number)) : [g]));
  const he = expand(h), te = expand(t);
  const groups = ip.includes('::') ? [...he, ...Array(8 - he.length - te.length).fill('0'), ...te] : he;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The one spelling of an address, so `::1` and `0:0::1` compare equal. */
export function canonicalIp(ip: string): string {
  const bare = ip.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return bare;
}

export class AddressError extends Error {
  constructor(readonly kind: 'dns' | 'connection', message: string, readonly transient = false) {
    super(message);
  }
}

/**
 * Every address the validator may dial for `host` (an IP literal, or a name resolved through `resolver`, IPv4 then
 * IPv6), each passed through the outbound policy: an identifier is chosen by the ACME client, so it must not make
 * the server dial the metadata service or the host itself unless whoever runs the server allowed it.
 */
export async function validationAddresses(host: string, resolver: Resolver, policy: OutboundPolicy = outboundPolicy()): Promise<string[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  try {
    checkOutboundHost(bare, policy);
  } catch (err) {
    throw new AddressError('connection', `${bare} is not a destination this server validates: ${(err as Error).message}`);
  }
  let addresses: string[];
  if (isIP(bare)) addresses = [bare];
  else {
    const settled = await Promise.allSettled([resolver.resolve4(bare), resolver.resolve6(bare)]);
    addresses = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
    if (!addresses.length) {
      const failure = settled.map((s) => (s.status === 'rejected' ? s.reason : undefined)).find((e) => e && !isNoRecord(e));
      if (failure) throw new AddressError('dns', `DNS lookup of ${bare} failed: ${dnsErrorText(failure)}`, true);
      throw new AddressError('dns', `No A or AAAA record found for ${bare}`);
    }
  }
  const refused = addresses.map((a) => addressRefusal(a, policy)).find(Boolean);
  if (refused) throw new AddressError('connection', `${bare} is not a destination this server validates: ${refused}`);
  return addresses;
}
