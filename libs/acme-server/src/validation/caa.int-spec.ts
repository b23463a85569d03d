import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bind9, bind9Missing, freePort, startBind9 } from '@certctl/testing';
import { CaaLookupError, checkCaa } from './caa';

/** CAA tree climbing (RFC 8659 §3) against a real BIND9 serving example.test under a delegating `test` zone. */
const missing = bind9Missing();
if (missing && process.env.CI !== 'true') console.warn(`[caa.int-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('checkCaa against BIND9', () => {
  let bind: Bind9;
  const ours = { caaIdentities: ['ca.example'] };

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and BIND9 cannot run: ${missing}`);
    bind = await startBind9({
      records: [
        '@ 60 IN CAA 0 issue "ca.example"',
        '@ 60 IN CAA 0 issuewild ";"',
        'www 60 IN A 127.0.0.1',
        'deep.sub 60 IN A 127.0.0.1',
        'other 60 IN CAA 0 issue "other-ca.example"',
        'other 60 IN CAA 0 iodef "mailto:sec@example.test"',
        'alias 60 IN CNAME target.other',
        'crit 60 IN CAA 128 tbs "unknown"',
        'crit 60 IN CAA 0 issue "ca.example"',
        'bound 60 IN CAA 0 issue "ca.example; accounturi=https://ca.example/acct/7; validationmethods=dns-01"',
      ],
    });
  });
  afterAll(async () => {
    await bind?.stop();
  });

  const check = (name: string, extra: Partial<Parameters<typeof checkCaa>[0]> = {}) => checkCaa({ name, ...ours, resolver: bind.address, ...extra });

  it('climbs from a name without CAA to the zone apex', async () => {
    expect(await check('deep.sub.example.test')).toEqual({ allowed: true, checkedAt: 'example.test' });
    expect(await check('www.example.test', { caaIdentities: ['someone-else.example'] })).toEqual({
      allowed: false,
      record: 'example.test CAA 0 issue "ca.example"',
      checkedAt: 'example.test',
    });
  });

  it('stops at the closest set: a subdomain naming another CA forbids us even though the apex allows us', async () => {
    expect(await check('other.example.test')).toEqual({ allowed: false, record: 'other.example.test CAA 0 issue "other-ca.example"', checkedAt: 'other.example.test' });
    expect(await check('x.y.other.example.test')).toMatchObject({ allowed: false, checkedAt: 'other.example.test' });
    expect(await check('other.example.test', { caaIdentities: ['other-ca.example'] })).toEqual({ allowed: true, checkedAt: 'other.example.test' });
  });

  it('follows a CNAME at the name, and climbs from the name itself, not from the alias target', async () => {
    // alias -> target.other: the alias target has no CAA of its own, so the CAA set at alias is empty and the
    // climb continues at example.test (the alias's parent), not at other.example.test (the target's parent).
    expect(await check('alias.example.test')).toEqual({ allowed: true, checkedAt: 'example.test' });
    await bind.addRecord('target.other', 'CAA', '0 issue "third-ca.example"');
    expect(await check('alias.example.test')).toEqual({ allowed: false, record: 'alias.example.test CAA 0 issue "third-ca.example"', checkedAt: 'alias.example.test' });
    await bind.removeRecords('target.other', 'CAA');
  });

  it('uses issuewild for wildcards: the apex forbids every wildcard with ";"', async () => {
    expect(await check('*.example.test')).toEqual({ allowed: false, record: 'example.test CAA 0 issuewild ";"', checkedAt: 'example.test' });
    expect(await check('www.example.test', { wildcard: true })).toMatchObject({ allowed: false });
    expect(await check('example.test')).toEqual({ allowed: true, checkedAt: 'example.test' });
  });

  it('an unknown critical property forbids', async () => {
    expect(await check('crit.example.test')).toEqual({ allowed: false, record: 'crit.example.test CAA 128 tbs "unknown"', checkedAt: 'crit.example.test' });
  });

  it('accounturi and validationmethods (RFC 8657)', async () => {
    const account = 'https://ca.example/acct/7';
    expect(await check('bound.example.test', { accountUri: account, validationMethod: 'dns-01' })).toMatchObject({ allowed: true });
    expect(await check('bound.example.test', { accountUri: account, validationMethod: 'http-01' })).toMatchObject({ allowed: false });
    expect(await check('bound.example.test', { accountUri: 'https://ca.example/acct/8', validationMethod: 'dns-01' })).toMatchObject({
      allowed: false,
      record: 'bound.example.test CAA 0 issue "ca.example; accounturi=https://ca.example/acct/7; validationmethods=dns-01"',
    });
  });

  it('no CAA anywhere up to the TLD allows any CA', async () => {
    await bind.removeRecords('@', 'CAA');
    expect(await check('www.example.test', { caaIdentities: ['anyone.example'] })).toEqual({ allowed: true, checkedAt: 'test' });
    await bind.addRecord('@', 'CAA', '0 issue "ca.example"');
    await bind.addRecord('@', 'CAA', '0 issuewild ";"');
  });

  it('a lookup that fails (no DNS server answering) is an error, never a permission', async () => {
    const silent = `127.0.0.1:${await freePort()}`;
    await expect(checkCaa({ name: 'www.example.test', ...ours, resolver: silent, timeoutMs: 600 })).rejects.toBeInstanceOf(CaaLookupError);
  });

  it('IP addresses have no CAA', async () => {
    expect(await check('127.0.0.1', { caaIdentities: [] })).toEqual({ allowed: true, checkedAt: '127.0.0.1' });
  });
});
