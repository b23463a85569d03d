import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiHarness } from '../support/api-harness';
import { screenshot, seriousAxeViolations, signInWithApiKey } from '../support/chromium';
import { post, unique } from '../support/fixtures';
import { waitFor } from '../support/notifier-peers';
import { OidcConsole, chromiumSuite, startOidcConsole } from '../support/oidc-console';
import { OidcPeer } from '../support/oidc-provider-peer';

/**
 * Issue 23's first test: a real OpenID provider (oidc-provider) with two people in different groups, each group
 * mapped to `operator` within its own team. Each signs in through the provider's login page in Chromium, lands in
 * the console and sees only its team's certificates (the other team's, opened by its address, is "not found"), and
 * the Access page shows the mappings. Removing one mapping ends that person's console session within a second and
 * leaves the other's alone.
 */
const { missing, suite } = chromiumSuite('oidc-team-console.e2e');

const GROUP_A = 'payments-operators';
const GROUP_B = 'search-operators';

suite('team-scoped OpenID users in the console, in Chromium', () => {
  let oidc: OidcConsole | undefined;
  let p: ApiHarness;
  let peer: OidcPeer;
  let browser: Browser;
  let base: string;
  const ids: Record<string, string> = {};
  const certNames: Record<'A' | 'B', string[]> = { A: [], B: [] };
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    oidc = await startOidcConsole({
      missing,
      users: {
        pat: { email: 'pat@example.test', groups: [GROUP_A] },
        sam: { email: 'sam@example.test', groups: [GROUP_B] },
      },
      env: { CERTCTL_CONFIG_ENCRYPTION_KEY: 'oidc-team-e2e-config-key-0123456789abcdef' },
    });
    ({ p, peer, browser, base } = oidc);

    const issuer = (await post(p, '/api/v1/issuers', { name: unique('issuer'), type: 'GenericCA' })).id as string;
    for (const team of ['A', 'B'] as const) {
      ids[`team${team}`] = (await post(p, '/api/v1/teams', { name: unique(`team-${team}`) })).id;
      const owner = (await post(p, '/api/v1/owners', { name: unique('owner'), email: 'owner@example.test', team_id: ids[`team${team}`] })).id;
      for (let i = 0; i < 2; i++) {
        const name = `${unique(`team-${team.toLowerCase()}-svc`)}.example.test`;
        const cert = await post(p, '/api/v1/certificates', { name, common_name: name, environment: 'prod', owner_id: owner, team_id: ids[`team${team}`], issuer_id: issuer });
        ids[`cert${team}${i}`] = cert.id;
        certNames[team].push(name);
      }
    }
    const provider = await post(p, '/api/v1/auth/oidc/providers', {
      name: 'Test IdP', issuer_url: peer.issuer, client_id: peer.clientId, client_secret: peer.clientSecret,
      redirect_uri: `${base}/auth/oidc/callback`, post_logout_redirect_uri: `${base}/login`, scopes: ['openid', 'email', 'profile', 'groups'],
    });
    for (const [team, group] of [['A', GROUP_A], ['B', GROUP_B]] as const) {
      ids[`mapping${team}`] = (await post(p, '/api/v1/auth/oidc/group-mappings', {
        provider_id: provider.id, group_name: group, role: 'operator', scope_type: 'team', scope_id: ids[`team${team}`],
      })).id;
    }
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await oidc?.close();
  });

  async function newPage(viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext(viewport ? { viewport } : {});
    contexts.push(context);
    return { context, page: await context.newPage() };
  }

  /** `login` signs in from the console's sign-in page through the provider's own login and consent pages. */
  async function signInThroughProvider(login: string): Promise<{ context: BrowserContext; page: Page; session: string }> {
    const { context, page } = await newPage();
    await page.goto(`${base}/`);
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
    await page.waitForURL((url) => url.href.startsWith(peer.issuer));
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.href.startsWith(base) && !url.pathname.startsWith('/auth/'));
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    const session = (await context.cookies(base)).find((c) => c.name === 'certctl_session')!.value;
    return { context, page, session };
  }

  async function meStatus(session: string): Promise<number> {
    return (await fetch(`${base}/api/v1/auth/me`, { headers: { cookie: `certctl_session=${session}`, accept: 'application/json' } })).status;
  }

  /** The certificate names the console's list shows, once it has loaded. */
  async function listedCertificates(page: Page): Promise<string[]> {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Certificates', exact: true }).click();
    await page.getByRole('heading', { name: 'Certificates' }).waitFor();
    const rows = page.getByRole('region', { name: 'Certificates' }).locator('tbody tr');
    await rows.first().waitFor();
    return (await rows.locator('td a').allTextContents()).sort();
  }

  const signedIn: Record<string, { page: Page; session: string }> = {};

  it('each person signs in through the provider and sees only their team\'s certificates; the other team\'s, by address, is not found', async () => {
    for (const [login, mine, theirs] of [['pat', 'A', 'B'], ['sam', 'B', 'A']] as const) {
      const { page, session } = await signInThroughProvider(login);
      signedIn[login] = { page, session };
      expect(await listedCertificates(page)).toEqual([...certNames[mine]].sort());
      // Operator within the team: may issue there, may not manage access.
      await page.getByRole('button', { name: 'New certificate' }).waitFor();
      expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Access' }).count()).toBe(0);
      expect(await seriousAxeViolations(page)).toEqual([]);
      await screenshot(page, `oidc-team-${mine}-certificates`);

      await page.goto(`${base}/certificates/${ids[`cert${theirs}0`]}`);
      await page.getByRole('heading', { name: 'Certificate not found' }).waitFor();
      await page.goto(`${base}/certificates/${ids[`cert${mine}0`]}`);
      await page.getByRole('heading', { name: certNames[mine][0] }).waitFor();
    }
  }, 120_000);

  it('the Access page shows both mappings with their team; axe clean, fits 375 px', async () => {
    const { page } = await newPage();
    await signInWithApiKey(page, base, p.adminKey);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Access' }).click();
    const mappings = page.getByTestId('mapping-rows');
    for (const group of [GROUP_A, GROUP_B]) await mappings.getByRole('row').filter({ hasText: group }).filter({ hasText: 'team team-' }).waitFor();
    await page.getByTestId('role-rows').getByRole('row', { name: /^operator built-in/ }).waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);

    const phone = (await newPage({ width: 375, height: 740 })).page;
    await signInWithApiKey(phone, base, p.adminKey);
    await phone.goto(`${base}/access`);
    await phone.getByTestId('mapping-rows').getByRole('row').first().waitFor();
    const widths = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.inner);
    expect(await seriousAxeViolations(phone)).toEqual([]);
    await screenshot(phone, 'access-375');
  }, 90_000);

  it('removing team A\'s group mapping ends pat\'s console session within a second; sam keeps working', async () => {
    const { page, session } = signedIn.pat!;
    expect(await meStatus(session)).toBe(200);
    const started = Date.now();
    const removed = await fetch(`${base}/api/v1/auth/oidc/group-mappings/${ids.mappingA}`, { method: 'DELETE', headers: p.auth() });
    expect(removed.status).toBe(204);
    await waitFor('pat\'s session to be refused', async () => (await meStatus(session)) === 401, 1000);
    expect(Date.now() - started).toBeLessThan(1000);

    // The open console notices on its next request: back to the sign-in page, saying why.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByText(/You were signed out because your session ended/).waitFor();
    await page.getByLabel('API key').waitFor();

    expect(await meStatus(signedIn.sam!.session)).toBe(200);
    expect(await listedCertificates(signedIn.sam!.page)).toEqual([...certNames.B].sort());
  }, 90_000);
});
