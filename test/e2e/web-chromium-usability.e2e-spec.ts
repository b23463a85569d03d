import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp } from '@certctl/observability';
import { freePort } from '@certctl/testing';
import { SCANNER_FEATURES } from '../../apps/scanner/src/scanner.features';
import { seedDemoInventory } from '../../scripts/demo-seed';
import { chromiumMissing, launchChromium, openConsolePage, screenshot, seriousAxeViolations, signInWithApiKey } from '../support/chromium';
import { keyWithRole, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';
import { ensureWebBuild } from '../support/web-build';

/**
 * Issue 24's console defects, each driven as a person would in real Chromium against the real api, orchestrator
 * and scanner on the demo inventory: what the page shows, the requests it makes, the history it leaves, where
 * keyboard focus goes, the tab title, and the layout at 1360 and at 375 px wide.
 */
const missing = chromiumMissing();
if (missing && process.env.CI !== 'true') console.warn(`[web-chromium-usability.e2e] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

/** WCAG contrast ratio of two CSS rgb() colours. */
function contrast(a: string, b: string): number {
  const lum = (css: string) => {
    const [r, g, bl] = css.match(/[\d.]+/g)!.slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

suite('web console usability (issue 24 defects) in Chromium', () => {
  let p: PlatformHarness;
  let scanner: INestApplication;
  let browser: Browser;
  let base: string;
  let admin: Page;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and Chromium cannot run: ${missing}`);
    ensureWebBuild();
    p = await startPlatform({
      // A budget other than certctl's 5, so a hard-coded 5 shows.
      CERTCTL_NOTIFICATION_MAX_ATTEMPTS: '2',
      CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true',
      CERTCTL_NETWORK_SCAN_DUE_CHECK_INTERVAL: '1h',
      CERTCTL_READ_CACHE_TTL: '1ms',
    });
    scanner = await createWorkerApp('scanner', SCANNER_FEATURES);
    await scanner.init();
    await seedDemoInventory(p.env.databaseUrl, mkdtempSync(join(tmpdir(), 'certctl-web-usability-')));
    // One revoked certificate (its expiry five months away) for the detail page and the dashboard's legend.
    await p.db.query(`UPDATE managed_certificates SET status = 'Revoked', revoked_at = now() - interval '2 hours', revocation_reason = 'keyCompromise' WHERE id = 'mc-checkout'`);
    const port = await freePort();
    await p.app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    browser = await launchChromium();
    admin = await signIn(p.adminKey);
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await scanner?.close();
    await p?.close();
  });

  async function signIn(key: string, viewport = { width: 1360, height: 900 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    await signInWithApiKey(page, base, key);
    return page;
  }

  const go = (page: Page, path: string, heading: string | RegExp) => openConsolePage(page, base, path, heading);

  it('defect 1: a revoked certificate shows its revocation date and reason, no green expiry, and no reason selector or Revoke', async () => {
    await go(admin, '/certificates/mc-checkout', 'checkout.example.com');
    await admin.getByTestId('revoked-banner').waitFor();
    expect(await admin.getByTestId('revocation-reason').textContent()).toBe('keyCompromise');
    const revokedAt = (await p.db.query(`SELECT revoked_at FROM managed_certificates WHERE id = 'mc-checkout'`)).rows[0].revoked_at as Date;
    expect(await admin.getByTestId('revoked-at').locator('time').getAttribute('datetime')).toBe(revokedAt.toISOString());
    expect(await admin.getByTestId('revoked-banner').textContent()).toMatch(/Revoked 2 hours ago — reason: keyCompromise/);
    // Nothing on the page reads as a healthy expiry, and nothing offers to revoke it again.
    expect(await admin.locator('.expiry-ok').count()).toBe(0);
    expect(await admin.getByLabel('Reason').count()).toBe(0);
    expect(await admin.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    await screenshot(admin, 'usability-revoked-detail');
  }, 60_000);

  it('defect 2: a dead-letter row shows the server\'s delivery budget (2 here), not a hard-coded 5', async () => {
    await p.db.query(
      `INSERT INTO notification_events (id, type, channel, recipient, message, status, retry_count, last_error)
       VALUES ('n-usability-dead', 'RenewalFailure', 'Webhook', 'http://127.0.0.1:9/hook', 'renewal failed', 'dead', 2, 'gave up after 2 attempts: refused')`,
    );
    await go(admin, '/notifications?tab=dead', 'Notifications');
    const row = admin.getByTestId('notification-n-usability-dead');
    await row.waitFor();
    expect(await row.textContent()).toContain('Retry 2/2');
    expect(await row.textContent()).not.toContain('/5');
  }, 60_000);

  it('defect 3: after "Scan now" completes, the target\'s row shows its last scan and count without a reload', async () => {
    const closedPort = await freePort();
    const name = unique('usability-scan');
    await post(p, '/api/v1/network-scan-targets', { name, cidrs: ['127.0.0.1/32'], ports: [closedPort], scan_interval_hours: 24 });
    await go(admin, '/discovery', 'Discovery');
    const row = admin.getByRole('row').filter({ has: admin.getByRole('cell', { name, exact: true }) });
    expect(await row.getByRole('cell').nth(3).textContent()).toBe('never');
    const navigations: string[] = [];
    admin.on('framenavigated', (f) => f === admin.mainFrame() && navigations.push(f.url()));
    await row.getByText('Scan now', { exact: true }).click();
    await row.getByRole('status').filter({ hasText: /^Completed/ }).waitFor({ timeout: 30_000 });
    // No click on Close, no reload: the row itself catches up.
    await row.getByRole('cell').nth(3).locator('time').waitFor({ timeout: 10_000 });
    expect(await row.getByRole('cell').nth(4).textContent()).toBe('0');
    expect(navigations).toEqual([]);
  }, 90_000);

  it('defect 4: "New certificate" says how it gets issued, explains an empty form in plain words, and "Create and issue" issues it', async () => {
    await go(admin, '/certificates', 'Certificates');
    await admin.getByRole('button', { name: 'New certificate' }).click();
    const form = admin.getByRole('form', { name: 'New certificate' });
    expect(await form.textContent()).toContain('Create only leaves the certificate Pending');
    await form.getByRole('button', { name: 'Create and issue' }).click();
    await form.locator('#cert-owner-error').waitFor();
    const messages = await form.locator('.field-error').allTextContents();
    expect(messages).toEqual([
      'Give the certificate a name, e.g. "www-prod".',
      'Enter the domain name the certificate is for, e.g. www.example.com.',
      'Choose who owns this certificate (alerts go to them).',
      'Choose the issuer that will sign it.',
    ]);
    for (const m of messages) expect(m).not.toMatch(/_id|must be|letters/);

    const name = unique('issued-now');
    await form.getByLabel('Name', { exact: true }).fill(name);
    await form.getByLabel('Common name', { exact: true }).fill(`${name}.example.com`);
    await form.getByLabel('Owner').selectOption({ label: 'Alice Martin' });
    await form.getByLabel('Issuer').selectOption({ label: 'Local CA' });
    await form.getByRole('button', { name: 'Create and issue' }).click();
    await form.waitFor({ state: 'detached' });
    // Issued without anyone pressing Renew.
    const deadline = Date.now() + 30_000;
    let status = '';
    while (status !== 'Active') {
      status = (await p.db.query('SELECT status FROM managed_certificates WHERE name = $1', [name])).rows[0]?.status ?? '';
      if (Date.now() > deadline) throw new Error(`${name} was not issued (status ${status})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);

  it('defect 5: typing "production" in the environment filter makes one request and no history entry per key', async () => {
    await go(admin, '/certificates', 'Certificates');
    await admin.getByTestId('certificate-rows').locator('tr').first().waitFor();
    const historyBefore = await admin.evaluate(() => history.length);
    const environments: string[] = [];
    const listen = (req: { url(): string }) => {
      const url = new URL(req.url());
      if (url.pathname === '/api/v1/certificates' && url.searchParams.has('environment')) environments.push(url.searchParams.get('environment')!);
    };
    admin.on('request', listen);
    try {
      await admin.getByLabel('Environment').pressSequentially('production', { delay: 40 });
      await admin.waitForURL(/environment=production/);
      await admin.getByText('No certificates match.').waitFor();
    } finally {
      admin.off('request', listen);
    }
    // One list request for the whole word (a prefetch of page 2 would also say "production"), none per letter.
    expect(environments.filter((e) => e !== 'production')).toEqual([]);
    expect(environments.filter((e) => e === 'production').length).toBe(1);
    expect(await admin.evaluate(() => history.length)).toBe(historyBefore);
  }, 60_000);

  it('defect 6: Approve/Reject are not offered on a job the signed-in key requested; they are on someone else\'s', async () => {
    const me = (await p.http.get('/api/v1/auth/me').set(p.auth())).body as { actor: string };
    await p.db.query(
      `INSERT INTO jobs (id, type, certificate_id, status, requested_by) VALUES
         ('job-own-request', 'Renewal', 'mc-www', 'AwaitingApproval', $1),
         ('job-other-request', 'Renewal', 'mc-api', 'AwaitingApproval', 'someone-else')`,
      [me.actor],
    );
    await go(admin, '/jobs?status=AwaitingApproval', 'Jobs');
    await admin.getByRole('button', { name: 'Approve job job-other-request' }).waitFor();
    await admin.getByTestId('own-request-job-own-request').waitFor();
    expect(await admin.getByRole('button', { name: 'Approve job job-own-request' }).count()).toBe(0);
    expect(await admin.getByRole('button', { name: 'Reject job job-own-request' }).count()).toBe(0);
  }, 60_000);

  it('defect 7: the confirm dialog keeps focus inside on Tab and Shift+Tab, Escape closes it after any number of Tabs, focus returns', async () => {
    await go(admin, '/certificates/mc-www', 'www.example.com');
    const revoke = admin.getByRole('button', { name: 'Revoke', exact: true });
    await revoke.click();
    const dialog = admin.getByRole('dialog');
    await dialog.waitFor();
    const focusInDialog = () => admin.evaluate(() => document.activeElement?.closest('[role="dialog"]') !== null);
    for (let i = 0; i < 5; i++) {
      await admin.keyboard.press('Tab');
      expect(await focusInDialog(), `after Tab ${i + 1}`).toBe(true);
    }
    for (let i = 0; i < 3; i++) {
      await admin.keyboard.press('Shift+Tab');
      expect(await focusInDialog(), `after Shift+Tab ${i + 1}`).toBe(true);
    }
    await admin.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await admin.evaluate(() => document.activeElement?.textContent)).toBe('Revoke');
    // Nothing was revoked.
    expect((await p.db.query(`SELECT status FROM managed_certificates WHERE id = 'mc-www'`)).rows[0].status).toBe('Active');
  }, 60_000);

  it('defect 8: an unknown certificate id says so once, and asks for none of its panels', async () => {
    const asked: string[] = [];
    const listen = (req: { url(): string }) => req.url().includes('/api/v1/certificates/no-such-cert') && asked.push(new URL(req.url()).pathname);
    admin.on('request', listen);
    try {
      await go(admin, '/certificates/no-such-cert', 'Certificate not found');
    } finally {
      admin.off('request', listen);
    }
    expect(await admin.getByText('Could not load').count()).toBe(0);
    expect(await admin.getByRole('alert').filter({ hasText: 'no certificate with the id no-such-cert' }).count()).toBe(1);
    expect(await admin.locator('.state-error').count()).toBe(1);
    expect([...new Set(asked)]).toEqual(['/api/v1/certificates/no-such-cert']);
    expect(await admin.title()).toBe('Certificate not found · certctl');
  }, 60_000);

  it('defect 9: every page has its own tab title; /policies, /profiles, /owners, /fleet and /issuers/:id are real pages', async () => {
    const issuerId = (await p.db.query(`SELECT id, name FROM issuers ORDER BY created_at LIMIT 1`)).rows[0] as { id: string; name: string };
    for (const [path, heading, title] of [
      ['/', 'Dashboard', 'Dashboard'], ['/certificates', 'Certificates', 'Certificates'], ['/certificates/mc-www', 'www.example.com', 'www.example.com'],
      ['/issuers', 'Issuers', 'Issuers'], [`/issuers/${issuerId.id}`, issuerId.name, issuerId.name], ['/targets', 'Deployment targets', 'Deployment targets'],
      ['/agents', 'Agents', 'Agents'], ['/fleet', 'Fleet', 'Fleet'], ['/jobs', 'Jobs', 'Jobs'], ['/notifications', 'Notifications', 'Notifications'],
      ['/discovery', 'Discovery', 'Discovery'], ['/audit', 'Audit trail', 'Audit trail'], ['/settings', 'Settings', 'Settings'],
      ['/policies', 'Policies', 'Policies'], ['/profiles', 'Certificate profiles', 'Certificate profiles'], ['/owners', 'Owners', 'Owners'],
    ] as const) {
      await go(admin, path, heading);
      await admin.waitForFunction((t) => document.title === t, `${title} · certctl`);
      expect(await admin.getByText('No such page.').count(), path).toBe(0);
      expect(await admin.locator('.state-error').allTextContents(), path).toEqual([]);
    }
    await admin.getByTestId('owner-rows').getByRole('cell', { name: 'Alice Martin', exact: true }).waitFor();
    await go(admin, '/profiles', 'Certificate profiles');
    await admin.getByTestId('profile-rows').locator('tr').first().waitFor();
    await go(admin, `/issuers/${issuerId.id}`, issuerId.name);
    await admin.getByTestId('issuer-config').getByText(issuerId.id).waitFor();
    await admin.getByTestId('issuer-crl').waitFor();
    await admin.goto(`${base}/no/such/route`);
    await admin.getByText('No such page.').waitFor();
    expect(await admin.title()).toBe('No such page · certctl');
  }, 120_000);

  it('defect 9: owners can be created, edited and deleted from their page; a policy and a profile created from theirs', async () => {
    await go(admin, '/owners', 'Owners');
    await admin.getByRole('button', { name: 'New owner' }).click();
    let form = admin.getByRole('form', { name: 'New owner' });
    await form.getByLabel('Name', { exact: true }).fill('Dana Ops');
    await form.getByLabel('Email').fill('not-an-email');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.locator('#owner-form-email-error').waitFor();
    await form.getByLabel('Email').fill('dana@example.com');
    await form.getByRole('button', { name: 'Save' }).click();
    const rows = admin.getByTestId('owner-rows');
    await rows.getByRole('cell', { name: 'Dana Ops', exact: true }).waitFor();
    await admin.getByRole('button', { name: 'Edit Dana Ops' }).click();
    form = admin.getByRole('form', { name: 'Edit owner Dana Ops' });
    await form.getByLabel('Email').fill('dana.ops@example.com');
    await form.getByRole('button', { name: 'Save' }).click();
    await rows.getByRole('cell', { name: 'dana.ops@example.com' }).waitFor();
    await admin.getByRole('button', { name: 'Delete Dana Ops' }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await rows.getByRole('cell', { name: 'Dana Ops', exact: true }).waitFor({ state: 'detached' });
    expect((await p.db.query(`SELECT count(*)::int AS n FROM owners WHERE name = 'Dana Ops'`)).rows[0].n).toBe(0);

    await go(admin, '/policies', 'Policies');
    await admin.getByRole('button', { name: 'New policy' }).click();
    const policyForm = admin.getByRole('form', { name: 'New policy' });
    await policyForm.getByLabel('Name', { exact: true }).fill('Only example.com');
    await policyForm.getByLabel('Type').selectOption('AllowedDomains');
    await policyForm.getByLabel('Config (JSON)').fill('{"domains": ["example.com"]}');
    await policyForm.getByRole('button', { name: 'Save' }).click();
    await admin.getByTestId('policy-rows').getByRole('cell', { name: 'Only example.com', exact: true }).waitFor();
    expect((await p.db.query(`SELECT type, config FROM policy_rules WHERE name = 'Only example.com'`)).rows[0]).toEqual({ type: 'AllowedDomains', config: { domains: ['example.com'] } });

    await go(admin, '/profiles', 'Certificate profiles');
    await admin.getByRole('button', { name: 'New profile' }).click();
    const profileForm = admin.getByRole('form', { name: 'New profile' });
    await profileForm.getByLabel('Name', { exact: true }).fill('Web servers, 90 days');
    await profileForm.getByLabel('Maximum lifetime (seconds)').fill(String(90 * 86_400));
    await profileForm.getByLabel('Extended key usages').fill('serverAuth, clientAuth');
    await profileForm.getByRole('button', { name: 'Save' }).click();
    const profileRow = admin.getByTestId('profile-rows').getByRole('row').filter({ has: admin.getByRole('cell', { name: 'Web servers, 90 days', exact: true }) });
    await profileRow.waitFor();
    expect(await profileRow.textContent()).toContain('90 days');
    expect((await p.db.query(`SELECT max_ttl_seconds, allowed_ekus FROM certificate_profiles WHERE name = 'Web servers, 90 days'`)).rows[0])
      .toEqual({ max_ttl_seconds: 90 * 86_400, allowed_ekus: ['serverAuth', 'clientAuth'] });
  }, 90_000);

  it('defect 9: the fleet page counts agents by status, version and OS and retires one', async () => {
    const agent = await post(p, '/api/v1/agents', { name: unique('fleet-agent'), hostname: 'edge-1', os: 'linux', architecture: 'amd64', version: '9.9.9' });
    await go(admin, '/fleet', 'Fleet');
    const overview = admin.getByTestId('fleet-overview');
    await overview.getByText('9.9.9').waitFor();
    await overview.getByText('linux / amd64').first().waitFor();
    await admin.getByRole('button', { name: `Retire ${agent.name}` }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Retire' }).click();
    await admin.getByTestId('fleet-rows').getByRole('cell', { name: agent.name as string, exact: true }).waitFor({ state: 'detached' });
    expect((await p.db.query('SELECT retired_at FROM agents WHERE id = $1', [agent.id])).rows[0].retired_at).not.toBeNull();
  }, 60_000);

  it('defect 9: a viewer sees the new pages without any write control', async () => {
    const viewer = await signIn(await keyWithRole(p, 'viewer'));
    const issuerId = (await p.db.query(`SELECT id, name FROM issuers ORDER BY created_at LIMIT 1`)).rows[0] as { id: string; name: string };
    for (const [path, heading] of [['/policies', 'Policies'], ['/profiles', 'Certificate profiles'], ['/owners', 'Owners'], ['/fleet', 'Fleet'], [`/issuers/${issuerId.id}`, issuerId.name]] as const) {
      await go(viewer, path, heading);
      await viewer.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).waitFor(); // access known
      const labels = await viewer.getByRole('button').evaluateAll((buttons) => buttons.map((b) => b.getAttribute('aria-label') ?? b.textContent ?? ''));
      expect(labels.filter((l) => /^(New |Edit |Delete |Retire|Test )/.test(l.trim())), path).toEqual([]);
    }
  }, 90_000);

  it('defect 10: a key revoked mid-session returns to sign-in saying why', async () => {
    const created = await post(p, '/api/v1/auth/keys', { name: unique('soon-revoked'), role: 'operator' });
    const page = await signIn(created.key as string);
    await p.http.delete(`/api/v1/auth/keys/${created.id}`).set(p.auth()).expect(200);
    // The api may serve a just-revoked key from its 5 s resolve cache (a request racing the revoke re-caches it):
    // wait until the api itself refuses the key, then act in the browser.
    const until = Date.now() + 10_000;
    while ((await p.http.get('/api/v1/auth/me').set(p.auth(created.key as string))).status !== 401) {
      if (Date.now() > until) throw new Error('the revoked key is still accepted after 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    // A background refresh may already have been refused and signed the tab out (the link is then gone); otherwise
    // the click makes the page ask the api. Either way the sign-in page must say why.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Certificates' }).click({ timeout: 5_000 }).catch(() => undefined);
    const reason = page.getByTestId('signed-out-reason');
    await reason.waitFor();
    expect(await reason.textContent()).toContain('no longer accepts this API key: it was revoked or has expired');
    await page.getByLabel('API key').waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'usability-signed-out-reason');
  }, 60_000);

  it('also: the dashboard lays its 8 cards in 2 rows of 4 and its 4 charts in 2 rows of 2 (at 1360 and at 1700 px)', async () => {
    const rowsOf = (selector: string) =>
      admin.locator(selector).evaluateAll((els) => {
        const byTop = new Map<number, number>();
        for (const el of els) {
          const top = Math.round(el.getBoundingClientRect().top);
          byTop.set(top, (byTop.get(top) ?? 0) + 1);
        }
        return [...byTop.values()];
      });
    try {
      for (const width of [1360, 1700]) {
        await admin.setViewportSize({ width, height: 900 });
        await go(admin, '/', 'Dashboard');
        await admin.getByTestId('dashboard-charts').locator('svg').first().waitFor();
        expect(await rowsOf('[data-testid="summary-cards"] > li'), `cards at ${width}`).toEqual([4, 4]);
        expect(await rowsOf('[data-testid="dashboard-charts"] > figure'), `charts at ${width}`).toEqual([2, 2]);
      }
    } finally {
      await admin.setViewportSize({ width: 1360, height: 900 });
    }
  }, 60_000);

  it('also: the status pie\'s legend gives each status its count, and "Revoked" is readable in dark mode', async () => {
    await admin.evaluate(() => localStorage.setItem('certctl.theme', 'dark'));
    try {
      await go(admin, '/', 'Dashboard');
      const { rows } = await p.db.query(`SELECT status, count(*)::int AS n FROM managed_certificates WHERE status <> 'Archived' GROUP BY status`);
      const legend = admin.getByTestId('dashboard-charts').locator('figure').first().locator('.chart-legend li');
      await legend.first().waitFor();
      const texts = (await legend.allTextContents()).map((t) => t.trim()).sort();
      expect(texts).toEqual(rows.map((r: { status: string; n: number }) => `${r.status} (${r.n})`).sort());
      const revoked = admin.getByTestId('dashboard-charts').locator('.chart-legend li', { hasText: 'Revoked' });
      const [fg, bg] = await revoked.evaluate((el) => {
        const text = el.querySelector('.legend-text') ?? el;
        return [getComputedStyle(text).color, getComputedStyle(el.closest('.card')!).backgroundColor];
      });
      expect(contrast(fg, bg)).toBeGreaterThanOrEqual(4.5);
    } finally {
      await admin.evaluate(() => localStorage.setItem('certctl.theme', 'light'));
    }
  }, 60_000);

  it('also: at 375 px no page scrolls sideways, the navigation folds behind Menu, relative times stay on one line; axe finds nothing serious', async () => {
    const phone = await signIn(p.adminKey, { width: 375, height: 740 });
    const issuerId = (await p.db.query(`SELECT id, name FROM issuers ORDER BY created_at LIMIT 1`)).rows[0] as { id: string; name: string };
    const found: Record<string, unknown> = {};
    for (const [path, heading] of [
      ['/', 'Dashboard'], ['/certificates', 'Certificates'], ['/certificates/mc-www', 'www.example.com'], ['/issuers', 'Issuers'],
      [`/issuers/${issuerId.id}`, issuerId.name], ['/targets', 'Deployment targets'], ['/agents', 'Agents'], ['/fleet', 'Fleet'], ['/jobs', 'Jobs'],
      ['/notifications', 'Notifications'], ['/discovery', 'Discovery'], ['/audit', 'Audit trail'], ['/settings', 'Settings'],
      ['/policies', 'Policies'], ['/profiles', 'Certificate profiles'], ['/owners', 'Owners'],
    ] as const) {
      await go(phone, path, heading);
      if (path === '/') await phone.getByTestId('dashboard-charts').locator('svg').first().waitFor();
      const widths = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
      if (widths.scroll > widths.inner) {
        // Name the outermost elements that stick out, so a failure says what to fix.
        const culprits = await phone.evaluate(() => {
          const out: string[] = [];
          for (const el of document.querySelectorAll<HTMLElement>('body *')) {
            const parent = el.parentElement;
            if (el.getBoundingClientRect().right > innerWidth + 1 && parent && parent.getBoundingClientRect().right <= innerWidth + 1) {
              out.push(`${el.tagName.toLowerCase()}.${el.className} (${Math.round(el.getBoundingClientRect().right)})`);
            }
          }
          return out.slice(0, 5);
        });
        found[`${path} scrolls sideways`] = { ...widths, culprits };
      }
      const wrapped = await phone.locator('main time').evaluateAll((els) => els.filter((el) => el.getClientRects().length > 1).map((el) => el.textContent));
      if (wrapped.length) found[`${path} wrapped times`] = wrapped;
      const violations = await seriousAxeViolations(phone);
      if (violations.length) found[`${path} axe`] = violations;
      if (path === '/certificates') await screenshot(phone, 'usability-375-certificates');
    }
    expect(found).toEqual({});

    // The navigation is folded until Menu opens it; following a link folds it again.
    const nav = phone.getByRole('navigation', { name: 'Main' });
    expect(await nav.isVisible()).toBe(false);
    const menu = phone.getByRole('button', { name: 'Menu' });
    await menu.click();
    expect(await menu.getAttribute('aria-expanded')).toBe('true');
    await nav.getByRole('link', { name: 'Jobs' }).click();
    await phone.getByRole('heading', { name: 'Jobs', exact: true }).waitFor();
    await nav.waitFor({ state: 'hidden' });
    expect(await menu.getAttribute('aria-expanded')).toBe('false');
  }, 180_000);
});
