import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Courier, createCourier, defineTask } from '../../src/index.js';
import { FLOW_RUNS_TABLE } from '../fixtures/flow-tasks.js';
import { databaseUrl, freshSchema, waitFor } from '../helpers/db.js';
import { spawnWorker, type WorkerProcess } from '../helpers/workers.js';

let courier: Courier;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  courier = createCourier({ connectionString: databaseUrl(), schema: freshSchema('flow') });
  await courier.migrate();
  await courier.pool.query(`CREATE TABLE "${courier.schema}".flow_runs ${FLOW_RUNS_TABLE}`);
  courier.registerTask('held', () => {});
  courier.registerTask('quick', () => {});
});

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await courier.close({ grace: 0 });
});

const spawn = async (args: string[]) => {
  const w = await spawnWorker({ databaseUrl: databaseUrl(), schema: courier.schema, tasksFile: 'test/fixtures/flow-tasks.ts', args });
  workers.push(w);
  return w;
};

/** Most runs of one group that overlapped in time, per group. */
async function peakOverlap(queueFilter = 'true'): Promise<Record<string, number>> {
  const { rows } = await courier.pool.query<{ grp: string; peak: number }>(
    `SELECT a.grp, max(n)::int AS peak FROM (
       SELECT a.grp, a.task_id, (SELECT count(*) FROM "${courier.schema}".flow_runs b
                                  WHERE b.grp = a.grp AND b.started_at <= a.started_at AND b.ended_at > a.started_at) AS n
         FROM "${courier.schema}".flow_runs a WHERE ${queueFilter}) a GROUP BY a.grp ORDER BY a.grp`,
  );
  return Object.fromEntries(rows.map((r) => [r.grp, r.peak]));
}

describe('groups', () => {
  it('groupConcurrency holds cluster-wide: 3 worker processes, caps per tier, every task once', async () => {
    await courier.configureQueue('tenants', { groupConcurrency: { default: 2, tiers: { gold: 4 } } });
    const items = [];
    for (const [group, tier] of [['a', undefined], ['b', undefined], ['g', 'gold']] as const) {
      for (let i = 0; i < 24; i++) items.push({ name: 'held', payload: { ms: 60, group }, options: { queue: 'tenants', group, ...(tier ? { groupTier: tier } : {}) } });
    }
    const ids = await courier.enqueueMany(items);
    const procs = await Promise.all([1, 2, 3].map(() => spawn(['--concurrency', '10', '--queues', 'tenants', '--poll-interval', '0.2'])));
    await waitFor(async () => {
      const { rows } = await courier.pool.query(`SELECT count(*)::int AS n FROM "${courier.schema}".tasks WHERE id = ANY($1::bigint[]) AND status = 'succeeded'`, [ids]);
      return rows[0].n === ids.length;
    }, 60_000, 'every grouped task to succeed');
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    const peaks = await peakOverlap();
    expect(peaks).toEqual({ a: 2, b: 2, g: 4 });
    const { rows } = await courier.pool.query(`SELECT count(*)::int AS runs, count(DISTINCT task_id)::int AS tasks, count(DISTINCT pid)::int AS pids FROM "${courier.schema}".flow_runs`);
    expect(rows[0]).toMatchObject({ runs: 72, tasks: 72 });
    expect(rows[0].pids).toBeGreaterThan(1);
  }, 90_000);
});

