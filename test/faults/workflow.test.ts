import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWN_TASKS } from '../helpers/db.js';
import { spawnWorker, type WorkerProcess } from '../helpers/workers.js';
import { explainStuck, type FaultServer, newScenario, startFaultServer, until } from './harness.js';

const GROUPS = 200;
const FAN = 5;
const LEASE = 2;

let server: FaultServer;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await server?.close();
});

describe('SIGKILL mid-workflow', () => {
  it(`workers SIGKILLed while ${GROUPS} fan-ins of ${FAN} and their 3-step tails run: every join starts after all its parents, with all their results, and nothing is left waiting`, async () => {
    const sc = await newScenario(server, 'wfkill');
    sc.courier.registerTask('wf_part', () => {});
    sc.courier.registerTask('wf_join', () => {});
    const joins: string[] = [];
    const tails: string[] = [];
    for (let g = 0; g < GROUPS; g++) {
      const parents = await sc.courier.enqueueMany(Array.from({ length: FAN }, (_, i) => ({ name: 'wf_part', payload: { n: i + 1, ms: 150 } })));
      const join = await sc.courier.enqueueTask('wf_join', {}, { dependsOn: parents });
      const tail = await sc.courier.enqueueTask('wf_join', {}, { dependsOn: [join] });
      joins.push(join);
      tails.push(await sc.courier.enqueueTask('wf_join', {}, { dependsOn: [tail] }));
    }
    const spawn = async () => {
      const w = await spawnWorker({
        databaseUrl: server.url,
        schema: sc.schema,
        tasksFile: 'test/fixtures/workflow-tasks.ts',
        args: ['--concurrency', '10', '--lease', String(LEASE), '--poll-interval', '0.3'],
        env: { AUDIT_DATABASE_URL: server.url },
        startTimeoutMs: 90_000,
      });
      workers.push(w);
      return w;
    };
    const live = [await spawn(), await spawn(), await spawn()];
    let kills = 0;
    while (kills < 3) {
      await until(async () => (await server.pool.query(`SELECT count(*)::int AS n FROM "${sc.schema}".audit`)).rows[0].n >= (kills + 1) * 150, 60_000, 'progress');
      const victim = live.shift() as WorkerProcess;
      victim.kill('SIGKILL');
      await victim.exited;
      kills++;
      live.push(await spawn());
    }
    const total = GROUPS * (FAN + 3);
    await until(async () => (await server.pool.query(`SELECT count(*)::int AS n FROM "${sc.schema}".tasks WHERE status = 'succeeded' AND ${OWN_TASKS}`)).rows[0].n === total, 240_000, 'every task to succeed', 500, () => explainStuck(server.pool, sc.schema));

    const { rows: left } = await server.pool.query(`SELECT status, count(*)::int AS n FROM "${sc.schema}".tasks WHERE ${OWN_TASKS} GROUP BY status`);
    expect(left).toEqual([{ status: 'succeeded', n: total }]);
    for (const id of joins) expect((await sc.courier.getTask(id))?.result).toEqual({ parents: FAN, sum: 15 });
    for (const id of tails) expect((await sc.courier.getTask(id))?.result).toMatchObject({ parents: 1 });
    // No dependent ever started before every one of its parents had succeeded.
    const { rows: early } = await server.pool.query(
      `SELECT c.id FROM "${sc.schema}".tasks c JOIN "${sc.schema}".audit a ON a.task_id = c.id
         JOIN "${sc.schema}".tasks p ON p.id = ANY (c.depends_on)
        WHERE c.depends_on IS NOT NULL AND a.at < p.finished_at`,
    );
    expect(early).toEqual([]);
    const { rows: reruns } = await server.pool.query(`SELECT count(*)::int AS n FROM "${sc.schema}".tasks WHERE attempts > 1 AND ${OWN_TASKS}`);
    console.log(JSON.stringify({ scenario: 'workflow-sigkill', kills, tasks: total, rerunAfterKill: reruns[0].n }));
    await sc.close();
  });
});
