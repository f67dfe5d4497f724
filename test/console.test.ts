import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createTestApp } from './support/app.ts';
import { accessibilityViolations, launchBrowser } from './support/browser.ts';

// The web console in a real browser (Debian's Chromium through playwright-core) against a real hub on a
// real port: sign in, browse, edit with a dry run at every change, refusals at the field, a conflict
// instead of an overwrite, rollback from history, a change made elsewhere showing up on the open page,
// and a reader who is offered nothing to change. Screenshots of each page at desktop and phone width go
// to test-results/console/ (not committed); axe-core checks each page.

const ROOT = path.resolve(import.meta.dirname, '..');
const SHOTS = path.join(ROOT, 'test-results', 'console');
const PILOT = 'polygon-historical-downloader';
const author = { actor: 'console-test' };

let hub: TestApp;
let url: string;
let browser: Browser;
let readerToken: string;

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist', 'console', 'manifest.json'))) execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build-console.mjs')], { stdio: 'inherit' });
  mkdirSync(SHOTS, { recursive: true });
  hub = await createTestApp('pglite');
  url = await hub.app.start();
  browser = await launchBrowser();
  const { data } = await hub.graphql(`mutation { createToken(input: { name: "console-reader", role: READER }) { ... on CreatedToken { token } } }`);
  readerToken = data.createToken.token;
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await hub?.close();
});

