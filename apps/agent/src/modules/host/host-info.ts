import { arch, hostname, networkInterfaces, platform, release } from 'node:os';
import type { HostReport } from '../protocol/api-client';

/**
 * What the heartbeat tells the server about this host. `ip_address` is one field upstream: the host's
 * non-internal addresses, comma separated, IPv4 first, cut to the server's 64 characters.
 */
export function hostReport(version: string): HostReport {
  return {
    version,
    hostname: hostname().slice(0, 253),
    os: `${platform()} ${release()}`.slice(0, 64),
    architecture: arch().slice(0, 64),
    ip_address: joinWithin(hostAddresses(), 64),
  };
}

/** As many whole addresses as fit in `max` characters (the server's column), never half of one. */
function joinWithin(addresses: string[], max: number): string {
  let out = '';
  for (const address of addresses) {
    const next = out ? `${out},${address}` : address;
    if (next.length > max) break;
    out = next;
  }
  return out;
}

export function hostAddresses(): string[] {
  const addresses = Object.values(networkInterfaces()).flat().filter((a) => a && !a.internal);
  const v4 = addresses.filter((a) => a!.family === 'IPv4').map((a) => a!.address);
  const v6 = addresses.filter((a) => a!.family === 'IPv6' && !a!.address.startsWith('fe80')).map((a) => a!.address);
  const all = [...v4, ...v6];
  // A host with only loopback (a container without a network) still says something useful.
  return all.length ? all : ['127.0.0.1'];
}
