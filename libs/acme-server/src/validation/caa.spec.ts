import { describe, expect, it } from 'vitest';
import { CaaProperty, evaluateCaa, parseIssueValue } from './caa';

const issue = (value: string, flags = 0): CaaProperty => ({ flags, tag: 'issue', value });
const issuewild = (value: string, flags = 0): CaaProperty => ({ flags, tag: 'issuewild', value });
const ours = { caaIdentities: ['ca.example'] };

describe('CAA issue values (RFC 8659 §4.2)', () => {
  it.each([
    ['ca.example', 'ca.example', {}],
    ['  CA.Example.  ', 'ca.example', {}],
    [';', '', {}],
    ['', '', {}],
    ['ca.example; accounturi=https://ca.example/acct/1', 'ca.example', { accounturi: 'https://ca.example/acct/1' }],
    ['ca.example;validationmethods=dns-01,http-01 ; other = x', 'ca.example', { validationmethods: 'dns-01,http-01', other: 'x' }],
    ['ca.example;', 'ca.example', {}],
  ])('parses %j', (value, issuer, parameters) => {
    const parsed = parseIssueValue(value);
    expect(parsed?.issuer).toBe(issuer);
    expect(Object.fromEntries(parsed!.parameters)).toEqual(parameters);
  });

  it.each(['ca example', 'ca.example; =x', 'ca.example; a=b c', 'ca.example;; a=b', '-ca.example'])('treats %j as malformed', (value) => {
    expect(parseIssueValue(value)).toBeUndefined();
  });
});

describe('CAA decisions on one record set (RFC 8659 §4, RFC 8657)', () => {
  it('allows a CA named by issue, refuses one that is not, quoting the record', () => {
    expect(evaluateCaa('example.com', [issue('other.example'), issue('ca.example')], ours)).toEqual({ allowed: true, checkedAt: 'example.com' });
    expect(evaluateCaa('example.com', [issue('other.example')], ours)).toEqual({ allowed: false, record: 'example.com CAA 0 issue "other.example"', checkedAt: 'example.com' });
  });

  it('an empty issuer (";") and a malformed value authorise nobody', () => {
    expect(evaluateCaa('example.com', [issue(';')], ours).allowed).toBe(false);
    expect(evaluateCaa('example.com', [issue('ca.example; bad')], ours).allowed).toBe(false);
  });

  it('a set with no issue property restricts nothing', () => {
    expect(evaluateCaa('example.com', [{ flags: 0, tag: 'iodef', value: 'mailto:x@example.com' }], ours).allowed).toBe(true);
  });

  it('an unknown tag with the critical flag forbids; unknown and non-critical is ignored; known and critical is fine', () => {
    const unknownCritical = { flags: 128, tag: 'tbs', value: 'x' };
    expect(evaluateCaa('example.com', [issue('ca.example'), unknownCritical], ours)).toEqual({ allowed: false, record: 'example.com CAA 128 tbs "x"', checkedAt: 'example.com' });
    expect(evaluateCaa('example.com', [issue('ca.example'), { ...unknownCritical, flags: 0 }], ours).allowed).toBe(true);
    expect(evaluateCaa('example.com', [issue('ca.example', 128)], ours).allowed).toBe(true);
  });

  it('issuewild decides wildcards when present, issue otherwise; issuewild never decides a plain name', () => {
    const set = [issue('other.example'), issuewild('ca.example')];
    expect(evaluateCaa('example.com', set, { ...ours, wildcard: true }).allowed).toBe(true);
    expect(evaluateCaa('example.com', set, ours).allowed).toBe(false);
    expect(evaluateCaa('example.com', [issue('ca.example')], { ...ours, wildcard: true }).allowed).toBe(true);
    expect(evaluateCaa('example.com', [issue('ca.example'), issuewild(';')], { ...ours, wildcard: true })).toMatchObject({ allowed: false, record: 'example.com CAA 0 issuewild ";"' });
  });

  it('accounturi binds to one account (RFC 8657 §3)', () => {
    const set = [issue('ca.example; accounturi=https://ca.example/acct/1')];
    expect(evaluateCaa('example.com', set, { ...ours, accountUri: 'https://ca.example/acct/1' }).allowed).toBe(true);
    expect(evaluateCaa('example.com', set, { ...ours, accountUri: 'https://ca.example/acct/2' }).allowed).toBe(false);
    expect(evaluateCaa('example.com', set, ours).allowed).toBe(false);
  });

  it('validationmethods limits the method (RFC 8657 §4)', () => {
    const set = [issue('ca.example; validationmethods=dns-01,tls-alpn-01')];
    expect(evaluateCaa('example.com', set, { ...ours, validationMethod: 'dns-01' }).allowed).toBe(true);
    expect(evaluateCaa('example.com', set, { ...ours, validationMethod: 'http-01' }).allowed).toBe(false);
    expect(evaluateCaa('example.com', set, ours).allowed).toBe(false);
  });

  it('matches identities case-insensitively and ignores a trailing dot', () => {
    expect(evaluateCaa('example.com', [issue('CA.example.')], { caaIdentities: ['ca.EXAMPLE'] }).allowed).toBe(true);
  });
});
