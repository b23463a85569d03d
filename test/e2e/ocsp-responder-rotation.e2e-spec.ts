import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { createInventory, Inventory } from '../support/fixtures';
import { issueLocalCaLeaf, opensslIn } from '../support/pki-fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/** A responder certificate valid 70 s (backdated 60 s) with a 5 s grace: it is due for rotation 5 s after it is made. */
const VALIDITY = '70s';
const GRACE = '5s';

/** The serial of the responder certificate that `openssl ocsp -resp_text` printed (the one inside the response). */
function responderSerialOf(text: string): string {
  const match = /Certificate:\s+Data:[\s\S]*?Serial Number:\s*\n?\s*([0-9a-f:]+)/i.exec(text);
  expect(match, text).not.toBeNull();
  return match![1]!.replace(/:/g, '').toLowerCase();
}

/**
 * The delegated OCSP responder certificate is replaced before it expires: once it is within its rotation grace,
 * the next answer is signed by a new responder certificate (issued by the CA, recorded with rotated_from), and
 * openssl verifies answers from both.
 */
describe('OCSP responder certificate rotation', () => {
  let p: PlatformHarness;
  let base: string;
  let inv: Inventory;
  const dir = mkdtempSync(join(tmpdir(), 'ocsp-rotation-e2e-'));
  const openssl = opensslIn(dir);

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    p = await startPlatform({
      CERTCTL_PKI_BASE_URL: base, CERTCTL_OCSP_RESPONDER_VALIDITY: VALIDITY, CERTCTL_OCSP_RESPONDER_ROTATION_GRACE: GRACE,
    });
    await p.app.listen(port, '127.0.0.1');
    inv = await createInventory(p);
  });
  afterAll(async () => p?.close());

  it('signs with a new responder certificate once the old one is within its grace, and openssl verifies both', { timeout: 60_000 }, async () => {
    const leaf = await issueLocalCaLeaf(p, inv, dir, 'leaf');
    const url = `${base}/.well-known/pki/ocsp/${inv.issuerId}`;
    const check = () => openssl(['ocsp', '-issuer', 'ca.pem', '-cert', leaf.leaf, '-url', url, '-CAfile', 'ca.pem', '-nonce', '-resp_text']);

    const first = await check();
    expect(first.out).toContain('Response verify OK');
    expect(first.out).toContain(`${leaf.leaf}: good`);
    const firstSerial = responderSerialOf(first.out);
    const [before] = (await p.db.query('SELECT cert_serial, rotated_from FROM ocsp_responders WHERE issuer_id = $1', [inv.issuerId])).rows;
    expect(before.cert_serial.toLowerCase().replace(/^0+/, '')).toBe(firstSerial.replace(/^0+/, ''));

    await sleep(6_000);
    const second = await check();
    expect(second.out).toContain('Response verify OK');
    expect(second.out).toContain(`${leaf.leaf}: good`);
    const secondSerial = responderSerialOf(second.out);
    expect(secondSerial).not.toBe(firstSerial);
    const [after] = (await p.db.query('SELECT cert_serial, rotated_from FROM ocsp_responders WHERE issuer_id = $1', [inv.issuerId])).rows;
    expect(after.cert_serial.toLowerCase().replace(/^0+/, '')).toBe(secondSerial.replace(/^0+/, ''));
    expect(after.rotated_from).toBe(before.cert_serial);
    // The new responder certificate is a proper delegated one: OCSP signing only, no revocation check of its own.
    expect(second.out).toMatch(/OCSP Signing/);
    expect(second.out).toMatch(/OCSP No Check/);
  });
});
