import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { batchSummarySchema, type Courier, defineTask, PermanentError, ValidationError } from '../../src/index.js';
import { testCourier } from '../helpers/db.js';

const open: Courier[] = [];
const make = async () => {
  const c = await testCourier();
  open.push(c);
  return c;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close({ grace: 0 })));
});

describe('courier.workflow()', () => {
  it('enqueues a diamond in one transaction; ctx.parents is keyed by step name; getWorkflow shows each step', async () => {
    const c = await make();
    const double = defineTask({ name: 'double', payload: z.object({ n: z.number() }), handler: ({ n }) => n * 2 });
    const sum = defineTask({ name: 'sum', handler: async (_p: unknown, ctx) => ctx.parents });
    c.registerTask(double);
    c.registerTask(sum);
    const { id, tasks } = await c
      .workflow('diamond')
      .step('top', double, { n: 1 })
      .step('left', double, { n: 2 }, { dependsOn: ['top'] })
      .step('right', double, { n: 3 }, { dependsOn: ['top'] })
      .step('join', sum, {}, { dependsOn: ['left', 'right'] })
      .enqueue();
    const before = await c.getWorkflow(id);
    expect(before).toMatchObject({ id, kind: 'workflow', name: 'diamond', status: 'running', progress: { total: 4, queued: 1, waiting: 3 } });
    expect(before?.steps.map((s) => [s.step, s.status, s.dependsOn])).toEqual([
      ['top', 'queued', []],
      ['left', 'waiting', [tasks.top]],
      ['right', 'waiting', [tasks.top]],
      ['join', 'waiting', [tasks.left, tasks.right]],
    ]);
    await c.drain();
    const after = await c.getWorkflow(id);
    expect(after?.status).toBe('succeeded');
    expect(after?.progress.succeeded).toBe(4);
    expect((await c.getTask(tasks.join as string))?.result).toEqual({ left: 4, right: 6 });
    expect(await c.getWorkflow('999999')).toBeNull();
    expect(await c.getWorkflow('nope')).toBeNull();
  });

  it('refuses a cycle, an unknown step and a duplicate name, writing nothing', async () => {
    const c = await make();
    c.registerTask('t', () => 1);
    const cyclic = c.workflow().step('a', 't', {}, { dependsOn: ['c'] }).step('b', 't', {}, { dependsOn: ['a'] }).step('c', 't', {}, { dependsOn: ['b'] });
    await expect(cyclic.enqueue()).rejects.toThrow(/must not form a cycle/);
    await expect(c.workflow().step('a', 't', {}, { dependsOn: ['a'] }).enqueue()).rejects.toThrow(/cycle/);
    await expect(c.workflow().step('a', 't', {}, { dependsOn: ['zz'] }).enqueue()).rejects.toThrow(/"steps.a.dependsOn.0" must name a step of this workflow/);
    expect(() => c.workflow().step('a', 't').step('a', 't')).toThrow(ValidationError);
    await expect(c.workflow().enqueue()).rejects.toThrow(/at least one step/);
    expect((await c.queueStatus()).total.total).toBe(0);
    expect((await c.pool.query(`SELECT count(*)::int AS n FROM "${c.schema}".workflows`)).rows[0].n).toBe(0);
  });

  it('runs inside the caller transaction: nothing exists after a rollback', async () => {
    const c = await make();
    c.registerTask('t', () => 1);
    const client = await c.pool.connect();
    try {
      await client.query('BEGIN');
      const { id } = await c.workflow().step('a', 't').step('b', 't', {}, { dependsOn: ['a'] }).enqueue({ tx: client });
      await client.query('ROLLBACK');
      expect(await c.getWorkflow(id)).toBeNull();
    } finally {
      client.release();
    }
    expect((await c.queueStatus()).total.total).toBe(0);
  });

  it('a failed step fails its dependents and the workflow reports failed', async () => {
    const c = await make();
    c.registerTask('bad', () => {
      throw new PermanentError('nope');
    });
    c.registerTask('ok', () => 1);
    const { id, tasks } = await c.workflow().step('a', 'bad').step('b', 'ok', {}, { dependsOn: ['a'] }).step('c', 'ok', {}, { dependsOn: [{ step: 'a', onFailure: 'run' }] }).enqueue();
    await c.drain();
    const wf = await c.getWorkflow(id);
    expect(wf?.status).toBe('failed');
    expect(wf?.steps.map((s) => s.status)).toEqual(['failed', 'failed', 'succeeded']);
    expect((await c.getTask(tasks.b as string))?.lastError).toBe(`parent task ${tasks.a} failed`);
  });
});

