import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnvironment, freePort, TestEnvironment } from '@certctl/testing';

/** The built api stops on SIGTERM after finishing what it was doing, and exits 0 (not by the signal). */
describe('api process shutdown', () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await createTestEnvironment();
  });
  afterAll(async () => env?.destroy());

  it('answers until SIGTERM, then exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/apps/api/src/main.js'], {
      env: { ...process.env, ...env.env, CERTCTL_SERVER_PORT: String(port), CERTCTL_API_KEY: 'shutdown-test-key-0123456789' },
      stdio: 'ignore',
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
    let ready = false;
    for (let i = 0; i < 100 && !ready; i++) {
      ready = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false);
      if (!ready) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ready).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
  }, 60_000);
});
