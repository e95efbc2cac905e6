import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier } from '../../src/index.js';
import { databaseUrl, freshSchema, waitFor } from '../helpers/db.js';
import { createAuditTable, spawnWorker, type WorkerProcess } from '../helpers/workers.js';

let courier: Courier;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  courier = createCourier({ connectionString: databaseUrl(), schema: freshSchema('proc') });
  await courier.migrate();
  await createAuditTable(courier.pool, courier.schema);
  // The enqueuing side knows the task names; the workers run the handlers.
  courier.registerTask('audit', () => {});
  courier.registerTask('sleepy', () => {});
  courier.registerTask('patient', () => {});
});

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await courier.close({ grace: 0 });
});

const spawn = async (args: string[] = []) => {
  const w = await spawnWorker({ databaseUrl: databaseUrl(), schema: courier.schema, args });
  workers.push(w);
  return w;
};

describe('worker processes', () => {
  it('a worker killed with SIGKILL mid-task: another process reruns it after the lease expires', async () => {
    const id = await courier.enqueueTask('sleepy', { ms: 120_000 });
    const first = await spawn(['--lease', '1', '--poll-interval', '0.2']);
    await waitFor(async () => (await courier.pool.query(`SELECT 1 FROM "${courier.schema}".audit WHERE task_id = $1`, [id])).rowCount, 10_000, 'first attempt to start');
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    expect((await courier.getTask(id))?.status).toBe('running');
    const second = await spawn(['--lease', '1', '--poll-interval', '0.2']);
    const task = await waitFor(async () => {
      const t = await courier.getTask(id);
      return t?.status === 'succeeded' ? t : null;
    }, 15_000, 'rescue and rerun');
    expect(task.attempts).toBe(2);
    expect(task.result).toMatchObject({ attempt: 2, pid: second.child.pid });
    expect(task.errors[0]?.message).toMatch(/lease expired/);
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('4 worker processes and 20,000 tasks: every task runs exactly once', async () => {
    await courier.pool.query(`TRUNCATE "${courier.schema}".audit`);
    const batch = 5000;
    const ids: string[] = [];
    for (let i = 0; i < 20_000; i += batch) {
      ids.push(...(await courier.enqueueMany(Array.from({ length: batch }, () => ({ name: 'audit', payload: {} })))));
    }
    const procs = await Promise.all([1, 2, 3, 4].map(() => spawn(['--concurrency', '10', '--poll-interval', '0.5'])));
    await waitFor(async () => (await courier.queueStatus()).total.succeeded >= 20_000 + 1, 120_000, 'all tasks to succeed');
    for (const p of procs) p.kill('SIGTERM');
    expect(await Promise.all(procs.map((p) => p.exited))).toEqual([0, 0, 0, 0]);
    const { rows } = await courier.pool.query<{ runs: string; tasks: string; doubled: string; pids: string }>(
      `SELECT count(*) AS runs, count(DISTINCT task_id) AS tasks,
              count(*) FILTER (WHERE attempt <> 1) AS doubled, count(DISTINCT pid) AS pids
         FROM "${courier.schema}".audit WHERE task_id = ANY($1::bigint[])`,
      [ids],
    );
    expect(rows[0]).toEqual({ runs: '20000', tasks: '20000', doubled: '0', pids: '4' });
    const left = await courier.pool.query(`SELECT count(*) AS n FROM "${courier.schema}".tasks WHERE id = ANY($1::bigint[]) AND status <> 'succeeded'`, [ids]);
    expect(left.rows[0].n).toBe('0');
  }, 180_000);

  it('SIGTERM while a handler waits for its signal: exit 0, the task is back in its queue, nothing logged above info', async () => {
    const id = await courier.enqueueTask('patient', {});
    const w = await spawn(['--grace', '0.2', '--poll-interval', '0.2']);
    await waitFor(async () => (await courier.pool.query(`SELECT 1 FROM "${courier.schema}".audit WHERE task_id = $1`, [id])).rowCount, 10_000, 'the handler to start');
    w.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    const lines = w.log().split('\n').filter((l) => l.startsWith('{'));
    const loud = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 40);
    expect(loud).toEqual([]);
    expect(await courier.getTask(id)).toMatchObject({ status: 'queued', attempts: 1 });
    await courier.cancel(id);
  });
});
