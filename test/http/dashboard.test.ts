// The dashboard in headless Chromium (Debian's `chromium`, installed by .ci/run):
// it must render counts from live data, follow them as tasks run, and its Retry
// button must re-run a failed task to success. Set UPDATE_DASHBOARD_SCREENSHOT=1
// to refresh docs/dashboard.png.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { CourierHttpHandler } from '../../src/http/index.js';
import { type Courier, defineTask } from '../../src/index.js';
import { waitFor } from '../helpers/db.js';
import { chromiumAvailable, launchChromium } from './browser.js';
import { apiCourier, BASE, call, flakySwitch, listen, TOKEN } from './helpers.js';


describe.skipIf(!chromiumAvailable)('dashboard in headless Chromium', () => {
  let courier: Courier;
  let api: CourierHttpHandler;
  let server: Awaited<ReturnType<typeof listen>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const release = { slow: false };

  beforeAll(async () => {
    ({ courier, api } = await apiCourier({ dashboard: { refresh: 0.4, title: 'pgcourier · acme' } }));
    courier.registerTask(
      defineTask({
        name: 'render_video',
        queue: 'media',
        payload: z.object({ frames: z.number() }),
        async handler({ frames }, ctx) {
          // Reports progress until the test releases it (bounded by the task timeout).
          for (let i = 1; !release.slow && !ctx.signal.aborted; i = Math.min(frames - 1, i + 1)) {
            await ctx.progress(i, frames);
            await new Promise((r) => setTimeout(r, 100));
          }
          return { frames };
        },
        timeout: 120,
      }),
    );
    courier.registerTask('sync_crm', async () => {
      throw new Error('CRM API timeout after 30s (HTTP 504)');
    }, { queue: 'reports', maxRetries: 5, retryDelay: 600 });
    // No built-in cleanup schedule: its hourly task would change the totals the page is checked against.
    await courier.start({ concurrency: 4, pollInterval: 0.2, lease: 5, cleanup: false });
    server = await listen(api.node);
    // Playwright launches with a fresh temporary profile (its own --user-data-dir).
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      // The first /overview answers 401 until the token is entered: expected.
      if (msg.type() === 'error' && !/status of 401/.test(msg.text())) pageErrors.push(msg.text());
    });
  }, 180_000);

  afterAll(async () => {
    release.slow = true;
    await browser?.close();
    await server?.close();
    await courier?.close({ grace: 5 });
  });

  /** For docs/dashboard.png only: a steady flow of tasks (a real throughput line) and a bulk send in progress. */
  async function screenshotScene(): Promise<void> {
    const messages = (courier as unknown as { messages?: Record<string, (...a: unknown[]) => unknown> }).messages;
    try {
      messages?.registerProvider?.({
        name: 'demo-sms',
        channels: ['sms'],
        rateLimit: '6/s',
        async send() {
          await new Promise((r) => setTimeout(r, 30));
          return { outcome: 'ok', providerMessageId: `SM${Math.random().toString(16).slice(2)}` };
        },
      });
      const recipients = Array.from({ length: 80 }, (_, i) => ({ to: `+1555555${String(1000 + i)}`, variables: { name: `user ${i}` } }));
      await call(api, 'POST', `${BASE}/batches`, { body: { channel: 'sms', name: 'spring-sale', provider: 'demo-sms', template: 'Hi {{name}}, 20% off today', recipients } });
    } catch {
      // messaging API not there: the panels stay empty
    }
    const until = Date.now() + 8000;
    for (let n = 0; Date.now() < until; n++) {
      const items = Array.from({ length: 2 + (n % 4) }, (_, i) => ({ name: 'send_welcome', payload: { userId: n * 10 + i } }));
      await call(api, 'POST', `${BASE}/tasks/bulk`, { body: { items } });
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  const text = (testid: string) => page.locator(`[data-testid="${testid}"]`).first().textContent();

  it('asks for the token, then renders live counts', async () => {
    await page.goto(`${server.url}${BASE}/`);
    await page.locator('#auth').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.title()).toBe('pgcourier · acme');
    await page.fill('#token', TOKEN);
    await page.click('#connect');
    await page.locator('#conn-text', { hasText: /^live$/ }).waitFor({ timeout: 30_000 });
    expect(await text('count-succeeded')).toBe('0');
    expect(await page.locator('#auth').isHidden()).toBe(true);
  });

  it('follows the counts as tasks run', async () => {
    const items = Array.from({ length: 12 }, (_, i) => ({ name: 'send_welcome', payload: { userId: i } }));
    expect((await call(api, 'POST', `${BASE}/tasks/bulk`, { body: { items } })).status).toBe(201);
    await page.locator('[data-testid="count-succeeded"]', { hasText: /^12$/ }).waitFor({ timeout: 60_000 });
    await page.locator('#queues tr[data-queue="email"] td:nth-child(4)', { hasText: /^12$/ }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#chart polyline').count()).toBe(1);
  });

  it('shows running tasks with progress bars', async () => {
    await call(api, 'POST', `${BASE}/tasks/bulk`, { body: { items: [{ name: 'render_video', payload: { frames: 40 } }, { name: 'render_video', payload: { frames: 25 } }] } });
    await page.locator('[data-testid="running-task"] .bar:not(.indeterminate)').first().waitFor({ timeout: 60_000 });
    expect(Number(await text('count-running'))).toBeGreaterThanOrEqual(1);
  });

  it('lists a failed task with its error, and Retry re-runs it to success', async () => {
    flakySwitch.fail = true;
    const res = await call(api, 'POST', `${BASE}/tasks`, { body: { name: 'flaky', payload: { report: 'q3' } } });
    const { id } = (await res.json()) as { id: string };
    await call(api, 'POST', `${BASE}/tasks`, { body: { name: 'sync_crm' } });
    await call(api, 'POST', `${BASE}/tasks`, { body: { name: 'fail_always' } });
    const row = page.locator(`[data-testid="failed-task"][data-task="${id}"]`);
    await row.waitFor({ timeout: 60_000 });
    expect(await row.locator('.error').textContent()).toContain('upstream returned 503');
    await page.locator('[data-testid="retrying-task"]').first().waitFor({ timeout: 60_000 });
    if (typeof (courier as unknown as { schedule?: unknown }).schedule === 'function') {
      await call(api, 'POST', `${BASE}/schedules`, { body: { name: 'nightly-report', cron: '0 3 * * *', task: 'send_welcome', payload: { userId: 1 } } });
      await call(api, 'POST', `${BASE}/schedules`, { body: { name: 'hourly-sync', cron: '0 * * * *', task: 'sync_crm' } });
      await call(api, 'POST', `${BASE}/queues/reports/pause`);
      await page.locator('[data-testid="schedule"]').nth(1).waitFor({ timeout: 30_000 });
      await page.locator('#queues tr[data-queue="reports"] [data-testid="resume-queue"]').waitFor({ timeout: 30_000 });
    }
    if (process.env.UPDATE_DASHBOARD_SCREENSHOT) await screenshotScene();
    const shotDir = process.env.UPDATE_DASHBOARD_SCREENSHOT ? undefined : mkdtempSync(join(tmpdir(), 'pgcourier-dash-'));
    await page.screenshot({ path: shotDir ? join(shotDir, 'dashboard.png') : join(import.meta.dirname, '../../docs/dashboard.png'), fullPage: true });
    if (shotDir) rmSync(shotDir, { recursive: true, force: true });

    if (typeof (courier as unknown as { resumeQueue?: unknown }).resumeQueue === 'function') await call(api, 'POST', `${BASE}/queues/reports/resume`);
    flakySwitch.fail = false;
    const before = Number((await text('count-succeeded'))?.replace(/,/g, ''));
    await row.locator('[data-testid="retry"]').click();
    await row.waitFor({ state: 'detached', timeout: 60_000 });
    await waitFor(async () => (await courier.getTask(id))?.status === 'succeeded', 60_000, 'the retried task to succeed');
    await waitFor(async () => Number((await text('count-succeeded'))?.replace(/,/g, '')) > before, 60_000, 'the succeeded count to grow');
    expect((await courier.getTask(id))?.result).toEqual({ ok: true });
  });

  it('cancels a retrying task from the page', async () => {
    const row = page.locator('[data-testid="retrying-task"]').first();
    const id = await row.getAttribute('data-task');
    await row.locator('[data-testid="cancel"]').click();
    await waitFor(async () => (await courier.getTask(id as string))?.status === 'cancelled', 30_000, 'the task to be cancelled');
    await page.locator(`[data-testid="retrying-task"][data-task="${id}"]`).waitFor({ state: 'detached', timeout: 30_000 });
  });

  it('ran without script errors or CSP violations', () => {
    expect(pageErrors).toEqual([]);
  });
});
