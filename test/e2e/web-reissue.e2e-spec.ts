import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { chromiumMissing, launchChromium, screenshot, seriousAxeViolations } from '../support/chromium';
import { certificateBody, createInventory, Inventory, post } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';
import { ensureWebBuild } from '../support/web-build';

/** The console's Readiness and Re-issue drill pages in real Chromium, against the real api and orchestrator. */
const missing = chromiumMissing();
if (missing && process.env.CI !== 'true') console.warn(`[web-reissue.e2e] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('console: readiness report and re-issue drill (Chromium)', () => {
  let p: PlatformHarness;
  let browser: Browser;
  let page: Page;
  let inv: Inventory;
  const names: string[] = [];

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and Chromium cannot run: ${missing}`);
    ensureWebBuild();
    p = await startPlatform({ CERTCTL_READ_CACHE_TTL: '1ms', CERTCTL_SCHEDULER_REISSUE_ADVANCE_INTERVAL: '250ms' });
    const port = await freePort();
    await p.app.listen(port, '127.0.0.1');
    inv = await createInventory(p);
    for (let i = 0; i < 2; i++) {
      const cert = await post(p, '/api/v1/certificates', certificateBody(inv));
      names.push(cert.name as string);
      const job = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
      expect((await p.waitForJob(job.body.job_id, ['Completed', 'Failed'])).status).toBe('Completed');
    }
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.getByLabel('API key').fill(p.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
  });
  afterAll(async () => {
    await browser?.close();
    await p?.close();
  });

  it('the readiness page shows the certificates with their lifetimes and the renewals a week', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Readiness' }).click();
    await page.getByRole('heading', { name: 'Readiness for shorter lifetimes' }).waitFor();
    const rows = page.getByTestId('readiness-rows');
    for (const name of names) await rows.getByText(name, { exact: true }).waitFor();
    await expect.poll(() => page.getByTestId('readiness-totals').textContent()).toMatch(/2 certificates: .* renewals a week now/);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'readiness');
  });

  it('previews a drill, starts it after confirmation, and follows it until every old serial is revoked', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Re-issue drill' }).click();
    await page.getByRole('heading', { name: 'Re-issue drill' }).waitFor();
    const issuerName = (await p.http.get(`/api/v1/issuers/${inv.issuerId}`).set(p.auth()).expect(200)).body.name as string;
    await page.getByLabel('Issuer').selectOption({ label: issuerName });
    await page.getByLabel('Reason').fill('console drill');
    await page.getByRole('button', { name: 'Dry run' }).click();
    await expect.poll(() => page.getByTestId('reissue-preview').textContent()).toMatch(/^2 active certificates would be re-issued/);
    await page.getByRole('button', { name: 'Start drill' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Start drill' }).click();
    const progress = page.getByTestId('reissue-progress');
    await progress.waitFor();
    await page.getByRole('heading', { name: /— completed$/ }).waitFor({ timeout: 30_000 });
    expect(await progress.getByRole('row', { name: /Old serial revoked/ }).textContent()).toContain('2 / 2');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'reissue-drill');
    const revoked = await p.db.query('SELECT count(*)::int AS n FROM certificate_revocations WHERE issuer_id = $1', [inv.issuerId]);
    expect(revoked.rows[0].n).toBe(2);
  });
});