describe('courier.batch()', () => {
  const setup = async () => {
    const c = await make();
    c.registerTask('member', (p: { fail?: boolean }) => {
      if (p.fail) throw new PermanentError('member failed');
      return 'ok';
    });
    const seen: Record<string, unknown[]> = { done: [], good: [], bad: [] };
    for (const name of ['done', 'good', 'bad']) {
      c.registerTask(defineTask({ name, payload: batchSummarySchema.extend({ note: z.string().optional() }), handler: (p) => void seen[name]?.push(p) }));
    }
    return { c, seen };
  };

  it('onComplete and onSuccess run once after the last member, with counts and member ids; onFailure is skipped', async () => {
    const { c, seen } = await setup();
    const batch = await c.batch(
      Array.from({ length: 5 }, () => ({ name: 'member', payload: {} })),
      { onComplete: { task: 'done', payload: { note: 'hi' } }, onSuccess: 'good', onFailure: 'bad', name: 'five' },
    );
    expect(batch.taskIds).toHaveLength(5);
    const progress = await c.getWorkflow(batch.id);
    expect(progress).toMatchObject({ kind: 'batch', name: 'five', status: 'running', progress: { total: 5, queued: 5 } });
    await c.drain();
    expect(seen.done).toEqual([{ batchId: batch.id, total: 5, succeeded: 5, failed: 0, cancelled: 0, memberIds: batch.taskIds, note: 'hi' }]);
    expect(seen.good).toHaveLength(1);
    expect(seen.bad).toEqual([]);
    const bad = await c.getTask(batch.callbacks.onFailure as string);
    expect(bad?.status).toBe('cancelled');
    expect(bad?.lastError).toMatch(/^skipped: no member of batch/);
    const wf = await c.getWorkflow(batch.id);
    expect(wf).toMatchObject({ status: 'succeeded', progress: { total: 5, succeeded: 5 } });
  });

  it('with a failed member: onFailure and onComplete run once, onSuccess is skipped', async () => {
    const { c, seen } = await setup();
    const batch = await c.batch(
      [
        { name: 'member', payload: {} },
        { name: 'member', payload: { fail: true } },
        { name: 'member', payload: {} },
      ],
      { onComplete: 'done', onSuccess: 'good', onFailure: 'bad' },
    );
    await c.drain();
    expect(seen.bad).toEqual([{ batchId: batch.id, total: 3, succeeded: 2, failed: 1, cancelled: 0, memberIds: batch.taskIds }]);
    expect(seen.done).toHaveLength(1);
    expect(seen.good).toEqual([]);
    expect((await c.getWorkflow(batch.id))?.progress).toMatchObject({ total: 3, succeeded: 2, failed: 1 });
  });

  it('refuses a callback whose payload schema cannot take the summary, and bad options', async () => {
    const { c } = await setup();
    c.registerTask(defineTask({ name: 'strict', payload: z.object({ x: z.number() }).strict(), handler: () => 1 }));
    await expect(c.batch([{ name: 'member', payload: {} }], { onComplete: 'strict' })).rejects.toThrow(/onComplete\.payload/);
    await expect(c.batch([], { onComplete: 'done' })).rejects.toThrow(/"items" must be a non-empty array/);
    await expect(c.batch([{ name: 'member', payload: {} }], { onDone: 'done' } as never)).rejects.toThrow(/"onDone" is not a known option/);
    expect((await c.queueStatus()).total.total).toBe(0);
  });
});
