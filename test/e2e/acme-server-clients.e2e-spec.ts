import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acmeClientsMissing, Bind9, bind9Missing, certbotCertonly, certbotRevoke, freePort, legoRenew, legoRevoke, legoRun, LegoOptions,
  readIssued, startBind9, startCaddyWithAcme,
} from '@certctl/testing';
import { RawAcme, rawKey } from '../support/acme-raw';
import { AcmeServerHarness, startAcmeServer } from '../support/acme-server-harness';
import { waitFor } from '../support/notifier-peers';
import { opensslIn } from '../support/pki-fixtures';

const missing = [acmeClientsMissing(['certbot', 'certbot-dns-rfc2136', 'lego', 'caddy']), bind9Missing()].filter(Boolean).join('; ') || undefined;
if (missing && process.env.CI !== 'true') console.warn(`[acme-server-clients] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

/**
 * Our ACME server against the real clients Debian ships: certbot (standalone http-01, and dns-01 through
 * python3-certbot-dns-rfc2136), lego (http-01, tls-alpn-01, rfc2136 dns-01, EAB, renew, revoke) and Caddy
 * (acme_ca pointing at us). The server validates on loopback: http-01 and tls-alpn-01 on the configured ports,
 * DNS names (A, TXT, CAA) through a real BIND9 that the clients update by RFC 2136 with its TSIG key.
 * Every certificate a client gets must be a managed certificate (source ACME) and its status must reach OCSP.
 */
suite('ACME server with certbot, lego and Caddy', { timeout: 240_000 }, () => {
  let h: AcmeServerHarness;
  let bind: Bind9;
  let http01Port: number;
  let tlsAlpnPort: number;
  /** A trust_authenticated profile that requires EAB (accounts bound to the inventory's team and owner). */
  let eabProfileId: string;
  const dir = mkdtempSync(join(tmpdir(), 'acme-server-clients-'));
  const openssl = opensslIn(dir);
  const zone = 'example.test';

  const directoryOf = (profileId: string) => `${h.base}/acme/profile/${profileId}/directory`;
  const rfc2136 = () => ({ host: bind.host, port: bind.port, keyName: bind.tsig.name, secret: bind.tsig.secret, algorithm: bind.tsig.algorithm });
  const lego = (sub: string, options: Partial<LegoOptions> & Pick<LegoOptions, 'domains' | 'challenge'>): LegoOptions => ({
    server: h.directoryUrl, dir: join(dir, sub), http01Port, tlsAlpn01Port: tlsAlpnPort, rfc2136: rfc2136(), dnsResolver: bind.address, ...options,
  });

  /** The managed certificate (GET /api/v1/certificates/{id}) a client's leaf belongs to, found by its serial. */
  async function managedCertificateOf(leafPem: string): Promise<{ id: string; source: string; status: string; sans: string[]; owner_id: string }> {
    const serial = new X509Certificate(leafPem).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
    const { rows } = await h.p.db.query(`SELECT certificate_id FROM certificate_versions WHERE serial_number = $1`, [serial]);
    expect(rows, `no certificate version with serial ${serial}`).toHaveLength(1);
    return (await h.p.http.get(`/api/v1/certificates/${rows[0].certificate_id}`).set(h.p.auth()).expect(200)).body;
  }

  /** The certificate is listed by GET /api/v1/certificates (of its profile) with source ACME and the leaf's names. */
  async function expectListedAsAcme(leafPem: string, profileId: string, names: string[]): Promise<string> {
    const cert = await managedCertificateOf(leafPem);
    const listed = await h.p.http.get(`/api/v1/certificates?profile_id=${profileId}&per_page=500`).set(h.p.auth()).expect(200);
    const row = (listed.body.data as Array<{ id: string; source: string; sans: string[] }>).find((c) => c.id === cert.id);
    expect(row, `${cert.id} not in GET /api/v1/certificates`).toBeDefined();
    expect(row!.source).toBe('ACME');
    expect([...row!.sans].sort()).toEqual([...names].sort());
    return cert.id;
  }

  /** `openssl ocsp` against the responder, for a leaf and its issuer written to files. */
  async function ocspStatus(leafPem: string, issuerPem: string): Promise<string> {
    const tag = new X509Certificate(leafPem).serialNumber;
    writeFileSync(join(dir, `${tag}.pem`), leafPem);
    writeFileSync(join(dir, `${tag}-ca.pem`), issuerPem);
    const { out } = await openssl(['ocsp', '-issuer', `${tag}-ca.pem`, '-cert', `${tag}.pem`, '-url', `${h.base}/.well-known/pki/ocsp/${h.inv.issuerId}`, '-CAfile', `${tag}-ca.pem`, '-no_nonce']);
    return out;
  }

  /** Waits (bounded) until OCSP says `revoked`: the responder replaces its pre-signed answer on revocation. */
  async function expectOcspRevoked(leafPem: string, issuerPem: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    let out = await ocspStatus(leafPem, issuerPem);
    while (!out.includes(': revoked') && Date.now() < deadline) out = await ocspStatus(leafPem, issuerPem);
    expect(out).toContain(': revoked');
  }

  const sansOf = (pem: string) => new X509Certificate(pem).subjectAltName?.split(', ').map((s) => s.replace(/^DNS:/, '')).sort();
  const firstPem = (pem: string) => pem.slice(0, pem.indexOf('-----END CERTIFICATE-----') + '-----END CERTIFICATE-----'.length) + '\n';
  const lastPem = (pem: string) => pem.slice(pem.lastIndexOf('-----BEGIN CERTIFICATE-----'));

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and the ACME clients cannot run: ${missing}`);
    bind = await startBind9({
      zone,
      records: [
        ...['certbot', 'lego-http', 'lego-alpn', 'lego-renew', 'caddy'].map((name) => `${name} 60 IN A 127.0.0.1`),
        'other-ca 60 IN A 127.0.0.1',
        'other-ca 60 IN CAA 0 issue "letsencrypt.org"',
      ],
    });
    http01Port = await freePort();
    tlsAlpnPort = await freePort();
    h = await startAcmeServer('challenge', {
      CERTCTL_ACME_SERVER_HTTP01_PORT: String(http01Port),
      CERTCTL_ACME_SERVER_TLSALPN01_PORT: String(tlsAlpnPort),
      CERTCTL_ACME_SERVER_DNS_RESOLVER: bind.address,
      CERTCTL_ACME_SERVER_CAA_IDENTITIES: 'certctl.example.test',
    // Accounts without EAB (the challenge profile) get their certificates under a default owner, read at responder start.
    }, ({ inv }) => (process.env.CERTCTL_ACME_SERVER_DEFAULT_OWNER_ID = inv.ownerId));
    eabProfileId = await h.addProfile({ mode: 'trust_authenticated', eab: true });
  });
  afterAll(async () => {
    delete process.env.CERTCTL_ACME_SERVER_DEFAULT_OWNER_ID;
    await h?.close();
    await bind?.stop();
  });

  it('certbot certonly --standalone (http-01): issue, force-renew (a new serial), revoke (OCSP says revoked)', async () => {
    const domain = `certbot.${zone}`;
    const options = { server: h.directoryUrl, dir: join(dir, 'certbot-http'), domains: [domain], challenge: 'http-01' as const, http01Port };
    const issued = await certbotCertonly(options);
    const first = readIssued(issued.certPath, issued);
    expect(issued.code, issued.output).toBe(0);
    expect(sansOf(first)).toEqual([domain]);
    const chain = readFileSync(issued.chainPath, 'utf8');
    expect(new X509Certificate(first).verify(new X509Certificate(lastPem(chain)).publicKey)).toBe(true);
    await expectListedAsAcme(first, h.profileId, [domain]);
    expect(await ocspStatus(first, lastPem(chain))).toContain(': good');

    const renewed = await certbotCertonly({ ...options, forceRenewal: true });
    expect(renewed.code, renewed.output).toBe(0);
    const second = readFileSync(renewed.certPath, 'utf8');
    expect(new X509Certificate(second).serialNumber).not.toBe(new X509Certificate(first).serialNumber);
    expect(sansOf(second)).toEqual([domain]);
    await expectListedAsAcme(second, h.profileId, [domain]);

    const revoked = await certbotRevoke({ server: h.directoryUrl, dir: options.dir, certPath: renewed.certPath, reason: 'superseded' });
    expect(revoked.code, revoked.output).toBe(0);
    await expectOcspRevoked(second, lastPem(chain));
  });

  it('certbot with python3-certbot-dns-rfc2136 (dns-01 written to BIND9): a name and its wildcard in one order', async () => {
    const names = [`dns.${zone}`, `*.dns.${zone}`];
    const issued = await certbotCertonly({ server: h.directoryUrl, dir: join(dir, 'certbot-dns'), domains: names, challenge: 'dns-01', rfc2136: rfc2136() });
    const pem = readIssued(issued.certPath, issued);
    expect(issued.code, issued.output).toBe(0);
    expect(sansOf(pem)).toEqual([...names].sort());
    await expectListedAsAcme(pem, h.profileId, names);
  });

  it('lego run with http-01', async () => {
    const domain = `lego-http.${zone}`;
    const issued = await legoRun(lego('lego-http', { domains: [domain], challenge: 'http-01' }));
    const pem = readIssued(issued.certPath, issued);
    expect(issued.code, issued.output).toBe(0);
    expect(sansOf(pem)).toEqual([domain]);
    await expectListedAsAcme(pem, h.profileId, [domain]);
  });

  it('lego run with tls-alpn-01 (RFC 8737) on the configured port', async () => {
    const domain = `lego-alpn.${zone}`;
    const issued = await legoRun(lego('lego-alpn', { domains: [domain], challenge: 'tls-alpn-01' }));
    const pem = readIssued(issued.certPath, issued);
    expect(issued.code, issued.output).toBe(0);
    expect(sansOf(pem)).toEqual([domain]);
    await expectListedAsAcme(pem, h.profileId, [domain]);
  });

  it('lego run with the rfc2136 DNS provider (dns-01 through BIND9), a wildcard', async () => {
    const names = [`*.lego-dns.${zone}`];
    const issued = await legoRun(lego('lego-dns', { domains: names, challenge: 'dns-01' }));
    const pem = readIssued(issued.certPath, issued);
    expect(issued.code, issued.output).toBe(0);
    expect(sansOf(pem)).toEqual(names);
    await expectListedAsAcme(pem, h.profileId, names);
  });

  it('lego with EAB on a trust_authenticated profile: the account is bound to the key\'s team and owner; renew gives a new serial of the same managed certificate; lego revoke shows in OCSP', async () => {
    const eab = await h.eabKey({ profileId: eabProfileId });
    const domain = `lego-renew.${zone}`;
    const options = lego('lego-eab', { server: directoryOf(eabProfileId), domains: [domain], challenge: 'http-01', eab });
    const issued = await legoRun(options);
    const first = readIssued(issued.certPath, issued);
    expect(issued.code, issued.output).toBe(0);
    const cert = await managedCertificateOf(first);
    expect(cert).toMatchObject({ source: 'ACME', owner_id: h.inv.ownerId, team_id: h.inv.teamId });
    await expectListedAsAcme(first, eabProfileId, [domain]);
    const { rows } = await h.p.db.query(`SELECT team_id, owner_id FROM acme_accounts WHERE eab_key_id = $1`, [eab.kid]);
    expect(rows).toEqual([{ team_id: h.inv.teamId, owner_id: h.inv.ownerId }]);

    // --days beyond the certificate's lifetime: renew now.
    const renewed = await legoRenew({ ...options, days: 10_000 });
    expect(renewed.code, renewed.output).toBe(0);
    const second = readFileSync(renewed.certPath, 'utf8');
    expect(new X509Certificate(second).serialNumber).not.toBe(new X509Certificate(first).serialNumber);
    // lego 4.9 renews without ARI's "replaces": the same account and names renew the same managed certificate.
    expect(await expectListedAsAcme(second, eabProfileId, [domain])).toBe(cert.id);
    const listed = await h.p.http.get(`/api/v1/certificates?profile_id=${eabProfileId}&per_page=500`).set(h.p.auth()).expect(200);
    expect((listed.body.data as Array<{ sans: string[] }>).filter((c) => c.sans.includes(domain))).toHaveLength(1);
    const versions = await h.p.http.get(`/api/v1/certificates/${cert.id}/versions`).set(h.p.auth()).expect(200);
    expect((versions.body.data as Array<{ serial_number: string }>).map((v) => v.serial_number).sort())
      .toEqual([first, second].map((pem) => new X509Certificate(pem).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '')).sort());

    const issuer = readFileSync(renewed.issuerPath, 'utf8');
    expect(await ocspStatus(firstPem(second), lastPem(issuer))).toContain(': good');
    const revoked = await legoRevoke(options);
    expect(revoked.code, revoked.output).toBe(0);
    await expectOcspRevoked(firstPem(second), lastPem(issuer));
  });

  it('lego sending an IP address as a dns identifier (lego 4.9 has no RFC 8738) is refused as malformed/rejectedIdentifier', async () => {
    const result = await legoRun(lego('lego-ip', { domains: ['127.0.0.1'], challenge: 'http-01' }));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/urn:ietf:params:acme:error:(malformed|rejectedIdentifier)/);
    expect(result.output).toMatch(/IP address/);
  });

  it('a CAA record naming another CA makes the order fail with caa', async () => {
    const result = await legoRun(lego('lego-caa', { domains: [`other-ca.${zone}`], challenge: 'http-01' }));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('urn:ietf:params:acme:error:caa');
  });

  it('revocation through our REST API shows revoked to openssl ocsp for a lego certificate', async () => {
    const domain = `lego-http.${zone}`;
    const issued = await legoRun(lego('lego-rest-revoke', { domains: [domain], challenge: 'http-01' }));
    const pem = readIssued(issued.certPath, issued);
    expect(issued.code, issued.output).toBe(0);
    const issuer = lastPem(readFileSync(issued.issuerPath, 'utf8'));
    expect(await ocspStatus(firstPem(pem), issuer)).toContain(': good');
    const cert = await managedCertificateOf(firstPem(pem));
    await h.p.http.post(`/api/v1/certificates/${cert.id}/revoke`).set(h.p.auth()).send({ reason: 'keyCompromise' }).expect(200);
    await expectOcspRevoked(firstPem(pem), issuer);
  });

  it('a challenge under validation answers processing with Retry-After (without one, lego sleeps 5 s before each authz poll)', async () => {
    const raw = new RawAcme(h.directoryUrl);
    const d = await raw.directory();
    const key = await rawKey('ES256');
    const kid = (await raw.post(d.newAccount, { termsOfServiceAgreed: true }, { key, jwk: true })).headers.get('location')!;
    // Nobody answers on the http-01 port for this order: the validation stays in flight (connection refused is retried).
    const order = await raw.post(d.newOrder, { identifiers: [{ type: 'ip', value: '127.0.0.1' }] }, { key, kid });
    const authz = await raw.post(order.body.authorizations[0], '', { key, kid });
    const challenge = (authz.body.challenges as Array<{ type: string; url: string }>).find((c) => c.type === 'http-01')!;
    const answered = await raw.post(challenge.url, {}, { key, kid });
    expect(answered.status).toBe(200);
    expect(answered.body.status).toBe('processing');
    expect(answered.headers.get('retry-after')).toBe('1');
  });

  it('Caddy with acme_ca pointing at us serves a site with our certificate', async () => {
    const domain = `caddy.${zone}`;
    // Our ACME server is plain HTTP on loopback here, so Caddy needs no acme_ca_root.
    const caddy = await startCaddyWithAcme({ dir: join(dir, 'caddy'), acmeCa: h.directoryUrl, domains: [domain], httpPort: http01Port, httpsPort: tlsAlpnPort });
    try {
      // Caddy orders in the background once it starts; wait until its TLS server presents our certificate.
      const served = await waitFor('Caddy serving a certificate for its site', async () => {
        const pem = await caddy.servedCertificatePem(domain).catch(() => undefined);
        return pem && sansOf(pem)?.includes(domain) ? pem : undefined;
      }, 90_000, 250).catch((error: Error) => { throw new Error(`${error.message}\n${caddy.output().slice(-4000)}`); });
      expect(sansOf(served)).toEqual([domain]);
      // The chain Caddy stored from our cert URL: the leaf it serves, signed by our Local CA.
      const stored = readdirSync(join(dir, 'caddy', 'storage'), { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith(`${domain}.crt`));
      expect(stored, 'Caddy stored no certificate').toBeDefined();
      const chain = readFileSync(join(dir, 'caddy', 'storage', stored!), 'utf8');
      expect(new X509Certificate(firstPem(chain)).fingerprint256).toBe(new X509Certificate(served).fingerprint256);
      expect(new X509Certificate(served).verify(new X509Certificate(lastPem(chain)).publicKey)).toBe(true);
      const cert = await managedCertificateOf(served);
      expect(cert.source).toBe('ACME');
      await expectListedAsAcme(served, h.profileId, [domain]);
    } finally {
      await caddy.stop();
    }
  });
});
