import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConflictError, type Courier, createCourier, defineTask, TaskRegistry, ValidationError } from '../src/index.js';
import { databaseUrl, testCourier } from './helpers/db.js';

let courier: Courier;
beforeAll(async () => {
  courier = await testCourier();
});
afterAll(() => courier.close({ grace: 0 }));

/** A definition shared by a web process and a worker: no handler. */
const resize = defineTask({ name: 'resize', payload: z.object({ url: z.url(), width: z.int().positive() }), queue: 'media', priority: 2 });

describe('task names', () => {
  it('a user task named cleanup no longer replaces the built-in cleanup, which is pgcourier.cleanup', async () => {
    const c = await testCourier();
    const ran: unknown[] = [];
    c.registerTask('cleanup', (p) => void ran.push(p));
    expect(c.registry.get('pgcourier.cleanup')).toBeDefined();
    await c.pool.query(`INSERT INTO "${c.schema}".tasks (name, status, finished_at) VALUES ('x', 'succeeded', now() - interval '30 days')`);
    const userTask = await c.enqueueTask('cleanup', { mine: true });
    const builtin = await c.enqueueTask('pgcourier.cleanup', {});
    expect(await c.drain()).toBe(2);
    expect(ran).toEqual([{ mine: true }]);
    // The built-in deleted the 30-day-old row, not the user's task that finished just now.
    expect(await c.getTask(builtin)).toMatchObject({ status: 'succeeded', result: { deleted: 1 } });
    expect(await c.getTask(userTask)).toMatchObject({ status: 'succeeded' });
    await c.close();
  });

  it('migration 004 points the built-in cleanup schedule of an older schema at pgcourier.cleanup', async () => {
    const c = await testCourier();
    c.registerTask('cleanup', () => 'mine');
    const s = `"${c.schema}"`;
    // The schema as an older version left it: the schedule enqueues 'cleanup', migration 4 not applied.
    await c.pool.query(`INSERT INTO ${s}.schedules (name, cron, task, next_run_at) VALUES ('pgcourier.cleanup', '0 * * * *', 'cleanup', now()), ('mine', '0 * * * *', 'cleanup', now())`);
    await c.pool.query(`DELETE FROM ${s}.migrations WHERE version = 4`);
    expect(await c.migrate()).toEqual([4]);
    const tasks = Object.fromEntries((await c.listSchedules()).map((x) => [x.name, x.task]));
    expect(tasks).toEqual({ 'pgcourier.cleanup': 'pgcourier.cleanup', mine: 'cleanup' });
    await c.close();
  });

  it('names starting with pgcourier. are refused, at definition and at registration', () => {
    expect(() => defineTask({ name: 'pgcourier.mine', handler: () => {} })).toThrow(ValidationError);
    expect(() => courier.registerTask('pgcourier.cleanup', () => {})).toThrow(/"name" must not start with "pgcourier\."/);
    expect(() => new TaskRegistry().register('pgcourier.x', () => {})).toThrow(expect.objectContaining({ field: 'name', code: 'VALIDATION' }));
  });

  it('registering a taken name throws ConflictError unless { replace: true }; the same definition again is a no-op', async () => {
    const first = courier.registerTask('twice', () => 'first');
    expect(courier.registerTask(first)).toBe(first);
    const err = (() => {
      try {
        courier.registerTask('twice', () => 'second');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('{ replace: true }') });
    expect(courier.registry.get('twice')).toBe(first);
    const second = courier.registerTask('twice', () => 'second', { replace: true });
    expect(courier.registry.get('twice')).toBe(second);
    const id = await courier.enqueueTask('twice', {});
    await courier.runTaskNow(id);
    expect((await courier.getTask(id))?.result).toBe('second');
    expect(() => courier.registerTask(defineTask({ name: 'twice', handler: () => 'third' }))).toThrow(ConflictError);
    expect(() => courier.registerTask('r', () => {}, { replace: 'yes' as never })).toThrow(expect.objectContaining({ field: 'replace' }));
  });
});

describe('producer-only tasks', () => {
  it('a definition without a handler registers and enqueues with full validation', async () => {
    const web = createCourier({ connectionString: databaseUrl(), schema: courier.schema });
    web.registerTask(resize);
    const id = await web.enqueueTask(resize, { url: 'https://example.com/a.png', width: 200 });
    expect(await web.getTask(id)).toMatchObject({ name: 'resize', queue: 'media', priority: 2, status: 'queued' });
    await expect(web.enqueueTask(resize, { url: 'not a url', width: 200 })).rejects.toMatchObject({ field: 'payload.url' });
    await expect(web.enqueueTask('resize', { url: 'https://example.com/a.png', width: -1 })).rejects.toMatchObject({ field: 'payload.width' });
    await web.close();
  });

  it('a courier lacking the handler never claims the task; the worker that registers it with a handler runs it', async () => {
    const c = await testCourier();
    c.registerTask(resize);
    let ran = 0;
    c.registerTask('other', () => void ran++);
    const producerOnly = await c.enqueueTask(resize, { url: 'https://example.com/a.png', width: 200 }, { priority: 1 });
    expect(await c.drain()).toBe(0);
    // A started processor claims in priority order: `other` (priority 5) succeeds only after
    // the producer-only task (priority 1) would have been claimed.
    await c.start({ pollInterval: 0.05 });
    const succeeded = new Promise<string>((resolve) => c.events.on('task:succeeded', (e) => resolve(e.id)));
    const other = await c.enqueueTask('other', {}, { priority: 5 });
    expect(await succeeded).toBe(other);
    await c.stop();
    expect(await c.getTask(producerOnly)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(c.registry.runnableNames()).not.toContain('resize');
    expect(c.registry.names()).toContain('resize');

    const worker = createCourier({ connectionString: databaseUrl(), schema: c.schema });
    const def = worker.registerTask(resize, async ({ url, width }) => ({ url, width }));
    expect(worker.registry.runnableNames()).toContain('resize');
    expect(def).toMatchObject({ name: 'resize', queue: 'media', priority: 2 });
    expect(await worker.drain()).toBe(1);
    expect(await worker.getTask(producerOnly, resize)).toMatchObject({ status: 'succeeded', result: { url: 'https://example.com/a.png', width: 200 } });
    await worker.close();
    await c.close();
  });

  it('in one process, the definition with its handler takes the place of the same producer-only definition', () => {
    const registry = new TaskRegistry();
    registry.register(resize);
    const full = registry.register(resize, async ({ width }) => width);
    expect(registry.get('resize')).toBe(full);
    expect(registry.runnableNames()).toEqual(['resize']);
    expect(() => registry.register(resize, async () => 0)).toThrow(ConflictError); // taken by a runnable one now
    const other = defineTask({ name: 'resize', payload: z.object({ other: z.string() }) });
    const fresh = new TaskRegistry();
    fresh.register(resize);
    expect(() => fresh.register(other, () => 1)).toThrow(ConflictError); // another definition of the name
  });

  it('the handler of a producer-only definition fails permanently if called', async () => {
    expect(() => resize.handler({ url: 'https://example.com', width: 1 }, {} as never)).toThrow(/defined without a handler/);
  });

  it('defineTask checks what it is given', () => {
    expect(() => defineTask({ name: 'x', handler: 'nope' as never })).toThrow(expect.objectContaining({ field: 'handler' }));
    expect(() => defineTask({ name: 'x', payload: {} as never })).toThrow(expect.objectContaining({ field: 'payload' }));
    expect(() => courier.registerTask(resize, 'nope' as never)).toThrow(expect.objectContaining({ field: 'handler' }));
  });
});
