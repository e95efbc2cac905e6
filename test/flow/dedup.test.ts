import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier, defineTask, ValidationError } from '../../src/index.js';
import { databaseUrl, freshSchema, waitFor } from '../helpers/db.js';

let courier: Courier;
const root = join(import.meta.dirname, '..', '..');

beforeAll(async () => {
  courier = createCourier({ connectionString: databaseUrl(), schema: freshSchema('dedup') });
  await courier.migrate();
  courier.registerTask(defineTask({ name: 'held' }));
});

afterAll(async () => {
  await courier.close({ grace: 0 });
});

/** Runs `processes` enqueuer processes at once, each enqueuing `count` tasks with `options`; returns every id returned. */
async function race(options: Record<string, unknown>, processes = 4, count = 25): Promise<string[]> {
  const goAt = Date.now() + 1500;
  const outs = await Promise.all(
    Array.from({ length: processes }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'fixtures', 'flow-enqueuer.ts')], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: databaseUrl(), PGCOURIER_SCHEMA: courier.schema, OPTIONS: JSON.stringify(options), COUNT: String(count), GO_AT: String(goAt) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      child.stderr.on('data', (c: Buffer) => (err += c));
      return new Promise<string[]>((resolve, reject) =>
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`enqueuer exited ${code}: ${err}`)))),
      );
    }),
  );
  return outs.flat();
}

const tasksWith = async (column: string, key: string) =>
  (await courier.pool.query<{ id: string; status: string; payload: { n: number; pid: number }; run_at: Date; window_start: Date | null }>(
    `SELECT id, status, payload, run_at, window_start FROM "${courier.schema}".tasks WHERE ${column} = $1 ORDER BY id`,
    [key],
  )).rows;

describe('debounce', () => {
  it('4 processes enqueue 100 times with one debounce key: one queued task, every call gets its id, the last write wins and moves the run (extend)', async () => {
    const ids = await race({ debounce: { key: 'd1', seconds: 60 } });
    const rows = await tasksWith('debounce_key', 'd1');
    expect(rows).toHaveLength(1);
    const only = rows[0] as (typeof rows)[number];
    expect(new Set(ids)).toEqual(new Set([only.id]));
    expect(only.status).toBe('queued');
    // The surviving payload is the last update: the newest n of its process.
    expect(only.payload.n).toBe(24);
    const { rows: late } = await courier.pool.query<{ ok: boolean }>(`SELECT $1::timestamptz > now() + interval '55 seconds' AS ok`, [only.run_at]);
    expect(late[0]?.ok).toBe(true);
  }, 30_000);

  it("mode 'replace' keeps the first run time while the payload changes", async () => {
    const first = await courier.enqueueTask('held', { ms: 0, n: -1, pid: 0 }, { debounce: { key: 'd2', seconds: 30, mode: 'replace' } });
    const before = (await tasksWith('debounce_key', 'd2'))[0];
    const ids = await race({ debounce: { key: 'd2', seconds: 30, mode: 'replace' } }, 2, 10);
    const rows = await tasksWith('debounce_key', 'd2');
    expect(rows).toHaveLength(1);
    expect(new Set(ids)).toEqual(new Set([first]));
    expect(rows[0]?.run_at.getTime()).toBe(before?.run_at.getTime());
    expect(rows[0]?.payload.n).toBe(9);
  }, 30_000);

  it('a debounced task that already started is left alone: the next enqueue makes a new task', async () => {
    const c = createCourier({ connectionString: databaseUrl(), schema: courier.schema });
    let release: () => void = () => {};
    const started: string[] = [];
    c.registerTask('held', async (_p: unknown, ctx) => {
      started.push(ctx.taskId);
      await new Promise<void>((r) => (release = r));
    });
    try {
      const first = await c.enqueueTask('held', { n: 1 }, { debounce: { key: 'd3', seconds: 0.05 } });
      await c.start({ concurrency: 1, pollInterval: 0.05, queues: ['default'] });
      await waitFor(() => started.includes(first), 10_000, 'the first run');
      const second = await c.enqueueTask('held', { n: 2 }, { debounce: { key: 'd3', seconds: 60 } });
      expect(second).not.toBe(first);
      const third = await c.enqueueTask('held', { n: 3 }, { debounce: { key: 'd3', seconds: 60 } });
      expect(third).toBe(second);
      release();
    } finally {
      await c.close({ grace: 1 });
    }
  });
});

describe('throttle and keyWindow', () => {
  it('4 processes enqueue 100 times with one throttle key: one task per window, every call gets the id of its window', async () => {
    const ids = await race({ throttle: { key: 't1', seconds: 86_400 } });
    const rows = await tasksWith('window_key', 't1');
    // A window boundary may fall inside the race: one task per window, never more.
    expect(rows.length).toBeLessThanOrEqual(2);
    expect(new Set(rows.map((r) => r.window_start?.getTime())).size).toBe(rows.length);
    expect(new Set(ids)).toEqual(new Set(rows.map((r) => r.id)));
  }, 30_000);

  it('keyWindow: a finished task still holds its key for the window', async () => {
    const c = createCourier({ connectionString: databaseUrl(), schema: courier.schema });
    c.registerTask('held', () => {});
    try {
      const first = await c.enqueueTask('held', {}, { key: 'w1', keyWindow: 86_400 });
      await c.drain();
      expect((await c.getTask(first))?.status).toBe('succeeded');
      const again = await c.enqueueTask('held', {}, { key: 'w1', keyWindow: 86_400 });
      const rows = await tasksWith('window_key', 'w1');
      if (rows.length === 1) expect(again).toBe(first);
      else expect(rows[1]?.window_start?.getTime()).toBeGreaterThan(rows[0]?.window_start?.getTime() ?? 0);
      // Without keyWindow the same key is free once the task finished.
      const plain1 = await c.enqueueTask('held', {}, { key: 'w2' });
      await c.drain();
      expect(await c.enqueueTask('held', {}, { key: 'w2' })).not.toBe(plain1);
    } finally {
      await c.close({ grace: 0 });
    }
  });

  it('refuses unclear combinations, naming the field', async () => {
    await expect(courier.enqueueTask('held', {}, { keyWindow: 10 })).rejects.toThrow(/keyWindow.*together with key/);
    await expect(courier.enqueueTask('held', {}, { debounce: { key: 'a', seconds: 1 }, delay: 5 })).rejects.toThrow(/delay/);
    await expect(courier.enqueueTask('held', {}, { throttle: { key: 'a', seconds: 1 }, key: 'b' })).rejects.toThrow(/throttle/);
    await expect(courier.enqueueTask('held', {}, { groupTier: 'gold' })).rejects.toThrow(/groupTier/);
    await expect(courier.enqueueTask('held', {}, { group: 'a', sequence: 'b' })).rejects.toThrow(ValidationError);
    await expect(courier.enqueueTask('held', {}, { debounce: { key: 'a', seconds: 0 } })).rejects.toThrow(/debounce\.seconds/);
    await expect(courier.enqueueMany([{ name: 'held', payload: {}, options: { throttle: { key: 'a', seconds: 1 } } }])).rejects.toThrow(/items\.0\.options\.throttle/);
  });
});
