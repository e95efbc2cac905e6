// The operator's path through the dashboard in headless Chromium (Debian's
// `chromium`, as dashboard.test.ts): filter the failed tasks of one queue, open
// one, read its payload, stack and attempts, retry it and watch it succeed;
// select every failed task of a name and retry them all; look at the workers;
// create and delete a schedule; reload and still see the last hour's chart.
// Also: keyboard navigation, a 390 px wide screen, no request leaves the origin.
// Set UPDATE_DASHBOARD_SCREENSHOT=1 to refresh docs/dashboard-tasks.png and
// docs/dashboard-task.png.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { CourierHttpHandler } from '../../src/http/index.js';
import { type Courier, defineTask } from '../../src/index.js';
import { waitFor } from '../helpers/db.js';
import { chromiumAvailable, launchChromium, watchPage } from './browser.js';
import { apiCourier, BASE, listen, TOKEN } from './helpers.js';

const shots = process.env.UPDATE_DASHBOARD_SCREENSHOT ? join(import.meta.dirname, '../../docs') : mkdtempSync(join(tmpdir(), 'pgcourier-dash-'));

describe.skipIf(!chromiumAvailable)('dashboard: the operator\'s path', () => {
  let courier: Courier;
  let api: CourierHttpHandler;
  let server: Awaited<ReturnType<typeof listen>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const foreign: string[] = [];
  const upstream = { down: true };
  let signedIn = false;

  const countWhere = async (where: string, params: unknown[]) => {
    const { rows } = await courier.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${courier.names.tasks} WHERE ${where}`, params);
    return rows[0]?.n ?? 0;
  };

  beforeAll(async () => {
    ({ courier, api } = await apiCourier({ dashboard: { refresh: 0.4, title: 'pgcourier · ops' } }));
    courier.registerTask(
      defineTask({
        name: 'import_rows',
        queue: 'imports',
        maxRetries: 0,
        payload: z.object({ file: z.string(), rows: z.number() }),
        async handler({ file, rows }) {
          if (upstream.down) throw new Error(`storage bucket unreachable while reading ${file}`);
          return { imported: rows };
        },
      }),
    );
    courier.registerTask(
      defineTask({
        name: 'charge_card',
        queue: 'billing',
        maxRetries: 0,
        payload: z.object({ invoice: z.number() }),
        async handler({ invoice }) {
          if (upstream.down) throw new Error(`payment gateway answered 502 for invoice ${invoice}`);
          return { charged: invoice };
        },
      }),
    );
    // No built-in cleanup schedule: its hourly task would change the totals the page is checked against.
    await courier.start({ concurrency: 8, pollInterval: 0.2, lease: 5, cleanup: false });
    server = await listen(api.node);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    watchPage(page, server.url, (status, url) => (status === 401 && !signedIn) || (status === 400 && url.endsWith('/schedule-preview')), pageErrors, foreign);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await courier?.close({ grace: 5 });
    if (!process.env.UPDATE_DASHBOARD_SCREENSHOT) rmSync(shots, { recursive: true, force: true });
  });

  it('signs in and shows the overview', async () => {
    await courier.enqueueMany([
      { name: 'import_rows', payload: { file: 'customers-2025-03.csv', rows: 1200 } },
      { name: 'import_rows', payload: { file: 'orders-2025-03.csv', rows: 5400 } },
      { name: 'import_rows', payload: { file: 'refunds-2025-03.csv', rows: 90 } },
      ...Array.from({ length: 60 }, (_, i) => ({ name: 'charge_card', payload: { invoice: 9000 + i } })),
      ...Array.from({ length: 6 }, (_, i) => ({ name: 'send_welcome', payload: { userId: i } })),
    ]);
    await waitFor(async () => (await countWhere(`status = 'failed'`, [])) === 63, 60_000, 'the imports and charges to fail');
    await page.goto(`${server.url}${BASE}/`);
    await page.locator('#auth').waitFor({ state: 'visible', timeout: 30_000 });
    await page.fill('#token', TOKEN);
    signedIn = true;
    await page.click('#connect');
    await page.locator('#conn-text', { hasText: /^live$/ }).waitFor({ timeout: 30_000 });
  });

  it('filters the failed tasks of one queue, opens one, reads payload, stack and attempts, retries it and sees it succeed', async () => {
    await page.click('nav.tabs a[data-view="tasks"]');
    await page.selectOption('#f-queue', 'imports');
    await page.locator('#status-chips a[data-status="failed"] .n', { hasText: /^3$/ }).waitFor({ timeout: 30_000 });
    await page.click('#status-chips a[data-status="failed"]');
    expect(page.url()).toMatch(/#\/tasks\?.*queue=imports/);
    const rows = page.locator('[data-testid="task-row"]');
    await waitFor(async () => (await rows.count()) === 3 && (await page.url()).includes('status=failed'), 30_000, 'three failed imports listed');
    for (const badge of await rows.locator('td:nth-child(4) .badge').allTextContents()) expect(badge).toBe('failed');
    expect(await rows.first().locator('.error-cell').textContent()).toContain('storage bucket unreachable');
    await page.screenshot({ path: join(shots, 'dashboard-tasks.png'), fullPage: true });

    const id = (await rows.last().getAttribute('data-task')) as string;
    await rows.last().locator('[data-testid="task-link"]').click();
    expect(page.url()).toMatch(new RegExp(`#/tasks/${id}$`));
    const detail = page.locator('#task-detail');
    await detail.locator('[data-testid="attempt"]').first().waitFor({ timeout: 30_000 });
    expect(await detail.locator('pre.json').first().textContent()).toContain('"file": "customers-2025-03.csv"');
    expect(await detail.locator('[data-testid="attempt"]').count()).toBe(1);
    expect(await detail.locator('[data-testid="stack"]').textContent()).toMatch(/storage bucket unreachable while reading customers-2025-03\.csv\n\s+at /);
    expect(await detail.locator('[data-testid="detail-status"]').textContent()).toBe('failed');
    await page.screenshot({ path: join(shots, 'dashboard-task.png'), fullPage: true });

    upstream.down = false;
    await detail.locator('[data-testid="detail-retry"]').click();
    await detail.locator('[data-testid="detail-status"]', { hasText: /^succeeded$/ }).waitFor({ timeout: 60_000 });
    expect(await detail.locator('pre.json').nth(1).textContent()).toContain('"imported": 1200');
    // The timeline keeps the failed attempt and adds the successful one.
    expect(await detail.locator('[data-testid="attempt"] .badge').allTextContents()).toEqual(['failed', 'succeeded']);
    expect((await courier.getTask(id))?.status).toBe('succeeded');
  });

  it('deep-links to a task', async () => {
    const [first] = (await courier.listTasks({ name: 'send_welcome', limit: 1 })).tasks;
    await page.goto(`${server.url}${BASE}/#/tasks/${first?.id}`);
    // Only the hash changes, so the previous test's task may still be on screen: wait for this one.
    await page.locator('#task-detail h2', { hasText: /^send_welcome$/ }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#task-detail [data-testid="detail-status"]').textContent()).toBe('succeeded');
    expect(page.url()).toContain(`#/tasks/${first?.id}`);
  });

  it('selects every failed task of a name, beyond the first page, and retries them after a confirmation that states the count', async () => {
    await page.goto(`${server.url}${BASE}/#/tasks?name=charge_card&status=failed`);
    const rows = page.locator('[data-testid="task-row"]');
    await waitFor(async () => (await rows.count()) === 50, 30_000, 'a full first page');
    await page.check('#select-page');
    await page.locator('#select-matching', { hasText: 'Select all 60 matching this filter' }).click();
    await page.locator('#bulk-info', { hasText: '60 tasks selected' }).waitFor();
    await page.click('[data-testid="bulk-retry"]');
    const dialog = page.locator('#confirm');
    await dialog.waitFor({ state: 'visible' });
    expect(await page.locator('#confirm-text').textContent()).toBe('Retry 60 tasks?');
    await page.keyboard.press('Enter'); // the confirm button has the focus
    await page.locator('#toast', { hasText: '60 tasks retried' }).waitFor({ timeout: 30_000 });
    await waitFor(async () => (await countWhere(`name = 'charge_card' AND status = 'succeeded'`, [])) === 60, 60_000, 'the 60 charges to succeed');
    expect(await countWhere(`name = 'charge_card' AND status = 'failed'`, [])).toBe(0);
    expect(await countWhere(`name = 'import_rows' AND status = 'failed'`, [])).toBe(2); // another name: untouched
  });

  it('lists the live worker with its queues, concurrency, heartbeat, host and pid', async () => {
    await page.click('nav.tabs a[data-view="workers"]');
    const row = page.locator('[data-testid="worker"][data-state="alive"]');
    await row.first().waitFor({ timeout: 30_000 });
    const cells = await row.first().locator('td').allTextContents();
    expect(cells[0]).toBe(courier.workerId);
    expect(cells[3]).toBe(String(process.pid));
    expect(cells[4]).toBe('all');
    expect(cells[5]).toBe('8');
    expect(cells[7]).toMatch(/ago$/);
  });

  it('creates a schedule with validation and a next-run preview, then deletes it', async () => {
    await page.click('nav.tabs a[data-view="schedules"]');
    await page.fill('#s-name', 'nightly-import');
    await page.fill('#s-cron', 'every night');
    await page.locator('#s-preview.error').waitFor({ timeout: 30_000 });
    expect(await page.locator('#s-preview').textContent()).toMatch(/"cron" must be a valid cron expression/);
    await page.fill('#s-cron', '0 2 * * *');
    await page.fill('#s-timezone', 'Europe/Paris');
    await page.selectOption('#s-task', 'import_rows');
    await page.fill('#s-payload', '{"file": "nightly.csv", "rows": 10');
    await page.locator('#s-preview', { hasText: /^Next runs: / }).waitFor({ timeout: 30_000 });
    await page.click('#s-save');
    expect(await page.locator('#s-error').textContent()).toBe('Payload: not valid JSON');
    await page.fill('#s-payload', '{"file": "nightly.csv", "rows": 10}');
    await page.click('#s-save');
    const row = page.locator('[data-testid="schedule-row"][data-schedule="nightly-import"]');
    await row.waitFor({ timeout: 30_000 });
    expect(await row.textContent()).toContain('Europe/Paris → import_rows');
    expect((await courier.listSchedules()).find((s) => s.name === 'nightly-import')).toMatchObject({ cron: '0 2 * * *', timezone: 'Europe/Paris', payload: { file: 'nightly.csv', rows: 10 } });
    await row.locator('[data-testid="delete-schedule"]').click();
    expect(await page.locator('#confirm-text').textContent()).toBe('Delete schedule nightly-import?');
    await page.click('#confirm-ok');
    await row.waitFor({ state: 'detached', timeout: 30_000 });
    expect((await courier.listSchedules()).some((s) => s.name === 'nightly-import')).toBe(false);
  });

  it('still shows the last hour\'s chart after a reload', async () => {
    await page.click('nav.tabs a[data-view="overview"]');
    await page.reload();
    await page.locator('#chart polyline').waitFor({ timeout: 30_000 });
    expect(await page.locator('#chart').getAttribute('data-points')).toBe('60');
    // 67 succeeded (the retried import, 60 charges, 6 welcomes). Failures counted from finished rows: at
    // least the two imports still failed (a failure retried before the rollup counted it is not kept).
    const rate = page.locator('#rate', { hasText: /succeeded, \d+ failed in the last hour/ });
    await rate.waitFor({ timeout: 30_000 });
    const [, ok, bad] = /([\d,]+) succeeded, ([\d,]+) failed/.exec((await rate.textContent()) ?? '') ?? [];
    expect(Number(ok?.replace(/,/g, ''))).toBe(67);
    expect(Number(bad?.replace(/,/g, ''))).toBeGreaterThanOrEqual(2);
    const peak = await page.locator('#chart polyline').getAttribute('points');
    expect(peak?.split(' ').some((p) => Number(p.split(',')[1]) < 100)).toBe(true);
    expect(await page.locator('#queues tr[data-queue="billing"] svg.spark polyline').count()).toBeGreaterThanOrEqual(1);
  });

  it('edits a queue\'s limits, refusing a malformed rate', async () => {
    const row = page.locator('#queues tr[data-queue="imports"]');
    await row.locator('[data-testid="edit-limits"]').click();
    await page.fill('#l-concurrency', '3');
    await page.fill('#l-rate', 'fast');
    await page.click('#l-save');
    expect(await page.locator('#l-error').textContent()).toMatch(/Rate limit must look like/);
    await page.fill('#l-rate', '100/m');
    await page.click('#l-save');
    await row.locator('td:nth-child(9)', { hasText: '3 at once · 100/m' }).waitFor({ timeout: 30_000 });
    expect((await courier.listQueues()).find((q) => q.name === 'imports')).toMatchObject({ concurrency: 3, rateLimit: { limit: 100, per: 60 } });
  });

  it('keeps dark mode', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(dark).toBe('rgb(15, 19, 26)');
    expect(light).toBe('rgb(245, 246, 248)');
  });

  it('shows a bulk send that only failed without green, and its messages with their attempts', async () => {
    const messages = (courier as unknown as { messages: { registerProvider(p: unknown): void; sendBulk(input: unknown): Promise<string> } }).messages;
    messages.registerProvider({
      name: 'sms-down',
      channels: ['sms'],
      async send() {
        return { outcome: 'permanent', code: '30003', message: 'unreachable destination handset' };
      },
    });
    const recipients = Array.from({ length: 4 }, (_, i) => ({ to: `+1555555010${i}`, variables: { name: `user ${i}` } }));
    const batch = await messages.sendBulk({ channel: 'sms', name: 'outage-notice', provider: 'sms-down', template: 'Hi {{name}}, we are back', recipients });
    await page.goto(`${server.url}${BASE}/#/batches/${batch}`);
    const item = page.locator(`#batch-detail [data-testid="batch"][data-batch="${batch}"]`);
    await item.locator('.actions', { hasText: '0 sent · 4 failed · 4 total' }).waitFor({ timeout: 60_000 });
    const spans = await item.locator('.bar > span').evaluateAll((nodes) => nodes.map((n) => (n as unknown as { style: { width: string; background: string } }).style).map((s) => [s.width, s.background]));
    expect(spans).toEqual([
      ['0%', 'var(--succeeded)'],
      ['100%', 'var(--failed)'],
    ]);
    const rows = page.locator('[data-testid="message-row"]');
    await waitFor(async () => (await rows.count()) === 4, 30_000, 'the batch\'s four messages');
    await rows.first().locator('a').click();
    const detail = page.locator('#message-detail');
    await detail.locator('[data-testid="message-attempt"]').first().waitFor({ timeout: 30_000 });
    expect(await detail.locator('[data-testid="message-attempt"]').first().textContent()).toContain('unreachable destination handset');
  });

  it('is usable by keyboard and at 390 px wide', async () => {
    await page.focus('body');
    let reached = false;
    for (let i = 0; i < 15 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate('document.activeElement?.textContent')) === 'Workers';
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/workers$/);
    await page.setViewportSize({ width: 390, height: 844 });
    for (const hash of ['#/', '#/tasks?queue=imports', '#/workers', '#/schedules', '#/messages']) {
      await page.goto(`${server.url}${BASE}/${hash}`);
      await page.locator('#conn-text', { hasText: /^live$/ }).waitFor({ timeout: 30_000 });
      expect(await page.evaluate('document.documentElement.scrollWidth'), hash).toBeLessThanOrEqual(390);
    }
  });

  it('made no request outside its origin, and ran without script errors or CSP violations', () => {
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