async function openConsole(token = hub.adminToken, viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
  // axe-core is added to the page as a script: past the console's own policy, which allows none inline.
  const context = await browser.newContext({ viewport, bypassCSP: true });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  await page.goto(`${url}/console`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Services' }).waitFor();
  return { context, page };
}

async function openConfig(page: Page, service: string, environment = 'production'): Promise<void> {
  await page.goto(`${url}/console#/config/${service}/${environment}`);
  await page.getByTestId('config-version').waitFor();
}

const live = async (service: string) => hub.app.store.getConfig(service);

describe('the console', () => {
  it('is served by the hub: compressed, cached by content, under 150 KB gzipped, and nothing from elsewhere', async () => {
    const page = await fetch(`${url}/console`, { headers: { 'accept-encoding': 'gzip' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-encoding')).toBe('gzip');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((match) => match[1]!);
    expect(assets).toHaveLength(2);
    let wire = Number((await fetch(`${url}/console`, { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } })).headers.get('content-length'));
    for (const asset of assets) {
      const answer = await fetch(`${url}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(answer.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(answer.headers.get('content-encoding')).toBe('gzip');
      wire += Number(answer.headers.get('content-length'));
      const again = await fetch(`${url}${asset}`, { headers: { 'accept-encoding': 'gzip', 'if-none-match': answer.headers.get('etag')! } });
      expect(again.status).toBe(304);
    }
    console.log(`console first page on the wire (gzip): ${(wire / 1024).toFixed(1)} KiB`);
    expect(wire).toBeLessThan(150 * 1024);
    expect((await fetch(`${url}/console/assets/../../package.json`)).status).toBe(404);
    expect((await fetch(`${url}/console/assets/console-NOPE0000.js`)).status).toBe(404);

    // The page loads only from the hub.
    const { context, page: browserPage } = await openConsole();
    const foreign: string[] = [];
    browserPage.on('request', (request) => {
      if (!request.url().startsWith(url) && !request.url().startsWith(url.replace('http', 'ws'))) foreign.push(request.url());
    });
    await browserPage.reload();
    await browserPage.getByRole('heading', { name: 'Services' }).waitFor();
    expect(foreign).toEqual([]);
    await context.close();
  });

  it('signs in with a token kept in the tab only, lists the services with their instances, and opens one rendered from its schema', async () => {
    await hub.app.store.instances.report({ service: PILOT, instance: 'pod-a', status: 'READY', appliedVersion: (await live(PILOT)).version });
    await hub.app.store.instances.report({ service: PILOT, instance: 'pod-b', status: 'READY', appliedVersion: 1, rejectedVersion: 99, error: 'batch_size too large' });
    const { context, page } = await openConsole();
    expect(page.url()).not.toContain(hub.adminToken);
    expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain('chub_');
    const row = page.getByRole('row').filter({ hasText: PILOT });
    await expect.poll(() => row.textContent()).toMatch(/1 applied.*1 refused/);
    await page.getByRole('searchbox').fill('tick');
    await expect.poll(() => page.getByRole('row').filter({ hasText: PILOT }).count()).toBe(0);
    await page.getByRole('link', { name: 'tick-aggregator' }).first().waitFor();

    await openConfig(page, PILOT);
    const batch = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /^operational\.batch_size/ }) });
    await expect.poll(() => batch.textContent()).toContain('Bars requested per API call.');
    expect(await batch.textContent()).toContain('≥ 1, ≤ 50000');
    await page.getByText('Raw JSON').click();
    expect(JSON.parse((await page.getByTestId('raw-json').textContent())!)).toEqual((await live(PILOT)).config);
    await page.getByRole('tab', { name: 'Fleet' }).click();
    await expect.poll(() => page.getByRole('row').filter({ hasText: 'pod-b' }).textContent()).toContain('batch_size too large');
    await context.close();
  });

  it('edits a setting through the form: a dry run at each change, the diff, a reason, and the write', async () => {
    const before = await live(PILOT);
    const { context, page } = await openConsole();
    await openConfig(page, PILOT);
    await page.getByRole('button', { name: 'Edit settings' }).click();
    const field = page.getByLabel('operational.batch_size', { exact: true });
    await field.fill('7000');
    const diff = page.getByRole('table', { name: 'Changes' });
    await expect.poll(() => diff.textContent()).toMatch(/operational\.batch_size.*7000/);
    // Out of bounds: refused at the field by the hub's own check.
    await field.fill('999999');
    await expect.poll(() => page.locator('.field.invalid').first().textContent()).toMatch(/batch_size.*(50000|maximum)|must be <= 50000/);
    expect(await page.getByRole('button', { name: /^Save/ }).isDisabled()).toBe(true);
    await field.fill('7000');
    await expect.poll(() => page.locator('.field.invalid').count()).toBe(0);
    // A reason is required.
    expect(await page.getByRole('button', { name: /^Save/ }).isDisabled()).toBe(true);
    await page.getByLabel('Reason (kept in the audit log)').fill('bigger batches from the console');
    await expect.poll(() => page.getByRole('button', { name: /^Save/ }).isDisabled()).toBe(false);
    await page.screenshot({ path: path.join(SHOTS, 'editor-desktop.png'), fullPage: true });
    await page.getByRole('button', { name: /^Save/ }).click();
    await page.getByText(`Saved as version ${before.version + 1}.`).waitFor();
    const after = await live(PILOT);
    expect(after).toMatchObject({ version: before.version + 1, updatedBy: 'admin' });
    expect((after.config as { operational: { batch_size: number } }).operational.batch_size).toBe(7000);
    const [change] = await hub.app.store.history.listChanges({ service: PILOT, environment: 'production' }, { take: 1 });
    expect(change!.reason).toBe('bigger batches from the console');
    await context.close();
  });

  it('refuses a secret pasted into a field at that field, and writes nothing', async () => {
    const service = 'console-secrets';
    await hub.app.store.createConfig({ service, config: { database: { host: 'db.internal', pool_size: 10 } } }, author);
    const { context, page } = await openConsole();
    await openConfig(page, service);
    await page.getByRole('button', { name: 'Edit settings' }).click();
    await page.getByLabel('database.host', { exact: true }).fill('postgres://app:s3cr3t-Pa55w0rd@db.internal:5432/trades');
    const refusal = page.locator('.field.invalid').filter({ has: page.getByLabel('database.host', { exact: true }) });
    // At the field, naming the rule that fired.
    await expect.poll(() => refusal.textContent(), { timeout: 10_000 }).toMatch(/\(rule [a-z0-9-]+\)/);
    await page.getByLabel('Reason (kept in the audit log)').fill('trying');
    await page.waitForTimeout(500);
    expect(await page.getByRole('button', { name: /^Save/ }).isDisabled()).toBe(true);
    expect((await live(service)).version).toBe(1);
    await context.close();
  });

  it('shows a change made meanwhile as a conflict, with what changed, and overwrites nothing', async () => {
    const service = 'console-conflict';
    await hub.app.store.createConfig({ service, config: { limits: { rate: 10, burst: 20 } } }, author);
    const { context, page } = await openConsole();
    await openConfig(page, service);
    await page.getByRole('button', { name: 'Edit settings' }).click();
    await page.getByLabel('limits.rate', { exact: true }).fill('15');
    await page.getByLabel('Reason (kept in the audit log)').fill('more rate');
    await expect.poll(() => page.getByRole('button', { name: /^Save/ }).isDisabled()).toBe(false);
    // Someone else writes version 2 while the form is open.
    await hub.app.store.updateConfig({ service, patch: { limits: { burst: 50 } } }, { actor: 'someone-else', reason: 'burst' });
    await page.getByRole('button', { name: /^Save/ }).click();
    const conflict = page.getByRole('alert').filter({ hasText: 'Conflict' });
    await expect.poll(() => conflict.textContent()).toMatch(/version 2 was written since you began editing version 1/);
    await expect.poll(() => conflict.getByRole('table', { name: 'Changes' }).textContent()).toMatch(/limits\.burst.*20.*50/);
    await page.screenshot({ path: path.join(SHOTS, 'conflict-desktop.png'), fullPage: true });
    expect(await live(service)).toMatchObject({ version: 2, config: { limits: { rate: 10, burst: 50 } } });
    await context.close();
  });

  it('rolls back from the history with a reason and a preview, and compares two versions', async () => {
    const service = 'console-rollback';
    await hub.app.store.createConfig({ service, config: { mode: 'safe', workers: 2 } }, author);
    await hub.app.store.updateConfig({ service, patch: { mode: 'fast', workers: 8 } }, { actor: 'someone', reason: 'go fast' });
    const { context, page } = await openConsole();
    await openConfig(page, service);
    await page.getByRole('tab', { name: 'History' }).click();
    await expect.poll(() => page.getByRole('row').filter({ hasText: 'go fast' }).textContent()).toMatch(/v2.*update.*someone.*mode, workers/);
    await page.getByRole('row').filter({ hasText: 'v1' }).getByLabel('from').check();
    await page.getByRole('row').filter({ hasText: 'go fast' }).getByLabel('to').check();
    await expect.poll(() => page.getByRole('region', { name: 'Version 1 compared with version 2' }).textContent()).toMatch(/mode.*safe.*fast/);
    await page.getByRole('button', { name: 'Roll back to v1' }).click();
    const panel = page.getByRole('region', { name: 'Roll back to version 1' });
    await expect.poll(() => panel.getByRole('table', { name: 'Changes' }).textContent()).toMatch(/mode.*fast.*safe/);
    expect(await panel.getByRole('button', { name: 'Roll back', exact: true }).isDisabled()).toBe(true);
    await panel.getByLabel('Reason').fill('fast was too fast');
    await panel.getByRole('button', { name: 'Roll back', exact: true }).click();
    await expect.poll(() => page.getByTestId('config-version').textContent()).toBe('version 3');
    expect(await live(service)).toMatchObject({ version: 3, config: { mode: 'safe', workers: 2 } });
    const [change] = await hub.app.store.history.listChanges({ service, environment: 'production' }, { take: 1 });
    expect(change).toMatchObject({ action: 'ROLLBACK', reason: 'fast was too fast', changedBy: 'admin' });
    await context.close();
  });

  it('restores a deleted config from its page', async () => {
    const service = 'console-deleted';
    await hub.app.store.createConfig({ service, config: { enabled: true } }, author);
    await hub.app.store.deleteConfig({ service }, { actor: 'someone', reason: 'retired' });
    const { context, page } = await openConsole();
    await page.goto(`${url}/console#/config/${service}/production`);
    await page.getByText(/Deleted by someone/).waitFor();
    await page.getByLabel('Reason').fill('needed after all');
    await page.getByRole('button', { name: 'Restore' }).click();
    await expect.poll(() => page.getByTestId('config-version').textContent()).toBe('version 3');
    expect(await live(service)).toMatchObject({ version: 3, deletedAt: null, config: { enabled: true } });
    await context.close();
  });

  it('approves a change request with its diff, as someone other than its author', async () => {
    const environment = 'console-guarded';
    const service = 'console-request';
    await hub.app.store.createConfig({ service, environment, config: { limit: 1 } }, author);
    await hub.app.store.protection.protect(environment, 1, { actor: 'admin' });
    try {
      const written = await hub.app.store.updateConfig({ service, environment, patch: { limit: 2 } }, { actor: 'alice', reason: 'more room' });
      const id = written.request!.id;
      const { context, page } = await openConsole();
      await page.getByRole('link', { name: 'Change requests' }).click();
      const request = page.getByRole('article', { name: `Change request ${id}` });
      await expect.poll(() => request.textContent()).toMatch(/By alice.*more room.*0 of 1 approvals/);
      await expect.poll(() => request.getByRole('table', { name: 'Changes' }).textContent()).toMatch(/limit.*2/);
      await request.getByRole('button', { name: 'Approve' }).click();
      await expect.poll(async () => (await hub.app.store.getConfig(service, environment)).version).toBe(2);
      expect((await hub.app.store.requests.find(id))!.state).toBe('applied');
      await context.close();
    } finally {
      await hub.app.store.protection.unprotect(environment);
    }
  });

  it('shows a change made through the API on the open page as it lands', async () => {
    const service = 'console-live';
    await hub.app.store.createConfig({ service, config: { interval_seconds: 60 } }, author);
    const { context, page } = await openConsole();
    await openConfig(page, service);
    // The page's subscription is open once the socket is up: give it its first moment.
    await page.waitForTimeout(300);
    const started = Date.now();
    await hub.graphql(`mutation { updateConfig(input: { service: "${service}", patch: { interval_seconds: 5 }, reason: "faster" }) { __typename } }`);
    await page.getByTestId('config-version').filter({ hasText: 'version 2' }).waitFor({ timeout: 5_000 });
    const elapsed = Date.now() - started;
    console.log(`a change through the API visible on the open console page after ${elapsed} ms`);
    await expect.poll(() => page.getByRole('row').filter({ hasText: 'interval_seconds' }).textContent()).toContain('5');
    await context.close();
  });

  it('offers a reader nothing to change, and the API refuses a reader that tries anyway', async () => {
    const { context, page } = await openConsole(readerToken);
    expect(await page.getByRole('link', { name: 'Tokens' }).count()).toBe(0);
    await openConfig(page, PILOT);
    expect(await page.getByRole('button', { name: 'Edit settings' }).count()).toBe(0);
    await page.getByRole('tab', { name: 'History' }).click();
    await page.getByRole('table', { name: 'Versions, newest first' }).waitFor();
    expect(await page.getByRole('button', { name: /^Roll back/ }).count()).toBe(0);
    const refused = await page.evaluate(async ([service, token]) => {
      const response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: `mutation { updateConfig(input: { service: "${service}", patch: { x: 1 } }) { __typename } }` }),
      });
      return (await response.json()) as { data: { updateConfig: { __typename: string } } };
    }, [PILOT, readerToken] as const);
    expect(refused.data.updateConfig.__typename).toBe('ForbiddenError');
    await context.close();
  });

  it('lets an admin create a token (shown once) and revoke it', async () => {
    const { context, page } = await openConsole();
    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.getByLabel('Name').fill('console-made');
    await page.getByLabel('Role').selectOption('EDITOR');
    await page.getByLabel('Services').fill('console-*');
    await page.getByRole('button', { name: 'Create' }).click();
    const shown = await page.locator('code.secret').textContent();
    expect(shown).toMatch(/^chub_/);
    expect((await hub.app.tokens.authenticate(shown!))?.name).toBe('console-made');
    await page.getByRole('button', { name: 'Revoke console-made' }).click();
    await expect.poll(async () => (await hub.app.tokens.authenticate(shown!).catch(() => null))?.name ?? null).toBeNull();
    await context.close();
  });

  it('has no serious accessibility violations on any page, at desktop and phone width (screenshots saved)', async () => {
    const service = 'console-pages';
    await hub.app.store.createConfig({ service, config: { batch: 100, flags: { beta: false } } }, author);
    await hub.app.store.updateConfig({ service, patch: { batch: 200 }, rollout: { steps: [50, 100], bake: '1h' } }, { actor: 'release', reason: 'canary' });
    await hub.app.store.instances.report({ service, instance: 'pod-1', status: 'READY', appliedVersion: 2 });
    const found: Record<string, unknown[]> = {};
    for (const [width, height, name] of [
      [1280, 900, 'desktop'],
      [390, 844, 'phone'],
    ] as const) {
      const { context, page } = await openConsole(hub.adminToken, { width, height });
      const check = async (label: string) => {
        await page.screenshot({ path: path.join(SHOTS, `${label}-${name}.png`), fullPage: true });
        const violations = await accessibilityViolations(page);
        if (violations.length > 0) found[`${label}-${name}`] = violations;
      };
      await check('services');
      await openConfig(page, service);
      await check('settings');
      for (const tab of ['History', 'Fleet', 'Change safety']) {
        await page.getByRole('tab', { name: tab }).click();
        await page.waitForTimeout(300);
        await check(tab.toLowerCase().replace(' ', '-'));
      }
      await page.getByRole('tab', { name: 'Settings' }).click();
      await openConfig(page, PILOT);
      await page.getByRole('button', { name: 'Edit settings' }).click();
      await page.getByLabel('Reason (kept in the audit log)').waitFor();
      await check('editor');
      await page.getByRole('link', { name: 'Change requests' }).click();
      await page.getByRole('heading', { name: 'Change requests' }).waitFor();
      await check('requests');
      await page.getByRole('link', { name: 'Tokens' }).click();
      await page.getByRole('heading', { name: 'Tokens' }).waitFor();
      await check('tokens');
      await context.close();
    }
    if (Object.keys(found).length > 0) console.log(JSON.stringify(found, null, 2));
    expect(found).toEqual({});
  });
});
