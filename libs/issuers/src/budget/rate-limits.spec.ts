import { describe, expect, it } from 'vitest';
import { issuerConfigProblem } from '../issuer-config';
import { effectiveRateLimits, rateLimitsProblem, registeredDomainOf, scopeKeysOf } from './rate-limits';

const ok = { name: 'orders', limit: 3, window_seconds: 60, per: 'account' };

describe('rate limit validation', () => {
  it.each([
    [[{ ...ok, window_seconds: 0 }], 'config.rate_limits[0].window_seconds'],
    [[ok, { ...ok, name: 'weekly', window_seconds: -5 }], 'config.rate_limits[1].window_seconds'],
    [[{ ...ok, window_seconds: 1.5 }], 'config.rate_limits[0].window_seconds'],
    [[{ ...ok, limit: 0 }], 'config.rate_limits[0].limit'],
    [[{ ...ok, limit: -1 }], 'config.rate_limits[0].limit'],
    [[{ ...ok, limit: '3' }], 'config.rate_limits[0].limit'],
    [[{ ...ok, per: 'team' }], 'config.rate_limits[0].per'],
    [[{ ...ok, name: 'Bad Name' }], 'config.rate_limits[0].name'],
    [[ok, ok], 'config.rate_limits[1].name'],
    [[{ ...ok, burst: 2 }], 'config.rate_limits[0].burst'],
    [['300/3h'], 'config.rate_limits[0]'],
    [{ orders: 3 }, 'config.rate_limits'],
  ])('%j is refused naming %s', (value, field) => {
    expect(rateLimitsProblem(value)?.field).toBe(field);
    // The api's issuer check (400 naming the field) runs it for every issuer type.
    expect(issuerConfigProblem('local', { rate_limits: value })?.field).toBe(field);
  });

  it('accepts well-formed limits, an empty list and no list', () => {
    expect(rateLimitsProblem([ok, { name: 'per_domain', limit: 50, window_seconds: 604800, per: 'registered_domain' }])).toBeUndefined();
    expect(rateLimitsProblem([])).toBeUndefined();
    expect(rateLimitsProblem(undefined)).toBeUndefined();
  });
});

describe('effective limits', () => {
  it("Let's Encrypt's production directory gets its published limits; its own list replaces them; [] turns them off", () => {
    const le = { directory_url: 'https://acme-v02.api.letsencrypt.org/directory/' };
    expect(effectiveRateLimits('ACME', le).map((l) => [l.name, l.limit, l.window_seconds, l.per])).toEqual([
      ['new_orders_per_account', 300, 10800, 'account'],
      ['certificates_per_registered_domain', 50, 604800, 'registered_domain'],
      ['certificates_per_exact_names', 5, 604800, 'exact_names'],
    ]);
    expect(effectiveRateLimits('ACME', { ...le, rate_limits: [ok] })).toEqual([ok]);
    expect(effectiveRateLimits('ACME', { ...le, rate_limits: [] })).toEqual([]);
    expect(effectiveRateLimits('ACME', { directory_url: 'https://127.0.0.1:14000/dir' })).toEqual([]);
    expect(effectiveRateLimits('local', {})).toEqual([]);
    expect(effectiveRateLimits('local', { rate_limits: [ok] })).toEqual([ok]);
  });

  it('scopes: one account, each registered domain, one exact set of names whatever their order or case', () => {
    const perDomain = { ...ok, per: 'registered_domain' as const };
    expect(scopeKeysOf(perDomain, ['a.example.com', 'B.Example.com', 'x.example.co.uk', '*.w.example.org']).sort()).toEqual([
      'domain:example.co.uk', 'domain:example.com', 'domain:example.org',
    ]);
    const exact = { ...ok, per: 'exact_names' as const };
    expect(scopeKeysOf(exact, ['b.example.com', 'a.example.com'])).toEqual(scopeKeysOf(exact, ['A.example.com', 'b.example.com']));
    expect(scopeKeysOf(exact, ['a.example.com'])).not.toEqual(scopeKeysOf(exact, ['a.example.com', 'b.example.com']));
    expect(registeredDomainOf('10.0.0.1')).toBe('10.0.0.1');
    expect(registeredDomainOf('localhost')).toBe('localhost');
  });
});
