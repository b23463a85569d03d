import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { ApiHarness, startApi } from '../support/api-harness';
import { createInventory, post, unique } from '../support/fixtures';

const ORCHESTRATOR = 'dist/apps/orchestrator/src/main.js';
const RESPONDER = 'dist/apps/responder/src/main.js';

/**
 * The built responder and orchestrator as real child processes: acme-client finalizes a trust_authenticated order,
 * the orchestrator is SIGKILLed right then, and once it is started again the order still ends valid with exactly
 * one certificate version.
 */
describe('ACME server (built apps): orchestrator killed during finalize', () => {
  let api: ApiHarness;
  let responder: ChildProcess | undefined;
  let orchestrator: ChildProcess | undefined;
  let base: string;

  const start = (file: string, env: Record<string, string>, ready: string): Promise<ChildProcess> => new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [file], { env: { ...process.env, CERTCTL_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${file} not ready:\n${output}`)), 60_000);
    for (const stream of [proc.stdout!, proc.stderr!]) {
      stream.on('data', (d: Buffer) => {
        output = (output + d.toString()).slice(-20_000);
        if (output.includes(ready)) {
          clearTimeout(timer);
          resolve(proc);
        }
      });
    }
    proc.once('exit', (code) => reject(new Error(`${file} exited (${code}):\n${output}`)));
  });
  const startOrchestrator = () => start(ORCHESTRATOR, {
    CERTCTL_ORCHESTRATOR_PORT: '0', CERTCTL_QUEUE_LOCK_DURATION: '2s', CERTCTL_QUEUE_STALLED_INTERVAL: '1s', CERTCTL_SCHEDULER_RECONCILE_INTERVAL: '2s',
  }, 'orchestrator ready');

  beforeAll(async () => {
    for (const file of [ORCHESTRATOR, RESPONDER]) if (!existsSync(file)) throw new Error(`${file} is missing: npm test builds it first (pretest)`);
    api = await startApi({ CERTCTL_ACME_SERVER_ENABLED: 'true' });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    responder = await start(RESPONDER, { CERTCTL_RESPONDER_PORT: String(port) }, 'responder ready');
  });
  afterAll(async () => {
    orchestrator?.kill('SIGKILL');
    responder?.kill('SIGTERM');
    await api?.close();
  });

  it('ends valid with exactly one certificate version when the orchestrator is SIGKILLed as finalize returns, then restarted', async () => {
    const inv = await createInventory(api);
    const profile = await post(api, '/api/v1/profiles', { name: unique('acme-crash'), acme_auth_mode: 'trust_authenticated', acme_issuer_id: inv.issuerId });
    const eab = await post(api, '/api/v1/acme/eab-keys', { profile_id: profile.id, owner_id: inv.ownerId });
    const c = new acme.Client({
      directoryUrl: `${base}/acme/profile/${profile.id}/directory`, accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: eab.id, hmacKey: eab.hmac_key }, backoffAttempts: 200, backoffMin: 100, backoffMax: 500,
    });
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'crash.example.test' }] });
    const [, csr] = await acme.crypto.createCsr({ commonName: 'crash.example.test' }, await acme.crypto.createPrivateRsaKey(4096));

    orchestrator = await startOrchestrator();
    const finalized = await c.finalizeOrder(order, csr);
    orchestrator.kill('SIGKILL');
    await new Promise((r) => orchestrator!.once('exit', r));
    expect(['processing', 'valid']).toContain(finalized.status);

    orchestrator = await startOrchestrator();
    const valid = await c.waitForValidStatus(finalized);
    expect(valid.status).toBe('valid');
    const pem = await c.getCertificate(valid);
    expect(pem).toContain('BEGIN CERTIFICATE');
    const { rows } = await api.db.query(
      `SELECT count(v.id)::int AS versions, c.source FROM acme_orders o JOIN managed_certificates c ON c.id = o.certificate_id
         LEFT JOIN certificate_versions v ON v.certificate_id = c.id WHERE o.id = $1 GROUP BY c.source`, [order.url.split('/').pop()],
    );
    expect(rows).toEqual([{ versions: 1, source: 'ACME' }]);
  });
});
