import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { addressRefusal } from '@certctl/config';
import { parseTargetRanges, RangePolicy, ScanRangeError } from './network-range';

/**
 * The endpoint of a health check (`host:port`) and the address policy it shares with network scan targets:
 * an address literal is checked as it stands; a name is resolved and every address it resolves to is checked,
 * by the api when the check is saved and by the scanner again before each probe (which then connects to the
 * address it checked, so a name cannot be re-pointed at a reserved address between the check and the probe).
 */
export interface HealthEndpoint {
  host: string;
  port: number;
}

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** `host:port` (IPv4 address or DNS name); throws ScanRangeError naming `field`. */
export function parseHealthEndpoint(endpoint: string, field = 'endpoint'): HealthEndpoint {
  const match = /^(.+):(\d{1,5})$/.exec(endpoint.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) throw new ScanRangeError(field, `${field}: "${endpoint}" must be host:port (port 1-65535)`, 'syntax');
  const host = match[1]!;
  if (host.includes(':') || host.startsWith('[')) {
    throw new ScanRangeError(field, `${field}: "${endpoint}" is IPv6; only IPv4 endpoints are checked`, 'unsupported');
  }
  if (isIP(host) !== 4 && !HOSTNAME.test(host)) throw new ScanRangeError(field, `${field}: "${host}" is neither an IPv4 address nor a host name`, 'syntax');
  return { host, port };
}

/**
 * Refuses an address the scan policy forbids (loopback, link-local, metadata, multicast, ...), naming `field`; the
 * outbound policy's always-refused addresses are refused too. Loopback follows CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK.
 */
export function checkEndpointAddress(address: string, policy: RangePolicy, field = 'endpoint'): void {
  try {
    parseTargetRanges([address], { ...policy, maxAddresses: Math.max(policy.maxAddresses, 1) }, field);
    const refusal = addressRefusal(address, { allowLoopback: policy.allowLoopback, allowPrivate: !policy.blockRfc1918, unixSocketDirs: [] });
    if (refusal) throw new ScanRangeError(field, `${field}: ${refusal}`, 'reserved');
  } catch (err) {
    if (err instanceof ScanRangeError) {
      // parseTargetRanges names the element (endpoint[0]); the check has one endpoint.
      throw new ScanRangeError(field, err.message.replace(`${field}[0]`, field), err.reason);
    }
    throw err;
  }
}

/**
 * The IPv4 addresses to probe for `host`, every one allowed by the policy. A name that does not resolve gives
 * an empty list (the probe then fails as unreachable); one that resolves to a forbidden address throws.
 */
export async function allowedAddresses(endpoint: HealthEndpoint, policy: RangePolicy, field = 'endpoint'): Promise<string[]> {
  const addresses = isIP(endpoint.host) === 4
    ? [endpoint.host]
    : await lookup(endpoint.host, { all: true, family: 4 }).then((found) => found.map((a) => a.address), () => []);
  for (const address of addresses) {
    try {
      checkEndpointAddress(address, policy, field);
    } catch (err) {
      if (err instanceof ScanRangeError && address !== endpoint.host) {
        throw new ScanRangeError(field, `${field}: ${endpoint.host} resolves to ${address}; ${err.message.slice(field.length + 2)}`, err.reason);
      }
      throw err;
    }
  }
  return addresses;
}