describe('fair claiming', () => {
  it('2 worker processes: small tenants enqueued after a big backlog are served within their share', async () => {
    await courier.pool.query(`TRUNCATE "${courier.schema}".flow_runs`);
    const big = await courier.enqueueMany(Array.from({ length: 400 }, () => ({ name: 'held', payload: { ms: 5, group: 'big' }, options: { queue: 'shared', group: 'big' } })));
    const small = await courier.enqueueMany(
      ['s1', 's2', 's3', 's4', 's5'].flatMap((group) => Array.from({ length: 10 }, () => ({ name: 'held', payload: { ms: 5, group }, options: { queue: 'shared', group } }))),
    );
    const procs = await Promise.all([1, 2].map(() => spawn(['--concurrency', '4', '--queues', 'shared', '--poll-interval', '0.2'])));
    const ids = [...big, ...small];
    await waitFor(async () => {
      const { rows } = await courier.pool.query(`SELECT count(*)::int AS n FROM "${courier.schema}".tasks WHERE id = ANY($1::bigint[]) AND status = 'succeeded'`, [ids]);
      return rows[0].n === ids.length;
    }, 60_000, 'every task to succeed');
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    // Position of each run in start order; six groups share the claims, so the 50
    // small tasks are done within about 6 × 10 runs (not after the 400 big ones).
    const { rows } = await courier.pool.query<{ grp: string; n: number }>(
      `SELECT grp, (row_number() OVER (ORDER BY started_at, task_id))::int AS n FROM "${courier.schema}".flow_runs`,
    );
    const lastSmall = Math.max(...rows.filter((r) => r.grp !== 'big').map((r) => r.n));
    expect(rows).toHaveLength(450);
    expect(lastSmall).toBeLessThan(120);
    expect(new Set(rows.map((r) => r.grp)).size).toBe(6);
  }, 90_000);

  it('rotates among groups: small tenants enqueued after a big backlog run within their share, priority orders within a group', async () => {
    const c = createCourier({ connectionString: databaseUrl(), schema: freshSchema('fair') });
    const order: Array<{ group: string; n: number }> = [];
    c.registerTask('fair_job', (p: { group: string; n: number }) => {
      order.push(p);
    });
    try {
      await c.migrate();
      await c.enqueueMany(Array.from({ length: 300 }, (_, n) => ({ name: 'fair_job', payload: { group: 'big', n }, options: { queue: 'fairq', group: 'big' } })));
      const small = ['s1', 's2', 's3', 's4', 's5'];
      for (const group of small) {
        await c.enqueueMany(Array.from({ length: 5 }, (_, n) => ({ name: 'fair_job', payload: { group, n }, options: { queue: 'fairq', group, priority: n === 4 ? 1 : 5 } })));
      }
      await c.start({ concurrency: 2, batchSize: 4 });
      await waitFor(() => order.length === 325, 30_000, 'every task to run');
      const lastSmall = Math.max(...order.map((o, i) => (o.group === 'big' ? -1 : i)));
      // Six groups share the claims: the 25 small tasks are done within about 6 × 5 runs.
      expect(lastSmall).toBeLessThan(45);
      for (const group of small) {
        const mine = order.filter((o) => o.group === group).map((o) => o.n);
        expect(mine[0]).toBe(4); // priority 1 first within its group
        expect(mine.slice(1)).toEqual([0, 1, 2, 3]);
      }
    } finally {
      await c.close({ grace: 0 });
    }
  });

  it('fair: false claims in priority, run_at order (groups capped still)', async () => {
    const c = createCourier({ connectionString: databaseUrl(), schema: freshSchema('unfair') });
    const order: string[] = [];
    c.registerTask('fair_job', (p: { group: string }) => {
      order.push(p.group);
    });
    try {
      await c.migrate();
      await c.configureQueue('fairq', { fair: false });
      await c.enqueueMany(Array.from({ length: 50 }, () => ({ name: 'fair_job', payload: { group: 'big' }, options: { queue: 'fairq', group: 'big' } })));
      await c.enqueueMany(Array.from({ length: 5 }, () => ({ name: 'fair_job', payload: { group: 'small' }, options: { queue: 'fairq', group: 'small' } })));
      expect(await c.drain()).toBe(55);
      expect(order.indexOf('small')).toBe(50);
    } finally {
      await c.close({ grace: 0 });
    }
  });
});

describe('group rate limits and ungrouped tasks', () => {
  it("groupRateLimit '2/s' holds per group through the shared limiter; tasks without a group in the queue still run", async () => {
    const c = createCourier({ connectionString: databaseUrl(), schema: freshSchema('grl') });
    const starts: Record<string, number[]> = {};
    c.registerTask('tick', (p: { group: string }) => {
      (starts[p.group] ??= []).push(performance.now());
    });
    try {
      await c.migrate();
      await c.configureQueue('api', { groupRateLimit: '2/s' });
      await c.enqueueMany(['a', 'b'].flatMap((group) => Array.from({ length: 5 }, () => ({ name: 'tick', payload: { group }, options: { queue: 'api', group } }))));
      await c.enqueueMany(Array.from({ length: 3 }, () => ({ name: 'tick', payload: { group: 'none' }, options: { queue: 'api' } })));
      await c.start({ concurrency: 4, pollInterval: 0.05 });
      await waitFor(() => (starts.a?.length ?? 0) + (starts.b?.length ?? 0) + (starts.none?.length ?? 0) === 13, 30_000, 'every task to run');
      for (const group of ['a', 'b']) {
        const s = starts[group] as number[];
        for (let i = 2; i < s.length; i++) expect((s[i] as number) - (s[i - 2] as number)).toBeGreaterThanOrEqual(1000);
      }
      // Each group has its own limit: one shared limit would need at least 4 s for the 10 starts.
      const all = [...(starts.a as number[]), ...(starts.b as number[])];
      expect(Math.max(...all) - Math.min(...all)).toBeLessThan(3900);
      expect(starts.none).toHaveLength(3);
    } finally {
      await c.close({ grace: 0 });
    }
  });
});

describe('groups derived by the definition', () => {
  it('defineTask({ group, groupTier }) derives both from the payload unless the enqueue gives them', async () => {
    const c = createCourier({ connectionString: databaseUrl(), schema: freshSchema('derive') });
    try {
      await c.migrate();
      c.registerTask(
        defineTask({
          name: 'per_account',
          payload: z.object({ account: z.string(), plan: z.string() }),
          group: (p) => p.account,
          groupTier: (p) => p.plan,
        }),
      );
      const derived = await c.enqueueTask('per_account', { account: 'acme', plan: 'gold' });
      const given = await c.enqueueTask('per_account', { account: 'acme', plan: 'gold' }, { group: 'other' });
      const { rows } = await c.pool.query(`SELECT id::text, group_key, group_tier FROM "${c.schema}".tasks ORDER BY id`);
      expect(rows).toEqual([
        { id: derived, group_key: 'acme', group_tier: 'gold' },
        { id: given, group_key: 'other', group_tier: 'gold' },
      ]);
      expect(() => defineTask({ name: 'bad_group', group: 'acme' as never })).toThrow(/group.*function/);
      c.registerTask(defineTask({ name: 'long_group', payload: z.object({ a: z.string() }), group: (p) => p.a }));
      await expect(c.enqueueTask('long_group', { a: 'x'.repeat(201) })).rejects.toThrow(/payload.*group resolver/);
    } finally {
      await c.close({ grace: 0 });
    }
  });
});
