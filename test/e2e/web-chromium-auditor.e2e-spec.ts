import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { ApiHarness, startApi } from '../support/api-harness';
import { chromiumMissing, launchChromium, openConsolePage, screenshot, seriousAxeViolations, signInWithApiKey } from '../support/chromium';
import { certificateBody, createInventory, keyWithRole, post } from '../support/fixtures';

/**
 * Issue 24 in Chromium, the parts the admin and viewer walks do not cover: an auditor key (the audit trail only)
 * signed in, and the Observability page's links to Grafana and Prometheus, shown when configured and absent when not.
 */
const missing = chromiumMissing();
if (missing && process.env.CI !== 'true') console.warn(`[web-chromium-auditor.e2e] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

const GRAFANA_URL = 'https://grafana.example.com/d/certctl/certctl-overview';
const PROMETHEUS_URL = 'http://prometheus.example.com:9090/graph';

/** Every button an auditor may see: the shell's, the audit trail's read-only actions and its pager. */
const AUDITOR_BUTTONS = /^(☰ Menu|Switch to (light|dark) theme|Sign out|Verify chain|Verifying…|Export CSV|Export NDJSON|Previous page|Next page)$/;

suite('web console as an auditor, and the observability links, in Chromium', () => {
  let api: ApiHarness;
  let browser: Browser;
  let base: string;
  let downloads: string;
  let certId: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and Chromium cannot run: ${missing}`);
    api = await startApi({ CERTCTL_GRAFANA_URL: GRAFANA_URL, CERTCTL_PROMETHEUS_URL: PROMETHEUS_URL });
    const port = await freePort();
    await api.app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    downloads = mkdtempSync(join(tmpdir(), 'certctl-web-auditor-'));
    // An audited inventory: every create below is an audit event (category config or cert_lifecycle).
    const inv = await createInventory(api);
    for (let i = 0; i < 3; i++) certId = (await post(api, '/api/v1/certificates', certificateBody(inv))).id as string;
    await api.flushAudit();
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await api?.close();
  });

  async function newPage(viewport = { width: 1360, height: 900 }): Promise<Page> {
    const context = await browser.newContext({ viewport, acceptDownloads: true });
    contexts.push(context);
    return context.newPage();
  }

  /** Signs an auditor in through the form: it lands on the audit trail, not the dashboard. */
  async function signInAuditor(page: Page, key: string): Promise<void> {
    await page.goto(`${base}/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Audit trail', exact: true }).waitFor();
    // Access known (attached: at 375 px the navigation is folded behind Menu).
    await page.locator('nav#main-nav a[href="/audit"]').waitFor({ state: 'attached' });
  }

  const auditRows = (page: Page) => page.getByRole('region', { name: 'Audit events' }).locator('tbody tr');
  const count = async (sql: string, params: unknown[] = []) => (await api.db.query(sql, params)).rows[0].n as number;

  it('an auditor lands on the audit trail, is offered only it, filters it and exports it as CSV and NDJSON; no write control, axe clean', async () => {
    const key = await keyWithRole(api, 'auditor');
    const page = await newPage();
    await signInAuditor(page, key);
    expect(new URL(page.url()).pathname).toBe('/audit');
    const nav = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
    expect(nav).toEqual(['Audit']);
    await auditRows(page).first().waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'auditor-audit');

    // Filters: a category, then a resource id; the rows and the URL follow.
    await page.getByLabel('Category').selectOption('config');
    await page.waitForURL(/category=config/);
    const configEvents = await count(`SELECT count(*)::int AS n FROM audit_events WHERE event_category = 'config'`);
    expect(configEvents).toBeGreaterThan(0);
    await expectRows(page, 4, 'config', Math.min(configEvents, 50));
    await page.getByLabel('Category').selectOption('');
    await page.getByLabel('Resource id').fill(certId);
    await page.waitForURL(new RegExp(`resource_id=${certId}`));
    const certEvents = await count(`SELECT count(*)::int AS n FROM audit_events WHERE resource_id = $1`, [certId]);
    expect(certEvents).toBeGreaterThan(0);
    await expectRows(page, 3, certId, certEvents);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'auditor-audit-filtered');

    // Exports of the filtered trail: one event per NDJSON line, one per CSV row after the header.
    const [ndjson] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export NDJSON' }).click()]);
    await ndjson.saveAs(join(downloads, 'auditor.ndjson'));
    const lines = readFileSync(join(downloads, 'auditor.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.resource_id)).toEqual(Array(certEvents).fill(certId));
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    await csv.saveAs(join(downloads, 'auditor.csv'));
    const rows = readFileSync(join(downloads, 'auditor.csv'), 'utf8').trim().split('\r\n');
    expect(rows[0]).toBe('timestamp,seq,id,actor,actor_type,action,event_category,resource_type,resource_id,details');
    expect(rows.slice(1).filter((r) => r.includes(certId))).toHaveLength(certEvents);
    expect(rows).toHaveLength(certEvents + 1);

    // "Verify chain" reads; the auditor may use it.
    await page.getByRole('button', { name: 'Verify chain' }).click();
    expect(await page.getByTestId('verify-result').textContent()).toMatch(/^OK — \d+ rows, hash chain intact$/);

    // No write control anywhere it can reach: only the shell's, the trail's read-only actions and the pager.
    const buttons = await page.getByRole('button').evaluateAll((els) => els.map((b) => (b.getAttribute('aria-label') ?? b.textContent ?? '').trim()));
    expect(buttons.filter((b) => !AUDITOR_BUTTONS.test(b))).toEqual([]);
    expect(await page.getByRole('checkbox').count()).toBe(0);
    expect(await page.getByRole('form').count()).toBe(0);
    expect(await seriousAxeViolations(page)).toEqual([]);
  }, 90_000);

  it('an auditor who opens an inventory page by its address sees none of the inventory, and the dashboard sends it to the audit trail', async () => {
    const key = await keyWithRole(api, 'auditor');
    const page = await newPage();
    await signInAuditor(page, key);
    const certName = (await api.db.query('SELECT name FROM managed_certificates WHERE id = $1', [certId])).rows[0].name as string;
    for (const [path, heading] of [['/certificates', 'Certificates'], [`/certificates/${certId}`, /./], ['/targets', 'Deployment targets'], ['/jobs', 'Jobs'], ['/settings', 'Settings']] as const) {
      await openConsolePage(page, base, path, heading);
      // The server refuses the inventory's requests (403): the page says it could not load, shows no row
      // (Settings holds no inventory: its links to the API documentation only).
      if (path !== '/settings') await page.locator('.state-error').first().waitFor();
      expect(await page.getByText(certName).count(), path).toBe(0);
      expect(await page.locator('main tbody tr').count(), path).toBe(0);
      expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents(), path).toEqual(['Audit']);
      if (path !== '/settings') expect(await page.locator('.state-error').first().textContent(), path).toMatch(/missing permission [a-z_.]+/);
      const buttons = await page.getByRole('button').evaluateAll((els) => els.map((b) => (b.getAttribute('aria-label') ?? b.textContent ?? '').trim()));
      expect(buttons.filter((b) => !AUDITOR_BUTTONS.test(b)), path).toEqual([]);
      expect(await seriousAxeViolations(page), path).toEqual([]);
    }
    await screenshot(page, 'auditor-settings-refused');
    await page.goto(`${base}/`);
    await page.waitForURL(/\/audit$/);
    await page.getByRole('heading', { name: 'Audit trail', exact: true }).waitFor();

    // At 375 px the trail fits the screen (its table scrolls inside its own box) and stays axe clean.
    const phone = await newPage({ width: 375, height: 740 });
    await signInAuditor(phone, key);
    await auditRows(phone).first().waitFor();
    const widths = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.inner);
    expect(await seriousAxeViolations(phone)).toEqual([]);
    await screenshot(phone, 'auditor-audit-375');
  }, 90_000);

  it('observability links to the configured Grafana and Prometheus, opened in a new tab; axe clean', async () => {
    const page = await newPage();
    await signInWithApiKey(page, base, api.adminKey);
    await openConsolePage(page, base, '/observability', 'Observability');
    const links = page.getByRole('navigation', { name: 'Metrics over time' });
    await links.waitFor();
    expect(await links.getByRole('link', { name: 'Open Grafana' }).getAttribute('href')).toBe(GRAFANA_URL);
    expect(await links.getByRole('link', { name: 'Open Prometheus' }).getAttribute('href')).toBe(PROMETHEUS_URL);
    expect(await links.getByRole('link').evaluateAll((els) => els.map((a) => [a.getAttribute('target'), a.getAttribute('rel')])))
      .toEqual([['_blank', 'noreferrer noopener'], ['_blank', 'noreferrer noopener']]);
    await page.getByTestId('metrics').locator('[data-metric="gauge.certificate_total"]').waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'observability-links');
  }, 60_000);

  it('observability shows no link when neither is configured (a second api without them)', async () => {
    const bare = await startApi({ CERTCTL_GRAFANA_URL: '', CERTCTL_PROMETHEUS_URL: '' });
    try {
      const port = await freePort();
      await bare.app.listen(port, '127.0.0.1');
      const bareBase = `http://127.0.0.1:${port}`;
      expect((await bare.http.get('/api/v1/metrics/links').set(bare.auth()).expect(200)).body).toEqual({});
      const page = await newPage();
      await signInWithApiKey(page, bareBase, bare.adminKey);
      // Both the links' answer and the metrics are in before looking for the links.
      const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/metrics/links') && r.ok());
      await page.goto(`${bareBase}/observability`);
      await answered;
      await page.getByTestId('metrics').locator('[data-metric="gauge.certificate_total"]').waitFor();
      expect(await page.getByTestId('metrics-links').count()).toBe(0);
      expect(await page.getByRole('link', { name: /Grafana|Prometheus/ }).count()).toBe(0);
      expect(await seriousAxeViolations(page)).toEqual([]);
      await page.context().close();
    } finally {
      await bare.close();
    }
  }, 90_000);
});

/** Waits until the audit table shows exactly `n` rows, each with `text` in its cell `column` (0 when, 1 actor, 2 action, 3 resource, 4 category). */
async function expectRows(page: Page, column: number, text: string, n: number): Promise<void> {
  await page.waitForFunction(
    ({ column, text, n }) => {
      const rows = [...document.querySelectorAll('[role="region"][aria-label="Audit events"] tbody tr')];
      return rows.length === n && rows.every((r) => (r.querySelectorAll('td')[column]?.textContent ?? '').includes(text));
    },
    { column, text, n },
    { timeout: 10_000 },
  );
}
