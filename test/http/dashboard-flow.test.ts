// Dashboard views of workflows and flow control, in headless Chromium (as
// dashboard-operator.test.ts): a workflow drawn as a graph with each step's
// state, reached from one of its tasks; dead-lettered tasks with their origin
// queue, redriven one by one and all at once after a confirmation that states
// the count; a queue's group concurrency and dead-letter queue edited in the
// limits dialog.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { CourierHttpHandler } from '../../src/http/index.js';
import { type Courier, defineTask } from '../../src/index.js';
import { waitFor } from '../helpers/db.js';
import { chromiumAvailable, launchChromium, watchPage } from './browser.js';
import { apiCourier, BASE, listen, TOKEN } from './helpers.js';


describe.skipIf(!chromiumAvailable)('dashboard: workflows, dead letters and flow control', () => {
  let courier: Courier;
  let api: CourierHttpHandler;
  let server: Awaited<ReturnType<typeof listen>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const foreign: string[] = [];
  const gateway = { down: true };
  let signedIn = false;

  const rows = async (where: string, params: unknown[] = []) =>
    (await courier.pool.query<{ id: string; queue: string; status: string; dead_from: string | null }>(`SELECT id::text, queue, status, dead_from FROM ${courier.names.tasks} WHERE ${where} ORDER BY id`, params)).rows;

  beforeAll(async () => {
    ({ courier, api } = await apiCourier({ dashboard: { refresh: 0.4, title: 'pgcourier · flow' } }));
    const step = (name: string, fail: boolean) =>
      defineTask({
        name,
        queue: 'etl',
        maxRetries: 0,
        async handler() {
          if (fail) throw new Error(`${name}: column "amount" is missing`);
          return { ok: true };
        },
      });
    for (const def of [step('wf_extract', false), step('wf_transform', true), step('wf_load', false), step('wf_approve', false), step('wf_publish', false)]) courier.registerTask(def);
    courier.registerTask(
      defineTask({
        name: 'charge',
        queue: 'billing',
        maxRetries: 0,
        payload: z.object({ invoice: z.number() }),
        async handler({ invoice }) {
          if (gateway.down) throw new Error(`payment gateway answered 502 for invoice ${invoice}`);
          return { charged: invoice };
        },
      }),
    );
    await courier.configureQueue('billing', { deadLetter: 'billing.dead' });
    await courier.start({ concurrency: 4, pollInterval: 0.2, lease: 5 });
    server = await listen(api.node);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    watchPage(page, server.url, (status, url) => (status === 401 && !signedIn) || (status === 400 && url.endsWith('/queues/billing')), pageErrors, foreign);
    await page.goto(`${server.url}${BASE}/`);
    await page.locator('#auth').waitFor({ state: 'visible', timeout: 30_000 });
    await page.fill('#token', TOKEN);
    signedIn = true;
    await page.click('#connect');
    await page.locator('#conn-text', { hasText: /^live$/ }).waitFor({ timeout: 30_000 });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await courier?.close({ grace: 5 });
  });

  it('opens a workflow from one of its tasks and draws its steps, coloured by state, with their edges', async () => {
    const wf = courier.workflow('nightly-etl');
    wf.step('extract', 'wf_extract', {});
    wf.step('transform', 'wf_transform', {}, { dependsOn: ['extract'] });
    wf.step('load', 'wf_load', {}, { dependsOn: ['transform'] });
    wf.step('approve', 'wf_approve', {}, { delay: 3600 });
    wf.step('publish', 'wf_publish', {}, { dependsOn: ['approve', { step: 'load', onFailure: 'run' }] });
    const { id, tasks } = await wf.enqueue();
    const expected: Record<string, string> = { extract: 'succeeded', transform: 'failed', load: 'failed', approve: 'queued', publish: 'waiting' };
    await waitFor(
      async () => (await courier.getWorkflow(id))?.steps.every((s) => expected[s.step ?? ''] === s.status) ?? false,
      60_000,
      'extract to succeed, transform and load to fail',
    );

    await page.goto(`${server.url}${BASE}/#/tasks/${tasks.transform}`);
    const link = page.locator('#task-detail [data-testid="workflow-link"]');
    await link.waitFor({ timeout: 30_000 });
    expect(await link.textContent()).toBe(`#${id} · step transform`);
    await link.click();
    expect(page.url()).toMatch(new RegExp(`#/workflows/${id}$`));

    const nodes = page.locator('#workflow-detail svg.wf-graph [data-testid="wf-step"]');
    await waitFor(async () => (await nodes.count()) === 5, 30_000, 'five steps drawn');
    expect(await page.locator('#workflow-detail h2').textContent()).toBe('nightly-etl');
    expect(await page.locator('#workflow-detail [data-testid="workflow-status"]').textContent()).toBe('running');
    for (const [name, status] of Object.entries(expected)) {
      const node = page.locator(`#workflow-detail [data-testid="wf-step"][data-task="${tasks[name]}"]`);
      expect(await node.getAttribute('data-status'), name).toBe(status);
      expect(await node.locator('text.wf-label').textContent()).toBe(name);
    }
    // Coloured by state: the failed box's outline is the failure red, the succeeded one's green.
    const stroke = (task: string | undefined) => page.locator(`[data-testid="wf-step"][data-task="${task}"] rect`).evaluate((n) => (globalThis as unknown as { getComputedStyle(e: unknown): { stroke: string } }).getComputedStyle(n).stroke);
    expect(await stroke(tasks.transform)).toBe('rgb(239, 68, 68)');
    expect(await stroke(tasks.extract)).toBe('rgb(16, 185, 129)');
    const edges = await page.locator('#workflow-detail [data-testid="wf-edge"]').evaluateAll((ns) => ns.map((n) => `${n.getAttribute('data-from')}>${n.getAttribute('data-to')}`).sort());
    expect(edges).toEqual([`${tasks.extract}>${tasks.transform}`, `${tasks.transform}>${tasks.load}`, `${tasks.approve}>${tasks.publish}`, `${tasks.load}>${tasks.publish}`].sort());
    // Columns by depth: a child is drawn right of its parent.
    const x = (task: string | undefined) => page.locator(`[data-testid="wf-step"][data-task="${task}"] rect`).evaluate((n) => Number(n.getAttribute('x')));
    expect(await x(tasks.extract)).toBeLessThan(await x(tasks.transform));
    expect(await x(tasks.load)).toBeLessThan(await x(tasks.publish));

    if (process.env.DASHBOARD_FLOW_SHOT) await page.screenshot({ path: process.env.DASHBOARD_FLOW_SHOT, fullPage: true });
    // On a phone the graph scrolls inside its panel; the page does not widen.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1360, height: 1000 });

    // A step's box links to its task.
    await page.locator(`[data-testid="wf-step"][data-task="${tasks.load}"]`).click();
    await page.locator('#task-detail h2', { hasText: /^wf_load$/ }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#task-detail .last-error').textContent()).toMatch(/parent task \d+ failed/);

    // The overview counts waiting tasks too, and the list finds them by that status.
    await page.goto(`${server.url}${BASE}/#/`);
    await page.locator('[data-testid="count-waiting"]', { hasText: /^1$/ }).waitFor({ timeout: 30_000 });
    await page.goto(`${server.url}${BASE}/#/tasks?status=waiting`);
    await page.locator(`#task-rows [data-task="${tasks.publish}"]`).waitFor({ timeout: 30_000 });
  });

  it('opens a batch from one of its members, with its callback drawn after every member', async () => {
    const batch = await courier.batch(
      [
        { name: 'wf_extract', payload: {} },
        { name: 'wf_extract', payload: {} },
      ],
      { onComplete: { task: 'wf_publish', payload: {} } },
    );
    await waitFor(async () => (await courier.getWorkflow(batch.id))?.status === 'succeeded', 60_000, 'the batch and its callback to succeed');
    await page.goto(`${server.url}${BASE}/#/tasks/${batch.taskIds[1]}`);
    // Only the hash changes, so the previous test's task may still be on screen: wait for this one's link.
    const link = page.locator('#task-detail [data-testid="workflow-link"]', { hasText: new RegExp(`^#${batch.id}$`) });
    await link.waitFor({ timeout: 30_000 });
    await link.click();
    await page.locator('#workflow-detail .id', { hasText: `batch #${batch.id}` }).waitFor({ timeout: 30_000 });
    const nodes = page.locator('#workflow-detail [data-testid="wf-step"]');
    expect(await nodes.evaluateAll((ns) => ns.map((n) => n.getAttribute('data-status')))).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const callback = batch.callbacks.onComplete as string;
    expect(await page.locator(`[data-testid="wf-step"][data-task="${callback}"] text.wf-label`).textContent()).toBe('onComplete');
    const edges = await page.locator('#workflow-detail [data-testid="wf-edge"]').evaluateAll((ns) => ns.map((n) => `${n.getAttribute('data-from')}>${n.getAttribute('data-to')}`).sort());
    expect(edges).toEqual(batch.taskIds.map((m) => `${m}>${callback}`).sort());
  });

  it('shows where dead-lettered tasks came from, redrives one from its detail and the rest after a confirmation with the count', async () => {
    await courier.enqueueMany([0, 1, 2].map((i) => ({ name: 'charge', payload: { invoice: 7000 + i } })));
    await waitFor(async () => (await rows(`queue = 'billing.dead' AND dead_from = 'billing' AND status = 'failed'`)).length === 3, 60_000, 'three dead-lettered charges');
    await page.goto(`${server.url}${BASE}/#/tasks?queue=billing.dead`);
    const list = page.locator('[data-testid="task-row"]');
    await waitFor(async () => (await list.count()) === 3, 30_000, 'three rows in billing.dead');
    expect(await list.locator('[data-testid="dead-from"]').allTextContents()).toEqual([' from billing', ' from billing', ' from billing']);
    await page.locator('#redrive-all').waitFor({ state: 'visible' });

    // Held in the paused queue, the redriven task stays queued where it came from.
    await courier.pauseQueue('billing');
    gateway.down = false;
    const id = (await list.first().getAttribute('data-task')) as string;
    await list.first().locator('[data-testid="task-link"]').click();
    const detail = page.locator('#task-detail');
    await detail.locator('[data-testid="detail-dead-from"]', { hasText: /^billing$/ }).waitFor({ timeout: 30_000 });
    await detail.locator('[data-testid="detail-redrive"]').click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    expect(await page.locator('#confirm-text').textContent()).toBe(`Redrive 1 dead-lettered task (task ${id}) back to the queue it came from?`);
    await page.click('#confirm-ok');
    await page.locator('#toast', { hasText: '1 task redriven' }).waitFor({ timeout: 30_000 });
    await detail.locator('[data-testid="detail-status"]', { hasText: /^queued$/ }).waitFor({ timeout: 30_000 });
    expect(await detail.locator('.fact', { hasText: 'Queue' }).first().locator('dd').textContent()).toBe('billing');
    expect(await detail.locator('[data-testid="detail-redrive"]').count()).toBe(0);
    expect(await rows('id = $1', [id])).toEqual([{ id, queue: 'billing', status: 'queued', dead_from: null }]);

    await page.goto(`${server.url}${BASE}/#/tasks?queue=billing.dead`);
    await waitFor(async () => (await list.count()) === 2, 30_000, 'two rows left in billing.dead');
    await page.click('#redrive-all');
    await page.locator('#confirm').waitFor({ state: 'visible' });
    expect(await page.locator('#confirm-text').textContent()).toBe('Redrive 2 dead-lettered tasks in billing.dead back to the queues they came from?');
    await page.click('#confirm-ok');
    await page.locator('#toast', { hasText: '2 tasks redriven' }).waitFor({ timeout: 30_000 });
    await page.locator('#task-rows .empty').waitFor({ timeout: 30_000 });
    expect((await rows(`name = 'charge'`)).map((r) => [r.queue, r.status, r.dead_from])).toEqual([
      ['billing', 'queued', null],
      ['billing', 'queued', null],
      ['billing', 'queued', null],
    ]);
    await courier.resumeQueue('billing');
    await waitFor(async () => (await rows(`name = 'charge' AND status = 'succeeded'`)).length === 3, 60_000, 'the redriven charges to succeed');
  });

  it('shows and edits a queue\'s group concurrency, group rate, fairness and dead-letter queue', async () => {
    await page.goto(`${server.url}${BASE}/#/`);
    const row = page.locator('#queues tr[data-queue="billing"]');
    await row.locator('td:nth-child(9)', { hasText: 'dead letters → billing.dead' }).waitFor({ timeout: 30_000 });
    await row.locator('[data-testid="edit-limits"]').click();
    expect(await page.locator('#l-dead-letter').inputValue()).toBe('billing.dead');
    await page.fill('#l-group-concurrency', 'two per tenant');
    await page.click('#l-save');
    expect(await page.locator('#l-error').textContent()).toMatch(/^Group concurrency must look like 5, or 5, gold=20/);
    await page.fill('#l-group-concurrency', '2, gold=5');
    await page.fill('#l-group-rate', '10/s');
    await page.selectOption('#l-fair', 'false');
    await page.click('#l-save');
    await row.locator('td:nth-child(9)', { hasText: '2, gold=5 per group · 10/s per group · not fair · dead letters → billing.dead' }).waitFor({ timeout: 30_000 });
    expect((await courier.listQueues()).find((q) => q.name === 'billing')).toMatchObject({
      groupConcurrency: { default: 2, tiers: { gold: 5 } },
      groupRateLimit: { limit: 10, per: 1 },
      fair: false,
      deadLetter: 'billing.dead',
    });
    // The server's own check: a dead-letter queue must be another queue.
    await row.locator('[data-testid="edit-limits"]').click();
    expect(await page.locator('#l-group-concurrency').inputValue()).toBe('2, gold=5');
    await page.fill('#l-dead-letter', 'billing');
    await page.click('#l-save');
    await page.locator('#l-error', { hasText: /deadLetter.*must name another queue/ }).waitFor({ timeout: 30_000 });
    await page.click('#l-cancel');
    expect((await courier.listQueues()).find((q) => q.name === 'billing')?.deadLetter).toBe('billing.dead');
  });

  it('made no request outside its origin, and ran without script errors or CSP violations', () => {
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
