import { describe, expect, it } from 'vitest';
import { resolveOutboundAddress, Resolver } from './outbound-connect';
import {
  addressRefusal, checkOutboundHost, checkOutboundUrl, checkUnixSocketPath, DEFAULT_OUTBOUND_POLICY, OutboundPolicy, OutboundUrlError,
} from './outbound-url';

const defaults = DEFAULT_OUTBOUND_POLICY; // loopback refused, private allowed
const loopbackAllowed: OutboundPolicy = { ...defaults, allowLoopback: true };
const privateBlocked: OutboundPolicy = { ...defaults, allowPrivate: false };
const wideOpen: OutboundPolicy = { ...defaults, allowLoopback: true, allowPrivate: true };

/** [spelling, what it is, reason under the default policy] */
const ALWAYS_REFUSED: Array<[string, RegExp]> = [
  ['169.254.169.254', /cloud metadata/],
  ['100.100.100.200', /cloud metadata/], // Alibaba
  ['fd00:ec2::254', /cloud metadata/], // AWS over IPv6
  ['[fd00:ec2::254]', /cloud metadata/],
  ['169.254.10.1', /link-local/],
  ['fe80::1', /link-local/],
  ['fe80::1%eth0', /link-local/],
  ['[fe80::1%25eth0]', /link-local/],
  ['febf::1', /link-local/],
  ['0.0.0.0', /this network/],
  ['0.1.2.3', /this network/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['ff02::1', /multicast/],
  ['240.0.0.1', /reserved/],
  ['255.255.255.255', /reserved/],
  ['::', /unspecified/],
  ['[::]', /unspecified/],
  // IPv4 in IPv6 clothing
  ['::ffff:169.254.169.254', /IPv4-mapped form of 169\.254\.169\.254, which is a cloud metadata/],
  ['::ffff:a9fe:a9fe', /IPv4-mapped form of 169\.254\.169\.254/],
  ['::ffff:0:a9fe:a9fe', /IPv4-translated form of 169\.254\.169\.254/],
  ['::169.254.169.254', /IPv4-compatible form of 169\.254\.169\.254/],
  ['64:ff9b::169.254.169.254', /NAT64 .* 169\.254\.169\.254/],
  ['64:ff9b::a9fe:a9fe', /NAT64 .* 169\.254\.169\.254/],
  ['2002:a9fe:a9fe::1', /6to4 .* 169\.254\.169\.254/],
  ['2001:0:4136:e378:8000:63bf:5601:5601', /Teredo client form of 169\.254\.169\.254/], // client bits inverted
  ['::ffff:100.100.100.200', /cloud metadata/],
];

const LOOPBACK: string[] = [
  '127.0.0.1', '127.8.9.10', '::1', '[::1]', '0:0:0:0:0:0:0:1',
  '::ffff:127.0.0.1', '::ffff:7f00:1', '[::ffff:7f00:1]', '::127.0.0.1', '[::127.0.0.1]', '::7f00:1',
  '64:ff9b::127.0.0.1', '64:ff9b::7f00:1', '2002:7f00:1::', '2001:0:4136:e378:8000:63bf:80ff:fffe',
];

const PRIVATE: string[] = [
  '10.0.0.1', '172.16.0.1', '172.31.255.254', '192.168.0.1', '100.64.0.1', '100.127.255.254',
  'fc00::1', '[fc00::1]', 'fd12:3456::1', 'fec0::1', '::ffff:10.0.0.1', '::ffff:c0a8:1', '64:ff9b::10.0.0.1', '2002:c0a8:1::1',
];

const PUBLIC: string[] = ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:db8::1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8', '2002:808:808::1'];

describe('addressRefusal', () => {
  it.each(ALWAYS_REFUSED)('always refuses %s, whatever the settings', (ip, reason) => {
    expect(addressRefusal(ip, defaults)).toMatch(reason);
    expect(addressRefusal(ip, wideOpen)).toMatch(reason);
  });

  it.each(LOOPBACK)('refuses loopback %s unless CERTCTL_OUTBOUND_ALLOW_LOOPBACK', (ip) => {
    expect(addressRefusal(ip, defaults)).toMatch(/loopback.*CERTCTL_OUTBOUND_ALLOW_LOOPBACK/);
    expect(addressRefusal(ip, loopbackAllowed)).toBeUndefined();
  });

  it.each(PRIVATE)('allows private %s by default, refuses it under CERTCTL_BLOCK_RFC1918_OUTBOUND', (ip) => {
    expect(addressRefusal(ip, defaults)).toBeUndefined();
    expect(addressRefusal(ip, privateBlocked)).toMatch(/CERTCTL_BLOCK_RFC1918_OUTBOUND/);
  });

  it.each(PUBLIC)('allows public %s under every setting', (ip) => {
    expect(addressRefusal(ip, privateBlocked)).toBeUndefined();
    expect(addressRefusal(ip, defaults)).toBeUndefined();
  });

  it('leaves names to the resolver', () => {
    expect(addressRefusal('hooks.example.com', defaults)).toBeUndefined();
  });
});

describe('checkOutboundHost (bare host fields: SSH host, host:port endpoints)', () => {
  it.each([
    ['2130706433', /127\.0\.0\.1 is loopback/], // decimal
    ['0x7f.1', /127\.0\.0\.1 is loopback/], // hex, short form
    ['017700000001', /127\.0\.0\.1 is loopback/], // octal
    ['127.1', /127\.0\.0\.1 is loopback/],
    ['2852039166', /169\.254\.169\.254 is a cloud metadata/],
    ['0xa9.0xfe.0xa9.0xfe', /169\.254\.169\.254 is a cloud metadata/],
    ['0251.0376.0251.0376', /169\.254\.169\.254 is a cloud metadata/],
    ['localhost', /localhost is loopback/],
    ['LOCALHOST.', /localhost is loopback/],
    ['api.localhost', /api\.localhost is loopback/],
    ['metadata.google.internal', /cloud metadata/],
    ['[::127.0.0.1]', /IPv4-compatible form of 127\.0\.0\.1/],
    ['::ffff:127.0.0.1', /IPv4-mapped form of 127\.0\.0\.1/],
    ['fe80::1%eth0', /link-local/],
    ['0', /this network/],
    ['not a host', /not a host name or address/],
    ['deploy.example.com:2222', /not a host name or address/],
    ['user@10.0.0.1', /not a host name or address/],
    ['example.com/x', /not a host name or address/],
    ['example.com#@127.0.0.1', /not a host name or address/],
  ])('refuses %s', (host, reason) => {
    expect(() => checkOutboundHost(host, defaults)).toThrow(OutboundUrlError);
    expect(() => checkOutboundHost(host, defaults)).toThrow(reason);
  });

  it('returns the normalised host', () => {
    expect(checkOutboundHost('Mail.Example.COM', defaults)).toBe('mail.example.com');
    expect(checkOutboundHost('[2001:DB8::0:1]', defaults)).toBe('2001:db8::1');
    expect(checkOutboundHost('2130706433', loopbackAllowed)).toBe('127.0.0.1');
    expect(checkOutboundHost('10.1', defaults)).toBe('10.0.0.1');
  });
});

describe('checkOutboundUrl', () => {
  it('accepts an https URL with a name', () => {
    expect(checkOutboundUrl('https://hooks.example.com/services/T0/B0/x', defaults).hostname).toBe('hooks.example.com');
  });

  it.each([
    ['not a url', defaults, /not a valid URL/],
    ['ftp://example.com/', defaults, /must use http/],
    ['javascript:alert(1)', defaults, /must use http/],
    ['http://169.254.169.254/latest/meta-data/', wideOpen, /cloud metadata/],
    ['http://[::ffff:169.254.169.254]/', wideOpen, /cloud metadata/],
    ['http://2852039166/', wideOpen, /cloud metadata/],
    ['http://100.100.100.200/latest/meta-data/', wideOpen, /cloud metadata/],
    ['http://[fd00:ec2::254]/', wideOpen, /cloud metadata/],
    ['http://[fe80::1%25eth0]/', wideOpen, /not a valid URL/],
    ['http://localhost:8080/', defaults, /loopback/],
    ['http://127.1/', defaults, /loopback/],
    ['http://0x7f.1/', defaults, /loopback/],
    ['http://017700000001/', defaults, /loopback/],
    ['http://[::127.0.0.1]/', defaults, /loopback/],
    ['http://[::ffff:7f00:1]:6379/', defaults, /loopback/],
    ['http://[fe80::1]/', wideOpen, /link-local/],
    ['http://10.0.0.1/', privateBlocked, /private \(10\.0\.0\.0\/8\)/],
    ['http://192.168.0.1/', privateBlocked, /private \(192\.168\.0\.0\/16\)/],
    ['http://[fc00::1]/', privateBlocked, /unique local/],
    ['https://100.64.1.1/', privateBlocked, /CGNAT/],
  ])('refuses %s', (raw, policy, reason) => {
    expect(() => checkOutboundUrl(raw, policy)).toThrow(OutboundUrlError);
    expect(() => checkOutboundUrl(raw, policy)).toThrow(reason);
  });

  it('takes the protocols a field allows', () => {
    expect(() => checkOutboundUrl('ws://example.com/', defaults, ['https:'])).toThrow(/must use https:/);
  });
});

describe('checkUnixSocketPath', () => {
  it('allows a socket under a listed directory', () => {
    expect(checkUnixSocketPath('/run/caddy/admin.sock', defaults)).toBe('/run/caddy/admin.sock');
  });

  it.each([
    ['/var/run/docker.sock', /not under an allowed directory .*\/run\/caddy/],
    ['/run/caddy/../docker.sock', /"\.\."/],
    ['/run/caddyx/admin.sock', /not under an allowed directory/],
    ['run/caddy/admin.sock', /absolute/],
  ])('refuses %s', (path, reason) => {
    expect(() => checkUnixSocketPath(path, defaults)).toThrow(reason);
  });

  it('refuses every socket when no directory is listed, and docker.sock only when its directory is', () => {
    expect(() => checkUnixSocketPath('/run/caddy/admin.sock', { ...defaults, unixSocketDirs: [] })).toThrow(/none/);
    expect(checkUnixSocketPath('/var/run/docker.sock', { ...defaults, unixSocketDirs: ['/var/run'] })).toBe('/var/run/docker.sock');
  });
});

describe('resolveOutboundAddress (connect time)', () => {
  // Names mapped by an injected resolver instead of DNS: what a rebinding DNS server would answer.
  const resolver: Resolver = (hostname, _options, callback) => {
    const table: Record<string, string[]> = {
      'public.test': ['93.184.216.34'],
      'rebind.test': ['127.0.0.1'],
      'mixed.test': ['93.184.216.34', '169.254.169.254'],
      'mapped.test': ['::ffff:127.0.0.1'],
    };
    const found = table[hostname];
    if (!found) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    callback(null, found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };

  it('returns the checked address to dial', async () => {
    await expect(resolveOutboundAddress('public.test', defaults, resolver)).resolves.toEqual({ address: '93.184.216.34', family: 4 });
    await expect(resolveOutboundAddress('0x7f.1', loopbackAllowed, resolver)).resolves.toEqual({ address: '127.0.0.1', family: 4 });
  });

  it.each([
    ['rebind.test', /rebind\.test resolves to a refused address: 127\.0\.0\.1 is loopback/],
    ['mixed.test', /169\.254\.169\.254 is a cloud metadata/],
    ['mapped.test', /IPv4-mapped form of 127\.0\.0\.1/],
    ['169.254.169.254', /cloud metadata/],
  ])('refuses %s after resolution', async (host, reason) => {
    await expect(resolveOutboundAddress(host, defaults, resolver)).rejects.toThrow(reason);
  });

  it('passes resolver errors through', async () => {
    await expect(resolveOutboundAddress('nowhere.test', defaults, resolver)).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});
