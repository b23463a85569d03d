import { createServer, Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp } from '@certctl/observability';
import { freePort } from '@certctl/testing';
import { NotifierModule } from '../../apps/notifier/src/notifier.module';
import { seedDemoInventory } from '../../scripts/demo-seed';
import { chromiumMissing, launchChromium, openConsolePage, screenshot, seriousAxeViolations } from '../support/chromium';
import { keyWithRole, post } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';
import { ensureWebBuild } from '../support/web-build';

/**
 * The console in real Chromium against the real api, orchestrator and notifier, on the demo inventory that
 * `npm start` seeds. Notification retries are shortened to milliseconds so a dead letter appears in a second.
 */
const missing = chromiumMissing();
if (missing && process.env.CI !== 'true') console.warn(`[web-chromium.e2e] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('web console in Chromium', () => {
  let p: PlatformHarness;
  let notifier: INestApplication;
  let browser: Browser;
  let base: string;
  let admin: Page;
  const cspViolations: string[] = [];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and Chromium cannot run: ${missing}`);
    ensureWebBuild();
    p = await startPlatform({
      CERTCTL_NOTIFIER_ALLOW_LOOPBACK: 'true',
      CERTCTL_NOTIFICATION_BACKOFF_BASE: '40ms',
      CERTCTL_NOTIFICATION_BACKOFF_MAX: '200ms',
      CERTCTL_NOTIFICATION_MAX_ATTEMPTS: '5',
      CERTCTL_NOTIFICATION_RETRY_INTERVAL: '1s',
      CERTCTL_READ_CACHE_TTL: '1ms',
    });
    notifier = await createWorkerApp('notifier', [NotifierModule]);
    await notifier.init();
    await seedDemoInventory(p.env.databaseUrl, mkdtempSync(join(tmpdir(), 'certctl-web-demo-')));
    const port = await freePort();
    await p.app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    browser = await launchChromium();
    admin = await signIn(p.adminKey);
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await notifier?.close();
    await p?.close();
  });

  /** A fresh tab (its own sessionStorage), signed in with `key`. */
  async function signIn(key: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (m) => m.text().includes('Content Security Policy') && cspViolations.push(m.text()));
    await page.goto(`${base}/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    return page;
  }

  const go = (page: Page, path: string, heading: string) => openConsolePage(page, base, path, heading);

  it('signs in and shows the dashboard with the demo inventory counted', async () => {
    await admin.getByRole('heading', { name: 'Dashboard' }).waitFor();
    const cards = admin.getByTestId('summary-cards');
    await cards.waitFor();
    await admin.getByTestId('dashboard-charts').locator('svg').first().waitFor();
    const { rows: [{ n }] } = await p.db.query(`SELECT count(*)::int AS n FROM managed_certificates WHERE status <> 'Archived'`);
    expect(n).toBeGreaterThanOrEqual(5);
    expect(await cards.getByText('Certificates', { exact: true }).locator('..').textContent()).toMatch(new RegExp(`^${n}(?!\\d)`));
    await screenshot(admin, 'dashboard');
  }, 120_000);

  it('lists the demo inventory on the certificates page, with server-side search', async () => {
    await go(admin, '/certificates', 'Certificates');
    const rows = admin.getByTestId('certificate-rows');
    for (const cn of ['www.example.com', 'api.example.com', 'checkout.example.com', 'legacy.example.com', 'new-service.example.com']) {
      await rows.getByRole('link', { name: cn, exact: true }).waitFor();
    }
    await admin.getByLabel('Search').fill('checkout');
    await admin.waitForURL(/search=checkout/);
    await rows.getByRole('link', { name: 'www.example.com' }).waitFor({ state: 'detached' });
    expect(await rows.locator('tr').count()).toBe(1);
    await screenshot(admin, 'certificates');
  }, 60_000);

  it('creates a Local CA issuer and a certificate, renews it and sees it become Active without reloading', async () => {
    await go(admin, '/issuers', 'Issuers');
    await admin.getByRole('button', { name: 'New issuer' }).click();
    const form = admin.getByRole('form', { name: 'New issuer' });
    // The API's 400s are shown on the fields they name.
    await form.getByRole('button', { name: 'Create' }).click();
    await form.locator('#issuer-form-name-error').waitFor();
    await form.getByLabel('Name', { exact: true }).fill('Browser Local CA');
    await form.getByLabel('Validity (days) (optional)').fill('5000');
    await form.getByRole('button', { name: 'Create' }).click();
    await form.locator('#issuer-form-validity_days-error', { hasText: 'must be a whole number of days between 1 and 825' }).waitFor();
    expect(await form.locator('#issuer-form-name-error').count()).toBe(0);
    await form.getByLabel('Validity (days) (optional)').fill('30');
    await form.getByRole('button', { name: 'Create' }).click();
    await admin.getByRole('cell', { name: 'Browser Local CA', exact: true }).waitFor();

    await go(admin, '/certificates', 'Certificates');
    await admin.getByRole('button', { name: 'New certificate' }).click();
    const certForm = admin.getByRole('form', { name: 'New certificate' });
    await certForm.getByLabel('Name', { exact: true }).fill('browser-made');
    await certForm.getByLabel('Common name', { exact: true }).fill('browser-made.example.com');
    await certForm.getByLabel('Owner').selectOption({ label: 'Alice Martin' });
    await certForm.getByLabel('Issuer').selectOption({ label: 'Browser Local CA' });
    // "Create only" leaves it Pending (the default button, "Create and issue", is tested in web-chromium-usability).
    await certForm.getByRole('button', { name: 'Create only' }).click();
    await admin.getByRole('link', { name: 'browser-made' }).click();
    await admin.getByRole('heading', { name: 'browser-made' }).waitFor();
    await admin.locator('.page-head .badge', { hasText: 'Pending' }).waitFor();

    const navigations: string[] = [];
    admin.on('framenavigated', (f) => f === admin.mainFrame() && navigations.push(f.url()));
    await admin.getByRole('button', { name: 'Renew' }).click();
    await admin.locator('.page-head .badge', { hasText: 'Active' }).waitFor({ timeout: 30_000 });
    await admin.getByTestId('version-rows').locator('tr').first().waitFor();
    expect(navigations).toEqual([]);
    await screenshot(admin, 'certificate-detail');
  }, 90_000);

  it('a webhook alert to a closed loopback port goes dead, shows as "Retry 5/5" with its error, and leaves the tab once requeued', async () => {
    const port = await freePort();
    const created = await post(p, '/api/v1/notifications', {
      type: 'RenewalFailure', channel: 'Webhook', recipient: `http://127.0.0.1:${port}/hook`, message: 'renewal failed for www.example.com',
    });
    const id = created.id as string;
    const deadline = Date.now() + 30_000;
    while ((await p.db.query('SELECT status FROM notification_events WHERE id = $1', [id])).rows[0].status !== 'dead') {
      if (Date.now() > deadline) throw new Error(`notification ${id} did not go dead`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const { rows } = await p.db.query('SELECT last_error FROM notification_events WHERE id = $1', [id]);
    const lastError = rows[0].last_error as string;

    await go(admin, '/notifications', 'Notifications');
    await admin.getByRole('tab', { name: /Dead letter/ }).click();
    const row = admin.getByTestId(`notification-${id}`);
    await row.waitFor();
    expect(await row.textContent()).toContain('Retry 5/5');
    expect(await row.getByTitle(lastError).count()).toBe(1);
    await screenshot(admin, 'notifications-dead-letter');

    // The endpoint is back: the requeued alert is delivered and stays out of the dead letter.
    const server: Server = createServer((_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      await admin.getByRole('button', { name: `Requeue notification ${id}` }).click();
      await row.waitFor({ state: 'detached' });
      const until = Date.now() + 15_000;
      while ((await p.db.query('SELECT status FROM notification_events WHERE id = $1', [id])).rows[0].status !== 'sent') {
        if (Date.now() > until) throw new Error(`notification ${id} was not delivered after the requeue`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 90_000);

  it('audit: "Verify chain" shows OK', async () => {
    await go(admin, '/audit', 'Audit trail');
    await admin.getByRole('button', { name: 'Verify chain' }).click();
    const result = admin.getByTestId('verify-result');
    await result.waitFor();
    expect(await result.textContent()).toMatch(/^OK — \d+ rows, hash chain intact$/);
    // No CERTCTL_AUDIT_HMAC_KEY on this api: the page says the chain is only an unkeyed hash.
    expect(await admin.getByTestId('verify-warning').textContent()).toContain('CERTCTL_AUDIT_HMAC_KEY is not set');
  }, 60_000);

  it('a viewer key sees the inventory but no mutating control on any page', async () => {
    const viewer = await signIn(await keyWithRole(p, 'viewer'));
    const MUTATING = /^(New |Renew|Revoke|Requeue|Delete |Edit |Approve|Reject|Claim|Dismiss|Scan now|Create$|Create key|Create and issue|Create only|Test |Dry run|Retire)/;
    for (const [path, heading] of [
      ['/certificates', 'Certificates'], ['/certificates/mc-www', 'www.example.com'], ['/issuers', 'Issuers'], ['/targets', 'Deployment targets'],
      ['/jobs', 'Jobs'], ['/notifications?tab=dead', 'Notifications'], ['/discovery', 'Discovery'], ['/settings', 'Settings'],
      ['/policies', 'Policies'], ['/profiles', 'Certificate profiles'], ['/owners', 'Owners'], ['/fleet', 'Fleet'], ['/issuers/iss-local', 'Local CA'],
    ] as const) {
      await go(viewer, path, heading);
      await viewer.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).waitFor(); // access known
      const labels = await viewer.getByRole('button').evaluateAll((buttons) => buttons.map((b) => b.getAttribute('aria-label') ?? b.textContent ?? ''));
      expect(labels.filter((l) => MUTATING.test(l.trim())), path).toEqual([]);
      expect(await viewer.getByRole('checkbox').count(), path).toBe(0);
    }
    await go(viewer, '/certificates', 'Certificates');
    await viewer.getByTestId('certificate-rows').getByRole('link', { name: 'www.example.com', exact: true }).waitFor();
    await screenshot(viewer, 'viewer-certificates');
  }, 120_000);

  it('every page loads without an error state, and axe-core finds no serious or critical violation on it, in light and dark themes; no CSP violation', async () => {
    const pages: Array<[string, string]> = [
      ['/', 'Dashboard'], ['/certificates', 'Certificates'], ['/certificates/mc-www', 'www.example.com'], ['/issuers', 'Issuers'],
      ['/targets', 'Deployment targets'], ['/agents', 'Agents'], ['/jobs', 'Jobs'], ['/notifications?tab=dead', 'Notifications'],
      ['/discovery', 'Discovery'], ['/audit', 'Audit trail'], ['/settings', 'Settings'],
      ['/policies', 'Policies'], ['/profiles', 'Certificate profiles'], ['/owners', 'Owners'], ['/fleet', 'Fleet'], ['/issuers/iss-local', 'Local CA'],
      ['/reports/readiness', 'Readiness for shorter lifetimes'], ['/reissue', 'Re-issue drill'], ['/approvals', 'Approvals'],
      // Issue 24's pages (their actions are walked in web-chromium-pages.e2e-spec.ts).
      ['/certificates/mc-www?tab=revocation', 'www.example.com'], ['/certificates/mc-www?tab=timeline', 'www.example.com'],
      ['/jobs/job-demo-reports-failed', 'Job job-demo-reports-failed'], ['/targets/target-edge-files', 'edge-files'], ['/teams', 'Teams'],
      ['/agent-groups', 'Agent groups'], ['/health-checks', 'Health checks'], ['/digest', 'Notification digest'],
      ['/observability', 'Observability'], ['/short-lived', 'Short-lived certificates'],
    ];
    const found: Record<string, unknown> = {};
    for (const theme of ['light', 'dark']) {
      await admin.evaluate((t) => localStorage.setItem('certctl.theme', t), theme);
      for (const [path, heading] of pages) {
        await go(admin, path, heading);
        if (path === '/') await admin.getByTestId('dashboard-charts').locator('svg').first().waitFor();
        // Every panel of the page loaded: a wrong path or shape would show "Could not load".
        const loadErrors = await admin.locator('.state-error').allTextContents();
        if (loadErrors.length) found[`${theme} ${path} load errors`] = loadErrors;
        const violations = await seriousAxeViolations(admin);
        if (violations.length) found[`${theme} ${path}`] = violations;
      }
    }
    const login = await (await browser.newContext()).newPage();
    await login.goto(`${base}/login`);
    await login.getByLabel('API key').waitFor();
    const loginViolations = await seriousAxeViolations(login);
    if (loginViolations.length) found['/login'] = loginViolations;
    await login.context().close();
    expect(found).toEqual({});
    expect(cspViolations).toEqual([]);
  }, 300_000);
});
