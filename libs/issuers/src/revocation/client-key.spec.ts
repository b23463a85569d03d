import { describe, expect, it } from 'vitest';
import { clientKeyOf } from './client-key';

/** The key the public endpoints' rate limits and connection caps count against. */
describe('clientKeyOf', () => {
  it('groups IPv6 addresses by /64, whatever their spelling', () => {
    const key = clientKeyOf('2001:db8:1:2::1');
    expect(key).toBe('2001:db8:1:2::/64');
    for (const same of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002:0:0:0:abcd', '2001:DB8:1:2::dead:beef', '2001:db8:1:2::1.2.3.4', '[2001:db8:1:2::9]', '2001:db8:1:2::1%eth0']) {
      expect(clientKeyOf(same), same).toBe(key);
    }
    expect(clientKeyOf('2001:db8:1:3::1')).not.toBe(key);
    expect(clientKeyOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKeyOf('::1')).toBe('0:0:0:0::/64');
  });

  it('keeps each IPv4 address apart, and reads an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(clientKeyOf('192.0.2.1')).toBe('192.0.2.1');
    expect(clientKeyOf('192.0.2.2')).toBe('192.0.2.2');
    expect(clientKeyOf('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientKeyOf('::FFFF:192.0.2.1')).toBe('192.0.2.1');
  });

  it('has a key for a missing or odd address rather than throwing', () => {
    expect(clientKeyOf(undefined)).toBe('unknown');
    expect(clientKeyOf('not-an-ip')).toBe('not-an-ip');
  });
});
