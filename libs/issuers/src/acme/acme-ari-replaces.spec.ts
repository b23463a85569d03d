import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_OUTBOUND_POLICY, setOutboundPolicy } from '@certctl/config';
import { createCsr, generateKeyPair, parseCsr, x509 } from '@certctl/pki';
import type { StoredAcmeAccount } from './acme-account-store';
import { ariCertId, retryAfterOf } from './acme-ari';
import { AcmeConnector, AcmeDeps } from './acme.connector';

/**
 * A fake ACME server: Debian's Pebble (2.4.0) offers neither renewalInfo nor `replaces`, and no newer ACME
 * server can be installed here, so this stand-in answers just enough (directory, nonce, account, newOrder) to
 * see what the connector puts in the order, and refuses the order right after, so nothing is validated.
 */
// The fake ACME server listens on 127.0.0.1.
beforeAll(() => setOutboundPolicy({ ...DEFAULT_OUTBOUND_POLICY, allowLoopback: true }));
afterAll(() => setOutboundPolicy(DEFAULT_OUTBOUND_POLICY));

describe('ACME order `replaces` (RFC 9773 §5) and renewalInfo Retry-After, against a fake ACME server', () => {
  let server: Server;
  let base: string;
  let withAri = true;
  let refuseReplacesOnce = false;
  let ariAnswer: { status: number; headers: Record<string, string> } = { status: 200, headers: {} };
  const orders: Array<Record<string, unknown>> = [];

  const problem = (res: ServerResponse, status: number, type: string, detail: string) =>
    void res.writeHead(status, { 'content-type': 'application/problem+json', 'replay-nonce': nonce() })
      .end(JSON.stringify({ type: `urn:ietf:params:acme:error:${type}`, detail }));
  let n = 0;
  const nonce = () => `nonce-${++n}`;
  const body = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const jws = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { payload?: string };
    return jws.payload ? (JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as Record<string, unknown>) : {};
  };

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      if (req.url === '/dir') {
        const dir: Record<string, string> = { newNonce: `${base}/nonce`, newAccount: `${base}/acct`, newOrder: `${base}/order` };
        if (withAri) dir.renewalInfo = `${base}/ari`;
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(dir));
      }
      if (req.url === '/nonce') return void res.writeHead(200, { 'replay-nonce': nonce() }).end();
      if (req.url === '/acct') {
        await body(req);
        return void res.writeHead(201, { 'content-type': 'application/json', location: `${base}/acct/1`, 'replay-nonce': nonce() })
          .end(JSON.stringify({ status: 'valid' }));
      }
      if (req.url === '/order') {
        const payload = await body(req);
        orders.push(payload);
        if (payload.replaces && refuseReplacesOnce) {
          refuseReplacesOnce = false;
          return problem(res, 409, 'alreadyReplaced', 'that certificate was already replaced');
        }
        return problem(res, 403, 'unauthorized', 'this fake issues nothing');
      }
      if (req.url?.startsWith('/ari/')) {
        return void res.writeHead(ariAnswer.status, { 'content-type': 'application/json', ...ariAnswer.headers }).end('{}');
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    orders.length = 0;
    withAri = true;
    refuseReplacesOnce = false;
  });

  function connector(): AcmeConnector {
    let stored: StoredAcmeAccount | undefined;
    const accounts = {
      load: async () => stored,
      saveKeyIfAbsent: async (_: string, directory_url: string, encrypted_account_key: Buffer) => (stored ??= { directory_url, encrypted_account_key, account_url: null }),
      saveAccountUrl: async (_: string, __: string, url: string) => void (stored!.account_url = url),
    };
    const deps = { accounts, challenges: {}, encryptionKey: 'k'.repeat(32), defaultHttpPort: 80 } as unknown as AcmeDeps;
    return new AcmeConnector('iss-fake', { directory_url: `${base}/dir` }, deps);
  }

  async function renewal() {
    const keySpec = { algorithm: 'ECDSA', curve: 'P-256' } as const;
    const keys = await generateKeyPair(keySpec);
    const csr = await parseCsr(await createCsr({ keys, keySpec, commonName: 'a.certctl.test', sans: ['a.certctl.test'] }));
    const old = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '0a0b0c', name: 'CN=a.certctl.test', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.AuthorityKeyIdentifierExtension('0102030405060708')],
    });
    const oldPem = old.toString('pem');
    return { request: { csr, commonName: 'a.certctl.test', sans: ['a.certctl.test'], profile: null, jobId: 'job-1', replacesCertificatePem: oldPem }, oldPem };
  }

  it('names the replaced certificate in the order when the CA offers renewalInfo', async () => {
    const { request, oldPem } = await renewal();
    await expect(connector().issue(request)).rejects.toThrow(/this fake issues nothing/);
    expect(orders).toEqual([{ identifiers: [{ type: 'dns', value: 'a.certctl.test' }], replaces: ariCertId(oldPem) }]);
  });

  it('orders without `replaces` when the CA offers no renewalInfo, or for a first issuance', async () => {
    withAri = false;
    const { request } = await renewal();
    await expect(connector().issue(request)).rejects.toThrow(/this fake issues nothing/);
    withAri = true;
    await expect(connector().issue({ ...request, replacesCertificatePem: undefined })).rejects.toThrow(/this fake issues nothing/);
    expect(orders.map((o) => 'replaces' in o)).toEqual([false, false]);
  });

  it('orders again without `replaces` when the CA answers alreadyReplaced', async () => {
    refuseReplacesOnce = true;
    const { request, oldPem } = await renewal();
    await expect(connector().issue(request)).rejects.toThrow(/this fake issues nothing/);
    expect(orders.map((o) => o.replaces)).toEqual([ariCertId(oldPem), undefined]);
  });

  it('carries the Retry-After of a failed renewalInfo answer (503) on the error', async () => {
    const { oldPem } = await renewal();
    ariAnswer = { status: 503, headers: { 'retry-after': '7200' } };
    const err = await connector().renewalInfo(oldPem).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/renewal information/);
    expect(retryAfterOf(err)!.getTime()).toBeGreaterThan(Date.now() + 7_100_000);
    ariAnswer = { status: 500, headers: {} };
    expect(retryAfterOf(await connector().renewalInfo(oldPem).catch((e: unknown) => e))).toBeUndefined();
  });
});
