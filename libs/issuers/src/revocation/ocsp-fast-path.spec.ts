import { describe, expect, it } from 'vitest';
import { clientAddressOf } from './ocsp-fast-path';

/** The OCSP fast path counts its rate limit against the address req.ip would give: X-Forwarded-For only through trusted hops. */
describe('clientAddressOf', () => {
  const request = (remoteAddress: string, forwarded?: string) =>
    ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as never;
  const trusting = (...trusted: string[]) => (address: string) => trusted.includes(address);

  it('is the peer when it is not a trusted proxy, whatever the header says', () => {
    expect(clientAddressOf(request('198.51.100.9', '203.0.113.7'), trusting())).toBe('198.51.100.9');
    expect(clientAddressOf(request('198.51.100.9', '203.0.113.7'), trusting('10.0.0.1'))).toBe('198.51.100.9');
  });

  it('reads X-Forwarded-For from the right through trusted hops only', () => {
    expect(clientAddressOf(request('10.0.0.1', '203.0.113.7'), trusting('10.0.0.1'))).toBe('203.0.113.7');
    // A client cannot choose its address by prepending one: the first untrusted hop from the right is the client.
    expect(clientAddressOf(request('10.0.0.1', '1.2.3.4, 203.0.113.7, 10.0.0.2'), trusting('10.0.0.1', '10.0.0.2'))).toBe('203.0.113.7');
    expect(clientAddressOf(request('10.0.0.1', '10.0.0.2'), trusting('10.0.0.1', '10.0.0.2'))).toBe('10.0.0.2');
    expect(clientAddressOf(request('10.0.0.1'), trusting('10.0.0.1'))).toBe('10.0.0.1');
  });
});
