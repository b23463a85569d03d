import { BlockList, isIP } from 'node:net';

/**
 * Outbound URL policy for everything certctl calls on a user's behalf (webhooks, chat and paging APIs):
 * http(s) only, and never an address that reaches the host itself or the cloud's metadata service.
 * RFC 1918 ranges stay allowed (self-hosted threat model, as upstream). Loopback is refused unless a test
 * turns it on explicitly (CERTCTL_NOTIFIER_ALLOW_LOOPBACK).
 */
export class OutboundUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboundUrlError';
  }
}

const RESERVED = new BlockList();
RESERVED.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network"; 0.0.0.0 connects to the host itself
RESERVED.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local, including 169.254.169.254 (cloud metadata)
RESERVED.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
RESERVED.addSubnet('240.0.0.0', 4, 'ipv4'); // reserved, including 255.255.255.255
RESERVED.addAddress('::', 'ipv6'); // unspecified
RESERVED.addSubnet('fe80::', 10, 'ipv6'); // link-local
RESERVED.addSubnet('ff00::', 8, 'ipv6'); // multicast
RESERVED.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** `::ffff:a.b.c.d` and `::ffff:7f00:1` are IPv4 addresses in disguise: check them as IPv4. */
function unmapIpv4(address: string): string {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex) {
    const high = parseInt(hex[1]!, 16);
    const low = parseInt(hex[2]!, 16);
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return address;
}

/** Why an IP address must not be called, or undefined when it may. */
export function reservedAddressReason(address: string, allowLoopback: boolean): string | undefined {
  const ip = unmapIpv4(address.replace(/^\[|\]$/g, ''));
  const family = isIP(ip);
  if (family === 0) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (LOOPBACK.check(ip, type)) return allowLoopback ? undefined : `${ip} is a loopback address`;
  if (RESERVED.check(ip, type)) {
    return ip === '169.254.169.254' || ip === 'fd00:ec2::254' ? `${ip} is the cloud metadata address` : `${ip} is a reserved address`;
  }
  return undefined;
}

/**
 * Parses and checks an outbound URL without resolving names: malformed URLs, other protocols and literal
 * reserved addresses are refused here; names are checked again, after resolution, when the call is made.
 */
export function checkOutboundUrl(raw: string, allowLoopback: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundUrlError('is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutboundUrlError(`must use http: or https:, not ${url.protocol}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new OutboundUrlError('has no host');
  const isLocalName = host === 'localhost' || host.endsWith('.localhost');
  if (isLocalName && !allowLoopback) throw new OutboundUrlError(`${host} is a loopback address`);
  const reason = reservedAddressReason(host, allowLoopback);
  if (reason) throw new OutboundUrlError(reason);
  return url;
}
