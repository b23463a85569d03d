import * as acme from 'acme-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { AcmeServerHarness, startAcmeServer } from '../support/acme-server-harness';
import { chromiumMissing, launchChromium, screenshot, seriousAxeViolations, signInWithApiKey } from '../support/chromium';
import { keyWithRole } from '../support/fixtures';
import { ensureWebBuild } from '../support/web-build';

/**
 * The console's ACME page in real Chromium, on accounts and orders a real ACME client (acme-client) made through
 * the ACME server in apps/responder: an EAB-bound account (its team, owner and contact), an order whose http-01
 * challenge the orchestrator failed to validate (nothing listens on the validation port; one attempt), and EAB keys
 * created (HMAC shown once, then usable by a client), listed and revoked. A viewer sees no write control.
 */
const missing = chromiumMissing();
if (missing && process.env.CI !== 'true') console.warn(`[web-chromium-acme.e2e] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('web console ACME page in Chromium', () => {
  let h: AcmeServerHarness;
  let browser: Browser;
  let base: string;
  let admin: Page;
  let eabProfileId: string;
  let accountUrl: string;
  let orderUrl: string;
  let challengeUrl: string;
  const contexts: BrowserContext[] = [];

  const client = async (profileId: string, eab?: { kid: string; hmacKey: string }) => new acme.Client({
    directoryUrl: `${h.base}/acme/profile/${profileId}/directory`, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: eab,
    backoffAttempts: 50, backoffMin: 50, backoffMax: 500,
  });
  const lastPart = (url: string) => url.split('/').pop()!;

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and Chromium cannot run: ${missing}`);
    ensureWebBuild();
    h = await startAcmeServer('challenge', {
      CERTCTL_ACME_SERVER_HTTP01_PORT: String(await freePort()), CERTCTL_ACME_SERVER_VALIDATION_ATTEMPTS: '1',
    });
    eabProfileId = await h.addProfile({ mode: 'challenge', eab: true, name: 'acme-eab-profile' });
    const c = await client(eabProfileId, await h.eabKey({ profileId: eabProfileId }));
    await c.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.test'] });
    accountUrl = c.getAccountUrl();
    const order = await c.createOrder({ identifiers: [{ type: 'ip', value: '127.0.0.1' }] });
    orderUrl = order.url;
    const [authz] = await c.getAuthorizations(order);
    const challenge = authz!.challenges.find((x) => x.type === 'http-01')!;
    challengeUrl = challenge.url;
    await c.completeChallenge(challenge);
    await expect(c.waitForValidStatus(challenge)).rejects.toThrow();
    // The order turns invalid when next read, as a client polling it does.
    expect((await c.getOrder(order)).status).toBe('invalid');

    const port = await freePort();
    await h.p.app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    browser = await launchChromium();
    admin = await signIn(h.p.adminKey);
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await h?.close();
  });

  async function signIn(key: string, viewport = { width: 1360, height: 900 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    await signInWithApiKey(page, base, key);
    return page;
  }

  async function openAcme(page: Page): Promise<void> {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'ACME', exact: true }).click();
    await page.getByRole('heading', { name: 'ACME', exact: true }).waitFor();
    await page.getByText('Loading…').first().waitFor({ state: 'detached' }).catch(() => undefined);
  }

  it('shows the account (status, team, owner, contact) and the order down to its failed challenge and the error', async () => {
    await openAcme(admin);
    const account = admin.getByTestId(`acme-account-${lastPart(accountUrl)}`);
    await account.waitFor();
    const accountText = await account.textContent();
    for (const part of ['valid', h.inv.teamId, h.inv.ownerId, 'mailto:ops@example.test', eabProfileId]) expect(accountText).toContain(part);

    const order = admin.getByTestId(`acme-order-${lastPart(orderUrl)}`);
    await order.waitFor();
    expect(await order.getByRole('cell').nth(1).textContent()).toMatch(/^invalid/);
    expect(await order.textContent()).toContain('127.0.0.1');
    const challenge = admin.getByTestId(`acme-challenge-${lastPart(challengeUrl)}`);
    const row = (await challenge.textContent())!;
    expect(row).toMatch(/^http-01 invalid/);
    // The problem the orchestrator recorded: the connection to the validation port was refused.
    const { rows: [stored] } = await h.p.db.query(`SELECT error FROM acme_challenges WHERE id = $1`, [lastPart(challengeUrl)]);
    expect(stored.error.type).toBe('urn:ietf:params:acme:error:connection');
    expect(row).toContain(`connection: ${stored.error.detail}`);
    await screenshot(admin, 'acme-page');
  }, 60_000);

  it('creates an EAB key whose HMAC is shown once and registers an account, then revokes a key', async () => {
    await openAcme(admin);
    const form = admin.getByRole('form', { name: 'New EAB key' });
    await form.getByRole('button', { name: 'Create EAB key' }).click();
    await form.locator('#eab-profile-error').waitFor();
    await form.getByLabel('ACME profile').selectOption({ label: 'acme-eab-profile' });
    await form.getByLabel('Owner').selectOption(h.inv.ownerId);
    await form.getByLabel('Team (optional)').selectOption(h.inv.teamId);
    await form.getByRole('button', { name: 'Create EAB key' }).click();
    const kid = (await admin.getByTestId('new-eab-kid').textContent())!;
    const hmacKey = (await admin.getByTestId('new-eab-hmac').textContent())!;
    expect(hmacKey).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    await admin.getByTestId(`eab-key-${kid}`).waitFor();
    expect(await admin.getByTestId(`eab-key-${kid}`).textContent()).toContain('active');

    // The key works for a real ACME client, and the page no longer has the HMAC once reloaded.
    const c = await client(eabProfileId, { kid, hmacKey });
    await c.createAccount({ termsOfServiceAgreed: true });
    await admin.reload();
    await admin.getByTestId(`eab-key-${kid}`).getByText('bound').waitFor();
    expect(await admin.content()).not.toContain(hmacKey);

    // Revoke an unused key through the confirm dialog; a client can no longer register with it.
    const unused = await h.eabKey({ profileId: eabProfileId });
    await admin.reload();
    await admin.getByRole('button', { name: `Revoke EAB key ${unused.kid}` }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await admin.getByTestId(`eab-key-${unused.kid}`).getByText('revoked').waitFor();
    expect(await admin.getByRole('button', { name: `Revoke EAB key ${unused.kid}` }).count()).toBe(0);
    await expect((await client(eabProfileId, unused)).createAccount({ termsOfServiceAgreed: true })).rejects.toThrow();
  }, 90_000);

  it('a viewer sees accounts, orders and keys but no control that writes', async () => {
    const viewer = await signIn(await keyWithRole(h.p, 'viewer'));
    await openAcme(viewer);
    await viewer.getByTestId(`acme-account-${lastPart(accountUrl)}`).waitFor();
    await viewer.getByRole('region', { name: 'EAB keys' }).locator('tbody tr').first().waitFor();
    await viewer.getByTestId(`acme-order-${lastPart(orderUrl)}`).waitFor();
    expect(await viewer.getByRole('form', { name: 'New EAB key' }).count()).toBe(0);
    expect(await viewer.getByRole('button', { name: /Revoke|Create/ }).count()).toBe(0);
  }, 60_000);

  it('at 375 px the page does not scroll sideways (wide tables scroll inside their own box)', async () => {
    const phone = await signIn(h.p.adminKey, { width: 375, height: 740 });
    await phone.goto(`${base}/acme`);
    await phone.getByTestId(`acme-order-${lastPart(orderUrl)}`).waitFor();
    const widths = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.inner);
    await screenshot(phone, 'acme-page-375');
  }, 60_000);

  it('has no serious or critical axe violations, light and dark', async () => {
    const found: Record<string, unknown> = {};
    for (const theme of ['light', 'dark']) {
      await admin.evaluate((t) => localStorage.setItem('certctl.theme', t), theme);
      await admin.goto(`${base}/acme`);
      await admin.getByRole('heading', { name: 'ACME', exact: true }).waitFor();
      await admin.getByTestId(`acme-order-${lastPart(orderUrl)}`).waitFor();
      const violations = await seriousAxeViolations(admin);
      if (violations.length) found[theme] = violations;
    }
    expect(found).toEqual({});
  }, 60_000);
});
