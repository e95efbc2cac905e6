import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier } from '../../src/index.js';
import { FLOW_RUNS_TABLE } from '../fixtures/flow-tasks.js';
import { databaseUrl, freshSchema, waitFor } from '../helpers/db.js';
import { spawnWorker, type WorkerProcess } from '../helpers/workers.js';

let courier: Courier;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  courier = createCourier({ connectionString: databaseUrl(), schema: freshSchema('seq') });
  await courier.migrate();
  await courier.pool.query(`CREATE TABLE "${courier.schema}".flow_runs ${FLOW_RUNS_TABLE}`);
  courier.registerTask('held', () => {});
});

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await courier.close({ grace: 0 });
});

describe('sequences', () => {
  it('3 worker processes: tasks of one sequence run one at a time in enqueue order, different sequences in parallel', async () => {
    const items = [];
    for (let pos = 0; pos < 12; pos++) {
      for (const seq of ['s1', 's2', 's3']) items.push({ name: 'held', payload: { ms: 30, seq, pos }, options: { queue: 'ordered', sequence: seq } });
    }
    // Later priorities must not overtake: order is enqueue order.
    items.push({ name: 'held', payload: { ms: 30, seq: 's1', pos: 12 }, options: { queue: 'ordered', sequence: 's1', priority: 1 } });
    const ids = await courier.enqueueMany(items);
    const procs = await Promise.all(
      [1, 2, 3].map(async () => {
        const w = await spawnWorker({ databaseUrl: databaseUrl(), schema: courier.schema, tasksFile: 'test/fixtures/flow-tasks.ts', args: ['--concurrency', '5', '--queues', 'ordered', '--poll-interval', '0.2'] });
        workers.push(w);
        return w;
      }),
    );
    await waitFor(async () => {
      const { rows } = await courier.pool.query(`SELECT count(*)::int AS n FROM "${courier.schema}".tasks WHERE id = ANY($1::bigint[]) AND status = 'succeeded'`, [ids]);
      return rows[0].n === ids.length;
    }, 60_000, 'every sequenced task to succeed');
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    const { rows } = await courier.pool.query<{ seq: string; pos: number; started_at: Date; ended_at: Date }>(
      `SELECT seq, pos, started_at, ended_at FROM "${courier.schema}".flow_runs ORDER BY seq, started_at`,
    );
    for (const seq of ['s1', 's2', 's3']) {
      const runs = rows.filter((r) => r.seq === seq);
      expect(runs.map((r) => r.pos)).toEqual(Array.from({ length: seq === 's1' ? 13 : 12 }, (_, i) => i));
      for (let i = 1; i < runs.length; i++) expect(runs[i]?.started_at.getTime()).toBeGreaterThanOrEqual(runs[i - 1]?.ended_at.getTime() ?? 0);
    }
    // Different sequences overlapped in time.
    const { rows: overlap } = await courier.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${courier.schema}".flow_runs a JOIN "${courier.schema}".flow_runs b
         ON a.seq < b.seq AND b.started_at < a.ended_at AND a.started_at < b.ended_at`,
    );
    expect(overlap[0]?.n).toBeGreaterThan(0);
  }, 90_000);

  it('a failed attempt holds its sequence until the retry succeeds; a task that fails for good lets the next one run', async () => {
    const c = createCourier({ connectionString: databaseUrl(), schema: freshSchema('seq2') });
    const ran: string[] = [];
    c.registerTask(
      'step',
      (p: { label: string; failures: number }, ctx) => {
        ran.push(`${p.label}#${ctx.attempt}`);
        if (ctx.attempt <= p.failures) throw new Error(`${p.label} failed`);
      },
      { maxRetries: 1, retryDelay: 0.2, backoff: 'fixed' },
    );
    try {
      await c.migrate();
      await c.enqueueMany([
        { name: 'step', payload: { label: 'a', failures: 1 }, options: { sequence: 'k' } },
        { name: 'step', payload: { label: 'b', failures: 5 }, options: { sequence: 'k' } },
        { name: 'step', payload: { label: 'c', failures: 0 }, options: { sequence: 'k' } },
      ]);
      await c.start({ concurrency: 4, pollInterval: 0.05 });
      await waitFor(() => ran.includes('c#1'), 20_000, 'the last step');
      expect(ran).toEqual(['a#1', 'a#2', 'b#1', 'b#2', 'c#1']);
    } finally {
      await c.close({ grace: 0 });
    }
  });
});
