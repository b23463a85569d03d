import { describe, expect, it } from 'vitest';
import { addressesBetween, parseCidr, parseTargetRanges, ScanRangeError } from './network-range';

const open = { maxAddresses: 65_536, allowLoopback: false, blockRfc1918: false };

describe('network ranges', () => {
  it('parses CIDRs and single addresses, ignoring host bits', () => {
    expect(parseCidr('10.1.2.3/24')).toEqual({ start: 0x0a010200, end: 0x0a0102ff });
    expect(parseCidr('192.0.2.7')).toEqual({ start: 0xc0000207, end: 0xc0000207 });
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.256')).toBeUndefined();
    expect(parseCidr('01.0.0.1')).toBeUndefined();
  });

  it('drops network and broadcast addresses, merges overlaps, and lists shard addresses in order', () => {
    const { ranges, total } = parseTargetRanges(['192.0.2.0/30', '192.0.2.0/31', '198.51.100.9'], open);
    // the /30 gives .1 and .2, the /31 inside it .0 and .1 (too small to drop ends), plus the single address
    expect(total).toBe(4);
    expect(addressesBetween(ranges, 0, 10)).toEqual(['192.0.2.0', '192.0.2.1', '192.0.2.2', '198.51.100.9']);
    expect(addressesBetween(ranges, 2, 4)).toEqual(['192.0.2.2', '198.51.100.9']);
    expect(addressesBetween(parseTargetRanges(['10.0.0.0/23'], open).ranges, 254, 256)).toEqual(['10.0.0.255', '10.0.1.0']);
  });

  it.each([
    [['10.0.0.0/8'], 'cap', /16777216 addresses, over the cap of 65536/],
    [['10.0.0.0/16', '10.1.0.0/24'], 'cap', /together, over the cap/],
    [['not-a-cidr'], 'syntax', /cidrs\[0\]: "not-a-cidr" is not an IPv4 CIDR/],
    [['127.0.0.1'], 'reserved', /loopback/],
    [['169.254.169.254'], 'reserved', /cloud metadata/],
    [['100.100.100.200'], 'reserved', /cloud metadata address \(100\.100\.100\.200\)/],
    [['100.100.100.0/24'], 'reserved', /cloud metadata/],
    [['169.254.0.0/24'], 'reserved', /link-local/],
    [['224.0.0.1'], 'reserved', /multicast/],
    [['255.255.255.255'], 'reserved', /broadcast/],
    [['fd00::/120'], 'unsupported', /IPv6/],
  ])('refuses %j (%s)', (cidrs, reason, message) => {
    try {
      parseTargetRanges(cidrs, open);
      expect.fail('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(ScanRangeError);
      expect((err as ScanRangeError).reason).toBe(reason);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('lets loopback through only with the test override, and blocks RFC 1918 only when asked', () => {
    expect(parseTargetRanges(['127.0.0.0/24'], { ...open, allowLoopback: true }).total).toBe(254);
    expect(parseTargetRanges(['192.168.1.0/24'], open).total).toBe(254);
    expect(() => parseTargetRanges(['192.168.1.0/24'], { ...open, blockRfc1918: true })).toThrow(/RFC 1918/);
    expect(() => parseTargetRanges(['172.20.0.1'], { ...open, blockRfc1918: true })).toThrow(/RFC 1918/);
    expect(parseTargetRanges(['100.64.0.0/24'], open).total).toBe(254);
    expect(() => parseTargetRanges(['100.64.0.0/24'], { ...open, blockRfc1918: true })).toThrow(/CGNAT/);
  });
});
