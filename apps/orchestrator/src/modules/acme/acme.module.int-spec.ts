import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IssuerEntity } from '@certctl/db';
import { AcmeChallengeStore, AcmeConnector, IssuerRegistry } from '@certctl/issuers';
import { createWorkerApp } from '@certctl/observability';
import { createTestEnvironment, freePort, TestEnvironment } from '@certctl/testing';
import { AcmeModule } from './acme.module';

/** The orchestrator with AcmeModule: ACME issuers are registered, and the http-01 responder serves Redis from boot. */
describe('orchestrator AcmeModule', () => {
  let env: TestEnvironment;
  let app: INestApplication;
  let port: number;

  beforeAll(async () => {
    env = await createTestEnvironment();
    port = await freePort();
    Object.assign(process.env, env.env, { CERTCTL_ACME_HTTP_PORT: String(port) });
    app = await createWorkerApp('orchestrator', [AcmeModule]);
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    delete process.env.CERTCTL_ACME_HTTP_PORT;
    await env?.destroy();
  });

  it('listens on CERTCTL_ACME_HTTP_PORT and answers challenges stored by any process', async () => {
    await app.get(AcmeChallengeStore).put('tok-123_ABC', 'tok-123_ABC.thumb');
    const ok = await fetch(`http://127.0.0.1:${port}/.well-known/acme-challenge/tok-123_ABC`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('tok-123_ABC.thumb');
    expect((await fetch(`http://127.0.0.1:${port}/.well-known/acme-challenge/unknown`)).status).toBe(404);
  });

  it('makes ACME issuers live in the IssuerRegistry', () => {
    const issuer = Object.assign(new IssuerEntity(), { id: 'iss-acme-wired', type: 'ACME', updated_at: new Date() });
    const connector = app.get(IssuerRegistry).connectorFor(issuer, { directory_url: 'https://acme.example/dir' });
    expect(connector).toBeInstanceOf(AcmeConnector);
  });

  it('closes the responder on shutdown', async () => {
    await app.close();
    await expect(fetch(`http://127.0.0.1:${port}/.well-known/acme-challenge/tok-123_ABC`)).rejects.toThrow();
    app = undefined as unknown as INestApplication;
  });
});
