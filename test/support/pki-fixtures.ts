import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { certificateBody, Inventory, post } from './fixtures';
import { PlatformHarness } from './platform-harness';

export interface OpensslResult {
  /** 0 on success, openssl's exit code otherwise. */
  status: number | null;
  /** stdout then stderr. */
  out: string;
}

/** Runs openssl in `dir` without blocking the event loop (the api it talks to often runs in the test's process). */
export function opensslIn(dir: string): (args: string[]) => Promise<OpensslResult> {
  return (args) => new Promise((resolve) => {
    execFile('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

export interface IssuedLeaf {
  id: string;
  serial: string;
  /** File names in `dir`: `<name>.pem` and `ca.pem` (the chain). */
  leaf: string;
  ca: string;
}

/** Creates a certificate, issues it through the inventory's Local CA, and writes its leaf and chain PEMs to `dir`. */
export async function issueLocalCaLeaf(p: PlatformHarness, inv: Inventory, dir: string, name: string, overrides: Record<string, unknown> = {}): Promise<IssuedLeaf> {
  const cert = await post(p, '/api/v1/certificates', certificateBody(inv, overrides));
  const job = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
  expect((await p.waitForJob(job.body.job_id, ['Completed', 'Failed'])).status).toBe('Completed');
  const pem = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body;
  writeFileSync(join(dir, `${name}.pem`), pem.cert_pem);
  writeFileSync(join(dir, 'ca.pem'), pem.chain_pem);
  return { id: cert.id, serial: pem.serial_number, leaf: `${name}.pem`, ca: 'ca.pem' };
}
