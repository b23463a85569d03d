/**
 * IPv4 target ranges of the network scanner: parsing, the safety checks (address cap, reserved ranges,
 * optional RFC 1918 block) and the deterministic address order that shards are cut from. The api checks a
 * target with these on create/update; the scanner checks it again with its own configuration before it
 * sends a single packet.
 */
export interface AddressRange {
  /** First and last address, inclusive, as unsigned 32-bit integers. */
  start: number;
  end: number;
}

export interface RangePolicy {
  maxAddresses: number;
  allowLoopback: boolean;
  blockRfc1918: boolean;
}

export class ScanRangeError extends Error {
  constructor(readonly field: string, message: string, readonly reason: 'syntax' | 'cap' | 'reserved' | 'unsupported') {
    super(message);
    this.name = 'ScanRangeError';
  }
}

interface Reserved {
  range: AddressRange;
  reason: string;
  /** Which switch lets a range through. */
  unless?: 'allowLoopback';
  onlyIf?: 'blockRfc1918';
}

const cidr = (text: string): AddressRange => parseCidr(text)!;

/**
 * Ranges a scan must not touch. Scanning private ranges is what discovery is for, so they stay allowed unless
 * CERTCTL_BLOCK_RFC1918_OUTBOUND is set; metadata, link-local, multicast and reserved ranges never are (the same
 * always-refused set as the outbound policy of libs/config, in the IPv4 range form scans need).
 */
const RESERVED: Reserved[] = [
  { range: cidr('0.0.0.0/8'), reason: '"this network" (0.0.0.0/8)' },
  { range: cidr('127.0.0.0/8'), reason: 'loopback (127.0.0.0/8)', unless: 'allowLoopback' },
  { range: cidr('169.254.169.254/32'), reason: 'the cloud metadata address (169.254.169.254)' },
  { range: cidr('100.100.100.200/32'), reason: 'the cloud metadata address (100.100.100.200)' },
  { range: cidr('169.254.0.0/16'), reason: 'link-local (169.254.0.0/16)' },
  { range: cidr('224.0.0.0/4'), reason: 'multicast (224.0.0.0/4)' },
  { range: cidr('255.255.255.255/32'), reason: 'broadcast (255.255.255.255)' },
  { range: cidr('240.0.0.0/4'), reason: 'reserved (240.0.0.0/4)' },
  { range: cidr('10.0.0.0/8'), reason: 'RFC 1918 (10.0.0.0/8) while CERTCTL_BLOCK_RFC1918_OUTBOUND=true', onlyIf: 'blockRfc1918' },
  { range: cidr('172.16.0.0/12'), reason: 'RFC 1918 (172.16.0.0/12) while CERTCTL_BLOCK_RFC1918_OUTBOUND=true', onlyIf: 'blockRfc1918' },
  { range: cidr('192.168.0.0/16'), reason: 'RFC 1918 (192.168.0.0/16) while CERTCTL_BLOCK_RFC1918_OUTBOUND=true', onlyIf: 'blockRfc1918' },
  { range: cidr('100.64.0.0/10'), reason: 'shared address space (100.64.0.0/10, CGNAT) while CERTCTL_BLOCK_RFC1918_OUTBOUND=true', onlyIf: 'blockRfc1918' },
];

export function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255 || (part.length > 1 && part.startsWith('0'))) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function intToIp(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** `a.b.c.d/n` or a single address; host bits are ignored (10.0.0.5/24 is 10.0.0.0/24). */
export function parseCidr(text: string): AddressRange | undefined {
  const match = /^([\d.]+)(?:\/(\d{1,2}))?$/.exec(text.trim());
  if (!match) return undefined;
  const ip = ipToInt(match[1]!);
  const bits = match[2] === undefined ? 32 : Number(match[2]);
  if (ip === undefined || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  const start = Math.floor(ip / size) * size;
  return { start, end: start + size - 1 };
}

const sizeOf = (r: AddressRange) => r.end - r.start + 1;
const overlaps = (a: AddressRange, b: AddressRange) => a.start <= b.end && b.start <= a.end;

/**
 * Parses a target's CIDRs, refuses what the policy forbids (naming the field and the reason) and returns the
 * merged, sorted ranges. As upstream, the network and broadcast addresses of a CIDR wider than /31 are dropped.
 */
export function parseTargetRanges(cidrs: readonly string[], policy: RangePolicy, field = 'cidrs'): { ranges: AddressRange[]; total: number } {
  if (!cidrs.length) throw new ScanRangeError(field, `${field}: at least one CIDR or address is required`, 'syntax');
  const ranges: AddressRange[] = [];
  cidrs.forEach((text, i) => {
    const name = `${field}[${i}]`;
    if (typeof text === 'string' && text.includes(':')) {
      throw new ScanRangeError(name, `${name}: "${text}" is IPv6; only IPv4 ranges are scanned`, 'unsupported');
    }
    const range = typeof text === 'string' ? parseCidr(text) : undefined;
    if (!range) throw new ScanRangeError(name, `${name}: "${text}" is not an IPv4 CIDR (a.b.c.d/n) or address`, 'syntax');
    for (const reserved of RESERVED) {
      if (reserved.unless && policy[reserved.unless]) continue;
      if (reserved.onlyIf && !policy[reserved.onlyIf]) continue;
      if (overlaps(range, reserved.range)) {
        const override = reserved.unless === 'allowLoopback' ? ' (set CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK=true only in tests)' : '';
        throw new ScanRangeError(name, `${name}: ${text} covers ${reserved.reason}, which is never scanned${override}`, 'reserved');
      }
    }
    if (sizeOf(range) > policy.maxAddresses) {
      throw new ScanRangeError(name, `${name}: ${text} covers ${sizeOf(range)} addresses, over the cap of ${policy.maxAddresses} per target (CERTCTL_NETWORK_SCAN_MAX_ADDRESSES)`, 'cap');
    }
    ranges.push(sizeOf(range) > 2 ? { start: range.start + 1, end: range.end - 1 } : range);
  });
  const merged = mergeRanges(ranges);
  const total = merged.reduce((n, r) => n + sizeOf(r), 0);
  if (total > policy.maxAddresses) {
    throw new ScanRangeError(field, `${field}: the CIDRs cover ${total} addresses together, over the cap of ${policy.maxAddresses} per target (CERTCTL_NETWORK_SCAN_MAX_ADDRESSES)`, 'cap');
  }
  return { ranges: merged, total };
}

/** Sorted, with overlapping and adjacent ranges joined, so no address is probed twice. */
export function mergeRanges(ranges: AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: AddressRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** The addresses at positions [from, to) of the merged ranges, in order: what one shard probes. */
export function addressesBetween(ranges: readonly AddressRange[], from: number, to: number): string[] {
  const out: string[] = [];
  let offset = 0;
  for (const r of ranges) {
    const size = sizeOf(r);
    const lo = Math.max(from, offset);
    const hi = Math.min(to, offset + size);
    for (let i = lo; i < hi; i++) out.push(intToIp(r.start + (i - offset)));
    offset += size;
    if (offset >= to) break;
  }
  return out;
}
