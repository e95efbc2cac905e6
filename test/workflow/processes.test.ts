import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier } from '../../src/index.js';
import { databaseUrl, freshSchema, OWN_TASKS, waitFor } from '../helpers/db.js';
import { createAuditTable, spawnWorker, type WorkerProcess } from '../helpers/workers.js';

let courier: Courier;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  courier = createCourier({ connectionString: databaseUrl(), schema: freshSchema('wfproc') });
  await courier.migrate();
  await createAuditTable(courier.pool, courier.schema);
  courier.registerTask('wf_part', () => {});
  courier.registerTask('wf_join', () => {});
});

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await courier.close({ grace: 0 });
});

describe('dependencies across worker processes', () => {
  it('4 processes finish the parents of 500 two-parent joins and a 1,000-parent fan-in at once: each join is released once, with every parent', async () => {
    const pairs = 500;
    const parents = await courier.enqueueMany(
      Array.from({ length: pairs * 2 + 1000 }, (_, i) => ({ name: 'wf_part', payload: { n: i + 1 }, options: { delay: 3600 } })),
    );
    const joins = await courier.enqueueMany(
      Array.from({ length: pairs }, (_, i) => ({ name: 'wf_join', payload: {}, options: { dependsOn: [parents[2 * i] as string, parents[2 * i + 1] as string] } })),
    );
    const fanIn = await courier.enqueueTask('wf_join', {}, { dependsOn: parents.slice(pairs * 2) });
    expect((await courier.queueStatus()).total.waiting).toBe(pairs + 1);
    for (let i = 0; i < 4; i++) workers.push(await spawnWorker({ databaseUrl: databaseUrl(), schema: courier.schema, tasksFile: 'test/fixtures/workflow-tasks.ts', args: ['--concurrency', '20'] }));
    // Every parent becomes due in the same instant: the processes race to finish pairs.
    await courier.pool.query(`UPDATE "${courier.schema}".tasks SET run_at = now() WHERE status = 'queued'`);
    await courier.pool.query(`SELECT pg_notify($1, 'default')`, [`${courier.schema}.tasks`]);
    const succeeded = async () =>
      (await courier.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${courier.schema}".tasks WHERE status = 'succeeded' AND ${OWN_TASKS}`)).rows[0]?.n;
    await waitFor(async () => (await succeeded()) === parents.length + pairs + 1, 60_000, 'every task to succeed');

    const { rows: runs } = await courier.pool.query<{ task_id: string; n: number; pids: number }>(
      `SELECT task_id::text, count(*)::int AS n, count(DISTINCT pid)::int AS pids FROM "${courier.schema}".audit GROUP BY task_id`,
    );
    expect(runs).toHaveLength(parents.length + pairs + 1);
    expect(runs.filter((r) => r.n !== 1)).toEqual([]);
    expect(new Set((await courier.pool.query<{ pid: number }>(`SELECT DISTINCT pid FROM "${courier.schema}".audit`)).rows.map((r) => r.pid)).size).toBeGreaterThan(1);
    for (const [i, id] of joins.entries()) {
      expect((await courier.getTask(id))?.result).toEqual({ parents: 2, sum: 4 * i + 3 });
    }
    const fan = await courier.getTask(fanIn);
    expect(fan?.result).toEqual({ parents: 1000, sum: (1000 * (2 * pairs + 1 + 2 * pairs + 1000)) / 2 });
    expect(fan?.attempts).toBe(1);
  });
});
