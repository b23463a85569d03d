import { accessSync, constants, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import axe from 'axe-core';
import { Browser, chromium, Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
/** Screenshots of the browser tests: a test artefact, git-ignored. */
export const ARTIFACTS_DIR = resolve(__dirname, '..', '..', 'test-artifacts', 'web');

/** Why Chromium tests cannot run here, or undefined when they can. Under CI=true the caller fails instead of skipping. */
export function chromiumMissing(): string | undefined {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return undefined;
  } catch {
    return `${CHROMIUM_PATH} not found (Debian: apt-get install -y chromium)`;
  }
}

/** Debian's Chromium, headless, driven by playwright-core (never a downloaded browser). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core in the page (evaluated through the DevTools protocol, so the page's CSP still forbids inline
 * scripts) and returns the serious and critical violations.
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axe.source);
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: typeof axe }).axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact ?? null, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Signs `page` in through the console's API-key form and waits for the dashboard. */
export async function signInWithApiKey(page: Page, base: string, key: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
}

/** Opens a console route and waits for its heading and for its first data to have loaded. */
export async function openConsolePage(page: Page, base: string, path: string, heading: string | RegExp): Promise<void> {
  await page.goto(`${base}${path}`);
  await page.getByRole('heading', { name: heading, exact: typeof heading === 'string' }).first().waitFor();
  await page.getByText('Loading…').first().waitFor({ state: 'detached' }).catch(() => undefined);
}

export interface ListPageTiming {
  /** What the list showed first: its rows, its empty state, or an error ("Could not load …"). */
  shown: 'rows' | 'empty' | 'error';
  /** performance.now() in the page (ms since navigation started) when a table row (or the empty/error state) first showed in main. */
  firstRowMs: number;
  /** When main also had nothing loading: no "Loading…", no table marked aria-busy (its query still fetching). */
  interactiveMs: number;
}

/**
 * Opens a list page in a signed-in tab and times it in the page itself, polled every animation frame, so the
 * figures are when each condition first held, not when the test process heard of it. Used by the 100,000
 * certificate pass (with a generous bound) and by bench:web (which reports the figures).
 */
export async function listPageReady(page: Page, base: string, path: string, heading: string | RegExp, timeoutMs = 30_000): Promise<ListPageTiming> {
  await page.goto(`${base}${path}`, { waitUntil: 'domcontentloaded' });
  const timing = await page.waitForFunction(() => {
    const w = window as unknown as { __certctlFirst?: { at: number; shown: string } };
    const main = document.querySelector('main');
    if (!main) return false;
    if (w.__certctlFirst === undefined) {
      const shown = main.querySelector('tbody tr') ? 'rows' : main.querySelector('.state-error') ? 'error' : main.querySelector('.state-empty') ? 'empty' : undefined;
      if (shown) w.__certctlFirst = { at: performance.now(), shown };
    }
    if (w.__certctlFirst === undefined) return false;
    const settled = !main.querySelector('[aria-busy="true"]') && !(main.textContent ?? '').includes('Loading…');
    return settled ? { shown: w.__certctlFirst.shown, firstRowMs: w.__certctlFirst.at, interactiveMs: performance.now() } : false;
  }, undefined, { polling: 'raf', timeout: timeoutMs });
  await page.getByRole('heading', { name: heading, exact: typeof heading === 'string' }).first().waitFor();
  return (await timing.jsonValue()) as ListPageTiming;
}
