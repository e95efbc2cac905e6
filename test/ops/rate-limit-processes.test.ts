import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Courier } from '../../src/index.js';
import { databaseUrl, testCourier, waitFor } from '../helpers/db.js';
import { createAuditTable, spawnWorker, type WorkerProcess } from '../helpers/workers.js';

let courier: Courier;
const procs: WorkerProcess[] = [];
beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask('limited', () => {});
  await createAuditTable(courier.pool, courier.schema);
});
afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await courier.close({ grace: 0 });
});

describe('rate limit across processes', () => {
  it('5/s over 2 worker processes: 50 tasks take >= 9 s, no 1 s window starts more than 5, no attempt lost', async () => {
    const ids = await courier.enqueueMany(Array.from({ length: 50 }, () => ({ name: 'limited', payload: {} })));
    // One slot each: a new worker then holds a handful of tasks, not all 50, so the
    // other process always finds tasks to claim and the limit is shared by both.
    procs.push(...(await Promise.all([0, 1].map(() => spawnWorker({ databaseUrl: databaseUrl(), schema: courier.schema, args: ['--concurrency', '1', '--poll-interval', '0.1'] })))));
    await waitFor(async () => {
      const { rows } = await courier.pool.query(`SELECT count(*) AS n FROM "${courier.schema}".tasks WHERE id = ANY($1::bigint[]) AND status = 'succeeded'`, [ids]);
      return rows[0].n === '50';
    }, 60_000, '50 rate-limited tasks');
    const { rows } = await courier.pool.query<{ at: Date; pid: number; attempt: number }>(`SELECT at, pid, attempt FROM "${courier.schema}".audit ORDER BY at`);
    expect(rows).toHaveLength(50);
    const starts = rows.map((r) => r.at.getTime());
    expect((starts.at(-1) as number) - (starts[0] as number)).toBeGreaterThanOrEqual(9000);
    for (let i = 5; i < starts.length; i++) expect((starts[i] as number) - (starts[i - 5] as number)).toBeGreaterThanOrEqual(1000);
    expect(new Set(rows.map((r) => r.pid)).size).toBe(2);
    expect(rows.every((r) => r.attempt === 1)).toBe(true);
    const tasks = await Promise.all(ids.map((id) => courier.getTask(id)));
    expect(tasks.every((t) => t?.attempts === 1 && t.status === 'succeeded')).toBe(true);
  }, 90_000);
});
