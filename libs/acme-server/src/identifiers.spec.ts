import { describe, expect, it } from 'vitest';
import { normaliseIdentifiers } from './identifiers';
import { AcmeProblem } from './problem';

const refused = (raw: unknown, patterns: string[] = []): AcmeProblem => {
  try {
    normaliseIdentifiers(raw, patterns);
  } catch (err) {
    return err as AcmeProblem;
  }
  throw new Error('accepted');
};

describe('ACME new-order identifiers', () => {
  it('normalises DNS names (case, trailing dot), wildcards, IPv4 and IPv6 (RFC 5952 form), without duplicates', () => {
    expect(normaliseIdentifiers([
      { type: 'dns', value: 'WWW.Example.test.' }, { type: 'dns', value: 'www.example.test' }, { type: 'dns', value: '*.example.test' },
      { type: 'ip', value: '192.0.2.1' }, { type: 'ip', value: '2001:DB8:0:0:0:0:0:1' },
    ], [])).toEqual([
      { type: 'dns', value: '*.example.test' }, { type: 'dns', value: 'www.example.test' }, { type: 'ip', value: '192.0.2.1' }, { type: 'ip', value: '2001:db8::1' },
    ]);
  });

  it('refuses an IP sent as a dns identifier (rejectedIdentifier), bad names and IPs (malformed), other types (unsupportedIdentifier), each as a subproblem', () => {
    const ipAsDns = refused([{ type: 'dns', value: '192.0.2.1' }]);
    expect(ipAsDns.type).toBe('rejectedIdentifier');
    expect(ipAsDns.toDocument().subproblems).toEqual([expect.objectContaining({ type: 'urn:ietf:params:acme:error:rejectedIdentifier', identifier: { type: 'dns', value: '192.0.2.1' } })]);
    for (const value of ['nodots', '-bad.example', 'a..example', 'x.*.example', `${'a'.repeat(64)}.example`]) expect(refused([{ type: 'dns', value }]).type).toBe('malformed');
    expect(refused([{ type: 'ip', value: '999.1.1.1' }]).type).toBe('malformed');
    const email = refused([{ type: 'email', value: 'a@example.test' }]);
    expect(email.type).toBe('rejectedIdentifier');
    expect(email.toDocument().subproblems![0]!.type).toBe('urn:ietf:params:acme:error:unsupportedIdentifier');
    expect(refused([]).type).toBe('malformed');
    expect(refused('x').type).toBe('malformed');
  });

  it('applies the profile\'s name patterns', () => {
    expect(normaliseIdentifiers([{ type: 'dns', value: 'a.internal.test' }], ['.*\\.internal\\.test'])).toHaveLength(1);
    expect(refused([{ type: 'dns', value: 'a.example.com' }], ['.*\\.internal\\.test']).type).toBe('rejectedIdentifier');
  });
});
