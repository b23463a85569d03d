import { describe, expect, it } from 'vitest';
import { canonicalIp, ipv6Bytes, reverseName } from './addresses';

describe('reverse names for tls-alpn-01 SNI on IP identifiers (RFC 8738 §6)', () => {
  it.each([
    ['127.0.0.1', '1.0.0.127.in-addr.arpa'],
    ['192.0.2.10', '10.2.0.192.in-addr.arpa'],
    ['::1', `1${'.0'.repeat(31)}.ip6.arpa`],
    // RFC 3596 §2.5's example address
    ['4321:0:1:2:3:4:567:89ab', 'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa'],
  ])('%s → %s', (ip, name) => {
    expect(reverseName(ip)).toBe(name);
  });

  it('reads IPv6 with an embedded IPv4 tail', () => {
    expect(ipv6Bytes('::ffff:192.0.2.1').toString('hex')).toBe('00000000000000000000ffffc0000201');
  });

  it('spells an address one way', () => {
    expect(canonicalIp('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(canonicalIp('[2001:DB8::0:1]')).toBe('2001:db8::1');
    expect(canonicalIp('127.0.0.1')).toBe('127.0.0.1');
  });
});
