import { afterEach, describe, expect, it } from 'vitest';
import { type Courier, PermanentError, ValidationError } from '../../src/index.js';
import { testCourier, waitFor } from '../helpers/db.js';

const open: Courier[] = [];
const make = async () => {
  const c = await testCourier();
  open.push(c);
  return c;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close({ grace: 0 })));
});

const status = async (c: Courier, id: string) => (await c.getTask(id))?.status;

describe('dependsOn', () => {
  it('a chain runs in order: each step waits, then receives its parent result as ctx.parents', async () => {
    const c = await make();
    const seen: Array<Record<string, unknown>> = [];
    c.registerTask('step', async (p: { n: number }, ctx) => {
      seen.push(await ctx.parents);
      return p.n * 10;
    });
    const a = await c.enqueueTask('step', { n: 1 });
    const b = await c.enqueueTask('step', { n: 2 }, { dependsOn: [a] });
    const d = await c.enqueueTask('step', { n: 3 }, { dependsOn: [b] });
    expect(await status(c, b)).toBe('waiting');
    expect(await status(c, d)).toBe('waiting');
    await c.drain();
    expect(await status(c, d)).toBe('succeeded');
    expect(seen).toEqual([{}, { [a]: 10 }, { [b]: 20 }]);
  });

  it('a diamond releases its join once, after both branches, with both results', async () => {
    const c = await make();
    const runs: string[] = [];
    c.registerTask('node', async (p: { name: string }, ctx) => {
      runs.push(p.name);
      if (p.name === 'join') return ctx.parents;
      return p.name;
    });
    const top = await c.enqueueTask('node', { name: 'top' });
    const [left, right] = await c.enqueueMany([
      { name: 'node', payload: { name: 'left' }, options: { dependsOn: [top] } },
      { name: 'node', payload: { name: 'right' }, options: { dependsOn: [top] } },
    ]);
    const join = await c.enqueueTask('node', { name: 'join' }, { dependsOn: [left as string, right as string] });
    await c.drain();
    expect(runs.filter((r) => r === 'join')).toHaveLength(1);
    expect(runs.indexOf('join')).toBe(3);
    expect((await c.getTask(join))?.result).toEqual({ [left as string]: 'left', [right as string]: 'right' });
  });

  it('a parent that finished before the enqueue counts at once; a failed one fails the dependent by default', async () => {
    const c = await make();
    c.registerTask('ok', () => 1);
    c.registerTask('bad', () => {
      throw new PermanentError('no');
    });
    const ok = await c.enqueueTask('ok', {});
    const bad = await c.enqueueTask('bad', {});
    await c.drain();
    const after = await c.enqueueTask('ok', {}, { dependsOn: [ok] });
    expect(await status(c, after)).toBe('queued');
    const doomed = await c.enqueueTask('ok', {}, { dependsOn: [ok, bad] });
    const info = await c.getTask(doomed);
    expect(info?.status).toBe('failed');
    expect(info?.lastError).toContain(`parent task ${bad} failed`);
  });

  it('failure policies per edge: fail (cascading), run anyway, skip', async () => {
    const c = await make();
    c.registerTask('bad', () => {
      throw new PermanentError('no');
    });
    c.registerTask('ok', async (_p, ctx) => ctx.parents);
    const bad = await c.enqueueTask('bad', {});
    const failing = await c.enqueueTask('ok', {}, { dependsOn: [bad] });
    const grandchild = await c.enqueueTask('ok', {}, { dependsOn: [failing] });
    const anyway = await c.enqueueTask('ok', {}, { dependsOn: [{ id: bad, onFailure: 'run' }] });
    const skipped = await c.enqueueTask('ok', {}, { dependsOn: [{ id: bad, onFailure: 'skip' }] });
    await c.drain();
    expect(await status(c, failing)).toBe('failed');
    expect(await status(c, grandchild)).toBe('failed');
    expect((await c.getTask(grandchild))?.lastError).toBe(`parent task ${failing} failed`);
    const run = await c.getTask(anyway);
    expect(run?.status).toBe('succeeded');
    expect(run?.result).toEqual({});
    const skip = await c.getTask(skipped);
    expect(skip?.status).toBe('cancelled');
    expect(skip?.lastError).toBe(`skipped: parent task ${bad} failed`);
  });

  it('a failure at the head of a 1,000-step chain fails every step in the statement that fails the head', async () => {
    const c = await make();
    c.registerTask('bad', () => {
      throw new PermanentError('no');
    });
    c.registerTask('ok', () => 1);
    const wf = c.workflow().step('s0', 'bad');
    for (let i = 1; i < 1000; i++) wf.step(`s${i}`, 'ok', {}, { dependsOn: [`s${i - 1}`] });
    const { id, tasks } = await wf.enqueue();
    expect(await c.runOnce({ limit: 1 })).toBe(1);
    expect((await c.getWorkflow(id))?.progress).toMatchObject({ total: 1000, failed: 1000 });
    expect((await c.getTask(tasks.s999 as string))?.lastError).toBe(`parent task ${tasks.s998} failed`);
  });

  it('waitForTask on a dependent resolves when a cascade fails it (announced on the events channel)', async () => {
    const c = await make();
    c.registerTask('bad', () => {
      throw new PermanentError('no');
    });
    const bad = await c.enqueueTask('bad', {});
    const child = await c.enqueueTask('bad', {}, { dependsOn: [bad] });
    // 3 s: shorter than waitForTask's 5 s re-read, so only the announcement can resolve it.
    const waiting = c.waitForTask(child, { timeout: 3 });
    await c.runOnce({ limit: 1 });
    const info = await waiting;
    expect(info.status).toBe('failed');
    expect(info.lastError).toBe(`parent task ${bad} failed`);
  });

  it('cancelling a task cancels its waiting dependents, transitively; a "run" edge still runs', async () => {
    const c = await make();
    c.registerTask('ok', () => 1);
    const root = await c.enqueueTask('ok', {}, { delay: 3600 });
    const child = await c.enqueueTask('ok', {}, { dependsOn: [root] });
    const grandchild = await c.enqueueTask('ok', {}, { dependsOn: [child] });
    const cleanup = await c.enqueueTask('ok', {}, { dependsOn: [{ id: child, onFailure: 'run' }] });
    expect(await c.cancel(root)).toBe(true);
    expect(await status(c, child)).toBe('cancelled');
    expect(await status(c, grandchild)).toBe('cancelled');
    expect(await status(c, cleanup)).toBe('queued');
    // A waiting task can be cancelled itself.
    const w = await c.enqueueTask('ok', {}, { delay: 3600 });
    const wc = await c.enqueueTask('ok', {}, { dependsOn: [w] });
    expect(await c.cancel(wc)).toBe(true);
    expect(await status(c, wc)).toBe('cancelled');
  });

  it('a parent retried by hand after it released its dependents does not count twice', async () => {
    const c = await make();
    let fail = true;
    c.registerTask('flaky', () => {
      if (fail) throw new PermanentError('no');
      return 'ok';
    });
    c.registerTask('ok', () => 1);
    const a = await c.enqueueTask('flaky', {});
    const b = await c.enqueueTask('ok', {}, { delay: 3600 });
    const join = await c.enqueueTask('ok', {}, { dependsOn: [{ id: a, onFailure: 'run' }, b] });
    await c.drain();
    expect(await status(c, a)).toBe('failed');
    fail = false;
    await c.retry(a);
    await c.drain();
    expect(await status(c, a)).toBe('succeeded');
    expect(await status(c, join)).toBe('waiting');
    await c.promote(b);
    await c.drain();
    expect(await status(c, join)).toBe('succeeded');
  });

  it('dependents enqueued while their parents finish are never left waiting (enqueue races completion)', async () => {
    const c = await make();
    c.registerTask('quick', async (p: { ms: number }) => {
      await new Promise((r) => setTimeout(r, p.ms));
      return p.ms;
    });
    c.registerTask('child', () => 'ok');
    await c.start({ concurrency: 20, pollInterval: 0.2, cleanup: false }); // the hourly cleanup task would be a 601st
    const children: string[] = [];
    const parents = await c.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ name: 'quick', payload: { ms: i % 7 } })));
    // Enqueue each child a little later than its parent, so many land while it finishes.
    await Promise.all(
      parents.map(async (id, i) => {
        await new Promise((r) => setTimeout(r, i % 11));
        children.push(await c.enqueueTask('child', {}, { dependsOn: [id] }));
      }),
    );
    await waitFor(async () => (await c.queueStatus()).total.succeeded === 600, 30_000, 'every parent and child to succeed');
    expect((await c.queueStatus()).total.waiting).toBe(0);
  });

  it('refuses unknown parents, malformed ids and key together with dependsOn, writing nothing', async () => {
    const c = await make();
    c.registerTask('ok', () => 1);
    await expect(c.enqueueTask('ok', {}, { dependsOn: ['999999'] })).rejects.toThrow(/dependsOn" must name existing tasks; no task has id 999999/);
    await expect(c.enqueueTask('ok', {}, { dependsOn: ['x'] })).rejects.toBeInstanceOf(ValidationError);
    const a = await c.enqueueTask('ok', {});
    await expect(c.enqueueTask('ok', {}, { dependsOn: [a], key: 'k' })).rejects.toThrow(/key" must not be given/);
    // Flow-control options are not carried by dependency inserts yet: refused, never dropped.
    await expect(c.enqueueTask('ok', {}, { dependsOn: [a], group: 'tenant-1' })).rejects.toThrow(/options" must not combine group, sequence/);
    await expect(c.enqueueMany([{ name: 'ok', payload: {}, options: { dependsOn: [a], sequence: 's' } }])).rejects.toThrow(/items\.0\.options" must not combine/);
    expect((await c.queueStatus()).total.total).toBe(1);
  });
});
