import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFates, enqueueBulk, explainStuck, type FaultServer, Fleet, listeners, newScenario, report, startFaultServer, statusCounts, until } from './harness.js';

const TASKS = Number(process.env.FAULTS_RESTART_TASKS ?? 20_000);
const WORKERS = 4;
const LEASE = 15;
const POLL = 0.5;
const DOWN_MS = 3000;

let server: FaultServer;
let fleet: Fleet | undefined;

beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(async () => {
  await fleet?.destroy();
  await server?.close();
});

const lostCount = (log: string) => log.split('LISTEN connection lost').length - 1;

describe('Postgres restart', () => {
  it(`Postgres restarted twice during ${TASKS} tasks: all succeed, workers need no restart`, async () => {
    const sc = await newScenario(server, 'rst');
    const started = Date.now();
    await enqueueBulk(sc.courier, TASKS, 'audited');
    fleet = new Fleet({
      engineUrl: server.url,
      auditUrl: server.url,
      schema: sc.schema,
      args: ['--concurrency', '10', '--lease', String(LEASE), '--poll-interval', String(POLL), '--grace', '5'],
    });
    await fleet.start(WORKERS);
    const f = fleet;
    const pids = f.pids();

    const restarts: Array<{ atSucceeded: number; downMs: number }> = [];
    for (const fraction of [0.25, 0.6]) {
      const done = await until(async () => {
        const n = (await statusCounts(server.pool, sc.schema)).succeeded ?? 0;
        return n >= TASKS * fraction ? n : 0;
      }, 240_000, `${fraction * 100}% of the tasks to succeed`, 250);
      const lostBefore = f.live.map((w) => lostCount(w.log()));
      const t0 = Date.now();
      await server.server.stop();
      // Stay down until every worker has noticed (its LISTEN connection dropped).
      await until(() => f.live.every((w, i) => lostCount(w.log()) > (lostBefore[i] ?? 0)), 30_000, 'every worker to notice the outage').catch((err: Error) => {
        const state = f.live.map((w, i) => `pid ${w.child.pid} exit=${w.child.exitCode ?? w.child.signalCode} lost ${lostBefore[i]}->${lostCount(w.log())}\n${w.log().slice(-1500)}`);
        throw new Error(`${err.message}\n${state.join('\n---\n')}`);
      });
      // The outage itself: at least DOWN_MS, so claims, settlements and reconnects fail for a while.
      await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - (Date.now() - t0))));
      await server.server.start();
      restarts.push({ atSucceeded: done, downMs: Date.now() - t0 });
    }
    const lastRestart = new Date();

    await until(async () => (await listeners(server.pool, sc.schema)).length === WORKERS, 60_000, 'every worker to LISTEN again').catch((err: Error) => {
      throw new Error([err.message, ...f.crashed()].join('\n---\n'));
    });
    await until(async () => (await statusCounts(server.pool, sc.schema)).succeeded === TASKS, 300_000, 'every task to succeed', 1000, () => explainStuck(server.pool, sc.schema, f));
    const audit = await auditFates(server.pool, sc.schema, { rerun: 'explained', pollInterval: POLL });
    const ranAfter = await server.pool.query<{ pid: number }>(`SELECT DISTINCT pid FROM "${sc.schema}".audit WHERE at > $1`, [lastRestart]);
    const alive = f.allAlive();
    const codes = await f.stop();
    report('postgres-restart', { workers: WORKERS, restarts, seconds: Math.round((Date.now() - started) / 1000), ...audit });

    expect(audit.violations).toEqual([]);
    expect(audit.byStatus).toEqual({ succeeded: TASKS });
    expect(restarts).toHaveLength(2);
    expect(alive).toBe(true);
    expect(f.all.map((w) => w.child.pid)).toEqual(pids);
    // Every original worker process kept working after the second restart.
    expect(ranAfter.rows.map((r) => r.pid).sort()).toEqual([...pids].sort());
    expect(codes).toEqual(pids.map(() => 0));
    await sc.close();
  }, 600_000);
});
