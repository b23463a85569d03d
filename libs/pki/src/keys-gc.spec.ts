import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..', '..', '..');
const ITERATIONS = 6_000;

/**
 * Keys from generateKeyObjects survive a garbage collection in the middle of a JWK export (what signing a leaf does
 * with an EC key: der-builder reads the point through the JWK). On Node 20 the KeyObjects a key generation job
 * returns share a mutex with the job, and a collection that finalizes the job while the export holds that mutex
 * deadlocks the thread (an orchestrator froze so in bench:soak). `--gc-interval=5` makes V8 collect every few
 * allocations: the job's own KeyObjects hang within 3,000 iterations about half the time, and 6,000
 * iterations about three runs in four; keys made from DER must never hang.
 */
describe('generateKeyObjects under constant garbage collection', () => {
  it(`exports ${ITERATIONS} new EC keys as JWK without deadlocking`, async () => {
    const script = `
      const { generateKeyObjects } = require(${JSON.stringify(resolve(ROOT, 'libs/pki/src/keys.ts'))});
      (async () => {
        for (let i = 0; i < ${ITERATIONS}; i++) {
          const { publicKey, privateKey } = await generateKeyObjects({ algorithm: 'ECDSA', curve: 'P-256' });
          publicKey.export({ format: 'jwk' });
          privateKey.export({ format: 'jwk' });
        }
        process.stdout.write('done');
      })();`;
    const file = join(mkdtempSync(join(tmpdir(), 'keys-gc-')), 'child.js');
    writeFileSync(file, script);
    const result = await new Promise<{ code: number | null; signal: string | null; stdout: string }>((done) => {
      const child = execFile(process.execPath, ['--gc-interval=5', '-r', resolve(ROOT, 'test/support/swc-register.cjs'), file], { cwd: ROOT, timeout: 100_000, env: { PATH: process.env.PATH } },
        (error, stdout) => done({ code: child.exitCode, signal: error && 'signal' in error ? String(error.signal) : null, stdout }));
    });
    expect(result.stdout, `the child did not finish (exit ${result.code}, signal ${result.signal}): a deadlock`).toBe('done');
  }, 120_000);
});
