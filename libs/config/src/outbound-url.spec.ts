import { describe, expect, it } from 'vitest';
import { checkOutboundUrl, OutboundUrlError, reservedAddressReason } from './outbound-url';

describe('reservedAddressReason', () => {
  it.each([
    ['169.254.169.254', /cloud metadata/],
    ['169.254.10.1', /reserved/],
    ['0.0.0.0', /reserved/],
    ['224.0.0.1', /reserved/],
    ['255.255.255.255', /reserved/],
    ['fe80::1', /reserved/],
    ['ff02::1', /reserved/],
    ['::', /reserved/],
    ['::ffff:169.254.169.254', /cloud metadata/],
    ['::ffff:a9fe:a9fe', /cloud metadata/],
    ['127.0.0.1', /loopback/],
    ['127.8.9.10', /loopback/],
    ['::1', /loopback/],
  ])('refuses %s', (ip, reason) => {
    expect(reservedAddressReason(ip, false)).toMatch(reason);
  });

  it.each(['10.0.0.5', '192.168.1.1', '172.16.0.1', '93.184.216.34', '2001:db8::1'])('allows %s (RFC 1918 stays allowed)', (ip) => {
    expect(reservedAddressReason(ip, false)).toBeUndefined();
  });

  it('allows loopback only when asked, and never the metadata address', () => {
    expect(reservedAddressReason('127.0.0.1', true)).toBeUndefined();
    expect(reservedAddressReason('::ffff:127.0.0.1', true)).toBeUndefined();
    expect(reservedAddressReason('169.254.169.254', true)).toMatch(/metadata/);
  });
});

describe('checkOutboundUrl', () => {
  it('accepts an https URL with a name', () => {
    expect(checkOutboundUrl('https://hooks.example.com/services/T0/B0/x', false).hostname).toBe('hooks.example.com');
  });

  it.each([
    ['not a url', /not a valid URL/],
    ['ftp://example.com/', /must use http/],
    ['http://169.254.169.254/latest/meta-data/', /cloud metadata/],
    ['http://[::ffff:169.254.169.254]/', /cloud metadata/],
    ['http://2852039166/', /cloud metadata/], // 169.254.169.254 written as one number
    ['http://localhost:8080/', /loopback/],
    ['http://127.1/', /loopback/],
    ['http://[fe80::1]/', /reserved/],
  ])('refuses %s', (raw, reason) => {
    expect(() => checkOutboundUrl(raw, false)).toThrow(OutboundUrlError);
    expect(() => checkOutboundUrl(raw, false)).toThrow(reason);
  });
});
